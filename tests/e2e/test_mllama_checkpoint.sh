#!/usr/bin/env bash
# tests/e2e/test_mllama_checkpoint.sh — Llama 3.2 Vision checkpoints from the CLI:
# `herd random-model --arch mllama` (HF folder and GGUF), `herd convert` of the folder,
# `herd quantize`, `herd info`, the published 11B shapes (dry run) and the errors.
# File contents are checked by tests/e2e/mllama_checkpoint_ref.py (hand-written readers,
# the generator re-implemented, names and shapes from SPEC §2.9); the forward pass of the
# same checkpoints is tests/parity/test_mllama.sh.
set -euo pipefail
HERD=${HERD:?set HERD to the herd binary}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PYTHON:-/usr/bin/python3}
FIX=${HERD_FIXTURES:-$SRC/../shared/fixtures}
TOK="$FIX/tokenizer/llama3_tokenizer.model"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
rm_model() { "$HERD" random-model --quiet --arch mllama "$@"; }
check_ref() { # hf_dir gguf seed
  if "$PY" "$SRC/tests/e2e/mllama_checkpoint_ref.py" "$@" >"$tmp/ref.txt" 2>&1; then
    ok "mllama_checkpoint_ref.py $(basename "$1") $(basename "$2"):"; sed 's/^/       /' "$tmp/ref.txt"
  else bad "mllama_checkpoint_ref.py $*"; sed 's/^/  | /' "$tmp/ref.txt" >&2; fi
}
expect_fail() { # code what, args...
  local want=$1 what=$2; shift 2
  set +e; "$HERD" "$@" --quiet >"$tmp/out.txt" 2>"$tmp/err.txt"; local got=$?; set -e
  if [ "$got" = "$want" ] && [ "$(wc -l <"$tmp/err.txt")" = 1 ] && grep -q -- "$what" "$tmp/err.txt"; then
    ok "error ($got): $(cat "$tmp/err.txt")"
  else
    bad "herd $* exited $got (want $want, one line naming '$what'):"; sed 's/^/  | /' "$tmp/err.txt" >&2
  fi
}

# ---- tiny: HF folder with the tokenizer, GGUF, both checked by hand -------------------
rm_model --preset tiny --format hf --seed 4 --tokenizer "$TOK" -o "$tmp/hf"
rm_model --preset tiny --format gguf --seed 4 --tokenizer "$TOK" -o "$tmp/m.gguf"
check_ref "$tmp/hf" "$tmp/m.gguf" 4
for f in config.json generation_config.json preprocessor_config.json model.safetensors tokenizer.json \
         tokenizer_config.json; do
  [ -f "$tmp/hf/$f" ] || bad "$f missing from the HF folder"
done
ids=$("$HERD" tokenize -m "$tmp/hf" --special '<|image|>What is this?')
[ "${ids%% *}" = 128256 ] && ok "tokenize (HF folder): <|image|> -> 128256 ($ids)" || bad "tokenize HF: '$ids'"
ids=$("$HERD" tokenize -m "$tmp/m.gguf" --special '<|image|>What is this?')
[ "${ids%% *}" = 128256 ] && ok "tokenize (GGUF): <|image|> -> 128256" || bad "tokenize GGUF: '$ids'"

# a tokenizer that already has <|image|> (the folder's own) is taken as it is: the same GGUF
rm_model --preset tiny --format gguf --seed 4 --tokenizer "$tmp/hf" -o "$tmp/m2.gguf"
cmp -s "$tmp/m2.gguf" "$tmp/m.gguf" && ok "--tokenizer with <|image|> already in it: the same GGUF" ||
  bad "--tokenizer of the written folder gives another GGUF"

# BF16 both ways (HF rounding of the generator's values, GGUF from the same values)
rm_model --preset tiny --format hf --type BF16 --seed 6 --no-tokenizer -o "$tmp/hfb"
rm_model --preset tiny --format gguf --type BF16 --seed 6 --no-tokenizer -o "$tmp/mb.gguf"
check_ref "$tmp/hfb" "$tmp/mb.gguf" 6

# ---- herd convert: the folder becomes the same GGUF byte for byte ----------------------
"$HERD" convert "$tmp/hf" "$tmp/cv.gguf" --type F32 --name "Llama 3.2 Vision Tiny" --quiet
cmp -s "$tmp/cv.gguf" "$tmp/m.gguf" && ok "convert HF -> GGUF F32 == random-model GGUF (byte for byte)" ||
  bad "convert of the folder differs from random-model's GGUF"
"$HERD" convert "$tmp/hfb" "$tmp/cvb.gguf" --type BF16 --name "Llama 3.2 Vision Tiny" --quiet
cmp -s "$tmp/cvb.gguf" "$tmp/mb.gguf" && ok "convert BF16 folder -> GGUF BF16 == random-model GGUF" ||
  bad "BF16 convert differs"
# sharded folder: the GGUF holds the tensors in the order of the shards (as convert_hf_to_gguf.py),
# the order random-model's GGUF gives for a BF16 checkpoint split at half the size
rm_model --preset tiny --format hf --seed 4 --tokenizer "$TOK" --max-shard-size 20000000 -o "$tmp/hfs"
rm_model --preset tiny --format gguf --seed 4 --tokenizer "$TOK" --max-shard-size 10000000 -o "$tmp/ms.gguf"
n=$(ls "$tmp/hfs" | grep -c -- '-of-' || true)
[ "$n" -ge 2 ] && [ -f "$tmp/hfs/model.safetensors.index.json" ] && ok "sharded folder: $n shards + index" ||
  bad "sharded folder: $n shards"
"$HERD" convert "$tmp/hfs" "$tmp/cvs.gguf" --type F32 --name "Llama 3.2 Vision Tiny" --quiet
cmp -s "$tmp/cvs.gguf" "$tmp/ms.gguf" && ok "convert of the sharded folder == random-model's GGUF in that shard order" ||
  bad "sharded convert differs"

# names as newer transformers versions save the model (model.language_model.*, lm_head.weight, ...)
mkdir "$tmp/hfn"
cp "$tmp/hf/"*.json "$tmp/hfn/"
"$PY" - "$tmp/hf/model.safetensors" "$tmp/hfn/model.safetensors" <<'PYEOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
hdr = json.loads(data[8:8 + n])
def rename(k):
    for a, b in (("language_model.model.", "model.language_model."), ("language_model.lm_head.", "lm_head."),
                 ("vision_model.", "model.vision_model."), ("multi_modal_projector.", "model.multi_modal_projector.")):
        if k.startswith(a):
            return b + k[len(a):]
    return k
h = json.dumps({rename(k): v for k, v in hdr.items()}, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + data[8 + n:])
PYEOF
"$HERD" convert "$tmp/hfn" "$tmp/cvn.gguf" --type F32 --name "Llama 3.2 Vision Tiny" --quiet
cmp -s "$tmp/cvn.gguf" "$tmp/m.gguf" && ok "convert of a folder with newer transformers' names == the same GGUF" ||
  bad "convert with newer transformers' names differs"

# ---- quantize: weights Q4_0 / Q8_0, the patch embedding F16, 1-D F32 ----------------------
"$HERD" quantize "$tmp/m.gguf" "$tmp/q4.gguf" Q4_0 --quiet
rm_model --preset tiny --format gguf --type Q4_0 --seed 4 --tokenizer "$TOK" -o "$tmp/rq4.gguf"
cmp -s "$tmp/q4.gguf" "$tmp/rq4.gguf" && ok "quantize Q4_0 == random-model --type Q4_0 (byte for byte)" ||
  bad "quantize Q4_0 differs from random-model Q4_0"
"$HERD" convert "$tmp/hf" "$tmp/cq8.gguf" --type Q8_0 --quiet
"$HERD" info --json "$tmp/q4.gguf" >"$tmp/q4.json"
"$HERD" info --json "$tmp/cq8.gguf" >"$tmp/q8.json"
if "$PY" - "$tmp/q4.json" Q4_0 "$tmp/q8.json" Q8_0 <<'PYEOF'
import json, sys
for path, q in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    info = json.load(open(path))
    kv = {m["key"]: m.get("value") for m in info["metadata"]}
    assert kv["general.architecture"] == "mllama", kv["general.architecture"]
    for t in info["tensors"]:
        n, ty, shape = t["name"], t["type"], t["shape"]
        want = "F16" if n == "v.patch_embd.weight" else "F32" if len(shape) == 1 or n == "rope_freqs.weight" else q
        assert ty == want, f"{path}: {n} is {ty}, expected {want}"
PYEOF
then ok "Q4_0 / Q8_0 files: matrices quantized, v.patch_embd.weight F16, 1-D tensors F32"
else bad "quantized tensor types"; fi
expect_fail 2 "Q4_K needs multiples of 256" quantize "$tmp/m.gguf" "$tmp/qk.gguf" Q4_K

# ---- herd info -----------------------------------------------------------------------------
"$HERD" info "$tmp/m.gguf" >"$tmp/info.txt"
grep -q 'general.architecture *str *mllama' "$tmp/info.txt" && grep -q 'mllama.attention.cross_attention_layers.*\[3, 8\]' "$tmp/info.txt" &&
  grep -q 'blk.3.cross_attn_q_proj.weight' "$tmp/info.txt" && grep -q 'v.patch_embd.weight' "$tmp/info.txt" &&
  ok "info shows the mllama keys, cross layers and both towers' tensors" || bad "info output"

# ---- the published 11B-Vision-Instruct shapes: dry runs (nothing written) -----------------
want=$("$PY" - <<'PYEOF'
# SPEC §2.9 shapes: vision 1280 wide, 32 + 8 layers, tiles of 560 (P 1601), 9 aspect-ratio rows;
# text D 4096, 40 layers (cross at 3, 8, ..., 38), H 32, G 8, d 128, F 14336, V 128256 + 8
W, P, T, A, Fv, D, O = 1280, 1601, 4, 9, 5120, 4096, 7680
vl = 4 * W * W + Fv * W + Fv + W * Fv + W + 4 * W
vision = W + W * 3 * 14 * 14 + 1 + P * W + A * T * P * W + 2 * (1 + A * T * W) + 4 * W + 32 * vl + 8 * (vl + 2)
F, V, d, H, G = 14336, 128256, 128, 32, 8
self_l = 2 * D * D + 2 * G * d * D + 3 * D * F + 2 * D
cross_l = self_l + 2 * d + 2
text = (V + 8) * D + 32 * self_l + 8 * cross_l + D + V * D
n = vision + text + D * O + D
print(f"906 {2 * n}")
PYEOF
)
got=$("$HERD" random-model --arch mllama --preset llama-3.2-11b-vision --format hf --type BF16 --dry-run \
      --no-tokenizer -o "$tmp/big" | awk -F'\t' '{n += $2; sub(/ bytes.*/, "", $3); b += $3} END {printf "%d %.0f\n", n, b}')
[ "$got" = "$want" ] && ok "llama-3.2-11b-vision HF BF16 (dry run): tensors and bytes as SPEC §2.9 implies ($got)" ||
  bad "11B dry run: got '$got', SPEC gives '$want'"
shards=$("$HERD" random-model --arch mllama --preset llama-3.2-11b-vision --format hf --type BF16 --dry-run \
      --no-tokenizer -o "$tmp/big" | wc -l)
[ "$shards" = 5 ] && ok "11B BF16 splits into 5 shards of at most 5 GB" || bad "11B: $shards shards"
g=$("$HERD" random-model --arch mllama --preset llama-3.2-11b-vision --type Q4_0 --dry-run --no-tokenizer \
      -o "$tmp/big.gguf" | awk -F'\t' '{print $2}')
[ "$g" = "907 tensors" ] && ok "11B GGUF Q4_0 (dry run): $g (906 + rope_freqs)" || bad "11B GGUF: '$g'"
[ ! -e "$tmp/big" ] && [ ! -e "$tmp/big.gguf" ] && ok "dry runs wrote nothing" || bad "a dry run wrote files"

# ---- errors: one line naming the file and the problem ------------------------------------
expect_fail 2 "no --vocab" random-model --arch mllama --vocab 512 -o "$tmp/x.gguf"
expect_fail 2 "unknown --preset" random-model --arch mllama --preset llama-3.1-8b -o "$tmp/x.gguf"
cp -r "$tmp/hfb" "$tmp/broken"
sed -i 's/"cross_attention_layers": \[/"cross_attention_layers": [\n      99,/' "$tmp/broken/config.json"
expect_fail 1 "cross_attention_layers" convert "$tmp/broken" "$tmp/x.gguf"
cp "$tmp/hfb/config.json" "$tmp/broken/config.json"
sed -i 's/"intermediate_size": 128,/"intermediate_size": 96,/' "$tmp/broken/config.json"
expect_fail 1 "mlp.gate_proj.weight has shape \[128, 64\], config.json implies \[96, 64\]" convert "$tmp/broken" "$tmp/x.gguf"
cp "$tmp/hfb/config.json" "$tmp/broken/config.json"
sed -i 's/"num_global_layers": 2,/"num_global_layers": 1,/' "$tmp/broken/config.json"
expect_fail 1 "global_transformer.layers.1" convert "$tmp/broken" "$tmp/x.gguf"
[ ! -e "$tmp/x.gguf" ] && ok "failed runs left no output file" || bad "a failed run left $tmp/x.gguf"

echo "test_mllama_checkpoint: $pass passed, $fail failed"
[ "$fail" = 0 ]
