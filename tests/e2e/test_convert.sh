#!/usr/bin/env bash
# tests/e2e/test_convert.sh — `herd convert`, `herd quantize` and `herd bench -m`
# end to end:
#   * a random HF checkpoint converted to GGUF is byte for byte the GGUF that
#     `herd random-model` writes for the same seed (F32, F16 from an F16 folder,
#     Q8_0 with the real tokenizer, sharded folders), so metadata, tensor order,
#     the Q/K RoPE permutation and rope_freqs are convert_hf_to_gguf.py's;
#   * `herd quantize` of the F32 file equals `random-model --type T` (Q8_0, Q4_0,
#     Q4_K) and `convert --type T` (all types); re-quantizing is stable;
#   * logits of every quantized file are within a per-type tolerance of F32;
#   * bad input gives one line on stderr and exit 1 (input) or 2 (usage);
#   * `herd bench -m --json` prints one JSON object with positive rates.
set -euo pipefail
HERD=${HERD:?set HERD to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
TOK=${HERD_FIXTURES:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/fixtures}/tokenizer/tokenizer.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
rm_model() { "$HERD" random-model --quiet -t 2 "$@"; }
same() { # label a b
  if cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ ($(cmp "$2" "$3" 2>&1 | head -1))"; fi
}
expect_exit() { # code, command args...
  local want=$1; shift
  set +e; "$HERD" "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; local got=$?; set -e
  if [ "$got" = "$want" ] && [ "$(wc -l <"$tmp/err.txt")" = 1 ]; then ok; else
    bad "herd $* exited $got (want $want) with stderr:"; sed 's/^/  | /' "$tmp/err.txt" >&2; fi
}
IDS=128,5,77,300,1,42,9,256,511,17,64,3
logits() { # model out
  "$HERD" generate -m "$1" --prompt-ids "$IDS" -n 0 --dump-logits "$2" --quiet -t 2 --kv-type f32
}
close() { # label tol a.f32 ref.f32 — max |a - ref| relative to max |ref| over every position
  local r
  if r=$("$PY" - "$2" "$3" "$4" <<'EOF'
import sys, numpy as np
tol = float(sys.argv[1]); a = np.fromfile(sys.argv[2], np.float32); b = np.fromfile(sys.argv[3], np.float32)
if a.size != b.size or a.size == 0: print("sizes %d and %d" % (a.size, b.size)); sys.exit(1)
e = float(np.abs(a - b).max() / np.abs(b).max())
print("rel err %.3g" % e); sys.exit(0 if e <= tol and np.isfinite(a).all() else 1)
EOF
  ); then ok; echo "ok   $1: $r (tol $2)"; else bad "$1: $r (tol $2)"; fi
}

# --- convert == random-model GGUF, byte for byte ------------------------------------
NAME_TV="Llama 3 Tiny Vocab"
rm_model --preset tiny-vocab --format hf --seed 7 -o "$tmp/tv_hf"
rm_model --preset tiny-vocab --seed 7 -o "$tmp/tv32.gguf"
"$HERD" convert "$tmp/tv_hf" "$tmp/c32.gguf" --type F32 --name "$NAME_TV" --quiet
same "convert F32" "$tmp/tv32.gguf" "$tmp/c32.gguf"
# default general.name is the folder's name; everything else the same size
"$HERD" convert "$tmp/tv_hf" "$tmp/cname.gguf" --type F32 --quiet
if "$HERD" info "$tmp/cname.gguf" 2>/dev/null | grep -q "tv_hf"; then ok; else bad "general.name is not the folder name"; fi

# tie_word_embeddings with lm_head.weight stored anyway: written as output.weight, like an untied model
cp -r "$tmp/tv_hf" "$tmp/tied_hf"
sed -i 's/"tie_word_embeddings": false/"tie_word_embeddings": true/' "$tmp/tied_hf/config.json"
grep -q '"tie_word_embeddings": true' "$tmp/tied_hf/config.json" || bad "tied_hf: config.json not edited"
"$HERD" convert "$tmp/tied_hf" "$tmp/ctied.gguf" --type F32 --name "$NAME_TV" --quiet
same "convert tied config with lm_head" "$tmp/tv32.gguf" "$tmp/ctied.gguf"

# an F16 checkpoint split in shards converts to random-model's F16 GGUF (default --type F16)
rm_model --preset tiny-vocab --format hf --type F16 --seed 5 --max-shard-size 100000 -o "$tmp/tv16_hf"
if [ -f "$tmp/tv16_hf/model.safetensors.index.json" ]; then ok; else bad "F16 folder is not sharded"; fi
rm_model --preset tiny-vocab --type F16 --seed 5 --max-shard-size 100000 -o "$tmp/tv16.gguf"
"$HERD" convert "$tmp/tv16_hf" "$tmp/c16.gguf" --name "$NAME_TV" --quiet
same "convert sharded F16" "$tmp/tv16.gguf" "$tmp/c16.gguf"
rm_model --preset tiny-vocab --format hf --type BF16 --seed 5 -o "$tmp/tvb_hf"
rm_model --preset tiny-vocab --type BF16 --seed 5 -o "$tmp/tvb.gguf"
"$HERD" convert "$tmp/tvb_hf" "$tmp/cb.gguf" --type BF16 --name "$NAME_TV" --quiet
same "convert BF16" "$tmp/tvb.gguf" "$tmp/cb.gguf"

# the real vocabulary with the tokenizer (tokenizer.ggml.* keys), tied embeddings, Q8_0
rm_model --preset tiny --format hf --seed 3 --tokenizer "$TOK" -o "$tmp/t_hf"
rm_model --preset tiny --seed 3 --tokenizer "$TOK" --type Q8_0 -o "$tmp/t8.gguf"
"$HERD" convert "$tmp/t_hf" "$tmp/ct8.gguf" --type Q8_0 --name "Llama 3 Tiny" --quiet
same "convert Q8_0 with tokenizer" "$tmp/t8.gguf" "$tmp/ct8.gguf"
if "$HERD" generate -m "$tmp/ct8.gguf" -p "Hello" -n 4 --temp 0 --ids --quiet >"$tmp/gen.txt" 2>&1 &&
   [ "$(wc -w <"$tmp/gen.txt")" -ge 4 ]; then ok; else bad "generate on the converted model"; cat "$tmp/gen.txt" >&2; fi

# --- quantize ------------------------------------------------------------------------
# Q4_K needs rows of 256: the "small" preset (D 256) with a small vocabulary
rm_model --preset small --vocab 512 --format hf --seed 11 -o "$tmp/s_hf"
rm_model --preset small --vocab 512 --seed 11 -o "$tmp/s32.gguf"
"$HERD" convert "$tmp/s_hf" "$tmp/cs32.gguf" --type F32 --name "Llama 3 Small" --quiet
same "convert small F32" "$tmp/s32.gguf" "$tmp/cs32.gguf"
logits "$tmp/s32.gguf" "$tmp/s32.f32"
for ty in Q8_0 Q4_0 Q4_K F16 BF16; do
  "$HERD" quantize "$tmp/s32.gguf" "$tmp/q_$ty.gguf" "$ty" --quiet -t 2
  "$HERD" convert "$tmp/s_hf" "$tmp/cq_$ty.gguf" --type "$ty" --name "Llama 3 Small" --quiet
  same "quantize $ty == convert --type $ty" "$tmp/q_$ty.gguf" "$tmp/cq_$ty.gguf"
  case $ty in F16|BF16) ;; *)   # random-model rounds F16/BF16 norms; quantized types keep them exact
    rm_model --preset small --vocab 512 --seed 11 --type "$ty" -o "$tmp/r_$ty.gguf"
    same "quantize $ty == random-model --type $ty" "$tmp/q_$ty.gguf" "$tmp/r_$ty.gguf" ;;
  esac
  case $ty in Q8_0) tol=2e-2 ;; Q4_0) tol=3e-1 ;; Q4_K) tol=2e-1 ;; F16) tol=2e-3 ;; BF16) tol=2e-2 ;; esac
  logits "$tmp/q_$ty.gguf" "$tmp/q_$ty.f32"
  close "$ty logits vs F32" "$tol" "$tmp/q_$ty.f32" "$tmp/s32.f32"
done
# one thread gives the same bytes; quantizing a file to its own type changes nothing
"$HERD" quantize "$tmp/s32.gguf" "$tmp/q1.gguf" Q4_K --quiet -t 1
same "quantize -t 1" "$tmp/q_Q4_K.gguf" "$tmp/q1.gguf"
"$HERD" quantize "$tmp/q_Q8_0.gguf" "$tmp/qq.gguf" Q8_0 --quiet
same "Q8_0 -> Q8_0" "$tmp/q_Q8_0.gguf" "$tmp/qq.gguf"
# from a quantized input: Q8_0 -> Q4_0 re-quantizes the dequantized values (a valid model)
"$HERD" quantize "$tmp/q_Q8_0.gguf" "$tmp/q84.gguf" Q4_0 --quiet
logits "$tmp/q84.gguf" "$tmp/q84.f32"
close "Q8_0 -> Q4_0 logits vs F32" 3e-1 "$tmp/q84.f32" "$tmp/s32.f32"
# progress goes to stderr, nothing to stdout
"$HERD" quantize "$tmp/s32.gguf" "$tmp/qp.gguf" Q8_0 -t 2 >"$tmp/qout.txt" 2>"$tmp/qerr.txt"
if [ ! -s "$tmp/qout.txt" ] && grep -q "tensor 1/" "$tmp/qerr.txt"; then ok; else bad "quantize progress"; fi

# --- bad input --------------------------------------------------------------------------
mkdir -p "$tmp/empty"
expect_exit 1 convert "$tmp/empty" "$tmp/x.gguf"                       # no config.json
expect_exit 1 convert "$tmp/nonexistent" "$tmp/x.gguf"
cp -r "$tmp/tv_hf" "$tmp/arch_hf"
sed -i 's/"model_type": "llama"/"model_type": "mistral3"/' "$tmp/arch_hf/config.json"
grep -q '"model_type": "mistral3"' "$tmp/arch_hf/config.json" || bad "arch_hf: config.json not edited"
expect_exit 1 convert "$tmp/arch_hf" "$tmp/x.gguf"                     # unknown architecture
cp -r "$tmp/tv_hf" "$tmp/shape_hf"
sed -i 's/"intermediate_size": 128/"intermediate_size": 256/' "$tmp/shape_hf/config.json"
grep -q '"intermediate_size": 256' "$tmp/shape_hf/config.json" || bad "shape_hf: config.json not edited"
expect_exit 1 convert "$tmp/shape_hf" "$tmp/x.gguf"                    # wrong shapes
cp -r "$tmp/tv_hf" "$tmp/layers_hf"
sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$tmp/layers_hf/config.json"
grep -q '"num_hidden_layers": 3' "$tmp/layers_hf/config.json" || bad "layers_hf: config.json not edited"
expect_exit 1 convert "$tmp/layers_hf" "$tmp/x.gguf"                   # missing tensors
cp -r "$tmp/tv_hf" "$tmp/trunc_hf"
truncate -s 100000 "$tmp/trunc_hf/model.safetensors"
expect_exit 1 convert "$tmp/trunc_hf" "$tmp/x.gguf"                    # truncated weights
expect_exit 2 convert "$tmp/tv_hf" "$tmp/x.gguf" --type Q5_1            # unknown type
expect_exit 2 convert "$tmp/tv_hf" "$tmp/x.gguf" --type Q4_K            # rows of 64
expect_exit 2 convert "$tmp/tv_hf"                                      # missing output
expect_exit 2 quantize "$tmp/s32.gguf" "$tmp/x.gguf" Q9_9               # unknown type
expect_exit 2 quantize "$tmp/tv32.gguf" "$tmp/x.gguf" Q4_K              # rows of 64
expect_exit 2 quantize "$tmp/s32.gguf" "$tmp/x.gguf"                    # missing type
expect_exit 1 quantize "$tmp/nonexistent.gguf" "$tmp/x.gguf" Q8_0
head -c 5000 "$tmp/s32.gguf" >"$tmp/trunc.gguf"
expect_exit 1 quantize "$tmp/trunc.gguf" "$tmp/x.gguf" Q8_0            # truncated file
if [ -e "$tmp/x.gguf" ]; then bad "a failed run left $tmp/x.gguf"; else ok; fi

# --- bench ---------------------------------------------------------------------------------
"$HERD" bench -m "$tmp/q_Q8_0.gguf" -p 32 -n 8 -t 2 -r 2 --json >"$tmp/bench.json" 2>"$tmp/bench.err"
if "$PY" - "$tmp/bench.json" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().strip().splitlines()
assert len(lines) == 1, lines
j = json.loads(lines[0])
for k in ("prefill_tokens_per_s", "decode_tokens_per_s", "n_params", "file_bytes"):
    assert isinstance(j[k], (int, float)) and j[k] > 0, (k, j.get(k))
assert j["type"] == "Q8_0" and j["n_threads"] == 2 and j["n_prompt"] == 32 and j["n_gen"] == 8, j
EOF
then ok; else bad "bench --json: $(cat "$tmp/bench.json" "$tmp/bench.err")"; fi
"$HERD" bench -m "$tmp/q_Q8_0.gguf" -p 16 -n 4 -r 1 >"$tmp/bench.txt" 2>/dev/null
if grep -q "^prefill .*tokens/s" "$tmp/bench.txt" && grep -q "^decode .*tokens/s" "$tmp/bench.txt"; then ok; else
  bad "bench text output"; cat "$tmp/bench.txt" >&2; fi
expect_exit 1 bench -m "$tmp/nonexistent.gguf" -p 8 -n 8
expect_exit 2 bench -m "$tmp/q_Q8_0.gguf" -p -3

echo "test_convert: $pass passed, $fail failed"
[ "$fail" = 0 ]
