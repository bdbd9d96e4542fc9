#!/usr/bin/python3
"""Parity suite for the speech-understanding path (harness.py; runner tests/parity/parity_speech.c):

    mel -> Conformer -> speech adapter -> prompt with the audio rows spliced in -> Llama 3 logits

on a model written by `herd random-model --arch speech --preset tiny` (two GGUF files, paths in
SPEECH_MODEL and SPEECH_LM; the tokenizer ranks file in SPEECH_TOKENIZER).  Everything is float64
and written from the math, not from herd's C:

* the encoder: tests/parity/conformer_ref.py (`encoder_math`, the published Conformer math);
* the adapter (adapters/speech_adapter.h, SPEC §4 step 4): the stored tap-major conv weight is turned
  back into a PyTorch Conv1d weight [D_a, D_enc, K] and run with torch.nn.functional.conv1d (stride,
  zero padding); then a Llama-style layer (RMSNorm, rotary attention with GQA over all frames,
  RMSNorm, SwiGLU), then Linear + bias;
* the prompt: the Llama 3 chat layout with the paper's system prompt, tokenized by
  tests/parity/tokenizer_ref.py, audio rows between the speech file's two special ids;
* the LM: tests/parity/llama_ref.py's `forward` (SPEC §1).  The GGUF tensors get their Hugging
  Face names back (Q/K rows un-permuted from llama.cpp's interleaved layout to half-split), and the
  audio rows are spliced in as extra rows of the embedding table (ids V, V+1, ...) with the LM head
  kept at the original V rows — exactly "adapter outputs used as token embeddings".
"""
import math
import os
import sys

import regex
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import Case  # noqa: E402
from random_model_ref import read_gguf  # noqa: E402
import conformer_ref  # noqa: E402
import llama_ref  # noqa: E402
import tokenizer_ref  # noqa: E402

EMBD = -1
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "zh": "Chinese"}
_CACHE = {}


def env(name):
    v = os.environ.get(name)
    if not v:
        raise SystemExit(f"{name} is not set (see tests/parity/test_speech.sh)")
    return v


def load_all():
    if "m" not in _CACHE:
        kv, _, tensors = read_gguf(env("SPEECH_MODEL"))
        W = {}
        for name, (tname, ne, arr) in tensors.items():
            if arr is None:
                raise SystemExit(f"{name} is {tname}; the reference reads F32/F16/BF16/Q8_0")
            W[name] = torch.from_numpy(arr.astype("float64"))
        enc_cfg = {k.split("conformer.", 1)[1]: v[1] for k, v in kv.items() if k.startswith("conformer.")}
        adp_cfg = {k.split("speech_adapter.", 1)[1]: v[1] for k, v in kv.items() if k.startswith("speech_adapter.")}
        ids = (kv["speech.begin_token_id"][1], kv["speech.end_token_id"][1])
        _CACHE["m"] = (enc_cfg, adp_cfg, ids, W)
        _CACHE["lm"] = load_lm(env("SPEECH_LM"))
        _CACHE["ranks"] = tokenizer_ref.load_ranks(env("SPEECH_TOKENIZER"))
    return _CACHE["m"], _CACHE["lm"], _CACHE["ranks"]


# ---- the adapter ---------------------------------------------------------------------------

def rms_norm(x, w, eps):
    return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def rotary_attention(h, W, p, H, G, d, theta):
    """Self-attention over every frame (no mask), interleaved RoPE at positions 0..T-1, GQA, no biases."""
    T = h.shape[0]
    q = (h @ W[p + "attn_q.weight"].T).view(T, H, d)
    k = (h @ W[p + "attn_k.weight"].T).view(T, G, d)
    v = (h @ W[p + "attn_v.weight"].T).view(T, G, d)
    q, k = conformer_ref.rope_interleaved(q, theta), conformer_ref.rope_interleaved(k, theta)
    k, v = k.repeat_interleave(H // G, dim=1), v.repeat_interleave(H // G, dim=1)
    att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / math.sqrt(d), dim=-1)
    return torch.einsum("hts,shd->thd", att, v).reshape(T, H * d) @ W[p + "attn_output.weight"].T


def adapter_math(x, c, W):
    """x [T40, D_enc] -> [T80, D_lm]."""
    K, S, P, Din = c["conv_kernel_size"], c["conv_stride"], c["conv_padding"], c["input_length"]
    Da = c["embedding_length"]
    w = W["adp.conv.weight"].view(Da, K, Din).permute(0, 2, 1)      # tap-major -> [D_a, D_enc, K]
    h = torch.nn.functional.conv1d(x.T[None], w, W["adp.conv.bias"], stride=S, padding=P)[0].T  # [T80, D_a]
    eps, theta = c["attention.layer_norm_rms_epsilon"], c["rope.freq_base"]
    H, G, d = c["attention.head_count"], c["attention.head_count_kv"], c["attention.key_length"]
    for l in range(c["block_count"]):
        p = f"adp.blk.{l}."
        h = h + rotary_attention(rms_norm(h, W[p + "attn_norm.weight"], eps), W, p, H, G, d, theta)
        f = rms_norm(h, W[p + "ffn_norm.weight"], eps)
        h = h + (torch.nn.functional.silu(f @ W[p + "ffn_gate.weight"].T) * (f @ W[p + "ffn_up.weight"].T)) \
            @ W[p + "ffn_down.weight"].T
    return h @ W["adp.out.weight"].T + W["adp.out.bias"]


# ---- the LM: GGUF -> Hugging Face names for llama_ref.forward --------------------------------

def unpermute(w, n_head):
    """llama.cpp's interleaved Q/K rows back to HF's half-split rows (inverse of convert's permute)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_lm(path):
    kv, _, tensors = read_gguf(path)
    g = {k: v[1] for k, v in kv.items()}
    if g["general.architecture"] != "llama":
        raise SystemExit(f"{path}: not a llama GGUF")
    T = {n: torch.from_numpy(a.astype("float64")) for n, (_, _, a) in tensors.items()}
    H, G = g["llama.attention.head_count"], g["llama.attention.head_count_kv"]
    D = g["llama.embedding_length"]
    cfg = {
        "hidden_size": D, "num_attention_heads": H, "num_key_value_heads": G,
        "head_dim": g.get("llama.attention.key_length", D // H), "num_hidden_layers": g["llama.block_count"],
        "rms_norm_eps": g["llama.attention.layer_norm_rms_epsilon"], "rope_theta": g["llama.rope.freq_base"],
    }
    if "rope_freqs.weight" in T:
        # llama.cpp keeps the llama3 scaling as per-frequency factors; find the Llama 3.x factor
        # (8 or 32) whose rule gives exactly these factors, so llama_ref computes the same frequencies
        d = cfg["head_dim"]
        plain = cfg["rope_theta"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        for s in (8.0, 32.0):
            cfg["rope_scaling"] = {"rope_type": "llama3", "factor": s, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
            if torch.allclose(plain / llama_ref.rope_inv_freq(cfg, d), T["rope_freqs.weight"], rtol=1e-6):
                break
        else:
            raise SystemExit(f"{path}: rope_freqs.weight matches no llama3 scaling factor")
    W = {"model.embed_tokens.weight": T["token_embd.weight"], "model.norm.weight": T["output_norm.weight"]}
    W["lm_head.weight"] = T.get("output.weight", T["token_embd.weight"])   # tied: the embeddings
    names = {"attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj",
             "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}
    for l in range(cfg["num_hidden_layers"]):
        hf = f"model.layers.{l}."
        W[hf + "self_attn.q_proj.weight"] = unpermute(T[f"blk.{l}.attn_q.weight"], H)
        W[hf + "self_attn.k_proj.weight"] = unpermute(T[f"blk.{l}.attn_k.weight"], G)
        for gg, name in names.items():
            W[hf + name + ".weight"] = T[f"blk.{l}.{gg}.weight"]
    return cfg, W


def lm_logits(cfg, W, ids, rows):
    """Logits of every position; EMBD entries take the next row of `rows` as their embedding."""
    emb = W["model.embed_tokens.weight"]
    V = emb.shape[0]
    W2 = dict(W, **{"model.embed_tokens.weight": torch.cat([emb, rows], 0)})
    ext, r = [], 0
    for t in ids:
        if t == EMBD:
            ext.append(V + r)
            r += 1
        else:
            ext.append(t)
    assert r == rows.shape[0], "audio placeholders and rows differ"
    return llama_ref.forward(cfg, W2, ext)


# ---- the prompt --------------------------------------------------------------------------------

def prompt_ids(ranks, task, lang, n_audio, begin, end, text):
    pat = regex.compile(tokenizer_ref.PAT)
    enc = lambda s: tokenizer_ref.encode(ranks, pat, s)  # noqa: E731
    BOS, START, END_H, EOT = 128000, 128006, 128007, 128009
    header = lambda role: [START] + enc(role) + [END_H] + enc("\n\n")  # noqa: E731
    ids = [BOS]
    if task == "asr":
        ids += header("system") + enc(f"Repeat after me in {LANGUAGES[lang]}:") + [EOT]
    elif task == "ast":
        ids += header("system") + enc(f"Translate the following sentence into {LANGUAGES[lang]}:") + [EOT]
    ids += header("user") + [begin] + [EMBD] * n_audio + [end] + (enc(text) if text else []) + [EOT]
    return ids + header("assistant")


# ---- cases -------------------------------------------------------------------------------------

def make(T_mel, task, lang, text="", split=0):
    def mk(gen):
        (enc_cfg, _, _, _), _, _ = load_all()
        mel = 4.0 + 3.0 * torch.randn(T_mel, enc_cfg["mel_bins"], generator=gen, dtype=torch.float64)
        meta = {"model": env("SPEECH_MODEL"), "lm": env("SPEECH_LM"), "task": task, "language": lang,
                "text": text, "split": split}
        return {"mel": mel.float()}, meta
    return mk


def reference(inputs, meta):
    (enc_cfg, adp_cfg, (begin, end), W), (lm_cfg, lm_W), ranks = load_all()
    enc = conformer_ref.encoder_math(inputs["mel"], enc_cfg, W)
    adp = adapter_math(enc, adp_cfg, W)
    ids = prompt_ids(ranks, meta["task"], meta["language"], adp.shape[0], begin, end, meta["text"])
    logits = lm_logits(lm_cfg, lm_W, ids, adp)
    split = int(meta["split"])
    return {"encoder": enc, "adapter": adp, "ids": torch.tensor(ids, dtype=torch.float64), "logits": logits[split:]}


_TOL = float(os.environ.get("SPEECH_TOL", "1e-4"))
TOL = {"*": _TOL, "ids": 0.0}

CASES = [
    Case("asr_en", make(103, "asr", "en"), reference, TOL,
         "ASR prompt in English, 103 mel frames (25 encoder, 13 adapter rows), logits of every position"),
    Case("ast_fr_split", make(160, "ast", "fr", split=30), reference, TOL,
         "AST into French, 160 frames (20 rows), prompt decoded in two calls split inside the audio"),
    Case("dialog_text", make(64, "dialog", "en", text=" And what do you think?"), reference, TOL,
         "no system prompt, text after the audio in the user turn"),
    Case("short", make(5, "asr", "zh"), reference, TOL, "5 frames: one encoder frame, one adapter row (padding)"),
]

if __name__ == "__main__":
    raise SystemExit("run through harness.py (tests/parity/test_speech.sh)")
