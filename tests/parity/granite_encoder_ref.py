#!/usr/bin/python3
"""Parity suite for speech/granite_encoder.c and adapters/qformer.c (harness.py; runner
tests/parity/parity_granite_encoder.c).

    granite_encoder_ref.py write DIR VARIANT    writes a tiny random Granite Speech checkpoint
                                                 (config.json + model.safetensors) in the exact
                                                 HF layout (GraniteSpeechForConditionalGeneration
                                                 names "encoder.*", "projector.*") into DIR
    (the cases run through harness.py with GRANITE_MODEL=DIR)

The reference is written in plain float64 torch from the published math of
transformers' GraniteSpeechCTCEncoder / GraniteSpeechEncoderProjector / Blip2QFormerModel
(re-derived, not copied), and deliberately computes the block attention the way HF does
it -- right-pad the features to a multiple of context_size after the attention's
LayerNorm, mask the padded part of the last block -- while herd attends within the
shortened last block; the Q-Former's last window is zero-padded and the padding IS
attended to (no encoder mask), as in HF.

Variants (both odd-sized on purpose, H*d != D, so a transposed or mis-split weight shows):
  a  F32 weights, 4 conformer layers (CTC mid-layer after layer 2), context 5 with
     max_pos_emb 7 (table rows beyond the block unused), EVEN conv kernel 4 (asymmetric
     padding 2/1), Q-Former: 2 layers with cross-attention every layer, window 6 / rate 3
  b  BF16 weights (as published), 3 layers (mid-layer after layer 1), context 4 =
     max_pos_emb 4, odd kernel 5, Q-Former: 3 layers with cross_attention_frequency 2
     (layer 1 has none), window 4 / rate 2, tanh-free exact GELU
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Case  # noqa: E402

VARIANTS = {
    "a": dict(dtype="F32",
              enc=dict(input_dim=16, num_layers=4, hidden_dim=32, feedforward_mult=2, num_heads=2, dim_head=12,
                       output_dim=11, context_size=5, max_pos_emb=7, conv_kernel_size=4, conv_expansion_factor=2),
              proj=dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40,
                        encoder_hidden_size=32, cross_attention_frequency=1),
              window_size=6, downsample_rate=3, text_hidden=20),
    "b": dict(dtype="BF16",
              enc=dict(input_dim=10, num_layers=3, hidden_dim=24, feedforward_mult=3, num_heads=3, dim_head=6,
                       output_dim=9, context_size=4, max_pos_emb=4, conv_kernel_size=5, conv_expansion_factor=1),
              proj=dict(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=28,
                        encoder_hidden_size=24, cross_attention_frequency=2),
              window_size=4, downsample_rate=2, text_hidden=12),
}


# ---- checkpoint writing ------------------------------------------------------------------

def _bf16_bits(t):
    """float tensor -> uint16 bits of its bfloat16 rounding (torch's rounding)."""
    return t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def write_safetensors(path, tensors, dtype):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        if dtype == "BF16":
            raw, dt = _bf16_bits(t).tobytes(), "BF16"
        else:
            raw, dt = t.to(torch.float32).numpy().tobytes(), "F32"
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors_f64(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    header.pop("__metadata__", None)
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
            a = bits.view(np.float32)
        elif info["dtype"] == "F32":
            a = np.frombuffer(data[b:e], dtype="<f4")
        else:
            raise SystemExit(f"{path}: {name} has dtype {info['dtype']}")
        out[name] = torch.from_numpy(a.astype(np.float64).reshape(info["shape"]))
    return out


def random_checkpoint(v, seed):
    g = torch.Generator().manual_seed(seed)
    W = {}

    def lin(name, n_out, n_in, bias=True, conv=False):
        w = torch.randn(n_out, n_in, generator=g) / math.sqrt(n_in)
        W[name + ".weight"] = w.unsqueeze(-1) if conv else w
        if bias:
            W[name + ".bias"] = 0.1 * torch.randn(n_out, generator=g)

    def norm(name, n):
        W[name + ".weight"] = 1.0 + 0.2 * torch.randn(n, generator=g)
        W[name + ".bias"] = 0.1 * torch.randn(n, generator=g)

    e = v["enc"]
    D, A, F = e["hidden_dim"], e["num_heads"] * e["dim_head"], e["hidden_dim"] * e["feedforward_mult"]
    C, K, P = e["hidden_dim"] * e["conv_expansion_factor"], e["conv_kernel_size"], e["max_pos_emb"]
    lin("encoder.input_linear", D, e["input_dim"])
    for l in range(e["num_layers"]):
        p = f"encoder.layers.{l}"
        for ff in ("ff1", "ff2"):
            norm(f"{p}.{ff}.pre_norm", D)
            lin(f"{p}.{ff}.up_proj", F, D)
            lin(f"{p}.{ff}.down_proj", D, F)
        norm(f"{p}.attn.pre_norm", D)
        lin(f"{p}.attn.to_q", A, D, bias=False)
        lin(f"{p}.attn.to_kv", 2 * A, D, bias=False)
        lin(f"{p}.attn.to_out", D, A)
        W[f"{p}.attn.rel_pos_emb.weight"] = 0.5 * torch.randn(2 * P + 1, e["dim_head"], generator=g)
        norm(f"{p}.conv.norm", D)
        lin(f"{p}.conv.up_conv", 2 * C, D, conv=True)
        W[f"{p}.conv.depth_conv.conv.weight"] = torch.randn(C, 1, K, generator=g) / math.sqrt(K)
        norm(f"{p}.conv.batch_norm", C)
        W[f"{p}.conv.batch_norm.running_mean"] = 0.2 * torch.randn(C, generator=g)
        W[f"{p}.conv.batch_norm.running_var"] = 0.5 + torch.rand(C, generator=g)
        lin(f"{p}.conv.down_conv", D, C, conv=True)
        norm(f"{p}.post_norm", D)
    lin("encoder.out", e["output_dim"], D)
    lin("encoder.out_mid", D, e["output_dim"])

    pc = v["proj"]
    Dq, E, Fq = pc["hidden_size"], pc["encoder_hidden_size"], pc["intermediate_size"]
    Q = v["window_size"] // v["downsample_rate"]
    W["projector.query"] = torch.randn(1, Q, Dq, generator=g)
    norm("projector.qformer.layernorm", Dq)
    for l in range(pc["num_hidden_layers"]):
        p = f"projector.qformer.encoder.layer.{l}"
        kinds = [("attention", Dq)] + ([("crossattention", E)] if l % pc["cross_attention_frequency"] == 0 else [])
        for kind, kv in kinds:
            lin(f"{p}.{kind}.attention.query", Dq, Dq)
            lin(f"{p}.{kind}.attention.key", Dq, kv)
            lin(f"{p}.{kind}.attention.value", Dq, kv)
            lin(f"{p}.{kind}.output.dense", Dq, Dq)
            norm(f"{p}.{kind}.output.LayerNorm", Dq)
        lin(f"{p}.intermediate_query.dense", Fq, Dq)
        lin(f"{p}.output_query.dense", Dq, Fq)
        norm(f"{p}.output_query.LayerNorm", Dq)
    lin("projector.linear", v["text_hidden"], Dq)
    return W


def config_json(v):
    enc = dict(v["enc"], model_type="granite_speech_encoder", dropout=0.1)
    proj = dict(v["proj"], model_type="blip_2_qformer", hidden_act="gelu", layer_norm_eps=1e-12,
                attention_probs_dropout_prob=0.1, hidden_dropout_prob=0.1, max_position_embeddings=2048,
                position_embedding_type="absolute", use_qformer_text_input=False, vocab_size=30522)
    text = dict(model_type="granite", hidden_size=v["text_hidden"], num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=32, vocab_size=64)
    return {"architectures": ["GraniteSpeechForConditionalGeneration"], "model_type": "granite_speech",
            "encoder_config": enc, "projector_config": proj, "text_config": text,
            "window_size": v["window_size"], "downsample_rate": v["downsample_rate"],
            "audio_token_index": 63, "has_lora_adapter": False}


def write(dirname, variant):
    v = VARIANTS[variant]
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, "config.json"), "w") as f:
        json.dump(config_json(v), f, indent=2)
    write_safetensors(os.path.join(dirname, "model.safetensors"), random_checkpoint(v, 11 + ord(variant)),
                      v["dtype"])


# ---- reference math (float64) ---------------------------------------------------------------

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def linear(x, W, name, bias=True):
    y = x @ W[name + ".weight"].T
    return y + W[name + ".bias"] if bias else y


def silu(x):
    return x * torch.sigmoid(x)


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def conformer_ff(x, W, p):
    h = layer_norm(x, W[p + ".pre_norm.weight"], W[p + ".pre_norm.bias"], 1e-5)
    return linear(silu(linear(h, W, p + ".up_proj")), W, p + ".down_proj")


def shaw_block_attention(x, W, p, e):
    """HF's way: pad to whole blocks after the LayerNorm, mask the padding of the last block."""
    T, C, H, d, P = x.shape[0], e["context_size"], e["num_heads"], e["dim_head"], e["max_pos_emb"]
    h = layer_norm(x, W[p + ".pre_norm.weight"], W[p + ".pre_norm.bias"], 1e-5)
    nb = -(-T // C)
    rem = T % C
    h = torch.cat([h, torch.zeros(nb * C - T, h.shape[1], dtype=h.dtype)])
    q = linear(h, W, p + ".to_q", bias=False)
    kv = linear(h, W, p + ".to_kv", bias=False)
    k, v = kv[:, :H * d], kv[:, H * d:]
    split = lambda t: t.reshape(nb, C, H, d).permute(0, 2, 1, 3)  # (blocks, heads, C, d)
    q, k, v = split(q), split(k), split(v)
    i = torch.arange(C)
    dist = torch.clamp(i[:, None] - i[None, :], -C, C) + P           # (C, C)
    E = W[p + ".rel_pos_emb.weight"][dist]                           # (C, C, d)
    scale = d ** -0.5
    bias = torch.einsum("bhid,ijd->bhij", q, E) * scale
    if rem:
        mask = torch.ones(C, C, dtype=torch.bool)
        mask[:rem, :rem] = False
        bias[-1] = bias[-1].masked_fill(mask, -1e300)
    s = q @ k.transpose(-1, -2) * scale + bias
    o = torch.softmax(s, -1) @ v                                     # (blocks, heads, C, d)
    o = o.permute(0, 2, 1, 3).reshape(nb * C, H * d)[:T]
    return linear(o, W, p + ".to_out")


def conv_module(x, W, p, e):
    K = e["conv_kernel_size"]
    h = layer_norm(x, W[p + ".norm.weight"], W[p + ".norm.bias"], 1e-5).T      # (D, T)
    u = W[p + ".up_conv.weight"][:, :, 0] @ h + W[p + ".up_conv.bias"][:, None]
    half = u.shape[0] // 2
    g = u[:half] * torch.sigmoid(u[half:])                                      # GLU over channels
    left, right = K // 2, K // 2 - (K + 1) % 2
    gp = torch.cat([torch.zeros(half, left, dtype=g.dtype), g, torch.zeros(half, right, dtype=g.dtype)], 1)
    k = W[p + ".depth_conv.conv.weight"][:, 0, :]                              # (C, K)
    T = g.shape[1]
    dw = torch.stack([(gp[:, t:t + K] * k).sum(1) for t in range(T)], 1)        # (C, T)
    bn = (dw - W[p + ".batch_norm.running_mean"][:, None]) / torch.sqrt(W[p + ".batch_norm.running_var"][:, None] + 1e-5)
    bn = bn * W[p + ".batch_norm.weight"][:, None] + W[p + ".batch_norm.bias"][:, None]
    y = W[p + ".down_conv.weight"][:, :, 0] @ silu(bn) + W[p + ".down_conv.bias"][:, None]
    return y.T


def encoder(feats, W, e):
    x = linear(feats, W, "encoder.input_linear")
    L = e["num_layers"]
    for l in range(1, L + 1):
        p = f"encoder.layers.{l - 1}"
        x = x + 0.5 * conformer_ff(x, W, p + ".ff1")
        x = x + shaw_block_attention(x, W, p + ".attn", e)
        x = x + conv_module(x, W, p + ".conv", e)
        x = x + 0.5 * conformer_ff(x, W, p + ".ff2")
        x = layer_norm(x, W[p + ".post_norm.weight"], W[p + ".post_norm.bias"], 1e-5)
        if l == L // 2:
            x = x + linear(torch.softmax(linear(x, W, "encoder.out"), -1), W, "encoder.out_mid")
    return x


def bert_attention(h, kv, W, p, H):
    Dq = h.shape[-1]
    dh = Dq // H
    q = linear(h, W, p + ".attention.query").reshape(-1, H, dh).transpose(0, 1)
    k = linear(kv, W, p + ".attention.key").reshape(-1, H, dh).transpose(0, 1)
    v = linear(kv, W, p + ".attention.value").reshape(-1, H, dh).transpose(0, 1)
    o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v
    o = o.transpose(0, 1).reshape(-1, Dq)
    y = linear(o, W, p + ".output.dense") + h
    return layer_norm(y, W[p + ".output.LayerNorm.weight"], W[p + ".output.LayerNorm.bias"], 1e-12)


def projector(frames, W, v):
    pc, Wn, R = v["proj"], v["window_size"], v["downsample_rate"]
    T, E = frames.shape
    nW = -(-T // Wn)
    fr = torch.cat([frames, torch.zeros(nW * Wn - T, E, dtype=frames.dtype)]).reshape(nW, Wn, E)
    emb = layer_norm(W["projector.query"][0], W["projector.qformer.layernorm.weight"],
                     W["projector.qformer.layernorm.bias"], 1e-12)
    rows = []
    for b in range(nW):
        h = emb
        for l in range(pc["num_hidden_layers"]):
            p = f"projector.qformer.encoder.layer.{l}"
            h = bert_attention(h, h, W, p + ".attention", pc["num_attention_heads"])
            if l % pc["cross_attention_frequency"] == 0:
                h = bert_attention(h, fr[b], W, p + ".crossattention", pc["num_attention_heads"])
            f = linear(gelu_erf(linear(h, W, p + ".intermediate_query.dense")), W, p + ".output_query.dense")
            h = layer_norm(f + h, W[p + ".output_query.LayerNorm.weight"], W[p + ".output_query.LayerNorm.bias"], 1e-12)
        rows.append(h)
    assert Wn // R == rows[0].shape[0]
    return linear(torch.cat(rows), W, "projector.linear")


# ---- cases ------------------------------------------------------------------------------

_CACHE = {}


def model():
    path = os.environ.get("GRANITE_MODEL")
    if not path:
        raise SystemExit("GRANITE_MODEL: a folder written by `granite_encoder_ref.py write`")
    if path not in _CACHE:
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        v = {"enc": cfg["encoder_config"], "proj": cfg["projector_config"], "window_size": cfg["window_size"],
             "downsample_rate": cfg["downsample_rate"]}
        _CACHE[path] = (v, read_safetensors_f64(os.path.join(path, "model.safetensors")))
    return _CACHE[path]


def make_feats(T):
    def make(gen):
        v, _ = model()
        x = torch.randn(T, v["enc"]["input_dim"], generator=gen, dtype=torch.float64)
        return {"feats": x.float()}, {"model": os.environ["GRANITE_MODEL"]}
    return make


def make_frames(T):
    def make(gen):
        v, _ = model()
        x = torch.randn(T, v["proj"]["encoder_hidden_size"], generator=gen, dtype=torch.float64)
        return {"frames": x.float()}, {"model": os.environ["GRANITE_MODEL"]}
    return make


def ref_full(inputs, meta):
    v, W = model()
    enc = encoder(inputs["feats"], W, v["enc"])
    return {"enc": enc, "proj": projector(enc, W, v)}


def ref_projector(inputs, meta):
    v, W = model()
    return {"proj": projector(inputs["frames"], W, v)}


_TOL = float(os.environ.get("GRANITE_TOL", "1e-4"))

# T chosen against context 5 / window 6 (variant a) and context 4 / window 4 (variant b):
# 1 frame; 13 (neither); 20 (a: whole blocks, partial window; b: whole both); 30 (a: whole
# both); 67 (many blocks and windows, partial both).
CASES = [
    Case("full_T1", make_feats(1), ref_full, _TOL, "one frame: one partial block, one padded window"),
    Case("full_T13", make_feats(13), ref_full, _TOL, "13 frames"),
    Case("full_T20", make_feats(20), ref_full, _TOL, "20 frames"),
    Case("full_T30", make_feats(30), ref_full, _TOL, "30 frames"),
    Case("full_T67", make_feats(67), ref_full, _TOL, "67 frames"),
    Case("projector_T7", make_frames(7), ref_projector, _TOL, "projector alone on 7 random frames"),
]

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "write" and sys.argv[3] in VARIANTS:
        write(sys.argv[2], sys.argv[3])
        sys.exit(0)
    raise SystemExit("usage: granite_encoder_ref.py write DIR a|b   (the cases run through harness.py)")
