"""Edge cases found in review: each test names what used to go wrong."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

SPARSE, CCE, KL = fl.sparse_categorical_cross_entropy, fl.categorical_cross_entropy, fl.kl_divergence


def test_empty_next_to_size_one():
    """An empty input broadcast with a one-element input is an empty input."""
    assert fl.mse(np.zeros(0), 1.0, reduction="sum") == 0.0
    assert fl.mse(np.zeros(0), np.zeros(1), reduction="none").shape == (0,)
    assert fl.mse.grad(1.0, np.zeros(0)).shape == (0,)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(fl.binary_cross_entropy([], 0.5))
    assert fl.gan_discriminator_loss([], [], reduction="sum") == 0.0
    # weights with more elements than the inputs broadcast them
    assert fl.mse(1.0, 0.0, sample_weight=np.ones(5), reduction="none").shape == (5,)


def test_gan_out_written_only_on_success_and_may_alias():
    o = np.full(3, -1.0)
    with pytest.raises(ValueError):
        fl.gan_discriminator_loss([.9, .9, .9], [.1, .1, 1.5], reduction="none", out=o)
    assert np.all(o == -1.0)
    g0 = np.full(3, -1.0)
    with pytest.raises(ValueError):
        fl.gan_discriminator_loss.grad([.9] * 3, [.1, .1, .5], out=(g0, np.empty(2)))
    assert np.all(g0 == -1.0)
    f = np.array([0.1, 0.2])
    expected = fl.gan_discriminator_loss([0.9, 0.8], f.copy(), reduction="none")
    fl.gan_discriminator_loss([0.9, 0.8], f, reduction="none", out=f)
    np.testing.assert_allclose(f, expected, rtol=1e-15)
    # by hand: -(log 0.9 + log 0.9) / 2 and -(log 0.8 + log 0.8) / 2
    np.testing.assert_allclose(expected, [-np.log(0.9), -np.log(0.8)], rtol=1e-12)


def test_sparse_negative_probability_read_raises():
    """A negative probability that the loss reads (the label's; with smoothing, any
    of a counted example's) is a ValueError naming it, in every layout: rows with
    few and many classes, a strided class axis. One it does not read changes
    nothing: the value is -log of the labels' probabilities (by hand)."""
    many = np.full((2, 20), 0.05)
    cases = [  # (labels, probabilities, options, flat position of the bad entry)
        ([0], [[-0.5, 0.5]], {}, 0),
        ([1, 3], np.where(np.arange(40).reshape(2, 20) == 23, -0.5, many), {}, 23),
        ([[0, 1, 0]], np.repeat([[0.5, -0.5, 0.5]], 3, 0).T[None], {"axis": 1}, 4),
        ([-100, 1], [[.5, .5, .5], [.1, -.2, .3]], {"ignore_index": -100}, 4),
        ([-100, 1], [[.5, .5, .5], [-.1, .2, .3]], {"ignore_index": -100, "label_smoothing": 0.1}, 3),
        ([0, 1], [[.5] * 20, [.05] * 19 + [-.05]], {"label_smoothing": 0.1}, 39),
    ]
    for labels, p, kw, at in cases:
        for call in (SPARSE, SPARSE.grad, SPARSE.value_and_grad, SPARSE.grad_hess):
            with pytest.raises(ValueError, match=rf"probabilities.*-0\.\d+ at flat position {at}\b"):
                call(labels, p, **kw)
        out = np.full(np.shape(p), 7.0)
        with pytest.raises(ValueError, match="probabilities"):
            SPARSE.grad(labels, p, out=out, **kw)
        assert np.all(out == 7.0)
    # not read: another class, an ignored example (with and without smoothing)
    p = np.array([[0.5, -0.5, 0.25], [-1.0, -1.0, -1.0], [0.2, 0.8, -3.0]])
    labels = np.array([0, -100, 1])
    got = SPARSE(labels, p, ignore_index=-100, reduction="sum")
    assert got == pytest.approx(-np.log(0.5) - np.log(0.8), rel=1e-15)  # by hand
    g = SPARSE.grad(labels, p, ignore_index=-100, reduction="sum")
    np.testing.assert_array_equal(g, [[-2.0, 0, 0], [0, 0, 0], [0, -1.25, 0]])  # -1/p at the label, by hand
    strided = np.repeat(p[:, :, None], 17, axis=2)  # class axis 1, 17 positions: the lanes path
    got = SPARSE(np.repeat(labels[:, None], 17, 1), strided, axis=1, ignore_index=-100, reduction="sum")
    assert got == pytest.approx(17 * (-np.log(0.5) - np.log(0.8)), rel=1e-14)
    assert SPARSE([-100], [[-1.0, 0.5]], ignore_index=-100, label_smoothing=0.2, reduction="sum") == 0  # not read


def test_ignored_examples_have_zero_derivatives_in_every_layout():
    p = np.array([[np.nan, 1., 2.], [.1, .2, .3]])
    lab = np.array([-100, 1])
    g_rows = SPARSE.grad(lab, p, from_logits=True, ignore_index=-100, reduction="sum")
    assert np.all(g_rows[0] == 0.0)
    g, h = SPARSE.grad_hess(np.repeat(lab[:, None], 3, 1), np.repeat(p[:, :, None], 3, 2), from_logits=True,
                            ignore_index=-100, axis=1, reduction="sum")
    assert np.all(g[0] == 0.0) and np.all(h[0] == 0.0)
    np.testing.assert_allclose(g[1, :, 0], g_rows[1])


def test_class_weight_with_zero_sample_weights_raises():
    with pytest.raises(ValueError, match="sums to 0"):
        CCE([[1., 0], [0, 1]], [[.3, .7], [.6, .4]], class_weight=[1, 1], sample_weight=[0, 0])
    # a zero class-weighted denominator: NaN value and NaN gradient (0/0), not a silent scale of 1
    P = np.array([[0.3, 0.7], [0.6, 0.4]])
    with pytest.warns(RuntimeWarning):
        assert np.isnan(SPARSE([0, 0], P, class_weight=[0, 1], label_smoothing=0.2))
    assert np.all(np.isnan(SPARSE.grad([0, 0], P, class_weight=[0, 1], label_smoothing=0.2)))


def test_cce_pred_broadcast_up_to_targets():
    y = np.array([[1., 0], [0, 1]])
    p = np.array([0.5, 0.5])
    np.testing.assert_allclose(CCE(y, p, reduction="none"), [np.log(2), np.log(2)], rtol=1e-15)  # by hand
    g = CCE.grad(y, p, reduction="sum")
    assert g.shape == (2,)
    np.testing.assert_allclose(g, [-2.0, -2.0], rtol=1e-15)  # by hand: -1/0.5 from each row, summed


def test_no_classes():
    assert CCE(np.zeros((2, 0)), np.zeros((2, 0))) == 0.0
    assert np.all(CCE(np.zeros((2, 0)), np.zeros((2, 0)), reduction="none") == 0.0)
    assert CCE.grad(np.zeros((2, 0)), np.zeros((2, 0))).shape == (2, 0)


@pytest.mark.parametrize("from_logits", [False, True])
def test_kl_float32_keeps_small_divergences(from_logits):
    import mpmath

    mpmath.mp.dps = 40
    P = np.float32([[.25, .25, .25, .25]])
    Q = np.float32([[.2501, .2499, .25, .25]])
    q = [mpmath.mpf(float(v)) for v in Q[0]]
    if from_logits:
        pred = np.log(Q)
        lse = mpmath.log(sum(mpmath.exp(mpmath.mpf(float(v))) for v in pred[0]))
        q = [mpmath.exp(mpmath.mpf(float(v)) - lse) for v in pred[0]]
    else:
        pred = Q
    exact = sum(mpmath.mpf(float(a)) * mpmath.log(mpmath.mpf(float(a)) / b) for a, b in zip(P[0], q))
    got = float(KL(P, pred, from_logits=from_logits))
    # Summing the cross-entropy and the entropy apart gave 0 here. Term by term,
    # probabilities keep a few digits of the 5e-8; logits are limited by float32's
    # rounding of log-softmax (about 3e-8 absolute, as per-term float32 NumPy).
    if from_logits:
        assert got > 0 and abs(got - float(exact)) < 3e-8
    else:
        assert got == pytest.approx(float(exact), rel=0.1)


def test_scalar_weight_counts_once_per_element():
    """A scalar (or one-element) sample_weight is repeated over the elements, so the
    weighted mean divides by n * w, not by w (it used to give 5.0 here). By hand:
    mean of (1 - 0)^2 and (2 - 0)^2 is 2.5, for any constant weight."""
    for w in (1.0, 2.0, [2.0], np.float32(3.0), np.array([[0.5]])):
        assert fl.mse([1.0, 2.0], [0.0, 0.0], sample_weight=w) == pytest.approx(2.5, rel=1e-15)
        np.testing.assert_allclose(fl.mse.grad([1.0, 2.0], [0.0, 0.0], sample_weight=w), [-1.0, -2.0], rtol=1e-15)
    # and as the reference says, for a broadcast weight in a larger shape
    y = np.arange(6.0).reshape(2, 3)
    assert fl.huber(y, 0.0, sample_weight=[[4.0]]) == pytest.approx(fl.huber.reference(y, 0.0, sample_weight=[[4.0]]))
    # with no elements, a scalar weight weighs nothing: NaN and a RuntimeWarning (as np.mean)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(fl.mse(np.zeros(0), 0.0, sample_weight=0.0))
    with pytest.raises(ValueError, match="sums to 0"):
        fl.mse([1.0, 2.0], [0.0, 0.0], sample_weight=0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cauchy_gradient_where_the_residual_overflows(dtype):
    """y - p overflowing to inf gave a NaN gradient (inf / inf); it is the limit 0.
    Where only r**2 overflows the gradient is -2 / (c r) (by hand), not 0."""
    big = np.finfo(dtype).max
    g = fl.cauchy.grad(np.array([big, -big], dtype), np.array([-big / 2, big / 2], dtype), reduction="none")
    assert np.all(g == 0.0)
    r = dtype(np.sqrt(big) * 4)  # r**2 overflows, r does not
    g = fl.cauchy.grad(np.array([r], dtype), np.zeros(1, dtype), reduction="none")
    np.testing.assert_allclose(g, [-2.0 / float(r)], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype, z", [(np.float32, 95.0), (np.float32, -95.0), (np.float64, 720.0),
                                      (np.float64, -720.0)])
def test_focal_logits_hessian_past_the_exp_overflow(dtype, z):
    """For hard labels and |z| past the exp overflow point (88.7 float32, 709.8
    float64), 1 / sigmoid(-|z|) overflowed and dropped the Hessian's largest terms
    (a relative error near 1). Against mpmath (tests/accuracy_ref.py)."""
    import accuracy_ref as R

    y = 0.0 if z > 0 else 1.0  # the well-classified side: the loss and its derivatives are tiny
    h = fl.focal_loss.grad_hess(np.array([y], dtype), np.array([z], dtype), from_logits=True, reduction="none")[1]
    exact = R.focal_logits(R.mpf(y), R.mpf(float(dtype(z))), R.mpf(0.25), R.mpf(2.0))[2][0]
    # sigmoid(-|z|) is subnormal here: the result keeps the subnormal's absolute precision
    tol = 9 * abs(z) * float(np.finfo(dtype).smallest_subnormal) + 8 * float(np.finfo(dtype).eps) * abs(float(exact))
    assert abs(float(h[0]) - float(exact)) <= tol, (float(h[0]), float(exact))
    assert abs(float(exact)) > 10 * tol  # the test can tell a dropped term


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_focal_and_bce_of_infinite_logits(dtype):
    """Infinite logits: +inf where the loss tends to it; NaN where the formula multiplies
    0 by inf, a hard label on the side the logit says (the limit there is 0), as BCE's
    reference, NumPy and PyTorch give.
    Hand-derived: y = 0, z = +inf: p_t = 0, -log p_t = inf, weight (1-alpha) (1-p_t)^2 = 0.75;
    y = 1/2: half of each side, one of them infinite. The focal reference once formed
    max(z, 0) - z y, which is inf - inf = NaN at z = +inf (found by test_hostile)."""
    y = np.array([0.0, 1.0, 0.5, 0.5, 0.0, 1.0], dtype)
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, -np.inf, np.inf], dtype)
    expected = np.array([np.inf, np.inf, np.inf, np.inf, np.nan, np.nan])
    with np.errstate(invalid="ignore", over="ignore"):
        for loss in (fl.focal_loss, fl.binary_cross_entropy):
            got = loss(y, z, from_logits=True, reduction="none")
            np.testing.assert_array_equal(got, expected.astype(dtype))
            np.testing.assert_array_equal(loss.reference(y, z, from_logits=True, reduction="none"), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gan_discriminator_out_gives_the_bits_of_the_new_arrays(dtype, from_logits, reduction, monkeypatch):
    """value_and_grad and grad with out= write each half's gradient straight into
    the pair (a spy checks that this path ran); the same bits as without out= (new
    arrays), also when the batches differ in size and for logits whose gradients
    are subnormal (|z| > 90: the 1/2 is in the kernel's scale on both paths, one
    rounding); an out= that overlaps an input, or is strided, goes through new
    arrays and copies, with the same bits."""
    from fastloss import _gan

    direct = []
    original = _gan._direct_grads
    monkeypatch.setattr(_gan, "_direct_grads", lambda *a: direct.append(original(*a)) or direct[-1])
    rng = np.random.default_rng(3)
    real = rng.uniform(0.001, 0.999, 70_001).astype(dtype)
    fake = rng.uniform(0.001, 0.999, 50_003).astype(dtype)
    if from_logits:
        real = rng.normal(0.0, 3.0, real.size).astype(dtype)
        fake = rng.normal(0.0, 3.0, fake.size).astype(dtype)
        big = 700.0 if dtype == np.float64 else 85.0  # sigmoid(-z) near and below the smallest normal
        real[:2000] = np.linspace(big, big + 50.0, 2000, dtype=dtype)
        fake[:2000] = -np.linspace(big, big + 50.0, 2000, dtype=dtype)
    loss = fl.gan_discriminator_loss
    value, (g_real, g_fake) = loss.value_and_grad(real, fake, reduction=reduction, from_logits=from_logits)
    if from_logits:
        assert np.any((g_real != 0) & (np.abs(g_real) < np.finfo(dtype).tiny))  # subnormal gradients are covered
    pair = (np.full_like(real, 7.0), np.full_like(fake, 7.0))
    v2, got = loss.value_and_grad(real, fake, reduction=reduction, from_logits=from_logits, out=pair)
    assert direct and direct[-1] is not None
    assert got[0] is pair[0] and got[1] is pair[1]
    assert v2 == value and type(v2) is type(value)
    np.testing.assert_array_equal(pair[0], g_real)
    np.testing.assert_array_equal(pair[1], g_fake)
    pair2 = (np.full_like(real, 7.0), np.full_like(fake, 7.0))
    loss.grad(real, fake, reduction=reduction, from_logits=from_logits, out=pair2)
    assert direct[-1] is not None
    np.testing.assert_array_equal(pair2[0], g_real)
    np.testing.assert_array_equal(pair2[1], g_fake)
    # the gradient is half of each half's binary_cross_entropy gradient (the definition;
    # equal bits where the product is normal)
    bce_real = fl.binary_cross_entropy.grad(np.ones_like(real), real, reduction=reduction, from_logits=from_logits)
    normal = np.abs(bce_real) >= 2 * np.finfo(dtype).tiny
    np.testing.assert_array_equal(g_real[normal], bce_real[normal] * dtype(0.5))
    # disjoint slices of one buffer: the direct path
    buf = np.full(real.size + fake.size, 7.0, dtype)
    loss.value_and_grad(real, fake, reduction=reduction, from_logits=from_logits,
                        out=(buf[:real.size], buf[real.size:]))
    assert direct[-1] is not None
    np.testing.assert_array_equal(buf[:real.size], g_real)
    np.testing.assert_array_equal(buf[real.size:], g_fake)
    # an out= that is an input, overlapping outputs, a strided out=: the general path
    r_in, f_in = real.copy(), fake.copy()
    v3, _ = loss.value_and_grad(r_in, f_in, reduction=reduction, from_logits=from_logits,
                                out=(np.empty_like(real), f_in))
    assert direct[-1] is None
    assert v3 == value
    np.testing.assert_array_equal(f_in, g_fake)
    small = real[:fake.size].copy()
    over = np.full(2 * fake.size, 7.0, dtype)
    expected_small = loss.grad(small, fake, reduction=reduction, from_logits=from_logits)
    loss.grad(small, fake, reduction=reduction, from_logits=from_logits,
              out=(over[:fake.size], over[fake.size // 2: fake.size // 2 + fake.size]))
    assert direct[-1] is None
    np.testing.assert_array_equal(over[fake.size // 2: fake.size // 2 + fake.size], expected_small[1])
    strided = np.full(2 * real.size, 7.0, dtype)
    loss.value_and_grad(real, fake, reduction=reduction, from_logits=from_logits,
                        out=(strided[::2], np.empty_like(fake)))
    assert direct[-1] is None
    np.testing.assert_array_equal(strided[::2], g_real)
    assert np.all(strided[1::2] == 7.0)
