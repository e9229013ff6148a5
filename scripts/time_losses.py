"""Median time of the value of every loss at the given sizes, as JSON on stdout:
the half of scripts/native_compare.sh that runs inside each build's venv.

    python scripts/time_losses.py [--sizes 1e6,1e7] [--dtypes float32,float64]"""

from __future__ import annotations

import argparse
import json

import numpy as np

from fastloss import _bench, _core
from fastloss._timing import median_seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--budget", type=float, default=0.3)
    a = ap.parse_args()
    times = {}
    for case in _bench.cases():
        for dtype in a.dtypes.split(","):
            for n in (int(float(s)) for s in a.sizes.split(",")):
                args = _bench.inputs(case, n, np.dtype(dtype))
                kw = case.kwargs
                times[f"{case.label}|{dtype}|{n}"] = median_seconds(lambda: case.loss(*args, **kw), budget=a.budget)
    print(json.dumps({"isa": _core.isa(), "times": times}))


if __name__ == "__main__":
    main()
