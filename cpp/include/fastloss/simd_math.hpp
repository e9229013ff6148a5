// Vector versions of libm functions without -ffast-math.
//
// GCC turns a call inside an `omp simd` loop into a call to glibc's libmvec
// (_ZGVbN2v_log1p, _ZGVdN4v_log1p, _ZGVeN8v_log1p, ...) only when the function
// carries a `declare simd` declaration. glibc's <math.h> provides one only under
// -ffast-math, which would break NaN/inf handling and change the FPU mode of the
// whole process. Redeclaring the functions here gives the vector calls without it.
// libmvec documents at most 4 ulp for these functions over their whole domain.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "config.hpp"

extern "C" {
#pragma omp declare simd notinbranch
double log(double) noexcept;
#pragma omp declare simd notinbranch
float logf(float) noexcept;
#pragma omp declare simd notinbranch
double exp(double) noexcept;
#pragma omp declare simd notinbranch
float expf(float) noexcept;
#pragma omp declare simd notinbranch
double log1p(double) noexcept;
#pragma omp declare simd notinbranch
float log1pf(float) noexcept;
#pragma omp declare simd notinbranch
double expm1(double) noexcept;
#pragma omp declare simd notinbranch
float expm1f(float) noexcept;
#pragma omp declare simd notinbranch
double tanh(double) noexcept;
#pragma omp declare simd notinbranch
float tanhf(float) noexcept;
#pragma omp declare simd notinbranch
double pow(double, double) noexcept;
#pragma omp declare simd notinbranch
float powf(float, float) noexcept;
}

namespace fastloss::FASTLOSS_ISA::math {

// Overloads on the element type, so that functors are written once for float and double.
FASTLOSS_INLINE double log(double x) { return ::log(x); }
FASTLOSS_INLINE float log(float x) { return ::logf(x); }
FASTLOSS_INLINE double exp(double x) { return ::exp(x); }
FASTLOSS_INLINE float exp(float x) { return ::expf(x); }
FASTLOSS_INLINE double log1p(double x) { return ::log1p(x); }
FASTLOSS_INLINE float log1p(float x) { return ::log1pf(x); }
FASTLOSS_INLINE double expm1(double x) { return ::expm1(x); }
FASTLOSS_INLINE float expm1(float x) { return ::expm1f(x); }
FASTLOSS_INLINE double tanh(double x) { return ::tanh(x); }
FASTLOSS_INLINE float tanh(float x) { return ::tanhf(x); }
FASTLOSS_INLINE double sqrt(double x) { return __builtin_sqrt(x); }
FASTLOSS_INLINE float sqrt(float x) { return __builtin_sqrtf(x); }
FASTLOSS_INLINE double pow(double x, double y) { return ::pow(x, y); }
FASTLOSS_INLINE float pow(float x, float y) { return ::powf(x, y); }

template <class T>
FASTLOSS_INLINE T abs(T x) { return __builtin_fabs(x); }
FASTLOSS_INLINE float abs(float x) { return __builtin_fabsf(x); }

// clamp(x, lo, hi) that returns NaN for NaN x (std::clamp would not say).
template <class T>
FASTLOSS_INLINE T clamp(T x, T lo, T hi) { return x < lo ? lo : (x > hi ? hi : x); }

// sign of x as -1, 0, +1, NaN for NaN (as np.sign).
template <class T>
FASTLOSS_INLINE T sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x - x); }

template <class T>
FASTLOSS_INLINE T max0(T x) { return x > T(0) ? x : T(0); }

// a * b + c, fused where the instruction set has an fma (one rounding), else two roundings.
FASTLOSS_INLINE double mul_add(double a, double b, double c) {
#if defined(__FMA__)
  return __builtin_fma(a, b, c);
#else
  return a * b + c;
#endif
}

FASTLOSS_INLINE float mul_add(float a, float b, float c) {
#if defined(__FMA__)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

// The bits of a float as an integer of its size, and back (a memcpy left some loops
// scalar in GCC 12; it stays the fallback for compilers without __builtin_bit_cast).
template <class To, class From>
FASTLOSS_INLINE To bit_cast(From x) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast between types of one size");
#if defined(__has_builtin)  // (nested: a preprocessor without it cannot parse the call)
#if __has_builtin(__builtin_bit_cast)
#define FASTLOSS_HAS_BIT_CAST 1
#endif
#endif
#if defined(FASTLOSS_HAS_BIT_CAST)
  return __builtin_bit_cast(To, x);
#else
  To out;
  __builtin_memcpy(&out, &x, sizeof(To));
  return out;
#endif
}

// e^x for x <= 0 (the exp(z_c - max) and exp(-|z|) of the losses of logits); NaN
// gives NaN, -inf 0; for x > 0 the result is unspecified (wrong above ~44, even
// negative): not a general exp. float: inline, in float arithmetic: k = round(x / ln 2) by the
// 1.5 * 2^23 shifter, r = x - k ln 2 (Cody-Waite: ln 2 in two parts, the first with 16
// bits so that k ln2_hi is exact), e^r = 1 + r + r^2/2 + r^3 P(r) with P the degree-4
// Chebyshev fit of (e^r - 1 - r - r^2/2) / r^3 on [-ln2/2, ln2/2] (mpmath chebyfit,
// 8.1e-9), then 2^k in two exact steps, 2^(k+64) and 2^-64, so that a subnormal
// result is rounded once. 0.976 ulp at most over every float <= 0 against float64
// exp (0.947 without fma), where libmvec's expf is 2.64 ulp off (AVX-512; 2.93 SSE).
// Inline, it needs no call: libmvec's vector expf clobbers every vector register,
// so that a loop's accumulators were spilled and reloaded around each call.
FASTLOSS_INLINE float exp_nonpos(float x) {
  const float shifter = 12582912.0f;  // 1.5 * 2^23: t's last bits hold round(x / ln 2)
  const float t = mul_add(x, 1.44269502f, shifter);
  const float kf = t - shifter;
  float r = mul_add(kf, -0.693145751953125f, x);
  r = mul_add(kf, -1.42860677e-06f, r);
  float u = mul_add(r, 0.00019882698f, 0.0013926184f);
  u = mul_add(u, r, 0.008333321f);
  u = mul_add(u, r, 0.041666556f);
  u = mul_add(u, r, 0.16666667f);
  u = mul_add(u, r, 0.5f);
  u = mul_add(r * r, u, r) + 1.0f;
  // 2^(k + 64): normal for k >= -190
  const float s1 = bit_cast<float>((bit_cast<std::uint32_t>(t) - 0x4b400000u + 191u) << 23);
  const float y = (u * s1) * 5.42101086e-20f;  // * 2^-64
  const float z = x >= -104.0f ? y : 0.0f;  // e^-104 < 2^-150 rounds to 0
  return x == x ? z : x;
}
// double: the same steps in double arithmetic, P of degree 8 (mpmath chebyfit of
// (e^r - 1 - r - r^2/2) / r^3 on [-ln2/2, ln2/2]; relative error of e^r 3.3e-17 with the
// coefficients rounded to double),
// ln 2 in fdlibm's two parts (the first with 32 bits). Inline because libmvec's vector
// exp hands every lane below -708.4 (a result below 2^-1022), and -inf, to the scalar
// exp: masked logits (-inf) made the float64 losses of logits 3x-5x slower (CCE from
// logits, C = 10, half of them -inf, 1e6 elements: 10.7 ms against 3.5; -800: 14.0).
// In a summing loop in cache (AVX-512): 1.08 ns per element against libmvec's 0.95 on
// [-20, 0], 1.04 against 8.9 with half of them -inf. The row-wise losses take it;
// the logistic ones take exp_neg_abs below.
FASTLOSS_INLINE double exp_nonpos(double x) {
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: t's last bits hold round(x / ln 2)
  const double t = mul_add(x, 1.4426950408889634, shifter);
  const double kf = t - shifter;
  double r = mul_add(kf, -6.93147180369123816490e-01, x);
  r = mul_add(kf, -1.90821492927058770002e-10, r);
  double u = mul_add(r, 2.509554598170022e-08, 2.761379555451986e-07);
  u = mul_add(u, r, 2.7557280082684685e-06);
  u = mul_add(u, r, 2.4801536409064087e-05);
  u = mul_add(u, r, 0.0001984126985433077);
  u = mul_add(u, r, 0.0013888888905871347);
  u = mul_add(u, r, 0.008333333333332157);
  u = mul_add(u, r, 0.041666666666651364);
  u = mul_add(u, r, 0.16666666666666666);
  u = mul_add(u, r, 0.5);
  u = mul_add(r * r, u, r) + 1.0;
  // 2^(k + 64): normal for k >= -1086
  const double s1 = bit_cast<double>((bit_cast<std::uint64_t>(t) - 0x4338000000000000ull + 1087ull) << 52);
  const double y = (u * s1) * 5.42101086242752217e-20;  // * 2^-64
  const double z = x >= -746.0 ? y : 0.0;  // e^-746 < 2^-1075 rounds to 0
  return x == x ? z : x;
}

// e^-|z| of a logit z (the logistic losses: BCE, focal and the GAN losses from logits).
// float: exp_nonpos. double: libmvec's exp, whose scalar fallback takes only logits
// beyond +-708.4 here (masked classes, -inf, are a row-wise matter). At 1e6, one and
// two threads, both builds in one process: BCE, focal and the GAN discriminator from
// logits took 0.92x-0.94x the time with libmvec's exp that they took with the inline
// one; the row-wise losses took 0.95x-1.14x with it (2.6x-4.5x with half the logits -inf).
FASTLOSS_INLINE float exp_neg_abs(float z) { return exp_nonpos(-abs(z)); }
FASTLOSS_INLINE double exp_neg_abs(double z) { return exp(-abs(z)); }

// log1p(x) for x in [0, 1] (the e^-|z| of the logistic functions below). float:
// inline, in float arithmetic, 16 lanes to an AVX-512 vector. Below 1/2, f = x and
// log1p(x) = f + f^2 Q(f); from 1/2, log1p(x) = ln 2 + log1p(f) with f = (x - 1) / 2 in
// [-1/4, 0] (exact: x - 1 by Sterbenz), ln 2 in two parts, the first with 16 bits and
// added to f with its rounding error taken back (Fast2Sum). Q is the degree-8 Chebyshev
// fit of (log1p(f) - f) / f^2 on [-1/4, 1/2] (mpmath chebyfit, coefficients rounded to
// float; relative error of f + f^2 Q(f) against log1p 1.1e-8, 0.19 ulp). 0.989 ulp at
// most over every float in [0, 1] with an fma, 1.033 without (against float64 log1p),
// where libmvec's log1pf is 1.96 ulp off. It was 2 atanh(s),
// s = x / (2 + x), in float64 (0.504 ulp): the two float64 divisions per 16 floats
// made the float32 losses of logits 1.2x-1.3x slower on the Intel machine (the softplus
// loop, one thread, in cache: 0.92 against 0.73 ns per element). NaN gives NaN.
// double: libmvec's log1p.
FASTLOSS_INLINE float log1p_unit(float x) {
  const bool hi = x >= 0.5f;
  const float f = hi ? mul_add(x, 0.5f, -0.5f) : x;
  float q = mul_add(f, -0.047382425516843796f, 0.10625629127025604f);
  q = mul_add(q, f, -0.13122877478599548f);
  q = mul_add(q, f, 0.14438456296920776f);
  q = mul_add(q, f, -0.16647644340991974f);
  q = mul_add(q, f, 0.1999359279870987f);
  q = mul_add(q, f, -0.25000154972076416f);
  q = mul_add(q, f, 0.33333396911621094f);
  q = mul_add(q, f, -0.5f);
  const float ln2_hi = hi ? 0.693145751953125f : 0.0f;
  const float ln2_lo = hi ? 1.42860677e-06f : 0.0f;
  const float s = ln2_hi + f;
  const float s_err = f - (s - ln2_hi);
  const float lo = mul_add(f * f, q, ln2_lo) + s_err;
  return s + lo;
}
FASTLOSS_INLINE double log1p_unit(double x) { return log1p(x); }

// log1p(x) for x >= 0 (cauchy's r^2); +inf gives +inf, NaN NaN. float: inline, in
// float arithmetic, 16 lanes to a vector (a float64 version does the work twice:
// with 8 lanes it was no faster than libmvec's log1pf). u = 1 + x rounded, and its
// error c = x - (u - 1), exact while u < 2^24 (Sterbenz) and negligible beyond;
// u = 2^k m with m in [sqrt(1/2), sqrt(2)) from the bits of u; then
// log1p(x) = k ln 2 + log1p(f) + c / u, f = m - 1 exact, with c / u = c 2^-k / (1 + f)
// taken as c 2^-k (1 - f) (off by c f^2, at most about 0.25 ulp) and
// log1p(f) = f + f^2 (f P(f) - 1/2), P the degree-8 Chebyshev fit of
// (log1p(f) - f + f^2/2) / f^3 on [sqrt(1/2) - 1, sqrt(2) - 1] (mpmath chebyfit;
// relative error of the sum 3.2e-9, 0.05 ulp); ln 2 in two parts, the first with 16
// bits so that k ln2_hi is exact. 1.062 ulp at most over every float >= 0 (fma; 1.173
// without; against float64 log1p), where libmvec's log1pf is 1.95 ulp off. Only 32-bit
// integer operations that SSE2 has. In cauchy float32's summing loop (AVX-512, one
// thread, in cache) with the two-sum r^2 below: 0.69-0.74 ns per element against
// libmvec's with r^2 in float64, 1.02-1.10. double: libmvec's log1p.
FASTLOSS_INLINE float log1p_nonneg(float x) {
  const float u = 1.0f + x;
  const float c = x - (u - 1.0f);
  const std::int32_t ix = bit_cast<std::int32_t>(u) - 0x3f3504f3;  // bits of sqrt(1/2)
  const float k = static_cast<float>(ix >> 23);
  const float f = bit_cast<float>((ix & 0x007fffff) + 0x3f3504f3) - 1.0f;
  // 2^-k for k <= 126; 0 for k = 127 and 1 for k = 128 (u >= 2^126 sqrt(2): c is 0 there)
  const float scale = bit_cast<float>(0x3f800000 - (ix & 0x3f800000));
  const float cs = c * scale;
  const float cc = mul_add(-cs, f, cs);
  const float f2 = f * f;
  float q = mul_add(f, 6.971611471e-02f, -1.147973385e-01f);
  q = mul_add(q, f, 1.168541992e-01f);
  q = mul_add(q, f, -1.242568733e-01f);
  q = mul_add(q, f, 1.424905765e-01f);
  q = mul_add(q, f, -1.666780232e-01f);
  q = mul_add(q, f, 2.000071575e-01f);
  q = mul_add(q, f, -2.499999696e-01f);
  q = mul_add(q, f, 3.333333118e-01f);
  q = mul_add(q, f, -0.5f);
  float lo = mul_add(f2, q, cc);
  lo = mul_add(k, 1.42860677e-06f, lo);  // (ln 2 in one float for k ln 2 biased sums by 2e-9)
  const float r = mul_add(k, 0.693145751953125f, f + lo);
  return x < __builtin_inff() ? r : x;  // +inf (c is NaN there); NaN stays NaN throughout
}
FASTLOSS_INLINE double log1p_nonneg(double x) { return log1p(x); }

// sigmoid(|z|) = 1 / (1 + e) and sigmoid(-|z|) = e / (1 + e) of e = exp(-|z|) in [0, 1]
// (NaN: NaN), with one division: big = 1 / u, u = 1 + e rounded, and e / u as
// e big (1 + rho), rho = 1 - u big the division's residual (exact with an fma), so
// that it is rounded once like the quotient (without an fma rho is rounded: about one
// rounding more). Over every float e in [0, 1], small is 1.493 ulp off e / (1 + e) at
// most with an fma (the quotient's own figure: u is rounded), 1.975 without
// (tests/cpp/inline_math.cpp, "sigmoid_small"). A division keeps the divider busy
// for 16 cycles per 8 float64 lanes (10 per 16 float32 lanes) on the Intel Xeon, and
// the gradients and Hessians of the logistic losses were waiting for it: two per
// gradient, four per grad_hess of BCE from logits (its Hessian takes u, big and rho
// from here, and the compiler shares them with the gradient's).
template <class T>
struct Sigmoids {
  T u, big, small, rho;
  FASTLOSS_INLINE explicit Sigmoids(T e) {
    u = T(1) + e;
    big = T(1) / u;
    rho = mul_add(-u, big, T(1));
    small = mul_add(e, big, (e * rho) * big);
  }
};

// The pieces of the stable logistic functions of z, from one exp and one log1p:
// softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|), softplus(-z), sigmoid(z),
// sigmoid(-z). Finite for every finite z (no exp of a positive number). The sigmoids
// take one division (Sigmoids below).
template <class T>
struct Logistic {
  T softplus, softplus_neg, sigmoid, sigmoid_neg;
  FASTLOSS_INLINE explicit Logistic(T z) {
    const T e = exp_neg_abs(z);
    const T l = log1p_unit(e);
    softplus = max0(z) + l;
    softplus_neg = max0(-z) + l;
    const Sigmoids<T> q(e);
    sigmoid = z >= T(0) ? q.big : q.small;
    sigmoid_neg = z >= T(0) ? q.small : q.big;
  }
};

// log(x) and log1p(-x) of x clipped to [lo, hi] (the clipped probabilities of the
// cross-entropies), NaN for NaN. The logs of the bounds are taken once, here, and
// the vector log takes x itself: written as log(clamp(x, lo, hi)), GCC's partial
// redundancy elimination turns log(phi(lo, hi, x)) into phi(log lo, log hi, log x)
// and calls the vector log on the broadcast bounds inside the loop, two or three
// calls per element where one is needed (BCE's value_and_grad took 2.1x its value).
// The log takes x + tiny (below half an ulp of any x in the clip range: x itself
// there): libmvec's vector log hands every lane with a special argument (0, a
// subnormal, a negative, inf, NaN) to the scalar log, about 20x the cost of the lane,
// so that probabilities of exactly 0 (hard predictions, one-hot rows) made BCE and
// CCE 2.5x-3.3x slower; x + tiny is a normal number for those. (A select such as
// x < lo ? c : x in the argument became a conditional call, which GCC 12 did not
// vectorize; so did an integer max of the bits, in some loops.) log1p(-x) takes
// min(x, hi) for the same reason (x = 1 is log1p(-1)), formed with abs. tiny is 0 for
// a lo below 2^-962 (an eps no one passes).
template <class T>
struct ClippedLogs {
  T lo, hi, log_lo, log_hi, log1m_lo, log1m_hi, tiny;
  ClippedLogs(T lo_, T hi_)
      : lo(lo_), hi(hi_), log_lo(log(lo_)), log_hi(log(hi_)), log1m_lo(log1p(-lo_)), log1m_hi(log1p(-hi_)),
        tiny(lo_ >= std::numeric_limits<T>::min() * T(1ull << 60) ? std::numeric_limits<T>::min() : T(0)) {}
  FASTLOSS_INLINE T log_of(T x) const {
    const T l = log(x + tiny);
    return x < lo ? log_lo : (x > hi ? log_hi : l);
  }
  FASTLOSS_INLINE T log1m_of(T x) const {
    // min(x, hi) without a select: d + |d| is 0 for d = x - hi <= 0 (so u is x), 2 d above.
    // The bounds' logs are read up front: read in the select's arms, GCC 12 made them
    // masked loads it could not vectorize, and BCE's target-0 kernel (the GAN
    // discriminator's fake half) took the scalar log1p for a sum (not for log_of,
    // where the same copies did it for BCE's and focal's sums).
    const T c_lo = log1m_lo, c_hi = log1m_hi, d = x - hi, u = x - (d + abs(d)) * T(0.5);
    const T l = log1p(-u);
    return x < lo ? c_lo : (x > hi ? c_hi : l);
  }
};

// a * b as hi + lo exactly (unless it over- or underflows): one fma where the
// instruction set has it, else Dekker's product with Veltkamp's split (2^27 + 1).
// Dekker's split (|a| or |b| above 2^996) or its partial product ah * bh can
// overflow where a * b itself does not: wherever lo is not finite it is taken as 0
// (hi is then off by at most half an ulp) instead of inf or NaN. (The baseline
// kernels gave cauchy inf, or NaN, for |y - p| / scale near 1.34e154, where r^2 is
// still finite.)
FASTLOSS_INLINE void exact_product(double a, double b, double& hi, double& lo) {
  hi = a * b;
#if defined(__FMA__)
  lo = __builtin_fma(a, b, -hi);
#else
  const double ca = 134217729.0 * a, cb = 134217729.0 * b;
  const double ah = ca - (ca - a), al = a - ah, bh = cb - (cb - b), bl = b - bh;
  lo = ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
  lo = (lo - lo == 0.0) ? lo : 0.0;  // finite
#endif
}

}  // namespace fastloss::FASTLOSS_ISA::math
