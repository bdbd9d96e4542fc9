#!/usr/bin/python3
"""tools/bench/vision_vs_torch.py — time of the Llama 3.2 Vision encoder + projector
(vision/vit.h, SPEC §2.4-2.5) on one image, herd against PyTorch (CPU, float32) running
the same math on the same weights and the same pixels.  Driven by
tools/bench/vision_vs_torch.sh (see there).

  vision_vs_torch.py --model VISION.gguf --runner BUILD/tests/parity_vision
                     [--tiles "1 4"] [--threads N] [--repeat R] [--warmup W] --workdir DIR

What is timed, for each tile count n in --tiles:
  input   pixel_values [T, 3, t, t] (T = the checkpoint's max_num_tiles, 4 for the 11B
          tower; t = 560): n tiles of standard-normal pixels (seed 0), the other T - n
          slots zero, as the image processor leaves them; aspect-ratio id 1 (1x1) for one
          tile, 6 (2x2) for four, else the first id with n tiles.
  work    the whole encoder + projector: patch conv, tile/position embeddings, the
          local and the gated global layers over the T * 1608 padded tokens (both
          engines run every tile slot: the mllama mask only hides invalid keys from
          invalid queries, so valid tokens still attend to the empty slots), the
          intermediate features and the projector -> [T * 1601, D].
  herd    the runner's "bench_vit" case (hd_vit_encode; model load excluded),
          HERD_THREADS=N, W untimed warm-up runs, then R timed runs.
  PyTorch the same forward written with torch.nn.functional as transformers'
          MllamaVisionModel computes it in eager mode (conv2d, layer_norm, linear, batched
          matmul attention with an additive mask, exact GELU), weights widened once to
          float32, torch.set_num_threads(N), inference mode; W warm-up runs, R timed.
Both report the minimum and the median of the R runs; the ratio printed is
herd / PyTorch (minimum over minimum; < 1: herd faster).  The two projector outputs are
compared (max abs difference / max |PyTorch|) to check both ran the same computation.
"""
import argparse
import math
import mmap
import os
import statistics
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
from random_model_ref import GG_TYPES, Reader  # noqa: E402

# The aspect ratios (columns, rows) of a 4-tile processor, ids 1..8 (id 0 is padding).
ASPECTS_4 = [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (3, 1), (4, 1)]


def load_gguf(path):
    """Keys and tensors of a herd vision GGUF as float32 torch tensors in PyTorch order,
    read tensor by tensor from a memory map (the 11B tower is 1.8 GB in BF16)."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:4] != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    r = Reader(data)
    r.o = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    if version != 3:
        raise SystemExit(f"{path}: GGUF version {version}")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))[-1]
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = kv.get("general.alignment", 32)
    start = (r.o + align - 1) // align * align
    W = {}
    for name, ne, t, off in infos:
        if t not in GG_TYPES:
            raise SystemExit(f"{path}: {name} has GGUF type {t}")
        tname, blk, bsz = GG_TYPES[t]
        n = int(np.prod(ne))
        if start + off + n // blk * bsz > len(data):
            raise SystemExit(f"{path}: {name} runs past the end of the file")
        if tname == "F32":
            a = np.frombuffer(data, np.float32, n, start + off).copy()
        elif tname == "F16":
            a = np.frombuffer(data, np.float16, n, start + off).astype(np.float32)
        elif tname == "BF16":
            a = (np.frombuffer(data, np.uint16, n, start + off).astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: {name} is {tname}; use an F32, F16 or BF16 model for the benchmark")
        W[name] = torch.from_numpy(a.reshape(list(reversed(ne))))
    return kv, W


def layer(x, W, pre, heads, eps, mask, gated):
    """One MllamaVisionEncoderLayer (eager): pre-LN attention and GELU MLP, tanh gates on
    the global layers.  x [L, Wd]."""
    L, D = x.shape
    d = D // heads
    h = F.layer_norm(x, (D,), W[pre + "ln1.weight"], W[pre + "ln1.bias"], eps)
    q = F.linear(h, W[pre + "attn_q.weight"]).view(L, heads, d).transpose(0, 1)
    k = F.linear(h, W[pre + "attn_k.weight"]).view(L, heads, d).transpose(0, 1)
    v = F.linear(h, W[pre + "attn_v.weight"]).view(L, heads, d).transpose(0, 1)
    s = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(d) + mask              # [heads, L, L]
    a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(0, 1).reshape(L, D)
    a = F.linear(a, W[pre + "attn_out.weight"])
    if gated:
        a = torch.tanh(W[pre + "attn_gate"]) * a
    x = x + a
    h = F.layer_norm(x, (D,), W[pre + "ln2.weight"], W[pre + "ln2.bias"], eps)
    m = F.linear(F.gelu(F.linear(h, W[pre + "ffn_up.weight"], W[pre + "ffn_up.bias"])),
                 W[pre + "ffn_down.weight"], W[pre + "ffn_down.bias"])
    if gated:
        m = torch.tanh(W[pre + "ffn_gate"]) * m
    return x + m


def forward(c, W, pixels, ar_id, n_tiles):
    """pixels [T, 3, t, t] -> projector output [T * P, D] (SPEC §2.4-2.5)."""
    k = lambda n: c["mllama_vision." + n]  # noqa: E731
    D, heads, eps, p, T = (k("embedding_length"), k("attention.head_count"), k("attention.layer_norm_epsilon"),
                           k("patch_size"), k("max_num_tiles"))
    x = F.conv2d(pixels, W["v.patch_embd.weight"], stride=p).flatten(2).transpose(1, 2)        # [T, P0, D]
    x = x + torch.tanh(W["v.pre_tile_position_embd.gate"]) * W["v.pre_tile_position_embd.weight"][ar_id].view(T, 1, D)
    x = torch.cat([W["v.class_embd"].expand(T, 1, D), x], dim=1)                               # [T, P, D]
    P = x.shape[1]
    g = torch.tanh(W["v.position_embd.gate"])
    x = x + (1 - g) * W["v.position_embd.weight"] + g * W["v.tile_position_embd.weight"][ar_id].view(T, P, D)
    x = F.layer_norm(x, (D,), W["v.pre_ln.weight"], W["v.pre_ln.bias"], eps)
    pad = (8 - P % 8) % 8
    Pp = P + pad
    x = F.pad(x, (0, 0, 0, pad)).reshape(T * Pp, D)
    valid = torch.zeros(T, Pp)
    valid[:n_tiles, :P] = 1
    inv = (1 - valid).reshape(-1)
    mask = torch.where(torch.outer(inv, inv) > 0, torch.tensor(-math.inf), torch.tensor(0.0))  # [L, L]
    keep = set(k("intermediate_layers"))
    inter = []
    for i in range(k("block_count")):
        if i in keep:
            inter.append(x)
        x = layer(x, W, f"v.blk.{i}.", heads, eps, mask, False)
    if k("block_count") in keep:
        inter.append(x)
    inter = torch.stack(inter, dim=-1)                                                         # [L, D, n]
    x = F.layer_norm(x, (D,), W["v.post_ln.weight"], W["v.post_ln.bias"], eps)
    x = x.view(T, Pp, D) + torch.tanh(W["v.post_tile_position_embd.gate"]) * \
        W["v.post_tile_position_embd.weight"][ar_id].view(T, 1, D)
    x = x.reshape(T * Pp, D)
    for i in range(k("global_block_count")):
        x = layer(x, W, f"v.global.blk.{i}.", heads, eps, mask, True)
    out = torch.cat([x.view(T, Pp, D)[:, :P], inter.reshape(T, Pp, -1)[:, :P]], dim=-1)       # [T, P, D * 6]
    return F.linear(out.reshape(T * P, -1), W["mm.proj.weight"], W["mm.proj.bias"])             # [T * P, D_lm]


def blas_in_use():
    """The BLAS library PyTorch's matmuls went to (Debian's torch links libblas.so.3, whose
    reference implementation is ~100x slower: install libopenblas0-openmp)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1] or "mkl" in line.split()[-1]}
    return sorted(libs)


def ar_id_for(n, max_tiles):
    if max_tiles == 4:
        return 6 if n == 4 else next(i + 1 for i, (w, h) in enumerate(ASPECTS_4) if w * h == n)
    return 1 if n == 1 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--tiles", default="1 4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if a.repeat < 1 or a.warmup < 0:
        raise SystemExit("--repeat must be >= 1 and --warmup >= 0")

    c, W = load_gguf(a.model)
    T, t = c["mllama_vision.max_num_tiles"], c["mllama_vision.image_size"]
    blas = blas_in_use()
    if any(p.endswith("/blas/libblas.so.3") for p in blas):
        print("WARNING: PyTorch is using the reference BLAS (" + ", ".join(blas) + "); its times are not "
              "representative. Install libopenblas0-openmp (tools/install-deps.sh).", file=sys.stderr)
    blas_name = (os.path.basename(os.path.dirname(blas[0])) + "/" + os.path.basename(blas[0])) if blas else "?"
    torch.set_num_threads(a.threads)
    name = c.get("general.name", os.path.basename(a.model))
    print(f"{name}: {T} tile slots of {t}x{t}, width {c['mllama_vision.embedding_length']}, "
          f"{c['mllama_vision.block_count']} + {c['mllama_vision.global_block_count']} layers, "
          f"{a.threads} threads, {a.warmup} warm-up + {a.repeat} timed runs each")
    fails = 0
    for n in [int(s) for s in a.tiles.split()]:
        ar = ar_id_for(n, T) if 1 <= n <= T else None
        if ar is None:
            raise SystemExit(f"--tiles: {n} tiles does not fit a {T}-tile checkpoint")
        gen = torch.Generator().manual_seed(0)
        pv = torch.zeros(T, 3, t, t)
        pv[:n] = torch.randn(n, 3, t, t, generator=gen)

        fin, fout = os.path.join(a.workdir, "vit.in.safetensors"), os.path.join(a.workdir, "vit.out.safetensors")
        write_safetensors(fin, {"pixel_values": pv}, {"case": "bench_vit", "model": a.model, "ar_id": str(ar),
                                                      "n_tiles": str(n), "repeat": str(a.repeat),
                                                      "warmup": str(a.warmup)})
        env = dict(os.environ, HERD_THREADS=str(a.threads))
        p = subprocess.run([a.runner, fin, fout], env=env, capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(f"herd runner failed: {(p.stderr or p.stdout).strip()}")
        out, _ = read_safetensors(fout)
        herd_t = [float(s) for s in np.asarray(out["seconds"]).reshape(-1)]
        herd_y = torch.as_tensor(np.asarray(out["projected"]), dtype=torch.float64)
        os.remove(fout)

        torch_t = []
        with torch.inference_mode():
            for r in range(a.warmup + a.repeat):
                t0 = time.perf_counter()
                y = forward(c, W, pv, ar, n)
                if r >= a.warmup:
                    torch_t.append(time.perf_counter() - t0)
        rel = float((y.double() - herd_y).abs().max() / y.double().abs().max())
        hb, tb = min(herd_t), min(torch_t)
        print(f"  {n} valid tile{'s' if n > 1 else ' '} (aspect id {ar}), {T * (t // c['mllama_vision.patch_size']) ** 2 + T} "
              f"tokens -> {y.shape[0]} x {y.shape[1]}")
        print(f"    herd     min {hb:9.3f} s   median {statistics.median(herd_t):9.3f} s")
        print(f"    pytorch  min {tb:9.3f} s   median {statistics.median(torch_t):9.3f} s   "
              f"(torch {torch.__version__}, float32, {blas_name})")
        print(f"    ratio herd/pytorch {hb / tb:.2f}   (outputs agree to max rel {rel:.1e})")
        if not rel < 0.05:
            print("    herd and PyTorch outputs differ: not the same computation", file=sys.stderr)
            fails += 1
    if fails:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
