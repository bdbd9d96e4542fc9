#!/usr/bin/env bash
# tools/bench/tts_latency.sh — time to first audio of `herd speak` (issue 7:
# ≤ 200 ms with 2 threads for a short sentence).
#
#   tools/bench/tts_latency.sh [HERD] [BUILD_DIR]
#
# For espeak-ng's own prosody and for random prosody models (tiny and the
# paper-sized preset: D 384, 6 layers, 6 heads, F 864, D_llm 4096; written
# with BUILD_DIR/tests/parity_prosody), runs `herd speak -t 2 -o - TEXT`
# REPS times (default 10) and reports the median and worst of
#   engine: text available -> first audio written (herd's own measurement:
#           normalisation, espeak-ng, prosody model, vocoder, output)
#   process: process start -> first PCM byte read from its stdout (adds exec,
#           dynamic loading and espeak-ng's start-up)
set -euo pipefail
HERD=${1:-${HERD:-build/herd}}
BUILD=${2:-${HERD_BUILD_DIR:-$(dirname "$HERD")}}
REPS=${REPS:-10}
TEXT=${TEXT:-"Hello, how are you today?"}
if [[ ! -x "$HERD" ]]; then
    echo "tts_latency.sh: no herd binary at '$HERD' (pass its path or set HERD)" >&2
    exit 2
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
models=("")
if [[ -x "$BUILD/tests/parity_prosody" ]]; then
    "$BUILD/tests/parity_prosody" --write-random "$T/tiny.gguf" 1 f32 tiny
    "$BUILD/tests/parity_prosody" --write-random "$T/paper.gguf" 1 f32 paper
    models+=("$T/tiny.gguf" "$T/paper.gguf")
else
    echo "tts_latency.sh: $BUILD/tests/parity_prosody not built: espeak-ng prosody only" >&2
fi
for m in "${models[@]}"; do
    python3 - "$HERD" "$REPS" "$TEXT" "$m" <<'PY'
import re, statistics, subprocess, sys, time
herd, reps, text, model = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cmd = [herd, "speak", "-t", "2", "-o", "-", text] + (["--prosody", model] if model else [])
engine, process = [], []
for _ in range(reps):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(1)
    process.append(1e3 * (time.monotonic() - t0))
    p.stdout.read()
    err = p.stderr.read().decode()
    if p.wait() != 0:
        sys.exit(f"herd speak failed: {err}")
    engine.append(float(re.search(r"first audio after ([0-9.]+) ms", err).group(1)))
name = "espeak-ng prosody" if not model else "prosody model " + model.rsplit("/", 1)[-1]
print(f"{name:34s} engine median {statistics.median(engine):6.1f} ms  worst {max(engine):6.1f} ms | "
      f"process median {statistics.median(process):6.1f} ms  worst {max(process):6.1f} ms  ({reps} runs, 2 threads)")
PY
done
