"""GAN losses: binary cross-entropy against fixed targets (1 for real, 0 for
fake), computed by the BCE kernels through ``binary_cross_entropy``."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _canonical as c
from . import _core
from ._loss import GRAD_HESS, VALUE, VALUE_AND_GRAD, Loss, GRAD

SUM, GRAD_OUT = _core.MODE_SUM, _core.MODE_GRAD


# The fixed targets as 0-d arrays of the computing dtypes: a 0-d y_true of
# y_pred's own dtype takes binary_cross_entropy's fast path (no dtype resolution
# or broadcasting in Python); other dtypes get the Python float, which NumPy's
# rules treat as weak.
_TARGETS = {(t, dt): np.array(t, dt) for t in (0.0, 1.0) for dt in (c.F32, c.F64)}
for _a in _TARGETS.values():
    _a.flags.writeable = False


def _target(value: float, dtype: np.dtype) -> Any:
    return _TARGETS.get((value, dtype), value)


def _scaled(x: Any, factor: float) -> Any:
    """``factor * x``, keeping the dtype: a new NumPy scalar, or an array (a
    result array of this call, possibly the user's out=) scaled in place."""
    if isinstance(x, np.ndarray):
        if factor != 1.0:
            x *= x.dtype.type(factor)
        return x
    if factor == 1.0:
        return x
    return -x if factor == -1.0 else x.dtype.type(factor * float(x))


def _deliver(entry: int, result: Any, out: Any) -> Any:
    """The GAN discriminator computes into new arrays (its halves read the inputs
    after the other half is done, and an out= may alias one); they are copied into
    out= at the end, once every out= has been checked, so that nothing is written
    on error."""
    if out is None:
        return result
    if entry == VALUE:
        pairs = [(result, out, "out")]
    elif entry == VALUE_AND_GRAD:
        o = c.out_pair(out)
        pairs = [(result[1][0], o[0], "out[0]"), (result[1][1], o[1], "out[1]")]
    elif entry == GRAD:
        o = c.out_pair(out)
        pairs = [(result[0], o[0], "out[0]"), (result[1], o[1], "out[1]")]
    else:
        grads, hesses = (c.out_pair(x) for x in c.out_pair(out))
        pairs = [(result[0][0], grads[0], "out[0][0]"), (result[0][1], grads[1], "out[0][1]"),
                 (result[1][0], hesses[0], "out[1][0]"), (result[1][1], hesses[1], "out[1][1]")]
    if entry == VALUE and not isinstance(result, np.ndarray):
        raise ValueError("out= receives the per-element loss: it needs reduction='none'")
    for r, o, name in pairs:
        c.check_out(o, r.shape, r.dtype, name)
    for r, o, _ in pairs:
        np.copyto(o, r)
    if entry == VALUE:
        return out
    if entry == VALUE_AND_GRAD:
        return result[0], c.out_pair(out)
    if entry == GRAD:
        return c.out_pair(out)
    return tuple(tuple(x) for x in c.out_pair(out))


def _combine(entry: int, parts: list, factor: float) -> Any:
    """The loss ``factor * sum(part values)`` and the derivatives per input (which
    the kernels have already scaled: see GanDiscriminatorLoss._run)."""
    if entry == VALUE:
        if not isinstance(parts[0], np.ndarray):
            return parts[0].dtype.type(factor * sum(float(v) for v in parts))
        total = parts[0]
        for v in parts[1:]:
            total += v
        return _scaled(total, factor)
    if entry == GRAD:
        return tuple(parts)
    if entry == VALUE_AND_GRAD:
        return _combine(VALUE, [v for v, _ in parts], factor), tuple(g for _, g in parts)
    return tuple(g for g, _ in parts), tuple(h for _, h in parts)


def _halves(fixed: dict, real: np.ndarray, fake: np.ndarray) -> Any:
    """(kernel configuration, target, input, pos_weight operand) per half, for
    non-empty C-contiguous inputs of one float dtype (the calls that go straight to
    the kernels); None otherwise. ``fixed``: the configuration per target (see
    _gan_kernel)."""
    dt = real.dtype
    if (dt is not fake.dtype or (dt is not c.F32 and dt is not c.F64)
            or not real.size or not fake.size or not real.flags.c_contiguous or not fake.flags.c_contiguous):
        return None
    return [(fixed[t], _TARGETS[(t, dt)], d, None if fixed[t].aux is None else c.ONES[dt])  # pos_weight (logits): 1
            for t, d in ((1.0, real), (0.0, fake))]


def _reduced_value(fixed: dict, real: np.ndarray, fake: np.ndarray, reduction: str) -> Any:
    """The discriminator's "mean" or "sum" straight from two kernel calls; None
    for other inputs (see _halves) and on any error (the general path then reports
    it). The same arithmetic as the general path: each half reduced in its dtype,
    then combined."""
    halves = _halves(fixed, real, fake)
    if halves is None:
        return None
    mean = reduction == "mean"
    try:
        # each half's mean (or sum) as a NumPy scalar of the dtype, from the kernel
        parts = [k.fn(SUM, target, d, aux, None, None, None, None, 1.0, k.params, d.size if mean else 1.0)
                 for k, target, d, aux in halves]
    except _core.DomainError:
        return None
    return real.dtype.type(0.5 * (float(parts[0]) + float(parts[1])))


def _direct_grads(entry: int, fixed: dict, real: np.ndarray, fake: np.ndarray, reduction: str, out: Any) -> Any:
    """value_and_grad and grad of the "mean" or "sum" with out= straight into the
    user's pair of arrays: each half's kernel writes 1/2 its gradient there (its
    scale halved, as on the general path: the same bits, without the new arrays
    and the copies, which made the discriminator's value_and_grad(out=) 2.6x to
    3.6x its value at 1e7). Only once every check has passed, so that nothing is
    written on error: the outputs (shape, dtype, writeable, C-contiguous, no
    overlap with an input or each other) and both inputs' domain. None for
    anything else (and for any failed check: the general path then names the
    error, in its usual order)."""
    halves = _halves(fixed, real, fake)
    if halves is None or type(out) is not tuple or len(out) != 2:
        return None
    dt = real.dtype
    for o, d in zip(out, (real, fake)):
        if type(o) is not np.ndarray or o.shape != d.shape or o.dtype is not dt or not o.flags.writeable \
                or not o.flags.c_contiguous:
            return None
    if any(np.may_share_memory(a, b) for a, b in
           ((out[0], out[1]), (out[0], real), (out[0], fake), (out[1], real), (out[1], fake))):
        return None
    # (the targets are the constants 1 and 0; logits have no domain)
    if any("y_pred" in k.unit_interval and c.first_outside(d, True) >= 0 for k, _, d, _ in halves):
        return None
    mean = reduction == "mean"
    values = []
    for (k, target, d, aux), o in zip(halves, out):
        scale = 0.5 / d.size if mean else 0.5
        if entry == GRAD:
            k.fn(GRAD_OUT, target, d, aux, None, None, o, None, scale, k.params)
        else:
            values.append(k.fn(SUM | GRAD_OUT, target, d, aux, None, None, o, None, scale, k.params,
                               d.size if mean else 1.0))
    if entry == GRAD:
        return out
    return dt.type(0.5 * (float(values[0]) + float(values[1]))), out


class GanDiscriminatorLoss(Loss):
    """``-1/2 [log D(x) + log(1 - D(G(z)))]`` over two batches of discriminator outputs."""

    def __init__(self, name, params, reference, doc, configure, bce: Loss):
        super().__init__(name, params, reference, doc, configure)
        self._bce = bce

    def __call__(self, d_real: Any, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None,
                 out: Any = None, **params: Any) -> Any:
        return self._run(VALUE, d_real, d_fake, reduction, sample_weight, out, params)

    def grad(self, d_real: Any, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None,
             out: Any = None, **params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(d loss/d d_real, d loss/d d_fake)``; ``out=`` takes a pair."""
        return self._run(GRAD, d_real, d_fake, reduction, sample_weight, out, params)

    def value_and_grad(self, d_real: Any, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None,
                       out: Any = None, **params: Any) -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
        """``(value, (grad_real, grad_fake))`` in one pass over each batch; ``out=``
        takes a pair for the gradients."""
        return self._run(VALUE_AND_GRAD, d_real, d_fake, reduction, sample_weight, out, params)

    def grad_hess(self, d_real: Any, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None,
                  out: Any = None, **params: Any) -> tuple[tuple[np.ndarray, np.ndarray],
                                                           tuple[np.ndarray, np.ndarray]]:
        """``((grad_real, grad_fake), (hess_real, hess_fake))``; ``out=`` takes
        ``((grad_real, grad_fake), (hess_real, hess_fake))`` arrays."""
        return self._run(GRAD_HESS, d_real, d_fake, reduction, sample_weight, out, params)

    def _run(self, entry, d_real, d_fake, reduction, sample_weight, out, params):
        _, fixed = self._params(params) if params else self._defaults
        if reduction not in c.REDUCTIONS:
            c.check_reduction(reduction)
        real = c.as_array(d_real, "d_real")
        fake = c.as_array(d_fake, "d_fake")
        if entry == VALUE and out is None and sample_weight is None and reduction != "none":
            value = _reduced_value(fixed, real, fake, reduction)
            if value is not None:
                return value
        if reduction == "none" and real.shape != fake.shape:
            raise ValueError(f"reduction='none' needs d_real and d_fake of one shape; "
                             f"got d_real shape {real.shape} and d_fake shape {fake.shape}")
        if out is not None and sample_weight is None and (entry == VALUE_AND_GRAD or entry == GRAD) and \
                reduction != "none":
            direct = _direct_grads(entry, fixed, real, fake, reduction, out)
            if direct is not None:
                return direct
        # The mean of each half is over its own batch, so the batches may differ in size.
        # The derivatives' 1/2 goes into the kernels' scale (one rounding with 1/n,
        # also where a gradient is subnormal), as in _direct_grads.
        parts = [self._bce._compute(entry, fixed[t], _target(t, d.dtype), d, reduction, sample_weight, None, 0.5)
                 for t, d in ((1.0, real), (0.0, fake))]
        return _deliver(entry, _combine(entry, parts, 0.5), out)


class GanGeneratorLoss(Loss):
    """``-log D(G(z))`` (or, saturating, ``log(1 - D(G(z)))``) of discriminator outputs."""

    def __init__(self, name, params, reference, doc, configure, bce: Loss):
        super().__init__(name, params, reference, doc, configure)
        self._bce = bce

    def __call__(self, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None, out: Any = None,
                 **params: Any) -> Any:
        return self._run(VALUE, d_fake, reduction, sample_weight, out, params)

    def grad(self, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None, out: Any = None,
             **params: Any) -> np.ndarray:
        """d loss / d d_fake; ``out=`` receives it."""
        return self._run(GRAD, d_fake, reduction, sample_weight, out, params)

    def value_and_grad(self, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None, out: Any = None,
                       **params: Any) -> tuple[Any, np.ndarray]:
        """``(value, grad)`` in one pass; ``out=`` receives the gradient."""
        return self._run(VALUE_AND_GRAD, d_fake, reduction, sample_weight, out, params)

    def grad_hess(self, d_fake: Any, *, reduction: str = "mean", sample_weight: Any = None, out: Any = None,
                  **params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(grad, hess)`` in one pass; ``out=`` takes a pair."""
        return self._run(GRAD_HESS, d_fake, reduction, sample_weight, out, params)

    def _run(self, entry, d_fake, reduction, sample_weight, out, params):
        saturating, fixed = self._params(params) if params else self._defaults
        # non-saturating: BCE(1, D) = -log D; saturating: log(1 - D) = -BCE(0, D)
        target, sign = (0.0, -1.0) if saturating else (1.0, 1.0)
        fake = c.as_array(d_fake, "d_fake")
        part = self._bce._compute(entry, fixed[target], _target(target, fake.dtype), fake, reduction, sample_weight,
                                  out)
        if entry == VALUE or entry == GRAD:
            return _scaled(part, sign)
        if entry == VALUE_AND_GRAD:
            return _scaled(part[0], sign), _scaled(part[1], sign)
        return _scaled(part[0], sign), _scaled(part[1], sign)
