// Exhaustive accuracy of fastloss's inline float math (cpp/include/fastloss/simd_math.hpp)
// against float64 glibc, in ulp of the float result (the smallest subnormal below
// 2^-126): math::exp_nonpos over every float <= 0 (with -inf, -0 and NaN) and
// math::log1p_unit over every float in [0, 1] and math::log1p_nonneg over every float
// in [0, inf] (with an argument k: every k-th float of those, and the ends). Built and
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

static double (*volatile ref_exp)(double) = ::exp;  // volatile: glibc's scalar double functions
static double (*volatile ref_log1p)(double) = ::log1p;

static double ulp_error(float got, double exact) {
  if (got != got || exact != exact) return (got != got) == (exact != exact) ? 0.0 : 1e30;
  int e;
  std::frexp(exact, &e);  // exact = f 2^e, f in [0.5, 1): float ulp 2^(e - 24), at least 2^-149
  const double ulp = std::ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
  return exact == 0.0 ? (got == 0.0f ? 0.0 : std::fabs(got) / std::ldexp(1.0, -149)) : std::fabs(got - exact) / ulp;
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
  return 0;
}
