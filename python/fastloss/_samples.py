"""Typical inputs for each kind of loss, for ``python -m fastloss`` and the
benchmarks: the positional arguments of a call with default parameters."""

from __future__ import annotations

import numpy as np


def typical_inputs(loss, n: int, dtype, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    if loss.domain == "real":
        y = rng.normal(size=n)
        args = (y, y + rng.normal(size=n))
    elif loss.domain == "binary":
        args = (rng.integers(0, 2, size=n).astype(float), rng.uniform(0.001, 0.999, size=n))
    elif loss.domain == "gan":
        args = (rng.uniform(0.001, 0.999, size=n), rng.uniform(0.001, 0.999, size=n))
        if loss.name == "gan_generator_loss":
            args = args[1:]
    else:
        raise NotImplementedError(loss.domain)
    return tuple(a.astype(dtype) for a in args)
