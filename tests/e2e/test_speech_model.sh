#!/usr/bin/env bash
# tests/e2e/test_speech_model.sh — `herd random-model --arch speech` end to end:
#   * tiny (F32, BF16, Q8_0): the speech file checked by tests/e2e/speech_model_ref.py
#     (keys, every tensor name and shape as documented, values equal to the generator;
#     a wrong seed must fail the check), the LM file beside it is a plain Llama GGUF
#     that `herd generate` runs;
#   * the paper presets as dry runs: file list and sizes (1B encoder + ~100M adapter,
#     and the Llama it is paired with);
#   * bad options and impossible combinations exit 2 with one line.
set -euo pipefail
HERD=${HERD:?set HERD to the herd binary}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PYTHON:-/usr/bin/python3}
FIX=${HERD_FIXTURES:-$SRC/../shared/fixtures}
TOK="$FIX/tokenizer/llama3_tokenizer.model"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
expect_exit() { # code, args...
  local want=$1; shift
  set +e; "$HERD" random-model --quiet "$@" >"$T/out.txt" 2>"$T/err.txt"; local got=$?; set -e
  if [ "$got" = "$want" ] && [ "$(wc -l <"$T/err.txt")" = 1 ]; then ok; else
    bad "random-model $* exited $got (want $want) with stderr:"; sed 's/^/  | /' "$T/err.txt" >&2; fi
}

# --- tiny: two files, checked independently ------------------------------------------
for ty in F32 BF16 Q8_0; do
  "$HERD" random-model --arch speech --preset tiny --type $ty --seed 5 --tokenizer "$TOK" -o "$T/sp_$ty.gguf" --quiet
  [ -s "$T/sp_$ty.gguf" ] && [ -s "$T/sp_$ty-lm.gguf" ] && ok || bad "tiny $ty: files missing"
  if "$PY" "$SRC/tests/e2e/speech_model_ref.py" "$T/sp_$ty.gguf" 5 "sp_$ty-lm.gguf" >"$T/ref.txt" 2>&1; then ok; else
    bad "speech_model_ref.py on $ty"; sed 's/^/  | /' "$T/ref.txt" >&2; fi
done
if "$PY" "$SRC/tests/e2e/speech_model_ref.py" "$T/sp_F32.gguf" 6 "sp_F32-lm.gguf" >/dev/null 2>&1; then
  bad "the checker accepts a file made with another seed"; else ok; fi
# same seed, same file
"$HERD" random-model --arch speech --preset tiny --seed 5 --tokenizer "$TOK" -o "$T/again.gguf" --quiet
cmp -s "$T/sp_F32-lm.gguf" "$T/again-lm.gguf" && ok || bad "the LM file differs between two runs"
"$PY" "$SRC/tests/e2e/speech_model_ref.py" "$T/again.gguf" 5 "again-lm.gguf" >/dev/null && ok || bad "again.gguf"
# the LM file is an ordinary Llama 3 GGUF
if "$HERD" generate -m "$T/sp_F32-lm.gguf" -p "Hello" -n 3 --temp 0 --quiet >"$T/gen.txt" 2>"$T/gen.err"; then ok; else
  bad "herd generate on the LM file"; sed 's/^/  | /' "$T/gen.err" >&2; fi

# --- paper presets: what would be written ---------------------------------------------
dry() { "$HERD" random-model --arch speech --type bf16 --dry-run -o "$T/p.gguf" --preset "$@"; }
out=$(dry paper-1b)
[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "p.gguf.*2.21 GB" && ok || bad "paper-1b dry run: $out"
out=$(dry paper-1b+llama-3.1-8b)
echo "$out" | grep -q "p-lm.gguf.*292 tensors.*16.06 GB" && ok || bad "paper-1b+llama-3.1-8b dry run: $out"
out=$(dry paper-1b+llama-3.2-1b)
echo "$out" | grep -q "p-lm.gguf.*147 tensors" && ok || bad "paper-1b+llama-3.2-1b dry run: $out"
[ ! -e "$T/p.gguf" ] && ok || bad "a dry run wrote a file"

# --- errors ----------------------------------------------------------------------------
expect_exit 2 --arch speech --preset paper-2b -o "$T/x.gguf"
expect_exit 2 --arch speech --preset tiny --format xyz -o "$T/x.gguf"
expect_exit 2 --arch speech --preset tiny --format hf -o "$T/x"
expect_exit 2 --arch speech --preset paper-1b --tokenizer "$TOK" -o "$T/x.gguf"
expect_exit 2 --arch speech --preset tiny --vocab 1000 -o "$T/x.gguf"
expect_exit 2 --arch speech --preset tiny --type q4_k -o "$T/x.gguf"
[ ! -e "$T/x.gguf" ] && [ ! -e "$T/x-lm.gguf" ] && ok || bad "a failed run left a file"

echo "speech random-model e2e: $pass passed, $fail failed"
[ "$fail" = 0 ]
