"""The registry of built-in losses. ``register`` is the only way a loss comes
into being, and it takes the loss's NumPy reference from ``fastloss.reference``
by name: a loss cannot exist without its reference, and the tests and the
benchmarks iterate over ``LOSSES``, so it cannot exist without its parity tests
and its benchmark either."""

from __future__ import annotations

from typing import Any

from . import reference as _reference
from ._loss import Loss, Param

LOSSES: dict[str, Loss] = {}

_COMMON_ARGS = """
    Common arguments (every loss):
      reduction: ``"mean"`` (default; weighted mean ``sum(w*l)/sum(w)`` with
        weights), ``"sum"`` or ``"none"`` (the per-element loss, times the weight).
      sample_weight: finite non-negative weights broadcastable with the inputs
        (cast to the computing dtype; they do not change the result dtype).
      out: array for the ``"none"`` result (for ``grad``/``value_and_grad``: for
        the gradient; for ``grad_hess``: a pair), of the exact shape and dtype.

    Returns:
      A NumPy scalar of the result dtype for ``"mean"``/``"sum"``, an array for
      ``"none"``. float32 in gives float32 out, float64 gives float64, float16 is
      computed in float32; integers and bools count as float64. Sums accumulate
      in float64, identically for every thread count.

    Entry points: ``.grad``, ``.value_and_grad``, ``.grad_hess``, ``.reference``
    (see ``fastloss.Loss``).
"""


def register(kind: type[Loss], name: str, params: tuple[Param, ...], doc: str, configure,
             domain: str | None = None, **family_arguments: Any) -> Loss:
    if name in LOSSES:
        raise ValueError(f"loss {name!r} is registered twice")
    ref = getattr(_reference, name, None)
    if ref is None:
        raise LookupError(f"loss {name!r} has no reference in fastloss.reference")
    full_doc = doc.rstrip() + "\n" + _COMMON_ARGS
    cls = type(name, (kind,), {"__doc__": full_doc, "__module__": "fastloss"})
    loss = cls(name, params, ref, full_doc, configure, **family_arguments)
    loss.domain = domain  # the kind of inputs it takes, for tests and benchmarks
    LOSSES[name] = loss
    return loss
