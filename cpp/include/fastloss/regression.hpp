// Regression losses: functors of (y_true, y_pred) in the computing type T.
// d = y - p throughout; grad and hess are derivatives with respect to p.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernel_table.hpp"
#include "simd_math.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {


// d^2; exact to rounding.
template <class T>
struct Mse {
  static constexpr int cost = kCheap;
  explicit Mse(const double*) {}
  FASTLOSS_INLINE T value(T y, T p) const { const T d = y - p; return d * d; }
  FASTLOSS_INLINE T grad(T y, T p) const { return T(-2) * (y - p); }
  FASTLOSS_INLINE T hess(T, T) const { return T(2); }
};

// |d|; grad sign(p - y) (0 at d = 0, NaN for NaN); hess 0.
template <class T>
struct Mae {
  static constexpr int cost = kCheap;
  explicit Mae(const double*) {}
  FASTLOSS_INLINE T value(T y, T p) const { return math::abs(y - p); }
  FASTLOSS_INLINE T grad(T y, T p) const { return math::sign(p - y); }
  FASTLOSS_INLINE T hess(T, T) const { return T(0); }
};

// params: delta > 0. 0.5 d^2 for |d| <= delta, else delta (|d| - 0.5 delta).
template <class T>
struct Huber {
  static constexpr int cost = kCheap;
  T delta;
  explicit Huber(const double* prm) : delta(static_cast<T>(prm[0])) {}
  FASTLOSS_INLINE T value(T y, T p) const {
    const T d = y - p, a = math::abs(d);
    return a <= delta ? T(0.5) * d * d : delta * (a - T(0.5) * delta);
  }
  // -clamp(d, -delta, delta): NaN stays NaN.
  FASTLOSS_INLINE T grad(T y, T p) const { return -math::clamp(y - p, -delta, delta); }
  FASTLOSS_INLINE T hess(T y, T p) const { return math::abs(y - p) <= delta ? T(1) : T(0); }
};

// params: scale c > 0. log(1 + r^2) with r = d / c, through log1p (accurate for small r).
// grad = -2 r / (c (1 + r^2)); hess = 2 (1 - r)(1 + r) / (c^2 (1 + r^2)^2), written with
// q = 1 / (1 + r^2) so that nothing overflows before it is divided; once r^2
// overflows, grad is -2 / (c r) and hess its limit 0 (|hess| < 2 / (c^2 max) there).
//
// The argument of log1p is where the value's error comes from: d = y - p, d / c and
// r * r round three times, and log1p(x) ~ x passes that relative error on whole, so
// the value was off by up to 4.1 ulp (scale 3; the bound is 4). Hence r^2 is formed
// to within about half an ulp (where it is a normal number) before log1p: float
// with the rounding error of the difference (two-sum) carried through an fma for
// power-of-two scales (ratio2_float), else from float64 arithmetic (float32
// differences and their squares are exact or nearly so there); double with the
// rounding errors of the difference (two-sum) and of the square (fma or Dekker's
// product) carried along, and 1 / c^2 kept as a double-double. For float the
// Hessian is float64 arithmetic rounded once (its nine roundings in float reached
// 6.2 ulp). Measured on 200,000 random and adversarial inputs against mpmath
// (tests/test_accuracy.py, -m slow).
//
// Pow2Scale: the instantiation for scales that are powers of two in [2^-126, 2^126]
// (the default 1; chosen in Python: there 1 / c is a normal float too), where
// d / c = d * (1 / c) is exact and so is r^2's double-double divided by c^2: four
// operations fewer per element than the double-double 1 / c^2 of other scales
// (float64 at 1e6 on one thread: 1.57 -> 1.37 ms). In float64 the same bits, except
// where r^2 is subnormal (|d| < 2^-511 c), where this keeps bits that the general
// path's r^2 / 4 * 4 loses; the float value differs in its r^2 (ratio2_float).
template <class T, bool Pow2Scale>
struct CauchyWide;

template <class T, bool Pow2Scale>
struct CauchyT {
  static constexpr int cost = kTranscendental;
  T c, two_over_c, two_over_c2, inv_c_t;
  double pow2, inv_c2_hi, inv_c2_lo, c_d, two_over_c2_d, inv_c;
  explicit CauchyT(const double* prm)
      : c(static_cast<T>(prm[0])),
        two_over_c(static_cast<T>(2.0 / prm[0])),
        two_over_c2(static_cast<T>(2.0 / (prm[0] * prm[0]))),
        inv_c_t(static_cast<T>(1.0 / prm[0])),
        c_d(prm[0]),
        two_over_c2_d(2.0 / (prm[0] * prm[0])),
        inv_c(1.0 / prm[0]) {
    // c = m 2^k with m in [0.5, 1): r = (d 2^-k) / m, and d 2^-k is exact, so that
    // no scale makes 1 / c^2 over- or underflow. 1 / m^2 = inv_c2_hi + inv_c2_lo to
    // about 2^-104: m^2 = s + e exactly, 1 / (s + e) = (1 / s)(1 - e / s) + O(2^-106),
    // and the residual 1 - h s of h = 1 / s is exact.
    int k = 0;
    const double m = __builtin_frexp(prm[0], &k);
    pow2 = __builtin_ldexp(1.0, -k);
    double s, e, hs, hs_lo;
    math::exact_product(m, m, s, e);
    const double h = 1.0 / s;
    math::exact_product(h, s, hs, hs_lo);
    const double r = (1.0 - hs) - hs_lo;
    inv_c2_hi = h;
    inv_c2_lo = h * (r - e * h);
  }
  // (d / c)^2 in float64, for float inputs.
  FASTLOSS_INLINE double ratio2_wide(T y, T p) const {
    const double d = (double(y) - double(p)) * pow2;
    return d * d * inv_c2_hi;
  }
  // (d / c)^2 rounded to float, the argument of the float value's log1p. Power-of-two
  // scales, where the ISA has an fma: in float arithmetic, 16 lanes to a vector, from
  // the two-sum y - p = s + e, as fma(s', s', 2 s' e') of s' = s / c, e' = e / c
  // (exact, 1 / c being a normal float): as accurate as the float64 route (1.71 ulp
  // for the value in a test of 4e7 random pairs, both; where r^2 is near float's
  // underflow, 2 s' e' loses bits, up to 1.5 ulp of r^2), and a third less time with
  // log1p_nonneg. Where y - p overflows float, or the two-sum does, or 2 s' e' does
  // (|r| >= 2^76), the result is NaN or inf and so is the value: that block is
  // refined (CauchyWide). Without an fma (the baseline kernels) the square would
  // round twice (2.2 ulp for the value), and other scales' r / c is not exact: there
  // float64, rounded once.
  FASTLOSS_INLINE float ratio2_float(T y, T p) const {
#if defined(__FMA__)
    constexpr bool in_float = Pow2Scale;
#else
    constexpr bool in_float = false;
#endif
    if constexpr (in_float) {
      const float s = y - p, b = s - y, e = (y - (s - b)) + (-p - b);
      const float sc = s * inv_c_t, ec = e * inv_c_t;
      return math::mul_add(sc, sc, (sc * ec) * 2.0f);
    } else {
      return static_cast<float>(ratio2_wide(y, p));
    }
  }
  // (d / c)^2 for the float64 value.
  FASTLOSS_INLINE T ratio2(T y, T p) const {
    const double s0 = y - p;  // two-sum: y - p = s0 + e0 exactly
    const double b = s0 - y;
    const double e0 = (y - (s0 - b)) + (-p - b);
    if constexpr (Pow2Scale) {
      const double s = s0 * inv_c, e = e0 * inv_c;  // r = s + e
      double hi, lo;
      math::exact_product(s, s, hi, lo);
      lo += 2.0 * s * e;
      return hi + (hi < __builtin_inf() ? lo : 0.0);  // as below where r^2 overflows
    }
    const double s = s0 * pow2, e = e0 * pow2;
    double hi, lo, m, m_lo;
    math::exact_product(s, s, hi, lo);
    lo += 2.0 * s * e;
    math::exact_product(hi, inv_c2_hi, m, m_lo);
    double fix = m_lo + (lo * inv_c2_hi + hi * inv_c2_lo);
    // hi = inf (|r| > 1.3e154): the corrections are NaN; the result is inf.
    fix = m < __builtin_inf() ? fix : 0.0;
    return m + fix;
  }
  // float64: r^2 overflows to inf (and so does the value, as NumPy's) only for |r|
  // above 1.3e154. Guarding that costs GCC a second vector log1p per element (it
  // splits log1p(select) into two calls): not paid.
  // float32: r^2 overflows float for |r| above 1.8e19, where log1p(r^2) is 88.7 to
  // 709.8, finite (up to |r| = 1.3e154). The value is then inf (or NaN, where y - p
  // overflows), and the loop computes the block again with Refined (below), which
  // scales r^2 in float64 first. Scaling every element measured 1.45x the time of
  // cauchy float32.
  using Refined = std::conditional_t<sizeof(T) == 4, CauchyWide<T, Pow2Scale>, void>;
  FASTLOSS_INLINE T value(T y, T p) const {
    if constexpr (sizeof(T) == 4) return math::log1p_nonneg(ratio2_float(y, p));
    else return math::log1p(ratio2(y, p));
  }
  // Once r^2 overflows, r / (1 + r^2) is 1 / r to within rounding (and 0 when y - p
  // itself overflows to inf, where r / (1 + r^2) would be inf / inf = NaN).
  FASTLOSS_INLINE T grad(T y, T p) const {
    const T r = (y - p) / c;
    const T r2 = r * r;
    return -two_over_c * (__builtin_isinf(r2) ? T(1) / r : r / (T(1) + r2));
  }
  FASTLOSS_INLINE T hess(T y, T p) const {
    if constexpr (sizeof(T) == 4) {
      // float64 neither overflows nor loses the cancellation in 1 - r for float data
      const double r = (double(y) - double(p)) / c_d;
      const double q = 1.0 / (1.0 + r * r);
      const double h = two_over_c2_d * (((1.0 - r) * (1.0 + r)) * q) * q;
      return __builtin_isinf(r) ? T(0) : static_cast<T>(h);  // y - p = inf: the limit 0
    } else {
      const T r = (y - p) / c;
      const T r2 = r * r;
      const T q = T(1) / (T(1) + r2);
      const T h = two_over_c2 * (((T(1) - r) * (T(1) + r)) * q) * q;
      return __builtin_isinf(r2) ? T(0) : h;
    }
  }
};

// cauchy's float32 value where r^2 is past float32's range: there r^2 in float64, t,
// is taken to [2^100, 2^101) by setting its exponent bits, 2^-s t, and s ln 2 is
// added back in float64: log1p(t) = log1p(2^-s t) + s ln 2 to within 2^-100 there.
// (Where r^2 is inf in float64, so is the value, as in float64.) Where only y - p
// overflowed float (the unrefined argument is NaN; a scale above 1 can make r^2
// small): log1p(float(t)). Only bit operations, double compares and selects: no
// 64-bit integer compare or conversion, which SSE2 and AVX2 lack, so that GCC
// vectorizes it on every ISA.
template <class T, bool Pow2Scale>
struct CauchyWide : CauchyT<T, Pow2Scale> {
  using Refined = void;
  explicit CauchyWide(const CauchyT<T, Pow2Scale>& f) : CauchyT<T, Pow2Scale>(f) {}
  FASTLOSS_INLINE T value(T y, T p) const {
    const double t = this->ratio2_wide(y, p);
    const float x = this->ratio2_float(y, p);
    const std::uint64_t b = math::bit_cast<std::uint64_t>(t);
    const double e = math::bit_cast<double>((b >> 52) | 0x4330000000000000ull) - 0x1p52;  // the biased exponent
    // only where the float32 r^2 overflows (t >= FLT_MAX + half an ulp): every
    // element with a finite x takes the unrefined path's log1p(x) and keeps its bits
    const bool big = t >= 0x1.ffffffp127;
    const double scaled = math::bit_cast<double>((b & 0x000fffffffffffffull) | (std::uint64_t{1123} << 52));
    const float arg = big ? static_cast<float>(scaled) : (x < __builtin_inff() ? x : static_cast<float>(t));
    const float l = math::log1p_nonneg(arg);
    const double v = static_cast<double>(l) + (big ? e - 1123.0 : 0.0) * 0.6931471805599453;
    return t <= 0x1.fffffffffffffp1023 ? static_cast<float>(v) : static_cast<float>(t);  // inf, NaN
  }
};

template <class T> using Cauchy = CauchyT<T, false>;
template <class T> using CauchyPow2 = CauchyT<T, true>;

// The hinge of the triplet loss on precomputed distances, with y = d_neg and
// p = d_pos: max(d_pos - d_neg + margin, 0); its derivative with respect to d_pos
// is 1 where the hinge is active (and that with respect to d_neg its negative).
template <class T>
struct TripletMargin {
  static constexpr int cost = kCheap;
  T margin;
  explicit TripletMargin(const double* prm) : margin(static_cast<T>(prm[0])) {}
  FASTLOSS_INLINE T value(T y, T p) const {
    const T h = p - y + margin;
    return h > T(0) ? h : (h == h ? T(0) : h);  // NaN propagates
  }
  FASTLOSS_INLINE T grad(T y, T p) const {
    const T h = p - y + margin;
    return h > T(0) ? T(1) : (h == h ? T(0) : h);
  }
  FASTLOSS_INLINE T hess(T, T) const { return T(0); }
};

// Not a loss: y + p, the least work a kernel can do on the two inputs. Its speed
// is the memory-bandwidth limit the memory-bound losses are measured against.
template <class T>
struct BandwidthProbe {
  static constexpr int cost = kCheap;
  explicit BandwidthProbe(const double*) {}
  FASTLOSS_INLINE T value(T y, T p) const { return y + p; }
  FASTLOSS_INLINE T grad(T, T) const { return T(0); }
  FASTLOSS_INLINE T hess(T, T) const { return T(0); }
};

// The same for three inputs (the triplet loss's anchor, positive, negative): y + p + a.
template <class T>
struct BandwidthProbe3 {
  static constexpr int cost = kCheap;
  static constexpr bool uses_aux = true;
  explicit BandwidthProbe3(const double*) {}
  FASTLOSS_INLINE T value(T y, T p, T a) const { return y + p + a; }
  FASTLOSS_INLINE T grad(T, T, T) const { return T(0); }
  FASTLOSS_INLINE T hess(T, T, T) const { return T(0); }
};

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
