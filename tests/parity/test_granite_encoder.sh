#!/usr/bin/env bash
# tests/parity/test_granite_encoder.sh — speech/granite_encoder.c (Granite Speech's
# Conformer CTC encoder) and adapters/qformer.c (its windowed Q-Former projector)
# against a float64 PyTorch reference written from the published modelling math
# (tests/parity/granite_encoder_ref.py), on tiny random checkpoints in the exact
# HF GraniteSpeechForConditionalGeneration layout (config.json + model.safetensors,
# "encoder.*" / "projector.*" names) that the same script writes.
# Inputs of 1, 13, 20, 30 and 67 frames: partial and whole attention blocks and
# projector windows (variant a: context 5, window 6; b: context 4, window 4).
# Tolerances (max|herd − ref| / max|ref|, encoder output and projector output):
#   a  F32 weights, even conv kernel, every SIMD level, 1 and 2 threads   ≤ 1e-4 (measured ~7e-7)
#   b  BF16 weights (the reference on the same rounded values),
#      scalar / AVX2 kernels                                            ≤ 1e-4 (measured ~5e-7)
#      AVX-512 BF16 gemm (rounds the activations to BF16)               ≤ 2e-2 (measured ~7e-3)
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
REF="$SRC/tests/parity/granite_encoder_ref.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

"$PY" "$REF" write "$T/a" a
"$PY" "$REF" write "$T/b" b

run() { # label model env...
  local label=$1 model=$2
  shift 2
  echo "== $label"
  if ! env GRANITE_MODEL="$model" "$@" "$PY" "$SRC/tests/parity/harness.py" run \
      --suite "$REF" --runner "$BUILD/tests/parity_granite_encoder" --workdir "$T/work"; then
    fail=1
  fi
}
for cpu in scalar avx2 avx512; do
  run "a: F32, $cpu, 1 thread" "$T/a" HERD_CPU=$cpu HERD_THREADS=1
done
run "a: F32, 2 threads" "$T/a" HERD_THREADS=2
for cpu in scalar avx2; do
  run "b: BF16, $cpu, 2 threads" "$T/b" HERD_CPU=$cpu HERD_THREADS=2
done
run "b: BF16, avx512 (BF16 activations), 2 threads" "$T/b" HERD_CPU=avx512 HERD_THREADS=2 GRANITE_TOL=2e-2

if [ $fail = 0 ]; then echo "parity granite encoder: all cases within tolerance"; else echo "parity granite encoder: FAILED" >&2; fi
exit $fail
