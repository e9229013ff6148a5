// The embedding-distance loop: the triplet loss of (anchor, positive, negative)
// embeddings along their last axis, with the gradient and the Hessian diagonal
// with respect to all three inputs, in one pass over each example (two over its
// dim: the norms, then the derivatives).
//
// D(v) = ||v||_p of v = x - y + eps (PyTorch's pairwise_distance), or its square.
//   dD/dv_k   = sign(v_k) |v_k|^(p-1) / d^(p-1)                       (p = 2: v_k / d)
//   d2D/dv_k2 = (p-1) |v_k|^(p-2) / d^(p-1) - (p-1) |v_k|^(2p-2) / d^(2p-1)  (p = 2: (d^2 - v_k^2) / d^3)
//   squared:  d(d^2)/dv_k = 2 d dD/dv_k,  d2(d^2)/dv_k2 = 2 (dD/dv_k)^2 + 2 d d2D/dv_k2
// Where the hinge is inactive every derivative is 0 (and at d = 0 the norm's
// derivatives are taken as 0).
#pragma once
#include <cmath>
#include <cstdint>

#include "blocked_sum.hpp"
#include "kernel_table.hpp"
#include "simd_math.hpp"

namespace fastloss {
namespace FASTLOSS_ISA {

enum NormKind { kNorm1, kNorm2, kNormP };

template <NormKind K, class T>
FASTLOSS_INLINE T abs_pow(T v, T p) {  // |v|^p
  if constexpr (K == kNorm1) return math::abs(v);
  else if constexpr (K == kNorm2) return v * v;
  else return math::pow(math::abs(v), p);
}

// pow that is never vectorized, for the per-example loops over short embeddings: GCC
// may vectorize such a loop in one mode's instantiation and not in another's, and the
// vector pow rounds differently, so that the value and value_and_grad's value would
// differ in the last bit.
[[gnu::noinline]] inline float scalar_pow(float x, float y) { return std::pow(x, y); }
[[gnu::noinline]] inline double scalar_pow(double x, double y) { return std::pow(x, y); }

// Prefetches the lines of x, y and z 2 KB past [p, p + bytes) for each p of them: the
// triplet loops read the three inputs in step, with too much work per line for the
// hardware prefetcher alone. A prefetch does not fault: the addresses (integers, past
// the end of an array at its end) need not be valid.
template <class T>
FASTLOSS_INLINE void prefetch_ahead(const T* x, const T* y, const T* z, std::uintptr_t bytes) {
  constexpr std::uintptr_t kAhead = 2048;
  const std::uintptr_t px = reinterpret_cast<std::uintptr_t>(x) + kAhead,
                       py = reinterpret_cast<std::uintptr_t>(y) + kAhead,
                       pz = reinterpret_cast<std::uintptr_t>(z) + kAhead;
  for (std::uintptr_t o = 0; o < bytes; o += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(px + o));
    __builtin_prefetch(reinterpret_cast<const void*>(py + o));
    __builtin_prefetch(reinterpret_cast<const void*>(pz + o));
  }
}

template <NormKind K, unsigned M, class T>
struct Triplets {
  const T* a;
  const T* pos;
  const T* neg;
  const T* w;
  index_t dim;
  T* value;
  T* grad[3];
  T* hess[3];
  T scale, margin, p, eps;
  bool squared, swap;

  FASTLOSS_INLINE T norm_from_sum(double s) const {
    if constexpr (K == kNorm1) return static_cast<T>(s);
    else if constexpr (K == kNorm2) return static_cast<T>(std::sqrt(s));
    else return static_cast<T>(scalar_pow(s, 1.0 / static_cast<double>(p)));
  }

  FASTLOSS_INLINE T small_pow(T v) const {  // |v|^p in the per-example loops (see scalar_pow)
    if constexpr (K == kNormP) return scalar_pow(math::abs(v), p);
    else return abs_pow<K>(v, p);
  }

  // The sums of R consecutive examples with fewer than kLanes components: a
  // plain loop (zeroing and folding lanes for every example would cost more than
  // the sums), each example's terms added in component order, with the R
  // examples' add chains interleaved so that they run in parallel.
  template <int R, bool Swap>
  FASTLOSS_INLINE void small_norms(index_t e, double (*sums)[3]) const {
    const T* x = a + e * dim;
    const T* y = pos + e * dim;
    const T* z = neg + e * dim;
    double s[R][3] = {};
    for (index_t k = 0; k < dim; ++k) {
      for (int r = 0; r < R; ++r) {
        const index_t o = r * dim + k;
        s[r][0] += static_cast<double>(small_pow(x[o] - y[o] + eps));
        s[r][1] += static_cast<double>(small_pow(x[o] - z[o] + eps));
        if constexpr (Swap) s[r][2] += static_cast<double>(small_pow(y[o] - z[o] + eps));
      }
    }
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < 3; ++i) sums[r][i] = s[r][i];
  }

  // sums of |v|^p of the differences over the dim (the positive-negative one only
  // with swap), in explicit float64 lanes; for fewer than kLanes components see
  // small_norms.
  void norms(index_t e, double* sums) const {
    const T* x = a + e * dim;
    const T* y = pos + e * dim;
    const T* z = neg + e * dim;
    if (dim < kLanes) {
      double one[1][3];
      if (swap) small_norms<1, true>(e, one);
      else small_norms<1, false>(e, one);
      for (int i = 0; i < 3; ++i) sums[i] = one[0][i];
      return;
    }
    alignas(64) double acc[3][kLanes] = {};
    index_t k0 = 0;
    auto chunk = [&](const T* xa, const T* ya, const T* za, int valid) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) {
        const bool on = j < valid;
        const T ap = abs_pow<K>(xa[j] - ya[j] + eps, p);
        const T an = abs_pow<K>(xa[j] - za[j] + eps, p);
        acc[0][j] += on ? static_cast<double>(ap) : 0.0;
        acc[1][j] += on ? static_cast<double>(an) : 0.0;
      }
      if (swap) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
          const T pn = abs_pow<K>(ya[j] - za[j] + eps, p);
          acc[2][j] += j < valid ? static_cast<double>(pn) : 0.0;
        }
      }
    };
    for (; k0 + kLanes <= dim; k0 += kLanes) {
      // (prefetch_ahead here: C = 1000, 1e7 elements, two threads, 0.90x-0.97x the
      // time, one thread 0.72x-0.89x; C = 100 0.80x-0.87x)
      prefetch_ahead(x + k0, y + k0, z + k0, kLanes * sizeof(T));
      chunk(x + k0, y + k0, z + k0, kLanes);
    }
    const int valid = static_cast<int>(dim - k0);
    if (valid > 0) {
      alignas(64) T xt[kLanes] = {}, yt[kLanes] = {}, zt[kLanes] = {};
      for (int j = 0; j < valid; ++j) {
        xt[j] = x[k0 + j];
        yt[j] = y[k0 + j];
        zt[j] = z[k0 + j];
      }
      chunk(xt, yt, zt, valid);
    }
    for (int i = 0; i < 3; ++i) sums[i] = fold_lanes(acc[i]);
  }

  // The sums of kLanes consecutive examples' dim < kLanes float64 terms, in b (example
  // j's at b[j * dim ...], with terms or zeros up to kLanes past the last): per example,
  // its terms k and k + 8 added in lane k of a vector of 8, then the 8 lanes added
  // pairwise (0 + 1, 2 + 3, ..., then pairs of pairs), 8 examples at a time in one tree
  // of shuffles (a transpose folded into the adds). The sums of 8 examples take 8 + 7
  // vector adds where per-example add chains in component order took 8 dim dependent
  // scalar adds (triplet C = 10 float32, 1e7 elements, 2 threads: 51% -> 70% of the
  // bandwidth probe, with the lane sums of value_lanes). A fixed order for each dim:
  // the same bits on every thread count and in every mode.
  static void example_sums(const double* b, int dim, double* s) {
    typedef double v8d __attribute__((vector_size(64)));
    typedef long long v8l __attribute__((vector_size(64)));
#if defined(__clang__)
#define FASTLOSS_SHUFFLE(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#else
#define FASTLOSS_SHUFFLE(x, y, ...) __builtin_shuffle(x, y, v8l{__VA_ARGS__})
#endif
    const v8l lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const v8l lo_mask = lane < dim, hi_mask = lane + 8 < dim;
    for (int g = 0; g < kLanes; g += 8) {
      v8d a[8];
      if (dim > 8) {
        for (int r = 0; r < 8; ++r) {
          v8d lo, hi;
          __builtin_memcpy(&lo, b + (g + r) * dim, sizeof lo);
          __builtin_memcpy(&hi, b + (g + r) * dim + 8, sizeof hi);
          a[r] = lo + (v8d)((v8l)hi & hi_mask);
        }
      } else {  // (no terms k + 8: adding a vector of zeros would not change a bit; dim 3: 13% faster)
        for (int r = 0; r < 8; ++r) {
          v8d lo;
          __builtin_memcpy(&lo, b + (g + r) * dim, sizeof lo);
          a[r] = (v8d)((v8l)lo & lo_mask);
        }
      }
      // (lane j of x and y: index j and 8 + j)
      v8d p[4];  // p[r]: a[2r]'s lanes 0+1, 2+3, 4+5, 6+7 in its even lanes, a[2r+1]'s in its odd ones
      for (int r = 0; r < 4; ++r)
        p[r] = FASTLOSS_SHUFFLE(a[2 * r], a[2 * r + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
               FASTLOSS_SHUFFLE(a[2 * r], a[2 * r + 1], 1, 9, 3, 11, 5, 13, 7, 15);
      v8d q[2];  // q[r]: lanes 0-3 and 4-7 hold halves of the sums of a[4r] .. a[4r+3]
      for (int r = 0; r < 2; ++r)
        q[r] = FASTLOSS_SHUFFLE(p[2 * r], p[2 * r + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               FASTLOSS_SHUFFLE(p[2 * r], p[2 * r + 1], 2, 3, 10, 11, 6, 7, 14, 15);
      const v8d t = FASTLOSS_SHUFFLE(q[0], q[1], 0, 1, 2, 3, 8, 9, 10, 11) +
                    FASTLOSS_SHUFFLE(q[0], q[1], 4, 5, 6, 7, 12, 13, 14, 15);
      __builtin_memcpy(s + g, &t, sizeof t);
    }
#undef FASTLOSS_SHUFFLE
  }

  // The value (and derivatives) of kLanes examples e0 .. e0 + valid - 1 with fewer than kLanes
  // components (SIMD over so few components would leave most lanes empty): |v|^p of
  // all their components in one SIMD pass over the contiguous stretch, into float64
  // buffers; per example, the sums of those (example_sums); then, SIMD across the
  // examples, the distances and the hinge. The examples' weighted losses are added to
  // the block's lane sums acc (example e0 + j to lane j). (Gathering each component
  // across the examples, or transposing, measured 1.5x-2x slower than this; so did
  // computing the terms of example_sums straight from the inputs, without the buffers.)
  template <bool Full>
  void value_lanes(index_t e0, int valid, double* acc) const {
    const int idim = static_cast<int>(dim), count = valid * idim;
    const T* xa = a + e0 * dim;
    const T* ya = pos + e0 * dim;
    const T* za = neg + e0 * dim;
    alignas(64) double b0[kLanes * kLanes + kLanes], b1[kLanes * kLanes + kLanes], b2[kLanes * kLanes + kLanes];
    // (the three inputs' lines 2 KB ahead: the hardware prefetcher alone left the loads
    // waiting between these compute-heavy groups: C = 10, 1e6 examples, two threads,
    // 0.79x-0.83x the time, float32 and float64; 1 KB to 8 KB ahead alike; prefetching
    // the current group instead, 1.02x)
    if constexpr (Full) prefetch_ahead(xa, ya, za, static_cast<std::uintptr_t>(count) * sizeof(T));
#pragma omp simd
    for (int i = 0; i < count; ++i) {
      b0[i] = static_cast<double>(abs_pow<K>(xa[i] - ya[i] + eps, p));
      b1[i] = static_cast<double>(abs_pow<K>(xa[i] - za[i] + eps, p));
    }
    if (swap) {
#pragma omp simd
      for (int i = 0; i < count; ++i) b2[i] = static_cast<double>(abs_pow<K>(ya[i] - za[i] + eps, p));
    }
    const int groups = Full ? kLanes : valid;
    {  // zeros past the terms: what example_sums reads past the last example, and the
       // sums of the lanes past the valid examples
      const int end = Full ? count + kLanes : kLanes * kLanes + kLanes;
      for (int i = count; i < end; ++i) b0[i] = b1[i] = 0.0;
      if (swap)
        for (int i = count; i < end; ++i) b2[i] = 0.0;
    }
    alignas(64) double s0[kLanes], s1[kLanes], s2[kLanes] = {};  // (s2 is read, and unused, without swap)
    example_sums(b0, idim, s0);
    example_sums(b1, idim, s1);
    if (swap) example_sums(b2, idim, s2);
    alignas(64) T loss[kLanes], we[kLanes], dap_l[kLanes], dneg_l[kLanes], ws_l[kLanes];
    alignas(64) int swp_l[kLanes];
    for (int j = 0; j < kLanes; ++j) we[j] = (M & kWeighted) && j < groups ? w[e0 + j] : T(1);
    const bool sq = squared, sw = swap;  // locals: see derivs()
    const T mg = margin, sc = scale;
    // the norms, then the hinge in a loop of T alone (GCC does not vectorize the two in one);
    // the positive-negative one only with swap: a float64 square root of a vector costs
    // about as much as all the rest of its 8 examples' sums (triplet C = 10, one thread:
    // 14 -> 9-10 ns per example without the unused one)
    alignas(64) T n0[kLanes], n1[kLanes], n2[kLanes] = {};  // (n2 is read, and unused, without swap)
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      n0[j] = norm_from_sum(s0[j]);
      n1[j] = norm_from_sum(s1[j]);
    }
    if (sw) {
#pragma omp simd
      for (int j = 0; j < kLanes; ++j) n2[j] = norm_from_sum(s2[j]);
    }
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      const T d_ap = n0[j], d_an = n1[j];
      const T d_pn = sw ? n2[j] : d_an;
      const bool swapped = sw && d_pn < d_an;
      const T d_neg = swapped ? d_pn : d_an;
      const T dist_pos = sq ? d_ap * d_ap : d_ap, dist_neg = sq ? d_neg * d_neg : d_neg;
      const T hinge = dist_pos - dist_neg + mg;
      loss[j] = we[j] * (hinge > T(0) ? hinge : (hinge == hinge ? T(0) : hinge));  // NaN propagates
      dap_l[j] = d_ap;
      dneg_l[j] = d_neg;
      swp_l[j] = swapped ? 1 : 0;
      ws_l[j] = hinge > T(0) ? we[j] * sc : T(0);
    }
    if constexpr ((M & kValue) != 0)
      for (int j = 0; j < groups; ++j) value[e0 + j] = loss[j];
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) acc[j] += j < groups ? static_cast<double>(loss[j]) : 0.0;
    if constexpr ((M & (kGrad | kHess)) != 0) {
      // The derivatives of every component, SIMD over the contiguous stretch, each with
      // its example's distances spread out to it: the formulas (and bits) of finish().
      alignas(64) T dap_e[kLanes * kLanes], dneg_e[kLanes * kLanes], ws_e[kLanes * kLanes];
      alignas(64) int swp_e[kLanes * kLanes];
      for (int j = 0; j < groups; ++j)
        for (int k = 0; k < idim; ++k) {
          dap_e[j * idim + k] = dap_l[j];
          dneg_e[j * idim + k] = dneg_l[j];
          ws_e[j * idim + k] = ws_l[j];
          swp_e[j * idim + k] = swp_l[j];
        }
      // (the output pointers and eps as locals: loaded from *this inside the loop, where
      // the stores might alias them, they stop GCC from vectorizing it)
      const index_t off = e0 * dim;
      T* const ga = (M & kGrad) ? grad[0] + off : nullptr;
      T* const gp = (M & kGrad) ? grad[1] + off : nullptr;
      T* const gn = (M & kGrad) ? grad[2] + off : nullptr;
      T* const ha = (M & kHess) ? hess[0] + off : nullptr;
      T* const hp = (M & kHess) ? hess[1] + off : nullptr;
      T* const hn = (M & kHess) ? hess[2] + off : nullptr;
      const T e = eps;
#pragma omp simd
      for (int i = 0; i < count; ++i) {
        const bool swapped = swp_e[i] != 0;
        T g_ap, h_ap, g_ng, h_ng;
        derivs(xa[i] - ya[i] + e, dap_e[i], g_ap, h_ap, sq);
        derivs(swapped ? ya[i] - za[i] + e : xa[i] - za[i] + e, dneg_e[i], g_ng, h_ng, sq);
        const T ws = ws_e[i];
        if constexpr ((M & kGrad) != 0) {
          ga[i] = (swapped ? g_ap : g_ap - g_ng) * ws;
          gp[i] = (swapped ? -g_ap - g_ng : -g_ap) * ws;
          gn[i] = g_ng * ws;
        }
        if constexpr ((M & kHess) != 0) {
          ha[i] = (swapped ? h_ap : h_ap - h_ng) * ws;
          hp[i] = (swapped ? h_ap - h_ng : h_ap) * ws;
          hn[i] = -h_ng * ws;
        }
      }
    }
  }

  // dD/dv and d2D/dv2 of one component, for a distance d (of the norm, before squaring)
  // (sq: squared, passed in as a local: a bool member loaded in a loop stops GCC from
  // vectorizing the loop)
  FASTLOSS_INLINE void derivs(T v, T d, T& g, T& h, bool sq) const {
    T g1, h1;
    if constexpr (K == kNorm1) {
      g1 = math::sign(v);
      h1 = T(0);
    } else if constexpr (K == kNorm2) {
      g1 = v / d;
      h1 = (d * d - v * v) / (d * d * d);
    } else {
      const T av = math::abs(v);
      const T r = av / d;  // |v| / d <= 1
      const T rp1 = math::pow(r, p - T(1));
      g1 = math::sign(v) * rp1;
      const T h = (p - T(1)) * (rp1 / av) * (T(1) - rp1 * r);  // (p-1)|v|^(p-2)/d^(p-1) (1 - (|v|/d)^p)
      h1 = av > T(0) ? h : T(0);
    }
    // (selects, not an if/else on the references: GCC does not vectorize that one)
    const T hs = T(2) * g1 * g1 + T(2) * d * h1, gs = T(2) * d * g1;
    const bool pos = d > T(0);
    g = pos ? (sq ? gs : g1) : T(0);
    h = pos ? (sq ? hs : h1) : T(0);
  }

  double example(index_t e) const {
    double sums[3];
    norms(e, sums);
    return finish(e, sums);
  }

  // The loss (and derivatives) of example e from its sums of |v|^p.
  double finish(index_t e, const double* sums) const {
    const T d_ap = norm_from_sum(sums[0]), d_an = norm_from_sum(sums[1]);
    const T d_pn = swap ? norm_from_sum(sums[2]) : d_an;
    const bool swapped = swap && d_pn < d_an;
    const T d_neg = swapped ? d_pn : d_an;
    const T dist_pos = squared ? d_ap * d_ap : d_ap, dist_neg = squared ? d_neg * d_neg : d_neg;
    const T hinge = dist_pos - dist_neg + margin;
    const T loss = hinge > T(0) ? hinge : (hinge == hinge ? T(0) : hinge);  // NaN propagates
    const T we = (M & kWeighted) ? w[e] : T(1);
    if constexpr ((M & kValue) != 0) value[e] = we * loss;
    if constexpr ((M & (kGrad | kHess)) != 0) {
      const bool sq = squared;  // a local: see derivs()
      const T ws = hinge > T(0) ? we * scale : T(0);
      const T* x = a + e * dim;
      const T* y = pos + e * dim;
      const T* z = neg + e * dim;
      const index_t off = e * dim;
      // output pointers and eps as locals (see value_lanes)
      T* const g0 = (M & kGrad) ? grad[0] + off : nullptr;
      T* const g1 = (M & kGrad) ? grad[1] + off : nullptr;
      T* const g2 = (M & kGrad) ? grad[2] + off : nullptr;
      T* const h0 = (M & kHess) ? hess[0] + off : nullptr;
      T* const h1 = (M & kHess) ? hess[1] + off : nullptr;
      T* const h2 = (M & kHess) ? hess[2] + off : nullptr;
      const T ep = eps;
#pragma omp simd
      for (index_t k = 0; k < dim; ++k) {
        T g_ap, h_ap, g_ng, h_ng;
        derivs(x[k] - y[k] + ep, d_ap, g_ap, h_ap, sq);
        // the negative distance: anchor-negative, or positive-negative when swapped
        derivs(swapped ? y[k] - z[k] + ep : x[k] - z[k] + ep, d_neg, g_ng, h_ng, sq);
        const T ga = swapped ? g_ap : g_ap - g_ng;
        const T gp = swapped ? -g_ap - g_ng : -g_ap;
        const T gn = g_ng;
        const T ha = swapped ? h_ap : h_ap - h_ng;
        const T hp = swapped ? h_ap - h_ng : h_ap;
        const T hn = -h_ng;
        if constexpr ((M & kGrad) != 0) {
          g0[k] = ga * ws;
          g1[k] = gp * ws;
          g2[k] = gn * ws;
        }
        if constexpr ((M & kHess) != 0) {
          h0[k] = ha * ws;
          h1[k] = hp * ws;
          h2[k] = hn * ws;
        }
      }
    }
    return static_cast<double>(we * loss);
  }
};

template <NormKind K, class T, unsigned M>
double triplet_run(const TripletCall& c) {
  const Triplets<K, M, T> t{static_cast<const T*>(c.anchor),
                            static_cast<const T*>(c.positive),
                            static_cast<const T*>(c.negative),
                            static_cast<const T*>(c.w),
                            c.dim,
                            static_cast<T*>(c.value),
                            {static_cast<T*>(c.grad[0]), static_cast<T*>(c.grad[1]), static_cast<T*>(c.grad[2])},
                            {static_cast<T*>(c.hess[0]), static_cast<T*>(c.hess[1]), static_cast<T*>(c.hess[2])},
                            static_cast<T>(c.scale),
                            static_cast<T>(c.margin),
                            static_cast<T>(c.norm_p),
                            static_cast<T>(c.eps),
                            c.squared,
                            c.swap};
  const int threads = c.examples * c.dim >= c.parallel_threshold[kCheap] ? c.threads : 1;
  index_t per_block = c.dim > 0 && kBlock / c.dim > 0 ? kBlock / c.dim : 1;
  if (c.dim < kLanes && K != kNormP) {
    // whole groups of kLanes examples per block: a partial group (value_lanes<false>)
    // only at the end of the array (C = 10: 409 examples per block took 3.5% of the
    // time in the partial group)
    // (dim 1..15: at least 273 examples per block; an empty embedding, dim 0, keeps 1)
    if (per_block >= kLanes) per_block = per_block / kLanes * kLanes;
    // short embeddings: kLanes examples at a time (not for a general p: the vector pow
    // would round differently from the per-example path's)
    return blocked_sum(c.examples, threads, [&](index_t start, index_t len) {
      alignas(64) double acc[kLanes] = {};
      index_t e = start;
      const index_t end = start + len;
      for (; e + kLanes <= end; e += kLanes) t.template value_lanes<true>(e, kLanes, acc);
      if (e < end) t.template value_lanes<false>(e, static_cast<int>(end - e), acc);
      return fold_lanes(acc);
    }, per_block);
  }
  return blocked_sum(c.examples, threads, [&](index_t start, index_t len) {
    double sum = 0.0;
    index_t e = start;
    const index_t end = start + len;
    if (c.dim < kLanes) {
      constexpr int R = 4;
      double sums[R][3];
      for (; e + R <= end; e += R) {
        if (c.swap) t.template small_norms<R, true>(e, sums);
        else t.template small_norms<R, false>(e, sums);
        for (int r = 0; r < R; ++r) sum += t.finish(e + r, sums[r]);
      }
    }
    for (; e < end; ++e) sum += t.example(e);
    return sum;
  }, per_block);
}

template <class T, unsigned M>
double triplet(const TripletCall& c) {
  if (c.norm_p == 2.0) return triplet_run<kNorm2, T, M>(c);
  if (c.norm_p == 1.0) return triplet_run<kNorm1, T, M>(c);
  return triplet_run<kNormP, T, M>(c);
}

template <class T, unsigned... Modes>
void fill_triplet_modes(TripletFn* fn) {
  ((fn[Modes] = &triplet<T, Modes>, fn[Modes | kWeighted] = &triplet<T, Modes | kWeighted>), ...);
}

inline void fill_triplet(TripletKernels& k) {
  fill_triplet_modes<float, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF32]);
  fill_triplet_modes<double, kSum, kValue, kGrad, kSum | kGrad, kValue | kGrad, kGrad | kHess>(k.fn[kF64]);
}

}  // namespace FASTLOSS_ISA
}  // namespace fastloss
