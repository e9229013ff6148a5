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

// The index of the first x[i] with bad(x[i]), -1 if none: one SIMD pass for
// whether there is any (on the threads from the cheap threshold on), then, only
// when there is one, a serial rescan for the first. The checks that run before a
// kernel may write to out= (nothing is written on error). (The Python checks
// they replace, a.min() and a.max() of y_true and y_pred, took 5.3 ms of BCE's
// float32 value_and_grad(out=) at 1e7, whose value takes 8.6.)
template <class T, class Bad>
index_t first_where(const T* x, index_t n, int threads, const index_t* parallel_threshold, const Bad& bad) {
  std::atomic<bool> any_bad{false};
  blocked_sum(n, n >= parallel_threshold[kCheap] ? threads : 1, [&](index_t start, index_t len) {
    const T* b = x + start;
    alignas(64) int lane[kLanes] = {};
    index_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) lane[j] |= bad(b[i + j]) ? 1 : 0;
    }
    int any = 0;
    for (; i < len; ++i) any |= bad(b[i]) ? 1 : 0;
    for (int j = 0; j < kLanes; ++j) any |= lane[j];
    if (any) any_bad.store(true, std::memory_order_relaxed);
    return 0.0;
  });
  if (any_bad.load()) {
    for (index_t i = 0; i < n; ++i)
      if (bad(x[i])) return i;
  }
  return -1;
}

// Outside [0, 1] (unit) or below 0; NaN is not.
template <class T>
index_t first_outside(const RangeCall& c) {
  const T* x = static_cast<const T*>(c.x);
  if (c.unit) return first_where(x, c.n, c.threads, c.parallel_threshold, [](T v) { return (v < T(0)) | (v > T(1)); });
  return first_where(x, c.n, c.threads, c.parallel_threshold, [](T v) { return v < T(0); });
}

// A label outside [0, classes) (one unsigned compare: a negative label is above
// any class count) that is not the ignore_index. (The binding's scalar loop with
// an early exit took about 0.7 ms of sparse CE's 4.2 ms for 1e6 labels on 2 threads.)
index_t first_bad_label(const LabelCheckCall& c) {
  const std::uint64_t classes = static_cast<std::uint64_t>(c.classes);
  const std::int64_t ignore = c.ignore;
  const bool has_ignore = c.has_ignore;
  return first_where(c.labels, c.n, c.threads, c.parallel_threshold, [=](std::int64_t l) {
    return (static_cast<std::uint64_t>(l) >= classes) & !(has_ignore & (l == ignore));
  });
}

}  // namespace

void fill_kernel_table(KernelTable& t) {
  t.first_bad_label = &first_bad_label;
  t.weight_sum[kF32] = &weight_sum<float>;
  t.weight_sum[kF64] = &weight_sum<double>;
  t.first_outside[kF32] = &first_outside<float>;
  t.first_outside[kF64] = &first_outside<double>;
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
