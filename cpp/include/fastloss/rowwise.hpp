// The row-wise loop: losses over a class axis (categorical and sparse categorical
// cross-entropy, KL divergence), with the per-example value, the gradient and the
// Hessian diagonal with respect to every class's logit or probability in one pass
// over the data (two over a row's classes for logits: the max, then the rest).
//
// Every loss here is  sum_c a_c (lse - z_c) (KL adds sum_c t_c log t_c; it is summed
// term by term, t_c (log t_c - log q_c), so that a small divergence keeps its digits) with
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
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include <immintrin.h>

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

// n zeros at dst; stream: with non-temporal stores from the first 16-byte boundary
// (no read of each line before it is written; see kStreamBytes).
template <class T>
void zero_fill(T* dst, index_t n, bool stream) {
#if defined(__SSE2__)
  if (stream) {
    index_t i = 0;
    for (; i < n && !aligned16(dst + i); ++i) dst[i] = T(0);
    for (; i + static_cast<index_t>(16 / sizeof(T)) <= n; i += 16 / sizeof(T))
      _mm_stream_ps(reinterpret_cast<float*>(dst + i), _mm_setzero_ps());
    for (; i < n; ++i) dst[i] = T(0);
    _mm_sfence();
    return;
  }
#endif
  (void)stream;
  std::memset(dst, 0, static_cast<size_t>(n) * sizeof(T));
}

// log x of a ratio or a target x >= 0, as log(x + the smallest normal number): x
// itself from 2^-101 (float) or 2^-968 (double) on, and a normal number for x = 0,
// which is a special case of libmvec's log, handed lane by lane to the scalar log (KL
// against one-hot targets was 3x-4x slower than against dense ones; see ClippedLogs).
template <class T>
FASTLOSS_INLINE T log_plus_tiny(T x) {
  return math::log(x + std::numeric_limits<T>::min());
}

// The KL term t log(t / q), one log per term. The rounded quotient r = t / q would
// round away a small divergence (log r ~ r - 1: float64 KL with C = 5 measured 13.9
// ulp off), so its remainder t - r q (exact: in float64 for float, a 48-bit product;
// with an fma or Dekker's product for double) is taken back: log(t / q) = log r +
// (t - r q) / t to first order (the next term is below 2^-48 resp. 2^-106 relative),
// and so t log(t / q) = t log r + (t - r q), with no second division (KL from
// probabilities, C = 1000, 1e6, one thread: float64 2.27 -> 2.01 ms). float: a
// float32 log, a quarter of the time of libmvec's float64 log on this CPU.
template <class T>
FASTLOSS_INLINE T kl_term(T t, T q) {
  const T r = t / q;
  T rem;
  if constexpr (sizeof(T) == 4) {
    rem = static_cast<float>(static_cast<double>(t) - static_cast<double>(r) * static_cast<double>(q));
  } else {
    double hi, lo;
    math::exact_product(r, q, hi, lo);
    rem = (t - hi) - lo;
  }
  // (fused where there is an fma: t * log r + rem with two roundings measured 13%
  // slower in float64 at C = 10, for reasons not found; t (log r + rem / t) as fast)
  // A target of 0 gives 0 log(tiny) + 0 = 0; a target below the bounds of
  // log_plus_tiny, a term below 2^-90 either way.
  return math::mul_add(t, log_plus_tiny(r), rem);
}

template <class V, unsigned M, class T>
struct Rows {
  const T* p;
  const T* y;
  const std::int64_t* labels;
  const T* w;
  const T* cw;
  index_t classes, inner;
  // smoothing t = y keep + add; clip bound. (The label's target is keep * (c == label),
  // not c == label ? keep : 0: GCC makes that a masked load of the member, which
  // it cannot vectorize, and sparse CE from logits ran scalar.)
  T keep, add, eps;
  bool has_ignore;
  std::int64_t ignore;
  bool class_weighted;
  T* value;
  T* grad;
  T* hess;
  T scale;
  // log of a probability clipped to [eps, 1] (see math::ClippedLogs). Loops use a
  // local copy: a member read under a condition becomes a masked load of *this,
  // which GCC does not vectorize.
  math::ClippedLogs<T> clip_logs;

  static constexpr bool kDerivs = (M & (kGrad | kHess)) != 0;
  static constexpr bool kLoss = (M & (kSum | kValue | kGrad | kHess)) != 0;

  // The label of example e, or -1 when it is ignored or out of range. The range test
  // is what keeps reads inside the row and the class weights: a call that writes
  // nothing runs before the binding checks the labels (it checks them after the
  // kernel, or trusts label_rows' check).
  FASTLOSS_INLINE std::int64_t label(index_t e) const {
    const std::int64_t l = labels[e];
    return ((has_ignore && l == ignore) || l < 0 || l >= classes) ? -1 : l;
  }

  // Label smoothing in effect (in the dtype): every class has a target. Without it,
  // sparse labels of probabilities read only the label's probability.
  FASTLOSS_INLINE bool smoothed() const { return keep != T(1) || add != T(0); }

  FASTLOSS_INLINE T target(index_t c, T y_c, std::int64_t lab) const {
    if constexpr (V::sparse) return keep * static_cast<T>(c == lab) + add;
    else return y_c * keep + add;
  }

  // The per-class sums of one row, over kLanes classes c0 .. c0 + kLanes - 1 of
  // which the first `valid` count, into float64 lane accumulators acc[k][lane]
  // (explicit lanes: GCC does not vectorize `omp simd` reductions of these loops):
  //   logits: 0 rest = sum exp(z_c - m) below the max, 1 ties (classes at the max),
  //           2 a_sum = sum a_c, 3 dist = sum a_c (m - z_c), 5 bad;
  //   probabilities: 2 a_sum, 3 dist = -sum a_c log clip(p_c) (KL: sum t (log t - log q)), 5 bad.
  // For logits, exp(z_c - m) is stored in g (when given) for the derivative pass.
  // Label: sparse logits without smoothing, where a_c is 0 but at the label: only
  // sums 0 and 1 here (row() adds the label's term). Fewer float64 lane accumulators
  // to keep across the vector exp, which clobbers every vector register: with all
  // six, spilling them took most of the time of sparse CE from logits.
  // Pre: a full chunk whose exp(z_c - m) row_sums has taken: ev holds them, 0 for the
  // classes at the max, and row_sums has counted the ties and stored g.
  // Pre, probabilities: lv holds the chunk's log terms, log_pass() below.
  template <bool Store, bool Label = false, bool Pre = false>
  FASTLOSS_INLINE void chunk(const T* z, const T* yv, const T* cwv, T* g, index_t c0, T m, std::int64_t lab,
                             int valid, double (*acc)[kLanes], const T* ev = nullptr,
                             const T* lv = nullptr) const {
    const math::ClippedLogs<T> cl = clip_logs;
    // the label's lane in this chunk (-1 or kLanes if elsewhere): an int compare, which
    // vectorizes where a 64-bit class index compare does not. Clamped with min and max,
    // not chosen with ?: , which GCC sank into the loop as a select on a scalar
    // condition and then did not vectorize (sparse CE from logits ran scalar).
    const int lab_lane = static_cast<int>(
        std::min<std::int64_t>(std::max<std::int64_t>(lab - c0, -1), static_cast<std::int64_t>(kLanes)));
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      const bool on = j < valid;
      const T zc = z[j];
      const T t = V::sparse ? keep * static_cast<T>(j == lab_lane) + add : yv[j] * keep + add;
      const T a = cwv[j] * t;
      if constexpr (!Label) acc[2][j] += on ? static_cast<double>(a) : 0.0;
      if constexpr (V::logits) {
        if constexpr (Pre) {  // ev: 0 at the max; the ties and g are done (row_sums)
          acc[0][j] += static_cast<double>(ev[j]);
        } else {
          const T e_c = math::exp_nonpos(zc - m);
          acc[0][j] += on && zc != m ? static_cast<double>(e_c) : 0.0;
          acc[1][j] += on && zc == m ? 1.0 : 0.0;
          if constexpr (Store) g[j] = e_c;
        }
        if constexpr (!Label) acc[3][j] += on && a != T(0) ? static_cast<double>(a * (m - zc)) : 0.0;
        if constexpr (V::kl) acc[5][j] += on && t < T(0) ? 1.0 : 0.0;  // P negative
      } else if constexpr (V::kl) {
        // KL term by term, t (log t - log q): summing the cross-entropy and the
        // entropy apart would cancel all the digits of a small divergence.
        const T term = Pre ? lv[j] : kl_term(t, math::clamp(zc, eps, T(1)));
        acc[3][j] += on && t > T(0) ? static_cast<double>(term) : 0.0;
        acc[5][j] += on && ((zc < T(0)) | (t < T(0))) ? 1.0 : 0.0;  // q or P negative
      } else {
        // (transcendentals outside the conditionals: a call under a condition is not vectorized)
        const T log_q = Pre ? lv[j] : cl.log_of(zc);
        acc[3][j] += on && a != T(0) ? static_cast<double>(-a * log_q) : 0.0;
        acc[5][j] += on && zc < T(0) ? 1.0 : 0.0;
      }
    }
  }

  // The log terms of chunks * kLanes classes of probabilities z (targets yv), as chunk() takes them
  // (a vector log call clobbers every vector register: in a loop of its own, no
  // accumulators are spilled around it).
  FASTLOSS_INLINE void log_pass(const T* z, const T* yv, index_t chunks, T* out) const {
    const math::ClippedLogs<T> cl = clip_logs;
    const T keep_ = keep, add_ = add, lo = eps;
    for (index_t k = 0; k < chunks * kLanes; k += kLanes) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) {
        if constexpr (V::kl) out[k + j] = kl_term(yv[k + j] * keep_ + add_, math::clamp(z[k + j], lo, T(1)));
        else out[k + j] = cl.log_of(z[k + j]);
      }
    }
  }

  // All chunks of a row: full ones in place, the last through padded copies (so
  // every class goes through the same SIMD code). Returns the folded sums.
  template <bool Store, bool Label = false>
  void row_sums(const T* z, const T* ye, T* g, T m, std::int64_t lab, double* sums) const {
    const index_t C = classes;
    alignas(64) double acc[6][kLanes] = {};
    index_t c0 = 0;
    if constexpr (V::logits) {
      // The exps of up to kExpChunks full chunks first (with g and the count of the
      // classes at the max), into a buffer, then the chunks' sums: a vector exp inside
      // chunk() clobbers every vector register, so that the lane accumulators were
      // spilled to the stack and reloaded around each call. (Sparse CE from logits,
      // C = 1000 float32, 1e6, one thread: 689 -> 626 us; 533 us with the inline float
      // exp, math::exp_nonpos.) The same exps and sums in the same order, so the same bits.
      constexpr index_t kExpChunks = 16;
      alignas(64) T eb[kExpChunks * kLanes];
      alignas(64) int ties[kLanes] = {};
      const T mm = m;
      while (c0 + kLanes <= C) {
        const index_t full = (C - c0) / kLanes, chunks = full < kExpChunks ? full : kExpChunks;
        const T* const zc = z + c0;
        T* const gc = Store ? g + c0 : nullptr;
        for (index_t k = 0; k < chunks; ++k) {
          const index_t o = k * kLanes;
#pragma omp simd
          for (int j = 0; j < kLanes; ++j) {
            const T zv = zc[o + j];
            const T e_c = math::exp_nonpos(zv - mm);
            if constexpr (Store) gc[o + j] = e_c;
            eb[o + j] = zv != mm ? e_c : T(0);
            ties[j] += zv == mm ? 1 : 0;
          }
        }
        for (index_t k = 0; k < chunks; ++k, c0 += kLanes)
          chunk<Store, Label, true>(z + c0, V::sparse ? nullptr : ye + c0, cw + c0, nullptr, c0, m, lab, kLanes, acc,
                                    eb + k * kLanes);
      }
      for (int j = 0; j < kLanes; ++j) acc[1][j] += static_cast<double>(ties[j]);
    } else {
      // The same for the logs of probabilities: the log terms of up to kLogChunks full
      // chunks first (KL: t log(t / q); else log clip(q)), then the chunks' sums (C =
      // 1000, 1e6, one thread: CCE 0.93 -> 0.79 ms float32, 1.76 -> 1.43 ms float64;
      // KL float64 2.27 -> 2.01 ms). Rows of one full chunk (16 to 31 classes) keep the
      // log in chunk(), as do the last full chunk of some rows and the padded tail: the
      // same vector log either way (test_rowwise_class_position_bits).
      constexpr index_t kLogChunks = 16;
      alignas(64) T lb[kLogChunks * kLanes];
      while (C - c0 >= 2 * kLanes) {
        const index_t full = (C - c0) / kLanes, chunks = full < kLogChunks ? full : kLogChunks;
        log_pass(z + c0, V::sparse ? nullptr : ye + c0, chunks, lb);
        for (index_t k = 0; k < chunks; ++k, c0 += kLanes)
          chunk<Store, Label, true>(z + c0, V::sparse ? nullptr : ye + c0, cw + c0, Store ? g + c0 : nullptr, c0, m,
                                    lab, kLanes, acc, nullptr, lb + k * kLanes);
      }
      for (; c0 + kLanes <= C; c0 += kLanes)
        chunk<Store, Label>(z + c0, V::sparse ? nullptr : ye + c0, cw + c0, Store ? g + c0 : nullptr, c0, m, lab,
                            kLanes, acc);
    }
    const int valid = static_cast<int>(C - c0);
    if (valid > 0) {
      alignas(64) T zt[kLanes], yt[kLanes], cwt[kLanes], gt[kLanes];
      for (int j = 0; j < kLanes; ++j) {
        const bool on = j < valid;
        zt[j] = on ? z[c0 + j] : (V::logits ? m : T(1));  // padding contributes nothing
        yt[j] = on && !V::sparse ? ye[c0 + j] : T(0);
        cwt[j] = on ? cw[c0 + j] : T(0);
      }
      chunk<Store, Label>(zt, yt, cwt, gt, c0, m, lab, valid, acc);
      if constexpr (Store)
        for (int j = 0; j < valid; ++j) g[c0 + j] = gt[j];
    }
    for (int k = 0; k < 6; ++k) sums[k] = fold_lanes(acc[k]);
    if constexpr (Label) {  // the label's terms, as chunk() would add them (the other lanes add 0)
      const T a = cw[lab] * keep;
      sums[2] = static_cast<double>(a);
      sums[3] = a != T(0) ? static_cast<double>(a * (m - z[lab])) : 0.0;
    }
  }

  // KL of a row of logits term by term, sum_c t_c (log t_c - log q_c) with
  // log q_c = (z_c - m) - log s (see chunk() for why term by term).
  // The last, partial chunk goes through the same SIMD body on padded copies (targets
  // 0, which add nothing), out of line (see elementwise_tail): a scalar loop over it
  // took glibc's scalar log, up to 15 calls a row (C = 111, one thread: 515 ns a row
  // in float32 against 358 ns for C = 112).
  static FASTLOSS_INLINE void kl_logits_lanes(const T* z, const T* t, T m, T log_s, double* acc) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      const T tc = t[j];
      const T log_t = log_plus_tiny(tc);
      acc[j] += tc > T(0) ? static_cast<double>(tc * (log_t - ((z[j] - m) - log_s))) : 0.0;
    }
  }
  [[gnu::noinline]] static void kl_logits_tail(const T* z, const T* t, T m, T log_s, double* acc) {
    kl_logits_lanes(z, t, m, log_s, acc);
  }
  T kl_logits_row(const T* z, const T* t, T m, T log_s) const {
    alignas(64) double acc[kLanes] = {};
    index_t c0 = 0;
    for (; c0 + kLanes <= classes; c0 += kLanes) kl_logits_lanes(z + c0, t + c0, m, log_s, acc);
    const index_t rest = classes - c0;
    if (rest > 0) {
      alignas(64) T zt[kLanes], tt[kLanes];
      for (int j = 0; j < kLanes; ++j) {
        zt[j] = j < rest ? z[c0 + j] : m;
        tt[j] = j < rest ? t[c0 + j] : T(0);
      }
      kl_logits_tail(zt, tt, m, log_s, acc);
    }
    return static_cast<T>(fold_lanes(acc));
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
        if constexpr ((M & kValue) != 0) value[e] = T(0);  // its probabilities are not read
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
        double sy = 0.0;
        const T* const cwp = cw;  // a local: GCC does not vectorize a loop that reloads the member
#pragma omp simd reduction(+ : sy)
        for (index_t c = 0; c < C; ++c) sy += static_cast<double>(cwp[c] * ye[c]);
        denom = sy;
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
      double sums[6];
      if (V::sparse && add == T(0)) row_sums<(M & kGrad) != 0, V::sparse>(z, ye, g, m, lab, sums);
      else row_sums<(M & kGrad) != 0>(z, ye, g, m, lab, sums);
      invalid |= sums[5] > 0.0;
      const double s_minus_1 = sums[0] + (sums[1] - 1.0), a_sum = sums[2];
      if constexpr (V::kl) {
        loss = kl_logits_row(z, ye, m, static_cast<T>(std::log1p(s_minus_1)));
      } else {
        loss = static_cast<T>(sums[3] + a_sum * std::log1p(s_minus_1));
      }
      if constexpr (kDerivs) {
        const T inv_s = static_cast<T>(1.0 / (1.0 + s_minus_1));
        const T a_total = static_cast<T>(a_sum);
#pragma omp simd
        for (index_t c = 0; c < C; ++c) {
          const T p_c = g[c] * inv_s;
          const T a = cw[c] * target(c, V::sparse ? T(0) : ye[c], lab);
          g[c] = (a_total * p_c - a) * ws;
          if constexpr ((M & kHess) != 0) h[c] = a_total * p_c * (T(1) - p_c) * ws;
        }
      }
    } else {
      // (Sparse labels of probabilities without smoothing never get here: rowwise()
      // sends them to label_block, which reads only the labels' probabilities.)
      double sums[6];
      row_sums<false>(z, ye, nullptr, T(0), lab, sums);
      if constexpr (kDerivs) {
        // locals, and a bitwise |: members read under a condition (clamp) and a
        // short-circuit kept GCC from vectorizing this loop
        const T lo = eps, keep_ = keep, add_ = add;
        const T* const cwp = cw;
#pragma omp simd
        for (index_t c = 0; c < C; ++c) {
          const T q = z[c];
          const T qc = math::clamp(q, lo, T(1));
          const T t = V::sparse ? keep_ * static_cast<T>(c == lab) + add_ : ye[c] * keep_ + add_;
          const T a = cwp[c] * t;
          const bool clipped = (q < lo) | (q > T(1));
          if constexpr ((M & kGrad) != 0) g[c] = clipped ? T(0) : -a / qc * ws;
          if constexpr ((M & kHess) != 0) h[c] = clipped ? T(0) : a / (qc * qc) * ws;
        }
      }
      invalid |= sums[5] > 0.0;
      loss = static_cast<T>(sums[3]);
    }
    if constexpr ((M & kValue) != 0) value[e] = we * loss;
    return {static_cast<double>(we * loss), denom};
  }

  // Sparse labels of probabilities without smoothing (the default): an example's loss
  // reads only its label's probability, -cw[l] log clip(p[l]), so kLanes examples share
  // one vector log (the general paths take a log per class). Only the labels'
  // probabilities are read and checked, as PyTorch's nll_loss reads them; derivatives
  // are 0 but at the label.
  // Examples start .. start + len - 1 of an (N, C) layout; adds to the lane sums and
  // returns kNegativeProbability if a label's probability was negative, | kBadLabel if
  // a label (not ignore_index) was outside [0, C) (read as ignored: the check of
  // calls that write nothing, which the binding leaves to this pass).
  // stream: zero the derivatives with non-temporal stores (large outputs of long rows).
  // ahead: prefetch every line of p 4 KB ahead (see label_ahead in rowwise()).
  // Blocks of kLabelBlock rows (each block claimed by a thread costs a shared counter's
  // cache line, so not too small), gathered kLabelRows at a time into stack buffers.
  static constexpr index_t kLabelRows = 256, kLabelBlock = 4 * kLabelRows;
  static constexpr int kNegativeProbability = 1, kBadLabel = 2;
  int label_block(index_t start, index_t len, double* acc_loss, double* acc_denom, bool stream, bool ahead) const {
    int bad = 0;
    for (index_t s = start; s < start + len; s += kLabelRows)
      bad |= label_rows(s, start + len - s < kLabelRows ? start + len - s : kLabelRows, acc_loss, acc_denom, stream,
                        ahead);
    return bad;
  }
  int label_rows(index_t start, index_t len, double* acc_loss, double* acc_denom, bool stream, bool ahead) const {
    const index_t C = classes, count = len * C;
    const math::ClippedLogs<T> cl = clip_logs;  // local copies: see clip_logs
    const T* const cwp = cw;
    const bool ign = has_ignore, cwd = class_weighted;
    const std::int64_t ignv = ignore;
    const std::int64_t* const lb = labels + start;
    const T* const pb = p + start * C;
    if constexpr ((M & kGrad) != 0) zero_fill(grad + start * C, count, stream);
    if constexpr ((M & kHess) != 0) zero_fill(hess + start * C, count, stream);
    // The block's labels (checked in vectors; -1: ignored), then its probabilities and
    // class weights in one tight scalar loop, so that the out-of-order core keeps many
    // of these scattered reads (a cache line per row, anywhere in it) in flight
    // (GCC's generic tuning makes no gathers). An ignored example reads class 0, and
    // counts 0. Lanes past len are ignored examples. (Prefetching only the line of
    // each row's label, 8 to 32 rows ahead, measured no gain; for rows of 32 to 128
    // bytes every line of p is prefetched, see label_ahead in rowwise().)
    const index_t padded = (len + kLanes - 1) / kLanes * kLanes;
    alignas(64) std::int64_t lab[kLabelRows];
    alignas(64) T q[kLabelRows], a[kLabelRows], we[kLabelRows];
    int bad_label = 0;
#pragma omp simd reduction(| : bad_label)
    for (index_t i = 0; i < len; ++i) {
      const std::int64_t l = lb[i];
      const bool in_range = (l >= 0) & (l < C), counted = (l != ignv) | !ign;
      lab[i] = in_range & counted ? l : -1;
      bad_label |= !in_range & counted;
    }
    for (index_t i = len; i < padded; ++i) lab[i] = -1;
    auto gather = [&](index_t i) {
      const std::int64_t k = lab[i] < 0 ? 0 : lab[i];
      q[i] = i < len ? pb[i * C + k] : T(1);
      a[i] = cwp[k];
    };
    // (two loops: with the test of ahead inside one, C = 32 float64, where it is
    // false, took 1.4x the time)
    if (ahead) {
      // the 64-byte lines up to about the end of row i (padded rows included), 4 KB
      // ahead (a prefetch does not fault: the addresses, integers past the end of p at
      // its end, need not be valid)
      const std::uintptr_t row_bytes = static_cast<std::uintptr_t>(C) * sizeof(T);
      std::uintptr_t next = (reinterpret_cast<std::uintptr_t>(pb) + 4096) & ~std::uintptr_t(63), want = next;
      for (index_t i = 0; i < padded; ++i) {
        want += row_bytes;
        for (; next < want; next += 64) __builtin_prefetch(reinterpret_cast<const void*>(next));
        gather(i);
      }
    } else {
      for (index_t i = 0; i < padded; ++i) gather(i);
    }
    alignas(64) int bad_lane[kLanes] = {};
    for (index_t i0 = 0; i0 < padded; i0 += kLanes) {
      alignas(64) T loss[kLanes];
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) {
        const index_t i = i0 + j;
        const bool on = lab[i] >= 0;
        bad_lane[j] |= on & (q[i] < T(0));
        q[i] = on ? q[i] : T(1);
        a[i] = on ? a[i] : T(0);
        we[i] = (M & kWeighted) ? w[start + (i < len ? i : 0)] : T(1);
        loss[j] = -a[i] * cl.log_of(q[i]);
      }
      if (i0 + kLanes <= len) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {  // an ignored lane adds 0 and stores 0
          const index_t i = i0 + j;
          const bool on = lab[i] >= 0;
          const T v = we[i] * loss[j];
          if constexpr ((M & kValue) != 0) value[start + i] = on ? v : T(0);
          acc_loss[j] += on ? static_cast<double>(v) : 0.0;
          acc_denom[j] += on ? (cwd ? static_cast<double>(a[i]) : 1.0) * static_cast<double>(we[i]) : 0.0;
        }
      } else {
        for (int j = 0; i0 + j < len; ++j) {
          const index_t i = i0 + j;
          if (lab[i] < 0) {  // ignored: contributes nothing
            if constexpr ((M & kValue) != 0) value[start + i] = T(0);
            continue;
          }
          if constexpr ((M & kValue) != 0) value[start + i] = we[i] * loss[j];
          acc_loss[j] += static_cast<double>(we[i] * loss[j]);
          acc_denom[j] += (cwd ? static_cast<double>(a[i]) : 1.0) * static_cast<double>(we[i]);
        }
      }
    }
    if constexpr (kDerivs) {
      for (index_t i = 0; i < len; ++i) {
        if (lab[i] < 0) continue;
        const index_t e = start + i;
        const T qv = q[i], qc = math::clamp(qv, eps, T(1)), ws = we[i] * scale;
        const bool clipped = qv < eps || qv > T(1);
        if constexpr ((M & kGrad) != 0) grad[e * C + lab[i]] = clipped ? T(0) : -a[i] / qc * ws;
        if constexpr ((M & kHess) != 0) hess[e * C + lab[i]] = clipped ? T(0) : a[i] / (qc * qc) * ws;
      }
    }
    int bad = 0;
    for (int j = 0; j < kLanes; ++j) bad |= bad_lane[j];
    return (bad ? kNegativeProbability : 0) | (bad_label ? kBadLabel : 0);
  }

  // kLanes examples at once, SIMD across them, looping over the classes:
  // RowLanes = false: examples (o, i0 .. i0 + valid - 1) of a strided layout (inner > 1);
  // RowLanes = true: rows i0 .. i0 + valid - 1 of an (N, C) layout (o = 0), for few
  // classes, where SIMD over a row's classes would leave most lanes empty.
  // Full: all kLanes are valid (no index clamping).
  template <bool Full, bool RowLanes = false>
  void lanes(index_t o, index_t i0, int valid, double* acc_loss, double* acc_denom, int* invalid) const {
    const index_t C = classes;
    const math::ClippedLogs<T> cl = clip_logs;
    const index_t base = o * C * inner;
    const index_t cstride = RowLanes ? 1 : inner, estride = RowLanes ? C : 1;  // class and example strides
    alignas(64) index_t at[kLanes];  // offset of each lane's example within a class plane
    for (int j = 0; j < kLanes; ++j) at[j] = Full ? i0 + j : i0 + (j < valid ? j : valid - 1);
    const index_t e0 = o * inner;  // per-example index of (o, 0)
    alignas(64) T we[kLanes], m[kLanes], rest[kLanes], ties[kLanes], a_sum[kLanes], dist[kLanes], sy[kLanes];
    alignas(64) std::int64_t lab[kLanes];
    for (int j = 0; j < kLanes; ++j) {
      we[j] = (M & kWeighted) ? w[e0 + at[j]] : T(1);
      lab[j] = V::sparse ? label(e0 + at[j]) : 0;
      m[j] = -std::numeric_limits<T>::infinity();
      rest[j] = ties[j] = a_sum[j] = dist[j] = sy[j] = T(0);
    }
    // Full chunks index arithmetically (contiguous or strided loads); only the last,
    // partial chunk goes through the clamped offsets in at[].
    auto pos = [&](index_t c, int j) { return base + c * cstride + (Full ? i0 + j : at[j]) * estride; };
    // Rows as lanes: the kLanes rows (fewer than kLanes classes each, one contiguous
    // stretch of memory) are transposed into class-major tiles first, so that the
    // class loops below load contiguous lanes instead of gathering with stride C.
    alignas(64) T z_tile[RowLanes ? kLanes * kLanes : 1], y_tile[RowLanes && !V::sparse ? kLanes * kLanes : 1];
    // exp(z - max) of the tile, kept from the sums for the derivatives (one exp per class)
    alignas(64) T e_tile[RowLanes && V::logits && kDerivs ? kLanes * kLanes : 1];
    if constexpr (RowLanes) {
      for (int j = 0; j < kLanes; ++j)
        for (index_t c = 0; c < C; ++c) {
          z_tile[c * kLanes + j] = p[pos(c, j)];
          if constexpr (!V::sparse) y_tile[c * kLanes + j] = y[pos(c, j)];
        }
    }
    auto y_at = [&](index_t c, int j) {
      if constexpr (V::sparse) return T(0);
      else if constexpr (RowLanes) return y_tile[c * kLanes + j];
      else return y[pos(c, j)];
    };
    auto z_at = [&](index_t c, int j) {
      if constexpr (RowLanes) return z_tile[c * kLanes + j];
      else return p[pos(c, j)];
    };
    int bad = 0;
    if constexpr (V::logits) {
      for (index_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) m[j] = z_at(c, j) > m[j] ? z_at(c, j) : m[j];
      }
    }
    alignas(64) int bad_lane[kLanes] = {};  // per lane, not an `omp simd` reduction (which GCC may not vectorize)
    // Members read in the loop as locals: with an output pointer in the mode (the
    // per-example values), GCC 12 reloaded them in the loop and left it scalar
    // ("complicated access pattern"), with scalar libm exps: reduction="none" took
    // 4-5x the time of "mean" for few classes and other last bits.
    const bool all_read = smoothed(), cweighted = class_weighted;
    const T keep_t = keep, add_t = add, eps_t = eps;
    const T* const cwp = cw;
    for (index_t c = 0; c < C; ++c) {
      const T cwc = cwp[c];
      // the class's exps in a loop of their own (in the loop below, GCC 12 left the
      // inline float exp scalar: "complicated access pattern")
      alignas(64) T ex[kLanes];
      if constexpr (V::logits && kLoss) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) ex[j] = math::exp_nonpos(z_at(c, j) - m[j]);
      }
      // and so KL's terms (as log_pass(): no accumulators spilled around the vector
      // log call). (The clipped logs of cross-entropy stay in the loop below: in a
      // loop of their own GCC 12 unrolled them into 16 scalar logf calls.)
      alignas(64) T lt[kLanes];
      if constexpr (V::kl && !V::logits && kLoss) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j)
          lt[j] = kl_term(y_at(c, j) * keep_t + add_t, math::clamp(z_at(c, j), eps_t, T(1)));
      }
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) {
        const T zc = z_at(c, j), yc = y_at(c, j);
        const T t = V::sparse ? keep_t * static_cast<T>(c == lab[j]) + add_t : yc * keep_t + add_t;
        const T a = cwc * t;
        if (cweighted) sy[j] += V::sparse ? (c == lab[j] ? cwc : T(0)) : cwc * yc;
        if constexpr (kLoss) {
          a_sum[j] += a;
          if constexpr (V::logits) {
            const T e_c = ex[j];
            if constexpr (RowLanes && kDerivs) e_tile[c * kLanes + j] = e_c;
            rest[j] += zc == m[j] ? T(0) : e_c;  // log s = log1p(s - 1), as in row()
            ties[j] += zc == m[j] ? T(1) : T(0);
            dist[j] += a == T(0) ? T(0) : a * (m[j] - zc);
          } else {
            // Sparse labels: only the probabilities with a target are read and
            // checked (the label's, or with smoothing all of a counted example's).
            bad_lane[j] |= (zc < T(0)) & (!V::sparse | ((lab[j] >= 0) & (all_read | (c == lab[j]))));
            if constexpr (V::kl) {
              dist[j] += t > T(0) ? lt[j] : T(0);  // as in chunk()
            } else {
              const T log_q = cl.log_of(zc);  // outside the conditional: vectorized
              dist[j] += a == T(0) ? T(0) : -a * log_q;
            }
          }
          if constexpr (V::kl) bad_lane[j] |= t < T(0);
        }
      }
    }
    for (int j = 0; j < kLanes; ++j) bad |= bad_lane[j];
    *invalid |= bad;
    alignas(64) T loss[kLanes], logs[kLanes], inv_s[kLanes];
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      logs[j] = V::logits ? math::log1p(rest[j] + (ties[j] - T(1))) : T(0);
      inv_s[j] = V::logits ? static_cast<T>(1.0 / (static_cast<double>(rest[j]) + static_cast<double>(ties[j]))) : T(0);
      loss[j] = V::logits ? dist[j] + a_sum[j] * logs[j] : dist[j];
    }
    if constexpr (V::kl && V::logits) {  // term by term, as in kl_logits_row()
      for (int j = 0; j < kLanes; ++j) loss[j] = T(0);
      for (index_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
          const T t = y_at(c, j);
          const T log_t = log_plus_tiny(t);
          loss[j] += t > T(0) ? t * (log_t - ((z_at(c, j) - m[j]) - logs[j])) : T(0);
        }
      }
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
          const T t = V::sparse ? keep * static_cast<T>(c == lab[j]) + add : y_at(c, j) * keep + add;
          const T a = cwc * t;
          const bool off = V::sparse && lab[j] < 0;  // ignored: exactly 0, even for NaN logits
          const T ws = we[j] * scale;
          if constexpr (V::logits) {
            // p_c = exp(z - max) / s, as in row(): the tile's exp for rows as lanes, else again
            T e_c;
            if constexpr (RowLanes) e_c = e_tile[c * kLanes + j];
            else e_c = math::exp_nonpos(zc - m[j]);
            const T p_c = e_c * inv_s[j];
            const T g = (a_sum[j] * p_c - a) * ws, h = a_sum[j] * p_c * (T(1) - p_c) * ws;
            gv[j] = off ? T(0) : g;
            hv[j] = off ? T(0) : h;
          } else {
            const T qc = math::clamp(zc, eps, T(1));
            const bool clipped = zc < eps || zc > T(1);
            const T g = -a / qc * ws, h = a / (qc * qc) * ws;
            gv[j] = off || clipped ? T(0) : g;
            hv[j] = off || clipped ? T(0) : h;
          }
        }
        for (int j = 0; j < (Full ? kLanes : valid); ++j) {
          if constexpr ((M & kGrad) != 0) grad[pos(c, j)] = gv[j];
          if constexpr ((M & kHess) != 0) hess[pos(c, j)] = hv[j];
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
                        static_cast<T>(call.scale),
                        math::ClippedLogs<T>(static_cast<T>(call.eps), T(1))};
  const index_t C = call.classes, examples = call.outer * call.inner;
  const int threads = examples * C >= call.parallel_threshold[kTranscendental] ? call.threads : 1;
  std::atomic<bool> any_invalid{false}, any_bad_label{false};
  bool labels_checked = false;  // every label checked against [0, C) by the pass below
  Sum2 total;
  if (C == 0 || examples == 0) {
    total = {};
  } else if (V::sparse && !V::logits && Rows<V, M, T>::kLoss && call.inner == 1 && !r.smoothed()) {
    if constexpr (V::sparse && !V::logits) {
      // A scattered read and a log per example (threads from 1/8 of the transcendental
      // threshold: each read is a cache miss; measured 2048 rows of 10 to 1000 classes
      // are faster on 2 threads), and with derivatives a zero fill of all the classes
      // (the threshold of the cheap losses).
      const int label_threads =
          (Rows<V, M, T>::kDerivs ? examples * C >= call.parallel_threshold[kCheap]
                                  : examples * 8 >= call.parallel_threshold[kTranscendental])
              ? call.threads
              : 1;
      // Blocks of 8x the rows from 512 blocks on (64 large ones): two threads taking
      // turns on 1024-row blocks jump ahead every 80 KB (float64, C = 10), which the
      // hardware prefetcher follows less well than longer runs of rows (1e6 rows of
      // 10 float64, 2 threads: 5.1-7.9 -> 4.3-5.0 ms, noisy). Fewer blocks than that
      // balanced worse (1e5 rows: 0.22 -> 0.26 ms). A function of the size only, so
      // the same bits on every thread count.
      const index_t rows_per_block = examples >= 512 * Rows<V, M, T>::kLabelBlock ? 8 * Rows<V, M, T>::kLabelBlock
                                                                                  : Rows<V, M, T>::kLabelBlock;
      // Stream the zeros of large derivatives, when rows are long enough that the
      // label's store (afterwards) brings back few of the streamed lines.
      const bool stream = Rows<V, M, T>::kDerivs && examples * C * static_cast<index_t>(sizeof(T)) >= kStreamBytes &&
                          C * static_cast<index_t>(sizeof(T)) >= 256;
      // Rows of 32 to 128 bytes, where the labels' reads touch at least half the lines
      // of p anyway: every line of p 4 KB ahead, a stream like the probe's, since the
      // hardware prefetcher follows the label-scattered addresses less well (1e6 rows,
      // two threads, both kernels in one C++ program: C = 10 0.72x-0.82x the time,
      // float32 and float64; C = 16 0.73x-0.92x, C = 32 float32 0.70x-0.86x). Not for
      // longer rows, where it reads lines the labels do not (C = 32 float64 1.47x), nor
      // for shorter ones (C = 3 float32 1.15x), nor below 16 MB of p, which the caches
      // hold (1e5 rows of 10: 1.10x-1.23x).
      const index_t row_bytes = C * static_cast<index_t>(sizeof(T));
      const bool label_ahead = row_bytes >= 32 && row_bytes <= 128 && examples * row_bytes >= kStreamBytes;
      total = blocked_sum(examples, label_threads, [&](index_t start, index_t len) {
        alignas(64) double acc_loss[kLanes] = {}, acc_denom[kLanes] = {};
        const int flags = r.label_block(start, len, acc_loss, acc_denom, stream, label_ahead);
        if (flags & Rows<V, M, T>::kNegativeProbability) any_invalid.store(true, std::memory_order_relaxed);
        if (flags & Rows<V, M, T>::kBadLabel) any_bad_label.store(true, std::memory_order_relaxed);
        return Sum2{fold_lanes(acc_loss), fold_lanes(acc_denom)};
      }, rows_per_block);
      labels_checked = true;
    }
  } else if (call.inner == 1 && C < kLanes) {
    // Few classes: kLanes rows at a time, SIMD across the rows.
    const index_t chunks = (examples + kLanes - 1) / kLanes;
    const index_t units_per_block = kBlock / (C * kLanes) > 0 ? kBlock / (C * kLanes) : 1;
    total = blocked_sum(chunks, threads, [&](index_t start, index_t len) {
      alignas(64) double acc_loss[kLanes] = {}, acc_denom[kLanes] = {};
      int invalid = 0;
      for (index_t u = start; u < start + len; ++u) {
        const index_t i0 = u * kLanes;
        const index_t valid = examples - i0 < kLanes ? examples - i0 : kLanes;
        if (valid == kLanes) r.template lanes<true, true>(0, i0, kLanes, acc_loss, acc_denom, &invalid);
        else r.template lanes<false, true>(0, i0, static_cast<int>(valid), acc_loss, acc_denom, &invalid);
      }
      if (invalid) any_invalid.store(true, std::memory_order_relaxed);
      return Sum2{fold_lanes(acc_loss), fold_lanes(acc_denom)};
    }, units_per_block);
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
  if (call.labels_ok != nullptr) *call.labels_ok = labels_checked && !any_bad_label.load();
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
