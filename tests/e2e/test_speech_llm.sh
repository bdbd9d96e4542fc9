#!/bin/bash
# tests/e2e/test_speech_llm.sh — herd transcribe / translate / serve on the
# published speech-LLM layouts (Granite Speech 3.3, Ultravox v0.5: tiny
# random weights from `herd random-model`, HF folders and their `herd
# convert` GGUF files).  Random weights make the words meaningless, so the
# runs sample (--temp 1 --seed N: non-blank text, reproducible) and this
# checks structure: every output format, long audio (a 60 s MP3 → segments of
# at most --max-segment, inside the audio, in order), the server's audio
# routes giving what the command gives, one-line errors.  The token ids
# against the library path are tests/unit/test_audio_lm.c; the numbers
# against PyTorch are tests/parity/test_{granite_speech,ultravox}.sh.
# Env: HERD, HERD_FIXTURES.  Needs ffmpeg, curl, python3.
set -u
HERD=${HERD:?set HERD to the herd binary}
FIX=${HERD_FIXTURES:?set HERD_FIXTURES}
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

LONG=$FIX/audio/mit_license_en_de.mp3   # 59.95 s, English then German
SHORT=$FIX/audio/jfk.mp3

"$HERD" random-model --arch granite-speech --preset tiny --format hf -o "$T/granite" --quiet ||
  { echo "FAIL: random-model --arch granite-speech"; exit 1; }
"$HERD" random-model --arch ultravox --preset tiny --format hf --tokenizer "$FIX/tokenizer/tokenizer.json" \
  -o "$T/ultravox" --quiet || { echo "FAIL: random-model --arch ultravox"; exit 1; }

for fam in granite ultravox; do
  M=$T/$fam
  R=("$HERD" transcribe -m "$M" -t 2 -n 8 --temp 1 --seed 7 --quiet)
  echo "== $fam: formats on $(basename "$LONG") (--max-segment 10)"
  for f in txt srt vtt json verbose_json; do
    "${R[@]}" --max-segment 10 --format "$f" -o "$T/$fam.$f" "$LONG" || bad "$fam --format $f exited $?"
  done
  $PY - "$T/$fam.verbose_json" "$T/$fam.json" "$T/$fam.txt" <<'PY' && ok "$fam: verbose_json/json/txt agree, segments <= 10 s inside 60 s, in order" || bad "$fam: json structure"
import json, sys
v = json.load(open(sys.argv[1])); j = json.load(open(sys.argv[2]))
segs = v["segments"]
assert len(segs) >= 4, "a minute of speech in <= 10 s pieces gives at least 6 segments, got %d" % len(segs)
prev = 0.0
for s in segs:
    assert prev <= s["start"] < s["end"] <= 60.0 and s["end"] - s["start"] <= 10.0 + 1e-6, s
    assert s["text"].strip(), s
    prev = s["end"]
assert [s["text"] for s in j["segments"]] == [s["text"] for s in segs]
txt = open(sys.argv[3]).read()
assert txt == "".join(s["text"] + "\n" for s in segs), "txt is not the segments' texts, a line (or more) each"
PY
  for f in srt vtt; do
    n=$(ffprobe -v error -show_packets -of csv=p=0 "$T/$fam.$f" 2>/dev/null | wc -l)
    want=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["segments"]))' "$T/$fam.verbose_json")
    [ "$n" = "$want" ] && ok "$fam: $f parses with ffprobe, $n cues" || bad "$fam: $f has $n cues for ffprobe, json $want"
  done
  echo "== $fam: translate --to de, stdin PCM"
  "$HERD" translate -m "$M" -t 2 -n 8 --temp 1 --seed 7 --quiet --to de --json "$SHORT" > "$T/$fam.tr.json" &&
    $PY -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["task"]=="translate" and v["segments"]' "$T/$fam.tr.json" &&
    ok "$fam: translate --to de" || bad "$fam: translate: $(head -c 300 "$T/$fam.tr.json")"
  # jfk.wav is 16 kHz mono s16: its raw samples on stdin are the file's exactly
  WAV=$FIX/audio/jfk.wav
  ffmpeg -v error -i "$WAV" -f s16le -ar 16000 -ac 1 - | "${R[@]}" --format srt - > "$T/$fam.stdin.srt" &&
    "${R[@]}" --format srt "$WAV" > "$T/$fam.wav.srt" && [ -s "$T/$fam.wav.srt" ] &&
    cmp -s "$T/$fam.stdin.srt" "$T/$fam.wav.srt" &&
    ok "$fam: raw PCM on stdin = the file" || bad "$fam: stdin differs from the file"
  "${R[@]}" --format srt "$SHORT" > "$T/$fam.file.srt"

  echo "== $fam: herd convert, the GGUF transcribes the same"
  "$HERD" convert "$M" "$T/$fam.gguf" --type F32 --quiet || bad "$fam: convert"
  "${R[@]/#$M/$T/$fam.gguf}" --format srt -o "$T/$fam.gguf.srt" "$SHORT" && cmp -s "$T/$fam.gguf.srt" "$T/$fam.file.srt" &&
    ok "$fam: -m $fam.gguf = the folder" || bad "$fam: the converted files transcribe differently"

  echo "== $fam: herd serve's audio routes"
  "$HERD" serve -m "$M" --port 0 -t 1 --temp 1 --seed 7 2>"$T/$fam.serve.log" &
  pid=$!
  pids+=("$pid")
  PORT=
  for _ in $(seq 200); do
    PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$T/$fam.serve.log")
    [ -n "$PORT" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$PORT" ]; then
    bad "$fam: serve did not start: $(tail -3 "$T/$fam.serve.log")"
  else
    URL="http://127.0.0.1:$PORT"
    "$HERD" transcribe -m "$M" -t 1 --temp 1 --seed 7 --quiet --format srt "$SHORT" > "$T/$fam.want.srt"
    curl -s "$URL/v1/audio/transcriptions" -F file=@"$SHORT" -F response_format=srt -F temperature=1 > "$T/$fam.got.srt"
    cmp -s "$T/$fam.want.srt" "$T/$fam.got.srt" && [ -s "$T/$fam.got.srt" ] &&
      ok "$fam: /v1/audio/transcriptions srt = herd transcribe" ||
      bad "$fam: server srt differs: $(diff "$T/$fam.want.srt" "$T/$fam.got.srt" | head -4)"
    curl -s "$URL/v1/audio/translations" -F file=@"$SHORT" -F response_format=verbose_json -F temperature=1 > "$T/$fam.got.tr" &&
      $PY -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["task"]=="translate"' "$T/$fam.got.tr" &&
      ok "$fam: /v1/audio/translations" || bad "$fam: translations: $(head -c 300 "$T/$fam.got.tr")"
    c=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
      -d '{"messages":[{"role":"user","content":"hi"}]}' "$URL/v1/chat/completions")
    [ "$c" = 400 ] && grep -q "audio/transcriptions" "$T/body" && ok "$fam: chat completions answered 400 naming the audio routes" ||
      bad "$fam: chat on a speech-LLM checkpoint: $c $(head -c 200 "$T/body")"
    kill "$pid" 2>/dev/null
  fi
done

echo "== errors"
out=$("$HERD" transcribe -m "$T/granite" --lm "$T/ultravox" --quiet "$SHORT" 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && ok "--lm with the wrong model: exit 1: $out" || bad "--lm wrong model: rc $rc: $out"
out=$("$HERD" transcribe -m "$FIX/tokenizer/tokenizer.json" --lm "$T/ultravox" --quiet "$SHORT" 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && ok "--lm for a non-speech-LLM model: usage error: $out" || bad "rc $rc: $out"
mkdir -p "$T/broken" && cp "$T/granite/config.json" "$T/broken/" &&
  out=$("$HERD" transcribe -m "$T/broken" --quiet "$SHORT" 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q broken &&
  ok "a Granite folder without weights: $out" || bad "broken folder: rc $rc: $out"
cp "$FIX/corrupt/pocketsphinx_bad.wav" "$T/t.wav"
out=$("$HERD" transcribe -m "$T/ultravox" --quiet "$T/t.wav" 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && ok "a corrupt input: exit 1: $out" || bad "corrupt input: rc $rc: $out"

[ $fails = 0 ] && echo "test_speech_llm: all passed" || { echo "test_speech_llm: $fails failed"; exit 1; }
