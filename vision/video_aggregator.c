/* vision/video_aggregator.c — the perceiver-resampler temporal aggregator
 * (see video_aggregator.h), on the shared blocks of core/nn.h. */
#include "video_aggregator.h"

#include "core/arena.h"
#include "core/nn.h"
#include "core/ops.h"
#include "core/quant.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------- */

static const char *const k_presets[] = {"tiny", "paper-8b", NULL};

const char *const *hd_vagg_preset_names(void) { return k_presets; }

bool hd_vagg_preset(const char *name, hd_vagg_config *c) {
    if (!name || !c) return false;
    if (strcmp(name, "tiny") == 0) {
        *c = (hd_vagg_config){.n_in = 64, .n_embd = 32, .n_out = 64, .n_layer = 2, .n_head = 2, .head_dim = 16,
                              .n_ff = 64, .n_latent = 8, .n_group = 4, .norm_eps = 1e-5f};
        return true;
    }
    if (strcmp(name, "paper-8b") == 0) {
        *c = (hd_vagg_config){.n_in = 4096, .n_embd = 1280, .n_out = 4096, .n_layer = 6, .n_head = 16,
                              .head_dim = 80, .n_ff = 5120, .n_latent = 64, .n_group = 32, .norm_eps = 1e-5f};
        return true;
    }
    return false;
}

hd_status hd_vagg_config_check(const hd_vagg_config *c, hd_error *err) {
#define BAD(cond, what)                                                                                               \
    if (cond) return hd_error_set(err, HD_ERR_ARG, "video aggregator: %s", what)
    BAD(c->n_in <= 0 || c->n_in > 65536, "input width out of range (1..65536)");
    BAD(c->n_embd <= 0 || c->n_embd > 65536, "width out of range (1..65536)");
    BAD(c->n_out <= 0 || c->n_out > 65536, "output width out of range (1..65536)");
    BAD(c->n_layer < 0 || c->n_layer > 256, "layer count out of range (0..256)");
    BAD(c->n_head <= 0 || c->n_head > 1024, "head count out of range (1..1024)");
    BAD(c->head_dim <= 0 || c->head_dim > 1024, "head dim out of range (1..1024)");
    BAD(c->n_ff <= 0 || c->n_ff > 262144, "feed-forward width out of range");
    BAD(c->n_latent <= 0 || c->n_latent > 65536, "latent count out of range (1..65536)");
    BAD(c->n_group <= 0 || c->n_group > 4096, "group size out of range (1..4096)");
    BAD(!(c->norm_eps > 0) || !(c->norm_eps < 1), "LayerNorm epsilon out of range");
#undef BAD
    return HD_OK;
}

static const struct {
    const char *key;
    size_t off;
} k_u32_keys[] = {
    {"video_aggregator.input_length", offsetof(hd_vagg_config, n_in)},
    {"video_aggregator.embedding_length", offsetof(hd_vagg_config, n_embd)},
    {"video_aggregator.output_length", offsetof(hd_vagg_config, n_out)},
    {"video_aggregator.block_count", offsetof(hd_vagg_config, n_layer)},
    {"video_aggregator.attention.head_count", offsetof(hd_vagg_config, n_head)},
    {"video_aggregator.attention.key_length", offsetof(hd_vagg_config, head_dim)},
    {"video_aggregator.feed_forward_length", offsetof(hd_vagg_config, n_ff)},
    {"video_aggregator.latent_count", offsetof(hd_vagg_config, n_latent)},
    {"video_aggregator.group_frames", offsetof(hd_vagg_config, n_group)},
};
#define N_U32_KEYS (sizeof k_u32_keys / sizeof k_u32_keys[0])
#define EPS_KEY "video_aggregator.attention.layer_norm_epsilon"

hd_status hd_vagg_config_from_gguf(const hd_gguf *g, hd_vagg_config *c, hd_error *err) {
    const char *file = hd_gguf_name(g);
    hd_vagg_config r = {.norm_eps = 1e-5f};
    for (size_t i = 0; i < N_U32_KEYS; i++) {
        uint32_t v;
        if (!hd_gguf_get_u32(g, k_u32_keys[i].key, &v))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not a u32 (not a video aggregator?)", file,
                                k_u32_keys[i].key);
        if (v > 1u << 20) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is too large", file, k_u32_keys[i].key, v);
        *(int *)((char *)&r + k_u32_keys[i].off) = (int)v;
    }
    if (hd_gguf_find_key(g, EPS_KEY) >= 0 && !hd_gguf_get_f32(g, EPS_KEY, &r.norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not an f32", file, EPS_KEY);
    hd_error e2 = {0};
    if (hd_vagg_config_check(&r, &e2)) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s", file, e2.msg);
    *c = r;
    return HD_OK;
}

hd_status hd_vagg_config_to_gguf(const hd_vagg_config *c, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_vagg_config_check(c, err);
    if (st) return st;
    bool ok = true;
    for (size_t i = 0; ok && i < N_U32_KEYS; i++)
        ok = hd_gguf_set_u32(w, k_u32_keys[i].key, (uint32_t) * (const int *)((const char *)c + k_u32_keys[i].off)) ==
             HD_OK;
    if (ok) ok = hd_gguf_set_f32(w, EPS_KEY, c->norm_eps) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "video aggregator: out of memory writing metadata");
}

int64_t hd_vagg_n_params(const hd_vagg_config *c) {
    const int64_t W = c->n_embd, A = (int64_t)c->n_head * c->head_dim, F = c->n_ff;
    const int64_t layer = 3 * 2 * W + 3 * A * W + W * A + 2 * F * W;
    return W * c->n_in + W + (int64_t)c->n_group * W + (int64_t)c->n_latent * W + c->n_layer * layer + 2 * W +
           (int64_t)c->n_out * W + c->n_out;
}

/* ---- weights ------------------------------------------------------------- */

typedef struct layer_w {
    hd_nn_norm_w media_norm, latent_norm, ffn_norm;
    hd_nn_attn_w attn;
    hd_nn_mlp_w ffn;
    hd_tensor t[12];   /* storage the structs above point into */
} layer_w;

struct hd_vagg {
    hd_vagg_config c;
    hd_weights *owned;        /* from hd_vagg_load, else NULL            */
    hd_tensor in_w, in_b;     /* ne {D_in, W}, {W}                       */
    hd_tensor time_embd;      /* ne {W, G} F32 (owned copy in tables)     */
    hd_tensor latents;        /* ne {W, n_latent} F32 (owned copy)        */
    float *tables;            /* [(G + n_latent)·W]: both as F32          */
    layer_w *layers;          /* [n_layer]                               */
    hd_tensor out_norm_w, out_norm_b;
    hd_nn_norm_w out_norm;
    hd_tensor out_w, out_b;   /* ne {W, D_out}, {D_out}                  */
    hd_arena *arena;          /* activations for up to arena_media rows  */
    int64_t arena_media;
};

typedef hd_weights_loader loader;

#define T_VEC (1ull << HD_TYPE_F32)

static void get_norm(loader *L, hd_tensor *wt, hd_tensor *bt, hd_nn_norm_w *n, float eps, int64_t W, const char *fmt_w,
                     const char *fmt_b, int l) {
    hd_weights_load(L, wt, T_VEC, W, 0, fmt_w, l);
    hd_weights_load(L, bt, T_VEC, W, 0, fmt_b, l);
    *n = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = wt, .b = bt, .eps = eps};
}

static void get_layer(loader *L, layer_w *b, const hd_vagg_config *c, int l) {
    const int64_t W = c->n_embd, A = (int64_t)c->n_head * c->head_dim, F = c->n_ff;
    hd_tensor *t = b->t;
    get_norm(L, &t[0], &t[1], &b->media_norm, c->norm_eps, W, "vagg.blk.%d.media_norm.weight",
             "vagg.blk.%d.media_norm.bias", l);
    get_norm(L, &t[2], &t[3], &b->latent_norm, c->norm_eps, W, "vagg.blk.%d.latent_norm.weight",
             "vagg.blk.%d.latent_norm.bias", l);
    hd_weights_load(L, &t[4], HD_TYPES_ANY, A, W, "vagg.blk.%d.attn_q.weight", l);     /* [H·d, W] */
    hd_weights_load(L, &t[5], HD_TYPES_ANY, A, W, "vagg.blk.%d.attn_k.weight", l);
    hd_weights_load(L, &t[6], HD_TYPES_ANY, A, W, "vagg.blk.%d.attn_v.weight", l);
    hd_weights_load(L, &t[7], HD_TYPES_ANY, W, A, "vagg.blk.%d.attn_out.weight", l);   /* [W, H·d] */
    get_norm(L, &t[8], &t[9], &b->ffn_norm, c->norm_eps, W, "vagg.blk.%d.ffn_norm.weight", "vagg.blk.%d.ffn_norm.bias",
             l);
    hd_weights_load(L, &t[10], HD_TYPES_ANY, F, W, "vagg.blk.%d.ffn_up.weight", l);    /* [F, W] */
    hd_weights_load(L, &t[11], HD_TYPES_ANY, W, F, "vagg.blk.%d.ffn_down.weight", l);  /* [W, F] */
    b->attn = (hd_nn_attn_w){.wq = &t[4], .wk = &t[5], .wv = &t[6], .wo = &t[7], .n_head = c->n_head,
                             .n_kv_head = c->n_head, .head_dim = c->head_dim};
    b->ffn = (hd_nn_mlp_w){.up = &t[10], .down = &t[11], .act = HD_NN_ACT_GELU_ERF};
}

hd_vagg *hd_vagg_from_weights(const hd_weights *w, hd_error *err) {
    const hd_gguf *g = hd_weights_gguf(w);
    if (!g) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: a video aggregator is stored in GGUF (no metadata found)",
                     hd_weights_name(w));
        return NULL;
    }
    hd_vagg_config c;
    if (hd_vagg_config_from_gguf(g, &c, err)) return NULL;
    hd_vagg *a = calloc(1, sizeof *a);
    if (a) a->layers = calloc((size_t)(c.n_layer ? c.n_layer : 1), sizeof *a->layers);
    if (!a || !a->layers) {
        hd_vagg_free(a);
        hd_error_set(err, HD_ERR_NOMEM, "video aggregator: out of memory");
        return NULL;
    }
    a->c = c;
    const int64_t W = c.n_embd;
    loader L = {.w = w, .err = err, .st = HD_OK};
    hd_weights_load(&L, &a->in_w, HD_TYPES_ANY, W, c.n_in, "vagg.in.weight", 0);
    hd_weights_load(&L, &a->in_b, T_VEC, W, 0, "vagg.in.bias", 0);
    /* time embeddings and latents are read as rows of values: any stored type, kept as F32 */
    hd_tensor te, lat;
    hd_weights_load(&L, &te, HD_TYPES_ANY, c.n_group, W, "vagg.time_embd", 0);
    hd_weights_load(&L, &lat, HD_TYPES_ANY, c.n_latent, W, "vagg.latents", 0);
    if (L.st == HD_OK) {
        a->tables = malloc((size_t)(c.n_group + c.n_latent) * (size_t)W * sizeof(float));
        if (!a->tables) {
            L.st = hd_error_set(err, HD_ERR_NOMEM, "video aggregator: out of memory");
        } else {
            float *lat_f = a->tables + (size_t)c.n_group * W;
            hd_dequantize_row(te.type, te.data, a->tables, (int64_t)c.n_group * W);
            hd_dequantize_row(lat.type, lat.data, lat_f, (int64_t)c.n_latent * W);
            a->time_embd = hd_tensor_2d(HD_TYPE_F32, W, c.n_group, a->tables);
            a->latents = hd_tensor_2d(HD_TYPE_F32, W, c.n_latent, lat_f);
        }
    }
    for (int l = 0; l < c.n_layer && L.st == HD_OK; l++) get_layer(&L, &a->layers[l], &c, l);
    get_norm(&L, &a->out_norm_w, &a->out_norm_b, &a->out_norm, c.norm_eps, W, "vagg.out_norm.weight",
             "vagg.out_norm.bias", 0);
    hd_weights_load(&L, &a->out_w, HD_TYPES_ANY, c.n_out, W, "vagg.out.weight", 0);
    hd_weights_load(&L, &a->out_b, T_VEC, c.n_out, 0, "vagg.out.bias", 0);
    if (L.st) {
        hd_vagg_free(a);
        return NULL;
    }
    return a;
}

hd_vagg *hd_vagg_load(const char *path, hd_error *err) {
    hd_weights *w = hd_weights_open(path, err);
    if (!w) return NULL;
    hd_vagg *a = hd_vagg_from_weights(w, err);
    if (!a) {
        hd_weights_close(w);
        return NULL;
    }
    a->owned = w;
    return a;
}

void hd_vagg_free(hd_vagg *a) {
    if (!a) return;
    hd_arena_free(a->arena);
    free(a->layers);
    free(a->tables);
    hd_weights_close(a->owned);
    free(a);
}

const hd_vagg_config *hd_vagg_config_of(const hd_vagg *a) { return &a->c; }

/* ---- forward ------------------------------------------------------------- */

static hd_status alloc_act(hd_arena *ar, hd_tensor *t, int64_t ne0, int64_t ne1, hd_error *err) {
    const int64_t ne[2] = {ne0, ne1};
    *t = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne);
    if (!t->data)
        return hd_error_set(err, HD_ERR_NOMEM, "video aggregator: activation arena exhausted (%lld x %lld floats)",
                            (long long)ne0, (long long)ne1);
    return HD_OK;
}

/* Arena bytes for M media rows: media tokens, keys/values input, mask,
 * latents and the largest block's scratch. */
static size_t arena_bytes(const hd_vagg *a, int64_t M) {
    const hd_vagg_config *c = &a->c;
    const int64_t W = c->n_embd, Z = c->n_latent, T = M + Z;
    size_t need = hd_nn_f32_bytes(W * M) + hd_nn_f32_bytes(W * T) + hd_nn_f32_bytes(T * Z) + 3 * hd_nn_f32_bytes(W * Z);
    size_t blk = 0;
    if (c->n_layer > 0) {
        const size_t at = hd_nn_attention_scratch_bytes(&a->layers[0].attn, T);
        const size_t ff = hd_nn_mlp_scratch_bytes(&a->layers[0].ffn, Z);
        blk = at > ff ? at : ff;
    }
    return need + blk + 64 * 16;
}

/* One perceiver layer (Flamingo's PerceiverAttention + FeedForward):
 *   q = LN_z(z); kv = [LN_m(M); q]; z += Attn(q, kv); z += FFN(LN_f(z))
 * kv rows [0, M) are written by this function, rows [M, M+Z) too. */
static hd_status perceiver_layer(hd_exec *ex, hd_arena *ar, hd_tensor *z, const hd_tensor *media, hd_tensor *kv,
                                 const hd_tensor *mask, const layer_w *b, hd_error *err) {
    const int64_t W = z->ne[0], Z = z->ne[1], M = media->ne[1];
    const size_t mark = hd_arena_mark(ar);
    hd_tensor kv_media = hd_tensor_2d(HD_TYPE_F32, W, M, kv->data);
    hd_tensor kv_lat = hd_tensor_2d(HD_TYPE_F32, W, Z, (float *)kv->data + W * M);
    hd_tensor y, h;
    hd_status st;
    const hd_nn_attn_ctx ctx = {.kv_input = kv, .mask = mask};
    if ((st = hd_nn_norm(ex, &kv_media, media, &b->media_norm, err)) ||
        (st = hd_nn_norm(ex, &kv_lat, z, &b->latent_norm, err)) || (st = alloc_act(ar, &y, W, Z, err)) ||
        (st = hd_nn_attention(ex, ar, &y, &b->attn, &kv_lat, &ctx, err)) || (st = hd_op_add(ex, z, z, &y, err)) ||
        (st = alloc_act(ar, &h, W, Z, err)) || (st = hd_nn_norm(ex, &h, z, &b->ffn_norm, err)) ||
        (st = hd_nn_mlp(ex, ar, &y, &b->ffn, &h, err)) || (st = hd_op_add(ex, z, z, &y, err))) {
        hd_arena_reset(ar, mark);
        return st;
    }
    hd_arena_reset(ar, mark);
    return HD_OK;
}

hd_status hd_vagg_merge(hd_vagg *a, hd_exec *ex, const float *frames, int g, int64_t n_tok, const int64_t *n_valid,
                        float *out, hd_error *err) {
    const hd_vagg_config *c = &a->c;
    if (g < 1 || g > c->n_group)
        return hd_error_set(err, HD_ERR_ARG, "video aggregator: %d frames in a group (1..%d)", g, c->n_group);
    if (n_tok < 1 || n_tok > (INT64_C(1) << 24))
        return hd_error_set(err, HD_ERR_ARG, "video aggregator: %lld tokens per frame out of range", (long long)n_tok);
    if (!frames || !out) return hd_error_set(err, HD_ERR_ARG, "video aggregator: no input or output buffer");
    for (int f = 0; n_valid && f < g; f++)
        if (n_valid[f] < 1 || n_valid[f] > n_tok)
            return hd_error_set(err, HD_ERR_ARG, "video aggregator: frame %d has %lld valid rows of %lld", f,
                                (long long)n_valid[f], (long long)n_tok);
    const int64_t W = c->n_embd, Z = c->n_latent, M = (int64_t)g * n_tok, T = M + Z;
    if (M > a->arena_media) {
        hd_arena *ar = hd_arena_create(arena_bytes(a, M), err);
        if (!ar) return err ? err->code : HD_ERR_NOMEM;
        hd_arena_free(a->arena);
        a->arena = ar, a->arena_media = M;
    }
    hd_arena *ar = a->arena;
    hd_arena_reset(ar, 0);
    hd_tensor media, kv, mask, z, zn;
    hd_status st;
    if ((st = alloc_act(ar, &media, W, M, err)) || (st = alloc_act(ar, &kv, W, T, err)) ||
        (st = alloc_act(ar, &mask, T, Z, err)) || (st = alloc_act(ar, &z, W, Z, err)) ||
        (st = alloc_act(ar, &zn, W, Z, err)))
        return st;

    /* media tokens: m_f = x_f·W_inᵀ + b_in + T[f] */
    const hd_tensor x = hd_tensor_2d(HD_TYPE_F32, c->n_in, M, (void *)frames);
    if ((st = hd_op_linear(ex, &media, &a->in_w, &x, &a->in_b, err))) return st;
    for (int f = 0; f < g; f++) {
        hd_tensor mf = hd_tensor_2d(HD_TYPE_F32, W, n_tok, (float *)media.data + (size_t)f * n_tok * W);
        hd_tensor tf = hd_tensor_2d(HD_TYPE_F32, W, 1, (float *)a->time_embd.data + (size_t)f * W);
        if ((st = hd_op_add(ex, &mf, &mf, &tf, err))) return st;   /* broadcast over the frame's rows */
    }

    /* keys of padding tiles are masked; the latents' own keys always count */
    float *mk = mask.data;
    for (int64_t key = 0; key < T; key++) {
        float v = 0.0f;
        if (key < M && n_valid && key % n_tok >= n_valid[key / n_tok]) v = -INFINITY;
        mk[key] = v;
    }
    for (int64_t q = 1; q < Z; q++) memcpy(mk + q * T, mk, (size_t)T * sizeof *mk);

    memcpy(z.data, a->latents.data, (size_t)(W * Z) * sizeof(float));
    for (int l = 0; l < c->n_layer; l++)
        if ((st = perceiver_layer(ex, ar, &z, &media, &kv, &mask, &a->layers[l], err))) return st;
    if ((st = hd_nn_norm(ex, &zn, &z, &a->out_norm, err))) return st;
    hd_tensor y = hd_tensor_2d(HD_TYPE_F32, c->n_out, Z, out);
    return hd_op_linear(ex, &y, &a->out_w, &zn, &a->out_b, err);
}
