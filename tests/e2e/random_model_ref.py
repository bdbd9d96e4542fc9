#!/usr/bin/python3
"""Independent checks of `herd random-model` output, for tests/e2e/test_random_model.sh.

    random_model_ref.py HF_DIR GGUF_FILE SEED

Reads both checkpoints without herd's code: the safetensors header and the GGUF file are
parsed by hand here, from the format descriptions.  Checks

  * config.json has every key of the published Llama 3.2 config and describes a
    LlamaForCausalLM whose parameter names and shapes (written out below from the
    transformers module structure, SPEC §1.7) are exactly the tensors in the safetensors;
  * sampled elements of every tensor equal the documented generator (SplitMix64 of
    seed and FNV-1a(name), Box-Muller pairs), i.e. the HF layout is row-major PyTorch;
  * the GGUF holds llama.cpp's keys and tensor names, attn_q/attn_k rows are the HF rows
    permuted to the interleaved RoPE layout, rope_freqs are the llama3 factors;
  * both files give the same logits: a float64 forward pass written from SPEC §1.1–1.5,
    half-split RoPE + llama3 inv_freq for HF, interleaved RoPE + rope_freqs for GGUF.

Prints one line per check group; exits 1 on the first failure.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def stream_of(seed, name):
    h = 1469598103934665603
    for b in name.encode():
        h = ((h ^ b) * 1099511628211) & MASK
    return mix64(mix64(seed) ^ mix64((h + GOLDEN) & MASK))


def normal_at(stream, i):
    """Element i: SplitMix64 output i // 2, Box-Muller (cosine for even i, sine for odd)."""
    r = mix64((stream + (i // 2 + 1) * GOLDEN) & MASK)
    u1 = ((r >> 40) + 1) * (1.0 / 16777216.0)
    u2 = (r & 0xFFFFFF) * (1.0 / 16777216.0)
    rad, th = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
    return np.float32(rad * (math.sin(th) if i & 1 else math.cos(th)))


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


# ---- safetensors ---------------------------------------------------------------------------
ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    if n % 8 or 8 + n > len(data):
        fail(f"{path}: header length {n} not 8-aligned or past the end")
    hdr_text = data[8:8 + n].decode()
    if hdr_text != hdr_text.rstrip(" ") + " " * (len(hdr_text) - len(hdr_text.rstrip(" "))):
        fail(f"{path}: header padding is not spaces")
    hdr = json.loads(hdr_text)
    meta = hdr.pop("__metadata__", None)
    if meta != {"format": "pt"}:
        fail(f"{path}: __metadata__ is {meta}, transformers writes {{'format': 'pt'}}")
    names = list(hdr.keys())
    if names != sorted(names):
        fail(f"{path}: tensors are not in name order as the safetensors library writes them")
    body = data[8 + n:]
    out, off = {}, 0
    for name in names:
        info = hdr[name]
        dt, size = ST_DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        if b != off or e - b != size * int(np.prod(info["shape"])):
            fail(f"{path}: {name} offsets {b}..{e} not contiguous or wrong size")
        off = e
        raw = body[b:e]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dt).astype(np.float32)
        out[name] = (info["dtype"], tuple(info["shape"]), arr.reshape(info["shape"]))
    if off != len(body):
        fail(f"{path}: {len(body) - off} bytes after the last tensor")
    return out


def read_hf(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        index = json.load(open(idx))
        files = sorted(set(index["weight_map"].values()))
        tensors = {}
        for f in files:
            tensors.update(read_safetensors(os.path.join(d, f)))
        if set(tensors) != set(index["weight_map"]):
            fail("index weight_map does not list exactly the tensors of the shards")
        total = sum(a.size * ST_DTYPES[dt][1] for dt, _, a in tensors.values())
        if index["metadata"]["total_size"] != total:
            fail(f"index total_size {index['metadata']['total_size']} != {total}")
        return tensors
    return read_safetensors(os.path.join(d, "model.safetensors"))


# ---- GGUF ------------------------------------------------------------------------------------
GG_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
GG_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 30: ("BF16", 1, 2), 8: ("Q8_0", 32, 34), 2: ("Q4_0", 32, 18),
            12: ("Q4_K", 256, 144)}


class Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)
        self.o += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take("<Q")
        s = self.d[self.o:self.o + n].decode()
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return ("str", self.string())
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return ("arr", et, [self.value(et)[1] for _ in range(n)])
        return (t, self.take(GG_SCALARS[t]))


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        fail(f"{path}: bad magic")
    r.o = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    if version != 3:
        fail(f"{path}: version {version}")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        t = r.take("<I")
        off = r.take("<Q")
        infos.append((name, ne, t, off))
    align = kv.get("general.alignment", (4, 32))[1]
    start = (r.o + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        tname, blk, bsz = GG_TYPES[t]
        n = int(np.prod(ne))
        raw = data[start + off:start + off + n // blk * bsz]
        if off % align:
            fail(f"{path}: {name} offset {off} not aligned")
        arr = None
        if tname == "F32":
            arr = np.frombuffer(raw, np.float32)
        elif tname == "F16":
            arr = np.frombuffer(raw, np.float16).astype(np.float32)
        elif tname == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif tname == "Q8_0":
            blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("q", "i1", 32)]))
            arr = (blocks["d"].astype(np.float32)[:, None] * blocks["q"].astype(np.float32)).reshape(-1)
        if arr is not None:
            arr = arr.reshape(list(reversed(ne)))
        tensors[name] = (tname, tuple(ne), arr)
    return kv, [i[0] for i in infos], tensors


# ---- the model as transformers' LlamaForCausalLM lays it out ---------------------------------
def expected_hf(cfg):
    D, F, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    H, G = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or D // H
    e = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for i in range(L):
        p = f"model.layers.{i}."
        e[p + "self_attn.q_proj.weight"] = (H * d, D)
        e[p + "self_attn.k_proj.weight"] = (G * d, D)
        e[p + "self_attn.v_proj.weight"] = (G * d, D)
        e[p + "self_attn.o_proj.weight"] = (D, H * d)
        e[p + "mlp.gate_proj.weight"] = (F, D)
        e[p + "mlp.up_proj.weight"] = (F, D)
        e[p + "mlp.down_proj.weight"] = (D, F)
        e[p + "input_layernorm.weight"] = (D,)
        e[p + "post_attention_layernorm.weight"] = (D,)
    if not cfg["tie_word_embeddings"]:
        e["lm_head.weight"] = (V, D)
    return e


GGUF_OF = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
           "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
           "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    return f"blk.{parts[2]}.{GGUF_OF['.'.join(parts[3:-1])]}.weight"


def permute(w, n_head):  # HF half-split rows -> interleaved, per head
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_inv_freq(cfg, d):
    base = cfg["rope_theta"]
    inv = 1.0 / (base ** (np.arange(0, d, 2, dtype=np.float64) / d))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    s, lo, hi, L = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    out = []
    for f in inv:
        wl = 2 * math.pi / f
        if wl < L / hi:
            out.append(f)
        elif wl > L / lo:
            out.append(f / s)
        else:
            sm = (L / wl - lo) / (hi - lo)
            out.append((1 - sm) * f / s + sm * f)
    return np.array(out)


def forward(cfg, W, tokens, inv_freq, interleaved):
    """W: name -> float64 tensor in PyTorch [out, in] layout (HF names)."""
    D, H, G, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    d = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    S = len(tokens)
    pos = torch.arange(S, dtype=torch.float64)[:, None] * torch.tensor(inv_freq)[None, :]  # [S, d/2]
    cos, sin = torch.cos(pos), torch.sin(pos)

    def rope(x):  # x [S, n, d]
        if interleaved:
            x1, x2 = x[..., 0::2], x[..., 1::2]
            c, s = cos[:, None, :], sin[:, None, :]
            return torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).reshape(x.shape)
        x1, x2 = x[..., :d // 2], x[..., d // 2:]
        c, s = cos[:, None, :], sin[:, None, :]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    x = W["model.embed_tokens.weight"][tokens]
    mask = torch.full((S, S), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(L):
        p = f"model.layers.{i}."
        a = rms(x, W[p + "input_layernorm.weight"])
        q = rope((a @ W[p + "self_attn.q_proj.weight"].T).reshape(S, H, d))
        k = rope((a @ W[p + "self_attn.k_proj.weight"].T).reshape(S, G, d))
        v = (a @ W[p + "self_attn.v_proj.weight"].T).reshape(S, G, d)
        k = k.repeat_interleave(H // G, dim=1)
        v = v.repeat_interleave(H // G, dim=1)
        sc = torch.einsum("shd,thd->hst", q, k) / math.sqrt(d) + mask
        o = torch.einsum("hst,thd->shd", torch.softmax(sc, -1), v).reshape(S, H * d)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        f = rms(x, W[p + "post_attention_layernorm.weight"])
        g = f @ W[p + "mlp.gate_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * (f @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


REAL_1B_KEYS = {"architectures", "attention_bias", "attention_dropout", "bos_token_id", "eos_token_id", "head_dim",
                "hidden_act", "hidden_size", "initializer_range", "intermediate_size", "max_position_embeddings",
                "mlp_bias", "model_type", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
                "pretraining_tp", "rms_norm_eps", "rope_scaling", "rope_theta", "tie_word_embeddings",
                "torch_dtype", "transformers_version", "use_cache", "vocab_size"}


def main():
    hf_dir, gguf_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg_text = open(os.path.join(hf_dir, "config.json")).read()
    cfg = json.loads(cfg_text)
    if cfg_text != json.dumps(cfg, indent=2, sort_keys=True) + "\n":
        fail("config.json is not formatted as transformers writes it (json.dumps indent=2, sort_keys)")
    if set(cfg) != REAL_1B_KEYS:
        fail(f"config.json keys differ from Llama-3.2-1B's: {sorted(set(cfg) ^ REAL_1B_KEYS)}")
    if cfg["architectures"] != ["LlamaForCausalLM"] or cfg["model_type"] != "llama" or cfg["hidden_act"] != "silu":
        fail("config.json is not a LlamaForCausalLM")
    if cfg["rope_scaling"] != {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                               "original_max_position_embeddings": 8192, "rope_type": "llama3"}:
        fail(f"rope_scaling {cfg['rope_scaling']}")
    print("config.json: LlamaForCausalLM, Llama 3.2 keys, transformers formatting")

    tensors = read_hf(hf_dir)
    exp = expected_hf(cfg)
    if set(tensors) != set(exp):
        fail(f"safetensors names differ from LlamaForCausalLM's: {sorted(set(tensors) ^ set(exp))[:6]}")
    for n, (dt, shape, _) in tensors.items():
        if shape != exp[n]:
            fail(f"{n}: shape {shape}, LlamaForCausalLM expects {exp[n]}")
    want_dt = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}[cfg["torch_dtype"]]
    if any(dt != want_dt for dt, _, _ in tensors.values()):
        fail("dtype differs from torch_dtype")
    print(f"safetensors: {len(tensors)} tensors, names/shapes/dtype of LlamaForCausalLM")

    rng = np.random.default_rng(1)
    for n, (dt, shape, arr) in tensors.items():
        flat = arr.reshape(-1)
        st = stream_of(seed, n)
        norm = n.endswith("norm.weight")
        for i in [0, 1, flat.size - 1] + list(rng.integers(0, flat.size, 8)):
            want = np.float32((1.0 if norm else 0.0) + np.float32(0.02) * normal_at(st, int(i)))
            if dt == "F16":
                want = np.float32(np.float16(want))
            if dt == "BF16":
                want = np.float32(torch.tensor(float(want), dtype=torch.float32).to(torch.bfloat16).float().item())
            if flat[i] != want:
                fail(f"{n}[{i}] = {flat[i]!r}, generator gives {want!r}")
        m, s = float(flat.mean()), float(flat.std())
        if flat.size > 1000 and (abs(m - (1.0 if norm else 0.0)) > 0.002 or abs(s - 0.02) > 0.002):
            fail(f"{n}: mean {m} std {s}")
    print("values: every tensor matches the documented generator (row-major HF layout), N(0, 0.02)")

    kv, order, gt = read_gguf(gguf_path)
    D, H, G = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg["head_dim"]
    want_kv = {"general.architecture": ("str", "llama"), "general.type": ("str", "model"),
               "llama.block_count": (4, cfg["num_hidden_layers"]), "llama.context_length": (4, 131072),
               "llama.embedding_length": (4, D), "llama.feed_forward_length": (4, cfg["intermediate_size"]),
               "llama.attention.head_count": (4, H), "llama.attention.head_count_kv": (4, G),
               "llama.rope.freq_base": (6, 500000.0), "llama.attention.layer_norm_rms_epsilon": (6, np.float32(1e-5)),
               "llama.attention.key_length": (4, d), "llama.attention.value_length": (4, d),
               "general.file_type": (4, {"float32": 0, "float16": 1, "bfloat16": 32}[cfg["torch_dtype"]]),
               "llama.vocab_size": (4, cfg["vocab_size"]),
               "llama.rope.dimension_count": (4, d), "general.quantization_version": (4, 2)}
    for k, v in want_kv.items():
        if k not in kv or kv[k][0] != v[0] or kv[k][1] != v[1]:
            fail(f"GGUF key {k} = {kv.get(k)}, convert_hf_to_gguf writes {v}")
    if list(kv)[0] != "general.architecture":
        fail("general.architecture is not the first key")
    gexp = {gguf_name(n): n for n in exp}
    if set(gt) != set(gexp) | {"rope_freqs.weight"} or order[0] != "rope_freqs.weight":
        fail(f"GGUF tensors differ: {sorted(set(gt) ^ (set(gexp) | {'rope_freqs.weight'}))[:6]}")
    print(f"gguf: {len(kv)} keys as convert_hf_to_gguf writes them, {len(gt)} tensors with llama.cpp names")

    W_hf, W_gg = {}, {}
    for gname, hname in gexp.items():
        tname, ne, arr = gt[gname]
        hf = tensors[hname][2]
        if tuple(reversed(ne)) != hf.shape:
            fail(f"{gname}: ne {ne} is not the reversed HF shape {hf.shape}")
        want = hf
        if gname.endswith("attn_q.weight"):
            want = permute(hf, H)
        elif gname.endswith("attn_k.weight"):
            want = permute(hf, G)
        if not np.array_equal(arr, want):
            fail(f"{gname} is not {'the RoPE permutation of ' if 'attn_q' in gname or 'attn_k' in gname else ''}{hname}")
        W_hf[hname] = torch.tensor(hf, dtype=torch.float64)
        W_gg[hname] = torch.tensor(arr, dtype=torch.float64)
    print("gguf data: attn_q/attn_k = HF q_proj/k_proj rows permuted to interleaved RoPE, the rest identical")

    rf = gt["rope_freqs.weight"][2]
    base_inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d))
    hf_inv = llama3_inv_freq(cfg, d)
    if not np.allclose(base_inv / rf, hf_inv, rtol=1e-6, atol=0):
        fail(f"rope_freqs {rf} do not give the llama3 frequencies")
    print(f"rope_freqs: θ^(-2i/d)/rope_freqs = llama3 inv_freq (factors {rf[0]:g} .. {rf[-1]:g})")

    V = cfg["vocab_size"]
    tokens = torch.tensor([1 % V, 17 % V, 255 % V, (V - 1), 42 % V, 7 % V])
    lh = forward(cfg, W_hf, tokens, hf_inv, interleaved=False)
    lg = forward(cfg, W_gg, tokens, base_inv / rf.astype(np.float64), interleaved=True)
    diff = float((lh - lg).abs().max() / lh.abs().max())
    if not diff < 1e-5:
        fail(f"HF and GGUF logits differ: max rel {diff}")
    print(f"logits: HF (half-split RoPE) and GGUF (interleaved) agree, max rel diff {diff:.2e}")


if __name__ == "__main__":
    main()
