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

// One pass over x for any element outside the range (SIMD, on the threads from
// the cheap threshold on), then, only when there is one, a serial rescan for the
// first. (The Python check it replaces, a.min() and a.max() of y_true and y_pred,
// took 5.3 ms of BCE's float32 value_and_grad(out=) at 1e7, whose value takes 8.6.)
template <class T>
FASTLOSS_INLINE bool outside_range(T v, bool unit) {
  return unit ? (v < T(0)) | (v > T(1)) : v < T(0);
}

template <class T, bool Unit>
index_t first_outside(const RangeCall& c) {
  const T* x = static_cast<const T*>(c.x);
  std::atomic<bool> any_bad{false};
  blocked_sum(c.n, c.n >= c.parallel_threshold[kCheap] ? c.threads : 1, [&](index_t start, index_t len) {
    const T* b = x + start;
    alignas(64) int bad[kLanes] = {};
    index_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) bad[j] |= outside_range(b[i + j], Unit) ? 1 : 0;
    }
    int any = 0;
    for (; i < len; ++i) any |= outside_range(b[i], Unit) ? 1 : 0;
    for (int j = 0; j < kLanes; ++j) any |= bad[j];
    if (any) any_bad.store(true, std::memory_order_relaxed);
    return 0.0;
  });
  if (any_bad.load()) {
    for (index_t i = 0; i < c.n; ++i)
      if (outside_range(x[i], Unit)) return i;
  }
  return -1;
}

template <class T>
index_t first_outside(const RangeCall& c) {
  return c.unit ? first_outside<T, true>(c) : first_outside<T, false>(c);
}

// A label outside [0, classes) (one unsigned compare: a negative label is above
// any class count) that is not the ignore_index.
FASTLOSS_INLINE bool bad_label(std::int64_t l, std::int64_t classes, bool has_ignore, std::int64_t ignore) {
  return (static_cast<std::uint64_t>(l) >= static_cast<std::uint64_t>(classes)) & !(has_ignore & (l == ignore));
}

// As first_outside: one SIMD pass (on the threads for many labels), a serial
// rescan only when there is a bad label. (The binding's scalar loop with an early
// exit took about 0.7 ms of sparse CE's 4.2 ms for 1e6 labels on 2 threads.)
index_t first_bad_label(const LabelCheckCall& c) {
  const std::int64_t* x = c.labels;
  const std::int64_t classes = c.classes, ignore = c.ignore;
  const bool has_ignore = c.has_ignore;
  std::atomic<bool> any_bad{false};
  blocked_sum(c.n, c.n >= c.parallel_threshold[kCheap] ? c.threads : 1, [&](index_t start, index_t len) {
    const std::int64_t* b = x + start;
    alignas(64) int bad[kLanes] = {};
    index_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) bad[j] |= bad_label(b[i + j], classes, has_ignore, ignore) ? 1 : 0;
    }
    int any = 0;
    for (; i < len; ++i) any |= bad_label(b[i], classes, has_ignore, ignore) ? 1 : 0;
    for (int j = 0; j < kLanes; ++j) any |= bad[j];
    if (any) any_bad.store(true, std::memory_order_relaxed);
    return 0.0;
  });
  if (any_bad.load()) {
    for (index_t i = 0; i < c.n; ++i)
      if (bad_label(x[i], classes, has_ignore, ignore)) return i;
  }
  return -1;
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
