// Compiled once per instruction set (FASTLOSS_ISA = baseline, avx2, avx512; see
// CMakeLists.txt): instantiates every kernel and fills that ISA's table.
#include <atomic>

#include "fastloss/custom.hpp"
#include "fastloss/elementwise.hpp"
#include "fastloss/embedding.hpp"
#include "fastloss/binary.hpp"
#include "fastloss/regression.hpp"
#include "fastloss/rowwise.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

namespace {

// Sum of the weights in the block order of blocked_sum, and the first weight that
// is negative, NaN or infinite (found by a serial rescan, only when there is one).
template <class T>
WeightSummary weight_sum(const WeightCall& c) {
  const T* w = static_cast<const T*>(c.w);
  std::atomic<bool> any_bad{false};
  const double sum = blocked_sum(c.n, c.n >= c.parallel_threshold[kCheap] ? c.threads : 1,
                                 [&](index_t start, index_t len) {
    alignas(64) double acc[kLanes] = {};
    const T* x = w + start;
    bool bad = false;
    index_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
#pragma omp simd reduction(| : bad)
      for (int j = 0; j < kLanes; ++j) {
        const T v = x[i + j];
        bad |= !(v >= T(0) && v - v == T(0));  // v - v is NaN for NaN and inf
        acc[j] += static_cast<double>(v);
      }
    }
    for (int j = 0; i + j < len; ++j) {
      const T v = x[i + j];
      bad |= !(v >= T(0) && v - v == T(0));
      acc[j] += static_cast<double>(v);
    }
    if (bad) any_bad.store(true, std::memory_order_relaxed);
    return fold_lanes(acc);
  });
  index_t first_bad = -1;
  if (any_bad.load()) {
    for (index_t i = 0; i < c.n; ++i) {
      if (!(w[i] >= T(0) && w[i] - w[i] == T(0))) {
        first_bad = i;
        break;
      }
    }
  }
  return {sum, first_bad};
}

}  // namespace

void fill_kernel_table(KernelTable& t) {
  t.weight_sum[kF32] = &weight_sum<float>;
  t.weight_sum[kF64] = &weight_sum<double>;
  fill_elementwise<BandwidthProbe>(t.bandwidth_probe);
  fill_elementwise<BandwidthProbe3>(t.bandwidth_probe3);
#define FASTLOSS_X(name, Functor, count) \
  t.name.n_params = count;                 \
  fill_elementwise<Functor>(t.name);
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
#define FASTLOSS_X(name, Variant) fill_rowwise<Variant>(t.name);
  FASTLOSS_ROWWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
  fill_triplet(t.triplet_loss);
  fill_custom(t.custom);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
