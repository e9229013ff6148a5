// Bindings of the elementwise losses: one generic entry point, registered once per
// loss from the list in fastloss/losses.hpp.
#include <algorithm>

#include "arrays.hpp"
#include "dispatch.hpp"
#include "fastloss/losses.hpp"
#include "register.hpp"

namespace fastloss {

namespace {

// _core.<loss>(mode, y, p, a, w, value, grad, hess, scale, params) -> float
// Returns the float64 sum for modes with kSum (0.0 otherwise); raises DomainError
// (a ValueError) when an element is outside the loss's domain, after the outputs
// have been written (the Python tier passes fresh outputs, or checked the inputs).
double run_elementwise(ElementwiseKernels KernelTable::*member, unsigned mode, py::handle y_h,
                       py::handle p_h, py::handle a_h, py::handle w_h, py::handle value_h,
                       py::handle grad_h, py::handle hess_h, double scale, py::handle params_h) {
  const ElementwiseKernels& k = kernel_table().*member;
  if (mode >= kModes) throw py::value_error("invalid mode " + std::to_string(mode));
  const ArrayView y0 = view(y_h, "y");
  if (y0.dtype < 0) throw py::type_error("y must be float32 or float64");
  const int dtype = y0.dtype;
  const ElementwiseFn fn = k.fn[dtype][mode];
  if (fn == nullptr) throw py::value_error("mode " + std::to_string(mode) + " is not available");

  // n: the operands have n elements or one (a repeated scalar); an empty operand makes n 0.
  const index_t p_size = view(p_h, "p").size;
  index_t n = std::max(y0.size, p_size);
  if (y0.size == 0 || p_size == 0) n = 0;
  const ArrayView y = input(y_h, "y", dtype, n);
  const ArrayView p = input(p_h, "p", dtype, n);
  const bool weighted = (mode & kWeighted) != 0;
  ArrayView w;
  if (weighted) {
    const index_t w_size = view(w_h, "w").size;
    if (w_size == 0) n = 0;
    else if (n == 1 && w_size > 1) n = w_size;
    w = input(w_h, "w", dtype, n);
  }
  else if (!w_h.is_none()) throw py::value_error("w was given but this mode is unweighted");
  ArrayView a;
  if (k.uses_aux) a = input(a_h, "a", dtype, n);
  else if (!a_h.is_none()) throw py::value_error("this loss takes no auxiliary operand");

  if (!py::isinstance<py::tuple>(params_h)) throw py::type_error("params must be a tuple of floats");
  const auto params_t = py::reinterpret_borrow<py::tuple>(params_h);
  if (static_cast<int>(params_t.size()) != k.n_params)
    throw py::value_error("expected " + std::to_string(k.n_params) + " parameters, got " +
                          std::to_string(params_t.size()));
  double params[8] = {};
  for (int i = 0; i < k.n_params; ++i) params[i] = params_t[i].cast<double>();

  ElementwiseCall c{};
  Outputs outputs;
  c.value = outputs.add(output(value_h, mode & kValue, "value", dtype, n), {&y, &p, &a, &w});
  c.grad = outputs.add(output(grad_h, mode & kGrad, "grad", dtype, n), {&y, &p, &a, &w});
  c.hess = outputs.add(output(hess_h, mode & kHess, "hess", dtype, n), {&y, &p, &a, &w});
  Repeated repeated;
  c.y = repeated(y, n, c.y_advances);
  c.p = repeated(p, n, c.p_advances);
  c.a = k.uses_aux ? repeated(a, n, c.a_advances) : nullptr;
  c.w = weighted ? repeated(w, n, c.w_advances) : nullptr;
  c.n = n;
  c.scale = scale;
  c.params = params;
  c.threads = max_threads();
  c.parallel_threshold = parallel_threshold();
  bool invalid = false;
  c.invalid = &invalid;
  const auto sum = run_kernel(n, [&] { return fn(c); });
  outputs.finish();
  if (invalid) throw DomainError("an input is outside the loss's domain");
  return sum;
}

}  // namespace

void register_elementwise(py::module_& m) {
#define FASTLOSS_X(name, Functor, count)                                                            \
  m.def(#name, [](unsigned mode, py::handle y, py::handle p, py::handle a, py::handle w,            \
                  py::handle value, py::handle grad, py::handle hess, double scale, py::handle params) { \
    return run_elementwise(&KernelTable::name, mode, y, p, a, w, value, grad, hess, scale, params); \
  });
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
  // bandwidth_probe(y, p[, a]) -> float64 sum of y + p (+ a): one read of each input, nothing else.
  m.def(
      "bandwidth_probe",
      [](py::handle y, py::handle p, py::handle a) {
        const py::tuple no_params;
        return run_elementwise(a.is_none() ? &KernelTable::bandwidth_probe : &KernelTable::bandwidth_probe3, kSum,
                               y, p, a, py::none(), py::none(), py::none(), py::none(), 1.0, no_params);
      },
      py::arg("y"), py::arg("p"), py::arg("a") = py::none());
}

}  // namespace fastloss
