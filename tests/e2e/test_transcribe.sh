#!/bin/bash
# tests/e2e/test_transcribe.sh — herd transcribe / herd translate end to end on
# a tiny random speech model (random weights: the words mean nothing, so this
# checks structure, timestamps, formats, streaming and errors; the token ids
# against a direct library computation are tests/unit/test_transcribe.c).
#
#   - srt and vtt parse with FFmpeg (demuxed packet by packet) and carry the
#     same cues and times as verbose_json; json/verbose_json are valid JSON
#     with ordered, non-overlapping segments inside the audio; txt has one
#     line per segment;
#   - raw PCM on stdin (s16 and f32, 16 kHz mono) gives byte-identical output
#     to the same samples read from the file; 44.1 kHz stereo is resampled;
#   - live: with stdin still open, every segment's text is out; Ctrl-C
#     then exits 130 with a complete, valid srt;
#   - a 60 s MP3 with --max-segment 4: segments at most 4 s, cut back to back;
#   - 10 minutes of stdin: the same peak memory as 2 minutes;
#   - translate --to fr; missing/corrupt/empty/non-audio inputs exit 1 with
#     one line; usage errors exit 2.
# Env: HERD (binary), HERD_FIXTURES.  Needs ffmpeg/ffprobe and python3.
set -u
HERD=${HERD:?set HERD to the herd binary}
FIX=${HERD_FIXTURES:?set HERD_FIXTURES}
PY=${PYTHON:-python3}
A=$FIX/audio
C=$FIX/corrupt
T=$(mktemp -d)
trap 'rm -rf "$T"; [ -n "${LIVE_PID:-}" ] && kill "$LIVE_PID" 2>/dev/null' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

for tool in ffmpeg ffprobe; do
  command -v $tool >/dev/null || { echo "FAIL: $tool not installed (apt-get install ffmpeg)"; exit 1; }
done

"$HERD" random-model --arch speech --preset tiny --tokenizer "$FIX/tokenizer/llama3_tokenizer.model" \
  -o "$T/sp.gguf" --quiet || { echo "FAIL: random-model --arch speech"; exit 1; }
M=$T/sp.gguf
TR=("$HERD" transcribe -m "$M" -t 1 -n 4 --quiet)

# ---- formats ---------------------------------------------------------------------------
"${TR[@]}" --format verbose_json -o "$T/jfk.json" "$A/jfk.mp3" || fail "verbose_json run"
"${TR[@]}" --format srt -o "$T/jfk.srt" "$A/jfk.mp3" || fail "srt run"
"${TR[@]}" --format vtt -o "$T/jfk.vtt" "$A/jfk.mp3" || fail "vtt run"
"${TR[@]}" --format json -o "$T/jfk.plain.json" "$A/jfk.mp3" || fail "json run"
"${TR[@]}" "$A/jfk.mp3" > "$T/jfk.txt" || fail "txt run"

# verbose_json: valid, ordered, non-overlapping, inside the 11.09 s of audio
$PY - "$T/jfk.json" "$T/jfk.plain.json" "$T/jfk.txt" <<'EOF' || fail "json structure"
import json, sys
v = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
segs = v["segments"]
assert v["task"] == "transcribe" and v["language"] == "English", v
assert len(segs) >= 1, "no segment with text"
prev = 0.0
for i, s in enumerate(segs):
    assert s["id"] == i and 0 <= s["start"] < s["end"] <= 11.2 and s["start"] >= prev, s
    assert s["text"] and s["text"] == s["text"].strip(), s
    prev = s["end"]
assert v["text"] == " ".join(s["text"] for s in segs)
assert abs(v["duration"] - segs[-1]["end"]) < 1e-9
assert [(s["start"], s["end"], s["text"]) for s in p["segments"]] == [(s["start"], s["end"], s["text"]) for s in segs]
lines = open(sys.argv[3]).read().splitlines()
assert lines == [s["text"] for s in segs], (lines, segs)
print("  %d segments:" % len(segs), ", ".join("%.2f-%.2f" % (s["start"], s["end"]) for s in segs))
EOF
[ $fails -eq 0 ] && ok "json, verbose_json, txt agree"

# srt / vtt: FFmpeg demuxes every cue; times equal the JSON's
for f in srt vtt; do
  if ! ffmpeg -v error -i "$T/jfk.$f" -c:s copy -f null - 2> "$T/ff.err"; then
    fail "ffmpeg cannot parse the $f: $(head -c 300 "$T/ff.err")"
    continue
  fi
  ffprobe -v error -select_streams s -show_entries packet=pts_time,duration_time -of csv=p=0 "$T/jfk.$f" \
    > "$T/$f.cues" || fail "ffprobe $f"
  $PY - "$T/jfk.json" "$T/$f.cues" <<'EOF' || fail "$f cues differ from the JSON"
import json, sys
segs = json.load(open(sys.argv[1]))["segments"]
cues = [tuple(float(x) for x in l.split(",")) for l in open(sys.argv[2]) if l.strip()]
assert len(cues) == len(segs), (cues, segs)
for (pts, dur), s in zip(cues, segs):
    assert abs(pts - s["start"]) < 1e-6 and abs(pts + dur - s["end"]) < 1e-6, (pts, dur, s)
EOF
  ok "$f parses with ffmpeg, cues match"
done

# ---- --ids / --json ------------------------------------------------------------------------
"${TR[@]}" --ids "$A/jfk.mp3" > "$T/ids.txt" || fail "--ids run"
$PY - "$T/ids.txt" "$T/jfk.txt" <<'EOF' && ok "--ids: a line of ids after each segment" || fail "--ids output"
import sys
l = open(sys.argv[1]).read().splitlines(); t = open(sys.argv[2]).read().splitlines()
assert l[0::2] == t, (l, t)
for ids in l[1::2]:
    assert all(0 <= int(x) < 128256 for x in ids.split()) and 1 <= len(ids.split()) <= 4, ids
EOF

# ---- raw PCM on stdin -----------------------------------------------------------------------
ffmpeg -v error -i "$A/jfk.wav" -f s16le -ac 1 -ar 16000 "$T/jfk.s16" || fail "ffmpeg s16"
ffmpeg -v error -i "$A/jfk.wav" -f f32le -ac 1 -ar 16000 "$T/jfk.f32" || fail "ffmpeg f32"
"${TR[@]}" --json "$A/jfk.wav" > "$T/file.json" || fail "file run"
"${TR[@]}" --json - < "$T/jfk.s16" > "$T/s16.json" || fail "stdin s16 run"
"${TR[@]}" --json --sample-format f32 - < "$T/jfk.f32" > "$T/f32.json" || fail "stdin f32 run"
cmp -s "$T/file.json" "$T/s16.json" && cmp -s "$T/file.json" "$T/f32.json" \
  && ok "stdin s16/f32 = file, byte for byte" || fail "stdin output differs from the file's"
ffmpeg -v error -i "$A/jfk.wav" -f s16le -ac 2 -ar 44100 - \
  | "${TR[@]}" --json --rate 44100 --channels 2 - > "$T/st.json" || fail "stdin 44.1 kHz stereo run"
$PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["segments"]; assert s and s[-1]["end"] <= 11.2, s' "$T/st.json" \
  && ok "44.1 kHz stereo on stdin" || fail "44.1 kHz stereo output"

# ---- live: every segment is out while stdin is still open -------------------------------------
ffmpeg -v error -i "$A/jfk.wav" -af apad=pad_dur=2 -f s16le -ac 1 -ar 16000 "$T/live.s16" || fail "ffmpeg pad"
ffmpeg -v error -f s16le -ar 16000 -ac 1 -i "$T/live.s16" "$T/live.wav" || fail "ffmpeg live.wav"
"${TR[@]}" "$T/live.wav" > "$T/live.want" || fail "live reference run"
want=$(wc -l < "$T/live.want")
mkfifo "$T/fifo"
"${TR[@]}" - < "$T/fifo" > "$T/live.txt" &
LIVE_PID=$!
exec 3> "$T/fifo"
cat "$T/live.s16" >&3
got=0
for _ in $(seq 600); do
  got=$(wc -l < "$T/live.txt")
  [ "$got" -ge "$want" ] && break
  sleep 0.1
done
exec 3>&-
wait $LIVE_PID || fail "live run exit code"
LIVE_PID=
if [ "$want" -ge 1 ] && [ "$got" -ge "$want" ] && cmp -s "$T/live.txt" "$T/live.want"; then
  ok "live: all $want segment line(s) printed before stdin closed"
else
  fail "live: $got of $want lines before stdin closed"
fi

# Ctrl-C on a live run: exit 130, the subtitle file is complete and valid
"${TR[@]}" --format srt -o "$T/int.srt" - < "$T/fifo" &
LIVE_PID=$!
exec 3> "$T/fifo"
cat "$T/live.s16" >&3
for _ in $(seq 600); do
  [ "$(grep -c -- '-->' "$T/int.srt" 2>/dev/null)" -ge "$want" ] && break
  sleep 0.1
done
kill -INT $LIVE_PID
wait $LIVE_PID
rc=$?
LIVE_PID=
exec 3>&-
if [ $rc -eq 130 ] && [ "$(grep -c -- '-->' "$T/int.srt")" -eq "$want" ] \
   && ffmpeg -v error -i "$T/int.srt" -c:s copy -f null - 2>/dev/null; then
  ok "interrupted live run: exit 130, $want cue(s) in a valid srt"
else
  fail "interrupted live run: exit $rc, $(grep -c -- '-->' "$T/int.srt") cue(s) of $want"
fi

# ---- long audio: 60 s MP3, continuous reading cut at 4 s ---------------------------------------------
"${TR[@]}" -n 2 --json --max-segment 4 --min-silence 1.5 "$A/mit_license_en_de.mp3" > "$T/long.json" || fail "long run"
$PY - "$T/long.json" <<'EOF' && ok "60 s file: segments <= 4 s, cut back to back" || fail "long file segments"
import json, sys
s = json.load(open(sys.argv[1]))["segments"]
assert len(s) >= 10, len(s)
for a, b in zip(s, s[1:]):
    assert a["end"] <= b["start"], (a, b)
assert all(0 < x["end"] - x["start"] <= 4.0 + 1e-9 for x in s), s
cuts = sum(a["end"] == b["start"] for a, b in zip(s, s[1:]))
assert cuts >= 5, cuts   # speech ran on: cut at a quiet point, nothing lost between
assert s[-1]["end"] <= 60.0
EOF

# the same with 1 s of overlap between cut windows: cues still in order, never overlapping
"${TR[@]}" -n 2 --json --max-segment 4 --min-silence 1.5 --overlap 1 "$A/mit_license_en_de.mp3" > "$T/ov.json" \
  || fail "overlap run"
$PY - "$T/ov.json" <<'EOF' && ok "--overlap 1: cues in order, not overlapping" || fail "overlap segments"
import json, sys
s = json.load(open(sys.argv[1]))["segments"]
assert len(s) >= 5, len(s)
for a, b in zip(s, s[1:]):
    assert a["end"] <= b["start"] + 1e-9, (a, b)
assert all(0 <= x["end"] - x["start"] <= 4.0 + 1e-9 for x in s), s
EOF

# ---- hours in bounded memory: 2 and 10 minutes of speech through stdin, same peak RSS -------------------
ffmpeg -v error -i "$A/jfk.wav" -af apad=pad_dur=1.5 -f s16le -ac 1 -ar 16000 "$T/unit.s16" || fail "ffmpeg unit"
: > "$T/m2.s16"
for _ in $(seq 10); do cat "$T/unit.s16" >> "$T/m2.s16"; done
: > "$T/m10.s16"
for _ in $(seq 5); do cat "$T/m2.s16" >> "$T/m10.s16"; done
rss() {   # peak RSS in KB of herd transcribe - < FILE, and the lines it printed
  $PY - "$1" "$M" "$HERD" <<'EOF'
import resource, subprocess, sys
pcm, model, herd = sys.argv[1:4]
out = subprocess.run([herd, "transcribe", "-m", model, "-t", "1", "-n", "2", "--quiet", "-"], stdin=open(pcm, "rb"),
                     stdout=subprocess.PIPE, check=True).stdout
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, len(out.splitlines()))
EOF
}
read -r r2 l2 < <(rss "$T/m2.s16")
read -r r10 l10 < <(rss "$T/m10.s16")
if ldd "$HERD" 2>/dev/null | grep -q libasan; then
  # AddressSanitizer's quarantine keeps freed memory: peak RSS says nothing there (leaks are checked at exit)
  [ "$l10" -gt $((4 * l2)) ] && ok "2 and 10 min through stdin ($l2 and $l10 lines; RSS not judged under ASan)" ||
    fail "10 min gave $l10 lines, 2 min $l2"
elif [ -n "$r2" ] && [ -n "$r10" ] && [ "$l10" -gt $((4 * l2)) ] && [ $((r10 - r2)) -lt 8192 ]; then
  ok "2 min: $r2 KB peak, 10 min: $r10 KB peak ($l2 and $l10 lines)"
else
  fail "memory grows with the stream: 2 min ${r2:-?} KB ($l2 lines), 10 min ${r10:-?} KB ($l10 lines)"
fi

# ---- translate --------------------------------------------------------------------------------------
"$HERD" translate -m "$M" -t 1 -n 4 --quiet --to fr --json "$A/speech_de.wav" > "$T/tr.json" || fail "translate run"
$PY -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["task"]=="translate" and v["segments"], v' "$T/tr.json" \
  && ok "translate --to fr" || fail "translate output"

# ---- errors: one line, exit 1 (input) or 2 (usage) -----------------------------------------------------
expect() {   # expect CODE PATTERN ARGS...
  local code=$1 pat=$2
  shift 2
  "$@" > /dev/null 2> "$T/err"
  local rc=$? lines
  lines=$(wc -l < "$T/err")
  if [ $rc -ne "$code" ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pat" "$T/err"; then
    fail "'${*:2}': exit $rc (want $code), $lines line(s): $(head -c 300 "$T/err")"
  fi
}
Q=(--quiet)
expect 1 "No such file" "$HERD" transcribe -m "$M" "${Q[@]}" "$T/missing.wav"
expect 1 "empty file" "$HERD" transcribe -m "$M" "${Q[@]}" "$C/empty.wav"
expect 1 "no audio samples" "$HERD" transcribe -m "$M" "${Q[@]}" "$C/pocketsphinx_null_header_only.wav"
expect 1 "not a recognised media file" "$HERD" transcribe -m "$M" "${Q[@]}" "$C/random_bytes.wav"
expect 1 "runs past the end" "$HERD" transcribe -m "$M" "${Q[@]}" "$C/pocketsphinx_bad.wav"
expect 1 "no audio stream" "$HERD" transcribe -m "$M" "${Q[@]}" "$FIX/images/$(ls "$FIX/images" | grep -m1 '\.png$')"
expect 1 "no audio samples" sh -c "'$HERD' transcribe -m '$M' --quiet - < /dev/null"
expect 1 "missing.gguf" "$HERD" transcribe -m "$T/missing.gguf" "${Q[@]}" "$A/jfk.wav"
expect 2 "no model" "$HERD" transcribe "${Q[@]}" "$A/jfk.wav"
expect 2 "no input" "$HERD" transcribe -m "$M" "${Q[@]}"
expect 2 "format" "$HERD" transcribe -m "$M" --format docx "${Q[@]}" "$A/jfk.wav"
expect 2 "--to" "$HERD" transcribe -m "$M" --to fr "${Q[@]}" "$A/jfk.wav"
expect 2 "raw PCM" "$HERD" transcribe -m "$M" --rate 8000 "${Q[@]}" "$A/jfk.wav"
expect 2 "klingon" "$HERD" transcribe -m "$M" --language klingon "${Q[@]}" "$A/jfk.wav"
expect 2 "--ids" "$HERD" transcribe -m "$M" --ids --format srt "${Q[@]}" "$A/jfk.wav"
expect 2 "max-segment" "$HERD" translate -m "$M" --max-segment 0.1 "${Q[@]}" "$A/jfk.wav"
[ $fails -eq 0 ] && ok "error exits and messages"

if [ $fails -ne 0 ]; then
  echo "test_transcribe: $fails failure(s)"
  exit 1
fi
echo "test_transcribe: all passed"
