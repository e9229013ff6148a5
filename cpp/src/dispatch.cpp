#include "dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#ifdef FASTLOSS_OPENMP
#include <omp.h>
#endif

namespace fastloss {

#ifdef FASTLOSS_HAVE_BASELINE
namespace baseline { void fill_kernel_table(KernelTable&); }
#endif
#ifdef FASTLOSS_HAVE_AVX2
namespace avx2 { void fill_kernel_table(KernelTable&); }
#endif
#ifdef FASTLOSS_HAVE_AVX512
namespace avx512 { void fill_kernel_table(KernelTable&); }
#endif

namespace {

struct IsaEntry {
  const char* name;
  void (*fill)(KernelTable&);
  bool (*supported)();
};

#ifdef FASTLOSS_HAVE_BASELINE
bool always() { return true; }
#endif
#if defined(FASTLOSS_HAVE_AVX2) || defined(FASTLOSS_HAVE_AVX512)
bool cpu_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
#endif
#ifdef FASTLOSS_HAVE_AVX512
bool cpu_avx512() {
  return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}
#endif

// Best first.
const IsaEntry kIsas[] = {
#ifdef FASTLOSS_HAVE_AVX512
    {"avx512", &avx512::fill_kernel_table, &cpu_avx512},
#endif
#ifdef FASTLOSS_HAVE_AVX2
    {"avx2", &avx2::fill_kernel_table, &cpu_avx2},
#endif
#ifdef FASTLOSS_HAVE_BASELINE
    {"baseline", &baseline::fill_kernel_table, &always},
#endif
};

KernelTable make_table(const IsaEntry& e) {
  KernelTable t{};
  e.fill(t);
  t.isa = e.name;
  return t;
}

const IsaEntry& entry(const std::string& name) {
  for (const IsaEntry& e : kIsas)
    if (name == e.name) {
      if (!e.supported()) throw std::invalid_argument("instruction set '" + name + "' is not supported by this CPU");
      return e;
    }
  throw std::invalid_argument("instruction set '" + name + "' is not compiled into this build");
}

KernelTable initial_table() {
  if (const char* forced = std::getenv("FASTLOSS_ISA"); forced && *forced) return make_table(entry(forced));
  for (const IsaEntry& e : kIsas)
    if (e.supported()) return make_table(e);
  // (only a build with FASTLOSS_ONLY_ISAS that leaves out baseline gets here)
  throw std::runtime_error("fastloss was built without kernels that this CPU runs (FASTLOSS_ONLY_ISAS without baseline)");
}

KernelTable& current() {
  static KernelTable table = initial_table();
  return table;
}

std::atomic<int> g_requested_threads{0};
index_t g_parallel_threshold[kCostClasses] = {kDefaultParallelThreshold[0], kDefaultParallelThreshold[1]};

}  // namespace

const KernelTable& kernel_table() { return current(); }

std::vector<std::string> available_isas() {
  std::vector<std::string> names;
  for (const IsaEntry& e : kIsas)
    if (e.supported()) names.emplace_back(e.name);
  return names;
}

void select_isa(const std::string& name) { current() = make_table(entry(name)); }

int max_threads() {
#ifdef FASTLOSS_OPENMP
  // OpenMP's value at import is the default; a different value now means that
  // someone (threadpoolctl, omp_set_num_threads) limited this thread, and that
  // limit wins over a larger set_num_threads.
  static const int omp_default = omp_get_max_threads();
  const int omp = omp_get_max_threads();
  const int mine = g_requested_threads.load(std::memory_order_relaxed);
  if (mine <= 0) return omp;
  return omp != omp_default && omp < mine ? omp : mine;
#else
  return 1;
#endif
}

void set_num_threads(int n) { g_requested_threads.store(n > 0 ? n : 0, std::memory_order_relaxed); }

const index_t* parallel_threshold() { return g_parallel_threshold; }

void set_parallel_threshold(int cost, index_t n) {
  if (cost < 0 || cost >= kCostClasses) throw std::invalid_argument("no such cost class");
  g_parallel_threshold[cost] = n < 0 ? kDefaultParallelThreshold[cost] : n;
}

bool has_openmp() {
#ifdef FASTLOSS_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fastloss
