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
LOSSES = sorted(fl.LOSSES.values(), key=lambda l: l.name)
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def _reference_value_and_grad(loss, y, p):
    """The NumPy way to get both: the reference value plus a NumPy gradient
    (central differences would not be fair; the analytic NumPy expression is)."""
    return loss.reference(y, p), NUMPY_GRADS[loss.name](np.asarray(y, np.float64), np.asarray(p, np.float64))


NUMPY_GRADS = {
    "mse": lambda y, p: -2 * (y - p) / y.size,
    "mae": lambda y, p: np.sign(p - y) / y.size,
    "huber": lambda y, p: -np.clip(y - p, -1.0, 1.0) / y.size,
    "cauchy": lambda y, p: -2 * (y - p) / (1 + (y - p) ** 2) / y.size,
}


def _id(v):
    return np.dtype(v).name if isinstance(v, type) else f"{v:.0e}".replace("+0", "") if isinstance(v, int) else str(v)


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastloss", "numpy"])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_value(benchmark, loss, impl, dtype, n):
    y, p = sample(loss, n, dtype)
    benchmark.group = f"{loss.name} value {np.dtype(dtype).name} n={n:.0e}"
    fn = loss if impl == "fastloss" else loss.reference
    result = benchmark(fn, y, p)
    expected = loss.reference(y, p) if impl == "fastloss" else loss(y, p)
    np.testing.assert_allclose(float(result), float(expected), rtol=RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastloss", "fastloss_out", "numpy"])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_value_and_grad(benchmark, loss, impl, dtype, n):
    y, p = sample(loss, n, dtype)
    benchmark.group = f"{loss.name} value_and_grad {np.dtype(dtype).name} n={n:.0e}"
    if impl == "numpy":
        value, grad = benchmark(_reference_value_and_grad, loss, y, p)
    elif impl == "fastloss_out":
        out = np.empty_like(p)
        value, grad = benchmark(lambda: loss.value_and_grad(y, p, out=out))
    else:
        value, grad = benchmark(loss.value_and_grad, y, p)
    ref_value, ref_grad = _reference_value_and_grad(loss, y, p)
    np.testing.assert_allclose(float(value), ref_value, rtol=RTOL[np.dtype(dtype)])
    np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[np.dtype(dtype)], atol=RTOL[np.dtype(dtype)] / n)


@pytest.mark.parametrize("n", [10**6, 10**7], ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
def test_bandwidth_probe(benchmark, loss, dtype, n):
    """Reads both inputs and sums y + p: the memory-bandwidth bound, in the value group."""
    y, p = sample(loss, n, dtype)
    benchmark.group = f"{loss.name} value {np.dtype(dtype).name} n={n:.0e}"
    result = benchmark(_core.bandwidth_probe, y, p)
    np.testing.assert_allclose(result, np.sum(y, dtype=np.float64) + np.sum(p, dtype=np.float64), rtol=1e-6)
