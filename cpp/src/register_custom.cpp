// Bindings of custom losses: _core.CustomKernel holds the programs that
// fastloss.custom compiled (one per set of outputs: value, gradient, Hessian),
// validates them once, and runs them like a built-in elementwise kernel.
#include <string>
#include <vector>

#include "arrays.hpp"
#include "dispatch.hpp"
#include "elementwise_call.hpp"
#include "fastloss/custom_program.hpp"
#include "register.hpp"

namespace fastloss {

namespace {

// Which outputs a mode needs, as bits: 1 the value, 2 the gradient, 4 the Hessian.
unsigned needs(unsigned mode) {
  return ((mode & (kSum | kValue)) ? 1u : 0u) | ((mode & kGrad) ? 2u : 0u) | ((mode & kHess) ? 4u : 0u);
}

struct Variant {
  std::vector<CustomInstruction> code;
  std::vector<double> constants;  // the program's numbers; the parameters follow at call time
  CustomProgram program{};        // points into code; constants set per call
  bool present = false;
};

class CustomKernel {
 public:
  // variants: {needs bits: (code, n_slots, constants, value_slot, grad_slot, hess_slot)}
  // code: a list of (op, dst, a, b, c) tuples, operands beyond the op's arity -1.
  CustomKernel(const py::dict& variants, int n_params, bool transcendental) : n_params_(n_params) {
    if (n_params < 0 || n_params > kCustomMaxSlots) throw py::value_error("bad parameter count");
    for (auto item : variants) {
      const unsigned key = item.first.cast<unsigned>();
      if (key == 0 || key >= 8) throw py::value_error("variant keys are output bits 1..7");
      const auto t = item.second.cast<py::tuple>();
      if (t.size() != 6) throw py::value_error("a variant is (code, n_slots, constants, value, grad, hess)");
      Variant& v = variants_[key];
      v.present = true;
      const auto code = t[0].cast<std::vector<std::vector<std::int32_t>>>();
      const int n_slots = t[1].cast<int>();
      v.constants = t[2].cast<std::vector<double>>();
      const int roots[3] = {t[3].cast<int>(), t[4].cast<int>(), t[5].cast<int>()};
      validate(key, code, n_slots, roots, v);
      v.program.cost = transcendental ? kTranscendental : kCheap;
    }
  }

  // As the built-in elementwise kernels: (mode, y, p, a, w, value, grad, hess, scale, params[, denominator]).
  py::object call(unsigned mode, py::handle y, py::handle p, py::handle a, py::handle w, py::handle value,
                  py::handle grad, py::handle hess, double scale, py::handle params_h, double denominator) const {
    if (mode >= kModes) throw py::value_error("invalid mode " + std::to_string(mode));
    const Variant& v = variants_[needs(mode)];
    if (!v.present) throw py::value_error("no program for mode " + std::to_string(mode));
    PreparedElementwise call;
    call.prepare(mode, false, y, p, a, w, value, grad, hess, scale);
    const CustomFn fn = kernel_table().custom.fn[call.dtype][mode];
    if (fn == nullptr) throw py::value_error("mode " + std::to_string(mode) + " is not available");
    CustomProgram program = v.program;
    std::vector<double> constants;
    if (n_params_ > 0) {
      constants.resize(v.constants.size() + n_params_);
      std::copy(v.constants.begin(), v.constants.end(), constants.begin());
      read_params(params_h, n_params_, constants.data() + v.constants.size());
      program.constants = constants.data();
    } else {
      read_params(params_h, 0, nullptr);
      program.constants = v.constants.data();
    }
    bool out_of_memory = false;
    call.c.invalid = &out_of_memory;
    const double sum = run_kernel(call.c.n, [&] { return fn(call.c, program); });
    if (out_of_memory) throw std::bad_alloc();
    call.outputs.finish();
    return sum_result(sum, mode, denominator, call.dtype);
  }

 private:
  // Everything a kernel relies on: opcodes, slots in range, registers written
  // before they are read, inputs and constants never written.
  void validate(unsigned key, const std::vector<std::vector<std::int32_t>>& code, int n_slots, const int* roots,
                Variant& v) const {
    const int n_constants = static_cast<int>(v.constants.size()) + n_params_;
    const int first_constant = n_slots - n_constants;
    if (n_slots > kCustomMaxSlots || first_constant < 2)
      throw py::value_error("a program has 2 input slots, its registers and its constants, at most " +
                            std::to_string(kCustomMaxSlots) + " slots");
    if (code.size() > static_cast<std::size_t>(kCustomMaxInstructions))
      throw py::value_error("a program has at most " + std::to_string(kCustomMaxInstructions) + " instructions");
    std::vector<char> defined(n_slots, 0);
    defined[0] = defined[1] = 1;
    for (int s = first_constant; s < n_slots; ++s) defined[s] = 1;
    auto readable = [&](std::int32_t s) { return s >= 0 && s < n_slots && defined[s]; };
    for (std::size_t k = 0; k < code.size(); ++k) {
      const auto& in = code[k];
      const std::string where = "instruction " + std::to_string(k);
      if (in.size() != 5) throw py::value_error(where + " is not (op, dst, a, b, c)");
      const std::int32_t op = in[0];
      if (op < 0 || op >= kCustomOps) throw py::value_error(where + ": no opcode " + std::to_string(op));
      if (in[1] < 2 || in[1] >= first_constant) throw py::value_error(where + ": dst is not a register");
      for (int i = 0; i < 3; ++i) {
        const std::int32_t s = in[2 + i];
        if (i < kCustomArity[op] ? !readable(s) : s != -1)
          throw py::value_error(where + ": operand " + std::to_string(i) + " (" + std::to_string(s) +
                                ") is not a defined slot");
      }
      defined[in[1]] = 1;
      v.code.push_back({in[0], in[1], in[2], in[3], in[4]});
    }
    for (int r = 0; r < 3; ++r) {
      const bool wanted = (key >> r) & 1u;
      if (wanted ? !readable(roots[r]) : roots[r] != -1)
        throw py::value_error("output " + std::to_string(r) + " is not a defined slot");
    }
    v.program.code = v.code.data();
    v.program.n_code = static_cast<int>(v.code.size());
    v.program.n_slots = n_slots;
    v.program.first_constant = first_constant;
    v.program.value_slot = roots[0];
    v.program.grad_slot = roots[1];
    v.program.hess_slot = roots[2];
  }

  Variant variants_[8];
  int n_params_;
};

}  // namespace

void register_custom(py::module_& m) {
  py::dict ops;
  for (int op = 0; op < kCustomOps; ++op) ops[kCustomOpNames[op]] = py::make_tuple(op, kCustomArity[op]);
  m.attr("custom_ops") = ops;
  m.attr("custom_max_slots") = kCustomMaxSlots;
  m.attr("custom_max_instructions") = kCustomMaxInstructions;
  py::class_<CustomKernel>(m, "CustomKernel")
      .def(py::init<const py::dict&, int, bool>())
      .def("__call__", &CustomKernel::call, py::arg("mode"), py::arg("y"), py::arg("p"), py::arg("a"), py::arg("w"),
           py::arg("value"), py::arg("grad"), py::arg("hess"), py::arg("scale"), py::arg("params"),
           py::arg("denominator") = 0.0);
}

}  // namespace fastloss
