"""Python threads: many at once give the single-thread bits, and the GIL is
released inside the kernels."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import fastloss as fl


@pytest.fixture
def restore_threads():
    yield
    fl.set_num_threads(0)


def _flat(results):
    if isinstance(results, (tuple, list)):
        return [x for r in results for x in _flat(r)]
    return [np.asarray(results)]


def _work(rng):
    """Mixed calls (every loss family, both dtypes, sizes below and above the
    OpenMP thresholds), each returning arrays to compare bit for bit."""
    y = rng.uniform(size=70_001)
    z = rng.normal(size=70_001) * 4
    y32, z32 = y.astype(np.float32), z.astype(np.float32)
    P = rng.dirichlet(np.ones(6), 3_001)
    Z = rng.normal(size=(3_001, 6)) * 3
    lab = rng.integers(0, 6, 3_001)
    E = [rng.normal(size=(701, 8)) for _ in range(3)]
    small = rng.uniform(size=33)
    return [
        lambda: (fl.mse(y, z), fl.mse.grad_hess(y, z)),
        lambda: fl.huber.value_and_grad(y32, z32, delta=0.5),
        lambda: (fl.cauchy(y, z, reduction="none"),),
        lambda: fl.binary_cross_entropy.grad_hess(y32, z32, from_logits=True, pos_weight=2.0),
        lambda: (fl.binary_cross_entropy(small[::-1], np.clip(small, 0.01, 0.99), reduction="none"),),
        lambda: fl.focal_loss.value_and_grad(y, z, from_logits=True),
        lambda: fl.categorical_cross_entropy.grad_hess(P, Z, from_logits=True),
        lambda: (fl.sparse_categorical_cross_entropy(lab, P, reduction="none"),),
        lambda: fl.kl_divergence.value_and_grad(P, Z, from_logits=True),
        lambda: fl.triplet_loss.grad_hess(*E),
        lambda: fl.gan_discriminator_loss.value_and_grad(small, small[::-1]),
        lambda: (fl.mae(small, small[::-1]), fl.triplet_margin.grad(small, small[::-1])),
    ]


def test_16_python_threads_bitwise(rng, restore_threads):
    """16 Python threads x 200 calls at once, mixed losses (the kernels' own OpenMP
    threads on top): every result is bitwise the single-threaded one."""
    work = _work(rng)
    fl.set_num_threads(1)
    expected = [[x.tobytes() for x in _flat(w())] for w in work]
    fl.set_num_threads(0)
    errors: list = []
    start = threading.Barrier(16)

    def worker(k):
        try:
            start.wait()
            for i in range(200):
                j = (k * 7 + i) % len(work)
                got = [x.tobytes() for x in _flat(work[j]())]
                if got != expected[j]:
                    errors.append((k, i, j))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def test_gil_released_python_progress(restore_threads):
    """While one thread is inside a long kernel call, another thread runs Python
    code. With the GIL held it could not run at all during the call; with the GIL
    released it gets at least a share of a core, even on one core."""
    fl.set_num_threads(1)
    y = np.random.default_rng(1).uniform(0.1, 0.9, 4_000_000)
    fl.focal_loss.grad_hess(y, y[::-1], from_logits=True)  # warm up
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        ratios = []
        for _ in range(3):
            c0, t0 = counter[0], time.perf_counter()
            fl.focal_loss.grad_hess(y, y[::-1], from_logits=True)
            c1, t1 = counter[0], time.perf_counter()
            # the spinner's rate during the call, against its rate alone
            time.sleep(t1 - t0)
            c2, t2 = counter[0], time.perf_counter()
            ratios.append((c1 - c0) / max(c2 - c1, 1))
    finally:
        stop.set()
        t.join()
    # Holding the GIL for the call would let the spinner run only at the call's
    # edges (ratio ~0); released, it runs throughout (ratio ~1 with 2 free cores,
    # ~0.5 when sharing one).
    assert max(ratios) > 0.2, ratios


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores")
@pytest.mark.skipif(bool(os.environ.get("FASTLOSS_SANITIZED")), reason="timing under the sanitizers")
def test_gil_released_two_threads_faster(restore_threads):
    """Two Python threads, one kernel thread each, on large inputs finish sooner
    than the same two calls one after the other (min of several repeats, so that
    a noisy machine does not decide)."""
    fl.set_num_threads(1)
    rng = np.random.default_rng(2)
    a = [rng.uniform(0.1, 0.9, 3_000_000) for _ in range(2)]
    # Outputs reused: fresh 24 MB arrays would be page-faulted in by both threads at
    # once, which serialises on the process's memory map lock (and new threads get new
    # malloc arenas, so the serial calls reuse pages the threads do not): that measured
    # 2.8x the serial time in a full test run, whatever the GIL does.
    outs = {id(x): (np.empty_like(x), np.empty_like(x)) for x in a}

    def call(x):
        fl.focal_loss.grad_hess(x, x, from_logits=True, out=outs[id(x)])

    call(a[0])
    serial, parallel = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        call(a[0])
        call(a[1])
        serial.append(time.perf_counter() - t0)
        ts = [threading.Thread(target=call, args=(x,)) for x in a]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        parallel.append(time.perf_counter() - t0)
        if min(parallel) / min(serial) < 0.7:
            break
    ratio = min(parallel) / min(serial)
    if ratio >= 0.85 and os.getloadavg()[0] > (os.cpu_count() or 1) - 0.5:
        # other processes hold the cores: two threads cannot run at once, whatever the GIL
        # does (test_gil_released_python_progress shows the release without timing)
        pytest.skip(f"cores busy (load {os.getloadavg()[0]:.1f}): ratio {ratio:.2f} says nothing")
    assert ratio < 0.85, f"two threads took {ratio:.2f} of the serial time ({parallel} vs {serial})"
