"""Gradients and Hessians against central finite differences of the NumPy
reference, in float64, for every loss, reduction and weighting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import ALL_LOSSES, REDUCTIONS, configs, inputs, loss_ids

# Points where a loss has a kink are moved away from it, so that finite
# differences are meaningful (mae at d = 0, huber at |d| = delta).
KINKS = {"mae": lambda d, prm: np.abs(d), "huber": lambda d, prm: np.abs(np.abs(d) - prm.get("delta", 1.0))}


def _points(loss, prm, rng, n=64):
    y, p = inputs(loss, n, np.float64, rng, **prm)
    kink = KINKS.get(loss.name)
    if kink is not None:
        p = np.where(kink(y - p, prm) < 1e-3, p + 0.01, p)
    if loss.domain == "binary" and not prm.get("from_logits"):
        p = np.clip(p, 0.02, 0.98)  # inside every clip range tested, away from its edges
    return y, p


def _steps(loss, p, prm):
    """Finite-difference steps: relative to |p|, and for probabilities to the
    distance from 0 and 1, where the derivatives blow up."""
    size = np.maximum(1.0, np.abs(p))
    if loss.domain == "binary" and not prm.get("from_logits"):
        size = np.minimum(p, 1 - p)
    return 1e-6 * size, 1e-4 * size


def _fd_elementwise(loss, y, p, prm):
    """Central differences of the per-element reference: (first, second) derivative."""
    h1, h2 = _steps(loss, p, prm)
    f = lambda q: loss.reference(y, q, reduction="none", **prm)
    g = (f(p + h1) - f(p - h1)) / (2 * h1)
    h = (f(p + h2) - 2 * f(p) + f(p - h2)) / (h2 * h2)
    return g, h


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_grad_hess_finite_differences(loss, rng):
    for prm in configs(loss):
        y, p = _points(loss, prm, rng)
        w = rng.uniform(0.1, 2.0, size=y.shape)
        g_fd, h_fd = _fd_elementwise(loss, y, p, prm)
        for reduction in REDUCTIONS:
            for sw in (None, w):
                # SPEC section 1: the derivative of the mean divides by n (or sum(w)).
                weight = np.ones_like(y) if sw is None else sw
                factor = weight / weight.sum() if reduction == "mean" else weight
                g, h = loss.grad_hess(y, p, reduction=reduction, sample_weight=sw, **prm)
                scale = np.abs(factor).max()
                np.testing.assert_allclose(g, g_fd * factor, rtol=1e-6, atol=1e-8 * scale, err_msg=str(prm))
                np.testing.assert_allclose(h, h_fd * factor, rtol=1e-4, atol=1e-5 * scale, err_msg=str(prm))
                np.testing.assert_allclose(loss.grad(y, p, reduction=reduction, sample_weight=sw, **prm), g,
                                           rtol=0, atol=0)
                v, g2 = loss.value_and_grad(y, p, reduction=reduction, sample_weight=sw, **prm)
                np.testing.assert_array_equal(g2, g)
                np.testing.assert_array_equal(v, loss(y, p, reduction=reduction, sample_weight=sw, **prm))


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_grad_of_reduced_reference(loss, rng):
    """The gradient of the mean, checked against finite differences of the
    *reduced* reference itself (not of the per-element formula)."""
    y, p = _points(loss, {}, rng, n=12)
    w = rng.uniform(0.1, 2.0, size=y.shape)
    g = loss.grad(y, p, sample_weight=w)
    steps, _ = _steps(loss, p, {})
    for i in range(y.size):
        e = np.zeros_like(p)
        e[i] = steps[i]
        fd = (loss.reference(y, p + e, sample_weight=w) - loss.reference(y, p - e, sample_weight=w)) / (2 * e[i])
        assert g[i] == pytest.approx(fd, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_grad_broadcast_pred_sums(loss, rng):
    """A broadcast y_pred (one prediction for many targets) gets the gradient of
    the reduced loss with respect to itself: the sum over the broadcast axes."""
    y, p_full = inputs(loss, 0, np.float64, rng, shape=(50, 3))
    p = p_full[:1]
    g, h = loss.grad_hess(y, p, reduction="sum")
    assert g.shape == (1, 3) and h.shape == (1, 3)
    g_full, h_full = loss.grad_hess(y, np.broadcast_to(p, y.shape).copy(), reduction="sum")
    np.testing.assert_allclose(g, g_full.sum(axis=0, keepdims=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h_full.sum(axis=0, keepdims=True), rtol=1e-12, atol=1e-12)
    g_none = loss.grad(y, p, reduction="none")
    assert g_none.shape == (50, 3)


def test_known_derivatives_by_hand():
    """Hand-calculated derivatives at d = y - p = 0.2 (y = 6.3, p = 6.1)."""
    import fastloss as fl

    y, p = np.array([6.3]), np.array([6.1])
    d = 6.3 - 6.1
    assert fl.mse.grad_hess(y, p) == pytest.approx((-2 * d, 2.0))
    assert fl.mae.grad_hess(y, p) == pytest.approx((-1.0, 0.0))
    assert fl.huber.grad_hess(y, p) == pytest.approx((-d, 1.0))
    assert fl.huber.grad_hess(y, p, delta=0.1) == pytest.approx((-0.1, 0.0))
    assert fl.cauchy.grad_hess(y, p) == pytest.approx((-2 * d / (1 + d * d), 2 * (1 - d * d) / (1 + d * d) ** 2))
    # MAE at d = 0: gradient 0 (SPEC); NaN propagates.
    assert fl.mae.grad([1.0, np.nan], [1.0, 2.0], reduction="none")[0] == 0.0
    assert np.isnan(fl.mae.grad([1.0, np.nan], [1.0, 2.0], reduction="none")[1])


def test_cauchy_float32_block_with_an_overflowing_square():
    """A float32 block in which r^2 overflows float32 is computed again with the
    scaled r^2: that element gets its finite value (mpmath), every other element
    the bits it has without it, and the sum the same bits on 1 and 2 threads."""
    import mpmath

    import fastloss as fl

    rng = np.random.default_rng(7)
    y = rng.normal(size=300_000).astype(np.float32)
    p = (y + rng.normal(size=y.size)).astype(np.float32)
    # elements with r^2 between 2^101 and float32's maximum (no overflow) in the block too
    for k, r in zip(range(154_000, 154_300, 60), (1e16, 3e16, 1e17, 7e17, 1.5e19)):
        y[k], p[k] = r, 0.0
    clean = fl.cauchy(y, p, reduction="none")
    y2, p2 = y.copy(), p.copy()
    at = 154_321
    y2[at], p2[at] = 3e38, -3e38
    v = fl.cauchy(y2, p2, reduction="none")
    others = np.arange(y.size) != at
    assert v[others].tobytes() == clean[others].tobytes()
    exact = float(mpmath.log1p((mpmath.mpf(float(y2[at])) - mpmath.mpf(float(p2[at]))) ** 2))
    assert float(v[at]) == pytest.approx(exact, rel=4 * float(np.finfo(np.float32).eps))  # 4 ulp bound
    try:
        sums = []
        for threads in (1, 2):
            fl.set_num_threads(threads)
            sums.append(fl.cauchy(y2, p2, reduction="sum"))
    finally:
        fl.set_num_threads(0)
    assert sums[0].tobytes() == sums[1].tobytes()
    assert float(sums[0]) == pytest.approx(math.fsum(v.astype(np.float64)), rel=1e-6)
    # a weight of 0 there: 0, not inf * 0 = NaN (the finite value times 0)
    w = np.ones(y.size)
    w[at] = 0.0
    got = float(fl.cauchy(y2, p2, sample_weight=w, reduction="sum"))
    assert got == pytest.approx(math.fsum(v[others].astype(np.float64)), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cauchy_extreme_residuals(dtype):
    """Residuals whose square overflows: derivatives their limit 0; the value inf where
    r^2 overflows float64, and finite for float32 data wherever r^2 is a float64."""
    import fastloss as fl

    big = np.finfo(dtype).max / 4
    g, h = fl.cauchy.grad_hess(np.array([big, -big, 0], dtype), np.zeros(3, dtype), reduction="none")
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    assert np.all(np.abs(g[:2]) < 1e-30) and np.all(np.abs(h[:2]) < 1e-30)
    import mpmath

    if dtype == np.float64:
        # the value is inf where r^2 overflows float64, as NumPy's (documented)
        assert np.isinf(fl.cauchy(np.array([big], dtype), np.zeros(1, dtype)))
    else:
        # float32: r^2 is formed in float64 and scaled by its exponent before the float32
        # log1p, so the value is finite wherever r is (mpmath reference), also for a
        # scale that takes r past float32's range, and up to r^2 near float64's maximum
        # y - p overflowing float32 with r**2 small (a large power-of-two scale, where
        # the kernel's float two-sum gives NaN and the block is refined) or not
        for y, p, scale in [(big, 0.0, 1.0), (0.0, 2.0**64, 1.0), (0.0, 3e38, 1.0), (1.0, 0.0, 1e-30),
                            (-1e38, 1e38, 1e-115), (1e-3, 0.0, 1e-150), (0.0, 2.0**60, 0.5),
                            (3e38, -3e38, 2.0**120), (-3e38, 1e38, 2.0**126), (3e38, -3e38, 1.0),
                            (3e38, -3e38, 3.0**80)]:
            r = (mpmath.mpf(float(dtype(y))) - mpmath.mpf(float(dtype(p)))) / mpmath.mpf(scale)
            exact = float(mpmath.log1p(r**2))
            got = float(fl.cauchy(np.array([y], dtype), np.array([p], dtype), scale=scale))
            assert got == pytest.approx(exact, rel=4 * float(np.finfo(dtype).eps)), (y, p, scale)  # 4 ulp bound
            v = fl.cauchy(np.array([y, 0.5], dtype), np.array([p, 0.0], dtype), scale=scale, reduction="none")
            assert float(v[0]) == got and v.dtype == dtype
        # r^2 past float64's maximum (|r| > 1.3e154): inf, as the float64 reference's
        assert np.isinf(fl.cauchy(np.array([1e38], dtype), np.zeros(1, dtype), scale=1e-200))
    # finite just below r^2's overflow
    below = np.sqrt(np.finfo(dtype).max) / 2

    exact = float(mpmath.log1p(mpmath.mpf(float(dtype(below))) ** 2))  # mpmath reference
    assert float(fl.cauchy(np.array([below], dtype), np.zeros(1, dtype))) == pytest.approx(exact, rel=1e-6)
