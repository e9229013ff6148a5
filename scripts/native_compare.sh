#!/usr/bin/env bash
# The run-time-dispatched default build against a -march=native build
# (-DFASTLOSS_NATIVE=ON, built into build/native and a venv of its own):
# median time of each loss's value at n = 1e6 and 1e7, measured alternately
# in the two builds (--repeat times each; the median of the runs is kept), and
# the ratio default / native per loss. Target: every ratio <= 1.10.
#
#   scripts/native_compare.sh [default-venv-python] [--repeat 3] [--sizes 1e6,1e7]
# The default build must already be installed in the given Python's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
default_py="${1:-$(command -v python)}"
shift || true
repeat=3
sizes=1e6,1e7
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
native_venv="${NATIVE_VENV:-/tmp/fastloss-native-venv}"
if [ ! -x "$native_venv/bin/python" ]; then
  python3 -m venv "$native_venv"
  "$native_venv/bin/pip" install -q numpy pybind11 scikit-build-core
fi
"$native_venv/bin/pip" install -q --no-build-isolation \
  -C cmake.define.FASTLOSS_NATIVE=ON -C build-dir=build/native .
out="$(mktemp -d)"
for i in $(seq "$repeat"); do
  (cd / && "$default_py" "$OLDPWD/scripts/time_losses.py" --sizes "$sizes") > "$out/default_$i.json"
  (cd / && "$native_venv/bin/python" "$OLDPWD/scripts/time_losses.py" --sizes "$sizes") > "$out/native_$i.json"
done
"$default_py" - "$out" "$repeat" <<'PY'
import json
import statistics
import sys

out, repeat = sys.argv[1], int(sys.argv[2])
runs = {kind: [json.load(open(f"{out}/{kind}_{i}.json")) for i in range(1, repeat + 1)] for kind in ("default", "native")}
isa = {kind: r[0]["isa"] for kind, r in runs.items()}
keys = runs["default"][0]["times"].keys()
print(f"default build: {isa['default']} kernels picked at run time; native build: -march=native ({isa['native']})")
print(f"median of {repeat} alternating runs; ratio = default time / native time (target <= 1.10)\n")
print("| loss | dtype | n | default | native | ratio |")
print("|---|---|---|---|---|---|")
worst = (0.0, "")
ratios = []
for key in keys:
    d = statistics.median(r["times"][key] for r in runs["default"])
    nat = statistics.median(r["times"][key] for r in runs["native"])
    loss, dtype, n = key.split("|")
    ratio = d / nat
    ratios.append(ratio)
    worst = max(worst, (ratio, key))
    print(f"| {loss} | {dtype} | {int(n):.0e} | {d * 1e3:.3f} ms | {nat * 1e3:.3f} ms | {ratio:.2f} |")
print(f"\nmedian ratio {statistics.median(ratios):.3f}; highest {worst[0]:.2f} ({worst[1]}); "
      f"{sum(r <= 1.10 for r in ratios)}/{len(ratios)} within 10%")
PY
