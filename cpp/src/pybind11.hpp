// The single place that includes pybind11 (and its NumPy support) for the binding tier.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
