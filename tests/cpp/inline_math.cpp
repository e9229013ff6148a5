// Exhaustive accuracy of fastloss's inline float math (cpp/include/fastloss/simd_math.hpp)
// against float64 glibc, in ulp of the float result (the smallest subnormal below
// 2^-126): math::exp_nonpos over every float <= 0 (with -inf, -0 and NaN) and
// math::log1p_unit over every float in [0, 1], math::log1p_nonneg over every float
// in [0, inf] and the e / (1 + e) of math::Sigmoids over every float e in [0, 1] (with
// an argument k: every k-th float of those, and the ends), and the
// double math::exp_nonpos at 2^26 / k pseudo-random arguments in [-746, 0] against the
// x87's long double expl, in ulp of the double result. Built and
// run by tests/test_inline_math.py; prints "<name> <worst ulp> <at>" for each, and
// "special <name>" for each wrong special value.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fastloss/simd_math.hpp"

namespace m = fastloss::FASTLOSS_ISA::math;

// the loops the kernels have: `omp simd` over contiguous floats
__attribute__((noinline)) void run_exp(const float* __restrict x, float* __restrict y, long n) {
#pragma omp simd
  for (long i = 0; i < n; ++i) y[i] = m::exp_nonpos(x[i]);
}
__attribute__((noinline)) void run_log1p(const float* __restrict x, float* __restrict y, long n) {
#pragma omp simd
  for (long i = 0; i < n; ++i) y[i] = m::log1p_unit(x[i]);
}
__attribute__((noinline)) void run_log1p_nonneg(const float* __restrict x, float* __restrict y, long n) {
#pragma omp simd
  for (long i = 0; i < n; ++i) y[i] = m::log1p_nonneg(x[i]);
}

__attribute__((noinline)) void run_sigmoid_small(const float* __restrict x, float* __restrict y, long n) {
#pragma omp simd
  for (long i = 0; i < n; ++i) y[i] = m::Sigmoids<float>(x[i]).small;
}

__attribute__((noinline)) void run_exp_double(const double* __restrict x, double* __restrict y, long n) {
#pragma omp simd
  for (long i = 0; i < n; ++i) y[i] = m::exp_nonpos(x[i]);
}

static double (*volatile ref_exp)(double) = ::exp;  // volatile: glibc's scalar double functions
static long double (*volatile ref_expl)(long double) = ::expl;  // x87: 11 bits more than double
static double (*volatile ref_log1p)(double) = ::log1p;
static double ref_sigmoid_small(double e) { return e / (1.0 + e); }  // e / (1 + e) of a float e: 2^-53 relative

static double ulp_error(float got, double exact) {
  if (got != got || exact != exact) return (got != got) == (exact != exact) ? 0.0 : 1e30;
  int e;
  std::frexp(exact, &e);  // exact = f 2^e, f in [0.5, 1): float ulp 2^(e - 24), at least 2^-149
  const double ulp = std::ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
  return exact == 0.0 ? (got == 0.0f ? 0.0 : std::fabs(got) / std::ldexp(1.0, -149)) : std::fabs(got - exact) / ulp;
}

// in ulp of the double result (the smallest subnormal below 2^-1022); the exponent is
// the long double exact value's (rounded to double first, a value below 2^-1075 would
// be 0 and its ulp 2^-53)
static double ulp_error_double(double got, long double exact) {
  if (got != got || exact != exact) return (got != got) == (exact != exact) ? 0.0 : 1e30;
  if (exact == 0.0L) return got == 0.0 ? 0.0 : std::fabs(got) / 0x1p-1074;
  int e;
  std::frexp(exact, &e);  // the long double overload
  const long double ulp = std::ldexp(1.0L, e - 53 < -1074 ? -1074 : e - 53);
  return static_cast<double>(std::fabs(static_cast<long double>(got) - exact) / ulp);
}

// math::exp_nonpos in double at n pseudo-random arguments in [-746, 0], half of them
// uniform in value, half uniform in their bits (so every exponent down to the
// subnormals), against long double expl
static void sample_exp_double(long n) {
  std::vector<double> x(n), y(n);
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  const std::uint64_t lowest = 0xc087500000000000ull;  // the bits of -746.0
  for (long i = 0; i < n; ++i) {
    state += 0x9e3779b97f4a7c15ull;  // splitmix64
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    if (i & 1) {
      const std::uint64_t bits = 0x8000000000000000ull + z % (lowest - 0x8000000000000000ull + 1);
      std::memcpy(&x[i], &bits, 8);
    } else {
      x[i] = -746.0 * static_cast<double>(z >> 11) * 0x1p-53;
    }
  }
  run_exp_double(x.data(), y.data(), n);
  double worst = 0.0, at = 0.0;
  for (long i = 0; i < n; ++i) {
    const double err = ulp_error_double(y[i], ref_expl(static_cast<long double>(x[i])));
    if (err > worst) worst = err, at = x[i];
  }
  std::printf("exp_nonpos_double %.6f %a\n", worst, at);
  // -0, +0 and -inf exactly, NaN, the ends of the subnormal results and beyond
  const double special[] = {0.0, -0.0, -INFINITY, NAN, -708.39, -745.13, -745.14, -746.0, -800.0, -1e300};
  double got[10];
  run_exp_double(special, got, 10);
  for (int i = 0; i < 10; ++i) {
    const long double want = i == 2 ? 0.0L : ref_expl(static_cast<long double>(special[i]));
    const bool exact_case = i < 3 || i > 6;  // 1, 1, 0, ..., 0, 0, 0
    if (ulp_error_double(got[i], want) > 1.0 || (exact_case && got[i] != static_cast<double>(want)))
      std::printf("special exp_nonpos(%a) = %a\n", special[i], got[i]);
  }
}

template <class Run, class Ref>
static void sweep(const char* name, std::uint32_t first, std::uint32_t last, std::uint64_t step, Run run, Ref ref) {
  const long chunk = 1L << 20;
  std::vector<float> x(chunk), y(chunk);
  double worst = 0.0;
  float at = 0.0f;
  bool saw_last = false;
  for (std::uint64_t base = first; !saw_last; base += chunk * step) {
    long n = 0;
    for (; n < chunk && base + n * step <= last; ++n) {
      const std::uint32_t u = static_cast<std::uint32_t>(base + n * step);
      std::memcpy(&x[n], &u, 4);
      saw_last = u == last;
    }
    if (n < chunk && !saw_last) {  // the last float of the range, off the step's grid
      std::memcpy(&x[n++], &last, 4);
      saw_last = true;
    }
    run(x.data(), y.data(), n);
    for (long i = 0; i < n; ++i) {
      const double err = ulp_error(y[i], ref(static_cast<double>(x[i])));
      if (err > worst) worst = err, at = x[i];
    }
  }
  std::printf("%s %.6f %a\n", name, worst, static_cast<double>(at));
}

int main(int argc, char** argv) {
  const std::uint64_t step = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  // every float from -0 (0x80000000) to -inf (0xff800000); log1p_unit: +0 to 1 (0x3f800000)
  sweep("exp_nonpos", 0x80000000u, 0xff800000u, step, run_exp, ref_exp);
  sweep("log1p_unit", 0x00000000u, 0x3f800000u, step, run_log1p, ref_log1p);
  sweep("log1p_nonneg", 0x00000000u, 0x7f800000u, step, run_log1p_nonneg, ref_log1p);  // +0 to +inf
  sweep("sigmoid_small", 0x00000000u, 0x3f800000u, step, run_sigmoid_small, ref_sigmoid_small);  // e in [0, 1]
  const float special[] = {0.0f, -0.0f, -INFINITY, NAN, -NAN, -103.9f, -104.0f, -200.0f};
  const double want[] = {1.0, 1.0, 0.0, NAN, NAN, ref_exp(-103.9f), 0.0, 0.0};
  float got[8];
  run_exp(special, got, 8);
  for (int i = 0; i < 8; ++i)
    if (ulp_error(got[i], want[i]) > 1.0 || ((want[i] == 1.0 || want[i] == 0.0) && got[i] != want[i]))
      std::printf("special exp_nonpos(%a) = %a\n", static_cast<double>(special[i]), static_cast<double>(got[i]));
  // log1p_nonneg: +0 and +inf give themselves exactly, NaN gives NaN; the smallest
  // subnormal, 2^24 (where 1 + x rounds) and the largest float within the bound
  const float special_l[] = {0.0f, INFINITY, NAN, 0x1p-149f, 0x1p24f, 0x1.fffffep127f};
  float got_l[6];
  run_log1p_nonneg(special_l, got_l, 6);
  for (int i = 0; i < 6; ++i) {
    const bool ok = i < 2 ? std::memcmp(&got_l[i], &special_l[i], 4) == 0
                    : i == 2 ? got_l[i] != got_l[i]
                             : ulp_error(got_l[i], ref_log1p(special_l[i])) <= 1.2;
    if (!ok)
      std::printf("special log1p_nonneg(%a) = %a\n", static_cast<double>(special_l[i]), static_cast<double>(got_l[i]));
  }
  // log1p_unit: +0 gives +0 exactly, NaN NaN, 1 ln 2 and the smallest subnormal itself
  const float special_u[] = {0.0f, NAN, 1.0f, 0x1p-149f};
  float got_u[4];
  run_log1p(special_u, got_u, 4);
  for (int i = 0; i < 4; ++i) {
    const bool ok = i == 0 ? std::memcmp(&got_u[0], &special_u[0], 4) == 0
                    : i == 1 ? got_u[1] != got_u[1]
                             : ulp_error(got_u[i], ref_log1p(special_u[i])) <= 1.05;
    if (!ok)
      std::printf("special log1p_unit(%a) = %a\n", static_cast<double>(special_u[i]), static_cast<double>(got_u[i]));
  }
  sample_exp_double(static_cast<long>((1ull << 26) / step));
  return 0;
}
