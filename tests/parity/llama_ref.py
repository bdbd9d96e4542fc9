#!/usr/bin/python3
"""PyTorch reference of the Llama 3 decoder, written from the published math
(SPEC.md §1.1-1.5), for parity tests of lm/llama.c.

Reads a Hugging Face folder (config.json + *.safetensors, parsed by hand here)
and runs, in float64:

    x = embed[ids]
    per layer:  x = x + attention(rms_norm(x))      GQA, half-split RoPE, llama3 scaling
                x = x + swiglu_mlp(rms_norm(x))
    logits = rms_norm(x) @ lm_head.T                 (lm_head = embed when tied)

Commands:
  logits  --model DIR --ids 1,2,3 --out FILE   logits of every position, raw float32 [S, V]
  greedy  --model DIR --ids 1,2,3 -n N         N greedy continuation ids, space separated
  compare A B --vocab V [--tol T]             max|a-b| / max|b| over float32 [S, V] files
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


# ---- safetensors, by hand ----------------------------------------------------

def _read_safetensors(path, out):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = raw[base + a:base + b]
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).astype(np.float64)
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {dt}, not handled by the reference")
        out[name] = torch.from_numpy(arr.reshape(shape).copy())


def load_hf(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    tensors = {}
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = sorted(p for p in os.listdir(folder) if p.endswith(".safetensors"))
    for name in files:
        _read_safetensors(os.path.join(folder, name), tensors)
    return cfg, tensors


# ---- the model (SPEC §1) -----------------------------------------------------

def rms_norm(x, w, eps):
    """SPEC §1.2: y = w * x / sqrt(mean(x^2) + eps)"""
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def rope_inv_freq(cfg, d):
    """SPEC §1.4: theta^(-2i/d), then the "llama3" frequency scaling."""
    theta = cfg.get("rope_theta", 500000.0)
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) == "llama3":
        s, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        L = rs["original_max_position_embeddings"]
        out = []
        for f in inv.tolist():
            wl = 2 * math.pi / f
            if wl > L / lo:
                out.append(f / s)
            elif wl < L / hi:
                out.append(f)
            else:
                smooth = (L / wl - lo) / (hi - lo)
                out.append((1 - smooth) * f / s + smooth * f)
        inv = torch.tensor(out)
    return inv


def rope_half_split(x, pos, inv_freq):
    """HF layout: dims (i, i + d/2) rotate together.  x [S, heads, d]."""
    ang = pos[:, None].double() * inv_freq[None, :]          # [S, d/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]  # [S, 1, d]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)           # rotate_half
    return x * cos + rot * sin


def forward(cfg, W, ids):
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads", H)
    d = cfg.get("head_dim") or D // H
    eps = cfg.get("rms_norm_eps", 1e-5)
    n_layer = cfg["num_hidden_layers"]
    inv_freq = rope_inv_freq(cfg, d)
    S = len(ids)
    pos = torch.arange(S)
    emb = W["model.embed_tokens.weight"]
    x = emb[torch.tensor(ids)]
    mask = torch.full((S, S), float("-inf")).triu(1)
    for l in range(n_layer):
        p = f"model.layers.{l}."
        # x = x + attention(rms_norm(x))            SPEC §1.3
        a = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = (a @ W[p + "self_attn.q_proj.weight"].T).view(S, H, d)
        k = (a @ W[p + "self_attn.k_proj.weight"].T).view(S, G, d)
        v = (a @ W[p + "self_attn.v_proj.weight"].T).view(S, G, d)
        q = rope_half_split(q, pos, inv_freq)
        k = rope_half_split(k, pos, inv_freq)
        k = k.repeat_interleave(H // G, dim=1)     # query head j uses KV head j // (H/G)
        v = v.repeat_interleave(H // G, dim=1)
        scores = torch.einsum("shd,thd->hst", q, k) / math.sqrt(d) + mask
        o = torch.einsum("hst,thd->shd", scores.softmax(-1), v).reshape(S, H * d)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        # x = x + mlp(rms_norm(x))                  SPEC §1.5 SwiGLU
        f = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(f @ W[p + "mlp.gate_proj.weight"].T)
        u = f @ W[p + "mlp.up_proj.weight"].T
        x = x + (g * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", emb)
    return x @ head.T                                  # [S, V]


def parse_ids(s):
    return [int(t) for t in s.replace(",", " ").split()]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("logits")
    a.add_argument("--model", required=True)
    a.add_argument("--ids", required=True)
    a.add_argument("--out", required=True)
    g = sub.add_parser("greedy")
    g.add_argument("--model", required=True)
    g.add_argument("--ids", required=True)
    g.add_argument("-n", type=int, default=64)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--vocab", type=int, required=True)
    c.add_argument("--tol", type=float, default=None)
    args = ap.parse_args()

    if args.cmd == "logits":
        cfg, W = load_hf(args.model)
        logits = forward(cfg, W, parse_ids(args.ids))
        logits.float().numpy().astype("<f4").tofile(args.out)
    elif args.cmd == "greedy":
        cfg, W = load_hf(args.model)
        ids = parse_ids(args.ids)
        out = []
        for _ in range(args.n):
            nxt = int(forward(cfg, W, ids + out)[-1].argmax())
            out.append(nxt)
        print(" ".join(map(str, out)))
    else:
        a = np.fromfile(args.a, dtype="<f4").astype(np.float64)
        b = np.fromfile(args.b, dtype="<f4").astype(np.float64)
        if a.size != b.size or a.size % args.vocab:
            print(f"size mismatch: {args.a} has {a.size} values, {args.b} has {b.size} (vocab {args.vocab})")
            sys.exit(1)
        if not np.all(np.isfinite(a)):
            print(f"{args.a}: non-finite logits")
            sys.exit(1)
        rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
        a2, b2 = a.reshape(-1, args.vocab), b.reshape(-1, args.vocab)
        agree = float((a2.argmax(1) == b2.argmax(1)).mean())
        print(f"max_rel_err {rel:.3e} argmax_agree {agree:.3f} rows {a2.shape[0]}")
        if args.tol is not None and not rel <= args.tol:
            sys.exit(1)


if __name__ == "__main__":
    main()
