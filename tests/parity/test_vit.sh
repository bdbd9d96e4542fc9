#!/usr/bin/env bash
# tests/parity/test_vit.sh — Llama 3.2 Vision preprocessing and vision encoder against
# Python references, through the parity harness (tests/parity/harness.py) and the C
# runner tests/parity/parity_vision.c.
#
# 1. vision/preprocess.h vs tests/parity/preprocess_ref.py (HF MllamaImageProcessor's
#    algorithm in numpy, Pillow BILINEAR for the resize) on the fixture photos (decoded by
#    Pillow, EXIF applied, alpha on white) at tile sizes 560 and 448, plus random images
#    covering every arrangement, up-scaling and max_tiles 1 and 9.
#    Tolerance 1e-6 relative (measured: 0, the resize is Pillow-exact).  The same photos
#    decoded by herd (media/image.h) instead of Pillow: identical (JPEG, CMYK JPEG, PNG),
#    except 16-bit PNG (herd rounds to 8 bits, Pillow truncates: one level, tol 1e-2).
# 2. vision/vit.h vs tests/parity/vit_ref.py (float64 PyTorch from SPEC §2.4-2.5) on a tiny
#    random mllama checkpoint written by `herd random-model --arch mllama-vision`
#    (HF layout; GGUF with the same seed), on random tiles (4, 3, 2 (two empty slots) and
#    1 valid tiles) and on two preprocessed photos; outputs: the encoder features
#    [T, P, 6W] and the projector output [T*P, D].
#      F32 HF and GGUF, every SIMD level, 1 and 2 threads           <= 1e-4 (measured ~1e-6)
#      F16 HF and GGUF vs the reference on the same rounded weights  <= 1e-4 (measured ~1e-6)
#      BF16 HF and GGUF likewise (activations rounded to BF16 in the
#      BF16 kernels)                                                 <= 1e-2 (measured 2e-3)
# 3. The llama-3.2-11b-vision preset has the published tensor count and sizes (dry run).
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?set HERD_BUILD_DIR to the build directory}
RUNNER="$BUILD/tests/parity_vision"
if [ ! -x "$RUNNER" ]; then
  echo "FAIL: $RUNNER not built (cmake --build $BUILD --target parity_vision)" >&2
  exit 1
fi
export HERD_FIXTURES=${HERD_FIXTURES:-$SRC/../shared/fixtures}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

harness() { # label suite [env...]
  local label=$1 suite=$2
  shift 2
  if env "$@" "$PY" "$SRC/tests/parity/harness.py" run --suite "$SRC/tests/parity/$suite" --runner "$RUNNER" \
      --workdir "$T/work" --label "$label" >"$T/log" 2>&1; then
    echo "ok   $label: $(grep -c '^ok' "$T/log") cases"
  else
    echo "FAIL $label"
    cat "$T/log"
    fail=1
  fi
}

# ---- 1. preprocessing ---------------------------------------------------------------
harness "preprocess" preprocess_ref.py

# ---- 2. encoder ---------------------------------------------------------------------
rm_model() { # format type out
  "$HERD" random-model --arch mllama-vision --preset tiny --format "$1" --type "$2" --seed 11 -o "$3" --quiet
}
rm_model hf F32 "$T/hf32"
rm_model gguf F32 "$T/m32.gguf"
for cpu in scalar avx2 avx512; do
  for th in 1 2; do
    harness "vit F32 HF $cpu ${th}t" vit_ref.py VIT_MODEL="$T/hf32" HERD_CPU=$cpu HERD_THREADS=$th
  done
done
harness "vit F32 GGUF" vit_ref.py VIT_MODEL="$T/m32.gguf" VIT_REF_MODEL="$T/hf32" HERD_THREADS=2
for ty in F16:1e-4 BF16:1e-2; do
  t=${ty%%:*} tol=${ty#*:}
  rm_model hf "$t" "$T/hf_$t"
  rm_model gguf "$t" "$T/m_$t.gguf"
  harness "vit $t HF" vit_ref.py VIT_MODEL="$T/hf_$t" VIT_TOL="$tol" HERD_THREADS=2
  harness "vit $t GGUF" vit_ref.py VIT_MODEL="$T/m_$t.gguf" VIT_REF_MODEL="$T/hf_$t" VIT_TOL="$tol" HERD_THREADS=2
done

# ---- 3. the published 11B vision tower shape ------------------------------------------
# Expected from SPEC §2.9: W 1280, P 1601, 4 tiles, 9 aspect-ratio rows, MLP 5120,
# 32 local + 8 global layers, projector 7680 -> 4096; BF16 (2 bytes per element).
want=$("$PY" - <<'PYEOF'
W, P, T, A, F, D, O = 1280, 1601, 4, 9, 5120, 4096, 7680
layer = 4 * W * W + F * W + F + W * F + W + 4 * W
n = W + W * 3 * 14 * 14 + 1 + P * W + A * T * P * W + 2 * (1 + A * T * W) + 4 * W
n += 32 * layer + 8 * (layer + 2) + D * O + D
print(f"511 tensors\t{2 * n} bytes")
PYEOF
)
got=$("$HERD" random-model --arch mllama-vision --preset llama-3.2-11b-vision --format hf --type BF16 --dry-run \
      -o "$T/v11" | awk -F'\t' '{print $2 "\t" $3}' | sed 's/ bytes of data.*/ bytes/')
if [ "$got" = "$want" ]; then
  echo "ok   llama-3.2-11b-vision preset: $got"
else
  echo "FAIL llama-3.2-11b-vision preset: got '$got', want '$want'"
  fail=1
fi
exit $fail
