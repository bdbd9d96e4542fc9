#!/usr/bin/env bash
# tests/e2e/test_generate.sh — `herd generate` and `herd chat` end to end on a
# tiny random Llama 3 with the real tokenizer: streaming output, --ids,
# reproducible seeds, stop strings, chat turns, and one clear line + non-zero
# exit for every kind of bad input.
set -uo pipefail
HERD=${HERD:?path to the herd binary}
FIX=${HERD_FIXTURES:?fixtures directory}
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

TOK="$FIX/tokenizer/llama3_tokenizer.model"
M="$T/tiny.gguf"
# the model carries no vocabulary: --tokenizer gives the real Llama 3 one
"$HERD" random-model --arch llama --preset tiny --format gguf --type Q8_0 --seed 3 --no-tokenizer -o "$M" --quiet >/dev/null ||
  { echo "FAIL random-model"; exit 1; }
gen() { "$HERD" generate -m "$M" --tokenizer "$TOK" "$@"; }

# expect_error NAME EXIT NEEDLE -- command...: exit code, exactly one stderr line containing NEEDLE
expect_error() {
  local name=$1 code=$2 needle=$3
  shift 4
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$T/err")
  if [ "$rc" = "$code" ] && [ "$lines" = 1 ] && grep -qF -- "$needle" "$T/err"; then
    ok "$name: $(cat "$T/err")"
  else
    bad "$name: exit $rc (want $code), $lines stderr lines, want '$needle':"
    sed 's/^/    /' "$T/err"
  fi
}

# ---- it runs; greedy output is deterministic; --ids prints the ids -----------------
out1=$(gen -p "The capital of France is" -n 12 --temp 0 --ids --quiet) || bad "greedy run"
out2=$(gen -p "The capital of France is" -n 12 --temp 0 --ids --quiet)
[ "$out1" = "$out2" ] && ok "greedy output repeats" || bad "greedy output differs between runs"
n=$(printf '%s\n' "$out1" | tail -n 1 | wc -w)
[ "$n" -ge 1 ] && [ "$n" -le 12 ] && ok "--ids printed $n ids" || bad "--ids line has $n ids"

# sampling is reproducible from the seed
s1=$(gen -p "Once upon a time" -n 16 --temp 0.9 --seed 42 --ids --quiet)
s2=$(gen -p "Once upon a time" -n 16 --temp 0.9 --seed 42 --ids --quiet)
s3=$(gen -p "Once upon a time" -n 16 --temp 0.9 --seed 43 --ids --quiet)
[ "$s1" = "$s2" ] && ok "same seed, same sample" || bad "same seed gave different samples"
[ "$s1" != "$s3" ] && ok "different seed, different sample" || bad "seeds 42 and 43 gave the same 16 tokens"
gen -p "Once upon a time" -n 16 --temp 0.9 --seed 42 --top-k 5 --top-p 0.8 --min-p 0.1 \
  --repeat-penalty 1.3 --quiet >/dev/null && ok "all sampling flags accepted" || bad "sampling flags"

# --json: one object whose ids and text are what the streaming run printed
gen -p "The capital of France is" -n 12 --temp 0 --json --quiet >"$T/j.json"
printf '%s\n' "$out1" >"$T/stream.txt"
"$PY" - "$T/j.json" "$T/stream.txt" <<'EOF' && ok "--json matches the streamed run" || bad "--json"
import json, sys
d = json.load(open(sys.argv[1]))
lines = open(sys.argv[2], encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
ids = [int(x) for x in lines[-1].split()]
text = "\n".join(lines[:-1])
assert d["ids"] == ids, (d["ids"], ids)
assert d["text"] == text, (d["text"], text)
assert d["n_generated"] == len(ids) and d["stop"] in ("length", "stop token"), d
EOF

# timings go to stderr, not stdout
gen -p "Hi" -n 4 --temp 0 >"$T/o" 2>"$T/e"
grep -q "tok/s" "$T/e" && ! grep -q "tok/s" "$T/o" && ok "progress on stderr only" || bad "progress placement"

# a stop string cuts the text before it: take 3 bytes from the middle of the greedy text as the stop
"$PY" - "$HERD" "$M" "$TOK" <<'EOF' && ok "stop string cuts the output before it" || bad "stop string"
import subprocess, sys
herd, model, tok = sys.argv[1:4]
base = [herd, "generate", "-m", model, "--tokenizer", tok, "-p", "The capital of France is", "-n", "24", "--temp", "0", "--quiet"]
full = subprocess.run(base, capture_output=True, check=True).stdout.rstrip(b"\n")
stop = full[len(full) // 2:len(full) // 2 + 3]
if len(stop) < 3 or b"\0" in stop:
    sys.exit("greedy text too short for the test: %r" % full)
cut = subprocess.run(base + ["--stop", stop], capture_output=True, check=True).stdout.rstrip(b"\n")
want = full[:full.find(stop)].rstrip(b"\n")
if cut != want:
    sys.exit("stop %r: got %r, want %r" % (stop, cut, want))
EOF

# --chat / --system wrap the prompt in the chat format: the prompt count grows by the headers
plain=$(gen -p "Hi" -n 1 --temp 0 2>&1 >/dev/null | grep -o 'prompt [0-9]* tokens')
chat=$(gen -p "Hi" --system "Be brief." -n 1 --temp 0 2>&1 >/dev/null | grep -o 'prompt [0-9]* tokens')
# "Hi" = BOS + 1 token; chat = BOS + system header(4) + 3 + eot + user header(4) + 1 + eot + assistant header(4) = 19
[ "$plain" = "prompt 2 tokens" ] && [ "$chat" = "prompt 19 tokens" ] && ok "chat wrap: $plain -> $chat" ||
  bad "chat wrap: '$plain' / '$chat'"

# chat: two turns through one KV cache
printf 'Hello there\nAnd again\n' | "$HERD" chat -m "$M" --tokenizer "$TOK" --system "Be brief." -n 8 --temp 0 >"$T/chat" 2>"$T/chat.err"
[ $? = 0 ] && [ "$(grep -c 'tok/s' "$T/chat.err")" = 2 ] && ok "chat answered two turns" || { bad "chat"; cat "$T/chat.err"; }

# a GGUF with the vocabulary inside: no --tokenizer needed, same ids as with it
"$HERD" random-model --arch llama --preset tiny --format gguf --type Q8_0 --seed 3 --tokenizer "$TOK" -o "$T/withtok.gguf" --quiet >/dev/null
e1=$("$HERD" generate -m "$T/withtok.gguf" -p "The capital of France is" -n 12 --temp 0 --ids --quiet | tail -n 1)
[ -n "$e1" ] && [ "$e1" = "$(printf '%s\n' "$out1" | tail -n 1)" ] && ok "embedded vocabulary gives the same ids" ||
  bad "embedded vocabulary: '$e1' vs '$(printf '%s\n' "$out1" | tail -n 1)'"

# ---- bad input: one line, non-zero exit --------------------------------------------
expect_error "model without a vocabulary" 1 "--tokenizer" -- "$HERD" generate -m "$M" -p hi --quiet
expect_error "missing model" 1 "$T/nope.gguf" -- "$HERD" generate -m "$T/nope.gguf" -p hi
head -c 5000 "$M" >"$T/trunc.gguf"
expect_error "truncated model" 1 "trunc.gguf" -- "$HERD" generate -m "$T/trunc.gguf" -p hi
"$PY" - "$M" "$T/arch.gguf" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
key = b"general.architecture" + struct.pack("<IQ", 8, 5) + b"llama"
assert b.count(key) == 1
open(sys.argv[2], "wb").write(b.replace(key, key[:-5] + b"mamba"))
EOF
expect_error "unknown architecture" 1 "mamba" -- "$HERD" generate -m "$T/arch.gguf" -p hi
mkdir -p "$T/emptydir"
expect_error "folder without config.json" 1 "config.json" -- "$HERD" generate -m "$T/emptydir" -p hi
cp "$FIX/corrupt/empty.bin" "$T/empty.gguf"
expect_error "empty file" 1 "empty.gguf" -- "$HERD" generate -m "$T/empty.gguf" -p hi
long=$(printf 'word %.0s' $(seq 1 100))
expect_error "prompt longer than the context" 2 "does not fit the context" -- gen -c 16 -p "$long" --quiet
expect_error "token id outside the vocabulary" 2 "outside the vocabulary" -- gen --prompt-ids 1,999999 -n 1 --quiet
expect_error "bad flag value" 2 "--top-p" -- gen -p hi --top-p abc
expect_error "bad sampler value" 2 "top-p" -- gen -p hi --top-p 0
expect_error "no prompt" 2 "no prompt" -- gen
expect_error "chat without model" 2 "no model" -- "$HERD" chat

# Hugging Face folder: runs; then a broken config.json and missing weights
H="$T/hf"
"$HERD" random-model --arch llama --preset tiny --format hf --type BF16 --seed 3 -o "$H" --quiet >/dev/null
gen_hf=$("$HERD" generate -m "$H" --tokenizer "$TOK" -p "Hello" -n 4 --temp 0 --ids --quiet | tail -n 1 | wc -w)
[ "$gen_hf" = 4 ] && ok "HF folder generates" || bad "HF folder: $gen_hf ids"
# the same model in shards, given as the folder, its config.json or one shard: same ids
"$HERD" random-model --arch llama --preset tiny --format hf --type BF16 --seed 3 --max-shard-size 10000000 -o "$T/hfs" --quiet >/dev/null
want=$("$HERD" generate -m "$H" --prompt-ids 1,2,3 -n 6 --temp 0 --ids --quiet)
for p in "$T/hfs" "$T/hfs/config.json" "$T/hfs/model-00002-of-00002.safetensors"; do
  got=$("$HERD" generate -m "$p" --prompt-ids 1,2,3 -n 6 --temp 0 --ids --quiet)
  [ -n "$want" ] && [ "$got" = "$want" ] && ok "sharded HF as $(basename "$p")" || bad "sharded HF as $p: '$got' vs '$want'"
done
cp -r "$H" "$T/hf_cfg"
head -c 40 "$H/config.json" >"$T/hf_cfg/config.json"
expect_error "truncated config.json" 1 "config.json" -- "$HERD" generate -m "$T/hf_cfg" --prompt-ids 1 -n 1
cp -r "$H" "$T/hf_nost"
rm -f "$T/hf_nost"/*.safetensors "$T/hf_nost"/*.index.json
expect_error "folder without weights" 1 "hf_nost" -- "$HERD" generate -m "$T/hf_nost" --prompt-ids 1 -n 1
exit $fail
