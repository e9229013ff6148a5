// Binary classification losses: functors of (y_true, y_pred[, pos_weight]) where
// y_pred is a probability or, in the *Logits functors, a logit z. Derivatives are
// with respect to y_pred (the logit for the *Logits functors).
#pragma once
#include "kernel_table.hpp"
#include "simd_math.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

template <class T>
FASTLOSS_INLINE bool in_unit_interval(T x) { return !(x < T(0) || x > T(1)); }  // NaN passes

// Outside the clip range [lo, hi] (NaN is not). A bitwise |, not ||: GCC turned the
// short-circuit into branches inside the SIMD loop and duplicated the value's logs
// into them, so that value_and_grad of BCE took every log twice (2.2x the value).
template <class T>
FASTLOSS_INLINE bool outside(T p, T lo, T hi) { return (p < lo) | (p > hi); }

// params: eps, label_smoothing; aux: pos_weight.
// -[pw y log p + (1 - y) log(1 - p)], p clipped to [eps, 1 - eps] (bounds in T, as
// Keras), y smoothed to y (1 - s) + s / 2. Outside the clip range the derivatives
// are 0 (the clip is flat there).
template <class T>
struct BceProb {
  static constexpr int cost = kTranscendental;
  static constexpr bool uses_aux = true;
  static constexpr bool checks_domain = true;
  T lo, hi, keep, add;
  math::ClippedLogs<T> logs;
  explicit BceProb(const double* prm)
      : lo(static_cast<T>(prm[0])), hi(T(1) - static_cast<T>(prm[0])),
        keep(static_cast<T>(1.0 - prm[1])), add(static_cast<T>(prm[1] * 0.5)), logs(lo, hi) {}
  FASTLOSS_INLINE bool valid(T y, T p) const { return in_unit_interval(y) && in_unit_interval(p); }
  FASTLOSS_INLINE T value(T y, T p, T pw) const {
    const T t = y * keep + add;
    return -(pw * t * logs.log_of(p) + (T(1) - t) * logs.log1m_of(p));
  }
  // One division, N / D with N = (1 - t) q - pw t (1 - q) and D = q (1 - q), where the
  // sum of two quotients -pw t / q + (1 - t) / (1 - q) took two (a float64 division of
  // 8 lanes occupies the divider for 16 cycles on Skylake-SP and Ice Lake; value_and_grad
  // of BCE float64 at 1e7, 2 threads: see the README). For the hard targets t = 1 and
  // t = 0 the quotient is taken as -pw / q and 1 / (1 - q), the bits of the two-quotient
  // form (whose other term is an exact 0; the + 0 makes its -0 of pw = 0 a +0 as
  // there), which are also BceTarget's.
  FASTLOSS_INLINE T grad(T y, T p, T pw) const {
    const T t = y * keep + add, q = math::clamp(p, lo, hi), r = T(1) - q;
    const bool one = t == T(1), zero = t == T(0);
    const T num = one ? -pw : (zero ? T(1) : (T(1) - t) * q - pw * t * r);
    const T den = one ? q : (zero ? r : q * r);
    return outside(p, lo, hi) ? T(0) : num / den + T(0);
  }
  FASTLOSS_INLINE T hess(T y, T p, T pw) const {
    const T t = y * keep + add, q = math::clamp(p, lo, hi), r = T(1) - q;
    const T h = pw * t / (q * q) + (T(1) - t) / (r * r);
    return outside(p, lo, hi) ? T(0) : h;
  }
};

// BCE against a fixed hard target without smoothing or pos_weight (the GAN losses'
// halves): Positive, target 1: -log q; else target 0: -log1p(-q); q = clip(p, eps, 1 - eps).
// One log where BceProb takes two, with the same bits as BceProb for these targets
// (its other term is an exact 0). y_true, the constant target, is only range-checked.
// params: eps, label_smoothing (0, unused).
template <class T, bool Positive>
struct BceTargetT {
  static constexpr int cost = kTranscendental;
  static constexpr bool checks_domain = true;
  T lo, hi;
  math::ClippedLogs<T> logs;
  explicit BceTargetT(const double* prm)
      : lo(static_cast<T>(prm[0])), hi(T(1) - static_cast<T>(prm[0])), logs(lo, hi) {}
  FASTLOSS_INLINE bool valid(T y, T p) const { return in_unit_interval(y) && in_unit_interval(p); }
  FASTLOSS_INLINE T value(T, T p) const { return Positive ? -logs.log_of(p) : -logs.log1m_of(p); }
  FASTLOSS_INLINE T grad(T, T p) const {
    const T q = math::clamp(p, lo, hi);
    const T g = Positive ? -T(1) / q : T(1) / (T(1) - q);
    return outside(p, lo, hi) ? T(0) : g;
  }
  FASTLOSS_INLINE T hess(T, T p) const {
    const T q = math::clamp(p, lo, hi), r = T(1) - q;
    const T h = Positive ? T(1) / (q * q) : T(1) / (r * r);
    return outside(p, lo, hi) ? T(0) : h;
  }
};
template <class T> using BceTarget1 = BceTargetT<T, true>;
template <class T> using BceTarget0 = BceTargetT<T, false>;

// params: eps (unused), label_smoothing; aux: pos_weight. With z the logit:
// pw y softplus(-z) + (1 - y) softplus(z)  (= PyTorch's BCEWithLogits form);
// grad = (1 - y) sigmoid(z) - pw y sigmoid(-z); hess = (pw y + 1 - y) sigmoid(z) sigmoid(-z).
template <class T>
struct BceLogits {
  static constexpr int cost = kTranscendental;
  static constexpr bool uses_aux = true;
  static constexpr bool checks_domain = true;
  T keep, add;
  explicit BceLogits(const double* prm)
      : keep(static_cast<T>(1.0 - prm[1])), add(static_cast<T>(prm[1] * 0.5)) {}
  FASTLOSS_INLINE bool valid(T y, T) const { return in_unit_interval(y); }
  FASTLOSS_INLINE T value(T y, T z, T pw) const {
    const T t = y * keep + add;
    const math::Logistic<T> s(z);
    return pw * t * s.softplus_neg + (T(1) - t) * s.softplus;
  }
  FASTLOSS_INLINE T grad(T y, T z, T pw) const {
    const T t = y * keep + add;
    const math::Logistic<T> s(z);
    return (T(1) - t) * s.sigmoid - pw * t * s.sigmoid_neg;
  }
  // sigmoid(z) sigmoid(-z) = e / (1 + e)^2 with e = exp(-|z|), u = 1 + e rounded and
  // its rounding error du = e - (u - 1) (exact) taken back: 1 / (u + du)^2 ~ (1 - 2 du / u) / u^2.
  // Worst float32 error over 2e6 logits with soft labels and pos_weight 3: 6.8-7.2 -> 5.7-6.0 ulp
  // (two quotients, each of a rounded 1 + e, before), at no measurable cost. Now with
  // math::Sigmoids' one division, which the gradient shares in grad_hess (two
  // divisions before): with b = 1 / u rounded and its residual rho = 1 - u b,
  // 1 / u = b / (1 - rho) ~ b (1 + rho), so e / (u + du)^2 ~ e b^2 (1 + 2 (rho - du b)),
  // the correction added by one fma (float64, 40,000 soft-label inputs with pos_weight 3
  // in a simulation against mpmath, a review: 3.34 ulp at most with two quotients,
  // 3.87 as (e / u) b (1 - 2 du b), 2.93 so).
  FASTLOSS_INLINE T hess(T y, T z, T pw) const {
    const T t = y * keep + add;
    const T e = math::exp_neg_abs(z);
    const math::Sigmoids<T> q(e);
    const T du = e - (q.u - T(1));
    const T b = e * (q.big * q.big);
    return ((pw - T(1)) * t + T(1)) * math::mul_add(b, T(2) * (q.rho - du * q.big), b);
  }
};

// m^gamma. Square: the instantiation for the default gamma = 2 (chosen in Python),
// m * m, exactly rounded and without the vector pow (GCC 12 does not unswitch a SIMD
// loop on a run-time gamma == 2, so a test here would still evaluate the pow).
template <bool Square, class T>
FASTLOSS_INLINE T focal_power(T m, T gamma) {
  if constexpr (Square) return m * m;
  else return math::pow(m, gamma);
}

// Focal loss, as Keras's binary_focal_crossentropy: alpha_t (1 - p_t)^gamma BCE(y, p),
// p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y) (1 without alpha).
// For hard labels BCE = -log p_t: the SPEC formula. params: use_alpha, alpha, gamma, eps.
// (No bool members: a bool load in the loop stops GCC from vectorizing it.)
// Probabilities are clipped to [eps, 1 - eps] (derivatives 0 outside).
template <class T, bool Square>
struct FocalProbT {
  static constexpr int cost = kTranscendental;
  static constexpr bool checks_domain = true;
  T alpha_pos, alpha_neg, gamma, lo, hi;  // alpha_t = alpha_pos y + alpha_neg (1 - y)
  math::ClippedLogs<T> logs;
  explicit FocalProbT(const double* prm)
      : alpha_pos(static_cast<T>(prm[0] != 0.0 ? prm[1] : 1.0)),
        alpha_neg(static_cast<T>(prm[0] != 0.0 ? 1.0 - prm[1] : 1.0)), gamma(static_cast<T>(prm[2])),
        lo(static_cast<T>(prm[3])), hi(T(1) - static_cast<T>(prm[3])), logs(lo, hi) {}
  FASTLOSS_INLINE bool valid(T y, T p) const { return in_unit_interval(y) && in_unit_interval(p); }
  FASTLOSS_INLINE T alpha_t(T y) const { return alpha_pos * y + alpha_neg * (T(1) - y); }
  // With q the clipped p, m = 1 - p_t: the value and the derivatives of BCE and m^gamma.
  struct Parts {
    T q, m, mod, bce, d1, d2;
  };
  FASTLOSS_INLINE Parts parts(T y, T p) const {
    Parts r;
    r.q = math::clamp(p, lo, hi);
    r.m = y * (T(1) - r.q) + (T(1) - y) * r.q;
    r.mod = focal_power<Square>(r.m, gamma);
    r.bce = -(y * logs.log_of(p) + (T(1) - y) * logs.log1m_of(p));
    r.d1 = (r.q - y) / (r.q * (T(1) - r.q));                                                 // dBCE/dp
    r.d2 = y / (r.q * r.q) + (T(1) - y) / ((T(1) - r.q) * (T(1) - r.q));                   // d2BCE/dp2
    return r;
  }
  FASTLOSS_INLINE T value(T y, T p) const {
    const Parts r = parts(y, p);
    return alpha_t(y) * r.mod * r.bce;
  }
  // dm/dp = 1 - 2y; d(m^g)/dp = g m^(g-1) (1 - 2y), with m >= eps > 0 inside the clip range.
  FASTLOSS_INLINE T grad(T y, T p) const {
    const Parts r = parts(y, p);
    const T s = T(1) - T(2) * y;
    const T g = alpha_t(y) * (gamma * (r.mod / r.m) * s * r.bce + r.mod * r.d1);
    return outside(p, lo, hi) ? T(0) : g;
  }
  FASTLOSS_INLINE T hess(T y, T p) const {
    const Parts r = parts(y, p);
    const T s = T(1) - T(2) * y;
    const T h = alpha_t(y) * (gamma * (gamma - T(1)) * (r.mod / (r.m * r.m)) * s * s * r.bce +
                              T(2) * gamma * (r.mod / r.m) * s * r.d1 + r.mod * r.d2);
    return outside(p, lo, hi) ? T(0) : h;
  }
};

// Focal loss of a logit z, in log space: BCE = y softplus(-z) + (1 - y) softplus(z),
// m = 1 - p_t = y sigmoid(-z) + (1 - y) sigmoid(z), and
// r = sigmoid(z) sigmoid(-z) / m (1 where m underflows to 0), so that
// d(m^g)/dz = g m^g (1 - 2y) r stays finite when m underflows (hard labels, |z| ~ 1e9).
// grad = alpha_t m^g K,   K = (1 - 2y) g r BCE + dBCE/dz,   dBCE/dz = (1 - y) sig(z) - y sig(-z)
// hess = alpha_t m^g ((1 - 2y) g r K + K'),
//   K' = (1 - 2y) g (r ((sig(-z) - sig(z)) - (1 - 2y) r) BCE + r dBCE/dz) + sig(z) sig(-z).
template <class T, bool Square>
struct FocalLogitsT {
  static constexpr int cost = kTranscendental;
  static constexpr bool checks_domain = true;
  T alpha_pos, alpha_neg, gamma;
  explicit FocalLogitsT(const double* prm)
      : alpha_pos(static_cast<T>(prm[0] != 0.0 ? prm[1] : 1.0)),
        alpha_neg(static_cast<T>(prm[0] != 0.0 ? 1.0 - prm[1] : 1.0)), gamma(static_cast<T>(prm[2])) {}
  FASTLOSS_INLINE bool valid(T y, T) const { return in_unit_interval(y); }
  FASTLOSS_INLINE T alpha_t(T y) const { return alpha_pos * y + alpha_neg * (T(1) - y); }
  struct Parts {
    T sig, sig_neg, mod, bce, r, dbce;
  };
  FASTLOSS_INLINE Parts parts(T y, T z) const {
    const math::Logistic<T> s(z);
    Parts r;
    r.sig = s.sigmoid;
    r.sig_neg = s.sigmoid_neg;
    r.bce = y * s.softplus_neg + (T(1) - y) * s.softplus;
    // r = sig sig_neg / m: m = 0 only where the hard label's sigmoid underflowed
    // (y = 1, sig_neg = 0 or y = 0, sig = 0), where r is the other sigmoid, 1.
    // (Not 1 / (y / sig + (1 - y) / sig_neg): that overflows, and loses r, as soon
    // as sig_neg is below 1 / max, |z| > 88.7 in float32.)
    const T m = y * s.sigmoid_neg + (T(1) - y) * s.sigmoid;
    r.mod = focal_power<Square>(m, gamma);  // m^gamma
    r.r = m > T(0) ? (s.sigmoid * s.sigmoid_neg) / m : T(1);
    r.dbce = (T(1) - y) * s.sigmoid - y * s.sigmoid_neg;
    return r;
  }
  FASTLOSS_INLINE T value(T y, T z) const {
    const Parts r = parts(y, z);
    return alpha_t(y) * r.mod * r.bce;
  }
  FASTLOSS_INLINE T grad(T y, T z) const {
    const Parts r = parts(y, z);
    const T s = T(1) - T(2) * y;
    return alpha_t(y) * r.mod * (s * gamma * r.r * r.bce + r.dbce);
  }
  FASTLOSS_INLINE T hess(T y, T z) const {
    const Parts r = parts(y, z);
    const T s = T(1) - T(2) * y;
    const T k = s * gamma * r.r * r.bce + r.dbce;
    const T dk = s * gamma * (r.r * ((r.sig_neg - r.sig) - s * r.r) * r.bce + r.r * r.dbce) + r.sig * r.sig_neg;
    return alpha_t(y) * r.mod * (s * gamma * r.r * k + dk);
  }
};

// gamma as a parameter (pow), and gamma = 2 (a square; the kernel _core.*_gamma2).
template <class T> using FocalProb = FocalProbT<T, false>;
template <class T> using FocalProbSquare = FocalProbT<T, true>;
template <class T> using FocalLogits = FocalLogitsT<T, false>;
template <class T> using FocalLogitsSquare = FocalLogitsT<T, true>;

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
