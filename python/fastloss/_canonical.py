"""The one canonicalisation path: array-likes, dtypes, broadcasting, weights,
reductions, ``out=`` and their errors (SPEC section 2). Every loss goes
through these functions before a kernel is called."""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any

import numpy as np

from . import _core

ndarray = np.ndarray
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
# BCE's pos_weight when not given: the configured kernels carry ONE, which becomes
# the one-element operand ONES[computing dtype] without a conversion per call.
ONE = np.ones(())
ONES = {F32: np.ones(1, F32), F64: np.ones(1, F64)}

REDUCTIONS = ("mean", "sum", "none")
_REJECTED_KINDS = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "M": "datetime",
                   "m": "timedelta", "V": "structured/void"}


def as_array(x: Any, name: str) -> np.ndarray:
    """``x`` as an ndarray (no copy for ndarrays and most array-likes)."""
    if type(x) is ndarray:
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} could not be converted to an array: {e}") from None


def check_dtype(a: np.ndarray, name: str) -> np.dtype:
    """The dtype ``a`` counts as in the dtype rules: floats as they are, integers
    and bools as float64; anything else is a TypeError."""
    dt = a.dtype
    kind = dt.kind
    if kind == "f":
        return dt
    if kind in "biu":
        return F64
    what = _REJECTED_KINDS.get(kind, str(dt))
    raise TypeError(f"{name} has dtype {dt} ({what}); fastloss takes real numbers "
                    "(floating, integer or bool arrays)")


def dtypes(*inputs: tuple[Any, np.ndarray, str]) -> tuple[np.dtype, np.dtype]:
    """(result dtype, computing dtype) of (original, array, name) inputs, as
    np.result_type would give with integer arrays read as float64 and Python
    scalars weak (NEP 50: ``float32 array`` and ``0.5`` give float32);
    float16 computes in float32, anything wider than float64 in float64."""
    strong = [check_dtype(a, name) for orig, a, name in inputs if type(orig) not in (float, int)]
    if strong and (strong[0] is F64 or strong[0] is F32) and all(d is strong[0] for d in strong):
        return strong[0], strong[0]  # weak Python scalars never widen a float dtype (NEP 50)
    result = np.result_type(*[orig if type(orig) in (float, int) else check_dtype(a, name)
                              for orig, a, name in inputs])
    if result.kind != "f":
        return F64, F64
    if result == F16:
        return F16, F32
    if result == F32:
        return F32, F32
    return F64, F64


def broadcast_shape(shapes_and_names: list[tuple[tuple[int, ...], str]]) -> tuple[int, ...]:
    shapes = [s for s, _ in shapes_and_names if s != ()]
    if not shapes:
        return ()
    if all(s == shapes[0] for s in shapes):  # no NumPy call for the usual cases
        return shapes[0]
    try:
        return np.broadcast_shapes(*[s for s, _ in shapes_and_names])
    except ValueError:
        quoted = " and ".join(f"{name} shape {s}" for s, name in shapes_and_names)
        raise ValueError(f"shapes do not broadcast: {quoted}") from None


def prepare_elementwise(y_true: Any, y_pred: Any, y: np.ndarray, p: np.ndarray, sample_weight: Any):
    """(y, p, w, shape, result dtype, computing dtype, n) for an elementwise loss:
    dtypes resolved, shapes broadcast (NumPy rules between all three), operands
    contiguous in the computing dtype. The weights take the computing dtype of
    y and p; they do not change it (as in PyTorch and Keras)."""
    rdt, cdt = dtypes((y_true, y, "y_true"), (y_pred, p, "y_pred"))
    inputs = [(y, "y_true"), (p, "y_pred")]
    w = None
    if sample_weight is not None:
        w = as_array(sample_weight, "sample_weight")
        check_dtype(w, "sample_weight")
        inputs.append((w, "sample_weight"))
    shape = broadcast_shape([(a.shape, name) for a, name in inputs])
    if w is not None:
        w = operand(w, shape, cdt)
    return operand(y, shape, cdt), operand(p, shape, cdt), w, shape, rdt, cdt, math.prod(shape)


def aux_operand(a: np.ndarray, shape: tuple[int, ...], dtype: np.dtype, name: str) -> np.ndarray:
    """A per-element parameter array (BCE's pos_weight) as a kernel operand; it
    must broadcast to the inputs' shape without enlarging it."""
    if a.ndim and a.shape != shape and broadcast_shape([(a.shape, name), (shape, "the inputs")]) != shape:
        raise ValueError(f"{name} of shape {a.shape} does not broadcast to the inputs' shape {shape}")
    return operand(a, shape, dtype)


def first_outside(a: np.ndarray, unit: bool) -> int:
    """The flat (C-order) position of the first element of ``a`` outside [0, 1]
    (``unit``) or below 0, -1 if none; NaN passes, as NumPy's comparisons say. One
    SIMD pass in the kernel library (on the threads for large arrays) for C-contiguous
    float32 and float64 arrays, which is what the losses check (a.min() and a.max()
    of y_true and y_pred took 5.3 ms at 1e7 float32, where BCE's value takes 8.6)."""
    if type(a) is ndarray and (a.dtype is F32 or a.dtype is F64) and a.flags.c_contiguous:
        return int(_core.first_outside(a, unit))
    flat = a.reshape(-1)
    bad = np.flatnonzero(((flat < 0) | (flat > 1)) if unit else flat < 0)
    return int(bad[0]) if bad.size else -1


def check_unit_interval(names: tuple[str, ...], arrays: dict[str, np.ndarray]) -> None:
    """ValueError naming the first value outside [0, 1] (NaN passes, as NumPy's
    comparisons say) and its flat position, in the first of ``names`` that has one."""
    for name in names:
        a = arrays[name]
        i = first_outside(a, True)
        if i >= 0:
            hint = " (pass from_logits=True for logits)" if name == "y_pred" else ""
            raise ValueError(f"{name} must hold probabilities in [0, 1]{hint}; "
                             f"found {a.reshape(-1)[i].item()!r} at flat position {i}")


def operand(a: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` with either the full broadcast
    shape's number of elements or one element (a scalar, which the kernel repeats
    without copying). Other broadcasts are materialised."""
    if a.shape != shape and a.size != 1:
        a = np.broadcast_to(a, shape)
    return np.ascontiguousarray(a, dtype)


def check_reduction(reduction: Any) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}")


def weight_sum(w: np.ndarray, reduction: str) -> float:
    """Checks the weights (finite, >= 0; not all 0 for a mean) and returns their
    float64 sum, in one pass."""
    total, bad = _core.weight_sum(w)
    if bad >= 0:
        flat = w.reshape(-1)
        raise ValueError(f"sample_weight must be finite and non-negative; "
                         f"found {flat[bad].item()!r} at flat position {bad} (in {w.dtype}, the computing dtype)")
    if reduction == "mean" and total == 0.0 and w.size > 0:
        raise ValueError(f"sample_weight sums to 0 in {w.dtype} (the computing dtype: weights below half its "
                         "smallest subnormal become 0), so the weighted mean is undefined")
    return total


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> np.ndarray:
    if type(out) is not ndarray and not isinstance(out, ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def target(out: np.ndarray | None, shape: tuple[int, ...], full_shape: tuple[int, ...],
           dtype: np.dtype) -> np.ndarray:
    """The array a kernel writes a result of ``shape`` into: ``out`` itself when
    it is C-contiguous and of the computing dtype (the binding takes care of an
    ``out`` that overlaps an input), else a new array of the broadcast shape,
    handed to ``finish`` afterwards."""
    if out is not None and shape == full_shape and out.dtype == dtype and out.flags.c_contiguous:
        return out
    return np.empty(full_shape, dtype)


def grad_hess_targets(out: Any, shape: tuple[int, ...], full_shape: tuple[int, ...], rdt: np.dtype,
                      cdt: np.dtype) -> tuple:
    """(grad out, hess out, grad target, hess target) for grad_hess: ``out`` is
    None or a pair, both checked before anything is written."""
    g_out, h_out = (None, None) if out is None else out_pair(out)
    if out is not None:
        check_out(g_out, shape, rdt, "out[0]")
        check_out(h_out, shape, rdt, "out[1]")
    return g_out, h_out, target(g_out, shape, full_shape, cdt), target(h_out, shape, full_shape, cdt)


def finish(result: np.ndarray, out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``result`` summed down to ``shape`` (the gradient of a reduced loss with
    respect to a broadcast input), in the result dtype, in ``out`` if given."""
    if result is out:
        return out
    if result.shape != shape:
        result = sum_to_shape(result, shape)
    if out is not None:
        np.copyto(out, result, casting="unsafe")
        return out
    return result if result.dtype == dtype else result.astype(dtype)


def caller_stacklevel() -> int:
    """warnings.warn's stacklevel that names the first frame outside fastloss (the
    user's call), however deep the package's own call path is."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "fastloss":
        frame, level = frame.f_back, level + 1
    return level


def reduced(total: float, reduction: str, denominator: float, dtype: np.dtype):
    """The ``"sum"`` or ``"mean"`` result as a NumPy scalar of ``dtype``; the
    mean of nothing is NaN with a RuntimeWarning, as ``np.mean`` gives."""
    if reduction == "sum":
        return dtype.type(total)
    if denominator:
        return dtype.type(total / denominator)
    warnings.warn("Mean of empty slice.", RuntimeWarning, stacklevel=caller_stacklevel())
    return dtype.type(np.nan)


def out_pair(out: Any) -> tuple[Any, Any]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("out= for grad_hess must be a pair (grad_out, hess_out) of arrays")
    return out


def sum_to_shape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``a`` over the axes along which ``shape`` was broadcast to ``a.shape``
    (the gradient of a reduced loss with respect to a broadcast input)."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and a.shape[lead + i] != 1)
    return a.sum(axis=axes, dtype=np.float64).reshape(shape).astype(a.dtype)
