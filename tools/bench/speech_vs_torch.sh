#!/usr/bin/env bash
# tools/bench/speech_vs_torch.sh — real-time factor of the speech encoder +
# adapter (Conformer → speech adapter, SPEC §4), herd vs PyTorch CPU running
# the same math on the same random weights and mel frames; prints both RTFs
# and the PyTorch/herd ratio per model size.
#
#   tools/bench/speech_vs_torch.sh [options]
#     --build DIR      herd build directory (default: build; needs DIR/herd and
#                      DIR/tests/parity_speech)
#     --clip FILE      audio file (default: the shared fixture jfk.wav, 11 s)
#     --seconds S      use only the first S seconds (default: all)
#     --presets LIST   random-model --arch speech presets (default "small paper-1b":
#                      a 28M Conformer-M-sized model and the paper's 1B encoder + ~100M adapter)
#     --type T         weight type of the model files (default bf16; f32, f16)
#     --threads N      threads for both engines (default 2)
#     --repeat R       timed runs after one warm-up, minimum reported (default 3)
#     --keep DIR       write / reuse the model files in DIR (the paper-1b file is 2.2 GB
#                      in BF16) instead of a temporary directory
#
# Full run for the record (quiet machine, about 10 GB of RAM for paper-1b):
#   tools/bench/speech_vs_torch.sh --build build --presets "small paper-1b" --threads 2 --repeat 5
# Quick check:
#   tools/bench/speech_vs_torch.sh --build build --presets small --seconds 3
# PyTorch: /usr/bin/python3 (Debian, torch + torchaudio) unless $PYTHON is set.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
BUILD=build
CLIP="$SRC/../shared/fixtures/audio/jfk.wav"
SECONDS_=0
PRESETS="small paper-1b"
TYPE=bf16
THREADS=2
REPEAT=3
KEEP=
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --clip) CLIP=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --presets) PRESETS=$2; shift 2 ;;
    --type) TYPE=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "speech_vs_torch.sh: unknown option '$1'" >&2; usage ;;
  esac
done
HERD="$BUILD/herd"
RUNNER="$BUILD/tests/parity_speech"
for f in "$HERD" "$RUNNER"; do
  [ -x "$f" ] || { echo "speech_vs_torch.sh: missing $f (build the herd and parity_speech targets)" >&2; exit 2; }
done
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
[ "$bt" = Release ] || echo "speech_vs_torch.sh: warning: $BUILD is a '${bt:-?}' build; time a Release build" >&2
[ -r "$CLIP" ] || { echo "speech_vs_torch.sh: cannot read clip $CLIP" >&2; exit 2; }
"$PY" -c 'import torch, torchaudio' 2>/dev/null || { echo "speech_vs_torch.sh: $PY lacks torch/torchaudio" >&2; exit 2; }

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v c="$(nproc)" 'BEGIN { exit !(l > 0.5 * c) }'; then
  echo "speech_vs_torch.sh: warning: load average $load on $(nproc) cores: timings will not be representative" \
       "(PyTorch's OpenMP barriers collapse when its threads are descheduled)" >&2
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
MODELS=${KEEP:-$WORK}
mkdir -p "$MODELS"
echo "herd $("$HERD" --version 2>/dev/null | head -n 1 || echo '?'), $(nproc) cores, clip $(basename "$CLIP"), type $TYPE"
for preset in $PRESETS; do
  model="$MODELS/speech-$preset-$TYPE.gguf"
  if [ ! -s "$model" ]; then
    "$HERD" random-model --arch speech --preset "$preset" --type "$TYPE" --seed 1 -o "$model" --quiet >/dev/null
  fi
  "$PY" "$SRC/tools/bench/speech_vs_torch.py" --model "$model" --runner "$RUNNER" --clip "$CLIP" \
    --seconds "$SECONDS_" --threads "$THREADS" --repeat "$REPEAT" --workdir "$WORK"
done
