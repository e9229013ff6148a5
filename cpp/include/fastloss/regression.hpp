// Regression losses: functors of (y_true, y_pred) in the computing type T.
// d = y - p throughout; grad and hess are derivatives with respect to p.
#pragma once
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
template <class T>
struct Cauchy {
  static constexpr int cost = kTranscendental;
  T c, two_over_c, two_over_c2;
  explicit Cauchy(const double* prm)
      : c(static_cast<T>(prm[0])),
        two_over_c(static_cast<T>(2.0 / prm[0])),
        two_over_c2(static_cast<T>(2.0 / (prm[0] * prm[0]))) {}
  // r^2 overflows to inf (and so does the value, as NumPy's) only for |r| above
  // 1.3e154 (float64) or 1.8e19 (float32). Guarding that costs GCC a second
  // vector log1p per element (it splits log1p(select) into two calls): not paid.
  FASTLOSS_INLINE T value(T y, T p) const {
    const T r = (y - p) / c;
    return math::log1p(r * r);
  }
  // Once r^2 overflows, r / (1 + r^2) is 1 / r to within rounding (and 0 when y - p
  // itself overflows to inf, where r / (1 + r^2) would be inf / inf = NaN).
  FASTLOSS_INLINE T grad(T y, T p) const {
    const T r = (y - p) / c;
    const T r2 = r * r;
    return -two_over_c * (__builtin_isinf(r2) ? T(1) / r : r / (T(1) + r2));
  }
  FASTLOSS_INLINE T hess(T y, T p) const {
    const T r = (y - p) / c;
    const T r2 = r * r;
    const T q = T(1) / (T(1) + r2);
    const T h = two_over_c2 * (((T(1) - r) * (T(1) + r)) * q) * q;
    return __builtin_isinf(r2) ? T(0) : h;
  }
};

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
