"""fastloss: deep-learning loss functions as fast, exact, NumPy-native kernels.

Every loss is a ``Loss`` object: ``fl.huber(y_true, y_pred)`` gives the value,
``.grad``, ``.value_and_grad`` and ``.grad_hess`` the derivatives with respect
to ``y_pred`` in one fused pass, ``.reference`` the plain-NumPy reference.
"""

from __future__ import annotations

try:
    from . import _core
except ImportError as e:  # pragma: no cover - only on a broken install
    raise ImportError(
        "fastloss's compiled module could not be imported. Install fastloss with "
        "'pip install .' from the source tree (importing from the source tree "
        f"itself does not work): {e}"
    ) from e

from . import reference
from ._custom import custom
from ._loss import Loss
from ._losses import (
    binary_cross_entropy,
    categorical_cross_entropy,
    cauchy,
    focal_loss,
    gan_discriminator_loss,
    gan_generator_loss,
    huber,
    kl_divergence,
    mae,
    mse,
    sparse_categorical_cross_entropy,
    triplet_loss,
    triplet_margin,
)
from ._registry import LOSSES

__version__ = "0.1.0"

__all__ = [
    "LOSSES",
    "Loss",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "cauchy",
    "custom",
    "focal_loss",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "get_num_threads",
    "huber",
    "kl_divergence",
    "mae",
    "mse",
    "reference",
    "set_num_threads",
    "sparse_categorical_cross_entropy",
    "triplet_loss",
    "triplet_margin",
]


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads in the kernels (``n <= 0``: OpenMP's default).

    ``threadpoolctl.threadpool_limits`` limits fastloss too (it sets OpenMP's
    thread count, and the lower of the two limits holds). Results are the same
    bits for every thread count.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads takes an int, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads a large input would use now."""
    return _core.get_num_threads()
