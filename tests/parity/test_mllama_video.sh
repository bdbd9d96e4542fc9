#!/usr/bin/env bash
# tests/parity/test_mllama_video.sh — the video cross-attention layers (lm/llama_video.c)
# on the mllama text decoder against tests/parity/mllama_video_ref.py (float64 PyTorch,
# extending mllama_text_ref.py) through harness.py and the C runner
# tests/parity/parity_mllama_video.c.
#
# Model: mllama_text_ref.py's tiny text model (6 layers, image cross layers 1 and 4) with
# two video layers, before decoder layers 1 and 4, random gates; one GGUF written by the
# reference (not by herd).  Prompts: the video placeholder after four text tokens and
# right after BOS, 16 random video tokens; META and HF row masking; one batch and
# batches of 3; all prompt logits plus 4 greedy steps; and the same prompt without a
# video (the video layers skipped).
#
#   F32, every SIMD level, 1 and 2 threads       rel ≤ 1e-4
#   F32 weights, F16 KV cache                     rel ≤ 3e-3 (logits only)
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?set HERD_BUILD_DIR to the build directory}
RUNNER="$BUILD/tests/parity_mllama_video"
REF="$SRC/tests/parity/mllama_video_ref.py"
if [ ! -x "$RUNNER" ]; then
  echo "FAIL: $RUNNER not built (cmake --build $BUILD --target parity_mllama_video)" >&2
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

"$PY" "$REF" write "$T/hf" --seed 7
"$PY" "$REF" gguf "$T/hf" "$T/video.gguf"
for cpu in scalar avx2 avx512; do
  for th in 1 2; do
    harness "video layers F32 $cpu ${th}t" VIDEO_REF_MODEL="$T/hf" VIDEO_MODEL="$T/video.gguf" HERD_CPU=$cpu HERD_THREADS=$th
  done
done
harness "video layers F32, F16 KV cache" VIDEO_REF_MODEL="$T/hf" VIDEO_MODEL="$T/video.gguf" VIDEO_KV=f16 \
  VIDEO_TOL=3e-3 VIDEO_NGEN=0 HERD_THREADS=2

# broken video layers: the loader names the file and the problem in one line
if [ -n "${HERD:-}" ]; then
  bad_file() { # label needle gguf-options...
    local label=$1 needle=$2
    shift 2
    "$PY" "$REF" gguf "$T/hf" "$T/bad.gguf" "$@"
    if "$HERD" generate -m "$T/bad.gguf" -p hi -n 1 >"$T/out" 2>"$T/err"; then
      echo "FAIL $label: loaded"; fail=1
    elif [ "$(wc -l <"$T/err")" = 1 ] && grep -qF -- "$needle" "$T/err" && grep -qF bad.gguf "$T/err"; then
      echo "ok   $label: $(cat "$T/err")"
    else
      echo "FAIL $label: $(cat "$T/err")"; fail=1
    fi
  }
  bad_file "video layer before a self-attention layer" "is not an image cross-attention layer index" --video-before 2
  bad_file "video layers out of order" "is not an image cross-attention layer index" --video-before 4,1
  bad_file "a video tensor missing" "vblk.1.ffn_down.weight" --drop vblk.1.ffn_down.weight
fi

exit $fail
