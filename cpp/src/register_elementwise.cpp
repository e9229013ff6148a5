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

// pos_weight 1 for run_elementwise_reduced: a one-element operand of each dtype,
// made when the module is imported (a function-local static would build arrays
// under its guard, where a garbage collection that releases the GIL could let
// another thread wait on the guard holding it), never freed (see the class
// weights of register_rowwise.cpp).
PyObject* pos_weight_ones[2] = {nullptr, nullptr};

template <class T>
PyObject* one_element_ones() {
  py::array_t<T> a(1);
  a.mutable_at(0) = T(1);
  return a.release().ptr();
}

// _core.<loss>_reduced(y, p, reduce, params): the value of the common call, y and p
// C-contiguous non-empty ndarrays (not subclasses) of one shape and of float32 or
// float64, no weights, the auxiliary operand (BCE's pos_weight) 1: with reduce = 1
// the sum, with reduce = 2 the mean, as a NumPy scalar of their dtype. None for any
// other call and for an input outside the loss's domain, which the general path
// then computes or names. (The checks that the Python tier made for this took
// about 1.8 us of a 2.5 us call of mse on 100 elements.)
py::object run_elementwise_reduced(ElementwiseKernels KernelTable::*member, py::handle y_h, py::handle p_h,
                                   int reduce, py::handle params_h) {
  if (reduce != 1 && reduce != 2) throw py::value_error("reduce must be 1 or 2");
  PyTypeObject* const ndarray = py::detail::npy_api::get().PyArray_Type_;
  if (Py_TYPE(y_h.ptr()) != ndarray || Py_TYPE(p_h.ptr()) != ndarray) return py::none();
  const ArrayView y = view(y_h, "y"), p = view(p_h, "p");
  const auto* ya = py::detail::array_proxy(y_h.ptr());
  const auto* pa = py::detail::array_proxy(p_h.ptr());
  if (y.dtype < 0 || p.dtype != y.dtype || !y.c_contiguous() || !p.c_contiguous() || y.size == 0 ||
      ya->nd != pa->nd)
    return py::none();
  for (int i = 0; i < ya->nd; ++i)
    if (ya->dimensions[i] != pa->dimensions[i]) return py::none();
  const py::handle a_h =
      (kernel_table().*member).uses_aux ? py::handle(pos_weight_ones[y.dtype]) : py::handle(py::none());
  const double n = static_cast<double>(y.size);
  try {
    return run_elementwise(member, kSum, y_h, p_h, a_h, py::none(), py::none(), py::none(), py::none(),
                           reduce == 2 ? 1.0 / n : 1.0, params_h, reduce == 2 ? n : 1.0);
  } catch (const DomainError&) {
    return py::none();
  }
}

}  // namespace

void register_elementwise(py::module_& m) {
  pos_weight_ones[kF32] = one_element_ones<float>();
  pos_weight_ones[kF64] = one_element_ones<double>();
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
#define FASTLOSS_X(name, Functor, count)                                                            \
  m.def(                                                                                            \
      #name "_reduced",                                                                             \
      [](py::handle y, py::handle p, int reduce, py::handle params) {                               \
        return run_elementwise_reduced(&KernelTable::name, y, p, reduce, params);                   \
      },                                                                                            \
      py::arg("y"), py::arg("p"), py::arg("reduce"), py::arg("params"));
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
