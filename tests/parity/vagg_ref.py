#!/usr/bin/python3
"""Parity suite for vision/video_aggregator.c (harness.py; runner tests/parity/parity_vagg.c).

The model is a GGUF written by `herd random-model --arch video-aggregator` (path in the
environment variable VAGG_MODEL), read with the independent GGUF reader of
tests/e2e/random_model_ref.py.  The reference is written from the perceiver-resampler
equations (Jaegle et al. 2021 / Alayrac et al. 2022 "Flamingo", as SPEC §3 describes the
reference design), in float64, not from herd's C:

    m_f = x_f W_in^T + b_in + T[f]          media tokens of frame f of the group
    z   = latents
    per layer:  q = LN_z(z);  kv = [LN_m(M); q]
                z = z + softmax(q Wq (kv Wk)^T / sqrt(d) + mask) (kv Wv) Wo     (per head)
                z = z + W_down GELU(W_up LN_f(z))
    y   = LN_out(z) W_out^T + b_out

mask: -inf for media keys in a frame's padding tiles (rows >= n_valid of that frame).
"""
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import Case  # noqa: E402
from random_model_ref import read_gguf  # noqa: E402

_CACHE = {}


def model():
    path = os.environ.get("VAGG_MODEL")
    if not path:
        raise SystemExit("VAGG_MODEL: path of a `herd random-model --arch video-aggregator` GGUF")
    if path not in _CACHE:
        kv, _, tensors = read_gguf(path)
        cfg = {k.split("video_aggregator.", 1)[1]: v[1] for k, v in kv.items() if k.startswith("video_aggregator.")}
        W = {}
        for name, (tname, ne, arr) in tensors.items():
            if arr is None:
                raise SystemExit(f"{path}: {name} is {tname}; the reference reads F32/F16/BF16/Q8_0")
            W[name] = torch.from_numpy(arr.astype("float64"))
        _CACHE[path] = (cfg, W)
    return _CACHE[path]


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def attention(q_in, kv_in, W, p, H, d, mask):
    Z, T = q_in.shape[0], kv_in.shape[0]
    q = (q_in @ W[p + ".attn_q.weight"].T).reshape(Z, H, d).transpose(0, 1)    # [H, Z, d]
    k = (kv_in @ W[p + ".attn_k.weight"].T).reshape(T, H, d).transpose(0, 1)   # [H, T, d]
    v = (kv_in @ W[p + ".attn_v.weight"].T).reshape(T, H, d).transpose(0, 1)
    s = q @ k.transpose(1, 2) / math.sqrt(d) + mask                            # [H, Z, T]
    o = torch.softmax(s, dim=-1) @ v                                            # [H, Z, d]
    return o.transpose(0, 1).reshape(Z, H * d) @ W[p + ".attn_out.weight"].T


def aggregate(frames, n_valid, cfg, W):
    g, n_tok, _ = frames.shape
    eps = cfg.get("attention.layer_norm_epsilon", 1e-5)
    H, d = cfg["attention.head_count"], cfg["attention.key_length"]
    media = frames @ W["vagg.in.weight"].T + W["vagg.in.bias"]                  # [g, n_tok, W]
    media = media + W["vagg.time_embd"][:g, None, :]
    media = media.reshape(g * n_tok, -1)
    z = W["vagg.latents"].clone()
    Z = z.shape[0]
    key_ok = torch.ones(g * n_tok + Z, dtype=torch.bool)
    for f in range(g):
        key_ok[f * n_tok + int(n_valid[f]):(f + 1) * n_tok] = False
    mask = torch.zeros(g * n_tok + Z, dtype=torch.float64)
    mask[~key_ok] = -math.inf
    for l in range(cfg["block_count"]):
        p = f"vagg.blk.{l}"
        q = layer_norm(z, W[p + ".latent_norm.weight"], W[p + ".latent_norm.bias"], eps)
        m = layer_norm(media, W[p + ".media_norm.weight"], W[p + ".media_norm.bias"], eps)
        kv = torch.cat([m, q], dim=0)
        z = z + attention(q, kv, W, p, H, d, mask)
        h = layer_norm(z, W[p + ".ffn_norm.weight"], W[p + ".ffn_norm.bias"], eps)
        z = z + gelu_erf(h @ W[p + ".ffn_up.weight"].T) @ W[p + ".ffn_down.weight"].T
    z = layer_norm(z, W["vagg.out_norm.weight"], W["vagg.out_norm.bias"], eps)
    return z @ W["vagg.out.weight"].T + W["vagg.out.bias"]


def make(g, n_tok, valid):
    def mk(gen):
        cfg, _ = model()
        frames = torch.randn(g, n_tok, cfg["input_length"], generator=gen, dtype=torch.float64)
        inputs = {"frames": frames.float()}
        if valid is not None:
            inputs["n_valid"] = torch.tensor(valid, dtype=torch.int32)
        return inputs, {"model": os.environ["VAGG_MODEL"]}
    return mk


def ref(inputs, meta):
    cfg, W = model()
    frames = inputs["frames"]
    g, n_tok = frames.shape[0], frames.shape[1]
    n_valid = inputs["n_valid"].tolist() if "n_valid" in inputs else [n_tok] * g
    return {"y": aggregate(frames, n_valid, cfg, W)}


_TOL = float(os.environ.get("VAGG_TOL", "1e-4"))

CASES = [
    Case("full_group", make(4, 12, None), ref, _TOL, "a whole group of G = 4 frames of 12 tokens"),
    Case("partial_group_padding", make(3, 12, [12, 7, 3]), ref, _TOL,
         "a trailing group of 3 frames whose padding tiles (rows >= n_valid) are masked"),
    Case("one_frame", make(1, 29, [20]), ref, _TOL, "one frame, 20 of 29 rows valid"),
]

if __name__ == "__main__":
    raise SystemExit("run through harness.py (tests/parity/test_vagg.sh)")
