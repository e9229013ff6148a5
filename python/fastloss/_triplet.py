"""The triplet losses: on embeddings (the embedding-distance kernel) and on
precomputed distances (an elementwise kernel)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import _canonical as c
from . import _core
from ._loss import GRAD, GRAD_HESS, VALUE, VALUE_AND_GRAD, Loss

SUM, VALUE_OUT, GRAD_OUT, HESS_OUT, WEIGHTED = (_core.MODE_SUM, _core.MODE_VALUE, _core.MODE_GRAD,
                                                _core.MODE_HESS, _core.MODE_WEIGHTED)
NAMES = ("anchor", "positive", "negative")


class TripletConfig(NamedTuple):
    margin: float
    p: float
    squared: bool
    eps: float
    swap: bool


def _outs(out: Any, count: int, shapes, rdt) -> tuple:
    """``count`` output arrays, checked against their shapes (all before anything is written)."""
    if out is None:
        return (None,) * count
    if not (isinstance(out, tuple) and len(out) == count):
        raise TypeError(f"out= must be a tuple of {count} arrays, one per input")
    for o, shape, name in zip(out, shapes, NAMES):
        c.check_out(o, shape, rdt, f"out ({name})")
    return out


class TripletLoss(Loss):
    """``max(D(a, p) - D(a, n) + margin, 0)`` over embeddings along the last axis."""

    def __call__(self, anchor: Any, positive: Any, negative: Any, *, reduction: str = "mean",
                 sample_weight: Any = None, out: Any = None, **params: Any) -> Any:
        return self._run(VALUE, (anchor, positive, negative), reduction, sample_weight, out, params)

    def grad(self, anchor: Any, positive: Any, negative: Any, *, reduction: str = "mean", sample_weight: Any = None,
             out: Any = None, **params: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(d/d anchor, d/d positive, d/d negative)``; ``out=`` takes three arrays."""
        return self._run(GRAD, (anchor, positive, negative), reduction, sample_weight, out, params)

    def value_and_grad(self, anchor: Any, positive: Any, negative: Any, *, reduction: str = "mean",
                       sample_weight: Any = None, out: Any = None, **params: Any) -> tuple[Any, tuple]:
        """``(value, (grad_anchor, grad_positive, grad_negative))`` in one pass."""
        return self._run(VALUE_AND_GRAD, (anchor, positive, negative), reduction, sample_weight, out, params)

    def grad_hess(self, anchor: Any, positive: Any, negative: Any, *, reduction: str = "mean",
                  sample_weight: Any = None, out: Any = None, **params: Any) -> tuple[tuple, tuple]:
        """``((grads...), (Hessian diagonals...))`` for the three inputs, in one pass;
        ``out=`` takes a pair of triples."""
        return self._run(GRAD_HESS, (anchor, positive, negative), reduction, sample_weight, out, params)

    def _run(self, entry, args, reduction, sample_weight, out, params):
        cfg: TripletConfig = self._params(params) if params else self._defaults
        if reduction not in c.REDUCTIONS:
            c.check_reduction(reduction)
        if entry == VALUE and out is None and sample_weight is None and reduction != "none":
            a, p, n = args
            if type(a) is np.ndarray and type(p) is np.ndarray and type(n) is np.ndarray:
                dt, shape = a.dtype, a.shape
                if ((dt is c.F32 or dt is c.F64) and p.dtype is dt and n.dtype is dt and p.shape == shape
                        and n.shape == shape and a.ndim and a.flags.c_contiguous and p.flags.c_contiguous
                        and n.flags.c_contiguous and a.size):
                    # The common call, without the general path's dtype and shape resolution.
                    dim = shape[-1]
                    examples = a.size // dim
                    scale = 1.0 / examples if reduction == "mean" else 1.0
                    # the kernel returns the mean (the sum for denominator 1) as a NumPy scalar
                    return _core.triplet_loss(SUM, a, p, n, None, None, None, None, examples, dim, scale,
                                              cfg.margin, cfg.p, cfg.eps, cfg.squared, cfg.swap,
                                              examples if reduction == "mean" else 1.0)
        arrays = [c.as_array(x, name) for x, name in zip(args, NAMES)]
        rdt, cdt = c.dtypes(*[(x, a, name) for x, a, name in zip(args, arrays, NAMES)])
        shape = c.broadcast_shape([(a.shape, name) for a, name in zip(arrays, NAMES)])
        if len(shape) == 0:
            raise ValueError("triplet_loss needs embeddings along a last axis; got scalars")
        example_shape, dim = shape[:-1], shape[-1]
        examples = math.prod(example_shape)
        full = [np.ascontiguousarray(a if a.shape == shape else np.broadcast_to(a, shape), cdt) for a in arrays]
        mode, w, denominator = 0, None, examples
        if sample_weight is not None:
            sw = c.as_array(sample_weight, "sample_weight")
            c.check_dtype(sw, "sample_weight")
            if c.broadcast_shape([(sw.shape, "sample_weight"), (example_shape, "the per-example shape")]) \
                    != example_shape:
                raise ValueError(f"sample_weight shape {sw.shape} does not broadcast to the per-example shape "
                                 f"{example_shape}")
            w = np.ascontiguousarray(np.broadcast_to(sw, example_shape), cdt)
            denominator = c.weight_sum(w, reduction)
            mode = WEIGHTED
        scale = 1.0 / denominator if reduction == "mean" and denominator else 1.0
        kw = (examples, dim, scale, cfg.margin, cfg.p, cfg.eps, cfg.squared, cfg.swap)
        # The derivative with respect to an input of the reduced loss has that input's
        # shape (summed over the axes it was broadcast along); with "none", the full shape.
        gshapes = [shape if reduction == "none" else a.shape for a in arrays]

        def derivatives(outs):
            targets = tuple(c.target(o, gs, shape, cdt) for o, gs in zip(outs, gshapes))
            return targets

        def finished(arrays_, outs):
            return tuple(c.finish(r, o, gs, rdt) for r, o, gs in zip(arrays_, outs, gshapes))

        if entry == VALUE:
            if reduction == "none":
                if out is not None:
                    c.check_out(out, example_shape, rdt)
                value = c.target(out, example_shape, example_shape, cdt)
                _core.triplet_loss(mode | VALUE_OUT, *full, w, value, None, None, *kw)
                return c.finish(value, out, example_shape, rdt)
            if out is not None:
                raise ValueError("out= receives the per-example loss: it needs reduction='none'")
            total = _core.triplet_loss(mode | SUM, *full, w, None, None, None, *kw)
            return c.reduced(total, reduction, denominator, rdt)
        if entry == GRAD_HESS:
            g_out, h_out = (None, None) if out is None else c.out_pair(out)
            g_outs, h_outs = _outs(g_out, 3, gshapes, rdt), _outs(h_out, 3, gshapes, rdt)
            grads, hesses = derivatives(g_outs), derivatives(h_outs)
            _core.triplet_loss(mode | GRAD_OUT | HESS_OUT, *full, w, None, grads, hesses, *kw)
            return finished(grads, g_outs), finished(hesses, h_outs)
        outs = _outs(out, 3, gshapes, rdt)
        grads = derivatives(outs)
        if entry == GRAD:
            _core.triplet_loss(mode | GRAD_OUT, *full, w, None, grads, None, *kw)
            return finished(grads, outs)
        if reduction == "none":
            value = np.empty(example_shape, cdt)
            _core.triplet_loss(mode | VALUE_OUT | GRAD_OUT, *full, w, value, grads, None, *kw)
            return c.finish(value, None, example_shape, rdt), finished(grads, outs)
        total = _core.triplet_loss(mode | SUM | GRAD_OUT, *full, w, None, grads, None, *kw)
        return c.reduced(total, reduction, denominator, rdt), finished(grads, outs)


class TripletMarginLoss(Loss):
    """``max(d_pos - d_neg + margin, 0)`` of precomputed distances, on an
    elementwise kernel (with y = d_neg, p = d_pos)."""

    def __init__(self, name, params, reference, doc, configure, elementwise):
        super().__init__(name, params, reference, doc, configure)
        self._elementwise = elementwise

    def __call__(self, d_pos: Any, d_neg: Any, *, reduction: str = "mean", sample_weight: Any = None,
                 out: Any = None, **params: Any) -> Any:
        return self._elementwise._value(self._params(params) if params else self._defaults, d_neg, d_pos, reduction,
                                        sample_weight, out)

    def grad(self, d_pos: Any, d_neg: Any, *, reduction: str = "mean", sample_weight: Any = None, out: Any = None,
             **params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(d/d d_pos, d/d d_neg)``: 1 and -1 (times the reduction's weight) where the hinge is active."""
        return self._run(GRAD, d_pos, d_neg, reduction, sample_weight, out, params)

    def value_and_grad(self, d_pos: Any, d_neg: Any, *, reduction: str = "mean", sample_weight: Any = None,
                       out: Any = None, **params: Any) -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
        return self._run(VALUE_AND_GRAD, d_pos, d_neg, reduction, sample_weight, out, params)

    def grad_hess(self, d_pos: Any, d_neg: Any, *, reduction: str = "mean", sample_weight: Any = None,
                  out: Any = None, **params: Any) -> tuple[tuple, tuple]:
        """The hinge is piecewise linear: the Hessians are 0."""
        return self._run(GRAD_HESS, d_pos, d_neg, reduction, sample_weight, out, params)

    def _run(self, entry, d_pos, d_neg, reduction, sample_weight, out, params):
        cfg = self._params(params) if params else self._defaults
        ew = self._elementwise
        if entry == VALUE:
            return ew._value(cfg, d_neg, d_pos, reduction, sample_weight, out)
        if out is not None:
            raise ValueError("out= is only taken by the value of triplet_margin (reduction='none')")
        pos = c.as_array(d_pos, "d_pos")
        neg = c.as_array(d_neg, "d_neg")
        shape = c.broadcast_shape([(pos.shape, "d_pos"), (neg.shape, "d_neg")])
        # derivatives at the broadcast shape, then summed to each input's shape
        full_pos = np.broadcast_to(pos, shape)
        result = ew._compute(VALUE_AND_GRAD if entry == VALUE_AND_GRAD else GRAD, cfg, d_neg, full_pos, reduction,
                             sample_weight, None)
        g = result[1] if entry == VALUE_AND_GRAD else result
        gshape = (lambda a: shape if reduction == "none" else a.shape)
        grads = (c.finish(g, None, gshape(pos), g.dtype), c.finish(-g, None, gshape(neg), g.dtype))
        if entry == GRAD:
            return grads
        if entry == VALUE_AND_GRAD:
            return result[0], grads
        return grads, tuple(np.zeros_like(x) for x in grads)
