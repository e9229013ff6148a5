"""Inputs for the benchmarks. Groups put fastloss and the NumPy reference (and the
bandwidth probe) side by side; compare medians within a group."""

from __future__ import annotations

import numpy as np
_cache: dict = {}


def sample(loss, n: int, dtype):
    key = (loss.domain, n, np.dtype(dtype).name)
    if key not in _cache:
        rng = np.random.default_rng(n)
        if loss.domain == "real":
            y = rng.normal(size=n)
            p = y + rng.normal(size=n)
        else:
            raise NotImplementedError(loss.domain)
        _cache.clear()  # keep at most one size in memory
        _cache[key] = (y.astype(dtype), p.astype(dtype))
    return _cache[key]
