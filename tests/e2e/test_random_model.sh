#!/usr/bin/env bash
# tests/e2e/test_random_model.sh — `herd random-model` end to end: GGUF and HF
# checkpoints checked by tests/e2e/random_model_ref.py (hand-written safetensors and
# GGUF parsers, the generator re-implemented, a float64 forward pass over both files),
# sharding, determinism, quantized types, and the exit codes of bad options.
set -euo pipefail
HERD=${HERD:?set HERD to the herd binary}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
rm_model() { "$HERD" random-model --quiet --no-tokenizer "$@"; }
check_ref() { # hf_dir gguf seed
  if "$PY" "$SRC/tests/e2e/random_model_ref.py" "$@" >"$tmp/ref.txt" 2>&1; then ok; else
    bad "random_model_ref.py $*"; sed 's/^/  | /' "$tmp/ref.txt" >&2; fi
}
expect_exit() { # code, args...
  local want=$1; shift
  set +e; "$HERD" random-model --quiet "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; local got=$?; set -e
  if [ "$got" = "$want" ] && [ "$(wc -l <"$tmp/err.txt")" = 1 ]; then ok; else
    bad "random-model $* exited $got (want $want) with stderr:"; sed 's/^/  | /' "$tmp/err.txt" >&2; fi
}

# --- the same model in both layouts (small vocabulary, untied head) -------------
rm_model --preset tiny-vocab --format hf --seed 7 -o "$tmp/tv_hf"
rm_model --preset tiny-vocab --format gguf --seed 7 -o "$tmp/tv.gguf"
check_ref "$tmp/tv_hf" "$tmp/tv.gguf" 7
rm_model --preset tiny-vocab --format hf --type BF16 --seed 9 -o "$tmp/tvb_hf"
rm_model --preset tiny-vocab --format gguf --type BF16 --seed 9 -o "$tmp/tvb.gguf"
check_ref "$tmp/tvb_hf" "$tmp/tvb.gguf" 9

# --- the real vocabulary, tied embeddings (the demo's model), sharded HF ---------
rm_model --preset tiny --format hf --seed 3 --max-shard-size 4000000 -o "$tmp/t_hf"
rm_model --preset tiny --format gguf --seed 3 --max-shard-size 4000000 -o "$tmp/t.gguf"
n_shards=$(ls "$tmp/t_hf" | grep -c '^model-0000[0-9]-of-0000[0-9]\.safetensors$' || true)
if [ "$n_shards" -ge 2 ] && [ -f "$tmp/t_hf/model.safetensors.index.json" ] && [ ! -e "$tmp/t_hf/model.safetensors" ]; then ok; else
  bad "tiny with --max-shard-size 4000000: $n_shards shards"; ls "$tmp/t_hf" >&2; fi
check_ref "$tmp/t_hf" "$tmp/t.gguf" 3
# tied: no lm_head / output tensor; F32 tiny is ~33 MB
if grep -q lm_head "$tmp/t_hf/model.safetensors.index.json"; then bad "tied model has lm_head.weight"; else ok; fi
size=$(stat -c %s "$tmp/t.gguf")
if [ "$size" -gt 32000000 ] && [ "$size" -lt 35000000 ]; then ok; else bad "tiny F32 GGUF is $size bytes"; fi

# rewriting the folder unsharded removes the old shards and index
rm_model --preset tiny --format hf --seed 3 -o "$tmp/t_hf"
if [ -f "$tmp/t_hf/model.safetensors" ] && ! ls "$tmp/t_hf" | grep -q -e '-of-' -e index; then ok; else
  bad "stale shards left in $tmp/t_hf"; ls "$tmp/t_hf" >&2; fi
check_ref "$tmp/t_hf" "$tmp/t.gguf" 3

# --- determinism -----------------------------------------------------------------
rm_model --preset tiny-vocab --seed 7 -t 1 -o "$tmp/again.gguf"
if cmp -s "$tmp/tv.gguf" "$tmp/again.gguf"; then ok; else bad "same seed, 1 thread: GGUF bytes differ"; fi
rm_model --preset tiny-vocab --format hf --seed 7 -t 1 -o "$tmp/again_hf"
if cmp -s "$tmp/tv_hf/model.safetensors" "$tmp/again_hf/model.safetensors"; then ok; else bad "same seed: safetensors differ"; fi
rm_model --preset tiny-vocab --seed 8 -o "$tmp/other.gguf"
if cmp -s "$tmp/tv.gguf" "$tmp/other.gguf"; then bad "seeds 7 and 8 give the same file"; else ok; fi

# --- other types -------------------------------------------------------------------
for t in F16 BF16; do
  rm_model --preset tiny-vocab --format hf --type $t --seed 7 -o "$tmp/hf_$t"
  if "$PY" - "$tmp/hf_$t" "$t" <<'EOF'; then ok; else bad "HF $t"; fi
import json, struct, sys
d, t = sys.argv[1], sys.argv[2]
cfg = json.load(open(d + "/config.json"))
raw = open(d + "/model.safetensors", "rb").read()
hdr = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
hdr.pop("__metadata__")
assert cfg["torch_dtype"] == {"F16": "float16", "BF16": "bfloat16"}[t], cfg["torch_dtype"]
assert all(v["dtype"] == t for v in hdr.values()), "dtypes"
EOF
done
for t in F16 BF16 Q8_0 Q4_0; do
  rm_model --preset tiny-vocab --type $t --seed 7 -o "$tmp/q_$t.gguf"
  # the same values as the F32 file: rounded (F16, BF16) or within Q8_0's step
  if "$PY" - "$SRC/tests/e2e" "$tmp/tv.gguf" "$tmp/q_$t.gguf" "$t" <<'EOF'; then ok; else bad "GGUF $t values"; fi
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from random_model_ref import read_gguf
kv32, _, f32 = read_gguf(sys.argv[2])
kv, _, q = read_gguf(sys.argv[3])
t = sys.argv[4]
assert kv["general.file_type"][1] == {"F16": 1, "BF16": 32, "Q8_0": 7, "Q4_0": 2}[t], kv["general.file_type"]
for name, (tn, ne, arr) in q.items():
    want_t = "F32" if len(ne) == 1 else t
    assert tn == want_t, (name, tn, want_t)
    ref = f32[name][2]
    if arr is None:
        continue
    if tn == "F16":
        assert np.array_equal(arr, ref.astype(np.float16).astype(np.float32)), name
    elif tn == "BF16":
        assert np.array_equal(arr, torch.tensor(ref).to(torch.bfloat16).float().numpy()), name
    elif tn == "Q8_0":
        step = np.abs(ref.reshape(-1, 32)).max(axis=1, keepdims=True) / 127
        assert (np.abs(arr.reshape(-1, 32) - ref.reshape(-1, 32)) <= step * 0.6 + 1e-7).all(), name
    elif t in ("F16", "BF16") and name != "rope_freqs.weight":
        # F32 norms of an F16/BF16 model hold the HF checkpoint's rounded values
        r = ref.astype(np.float16).astype(np.float32) if t == "F16" else torch.tensor(ref).to(torch.bfloat16).float().numpy()
        assert np.array_equal(arr, r), name
    else:
        assert np.array_equal(arr, ref), name
EOF
  "$HERD" info "$tmp/q_$t.gguf" >"$tmp/info_$t.txt" 2>&1 || true
  if tr -s ' ' <"$tmp/info_$t.txt" | grep -q "blk.0.attn_q.weight $t " &&
     tr -s ' ' <"$tmp/info_$t.txt" | grep -q "blk.0.attn_norm.weight F32 " &&
     tr -s ' ' <"$tmp/info_$t.txt" | grep -q "rope_freqs.weight F32 "; then ok; else
    bad "GGUF $t tensor types"; sed 's/^/  | /' "$tmp/info_$t.txt" | head -40 >&2; fi
done
rm_model --preset small --vocab 256 --type Q4_K -o "$tmp/q4k.gguf"
"$HERD" info "$tmp/q4k.gguf" >"$tmp/info_q4k.txt" 2>&1 || true
if tr -s ' ' <"$tmp/info_q4k.txt" | grep -q "token_embd.weight Q4_K " &&
   tr -s ' ' <"$tmp/info_q4k.txt" | grep -q "blk.1.ffn_down.weight Q4_K "; then ok; else
  bad "small Q4_K"; sed 's/^/  | /' "$tmp/info_q4k.txt" | head -40 >&2; fi

# --- with the real tokenizer (the demo's model) -----------------------------------
TOK=${HERD_FIXTURES:-$SRC/../shared/fixtures}/tokenizer/llama3_tokenizer.model
if [ -f "$TOK" ]; then
  "$HERD" random-model --preset tiny --format gguf --type Q8_0 --seed 1 --tokenizer "$TOK" -o "$tmp/demo.gguf" 2>"$tmp/progress.txt"
  if grep -q "^tensor 21/21 " "$tmp/progress.txt"; then ok; else bad "no progress lines"; cat "$tmp/progress.txt" >&2; fi
  "$HERD" info "$tmp/demo.gguf" >"$tmp/demo.txt"
  if tr -s ' ' <"$tmp/demo.txt" | grep -q "tokenizer.ggml.tokens arr\[str\] \[128256 strings\]" &&
     tr -s ' ' <"$tmp/demo.txt" | grep -q "tokenizer.ggml.eos_token_id u32 128001"; then ok; else
    bad "demo.gguf tokenizer keys"; head -40 "$tmp/demo.txt" >&2; fi
  rm_model --preset tiny --format gguf --seed 1 --tokenizer "$TOK" -o "$tmp/tk.gguf"
  rm_model --preset tiny --format hf --seed 1 --tokenizer "$TOK" -o "$tmp/tk_hf"
  if [ -s "$tmp/tk_hf/tokenizer.json" ] && [ -s "$tmp/tk_hf/tokenizer_config.json" ]; then ok; else bad "HF tokenizer files"; fi
  expect_exit 2 --preset tiny-vocab --tokenizer "$TOK" -o "$tmp/x.gguf"
  # the decoder gives the same sampled continuation from both files
  if "$HERD" --help | grep -q '^  generate '; then
    for m in tk.gguf tk_hf; do
      "$HERD" generate -m "$tmp/$m" -p "The capital of France is" -n 12 --temp 0.8 --seed 3 --ids --quiet \
        | tail -n 1 >"$tmp/ids_$m.txt"
    done
    if [ -s "$tmp/ids_tk.gguf.txt" ] && cmp -s "$tmp/ids_tk.gguf.txt" "$tmp/ids_tk_hf.txt"; then ok; else
      bad "generate differs between GGUF and HF"; cat "$tmp"/ids_*.txt >&2; fi
  fi
else
  echo "note: $TOK missing, tokenizer checks skipped" >&2
fi

# --- --dry-run: the plan on stdout, nothing written ----------------------------------
"$HERD" random-model --preset llama-3.2-3b --format hf --type BF16 --dry-run -o "$tmp/dry" >"$tmp/dry.txt"
if [ "$(wc -l <"$tmp/dry.txt")" = 2 ] && grep -q "model-00001-of-00002.safetensors.187 tensors.4965777408 bytes" "$tmp/dry.txt" &&
   [ ! -e "$tmp/dry" ]; then ok; else bad "--dry-run 3B"; cat "$tmp/dry.txt" >&2; fi

# --- usage errors (exit 2, one line) and unwritable output (exit 1) ----------------
expect_exit 2 --preset tiny
expect_exit 2 --preset nope -o "$tmp/x.gguf"
expect_exit 2 --arch gpt2 -o "$tmp/x.gguf"
expect_exit 2 --format onnx -o "$tmp/x.gguf"
expect_exit 2 --format hf --type Q8_0 -o "$tmp/x"
expect_exit 2 --type Q3_K -o "$tmp/x.gguf"
expect_exit 2 --preset tiny --type Q4_K -o "$tmp/x.gguf"
expect_exit 2 --vocab 0 -o "$tmp/x.gguf"
expect_exit 2 --bogus -o "$tmp/x.gguf"
expect_exit 1 --preset tiny-vocab -o "$tmp/no/such/dir/x.gguf"
if [ ! -e "$tmp/x.gguf" ]; then ok; else bad "a failed run left $tmp/x.gguf"; fi

# --- the default tokenizer: $HERD_TOKENIZER (else the shared fixtures) for real-vocab presets
if [ -f "$TOK" ]; then
  HERD_TOKENIZER="$TOK" "$HERD" random-model --quiet --preset tiny -o "$tmp/deftok.gguf"
  if "$HERD" info "$tmp/deftok.gguf" | grep -q 'tokenizer.ggml.tokens .*128256 strings'; then ok; else bad "no default tokenizer stored"; fi
  HERD_TOKENIZER="$TOK" "$HERD" random-model --quiet --preset tiny --no-tokenizer -o "$tmp/notok.gguf"
  if ! "$HERD" info "$tmp/notok.gguf" | grep -q 'tokenizer.ggml'; then ok; else bad "--no-tokenizer stored one"; fi
  HERD_TOKENIZER="$TOK" "$HERD" random-model --quiet --preset tiny-vocab -o "$tmp/tvdef.gguf"
  if ! "$HERD" info "$tmp/tvdef.gguf" | grep -q 'tokenizer.ggml'; then ok; else bad "tiny-vocab got the 128k tokenizer"; fi
fi

echo "test_random_model: $pass passed, $fail failed"
[ "$fail" = 0 ]
