// The instruction set of custom losses (fastloss.custom): a straight-line program
// over "slots", each a vector of one chunk's elements. Shared by the kernels and
// the binding that validates programs; no ISA-specific code here.
//
// Slots: 0 is y (true), 1 is p (prediction), [2, first_constant) are registers
// the program writes, [first_constant, n_slots) are constants (the program's
// numbers, then the loss's parameters), each broadcast over the chunk.
#pragma once
#include <cstdint>

#include "config.hpp"

namespace fastloss {

// X(name, arity): every operation is elementwise, dst[i] = op(a[i], b[i], c[i]).
// Comparisons give 1 or 0; where(c, a, b) takes a where c != 0 (NaN counts as true, as in NumPy).
#define FASTLOSS_CUSTOM_OPS(X) \
  X(copy, 1)                   \
  X(neg, 1)                    \
  X(add, 2)                    \
  X(sub, 2)                    \
  X(mul, 2)                    \
  X(div, 2)                    \
  X(pow, 2)                    \
  X(abs, 1)                    \
  X(sqrt, 1)                   \
  X(exp, 1)                    \
  X(log, 1)                    \
  X(log1p, 1)                  \
  X(expm1, 1)                  \
  X(tanh, 1)                   \
  X(sigmoid, 1)                \
  X(softplus, 1)               \
  X(log_sigmoid, 1)            \
  X(sign, 1)                   \
  X(minimum, 2)                \
  X(maximum, 2)                \
  X(lt, 2)                     \
  X(le, 2)                     \
  X(gt, 2)                     \
  X(ge, 2)                     \
  X(eq, 2)                     \
  X(ne, 2)                     \
  X(where, 3)

enum CustomOp : std::int32_t {
#define FASTLOSS_X(name, arity) kOp_##name,
  FASTLOSS_CUSTOM_OPS(FASTLOSS_X)
#undef FASTLOSS_X
  kCustomOps
};

constexpr int kCustomArity[kCustomOps] = {
#define FASTLOSS_X(name, arity) arity,
    FASTLOSS_CUSTOM_OPS(FASTLOSS_X)
#undef FASTLOSS_X
};

constexpr const char* kCustomOpNames[kCustomOps] = {
#define FASTLOSS_X(name, arity) #name,
    FASTLOSS_CUSTOM_OPS(FASTLOSS_X)
#undef FASTLOSS_X
};

struct CustomInstruction {
  std::int32_t op, dst, a, b, c;  // operands beyond the op's arity are -1
};

// Limits that bound a program's memory: slots * kChunk elements per block.
constexpr int kCustomMaxSlots = 512;
constexpr int kCustomMaxInstructions = 4096;
// Elements per chunk: a slot is one chunk, so a program's working set stays in
// L1/L2 while the program runs over it. A multiple of kLanes.
#ifndef FASTLOSS_CUSTOM_CHUNK
#define FASTLOSS_CUSTOM_CHUNK 128
#endif
constexpr index_t kCustomChunk = FASTLOSS_CUSTOM_CHUNK;

// A program validated by the binding: every operand a slot that was written (or
// is an input or constant) before it is read, dst always a register.
struct CustomProgram {
  const CustomInstruction* code;
  int n_code;
  int n_slots;
  int first_constant;
  const double* constants;  // n_slots - first_constant values
  int value_slot, grad_slot, hess_slot;  // -1 where the variant does not compute it
  int cost;  // kCheap or kTranscendental
};

}  // namespace fastloss
