"""Plain-NumPy references of every fastloss loss.

Each function computes the loss value in float64 with the most direct NumPy
code, with the same signature and the same ``reduction`` and
``sample_weight`` semantics as the fast loss of the same name. They are slow
and obviously correct: the tests, the benchmarks and ``Loss.reference`` use
them. Results are always float64 (a scalar for ``"mean"``/``"sum"``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mse", "mae", "huber", "cauchy", "binary_cross_entropy", "focal_loss", "gan_discriminator_loss",
           "gan_generator_loss", "categorical_cross_entropy", "sparse_categorical_cross_entropy", "kl_divergence",
           "triplet_loss", "triplet_margin"]


def _f64(x) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def _reduce(loss: np.ndarray, reduction: str, sample_weight) -> np.ndarray | np.float64:
    if sample_weight is not None:
        w = np.broadcast_to(_f64(sample_weight), np.broadcast_shapes(np.shape(sample_weight), loss.shape))
        loss = w * loss
        if reduction == "mean":
            return np.float64(loss.sum() / w.sum())
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.float64(loss.sum())
    return np.float64(loss.mean())


def mse(y_true, y_pred, *, reduction="mean", sample_weight=None):
    d = _f64(y_true) - _f64(y_pred)
    return _reduce(d**2, reduction, sample_weight)


def mae(y_true, y_pred, *, reduction="mean", sample_weight=None):
    d = _f64(y_true) - _f64(y_pred)
    return _reduce(np.abs(d), reduction, sample_weight)


def huber(y_true, y_pred, *, delta=1.0, reduction="mean", sample_weight=None):
    d = _f64(y_true) - _f64(y_pred)
    a = np.abs(d)
    return _reduce(np.where(a <= delta, 0.5 * d**2, delta * (a - 0.5 * delta)), reduction, sample_weight)


def cauchy(y_true, y_pred, *, scale=1.0, reduction="mean", sample_weight=None):
    r = (_f64(y_true) - _f64(y_pred)) / scale
    return _reduce(np.log1p(r**2), reduction, sample_weight)


def _clip(p, eps):
    return np.clip(p, eps, 1 - eps)


def binary_cross_entropy(y_true, y_pred, *, from_logits=False, pos_weight=None, label_smoothing=0.0,
                         eps=1e-7, reduction="mean", sample_weight=None):
    y = _f64(y_true) * (1 - label_smoothing) + label_smoothing / 2
    pw = 1.0 if pos_weight is None else _f64(pos_weight)
    z = _f64(y_pred)
    if from_logits:
        # log sigmoid(z) = -softplus(-z) = -(max(-z, 0) + log1p(exp(-|z|)))
        log_p = -(np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z))))
        log_1mp = -(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))
    else:
        p = _clip(z, eps)
        log_p, log_1mp = np.log(p), np.log1p(-p)
    return _reduce(-(pw * y * log_p + (1 - y) * log_1mp), reduction, sample_weight)


def focal_loss(y_true, y_pred, *, alpha=0.25, gamma=2.0, from_logits=False, eps=1e-7, reduction="mean",
               sample_weight=None):
    y = _f64(y_true)
    z = _f64(y_pred)
    if from_logits:
        with np.errstate(over="ignore"):
            p, one_minus_p = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(z))  # sigmoid(z), sigmoid(-z)
        # y softplus(-z) + (1 - y) softplus(z), as in binary_cross_entropy: the form
        # max(z, 0) - z y + log1p(exp(-|z|)) gives inf - inf = NaN at z = +inf, y < 1,
        # where the loss is +inf
        log1p_e = np.log1p(np.exp(-np.abs(z)))
        bce = y * (np.maximum(-z, 0) + log1p_e) + (1 - y) * (np.maximum(z, 0) + log1p_e)
    else:
        p = _clip(z, eps)
        one_minus_p = 1 - p
        bce = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    one_minus_p_t = one_minus_p * y + p * (1 - y)  # 1 - p_t, without cancellation
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return _reduce(alpha_t * one_minus_p_t**gamma * bce, reduction, sample_weight)


def gan_discriminator_loss(d_real, d_fake, *, from_logits=False, eps=1e-7, reduction="mean", sample_weight=None):
    kw = dict(from_logits=from_logits, eps=eps, reduction=reduction, sample_weight=sample_weight)
    real = binary_cross_entropy(np.ones(np.shape(d_real)), d_real, **kw)
    fake = binary_cross_entropy(np.zeros(np.shape(d_fake)), d_fake, **kw)
    return 0.5 * (real + fake)


def gan_generator_loss(d_fake, *, from_logits=False, saturating=False, eps=1e-7, reduction="mean",
                       sample_weight=None):
    kw = dict(from_logits=from_logits, eps=eps, reduction=reduction, sample_weight=sample_weight)
    if saturating:
        return -binary_cross_entropy(np.zeros(np.shape(d_fake)), d_fake, **kw)
    return binary_cross_entropy(np.ones(np.shape(d_fake)), d_fake, **kw)


def _classes_last(a, axis):
    return np.moveaxis(_f64(a), axis, -1)


def _log_softmax(z):
    if z.shape[-1] == 0:  # no classes: nothing to normalise
        return z
    m = np.max(z, axis=-1, keepdims=True)
    # log(sum exp(z - m)) = log1p(the sum without one of the maxima): log of the rounded
    # sum 1 + s would lose s's digits (5e-12 relative for [11, 0]).
    e = np.exp(z - m)
    np.put_along_axis(e, np.argmax(z, axis=-1)[..., None], 0.0, axis=-1)
    return z - m - np.log1p(np.sum(e, axis=-1, keepdims=True))


def _weighted_mean_rows(loss, reduction, sample_weight, denominator_weights):
    """Reduce per-example losses; the mean divides by sum(w * denominator_weights)."""
    w = np.ones(loss.shape) if sample_weight is None else np.broadcast_to(_f64(sample_weight), loss.shape)
    if reduction == "none":
        return w * loss
    if reduction == "sum":
        return np.float64((w * loss).sum())
    return np.float64((w * loss).sum() / (w * denominator_weights).sum())


def categorical_cross_entropy(y_true, y_pred, *, from_logits=False, axis=-1, label_smoothing=0.0, class_weight=None,
                              eps=1e-7, reduction="mean", sample_weight=None):
    y = _classes_last(y_true, axis)
    z = _classes_last(y_pred, axis)
    y, z = np.broadcast_arrays(y, z)
    classes = z.shape[-1]
    cw = np.ones(classes) if class_weight is None else _f64(class_weight)
    t = y * (1 - label_smoothing) + (label_smoothing / classes if classes else 0.0)  # no classes: no terms
    log_p = _log_softmax(z) if from_logits else np.log(np.clip(z, eps, 1.0))
    terms = np.where(cw * t == 0, 0.0, -cw * t * log_p)  # a zero target contributes 0, even at log 0
    denominator = np.ones(z.shape[:-1]) if class_weight is None else (cw * y).sum(axis=-1)
    return _weighted_mean_rows(terms.sum(axis=-1), reduction, sample_weight, denominator)


def sparse_categorical_cross_entropy(y_true, y_pred, *, from_logits=False, axis=-1, ignore_index=None,
                                     class_weight=None, label_smoothing=0.0, eps=1e-7, reduction="mean",
                                     sample_weight=None):
    labels = np.asarray(y_true).astype(np.int64)
    classes = np.shape(y_pred)[axis % np.ndim(y_pred)]
    keep = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    one_hot = np.moveaxis((np.arange(classes) == np.where(keep, labels, 0)[..., None]) * keep[..., None], -1,
                          axis % np.ndim(y_pred))
    loss = categorical_cross_entropy(one_hot.astype(np.float64), y_pred, from_logits=from_logits, axis=axis,
                                     label_smoothing=label_smoothing, class_weight=class_weight, eps=eps,
                                     reduction="none")
    loss = np.where(keep, loss, 0.0)
    cw = np.ones(classes) if class_weight is None else _f64(class_weight)
    denominator = np.where(keep, cw[np.where(keep, labels, 0)], 0.0)
    return _weighted_mean_rows(loss, reduction, sample_weight, denominator)


def kl_divergence(y_true, y_pred, *, from_logits=False, axis=-1, eps=1e-7, reduction="mean", sample_weight=None):
    p = _classes_last(y_true, axis)
    z = _classes_last(y_pred, axis)
    log_q = _log_softmax(z) if from_logits else np.log(np.clip(z, eps, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p == 0, 0.0, p * (np.log(p) - log_q))
    loss = terms.sum(axis=-1)
    return _weighted_mean_rows(loss, reduction, sample_weight, np.ones(loss.shape))


def _distance(x, y, p, eps, squared):
    d = np.sum(np.abs(x - y + eps) ** p, axis=-1) ** (1.0 / p)
    return d**2 if squared else d


def triplet_loss(anchor, positive, negative, *, margin=1.0, p=2.0, squared=False, eps=1e-6, swap=False,
                 reduction="mean", sample_weight=None):
    a, pos, neg = np.broadcast_arrays(_f64(anchor), _f64(positive), _f64(negative))
    d_pos = _distance(a, pos, p, eps, squared)
    d_neg = _distance(a, neg, p, eps, squared)
    if swap:
        d_neg = np.minimum(d_neg, _distance(pos, neg, p, eps, squared))
    return _reduce(np.maximum(d_pos - d_neg + margin, 0.0), reduction, sample_weight)


def triplet_margin(d_pos, d_neg, *, margin=1.0, reduction="mean", sample_weight=None):
    return _reduce(np.maximum(_f64(d_pos) - _f64(d_neg) + margin, 0.0), reduction, sample_weight)


def triplet_margin_hinge(d_neg, d_pos, *, margin=1.0, reduction="mean", sample_weight=None):
    """triplet_margin with the arguments in the elementwise kernel's order (y = d_neg, p = d_pos)."""
    return triplet_margin(d_pos, d_neg, margin=margin, reduction=reduction, sample_weight=sample_weight)
