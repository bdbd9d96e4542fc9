/* speech/conformer.c — the Conformer speech encoder (see conformer.h). */
#include "conformer.h"

#include "core/nn.h"
#include "core/ops.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------- */

static const char *const k_presets[] = {"tiny", "paper-1b", NULL};

const char *const *hd_conformer_preset_names(void) { return k_presets; }

bool hd_conformer_preset(const char *name, hd_conformer_config *c) {
    if (!name) return false;
    hd_conformer_config base = {
        .n_mel = 80, .stack = 4, .norm_eps = 1e-5f, .bn_eps = 1e-5f, .rope_theta = 10000.0f,
    };
    if (strcmp(name, "tiny") == 0) {
        base.n_embd = 64, base.n_ff = 128, base.n_layer = 2, base.n_head = 4, base.head_dim = 16;
        base.conv_kernel = 7;
    } else if (strcmp(name, "paper-1b") == 0) {
        /* SPEC §4: 24 layers, D 1536, macaron FFN 4096, kernel 7, 24 rotary heads (64 derived) */
        base.n_embd = 1536, base.n_ff = 4096, base.n_layer = 24, base.n_head = 24, base.head_dim = 64;
        base.conv_kernel = 7;
    } else {
        return false;
    }
    *c = base;
    return true;
}

hd_status hd_conformer_config_check(const hd_conformer_config *c, hd_error *err) {
#define BAD(cond, ...) \
    if (cond) return hd_error_set(err, HD_ERR_ARG, __VA_ARGS__)
    BAD(c->n_mel < 1 || c->n_mel > 1024, "conformer: mel bins %d out of 1..1024", c->n_mel);
    BAD(c->stack < 1 || c->stack > 64, "conformer: stack %d out of 1..64", c->stack);
    BAD(c->n_embd < 1 || c->n_embd > 65536, "conformer: width %d out of 1..65536", c->n_embd);
    BAD(c->n_ff < 1 || c->n_ff > 262144, "conformer: feed-forward width %d out of range", c->n_ff);
    BAD(c->n_layer < 0 || c->n_layer > 1024, "conformer: block count %d out of 0..1024", c->n_layer);
    BAD(c->n_head < 1 || c->n_head > 1024, "conformer: head count %d out of range", c->n_head);
    BAD(c->head_dim < 2 || c->head_dim > 1024 || c->head_dim % 2, "conformer: head dim %d must be even, 2..1024",
        c->head_dim);
    BAD(c->conv_kernel < 1 || c->conv_kernel > 1023 || c->conv_kernel % 2 == 0,
        "conformer: conv kernel %d must be odd, 1..1023", c->conv_kernel);
    BAD(!(c->norm_eps > 0) || !(c->bn_eps > 0) || !isfinite(c->norm_eps) || !isfinite(c->bn_eps),
        "conformer: norm epsilons must be positive");
    BAD(!(c->rope_theta > 1) || !isfinite(c->rope_theta), "conformer: RoPE base %g must be > 1",
        (double)c->rope_theta);
#undef BAD
    return HD_OK;
}

static const struct {
    const char *key;
    size_t off;
} k_u32_keys[] = {
    {"conformer.mel_bins", offsetof(hd_conformer_config, n_mel)},
    {"conformer.stack_frames", offsetof(hd_conformer_config, stack)},
    {"conformer.embedding_length", offsetof(hd_conformer_config, n_embd)},
    {"conformer.feed_forward_length", offsetof(hd_conformer_config, n_ff)},
    {"conformer.block_count", offsetof(hd_conformer_config, n_layer)},
    {"conformer.attention.head_count", offsetof(hd_conformer_config, n_head)},
    {"conformer.attention.key_length", offsetof(hd_conformer_config, head_dim)},
    {"conformer.conv_kernel_size", offsetof(hd_conformer_config, conv_kernel)},
};
#define N_U32_KEYS (sizeof k_u32_keys / sizeof k_u32_keys[0])

static const struct {
    const char *key;
    size_t off;
} k_f32_keys[] = {
    {"conformer.attention.layer_norm_epsilon", offsetof(hd_conformer_config, norm_eps)},
    {"conformer.batch_norm_epsilon", offsetof(hd_conformer_config, bn_eps)},
    {"conformer.rope.freq_base", offsetof(hd_conformer_config, rope_theta)},
};
#define N_F32_KEYS (sizeof k_f32_keys / sizeof k_f32_keys[0])

hd_status hd_conformer_config_from_gguf(const hd_gguf *g, hd_conformer_config *c, hd_error *err) {
    const char *file = hd_gguf_name(g);
    const char *arch = NULL;
    size_t alen = 0;
    if (!hd_gguf_get_str(g, "general.architecture", &arch, &alen) || alen != 9 || memcmp(arch, "conformer", 9) != 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: general.architecture is not \"conformer\"", file);
    hd_conformer_config r = {.norm_eps = 1e-5f, .bn_eps = 1e-5f, .rope_theta = 10000.0f};
    for (size_t i = 0; i < N_U32_KEYS; i++) {
        uint32_t v;
        if (!hd_gguf_get_u32(g, k_u32_keys[i].key, &v))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not a u32", file, k_u32_keys[i].key);
        if (v > 1u << 20) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is too large", file, k_u32_keys[i].key, v);
        *(int *)((char *)&r + k_u32_keys[i].off) = (int)v;
    }
    for (size_t i = 0; i < N_F32_KEYS; i++) {
        if (hd_gguf_find_key(g, k_f32_keys[i].key) < 0) continue;
        if (!hd_gguf_get_f32(g, k_f32_keys[i].key, (float *)((char *)&r + k_f32_keys[i].off)))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not an f32", file, k_f32_keys[i].key);
    }
    hd_error e2 = {0};
    if (hd_conformer_config_check(&r, &e2)) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s", file, e2.msg);
    *c = r;
    return HD_OK;
}

hd_status hd_conformer_config_to_gguf(const hd_conformer_config *c, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_conformer_config_check(c, err);
    if (st) return st;
    bool ok = hd_gguf_set_str(w, "general.architecture", "conformer") == HD_OK;
    for (size_t i = 0; ok && i < N_U32_KEYS; i++)
        ok = hd_gguf_set_u32(w, k_u32_keys[i].key, (uint32_t) * (const int *)((const char *)c + k_u32_keys[i].off)) ==
             HD_OK;
    for (size_t i = 0; ok && i < N_F32_KEYS; i++)
        ok = hd_gguf_set_f32(w, k_f32_keys[i].key, *(const float *)((const char *)c + k_f32_keys[i].off)) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "conformer: out of memory writing metadata");
}

int64_t hd_conformer_n_params(const hd_conformer_config *c) {
    const int64_t D = c->n_embd, F = c->n_ff, A = (int64_t)c->n_head * c->head_dim, K = c->conv_kernel;
    const int64_t ff = 2 * D + F * D + F + D * F + D;
    const int64_t attn = 2 * D + 3 * (A * D + A) + D * A + D;
    const int64_t conv = 2 * D + 2 * D * D + 2 * D + D * K + D + 4 * D + D * D + D;
    const int64_t block = 2 * ff + attn + conv + 2 * D;
    return (int64_t)c->stack * c->n_mel * D + D + c->n_layer * block;
}

int64_t hd_conformer_n_out(const hd_conformer_config *c, int64_t n_mel_frames) {
    return n_mel_frames > 0 ? n_mel_frames / c->stack : 0;
}

/* ---- weights ------------------------------------------------------------- */

typedef struct ff_w {            /* one macaron half-step feed-forward */
    hd_nn_norm_w norm;           /* LayerNorm [D]                      */
    hd_nn_mlp_w mlp;             /* up [F, D] + b, SiLU, down [D, F] + b */
} ff_w;

typedef struct conv_t {          /* the convolution module's tensors  */
    hd_tensor pw1, pw1_b;        /* ne {D, 2D}, {2D}                   */
    hd_tensor dw, dw_b;          /* ne {K, 1, D}, {D}                  */
    hd_tensor bn_w, bn_b, bn_mean, bn_var;   /* {D} each               */
    hd_tensor pw2, pw2_b;        /* ne {D, D}, {D}                     */
} conv_t;

typedef struct block_w {
    ff_w ff1, ff2;
    hd_nn_norm_w attn_norm;
    hd_nn_attn_w attn;
    hd_nn_conv_w conv;           /* the shared Conformer convolution module (core/nn.h) */
    conv_t conv_t;
    hd_nn_norm_w final_norm;
    /* storage the norm/attn structs point into */
    hd_tensor t[32];
} block_w;

struct hd_conformer {
    hd_conformer_config c;
    hd_weights *owned;           /* from hd_conformer_load, else NULL  */
    hd_tensor in_w, in_b;        /* ne {stack·n_mel, D}, {D}           */
    block_w *blocks;             /* [n_layer]                          */
    float *inv_freq;             /* [head_dim/2]                       */
    int32_t *pos;                /* [pos_cap]                          */
    int64_t pos_cap;
    hd_arena *arena;             /* activations, sized for arena_tokens */
    int64_t arena_tokens;
};

typedef hd_weights_loader loader;

#define T_VEC (1ull << HD_TYPE_F32)
#define T_CONV ((1ull << HD_TYPE_F32) | (1ull << HD_TYPE_F16))

static void get_norm(loader *L, hd_tensor *wt, hd_tensor *bt, hd_nn_norm_w *n, float eps, int64_t D,
                     const char *prefix, int blk) {
    char f[128];   /* prefixes are short fixed names ("ff1.norm", ...) */
    snprintf(f, sizeof f, "%s.weight", prefix);
    hd_weights_load3(L, wt, T_VEC, 1, D, 0, 0, f, blk);
    snprintf(f, sizeof f, "%s.bias", prefix);
    hd_weights_load3(L, bt, T_VEC, 1, D, 0, 0, f, blk);
    *n = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = wt, .b = bt, .eps = eps};
}

static void get_ff(loader *L, block_w *b, int slot, ff_w *ff, const hd_conformer_config *c, const char *which,
                   int blk) {
    const int64_t D = c->n_embd, F = c->n_ff;
    char f[96];
    hd_tensor *t = &b->t[slot];   /* 6 tensors */
    snprintf(f, sizeof f, "enc.blk.%%d.%s.norm", which);
    get_norm(L, &t[0], &t[1], &ff->norm, c->norm_eps, D, f, blk);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.up.weight", which);
    hd_weights_load3(L, &t[2], HD_TYPES_ANY, 2, F, D, 0, f, blk);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.up.bias", which);
    hd_weights_load3(L, &t[3], T_VEC, 1, F, 0, 0, f, blk);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.down.weight", which);
    hd_weights_load3(L, &t[4], HD_TYPES_ANY, 2, D, F, 0, f, blk);
    snprintf(f, sizeof f, "enc.blk.%%d.%s.down.bias", which);
    hd_weights_load3(L, &t[5], T_VEC, 1, D, 0, 0, f, blk);
    ff->mlp = (hd_nn_mlp_w){.gate = NULL, .up = &t[2], .down = &t[4], .b_up = &t[3], .b_down = &t[5],
                            .act = HD_NN_ACT_SILU};
}

static void get_block(loader *L, block_w *b, const hd_conformer_config *c, int l) {
    const int64_t D = c->n_embd, A = (int64_t)c->n_head * c->head_dim, K = c->conv_kernel;
    get_ff(L, b, 0, &b->ff1, c, "ff1", l);
    get_ff(L, b, 6, &b->ff2, c, "ff2", l);
    hd_tensor *t = &b->t[12];   /* attention: 10 tensors */
    get_norm(L, &t[0], &t[1], &b->attn_norm, c->norm_eps, D, "enc.blk.%d.attn.norm", l);
    hd_weights_load3(L, &t[2], HD_TYPES_ANY, 2, A, D, 0, "enc.blk.%d.attn.q.weight", l);
    hd_weights_load3(L, &t[3], T_VEC, 1, A, 0, 0, "enc.blk.%d.attn.q.bias", l);
    hd_weights_load3(L, &t[4], HD_TYPES_ANY, 2, A, D, 0, "enc.blk.%d.attn.k.weight", l);
    hd_weights_load3(L, &t[5], T_VEC, 1, A, 0, 0, "enc.blk.%d.attn.k.bias", l);
    hd_weights_load3(L, &t[6], HD_TYPES_ANY, 2, A, D, 0, "enc.blk.%d.attn.v.weight", l);
    hd_weights_load3(L, &t[7], T_VEC, 1, A, 0, 0, "enc.blk.%d.attn.v.bias", l);
    hd_weights_load3(L, &t[8], HD_TYPES_ANY, 2, D, A, 0, "enc.blk.%d.attn.out.weight", l);
    hd_weights_load3(L, &t[9], T_VEC, 1, D, 0, 0, "enc.blk.%d.attn.out.bias", l);
    b->attn = (hd_nn_attn_w){.wq = &t[2], .wk = &t[4], .wv = &t[6], .wo = &t[8], .bq = &t[3], .bk = &t[5],
                             .bv = &t[7], .bo = &t[9], .n_head = c->n_head, .n_kv_head = c->n_head,
                             .head_dim = c->head_dim};
    conv_t *cv = &b->conv_t;
    get_norm(L, &b->t[22], &b->t[23], &b->conv.norm, c->norm_eps, D, "enc.blk.%d.conv.norm", l);
    hd_weights_load3(L, &cv->pw1, HD_TYPES_ANY, 2, 2 * D, D, 0, "enc.blk.%d.conv.pw1.weight", l);
    hd_weights_load3(L, &cv->pw1_b, T_VEC, 1, 2 * D, 0, 0, "enc.blk.%d.conv.pw1.bias", l);
    hd_weights_load3(L, &cv->dw, T_CONV, 3, D, 1, K, "enc.blk.%d.conv.dw.weight", l);
    hd_weights_load3(L, &cv->dw_b, T_VEC, 1, D, 0, 0, "enc.blk.%d.conv.dw.bias", l);
    hd_weights_load3(L, &cv->bn_w, T_VEC, 1, D, 0, 0, "enc.blk.%d.conv.bn.weight", l);
    hd_weights_load3(L, &cv->bn_b, T_VEC, 1, D, 0, 0, "enc.blk.%d.conv.bn.bias", l);
    hd_weights_load3(L, &cv->bn_mean, T_VEC, 1, D, 0, 0, "enc.blk.%d.conv.bn.mean", l);
    hd_weights_load3(L, &cv->bn_var, T_VEC, 1, D, 0, 0, "enc.blk.%d.conv.bn.var", l);
    hd_weights_load3(L, &cv->pw2, HD_TYPES_ANY, 2, D, D, 0, "enc.blk.%d.conv.pw2.weight", l);
    hd_weights_load3(L, &cv->pw2_b, T_VEC, 1, D, 0, 0, "enc.blk.%d.conv.pw2.bias", l);
    get_norm(L, &b->t[24], &b->t[25], &b->final_norm, c->norm_eps, D, "enc.blk.%d.norm", l);
    /* same padding (K−1)/2 on both sides: K is odd */
    b->conv = (hd_nn_conv_w){.norm = b->conv.norm, .pw1 = &cv->pw1, .pw1_b = &cv->pw1_b, .dw = &cv->dw,
                             .dw_b = &cv->dw_b, .bn_mean = &cv->bn_mean, .bn_var = &cv->bn_var, .bn_w = &cv->bn_w,
                             .bn_b = &cv->bn_b, .bn_eps = c->bn_eps, .pw2 = &cv->pw2, .pw2_b = &cv->pw2_b,
                             .pad_left = (int)(K - 1) / 2, .pad_right = (int)(K - 1) / 2};
    if (L->st == HD_OK) {
        /* running variances must be ≥ 0 (BatchNorm divides by sqrt(var + eps)) */
        const float *v = cv->bn_var.data;
        for (int64_t i = 0; i < D; i++)
            if (!(v[i] >= 0) || !isfinite(v[i])) {
                L->st = hd_error_set(L->err, HD_ERR_FORMAT, "%s: enc.blk.%d.conv.bn.var[%lld] = %g is not a variance",
                                     hd_weights_name(L->w), l, (long long)i, (double)v[i]);
                return;
            }
    }
}

hd_conformer *hd_conformer_from_weights(const hd_weights *w, const hd_conformer_config *cfg, hd_error *err) {
    hd_conformer_config c;
    if (cfg) {
        if (hd_conformer_config_check(cfg, err)) return NULL;
        c = *cfg;
    } else {
        const hd_gguf *g = hd_weights_gguf(w);
        if (!g) {
            hd_error_set(err, HD_ERR_ARG, "%s: no GGUF metadata: give the conformer configuration", hd_weights_name(w));
            return NULL;
        }
        if (hd_conformer_config_from_gguf(g, &c, err)) return NULL;
    }
    hd_conformer *m = calloc(1, sizeof *m);
    if (m) {
        m->c = c;
        m->blocks = calloc((size_t)(c.n_layer ? c.n_layer : 1), sizeof *m->blocks);
        m->inv_freq = malloc((size_t)(c.head_dim / 2) * sizeof *m->inv_freq);
    }
    if (!m || !m->blocks || !m->inv_freq) {
        hd_conformer_free(m);
        hd_error_set(err, HD_ERR_NOMEM, "conformer: out of memory");
        return NULL;
    }
    hd_nn_rope_freqs(c.rope_theta, c.head_dim, m->inv_freq);
    loader L = {.w = w, .err = err, .st = HD_OK};
    hd_weights_load3(&L, &m->in_w, HD_TYPES_ANY, 2, c.n_embd, (int64_t)c.stack * c.n_mel, 0, "enc.in.weight", 0);
    hd_weights_load3(&L, &m->in_b, T_VEC, 1, c.n_embd, 0, 0, "enc.in.bias", 0);
    for (int l = 0; l < c.n_layer && L.st == HD_OK; l++) get_block(&L, &m->blocks[l], &c, l);
    if (L.st) {
        hd_conformer_free(m);
        return NULL;
    }
    return m;
}

hd_conformer *hd_conformer_load(const char *path, hd_error *err) {
    hd_weights *w = hd_weights_open(path, err);
    if (!w) return NULL;
    hd_conformer *m = hd_conformer_from_weights(w, NULL, err);
    if (!m) {
        hd_weights_close(w);
        return NULL;
    }
    m->owned = w;
    return m;
}

void hd_conformer_free(hd_conformer *m) {
    if (!m) return;
    hd_arena_free(m->arena);
    free(m->blocks), free(m->inv_freq), free(m->pos);
    hd_weights_close(m->owned);
    free(m);
}

const hd_conformer_config *hd_conformer_config_of(const hd_conformer *m) { return &m->c; }

/* ---- forward: one function per box of the paper's Figure 1 ---------------- */

static hd_status alloc_act(hd_arena *a, hd_tensor *t, int64_t ne0, int64_t ne1, hd_error *err) {
    const int64_t ne[2] = {ne0, ne1};
    *t = hd_arena_tensor(a, HD_TYPE_F32, 2, ne);
    if (!t->data)
        return hd_error_set(err, HD_ERR_NOMEM, "conformer: activation arena exhausted (%lld x %lld floats)",
                            (long long)ne0, (long long)ne1);
    return HD_OK;
}

/* x = x + ½ · FFN(x),  FFN = Linear(Swish(Linear(LayerNorm(x)))) */
static hd_status feed_forward_module(hd_exec *ex, hd_arena *a, hd_tensor *x, const ff_w *f, hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    hd_tensor h, y;
    hd_status st;
    if ((st = alloc_act(a, &h, x->ne[0], x->ne[1], err)) || (st = alloc_act(a, &y, x->ne[0], x->ne[1], err)) ||
        (st = hd_nn_norm(ex, &h, x, &f->norm, err)) || (st = hd_nn_mlp(ex, a, &y, &f->mlp, &h, err)) ||
        (st = hd_op_scale(ex, &y, &y, 0.5f, err)) || (st = hd_op_add(ex, x, x, &y, err)))
        goto out;
out:
    hd_arena_reset(a, mark);
    return st;
}

/* x = x + MHSA(LayerNorm(x)) with rotary positions on q and k */
static hd_status mhsa_module(hd_exec *ex, hd_arena *a, hd_tensor *x, const block_w *b, const hd_nn_attn_ctx *rope,
                             hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    hd_tensor h, y;
    hd_status st;
    if ((st = alloc_act(a, &h, x->ne[0], x->ne[1], err)) || (st = alloc_act(a, &y, x->ne[0], x->ne[1], err)) ||
        (st = hd_nn_norm(ex, &h, x, &b->attn_norm, err)) || (st = hd_nn_attention(ex, a, &y, &b->attn, &h, rope, err)) ||
        (st = hd_op_add(ex, x, x, &y, err)))
        goto out;
out:
    hd_arena_reset(a, mark);
    return st;
}

/* x = x + PointwiseConv(Swish(BatchNorm(DepthwiseConv(GLU(PointwiseConv(LayerNorm(x))))))) */
static hd_status convolution_module(hd_exec *ex, hd_arena *a, hd_tensor *x, const hd_nn_conv_w *w, hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    hd_tensor y;
    hd_status st;
    if (!(st = alloc_act(a, &y, x->ne[0], x->ne[1], err)) && !(st = hd_nn_conv_module(ex, a, &y, w, x, err)))
        st = hd_op_add(ex, x, x, &y, err);
    hd_arena_reset(a, mark);
    return st;
}

/* One Conformer block (macaron FFN, MHSA, conv, macaron FFN, LayerNorm), in place. */
static hd_status conformer_block(hd_exec *ex, hd_arena *a, hd_tensor *x, const block_w *b,
                                 const hd_conformer_config *c, const hd_nn_attn_ctx *rope, hd_error *err) {
    hd_status st;
    if ((st = feed_forward_module(ex, a, x, &b->ff1, err)) || (st = mhsa_module(ex, a, x, b, rope, err)) ||
        (st = convolution_module(ex, a, x, &b->conv, err)) ||
        (st = feed_forward_module(ex, a, x, &b->ff2, err)))
        return st;
    return hd_nn_norm(ex, x, x, &b->final_norm, err);
}

/* Arena bytes for T frames: the largest module's temporaries. */
static size_t arena_bytes(const hd_conformer *m, int64_t T) {
    const hd_conformer_config *c = &m->c;
    const int64_t D = c->n_embd;
    const size_t dt = hd_nn_f32_bytes(D * T);
    const size_t ff = 2 * dt + hd_nn_f32_bytes((int64_t)c->n_ff * T);
    size_t at = 2 * dt;
    if (c->n_layer > 0) at += hd_nn_attention_scratch_bytes(&m->blocks[0].attn, T);
    size_t cv = dt;
    if (c->n_layer > 0) cv += hd_nn_conv_module_scratch_bytes(&m->blocks[0].conv, T);
    size_t need = ff > at ? ff : at;
    if (cv > need) need = cv;
    return need + 64 * 16;
}

static hd_status reserve(hd_conformer *m, int64_t T, hd_error *err) {
    hd_status st = hd_nn_positions(&m->pos, &m->pos_cap, T, "conformer", err);
    if (st) return st;
    if (T > m->arena_tokens) {
        hd_arena *a = hd_arena_create(arena_bytes(m, T), err);
        if (!a) return err ? err->code : HD_ERR_NOMEM;
        hd_arena_free(m->arena);
        m->arena = a, m->arena_tokens = T;
    }
    return HD_OK;
}

hd_status hd_conformer_encode(hd_conformer *m, hd_exec *ex, const float *mel, int64_t n_frames, float *out,
                              hd_error *err) {
    const hd_conformer_config *c = &m->c;
    if (n_frames < 0 || n_frames > (INT64_C(1) << 31))
        return hd_error_set(err, HD_ERR_ARG, "conformer: %lld mel frames out of range", (long long)n_frames);
    const int64_t T = hd_conformer_n_out(c, n_frames);
    if (T == 0) return HD_OK;
    if (!mel || !out) return hd_error_set(err, HD_ERR_ARG, "conformer: no input or output buffer");
    hd_status st = reserve(m, T, err);
    if (st) return st;
    /* stride-4 stacking is a view: 4 consecutive frames of n_mel are one row of 4·n_mel */
    hd_tensor stacked = hd_tensor_2d(HD_TYPE_F32, (int64_t)c->stack * c->n_mel, T, (void *)mel);
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, c->n_embd, T, out);   /* {D, T}: the residual stream lives in out */
    if ((st = hd_op_linear(ex, &x, &m->in_w, &stacked, &m->in_b, err))) return st;
    const hd_nn_attn_ctx rope = {
        .pos = m->pos, .inv_freq = m->inv_freq, .n_rot = c->head_dim, .rope_mode = HD_ROPE_INTERLEAVED,
    };
    hd_arena_reset(m->arena, 0);
    for (int l = 0; l < c->n_layer; l++)
        if ((st = conformer_block(ex, m->arena, &x, &m->blocks[l], c, &rope, err))) return st;
    return HD_OK;
}
