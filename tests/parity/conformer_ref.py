#!/usr/bin/python3
"""Parity suite for speech/conformer.c (harness.py; runner tests/parity/parity_conformer.c).

The model is a GGUF written by `herd random-model --arch conformer` (path in the
environment variable CONFORMER_MODEL), read here with the independent GGUF reader of
tests/e2e/random_model_ref.py.  Inputs are random log-mel-like frames.  Two references,
both float64:

* ``encoder`` — written from the published math (Gulati et al. 2020, Llama 3 §8.2 as
  SPEC §4/§6 summarise it), not from herd's C: stride-``stack`` frame stacking + linear,
  then per block  x += ½·FFN(x);  x += MHSA_rope(x);  x += Conv(x);  x += ½·FFN(x);
  y = LayerNorm(x).  RoPE: interleaved pairs (2i, 2i+1), θ from the file.
* ``encoder_torchaudio`` — torchaudio.models.Conformer's own ConformerLayer (feed-forward
  modules, convolution module with BatchNorm, layer norms, residual order) loaded with the
  same weights; only its ``self_attn`` (torch.nn.MultiheadAttention, no positions) is
  swapped for a rotary attention module, the one documented difference (SPEC §6.3).
* ``torchaudio_modules`` (no C side involved twice): each matching torchaudio piece —
  _FeedForwardModule (×2) and _ConvolutionModule — against the hand-written functions of
  the first reference on the same input, to show the two references agree piece by piece.
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
    path = os.environ.get("CONFORMER_MODEL")
    if not path:
        raise SystemExit("CONFORMER_MODEL: path of a `herd random-model --arch conformer` GGUF")
    if path not in _CACHE:
        kv, _, tensors = read_gguf(path)
        cfg = {k.split("conformer.", 1)[1]: v[1] for k, v in kv.items() if k.startswith("conformer.")}
        W = {}
        for name, (tname, ne, arr) in tensors.items():
            if arr is None:
                raise SystemExit(f"{path}: {name} is {tname}; the reference reads F32/F16/BF16/Q8_0")
            W[name] = torch.from_numpy(arr.astype("float64"))
        _CACHE[path] = (cfg, W)
    return _CACHE[path]


# ---- reference 1: the published math -------------------------------------------------------

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def swish(x):
    return x * torch.sigmoid(x)


def ffn(x, W, p, eps):
    """LayerNorm -> Linear(D, F) -> Swish -> Linear(F, D) (the residual and the 1/2 are the caller's)."""
    h = layer_norm(x, W[p + ".norm.weight"], W[p + ".norm.bias"], eps)
    h = swish(h @ W[p + ".up.weight"].T + W[p + ".up.bias"])
    return h @ W[p + ".down.weight"].T + W[p + ".down.bias"]


def rope_interleaved(x, theta):
    """x [T, H, d]: pairs (2i, 2i+1) of token t rotate by angle t * theta^(-2i/d)."""
    T, _, d = x.shape
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]        # [T, d/2]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def rope_attention(h, W, p, H, d, theta):
    """Multi-head self-attention with rotary q, k: softmax(q k^T / sqrt(d)) v, all frames see all."""
    T = h.shape[0]
    q = (h @ W[p + ".q.weight"].T + W[p + ".q.bias"]).view(T, H, d)
    k = (h @ W[p + ".k.weight"].T + W[p + ".k.bias"]).view(T, H, d)
    v = (h @ W[p + ".v.weight"].T + W[p + ".v.bias"]).view(T, H, d)
    q, k = rope_interleaved(q, theta), rope_interleaved(k, theta)
    att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / math.sqrt(d), dim=-1)
    o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * d)
    return o @ W[p + ".out.weight"].T + W[p + ".out.bias"]


def conv_module(x, W, p, K, eps, bn_eps):
    """LayerNorm -> pointwise conv D->2D -> GLU -> depthwise conv K -> BatchNorm -> Swish -> pointwise conv."""
    h = layer_norm(x, W[p + ".norm.weight"], W[p + ".norm.bias"], eps)        # [T, D]
    h = h @ W[p + ".pw1.weight"].T + W[p + ".pw1.bias"]                        # [T, 2D]
    D = h.shape[1] // 2
    h = h[:, :D] * torch.sigmoid(h[:, D:])                                      # GLU
    pad = (K - 1) // 2
    hp = torch.nn.functional.pad(h.T, (pad, pad))                              # [D, T + K - 1]
    w = W[p + ".dw.weight"][:, 0, :]                                            # [D, K]
    T = h.shape[0]
    y = torch.stack([(hp[:, t:t + K] * w).sum(-1) for t in range(T)], 1) + W[p + ".dw.bias"][:, None]
    y = (y - W[p + ".bn.mean"][:, None]) / torch.sqrt(W[p + ".bn.var"][:, None] + bn_eps) * \
        W[p + ".bn.weight"][:, None] + W[p + ".bn.bias"][:, None]
    y = swish(y).T                                                              # [T, D]
    return y @ W[p + ".pw2.weight"].T + W[p + ".pw2.bias"]


def encoder_math(mel, cfg, W):
    n_mel, stack = cfg["mel_bins"], cfg["stack_frames"]
    H, d, K = cfg["attention.head_count"], cfg["attention.key_length"], cfg["conv_kernel_size"]
    eps, bn_eps, theta = cfg["attention.layer_norm_epsilon"], cfg["batch_norm_epsilon"], cfg["rope.freq_base"]
    T = mel.shape[0] // stack
    x = mel[:T * stack].reshape(T, stack * n_mel) @ W["enc.in.weight"].T + W["enc.in.bias"]
    for l in range(cfg["block_count"]):
        b = f"enc.blk.{l}"
        x = x + 0.5 * ffn(x, W, b + ".ff1", eps)
        h = layer_norm(x, W[b + ".attn.norm.weight"], W[b + ".attn.norm.bias"], eps)
        x = x + rope_attention(h, W, b + ".attn", H, d, theta)
        x = x + conv_module(x, W, b + ".conv", K, eps, bn_eps)
        x = x + 0.5 * ffn(x, W, b + ".ff2", eps)
        x = layer_norm(x, W[b + ".norm.weight"], W[b + ".norm.bias"], eps)
    return x


# ---- reference 2: torchaudio's ConformerLayer ---------------------------------------------

class RopeSelfAttention(torch.nn.Module):
    """Drop-in for ConformerLayer.self_attn (torch.nn.MultiheadAttention's call signature)."""

    def __init__(self, W, p, H, d, theta):
        super().__init__()
        self.W, self.p, self.H, self.d, self.theta = W, p, H, d, theta

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False):
        # torchaudio works in [T, B, D]
        out = torch.stack([rope_attention(query[:, i], self.W, self.p, self.H, self.d, self.theta)
                           for i in range(query.shape[1])], 1)
        return out, None


def torchaudio_layer(cfg, W, l):
    from torchaudio.models.conformer import ConformerLayer
    D, F, K = cfg["embedding_length"], cfg["feed_forward_length"], cfg["conv_kernel_size"]
    H, d = cfg["attention.head_count"], cfg["attention.key_length"]
    layer = ConformerLayer(D, F, H, K, dropout=0.0, use_group_norm=False, convolution_first=False).double().eval()
    b = f"enc.blk.{l}"
    sd = {}
    for which in ("ffn1", "ffn2"):
        g = b + (".ff1" if which == "ffn1" else ".ff2")
        sd[f"{which}.sequential.0.weight"], sd[f"{which}.sequential.0.bias"] = W[g + ".norm.weight"], W[g + ".norm.bias"]
        sd[f"{which}.sequential.1.weight"], sd[f"{which}.sequential.1.bias"] = W[g + ".up.weight"], W[g + ".up.bias"]
        sd[f"{which}.sequential.4.weight"], sd[f"{which}.sequential.4.bias"] = W[g + ".down.weight"], W[g + ".down.bias"]
    sd["self_attn_layer_norm.weight"], sd["self_attn_layer_norm.bias"] = W[b + ".attn.norm.weight"], W[b + ".attn.norm.bias"]
    c = b + ".conv"
    sd["conv_module.layer_norm.weight"], sd["conv_module.layer_norm.bias"] = W[c + ".norm.weight"], W[c + ".norm.bias"]
    sd["conv_module.sequential.0.weight"] = W[c + ".pw1.weight"][:, :, None]
    sd["conv_module.sequential.0.bias"] = W[c + ".pw1.bias"]
    sd["conv_module.sequential.2.weight"], sd["conv_module.sequential.2.bias"] = W[c + ".dw.weight"], W[c + ".dw.bias"]
    sd["conv_module.sequential.3.weight"], sd["conv_module.sequential.3.bias"] = W[c + ".bn.weight"], W[c + ".bn.bias"]
    sd["conv_module.sequential.3.running_mean"] = W[c + ".bn.mean"]
    sd["conv_module.sequential.3.running_var"] = W[c + ".bn.var"]
    sd["conv_module.sequential.3.num_batches_tracked"] = torch.tensor(0)
    sd["conv_module.sequential.5.weight"] = W[c + ".pw2.weight"][:, :, None]
    sd["conv_module.sequential.5.bias"] = W[c + ".pw2.bias"]
    sd["final_layer_norm.weight"], sd["final_layer_norm.bias"] = W[b + ".norm.weight"], W[b + ".norm.bias"]
    own = {k: v for k, v in layer.state_dict().items() if not k.startswith("self_attn.")}
    missing = set(own) ^ set(sd)
    if missing:
        raise SystemExit(f"torchaudio ConformerLayer state dict differs from the mapping: {sorted(missing)}")
    layer.load_state_dict({**sd, **{k: v for k, v in layer.state_dict().items() if k.startswith("self_attn.")}})
    # PyTorch's LayerNorm/BatchNorm epsilons are torchaudio's fixed 1e-5: the file must agree
    for m in layer.modules():
        if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)):
            want = cfg["batch_norm_epsilon"] if isinstance(m, torch.nn.BatchNorm1d) else cfg["attention.layer_norm_epsilon"]
            if abs(m.eps - want) > 1e-12 * max(1.0, want):
                m.eps = float(want)
    layer.self_attn = RopeSelfAttention(W, b + ".attn", H, d, cfg["rope.freq_base"])
    return layer


def encoder_torchaudio(mel, cfg, W):
    n_mel, stack = cfg["mel_bins"], cfg["stack_frames"]
    T = mel.shape[0] // stack
    x = mel[:T * stack].reshape(T, stack * n_mel) @ W["enc.in.weight"].T + W["enc.in.bias"]
    x = x[:, None, :]                                                           # [T, B=1, D]
    with torch.no_grad():
        for l in range(cfg["block_count"]):
            x = torchaudio_layer(cfg, W, l)(x, None)
    return x[:, 0, :]


# ---- cases ---------------------------------------------------------------------------------

def make_mel(T):
    def make(gen):
        cfg, _ = model()
        mel = 4.0 + 3.0 * torch.randn(T, cfg["mel_bins"], generator=gen, dtype=torch.float64)
        return {"mel": mel.float()}, {"model": os.environ["CONFORMER_MODEL"]}
    return make


def ref_math(inputs, meta):
    cfg, W = model()
    return {"y": encoder_math(inputs["mel"], cfg, W)}


def ref_torchaudio(inputs, meta):
    cfg, W = model()
    return {"y": encoder_torchaudio(inputs["mel"], cfg, W)}


def check_torchaudio_modules():
    """The hand-written FFN and conv module against torchaudio's classes (no C involved)."""
    cfg, W = model()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(37, 1, cfg["embedding_length"], generator=g, dtype=torch.float64)
    layer = torchaudio_layer(cfg, W, 0)
    eps, K, bn_eps = cfg["attention.layer_norm_epsilon"], cfg["conv_kernel_size"], cfg["batch_norm_epsilon"]
    with torch.no_grad():
        pairs = {
            "ffn1": (layer.ffn1(x)[:, 0], ffn(x[:, 0], W, "enc.blk.0.ff1", eps)),
            "ffn2": (layer.ffn2(x)[:, 0], ffn(x[:, 0], W, "enc.blk.0.ff2", eps)),
            "conv_module": (layer.conv_module(x.transpose(0, 1))[0], conv_module(x[:, 0], W, "enc.blk.0.conv", K, eps, bn_eps)),
        }
    worst = 0.0
    for name, (a, b) in pairs.items():
        rel = float((a - b).abs().max() / b.abs().max())
        worst = max(worst, rel)
        print(f"  torchaudio {name:<12} vs hand-written reference: max rel {rel:.2e}")
    return worst


_TOL = float(os.environ.get("CONFORMER_TOL", "1e-4"))  # override for experiments

CASES = [
    Case("encoder", make_mel(103), ref_math, _TOL,
         "103 mel frames (25 encoder frames, a partial stack dropped) vs the published math"),
    Case("encoder_torchaudio", make_mel(64), ref_torchaudio, _TOL,
         "64 mel frames vs torchaudio's ConformerLayer with a rotary self_attn"),
    Case("encoder_long", make_mel(801), ref_math, _TOL, "801 mel frames (200 encoder frames)"),
]

if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "modules":
        worst = check_torchaudio_modules()
        ok = worst <= 1e-12
        print(f"{'ok' if ok else 'FAIL'}: torchaudio modules agree with the hand-written reference (max rel {worst:.2e}, tol 1e-12)")
        sys.exit(0 if ok else 1)
    raise SystemExit("usage: conformer_ref.py modules   (the encoder cases run through harness.py)")
