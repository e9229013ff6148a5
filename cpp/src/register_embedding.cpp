// Binding of the triplet loss (the embedding-distance loop).
#include <string>

#include "arrays.hpp"
#include "dispatch.hpp"
#include "register.hpp"

namespace fastloss {

namespace {

// _core.triplet_loss(mode, anchor, positive, negative, w, value, grads, hesses, examples, dim,
//                    scale, margin, p, eps, squared, swap[, denominator]) -> sum_result() of the
// float64 sum of w * loss
// grads / hesses: None or a tuple of three arrays (anchor, positive, negative).
py::object run_triplet(unsigned mode, py::handle a_h, py::handle p_h, py::handle n_h, py::handle w_h,
                       py::handle value_h, py::handle grads_h, py::handle hesses_h, index_t examples, index_t dim,
                       double scale, double margin, double norm_p, double eps, bool squared, bool swap,
                       double denominator) {
  if (mode >= kModes) throw py::value_error("invalid mode " + std::to_string(mode));
  if (examples < 0 || dim < 0 || (dim != 0 && examples > (index_t(1) << 62) / dim))
    throw py::value_error("bad dimensions");
  const ArrayView a0 = view(a_h, "anchor");
  if (a0.dtype < 0) throw py::type_error("anchor must be float32 or float64");
  const int dtype = a0.dtype;
  const TripletFn fn = kernel_table().triplet_loss.fn[dtype][mode];
  if (fn == nullptr) throw py::value_error("mode " + std::to_string(mode) + " is not available");
  const index_t n = examples * dim;
  const ArrayView a = input(a_h, "anchor", dtype, n), p = input(p_h, "positive", dtype, n),
                  ng = input(n_h, "negative", dtype, n);
  if (a.size != n || p.size != n || ng.size != n) throw py::value_error("embeddings must have examples * dim elements");
  TripletCall c{};
  ArrayView w;
  if (mode & kWeighted) {
    w = input(w_h, "w", dtype, examples);
    if (w.size != examples) throw py::value_error("w must have one entry per example");
    c.w = w.data;
  } else if (!w_h.is_none()) {
    throw py::value_error("w was given but this mode is unweighted");
  }
  Outputs outputs;
  c.value = outputs.add(output(value_h, mode & kValue, "value", dtype, examples), {&a, &p, &ng, &w});
  for (int which = 0; which < 2; ++which) {
    const bool wanted = (mode & (which == 0 ? kGrad : kHess)) != 0;
    const py::handle h = which == 0 ? grads_h : hesses_h;
    void** dest = which == 0 ? c.grad : c.hess;
    if (!wanted) {
      if (!h.is_none()) throw py::value_error("derivatives were given but this mode does not write them");
      continue;
    }
    if (!py::isinstance<py::tuple>(h) || py::len(h) != 3) throw py::type_error("expected a tuple of three arrays");
    const auto t = py::reinterpret_borrow<py::tuple>(h);
    for (int i = 0; i < 3; ++i)
      dest[i] = outputs.add(output(t[i], true, which == 0 ? "grad" : "hess", dtype, n), {&a, &p, &ng, &w});
  }
  c.anchor = a.data;
  c.positive = p.data;
  c.negative = ng.data;
  c.examples = examples;
  c.dim = dim;
  c.scale = scale;
  c.margin = margin;
  c.norm_p = norm_p;
  c.eps = eps;
  c.squared = squared;
  c.swap = swap;
  c.threads = max_threads();
  c.parallel_threshold = parallel_threshold();
  const auto sum = run_kernel(n, [&] { return fn(c); });
  outputs.finish();
  return sum_result(sum, mode, denominator, dtype);
}

}  // namespace

void register_embedding(py::module_& m) {
  m.def("triplet_loss", &run_triplet, py::arg("mode"), py::arg("anchor"), py::arg("positive"),
        py::arg("negative"), py::arg("w"), py::arg("value"), py::arg("grads"), py::arg("hesses"),
        py::arg("examples"), py::arg("dim"), py::arg("scale"), py::arg("margin"), py::arg("p"), py::arg("eps"),
        py::arg("squared"), py::arg("swap"), py::arg("denominator") = 0.0);
}

}  // namespace fastloss
