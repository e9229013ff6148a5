"""Memory: 100,000 calls of each entry point (value, grad, value_and_grad,
grad_hess), spread over every loss, and 20,000 calls that raise, grow the
resident set by less than 1 MiB. Small arrays, so that the calls (not the data)
are what is measured; RSS read from /proc/self/statm."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import fastloss as fl

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm"),
    # under AddressSanitizer (scripts/sanitize.sh) freed memory sits in its quarantine
    pytest.mark.skipif(bool(os.environ.get("FASTLOSS_SANITIZED")), reason="RSS is ASan's under the sanitizer"),
]
CALLS = 100_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _calls():
    """(callable, args, kwargs) per loss and configuration, with small float32 and float64 inputs."""
    rng = np.random.default_rng(0)
    out = []
    for dtype in (np.float32, np.float64):
        y = rng.uniform(0, 1, 37).astype(dtype)
        p = rng.uniform(0.1, 0.9, 37).astype(dtype)
        P = rng.dirichlet(np.ones(5), 9).astype(dtype)
        Q = rng.dirichlet(np.ones(5), 9).astype(dtype)
        lab = rng.integers(0, 5, 9)
        w = rng.uniform(0.5, 1.0, 37).astype(dtype)
        out += [
            (fl.mse, (y, p), {}), (fl.mae, (y, p), {"sample_weight": w}), (fl.huber, (y, p), {"delta": 0.5}),
            (fl.cauchy, (y, p), {}), (fl.binary_cross_entropy, (y, p), {"pos_weight": w}),
            (fl.binary_cross_entropy, (y, p), {"from_logits": True, "label_smoothing": 0.1}),
            (fl.focal_loss, (y, p), {}), (fl.focal_loss, (y, p), {"from_logits": True, "gamma": 0.5}),
            (fl.categorical_cross_entropy, (P, Q), {}), (fl.categorical_cross_entropy, (P, Q), {"from_logits": True}),
            (fl.sparse_categorical_cross_entropy, (lab, Q), {"class_weight": np.ones(5)}),
            (fl.sparse_categorical_cross_entropy, (lab, Q), {"from_logits": True, "ignore_index": 2}),
            (fl.kl_divergence, (P, Q), {}), (fl.kl_divergence, (P, Q), {"from_logits": True, "axis": 0}),
            (fl.gan_discriminator_loss, (y, p), {}), (fl.gan_generator_loss, (p,), {"from_logits": True}),
            (fl.triplet_loss, (P, Q, P[::-1]), {"margin": 0.1}), (fl.triplet_margin, (y, p), {}),
            (fl.custom("log1p((y - p)**2)"), (y, p), {}),
            (fl.custom("where(y > p, q * (y - p), (q - 1) * (y - p))", params={"q": 0.5}), (y, p), {"q": 0.9}),
        ]
    return out


def _run(entry, calls, count):
    for i in range(count):
        loss, args, kw = calls[i % len(calls)]
        if entry == "__call__":
            loss(*args, **kw)
        elif entry == "none":
            loss(*args, reduction="none", **kw)
        else:
            getattr(loss, entry)(*args, **kw)


@pytest.mark.parametrize("entry", ["__call__", "none", "grad", "value_and_grad", "grad_hess"])
def test_calls_do_not_leak(entry):
    calls = _calls()
    _run(entry, calls, 5_000)  # warm up: allocator pools, caches, first-call imports
    gc.collect()
    start = rss()
    _run(entry, calls, CALLS)
    gc.collect()
    grown = rss() - start
    assert grown < 1 << 20, f"{entry}: resident memory grew by {grown / 1024:.0f} KiB over {CALLS} calls"


def test_errors_do_not_leak():
    """Calls that raise (bad labels, bad weights, bad out=, bad dtypes) free what they took."""
    y = np.full(20, 0.5)
    P = np.full((4, 3), 1 / 3)
    bad = [
        lambda: fl.sparse_categorical_cross_entropy(np.array([0, 1, 7, 0]), P),
        lambda: fl.mse(y, y, sample_weight=-y),
        lambda: fl.mse.grad(y, y, out=np.empty(3)),
        lambda: fl.binary_cross_entropy(y, y + 1),
        lambda: fl.mse(y, np.zeros(20, complex)),
        lambda: fl.categorical_cross_entropy(P, -P),
    ]

    def run(n):
        for i in range(n):
            try:
                bad[i % len(bad)]()
            except (ValueError, TypeError, IndexError):
                pass
            else:
                raise AssertionError("expected an error")

    run(2_000)
    gc.collect()
    start = rss()
    run(20_000)
    gc.collect()
    grown = rss() - start
    assert grown < 1 << 20, f"resident memory grew by {grown / 1024:.0f} KiB over 20,000 failing calls"
