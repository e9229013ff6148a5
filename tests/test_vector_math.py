"""The kernels call glibc's vector math (libmvec) inside their SIMD loops, for
every instruction set, without -ffast-math: the installed _core module is
disassembled with objdump and its calls of libmvec are counted.

libmvec's names encode the ISA and the vector length (x86-64 vector function
ABI): _ZGVbN2v_log is the SSE variant (only the baseline kernels can call it
usefully), _ZGVdN4v_log the AVX2 one, _ZGVeN8v_log the AVX-512 one; code
compiled for one ISA can only call the variants of that ISA or older, and the
module is stripped, so the variant letter says which kernels make the call.
scripts/check_vector_math.sh prints the same counts."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

import pytest

from fastloss import _core

objdump = shutil.which("objdump")
pytestmark = pytest.mark.skipif(objdump is None or "baseline" not in _core.available_isas(),
                                reason="needs objdump (binutils) and an x86-64 build")

CALL = re.compile(r"\bcall\w*\s+[0-9a-f]+ <(?P<target>[^>@+]+)(?:@plt)?(?:\+0x[0-9a-f]+)?>")
VECTOR = re.compile(r"^_ZGV(?P<isa>[bcde])N(?P<lanes>\d+)v+_(?P<fn>\w+)$")
LETTER = {"baseline": "b", "avx2": "d", "avx512": "e"}
LANES = {  # (double, float) lanes of each ISA's variants
    "b": (2, 4), "d": (4, 8), "e": (8, 16)}


def calls() -> Counter:
    """How often each called function is called in the module's code."""
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", _core.__file__], capture_output=True, text=True,
                          check=True).stdout
    return Counter(m.group("target") for m in CALL.finditer(text))


def test_every_isa_calls_vector_log_exp_log1p():
    counted = calls()
    vector = {name: k for name, k in counted.items() if VECTOR.match(name)}
    for isa in _core.available_isas():
        letter = LETTER[isa]
        lanes_d, lanes_f = LANES[letter]
        for fn in ("log", "exp", "log1p"):
            for name in (f"_ZGV{letter}N{lanes_d}v_{fn}", f"_ZGV{letter}N{lanes_f}v_{fn}f"):
                assert vector.get(name, 0) > 0, f"the {isa} kernels never call {name}; vector calls: {sorted(vector)}"


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
static unsigned long counts[6];
#define WRAP(name, type, i)                                                  \
  type name(type x) {                                                        \
    static type (*real)(type);                                               \
    if (!real) real = (type(*)(type))dlsym(RTLD_NEXT, #name);                \
    __atomic_fetch_add(&counts[i], 1, __ATOMIC_RELAXED);                     \
    return real(x);                                                          \
  }
WRAP(log, double, 0) WRAP(exp, double, 1) WRAP(log1p, double, 2)
WRAP(logf, float, 3) WRAP(expf, float, 4) WRAP(log1pf, float, 5)
unsigned long shim_count(int i) { return counts[i]; }
"""

PROBE = r"""
import ctypes, sys
import numpy as np
import fastloss as fl
shim = ctypes.CDLL(sys.argv[1])
shim.shim_count.restype = ctypes.c_ulong
rng = np.random.default_rng(0)
n = 200_000
y01 = rng.integers(0, 2, size=n).astype(float)
probs = rng.uniform(0.01, 0.99, size=n)
z = rng.normal(size=n) * 3
rows = rng.uniform(0.01, 1.0, size=(n // 10, 10))
rows /= rows.sum(axis=1, keepdims=True)
calls = [
    ("cauchy", lambda d: fl.cauchy(d(z), d(z * 0.5))),
    ("bce", lambda d: fl.binary_cross_entropy(d(y01), d(probs))),
    ("bce logits", lambda d: fl.binary_cross_entropy(d(y01), d(z), from_logits=True)),
    ("kl", lambda d: fl.kl_divergence(d(np.roll(rows, 1, axis=1)), d(rows))),
    ("cce logits", lambda d: fl.categorical_cross_entropy(d(np.eye(10)[np.arange(n // 10) % 10]), d(rows),
                                                          from_logits=True)),
]
# control: scalar calls from another shared library are counted
import math
before = shim.shim_count(0) + shim.shim_count(1)
for k in range(1000):
    math.log(2.0 + k)
    math.exp(k / 1000)
print("control", shim.shim_count(0) + shim.shim_count(1) - before)
for name, call in calls:
    for dtype in (np.float32, np.float64):
        d = lambda a: np.ascontiguousarray(a, dtype)
        call(d)  # warm-up (first-call set-up)
        before = [shim.shim_count(i) for i in range(6)]
        call(d)
        after = [shim.shim_count(i) for i in range(6)]
        print(name, np.dtype(dtype).name, sum(after) - sum(before))
"""


@pytest.mark.skipif(shutil.which("cc") is None or not __import__("sys").platform.startswith("linux"),
                    reason="needs a C compiler and Linux (LD_PRELOAD)")
def test_transcendentals_run_as_vector_calls(tmp_path):
    """At run time: with scalar log/exp/log1p (and their float versions)
    interposed by an LD_PRELOAD library that counts calls, a loss over 200,000
    elements makes almost no scalar calls (a scalar loop would make one or two
    per element): the work is done by libmvec's vector functions."""
    import os
    import sys

    src = tmp_path / "shim.c"
    src.write_text(SHIM)
    lib = tmp_path / "shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-fno-builtin", str(src), "-o", str(lib), "-ldl"], check=True)
    env = dict(os.environ, LD_PRELOAD=str(lib))
    r = subprocess.run([sys.executable, "-c", PROBE, str(lib)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    counted = {" ".join(line.split()[:-1]): int(line.split()[-1]) for line in lines if line.strip()}
    assert counted.pop("control") >= 2000, r.stdout  # the interposition works
    assert len(counted) == 10, r.stdout
    for case, scalar_calls in counted.items():
        # row-wise losses may call scalar functions once per row outside the SIMD loop (20,000 rows)
        assert scalar_calls <= 20_000 // 4, (case, scalar_calls, r.stdout)
