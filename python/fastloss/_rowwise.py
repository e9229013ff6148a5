"""Losses over a class axis: categorical and sparse categorical cross-entropy
and KL divergence. The class axis may be anywhere (``axis=``); examples are
all the other positions, and ``reduction="none"`` has the input's shape with
the class axis removed (SPEC section 2)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import _canonical as c
from . import _core
from ._loss import GRAD, GRAD_HESS, VALUE, VALUE_AND_GRAD, TrueVsPredLoss

SUM, VALUE_OUT, GRAD_OUT, HESS_OUT, WEIGHTED, DENOMINATOR = (
    _core.MODE_SUM, _core.MODE_VALUE, _core.MODE_GRAD, _core.MODE_HESS, _core.MODE_WEIGHTED,
    _core.MODE_DENOMINATOR)
INT64 = np.dtype(np.int64)
REDUCE = {"sum": 1, "mean": 2}  # the kernels' reduce argument: return the reduced value as a NumPy scalar
_INT64_MAX = np.iinfo(np.int64).max


class RowKernel(NamedTuple):
    """A configured row-wise loss: its kernel and arguments."""

    fn: Any
    sparse: bool
    axis: int
    label_smoothing: float = 0.0
    eps: float = 1e-7
    ignore_index: int | None = None
    class_weight: np.ndarray | None = None
    unit: tuple[str, ...] = ()  # inputs that must not be negative (probabilities)
    # _core.<loss>_reduced: the value of the common call (see RowwiseLoss.__call__),
    # None where the configuration rules it out (an axis other than -1, class weights)
    reduced: Any = None


def reduced_kernel(fn: Any, axis: int, class_weight: np.ndarray | None) -> Any:
    """The ``_reduced`` entry point of kernel ``fn`` for RowKernel.reduced."""
    return getattr(_core, fn.__name__ + "_reduced") if axis == -1 and class_weight is None else None


def labels_array(y_true: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Class labels as a C-contiguous int64 array of the per-example ``shape``.
    Integer arrays of any width; float arrays holding whole numbers. Labels
    that do not fit int64 raise IndexError here (the kernel binding checks the
    rest of [0, C): before the kernel writes anything, or during or after a
    kernel call that writes nothing)."""
    lab = c.as_array(y_true, "y_true")
    if lab.shape != shape:
        raise ValueError(f"y_true (class labels) has shape {lab.shape}; y_pred without its class axis "
                         f"has shape {shape}")
    kind = lab.dtype.kind
    if kind == "u" and lab.dtype.itemsize == 8 and lab.size and lab.max() > _INT64_MAX:
        i = int(np.flatnonzero(lab.reshape(-1) > _INT64_MAX)[0])
        raise IndexError(f"label {int(lab.reshape(-1)[i])} at flat position {i} is outside the class range")
    if kind in "iu":
        return np.ascontiguousarray(lab, INT64)
    if kind == "f":
        flat = lab.reshape(-1)
        ok = np.isfinite(flat) & (flat == np.floor(flat))
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"y_true must hold class labels (whole numbers); found {flat[i].item()!r} "
                             f"at flat position {i}")
        out = (flat < -2.0**63) | (flat >= 2.0**63)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise IndexError(f"label {flat[i].item()!r} at flat position {i} is outside the class range")
        return np.ascontiguousarray(lab.astype(INT64))
    raise TypeError(f"y_true must hold integer class labels, got dtype {lab.dtype}")


def check_non_negative(names: tuple[str, ...], arrays: dict[str, np.ndarray]) -> None:
    """ValueError naming the first negative value (and its flat position) of the
    first of ``names`` that has one."""
    for name in names:
        a = arrays[name]
        i = c.first_outside(a, False)
        if i >= 0:
            raise ValueError(f"{name} must hold probabilities (>= 0); found {a.reshape(-1)[i].item()!r} "
                             f"at flat position {i}" + (" (pass from_logits=True for logits)" if name == "y_pred" else ""))


def check_label_probabilities(cfg: RowKernel, labels: np.ndarray, pc: np.ndarray, dims: tuple[int, int, int]) -> None:
    """Sparse labels: ValueError naming the first negative probability that the
    loss reads, the kernel's rule: in counted examples (not ``ignore_index``),
    the label's probability; with label smoothing, every class's."""
    outer, classes, inner = dims
    z = pc.reshape(outer, classes, inner)
    lab = labels.reshape(outer, inner)
    counted = (lab >= 0) & (lab < classes)
    if cfg.ignore_index is not None:
        counted &= lab != cfg.ignore_index
    dt = pc.dtype.type
    if dt(1) - dt(cfg.label_smoothing) != 1 or dt(cfg.label_smoothing / classes) != 0:  # smoothed: all read
        hits = np.flatnonzero(((z < 0) & counted[:, None, :]).reshape(-1))
    else:  # the labels' probabilities only: a gather, not a pass over all of y_pred
        at = np.where(counted, lab, 0)
        q = np.take_along_axis(z, at[:, None, :], axis=1)[:, 0, :]
        o, k = np.nonzero(counted & (q < 0))
        hits = np.sort((o * classes + at[o, k]) * inner + k)
    if hits.size:
        i = int(hits[0])
        raise ValueError(f"y_pred must hold probabilities (>= 0); found {pc.reshape(-1)[i].item()!r} at flat "
                         f"position {i} (pass from_logits=True for logits)")


def _reduced(fn: Any, args: tuple, reduction: str, rdt: np.dtype, cdt: np.dtype) -> Any:
    """The "mean" or "sum" of kernel call ``fn(*args)`` as a NumPy scalar of ``rdt``:
    made by the kernel when it computes in ``rdt`` (None from it is a mean of
    nothing), else from its float64 sum and denominator (float16 results)."""
    if rdt is cdt:
        value = fn(*args, REDUCE[reduction])
        return value if value is not None else c.reduced(0.0, reduction, 0, rdt)
    total, denominator = fn(*args)
    return c.reduced(total, reduction, denominator, rdt)


class RowwiseLoss(TrueVsPredLoss):
    """A loss over a class axis, computed by one of the row-wise kernels."""

    def __call__(self, y_true: Any, y_pred: Any, *, reduction: str = "mean", sample_weight: Any = None,
                 out: Any = None, **params: Any) -> Any:
        # The mean or sum of the common call straight from the kernel's binding, which
        # makes that call's checks (and returns None for any other call): the per-call
        # cost for small inputs (sparse CE of 10 x 10 float64: 3.3 -> 0.8 us here, see the README).
        cfg: RowKernel = self._params(params) if params else self._defaults
        if cfg.reduced is not None and out is None and sample_weight is None and (
                reduction == "mean" or reduction == "sum"):
            value = cfg.reduced(y_true, y_pred, REDUCE[reduction], cfg.label_smoothing, cfg.eps, cfg.ignore_index)
            if value is not None:
                return value
        return self._run(VALUE, y_true, y_pred, reduction, sample_weight, out, params)

    def _run(self, entry: int, y_true: Any, y_pred: Any, reduction: Any, sample_weight: Any, out: Any,
             params: dict[str, Any]) -> Any:
        cfg: RowKernel = self._params(params) if params else self._defaults
        if reduction not in c.REDUCTIONS:
            c.check_reduction(reduction)
        p = y_pred if type(y_pred) is np.ndarray else c.as_array(y_pred, "y_pred")
        if cfg.sparse:
            rdt, cdt = c.dtypes((y_pred, p, "y_pred"))
        else:
            y = y_true if type(y_true) is np.ndarray else c.as_array(y_true, "y_true")
            rdt, cdt = c.dtypes((y_true, y, "y_true"), (y_pred, p, "y_pred"))
        pshape = p.shape
        if not cfg.sparse and y.shape != pshape:
            # NumPy broadcasting between y_true and y_pred; a y_pred that was
            # broadcast gets the gradient summed over the broadcast axes.
            full = c.broadcast_shape([(y.shape, "y_true"), (pshape, "y_pred")])
            if full != pshape:
                p = np.broadcast_to(p, full)
        if p.ndim == 0:
            raise ValueError("y_pred needs a class axis; got a 0-d array")
        axis = cfg.axis
        if not -p.ndim <= axis < p.ndim:
            raise ValueError(f"axis {axis} is out of bounds for y_pred of shape {p.shape}")
        axis %= p.ndim
        shape = p.shape
        gshape = shape if reduction == "none" else pshape
        classes = shape[axis]
        outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
        example_shape = shape[:axis] + shape[axis + 1:]
        examples = outer * inner
        pc = np.ascontiguousarray(p, cdt)
        if cfg.sparse:
            targets = labels_array(y_true, example_shape)
        else:
            targets = np.ascontiguousarray(y if y.shape == shape else np.broadcast_to(y, shape), cdt)
        class_weight = cfg.class_weight
        if class_weight is not None:
            if class_weight.shape != (classes,):
                raise ValueError(f"class_weight has shape {class_weight.shape}; y_pred has {classes} classes")
            class_weight = class_weight.astype(cdt)

        mode = 0
        w = None
        denominator = examples  # of the mean, when it does not depend on the data
        if sample_weight is not None:
            sw = c.as_array(sample_weight, "sample_weight")
            c.check_dtype(sw, "sample_weight")
            if sw.shape != example_shape and c.broadcast_shape(
                    [(sw.shape, "sample_weight"), (example_shape, "the per-example shape")]) != example_shape:
                raise ValueError(f"sample_weight shape {sw.shape} does not broadcast to the per-example shape "
                                 f"{example_shape}")
            w = np.ascontiguousarray(np.broadcast_to(sw, example_shape), cdt)
            denominator = c.weight_sum(w, reduction)
            mode = WEIGHTED
        if classes == 0:  # no classes: every example's loss is 0 (and there is no gradient)
            return self._no_classes(entry, reduction, example_shape, shape, examples, rdt, out)
        data_dependent = class_weight is not None or (cfg.sparse and cfg.ignore_index is not None)
        fn = cfg.fn
        args = (cfg.label_smoothing, cfg.eps, cfg.ignore_index, class_weight is not None)
        dims = (outer, classes, inner)
        if data_dependent and entry != VALUE and reduction == "mean":
            # The gradient of the mean needs its denominator first: a pass over the
            # targets only (labels, or targets times class weights).
            _, denominator = fn(mode | DENOMINATOR, targets, pc, w, class_weight, None, None, None, *dims, 1.0,
                                *args)
        scale = 1.0
        if reduction == "mean":
            # A mean over nothing is NaN (as its value); ignored examples' derivatives stay 0.
            scale = 1.0 / denominator if denominator else (np.nan if examples else 1.0)
        if cfg.unit and out is not None:  # nothing may be written to out= on error: check first
            self._check_domain(cfg, targets, pc, dims)
        try:
            if entry == VALUE:
                if reduction == "none":
                    if out is not None:
                        c.check_out(out, example_shape, rdt)
                    value = c.target(out, example_shape, example_shape, cdt)
                    fn(mode | VALUE_OUT, targets, pc, w, class_weight, value, None, None, *dims, scale, *args)
                    return c.finish(value, out, example_shape, rdt)
                if out is not None:
                    raise ValueError("out= receives the per-example loss: it needs reduction='none'")
                return _reduced(fn, (mode | SUM, targets, pc, w, class_weight, None, None, None, *dims, scale, *args),
                                reduction, rdt, cdt)
            if entry == GRAD_HESS:
                g_out, h_out, grad, hess = c.grad_hess_targets(out, gshape, shape, rdt, cdt)
                fn(mode | GRAD_OUT | HESS_OUT, targets, pc, w, class_weight, None, grad, hess, *dims, scale, *args)
                return c.finish(grad, g_out, gshape, rdt), c.finish(hess, h_out, gshape, rdt)
            if out is not None:
                c.check_out(out, gshape, rdt)
            grad = c.target(out, gshape, shape, cdt)
            if entry == GRAD:
                fn(mode | GRAD_OUT, targets, pc, w, class_weight, None, grad, None, *dims, scale, *args)
                return c.finish(grad, out, gshape, rdt)
            if reduction == "none":
                value = np.empty(example_shape, cdt)
                fn(mode | VALUE_OUT | GRAD_OUT, targets, pc, w, class_weight, value, grad, None, *dims, scale, *args)
                return c.finish(value, None, example_shape, rdt), c.finish(grad, out, gshape, rdt)
            value = _reduced(fn, (mode | SUM | GRAD_OUT, targets, pc, w, class_weight, None, grad, None, *dims,
                                  scale, *args), reduction, rdt, cdt)
            return value, c.finish(grad, out, gshape, rdt)
        except _core.DomainError:
            self._check_domain(cfg, targets, pc, dims)
            raise

    @staticmethod
    def _check_domain(cfg: RowKernel, targets: np.ndarray, pc: np.ndarray, dims: tuple[int, int, int]) -> None:
        """ValueError naming the first negative probability the kernel reads."""
        if cfg.sparse:
            check_label_probabilities(cfg, targets, pc, dims)
        else:
            check_non_negative(cfg.unit, {"y_true": targets, "y_pred": pc})

    @staticmethod
    def _no_classes(entry, reduction, example_shape, shape, examples, rdt, out):
        """Results for a class axis of length 0: losses 0, empty derivatives."""
        if entry == VALUE:
            if reduction == "none":
                value = np.zeros(example_shape, rdt)
                return c.finish(value, out, example_shape, rdt) if out is not None else value
            return c.reduced(0.0, reduction, examples, rdt)
        grad = np.zeros(shape, rdt)
        if entry == GRAD:
            return grad
        if entry == GRAD_HESS:
            return grad, np.zeros(shape, rdt)
        value = np.zeros(example_shape, rdt) if reduction == "none" else c.reduced(0.0, reduction, examples, rdt)
        return value, grad
