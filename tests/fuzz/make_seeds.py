#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz harnesses: make_seeds.py OUTDIR -> OUTDIR/gguf/*, OUTDIR/safetensors/*.

Pure standard library, encoded from the format descriptions (not with herd's writer), so the seeds
also exercise layouts herd itself would not produce (v2 files, every metadata type, 64-byte alignment,
zero-tensor files, shards with metadata only, scalars and zero-size tensors).
"""
import json
import os
import struct
import sys

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
       U64: "<Q", I64: "<q", F64: "<d"}
# ggml type id -> (block elements, block bytes)
GGML = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210),
        30: (1, 2), 11: (256, 110)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack(FMT[t], v)


def gguf(kvs, tensors, version=3, align=32):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    blobs, off = [], 0
    for name, typ, ne in tensors:
        blk, size = GGML[typ]
        n = 1
        for d in ne:
            n *= d
        nbytes = n // blk * size
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", typ, off)
        blobs.append(bytes((i * 31 + 7) & 255 for i in range(nbytes)))
        off += (nbytes + align - 1) // align * align
    out += b"\0" * (-len(out) % align)
    for b in blobs:
        out += b + b"\0" * (-len(b) % align)
    return out


def safetensors(entries, meta=None, pad=True):
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, size in entries:
        n = size
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += bytes((i * 17 + 3) & 255 for i in range(n))
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main(out):
    g = os.path.join(out, "gguf")
    s = os.path.join(out, "safetensors")
    os.makedirs(g, exist_ok=True)
    os.makedirs(s, exist_ok=True)
    every = [("general.architecture", STR, "llama"), ("u8", U8, 200), ("i8", I8, -5), ("u16", U16, 65535),
             ("i16", I16, -300), ("u32", U32, 4000000000), ("i32", I32, -7), ("f32", F32, 0.5),
             ("bool", BOOL, True), ("u64", U64, 1 << 63), ("i64", I64, -(1 << 40)), ("f64", F64, 1e-300),
             ("tokenizer.ggml.tokens", ARR, (STR, ["<|begin_of_text|>", "", "\u0120the", "\u4e2d"])),
             ("scores", ARR, (F32, [0.0, -1.5, 2.25])), ("types", ARR, (I32, [1, 3, 6])),
             ("flags", ARR, (BOOL, [True, False])), ("big", ARR, (U64, [1 << 62])), ("empty", ARR, (U8, []))]
    seeds = {
        "kv_all_types.gguf": gguf(every, []),
        "v2.gguf": gguf(every[:5], [("a", 0, [4, 2])], version=2),
        "tensors.gguf": gguf([("general.architecture", STR, "llama")],
                             [("token_embd.weight", 1, [8, 4]), ("blk.0.attn_q.weight", 8, [32, 2]),
                              ("blk.0.ffn_down.weight", 12, [256, 1]), ("blk.0.ffn_up.weight", 14, [256]),
                              ("output_norm.weight", 0, [8]), ("x.bf16", 30, [2, 2, 2, 2]),
                              ("x.q5k", 13, [256]), ("x.q4_0", 2, [64]), ("x.q3k", 11, [256])]),
        "align64.gguf": gguf([("general.alignment", U32, 64)], [("a", 0, [3]), ("b", 0, [17, 3])], align=64),
        "empty.gguf": gguf([], []),
    }
    for name, data in seeds.items():
        with open(os.path.join(g, name), "wb") as f:
            f.write(data)
    st = {
        "floats.safetensors": safetensors([("model.embed_tokens.weight", "BF16", [4, 3], 2),
                                           ("model.norm.weight", "F32", [3], 4), ("h", "F16", [2, 2], 2)],
                                          {"format": "pt"}),
        "others.safetensors": safetensors([("i", "I64", [2], 8), ("b", "BOOL", [3], 1), ("u", "U8", [1, 2], 1),
                                           ("d", "F64", [1], 8), ("e", "F8_E4M3", [4], 1)]),
        "scalar_empty.safetensors": safetensors([("s", "F32", [], 4), ("z", "F32", [0, 3], 4),
                                                 ("x", "F16", [1, 1, 1, 1, 1, 2], 2)], {"a": "b"}, pad=False),
        "meta_only.safetensors": safetensors([], {"format": "pt", "total": "0"}),
    }
    for name, data in st.items():
        with open(os.path.join(s, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py OUTDIR")
    main(sys.argv[1])
