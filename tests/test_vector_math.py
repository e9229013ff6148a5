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
#include <immintrin.h>
/* counts[0..5]: scalar log, exp, log1p, logf, expf, log1pf;
   counts[6..8]: vector log, exp, log1p (any width, double or float) */
static unsigned long counts[9];
#define WRAP(name, type, i)                                                  \
  type name(type x) {                                                        \
    static type (*real)(type);                                               \
    if (!real) real = (type(*)(type))dlsym(RTLD_NEXT, #name);                \
    __atomic_fetch_add(&counts[i], 1, __ATOMIC_RELAXED);                     \
    return real(x);                                                          \
  }
/* libmvec is loaded by the extension module with RTLD_LOCAL, out of RTLD_NEXT's reach */
static void* mvec(void) {
  static void* h;
  if (!h) h = dlopen("libmvec.so.1", RTLD_LAZY);
  return h;
}
#define VWRAP(isa, name, type, i)                                            \
  __attribute__((target(isa))) type name(type x) {                           \
    static type (*real)(type);                                               \
    if (!real) real = (type(*)(type))dlsym(mvec(), #name);                   \
    __atomic_fetch_add(&counts[i], 1, __ATOMIC_RELAXED);                     \
    return real(x);                                                          \
  }
WRAP(log, double, 0) WRAP(exp, double, 1) WRAP(log1p, double, 2)
WRAP(logf, float, 3) WRAP(expf, float, 4) WRAP(log1pf, float, 5)
/* libmvec's variants (x86-64 vector function ABI): b = SSE4, d = AVX2, e = AVX-512 */
VWRAP("sse4.2", _ZGVbN2v_log, __m128d, 6) VWRAP("sse4.2", _ZGVbN2v_exp, __m128d, 7)
VWRAP("sse4.2", _ZGVbN2v_log1p, __m128d, 8) VWRAP("sse4.2", _ZGVbN4v_logf, __m128, 6)
VWRAP("sse4.2", _ZGVbN4v_expf, __m128, 7) VWRAP("sse4.2", _ZGVbN4v_log1pf, __m128, 8)
VWRAP("avx2", _ZGVdN4v_log, __m256d, 6) VWRAP("avx2", _ZGVdN4v_exp, __m256d, 7)
VWRAP("avx2", _ZGVdN4v_log1p, __m256d, 8) VWRAP("avx2", _ZGVdN8v_logf, __m256, 6)
VWRAP("avx2", _ZGVdN8v_expf, __m256, 7) VWRAP("avx2", _ZGVdN8v_log1pf, __m256, 8)
VWRAP("avx512f", _ZGVeN8v_log, __m512d, 6) VWRAP("avx512f", _ZGVeN8v_exp, __m512d, 7)
VWRAP("avx512f", _ZGVeN8v_log1p, __m512d, 8) VWRAP("avx512f", _ZGVeN16v_logf, __m512, 6)
VWRAP("avx512f", _ZGVeN16v_expf, __m512, 7) VWRAP("avx512f", _ZGVeN16v_log1pf, __m512, 8)
unsigned long shim_count(int i) { return counts[i]; }
"""

def run_counted(tmp_path, probe: str):
    """Runs ``probe`` (Python source; its argv[1] is the shim's path) in a child
    process with SHIM preloaded: the completed process and its output's lines, split."""
    import os
    import sys

    src = tmp_path / "shim.c"
    src.write_text(SHIM)
    lib = tmp_path / "shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-fno-builtin", str(src), "-o", str(lib), "-ldl"], check=True)
    env = dict(os.environ, LD_PRELOAD=str(lib))
    r = subprocess.run([sys.executable, "-c", probe, str(lib)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r, [line.split() for line in r.stdout.split("\n") if line.strip()]


# the start of every probe: the shim's counts
PRELUDE = r"""
import ctypes, sys
import numpy as np
import fastloss as fl
shim = ctypes.CDLL(sys.argv[1])
shim.shim_count.restype = ctypes.c_ulong
"""

PROBE = PRELUDE + r"""
rng = np.random.default_rng(0)
n = 200_000
y01 = rng.integers(0, 2, size=n).astype(float)
probs = rng.uniform(0.01, 0.99, size=n)
z = rng.normal(size=n) * 3
rows = rng.uniform(0.01, 1.0, size=(n // 10, 10))
rows /= rows.sum(axis=1, keepdims=True)
wide = rng.uniform(0.01, 1.0, size=(n // 1000, 1000))
wide /= wide.sum(axis=1, keepdims=True)
labels = np.arange(n // 10) % 10
calls = [
    ("cauchy", fl.cauchy, lambda d: (d(z), d(z * 0.5)), {}),
    ("bce", fl.binary_cross_entropy, lambda d: (d(y01), d(probs)), {}),
    ("bce logits", fl.binary_cross_entropy, lambda d: (d(y01), d(z)), {"from_logits": True}),
    ("focal", fl.focal_loss, lambda d: (d(y01), d(probs)), {}),
    ("focal logits", fl.focal_loss, lambda d: (d(y01), d(z)), {"from_logits": True}),
    ("gan generator", fl.gan_generator_loss, lambda d: (d(probs),), {}),
    ("gan discriminator", fl.gan_discriminator_loss, lambda d: (d(probs), d(probs[::-1])), {}),
    ("kl", fl.kl_divergence, lambda d: (d(np.roll(rows, 1, axis=1)), d(rows)), {}),
    ("cce logits", fl.categorical_cross_entropy, lambda d: (d(np.eye(10)[labels]), d(rows)), {"from_logits": True}),
    ("cce wide", fl.categorical_cross_entropy, lambda d: (d(np.eye(1000)[np.arange(n // 1000)]), d(wide)), {}),
    ("sparse", fl.sparse_categorical_cross_entropy, lambda d: (labels, d(rows)), {}),
    ("sparse logits", fl.sparse_categorical_cross_entropy, lambda d: (labels, d(np.log(rows))), {"from_logits": True}),
    ("sparse logits wide", fl.sparse_categorical_cross_entropy, lambda d: (np.arange(n // 1000), d(np.log(wide))),
     {"from_logits": True}),
]
# control: scalar calls from another shared library are counted
import math
before = shim.shim_count(0) + shim.shim_count(1)
for k in range(1000):
    math.log(2.0 + k)
    math.exp(k / 1000)
print("control", shim.shim_count(0) + shim.shim_count(1) - before)
for name, loss, args, kw in calls:
    for dtype in (np.float32, np.float64):
        d = lambda a: np.ascontiguousarray(a, dtype)
        a = args(d)
        for entry in ("value", "none", "value_and_grad"):
            fn = loss.value_and_grad if entry == "value_and_grad" else loss
            kwe = dict(kw, reduction="none") if entry == "none" else kw
            fn(*a, **kwe)  # warm-up (first-call set-up)
            before = [shim.shim_count(i) for i in range(9)]
            fn(*a, **kwe)
            after = [shim.shim_count(i) for i in range(9)]
            diff = [x - y for x, y in zip(after, before)]
            print(name.replace(" ", "_"), np.dtype(dtype).name, entry, sum(diff[:6]), *diff[6:])
"""


# float32 losses whose every transcendental is inline code, so that they call no libmvec
# function: exp(-|z|) by math::exp_nonpos, log1p(e^-|z|) by math::log1p_unit and
# cauchy's log1p(r^2) by math::log1p_nonneg (the row-wise ones from logits still call
# libmvec's log1p for log s, per row or lane).
# the cases whose every transcendental is inline code (math::exp_nonpos, log1p_unit, log1p_nonneg)
INLINE = {"float32": {"cauchy", "bce_logits", "focal_logits", "sparse_logits_wide"}, "float64": {"sparse_logits_wide"}}


@pytest.mark.skipif(shutil.which("cc") is None or not __import__("sys").platform.startswith("linux"),
                    reason="needs a C compiler and Linux (LD_PRELOAD)")
def test_transcendentals_run_as_vector_calls(tmp_path):
    """At run time, with scalar log/exp/log1p (and their float versions) and
    libmvec's vector versions interposed by an LD_PRELOAD library that counts
    calls:
    - a loss over 200,000 elements makes almost no scalar calls (a scalar loop
      would make one or two per element): the work is done by libmvec, also for
      reduction="none" (whose row-wise loop over few classes was once left
      scalar, 4-5x slower than the mean);
    - the losses of logits take exp(z - max) and exp(-|z|) from the inline
      exp (math::exp_nonpos), not from libmvec's (whose float call spilled the
      loops' accumulators around each call, and whose double one hands arguments
      below -708.4 to the scalar exp), but for the float64 logistic losses' exp(-|z|);
      a loss whose every transcendental is inline makes no call at all;
    - value_and_grad of every loss makes no more vector calls than the value:
      the derivatives reuse the value's transcendentals. (GCC once turned
      log(clip(p)) into calls on the broadcast clip bounds, two or three vector
      logs per element in value_and_grad; the row-wise losses from logits with
      fewer than 16 classes took a second exp per class for the derivatives.)"""
    r, lines = run_counted(tmp_path, PROBE)
    assert lines[0][0] == "control" and int(lines[0][1]) >= 2000, r.stdout  # the interposition works
    counted = {tuple(line[:3]): [int(x) for x in line[3:]] for line in lines[1:]}
    assert len(counted) == 13 * 2 * 3, r.stdout
    for (case, dtype, entry), (scalar_calls, *vector_calls) in counted.items():
        # row-wise losses may call scalar functions once per row outside the SIMD loop (20,000 rows)
        assert scalar_calls <= 20_000 // 4, (case, dtype, entry, scalar_calls, r.stdout)
        if case in INLINE[dtype]:
            assert sum(vector_calls) == 0, (case, dtype, entry, r.stdout)
        else:
            assert sum(vector_calls) > 0, (case, dtype, entry, r.stdout)  # the interposition sees the vector calls
        if "logits" in case and (dtype == "float32" or not case.startswith(("bce", "focal", "gan"))):
            # exp(z - max) and exp(-|z|) of logits: the inline exp, never libmvec's (but for the
            # float64 exp(-|z|) of the logistic losses: math::exp_neg_abs)
            assert vector_calls[1] == 0, (case, dtype, entry, r.stdout)
    for case in sorted({c for c, _, _ in counted}):
        for dtype in ("float32", "float64"):
            value, both = counted[(case, dtype, "value")], counted[(case, dtype, "value_and_grad")]
            for fn, v, b in zip(("log", "exp", "log1p"), value[1:], both[1:]):
                assert b <= v * 1.01 + 4, (case, dtype, fn, v, b, r.stdout)


HARD_PROBE = PRELUDE + r"""
rng = np.random.default_rng(1)
n = 100_000
y01 = rng.integers(0, 2, size=n).astype(float)
hard = rng.uniform(0.01, 0.99, size=n)
hard[::2] = 0.0  # hard predictions: exact zeros
ones = hard.copy()
ones[::2] = 1.0  # and exact ones (log1p(-1))
rows = rng.uniform(0.01, 1.0, size=(n // 10, 10))
rows /= rows.sum(axis=1, keepdims=True)
zeros = rows.copy()
zeros[:, ::2] = 0.0  # probability rows with zeros
onehot = np.eye(10)[np.arange(n // 10) % 10]
wide = rng.uniform(0.01, 1.0, size=(n // 100, 100))
wide /= wide.sum(axis=1, keepdims=True)
onehot_wide = np.eye(100)[np.arange(n // 100) % 100]
masked = np.log(rows)
masked[:, 1::2] = -np.inf  # masked classes: exp(-inf)
far = np.log(rows)
far[:, 1::2] = -800.0  # logits whose exp(z - max) is below 2^-1022 (and float32's 2^-149)
calls = [
    ("bce", fl.binary_cross_entropy, lambda d: (d(y01), d(hard)), {}),
    ("bce_ones", fl.binary_cross_entropy, lambda d: (d(y01), d(ones)), {}),
    ("focal", fl.focal_loss, lambda d: (d(y01), d(hard)), {}),
    ("focal_ones", fl.focal_loss, lambda d: (d(y01), d(ones)), {"gamma": 1.5}),
    ("gan_generator", fl.gan_generator_loss, lambda d: (d(hard),), {}),
    ("cce", fl.categorical_cross_entropy, lambda d: (d(onehot), d(zeros)), {}),
    ("sparse", fl.sparse_categorical_cross_entropy, lambda d: (np.arange(n // 10) % 5 * 2, d(zeros)), {}),
    ("kl", fl.kl_divergence, lambda d: (d(onehot), d(rows)), {}),
    ("kl_wide", fl.kl_divergence, lambda d: (d(onehot_wide), d(wide)), {}),
    ("kl_logits", fl.kl_divergence, lambda d: (d(onehot), d(np.log(rows))), {"from_logits": True}),
    ("kl_logits_wide", fl.kl_divergence, lambda d: (d(onehot_wide), d(np.log(wide))), {"from_logits": True}),
    ("cce_logits_masked", fl.categorical_cross_entropy,
     lambda d: (d(np.eye(10)[np.arange(n // 10) % 5 * 2]), d(masked)), {"from_logits": True}),
    ("sparse_logits_far", fl.sparse_categorical_cross_entropy, lambda d: (np.arange(n // 10) % 5 * 2, d(far)),
     {"from_logits": True}),
    # the control: float64 BCE from logits of +-800 takes libmvec's exp(-|z|), whose
    # fallback must be seen (the float32 one is inline)
    ("control", fl.binary_cross_entropy, lambda d: (d(y01), d(np.where(y01 > 0, 800.0, -800.0))),
     {"from_logits": True}),
]
for name, loss, args, kw in calls:
    for dtype in (np.float32, np.float64):
        d = lambda a: np.ascontiguousarray(a, dtype)
        a = args(d)
        for entry in ("value", "value_and_grad"):
            fn = loss.value_and_grad if entry == "value_and_grad" else loss
            fn(*a, **kw)
            before = sum(shim.shim_count(i) for i in range(6))
            fn(*a, **kw)
            print(name, np.dtype(dtype).name, entry, sum(shim.shim_count(i) for i in range(6)) - before)
"""


@pytest.mark.skipif(shutil.which("cc") is None or not __import__("sys").platform.startswith("linux"),
                    reason="needs a C compiler and Linux (LD_PRELOAD)")
@pytest.mark.skipif(_core.isa() == "baseline", reason="the baseline kernels leave some of these loops scalar")
def test_probabilities_of_0_and_infinite_logits_take_no_scalar_calls(tmp_path):
    """libmvec's vector log hands every lane with a special argument (log 0) to the
    scalar log, about 20x the cost of the lane: hard predictions (probabilities of
    exactly 0) made BCE, focal and CCE 2.5x-3.3x slower, and one-hot targets KL 3x-4x
    (log(t / q) of t = 0). Counted with the interposed libm of the test above: a
    call over 100,000 elements, half of them 0 (a one-hot target has 9 or 99 zeros
    in 10 or 100), makes no more scalar calls than the few per call of the set-up
    (the clip bounds' logs), but for KL from logits of 100 classes: one per row
    more, the log of the row's sum of exponentials, outside the SIMD loop (1,000
    rows; with 10 classes the rows run in lanes, vector logs alone). Before the fix
    KL from logits of 100 classes made 4963 (float64: the last 4 classes of each
    row ran scalar). So do the row-wise losses' logits of -inf (masked classes) and
    of -800, whose exp(z - max) is below 2^-1022: libmvec's double exp hands those
    lanes to the scalar exp too (float64 CCE from logits, half of them -inf: 2.6x
    slower at C = 10, 4.2x at C = 1000); math::exp_nonpos is inline."""
    r, lines = run_counted(tmp_path, HARD_PROBE)
    assert len(lines) == 14 * 2 * 2, r.stdout
    for name, dtype, entry, scalar in lines:
        if name == "control" and dtype == "float64":
            assert int(scalar) >= 100_000, (name, dtype, entry, scalar, r.stdout)  # one per element: the count works
            continue
        bound = 1000 + 16 if name == "kl_logits_wide" else 16
        assert int(scalar) <= bound, (name, dtype, entry, scalar, r.stdout)
