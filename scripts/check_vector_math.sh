#!/usr/bin/env bash
# Counts the call sites of glibc's vector math (libmvec) in the installed
# fastloss._core, per ISA variant (b = SSE/baseline, d = AVX2, e = AVX-512),
# and the remaining scalar calls. tests/test_vector_math.py asserts on the same.
#   scripts/check_vector_math.sh [python]
set -euo pipefail
python="${1:-$(command -v python)}"
so="$(cd / && "$python" -c 'import fastloss._core as c; print(c.__file__)')"
echo "module: $so"
dis="$(objdump -d --no-show-raw-insn "$so")"
echo "vector calls (call sites):"
grep -oE 'call +[0-9a-f]+ <_ZGV[bcde]N[0-9]+v+_[a-z0-9]+' <<< "$dis" | awk '{print $3}' | tr -d '<' | sort | uniq -c
echo "scalar calls of log/exp/log1p/pow (call sites):"
grep -oE 'call +[0-9a-f]+ <(log|exp|log1p|pow)f?@plt' <<< "$dis" | awk '{print $3}' | tr -d '<' | sort | uniq -c
