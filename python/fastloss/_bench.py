"""``python -m fastloss bench``: fastloss against the NumPy reference, the
bandwidth probe and the installed peers (PyTorch, numba, JAX), in one process,
with medians of interleaved rounds; prints the table of ratios, checks the
speed targets, and writes the table (Markdown, JSON) and a PNG plot of speed
against n per loss into ``--out-dir``.

Every implementation is checked against the NumPy reference before it is timed."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import fastloss as fl
from fastloss import _core
from fastloss import _peers
from fastloss._samples import typical_inputs
from fastloss._timing import format_seconds

DEFAULT_SIZES = (10**2, 10**3, 10**4, 10**5, 10**6, 10**7)
QUICK_SIZES = (10**2, 10**4, 10**6)
PEER_RTOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-9}
FAST_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}

# The targets: which cases each applies to.
MEMORY_BOUND = ("mse", "mae", "huber", "triplet_loss")
TRANSCENDENTAL = ("cauchy", "binary_cross_entropy", "binary_cross_entropy_logits", "focal_loss",
                  "categorical_cross_entropy", "sparse_categorical_cross_entropy",
                  "sparse_categorical_cross_entropy_logits", "kl_divergence")


@dataclass(frozen=True)
class Case:
    key: str       # loss name, or binary_cross_entropy_logits / sparse_categorical_cross_entropy_logits
    loss: Any
    classes: int = 1
    kwargs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.key if self.classes == 1 else f"{self.key} (C={self.classes})"


def cases() -> list[Case]:
    out = []
    for loss in sorted(fl.LOSSES.values(), key=lambda x: x.name):
        if loss.domain in ("categorical", "sparse", "triplet"):
            out += [Case(loss.name, loss, c) for c in (10, 1000)]
        else:
            out.append(Case(loss.name, loss))
        if loss.name == "binary_cross_entropy":
            out.append(Case("binary_cross_entropy_logits", loss, 1, {"from_logits": True}))
        if loss.name == "sparse_categorical_cross_entropy":  # PyTorch's cross_entropy: logits and labels
            out += [Case("sparse_categorical_cross_entropy_logits", loss, c, {"from_logits": True}) for c in (10, 1000)]
    return out


def inputs(case: Case, n: int, dtype) -> tuple[np.ndarray, ...]:
    args = typical_inputs(case.loss, n, dtype, seed=n, classes=case.classes)
    if case.key == "binary_cross_entropy_logits":
        p = args[1].astype(np.float64)
        args = (args[0], (np.log(p) - np.log1p(-p)).astype(dtype))  # the logits of the probabilities
    elif case.key == "sparse_categorical_cross_entropy_logits":
        args = (args[0], np.log(args[1].astype(np.float64)).astype(dtype))  # logits whose softmax is the rows
    return args


def probe_call(case: Case, args: tuple[np.ndarray, ...]) -> Callable[[], Any] | None:
    """The bandwidth probe on the same inputs, when they are all of one float dtype and size."""
    if len(args) < 2 or any(a.dtype != args[-1].dtype or a.size != args[-1].size for a in args):
        return None
    flat = [a.reshape(-1) for a in args]
    return lambda: _core.bandwidth_probe(*flat)


def _grad_out(case: Case, args):
    if case.loss.domain == "triplet" or (case.loss.domain == "gan" and len(args) == 2):
        return tuple(np.empty_like(a) for a in args)
    return np.empty_like(args[-1])


class Timed:
    """One implementation in the comparison: a call, and what to do around its rounds."""

    def __init__(self, fn: Callable[[], Any], before: Callable[[], None] | None = None,
                 after: Callable[[], None] | None = None):
        self.fn, self.before, self.after = fn, before, after
        self.samples: list[float] = []
        self.per_round = 1


def compare(impls: dict[str, Timed], rounds: int, budget: float) -> dict[str, float]:
    """Median seconds per call of each implementation, from ``rounds`` rounds
    that take turns (so that a slow period of the machine hits all of them)."""
    for t in impls.values():
        if t.before:
            t.before()
        t.fn()
        t0 = time.perf_counter()
        t.fn()
        once = max(time.perf_counter() - t0, 1e-7)
        if t.after:
            t.after()
        t.per_round = max(1, int(budget / rounds / once))
    for _ in range(rounds):
        for t in impls.values():
            if t.before:
                t.before()
            fn, k = t.fn, t.per_round
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            t.samples.append((time.perf_counter() - t0) / k)
            if t.after:
                t.after()
    return {name: statistics.median(t.samples) for name, t in impls.items()}


def measure(case: Case, dtype, n: int, peers: list[str], rounds: int, budget: float,
            extras: bool) -> dict[str, float]:
    """Median times of every implementation for one (case, dtype, n)."""
    args = inputs(case, n, dtype)
    loss, kw = case.loss, case.kwargs
    dt = np.dtype(dtype)
    expected = float(loss.reference(*args, **kw))
    value = float(loss(*args, **kw))
    if not math.isclose(value, expected, rel_tol=FAST_RTOL[dt], abs_tol=1e-12):
        raise AssertionError(f"fastloss {case.label} {dt.name} n={n}: {value} != reference {expected}")

    fast = (lambda: loss(*args, **kw)) if kw else (lambda: loss(*args))
    impls = {"fastloss": Timed(fast), "numpy": Timed(lambda: loss.reference(*args, **kw))}
    probe = probe_call(case, args)
    if probe is not None:
        impls["probe"] = Timed(probe)
    for peer in peers:
        call = _peers.peer_call(peer, case.key, args)
        if call is None:
            continue
        got = float(call())
        if not math.isclose(got, expected, rel_tol=PEER_RTOL[dt], abs_tol=1e-12):
            raise AssertionError(f"{peer} {case.label} {dt.name} n={n}: {got} != reference {expected}")
        impls[peer] = Timed(call)
    if extras:
        threads = fl.get_num_threads()
        impls["fastloss_1thread"] = Timed(fast, lambda: fl.set_num_threads(1), lambda: fl.set_num_threads(threads))
        if probe is not None:  # the memory system's own thread speed-up on these inputs
            impls["probe_1thread"] = Timed(probe, lambda: fl.set_num_threads(1), lambda: fl.set_num_threads(threads))
        if case.key == "triplet_margin":  # its gradients take no out=
            impls["value_and_grad_out"] = Timed(lambda: loss.value_and_grad(*args, **kw))
        else:
            out = _grad_out(case, args)
            impls["value_and_grad_out"] = Timed(lambda: loss.value_and_grad(*args, out=out, **kw))
    try:
        return compare(impls, rounds, budget)
    finally:
        del impls


# ---------------------------------------------------------------- report

def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} CPUs, {_core.isa()} kernels, {fl.get_num_threads()} threads, "
            f"NumPy {np.__version__}, Python {platform.python_version()}")


def peer_versions(peers: list[str]) -> str:
    parts = []
    for peer in peers:
        mod = __import__(peer)
        parts.append(f"{peer} {getattr(mod, '__version__', '?')}")
    return ", ".join(parts) if parts else "none installed"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else ""


def table(results: list[dict], peers: list[str]) -> str:
    head = ["loss", "dtype", "n", "fastloss", "vs NumPy", "vs probe", *[f"vs {p}" for p in peers],
            "2 threads vs 1", "value_and_grad(out=) / value"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        t = r["times"]
        fast = t["fastloss"]
        probe = f"{t['probe'] / fast:.0%}" if "probe" in t and r["n"] >= 10**6 else ""
        row = [r["case"], r["dtype"], f"{r['n']:.0e}", format_seconds(fast), _ratio(t["numpy"], fast), probe,
               *[_ratio(t.get(p), fast) for p in peers], _ratio(t.get("fastloss_1thread"), fast),
               _ratio(t.get("value_and_grad_out"), fast)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets(results: list[dict], peers: list[str]) -> list[tuple[str, bool | None, str]]:
    """(target, met (None: not measured), the numbers) for the issue's targets
    that this run measures."""
    def pick(pred):
        return [r for r in results if pred(r)]

    def worst(rows, ratio, lowest=True):
        vals = [(ratio(r), r) for r in rows if ratio(r) is not None]
        if not vals:
            return None
        return min(vals, key=lambda v: v[0]) if lowest else max(vals, key=lambda v: v[0])

    def desc(r):
        return f"{r['case']} {r['dtype']} n={r['n']:.0e}"

    out = []
    rows = pick(lambda r: r["key"] in MEMORY_BOUND and r["n"] >= 10**7)
    w = worst(rows, lambda r: r["times"]["probe"] / r["times"]["fastloss"] if "probe" in r["times"] else None)
    out.append(("1. memory-bound losses at n >= 1e7: >= 90% of the bandwidth probe",
                None if w is None else w[0] >= 0.9, "" if w is None else f"lowest {w[0]:.0%} ({desc(w[1])})"))
    rows = pick(lambda r: r["key"] in TRANSCENDENTAL and r["n"] >= 10**6)
    w = worst(rows, lambda r: r["times"]["numpy"] / r["times"]["fastloss"])
    out.append(("2a. transcendental losses at n >= 1e6: >= 5x NumPy",
                None if w is None else w[0] >= 5, "" if w is None else f"lowest {w[0]:.1f}x ({desc(w[1])})"))
    for peer in peers:
        w = worst(rows, lambda r: r["times"][peer] / r["times"]["fastloss"] if peer in r["times"] else None)
        out.append((f"2b. transcendental losses at n >= 1e6: faster than {peer}",
                    None if w is None else w[0] > 1.0, "" if w is None else f"lowest {w[0]:.2f}x ({desc(w[1])})"))
    rows = pick(lambda r: r["n"] == 100)
    w = worst(rows, lambda r: r["times"]["numpy"] / r["times"]["fastloss"])
    out.append(("3a. n = 100: every loss >= 3x NumPy per call",
                None if w is None else w[0] >= 3, "" if w is None else f"lowest {w[0]:.1f}x ({desc(w[1])})"))
    if "numba" in peers:
        w = worst(pick(lambda r: r["n"] == 100 and r["key"] == "mse"),
                  lambda r: r["times"]["numba"] / r["times"]["fastloss"] if "numba" in r["times"] else None)
        out.append(("3b. n = 100: mse faster than numba's fused loop", None if w is None else w[0] > 1.0,
                    "" if w is None else f"{w[0]:.2f}x ({desc(w[1])}: fastloss "
                    f"{format_seconds(w[1]['times']['fastloss'])}, numba {format_seconds(w[1]['times']['numba'])})"))
    rows = pick(lambda r: r["n"] >= 10**7)
    w = worst(rows, lambda r: r["times"]["value_and_grad_out"] / r["times"]["fastloss"]
              if "value_and_grad_out" in r["times"] else None, lowest=False)
    out.append(("4. value_and_grad(out=) <= 1.6x value at n = 1e7",
                None if w is None else w[0] <= 1.6, "" if w is None else f"highest {w[0]:.2f}x ({desc(w[1])})"))
    rows = pick(lambda r: r["key"] in TRANSCENDENTAL and r["n"] >= 10**6)
    w = worst(rows, lambda r: r["times"]["fastloss_1thread"] / r["times"]["fastloss"]
              if "fastloss_1thread" in r["times"] else None)
    probe_note = ""
    if w is not None and "probe_1thread" in w[1]["times"]:
        t = w[1]["times"]
        probe_note = f"; the bandwidth probe's own speed-up there {t['probe_1thread'] / t['probe']:.2f}x"
    out.append((f"5a. transcendental losses at n >= 1e6: {fl.get_num_threads()}-thread speed-up >= 1.7x",
                None if w is None else w[0] >= 1.7,
                "" if w is None else f"lowest {w[0]:.2f}x ({desc(w[1])}{probe_note})"))
    w = worst(results, lambda r: r["times"]["fastloss_1thread"] / r["times"]["fastloss"]
              if "fastloss_1thread" in r["times"] else None)
    out.append(("5b. no loss slower with threads than without (10% noise allowed)",
                None if w is None else w[0] >= 0.9, "" if w is None else f"lowest {w[0]:.2f}x ({desc(w[1])})"))
    return out


def plot(results: list[dict], peers: list[str], path: str, dtype: str) -> bool:
    """Speed (elements per second) against n, one panel per loss; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in results if r["dtype"] == dtype]
    labels = list(dict.fromkeys(r["case"] for r in rows))
    cols = 4
    fig_rows = max(1, math.ceil(len(labels) / cols))
    fig, axes = plt.subplots(fig_rows, cols, figsize=(4 * cols, 3 * fig_rows), squeeze=False)
    impls = ["fastloss", "numpy", "probe", *peers]
    styles = {"fastloss": dict(color="C3", lw=2.5), "numpy": dict(color="C0"), "probe": dict(color="k", ls=":"),
              "torch": dict(color="C1"), "numba": dict(color="C2"), "jax": dict(color="C4")}
    for ax, label in zip(axes.flat, labels):
        mine = sorted((r for r in rows if r["case"] == label), key=lambda r: r["n"])
        for impl in impls:
            pts = [(r["n"], r["n"] / r["times"][impl]) for r in mine if impl in r["times"]]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=impl, **styles.get(impl, {}))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    handles, names = [], []
    for ax in axes.flat:
        for h, nm in zip(*ax.get_legend_handles_labels()):
            if nm not in names:
                handles.append(h)
                names.append(nm)
    fig.legend(handles, names, loc="lower right", ncol=len(names), fontsize=9)
    fig.suptitle(f"Elements per second against n ({dtype}, value, mean; higher is faster)", fontsize=11)
    fig.supxlabel("n (elements)", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m fastloss bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, float64, fewer rounds")
    ap.add_argument("--sizes", help="comma-separated sizes (e.g. 100,1e6); default 1e2..1e7")
    ap.add_argument("--dtypes", help="comma-separated: float32,float64 (default both; --quick: float64)")
    ap.add_argument("--losses", help="comma-separated case keys (e.g. mse,kl_divergence); default all")
    ap.add_argument("--peers", help="comma-separated subset of torch,numba,jax (default: every installed one)")
    ap.add_argument("--rounds", type=int, help="timing rounds per point (default 7, --quick 5)")
    ap.add_argument("--budget", type=float, help="seconds per implementation and point (default 0.15)")
    ap.add_argument("--no-extras", action="store_true", help="skip the 1-thread and value_and_grad timings")
    ap.add_argument("--table-sizes", help="sizes shown in the printed table and bench.md (default: all)")
    ap.add_argument("--out-dir", default="bench-results", help="where bench.md, bench.json and the PNGs go")
    a = ap.parse_args(argv)
    sizes = tuple(int(float(s)) for s in a.sizes.split(",")) if a.sizes else (QUICK_SIZES if a.quick else DEFAULT_SIZES)
    dtypes = a.dtypes.split(",") if a.dtypes else (["float64"] if a.quick else ["float32", "float64"])
    rounds = a.rounds or (5 if a.quick else 7)
    budget = a.budget or (0.05 if a.quick else 0.15)
    if a.peers is not None:
        peers = [p for p in a.peers.split(",") if p]
        unknown = set(peers) - set(_peers.PEERS)
        if unknown:
            ap.error(f"unknown peers {sorted(unknown)}; choose from {_peers.PEERS}")
        missing = [p for p in peers if not _peers.installed(p)]
        if missing:
            ap.error(f"not installed: {missing}")
    else:
        peers = [p for p in _peers.PEERS if _peers.installed(p)]
    chosen = cases()
    if a.losses:
        keys = set(a.losses.split(","))
        chosen = [c for c in chosen if c.key in keys]
        if not chosen:
            ap.error(f"no case matches {sorted(keys)}")

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"fastloss bench, {stamp}\n{machine()}\npeers: {peer_versions(peers)}\n", flush=True)
    results = []
    started = time.perf_counter()
    for case in chosen:
        for dtype in dtypes:
            for n in sizes:
                times = measure(case, np.dtype(dtype), n, peers, rounds, budget, not a.no_extras)
                results.append({"case": case.label, "key": case.key, "dtype": dtype, "n": n, "times": times})
                t = times
                print(f"  {case.label:42s} {dtype:8s} n={n:<9.0e} fastloss {format_seconds(t['fastloss']):>9s}  "
                      + "  ".join(f"{k} {t[k] / t['fastloss']:.2f}x" for k in t if k != "fastloss"), flush=True)
    print(f"\n({time.perf_counter() - started:.0f} s)\n")
    shown = results
    if a.table_sizes:
        keep = {int(float(x)) for x in a.table_sizes.split(",")}
        shown = [r for r in results if r["n"] in keep]
    md = table(shown, peers)
    summary = targets(results, peers)
    status = {True: "met", False: "NOT met", None: "not measured"}
    summary_md = "\n".join(f"- {name}: **{status[ok]}** {numbers}" for name, ok, numbers in summary)
    note = ("Ratios are other implementation's median time / fastloss's median time (> 1: fastloss is faster); "
            "'vs probe' is the probe's time / fastloss's (fastloss's speed as a fraction of reading the inputs); "
            "'2 threads vs 1' is the 1-thread time / the default thread count's time.")
    print(md)
    print("\n" + note + "\n\nTargets:\n" + summary_md)
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "bench.md"), "w") as f:
        f.write(f"fastloss bench, {stamp}; {machine()}; peers: {peer_versions(peers)}\n\n{md}\n\n{note}\n\n"
                f"Targets:\n\n{summary_md}\n")
    with open(os.path.join(a.out_dir, "bench.json"), "w") as f:
        json.dump({"date": stamp, "machine": machine(), "peers": peers, "results": results}, f, indent=1)
    for dtype in dtypes:
        path = os.path.join(a.out_dir, f"speed_{dtype}.png")
        if plot(results, peers, path, dtype):
            print(f"wrote {path}")
        else:
            print("matplotlib is not installed: no plot (pip install 'fastloss[bench]' or matplotlib)")
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
