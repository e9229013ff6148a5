"""Each loss against its NumPy reference, value and value_and_grad, n = 1e2..1e7,
float32 and float64 (pytest-benchmark; group = loss/entry/dtype/n). In the value
groups also: the bandwidth probe (a kernel that only reads the same inputs and
sums them) and the optional peers PyTorch CPU, numba and jax.jit
(fastloss._peers; skipped when not installed).

    pytest benchmarks --benchmark-group-by=group --benchmark-columns=median,ops

Each benchmark asserts that its implementation and the reference agree.
``python -m fastloss bench`` runs the same comparison in one process, without pytest."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from fastloss import _bench, _peers

from conftest import case_sample

SIZES = [10**2, 10**3, 10**4, 10**5, 10**6, 10**7]
DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
PEER_RTOL = _bench.PEER_RTOL
# Losses with a class (or embedding) axis at C = 10 and C = 1000; BCE and sparse CE also on logits.
CASES = _bench.cases()
CASE_IDS = [c.key if c.classes == 1 else f"{c.key}-C{c.classes}" for c in CASES]


def _group(case, entry, dtype, n):
    suffix = "" if case.classes == 1 else f" C={case.classes}"
    return f"{case.key} {entry} {np.dtype(dtype).name} n={n:.0e}{suffix}"


def _reference_value_and_grad(case, *args):
    """The NumPy way to get both: the reference value plus the analytic gradient
    of the mean written in NumPy (central differences would not be fair)."""
    f64 = [np.asarray(a, np.float64) for a in args]
    return case.loss.reference(*args, **case.kwargs), NUMPY_GRADS[case.key](*f64)


def _bce_grad(y, p, eps=1e-7):
    q = np.clip(p, eps, 1 - eps)
    return np.where((p < eps) | (p > 1 - eps), 0.0, (q - y) / (q * (1 - q))) / y.size


def _cce_grad(y, p, eps=1e-7):
    q = np.clip(p, eps, 1.0)
    return np.where((p < eps) | (p > 1), 0.0, -y / q) / p.shape[0]


def _sparse_grad(labels, p, eps=1e-7):
    g = np.zeros_like(p)
    rows = np.arange(p.shape[0])
    q = np.clip(p[rows, labels], eps, 1.0)
    g[rows, labels] = -1.0 / q / p.shape[0]
    return g


def _triplet_grad(a, p, n, margin=1.0, eps=1e-6):
    vp, vn = a - p + eps, a - n + eps
    dp, dn = np.linalg.norm(vp, axis=-1, keepdims=True), np.linalg.norm(vn, axis=-1, keepdims=True)
    active = (dp - dn + margin > 0) / a.shape[0]
    gp, gn = vp / dp * active, vn / dn * active
    return gp - gn, -gp, gn


def _focal_grad(y, p, alpha=0.25, gamma=2.0, eps=1e-7):
    q = np.clip(p, eps, 1 - eps)
    m = (1 - q) * y + q * (1 - y)
    bce = -(y * np.log(q) + (1 - y) * np.log1p(-q))
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    g = alpha_t * (gamma * m ** (gamma - 1) * (1 - 2 * y) * bce + m**gamma * (q - y) / (q * (1 - q)))
    return np.where((p < eps) | (p > 1 - eps), 0.0, g) / y.size


def _sparse_logits_grad(labels, z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    g = e / e.sum(axis=1, keepdims=True)
    g[np.arange(z.shape[0]), labels] -= 1.0
    return g / z.shape[0]


NUMPY_GRADS = {
    "mse": lambda y, p: -2 * (y - p) / y.size,
    "mae": lambda y, p: np.sign(p - y) / y.size,
    "huber": lambda y, p: -np.clip(y - p, -1.0, 1.0) / y.size,
    "cauchy": lambda y, p: -2 * (y - p) / (1 + (y - p) ** 2) / y.size,
    "binary_cross_entropy": _bce_grad,
    "binary_cross_entropy_logits": lambda y, z: (1 / (1 + np.exp(-z)) - y) / y.size,
    "focal_loss": _focal_grad,
    "gan_discriminator_loss": lambda r, f: (0.5 * _bce_grad(np.ones_like(r), r), 0.5 * _bce_grad(np.zeros_like(f), f)),
    "gan_generator_loss": lambda f: _bce_grad(np.ones_like(f), f),
    "categorical_cross_entropy": _cce_grad,
    "sparse_categorical_cross_entropy": lambda labels, p: _sparse_grad(labels.astype(np.int64), p),
    "sparse_categorical_cross_entropy_logits": lambda labels, z: _sparse_logits_grad(labels.astype(np.int64), z),
    "kl_divergence": _cce_grad,  # -P/Q: the same expression as cross-entropy's
    "triplet_loss": _triplet_grad,
    "triplet_margin": lambda d_pos, d_neg: ((d_pos - d_neg + 1.0 > 0) / d_pos.size,
                                           -1.0 * (d_pos - d_neg + 1.0 > 0) / d_pos.size),
}


def _assert_grads_close(got, expected, rtol, n):
    if isinstance(expected, tuple):
        for g, e in zip(got, expected):
            _assert_grads_close(g, e, rtol, n)
        return
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol / n)


def _id(v):
    return np.dtype(v).name if isinstance(v, type) else f"{v:.0e}".replace("+0", "") if isinstance(v, int) else str(v)


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastloss", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value(benchmark, case, impl, dtype, n):
    args = case_sample(case, n, dtype)
    loss, kw = case.loss, case.kwargs
    benchmark.group = _group(case, "value", dtype, n)
    if impl == "fastloss":
        result = benchmark(lambda: loss(*args, **kw))
        expected = loss.reference(*args, **kw)
    else:
        result = benchmark(lambda: loss.reference(*args, **kw))
        expected = loss(*args, **kw)
    np.testing.assert_allclose(float(result), float(expected), rtol=RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("peer", _peers.PEERS)
@pytest.mark.parametrize("case", [c for c in CASES if c.key in _peers.SUPPORTED],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if c.key in _peers.SUPPORTED])
def test_peer_value(benchmark, case, peer, dtype, n):
    """PyTorch CPU, numba (parallel, no fastmath) and jax.jit, in the value groups;
    inputs converted (and code compiled) before timing."""
    if not _peers.installed(peer):
        pytest.skip(f"{peer} is not installed")
    args = case_sample(case, n, dtype)
    call = _peers.peer_call(peer, case.key, args)
    benchmark.group = _group(case, "value", dtype, n)
    result = benchmark(call)
    expected = case.loss.reference(*args, **case.kwargs)  # the NumPy reference
    np.testing.assert_allclose(float(result), float(expected), rtol=PEER_RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("n", SIZES, ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("impl", ["fastloss", "fastloss_out", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value_and_grad(benchmark, case, impl, dtype, n):
    args = case_sample(case, n, dtype)
    loss, kw = case.loss, case.kwargs
    benchmark.group = _group(case, "value_and_grad", dtype, n)
    if impl == "numpy":
        value, grad = benchmark(_reference_value_and_grad, case, *args)
    elif impl == "fastloss_out":
        if loss.name == "triplet_margin":
            pytest.skip("triplet_margin's gradients take no out=")
        out = _bench._grad_out(case, args)
        value, grad = benchmark(lambda: loss.value_and_grad(*args, out=out, **kw))
    else:
        value, grad = benchmark(lambda: loss.value_and_grad(*args, **kw))
    ref_value, ref_grad = _reference_value_and_grad(case, *args)
    np.testing.assert_allclose(float(value), ref_value, rtol=RTOL[np.dtype(dtype)])
    _assert_grads_close(grad, ref_grad, RTOL[np.dtype(dtype)], n)


PROBED = [(c, i) for c, i in zip(CASES, CASE_IDS) if _bench.probe_call(c, case_sample(c, 100, np.float64))]


@pytest.mark.parametrize("n", [10**6, 10**7], ids=_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("case", [c for c, _ in PROBED], ids=[i for _, i in PROBED])
def test_bandwidth_probe(benchmark, case, dtype, n):
    """Reads the loss's inputs (two, or three for triplet_loss) and sums them: the
    memory-bandwidth bound, in the value group."""
    args = case_sample(case, n, dtype)
    benchmark.group = _group(case, "value", dtype, n)
    result = benchmark(_bench.probe_call(case, args))
    np.testing.assert_allclose(result, sum(np.sum(a, dtype=np.float64) for a in args), rtol=1e-6)


def _hard_inputs(kind, dtype, n, hard):
    """(loss, args) on soft inputs, or on the same with hard ones: BCE with
    half its predictions exactly 0 or 1, CCE with half its probabilities 0, KL against
    one-hot targets (9 zeros in every row of 10), CCE from logits with half its
    logits -inf (masked classes)."""
    rng = np.random.default_rng(n)
    if kind == "binary_cross_entropy":
        y = rng.integers(0, 2, n).astype(dtype)
        p = rng.uniform(0.01, 0.99, n)
        if hard:
            p[::2] = y[::2]  # correct hard predictions: 0 or 1
        return fl.binary_cross_entropy, (y, p.astype(dtype))
    rows = n // 10
    if kind == "categorical_cross_entropy_logits":
        logits = rng.normal(size=(rows, 10))
        labels = rng.integers(0, 5, rows) * 2
        if hard:
            logits[:, 1::2] = -np.inf  # masked classes (never the label)
        return (lambda t, z: fl.categorical_cross_entropy(t, z, from_logits=True),
                (np.eye(10)[labels].astype(dtype), logits.astype(dtype)))
    probs = rng.dirichlet(np.ones(10), rows)
    onehot = np.eye(10)[rng.integers(0, 10, rows)]
    if kind == "categorical_cross_entropy":
        if hard:
            probs[:, 1::2] = 0.0
        return fl.categorical_cross_entropy, (onehot.astype(dtype), probs.astype(dtype))
    target = onehot if hard else np.roll(probs, 1, axis=1)
    return fl.kl_divergence, (target.astype(dtype), probs.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=_id)
@pytest.mark.parametrize("inputs", ["soft", "hard"])
@pytest.mark.parametrize("kind", ["binary_cross_entropy", "categorical_cross_entropy", "kl_divergence",
                                  "categorical_cross_entropy_logits"])
def test_hard_inputs(benchmark, kind, inputs, dtype):
    """Exact 0s and 1s among the probabilities (or targets), and -inf logits, take
    as long as soft ones (libmvec's vector log and exp hand a lane of log 0, or of
    exp(-inf), to the scalar function: see math::ClippedLogs and math::exp_nonpos);
    n = 1e6, one group per loss and dtype."""
    loss, args = _hard_inputs(kind, dtype, 10**6, inputs == "hard")
    benchmark.group = f"hard inputs {kind} {np.dtype(dtype).name} n=1e6"
    result = benchmark(lambda: loss(*args))
    if kind.endswith("_logits"):
        # the masked classes add nothing (e^-inf = 0, target 0): the reference on the others
        t, z = args
        keep = np.isfinite(z).all(axis=0)
        want = fl.categorical_cross_entropy.reference(t[:, keep], z[:, keep], from_logits=True)
    else:
        want = loss.reference(*args)
    np.testing.assert_allclose(float(result), float(want), rtol=RTOL[np.dtype(dtype)])
