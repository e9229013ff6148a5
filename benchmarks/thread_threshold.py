"""Measures where threads start to pay off, per loss and dtype: the source of
kDefaultParallelThreshold in cpp/include/fastloss/kernel_table.hpp.

    python benchmarks/thread_threshold.py [--threads 2]

With the thresholds set to 0 (threads at every size), prints the median time of
one call on 1 thread and on --threads threads for n = 2^12 .. 2^21, and the
smallest n from which the threaded call is faster at every larger n tried."""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

import fastloss as fl
from fastloss import _core


def median_call(fn, n: int) -> float:
    number = max(1, int(1e7 / max(n, 1)))
    return statistics.median(timeit.repeat(fn, number=number, repeat=9)) / number


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for cost in (0, 1):
        _core.set_parallel_threshold(cost, 0)
    try:
        for loss in fl.LOSSES.values():
            for dtype in (np.float32, np.float64):
                faster_from = None
                for k in range(12, 22):
                    n = 2**k
                    y, p = rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype)
                    times = []
                    for threads in (1, args.threads):
                        fl.set_num_threads(threads)
                        times.append(median_call(lambda: loss(y, p), n))
                    speedup = times[0] / times[1]
                    faster_from = (faster_from or n) if speedup > 1.0 else None
                    print(f"{loss.name:8s} {np.dtype(dtype).name:8s} n=2^{k:<3d} 1 thread {times[0] * 1e6:9.1f} µs"
                          f"  {args.threads} threads {times[1] * 1e6:9.1f} µs  speed-up {speedup:.2f}")
                print(f"--> {loss.name} {np.dtype(dtype).name}: threads pay off from n = {faster_from}\n")
    finally:
        for cost in (0, 1):
            _core.set_parallel_threshold(cost, -1)
        fl.set_num_threads(0)


if __name__ == "__main__":
    main()
