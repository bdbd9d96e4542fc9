#!/usr/bin/env bash
# tests/fuzz/make_media_seeds.sh OUTDIR — seed corpora for fuzz_image, fuzz_audio and
# fuzz_video from the shared fixtures: OUTDIR/image (every fixture image up to 64 KiB,
# valid and corrupt, plus the first 64 KiB of the larger JPEGs), OUTDIR/audio (the first
# 64 KiB of every audio and video fixture and the corrupt WAV/MP3 files) and OUTDIR/video
# (the first 64 KiB of the video fixtures and of the corrupt MP4s).
# Fixtures: $HERD_FIXTURES, default ../shared/fixtures next to the repository.
set -euo pipefail
out=${1:?usage: make_media_seeds.sh OUTDIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
fx=${HERD_FIXTURES:-$here/../shared/fixtures}
[ -d "$fx/images" ] || { echo "make_media_seeds: no fixtures at $fx" >&2; exit 1; }
mkdir -p "$out/image" "$out/audio" "$out/video"
for f in "$fx"/images/pngsuite/* "$fx"/corrupt/pngsuite/* "$fx"/images/*.png "$fx"/images/*.jp*g \
         "$fx"/corrupt/*.png "$fx"/corrupt/*.jpg; do
  [ -f "$f" ] || continue
  if [ "$(stat -c %s "$f")" -le 65536 ]; then cp "$f" "$out/image/"
  elif [[ "$f" == *.jp*g ]]; then head -c 65536 "$f" > "$out/image/prefix_$(basename "$f")"; fi
done
for f in "$fx"/audio/*.wav "$fx"/audio/*.flac "$fx"/audio/*.mp3 "$fx"/audio/*.opus "$fx"/audio/*.ogg \
         "$fx"/audio/*.m4a "$fx"/video/* "$fx"/corrupt/*.wav "$fx"/corrupt/*.mp3 "$fx"/corrupt/*.mp4; do
  [ -f "$f" ] || continue
  head -c 65536 "$f" > "$out/audio/$(basename "$f")"
done
for f in "$fx"/video/* "$fx"/corrupt/*.mp4; do
  [ -f "$f" ] || continue
  head -c 65536 "$f" > "$out/video/$(basename "$f")"
done
echo "make_media_seeds: $(ls "$out/image" | wc -l) image, $(ls "$out/audio" | wc -l) audio and" \
     "$(ls "$out/video" | wc -l) video seeds in $out" >&2
