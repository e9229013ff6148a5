// The list of built-in losses per loop shape: adding a loss is one line here
// (plus its functor header, its Python registration and its NumPy reference).
// X(python_name, FunctorTemplate, number_of_hyper_parameters)
#pragma once

#define FASTLOSS_ELEMENTWISE_LOSSES(X) \
  X(mse, Mse, 0)                       \
  X(mae, Mae, 0)                       \
  X(huber, Huber, 1)                   \
  X(cauchy, Cauchy, 1)
