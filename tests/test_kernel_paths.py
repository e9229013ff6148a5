"""Kernel paths that only large or particular inputs reach: non-temporal stores
of large outputs, and the interleaved triplet norms of short embeddings."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

# Outputs of at least 16 MiB are streamed (kStreamBytes in elementwise.hpp).
STREAMED = (16 << 20) // 8 + 1001  # float64 elements: over the threshold, with a ragged tail


@pytest.fixture(scope="module")
def large():
    rng = np.random.default_rng(11)
    y = rng.normal(size=STREAMED)
    return y, y + rng.normal(size=STREAMED)


def test_streamed_outputs_match_numpy(large):
    y, p = large
    n = y.size
    out = np.full_like(p, np.nan)
    value, grad = fl.mse.value_and_grad(y, p, out=out)
    assert grad is out
    # hand-derived: d mean((y - p)^2) / dp = -2 (y - p) / n
    np.testing.assert_allclose(grad, -2 * (y - p) / n, rtol=1e-12, atol=0)
    assert value == pytest.approx(np.mean((y - p) ** 2), rel=1e-12)
    per_element = fl.mse(y, p, reduction="none")
    np.testing.assert_array_equal(per_element, (y - p) ** 2)  # d*d is exact in both
    g, h = fl.huber.grad_hess(y, p)
    np.testing.assert_allclose(g, -np.clip(y - p, -1, 1) / n, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(h, (np.abs(y - p) <= 1) / n)


def test_streamed_and_cached_stores_give_the_same_bits(large):
    y, p = large
    aligned = fl.cauchy.grad(y, p, reduction="sum")  # "sum": no 1/n, so prefixes compare
    # out= at an 8-byte offset from a 16-byte boundary cannot be streamed: plain stores
    buf = np.empty(y.size + 1)
    shifted = buf[1:] if buf.ctypes.data % 16 == 0 else buf[:-1]
    assert shifted.ctypes.data % 16 == 8
    fl.cauchy.grad(y, p, out=shifted, reduction="sum")
    assert shifted.tobytes() == aligned.tobytes()
    small = fl.cauchy.grad(y[:100_000], p[:100_000], reduction="sum")  # below the threshold
    assert small.tobytes() == aligned[:100_000].tobytes()


@pytest.mark.parametrize("dim", [1, 3, 7, 15])
@pytest.mark.parametrize("prm", [{}, {"swap": True}, {"p": 1.0}, {"squared": True, "swap": True}])
def test_short_embeddings_many_blocks(dim, prm):
    """Short embeddings are summed four examples at a time; blocks of 4096 // dim
    examples leave ragged groups of four. Expected: the NumPy reference."""
    rng = np.random.default_rng(dim)
    examples = 3 * (4096 // dim) + 5
    a, pos, neg = (rng.normal(size=(examples, dim)) for _ in range(3))
    for reduction in ("none", "sum"):
        got = fl.triplet_loss(a, pos, neg, reduction=reduction, **prm)
        ref = fl.triplet_loss.reference(a, pos, neg, reduction=reduction, **prm)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    per_example = fl.triplet_loss(a, pos, neg, reduction="none", **prm)
    for i in (0, 1, 2, 3, 4, examples - 1):
        alone = fl.triplet_loss(a[i:i + 1], pos[i:i + 1], neg[i:i + 1], reduction="none", **prm)
        assert alone.tobytes() == per_example[i:i + 1].tobytes()  # same bits alone as in a group of four


def test_repeated_hyper_parameters_are_still_checked():
    """Configurations are cached per (name, type, value): 1 is not True, 1.0 is not
    a valid flag, and a cached call gives the reference's value."""
    y = np.array([1.0, 0.0, 1.0])
    z = np.array([2.0, -1.0, 0.5])
    for _ in range(2):
        got = fl.binary_cross_entropy(y, z, from_logits=True)
        # expected: the NumPy reference
        assert got == pytest.approx(fl.binary_cross_entropy.reference(y, z, from_logits=True), rel=1e-14)
        with pytest.raises(TypeError, match="from_logits"):
            fl.binary_cross_entropy(y, z, from_logits=1)
        with pytest.raises(ValueError, match="label_smoothing"):
            fl.binary_cross_entropy(y, np.array([0.5, 0.5, 0.5]), label_smoothing=2.0)
    weights = np.array([1.0, 2.0])  # arrays are not cached: a changed array changes the result
    p = np.array([[0.7, 0.3], [0.4, 0.6]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    first = fl.categorical_cross_entropy(t, p, class_weight=weights)
    weights[1] = 5.0
    second = fl.categorical_cross_entropy(t, p, class_weight=weights)
    assert second == pytest.approx(fl.categorical_cross_entropy.reference(t, p, class_weight=weights), rel=1e-14)
    assert first != second


def _threaded_inputs(seed, n=1_000_003):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + rng.normal(size=n)


def test_concurrent_calls_from_python_threads():
    """The kernels release the GIL and share one pool of worker threads: calls
    from several Python threads at once give the same bits as one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    data = [_threaded_inputs(s) for s in range(4)]
    alone = [(fl.cauchy(y, p), fl.cauchy.grad(y, p).tobytes()) for y, p in data]
    with ThreadPoolExecutor(4) as ex:
        for _ in range(3):
            together = list(ex.map(lambda d: (fl.cauchy(*d), fl.cauchy.grad(*d).tobytes()), data))
            assert together == alone


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_threaded_call_in_a_forked_child():
    """A child of fork() has none of the parent's worker threads: its calls must
    neither hang nor differ."""
    import multiprocessing as mp

    y, p = _threaded_inputs(7)
    expected = fl.cauchy(y, p)  # the parent's pool is running now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as child:
        got = child.apply_async(_cauchy_of, (y, p)).get(timeout=60)
    assert got == expected


def _cauchy_of(y, p):
    return fl.cauchy(y, p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cauchy_power_of_two_scales_give_the_general_kernels_bits(dtype):
    """Scales that are powers of two in [2**-126, 2**126] (the default 1) run
    _core.cauchy_pow2, where r = (y - p) / c is exact; its values must be the
    general kernel's (which the accuracy tests hold to mpmath) bit for bit, in every
    entry point, including where r**2 overflows to inf, for NaN and inf, and for
    scales far from 1. Except float32's value where the ISA has an fma: there the
    power-of-two kernel forms r**2 in float arithmetic (two-sum and fma) and the
    general one in float64, each rounded to float once or nearly so, and the two
    values, log1p of r**2 values at most an ulp or so apart, are within 2 ulp of each
    other and mostly equal (the baseline kernels, without fma, take float64 for both)."""
    from fastloss import _core

    rng = np.random.default_rng(3)
    y = rng.normal(size=5003) * rng.choice([1e-3, 1.0, 1e3], size=5003)
    p = y + rng.normal(size=5003) * rng.choice([1e-6, 1.0, 1e2], size=5003)
    big = 1e30 if dtype == np.float32 else 1e200
    y[:4], p[:4] = [np.nan, np.inf, big, -big], [0.0, 1.0, -big, big]
    y, p = y.astype(dtype), p.astype(dtype)
    n = y.size
    for scale in (1.0, 0.5, 4.0, 2.0**-60, 2.0**70, 2.0**-126, 2.0**126):
        assert fl.cauchy._params({"scale": scale}).fn is _core.cauchy_pow2
        for mode in (_core.MODE_VALUE, _core.MODE_GRAD | _core.MODE_HESS):
            outs = [[np.empty(n, dtype) if mode & m else None for m in (_core.MODE_VALUE, _core.MODE_GRAD,
                                                                        _core.MODE_HESS)] for _ in range(2)]
            for kernel, (value, grad, hess) in zip((_core.cauchy, _core.cauchy_pow2), outs):
                kernel(mode, y, p, None, None, value, grad, hess, 1.0, (scale,))
            for i, (a, b) in enumerate(zip(*outs)):
                if a is None:
                    continue
                if dtype == np.float32 and i == 0 and _core.isa() != "baseline":
                    assert np.array_equal(np.isnan(a), np.isnan(b)), scale
                    np.testing.assert_array_max_ulp(a[~np.isnan(a)], b[~np.isnan(b)], maxulp=2)
                    assert np.mean(a == b) > 0.9, scale  # most r**2 round alike
                else:
                    assert a.tobytes() == b.tobytes(), scale
        with np.errstate(over="ignore", invalid="ignore"):
            sums = [k(_core.MODE_SUM, y[4:], p[4:], None, None, None, None, None, 1.0, (scale,))
                    for k in (_core.cauchy, _core.cauchy_pow2)]
        if dtype == np.float32 and _core.isa() != "baseline":
            assert sums[0] == pytest.approx(sums[1], rel=2 * float(np.finfo(dtype).eps))
        else:
            assert sums[0] == sums[1]
    # not a power of two; or 1 / scale not a normal float (and float32's kernel takes
    # 1 / c as a float), or not finite (2**-1024), where r = d * (1 / c) would be inf
    for scale in (3.0, 2.0**-1024, 2.0**-1022, 2.0**-127, 2.0**127):
        assert fl.cauchy._params({"scale": scale}).fn is _core.cauchy
    # by hand: r = 2**-1060 / 2**-1024 = 2**-36, log1p(2**-72) rounds to 2**-72
    assert fl.cauchy(np.array([0.0]), np.array([2.0**-1060]), scale=2.0**-1024) == 2.0**-72


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_elements_results_do_not_depend_on_its_position(dtype):
    """Every element goes through the same SIMD code, also in the last, partial
    chunk of 16: an element's value, gradient and Hessian are the same bits at the
    end of a short array (the padded tail) as inside a long one. (The tail once
    took the scalar libm functions: libmvec's float32 log is up to 4 ulp off near
    0.88, glibc's scalar one is not, so values differed by position.) Expected: the
    kernel's own results for the same element in a full chunk."""
    from conftest import ALL_LOSSES, inputs

    rng = np.random.default_rng(8)
    for loss in ALL_LOSSES:
        y, p = inputs(loss, 512, dtype, rng)
        full = loss(y, p, reduction="none"), *loss.grad_hess(y, p, reduction="none")
        for k in (1, 5, 15, 17, 31, 200):
            part = loss(y[-k:], p[-k:], reduction="none"), *loss.grad_hess(y[-k:], p[-k:], reduction="none")
            for a, b in zip(full, part):
                assert a[-k:].tobytes() == b.tobytes(), (loss.name, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_elements_value_in_a_sum_does_not_depend_on_its_position(dtype):
    """As above for the reduced value (the kernels' sum mode, which the mean and
    the sum take): the "sum" of one element, which is all tail, is its value from
    reduction="none" in a full chunk, bit for bit; and so are the sums of two
    elements' (float64 holds their sum exactly, as it does in the kernel). (GCC
    left the sum mode's tail scalar for the float32 losses of probabilities: BCE,
    focal, the GAN losses took glibc's scalar logf there, whose last bits differ
    from libmvec's.) Expected: reduction="none" of the same elements in a chunk of 16
    or more, added in float64 (NumPy)."""
    from conftest import ALL_LOSSES, inputs

    rng = np.random.default_rng(9)
    cases = [(loss, {}) for loss in ALL_LOSSES] + [(fl.binary_cross_entropy, {"label_smoothing": 0.1}),
                                                   (fl.focal_loss, {"gamma": 1.5})]
    for loss, kw in cases:
        y, p = inputs(loss, 64, dtype, rng)
        each = loss(y, p, reduction="none", **kw)
        for i in range(0, 64, 2):
            one = loss(y[i:i + 1], p[i:i + 1], reduction="sum", **kw)
            assert one.tobytes() == each[i:i + 1].tobytes(), (loss.name, kw, i, one, each[i])
            two = loss(y[i:i + 2], p[i:i + 2], reduction="sum", **kw)
            want = dtype(float(each[i]) + float(each[i + 1]))
            assert two.tobytes() == want.tobytes(), (loss.name, kw, i, two, want)
    gen = fl.gan_generator_loss
    _, p = inputs(fl.binary_cross_entropy, 64, dtype, rng)
    each = gen(p, reduction="none")
    for i in range(64):
        assert gen(p[i:i + 1], reduction="sum").tobytes() == each[i:i + 1].tobytes(), ("gan_generator_loss", i)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [3, 10, 17])
def test_an_examples_results_do_not_depend_on_its_position(dtype, classes):
    """The row-wise losses, as above: an example's value (reduction="none"),
    gradient and Hessian are the same bits in the last, partial chunk of 16 rows
    as in a full one. (Rows of fewer classes than SIMD lanes, as lanes: the full
    chunks of the per-example values took scalar exps and other last bits.)"""
    rng = np.random.default_rng(classes)
    n = 64
    P, Q = (rng.dirichlet(np.ones(classes), n).astype(dtype) for _ in range(2))
    Z = (rng.normal(size=(n, classes)) * 3).astype(dtype)
    labels = rng.integers(0, classes, n)
    cases = [(fl.categorical_cross_entropy, (P, Q), {}), (fl.categorical_cross_entropy, (P, Z), {"from_logits": True}),
             (fl.sparse_categorical_cross_entropy, (labels, Q), {}),
             (fl.sparse_categorical_cross_entropy, (labels, Z), {"from_logits": True}),
             (fl.kl_divergence, (P, Q), {}), (fl.kl_divergence, (P, Z), {"from_logits": True}),
             (fl.triplet_loss, (P, Q, Z), {})]
    for loss, args, kw in cases:
        def results(k):
            part = [a[-k:] for a in args]
            return [loss(*part, reduction="none", **kw)] + [x for r in loss.grad_hess(*part, reduction="none", **kw)
                                                            for x in (r if isinstance(r, tuple) else (r,))]
        full = results(n)
        for k in range(1, 34):
            for a, b in zip(full, results(k)):
                assert a[-k:].tobytes() == b.tobytes(), (loss.name, kw, k)


ELEMENTWISE_CALLS = [(fl.mse, {}), (fl.mae, {}), (fl.huber, {"delta": 0.7}), (fl.cauchy, {}),
                     (fl.cauchy, {"scale": 3.0}),
                     (fl.binary_cross_entropy, {}), (fl.binary_cross_entropy, {"from_logits": True}),
                     (fl.binary_cross_entropy, {"label_smoothing": 0.1}), (fl.focal_loss, {}),
                     (fl.focal_loss, {"gamma": 1.5, "from_logits": True})]


@pytest.mark.parametrize("loss, prm", ELEMENTWISE_CALLS, ids=lambda x: getattr(x, "name", str(x)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.asmatrix
def test_common_call_entry_point(loss, prm, dtype, rng):
    """The mean and sum of the common elementwise call come from the binding's
    _reduced entry point: the same bits as the general path (reached here with a
    Fortran-ordered y_pred, which it copies), and None from it for every other call."""
    from fastloss import _core
    from fastloss._elementwise import _REDUCED
    y = rng.uniform(size=(17, 9)).astype(dtype)
    p = rng.uniform(0.01, 0.99, size=(17, 9)).astype(dtype)
    config = loss._params(prm) if prm else loss._defaults
    reduced = _REDUCED[config.fn]
    assert reduced is getattr(_core, config.fn.__name__ + "_reduced")
    for reduction, code in (("mean", 2), ("sum", 1)):
        got = loss(y, p, reduction=reduction, **prm)
        general = loss(y, np.asfortranarray(p), reduction=reduction, **prm)
        direct = reduced(y, p, code, config.params)
        assert type(got) is type(general) is type(direct) is np.dtype(dtype).type
        assert got.tobytes() == general.tobytes() == direct.tobytes()
    for yy, pp in [(y, np.asfortranarray(p)), (np.asfortranarray(y), p), (y, p.astype(np.float16)),
                   (y.astype(np.float16), p.astype(np.float16)), (y, p.astype(np.float32 if dtype == np.float64 else
                                                                      np.float64)),
                   (np.asmatrix(y), p), (y, np.asmatrix(p)), (y[:, :0], p[:, :0]), (y[:1], p), (y, p.reshape(9, 17)),
                   (y.reshape(-1), p), (list(y), p), (y[0, 0], p)]:
        assert reduced(yy, pp, 2, config.params) is None
    if config.unit_interval:  # outside the domain: None from the entry point, the general path's message
        name = "y_pred" if "y_pred" in config.unit_interval else "y_true"
        bad_y, bad_p = y.copy(), p.copy()
        (bad_p if name == "y_pred" else bad_y)[3, 4] = 1.5
        assert reduced(bad_y, bad_p, 2, config.params) is None
        with pytest.raises(ValueError, match=name + r".*1\.5 at flat position 31"):
            loss(bad_y, bad_p, **prm)
    with pytest.raises(ValueError, match="reduce"):
        reduced(y, p, 0, config.params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_triplet_margin_value_takes_the_common_call_entry_point(dtype, rng):
    """triplet_margin's value goes through the elementwise fast path (d_neg as y, d_pos
    as p): the same bits as the general path (a Fortran-ordered d_pos, copied there)
    and as its kernel's _reduced entry point called directly."""
    from fastloss import _core
    d_pos = rng.uniform(0, 2, size=(13, 5)).astype(dtype)
    d_neg = rng.uniform(0, 2, size=(13, 5)).astype(dtype)
    for reduction, code in (("mean", 2), ("sum", 1)):
        got = fl.triplet_margin(d_pos, d_neg, margin=0.5, reduction=reduction)
        general = fl.triplet_margin(np.asfortranarray(d_pos), d_neg, margin=0.5, reduction=reduction)
        direct = _core.triplet_margin_reduced(d_neg, d_pos, code, (0.5,))
        assert type(got) is np.dtype(dtype).type
        assert got.tobytes() == general.tobytes() == direct.tobytes()
        # NumPy reference: the hinge's mean or sum in float64, rounded once to dtype
        hinge = np.maximum(d_pos.astype(np.float64) - d_neg + 0.5, 0)
        assert got == pytest.approx(hinge.mean() if reduction == "mean" else hinge.sum(), rel=1e-6)
