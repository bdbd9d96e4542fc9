#!/usr/bin/env bash
# tests/parity/test_conformer.sh — speech/conformer.c against two float64
# references (tests/parity/conformer_ref.py) on a tiny random encoder written
# by `herd random-model --arch conformer --preset tiny`:
#   * the published math (stacking, macaron FFNs, rotary MHSA, conv module,
#     final LayerNorm), written independently of the C code;
#   * torchaudio.models.Conformer's own ConformerLayer with the same weights
#     and only its self_attn swapped for rotary attention (SPEC §6.3);
# plus torchaudio's _FeedForwardModule / _ConvolutionModule against the
# hand-written pieces (≤ 1e-12).  Tolerances (max|herd − ref| / max|ref|):
#   F32 weights, every SIMD level, 1 and 2 threads       ≤ 1e-4  (measured ~5e-7)
#   F16 weights vs the reference on the same F16 values  ≤ 1e-4  (measured ~5e-7)
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
if ! "$PY" -c 'import torchaudio' 2>/dev/null; then
  echo "torchaudio missing for $PY (Debian: python3-torchaudio)" >&2
  exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

"$HERD" random-model --arch conformer --preset tiny --seed 3 -o "$T/tiny.gguf" --quiet >/dev/null
"$HERD" random-model --arch conformer --preset tiny --seed 3 --type f16 -o "$T/tiny-f16.gguf" --quiet >/dev/null

CONFORMER_MODEL="$T/tiny.gguf" "$PY" "$SRC/tests/parity/conformer_ref.py" modules || fail=1

run() { # label model [tol-override] env...
  local label=$1 model=$2
  shift 2
  echo "== $label"
  if ! env CONFORMER_MODEL="$model" "$@" "$PY" "$SRC/tests/parity/harness.py" run \
      --suite "$SRC/tests/parity/conformer_ref.py" --runner "$BUILD/tests/parity_conformer" --workdir "$T/work"; then
    fail=1
  fi
}
for cpu in scalar avx2 avx512; do
  run "F32, $cpu, 1 thread" "$T/tiny.gguf" HERD_CPU=$cpu HERD_THREADS=1
done
run "F32, 2 threads" "$T/tiny.gguf" HERD_THREADS=2
run "F16 weights, 2 threads" "$T/tiny-f16.gguf" HERD_THREADS=2

if [ $fail = 0 ]; then echo "parity conformer: all cases within tolerance"; else echo "parity conformer: FAILED" >&2; fi
exit $fail
