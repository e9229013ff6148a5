"""The built-in losses: one registration each, with its docstring."""

from __future__ import annotations

from ._elementwise import ElementwiseLoss
from ._loss import Param, positive
from ._registry import register

mse = register(ElementwiseLoss, "mse", (), """Mean squared error.

    Penalises the square of the residual ``d = y_true - y_pred``: large errors
    weigh much more than small ones, and the loss is smooth everywhere.

    Formula: ``l = d**2``; ``dl/dp = -2 d``; ``d2l/dp2 = 2``.

    Example::

        >>> fl.mse([6.3], [6.1])   # 0.04 (the seed's example)
""", domain="real")

mae = register(ElementwiseLoss, "mae", (), """Mean absolute error.

    Penalises the absolute residual ``d = y_true - y_pred``: robust to outliers,
    and the minimiser is the median rather than the mean.

    Formula: ``l = |d|``; ``dl/dp = sign(y_pred - y_true)`` (0 at ``d = 0``, NaN
    for NaN); ``d2l/dp2 = 0`` (the kink at 0 has no second derivative; 0 is what
    gradient-boosting libraries expect).

    Example::

        >>> fl.mae([6.3], [6.1])   # 0.2
""", domain="real")

huber = register(ElementwiseLoss, "huber", (Param("delta", 1.0, positive),), """Huber loss.

    Quadratic for small residuals and linear for large ones: the smoothness of
    MSE near the optimum with the outlier-robustness of MAE.

    Formula, with ``d = y_true - y_pred``::

        l = 0.5 d**2                    if |d| <= delta
        l = delta (|d| - 0.5 delta)     otherwise
        dl/dp = -clip(d, -delta, delta);  d2l/dp2 = 1 if |d| <= delta else 0

    Args:
      delta: the residual at which the loss turns linear (finite, > 0; default 1).

    Example::

        >>> fl.huber([6.3], [6.1])   # 0.02

    References: Huber, "Robust Estimation of a Location Parameter", 1964.
""", domain="real")

cauchy = register(ElementwiseLoss, "cauchy", (Param("scale", 1.0, positive),), """Cauchy (Lorentzian) loss.

    ``log(1 + r**2)`` with ``r = (y_true - y_pred) / scale``: quadratic near 0
    and only logarithmic for large residuals, so outliers barely pull the fit.
    This is the seed's custom loss; the seed sums it (``reduction="sum"``).

    Formula::

        l = log1p(r**2)
        dl/dp = -2 r / (scale (1 + r**2))
        d2l/dp2 = 2 (1 - r**2) / (scale**2 (1 + r**2)**2)

    computed through ``log1p`` (accurate for small residuals) and without
    overflow for large ones (where the derivatives are their limit, 0).

    Args:
      scale: the residual scale ``c`` (finite, > 0; default 1).

    Example::

        >>> fl.cauchy([6.3], [6.1], reduction="sum")   # 0.0392207
""", domain="real")
