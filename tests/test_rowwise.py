"""Categorical, sparse categorical cross-entropy and KL divergence: parity with
the NumPy references over class axes, layouts, options, dtypes and reductions;
derivatives against finite differences; identities; extreme logits; labels."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import fastloss as fl
from conftest import REDUCTIONS, assert_matches_reference

CCE, SPARSE, KL = fl.categorical_cross_entropy, fl.sparse_categorical_cross_entropy, fl.kl_divergence

# (shape, axis): (N, C) rows, segmentation maps with the class axis 1, one 1-D
# example, and class counts around the vector width.
LAYOUTS = [((37, 10), -1), ((5, 1000), -1), ((3, 7, 5, 6), 1), ((7,), 0), ((4, 3, 33), 1), ((2, 17, 16), -2),
           ((9, 1), -1), ((6, 16), 1)]

OPTIONS = {
    "categorical_cross_entropy": [{}, {"from_logits": True}, {"label_smoothing": 0.15},
                                  {"from_logits": True, "label_smoothing": 0.3, "class_weight": "random"},
                                  {"class_weight": "random"}, {"eps": 1e-3}],
    "sparse_categorical_cross_entropy": [{}, {"from_logits": True}, {"from_logits": True, "ignore_index": 1},
                                         {"label_smoothing": 0.2, "class_weight": "random"},
                                         {"from_logits": True, "class_weight": "random", "ignore_index": 0,
                                          "label_smoothing": 0.1},
                                         {"ignore_index": -100}],
    "kl_divergence": [{}, {"from_logits": True}, {"eps": 1e-4}],
}


def make(loss, shape, axis, dtype, rng, prm):
    """(y_true, y_pred, options with concrete arrays) for a row-wise loss."""
    classes = shape[axis]
    prm = dict(prm)
    if prm.get("class_weight") == "random":
        prm["class_weight"] = rng.uniform(0.2, 3.0, size=classes)
    z = rng.normal(size=shape) * 3
    if prm.get("from_logits"):
        pred = z
    else:
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        pred = e / e.sum(axis=axis, keepdims=True)
        pred = np.where(rng.uniform(size=shape) < 0.05, 0.0, pred)  # some exact zeros (clipped to eps)
    example_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
    labels = rng.integers(0, classes, size=example_shape)
    if loss is SPARSE:
        if prm.get("ignore_index") is not None:
            labels = np.where(rng.uniform(size=example_shape) < 0.2, prm["ignore_index"], labels)
        return labels, pred.astype(dtype), prm
    if loss is KL:
        t = rng.uniform(size=shape) * (rng.uniform(size=shape) < 0.8)  # some P_c = 0
        t = t / np.maximum(t.sum(axis=axis, keepdims=True), 1e-12)
        return t.astype(dtype), pred.astype(dtype), prm
    soft = rng.uniform(size=shape)
    soft = soft / soft.sum(axis=axis, keepdims=True)
    one_hot = np.moveaxis(np.eye(classes)[labels], -1, axis % len(shape))
    return np.where(rng.uniform() < 0.5, one_hot, soft).astype(dtype), pred.astype(dtype), prm


@pytest.mark.parametrize("loss", [CCE, SPARSE, KL], ids=lambda l: l.name)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_parity(loss, dtype, rng):
    for shape, axis in LAYOUTS:
        for options in OPTIONS[loss.name]:
            y, p, prm = make(loss, shape, axis, dtype, rng, options)
            example_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
            w = rng.uniform(0.1, 2.0, size=example_shape)
            for reduction in REDUCTIONS:
                for sw in (None, w):
                    got = loss(y, p, axis=axis, reduction=reduction, sample_weight=sw, **prm)
                    ref = loss.reference(y, p, axis=axis, reduction=reduction, sample_weight=sw, **prm)
                    if reduction == "none":
                        assert got.shape == example_shape
                    try:
                        # The reference's log(sum(exp)) loses ~1e-16 absolute where the
                        # loss is small; the kernel keeps those digits (log1p).
                        assert_matches_reference(got, ref, dtype, atol=1e-14 if dtype == np.float64 else None)
                    except AssertionError as e:
                        raise AssertionError(f"{shape} axis={axis} {options} {reduction} w={sw is not None}: {e}")


def _fd(loss, y, p, prm, axis, reduction, sw, h):
    """Central differences of the reduced reference with respect to every entry of p."""
    g = np.zeros_like(p)
    hs = np.zeros_like(p)
    f0 = loss.reference(y, p, axis=axis, reduction=reduction, sample_weight=sw, **prm)
    for idx in np.ndindex(p.shape):
        e = np.zeros_like(p)
        e[idx] = h[idx]
        fp = loss.reference(y, p + e, axis=axis, reduction=reduction, sample_weight=sw, **prm)
        fm = loss.reference(y, p - e, axis=axis, reduction=reduction, sample_weight=sw, **prm)
        g[idx] = (fp - fm) / (2 * h[idx])
        e[idx] = 100 * h[idx]
        fp = loss.reference(y, p + e, axis=axis, reduction=reduction, sample_weight=sw, **prm)
        fm = loss.reference(y, p - e, axis=axis, reduction=reduction, sample_weight=sw, **prm)
        hs[idx] = (fp - 2 * f0 + fm) / (100 * h[idx]) ** 2
    return g, hs


@pytest.mark.parametrize("loss", [CCE, SPARSE, KL], ids=lambda l: l.name)
@pytest.mark.parametrize("shape, axis", [((3, 4), -1), ((2, 3, 2, 2), 1)])
def test_derivatives_finite_differences(loss, shape, axis, rng):
    for options in OPTIONS[loss.name]:
        y, p, prm = make(loss, shape, axis, np.float64, rng, options)
        if not prm.get("from_logits"):
            p = np.clip(p, 0.05, 0.95)  # inside the clip range, away from its edges
        example_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
        w = rng.uniform(0.1, 2.0, size=example_shape)
        h = 1e-6 * (np.ones_like(p) if prm.get("from_logits") else p)
        for reduction in REDUCTIONS[:2]:
            for sw in (None, w):
                g_fd, h_fd = _fd(loss, y, p, prm, axis, reduction, sw, h)
                g, hs = loss.grad_hess(y, p, axis=axis, reduction=reduction, sample_weight=sw, **prm)
                np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-8, err_msg=str(options))
                np.testing.assert_allclose(hs, h_fd, rtol=1e-3, atol=1e-5, err_msg=str(options))
                v, g2 = loss.value_and_grad(y, p, axis=axis, reduction=reduction, sample_weight=sw, **prm)
                np.testing.assert_array_equal(g2, g)
                np.testing.assert_array_equal(loss.grad(y, p, axis=axis, reduction=reduction, sample_weight=sw,
                                                        **prm), g)
                assert v == loss(y, p, axis=axis, reduction=reduction, sample_weight=sw, **prm)
        # reduction="none": each example's own derivative
        g_none = loss.grad(y, p, axis=axis, reduction="none", **prm)
        np.testing.assert_allclose(g_none, loss.grad(y, p, axis=axis, reduction="sum", **prm), rtol=1e-15)


def test_one_hot_cce_equals_sparse_under_every_option(rng):
    for shape, axis in LAYOUTS:
        classes = shape[axis]
        example_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
        labels = rng.integers(0, classes, size=example_shape)
        one_hot = np.moveaxis(np.eye(classes)[labels], -1, axis % len(shape))
        z = rng.normal(size=shape) * 2
        probs = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
        w = rng.uniform(0.5, 1.5, size=example_shape)
        for options in ({}, {"label_smoothing": 0.2}, {"class_weight": rng.uniform(0.5, 2, classes)},
                        {"class_weight": rng.uniform(0.5, 2, classes), "label_smoothing": 0.1}):
            for from_logits, pred in ((True, z), (False, probs)):
                for reduction in REDUCTIONS:
                    kw = dict(options, from_logits=from_logits, axis=axis, reduction=reduction, sample_weight=w)
                    np.testing.assert_allclose(CCE(one_hot, pred, **kw), SPARSE(labels, pred, **kw), rtol=1e-13)
                    for a, b in zip(CCE.grad_hess(one_hot, pred, **kw), SPARSE.grad_hess(labels, pred, **kw)):
                        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_kl_of_a_distribution_with_itself_is_zero(rng):
    p = rng.uniform(size=(50, 7))
    p /= p.sum(axis=1, keepdims=True)
    assert KL(p, p) == pytest.approx(0.0, abs=1e-15)
    assert np.all(np.abs(KL(p, p, reduction="none")) < 1e-15)
    np.testing.assert_allclose(KL.grad(p, p, reduction="sum"), -np.ones_like(p), rtol=1e-14)  # -P/Q = -1
    z = np.log(p)
    assert KL(p, z, from_logits=True) == pytest.approx(0.0, abs=1e-14)
    np.testing.assert_allclose(KL.grad(p, z, from_logits=True, reduction="sum"), 0.0, atol=1e-15)


def test_sum_equals_sum_of_none(rng):
    for loss in (CCE, SPARSE, KL):
        y, p, prm = make(loss, (300, 11), -1, np.float64, rng, {"from_logits": True})
        assert loss(y, p, reduction="sum", **prm) == pytest.approx(loss(y, p, reduction="none", **prm).sum(),
                                                                   rel=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_match_mpmath(dtype):
    """CE at logits [1000, 1001, 1002] (SPEC): against 50-digit mpmath."""
    mpmath.mp.dps = 50
    z = [1000, 1001, 1002]
    lse = mpmath.log(sum(mpmath.exp(mpmath.mpf(v)) for v in z))
    for k in range(3):
        exact = lse - z[k]
        y = np.zeros(3, dtype)
        y[k] = 1
        got = CCE(y, np.array(z, dtype), from_logits=True)
        assert got.dtype == dtype
        rtol = 1e-6 if dtype == np.float32 else 1e-14
        assert float(got) == pytest.approx(float(exact), rel=rtol)
        assert float(SPARSE(k, np.array(z, dtype), from_logits=True)) == pytest.approx(float(exact), rel=rtol)
        g = CCE.grad(y, np.array(z, dtype), from_logits=True)
        softmax = [mpmath.exp(v - lse) for v in z]
        np.testing.assert_allclose(g, [float(s - (i == k)) for i, s in enumerate(softmax)], rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e4, 1e9])
def test_extreme_logits_are_finite(dtype, big):
    z = np.array([[big, -big, 0.0], [-big, -big, big], [0.0, big, -big]], dtype)
    y = np.eye(3, dtype=dtype)
    for loss, target in ((CCE, y), (SPARSE, np.arange(3)), (KL, (y + 0.1) / 1.3)):
        v = loss(target, z, from_logits=True, reduction="none")
        g, h = loss.grad_hess(target, z, from_logits=True)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    # by hand: example 0 has the right class far ahead (loss 0), example 1 far behind (loss 2 big)
    v = CCE(y, z, from_logits=True, reduction="none")
    assert v[0] == 0.0 and v[1] == pytest.approx(2 * big, rel=1e-6)


def test_masked_logits():
    """A class with target 0 contributes 0 even when its logit is -inf."""
    z = np.array([[0.0, -np.inf, 1.0]])
    y = np.array([[1.0, 0.0, 0.0]])
    expected = np.log(1 + np.e)  # by hand: logsumexp([0, 1]) - 0
    assert CCE(y, z, from_logits=True) == pytest.approx(expected)
    g = CCE.grad(y, z, from_logits=True)
    assert np.all(np.isfinite(g)) and g[0, 1] == 0.0
    assert SPARSE([0], z, from_logits=True) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [-1, 5, 2**31, -2**63])
def test_labels_out_of_range(bad):
    p = np.full((4, 5), 0.2)
    labels = np.array([0, 1, bad, 2], dtype=np.int64)
    out = np.full((4, 5), 7.0)
    with pytest.raises(IndexError, match=rf"label {bad} at flat position 2"):
        SPARSE.grad(labels, p, out=out)
    assert np.all(out == 7.0)  # nothing written
    with pytest.raises(IndexError, match=rf"{bad}"):
        SPARSE(labels, p, from_logits=True)
    # labels equal to ignore_index are fine
    assert np.isfinite(SPARSE(labels, p, ignore_index=bad))


def test_first_bad_label_of_a_long_array_on_threads():
    """The label check (one threaded pass) names the first bad label of a long
    array, skipping ignore_index, on 1 and 2 threads, and writes nothing to out=."""
    rows, classes = 300_001, 5
    labels = (np.arange(rows) % classes).astype(np.int64)
    labels[[150_000, 299_999]] = [classes, -1]
    p = np.full((rows, classes), 0.2)
    threads = fl.get_num_threads()
    try:
        for t in (1, 2):
            fl.set_num_threads(t)
            with pytest.raises(IndexError, match=rf"label {classes} at flat position 150000 is outside \[0, {classes}\)"):
                SPARSE(labels, p)
            with pytest.raises(IndexError, match=r"label -1 at flat position 299999"):
                SPARSE(labels, p, ignore_index=classes)
            out = np.full((rows, classes), 7.0)
            with pytest.raises(IndexError, match=r"flat position 150000"):
                SPARSE.grad(labels, p, ignore_index=-1, out=out)
            assert np.all(out == 7.0)
            good = labels.copy()
            good[[150_000, 299_999]] = -100  # PyTorch's default ignore_index, counted as ignored
            # by hand: every counted example's loss is -log 0.2
            assert SPARSE(good, p, ignore_index=-100) == pytest.approx(-np.log(0.2), rel=1e-12)
    finally:
        fl.set_num_threads(threads)


def test_bad_label_found_in_the_kernel_pass():
    """Calls that write nothing (mean, sum) leave the label check to the kernel's
    pass (labels of probabilities) or make it after the kernel (other paths): the
    same IndexError naming the first bad label, wherever it is (first row, the ends
    of the kernel's 256-row stretches, the last row of a partial one), before the
    ValueError of a negative probability in an earlier row, on 1 and 2 threads."""
    rows, classes = 50_003, 7  # enough for two threads
    threads = fl.get_num_threads()
    try:
        for dtype in (np.float32, np.float64):
            p = np.full((rows, classes), 1.0 / classes, dtype)
            for t in (1, 2):
                fl.set_num_threads(t)
                for pos in (0, 255, 256, 40_000, 50_002):
                    for bad in (classes, -1, 2**40):
                        labels = (np.arange(rows) % classes).astype(np.int64)
                        labels[pos] = bad
                        q = p.copy()
                        q[max(pos - 1, 0), labels[max(pos - 1, 0)] if pos else 0] = -0.5  # also a negative probability
                        for reduction in ("mean", "sum"):
                            for kw in ({}, {"from_logits": True}, {"label_smoothing": 0.1}):
                                with pytest.raises(IndexError, match=rf"label {bad} at flat position {pos} is outside"):
                                    SPARSE(labels, q, reduction=reduction, **kw)
                        # ignored, it counts 0: by hand, every other example's loss is log 7
                        got = SPARSE(labels, p, ignore_index=bad)
                        assert got == pytest.approx(np.log(classes), rel=1e-6)
                        assert SPARSE(labels, p, ignore_index=bad, reduction="sum") == \
                            pytest.approx((rows - 1) * np.log(classes), rel=1e-6)
    finally:
        fl.set_num_threads(threads)


def test_bad_label_of_a_call_that_writes_nothing_on_every_path():
    """The paths that read labels as ignored when out of range and leave the check
    to after the kernel: many classes (a row at a time), the class axis in the
    middle (axis=1), and the mean's denominator of class weights before a
    gradient. Each names the first bad label; a huge or negative label reads
    nothing outside the arrays (run under scripts/sanitize.sh too)."""
    rng = np.random.default_rng(5)
    for bad in (2**40, -1, 17):
        labels = rng.integers(0, 17, 3_001)
        labels[[1_234, 2_000]] = bad
        p = rng.dirichlet(np.ones(17), 3_001)
        cw = np.arange(1.0, 18.0)
        match = rf"label {bad} at flat position 1234 is outside \[0, 17\)"
        for kw in ({}, {"from_logits": True}, {"class_weight": cw}):
            with pytest.raises(IndexError, match=match):
                SPARSE(labels, p, **kw)
        with pytest.raises(IndexError, match=match):  # (N, C, L) with the classes on axis 1
            SPARSE(labels.reshape(1, 3_001), np.ascontiguousarray(p.T[None]), axis=1)
        out = np.full(p.shape, 7.0)
        with pytest.raises(IndexError, match=match):  # the denominator pass, then the gradient
            SPARSE.grad(labels, p, class_weight=cw, out=out)
        assert np.all(out == 7.0)


def test_label_dtypes():
    p = np.full((3, 4), 0.25)
    expected = -np.log(0.25)  # by hand
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float32,
               np.float64):
        assert SPARSE(np.array([0, 3, 1], dtype=dt), p) == pytest.approx(expected)
    with pytest.raises(IndexError, match="18446744073709551615"):
        SPARSE(np.array([0, 2**64 - 1, 1], dtype=np.uint64), p)
    with pytest.raises(IndexError, match="position 1"):
        SPARSE(np.array([0, 4, 1], dtype=np.uint64), p)
    with pytest.raises(ValueError, match=r"whole numbers.*1\.5.*position 2"):
        SPARSE(np.array([0.0, 1.0, 1.5]), p)
    with pytest.raises(ValueError, match="nan"):
        SPARSE(np.array([0.0, np.nan, 1.0]), p)
    with pytest.raises(TypeError, match="integer class labels"):
        SPARSE(np.array(["a", "b", "c"]), p)
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        SPARSE(np.array([0, 1]), p)


def test_all_examples_ignored():
    p = np.full((3, 4), 0.25)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(SPARSE([5, 5, 5], p, ignore_index=5))
    assert SPARSE([5, 5, 5], p, ignore_index=5, reduction="sum") == 0.0
    assert np.all(SPARSE.grad([5, 5, 5], p, ignore_index=5) == 0.0)


def test_negative_probabilities_raise():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"y_pred.*-0\.5.*position 3"):
        CCE(y, [[0.5, 0.5], [1.5, -0.5]])
    with pytest.raises(ValueError, match=r"y_true.*-0\.2.*position 1"):
        KL([[1.2, -0.2], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
    out = np.full((2, 2), 3.0)
    with pytest.raises(ValueError):
        CCE.grad(y, [[0.5, 0.5], [1.5, -0.5]], out=out)
    assert np.all(out == 3.0)
    CCE(y, [[-3.0, 2.0], [1.0, 5.0]], from_logits=True)  # logits may be negative


def test_bad_options():
    p = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match="class_weight"):
        SPARSE([0, 1, 2], p, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="class_weight.*-1"):
        CCE(np.eye(4)[:3], p, class_weight=[1.0, -1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="axis 2"):
        CCE(np.eye(4)[:3], p, axis=2)
    with pytest.raises(ValueError, match="label_smoothing"):
        CCE(np.eye(4)[:3], p, label_smoothing=-0.1)
    with pytest.raises(ValueError, match=r"y_true shape \(3, 5\)"):
        CCE(np.ones((3, 5)), p)
    with pytest.raises(ValueError, match="0-d"):
        CCE(1.0, 0.5)


def test_seed_examples():
    """SPEC section 4, expected values from mpmath: -log 0.7 and sum P log(P/Q)."""
    mpmath.mp.dps = 50
    ce = float(-mpmath.log(mpmath.mpf("0.7")))
    assert CCE([1, 0, 0], [0.7, 0.2, 0.1]) == pytest.approx(ce, rel=1e-14)
    assert SPARSE(0, [0.7, 0.2, 0.1]) == pytest.approx(ce, rel=1e-14)
    kl = float(sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))
                   for a, b in (("0.4", "0.5"), ("0.6", "0.5"))))
    assert KL([0.4, 0.6], [0.5, 0.5]) == pytest.approx(kl, rel=1e-14)
    assert round(float(KL([0.4, 0.6], [0.5, 0.5])), 7) == 0.0201355  # the seed's 0.018 is wrong (erratum)


def test_threads_bitwise(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    z = rng.normal(size=(20000, 10)) * 3
    labels = rng.integers(0, 10, size=20000)
    zs = rng.normal(size=(8, 10, 60, 50))
    ls = rng.integers(0, 10, size=(8, 60, 50))
    def run():
        return (SPARSE(labels, z, from_logits=True), *SPARSE.grad_hess(labels, z, from_logits=True),
                SPARSE(ls, zs, axis=1, from_logits=True), SPARSE.grad(ls, zs, axis=1, from_logits=True))
    try:
        fl.set_num_threads(1)
        base = run()
        for n in (2, 3, 7):
            fl.set_num_threads(n)
            for a, b in zip(run(), base):
                assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    finally:
        fl.set_num_threads(0)
    with threadpoolctl.threadpool_limits(1):
        for a, b in zip(run(), base):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("classes", [3, 10, 16, 37])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_sparse_probabilities_label_path(classes, dtype, rng):
    """Sparse labels of probabilities without smoothing read only the label's
    probability (one log per example, several blocks of examples): values and
    derivatives against the NumPy reference and against hand formulas
    (-cw_l / p_l and cw_l / p_l**2 at the label, 0 elsewhere); every thread count
    gives the same bits."""
    n = 20001  # several blocks of kBlock / C examples, over the thread threshold, a partial lane group
    z = rng.normal(size=(n, classes)) * 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[rng.uniform(size=p.shape) < 0.05] = 0.0  # clipped to eps: derivative 0
    p = p.astype(dtype)
    labels = rng.integers(0, classes, size=n)
    labels[rng.uniform(size=n) < 0.1] = -100
    cw = rng.uniform(0.5, 2.0, size=classes)
    w = rng.uniform(0.1, 2.0, size=n)
    eps = dtype(1e-7)
    for kw in ({}, {"class_weight": cw, "sample_weight": w}):
        for reduction in REDUCTIONS:
            got = SPARSE(labels, p, ignore_index=-100, reduction=reduction, **kw)
            ref = SPARSE.reference(labels, p, ignore_index=-100, reduction=reduction, **kw)
            assert_matches_reference(got, ref, dtype)
        g, h = SPARSE.grad_hess(labels, p, ignore_index=-100, reduction="sum", **kw)
        rows = np.arange(n)
        on = labels >= 0
        q = p[rows[on], labels[on]]
        a = (cw[labels[on]] if "class_weight" in kw else 1.0) * (w[on] if "sample_weight" in kw else 1.0)
        inside = (q >= eps) & (q <= 1)
        expect_g = np.where(inside, -a / np.maximum(q, eps), 0.0)
        expect_h = np.where(inside, a / np.maximum(q, eps) ** 2, 0.0)
        np.testing.assert_allclose(g[rows[on], labels[on]], expect_g, rtol=1e-5 if dtype == np.float32 else 1e-13)
        np.testing.assert_allclose(h[rows[on], labels[on]], expect_h, rtol=1e-5 if dtype == np.float32 else 1e-13)
        mask = np.zeros_like(g, dtype=bool)
        mask[rows[on], labels[on]] = True
        assert np.all(g[~mask] == 0) and np.all(h[~mask] == 0)
    try:
        results = {}
        for t in (1, 2, 3):
            fl.set_num_threads(t)
            results[t] = [np.asarray(x).tobytes() for x in
                          (SPARSE(labels, p, ignore_index=-100), SPARSE.value_and_grad(labels, p, ignore_index=-100)[0],
                           SPARSE.grad(labels, p, ignore_index=-100))]
        assert results[1] == results[2] == results[3]
    finally:
        fl.set_num_threads(0)
    # a negative label probability is a ValueError naming it; one in another class
    # or in an ignored example is not read (value unchanged, bit for bit)
    for row in (0, n // 2, n - 1):
        bad = p.copy()
        lab = labels.copy()
        lab[row] = classes - 1
        bad[row, -1] = -0.25
        with pytest.raises(ValueError, match=rf"-0\.25 at flat position {row * classes + classes - 1}\b"):
            SPARSE(lab, bad, ignore_index=-100)
        with pytest.raises(ValueError, match=r"-0\.25"):
            SPARSE.value_and_grad(lab, bad, ignore_index=-100)
        lab[row] = 0 if row else -100
        expected = SPARSE(lab, p, ignore_index=-100, reduction="sum")
        assert SPARSE(lab, bad, ignore_index=-100, reduction="sum") == expected


def test_sparse_probabilities_label_path_large_gradient(rng):
    """Derivatives of 16 MiB and more with rows of 1000 classes are zeroed with
    non-temporal stores, also into an out= that is not 16-byte aligned: zeros but
    at the labels, where the hand formula -1/(n p_l) holds (mean reduction)."""
    n, classes = 4500, 1000  # 18 MB of float32
    p = rng.uniform(0.01, 1.0, size=(n, classes)).astype(np.float32)
    labels = rng.integers(0, classes, size=n)
    buf = np.empty(n * classes + 1, np.float32)
    out = buf[1:].reshape(n, classes)  # 4 bytes past an aligned start
    assert out.ctypes.data % 16 != 0
    for target in (None, out):
        if target is not None:
            target.fill(np.nan)
        v, g = SPARSE.value_and_grad(labels, p, out=target)
        rows = np.arange(n)
        expect = -1.0 / (n * p[rows, labels].astype(np.float64))  # by hand: d/dp of -mean(log p_l)
        np.testing.assert_allclose(g[rows, labels], expect, rtol=1e-6)
        g[rows, labels] = 0
        assert not np.any(g), "a derivative off the labels is not 0"
        assert v == pytest.approx(-np.mean(np.log(p[rows, labels].astype(np.float64))), rel=1e-6)


@pytest.mark.parametrize("dtype, classes", [(np.float32, 8), (np.float32, 10), (np.float64, 10), (np.float64, 16),
                                            (np.float32, 32)])
def test_sparse_probabilities_prefetched_rows(dtype, classes):
    """Rows of 32 to 128 bytes in 16 MiB and more of probabilities take their lines
    ahead (software prefetches, also past the end of the array): the value, the
    per-example losses and the gradient agree with the NumPy formulas (by hand:
    -log p_l, its mean, and -1/(n p_l) at the labels, 0 elsewhere), with the same
    bits on 1 and 2 threads and as the same rows in less than 16 MiB (not
    prefetched), and a bad label in the last row is still an IndexError naming it."""
    itemsize = np.dtype(dtype).itemsize
    n = (16 << 20) // (classes * itemsize) + 3
    gen = np.random.default_rng(classes * itemsize)
    p = gen.uniform(0.01, 1.0, size=(n, classes)).astype(dtype)
    labels = gen.integers(0, classes, size=n)
    labels[::7] = -100  # ignored
    kept = labels != -100
    rows = np.flatnonzero(kept)
    logs = np.log(p[rows, labels[rows]].astype(np.float64))
    tol = 1e-6 if dtype == np.float32 else 1e-12
    try:
        got = {}
        for t in (1, 2):
            fl.set_num_threads(t)
            got[t] = SPARSE(labels, p, ignore_index=-100)
        assert got[1].tobytes() == got[2].tobytes()
    finally:
        fl.set_num_threads(0)
    assert float(got[2]) == pytest.approx(-logs.mean(), rel=tol)
    none = SPARSE(labels, p, ignore_index=-100, reduction="none")
    np.testing.assert_allclose(none[rows], -logs, rtol=tol)
    assert not np.any(none[~kept])
    m = (8 << 20) // (classes * itemsize)  # the first rows alone: 8 MiB, no prefetch
    assert SPARSE(labels[:m], p[:m], ignore_index=-100, reduction="none").tobytes() == none[:m].tobytes()
    v, g = SPARSE.value_and_grad(labels, p, ignore_index=-100)
    assert v == got[2]
    np.testing.assert_allclose(g[rows, labels[rows]], -1.0 / (rows.size * p[rows, labels[rows]].astype(np.float64)),
                               rtol=tol)
    g[rows, labels[rows]] = 0
    assert not np.any(g), "a derivative off the labels (or in an ignored row) is not 0"
    bad = labels.copy()
    bad[-1] = classes
    with pytest.raises(IndexError, match=rf"label {classes} at flat position {n - 1} is outside \[0, {classes}\)"):
        SPARSE(bad, p, ignore_index=-100)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [17, 40, 273, 530])
def test_rowwise_class_position_bits(dtype, classes):
    """A class's log term has the same bits wherever the class is in the row: the
    chunks whose logs take a pass of their own (rows of two full chunks or more), a
    last full chunk that keeps its log inline, and the padded tail. Row i holds 0.3
    at class i and the same small probability elsewhere, with a one-hot target at
    i (CCE, KL), so every row's loss is the same number (by construction; the other
    terms are 0 and adding them is exact)."""
    n = classes
    p = np.full((n, classes), 0.7 / (classes - 1), dtype)
    np.fill_diagonal(p, dtype(0.3))
    onehot = np.eye(classes, dtype=dtype)
    for v in (fl.categorical_cross_entropy(onehot, p, reduction="none"),
              fl.kl_divergence(onehot, p, reduction="none")):
        assert v.dtype == dtype
        assert np.unique(v.view(np.uint32 if dtype == np.float32 else np.uint64)).size == 1, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_probability_long_label_blocks_thread_invariant(dtype):
    """From 512 label blocks on (524,288 rows) sparse CE from probabilities takes
    blocks of 8192 rows: the same bits on 1 and 2 threads, and the NumPy
    reference's value (float64 sum of -log p[label])."""
    rng = np.random.default_rng(3)
    rows = 600_001
    p = rng.uniform(0.05, 1.0, size=(rows, 3)).astype(dtype)
    labels = rng.integers(0, 3, size=rows)
    try:
        got = []
        for threads in (1, 2):
            fl.set_num_threads(threads)
            got.append(fl.sparse_categorical_cross_entropy(labels, p))
    finally:
        fl.set_num_threads(0)
    assert got[0].tobytes() == got[1].tobytes()
    expected = -np.mean(np.log(p[np.arange(rows), labels].astype(np.float64)))
    assert float(got[0]) == pytest.approx(expected, rel=4 * float(np.finfo(dtype).eps))


COMMON_CALL_OPTIONS = {CCE: {"label_smoothing": 0.3, "eps": 0.01}, KL: {"eps": 0.3},
                       SPARSE: {"label_smoothing": 0.2, "ignore_index": 2, "eps": 0.05}}


@pytest.mark.parametrize("loss", [CCE, SPARSE, KL], ids=lambda l: l.name)
@pytest.mark.parametrize("from_logits", [False, True], ids=["probs", "logits"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("options", [False, True], ids=["defaults", "options"])
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.asmatrix
def test_common_call_entry_point(loss, from_logits, dtype, options, rng):
    """The mean and sum of the common call come from the binding's _reduced entry
    point: the same bits as the general path (reached here with a Fortran-ordered
    y_pred, which it copies to C order), and None from it for every other call;
    with the loss's options too (label smoothing, eps, ignore_index)."""
    prm = {"from_logits": from_logits, **(COMMON_CALL_OPTIONS[loss] if options else {})}
    shape, classes = (33, 7), 7
    z = rng.normal(size=shape).astype(dtype)
    p = z if from_logits else (np.exp(z) / np.exp(z).sum(-1, keepdims=True)).astype(dtype)
    if loss is SPARSE:
        y = rng.integers(0, classes, size=shape[0])
    else:
        y = rng.dirichlet(np.ones(classes), size=shape[0]).astype(dtype)
    cfg = loss._params(prm)
    reduced = cfg.reduced  # _core.<kernel>_reduced
    assert reduced.__name__ == cfg.fn.__name__ + "_reduced"
    for reduction, code in (("mean", 2), ("sum", 1)):
        got = loss(y, p, reduction=reduction, **prm)
        general = loss(y, np.asfortranarray(p), reduction=reduction, **prm)
        direct = reduced(y, p, code, cfg.label_smoothing, cfg.eps, cfg.ignore_index)
        assert type(got) is type(general) is type(direct) is np.dtype(dtype).type
        assert got.tobytes() == general.tobytes() == direct.tobytes()
        if options and not (loss is KL and from_logits):  # the options reach the kernel (KL of logits takes no eps)
            assert got != loss(y, p, from_logits=from_logits, reduction=reduction)
    # not the common call: None, and the general path takes it
    others = [(y, np.asfortranarray(p)), (y, p.astype(np.float16)), (y, np.asmatrix(p)), (y, p[:, :0]),
              (y, p.reshape(3, 11, classes)), (list(y), p), (y, p[0])]
    if loss is SPARSE:
        others += [(y.astype(np.int32), p), (y.astype(dtype), p), (y.reshape(3, 11), p.reshape(11, 3, classes))]
    else:
        others += [(y.astype(np.float16), p), (y[:1], p), (np.asfortranarray(y), p)]
    for yy, pp in others:
        assert reduced(yy, pp, 2, 0.0, 1e-7, None) is None
    if not from_logits:  # outside the domain: None from the entry point, the general path's message
        bad = p.copy()
        bad[4, 2] = -0.5
        assert reduced(y if loss is not SPARSE else np.full_like(y, 2), bad, 2, 0.0, 1e-7, None) is None
        with pytest.raises(ValueError, match=r"-0\.5 at flat position 30"):
            loss(y if loss is not SPARSE else np.full_like(y, 2), bad)
    if loss is SPARSE:
        with pytest.raises(IndexError, match=r"label 7 at flat position 5 is outside \[0, 7\)"):
            bad_labels = y.copy()
            bad_labels[5] = 7
            reduced(bad_labels, p, 2, 0.0, 1e-7, None)
        # every example ignored: the mean of nothing is left to the general path (NaN)
        assert reduced(np.full_like(y, 3), p, 2, 0.0, 1e-7, 3) is None
        with pytest.warns(RuntimeWarning):
            assert np.isnan(loss(np.full_like(y, 3), p, from_logits=from_logits, ignore_index=3))
    with pytest.raises(ValueError, match="reduce"):
        reduced(y, p, 0, 0.0, 1e-7, None)
