#!/usr/bin/python3
"""speech/whisper_encoder.c against Whisper's encoder written from the math (see
speech/whisper_encoder.h; transformers modeling_whisper.py WhisperEncoder and
Ultravox's ModifiedWhisperEncoder).

    whisper_ref.py make DIR KIND     writes a tiny random checkpoint folder + mel inputs
    whisper_ref.py check DIR TOL [bf16-act]
                                     compares parity_whisper's outputs with the reference

KIND "ultravox": an Ultravox-style folder (config.json with the WhisperConfig under
"audio_config", every tensor BF16 as the published checkpoints store them, names
"audio_tower." + HF names); KIND "whisper": an openai/whisper-style folder (top-level
WhisperConfig, F32 tensors, names "model.encoder." + HF names, 128 mel bins).  Shapes
are reduced (D 64, 4 heads, F 96, 2 layers, 40 positions, so a full window is 80 mel
frames where Whisper has 3000).

Cases (cases.txt "NAME T N_VALID LATENCY_BLOCK"):
  full      T = 2·P frames, all audio (Whisper's 30 s window)
  short     T = 37 < 2·P (Ultravox's first window: unpadded, positions sliced to S)
  padded    T = 2·P, 23 valid frames (Ultravox's zero-padded continuation: key mask)
  blocked   T = 61, 50 valid, latency block 4 (audio_latency_block_size: block-causal)

Reference, float64 on the values stored in the file:
  x = gelu(conv1d(mel, W1, b1, pad 1)); x = gelu(conv1d(x, W2, b2, stride 2, pad 1))
  x = x + P[:S]; mask[q, k] = -inf if k >= (n_valid-1)//2+1 or k//B > q//B
  per layer: h = LN(x); x += (softmax(q k^T / sqrt(d) + mask) v) Wo^T + bo with
             q = h Wq^T + bq, k = h Wk^T, v = h Wv^T + bv;
             x += fc2(gelu(fc1(LN(x))))
  y = LN(x)          (gelu exact (erf); LayerNorm eps 1e-5)
The mmproj variant's reference rounds the conv kernels to F16 first (llama.cpp's
converter stores them F16).  With bf16-act the reference also rounds the input of every
Linear whose weight is BF16 to bfloat16 (round to nearest even), as herd's AVX-512 BF16
gemm does (vdpbf16ps on bf16 pairs, F32 accumulation; core/matmul_avx512.c); the
scalar and AVX2 kernels keep F32 activations and are checked without it.  Check: max|herd - ref| / max|ref| <= TOL per case and layout.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

D, H, FF, L, P = 64, 4, 96, 2, 40
CASES = [("full", 2 * P, 2 * P, 0), ("short", 37, 37, 0), ("padded", 2 * P, 23, 0), ("blocked", 61, 50, 4)]


def kind_setup(kind):
    if kind == "ultravox":
        return "audio_tower.", 80, torch.bfloat16
    if kind == "whisper":
        return "model.encoder.", 128, torch.float32
    raise SystemExit(f"unknown kind {kind}")


def make(d, kind):
    prefix, n_mel, dtype = kind_setup(kind)
    g = torch.Generator().manual_seed(1234 if kind == "ultravox" else 4321)

    def rnd(*shape, s=0.1):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * s).to(dtype)

    t = {}
    t["conv1.weight"] = rnd(D, n_mel, 3, s=0.15)
    t["conv1.bias"] = rnd(D)
    t["conv2.weight"] = rnd(D, D, 3, s=0.08)
    t["conv2.bias"] = rnd(D)
    t["embed_positions.weight"] = rnd(P, D, s=0.5)
    for i in range(L):
        p = f"layers.{i}."
        for n in ("q", "k", "v", "out"):
            t[p + f"self_attn.{n}_proj.weight"] = rnd(D, D, s=0.15)
            if n != "k":
                t[p + f"self_attn.{n}_proj.bias"] = rnd(D)
        t[p + "self_attn_layer_norm.weight"] = (1 + rnd(D).double()).to(dtype)
        t[p + "self_attn_layer_norm.bias"] = rnd(D)
        t[p + "final_layer_norm.weight"] = (1 + rnd(D).double()).to(dtype)
        t[p + "final_layer_norm.bias"] = rnd(D)
        t[p + "fc1.weight"] = rnd(FF, D, s=0.15)
        t[p + "fc1.bias"] = rnd(FF)
        t[p + "fc2.weight"] = rnd(D, FF, s=0.15)
        t[p + "fc2.bias"] = rnd(D)
    t["layer_norm.weight"] = (1 + rnd(D).double()).to(dtype)
    t["layer_norm.bias"] = rnd(D)
    os.makedirs(d, exist_ok=True)
    st_write.save({prefix + k: v for k, v in t.items()}, os.path.join(d, "model.safetensors"),
                  metadata={"format": "pt"})
    wc = {"model_type": "whisper", "num_mel_bins": n_mel, "d_model": D, "encoder_ffn_dim": FF,
          "encoder_layers": L, "encoder_attention_heads": H, "max_source_positions": P,
          "activation_function": "gelu", "decoder_layers": 2, "vocab_size": 51866}
    cfg = {"model_type": "ultravox", "stack_factor": 8, "audio_config": wc} if kind == "ultravox" else wc
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(d, "cases.txt"), "w") as f:
        for name, T, valid, block in CASES:
            mel = torch.randn(T, n_mel, generator=g, dtype=torch.float64).clamp(-1.5, 1.5)
            if valid < T:
                mel[valid:] = 0.0  # a padded window holds zeros after the audio
            mel.to(torch.float32).numpy().tofile(os.path.join(d, f"{name}.mel"))
            f.write(f"{name} {T} {valid} {block}\n")
    with open(os.path.join(d, "prefix"), "w") as f:
        f.write(prefix)


def load_weights(d):
    with open(os.path.join(d, "prefix")) as f:
        prefix = f.read()
    raw = open(os.path.join(d, "model.safetensors"), "rb").read()
    n = int.from_bytes(raw[:8], "little")
    hdr = json.loads(raw[8:8 + n])
    base = 8 + n
    w, dtypes = {}, set()
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        dtypes.add(info["dtype"])
        b, e = info["data_offsets"]
        buf = raw[base + b:base + e]
        if info["dtype"] == "BF16":
            a = torch.from_numpy(np.frombuffer(buf, dtype=np.int16).copy()).view(torch.bfloat16)
        elif info["dtype"] == "F32":
            a = torch.from_numpy(np.frombuffer(buf, dtype=np.float32).copy())
        else:
            raise SystemExit(f"{name}: unexpected dtype {info['dtype']}")
        w[name[len(prefix):]] = a.reshape(info["shape"]).double()
    return w, dtypes


def layer_norm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps=1e-5)


def encoder(w, mel, n_valid, block, act=lambda t: t):
    x = F.gelu(F.conv1d(mel.T[None], w["conv1.weight"], w["conv1.bias"], padding=1))
    x = F.gelu(F.conv1d(x, w["conv2.weight"], w["conv2.bias"], stride=2, padding=1))
    x = x[0].T
    S = x.shape[0]
    x = x + w["embed_positions.weight"][:S]
    s_valid = (n_valid - 1) // 2 + 1
    q_i = torch.arange(S)[:, None]
    k_i = torch.arange(S)[None, :]
    off = k_i >= s_valid
    if block:
        off = off | (k_i // block > q_i // block)
    mask = torch.zeros(S, S, dtype=torch.float64).masked_fill(off, float("-inf"))
    hd = D // H
    for i in range(L):
        p = f"layers.{i}."
        h = layer_norm(x, w[p + "self_attn_layer_norm.weight"], w[p + "self_attn_layer_norm.bias"])
        h = act(h)
        q = h @ w[p + "self_attn.q_proj.weight"].T + w[p + "self_attn.q_proj.bias"]
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T + w[p + "self_attn.v_proj.bias"]
        q, k, v = (t.reshape(S, H, hd).transpose(0, 1) for t in (q, k, v))
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
        a = a.transpose(0, 1).reshape(S, D)
        x = x + act(a) @ w[p + "self_attn.out_proj.weight"].T + w[p + "self_attn.out_proj.bias"]
        h = layer_norm(x, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"])
        h = F.gelu(act(h) @ w[p + "fc1.weight"].T + w[p + "fc1.bias"])
        x = x + act(h) @ w[p + "fc2.weight"].T + w[p + "fc2.bias"]
    return layer_norm(x, w["layer_norm.weight"], w["layer_norm.bias"])


def check(d, tol, bf16_act):
    w, dtypes = load_weights(d)
    bf16 = lambda t: t.to(torch.bfloat16).double()  # noqa: E731
    act = bf16 if bf16_act and "BF16" in dtypes else (lambda t: t)
    w16 = dict(w)
    for k in ("conv1.weight", "conv2.weight"):
        w16[k] = w[k].half().double()
    n_mel = w["conv1.weight"].shape[1]
    bad = 0
    for line in open(os.path.join(d, "cases.txt")):
        name, T, valid, block = line.split()
        T, valid, block = int(T), int(valid), int(block)
        mel = torch.from_numpy(np.fromfile(os.path.join(d, f"{name}.mel"), np.float32).reshape(T, n_mel)).double()
        for tag, ww in (("hf", w), ("mmproj", w16)):
            ref = encoder(ww, mel, valid, block, act if tag == "hf" else (lambda t: t)).numpy()
            path = os.path.join(d, f"{name}.{tag}.out")
            got = np.fromfile(path, np.float32) if os.path.exists(path) else np.zeros(0, np.float32)
            if got.size != ref.size:
                print(f"FAIL {name} [{tag}]: herd {got.size} values, reference {ref.shape}")
                bad += 1
                continue
            got = got.reshape(ref.shape)
            err = float(np.max(np.abs(got - ref)))
            rel = err / max(float(np.max(np.abs(ref))), 1e-30)
            ok = rel <= tol
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} [{tag}]: T {T}, valid {valid}, block {block} -> "
                  f"{ref.shape[0]} x {ref.shape[1]}, max|diff| {err:.3g}, rel {rel:.3g}")
    print(f"{bad} failures (tolerance {tol} relative)")
    return 1 if bad else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) in (4, 5) and sys.argv[1] == "check":
        return check(sys.argv[2], float(sys.argv[3]), len(sys.argv) == 5 and sys.argv[4] == "bf16-act")
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
