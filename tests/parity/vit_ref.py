#!/usr/bin/python3
"""Parity suite for vision/vit.h (the Llama 3.2 Vision encoder + projector), run by
tests/parity/test_vit.sh through harness.py with the C runner tests/parity/parity_vision.c.

The reference is written from the published math (SPEC §2.4-2.5; module structure as in
Hugging Face's MllamaVisionModel, re-derived, not imported), in float64 PyTorch, on a
Hugging Face mllama checkpoint read by hand (config.json + model.safetensors):

  x      = conv2d(pixels, patch_embedding, stride p)             [T, P0, W] per tile
  x     += tanh(g_pre) * E_pre[ar_id].view(T, 1, W)
  x      = [CLS; x]                                               [T, P, W]
  x     += (1 - tanh g) * Pos + tanh g * TileTok[ar_id].view(T, P, W)
  x      = LayerNorm_pre(x); pad to Ppad = P + (8 - P % 8) % 8 with zeros; flatten [T*Ppad, W]
  mask   = -inf where query and key are both invalid (tile >= n_tiles or token >= P)
  hidden = [x]; local layers: x += Attn(LN1 x); x += fc2(gelu(fc1(LN2 x))); hidden.append(x)
  inter  = stack(hidden[i] for i in intermediate_layers_indices, dim=-1)   [L, W, 5]
  x      = LayerNorm_post(x); x += tanh(g_post) * E_post[ar_id].view(T, 1, W) (all tokens)
  global layers: x += tanh(gate_attn) * Attn(LN1 x); x += tanh(gate_ffn) * MLP(LN2 x)
  out    = [x | inter.flatten(W, 5)] unpadded                     [T, P, W * 6]
  proj   = out @ multi_modal_projector.weight.T + bias            [T*P, D]

Attention: q/k/v/o without bias, heads of W/H, softmax(q k^T / sqrt(d) + mask).
The environment variable VIT_MODEL names the checkpoint the runner loads (HF folder or GGUF)
and VIT_REF_MODEL the HF folder the reference reads (default VIT_MODEL); VIT_TOL the
relative tolerance (default 1e-4).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from harness import Case
from llama_ref import _read_safetensors   # F32 / F16 / BF16 -> float64 tensors
import preprocess_ref

_cache = {}


def load(folder):
    if folder in _cache:
        return _cache[folder]
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    w = {}
    _read_safetensors(os.path.join(folder, "model.safetensors"), w)
    _cache[folder] = (cfg, w)
    return cfg, w


def attention(x, w, pre, heads, mask):
    L, D = x.shape
    d = D // heads
    q = (x @ w[pre + "q_proj.weight"].T).view(L, heads, d).transpose(0, 1)
    k = (x @ w[pre + "k_proj.weight"].T).view(L, heads, d).transpose(0, 1)
    v = (x @ w[pre + "v_proj.weight"].T).view(L, heads, d).transpose(0, 1)
    s = q @ k.transpose(1, 2) / math.sqrt(d) + mask
    o = torch.softmax(s, dim=-1) @ v
    return o.transpose(0, 1).reshape(L, D) @ w[pre + "o_proj.weight"].T


def encoder_layer(x, w, pre, heads, eps, mask, gated):
    ln = lambda t, n: F.layer_norm(t, (t.shape[-1],), w[pre + n + ".weight"], w[pre + n + ".bias"], eps)
    a = attention(ln(x, "input_layernorm"), w, pre + "self_attn.", heads, mask)
    if gated:
        a = torch.tanh(w[pre + "gate_attn"]) * a
    x = x + a
    h = ln(x, "post_attention_layernorm")
    m = F.linear(F.gelu(F.linear(h, w[pre + "mlp.fc1.weight"], w[pre + "mlp.fc1.bias"])),
                 w[pre + "mlp.fc2.weight"], w[pre + "mlp.fc2.bias"])
    if gated:
        m = torch.tanh(w[pre + "gate_ffn"]) * m
    return x + m


def vision_forward(cfg, w, pixels, ar_id, n_tiles):
    vc = cfg["vision_config"]
    W, heads, eps, p = vc["hidden_size"], vc["attention_heads"], vc.get("norm_eps", 1e-5), vc["patch_size"]
    T = vc["max_num_tiles"]
    V = "vision_model."
    x = F.conv2d(pixels, w[V + "patch_embedding.weight"], stride=p)        # [T, W, g, g]
    x = x.flatten(2).transpose(1, 2)                                         # [T, P0, W]
    x = x + torch.tanh(w[V + "pre_tile_positional_embedding.gate"]) * \
        w[V + "pre_tile_positional_embedding.embedding.weight"][ar_id].view(T, 1, W)
    x = torch.cat([w[V + "class_embedding"].expand(T, 1, W), x], dim=1)   # [T, P, W]
    P = x.shape[1]
    g = torch.tanh(w[V + "gated_positional_embedding.gate"])
    x = x + (1 - g) * w[V + "gated_positional_embedding.embedding"] + \
        g * w[V + "gated_positional_embedding.tile_embedding.weight"][ar_id].view(T, P, W)
    x = F.layer_norm(x, (W,), w[V + "layernorm_pre.weight"], w[V + "layernorm_pre.bias"], eps)
    pad = (8 - P % 8) % 8
    Pp = P + pad
    x = F.pad(x, (0, 0, 0, pad)).reshape(T * Pp, W)
    valid = torch.zeros(T, Pp)
    valid[:n_tiles, :P] = 1
    inv = (1 - valid).reshape(-1)
    mask = torch.where(torch.outer(inv, inv) > 0, torch.tensor(-math.inf), torch.tensor(0.0))
    hidden = [x]
    for i in range(vc["num_hidden_layers"]):
        x = encoder_layer(x, w, f"{V}transformer.layers.{i}.", heads, eps, mask, False)
        hidden.append(x)
    inter = torch.stack([hidden[i] for i in vc["intermediate_layers_indices"]], dim=-1)   # [L, W, n]
    x = F.layer_norm(x, (W,), w[V + "layernorm_post.weight"], w[V + "layernorm_post.bias"], eps)
    x = x.view(T, Pp, W) + torch.tanh(w[V + "post_tile_positional_embedding.gate"]) * \
        w[V + "post_tile_positional_embedding.embedding.weight"][ar_id].view(T, 1, W)
    x = x.reshape(T * Pp, W)
    for i in range(vc["num_global_layers"]):
        x = encoder_layer(x, w, f"{V}global_transformer.layers.{i}.", heads, eps, mask, True)
    x = x.view(T, Pp, W)[:, :P]
    inter = inter.reshape(T, Pp, -1)[:, :P]
    out = torch.cat([x, inter], dim=-1)                                      # [T, P, W*(n+1)]
    proj = out.reshape(T * P, -1) @ w["multi_modal_projector.weight"].T + w["multi_modal_projector.bias"]
    return out, proj


def model_paths():
    m = os.environ.get("VIT_MODEL")
    if not m:
        raise SystemExit("vit_ref.py: set VIT_MODEL to the checkpoint (tests/parity/test_vit.sh does)")
    return m, os.environ.get("VIT_REF_MODEL", m)


def tol():
    return float(os.environ.get("VIT_TOL", "1e-4"))


def reference(inp, meta):
    cfg, w = load(meta["ref_model"])
    out, proj = vision_forward(cfg, w, inp["pixel_values"], int(meta["ar_id"]), int(meta["n_tiles"]))
    return {"features": out, "projected": proj}


def random_case(name, ar_id, n_tiles, doc):
    def make(gen):
        model, ref_model = model_paths()
        cfg, _ = load(ref_model)
        vc = cfg["vision_config"]
        T, t = vc["max_num_tiles"], vc["image_size"]
        pv = torch.randn(T, 3, t, t, generator=gen, dtype=torch.float64)
        pv[n_tiles:] = 0   # the processor leaves missing tiles at zero
        return {"pixel_values": pv.to(torch.float32)}, {"model": model, "ref_model": ref_model, "ar_id": ar_id,
                                                        "n_tiles": n_tiles}

    return Case(name, make, reference, {"*": tol()}, doc)


def image_case(name, image):
    def make(gen):
        model, ref_model = model_paths()
        cfg, _ = load(ref_model)
        vc = cfg["vision_config"]
        pv, ar_id, mask, _ = preprocess_ref.preprocess(preprocess_ref.load_rgb(image), vc["image_size"],
                                                       vc["max_num_tiles"])
        return {"pixel_values": torch.from_numpy(pv)}, {"model": model, "ref_model": ref_model, "ar_id": ar_id,
                                                        "n_tiles": int(mask.sum())}

    return Case(name, make, reference, {"*": tol()}, f"{image} preprocessed for the model's tile size")


CASES = [
    random_case("vit_2x2_full", 6, 4, "random pixels, 2x2 tiles (all four valid)"),
    random_case("vit_1x2_masked", 2, 2, "random pixels, 1x2 tiles: two empty slots (pad/pad mask)"),
    random_case("vit_1x1_single", 1, 1, "random pixels, one tile"),
    random_case("vit_3x1", 7, 3, "random pixels, 3x1 tiles"),
    image_case("vit_image_bus", "bus.jpg"),
    image_case("vit_image_street", "street_2560x1440.jpg"),
]
