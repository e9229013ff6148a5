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
