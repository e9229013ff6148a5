"""Expressions of custom losses (``fastloss.custom``).

A restricted parser (a tokenizer and a recursive-descent parser over a fixed
grammar; Python's ``eval``/``exec``/``ast`` are never used), symbolic
differentiation with respect to ``p`` with simplification into numerically
sensible forms, a NumPy evaluator (the reference) and a compiler to the
straight-line programs that ``_core.CustomKernel`` runs.

Grammar::

    expr    := sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum]
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom ["**" unary]                  (right-associative, as in Python)
    atom    := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"

Names are ``y`` (the true value), ``p`` (the prediction), the loss's parameters
and the functions in ``FUNCTIONS``.

Expressions are DAGs of interned nodes: the same subexpression is one node, so
common subexpressions are computed once. Sums are kept as linear combinations
``c + sum(k_i * t_i)`` and products as ``prod(b_i ** e_i)`` with integer
exponents, which is what lets the simplifier collect terms (``2 + 2 r**2 - 4
r**2`` is ``2 - 2 r**2``), put sums of fractions over a common denominator,
factor differences of squares (``1 - r**2`` is computed as ``(1 - r)(1 + r)``,
exact near ``r = 1``) and rewrite ``log(1 + u)`` as ``log1p(u)``, ``exp(u) - 1``
as ``expm1(u)``, ``log(1 + exp(u))`` as ``softplus(u)``, ``log(sigmoid(u))`` as
``log_sigmoid(u)`` and ``1 - sigmoid(u)`` as ``sigmoid(-u)``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import numpy as np

MAX_LENGTH = 2000  # characters of an expression
MAX_DEPTH = 50  # nesting of parentheses, calls and operators
MAX_NODES = 4000  # distinct subexpressions of an expression and its two derivatives
MAX_WORK = 200_000  # node constructions (found or new), weighted by their operands
MAX_INT_POWER = 4  # integer powers up to this are products; higher ones use pow
MAX_EXPONENT = 1024  # larger constant exponents are refused (they only give 0, 1 or inf)
VARIABLES = ("y", "p")

# name: number of arguments
FUNCTIONS = {
    "abs": 1, "sqrt": 1, "exp": 1, "log": 1, "log1p": 1, "expm1": 1, "tanh": 1, "sigmoid": 1,
    "softplus": 1, "log_sigmoid": 1, "sign": 1, "minimum": 2, "maximum": 2, "clip": 3, "where": 3,
}
COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
TRANSCENDENTAL = frozenset({"exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "log_sigmoid", "pow",
                            "powv"})


class ExpressionError(ValueError):
    """An expression outside the grammar; the message points at the offending token."""

    def __init__(self, message: str, text: str, position: int):
        self.position = position
        shown = text if len(text) <= 120 else text[max(0, position - 60):position + 60]
        caret = position if len(text) <= 120 else min(position, 60)
        super().__init__(f"{message} at position {position}:\n    {shown}\n    {' ' * caret}^")


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|<=|>=|==|!=|[-+*/(),<>])
""", re.VERBOSE | re.ASCII)


def tokenize(text: str):
    """(kind, text, position) tokens, ending with ("end", "", len(text)); lazily, so
    that the parser reports the first offending token in reading order."""
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"unexpected character {text[pos]!r}", text, pos)
        if m.lastgroup != "ws":
            yield m.lastgroup, m.group(), pos
        pos = m.end()
    yield "end", "", len(text)


# --------------------------------------------------------------------------- nodes

class Node:
    """An interned expression node. ``op`` is one of: const (value: float), y, p,
    param (value: name), add (value: (c, coefficients); args: terms), mul (value:
    integer exponents; args: bases), pow (value: real exponent), powv, the
    functions' names, minimum, maximum, the comparisons' names, where."""

    __slots__ = ("op", "args", "value", "serial")

    def __init__(self, op: str, args: tuple, value: Any, serial: int):
        self.op, self.args, self.value, self.serial = op, args, value, serial

    def __repr__(self) -> str:
        return to_string(self)


def _float_key(v: float) -> tuple:
    return (v, math.copysign(1.0, v)) if v == v else ("nan", id(object()))


def _np_eval(f: Callable, *values: float) -> float:
    with np.errstate(all="ignore"):
        return float(f(*[np.float64(v) for v in values]))


class Builder:
    """Makes interned, simplified nodes (the smart constructors of every op)."""

    def __init__(self, params: tuple[str, ...] = ()):
        self._table: dict[tuple, Node] = {}
        self.work = 0  # steps taken, bounded by MAX_WORK so that no expression compiles forever
        self.params = params
        self.zero = self.const(0.0)
        self.one = self.const(1.0)

    def _node(self, op: str, args: tuple = (), value: Any = None) -> Node:
        self.work += 1 + len(args)
        if self.work > MAX_WORK:
            raise ValueError(f"expression too large: simplifying its derivatives takes more than {MAX_WORK} steps")
        key = (op, tuple(a.serial for a in args), value)
        node = self._table.get(key)
        if node is None:
            if len(self._table) >= MAX_NODES:
                raise ValueError(f"expression too large: its derivatives need more than {MAX_NODES} "
                                 "distinct subexpressions")
            node = Node(op, args, value, len(self._table))
            self._table[key] = node
        return node

    # -- leaves
    def const(self, v: float) -> Node:
        v = float(v)
        key = ("const", (), _float_key(v))
        node = self._table.get(key)
        if node is None:
            node = Node("const", (), v, len(self._table))
            self._table[key] = node
        return node

    def var(self, name: str) -> Node:
        return self._node(name)

    def param(self, name: str) -> Node:
        return self._node("param", (), name)

    # -- linear combinations
    @staticmethod
    def _terms(x: Node) -> tuple[float, dict[Node, float]]:
        """x as c + sum(k * t), flat: a multiple k * S of a sum S is expanded."""
        if x.op == "const":
            return x.value, {}
        if x.op == "add":
            c, coefs = x.value
            if c == 0.0 and len(coefs) == 1 and x.args[0].op == "add":
                k = coefs[0]
                inner_c, inner_coefs = x.args[0].value
                return k * inner_c if inner_c != 0.0 else 0.0, {t: k * v for t, v in zip(x.args[0].args, inner_coefs)}
            return c, dict(zip(x.args, coefs))
        return 0.0, {x: 1.0}

    def _lincomb(self, c: float, terms: dict[Node, float]) -> Node:
        self.work += len(terms)
        terms = {t: k for t, k in terms.items() if k != 0.0}
        if not terms:
            return self.const(c)
        # exp(u) - 1 -> expm1(u); 1 - sigmoid(u) -> sigmoid(-u)
        if c == -1.0:
            for t, k in terms.items():
                if t.op == "exp" and k == 1.0:
                    del terms[t]
                    terms[self.func("expm1", t.args[0])] = terms.get(self.func("expm1", t.args[0]), 0.0) + 1.0
                    return self._lincomb(0.0, terms)
        if c == 1.0:
            for t, k in terms.items():
                if t.op == "sigmoid" and k == -1.0:
                    del terms[t]
                    s = self.func("sigmoid", self.neg(t.args[0]))
                    terms[s] = terms.get(s, 0.0) + 1.0
                    return self._lincomb(0.0, terms)
        if c == 0.0 and len(terms) == 1:
            (t, k), = terms.items()
            if k == 1.0:
                return t
        if len(terms) + (c != 0.0) >= 2:
            simpler = self._difference_of_squares(c, terms) or self._together(c, terms)
            if simpler is not None:
                return simpler
        order = sorted(terms, key=lambda t: t.serial)
        if c == 0.0 and len(order) >= 2 and terms[order[0]] != 1.0:
            # k * S with S's first coefficient 1 (when that is exact), so that -2y + 2p
            # is -2 (y - p): the same S, and the same node, wherever it appears.
            k = terms[order[0]]
            scaled = [terms[t] / k for t in order]
            if all(v * k == terms[t] for v, t in zip(scaled, order)):
                inner = self._node("add", tuple(order), (0.0, tuple(scaled)))
                return self._node("add", (inner,), (0.0, (k,)))
        return self._node("add", tuple(order), (c, tuple(terms[t] for t in order)))

    def _together(self, c: float, terms: dict[Node, float]) -> Node | None:
        """A sum of fractions with a common denominator over that denominator,
        c + sum(k_i n_i / b**e_i) = (c b**E + sum(k_i n_i b**(E - e_i))) / b**E,
        when the numerator then has fewer terms: the cancellation happened
        symbolically instead of in floating point. Numerator products with one sum
        factor are expanded, so that its terms can cancel too."""
        factors = [self._factors(t)[1] for t in terms]
        common = None
        for f in factors:
            negative = {b for b, e in f.items() if e < 0}
            common = negative if common is None else common & negative
        if not common:
            return None
        least = {b: min(f[b] for f in factors) for b in common}
        num = self._expanded(c, dict((b, -e) for b, e in least.items()))
        for (t, k), f in zip(terms.items(), factors):
            rest = dict(f)
            for b, e in least.items():
                rest[b] = rest[b] - e
            num = self.add(num, self._expanded(k * self._factors(t)[0], rest))
        num_c, num_terms = self._terms(num)
        if len(num_terms) + (num_c != 0.0) >= len(terms) + (c != 0.0):
            return None
        return self.mul(num, self._product(1.0, dict(least)))

    def _expanded(self, coef: float, factors: dict[Node, int]) -> Node:
        """coef * prod(b**e), with a single sum factor (exponent 1) multiplied out."""
        sums = [b for b, e in factors.items() if b.op == "add" and e == 1]
        if coef == 0.0 or len(sums) != 1:
            return self._product(coef, factors)
        rest = dict(factors)
        del rest[sums[0]]
        c, terms = self._terms(sums[0])
        total = self._product(coef * c, dict(rest))
        for t, k in terms.items():
            total = self.add(total, self.mul(t, self._product(coef * k, dict(rest))))
        return total

    def _difference_of_squares(self, c: float, terms: dict[Node, float]) -> Node | None:
        """c + k b**2 with c, k of opposite signs and c / -k = s**2 exactly: -k (s - b)(s + b);
        k a**2 - k b**2: k (a - b)(a + b). Exact where the two squares are close."""
        squares = [(t.args[0], k) for t, k in terms.items() if t.op == "mul" and t.value == (2,)]
        if len(squares) != len(terms):
            return None
        if len(terms) == 1 and c != 0.0:
            (b, k), = squares
            if (c > 0) == (k > 0):
                return None
            ratio = c / -k
            s = math.sqrt(ratio)
            if s * s != ratio or ratio * -k != c:
                return None
            a, scale = self.const(s), -k
        elif len(terms) == 2 and c == 0.0:
            (a, ka), (b, kb) = squares
            if ka != -kb:
                return None
            scale = ka
        else:
            return None
        return self.scale(scale, self.mul(self._sum2(a, b, -1.0), self._sum2(a, b, 1.0)))

    def _sum2(self, a: Node, b: Node, k: float) -> Node:
        """a + k b, keeping a sum b whole (b = y - p stays the node it is elsewhere)."""
        if a.op != "add" and b.op != "add":
            return self.add(a, self.scale(k, b))
        if a.op == "const":
            return self._node("add", (b,), (a.value, (k,)))
        order = (a, b) if a.serial < b.serial else (b, a)
        return self._node("add", order, (0.0, (1.0, k) if order[0] is a else (k, 1.0)))

    def add(self, a: Node, b: Node) -> Node:
        ca, ta = self._terms(a)
        cb, tb = self._terms(b)
        for t, k in tb.items():
            ta[t] = ta.get(t, 0.0) + k
        return self._lincomb(ca + cb, ta)

    def scale(self, k: float, a: Node) -> Node:
        if k == 1.0:
            return a
        c, terms = self._terms(a)
        # an absent constant (c = 0) stays absent when k is inf or nan
        return self._lincomb(k * c if c != 0.0 else 0.0, {t: k * v for t, v in terms.items()})

    def neg(self, a: Node) -> Node:
        return self.scale(-1.0, a)

    def sub(self, a: Node, b: Node) -> Node:
        return self.add(a, self.neg(b))

    # -- products
    def _factors(self, x: Node) -> tuple[float, dict[Node, int]]:
        if x.op == "const":
            return x.value, {}
        if x.op == "add" and x.value[0] == 0.0 and len(x.args) == 1:
            k, f = self._factors(x.args[0])
            return x.value[1][0] * k, f
        if x.op == "mul":
            return 1.0, dict(zip(x.args, x.value))
        return 1.0, {x: 1}

    def _product(self, coef: float, factors: dict[Node, int]) -> Node:
        self.work += len(factors)
        for b in [b for b, e in factors.items() if b.op == "sqrt" and abs(e) >= 2]:
            e = factors.pop(b)  # sqrt(u)**e = u**(e // 2) sqrt(u)**(e % 2), e // 2 rounded to 0
            u, half = b.args[0], int(e / 2)
            factors[u] = factors.get(u, 0) + half
            factors[b] = factors.get(b, 0) + (e - 2 * half)
        factors = {b: e for b, e in factors.items() if e != 0}
        if coef == 0.0 or not factors:
            return self.const(coef)
        if len(factors) == 1:
            (b, e), = factors.items()
            if e == 1:
                return self.scale(coef, b)  # k * (sum) distributes: terms can be collected
        order = sorted(factors, key=lambda b: b.serial)
        return self.scale(coef, self._node("mul", tuple(order), tuple(factors[b] for b in order)))

    def mul(self, a: Node, b: Node) -> Node:
        ka, fa = self._factors(a)
        kb, fb = self._factors(b)
        for base, e in fb.items():
            fa[base] = fa.get(base, 0) + e
        return self._product(ka * kb, fa)

    def div(self, a: Node, b: Node) -> Node:
        return self.mul(a, self.powi(b, -1))

    def powi(self, x: Node, n: int) -> Node:
        if x.op == "const":
            return self.const(_np_eval(np.power, x.value, float(n)))
        k, f = self._factors(x)
        if any(abs(e * n) > 64 for e in f.values()):
            return self._node("pow", (x,), float(n))
        return self._product(_np_eval(np.power, k, float(n)), {b: e * n for b, e in f.items()})

    def pow(self, x: Node, e: Node) -> Node:
        if e.op == "const":
            v = e.value
            if x.op == "const":
                return self.const(_np_eval(np.power, x.value, v))
            if math.isfinite(v) and v == int(v) and abs(v) <= 64:
                return self.powi(x, int(v))
            if v == 0.5:
                return self.func("sqrt", x)
            return self._node("pow", (x,), v)
        if x.op == "const" and e.op == "const":
            return self.const(_np_eval(np.power, x.value, e.value))
        return self._node("powv", (x, e))

    # -- functions
    _NUMPY = {
        "abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1,
        "tanh": np.tanh, "sign": np.sign,
        "sigmoid": lambda x: np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                                      np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))),
        "softplus": lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
        "log_sigmoid": lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
    }

    def func(self, name: str, x: Node) -> Node:
        if x.op == "const":
            return self.const(_np_eval(self._NUMPY[name], x.value))
        if name == "log":
            c, terms = self._terms(x)
            if x.op == "add" and c == 1.0:  # log(1 + u) -> log1p(u)
                return self.func("log1p", self._lincomb(0.0, terms))
            if x.op == "exp":
                return x.args[0]
            if x.op == "sigmoid":
                return self.func("log_sigmoid", x.args[0])
        if name == "log1p" and x.op == "exp":
            return self.func("softplus", x.args[0])
        if name == "abs" and x.op in ("abs", "sqrt", "exp", "sigmoid", "softplus"):
            return x  # already non-negative
        return self._node(name, (x,))

    def binary(self, name: str, a: Node, b: Node) -> Node:
        """minimum, maximum and the comparisons."""
        if a.op == "const" and b.op == "const":
            f = {"minimum": np.minimum, "maximum": np.maximum, "lt": np.less, "le": np.less_equal,
                 "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}[name]
            return self.const(_np_eval(f, a.value, b.value))
        if a is b and name in ("minimum", "maximum"):
            return a
        return self._node(name, (a, b))

    def where(self, c: Node, a: Node, b: Node) -> Node:
        if a is b:
            return a
        if c.op == "const":
            return a if c.value != 0.0 else b  # NaN counts as true, as in NumPy
        return self._node("where", (c, a, b))

    def call(self, name: str, args: list[Node]) -> Node:
        if name == "clip":
            return self.binary("minimum", self.binary("maximum", args[0], args[1]), args[2])
        if name == "where":
            return self.where(*args)
        if name in ("minimum", "maximum"):
            return self.binary(name, *args)
        return self.func(name, args[0])


# --------------------------------------------------------------------------- parser

class _Parser:
    def __init__(self, text: str, builder: Builder):
        self.text = text
        self.tokens = tokenize(text)
        self.current: tuple[str, str, int] | None = None  # read on demand
        self.b = builder
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        if self.current is None:
            self.current = next(self.tokens)
        return self.current

    def next(self) -> tuple[str, str, int]:
        t = self.peek()
        if t[0] != "end":
            self.current = None
        return t

    def error(self, message: str, token: tuple[str, str, int] | None = None):
        token = token or self.peek()
        raise ExpressionError(message, self.text, token[2])

    def expect(self, text: str) -> None:
        t = self.next()
        if t[1] != text:
            self.error(f"expected {text!r}, found {t[1]!r}" if t[0] != "end" else f"expected {text!r} before the end",
                       t)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.error(f"expression nested deeper than {MAX_DEPTH} levels")

    def parse(self) -> Node:
        node = self.expr()
        t = self.peek()
        if t[0] != "end":
            self.error(f"unexpected {t[1]!r}")
        return node

    def expr(self) -> Node:
        self.enter()
        left = self.sum()
        t = self.peek()
        if t[1] in COMPARISONS:
            self.next()
            left = self.b.binary(COMPARISONS[t[1]], left, self.sum())
            if self.peek()[1] in COMPARISONS:
                self.error("chained comparisons are not supported")
        self.depth -= 1
        return left

    def sum(self) -> Node:
        left = self.product()
        while self.peek()[1] in ("+", "-"):
            op = self.next()[1]
            right = self.product()
            left = self.b.add(left, right) if op == "+" else self.b.sub(left, right)
        return left

    def product(self) -> Node:
        left = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.next()[1]
            right = self.unary()
            left = self.b.mul(left, right) if op == "*" else self.b.div(left, right)
        return left

    def unary(self) -> Node:
        t = self.peek()
        if t[1] in ("-", "+"):
            self.next()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return self.b.neg(operand) if t[1] == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek()[1] == "**":
            token = self.next()
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            if exponent.op == "const" and not abs(exponent.value) <= MAX_EXPONENT:
                self.error(f"exponent {exponent.value!r} is larger than {MAX_EXPONENT} in magnitude", token)
            return self.b.pow(base, exponent)
        return base

    def atom(self) -> Node:
        t = self.next()
        kind, text, _ = t
        if kind == "number":
            value = float(text)
            if math.isinf(value):
                self.error(f"number {text} is out of range", t)
            return self.b.const(value)
        if kind == "name":
            if text in VARIABLES:
                return self.b.var(text)
            if text in self.b.params:
                return self.b.param(text)
            if text not in FUNCTIONS:
                try:
                    called = self.peek()[1] == "("
                except ExpressionError:  # the name is the first offending token
                    called = False
                if called:
                    self.error(f"unknown function {text!r} (functions: {', '.join(sorted(FUNCTIONS))})", t)
                known = ", ".join(VARIABLES + tuple(self.b.params))
                self.error(f"unknown name {text!r} (names: {known})", t)
            if self.peek()[1] == "(":
                self.next()
                args = [self.expr()]  # expr() counts the level of nesting
                while self.peek()[1] == ",":
                    self.next()
                    args.append(self.expr())
                self.expect(")")
                if len(args) != FUNCTIONS[text]:
                    self.error(f"{text}() takes {FUNCTIONS[text]} argument(s), got {len(args)}", t)
                return self.b.call(text, args)
            self.error(f"function {text!r} must be called", t)
        if text == "(":
            node = self.expr()
            self.expect(")")
            return node
        if kind == "end":
            self.error("unexpected end of expression", t)
        self.error(f"unexpected {text!r}", t)
        raise AssertionError  # unreachable


def parse(text: str, builder: Builder) -> Node:
    if not isinstance(text, str):
        raise TypeError(f"a custom loss's expression must be a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters ({len(text)})")
    if not text.strip():
        raise ValueError("empty expression")
    return _Parser(text, builder).parse()


# --------------------------------------------------------------------------- derivatives

def derivative(node: Node, b: Builder, memo: dict[int, Node] | None = None) -> Node:
    """d node / d p, simplified by the builder's constructors."""
    memo = {} if memo is None else memo
    done = memo.get(node.serial)
    if done is not None:
        return done
    d = _derivative(node, b, memo)
    memo[node.serial] = d
    return d


def _derivative(x: Node, b: Builder, memo: dict) -> Node:
    op, args = x.op, x.args
    if op == "p":
        return b.one
    if op in ("const", "y", "param", "sign", "lt", "le", "gt", "ge", "eq", "ne"):
        return b.zero
    if op == "add":
        total = b.zero
        for t, k in zip(args, x.value[1]):
            total = b.add(total, b.scale(k, derivative(t, b, memo)))
        return total
    da = [derivative(a, b, memo) for a in args]
    if op == "mul":
        total = b.zero
        factors = dict(zip(args, x.value))
        for base, e, dbase in zip(args, x.value, da):
            if dbase is b.zero:
                continue
            rest = dict(factors)
            rest[base] = e - 1
            total = b.add(total, b.mul(b.scale(float(e), dbase), b._product(1.0, rest)))
        return total
    u, du = args[0], da[0]
    if op == "pow":
        return b.mul(b.scale(x.value, du), b.pow(u, b.const(x.value - 1.0)))
    if op == "powv":
        v, dv = args[1], da[1]
        return b.mul(x, b.add(b.mul(dv, b.func("log", u)), b.mul(v, b.div(du, u))))
    if op in ("minimum", "maximum"):
        cond = b.binary("le" if op == "minimum" else "ge", args[0], args[1])
        return b.where(cond, da[0], da[1])
    if op == "where":
        return b.where(args[0], da[1], da[2])
    if du is b.zero:
        return b.zero
    if op == "abs":
        inner = b.func("sign", u)
    elif op == "sqrt":
        inner = b.scale(0.5, b.powi(x, -1))
    elif op in ("exp", "expm1"):
        inner = b.func("exp", u)
    elif op == "log":
        inner = b.powi(u, -1)
    elif op == "log1p":
        inner = b.powi(b.add(b.one, u), -1)
    elif op == "tanh":
        inner = b.sub(b.one, b.powi(x, 2))
    elif op == "sigmoid":
        inner = b.mul(x, b.func("sigmoid", b.neg(u)))
    elif op == "softplus":
        inner = b.func("sigmoid", u)
    elif op == "log_sigmoid":
        inner = b.func("sigmoid", b.neg(u))
    else:  # pragma: no cover - every op is handled above
        raise AssertionError(op)
    return b.mul(inner, du)


# --------------------------------------------------------------------------- printing

_PRECEDENCE = {"cmp": 1, "add": 2, "mul": 3, "neg": 4, "pow": 5, "atom": 6}
_CMP_TEXT = {v: k for k, v in COMPARISONS.items()}


def _number(v: float) -> str:
    if not math.isfinite(v):  # a constant folded to inf or nan (as NumPy would): shown, not parseable
        return str(v)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def to_string(node: Node) -> str:
    """The expression in the grammar's syntax (parseable again), with minimal parentheses."""
    return _show(node)[0]


def _show(x: Node) -> tuple[str, int]:
    op = x.op
    if op == "const":
        v = x.value
        return (_number(v), _PRECEDENCE["atom"]) if v >= 0 else ("-" + _number(-v), _PRECEDENCE["neg"])
    if op in ("y", "p"):
        return op, _PRECEDENCE["atom"]
    if op == "param":
        return x.value, _PRECEDENCE["atom"]
    if op == "add":
        c, coefs = x.value
        parts = []
        for t, k in zip(x.args, coefs):
            text, prec = _show(t)
            body = text if prec > _PRECEDENCE["add"] else f"({text})"
            if abs(k) != 1.0:
                body = f"{_number(abs(k))}*{text if prec > _PRECEDENCE['mul'] else f'({text})'}"
            parts.append(("-" if k < 0 else "+", body))
        if c != 0.0:
            parts.append(("-" if c < 0 else "+", _number(abs(c))))
        first_sign, first = parts[0]
        out = ("-" if first_sign == "-" else "") + first
        for sign, body in parts[1:]:
            out += f" {sign} {body}"
        return out, (_PRECEDENCE["add"] if len(parts) > 1 or first_sign == "-" else _PRECEDENCE["mul"])
    if op == "mul":
        num, den = [], []
        for base, e in zip(x.args, x.value):
            text, prec = _show(base)
            if abs(e) != 1:
                text = (text if prec > _PRECEDENCE["pow"] else f"({text})") + f"**{abs(e)}"
            elif prec <= _PRECEDENCE["mul"]:
                text = f"({text})"
            (num if e > 0 else den).append(text)
        out = "*".join(num) if num else "1"
        if den:
            out += "/" + (den[0] if len(den) == 1 else "(" + "*".join(den) + ")")
        return out, _PRECEDENCE["mul"]
    if op == "pow":
        text, prec = _show(x.args[0])
        base = text if prec > _PRECEDENCE["pow"] else f"({text})"
        return f"{base}**{_number(x.value) if x.value >= 0 else '(' + _number(x.value) + ')'}", _PRECEDENCE["pow"]
    if op == "powv":
        (bt, bp), (et, ep) = _show(x.args[0]), _show(x.args[1])
        return (f"{bt if bp > _PRECEDENCE['pow'] else f'({bt})'}**"
                f"{et if ep > _PRECEDENCE['pow'] else f'({et})'}"), _PRECEDENCE["pow"]
    if op in _CMP_TEXT:
        (at, ap), (bt, bp) = _show(x.args[0]), _show(x.args[1])
        return (f"{at if ap > _PRECEDENCE['cmp'] else f'({at})'} {_CMP_TEXT[op]} "
                f"{bt if bp > _PRECEDENCE['cmp'] else f'({bt})'}"), _PRECEDENCE["cmp"]
    return f"{op}({', '.join(_show(a)[0] for a in x.args)})", _PRECEDENCE["atom"]


# --------------------------------------------------------------------------- NumPy evaluation

def evaluate(roots: list[Node], y: np.ndarray, p: np.ndarray, params: dict[str, float]) -> list[np.ndarray]:
    """The roots in float64 NumPy, one array operation per node (the reference)."""
    memo: dict[int, np.ndarray] = {}
    numpy = Builder._NUMPY

    def ev(x: Node):
        got = memo.get(x.serial)
        if got is not None:
            return got
        op = x.op
        if op == "const":
            r = np.float64(x.value)
        elif op == "y":
            r = y
        elif op == "p":
            r = p
        elif op == "param":
            r = np.float64(params[x.value])
        elif op == "add":
            c, coefs = x.value
            r = np.float64(c)
            for t, k in zip(x.args, coefs):
                r = r + k * ev(t)
        elif op == "mul":
            r = np.float64(1.0)
            for base, e in zip(x.args, x.value):
                r = r * ev(base) ** float(e)
        elif op == "pow":
            r = ev(x.args[0]) ** x.value
        elif op == "powv":
            r = ev(x.args[0]) ** ev(x.args[1])
        elif op == "where":
            r = np.where(ev(x.args[0]) != 0, ev(x.args[1]), ev(x.args[2]))
        elif op in ("minimum", "maximum"):
            r = getattr(np, op)(ev(x.args[0]), ev(x.args[1]))
        elif op in _CMP_TEXT:
            f = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                 "eq": np.equal, "ne": np.not_equal}[op]
            r = f(ev(x.args[0]), ev(x.args[1])).astype(np.float64)
        else:
            r = numpy[op](ev(x.args[0]))
        memo[x.serial] = r
        return r

    with np.errstate(all="ignore"):
        return [np.broadcast_to(ev(r), np.broadcast_shapes(np.shape(y), np.shape(p))) for r in roots]


# --------------------------------------------------------------------------- compilation

class Program:
    """A straight-line program for _core.CustomKernel: (code, n_slots, constants,
    value_slot, grad_slot, hess_slot), slots as documented in custom_program.hpp."""

    def __init__(self, roots: list[Node | None], params: tuple[str, ...], opcodes: dict[str, tuple[int, int]]):
        self.opcodes = opcodes
        self.params = params
        self.code: list[tuple] = []  # (op, dst value, operands...) over virtual values
        self.constants: list[float] = []
        self._constant_index: dict[tuple, int] = {}
        self._values: dict[int, tuple] = {}  # node serial -> operand
        self._recip: dict[int, tuple] = {}
        self.transcendental = False
        self._next_value = 0
        outputs = [None if r is None else self._emit(r) for r in roots]
        self.kernel_args = self._allocate(outputs)

    # operands: ("y",), ("p",), ("c", i), ("param", j), ("v", k)
    def _constant(self, v: float) -> tuple:
        key = _float_key(v)
        i = self._constant_index.get(key)
        if i is None:
            i = self._constant_index[key] = len(self.constants)
            self.constants.append(v)
        return ("c", i)

    def _op(self, name: str, *operands: tuple) -> tuple:
        if name in TRANSCENDENTAL:
            self.transcendental = True
        dst = ("v", self._next_value)
        self._next_value += 1
        self.code.append((name, dst) + operands)
        return dst

    def _emit(self, x: Node) -> tuple:
        got = self._values.get(x.serial)
        if got is not None:
            return got
        op = x.op
        if op == "const":
            r = self._constant(x.value)
        elif op == "y":
            r = ("y",)
        elif op == "p":
            r = ("p",)
        elif op == "param":
            r = ("param", self.params.index(x.value))
        elif op == "add":
            r = self._emit_sum(x)
        elif op == "mul":
            r = self._emit_product(x)
        elif op == "pow":
            r = self._op("pow", self._emit(x.args[0]), self._constant(x.value))
        elif op == "powv":
            r = self._op("pow", self._emit(x.args[0]), self._emit(x.args[1]))
        else:
            r = self._op(op, *[self._emit(a) for a in x.args])
        self._values[x.serial] = r
        return r

    def _emit_sum(self, x: Node) -> tuple:
        c, coefs = x.value
        if c == 0.0 and len(coefs) == 1:  # k * t: one multiplication (or negation)
            v = self._emit(x.args[0])
            return self._op("neg", v) if coefs[0] == -1.0 else self._op("mul", self._constant(coefs[0]), v)
        parts = []  # (positive, operand)
        for t, k in zip(x.args, coefs):
            v = self._emit(t)
            if abs(k) != 1.0:
                v = self._op("mul", self._constant(abs(k)), v)
            parts.append((k > 0, v))
        if c != 0.0:
            parts.insert(0, (c > 0, self._constant(abs(c))))
        # start from a positive part where there is one: a - b, not -b + a
        first = next((i for i, (positive, _) in enumerate(parts) if positive), None)
        if first is None:
            acc = self._op("neg", parts[0][1])
            rest = parts[1:]
        else:
            acc = parts[first][1]
            rest = parts[:first] + parts[first + 1:]
        for positive, v in rest:
            acc = self._op("add" if positive else "sub", acc, v)
        return acc

    def _emit_recip(self, base: Node) -> tuple:
        got = self._recip.get(base.serial)
        if got is None:
            got = self._recip[base.serial] = self._op("div", self._constant(1.0), self._emit(base))
        return got

    def _emit_power(self, v: tuple, e: int) -> tuple:
        if e > MAX_INT_POWER:
            return self._op("pow", v, self._constant(float(e)))
        acc = v
        for _ in range(e - 1):
            acc = self._op("mul", acc, v)
        return acc

    def _emit_product(self, x: Node) -> tuple:
        """Numerator factors multiplied in order; a denominator b**-1 divides, a
        denominator b**-e (e >= 2) multiplies by 1/b e times."""
        acc = None
        for base, e in zip(x.args, x.value):
            if e > 0:
                v = self._emit_power(self._emit(base), e)
                acc = v if acc is None else self._op("mul", acc, v)
        for base, e in zip(x.args, x.value):
            if e == -1:
                acc = self._op("div", self._constant(1.0) if acc is None else acc, self._emit(base))
            elif e < 0:
                if -e > MAX_INT_POWER:
                    d = self._op("pow", self._emit(base), self._constant(float(e)))
                    acc = d if acc is None else self._op("mul", acc, d)
                    continue
                q = self._emit_recip(base)
                for _ in range(-e):
                    acc = q if acc is None else self._op("mul", acc, q)
        return acc

    def _allocate(self, outputs: list[tuple | None]) -> tuple:
        """Registers for the virtual values: a register is reused once its value is
        dead (also as the destination of the instruction that last reads it)."""
        last_use: dict[tuple, int] = {}
        for i, (_, dst, *operands) in enumerate(self.code):
            for o in operands:
                last_use[o] = i
        for o in outputs:
            if o is not None:
                last_use[o] = len(self.code)  # outputs live to the end
        register: dict[tuple, int] = {}
        free: list[int] = []
        n_registers = 0
        code = []
        for i, (name, dst, *operands) in enumerate(self.code):
            for o in set(operands):
                if o[0] == "v" and last_use[o] == i:
                    free.append(register[o])
            if dst not in last_use:  # never read (cannot happen for emitted values) - still allocate
                last_use[dst] = i
            if free:
                free.sort()
                r = free.pop(0)
            else:
                r = n_registers
                n_registers += 1
            register[dst] = r
            code.append((name, r, operands))
        first_constant = 2 + n_registers
        first_param = first_constant + len(self.constants)

        def slot(o: tuple) -> int:
            kind = o[0]
            if kind == "y":
                return 0
            if kind == "p":
                return 1
            if kind == "c":
                return first_constant + o[1]
            if kind == "param":
                return first_param + o[1]
            return 2 + register[o]

        out = []
        for name, r, operands in code:
            op = self.opcodes[name][0]
            slots = [slot(o) for o in operands] + [-1] * (3 - len(operands))
            out.append((op, 2 + r, *slots))
        n_slots = first_param + len(self.params)
        return (out, n_slots, list(self.constants), *[-1 if o is None else slot(o) for o in outputs])
