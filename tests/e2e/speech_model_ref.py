#!/usr/bin/python3
"""tests/e2e/speech_model_ref.py — checks a speech file written by
`herd random-model --arch speech` against the layout documented in
speech/speech_model.h, adapters/speech_adapter.h and speech/conformer.h, with the
GGUF reader and the generator of tests/e2e/random_model_ref.py (independent of the C):

  speech_model_ref.py SPEECH.gguf SEED [LM_FILE_NAME|-]

* keys: general.architecture "conformer", every conformer.* and speech_adapter.* key,
  speech.begin/end_token_id = 128002/128003, speech.lm_file as given ("-": absent);
* tensors: exactly the enc.* and adp.* names the configuration implies, with their
  PyTorch shapes (adp.conv.weight [D_a, K·D_enc] tap-major; conv kernels [D, 1, K]);
* values: a sample of elements of every tensor equals the generator
  (matrices N(0, 1/fan_in), biases 0.1·N, norm γ 1 + 0.1·N; the depthwise kernels
  F32 whatever the file type), exactly for F32 storage, to the storage precision else.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_model_ref import normal_at, read_gguf, stream_of  # noqa: E402


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expected(kv):
    g = lambda k: kv[k][1]  # noqa: E731
    D, F, L = g("conformer.embedding_length"), g("conformer.feed_forward_length"), g("conformer.block_count")
    A, K = g("conformer.attention.head_count") * g("conformer.attention.key_length"), g("conformer.conv_kernel_size")
    M = g("conformer.mel_bins") * g("conformer.stack_frames")
    # name -> (shape, init, std) with init "n" (std·N), "g" (1 + std·N)
    t = {"enc.in.weight": ([D, M], "n", 1 / math.sqrt(M)), "enc.in.bias": ([D], "n", 0.1)}
    for l in range(L):
        b = f"enc.blk.{l}."
        for ff in ("ff1", "ff2"):
            t[b + ff + ".norm.weight"] = ([D], "g", 0.1)
            t[b + ff + ".norm.bias"] = ([D], "n", 0.1)
            t[b + ff + ".up.weight"] = ([F, D], "n", 1 / math.sqrt(D))
            t[b + ff + ".up.bias"] = ([F], "n", 0.1)
            t[b + ff + ".down.weight"] = ([D, F], "n", 1 / math.sqrt(F))
            t[b + ff + ".down.bias"] = ([D], "n", 0.1)
        for n in ("attn.norm", "conv.norm", "norm"):
            t[b + n + ".weight"] = ([D], "g", 0.1)
            t[b + n + ".bias"] = ([D], "n", 0.1)
        for n in "qkv":
            t[b + f"attn.{n}.weight"] = ([A, D], "n", 1 / math.sqrt(D))
            t[b + f"attn.{n}.bias"] = ([A], "n", 0.1)
        t[b + "attn.out.weight"] = ([D, A], "n", 1 / math.sqrt(A))
        t[b + "attn.out.bias"] = ([D], "n", 0.1)
        t[b + "conv.pw1.weight"] = ([2 * D, D], "n", 1 / math.sqrt(D))
        t[b + "conv.pw1.bias"] = ([2 * D], "n", 0.1)
        t[b + "conv.dw.weight"] = ([D, 1, K], "n", 1 / math.sqrt(K))
        t[b + "conv.dw.bias"] = ([D], "n", 0.1)
        t[b + "conv.bn.weight"] = ([D], "g", 0.1)
        t[b + "conv.bn.bias"] = ([D], "n", 0.1)
        t[b + "conv.bn.mean"] = ([D], "n", 0.1)
        t[b + "conv.bn.var"] = ([D], "g", 0.1)
        t[b + "conv.pw2.weight"] = ([D, D], "n", 1 / math.sqrt(D))
        t[b + "conv.pw2.bias"] = ([D], "n", 0.1)
    a = lambda k: g("speech_adapter." + k)  # noqa: E731
    Din, Da, Fa, La = a("input_length"), a("embedding_length"), a("feed_forward_length"), a("block_count")
    Hd = a("attention.head_count") * a("attention.key_length")
    Gd = a("attention.head_count_kv") * a("attention.key_length")
    Ka, Dout = a("conv_kernel_size"), a("output_length")
    if Din != D:
        fail(f"speech_adapter.input_length {Din} != conformer width {D}")
    t["adp.conv.weight"] = ([Da, Ka * Din], "n", 1 / math.sqrt(Ka * Din))
    t["adp.conv.bias"] = ([Da], "n", 0.1)
    for l in range(La):
        b = f"adp.blk.{l}."
        t[b + "attn_norm.weight"] = ([Da], "g", 0.1)
        t[b + "ffn_norm.weight"] = ([Da], "g", 0.1)
        t[b + "attn_q.weight"] = ([Hd, Da], "n", 1 / math.sqrt(Da))
        t[b + "attn_k.weight"] = ([Gd, Da], "n", 1 / math.sqrt(Da))
        t[b + "attn_v.weight"] = ([Gd, Da], "n", 1 / math.sqrt(Da))
        t[b + "attn_output.weight"] = ([Da, Hd], "n", 1 / math.sqrt(Hd))
        t[b + "ffn_gate.weight"] = ([Fa, Da], "n", 1 / math.sqrt(Da))
        t[b + "ffn_up.weight"] = ([Fa, Da], "n", 1 / math.sqrt(Da))
        t[b + "ffn_down.weight"] = ([Da, Fa], "n", 1 / math.sqrt(Fa))
    t["adp.out.weight"] = ([Dout, Da], "n", 1 / math.sqrt(Da))
    t["adp.out.bias"] = ([Dout], "n", 0.1)
    return t


def main():
    if len(sys.argv) != 4:
        fail("usage: speech_model_ref.py SPEECH.gguf SEED LM_FILE_NAME|-")
    path, seed, lm_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    kv, _, tensors = read_gguf(path)
    if kv.get("general.architecture", (0, ""))[1] != "conformer":
        fail("general.architecture is not conformer")
    if kv.get("speech.begin_token_id", (0, -1))[1] != 128002 or kv.get("speech.end_token_id", (0, -1))[1] != 128003:
        fail("speech token ids are not 128002 / 128003")
    got_lm = kv.get("speech.lm_file", (0, "-"))[1]
    if got_lm != lm_file:
        fail(f"speech.lm_file is {got_lm!r}, expected {lm_file!r}")
    want = expected(kv)
    if set(want) != set(tensors):
        fail(f"tensor names differ: missing {sorted(set(want) - set(tensors))[:5]}, "
             f"extra {sorted(set(tensors) - set(want))[:5]}")
    ftype = kv.get("general.file_type", (0, 0))[1]
    rng = np.random.default_rng(seed)
    checked = 0
    for name, (shape, init, std) in want.items():
        tname, ne, arr = tensors[name]
        if list(ne)[::-1] != shape:
            fail(f"{name}: ne {ne}, expected PyTorch shape {shape}")
        if arr is None:
            fail(f"{name}: type {tname} not readable here")
        if name.endswith("conv.dw.weight") and tname != "F32":
            fail(f"{name} is {tname}: depthwise kernels must be F32")
        flat = arr.reshape(-1).astype(np.float64)
        st = stream_of(seed, name)
        idx = sorted({0, 1, flat.size - 1} | {int(j) for j in rng.integers(0, flat.size, 6)})
        for i in idx:
            # the writer's float arithmetic: add + std·z in float32
            v = float(np.float32(1.0 if init == "g" else 0.0) + np.float32(std) * normal_at(st, i))
            # F16/BF16 storage rounds; so do F32-stored vectors of an F16/BF16 file (the values are the
            # checkpoint's, widened as convert_hf_to_gguf.py widens 1-D tensors), except the
            # depthwise kernels, which are F32 data in every file
            rnd = {"F32": 0.0, "F16": 2.0 ** -11, "BF16": 2.0 ** -8}.get(tname)
            if tname == "F32" and not name.endswith("conv.dw.weight"):
                rnd = {1: 2.0 ** -11, 32: 2.0 ** -8}.get(ftype, 0.0)
            tol = rnd * abs(v) if rnd is not None else 0.05 * max(float(np.abs(flat).max()), 1e-6)  # Q8_0
            if abs(flat[i] - np.float32(v)) > tol:
                fail(f"{name}[{i}] = {flat[i]!r}, generator gives {v!r} ({tname})")
            checked += 1
    print(f"ok: {path}: {len(want)} tensors, names/shapes as documented, {checked} values equal the generator")


if __name__ == "__main__":
    main()
