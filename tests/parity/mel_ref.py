#!/usr/bin/python3
"""speech/mel.c against torchaudio.compliance.kaldi.fbank (see speech/mel.h).

    mel_ref.py DIR LISTING TOL

LISTING is parity_mel's stdout ("k n_samples n_frames FILE" per line); DIR holds
k.pcm (the 16 kHz mono samples herd decoded, float32) and k.mel (herd's frames,
float32, 80 per frame).  The reference runs torchaudio on exactly those samples in
float64:

    torchaudio.compliance.kaldi.fbank(x * 32768, num_mel_bins=80, frame_length=25.0,
        frame_shift=10.0, dither=0.0, sample_frequency=16000.0)

and the check is max |herd - torchaudio| <= TOL over every frame and bin (log domain).
Exit 1 on any failure.
"""
import sys

import numpy as np
import torch
import torchaudio


def fbank(x):
    w = torch.from_numpy(x.astype(np.float64))[None, :] * 32768.0
    return torchaudio.compliance.kaldi.fbank(w, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                                             sample_frequency=16000.0).numpy()


def main():
    d, listing, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    bad = 0
    for line in open(listing):
        k, n, nf, path = line.split(maxsplit=3)
        path = path.strip()
        x = np.fromfile(f"{d}/{k}.pcm", np.float32)
        got = np.fromfile(f"{d}/{k}.mel", np.float32).reshape(-1, 80) if int(nf) else np.zeros((0, 80))
        ref = fbank(x) if len(x) >= 400 else np.zeros((0, 80))
        if len(x) != int(n) or got.shape != ref.shape:
            print(f"FAIL {path}: herd {got.shape} frames, torchaudio {ref.shape}")
            bad += 1
            continue
        err = float(np.abs(got - ref).max()) if ref.size else 0.0
        where = np.unravel_index(np.abs(got - ref).argmax(), ref.shape) if ref.size else (0, 0)
        ok = err <= tol
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {path}: {ref.shape[0]} frames, max |herd - torchaudio| {err:.2e} "
              f"(frame {where[0]}, bin {where[1]}; log-mel range {ref.min():.1f} .. {ref.max():.1f}; tol {tol:g})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
