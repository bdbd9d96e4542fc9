#!/usr/bin/python3
"""Float64 PyTorch reference of the whole Granite Speech pipeline on a HF
folder (GraniteSpeechForConditionalGeneration), from the published math:
Granite log-mel (tests/parity/hf_mel_ref.py, torchaudio), Conformer encoder
and windowed Q-Former (tests/parity/granite_encoder_ref.py), Granite LM with
the LoRA active (tests/parity/granite_lm_ref.py, as the model's generate()
enables the adapter whenever audio features are given).  The audio rows
replace the <|audio|> entries (-1) of the prompt ids, as
get_merged_audio_embeddings does.

  run --model DIR --pcm X.f32 --ids 5,-1,-1,... --rows OUT_ROWS.f32 --logits OUT.f32
      X: raw float32 16 kHz samples; writes the projector rows [n, D] and the
      logits of every position [S, V]
  greedy --model DIR --pcm X.f32 --ids ... -n N      prints N greedy ids
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import granite_encoder_ref as enc_ref  # noqa: E402
import granite_lm_ref as lm_ref  # noqa: E402
import hf_mel_ref  # noqa: E402


def audio_rows(cfg, W, pcm):
    feats, _ = hf_mel_ref.granite(pcm)
    torch.set_default_dtype(torch.float64)
    v = {"enc": cfg["encoder_config"], "proj": cfg["projector_config"], "window_size": cfg["window_size"],
         "downsample_rate": cfg["downsample_rate"]}
    for k, d in (("num_layers", 10), ("context_size", 200), ("max_pos_emb", 512), ("conv_kernel_size", 15)):
        v["enc"].setdefault(k, d)
    v["proj"].setdefault("cross_attention_frequency", 1)
    enc = enc_ref.encoder(torch.from_numpy(np.asarray(feats, dtype=np.float64)), W, v["enc"])
    return enc_ref.projector(enc, W, v)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "greedy"):
        a = sub.add_parser(name)
        a.add_argument("--model", required=True)
        a.add_argument("--pcm", required=True)
        a.add_argument("--ids", required=True)
        if name == "run":
            a.add_argument("--rows", required=True)
            a.add_argument("--logits", required=True)
        else:
            a.add_argument("-n", type=int, default=8)
    args = ap.parse_args()
    import json
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    text, W, prefix, lora = lm_ref.load(args.model, True)
    pcm = np.fromfile(args.pcm, dtype="<f4")
    rows = audio_rows(cfg, W, pcm)
    ids = [int(t) for t in args.ids.replace(",", " ").split()]
    if sum(1 for t in ids if t < 0) != rows.shape[0]:
        raise SystemExit(f"{sum(1 for t in ids if t < 0)} audio entries in the prompt, {rows.shape[0]} rows")
    if args.cmd == "run":
        rows.float().numpy().astype("<f4").tofile(args.rows)
        lm_ref.forward(text, W, prefix, lora, ids, rows).float().numpy().astype("<f4").tofile(args.logits)
    else:
        out = []
        for _ in range(args.n):
            out.append(int(lm_ref.forward(text, W, prefix, lora, ids + out, rows)[-1].argmax()))
        print(" ".join(map(str, out)))


if __name__ == "__main__":
    main()
