"""Ratios of medians from one pytest-benchmark JSON file.

    python -m pytest benchmarks --benchmark-json=bench.json
    python benchmarks/ratios.py bench.json [--sizes 100,1000000]

Prints a Markdown table per entry point: for each loss, dtype and n, the median
time of fastloss, the speed-up over the NumPy reference, and (value, n >= 1e6)
fastloss's speed as a fraction of the bandwidth probe's, and the speed-up over
each peer (PyTorch, numba, JAX) that ran. ``python -m fastloss bench`` gives
the same table without pytest."""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict


def load(path: str) -> dict[tuple[str, str, str, int], dict[str, float]]:
    with open(path) as f:
        data = json.load(f)
    groups: dict = defaultdict(dict)
    for b in data["benchmarks"]:
        m = re.match(r"(\w+) (\w+) (\w+) n=(\S+)(?: C=(\d+))?$", b["group"] or "")
        if not m:
            continue
        loss, entry, dtype, n = m.group(1), m.group(2), m.group(3), int(float(m.group(4)))
        if m.group(5):
            loss = f"{loss} (C={m.group(5)})"
        name = b["name"]
        impl = ("probe" if name.startswith("test_bandwidth_probe") else
                b["params"]["peer"] if name.startswith("test_peer_value") else
                "fastloss_out" if "fastloss_out" in name else
                "fastloss" if "fastloss" in name else "numpy")
        groups[(loss, entry, dtype, n)][impl] = b["stats"]["median"]
    return groups


def fmt(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--sizes", default="")
    args = ap.parse_args()
    sizes = {int(float(s)) for s in args.sizes.split(",") if s}
    groups = load(args.json)
    peers = [p for p in ("torch", "numba", "jax") if any(p in t for t in groups.values())]
    for entry in ("value", "value_and_grad"):
        print(f"\n**{entry}** (median; speed-up = other implementation's time / fastloss time)\n")
        cols = ["loss", "dtype", "n", "fastloss", "vs NumPy", "vs bandwidth probe"]
        cols += [f"vs {p}" for p in peers] if entry == "value" else []
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for (loss, e, dtype, n), t in sorted(groups.items()):
            if e != entry or (sizes and n not in sizes) or "fastloss" not in t:
                continue
            fast = t["fastloss_out"] if entry == "value_and_grad" and "fastloss_out" in t else t["fastloss"]
            probe = f"{t['probe'] / fast:.0%}" if "probe" in t else ""
            others = [f"{t[p] / fast:.2f}×" if p in t else "" for p in peers] if entry == "value" else []
            print("| " + " | ".join([loss, dtype, f"{n:.0e}", fmt(fast), f"{t['numpy'] / fast:.1f}×", probe, *others])
                  + " |")


if __name__ == "__main__":
    main()
