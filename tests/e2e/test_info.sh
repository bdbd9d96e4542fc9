#!/usr/bin/env bash
# tests/e2e/test_info.sh — `herd info` on GGUF and safetensors files made by
# tests/fuzz/make_seeds.py (pure Python, independent of herd's writers), in text
# and --json; exit codes 1 (bad file, one line on stderr) and 2 (usage).
set -euo pipefail
HERD=${HERD:?set HERD to the herd binary}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
expect_line() { # file, fixed string
  if grep -qF -- "$2" "$1"; then ok; else bad "$1 lacks: $2"; sed 's/^/  | /' "$1" >&2; fi
}
expect_row() { # file, table row with single spaces between columns
  if tr -s ' ' <"$1" | grep -qxF -- " $2"; then ok; else bad "$1 lacks row: $2"; sed 's/^/  | /' "$1" >&2; fi
}

"$PY" "$SRC/tests/fuzz/make_seeds.py" "$tmp/seeds"
g=$tmp/seeds/gguf s=$tmp/seeds/safetensors

# --- GGUF text ---------------------------------------------------------------
"$HERD" info "$g/kv_all_types.gguf" >"$tmp/kv.txt"
expect_line "$tmp/kv.txt" "$g/kv_all_types.gguf: GGUF v3, 18 metadata keys, 0 tensors, alignment 32, 576 bytes"
expect_line "$tmp/kv.txt" "u64                    u64           9223372036854775808"
expect_line "$tmp/kv.txt" "i64                    i64           -1099511627776"
expect_line "$tmp/kv.txt" "f32                    f32           0.5"
expect_line "$tmp/kv.txt" "bool                   bool          true"
expect_line "$tmp/kv.txt" "tokenizer.ggml.tokens  arr[str]      [<|begin_of_text|>, , Ġthe, 中]"
expect_line "$tmp/kv.txt" "flags                  arr[bool]     [true, false]"
expect_line "$tmp/kv.txt" "total: 0 tensors, 0 parameters, 0 bytes"

"$HERD" info -m "$g/tensors.gguf" >"$tmp/t.txt"
expect_line "$tmp/t.txt" "GGUF v3, 1 metadata keys, 9 tensors, alignment 32"
expect_row "$tmp/t.txt" "blk.0.attn_q.weight Q8_0 [32, 2] 68 64"
expect_row "$tmp/t.txt" "x.q3k Q3_K [256] 110 864"
expect_row "$tmp/t.txt" "x.bf16 BF16 [2, 2, 2, 2] 32 576"
params=$((8 * 4 + 64 + 256 + 256 + 8 + 16 + 256 + 64 + 256))
expect_line "$tmp/t.txt" "total: 9 tensors, $params parameters,"

"$HERD" info "$g/v2.gguf" >"$tmp/v2.txt"
expect_line "$tmp/v2.txt" "GGUF v2, 5 metadata keys, 1 tensors"

# long arrays are summarised: a 300-token vocabulary
"$PY" - "$tmp/vocab.gguf" <<'EOF'
import struct, sys
toks = ["<|begin_of_text|>"] + ["t%d" % i for i in range(299)]
kv = struct.pack("<Q", 21) + b"tokenizer.ggml.tokens" + struct.pack("<IIQ", 9, 8, len(toks))
kv += b"".join(struct.pack("<Q", len(t)) + t.encode() for t in toks)
kv += struct.pack("<Q", 5) + b"chat!" + struct.pack("<I", 8) + struct.pack("<Q", 200) + b"x" * 200
open(sys.argv[1], "wb").write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + kv)
EOF
"$HERD" info "$tmp/vocab.gguf" >"$tmp/vocab.txt"
expect_line "$tmp/vocab.txt" "[300 strings] <|begin_of_text|>, t0, t1, t2, ..."
expect_line "$tmp/vocab.txt" "... (200 bytes)"

# --- GGUF JSON -----------------------------------------------------------------
"$HERD" info --json "$g/tensors.gguf" >"$tmp/t.json"
"$HERD" info --json "$tmp/vocab.gguf" >"$tmp/vocab.json"
"$HERD" info --json "$g/kv_all_types.gguf" >"$tmp/kv.json"
if "$PY" - "$tmp" <<'EOF'
import json, sys
d = sys.argv[1]
t = json.load(open(d + "/t.json"))
assert t["format"] == "gguf" and t["version"] == 3 and t["n_tensors"] == 9, t
q = [x for x in t["tensors"] if x["name"] == "blk.0.attn_q.weight"][0]
assert q == {"name": "blk.0.attn_q.weight", "type": "Q8_0", "shape": [32, 2], "bytes": 68, "offset": q["offset"]}, q
assert all(x["offset"] % 32 == 0 for x in t["tensors"])
v = json.load(open(d + "/vocab.json"))
m = v["metadata"][0]
assert m["key"] == "tokenizer.ggml.tokens" and m["count"] == 300 and m["elem_type"] == "str", m
assert m["head"][:2] == ["<|begin_of_text|>", "t0"] and len(m["head"]) == 8, m
assert v["metadata"][1]["value"] == "x" * 200
k = {m["key"]: m for m in json.load(open(d + "/kv.json"))["metadata"]}
assert k["u64"]["value"] == 9223372036854775808 and k["i64"]["value"] == -1099511627776
assert k["bool"]["value"] is True and k["f64"]["value"] == 1e-300
assert k["tokenizer.ggml.tokens"]["value"] == ["<|begin_of_text|>", "", "\u0120the", "\u4e2d"]
assert k["big"]["value"] == [4611686018427387904] and k["empty"]["value"] == []
EOF
then ok; else bad "GGUF --json content"; fi

# --- safetensors -------------------------------------------------------------------
"$HERD" info "$s/others.safetensors" >"$tmp/o.txt"
expect_line "$tmp/o.txt" "safetensors, 1 file, 0 metadata keys, 5 tensors"
expect_row "$tmp/o.txt" "i I64* [2] 16 0"
expect_line "$tmp/o.txt" "* 5 tensors with a dtype herd cannot compute with"
"$HERD" info "$s/floats.safetensors" >"$tmp/f.txt"
expect_line "$tmp/f.txt" "  format      str   pt"
expect_row "$tmp/f.txt" "model.embed_tokens.weight BF16 [4, 3] 24 0"
expect_row "$tmp/f.txt" "h F16 [2, 2] 8 36"
mkdir "$tmp/ckpt"
cp "$s/floats.safetensors" "$tmp/ckpt/model-00001-of-00002.safetensors"
cp "$s/others.safetensors" "$tmp/ckpt/model-00002-of-00002.safetensors"
"$HERD" info --json "$tmp/ckpt" >"$tmp/ckpt.json"
if "$PY" - "$tmp/ckpt.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format"] == "safetensors" and j["n_tensors"] == 8, j
e = {t["name"]: t for t in j["tensors"]}
assert e["model.embed_tokens.weight"]["shape"] == [4, 3] and e["model.embed_tokens.weight"]["usable"] is True
assert e["i"]["type"] == "I64" and e["i"]["usable"] is False
assert e["i"]["file"].endswith("/model-00002-of-00002.safetensors")
assert j["metadata"] == [{"key": "format", "type": "str", "value": "pt"}]
EOF
then ok; else bad "safetensors --json content"; fi

# --- errors --------------------------------------------------------------------------
printf 'GGUF\3\0\0\0' >"$tmp/cut.gguf"
set +e
"$HERD" info "$tmp/cut.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] && ok || bad "truncated GGUF: exit $rc, expected 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "truncated GGUF: stderr is not one line"
expect_line "$tmp/err" "herd info: $tmp/cut.gguf: truncated: tensor count needs 8 bytes at offset 8, file has 8"
[ ! -s "$tmp/out" ] && ok || bad "truncated GGUF printed to stdout"
for f in "$HERD_FIXTURES/corrupt/random_bytes.wav" "$tmp/nonexistent.safetensors" "$tmp"; do
  set +e
  "$HERD" info "$f" >/dev/null 2>"$tmp/err"; rc=$?
  set -e
  [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "herd info: $f" "$tmp/err" && ok ||
    bad "$f: exit $rc, stderr: $(cat "$tmp/err")"
done
for args in "" "a b" "--bogus x" "-m a b"; do
  set +e
  # shellcheck disable=SC2086
  "$HERD" info $args >/dev/null 2>"$tmp/err"; rc=$?
  set -e
  [ $rc -eq 2 ] && ok || bad "'herd info $args': exit $rc, expected 2"
done
"$HERD" info --help | grep -q "usage: herd info" && ok || bad "--help"

echo "test_info: $pass passed, $fail failed"
[ $fail -eq 0 ]
