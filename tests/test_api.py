"""Conventions of SPEC sections 1-2: result types, out=, empty inputs, inputs
never written, the seed's worked examples."""

from __future__ import annotations

import hashlib
import pickle
import warnings

import numpy as np
import pytest

import fastloss as fl
from conftest import ALL_LOSSES, inputs, loss_ids


def test_seed_examples():
    """SPEC section 4, y = 6.3, y_hat = 6.1. Expected values by hand: d = 0.2,
    d^2 = 0.04, |d| = 0.2, Huber 0.5 d^2 = 0.02, Cauchy log(1.04) = 0.0392207
    (mpmath: log(1 + mpf('0.2')**2))."""
    import mpmath

    y, p = [6.3], [6.1]
    assert fl.mse(y, p) == pytest.approx(0.04, rel=1e-12)
    assert fl.mae(y, p) == pytest.approx(0.2, rel=1e-12)
    assert fl.huber(y, p, delta=1.0) == pytest.approx(0.02, rel=1e-12)
    d = mpmath.mpf(6.3) - mpmath.mpf(6.1)
    assert fl.cauchy(y, p, reduction="sum") == pytest.approx(float(mpmath.log1p(d * d)), rel=1e-14)
    assert round(float(fl.cauchy(y, p, reduction="sum")), 7) == 0.0392207


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.bool_])
def test_result_types(loss, dtype, rng):
    y, p = inputs(loss, 10, np.float64, rng)
    y, p = y.astype(dtype), p.astype(dtype)
    rdt = np.dtype(np.float64) if np.dtype(dtype).kind in "biu" else np.dtype(dtype)
    for reduction in ("mean", "sum"):
        v = loss(y, p, reduction=reduction)
        assert isinstance(v, np.generic) and v.dtype == rdt
    assert loss(y, p, reduction="none").dtype == rdt
    g, h = loss.grad_hess(y, p)
    assert g.dtype == rdt and h.dtype == rdt and g.shape == y.shape
    v, g = loss.value_and_grad(y, p, reduction="none")
    assert v.dtype == rdt and g.dtype == rdt


def _class_axis_cases(dtype, rng):
    P = rng.dirichlet(np.ones(5), 64).astype(dtype)
    Q = rng.dirichlet(np.ones(5), 64).astype(dtype)
    return [(fl.categorical_cross_entropy, (P, Q)), (fl.kl_divergence, (P, Q)),
            (fl.sparse_categorical_cross_entropy, (rng.integers(0, 5, 64), Q)),
            (fl.triplet_loss, (P, Q, np.ascontiguousarray(P[::-1])))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduced_results_are_numpy_scalars(dtype, rng):
    """The kernels make the "mean" and "sum" scalars themselves (not through
    np.float32(x)): they must be ordinary NumPy scalars of the result type. With 64
    examples the mean is the float64 sum divided by a power of two, so after
    rounding to the dtype mean * 64 == sum exactly (by hand: scaling by 2**-6
    commutes with rounding); value_and_grad's value is the value's."""
    scalar = np.dtype(dtype).type
    cases = [(loss, inputs(loss, 64, dtype, rng)) for loss in ALL_LOSSES] + _class_axis_cases(dtype, rng)
    for loss, args in cases:
        mean, total = loss(*args), loss(*args, reduction="sum")
        assert mean * scalar(64) == total, loss.name
        assert loss.value_and_grad(*args)[0].tobytes() == mean.tobytes()
        assert loss.value_and_grad(*args, reduction="sum")[0].tobytes() == total.tobytes()
        for v in (mean, total):
            assert type(v) is scalar and v.dtype == dtype and v.shape == () and np.isfinite(v)
            again = pickle.loads(pickle.dumps(v))
            assert type(again) is scalar and again.tobytes() == v.tobytes()
            assert hash(v) == hash(float(v)) and v + v == 2 * float(v)


def test_kernel_scalar_results():
    """_core's elementwise and row-wise kernels return sum / denominator as a
    scalar of their dtype when asked; expected: the float64 sum they return
    otherwise, divided and rounded by NumPy."""
    from fastloss import _core

    rng = np.random.default_rng(5)
    for dt in (np.float32, np.float64):
        y, p = rng.standard_normal(1000).astype(dt), rng.standard_normal(1000).astype(dt)
        total = _core.mse(_core.MODE_SUM, y, p, None, None, None, None, None, 1.0, ())
        assert type(total) is float
        for d in (1.0, 3.0, 1000.0, 1e-30):
            got = _core.mse(_core.MODE_SUM, y, p, None, None, None, None, None, 1.0, (), d)
            assert type(got) is np.dtype(dt).type and got.tobytes() == np.dtype(dt).type(total / d).tobytes()
        P = rng.dirichlet(np.ones(7), 20).astype(dt)
        labels = rng.integers(0, 7, 20)
        args = (None, None, None, None, None, 20, 7, 1, 1.0, 0.0, 1e-7)
        total, denominator = _core.sparse_categorical_cross_entropy(_core.MODE_SUM, labels, P, *args, None, False)
        assert denominator == 20.0
        got = _core.sparse_categorical_cross_entropy(_core.MODE_SUM, labels, P, *args, None, False, 2)
        assert type(got) is np.dtype(dt).type and got.tobytes() == np.dtype(dt).type(total / 20).tobytes()
        got = _core.sparse_categorical_cross_entropy(_core.MODE_SUM, labels, P, *args, None, False, 1)
        assert got.tobytes() == np.dtype(dt).type(total).tobytes()
        big = np.full(4, 1.5e19, dt)  # the float64 sum 9e38 is finite; as np.float32 it overflows, with a warning
        if dt == np.float32:
            with pytest.warns(RuntimeWarning, match="overflow"):
                assert np.isposinf(fl.mse(big, np.zeros(4, dt), reduction="sum"))
        every = np.full(20, 3)  # every label ignored: the mean of nothing is None (the caller warns)
        assert _core.sparse_categorical_cross_entropy(_core.MODE_SUM, every, P, *args, 3, False, 2) is None


def test_mixed_dtypes_follow_numpy():
    f32 = np.ones(3, np.float32)
    assert fl.mse(f32, np.zeros(3, np.float64)).dtype == np.float64
    assert fl.mse(f32, np.zeros(3, np.float16)).dtype == np.float32
    assert fl.mse(f32, 0.5).dtype == np.float32  # Python scalars are weak (NEP 50)
    assert fl.mse(f32, np.zeros(3, np.int64)).dtype == np.float64  # integers count as float64
    assert fl.mse(f32, np.zeros(3, np.float32), sample_weight=np.ones(3)).dtype == np.float32


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_empty(loss):
    e = np.zeros(0)
    assert loss(e, e, reduction="sum") == 0.0
    with pytest.warns(RuntimeWarning):
        assert np.isnan(loss(e, e))
    assert loss(e, e, reduction="none").shape == (0,)
    assert loss.grad(e, e).shape == (0,)
    g, h = loss.grad_hess(np.zeros((0, 3)), np.zeros((0, 3)))
    assert g.shape == (0, 3) and h.shape == (0, 3)


def test_empty_mean_warning_names_the_caller():
    """The RuntimeWarning of a mean of nothing points at the user's line (as
    np.mean's does) on every path: elementwise, row-wise fast and general paths
    (all labels ignored), value_and_grad, GAN, triplet, custom."""
    e, e3, P = np.zeros(0), np.zeros((0, 3)), np.full((3, 4), 0.25)
    calls = [
        lambda: fl.mse(e, e), lambda: fl.mse.value_and_grad(e, e), lambda: fl.custom("(y - p)**2")(e, e),
        lambda: fl.sparse_categorical_cross_entropy(np.ones(3, np.int64), P, ignore_index=1),
        lambda: fl.sparse_categorical_cross_entropy(np.ones(3, np.int32), P, ignore_index=1),
        lambda: fl.sparse_categorical_cross_entropy.value_and_grad(np.ones(3, np.int64), P, ignore_index=1),
        lambda: fl.categorical_cross_entropy(e3, e3), lambda: fl.gan_generator_loss(e),
        lambda: fl.gan_discriminator_loss(e, e), lambda: fl.triplet_loss(e3, e3, e3),
    ]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert caught and all(w.filename == __file__ and issubclass(w.category, RuntimeWarning) for w in caught), \
            [(w.filename, w.lineno) for w in caught]


def _digest(*arrays):
    return [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arrays]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_inputs_unchanged_and_out(loss, rng):
    """Every entry point leaves its inputs as they were; out= receives the result
    (also when it is a non-contiguous view or aliases an input)."""
    y, p = inputs(loss, 5000, np.float64, rng)
    w = rng.uniform(size=5000)
    before = _digest(y, p, w)
    expected_none = loss(y, p, reduction="none", sample_weight=w)
    expected_grad, expected_hess = loss.grad_hess(y, p, sample_weight=w)
    out = np.empty_like(y)
    assert loss(y, p, reduction="none", sample_weight=w, out=out) is out
    np.testing.assert_array_equal(out, expected_none)
    out2 = np.empty_like(y)
    assert loss.grad(y, p, sample_weight=w, out=out2) is out2
    np.testing.assert_array_equal(out2, expected_grad)
    v, g = loss.value_and_grad(y, p, sample_weight=w, out=out2)
    assert g is out2
    gh = (np.empty_like(y), np.empty_like(y))
    g, h = loss.grad_hess(y, p, sample_weight=w, out=gh)
    assert g is gh[0] and h is gh[1]
    np.testing.assert_array_equal(h, expected_hess)
    # a strided out
    big = np.zeros(10000)
    loss.grad(y, p, sample_weight=w, out=big[::2])
    np.testing.assert_array_equal(big[::2], expected_grad)
    assert not big[1::2].any()
    assert _digest(y, p, w) == before
    # out aliasing an input: computed as if out were separate
    p2 = p.copy()
    loss.grad(y, p2, sample_weight=w, out=p2)
    np.testing.assert_array_equal(p2, expected_grad)
    # float16 out
    o16 = np.empty(5000, np.float16)
    loss(y.astype(np.float16), p.astype(np.float16), reduction="none", out=o16)
    np.testing.assert_allclose(o16, loss(y.astype(np.float16), p.astype(np.float16), reduction="none"))


def test_reuse_out_in_a_loop(rng):
    y, p = rng.normal(size=1000), rng.normal(size=1000)
    g = np.empty(1000)
    for _ in range(3):
        v, g2 = fl.huber.value_and_grad(y, p, out=g)
        assert g2 is g
    np.testing.assert_array_equal(g, fl.huber.grad(y, p))


def test_array_likes(tmp_path):
    class Wrapped:
        def __array__(self, dtype=None, copy=None):
            return np.array([6.3])

    assert fl.mse(Wrapped(), [6.1]) == pytest.approx(0.04)
    assert fl.mse(6.3, 6.1) == pytest.approx(0.04)
    mm = np.memmap(tmp_path / "y.bin", dtype=np.float64, mode="w+", shape=(3,))
    mm[:] = [1.0, 2.0, 3.0]
    assert fl.mse(mm, np.zeros(3)) == pytest.approx(14.0 / 3)  # by hand: (1 + 4 + 9) / 3


def test_nan_and_inf_propagate():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(fl.mse([np.nan, 1.0], [0.0, 1.0]))
        assert np.isinf(fl.mse([np.inf], [0.0]))
        assert np.isnan(fl.huber.grad([np.nan], [0.0]))[0]


def test_signature_and_docs():
    import inspect

    sig = inspect.signature(fl.huber)
    assert list(sig.parameters)[:2] == ["y_true", "y_pred"]
    assert sig.parameters["delta"].default == 1.0
    for loss in ALL_LOSSES:
        assert "Formula" in type(loss).__doc__ and "reduction" in loss.__doc__
    assert repr(fl.mse) == "<fastloss.mse>"
