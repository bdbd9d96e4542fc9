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
#include "vision/preprocess.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- config.json, generation_config.json, preprocessor_config.json ---------- */

static const char *torch_dtype(hd_type t) {
    return t == HD_TYPE_F16 ? "float16" : t == HD_TYPE_BF16 ? "bfloat16" : "float32";
}

/* config.json as transformers writes MllamaConfig (sorted keys, indent 2). */
static char *hf_config(const hd_rm_mllama_config *m, const char *dtype) {
    const hd_vit_config *c = &m->vision;
    const hd_llama_config *t = &m->text;
    char ratios[1024] = "", xlayers[1024] = "", eos[256] = "", inter[160] = "";
    int rows[64], cols[64];
    const int n = hd_mllama_aspect_ratios(c->max_tiles, rows, cols);
    for (int i = 0; i < n; i++)
        snprintf(ratios + strlen(ratios), sizeof ratios - strlen(ratios), "%s\n      [\n        %d,\n        %d\n      ]",
                 i ? "," : "", rows[i], cols[i]);
    for (int k = 0; k < t->n_xattn; k++)
        snprintf(xlayers + strlen(xlayers), sizeof xlayers - strlen(xlayers), "%s%d", k ? ",\n      " : "",
                 (int)t->xattn_layers[k]);
    for (int k = 0; k < t->n_eos; k++)
        snprintf(eos + strlen(eos), sizeof eos - strlen(eos), "%s%d", k ? ",\n      " : "", t->eos_token_ids[k]);
    for (int i = 0; i < c->n_inter; i++)
        snprintf(inter + strlen(inter), sizeof inter - strlen(inter), "%s%d", i ? ",\n      " : "", c->inter[i]);
    const char *fmt =
        "{\n"
        "  \"architectures\": [\n    \"MllamaForConditionalGeneration\"\n  ],\n"
        "  \"image_token_index\": %d,\n"
        "  \"model_type\": \"mllama\",\n"
        "  \"text_config\": {\n"
        "    \"bos_token_id\": %d,\n"
        "    \"cross_attention_layers\": [\n      %s\n    ],\n"
        "    \"dropout\": 0,\n"
        "    \"eos_token_id\": [\n      %s\n    ],\n"
        "    \"hidden_act\": \"silu\",\n"
        "    \"hidden_size\": %d,\n"
        "    \"initializer_range\": 0.02,\n"
        "    \"intermediate_size\": %d,\n"
        "    \"max_position_embeddings\": %" PRId64 ",\n"
        "    \"model_type\": \"mllama_text_model\",\n"
        "    \"num_attention_heads\": %d,\n"
        "    \"num_hidden_layers\": %d,\n"
        "    \"num_key_value_heads\": %d,\n"
        "    \"pad_token_id\": %d,\n"
        "    \"rms_norm_eps\": 1e-05,\n"
        "    \"rope_scaling\": {\n      \"factor\": %.1f,\n      \"high_freq_factor\": %.1f,\n"
        "      \"low_freq_factor\": %.1f,\n      \"original_max_position_embeddings\": %" PRId64 ",\n"
        "      \"rope_type\": \"llama3\"\n    },\n"
        "    \"rope_theta\": %.1f,\n"
        "    \"tie_word_embeddings\": false,\n"
        "    \"torch_dtype\": \"%s\",\n"
        "    \"use_cache\": true,\n"
        "    \"vocab_size\": %d\n"
        "  },\n"
        "  \"torch_dtype\": \"%s\",\n"
        "  \"transformers_version\": \"4.45.0.dev0\",\n"
        "  \"vision_config\": {\n"
        "    \"attention_heads\": %d,\n"
        "    \"hidden_act\": \"gelu\",\n"
        "    \"hidden_size\": %d,\n"
        "    \"image_size\": %d,\n"
        "    \"initializer_range\": 0.02,\n"
        "    \"intermediate_layers_indices\": [\n      %s\n    ],\n"
        "    \"intermediate_size\": %d,\n"
        "    \"max_num_tiles\": %d,\n"
        "    \"model_type\": \"mllama_vision_model\",\n"
        "    \"norm_eps\": 1e-05,\n"
        "    \"num_channels\": 3,\n"
        "    \"num_global_layers\": %d,\n"
        "    \"num_hidden_layers\": %d,\n"
        "    \"patch_size\": %d,\n"
        "    \"supported_aspect_ratios\": [%s\n    ],\n"
        "    \"torch_dtype\": \"%s\",\n"
        "    \"vision_output_dim\": %d\n"
        "  }\n"
        "}\n";
    const size_t cap = strlen(fmt) + sizeof ratios + sizeof xlayers + sizeof eos + sizeof inter + 1024;
    char *s = malloc(cap);
    if (!s) return NULL;
    snprintf(s, cap, fmt, (int)t->image_token_id, t->bos_token_id, xlayers, eos, t->n_embd, t->n_ff, t->n_ctx_train,
             t->n_head, t->n_layer, t->n_head_kv, t->pad_token_id, (double)t->rope_factor,
             (double)t->rope_high_freq_factor, (double)t->rope_low_freq_factor, t->rope_original_ctx,
             (double)t->rope_theta, dtype, t->n_vocab, dtype, c->n_head, c->width, c->image_size, inter, c->n_ff,
             c->max_tiles, c->n_global_layer, c->n_layer, c->patch_size, ratios, dtype, c->out_dim);
    return s;
}

/* generation_config.json of Llama-3.2-11B-Vision-Instruct. */
static char *generation_config(const hd_llama_config *t) {
    char eos[256] = "";
    for (int k = 0; k < t->n_eos; k++)
        snprintf(eos + strlen(eos), sizeof eos - strlen(eos), "%s%d", k ? ",\n    " : "", t->eos_token_ids[k]);
    const char *fmt = "{\n  \"bos_token_id\": %d,\n  \"do_sample\": true,\n  \"eos_token_id\": [\n    %s\n  ],\n"
                      "  \"pad_token_id\": %d,\n  \"temperature\": 0.6,\n  \"top_p\": 0.9,\n"
                      "  \"transformers_version\": \"4.45.0.dev0\"\n}\n";
    const size_t cap = strlen(fmt) + sizeof eos + 64;
    char *s = malloc(cap);
    if (s) snprintf(s, cap, fmt, t->bos_token_id, eos, t->pad_token_id);
    return s;
}

/* preprocessor_config.json of the released checkpoints, with the preset's tile size. */
static char *preprocessor_config(const hd_vit_config *c) {
    const char *fmt =
        "{\n"
        "  \"do_convert_rgb\": true,\n  \"do_normalize\": true,\n  \"do_pad\": true,\n"
        "  \"do_rescale\": true,\n  \"do_resize\": true,\n"
        "  \"image_mean\": [\n    0.48145466,\n    0.4578275,\n    0.40821073\n  ],\n"
        "  \"image_processor_type\": \"MllamaImageProcessor\",\n"
        "  \"image_std\": [\n    0.26862954,\n    0.26130258,\n    0.27577711\n  ],\n"
        "  \"max_image_tiles\": %d,\n"
        "  \"resample\": 2,\n"
        "  \"rescale_factor\": 0.00392156862745098,\n"
        "  \"size\": {\n    \"height\": %d,\n    \"width\": %d\n  }\n"
        "}\n";
    const size_t cap = strlen(fmt) + 64;
    char *s = malloc(cap);
    if (s) snprintf(s, cap, fmt, c->max_tiles, c->image_size, c->image_size);
    return s;
}

static hd_status write_text_owned(const char *dir, const char *name, char *text, hd_error *err) {
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    hd_status st = hd_rm_write_text(dir, name, text, err);
    free(text);
    return st;
}

static hd_status write_hf_configs(const hd_rm_mllama_config *c, const hd_random_model_params *p, const char *dir,
                                  bool generation, hd_error *err) {
    hd_status st = write_text_owned(dir, "config.json", hf_config(c, torch_dtype(p->type)), err);
    if (st == HD_OK && generation) st = write_text_owned(dir, "generation_config.json", generation_config(&c->text), err);
    if (st == HD_OK) st = write_text_owned(dir, "preprocessor_config.json", preprocessor_config(&c->vision), err);
    return st;
}

/* ---- the tokenizer: Llama 3.1 names + <|image|> ----------------------------- */

#define IMAGE_TOKEN_NAME "<|image|>"

/* Reads dir/name as a cJSON tree. */
static cJSON *read_json(const char *dir, const char *name, hd_error *err) {
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        hd_error_set(err, HD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    const bool ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    cJSON *root = ok ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
    free(buf);
    if (!root) hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read it back as JSON", path);
    return root;
}

static hd_status write_json(const char *dir, const char *name, const cJSON *root, hd_error *err) {
    char *text = cJSON_Print(root);
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    size_t n = strlen(text);
    char *nl = malloc(n + 2);
    if (!nl) {
        free(text);
        return hd_error_set(err, HD_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    }
    memcpy(nl, text, n);
    nl[n] = '\n', nl[n + 1] = '\0';
    free(text);
    hd_status st = hd_rm_write_text(dir, name, nl, err);
    free(nl);
    return st;
}

static cJSON *image_token_entry(int32_t id, bool with_id) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = (!with_id || cJSON_AddNumberToObject(o, "id", id)) &&
              cJSON_AddStringToObject(o, "content", IMAGE_TOKEN_NAME) && cJSON_AddFalseToObject(o, "lstrip") &&
              cJSON_AddFalseToObject(o, "normalized") && cJSON_AddFalseToObject(o, "rstrip") &&
              cJSON_AddFalseToObject(o, "single_word") && cJSON_AddTrueToObject(o, "special");
    if (!ok) cJSON_Delete(o), o = NULL;
    return o;
}

/* Appends <|image|> = id to dir's tokenizer.json (added_tokens) and
 * tokenizer_config.json (added_tokens_decoder), as the HF Llama 3.2 Vision
 * files have it. */
static hd_status add_image_token(const char *dir, int32_t id, hd_error *err) {
    cJSON *tj = read_json(dir, "tokenizer.json", err);
    if (!tj) return err ? err->code : HD_ERR_FORMAT;
    cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    cJSON *e = image_token_entry(id, true);
    hd_status st = HD_OK;
    if (!cJSON_IsArray(added) || !e || !cJSON_AddItemToArray(added, e)) {
        cJSON_Delete(e);
        st = hd_error_set(err, HD_ERR_INTERNAL, "%s/tokenizer.json: cannot add %s", dir, IMAGE_TOKEN_NAME);
    }
    if (st == HD_OK) st = write_json(dir, "tokenizer.json", tj, err);
    cJSON_Delete(tj);
    if (st) return st;
    cJSON *tc = read_json(dir, "tokenizer_config.json", err);
    if (!tc) return err ? err->code : HD_ERR_FORMAT;
    cJSON *dec = cJSON_GetObjectItemCaseSensitive(tc, "added_tokens_decoder");
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    e = image_token_entry(id, false);
    if (!cJSON_IsObject(dec) || !e || !cJSON_AddItemToObject(dec, key, e)) {
        cJSON_Delete(e);
        st = hd_error_set(err, HD_ERR_INTERNAL, "%s/tokenizer_config.json: cannot add %s", dir, IMAGE_TOKEN_NAME);
    }
    if (st == HD_OK) st = write_json(dir, "tokenizer_config.json", tc, err);
    cJSON_Delete(tc);
    return st;
}

static bool has_image_token(const hd_tokenizer *tok, int32_t id) {
    return hd_tokenizer_n_vocab(tok) == id + 1 && hd_tokenizer_find_special(tok, IMAGE_TOKEN_NAME) == id;
}

/* Writes the tokenizer of file `src` into dir as HF files with <|image|> =
 * image_token (added unless src already has it), and returns it loaded back
 * from dir (so the caller's GGUF gets exactly these ids).  src must be the
 * Llama 3 tokenizer (image_token ids, or image_token + 1 with <|image|>). */
static hd_tokenizer *vision_tokenizer(const char *src, const hd_rm_mllama_config *c, const char *dir, hd_error *err) {
    hd_tokenizer *tok = hd_tokenizer_load(src, err);
    if (!tok) return NULL;
    const bool has = has_image_token(tok, c->text.image_token_id);
    const int32_t eot = 128009;   /* the Instruct tokenizer's eos_token <|eot_id|> */
    hd_status st = HD_OK;
    if (!has && hd_tokenizer_n_vocab(tok) != c->text.image_token_id)
        st = hd_error_set(err, HD_ERR_ARG, "%s: the tokenizer has %d ids; mllama needs %d (+ %s)", src,
                          hd_tokenizer_n_vocab(tok), c->text.image_token_id, IMAGE_TOKEN_NAME);
    else if (hd_tokenizer_bos(tok) < 0 || eot >= hd_tokenizer_n_vocab(tok) || !hd_tokenizer_is_special(tok, eot))
        st = hd_error_set(err, HD_ERR_ARG, "%s: no Llama 3 special tokens (<|begin_of_text|>, <|eot_id|>)", src);
    else if (!has)
        st = hd_tokenizer_set_names(tok, HD_TOKENIZER_NAMES_LLAMA3_1, err);
    if (st == HD_OK) st = hd_tokenizer_write_hf(tok, dir, eot, err);
    hd_tokenizer_free(tok);
    if (st == HD_OK && !has) st = add_image_token(dir, c->text.image_token_id, err);
    if (st) return NULL;
    if (!(tok = hd_tokenizer_load(dir, err))) return NULL;
    if (!has_image_token(tok, c->text.image_token_id)) {
        hd_error_set(err, HD_ERR_INTERNAL, "%s: the written tokenizer lacks %s = %d", dir, IMAGE_TOKEN_NAME,
                     c->text.image_token_id);
        hd_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* A private temporary folder for the GGUF path's tokenizer files. */
static bool make_temp_dir(char *out, size_t size) {
    const char *base = getenv("TMPDIR");
    snprintf(out, size, "%s/herd-tokenizer-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(out) != NULL;
}

static void remove_temp_dir(const char *dir) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    char path[4352];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
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
    char tmp[4096] = "";
    st = hd_rm_mllama_plan(&c, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    if (st == HD_OK && p->format == HD_RM_HF) {
        if (!p->dry_run) {
            if ((st = hd_rm_prepare_dir(path, err)) == HD_OK && p->tokenizer &&
                !(tok = vision_tokenizer(p->tokenizer, &c, path, err)))
                st = err ? err->code : HD_ERR_IO;
            if (st == HD_OK) st = write_hf_configs(&c, p, path, true, err);
        }
        if (st == HD_OK) st = hd_rm_write_hf_weights(&plan, p, path, err);
    } else if (st == HD_OK) {
        if (p->tokenizer && !p->dry_run) {
            if (!make_temp_dir(tmp, sizeof tmp)) {
                st = hd_error_set(err, HD_ERR_IO, "cannot create a temporary folder: %s", strerror(errno));
                tmp[0] = '\0';
            } else if (!(tok = vision_tokenizer(p->tokenizer, &c, tmp, err))) {
                st = err ? err->code : HD_ERR_IO;
            }
        }
        if (st == HD_OK) st = hd_rm_mllama_write_gguf(&c, &plan, tok, p, path, err);
    }
    if (tmp[0]) remove_temp_dir(tmp);
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
        if (!p->dry_run && (st = hd_rm_prepare_dir(path, err)) == HD_OK) st = write_hf_configs(&c, p, path, false, err);
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
