#!/usr/bin/env bash
# tests/parity/test_mllama_text.sh — the Llama 3.2 Vision ("mllama") text decoder
# (lm/llama.c, lm/llama_xattn.c) against tests/parity/mllama_text_ref.py (float64
# PyTorch written from SPEC §1, §2.6-2.8) through harness.py and the C runner
# tests/parity/parity_mllama_text.c.
#
# Model: a tiny random MllamaForConditionalGeneration text model written by the reference
# (D 64, H 4, G 2, d 16, F 128, V 256 + 8 embedding rows, 6 layers with cross-attention
# layers at 1 and 4, random gates), as a HF folder and as a GGUF in Ollama's mllama
# layout (written by the reference, not by herd), and as a HF folder with the names newer
# transformers save (model.language_model.*, lm_head.weight).  Prompts: one image after four text
# tokens, two separate images, two consecutive images (3/1 and 4/2 of 4 tile slots
# valid, P = 5 tokens per tile), and text only; META and HF row masking; one batch and
# batches of 3; all prompt logits plus 4 greedy steps (tokens and logits).
#
#   F32 HF, 1 and 2 threads, every SIMD level; F32 GGUF; new names   rel ≤ 1e-4 (measured ~1e-6)
#   F32 weights, F16 KV cache (self and image keys/values)           rel ≤ 3e-3
#   BF16 HF vs the reference on the same rounded weights (logits)    rel ≤ 2e-2
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?set HERD_BUILD_DIR to the build directory}
RUNNER="$BUILD/tests/parity_mllama_text"
REF="$SRC/tests/parity/mllama_text_ref.py"
if [ ! -x "$RUNNER" ]; then
  echo "FAIL: $RUNNER not built (cmake --build $BUILD --target parity_mllama_text)" >&2
  exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

harness() { # label [env...]
  local label=$1
  shift
  if env "$@" "$PY" "$SRC/tests/parity/harness.py" run --suite "$REF" --runner "$RUNNER" \
      --workdir "$T/work" --label "$label" >"$T/log" 2>&1; then
    echo "ok   $label: $(grep -c '^ok' "$T/log") cases, worst logits rel $(grep -E '^ +(gen_)?logits ' "$T/log" |
      awk '{print $6}' | sort -g | tail -1)"
  else
    echo "FAIL $label"
    cat "$T/log"
    fail=1
  fi
}

"$PY" "$REF" write "$T/hf32" --seed 5
"$PY" "$REF" gguf "$T/hf32" "$T/m32.gguf"
for cpu in scalar avx2 avx512; do
  for th in 1 2; do
    harness "mllama text F32 HF $cpu ${th}t" MLLAMA_REF_MODEL="$T/hf32" HERD_CPU=$cpu HERD_THREADS=$th
  done
done
harness "mllama text F32 GGUF (Ollama layout)" MLLAMA_REF_MODEL="$T/hf32" MLLAMA_MODEL="$T/m32.gguf" HERD_THREADS=2
"$PY" "$REF" write "$T/hf32new" --seed 5 --layout new
harness "mllama text F32 HF, model.language_model.* names" MLLAMA_REF_MODEL="$T/hf32" MLLAMA_MODEL="$T/hf32new" \
  HERD_THREADS=2
harness "mllama text F32, F16 KV cache" MLLAMA_REF_MODEL="$T/hf32" MLLAMA_KV=f16 MLLAMA_TOL=3e-3 MLLAMA_NGEN=0 \
  HERD_THREADS=2
"$PY" "$REF" write "$T/hf16" --seed 5 --dtype bf16
harness "mllama text BF16 HF" MLLAMA_REF_MODEL="$T/hf16" MLLAMA_TOL=2e-2 MLLAMA_NGEN=0 HERD_THREADS=2

exit $fail
