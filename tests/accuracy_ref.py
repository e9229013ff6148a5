"""50-digit mpmath references for the accuracy tests (tests/test_accuracy.py).

Every reference takes the inputs exactly as the kernels see them (float32 or
float64 numbers, converted to mpmath without rounding) and returns, per output,
``(exact, scale)``: the exact mathematical result and the magnitude against
which its error is measured. ``scale`` is ``|exact|`` except where the formula
is a difference of terms (a soft-label gradient, a hinge): there it is the sum
of the terms' magnitudes, since no floating-point evaluation from rounded pieces
can keep relative accuracy in a cancelling difference (each docstring in
python/fastloss/_losses.py says which entries are measured that way).

Hyper-parameters (delta, scale, pos_weight, label_smoothing, alpha, gamma,
margin) are chosen exactly representable in float32, so that the only rounding
of an input is none at all; clipping bounds are taken in the computing dtype, as
SPEC section 2 says (lo = T(eps), hi = T(1) - T(eps)).
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np

mp = mpmath.mp
mp.dps = 50
mpf = mpmath.mpf
ZERO, ONE, HALF = mpf(0), mpf(1), mpf("0.5")
_TINY = mpf("1e-12")


def log1p(x):
    # mpmath's log1p is slow; log(1 + x) keeps > 35 digits for |x| >= 1e-12 at 50 digits,
    # and below, the series to x^5 is exact to 1e-60 relative.
    if abs(x) < _TINY:
        return x - x * x / 2 + x ** 3 / 3 - x ** 4 / 4 + x ** 5 / 5
    return mpmath.log(ONE + x)


@functools.lru_cache(maxsize=1 << 20)
def logistic(z):
    """(softplus(z), softplus(-z), sigmoid(z), sigmoid(-z)) from one exp and one log;
    cached, since every configuration of a loss sees the same logits."""
    e = mpmath.exp(-abs(z))
    lg = log1p(e)
    big, small = ONE / (ONE + e), e / (ONE + e)
    pos = z if z > 0 else ZERO
    neg = -z if z < 0 else ZERO
    return (pos + lg, neg + lg, big, small) if z >= 0 else (pos + lg, neg + lg, small, big)


@functools.lru_cache(maxsize=1 << 20)
def logs(q):
    """(log q, log(1 - q)), cached as logistic()."""
    return mpmath.log(q), log1p(-q)


def clip_bounds(eps, dtype):
    t = np.dtype(dtype).type
    lo = t(eps)
    return mpf(float(lo)), mpf(float(t(1) - lo))


def _abs(x):
    return (x, abs(x))


# --- regression -----------------------------------------------------------------

def mse(y, p):
    d = y - p
    return [_abs(d * d), _abs(-2 * d), _abs(mpf(2))]


def mae(y, p):
    d = y - p
    return [_abs(abs(d)), _abs(mpf(mpmath.sign(p - y))), _abs(ZERO)]


def huber(y, p, delta):
    d = y - p
    a = abs(d)
    if a <= delta:
        return [_abs(d * d / 2), _abs(-d), _abs(ONE)]
    return [_abs(delta * (a - delta / 2)), _abs(-delta if d > 0 else delta), _abs(ZERO)]


def cauchy(y, p, scale):
    r = (y - p) / scale
    r2 = r * r
    q = ONE / (ONE + r2)
    return [_abs(log1p(r2)), _abs(-2 * r / scale * q), (2 * (1 - r2) * q * q / scale ** 2, 2 * (1 + r2) * q * q / scale ** 2)]


def triplet_margin(d_neg, d_pos, margin):  # (y_true, y_pred) = (d_neg, d_pos)
    h = d_pos - d_neg + margin
    sc = abs(d_pos) + abs(d_neg) + abs(margin)
    if h > 0:
        return [(h, sc), _abs(ONE), _abs(ZERO)]
    return [(ZERO, sc), _abs(ZERO), _abs(ZERO)]


# --- binary ---------------------------------------------------------------------

def bce(y, p, pw, s, lo, hi):
    t = y * (1 - s) + s / 2
    q = min(max(p, lo), hi)
    a, b = pw * t, 1 - t
    lq, l1q = logs(q)
    v = -(a * lq + b * l1q)
    if p < lo or p > hi:
        return [_abs(v), _abs(ZERO), _abs(ZERO)]
    g1, g2 = a / q, b / (1 - q)
    h = a / (q * q) + b / ((1 - q) ** 2)
    return [_abs(v), (g2 - g1, g1 + g2), _abs(h)]


def bce_logits(y, z, pw, s):
    t = y * (1 - s) + s / 2
    a, b = pw * t, 1 - t
    sp, sn, sg, sgn = logistic(z)
    v = a * sn + b * sp
    g1, g2 = b * sg, a * sgn
    return [_abs(v), (g1 - g2, g1 + g2), _abs((a + b) * sg * sgn)]


def focal(y, p, alpha, gamma, lo, hi):
    at = ONE if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    q = min(max(p, lo), hi)
    m = y * (1 - q) + (1 - y) * q
    mod = m ** gamma
    lq, l1q = logs(q)
    bce_v = -(y * lq + (1 - y) * l1q)
    v = at * mod * bce_v
    if p < lo or p > hi:
        return [_abs(v), _abs(ZERO), _abs(ZERO)]
    s = 1 - 2 * y
    d1 = (q - y) / (q * (1 - q))
    d2 = y / (q * q) + (1 - y) / ((1 - q) ** 2)
    # d(m^g)/dp = g m^(g-1) s; l = at m^g bce
    t1 = gamma * mod / m * s * bce_v
    t2 = mod * d1
    g = at * (t1 + t2)
    u1 = gamma * (gamma - 1) * mod / (m * m) * s * s * bce_v
    u2 = 2 * gamma * mod / m * s * d1
    u3 = mod * d2
    h = at * (u1 + u2 + u3)
    return [_abs(v), (g, at * (abs(t1) + abs(t2))), (h, at * (abs(u1) + abs(u2) + abs(u3)))]


def focal_logits(y, z, alpha, gamma):
    at = ONE if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    sp, sn, sg, sgn = logistic(z)
    m = y * sgn + (1 - y) * sg           # 1 - p_t
    bce_v = y * sn + (1 - y) * sp
    mod = m ** gamma
    s = 1 - 2 * y
    # dm/dz = s sg sgn; d(bce)/dz = (1 - y) sg - y sgn
    dm = s * sg * sgn
    db = (1 - y) * sg - y * sgn
    v = at * mod * bce_v
    # l = at m^g bce: l' = at (g m^(g-1) m' bce + m^g bce')
    t1 = gamma * mod / m * dm * bce_v if m != 0 else ZERO
    t2 = mod * db
    g = at * (t1 + t2)
    # m'' = s sg sgn (sgn - sg); bce'' = sg sgn
    ddm = dm * (sgn - sg)
    ddb = sg * sgn
    if m != 0:
        u1 = gamma * (gamma - 1) * mod / (m * m) * dm * dm * bce_v
        u2 = gamma * mod / m * ddm * bce_v
        u3 = 2 * gamma * mod / m * dm * db
    else:
        u1 = u2 = u3 = ZERO
    u4 = mod * ddb
    h = at * (u1 + u2 + u3 + u4)
    # db = (1 - y) sg - y sgn is a difference (soft labels): its terms' magnitudes
    t2s = mod * ((1 - y) * sg + y * sgn)
    u3s = abs(2 * gamma * mod / m * dm) * ((1 - y) * sg + y * sgn) if m != 0 else ZERO
    return [_abs(v), (g, at * (abs(t1) + t2s)), (h, at * (abs(u1) + abs(u2) + u3s + abs(u4)))]


# --- row-wise (one example: a row of C classes) -------------------------------------

def _log_softmax(z):
    """log softmax(z)_c for every c, without cancellation: (z_c - m) - log1p(rest),
    rest = sum of exp(z_k - m) over every k but one argmax (so that a loss of 1e-50
    next to logits of 100 keeps its digits at 50 digits)."""
    k = max(range(len(z)), key=lambda i: z[i])
    m = z[k]
    rest = mpmath.fsum(mpmath.exp(zc - m) for i, zc in enumerate(z) if i != k)
    L = log1p(rest)
    return [(zc - m) - L for zc in z]


def _one_minus_exp(x):  # 1 - e^x for x <= 0, without cancellation near 0
    if abs(x) < _TINY:
        return -(x + x * x / 2 + x ** 3 / 6 + x ** 4 / 24)
    return ONE - mpmath.exp(x)


def cce(t, p, lo):
    """Probabilities; targets t already smoothed/weighted (a_c). Value, grads, hesses."""
    v = -mpmath.fsum(a * mpmath.log(max(q, lo)) for a, q in zip(t, p) if a != 0)
    g = [_abs(ZERO if q < lo else -a / q) for a, q in zip(t, p)]
    h = [_abs(ZERO if q < lo else a / (q * q)) for a, q in zip(t, p)]
    return [_abs(v)] + g + h


def _softmax_derivatives(t, z):
    """grad A p_c - a_c (a difference: scale A p_c + |a_c|) and Hessian A p_c (1 - p_c)
    = A p_c - A p_c^2 (a difference too: scale A p_c (1 + p_c))."""
    ls = _log_softmax(z)
    A = mpmath.fsum(t)
    sm = [mpmath.exp(x) for x in ls]
    g = [(A * s - a, A * s + abs(a)) for a, s in zip(t, sm)]
    h = [(A * s * _one_minus_exp(x), A * s * (1 + s)) for s, x in zip(sm, ls)]
    return ls, g, h


def cce_logits(t, z):
    ls, g, h = _softmax_derivatives(t, z)
    v = -mpmath.fsum(a * x for a, x in zip(t, ls) if a != 0)
    return [_abs(v)] + g + h


def kl(P, Q, lo):
    terms = [a * mpmath.log(a / max(q, lo)) for a, q in zip(P, Q) if a != 0]
    v = mpmath.fsum(terms)
    g = [_abs(ZERO if q < lo else -a / q) for a, q in zip(P, Q)]
    h = [_abs(ZERO if q < lo else a / (q * q)) for a, q in zip(P, Q)]
    return [(v, mpmath.fsum(abs(x) for x in terms))] + g + h


def kl_logits(P, z):
    """Each term P_c (log P_c - log q_c) is a difference of logarithms: scale
    sum_c P_c (|log P_c| + |log q_c|)."""
    ls, g, h = _softmax_derivatives(P, z)
    terms = [(a * (mpmath.log(a) - x), a * (abs(mpmath.log(a)) + abs(x))) for a, x in zip(P, ls) if a != 0]
    v = mpmath.fsum(t for t, _ in terms)
    return [(v, mpmath.fsum(s for _, s in terms))] + g + h


def triplet(a, p, n, margin, eps):
    """p = 2 norm of x - y + eps (PyTorch's pairwise_distance). Value, grads and
    Hessian diagonals (a, p, n)."""
    u = [x - y + eps for x, y in zip(a, p)]
    w = [x - y + eps for x, y in zip(a, n)]
    dp = mpmath.sqrt(mpmath.fsum(x * x for x in u))
    dn = mpmath.sqrt(mpmath.fsum(x * x for x in w))
    h = dp - dn + margin
    sc = dp + dn + abs(margin)
    if h <= 0:
        zeros = [_abs(ZERO)] * (6 * len(a))
        return [(ZERO, sc)] + zeros
    ga = [(x / dp - y / dn, abs(x / dp) + abs(y / dn)) for x, y in zip(u, w)]
    gp = [_abs(-x / dp) for x in u]
    gn = [_abs(y / dn) for y in w]
    # Hessian diagonals: d2D/dv_k2 = (D^2 - v_k^2) / D^3, a difference (scale (D^2 + v_k^2) / D^3)
    def d2(v, d):
        return ((d * d - v * v) / d ** 3, (d * d + v * v) / d ** 3)
    ha = [(d2(x, dp)[0] - d2(y, dn)[0], d2(x, dp)[1] + d2(y, dn)[1]) for x, y in zip(u, w)]
    hp = [d2(x, dp) for x in u]
    hn = [(-d2(y, dn)[0], d2(y, dn)[1]) for y in w]
    return [(h, sc)] + ga + gp + gn + ha + hp + hn
