/* core/nn.c — shared transformer blocks on top of core/ops.h (see nn.h). */
#include <stdlib.h>
#include "nn.h"

#include "quant.h"

#include <math.h>
#include <string.h>

#define NN_ALIGN 64

size_t hd_nn_f32_bytes(int64_t n) {
    size_t b = (size_t)(n > 0 ? n : 0) * sizeof(float);
    return (b + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
}

/* A contiguous F32 activation from the arena, or HD_ERR_NOMEM. */
static hd_status nn_alloc(hd_arena *arena, hd_tensor *t, int n_dims, int64_t ne0, int64_t ne1,
                          int64_t ne2, const char *what, hd_error *err) {
    int64_t ne[3] = {ne0, ne1, ne2};
    *t = hd_arena_tensor(arena, HD_TYPE_F32, n_dims, ne);
    if (!t->data)
        return hd_error_set(err, HD_ERR_NOMEM,
                            "activation arena exhausted allocating %s (%lld floats; capacity %zu bytes, "
                            "%zu in use)",
                            what, (long long)(ne0 * ne1 * ne2), hd_arena_capacity(arena),
                            hd_arena_used(arena));
    return HD_OK;
}

/* A 3-D view {a, b, c} of a contiguous tensor with the same element count. */
static hd_tensor nn_view3(const hd_tensor *t, int64_t a, int64_t b, int64_t c) {
    return hd_tensor_3d(t->type, a, b, c, t->data);
}

hd_status hd_nn_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_nn_norm_w *n,
                     hd_error *err) {
    switch (n->kind) {
    case HD_NN_NORM_RMS:
        return hd_op_rms_norm(ex, y, x, n->w, n->eps, err);
    case HD_NN_NORM_LAYER:
        return hd_op_layer_norm(ex, y, x, n->w, n->b, n->eps, err);
    }
    return hd_error_set(err, HD_ERR_ARG, "nn: unknown norm kind %d", (int)n->kind);
}

hd_status hd_nn_linear(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_tensor *w,
                       const hd_tensor *b, const hd_tensor *x, hd_error *err) {
    hd_status st = nn_alloc(arena, y, 2, w->ne[1], x->ne[1], 1, w->name ? w->name : "linear output", err);
    if (st) return st;
    return hd_op_linear(ex, y, w, x, b, err);
}

/* ---- low-rank adapters ------------------------------------------------------ */

size_t hd_nn_lora_scratch_bytes(const hd_nn_lora *lora, int64_t n_tokens) {
    if (!lora) return 0;
    return hd_nn_f32_bytes(lora->a->ne[1] * n_tokens) + hd_nn_f32_bytes(lora->b->ne[1] * n_tokens);
}

hd_status hd_nn_lora_add(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_lora *lora, const hd_tensor *x,
                         hd_error *err) {
    if (!lora) return HD_OK;
    if (lora->a->ne[0] != x->ne[0] || lora->b->ne[0] != lora->a->ne[1] || lora->b->ne[1] != y->ne[0] ||
        y->ne[1] != x->ne[1])
        return hd_error_set(err, HD_ERR_SHAPE, "LoRA %s: A [%lld, %lld], B [%lld, %lld] do not fit %lld → %lld",
                            lora->a->name ? lora->a->name : "", (long long)lora->a->ne[0], (long long)lora->a->ne[1],
                            (long long)lora->b->ne[0], (long long)lora->b->ne[1], (long long)x->ne[0],
                            (long long)y->ne[0]);
    size_t mark = hd_arena_mark(arena);
    hd_tensor t, u;
    /* t = scale · x·Aᵀ [r, S];  y += t·Bᵀ [N, S] */
    hd_status st = hd_nn_linear(ex, arena, &t, lora->a, NULL, x, err);
    if (!st && lora->scale != 1.0f) st = hd_op_scale(ex, &t, &t, lora->scale, err);
    if (!st) st = hd_nn_linear(ex, arena, &u, lora->b, NULL, &t, err);
    if (!st) st = hd_op_add(ex, y, y, &u, err);
    hd_arena_reset(arena, mark);
    return st;
}

/* y = x·Wᵀ + b (+ LoRA) with y from the arena. */
static hd_status linear_lora(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_tensor *w, const hd_tensor *b,
                             const hd_nn_lora *lora, const hd_tensor *x, hd_error *err) {
    hd_status st = hd_nn_linear(ex, arena, y, w, b, x, err);
    if (!st) st = hd_nn_lora_add(ex, arena, y, lora, x, err);
    return st;
}

static size_t max_lora_bytes(const hd_nn_lora *const *l, int n, int64_t n_tokens) {
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        size_t b = hd_nn_lora_scratch_bytes(l[i], n_tokens);
        if (b > m) m = b;
    }
    return m;
}

/* ---- attention ----------------------------------------------------------- */

size_t hd_nn_attention_scratch_bytes(const hd_nn_attn_w *w, int64_t n_tokens) {
    int64_t hd = (int64_t)w->n_head * w->head_dim, gd = (int64_t)w->n_kv_head * w->head_dim;
    const hd_nn_lora *l[4] = {w->lora_q, w->lora_k, w->lora_v, w->lora_o};
    /* q, k, v, attention output, one LoRA's temporaries */
    return 2 * hd_nn_f32_bytes(hd * n_tokens) + 2 * hd_nn_f32_bytes(gd * n_tokens) + max_lora_bytes(l, 4, n_tokens);
}

/* Queries (and keys) per block of a Shaw relative-position call of S tokens. */
static int64_t rel_block(const hd_nn_attn_ctx *c, int64_t S) {
    return c->block > 0 && c->block < S ? c->block : S;
}

size_t hd_nn_attention_ctx_scratch_bytes(const hd_nn_attn_w *w, int64_t n_tokens, const hd_nn_attn_ctx *c) {
    size_t b = hd_nn_attention_scratch_bytes(w, n_tokens);
    if (c && c->rel_pos && n_tokens > 0) {
        const int64_t n = rel_block(c, n_tokens), m = n - 1 < c->rel_clamp ? n - 1 : c->rel_clamp;
        /* q·E scores of one block, the block's bias matrix */
        b += hd_nn_f32_bytes((2 * m + 1) * w->n_head * n) + hd_nn_f32_bytes(n * n);
    }
    return b;
}

/* The block and relative-position options of c (see nn.h). */
static hd_status check_local(const hd_nn_attn_w *w, const hd_tensor *x, const hd_nn_attn_ctx *c, hd_error *err) {
    if (c->block < 0 || c->kv_block < 0 || (c->kv_block > 0 && c->block <= 0))
        return hd_error_set(err, HD_ERR_ARG, "attention: bad block sizes %lld/%lld", (long long)c->block,
                            (long long)c->kv_block);
    if (c->block <= 0 && !c->rel_pos) return HD_OK;
    if (c->k_cache || c->kv_cached || c->causal || c->mask)
        return hd_error_set(err, HD_ERR_ARG,
                            "attention: block-local or relative-position attention takes no cache, causal or additive mask");
    const int64_t S = x->ne[1], T = c->kv_input ? c->kv_input->ne[1] : S;
    if (c->block > 0) {
        const int64_t bk = c->kv_block > 0 ? c->kv_block : c->block;
        const int64_t nq = (S + c->block - 1) / c->block, nk = (T + bk - 1) / bk;
        if (nq != nk)
            return hd_error_set(err, HD_ERR_SHAPE,
                                "attention: %lld queries in blocks of %lld and %lld keys in blocks of %lld "
                                "give different block counts (%lld, %lld)",
                                (long long)S, (long long)c->block, (long long)T, (long long)bk, (long long)nq,
                                (long long)nk);
    }
    if (c->rel_pos) {
        const hd_tensor *e = c->rel_pos;
        if (c->kv_input || (c->kv_block > 0 && c->kv_block != c->block))
            return hd_error_set(err, HD_ERR_ARG, "attention: relative positions need self-attention");
        if (c->rel_max < 0 || c->rel_clamp < 0 || c->rel_clamp > c->rel_max)
            return hd_error_set(err, HD_ERR_ARG, "attention: relative clamp %d outside [0, %d]", c->rel_clamp,
                                c->rel_max);
        if (e->ne[0] != w->head_dim || e->ne[1] != 2 * (int64_t)c->rel_max + 1 || e->ne[2] != 1 || e->ne[3] != 1)
            return hd_error_set(err, HD_ERR_SHAPE, "attention: relative-position table %s is [%lld, %lld], expected [%d, %lld]",
                                e->name ? e->name : "", (long long)e->ne[0], (long long)e->ne[1], w->head_dim,
                                2 * (long long)c->rel_max + 1);
    }
    return HD_OK;
}

static hd_status check_attn(const hd_nn_attn_w *w, const hd_tensor *x, const hd_tensor *y,
                            const hd_nn_attn_ctx *c, hd_error *err) {
    if (w->n_head <= 0 || w->n_kv_head <= 0 || w->head_dim <= 0 || w->n_head % w->n_kv_head)
        return hd_error_set(err, HD_ERR_ARG, "attention: bad head counts H=%d G=%d d=%d", w->n_head,
                            w->n_kv_head, w->head_dim);
    hd_status st = check_local(w, x, c, err);
    if (st) return st;
    if (x->type != HD_TYPE_F32 || y->type != HD_TYPE_F32 || y->ne[1] != x->ne[1] ||
        y->ne[0] != w->wo->ne[1])
        return hd_error_set(err, HD_ERR_SHAPE, "attention: input/output shapes do not match");
    if (c->inv_freq && (!c->pos || c->n_rot <= 0 || c->n_rot > w->head_dim || c->n_rot % 2))
        return hd_error_set(err, HD_ERR_ARG, "attention: bad RoPE setup (n_rot %d, head_dim %d)",
                            c->n_rot, w->head_dim);
    if ((c->k_cache != NULL) != (c->v_cache != NULL))
        return hd_error_set(err, HD_ERR_ARG, "attention: k and v caches must be given together");
    if ((c->kv_input || c->kv_cached) && c->inv_freq)
        return hd_error_set(err, HD_ERR_ARG, "attention: RoPE needs the keys' positions: not with cross-attention");
    if (c->kv_cached && (!c->k_cache || c->kv_input || c->n_past <= 0))
        return hd_error_set(err, HD_ERR_ARG, "attention: kv_cached needs a filled cache and no kv_input");
    if (c->kv_input && (c->kv_input->type != HD_TYPE_F32 || c->kv_input->ne[0] != w->wk->ne[0]))
        return hd_error_set(err, HD_ERR_SHAPE, "attention: kv_input width %lld, expected %lld",
                            (long long)c->kv_input->ne[0], (long long)w->wk->ne[0]);
    if (c->k_cache) {
        const hd_tensor *kc = c->k_cache, *vc = c->v_cache;
        if (kc->ne[0] != w->head_dim || kc->ne[1] != w->n_kv_head || vc->ne[0] != w->head_dim ||
            vc->ne[1] != w->n_kv_head || vc->ne[2] != kc->ne[2] || vc->type != kc->type)
            return hd_error_set(err, HD_ERR_SHAPE, "attention: KV cache does not match the heads");
        const int64_t n_new = c->kv_cached ? 0 : c->kv_input ? c->kv_input->ne[1] : x->ne[1];
        if (c->n_past < 0 || c->n_past + n_new > kc->ne[2])
            return hd_error_set(err, HD_ERR_ARG,
                                "attention: %lld cached + %lld new tokens exceed the cache of %lld",
                                (long long)c->n_past, (long long)n_new, (long long)kc->ne[2]);
    }
    return HD_OK;
}

/* Rows [from, from+n) of a cache ne={d, G, T}: a contiguous view. */
static hd_tensor cache_rows(const hd_tensor *cache, int64_t from, int64_t n) {
    hd_tensor t = *cache;
    t.data = (char *)cache->data + (size_t)from * cache->nb[2];
    t.ne[2] = n;
    t.n_dims = 3;
    return t;
}

/* k, v = src·W_{k,v}ᵀ (+ b) → ne={d, G, T} from the arena; k_norm on k;
 * RoPE on k when c gives frequencies (self-attention). */
static hd_status project_kv(hd_exec *ex, hd_arena *arena, const hd_nn_attn_w *w, const hd_tensor *src,
                            const hd_nn_attn_ctx *c, hd_tensor *k, hd_tensor *v, hd_error *err) {
    const int64_t G = w->n_kv_head, d = w->head_dim, T = src->ne[1];
    hd_tensor k2, v2;
    hd_status st;
    if ((st = linear_lora(ex, arena, &k2, w->wk, w->bk, w->lora_k, src, err))) return st;
    if ((st = linear_lora(ex, arena, &v2, w->wv, w->bv, w->lora_v, src, err))) return st;
    if (k2.ne[0] != G * d || v2.ne[0] != G * d)
        return hd_error_set(err, HD_ERR_SHAPE, "attention: key/value widths %lld/%lld, expected %lld",
                            (long long)k2.ne[0], (long long)v2.ne[0], (long long)(G * d));
    *k = nn_view3(&k2, d, G, T);
    *v = nn_view3(&v2, d, G, T);
    if (w->k_norm) {
        hd_tensor kr = hd_tensor_2d(HD_TYPE_F32, d, G * T, k->data);
        if ((st = hd_op_rms_norm(ex, &kr, &kr, w->k_norm, w->qk_norm_eps, err))) return st;
    }
    if (c && c->inv_freq) return hd_op_rope(ex, k, c->pos, c->inv_freq, c->n_rot, c->rope_mode, err);
    return HD_OK;
}

hd_status hd_nn_attention_kv(hd_exec *ex, hd_arena *arena, const hd_nn_attn_w *w, const hd_tensor *src,
                             hd_tensor *k_dst, hd_tensor *v_dst, hd_error *err) {
    const int64_t G = w->n_kv_head, d = w->head_dim;
    if (w->n_head <= 0 || G <= 0 || d <= 0 || w->n_head % G)
        return hd_error_set(err, HD_ERR_ARG, "attention: bad head counts H=%d G=%d d=%d", w->n_head, w->n_kv_head,
                            w->head_dim);
    if (src->type != HD_TYPE_F32 || src->ne[0] != w->wk->ne[0])
        return hd_error_set(err, HD_ERR_SHAPE, "attention: key/value input width %lld, expected %lld",
                            (long long)src->ne[0], (long long)w->wk->ne[0]);
    for (int i = 0; i < 2; i++) {
        const hd_tensor *t = i ? v_dst : k_dst;
        if (t->ne[0] != d || t->ne[1] != G || t->ne[2] != src->ne[1] || t->ne[3] != 1 ||
            (t->type != HD_TYPE_F32 && t->type != HD_TYPE_F16))
            return hd_error_set(err, HD_ERR_SHAPE, "attention: %s destination is not {%lld, %lld, %lld} F32/F16",
                                i ? "value" : "key", (long long)d, (long long)G, (long long)src->ne[1]);
    }
    size_t mark = hd_arena_mark(arena);
    hd_tensor k, v;
    hd_status st = project_kv(ex, arena, w, src, NULL, &k, &v, err);
    if (!st) st = hd_op_convert(ex, k_dst, &k, err);
    if (!st) st = hd_op_convert(ex, v_dst, &v, err);
    hd_arena_reset(arena, mark);
    return st;
}

/* One head of t ne={d, H, n} as a strided view ne={d, 1, n}. */
static hd_tensor head_view(const hd_tensor *t, int64_t h) {
    hd_tensor v = *t;
    v.data = (char *)t->data + (size_t)h * t->nb[1];
    v.ne[1] = 1;
    return v;
}

/* Shaw relative-position attention over one block: q ne={d, H, n} (a
 * contiguous slice), k, v ne={d, G, n}, o ne={d, H, n}.  Per head the bias
 *     M[i][j] = scale · q_i · E[clamp(i − j, −m, m) + rel_max]
 * (m = min(n − 1, rel_clamp), which is the configured clamp for |i − j| < n)
 * goes to hd_op_attention as its additive mask; the products q_i · E[r] of
 * every head come from one matrix product with the 2m+1 rows of E used. */
static hd_status shaw_block(hd_exec *ex, hd_arena *arena, hd_tensor *o, const hd_tensor *q, const hd_tensor *k,
                            const hd_tensor *v, const hd_nn_attn_ctx *c, float scale, hd_error *err) {
    const int64_t d = q->ne[0], H = q->ne[1], n = q->ne[2], rep = H / k->ne[1];
    const int64_t m = n - 1 < c->rel_clamp ? n - 1 : c->rel_clamp, nr = 2 * m + 1;
    const size_t mark = hd_arena_mark(arena);
    hd_tensor E = *c->rel_pos, R, M;
    E.data = (char *)E.data + (size_t)(c->rel_max - m) * E.nb[1];
    E.ne[1] = nr;
    E.n_dims = 2;
    hd_tensor qf = hd_tensor_2d(HD_TYPE_F32, d, H * n, q->data);
    hd_status st = nn_alloc(arena, &R, 2, nr, H * n, 1, "relative-position scores", err);
    if (!st) st = hd_op_linear(ex, &R, &E, &qf, NULL, err);   /* R[(i·H + h)·nr + r] = q_{i,h} · E[rel_max − m + r] */
    if (!st) st = nn_alloc(arena, &M, 2, n, n, 1, "relative-position bias", err);
    const float *r = R.data;
    float *mk = M.data;
    for (int64_t h = 0; h < H && !st; h++) {
        for (int64_t i = 0; i < n; i++) {
            const float *ri = r + (i * H + h) * nr + m;   /* ri[δ] for δ = i − j in [−m, m] */
            float *row = mk + i * n;
            for (int64_t j = 0; j < n; j++) {
                int64_t dl = i - j;
                dl = dl < -m ? -m : dl > m ? m : dl;
                row[j] = scale * ri[dl];
            }
        }
        hd_tensor qh = head_view(q, h), kh = head_view(k, h / rep), vh = head_view(v, h / rep), oh = head_view(o, h);
        hd_attn_params p = {.scale = scale, .mask = &M};
        st = hd_op_attention(ex, &oh, &qh, &kh, &vh, &p, err);
    }
    hd_arena_reset(arena, mark);
    return st;
}

/* Attention with c's block and relative-position options into o ne={d, H, S}. */
static hd_status attend_local(hd_exec *ex, hd_arena *arena, hd_tensor *o, const hd_tensor *q, const hd_tensor *K,
                              const hd_tensor *V, const hd_nn_attn_ctx *c, float scale, hd_error *err) {
    const int64_t S = q->ne[2], T = K->ne[2];
    const int64_t bq = c->block > 0 ? c->block : S;
    const int64_t bk = c->block > 0 ? (c->kv_block > 0 ? c->kv_block : c->block) : T;
    hd_status st = HD_OK;
    for (int64_t s0 = 0, t0 = 0; s0 < S && !st; s0 += bq, t0 += bk) {
        const int64_t ns = S - s0 < bq ? S - s0 : bq, nt = T - t0 < bk ? T - t0 : bk;
        hd_tensor qb = cache_rows(q, s0, ns), kb = cache_rows(K, t0, nt), vb = cache_rows(V, t0, nt),
                  ob = cache_rows(o, s0, ns);
        if (c->rel_pos) {
            st = shaw_block(ex, arena, &ob, &qb, &kb, &vb, c, scale, err);
        } else {
            hd_attn_params p = {.scale = scale};
            st = hd_op_attention(ex, &ob, &qb, &kb, &vb, &p, err);
        }
    }
    return st;
}

hd_status hd_nn_attention(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_attn_w *w,
                          const hd_tensor *x, const hd_nn_attn_ctx *c, hd_error *err) {
    hd_status st = check_attn(w, x, y, c, err);
    if (st) return st;
    const int64_t S = x->ne[1], H = w->n_head, d = w->head_dim;
    const hd_tensor *src = c->kv_input ? c->kv_input : x;   /* where keys and values come from */
    const int64_t T = src->ne[1];
    size_t mark = hd_arena_mark(arena);
    hd_tensor q2, o;

    /* q = x·W_qᵀ → [d, H, S] */
    if ((st = linear_lora(ex, arena, &q2, w->wq, w->bq, w->lora_q, x, err))) goto out;
    if (q2.ne[0] != H * d) {
        st = hd_error_set(err, HD_ERR_SHAPE, "attention: query width %lld, expected %lld", (long long)q2.ne[0],
                          (long long)(H * d));
        goto out;
    }
    hd_tensor q = nn_view3(&q2, d, H, S);
    if (w->q_norm) {   /* optional per-head RMSNorm (mllama cross-attention, ...) */
        hd_tensor qr = hd_tensor_2d(HD_TYPE_F32, d, H * S, q.data);
        if ((st = hd_op_rms_norm(ex, &qr, &qr, w->q_norm, w->qk_norm_eps, err))) goto out;
    }
    if (c->inv_freq && (st = hd_op_rope(ex, &q, c->pos, c->inv_freq, c->n_rot, c->rope_mode, err))) goto out;

    hd_tensor K, V;
    int64_t q_offset = 0;
    if (c->kv_cached) {
        /* keys and values computed earlier: the cache rows as they are */
        K = cache_rows(c->k_cache, 0, c->n_past);
        V = cache_rows(c->v_cache, 0, c->n_past);
    } else {
        if ((st = project_kv(ex, arena, w, src, c, &K, &V, err))) goto out;
        /* append to the cache; attend over everything cached so far */
        if (c->k_cache) {
            hd_tensor kdst = cache_rows(c->k_cache, c->n_past, T), vdst = cache_rows(c->v_cache, c->n_past, T);
            if ((st = hd_op_convert(ex, &kdst, &K, err))) goto out;
            if ((st = hd_op_convert(ex, &vdst, &V, err))) goto out;
            K = cache_rows(c->k_cache, 0, c->n_past + T);
            V = cache_rows(c->v_cache, 0, c->n_past + T);
            q_offset = c->n_past;
        }
    }
    if ((st = nn_alloc(arena, &o, 3, d, H, S, "attention output", err))) goto out;
    const float scale = w->scale != 0.0f ? w->scale : 1.0f / sqrtf((float)d);
    if (c->block > 0 || c->rel_pos) {
        if ((st = attend_local(ex, arena, &o, &q, &K, &V, c, scale, err))) goto out;
    } else {
        hd_attn_params p = {.scale = scale, .causal = c->causal, .q_offset = q_offset, .mask = c->mask};
        if ((st = hd_op_attention(ex, &o, &q, &K, &V, &p, err))) goto out;
    }

    /* y = o·W_oᵀ (+ b_o) */
    hd_tensor o2 = hd_tensor_2d(HD_TYPE_F32, H * d, S, o.data);
    st = hd_op_linear(ex, y, w->wo, &o2, w->bo, err);
    if (!st) st = hd_nn_lora_add(ex, arena, y, w->lora_o, &o2, err);
out:
    hd_arena_reset(arena, mark);
    return st;
}

/* ---- feed-forward -------------------------------------------------------- */

size_t hd_nn_mlp_scratch_bytes(const hd_nn_mlp_w *w, int64_t n_tokens) {
    int64_t F = w->up->ne[1];
    const hd_nn_lora *l[3] = {w->lora_gate, w->lora_up, w->lora_down};
    return (w->gate ? 2 : 1) * hd_nn_f32_bytes(F * n_tokens) + max_lora_bytes(l, 3, n_tokens);
}

static hd_status nn_act(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_nn_act act, hd_error *err) {
    switch (act) {
    case HD_NN_ACT_SILU: return hd_op_silu(ex, y, x, err);
    case HD_NN_ACT_GELU: return hd_op_gelu(ex, y, x, err);
    case HD_NN_ACT_GELU_ERF: return hd_op_gelu_erf(ex, y, x, err);
    }
    return hd_error_set(err, HD_ERR_ARG, "nn: unknown activation %d", (int)act);
}

hd_status hd_nn_mlp(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_mlp_w *w,
                    const hd_tensor *x, hd_error *err) {
    size_t mark = hd_arena_mark(arena);
    hd_status st;
    hd_tensor u, g;
    if ((st = linear_lora(ex, arena, &u, w->up, w->gate ? NULL : w->b_up, w->lora_up, x, err))) goto out;
    if (w->gate) {
        /* SwiGLU: u = act(gate·x) ⊙ (up·x) */
        if ((st = linear_lora(ex, arena, &g, w->gate, NULL, w->lora_gate, x, err))) goto out;
        if (w->act == HD_NN_ACT_SILU) {
            st = hd_op_swiglu(ex, &u, &g, &u, err);
        } else {
            if (!(st = nn_act(ex, &g, &g, w->act, err))) st = hd_op_mul(ex, &u, &g, &u, err);
        }
        if (st) goto out;
    } else {
        if ((st = nn_act(ex, &u, &u, w->act, err))) goto out;
    }
    st = hd_op_linear(ex, y, w->down, &u, w->b_down, err);
    if (!st) st = hd_nn_lora_add(ex, arena, y, w->lora_down, &u, err);
out:
    hd_arena_reset(arena, mark);
    return st;
}

/* ---- Conformer convolution module ---------------------------------------- */

size_t hd_nn_conv_module_scratch_bytes(const hd_nn_conv_w *w, int64_t n_tokens) {
    const int64_t D = w->pw1->ne[0], C = w->pw2->ne[0], T = n_tokens;
    const int64_t p = w->pad_left > w->pad_right ? w->pad_left : w->pad_right;
    /* norm, pw1 output, GLU, transposed, depthwise output (padded), back */
    return hd_nn_f32_bytes(D * T) + hd_nn_f32_bytes(2 * C * T) + 3 * hd_nn_f32_bytes(C * T) +
           hd_nn_f32_bytes(C * (T + 2 * p)) + 6 * NN_ALIGN;
}

hd_status hd_nn_conv_module(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_conv_w *w, const hd_tensor *x,
                            hd_error *err) {
    const int64_t D = x->ne[0], T = x->ne[1], C = w->pw2->ne[0];
    const int64_t K = w->dw->ne[0], pl = w->pad_left, pr = w->pad_right, p = pl > pr ? pl : pr;
    if (pl < 0 || pr < 0 || pl + pr != K - 1)
        return hd_error_set(err, HD_ERR_ARG, "conv module: padding %lld + %lld does not keep the length for kernel %lld",
                            (long long)pl, (long long)pr, (long long)K);
    if (w->pw1->ne[1] != 2 * C || w->dw->ne[2] != C || w->dw->ne[1] != 1 || w->pw2->ne[1] != D ||
        w->pw1->ne[0] != D || y->ne[0] != D || y->ne[1] != T)
        return hd_error_set(err, HD_ERR_SHAPE, "conv module: weights do not fit D=%lld, C=%lld", (long long)D,
                            (long long)C);
    if (T == 0) return HD_OK;
    const size_t mark = hd_arena_mark(arena);
    hd_tensor h, pw, g, tc, dc, back;
    hd_status st;
    if ((st = nn_alloc(arena, &h, 2, D, T, 1, "conv module norm", err)) || (st = hd_nn_norm(ex, &h, x, &w->norm, err)) ||
        (st = hd_nn_linear(ex, arena, &pw, w->pw1, w->pw1_b, &h, err)) ||                              /* {2C, T} */
        (st = nn_alloc(arena, &g, 2, C, T, 1, "conv module GLU", err)) || (st = hd_op_glu(ex, &g, &pw, err)) ||
        (st = nn_alloc(arena, &tc, 2, T, C, 1, "conv module transpose", err)) ||
        (st = hd_op_transpose(ex, &tc, &g, err)) ||                                                     /* {T, C} */
        (st = nn_alloc(arena, &dc, 2, T + 2 * p - K + 1, C, 1, "conv module depthwise", err)) ||
        (st = hd_op_conv1d(ex, &dc, &tc, w->dw, w->dw_b, 1, (int)p, (int)C, err)))
        goto out;
    if (pl != pr) {
        /* symmetric padding p gave T + 2p − K + 1 outputs per channel; output t
         * with pad_left pl is output t + p − pl of those: keep T of them. */
        const int64_t To = dc.ne[0], off = p - pl;
        float *dd = dc.data;
        for (int64_t ch = 0; ch < C; ch++) memmove(dd + ch * T, dd + ch * To + off, (size_t)T * sizeof *dd);
        dc = hd_tensor_2d(HD_TYPE_F32, T, C, dd);
    }
    if ((st = hd_op_batch_norm(ex, &dc, &dc, w->bn_mean, w->bn_var, w->bn_w, w->bn_b, w->bn_eps, err)) ||
        (st = hd_op_silu(ex, &dc, &dc, err)) || (st = nn_alloc(arena, &back, 2, C, T, 1, "conv module output", err)) ||
        (st = hd_op_transpose(ex, &back, &dc, err)))                                                    /* {C, T} */
        goto out;
    st = hd_op_linear(ex, y, w->pw2, &back, w->pw2_b, err);
out:
    hd_arena_reset(arena, mark);
    return st;
}

/* ---- the pre-norm transformer layer -------------------------------------- */

size_t hd_nn_layer_scratch_bytes(const hd_nn_layer_w *w, int64_t n_tokens) {
    int64_t D = w->attn.wo->ne[1];
    size_t a = hd_nn_attention_scratch_bytes(&w->attn, n_tokens);
    size_t m = hd_nn_mlp_scratch_bytes(&w->mlp, n_tokens);
    return 2 * hd_nn_f32_bytes(D * n_tokens) + (a > m ? a : m);
}

/* x = x + m·tanh(gate)·r ⊙ h  (m 0: 1; gate NULL: factor 1; r NULL: all ones) */
static hd_status residual(hd_exec *ex, hd_tensor *x, hd_tensor *h, const hd_tensor *gate, const float *r, float m,
                          hd_error *err) {
    float g = 1.0f;
    if (gate) {
        float gv;
        const hd_type_traits *tr = hd_type_get(gate->type);
        if (hd_tensor_nelements(gate) != 1 || !tr || tr->block_size != 1)
            return hd_error_set(err, HD_ERR_SHAPE, "layer: gate %s must be one float",
                                gate->name ? gate->name : "");
        hd_dequantize_row(gate->type, gate->data, &gv, 1);
        g = tanhf(gv);
    }
    if (m != 0.0f) g *= m;
    if (r) {
        /* per token: a factor 0 adds exactly nothing (SPEC §2.8: such rows skip the block) */
        const int64_t D = h->ne[0], S = h->ne[1];
        float *hd = h->data;
        for (int64_t s = 0; s < S; s++) {
            const float f = g * r[s];
            float *row = hd + s * D;
            if (f == 0.0f) memset(row, 0, (size_t)D * sizeof *row);
            else if (f != 1.0f)
                for (int64_t j = 0; j < D; j++) row[j] *= f;
        }
    } else if (g != 1.0f) {
        hd_status st = hd_op_scale(ex, h, h, g, err);
        if (st) return st;
    }
    return hd_op_add(ex, x, x, h, err);
}

hd_status hd_nn_layer(hd_exec *ex, hd_arena *arena, hd_tensor *x, const hd_nn_layer_w *w,
                      const hd_nn_attn_ctx *c, hd_error *err) {
    size_t mark = hd_arena_mark(arena);
    const int64_t D = x->ne[0], S = x->ne[1];
    hd_tensor a, h;
    hd_status st;
    if ((st = nn_alloc(arena, &a, 2, D, S, 1, "layer input norm", err))) goto out;
    if ((st = nn_alloc(arena, &h, 2, D, S, 1, "layer residual branch", err))) goto out;

    /* x = x + attention(norm(x)) */
    if ((st = hd_nn_norm(ex, &a, x, &w->attn_norm, err))) goto out;
    if ((st = hd_nn_attention(ex, arena, &h, &w->attn, &a, c, err))) goto out;
    if ((st = residual(ex, x, &h, w->attn_gate, c->attn_row_scale, w->residual_scale, err))) goto out;

    /* x = x + mlp(norm(x)) */
    if ((st = hd_nn_norm(ex, &a, x, &w->mlp_norm, err))) goto out;
    if ((st = hd_nn_mlp(ex, arena, &h, &w->mlp, &a, err))) goto out;
    st = residual(ex, x, &h, w->mlp_gate, c->mlp_row_scale, w->residual_scale, err);
out:
    hd_arena_reset(arena, mark);
    return st;
}

/* ---- rotary positions ------------------------------------------------------ */

void hd_nn_rope_freqs(float theta, int d, float *inv_freq) {
    for (int i = 0; i < d / 2; i++) inv_freq[i] = (float)pow((double)theta, -2.0 * i / d);
}

hd_status hd_nn_positions(int32_t **pos, int64_t *cap, int64_t n, const char *who, hd_error *err) {
    if (n <= *cap) return HD_OK;
    int32_t *p = realloc(*pos, (size_t)n * sizeof *p);
    if (!p) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %lld positions", who, (long long)n);
    for (int64_t i = *cap; i < n; i++) p[i] = (int32_t)i;
    *pos = p, *cap = n;
    return HD_OK;
}
