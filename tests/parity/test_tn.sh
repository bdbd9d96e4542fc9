#!/usr/bin/env bash
# tests/parity/test_tn.sh — speech/tn_model.c (the paper's streaming TN
# tagger, SPEC §5.1) against a float64 reference built on torch.nn.LSTM with
# its own tokenizer and hash (tests/parity/tn_ref.py), on a tiny random model
# written by tests/parity/parity_tn --write-random: the whole (layer-major)
# pass and the token-by-token stream, with and without LM tokens.
# Tolerance (max|herd − ref| / max|ref|): ≤ 1e-5 for F32 weights at every
# SIMD level and thread count, and for F16 weights against the reference on
# the same F16 values.
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
RUNNER="$BUILD/tests/parity_tn"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

"$RUNNER" --write-random "$T/tiny.gguf" 5
"$RUNNER" --write-random "$T/tiny-f16.gguf" 5 f16

run() { # label model env...
  local label=$1 model=$2
  shift 2
  echo "== $label"
  if ! env TN_MODEL="$model" "$@" "$PY" "$SRC/tests/parity/harness.py" run \
      --suite "$SRC/tests/parity/tn_ref.py" --runner "$RUNNER" --workdir "$T/work"; then
    fail=1
  fi
}
for cpu in scalar avx2 avx512; do
  run "F32, $cpu, 1 thread" "$T/tiny.gguf" HERD_CPU=$cpu HERD_THREADS=1
done
run "F32, 2 threads" "$T/tiny.gguf" HERD_THREADS=2
run "F16 weights, 2 threads" "$T/tiny-f16.gguf" HERD_THREADS=2

if [ $fail = 0 ]; then echo "parity tn: all cases within tolerance"; else echo "parity tn: FAILED" >&2; fi
exit $fail
