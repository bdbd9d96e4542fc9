#!/usr/bin/python3
"""Reference of the residual stream after the first L decoder layers of a
Llama 3 model (HF output_hidden_states[L]), for hd_llama_set_hidden_capture.

It runs the float64 reference of tests/parity/llama_ref.py itself, unchanged:
the config is cut to L layers and the final RMSNorm's weight is replaced by a
marker, so the reference's forward stops right where it would normalise the
last layer's output and that input is returned.

  hidden  --model DIR --ids 1,2,3 --layer L --out FILE   raw float32 [S, D]
  compare A B --dim D --tol T                           max|a-b| / max|b|
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402


class _Stop(Exception):
    def __init__(self, x):
        super().__init__("final norm reached")
        self.x = x


def hidden(cfg, W, ids, layer):
    if not 0 <= layer <= cfg["num_hidden_layers"]:
        raise SystemExit(f"layer {layer} outside 0..{cfg['num_hidden_layers']}")
    cfg = dict(cfg, num_hidden_layers=layer)
    W = dict(W)
    marker = torch.ones(cfg["hidden_size"])
    W["model.norm.weight"] = marker
    real_norm = llama_ref.rms_norm

    def norm(x, w, eps):
        if w is marker:
            raise _Stop(x)
        return real_norm(x, w, eps)

    llama_ref.rms_norm = norm
    try:
        llama_ref.forward(cfg, W, ids)
    except _Stop as s:
        return s.x
    finally:
        llama_ref.rms_norm = real_norm
    raise SystemExit("the reference forward never reached its final norm")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hidden")
    h.add_argument("--model", required=True)
    h.add_argument("--ids", required=True)
    h.add_argument("--layer", type=int, required=True)
    h.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--dim", type=int, required=True)
    c.add_argument("--tol", type=float, required=True)
    args = ap.parse_args()
    if args.cmd == "hidden":
        cfg, W = llama_ref.load_hf(args.model)
        x = hidden(cfg, W, llama_ref.parse_ids(args.ids), args.layer)
        x.float().numpy().astype("<f4").tofile(args.out)
        return
    a = np.fromfile(args.a, dtype="<f4").astype(np.float64)
    b = np.fromfile(args.b, dtype="<f4").astype(np.float64)
    if a.size != b.size or a.size % args.dim or a.size == 0:
        print(f"size mismatch: {a.size} vs {b.size} values (dim {args.dim})")
        sys.exit(1)
    if not np.all(np.isfinite(a)):
        print(f"{args.a}: non-finite values")
        sys.exit(1)
    rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    print(f"max_rel_err {rel:.3e} rows {a.size // args.dim}")
    if not rel <= args.tol:
        sys.exit(1)


if __name__ == "__main__":
    main()
