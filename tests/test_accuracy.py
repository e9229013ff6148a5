"""Accuracy against 50-digit mpmath references (tests/accuracy_ref.py), in ulp.

For every loss, configuration, dtype and entry point (value, grad, Hessian
diagonal) the kernels run on N_RANDOM random inputs (more under ``-m slow``)
plus an adversarial set (signed zeros, subnormals, huge and tiny values, logits
at the float32/float64 exp overflow points, probabilities at 0, eps, 1 - eps
and 1). The error of each result is

    |computed - exact| / ulp(scale)     in the computing dtype,

with ulp(x) the spacing of the dtype's numbers at x (the smallest subnormal at
0) and ``scale`` the exact value's magnitude, or, for the entries the loss's
docstring names (a difference of terms), the sum of the terms' magnitudes. The
bound is 4 ulp unless BOUNDS (and the loss's docstring) give another, with the
reason. The worst error of each case is kept in WORST (scripts/accuracy_table.py
prints it for the README).

Reductions are checked against an exact sum (math.fsum) of the kernel's own
per-element values: their error is the summation's, relative to sum |loss|.
"""

from __future__ import annotations

import math
import zlib
import os
from dataclasses import dataclass, field
from typing import Callable

import mpmath
import numpy as np
import pytest

import accuracy_ref as R
import fastloss as fl
from conftest import mem_available

N_RANDOM = int(os.environ.get("FASTLOSS_ACCURACY_N", 10_000))
N_SLOW = 200_000
DTYPES = [np.float32, np.float64]
WORST: dict = {}  # (case, dtype name, entry) -> worst error in ulp


def ulp(x: np.ndarray, dtype) -> np.ndarray:
    """Spacing of ``dtype``'s numbers at |x| (x float64 arrays)."""
    fi = np.finfo(dtype)
    a = np.abs(np.asarray(x, np.float64))
    _, e = np.frexp(a)
    u = np.ldexp(1.0, (e - fi.nmant - 1).astype(np.int64))
    u = np.where(a == 0, 0.0, u)
    return np.maximum(u, float(fi.smallest_subnormal))


def split(values) -> tuple[np.ndarray, np.ndarray]:
    """mpmath numbers as double-doubles hi + lo (hi the float64 rounding)."""
    hi = np.array([float(v) for v in values], np.float64)
    lo = np.array([float(v - mpmath.mpf(h)) if math.isfinite(h) else 0.0 for v, h in zip(values, hi)], np.float64)
    return hi, lo


def ulp_errors(computed, exact, scale, dtype) -> np.ndarray:
    """Error of ``computed`` (dtype) against ``exact`` (mpmath values) in ulp of ``scale``.
    Where the exact value rounds to inf in the dtype, the result must be that inf
    (error 0, else inf)."""
    comp = np.asarray(computed).reshape(-1).astype(np.float64)
    hi, lo = split(exact)
    sc = np.minimum(np.array([float(s) for s in scale], np.float64), float(np.finfo(dtype).max))
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = hi.astype(dtype).astype(np.float64)
        err = np.abs((comp - hi) - lo) / ulp(sc, dtype)
    special = ~np.isfinite(rounded) | ~np.isfinite(comp)
    same = (comp == rounded) | (np.isnan(comp) & np.isnan(rounded))
    err[special] = np.where(same[special], 0.0, np.inf)
    return err


@dataclass
class Case:
    """One configuration of one loss: how to draw inputs, call the kernels, and
    compute the reference. ``entries`` names the outputs in reference order."""
    name: str
    draw: Callable        # (n, dtype, rng) -> tuple of input arrays
    adversarial: Callable  # dtype -> tuple of input arrays
    run: Callable         # inputs -> list of arrays, in entries' order
    ref: Callable         # (inputs as mpf per element / row, dtype) -> list of (exact, scale)
    entries: tuple
    rows: bool = False    # ref takes whole rows (row-wise, triplet); outputs are per row / per element
    bounds: dict = field(default_factory=dict)  # entry -> (float32 bound, float64 bound) in ulp
    skip: Callable = None  # (inputs, dtype) -> {entry: mask of elements excluded (a kink decided by rounding)}
    # (inputs, dtype) -> {entry: (mask, value)}: documented results that replace the
    # exact one there (e.g. cauchy's value is inf where r**2 overflows)
    documented: Callable = None
    # (inputs, dtype) -> {entry: per-element ulp added to the bound}: the documented
    # error from rounding an input-derived quantity (the logits' shift by their max)
    allow: Callable = None


# ---------------------------------------------------------------------------- inputs

def _loguniform(rng, lo, hi, n):
    return 10.0 ** rng.uniform(lo, hi, n)


def real_inputs(n, dtype, rng):
    """Residuals over many scales, with values from 1e-6 to 1e6 (and exact ties)."""
    y = rng.choice([-1, 1], n) * _loguniform(rng, -6, 6, n)
    d = rng.choice([-1, 1], n) * _loguniform(rng, -8, 3, n) * np.maximum(np.abs(y), 1.0)
    p = y + d
    p[: n // 50] = y[: n // 50]  # d = 0
    return y.astype(dtype), p.astype(dtype)


def _specials_real(dtype):
    fi = np.finfo(dtype)
    t = np.dtype(dtype).type
    v = [0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny / 3, fi.tiny, -fi.tiny, 1e-3, 0.5,
         1.0, -1.0, 3.0, 1e10, np.sqrt(fi.max) / 2, -np.sqrt(fi.max) * 2, fi.max / 4, fi.max, -fi.max]
    return np.array([t(x) for x in v], dtype)


def real_adversarial(dtype):
    v = _specials_real(dtype)
    y, p = np.meshgrid(v, v)
    return y.ravel(), p.ravel()


def binary_prob_inputs(n, dtype, rng):
    """Mostly hard labels; probabilities log-uniform towards 0 and 1 (clip bounds included)."""
    y = np.where(rng.uniform(size=n) < 0.7, rng.integers(0, 2, n), rng.uniform(size=n))
    u = _loguniform(rng, -9, 0, n) * 0.5
    p = np.where(rng.uniform(size=n) < 0.5, u, 1 - u)
    return y.astype(dtype), p.astype(dtype)


def _prob_specials(dtype, eps=1e-7):
    t = np.dtype(dtype).type
    fi = np.finfo(dtype)
    lo, hi = t(eps), t(1) - t(eps)
    return np.array([0.0, -0.0, fi.smallest_subnormal, fi.tiny, lo / 2, np.nextafter(lo, t(0)), lo,
                     np.nextafter(lo, t(1)), 1e-3, 0.5, 1 - 1e-3, np.nextafter(hi, t(0)), hi, np.nextafter(hi, t(1)),
                     np.nextafter(t(1), t(0)), 1.0], dtype)


def _label_specials(dtype):
    t = np.dtype(dtype).type
    return np.array([0.0, 1.0, 0.5, 0.25, np.finfo(dtype).smallest_subnormal, np.nextafter(t(1), t(0))], dtype)


def binary_prob_adversarial(dtype):
    y, p = np.meshgrid(_label_specials(dtype), _prob_specials(dtype))
    return y.ravel(), p.ravel()


def logit_inputs(n, dtype, rng):
    y = np.where(rng.uniform(size=n) < 0.7, rng.integers(0, 2, n), rng.uniform(size=n))
    z = rng.choice([-1, 1], n) * _loguniform(rng, -4, 3, n)
    return y.astype(dtype), z.astype(dtype)


def _logit_specials(dtype):
    fi = np.finfo(dtype)
    # exp overflow points: float32 88.72284, float64 709.7827; exp(-z) underflow to 0:
    # float32 103.97, float64 745.13; sigmoid saturation: 16.6 (float32), 36.7 (float64)
    v = [0.0, fi.smallest_subnormal, fi.tiny, 1e-8, 1.0, 16.6, 36.7, 88.72283, 88.72284, 88.7229, 103.97, 104.0,
         709.782, 709.7827, 709.79, 745.13, 745.2, 1e4, 1e9, fi.max / 2, fi.max]
    v = np.array(v, np.float64)
    v = v[v <= fi.max]
    return np.concatenate([v, -v]).astype(dtype)


def logit_adversarial(dtype):
    y, z = np.meshgrid(_label_specials(dtype), _logit_specials(dtype))
    return y.ravel(), z.ravel()


# ---------------------------------------------------------------------------- cases

def _elementwise(loss, **prm):
    def run(inputs):
        y, p = inputs
        v = loss(y, p, reduction="none", **prm)
        g, h = loss.grad_hess(y, p, reduction="none", **prm)
        return [v, g, h]
    return run


def _mp(x):
    return R.mpf(float(x))


def _ew_ref(fn, *args, clip=None, eps=1e-7):
    """A per-element reference fn(y, p, *args[, lo, hi])."""
    def ref(inputs, dtype):
        extra = R.clip_bounds(eps, dtype) if clip else ()
        a = [_mp(x) if x is not None else None for x in args]
        return [fn(_mp(y), _mp(p), *a, *extra) for y, p in zip(*inputs)]
    return ref


CASES: list[Case] = []


def every(entries, b32, b64=None):
    """The same bound (ulp) for every entry."""
    return {e: (b32, b32 if b64 is None else b64) for e in entries}


def case(*args, **kw):
    CASES.append(Case(*args, **kw))


def _huber_kink(delta):
    def skip(inputs, dtype):  # the Hessian's step at |d| = delta is decided by the rounded residual
        y, p = (np.asarray(x, np.float64) for x in inputs)
        d = np.abs(np.asarray(inputs[0] - inputs[1], dtype).astype(np.float64))
        return {"hess": (np.abs(d - delta) <= 2 * ulp(delta, dtype)) | (np.abs(np.abs(y - p) - delta) <= 2 * ulp(delta, dtype))}
    return skip


def _residual_overflow(inputs, dtype):
    """Where y_true - y_pred overflows the dtype (|d| > max; both inputs finite) the
    residual is +-inf, and so is the value (documented for every regression loss)."""
    with np.errstate(over="ignore"):
        d = np.asarray(inputs[0] - inputs[1], dtype)
    return np.isinf(d)


def _regression_documented(inputs, dtype):
    return {"value": (_residual_overflow(inputs, dtype), np.inf)}


def _cauchy_documented(c):
    def documented(inputs, dtype):
        """cauchy's docstring: the value is inf where r**2 overflows float64 (as NumPy's;
        for float32 data r**2 is formed in float64, so only where r is past 1.3e154),
        and the float64 Hessian is its limit 0 there (|hess| < 2 / (c**2 max)); the
        float32 Hessian is float64 arithmetic rounded once, so it has no such exception.
        Where r itself overflows, the gradient is its limit 0 (|grad| < 2 / (c max))."""
        with np.errstate(over="ignore", invalid="ignore"):
            r = np.asarray(np.asarray(inputs[0] - inputs[1], dtype) / dtype(c), dtype)
            over = np.isinf(np.asarray(r * r, dtype))
            r64 = (np.asarray(inputs[0], np.float64) - np.asarray(inputs[1], np.float64)) / c
            value_over = np.isinf(r64 * r64)
        hess_over = over if np.dtype(dtype) == np.float64 else np.zeros_like(over)
        return {"value": (value_over, np.inf), "hess": (hess_over, 0.0), "grad": (np.isinf(r), 0.0)}
    return documented


def _focal_subnormal(gamma):
    def allow(inputs, dtype):
        """Where sigmoid(-|z|) is subnormal (|z| > 87.3 in float32, 708.4 in float64) it
        has only the subnormals' absolute precision, and the Hessian's terms
        gamma (gamma + 1) sigmoid(-|z|) |z| ... carry it: (gamma + 1)**2 |z| ulp more
        there (docstring)."""
        z = np.abs(np.asarray(inputs[1], np.float64))
        sub = z > -np.log(float(np.finfo(dtype).tiny))
        return {"hess": np.where(sub, (gamma + 1) ** 2 * np.minimum(z, 1e4), 0.0)}
    return allow


E3 = ("value", "grad", "hess")
case("mse", real_inputs, real_adversarial, _elementwise(fl.mse), _ew_ref(R.mse), E3)
case("mae", real_inputs, real_adversarial, _elementwise(fl.mae), _ew_ref(R.mae), E3)
for _delta in (0.375, 2.5):
    case(f"huber(delta={_delta})", real_inputs, real_adversarial, _elementwise(fl.huber, delta=_delta),
         _ew_ref(R.huber, _delta), E3, skip=_huber_kink(_delta), documented=_regression_documented)
for _c in (1.0, 0.5, 3.0):
    case(f"cauchy(scale={_c})", real_inputs, real_adversarial, _elementwise(fl.cauchy, scale=_c),
         _ew_ref(R.cauchy, _c), E3, documented=_cauchy_documented(_c), bounds={"hess": (1, 6)})

for _prm in ({}, {"pos_weight": 3.0}, {"label_smoothing": 0.25}, {"pos_weight": 0.5, "label_smoothing": 0.125},
             {"eps": 1e-3}):
    _pw, _s = _prm.get("pos_weight", 1.0), _prm.get("label_smoothing", 0.0)
    _eps = _prm.get("eps", 1e-7)
    # smoothing: t = y (1 - s) + s / 2 is rounded, and 1 - t >= s / 2 carries that
    # rounding relatively: up to 2 / s ulp more (docstring)
    case(f"binary_cross_entropy({_prm})", binary_prob_inputs, binary_prob_adversarial,
         _elementwise(fl.binary_cross_entropy, **_prm), _ew_ref(R.bce, _pw, _s, clip=True, eps=_eps), E3,
         bounds=every(E3, 4 + (2 / _s if _s else 0)))
for _prm in ({}, {"pos_weight": 3.0}, {"label_smoothing": 0.25}, {"pos_weight": 0.5, "label_smoothing": 0.125}):
    _pw, _s = _prm.get("pos_weight", 1.0), _prm.get("label_smoothing", 0.0)
    _b = 2 / _s if _s else 0
    case(f"binary_cross_entropy(from_logits, {_prm})", logit_inputs, logit_adversarial,
         _elementwise(fl.binary_cross_entropy, from_logits=True, **_prm), _ew_ref(R.bce_logits, _pw, _s), E3,
         bounds={"value": (4 + _b,) * 2, "grad": (4 + _b,) * 2, "hess": (6 + _b,) * 2})

for _prm in ({}, {"alpha": None, "gamma": 0.5}, {"gamma": 0.0}, {"alpha": 0.75, "gamma": 3.0}):
    _a, _g = _prm.get("alpha", 0.25), _prm.get("gamma", 2.0)
    # (1 - p_t)**gamma multiplies the relative rounding of 1 - p_t by gamma
    case(f"focal_loss({_prm})", binary_prob_inputs, binary_prob_adversarial, _elementwise(fl.focal_loss, **_prm),
         _ew_ref(R.focal, _a, _g, clip=True), E3, bounds=every(E3, 6 + 2 * _g))
    case(f"focal_loss(from_logits, {_prm})", logit_inputs, logit_adversarial,
         _elementwise(fl.focal_loss, from_logits=True, **_prm), _ew_ref(R.focal_logits, _a, _g), E3,
         bounds=every(E3, 8 + 3 * _g), allow=_focal_subnormal(_g))


# triplet_margin(d_pos, d_neg): distances >= 0
def _distances(n, dtype, rng):
    dp = _loguniform(rng, -4, 3, n)
    dn = dp * rng.uniform(0.0, 2.0, n) + rng.choice([0.0, 0.5], n)
    return dp.astype(dtype), dn.astype(dtype)


def _distances_adv(dtype):
    v = np.abs(_specials_real(dtype))
    a, b = np.meshgrid(v, v)
    return a.ravel(), b.ravel()


def _tm_run(inputs):
    dp, dn = inputs
    v = fl.triplet_margin(dp, dn, margin=0.5, reduction="none")
    (gp, gn), (hp, hn) = fl.triplet_margin.grad_hess(dp, dn, margin=0.5, reduction="none")
    return [v, gp, gn, hp, hn]


def _tm_ref(inputs, dtype):
    out = []
    for dp, dn in zip(*inputs):
        v, g, h = R.triplet_margin(_mp(dn), _mp(dp), R.mpf(0.5))
        out.append([v, g, (-g[0], g[1]), h, h])
    return out


def _tm_skip(inputs, dtype):
    dp, dn = (np.asarray(x, np.float64) for x in inputs)
    h = dp - dn + 0.5
    near = np.abs(h) <= 4 * ulp(np.abs(dp) + np.abs(dn) + 0.5, dtype)  # the hinge's side of a rounded difference
    return {"grad_pos": near, "grad_neg": near}


case("triplet_margin(margin=0.5)", _distances, _distances_adv, _tm_run, _tm_ref,
     ("value", "grad_pos", "grad_neg", "hess_pos", "hess_neg"), skip=_tm_skip)


# GAN losses (BCE kernels against fixed targets)
def _gan_prob(n, dtype, rng):
    u = _loguniform(rng, -9, 0, 2 * n) * 0.5
    p = np.where(rng.uniform(size=2 * n) < 0.5, u, 1 - u).astype(dtype)
    return p[:n], p[n:]


def _gan_prob_adv(dtype):
    a, b = np.meshgrid(_prob_specials(dtype), _prob_specials(dtype))
    return a.ravel(), b.ravel()


def _gan_logit(n, dtype, rng):
    z = rng.choice([-1, 1], 2 * n) * _loguniform(rng, -4, 3, 2 * n)
    return z[:n].astype(dtype), z[n:].astype(dtype)


def _gan_logit_adv(dtype):
    a, b = np.meshgrid(_logit_specials(dtype), _logit_specials(dtype)[::3])
    return a.ravel(), b.ravel()


def _disc_run(**prm):
    def run(inputs):
        r, f = inputs
        v = fl.gan_discriminator_loss(r, f, reduction="none", **prm)
        (gr, gf), (hr, hf) = fl.gan_discriminator_loss.grad_hess(r, f, reduction="none", **prm)
        return [v, gr, gf, hr, hf]
    return run


def _disc_ref(logits):
    def ref(inputs, dtype):
        out = []
        lo, hi = R.clip_bounds(1e-7, dtype)
        for r, f in zip(*inputs):
            r, f = _mp(r), _mp(f)
            a = R.bce_logits(R.ONE, r, R.ONE, R.ZERO) if logits else R.bce(R.ONE, r, R.ONE, R.ZERO, lo, hi)
            b = R.bce_logits(R.ZERO, f, R.ONE, R.ZERO) if logits else R.bce(R.ZERO, f, R.ONE, R.ZERO, lo, hi)
            half = lambda e: (e[0] / 2, e[1] / 2)  # noqa: E731
            out.append([((a[0][0] + b[0][0]) / 2, (a[0][1] + b[0][1]) / 2), half(a[1]), half(b[1]), half(a[2]),
                        half(b[2])])
        return out
    return ref


def _gen_run(**prm):
    def run(inputs):
        f = inputs[0]
        v = fl.gan_generator_loss(f, reduction="none", **prm)
        g, h = fl.gan_generator_loss.grad_hess(f, reduction="none", **prm)
        return [v, g, h]
    return run


def _gen_ref(logits, saturating):
    def ref(inputs, dtype):
        out = []
        lo, hi = R.clip_bounds(1e-7, dtype)
        y = R.ZERO if saturating else R.ONE
        for f in inputs[0]:
            f = _mp(f)
            e = R.bce_logits(y, f, R.ONE, R.ZERO) if logits else R.bce(y, f, R.ONE, R.ZERO, lo, hi)
            if saturating:  # log(1 - D) = -BCE(0, D)
                e = [(-x, s) for x, s in e]
            out.append(e)
        return out
    return ref


case("gan_discriminator_loss", _gan_prob, _gan_prob_adv, _disc_run(), _disc_ref(False),
     ("value", "grad_real", "grad_fake", "hess_real", "hess_fake"))
case("gan_discriminator_loss(from_logits)", _gan_logit, _gan_logit_adv, _disc_run(from_logits=True), _disc_ref(True),
     ("value", "grad_real", "grad_fake", "hess_real", "hess_fake"), bounds={"hess_real": (6, 6), "hess_fake": (6, 6)})
for _sat in (False, True):
    case(f"gan_generator_loss(saturating={_sat})", lambda n, d, r: _gan_prob(n, d, r)[:1],
         lambda d: (_prob_specials(d),), _gen_run(saturating=_sat), _gen_ref(False, _sat), E3)
    case(f"gan_generator_loss(from_logits, saturating={_sat})", lambda n, d, r: _gan_logit(n, d, r)[:1],
         lambda d: (_logit_specials(d),), _gen_run(from_logits=True, saturating=_sat), _gen_ref(True, _sat), E3,
         bounds={"hess": (6, 6)})


# ---------------------------------------------------------------------------- row-wise

# (classes, smoothing): s / C exact in float32; C = 5 runs the rows-as-lanes path,
# C = 40 the SIMD-over-classes path (with a tail).
ROW_SHAPES = [(5, 0.3125), (40, 0.625)]
CLASS_WEIGHT = np.array([0.5, 1.0, 2.0, 0.25, 3.0])


def _row_targets(n_rows, C, rng, soft=True):
    hard = np.eye(C)[rng.integers(0, C, n_rows)]
    if not soft:
        return hard
    d = rng.dirichlet(np.full(C, 0.5), n_rows)
    return np.where(rng.uniform(size=(n_rows, 1)) < 0.5, hard, d)


def _row_probs(n_rows, C, rng):
    p = rng.dirichlet(np.full(C, 0.3), n_rows)
    return p


def _row_logits(n_rows, C, rng):
    return rng.normal(size=(n_rows, C)) * _loguniform(rng, -1, 2.5, n_rows)[:, None] + rng.normal(size=(n_rows, 1)) * 10


def _rows_adv(C, logits):
    def adv(dtype):
        t = np.dtype(dtype).type
        fi = np.finfo(dtype)
        rows = []
        if logits:
            base = [np.arange(C) + 1000.0, np.zeros(C), np.full(C, 88.72284), np.r_[709.78, np.zeros(C - 1)],
                    np.r_[1e4, -np.arange(C - 1.0)], np.r_[fi.max / 4, np.zeros(C - 1)], np.linspace(-50, 50, C),
                    np.r_[0.0, np.full(C - 1, -1e30 if dtype == np.float32 else -1e300)]]
        else:
            e = float(t(1e-7))
            base = [np.r_[1.0, np.zeros(C - 1)], np.r_[0.0, np.ones(C - 1) / (C - 1)], np.full(C, e),
                    np.r_[e / 2, np.nextafter(t(e), t(1)), 1 - e, np.zeros(C - 3)], np.full(C, 1.0 / C),
                    np.r_[fi.smallest_subnormal, fi.tiny, np.full(C - 2, 0.5)], np.r_[1 - e, np.full(C - 1, e)]]
        p = np.array([b.astype(dtype) for b in base])
        y = np.eye(C)[np.arange(len(base)) % C]
        y[1] = np.full(C, 1.0 / C)
        return y.astype(dtype), p
    return adv


def _logit_shift_allowance(inputs, dtype):
    """Row-wise logits are shifted by the row's max in the dtype, z_c - m, before exp:
    rounding that shift by half an ulp changes exp(z_c - m) by |z_c - m| / 2 ulp of
    its own magnitude (relative), and ulp(x) / x varies by 2 within a binade: the
    docstrings allow 2 |z_c - m| ulp per row (largest shift of a class whose exp
    is not 0), on every entry of the row."""
    z = np.asarray(inputs[1], np.float64)
    with np.errstate(invalid="ignore"):
        shift = z.max(axis=-1, keepdims=True) - z
    cap = -np.log(float(np.finfo(dtype).smallest_subnormal))
    shift = 2 * np.where(np.isfinite(shift) & (shift <= cap), shift, 0.0).max(axis=-1)
    per_row = shift[:, None]
    C = z.shape[-1]
    return {"value": shift, "grad": np.broadcast_to(per_row, (len(shift), C)),
            "hess": np.broadcast_to(per_row, (len(shift), C))}


def _row_bounds(C):
    """C terms summed in the dtype: (C - 1) / 2 ulp of their magnitudes' sum more."""
    b = 4 + (C - 1) / 2
    return every(E3, b)


def _rowwise_run(loss, sparse=False, **prm):
    def run(inputs):
        y, p = inputs
        if sparse:
            y = np.argmax(y, axis=-1)
        v = loss(y, p, reduction="none", **prm)
        g, h = loss.grad_hess(y, p, reduction="none", **prm)
        return [v, g, h]
    return run


def _rowwise_ref(kind, C, s=0.0, cw=None, logits=False):
    def ref(inputs, dtype):
        lo = R.clip_bounds(1e-7, dtype)[0]
        sC, keep = R.mpf(s) / C, 1 - R.mpf(s)
        w = [R.ONE] * C if cw is None else [_mp(x) for x in cw]
        out = []
        for y, p in zip(*inputs):
            yy = [_mp(a) for a in y]
            if kind == "sparse":  # the one-hot of argmax, as the run passes its labels
                k = int(np.argmax(y))
                yy = [R.ONE if c == k else R.ZERO for c in range(C)]
            pp = [_mp(a) for a in p]
            t = [wc * (yc * keep + sC) for wc, yc in zip(w, yy)]
            if kind == "kl":
                out.append(R.kl_logits(yy, pp) if logits else R.kl(yy, pp, lo))
            else:
                out.append(R.cce_logits(t, pp) if logits else R.cce(t, pp, lo))
        return out
    return ref


def _rows_draw(C, logits, soft):
    def draw(n, dtype, rng):
        n_rows = max(n // C, 1)
        y = _row_targets(n_rows, C, rng, soft)
        p = _row_logits(n_rows, C, rng) if logits else _row_probs(n_rows, C, rng)
        return y.astype(dtype), p.astype(dtype)
    return draw


def _rows_kl_draw(C, logits):
    def draw(n, dtype, rng):
        n_rows = max(n // C, 1)
        P = rng.dirichlet(np.full(C, 0.5), n_rows)
        P[rng.uniform(size=P.shape) < 0.1] = 0.0  # zero terms
        Q = _row_logits(n_rows, C, rng) if logits else _row_probs(n_rows, C, rng)
        return P.astype(dtype), Q.astype(dtype)
    return draw


for _C, _s in ROW_SHAPES:
    _cw = np.resize(CLASS_WEIGHT, _C)
    for _logits in (False, True):
        _tag = "from_logits, " if _logits else ""
        _dr, _adv = _rows_draw(_C, _logits, True), _rows_adv(_C, _logits)
        # smoothing and class weights on the rows-as-lanes path (C = 5) only: they do
        # not change the SIMD-over-classes path's arithmetic (and mpmath time is the budget)
        _configs = ({}, {"label_smoothing": _s}, {"class_weight": _cw}) if _C < 16 else ({},)
        for _prm in _configs:
            case(f"categorical_cross_entropy({_tag}C={_C}, {list(_prm)})", _dr, _adv,
                 _rowwise_run(fl.categorical_cross_entropy, from_logits=_logits, **_prm),
                 _rowwise_ref("cce", _C, _prm.get("label_smoothing", 0.0), _prm.get("class_weight"), _logits),
                 E3, rows=True, allow=_logit_shift_allowance if _logits else None, bounds=_row_bounds(_C))
        for _prm in _configs:
            case(f"sparse_categorical_cross_entropy({_tag}C={_C}, {list(_prm)})", _rows_draw(_C, _logits, False),
                 _adv, _rowwise_run(fl.sparse_categorical_cross_entropy, sparse=True, from_logits=_logits, **_prm),
                 _rowwise_ref("sparse", _C, _prm.get("label_smoothing", 0.0), _prm.get("class_weight"), _logits),
                 E3, rows=True, allow=_logit_shift_allowance if _logits else None, bounds=_row_bounds(_C))
        case(f"kl_divergence({_tag}C={_C})", _rows_kl_draw(_C, _logits), _adv,
             _rowwise_run(fl.kl_divergence, from_logits=_logits), _rowwise_ref("kl", _C, logits=_logits), E3,
             rows=True, allow=_logit_shift_allowance if _logits else None, bounds=_row_bounds(_C))


# triplet_loss on (N, D) embeddings, p = 2
TRIPLET_EPS = 2.0 ** -20  # exact in float32


def _triplet_draw(D):
    def draw(n, dtype, rng):
        m = max(n // D, 1)
        s = _loguniform(rng, -3, 3, m)[:, None]
        a = rng.normal(size=(m, D)) * s
        p = a + rng.normal(size=(m, D)) * s * rng.uniform(0, 1, (m, 1))
        q = a + rng.normal(size=(m, D)) * s * rng.uniform(0, 1.5, (m, 1))
        return a.astype(dtype), p.astype(dtype), q.astype(dtype)
    return draw


def _triplet_adv(D):
    def adv(dtype):
        fi = np.finfo(dtype)
        z = np.zeros((6, D))
        a = z.copy()
        p = z.copy()
        p[1] = fi.tiny
        p[2] = 1e-3
        p[3, 0] = 1.0
        p[4] = 1e10
        p[5] = fi.smallest_subnormal
        n = z.copy()
        n[:, 0] = [0.0, 1.0, 0.5, 3.0, 2e10, 1.0]
        return a.astype(dtype), p.astype(dtype), n.astype(dtype)
    return adv


def _triplet_run(inputs):
    a, p, n = inputs
    v = fl.triplet_loss(a, p, n, margin=0.5, eps=TRIPLET_EPS, reduction="none")
    (ga, gp, gn), (ha, hp, hn) = fl.triplet_loss.grad_hess(a, p, n, margin=0.5, eps=TRIPLET_EPS, reduction="none")
    return [v, ga, gp, gn, ha, hp, hn]


def _triplet_ref(inputs, dtype):
    e = R.mpf(TRIPLET_EPS)
    return [R.triplet([_mp(x) for x in a], [_mp(x) for x in p], [_mp(x) for x in n], R.mpf(0.5), e)
            for a, p, n in zip(*inputs)]


def _triplet_skip(inputs, dtype):
    """Examples whose hinge is within rounding of 0 (its side decided by rounded
    distances): their gradient entries are excluded."""
    a, p, n = (np.asarray(x, np.float64) for x in inputs)
    dp = np.linalg.norm(a - p + TRIPLET_EPS, axis=-1)
    dn = np.linalg.norm(a - n + TRIPLET_EPS, axis=-1)
    near = np.abs(dp - dn + 0.5) <= 1e3 * ulp(dp + dn + 0.5, dtype)
    per = np.repeat(near[:, None], a.shape[1], 1).ravel()
    return {f"{k}_{x}": per for k in ("grad", "hess") for x in ("anchor", "positive", "negative")}


for _D in (3, 40):
    case(f"triplet_loss(D={_D})", _triplet_draw(_D), _triplet_adv(_D), _triplet_run, _triplet_ref,
         ("value", "grad_anchor", "grad_positive", "grad_negative", "hess_anchor", "hess_positive", "hess_negative"),
         rows=True, skip=_triplet_skip)


# ---------------------------------------------------------------------------- bounds

# entry -> (float32, float64) bound in ulp where it differs from 4; each is stated,
# with its reason, in the loss's docstring.
DEFAULT_BOUND = 4.0
BOUNDS: dict[str, dict[str, tuple[float, float]]] = {}


def bound(c: Case, entry: str, dtype) -> float:
    i = 0 if np.dtype(dtype) == np.float32 else 1
    if entry in c.bounds:
        return c.bounds[entry][i]
    for prefix, entries in BOUNDS.items():
        if c.name.startswith(prefix) and entry in entries:
            return entries[entry][i]
    return DEFAULT_BOUND


# ---------------------------------------------------------------------------- runner

def measure(c: Case, dtype, n: int, seed: int = 0) -> dict:
    """Worst ulp error per entry of case ``c`` over n random inputs plus the adversarial set."""
    # the same inputs for every configuration of a loss (the references cache their pieces)
    rng = np.random.default_rng([seed, zlib.crc32(c.name.split("(")[0].encode()), np.dtype(dtype).itemsize])
    worst = {}
    for inputs in (c.draw(n, dtype, rng), c.adversarial(dtype)):
        before = [x.tobytes() for x in inputs]
        with np.errstate(all="ignore"):
            outs = c.run(inputs)
        assert [x.tobytes() for x in inputs] == before  # inputs unchanged
        refs = c.ref(inputs, dtype)
        skips = c.skip(inputs, dtype) if c.skip else {}
        documented = c.documented(inputs, dtype) if c.documented else {}
        allow = c.allow(inputs, dtype) if c.allow else {}
        k = 0
        for entry, out in zip(c.entries, outs):
            assert np.asarray(out).dtype == dtype, (entry, np.asarray(out).dtype)
            width = np.asarray(out).size // len(refs) if c.rows else 1
            pairs = [r for row in refs for r in row[k:k + width]] if c.rows else [row[k] for row in refs]
            k += width
            err = ulp_errors(out, [e for e, _ in pairs], [s for _, s in pairs], dtype)
            if entry in skips:
                err = np.where(np.asarray(skips[entry]).reshape(-1), 0.0, err)
            if entry in documented:
                mask, value = documented[entry]
                mask = np.broadcast_to(mask, np.shape(out)).reshape(-1)
                o = np.asarray(out, np.float64).reshape(-1)
                err = np.where(mask, np.where(o == value, 0.0, np.inf), err)
            raw = float(err.max(initial=0.0))
            if entry in allow:  # the per-element extra ulp are taken off before the bound applies
                err = np.maximum(err - np.broadcast_to(allow[entry], np.shape(out)).reshape(-1), 0.0)
            i = int(np.argmax(err))
            prev = worst.get(entry, (-1.0, None, 0.0))
            where = tuple(np.asarray(x).reshape(len(refs), -1)[i // width].tolist() for x in inputs)
            worst[entry] = (float(err[i]), where, max(prev[2], raw)) if err[i] > prev[0] else \
                (prev[0], prev[1], max(prev[2], raw))
    return worst


def check(c: Case, dtype, n: int):
    worst = measure(c, dtype, n)
    failures = []
    for entry, (err, where, raw) in worst.items():
        key = (c.name, np.dtype(dtype).name, entry)
        WORST[key] = max(WORST.get(key, 0.0), raw)
        if not err <= bound(c, entry, dtype):
            failures.append(f"{entry}: {err:.3g} ulp (bound {bound(c, entry, dtype)}) at inputs {where}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_elementwise_ulp(c, dtype):
    check(c, dtype, N_RANDOM)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_elementwise_ulp_many(c, dtype):
    check(c, dtype, N_SLOW)


# ---------------------------------------------------------------------------- reductions

def _reduction_inputs(name, n, dtype, rng):
    if name in ("categorical_cross_entropy", "kl_divergence"):
        rows = max(n // 8, 1)
        return rng.dirichlet(np.ones(8), rows).astype(dtype), (rng.normal(size=(rows, 8)) * 3).astype(dtype), \
            {"from_logits": True}
    if name == "sparse_categorical_cross_entropy":
        rows = max(n // 8, 1)
        return rng.integers(0, 8, rows), rng.dirichlet(np.ones(8), rows).astype(dtype), {}
    y = rng.uniform(0, 1, n)
    if name in ("mse", "mae", "huber", "cauchy"):
        return y.astype(dtype), (y + rng.normal(size=n) * 10.0 ** rng.uniform(-3, 2, n)).astype(dtype), {}
    if name == "triplet_margin":
        return y.astype(dtype), rng.uniform(0, 1, n).astype(dtype), {}
    if name in ("binary_cross_entropy", "focal_loss"):
        return (y > 0.5).astype(dtype), (rng.normal(size=n) * 5).astype(dtype), {"from_logits": True}
    raise NotImplementedError(name)


REDUCTION_LOSSES = ["mse", "mae", "huber", "cauchy", "binary_cross_entropy", "focal_loss", "triplet_margin",
                    "categorical_cross_entropy", "sparse_categorical_cross_entropy", "kl_divergence"]
REDUCTION_RTOL = {np.dtype(np.float32): 1e-7, np.dtype(np.float64): 1e-14}


def check_reductions(name, n, dtype, rng):
    """sum and mean against the exact sum (math.fsum) of the kernel's own per-element
    values: the error the float64 accumulation adds, relative to sum |loss|. (The
    per-element values' own error is the ulp tests' business; summing mpmath values
    instead would measure both at once.) Weighted too."""
    loss = fl.LOSSES[name]
    y, p, prm = _reduction_inputs(name, n, dtype, rng)
    w = rng.uniform(0, 2, np.shape(loss(y, p, reduction="none", **prm))).astype(dtype)
    rtol = REDUCTION_RTOL[np.dtype(dtype)]
    for sw in (None, w):
        per = np.asarray(loss(y, p, reduction="none", sample_weight=sw, **prm), np.float64).reshape(-1)
        exact = math.fsum(per)
        size = math.fsum(np.abs(per))
        s = loss(y, p, reduction="sum", sample_weight=sw, **prm)
        assert s.dtype == dtype
        assert abs(float(s) - exact) <= rtol * size, (name, n, float(s), exact, size)
        m = loss(y, p, reduction="mean", sample_weight=sw, **prm)
        denom = per.size if sw is None else math.fsum(np.asarray(w, np.float64).reshape(-1))
        assert abs(float(m) - exact / denom) <= rtol * size / denom, (name, n, float(m), exact / denom)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", REDUCTION_LOSSES)
def test_reductions_exact_sum(name, dtype):
    rng = np.random.default_rng(7)
    for n in (1, 7, 1000, 100_003, 1_000_000):
        check_reductions(name, n, dtype, rng)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["mse", "binary_cross_entropy", "categorical_cross_entropy"])
def test_reductions_exact_sum_1e8(name, dtype):
    need = 100_000_000 * np.dtype(dtype).itemsize * 6
    if mem_available() < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of available memory")
    check_reductions(name, 100_000_000, dtype, np.random.default_rng(8))


def test_reductions_against_mpmath():
    """The sum of 10,000 mpmath-exact per-element values against the kernel's sum:
    within the elementwise bound plus the summation's (relative to sum |loss|)."""
    rng = np.random.default_rng(9)
    for dtype in DTYPES:
        for name, ref, prm in [("mse", R.mse, {}), ("cauchy", R.cauchy, {"scale": 1.0})]:
            y, p = real_inputs(N_RANDOM, dtype, rng)
            loss = fl.LOSSES[name]
            args = [R.mpf(v) for v in prm.values()]
            exact = [ref(_mp(a), _mp(b), *args)[0][0] for a, b in zip(y, p)]
            total = mpmath.fsum(exact)
            size = mpmath.fsum(abs(e) for e in exact)
            got = loss(y, p, reduction="sum", **prm)
            eps = float(np.finfo(dtype).eps)
            # per element <= 4 ulp <= 4 eps relative, plus the accumulation, plus the result's rounding
            assert abs(float(got) - float(total)) <= (4 * eps + REDUCTION_RTOL[np.dtype(dtype)]) * float(size) \
                + eps * abs(float(total))
