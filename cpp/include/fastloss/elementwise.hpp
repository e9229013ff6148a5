// The elementwise loop: loss(y_i, p_i) for every i, with any combination of the
// value (summed and/or per element), the gradient and the Hessian diagonal in one
// pass over the data. A functor F<T> supplies value(y, p), grad(y, p), hess(y, p)
// and its cost class; it never sees a pointer.
#pragma once
#include "blocked_sum.hpp"
#include "kernel_table.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

template <class T>
struct ElementwiseView {
  const T* y;
  const T* p;
  const T* w;
  T* value;
  T* grad;
  T* hess;
};

// Exactly kLanes elements: the SIMD body. Every element goes through this code,
// tails included, so an element's result does not depend on its position.
template <unsigned M, class F, class T>
FASTLOSS_INLINE void elementwise_lanes(const F& f, const ElementwiseView<T>& v, T scale,
                                       double* acc) {
#pragma omp simd
  for (int j = 0; j < kLanes; ++j) {
    const T y = v.y[j], p = v.p[j];
    const T w = (M & kWeighted) ? v.w[j] : T(1);
    if constexpr ((M & (kSum | kValue)) != 0) {
      T loss = f.value(y, p);
      if constexpr ((M & kWeighted) != 0) loss *= w;
      if constexpr ((M & kValue) != 0) v.value[j] = loss;
      if constexpr ((M & kSum) != 0) acc[j] += static_cast<double>(loss);
    }
    if constexpr ((M & kGrad) != 0) v.grad[j] = f.grad(y, p) * (w * scale);
    if constexpr ((M & kHess) != 0) v.hess[j] = f.hess(y, p) * (w * scale);
  }
}

template <unsigned M, class T>
FASTLOSS_INLINE ElementwiseView<T> offset(const ElementwiseView<T>& v, index_t i) {
  return {v.y + i, v.p + i, (M & kWeighted) ? v.w + i : nullptr,
          (M & kValue) ? v.value + i : nullptr, (M & kGrad) ? v.grad + i : nullptr,
          (M & kHess) ? v.hess + i : nullptr};
}

template <unsigned M, class F, class T>
double elementwise_block(const F& f, const ElementwiseView<T>& v, index_t len, T scale) {
  alignas(64) double acc[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= len; i += kLanes) elementwise_lanes<M>(f, offset<M>(v, i), scale, acc);
  const index_t rest = len - i;
  if (rest > 0) {
    // The tail runs through the same SIMD body on padded copies (padding repeats
    // the tail's first element, so it is as finite as the data), and only the
    // valid lanes are kept.
    alignas(64) T y[kLanes], p[kLanes], w[kLanes], value[kLanes], grad[kLanes], hess[kLanes];
    alignas(64) double tail_acc[kLanes] = {};
    const ElementwiseView<T> src = offset<M>(v, i);
    for (int j = 0; j < kLanes; ++j) {
      const index_t k = j < rest ? j : 0;
      y[j] = src.y[k];
      p[j] = src.p[k];
      w[j] = (M & kWeighted) ? src.w[k] : T(1);
    }
    elementwise_lanes<M>(f, ElementwiseView<T>{y, p, w, value, grad, hess}, scale, tail_acc);
    for (index_t j = 0; j < rest; ++j) {
      if constexpr ((M & kValue) != 0) src.value[j] = value[j];
      if constexpr ((M & kGrad) != 0) src.grad[j] = grad[j];
      if constexpr ((M & kHess) != 0) src.hess[j] = hess[j];
      acc[j] += tail_acc[j];
    }
  }
  return fold_lanes(acc);
}

template <template <class> class F, class T, unsigned M>
double elementwise(const ElementwiseCall& c) {
  const F<T> f(c.params);
  const T* y = static_cast<const T*>(c.y);
  const T* p = static_cast<const T*>(c.p);
  const T* w = static_cast<const T*>(c.w);
  T* value = static_cast<T*>(c.value);
  T* grad = static_cast<T*>(c.grad);
  T* hess = static_cast<T*>(c.hess);
  const T scale = static_cast<T>(c.scale);
  const int threads = c.n >= c.parallel_threshold[F<T>::cost] ? c.threads : 1;
  return blocked_sum(c.n, threads, [&](index_t start, index_t len) {
    const ElementwiseView<T> view{
        c.y_advances ? y + start : y,
        c.p_advances ? p + start : p,
        (M & kWeighted) ? (c.w_advances ? w + start : w) : nullptr,
        (M & kValue) ? value + start : nullptr,
        (M & kGrad) ? grad + start : nullptr,
        (M & kHess) ? hess + start : nullptr};
    return elementwise_block<M>(f, view, len, scale);
  });
}

template <template <class> class F, class T, unsigned... Modes>
void fill_modes(ElementwiseFn* fn) {
  ((fn[Modes] = &elementwise<F, T, Modes>, fn[Modes | kWeighted] = &elementwise<F, T, Modes | kWeighted>),
   ...);
}

// The modes a binding may ask for; the others stay nullptr in the table.
template <template <class> class F>
void fill_elementwise(ElementwiseKernels& k) {
  fill_modes<F, float, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF32]);
  fill_modes<F, double, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF64]);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
