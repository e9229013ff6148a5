// Checks that the binding tier makes on every array before a kernel sees it. The
// Python tier has already canonicalised the inputs; these checks make sure that
// a wrong call from Python (or from a user of the private _core module) raises
// instead of reading or writing outside a buffer.
//
// Arrays are read through NumPy's struct directly (no py::array temporaries,
// which would cost reference counting or, for a default py::array, an
// allocation on every call: this is the per-call path for small inputs).
#pragma once
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastloss/config.hpp"
#include "fastloss/kernel_table.hpp"
#include "pybind11.hpp"

namespace fastloss {

// Raised (as fastloss._core.DomainError, a ValueError) when a kernel saw an input
// outside its loss's domain; the Python tier turns it into a message that names
// the value and its position.
struct DomainError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A borrowed view of an ndarray argument; valid for the duration of the call.
struct ArrayView {
  char* data = nullptr;
  index_t size = 0;
  int dtype = -1;  // kF32, kF64, or -1 for any other dtype
  int flags = 0;
  bool int64 = false;  // a 64-bit signed integer array
  std::size_t itemsize() const { return dtype == kF32 ? sizeof(float) : sizeof(double); }
  bool c_contiguous() const { return (flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) != 0; }
  bool writeable() const { return (flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) != 0; }
};

inline bool is_ndarray(py::handle h) { return py::detail::npy_api::get().PyArray_Check_(h.ptr()) != 0; }

inline ArrayView view(py::handle h, const char* what) {
  if (!is_ndarray(h)) throw py::type_error(std::string(what) + " must be a numpy.ndarray");
  const auto* a = py::detail::array_proxy(h.ptr());
  ArrayView v;
  v.data = a->data;
  v.flags = a->flags;
  v.size = 1;
  for (int i = 0; i < a->nd; ++i) v.size *= static_cast<index_t>(a->dimensions[i]);
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  // Byte-swapped data ('>f8' on this little-endian machine) is of no kernel dtype:
  // read as native it gives other numbers. (The Python layer converts it first.)
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  if (d->byteorder == '<') return v;
#else
  if (d->byteorder == '>') return v;
#endif
  const int num = d->type_num;
  v.dtype = num == py::detail::npy_api::NPY_FLOAT_ ? kF32 : num == py::detail::npy_api::NPY_DOUBLE_ ? kF64 : -1;
  v.int64 = (num == py::detail::npy_api::NPY_LONG_ && sizeof(long) == 8) ||
            (num == py::detail::npy_api::NPY_LONGLONG_ && sizeof(long long) == 8);
  return v;
}

// An input operand: C-contiguous, of the call's dtype, with n elements or one.
inline ArrayView input(py::handle h, const char* what, int dtype, index_t n) {
  const ArrayView v = view(h, what);
  if (v.dtype != dtype) throw py::type_error(std::string(what) + " has the wrong dtype for this kernel");
  if (!v.c_contiguous()) throw py::value_error(std::string(what) + " must be C-contiguous");
  if (v.size != n && v.size != 1)
    throw py::value_error(std::string(what) + " has " + std::to_string(v.size) + " elements, expected " +
                          std::to_string(n) + " or 1");
  return v;
}

// An output: present exactly when wanted, C-contiguous, writeable, n elements.
inline ArrayView output(py::handle h, bool wanted, const char* what, int dtype, index_t n) {
  if (!wanted) {
    if (!h.is_none()) throw py::value_error(std::string(what) + " was given but this mode does not write it");
    return ArrayView{};
  }
  const ArrayView v = input(h, what, dtype, n);
  if (v.size != n) throw py::value_error(std::string(what) + " must have n elements");
  if (!v.writeable()) throw py::value_error(std::string(what) + " is read-only");
  return v;
}

inline bool overlap(const ArrayView& a, const ArrayView& b) {
  return a.data != nullptr && b.data != nullptr && a.size > 0 && b.size > 0 &&
         a.data < b.data + b.size * b.itemsize() && b.data < a.data + a.size * a.itemsize();
}

// Outputs that overlap an input or an earlier output are written to a scratch
// buffer first and copied when the kernel is done, so a kernel never reads what
// it has written (out= may alias y_pred, as NumPy's ufuncs allow).
class Outputs {
 public:
  void* add(const ArrayView& out, std::initializer_list<const ArrayView*> inputs) {
    if (out.data == nullptr) return nullptr;
    bool clash = false;
    for (const ArrayView* in : inputs) clash = clash || overlap(out, *in);
    for (int i = 0; i < count_; ++i) clash = clash || overlap(out, pending_[i].out);
    Pending& p = pending_[count_++];  // at most kMax outputs per call (value, grad, hess)
    p.out = out;
    if (!clash) return out.data;
    p.scratch.resize(static_cast<std::size_t>(out.size) * out.itemsize());
    return p.scratch.data();
  }
  void finish() {
    for (int i = 0; i < count_; ++i)
      if (!pending_[i].scratch.empty())
        std::memcpy(pending_[i].out.data, pending_[i].scratch.data(), pending_[i].scratch.size());
  }

 private:
  static constexpr int kMax = 7;  // value + three gradients + three Hessians (the triplet loss)
  struct Pending {
    ArrayView out;
    std::vector<char> scratch;
  };
  Pending pending_[kMax];
  int count_ = 0;
};

// The result of a reduction as a NumPy scalar of the kernel's dtype, x rounded to
// it: what np.float32(x) or np.float64(x) returns, made without those
// constructors (np.float32(x) costs ~0.2 us from Python, as much as a whole
// mini-batch kernel call). The object is allocated by its type and its value
// written in NumPy's layout for these scalars (PyObject_HEAD, then the value, as
// in numpy/arrayscalars.h), which init_numpy_scalars() checks on a sample of
// each type; if a check fails the types are called instead.
template <class T>
struct NumpyScalarObject {
  PyObject_HEAD
  T value;
};

struct NumpyScalarTypes {
  PyTypeObject* type[2] = {nullptr, nullptr};  // [kF32], [kF64]
  bool direct = false;
};
inline NumpyScalarTypes numpy_scalar_types;

template <class T>
bool numpy_scalar_layout_ok(py::handle type, T sample) {
  const py::object made = type(static_cast<double>(sample));
  const auto* t = reinterpret_cast<PyTypeObject*>(type.ptr());
  return Py_TYPE(made.ptr()) == t && t->tp_basicsize >= static_cast<Py_ssize_t>(sizeof(NumpyScalarObject<T>)) &&
         t->tp_itemsize == 0 && reinterpret_cast<const NumpyScalarObject<T>*>(made.ptr())->value == sample;
}

// Called once at import, with the GIL held.
inline void init_numpy_scalars() {
  const py::module_ np = py::module_::import("numpy");
  const py::object f32 = np.attr("float32"), f64 = np.attr("float64");
  numpy_scalar_types.type[kF32] = reinterpret_cast<PyTypeObject*>(f32.inc_ref().ptr());  // kept for the process
  numpy_scalar_types.type[kF64] = reinterpret_cast<PyTypeObject*>(f64.inc_ref().ptr());
  numpy_scalar_types.direct = numpy_scalar_layout_ok(f32, 1.1f) && numpy_scalar_layout_ok(f64, 0.1);
}

// A finite x that overflows float32 goes through np.float32(x), for its
// "overflow encountered in cast" RuntimeWarning.
inline py::object numpy_scalar(double x, int dtype) {
  PyTypeObject* t = numpy_scalar_types.type[dtype];
  const float x32 = static_cast<float>(x);
  if (!numpy_scalar_types.direct || (dtype == kF32 && __builtin_isinf(x32) && !__builtin_isinf(x)))
    return py::handle(reinterpret_cast<PyObject*>(t))(x);
  PyObject* o = t->tp_alloc(t, 0);
  if (o == nullptr) throw py::error_already_set();
  if (dtype == kF32) reinterpret_cast<NumpyScalarObject<float>*>(o)->value = x32;
  else reinterpret_cast<NumpyScalarObject<double>*>(o)->value = x;
  return py::reinterpret_steal<py::object>(o);
}

// What a binding of a kernel with a loss sum returns: the float64 sum (0.0 for modes without
// kSum), or, given a denominator other than 0, sum / denominator as a NumPy scalar
// of the kernel's dtype (the mean, or with denominator 1 the sum, as the API returns it).
inline py::object sum_result(double sum, unsigned mode, double denominator, int dtype) {
  if (denominator != 0.0 && (mode & kSum) != 0) return numpy_scalar(sum / denominator, dtype);
  return py::float_(sum);
}

// Runs a kernel call; from kBlock elements on without the GIL. Safe because the
// kernel only touches raw pointers into arrays that the caller's arguments keep
// alive (and never Python objects); below kBlock, releasing costs more than it gives.
template <class Kernel>
auto run_kernel(index_t elements, const Kernel& kernel) {
  if (elements < kBlock) return kernel();
  py::gil_scoped_release release;
  return kernel();
}

// Scalar broadcasting: a buffer of min(n, kBlock) copies of a one-element operand,
// which every block then reads (see ElementwiseCall::*_advances).
class Repeated {
 public:
  const void* operator()(const ArrayView& a, index_t n, bool& advances) {
    advances = a.size == n;
    if (advances) return a.data;
    const index_t len = n < kBlock ? n : kBlock;
    const std::size_t item = a.itemsize();
    buffers_.emplace_back(static_cast<std::size_t>(len) * item);
    char* out = buffers_.back().data();
    for (index_t i = 0; i < len; ++i) std::memcpy(out + i * item, a.data, item);
    return out;
  }

 private:
  std::vector<std::vector<char>> buffers_;
};

}  // namespace fastloss
