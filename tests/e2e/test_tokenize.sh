#!/usr/bin/env bash
# tests/e2e/test_tokenize.sh — `herd tokenize` end to end: ids from each
# tokenizer file kind (tokenizer.model, tokenizer.json, a directory, a GGUF made
# by random-model), --special/--bos/--eos, --json, --pieces, stdin and -f,
# --decode round trips, and one clear line + the right exit code for bad input.
set -uo pipefail
HERD=${HERD:?path to the herd binary}
FIX=${HERD_FIXTURES:?fixtures directory}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
# same NAME GOT WANT
same() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2' want '$3'"; fi; }

D="$FIX/tokenizer"
MODEL="$D/llama3_tokenizer.model"
TXT="This is a test sentence."
WANT="2028 374 264 1296 11914 13"

same "tokenizer.model" "$("$HERD" tokenize -m "$MODEL" "$TXT")" "$WANT"
same "tokenizer.json" "$("$HERD" tokenize -m "$D/tokenizer.json" "$TXT")" "$WANT"
same "directory" "$("$HERD" tokenize -m "$D" "$TXT")" "$WANT"
same "words joined by spaces" "$("$HERD" tokenize -m "$MODEL" This is a test sentence.)" "$WANT"
same "--bos --eos" "$("$HERD" tokenize -m "$MODEL" --bos --eos "$TXT")" "128000 $WANT 128001"
same "stdin" "$(printf '%s' "$TXT" | "$HERD" tokenize -m "$MODEL" -)" "$WANT"
printf '%s' "$TXT" > "$T/in.txt"
same "-f FILE" "$("$HERD" tokenize -m "$MODEL" -f "$T/in.txt")" "$WANT"
same "--json" "$("$HERD" tokenize -m "$MODEL" --json "$TXT")" "[2028,374,264,1296,11914,13]"
same "--count" "$("$HERD" tokenize -m "$MODEL" --count "$TXT")" "6"
same "specials off" "$("$HERD" tokenize -m "$MODEL" "<|eot_id|>")" "27 91 68 354 851 91 29"
same "--special" "$("$HERD" tokenize -m "$MODEL" --special "<|eot_id|>")" "128009"
same "--special, file names (3.0)" "$("$HERD" tokenize -m "$D/tokenizer.json" --special "<|eom_id|>")" "27 91 68 316 851 91 29"
same "--names 3.1" "$("$HERD" tokenize -m "$D/tokenizer.json" --names 3.1 --special "<|eom_id|>")" "128008"
same "--pieces" "$("$HERD" tokenize -m "$MODEL" --pieces "a
b" | tr '\t' '|' | paste -sd' ')" "64|a 198|\\n 65|b"
same "--json --pieces" "$("$HERD" tokenize -m "$MODEL" --json --pieces "é")" '[{"id":978,"piece":"é","hex":"c3a9"}]'
same "--decode" "$("$HERD" tokenize -m "$MODEL" --decode 128000 $WANT)" "<|begin_of_text|>$TXT"
same "--decode - (JSON from stdin)" "$("$HERD" tokenize -m "$MODEL" --json "$TXT" | "$HERD" tokenize -m "$MODEL" --decode -)" "$TXT"
# invalid UTF-8 bytes become byte tokens and decode back to the same bytes
printf 'ab\xffcd' > "$T/bad.txt"
ids=$("$HERD" tokenize -m "$MODEL" -f "$T/bad.txt")
"$HERD" tokenize -m "$MODEL" --decode $ids > "$T/back.txt"
if [ "$(head -c 5 "$T/back.txt" | od -An -tx1 | tr -d ' ')" = "6162ff6364" ]; then ok "invalid UTF-8 round trip ($ids)"; else bad "invalid UTF-8 round trip"; fi

# a GGUF with the tokenizer inside (random-model --tokenizer)
if "$HERD" random-model --arch llama --preset tiny --format gguf --seed 1 --tokenizer "$MODEL" -o "$T/m.gguf" --quiet >/dev/null 2>"$T/err"; then
  same "GGUF vocabulary" "$("$HERD" tokenize -m "$T/m.gguf" "$TXT")" "$WANT"
else
  bad "random-model --tokenizer: $(cat "$T/err")"
fi

# expect_error NAME EXIT NEEDLE -- command...
expect_error() {
  local name=$1 code=$2 needle=$3
  shift 4
  "$@" >"$T/out" 2>"$T/err"
  local rc=$? lines
  lines=$(wc -l <"$T/err")
  if [ "$rc" = "$code" ] && [ "$lines" = 1 ] && grep -qF -- "$needle" "$T/err"; then ok "$name: $(cat "$T/err")"
  else bad "$name: exit $rc (want $code), $lines stderr lines, want '$needle':"; sed 's/^/    /' "$T/err"; fi
}
expect_error "no -m" 2 "-m TOKENIZER" -- "$HERD" tokenize "hi"
expect_error "no text" 2 "no text" -- "$HERD" tokenize -m "$MODEL"
expect_error "missing file" 1 "/nonexistent" -- "$HERD" tokenize -m /nonexistent "hi"
printf 'QQ== 0\n' > "$T/tiny.model"
expect_error "bad tokenizer file" 1 "tiny.model" -- "$HERD" tokenize -m "$T/tiny.model" "hi"
expect_error "bad --names" 2 "--names" -- "$HERD" tokenize -m "$MODEL" --names 4.0 "hi"
expect_error "bad id" 2 "out of range" -- "$HERD" tokenize -m "$MODEL" --decode 1 999999
expect_error "not an id" 2 "--decode" -- "$HERD" tokenize -m "$MODEL" --decode 1 x
expect_error "unknown flag" 2 "--bogus" -- "$HERD" tokenize -m "$MODEL" --bogus "hi"
"$HERD" tokenize --help | grep -q "herd tokenize -m TOKENIZER" && ok "--help" || bad "--help"
exit $fail
