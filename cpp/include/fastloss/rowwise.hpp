// The row-wise loop: losses over a class axis (categorical and sparse categorical
// cross-entropy, KL divergence), with the per-example value, the gradient and the
// Hessian diagonal with respect to every class's logit or probability in one pass
// over the data (two over a row's classes for logits: the max, then the rest).
//
// Every loss here is  sum_c a_c (lse - z_c) (+ sum_c t_c log t_c for KL) with
// a_c = class_weight_c * t_c, t the (smoothed) targets, z the logits, or
// -sum_c a_c log clip(p_c, eps, 1) for probabilities. With A = sum_c a_c:
//   logits:        loss = sum_c a_c (m - z_c) + A log s,  m = max z, s = sum exp(z_c - m)
//                  grad_c = A p_c - a_c,  hess_c = A p_c (1 - p_c),  p = softmax(z)
//   probabilities: grad_c = -a_c / p_c,   hess_c = a_c / p_c^2   (0 where clipped)
// Writing the loss with m - z_c >= 0 (not A lse - sum a_c z_c) avoids the
// cancellation that loses all digits for logits like [1000, 1001, 1002] in float32.
// Terms with a_c = 0 contribute 0 even for z_c = -inf (masked logits).
//
// Two layouts: inner == 1 (the usual (N, C)): one example at a time, SIMD over
// its classes; inner > 1 ((N, C, H, W) with the class axis 1): kLanes examples
// at a time, SIMD across them, looping over the classes.
#pragma once
#include <atomic>
#include <limits>

#include "blocked_sum.hpp"
#include "kernel_table.hpp"
#include "simd_math.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

struct CceLogits { static constexpr bool logits = true, sparse = false, kl = false; };
struct CceProbs { static constexpr bool logits = false, sparse = false, kl = false; };
struct SparseLogits { static constexpr bool logits = true, sparse = true, kl = false; };
struct SparseProbs { static constexpr bool logits = false, sparse = true, kl = false; };
struct KlLogits { static constexpr bool logits = true, sparse = false, kl = true; };
struct KlProbs { static constexpr bool logits = false, sparse = false, kl = true; };

template <class V, unsigned M, class T>
struct Rows {
  const T* p;
  const T* y;
  const std::int64_t* labels;
  const T* w;
  const T* cw;
  index_t classes, inner;
  T keep, add, eps;  // smoothing t = y keep + add; clip bound
  bool has_ignore;
  std::int64_t ignore;
  bool class_weighted;
  T* value;
  T* grad;
  T* hess;
  T scale;

  static constexpr bool kDerivs = (M & (kGrad | kHess)) != 0;
  static constexpr bool kLoss = (M & (kSum | kValue | kGrad | kHess)) != 0;

  // The label of example e, or -1 when it is ignored (or, defensively, out of range:
  // the binding has already rejected those, and a label is never used to read
  // outside the row).
  FASTLOSS_INLINE std::int64_t label(index_t e) const {
    const std::int64_t l = labels[e];
    return ((has_ignore && l == ignore) || l < 0 || l >= classes) ? -1 : l;
  }

  FASTLOSS_INLINE T target(index_t c, T y_c, std::int64_t lab) const {
    if constexpr (V::sparse) return (c == lab ? keep : T(0)) + add;
    else return y_c * keep + add;
  }

  // One example of a contiguous row (inner == 1): {w * loss, w * denominator}.
  Sum2 row(index_t e, int& invalid) const {
    const index_t C = classes;
    const T* z = p + e * C;
    const T* ye = V::sparse ? nullptr : y + e * C;
    T* g = (M & kGrad) ? grad + e * C : nullptr;
    T* h = (M & kHess) ? hess + e * C : nullptr;
    const T we = (M & kWeighted) ? w[e] : T(1);
    std::int64_t lab = 0;
    if constexpr (V::sparse) {
      lab = label(e);
      if (lab < 0) {  // ignored: contributes nothing, derivatives 0
        if constexpr ((M & kValue) != 0) value[e] = T(0);
        for (index_t c = 0; c < C; ++c) {
          if constexpr ((M & kGrad) != 0) g[c] = T(0);
          if constexpr ((M & kHess) != 0) h[c] = T(0);
        }
        return {};
      }
    }
    // The mean's denominator: w, or w * sum_c class_weight_c y_c (targets before smoothing).
    double denom = 1.0;
    if (class_weighted) {
      if constexpr (V::sparse) {
        denom = static_cast<double>(cw[lab]);
      } else {
        T sy = T(0);
#pragma omp simd reduction(+ : sy)
        for (index_t c = 0; c < C; ++c) sy += cw[c] * ye[c];
        denom = static_cast<double>(sy);
      }
    }
    denom *= static_cast<double>(we);
    if constexpr (!kLoss) return {0.0, denom};

    T loss;
    const T ws = we * scale;
    if constexpr (V::logits) {
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (index_t c = 0; c < C; ++c) m = z[c] > m ? z[c] : m;
      // s - 1 = sum of exp(z_c - m) over the classes below the max (+ extra ties), kept
      // apart from the 1 of the max so that log s = log1p(s - 1) keeps its digits
      // when one class dominates (a small loss in float32).
      T rest = T(0), ties = T(0), a_sum = T(0), dist = T(0), ent = T(0);
      int bad = 0;
#pragma omp simd reduction(+ : rest, ties, a_sum, dist, ent) reduction(| : bad)
      for (index_t c = 0; c < C; ++c) {
        const T e_c = math::exp(z[c] - m);
        rest += z[c] == m ? T(0) : e_c;
        ties += z[c] == m ? T(1) : T(0);
        const T t = target(c, V::sparse ? T(0) : ye[c], lab);
        const T a = cw[c] * t;
        a_sum += a;
        dist += a == T(0) ? T(0) : a * (m - z[c]);
        if constexpr (V::kl) {
          ent += t > T(0) ? t * math::log(t) : T(0);
          bad |= t < T(0);
        }
        if constexpr ((M & kGrad) != 0) g[c] = e_c;  // kept for the derivative pass
      }
      invalid |= bad;
      const T s_minus_1 = rest + (ties - T(1));
      loss = dist + a_sum * math::log1p(s_minus_1) + ent;
      if constexpr (kDerivs) {
        const T inv_s = T(1) / (T(1) + s_minus_1);
#pragma omp simd
        for (index_t c = 0; c < C; ++c) {
          const T p_c = g[c] * inv_s;
          const T a = cw[c] * target(c, V::sparse ? T(0) : ye[c], lab);
          g[c] = (a_sum * p_c - a) * ws;
          if constexpr ((M & kHess) != 0) h[c] = a_sum * p_c * (T(1) - p_c) * ws;
        }
      }
    } else if (V::sparse && keep + add == T(1) && add == T(0)) {
      // Class labels without smoothing: only the label's probability matters.
      const T q = z[lab];
      invalid |= q < T(0);
      const T qc = math::clamp(q, eps, T(1));
      const T a = cw[lab];
      loss = -a * math::log(qc);
      if constexpr (kDerivs) {
        for (index_t c = 0; c < C; ++c) {
          if constexpr ((M & kGrad) != 0) g[c] = T(0);
          if constexpr ((M & kHess) != 0) h[c] = T(0);
        }
        const bool clipped = q < eps || q > T(1);
        if constexpr ((M & kGrad) != 0) g[lab] = clipped ? T(0) : -a / qc * ws;
        if constexpr ((M & kHess) != 0) h[lab] = clipped ? T(0) : a / (qc * qc) * ws;
      }
    } else {
      T l = T(0), ent = T(0);
      int bad = 0;
#pragma omp simd reduction(+ : l, ent) reduction(| : bad)
      for (index_t c = 0; c < C; ++c) {
        const T q = z[c];
        bad |= q < T(0);
        const T qc = math::clamp(q, eps, T(1));
        const T t = target(c, V::sparse ? T(0) : ye[c], lab);
        const T a = cw[c] * t;
        l += a == T(0) ? T(0) : -a * math::log(qc);
        if constexpr (V::kl) {
          ent += t > T(0) ? t * math::log(t) : T(0);
          bad |= t < T(0);
        }
        if constexpr (kDerivs) {
          const bool clipped = q < eps || q > T(1);
          if constexpr ((M & kGrad) != 0) g[c] = clipped ? T(0) : -a / qc * ws;
          if constexpr ((M & kHess) != 0) h[c] = clipped ? T(0) : a / (qc * qc) * ws;
        }
      }
      invalid |= bad;
      loss = l + ent;
    }
    if constexpr ((M & kValue) != 0) value[e] = we * loss;
    return {static_cast<double>(we * loss), denom};
  }

  // kLanes examples (o, i0 .. i0 + valid - 1) of a strided layout (inner > 1),
  // SIMD across them. Full: all kLanes are valid (no index clamping, plain loads).
  template <bool Full>
  void lanes(index_t o, index_t i0, int valid, double* acc_loss, double* acc_denom, int* invalid) const {
    const index_t C = classes;
    const index_t base = o * C * inner;
    alignas(64) index_t at[kLanes];  // offset of each lane's example within a class plane
    for (int j = 0; j < kLanes; ++j) at[j] = Full ? i0 + j : i0 + (j < valid ? j : valid - 1);
    const index_t e0 = o * inner;  // per-example index of (o, 0)
    alignas(64) T we[kLanes], m[kLanes], rest[kLanes], ties[kLanes], a_sum[kLanes], dist[kLanes], ent[kLanes],
        sy[kLanes];
    alignas(64) std::int64_t lab[kLanes];
    for (int j = 0; j < kLanes; ++j) {
      we[j] = (M & kWeighted) ? w[e0 + at[j]] : T(1);
      lab[j] = V::sparse ? label(e0 + at[j]) : 0;
      m[j] = -std::numeric_limits<T>::infinity();
      rest[j] = ties[j] = a_sum[j] = dist[j] = ent[j] = sy[j] = T(0);
    }
    auto y_at = [&](index_t c, int j) { return V::sparse ? T(0) : y[base + c * inner + at[j]]; };
    auto z_at = [&](index_t c, int j) { return p[base + c * inner + at[j]]; };
    int bad = 0;
    if constexpr (V::logits) {
      for (index_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) m[j] = z_at(c, j) > m[j] ? z_at(c, j) : m[j];
      }
    }
    for (index_t c = 0; c < C; ++c) {
      const T cwc = cw[c];
#pragma omp simd reduction(| : bad)
      for (int j = 0; j < kLanes; ++j) {
        const T zc = z_at(c, j), yc = y_at(c, j);
        const T t = V::sparse ? ((c == lab[j] ? keep : T(0)) + add) : yc * keep + add;
        const T a = cwc * t;
        if (class_weighted) sy[j] += V::sparse ? (c == lab[j] ? cwc : T(0)) : cwc * yc;
        if constexpr (kLoss) {
          a_sum[j] += a;
          if constexpr (V::logits) {
            const T e_c = math::exp(zc - m[j]);
            rest[j] += zc == m[j] ? T(0) : e_c;  // log s = log1p(s - 1), as in row()
            ties[j] += zc == m[j] ? T(1) : T(0);
            dist[j] += a == T(0) ? T(0) : a * (m[j] - zc);
          } else {
            bad |= zc < T(0);
            dist[j] += a == T(0) ? T(0) : -a * math::log(math::clamp(zc, eps, T(1)));
          }
          if constexpr (V::kl) {
            ent[j] += t > T(0) ? t * math::log(t) : T(0);
            bad |= t < T(0);
          }
        }
      }
    }
    *invalid |= bad;
    alignas(64) T loss[kLanes], logs[kLanes];
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      logs[j] = V::logits ? math::log1p(rest[j] + (ties[j] - T(1))) : T(0);
      loss[j] = dist[j] + a_sum[j] * logs[j] + ent[j];
    }
    for (int j = 0; j < valid; ++j) {
      const bool ignored = V::sparse && lab[j] < 0;
      const double denom = ignored ? 0.0 : (class_weighted ? static_cast<double>(sy[j]) : 1.0);
      const T l = ignored ? T(0) : loss[j];
      if constexpr ((M & kValue) != 0) value[e0 + at[j]] = we[j] * l;
      acc_loss[j] += static_cast<double>(we[j] * l);
      acc_denom[j] += denom * static_cast<double>(we[j]);
    }
    if constexpr (kDerivs) {
      for (index_t c = 0; c < C; ++c) {
        const T cwc = cw[c];
        alignas(64) T gv[kLanes], hv[kLanes];
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
          const T zc = z_at(c, j);
          const T t = V::sparse ? ((c == lab[j] ? keep : T(0)) + add) : y_at(c, j) * keep + add;
          const T a = cwc * t;
          const T ws = (V::sparse && lab[j] < 0) ? T(0) : we[j] * scale;
          if constexpr (V::logits) {
            const T p_c = math::exp(zc - m[j] - logs[j]);
            gv[j] = (a_sum[j] * p_c - a) * ws;
            hv[j] = a_sum[j] * p_c * (T(1) - p_c) * ws;
          } else {
            const T qc = math::clamp(zc, eps, T(1));
            const bool clipped = zc < eps || zc > T(1);
            gv[j] = clipped ? T(0) : -a / qc * ws;
            hv[j] = clipped ? T(0) : a / (qc * qc) * ws;
          }
        }
        for (int j = 0; j < (Full ? kLanes : valid); ++j) {
          if constexpr ((M & kGrad) != 0) grad[base + c * inner + at[j]] = gv[j];
          if constexpr ((M & kHess) != 0) hess[base + c * inner + at[j]] = hv[j];
        }
      }
    }
  }
};

template <class V, class T, unsigned M>
RowwiseResult rowwise(const RowwiseCall& call) {
  const T smoothing = static_cast<T>(call.label_smoothing);
  const Rows<V, M, T> r{static_cast<const T*>(call.p),
                        static_cast<const T*>(call.y),
                        call.labels,
                        static_cast<const T*>(call.w),
                        static_cast<const T*>(call.class_weight),
                        call.classes,
                        call.inner,
                        T(1) - smoothing,
                        static_cast<T>(call.label_smoothing / static_cast<double>(call.classes)),
                        static_cast<T>(call.eps),
                        call.has_ignore_index,
                        call.ignore_index,
                        call.class_weighted,
                        static_cast<T*>(call.value),
                        static_cast<T*>(call.grad),
                        static_cast<T*>(call.hess),
                        static_cast<T>(call.scale)};
  const index_t C = call.classes, examples = call.outer * call.inner;
  const int threads = examples * C >= call.parallel_threshold[kTranscendental] ? call.threads : 1;
  std::atomic<bool> any_invalid{false};
  Sum2 total;
  if (C == 0 || examples == 0) {
    total = {};
  } else if (call.inner == 1) {
    const index_t rows_per_block = kBlock / C > 0 ? kBlock / C : 1;
    total = blocked_sum(examples, threads, [&](index_t start, index_t len) {
      double loss = 0.0, denom = 0.0;
      int invalid = 0;
      for (index_t e = start; e < start + len; ++e) {
        const Sum2 s = r.row(e, invalid);
        loss += s.first;
        denom += s.second;
      }
      if (invalid) any_invalid.store(true, std::memory_order_relaxed);
      return Sum2{loss, denom};
    }, rows_per_block);
  } else {
    // Units: (o, chunk of kLanes positions along inner).
    const index_t chunks = (call.inner + kLanes - 1) / kLanes;
    const index_t units_per_block = kBlock / (C * kLanes) > 0 ? kBlock / (C * kLanes) : 1;
    total = blocked_sum(call.outer * chunks, threads, [&](index_t start, index_t len) {
      alignas(64) double acc_loss[kLanes] = {}, acc_denom[kLanes] = {};
      int invalid = 0;
      for (index_t u = start; u < start + len; ++u) {
        const index_t o = u / chunks, i0 = (u % chunks) * kLanes;
        const index_t valid = call.inner - i0 < kLanes ? call.inner - i0 : kLanes;
        if (valid == kLanes) r.template lanes<true>(o, i0, kLanes, acc_loss, acc_denom, &invalid);
        else r.template lanes<false>(o, i0, static_cast<int>(valid), acc_loss, acc_denom, &invalid);
      }
      if (invalid) any_invalid.store(true, std::memory_order_relaxed);
      return Sum2{fold_lanes(acc_loss), fold_lanes(acc_denom)};
    }, units_per_block);
  }
  if (call.invalid != nullptr) *call.invalid = any_invalid.load();
  return {total.first, total.second};
}

template <class V, class T, unsigned... Modes>
void fill_row_modes(RowwiseFn* fn) {
  ((fn[Modes] = &rowwise<V, T, Modes>, fn[Modes | kWeighted] = &rowwise<V, T, Modes | kWeighted>), ...);
}

template <class V>
void fill_rowwise(RowwiseKernels& k) {
  fill_row_modes<V, float, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess, kDenominator>(
      k.fn[kF32]);
  fill_row_modes<V, double, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess, kDenominator>(
      k.fn[kF64]);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
