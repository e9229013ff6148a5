"""The ``Loss`` object: five entry points over one kernel call path."""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import numpy as np

# Entry points; the kernel modes they map to are in the loop shapes' modules.
VALUE, GRAD, VALUE_AND_GRAD, GRAD_HESS = range(4)


class Param:
    """A keyword hyper-parameter: its default and its check (which raises
    ValueError/TypeError naming the value, and returns it in canonical form)."""

    __slots__ = ("name", "default", "check")

    def __init__(self, name: str, default: Any, check: Callable[[str, Any], Any]):
        self.name = name
        self.default = default
        self.check = check


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    v = _number(name, value)
    if not (v >= 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def unit_interval(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    v = _number(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def clip_eps(name: str, value: Any) -> float:
    """A clipping bound in (0, 0.5)."""
    v = _number(name, value)
    if not 0.0 < v < 0.5:
        raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
    return v


def optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """``check``, or None."""
    return lambda name, value: None if value is None else check(name, value)


def positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    v = _number(name, value)
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _number(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


class Loss:
    """A loss function with five entry points.

    ``loss(y_true, y_pred, ...)`` the value; ``loss.grad`` the gradient of the
    reduced loss with respect to ``y_pred``; ``loss.value_and_grad`` both in one
    pass; ``loss.grad_hess`` the gradient and the Hessian diagonal in one pass;
    ``loss.reference`` the plain-NumPy float64 reference of the value.

    Each family of losses (elementwise, ...) defines the four computing entry
    points with its own positional inputs; this base holds what they share.
    """

    def __init__(self, name: str, params: tuple[Param, ...], reference: Callable[..., Any], doc: str,
                 configure: Callable[..., Any]):
        """``configure(**checked_parameters)`` returns what the family's ``_run``
        needs (the kernel and its arguments); it runs once for the defaults and
        once per call that passes hyper-parameters."""
        if not callable(reference):
            raise TypeError(f"loss {name!r} needs a NumPy reference")
        self.name = name
        self.params = params
        self.reference = reference
        self._configure = configure
        self._checked_defaults = {p.name: p.check(p.name, p.default) for p in params}
        self._defaults = configure(**self._checked_defaults)
        self.__doc__ = doc
        self.__signature__ = inspect.signature(reference)

    def __repr__(self) -> str:
        return f"<fastloss.{self.name}>"

    def _params(self, given: dict[str, Any]) -> Any:
        if not given:
            return self._defaults
        # Configurations of hashable parameter values are kept (keyed on the types
        # too, so that 1 never stands for True): a repeated call with the same
        # hyper-parameters skips their checks. Arrays are checked every time.
        cache = self.__dict__.setdefault("_configured", {})
        try:
            if len(given) == 1:
                ((k, v),) = given.items()
                key = (k, type(v), v)
            else:
                key = tuple((k, type(v), v) for k, v in sorted(given.items()))
            hit = cache.get(key)
        except TypeError:
            key = hit = None
        if hit is not None:
            return hit
        config = self._configure_given(given)
        if key is not None and len(cache) < 64:
            cache[key] = config
        return config

    def _configure_given(self, given: dict[str, Any]) -> Any:
        unknown = set(given) - self._checked_defaults.keys()
        if unknown:
            raise TypeError(f"{self.name}() got unexpected keyword argument(s) {sorted(unknown)}; "
                            f"its parameters are {list(self._checked_defaults)}")
        values = dict(self._checked_defaults)
        for p in self.params:
            if p.name in given:
                values[p.name] = p.check(p.name, given[p.name])
        return self._configure(**values)


class TrueVsPredLoss(Loss):
    """The entry points of a loss of ``(y_true, y_pred)``; subclasses implement
    ``_run(entry, y_true, y_pred, reduction, sample_weight, out, params)``."""

    def __call__(self, y_true: Any, y_pred: Any, *, reduction: str = "mean", sample_weight: Any = None,
                 out: Any = None, **params: Any) -> Any:
        return self._run(VALUE, y_true, y_pred, reduction, sample_weight, out, params)

    def grad(self, y_true: Any, y_pred: Any, *, reduction: str = "mean", sample_weight: Any = None,
             out: Any = None, **params: Any) -> np.ndarray:
        """d(reduced loss)/d(y_pred), with the shape of ``y_pred`` (summed over
        the axes along which ``y_pred`` was broadcast); with ``reduction="none"``
        each element's own derivative, of the broadcast shape. ``out=`` receives it."""
        return self._run(GRAD, y_true, y_pred, reduction, sample_weight, out, params)

    def value_and_grad(self, y_true: Any, y_pred: Any, *, reduction: str = "mean", sample_weight: Any = None,
                       out: Any = None, **params: Any) -> tuple[Any, np.ndarray]:
        """``(value, grad)`` computed in one pass; ``out=`` receives the gradient."""
        return self._run(VALUE_AND_GRAD, y_true, y_pred, reduction, sample_weight, out, params)

    def grad_hess(self, y_true: Any, y_pred: Any, *, reduction: str = "mean", sample_weight: Any = None,
                  out: Any = None, **params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(grad, hess)``: the gradient and the diagonal of the Hessian with
        respect to ``y_pred`` in one pass, each shaped as ``grad``'s result;
        ``out=`` takes a pair of arrays."""
        return self._run(GRAD_HESS, y_true, y_pred, reduction, sample_weight, out, params)

    def _run(self, entry: int, y_true: Any, y_pred: Any, reduction: Any, sample_weight: Any, out: Any,
             params: dict[str, Any]) -> Any:
        raise NotImplementedError
