/* adapters/speech_adapter.c — the speech adapter (see speech_adapter.h):
 * strided convolution, rotary Llama-style transformer layer(s), linear. */
#include "speech_adapter.h"

#include "core/nn.h"
#include "core/ops.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------- */

bool hd_speech_adapter_preset(const char *name, int n_in, int n_out, hd_speech_adapter_config *c) {
    if (!name || n_in < 1 || n_out < 1) return false;
    hd_speech_adapter_config r = {
        .n_in = n_in, .n_out = n_out, .n_layer = 1, .conv_kernel = 3, .conv_stride = 2, .conv_pad = 1,
        .norm_eps = 1e-5f, .rope_theta = 10000.0f,
    };
    if (strcmp(name, "tiny") == 0) {
        r.n_embd = 96, r.n_ff = 128, r.n_head = 4, r.n_head_kv = 2, r.head_dim = 24;
    } else if (strcmp(name, "paper") == 0) {
        /* SPEC §4 step 4: latent 3072, FFN 4096; 24 heads of 128 (header) */
        r.n_embd = 3072, r.n_ff = 4096, r.n_head = 24, r.n_head_kv = 24, r.head_dim = 128;
    } else {
        return false;
    }
    *c = r;
    return true;
}

hd_status hd_speech_adapter_config_check(const hd_speech_adapter_config *c, hd_error *err) {
#define BAD(cond, ...) \
    if (cond) return hd_error_set(err, HD_ERR_ARG, __VA_ARGS__)
    BAD(c->n_in < 1 || c->n_in > 65536, "speech adapter: input width %d out of 1..65536", c->n_in);
    BAD(c->n_embd < 1 || c->n_embd > 65536, "speech adapter: width %d out of 1..65536", c->n_embd);
    BAD(c->n_ff < 1 || c->n_ff > 262144, "speech adapter: feed-forward width %d out of 1..262144", c->n_ff);
    BAD(c->n_layer < 0 || c->n_layer > 64, "speech adapter: layer count %d out of 0..64", c->n_layer);
    BAD(c->n_head < 1 || c->n_head > 1024, "speech adapter: head count %d out of 1..1024", c->n_head);
    BAD(c->n_head_kv < 1 || c->n_head_kv > c->n_head || c->n_head % c->n_head_kv,
        "speech adapter: %d KV heads must divide %d heads", c->n_head_kv, c->n_head);
    BAD(c->head_dim < 2 || c->head_dim > 1024 || c->head_dim % 2, "speech adapter: head dim %d must be even, 2..1024",
        c->head_dim);
    BAD(c->conv_kernel < 1 || c->conv_kernel > 64, "speech adapter: conv kernel %d out of 1..64", c->conv_kernel);
    BAD(c->conv_stride < 1 || c->conv_stride > 64, "speech adapter: conv stride %d out of 1..64", c->conv_stride);
    BAD(c->conv_pad < 0 || c->conv_pad >= c->conv_kernel, "speech adapter: conv padding %d must be 0..kernel-1",
        c->conv_pad);
    BAD(c->n_out < 1 || c->n_out > 65536, "speech adapter: output width %d out of 1..65536", c->n_out);
    BAD(!(c->norm_eps > 0) || !isfinite(c->norm_eps), "speech adapter: norm epsilon must be positive");
    BAD(!(c->rope_theta > 1) || !isfinite(c->rope_theta), "speech adapter: RoPE base %g must be > 1",
        (double)c->rope_theta);
    BAD((int64_t)c->conv_kernel * c->n_in > (INT64_C(1) << 24), "speech adapter: conv rows of %lld are too long",
        (long long)c->conv_kernel * c->n_in);
#undef BAD
    return HD_OK;
}

static const struct {
    const char *key;
    size_t off;
} k_u32_keys[] = {
    {"speech_adapter.input_length", offsetof(hd_speech_adapter_config, n_in)},
    {"speech_adapter.embedding_length", offsetof(hd_speech_adapter_config, n_embd)},
    {"speech_adapter.feed_forward_length", offsetof(hd_speech_adapter_config, n_ff)},
    {"speech_adapter.block_count", offsetof(hd_speech_adapter_config, n_layer)},
    {"speech_adapter.attention.head_count", offsetof(hd_speech_adapter_config, n_head)},
    {"speech_adapter.attention.head_count_kv", offsetof(hd_speech_adapter_config, n_head_kv)},
    {"speech_adapter.attention.key_length", offsetof(hd_speech_adapter_config, head_dim)},
    {"speech_adapter.conv_kernel_size", offsetof(hd_speech_adapter_config, conv_kernel)},
    {"speech_adapter.conv_stride", offsetof(hd_speech_adapter_config, conv_stride)},
    {"speech_adapter.conv_padding", offsetof(hd_speech_adapter_config, conv_pad)},
    {"speech_adapter.output_length", offsetof(hd_speech_adapter_config, n_out)},
};
#define N_U32_KEYS (sizeof k_u32_keys / sizeof k_u32_keys[0])

static const struct {
    const char *key;
    size_t off;
} k_f32_keys[] = {
    {"speech_adapter.attention.layer_norm_rms_epsilon", offsetof(hd_speech_adapter_config, norm_eps)},
    {"speech_adapter.rope.freq_base", offsetof(hd_speech_adapter_config, rope_theta)},
};
#define N_F32_KEYS (sizeof k_f32_keys / sizeof k_f32_keys[0])

hd_status hd_speech_adapter_config_from_gguf(const hd_gguf *g, hd_speech_adapter_config *c, hd_error *err) {
    const char *file = hd_gguf_name(g);
    hd_speech_adapter_config r = {.norm_eps = 1e-5f, .rope_theta = 10000.0f};
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
    if (hd_speech_adapter_config_check(&r, &e2)) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s", file, e2.msg);
    *c = r;
    return HD_OK;
}

hd_status hd_speech_adapter_config_to_gguf(const hd_speech_adapter_config *c, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_speech_adapter_config_check(c, err);
    if (st) return st;
    bool ok = true;
    for (size_t i = 0; ok && i < N_U32_KEYS; i++)
        ok = hd_gguf_set_u32(w, k_u32_keys[i].key, (uint32_t) * (const int *)((const char *)c + k_u32_keys[i].off)) ==
             HD_OK;
    for (size_t i = 0; ok && i < N_F32_KEYS; i++)
        ok = hd_gguf_set_f32(w, k_f32_keys[i].key, *(const float *)((const char *)c + k_f32_keys[i].off)) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "speech adapter: out of memory writing metadata");
}

int64_t hd_speech_adapter_n_params(const hd_speech_adapter_config *c) {
    const int64_t Din = c->n_in, D = c->n_embd, F = c->n_ff, Dout = c->n_out;
    const int64_t Hd = (int64_t)c->n_head * c->head_dim, Gd = (int64_t)c->n_head_kv * c->head_dim;
    const int64_t layer = 2 * D + D * Hd + 2 * D * Gd + Hd * D + 3 * F * D;
    return D * c->conv_kernel * Din + D + c->n_layer * layer + Dout * D + Dout;
}

int64_t hd_speech_adapter_n_out(const hd_speech_adapter_config *c, int64_t n_in_frames) {
    const int64_t span = n_in_frames + 2 * (int64_t)c->conv_pad;
    if (n_in_frames <= 0 || span < c->conv_kernel) return 0;
    return (span - c->conv_kernel) / c->conv_stride + 1;
}

/* ---- weights ------------------------------------------------------------- */

typedef struct layer_w {
    hd_tensor attn_norm;        /* {D_a}                 */
    hd_tensor wq, wk, wv, wo;   /* {D_a, H·d}, {D_a, G·d} ×2, {H·d, D_a} */
    hd_tensor ffn_norm;         /* {D_a}                 */
    hd_tensor gate, up, down;   /* {D_a, F} ×2, {F, D_a} */
    hd_nn_layer_w nn;           /* the same, as core/nn sees them */
} layer_w;

struct hd_speech_adapter {
    hd_speech_adapter_config c;
    hd_weights *owned;          /* from hd_speech_adapter_load, else NULL */
    hd_tensor conv_w, conv_b;   /* ne {K·D_enc, D_a} (tap-major rows), {D_a} */
    layer_w *layers;            /* [n_layer] */
    hd_tensor out_w, out_b;     /* ne {D_a, D_lm}, {D_lm} */
    float *inv_freq;            /* [d/2] */
    int32_t *pos;               /* [pos_cap] 0, 1, 2, ... */
    int64_t pos_cap;
    hd_arena *arena;            /* activations for arena_frames output frames */
    int64_t arena_frames;
};

typedef hd_weights_loader loader;

#define T_VEC (1ull << HD_TYPE_F32)

static void get_layer(loader *L, layer_w *y, const hd_speech_adapter_config *c, int l) {
    const int64_t D = c->n_embd, F = c->n_ff;
    const int64_t Hd = (int64_t)c->n_head * c->head_dim, Gd = (int64_t)c->n_head_kv * c->head_dim;
    hd_weights_load(L, &y->attn_norm, T_VEC, D, 0, "adp.blk.%d.attn_norm.weight", l);
    hd_weights_load(L, &y->wq, HD_TYPES_ANY, Hd, D, "adp.blk.%d.attn_q.weight", l);         /* [H·d, D_a] */
    hd_weights_load(L, &y->wk, HD_TYPES_ANY, Gd, D, "adp.blk.%d.attn_k.weight", l);         /* [G·d, D_a] */
    hd_weights_load(L, &y->wv, HD_TYPES_ANY, Gd, D, "adp.blk.%d.attn_v.weight", l);         /* [G·d, D_a] */
    hd_weights_load(L, &y->wo, HD_TYPES_ANY, D, Hd, "adp.blk.%d.attn_output.weight", l);    /* [D_a, H·d] */
    hd_weights_load(L, &y->ffn_norm, T_VEC, D, 0, "adp.blk.%d.ffn_norm.weight", l);
    hd_weights_load(L, &y->gate, HD_TYPES_ANY, F, D, "adp.blk.%d.ffn_gate.weight", l);      /* [F, D_a]   */
    hd_weights_load(L, &y->up, HD_TYPES_ANY, F, D, "adp.blk.%d.ffn_up.weight", l);          /* [F, D_a]   */
    hd_weights_load(L, &y->down, HD_TYPES_ANY, D, F, "adp.blk.%d.ffn_down.weight", l);      /* [D_a, F]   */
    y->nn = (hd_nn_layer_w){
        .attn_norm = {.kind = HD_NN_NORM_RMS, .w = &y->attn_norm, .eps = c->norm_eps},
        .attn = {.wq = &y->wq, .wk = &y->wk, .wv = &y->wv, .wo = &y->wo, .n_head = c->n_head,
                 .n_kv_head = c->n_head_kv, .head_dim = c->head_dim},
        .mlp_norm = {.kind = HD_NN_NORM_RMS, .w = &y->ffn_norm, .eps = c->norm_eps},
        .mlp = {.gate = &y->gate, .up = &y->up, .down = &y->down, .act = HD_NN_ACT_SILU},
    };
}

hd_speech_adapter *hd_speech_adapter_from_weights(const hd_weights *w, const hd_speech_adapter_config *cfg,
                                                  hd_error *err) {
    hd_speech_adapter_config c;
    if (cfg) {
        if (hd_speech_adapter_config_check(cfg, err)) return NULL;
        c = *cfg;
    } else {
        const hd_gguf *g = hd_weights_gguf(w);
        if (!g) {
            hd_error_set(err, HD_ERR_ARG, "%s: no GGUF metadata: give the speech adapter configuration",
                         hd_weights_name(w));
            return NULL;
        }
        if (hd_speech_adapter_config_from_gguf(g, &c, err)) return NULL;
    }
    hd_speech_adapter *a = calloc(1, sizeof *a);
    if (a) {
        a->c = c;
        a->layers = calloc((size_t)(c.n_layer ? c.n_layer : 1), sizeof *a->layers);
        a->inv_freq = malloc((size_t)(c.head_dim / 2) * sizeof *a->inv_freq);
    }
    if (!a || !a->layers || !a->inv_freq) {
        hd_speech_adapter_free(a);
        hd_error_set(err, HD_ERR_NOMEM, "speech adapter: out of memory");
        return NULL;
    }
    hd_nn_rope_freqs(c.rope_theta, c.head_dim, a->inv_freq);
    loader L = {.w = w, .err = err, .st = HD_OK};
    hd_weights_load(&L, &a->conv_w, HD_TYPES_ANY, c.n_embd, (int64_t)c.conv_kernel * c.n_in, "adp.conv.weight", 0);
    hd_weights_load(&L, &a->conv_b, T_VEC, c.n_embd, 0, "adp.conv.bias", 0);
    for (int l = 0; l < c.n_layer && L.st == HD_OK; l++) get_layer(&L, &a->layers[l], &c, l);
    hd_weights_load(&L, &a->out_w, HD_TYPES_ANY, c.n_out, c.n_embd, "adp.out.weight", 0);   /* [D_lm, D_a] */
    hd_weights_load(&L, &a->out_b, T_VEC, c.n_out, 0, "adp.out.bias", 0);
    if (L.st) {
        hd_speech_adapter_free(a);
        return NULL;
    }
    return a;
}

hd_speech_adapter *hd_speech_adapter_load(const char *path, hd_error *err) {
    hd_weights *w = hd_weights_open(path, err);
    if (!w) return NULL;
    hd_speech_adapter *a = hd_speech_adapter_from_weights(w, NULL, err);
    if (!a) {
        hd_weights_close(w);
        return NULL;
    }
    a->owned = w;
    return a;
}

void hd_speech_adapter_free(hd_speech_adapter *a) {
    if (!a) return;
    hd_arena_free(a->arena);
    free(a->layers), free(a->inv_freq), free(a->pos);
    hd_weights_close(a->owned);
    free(a);
}

const hd_speech_adapter_config *hd_speech_adapter_config_of(const hd_speech_adapter *a) { return &a->c; }

/* ---- forward ------------------------------------------------------------- */

/* Arena bytes for T output frames: the im2col matrix and the stream h live
 * through the call, plus the largest layer's temporaries. */
static size_t arena_bytes(const hd_speech_adapter *a, int64_t T) {
    const hd_speech_adapter_config *c = &a->c;
    size_t need = hd_nn_f32_bytes((int64_t)c->conv_kernel * c->n_in * T) + hd_nn_f32_bytes((int64_t)c->n_embd * T);
    if (c->n_layer > 0) need += hd_nn_layer_scratch_bytes(&a->layers[0].nn, T);
    return need + 64 * 8;
}

static hd_status reserve(hd_speech_adapter *a, int64_t T, hd_error *err) {
    hd_status st = hd_nn_positions(&a->pos, &a->pos_cap, T, "speech adapter", err);
    if (st) return st;
    if (T > a->arena_frames) {
        hd_arena *n = hd_arena_create(arena_bytes(a, T), err);
        if (!n) return err ? err->code : HD_ERR_NOMEM;
        hd_arena_free(a->arena);
        a->arena = n, a->arena_frames = T;
    }
    return HD_OK;
}

/* Conv1d as one product: row t of col is the K input frames S·t − P + k
 * (zeros outside the segment), tap-major like the stored weight. */
static void im2col(const hd_speech_adapter_config *c, const float *x, int64_t n_in, float *col, int64_t T) {
    const int64_t D = c->n_in, K = c->conv_kernel;
    for (int64_t t = 0; t < T; t++) {
        float *row = col + t * K * D;
        for (int64_t k = 0; k < K; k++) {
            const int64_t f = t * c->conv_stride - c->conv_pad + k;
            if (f >= 0 && f < n_in) memcpy(row + k * D, x + f * D, (size_t)D * sizeof *row);
            else memset(row + k * D, 0, (size_t)D * sizeof *row);
        }
    }
}

hd_status hd_speech_adapter_encode(hd_speech_adapter *a, hd_exec *ex, const float *x, int64_t n_in, float *y,
                                   hd_error *err) {
    const hd_speech_adapter_config *c = &a->c;
    if (n_in < 0 || n_in > (INT64_C(1) << 31))
        return hd_error_set(err, HD_ERR_ARG, "speech adapter: %lld input frames out of range", (long long)n_in);
    const int64_t T = hd_speech_adapter_n_out(c, n_in);
    if (T == 0) return HD_OK;
    if (!x || !y) return hd_error_set(err, HD_ERR_ARG, "speech adapter: no input or output buffer");
    hd_status st = reserve(a, T, err);
    if (st) return st;
    hd_arena_reset(a->arena, 0);
    const int64_t ne_col[2] = {(int64_t)c->conv_kernel * c->n_in, T}, ne_h[2] = {c->n_embd, T};
    hd_tensor col = hd_arena_tensor(a->arena, HD_TYPE_F32, 2, ne_col);   /* {K·D_enc, T} */
    hd_tensor h = hd_arena_tensor(a->arena, HD_TYPE_F32, 2, ne_h);       /* {D_a, T}     */
    if (!col.data || !h.data) return hd_error_set(err, HD_ERR_NOMEM, "speech adapter: activation arena exhausted");
    im2col(c, x, n_in, col.data, T);
    if ((st = hd_op_linear(ex, &h, &a->conv_w, &col, &a->conv_b, err))) return st;
    const hd_nn_attn_ctx rope = {
        .pos = a->pos, .inv_freq = a->inv_freq, .n_rot = c->head_dim, .rope_mode = HD_ROPE_INTERLEAVED,
    };
    for (int l = 0; l < c->n_layer; l++)
        if ((st = hd_nn_layer(ex, a->arena, &h, &a->layers[l].nn, &rope, err))) return st;
    hd_tensor out = hd_tensor_2d(HD_TYPE_F32, c->n_out, T, y);   /* {D_lm, T} */
    return hd_op_linear(ex, &out, &a->out_w, &h, &a->out_b, err);
}
