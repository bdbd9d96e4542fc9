#!/usr/bin/python3
"""Parity suite for a whole Llama 3.2 Vision ("mllama") checkpoint, end to end, run by
tests/parity/test_mllama.sh through harness.py with the C runner tests/parity/parity_mllama.c.

The checkpoint is a complete random MllamaForConditionalGeneration written by
`herd random-model --arch mllama` (vision tower, projector, text decoder with gated
cross-attention layers, one model.safetensors).  For each case, a prompt with <|image|>
tokens and fixture photos from ../shared/fixtures/images:

  C (runner)   herd decodes the photo, preprocesses it (vision/preprocess.h), encodes and
               projects it (vision/vit.h), hands the states to the decoder
               (hd_llama_set_images with hd_llama_image_ranges) and decodes the prompt,
               then a few greedy tokens;
  reference    Pillow decodes the photo, preprocess_ref.py tiles it, vit_ref.py encodes and
               projects it, and mllama_text_ref.py's forward pass (H1's text reference,
               reused: its module constants are set from this checkpoint's config.json)
               gives the logits; greedy steps recompute the whole sequence.

Nothing is shared with the C code but the checkpoint file.  Environment: MLLAMA_MODEL the
checkpoint the runner loads (HF folder or GGUF), MLLAMA_REF_MODEL the HF folder the
reference reads (default MLLAMA_MODEL), MLLAMA_TOL the relative tolerance (default 1e-4),
MLLAMA_NGEN the greedy steps (default 4; compared exactly), MLLAMA_KV the runner's cache
type (f32 default).
"""
import os

import torch

from harness import Case
import mllama_text_ref as text_ref
import preprocess_ref
import vit_ref

TEXT_PREFIX = "language_model."


def model_paths():
    m = os.environ.get("MLLAMA_MODEL")
    if not m:
        raise SystemExit("mllama_ref.py: set MLLAMA_MODEL to the checkpoint (tests/parity/test_mllama.sh does)")
    return m, os.environ.get("MLLAMA_REF_MODEL", m)


_text_cache = {}


def text_weights(folder):
    """The text decoder's tensors under the names mllama_text_ref.forward reads."""
    if folder not in _text_cache:
        cfg, w = vit_ref.load(folder)
        _text_cache[folder] = {k[len(TEXT_PREFIX):]: v for k, v in w.items() if k.startswith(TEXT_PREFIX)}
    return _text_cache[folder]


def configure_text_ref(cfg):
    """mllama_text_ref's forward reads its tiny model's shape from module constants."""
    tc, vc = cfg["text_config"], cfg["vision_config"]
    g = vc["image_size"] // vc["patch_size"]
    text_ref.H = tc["num_attention_heads"]
    text_ref.G = tc["num_key_value_heads"]
    text_ref.HD = tc["hidden_size"] // tc["num_attention_heads"]
    text_ref.P = g * g + 1
    text_ref.TILES = vc["max_num_tiles"]
    text_ref.IMAGE = cfg["image_token_index"]


def image_path(name):
    return os.path.join(preprocess_ref.FIX, "images", name)


def encode(cfg, w, name):
    """Pillow + preprocess_ref + vit_ref: cross_attention_states [T·P, D] and the tile count."""
    vc = cfg["vision_config"]
    pv, ar_id, mask, _ = preprocess_ref.preprocess(preprocess_ref.load_rgb(name), vc["image_size"],
                                                   vc["max_num_tiles"])
    _, proj = vit_ref.vision_forward(cfg, w, torch.from_numpy(pv).double(), ar_id, int(mask.sum()))
    return proj, int(mask.sum())


def reference(inp, meta):
    cfg, w = vit_ref.load(meta["ref_model"])
    configure_text_ref(cfg)
    tw = text_weights(meta["ref_model"])
    prompt = inp["ids"].long().tolist()
    names = [n for n in meta["image_names"].split("|") if n]
    mode, n_gen = meta["mode"], int(meta["n_gen"])
    states, n_tiles = None, []
    out = {}
    if names:
        enc = [encode(cfg, w, n) for n in names]
        states = torch.stack([e[0] for e in enc])                      # [M, T·P, D]
        n_tiles = [e[1] for e in enc]
        out["projected"] = states
    if states is not None:
        # the test is only worth something if the images change the logits: the rows from
        # the first <|image|> on must differ clearly from the text-only pass
        first = prompt.index(text_ref.IMAGE)
        lg = text_ref.forward(cfg, tw, prompt, states, text_ref.dense_mask(prompt, len(prompt), n_tiles, mode), mode)
        base = text_ref.forward(cfg, tw, prompt, None, None, mode)
        change = float((lg[first:] - base[first:]).abs().max() / lg.abs().max())
        if change < 0.02:
            raise AssertionError(f"cross-attention changes the logits by only {change:.3g} (relative): "
                                 "the checkpoint's gates or weights make it trivial")
    seq, gen, gen_logits = list(prompt), [], []
    for step in range(n_gen + 1):
        cam = text_ref.dense_mask(prompt, len(seq), n_tiles, mode) if states is not None else None
        lg = text_ref.forward(cfg, tw, seq, states, cam, mode)
        if step == 0:
            out["logits"] = lg
        else:
            gen_logits.append(lg[-1])
        if step < n_gen:
            t = int(torch.argmax(lg[-1]))
            gen.append(t)
            seq.append(t)
    if n_gen:
        out["gen"] = torch.tensor(gen, dtype=torch.float64)
        out["gen_logits"] = torch.stack(gen_logits)
    return out


def make_case(name, prompt, images, mode, n_batch, doc):
    def make(gen):
        model, ref_model = model_paths()
        meta = {"model": model, "ref_model": ref_model, "mode": mode, "n_batch": n_batch,
                "n_gen": int(os.environ.get("MLLAMA_NGEN", "4")), "kv": os.environ.get("MLLAMA_KV", "f32"),
                "images": "|".join(image_path(n) for n in images), "image_names": "|".join(images)}
        return {"ids": torch.tensor(prompt, dtype=torch.int32)}, meta

    tol = float(os.environ.get("MLLAMA_TOL", "1e-4"))
    return Case(name, make, reference, {"*": tol, "gen": 1e-9}, doc)


IMG = 128256
BOS, SH, EH, EOT = 128000, 128006, 128007, 128009
USER, ASSISTANT, NL2 = 882, 78191, 271
# the chat layout: header rows before the image see none (R = 0 in META mode)
CHAT = [BOS, SH, USER, EH, NL2, IMG, 3923, 374, 304, 420, 2217, 30, EOT, SH, ASSISTANT, EH, NL2]
# completion layout (HF's processor): the image first, every row sees it
FIRST = [IMG, BOS, 32, 6685, 315, 279]
# two photos with text between them
TWO = [BOS, SH, USER, EH, NL2, IMG, 9906, 13, IMG, 25104, 1521, 1403, 30, EOT, SH, ASSISTANT, EH, NL2]
TEXT = [BOS, SH, USER, EH, NL2, 9906, 1917, EOT, SH, ASSISTANT, EH, NL2]

CASES = [
    make_case("chat_bus_meta", CHAT, ["bus.jpg"], "meta", 16, "chat prompt, bus.jpg (4 tiles), META masking"),
    make_case("chat_bus_hf", CHAT, ["bus.jpg"], "hf", 5, "chat prompt, bus.jpg, HF masking, batches of 5"),
    make_case("first_zidane", FIRST, ["zidane.jpg"], "meta", 16, "image-first completion prompt, zidane.jpg"),
    make_case("two_photos", TWO, ["dog_on_skateboard.jpg", "rgba_three_dice.png"], "meta", 16,
              "two photos (JPEG, RGBA PNG on white) with text between them"),
    make_case("text_only", TEXT, [], "meta", 16, "no image: the cross layers are skipped"),
]
