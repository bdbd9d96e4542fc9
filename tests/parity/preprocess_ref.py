#!/usr/bin/python3
"""Parity suite for vision/preprocess.h (Llama 3.2 Vision image preprocessing), run by
tests/parity/test_vit.sh through harness.py with the C runner tests/parity/parity_vision.c.

The reference follows Hugging Face's MllamaImageProcessor as published (SPEC §2.3), in
numpy, with Pillow (Debian python3-pil) doing the resize, as HF does:

  arrangements (r, c), r*c <= max_tiles, for r in 1..max, c in 1..max
  scale_i = min(r*t/h, c*t/w); pick min scale >= 1, else max scale; ties -> smallest area
  tw = clip(w, t, c*t), th = clip(h, t, r*t); if tw/w < th/h: (tw, min(floor(h*tw/w), th))
                                                  else: (min(floor(w*th/h), tw), th)
  PIL Image.resize((nw, nh), BILINEAR) on the 8-bit RGB image
  pad right/bottom with 0 to (r*t, c*t); x = float32(float64(p) * (1/255));
  x = (x - mean) / std in float32 (CLIP mean/std); split row-major into tiles;
  pixel_values [max_tiles, 3, t, t] zero beyond r*c; aspect_ratio_id = 1 + index of (r, c);
  aspect_ratio_mask[k] = k < r*c.

Images are decoded here with Pillow (EXIF orientation applied, transparency composited on
white as HF's convert_to_rgb) and handed to the runner as RGB, so the comparison is of the
preprocessing alone; the expected error is 0 (resize is Pillow-exact, the arithmetic is
float32 in the same order).  One deviation is shared on purpose: a resized side of 0
(images thinner than 1:4t) becomes 1 (HF's PIL call would fail).
"""
import math
import os

import numpy as np
import torch
from PIL import Image, ImageOps

from harness import Case

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
FIX = os.environ.get("HERD_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/fixtures"))


def load_rgb(name):
    im = Image.open(os.path.join(FIX, "images", name))
    im = ImageOps.exif_transpose(im)
    if im.mode != "RGB":
        im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255)), im.convert("RGBA")).convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def arrangements(max_tiles):
    return [(r, c) for r in range(1, max_tiles + 1) for c in range(1, max_tiles + 1) if r * c <= max_tiles]


def fit(h, w, t, max_tiles):
    ar = arrangements(max_tiles)
    scales = [min(r * t / h, c * t / w) for r, c in ar]
    up = [s for s in scales if s >= 1]
    sel = min(up) if up else max(scales)
    cands = [i for i, s in enumerate(scales) if s == sel]
    i = min(cands, key=lambda k: (ar[k][0] * ar[k][1], k))
    r, c = ar[i]
    tw, th = int(np.clip(w, t, c * t)), int(np.clip(h, t, r * t))
    sh, sw = th / h, tw / w
    if sw < sh:
        nw, nh = tw, min(math.floor(h * sw), th)
    else:
        nh, nw = th, min(math.floor(w * sh), tw)
    return i, r, c, max(nw, 1), max(nh, 1)


def preprocess(rgb, t, max_tiles):
    h, w, _ = rgb.shape
    i, r, c, nw, nh = fit(h, w, t, max_tiles)
    im = Image.fromarray(rgb, "RGB")
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    canvas = np.zeros((r * t, c * t, 3), dtype=np.uint8)
    canvas[:nh, :nw] = a
    x = (canvas.astype(np.float64) * (1 / 255)).astype(np.float32).transpose(2, 0, 1)
    mean = np.array(MEAN, dtype=np.float32)[:, None, None]
    std = np.array(STD, dtype=np.float32)[:, None, None]
    x = (x - mean) / std
    tiles = x.reshape(3, r, t, c, t).transpose(1, 3, 0, 2, 4).reshape(r * c, 3, t, t)
    pv = np.zeros((max_tiles, 3, t, t), dtype=np.float32)
    pv[: r * c] = tiles
    mask = np.array([1.0 if k < r * c else 0.0 for k in range(max_tiles)])
    return pv, i + 1, mask, (nh, nw)


def image_case(name, t, max_tiles=4):
    def make(gen):
        rgb = load_rgb(name)
        h, w, _ = rgb.shape
        return {"rgb": torch.from_numpy(rgb.astype(np.int32))}, {"tile": t, "max_tiles": max_tiles, "w": w, "h": h}

    stem = os.path.splitext(name)[0]
    return Case(f"pre_{stem}_{t}_{max_tiles}", make, _ref, 1e-6, f"{name}, tile {t}, max {max_tiles} tiles")


def synthetic_case(name, w, h, t, max_tiles):
    """Random pixels of a chosen size: exercises every arrangement and up-scaling."""
    def make(gen):
        rgb = torch.randint(0, 256, (h, w, 3), generator=gen, dtype=torch.int32)
        return {"rgb": rgb}, {"tile": t, "max_tiles": max_tiles, "w": w, "h": h}

    return Case(name, make, _ref, 1e-6, f"random {w}x{h}, tile {t}, max {max_tiles}")


def _ref(inp, meta):
    rgb = inp["rgb"].numpy().astype(np.uint8)
    pv, ar_id, mask, (nh, nw) = preprocess(rgb, meta["tile"], meta["max_tiles"])
    return {
        "pixel_values": torch.from_numpy(pv.astype(np.float64)),
        "aspect_ratio_id": torch.tensor([float(ar_id)]),
        "aspect_ratio_mask": torch.from_numpy(mask),
        "resized_hw": torch.tensor([float(nh), float(nw)]),
    }


CASES = [
    image_case("bus.jpg", 560),
    image_case("dog_on_skateboard.jpg", 560),
    image_case("zidane.jpg", 560),
    image_case("pasta.jpeg", 560),
    image_case("street_2560x1440.jpg", 560),
    image_case("street_2560x1440.jpg", 448),
    image_case("coco_000000039769_two_cats.png", 448),
    image_case("exif_orientation6_waterfall.jpg", 560),
    image_case("grayscale_cat_on_roof.jpg", 560),
    image_case("progressive_three_puppies.jpg", 560),
    image_case("rgba_three_dice.png", 560),
    image_case("palette_trns_interlaced_toucan.png", 448),
    image_case("baseline_rose_testorig.jpg", 560),
    image_case("extreme_wide_65535x1.png", 560),
    image_case("extreme_tall_1x65535.png", 448),
    synthetic_case("pre_tall_3x1", 150, 430, 56, 4),
    synthetic_case("pre_wide_1x4", 900, 100, 56, 4),
    synthetic_case("pre_square_up", 37, 41, 56, 4),
    synthetic_case("pre_max9_tiles", 301, 97, 28, 9),
    synthetic_case("pre_one_tile", 500, 300, 64, 1),
]


def decoded_case(name, t=560, tol=1e-6):
    """herd decodes the file itself (media/image.h); the reference decodes it with Pillow.
    JPEG (libjpeg-turbo in both), PNG, CMYK JPEG: identical pixels.  16-bit PNG: herd rounds
    v*255/65535, Pillow 9 keeps the high byte (v >> 8), so samples may differ by one level:
    1/255/std = 0.015 in normalised units, relative to max|ref| ~1.9 -> tolerance 1e-2."""
    def make(gen):
        rgb = load_rgb(name)
        return {"rgb": torch.from_numpy(rgb.astype(np.int32))}, {"tile": t, "max_tiles": 4,
                                                                  "path": os.path.join(FIX, "images", name)}

    stem = os.path.splitext(name)[0]
    return Case(f"dec_{stem}_{t}", make, _ref, tol, f"{name} decoded by herd, tile {t}")


CASES += [decoded_case(n) for n in ("bus.jpg", "dog_on_skateboard.jpg", "zidane.jpg", "pasta.jpeg",
                                    "street_2560x1440.jpg", "coco_000000039769_two_cats.png",
                                    "exif_orientation6_waterfall.jpg", "grayscale_cat_on_roof.jpg",
                                    "progressive_three_puppies.jpg", "rgba_three_dice.png",
                                    "palette_trns_interlaced_toucan.png", "cmyk_red_text.jpg")]
CASES.append(decoded_case("rgb16_monkey.png", tol=1e-2))
