"""Every registered loss against its NumPy reference (fastloss.reference):
dtypes x reductions x sample_weight x sizes around the vector width x layouts."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import (ALL_LOSSES, DTYPES, REDUCTIONS, SIZES, assert_matches_reference, configs, inputs, loss_ids,
                      weights)


def _layouts(y, p):
    """(name, y, p) variants of the same values in different memory layouts."""
    n = y.size
    yield "C", y, p
    yield "list", y.tolist(), p.tolist()
    # strided: every other element of a twice-as-long buffer
    ys = np.empty(2 * n, y.dtype)
    ys[::2] = y
    ps = np.empty(2 * n, p.dtype)
    ps[::2] = p
    yield "strided", ys[::2], ps[::2]
    yield "negative", y[::-1].copy()[::-1], p[::-1].copy()[::-1]
    ro_y, ro_p = y.copy(), p.copy()
    ro_y.flags.writeable = False
    ro_p.flags.writeable = False
    yield "readonly", ro_y, ro_p


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_parity_sizes_layouts(loss, dtype, rng):
    rdt = np.float64 if np.dtype(dtype).kind in "iu" else dtype
    for n in SIZES:
        y, p = inputs(loss, n, dtype, rng)
        w = weights(n, rng)
        y_before, p_before, w_before = y.copy(), p.copy(), w.copy()
        for layout, yl, pl in _layouts(y, p):
            for reduction in REDUCTIONS:
                for sw in (None, w):
                    got = loss(yl, pl, reduction=reduction, sample_weight=sw)
                    ref = loss.reference(y, p, reduction=reduction, sample_weight=sw)
                    try:
                        if reduction == "mean" and n == 0:
                            assert np.isnan(got)
                            continue
                        # Python lists of numbers are float64, whatever they were made from.
                        assert_matches_reference(got, ref, np.float64 if layout == "list" else rdt)
                    except AssertionError as e:
                        raise AssertionError(f"n={n} layout={layout} reduction={reduction} "
                                             f"weighted={sw is not None}: {e}") from None
            for a, b in ((yl, y_before), (pl, p_before), (w, w_before)):
                np.testing.assert_array_equal(np.asarray(a), b)  # inputs never written


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_parity_shapes(loss, dtype, rng):
    """2-D C and Fortran order, broadcasting (scalar, row, column), 0-d inputs."""
    y, p = inputs(loss, 0, dtype, rng, shape=(37, 29))
    cases = {
        "2d": (y, p),
        "fortran": (np.asfortranarray(y), np.asfortranarray(p)),
        "transposed": (y.T, p.T),
        "scalar_true": (y[3, 4], p),
        "scalar_pred": (y, p[0, 0]),
        "python_scalar": (float(y[1, 1]), p),
        "row": (y[:1, :], p),
        "column": (y, p[:, :1]),
        "outer": (y[:, :1], p[:1, :]),
        "0d": (np.asarray(y[0, 0]), np.asarray(p[0, 0])),
    }
    for name, (a, b) in cases.items():
        for reduction in REDUCTIONS:
            for sw in (None, weights(np.broadcast_shapes(np.shape(a), np.shape(b)), rng)):
                got = loss(a, b, reduction=reduction, sample_weight=sw)
                ref = loss.reference(a, b, reduction=reduction, sample_weight=sw)
                if reduction == "none":
                    assert got.shape == np.shape(ref), name
                assert_matches_reference(got, ref, dtype)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_sum_equals_sum_of_none(loss, rng):
    y, p = inputs(loss, 10007, np.float64, rng)
    none = loss(y, p, reduction="none")
    np.testing.assert_allclose(loss(y, p, reduction="sum"), np.sum(none, dtype=np.float64), rtol=1e-13)
    np.testing.assert_allclose(loss(y, p), np.mean(none, dtype=np.float64), rtol=1e-13)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_parity_configs(loss, dtype, rng):
    """Every hyper-parameter setting of conftest.CONFIGS, every reduction, weighted or not."""
    for prm in configs(loss):
        for n in (1, 17, 1025, 70001):
            y, p = inputs(loss, n, dtype, rng, **prm)
            w = weights(n, rng)
            for reduction in REDUCTIONS:
                for sw in (None, w):
                    got = loss(y, p, reduction=reduction, sample_weight=sw, **prm)
                    ref = loss.reference(y, p, reduction=reduction, sample_weight=sw, **prm)
                    assert_matches_reference(got, ref, dtype)
