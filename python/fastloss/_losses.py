"""The built-in losses: one registration each, with its docstring."""

from __future__ import annotations

import math

import numpy as np

from . import _canonical as c
from . import _core
from ._elementwise import ElementwiseLoss, Kernel, fixed_kernel
from ._gan import GanDiscriminatorLoss, GanGeneratorLoss
from ._rowwise import RowKernel, RowwiseLoss, reduced_kernel
from ._triplet import TripletConfig, TripletLoss, TripletMarginLoss
from . import reference as _reference
from ._loss import Param, clip_eps, flag, non_negative, optional, positive, unit_interval
from ._registry import register

mse = register(ElementwiseLoss, "mse", (), """Mean squared error.

    Penalises the square of the residual ``d = y_true - y_pred``: large errors
    weigh much more than small ones, and the loss is smooth everywhere.

    Formula: ``l = d**2``; ``dl/dp = -2 d``; ``d2l/dp2 = 2``.

    Accuracy (tests/test_accuracy.py, against 50-digit mpmath): within 4 ulp of
    the exact value, gradient and Hessian in float32 and float64 (d is rounded
    once, then squared). Where ``y_true - y_pred`` overflows the dtype, d is +-inf.

    Example::

        >>> fl.mse([6.3], [6.1])   # 0.04 (the seed's example)
""", fixed_kernel("mse"), domain="real")

mae = register(ElementwiseLoss, "mae", (), """Mean absolute error.

    Penalises the absolute residual ``d = y_true - y_pred``: robust to outliers,
    and the minimiser is the median rather than the mean.

    Formula: ``l = |d|``; ``dl/dp = sign(y_pred - y_true)`` (0 at ``d = 0``, NaN
    for NaN); ``d2l/dp2 = 0`` (the kink at 0 has no second derivative; 0 is what
    gradient-boosting libraries expect).

    Accuracy: within 4 ulp (value: one rounding of d; the gradient is exact).

    Example::

        >>> fl.mae([6.3], [6.1])   # 0.2
""", fixed_kernel("mae"), domain="real")

huber = register(ElementwiseLoss, "huber", (Param("delta", 1.0, positive),), """Huber loss.

    Quadratic for small residuals and linear for large ones: the smoothness of
    MSE near the optimum with the outlier-robustness of MAE.

    Formula, with ``d = y_true - y_pred``::

        l = 0.5 d**2                    if |d| <= delta
        l = delta (|d| - 0.5 delta)     otherwise
        dl/dp = -clip(d, -delta, delta);  d2l/dp2 = 1 if |d| <= delta else 0

    Accuracy: within 4 ulp of the exact value and gradient; the Hessian is exact
    except within rounding of |d| = delta, where the rounded residual decides the
    step. Where ``y_true - y_pred`` overflows the dtype, the value is inf.

    Args:
      delta: the residual at which the loss turns linear (finite, > 0; default 1).

    Example::

        >>> fl.huber([6.3], [6.1])   # 0.02

    References: Huber, "Robust Estimation of a Location Parameter", 1964.
""", fixed_kernel("huber"), domain="real")

cauchy = register(ElementwiseLoss, "cauchy", (Param("scale", 1.0, positive),), """Cauchy (Lorentzian) loss.

    ``log(1 + r**2)`` with ``r = (y_true - y_pred) / scale``: quadratic near 0
    and only logarithmic for large residuals, so outliers barely pull the fit.
    This is the seed's custom loss; the seed sums it (``reduction="sum"``).

    Formula::

        l = log1p(r**2)
        dl/dp = -2 r / (scale (1 + r**2))
        d2l/dp2 = 2 (1 - r**2) / (scale**2 (1 + r**2)**2)

    computed through ``log1p`` (accurate for small residuals), with ``r**2``
    formed to about half an ulp before it (where it is a normal number): with
    the rounding error of ``y - p`` (two-sum) carried along, and for float64
    data that of the square (an exact product) too; float32 data with a scale
    that is not a power of two, or on a CPU without fma, take float64
    arithmetic instead. The float32 log1p is fastloss's own (1.06 ulp, 16 lanes
    to an AVX-512 vector; glibc's vector log1pf is 1.95 ulp off and took 1.4x
    the time). The derivatives never overflow (once r**2 does, they are their
    limit, 0). The value becomes inf, as NumPy's, only where r**2 overflows
    float64 (|r| > 1.3e154). For float32 data it stays finite where r**2 is
    past float32's range (|r| > 1.8e19, where NumPy's and PyTorch's float32 give
    inf): a block of elements in which the value came out inf or NaN (where
    ``y - p`` overflows float32; also a NaN input, so that a block with one
    costs twice) is computed again with r**2 in float64, scaled by its power of
    two where it is past float32's range, before the float32 log1p (other
    blocks pay only the check).

    Accuracy: value within 4 ulp (2.3 ulp measured in float64, 1.3 in float32), gradient
    within 4 ulp. The float32 Hessian is float64 arithmetic rounded once (within
    1 ulp, also where r**2 overflows float32); the float64 Hessian is within 6 ulp
    of ``2 (1 + r**2) / (c**2 (1 + r**2)**2)`` (its two terms' magnitudes: near
    r = 1 the difference 1 - r**2 inherits r's two roundings, (y - p) and / c).
    Where r**2 overflows float64, the value is inf (above) and the float64 Hessian its
    limit 0 (|hess| < 2 / (c**2 max)); where r overflows, the gradient is 0
    (|grad| < 2 / (c max)).

    Scales that are powers of two in [2**-126, 2**126] (the default 1) run a
    kernel of their own, in which r = (y - p) * (1 / c) is exact: in float64 the
    same results (more accurate ones where r**2 is subnormal, |y - p| < 2**-511
    scale) in 13% less time (1.71 -> 1.47 ms at 1e6 on one thread); in float32
    r**2 in float arithmetic, within the same bounds, where other scales take
    float64.

    Args:
      scale: the residual scale ``c`` (finite, > 0; default 1).

    Example::

        >>> fl.cauchy([6.3], [6.1], reduction="sum")   # 0.0392207
""", lambda scale: Kernel(_core.cauchy_pow2 if math.frexp(scale)[0] == 0.5 and 2.0**-126 <= scale <= 2.0**126
                          else _core.cauchy,
                          (scale,)), domain="real")


def _weights(name: str, value) -> np.ndarray:
    """A scalar or array of finite, non-negative weights, as float64."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad = np.flatnonzero(~(np.isfinite(a) & (a >= 0)).reshape(-1))
    if bad.size:
        raise ValueError(f"{name} must be finite and non-negative; found {a.reshape(-1)[bad[0]].item()!r} "
                         f"at flat position {int(bad[0])}")
    return a


def _bce_kernel(from_logits, pos_weight, label_smoothing, eps):
    if from_logits:
        return Kernel(_core.binary_cross_entropy_logits, (eps, label_smoothing),
                      c.ONE if pos_weight is None else pos_weight, ("y_true",))
    return Kernel(_core.binary_cross_entropy, (eps, label_smoothing),
                  c.ONE if pos_weight is None else pos_weight, ("y_true", "y_pred"))


binary_cross_entropy = register(ElementwiseLoss, "binary_cross_entropy", (
    Param("from_logits", False, flag),
    Param("pos_weight", None, optional(_weights)),
    Param("label_smoothing", 0.0, unit_interval),
    Param("eps", 1e-7, clip_eps),
), """Binary cross-entropy (log loss).

    The negative log-likelihood of Bernoulli targets ``y_true`` in [0, 1] under
    predicted probabilities ``y_pred`` (or logits, with ``from_logits=True``).

    Formula::

        probabilities: -[pw y log p + (1 - y) log(1 - p)],  p clipped to [eps, 1 - eps]
        logits z:      pw y softplus(-z) + (1 - y) softplus(z)
                       = max(z, 0) - z y + log1p(exp(-|z|))   (pw = 1)
        dl/dz = (1 - y) sigmoid(z) - pw y sigmoid(-z);  d2l/dz2 = (pw y + 1 - y) sigmoid(z) sigmoid(-z)
        dl/dp = -pw y / p + (1 - y) / (1 - p);  d2l/dp2 = pw y / p**2 + (1 - y) / (1 - p)**2

    The logit form never exponentiates a positive number, so it is finite for
    logits of any size. Clipping bounds are taken in the computing dtype (as
    Keras); outside them the probability form's derivatives are 0.

    Args:
      from_logits: ``y_pred`` holds logits; derivatives are then with respect to them.
      pos_weight: weight of the positive term, a scalar or an array broadcastable
        to the inputs (one weight per output, as PyTorch allows); finite, >= 0.
      label_smoothing: ``y <- y (1 - s) + s / 2``, s in [0, 1].
      eps: probability clipping bound, in (0, 0.5).

    Raises ValueError when ``y_true`` (or, for probabilities, ``y_pred``) lies
    outside [0, 1], naming the value and its position; the check runs in the
    same pass as the computation.

    Accuracy (against 50-digit mpmath, on the clipped probability): within 4 ulp
    (probabilities) and 4 ulp, Hessian 6 ulp (logits: e / (1 + e)**2 with
    e = exp(-|z|), the rounding of 1 + e taken back), in float32 and float64.
    For float32 logits, e = exp(-|z|) is fastloss's own inline float function
    (within 0.98 ulp over every float <= 0; libmvec's expf is up to 2.6 ulp
    off), and so is softplus's log1p(e) (a fitted polynomial in float
    arithmetic: within 0.99 ulp over every float32 e in [0, 1], 1.03 on CPUs
    without fma). libmvec's float32 log1p is up to 2 ulp off, and with it
    values with a pos_weight of 3 reached 4.9 ulp; with fastloss's they reach
    2.8 ulp (200,000 random inputs), as with an earlier float64 version within
    0.504 ulp that took 1.25x the time on an Intel Xeon. The gradient of soft
    labels is a difference, ``(1 - y) s(z) - pw y s(-z)``: measured in ulp of
    the sum of its terms' magnitudes. With label smoothing s, the smoothed target
    t is rounded in the dtype and 1 - t >= s / 2 carries that rounding relatively:
    2 / s ulp more (12 ulp for s = 0.25).

    Example::

        >>> fl.binary_cross_entropy([1.0], [0.8])   # 0.2231436 (the seed's 0.223)
""", _bce_kernel, domain="binary")


def _focal_kernel(alpha, gamma, from_logits, eps):
    params = (alpha is not None, 0.0 if alpha is None else alpha, gamma, eps)
    # the default gamma = 2 has its own kernels, m * m instead of the vector pow
    square = float(gamma) == 2.0
    if from_logits:
        return Kernel(_core.focal_loss_logits_gamma2 if square else _core.focal_loss_logits, params, None,
                      ("y_true",))
    return Kernel(_core.focal_loss_gamma2 if square else _core.focal_loss, params, None, ("y_true", "y_pred"))


focal_loss = register(ElementwiseLoss, "focal_loss", (
    Param("alpha", 0.25, optional(unit_interval)),
    Param("gamma", 2.0, non_negative),
    Param("from_logits", False, flag),
    Param("eps", 1e-7, clip_eps),
), """Binary focal loss (Lin et al.).

    Cross-entropy scaled down for examples that are already well classified,
    so that training concentrates on the hard ones.

    Formula, with p_t = p y + (1 - p)(1 - y) and alpha_t = alpha y + (1 - alpha)(1 - y)::

        l = alpha_t (1 - p_t)**gamma BCE(y, p)

    which is the paper's ``-alpha_t (1 - p_t)**gamma log p_t`` for labels 0 and 1;
    for soft labels it is Keras's ``binary_focal_crossentropy``, so that
    ``gamma=0, alpha=None`` is exactly ``binary_cross_entropy``. With logits
    everything is computed from softplus and sigmoid pieces (log space): value,
    gradient and Hessian are finite for logits up to +-1e9.

    Args:
      alpha: weight of the positive class, in [0, 1]; None for no weighting.
      gamma: focusing parameter, >= 0. The default 2 runs its own kernel
        (``(1 - p_t)**2`` as a product, 2.5x faster than the general power).
      from_logits: ``y_pred`` holds logits.
      eps: probability clipping bound, in (0, 0.5).

    Note: the seed's figure for p_t = 0.9, alpha = 0.25, gamma = 2 (0.001) is the
    value without alpha (0.00105); with alpha it is 0.0002634.

    Accuracy (against 50-digit mpmath): ``(1 - p_t)**gamma`` multiplies the
    relative rounding of 1 - p_t by gamma, so the bound grows with gamma:
    probabilities within 6 + 2 gamma ulp (10 for gamma = 2), logits within
    8 + 3 gamma ulp (14), value, gradient and Hessian, float32 and float64. For
    soft labels the derivatives are differences of terms, measured in ulp of
    the terms' magnitudes. Where sigmoid(-|z|) is subnormal (|z| > 87.3 in
    float32, 708.4 in float64) the logit Hessian carries the subnormal's absolute
    precision: (gamma + 1)**2 |z| ulp more there.

    Example::

        >>> fl.focal_loss([1.0], [0.9])   # 0.0002634

    References: Lin et al., "Focal Loss for Dense Object Detection", 2017.
""", _focal_kernel, domain="binary")


def _gan_kernel(**values):
    """Whether the generator loss is the saturating form, and the configuration of
    binary_cross_entropy for these parameters against each fixed target, {1.0: ...,
    0.0: ...}: for probabilities, the kernels with one log (-log p, -log1p(-p)) that
    give BCE's bits for these targets; for logits, BCE's own."""
    saturating = values.pop("saturating", False)
    bce = binary_cross_entropy._params(values)
    if values["from_logits"]:
        return saturating, {1.0: bce, 0.0: bce}
    return saturating, {1.0: Kernel(_core.bce_target1, bce.params, None, bce.unit_interval),
                        0.0: Kernel(_core.bce_target0, bce.params, None, bce.unit_interval)}


gan_discriminator_loss = register(GanDiscriminatorLoss, "gan_discriminator_loss", (
    Param("from_logits", False, flag),
    Param("eps", 1e-7, clip_eps),
), """GAN discriminator loss (Goodfellow et al.).

    The discriminator's cross-entropy for telling real samples (target 1) from
    generated ones (target 0): ``-1/2 [log D(x) + log(1 - D(G(z)))]``.

    Formula::

        mean: -1/2 [mean(log D(x)) + mean(log(1 - D(G(z))))]
        grad: (-1/2 d/dD log D(x) / n_real, -1/2 d/dD log(1 - D(G(z))) / n_fake)

    Each half is averaged over its own batch, so ``d_real`` and ``d_fake`` may
    differ in size (``reduction="none"`` needs one shape and returns the
    elementwise ``-1/2 [log D(x) + log(1 - D(G(z)))]``). Gradients and Hessians
    are pairs, one per input. Computed by the binary cross-entropy kernels,
    with probabilities clipped to [eps, 1 - eps] or, with ``from_logits=True``,
    in the stable softplus form.

    Accuracy: as ``binary_cross_entropy`` (4 ulp; logit Hessians 6 ulp).

    Args:
      from_logits: the inputs are logits.
      eps: probability clipping bound, in (0, 0.5).

    Example::

        >>> fl.gan_discriminator_loss([0.9], [0.1])   # 0.1053605

    References: Goodfellow et al., "Generative Adversarial Nets", 2014.
""", _gan_kernel, domain="gan", bce=binary_cross_entropy)

gan_generator_loss = register(GanGeneratorLoss, "gan_generator_loss", (
    Param("from_logits", False, flag),
    Param("saturating", False, flag),
    Param("eps", 1e-7, clip_eps),
), """GAN generator loss.

    Non-saturating (default): ``-log D(G(z))``, which keeps strong gradients
    when the discriminator wins; ``saturating=True``: the original minimax
    ``log(1 - D(G(z)))``.

    Formula::

        non-saturating: -log D = BCE(1, D);   saturating: log(1 - D) = -BCE(0, D)

    Accuracy: as ``binary_cross_entropy`` (4 ulp; logit Hessians 6 ulp).

    Args:
      from_logits: ``d_fake`` holds logits.
      saturating: use the minimax form.
      eps: probability clipping bound, in (0, 0.5).

    Example::

        >>> fl.gan_generator_loss([0.1])   # -log 0.1 = 2.3025851
""", _gan_kernel, domain="gan", bce=binary_cross_entropy)


def _axis(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def _class_weight(name: str, value) -> np.ndarray:
    a = _weights(name, value)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array with one weight per class, got shape {a.shape}")
    return a


def _label(name: str, value) -> int:
    v = _axis(name, value)
    if not -(2**63) <= v < 2**63:
        raise ValueError(f"{name} must fit in int64, got {value!r}")
    return v


def _cce_kernel(from_logits, axis, label_smoothing, class_weight, eps):
    fn = _core.categorical_cross_entropy_logits if from_logits else _core.categorical_cross_entropy
    return RowKernel(fn, False, axis, label_smoothing, eps, None, class_weight, () if from_logits else ("y_pred",),
                     reduced_kernel(fn, axis, class_weight))


def _sparse_kernel(from_logits, axis, ignore_index, class_weight, label_smoothing, eps):
    fn = (_core.sparse_categorical_cross_entropy_logits if from_logits
          else _core.sparse_categorical_cross_entropy)
    return RowKernel(fn, True, axis, label_smoothing, eps, ignore_index, class_weight,
                     () if from_logits else ("y_pred",), reduced_kernel(fn, axis, class_weight))


def _kl_kernel(from_logits, axis, eps):
    fn = _core.kl_divergence_logits if from_logits else _core.kl_divergence
    return RowKernel(fn, False, axis, 0.0, eps, None, None, ("y_true",) if from_logits else ("y_true", "y_pred"),
                     reduced_kernel(fn, axis, None))


categorical_cross_entropy = register(RowwiseLoss, "categorical_cross_entropy", (
    Param("from_logits", False, flag),
    Param("axis", -1, _axis),
    Param("label_smoothing", 0.0, unit_interval),
    Param("class_weight", None, optional(_class_weight)),
    Param("eps", 1e-7, clip_eps),
), """Categorical cross-entropy.

    The negative log-likelihood of target distributions ``y_true`` (one-hot or
    soft) under predicted class probabilities ``y_pred`` (or logits, with
    ``from_logits=True``) along the class axis ``axis``.

    Formula, per example, with t = y (1 - s) + s / C (label smoothing s) and
    class weights w_c (1 without)::

        logits z:       sum_c w_c t_c (logsumexp(z) - z_c)
        probabilities:  -sum_c w_c t_c log clip(p_c, eps, 1)
        dl/dz_c = A softmax(z)_c - w_c t_c,  A = sum_c w_c t_c;   d2l/dz_c2 = A p_c (1 - p_c)
        dl/dp_c = -w_c t_c / p_c;  d2l/dp_c2 = w_c t_c / p_c**2   (0 where clipped)

    Logits go through log-sum-exp with the max subtracted, written so that no
    digits cancel (logits like [1000, 1001, 1002] are exact in float32 too);
    a class with target 0 contributes 0 even when its logit is -inf.
    Probabilities are not renormalised (as Keras with ``from_logits=False`` on
    normalised input); negative ones raise ValueError.

    ``reduction="mean"`` averages over examples; with ``class_weight`` it
    divides by ``sum_i sum_c w_c y_ic`` (targets before smoothing), as PyTorch
    does for class indices, so that one-hot targets give exactly
    ``sparse_categorical_cross_entropy``. (PyTorch divides soft-target weighted
    losses by the number of examples instead.)

    Args:
      from_logits: ``y_pred`` holds logits; derivatives are then with respect to them.
      axis: the class axis of ``y_pred`` (``y_true`` has the same shape).
        (N, C) uses -1; (N, C, H, W) segmentation maps use 1; a 1-D input is one example.
      label_smoothing: s in [0, 1].
      class_weight: one finite, non-negative weight per class.
      eps: probability clipping bound, in (0, 0.5).

    Accuracy (against 50-digit mpmath): the C terms of an example are summed in
    the dtype, so the value is within 4 + (C - 1) / 2 ulp of the sum of their
    magnitudes; derivatives within the same bound. Logits are shifted by their
    row's maximum in the dtype before exp, and exp(z_c - max z) inherits the
    rounding of that shift: 2 |z_c - max z| ulp more (the largest shift in the
    row whose exp is not 0). The logit gradient ``A p_c - a_c`` and Hessian
    ``A p_c (1 - p_c)`` are differences, measured in ulp of their terms' magnitudes.
    For float32 logits, exp is fastloss's own inline float function (within
    0.98 ulp over every float <= 0; libmvec's expf is up to 2.6 ulp off).

    Example::

        >>> fl.categorical_cross_entropy([1, 0, 0], [0.7, 0.2, 0.1])   # 0.3566749
""", _cce_kernel, domain="categorical")

sparse_categorical_cross_entropy = register(RowwiseLoss, "sparse_categorical_cross_entropy", (
    Param("from_logits", False, flag),
    Param("axis", -1, _axis),
    Param("ignore_index", None, optional(_label)),
    Param("class_weight", None, optional(_class_weight)),
    Param("label_smoothing", 0.0, unit_interval),
    Param("eps", 1e-7, clip_eps),
), """Sparse categorical cross-entropy: class labels instead of one-hot targets.

    ``categorical_cross_entropy`` with the one-hot target of each integer
    label; without smoothing only the label's logit (and the log-sum-exp) or
    probability enters.

    Formula, per example with label k::

        logits z:       w_k (logsumexp(z) - z_k)       (no smoothing)
        probabilities:  -w_k log clip(p_k, eps, 1)
        dl/dz_c = w_k softmax(z)_c - w_k [c == k]

    Labels: an integer array of any width (or floats holding whole numbers) of
    ``y_pred``'s shape without the class axis. A label outside [0, C) that is
    not ``ignore_index`` raises IndexError naming the label and its position,
    before anything is written (a mean or sum, which writes nothing, checks the
    labels during the kernel's pass over them and raises after it). Ignored
    examples contribute 0 to the loss and leave the mean's denominator;
    ``reduction="mean"`` with ``class_weight`` divides by the sum of the
    labels' class weights (PyTorch's semantics).

    Only the probabilities that enter the loss are read, and checked: without
    label smoothing, the label's probability of each counted example (as
    PyTorch's ``nll_loss`` and a ``take_along_axis`` in NumPy or JAX read them);
    with smoothing, all of a counted example's. A negative one is a ValueError
    naming its position; one elsewhere (another class, an ignored example) is
    not looked at, since it cannot change the result. Reading all N x C
    probabilities to check them would cost a pass over memory that the loss,
    one gather and one log per example, does not need (1000 times the data
    for 1000 classes). ``categorical_cross_entropy`` reads, and checks, every
    probability.

    Args:
      from_logits: ``y_pred`` holds logits.
      axis: the class axis of ``y_pred``.
      ignore_index: a label value to skip (for example -100, as PyTorch uses), or None.
      class_weight: one finite, non-negative weight per class.
      label_smoothing: s in [0, 1]; targets ``(1 - s) one_hot + s / C``.
      eps: probability clipping bound, in (0, 0.5).

    Accuracy: as ``categorical_cross_entropy``.

    Example::

        >>> fl.sparse_categorical_cross_entropy(0, [0.7, 0.2, 0.1])   # 0.3566749
""", _sparse_kernel, domain="sparse")

kl_divergence = register(RowwiseLoss, "kl_divergence", (
    Param("from_logits", False, flag),
    Param("axis", -1, _axis),
    Param("eps", 1e-7, clip_eps),
), """Kullback-Leibler divergence KL(P || Q) of ``y_true`` = P from ``y_pred`` = Q.

    How much information is lost when Q is used to approximate P.

    Formula, per example::

        sum_c P_c log(P_c / Q_c),   Q clipped to [eps, 1] (or Q = softmax(z) with from_logits=True)
        dl/dQ_c = -P_c / Q_c;   dl/dz_c = (sum P) softmax(z)_c - P_c

    Terms with P_c = 0 are 0 (value and gradient). Negative probabilities raise
    ValueError. ``reduction="mean"`` averages over examples (PyTorch's
    ``batchmean``, Keras's and optax's convention); a 1-D input is one example.

    Erratum: the seed's figure for P = [0.4, 0.6], Q = [0.5, 0.5] (0.018) is
    wrong; the value is 0.0201356, as Keras, optax and PyTorch (on a (1, 2)
    input) agree.

    Accuracy: as ``categorical_cross_entropy``; each term P_c (log P_c - log Q_c)
    is measured in ulp of ``P_c (|log P_c| + |log Q_c|)`` for logits (the two logs
    are rounded apart; with probabilities one log of r = P_c / Q_c in the data's
    dtype, with the remainder P_c - r Q_c carried exactly, as P_c log r + (P_c -
    r Q_c), keeps a small divergence's digits, in ulp of sum_c |P_c log(P_c / Q_c)|).

    Args:
      from_logits: ``y_pred`` holds logits of Q.
      axis: the class axis.
      eps: clipping bound of Q, in (0, 0.5).

    Example::

        >>> fl.kl_divergence([0.4, 0.6], [0.5, 0.5])   # 0.0201356
""", _kl_kernel, domain="categorical")


def _finite(name: str, value) -> float:
    v = float(_axis_free_number(name, value))
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _axis_free_number(name: str, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return value


def _triplet_config(margin, p, squared, eps, swap):
    return TripletConfig(margin, p, squared, eps, swap)


triplet_loss = register(TripletLoss, "triplet_loss", (
    Param("margin", 1.0, _finite),
    Param("p", 2.0, positive),
    Param("squared", False, flag),
    Param("eps", 1e-6, non_negative),
    Param("swap", False, flag),
), """Triplet margin loss on embeddings (Schroff et al., FaceNet).

    Pulls each anchor towards its positive and pushes it from its negative
    until the negative is at least ``margin`` farther away.

    Formula, per example, with embeddings along the last axis::

        D(x, y) = ||x - y + eps||_p          (PyTorch's pairwise_distance; squared=True: its square)
        l = max(D(a, p) - D(a, n) + margin, 0)
        swap=True: D(a, n) <- min(D(a, n), D(p, n))   (Balntas et al.)

    so results match ``torch.nn.functional.triplet_margin_loss``. Gradients and
    Hessian diagonals come for all three inputs (a tuple), 0 where the hinge is
    inactive; for p = 2, dD/da = (a - p + eps) / D.

    Accuracy (p = 2, against 50-digit mpmath): value within 4 ulp of
    ``D(a, p) + D(a, n) + |margin|`` (the hinge is a difference), gradients and
    Hessian diagonals within 4 ulp (differences, such as the anchor's gradient and
    ``(D**2 - v_k**2) / D**3``, in ulp of their terms' magnitudes).

    Args:
      margin: the required gap (finite).
      p: the norm's degree (> 0).
      squared: use squared distances.
      eps: added to each component of the difference (>= 0).
      swap: the distance swap.

    Example::

        >>> fl.triplet_loss([[0.0, 0.0]], [[0.3, 0.4]], [[1.0, 0.0]], margin=0.2)   # max(0.5 - 1 + 0.2, 0) = 0
""", _triplet_config, domain="triplet")


def _triplet_margin_kernel(margin):
    return Kernel(_core.triplet_margin, (margin,))


triplet_margin = register(TripletMarginLoss, "triplet_margin", (
    Param("margin", 1.0, _finite),
), """Triplet margin loss on precomputed distances.

    ``max(d_pos - d_neg + margin, 0)``: the hinge of ``triplet_loss`` when the
    distances d(a, p) and d(a, n) are already known.

    Formula::

        l = max(d_pos - d_neg + margin, 0);  dl/dd_pos = 1, dl/dd_neg = -1 where active, else 0

    Gradients are a pair (d_pos, d_neg); Hessians are 0.

    Accuracy: the value within 4 ulp of ``d_pos + d_neg + |margin|`` (a difference);
    the gradient is exact except within rounding of the hinge.

    Args:
      margin: the required gap (finite).

    Example::

        >>> fl.triplet_margin([0.5], [1.0], margin=0.2)   # 0 (the seed's example)
""", _triplet_margin_kernel, domain="distances",
    elementwise=ElementwiseLoss("triplet_margin", (Param("margin", 1.0, _finite),),
                                _reference.triplet_margin_hinge, "", _triplet_margin_kernel))
