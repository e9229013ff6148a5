"""The inline float math of the kernels (math::exp_nonpos, math::log1p_unit,
math::log1p_nonneg and the e / (1 + e) of math::Sigmoids in
cpp/include/fastloss/simd_math.hpp) over the floats of its
domain (every one under -m slow), against glibc's float64 functions, and the
double math::exp_nonpos at 2**26 / 61 pseudo-random arguments in [-746, 0]
(2**26 under -m slow) against the x87's long double expl:
tests/cpp/inline_math.cpp, compiled here for the baseline instruction set (no fma)
and, where the CPU has them, AVX2 + FMA and AVX-512: the kernels' three builds,
whose roundings differ (fma or not). The bounds are the ones the header's comments
state."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CXX = shutil.which("c++") or shutil.which("g++")
FLAGS = ["-std=c++17", "-O2", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fopenmp-simd"]
ISAS = {  # the kernels' flags (CMakeLists.txt), and the /proc/cpuinfo flags they need
    "baseline": ([], []),
    "avx2": (["-mavx2", "-mfma", "-mf16c"], ["avx2", "fma"]),
    "avx512": (["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mavx2", "-mfma", "-mf16c",
                "-mprefer-vector-width=512"], ["avx512f", "avx512dq", "avx512vl", "avx512bw"]),
}
# worst ulp measured (see simd_math.hpp): exp_nonpos 0.947 (no fma) / 0.976 (fma); log1p_unit 1.033 (no fma) /
# 0.989 (fma);
# log1p_nonneg 1.173 (no fma) / 1.062 (fma); exp_nonpos in double 1.092 (no fma) / 1.133 (fma) at
# 2**26 / 61 arguments, 1.120 / 1.151 at 2**26
# sigmoid_small (math::Sigmoids' e / (1 + e)) 1.493 (fma; the quotient's own figure) / 1.975 (no fma)
BOUNDS = {"exp_nonpos": 1.0, "log1p_unit": 1.05, "log1p_nonneg": 1.2, "exp_nonpos_double": 1.2,
          "sigmoid_small": 2.0}


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def check(isa, tmp_path, step):
    flags, needs = ISAS[isa]
    missing = [f for f in needs if f not in cpu_flags()]
    if missing:
        pytest.skip(f"this CPU lacks {missing}")
    exe = tmp_path / "inline_math"
    subprocess.run([CXX, *FLAGS, *flags, f"-DFASTLOSS_ISA={isa}", f"-I{ROOT / 'cpp' / 'include'}",
                    str(ROOT / "tests" / "cpp" / "inline_math.cpp"), "-o", str(exe), "-lm"], check=True)
    out = subprocess.run([str(exe), str(step)], capture_output=True, text=True, check=True, timeout=600).stdout
    lines = [line.split() for line in out.splitlines()]
    worst = {line[0]: float(line[1]) for line in lines if line[0] in BOUNDS}
    assert set(worst) == set(BOUNDS), out
    assert not [line for line in lines if line[0] == "special"], out
    for name, bound in BOUNDS.items():
        assert worst[name] <= bound, (isa, name, out)
    assert worst["exp_nonpos"] > 0.5, out  # the sweep measured something: no float function is correctly rounded
    assert worst["exp_nonpos_double"] > 0.5, out  # and so did the double sample


needs_cxx = pytest.mark.skipif(CXX is None or not sys.platform.startswith("linux"), reason="needs a C++ compiler and Linux")


@needs_cxx
@pytest.mark.parametrize("isa", list(ISAS))
def test_inline_float_math_sampled(isa, tmp_path):
    """Every 61st float of each domain (35 million exps, 17 + 35 million log1ps), and the ends;
    1.1 million double exps."""
    check(isa, tmp_path, 61)


@needs_cxx
@pytest.mark.slow
@pytest.mark.parametrize("isa", list(ISAS))
def test_inline_float_math_every_float(isa, tmp_path):
    check(isa, tmp_path, 1)
