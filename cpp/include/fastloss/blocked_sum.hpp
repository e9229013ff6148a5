// The one place that splits work into blocks, runs blocks on threads and adds
// their partial sums. Each block's partial depends only on the block's data, and
// the partials are combined by a fixed pairwise tree, so the result is the same
// bits for every thread count, every schedule and every run.
#pragma once
#include <memory>

#include "config.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastloss {
namespace FASTLOSS_ISA {

// Pairwise sum in a fixed order: error O(log n) ulp of sum |x|.
inline double pairwise_sum(const double* x, index_t n) {
  if (n <= 8) {
    double s = 0.0;
    for (index_t i = 0; i < n; ++i) s += x[i];
    return s;
  }
  const index_t half = n / 2;
  return pairwise_sum(x, half) + pairwise_sum(x + half, n - half);
}

// Lane accumulators folded in a fixed tree.
FASTLOSS_INLINE double fold_lanes(double* acc) {
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  return acc[0];
}

// block(start, length) -> partial sum of that block; blocks start at multiples of kBlock.
template <class BlockFn>
double blocked_sum(index_t n, int threads, const BlockFn& block) {
  const index_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks <= 1) return blocks == 1 ? block(0, n) : 0.0;
  constexpr index_t kOnStack = 256;
  double stack[kOnStack];
  std::unique_ptr<double[]> heap;
  double* partial = stack;
  if (blocks > kOnStack) {
    heap.reset(new double[blocks]);
    partial = heap.get();
  }
#ifdef _OPENMP
  if (threads > 1) {
    if (threads > blocks) threads = static_cast<int>(blocks);
    // dynamic: a descheduled thread does not hold back the others' blocks.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (index_t b = 0; b < blocks; ++b) {
      const index_t start = b * kBlock;
      partial[b] = block(start, n - start < kBlock ? n - start : kBlock);
    }
    return pairwise_sum(partial, blocks);
  }
#else
  (void)threads;
#endif
  for (index_t b = 0; b < blocks; ++b) {
    const index_t start = b * kBlock;
    partial[b] = block(start, n - start < kBlock ? n - start : kBlock);
  }
  return pairwise_sum(partial, blocks);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
