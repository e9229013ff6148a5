// The interface between the binding tier and the kernels: plain structs and
// function pointers, so that the kernels can be compiled once per instruction set
// and picked at run time. Everything here has been validated by the caller:
// pointers are valid for n elements (or for min(n, kBlock) elements where an
// operand does not advance), outputs are writable and do not overlap inputs.
#pragma once
#include <cstdint>

#include "config.hpp"
#include "custom_program.hpp"
#include "losses.hpp"

namespace fastloss {

// What one call computes; bits combine (e.g. kSum | kGrad is value_and_grad).
enum Mode : unsigned {
  kSum = 1,        // accumulate the (weighted) loss in float64 and return it
  kValue = 2,      // write the (weighted) loss per element
  kGrad = 4,       // write scale * w * dl/dp
  kHess = 8,       // write scale * w * d2l/dp2
  kWeighted = 16,  // a weight per element (per example for the row-wise losses)
  kDenominator = 32,  // row-wise only: just the sum of the mean's denominators (no loss)
};
constexpr int kModes = 64;

// Cost classes of a functor: the input size from which threads pay off depends on it.
enum Cost : int { kCheap = 0, kTranscendental = 1, kCostClasses = 2 };
// Sizes at or above which each cost class uses threads. Below, waking the threads
// costs more than the work saves: measured on 2 cores with
// benchmarks/thread_threshold.py (cheap: 1 vs 2 threads break even near 2^15
// elements; transcendental: near 2^13 for float32).
constexpr index_t kDefaultParallelThreshold[kCostClasses] = {index_t(1) << 16, index_t(1) << 14};
constexpr int kF32 = 0, kF64 = 1;

struct ElementwiseCall {
  const void* y;
  const void* p;
  const void* a;  // the functor's per-element auxiliary operand; nullptr if it has none
  const void* w;  // nullptr unless kWeighted
  // false: the operand is one value, repeated over a buffer of min(n, kBlock)
  // elements, and every block reads that same buffer (scalar broadcasting, no copy of size n).
  bool y_advances, p_advances, a_advances, w_advances;
  index_t n;
  void* value;
  void* grad;
  void* hess;
  double scale;          // 1, 1/n or 1/sum(w): applied to gradients and Hessians
  const double* params;  // the functor's hyper-parameters, in its documented order
  int threads;           // upper bound; inputs under parallel_threshold run on one thread
  const index_t* parallel_threshold;  // [Cost]
  bool* invalid;  // set to whether any element was outside the loss's domain (may be nullptr)
};
using ElementwiseFn = double (*)(const ElementwiseCall&);

struct ElementwiseKernels {
  int n_params;                 // how many doubles the functor reads from ElementwiseCall::params
  bool uses_aux;                // whether the functor reads ElementwiseCall::a
  ElementwiseFn fn[2][kModes];  // [kF32 / kF64][mode]; nullptr for modes that make no sense
};

struct WeightCall {
  const void* w;
  index_t n;
  int threads;  // used from parallel_threshold[kCheap] elements on
  const index_t* parallel_threshold;
};
struct WeightSummary {
  double sum;         // float64 sum in the deterministic block order
  index_t first_bad;  // index of the first negative, NaN or infinite weight, -1 if none
};
using WeightFn = WeightSummary (*)(const WeightCall&);

// The domain check before a call that writes to out= (nothing may be written on
// error): the index of the first element of x outside [0, 1] (unit) or below 0
// (otherwise), -1 if none. NaN passes, as NumPy's comparisons say.
struct RangeCall {
  const void* x;
  index_t n;
  bool unit;
  int threads;  // used from parallel_threshold[kCheap] elements on
  const index_t* parallel_threshold;
};
using RangeFn = index_t (*)(const RangeCall&);

// The class labels' check before a sparse loss reads them: the index of the first
// label outside [0, classes) that is not ignore_index, -1 if none.
struct LabelCheckCall {
  const std::int64_t* labels;
  index_t n, classes;
  bool has_ignore;
  std::int64_t ignore;
  int threads;  // used from parallel_threshold[kCheap] labels on
  const index_t* parallel_threshold;
};
using LabelCheckFn = index_t (*)(const LabelCheckCall&);

// Row-wise losses over a class axis. p (and dense targets y) are C-contiguous
// (outer, classes, inner) arrays: the class axis in the middle, examples
// (o, i) at every other position. Per-example arrays (labels, w, value) have
// outer * inner elements.
struct RowwiseCall {
  const void* y;                // dense targets; nullptr for class labels
  const std::int64_t* labels;   // class labels; nullptr for dense targets
  const void* p;                // logits or probabilities
  const void* w;                // per-example weights (kWeighted)
  const void* class_weight;     // classes values (all 1 when the user gave none)
  index_t outer, classes, inner;
  void* value;                  // per-example loss (kValue)
  void* grad;
  void* hess;
  double scale;                 // applied to gradients and Hessians
  double label_smoothing, eps;
  bool has_ignore_index;
  std::int64_t ignore_index;    // labels equal to it are skipped (when has_ignore_index)
  bool class_weighted;          // the mean's denominator is sum_c class_weight_c y_c, not 1, per example
  int threads;
  const index_t* parallel_threshold;
  bool* invalid;                // set when a probability is negative
  // Sparse labels (may be nullptr): set to whether the kernel checked every label
  // against [0, C) and found none outside (ignore_index aside); false when one was
  // (the result is then meaningless) or its path did not check them.
  bool* labels_ok;
};
struct RowwiseResult {
  double loss;         // sum of w * loss
  double denominator;  // sum of w * (class-weighted target mass, or 1), over examples not ignored
};
using RowwiseFn = RowwiseResult (*)(const RowwiseCall&);
struct RowwiseKernels {
  RowwiseFn fn[2][kModes];
};

// The triplet loss over embeddings (examples, dim), C-contiguous, one dtype:
// max(D(a, p) - D(a, n) + margin, 0) with D the p-norm distance of a - p + eps
// (squared if asked; with swap, D(a, n) <- min(D(a, n), D(p, n))).
struct TripletCall {
  const void* anchor;
  const void* positive;
  const void* negative;
  const void* w;  // per example (kWeighted)
  index_t examples, dim;
  void* value;    // per example (kValue)
  void* grad[3];  // anchor, positive, negative (kGrad)
  void* hess[3];  // (kHess)
  double scale, margin, norm_p, eps;
  bool squared, swap;
  int threads;
  const index_t* parallel_threshold;
};
using TripletFn = double (*)(const TripletCall&);
struct TripletKernels {
  TripletFn fn[2][kModes];
};

// Custom losses (fastloss.custom): the elementwise call, and the program that
// computes loss, gradient and Hessian per element instead of a functor.
using CustomFn = double (*)(const ElementwiseCall&, const CustomProgram&);
struct CustomKernels {
  CustomFn fn[2][kModes];
};

struct KernelTable {
  const char* isa;
  WeightFn weight_sum[2];
  RangeFn first_outside[2];
  LabelCheckFn first_bad_label;
  ElementwiseKernels bandwidth_probe;  // reads y and p, sums y + p (benchmarks only)
  ElementwiseKernels bandwidth_probe3;  // reads y, p and a, sums y + p + a (benchmarks only)
#define FASTLOSS_X(name, Functor, count) ElementwiseKernels name;
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
#define FASTLOSS_X(name, Variant) RowwiseKernels name;
  FASTLOSS_ROWWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
  TripletKernels triplet_loss;
  CustomKernels custom;
};

}  // namespace fastloss
