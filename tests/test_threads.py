"""Threads: set_num_threads, threadpoolctl, and the same bits for every thread count."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from conftest import ALL_LOSSES, inputs, loss_ids

threadpoolctl = pytest.importorskip("threadpoolctl")
THREAD_COUNTS = (1, 2, 3, 4, 7)


@pytest.fixture
def restore_threads():
    yield
    fl.set_num_threads(0)


def test_set_get_num_threads(restore_threads):
    fl.set_num_threads(1)
    assert fl.get_num_threads() == 1
    fl.set_num_threads(3)
    assert fl.get_num_threads() == 3
    with pytest.raises(TypeError):
        fl.set_num_threads(1.5)


@pytest.mark.skipif(not fl._core.openmp, reason="built without OpenMP")
def test_threadpoolctl_sees_and_limits(restore_threads):
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info)
    default = fl.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fl.get_num_threads() == 1
    assert fl.get_num_threads() == default
    fl.set_num_threads(4)
    with threadpoolctl.threadpool_limits(limits=1):
        assert fl.get_num_threads() == 1


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=loss_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_bitwise_identical_for_every_thread_count(loss, dtype, rng, restore_threads):
    y, p = inputs(loss, 1_000_003, dtype, rng)
    w = rng.uniform(size=y.size).astype(dtype)

    def run():
        return (loss(y, p), loss(y, p, sample_weight=w, reduction="sum"),
                *loss.grad_hess(y, p, sample_weight=w), loss(y, p, reduction="none"))

    fl.set_num_threads(1)
    base = run()
    for n in THREAD_COUNTS[1:]:
        fl.set_num_threads(n)
        for a, b in zip(run(), base):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), n
    fl.set_num_threads(0)
    for n in THREAD_COUNTS:
        with threadpoolctl.threadpool_limits(limits=n):
            for a, b in zip(run(), base):
                assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), n


def _flat(results):
    """Every array of a (nested) tuple of results, in order."""
    if isinstance(results, (tuple, list)):
        return [x for r in results for x in _flat(r)]
    return [np.asarray(results)]


def _other_losses(dtype, rng):
    """(name, run) for the losses with a class axis, embeddings or two predictions,
    on inputs large enough to use threads; run() returns every entry's results."""
    P = rng.dirichlet(np.ones(7), 150_001).astype(dtype)
    Z = (rng.normal(size=(150_001, 7)) * 5).astype(dtype)
    Zt = np.ascontiguousarray(Z.T[None])  # (1, C, N): the class axis in the middle
    lab = rng.integers(0, 7, 150_001)
    w = rng.uniform(size=150_001).astype(dtype)
    E = [(rng.normal(size=(50_001, 16))).astype(dtype) for _ in range(3)]
    S = [(rng.normal(size=(150_001, 10))).astype(dtype) for _ in range(3)]  # short embeddings: SIMD across examples
    d = rng.uniform(0.01, 0.99, 1_000_003).astype(dtype)

    def entries(loss, *args, weight=None, **kw):
        return lambda: (loss(*args, **kw), loss(*args, reduction="none", **kw),
                        loss(*args, reduction="sum", sample_weight=weight, **kw),
                        loss.grad_hess(*args, sample_weight=weight, **kw), loss.value_and_grad(*args, **kw))

    return [
        ("cce", entries(fl.categorical_cross_entropy, P, P[::-1].copy(), weight=w)),
        ("cce_logits", entries(fl.categorical_cross_entropy, P, Z, from_logits=True, label_smoothing=0.1)),
        ("cce_axis1", entries(fl.categorical_cross_entropy, np.ascontiguousarray(P.T[None]), Zt, axis=1,
                              from_logits=True)),
        ("sparse", entries(fl.sparse_categorical_cross_entropy, lab, P, class_weight=np.arange(1.0, 8.0))),
        ("sparse_logits", entries(fl.sparse_categorical_cross_entropy, lab, Z, weight=w, from_logits=True, ignore_index=3)),
        ("kl", entries(fl.kl_divergence, P, P[::-1].copy())),
        ("kl_logits", entries(fl.kl_divergence, P, Z, weight=w, from_logits=True)),
        ("triplet", entries(fl.triplet_loss, *E, weight=w[:50_001], margin=0.3)),
        ("triplet_swap_p1", entries(fl.triplet_loss, *E, p=1.0, swap=True)),
        ("triplet_short", entries(fl.triplet_loss, *S, weight=w, margin=0.3)),
        ("triplet_short_swap_p1", entries(fl.triplet_loss, *S, p=1.0, swap=True, squared=True)),
        ("gan_d", entries(fl.gan_discriminator_loss, d, d[::-1].copy())),
        ("gan_g", entries(fl.gan_generator_loss, d, from_logits=True)),
        ("triplet_margin", entries(fl.triplet_margin, d, d[::-1].copy())),
        ("weighted_mse", lambda: (fl.mse(d, d[::-1], sample_weight=np.resize(w, d.size)),
                                  fl.mse.grad_hess(d, d[::-1], sample_weight=np.resize(w, d.size)))),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_bitwise_identical_other_losses(dtype, rng, restore_threads):
    """Row-wise, triplet and GAN losses: the same bits for 1, 2, 3, 4 and 7 threads,
    set with set_num_threads and with threadpoolctl."""
    for name, run in _other_losses(dtype, rng):
        fl.set_num_threads(1)
        base = [x.tobytes() for x in _flat(run())]
        for n in THREAD_COUNTS[1:]:
            fl.set_num_threads(n)
            assert [x.tobytes() for x in _flat(run())] == base, (name, n)
        fl.set_num_threads(0)
        for n in THREAD_COUNTS:
            with threadpoolctl.threadpool_limits(limits=n):
                assert [x.tobytes() for x in _flat(run())] == base, (name, n, "threadpoolctl")


def test_bitwise_identical_over_100_runs(rng, restore_threads):
    """100 runs with 4 threads (more threads than cores: schedules vary from run to
    run) give the same bits every time."""
    fl.set_num_threads(4)
    y = rng.uniform(size=400_003)
    p = rng.normal(size=400_003) * 3
    P = rng.dirichlet(np.ones(5), 60_001)
    Z = rng.normal(size=(60_001, 5)) * 4
    runs = [
        lambda: (fl.mse(y, p), fl.mse.grad_hess(y, p)),
        lambda: (fl.binary_cross_entropy(y, p, from_logits=True),
                 fl.binary_cross_entropy.grad_hess(y.astype(np.float32), p.astype(np.float32), from_logits=True)),
        lambda: (fl.categorical_cross_entropy(P, Z, from_logits=True),
                 fl.categorical_cross_entropy.grad_hess(P, Z, from_logits=True)),
        lambda: (fl.focal_loss(y, p, from_logits=True, reduction="sum"),),
    ]
    base = [[x.tobytes() for x in _flat(r())] for r in runs]
    for i in range(100):
        for k, r in enumerate(runs):
            assert [x.tobytes() for x in _flat(r())] == base[k], (i, k)
