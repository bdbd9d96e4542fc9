/* speech/granite_encoder.c — Granite Speech's Conformer CTC encoder (see
 * granite_encoder.h for the math, the tensor names and the GGUF keys). */
#include "speech/granite_encoder.h"

#include "core/arena.h"
#include "core/nn.h"
#include "core/ops.h"
#include "speech/granite_weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration -------------------------------------------------------- */

void hd_granite_encoder_config_default(hd_granite_encoder_config *c) {
    /* GraniteSpeechEncoderConfig.__init__ defaults */
    *c = (hd_granite_encoder_config){
        .input_dim = 160, .n_layer = 10, .hidden = 1024, .ff_mult = 4, .n_head = 8, .head_dim = 128,
        .n_ctc = 42, .context = 200, .max_pos_emb = 512, .conv_kernel = 15, .conv_expansion = 2,
        .norm_eps = 1e-5f, .bn_eps = 1e-5f,
    };
}

hd_status hd_granite_encoder_config_check(const hd_granite_encoder_config *c, hd_error *err) {
    const struct { const char *name; int v, hi; } f[] = {
        {"input_dim", c->input_dim, 1 << 16},   {"num_layers", c->n_layer, 4096},
        {"hidden_dim", c->hidden, 1 << 16},     {"feedforward_mult", c->ff_mult, 64},
        {"num_heads", c->n_head, 1024},         {"dim_head", c->head_dim, 4096},
        {"output_dim", c->n_ctc, 1 << 20},      {"context_size", c->context, 1 << 20},
        {"max_pos_emb", c->max_pos_emb, 1 << 20}, {"conv_kernel_size", c->conv_kernel, 1024},
        {"conv_expansion_factor", c->conv_expansion, 64},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < 1 || f[i].v > f[i].hi)
            return hd_error_set(err, HD_ERR_ARG, "granite encoder: %s = %d outside [1, %d]", f[i].name, f[i].v, f[i].hi);
    if (c->context > c->max_pos_emb)
        return hd_error_set(err, HD_ERR_ARG, "granite encoder: context_size %d exceeds max_pos_emb %d", c->context,
                            c->max_pos_emb);
    if (!(c->norm_eps > 0 && c->norm_eps < 1) || !(c->bn_eps > 0 && c->bn_eps < 1))
        return hd_error_set(err, HD_ERR_ARG, "granite encoder: epsilons must lie in (0, 1)");
    return HD_OK;
}

hd_status hd_granite_encoder_config_from_hf_json(hd_granite_encoder_config *out, const char *json, size_t len,
                                                 const char *file, hd_error *err) {
    cJSON *root = hd_gw_json_parse(json, len, file, err);
    if (!root) return err ? err->code : HD_ERR_FORMAT;
    hd_status st = HD_OK;
    hd_granite_encoder_config c;
    hd_granite_encoder_config_default(&c);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "encoder_config");
    if (cJSON_IsNull(o)) {   /* HF: encoder_config None → the class defaults */
        *out = c;
        goto out;
    }
    if (!o) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        if (cJSON_IsString(mt) && strcmp(mt->valuestring, "granite_speech_encoder") == 0) o = root;
    }
    if (!cJSON_IsObject(o)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: no \"encoder_config\" object (not a granite_speech config)", file);
        goto out;
    }
    const struct { const char *key; int *v; } keys[] = {
        {"input_dim", &c.input_dim},       {"num_layers", &c.n_layer},      {"hidden_dim", &c.hidden},
        {"feedforward_mult", &c.ff_mult},  {"num_heads", &c.n_head},        {"dim_head", &c.head_dim},
        {"output_dim", &c.n_ctc},          {"context_size", &c.context},    {"max_pos_emb", &c.max_pos_emb},
        {"conv_kernel_size", &c.conv_kernel}, {"conv_expansion_factor", &c.conv_expansion},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !st; i++)
        st = hd_gw_json_int(o, keys[i].key, 1, 1 << 20, keys[i].v, file, err);
    if (st) goto out;
    hd_error e2 = {0};
    if (hd_granite_encoder_config_check(&c, &e2)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: encoder_config: %s", file, e2.msg);
        goto out;
    }
    *out = c;
out:
    cJSON_Delete(root);
    return st;
}

#define KEY(k) "granite_speech.encoder." k
static const struct { const char *key; size_t off; } k_u32[] = {
    {KEY("input_dim"), offsetof(hd_granite_encoder_config, input_dim)},
    {KEY("block_count"), offsetof(hd_granite_encoder_config, n_layer)},
    {KEY("embedding_length"), offsetof(hd_granite_encoder_config, hidden)},
    {KEY("feed_forward_mult"), offsetof(hd_granite_encoder_config, ff_mult)},
    {KEY("attention.head_count"), offsetof(hd_granite_encoder_config, n_head)},
    {KEY("attention.key_length"), offsetof(hd_granite_encoder_config, head_dim)},
    {KEY("ctc_vocab_size"), offsetof(hd_granite_encoder_config, n_ctc)},
    {KEY("context_size"), offsetof(hd_granite_encoder_config, context)},
    {KEY("max_pos_emb"), offsetof(hd_granite_encoder_config, max_pos_emb)},
    {KEY("conv_kernel_size"), offsetof(hd_granite_encoder_config, conv_kernel)},
    {KEY("conv_expansion_factor"), offsetof(hd_granite_encoder_config, conv_expansion)},
};
static const struct { const char *key; size_t off; } k_f32[] = {
    {KEY("layer_norm_epsilon"), offsetof(hd_granite_encoder_config, norm_eps)},
    {KEY("batch_norm_epsilon"), offsetof(hd_granite_encoder_config, bn_eps)},
};
#undef KEY

hd_status hd_granite_encoder_config_from_gguf(const hd_gguf *g, hd_granite_encoder_config *out, hd_error *err) {
    const char *file = hd_gguf_name(g);
    hd_granite_encoder_config c;
    hd_granite_encoder_config_default(&c);
    for (size_t i = 0; i < sizeof k_u32 / sizeof k_u32[0]; i++) {
        uint32_t v;
        if (!hd_gguf_get_u32(g, k_u32[i].key, &v))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not a u32", file, k_u32[i].key);
        if (v > 1u << 20) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is too large", file, k_u32[i].key, v);
        *(int *)((char *)&c + k_u32[i].off) = (int)v;
    }
    for (size_t i = 0; i < sizeof k_f32 / sizeof k_f32[0]; i++) {
        if (hd_gguf_find_key(g, k_f32[i].key) < 0) continue;
        if (!hd_gguf_get_f32(g, k_f32[i].key, (float *)((char *)&c + k_f32[i].off)))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not an f32", file, k_f32[i].key);
    }
    hd_error e2 = {0};
    if (hd_granite_encoder_config_check(&c, &e2)) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s", file, e2.msg);
    *out = c;
    return HD_OK;
}

hd_status hd_granite_encoder_config_to_gguf(const hd_granite_encoder_config *c, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_granite_encoder_config_check(c, err);
    if (st) return st;
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof k_u32 / sizeof k_u32[0]; i++)
        ok = hd_gguf_set_u32(w, k_u32[i].key, (uint32_t) * (const int *)((const char *)c + k_u32[i].off)) == HD_OK;
    for (size_t i = 0; ok && i < sizeof k_f32 / sizeof k_f32[0]; i++)
        ok = hd_gguf_set_f32(w, k_f32[i].key, *(const float *)((const char *)c + k_f32[i].off)) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "granite encoder: out of memory writing metadata");
}

int64_t hd_granite_encoder_n_params(const hd_granite_encoder_config *c) {
    const int64_t D = c->hidden, F = (int64_t)c->ff_mult * D, A = (int64_t)c->n_head * c->head_dim;
    const int64_t C = (int64_t)c->conv_expansion * D, K = c->conv_kernel, V = c->n_ctc;
    const int64_t ff = 2 * D + F * D + F + D * F + D;
    const int64_t attn = 2 * D + A * D + 2 * A * D + D * A + D + (2 * (int64_t)c->max_pos_emb + 1) * c->head_dim;
    const int64_t conv = 2 * D + 2 * C * D + 2 * C + C * K + 4 * C + D * C + D;
    const int64_t layer = 2 * ff + attn + conv + 2 * D;
    return (int64_t)c->input_dim * D + D + c->n_layer * layer + V * D + V + D * V + D;
}

int64_t hd_granite_encoder_n_out(const hd_granite_encoder_config *c, int64_t n_frames) {
    (void)c;
    return n_frames > 0 ? n_frames : 0;
}

/* ---- weights ---------------------------------------------------------------- */

typedef struct layer_w {
    hd_nn_norm_w ff_norm[2];        /* ff1/ff2 pre_norm, LayerNorm [D]            */
    hd_nn_mlp_w ff[2];              /* up [F, D] + b, SiLU, down [D, F] + b        */
    hd_nn_norm_w attn_norm;         /* LayerNorm [D]                               */
    hd_nn_attn_w attn;              /* q [H·d, D], k/v rows of to_kv, out [D, H·d] + b */
    hd_tensor rel;                  /* rel_pos_emb ne {d, 2P+1} F32                */
    hd_nn_conv_w conv;              /* E·D channels, kernel K                      */
    hd_nn_norm_w post_norm;         /* LayerNorm [D]                               */
    hd_tensor t[40];                /* storage the structs above point into        */
} layer_w;

struct hd_granite_encoder {
    hd_granite_encoder_config c;
    hd_gw gw;                       /* owns converted copies                       */
    hd_tensor in_w, in_b;           /* ne {input_dim, D}, {D}                      */
    hd_tensor out_w, out_b;         /* CTC head ne {D, V}, {V}                     */
    hd_tensor mid_w, mid_b;         /* out_mid ne {V, D}, {D}                      */
    layer_w *layers;                /* [n_layer]                                   */
    hd_arena *arena;                /* activations, sized for arena_frames         */
    int64_t arena_frames;
};

static void get_norm(hd_gw *g, hd_tensor *wt, hd_tensor *bt, hd_nn_norm_w *n, float eps, int64_t D, const char *fmt,
                     int l) {
    char f[128];
    snprintf(f, sizeof f, "%s.weight", fmt);
    hd_gw_f32(g, wt, 1, D, 0, 0, f, l);
    snprintf(f, sizeof f, "%s.bias", fmt);
    hd_gw_f32(g, bt, 1, D, 0, 0, f, l);
    *n = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = wt, .b = bt, .eps = eps};
}

static void get_ff(hd_gw *g, layer_w *L, int i, const hd_granite_encoder_config *c, int l) {
    const int64_t D = c->hidden, F = (int64_t)c->ff_mult * D;
    hd_tensor *t = &L->t[6 * i];
    const char *which = i ? "ff2" : "ff1";
    char f[96];
    snprintf(f, sizeof f, "layers.%%d.%s.pre_norm", which);
    get_norm(g, &t[0], &t[1], &L->ff_norm[i], c->norm_eps, D, f, l);
    snprintf(f, sizeof f, "layers.%%d.%s.up_proj.weight", which);
    hd_gw_mat(g, &t[2], 2, F, D, 0, f, l);
    snprintf(f, sizeof f, "layers.%%d.%s.up_proj.bias", which);
    hd_gw_f32(g, &t[3], 1, F, 0, 0, f, l);
    snprintf(f, sizeof f, "layers.%%d.%s.down_proj.weight", which);
    hd_gw_mat(g, &t[4], 2, D, F, 0, f, l);
    snprintf(f, sizeof f, "layers.%%d.%s.down_proj.bias", which);
    hd_gw_f32(g, &t[5], 1, D, 0, 0, f, l);
    L->ff[i] = (hd_nn_mlp_w){.up = &t[2], .b_up = &t[3], .down = &t[4], .b_down = &t[5], .act = HD_NN_ACT_SILU};
}

static void get_layer(hd_gw *g, layer_w *L, const hd_granite_encoder_config *c, int l) {
    const int64_t D = c->hidden, A = (int64_t)c->n_head * c->head_dim, C = (int64_t)c->conv_expansion * D;
    const int64_t K = c->conv_kernel;
    get_ff(g, L, 0, c, l);
    get_ff(g, L, 1, c, l);
    hd_tensor *t = &L->t[12];
    get_norm(g, &t[0], &t[1], &L->attn_norm, c->norm_eps, D, "layers.%d.attn.pre_norm", l);
    hd_gw_mat(g, &t[2], 2, A, D, 0, "layers.%d.attn.to_q.weight", l);
    hd_gw_mat(g, &t[3], 2, 2 * A, D, 0, "layers.%d.attn.to_kv.weight", l);
    hd_gw_mat(g, &t[6], 2, D, A, 0, "layers.%d.attn.to_out.weight", l);
    hd_gw_f32(g, &t[7], 1, D, 0, 0, "layers.%d.attn.to_out.bias", l);
    hd_gw_f32(g, &L->rel, 2, 2 * (int64_t)c->max_pos_emb + 1, c->head_dim, 0, "layers.%d.attn.rel_pos_emb.weight", l);
    if (g->st == HD_OK) {
        /* to_kv rows [0, A) are the keys, [A, 2A) the values (chunk(2) of its output) */
        t[4] = t[3], t[5] = t[3];
        t[4].ne[1] = A, t[5].ne[1] = A;
        t[5].data = (char *)t[3].data + (size_t)A * t[3].nb[1];
    }
    L->attn = (hd_nn_attn_w){.wq = &t[2], .wk = &t[4], .wv = &t[5], .wo = &t[6], .bo = &t[7],
                             .n_head = c->n_head, .n_kv_head = c->n_head, .head_dim = c->head_dim};
    t = &L->t[20];
    hd_nn_conv_w *cv = &L->conv;
    get_norm(g, &t[0], &t[1], &cv->norm, c->norm_eps, D, "layers.%d.conv.norm", l);
    hd_gw_mat(g, &t[2], 3, 2 * C, D, 1, "layers.%d.conv.up_conv.weight", l);
    hd_gw_f32(g, &t[3], 1, 2 * C, 0, 0, "layers.%d.conv.up_conv.bias", l);
    hd_gw_f32(g, &t[4], 3, C, 1, K, "layers.%d.conv.depth_conv.conv.weight", l);
    hd_gw_f32(g, &t[5], 1, C, 0, 0, "layers.%d.conv.batch_norm.weight", l);
    hd_gw_f32(g, &t[6], 1, C, 0, 0, "layers.%d.conv.batch_norm.bias", l);
    hd_gw_f32(g, &t[7], 1, C, 0, 0, "layers.%d.conv.batch_norm.running_mean", l);
    hd_gw_f32(g, &t[8], 1, C, 0, 0, "layers.%d.conv.batch_norm.running_var", l);
    hd_gw_mat(g, &t[9], 3, D, C, 1, "layers.%d.conv.down_conv.weight", l);
    hd_gw_f32(g, &t[10], 1, D, 0, 0, "layers.%d.conv.down_conv.bias", l);
    if (g->st == HD_OK) {
        /* pointwise convs [out, in, 1] are linears: drop the kernel dimension (ne[0] = 1) */
        for (int i = 2; i <= 9; i += 7) {
            hd_tensor *p = &t[i];
            *p = (hd_tensor){.type = p->type, .n_dims = 2, .ne = {p->ne[1], p->ne[2], 1, 1},
                             .nb = {p->nb[0], p->nb[2], p->nb[2] * (size_t)p->ne[2], p->nb[2] * (size_t)p->ne[2]},
                             .data = p->data, .name = p->name};
        }
        const float *v = t[8].data;
        for (int64_t i = 0; i < C; i++)
            if (!(v[i] >= 0) || !isfinite(v[i])) {
                g->st = hd_error_set(g->err, HD_ERR_FORMAT, "%s: %slayers.%d.conv.batch_norm.running_var[%lld] = %g is not a variance",
                                     hd_weights_name(g->w), g->prefix, l, (long long)i, (double)v[i]);
                return;
            }
    }
    *cv = (hd_nn_conv_w){.norm = cv->norm, .pw1 = &t[2], .pw1_b = &t[3], .dw = &t[4], .dw_b = NULL,
                         .bn_mean = &t[7], .bn_var = &t[8], .bn_w = &t[5], .bn_b = &t[6], .bn_eps = c->bn_eps,
                         .pw2 = &t[9], .pw2_b = &t[10],
                         /* HF GraniteSpeechConformerDepthWiseConv1d: (K/2, K/2 − (K+1)%2) */
                         .pad_left = (int)(K / 2), .pad_right = (int)(K / 2 - (K + 1) % 2)};
    get_norm(g, &L->t[32], &L->t[33], &L->post_norm, c->norm_eps, D, "layers.%d.post_norm", l);
}

hd_granite_encoder *hd_granite_encoder_load(const hd_weights *w, const char *prefix,
                                            const hd_granite_encoder_config *cfg, hd_error *err) {
    if (!w || !cfg) {
        hd_error_set(err, HD_ERR_ARG, "granite encoder: no weights or configuration");
        return NULL;
    }
    if (hd_granite_encoder_config_check(cfg, err)) return NULL;
    hd_granite_encoder *m = calloc(1, sizeof *m);
    if (m) m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    if (!m || !m->layers) {
        free(m);
        hd_error_set(err, HD_ERR_NOMEM, "granite encoder: out of memory");
        return NULL;
    }
    const hd_granite_encoder_config *c = &m->c;
    m->c = *cfg;
    hd_gw_init(&m->gw, w, prefix, err);
    hd_gw *g = &m->gw;
    const int64_t D = c->hidden, V = c->n_ctc;
    hd_gw_mat(g, &m->in_w, 2, D, c->input_dim, 0, "input_linear.weight", 0);
    hd_gw_f32(g, &m->in_b, 1, D, 0, 0, "input_linear.bias", 0);
    for (int l = 0; l < c->n_layer && g->st == HD_OK; l++) get_layer(g, &m->layers[l], c, l);
    hd_gw_mat(g, &m->out_w, 2, V, D, 0, "out.weight", 0);
    hd_gw_f32(g, &m->out_b, 1, V, 0, 0, "out.bias", 0);
    hd_gw_mat(g, &m->mid_w, 2, D, V, 0, "out_mid.weight", 0);
    hd_gw_f32(g, &m->mid_b, 1, D, 0, 0, "out_mid.bias", 0);
    if (g->st) {
        hd_granite_encoder_free(m);
        return NULL;
    }
    return m;
}

void hd_granite_encoder_free(hd_granite_encoder *m) {
    if (!m) return;
    hd_arena_free(m->arena);
    hd_gw_release(&m->gw);
    free(m->layers);
    free(m);
}

const hd_granite_encoder_config *hd_granite_encoder_config_of(const hd_granite_encoder *m) { return &m->c; }

/* ---- forward ------------------------------------------------------------------- */

static hd_nn_attn_ctx attn_ctx(const hd_granite_encoder *m, const layer_w *L) {
    /* blocks of context_size frames; Shaw distances clamp(i − j, −C, C) + P */
    return (hd_nn_attn_ctx){.block = m->c.context, .rel_pos = &L->rel, .rel_max = m->c.max_pos_emb,
                            .rel_clamp = m->c.context};
}

static hd_status alloc_act(hd_arena *a, hd_tensor *t, int64_t ne0, int64_t ne1, hd_error *err) {
    const int64_t ne[2] = {ne0, ne1};
    *t = hd_arena_tensor(a, HD_TYPE_F32, 2, ne);
    if (!t->data)
        return hd_error_set(err, HD_ERR_NOMEM, "granite encoder: activation arena exhausted (%lld x %lld floats)",
                            (long long)ne0, (long long)ne1);
    return HD_OK;
}

/* x = x + ½ · FF(x),  FF = down(SiLU(up(LayerNorm(x)))) */
static hd_status feed_forward(hd_exec *ex, hd_arena *a, hd_tensor *x, const hd_nn_norm_w *n, const hd_nn_mlp_w *f,
                              hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    hd_tensor h, y;
    hd_status st;
    if ((st = alloc_act(a, &h, x->ne[0], x->ne[1], err)) || (st = alloc_act(a, &y, x->ne[0], x->ne[1], err)) ||
        (st = hd_nn_norm(ex, &h, x, n, err)) || (st = hd_nn_mlp(ex, a, &y, f, &h, err)) ||
        (st = hd_op_scale(ex, &y, &y, 0.5f, err)))
        goto out;
    st = hd_op_add(ex, x, x, &y, err);
out:
    hd_arena_reset(a, mark);
    return st;
}

/* x = x + Attn(LayerNorm(x)): block-local, Shaw relative positions */
static hd_status attention(hd_exec *ex, hd_arena *a, hd_tensor *x, const hd_granite_encoder *m, const layer_w *L,
                           hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    const hd_nn_attn_ctx c = attn_ctx(m, L);
    hd_tensor h, y;
    hd_status st;
    if ((st = alloc_act(a, &h, x->ne[0], x->ne[1], err)) || (st = alloc_act(a, &y, x->ne[0], x->ne[1], err)) ||
        (st = hd_nn_norm(ex, &h, x, &L->attn_norm, err)) || (st = hd_nn_attention(ex, a, &y, &L->attn, &h, &c, err)))
        goto out;
    st = hd_op_add(ex, x, x, &y, err);
out:
    hd_arena_reset(a, mark);
    return st;
}

/* x = x + ConvModule(x) */
static hd_status convolution(hd_exec *ex, hd_arena *a, hd_tensor *x, const layer_w *L, hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    hd_tensor y;
    hd_status st;
    if (!(st = alloc_act(a, &y, x->ne[0], x->ne[1], err)) && !(st = hd_nn_conv_module(ex, a, &y, &L->conv, x, err)))
        st = hd_op_add(ex, x, x, &y, err);
    hd_arena_reset(a, mark);
    return st;
}

/* CTC self-conditioning: x = x + out_mid(softmax(out(x))) */
static hd_status ctc_mid(hd_exec *ex, hd_arena *a, hd_tensor *x, const hd_granite_encoder *m, hd_error *err) {
    const size_t mark = hd_arena_mark(a);
    hd_tensor p, y;
    hd_status st;
    if ((st = hd_nn_linear(ex, a, &p, &m->out_w, &m->out_b, x, err)) || (st = hd_op_softmax(ex, &p, 1.0f, err)) ||
        (st = hd_nn_linear(ex, a, &y, &m->mid_w, &m->mid_b, &p, err)))
        goto out;
    st = hd_op_add(ex, x, x, &y, err);
out:
    hd_arena_reset(a, mark);
    return st;
}

/* Arena bytes for T frames: the largest module's temporaries. */
static size_t arena_bytes(const hd_granite_encoder *m, int64_t T) {
    const hd_granite_encoder_config *c = &m->c;
    const int64_t D = c->hidden;
    const size_t dt = hd_nn_f32_bytes(D * T);
    const layer_w *L = &m->layers[0];
    const hd_nn_attn_ctx ac = attn_ctx(m, L);
    const size_t ff = 2 * dt + hd_nn_mlp_scratch_bytes(&L->ff[0], T);
    const size_t at = 2 * dt + hd_nn_attention_ctx_scratch_bytes(&L->attn, T, &ac);
    const size_t cv = dt + hd_nn_conv_module_scratch_bytes(&L->conv, T);
    const size_t mid = hd_nn_f32_bytes((int64_t)c->n_ctc * T) + dt;
    size_t need = ff > at ? ff : at;
    if (cv > need) need = cv;
    if (mid > need) need = mid;
    return need + 64 * 16;
}

static hd_status reserve(hd_granite_encoder *m, int64_t T, hd_error *err) {
    if (T <= m->arena_frames) return HD_OK;
    hd_arena *a = hd_arena_create(arena_bytes(m, T), err);
    if (!a) return err ? err->code : HD_ERR_NOMEM;
    hd_arena_free(m->arena);
    m->arena = a, m->arena_frames = T;
    return HD_OK;
}

hd_status hd_granite_encoder_encode(hd_granite_encoder *m, hd_exec *ex, const float *feats, int64_t n_frames,
                                    float *out, hd_error *err) {
    const hd_granite_encoder_config *c = &m->c;
    if (n_frames < 0 || n_frames > (INT64_C(1) << 31))
        return hd_error_set(err, HD_ERR_ARG, "granite encoder: %lld frames out of range", (long long)n_frames);
    if (n_frames == 0) return HD_OK;
    if (!feats || !out) return hd_error_set(err, HD_ERR_ARG, "granite encoder: no input or output buffer");
    hd_status st = reserve(m, n_frames, err);
    if (st) return st;
    const hd_tensor in = hd_tensor_2d(HD_TYPE_F32, c->input_dim, n_frames, (void *)feats);
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, c->hidden, n_frames, out);   /* the residual stream lives in out */
    if ((st = hd_op_linear(ex, &x, &m->in_w, &in, &m->in_b, err))) return st;
    hd_arena_reset(m->arena, 0);
    for (int l = 0; l < c->n_layer; l++) {
        const layer_w *L = &m->layers[l];
        if ((st = feed_forward(ex, m->arena, &x, &L->ff_norm[0], &L->ff[0], err)) ||
            (st = attention(ex, m->arena, &x, m, L, err)) || (st = convolution(ex, m->arena, &x, L, err)) ||
            (st = feed_forward(ex, m->arena, &x, &L->ff_norm[1], &L->ff[1], err)) ||
            (st = hd_nn_norm(ex, &x, &x, &L->post_norm, err)))
            return st;
        /* HF counts layers from 1 and conditions after layer num_layers // 2 */
        if (l + 1 == c->n_layer / 2 && (st = ctc_mid(ex, m->arena, &x, m, err))) return st;
    }
    return HD_OK;
}
