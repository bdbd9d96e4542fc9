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
# Tolerance max|herd − ref| / max|ref| per output: 1e-4 (F32 weights; scalar,
# AVX2, AVX-512; 1 and 2 threads).
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
run "converted GGUF pair (F32), 2 threads" HERD_THREADS=2 ULTRAVOX_CONVERT="$T/uv-f32.gguf"

if [ $fail = 0 ]; then echo "parity ultravox: all cases within tolerance"; else echo "parity ultravox: FAILED" >&2; fi
exit $fail
