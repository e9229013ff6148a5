"""Optional benchmark peers: the same losses written with PyTorch CPU
(``torch.nn.functional``), numba (``@njit(parallel=True)``, fastmath off, one
fused loop per loss) and ``jax.jit`` (on device-resident arrays). None of them
is a dependency of fastloss: a peer that is not installed is simply absent.

``peer_call(peer, case, args)`` returns a function of no arguments that runs
the peer on inputs already converted to its own array type (the conversion is
outside the timed region) and returns the loss (a 0-d tensor or array, or a
float: ``float()`` of it is the value), or None when the
peer is not installed or has no version of the case. Every peer computes the
mean with fastloss's default parameters (eps = 1e-7 clipping, focal alpha =
0.25 and gamma = 2, delta = 1), so that its value can be checked against the
NumPy reference."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any, Callable

import numpy as np

PEERS = ("torch", "numba", "jax")
EPS = 1e-7
ALPHA, GAMMA = 0.25, 2.0

# The (loss, form) pairs each peer implements: the transcendental losses of the
# issue's target 2 and the regression losses.
SUPPORTED = ("mse", "mae", "huber", "cauchy", "binary_cross_entropy", "binary_cross_entropy_logits", "focal_loss",
             "categorical_cross_entropy", "sparse_categorical_cross_entropy",
             "sparse_categorical_cross_entropy_logits", "kl_divergence")


def installed(peer: str) -> bool:
    """Whether the peer's package can be imported (without importing it)."""
    module = {"torch": "torch", "numba": "numba", "jax": "jax"}[peer]
    return importlib.util.find_spec(module) is not None


def peer_call(peer: str, key: str, args: tuple[np.ndarray, ...]) -> Callable[[], Any] | None:
    """A no-argument call of ``peer`` on ``args`` for the case ``key`` (a loss
    name, or ``binary_cross_entropy_logits`` / ``sparse_categorical_cross_entropy_logits``), or None."""
    if key not in SUPPORTED or not installed(peer):
        return None
    return {"torch": _torch_call, "numba": _numba_call, "jax": _jax_call}[peer](key, args)


# ---------------------------------------------------------------- PyTorch

def _torch_call(key: str, args: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    y, p = (torch.from_numpy(np.ascontiguousarray(a)) for a in args)
    if key == "sparse_categorical_cross_entropy":
        y = y.to(torch.int64).unsqueeze(1)
    elif key == "sparse_categorical_cross_entropy_logits":
        y = y.to(torch.int64)

    def clip(q, hi=1.0 - EPS):
        return q.clamp(EPS, hi)

    fns = {
        "mse": lambda: F.mse_loss(p, y),
        "mae": lambda: F.l1_loss(p, y),
        "huber": lambda: F.huber_loss(p, y, delta=1.0),
        "cauchy": lambda: torch.log1p(torch.square(y - p)).mean(),
        "binary_cross_entropy": lambda: F.binary_cross_entropy(clip(p), y),
        "binary_cross_entropy_logits": lambda: F.binary_cross_entropy_with_logits(p, y),
        "focal_loss": lambda: _torch_focal(torch, F, y, clip(p)),
        "categorical_cross_entropy": lambda: -(y * torch.log(clip(p, 1.0))).sum(-1).mean(),
        "sparse_categorical_cross_entropy": lambda: -torch.log(clip(p.gather(1, y), 1.0)).mean(),
        "sparse_categorical_cross_entropy_logits": lambda: F.cross_entropy(p, y),
        "kl_divergence": lambda: F.kl_div(torch.log(clip(p, 1.0)), y, reduction="batchmean"),
    }
    # The tensors do not require gradients, so no autograd graph is recorded.
    return fns[key]


def _torch_focal(torch, F, y, q):
    ce = F.binary_cross_entropy(q, y, reduction="none")
    one_minus_pt = (1 - q) * y + q * (1 - y)
    alpha_t = ALPHA * y + (1 - ALPHA) * (1 - y)
    return (alpha_t * one_minus_pt.pow(GAMMA) * ce).mean()


# ---------------------------------------------------------------- numba

@functools.lru_cache(maxsize=None)
def _numba_kernels() -> dict[str, Any]:
    import math

    from numba import njit, prange

    @njit(parallel=True)
    def mse(y, p):
        s = 0.0
        for i in prange(y.size):
            d = y[i] - p[i]
            s += d * d
        return s / y.size

    @njit(parallel=True)
    def mae(y, p):
        s = 0.0
        for i in prange(y.size):
            s += abs(y[i] - p[i])
        return s / y.size

    @njit(parallel=True)
    def huber(y, p):
        s = 0.0
        for i in prange(y.size):
            a = abs(y[i] - p[i])
            s += 0.5 * a * a if a <= 1.0 else a - 0.5
        return s / y.size

    @njit(parallel=True)
    def cauchy(y, p):
        s = 0.0
        for i in prange(y.size):
            d = y[i] - p[i]
            s += math.log1p(d * d)
        return s / y.size

    @njit(parallel=True)
    def bce(y, p):
        s = 0.0
        for i in prange(y.size):
            q = min(max(p[i], EPS), 1.0 - EPS)
            s -= y[i] * math.log(q) + (1.0 - y[i]) * math.log1p(-q)
        return s / y.size

    @njit(parallel=True)
    def bce_logits(y, z):
        s = 0.0
        for i in prange(y.size):
            s += max(z[i], 0.0) - z[i] * y[i] + math.log1p(math.exp(-abs(z[i])))
        return s / y.size

    @njit(parallel=True)
    def focal(y, p):
        s = 0.0
        for i in prange(y.size):
            q = min(max(p[i], EPS), 1.0 - EPS)
            t = y[i]
            ce = -(t * math.log(q) + (1.0 - t) * math.log1p(-q))
            m = (1.0 - q) * t + q * (1.0 - t)
            s += (ALPHA * t + (1.0 - ALPHA) * (1.0 - t)) * m ** GAMMA * ce
        return s / y.size

    @njit(parallel=True)
    def cce(y, p):
        s = 0.0
        for i in prange(p.shape[0]):
            r = 0.0
            for j in range(p.shape[1]):
                r -= y[i, j] * math.log(min(max(p[i, j], EPS), 1.0))
            s += r
        return s / p.shape[0]

    @njit(parallel=True)
    def sparse(labels, p):
        s = 0.0
        for i in prange(p.shape[0]):
            s -= math.log(min(max(p[i, labels[i]], EPS), 1.0))
        return s / p.shape[0]

    @njit(parallel=True)
    def sparse_logits(labels, z):
        s = 0.0
        for i in prange(z.shape[0]):
            m = z[i, 0]
            for j in range(1, z.shape[1]):
                m = max(m, z[i, j])
            r = 0.0
            for j in range(z.shape[1]):
                r += math.exp(z[i, j] - m)
            s += m + math.log(r) - z[i, labels[i]]
        return s / z.shape[0]

    @njit(parallel=True)
    def kl(t, q):
        s = 0.0
        for i in prange(q.shape[0]):
            r = 0.0
            for j in range(q.shape[1]):
                if t[i, j] > 0:
                    r += t[i, j] * math.log(t[i, j] / min(max(q[i, j], EPS), 1.0))
            s += r
        return s / q.shape[0]

    return {"mse": mse, "mae": mae, "huber": huber, "cauchy": cauchy, "binary_cross_entropy": bce,
            "binary_cross_entropy_logits": bce_logits, "focal_loss": focal, "categorical_cross_entropy": cce,
            "sparse_categorical_cross_entropy": sparse, "sparse_categorical_cross_entropy_logits": sparse_logits,
            "kl_divergence": kl}


def _numba_call(key: str, args: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    fn = _numba_kernels()[key]
    y, p = (np.ascontiguousarray(a) for a in args)
    if key.startswith("sparse_categorical_cross_entropy"):
        y = y.astype(np.int64)
    fn(y, p)  # compiled for these types before any timing
    return lambda: fn(y, p)


# ---------------------------------------------------------------- JAX

@functools.lru_cache(maxsize=None)
def _jax_functions() -> dict[str, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 inputs stay float64
    import jax.numpy as jnp

    def clip(q, hi):
        return jnp.clip(q, EPS, hi)

    def bce(y, p):
        q = clip(p, 1.0 - EPS)
        return -jnp.mean(y * jnp.log(q) + (1 - y) * jnp.log1p(-q))

    def focal(y, p):
        q = clip(p, 1.0 - EPS)
        ce = -(y * jnp.log(q) + (1 - y) * jnp.log1p(-q))
        m = (1 - q) * y + q * (1 - y)
        return jnp.mean((ALPHA * y + (1 - ALPHA) * (1 - y)) * m**GAMMA * ce)

    def sparse(labels, p):
        picked = jnp.take_along_axis(p, labels[:, None], axis=1)
        return -jnp.mean(jnp.log(clip(picked, 1.0)))

    def sparse_logits(labels, z):  # as optax.softmax_cross_entropy_with_integer_labels
        log_p = jax.nn.log_softmax(z, axis=-1)
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    def kl(t, q):
        terms = jnp.where(t > 0, t * jnp.log(jnp.where(t > 0, t, 1) / clip(q, 1.0)), 0)
        return jnp.sum(terms) / q.shape[0]

    fns = {
        "mse": lambda y, p: jnp.mean((y - p) ** 2),
        "mae": lambda y, p: jnp.mean(jnp.abs(y - p)),
        "huber": lambda y, p: jnp.mean(jnp.where(jnp.abs(y - p) <= 1.0, 0.5 * (y - p) ** 2, jnp.abs(y - p) - 0.5)),
        "cauchy": lambda y, p: jnp.mean(jnp.log1p((y - p) ** 2)),
        "binary_cross_entropy": bce,
        "binary_cross_entropy_logits": lambda y, z: jnp.mean(jnp.maximum(z, 0) - z * y
                                                             + jnp.log1p(jnp.exp(-jnp.abs(z)))),
        "focal_loss": focal,
        "categorical_cross_entropy": lambda y, p: -jnp.mean(jnp.sum(y * jnp.log(clip(p, 1.0)), axis=-1)),
        "sparse_categorical_cross_entropy": sparse,
        "sparse_categorical_cross_entropy_logits": sparse_logits,
        "kl_divergence": kl,
    }
    return {k: jax.jit(f) for k, f in fns.items()}


def _jax_call(key: str, args: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    import jax

    fn = _jax_functions()[key]
    y, p = args
    if key.startswith("sparse_categorical_cross_entropy"):
        y = y.astype(np.int64)
    y, p = (jax.device_put(a).block_until_ready() for a in (y, p))
    fn(y, p).block_until_ready()  # traced and compiled before any timing
    return lambda: fn(y, p).block_until_ready()
