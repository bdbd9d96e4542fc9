#!/usr/bin/python3
"""Parity suite for the Llama 3.2 Vision ("mllama") text decoder in lm/llama.c +
lm/llama_xattn.c, run by tests/parity/test_mllama_text.sh through harness.py with the C
runner tests/parity/parity_mllama_text.c.

Written from SPEC §1 and §2.6-2.8 in float64 PyTorch, independently of the C code:

  self layer  (§1.1):  x += Wo·Attn(RoPE(q), RoPE(k), v; causal);  x += MLP(RMSNorm(x))
                       RoPE half-split (HF layout), θ and the llama3 scaling from config.json
  cross layer (§2.6):  y = RMSNorm_in(x)
                       q = q_norm(y Wqᵀ) per head;  k = k_norm(S Wkᵀ) per head;  v = S Wvᵀ
                       a = softmax(q kᵀ/√d + mask) v Woᵀ          (GQA, no RoPE)
                       h = x + tanh(g_attn)·R⊙a    (HF mode: x + tanh(g_attn)·a)
                       out = h + tanh(g_mlp)·R⊙MLP(RMSNorm_post(h))
  mask (§2.7):         create_vision_mask as Meta/HF write it (ranges [p_i, p_{i+1}), the last
                       to the end, consecutive images extended backwards; one image open);
                       dense cross_attention_mask[s, i, tile] = 1 iff s in range i and
                       tile < n_tiles_i; repeated over the P tokens of a tile; additive
                       0 / -inf; R[s] = any allowed key; rows with R = 0 get an all-zero mask
  generation:          META: one image stays visible, with ≥ 2 images generated rows see none;
                       HF: a generated row copies the last prompt row of the mask
  no images:           the cross layers are skipped (§2.8a step 8)

Each step recomputes the whole sequence (no cache), so the C side's cached image K/V, its
self-attention cache and its per-position mask rows are checked against a plain forward.

Commands:
  mllama_text_ref.py write DIR [--seed N] [--dtype f32|bf16|f16] [--layout hub|new]
                                            a tiny random HF MllamaForConditionalGeneration
                                            text model (config.json + model.safetensors) with
                                            the Hub's tensor names (language_model.model.*) or
                                            newer transformers' (model.language_model.*)
  mllama_text_ref.py gguf DIR OUT.gguf      the same weights as a GGUF in Ollama's mllama
                                            layout (self-attention Q/K rows permuted to the
                                            interleaved RoPE layout, rope_freqs factors)
  (as a suite) CASES for harness.py; MLLAMA_REF_MODEL the HF folder the reference reads,
  MLLAMA_MODEL what the runner loads (default the same folder), MLLAMA_TOL the relative
  tolerance (default 1e-4), MLLAMA_NGEN greedy steps (default 4), MLLAMA_KV the runner's
  cache type f32 (default) or f16.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import _read_safetensors   # F32 / F16 / BF16 -> float64 tensors

# ---- the tiny model ------------------------------------------------------------------

V, D, H, G, HD, F, L, XL = 256, 64, 4, 2, 16, 128, 6, [1, 4]
IMAGE = V                    # <|image|> = vocab_size, its embedding row V of V + 8
P, TILES = 5, 4              # tokens per tile, tile slots per image
PREFIX = "language_model."


def config():
    text = {
        "model_type": "mllama_text_model", "vocab_size": V, "hidden_size": D, "intermediate_size": F,
        "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": G,
        "cross_attention_layers": XL, "hidden_act": "silu", "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": False,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3,
    }
    return {"architectures": ["MllamaForConditionalGeneration"], "model_type": "mllama",
            "image_token_index": IMAGE, "text_config": text,
            "vision_config": {"model_type": "mllama_vision_model"}}


def new_layout(name):
    """Newer transformers save the decoder as model.language_model.* and lm_head.weight."""
    if name.startswith(PREFIX + "model."):
        return "model.language_model." + name[len(PREFIX + "model."):]
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def write_model(folder, seed, dtype, layout="hub"):
    from st_write import save
    g = torch.Generator().manual_seed(seed)
    n = lambda *s, std=0.15: torch.randn(*s, generator=g, dtype=torch.float64) * std
    t = {}
    m = PREFIX + "model."
    t[m + "embed_tokens.weight"] = n(V + 8, D, std=1.0)
    t[m + "norm.weight"] = 1 + n(D, std=0.1)
    t[PREFIX + "lm_head.weight"] = n(V, D, std=0.3)
    for i in range(L):
        p = f"{m}layers.{i}."
        t[p + "input_layernorm.weight"] = 1 + n(D, std=0.1)
        t[p + "post_attention_layernorm.weight"] = 1 + n(D, std=0.1)
        t[p + "mlp.gate_proj.weight"] = n(F, D)
        t[p + "mlp.up_proj.weight"] = n(F, D)
        t[p + "mlp.down_proj.weight"] = n(D, F)
        a = "cross_attn." if i in XL else "self_attn."
        t[p + a + "q_proj.weight"] = n(H * HD, D)
        t[p + a + "k_proj.weight"] = n(G * HD, D)
        t[p + a + "v_proj.weight"] = n(G * HD, D)
        t[p + a + "o_proj.weight"] = n(D, H * HD)
        if i in XL:
            t[p + "cross_attn.q_norm.weight"] = 1 + n(HD, std=0.2)
            t[p + "cross_attn.k_norm.weight"] = 1 + n(HD, std=0.2)
            t[p + "cross_attn_attn_gate"] = n(1, std=1.0)   # tanh spans (-1, 1): a lost gate shows
            t[p + "cross_attn_mlp_gate"] = n(1, std=1.0)
    td = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    os.makedirs(folder, exist_ok=True)
    rename = new_layout if layout == "new" else (lambda k: k)
    save({rename(k): v.to(td) for k, v in t.items()}, os.path.join(folder, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config(), f, indent=2)


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    w = {}
    _read_safetensors(os.path.join(folder, "model.safetensors"), w)
    return cfg, {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in w.items()}


# ---- GGUF in Ollama's mllama layout ----------------------------------------------------

def _gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def inv_freq(tc):
    """SPEC §1.4: θ^(-2i/d) with the llama3 scaling."""
    d = tc["hidden_size"] // tc["num_attention_heads"]
    base = tc["rope_theta"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rs = tc.get("rope_scaling")
    if not rs or rs.get("rope_type") != "llama3":
        return base
    s, lo, hi, L0 = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    out = []
    for f in base.tolist():
        wl = 2 * math.pi / f
        if wl < L0 / hi:
            out.append(f)
        elif wl > L0 / lo:
            out.append(f / s)
        else:
            sm = (L0 / wl - lo) / (hi - lo)
            out.append((1 - sm) * f / s + sm * f)
    return torch.tensor(out, dtype=torch.float64)


def write_gguf(folder, out):
    cfg, w = load(folder)
    tc = cfg["text_config"]
    d = HD

    def interleave(t, heads):   # HF half-split rows -> interleaved: row h·d + 2i + p = HF h·d + p·d/2 + i
        r = t.reshape(heads, 2, d // 2, -1).transpose(1, 2).reshape(heads * d, -1)
        return r

    tensors = [("token_embd.weight", w["model.embed_tokens.weight"]),
               ("output_norm.weight", w["model.norm.weight"]),
               ("output.weight", w["lm_head.weight"]),
               ("rope_freqs.weight", inv_freq({**tc, "rope_scaling": None}) / inv_freq(tc))]
    names = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
             "mlp.down_proj.weight": "ffn_down.weight", "self_attn.q_proj.weight": "attn_q.weight",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
             "self_attn.o_proj.weight": "attn_output.weight",
             "cross_attn.q_proj.weight": "cross_attn_q_proj.weight",
             "cross_attn.k_proj.weight": "cross_attn_k_proj.weight",
             "cross_attn.v_proj.weight": "cross_attn_v_proj.weight",
             "cross_attn.o_proj.weight": "cross_attn_o_proj.weight",
             "cross_attn.q_norm.weight": "cross_attn_q_norm.weight",
             "cross_attn.k_norm.weight": "cross_attn_k_norm.weight",
             "cross_attn_attn_gate": "cross_attn_attn_gate", "cross_attn_mlp_gate": "cross_attn_mlp_gate"}
    for i in range(tc["num_hidden_layers"]):
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
    kv = [("general.architecture", 8, _gguf_str("mllama")),
          ("mllama.block_count", 4, struct.pack("<I", L)),
          ("mllama.context_length", 4, struct.pack("<I", tc["max_position_embeddings"])),
          ("mllama.embedding_length", 4, struct.pack("<I", D)),
          ("mllama.feed_forward_length", 4, struct.pack("<I", F)),
          ("mllama.attention.head_count", 4, struct.pack("<I", H)),
          ("mllama.attention.head_count_kv", 4, struct.pack("<I", G)),
          ("mllama.rope.freq_base", 6, struct.pack("<f", tc["rope_theta"])),
          ("mllama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", tc["rms_norm_eps"])),
          ("mllama.vocab_size", 4, struct.pack("<I", V)),
          ("mllama.rope.dimension_count", 4, struct.pack("<I", d)),
          ("mllama.attention.cross_attention_layers", 9,
           struct.pack("<IQ", 5, len(XL)) + b"".join(struct.pack("<i", x) for x in XL))]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, ty, val in kv:
        head += _gguf_str(k) + struct.pack("<I", ty) + val
    data, off = b"", 0
    for name, t in tensors:
        a = t.to(torch.float32).contiguous().numpy().tobytes()
        ne = list(reversed(t.shape))   # ggml order
        head += _gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        head += struct.pack("<IQ", 0, off)   # F32
        pad = (-len(a)) % 32
        data += a + b"\0" * pad
        off += len(a) + pad
    head += b"\0" * ((-len(head)) % 32)
    with open(out, "wb") as f:
        f.write(head + data)


# ---- the forward pass (float64) ------------------------------------------------------------

def rms_norm(x, w, eps):
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def rope(x, pos, freq):
    """Half-split pairs (i, i + d/2) rotated by pos·freq[i]; x [S, heads, d]."""
    ang = pos[:, None].double() * freq[None, :]                    # [S, d/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


def attend(q, k, v, mask):
    """q [S, H, d], k/v [T, G, d]; query head j uses KV head j // (H/G); mask [S, T] additive."""
    rep = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    sc = torch.einsum("shd,thd->hst", q, k) / math.sqrt(q.shape[-1]) + mask[None]
    p = torch.softmax(sc, -1)
    return torch.einsum("hst,thd->shd", p, v).reshape(q.shape[0], -1)


def mlp(x, w, p):
    g = x @ w[p + "mlp.gate_proj.weight"].T
    return (torch.nn.functional.silu(g) * (x @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T


def vision_ranges(ids):
    """Meta's create_vision_mask / HF's get_cross_attention_token_mask (SPEC §2.7)."""
    locs = [i for i, t in enumerate(ids) if t == IMAGE]
    if not locs:
        return []
    if len(locs) == 1:
        return [[locs[0], -1]]
    masks = [[locs[i], locs[i + 1]] for i in range(len(locs) - 1)] + [[locs[-1], len(ids)]]
    last_end = masks[-1][1]
    for m in masks[::-1]:
        if m[0] == m[1] - 1:
            m[1] = last_end
        last_end = m[1]
    return masks


def dense_mask(prompt, total, n_tiles, mode):
    """cross_attention_mask [total, M, TILES] for prompt rows, then generated rows."""
    S, M = len(prompt), len(n_tiles)
    cam = torch.zeros(total, M, TILES, dtype=torch.float64)
    for i, (a, b) in enumerate(vision_ranges(prompt)):
        end = S if b == -1 else b
        cam[a:end, i, :n_tiles[i]] = 1
    for s in range(S, total):
        if mode == "hf":
            cam[s] = cam[S - 1]                 # HF: repeat the last prompt row
        else:
            for i, (a, b) in enumerate(vision_ranges(prompt)):
                if b == -1:                     # Meta: one image stays open, else generated rows see none
                    cam[s, i, :n_tiles[i]] = 1
    return cam


def forward(cfg, w, ids, states, cam, mode):
    """Logits [S, V] of the token list ids (float64)."""
    tc = cfg["text_config"]
    eps, S = tc["rms_norm_eps"], len(ids)
    freq = inv_freq(tc)
    pos = torch.arange(S)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    causal = torch.full((S, S), float("-inf"), dtype=torch.float64).triu(1)
    if states is not None:
        T = states.shape[0] * states.shape[1]
        allowed = cam.repeat_interleave(P, dim=2).reshape(S, T)      # tile slot -> its P tokens
        R = (allowed.sum(-1, keepdim=True) > 0).double()              # [S, 1]
        xmask = torch.where(allowed > 0, 0.0, float("-inf")).double()
        xmask = torch.where(R > 0, xmask, torch.zeros_like(xmask))    # mask · R (no all -inf rows)
        kv_in = states.reshape(T, -1)
    for i in range(tc["num_hidden_layers"]):
        p = f"model.layers.{i}."
        if i in tc["cross_attention_layers"]:
            if states is None:
                continue                                               # text only: skipped
            y = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = (y @ w[p + "cross_attn.q_proj.weight"].T).reshape(S, H, HD)
            q = rms_norm(q, w[p + "cross_attn.q_norm.weight"], eps)
            k = (kv_in @ w[p + "cross_attn.k_proj.weight"].T).reshape(-1, G, HD)
            k = rms_norm(k, w[p + "cross_attn.k_norm.weight"], eps)
            v = (kv_in @ w[p + "cross_attn.v_proj.weight"].T).reshape(-1, G, HD)
            a = attend(q, k, v, xmask) @ w[p + "cross_attn.o_proj.weight"].T
            if mode == "meta":
                a = a * R
            h = x + torch.tanh(w[p + "cross_attn_attn_gate"]) * a
            z = mlp(rms_norm(h, w[p + "post_attention_layernorm.weight"], eps), w, p) * R
            x = h + torch.tanh(w[p + "cross_attn_mlp_gate"]) * z
        else:
            y = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = rope((y @ w[p + "self_attn.q_proj.weight"].T).reshape(S, H, HD), pos, freq)
            k = rope((y @ w[p + "self_attn.k_proj.weight"].T).reshape(S, G, HD), pos, freq)
            v = (y @ w[p + "self_attn.v_proj.weight"].T).reshape(S, G, HD)
            x = x + attend(q, k, v, causal) @ w[p + "self_attn.o_proj.weight"].T
            x = x + mlp(rms_norm(x, w[p + "post_attention_layernorm.weight"], eps), w, p)
    return rms_norm(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T


# ---- the suite ------------------------------------------------------------------------------

_cache = {}


def ref_model():
    path = os.environ.get("MLLAMA_REF_MODEL")
    if not path:
        raise SystemExit("MLLAMA_REF_MODEL must name the HF folder the reference reads")
    if path not in _cache:
        _cache[path] = load(path)
    return _cache[path]


def reference(inp, meta):
    cfg, w = ref_model()
    prompt = inp["ids"].long().tolist()
    mode, n_gen = meta["mode"], int(meta["n_gen"])
    states = inp.get("states")
    n_tiles = inp["n_tiles"].long().tolist() if states is not None else []
    seq = list(prompt)
    logits = None
    gen, gen_logits = [], []
    for step in range(n_gen + 1):
        cam = dense_mask(prompt, len(seq), n_tiles, mode) if states is not None else None
        lg = forward(cfg, w, seq, states, cam, mode)
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


def make_case(name, prompt, n_tiles, mode, n_batch, n_gen, doc):
    def make(gen):
        inputs = {"ids": torch.tensor(prompt, dtype=torch.int32)}
        if n_tiles:
            inputs["states"] = torch.randn(len(n_tiles), TILES * P, D, generator=gen, dtype=torch.float64).float()
            inputs["n_tiles"] = torch.tensor(n_tiles, dtype=torch.int32)
        model = os.environ.get("MLLAMA_MODEL") or os.environ.get("MLLAMA_REF_MODEL")
        meta = {"model": model, "mode": mode, "n_batch": n_batch, "n_gen": n_gen, "image_token": IMAGE,
                "tile_tokens": P, "kv": os.environ.get("MLLAMA_KV", "f32")}
        return inputs, meta
    tol = float(os.environ.get("MLLAMA_TOL", "1e-4"))
    return Case(name, make, reference, {"*": tol, "gen": 1e-9}, doc)


try:
    from harness import Case
except ImportError:   # run as a script (write / gguf) without the harness on the path
    Case = None

I = IMAGE
ONE = [1, 17, 9, 40, I, 22, 23, 24, 99, 5]                      # text rows before and after the image
TWO = [1, 30, I, 41, 42, 43, I, 50, 51, 52, 53]                 # two separate images
PAIR = [1, 30, 31, I, I, 60, 61, 62, 63]                        # two consecutive images
TEXT = [1, 70, 71, 72, 73, 74, 75]

N_GEN = int(os.environ.get("MLLAMA_NGEN", "4"))   # greedy steps (0: logits only, for rounded weights)
CASES = [] if Case is None else [
    make_case(f"{label}_{mode}_b{nb}", prompt, tiles, mode, nb, N_GEN,
              f"{label}, {mode.upper()} masking, batches of {nb}")
    for label, prompt, tiles in (("one", ONE, [2]), ("two", TWO, [3, 1]), ("pair", PAIR, [4, 2]))
    for mode in ("meta", "hf")
    for nb in (16, 3)
] + [make_case("text_only", TEXT, [], "meta", 16, N_GEN, "no image: the cross layers are skipped")]


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
        dtype = sys.argv[sys.argv.index("--dtype") + 1] if "--dtype" in sys.argv else "f32"
        layout = sys.argv[sys.argv.index("--layout") + 1] if "--layout" in sys.argv else "hub"
        write_model(sys.argv[2], seed, dtype, layout)
    elif len(sys.argv) == 4 and sys.argv[1] == "gguf":
        write_gguf(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
