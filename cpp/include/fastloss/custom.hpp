// The loop of custom losses: a CustomProgram (custom_program.hpp) run over chunks
// of kCustomChunk elements, each instruction one SIMD loop over the chunk, and the
// program's value/gradient/Hessian slots weighted, written and summed exactly as
// the elementwise loop does (same lanes, same blocks), so a custom loss that
// computes the same per-element bits as a built-in one gives the same sums.
#pragma once
#include <cstdlib>
#include <memory>

#include "blocked_sum.hpp"
#include "custom_program.hpp"
#include "kernel_table.hpp"
#include "simd_math.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

namespace custom_detail {

// Every loop runs a multiple of kLanes elements through the same SIMD body (chunks
// are padded), so an element's result does not depend on its position. Macros, not
// lambdas: GCC vectorizes the loop only if the body is inlined into it.
#define FASTLOSS_MAP1(EXPR)                                  \
  for (index_t i = 0; i < len; i += kLanes) {                \
    _Pragma("omp simd") for (int j = 0; j < kLanes; ++j) {   \
      const T x = a[i + j];                                  \
      d[i + j] = (EXPR);                                     \
    }                                                        \
  }                                                          \
  break
#define FASTLOSS_MAP2(EXPR)                                  \
  for (index_t i = 0; i < len; i += kLanes) {                \
    _Pragma("omp simd") for (int j = 0; j < kLanes; ++j) {   \
      const T x = a[i + j], z = b[i + j];                    \
      d[i + j] = (EXPR);                                     \
    }                                                        \
  }                                                          \
  break

template <class T>
FASTLOSS_INLINE T sigmoid(T x) {
  const T e = math::exp(-math::abs(x));  // in (0, 1]: never overflows
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
template <class T>
FASTLOSS_INLINE T softplus(T x) {
  return math::max0(x) + math::log1p(math::exp(-math::abs(x)));
}
// log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(e^-|x|)
template <class T>
FASTLOSS_INLINE T log_sigmoid(T x) {
  return (x < T(0) ? x : T(0)) - math::log1p(math::exp(-math::abs(x)));
}
// np.minimum / np.maximum: NaN if either operand is NaN.
template <class T>
FASTLOSS_INLINE T minimum(T a, T b) {
  return a != a ? a : (b < a || b != b ? b : a);
}
template <class T>
FASTLOSS_INLINE T maximum(T a, T b) {
  return a != a ? a : (b > a || b != b ? b : a);
}

template <class T>
void run_program(const CustomProgram& prog, T* const* slot, index_t len) {
  for (int k = 0; k < prog.n_code; ++k) {
    const CustomInstruction& in = prog.code[k];
    T* d = slot[in.dst];
    const T* a = slot[in.a];
    const T* b = in.b >= 0 ? slot[in.b] : nullptr;
    switch (in.op) {
      case kOp_copy: FASTLOSS_MAP1(x);
      case kOp_neg: FASTLOSS_MAP1(-x);
      case kOp_add: FASTLOSS_MAP2(x + z);
      case kOp_sub: FASTLOSS_MAP2(x - z);
      case kOp_mul: FASTLOSS_MAP2(x * z);
      case kOp_div: FASTLOSS_MAP2(x / z);
      case kOp_pow: FASTLOSS_MAP2(math::pow(x, z));
      case kOp_abs: FASTLOSS_MAP1(math::abs(x));
      case kOp_sqrt: FASTLOSS_MAP1(math::sqrt(x));
      case kOp_exp: FASTLOSS_MAP1(math::exp(x));
      case kOp_log: FASTLOSS_MAP1(math::log(x));
      case kOp_log1p: FASTLOSS_MAP1(math::log1p(x));
      case kOp_expm1: FASTLOSS_MAP1(math::expm1(x));
      case kOp_tanh: FASTLOSS_MAP1(math::tanh(x));
      case kOp_sigmoid: FASTLOSS_MAP1(sigmoid(x));
      case kOp_softplus: FASTLOSS_MAP1(softplus(x));
      case kOp_log_sigmoid: FASTLOSS_MAP1(log_sigmoid(x));
      case kOp_sign: FASTLOSS_MAP1(math::sign(x));
      case kOp_minimum: FASTLOSS_MAP2(minimum(x, z));
      case kOp_maximum: FASTLOSS_MAP2(maximum(x, z));
      case kOp_lt: FASTLOSS_MAP2(x < z ? T(1) : T(0));
      case kOp_le: FASTLOSS_MAP2(x <= z ? T(1) : T(0));
      case kOp_gt: FASTLOSS_MAP2(x > z ? T(1) : T(0));
      case kOp_ge: FASTLOSS_MAP2(x >= z ? T(1) : T(0));
      case kOp_eq: FASTLOSS_MAP2(x == z ? T(1) : T(0));
      case kOp_ne: FASTLOSS_MAP2(x != z ? T(1) : T(0));
      case kOp_where: {
        const T* c = slot[in.c];
        for (index_t i = 0; i < len; i += kLanes) {
#pragma omp simd
          for (int j = 0; j < kLanes; ++j) d[i + j] = a[i + j] != T(0) ? b[i + j] : c[i + j];
        }
        break;
      }
      default: break;  // unreachable: the binding validated every opcode
    }
  }
}

#undef FASTLOSS_MAP1
#undef FASTLOSS_MAP2

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace custom_detail

// c.invalid is set if a block could not allocate its slots (nothing else fails).
template <class T, unsigned M>
double custom(const ElementwiseCall& c, const CustomProgram& prog) {
  using namespace custom_detail;
  const T* y = static_cast<const T*>(c.y);
  const T* p = static_cast<const T*>(c.p);
  const T* w = static_cast<const T*>(c.w);
  T* value = static_cast<T*>(c.value);
  T* grad = static_cast<T*>(c.grad);
  T* hess = static_cast<T*>(c.hess);
  const T scale = static_cast<T>(c.scale);
  const int threads = c.n >= c.parallel_threshold[prog.cost] ? c.threads : 1;
  return blocked_sum(c.n, threads, [&](index_t start, index_t len) {
    // The block's slots: chunk-long vectors, 64-byte aligned; constants are
    // broadcast once per block, over as much of a chunk as the block uses.
    const index_t used = len < kCustomChunk ? (len + kLanes - 1) / kLanes * kLanes : kCustomChunk;
    std::unique_ptr<T, FreeDeleter> storage(static_cast<T*>(
        std::aligned_alloc(64, sizeof(T) * static_cast<std::size_t>(prog.n_slots) * kCustomChunk)));
    if (!storage) {  // kernels never throw: the binding raises MemoryError
      if (c.invalid != nullptr) *c.invalid = true;
      return 0.0;
    }
    T* base = storage.get();
    T* slot[kCustomMaxSlots];
    for (int s = 0; s < prog.n_slots; ++s) slot[s] = base + s * kCustomChunk;
    T* const y_pad = slot[0];
    T* const p_pad = slot[1];
    for (int s = prog.first_constant; s < prog.n_slots; ++s) {
      const T v = static_cast<T>(prog.constants[s - prog.first_constant]);
      for (index_t i = 0; i < used; ++i) slot[s][i] = v;
    }
    const T* yb = c.y_advances ? y + start : y;
    const T* pb = c.p_advances ? p + start : p;
    const T* wb = (M & kWeighted) ? (c.w_advances ? w + start : w) : nullptr;
    alignas(64) double acc[kLanes] = {};
    for (index_t off = 0; off < len; off += kCustomChunk) {
      const index_t m = len - off < kCustomChunk ? len - off : kCustomChunk;
      const index_t padded = (m + kLanes - 1) / kLanes * kLanes;
      if (padded == m) {
        slot[0] = const_cast<T*>(yb + off);  // read only: dst is never slot 0 or 1
        slot[1] = const_cast<T*>(pb + off);
      } else {
        // The tail: padded with its first element (as finite as the data).
        for (index_t i = 0; i < padded; ++i) {
          y_pad[i] = yb[off + (i < m ? i : 0)];
          p_pad[i] = pb[off + (i < m ? i : 0)];
        }
        slot[0] = y_pad;
        slot[1] = p_pad;
      }
      run_program(prog, slot, padded);
      const T* v = (M & (kSum | kValue)) ? slot[prog.value_slot] : nullptr;
      const T* g = (M & kGrad) ? slot[prog.grad_slot] : nullptr;
      const T* h = (M & kHess) ? slot[prog.hess_slot] : nullptr;
      const T* wo = (M & kWeighted) ? wb + off : nullptr;
      T* vo = (M & kValue) ? value + start + off : nullptr;
      T* go = (M & kGrad) ? grad + start + off : nullptr;
      T* ho = (M & kHess) ? hess + start + off : nullptr;
      // The same arithmetic as elementwise_lanes, lane j taking element j mod kLanes.
#define FASTLOSS_EMIT(I, J)                                                 \
  do {                                                                      \
    const T wi = (M & kWeighted) ? wo[I] : T(1);                            \
    if constexpr ((M & (kSum | kValue)) != 0) {                             \
      T loss = v[I];                                                        \
      if constexpr ((M & kWeighted) != 0) loss *= wi;                       \
      if constexpr ((M & kValue) != 0) vo[I] = loss;                        \
      if constexpr ((M & kSum) != 0) acc[J] += static_cast<double>(loss);   \
    }                                                                       \
    if constexpr ((M & kGrad) != 0) go[I] = g[I] * (wi * scale);            \
    if constexpr ((M & kHess) != 0) ho[I] = h[I] * (wi * scale);            \
  } while (0)
      index_t i = 0;
      for (; i + kLanes <= m; i += kLanes) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) FASTLOSS_EMIT(i + j, j);
      }
      for (int j = 0; i + j < m; ++j) FASTLOSS_EMIT(i + j, j);
#undef FASTLOSS_EMIT
    }
    return fold_lanes(acc);
  });
}

template <class T, unsigned... Modes>
void fill_custom_modes(CustomFn* fn) {
  ((fn[Modes] = &custom<T, Modes>, fn[Modes | kWeighted] = &custom<T, Modes | kWeighted>), ...);
}

inline void fill_custom(CustomKernels& k) {
  fill_custom_modes<float, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF32]);
  fill_custom_modes<double, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF64]);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
