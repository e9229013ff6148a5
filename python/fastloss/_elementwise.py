"""Losses of one element at a time: loss(y_true[i], y_pred[i]) over the
broadcast shape of the inputs (SPEC section 2)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _canonical as c
from . import _core
from ._loss import GRAD, GRAD_HESS, VALUE, VALUE_AND_GRAD, TrueVsPredLoss

ndarray = np.ndarray
contiguous = np.ascontiguousarray
F32, F64 = c.F32, c.F64
REDUCTIONS = c.REDUCTIONS
SUM, VALUE_OUT, GRAD_OUT, HESS_OUT, WEIGHTED = _core.MODE_SUM, _core.MODE_VALUE, _core.MODE_GRAD, \
    _core.MODE_HESS, _core.MODE_WEIGHTED


class Kernel(NamedTuple):
    """What a call runs: an elementwise kernel of _core, its float parameters, its
    auxiliary per-element operand (BCE's pos_weight) and the inputs it requires to
    lie in [0, 1] (named as the user knows them)."""

    fn: Any
    params: tuple[float, ...] = ()
    aux: Any = None
    unit_interval: tuple[str, ...] = ()


# Each built-in kernel's _reduced entry point: the mean or sum of the common call,
# checked by the binding (None from it for any other call).
_REDUCED = {getattr(_core, name[:-8]): getattr(_core, name) for name in dir(_core) if name.endswith("_reduced")}


def fixed_kernel(name: str):
    """configure() for a loss whose float parameters go to one kernel as they are."""
    fn = getattr(_core, name)
    return lambda **values: Kernel(fn, tuple(values.values()))


class ElementwiseLoss(TrueVsPredLoss):
    """A loss computed element by element by one of the elementwise kernels."""

    def __call__(self, y_true: Any, y_pred: Any, *, reduction: str = "mean", sample_weight: Any = None,
                 out: Any = None, **params: Any) -> Any:
        # TrueVsPredLoss.__call__ without the _run frame: the value is the entry
        # point whose per-call cost matters most for small inputs.
        return self._value(self._params(params) if params else self._defaults, y_true, y_pred, reduction,
                           sample_weight, out)

    def _value(self, config: Kernel, y_true: Any, y_pred: Any, reduction: Any, sample_weight: Any, out: Any) -> Any:
        """The value. The common call (one dtype, one shape, C order, no weights,
        pos_weight 1, a mean or sum) goes straight to the kernel's _reduced entry
        point, which makes that call's checks (mse of 100 float64: 2.5 -> 0.7 us on
        the README's machine); it returns None for any other call, which _compute
        then makes."""
        if out is None and sample_weight is None and (reduction == "mean" or reduction == "sum") and (
                config.aux is None or config.aux is c.ONE):
            reduced = _REDUCED.get(config.fn)
            if reduced is not None:
                value = reduced(y_true, y_pred, 2 if reduction == "mean" else 1, config.params)
                if value is not None:
                    return value
        return self._compute(VALUE, config, y_true, y_pred, reduction, sample_weight, out)

    def _run(self, entry: int, y_true: Any, y_pred: Any, reduction: Any, sample_weight: Any, out: Any,
             params: dict[str, Any]) -> Any:
        return self._compute(entry, self._params(params) if params else self._defaults, y_true, y_pred,
                             reduction, sample_weight, out)

    def _compute(self, entry: int, config: Kernel, y_true: Any, y_pred: Any, reduction: Any, sample_weight: Any,
                 out: Any, grad_factor: float = 1.0) -> Any:
        """One entry point with the hyper-parameters already configured;
        ``grad_factor`` multiplies the derivatives inside the kernel (the GAN
        discriminator's 1/2), one rounding with the mean's 1/n."""
        if reduction not in REDUCTIONS:
            c.check_reduction(reduction)
        y = y_true if type(y_true) is ndarray else c.as_array(y_true, "y_true")
        p = y_pred if type(y_pred) is ndarray else c.as_array(y_pred, "y_pred")
        dt = y.dtype
        shape = y.shape
        if sample_weight is None and dt is p.dtype and (dt is F64 or dt is F32) and (
                p.shape == shape or (y.size == 1 and y.ndim <= p.ndim)):
            # The common case (this path is the per-call cost for small arrays); a
            # one-element y_true of no more dimensions than y_pred broadcasts to y_pred's shape.
            rdt = cdt = dt
            shape = p.shape
            n = p.size
            yc = contiguous(y, cdt)
            pc = contiguous(p, cdt)
            w = None
        else:
            yc, pc, w, shape, rdt, cdt, n = c.prepare_elementwise(y_true, y_pred, y, p, sample_weight)
        mode = 0
        denominator = n  # of the mean: n, or sum(w) when weighted
        if w is not None:
            # A scalar weight stays one element (the kernel repeats it), so it counts n
            # times in the mean's denominator; with no elements it weighs nothing (the
            # mean of nothing is NaN with a RuntimeWarning, not "sums to 0").
            total = c.weight_sum(w, reduction if n else "sum")
            denominator = total * n if w.size == 1 else total
            mode = WEIGHTED
        scale = (1.0 / denominator if reduction == "mean" and denominator else 1.0) * grad_factor
        kernel, prm, aux, unit = config
        if aux is not None:
            aux = c.ONES[cdt] if aux is c.ONE else c.aux_operand(aux, shape, cdt, "pos_weight")
        if unit and out is not None:  # nothing may be written to out= on error: check first
            c.check_unit_interval(unit, {"y_true": yc, "y_pred": pc})
        try:
            if entry == VALUE:
                if reduction == "none":
                    if out is not None:
                        c.check_out(out, shape, rdt)
                    value = c.target(out, shape, shape, cdt)
                    kernel(mode | VALUE_OUT, yc, pc, aux, w, value, None, None, scale, prm)
                    return value if value is out else c.finish(value, out, shape, rdt)
                if out is not None:
                    raise ValueError("out= receives the per-element loss: it needs reduction='none'")
                if denominator and rdt is cdt:
                    # the kernel returns the mean (the sum for denominator 1) as a NumPy scalar
                    return kernel(mode | SUM, yc, pc, aux, w, None, None, None, scale, prm,
                                  denominator if reduction == "mean" else 1.0)
                total = kernel(mode | SUM, yc, pc, aux, w, None, None, None, scale, prm)
                return c.reduced(total, reduction, denominator, rdt)

            # The gradient (and Hessian) of a reduced loss has y_pred's shape; with
            # reduction="none" it is each element's own derivative, of the broadcast shape.
            gshape = shape if reduction == "none" else p.shape
            if entry == GRAD_HESS:
                g_out, h_out, grad, hess = c.grad_hess_targets(out, gshape, shape, rdt, cdt)
                kernel(mode | GRAD_OUT | HESS_OUT, yc, pc, aux, w, None, grad, hess, scale, prm)
                return c.finish(grad, g_out, gshape, rdt), c.finish(hess, h_out, gshape, rdt)

            if out is not None:
                c.check_out(out, gshape, rdt)
            grad = c.target(out, gshape, shape, cdt)
            if entry == GRAD:
                kernel(mode | GRAD_OUT, yc, pc, aux, w, None, grad, None, scale, prm)
                return grad if grad is out else c.finish(grad, out, gshape, rdt)
            if reduction == "none":
                value = np.empty(shape, cdt)
                kernel(mode | VALUE_OUT | GRAD_OUT, yc, pc, aux, w, value, grad, None, scale, prm)
                return c.finish(value, None, shape, rdt), c.finish(grad, out, gshape, rdt)
            if denominator and rdt is cdt:
                value = kernel(mode | SUM | GRAD_OUT, yc, pc, aux, w, None, grad, None, scale, prm,
                               denominator if reduction == "mean" else 1.0)
            else:
                total = kernel(mode | SUM | GRAD_OUT, yc, pc, aux, w, None, grad, None, scale, prm)
                value = c.reduced(total, reduction, denominator, rdt)
            return value, grad if grad is out else c.finish(grad, out, gshape, rdt)
        except _core.DomainError:
            # The kernel found a value outside [0, 1] in the pass that computed the
            # loss; name it (only this error path looks at the data again).
            c.check_unit_interval(unit, {"y_true": yc, "y_pred": pc})
            raise
