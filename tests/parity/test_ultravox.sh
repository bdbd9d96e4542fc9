#!/usr/bin/env bash
# tests/parity/test_ultravox.sh — Ultravox v0.5 end to end against a float64
# PyTorch reference written from the published math (tests/parity/
# ultravox_ref.py: WhisperFeatureExtractor log-mel, UltravoxProcessor windows,
# WhisperEncoder, UltravoxProjector, the chat prompt, llama_ref.py's LM) on
# the tiny random checkpoint of `herd random-model --arch ultravox --preset
# tiny` (the published HF folder layout; real Llama 3 tokenizer), run from the
# Hugging Face folder and from the GGUF pair hd_ultravox_convert writes.
# Outputs compared: projector rows, prompt ids (exactly), logits of the last
# prompt positions, greedy tokens after the prompt (exactly).
# Tolerance max|herd − ref| / max|ref| per output (the reference always runs
# the folder's F32 weights):
#   F32 weights (folder or GGUF), scalar / AVX2 / AVX-512, 1 and 2 threads  1e-4  (measured ≤ 1.4e-6)
#   BF16 folder (the published dtype; the reference reads the same BF16
#   values, herd's BF16 kernels round activations)                          2e-2  (measured ≤ 7.9e-3)
#   GGUF pair converted to F16 (herd rounds the weights, the reference not)  2e-3  (measured ≤ 8.4e-4)
#   GGUF pair converted to Q8_0 (same, Q8_0 weights and activations)         6e-2  (measured ≤ 3.3e-2)
# (For scale: swapping the SwiGLU halves moves the rows by 0.85, the logits by
# 0.19; reversing the audio rows moves the logits by 1.1e-3; not masking the
# padded second window of the 31 s case moves the rows by 1.2.)
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
FIX=${HERD_FIXTURES:-$SRC/../shared/fixtures}
TOK="$FIX/tokenizer/llama3_tokenizer.model"
TOKJ="$FIX/tokenizer/tokenizer.json"
[ -r "$TOK" ] && [ -r "$TOKJ" ] || { echo "missing $TOK or $TOKJ" >&2; exit 1; }
"$PY" -c 'import regex, torchaudio' 2>/dev/null || { echo "python3-regex / torchaudio missing for $PY" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

"$HERD" random-model --arch ultravox --preset tiny --format hf --seed 5 --tokenizer "$TOKJ" -o "$T/uv" --quiet >/dev/null
"$HERD" random-model --arch ultravox --preset tiny --format hf --type bf16 --seed 5 --tokenizer "$TOKJ" -o "$T/uv-bf16" \
  --quiet >/dev/null

run() { # label env...
  local label=$1
  shift
  echo "== $label"
  if ! env ULTRAVOX_MODEL="$T/uv" ULTRAVOX_TOKENIZER="$TOK" "$@" \
      "$PY" "$SRC/tests/parity/harness.py" run --suite "$SRC/tests/parity/ultravox_ref.py" \
      --runner "$BUILD/tests/parity_ultravox" --workdir "$T/work"; then
    fail=1
  fi
}
for cpu in scalar avx2 avx512; do
  run "HF folder, $cpu, 1 thread" HERD_CPU=$cpu HERD_THREADS=1
done
run "HF folder, 2 threads" HERD_THREADS=2
run "HF folder, BF16 weights, 2 threads" HERD_THREADS=2 ULTRAVOX_MODEL="$T/uv-bf16" ULTRAVOX_TOL=2e-2
run "converted GGUF pair (F32), 2 threads" HERD_THREADS=2 ULTRAVOX_CONVERT="$T/uv-f32.gguf"
run "converted GGUF pair (F16), 2 threads" HERD_THREADS=2 ULTRAVOX_CONVERT="$T/uv-f16.gguf" \
  ULTRAVOX_CONVERT_TYPE=F16 ULTRAVOX_TOL=2e-3
run "converted GGUF pair (Q8_0), 2 threads" HERD_THREADS=2 ULTRAVOX_CONVERT="$T/uv-q8_0.gguf" \
  ULTRAVOX_CONVERT_TYPE=Q8_0 ULTRAVOX_TOL=6e-2

if [ $fail = 0 ]; then echo "parity ultravox: all cases within tolerance"; else echo "parity ultravox: FAILED" >&2; fi
exit $fail
