/* adapters/qformer.c — Granite Speech's windowed Q-Former projector (see
 * qformer.h for the math, the tensor names and the GGUF keys). */
#include "adapters/qformer.h"

#include "core/arena.h"
#include "core/ops.h"
#include "speech/granite_weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration -------------------------------------------------------- */

void hd_qformer_config_default(hd_qformer_config *c) {
    /* granite-speech-3.3: projector_config of the published config.json */
    *c = (hd_qformer_config){.hidden = 1024, .n_layer = 2, .n_head = 16, .n_ff = 4096, .enc_hidden = 1024,
                             .cross_every = 1, .act = HD_NN_ACT_GELU_ERF, .norm_eps = 1e-12f, .window = 15,
                             .downsample = 5, .n_out = 4096};
}

hd_status hd_qformer_config_check(const hd_qformer_config *c, hd_error *err) {
    const struct { const char *name; int v, hi; } f[] = {
        {"hidden_size", c->hidden, 1 << 16},          {"num_hidden_layers", c->n_layer, 1024},
        {"num_attention_heads", c->n_head, 1024},     {"intermediate_size", c->n_ff, 1 << 20},
        {"encoder_hidden_size", c->enc_hidden, 1 << 16}, {"cross_attention_frequency", c->cross_every, 1024},
        {"window_size", c->window, 1 << 16},          {"downsample_rate", c->downsample, 1 << 16},
        {"text hidden_size", c->n_out, 1 << 18},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < 1 || f[i].v > f[i].hi)
            return hd_error_set(err, HD_ERR_ARG, "q-former: %s = %d outside [1, %d]", f[i].name, f[i].v, f[i].hi);
    if (c->hidden % c->n_head)
        return hd_error_set(err, HD_ERR_ARG, "q-former: hidden_size %d is not a multiple of %d heads", c->hidden,
                            c->n_head);
    if (c->window % c->downsample)
        return hd_error_set(err, HD_ERR_ARG, "q-former: window_size %d is not a multiple of downsample_rate %d",
                            c->window, c->downsample);
    if (c->act != HD_NN_ACT_SILU && c->act != HD_NN_ACT_GELU && c->act != HD_NN_ACT_GELU_ERF)
        return hd_error_set(err, HD_ERR_ARG, "q-former: unknown activation %d", (int)c->act);
    if (!(c->norm_eps > 0 && c->norm_eps < 1)) return hd_error_set(err, HD_ERR_ARG, "q-former: layer_norm_eps must lie in (0, 1)");
    return HD_OK;
}

static bool act_from_name(const char *s, hd_nn_act *a) {
    if (strcmp(s, "gelu") == 0) *a = HD_NN_ACT_GELU_ERF;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0) *a = HD_NN_ACT_GELU;
    else if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0) *a = HD_NN_ACT_SILU;
    else return false;
    return true;
}

static const char *act_name(hd_nn_act a) {
    return a == HD_NN_ACT_GELU ? "gelu_pytorch_tanh" : a == HD_NN_ACT_SILU ? "silu" : "gelu";
}

hd_status hd_qformer_config_from_hf_json(hd_qformer_config *out, const char *json, size_t len, const char *file,
                                         hd_error *err) {
    cJSON *root = hd_gw_json_parse(json, len, file, err);
    if (!root) return err ? err->code : HD_ERR_FORMAT;
    hd_status st = HD_OK;
    /* Blip2QFormerConfig defaults for what projector_config leaves out */
    hd_qformer_config c = {.hidden = 768, .n_layer = 12, .n_head = 12, .n_ff = 3072, .enc_hidden = 1408,
                           .cross_every = 2, .act = HD_NN_ACT_GELU_ERF, .norm_eps = 1e-12f, .window = 15,
                           .downsample = 5, .n_out = 4096};
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "projector_config");
    if (p && !cJSON_IsNull(p)) {
        if (!cJSON_IsObject(p)) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: projector_config is not an object", file);
            goto out;
        }
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(p, "model_type");
        if (mt && !(cJSON_IsString(mt) && strcmp(mt->valuestring, "blip_2_qformer") == 0)) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: projector_config.model_type is not \"blip_2_qformer\"", file);
            goto out;
        }
        const cJSON *pe = cJSON_GetObjectItemCaseSensitive(p, "position_embedding_type");
        if (pe && !cJSON_IsNull(pe) && !(cJSON_IsString(pe) && strcmp(pe->valuestring, "absolute") == 0)) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: projector_config.position_embedding_type is not \"absolute\"",
                              file);
            goto out;
        }
        const struct { const char *key; int *v; } keys[] = {
            {"hidden_size", &c.hidden},           {"num_hidden_layers", &c.n_layer},
            {"num_attention_heads", &c.n_head},   {"intermediate_size", &c.n_ff},
            {"encoder_hidden_size", &c.enc_hidden}, {"cross_attention_frequency", &c.cross_every},
        };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !st; i++)
            st = hd_gw_json_int(p, keys[i].key, 1, 1 << 20, keys[i].v, file, err);
        if (!st) st = hd_gw_json_float(p, "layer_norm_eps", &c.norm_eps, file, err);
        if (st) goto out;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "hidden_act");
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && act_from_name(a->valuestring, &c.act))) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: projector_config.hidden_act is not gelu, gelu_new, "
                              "gelu_pytorch_tanh or silu", file);
            goto out;
        }
    }
    if ((st = hd_gw_json_int(root, "window_size", 1, 1 << 16, &c.window, file, err)) ||
        (st = hd_gw_json_int(root, "downsample_rate", 1, 1 << 16, &c.downsample, file, err)))
        goto out;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (t && cJSON_IsObject(t) && (st = hd_gw_json_int(t, "hidden_size", 1, 1 << 18, &c.n_out, file, err))) goto out;
    hd_error e2 = {0};
    if (hd_qformer_config_check(&c, &e2)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: %s", file, e2.msg);
        goto out;
    }
    *out = c;
out:
    cJSON_Delete(root);
    return st;
}

#define KEY(k) "granite_speech.projector." k
static const struct { const char *key; size_t off; } k_u32[] = {
    {KEY("embedding_length"), offsetof(hd_qformer_config, hidden)},
    {KEY("block_count"), offsetof(hd_qformer_config, n_layer)},
    {KEY("attention.head_count"), offsetof(hd_qformer_config, n_head)},
    {KEY("feed_forward_length"), offsetof(hd_qformer_config, n_ff)},
    {KEY("encoder_embedding_length"), offsetof(hd_qformer_config, enc_hidden)},
    {KEY("cross_attention_frequency"), offsetof(hd_qformer_config, cross_every)},
    {KEY("window_size"), offsetof(hd_qformer_config, window)},
    {KEY("downsample_rate"), offsetof(hd_qformer_config, downsample)},
    {KEY("output_length"), offsetof(hd_qformer_config, n_out)},
};
#define KEY_ACT KEY("hidden_act")
#define KEY_EPS KEY("layer_norm_epsilon")

hd_status hd_qformer_config_from_gguf(const hd_gguf *g, hd_qformer_config *out, hd_error *err) {
    const char *file = hd_gguf_name(g);
    hd_qformer_config c;
    hd_qformer_config_default(&c);
    for (size_t i = 0; i < sizeof k_u32 / sizeof k_u32[0]; i++) {
        uint32_t v;
        if (!hd_gguf_get_u32(g, k_u32[i].key, &v))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not a u32", file, k_u32[i].key);
        if (v > 1u << 20) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is too large", file, k_u32[i].key, v);
        *(int *)((char *)&c + k_u32[i].off) = (int)v;
    }
    if (hd_gguf_find_key(g, KEY_EPS) >= 0 && !hd_gguf_get_f32(g, KEY_EPS, &c.norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not an f32", file, KEY_EPS);
    if (hd_gguf_find_key(g, KEY_ACT) >= 0) {
        const char *s;
        size_t n;
        char buf[32];
        if (!hd_gguf_get_str(g, KEY_ACT, &s, &n) || n >= sizeof buf)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not a short string", file, KEY_ACT);
        memcpy(buf, s, n), buf[n] = 0;
        if (!act_from_name(buf, &c.act))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = \"%s\" is no activation herd knows", file, KEY_ACT, buf);
    }
    hd_error e2 = {0};
    if (hd_qformer_config_check(&c, &e2)) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s", file, e2.msg);
    *out = c;
    return HD_OK;
}

hd_status hd_qformer_config_to_gguf(const hd_qformer_config *c, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_qformer_config_check(c, err);
    if (st) return st;
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof k_u32 / sizeof k_u32[0]; i++)
        ok = hd_gguf_set_u32(w, k_u32[i].key, (uint32_t) * (const int *)((const char *)c + k_u32[i].off)) == HD_OK;
    ok = ok && hd_gguf_set_str(w, KEY_ACT, act_name(c->act)) == HD_OK;
    ok = ok && hd_gguf_set_f32(w, KEY_EPS, c->norm_eps) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "q-former: out of memory writing metadata");
}
#undef KEY

int hd_qformer_n_query(const hd_qformer_config *c) { return c->window / c->downsample; }

int64_t hd_qformer_n_rows(const hd_qformer_config *c, int64_t n_frames) {
    if (n_frames <= 0) return 0;
    return (n_frames + c->window - 1) / c->window * hd_qformer_n_query(c);
}

int64_t hd_qformer_n_params(const hd_qformer_config *c) {
    const int64_t D = c->hidden, E = c->enc_hidden, F = c->n_ff, Q = hd_qformer_n_query(c);
    const int64_t self = 4 * (D * D + D) + 2 * D;
    const int64_t cross = 2 * (D * D + D) + 2 * (E * D + D) + 2 * D;
    const int64_t ffn = F * D + F + D * F + D + 2 * D;
    int64_t n = Q * D + 2 * D + (int64_t)c->n_out * D + c->n_out;
    for (int l = 0; l < c->n_layer; l++) n += self + ffn + (l % c->cross_every == 0 ? cross : 0);
    return n;
}

/* ---- weights ---------------------------------------------------------------- */

typedef struct block_w {            /* one BERT-style attention block with its output LayerNorm */
    hd_nn_attn_w attn;              /* q [Dq, Dq], k/v [Dq, Dq or D_enc], o [Dq, Dq], all + b */
    hd_nn_norm_w norm;              /* LayerNorm [Dq] after the residual add                 */
    hd_tensor t[10];
} block_w;

typedef struct layer_w {
    block_w self;
    block_w cross;
    bool has_cross;
    hd_nn_mlp_w ffn;                /* intermediate_query [F, Dq] + b, act, output_query [Dq, F] + b */
    hd_nn_norm_w ffn_norm;          /* output_query.LayerNorm [Dq]                          */
    hd_tensor t[6];
} layer_w;

struct hd_qformer {
    hd_qformer_config c;
    hd_gw gw;
    float *emb;                     /* LayerNorm(query): ne {Dq, Q}, input-independent      */
    layer_w *layers;
    hd_tensor out_w, out_b;         /* linear ne {Dq, D_lm}, {D_lm}                          */
    hd_arena *arena;
    int64_t arena_windows;
};

static void get_block(hd_gw *g, block_w *b, const hd_qformer_config *c, const char *kind, int kv_width, int l) {
    const int64_t D = c->hidden;
    char f[160];
    static const char *const proj[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "qformer.encoder.layer.%%d.%s.attention.%s.weight", kind, proj[i]);
        hd_gw_mat(g, &b->t[2 * i], 2, D, i ? kv_width : D, 0, f, l);
        snprintf(f, sizeof f, "qformer.encoder.layer.%%d.%s.attention.%s.bias", kind, proj[i]);
        hd_gw_f32(g, &b->t[2 * i + 1], 1, D, 0, 0, f, l);
    }
    snprintf(f, sizeof f, "qformer.encoder.layer.%%d.%s.output.dense.weight", kind);
    hd_gw_mat(g, &b->t[6], 2, D, D, 0, f, l);
    snprintf(f, sizeof f, "qformer.encoder.layer.%%d.%s.output.dense.bias", kind);
    hd_gw_f32(g, &b->t[7], 1, D, 0, 0, f, l);
    snprintf(f, sizeof f, "qformer.encoder.layer.%%d.%s.output.LayerNorm.weight", kind);
    hd_gw_f32(g, &b->t[8], 1, D, 0, 0, f, l);
    snprintf(f, sizeof f, "qformer.encoder.layer.%%d.%s.output.LayerNorm.bias", kind);
    hd_gw_f32(g, &b->t[9], 1, D, 0, 0, f, l);
    b->attn = (hd_nn_attn_w){.wq = &b->t[0], .bq = &b->t[1], .wk = &b->t[2], .bk = &b->t[3], .wv = &b->t[4],
                             .bv = &b->t[5], .wo = &b->t[6], .bo = &b->t[7], .n_head = c->n_head,
                             .n_kv_head = c->n_head, .head_dim = c->hidden / c->n_head};
    b->norm = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = &b->t[8], .b = &b->t[9], .eps = c->norm_eps};
}

static void get_layer(hd_gw *g, layer_w *L, const hd_qformer_config *c, int l) {
    const int64_t D = c->hidden, F = c->n_ff;
    get_block(g, &L->self, c, "attention", c->hidden, l);
    L->has_cross = l % c->cross_every == 0;
    if (L->has_cross) get_block(g, &L->cross, c, "crossattention", c->enc_hidden, l);
    hd_gw_mat(g, &L->t[0], 2, F, D, 0, "qformer.encoder.layer.%d.intermediate_query.dense.weight", l);
    hd_gw_f32(g, &L->t[1], 1, F, 0, 0, "qformer.encoder.layer.%d.intermediate_query.dense.bias", l);
    hd_gw_mat(g, &L->t[2], 2, D, F, 0, "qformer.encoder.layer.%d.output_query.dense.weight", l);
    hd_gw_f32(g, &L->t[3], 1, D, 0, 0, "qformer.encoder.layer.%d.output_query.dense.bias", l);
    hd_gw_f32(g, &L->t[4], 1, D, 0, 0, "qformer.encoder.layer.%d.output_query.LayerNorm.weight", l);
    hd_gw_f32(g, &L->t[5], 1, D, 0, 0, "qformer.encoder.layer.%d.output_query.LayerNorm.bias", l);
    L->ffn = (hd_nn_mlp_w){.up = &L->t[0], .b_up = &L->t[1], .down = &L->t[2], .b_down = &L->t[3], .act = c->act};
    L->ffn_norm = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = &L->t[4], .b = &L->t[5], .eps = c->norm_eps};
}

hd_qformer *hd_qformer_load(const hd_weights *w, const char *prefix, const hd_qformer_config *cfg, hd_error *err) {
    if (!w || !cfg) {
        hd_error_set(err, HD_ERR_ARG, "q-former: no weights or configuration");
        return NULL;
    }
    if (hd_qformer_config_check(cfg, err)) return NULL;
    const int64_t D = cfg->hidden, Q = hd_qformer_n_query(cfg);
    hd_qformer *q = calloc(1, sizeof *q);
    if (q) {
        q->layers = calloc((size_t)cfg->n_layer, sizeof *q->layers);
        q->emb = malloc((size_t)(D * Q) * sizeof *q->emb);
    }
    if (!q || !q->layers || !q->emb) {
        if (q) free(q->layers), free(q->emb);
        free(q);
        hd_error_set(err, HD_ERR_NOMEM, "q-former: out of memory");
        return NULL;
    }
    q->c = *cfg;
    hd_gw_init(&q->gw, w, prefix, err);
    hd_gw *g = &q->gw;
    hd_tensor query, ln_w, ln_b;
    hd_gw_f32(g, &query, 3, 1, Q, D, "query", 0);
    hd_gw_f32(g, &ln_w, 1, D, 0, 0, "qformer.layernorm.weight", 0);
    hd_gw_f32(g, &ln_b, 1, D, 0, 0, "qformer.layernorm.bias", 0);
    for (int l = 0; l < cfg->n_layer && g->st == HD_OK; l++) get_layer(g, &q->layers[l], cfg, l);
    hd_gw_mat(g, &q->out_w, 2, cfg->n_out, D, 0, "linear.weight", 0);
    hd_gw_f32(g, &q->out_b, 1, cfg->n_out, 0, 0, "linear.bias", 0);
    if (g->st == HD_OK) {
        /* the queries' LayerNorm does not depend on the audio: once, here */
        hd_exec ex = {.backend = HD_BACKEND_CPU};
        hd_tensor src = hd_tensor_2d(HD_TYPE_F32, D, Q, query.data), dst = hd_tensor_2d(HD_TYPE_F32, D, Q, q->emb);
        hd_nn_norm_w n = {.kind = HD_NN_NORM_LAYER, .w = &ln_w, .b = &ln_b, .eps = cfg->norm_eps};
        g->st = hd_nn_norm(&ex, &dst, &src, &n, err);
    }
    if (g->st) {
        hd_qformer_free(q);
        return NULL;
    }
    return q;
}

void hd_qformer_free(hd_qformer *q) {
    if (!q) return;
    hd_arena_free(q->arena);
    hd_gw_release(&q->gw);
    free(q->layers), free(q->emb);
    free(q);
}

const hd_qformer_config *hd_qformer_config_of(const hd_qformer *q) { return &q->c; }

/* ---- forward ------------------------------------------------------------------- */

/* Arena bytes for nW windows. */
static size_t arena_bytes(const hd_qformer *q, int64_t nW) {
    const hd_qformer_config *c = &q->c;
    const int64_t S = nW * hd_qformer_n_query(c), T = nW * c->window, D = c->hidden;
    const layer_w *L = &q->layers[0];
    /* padded frames, h, the branch output */
    size_t base = hd_nn_f32_bytes((int64_t)c->enc_hidden * T) + 2 * hd_nn_f32_bytes(D * S);
    size_t a = hd_nn_attention_scratch_bytes(&L->self.attn, S > T ? S : T);
    size_t m = hd_nn_mlp_scratch_bytes(&L->ffn, S);
    return base + (a > m ? a : m) + 64 * 8;
}

static hd_status post_ln(hd_exec *ex, hd_tensor *h, hd_tensor *y, const hd_nn_norm_w *n, hd_error *err) {
    hd_status st = hd_op_add(ex, h, h, y, err);   /* h = LayerNorm(h + y) */
    return st ? st : hd_nn_norm(ex, h, h, n, err);
}

hd_status hd_qformer_forward(hd_qformer *q, hd_exec *ex, const float *frames, int64_t n_frames, float *out,
                             hd_error *err) {
    const hd_qformer_config *c = &q->c;
    if (n_frames < 0 || n_frames > (INT64_C(1) << 31))
        return hd_error_set(err, HD_ERR_ARG, "q-former: %lld frames out of range", (long long)n_frames);
    if (n_frames == 0) return HD_OK;
    if (!frames || !out) return hd_error_set(err, HD_ERR_ARG, "q-former: no input or output buffer");
    const int64_t W = c->window, Q = hd_qformer_n_query(c), nW = (n_frames + W - 1) / W, D = c->hidden;
    const int64_t E = c->enc_hidden, S = nW * Q;
    if (nW > q->arena_windows) {
        hd_arena *a = hd_arena_create(arena_bytes(q, nW), err);
        if (!a) return err ? err->code : HD_ERR_NOMEM;
        hd_arena_free(q->arena);
        q->arena = a, q->arena_windows = nW;
    }
    hd_arena *a = q->arena;
    hd_arena_reset(a, 0);
    const int64_t ne_f[2] = {E, nW * W}, ne_h[2] = {D, S};
    hd_tensor fr = hd_arena_tensor(a, HD_TYPE_F32, 2, ne_f), h = hd_arena_tensor(a, HD_TYPE_F32, 2, ne_h),
              y = hd_arena_tensor(a, HD_TYPE_F32, 2, ne_h);
    if (!fr.data || !h.data || !y.data) return hd_error_set(err, HD_ERR_NOMEM, "q-former: activation arena exhausted");
    /* the last window padded with zero frames (attended to: HF gives no mask) */
    memcpy(fr.data, frames, (size_t)(E * n_frames) * sizeof(float));
    memset((float *)fr.data + E * n_frames, 0, (size_t)(E * (nW * W - n_frames)) * sizeof(float));
    for (int64_t b = 0; b < nW; b++) memcpy((float *)h.data + b * Q * D, q->emb, (size_t)(Q * D) * sizeof(float));
    /* every window's queries see only their own queries / their own W frames */
    const hd_nn_attn_ctx self = {.block = Q}, cross = {.block = Q, .kv_block = W, .kv_input = &fr};
    hd_status st = HD_OK;
    for (int l = 0; l < c->n_layer && !st; l++) {
        const layer_w *L = &q->layers[l];
        if ((st = hd_nn_attention(ex, a, &y, &L->self.attn, &h, &self, err)) ||
            (st = post_ln(ex, &h, &y, &L->self.norm, err)))
            break;
        if (L->has_cross && ((st = hd_nn_attention(ex, a, &y, &L->cross.attn, &h, &cross, err)) ||
                             (st = post_ln(ex, &h, &y, &L->cross.norm, err))))
            break;
        if ((st = hd_nn_mlp(ex, a, &y, &L->ffn, &h, err))) break;
        st = post_ln(ex, &h, &y, &L->ffn_norm, err);
    }
    if (st) return st;
    hd_tensor o = hd_tensor_2d(HD_TYPE_F32, c->n_out, S, out);
    return hd_op_linear(ex, &o, &q->out_w, &h, &q->out_b, err);
}
