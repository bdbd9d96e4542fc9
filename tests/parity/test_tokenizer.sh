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

# 2. random texts: herd (tokenizer.model and tokenizer.json) == reference
mkdir "$W/cases"
"$PYTHON" "$REF" "$MODEL" gen "$W/cases" 150 "${TOKENIZER_SEED:-20240723}"
"$PYTHON" "$REF" "$MODEL" encode "$W"/cases/case_*.txt > "$W/ref.txt"
: > "$W/herd_model.txt"
: > "$W/herd_json.txt"
for f in "$W"/cases/case_*.txt; do
  "$HERD" tokenize -m "$MODEL" -f "$f" >> "$W/herd_model.txt"
  "$HERD" tokenize -m "$TOKDIR/tokenizer.json" -f "$f" >> "$W/herd_json.txt"
done
n=$(wc -l < "$W/ref.txt")
fail=0
for which in model json; do
  if ! diff -q "$W/ref.txt" "$W/herd_$which.txt" >/dev/null; then
    echo "FAIL: herd tokenize (tokenizer.$which) differs from tokenizer_ref.py"
    paste -d'\n' <(nl -ba "$W/ref.txt") <(nl -ba "$W/herd_$which.txt") | awk 'NR%2{a=$0;next} a!=$0{print "ref :" a; print "herd:" $0; exit}' | cut -c1-400
    fail=1
  fi
done
[ "$fail" = 0 ] || exit 1
echo "OK: reference = llama-bpe.out (46); herd = reference on $n random texts (tokenizer.model and tokenizer.json)"
