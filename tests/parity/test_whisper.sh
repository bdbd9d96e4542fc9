#!/usr/bin/env bash
# tests/parity/test_whisper.sh — speech/whisper_encoder.c against Whisper's
# encoder written from the math (whisper_ref.py) on two tiny random checkpoints:
# an Ultravox-style folder (BF16, "audio_tower." names, WhisperConfig under
# audio_config) and an openai/whisper-style one (F32, "model.encoder." names,
# 128 mel bins), each also converted to a llama.cpp-layout mmproj GGUF by the
# runner.  Cases: a full window, a short unpadded window (positions sliced), a
# zero-padded window with a key mask, a block-causal (latency) mask.
# Tolerance (max|herd − ref| / max|ref|): 1e-4 wherever herd computes with F32
# activations (F32/F16 weights; BF16 weights on the scalar and AVX2 kernels);
# 5e-3 for BF16 weights on the AVX-512 kernels, which round activations to
# bfloat16 (the reference then rounds the same Linear inputs; flips of single
# roundings remain).
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
RUNNER="$BUILD/tests/parity_whisper"
REF="$SRC/tests/parity/whisper_ref.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$PY" "$REF" make "$T/uv" ultravox
"$PY" "$REF" make "$T/wh" whisper

echo "== openai/whisper layout, F32, default kernels, 2 threads"
HERD_THREADS=2 "$RUNNER" "$T/wh" model.encoder.
"$PY" "$REF" check "$T/wh" 1e-4
for level in scalar avx2; do
  echo "== Ultravox layout, BF16, HERD_CPU=$level"
  HERD_CPU=$level "$RUNNER" "$T/uv" audio_tower.
  "$PY" "$REF" check "$T/uv" 1e-4
done
echo "== Ultravox layout, BF16, default kernels (AVX-512: bf16 activations)"
"$RUNNER" "$T/uv" audio_tower.
"$PY" "$REF" check "$T/uv" 5e-3 bf16-act
