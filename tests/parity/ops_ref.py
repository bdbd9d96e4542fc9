#!/usr/bin/python3
"""Parity suite for core/ops.h (run by tests/parity/test_ops.sh through harness.py with the
C runner tests/parity/parity_ops.c).

References are written from the published math with torch.nn.functional, in float64, and
never look at herd's code:

  rms_norm(x) = x / sqrt(mean(x^2) + eps) * w                       (by hand)
  layer_norm, batch_norm (eval), conv1d, conv2d, gelu (tanh / erf), silu, sigmoid, glu, softmax  (F.*)
  RoPE: angle = pos * inv_freq[i]; NEOX rotates (x[i], x[i + d/2]) ("rotate_half"),
        INTERLEAVED rotates (x[2i], x[2i+1])
  attention: softmax(q k^T * scale + mask) v, K/V heads repeated with repeat_interleave (GQA),
        causal: query s sees keys t <= q_offset + s; a row with no visible key gives zeros
  pre-norm block: h = x + W_o attn(rope(W_q n1), rope(W_k n1), W_v n1), n1 = rms_norm(x)
                  y = h + W_down (silu(W_gate n2) * W_up n2),           n2 = rms_norm(h)

Tensors are in PyTorch order; the runner sees them in ggml order (reversed).
"""
import math

import torch
import torch.nn.functional as F

from harness import Case

f32, f16, i32 = torch.float32, torch.float16, torch.int32


def randn(gen, *shape, scale=1.0, dtype=f32):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


# ---- reference building blocks ---------------------------------------------------------

def rms_norm(x, w, eps):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, inv_freq, mode):
    """x [S, heads, d]; rotates all d dims."""
    ang = pos.to(torch.float64)[:, None] * inv_freq[None, :]          # [S, d/2]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
    if mode == "neox":
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def attention(q, k, v, scale, causal=False, q_offset=0, mask=None):
    """q [S, H, d], k/v [T, G, d], mask [S, T] additive -> [S, H, d]."""
    S, H, d = q.shape
    T, G, _ = k.shape
    k = k.repeat_interleave(H // G, dim=1)
    v = v.repeat_interleave(H // G, dim=1)
    scores = torch.einsum("shd,thd->hst", q, k) * scale
    if mask is not None:
        scores = scores + mask[None]
    if causal:
        s_idx = torch.arange(S)[:, None]
        t_idx = torch.arange(T)[None, :]
        scores = scores.masked_fill(t_idx > q_offset + s_idx, float("-inf"))
    seen = torch.isfinite(scores).any(-1, keepdim=True)                 # rows with a visible key
    p = torch.softmax(scores.masked_fill(~seen, 0.0), dim=-1) * seen
    return torch.einsum("hst,thd->shd", p, v)


def inv_freq(d, theta):
    return (1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)).to(f32)


# ---- pre-norm transformer block ----------------------------------------------------------

def make_block(S=11, D=64, H=4, G=2, F_=176, mode="neox", chunks=None, cache="none", matmul="plain",
               pos0=0):
    def make(gen):
        d = D // H
        sc = 1 / math.sqrt(D)
        inp = {
            "x": randn(gen, S, D),
            "attn_norm": 1 + randn(gen, D, scale=0.1),
            "wq": randn(gen, H * d, D, scale=sc), "wk": randn(gen, G * d, D, scale=sc),
            "wv": randn(gen, G * d, D, scale=sc), "wo": randn(gen, D, H * d, scale=sc),
            "ffn_norm": 1 + randn(gen, D, scale=0.1),
            "w_gate": randn(gen, F_, D, scale=sc), "w_up": randn(gen, F_, D, scale=sc),
            "w_down": randn(gen, D, F_, scale=1 / math.sqrt(F_)),
            "pos": torch.arange(pos0, pos0 + S, dtype=i32),
            "inv_freq": inv_freq(d, 500000.0),
        }
        meta = {"eps": 1e-5, "n_head": H, "n_kv_head": G, "rope": mode, "cache": cache, "matmul": matmul,
                "chunks": ",".join(str(c) for c in (chunks or [S]))}
        return inp, meta
    return make


def ref_block(t, meta):
    x, H, G, eps = t["x"], int(meta["n_head"]), int(meta["n_kv_head"]), float(meta["eps"])
    S, D = x.shape
    d = D // H
    n1 = rms_norm(x, t["attn_norm"], eps)
    q = rope((n1 @ t["wq"].T).view(S, H, d), t["pos"], t["inv_freq"], meta["rope"])
    k = rope((n1 @ t["wk"].T).view(S, G, d), t["pos"], t["inv_freq"], meta["rope"])
    v = (n1 @ t["wv"].T).view(S, G, d)
    o = attention(q, k, v, 1 / math.sqrt(d), causal=True).reshape(S, H * d)
    h = x + o @ t["wo"].T
    n2 = rms_norm(h, t["ffn_norm"], eps)
    y = h + (F.silu(n2 @ t["w_gate"].T) * (n2 @ t["w_up"].T)) @ t["w_down"].T
    return {"h": h, "y": y}


# ---- attention on its own: masks, F16 K/V, offsets ------------------------------------------

def make_attention(S, T, H, G, d, kv_dtype=f32, causal=False, q_offset=0, use_mask=True):
    def make(gen):
        inp = {"q": randn(gen, S, H, d), "k": randn(gen, T, G, d, dtype=kv_dtype),
               "v": randn(gen, T, G, d, dtype=kv_dtype)}
        if use_mask:
            m = randn(gen, S, T)
            drop = torch.rand(S, T, generator=gen) < 0.3
            m[drop] = float("-inf")
            m[min(1, S - 1)] = float("-inf")          # one query sees nothing -> zeros
            inp["mask"] = m
        return inp, {"scale": 1 / math.sqrt(d), "causal": int(causal), "q_offset": q_offset}
    return make


def ref_attention(t, meta):
    o = attention(t["q"], t["k"], t["v"], float(meta["scale"]), causal=bool(int(meta["causal"])),
                  q_offset=int(meta["q_offset"]), mask=t.get("mask"))
    return {"out": o}


# ---- convolutions ---------------------------------------------------------------------------

def make_conv(gen):
    C_in, C_out, T, C = 12, 20, 57, 16
    inp = {
        "x": randn(gen, C_in, T),
        "w": randn(gen, C_out, C_in, 3, scale=0.3), "b": randn(gen, C_out),
        "xd": randn(gen, C, T),
        "wd": randn(gen, C, 1, 7, scale=0.3, dtype=f16), "bd": randn(gen, C),
        # big enough (2.8M multiply-adds) for the im2col + linear path when scratch is given
        "xl": randn(gen, 64, 301), "wl": randn(gen, 96, 64, 3, scale=0.1, dtype=f16), "bl": randn(gen, 96),
    }
    return inp, {}


def ref_conv(t, meta):
    y = F.conv1d(t["x"][None], t["w"], t["b"], stride=2, padding=1)[0]
    yd = F.conv1d(t["xd"][None], t["wd"], t["bd"], padding=3, groups=t["xd"].shape[0])[0]
    yl = F.conv1d(t["xl"][None], t["wl"], t["bl"], stride=2, padding=1)[0]
    return {"y_stride2": y, "y_depthwise": yd, "y_large": yl}


def make_conformer_conv(gen):
    T, D, K = 40, 24, 7
    inp = {
        "x": randn(gen, T, D),
        "ln_w": 1 + randn(gen, D, scale=0.1), "ln_b": randn(gen, D, scale=0.1),
        "pw1_w": randn(gen, 2 * D, D, 1, scale=1 / math.sqrt(D)), "pw1_b": randn(gen, 2 * D, scale=0.1),
        "dw_w": randn(gen, D, 1, K, scale=0.3), "dw_b": randn(gen, D, scale=0.1),
        "bn_mean": randn(gen, D, scale=0.1), "bn_var": 0.5 + torch.rand(D, generator=gen, dtype=torch.float64).to(f32),
        "bn_w": 1 + randn(gen, D, scale=0.1), "bn_b": randn(gen, D, scale=0.1),
        "pw2_w": randn(gen, D, D, 1, scale=1 / math.sqrt(D)), "pw2_b": randn(gen, D, scale=0.1),
    }
    return inp, {"eps": 1e-5, "bn_eps": 1e-5}


def ref_conformer_conv(t, meta):
    """torchaudio ConvolutionModule (eval): LN -> pw conv -> GLU -> depthwise -> BN -> SiLU -> pw conv."""
    x = t["x"]
    D = x.shape[1]
    y = F.layer_norm(x, (D,), t["ln_w"], t["ln_b"], float(meta["eps"])).T[None]      # [1, D, T]
    y = F.glu(F.conv1d(y, t["pw1_w"], t["pw1_b"]), dim=1)
    K = t["dw_w"].shape[-1]
    y = F.conv1d(y, t["dw_w"], t["dw_b"], padding=(K - 1) // 2, groups=D)
    y = F.batch_norm(y, t["bn_mean"], t["bn_var"], t["bn_w"], t["bn_b"], training=False, eps=float(meta["bn_eps"]))
    y = F.conv1d(F.silu(y), t["pw2_w"], t["pw2_b"])
    return {"y": y[0].T}


def make_patch(gen):
    C, H, W, P, D = 3, 30, 44, 14, 32       # 2 x 3 patches; the last 2 rows / 2 columns are dropped
    return {"img": randn(gen, C, H, W), "w": randn(gen, D, C, P, P, scale=0.05),
            "w16": randn(gen, D, C, P, P, scale=0.05, dtype=f16), "b": randn(gen, D)}, {"patch": P}


def ref_patch(t, meta):
    P = int(meta["patch"])
    out = {}
    for key, name in (("w", "y"), ("w16", "y_f16")):
        y = F.conv2d(t["img"][None], t[key], t["b"], stride=P)                         # [1, D, gh, gw]
        out[name] = y.flatten(2)[0].T                                                  # [gh*gw, D]
    return out


# ---- element-wise, softmax, layer norm, layout ----------------------------------------------

def make_misc(gen):
    R, N = 9, 50
    return {"x": randn(gen, R, N, scale=3), "b": randn(gen, R, N), "bias": randn(gen, N),
            "w": 1 + randn(gen, N, scale=0.1), "lb": randn(gen, N, scale=0.1), "z": randn(gen, 4, N)}, \
        {"eps": 1e-6, "softmax_scale": 0.5, "scale": -1.25}


def ref_misc(t, meta):
    x, b = t["x"], t["b"]
    N = x.shape[1]
    return {
        "gelu": F.gelu(x, approximate="tanh"), "gelu_erf": F.gelu(x), "silu": F.silu(x),
        "sigmoid": torch.sigmoid(x), "tanh": torch.tanh(x),
        "softmax": torch.softmax(x * float(meta["softmax_scale"]), dim=-1),
        "glu": F.glu(x[:, :N // 2 * 2], dim=-1),
        "swiglu": F.silu(x) * b,
        "layer_norm": F.layer_norm(x, (N,), t["w"], t["lb"], float(meta["eps"])),
        "rms_norm": rms_norm(x, t["w"], float(meta["eps"])),
        "add_bias": x + t["bias"], "mul": x * b, "scale": x * float(meta["scale"]),
        "concat_rows": torch.cat([x, t["z"]], dim=0), "concat_cols": torch.cat([x, b], dim=1),
        "transpose": x.T.contiguous(),
    }


CASES = [
    Case("block", make_block(), ref_block, 1e-5, "pre-norm block, NEOX RoPE, GQA 4/2, one chunk"),
    Case("block_cached", make_block(S=13, mode="interleaved", chunks=[7, 1, 1, 1, 3], cache="f32", pos0=0),
         ref_block, 1e-5, "interleaved RoPE, F32 KV cache filled in chunks 7+1+1+1+3"),
    Case("block_cached_f16", make_block(S=13, chunks=[5, 1, 7], cache="f16"), ref_block, 5e-3,
         "F16 KV cache (K/V rounded to half: looser tolerance)"),
    Case("block_mqa_linear", make_block(S=9, D=96, H=6, G=1, F_=256, matmul="linear"), ref_block, 1e-5,
         "6 query heads on 1 KV head, projections through hd_op_linear (F32 weights)"),
    Case("attention_mask", make_attention(S=6, T=70, H=6, G=2, d=20), ref_attention, 1e-5,
         "additive mask with -inf holes and a fully masked row"),
    Case("attention_f16_cache", make_attention(S=3, T=150, H=8, G=2, d=64, kv_dtype=f16, causal=True,
                                               q_offset=147, use_mask=False), ref_attention, 1e-5,
         "F16 K/V, causal with q_offset (decode on a cache)"),
    Case("conv", make_conv, ref_conv, 1e-5, "conv1d stride 2 + bias; depthwise k7 and a large dense conv with F16 weights"),
    Case("conformer_conv", make_conformer_conv, ref_conformer_conv, 1e-5,
         "LayerNorm, pointwise conv, GLU, depthwise conv, BatchNorm, SiLU, pointwise conv"),
    Case("patch_embed", make_patch, ref_patch, 1e-5, "14x14 patches, F32 and F16 weights, dropped edges"),
    Case("misc", make_misc, ref_misc, {"*": 1e-5}, "activations, softmax, norms, add/mul/scale, concat, transpose"),
]
