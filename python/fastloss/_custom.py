"""``fastloss.custom``: a loss from an expression, compiled into a fused kernel."""

from __future__ import annotations

import functools
import inspect
import math
import types
from typing import Any

import numpy as np

from . import _core
from . import _expr
from ._elementwise import ElementwiseLoss, Kernel
from ._loss import Param, _number
from ._registry import _COMMON_ARGS
from .reference import _reduce

# The output sets the entry points need: bits 1 value, 2 gradient, 4 Hessian.
_VARIANTS = (1, 2, 3, 6)
# Names a parameter cannot have: the variables, the functions, and the entry points' own arguments.
_RESERVED = frozenset(_expr.VARIABLES) | frozenset(_expr.FUNCTIONS) | {
    "self", "y_true", "y_pred", "reduction", "sample_weight", "out"}


def _finite(name: str, value: Any) -> float:
    v = _number(name, value)
    if not math.isfinite(v):
        raise ValueError(f"parameter {name} must be finite, got {value!r}")
    return v


class _Compiled:
    """An expression parsed, differentiated twice and compiled (cached per expression)."""

    def __init__(self, expression: str, params: tuple[str, ...]):
        b = _expr.Builder(params)
        value = _expr.parse(expression, b)
        memo: dict = {}
        grad = _expr.derivative(value, b, memo)
        hess = _expr.derivative(grad, b, memo)
        self.nodes = (value, grad, hess)
        self.forms = {"value": _expr.to_string(value), "grad": _expr.to_string(grad), "hess": _expr.to_string(hess)}
        variants = {}
        transcendental = False
        for bits in _VARIANTS:
            roots = [node if bits >> i & 1 else None for i, node in enumerate(self.nodes)]
            program = _expr.Program(roots, params, _core.custom_ops)
            code, n_slots = program.kernel_args[:2]
            if n_slots > _core.custom_max_slots or len(code) > _core.custom_max_instructions:
                raise ValueError(f"expression too large: its program needs {n_slots} slots and {len(code)} "
                                 f"instructions (at most {_core.custom_max_slots} and "
                                 f"{_core.custom_max_instructions})")
            transcendental = transcendental or program.transcendental
            variants[bits] = program.kernel_args
        self.kernel = _core.CustomKernel(variants, len(params), transcendental)


@functools.lru_cache(maxsize=256)
def _compile(expression: str, params: tuple[str, ...]) -> _Compiled:
    return _Compiled(expression, params)


class CustomLoss(ElementwiseLoss):
    """A loss of ``(y_true, y_pred)`` defined by an expression (see ``fastloss.custom``)."""

    expression: str
    forms: types.MappingProxyType

    def __repr__(self) -> str:
        return f"<fastloss.custom {self.name!r}: {self.expression!r}>"


def _reference(compiled: _Compiled, defaults: dict[str, float]):
    value = compiled.nodes[0]

    def reference(y_true, y_pred, *, reduction="mean", sample_weight=None, **params):
        unknown = set(params) - defaults.keys()
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}")
        merged = {**defaults, **params}
        y = np.asarray(y_true).astype(np.float64)
        p = np.asarray(y_pred).astype(np.float64)
        loss = _expr.evaluate([value], y, p, merged)[0]
        return _reduce(np.array(loss), reduction, sample_weight)

    kw = inspect.Parameter.KEYWORD_ONLY
    reference.__signature__ = inspect.Signature(
        [inspect.Parameter("y_true", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("y_pred", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(k, kw, default=v) for k, v in defaults.items()]
        + [inspect.Parameter("reduction", kw, default="mean"), inspect.Parameter("sample_weight", kw, default=None)])
    return reference


@functools.lru_cache(maxsize=256)
def _make(expression: str, signed_params: tuple[tuple[str, float, float], ...], name: str) -> CustomLoss:
    params = tuple((k, v) for k, v, _ in signed_params)
    names = tuple(k for k, _ in params)
    compiled = _compile(expression, names)
    defaults = dict(params)
    kernel = compiled.kernel
    f = compiled.forms
    doc = f"""Custom loss ``{expression}`` (made by ``fastloss.custom``).

    Per element, with ``y = y_true`` and ``p = y_pred``, as simplified and compiled::

        loss     = {f['value']}
        d/dp     = {f['grad']}
        d2/dp2   = {f['hess']}

    Parameters (keyword arguments of every entry point): {', '.join(f'{k}={v!r}' for k, v in params) or 'none'}.
"""
    loss = CustomLoss(name, tuple(Param(k, v, _finite) for k, v in params), _reference(compiled, defaults),
                      doc.rstrip() + "\n" + _COMMON_ARGS,
                      lambda **values: Kernel(kernel, tuple(values.values())))
    loss.expression = expression
    loss.forms = types.MappingProxyType(dict(f))  # read-only: the object is shared through the cache
    loss.domain = "real"
    return loss


def custom(expression: str, *, params: dict[str, float] | None = None, name: str | None = None) -> CustomLoss:
    """A loss from an elementwise expression, with its gradient and Hessian.

    ``expression`` is a formula in ``y`` (the true value), ``p`` (the
    prediction) and the named scalar ``params``, for example the seed's custom
    loss ``"log1p((y - p)**2)"`` (which equals ``fastloss.cauchy``). The result
    is a ``Loss`` like the built-in ones: ``loss(y_true, y_pred)``, ``.grad``,
    ``.value_and_grad``, ``.grad_hess`` and ``.reference``, every reduction,
    ``sample_weight``, ``out=``, the same dtype rules (float32 in computes in
    float32), threads and bitwise determinism. Parameters can be changed per
    call: ``loss(y, p, c=2.0)``.

    Grammar: numbers; ``y``, ``p`` and the parameters; ``+ - * / **`` (integer
    and real exponents; ``**`` binds tighter than unary minus, as in Python);
    comparisons ``< <= > >= == !=`` (1 or 0); the functions ``abs, sqrt, exp,
    log, log1p, expm1, tanh, sigmoid, softplus, log_sigmoid, sign`` (one
    argument), ``minimum, maximum`` (two), ``clip(x, lo, hi)`` and
    ``where(cond, a, b)`` (``a`` where ``cond`` is nonzero). The expression is
    parsed by a restricted parser: Python's ``eval`` is never used, and
    anything outside the grammar (attributes, lambdas, unknown names, nesting
    deeper than 50 levels, more than 2000 characters) is a ValueError that
    points at the offending token.

    The gradient and the Hessian (with respect to ``p``) come from symbolic
    differentiation, simplified into numerically sensible forms: terms are
    collected, fractions put over a common denominator and differences of
    squares factored (the Hessian of ``log1p((y - p)**2)`` is computed as
    ``2*(1 - r)*(1 + r)/(1 + r**2)**2``, exact near ``r = 1``), and
    ``log(1 + u)``, ``exp(u) - 1``, ``log(1 + exp(u))``, ``log(sigmoid(u))``
    and ``1 - sigmoid(u)`` become ``log1p``, ``expm1``, ``softplus``,
    ``log_sigmoid`` and ``sigmoid(-u)``. ``loss.forms`` shows the three
    formulas as compiled. Derivatives of ``abs``, ``sign``, comparisons,
    ``minimum``/``maximum`` and ``where`` are taken piecewise (the gradient of
    ``abs(u)`` is ``sign(u) u'``, 0 at 0, as ``fastloss.mae``). Simplification
    is exact algebra on the real numbers where the expression is defined:
    ``sqrt(p)**2`` becomes ``p``, ``p/p`` becomes 1 and ``0*u`` becomes 0, so
    where the expression as written would be NaN (``p < 0``, ``p = 0``) the
    compiled one (and ``.reference``) may be finite, as in computer algebra
    systems. Constants fold as NumPy computes them (``p/0`` is ``inf*p``).

    The program runs in compiled code over chunks of 128 elements, one SIMD
    loop per operation (vector log/exp from glibc's libmvec), fused with the
    reduction: no temporary of the input's size. Compiled expressions are
    cached, so calling ``custom`` again with the same expression is free.

    Args:
      expression: the per-element loss.
      params: ``{name: default}`` of scalar parameters (finite numbers).
      name: the loss's name (default ``"custom"``).

    Returns:
      A ``fastloss.Loss``.

    Example::

        >>> cauchy = fl.custom("log1p(((y - p) / c)**2)", params={"c": 1.0})
        >>> cauchy([6.3], [6.1], reduction="sum")   # 0.0392207
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of name: default value, got {type(params).__name__}")
    items = []
    for k, v in params.items():
        if not isinstance(k, str) or not k.isidentifier() or k.startswith("_"):
            raise ValueError(f"parameter name {k!r} is not a name (letters, digits, _; no leading _)")
        if k in _RESERVED:
            raise ValueError(f"parameter name {k!r} is reserved (y, p, the functions, self, y_true, y_pred, "
                             "reduction, sample_weight, out)")
        v = _finite(k, v)
        items.append((k, v, math.copysign(1.0, v)))  # the sign: -0.0 and 0.0 are different defaults
    if name is None:
        name = "custom"
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not isinstance(expression, str):
        raise TypeError(f"expression must be a str, got {type(expression).__name__}")
    return _make(expression, tuple(items), name)
