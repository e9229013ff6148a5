"""``python -m fastloss bench``: runs, prints the ratio table and the targets,
writes the JSON, the Markdown table and (with matplotlib) the PNG plot. Run
with a tiny size set so that it stays quick."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from fastloss import _bench, _core, _peers


def run_bench(tmp_path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastloss", "bench", "--sizes", "100,2000", "--rounds", "1",
                           "--budget", "0.001", "--out-dir", str(tmp_path), *options],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_bench_writes_table_json_and_plot(tmp_path):
    r = run_bench(tmp_path, "--peers", "", "--losses", "mse,kl_divergence,triplet_loss,binary_cross_entropy_logits")
    assert r.returncode == 0, r.stderr
    assert "| mse | float32 | 1e+02 |" in r.stdout and "| mse | float64 | 2e+03 |" in r.stdout
    assert "| kl_divergence (C=1000) | float64 | 2e+03 |" in r.stdout
    assert "| binary_cross_entropy_logits | float32 | 1e+02 |" in r.stdout
    assert "3a. n = 100: every loss >= 3x NumPy per call" in r.stdout
    data = json.loads((tmp_path / "bench.json").read_text())
    rows = data["results"]
    # 4 losses (two of them at C = 10 and 1000) x 2 dtypes x 2 sizes
    assert len(rows) == 6 * 2 * 2
    for row in rows:
        t = row["times"]
        assert {"fastloss", "numpy", "fastloss_1thread", "value_and_grad_out"} <= t.keys()
        assert all(v > 0 for v in t.values())
        # the probe reads the same inputs: present for the losses of equal-sized float inputs
        assert ("probe" in t) == (row["key"] in ("mse", "kl_divergence", "triplet_loss",
                                                  "binary_cross_entropy_logits"))
    assert (tmp_path / "bench.md").read_text().count("| mse |") == 4
    if importlib.util.find_spec("matplotlib") is not None:
        for dtype in ("float32", "float64"):
            png = tmp_path / f"speed_{dtype}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in r.stdout


def test_bench_rejects_unknown_peer(tmp_path):
    r = run_bench(tmp_path, "--peers", "tensorflow")
    assert r.returncode == 2 and "unknown peers" in r.stderr


def test_bench_with_installed_peers(tmp_path):
    peers = [p for p in _peers.PEERS if _peers.installed(p)]
    if not peers:
        pytest.skip("no peer (torch, numba, jax) is installed")
    r = run_bench(tmp_path, "--peers", ",".join(peers), "--losses", "mse,cauchy", "--dtypes", "float64")
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "bench.json").read_text())["results"]
    for row in rows:
        assert set(peers) <= row["times"].keys()


@pytest.mark.parametrize("peer", _peers.PEERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_peers_agree_with_reference(peer, dtype):
    """Each installed peer computes the same loss as the NumPy reference (so that
    the benchmarks compare like with like)."""
    if not _peers.installed(peer):
        pytest.skip(f"{peer} is not installed")
    for case in _bench.cases():
        if case.key not in _peers.SUPPORTED:
            continue
        args = _bench.inputs(case, 3000, dtype)
        got = float(_peers.peer_call(peer, case.key, args)())
        expected = float(case.loss.reference(*args, **case.kwargs))
        assert got == pytest.approx(expected, rel=_bench.PEER_RTOL[np.dtype(dtype)]), case.label


def test_bandwidth_probe_three_inputs():
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(size=10_001) for _ in range(3))
    # expected: NumPy float64 sums
    assert _core.bandwidth_probe(a, b) == pytest.approx(a.sum() + b.sum(), rel=1e-12, abs=1e-9)
    assert _core.bandwidth_probe(a, b, c) == pytest.approx(a.sum() + b.sum() + c.sum(), rel=1e-12, abs=1e-9)
