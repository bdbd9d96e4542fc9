#!/usr/bin/python3
"""Parity suite for speech/tn_model.c (harness.py; runner tests/parity/parity_tn.c).

The TN tagger of speech/tn_model.h, in float64, with PyTorch's own torch.nn.LSTM as the
recurrence (weights loaded from the GGUF with the independent reader of
tests/e2e/random_model_ref.py).  The tokenizer (runs of one character category, one token
per other character, chunk = spaces so far) and the FNV-1a bucket hash are written again
here from the header's description, so they are checked too.

    x_t = E[b_t] + C[k_t];  h = LSTM(x) over the tokens then R pad steps (E[0] + C[space])
    token i reads step i + R:  z = h + Attn(h, LM tokens with chunk <= chunk(min(i+R, n-1)))
    logits = W_o z + b_o
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
LETTERS, DIGITS, SPACE, OTHER = 0, 1, 2, 3


def model():
    path = os.environ.get("TN_MODEL")
    if not path:
        raise SystemExit("TN_MODEL: path of a tiny random TN GGUF (parity_tn --write-random)")
    if path not in _CACHE:
        kv, _, tensors = read_gguf(path)
        cfg = {k.split("tn.", 1)[1]: v[1] for k, v in kv.items() if k.startswith("tn.")}
        W = {name: torch.from_numpy(arr.astype("float64")) for name, (tname, ne, arr) in tensors.items()}
        _CACHE[path] = (cfg, W)
    return _CACHE[path]


def cat_of(b):
    if 48 <= b <= 57:
        return DIGITS
    if 65 <= b <= 90 or 97 <= b <= 122 or b >= 128:
        return LETTERS
    if b in (32, 9, 10, 13, 12, 11):
        return SPACE
    return OTHER


def tokenize(data):
    toks, i, chunk = [], 0, 0
    while i < len(data):
        c = cat_of(data[i])
        j = i + 1
        if c != OTHER:
            while j < len(data) and cat_of(data[j]) == c:
                j += 1
        if c == SPACE:
            chunk += 1
        toks.append((data[i:j], c, chunk))
        i = j
    return toks


def bucket(b, B):
    h = 2166136261
    for c in b:
        if 65 <= c <= 90:
            c += 32
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return 1 + h % (B - 1)


def logits(data, emb, lch, cfg, W):
    B, H, R = cfg["hash_buckets"], cfg["hidden_size"], cfg["lookahead_tokens"]
    nh, nl = cfg["attention.head_count"], cfg["block_count"]
    toks = tokenize(data)
    n = len(toks)
    ids = [bucket(t[0], B) for t in toks] + [0] * R
    cats = [t[1] for t in toks] + [SPACE] * R
    x = W["tok_embd.weight"][ids] + W["cat_embd.weight"][cats]
    lstm = torch.nn.LSTM(x.shape[1], H, num_layers=nl, dtype=torch.float64)
    with torch.no_grad():
        for l in range(nl):
            for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(lstm, f"{part}_l{l}").copy_(W[f"lstm.{l}.{part}"])
        h, _ = lstm(x[:, None, :])
    h = h[:, 0, :]
    z = h[R:R + n].clone()
    T = 0 if emb is None else emb.shape[0]
    if T:
        d = H // nh
        q = (z @ W["attn_q.weight"].T + W["attn_q.bias"]).reshape(n, nh, d).transpose(0, 1)
        k = (emb @ W["attn_k.weight"].T + W["attn_k.bias"]).reshape(T, nh, d).transpose(0, 1)
        v = (emb @ W["attn_v.weight"].T + W["attn_v.bias"]).reshape(T, nh, d).transpose(0, 1)
        s = q @ k.transpose(1, 2) / math.sqrt(d)
        for i in range(n):
            c = toks[min(i + R, n - 1)][2]
            vis = sum(1 for g in lch.tolist() if g <= c)
            s[:, i, vis:] = -math.inf
            if vis == 0:
                s[:, i, :] = 0  # sees no LM token: finite scores, the row is not used below
        o = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(n, H) @ W["attn_o.weight"].T + W["attn_o.bias"]
        for i in range(n):
            c = toks[min(i + R, n - 1)][2]
            if any(g <= c for g in lch.tolist()):
                z[i] = z[i] + o[i]
    return z @ W["output.weight"].T + W["output.bias"]


TEXTS = {
    "long": "On 5/6/2021 Dr. Smith paid $20, then called 911 for NASA. Caf\u00e9 au lait costs \u20ac3!",
    "short": "Hi 42",
}


def make(key, T):
    def mk(gen):
        cfg, _ = model()
        data = TEXTS[key].encode("utf-8")
        inputs = {"text": torch.tensor(list(data), dtype=torch.int32)}
        if T:
            n_words = sum(1 for t in tokenize(data) if t[1] == SPACE) + 1
            inputs["llm_emb"] = torch.randn(T, cfg["token_embedding_length"], generator=gen, dtype=torch.float64).float()
            inputs["llm_chunks"] = torch.tensor([t * n_words // T + 1 for t in range(T)], dtype=torch.int32)
        return inputs, {"model": os.environ["TN_MODEL"]}
    return mk


def ref(inputs, meta):
    cfg, W = model()
    data = bytes(int(b) for b in inputs["text"].tolist())
    return {"logits": logits(data, inputs.get("llm_emb"), inputs.get("llm_chunks"), cfg, W)}


_TOL = float(os.environ.get("TN_TOL", "1e-5"))

CASES = [
    Case("whole_llm", make("long", 11), ref, _TOL, "layer-major pass, 11 LM tokens by chunk"),
    Case("whole_text_only", make("long", 0), ref, _TOL, "no LM tokens"),
    Case("stream_llm", make("long", 11), ref, _TOL, "token by token, LM tokens arriving by chunk"),
    Case("stream_short", make("short", 3), ref, _TOL, "fewer tokens than the right context"),
]

if __name__ == "__main__":
    raise SystemExit("run through harness.py (tests/parity/test_tn.sh)")
