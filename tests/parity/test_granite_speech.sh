#!/usr/bin/env bash
# tests/parity/test_granite_speech.sh — the Granite LM (Llama core with
# Granite's multipliers, lm/llama.h) and its runtime LoRA against the float64
# PyTorch reference written from the published math
# (tests/parity/granite_lm_ref.py), on `herd random-model --arch
# granite-speech --preset tiny` (HF layout) and its `herd convert` GGUF set:
#   1. logits of every position without the adapter, with it (PEFT folder;
#      llama.cpp LoRA GGUF for the converted LM), and with audio rows spliced
#      at <|audio|> positions (HD_LLAMA_TOKEN_EMBD), in one batch and in
#      batches of 3;
#   2. greedy tokens identical (herd decodes one token at a time);
#   3. the comparisons can fail: the adapter changes the logits beyond the
#      tolerance, and so does a changed residual_multiplier in config.json;
#   4. the whole path of hd_granite_speech_ops (tests/parity/
#      parity_granite_speech.c) on 1.3 s of audio, HF folder and converted
#      GGUF set: projector rows and final logits (audio rows spliced at the
#      prompt's <|audio|> entries, LoRA on) against granite_speech_ref.py
#      (torchaudio log-mel, Conformer, Q-Former, Granite LM), greedy tokens
#      identical, both sets give the same prompt; the GGUF set also as
#      `herd random-model --format gguf` writes it (the same converter).
# Tolerance: max|herd − ref| / max|ref| ≤ 1e-4 (F32 weights, F32 KV cache)
# and the same argmax at every position (measured ~1e-7 LM, ~3e-7 pipeline).
set -euo pipefail
HERD=${HERD:?path to the herd binary}
PY=${PYTHON:-/usr/bin/python3}
SRC=${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${HERD_BUILD_DIR:?build directory}
RUNNER="$BUILD/tests/parity_granite_lm"
SPEECH="$BUILD/tests/parity_granite_speech"
REF="$SRC/tests/parity/granite_lm_ref.py"
SREF="$SRC/tests/parity/granite_speech_ref.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

"$HERD" random-model --arch granite-speech --preset tiny --format hf --type F32 --seed 5 -o "$T/hf" --quiet >/dev/null
V=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text_config"]["vocab_size"])' "$T/hf/config.json")
D=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text_config"]["hidden_size"])' "$T/hf/config.json")
AUDIO=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["audio_token_index"])' "$T/hf/config.json")
"$PY" -c "import numpy as np; np.random.seed(3); np.random.randn(4, $D).astype('<f4').tofile('$T/rows.f32')"
IDS="0,258,300,301,45,67,89,12,257,280,33"
IDS_AUDIO="0,301,45,-1,-1,-1,-1,302,67,89"   # -1: the audio rows (<|audio|> = $AUDIO in the prompt)

check() {   # name herd-output ref-output [row width, default V]   (env TOL, default 1e-4)
  if out=$("$PY" "$REF" compare "$2" "$3" --vocab "${4:-$V}" --tol "${TOL:-1e-4}"); then
    echo "ok   $1: $out"
  else
    echo "FAIL $1: $out"
    fail=1
  fi
}

"$PY" "$REF" logits --model "$T/hf" --ids "$IDS" --out "$T/r0.f32"
"$PY" "$REF" logits --model "$T/hf" --ids "$IDS" --lora --out "$T/r1.f32"
"$PY" "$REF" logits --model "$T/hf" --ids "$IDS_AUDIO" --lora --embd "$T/rows.f32" --out "$T/r2.f32"
G_REF=$("$PY" "$REF" greedy --model "$T/hf" --ids "$IDS_AUDIO" --lora --embd "$T/rows.f32" -n 8)

for b in 256 3; do
  "$RUNNER" "$T/hf" "$IDS" "$T/h0.f32" --batch $b
  check "HF, no LoRA, batch $b" "$T/h0.f32" "$T/r0.f32"
  "$RUNNER" "$T/hf" "$IDS" "$T/h1.f32" --batch $b --lora "$T/hf"
  check "HF, PEFT LoRA, batch $b" "$T/h1.f32" "$T/r1.f32"
  G=$("$RUNNER" "$T/hf" "$IDS_AUDIO" "$T/h2.f32" --batch $b --lora "$T/hf/adapter_config.json" --embd "$T/rows.f32" --greedy 8)
  check "HF, LoRA + audio rows, batch $b" "$T/h2.f32" "$T/r2.f32"
  if [ "$G" = "$G_REF" ]; then echo "ok   greedy, batch $b: $G"; else echo "FAIL greedy, batch $b: herd $G, ref $G_REF"; fail=1; fi
done

# a plain GraniteForCausalLM folder (model.* names, config model_type granite) holding the same LM
"$PY" "$REF" plain --model "$T/hf" --out "$T/plain"
"$RUNNER" "$T/plain" "$IDS" "$T/p0.f32"
check "plain GraniteForCausalLM folder, no LoRA" "$T/p0.f32" "$T/r0.f32"
"$HERD" convert "$T/plain" "$T/plain.gguf" --type F32 >/dev/null 2>&1 || { echo "FAIL herd convert of the plain Granite folder"; fail=1; }
if [ -f "$T/plain.gguf" ]; then
  "$RUNNER" "$T/plain.gguf" "$IDS" "$T/p1.f32"
  check "plain folder → herd convert → GGUF granite" "$T/p1.f32" "$T/r0.f32"
fi

# the converted set: the LM as a llama.cpp "granite" GGUF, the adapter as a llama.cpp LoRA GGUF
if "$HERD" convert "$T/hf" "$T/gs.gguf" --type F32 >"$T/convert.log" 2>&1; then
  LM=$(ls "$T"/gs*-lm.gguf 2>/dev/null | head -1)
  LORA=$(ls "$T"/gs*-lora.gguf 2>/dev/null | head -1)
  if [ -z "$LM" ] || [ -z "$LORA" ]; then
    echo "FAIL convert wrote no -lm.gguf / -lora.gguf beside gs.gguf: $(ls "$T")"
    fail=1
  else
    "$RUNNER" "$LM" "$IDS" "$T/g0.f32"
    check "GGUF granite, no LoRA" "$T/g0.f32" "$T/r0.f32"
    "$RUNNER" "$LM" "$IDS_AUDIO" "$T/g2.f32" --lora "$LORA" --embd "$T/rows.f32" --batch 3
    check "GGUF granite, LoRA GGUF + audio rows" "$T/g2.f32" "$T/r2.f32"
  fi
fi

# 4. the whole speech path: audio → rows → prompt → logits
"$PY" -c "
import numpy as np; t = np.arange(int(16000 * 1.3)) / 16000.0; r = np.random.default_rng(1)
x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t) + 0.05 * r.standard_normal(t.size)
x.astype('<f4').tofile('$T/pcm.f32')"
"$SPEECH" "$T/hf" "$T/pcm.f32" "$T/hrows.f32" "$T/hlog.f32" --greedy 6 >"$T/h.txt"
P_IDS=$(sed -n 's/^ids //p' "$T/h.txt")
"$PY" "$SREF" run --model "$T/hf" --pcm "$T/pcm.f32" --ids "$P_IDS" --rows "$T/rrows.f32" --logits "$T/rlog.f32"
P_REF=$("$PY" "$SREF" greedy --model "$T/hf" --pcm "$T/pcm.f32" --ids "$P_IDS" -n 6)
check "speech HF: projector rows" "$T/hrows.f32" "$T/rrows.f32" "$D"
check "speech HF: final logits" "$T/hlog.f32" "$T/rlog.f32"
P_G=$(sed -n 's/^greedy //p' "$T/h.txt")
if [ "$P_G" = "$P_REF" ]; then echo "ok   speech HF greedy: $P_G"; else echo "FAIL speech HF greedy: herd $P_G, ref $P_REF"; fail=1; fi
# the GGUF sets: `herd convert` of the folder, and random-model --format gguf (same seed: the same model)
"$HERD" random-model --arch granite-speech --preset tiny --format gguf --type F32 --seed 5 -o "$T/rm.gguf" --quiet >/dev/null
[ -f "$T/gs.gguf" ] || { echo "FAIL herd convert: $(cat "$T/convert.log")"; fail=1; }
for set in gs rm; do
  [ -f "$T/$set.gguf" ] || continue
  "$SPEECH" "$T/$set.gguf" "$T/pcm.f32" "$T/grows.f32" "$T/glog.f32" --greedy 6 >"$T/g.txt"
  if [ "$(sed -n 1p "$T/g.txt")" != "$(sed -n 1p "$T/h.txt")" ]; then
    echo "FAIL speech GGUF $set: the prompt differs from the HF folder's"
    fail=1
  fi
  check "speech GGUF $set: projector rows" "$T/grows.f32" "$T/rrows.f32" "$D"
  check "speech GGUF $set: final logits" "$T/glog.f32" "$T/rlog.f32"
  G_G=$(sed -n 's/^greedy //p' "$T/g.txt")
  if [ "$G_G" = "$P_REF" ]; then echo "ok   speech GGUF $set greedy: $G_G"; else echo "FAIL speech GGUF $set greedy: herd $G_G, ref $P_REF"; fail=1; fi
done

# 5. BF16 weights (the published dtype), the reference on the same rounded values: scalar/AVX2
# kernels ≤ 1e-4; the AVX-512 BF16 gemm rounds activations to BF16 (measured ~1.5e-3) ≤ 2e-2
"$HERD" random-model --arch granite-speech --preset tiny --format hf --type BF16 --seed 5 -o "$T/bf" --quiet >/dev/null
"$SPEECH" "$T/bf" "$T/pcm.f32" "$T/brows.f32" "$T/blog.f32" >"$T/b.txt"
B_IDS=$(sed -n 's/^ids //p' "$T/b.txt")
"$PY" "$SREF" run --model "$T/bf" --pcm "$T/pcm.f32" --ids "$B_IDS" --rows "$T/rbrows.f32" --logits "$T/rblog.f32"
for cpu in avx2 avx512; do
  tol=1e-4
  [ $cpu = avx512 ] && tol=2e-2
  HERD_CPU=$cpu "$SPEECH" "$T/bf" "$T/pcm.f32" "$T/brows.f32" "$T/blog.f32" >/dev/null
  TOL=$tol check "speech HF BF16, $cpu: final logits (tol $tol)" "$T/blog.f32" "$T/rblog.f32"
done

# the test can fail: without the adapter, or with another residual multiplier, the logits differ
if "$PY" "$REF" compare "$T/h0.f32" "$T/r1.f32" --vocab "$V" --tol 1e-4 >/dev/null; then
  echo "FAIL the adapter does not change the logits: the test could not see it"
  fail=1
fi
cp -r "$T/hf" "$T/hf2"
"$PY" - "$T/hf2/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["text_config"]["residual_multiplier"] *= 1.5
json.dump(c, open(sys.argv[1], "w"), indent=2)
EOF
"$PY" "$REF" logits --model "$T/hf2" --ids "$IDS" --out "$T/r3.f32"
if "$PY" "$REF" compare "$T/h0.f32" "$T/r3.f32" --vocab "$V" --tol 1e-4 >/dev/null; then
  echo "FAIL a different residual_multiplier gives the same logits"
  fail=1
fi
"$RUNNER" "$T/hf2" "$IDS" "$T/h3.f32"
check "HF, residual_multiplier x1.5 read from config.json" "$T/h3.f32" "$T/r3.f32"
exit $fail
