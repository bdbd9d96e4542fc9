#!/usr/bin/env bash
# tools/demo.sh — the main job on a fresh machine: install what is missing, build herd,
# and run it.  No published weights can be downloaded here and assets/ has no embedded
# model yet, so this runs on a TINY RANDOM-WEIGHT Llama 3 model that `herd random-model`
# writes (real Llama 3 tokenizer, random weights): its output text is meaningless by
# design; what it shows is the whole path working.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh --build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DHERD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
HERD=build/release/herd
echo "herd demo: no published weights are available here and assets/ has no embedded model yet," >&2
echo "herd demo: so this runs on a TINY RANDOM-WEIGHT Llama 3 model: its text is noise by design." >&2
MODEL=build/demo/tiny-llama.gguf
mkdir -p build/demo
TOK=../shared/fixtures/tokenizer/llama3_tokenizer.model
TOKARG=()
[ -f "$TOK" ] && TOKARG=(--tokenizer "$TOK")

echo "+ herd random-model --arch llama --preset tiny --format gguf --type Q8_0 -o $MODEL" >&2
"$HERD" random-model --arch llama --preset tiny --format gguf --type Q8_0 --seed 1 "${TOKARG[@]}" -o "$MODEL"
echo "+ herd info $MODEL" >&2
"$HERD" info "$MODEL" | sed -n 1,40p
if "$HERD" --help | grep -q '^  generate '; then
  echo "+ herd generate -m $MODEL -p 'The capital of France is' -n 16 --temp 0 --ids" >&2
  "$HERD" generate -m "$MODEL" -p "The capital of France is" -n 16 --temp 0 --ids
fi
