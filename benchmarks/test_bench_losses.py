"""Each loss against its NumPy reference, value and value_and_grad, n = 1e2..1e7,
float32 and float64 (pytest-benchmark; group = loss/entry/dtype/n).

    pytest benchmarks --benchmark-group-by=group --benchmark-columns=median,ops

Each benchmark asserts that fastloss and the reference agree."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from fastloss import _core

from conftest import sample

SIZES = [10**2, 10**3, 10**4, 10**5, 10**6, 10**7]
DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
# (loss, classes): losses with a class (or embedding) axis at C = 10 and C = 1000
CASES = [(loss, c) for loss in sorted(fl.LOSSES.values(), key=lambda l: l.name)
         for c in ((10, 1000) if loss.domain in ("categorical", "sparse", "triplet") else (1,))]
CASE_IDS = [loss.name if c == 1 else f"{loss.name}-C{c}" for loss, c in CASES]


def _group(loss, classes, entry, dtype, n):
    suffix = "" if classes == 1 else f" C={classes}"
    return f"{loss.name} {entry} {np.dtype(dtype).name} n={n:.0e}{suffix}"


def _reference_value_and_grad(loss, *args):
    """The NumPy way to get both: the reference value plus the analytic gradient
    of the mean written in NumPy (central differences would not be fair)."""
    f64 = [np.asarray(a, np.float64) for a in args]
    return loss.reference(*args), NUMPY_GRADS[loss.name](*f64)


def _bce_grad(y, p, eps=1e-7):
    q = np.clip(p, eps, 1 - eps)
    return np.where((p < eps) | (p > 1 - eps), 0.0, (q - y) / (q * (1 - q))) / y.size


def _cce_grad(y, p, eps=1e-7):
    q = np.clip(p, eps, 1.0)
    return np.where((p < eps) | (p > 1), 0.0, -y / q) / p.shape[0]


def _sparse_grad(labels, p, eps=1e-7):
    g = np.zeros_like(p)
    rows = np.arange(p.shape[0])
    q = np.clip(p[rows, labels], eps, 1.0)
    g[rows, labels] = -1.0 / q / p.shape[0]
    return g


def _triplet_grad(a, p, n, margin=1.0, eps=1e-6):
    vp, vn = a - p + eps, a - n + eps
    dp, dn = np.linalg.norm(vp, axis=-1, keepdims=True), np.linalg.norm(vn, axis=-1, keepdims=True)
    active = (dp - dn + margin > 0) / a.shape[0]
    gp, gn = vp / dp * active, vn / dn * active
    return gp - gn, -gp, gn


def _focal_grad(y, p, alpha=0.25, gamma=2.0, eps=1e-7):
    q = np.clip(p, eps, 1 - eps)
    m = (1 - q) * y + q * (1 - y)
    bce = -(y * np.log(q) + (1 - y) * np.log1p(-q))
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    g = alpha_t * (gamma * m ** (gamma - 1) * (1 - 2 * y) * bce + m**gamma * (q - y) / (q * (1 - q)))
    return np.where((p < eps) | (p > 1 - eps), 0.0, g) / y.size


NUMPY_GRADS = {
    "mse": lambda y, p: -2 * (y - p) / y.size,
    "mae": lambda y, p: np.sign(p - y) / y.size,
    "huber": lambda y, p: -np.clip(y - p, -1.0, 1.0) / y.size,
    "cauchy": lambda y, p: -2 * (y - p) / (1 + (y - p) ** 2) / y.size,
    "binary_cross_entropy": _bce_grad,
    "focal_loss": _focal_grad,
    "gan_discriminator_loss": lambda r, f: (0.5 * _bce_grad(np.ones_like(r), r), 0.5 * _bce_grad(np.zeros_like(f), f)),
    "gan_generator_loss": lambda f: _bce_grad(np.ones_like(f), f),
    "categorical_cross_entropy": _cce_grad,
    "sparse_categorical_cross_entropy": lambda labels, p: _sparse_grad(labels.astype(np.int64), p),
    "kl_divergence": _cce_grad,  # -P/Q: the same expression as cross-entropy's
    "triplet_loss": _triplet_grad,
    "triplet_margin": lambda d_pos, d_neg: ((d_pos - d_neg + 1.0 > 0) / d_pos.size,
                                           -1.0 * (d_pos - d_neg + 1.0 > 0) / d_pos.size),
}


def _assert_grads_close(got, expected, rtol, n):
    if isinstance(expected, tuple):
        for g, e in zip(got, expected):
            _assert_grads_close(g, e, rtol, n)
        return
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol / n)


def _id(v):
    return np.dtype(v).name if isinstance(v, type) else f"{v:.0e}".replace("+0", "") if isinstance(v, int) else str(v)


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastloss", "numpy"])
@pytest.mark.parametrize("loss, classes", CASES, ids=CASE_IDS)
def test_value(benchmark, loss, classes, impl, dtype, n):
    args = sample(loss, n, dtype, classes)
    benchmark.group = _group(loss, classes, "value", dtype, n)
    fn = loss if impl == "fastloss" else loss.reference
    result = benchmark(fn, *args)
    expected = loss.reference(*args) if impl == "fastloss" else loss(*args)
    np.testing.assert_allclose(float(result), float(expected), rtol=RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastloss", "fastloss_out", "numpy"])
@pytest.mark.parametrize("loss, classes", CASES, ids=CASE_IDS)
def test_value_and_grad(benchmark, loss, classes, impl, dtype, n):
    args = sample(loss, n, dtype, classes)
    benchmark.group = _group(loss, classes, "value_and_grad", dtype, n)
    if impl == "numpy":
        value, grad = benchmark(_reference_value_and_grad, loss, *args)
    elif impl == "fastloss_out":
        if loss.name == "triplet_margin":
            pytest.skip("triplet_margin's gradients take no out=")
        if loss.domain == "triplet" or (loss.domain == "gan" and len(args) == 2):
            out = tuple(np.empty_like(a) for a in args)
        else:
            out = np.empty_like(args[-1])
        value, grad = benchmark(lambda: loss.value_and_grad(*args, out=out))
    else:
        value, grad = benchmark(loss.value_and_grad, *args)
    ref_value, ref_grad = _reference_value_and_grad(loss, *args)
    np.testing.assert_allclose(float(value), ref_value, rtol=RTOL[np.dtype(dtype)])
    _assert_grads_close(grad, ref_grad, RTOL[np.dtype(dtype)], n)


@pytest.mark.parametrize("n", [10**6, 10**7], ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("loss", [l for l, c in CASES if l.domain in ("real", "binary", "gan", "distances")],
                         ids=lambda l: l.name)
def test_bandwidth_probe(benchmark, loss, dtype, n):
    """Reads two inputs of n elements and sums y + p: the memory-bandwidth bound, in the value group."""
    y, p = (sample(loss, n, dtype) * 2)[:2]
    benchmark.group = _group(loss, 1, "value", dtype, n)
    result = benchmark(_core.bandwidth_probe, y, p)
    np.testing.assert_allclose(result, np.sum(y, dtype=np.float64) + np.sum(p, dtype=np.float64), rtol=1e-6)
