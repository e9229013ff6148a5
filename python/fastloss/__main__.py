"""``python -m fastloss``: the seed's worked examples, then a short speed table
against the NumPy reference. ``python -m fastloss bench [options]``: the full
comparison (NumPy, bandwidth probe, installed peers), its table, targets and
plot (see ``python -m fastloss bench --help``)."""

from __future__ import annotations

import platform
import sys

import numpy as np

import fastloss as fl
from fastloss import _core
from fastloss._samples import typical_inputs
from fastloss._timing import format_seconds, median_seconds

# (loss, description of the inputs, call, the seed's figure, note) - SPEC section 4.
EXAMPLES = [
    ("mse", "y=6.3, ŷ=6.1", lambda: fl.mse([6.3], [6.1]), "0.04", ""),
    ("mae", "y=6.3, ŷ=6.1", lambda: fl.mae([6.3], [6.1]), "0.2", ""),
    ("huber δ=1", "y=6.3, ŷ=6.1", lambda: fl.huber([6.3], [6.1], delta=1.0), "0.02", ""),
    ("cauchy (sum)", "y=6.3, ŷ=6.1", lambda: fl.cauchy([6.3], [6.1], reduction="sum"), "—",
     "the seed gives no figure"),
    ("custom (sum)", "y=6.3, ŷ=6.1", lambda: fl.custom("log1p((y - p)**2)")([6.3], [6.1], reduction="sum"), "—",
     "fl.custom(\"log1p((y - p)**2)\"): the seed's custom loss from its formula"),
    ("BCE", "y=1, ŷ=0.8", lambda: fl.binary_cross_entropy([1.0], [0.8]), "0.223", ""),
    ("CCE", "y=[1,0,0], ŷ=[0.7,0.2,0.1]", lambda: fl.categorical_cross_entropy([1, 0, 0], [0.7, 0.2, 0.1]),
     "0.357", ""),
    ("sparse CCE", "y=0, ŷ=[0.7,0.2,0.1]", lambda: fl.sparse_categorical_cross_entropy(0, [0.7, 0.2, 0.1]),
     "0.357", ""),
    ("KL", "P=[0.4,0.6], Q=[0.5,0.5]", lambda: fl.kl_divergence([0.4, 0.6], [0.5, 0.5]), "0.018",
     "erratum: the seed's 0.018 is wrong; Keras, optax and PyTorch agree on 0.0201356"),
    ("GAN D", "D(x)=0.9, D(G(z))=0.1", lambda: fl.gan_discriminator_loss([0.9], [0.1]), "0.105", ""),
    ("focal", "p_t=0.9, α=0.25, γ=2", lambda: fl.focal_loss([1.0], [0.9], alpha=0.25, gamma=2.0), "0.001",
     "erratum: the seed's 0.001 is the value without α (0.00105)"),
    ("triplet", "d(a,p)=0.5, d(a,n)=1.0, margin 0.2", lambda: fl.triplet_margin([0.5], [1.0], margin=0.2), "0",
     ""),
]


def _agrees(value: float, seed: str) -> bool:
    try:
        figure = float(seed)
    except ValueError:
        return True
    decimals = len(seed.split(".")[1]) if "." in seed else 0
    return round(value, decimals) == figure


def print_examples() -> None:
    print("The seed's worked examples (SPEC section 4)\n")
    rows = [("loss", "inputs", "fastloss", "seed says", "note")]
    for name, inputs, call, seed, note in EXAMPLES:
        value = float(call())
        if not _agrees(value, seed) and not note:
            note = "differs from the seed's figure"
        rows.append((name, inputs, f"{value:.7g}", seed, note))
    _table(rows)


def print_speed(sizes=(100, 10_000, 1_000_000)) -> None:
    print(f"\nSpeed against the NumPy reference (median time per call; {_machine()})\n")
    rows = [("loss", "dtype", "n", "fastloss", "NumPy reference", "speed-up")]
    for loss in fl.LOSSES.values():
        for dtype in (np.float32, np.float64):
            for n in sizes:
                args = typical_inputs(loss, n, dtype)
                t_fast = median_seconds(lambda: loss(*args))
                t_ref = median_seconds(lambda: loss.reference(*args))
                rows.append((loss.name, np.dtype(dtype).name, f"{n:,}", format_seconds(t_fast),
                             format_seconds(t_ref), f"{t_ref / t_fast:.1f}×"))
    _table(rows)


def _machine() -> str:
    return (f"{platform.machine()}, {_core.isa()} kernels, {fl.get_num_threads()} threads, "
            f"NumPy {np.__version__}, Python {platform.python_version()}")


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str]) -> int:
    if argv and argv[0] == "bench":
        from fastloss._bench import main as bench

        return bench(argv[1:])
    if argv:
        print("usage: python -m fastloss [bench [--help]]", file=sys.stderr)
        return 2
    print_examples()
    print_speed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
