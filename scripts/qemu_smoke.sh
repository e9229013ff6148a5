#!/usr/bin/env bash
# Runs the installed (default, portable) build on an emulated CPU without AVX:
# Debian's qemu-user executes the venv's Python with `-cpu Nehalem` (SSE4.2, no
# AVX) or any model given as $1. The smoke test imports fastloss, checks that
# the dispatcher picked the baseline kernels (and that AVX2/AVX-512 are not
# offered), and compares a few losses with their NumPy references.
#
#   apt-get install -y qemu-user        # Debian / Ubuntu
#   scripts/qemu_smoke.sh [cpu-model] [python]
set -euo pipefail
cpu="${1:-Nehalem}"
python="${2:-$(command -v python)}"
if ! command -v qemu-x86_64 > /dev/null; then
  echo "qemu_smoke: qemu-x86_64 not found (apt-get install -y qemu-user)" >&2
  exit 2
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "qemu_smoke: only for x86-64 hosts" >&2
  exit 2
fi
cd /  # import the installed package, not a source tree
# NumPy's OpenBLAS takes the kernels that OPENBLAS_CORETYPE names, whatever the CPU:
# a machine whose environment set it to Haswell had it run AVX under -cpu Nehalem and
# die of an illegal instruction at `import numpy` (2026-12-02). Its SSE3 kernels
# (Prescott) run on every x86-64 model; what this test checks is fastloss's own dispatch.
export OPENBLAS_CORETYPE=PRESCOTT
exec qemu-x86_64 -cpu "$cpu" "$python" - "$cpu" <<'PY'
import sys

import numpy as np

import fastloss as fl
from fastloss import _core

cpu = sys.argv[1]
print(f"qemu -cpu {cpu}: kernels {_core.isa()}, available {_core.available_isas()}")
assert _core.isa() == "baseline", _core.isa()
assert _core.available_isas() == ["baseline"], _core.available_isas()
for isa in ("avx2", "avx512"):
    try:
        _core.select_isa(isa)
    except ValueError as e:
        assert "not supported by this CPU" in str(e) or "not compiled" in str(e), e
    else:
        raise AssertionError(f"{isa} was selectable on {cpu}")

rng = np.random.default_rng(0)
n = 10_007  # several blocks, a ragged tail, threads if any
y = rng.normal(size=n)
p = y + rng.normal(size=n)
labels = rng.integers(0, 2, size=n).astype(float)
probs = rng.uniform(0.01, 0.99, size=n)
rows = rng.uniform(0.01, 1.0, size=(1000, 10))
rows /= rows.sum(axis=1, keepdims=True)
onehot = np.eye(10)[rng.integers(0, 10, size=1000)]
checks = [
    (fl.mse, (y, p), {}), (fl.huber, (y, p), {}), (fl.cauchy, (y, p), {}),
    (fl.binary_cross_entropy, (labels, probs), {}), (fl.binary_cross_entropy, (labels, p), {"from_logits": True}),
    (fl.focal_loss, (labels, probs), {}),
    (fl.categorical_cross_entropy, (onehot, rows), {}), (fl.kl_divergence, (np.roll(rows, 1, axis=1), rows), {}),
]
for dtype in (np.float32, np.float64):
    for loss, args, kw in checks:
        args = tuple(a.astype(dtype) for a in args)
        got, ref = float(loss(*args, **kw)), float(loss.reference(*args, **kw))
        # the reference is float64 NumPy (fastloss.reference)
        assert abs(got - ref) <= (1e-5 if dtype == np.float32 else 1e-12) * abs(ref), (loss.name, dtype, got, ref)
    g = fl.cauchy.grad(y.astype(dtype), p.astype(dtype))
    d = y - p
    assert np.allclose(g, -2 * d / (1 + d * d) / n, rtol=1e-4), "cauchy grad"  # hand-derived gradient
print(f"qemu -cpu {cpu}: smoke test passed ({len(checks) * 2 + 2} checks)")
PY
