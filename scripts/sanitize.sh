#!/usr/bin/env bash
# Build fastloss with AddressSanitizer + UndefinedBehaviorSanitizer (the CMake
# option FASTLOSS_SANITIZE) into its own venv and run the whole test suite under
# them. Any report fails the run: UBSan halts on its first error, ASan always does.
#
#   scripts/sanitize.sh                 # every instruction set (as shipped)
#   FASTLOSS_SANITIZE_ISAS=baseline scripts/sanitize.sh   # one kernel build: quicker (CI)
#   scripts/sanitize.sh -k accuracy     # extra arguments go to pytest
#
# Python and NumPy are not instrumented; the ASan runtime is preloaded so that it
# comes first, and leak detection is off (CPython keeps objects alive at exit by
# design; tests/test_leaks.py measures fastloss's own memory instead).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${FASTLOSS_SANITIZE_VENV:-$(mktemp -d)/venv}"
isas="${FASTLOSS_SANITIZE_ISAS:-}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet numpy "pybind11>=3" "scikit-build-core>=0.10" \
  pytest pytest-benchmark hypothesis mpmath threadpoolctl
python -m pip install --quiet --no-build-isolation \
  -C cmake.build-type=RelWithDebInfo \
  -C cmake.define.FASTLOSS_SANITIZE=ON \
  -C "cmake.define.FASTLOSS_ONLY_ISAS=${isas}" \
  -C "build-dir=build/sanitize-${isas:-all}" \
  .

libasan="$(${CXX:-g++} -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
  echo "libasan.so not found (install the compiler's sanitizer runtime)" >&2
  exit 1
fi
# libstdc++ too: python does not link it, and ASan's __cxa_throw interceptor needs
# the real one at start-up (else every C++ exception aborts: "real___cxa_throw != 0")
libstdcxx="$(${CXX:-g++} -print-file-name=libstdc++.so)"
export LD_PRELOAD="$libasan:$libstdcxx"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export FASTLOSS_SANITIZED=1   # tests that measure memory or time skip themselves
python -c "import fastloss._core as c; print('sanitized build; kernels:', c.isa(), 'of', c.available_isas())"
python -m pytest tests -q -p no:cacheprovider "$@"
echo "sanitize.sh: the test suite ran under ASan + UBSan with no report"
