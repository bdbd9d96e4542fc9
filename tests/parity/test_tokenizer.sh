#!/usr/bin/env bash
# tests/parity/test_tokenizer.sh — `herd tokenize` against tokenizer_ref.py (a
# plain Python Llama 3 tokenizer using the `regex` module) on random texts
# mixing contractions, Unicode letters/numbers/marks, exotic whitespace, emoji,
# unassigned code points and runs longer than Meta's 25 000-character limit.
# The reference itself is first checked against llama.cpp's llama-bpe vectors.
set -euo pipefail
: "${HERD:?}" "${HERD_FIXTURES:?}" "${HERD_SOURCE_DIR:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
REF="$HERD_SOURCE_DIR/tests/parity/tokenizer_ref.py"
TOKDIR="$HERD_FIXTURES/tokenizer"
MODEL="$TOKDIR/llama3_tokenizer.model"
if ! "$PYTHON" -c 'import regex' 2>/dev/null; then
  echo "FAIL: $PYTHON has no 'regex' module (Debian package python3-regex)"; exit 1
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# 1. the reference reproduces llama-bpe.out (46 cases)
"$PYTHON" - "$TOKDIR" "$W" <<'PY'
import sys
d, w = sys.argv[1], sys.argv[2]
inp = open(d + "/llama-bpe.inp", "rb").read().decode("utf-8").split("\n__ggml_vocab_test__\n")[:-1]
for k, t in enumerate(inp):
    open("%s/bpe_%02d.txt" % (w, k), "wb").write(t.encode("utf-8"))
print(len(inp))
PY
"$PYTHON" "$REF" "$MODEL" encode "$W"/bpe_*.txt | sed 's/^\(.\)/ \1/' > "$W/bpe.ref"
if ! diff -q "$W/bpe.ref" "$TOKDIR/llama-bpe.out" >/dev/null; then
  echo "FAIL: tokenizer_ref.py does not reproduce llama-bpe.out"; diff "$W/bpe.ref" "$TOKDIR/llama-bpe.out" | head; exit 1
fi

# 2. random texts: herd == reference, with tokenizer.model on every text and
#    tokenizer.json (slower to load) on every fourth
mkdir "$W/cases"
"$PYTHON" "$REF" "$MODEL" gen "$W/cases" 150 "${TOKENIZER_SEED:-20240723}"
"$PYTHON" "$REF" "$MODEL" encode "$W"/cases/case_*.txt > "$W/ref.txt"
k=0 fail=0 n_model=0 n_json=0
for f in "$W"/cases/case_*.txt; do
  k=$((k + 1))
  want=$(sed -n "${k}p" "$W/ref.txt")
  for which in model json; do
    if [ "$which" = json ] && [ $((k % 4)) != 1 ]; then continue; fi
    [ "$which" = model ] && m="$MODEL" || m="$TOKDIR/tokenizer.json"
    got=$("$HERD" tokenize -m "$m" -f "$f") || { echo "FAIL: herd tokenize failed on $(basename "$f")"; exit 1; }
    if [ "$got" != "$want" ]; then
      echo "FAIL: $(basename "$f") (tokenizer.$which) differs from tokenizer_ref.py"
      echo "  text: $(head -c 200 "$f" | od -An -c | head -3 | tr -s ' ')"
      echo "  ref : ${want:0:300}"
      echo "  herd: ${got:0:300}"
      fail=1
    fi
    [ "$which" = model ] && n_model=$((n_model + 1)) || n_json=$((n_json + 1))
  done
done
[ "$fail" = 0 ] || exit 1
echo "OK: reference = llama-bpe.out (46); herd = reference on $n_model random texts (tokenizer.model), $n_json of them also from tokenizer.json"
