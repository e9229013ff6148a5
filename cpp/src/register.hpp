// One register_<family> function per family of bindings, called from module.cpp.
#pragma once
#include "pybind11.hpp"

namespace fastloss {
void register_elementwise(py::module_& m);
void register_runtime(py::module_& m);
void register_rowwise(py::module_& m);
void register_embedding(py::module_& m);
void register_custom(py::module_& m);
}  // namespace fastloss
