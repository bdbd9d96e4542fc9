/* vision/random_model_video.c — random-weight temporal aggregators
 * (`herd random-model --arch video-aggregator --preset tiny|paper-8b`) in the
 * GGUF layout of vision/video_aggregator.h, and whole video models
 * (`--arch video --preset tiny|paper-8b`): a Llama 3.2 Vision model (lm/
 * random_model_mllama.c's plan and keys) + the aggregator + the video
 * cross-attention layers of lm/llama.h ("video cross-attention"), in one
 * GGUF.  GGUF only: the paper's video weights were never published, so
 * there is no Hugging Face layout to match.
 *
 * Video presets:
 *   tiny      mllama "tiny" (10 layers, image cross layers 3 and 8, D 64) +
 *             aggregator "tiny" (G 4 frames → 8 latents) + a video layer
 *             before each image cross layer (3, 8): every path exercised;
 *   paper-8b  mllama "llama-3.2-11b-vision" (Llama 3.1 8B text, 8 image cross
 *             layers) + aggregator "paper-8b" (G 32, 64 latents) + video layers
 *             before every fourth image cross layer (j = 3, 7: decoder layers
 *             18 and 38), ~0.6 B video parameters as the paper says for 8B.
 * Video layers are initialised as the mllama writer does its cross layers:
 * matrices N(0, 0.02²), RMSNorm γ 1 + N(0, 0.02²), gates N(0, 1).
 *
 * Initialisation N(0, std²): matrices 1/sqrt(fan_in); biases 0.1; LayerNorm
 * γ 1 + 0.1·N(0, 1), β 0.1; latents and time embeddings N(0, 1) (they play
 * the part of token embeddings), so every norm and attention row is
 * exercised by the parity test. */
#include "lm/random_model_impl.h"

#include "lm/tokenizer.h"
#include "vision/video_aggregator.h"

#include <string.h>

#include <math.h>
#include <stdio.h>

#define VEC_STD 0.1f

typedef struct planner {
    hd_rm_plan *plan;
    hd_error *err;
    hd_status st;
} planner;

/* one tensor of PyTorch shape {d0[, d1]} (outermost first); name printf(fmt, layer) */
static void add(planner *P, hd_rm_init init, float std, int64_t d0, int64_t d1, const char *fmt, int l) {
    if (P->st) return;
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const int64_t shape[2] = {d0, d1};
    P->st = hd_rm_plan_add(P->plan, NULL, name, d1 > 0 ? 2 : 1, shape, init, std, 0, NULL, P->err);
}

static void add_matrix(planner *P, int64_t out, int64_t in, const char *fmt, int l) {
    add(P, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt((double)in)), out, in, fmt, l);
}

static void add_norm(planner *P, int64_t W, const char *fmt_w, const char *fmt_b, int l) {
    add(P, HD_RM_INIT_NORM, VEC_STD, W, 0, fmt_w, l);
    add(P, HD_RM_INIT_NORMAL, VEC_STD, W, 0, fmt_b, l);
}

static hd_status vagg_plan(const hd_vagg_config *c, hd_rm_plan *plan, hd_error *err) {
    planner P = {.plan = plan, .err = err, .st = HD_OK};
    const int64_t W = c->n_embd, A = (int64_t)c->n_head * c->head_dim, F = c->n_ff;
    add_matrix(&P, W, c->n_in, "vagg.in.weight", 0);                       /* [W, D_in] */
    add(&P, HD_RM_INIT_NORMAL, VEC_STD, W, 0, "vagg.in.bias", 0);
    add(&P, HD_RM_INIT_NORMAL, 1.0f, c->n_group, W, "vagg.time_embd", 0);   /* [G, W] */
    add(&P, HD_RM_INIT_NORMAL, 1.0f, c->n_latent, W, "vagg.latents", 0);    /* [n_latent, W] */
    for (int l = 0; l < c->n_layer; l++) {
        add_norm(&P, W, "vagg.blk.%d.media_norm.weight", "vagg.blk.%d.media_norm.bias", l);
        add_norm(&P, W, "vagg.blk.%d.latent_norm.weight", "vagg.blk.%d.latent_norm.bias", l);
        add_matrix(&P, A, W, "vagg.blk.%d.attn_q.weight", l);               /* [H·d, W] */
        add_matrix(&P, A, W, "vagg.blk.%d.attn_k.weight", l);
        add_matrix(&P, A, W, "vagg.blk.%d.attn_v.weight", l);
        add_matrix(&P, W, A, "vagg.blk.%d.attn_out.weight", l);             /* [W, H·d] */
        add_norm(&P, W, "vagg.blk.%d.ffn_norm.weight", "vagg.blk.%d.ffn_norm.bias", l);
        add_matrix(&P, F, W, "vagg.blk.%d.ffn_up.weight", l);               /* [F, W] */
        add_matrix(&P, W, F, "vagg.blk.%d.ffn_down.weight", l);             /* [W, F] */
    }
    add_norm(&P, W, "vagg.out_norm.weight", "vagg.out_norm.bias", 0);
    add_matrix(&P, c->n_out, W, "vagg.out.weight", 0);                     /* [D_out, W] */
    add(&P, HD_RM_INIT_NORMAL, VEC_STD, c->n_out, 0, "vagg.out.bias", 0);
    return P.st;
}

static hd_status vagg_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_vagg_config c;
    if (!p->preset || !hd_vagg_preset(p->preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown video-aggregator preset \"%s\" (one of: tiny, paper-8b)",
                            p->preset ? p->preset : "");
    if (p->format != HD_RM_GGUF)
        return hd_error_set(err, HD_ERR_ARG,
                            "video-aggregator: only --format gguf (the paper's video weights have no published layout)");
    if (p->tokenizer) return hd_error_set(err, HD_ERR_ARG, "video-aggregator: takes no tokenizer");
    if (p->n_vocab > 0) return hd_error_set(err, HD_ERR_ARG, "video-aggregator: has no vocabulary");
    hd_rm_plan plan = {0};
    hd_status st = vagg_plan(&c, &plan, err);
    hd_gguf_writer *w = NULL;
    if (st == HD_OK && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    if (st == HD_OK && hd_gguf_set_str(w, "general.architecture", "video_aggregator") != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_vagg_config_to_gguf(&c, w, err);
    if (st == HD_OK && (hd_gguf_set_str(w, "general.name", p->preset) != HD_OK ||
                        hd_gguf_set_u32(w, "general.file_type", hd_rm_file_type(p->type)) != HD_OK ||
                        hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK))
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&plan);
    return st;
}

const hd_rm_arch hd_rm_arch_video_aggregator = {"video-aggregator", hd_vagg_preset_names, vagg_write};

/* ---- whole video models ------------------------------------------------------------- */

#define VID_WEIGHT_STD 0.02f
#define VID_NORM_STD 0.02f
#define VID_GATE_STD 1.0f

static const char *const k_video_presets[] = {"tiny", "paper-8b", NULL};
static const char *const *video_preset_names(void) { return k_video_presets; }

typedef struct video_config {
    hd_rm_mllama_config mm;
    hd_vagg_config agg;
    int n_video;
    int32_t video_before[HD_LLAMA_MAX_XATTN];
} video_config;

static bool video_preset(const char *name, video_config *c) {
    const bool tiny = name && strcmp(name, "tiny") == 0;
    if (!tiny && !(name && strcmp(name, "paper-8b") == 0)) return false;
    if (!hd_rm_mllama_preset(tiny ? "tiny" : "llama-3.2-11b-vision", &c->mm) ||
        !hd_vagg_preset(tiny ? "tiny" : "paper-8b", &c->agg))
        return false;
    c->n_video = 0;
    /* tiny: before every image cross layer; paper: before every fourth (j = 3, 7, ...) */
    for (int j = 0; j < c->mm.text.n_xattn; j++)
        if (tiny || j % 4 == 3) c->video_before[c->n_video++] = c->mm.text.xattn_layers[j];
    return c->n_video > 0 && c->agg.n_in == c->mm.vision.proj_dim && c->agg.n_out == c->mm.text.n_embd;
}

/* vblk.V.*: an image cross layer's tensors (PyTorch shapes, lm/llama.h) */
static hd_status video_layers_plan(const video_config *c, hd_rm_plan *plan, hd_error *err) {
    planner P = {.plan = plan, .err = err, .st = HD_OK};
    const hd_llama_config *t = &c->mm.text;
    const int64_t D = t->n_embd, F = t->n_ff, d = t->head_dim;
    const int64_t Hd = (int64_t)t->n_head * d, Gd = (int64_t)t->n_head_kv * d;
    for (int v = 0; v < c->n_video; v++) {
        add(&P, HD_RM_INIT_NORMAL, VID_GATE_STD, 1, 0, "vblk.%d.cross_attn_attn_gate", v);
        add(&P, HD_RM_INIT_NORMAL, VID_GATE_STD, 1, 0, "vblk.%d.cross_attn_mlp_gate", v);
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, Hd, D, "vblk.%d.cross_attn_q_proj.weight", v);   /* [H·d, D] */
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, Gd, D, "vblk.%d.cross_attn_k_proj.weight", v);   /* [G·d, D] */
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, Gd, D, "vblk.%d.cross_attn_v_proj.weight", v);
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, D, Hd, "vblk.%d.cross_attn_o_proj.weight", v);   /* [D, H·d] */
        add(&P, HD_RM_INIT_NORM, VID_NORM_STD, d, 0, "vblk.%d.cross_attn_q_norm.weight", v);        /* [d] */
        add(&P, HD_RM_INIT_NORM, VID_NORM_STD, d, 0, "vblk.%d.cross_attn_k_norm.weight", v);
        add(&P, HD_RM_INIT_NORM, VID_NORM_STD, D, 0, "vblk.%d.attn_norm.weight", v);                /* [D] */
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, F, D, "vblk.%d.ffn_gate.weight", v);             /* [F, D] */
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, F, D, "vblk.%d.ffn_up.weight", v);
        add(&P, HD_RM_INIT_NORMAL, VID_WEIGHT_STD, D, F, "vblk.%d.ffn_down.weight", v);             /* [D, F] */
        add(&P, HD_RM_INIT_NORM, VID_NORM_STD, D, 0, "vblk.%d.ffn_norm.weight", v);
    }
    return P.st;
}

/* tokenizer.ggml.eos_token_id as the mllama writer picks it: <|eot_id|> when listed */
static int32_t video_eos(const hd_llama_config *t) {
    for (int k = 0; k < t->n_eos; k++)
        if (t->eos_token_ids[k] == 128009) return 128009;
    return t->n_eos > 0 ? t->eos_token_ids[0] : 128001;
}

static hd_status video_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    video_config c;
    if (!video_preset(p->preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown video preset \"%s\" (one of: tiny, paper-8b)",
                            p->preset ? p->preset : "");
    if (p->format != HD_RM_GGUF)
        return hd_error_set(err, HD_ERR_ARG, "video: only --format gguf (the paper's video weights have no published layout)");
    if (p->n_vocab > 0) return hd_error_set(err, HD_ERR_ARG, "video has the fixed Llama 3 vocabulary: no --vocab");
    hd_rm_plan plan = {0};
    hd_tokenizer *tok = NULL;
    hd_gguf_writer *w = NULL;
    hd_status st = hd_rm_mllama_plan(&c.mm, &plan, err);
    if (st == HD_OK) st = vagg_plan(&c.agg, &plan, err);
    if (st == HD_OK) st = video_layers_plan(&c, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    if (st == HD_OK && p->tokenizer && !p->dry_run && !(tok = hd_rm_mllama_tokenizer(p->tokenizer, &c.mm, NULL, err)))
        st = err ? err->code : HD_ERR_IO;
    if (st == HD_OK && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    /* the mllama keys (text as mllama.*, the vision tower's), the aggregator's, where the video layers run */
    if (st == HD_OK) st = hd_llama_config_to_gguf(&c.mm.text, hd_rm_file_type(p->type), w, err);
    if (st == HD_OK) st = hd_vit_config_to_gguf_keys(&c.mm.vision, w, err);
    if (st == HD_OK) st = hd_vagg_config_to_gguf(&c.agg, w, err);
    if (st == HD_OK && (hd_gguf_set_arr_i32(w, "mllama.video.cross_attention_layers", c.video_before,
                                            (uint64_t)c.n_video) != HD_OK ||
                        hd_gguf_set_str(w, "general.name", c.mm.text.n_layer > 10 ? "Llama 3 video (paper, 8B)"
                                                                                   : "Llama 3 video tiny") != HD_OK))
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK && tok) st = hd_tokenizer_to_gguf(tok, w, video_eos(&c.mm.text), err);
    if (st == HD_OK && hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
    hd_gguf_writer_free(w);
    hd_tokenizer_free(tok);
    hd_rm_plan_free(&plan);
    return st;
}

const hd_rm_arch hd_rm_arch_video = {"video", video_preset_names, video_write};
