#!/usr/bin/python3
"""speech/hf_mel.c against the Hugging Face feature extractors' math (see speech/hf_mel.h).

    hf_mel_ref.py DIR LISTING TOL

LISTING is parity_hf_mel's stdout ("k j n_samples n_rows n_valid width FILE" per
line); DIR holds k.pcm (the 16 kHz mono samples herd decoded, float32) and k.j.mel
(herd's rows, float32).  The references run on exactly those samples, in float64:

  Whisper (transformers WhisperFeatureExtractor._torch_extract_fbank_features):
      torch.stft(x, 400, 160, window=torch.hann_window(400), center=True,
                 pad_mode="reflect"), |X|^2 without the last frame,
      torchaudio.functional.melscale_fbanks(201, 0, 8000, n_mels, 16000,
                 norm="slaney", mel_scale="slaney"),
      log10(clamp(1e-10)), max(x, max - 8), (x + 4) / 4
    after the processor's padding: j = 0 zeros / truncation to 480000 samples;
    j = 1, 2 (Ultravox) zeros to 2 hops, then up to a multiple of 160.
  Granite (transformers GraniteSpeechFeatureExtractor):
      torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512,
                 win_length=400, hop_length=160, n_mels=80),
      log10(clamp(1e-10)), max(x, max - 8), / 4 + 1, odd last frame dropped,
      pairs of frames stacked (160 features).

Everything runs with torch's default dtype float64, so torchaudio builds its
filterbanks in float64 too (transformers builds Whisper's in numpy float64).  For
Granite, transformers' real pipeline keeps torchaudio's float32 filterbank: that
variant is checked as well (same tolerance) and its deviation printed.

Check: same row count and valid-row count, max |herd - ref| <= TOL (normalised
features).  Exit 1 on any failure.
"""
import math
import sys

import numpy as np
import torch
import torchaudio

HOP = 160


def whisper(x, n_mels, pad_30s):
    n = len(x)
    if pad_30s:
        x = x[:480000]
        x = np.pad(x, (0, 480000 - len(x)))
        n_valid = math.ceil(min(n, 480000) / HOP)
    else:
        if len(x) < 2 * HOP:
            x = np.pad(x, (0, 2 * HOP - len(x)))
        n_valid = math.ceil(len(x) / HOP)
        x = np.pad(x, (0, (-len(x)) % HOP))
    w = torch.from_numpy(x.astype(np.float64))
    st = torch.stft(w, 400, HOP, window=torch.hann_window(400, dtype=torch.float64), center=True,
                    pad_mode="reflect", return_complex=True)
    mag = st[..., :-1].abs() ** 2
    fb = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, n_mels, 16000, norm="slaney",
                                               mel_scale="slaney").to(torch.float64)
    mel = fb.T @ mag
    lg = torch.clamp(mel, min=1e-10).log10()
    lg = torch.maximum(lg, lg.max() - 8.0)
    lg = (lg + 4.0) / 4.0
    return lg.T.numpy(), n_valid


def granite(x, fb32=False):
    if len(x) == 0:
        return np.zeros((0, 160)), 0
    torch.set_default_dtype(torch.float32 if fb32 else torch.float64)
    ms = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512, win_length=400, hop_length=HOP,
                                              n_mels=80)
    torch.set_default_dtype(torch.float64)
    ms = ms.to(torch.float64)
    mel = ms(torch.from_numpy(x.astype(np.float64))[None, :])
    lg = mel.transpose(-1, -2).clamp(min=1e-10).log10()
    mx = lg.amax(dim=(-2, -1), keepdim=True)
    lg = torch.maximum(lg, mx - 8.0) / 4 + 1
    if lg.shape[1] % 2 == 1:
        lg = lg[:, :-1]
    out = lg.reshape(1, -1, 160)[0].numpy()
    return out, out.shape[0]


def reference(x, j):
    if j == 0:
        return whisper(x, 128, True)
    if j == 1:
        return whisper(x, 80, False)
    if j == 2:
        return whisper(x, 128, False)
    return granite(x)


def main():
    torch.set_default_dtype(torch.float64)
    d, listing, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    bad = 0
    n_checked = 0
    for line in open(listing):
        k, j, n, rows, valid, width, path = line.split(maxsplit=6)
        path = path.strip()
        j, rows, valid, width = int(j), int(rows), int(valid), int(width)
        x = np.fromfile(f"{d}/{k}.pcm", np.float32)
        got = np.fromfile(f"{d}/{k}.{j}.mel", np.float32).reshape(-1, width)
        ref, ref_valid = reference(x, j)
        if len(x) != int(n) or got.shape != ref.shape or rows != ref.shape[0] or valid != ref_valid:
            print(f"FAIL {path} [{j}]: herd {got.shape} valid {valid}, reference {ref.shape} valid {ref_valid}")
            bad += 1
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
        extra = ""
        if j == 3 and ref.size:
            ref32, _ = granite(x, fb32=True)
            err32 = float(np.max(np.abs(got.astype(np.float64) - ref32)))
            extra = f"; vs transformers' float32 filterbank {err32:.3g}"
        else:
            err32 = 0.0
        status = "ok  " if max(err, err32) <= tol else "FAIL"
        if max(err, err32) > tol:
            bad += 1
        n_checked += 1
        print(f"{status} {path} [{j}]: {ref.shape[0]} rows x {width}, valid {valid}, max|diff| {err:.3g}{extra}")
    print(f"{n_checked} front-end outputs checked, {bad} failures (tolerance {tol})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
