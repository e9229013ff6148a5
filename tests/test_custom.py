"""fastloss.custom: expressions compiled into fused kernels with symbolic derivatives.

Expected values come from the built-in losses (themselves tested against NumPy
and mpmath), from NumPy expressions written out here by hand, from mpmath, and
from central finite differences."""

from __future__ import annotations

import builtins
import re
import time

import mpmath
import numpy as np
import pytest

import fastloss as fl

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

DTYPES = [np.float32, np.float64]


def ulp_diff(a, b):
    """|a - b| in units of the last place of the dtype (elementwise, max)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    scale = np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(a.dtype))
    scale = np.where(scale == 0, np.finfo(a.dtype).smallest_subnormal, scale)
    d = np.abs(a.astype(np.float64) - b.astype(np.float64)) / scale.astype(np.float64)
    return float(np.max(d, initial=0.0))


def residuals(n, dtype, seed=0):
    """y, p with residuals over many scales, many of them near |y - p| = 1."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    r = np.concatenate([rng.normal(size=n // 2), 1 + rng.normal(scale=1e-3, size=n // 4),
                        rng.normal(scale=1e3, size=n - n // 2 - n // 4)])
    rng.shuffle(r)
    return y.astype(dtype), (y - r).astype(dtype)


# --------------------------------------------------------------------------- equal to built-ins

@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_example_equals_cauchy(dtype):
    loss = fl.custom("log1p((y - p)**2)")
    y, p = residuals(20000, dtype)
    value = loss(y, p, reduction="none")
    if dtype == np.float64:
        assert ulp_diff(value, fl.cauchy(y, p, reduction="none")) <= 2
    else:
        # fl.cauchy forms r**2 in float64 for float32 data; the program rounds y - p and
        # the square in float32, as written. Both against the exact value instead: float64
        # arithmetic on the float32 inputs (y - p and its square are exact there to 2**-50).
        exact = np.log1p(np.square(y.astype(np.float64) - p.astype(np.float64))).astype(dtype)
        assert ulp_diff(value, exact) <= 4
        assert ulp_diff(fl.cauchy(y, p, reduction="none"), exact) <= 2
    assert ulp_diff(loss.grad(y, p, reduction="none"), fl.cauchy.grad(y, p, reduction="none")) <= 2
    g1, h1 = loss.grad_hess(y, p, reduction="none")
    g2, h2 = fl.cauchy.grad_hess(y, p, reduction="none")
    assert ulp_diff(g1, g2) <= 2
    if dtype == np.float64:
        assert ulp_diff(h1, h2) <= 2
    else:
        # fl.cauchy's float32 Hessian is float64 arithmetic rounded once (within 1 ulp of
        # mpmath: test_accuracy.py); the program's, in float32, is within 6 ulp of the
        # magnitude of its terms, 2 / (1 + r**2), the bound fl.cauchy keeps in float64.
        r2 = np.square(y.astype(np.float64) - p.astype(np.float64))
        terms = np.spacing((2 / (1 + r2)).astype(dtype)).astype(np.float64)
        assert np.max(np.abs(h1.astype(np.float64) - h2.astype(np.float64)) / terms) <= 6
    for reduction in ("mean", "sum"):
        v1, v2 = loss(y, p, reduction=reduction), fl.cauchy(y, p, reduction=reduction)
        assert v1.dtype == v2.dtype == dtype
        assert ulp_diff(v1, v2) <= 2


def test_seed_example_value():
    # The seed's worked example (SPEC section 4): log1p(0.2**2) = 0.0392207 (hand calculation).
    loss = fl.custom("log1p((y - p)**2)")
    assert loss([6.3], [6.1], reduction="sum") == pytest.approx(0.039220713153281, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hessian_accurate_near_r_equal_1(dtype):
    # d2/dp2 log1p(r^2) = 2 (1 - r^2) / (1 + r^2)^2 (hand calculation), evaluated in mpmath
    # at the float inputs: the factored form keeps it accurate where 1 - r^2 cancels.
    loss = fl.custom("log1p((y - p)**2)")
    y = np.full(64, 3.0, dtype)
    p = y - (1 + np.linspace(-1e-3, 1e-3, 64)).astype(dtype)
    _, h = loss.grad_hess(y, p, reduction="none")
    mpmath.mp.dps = 50
    for yi, pi, hi in zip(y, p, h):
        r = mpmath.mpf(float(yi)) - mpmath.mpf(float(pi))
        exact = 2 * (1 - r * r) / (1 + r * r) ** 2
        assert abs(float(hi) - exact) <= 4 * np.spacing(np.abs(dtype(float(exact)))), (r, hi, exact)


@pytest.mark.parametrize("dtype", DTYPES)
def test_squared_error_equals_mse_bitwise(dtype):
    loss = fl.custom("(y - p)**2")
    y, p = residuals(10007, dtype, seed=1)
    for reduction in ("none", "mean", "sum"):
        assert np.array_equal(loss(y, p, reduction=reduction), fl.mse(y, p, reduction=reduction))
        assert np.array_equal(loss.grad(y, p, reduction=reduction), fl.mse.grad(y, p, reduction=reduction))
        for a, b in zip(loss.grad_hess(y, p, reduction=reduction), fl.mse.grad_hess(y, p, reduction=reduction)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huber_with_where_equals_huber(dtype):
    loss = fl.custom("where(abs(y - p) <= delta, 0.5 * (y - p)**2, delta * (abs(y - p) - 0.5 * delta))",
                     params={"delta": 1.0})
    y, p = residuals(5000, dtype, seed=2)
    for delta in (1.0, 0.25):
        kw = {"delta": delta}
        assert np.array_equal(loss(y, p, reduction="none", **kw), fl.huber(y, p, reduction="none", **kw))
        assert np.array_equal(loss.grad(y, p, **kw), fl.huber.grad(y, p, **kw))
        for a, b in zip(loss.grad_hess(y, p, **kw), fl.huber.grad_hess(y, p, **kw)):
            assert np.array_equal(a, b)
        assert loss(y, p, **kw) == fl.huber(y, p, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_from_log_matches_builtin(dtype):
    loss = fl.custom("-(y * log(p) + (1 - y) * log(1 - p))")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 4000).astype(dtype)
    p = rng.uniform(0.01, 0.99, 4000).astype(dtype)
    for entry in ("__call__", "grad"):
        got = getattr(loss, entry)(y, p, reduction="none")
        want = getattr(fl.binary_cross_entropy, entry)(y, p, reduction="none")
        assert ulp_diff(got, want) <= 4
    for got, want in zip(loss.grad_hess(y, p), fl.binary_cross_entropy.grad_hess(y, p)):
        assert ulp_diff(got, want) <= 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_parameter_default_and_per_call(dtype):
    loss = fl.custom("log1p(((y - p) / c)**2)", params={"c": 1.0})
    y, p = residuals(3000, dtype, seed=4)
    for c in (1.0, 2.5):
        v = loss(y, p, reduction="none", c=c)
        assert ulp_diff(v, fl.cauchy(y, p, reduction="none", scale=c)) <= 4
        g, h = loss.grad_hess(y, p, c=c, reduction="none")
        g2 = fl.cauchy.grad(y, p, scale=c, reduction="none")
        assert ulp_diff(g, g2) <= 4
        # The Hessian 2 (c^2 - d^2) / (c^2 + d^2)^2 (hand calculation) in mpmath at the
        # rounded residual d = y - p that both compute: the factored (c - d)(c + d) is exact
        # where d is close to c.
        mpmath.mp.dps = 50
        d = y - p
        exact = np.array([float(2 * (c * c - mpmath.mpf(float(x)) ** 2) / (c * c + mpmath.mpf(float(x)) ** 2) ** 2)
                          for x in d]).astype(dtype)
        assert ulp_diff(h, exact) <= 8
    assert loss(y, p) == loss(y, p, c=1.0)


# --------------------------------------------------------------------------- the grammar

# (expression, NumPy function of y and p written out by hand)
FUNCTIONS = [
    ("abs(y - p)", lambda y, p: np.abs(y - p)),
    ("sqrt(1 + p**2)", lambda y, p: np.sqrt(1 + p**2)),
    ("exp(p) * y", lambda y, p: np.exp(p) * y),
    ("log(p**2 + 1)", lambda y, p: np.log1p(p**2)),  # rewritten to log1p: exact for small p
    ("expm1(p) - y", lambda y, p: np.expm1(p) - y),
    ("tanh(p - y)", lambda y, p: np.tanh(p - y)),
    ("sigmoid(p)", lambda y, p: 1 / (1 + np.exp(-p))),
    ("softplus(p) - y * p", lambda y, p: np.logaddexp(0, p) - y * p),
    ("log_sigmoid(p)", lambda y, p: -np.logaddexp(0, -p)),
    ("minimum(y, p)", np.minimum),
    ("maximum(y, p) ** 2", lambda y, p: np.maximum(y, p) ** 2),
    ("clip(p, -0.5, 0.5)", lambda y, p: np.clip(p, -0.5, 0.5)),
    ("where(y > p, 2 * (y - p), 0.5 * (p - y))", lambda y, p: np.where(y > p, 2 * (y - p), 0.5 * (p - y))),
    ("(y < p) + 2 * (y <= p) + 4 * (y == p) + 8 * (y != p) + 16 * (y >= p)",
     lambda y, p: (y < p) + 2.0 * (y <= p) + 4.0 * (y == p) + 8.0 * (y != p) + 16.0 * (y >= p)),
    ("sign(p) * p ** 3 / 3", lambda y, p: np.sign(p) * p**3 / 3),
    ("abs(p) ** 1.5", lambda y, p: np.abs(p) ** 1.5),
    ("(1 + p**2) ** -2.5", lambda y, p: (1 + p**2) ** -2.5),
    ("2 ** p", lambda y, p: 2.0**p),
    ("-p**2", lambda y, p: -(p**2)),
    ("+y - -p", lambda y, p: y + p),
    ("p ** 7 - 1e-3 * p ** -6", lambda y, p: p**7 - 1e-3 * p**-6.0),
]


@pytest.mark.parametrize("expression,numpy_fn", FUNCTIONS, ids=[e for e, _ in FUNCTIONS])
def test_every_function_against_numpy(expression, numpy_fn):
    rng = np.random.default_rng(5)
    y = rng.normal(size=1000)
    p = np.concatenate([rng.normal(size=990), [0.0, -0.0, 0.5, -0.5, 1.0, 2.0, 3.0, 0.25, 0.75, -3.0]])
    y[:5] = p[:5]  # ties for the comparisons
    loss = fl.custom(expression)
    with np.errstate(divide="ignore"):
        want = numpy_fn(y, p)
    # atol: where terms of size ~1 cancel (expm1(p) - y near y = p), libm's and libmvec's
    # few-ulp differences are absolute, not relative
    np.testing.assert_allclose(loss(y, p, reduction="none"), want, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(loss.reference(y, p, reduction="none"), want, rtol=1e-14, atol=1e-14)


def test_nan_and_inf_propagate_as_numpy():
    loss = fl.custom("log(p) + sqrt(y)")
    y = np.array([1.0, -1.0, np.inf, np.nan, 4.0])
    p = np.array([0.0, 1.0, 1.0, 1.0, np.inf])
    with np.errstate(all="ignore"):
        want = np.log(p) + np.sqrt(y)
    np.testing.assert_array_equal(loss(y, p, reduction="none"), want)


# Smooth building blocks for random expressions (finite on [-2, 2], derivatives too).
LEAVES = ["y", "p", "(y - p)", "0.5", "2", "p"]
UNARY = ["exp({})", "log1p(({})**2)", "tanh({})", "sigmoid({})", "softplus({})", "log_sigmoid({})",
         "sqrt(1 + ({})**2)", "({})**2", "({})**3", "1 / (1 + ({})**2)", "-({})", "log(2 + tanh({}))",
         "expm1(0.3 * tanh({}))", "abs(2 + tanh({})) ** 1.5"]
BINARY = ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / (2 + tanh({}))"]


def expressions(depth):
    if depth == 0:
        return st.sampled_from(LEAVES)
    sub = expressions(depth - 1)
    return st.one_of(
        sub,
        st.builds(lambda f, a: f.format(a), st.sampled_from(UNARY), sub),
        st.builds(lambda f, a, b: f.format(a, b), st.sampled_from(BINARY), sub, sub),
    )


@settings(max_examples=60, deadline=None)
@given(expressions(3), st.integers(0, 2**32 - 1))
def test_derivatives_match_finite_differences(expression, seed):
    loss = fl.custom(expression)
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1.5, 1.5, 64)
    p = rng.uniform(-1.5, 1.5, 64)
    h = 1e-6
    # central differences of the NumPy reference (an evaluator independent of the kernel)
    f = lambda q: loss.reference(y, q, reduction="none")  # noqa: E731
    fd_grad = (f(p + h) - f(p - h)) / (2 * h)
    g, hess = loss.grad_hess(y, p, reduction="none")
    scale = 1 + np.abs(fd_grad)
    assert np.all(np.abs(g - fd_grad) <= 1e-6 * scale), expression
    gf = lambda q: loss.grad(y, q, reduction="none")  # noqa: E731
    fd_hess = (gf(p + h) - gf(p - h)) / (2 * h)
    assert np.all(np.abs(hess - fd_hess) <= 1e-5 * (1 + np.abs(fd_hess))), expression
    np.testing.assert_allclose(loss(y, p, reduction="none"), f(p), rtol=1e-12, atol=1e-14)


def test_piecewise_derivatives():
    # Derivatives by hand: d|p - y|/dp = sign(p - y) (0 at 0); d max(p, y)^2/dp = 2p where p >= y.
    y = np.array([0.0, 1.0, 2.0, -1.0])
    p = np.array([0.0, 3.0, 1.0, -1.0])
    g, h = fl.custom("abs(p - y)").grad_hess(y, p, reduction="none")
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0, 0.0])
    np.testing.assert_array_equal(h, 0.0)
    g, h = fl.custom("maximum(p, y)**2").grad_hess(y, p, reduction="none")
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0, -2.0])
    np.testing.assert_array_equal(h, [2.0, 2.0, 0.0, 2.0])
    g = fl.custom("clip(p, 0, 2) * y").grad(y, p, reduction="none")
    np.testing.assert_array_equal(g, [0.0, 0.0, 2.0, 0.0])


# --------------------------------------------------------------------------- the Loss contract

def test_entry_points_reductions_weights_out():
    loss = fl.custom("softplus(p) - y * p")
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, (30, 7)).astype(float)
    z = rng.normal(size=(30, 7))
    w = rng.uniform(0, 2, (30, 1))
    # BCE with logits is the same loss (a built-in checked against NumPy)
    ref = fl.binary_cross_entropy
    for reduction in ("mean", "sum", "none"):
        kw = dict(reduction=reduction, sample_weight=w)
        np.testing.assert_allclose(loss(y, z, **kw), ref(y, z, from_logits=True, **kw), rtol=1e-13)
        v, g = loss.value_and_grad(y, z, **kw)
        v2, g2 = ref.value_and_grad(y, z, from_logits=True, **kw)
        np.testing.assert_allclose(v, v2, rtol=1e-13)
        np.testing.assert_allclose(g, g2, rtol=1e-13, atol=1e-300)
        g, h = loss.grad_hess(y, z, **kw)
        g2, h2 = ref.grad_hess(y, z, from_logits=True, **kw)
        np.testing.assert_allclose(g, g2, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(h, h2, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(loss.reference(y, z, **kw), ref.reference(y, z, from_logits=True, **kw),
                                   rtol=1e-13)
    out = np.empty_like(z)
    assert loss.grad(y, z, out=out) is out
    np.testing.assert_array_equal(out, loss.grad(y, z))
    out = np.empty((30, 7))
    assert loss(y, z, reduction="none", out=out) is out
    with pytest.raises(ValueError, match="shape"):
        loss(y, z, reduction="none", out=np.empty((30, 6)))


def test_dtypes_and_broadcasting():
    loss = fl.custom("(y - p)**2 / 2")
    p32 = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    assert loss(np.float32(0.5), p32).dtype == np.float32
    assert loss(0.5, p32, reduction="none").dtype == np.float32  # a Python float is weak
    assert loss(np.float64(0.5), p32).dtype == np.float64
    assert loss([1, 2, 3, 4], p32.astype(np.float16), reduction="none").dtype == np.float64
    np.testing.assert_allclose(loss([[1.0], [2.0], [3.0]], p32.astype(np.float64), reduction="none"),
                               (np.array([[1.0], [2.0], [3.0]]) - p32.astype(np.float64)) ** 2 / 2, rtol=1e-15)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        loss(np.ones(5), p32)
    with pytest.raises(TypeError):
        loss(np.ones(12, complex), p32.ravel())
    assert loss([], [], reduction="sum") == 0.0


def test_threads_give_the_same_bits():
    loss = fl.custom("log1p((y - p)**2) + 0.1 * softplus(p)")
    y, p = residuals(300_001, np.float64, seed=7)
    try:
        fl.set_num_threads(1)
        one = (loss(y, p), loss.grad_hess(y, p), loss(y, p, reduction="none"))
        fl.set_num_threads(2)
        two = (loss(y, p), loss.grad_hess(y, p), loss(y, p, reduction="none"))
    finally:
        fl.set_num_threads(0)
    assert one[0] == two[0]
    for a, b in zip(one[1] + (one[2],), two[1] + (two[2],)):
        assert np.array_equal(a, b)


def test_tail_elements_computed_like_the_rest():
    # an element's result does not depend on its position (chunks are padded, not finished in scalar code)
    loss = fl.custom("log1p(exp(p) * y**2)")
    rng = np.random.default_rng(8)
    y, p = rng.normal(size=300), rng.normal(size=300)
    full = loss(y, p, reduction="none")
    for n in (1, 7, 15, 16, 17, 127, 128, 129, 255, 256, 257, 299):
        assert np.array_equal(loss(y[-n:], p[-n:], reduction="none"), full[-n:])


def test_inputs_not_modified_and_read_only_ok():
    loss = fl.custom("(y - p)**2")
    y, p = np.arange(10.0), np.ones(10)
    y.flags.writeable = False
    p_copy = p.copy()
    loss.grad_hess(y, p)
    assert np.array_equal(p, p_copy)


def test_cached_and_described():
    a = fl.custom("log1p((y - p)**2)")
    assert fl.custom("log1p((y - p)**2)") is a
    assert a is not fl.custom("log1p((y - p)**2)", name="seed")
    assert "log1p" in a.__doc__ and a.forms["value"] == "log1p((y - p)**2)"
    assert repr(fl.custom("(y - p)**2", name="sq")) == "<fastloss.custom 'sq': '(y - p)**2'>"
    assert isinstance(a, fl.Loss)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="reserved"):
        fl.custom("p * y", params={"exp": 1.0})
    with pytest.raises(ValueError, match="finite"):
        fl.custom("p * k", params={"k": float("nan")})
    with pytest.raises(TypeError):
        fl.custom("p * k", params={"k": "1"})
    with pytest.raises(TypeError):
        fl.custom("p * k", params=[("k", 1.0)])
    loss = fl.custom("p * k", params={"k": 1.0})
    with pytest.raises(TypeError, match="unexpected keyword"):
        loss([1.0], [1.0], kk=2.0)
    with pytest.raises(ValueError, match="finite"):
        loss([1.0], [1.0], k=float("inf"))
    with pytest.raises(TypeError):
        fl.custom(b"p")


# --------------------------------------------------------------------------- hostile strings

REJECTED = [
    ("__import__('os')", "unknown function '__import__'"),
    ("p.__class__", "unexpected character '.'"),
    ("y.__class__.__bases__[0].__subclasses__()", "unexpected character '.'"),
    ("(lambda: p)()", "unknown name 'lambda'"),
    ("p.real", "unexpected character '.'"),
    ("lambda x: x", "unknown name 'lambda'"),
    ("os.system('ls')", "unknown name 'os'"),
    ("p; import os", "unexpected character ';'"),
    ("[p]", "unexpected character"),
    ("p if y else 0", "unexpected 'if'"),
    ("q + p", "unknown name 'q'"),
    ("exp", "must be called"),
    ("foo(p)", "unknown function 'foo'"),
    ("exp(p", "expected ')'"),
    ("exp(p, y)", "takes 1 argument"),
    ("where(p, y)", "takes 3 argument"),
    ("p ** ", "unexpected end"),
    ("", "empty"),
    ("   ", "empty"),
    ("p < y < 1", "chained"),
    ("p**99999999999", "exponent"),
    ("p ** 2 ** 2 ** 2 ** 2 ** 2", "exponent"),
    ("2 ** p ** 1e6", "exponent"),
    ("1e999999 * p", "out of range"),
    ("(" * 100_000 + "p" + ")" * 100_000, "longer than"),
    ("(" * 60 + "p" + ")" * 60, "nested deeper"),
    ("-" * 60 + "p", "nested deeper"),
    ("exp(" * 60 + "p" + ")" * 60, "nested deeper"),
    ("p" + "**p" * 60, "nested deeper"),
    ("p\x00", "unexpected character"),
    ("p # comment", "unexpected character '#'"),
]


@pytest.mark.parametrize("text,message", REJECTED, ids=range(len(REJECTED)))
def test_malicious_or_malformed_rejected_quickly(text, message, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never be used")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=re.escape(message)):
        fl.custom(text)
    assert time.perf_counter() - start < 0.5


def test_error_points_at_the_token():
    with pytest.raises(ValueError) as info:
        fl.custom("log1p((y - p)**2) + p.real")
    assert "position 21" in str(info.value)  # the '.'
    assert str(info.value).splitlines()[-1] == " " * (4 + 21) + "^"


def test_wide_expressions_stay_bounded():
    # long but shallow: fine, and quick
    start = time.perf_counter()
    loss = fl.custom(" + ".join(f"{i} * p" for i in range(200)))
    assert time.perf_counter() - start < 0.5
    assert loss([0.0], [1.0], reduction="sum") == sum(range(200))
    # a deep composition: its derivatives are compiled or refused, never computed forever
    nested = "p"
    for _ in range(6):  # 1324 characters
        nested = f"sigmoid(tanh({nested}) * {nested})"
    start = time.perf_counter()
    try:
        loss = fl.custom(nested)
    except ValueError as e:
        assert "too large" in str(e)
    else:
        assert np.isfinite(loss.grad_hess([0.0], [0.3])[1]).all()
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- the compiled module checks programs

def test_core_rejects_invalid_programs():
    """_core.CustomKernel validates what Python compiled: a bad program raises, never runs."""
    from fastloss import _core

    ops = _core.custom_ops
    add, log = ops["add"][0], ops["log"][0]
    ok = ([(add, 2, 0, 1, -1)], 3, [], 2, -1, -1)  # slot 2 = y + p; value = slot 2
    kernel = _core.CustomKernel({1: ok}, 0, False)
    y, p = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    assert kernel(_core.MODE_SUM, y, p, None, None, None, None, None, 1.0, ()) == 11.0  # (1+3) + (2+5) by hand
    bad = {
        "opcode": ([(999, 2, 0, 1, -1)], 3, [], 2, -1, -1),
        "writes an input": ([(add, 1, 0, 1, -1)], 3, [], 1, -1, -1),
        "reads an unwritten register": ([(add, 2, 0, 3, -1)], 4, [], 2, -1, -1),
        "operand out of range": ([(add, 2, 0, 99, -1)], 3, [], 2, -1, -1),
        "extra operand": ([(log, 2, 0, 1, -1)], 3, [], 2, -1, -1),
        "root undefined": ([(add, 2, 0, 1, -1)], 4, [], 3, -1, -1),
        "root where none is wanted": ([(add, 2, 0, 1, -1)], 3, [], 2, 2, -1),
        "too many slots": ([], 100_000, [], 0, -1, -1),
        "writes a constant": ([(add, 2, 0, 1, -1)], 3, [1.0], 0, -1, -1),
    }
    for what, program in bad.items():
        with pytest.raises(ValueError):
            _core.CustomKernel({1: program}, 0, False)
            pytest.fail(what)
    with pytest.raises(ValueError):
        kernel(_core.MODE_GRAD, y, p, None, None, None, np.empty(2), None, 1.0, ())  # no gradient program
    with pytest.raises(ValueError):
        kernel(_core.MODE_SUM, y, p, None, None, None, None, None, 1.0, (2.0,))  # no parameters
    with pytest.raises(ValueError):
        kernel(_core.MODE_SUM, y, np.ones(3), None, None, None, None, None, 1.0, ())  # 2 vs 3 elements


# --------------------------------------------------------------------------- review findings (regressions)

def test_constants_folding_to_inf_or_nan_compile():
    # NumPy semantics (hand calculation): p/0 = inf*p; log(0) = -inf; 0**p = 0 for p > 0
    p = np.array([-1.0, 0.5, 2.0])
    y = np.zeros(3)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fl.custom("p/0")(y, p, reduction="none"), p / 0.0)
        np.testing.assert_array_equal(fl.custom("p + log(0)")(y, p, reduction="none"), p + np.log(0.0))
        np.testing.assert_array_equal(fl.custom("sqrt(-1)*p")(y, p, reduction="none"), np.sqrt(-1.0) * p)
    np.testing.assert_array_equal(fl.custom("0**p")(y[1:], p[1:], reduction="none"), [0.0, 0.0])
    assert "inf" in fl.custom("p/0").forms["value"]


def test_forms_parse_back_to_the_same_loss():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    p = np.array([1.0, 1.0, 0.0, 5.0])
    for text in ["(p < y) < 1", "(p < y) == (y < p)", "where((p <= y) != 0, p, -y)", "-(y - p)**2 / (1 + p**2)"]:
        loss = fl.custom(text)
        again = fl.custom(loss.forms["value"])
        np.testing.assert_array_equal(again(y, p, reduction="none"), loss(y, p, reduction="none"))


def test_cache_tells_minus_zero_from_zero():
    a = fl.custom("p + 1/c", params={"c": 0.0})
    b = fl.custom("p + 1/c", params={"c": -0.0})
    assert a is not b
    assert a([0.0], [0.0]) == np.inf and b([0.0], [0.0]) == -np.inf  # 1/0.0 and 1/-0.0
    with pytest.raises(TypeError):
        a.forms["value"] = "p"  # shared through the cache: read-only


@pytest.mark.parametrize("name", ["self", "y_true", "y_pred", "out", "reduction", "sample_weight", "where"])
def test_entry_point_argument_names_are_reserved(name):
    with pytest.raises(ValueError, match="reserved"):
        fl.custom("p", params={name: 1.0})


def test_nesting_limit_counts_each_parenthesis_once():
    assert fl.custom("(" * 45 + "p" + ")" * 45)([0.0], [2.0]) == 2.0
    assert fl.custom("exp(" * 20 + "p" + ")" * 20) is not None
    with pytest.raises(ValueError, match="nested deeper"):
        fl.custom("(" * 51 + "p" + ")" * 51)


def test_unicode_digits_and_spaces_rejected():
    for text in ["p + \u0663", "p\u00a0+ y", "\uff11 * p"]:
        with pytest.raises(ValueError, match="unexpected character"):
            fl.custom(text)


@pytest.mark.parametrize("text", ["1/(1+" * 16 + "p" + ")" * 16, "*".join(f"(p+{i})" for i in range(1, 40)),
                                  "1/(1+" * 24 + "p" + ")" * 24])
def test_explosive_derivatives_refused_or_compiled_quickly(text):
    start = time.perf_counter()
    try:
        loss = fl.custom(text)
    except ValueError as e:
        assert "too large" in str(e)
    else:
        assert np.isfinite(loss.grad_hess([0.0], [0.5])[1]).all()
    assert time.perf_counter() - start < 3.0
