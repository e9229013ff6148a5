"""Shared helpers: inputs for each loss's domain, layouts, tolerances."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

SIZES = [0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1023, 1025, 100003]
DTYPES = [np.float16, np.float32, np.float64, np.int64]
REDUCTIONS = ["mean", "sum", "none"]

# Relative tolerances against the float64 reference, per computing dtype: float64
# kernels differ from the reference by a few ulp at most (libmvec's log1p is
# documented within 4 ulp); float32 kernels by the float32 rounding of the residual
# and of the result; float16 results by float16's rounding (2**-11).
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5, np.dtype(np.float16): 2e-3}


@pytest.fixture(autouse=True)
def _default_threads():
    """Every test starts from the default thread count, whichever tests ran before
    it in its process (pytest-xdist deals the tests out to processes differently
    from run to run)."""
    fl.set_num_threads(0)
    yield


def inputs(loss, n, dtype, rng, shape=None, **params):
    """y_true, y_pred for ``loss``'s domain (and its from_logits), of ``dtype``."""
    shape = (n,) if shape is None else shape
    integer = np.dtype(dtype).kind in "iu"
    if loss.domain == "real":
        if integer:
            return rng.integers(-5, 6, size=shape).astype(dtype), rng.integers(-5, 6, size=shape).astype(dtype)
        y = rng.normal(size=shape) * 2
        p = y + rng.normal(size=shape) * rng.choice([0.1, 1.0, 5.0], size=shape)
        return y.astype(dtype), p.astype(dtype)
    if loss.domain == "binary":
        if integer:
            return rng.integers(0, 2, size=shape).astype(dtype), rng.integers(0, 2, size=shape).astype(dtype)
        # mostly hard labels, some soft ones
        y = np.where(rng.uniform(size=shape) < 0.8, rng.integers(0, 2, size=shape), rng.uniform(size=shape))
        if params.get("from_logits"):
            p = rng.normal(size=shape) * 4
        else:
            p = rng.uniform(0.002, 0.998, size=shape)
        return y.astype(dtype), p.astype(dtype)
    raise NotImplementedError(loss.domain)


def weights(shape, rng):
    return rng.uniform(0.0, 3.0, size=shape)


def result_dtype(*arrays):
    kinds = [np.float64 if np.asarray(a).dtype.kind in "biu" else np.asarray(a).dtype for a in arrays]
    return np.result_type(*kinds)


def assert_matches_reference(actual, expected, dtype, atol=None):
    """``expected`` is the float64 reference; it is rounded to the result dtype
    first (so overflow to inf in float16 sums is expected, as NumPy gives)."""
    dtype = np.dtype(dtype)
    assert np.asarray(actual).dtype == dtype
    exp = np.asarray(expected).astype(dtype)
    rtol = RTOL[dtype]
    if atol is None:
        atol = 0.0 if dtype == np.float64 else rtol * 1e-3
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), exp.astype(np.float64), rtol=rtol, atol=atol)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# Losses of (y_true, y_pred) computed elementwise; the GAN and row-wise losses
# have their own tests.
ALL_LOSSES = sorted((l for l in fl.LOSSES.values() if l.domain in ("real", "binary")), key=lambda l: l.name)
loss_ids = [l.name for l in ALL_LOSSES]

# Hyper-parameter settings each loss is tested with, besides its defaults.
CONFIGS = {
    "huber": [{"delta": 0.3}, {"delta": 2.5}],
    "cauchy": [{"scale": 0.5}, {"scale": 3.0}],
    "binary_cross_entropy": [{"from_logits": True}, {"label_smoothing": 0.2}, {"pos_weight": 3.0},
                             {"from_logits": True, "pos_weight": 0.5, "label_smoothing": 0.1},
                             {"eps": 1e-3}],
    "focal_loss": [{"from_logits": True}, {"alpha": None, "gamma": 0.5}, {"gamma": 0.0},
                   {"from_logits": True, "alpha": 0.9, "gamma": 3.0}, {"gamma": 1.5, "eps": 1e-3}],
}


def configs(loss):
    return [{}] + CONFIGS.get(loss.name, [])


def mem_available() -> int:
    """Bytes of memory available (MemAvailable in /proc/meminfo; 0 where unknown),
    for the tests that skip themselves when memory is short."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
