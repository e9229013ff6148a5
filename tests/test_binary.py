"""Binary cross-entropy, focal loss and the GAN losses: stability at extreme
logits, identities, the domain check, and the seed's examples."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import fastloss as fl

mpmath.mp.dps = 50


def mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def test_seed_examples():
    """SPEC section 4; expected values from mpmath (50 digits)."""
    assert fl.binary_cross_entropy([1.0], [0.8]) == pytest.approx(float(-mpmath.log(mpmath.mpf("0.8"))), rel=1e-12)
    assert round(float(fl.binary_cross_entropy([1.0], [0.8])), 7) == 0.2231436
    gan = -(mpmath.log(mpmath.mpf("0.9")) + mpmath.log(1 - mpmath.mpf("0.1"))) / 2
    assert fl.gan_discriminator_loss([0.9], [0.1]) == pytest.approx(float(gan), rel=1e-12)
    assert round(float(fl.gan_discriminator_loss([0.9], [0.1])), 7) == 0.1053605
    # focal with p_t = 0.9 (y = 1, p = 0.9): 0.25 * 0.1^2 * -log(0.9) = 0.0002634 (erratum: the seed's
    # 0.001 is the value without alpha, 0.00105)
    focal = mpmath.mpf("0.25") * mpmath.mpf("0.1") ** 2 * -mpmath.log(mpmath.mpf("0.9"))
    assert fl.focal_loss([1.0], [0.9]) == pytest.approx(float(focal), rel=1e-12)
    assert fl.focal_loss([1.0], [0.9], alpha=None) == pytest.approx(float(focal / mpmath.mpf("0.25")), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("z", [1e4, -1e4, 1e9, -1e9, 80.0, -80.0, 0.0])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_extreme_logits_are_finite_and_exact(dtype, z, y):
    """Value, gradient and Hessian of BCE and focal with logits, against mpmath."""
    yy, zz = np.array([y], dtype), np.array([z], dtype)
    mz, my = mpmath.mpf(float(dtype(z))), mpmath.mpf(float(dtype(y)))
    # BCE = y softplus(-z) + (1 - y) softplus(z); softplus(x) = log(1 + e^x)
    sp = lambda x: mpmath.log1p(mpmath.exp(x))
    bce = my * sp(-mz) + (1 - my) * sp(mz)
    s = mp_sigmoid(mz)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    tiny = float(np.finfo(dtype).tiny)
    for gamma, alpha in [(0.0, None), (2.0, 0.25), (0.5, 0.8)]:
        m = my * (1 - s) + (1 - my) * s
        alpha_t = 1 if alpha is None else alpha * my + (1 - alpha) * (1 - my)
        f = lambda zz_: (lambda s_: (1 if alpha is None else alpha * my + (1 - alpha) * (1 - my))
                         * (my * (1 - s_) + (1 - my) * s_) ** gamma
                         * (my * sp(-zz_) + (1 - my) * sp(zz_)))(mp_sigmoid(zz_))
        exact_v = alpha_t * m**gamma * bce
        with mpmath.workdps(400):  # differentiation noise far below the smallest double
            exact_g = mpmath.diff(f, mz)
            exact_h = mpmath.diff(f, mz, 2)
        v = fl.focal_loss(yy, zz, from_logits=True, alpha=alpha, gamma=gamma)
        g, h = fl.focal_loss.grad_hess(yy, zz, from_logits=True, alpha=alpha, gamma=gamma)
        for got, exact in ((v, exact_v), (g[0], exact_g), (h[0], exact_h)):
            assert np.isfinite(got)
            assert float(got) == pytest.approx(float(exact), rel=rtol, abs=tiny * 4)
    v = fl.binary_cross_entropy(yy, zz, from_logits=True)
    g, h = fl.binary_cross_entropy.grad_hess(yy, zz, from_logits=True)
    assert float(v) == pytest.approx(float(bce), rel=rtol, abs=tiny)
    assert float(g[0]) == pytest.approx(float(s - my), rel=rtol, abs=tiny * 4)
    assert float(h[0]) == pytest.approx(float(s * (1 - s)), rel=rtol, abs=tiny * 4)


def test_identities(rng):
    y = np.where(rng.uniform(size=5000) < 0.7, rng.integers(0, 2, 5000), rng.uniform(size=5000))
    p = rng.uniform(0.01, 0.99, size=5000)
    z = rng.normal(size=5000) * 3
    # focal with gamma = 0 and no alpha is BCE, in every entry point
    for kw, pred in (({}, p), ({"from_logits": True}, z)):
        np.testing.assert_allclose(fl.focal_loss(y, pred, gamma=0.0, alpha=None, reduction="none", **kw),
                                   fl.binary_cross_entropy(y, pred, reduction="none", **kw), rtol=1e-13)
        for a, b in zip(fl.focal_loss.grad_hess(y, pred, gamma=0.0, alpha=None, **kw),
                        fl.binary_cross_entropy.grad_hess(y, pred, **kw)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-18)
    # BCE from logits equals BCE of the sigmoid where the probability is accurate (|z| small)
    np.testing.assert_allclose(fl.binary_cross_entropy(y, z, from_logits=True, reduction="none"),
                               fl.binary_cross_entropy(y, 1 / (1 + np.exp(-z)), reduction="none", eps=1e-15),
                               rtol=1e-9)
    # sum equals the sum of none
    assert fl.focal_loss(y, p, reduction="sum") == pytest.approx(fl.focal_loss(y, p, reduction="none").sum(),
                                                                 rel=1e-13)


def test_pos_weight_array_and_label_smoothing(rng):
    y = rng.integers(0, 2, size=(100, 3)).astype(float)
    z = rng.normal(size=(100, 3))
    pw = np.array([1.0, 2.0, 0.5])
    got = fl.binary_cross_entropy(y, z, from_logits=True, pos_weight=pw, label_smoothing=0.1, reduction="none")
    # by hand: y' = 0.9 y + 0.05; pw y' log sigmoid(z) + (1 - y') log sigmoid(-z)
    ys = 0.9 * y + 0.05
    expected = -(pw * ys * np.log(1 / (1 + np.exp(-z))) + (1 - ys) * np.log(1 / (1 + np.exp(z))))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="pos_weight"):
        fl.binary_cross_entropy(y, z, from_logits=True, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="pos_weight.*-1"):
        fl.binary_cross_entropy(y, z, from_logits=True, pos_weight=-1.0)


@pytest.mark.parametrize("loss", [fl.binary_cross_entropy, fl.focal_loss], ids=["bce", "focal"])
def test_probabilities_outside_unit_interval(loss):
    y = np.array([1.0, 0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"y_pred.*1\.5.*position 2"):
        loss(y, [0.5, 0.5, 1.5, 0.5])
    with pytest.raises(ValueError, match=r"y_pred.*-0\.1.*position 3"):
        loss.grad(y, [0.5, 0.5, 0.5, -0.1])
    with pytest.raises(ValueError, match=r"y_true.*2\.0.*position 1"):
        loss([1.0, 2.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5], from_logits=True)
    # logits outside [0, 1] are fine
    loss(y, [-3.0, 5.0, 0.0, 1.5], from_logits=True)
    # nothing is written to out= on error
    out = np.full(4, 7.0)
    with pytest.raises(ValueError):
        loss(y, [0.5, 0.5, 1.5, 0.5], reduction="none", out=out)
    assert np.all(out == 7.0)
    # NaN is not an error: it propagates
    assert np.isnan(loss(y, [0.5, np.nan, 0.5, 0.5]))
    # a bad value deep in a large, threaded input is found too
    p = np.full(400_001, 0.5)
    p[399_999] = 1.25
    with pytest.raises(ValueError, match=r"1\.25.*position 399999"):
        loss(np.ones_like(p), p)
    with pytest.raises(ValueError, match="label_smoothing"):
        fl.binary_cross_entropy(y, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="eps"):
        loss(y, y, eps=0.5)


def test_focal_parameters():
    with pytest.raises(ValueError, match="gamma"):
        fl.focal_loss([1.0], [0.5], gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        fl.focal_loss([1.0], [0.5], alpha=1.5)
    with pytest.raises(TypeError, match="from_logits"):
        fl.focal_loss([1.0], [0.5], from_logits="yes")


@pytest.mark.parametrize("from_logits", [False, True])
def test_gan_losses(rng, from_logits):
    real = rng.uniform(0.05, 0.95, size=40)
    fake = rng.uniform(0.05, 0.95, size=25)
    if from_logits:
        real, fake = np.log(real / (1 - real)), np.log(fake / (1 - fake))
    d = fl.gan_discriminator_loss
    value = d(real, fake, from_logits=from_logits)
    assert value == pytest.approx(d.reference(real, fake, from_logits=from_logits), rel=1e-12)
    # batches of different sizes: each half is averaged over its own batch
    (g_real, g_fake), (h_real, h_fake) = d.grad_hess(real, fake, from_logits=from_logits)
    assert g_real.shape == (40,) and g_fake.shape == (25,)
    for x, g, h, i in ((real, g_real, h_real, 3), (fake, g_fake, h_fake, 7)):
        e = np.zeros_like(x)
        e[i] = 1e-6
        args = (lambda x_: (x_, fake)) if x is real else (lambda x_: (real, x_))
        fd = (d.reference(*args(x + e), from_logits=from_logits) - d.reference(*args(x - e), from_logits=from_logits)) / 2e-6
        assert g[i] == pytest.approx(fd, rel=1e-6)
        e[i] = 1e-4
        fd2 = (d.reference(*args(x + e), from_logits=from_logits) - 2 * d.reference(*args(x), from_logits=from_logits)
               + d.reference(*args(x - e), from_logits=from_logits)) / 1e-8
        assert h[i] == pytest.approx(fd2, rel=1e-4)
    v2, (g2r, g2f) = d.value_and_grad(real, fake, from_logits=from_logits)
    assert v2 == value
    np.testing.assert_array_equal(g2r, g_real)
    with pytest.raises(ValueError, match="one shape"):
        d(real, fake, reduction="none")
    both = d(real[:25], fake, reduction="none", from_logits=from_logits)
    np.testing.assert_allclose(both, d.reference(real[:25], fake, reduction="none", from_logits=from_logits),
                               rtol=1e-12)
    out = np.empty(25)
    assert d(real[:25], fake, reduction="none", out=out, from_logits=from_logits) is out
    np.testing.assert_array_equal(out, both)

    g = fl.gan_generator_loss
    for saturating in (False, True):
        v = g(fake, saturating=saturating, from_logits=from_logits)
        assert v == pytest.approx(g.reference(fake, saturating=saturating, from_logits=from_logits), rel=1e-12)
        grad, hess = g.grad_hess(fake, saturating=saturating, from_logits=from_logits)
        e = np.zeros_like(fake)
        e[5] = 1e-6
        fd = (g.reference(fake + e, saturating=saturating, from_logits=from_logits)
              - g.reference(fake - e, saturating=saturating, from_logits=from_logits)) / 2e-6
        assert grad[5] == pytest.approx(fd, rel=1e-6)
        vv, gg = g.value_and_grad(fake, saturating=saturating, from_logits=from_logits)
        assert vv == v
        np.testing.assert_array_equal(gg, grad)
        np.testing.assert_array_equal(g.grad(fake, saturating=saturating, from_logits=from_logits), grad)
    assert fl.gan_generator_loss([0.1]) == pytest.approx(-np.log(0.1), rel=1e-12)  # by hand


def test_gan_dtype_follows_inputs():
    assert fl.gan_discriminator_loss(np.float32([0.9]), np.float32([0.1])).dtype == np.float32
    assert fl.gan_generator_loss(np.float32([0.5]), reduction="none").dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_focal_gamma_two_kernel_agrees_with_the_power_kernel(dtype, rng):
    """gamma = 2 runs its own kernels (m * m instead of pow); gamma just above 2 runs
    the pow kernels: the two agree to the size of the gamma difference (m^d - 1 ~ d log m,
    d = 2**-40 in float64, 2**-20 in float32), in every entry point, for probabilities
    and logits."""
    d = 2.0 ** (-40 if dtype == np.float64 else -20)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    y = rng.integers(0, 2, size=2000).astype(dtype)
    soft = y.copy()
    soft[:100] = rng.uniform(size=100)  # (only for the value: the gradient of a soft label is a
    # difference that cancels, where the pow kernel's own rounding would decide the comparison)
    for from_logits, pred in ((False, rng.uniform(0.0, 1.0, size=2000)), (True, rng.normal(size=2000) * 6)):
        pred = pred.astype(dtype)
        for labels in (y, soft):
            a = fl.focal_loss(labels, pred, gamma=2.0, from_logits=from_logits, reduction="none")
            b = fl.focal_loss(labels, pred, gamma=2.0 + d, from_logits=from_logits, reduction="none")
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
        ga, ha = fl.focal_loss.grad_hess(y, pred, gamma=2.0, from_logits=from_logits, reduction="none")
        gb, hb = fl.focal_loss.grad_hess(y, pred, gamma=2.0 + d, from_logits=from_logits, reduction="none")
        np.testing.assert_allclose(ga, gb, rtol=rtol, atol=1e-30)
        np.testing.assert_allclose(ha, hb, rtol=rtol, atol=1e-30)
        # and gamma = 2 against the NumPy reference
        ref = fl.focal_loss.reference(soft, pred, from_logits=from_logits, reduction="none")
        np.testing.assert_allclose(a, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)  # a: soft, gamma = 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_gan_probability_kernels_give_bce_bits(dtype, rng):
    """The GAN losses of probabilities run one-log kernels per fixed target; they
    give binary_cross_entropy's bits against all-ones and all-zeros targets, in
    every entry point, including clipped probabilities (0, 1, eps) and NaN."""
    p = rng.uniform(size=3001).astype(dtype)
    p[:6] = [0.0, 1.0, 1e-9, 1 - 1e-9, np.nan, 0.5]
    ones, zeros = np.ones_like(p), np.zeros_like(p)
    bce = fl.binary_cross_entropy

    def bits(x):  # the bytes, with every NaN as one NaN (its sign and payload are not specified)
        x = np.array(x)
        x[np.isnan(x)] = np.nan
        return x.tobytes()

    with np.errstate(invalid="ignore"):
        for reduction in ("none", "sum", "mean"):
            gen = fl.gan_generator_loss(p, reduction=reduction)
            sat = fl.gan_generator_loss(p, saturating=True, reduction=reduction)
            want = bce(ones, p, reduction=reduction)
            assert bits(gen) == bits(want)
            assert bits(sat) == bits(-bce(zeros, p, reduction=reduction))
        g, h = fl.gan_generator_loss.grad_hess(p, reduction="none")
        bg, bh = bce.grad_hess(ones, p, reduction="none")
        assert bits(g) == bits(bg) and bits(h) == bits(bh)
        (gr, gf), (hr, hf) = fl.gan_discriminator_loss.grad_hess(p, p[::-1].copy(), reduction="sum")
        bgr, bhr = bce.grad_hess(ones, p, reduction="sum")
        bgf, bhf = bce.grad_hess(zeros, p[::-1].copy(), reduction="sum")
        for got, want in ((gr, bgr), (hr, bhr), (gf, bgf), (hf, bhf)):
            np.testing.assert_array_equal(got, 0.5 * want)
        v = fl.gan_discriminator_loss(p[6:], p[6:][::-1].copy())
        want = 0.5 * (float(bce(ones[6:], p[6:])) + float(bce(zeros[6:], p[6:][::-1].copy())))
        assert float(v) == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_gradient_of_hard_targets_is_one_quotient(dtype, rng):
    """The gradient takes one division, N / D; for the hard targets it is exactly
    -pw / q (target 1) and 1 / (1 - q) (target 0), q = clip(p, eps, 1 - eps): the
    expected values are those quotients in NumPy (correctly rounded, in dtype)."""
    n = 4099
    p = rng.uniform(size=n).astype(dtype)
    p[:4] = [0.0, 1.0, 1e-12, 0.5]
    y = (rng.random(n) < 0.5).astype(dtype)
    pw = rng.uniform(0.0, 4.0, size=n).astype(dtype)
    pw[:3] = 0.0
    p[4:8], y[4:8], pw[4:8] = 0.3, [1, 0, 1, 0], 0.0  # pw = 0 inside the clip range: +0 for target 1
    eps = dtype(1e-7)
    q = np.clip(p, eps, dtype(1) - eps)
    with np.errstate(divide="ignore"):
        want = np.where(y == 1, -pw / q, dtype(1) / (dtype(1) - q)) + dtype(0)  # (+ 0: -0 of pw = 0 is +0)
    want[(p < eps) | (p > dtype(1) - eps)] = 0  # the clip is flat there
    got = fl.binary_cross_entropy.grad(y, p, pos_weight=pw, reduction="none")
    assert got.dtype == dtype
    assert got.tobytes() == want.tobytes()
    assert not np.signbit(got[4]) and got[4] == 0 and got[5] == dtype(1) / (dtype(1) - dtype(0.3))
    # soft targets: N / D against the float64 (for float32) or mpmath (for float64) quotient sum
    t = rng.uniform(size=n).astype(dtype)
    got = fl.binary_cross_entropy.grad(t, p, pos_weight=pw, reduction="none")
    if dtype == np.float32:
        q64, t64, pw64 = (a.astype(np.float64) for a in (q, t, pw))
        exact = -pw64 * t64 / q64 + (1 - t64) / (1 - q64)
    else:
        with mpmath.workprec(120):
            exact = np.array([float(-mpmath.mpf(w) * mpmath.mpf(a) / mpmath.mpf(b)
                                    + (1 - mpmath.mpf(a)) / (1 - mpmath.mpf(b))) for w, a, b in zip(pw, t, q)])
    exact[(p < eps) | (p > dtype(1) - eps)] = 0
    # |error| within a few ulp of the larger of the two terms (the cancellation near q = t is in both forms)
    scale_ = np.maximum(np.abs(pw.astype(np.float64) * t / q), np.abs((1 - t) / (1 - q.astype(np.float64))))
    assert np.all(np.abs(got - exact) <= 4 * np.finfo(dtype).eps * scale_ + np.finfo(dtype).tiny)
