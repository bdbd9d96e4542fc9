/* lm/random_model_mllama.c — random Llama 3.2 Vision ("mllama") vision towers:
 * the vision encoder and the multi-modal projector of
 * MllamaForConditionalGeneration with the exact Hugging Face names and shapes
 * (SPEC §2.9), in HF state_dict order, with herd's GGUF names (vision/vit.h).
 * The language model's weights are not written (config.json still describes
 * the text model of the preset, so the projector width is the real one).
 *
 * Initialisation: matrices, embeddings and biases N(0, 0.02²); LayerNorm γ
 * 1 + N(0, 0.02²); the gates N(0, 1) (tanh of them spans the whole (−1, 1)
 * range, so a swapped or missing gate shows).  Unlike the released weights,
 * the aspect-ratio table rows for id 0 and for unused tile slots are random
 * too (they are only read for the slots an image has, and for empty slots
 * the reference reads the same values). */
#include "random_model_impl.h"

#include "vision/preprocess.h"
#include "vision/vit_config.h"

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

/* The vision tower and projector, MllamaForConditionalGeneration state_dict order
 * (a module's own parameters before its children's). */
static hd_status mllama_vision_plan(const hd_vit_config *c, hd_rm_plan *plan, hd_error *err) {
    const int64_t W = c->width, P = c->n_pos, T = c->max_tiles, p = c->patch_size;
    const int64_t s_patch[4] = {W, 3, p, p};
    hd_status st;
    if ((st = add1(plan, "vision_model.class_embedding", "v.class_embd", W, HD_RM_INIT_NORMAL, WEIGHT_STD, err)) ||
        (st = add(plan, "vision_model.patch_embedding.weight", "v.patch_embd.weight", 4, s_patch, HD_RM_INIT_NORMAL,
                  WEIGHT_STD, err)) ||                                                           /* [W, 3, p, p] */
        (st = add1(plan, "vision_model.gated_positional_embedding.gate", "v.position_embd.gate", 1, HD_RM_INIT_NORMAL,
                   GATE_STD, err)) ||
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
    if ((st = add2(plan, "multi_modal_projector.weight", "mm.proj.weight", c->proj_dim, c->out_dim, err)) ||
        (st = add1(plan, "multi_modal_projector.bias", "mm.proj.bias", c->proj_dim, HD_RM_INIT_NORMAL, WEIGHT_STD,
                   err)))                                                                        /* [D, out], [D] */
        return st;
    return HD_OK;
}

/* config.json as transformers writes MllamaConfig (sorted keys, indent 2). */
static char *hf_config(const hd_vit_config *c, const char *preset, const char *dtype) {
    const bool big = strcmp(preset, "tiny") != 0;
    char ratios[1024] = "";
    int rows[64], cols[64];
    const int n = hd_mllama_aspect_ratios(c->max_tiles, rows, cols);
    for (int i = 0; i < n; i++)
        snprintf(ratios + strlen(ratios), sizeof ratios - strlen(ratios), "%s\n      [\n        %d,\n        %d\n      ]",
                 i ? "," : "", rows[i], cols[i]);
    /* the text model: Llama 3.1 8B + 8 cross-attention layers (11B), or a tiny analogue */
    const int t_layers = big ? 40 : 5, t_ff = big ? 14336 : 4 * c->proj_dim, t_heads = big ? 32 : 4,
              t_kv = big ? 8 : 2;
    const char *xlayers = big ? "3,\n      8,\n      13,\n      18,\n      23,\n      28,\n      33,\n      38" : "3";
    const char *fmt =
        "{\n"
        "  \"architectures\": [\n    \"MllamaForConditionalGeneration\"\n  ],\n"
        "  \"image_token_index\": 128256,\n"
        "  \"model_type\": \"mllama\",\n"
        "  \"text_config\": {\n"
        "    \"bos_token_id\": 128000,\n"
        "    \"cross_attention_layers\": [\n      %s\n    ],\n"
        "    \"eos_token_id\": [\n      128001,\n      128008,\n      128009\n    ],\n"
        "    \"hidden_act\": \"silu\",\n"
        "    \"hidden_size\": %d,\n"
        "    \"initializer_range\": 0.02,\n"
        "    \"intermediate_size\": %d,\n"
        "    \"max_position_embeddings\": 131072,\n"
        "    \"model_type\": \"mllama_text_model\",\n"
        "    \"num_attention_heads\": %d,\n"
        "    \"num_hidden_layers\": %d,\n"
        "    \"num_key_value_heads\": %d,\n"
        "    \"pad_token_id\": 128004,\n"
        "    \"rms_norm_eps\": 1e-05,\n"
        "    \"rope_scaling\": {\n      \"factor\": 8.0,\n      \"high_freq_factor\": 4.0,\n"
        "      \"low_freq_factor\": 1.0,\n      \"original_max_position_embeddings\": 8192,\n"
        "      \"rope_type\": \"llama3\"\n    },\n"
        "    \"rope_theta\": 500000.0,\n"
        "    \"tie_word_embeddings\": false,\n"
        "    \"torch_dtype\": \"%s\",\n"
        "    \"use_cache\": true,\n"
        "    \"vocab_size\": 128256\n"
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
    const size_t cap = strlen(fmt) + strlen(ratios) + 1024;
    char *s = malloc(cap);
    if (!s) return NULL;
    char inter_lines[160] = "";
    for (int i = 0; i < c->n_inter; i++)
        snprintf(inter_lines + strlen(inter_lines), sizeof inter_lines - strlen(inter_lines), "%s%d",
                 i ? ",\n      " : "", c->inter[i]);
    snprintf(s, cap, fmt, xlayers, c->proj_dim, t_ff, t_heads, t_layers, t_kv, dtype, dtype, c->n_head, c->width,
             c->image_size, inter_lines, c->n_ff, c->max_tiles, c->n_global_layer, c->n_layer, c->patch_size, ratios,
             dtype, c->out_dim);
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

static const char *torch_dtype(hd_type t) {
    return t == HD_TYPE_F16 ? "float16" : t == HD_TYPE_BF16 ? "bfloat16" : "float32";
}

static hd_status write_text_owned(const char *dir, const char *name, char *text, hd_error *err) {
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    hd_status st = hd_rm_write_text(dir, name, text, err);
    free(text);
    return st;
}

static hd_status mllama_vision_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_vit_config c;
    if (!p->preset || !hd_vit_config_preset(p->preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown mllama-vision preset \"%s\" (one of: tiny, llama-3.2-11b-vision)",
                            p->preset ? p->preset : "");
    if (p->tokenizer || p->n_vocab > 0)
        return hd_error_set(err, HD_ERR_ARG, "mllama-vision writes the vision tower only: no --tokenizer or --vocab");
    hd_rm_plan plan = {0};
    hd_status st = mllama_vision_plan(&c, &plan, err);
    if (st == HD_OK && p->format == HD_RM_HF) {
        st = hd_rm_check_type(&plan, p, err);
        if (st == HD_OK && !p->dry_run) st = hd_rm_prepare_dir(path, err);
        if (st == HD_OK) st = hd_rm_write_hf_weights(&plan, p, path, err);
        if (st == HD_OK && !p->dry_run) st = write_text_owned(path, "config.json", hf_config(&c, p->preset, torch_dtype(p->type)), err);
        if (st == HD_OK && !p->dry_run) st = write_text_owned(path, "preprocessor_config.json", preprocessor_config(&c), err);
    } else if (st == HD_OK) {
        hd_gguf_writer *w = hd_gguf_writer_create(err);
        if (!w) st = err ? err->code : HD_ERR_NOMEM;
        if (st == HD_OK) st = hd_vit_config_to_gguf(&c, w, err);
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

const hd_rm_arch hd_rm_arch_mllama_vision = {"mllama-vision", hd_vit_config_preset_names, mllama_vision_write};
