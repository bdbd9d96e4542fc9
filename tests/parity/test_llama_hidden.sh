#!/usr/bin/env bash
# tests/parity/test_llama_hidden.sh — hd_llama_set_hidden_capture (lm/llama.h)
# against the float64 PyTorch reference of the first L layers
# (tests/parity/llama_hidden_ref.py, which runs llama_ref.py's forward cut
# to L layers), on the tiny random Llama 3 (2 layers) in both layouts:
# layers 0 (embeddings), 1 and 2, one batch and batches of 3 (the capture
# is called per batch).  Tolerance max|herd − ref| / max|ref| ≤ 1e-4 (F32
# weights, F32 KV cache).  A wrong layer gives errors of order 1.
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
RUNNER="$BUILD/tests/parity_llama_hidden"
REF="$SRC/tests/parity/llama_hidden_ref.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
IDS="128000,791,6864,315,9822,374,12366,13,578,4062,14198"
fail=0

"$HERD" random-model --arch llama --preset tiny --format hf --type F32 --seed 11 -o "$T/hf" --quiet >/dev/null
"$HERD" random-model --arch llama --preset tiny --format gguf --type F32 --seed 11 -o "$T/m.gguf" --quiet >/dev/null
D=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hidden_size"])' "$T/hf/config.json")

for L in 0 1 2; do
  "$PY" "$REF" hidden --model "$T/hf" --ids "$IDS" --layer "$L" --out "$T/ref$L.f32"
  for m in hf m.gguf; do
    for b in 256 3; do
      "$RUNNER" "$T/$m" "$L" "$IDS" "$b" "$T/h.f32" >/dev/null
      if out=$("$PY" "$REF" compare "$T/h.f32" "$T/ref$L.f32" --dim "$D" --tol 1e-4); then
        echo "ok   layer $L, $m, batch $b: $out"
      else
        echo "FAIL layer $L, $m, batch $b: $out"
        fail=1
      fi
    done
  done
done
# the layers really differ (the comparison can fail)
if "$PY" "$REF" compare "$T/ref1.f32" "$T/ref2.f32" --dim "$D" --tol 1e-2 >/dev/null; then
  echo "FAIL layers 1 and 2 of the reference agree: the test could not tell them apart"
  fail=1
fi
exit $fail
