#!/usr/bin/env bash
# tests/parity/test_mllama.sh — a whole Llama 3.2 Vision checkpoint end to end against
# Python references: photo -> preprocessing -> vision tower -> projector -> cross-attention
# decoder -> logits and greedy tokens (tests/parity/mllama_ref.py, runner
# tests/parity/parity_mllama.c).
#
# The checkpoint is `herd random-model --arch mllama --preset tiny` (HF layout: vision tile
# 56, W 32; text D 64, 10 layers with cross-attention at 3 and 8, vocabulary 128256 + 8,
# every gate N(0, 1)).  Cases: a chat prompt with the image after the user header (META and
# HF masking), an image-first prompt, two photos, a text-only prompt; the reference checks
# that the images change the logits by more than 2% (the cross layers are not trivial).
#
#   F32 HF folder (default SIMD level, scalar, 2 threads)        logits <= 1e-4 rel, greedy tokens equal
#   F32 GGUF written by random-model == herd convert of the folder (byte for byte), the same
#       suite on it, and its logits against the HF folder's run   <= 1e-5 rel
#   F16 HF and its herd convert --type f16 GGUF, reference on the same F16 values   <= 1e-4
#   BF16 HF and its GGUF (activations rounded in the BF16 kernels)                  <= 2e-2
#   Q8_0 (herd quantize of the F32 GGUF) against the F32 reference                  <= 5e-2
#   (measured: F32 5e-7, HF vs GGUF 4e-7, F16 5e-7, BF16 4e-3, Q8_0 2e-2; each run prints its own)
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?set HERD_BUILD_DIR to the build directory}
RUNNER="$BUILD/tests/parity_mllama"
if [ ! -x "$RUNNER" ]; then
  echo "FAIL: $RUNNER not built (cmake --build $BUILD --target parity_mllama)" >&2
  exit 1
fi
export HERD_FIXTURES=${HERD_FIXTURES:-$SRC/../shared/fixtures}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

harness() { # label workdir [env...]
  local label=$1 work=$2
  shift 2
  if env "$@" "$PY" "$SRC/tests/parity/harness.py" run --suite "$SRC/tests/parity/mllama_ref.py" \
      --runner "$RUNNER" --workdir "$work" --label "$label" >"$T/log" 2>&1; then
    echo "ok   $label: $(grep -c '^ok' "$T/log") cases, logits rel $(grep -E '^ +logits' "$T/log" |
      awk '{print $6}' | sort -g | tail -1) at most"
  else
    echo "FAIL $label"
    cat "$T/log"
    fail=1
  fi
}

rm_model() { # format type out
  "$HERD" random-model --arch mllama --preset tiny --format "$1" --type "$2" --seed 21 --no-tokenizer -o "$3" --quiet
}

# ---- F32: HF folder ---------------------------------------------------------------------
rm_model hf F32 "$T/hf32"
harness "mllama F32 HF" "$T/w_hf" MLLAMA_MODEL="$T/hf32" HERD_THREADS=1
harness "mllama F32 HF scalar 2 threads" "$T/w_hf_s" MLLAMA_MODEL="$T/hf32" HERD_CPU=scalar HERD_THREADS=2

# ---- F32: GGUF, written directly and converted -------------------------------------------
rm_model gguf F32 "$T/rm32.gguf"
"$HERD" convert "$T/hf32" "$T/cv32.gguf" --type f32 --name "Llama 3.2 Vision Tiny" --quiet
if cmp -s "$T/rm32.gguf" "$T/cv32.gguf"; then
  echo "ok   herd convert of the HF folder == random-model's GGUF (byte for byte)"
else
  echo "FAIL herd convert of the HF folder differs from random-model's GGUF"
  fail=1
fi
harness "mllama F32 GGUF" "$T/w_gguf" MLLAMA_MODEL="$T/cv32.gguf" MLLAMA_REF_MODEL="$T/hf32" HERD_THREADS=1
# the two runs of herd itself: HF folder vs GGUF (RoPE layouts differ, the rest is the same)
if worst=$("$PY" - "$T/w_hf" "$T/w_gguf" <<'PYEOF'
import glob, os, sys
import numpy as np
sys.path.insert(0, os.path.join(os.environ["HERD_SOURCE_DIR"], "tests", "parity"))
from harness import read_safetensors
worst = 0.0
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.out.safetensors")))
assert files, "no outputs"
for f in files:
    a, _ = read_safetensors(f)
    b, _ = read_safetensors(os.path.join(sys.argv[2], os.path.basename(f)))
    for k in a:
        d = float(np.abs(a[k].astype(np.float64) - b[k]).max() / max(np.abs(a[k]).max(), 1e-30))
        worst = max(worst, d)
        if d > 1e-5:
            sys.exit(f"{os.path.basename(f)} {k}: HF vs GGUF relative difference {d:.3g}")
print(f"{worst:.3g}")
PYEOF
); then
  echo "ok   herd on the HF folder vs herd on its GGUF: outputs within 1e-5 (measured $worst)"
else
  echo "FAIL herd on the HF folder vs its GGUF"
  fail=1
fi

# ---- F16 and BF16: HF folders and their conversions -------------------------------------
for ty in F16:1e-4:4 BF16:2e-2:0; do
  IFS=: read -r t tol ngen <<<"$ty"
  rm_model hf "$t" "$T/hf_$t"
  "$HERD" convert "$T/hf_$t" "$T/cv_$t.gguf" --type "$t" --quiet
  harness "mllama $t HF" "$T/w_hf_$t" MLLAMA_MODEL="$T/hf_$t" MLLAMA_TOL="$tol" MLLAMA_NGEN="$ngen" HERD_THREADS=2
  harness "mllama $t GGUF" "$T/w_gguf_$t" MLLAMA_MODEL="$T/cv_$t.gguf" MLLAMA_REF_MODEL="$T/hf_$t" \
    MLLAMA_TOL="$tol" MLLAMA_NGEN="$ngen" HERD_THREADS=2
done

# ---- Q8_0: herd quantize of the GGUF (patch embedding stays F16) ------------------------
"$HERD" quantize "$T/cv32.gguf" "$T/q8.gguf" Q8_0 --quiet
harness "mllama Q8_0 GGUF vs F32 reference" "$T/w_q8" MLLAMA_MODEL="$T/q8.gguf" MLLAMA_REF_MODEL="$T/hf32" \
  MLLAMA_TOL=5e-2 MLLAMA_NGEN=0 HERD_THREADS=2
exit $fail
