// The arrays of one elementwise call (built-in or custom loss), validated:
// operands of n elements or one (a repeated scalar), outputs present exactly when
// the mode writes them, outputs that overlap an input redirected to scratch.
#pragma once
#include <algorithm>
#include <string>

#include "arrays.hpp"
#include "dispatch.hpp"

namespace fastloss {

struct PreparedElementwise {
  ElementwiseCall c{};
  int dtype = -1;
  Outputs outputs;  // call outputs.finish() after the kernel ran
  Repeated repeated;
  ArrayView y, p, a, w;

  void prepare(unsigned mode, bool uses_aux, py::handle y_h, py::handle p_h, py::handle a_h, py::handle w_h,
               py::handle value_h, py::handle grad_h, py::handle hess_h, double scale) {
    if (mode >= kModes) throw py::value_error("invalid mode " + std::to_string(mode));
    const ArrayView y0 = view(y_h, "y");
    if (y0.dtype < 0) throw py::type_error("y must be float32 or float64");
    dtype = y0.dtype;
    // n: the operands have n elements or one (a repeated scalar); an empty operand makes n 0.
    const index_t p_size = view(p_h, "p").size;
    index_t n = std::max(y0.size, p_size);
    if (y0.size == 0 || p_size == 0) n = 0;
    y = input(y_h, "y", dtype, n);
    p = input(p_h, "p", dtype, n);
    const bool weighted = (mode & kWeighted) != 0;
    if (weighted) {
      const index_t w_size = view(w_h, "w").size;
      if (w_size == 0) n = 0;
      else if (n == 1 && w_size > 1) n = w_size;
      w = input(w_h, "w", dtype, n);
    } else if (!w_h.is_none()) {
      throw py::value_error("w was given but this mode is unweighted");
    }
    if (uses_aux) a = input(a_h, "a", dtype, n);
    else if (!a_h.is_none()) throw py::value_error("this loss takes no auxiliary operand");

    c.value = outputs.add(output(value_h, mode & kValue, "value", dtype, n), {&y, &p, &a, &w});
    c.grad = outputs.add(output(grad_h, mode & kGrad, "grad", dtype, n), {&y, &p, &a, &w});
    c.hess = outputs.add(output(hess_h, mode & kHess, "hess", dtype, n), {&y, &p, &a, &w});
    c.y = repeated(y, n, c.y_advances);
    c.p = repeated(p, n, c.p_advances);
    c.a = uses_aux ? repeated(a, n, c.a_advances) : nullptr;
    c.w = weighted ? repeated(w, n, c.w_advances) : nullptr;
    c.n = n;
    c.scale = scale;
    c.threads = max_threads();
    c.parallel_threshold = parallel_threshold();
  }
};

// A tuple of exactly `count` floats into params[0..count).
inline void read_params(py::handle params_h, int count, double* params) {
  if (!py::isinstance<py::tuple>(params_h)) throw py::type_error("params must be a tuple of floats");
  const auto t = py::reinterpret_borrow<py::tuple>(params_h);
  if (static_cast<int>(t.size()) != count)
    throw py::value_error("expected " + std::to_string(count) + " parameters, got " + std::to_string(t.size()));
  for (int i = 0; i < count; ++i) params[i] = t[i].cast<double>();
}

}  // namespace fastloss
