"""Inputs for the benchmarks. Groups put fastloss and the NumPy reference (and the
bandwidth probe) side by side; compare medians within a group."""

from __future__ import annotations

import numpy as np

from fastloss._samples import typical_inputs

_cache: dict = {}


def sample(loss, n: int, dtype, classes: int = 10) -> tuple:
    """The positional inputs of ``loss`` with about n elements (n // classes
    examples for losses with a class or embedding axis); cached: the last set."""
    key = (loss.name, n, np.dtype(dtype).name, classes)
    if key not in _cache:
        _cache.clear()
        _cache[key] = typical_inputs(loss, n, dtype, seed=n, classes=classes)
    return _cache[key]


def case_sample(case, n: int, dtype) -> tuple:
    """The inputs of a fastloss._bench.Case (cached like ``sample``)."""
    from fastloss import _bench

    key = (case.key, n, np.dtype(dtype).name, case.classes)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _bench.inputs(case, n, dtype)
    return _cache[key]
