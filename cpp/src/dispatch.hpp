// Which instruction set's kernels run, and on how many threads.
#pragma once
#include <string>
#include <vector>

#include "fastloss/kernel_table.hpp"

namespace fastloss {

// The table of the best ISA this CPU supports (or the one forced through the
// FASTLOSS_ISA environment variable / select_isa), chosen at the first call.
const KernelTable& kernel_table();
std::vector<std::string> available_isas();  // compiled in and supported by this CPU
void select_isa(const std::string& name);   // throws std::invalid_argument if not available

// The set_num_threads value (OpenMP's default when unset), lowered to
// omp_get_max_threads() when threadpoolctl or omp_set_num_threads has limited the
// calling thread, so that both limits hold.
int max_threads();
void set_num_threads(int n);  // n <= 0: back to the OpenMP default
bool has_openmp();

// Per cost class: the input size from which kernels use threads (for measuring
// the defaults, kDefaultParallelThreshold; not a public API).
const index_t* parallel_threshold();
void set_parallel_threshold(int cost, index_t n);

}  // namespace fastloss
