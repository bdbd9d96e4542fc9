/* lm/llama_xattn.c — images for the gated cross-attention layers of the
 * Llama 3.2 Vision text model (SPEC §2.6–2.8): which positions see which
 * image, the image keys/values computed once per image set, the additive
 * mask and the full-text-row mask R of a batch, and the cross layer itself
 * on core/nn's shared pre-norm layer:
 *
 *     y   = RMSNorm_in(x)
 *     a   = XAttn(y, K, V)          q_norm/k_norm per head, no RoPE, GQA
 *     h   = x + tanh(g_attn) · R ⊙ a           (HF mode: without R)
 *     out = h + tanh(g_mlp)  · R ⊙ MLP(RMSNorm_post(h))
 */
#include "llama_internal.h"

#include "core/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGE_TOKENS ((int64_t)1 << 22)   /* per image: 4 tiles × 1601 = 6404 in the real model */
#define MAX_TOTAL_TOKENS ((int64_t)1 << 24)

bool hd_llama_has_cross_attention(const hd_llama_model *m) { return m && m->cfg.n_xattn > 0; }

void hd_llama_clear_images(hd_llama_context *ctx) {
    if (!ctx) return;
    ctx->n_images = 0;
    ctx->n_img_tokens = 0;
}

void hd_llama_xattn_free(hd_llama_context *ctx) {
    free(ctx->images);
    free(ctx->xkv);
    free(ctx->xk);
    free(ctx->xv);
    free(ctx->xmask);
    free(ctx->xrow);
}

/* Rows [from, from+n) of a K/V tensor ne={d, G, T}. */
static hd_tensor rows_of(const hd_tensor *t, int64_t from, int64_t n) {
    return hd_tensor_3d(t->type, t->ne[0], t->ne[1], n, (char *)t->data + (size_t)from * t->nb[2]);
}

static hd_status check_images(const hd_llama_context *ctx, const hd_llama_image *images, int n, int64_t *total,
                              hd_error *err) {
    if (n < 0 || n > ctx->p.max_images)
        return hd_error_set(err, HD_ERR_ARG, "llama: %d images (the context holds at most %d, max_images)", n,
                            ctx->p.max_images);
    if (n > 0 && !images) return hd_error_set(err, HD_ERR_ARG, "llama: %d images but no array", n);
    int64_t T = 0;
    for (int i = 0; i < n; i++) {
        const hd_llama_image *im = &images[i];
        if (!im->states) return hd_error_set(err, HD_ERR_ARG, "llama: image %d has no states", i);
        if (im->n_tokens <= 0 || im->n_tokens > MAX_IMAGE_TOKENS)
            return hd_error_set(err, HD_ERR_ARG, "llama: image %d has %lld tokens (1 to %lld allowed)", i,
                                (long long)im->n_tokens, (long long)MAX_IMAGE_TOKENS);
        if (im->n_valid <= 0 || im->n_valid > im->n_tokens)
            return hd_error_set(err, HD_ERR_ARG, "llama: image %d: %lld valid of %lld tokens", i,
                                (long long)im->n_valid, (long long)im->n_tokens);
        if (im->pos_begin < 0 || (im->pos_end >= 0 && im->pos_end <= im->pos_begin))
            return hd_error_set(err, HD_ERR_ARG, "llama: image %d: position range [%lld, %lld) is empty", i,
                                (long long)im->pos_begin, (long long)im->pos_end);
        T += im->n_tokens;
        if (T > MAX_TOTAL_TOKENS)
            return hd_error_set(err, HD_ERR_ARG, "llama: more than %lld image tokens in all",
                                (long long)MAX_TOTAL_TOKENS);
    }
    *total = T;
    return HD_OK;
}

/* K/V storage for T image tokens and the mask of a batch over them. */
static hd_status reserve(hd_llama_context *ctx, int64_t T, hd_error *err) {
    const hd_llama_config *c = &ctx->model->cfg;
    const size_t row = hd_type_row_size(ctx->p.kv_type, c->head_dim) * (size_t)c->n_head_kv;   /* one key */
    const size_t need = 2 * (size_t)c->n_xattn * row * (size_t)T;
    if (need > ctx->xkv_bytes) {
        free(ctx->xkv);
        ctx->xkv_bytes = 0;
        if (!(ctx->xkv = malloc(need)))
            return hd_error_set(err, HD_ERR_NOMEM, "llama: cannot allocate %zu bytes for the image keys/values",
                                need);
        ctx->xkv_bytes = need;
    }
    const size_t mask = (size_t)ctx->p.n_batch * (size_t)T;
    if (mask > ctx->xmask_cap) {
        free(ctx->xmask);
        ctx->xmask_cap = 0;
        if (!(ctx->xmask = malloc(mask * sizeof *ctx->xmask)))
            return hd_error_set(err, HD_ERR_NOMEM, "llama: cannot allocate the image mask [%lld x %d]",
                                (long long)T, ctx->p.n_batch);
        ctx->xmask_cap = mask;
    }
    for (int x = 0; x < c->n_xattn; x++) {
        char *base = (char *)ctx->xkv + (size_t)(2 * x) * row * (size_t)T;
        ctx->xk[x] = hd_tensor_3d(ctx->p.kv_type, c->head_dim, c->n_head_kv, T, base);
        ctx->xv[x] = hd_tensor_3d(ctx->p.kv_type, c->head_dim, c->n_head_kv, T, base + row * (size_t)T);
    }
    return HD_OK;
}

hd_status hd_llama_set_images(hd_llama_context *ctx, const hd_llama_image *images, int n, hd_error *err) {
    const hd_llama_model *m = ctx->model;
    const hd_llama_config *c = &m->cfg;
    if (!hd_llama_has_cross_attention(m))
        return hd_error_set(err, HD_ERR_ARG, "llama: %s has no cross-attention layers (not an mllama text model)",
                            m->source ? m->source : "the model");
    int64_t T = 0;
    hd_status st = check_images(ctx, images, n, &T, err);
    if (st) return st;
    hd_llama_clear_images(ctx);
    if (n == 0) return HD_OK;
    if ((st = reserve(ctx, T, err))) return st;

    /* K = k_norm(states·W_kᵀ), V = states·W_vᵀ for every cross layer (SPEC
     * §2.8), n_batch image tokens at a time so the arena sized for a batch
     * holds the temporaries */
    const int64_t D = c->n_embd, B = ctx->p.n_batch;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const hd_llama_image *im = &images[i];
        for (int64_t r0 = 0; r0 < im->n_tokens; r0 += B) {
            const int64_t rows = im->n_tokens - r0 < B ? im->n_tokens - r0 : B;
            hd_tensor src = hd_tensor_2d(HD_TYPE_F32, D, rows, (void *)(im->states + r0 * D));
            for (int l = 0; l < c->n_layer; l++) {
                const hd_llama_layer *L = &m->layers[l];
                if (!L->cross) continue;
                hd_tensor kd = rows_of(&ctx->xk[L->slot], off + r0, rows);
                hd_tensor vd = rows_of(&ctx->xv[L->slot], off + r0, rows);
                hd_arena_reset(ctx->act, 0);
                if ((st = hd_nn_attention_kv(&ctx->ex, ctx->act, &L->nn.attn, &src, &kd, &vd, err))) {
                    hd_error_prefix(err, "image %d, layer %d", i, l);
                    return st;
                }
            }
        }
        ctx->images[i] = (hd_llama_image_slot){.off = off, .n_tokens = im->n_tokens, .n_valid = im->n_valid,
                                               .pos_begin = im->pos_begin, .pos_end = im->pos_end};
        off += im->n_tokens;
    }
    ctx->n_images = n;
    ctx->n_img_tokens = T;
    return HD_OK;
}

/* SPEC §2.7 steps 1–4 for the batch rows at positions ctx->pos[0..S). */
bool hd_llama_xattn_prepare(hd_llama_context *ctx, int64_t S) {
    if (ctx->n_images == 0) return false;
    const int64_t T = ctx->n_img_tokens;
    bool any = false;
    for (int64_t s = 0; s < S; s++) {
        const int64_t pos = ctx->pos[s];
        float *row = ctx->xmask + s * T;
        bool sees = false;
        for (int i = 0; i < ctx->n_images; i++) {
            const hd_llama_image_slot *im = &ctx->images[i];
            const bool in = pos >= im->pos_begin && (im->pos_end < 0 || pos < im->pos_end);
            /* tile slots past the image's tiles stay masked (cross_attention_mask 0) */
            const int64_t open = in ? im->n_valid : 0;
            for (int64_t k = 0; k < open; k++) row[im->off + k] = 0.0f;
            for (int64_t k = open; k < im->n_tokens; k++) row[im->off + k] = -INFINITY;
            sees |= in;
        }
        /* a row with no allowed key: additive mask · R = 0, i.e. all keys
         * unmasked (only the HF attention branch keeps the result) */
        if (!sees) memset(row, 0, (size_t)T * sizeof *row);
        ctx->xrow[s] = sees ? 1.0f : 0.0f;
        any |= sees;
    }
    ctx->xrow_any = any;
    /* META: every branch of every row is multiplied by R = 0, so the layer adds
     * nothing and is skipped (SPEC §2.8) */
    return any || ctx->p.xattn_mask == HD_XATTN_MASK_HF;
}

hd_status hd_llama_xattn_layer(hd_llama_context *ctx, const hd_llama_layer *L, hd_tensor *x, hd_error *err) {
    const int64_t S = x->ne[1], T = ctx->n_img_tokens;
    hd_tensor mask = hd_tensor_2d(HD_TYPE_F32, T, S, ctx->xmask);
    const hd_nn_attn_ctx ac = {
        .k_cache = &ctx->xk[L->slot], .v_cache = &ctx->xv[L->slot], .n_past = T, .kv_cached = true,
        .mask = &mask,
        .attn_row_scale = ctx->p.xattn_mask == HD_XATTN_MASK_META ? ctx->xrow : NULL,
        .mlp_row_scale = ctx->xrow,
    };
    return hd_nn_layer(&ctx->ex, ctx->act, x, &L->nn, &ac, err);
}

/* ---- which positions see which image (SPEC §2.7) ------------------------- */

int hd_llama_image_ranges(const int32_t *tokens, int64_t n, int32_t image_token, int64_t pos0,
                          hd_xattn_mask_mode mode, int64_t (*ranges)[2], int max_ranges) {
    if (!tokens || n <= 0) return 0;
    int m = 0;
    for (int64_t i = 0; i < n; i++) m += tokens[i] == image_token;
    if (m == 0) return 0;
    const int64_t end = pos0 + n;   /* one past the prompt */
    if (m == 1) {
        /* one image: everything from it on, generated tokens included */
        for (int64_t i = 0; i < n; i++)
            if (tokens[i] == image_token && max_ranges > 0) {
                ranges[0][0] = pos0 + i;
                ranges[0][1] = -1;
            }
        return 1;
    }
    /* walking backwards: image k sees [p_k, p_{k+1}), the last [p_m, end); an
     * image directly followed by another takes the (extended) end of the next */
    int k = m;
    int64_t next_pos = -1, next_end = end;
    for (int64_t i = n - 1; i >= 0; i--) {
        if (tokens[i] != image_token) continue;
        k--;
        const int64_t p = pos0 + i;
        int64_t e = next_pos < 0 ? end : next_pos == p + 1 ? next_end : next_pos;
        if (k < max_ranges) {
            ranges[k][0] = p;
            /* prompt-end ranges: META stops them there (generated tokens see no
             * image); HF lets generated tokens see what the last prompt token saw */
            ranges[k][1] = e == end && mode == HD_XATTN_MASK_HF ? -1 : e;
        }
        next_pos = p;
        next_end = e;
    }
    return m;
}
