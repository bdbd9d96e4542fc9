#!/usr/bin/env bash
# tools/bench/tokenizer.sh — Llama 3 tokenizer encoding speed on English text.
#
#   tools/bench/tokenizer.sh [HERD_BINARY] [MEGABYTES]
#
# Builds a corpus of real English prose (the licence texts in
# /usr/share/common-licenses, repeated to MEGABYTES, default 20; the encoder
# caches nothing, so repetition does not flatter it), encodes it with
# `herd tokenize --count --stats` (one thread) and prints bytes, tokens and
# MB/s of the encode step alone (the tokenizer load is reported separately).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
HERD=${1:-$HERE/build/herd}
MB=${2:-20}
MODEL=${TOKENIZER:-$(cd "$HERE/.." && pwd)/shared/fixtures/tokenizer/llama3_tokenizer.model}
[ -x "$HERD" ] || { echo "no herd binary at $HERD (build first, or pass its path)"; exit 2; }
[ -f "$MODEL" ] || { echo "no tokenizer at $MODEL (set TOKENIZER=...)"; exit 2; }
SRC=(/usr/share/common-licenses/GPL-3 /usr/share/common-licenses/LGPL-3 /usr/share/common-licenses/Apache-2.0
     /usr/share/common-licenses/GFDL-1.3 /usr/share/common-licenses/MPL-2.0 /usr/share/common-licenses/Artistic)
CORPUS=$(mktemp)
trap 'rm -f "$CORPUS"' EXIT
while [ "$(stat -c %s "$CORPUS")" -lt $((MB * 1000000)) ]; do
  for f in "${SRC[@]}"; do [ -f "$f" ] && cat "$f" >> "$CORPUS"; done
done
echo "corpus: $(stat -c %s "$CORPUS") bytes of English licence text; tokenizer: $MODEL"
best=""
for run in 1 2 3; do
  line=$("$HERD" tokenize -m "$MODEL" --count --stats -f "$CORPUS" 2>&1 >/dev/null)
  echo "  run $run: ${line#herd tokenize: }"
  mbs=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p')
  if [ -z "$best" ] || awk "BEGIN{exit !($mbs > $best)}"; then best=$mbs; fi
done
echo "encode: best $best MB/s (one core)"
