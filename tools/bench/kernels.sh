#!/usr/bin/env bash
# tools/bench/kernels.sh — run `herd bench kernels` and keep the JSON.
#
#   tools/bench/kernels.sh [HERD] [extra bench options...]
#
# Writes bench-kernels-<host>-<date>.json in the current directory and prints
# a summary: per type, the best matrix-vector share of the measured read
# bandwidth and the best matrix-matrix GFLOP/s with their thread counts.
# Needs python3 (any) for the summary; the JSON is kept either way.
set -euo pipefail
HERD=${1:-${HERD:-build/herd}}
shift || true
if [[ ! -x "$HERD" ]]; then
    echo "kernels.sh: no herd binary at '$HERD' (pass its path or set HERD)" >&2
    exit 2
fi
out="bench-kernels-$(hostname)-$(date +%Y%m%d-%H%M%S).json"
"$HERD" bench kernels --json "$@" > "$out"
echo "wrote $out" >&2
python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("SIMD %s" % d["simd"])
for m in d["machine"]:
    print("%d thread(s): read %.1f GB/s, F32 peak %.0f GFLOP/s%s" % (
        m["threads"], m["read_gbps"], m["peak_f32_gflops"],
        ", BF16 peak %.0f GFLOP/s" % m["peak_bf16_gflops"] if "peak_bf16_gflops" in m else ""))
best = {}
for r in d["results"]:
    b = best.setdefault(r["type"], {"mv": None, "mm": None})
    if r["tokens"] < 8:
        if b["mv"] is None or r["pct_bandwidth"] > b["mv"]["pct_bandwidth"]: b["mv"] = r
    else:
        if b["mm"] is None or r["gflops"] > b["mm"]["gflops"]: b["mm"] = r
print("%-5s %28s %32s" % ("type", "mat-vec (% of bandwidth)", "mat-mat (GFLOP/s, % of peak)"))
for t, b in best.items():
    mv = "%.0f%% (%.1f GB/s, %dx%d, %dt)" % (b["mv"]["pct_bandwidth"], b["mv"]["weight_gbps"], b["mv"]["out"], b["mv"]["in"], b["mv"]["threads"]) if b["mv"] else "-"
    mm = "%.0f (%.0f%%, %dx%d, %dt)" % (b["mm"]["gflops"], b["mm"]["pct_peak"], b["mm"]["out"], b["mm"]["in"], b["mm"]["threads"]) if b["mm"] else "-"
    print("%-5s %28s %32s" % (t, mv, mm))
PY
