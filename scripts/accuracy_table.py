"""Worst measured error (ulp) per loss, dtype and entry point, as the README's
Correctness table: runs the accuracy cases of tests/test_accuracy.py.

    python scripts/accuracy_table.py [N]        # N random inputs per case (default 10,000)
    python scripts/accuracy_table.py 100000 --cases   # one row per configuration
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import numpy as np  # noqa: E402

import test_accuracy as T  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else T.N_RANDOM
    per_case = "--cases" in sys.argv
    rows: dict = {}
    beyond: dict = {}  # the same, less the per-element allowance, where a case has one
    failed = []
    t0 = time.perf_counter()
    for c in T.CASES:
        family = c.name if per_case else c.name.split("(")[0] + (" (logits)" if "from_logits" in c.name else "")
        for dtype in T.DTYPES:
            worst = T.measure(c, dtype, n)
            for entry, (excess, where, raw) in worst.items():
                kind = entry.split("_")[0]
                key = (family, np.dtype(dtype).name, kind)
                rows[key] = max(rows.get(key, 0.0), raw)
                if c.allow is not None:
                    beyond[key] = max(beyond.get(key, 0.0), excess)
                b = T.bound(c, entry, dtype)
                if excess > b:
                    failed.append(f"{c.name} {np.dtype(dtype).name} {entry}: {excess:.3g} > {b}")
    print(f"{n} random inputs per case plus the adversarial set; {time.perf_counter() - t0:.0f} s\n")
    print("| loss | float32 value | grad | hess | float64 value | grad | hess |")
    print("|---|---|---|---|---|---|---|")
    for family in dict.fromkeys(k[0] for k in rows):
        cells = [f"{rows[(family, d, e)]:.2f}" if (family, d, e) in rows else "—"
                 for d in ("float32", "float64") for e in ("value", "grad", "hess")]
        print(f"| {family} | " + " | ".join(cells) + " |")
    if beyond:
        print("\nless the documented allowance (logit shift; subnormal sigmoid):\n")
        print("| loss | float32 value | grad | hess | float64 value | grad | hess |")
        print("|---|---|---|---|---|---|---|")
        for family in dict.fromkeys(k[0] for k in beyond):
            cells = [f"{beyond[(family, d, e)]:.2f}" if (family, d, e) in beyond else "—"
                     for d in ("float32", "float64") for e in ("value", "grad", "hess")]
            print(f"| {family} | " + " | ".join(cells) + " |")
    if failed:
        print("\nover the bound:\n" + "\n".join(failed))


if __name__ == "__main__":
    main()
