"""Hostile input, as property tests (hypothesis.extra.numpy): shapes, strides,
dtypes, broadcasting, NaN/inf, empty and 0-d arrays, labels out of range,
rejected dtypes, shapes that do not broadcast, wrong out=, 32 dimensions.
Each gives the documented result (equal to the NumPy reference, fastloss.reference)
or the documented exception, and leaves the inputs unchanged (bytes hashed
before and after)."""

from __future__ import annotations

import datetime
import hashlib

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastloss as fl  # noqa: E402
from conftest import ALL_LOSSES, CONFIGS, RTOL  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
FLOATS = [np.float16, np.float32, np.float64]
INTS = [np.int8, np.int32, np.int64, np.uint8, np.bool_]


def digest(*arrays) -> list[str]:
    """Hash of each array's bytes, shape, strides and flags (views: their base too)."""
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            h = hashlib.sha256(np.ascontiguousarray(a).tobytes())
            h.update(repr((a.shape, a.strides, a.dtype.str, a.flags.writeable)).encode())
            if a.base is not None and isinstance(a.base, np.ndarray):
                h.update(a.base.tobytes())
            out.append(h.hexdigest())
        else:
            out.append(repr(a))
    return out


def compare(actual, expected, dtype):
    """``actual`` equals the float64 reference rounded to ``dtype``, with NaN where it has NaN."""
    dtype = np.dtype(dtype)
    a = np.asarray(actual)
    assert a.dtype == dtype
    e = np.asarray(expected, np.float64).astype(dtype).astype(np.float64)
    a = a.astype(np.float64)
    assert a.shape == e.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    fin = np.isfinite(e)
    np.testing.assert_array_equal(a[~fin & ~np.isnan(e)], e[~fin & ~np.isnan(e)])
    # float16 results: float32 computing, rounded once (one float16 ulp) plus the reference's own rounding
    rtol = RTOL[dtype] * (2 if dtype == np.float16 else 1)
    np.testing.assert_allclose(a[fin], e[fin], rtol=rtol, atol=rtol * 1e-3 * (1 + np.abs(e[fin]).max(initial=0)))


@st.composite
def strided(draw, dtype, shape, elements):
    """An array of ``shape``: C order, Fortran order, a step / negative-stride view of
    a larger array, a transpose, or a broadcast (read-only, zero strides) view."""
    kind = draw(st.sampled_from(["c", "f", "step", "neg", "transpose", "readonly"]))
    if kind in ("c", "f", "readonly"):
        a = draw(hnp.arrays(dtype, shape, elements=elements))
        if kind == "f":
            a = np.asfortranarray(a)
        if kind == "readonly":
            a.flags.writeable = False
        return a
    if kind == "transpose":
        return draw(hnp.arrays(dtype, shape[::-1], elements=elements)).T
    step = draw(st.sampled_from([2, 3]))
    big = draw(hnp.arrays(dtype, tuple(s * step for s in shape), elements=elements))
    sl = tuple(slice(None, None, -step if kind == "neg" else step) for _ in shape)
    v = big[sl]
    assert v.shape == tuple(shape)
    return v


def _elements(loss, prm, dtype, which):
    """Values in the loss's domain, with NaN and inf where the domain allows them."""
    if np.dtype(dtype).kind in "biu":
        if np.dtype(dtype) == np.bool_:
            return st.booleans()
        lo = 0 if np.dtype(dtype).kind == "u" else -5
        return st.integers(0, 1) if loss.domain == "binary" else st.integers(lo, 5)
    width = np.finfo(dtype).bits
    if loss.domain == "binary" and (which == "y" or not prm.get("from_logits")):
        return st.one_of(st.floats(0, 1, width=width), st.just(float("nan")))
    return st.floats(width=width, allow_nan=True, allow_infinity=True)


@st.composite
def elementwise_case(draw):
    loss = draw(st.sampled_from(ALL_LOSSES))
    prm = draw(st.sampled_from([{}] + CONFIGS.get(loss.name, [])))
    dty = draw(st.sampled_from(FLOATS + INTS))
    dtp = draw(st.sampled_from(FLOATS + INTS))
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, min_side=0, max_side=5))
    y = draw(strided(dty, shapes.input_shapes[0], _elements(loss, prm, dty, "y")))
    p = draw(strided(dtp, shapes.input_shapes[1], _elements(loss, prm, dtp, "p")))
    w = None
    if draw(st.booleans()):
        w = draw(strided(np.float64, shapes.input_shapes[2], st.floats(0, 10)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return loss, prm, y, p, w, reduction


def _expected_dtype(y, p):
    kinds = [np.float64 if a.dtype.kind in "biu" else a.dtype for a in (y, p)]
    return np.result_type(*kinds)


@SETTINGS
@given(elementwise_case())
def test_elementwise_properties(case):
    """Any strides, dtypes, broadcasting, NaN/inf, empty or 0-d: the reference's
    result, in NumPy's dtype; gradients of a view equal those of a contiguous copy,
    bit for bit; inputs untouched."""
    loss, prm, y, p, w, reduction = case
    before = digest(y, p, w)
    rdt = _expected_dtype(y, p)
    shape = np.broadcast_shapes(y.shape, p.shape, *(() if w is None else (w.shape,)))
    size = int(np.prod(shape))
    # The weights take the computing dtype (float32 for float16 and float32 data, as in
    # PyTorch and Keras; see prepare_elementwise): a float64 weight of 4.9e-77 is 0
    # there. The expectation uses the weights as the loss sees them.
    wc = None if w is None else w.astype(np.float64 if rdt == np.float64 else np.float32)
    with np.errstate(all="ignore"):
        if reduction == "mean" and w is not None and size and not (np.broadcast_to(wc, shape).sum() > 0):
            with pytest.raises(ValueError, match="sums to 0"):
                loss(y, p, sample_weight=w, reduction=reduction, **prm)
            assert digest(y, p, w) == before
            return
        if reduction == "mean" and size == 0:
            with pytest.warns(RuntimeWarning):
                v = loss(y, p, sample_weight=w, reduction=reduction, **prm)
            assert np.isnan(v)
        else:
            v = loss(y, p, sample_weight=w, reduction=reduction, **prm)
            ref = loss.reference(y, p, sample_weight=wc, reduction=reduction, **prm)
            if reduction == "none":
                assert np.shape(v) == shape
            if rdt == np.float16 and reduction != "none":
                ref = np.float64(ref)  # the float64 sum, rounded once
            compare(v, ref, rdt)
        g, h = loss.grad_hess(y, p, sample_weight=w, reduction="sum", **prm)
        assert g.shape == p.shape and h.shape == p.shape and g.dtype == rdt
        cy, cp = np.array(y, order="C"), np.array(p, order="C")  # (ascontiguousarray makes 0-d 1-d)
        cw = None if w is None else np.array(w, order="C")
        g2, h2 = loss.grad_hess(cy, cp, sample_weight=cw, reduction="sum", **prm)
        assert g.tobytes() == g2.tobytes() and h.tobytes() == h2.tobytes()
    assert digest(y, p, w) == before


BAD_DTYPES = [
    np.array([1 + 2j]), np.array([1.0], dtype=object), np.array(["1.0"]), np.array([b"1"]),
    np.array([datetime.datetime(2020, 1, 1)], dtype="datetime64[s]"), np.array([1], dtype="timedelta64[s]"),
    np.zeros(1, dtype=[("a", "f8")]), np.array([1 + 2j], dtype=np.complex64),
]
ALL_PUBLIC = sorted(fl.LOSSES.values(), key=lambda l: l.name)


def _good_args(loss, n=3):
    """Valid positional inputs for any loss (its domain), shape (n, 4) or (n,)."""
    d = loss.domain
    if d in ("real", "binary", "distances"):
        return [np.full(n, 0.5), np.full(n, 0.5)]
    if d == "gan" and loss.name == "gan_discriminator_loss":
        return [np.full(n, 0.5), np.full(n, 0.5)]
    if d == "gan":
        return [np.full(n, 0.5)]
    if d == "categorical":
        return [np.full((n, 4), 0.25), np.full((n, 4), 0.25)]
    if d == "sparse":
        return [np.zeros(n, np.int64), np.full((n, 4), 0.25)]
    if d == "triplet":
        return [np.zeros((n, 4)), np.ones((n, 4)), np.full((n, 4), 2.0)]
    raise NotImplementedError(d)


ENTRIES = ["__call__", "grad", "value_and_grad", "grad_hess"]


def _entry(loss, name):
    return loss if name == "__call__" else getattr(loss, name)


@SETTINGS
@given(st.sampled_from(ALL_PUBLIC), st.sampled_from(ENTRIES), st.sampled_from(range(len(BAD_DTYPES))),
       st.data())
def test_rejected_dtypes_every_loss_and_position(loss, entry, bad_index, data):
    """Complex, object, string, bytes, datetime, timedelta, structured: TypeError
    naming the argument, at every input position of every loss and entry point."""
    args = _good_args(loss, 1)
    pos = data.draw(st.integers(0, len(args) - 1))
    bad = BAD_DTYPES[bad_index]
    if loss.domain == "sparse" and pos == 0 and bad.dtype.kind in "Mm":
        bad = bad  # labels: still rejected
    if args[pos].ndim == 2:
        bad = np.broadcast_to(bad, (1, 4)) if bad.dtype.kind != "V" else np.zeros((1, 4), dtype=bad.dtype)
    args[pos] = bad
    before = digest(*args)
    with pytest.raises(TypeError):
        _entry(loss, entry)(*args)
    assert digest(*args) == before


@SETTINGS
@given(st.sampled_from(ALL_LOSSES), st.sampled_from(ENTRIES),
       hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6),
       hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
def test_shapes_that_do_not_broadcast(loss, entry, s1, s2):
    try:
        np.broadcast_shapes(s1, s2)
        assume(False)
    except ValueError:
        pass
    y, p = np.full(s1, 0.5), np.full(s2, 0.5)
    before = digest(y, p)
    with pytest.raises(ValueError, match="broadcast"):
        _entry(loss, entry)(y, p)
    assert digest(y, p) == before


@SETTINGS
@given(st.sampled_from(ALL_LOSSES), st.sampled_from(["none", "grad"]),
       hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), st.data())
def test_wrong_out_writes_nothing(loss, entry, shape, data):
    y, p = np.full(shape, 0.25), np.full(shape, 0.75)
    kind = data.draw(st.sampled_from(["shape", "dtype", "readonly", "noncontig"]))
    if kind == "shape":
        bad_shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        assume(bad_shape != shape)
        out = np.full(bad_shape, 7.0)
    elif kind == "dtype":
        out = np.full(shape, 7, dtype=data.draw(st.sampled_from([np.float32, np.float16, np.int64, np.complex128])))
    elif kind == "readonly":
        out = np.full(shape, 7.0)
        out.flags.writeable = False
    else:
        # a non-contiguous out= of the right shape and dtype is fine: it receives the result
        out = np.full(tuple(shape) + (2,), 7.0)[..., 0]
        expected = loss(y, p, reduction="none") if entry == "none" else loss.grad(y, p)
        got = loss(y, p, reduction="none", out=out) if entry == "none" else loss.grad(y, p, out=out)
        assert got is out
        np.testing.assert_array_equal(out, expected)
        return
    sentinel = out.copy()
    with pytest.raises(ValueError):
        if entry == "none":
            loss(y, p, reduction="none", out=out)
        else:
            loss.grad(y, p, out=out)
    np.testing.assert_array_equal(out, sentinel)


@SETTINGS
@given(st.sampled_from([fl.sparse_categorical_cross_entropy]), st.booleans(),
       hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), st.integers(1, 6), st.data())
def test_labels_out_of_range(loss, from_logits, batch, C, data):
    """A label outside [0, C) (and not ignore_index): IndexError naming the label
    and its position, before anything is computed (out= untouched)."""
    labels = data.draw(hnp.arrays(np.int64, batch, elements=st.integers(0, C - 1)))
    pos = data.draw(st.integers(0, labels.size - 1))
    bad = data.draw(st.one_of(st.integers(C, 2**62), st.integers(-2**62, -1)))
    labels.reshape(-1)[pos] = bad
    dtype = data.draw(st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint64, np.float64]))
    if np.dtype(dtype).kind in "iu" and not (np.iinfo(dtype).min <= bad <= np.iinfo(dtype).max):
        labels = labels.astype(np.int64)
    elif np.dtype(dtype).kind == "f" and abs(bad) > 2**52:
        labels = labels.astype(np.int64)
    else:
        labels = labels.astype(dtype)
    p = np.full(batch + (C,), 1.0 / C)
    before = digest(labels, p)
    out = np.full(batch, 7.0)
    with pytest.raises(IndexError, match=str(int(labels.reshape(-1)[pos]))):
        loss(labels, p, from_logits=from_logits, reduction="none", out=out)
    with pytest.raises(IndexError):
        loss.grad_hess(labels, p, from_logits=from_logits)
    assert np.all(out == 7.0)
    assert digest(labels, p) == before
    # the same label as ignore_index is skipped, not an error
    v = loss(labels, p, ignore_index=int(labels.reshape(-1)[pos]), reduction="none", from_logits=from_logits)
    assert v.reshape(-1)[pos] == 0.0


@SETTINGS
@given(st.sampled_from(["categorical_cross_entropy", "sparse_categorical_cross_entropy", "kl_divergence"]),
       st.booleans(), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5), st.data())
def test_rowwise_any_axis_and_strides(name, from_logits, shape, data):
    """Row-wise losses on any axis, any strides, with NaN/inf logits: the reference's
    values, and a view's gradient equal to a contiguous copy's, bit for bit."""
    loss = fl.LOSSES[name]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    C = shape[axis]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    width = np.finfo(dtype).bits
    if from_logits:
        # (+inf logits: the kernels give the limit, e.g. inf for the other classes'
        # -log p; the NumPy reference gives NaN (inf - inf), so they are not compared)
        pel = st.one_of(st.floats(-50, 50, width=width), st.sampled_from([np.nan, -np.inf]))
    else:
        pel = st.one_of(st.floats(0, 1, width=width), st.just(np.nan))
    p = data.draw(strided(dtype, shape, pel))
    if name == "sparse_categorical_cross_entropy":
        assume(C > 0)
        lshape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
        y = data.draw(hnp.arrays(np.int64, lshape, elements=st.integers(0, C - 1)))
    else:
        y = data.draw(strided(dtype, shape, st.floats(0, 1, width=width)))
    before = digest(y, p)
    with np.errstate(all="ignore"):
        v = loss(y, p, axis=axis, from_logits=from_logits, reduction="none")
        ref = loss.reference(y, p, axis=axis, from_logits=from_logits, reduction="none")
        if from_logits and name != "sparse_categorical_cross_entropy":
            # A row whose targets are all 0 next to a NaN logit: the kernel gives NaN
            # (0 * log-sum-exp = 0 * NaN), the reference 0 (no term has a target).
            # Both are defensible; such rows are left out.
            dead = (np.moveaxis(np.asarray(y), axis, -1) == 0).all(-1) & \
                np.isnan(np.moveaxis(np.asarray(p), axis, -1)).any(-1)
            v, ref = np.where(dead, 0.0, v), np.where(dead, 0.0, ref)
        np.testing.assert_array_equal(np.isnan(v), np.isnan(ref))
        fin = np.isfinite(ref)
        np.testing.assert_array_equal(np.asarray(v)[~fin], np.asarray(ref)[~fin])
        if dtype == np.float64:
            np.testing.assert_allclose(v[fin], ref[fin], rtol=1e-12, atol=1e-300)
        else:  # float32 kernels against the float64 reference of the same float32 inputs
            np.testing.assert_allclose(v[fin], ref[fin], rtol=1e-5, atol=1e-6 * (1 + np.abs(ref[fin]).max(initial=0)))
        g, h = loss.grad_hess(y, p, axis=axis, from_logits=from_logits)
        g2, h2 = loss.grad_hess(np.array(y, order="C"), np.array(p, order="C"), axis=axis, from_logits=from_logits)
        assert g.tobytes() == g2.tobytes() and h.tobytes() == h2.tobytes()
    assert digest(y, p) == before


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=[l.name for l in ALL_LOSSES])
def test_32_dimensions(loss, rng):
    """32-dimensional arrays (and broadcasting between them): the reference's values."""
    shape = (1,) * 28 + (2, 1, 3, 2)
    y = rng.uniform(0, 1, shape)
    p = rng.uniform(0.1, 0.9, (1,) * 29 + (4, 1, 2))
    before = digest(y, p)
    v = loss(y, p, reduction="none")
    assert v.shape == (1,) * 28 + (2, 4, 3, 2)
    compare(v, loss.reference(y, p, reduction="none"), np.float64)
    g, h = loss.grad_hess(y, p)
    assert g.shape == p.shape and h.shape == p.shape
    compare(loss(y, p), loss.reference(y, p), np.float64)
    assert digest(y, p) == before


def test_32_dimensions_rowwise(rng):
    shape = (1,) * 29 + (3, 4, 5)
    p = rng.dirichlet(np.ones(5), size=shape[:-1])
    y = rng.dirichlet(np.ones(5), size=shape[:-1])
    for loss in (fl.categorical_cross_entropy, fl.kl_divergence):
        for axis in (-1, 30):
            pa, ya = np.moveaxis(p, -1, axis), np.moveaxis(y, -1, axis)
            compare(loss(ya, pa, axis=axis, reduction="none"), loss.reference(ya, pa, axis=axis, reduction="none"),
                    np.float64)
    labels = rng.integers(0, 5, shape[:-1])
    compare(fl.sparse_categorical_cross_entropy(labels, p, reduction="none"),
            fl.sparse_categorical_cross_entropy.reference(labels, p, reduction="none"), np.float64)


@pytest.mark.parametrize("loss", ALL_PUBLIC, ids=[l.name for l in ALL_PUBLIC])
def test_empty_and_zero_d_every_loss(loss):
    """Empty inputs: sum 0, mean NaN with a RuntimeWarning, none empty; 0-d where the
    loss has no class/embedding axis: a 0-d result equal to the reference."""
    args = [np.asarray(a)[:0] for a in _good_args(loss, 1)]
    assert loss(*args, reduction="sum") == 0.0
    with pytest.warns(RuntimeWarning):
        assert np.isnan(loss(*args))
    assert np.asarray(loss(*args, reduction="none")).size == 0
    if loss.domain in ("real", "binary", "distances"):
        v = loss(np.float64(0.25), np.float64(0.5), reduction="none")
        assert np.shape(v) == ()
        compare(v, loss.reference(0.25, 0.5, reduction="none"), np.float64)
