// Bindings of the row-wise losses (a class axis): one generic entry point,
// registered once per kernel from the list in fastloss/losses.hpp.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arrays.hpp"
#include "dispatch.hpp"
#include "fastloss/losses.hpp"
#include "register.hpp"

namespace fastloss {

namespace {

// Rejects a label outside [0, classes) that is not ignore_index, before anything
// is computed: IndexError naming the label and its flat position.
void check_labels(const std::int64_t* labels, index_t n, index_t classes, const std::optional<std::int64_t>& ignore) {
  const LabelCheckCall c{labels, n, classes, ignore.has_value(), ignore.value_or(0), max_threads(),
                         parallel_threshold()};
  const LabelCheckFn fn = kernel_table().first_bad_label;
  const index_t i = run_kernel(n, [&] { return fn(c); });
  if (i >= 0)
    throw py::index_error("label " + std::to_string(labels[i]) + " at flat position " + std::to_string(i) +
                          " is outside [0, " + std::to_string(classes) + ")");
}

// _core.<loss>(mode, targets, p, w, class_weight, value, grad, hess, outer, classes, inner,
//              scale, label_smoothing, eps, ignore_index or None, class_weighted[, reduce])
//   -> (loss sum, denominator) with reduce = 0 (the default); with reduce = 1 the sum
//      and with reduce = 2 the mean (sum / denominator) as a NumPy scalar of p's
//      dtype, or None for the mean of nothing (denominator 0).
// targets: float array like p (dense kernels) or int64 labels, one per example (sparse kernels).
py::object run_rowwise(RowwiseKernels KernelTable::*member, bool sparse, unsigned mode, py::handle t_h,
                      py::handle p_h, py::handle w_h, py::handle cw_h, py::handle value_h, py::handle grad_h,
                      py::handle hess_h, index_t outer, index_t classes, index_t inner, double scale,
                      double label_smoothing, double eps, const std::optional<std::int64_t>& ignore_index,
                      bool class_weighted, int reduce) {
  const RowwiseKernels& k = kernel_table().*member;
  if (mode >= kModes) throw py::value_error("invalid mode " + std::to_string(mode));
  if (outer < 0 || classes < 0 || inner < 0) throw py::value_error("negative dimension");
  const ArrayView p0 = view(p_h, "p");
  if (p0.dtype < 0) throw py::type_error("p must be float32 or float64");
  const int dtype = p0.dtype;
  const RowwiseFn fn = k.fn[dtype][mode];
  if (fn == nullptr) throw py::value_error("mode " + std::to_string(mode) + " is not available");
  // outer * classes * inner must be p's size (checked without overflowing)
  const index_t examples = outer * inner;
  if ((inner != 0 && examples / inner != outer) ||
      (classes != 0 && examples != 0 && (examples * classes) / classes != examples) ||
      examples * classes != p0.size)
    throw py::value_error("outer * classes * inner does not match p's size");
  const index_t n = p0.size;
  const ArrayView p = input(p_h, "p", dtype, n);
  if (p.size != n) throw py::value_error("p has the wrong size");

  RowwiseCall c{};
  ArrayView t;
  const bool defer_label_check = (mode & (kValue | kGrad | kHess)) == 0;
  if (sparse) {
    t = view(t_h, "labels");
    if (!t.int64) throw py::type_error("labels must be an int64 array");
    if (!t.c_contiguous()) throw py::value_error("labels must be C-contiguous");
    if (t.size != examples) throw py::value_error("labels must have one entry per example");
    c.labels = reinterpret_cast<const std::int64_t*>(t.data);
    // A call that writes nothing (a sum, a denominator) leaves the check to the
    // kernel's pass where that path checks them (the labels of probabilities), and
    // makes it below otherwise: nothing is observable before it raises, and a
    // separate pass over the labels costs as much as reading them in the kernel.
    if (!defer_label_check) check_labels(c.labels, examples, classes, ignore_index);
  } else {
    t = input(t_h, "y", dtype, n);
    if (t.size != n) throw py::value_error("y must have p's size");
    c.y = t.data;
  }
  const bool weighted = (mode & kWeighted) != 0;
  ArrayView w;
  if (weighted) {
    w = input(w_h, "w", dtype, examples);
    if (w.size != examples) throw py::value_error("w must have one entry per example");
    c.w = w.data;
  } else if (!w_h.is_none()) {
    throw py::value_error("w was given but this mode is unweighted");
  }
  // No class weights: all 1, from a shared read-only buffer up to kSharedOnes
  // classes (allocating and filling them took about 0.4 us of a 1000-row call).
  constexpr index_t kSharedOnes = 4096;
  // (never freed: a kernel still running in a daemon thread at exit can read them)
  static const std::vector<double>& shared_ones64 = *new std::vector<double>(kSharedOnes, 1.0);
  static const std::vector<float>& shared_ones32 = *new std::vector<float>(kSharedOnes, 1.0f);
  std::vector<double> ones64;
  std::vector<float> ones32;
  if (cw_h.is_none()) {
    if (dtype == kF64) {
      if (classes > kSharedOnes) ones64.assign(static_cast<std::size_t>(classes), 1.0);
      c.class_weight = classes > kSharedOnes ? ones64.data() : shared_ones64.data();
    } else {
      if (classes > kSharedOnes) ones32.assign(static_cast<std::size_t>(classes), 1.0f);
      c.class_weight = classes > kSharedOnes ? ones32.data() : shared_ones32.data();
    }
  } else {
    const ArrayView cw = input(cw_h, "class_weight", dtype, classes);
    if (cw.size != classes) throw py::value_error("class_weight must have one entry per class");
    c.class_weight = cw.data;
  }
  Outputs outputs;
  c.value = outputs.add(output(value_h, mode & kValue, "value", dtype, examples), {&t, &p, &w});
  c.grad = outputs.add(output(grad_h, mode & kGrad, "grad", dtype, n), {&t, &p, &w});
  c.hess = outputs.add(output(hess_h, mode & kHess, "hess", dtype, n), {&t, &p, &w});
  c.p = p.data;
  c.outer = outer;
  c.classes = classes;
  c.inner = inner;
  c.scale = scale;
  c.label_smoothing = label_smoothing;
  c.eps = eps;
  c.has_ignore_index = ignore_index.has_value();
  c.ignore_index = ignore_index.value_or(0);
  c.class_weighted = class_weighted;
  c.threads = max_threads();
  c.parallel_threshold = parallel_threshold();
  bool invalid = false;
  c.invalid = &invalid;
  bool labels_ok = false;
  c.labels_ok = &labels_ok;
  const auto r = run_kernel(n, [&] { return fn(c); });
  if (sparse && defer_label_check && !labels_ok) check_labels(c.labels, examples, classes, ignore_index);
  outputs.finish();
  if (invalid) throw DomainError("an input is outside the loss's domain");
  if (reduce == 1) return numpy_scalar(r.loss, dtype);
  if (reduce == 2) return r.denominator != 0.0 ? numpy_scalar(r.loss / r.denominator, dtype) : py::none();
  return py::make_tuple(r.loss, r.denominator);
}

// _core.<loss>_reduced(targets, p, reduce, label_smoothing, eps, ignore_index or None):
// the value of the common call, classes on the last axis of C-contiguous non-empty
// ndarrays (not subclasses) of float32 or float64, targets of p's dtype and shape
// (int64 labels of p's shape without its last axis for the sparse losses), no class
// or sample weights: with reduce = 1 the sum, with reduce = 2 the mean, as a NumPy
// scalar of p's dtype. None for any other call, for a mean of nothing and for an
// input outside the loss's domain, which the general path then computes or names.
// Labels outside [0, C) raise IndexError as on the general path. (The checks that
// the Python tier made for this took about 1.7 us of a 3.3 us call on 10 x 10
// inputs, its kernel call's 17 arguments 0.9 us.)
py::object run_rowwise_reduced(RowwiseKernels KernelTable::*member, bool sparse, py::handle t_h, py::handle p_h,
                               int reduce, double label_smoothing, double eps,
                               const std::optional<std::int64_t>& ignore_index) {
  if (reduce != 1 && reduce != 2) throw py::value_error("reduce must be 1 or 2");
  PyTypeObject* const ndarray = py::detail::npy_api::get().PyArray_Type_;
  if (Py_TYPE(p_h.ptr()) != ndarray || Py_TYPE(t_h.ptr()) != ndarray) return py::none();
  const ArrayView p = view(p_h, "p"), t = view(t_h, "targets");
  const auto* pa = py::detail::array_proxy(p_h.ptr());
  const auto* ta = py::detail::array_proxy(t_h.ptr());
  if (p.dtype < 0 || !p.c_contiguous() || !t.c_contiguous() || pa->nd < 1 || p.size == 0) return py::none();
  const int t_nd = sparse ? pa->nd - 1 : pa->nd;
  if ((sparse ? !t.int64 : t.dtype != p.dtype) || ta->nd != t_nd) return py::none();
  for (int i = 0; i < t_nd; ++i)
    if (ta->dimensions[i] != pa->dimensions[i]) return py::none();
  const index_t classes = pa->dimensions[pa->nd - 1], examples = p.size / classes;
  try {
    return run_rowwise(member, sparse, kSum, t_h, p_h, py::none(), py::none(), py::none(), py::none(), py::none(),
                       examples, classes, 1, reduce == 2 ? 1.0 / static_cast<double>(examples) : 1.0,
                       label_smoothing, eps, ignore_index, false, reduce);
  } catch (const DomainError&) {
    return py::none();
  }
}

}  // namespace

void register_rowwise(py::module_& m) {
#define FASTLOSS_X(name, Variant)                                                                           \
  m.def(                                                                                                    \
      #name,                                                                                                \
      [](unsigned mode, py::handle t, py::handle p, py::handle w, py::handle cw, py::handle value,         \
         py::handle grad, py::handle hess, index_t outer, index_t classes, index_t inner, double scale,    \
         double label_smoothing, double eps, const std::optional<std::int64_t>& ignore_index,              \
         bool class_weighted, int reduce) {                                                                 \
        return run_rowwise(&KernelTable::name, std::string_view(#name).substr(0, 6) == "sparse", mode,      \
                           t, p, w, cw, value, grad, hess, outer, classes, inner, scale, label_smoothing,   \
                           eps, ignore_index, class_weighted, reduce);                                      \
      },                                                                                                    \
      py::arg("mode"), py::arg("targets"), py::arg("p"), py::arg("w"), py::arg("class_weight"),            \
      py::arg("value"), py::arg("grad"), py::arg("hess"), py::arg("outer"), py::arg("classes"),            \
      py::arg("inner"), py::arg("scale"), py::arg("label_smoothing"), py::arg("eps"),                      \
      py::arg("ignore_index"), py::arg("class_weighted"), py::arg("reduce") = 0);
  FASTLOSS_ROWWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
#define FASTLOSS_X(name, Variant)                                                                           \
  m.def(                                                                                                    \
      #name "_reduced",                                                                                     \
      [](py::handle t, py::handle p, int reduce, double label_smoothing, double eps,                        \
         const std::optional<std::int64_t>& ignore_index) {                                                 \
        return run_rowwise_reduced(&KernelTable::name, std::string_view(#name).substr(0, 6) == "sparse", t, \
                                   p, reduce, label_smoothing, eps, ignore_index);                          \
      },                                                                                                    \
      py::arg("targets"), py::arg("p"), py::arg("reduce"), py::arg("label_smoothing"), py::arg("eps"),     \
      py::arg("ignore_index"));
  FASTLOSS_ROWWISE_LOSSES(FASTLOSS_X)
#undef FASTLOSS_X
}

}  // namespace fastloss
