#!/usr/bin/env bash
# tests/parity/test_ops.sh — core/ops.h against PyTorch (tests/parity/ops_ref.py, float64,
# written from the published math) through the parity harness (tests/parity/harness.py)
# and the C runner tests/parity/parity_ops.c, on the same random inputs.
#
# Cases: a pre-norm transformer block (RMSNorm, q/k/v projections, RoPE in both layouts,
# GQA/MQA causal attention, residual, SwiGLU MLP) in one chunk and over a KV cache filled
# in chunks (F32 and F16 cache); attention with additive masks and with an F16 cache at a
# q_offset; conv1d (stride 2, depthwise F16); a Conformer convolution module (LayerNorm,
# pointwise conv, GLU, depthwise conv, BatchNorm, SiLU); patch embedding; activations,
# softmax, norms, add/mul/scale, concat, transpose.
#
# Tolerance: max|herd - ref| / max|ref| per output <= 1e-5 (5e-3 with the F16 KV cache,
# whose K/V are rounded to half precision).  Every case runs at each SIMD level
# (HERD_CPU=scalar|avx2|avx512, clamped to the machine), on 1 and 3 threads, and once
# without scratch (the direct convolution paths instead of im2col).
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?set HERD_BUILD_DIR to the build directory}
RUNNER="$BUILD/tests/parity_ops"
if [ ! -x "$RUNNER" ]; then
  echo "FAIL: $RUNNER not built (cmake --build $BUILD --target parity_ops)" >&2
  exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fail=0
run() { # label, env assignments...
  local label=$1
  shift
  if ! env "$@" "$PY" "$SRC/tests/parity/harness.py" run --suite "$SRC/tests/parity/ops_ref.py" \
      --runner "$RUNNER" --workdir "$T" --label "$label" >"$T/log.txt" 2>&1; then
    fail=1
  fi
  cat "$T/log.txt"
}

for cpu in scalar avx2 avx512; do
  for threads in 1 3; do
    run "$cpu, $threads thread(s)" HERD_CPU=$cpu HERD_THREADS=$threads
  done
done
run "no scratch, 2 threads" HERD_THREADS=2 HERD_PARITY_SCRATCH_MB=0

if [ $fail = 0 ]; then echo "parity ops: all cases within tolerance"; else echo "parity ops: FAILED" >&2; fi
exit $fail
