#!/usr/bin/python3
"""tools/bench/speech_vs_torch.py — real-time factor of the speech encoder + adapter,
herd against PyTorch (CPU, float32) running the same math on the same weights and
the same mel frames.  Driven by tools/bench/speech_vs_torch.sh (see there).

  speech_vs_torch.py --model SPEECH.gguf --runner BUILD/tests/parity_speech
                     --clip AUDIO [--seconds S] [--threads N] [--repeat R] --workdir DIR

Mel: torchaudio.compliance.kaldi.fbank, the front end speech/mel.h defines
(80 bins, 25 ms / 10 ms at 16 kHz, input scaled to the int16 range).  herd: the
parity runner's "embed" case (hd_speech_model_embed: Conformer + adapter, one warm-up
run, then R timed runs, wall time inside the process, model load excluded).  PyTorch:
the same forward written with torch.nn.functional (linear, depthwise conv1d, batch
norm, matmul attention with interleaved RoPE, SwiGLU), torch.set_num_threads(N),
inference mode, weights as float32 (BF16/F16 files are widened once).  Both take the
minimum of R runs.  RTF = compute seconds / audio seconds; the ratio printed is
PyTorch time / herd time (> 1: herd faster).  The two outputs are compared as a
check that both ran the same computation.
"""
import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(SRC, "tests", "parity"))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
from harness import read_safetensors, write_safetensors  # noqa: E402
from random_model_ref import read_gguf  # noqa: E402


def load(path):
    kv, _, tensors = read_gguf(path)
    cfg = {k: v[1] for k, v in kv.items()}
    W = {}
    for name, (tname, _, arr) in tensors.items():
        if arr is None:
            raise SystemExit(f"{path}: {name} is {tname}; use an F32, F16 or BF16 model for the benchmark")
        W[name] = torch.from_numpy(np.array(arr, dtype=np.float32))   # a writable copy
    return cfg, W


def mel_of(clip, seconds):
    import torchaudio
    wav, rate = torchaudio.load(clip)
    wav = wav.mean(0, keepdim=True)
    if rate != 16000:
        wav = torchaudio.functional.resample(wav, rate, 16000)
    if seconds > 0:
        wav = wav[:, :int(seconds * 16000)]
    mel = torchaudio.compliance.kaldi.fbank(wav * 32768, num_mel_bins=80, frame_length=25.0, frame_shift=10.0,
                                            dither=0.0, sample_frequency=16000.0)
    return mel, wav.shape[1] / 16000.0


def rope_tables(T, d, theta):
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float()[:, None, :], torch.sin(ang).float()[:, None, :]    # [T, 1, d/2]


def rope(x, cs):
    c, s = cs
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * c - b * s, a * s + b * c), -1).flatten(-2)


def attention(h, W, q, k, v, o, H, G, d, cs, bias):
    T = h.shape[0]
    b = (lambda n: W[n]) if bias else (lambda n: None)
    Q = rope(F.linear(h, W[q + ".weight"], b(q + ".bias")).view(T, H, d), cs).transpose(0, 1)
    K = rope(F.linear(h, W[k + ".weight"], b(k + ".bias")).view(T, G, d), cs).transpose(0, 1)
    V = F.linear(h, W[v + ".weight"], b(v + ".bias")).view(T, G, d).transpose(0, 1)
    if G != H:
        K, V = K.repeat_interleave(H // G, 0), V.repeat_interleave(H // G, 0)
    att = torch.softmax(Q @ K.transpose(1, 2) / math.sqrt(d), -1)
    return F.linear((att @ V).transpose(0, 1).reshape(T, H * d), W[o + ".weight"], b(o + ".bias"))


def encoder(mel, c, W):
    n_mel, stack, D = c["conformer.mel_bins"], c["conformer.stack_frames"], c["conformer.embedding_length"]
    H, d, K = c["conformer.attention.head_count"], c["conformer.attention.key_length"], c["conformer.conv_kernel_size"]
    eps, bn_eps = c["conformer.attention.layer_norm_epsilon"], c["conformer.batch_norm_epsilon"]
    T = mel.shape[0] // stack
    x = F.linear(mel[:T * stack].reshape(T, stack * n_mel), W["enc.in.weight"], W["enc.in.bias"])
    cs = rope_tables(T, d, c["conformer.rope.freq_base"])
    ln = lambda x, p: F.layer_norm(x, (D,), W[p + ".weight"], W[p + ".bias"], eps)  # noqa: E731

    def ffn(x, p):
        return F.linear(F.silu(F.linear(ln(x, p + ".norm"), W[p + ".up.weight"], W[p + ".up.bias"])),
                        W[p + ".down.weight"], W[p + ".down.bias"])

    for l in range(c["conformer.block_count"]):
        b = f"enc.blk.{l}"
        x = x + 0.5 * ffn(x, b + ".ff1")
        a = b + ".attn"
        x = x + attention(ln(x, a + ".norm"), W, a + ".q", a + ".k", a + ".v", a + ".out", H, H, d, cs, True)
        p = b + ".conv"
        h = F.glu(F.linear(ln(x, p + ".norm"), W[p + ".pw1.weight"], W[p + ".pw1.bias"]), -1)      # [T, D]
        h = F.conv1d(h.T[None], W[p + ".dw.weight"], W[p + ".dw.bias"], padding=(K - 1) // 2, groups=D)
        h = F.batch_norm(h, W[p + ".bn.mean"], W[p + ".bn.var"], W[p + ".bn.weight"], W[p + ".bn.bias"],
                         False, 0.0, bn_eps)
        x = x + F.linear(F.silu(h)[0].T, W[p + ".pw2.weight"], W[p + ".pw2.bias"])
        x = x + 0.5 * ffn(x, b + ".ff2")
        x = ln(x, b + ".norm")
    return x


def adapter(x, c, W, conv_w):
    k = lambda n: c["speech_adapter." + n]  # noqa: E731
    h = F.conv1d(x.T[None], conv_w, W["adp.conv.bias"], stride=k("conv_stride"), padding=k("conv_padding"))[0].T
    H, G, d = k("attention.head_count"), k("attention.head_count_kv"), k("attention.key_length")
    eps = k("attention.layer_norm_rms_epsilon")
    cs = rope_tables(h.shape[0], d, k("rope.freq_base"))
    rms = lambda x, w: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w  # noqa: E731
    for l in range(k("block_count")):
        p = f"adp.blk.{l}."
        h = h + attention(rms(h, W[p + "attn_norm.weight"]), W, p + "attn_q", p + "attn_k", p + "attn_v",
                          p + "attn_output", H, G, d, cs, False)
        f = rms(h, W[p + "ffn_norm.weight"])
        h = h + F.linear(F.silu(F.linear(f, W[p + "ffn_gate.weight"])) * F.linear(f, W[p + "ffn_up.weight"]),
                         W[p + "ffn_down.weight"])
    return F.linear(h, W["adp.out.weight"], W["adp.out.bias"])


def blas_in_use():
    """The BLAS library PyTorch's matmuls went to (Debian's torch links libblas.so.3, whose
    reference implementation runs at ~1 GFLOP/s: install libopenblas0-openmp)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1] or "mkl" in line.split()[-1]}
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()

    mel, dur = mel_of(a.clip, a.seconds)
    fin, fout = os.path.join(a.workdir, "embed.in.safetensors"), os.path.join(a.workdir, "embed.out.safetensors")
    write_safetensors(fin, {"mel": mel.float()}, {"case": "embed", "model": a.model, "repeat": str(a.repeat)})
    env = dict(os.environ, HERD_THREADS=str(a.threads))
    p = subprocess.run([a.runner, fin, fout], env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"herd runner failed: {(p.stderr or p.stdout).strip()}")
    out, _ = read_safetensors(fout)
    herd_s = float(np.min(np.asarray(out["seconds"])))
    herd_y = torch.as_tensor(np.asarray(out["adapter"]), dtype=torch.float64)

    c, W = load(a.model)
    Da, K, Din = (c["speech_adapter.embedding_length"], c["speech_adapter.conv_kernel_size"],
                  c["speech_adapter.input_length"])
    conv_w = W["adp.conv.weight"].view(Da, K, Din).permute(0, 2, 1).contiguous()   # tap-major -> [D_a, D_in, K]
    blas = blas_in_use()
    if any(p.endswith("/blas/libblas.so.3") for p in blas):
        print("WARNING: PyTorch is using the reference BLAS (" + ", ".join(blas) + "); its times are not "
              "representative. Install libopenblas0-openmp (tools/install-deps.sh).", file=sys.stderr)
    torch.set_num_threads(a.threads)
    times = []
    with torch.inference_mode():
        for r in range(a.repeat + 1):   # the first run warms up
            t0 = time.perf_counter()
            y = adapter(encoder(mel.float(), c, W), c, W, conv_w)
            if r:
                times.append(time.perf_counter() - t0)
    torch_s = min(times)
    rel = float((y.double() - herd_y).abs().max() / y.double().abs().max())
    name = c.get("general.name", os.path.basename(a.model))
    print(f"{name}: {dur:.2f} s of audio, {mel.shape[0]} mel frames -> {y.shape[0]} x {y.shape[1]} LM rows, "
          f"{a.threads} threads, min of {a.repeat}")
    print(f"  herd     {herd_s * 1000:9.1f} ms   RTF {herd_s / dur:.4f}")
    print(f"  pytorch  {torch_s * 1000:9.1f} ms   RTF {torch_s / dur:.4f}   (torch {torch.__version__}, float32, "
          f"{os.path.basename(os.path.dirname(blas[0])) + '/' if blas else ''}{os.path.basename(blas[0]) if blas else '?'})")
    print(f"  ratio pytorch/herd {torch_s / herd_s:.2f}x   (outputs agree to max rel {rel:.1e})")
    if not rel < 0.05:
        raise SystemExit("herd and PyTorch outputs differ: not the same computation")


if __name__ == "__main__":
    main()
