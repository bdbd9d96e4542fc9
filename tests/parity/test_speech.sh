#!/usr/bin/env bash
# tests/parity/test_speech.sh — the whole speech-understanding path against a
# float64 PyTorch reference (tests/parity/speech_ref.py, reusing
# conformer_ref.py, llama_ref.py and tokenizer_ref.py) on the tiny random
# model of `herd random-model --arch speech --preset tiny` (speech file +
# LM file with the real Llama 3 tokenizer):
#   mel → Conformer → adapter → ASR / AST / dialogue prompt with the audio
#   rows spliced in between the two speech tokens → logits of every position.
# Outputs compared: encoder frames, adapter rows, prompt ids (exactly) and
# logits.  Tolerance max|herd − ref| / max|ref| per output:
#   F32 weights, scalar / AVX2 / AVX-512, 1 and 2 threads        ≤ 1e-4  (measured ≤ 7e-7)
#   F16 weights vs the reference on the same F16 values          ≤ 1e-4
#   BF16 weights (same values; BF16 kernels round activations)   ≤ 2e-2  (measured ≤ 4e-3)
#   Q8_0 weights (same dequantized values; Q8_0 activations)     ≤ 5e-2  (measured ≤ 1.7e-2)
# (For scale: halving the audio rows moves the logits by 9e-3, reversing
# their order by 0.5, so a wrong splice cannot pass.)
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
FIX=${HERD_FIXTURES:-$SRC/../shared/fixtures}
TOK="$FIX/tokenizer/llama3_tokenizer.model"
[ -r "$TOK" ] || { echo "missing $TOK" >&2; exit 1; }
"$PY" -c 'import regex' 2>/dev/null || { echo "python3-regex missing for $PY" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

for ty in f32 f16 bf16 q8_0; do
  "$HERD" random-model --arch speech --preset tiny --type $ty --seed 11 --tokenizer "$TOK" -o "$T/$ty.gguf" --quiet >/dev/null
done

run() { # label type env...
  local label=$1 ty=$2
  shift 2
  echo "== $label"
  if ! env SPEECH_MODEL="$T/$ty.gguf" SPEECH_LM="$T/$ty-lm.gguf" SPEECH_TOKENIZER="$TOK" "$@" \
      "$PY" "$SRC/tests/parity/harness.py" run --suite "$SRC/tests/parity/speech_ref.py" \
      --runner "$BUILD/tests/parity_speech" --workdir "$T/work"; then
    fail=1
  fi
}
for cpu in scalar avx2 avx512; do
  run "F32, $cpu, 1 thread" f32 HERD_CPU=$cpu HERD_THREADS=1
done
run "F32, 2 threads" f32 HERD_THREADS=2
run "F16 weights, 2 threads" f16 HERD_THREADS=2
run "BF16 weights, 2 threads" bf16 HERD_THREADS=2 SPEECH_TOL=2e-2
run "Q8_0 weights, 2 threads" q8_0 HERD_THREADS=2 SPEECH_TOL=5e-2

if [ $fail = 0 ]; then echo "parity speech: all cases within tolerance"; else echo "parity speech: FAILED" >&2; fi
exit $fail
