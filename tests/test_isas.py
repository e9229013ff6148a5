"""Every instruction set's kernels, not only the one picked at import: each
available ISA (FASTLOSS_ISA=baseline|avx2|avx512 forces one) runs in a child
process on the same inputs, and its results are compared with mpmath where the
case is an edge (the rest of the suite only runs the picked ISA), and with the
NumPy reference for every loss. (The baseline kernels, without fma, once gave
cauchy inf or NaN for |y - p| / scale near 1.34e154, where r^2 is still finite:
Dekker's product overflowed where the product itself did not.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mpmath
import numpy as np
import pytest

from fastloss import _core

CHILD = r"""
import json, sys
import numpy as np
import fastloss as fl
from fastloss import _core
assert _core.isa() == sys.argv[1], (_core.isa(), sys.argv[1])
out = {}
# cauchy where r^2 is finite but close to overflow, power-of-two and other scales
for name, d, c in json.loads(sys.argv[2]):
    out[name] = float(fl.cauchy(np.array([d]), np.array([0.0]), scale=c, reduction="sum"))
# every loss on ordinary inputs, float32 and float64, against its NumPy reference
rng = np.random.default_rng(3)
n, C = 999, 7
for dtype in (np.float32, np.float64):
    d = lambda a: np.asarray(a, dtype)
    y01 = d(rng.integers(0, 2, n)); prob = d(rng.uniform(0.02, 0.98, n)); z = d(rng.normal(size=n) * 3)
    soft = rng.dirichlet(np.ones(C), n // C)
    args = {
        "mse": (fl.mse, (d(z), d(z[::-1])), {}), "mae": (fl.mae, (d(z), d(z[::-1])), {}),
        "huber": (fl.huber, (d(z), d(z[::-1])), {}), "cauchy": (fl.cauchy, (d(z), d(z[::-1])), {"scale": 0.7}),
        "bce": (fl.binary_cross_entropy, (y01, prob), {}),
        "bce_logits": (fl.binary_cross_entropy, (y01, z), {"from_logits": True}),
        "focal": (fl.focal_loss, (y01, prob), {"gamma": 1.5}),
        "focal_logits": (fl.focal_loss, (y01, z), {"from_logits": True}),
        "gan_d": (fl.gan_discriminator_loss, (prob, prob[::-1]), {}),
        "gan_g_logits": (fl.gan_generator_loss, (z,), {"from_logits": True}),
        "cce_logits": (fl.categorical_cross_entropy, (d(soft), d(z[: n // C * C].reshape(-1, C))), {"from_logits": True}),
        "sparse_logits": (fl.sparse_categorical_cross_entropy, (np.arange(n // C) % C, d(z[: n // C * C].reshape(-1, C))),
                          {"from_logits": True}),
        "kl": (fl.kl_divergence, (d(soft), d(soft[::-1])), {}),
        "triplet": (fl.triplet_loss, tuple(d(z[: n // C * C].reshape(-1, C)) * s for s in (1, 0.5, -1)), {}),
    }
    for key, (loss, a, kw) in args.items():
        out[f"{key}-{np.dtype(dtype).name}"] = [float(loss(*a, **kw)), float(loss.reference(*a, **kw))]
print(json.dumps(out))
"""

# (name, y - p, scale): |r| = |y - p| / scale with r^2 close to the largest double (1.798e308)
EDGES = [("pow2", 6.703903964971298e153, 0.5), ("general", 6.703903964971298e153, 0.50000001),
         ("r2_1e301", 2.2e150, 0.7), ("r2_1e308", 1.3e154, 1.0)]


@pytest.mark.parametrize("isa", _core.available_isas())
def test_every_isa(isa):
    env = dict(os.environ, FASTLOSS_ISA=isa)
    r = subprocess.run([sys.executable, "-c", CHILD, isa, json.dumps(EDGES)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    mpmath.mp.dps = 50
    for name, d, c in EDGES:
        exact = float(mpmath.log1p((mpmath.mpf(d) / mpmath.mpf(c)) ** 2))  # mpmath, 50 digits
        assert got[name] == pytest.approx(exact, rel=4 * 2.0**-52), (isa, name, got[name], exact)
    for key, value in got.items():
        if isinstance(value, list):
            fast, ref = value
            rtol = 2e-5 if key.endswith("float32") else 1e-12
            assert fast == pytest.approx(ref, rel=rtol), (isa, key, fast, ref)
