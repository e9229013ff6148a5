"""Small timing helpers for ``python -m fastloss`` (the benchmarks proper use
pytest-benchmark, in benchmarks/)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def median_seconds(fn: Callable[[], Any], budget: float = 0.08, rounds: int = 7) -> float:
    """Median over ``rounds`` rounds of the time of one call; each round runs
    enough calls to last about budget / rounds."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    per_round = max(1, int(budget / rounds / once))
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per_round):
            fn()
        samples.append((time.perf_counter() - t0) / per_round)
    return statistics.median(samples)


def format_seconds(s: float) -> str:
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.2f} ms"
