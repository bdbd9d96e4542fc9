#!/usr/bin/env bash
# tools/bench/vs_llamacpp.sh — herd vs llama.cpp on the same GGUF files:
# `herd bench -m F -p P -n N -t T` and `llama-bench -m F -p P -n N -t T`
# alternately (the order flips every round, so drifting load on a shared
# machine hits both alike), then the median of the rounds and herd/llama.cpp.
#
# usage: LLAMA_BENCH=/path/to/llama-bench [HERD=herd] tools/bench/vs_llamacpp.sh
#            [-p 128] [-n 64] [-t 2] [-r 3] [-k 3] [--json FILE] MODEL.gguf...
#   -p/-n/-t   prompt tokens, generated tokens, threads (passed to both)
#   -r         repetitions inside each tool run (both average them)
#   -k         rounds of (herd, llama-bench) per model
#   --json F   also write every measurement and the medians to F
# Make Llama-3.2-1B-shaped models outside the repo, e.g.
#   herd random-model --preset llama-3.2-1b --type Q8_0 -o /work/bench/1b-q8_0.gguf
# Prints one line per model: prefill and decode tokens/s of each and the ratios
# (> 1: herd is faster).  Nothing here is a test: run it on a quiet machine.
set -euo pipefail
LLAMA_BENCH=${LLAMA_BENCH:?set LLAMA_BENCH to the llama-bench binary}
HERD=${HERD:-herd}
PY=${PYTHON:-python3}
P=128 N=64 T=2 R=3 K=3 JSON=
models=()
while [ $# -gt 0 ]; do
  case $1 in
    -p) P=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    -r) R=$2; shift 2 ;;
    -k) K=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "vs_llamacpp.sh: unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[ ${#models[@]} -gt 0 ] || { echo "vs_llamacpp.sh: no model given (see -h)" >&2; exit 2; }
command -v "$HERD" >/dev/null || { echo "vs_llamacpp.sh: herd binary '$HERD' not found (set HERD)" >&2; exit 2; }
[ -x "$LLAMA_BENCH" ] || { echo "vs_llamacpp.sh: $LLAMA_BENCH is not executable" >&2; exit 2; }

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
run_herd() { # model round
  local out
  out=$("$HERD" bench -m "$1" -p "$P" -n "$N" -t "$T" -r "$R" --json 2>/dev/null)
  "$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); print("herd", sys.argv[2], sys.argv[3], j["prefill_tokens_per_s"], j["decode_tokens_per_s"])' \
    "$out" "$1" "$2" >>"$raw"
}
run_llama() { # model round
  local out
  out=$("$LLAMA_BENCH" -m "$1" -p "$P" -n "$N" -t "$T" -r "$R" -o jsonl 2>/dev/null)
  "$PY" -c '
import json, sys
pp = tg = None
for line in sys.argv[1].splitlines():
    line = line.strip()
    if not line.startswith("{"): continue
    j = json.loads(line)
    if j.get("n_prompt", 0) > 0 and j.get("n_gen", 0) == 0: pp = j["avg_ts"]
    if j.get("n_gen", 0) > 0 and j.get("n_prompt", 0) == 0: tg = j["avg_ts"]
assert pp is not None and tg is not None, "llama-bench printed no pp/tg results"
print("llama", sys.argv[2], sys.argv[3], pp, tg)' "$out" "$1" "$2" >>"$raw"
}

for m in "${models[@]}"; do
  [ -f "$m" ] || { echo "vs_llamacpp.sh: $m: no such file" >&2; exit 1; }
  for k in $(seq 1 "$K"); do
    if [ $((k % 2)) = 1 ]; then run_herd "$m" "$k"; run_llama "$m" "$k"
    else run_llama "$m" "$k"; run_herd "$m" "$k"; fi
    echo "round $k/$K $(basename "$m") done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done

"$PY" - "$raw" "$JSON" "$P" "$N" "$T" <<'EOF'
import json, statistics, sys, os
raw, out, P, N, T = sys.argv[1:6]
rows = [l.split() for l in open(raw) if l.strip()]
models = []
for r in rows:
    if r[1] not in models: models.append(r[1])
res = {"n_prompt": int(P), "n_gen": int(N), "n_threads": int(T), "models": []}
print(f"{'model':40s} {'herd pp':>9s} {'llama pp':>9s} {'ratio':>6s}   {'herd tg':>8s} {'llama tg':>8s} {'ratio':>6s}")
for m in models:
    med = {}
    for tool in ("herd", "llama"):
        sel = [r for r in rows if r[0] == tool and r[1] == m]
        med[tool] = (statistics.median(float(r[3]) for r in sel), statistics.median(float(r[4]) for r in sel))
    pp_ratio, tg_ratio = med["herd"][0] / med["llama"][0], med["herd"][1] / med["llama"][1]
    print(f"{os.path.basename(m):40s} {med['herd'][0]:9.1f} {med['llama'][0]:9.1f} {pp_ratio:6.2f}   "
          f"{med['herd'][1]:8.2f} {med['llama'][1]:8.2f} {tg_ratio:6.2f}")
    res["models"].append({"model": m, "herd_prefill": med["herd"][0], "llama_prefill": med["llama"][0],
                          "herd_decode": med["herd"][1], "llama_decode": med["llama"][1],
                          "prefill_ratio": pp_ratio, "decode_ratio": tg_ratio,
                          "runs": [r for r in rows if r[1] == m]})
if out:
    with open(out, "w") as f: json.dump(res, f, indent=1)
EOF
