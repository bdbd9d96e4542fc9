#!/bin/bash
# tools/bench/video.sh — video captioning speed with 2 threads (or -t N):
#   1. decode: frames decoded and converted to RGB (libswscale) per second, every
#      frame of the clip (herd run "video:CLIP sampling=all ! null", decoder
#      threads = -t), against the frame count ffprobe decodes;
#   2. sampling: wall time to hand out 64 uniformly sampled frames (the paper's
#      SFT count; keyframe seeks on long clips);
#   3. end to end: `herd caption` wall time (model load, decoding, encoding,
#      aggregation, generation of -n tokens), reported as seconds per minute of
#      video, in image mode (frames as images) and — with a video model — in
#      video mode (aggregator + video cross-attention layers).
#
#   tools/bench/video.sh [-m MODEL] [--video-model MODEL] [-t THREADS] [-n TOKENS]
#                        [--frames K] [CLIP...]
#
# Without -m / --video-model tiny random models are written to a temporary
# directory (herd random-model --arch mllama / --arch video --preset tiny):
# their captions are nonsense but every step of the path is the real one; with
# tiny models the end-to-end time is mostly decoding.  Clips default to the
# fixture videos.  Env: HERD (default build/herd), HERD_FIXTURES (default
# ../shared/fixtures).  Needs ffprobe.  Use a Release build.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
HERD=${HERD:-$here/build/herd}
FIX=${HERD_FIXTURES:-$here/../shared/fixtures}
model="" vmodel="" threads=2 ntok=16 frames=""
clips=()
while [ $# -gt 0 ]; do
  case $1 in
    -m) model=$2; shift 2 ;;
    --video-model) vmodel=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -n) ntok=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    -*) echo "video.sh: unknown option $1" >&2; exit 2 ;;
    *) clips+=("$1"); shift ;;
  esac
done
[ -x "$HERD" ] || { echo "video.sh: no herd binary at $HERD (set HERD)" >&2; exit 2; }
command -v ffprobe >/dev/null || { echo "video.sh: needs ffprobe" >&2; exit 2; }
if [ ${#clips[@]} = 0 ]; then
  clips=("$FIX/video/big_buck_bunny_0_30.webm" "$FIX/video/chaplin.mp4" "$FIX/video/dog_and_stove.mp4"
         "$FIX/video/chaplin_first4s_vp9_opus.mkv")
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if grep -q 'CMAKE_BUILD_TYPE:STRING=Debug' "$(dirname "$HERD")/CMakeCache.txt" 2>/dev/null; then
  echo "video.sh: warning: $HERD is a Debug build; numbers are not representative" >&2
fi
if [ -z "$model" ]; then
  model="$T/mm.gguf"
  "$HERD" random-model --arch mllama --preset tiny --tokenizer "$FIX/tokenizer/llama3_tokenizer.model" -o "$model" --quiet >/dev/null
fi
if [ -z "$vmodel" ]; then
  vmodel="$T/video.gguf"
  "$HERD" random-model --arch video --preset tiny --tokenizer "$FIX/tokenizer/llama3_tokenizer.model" -o "$vmodel" --quiet >/dev/null
fi

now() { date +%s.%N; }
fa=()
[ -n "$frames" ] && fa=(--frames "$frames")
printf '%-34s %7s %6s %9s %11s %10s %10s\n' clip seconds frames "decode/s" "64 sampled" "image s/min" "video s/min"
for clip in "${clips[@]}"; do
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$clip")
  nfr=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
  t0=$(now)
  "$HERD" run "video:$clip sampling=all threads=$threads ! null" >/dev/null 2>&1
  t1=$(now)
  "$HERD" run "video:$clip frames=64 threads=$threads ! null" >/dev/null 2>&1
  t2=$(now)
  "$HERD" caption -m "$model" -t "$threads" --temp 0 -n "$ntok" --quiet "${fa[@]}" "$clip" >/dev/null
  t3=$(now)
  "$HERD" caption -m "$vmodel" -t "$threads" --temp 0 -n "$ntok" --quiet "${fa[@]}" "$clip" >/dev/null
  t4=$(now)
  awk -v c="$(basename "$clip")" -v d="$dur" -v n="$nfr" -v a="$t0" -v b="$t1" -v s="$t2" -v e="$t3" -v f="$t4" 'BEGIN {
    printf "%-34s %7.2f %6d %9.1f %10.2fs %10.1f %10.1f\n", c, d, n, n / (b - a), s - b, (e - s) * 60 / d, (f - e) * 60 / d }'
done
echo "(threads $threads; end to end: $ntok tokens per caption; image model $(basename "$model"), video model $(basename "$vmodel"))"
