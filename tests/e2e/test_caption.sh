#!/usr/bin/env bash
# tests/e2e/test_caption.sh — `herd caption` end to end on a tiny random
# Llama 3.2 Vision model with the real tokenizer (image mode: frames as images
# with their times in the prompt): containers and codecs (mp4/H.264 with the
# moov at the end, webm/VP8, mkv/VP9, avi/MJPEG, mov/MPEG-4), rotation, the
# same greedy answer as `herd run` with the same graph, --question, --segments
# with srt/vtt/txt/json (the SRT and VTT demuxed by ffmpeg, cue times = JSON
# times), --fps, --ids/--json, --with-audio, and one clear stderr line with a
# non-zero exit for every bad input.
# (Token-level equality with a hand-written library path: tests/unit/test_caption.c.)
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
V="$FIX/video/chaplin.mp4"
MM="$T/mm.gguf"
TL="$T/text.gguf"
SP="$T/speech.gguf"
"$HERD" random-model --arch mllama --preset tiny --tokenizer "$TOK" -o "$MM" --quiet >/dev/null || { echo "FAIL random-model mllama"; exit 1; }
"$HERD" random-model --arch llama --preset tiny --tokenizer "$TOK" -o "$TL" --quiet >/dev/null || { echo "FAIL random-model llama"; exit 1; }
"$HERD" random-model --arch speech --preset tiny --tokenizer "$TOK" -o "$SP" --quiet >/dev/null || { echo "FAIL random-model speech"; exit 1; }
C=("$HERD" caption -m "$MM" --temp 0 -n 8 -t 2)

expect_error() {   # NAME EXIT NEEDLE -- command...
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

# ---- one caption: streamed text, ids, the mode on stderr ------------------------------------------
"${C[@]}" --ids "$V" >"$T/cap.out" 2>"$T/cap.err" || bad "caption runs: $(cat "$T/cap.err")"
[ "$(wc -l <"$T/cap.out")" = 2 ] && ok "caption: text line + ids line" || bad "caption output: $(cat "$T/cap.out")"
grep -q "image mode" "$T/cap.err" && grep -q "8 frames per caption" "$T/cap.err" && grep -q "picture 8: 640x360" "$T/cap.err" &&
  ok "caption: says it used image mode with 8 frames" || bad "caption stderr: $(cat "$T/cap.err")"
answer=$(head -1 "$T/cap.out")

# the same graph by hand in herd run
Q="Describe what happens in this video."
run_out=$("$HERD" run "video:$V frames=8 ! vit model=$MM ! llama model=$MM task=ask group=8 frame-times=true prompt='$Q' n=8 temp=0 ! stdout" 2>"$T/run.err")
[ "$run_out" = "$answer" ] && ok "herd run video ! vit ! llama group=8 gives the caption" || bad "run: '$run_out' vs '$answer' ($(cat "$T/run.err"))"

# --json agrees with the stream
"${C[@]}" --json --quiet "$V" >"$T/cap.json" 2>"$T/cap.jerr" || bad "caption --json runs"
[ -s "$T/cap.jerr" ] && bad "--json --quiet wrote to stderr: $(cat "$T/cap.jerr")"
"$PY" - "$T/cap.out" "$T/cap.json" <<'EOF' && ok "caption: --json text/ids equal the stream, 8 frame times over 9.64 s" || bad "caption --json"
import json, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")
j = json.load(open(sys.argv[2]))
assert j["mode"] == "image"
assert len(j["segments"]) == 1
s = j["segments"][0]
assert s["text"] == lines[0], (s["text"], lines[0])
assert s["ids"] == [int(x) for x in lines[1].split()]
f = j["frames"]
assert len(f) == 8 and all(a < b for a, b in zip(f, f[1:]))
for k, t in enumerate(f):   # centres of 8 equal slices (±1 frame at 25 fps)
    assert abs(t - 9.64 * (k + 0.5) / 8) <= 0.041, (k, t)
EOF

# --question replaces the default question in the prompt (after the frame times)
"${C[@]}" --question "Who walks in from the right of the stone gate pillar?" "$V" >"$T/q.out" 2>"$T/q.err" || bad "--question runs"
p_default=$(sed -n 's/.*answer 1: prompt \([0-9]*\) tokens.*/\1/p' "$T/cap.err")
p_q=$(sed -n 's/.*answer 1: prompt \([0-9]*\) tokens.*/\1/p' "$T/q.err")
[ -n "$p_default" ] && [ -n "$p_q" ] && [ $((p_q - p_default)) = 5 ] && [ -s "$T/q.out" ] &&
  ok "--question: the prompt holds the question ($p_default -> $p_q tokens)" || bad "--question: prompts $p_default / $p_q tokens"

# the same model as a Hugging Face folder gives the same caption
"$HERD" random-model --arch mllama --preset tiny --format hf --tokenizer "$TOK" -o "$T/mmhf" --quiet >/dev/null &&
  gg_ids=$("${C[@]}" --frames 2 --ids --quiet "$V" | tail -1) &&
  [ -n "$gg_ids" ] && [ "$("$HERD" caption -m "$T/mmhf" --temp 0 -n 8 -t 2 --frames 2 --ids --quiet "$V" | tail -1)" = "$gg_ids" ] &&
  ok "a Hugging Face folder captions as its GGUF does" || bad "HF folder caption"

# ---- containers and codecs ------------------------------------------------------------------------------
ffmpeg -v error -y -i "$V" -t 3 -an -c:v mjpeg -q:v 5 "$T/clip.avi" && ffmpeg -v error -y -i "$V" -t 3 -an -c:v mpeg4 "$T/clip.mov" &&
  ffmpeg -v error -y -i "$V" -t 3 -an -c:v copy -metadata:s:v:0 rotate=90 "$T/rot.mp4" || bad "ffmpeg could not make the test clips"
for f in "$FIX/video/big_buck_bunny_0_30.webm" "$FIX/video/chaplin_first4s_vp9_opus.mkv" "$FIX/video/dog_and_stove.mp4" \
         "$T/clip.avi" "$T/clip.mov"; do
  if out=$("${C[@]}" --frames 2 --json --quiet "$f" 2>"$T/err") && "$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); assert len(j["frames"])==2 and j["segments"][0]["ids"]' "$out"; then
    ok "caption $(basename "$f")"
  else
    bad "caption $(basename "$f"): $(cat "$T/err")"
  fi
done
"${C[@]}" --frames 2 "$T/rot.mp4" >/dev/null 2>"$T/rot.err"
grep -q "h264 360x640" "$T/rot.err" && grep -q "picture 1: 360x640" "$T/rot.err" &&
  ok "rotation metadata: 90 degrees applied (360x640 frames)" || bad "rotation: $(cat "$T/rot.err")"

# ---- segments: srt / vtt / txt / json with the same times ------------------------------------------
S=(--segments 3 --frames 2 --quiet)
"${C[@]}" "${S[@]}" --format srt "$V" >"$T/s.srt" || bad "srt runs"
"${C[@]}" "${S[@]}" --format vtt -o "$T/s.vtt" "$V" || bad "vtt runs"
"${C[@]}" "${S[@]}" --format txt --ids "$V" >"$T/s.txt" || bad "txt runs"
"${C[@]}" "${S[@]}" --json "$V" >"$T/s.json" || bad "json runs"
"${C[@]}" "${S[@]}" --format json "$V" >"$T/s.fjson" || bad "--format json runs"
for sub in srt vtt; do
  ffprobe -v error -show_entries packet=pts_time,duration_time -of csv=p=0 "$T/s.$sub" >"$T/$sub.csv" 2>"$T/ffprobe.err" ||
    bad "ffmpeg cannot read the $sub: $(cat "$T/ffprobe.err")"
done
"$PY" - "$T" <<'EOF' && ok "segments: 3 cues, ffmpeg reads srt/vtt with the JSON times, txt has text+ids per segment" || bad "segments"
import json, sys, os
T = sys.argv[1]
j = json.load(open(os.path.join(T, "s.json")))
segs = j["segments"]
assert len(segs) == 3 and len(j["frames"]) == 6
for a, b in zip(segs, segs[1:]):
    assert abs(a["end"] - b["start"]) < 1e-3, (a, b)   # consecutive
for k, s in enumerate(segs):
    assert abs(s["start"] - j["frames"][2 * k]) < 1e-6
    assert s["start"] < 9.64 * (k + 1) / 3 < s["end"] + 1.7   # segment k is the k-th third of the clip
for sub in ("srt", "vtt"):
    rows = [l.split(",") for l in open(os.path.join(T, sub + ".csv")).read().split()]
    assert len(rows) == 3, (sub, rows)
    for (pts, dur), s in zip(rows, segs):
        assert abs(float(pts) - s["start"]) <= 0.0011 and abs(float(pts) + float(dur) - s["end"]) <= 0.0021, (sub, pts, dur, s)
lines = open(os.path.join(T, "s.txt"), encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
assert len(lines) == 6, lines
for k in range(3):
    assert [int(x) for x in lines[2 * k + 1].split()] == segs[k]["ids"]
fj = json.load(open(os.path.join(T, "s.fjson")))
assert [round(s["start"], 3) for s in fj["segments"]] == [round(s["start"], 3) for s in segs]
EOF

# ---- --fps: a caption every K frames at R frames a second ----------------------------------------
"${C[@]}" --fps 1 --frames 4 --json --quiet "$V" >"$T/fps.json" || bad "--fps runs"
"$PY" - "$T/fps.json" <<'EOF' && ok "--fps 1 --frames 4: 10 frames one second apart, captions of 4+4+2" || bad "--fps"
import json, sys
j = json.load(open(sys.argv[1]))
f = j["frames"]
assert len(f) == 10, f
assert all(abs(t - k) <= 0.041 for k, t in enumerate(f)), f
assert len(j["segments"]) == 3
assert [round(s["start"]) for s in j["segments"]] == [0, 4, 8]
EOF

# ---- streaming: memory does not grow with the length of the video -------------------------------------
ffmpeg -v error -y -f lavfi -i testsrc=size=160x90:rate=10 -t 15 -c:v libx264 -preset ultrafast "$T/short.mp4" &&
  ffmpeg -v error -y -f lavfi -i testsrc=size=160x90:rate=10 -t 120 -c:v libx264 -preset ultrafast "$T/long.mp4" || bad "ffmpeg testsrc"
rss() { /usr/bin/time -f "%M" "${C[@]}" --fps 1 --frames 3 -n 2 --quiet --format txt "$1" 2>&1 >/dev/null | tail -1; }
r_short=$(rss "$T/short.mp4")
r_long=$(rss "$T/long.mp4")
if ldd "$HERD" 2>/dev/null | grep -q libasan; then
  echo "note: AddressSanitizer build: its quarantine keeps freed memory, growth not judged ($r_short / $r_long KB)"
elif [ -n "$r_short" ] && [ -n "$r_long" ] && [ "$r_long" -lt $((r_short + 16384)) ]; then
  ok "streaming: peak RSS $r_short KB for 15 s (15 frames), $r_long KB for 120 s (120 frames, 40 captions)"
else
  bad "streaming: peak RSS $r_short KB for 15 s, $r_long KB for 120 s"
fi

# ---- --with-audio: the transcript of the audio track in the question ---------------------------------
# (chaplin's own soundtrack is music: the clip gets JFK's speech as its audio track)
ffmpeg -v error -y -i "$V" -i "$FIX/audio/jfk.wav" -t 4 -map 0:v -map 1:a -c:v copy -c:a aac "$T/talk.mp4" || bad "ffmpeg talk.mp4"
"${C[@]}" --frames 2 --with-audio "$SP" --json "$T/talk.mp4" >"$T/wa.json" 2>"$T/wa.err" || bad "--with-audio runs: $(cat "$T/wa.err")"
"${C[@]}" --frames 2 --json --quiet "$T/talk.mp4" >"$T/na.json"
"$PY" - "$T/wa.json" "$T/na.json" "$T/wa.err" <<'EOF' && ok "--with-audio: transcript recorded, on stderr, and it changes the prompt" || bad "--with-audio"
import json, sys
wa, na = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
err = open(sys.argv[3]).read()
assert "transcript" in wa and "transcript" not in na
assert "audio transcript:" in err and "speech-llama: answer 1" in err, err
assert wa["transcript"], "no transcript"
# the transcript went into the question: a longer prompt
pl = [int(l.split("prompt ")[1].split()[0]) for l in err.splitlines() if "llama: answer 1: prompt" in l and "speech" not in l]
assert len(pl) == 1 and pl[0] > 60, pl
EOF
ffmpeg -v error -y -i "$V" -t 2 -an -c:v copy "$T/silent.mp4"
expect_error "--with-audio on a file without audio" 1 "no audio track" -- "${C[@]}" --with-audio "$SP" "$T/silent.mp4"

# ---- video mode: a video model (aggregator + video cross-attention layers) --------------------------
VM="$T/video.gguf"
"$HERD" random-model --arch video --preset tiny --tokenizer "$TOK" -o "$VM" --quiet >/dev/null || bad "random-model --arch video"
"$HERD" caption -m "$VM" --temp 0 -n 8 -t 2 --json "$V" >"$T/vm.json" 2>"$T/vm.err" || bad "video mode runs: $(cat "$T/vm.err")"
"$PY" - "$T/vm.json" "$T/vm.err" <<'EOF' && ok "video mode: said on stderr and in --json, 8 frames -> 2 effective frames of 8 tokens" || bad "video mode"
import json, sys
j, err = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
assert j["mode"] == "video" and len(j["frames"]) == 8 and len(j["segments"]) == 1 and j["segments"][0]["ids"]
assert "video mode (the model's temporal aggregator and video cross-attention layers): 8 frames per caption, merged 4 at a time into 2 effective frames" in err, err
assert err.count("4 frames merged into 8 tokens") == 2 and "video keys/values of 2 effective frames (16 tokens)" in err
EOF
"$HERD" caption -m "$VM" --temp 0 -n 8 -t 2 --segments 2 --format vtt --quiet "$V" >"$T/vm.vtt" &&
  ffprobe -v error -show_entries packet=pts_time -of csv=p=0 "$T/vm.vtt" >"$T/vm.csv" && [ "$(wc -l <"$T/vm.csv")" = 2 ] &&
  ok "video mode: --segments 2 --format vtt, read by ffmpeg" || bad "video mode segments: $(cat "$T/vm.vtt")"
# a shorter last run: --fps 1 on 9.64 s = 10 frames, 8 per caption -> 4+4 | 2 (one effective frame of 2)
"$HERD" caption -m "$VM" --fps 1 --frames 8 --temp 0 -n 4 -t 2 --json "$V" >"$T/vf.json" 2>"$T/vf.err" &&
  "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert len(j["frames"])==10 and len(j["segments"])==2' "$T/vf.json" &&
  grep -q "effective frame 3: 2 frames merged into 8 tokens" "$T/vf.err" && grep -q "video keys/values of 1 effective frame (8 tokens)" "$T/vf.err" &&
  ok "video mode --fps: the last, shorter group is merged on its own" || bad "video mode --fps: $(cat "$T/vf.err")"
"$HERD" caption -m "$VM" --image-mode --frames 2 --temp 0 -n 4 -t 2 "$V" >/dev/null 2>"$T/im.err" && grep -q "image mode (--image-mode)" "$T/im.err" &&
  ok "--image-mode on a video model: frames as images" || bad "--image-mode: $(cat "$T/im.err")"
expect_error "video mode: --frames not in whole groups" 2 "whole groups" -- "$HERD" caption -m "$VM" --frames 6 "$V"
expect_error "video mode: too many effective frames" 2 "effective frames" -- "$HERD" caption -m "$VM" --frames 68 "$V"
# the paper-shaped video model: ~0.6 B parameters on top of the 11B image model (SPEC §3), counted by a dry run
vb=$("$HERD" random-model --arch video --preset paper-8b --dry-run -o "$T/p.gguf" 2>&1 | tail -1 | awk '{print $4}')
ib=$("$HERD" random-model --arch mllama --preset llama-3.2-11b-vision --dry-run -o "$T/q.gguf" 2>&1 | tail -1 | awk '{print $4}')
"$PY" -c "import sys; p = (int(sys.argv[1]) - int(sys.argv[2])) / 4e9; print(f'{p:.3f}'); assert 0.5 < p < 0.7" "$vb" "$ib" >"$T/pp" &&
  ok "random-model --arch video --preset paper-8b: $(cat "$T/pp") B video parameters (paper: 0.6 B)" || bad "paper-8b size: $vb vs $ib"

# ---- errors: one line, non-zero exit ----------------------------------------------------------------
expect_error "truncated mp4 without moov" 1 "truncated_no_moov_chaplin.mp4" -- "${C[@]}" "$FIX/corrupt/truncated_no_moov_chaplin.mp4"
expect_error "empty file" 1 "empty.mp4" -- "${C[@]}" "$FIX/corrupt/empty.mp4"
expect_error "random bytes" 1 "random_bytes.wav" -- "${C[@]}" "$FIX/corrupt/random_bytes.wav"
expect_error "missing file" 1 "nope.mp4" -- "${C[@]}" "$T/nope.mp4"
expect_error "text-only model" 1 "cannot see images" -- "$HERD" caption -m "$TL" "$V"
expect_error "no model" 2 "no model" -- "$HERD" caption "$V"
expect_error "no video" 2 "no video" -- "$HERD" caption -m "$MM"
expect_error "--frames 17" 2 "--frames" -- "$HERD" caption -m "$MM" --frames 17 "$V"
expect_error "--fps with --segments" 2 "--segments" -- "$HERD" caption -m "$MM" --fps 1 --segments 2 "$V"
expect_error "--format bad" 2 "--format" -- "$HERD" caption -m "$MM" --format docx "$V"
expect_error "--ids with srt" 2 "--ids" -- "$HERD" caption -m "$MM" --ids --format srt "$V"
# a file cut in the middle of its data: the frames before the cut are captioned
"${C[@]}" --frames 2 --quiet "$FIX/corrupt/truncated_mid_mdat_dog_and_stove.mp4" >"$T/trunc.out" 2>&1 &&
  ok "truncated mid-mdat: the decodable part is captioned" || bad "truncated mid-mdat: $(cat "$T/trunc.out")"

exit $fail
