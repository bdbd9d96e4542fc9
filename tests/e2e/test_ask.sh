#!/usr/bin/env bash
# tests/e2e/test_ask.sh — `herd ask`, `herd chat /image` and the model nodes
# of `herd run` end to end on tiny random models with the real tokenizer:
# the three ways to ask (ask, run, chat) give the same greedy answer, --ids
# and --json agree, the speech pipeline writes timed subtitles, and every bad
# input is one clear stderr line with a non-zero exit.
# (Token-level equality with a hand-written library path: tests/unit/test_ask.c.)
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
IMG="$FIX/images/rgba_three_dice.png"
IMG2="$FIX/images/exif_orientation6_waterfall.jpg"
MM="$T/mm.gguf"
TL="$T/text.gguf"
SP="$T/speech.gguf"
"$HERD" random-model --arch mllama --preset tiny --tokenizer "$TOK" -o "$MM" --quiet >/dev/null || { echo "FAIL random-model mllama"; exit 1; }
"$HERD" random-model --arch llama --preset tiny --tokenizer "$TOK" -o "$TL" --quiet >/dev/null || { echo "FAIL random-model llama"; exit 1; }
"$HERD" random-model --arch speech --preset tiny --tokenizer "$TOK" -o "$SP" --quiet >/dev/null || { echo "FAIL random-model speech"; exit 1; }

# expect_error NAME EXIT NEEDLE -- command...: exit code, one stderr line containing NEEDLE
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

Q="What is in this picture?"

# ---- herd ask: streams text, --ids, --json, progress on stderr ----------------------------
"$HERD" ask -m "$MM" -i "$IMG" --temp 0 -n 12 --ids "$Q" >"$T/ask.out" 2>"$T/ask.err" || bad "ask runs"
[ "$(wc -l <"$T/ask.out")" = 2 ] && ok "ask: answer line + ids line" || bad "ask output: $(cat "$T/ask.out")"
grep -q "picture 1: 200x150" "$T/ask.err" && grep -q "answer 1: prompt" "$T/ask.err" &&
  ok "ask: encoding and generation progress on stderr" || bad "ask progress: $(cat "$T/ask.err")"
"$HERD" ask -m "$MM" -i "$IMG" --temp 0 -n 12 --json --quiet "$Q" >"$T/ask.json" 2>"$T/ask.jerr" || bad "ask --json runs"
[ -s "$T/ask.jerr" ] && bad "--json --quiet wrote to stderr: $(cat "$T/ask.jerr")"
"$PY" - "$T/ask.out" "$T/ask.json" <<'EOF' && ok "ask: --json text/ids equal the streamed text and --ids" || bad "ask --json vs stream"
import json, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")
j = json.load(open(sys.argv[2]))
ids = [int(x) for x in lines[1].split()]
assert j["ids"] == ids, (j["ids"], ids)
assert j["text"] == lines[0], (j["text"], lines[0])
assert j["n_images"] == 1 and j["n_generated"] == len(ids) == 12
EOF
answer=$(head -1 "$T/ask.out")

# ---- the same graph written by hand in herd run ----------------------------------------------
run_out=$("$HERD" run "image:$IMG ! vit model=$MM ! llama model=$MM task=ask prompt='$Q' n=12 temp=0 ! stdout" 2>"$T/run.err")
[ "$run_out" = "$answer" ] && ok "herd run image ! vit ! llama gives the ask answer" || bad "run: '$run_out' vs ask '$answer' ($(cat "$T/run.err"))"

# ---- the question from a text input instead of prompt= ---------------------------------------------
run_text=$("$HERD" run "image:$IMG ! vit model=$MM ! a.embed  text:'$Q' ! a.text  llama name=a model=$MM n=12 temp=0 ! stdout" 2>&1)
[ "$run_text" = "$answer" ] && ok "question from a text node gives the ask answer" || bad "text input: '$run_text'"
# task=generate is plain completion, as herd generate
gen_node=$("$HERD" run "text:'The capital of France is' ! llama model=$TL task=generate n=8 temp=0 ! stdout" 2>&1)
gen_cmd=$("$HERD" generate -m "$TL" -p "The capital of France is" -n 8 --temp 0 --quiet)
[ "$gen_node" = "$gen_cmd" ] && ok "llama task=generate equals herd generate" || bad "generate: '$gen_node' vs '$gen_cmd'"

# ---- herd chat /image: the first reply is the ask answer -------------------------------------
chat_out=$(printf '/image %s\n%s\n' "$IMG" "$Q" | "$HERD" chat -m "$MM" --temp 0 -n 12 --quiet)
[ "$chat_out" = "$answer" ] && ok "chat /image + question gives the ask answer" || bad "chat: '$chat_out' vs '$answer'"
chat2=$(printf '%s\n/image %s\nand this one?\n' "$Q" "$IMG2" | "$HERD" chat -m "$MM" --temp 0 -n 6 2>"$T/chat.err")
[ "$(printf '%s\n' "$chat2" | wc -l)" = 2 ] && grep -q "attached to your next message" "$T/chat.err" &&
  ok "chat: an image in a later turn" || bad "chat later image: $chat2 / $(cat "$T/chat.err")"

# ---- the same model as a Hugging Face folder (same seed): the same answer ---------------------------
"$HERD" random-model --arch mllama --preset tiny --format hf --tokenizer "$FIX/tokenizer/tokenizer.json" -o "$T/mmhf" --quiet >/dev/null &&
  hf=$("$HERD" ask -m "$T/mmhf" -i "$IMG" --temp 0 -n 12 --ids --quiet "$Q") &&
  [ "$hf" = "$(cat "$T/ask.out")" ] && ok "HF folder (tokenizer.json names) answers as the GGUF" || bad "HF folder: $hf"

# ---- --vision: the tower from its own file (same seed, so the same weights) ----------------------------
"$HERD" random-model --arch mllama-vision --preset tiny -o "$T/vision.gguf" --quiet >/dev/null &&
  vis=$("$HERD" ask -m "$MM" --vision "$T/vision.gguf" -i "$IMG" --temp 0 -n 12 --ids --quiet "$Q") &&
  [ "$vis" = "$(cat "$T/ask.out")" ] && ok "--vision FILE: the same tower gives the same answer" || bad "--vision: $vis"
expect_error "missing --vision file" 1 "no-vision.gguf" -- "$HERD" ask -m "$MM" --vision "$T/no-vision.gguf" -i "$IMG" "$Q"

# ---- several images, text-only models and questions ------------------------------------------
two=$("$HERD" ask -m "$MM" -i "$IMG" -i "$IMG2" --temp 0 -n 6 --json --quiet "Compare them") &&
  echo "$two" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j["n_images"]==2 and j["n_generated"]==6' &&
  ok "ask with two images" || bad "two images: $two"
plain=$("$HERD" ask -m "$TL" --temp 0 -n 5 --json --quiet "Hello there") &&
  echo "$plain" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j["n_images"]==0 and j["n_generated"]==5' &&
  ok "ask without images on a text-only model" || bad "plain question: $plain"

# ---- --speak: the answer also goes through the tts node into a WAV file ----------------------------
"$HERD" ask -m "$TL" --temp 0 -n 12 --quiet --speak "$T/answer.wav" "Say something" >"$T/speak.out" 2>"$T/speak.err" &&
  "$PY" - "$T/answer.wav" <<'EOF' && ok "ask --speak writes the spoken answer" || bad "--speak: $(cat "$T/speak.err")"
import sys, wave
w = wave.open(sys.argv[1])
assert w.getnchannels() == 1 and w.getnframes() > w.getframerate() // 2, (w.getnchannels(), w.getnframes())
EOF

# ---- errors: one line, exit code ----------------------------------------------------------------
expect_error "missing image" 1 "nope.jpg: No such file" -- "$HERD" ask -m "$MM" -i "$T/nope.jpg" "$Q"
expect_error "truncated image" 1 "pillow_truncated_image.png: bad PNG" -- "$HERD" ask -m "$MM" -i "$FIX/corrupt/pillow_truncated_image.png" "$Q"
expect_error "empty image" 1 "empty.jpg: empty file" -- "$HERD" ask -m "$MM" -i "$FIX/corrupt/empty.jpg" "$Q"
expect_error "image for a text-only model" 1 "has no cross-attention layers" -- "$HERD" ask -m "$TL" -i "$IMG" "$Q"
expect_error "missing model" 1 "absent.gguf" -- "$HERD" ask -m "$T/absent.gguf" -i "$IMG" "$Q"
expect_error "no model" 2 "no model (-m MODEL)" -- "$HERD" ask -i "$IMG" "$Q"
expect_error "no question, no image" 2 "no question and no image" -- "$HERD" ask -m "$MM"
expect_error "bad --top-k" 2 "--top-k" -- "$HERD" ask -m "$MM" --top-k x "$Q"
expect_error "too many images" 2 "at most 8 images" -- "$HERD" ask -m "$MM" -i a -i b -i c -i d -i e -i f -i g -i h -i i "$Q"

# ---- the speech path: file ! resample ! mel ! conformer ! speech-adapter ! llama ! srt --------------
"$HERD" run "file:$FIX/audio/jfk.wav ! resample rate=16000 ! mel ! conformer model=$SP segment=4 ! speech-adapter model=$SP ! llama model=$SP task=transcribe n=6 ! srt:$T/jfk.srt" \
  2>"$T/srt.err" || bad "transcribe pipeline: $(cat "$T/srt.err")"
"$PY" - "$T/jfk.srt" <<'EOF' && ok "transcribe pipeline: srt cues at the 4 s segments" || bad "srt: $(cat "$T/jfk.srt")"
import re, sys
cues = open(sys.argv[1], encoding="utf-8").read().strip().split("\n\n")
times = [re.match(r"\d+\n(\S+) --> (\S+)\n.+", c, re.S).groups() for c in cues]
want = [("00:00:00,000", "00:00:04,000"), ("00:00:04,000", "00:00:08,000"), ("00:00:08,000", "00:00:10,980")]
assert times == want, times
EOF
tr=$("$HERD" run "file:$FIX/audio/jfk.wav ! resample rate=16000 ! mel ! conformer model=$SP ! speech-adapter model=$SP ! llama model=$SP task=translate to=de n=4 ! stdout" 2>"$T/tr.err") &&
  [ "$(printf '%s\n' "$tr" | wc -l)" = 1 ] && ok "translate pipeline: one answer for the one 11 s segment" || bad "translate: $tr $(cat "$T/tr.err")"
expect_error "unknown language" 2 "klingon" -- "$HERD" run "file:$FIX/audio/jfk.wav ! resample rate=16000 ! mel ! conformer model=$SP ! speech-adapter model=$SP ! llama model=$SP task=transcribe language=klingon ! stdout"
expect_error "speech rows to task=ask" 2 "task=ask takes image states" -- "$HERD" run "file:$FIX/audio/jfk.wav ! resample rate=16000 ! mel ! conformer model=$SP ! speech-adapter model=$SP ! llama model=$MM task=ask prompt=x ! stdout"

exit $fail
