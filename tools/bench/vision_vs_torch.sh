#!/usr/bin/env bash
# tools/bench/vision_vs_torch.sh — time of the Llama 3.2 Vision encoder + projector
# (vision/vit.h) on one image, herd vs PyTorch CPU (float32) running the same math on
# the same random weights and pixels; prints both times (min and median), the ratio
# herd/PyTorch and how far the two outputs are apart.  What is timed exactly: see
# tools/bench/vision_vs_torch.py.
#
#   tools/bench/vision_vs_torch.sh [options]
#     --build DIR      herd build directory (default: build; needs DIR/herd and
#                      DIR/tests/parity_vision; time a Release build)
#     --preset P       random-model --arch mllama-vision preset (default
#                      llama-3.2-11b-vision: the published 11B tower, 4 tile slots of 560x560,
#                      W 1280, 32 + 8 layers, projector 7680 -> 4096; "tiny" for a smoke run)
#     --type T         weight type of herd's GGUF (default BF16; F32, F16).  PyTorch always
#                      computes in float32 on the same (rounded) weights.
#     --tiles LIST     valid tiles of the image, one timing each (default "1 4")
#     --threads N      threads for both engines (default 2)
#     --repeat R       timed runs per engine and tile count (default 3)
#     --warmup W       untimed runs before them (default 1)
#     --keep DIR       write / reuse the model file in DIR (default BUILD/bench; the 11B
#                      tower is 1.8 GB in BF16)
#
# Record run (quiet machine; ~6 GB of RAM for PyTorch, a few minutes per engine and run):
#   tools/bench/vision_vs_torch.sh --build build --threads 2 --repeat 3
# Quick check:
#   tools/bench/vision_vs_torch.sh --build build --preset tiny --repeat 2
# PyTorch: /usr/bin/python3 (Debian, torch) unless $PYTHON is set.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
BUILD=build
PRESET=llama-3.2-11b-vision
TYPE=BF16
TILES="1 4"
THREADS=2
REPEAT=3
WARMUP=1
KEEP=
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    --type) TYPE=$2; shift 2 ;;
    --tiles) TILES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "vision_vs_torch.sh: unknown option '$1'" >&2; usage ;;
  esac
done
HERD="$BUILD/herd"
RUNNER="$BUILD/tests/parity_vision"
for f in "$HERD" "$RUNNER"; do
  [ -x "$f" ] || { echo "vision_vs_torch.sh: missing $f (build the herd and parity_vision targets)" >&2; exit 2; }
done
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
[ "$bt" = Release ] || echo "vision_vs_torch.sh: warning: $BUILD is a '${bt:-?}' build; time a Release build" >&2
"$PY" -c 'import torch' 2>/dev/null || { echo "vision_vs_torch.sh: $PY lacks torch" >&2; exit 2; }

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v c="$(nproc)" 'BEGIN { exit !(l > 0.5 * c) }'; then
  echo "vision_vs_torch.sh: warning: load average $load on $(nproc) cores: timings will not be representative" >&2
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
MODELS=${KEEP:-$BUILD/bench}
mkdir -p "$MODELS"
model="$MODELS/vision-$PRESET-$TYPE.gguf"
if [ ! -s "$model" ]; then
  "$HERD" random-model --arch mllama-vision --preset "$PRESET" --format gguf --type "$TYPE" --seed 1 \
    -o "$model.part" --quiet >/dev/null
  mv "$model.part" "$model"
fi
echo "herd $("$HERD" --version 2>/dev/null | head -n 1 || echo '?'), $(nproc) cores, load average" \
     "$(cut -d' ' -f1-3 /proc/loadavg), $PRESET $TYPE"
"$PY" "$SRC/tools/bench/vision_vs_torch.py" --model "$model" --runner "$RUNNER" --tiles "$TILES" \
  --threads "$THREADS" --repeat "$REPEAT" --warmup "$WARMUP" --workdir "$WORK"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
