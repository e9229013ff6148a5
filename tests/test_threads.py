"""Threads: set_num_threads, threadpoolctl, and the same bits for every thread count."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from conftest import ALL_LOSSES, inputs, loss_ids

threadpoolctl = pytest.importorskip("threadpoolctl")


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
    for n in (2, 3, 4, 7):
        fl.set_num_threads(n)
        for a, b in zip(run(), base):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), n
    fl.set_num_threads(0)
    with threadpoolctl.threadpool_limits(limits=1):
        for a, b in zip(run(), base):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
