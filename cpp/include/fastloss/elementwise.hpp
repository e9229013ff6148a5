// The elementwise loop: loss(y_i, p_i) for every i, with any combination of the
// value (summed and/or per element), the gradient and the Hessian diagonal in one
// pass over the data. A functor F<T> supplies value, grad and hess of (y, p) and
// its cost class; it never sees a pointer. Optional members:
//   uses_aux = true: value/grad/hess take a third per-element operand
//     (BCE's pos_weight), read like y and p;
//   checks_domain = true: valid(y, p) is false for inputs outside the loss's
//     domain (probabilities outside [0, 1]); the loop reports whether any element
//     was invalid, in the same pass as the computation;
//   Refined (a type, not void): a functor with a slower value for rare inputs, for
//     losses whose values are >= 0. Where a block's value is not finite (inf, or
//     NaN: a NaN input, computed twice then, or an overflowed intermediate), the
//     block is computed again with F::Refined(f) (cauchy float32: r^2 beyond
//     float32's range, or y - p). The blocks are fixed, so the result does not
//     depend on the thread count.
#pragma once
#include <atomic>
#include <cstdint>
#include <type_traits>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "blocked_sum.hpp"
#include "kernel_table.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

template <class F, class = void>
struct uses_aux : std::false_type {};
template <class F>
struct uses_aux<F, std::void_t<decltype(F::uses_aux)>> : std::bool_constant<F::uses_aux> {};
template <class F, class = void>
struct checks_domain : std::false_type {};
template <class F>
struct checks_domain<F, std::void_t<decltype(F::checks_domain)>> : std::bool_constant<F::checks_domain> {};

template <class F, class = void>
struct refines : std::false_type {};
template <class F>
struct refines<F, std::void_t<typename F::Refined>> : std::bool_constant<!std::is_void_v<typename F::Refined>> {};

// The flags of invalid[]: an element outside the domain; a value to refine.
constexpr int kInvalid = 1, kRefine = 2;

template <class F, class T>
FASTLOSS_INLINE T value_of(const F& f, T y, T p, T a) {
  if constexpr (uses_aux<F>::value) return f.value(y, p, a);
  else return f.value(y, p);
}
template <class F, class T>
FASTLOSS_INLINE T grad_of(const F& f, T y, T p, T a) {
  if constexpr (uses_aux<F>::value) return f.grad(y, p, a);
  else return f.grad(y, p);
}
template <class F, class T>
FASTLOSS_INLINE T hess_of(const F& f, T y, T p, T a) {
  if constexpr (uses_aux<F>::value) return f.hess(y, p, a);
  else return f.hess(y, p);
}

template <class T>
struct ElementwiseView {
  const T* y;
  const T* p;
  const T* a;  // aux operand, nullptr unless the functor uses one
  const T* w;
  T* value;
  T* grad;
  T* hess;
};

// Exactly kLanes elements: the SIMD body. Every element goes through this code,
// tails included, so an element's result does not depend on its position.
template <unsigned M, class F, class T>
FASTLOSS_INLINE void elementwise_lanes(const F& f, const ElementwiseView<T>& v, T scale, double* acc,
                                       int* invalid) {
#pragma omp simd
  for (int j = 0; j < kLanes; ++j) {
    const T y = v.y[j], p = v.p[j];
    const T a = uses_aux<F>::value ? v.a[j] : T(0);
    const T w = (M & kWeighted) ? v.w[j] : T(1);
    if constexpr (checks_domain<F>::value) invalid[j] |= f.valid(y, p) ? 0 : kInvalid;
    if constexpr ((M & (kSum | kValue)) != 0) {
      T loss = value_of(f, y, p, a);
      // A value that is not finite (inf, or NaN: a NaN input, which is computed twice,
      // or an overflowed intermediate); per element only for per-element values: a
      // sum is checked once per block.
      if constexpr (refines<F>::value && (M & kValue) != 0) invalid[j] |= loss - loss == T(0) ? 0 : kRefine;
      if constexpr ((M & kWeighted) != 0) loss *= w;
      if constexpr ((M & kValue) != 0) v.value[j] = loss;
      if constexpr ((M & kSum) != 0) acc[j] += static_cast<double>(loss);
    }
    if constexpr ((M & kGrad) != 0) v.grad[j] = grad_of(f, y, p, a) * (w * scale);
    if constexpr ((M & kHess) != 0) v.hess[j] = hess_of(f, y, p, a) * (w * scale);
  }
}

// The SIMD body on a block's padded tail, kept out of line: inlined after the
// copies into the padded buffers, GCC 12 did not vectorize it ("complicated access
// pattern") and the tail's elements took the scalar libm functions, whose last bits
// differ from the vector ones' (libmvec's logf is up to 4 ulp off near 0.88), so an
// element's value depended on whether it was in the tail.
template <unsigned M, class F, class T>
__attribute__((noinline)) void elementwise_tail(const F& f, const ElementwiseView<T>& v, T scale, double* acc,
                                                int* invalid) {
  elementwise_lanes<M>(f, v, scale, acc, invalid);
}

template <unsigned M, class F, class T>
FASTLOSS_INLINE ElementwiseView<T> offset(const ElementwiseView<T>& v, index_t i) {
  return {v.y + i,
          v.p + i,
          uses_aux<F>::value ? v.a + i : nullptr,
          (M & kWeighted) ? v.w + i : nullptr,
          (M & kValue) ? v.value + i : nullptr,
          (M & kGrad) ? v.grad + i : nullptr,
          (M & kHess) ? v.hess + i : nullptr};
}

// kLanes elements from an aligned buffer to dst (16-byte aligned) with
// non-temporal stores; the values are the same, only the cache policy differs.
template <class T>
FASTLOSS_INLINE void stream_lanes(T* dst, const T* src) {
#if defined(__SSE2__)
  for (int j = 0; j < kLanes; j += static_cast<int>(16 / sizeof(T))) {
    if constexpr (sizeof(T) == 8)
      _mm_stream_pd(reinterpret_cast<double*>(dst + j), _mm_load_pd(reinterpret_cast<const double*>(src + j)));
    else
      _mm_stream_ps(reinterpret_cast<float*>(dst + j), _mm_load_ps(reinterpret_cast<const float*>(src + j)));
  }
#else
  for (int j = 0; j < kLanes; ++j) dst[j] = src[j];
#endif
}


// The full chunks of a block with the outputs computed into buffers and streamed out.
template <unsigned M, class F, class T>
FASTLOSS_INLINE index_t elementwise_streamed(const F& f, const ElementwiseView<T>& v, index_t len, T scale,
                                             double* acc, int* invalid) {
  alignas(64) T value[kLanes], grad[kLanes], hess[kLanes];
  index_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    ElementwiseView<T> u = offset<M, F>(v, i);
    T* const dst_value = u.value;
    T* const dst_grad = u.grad;
    T* const dst_hess = u.hess;
    u.value = value;
    u.grad = grad;
    u.hess = hess;
    elementwise_lanes<M>(f, u, scale, acc, invalid);
    if constexpr ((M & kValue) != 0) stream_lanes(dst_value, value);
    if constexpr ((M & kGrad) != 0) stream_lanes(dst_grad, grad);
    if constexpr ((M & kHess) != 0) stream_lanes(dst_hess, hess);
  }
#if defined(__SSE2__)
  _mm_sfence();  // the streamed lines are visible before the block counts as done
#endif
  return i;
}

// One block: its partial sum; *any_invalid is set if an element is outside the domain.
// stream: write the outputs with non-temporal stores (they are 16-byte aligned).
template <unsigned M, class F, class T>
double elementwise_block(const F& f, const ElementwiseView<T>& v, index_t len, T scale, bool* any_invalid,
                         bool stream = false) {
  alignas(64) double acc[kLanes] = {};
  alignas(64) int invalid[kLanes] = {};
  index_t i = 0;
  // (streamed only for the cheap functors, see elementwise(): for the others the loop
  // is not compiled, which GCC 12 also failed to vectorize for some of them)
  if constexpr ((M & (kValue | kGrad | kHess)) != 0 && F::cost == kCheap) {
    if (stream) i = elementwise_streamed<M>(f, v, len, scale, acc, invalid);
  }
  for (; i + kLanes <= len; i += kLanes) elementwise_lanes<M>(f, offset<M, F>(v, i), scale, acc, invalid);
  const index_t rest = len - i;
  if (rest > 0) {
    // The tail runs through the same SIMD body on padded copies (padding repeats
    // the tail's first element, so it is as finite and as valid as the data), and
    // only the valid lanes are kept.
    alignas(64) T y[kLanes], p[kLanes], a[kLanes], w[kLanes], value[kLanes], grad[kLanes], hess[kLanes];
    alignas(64) double tail_acc[kLanes] = {};
    const ElementwiseView<T> src = offset<M, F>(v, i);
    for (int j = 0; j < kLanes; ++j) {
      const index_t k = j < rest ? j : 0;
      y[j] = src.y[k];
      p[j] = src.p[k];
      a[j] = uses_aux<F>::value ? src.a[k] : T(0);
      w[j] = (M & kWeighted) ? src.w[k] : T(1);
    }
    if constexpr ((M & (kValue | kGrad | kHess)) == 0) {
      // A sum alone: the tail's values per element, then their sum. GCC 12 left the
      // tail of the sum scalar (for AVX2 and AVX-512, "no vectype" for the float
      // loads), with the scalar logf whose last bits differ from the vector one's, and
      // 32 scalar libm calls per tail (BCE float32 of 100 elements: about 0.7 µs of a
      // 1.0-2.4 µs call); its per-element-value mode it vectorizes. The same value
      // per element (loss times its weight), so the same bits.
      elementwise_tail<(M & ~kSum) | kValue>(f, ElementwiseView<T>{y, p, a, w, value, grad, hess}, scale,
                                              tail_acc, invalid);
      for (index_t j = 0; j < rest; ++j) tail_acc[j] = static_cast<double>(value[j]);
    } else {
      elementwise_tail<M>(f, ElementwiseView<T>{y, p, a, w, value, grad, hess}, scale, tail_acc, invalid);
    }
    for (index_t j = 0; j < rest; ++j) {
      if constexpr ((M & kValue) != 0) src.value[j] = value[j];
      if constexpr ((M & kGrad) != 0) src.grad[j] = grad[j];
      if constexpr ((M & kHess) != 0) src.hess[j] = hess[j];
      acc[j] += tail_acc[j];
    }
  }
  const double total = fold_lanes(acc);
  if constexpr (checks_domain<F>::value || refines<F>::value) {
    int bad = 0;
    for (int j = 0; j < kLanes; ++j) bad |= invalid[j];
    if constexpr (refines<F>::value) {
      // Without per-element values, a sum that is not finite: the values are >= 0,
      // so an inf value makes it inf (or NaN, times a weight of 0), and NaN inputs
      // are only computed twice. (The check per element cost cauchy float32 5%.)
      const bool refine = (M & kValue) != 0 ? (bad & kRefine) != 0 : (M & kSum) != 0 && !(total - total == 0.0);
      if (refine)  // every output of the block again (none overlaps an input)
        return elementwise_block<M>(typename F::Refined(f), v, len, scale, any_invalid, stream);
    }
    if (bad & kInvalid) *any_invalid = true;
  }
  return total;
}

template <template <class> class F, class T, unsigned M>
double elementwise(const ElementwiseCall& c) {
  const F<T> f(c.params);
  const T* y = static_cast<const T*>(c.y);
  const T* p = static_cast<const T*>(c.p);
  const T* a = static_cast<const T*>(c.a);
  const T* w = static_cast<const T*>(c.w);
  T* value = static_cast<T*>(c.value);
  T* grad = static_cast<T*>(c.grad);
  T* hess = static_cast<T*>(c.hess);
  const T scale = static_cast<T>(c.scale);
  const int threads = c.n >= c.parallel_threshold[F<T>::cost] ? c.threads : 1;
  // Non-temporal stores only for the cheap (memory-bound) functors. Where each
  // line of output takes as long to compute as a transcendental loss's, they cost
  // more than the read they save: BCE float32 value_and_grad at 1e7, one thread,
  // 20.6 -> 17.7 ms without them (the value alone 17.0 ms); focal float64 45.3 -> 34.2.
  const bool stream = F<T>::cost == kCheap && c.n * static_cast<index_t>(sizeof(T)) >= kStreamBytes &&
                      ((M & kValue) == 0 || aligned16(value)) && ((M & kGrad) == 0 || aligned16(grad)) &&
                      ((M & kHess) == 0 || aligned16(hess));
  std::atomic<bool> any_invalid{false};
  const double sum = blocked_sum(c.n, threads, [&](index_t start, index_t len) {
    const ElementwiseView<T> view{
        c.y_advances ? y + start : y,
        c.p_advances ? p + start : p,
        uses_aux<F<T>>::value ? (c.a_advances ? a + start : a) : nullptr,
        (M & kWeighted) ? (c.w_advances ? w + start : w) : nullptr,
        (M & kValue) ? value + start : nullptr,
        (M & kGrad) ? grad + start : nullptr,
        (M & kHess) ? hess + start : nullptr};
    bool block_invalid = false;
    const double partial = elementwise_block<M>(f, view, len, scale, &block_invalid, stream);
    if (block_invalid) any_invalid.store(true, std::memory_order_relaxed);
    return partial;
  });
  if (c.invalid != nullptr) *c.invalid = any_invalid.load();
  return sum;
}

template <template <class> class F, class T, unsigned... Modes>
void fill_modes(ElementwiseFn* fn) {
  ((fn[Modes] = &elementwise<F, T, Modes>, fn[Modes | kWeighted] = &elementwise<F, T, Modes | kWeighted>),
   ...);
}

// The modes a binding may ask for; the others stay nullptr in the table.
template <template <class> class F>
void fill_elementwise(ElementwiseKernels& k) {
  k.uses_aux = uses_aux<F<double>>::value;
  fill_modes<F, float, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF32]);
  fill_modes<F, double, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF64]);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
