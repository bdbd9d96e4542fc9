#!/bin/bash
# tools/bench/transcribe_latency.sh — live transcription latency: pipes raw PCM
# into `herd transcribe -m MODEL -` in real time (20 ms chunks, paced by the
# clock, as a microphone would) and prints, for every utterance, the time from
# its speech leaving the pipe (the clip's last 10 ms frame within 30 dB of its
# loudest) to its text line arriving on herd's stdout.
#
#   tools/bench/transcribe_latency.sh [-m SPEECH_MODEL] [-t THREADS] [--gap S]
#                                     [--min-silence S] [-n TOKENS] [CLIP...]
#
# Without -m a tiny random speech model is written to a temporary directory
# (herd random-model --arch speech --preset tiny): its words are nonsense and
# some answers decode to blank text (no line, reported as such), but the
# timing path — segmentation, encoder, adapter, LM, sink — is the real one.
# Clips default to four fixture utterances; they are joined with --gap
# seconds of silence (default 2) into one 16 kHz mono s16le stream.
# Expected latency ≈ min-silence (the pause that proves the utterance ended,
# default 0.6 s) + encoder + adapter + generation of the segment's tokens.
# Env: HERD (default build/herd), HERD_FIXTURES (default ../shared/fixtures),
# PYTHON (default python3).  Needs ffmpeg.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
HERD=${HERD:-$here/build/herd}
FIX=${HERD_FIXTURES:-$here/../shared/fixtures}
PY=${PYTHON:-python3}
model="" threads=2 gap=2 min_sil="" ntok=8
clips=()
while [ $# -gt 0 ]; do
  case $1 in
    -m) model=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -n) ntok=$2; shift 2 ;;
    --gap) gap=$2; shift 2 ;;
    --min-silence) min_sil=$2; shift 2 ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    -*) echo "transcribe_latency: unknown option $1" >&2; exit 2 ;;
    *) clips+=("$1"); shift ;;
  esac
done
[ -x "$HERD" ] || { echo "transcribe_latency: no herd binary at $HERD (set HERD)" >&2; exit 2; }
command -v ffmpeg > /dev/null || { echo "transcribe_latency: needs ffmpeg" >&2; exit 2; }
if [ ${#clips[@]} -eq 0 ]; then
  clips=("$FIX/audio/jfk.wav" "$FIX/audio/librivox_sense_and_sensibility_0880.wav"
         "$FIX/audio/librispeech_mr_quilter_en.wav" "$FIX/audio/speech_fr.wav")
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$model" ]; then
  "$HERD" random-model --arch speech --preset tiny --tokenizer "$FIX/tokenizer/llama3_tokenizer.model" \
    -o "$tmp/speech.gguf" --quiet
  model=$tmp/speech.gguf
fi
# the stream: clip, gap, clip, gap, ... and where each clip ends
: > "$tmp/stream.s16"
: > "$tmp/ends"
for c in "${clips[@]}"; do
  ffmpeg -v error -y -i "$c" -f s16le -ac 1 -ar 16000 "$tmp/clip.s16" < /dev/null
  cat "$tmp/clip.s16" >> "$tmp/stream.s16"
  echo "$(stat -c %s "$tmp/stream.s16") $(basename "$c")" >> "$tmp/ends"
  head -c $((gap * 32000)) /dev/zero >> "$tmp/stream.s16"
done
extra=()
[ -n "$min_sil" ] && extra=(--min-silence "$min_sil")

"$PY" - "$HERD" "$model" "$threads" "$ntok" "$tmp/stream.s16" "$tmp/ends" "${extra[@]}" <<'EOF'
import json, os, subprocess, sys, threading, time
herd, model, threads, ntok, stream, ends = sys.argv[1:7]
extra = sys.argv[7:]
pcm = open(stream, "rb").read()
import array
samples = array.array("h")
samples.frombytes(pcm)
clips = []   # (end of the speech in seconds, name): the last 10 ms frame within 30 dB of the clip's loudest
start = 0
for line in open(ends):
    nbytes, name = line.split(" ", 1)
    stop = int(nbytes) // 2
    e = [sum(x * x for x in samples[i:i + 160]) for i in range(start, stop - 159, 160)]
    peak = max(e) if e else 0
    last = max((k for k, v in enumerate(e) if v > peak * 1e-3), default=len(e) - 1)
    clips.append(((start + (last + 1) * 160) / 16000.0, name.strip()))
    start = stop
cmd = [herd, "transcribe", "-m", model, "-t", threads, "-n", ntok, "--format", "verbose_json"] + extra + ["-"]
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
# wait until the models are loaded ("listening on stdin")
ready = threading.Event()
def err_reader():
    for l in p.stderr:
        if b"listening on stdin" in l:
            ready.set()
    ready.set()
threading.Thread(target=err_reader, daemon=True).start()
ready.wait(120)
segs = []   # (arrival, start, end, text)
t0 = None
def out_reader():
    # verbose_json writes (and flushes) each segment object when it is
    # recognised, the newline only before the next one: parse objects as
    # soon as they are complete, not lines
    dec = json.JSONDecoder()
    buf, pos = "", 0
    while True:
        b = os.read(p.stdout.fileno(), 65536)
        if not b:
            break
        now = time.monotonic()
        buf += b.decode("utf-8", "replace")
        while True:
            i = buf.find('{"id"', pos)
            if i < 0:
                break
            try:
                o, end = dec.raw_decode(buf, i)
            except ValueError:
                break   # not complete yet
            segs.append((now, o["start"], o["end"], o["text"]))
            pos = end
reader = threading.Thread(target=out_reader)
reader.start()
chunk = 640   # 20 ms of s16 mono at 16 kHz
t0 = time.monotonic()
for off in range(0, len(pcm), chunk):
    target = t0 + off / 32000.0
    d = target - time.monotonic()
    if d > 0:
        time.sleep(d)
    p.stdin.write(pcm[off:off + chunk])
sent_all = time.monotonic()
p.stdin.close()
reader.join()
rc = p.wait()
print("herd transcribe -m %s -t %s -n %s %s- (real-time stream of %.1f s)" % (model, threads, ntok, " ".join(extra) + (" " if extra else ""), len(pcm) / 32000))
print("%-44s %9s %9s %11s  %s" % ("utterance", "speech to", "segment", "latency", "text"))
lat = []
for i, (end, name) in enumerate(clips):
    begin = clips[i - 1][0] if i else 0.0
    mine = [s for s in segs if s[1] < end and s[2] > begin]
    if not mine:
        print("%-44s %8.2fs %9s %11s  (no text line: blank answer)" % (name[:44], end, "-", "-"))
        continue
    last = max(mine, key=lambda s: s[0])
    l = last[0] - (t0 + end)
    lat.append(l)
    print("%-44s %8.2fs %8.2fs %10.0fms  %s" % (name[:44], end, last[2], l * 1000, last[3][:40]))
if lat:
    lat.sort()
    print("latency from the end of the utterance: min %.0f ms, median %.0f ms, max %.0f ms (%d of %d utterances)"
          % (lat[0] * 1000, lat[len(lat) // 2] * 1000, lat[-1] * 1000, len(lat), len(clips)))
if rc != 0:
    print("herd exited with %d" % rc)
    sys.exit(1)
EOF
