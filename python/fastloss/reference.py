"""Plain-NumPy references of every fastloss loss.

Each function computes the loss value in float64 with the most direct NumPy
code, with the same signature and the same ``reduction`` and
``sample_weight`` semantics as the fast loss of the same name. They are slow
and obviously correct: the tests, the benchmarks and ``Loss.reference`` use
them. Results are always float64 (a scalar for ``"mean"``/``"sum"``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mse", "mae", "huber", "cauchy"]


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
