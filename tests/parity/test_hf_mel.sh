#!/usr/bin/env bash
# tests/parity/test_hf_mel.sh — speech/hf_mel.c (the Whisper and Granite Hugging
# Face log-mel front ends) against the extractors' math in torch/torchaudio
# (hf_mel_ref.py) on the audio fixtures decoded by media/audio.h, plus pieces
# of 300 / 333 / 1000 / 16000 samples (the short-input padding paths): same rows, same
# valid rows, max |herd − reference| ≤ 1e-4 on the normalised features.
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
FIX=${HERD_FIXTURES:?fixtures directory}
RUNNER="$BUILD/tests/parity_hf_mel"
if ! "$PY" -c 'import torchaudio' 2>/dev/null; then
  echo "torchaudio missing for $PY (Debian: python3-torchaudio)" >&2
  exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
A="$FIX/audio"
"$RUNNER" "$T" "$A/jfk.wav" "$A/speech_fr.ogg" "$A/librispeech_mr_quilter_en.wav" \
  "$A/aishell_BAC009S0724W0121_zh.wav" "$A/mit_license_en_de.mp3" \
  "$A/jfk.wav:8000:300" "$A/jfk.wav:20000:333" "$A/jfk.wav:0:16000" "$A/speech_fr.ogg:5000:1000" >"$T/listing"
"$PY" "$SRC/tests/parity/hf_mel_ref.py" "$T" "$T/listing" 1e-4
