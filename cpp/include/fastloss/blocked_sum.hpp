// The one place that splits work into blocks, runs blocks on threads and adds
// their partial sums. Each block's partial depends only on the block's data, and
// the partials are combined by a fixed pairwise tree, so the result is the same
// bits for every thread count, every schedule and every run.
#pragma once
#include <memory>
#include <type_traits>

#include "config.hpp"

namespace fastloss {

// Runs fn(ctx, b) for every block b in [0, blocks) on up to `threads` threads, the
// calling one included; returns when every block is done. Blocks are claimed one
// by one, and only claimed blocks are waited for, so a thread that another
// process keeps off the CPU delays nothing (cpp/src/pool.cpp). (blocked_sum's
// blocks here are runs of its summation blocks.)
using BlockFn = void (*)(void*, index_t);
void parallel_blocks(index_t blocks, int threads, BlockFn fn, void* ctx);

namespace FASTLOSS_ISA {

// The most consecutive blocks a thread claims at once (see blocked_sum).
constexpr index_t kClaimBlocks = 16;

// Two float64 sums carried together (a loss and the denominator of its mean).
struct Sum2 {
  double first = 0.0, second = 0.0;
  Sum2 operator+(const Sum2& o) const { return {first + o.first, second + o.second}; }
};

// Pairwise sum in a fixed order: error O(log n) ulp of sum |x|.
template <class P>
P pairwise_sum(const P* x, index_t n) {
  if (n <= 8) {
    P s{};
    for (index_t i = 0; i < n; ++i) s = s + x[i];
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

// Every block runs through this one function, from the serial loop and from the
// threads alike. Were `block` inlined at both call sites, the compiler could
// vectorize the two copies differently (it did: the row-wise kernels for fewer
// classes than lanes gave other last bits on one thread than on several).
template <class BlockFn, class P>
[[gnu::noinline]] void run_block(const BlockFn& block, P* partial, index_t b, index_t n, index_t block_len) {
  const index_t start = b * block_len;
  partial[b] = block(start, n - start < block_len ? n - start : block_len);
}

// block(start, length) -> partial sum of units [start, start + length); blocks
// start at multiples of block_len (units are elements, rows, ...).
template <class BlockFn, class P = std::invoke_result_t<BlockFn, index_t, index_t>>
P blocked_sum(index_t n, int threads, const BlockFn& block, index_t block_len = kBlock) {
  const index_t blocks = (n + block_len - 1) / block_len;
  if (blocks == 0) return P{};
  if (blocks == 1) {
    P one;
    run_block(block, &one, 0, n, block_len);
    return one;
  }
  constexpr index_t kOnStack = 256;
  P stack[kOnStack];
  std::unique_ptr<P[]> heap;
  P* partial = stack;
  if (blocks > kOnStack) {
    heap.reset(new P[blocks]);
    partial = heap.get();
  }
  if (threads > 1) {
    // Threads claim runs of consecutive blocks: up to kClaimBlocks, and at least 8
    // runs per thread for balance. Taking turns on single blocks, each thread's
    // reads jumped ahead every block (16 KB per float32 input), which the hardware
    // prefetcher followed badly: mse float32 at 1e7 on 2 threads 3.1 -> 2.0 ms, the
    // bandwidth probe 3.0 -> 1.8 ms (one thread: 3.5 ms either way). The partials
    // stay per block, so the sum has the same bits for every grouping.
    index_t group = blocks / (8 * static_cast<index_t>(threads));
    group = group < 1 ? 1 : (group > kClaimBlocks ? kClaimBlocks : group);
    const index_t groups = (blocks + group - 1) / group;
    auto run_group = [&](index_t g) {
      const index_t end = (g + 1) * group < blocks ? (g + 1) * group : blocks;
      for (index_t b = g * group; b < end; ++b) run_block(block, partial, b, n, block_len);
    };
    if (threads > groups) threads = static_cast<int>(groups);
    parallel_blocks(groups, threads, [](void* ctx, index_t g) { (*static_cast<decltype(run_group)*>(ctx))(g); },
                    &run_group);
    return pairwise_sum(partial, blocks);
  }
  auto run = [&](index_t b) { run_block(block, partial, b, n, block_len); };
  for (index_t b = 0; b < blocks; ++b) run(b);
  return pairwise_sum(partial, blocks);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
