/* lm/llama_video.c — the paper's video cross-attention layers (SPEC §3) on
 * top of a Llama 3.2 Vision text model: loading the vblk.V.* layers and
 * mllama.video.cross_attention_layers (layout and choices in lm/llama.h,
 * "video cross-attention"), the video keys/values computed once per video,
 * the per-batch row mask R and the layer itself — the image cross layer's
 * block (core/nn's shared pre-norm layer, q/k norms, tanh gates) over the
 * video tokens:
 *
 *     y   = RMSNorm_in(x)
 *     a   = XAttn(y, K_v, V_v)         q_norm/k_norm per head, no RoPE, GQA, every video key valid
 *     h   = x + tanh(g_attn) · R ⊙ a   (HF mode: without R)
 *     out = h + tanh(g_mlp)  · R ⊙ MLP(RMSNorm_post(h))
 */
#include "llama_internal.h"

#include "core/gguf.h"
#include "core/nn.h"
#include "core/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIDEO_KEY "mllama.video.cross_attention_layers"
#define MAX_VIDEO_LAYERS 64
#define MAX_VIDEO_TOKENS ((int64_t)1 << 22)

/* Weight types hd_op_linear accepts (as lm/llama.c). */
#define VIDEO_MATRIX_TYPES                                                                         \
    ((1ull << HD_TYPE_F32) | (1ull << HD_TYPE_F16) | (1ull << HD_TYPE_BF16) |                      \
     (1ull << HD_TYPE_Q8_0) | (1ull << HD_TYPE_Q4_0) | (1ull << HD_TYPE_Q4_K) |                    \
     (1ull << HD_TYPE_Q5_K) | (1ull << HD_TYPE_Q6_K))

bool hd_llama_has_video_layers(const hd_llama_model *m) { return m && m->n_video > 0; }

/* ---- loading --------------------------------------------------------------------- */

static hd_status get_matrix(const hd_llama_model *m, int v, const char *what, int64_t ne0, int64_t ne1,
                            hd_tensor *out, hd_error *err) {
    char name[128];
    snprintf(name, sizeof name, "vblk.%d.%s.weight", v, what);
    const int64_t ne[2] = {ne0, ne1};
    return hd_weights_get(m->file, name, 2, ne, VIDEO_MATRIX_TYPES, out, err);
}

/* A vector [n] of any float type, copied to F32 at dst (gates: no ".weight"). */
static hd_status get_vector(const hd_llama_model *m, int v, const char *what, bool bare, int64_t n, float *dst,
                            hd_tensor *out, hd_error *err) {
    char name[128];
    snprintf(name, sizeof name, "vblk.%d.%s%s", v, what, bare ? "" : ".weight");
    const int64_t ne[1] = {n};
    hd_tensor t;
    hd_status st = hd_weights_get(m->file, name, 1, ne, HD_TYPES_FLOAT, &t, err);
    if (st) return st;
    hd_dequantize_row(t.type, t.data, dst, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s holds a non-finite value",
                                hd_weights_name(m->file), name);
    *out = hd_tensor_1d(HD_TYPE_F32, n, dst);
    out->name = t.name;
    return HD_OK;
}

static bool is_cross(const hd_llama_config *c, int32_t l) {
    for (int x = 0; x < c->n_xattn; x++)
        if (c->xattn_layers[x] == l) return true;
    return false;
}

hd_status hd_llama_video_load(hd_llama_model *m, hd_error *err) {
    const hd_gguf *g = hd_weights_gguf(m->file);
    const char *file = hd_weights_name(m->file);
    if (!g) return HD_OK;
    const int64_t k = hd_gguf_find_key(g, VIDEO_KEY);
    if (k < 0) return HD_OK;
    const hd_llama_config *c = &m->cfg;
    hd_gguf_vtype et;
    uint64_t n;
    if (!hd_gguf_kv_array(g, k, &et, &n) || n == 0 || n > MAX_VIDEO_LAYERS)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s must list 1 to %d layer indices", file, VIDEO_KEY,
                            MAX_VIDEO_LAYERS);
    if (c->n_xattn == 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: video cross-attention layers need an mllama model", file);
    const int64_t D = c->n_embd, F = c->n_ff, d = c->head_dim;
    const int64_t Hd = (int64_t)c->n_head * d, Gd = (int64_t)c->n_head_kv * d;
    m->video_before = calloc(n, sizeof *m->video_before);
    m->vlayers = calloc(n, sizeof *m->vlayers);
    m->vnorms = malloc((size_t)n * (size_t)(2 * D + 2 * d + 2) * sizeof *m->vnorms);
    if (!m->video_before || !m->vlayers || !m->vnorms) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", file);
    for (uint64_t i = 0; i < n; i++) {
        double v;
        if (!hd_gguf_arr_number(g, k, i, &v) || v != floor(v) || v < 0 || v >= c->n_layer ||
            !is_cross(c, (int32_t)v) || (i > 0 && (int32_t)v <= m->video_before[i - 1]))
            return hd_error_set(err, HD_ERR_FORMAT,
                                "%s: %s[%llu] is not an image cross-attention layer index (ascending, below %d)",
                                file, VIDEO_KEY, (unsigned long long)i, c->n_layer);
        m->video_before[i] = (int32_t)v;
    }
    m->n_video = (int)n;
    hd_status st;
    for (int v = 0; v < m->n_video; v++) {
        hd_llama_layer *L = &m->vlayers[v];
        L->cross = true;
        L->slot = v;
        struct { const char *what; hd_tensor *dst; int64_t ne0, ne1; } mats[] = {
            {"cross_attn_q_proj", &L->wq, D, Hd}, {"cross_attn_k_proj", &L->wk, D, Gd},
            {"cross_attn_v_proj", &L->wv, D, Gd}, {"cross_attn_o_proj", &L->wo, Hd, D},
            {"ffn_gate", &L->w_gate, D, F},       {"ffn_up", &L->w_up, D, F},
            {"ffn_down", &L->w_down, F, D},
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if ((st = get_matrix(m, v, mats[i].what, mats[i].ne0, mats[i].ne1, mats[i].dst, err))) return st;
        float *vn = m->vnorms + (size_t)v * (size_t)(2 * D + 2 * d + 2);
        struct { const char *what; bool bare; hd_tensor *dst; int64_t n; float *at; } vecs[] = {
            {"attn_norm", false, &L->attn_norm, D, vn},
            {"ffn_norm", false, &L->ffn_norm, D, vn + D},
            {"cross_attn_q_norm", false, &L->q_norm, d, vn + 2 * D},
            {"cross_attn_k_norm", false, &L->k_norm, d, vn + 2 * D + d},
            {"cross_attn_attn_gate", true, &L->attn_gate, 1, vn + 2 * D + 2 * d},
            {"cross_attn_mlp_gate", true, &L->mlp_gate, 1, vn + 2 * D + 2 * d + 1},
        };
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
            if ((st = get_vector(m, v, vecs[i].what, vecs[i].bare, vecs[i].n, vecs[i].at, vecs[i].dst, err)))
                return st;
        L->nn = (hd_nn_layer_w){
            .attn_norm = {.kind = HD_NN_NORM_RMS, .w = &L->attn_norm, .eps = c->norm_eps},
            .attn = {.wq = &L->wq, .wk = &L->wk, .wv = &L->wv, .wo = &L->wo, .n_head = c->n_head,
                     .n_kv_head = c->n_head_kv, .head_dim = c->head_dim, .q_norm = &L->q_norm, .k_norm = &L->k_norm,
                     .qk_norm_eps = c->norm_eps},
            .mlp_norm = {.kind = HD_NN_NORM_RMS, .w = &L->ffn_norm, .eps = c->norm_eps},
            .mlp = {.gate = &L->w_gate, .up = &L->w_up, .down = &L->w_down, .act = HD_NN_ACT_SILU},
            .attn_gate = &L->attn_gate,
            .mlp_gate = &L->mlp_gate,
        };
    }
    return HD_OK;
}

void hd_llama_video_unload(hd_llama_model *m) {
    free(m->video_before);
    free(m->vlayers);
    free(m->vnorms);
    m->video_before = NULL;
    m->vlayers = NULL;
    m->vnorms = NULL;
    m->n_video = 0;
}

/* ---- the context ------------------------------------------------------------------- */

hd_status hd_llama_video_context_init(hd_llama_context *ctx, hd_error *err) {
    const hd_llama_model *m = ctx->model;
    if (m->n_video == 0) return HD_OK;
    ctx->vk = calloc((size_t)m->n_video, sizeof *ctx->vk);
    ctx->vv = calloc((size_t)m->n_video, sizeof *ctx->vv);
    ctx->vrow = malloc((size_t)ctx->p.n_batch * sizeof *ctx->vrow);
    if (!ctx->vk || !ctx->vv || !ctx->vrow) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for the video layers");
    return HD_OK;
}

void hd_llama_video_free(hd_llama_context *ctx) {
    free(ctx->vkv);
    free(ctx->vk);
    free(ctx->vv);
    free(ctx->vrow);
}

void hd_llama_clear_video(hd_llama_context *ctx) {
    if (!ctx) return;
    ctx->has_video = false;
    ctx->n_vid_tokens = 0;
}

hd_status hd_llama_set_video(hd_llama_context *ctx, const hd_llama_video *video, hd_error *err) {
    const hd_llama_model *m = ctx->model;
    const hd_llama_config *c = &m->cfg;
    if (!hd_llama_has_video_layers(m))
        return hd_error_set(err, HD_ERR_ARG, "llama: %s has no video cross-attention layers",
                            m->source ? m->source : "the model");
    if (!video) {
        hd_llama_clear_video(ctx);
        return HD_OK;
    }
    if (!video->states) return hd_error_set(err, HD_ERR_ARG, "llama: the video has no states");
    if (video->n_tokens <= 0 || video->n_tokens > MAX_VIDEO_TOKENS)
        return hd_error_set(err, HD_ERR_ARG, "llama: a video of %lld tokens (1 to %lld allowed)",
                            (long long)video->n_tokens, (long long)MAX_VIDEO_TOKENS);
    if (video->pos_begin < 0 || (video->pos_end >= 0 && video->pos_end <= video->pos_begin))
        return hd_error_set(err, HD_ERR_ARG, "llama: the video's position range [%lld, %lld) is empty",
                            (long long)video->pos_begin, (long long)video->pos_end);
    hd_llama_clear_video(ctx);
    const int64_t T = video->n_tokens, D = c->n_embd, B = ctx->p.n_batch;
    const size_t row = hd_type_row_size(ctx->p.kv_type, c->head_dim) * (size_t)c->n_head_kv;   /* one key */
    const size_t need = 2 * (size_t)m->n_video * row * (size_t)T;
    if (need > ctx->vkv_bytes) {
        free(ctx->vkv);
        ctx->vkv_bytes = 0;
        if (!(ctx->vkv = malloc(need)))
            return hd_error_set(err, HD_ERR_NOMEM, "llama: cannot allocate %zu bytes for the video keys/values", need);
        ctx->vkv_bytes = need;
    }
    for (int v = 0; v < m->n_video; v++) {
        char *base = (char *)ctx->vkv + (size_t)(2 * v) * row * (size_t)T;
        ctx->vk[v] = hd_tensor_3d(ctx->p.kv_type, c->head_dim, c->n_head_kv, T, base);
        ctx->vv[v] = hd_tensor_3d(ctx->p.kv_type, c->head_dim, c->n_head_kv, T, base + row * (size_t)T);
    }
    /* K = k_norm(states·W_kᵀ), V = states·W_vᵀ per video layer, n_batch tokens
     * at a time so the arena sized for a batch holds the temporaries */
    for (int64_t r0 = 0; r0 < T; r0 += B) {
        const int64_t rows = T - r0 < B ? T - r0 : B;
        hd_tensor src = hd_tensor_2d(HD_TYPE_F32, D, rows, (void *)(video->states + r0 * D));
        for (int v = 0; v < m->n_video; v++) {
            const hd_tensor *K = &ctx->vk[v], *Vt = &ctx->vv[v];
            hd_tensor kd = hd_tensor_3d(K->type, K->ne[0], K->ne[1], rows, (char *)K->data + (size_t)r0 * K->nb[2]);
            hd_tensor vd = hd_tensor_3d(Vt->type, Vt->ne[0], Vt->ne[1], rows, (char *)Vt->data + (size_t)r0 * Vt->nb[2]);
            hd_arena_reset(ctx->act, 0);
            hd_status st = hd_nn_attention_kv(&ctx->ex, ctx->act, &m->vlayers[v].nn.attn, &src, &kd, &vd, err);
            if (st) {
                hd_error_prefix(err, "video layer %d", v);
                return st;
            }
        }
    }
    ctx->n_vid_tokens = T;
    ctx->vid_begin = video->pos_begin;
    ctx->vid_end = video->pos_end;
    ctx->has_video = true;
    return HD_OK;
}

bool hd_llama_video_prepare(hd_llama_context *ctx, int64_t S) {
    if (!ctx->has_video) return false;
    bool any = false;
    for (int64_t s = 0; s < S; s++) {
        const int64_t pos = ctx->pos[s];
        const bool in = pos >= ctx->vid_begin && (ctx->vid_end < 0 || pos < ctx->vid_end);
        ctx->vrow[s] = in ? 1.0f : 0.0f;
        any |= in;
    }
    /* META: R = 0 on both branches of every row adds nothing: skip */
    return any || ctx->p.xattn_mask == HD_XATTN_MASK_HF;
}

hd_status hd_llama_video_layer(hd_llama_context *ctx, int v, hd_tensor *x, hd_error *err) {
    const hd_llama_model *m = ctx->model;
    /* every video key is valid: no additive mask; rows outside the range are
     * zeroed by R (META: both branches; HF: the MLP branch only) */
    const hd_nn_attn_ctx ac = {
        .k_cache = &ctx->vk[v], .v_cache = &ctx->vv[v], .n_past = ctx->n_vid_tokens, .kv_cached = true,
        .attn_row_scale = ctx->p.xattn_mask == HD_XATTN_MASK_META ? ctx->vrow : NULL,
        .mlp_row_scale = ctx->vrow,
    };
    return hd_nn_layer(&ctx->ex, ctx->act, x, &m->vlayers[v].nn, &ac, err);
}
