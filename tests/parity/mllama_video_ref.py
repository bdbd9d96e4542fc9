#!/usr/bin/python3
"""Parity suite for the video cross-attention layers (lm/llama_video.c, layout and choices in
lm/llama.h "video cross-attention") on top of the mllama text decoder, run by
tests/parity/test_mllama_video.sh through harness.py with the C runner
tests/parity/parity_mllama_video.c.

Extends tests/parity/mllama_text_ref.py (its tiny model, RoPE, attention and MLP in float64):
a video layer V runs immediately before decoder layer VL[V] (an image cross-attention layer)
and is the image cross layer's block over the video tokens S_v [T_v, D]:

  y = RMSNorm_in(x);  q = q_norm(y Wqᵀ) per head;  k = k_norm(S_v Wkᵀ);  v = S_v Wvᵀ
  a = softmax(q kᵀ/√d) v Woᵀ                     (GQA, no RoPE, every video key valid)
  h = x + tanh(g_attn)·R⊙a                       (HF mode: x + tanh(g_attn)·a)
  out = h + tanh(g_mlp)·R⊙MLP(RMSNorm_post(h))
  R[s] = 1 for rows at or after the prompt's <|image|> placeholder (open-ended: generated
  rows too), else 0.  No video: the video layers are skipped.  The prompts hold no image
  for the image cross layers, so those are skipped (SPEC §2.8a step 8).

Each step recomputes the whole sequence (no cache).

Commands:
  mllama_video_ref.py write DIR [--seed N]   the text model of mllama_text_ref.py (HF folder)
                                             plus DIR/video.safetensors with the video layers
  mllama_video_ref.py gguf DIR OUT.gguf [--video-before I,J] [--drop NAME]
                                             both as one GGUF: Ollama's mllama layout, vblk.V.*
                                             and mllama.video.cross_attention_layers (the two
                                             options write broken files for the loader's errors)
  (as a suite) CASES; VIDEO_REF_MODEL the folder, VIDEO_MODEL the GGUF the runner loads,
  VIDEO_TOL (default 1e-4), VIDEO_NGEN greedy steps (default 4), VIDEO_KV f32|f16.
"""
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mllama_text_ref as T   # noqa: E402
from llama_ref import _read_safetensors   # noqa: E402

VL = [1, 4]                 # video layer v runs before decoder layer VL[v] (both image cross layers)
TV = 16                     # video tokens: 2 effective frames of 8 latents
D, H, G, HD, F = T.D, T.H, T.G, T.HD, T.F
IMAGE = T.IMAGE

VIDEO_NAMES = ["attn_norm.weight", "ffn_norm.weight", "cross_attn_q_proj.weight", "cross_attn_k_proj.weight",
               "cross_attn_v_proj.weight", "cross_attn_o_proj.weight", "cross_attn_q_norm.weight",
               "cross_attn_k_norm.weight", "cross_attn_attn_gate", "cross_attn_mlp_gate", "ffn_gate.weight",
               "ffn_up.weight", "ffn_down.weight"]


def write_model(folder, seed):
    from st_write import save
    T.write_model(folder, seed, "f32")
    g = torch.Generator().manual_seed(seed + 1000)
    n = lambda *s, std=0.15: torch.randn(*s, generator=g, dtype=torch.float64) * std
    t = {}
    for v in range(len(VL)):
        p = f"vblk.{v}."
        t[p + "attn_norm.weight"] = 1 + n(D, std=0.1)
        t[p + "ffn_norm.weight"] = 1 + n(D, std=0.1)
        t[p + "cross_attn_q_proj.weight"] = n(H * HD, D)
        t[p + "cross_attn_k_proj.weight"] = n(G * HD, D)
        t[p + "cross_attn_v_proj.weight"] = n(G * HD, D)
        t[p + "cross_attn_o_proj.weight"] = n(D, H * HD)
        t[p + "cross_attn_q_norm.weight"] = 1 + n(HD, std=0.2)
        t[p + "cross_attn_k_norm.weight"] = 1 + n(HD, std=0.2)
        t[p + "cross_attn_attn_gate"] = n(1, std=1.0)     # random gates: a lost or misplaced layer shows
        t[p + "cross_attn_mlp_gate"] = n(1, std=1.0)
        t[p + "ffn_gate.weight"] = n(F, D)
        t[p + "ffn_up.weight"] = n(F, D)
        t[p + "ffn_down.weight"] = n(D, F)
    save({k: v.float() for k, v in t.items()}, os.path.join(folder, "video.safetensors"), {"format": "pt"})


def load(folder):
    cfg, w = T.load(folder)
    vw = {}
    _read_safetensors(os.path.join(folder, "video.safetensors"), vw)
    return cfg, w, vw


# ---- GGUF: the text model in Ollama's mllama layout + the video layers --------------------------

def write_gguf(folder, out, video_before=None, drop=None):
    cfg, w, vw = load(folder)
    tc = cfg["text_config"]
    L, XL, V = tc["num_hidden_layers"], tc["cross_attention_layers"], tc["vocab_size"]

    def interleave(t, heads):   # HF half-split rows -> interleaved RoPE pairs
        return t.reshape(heads, 2, HD // 2, -1).transpose(1, 2).reshape(heads * HD, -1)

    tensors = [("token_embd.weight", w["model.embed_tokens.weight"]),
               ("output_norm.weight", w["model.norm.weight"]),
               ("output.weight", w["lm_head.weight"]),
               ("rope_freqs.weight", T.inv_freq({**tc, "rope_scaling": None}) / T.inv_freq(tc))]
    names = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
             "mlp.down_proj.weight": "ffn_down.weight", "self_attn.q_proj.weight": "attn_q.weight",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
             "self_attn.o_proj.weight": "attn_output.weight"}
    for x in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm"):
        names[f"cross_attn.{x}.weight"] = f"cross_attn_{x}.weight"
    names["cross_attn_attn_gate"] = "cross_attn_attn_gate"
    names["cross_attn_mlp_gate"] = "cross_attn_mlp_gate"
    for i in range(L):
        for hf, gg in names.items():
            k = f"model.layers.{i}.{hf}"
            if k not in w:
                continue
            t = w[k]
            if hf == "self_attn.q_proj.weight":
                t = interleave(t, H)
            elif hf == "self_attn.k_proj.weight":
                t = interleave(t, G)
            tensors.append((f"blk.{i}.{gg}", t))
    for v in range(len(VL)):
        for nm in VIDEO_NAMES:   # no RoPE in a cross layer: rows as they are
            if f"vblk.{v}.{nm}" != drop:
                tensors.append((f"vblk.{v}.{nm}", vw[f"vblk.{v}.{nm}"]))
    arr = lambda xs: struct.pack("<IQ", 5, len(xs)) + b"".join(struct.pack("<i", x) for x in xs)
    kv = [("general.architecture", 8, T._gguf_str("mllama")),
          ("mllama.block_count", 4, struct.pack("<I", L)),
          ("mllama.context_length", 4, struct.pack("<I", tc["max_position_embeddings"])),
          ("mllama.embedding_length", 4, struct.pack("<I", D)),
          ("mllama.feed_forward_length", 4, struct.pack("<I", F)),
          ("mllama.attention.head_count", 4, struct.pack("<I", H)),
          ("mllama.attention.head_count_kv", 4, struct.pack("<I", G)),
          ("mllama.rope.freq_base", 6, struct.pack("<f", tc["rope_theta"])),
          ("mllama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", tc["rms_norm_eps"])),
          ("mllama.vocab_size", 4, struct.pack("<I", V)),
          ("mllama.rope.dimension_count", 4, struct.pack("<I", HD)),
          ("mllama.attention.cross_attention_layers", 9, arr(XL)),
          ("mllama.video.cross_attention_layers", 9, arr(video_before or VL))]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, ty, val in kv:
        head += T._gguf_str(k) + struct.pack("<I", ty) + val
    data, off = b"", 0
    for name, t in tensors:
        a = t.to(torch.float32).contiguous().numpy().tobytes()
        ne = list(reversed(t.shape))
        head += T._gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        head += struct.pack("<IQ", 0, off)
        pad = (-len(a)) % 32
        data += a + b"\0" * pad
        off += len(a) + pad
    head += b"\0" * ((-len(head)) % 32)
    with open(out, "wb") as f:
        f.write(head + data)


# ---- the forward pass (float64) --------------------------------------------------------------

def cross_block(x, w, p, kv_in, R, mode, eps):
    """The gated cross-attention block (SPEC §2.6) with every key valid; R [S, 1]."""
    S = x.shape[0]
    y = T.rms_norm(x, w[p + "attn_norm.weight"], eps)
    q = T.rms_norm((y @ w[p + "cross_attn_q_proj.weight"].T).reshape(S, H, HD), w[p + "cross_attn_q_norm.weight"], eps)
    k = T.rms_norm((kv_in @ w[p + "cross_attn_k_proj.weight"].T).reshape(-1, G, HD), w[p + "cross_attn_k_norm.weight"],
                   eps)
    v = (kv_in @ w[p + "cross_attn_v_proj.weight"].T).reshape(-1, G, HD)
    a = T.attend(q, k, v, torch.zeros(S, kv_in.shape[0], dtype=torch.float64)) @ w[p + "cross_attn_o_proj.weight"].T
    if mode == "meta":
        a = a * R
    h = x + torch.tanh(w[p + "cross_attn_attn_gate"]) * a
    y2 = T.rms_norm(h, w[p + "ffn_norm.weight"], eps)
    z = (torch.nn.functional.silu(y2 @ w[p + "ffn_gate.weight"].T) * (y2 @ w[p + "ffn_up.weight"].T)) @ \
        w[p + "ffn_down.weight"].T
    return h + torch.tanh(w[p + "cross_attn_mlp_gate"]) * (z * R)


def forward(cfg, w, vw, ids, video, mode):
    tc = cfg["text_config"]
    eps, S = tc["rms_norm_eps"], len(ids)
    freq = T.inv_freq(tc)
    pos = torch.arange(S)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    causal = torch.full((S, S), float("-inf"), dtype=torch.float64).triu(1)
    if video is not None:
        p0 = ids.index(IMAGE)                                  # the placeholder: rows from it on see the video
        R = (torch.arange(S) >= p0).double()[:, None]
    for i in range(tc["num_hidden_layers"]):
        if video is not None:
            for v, before in enumerate(VL):
                if before == i:
                    x = cross_block(x, vw, f"vblk.{v}.", video, R, mode, eps)
        p = f"model.layers.{i}."
        if i in tc["cross_attention_layers"]:
            continue                                           # no image: skipped
        y = T.rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = T.rope((y @ w[p + "self_attn.q_proj.weight"].T).reshape(S, H, HD), pos, freq)
        k = T.rope((y @ w[p + "self_attn.k_proj.weight"].T).reshape(S, G, HD), pos, freq)
        v_ = (y @ w[p + "self_attn.v_proj.weight"].T).reshape(S, G, HD)
        x = x + T.attend(q, k, v_, causal) @ w[p + "self_attn.o_proj.weight"].T
        x = x + T.mlp(T.rms_norm(x, w[p + "post_attention_layernorm.weight"], eps), w, p)
    return T.rms_norm(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T


# ---- the suite ---------------------------------------------------------------------------------

_cache = {}


def ref_model():
    path = os.environ.get("VIDEO_REF_MODEL")
    if not path:
        raise SystemExit("VIDEO_REF_MODEL must name the folder the reference reads")
    if path not in _cache:
        _cache[path] = load(path)
    return _cache[path]


def reference(inp, meta):
    cfg, w, vw = ref_model()
    prompt = inp["ids"].long().tolist()
    video = inp["video"].double() if "video" in inp else None
    seq, gen, gen_logits, logits = list(prompt), [], [], None
    n_gen = int(meta["n_gen"])
    for step in range(n_gen + 1):
        lg = forward(cfg, w, vw, seq, video, meta["mode"])
        if step == 0:
            logits = lg
        else:
            gen_logits.append(lg[-1])
        if step < n_gen:
            t = int(torch.argmax(lg[-1]))
            gen.append(t)
            seq.append(t)
    out = {"logits": logits}
    if n_gen:
        out["gen"] = torch.tensor(gen, dtype=torch.float64)
        out["gen_logits"] = torch.stack(gen_logits)
    return out


def make_case(name, prompt, with_video, mode, n_batch, n_gen, doc):
    def make(g):
        inputs = {"ids": torch.tensor(prompt, dtype=torch.int32)}
        if with_video:
            inputs["video"] = torch.randn(TV, D, generator=g, dtype=torch.float64).float()
        meta = {"model": os.environ.get("VIDEO_MODEL", ""), "mode": mode, "n_batch": n_batch, "n_gen": n_gen,
                "image_token": IMAGE, "kv": os.environ.get("VIDEO_KV", "f32")}
        return inputs, meta
    tol = float(os.environ.get("VIDEO_TOL", "1e-4"))
    return Case(name, make, reference, {"*": tol, "gen": 1e-9}, doc)


try:
    from harness import Case
except ImportError:
    Case = None

I = IMAGE
CLIP = [1, 17, 9, 40, I, 22, 23, 24, 99, 5, 61]          # text before and after the video placeholder
FIRST = [1, I, 30, 31, 32, 33]                           # the placeholder right after BOS

N_GEN = int(os.environ.get("VIDEO_NGEN", "4"))
CASES = [] if Case is None else [
    make_case(f"{label}_{mode}_b{nb}", prompt, True, mode, nb, N_GEN,
              f"video, {label}, {mode.upper()} row masking, batches of {nb}")
    for label, prompt in (("clip", CLIP), ("first", FIRST))
    for mode in ("meta", "hf")
    for nb in (16, 3)
] + [make_case("no_video", CLIP, False, "meta", 16, N_GEN, "no video set: the video layers are skipped")]


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
        write_model(sys.argv[2], seed)
    elif len(sys.argv) >= 4 and sys.argv[1] == "gguf":
        vb = sys.argv[sys.argv.index("--video-before") + 1] if "--video-before" in sys.argv else None
        drop = sys.argv[sys.argv.index("--drop") + 1] if "--drop" in sys.argv else None
        write_gguf(sys.argv[2], sys.argv[3], [int(x) for x in vb.split(",")] if vb else None, drop)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
