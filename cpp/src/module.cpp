// fastloss._core: the compiled kernels. Private; the public API is python/fastloss.
#include "register.hpp"

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
  m.doc() = "fastloss compiled kernels (private: use the fastloss package)";
  fastloss::register_runtime(m);
  fastloss::register_elementwise(m);
  fastloss::register_rowwise(m);
  fastloss::register_embedding(m);
  fastloss::register_custom(m);
}
