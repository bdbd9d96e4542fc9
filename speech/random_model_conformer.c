/* speech/random_model_conformer.c — random-weight Conformer speech encoders
 * (`herd random-model --arch conformer --preset tiny|paper-1b`) in the GGUF
 * layout of speech/conformer.h.  GGUF only: the encoder has no published
 * Hugging Face layout.
 *
 * Initialisation (std of N(0, std²)) keeps activations O(1) through the
 * blocks so parity tests exercise every nonlinearity: matrices and kernels
 * 1/sqrt(fan_in); biases, LayerNorm β, BatchNorm β and running mean 0.1;
 * LayerNorm γ, BatchNorm γ and running variance 1 + 0.1·N(0, 1) (positive:
 * a variance below 0 needs a 10-sigma draw). */
#include "random_model_conformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_STD 0.1f

typedef struct planner {
    hd_rm_plan *plan;
    hd_error *err;
    hd_status st;
} planner;

/* one tensor, PyTorch shape (outermost first); name is printf(fmt, blk) */
static void add(planner *P, hd_rm_init init, float std, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt,
                int blk) {
    if (P->st) return;
    char name[96];
    snprintf(name, sizeof name, fmt, blk);
    const int64_t shape[3] = {d0, d1, d2};
    P->st = hd_rm_plan_add(P->plan, NULL, name, n, shape, init, std, 0, NULL, P->err);
}

static void add_matrix(planner *P, int64_t out, int64_t in, const char *fmt, int blk) {
    add(P, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt((double)in)), 2, out, in, 0, fmt, blk);
}
static void add_vec(planner *P, int64_t n, const char *fmt, int blk) {
    add(P, HD_RM_INIT_NORMAL, VEC_STD, 1, n, 0, 0, fmt, blk);
}
static void add_gamma(planner *P, int64_t n, const char *fmt, int blk) {
    add(P, HD_RM_INIT_NORM, VEC_STD, 1, n, 0, 0, fmt, blk);
}

/* The depthwise kernel [D, 1, K]: the loader takes it as F32 or F16 only
 * (core/ops.h conv1d), and its rows of K are too short for quantized blocks,
 * so it is stored as F32 data whatever the file's type — with exactly the
 * values the generator gives an F32 tensor of that name (std · N(0, 1) of
 * hd_random_model_value), so F32 files are unchanged. */
static void add_depthwise(planner *P, int64_t D, int64_t K, uint64_t seed, int blk) {
    if (P->st) return;
    char name[96];
    snprintf(name, sizeof name, "enc.blk.%d.conv.dw.weight", blk);
    float *v = malloc((size_t)(D * K) * sizeof *v);
    if (!v) {
        P->st = hd_error_set(P->err, HD_ERR_NOMEM, "random model: out of memory");
        return;
    }
    const float std = (float)(1.0 / sqrt((double)K));
    for (int64_t i = 0; i < D * K; i++) v[i] = std * hd_random_model_value(seed, name, (uint64_t)i);
    const int64_t shape[3] = {D, 1, K};
    P->st = hd_rm_plan_add(P->plan, NULL, name, 3, shape, HD_RM_INIT_DATA, 0, 0, v, P->err);
    free(v);
}

static void add_ff(planner *P, const hd_conformer_config *c, const char *which, int l) {
    const int64_t D = c->n_embd, F = c->n_ff;
    char f[96];
    snprintf(f, sizeof f, "enc.blk.%%d.%s.norm.weight", which), add_gamma(P, D, f, l);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.norm.bias", which), add_vec(P, D, f, l);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.up.weight", which), add_matrix(P, F, D, f, l);       /* [F, D] */
    snprintf(f, sizeof f, "enc.blk.%%d.%s.up.bias", which), add_vec(P, F, f, l);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.down.weight", which), add_matrix(P, D, F, f, l);     /* [D, F] */
    snprintf(f, sizeof f, "enc.blk.%%d.%s.down.bias", which), add_vec(P, D, f, l);
}

/* The tensors in module order (front, then per block ff1, attn, conv, ff2, norm). */
hd_status hd_rm_conformer_plan(const hd_conformer_config *c, uint64_t seed, hd_rm_plan *plan, hd_error *err) {
    planner P = {.plan = plan, .err = err, .st = HD_OK};
    const int64_t D = c->n_embd, A = (int64_t)c->n_head * c->head_dim, K = c->conv_kernel;
    add_matrix(&P, D, (int64_t)c->stack * c->n_mel, "enc.in.weight", 0);   /* [D, stack·n_mel] */
    add_vec(&P, D, "enc.in.bias", 0);
    for (int l = 0; l < c->n_layer; l++) {
        add_ff(&P, c, "ff1", l);
        add_gamma(&P, D, "enc.blk.%d.attn.norm.weight", l);
        add_vec(&P, D, "enc.blk.%d.attn.norm.bias", l);
        add_matrix(&P, A, D, "enc.blk.%d.attn.q.weight", l);                /* [H·d, D] */
        add_vec(&P, A, "enc.blk.%d.attn.q.bias", l);
        add_matrix(&P, A, D, "enc.blk.%d.attn.k.weight", l);
        add_vec(&P, A, "enc.blk.%d.attn.k.bias", l);
        add_matrix(&P, A, D, "enc.blk.%d.attn.v.weight", l);
        add_vec(&P, A, "enc.blk.%d.attn.v.bias", l);
        add_matrix(&P, D, A, "enc.blk.%d.attn.out.weight", l);              /* [D, H·d] */
        add_vec(&P, D, "enc.blk.%d.attn.out.bias", l);
        add_gamma(&P, D, "enc.blk.%d.conv.norm.weight", l);
        add_vec(&P, D, "enc.blk.%d.conv.norm.bias", l);
        add_matrix(&P, 2 * D, D, "enc.blk.%d.conv.pw1.weight", l);          /* [2D, D] */
        add_vec(&P, 2 * D, "enc.blk.%d.conv.pw1.bias", l);
        add_depthwise(&P, D, K, seed, l);                                   /* [D, 1, K] */
        add_vec(&P, D, "enc.blk.%d.conv.dw.bias", l);
        add_gamma(&P, D, "enc.blk.%d.conv.bn.weight", l);
        add_vec(&P, D, "enc.blk.%d.conv.bn.bias", l);
        add_vec(&P, D, "enc.blk.%d.conv.bn.mean", l);
        add_gamma(&P, D, "enc.blk.%d.conv.bn.var", l);
        add_matrix(&P, D, D, "enc.blk.%d.conv.pw2.weight", l);              /* [D, D] */
        add_vec(&P, D, "enc.blk.%d.conv.pw2.bias", l);
        add_ff(&P, c, "ff2", l);
        add_gamma(&P, D, "enc.blk.%d.norm.weight", l);
        add_vec(&P, D, "enc.blk.%d.norm.bias", l);
    }
    return P.st;
}

static hd_status conformer_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_conformer_config c;
    if (!p->preset || !hd_conformer_preset(p->preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown conformer preset \"%s\" (one of: tiny, paper-1b)",
                            p->preset ? p->preset : "");
    if (p->format != HD_RM_GGUF)
        return hd_error_set(err, HD_ERR_ARG, "conformer: only --format gguf (the encoder has no Hugging Face layout)");
    if (p->tokenizer) return hd_error_set(err, HD_ERR_ARG, "conformer: a speech encoder takes no tokenizer");
    if (p->n_vocab > 0) return hd_error_set(err, HD_ERR_ARG, "conformer: a speech encoder has no vocabulary");
    hd_rm_plan plan = {0};
    hd_status st = hd_rm_conformer_plan(&c, p->seed, &plan, err);
    hd_gguf_writer *w = NULL;
    if (st == HD_OK && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    if (st == HD_OK) st = hd_conformer_config_to_gguf(&c, w, err);
    if (st == HD_OK && (hd_gguf_set_str(w, "general.name", p->preset) != HD_OK ||
                        hd_gguf_set_u32(w, "general.file_type", hd_rm_file_type(p->type)) != HD_OK ||
                        hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK))
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&plan);
    return st;
}

const hd_rm_arch hd_rm_arch_conformer = {"conformer", hd_conformer_preset_names, conformer_write};
