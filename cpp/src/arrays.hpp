// Checks that the binding tier makes on every array before a kernel sees it. The
// Python tier has already canonicalised the inputs; these checks make sure that
// a wrong call from Python (or from a user of the private _core module) raises
// instead of reading or writing outside a buffer.
#pragma once
#include <cstring>
#include <string>
#include <vector>

#include "fastloss/config.hpp"
#include "fastloss/kernel_table.hpp"
#include "pybind11.hpp"

namespace fastloss {

// kF32 or kF64 for a float32 / float64 array, -1 otherwise.
inline int dtype_index(const py::array& a) {
  const int num = py::detail::array_descriptor_proxy(py::detail::array_proxy(a.ptr())->descr)->type_num;
  return num == py::detail::npy_api::NPY_FLOAT_ ? kF32 : num == py::detail::npy_api::NPY_DOUBLE_ ? kF64 : -1;
}

inline bool c_contiguous(const py::array& a) {
  return (py::detail::array_proxy(a.ptr())->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) != 0;
}

inline bool writeable(const py::array& a) {
  return (py::detail::array_proxy(a.ptr())->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) != 0;
}

// An input operand: C-contiguous, of the call's dtype, with n elements or one.
inline py::array input(py::handle h, const char* what, int dtype, index_t n) {
  if (!py::isinstance<py::array>(h)) throw py::type_error(std::string(what) + " must be a numpy.ndarray");
  auto a = py::reinterpret_borrow<py::array>(h);
  if (dtype_index(a) != dtype) throw py::type_error(std::string(what) + " has the wrong dtype for this kernel");
  if (!c_contiguous(a)) throw py::value_error(std::string(what) + " must be C-contiguous");
  const index_t size = static_cast<index_t>(a.size());
  if (size != n && size != 1)
    throw py::value_error(std::string(what) + " has " + std::to_string(size) + " elements, expected " +
                          std::to_string(n) + " or 1");
  return a;
}

// An output: present exactly when wanted, C-contiguous, writeable, n elements,
// not overlapping any input.
inline void* output(py::handle h, bool wanted, const char* what, int dtype, index_t n,
                    std::initializer_list<const py::array*> inputs) {
  if (!wanted) {
    if (!h.is_none()) throw py::value_error(std::string(what) + " was given but this mode does not write it");
    return nullptr;
  }
  auto a = input(h, what, dtype, n);
  if (static_cast<index_t>(a.size()) != n) throw py::value_error(std::string(what) + " must have n elements");
  if (!writeable(a)) throw py::value_error(std::string(what) + " is read-only");
  const char* lo = static_cast<const char*>(a.data());
  const char* hi = lo + a.nbytes();
  for (const py::array* in : inputs) {
    const char* ilo = static_cast<const char*>(in->data());
    const char* ihi = ilo + in->nbytes();
    if (n > 0 && lo < ihi && ilo < hi) throw py::value_error(std::string(what) + " overlaps an input");
  }
  return a.mutable_data();
}

// Scalar broadcasting: a buffer of min(n, kBlock) copies of a one-element operand,
// which every block then reads (see ElementwiseCall::*_advances).
class Repeated {
 public:
  const void* operator()(const py::array& a, index_t n, int dtype, bool& advances) {
    advances = static_cast<index_t>(a.size()) == n;
    if (advances) return a.data();
    const index_t len = n < kBlock ? n : kBlock;
    const std::size_t item = dtype == kF32 ? sizeof(float) : sizeof(double);
    buffers_.emplace_back(static_cast<std::size_t>(len) * item);
    char* out = buffers_.back().data();
    for (index_t i = 0; i < len; ++i) std::memcpy(out + i * item, a.data(), item);
    return out;
  }

 private:
  std::vector<std::vector<char>> buffers_;
};

}  // namespace fastloss
