"""Bad input raises the exception SPEC section 2 names, with the offending value
in the message, and writes nothing to out= or to the inputs."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import fastloss as fl
from conftest import ALL_LOSSES, loss_ids

ENTRY_POINTS = ["__call__", "grad", "value_and_grad", "grad_hess"]


def entry(loss, name):
    return loss if name == "__call__" else getattr(loss, name)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_shapes_that_do_not_broadcast(loss, name):
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        entry(loss, name)(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"sample_weight shape \(5,\)"):
        entry(loss, name)(np.zeros(3), np.zeros(3), sample_weight=np.ones(5))


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_unknown_reduction(loss, name):
    with pytest.raises(ValueError, match=r"'mean', 'sum', 'none'.*'avg'"):
        entry(loss, name)(np.zeros(3), np.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="None"):
        entry(loss, name)(np.zeros(3), np.zeros(3), reduction=None)


@pytest.mark.parametrize("loss", [fl.huber, fl.cauchy], ids=["huber", "cauchy"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_parameter_must_be_positive(loss, bad):
    name = loss.params[0].name
    with pytest.raises(ValueError, match=f"{name}.*{bad!r}"):
        loss(np.zeros(3), np.zeros(3), **{name: bad})
    with pytest.raises(ValueError, match=name):
        loss.grad_hess(np.zeros(3), np.zeros(3), **{name: bad})


def test_parameter_type_and_unknown_keyword():
    with pytest.raises(TypeError, match="delta"):
        fl.huber([1.0], [2.0], delta="1")
    with pytest.raises(TypeError, match="deltta"):
        fl.huber([1.0], [2.0], deltta=1.0)
    with pytest.raises(TypeError, match="delta"):
        fl.mse([1.0], [2.0], delta=1.0)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("bad, kind", [
    (np.array([1 + 2j]), "complex"),
    (np.array([1.0], dtype=object), "object"),
    (np.array(["1.0"]), "string"),
    (np.array([b"1"]), "bytes"),
    (np.array([datetime.datetime(2020, 1, 1)], dtype="datetime64[s]"), "datetime"),
    (np.array([1], dtype="timedelta64[s]"), "timedelta"),
])
def test_rejected_dtypes(loss, bad, kind):
    with pytest.raises(TypeError, match=f"y_pred.*{kind}"):
        loss(np.zeros(1), bad)
    with pytest.raises(TypeError, match=f"y_true.*{kind}"):
        loss.grad(bad, np.zeros(1))
    with pytest.raises(TypeError, match=f"sample_weight.*{kind}"):
        loss(np.zeros(1), np.zeros(1), sample_weight=bad)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_bad_weights(loss):
    y = np.zeros(5)
    with pytest.raises(ValueError, match=r"-1\.0.*position 2"):
        loss(y, y, sample_weight=[1.0, 1.0, -1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"nan.*position 0"):
        loss.grad(y, y, sample_weight=[np.nan, 1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"inf.*position 4"):
        loss.grad_hess(y, y, sample_weight=[1, 1, 1, 1, np.inf])
    with pytest.raises(ValueError, match="sums to 0"):
        loss(y, y, sample_weight=np.zeros(5))
    # all-zero weights are fine for a sum
    assert loss(y, y, sample_weight=np.zeros(5), reduction="sum") == 0.0
    # a bad weight far into a large array (a block the threads run) is found too
    w = np.ones(300_001)
    w[299_999] = -2.0
    with pytest.raises(ValueError, match=r"-2\.0.*position 299999"):
        loss(np.zeros(300_001), np.zeros(300_001), sample_weight=w)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_weights_take_the_computing_dtype(loss):
    """float64 weights on float32 data are converted to float32 (as in PyTorch and
    Keras): weights below float32's smallest subnormal become 0, and a mean of them
    is undefined; on float64 data the same weights give the weighted mean. Expected
    values: the data are equal, so every example's loss is the same and the weighted
    mean is that loss (hand calculation), checked against the unweighted mean."""
    y = np.full(4, 0.25)
    w = np.array([1e-50, 1e-60, 0.0, 1e-70])
    with pytest.raises(ValueError, match="sums to 0 in float32"):
        loss(y.astype(np.float32), y.astype(np.float32), sample_weight=w)
    assert loss(y, y, sample_weight=w) == pytest.approx(loss(y, y), rel=1e-15, abs=1e-300)
    with pytest.raises(ValueError, match=r"inf.*position 1 \(in float32"):
        loss(y.astype(np.float32), y.astype(np.float32), sample_weight=[1.0, 1e300, 1.0, 1.0])


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_bad_out(loss):
    y = np.linspace(0, 1, 6).reshape(2, 3)
    p = y[::-1].copy()
    for out, match in [
        (np.empty(6), r"shape \(6,\).*\(2, 3\)"),
        (np.empty((2, 3), np.float32), "dtype float32"),
        ([0.0] * 6, "numpy.ndarray"),
    ]:
        sentinel = out.copy() if isinstance(out, np.ndarray) else None
        with pytest.raises((ValueError, TypeError), match=match):
            loss(y, p, reduction="none", out=out)
        with pytest.raises((ValueError, TypeError), match=match):
            loss.grad(y, p, out=out)
        if sentinel is not None:
            np.testing.assert_array_equal(out, sentinel)  # nothing written
    ro = np.zeros((2, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        loss.grad(y, p, out=ro)
    with pytest.raises(ValueError, match="reduction='none'"):
        loss(y, p, out=np.empty((2, 3)))
    with pytest.raises(TypeError, match="pair"):
        loss.grad_hess(y, p, out=np.empty((2, 3)))
    # out= of a loss whose weights are bad is left untouched
    out = np.full((2, 3), 7.0)
    with pytest.raises(ValueError):
        loss.grad(y, p, sample_weight=-np.ones(3), out=out)
    assert np.all(out == 7.0)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
def test_ragged_input(loss):
    with pytest.raises(ValueError, match="y_pred"):
        loss([1.0, 2.0], [[1.0], [1.0, 2.0]])


def test_private_core_checks_its_arguments():
    """The binding checks what Python should have validated: no read or write
    outside a buffer even when _core is called directly with wrong arguments."""
    from fastloss import _core

    y = np.zeros(10)
    with pytest.raises(ValueError, match="elements"):
        _core.mse(_core.MODE_SUM, y, np.zeros(7), None, None, None, None, None, 1.0, ())
    with pytest.raises(TypeError, match="dtype"):
        _core.mse(_core.MODE_SUM, y, np.zeros(10, np.float32), None, None, None, None, None, 1.0, ())
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.mse(_core.MODE_SUM, y, np.zeros(20)[::2], None, None, None, None, None, 1.0, ())
    # byte-swapped data is no kernel dtype (read as native it would be other numbers)
    swapped = np.array([0.5, 0.25, 2.0], ">f8")
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.first_outside(swapped, True)
    with pytest.raises(TypeError, match="dtype"):
        _core.mse(_core.MODE_SUM, y, np.zeros(10, ">f8"), None, None, None, None, None, 1.0, ())
    assert _core.first_outside(swapped.astype("<f8"), True) == 2
    with pytest.raises(TypeError, match="grad"):
        _core.mse(_core.MODE_GRAD, y, y, None, None, None, None, None, 1.0, ())
    with pytest.raises(ValueError, match="elements"):
        _core.mse(_core.MODE_GRAD, y, y, None, None, None, np.zeros(9), None, 1.0, ())
    # an output that overlaps an input is computed as if it did not (scratch + copy)
    a, b = np.arange(10.0), np.arange(10.0)[::-1].copy()
    expected = -2.0 * (a - b)  # by hand: d(y - p)^2/dp = -2 (y - p)
    _core.mse(_core.MODE_GRAD, a, b, None, None, None, b, None, 1.0, ())
    np.testing.assert_array_equal(b, expected)
    with pytest.raises(ValueError, match="parameters"):
        _core.huber(_core.MODE_SUM, y, y, None, None, None, None, None, 1.0, ())
    with pytest.raises(ValueError, match="mode"):
        _core.mse(99, y, y, None, None, None, None, None, 1.0, ())
    with pytest.raises(ValueError, match="mode"):
        _core.mse(_core.MODE_HESS, y, y, None, None, None, None, np.zeros(10), 1.0, ())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("unit", [True, False], ids=["unit", "non_negative"])
def test_first_outside_finds_the_first_bad_element(dtype, unit):
    """The domain check before out= is written (one pass in the kernel library):
    the first flat position outside [0, 1] (or below 0), as NumPy's comparisons
    find it (the reference), at every size around the SIMD width, the blocks and
    the thread threshold, on 1 and 2 threads; NaN, -0.0, 0 and 1 pass."""
    from fastloss import _canonical

    rng = np.random.default_rng(7)
    threads = fl.get_num_threads()
    try:
        for n in [0, 1, 15, 16, 17, 4095, 4097, 65_537, 300_001]:
            base = rng.uniform(0.0, 1.0, n).astype(dtype)
            if n > 4:
                base[[0, n // 3, n - 1]] = [dtype(0.0), dtype(1.0), dtype(-0.0)]
                base[n // 2] = np.nan
            for bad in (None, [n - 1], [n // 2 + 1, n - 1], [0], [n // 5, n // 7 + 1]):
                a = base.copy()
                if bad is not None and n:
                    bad = sorted({b % n for b in bad})
                    a[bad] = rng.choice([-1e-30, -np.inf, 2.0, np.inf, 1.0000001] if unit else [-1e-30, -np.inf, -3.0],
                                        size=len(bad))
                flat = a.reshape(-1)
                hits = np.flatnonzero(((flat < 0) | (flat > 1)) if unit else flat < 0)
                expected = int(hits[0]) if hits.size else -1
                for t in (1, 2):
                    fl.set_num_threads(t)
                    assert _canonical.first_outside(a, unit) == expected, (n, bad, t)
                # the NumPy fallback for layouts the kernel does not take: strided, byte-swapped
                if n > 1:
                    view = a[::2]
                    vhits = np.flatnonzero(((view < 0) | (view > 1)) if unit else view < 0)
                    assert _canonical.first_outside(view, unit) == (int(vhits[0]) if vhits.size else -1)
                    assert _canonical.first_outside(a.astype(a.dtype.newbyteorder(">")), unit) == expected
    finally:
        fl.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_late_domain_error_writes_nothing_to_out(dtype):
    """A value outside the domain at the very end of a large, threaded input:
    the error names it and out= keeps every byte."""
    n = 300_001
    p = np.full(n, 0.25, dtype)
    p[-1] = 1.5
    y = np.ones(n, dtype)
    out = np.full(n, 7.0, dtype)
    for call in (lambda: fl.binary_cross_entropy.value_and_grad(y, p, out=out),
                 lambda: fl.focal_loss.grad(y, p, out=out),
                 lambda: fl.binary_cross_entropy(y, p, reduction="none", out=out)):
        with pytest.raises(ValueError, match=rf"y_pred.*1\.5 at flat position {n - 1}\b"):
            call()
        assert np.all(out == 7.0)
    pair = (np.full(n, 7.0, dtype), np.full(n, 7.0, dtype))
    with pytest.raises(ValueError, match=rf"1\.5 at flat position {n - 1}\b"):
        fl.gan_discriminator_loss.value_and_grad(np.full(n, 0.5, dtype), p, out=pair)
    assert np.all(pair[0] == 7.0) and np.all(pair[1] == 7.0)
    rows, classes = 30_001, 10
    q = np.full((rows, classes), 0.1, dtype)
    q[-1, -1] = -0.25
    t = np.full((rows, classes), 0.1, dtype)
    g = np.full((rows, classes), 7.0, dtype)
    for loss in (fl.categorical_cross_entropy, fl.kl_divergence):
        with pytest.raises(ValueError, match=rf"y_pred.*-0\.25 at flat position {rows * classes - 1}\b"):
            loss.value_and_grad(t, q, out=g)
        assert np.all(g == 7.0)
    with pytest.raises(ValueError, match=rf"y_true.*-0\.25 at flat position {rows * classes - 1}\b"):
        fl.kl_divergence.grad(q, np.full_like(q, 0.1), out=g)
    assert np.all(g == 7.0)
