#!/usr/bin/python3
"""Independent checks of `herd random-model --arch mllama` output, for
tests/e2e/test_mllama_checkpoint.sh.

    mllama_checkpoint_ref.py HF_DIR GGUF_FILE SEED

Reads both files by hand (tests/e2e/random_model_ref.py's safetensors/GGUF readers and its
re-implementation of the generator), never with herd's code.  Checks

  * config.json is a MllamaForConditionalGeneration config: text_config with
    cross_attention_layers every 5th layer from 3, vocab 128256, image_token_index 128256;
    vision_config with the published keys; generation_config / preprocessor_config exist;
  * the safetensors hold exactly the tensors of the published layout (SPEC §2.9, written
    out below from the transformers module structure): vision_model.* (incl. per-aspect-
    ratio tables), language_model.model.* with 9 tensors per self layer and 13 per cross
    layer, embed_tokens [V + 8, D], lm_head [V, D], multi_modal_projector.*;
  * sampled elements equal the documented generator: weights 0.02·N, norms 1 + 0.02·N,
    every gate (vision and text cross_attn_*_gate) 1.0·N;
  * the GGUF: general.architecture "mllama", mllama.* keys incl.
    attention.cross_attention_layers, mllama_vision.* keys; tensor names as lm/llama.h and
    vision/vit.h document (blk.N.cross_attn_*, v.*, mm.proj.*); self-attention Q/K rows
    permuted to the interleaved RoPE layout, cross-attention Q/K not; every other tensor
    equal to its HF tensor; the tokenizer (when the HF folder has one) has 128257 ids with
    <|image|> = 128256 and eos <|eot_id|>.

Prints one line per check group; exits 1 on the first failure.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_model_ref import fail, normal_at, permute, read_gguf, read_hf, stream_of   # noqa: E402

PUBLISHED_TEXT_KEYS = {
    "bos_token_id", "cross_attention_layers", "dropout", "eos_token_id", "hidden_act", "hidden_size",
    "initializer_range", "intermediate_size", "max_position_embeddings", "model_type", "num_attention_heads",
    "num_hidden_layers", "num_key_value_heads", "pad_token_id", "rms_norm_eps", "rope_scaling", "rope_theta",
    "tie_word_embeddings", "torch_dtype", "use_cache", "vocab_size",
}
PUBLISHED_VISION_KEYS = {
    "attention_heads", "hidden_act", "hidden_size", "image_size", "initializer_range",
    "intermediate_layers_indices", "intermediate_size", "max_num_tiles", "model_type", "norm_eps",
    "num_channels", "num_global_layers", "num_hidden_layers", "patch_size", "supported_aspect_ratios",
    "torch_dtype", "vision_output_dim",
}


def expected_hf(cfg):
    """{name: shape} of MllamaForConditionalGeneration (SPEC §2.9)."""
    tc, vc = cfg["text_config"], cfg["vision_config"]
    D, F, V, L = tc["hidden_size"], tc["intermediate_size"], tc["vocab_size"], tc["num_hidden_layers"]
    H, G = tc["num_attention_heads"], tc["num_key_value_heads"]
    d = D // H
    W, Fv, p, T = vc["hidden_size"], vc["intermediate_size"], vc["patch_size"], vc["max_num_tiles"]
    P = (vc["image_size"] // p) ** 2 + 1
    n_ar = len(vc["supported_aspect_ratios"]) + 1
    e = {}
    v = "vision_model."
    e[v + "patch_embedding.weight"] = (W, 3, p, p)
    e[v + "class_embedding"] = (W,)
    e[v + "gated_positional_embedding.embedding"] = (P, W)
    e[v + "gated_positional_embedding.gate"] = (1,)
    e[v + "gated_positional_embedding.tile_embedding.weight"] = (n_ar, T * P * W)
    for k in ("pre", "post"):
        e[v + f"{k}_tile_positional_embedding.embedding.weight"] = (n_ar, T * W)
        e[v + f"{k}_tile_positional_embedding.gate"] = (1,)
    for k in ("layernorm_pre", "layernorm_post"):
        e[v + k + ".weight"] = (W,)
        e[v + k + ".bias"] = (W,)
    for stack, n in (("transformer", vc["num_hidden_layers"]), ("global_transformer", vc["num_global_layers"])):
        for i in range(n):
            q = f"{v}{stack}.layers.{i}."
            for m in "qkvo":
                e[q + f"self_attn.{m}_proj.weight"] = (W, W)
            for ln in ("input_layernorm", "post_attention_layernorm"):
                e[q + ln + ".weight"] = (W,)
                e[q + ln + ".bias"] = (W,)
            e[q + "mlp.fc1.weight"], e[q + "mlp.fc1.bias"] = (Fv, W), (Fv,)
            e[q + "mlp.fc2.weight"], e[q + "mlp.fc2.bias"] = (W, Fv), (W,)
            if stack == "global_transformer":
                e[q + "gate_attn"] = (1,)
                e[q + "gate_ffn"] = (1,)
    t = "language_model."
    e[t + "model.embed_tokens.weight"] = (V + 8, D)
    e[t + "model.norm.weight"] = (D,)
    e[t + "lm_head.weight"] = (V, D)
    for i in range(L):
        q = f"{t}model.layers.{i}."
        if i in tc["cross_attention_layers"]:
            e[q + "cross_attn.q_proj.weight"] = (H * d, D)
            e[q + "cross_attn.k_proj.weight"] = (G * d, D)
            e[q + "cross_attn.v_proj.weight"] = (G * d, D)
            e[q + "cross_attn.o_proj.weight"] = (D, H * d)
            e[q + "cross_attn.q_norm.weight"] = (d,)
            e[q + "cross_attn.k_norm.weight"] = (d,)
            e[q + "cross_attn_attn_gate"] = (1,)
            e[q + "cross_attn_mlp_gate"] = (1,)
        else:
            e[q + "self_attn.q_proj.weight"] = (H * d, D)
            e[q + "self_attn.k_proj.weight"] = (G * d, D)
            e[q + "self_attn.v_proj.weight"] = (G * d, D)
            e[q + "self_attn.o_proj.weight"] = (D, H * d)
        e[q + "input_layernorm.weight"] = (D,)
        e[q + "post_attention_layernorm.weight"] = (D,)
        e[q + "mlp.gate_proj.weight"] = (F, D)
        e[q + "mlp.up_proj.weight"] = (F, D)
        e[q + "mlp.down_proj.weight"] = (D, F)
    e["multi_modal_projector.weight"] = (D, vc["vision_output_dim"])
    e["multi_modal_projector.bias"] = (D,)
    return e


GATES = {"gate", "gate_attn", "gate_ffn", "cross_attn_attn_gate", "cross_attn_mlp_gate"}


def init_of(name):
    """(offset, std) of the documented initialisation."""
    base = name.rsplit(".", 1)[-1]
    if base in GATES:
        return 0.0, 1.0
    if ("norm" in name or "layernorm" in name) and base == "weight":
        return 1.0, 0.02
    return 0.0, 0.02


def gguf_name(hf):
    """HF name -> the GGUF name lm/llama.h (text) and vision/vit.h (vision) document."""
    fixed = {
        "language_model.model.embed_tokens.weight": "token_embd.weight",
        "language_model.model.norm.weight": "output_norm.weight",
        "language_model.lm_head.weight": "output.weight",
        "multi_modal_projector.weight": "mm.proj.weight",
        "multi_modal_projector.bias": "mm.proj.bias",
        "vision_model.patch_embedding.weight": "v.patch_embd.weight",
        "vision_model.class_embedding": "v.class_embd",
        "vision_model.gated_positional_embedding.embedding": "v.position_embd.weight",
        "vision_model.gated_positional_embedding.gate": "v.position_embd.gate",
        "vision_model.gated_positional_embedding.tile_embedding.weight": "v.tile_position_embd.weight",
        "vision_model.pre_tile_positional_embedding.embedding.weight": "v.pre_tile_position_embd.weight",
        "vision_model.pre_tile_positional_embedding.gate": "v.pre_tile_position_embd.gate",
        "vision_model.post_tile_positional_embedding.embedding.weight": "v.post_tile_position_embd.weight",
        "vision_model.post_tile_positional_embedding.gate": "v.post_tile_position_embd.gate",
        "vision_model.layernorm_pre.weight": "v.pre_ln.weight",
        "vision_model.layernorm_pre.bias": "v.pre_ln.bias",
        "vision_model.layernorm_post.weight": "v.post_ln.weight",
        "vision_model.layernorm_post.bias": "v.post_ln.bias",
    }
    if hf in fixed:
        return fixed[hf]
    parts = hf.split(".")
    if hf.startswith("language_model.model.layers."):
        i, rest = parts[3], ".".join(parts[4:])
        text = {
            "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
            "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
            "mlp.down_proj.weight": "ffn_down.weight", "input_layernorm.weight": "attn_norm.weight",
            "post_attention_layernorm.weight": "ffn_norm.weight",
            "cross_attn_attn_gate": "cross_attn_attn_gate", "cross_attn_mlp_gate": "cross_attn_mlp_gate",
        }
        if rest.startswith("cross_attn."):
            return f"blk.{i}.cross_attn_" + rest[len("cross_attn."):]
        return f"blk.{i}.{text[rest]}"
    stack, i, rest = parts[1], parts[3], ".".join(parts[4:])
    pre = "v.global.blk." if stack == "global_transformer" else "v.blk."
    vis = {
        "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_out.weight",
        "mlp.fc1.weight": "ffn_up.weight", "mlp.fc1.bias": "ffn_up.bias",
        "mlp.fc2.weight": "ffn_down.weight", "mlp.fc2.bias": "ffn_down.bias",
        "input_layernorm.weight": "ln1.weight", "input_layernorm.bias": "ln1.bias",
        "post_attention_layernorm.weight": "ln2.weight", "post_attention_layernorm.bias": "ln2.bias",
        "gate_attn": "attn_gate", "gate_ffn": "ffn_gate",
    }
    return pre + i + "." + vis[rest]


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    hf_dir, gguf, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    tc, vc = cfg.get("text_config", {}), cfg.get("vision_config", {})
    if cfg.get("model_type") != "mllama" or cfg.get("architectures") != ["MllamaForConditionalGeneration"]:
        fail("config.json is not a MllamaForConditionalGeneration config")
    if set(tc) != PUBLISHED_TEXT_KEYS or set(vc) != PUBLISHED_VISION_KEYS:
        fail(f"config.json keys differ from the published: text {set(tc) ^ PUBLISHED_TEXT_KEYS}, "
             f"vision {set(vc) ^ PUBLISHED_VISION_KEYS}")
    L = tc["num_hidden_layers"]
    if tc["cross_attention_layers"] != list(range(3, L, 5)) or tc["vocab_size"] != 128256 or \
            cfg["image_token_index"] != 128256 or tc["model_type"] != "mllama_text_model":
        fail(f"text_config: cross layers {tc['cross_attention_layers']}, vocab {tc['vocab_size']}")
    if vc["vision_output_dim"] != vc["hidden_size"] * (len(vc["intermediate_layers_indices"]) + 1):
        fail("vision_output_dim is not hidden_size x (intermediate layers + 1)")
    for f in ("generation_config.json", "preprocessor_config.json"):
        if not os.path.exists(os.path.join(hf_dir, f)):
            fail(f"{f} is missing")
    pp = json.load(open(os.path.join(hf_dir, "preprocessor_config.json")))
    if pp["size"] != {"height": vc["image_size"], "width": vc["image_size"]} or pp["max_image_tiles"] != 4:
        fail("preprocessor_config.json does not match the vision tower")
    print(f"ok config.json: {L} text layers, cross-attention at {tc['cross_attention_layers']}")

    hf = read_hf(hf_dir)
    want = expected_hf(cfg)
    if set(hf) != set(want):
        fail(f"tensor names differ from the published layout: missing {sorted(set(want) - set(hf))[:5]}, "
             f"extra {sorted(set(hf) - set(want))[:5]}")
    for name, shape in want.items():
        if hf[name][1] != shape:
            fail(f"{name}: shape {hf[name][1]}, published {shape}")
    n_self = sum(1 for n in want if n.endswith("self_attn.q_proj.weight") and n.startswith("language_model"))
    n_cross = sum(1 for n in want if n.endswith("cross_attn_attn_gate"))
    print(f"ok {len(hf)} safetensors tensors with the published names and shapes "
          f"({n_self} self layers x 9, {n_cross} cross layers x 13)")

    rng = np.random.default_rng(seed)
    for name, (dtype, shape, arr) in hf.items():
        flat = arr.reshape(-1)
        off, std = init_of(name)
        for i in sorted(set([0, flat.size - 1] + list(rng.integers(0, flat.size, 3)))):
            v = np.float32(off) + np.float32(std) * normal_at(stream_of(seed, name), int(i))   # float32 as in C
            if dtype == "BF16":
                v = (np.array([v], np.float32).view(np.uint32) + 0x7FFF + ((np.array([v], np.float32).view(np.uint32) >> 16) & 1)) >> 16 << 16
                v = v.view(np.float32)[0]
            elif dtype == "F16":
                v = np.float32(np.float16(v))
            if flat[i] != v:
                fail(f"{name}[{i}] = {flat[i]}, the generator gives {v}")
    gates = {n: float(hf[n][2].reshape(-1)[0]) for n in hf if n.rsplit(".", 1)[-1] in GATES}
    if max(abs(g) for g in gates.values()) < 0.1:
        fail("every gate is near zero: the cross-attention would be invisible")
    print(f"ok sampled values follow the generator ({len(gates)} gates, |gate| up to "
          f"{max(abs(g) for g in gates.values()):.2f})")

    kv, order, gg = read_gguf(gguf)
    if kv["general.architecture"][1] != "mllama":
        fail(f"general.architecture {kv['general.architecture']}")
    if kv["mllama.attention.cross_attention_layers"][2] != tc["cross_attention_layers"]:
        fail("mllama.attention.cross_attention_layers differs from config.json")
    for k, want_v in (("mllama.block_count", L), ("mllama.embedding_length", tc["hidden_size"]),
                      ("mllama.vocab_size", 128256), ("mllama_vision.image_size", vc["image_size"]),
                      ("mllama_vision.block_count", vc["num_hidden_layers"]),
                      ("mllama_vision.global_block_count", vc["num_global_layers"]),
                      ("mllama_vision.projection_dim", tc["hidden_size"])):
        if kv.get(k, (None, None))[1] != want_v:
            fail(f"GGUF key {k} = {kv.get(k)}, expected {want_v}")
    expected_gguf = {gguf_name(n) for n in hf} | {"rope_freqs.weight"}
    if set(gg) != expected_gguf:
        fail(f"GGUF tensors differ: missing {sorted(expected_gguf - set(gg))[:5]}, "
             f"extra {sorted(set(gg) - expected_gguf)[:5]}")
    H, G = tc["num_attention_heads"], tc["num_key_value_heads"]
    for name, (dtype, shape, arr) in hf.items():
        gname = gguf_name(name)
        t, ne, garr = gg[gname]
        if tuple(reversed(ne)) != shape:
            fail(f"{gname}: ggml shape {ne} is not {name} {shape} reversed")
        if garr is None:
            continue
        ref = arr.astype(np.float32)
        if ".self_attn.q_proj." in name and name.startswith("language_model"):
            ref = permute(ref, H)
        elif ".self_attn.k_proj." in name and name.startswith("language_model"):
            ref = permute(ref, G)
        if not np.array_equal(garr.reshape(ref.shape), ref):
            fail(f"{gname} differs from {name}" + (" (RoPE row permutation)" if "attn_q" in gname or "attn_k" in gname else ""))
    print(f"ok GGUF: {len(gg)} tensors, Ollama's mllama text names + herd's v.*/mm.* names, values equal to the "
          "HF tensors (self-attention Q/K permuted, cross-attention Q/K not)")

    if os.path.exists(os.path.join(hf_dir, "tokenizer.json")):
        tj = json.load(open(os.path.join(hf_dir, "tokenizer.json")))
        img = [t for t in tj["added_tokens"] if t["content"] == "<|image|>"]
        if len(img) != 1 or img[0]["id"] != 128256 or not img[0]["special"]:
            fail(f"tokenizer.json: <|image|> entries {img}")
        toks = kv["tokenizer.ggml.tokens"][2]
        if len(toks) != 128257 or toks[128256] != "<|image|>" or kv["tokenizer.ggml.eos_token_id"][1] != 128009:
            fail(f"GGUF tokenizer: {len(toks)} tokens, last {toks[-1]!r}")
        print("ok tokenizer: <|image|> = 128256 in tokenizer.json and the GGUF vocabulary (128257 ids), eos 128009")


if __name__ == "__main__":
    main()
