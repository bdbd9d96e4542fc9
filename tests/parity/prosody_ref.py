#!/usr/bin/python3
"""Parity suite for speech/prosody.c (harness.py; runner tests/parity/parity_prosody.c).

The model is a tiny random GGUF (path in PROSODY_MODEL) read with the independent GGUF
reader of tests/e2e/random_model_ref.py.  The reference is written from the equations of
speech/prosody.h (the paper's prosody model, SPEC §5.2, with our stated choices), in
float64, with PyTorch:

    PE(i)  sinusoidal: PE[2j] = sin(i·10000^(-2j/D)), PE[2j+1] = cos(...)
    l_i  = E[p_i] + W_f f_i + b_f + PE(i)              linguistic memory
    m_t  = W_t e_t + b_t                               token memory
    x_i  = W_y y_{i-1} + b_y + E[p_i] + PE(i)           (y_{-1} = 0)
    per layer:
      x += SelfAttn(LN_a(x))          causal
      x += LingAttn(LN_l(x), l)       phone i sees phones j <= i + L
      x += TokAttn(LN_t(x), m)        phone i sees tokens with chunk <= chunk(min(i+L, N-1));
                                      phones that see none are skipped
      x += W_down GELU(W_up LN_f(x) + b_up) + b_down
    y_i  = W_o LN_o(x_i) + b_o

forward_*: teacher forcing with the given y_prev (row i = phone i-1's values).
predict_*: autoregressive, y_{i-1} = the model's own output for phone i-1.
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
    path = os.environ.get("PROSODY_MODEL")
    if not path:
        raise SystemExit("PROSODY_MODEL: path of a tiny random prosody GGUF (parity_prosody --write-random)")
    if path not in _CACHE:
        kv, _, tensors = read_gguf(path)
        cfg = {k.split("prosody.", 1)[1]: v[1] for k, v in kv.items() if k.startswith("prosody.")}
        W = {}
        for name, (tname, ne, arr) in tensors.items():
            if arr is None:
                raise SystemExit(f"{path}: {name} is {tname}; the reference reads F32/F16")
            W[name] = torch.from_numpy(arr.astype("float64"))
        _CACHE[path] = (cfg, W)
    return _CACHE[path]


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def pe(n, D):
    i = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(D // 2, dtype=torch.float64)[None, :]
    a = i * torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2.0 * j / D)
    out = torch.zeros(n, D, dtype=torch.float64)
    out[:, 0::2] = torch.sin(a)
    out[:, 1::2] = torch.cos(a)
    return out


def attention(q_in, kv_in, W, p, H, mask):
    S, T, D = q_in.shape[0], kv_in.shape[0], q_in.shape[1]
    d = D // H
    q = (q_in @ W[p + "_q.weight"].T + W[p + "_q.bias"]).reshape(S, H, d).transpose(0, 1)
    k = (kv_in @ W[p + "_k.weight"].T + W[p + "_k.bias"]).reshape(T, H, d).transpose(0, 1)
    v = (kv_in @ W[p + "_v.weight"].T + W[p + "_v.bias"]).reshape(T, H, d).transpose(0, 1)
    s = q @ k.transpose(1, 2) / math.sqrt(d) + mask
    o = torch.softmax(s, dim=-1) @ v
    return o.transpose(0, 1).reshape(S, D) @ W[p + "_o.weight"].T + W[p + "_o.bias"]


def visible(phone_chunk, tok_chunk, L, i):
    n = len(phone_chunk)
    c = phone_chunk[min(i + L, n - 1)]
    return sum(1 for t in tok_chunk if t <= c)


def forward(ids, feats, pch, emb, tch, y_prev, cfg, W):
    """All phones at once, teacher-forced: y_prev[i] is used as y_{i-1} (row 0 -> zeros)."""
    N = ids.shape[0]
    D, H, L = cfg["embedding_length"], cfg["attention.head_count"], cfg["lookahead_phones"]
    eps = cfg.get("attention.layer_norm_epsilon", 1e-5)
    E = W["phone_embd.weight"][ids]
    P = pe(N, D)
    lmem = E + feats @ W["feat_proj.weight"].T + W["feat_proj.bias"] + P
    yp = y_prev.clone()
    yp[0] = 0
    x = E + yp @ W["prev_proj.weight"].T + W["prev_proj.bias"] + P
    ninf = -math.inf
    causal = torch.tensor([[0.0 if j <= i else ninf for j in range(N)] for i in range(N)], dtype=torch.float64)
    lmask = torch.tensor([[0.0 if j <= i + L else ninf for j in range(N)] for i in range(N)], dtype=torch.float64)
    T = 0 if emb is None else emb.shape[0]
    if T:
        mem = emb @ W["tok_proj.weight"].T + W["tok_proj.bias"]
        vis = [visible(pch.tolist(), tch.tolist(), L, i) for i in range(N)]
        rows = [i for i in range(N) if vis[i] > 0]
        tmask = torch.tensor([[0.0 if t < vis[i] else ninf for t in range(T)] for i in rows], dtype=torch.float64)
    for b in range(cfg["block_count"]):
        p = f"blk.{b}"
        h = layer_norm(x, W[p + ".self_norm.weight"], W[p + ".self_norm.bias"], eps)
        x = x + attention(h, h, W, p + ".self", H, causal)
        h = layer_norm(x, W[p + ".ling_norm.weight"], W[p + ".ling_norm.bias"], eps)
        x = x + attention(h, lmem, W, p + ".ling", H, lmask)
        if T and rows:
            h = layer_norm(x[rows], W[p + ".tok_norm.weight"], W[p + ".tok_norm.bias"], eps)
            x = x.clone()
            x[rows] = x[rows] + attention(h, mem, W, p + ".tok", H, tmask)
        h = layer_norm(x, W[p + ".ffn_norm.weight"], W[p + ".ffn_norm.bias"], eps)
        x = x + gelu_erf(h @ W[p + ".ffn_up.weight"].T + W[p + ".ffn_up.bias"]) @ W[p + ".ffn_down.weight"].T \
            + W[p + ".ffn_down.bias"]
    x = layer_norm(x, W["output_norm.weight"], W["output_norm.bias"], eps)
    return x @ W["output.weight"].T + W["output.bias"]


def predict(ids, feats, pch, emb, tch, cfg, W):
    """Autoregressive: phone i's output is phone i+1's y_prev.  Causality makes row i of a
    teacher-forced pass exact once rows < i hold the model's own outputs."""
    N = ids.shape[0]
    y_prev = torch.zeros(N, 3, dtype=torch.float64)
    out = torch.zeros(N, 3, dtype=torch.float64)
    for i in range(N):
        y = forward(ids, feats, pch, emb, tch, y_prev, cfg, W)
        out[i] = y[i]
        if i + 1 < N:
            y_prev[i + 1] = y[i]
    return out


def make(N, T, teacher):
    def mk(gen):
        cfg, W = model()
        V = W["phone_embd.weight"].shape[0]
        ids = torch.randint(0, V, (N,), generator=gen, dtype=torch.int64).to(torch.int32)
        feats = (torch.rand(N, 4, generator=gen, dtype=torch.float64) < 0.3).float()
        steps = (torch.rand(N, generator=gen, dtype=torch.float64) < 0.35).to(torch.int32)
        steps[0] = 0
        pch = torch.cumsum(steps, 0).to(torch.int32)
        inputs = {"phone_ids": ids, "feats": feats, "phone_chunk": pch}
        if T:
            nw = int(pch[-1]) + 1
            inputs["tok_emb"] = torch.randn(T, cfg["token_embedding_length"], generator=gen, dtype=torch.float64).float()
            inputs["tok_chunk"] = torch.tensor([t * nw // T for t in range(T)], dtype=torch.int32)
        if teacher:
            inputs["y_prev"] = (torch.randn(N, 3, generator=gen, dtype=torch.float64) * 0.5).float()
        return inputs, {"model": os.environ["PROSODY_MODEL"]}
    return mk


def ref(inputs, meta):
    cfg, W = model()
    emb = inputs.get("tok_emb")
    tch = inputs.get("tok_chunk")
    args = (inputs["phone_ids"].long(), inputs["feats"], inputs["phone_chunk"].long(), emb, tch)
    if "y_prev" in inputs:
        return {"y": forward(*args, inputs["y_prev"], cfg, W)}
    return {"y": predict(*args, cfg, W)}


_TOL = float(os.environ.get("PROSODY_TOL", "2e-6"))  # max|ref| is ~5 (the log-F0 bias): 1e-5 absolute

CASES = [
    Case("forward_tokens", make(23, 13, True), ref, _TOL, "teacher-forced, 23 phones, 13 Llama tokens by chunk"),
    Case("forward_no_tokens", make(17, 0, True), ref, _TOL, "teacher-forced, no LM tokens (token attention skipped)"),
    Case("predict_tokens", make(21, 9, False), ref, _TOL, "autoregressive through the streaming path"),
    Case("predict_no_tokens", make(12, 0, False), ref, _TOL, "autoregressive, no tokens"),
    Case("predict_one_phone", make(1, 2, False), ref, _TOL, "a single phone"),
]

if __name__ == "__main__":
    raise SystemExit("run through harness.py (tests/parity/test_prosody.sh)")
