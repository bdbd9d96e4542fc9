#!/usr/bin/env bash
# tests/e2e/test_speak.sh — `herd speak` and the tts node end to end:
#  * intelligibility: 10 sentences (numbers, a date, a time, money, units
#    among them) spoken at 16 kHz and recognised by pocketsphinx
#    (tests/e2e/speak_asr.py): WER must be ≤ 0.30 (measured 0.155 with the
#    default voice en-us+klatt), and the control (hypotheses scored against
#    the wrong sentences) ≥ 0.70, so the recognizer really listens;
#  * streaming: from a pipe, the first sentence's audio is on stdout before
#    the writer sends the second sentence;
#  * -o - raw PCM equals the WAV file's samples; --rate; --prosody changes
#    the timing; the `tts` graph node; errors exit 1/2 with one line;
#  * --lm: a prosody model written for a tiny Llama 3 (preset tiny+tiny)
#    cross-attends to that LM's hidden states: the same LM gives the same
#    timing, another LM (other seed) another; the same through the tts node
#    (lm=) and `herd ask --speak --speak-prosody`; a model of another width
#    is refused with one line naming both widths.
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # message condition...
  local msg=$1
  shift
  if "$@"; then echo "ok   $msg"; else echo "FAIL $msg" >&2; fail=1; fi
}

# ---- intelligibility through pocketsphinx
if command -v pocketsphinx_continuous >/dev/null; then
  "$PY" "$SRC/tests/e2e/speak_asr.py" "$HERD" "$T/asr" | tee "$T/asr.txt"
  read -r wer control < <(awk '/^WER/ {print $2, $4}' "$T/asr.txt")
  check "pocketsphinx WER $wer <= 0.30" awk -v w="$wer" 'BEGIN {exit !(w <= 0.30)}'
  check "control WER $control >= 0.70" awk -v w="$control" 'BEGIN {exit !(w >= 0.70)}'
else
  echo "FAIL pocketsphinx_continuous not installed (apt-get install pocketsphinx pocketsphinx-en-us)" >&2
  fail=1
fi

# ---- raw PCM on stdout == the WAV file's samples
"$HERD" speak --quiet -r 16000 "Raw output check." -o "$T/raw.wav"
"$HERD" speak --quiet -r 16000 "Raw output check." -o - > "$T/raw.pcm"
check "-o - writes the WAV's 16-bit samples" "$PY" - "$T/raw.wav" "$T/raw.pcm" <<'PYEOF'
import sys, wave
w = wave.open(sys.argv[1]); pcm = open(sys.argv[2], "rb").read()
assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
frames = w.readframes(w.getnframes())
assert len(frames) > 16000 and frames == pcm, (len(frames), len(pcm))
PYEOF

# ---- streaming from a pipe: audio of sentence 1 before sentence 2 is written
check "first audio arrives while the text is still streaming" "$PY" - "$HERD" <<'PYEOF'
import subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "speak", "--quiet", "-o", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
t0 = time.monotonic()
p.stdin.write(b"This is the first sentence. "); p.stdin.flush()
first = p.stdout.read(2)                    # blocks until audio comes
t_first = time.monotonic() - t0
time.sleep(0.5)
p.stdin.write(b"And this is the second one.\n"); p.stdin.close()
rest = p.stdout.read()
assert p.wait() == 0 and len(first) == 2 and len(rest) > 22050, len(rest)
print(f"  first audio {1000 * t_first:.0f} ms after the first sentence was written")
assert t_first < 0.5
PYEOF

# ---- rate, voice, prosody model, graph node
dur() { "$PY" -c 'import sys, wave; w = wave.open(sys.argv[1]); print(w.getnframes() / w.getframerate())' "$1"; }
S="Speaking rate changes the length of this sentence."
"$HERD" speak --quiet --rate 120 "$S" -o "$T/slow.wav"
"$HERD" speak --quiet --rate 300 "$S" -o "$T/fast.wav"
check "--rate 120 is longer than --rate 300" awk -v a="$(dur "$T/slow.wav")" -v b="$(dur "$T/fast.wav")" 'BEGIN {exit !(a > 1.8 * b)}'
"$HERD" speak --quiet --voice en-us+f3 "$S" -o "$T/f3.wav"
check "--voice en-us+f3 renders" test -s "$T/f3.wav"
"$BUILD/tests/parity_prosody" --write-random "$T/pm.gguf" 3
"$HERD" speak --quiet "$S" -o "$T/plain.wav"
"$HERD" speak --quiet -t 2 --prosody "$T/pm.gguf" "$S" -o "$T/pm.wav"
check "--prosody imposes the model's durations" awk -v a="$(dur "$T/plain.wav")" -v b="$(dur "$T/pm.wav")" 'BEGIN {d = a - b; exit !(d > 0.05 || d < -0.05)}'
"$BUILD/tests/parity_tn" --write-random "$T/tn.gguf" 1
"$HERD" speak --quiet --tn "$T/tn.gguf" --normalize-only "Call 911 on 5/6/2021." > "$T/tn.txt"
check "--tn: the tagger's normalisation is printed" test "$(wc -l < "$T/tn.txt")" = 1
"$HERD" speak --quiet --tn "$T/tn.gguf" "Call 911 now." -o "$T/tn.wav"
check "--tn: speech with the tagger" test -s "$T/tn.wav"
"$HERD" run --quiet "text text='A graph speaks. It costs \$5.' ! tts rate=16000 ! wav:$T/graph.wav"
check "tts node writes 16 kHz audio" "$PY" -c 'import sys, wave; w = wave.open(sys.argv[1]); assert w.getframerate() == 16000 and w.getnframes() > 16000' "$T/graph.wav"

# ---- the models cross-attend to an LM's hidden states
TOK="${HERD_FIXTURES:?fixtures}/tokenizer/llama3_tokenizer.model"
for s in 1 2; do
  "$HERD" random-model --arch llama --preset tiny --tokenizer "$TOK" --seed $s -o "$T/lm$s.gguf" --quiet >/dev/null
done
"$HERD" random-model --arch prosody --preset tiny+tiny --seed 3 -o "$T/pl.gguf" --quiet >/dev/null
S2="The cat sat on three mats. It was happy."
"$HERD" speak --quiet -t 2 --prosody "$T/pl.gguf" --lm "$T/lm1.gguf" "$S2" -o "$T/l1.wav"
"$HERD" speak --quiet -t 2 --prosody "$T/pl.gguf" --lm "$T/lm1.gguf" "$S2" -o "$T/l1b.wav"
"$HERD" speak --quiet -t 2 --prosody "$T/pl.gguf" --lm "$T/lm2.gguf" "$S2" -o "$T/l2.wav"
"$HERD" speak --quiet -t 2 --prosody "$T/pl.gguf" "$S2" -o "$T/l0.wav"
check "--lm: the same LM, the same timing" test "$(dur "$T/l1.wav")" = "$(dur "$T/l1b.wav")"
check "--lm: another LM changes the timing" test "$(dur "$T/l1.wav")" != "$(dur "$T/l2.wav")"
check "--lm: no LM differs from an LM" test "$(dur "$T/l1.wav")" != "$(dur "$T/l0.wav")"
"$HERD" run --quiet "text text='$S2' ! tts prosody=$T/pl.gguf lm=$T/lm1.gguf ! wav:$T/lg.wav"
check "tts node lm=: as herd speak --lm" test "$(dur "$T/lg.wav")" = "$(dur "$T/l1.wav")"
"$HERD" ask --quiet -m "$T/lm1.gguf" -n 12 --seed 4 --speak "$T/ask.wav" --speak-prosody "$T/pl.gguf" "Hi." > /dev/null
check "herd ask --speak-prosody speaks the answer" test -s "$T/ask.wav"

# ---- errors: one line, exit 2 for usage, 1 for bad files
set +e
"$HERD" speak "x" 2>"$T/e1"; r1=$?
"$HERD" speak --voice no-such "x" -o "$T/x.wav" 2>"$T/e2"; r2=$?
head -c 100 "$T/pm.gguf" > "$T/cut.gguf"
"$HERD" speak --prosody "$T/cut.gguf" "x" -o "$T/x.wav" 2>"$T/e3"; r3=$?
"$HERD" speak --rate 10 "x" -o "$T/x.wav" 2>"$T/e4"; r4=$?
"$HERD" speak --tn "$T/tn.gguf" --lm "$T/lm1.gguf" "x" -o "$T/x.wav" 2>"$T/e5"; r5=$?
"$HERD" speak --lm "$T/lm1.gguf" "x" -o "$T/x.wav" 2>"$T/e6"; r6=$?
"$HERD" run "text text=x ! tts lm=$T/lm1.gguf ! wav:$T/x.wav" 2>"$T/e7"; r7=$?
set -e
check "no -o: exit 2" test "$r1" = 2
check "unknown voice: exit 2 naming it" grep -q "no-such" "$T/e2"
check "unknown voice exit code" test "$r2" = 2
check "truncated prosody model: exit 1 naming the file" grep -q "cut.gguf" "$T/e3"
check "truncated prosody exit code" test "$r3" = 1
check "--rate out of range: exit 2" test "$r4" = 2
check "--lm of another width: refused naming both widths" grep -q "width 32.*width 64" "$T/e5"
check "--lm of another width: exit 2" test "$r5" = 2
check "--lm without a model to feed: exit 2" test "$r6" = 2
check "tts node lm= without a model to feed: exit 2 saying so" grep -q "give prosody= or tn=" "$T/e7"
check "tts node lm= without a model exit code" test "$r7" = 2
for f in e1 e2 e3 e4 e5 e6 e7; do check "$f is one line" test "$(wc -l < "$T/$f")" = 1; done

# random-model --arch tts: both models in one folder, ready for speak --prosody --tn --lm
"$HERD" random-model --arch tts --preset tiny+tiny --seed 4 -o "$T/voice" --quiet >/dev/null
check "--arch tts wrote prosody.gguf and tn.gguf" test -s "$T/voice/prosody.gguf" -a -s "$T/voice/tn.gguf"
check "--arch tts models speak with the tiny LM" "$HERD" speak --prosody "$T/voice/prosody.gguf" --tn "$T/voice/tn.gguf" \
  --lm "$T/lm1.gguf" "It costs \$5 on May 3rd." -o "$T/voice.wav"
"$HERD" random-model --arch tts --preset paper+llama-3.1-8b --dry-run -o "$T/voice8" > "$T/dry8" 2>&1
check "--arch tts paper+llama-3.1-8b: both paper-shaped files planned" grep -q "tn.gguf" "$T/dry8"

if [ $fail = 0 ]; then echo "e2e speak: all checks passed"; else echo "e2e speak: FAILED" >&2; fi
exit $fail
