#!/usr/bin/python3
"""Float64 PyTorch reference of the Granite LM (HF GraniteForCausalLM, the
language model of GraniteSpeechForConditionalGeneration) with its optional
PEFT LoRA adapter and caller-given input rows, written from the published
math (transformers models/granite/modeling_granite.py, peft LoraLayer):

    x = embedding_multiplier * E[ids]          (audio rows: the given rows,
                                                 scaled too: GraniteModel scales
                                                 inputs_embeds)
    per layer:  a = rms_norm(x)
                q = a Wq^T + s * (a A_q^T) B_q^T   (s = lora_alpha / r; k, v, o alike)
                scores = q k^T * attention_multiplier (causal, GQA, RoPE half-split)
                x = x + residual_multiplier * o_proj(softmax(scores) v)
                x = x + residual_multiplier * down(silu(gate f) * up f),  f = rms_norm(x)
    logits = lm_head(rms_norm(x)) / logits_scaling

The folder is a granite_speech one (config text_config, tensors under
language_model.) or a plain GraniteForCausalLM one (model.*).

  logits --model DIR --ids 1,-1,-1,5 [--embd ROWS.f32] [--lora] --out FILE
      ids -1 take the next row of ROWS (raw float32 [n][D]); writes raw
      float32 logits [S, V] of every position
  greedy --model DIR --ids ... [--embd ROWS.f32] [--lora] -n N
      prints N greedy token ids
  compare A B --vocab V --tol T      max|a-b| / max|b| over all values
  plain --model DIR --out DIR2
      DIR2 = the LM of a granite_speech folder as a plain GraniteForCausalLM
      folder (config.json = text_config, model.* names, F32), written with
      tests/parity/st_write.py
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402  (safetensors reader, rms_norm, RoPE)

torch.set_default_dtype(torch.float64)

LORA_PROJ = {
    "q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
    "o_proj": "self_attn.o_proj", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
    "down_proj": "mlp.down_proj",
}


def load(folder, with_lora):
    cfg, W = llama_ref.load_hf(folder)
    W = {k: v for k, v in W.items()}
    text = cfg.get("text_config", cfg) if cfg.get("model_type") == "granite_speech" else cfg
    prefix = "language_model.model." if "language_model.model.embed_tokens.weight" in W else "model."
    lora = None
    if with_lora:
        with open(os.path.join(folder, "adapter_config.json")) as f:
            ac = json.load(f)
        A = {}
        llama_ref._read_safetensors(os.path.join(folder, "adapter_model.safetensors"), A)
        r, alpha = ac["r"], ac["lora_alpha"]
        scale = alpha / math.sqrt(r) if ac.get("use_rslora") else alpha / r
        lora = {"scale": scale, "w": {}}
        for name, t in A.items():
            # [base_model.model.][language_model.]model.layers.N.<module>.lora_{A,B}.weight
            i = name.index("layers.")
            lora["w"][name[i:]] = t
    return text, W, prefix, lora


def linear(x, W, name, lora):
    """x W^T (+ LoRA: s * (x A^T) B^T).  name = 'layers.N.self_attn.q_proj'."""
    y = x @ W.T
    if lora is not None and name + ".lora_A.weight" in lora["w"]:
        a = lora["w"][name + ".lora_A.weight"]
        b = lora["w"][name + ".lora_B.weight"]
        y = y + lora["scale"] * ((x @ a.T) @ b.T)
    return y


def forward(cfg, W, prefix, lora, ids, rows):
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads") or H
    d = D // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    m_emb = cfg.get("embedding_multiplier", 1.0)
    m_res = cfg.get("residual_multiplier", 1.0)
    m_att = cfg.get("attention_multiplier", 1.0)
    s_log = cfg.get("logits_scaling", 1.0)
    inv_freq = llama_ref.rope_inv_freq(cfg, d)
    S = len(ids)
    pos = torch.arange(S)
    emb = W[prefix + "embed_tokens.weight"]
    x = torch.zeros(S, D)
    k_row = 0
    for i, t in enumerate(ids):
        if t < 0:
            x[i] = rows[k_row]
            k_row += 1
        else:
            x[i] = emb[t]
    x = x * m_emb
    mask = torch.full((S, S), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"{prefix}layers.{l}."
        n = f"layers.{l}."
        a = llama_ref.rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(a, W[p + "self_attn.q_proj.weight"], n + "self_attn.q_proj", lora).view(S, H, d)
        k = linear(a, W[p + "self_attn.k_proj.weight"], n + "self_attn.k_proj", lora).view(S, G, d)
        v = linear(a, W[p + "self_attn.v_proj.weight"], n + "self_attn.v_proj", lora).view(S, G, d)
        q = llama_ref.rope_half_split(q, pos, inv_freq)
        k = llama_ref.rope_half_split(k, pos, inv_freq)
        k = k.repeat_interleave(H // G, dim=1)
        v = v.repeat_interleave(H // G, dim=1)
        scores = torch.einsum("shd,thd->hst", q, k) * m_att + mask
        o = torch.einsum("hst,thd->shd", scores.softmax(-1), v).reshape(S, H * d)
        x = x + m_res * linear(o, W[p + "self_attn.o_proj.weight"], n + "self_attn.o_proj", lora)
        f = llama_ref.rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(linear(f, W[p + "mlp.gate_proj.weight"], n + "mlp.gate_proj", lora))
        u = linear(f, W[p + "mlp.up_proj.weight"], n + "mlp.up_proj", lora)
        x = x + m_res * linear(g * u, W[p + "mlp.down_proj.weight"], n + "mlp.down_proj", lora)
    x = llama_ref.rms_norm(x, W[prefix + "norm.weight"], eps)
    head_name = "language_model.lm_head.weight" if prefix.startswith("language_model.") else "lm_head.weight"
    head = W.get(head_name, emb)
    return (x @ head.T) / s_log


def read_rows(path, D):
    if not path:
        return None
    a = np.fromfile(path, dtype="<f4").astype(np.float64)
    if a.size % D:
        raise SystemExit(f"{path}: {a.size} floats is not a multiple of {D}")
    return torch.from_numpy(a.reshape(-1, D))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("logits", "greedy"):
        a = sub.add_parser(name)
        a.add_argument("--model", required=True)
        a.add_argument("--ids", required=True)
        a.add_argument("--embd")
        a.add_argument("--lora", action="store_true")
        if name == "logits":
            a.add_argument("--out", required=True)
        else:
            a.add_argument("-n", type=int, default=8)
    pl = sub.add_parser("plain")
    pl.add_argument("--model", required=True)
    pl.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--vocab", type=int, required=True)
    c.add_argument("--tol", type=float, required=True)
    args = ap.parse_args()
    if args.cmd == "compare":
        a = np.fromfile(args.a, dtype="<f4").astype(np.float64)
        b = np.fromfile(args.b, dtype="<f4").astype(np.float64)
        if a.size != b.size or a.size % args.vocab or a.size == 0:
            print(f"size mismatch: {a.size} vs {b.size} values (vocab {args.vocab})")
            sys.exit(1)
        if not np.all(np.isfinite(a)):
            print(f"{args.a}: non-finite values")
            sys.exit(1)
        rel = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
        same = bool(np.all(a.reshape(-1, args.vocab).argmax(1) == b.reshape(-1, args.vocab).argmax(1)))
        print(f"rel {rel:.3g} argmax-equal {same}")
        sys.exit(0 if rel <= args.tol and same else 1)
    if args.cmd == "plain":
        import st_write
        with open(os.path.join(args.model, "config.json")) as f:
            top = json.load(f)
        text = dict(top["text_config"], architectures=["GraniteForCausalLM"], model_type="granite")
        _, W = llama_ref.load_hf(args.model)
        lm = {k[len("language_model."):]: v.float() for k, v in W.items() if k.startswith("language_model.")}
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "config.json"), "w") as f:
            json.dump(text, f, indent=2)
        st_write.save(lm, os.path.join(args.out, "model.safetensors"))
        return
    cfg, W, prefix, lora = load(args.model, args.lora)
    ids = [int(t) for t in args.ids.replace(",", " ").split()]
    rows = read_rows(args.embd, cfg["hidden_size"])
    if args.cmd == "logits":
        forward(cfg, W, prefix, lora, ids, rows).float().numpy().astype("<f4").tofile(args.out)
    else:
        out = []
        for _ in range(args.n):
            out.append(int(forward(cfg, W, prefix, lora, ids + out, rows)[-1].argmax()))
        print(" ".join(map(str, out)))


if __name__ == "__main__":
    main()
