/* vision/random_model_video.c — random-weight temporal aggregators
 * (`herd random-model --arch video-aggregator --preset tiny|paper-8b`) in the
 * GGUF layout of vision/video_aggregator.h.  GGUF only: the paper's video
 * weights were never published, so there is no Hugging Face layout to match.
 *
 * Initialisation N(0, std²): matrices 1/sqrt(fan_in); biases 0.1; LayerNorm
 * γ 1 + 0.1·N(0, 1), β 0.1; latents and time embeddings N(0, 1) (they play
 * the part of token embeddings), so every norm and attention row is
 * exercised by the parity test. */
#include "lm/random_model_impl.h"

#include "vision/video_aggregator.h"

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
