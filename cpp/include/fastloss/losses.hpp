// The list of built-in losses per loop shape: adding a loss is one line here
// (plus its functor header, its Python registration and its NumPy reference).
// Elementwise: X(kernel name in _core, functor template, number of hyper-parameters)
// Row-wise:    X(kernel name in _core, variant)
#pragma once

#define FASTLOSS_ELEMENTWISE_LOSSES(X) \
  X(mse, Mse, 0)                       \
  X(mae, Mae, 0)                       \
  X(huber, Huber, 1)                   \
  X(cauchy, Cauchy, 1)                 \
  X(cauchy_pow2, CauchyPow2, 1)        \
  X(triplet_margin, TripletMargin, 1)  \
  X(binary_cross_entropy, BceProb, 2)  \
  X(binary_cross_entropy_logits, BceLogits, 2) \
  X(bce_target1, BceTarget1, 2)        \
  X(bce_target0, BceTarget0, 2)        \
  X(focal_loss, FocalProb, 4)          \
  X(focal_loss_logits, FocalLogits, 4)  \
  X(focal_loss_gamma2, FocalProbSquare, 4) \
  X(focal_loss_logits_gamma2, FocalLogitsSquare, 4)

#define FASTLOSS_ROWWISE_LOSSES(X)                        \
  X(categorical_cross_entropy, CceProbs)                  \
  X(categorical_cross_entropy_logits, CceLogits)          \
  X(sparse_categorical_cross_entropy, SparseProbs)        \
  X(sparse_categorical_cross_entropy_logits, SparseLogits) \
  X(kl_divergence, KlProbs)                               \
  X(kl_divergence_logits, KlLogits)
