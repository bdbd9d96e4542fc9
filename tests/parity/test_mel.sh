#!/usr/bin/env bash
# tests/parity/test_mel.sh — speech/mel.c (80-bin Kaldi fbank, 25 ms / 10 ms at
# 16 kHz) against torchaudio.compliance.kaldi.fbank on the audio fixtures,
# decoded by media/audio.h: max |herd − torchaudio| ≤ 1e-4 in the log domain,
# and streamed (random chunks) bit-identical to whole-signal frames.
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
FIX=${HERD_FIXTURES:?fixtures directory}
RUNNER="$BUILD/tests/parity_mel"
if ! "$PY" -c 'import torchaudio' 2>/dev/null; then
  echo "torchaudio missing for $PY (Debian: python3-torchaudio)" >&2
  exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
A="$FIX/audio"
"$RUNNER" "$T" "$A/jfk.wav" "$A/jfk.flac" "$A/jfk.mp3" "$A/librispeech_1995-1837-0001_en.wav" \
  "$A/aishell_BAC009S0724W0121_zh.wav" "$A/speech_fr.ogg" "$A/speech_es.m4a" \
  "$A/librivox_sense_and_sensibility_0870.opus" "$A/stereo_two_speakers.wav" "$A/oversized_id3_chunk.wav" \
  >"$T/listing"
"$PY" "$SRC/tests/parity/mel_ref.py" "$T" "$T/listing" 1e-4
