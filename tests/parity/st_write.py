#!/usr/bin/python3
"""Safetensors files written and read independently of herd, for tests/unit/test_safetensors.c.

    st_write.py write OUTDIR   writes OUTDIR/single.safetensors, OUTDIR/sharded/ (two shards and
                               model.safetensors.index.json) and OUTDIR/one/model.safetensors
    st_write.py read FILE      checks FILE the way the reference (Rust) implementation validates
                               it and prints one line per tensor: name dtype shape sum-of-values

Written from the format description (8-byte little-endian header length, JSON header, data
section; data_offsets relative to the data section), with the layout choices of the reference
writer: tensors ordered by dtype size (largest first) then name, header padded with spaces to a
multiple of 8.  Tensor bytes come from torch (1.13), so F16/BF16 rounding is torch's.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {  # name -> (torch dtype, bytes per element)
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1),
}
BY_TORCH = {v[0]: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save(tensors, path, metadata=None):
    order = sorted(tensors.items(), key=lambda kv: (-DTYPES[BY_TORCH[kv[1].dtype]][1], kv[0]))
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in order:
        b = tensor_bytes(t)
        header[name] = {"dtype": BY_TORCH[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def single():
    t = {}
    t["w.f32"] = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5 - 3
    t["w.f16"] = (torch.arange(12, dtype=torch.float32).reshape(4, 3) * 0.25).to(torch.float16)
    t["w.bf16"] = ((torch.arange(10, dtype=torch.float32) - 5) * 1.5).reshape(2, 5).to(torch.bfloat16)
    t["f.f64"] = torch.tensor([1.0 / 3.0, -2.5], dtype=torch.float64)
    t["i.i64"] = torch.arange(5, dtype=torch.int64) * 1000000000000
    t["i.i32"] = torch.tensor([-1, 2, -3], dtype=torch.int32)
    t["i.i16"] = torch.tensor([[300, -300]], dtype=torch.int16)
    t["i.i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    t["u.u8"] = torch.arange(6, dtype=torch.uint8).reshape(2, 3)
    t["m.bool"] = torch.tensor([True, False, True])
    t["scalar"] = torch.tensor(7.0)
    t["empty"] = torch.zeros(0, 4)
    t["emb.\u00fcn\u00efcode"] = torch.ones(1, 2, 1, 1, 3)
    return t


def sharded():
    g = torch.Generator().manual_seed(0)
    names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
             "model.layers.0.mlp.up_proj.weight", "model.norm.weight", "lm_head.weight"]
    shapes = [(16, 8), (8, 8), (12, 8), (8,), (16, 8)]
    t = {n: torch.randn(*s, generator=g).to(torch.bfloat16) for n, s in zip(names, shapes)}
    return t, {names[0]: 1, names[1]: 1, names[2]: 1, names[3]: 2, names[4]: 2}


def write(out):
    os.makedirs(os.path.join(out, "sharded"), exist_ok=True)
    os.makedirs(os.path.join(out, "one"), exist_ok=True)
    save(single(), os.path.join(out, "single.safetensors"), {"format": "pt", "source": "st_write.py"})
    t, where = sharded()
    weight_map, total = {}, 0
    for shard in (1, 2):
        fname = "model-%05d-of-00002.safetensors" % shard
        part = {n: v for n, v in t.items() if where[n] == shard}
        save(part, os.path.join(out, "sharded", fname), {"format": "pt"})
        for n, v in part.items():
            weight_map[n] = fname
            total += v.numel() * 2
    with open(os.path.join(out, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    save({"x": torch.arange(4, dtype=torch.float32)}, os.path.join(out, "one", "model.safetensors"))


def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    text = data[8:8 + n]
    assert text[:1] == b"{", "header must start with {"
    header = json.loads(text.decode("utf-8"))
    meta = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in meta.values())
    body = data[8 + n:]
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for b, e, k in spans:  # contiguous and covering, as the reference implementation demands
        assert b == pos and e >= b, "tensor %s: offsets [%d, %d) not contiguous at %d" % (k, b, e, pos)
        pos = e
    assert pos == len(body), "data section has %d bytes, tensors cover %d" % (len(body), pos)
    for name in sorted(header):
        v = header[name]
        dt, size = DTYPES[v["dtype"]]
        b, e = v["data_offsets"]
        numel = 1
        for s in v["shape"]:
            numel *= s
        assert e - b == numel * size, name
        raw = bytearray(body[b:e])
        if dt == torch.bfloat16:
            x = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.zeros(0)
        else:
            x = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0)
        x = x.reshape(v["shape"])
        print("%s %s %s %.6f" % (name, v["dtype"], ",".join(str(s) for s in v["shape"]), float(x.double().sum())))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "read"):
        sys.exit("usage: st_write.py write OUTDIR | read FILE")
    write(sys.argv[2]) if sys.argv[1] == "write" else read(sys.argv[2])
