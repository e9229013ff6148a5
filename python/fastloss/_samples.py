"""Typical inputs for each kind of loss, for ``python -m fastloss`` and the
benchmarks: the positional arguments of a call with default parameters."""

from __future__ import annotations

import numpy as np


def typical_inputs(loss, n: int, dtype, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, ...]:
    """About n elements in all: for losses with a class (or embedding) axis,
    n // classes examples of ``classes`` probabilities (or features)."""
    rng = np.random.default_rng(seed)
    rows = max(1, n // classes)
    if loss.domain == "real":
        y = rng.normal(size=n)
        args = (y, y + rng.normal(size=n))
    elif loss.domain == "binary":
        args = (rng.integers(0, 2, size=n).astype(float), rng.uniform(0.001, 0.999, size=n))
    elif loss.domain == "gan":
        args = (rng.uniform(0.001, 0.999, size=n), rng.uniform(0.001, 0.999, size=n))
        if loss.name == "gan_generator_loss":
            args = args[1:]
    elif loss.domain in ("categorical", "sparse"):
        z = rng.normal(size=(rows, classes))
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        if loss.domain == "sparse":
            args = (rng.integers(0, classes, size=rows), probs)
            return args[0], args[1].astype(dtype)
        targets = np.eye(classes)[rng.integers(0, classes, size=rows)] if loss.name != "kl_divergence" else \
            np.roll(probs, 1, axis=1)
        args = (targets, probs)
    elif loss.domain == "triplet":
        args = tuple(rng.normal(size=(rows, classes)) for _ in range(3))
    elif loss.domain == "distances":
        args = (rng.uniform(0, 2, size=n), rng.uniform(0, 2, size=n))
    else:
        raise NotImplementedError(loss.domain)
    return tuple(a.astype(dtype) for a in args)
