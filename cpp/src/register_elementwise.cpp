// Bindings of the elementwise losses: one generic entry point, registered once per
// loss from the list in fastloss/losses.hpp.
#include "arrays.hpp"
#include "elementwise_call.hpp"
#include "dispatch.hpp"
#include "fastloss/losses.hpp"
#include "register.hpp"

namespace fastloss {

namespace {

// _core.<loss>(mode, y, p, a, w, value, grad, hess, scale, params[, denominator])
// Returns sum_result(); raises DomainError
// (a ValueError) when an element is outside the loss's domain, after the outputs
// have been written (the Python tier passes fresh outputs, or checked the inputs).
py::object run_elementwise(ElementwiseKernels KernelTable::*member, unsigned mode, py::handle y_h,
                           py::handle p_h, py::handle a_h, py::handle w_h, py::handle value_h,
                           py::handle grad_h, py::handle hess_h, double scale, py::handle params_h,
                           double denominator) {
  const ElementwiseKernels& k = kernel_table().*member;
  PreparedElementwise call;
  call.prepare(mode, k.uses_aux, y_h, p_h, a_h, w_h, value_h, grad_h, hess_h, scale);
  const ElementwiseFn fn = k.fn[call.dtype][mode];
  if (fn == nullptr) throw py::value_error("mode " + std::to_string(mode) + " is not available");
  double params[8] = {};
  read_params(params_h, k.n_params, params);
  call.c.params = params;
  bool invalid = false;
  call.c.invalid = &invalid;
  const auto sum = run_kernel(call.c.n, [&] { return fn(call.c); });
  call.outputs.finish();
  if (invalid) throw DomainError("an input is outside the loss's domain");
  return sum_result(sum, mode, denominator, call.dtype);
}

}  // namespace

void register_elementwise(py::module_& m) {
#define FASTLOSS_X(name, Functor, count)                                                            \
  m.def(                                                                                            \
      #name,                                                                                        \
      [](unsigned mode, py::handle y, py::handle p, py::handle a, py::handle w, py::handle value,  \
         py::handle grad, py::handle hess, double scale, py::handle params, double denominator) {   \
        return run_elementwise(&KernelTable::name, mode, y, p, a, w, value, grad, hess, scale, params, \
                               denominator);                                                        \
      },                                                                                            \
      py::arg("mode"), py::arg("y"), py::arg("p"), py::arg("a"), py::arg("w"), py::arg("value"),   \
      py::arg("grad"), py::arg("hess"), py::arg("scale"), py::arg("params"), py::arg("denominator") = 0.0);
  FASTLOSS_ELEMENTWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
  // bandwidth_probe(y, p[, a]) -> float64 sum of y + p (+ a): one read of each input, nothing else.
  m.def(
      "bandwidth_probe",
      [](py::handle y, py::handle p, py::handle a) {
        const py::tuple no_params;
        return run_elementwise(a.is_none() ? &KernelTable::bandwidth_probe : &KernelTable::bandwidth_probe3, kSum,
                               y, p, a, py::none(), py::none(), py::none(), py::none(), 1.0, no_params, 0.0);
      },
      py::arg("y"), py::arg("p"), py::arg("a") = py::none());
}

}  // namespace fastloss
