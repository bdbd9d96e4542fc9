/* lm/random_model_mllama.c — random Llama 3.2 Vision ("mllama") checkpoints,
 * MllamaForConditionalGeneration with the exact Hugging Face names and shapes
 * (SPEC §2.9) in HF state_dict order (vision_model.*, language_model.*,
 * multi_modal_projector.*), and the same model as one GGUF file:
 *
 *   --arch mllama         the complete model: vision tower, projector and the
 *                         text decoder with its cross-attention layers (HF: the
 *                         published folder layout with config.json,
 *                         generation_config.json, preprocessor_config.json and
 *                         the tokenizer with <|image|> = 128256; GGUF: text
 *                         tensors and mllama.* keys as lm/llama.h documents,
 *                         vision tensors and mllama_vision.* keys as
 *                         vision/vit.h and vision/vit_config.h document);
 *   --arch mllama-vision  the vision tower and projector only (the config.json
 *                         still describes the whole model, so the projector
 *                         width is the real one).
 *
 * The folder's other files (config.json, ..., the tokenizer) are written by
 * lm/random_model_mllama_files.c.
 *
 * GGUF types: 1-D tensors (norms, biases, gates, class embedding) are F32 as
 * everywhere; the patch embedding [W, 3, 14, 14] has rows of 14, which no
 * quantization block divides, so with Q8_0 / Q4_0 / Q4_K it is stored as F16
 * (F32 / F16 / BF16 models store it in their type).
 *
 * Initialisation: matrices, embeddings and biases N(0, 0.02²); LayerNorm /
 * RMSNorm γ 1 + N(0, 0.02²); every gate (vision tile/position gates, global
 * layer gates, text cross_attn_attn_gate / cross_attn_mlp_gate) N(0, 1), so
 * tanh of a gate spans (−1, 1) and the cross-attention layers contribute
 * (the released initialisation of the text gates, 0, would make them
 * invisible).  Unlike the released weights, the aspect-ratio table rows for
 * id 0 and for unused tile slots are random too (they are only read for the
 * slots an image has, and for empty slots the reference reads the same values). */
#include "random_model_impl.h"

#include "lm/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHT_STD 0.02f
#define NORM_STD 0.02f
#define GATE_STD 1.0f

static hd_status add(hd_rm_plan *plan, const char *hf, const char *gg, int n_dims, const int64_t *shape,
                     hd_rm_init init, float std, hd_error *err) {
    return hd_rm_plan_add(plan, hf, gg, n_dims, shape, init, std, 0, NULL, err);
}

static hd_status add1(hd_rm_plan *plan, const char *hf, const char *gg, int64_t n, hd_rm_init init, float std,
                      hd_error *err) {
    const int64_t s[1] = {n};
    return add(plan, hf, gg, 1, s, init, std, err);
}

static hd_status add2(hd_rm_plan *plan, const char *hf, const char *gg, int64_t rows, int64_t cols, hd_error *err) {
    const int64_t s[2] = {rows, cols};
    return add(plan, hf, gg, 2, s, HD_RM_INIT_NORMAL, WEIGHT_STD, err);
}
/* One encoder layer, MllamaVisionEncoderLayer's state_dict order. */
static hd_status layer_plan(const hd_vit_config *c, hd_rm_plan *plan, bool global, int i, hd_error *err) {
    const int64_t W = c->width, F = c->n_ff;
    char hp[64], gp[64], h[160], g[160];
    snprintf(hp, sizeof hp, "vision_model.%s.layers.%d.", global ? "global_transformer" : "transformer", i);
    snprintf(gp, sizeof gp, "v.%sblk.%d.", global ? "global." : "", i);
#define N(a, b) (snprintf(h, sizeof h, "%s%s", hp, a), snprintf(g, sizeof g, "%s%s", gp, b), h), g
    hd_status st;
    if (global && ((st = add1(plan, N("gate_attn", "attn_gate"), 1, HD_RM_INIT_NORMAL, GATE_STD, err)) ||
                   (st = add1(plan, N("gate_ffn", "ffn_gate"), 1, HD_RM_INIT_NORMAL, GATE_STD, err))))
        return st;
    if ((st = add2(plan, N("self_attn.q_proj.weight", "attn_q.weight"), W, W, err)) ||   /* [W, W] */
        (st = add2(plan, N("self_attn.k_proj.weight", "attn_k.weight"), W, W, err)) ||   /* [W, W] */
        (st = add2(plan, N("self_attn.v_proj.weight", "attn_v.weight"), W, W, err)) ||   /* [W, W] */
        (st = add2(plan, N("self_attn.o_proj.weight", "attn_out.weight"), W, W, err)) || /* [W, W] */
        (st = add2(plan, N("mlp.fc1.weight", "ffn_up.weight"), F, W, err)) ||            /* [F, W] */
        (st = add1(plan, N("mlp.fc1.bias", "ffn_up.bias"), F, HD_RM_INIT_NORMAL, WEIGHT_STD, err)) ||
        (st = add2(plan, N("mlp.fc2.weight", "ffn_down.weight"), W, F, err)) ||          /* [W, F] */
        (st = add1(plan, N("mlp.fc2.bias", "ffn_down.bias"), W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)) ||
        (st = add1(plan, N("input_layernorm.weight", "ln1.weight"), W, HD_RM_INIT_NORM, NORM_STD, err)) ||
        (st = add1(plan, N("input_layernorm.bias", "ln1.bias"), W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)) ||
        (st = add1(plan, N("post_attention_layernorm.weight", "ln2.weight"), W, HD_RM_INIT_NORM, NORM_STD, err)) ||
        (st = add1(plan, N("post_attention_layernorm.bias", "ln2.bias"), W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)))
        return st;
#undef N
    return HD_OK;
}

/* The vision tower, MllamaVisionModel state_dict order (a module's own
 * parameters before its children's). */
static hd_status vision_plan(const hd_vit_config *c, hd_rm_plan *plan, hd_error *err) {
    const int64_t W = c->width, P = c->n_pos, T = c->max_tiles, p = c->patch_size;
    const int64_t s_patch[4] = {W, 3, p, p};
    hd_status st;
    if ((st = add1(plan, "vision_model.class_embedding", "v.class_embd", W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)) ||
        (st = add(plan, "vision_model.patch_embedding.weight", "v.patch_embd.weight", 4, s_patch, HD_RM_INIT_NORMAL,
                  WEIGHT_STD, err)))                                                             /* [W, 3, p, p] */
        return st;
    plan->t[plan->n - 1].gguf_f16_if_blocked = true;   /* rows of p = 14 */
    if ((st = add1(plan, "vision_model.gated_positional_embedding.gate", "v.position_embd.gate", 1,
                   HD_RM_INIT_NORMAL, GATE_STD, err)) ||
        (st = add2(plan, "vision_model.gated_positional_embedding.embedding", "v.position_embd.weight", P, W,
                   err)) ||                                                                      /* [P, W] */
        (st = add2(plan, "vision_model.gated_positional_embedding.tile_embedding.weight",
                   "v.tile_position_embd.weight", c->n_ar, T * P * W, err)) ||                   /* [n_ar, T·P·W] */
        (st = add1(plan, "vision_model.pre_tile_positional_embedding.gate", "v.pre_tile_position_embd.gate", 1,
                   HD_RM_INIT_NORMAL, GATE_STD, err)) ||
        (st = add2(plan, "vision_model.pre_tile_positional_embedding.embedding.weight",
                   "v.pre_tile_position_embd.weight", c->n_ar, T * W, err)) ||                   /* [n_ar, T·W] */
        (st = add1(plan, "vision_model.post_tile_positional_embedding.gate", "v.post_tile_position_embd.gate", 1,
                   HD_RM_INIT_NORMAL, GATE_STD, err)) ||
        (st = add2(plan, "vision_model.post_tile_positional_embedding.embedding.weight",
                   "v.post_tile_position_embd.weight", c->n_ar, T * W, err)) ||                  /* [n_ar, T·W] */
        (st = add1(plan, "vision_model.layernorm_pre.weight", "v.pre_ln.weight", W, HD_RM_INIT_NORM, NORM_STD, err)) ||
        (st = add1(plan, "vision_model.layernorm_pre.bias", "v.pre_ln.bias", W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)) ||
        (st = add1(plan, "vision_model.layernorm_post.weight", "v.post_ln.weight", W, HD_RM_INIT_NORM, NORM_STD,
                   err)) ||
        (st = add1(plan, "vision_model.layernorm_post.bias", "v.post_ln.bias", W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)))
        return st;
    for (int i = 0; i < c->n_layer; i++)
        if ((st = layer_plan(c, plan, false, i, err))) return st;
    for (int i = 0; i < c->n_global_layer; i++)
        if ((st = layer_plan(c, plan, true, i, err))) return st;
    return HD_OK;
}

/* multi_modal_projector: Linear(out_dim → D, bias). */
static hd_status projector_plan(const hd_vit_config *c, hd_rm_plan *plan, hd_error *err) {
    hd_status st;
    if ((st = add2(plan, "multi_modal_projector.weight", "mm.proj.weight", c->proj_dim, c->out_dim, err)) ||
        (st = add1(plan, "multi_modal_projector.bias", "mm.proj.bias", c->proj_dim, HD_RM_INIT_NORMAL, WEIGHT_STD,
                   err)))                                                                        /* [D, out], [D] */
        return st;
    return HD_OK;
}


/* ---- the text decoder ------------------------------------------------------ */

static bool is_cross(const hd_llama_config *t, int layer) {
    for (int k = 0; k < t->n_xattn; k++)
        if (t->xattn_layers[k] == layer) return true;
    return false;
}

/* A Llama tensor: [rows, cols] (cols 0: 1-D), RoPE-permuted in GGUF when rope_heads > 0. */
static hd_status tadd(hd_rm_plan *plan, const char *hf, const char *gg, int64_t rows, int64_t cols, hd_rm_init init,
                      float std, int rope_heads, hd_error *err) {
    const int64_t shape[2] = {rows, cols};
    return hd_rm_plan_add(plan, hf, gg, cols ? 2 : 1, shape, init, std, rope_heads, NULL, err);
}

/* MllamaSelfAttentionDecoderLayer: a Llama 3 layer. */
static hd_status self_layer_plan(const hd_llama_config *t, hd_rm_plan *plan, int l, hd_error *err) {
    const int64_t D = t->n_embd, F = t->n_ff, Hd = (int64_t)t->n_head * t->head_dim,
                  Gd = (int64_t)t->n_head_kv * t->head_dim;
    static const char *const hfn[9] = {
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight",
        "post_attention_layernorm.weight",
    };
    static const char *const ggn[9] = {
        "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm", "ffn_norm",
    };
    const int64_t rows[9] = {Hd, Gd, Gd, D, F, F, D, D, D};   /* q [H·d, D], k/v [G·d, D], o [D, H·d],  */
    const int64_t cols[9] = {D, D, D, Hd, D, D, F, 0, 0};     /* gate/up [F, D], down [D, F], norms [D] */
    const int rope[9] = {t->n_head, t->n_head_kv, 0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < 9; k++) {
        char hf[128], gg[64];
        snprintf(hf, sizeof hf, "language_model.model.layers.%d.%s", l, hfn[k]);
        snprintf(gg, sizeof gg, "blk.%d.%s.weight", l, ggn[k]);
        const hd_rm_init init = cols[k] ? HD_RM_INIT_NORMAL : HD_RM_INIT_NORM;
        hd_status st = tadd(plan, hf, gg, rows[k], cols[k], init, cols[k] ? WEIGHT_STD : NORM_STD, rope[k], err);
        if (st) return st;
    }
    return HD_OK;
}

/* MllamaCrossAttentionDecoderLayer, state_dict order: its own gate
 * parameters, then cross_attn (q, k, v, o, q_norm, k_norm), input_layernorm,
 * mlp, post_attention_layernorm.  No RoPE, so no row permutation. */
static hd_status cross_layer_plan(const hd_llama_config *t, hd_rm_plan *plan, int l, hd_error *err) {
    const int64_t D = t->n_embd, F = t->n_ff, d = t->head_dim, Hd = (int64_t)t->n_head * d,
                  Gd = (int64_t)t->n_head_kv * d;
    static const char *const hfn[13] = {
        "cross_attn_attn_gate", "cross_attn_mlp_gate", "cross_attn.q_proj.weight", "cross_attn.k_proj.weight",
        "cross_attn.v_proj.weight", "cross_attn.o_proj.weight", "cross_attn.q_norm.weight",
        "cross_attn.k_norm.weight", "input_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
        "mlp.down_proj.weight", "post_attention_layernorm.weight",
    };
    static const char *const ggn[13] = {
        "cross_attn_attn_gate", "cross_attn_mlp_gate", "cross_attn_q_proj.weight", "cross_attn_k_proj.weight",
        "cross_attn_v_proj.weight", "cross_attn_o_proj.weight", "cross_attn_q_norm.weight",
        "cross_attn_k_norm.weight", "attn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
        "ffn_norm.weight",
    };
    /* gates [1]; q [H·d, D]; k, v [G·d, D] (of the projected image states, width D); o [D, H·d];
       q_norm, k_norm [d]; norms [D]; gate/up [F, D]; down [D, F] */
    const int64_t rows[13] = {1, 1, Hd, Gd, Gd, D, d, d, D, F, F, D, D};
    const int64_t cols[13] = {0, 0, D, D, D, Hd, 0, 0, 0, D, D, F, 0};
    for (int k = 0; k < 13; k++) {
        char hf[128], gg[64];
        snprintf(hf, sizeof hf, "language_model.model.layers.%d.%s", l, hfn[k]);
        snprintf(gg, sizeof gg, "blk.%d.%s", l, ggn[k]);
        const bool gate = k < 2, norm = !gate && cols[k] == 0;
        hd_status st = tadd(plan, hf, gg, rows[k], cols[k], norm ? HD_RM_INIT_NORM : HD_RM_INIT_NORMAL,
                            gate ? GATE_STD : norm ? NORM_STD : WEIGHT_STD, 0, err);
        if (st) return st;
    }
    return HD_OK;
}

/* MllamaForCausalLM: model.embed_tokens [V + 8, D], model.layers, model.norm, lm_head [V, D]. */
static hd_status text_plan(const hd_rm_mllama_config *c, hd_rm_plan *plan, hd_error *err) {
    const hd_llama_config *t = &c->text;
    const int64_t V = t->n_vocab, D = t->n_embd;
    hd_status st;
    if ((st = tadd(plan, "language_model.model.embed_tokens.weight", "token_embd.weight", V + HD_LLAMA_XATTN_EXTRA_ROWS, D,
                   HD_RM_INIT_NORMAL, WEIGHT_STD, 0, err)))
        return st;
    for (int l = 0; l < t->n_layer; l++)
        if ((st = is_cross(t, l) ? cross_layer_plan(t, plan, l, err) : self_layer_plan(t, plan, l, err))) return st;
    if ((st = tadd(plan, "language_model.model.norm.weight", "output_norm.weight", D, 0, HD_RM_INIT_NORM, NORM_STD, 0,
                   err)) ||
        (st = tadd(plan, "language_model.lm_head.weight", "output.weight", V, D, HD_RM_INIT_NORMAL, WEIGHT_STD, 0, err)))
        return st;
    return HD_OK;
}

hd_status hd_rm_mllama_plan(const hd_rm_mllama_config *c, hd_rm_plan *plan, hd_error *err) {
    const hd_llama_config *t = &c->text;
    hd_status st;
    /* rope_freqs.weight [d/2] F32, GGUF only: the llama3 scaling factors */
    if (t->rope_scaling == HD_ROPE_SCALING_LLAMA3) {
        float *f = malloc((size_t)(t->head_dim / 2) * sizeof *f);
        if (!f) return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
        hd_llama_rope_freq_factors(t, f);
        const int64_t shape[1] = {t->head_dim / 2};
        st = hd_rm_plan_add(plan, NULL, "rope_freqs.weight", 1, shape, HD_RM_INIT_DATA, 0, 0, f, err);
        free(f);
        if (st) return st;
    }
    if ((st = vision_plan(&c->vision, plan, err)) || (st = text_plan(c, plan, err)) ||
        (st = projector_plan(&c->vision, plan, err)))
        return st;
    return HD_OK;
}

/* ---- configurations --------------------------------------------------------- */

static const char *const k_presets[] = {"tiny", "llama-3.2-11b-vision", NULL};

static const char *const *mllama_preset_names(void) { return k_presets; }

/* Checks that text, cross layers and vision tower fit together. */
static hd_status check_config(const hd_rm_mllama_config *c, const char *file, hd_error *err) {
    const hd_llama_config *t = &c->text;
    hd_status st = hd_llama_config_validate(t, file, err);
    if (st) return st;
    if (t->n_xattn < 1) return hd_error_set(err, HD_ERR_FORMAT, "%s: no cross-attention layers (not mllama)", file);
    if (c->vision.proj_dim != t->n_embd)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: projector width %d differs from text hidden_size %d", file,
                            c->vision.proj_dim, t->n_embd);
    /* the GGUF layout has no key for it: <|image|> is the first extra row (128256) */
    if (t->image_token_id != t->n_vocab)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: image_token_index %d is not vocab_size %d", file,
                            t->image_token_id, t->n_vocab);
    return HD_OK;
}

bool hd_rm_mllama_preset(const char *name, hd_rm_mllama_config *c) {
    const bool tiny = strcmp(name, "tiny") == 0;
    if (!tiny && strcmp(name, "llama-3.2-11b-vision") != 0) return false;
    memset(c, 0, sizeof *c);
    hd_llama_config *t = &c->text;
    if (!hd_llama_config_preset(tiny ? "tiny" : "llama-3.1-8b", t) || !hd_vit_config_preset(name, &c->vision))
        return false;
    /* Llama-3.2-11B-Vision-Instruct's text_config; the tiny one the same with small sizes */
    snprintf(t->name, sizeof t->name, "%s", tiny ? "Llama 3.2 Vision Tiny" : "Llama 3.2 11B Vision Instruct");
    t->n_layer = tiny ? 10 : 40;
    t->n_ff = tiny ? 128 : 14336;
    t->rope_factor = 8.0f;
    t->head_dim_explicit = false;
    t->tie_word_embeddings = false;
    t->bos_token_id = 128000;
    t->pad_token_id = 128004;
    t->n_eos = 3;
    t->eos_token_ids[0] = 128001, t->eos_token_ids[1] = 128008, t->eos_token_ids[2] = 128009;
    /* every 5th layer from 3: [3, 8] (tiny), [3, 8, ..., 38] (11B) */
    for (int l = 3; l < t->n_layer; l += 5) t->xattn_layers[t->n_xattn++] = l;
    t->image_token_id = 128256;
    return check_config(c, name, NULL) == HD_OK;
}

hd_status hd_rm_mllama_config_from_hf(hd_rm_mllama_config *c, const char *path, hd_error *err) {
    memset(c, 0, sizeof *c);
    hd_status st = hd_llama_config_from_hf(&c->text, path, err);
    if (st == HD_OK && c->text.n_xattn == 0)
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: not an mllama config (model_type \"mllama\")", path);
    if (st == HD_OK) st = hd_vit_config_from_hf(&c->vision, path, err);
    if (st == HD_OK) st = check_config(c, path, err);
    return st;
}

/* ---- GGUF ------------------------------------------------------------------ */

static void size_label(int64_t n, char *buf, size_t size) {
    double x = (double)n;
    const char *suffix = x > 1e9 ? "B" : x > 1e6 ? "M" : "K";
    x *= x > 1e9 ? 1e-9 : x > 1e6 ? 1e-6 : 1e-3;
    snprintf(buf, size, x >= 10 ? "%.0f%s" : "%.1f%s", x, suffix);
}

/* tokenizer.ggml.eos_token_id: <|eot_id|> (128009) when the config lists it
 * (Instruct, as its tokenizer_config.json's eos_token), else the first eos id. */
static int32_t gguf_eos(const hd_llama_config *t) {
    for (int k = 0; k < t->n_eos; k++)
        if (t->eos_token_ids[k] == 128009) return 128009;
    return t->n_eos > 0 ? t->eos_token_ids[0] : 128001;
}

hd_status hd_rm_mllama_write_gguf(const hd_rm_mllama_config *c, const hd_rm_plan *plan, const hd_tokenizer *tok,
                                  const hd_random_model_params *p, const char *path, hd_error *err) {
    int64_t n_params = 0;   /* the whole model's, vision included (the text alone is the config's) */
    for (int i = 0; i < plan->n; i++)
        if (plan->t[i].hf_name) n_params += plan->t[i].rows * plan->t[i].cols;
    char label[32];
    size_label(n_params, label, sizeof label);
    hd_gguf_writer *w = hd_gguf_writer_create(err);
    if (!w) return err ? err->code : HD_ERR_NOMEM;
    /* general.architecture "mllama" and convert_hf_to_gguf.py's llama keys as mllama.*,
       cross_attention_layers (Ollama's layout), then the vision tower's keys */
    hd_status st = hd_llama_config_to_gguf(&c->text, hd_rm_file_type(p->type), w, err);
    if (st == HD_OK && hd_gguf_set_str(w, "general.size_label", label) != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_vit_config_to_gguf_keys(&c->vision, w, err);
    if (st == HD_OK && tok) st = hd_tokenizer_to_gguf(tok, w, gguf_eos(&c->text), err);
    if (st == HD_OK && hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(plan, p, w, path, err);
    hd_gguf_writer_free(w);
    return st;
}

/* ---- the architectures ------------------------------------------------------ */

static hd_status preset_of(const hd_random_model_params *p, const char *arch, hd_rm_mllama_config *c, hd_error *err) {
    if (!p->preset || !hd_rm_mllama_preset(p->preset, c))
        return hd_error_set(err, HD_ERR_ARG, "unknown %s preset \"%s\" (one of: tiny, llama-3.2-11b-vision)", arch,
                            p->preset ? p->preset : "");
    if (p->n_vocab > 0)
        return hd_error_set(err, HD_ERR_ARG, "%s has the fixed Llama 3 vocabulary (128256 + <|image|>): no --vocab", arch);
    return HD_OK;
}

static hd_status mllama_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_rm_mllama_config c;
    hd_status st = preset_of(p, "mllama", &c, err);
    if (st) return st;
    hd_rm_plan plan = {0};
    hd_tokenizer *tok = NULL;
    st = hd_rm_mllama_plan(&c, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    if (st == HD_OK && p->format == HD_RM_HF) {
        if (!p->dry_run) {
            if ((st = hd_rm_prepare_dir(path, err)) == HD_OK && p->tokenizer &&
                !(tok = hd_rm_mllama_tokenizer(p->tokenizer, &c, path, err)))
                st = err ? err->code : HD_ERR_IO;
            if (st == HD_OK) st = hd_rm_mllama_write_hf_configs(&c, p->type, path, true, err);
        }
        if (st == HD_OK) st = hd_rm_write_hf_weights(&plan, p, path, err);
    } else if (st == HD_OK) {
        if (p->tokenizer && !p->dry_run && !(tok = hd_rm_mllama_tokenizer(p->tokenizer, &c, NULL, err)))
            st = err ? err->code : HD_ERR_IO;
        if (st == HD_OK) st = hd_rm_mllama_write_gguf(&c, &plan, tok, p, path, err);
    }
    hd_tokenizer_free(tok);
    hd_rm_plan_free(&plan);
    return st;
}

static hd_status mllama_vision_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_rm_mllama_config c;
    hd_status st = preset_of(p, "mllama-vision", &c, err);
    if (st) return st;
    if (p->tokenizer) return hd_error_set(err, HD_ERR_ARG, "mllama-vision writes the vision tower only: no --tokenizer");
    hd_rm_plan plan = {0};
    st = vision_plan(&c.vision, &plan, err);
    if (st == HD_OK) st = projector_plan(&c.vision, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    if (st == HD_OK && p->format == HD_RM_HF) {
        if (!p->dry_run && (st = hd_rm_prepare_dir(path, err)) == HD_OK)
            st = hd_rm_mllama_write_hf_configs(&c, p->type, path, false, err);
        if (st == HD_OK) st = hd_rm_write_hf_weights(&plan, p, path, err);
    } else if (st == HD_OK) {
        hd_gguf_writer *w = hd_gguf_writer_create(err);
        if (!w) st = err ? err->code : HD_ERR_NOMEM;
        if (st == HD_OK) st = hd_vit_config_to_gguf(&c.vision, w, err);
        if (st == HD_OK && (hd_gguf_set_str(w, "general.name", p->preset) ||
                            hd_gguf_set_u32(w, "general.file_type", hd_rm_file_type(p->type)) ||
                            hd_gguf_set_u32(w, "general.quantization_version", 2)))
            st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
        hd_gguf_writer_free(w);
    }
    hd_rm_plan_free(&plan);
    return st;
}

const hd_rm_arch hd_rm_arch_mllama = {"mllama", mllama_preset_names, mllama_write};
const hd_rm_arch hd_rm_arch_mllama_vision = {"mllama-vision", mllama_preset_names, mllama_vision_write};
