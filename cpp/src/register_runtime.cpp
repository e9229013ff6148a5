// Run-time controls (threads, instruction set), the weight check and the domain check.
#include <stdexcept>

#include "arrays.hpp"
#include "dispatch.hpp"
#include "register.hpp"

namespace fastloss {

void register_runtime(py::module_& m) {
  max_threads();  // fixes OpenMP's default thread count as seen at import
  init_numpy_scalars();
  py::register_exception<DomainError>(m, "DomainError", PyExc_ValueError);
  m.attr("block_size") = kBlock;
  m.attr("MODE_SUM") = static_cast<int>(kSum);
  m.attr("MODE_VALUE") = static_cast<int>(kValue);
  m.attr("MODE_GRAD") = static_cast<int>(kGrad);
  m.attr("MODE_HESS") = static_cast<int>(kHess);
  m.attr("MODE_WEIGHTED") = static_cast<int>(kWeighted);
  m.attr("MODE_DENOMINATOR") = static_cast<int>(kDenominator);
  m.attr("openmp") = has_openmp();
  m.def("get_num_threads", &max_threads);
  m.def("set_num_threads", &set_num_threads);
  m.def("isa", [] { return std::string(kernel_table().isa); });
  m.def("available_isas", &available_isas);
  m.def("select_isa", [](const std::string& name) {
    try {
      select_isa(name);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  });
  // Thread thresholds per cost class (0 cheap, 1 transcendental); n < 0 restores the default.
  m.def("parallel_threshold", [](int cost) {
    if (cost < 0 || cost >= kCostClasses) throw py::value_error("no such cost class");
    return parallel_threshold()[cost];
  });
  m.def("set_parallel_threshold", [](int cost, index_t n) {
    try {
      set_parallel_threshold(cost, n);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  });
  // weight_sum(w) -> (float64 sum, index of the first negative/NaN/inf weight or -1)
  m.def("weight_sum", [](py::handle w_h) {
    const ArrayView v = view(w_h, "w");
    if (v.dtype < 0) throw py::type_error("w must be float32 or float64");
    const ArrayView w = input(w_h, "w", v.dtype, v.size);
    const int dtype = w.dtype;
    const WeightCall c{w.data, w.size, max_threads(), parallel_threshold()};
    const WeightFn fn = kernel_table().weight_sum[dtype];
    const WeightSummary s = run_kernel(c.n, [&] { return fn(c); });
    return py::make_tuple(s.sum, s.first_bad);
  });
  // first_outside(x, unit) -> flat index of the first element outside [0, 1] (unit)
  // or below 0, -1 if none (NaN passes)
  m.def("first_outside", [](py::handle x_h, bool unit) {
    const ArrayView v = view(x_h, "x");
    if (v.dtype < 0) throw py::type_error("x must be float32 or float64");
    const ArrayView x = input(x_h, "x", v.dtype, v.size);
    const RangeCall c{x.data, x.size, unit, max_threads(), parallel_threshold()};
    const RangeFn fn = kernel_table().first_outside[x.dtype];
    return run_kernel(c.n, [&] { return fn(c); });
  });
}

}  // namespace fastloss
