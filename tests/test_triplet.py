"""triplet_loss and triplet_margin: parity with the NumPy references, gradients
and Hessians for all inputs against finite differences, identities, the seed's example."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from conftest import REDUCTIONS, assert_matches_reference

T, TM = fl.triplet_loss, fl.triplet_margin
CONFIGS = [{}, {"p": 1.0}, {"p": 3.0}, {"squared": True}, {"swap": True}, {"p": 1.5, "swap": True, "squared": True},
           {"margin": 0.1, "eps": 0.0}, {"margin": 5.0}]


def embeddings(rng, shape, dtype=np.float64):
    return tuple(rng.normal(size=shape).astype(dtype) for _ in range(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_parity(dtype, rng):
    for shape in [(33, 16), (5, 7, 3), (17,), (300, 1), (1000, 129)]:
        a, p, n = embeddings(rng, shape, dtype)
        w = rng.uniform(0.1, 2.0, size=shape[:-1])
        for prm in CONFIGS:
            for reduction in REDUCTIONS:
                for sw in (None, w):
                    got = T(a, p, n, reduction=reduction, sample_weight=sw, **prm)
                    ref = T.reference(a, p, n, reduction=reduction, sample_weight=sw, **prm)
                    # the hinge d_pos - d_neg + margin cancels: absolute error of the distances
                    assert_matches_reference(got, ref, dtype, atol=1e-13 if dtype == np.float64 else 2e-4)


def test_derivatives_for_all_inputs(rng):
    for prm in CONFIGS:
        a, p, n = embeddings(rng, (6, 5))
        w = rng.uniform(0.1, 2.0, size=6)
        for reduction in ("mean", "sum"):
            (ga, gp, gn), (ha, hp, hn) = T.grad_hess(a, p, n, reduction=reduction, sample_weight=w, **prm)
            for idx, x, g, h in ((0, a, ga, ha), (1, p, gp, hp), (2, n, gn, hn)):
                def f(xx):
                    args = [a, p, n]
                    args[idx] = xx
                    return T.reference(*args, reduction=reduction, sample_weight=w, **prm)
                for i in np.ndindex(x.shape):
                    e = np.zeros_like(x)
                    e[i] = 1e-6
                    fd = (f(x + e) - f(x - e)) / 2e-6
                    assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-8), (prm, idx, i)
                    e[i] = 1e-4
                    fd2 = (f(x + e) - 2 * f(x) + f(x - e)) / 1e-8
                    assert h[i] == pytest.approx(fd2, rel=1e-3, abs=1e-4), (prm, idx, i)
            v, grads = T.value_and_grad(a, p, n, reduction=reduction, sample_weight=w, **prm)
            assert v == T(a, p, n, reduction=reduction, sample_weight=w, **prm)
            for g1, g2 in zip(grads, (ga, gp, gn)):
                np.testing.assert_array_equal(g1, g2)


def test_triplet_loss_equals_triplet_margin_on_its_distances(rng):
    a, p, n = embeddings(rng, (200, 8))
    for prm in ({}, {"squared": True}, {"p": 1.0}):
        d = lambda x, y: fl.reference._distance(x, y, prm.get("p", 2.0), 1e-6, prm.get("squared", False))
        for reduction in REDUCTIONS:
            np.testing.assert_allclose(T(a, p, n, margin=0.5, reduction=reduction, **prm),
                                       TM(d(a, p), d(a, n), margin=0.5, reduction=reduction), rtol=1e-12)


def test_triplet_margin(rng):
    d_pos, d_neg = rng.uniform(0, 2, size=100), rng.uniform(0, 2, size=100)
    for reduction in REDUCTIONS:
        assert_matches_reference(TM(d_pos, d_neg, margin=0.3, reduction=reduction),
                                 TM.reference(d_pos, d_neg, margin=0.3, reduction=reduction), np.float64)
    g_pos, g_neg = TM.grad(d_pos, d_neg, margin=0.3, reduction="sum")
    active = d_pos - d_neg + 0.3 > 0  # by hand: slopes 1 and -1 where the hinge is active
    np.testing.assert_array_equal(g_pos, active.astype(float))
    np.testing.assert_array_equal(g_neg, -active.astype(float))
    (gp, gn), (hp, hn) = TM.grad_hess(d_pos, d_neg, margin=0.3)
    assert np.all(hp == 0) and np.all(hn == 0)
    g_pos, g_neg = TM.grad(0.5, d_neg, reduction="sum")  # a broadcast d_pos gets the summed gradient
    assert g_pos.shape == () and g_pos == np.sum(0.5 - d_neg + 1.0 > 0)


def test_seed_example():
    """SPEC section 4: d(a,p) = 0.5, d(a,n) = 1.0, margin 0.2 gives 0 (by hand: 0.5 - 1 + 0.2 < 0)."""
    assert TM([0.5], [1.0], margin=0.2) == 0.0
    assert T([[0.0, 0.0]], [[0.3, 0.4]], [[1.0, 0.0]], margin=0.2, eps=0.0) == 0.0
    # active: margin 0.7 gives 0.2
    assert TM([0.5], [1.0], margin=0.7) == pytest.approx(0.2)
    assert T([[0.0, 0.0]], [[0.3, 0.4]], [[1.0, 0.0]], margin=0.7, eps=0.0) == pytest.approx(0.2)


def test_bad_input(rng):
    a, p, n = embeddings(rng, (4, 3))
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        T(a, p, n[:, :2])
    with pytest.raises(ValueError, match="p must be"):
        T(a, p, n, p=0.0)
    with pytest.raises(ValueError, match="scalars"):
        T(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="tuple of 3"):
        T.grad(a, p, n, out=np.empty((4, 3)))
    outs = tuple(np.full((4, 3), 9.0) for _ in range(3))
    with pytest.raises(ValueError):
        T.grad(a, p, n, out=outs[:2] + (np.empty((4, 2)),))
    assert all(np.all(o == 9.0) for o in outs[:2])
    g = T.grad(a, p, n, out=outs)
    assert all(x is o for x, o in zip(g, outs))


def test_torch_parity_when_installed(rng):
    torch = pytest.importorskip("torch")
    a, p, n = embeddings(rng, (64, 10))
    for prm in ({}, {"p": 1.0}, {"swap": True}, {"margin": 0.3}):
        ta, tp, tn = (torch.tensor(x, requires_grad=True) for x in (a, p, n))
        loss = torch.nn.functional.triplet_margin_loss(ta, tp, tn, margin=prm.get("margin", 1.0),
                                                       p=prm.get("p", 2.0), swap=prm.get("swap", False))
        loss.backward()
        assert T(a, p, n, **prm) == pytest.approx(loss.item(), rel=1e-12)
        for g, t in zip(T.grad(a, p, n, **prm), (ta, tp, tn)):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_short_embeddings_value_path(dtype, rng):
    """The value of embeddings shorter than a vector runs SIMD across examples (each
    example's sum in a tree of vector adds): it matches the NumPy reference, and
    value_and_grad's value bit for bit, over several blocks and a partial lane group,
    in every option."""
    for dim in (1, 2, 5, 8, 9, 10, 15):  # 9 and up: terms k and k + 8 share a lane
        a, p, n = embeddings(rng, (1237, dim), dtype)
        w = rng.uniform(0.1, 2.0, size=1237)
        for prm in CONFIGS:
            for sw in (None, w):
                for reduction in ("sum", "mean"):
                    got = T(a, p, n, reduction=reduction, sample_weight=sw, **prm)
                    ref = T.reference(a, p, n, reduction=reduction, sample_weight=sw, **prm)
                    assert_matches_reference(got, ref, dtype, atol=1e-13 if dtype == np.float64 else 2e-4)
                    v, _ = T.value_and_grad(a, p, n, reduction=reduction, sample_weight=sw, **prm)
                    assert np.asarray(v).tobytes() == np.asarray(got).tobytes(), (dim, prm, reduction)
                none = T(a, p, n, reduction="none", sample_weight=sw, **prm)
                ref = T.reference(a, p, n, reduction="none", sample_weight=sw, **prm)
                assert_matches_reference(none, ref, dtype, atol=1e-13 if dtype == np.float64 else 2e-4)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (2, 4, 0)])
def test_empty_embeddings(shape, p):
    """Embeddings with no components: every distance is 0, so each example's loss is
    the margin (by hand: max(0 - 0 + 1, 0) = 1) and every derivative is 0. (The
    block path for short embeddings once divided by a block size of 0 here:
    SIGFPE.)"""
    z = np.zeros(shape)
    examples = shape[:-1]
    assert fl.triplet_loss(z, z, z, p=p) == 1.0
    np.testing.assert_array_equal(fl.triplet_loss(z, z, z, p=p, reduction="none"), np.ones(examples))
    assert fl.triplet_loss(z, z, z, p=p, reduction="sum") == float(np.prod(examples))
    grads = fl.triplet_loss.grad(z, z, z, p=p)
    assert len(grads) == 3 and all(g.shape == shape for g in grads)
    assert fl.triplet_loss.reference(z, z, z, p=p) == 1.0
