#!/usr/bin/env bash
# tools/fuzz-smoke.sh [SECONDS] — builds the libFuzzer harnesses in tests/fuzz with
# clang -fsanitize=fuzzer,address,undefined and runs each for SECONDS (default 60).
# Self-contained: its own build tree, seeds and corpora under ${BUILD_ROOT:-/tmp}/herd-fuzz.
# Exit status 1 if a harness finds a crash, leak, timeout or sanitizer report; the
# reproducer is left as ${BUILD_ROOT}/herd-fuzz/crash-HARNESS-*.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
OUT=${BUILD_ROOT:-/tmp}/herd-fuzz
PY=${PYTHON:-python3}
HARNESSES=(gguf safetensors pipeline image audio video serve)

command -v clang >/dev/null || { echo "fuzz-smoke: clang is missing (tools/install-deps.sh installs it)" >&2; exit 1; }

echo "fuzz-smoke: building in $OUT/build" >&2
cmake -S . -B "$OUT/build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHERD_TESTS=OFF -DHERD_FUZZ=ON -DHERD_SANITIZE=address,undefined >/dev/null
cmake --build "$OUT/build" -j"$(nproc)" --target "${HARNESSES[@]/#/fuzz_}" >/dev/null

rm -rf "$OUT/seeds"
"$PY" tests/fuzz/make_seeds.py "$OUT/seeds"
bash tests/fuzz/make_media_seeds.sh "$OUT/seeds"
mkdir -p "$OUT/seeds/pipeline"
i=0
for d in 'file:talk.wav ! resample rate=16000 ! wav:out.wav' \
         'sine freq=440 ! m.  sine freq=660 duration=0.5 ! m.  mix name=m gain=0.5 ! wav:chord.wav' \
         'file:a.wav ! tee name=t ! resample rate=16000 ! wav:a16.wav  t. ! wav:copy.wav' \
         "text:'Hello \\\"world\\\"' ! stdout ; raw:- rate=8000 ! null"; do
  printf '%s' "$d" > "$OUT/seeds/pipeline/seed$((i++))"
done

mkdir -p "$OUT/seeds/serve"
printf '%s' '0{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}},{"type":"input_audio","input_audio":{"data":"aGk=","format":"wav"}}]}],"stream":true,"stop":["x"],"temperature":0.5,"max_tokens":9,"seed":1}' > "$OUT/seeds/serve/chat"
printf '1multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--XyZ--\r\n' > "$OUT/seeds/serve/multipart"

status=0
failed=()
for h in "${HARNESSES[@]}"; do
  corpus="$OUT/corpus/$h"
  mkdir -p "$corpus"
  log="$OUT/fuzz_$h.log"
  echo "fuzz-smoke: fuzz_$h for ${SECS}s (log $log)" >&2
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$OUT/build/tests/fuzz/fuzz_$h" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -dict="tests/fuzz/$h.dict" -artifact_prefix="$OUT/crash-$h-" \
       "$corpus" "$OUT/seeds/$h" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "fuzz-smoke: fuzz_$h ok: $runs runs, $cov, corpus $(ls "$corpus" | wc -l) files" >&2
  else
    echo "fuzz-smoke: fuzz_$h FAILED — last lines of $log:" >&2
    tail -n 30 "$log" >&2
    status=1
    failed+=("fuzz_$h")
  fi
done
if [ $status -eq 0 ]; then echo "fuzz-smoke: all ${#HARNESSES[@]} harnesses ran clean" >&2
else echo "fuzz-smoke: FAILED: ${failed[*]}" >&2; fi
exit $status
