// Build-wide constants of the kernel tier. No Python in this directory.
#pragma once
#include <cstdint>

// Kernel code lives in namespace fastloss::FASTLOSS_ISA, one per instruction set the
// kernels are compiled for, so that inline functions compiled with different -m
// flags never merge into one symbol.
#ifndef FASTLOSS_ISA
#define FASTLOSS_ISA generic
#endif

#define FASTLOSS_INLINE inline __attribute__((always_inline))

namespace fastloss {

using index_t = std::int64_t;

// Every loop works on blocks of this many elements; a block's partial sum is one
// double, and the partials are combined in a fixed order (see blocked_sum.hpp).
// The block, not the thread, is the unit of work, which is what makes results
// identical for every thread count.
constexpr index_t kBlock = 4096;

// Lanes of the float64 accumulators inside a block. Fixed (not the vector width of
// the CPU) so that the AVX-512, AVX2 and baseline kernels add in the same order.
constexpr int kLanes = 16;

// Outputs of at least this many bytes each are written with non-temporal stores
// by the cheap elementwise losses and the zero fill of sparse labels' derivatives:
// they do not fit in the caches anyway (32 MiB of L3 on the machine this was
// tuned on), and streaming them saves the read of each output line before it is
// written (value_and_grad of mse: 24 instead of 32 bytes of traffic per element).
constexpr index_t kStreamBytes = index_t(16) << 20;

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

}  // namespace fastloss
