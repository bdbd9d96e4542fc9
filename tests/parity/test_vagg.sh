#!/usr/bin/env bash
# tests/parity/test_vagg.sh — vision/video_aggregator.c (the paper's temporal
# aggregator, a perceiver resampler) against a float64 PyTorch reference
# written from the equations (tests/parity/vagg_ref.py), on a tiny random
# aggregator written by `herd random-model --arch video-aggregator`.
# Tolerance (max|herd − ref| / max|ref|): ≤ 1e-4 for F32 weights at every SIMD
# level and thread count, and for F16 weights against the reference on the
# same F16 values.
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

"$HERD" random-model --arch video-aggregator --preset tiny --seed 5 -o "$T/tiny.gguf" --quiet >/dev/null
"$HERD" random-model --arch video-aggregator --preset tiny --seed 5 --type f16 -o "$T/tiny-f16.gguf" --quiet >/dev/null

run() { # label model env...
  local label=$1 model=$2
  shift 2
  echo "== $label"
  if ! env VAGG_MODEL="$model" "$@" "$PY" "$SRC/tests/parity/harness.py" run \
      --suite "$SRC/tests/parity/vagg_ref.py" --runner "$BUILD/tests/parity_vagg" --workdir "$T/work"; then
    fail=1
  fi
}
for cpu in scalar avx2 avx512; do
  run "F32, $cpu, 1 thread" "$T/tiny.gguf" HERD_CPU=$cpu HERD_THREADS=1
done
run "F32, 2 threads" "$T/tiny.gguf" HERD_THREADS=2
run "F16 weights, 2 threads" "$T/tiny-f16.gguf" HERD_THREADS=2

if [ $fail = 0 ]; then echo "parity video aggregator: all cases within tolerance"; else echo "parity video aggregator: FAILED" >&2; fi
exit $fail
