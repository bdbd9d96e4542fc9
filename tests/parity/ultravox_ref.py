#!/usr/bin/python3
"""Parity suite for Ultravox v0.5 (harness.py; runner tests/parity/parity_ultravox.c):

    16 kHz PCM -> Whisper log-mel -> 3000-frame windows -> Whisper encoder -> frame stacking + SwiGLU
    projector -> Llama 3 chat prompt with the rows in place of <|audio|> -> logits, greedy tokens

on the Hugging Face folder `herd random-model --arch ultravox --preset tiny` writes (ULTRAVOX_MODEL;
the LM in its text_model/ folder; the tokenizer ranks file in ULTRAVOX_TOKENIZER).  Float64, written
from the published math, not from herd's C:

* log-mel: transformers WhisperFeatureExtractor as UltravoxProcessor calls it (padding="longest",
  pad_to_multiple_of=160, audio shorter than 2 hops padded to 2 hops): torch.stft (n_fft 400, hop 160,
  periodic Hann, centre reflect padding), |X|^2, Slaney mel filters (torchaudio melscale_fbanks
  norm="slaney", mel_scale="slaney"), log10(max(., 1e-10)), last frame dropped, max - 8 clamp over the
  utterance, (x + 4) / 4;
* windows: UltravoxProcessor._chunk_and_pad_audio — 3000 frames each, the first at its own length,
  later ones zero-padded to 3000 (the full 3000 here), audio_lens = frames of audio;
* encoder: modeling_whisper WhisperEncoder as Ultravox's ModifiedWhisperEncoder runs it — conv1 / conv2
  (k 3, pad 1, stride 1 / 2) + GELU (erf), + embed_positions[:S], pre-LN layers (q/v/out biases, no k
  bias, softmax(q k^T / sqrt(d)) with keys >= (len - 1) // 2 + 1 masked), fc1 GELU fc2, layer_norm;
* projector: ultravox_model.UltravoxProjector — StackAudioFrames (zero-pad to a multiple of 8, view),
  RMSNorm(eps 1e-6) ln_pre, linear_1, SwiGLU `x, gate = chunk(2); silu(gate) * x`, ln_mid, linear_2;
  the first ceil(audio_lens / 16) rows of each window (audio_token_len);
* prompt: the tokenizer's chat template rendered with the task's user text (ultravox/data/types.py),
  split at <|audio|>, each part tokenized with special tokens (tests/parity/tokenizer_ref.py);
* LM: tests/parity/llama_ref.py's `forward` on text_model/ with the rows spliced in as extra
  embedding rows; greedy decoding by re-running the forward.
"""
import json
import math
import os
import sys

import regex
import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Case  # noqa: E402
import llama_ref  # noqa: E402
import tokenizer_ref  # noqa: E402

torch.set_default_dtype(torch.float64)
EMBD = -1
SPECIAL = {"<|begin_of_text|>": 128000, "<|start_header_id|>": 128006, "<|end_header_id|>": 128007,
           "<|eot_id|>": 128009}
LANGUAGES = {"en": "English", "de": "German", "fr": "French"}
_CACHE = {}


def env(name):
    v = os.environ.get(name)
    if not v:
        raise SystemExit(f"{name} is not set (see tests/parity/test_ultravox.sh)")
    return v


def load_all():
    if "m" not in _CACHE:
        d = env("ULTRAVOX_MODEL")
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        W = {}
        llama_ref._read_safetensors(os.path.join(d, "model.safetensors"), W)
        lm_cfg, lm_W = llama_ref.load_hf(os.path.join(d, "text_model"))
        _CACHE["m"] = (cfg, W, lm_cfg, lm_W, tokenizer_ref.load_ranks(env("ULTRAVOX_TOKENIZER")))
    return _CACHE["m"]


# ---- Whisper log-mel (WhisperFeatureExtractor) -----------------------------------------------

def log_mel(pcm, n_mel):
    hop, n_fft = 160, 400
    x = pcm
    if x.shape[0] < 2 * hop:
        x = torch.nn.functional.pad(x, (0, 2 * hop - x.shape[0]))
    n_valid = -(-x.shape[0] // hop)
    x = torch.nn.functional.pad(x, (0, n_valid * hop - x.shape[0]))   # pad_to_multiple_of=hop
    win = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    X = torch.stft(x, n_fft, hop_length=hop, window=win, center=True, pad_mode="reflect", return_complex=True)
    power = X.abs() ** 2                                               # [201, frames]
    fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, n_mel, 16000, norm="slaney",
                                               mel_scale="slaney").to(torch.float64)   # [201, n_mel]
    mel = (fb.T @ power).clamp(min=1e-10).log10()[:, :-1]              # [n_mel, frames]
    mel = torch.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).T, n_valid                              # [frames, n_mel]


# ---- Whisper encoder (modeling_whisper + Ultravox's ModifiedWhisperEncoder) ------------------

def gelu(x):
    return torch.nn.functional.gelu(x)   # erf


def layer_norm(x, W, p, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), W[p + ".weight"], W[p + ".bias"], eps)


def encoder(mel, audio_len, ac, W):
    """mel [T, n_mel] -> [S, D]; keys at encoder frames >= (audio_len - 1) // 2 + 1 masked."""
    p = "audio_tower."
    h = gelu(torch.nn.functional.conv1d(mel.T[None], W[p + "conv1.weight"], W[p + "conv1.bias"], padding=1))
    h = gelu(torch.nn.functional.conv1d(h, W[p + "conv2.weight"], W[p + "conv2.bias"], stride=2, padding=1))
    x = h[0].T                                                          # [S, D]
    S, D = x.shape
    x = x + W[p + "embed_positions.weight"][:S]
    H = ac["encoder_attention_heads"]
    d = D // H
    valid = (audio_len - 1) // 2 + 1
    mask = torch.zeros(S)
    mask[valid:] = float("-inf")
    for l in range(ac["encoder_layers"]):
        q_ = f"{p}layers.{l}."
        a = layer_norm(x, W, q_ + "self_attn_layer_norm", 1e-5)
        q = (a @ W[q_ + "self_attn.q_proj.weight"].T + W[q_ + "self_attn.q_proj.bias"]).view(S, H, d)
        k = (a @ W[q_ + "self_attn.k_proj.weight"].T).view(S, H, d)
        v = (a @ W[q_ + "self_attn.v_proj.weight"].T + W[q_ + "self_attn.v_proj.bias"]).view(S, H, d)
        sc = torch.einsum("shd,thd->hst", q, k) / math.sqrt(d) + mask[None, None, :]
        o = torch.einsum("hst,thd->shd", sc.softmax(-1), v).reshape(S, D)
        x = x + o @ W[q_ + "self_attn.out_proj.weight"].T + W[q_ + "self_attn.out_proj.bias"]
        f = layer_norm(x, W, q_ + "final_layer_norm", 1e-5)
        f = gelu(f @ W[q_ + "fc1.weight"].T + W[q_ + "fc1.bias"])
        x = x + f @ W[q_ + "fc2.weight"].T + W[q_ + "fc2.bias"]
    return layer_norm(x, W, p + "layer_norm", 1e-5)


def projector(x, cfg, W):
    """UltravoxProjector: [F, C] -> [ceil(F / s), D_lm]."""
    s = cfg["stack_factor"]
    F, C = x.shape
    x = torch.nn.functional.pad(x, (0, 0, 0, -(-F // s) * s - F)).reshape(-1, C * s)
    p = "multi_modal_projector."
    x = llama_ref.rms_norm(x, W[p + "ln_pre.weight"], 1e-6)
    h = x @ W[p + "linear_1.weight"].T
    val, gate = h.chunk(2, dim=-1)
    h = torch.nn.functional.silu(gate) * val
    if cfg.get("projector_ln_mid"):
        h = llama_ref.rms_norm(h, W[p + "ln_mid.weight"], 1e-6)
    y = h @ W[p + "linear_2.weight"].T
    if not cfg.get("projector_ln_mid"):
        y = llama_ref.rms_norm(y, W[p + "ln_post.weight"], 1e-6)
    return y


def audio_rows(pcm, cfg, W):
    ac = cfg["audio_config"]
    mel, L = log_mel(pcm, ac["num_mel_bins"])
    ctx, rows = 3000, []
    for off in range(0, L, ctx):
        chunk = mel[off:off + ctx]
        n = chunk.shape[0]
        if off > 0 and n < ctx:
            chunk = torch.nn.functional.pad(chunk, (0, 0, 0, ctx - n))   # continuation: zeros to 3000
        y = projector(encoder(chunk, n, ac, W), cfg, W)
        rows.append(y[:-(-n // (2 * cfg["stack_factor"]))])
    return torch.cat(rows, 0)


# ---- the prompt (UltravoxProcessor + chat template) ------------------------------------------

def encode_special(ranks, pat, s):
    out = []
    for piece in regex.split("(" + "|".join(regex.escape(k) for k in SPECIAL) + ")", s):
        if piece in SPECIAL:
            out.append(SPECIAL[piece])
        elif piece:
            out += tokenizer_ref.encode(ranks, pat, piece)
    return out


def user_text(task, lang, text):
    if text:
        return text if "<|audio|>" in text else text + " <|audio|>"
    if task == "asr":
        return "Repeat the following text, without any explanation: <|audio|>"
    if task == "ast":
        L = LANGUAGES[lang]
        return (f"Please translate the text to {L}. Your response should only include the {L} translation, "
                f"without any additional words:\n\n<|audio|>")
    return "<|audio|>"


def prompt_ids(ranks, task, lang, text, n_audio):
    # the random folder's tokenizer_config.json carries the Llama 3 template (no system turn)
    rendered = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + user_text(task, lang, text).strip()
                + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    before, after = rendered.split("<|audio|>")
    pat = regex.compile(tokenizer_ref.PAT)
    return encode_special(ranks, pat, before) + [EMBD] * n_audio + encode_special(ranks, pat, after)


def lm_logits(cfg, W, ids, rows):
    emb = W["model.embed_tokens.weight"]
    V = emb.shape[0]
    W2 = dict(W, **{"model.embed_tokens.weight": torch.cat([emb, rows], 0), "lm_head.weight": W.get("lm_head.weight", emb)})
    ext, r = [], 0
    for t in ids:
        if t == EMBD:
            ext.append(V + r)
            r += 1
        else:
            ext.append(t)
    assert r == rows.shape[0], "audio placeholders and rows differ"
    return llama_ref.forward(cfg, W2, ext)


# ---- cases -----------------------------------------------------------------------------------

def make(seconds, task, lang="en", text="", n_greedy=6, n_last=4, samples=None):
    def mk(gen):
        n = samples if samples is not None else int(seconds * 16000)
        t = torch.arange(n, dtype=torch.float64) / 16000.0
        sig = 0.3 * torch.sin(2 * math.pi * (220.0 + 400.0 * t) * t) + 0.05 * torch.randn(n, generator=gen)
        meta = {"model": env("ULTRAVOX_MODEL"), "task": task, "language": lang, "text": text,
                "n_greedy": n_greedy, "n_last": n_last, "convert_to": os.environ.get("ULTRAVOX_CONVERT", ""),
                "convert_type": os.environ.get("ULTRAVOX_CONVERT_TYPE", "F32")}
        return {"pcm": sig.float()}, meta
    return mk


def reference(inputs, meta):
    cfg, W, lm_cfg, lm_W, ranks = load_all()
    rows = audio_rows(inputs["pcm"], cfg, W)
    ids = prompt_ids(ranks, meta["task"], meta["language"], meta["text"], rows.shape[0])
    logits = lm_logits(lm_cfg, lm_W, ids, rows)
    out = {"rows": rows, "ids": torch.tensor(ids, dtype=torch.float64),
           "logits": logits[-int(meta["n_last"]):]}
    greedy, seq = [], list(ids)
    nxt = int(logits[-1].argmax())
    for _ in range(int(meta["n_greedy"])):
        greedy.append(nxt)
        seq.append(nxt)
        nxt = int(lm_logits(lm_cfg, lm_W, seq, rows)[-1].argmax())
    out["greedy"] = torch.tensor(greedy, dtype=torch.float64)
    return out


# ---- the projector alone (adapters/ultravox_projector.h), both norm placements ---------------

def make_projector(F, C, s, H, D, ln_mid):
    def mk(gen):
        import tempfile
        from harness import write_safetensors
        p = "multi_modal_projector."
        W = {p + "ln_pre.weight": 1 + 0.1 * torch.randn(C * s, generator=gen),
             p + "linear_1.weight": torch.randn(H, C * s, generator=gen) / math.sqrt(C * s),
             p + "linear_2.weight": torch.randn(D, H // 2, generator=gen) / math.sqrt(H // 2)}
        W[p + ("ln_mid.weight" if ln_mid else "ln_post.weight")] = 1 + 0.1 * torch.randn(H // 2 if ln_mid else D,
                                                                                        generator=gen)
        fd, path = tempfile.mkstemp(suffix=".safetensors", prefix="uvproj-")
        os.close(fd)
        write_safetensors(path, {k: v.float() for k, v in W.items()})
        x = 2.0 * torch.randn(F, C, generator=gen)
        meta = {"weights": path, "stack_factor": s, "hidden": H, "n_out": D, "ln_mid": int(ln_mid)}
        return {"x": x.float()}, meta
    return mk


def reference_projector(inputs, meta):
    W = {}
    llama_ref._read_safetensors(meta["weights"], W)
    os.unlink(meta["weights"])
    cfg = {"stack_factor": int(meta["stack_factor"]), "projector_ln_mid": bool(int(meta["ln_mid"]))}
    return {"y": projector(inputs["x"], cfg, W)}


_TOL = float(os.environ.get("ULTRAVOX_TOL", "1e-4"))
TOL = {"*": _TOL, "ids": 0.0, "greedy": 0.0}

CASES = [
    Case("projector_ln_mid", make_projector(37, 24, 8, 20, 16, True), reference_projector, 1e-5,
         "v0.5 projector: 37 frames of 24 (5 rows, the last zero-padded), H 20, D_lm 16"),
    Case("projector_ln_post", make_projector(16, 12, 4, 30, 8, False), reference_projector, 1e-5,
         "v0.4.1 projector: RMSNorm after linear_2, stack 4"),
    Case("asr_short", make(0.37, "asr"), reference, TOL, "ASR, 0.37 s: 37 mel frames, 19 encoder frames, 3 rows"),
    Case("ast_de", make(2.0, "ast", "de"), reference, TOL, "translate into German, 2 s: 200 frames, 13 rows"),
    Case("dialog_text", make(1.13, "dialog", text="What is said here?"), reference, TOL,
         "the user's own text without <|audio|>: ' <|audio|>' appended"),
    Case("tiny_audio", make(0, "asr", samples=100), reference, TOL,
         "100 samples: padded to 2 hops, 2 frames, 1 row"),
    Case("long_31s", make(31.3, "asr", n_greedy=4), reference, TOL,
         "31.3 s: two windows (3000 + 130 frames; the second zero-padded and masked), 188 + 9 rows"),
]

if __name__ == "__main__":
    raise SystemExit("run through harness.py (tests/parity/test_ultravox.sh)")
