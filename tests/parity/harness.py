#!/usr/bin/python3
"""Parity harness: herd's C code against a PyTorch reference on the same random data.

A *suite* is a Python file defining ``CASES``, a list of :class:`Case`.  Each case makes
its inputs (torch tensors, PyTorch dimension order) and metadata (scalars), and has a
reference function computing the expected outputs from those inputs, in float64.  A *C
runner* is a program ``RUNNER IN.safetensors OUT.safetensors`` that reads the inputs
(metadata key ``case`` names the case), runs herd's code and writes its outputs
(tests/parity/runner_io.h does the file handling; tests/parity/parity_*.c are built as
runners by tests/CMakeLists.txt).

For every case the harness

  1. makes the inputs with a seeded generator and writes ``WORKDIR/NAME.in.safetensors``;
  2. runs the runner (environment passed through, e.g. HERD_CPU, HERD_THREADS);
  3. reads ``WORKDIR/NAME.out.safetensors`` and the inputs back from the file, so the
     reference sees exactly the float32/float16 values the C code saw;
  4. compares every output the reference produces: max abs error, and the error
     relative to max|reference| of that output; a case fails when any output's
     relative error is above its tolerance (or an output is missing or misshapen).

Usage:
  harness.py run --suite SUITE.py --runner RUNNER --workdir DIR [--case NAME ...] [--seed N]
  harness.py list --suite SUITE.py

Safetensors (https://github.com/huggingface/safetensors, format description): 8-byte
little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [b, e]},
"__metadata__": {str: str}}, then the data section; offsets are relative to it.  Debian
has no Python package for it, so read_safetensors/write_safetensors below do it by hand.
"""
import argparse
import importlib.util
import json
import os
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch

# ---- safetensors ---------------------------------------------------------------------

_DTYPES = {  # safetensors name -> numpy dtype (little endian)
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_BY_NUMPY = {v: k for k, v in _DTYPES.items()}


def _to_numpy(t):
    if isinstance(t, torch.Tensor):
        if t.dtype == torch.bfloat16:
            raise ValueError("BF16: pass raw uint16 bits as a numpy array instead")
        return t.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(t)


def write_safetensors(path: str, tensors: Dict[str, object], metadata: Optional[Dict[str, object]] = None):
    """Writes tensors (torch or numpy; F64/F32/F16/I64/I32/I16/I8/U8/BOOL) in insertion order."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = _to_numpy(t)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _BY_NUMPY:
            raise ValueError(f"{name}: dtype {a.dtype} has no safetensors name here")
        raw = a.astype(dt, copy=False).tobytes()
        header[name] = {"dtype": _BY_NUMPY[dt], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Returns ({name: numpy array}, metadata), checking every offset against the file."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(buf[8:8 + n].decode())
    data = memoryview(buf)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        if not (0 <= b <= e <= len(data)) or e - b != count * dt.itemsize:
            raise ValueError(f"{path}: tensor {name} has bad data_offsets [{b}, {e}]")
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"]).copy()
    return out, meta


# ---- cases ---------------------------------------------------------------------------

Tol = Union[float, Dict[str, float]]


@dataclass
class Case:
    """One parity case.

    make(gen) -> (inputs, meta): inputs {name: torch tensor} in PyTorch order, with the
    dtype the C code reads (float32, float16, int32 ...); meta {key: scalar or string}.
    reference(inputs, meta) -> {name: tensor}: inputs as float64 torch tensors (integer
    tensors as int64), read back from the file.
    tol: relative tolerance (error / max|reference|), one for all outputs or per output
    (key "*" is the default).
    """
    name: str
    make: Callable
    reference: Callable
    tol: Tol = 1e-5
    doc: str = ""

    def tol_for(self, out: str) -> float:
        if isinstance(self.tol, dict):
            return self.tol.get(out, self.tol.get("*", 1e-5))
        return float(self.tol)


def load_suite(path: str):
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(mod)
    cases = getattr(mod, "CASES", None)
    if not cases:
        raise SystemExit(f"{path}: defines no CASES")
    return cases


def _as_reference_input(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(a)
    if t.is_floating_point():
        return t.to(torch.float64)
    if t.dtype == torch.bool:
        return t
    return t.to(torch.int64)


@dataclass
class Result:
    name: str
    ok: bool
    lines: list = field(default_factory=list)


def compare(case: Case, got: Dict[str, np.ndarray], ref: Dict[str, torch.Tensor]) -> Result:
    res = Result(case.name, True)
    for out, r in ref.items():
        r = r.detach().to(torch.float64).numpy()
        tol = case.tol_for(out)
        if out not in got:
            res.ok = False
            res.lines.append(f"  {out:<24} MISSING from the runner's output")
            continue
        g = got[out].astype(np.float64)
        if tuple(g.shape) != tuple(r.shape):
            res.ok = False
            res.lines.append(f"  {out:<24} shape {tuple(g.shape)}, reference {tuple(r.shape)}")
            continue
        if r.size == 0:
            res.lines.append(f"  {out:<24} empty")
            continue
        diff = np.abs(g - r)
        abs_err = float(np.max(diff)) if np.all(np.isfinite(g)) else float("inf")
        scale = float(np.max(np.abs(r)))
        rel = abs_err / scale if scale > 0 else abs_err
        good = rel <= tol
        res.ok &= good
        where = np.unravel_index(int(np.argmax(diff)), diff.shape) if np.isfinite(abs_err) else "non-finite"
        res.lines.append(f"  {out:<24} max abs {abs_err:.3e}  rel {rel:.3e}  (tol {tol:.0e}, max|ref| {scale:.3g})"
                         f"{'' if good else '  FAIL at ' + str(where)}")
    return res


def run_case(case: Case, runner: str, workdir: str, seed: int, extra_env=None) -> Result:
    gen = torch.Generator().manual_seed(seed)
    inputs, meta = case.make(gen)
    meta = dict(meta or {})
    meta["case"] = case.name
    fin = os.path.join(workdir, f"{case.name}.in.safetensors")
    fout = os.path.join(workdir, f"{case.name}.out.safetensors")
    write_safetensors(fin, inputs, meta)
    if os.path.exists(fout):
        os.remove(fout)
    env = dict(os.environ, **(extra_env or {}))
    t0 = time.time()
    p = subprocess.run([runner, fin, fout], env=env, capture_output=True, text=True)
    dt = time.time() - t0
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        return Result(case.name, False, [f"  runner exited {p.returncode}: " + (msg[-1] if msg else "")])
    got, _ = read_safetensors(fout)
    back, back_meta = read_safetensors(fin)
    ref_in = {k: _as_reference_input(v) for k, v in back.items()}
    with torch.no_grad():
        ref = case.reference(ref_in, meta)
    res = compare(case, got, ref)
    res.lines.insert(0, f"  (runner {dt * 1000:.0f} ms)")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run cases through a C runner and compare")
    r.add_argument("--suite", required=True)
    r.add_argument("--runner", required=True)
    r.add_argument("--workdir", required=True)
    r.add_argument("--case", action="append", help="only these cases (repeatable)")
    r.add_argument("--seed", type=int, default=1234)
    r.add_argument("--label", default="", help="printed with each result (e.g. the SIMD level)")
    ls = sub.add_parser("list", help="list a suite's cases")
    ls.add_argument("--suite", required=True)
    a = ap.parse_args(argv)

    cases = load_suite(a.suite)
    if a.cmd == "list":
        for c in cases:
            print(f"{c.name:<24} {c.doc}")
        return 0
    if not os.access(a.runner, os.X_OK):
        print(f"harness: runner {a.runner} is missing or not executable (build its target first)", file=sys.stderr)
        return 2
    os.makedirs(a.workdir, exist_ok=True)
    names = {c.name for c in cases}
    for n in a.case or []:
        if n not in names:
            print(f"harness: no case named {n} in {a.suite}", file=sys.stderr)
            return 2
    failed = 0
    for i, c in enumerate(cases):
        if a.case and c.name not in a.case:
            continue
        res = run_case(c, a.runner, a.workdir, a.seed + i)
        print(f"{'ok  ' if res.ok else 'FAIL'} {c.name}{' [' + a.label + ']' if a.label else ''}")
        for line in res.lines:
            print(line)
        failed += not res.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
