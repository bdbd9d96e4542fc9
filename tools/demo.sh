#!/usr/bin/env bash
# tools/demo.sh — the main job on a fresh machine: install what is missing, build herd, and
# run what people use it for — ask about a photo, transcribe and translate speech, caption a
# video, speak an answer — on the real fixture files in ../shared/fixtures.
# No published weights can be downloaded here and assets/ has no embedded model yet, so every
# model is a TINY RANDOM-WEIGHT model that `herd random-model` writes in the published layout
# (real Llama 3 tokenizer, random weights): the text it produces is meaningless by design;
# what the demo shows is each whole path working (decoding, encoders, graph, timing, formats).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh --build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DHERD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
HERD=build/release/herd
FIX=../shared/fixtures
say() { echo "herd demo: $*" >&2; }
run() { echo "+ $*" >&2; "$@"; }
say "no published weights are available here and assets/ has no embedded model yet, so this"
say "runs on TINY RANDOM-WEIGHT models: their words are noise by design, the paths are real."
D=build/demo
mkdir -p "$D"
TOK=$FIX/tokenizer/llama3_tokenizer.model
TOKARG=()
[ -f "$TOK" ] && TOKARG=(--tokenizer "$TOK")

run "$HERD" random-model --arch llama --preset tiny --type Q8_0 --seed 1 "${TOKARG[@]}" -o "$D/tiny-llama.gguf" --quiet
run "$HERD" info "$D/tiny-llama.gguf" | sed -n 1,12p
run "$HERD" generate -m "$D/tiny-llama.gguf" -p "The capital of France is" -n 16 --temp 0 --ids

if [ ! -d "$FIX" ]; then
  say "no fixtures at $FIX: the image, speech and video parts are skipped"
  exit 0
fi
run "$HERD" random-model --arch mllama --preset tiny --seed 1 "${TOKARG[@]}" -o "$D/tiny-vision.gguf" --quiet
run "$HERD" ask -m "$D/tiny-vision.gguf" -i "$FIX/images/coco_000000039769_two_cats.png" "What is in this picture?" -n 12 --temp 0
run "$HERD" random-model --arch speech --preset tiny --seed 1 "${TOKARG[@]}" -o "$D/tiny-speech.gguf" --quiet
run "$HERD" transcribe -m "$D/tiny-speech.gguf" "$FIX/audio/jfk.mp3" --format srt -n 8
run "$HERD" translate -m "$D/tiny-speech.gguf" "$FIX/audio/jfk.mp3" --to fr -n 8
# the published speech-LLM layouts: a Granite Speech 3.3 and an Ultravox v0.5 folder (tiny, random)
run "$HERD" random-model --arch granite-speech --preset tiny --format hf --seed 1 -o "$D/granite-speech-tiny" --quiet
run "$HERD" transcribe -m "$D/granite-speech-tiny" "$FIX/audio/jfk.mp3" --format srt -n 8 --temp 1 --seed 1
JSON=$FIX/tokenizer/tokenizer.json
run "$HERD" random-model --arch ultravox --preset tiny --format hf --seed 1 --tokenizer "$JSON" -o "$D/ultravox-tiny" --quiet
run "$HERD" translate -m "$D/ultravox-tiny" "$FIX/audio/jfk.mp3" --to de -n 8 --temp 1 --seed 1
run "$HERD" caption -m "$D/tiny-vision.gguf" "$FIX/video/chaplin.mp4" --segments 2 --frames 2 --format srt -n 8 --temp 0
run "$HERD" speak "The capital of France is Paris. It has 2.1 million people." -o "$D/answer.wav"
say "wrote $D/answer.wav (espeak-ng voice through herd's vocoder: this one is intelligible)"
