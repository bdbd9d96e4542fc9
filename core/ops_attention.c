/* core/ops_attention.c — scaled dot-product attention with GQA, causal and
 * additive masks, F32 or F16 K/V; row softmax (core/ops.h).
 *
 * Attention streams the keys in blocks of ATTN_BLOCK with an online softmax
 * (running max m and sum l per query head; the output row itself is the
 * accumulator and is rescaled by e^(m_old − m_new) when the max grows), so
 * it needs no buffer proportional to the number of keys: the scores of one
 * block (and an F16 K/V block converted to F32, shared by the heads of a work
 * item, ~65 KiB of stack in all) live on the stack and nothing is taken from
 * ex->scratch or malloc, whatever the sequence length.
 *
 * Work item = (a tile of queries, KV head g, up to ATTN_HEADS of the H/G
 * query heads sharing g), at most ATTN_ROWS (query, head) rows: the rows of
 * an item reuse each K/V block while it is in L1.  Decode (one query) gives
 * one item per KV head group; prefill gives many.  Items are spread over
 * ex->pool.
 *
 * Many queries without a causal mask against F32 K/V (encoders: ViT, Whisper,
 * Conformer) go instead to the level's attention tiles where it has them
 * (kernels.h attn_tile, AVX-512): per thread HD_ATTN_TILE_WS(d) floats and one
 * byte per (32 queries × HD_ATTN_TILE_KB keys) block of the mask, taken from
 * ex->scratch when set (else malloc; without memory the rows above do it).
 */
#include "ops.h"
#include "ops_internal.h"

#include "backend.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATTN_BLOCK 64          /* keys per block */
#define ATTN_HEADS 8           /* query heads per work item (of one KV group) */
#define ATTN_ROWS 32           /* (query, head) rows per work item */
#define ATTN_CVT_FLOATS 8192   /* F16 K (and V) block converted to F32 on the stack: 2 × 32 KiB */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *out, *q, *kt, *vt, *mask;
    float scale;
    bool causal;
    int64_t q_offset;
    int64_t H, G, S, T, d;
    int64_t rep;      /* H / G: query heads per KV head                      */
    int64_t nh;       /* heads per item: min(rep, ATTN_HEADS)                 */
    int64_t n_sub;    /* head groups per KV head: ceil(rep / nh)              */
    int64_t qt;       /* queries per item: ATTN_ROWS / nh, at most S          */
    int64_t n_qt;     /* query tiles: ceil(S / qt)                            */
} attn_ctx;

/* Item it = ((tile · G) + g) · n_sub + sub: queries [tile·qt, +qt) × heads
 * [g·rep + sub·nh, +nh).  Every K/V block is read (and converted) once per
 * item and used by all its rows while it is in L1. */
static void attn_items(void *p, int64_t ib, int64_t ie, int tid) {
    (void)tid;
    const attn_ctx *c = p;
    const hd_ops_kern *k = c->k;
    const int64_t d = c->d;
    float sc[ATTN_ROWS][ATTN_BLOCK];
    float m[ATTN_ROWS], l[ATTN_ROWS];
    float *orow[ATTN_ROWS];
    const float *qrow[ATTN_ROWS], *mrow[ATTN_ROWS];
    int64_t vis[ATTN_ROWS];   /* keys row r may see */
    float kbuf[ATTN_CVT_FLOATS], vbuf[ATTN_CVT_FLOATS];
    /* Keys per block: fewer when a converted F16 block would not fit the buffers. */
    int64_t blk = ATTN_BLOCK;
    const bool f16_kv = c->kt->type == HD_TYPE_F16 || c->vt->type == HD_TYPE_F16;
    if (f16_kv && d * blk > ATTN_CVT_FLOATS) blk = ATTN_CVT_FLOATS / d;
    if (blk < 1) blk = ATTN_BLOCK;  /* d > 8192: use the F16 kernels directly */
    const bool cvt_k = c->kt->type == HD_TYPE_F16 && d * blk <= ATTN_CVT_FLOATS;
    const bool cvt_v = c->vt->type == HD_TYPE_F16 && d * blk <= ATTN_CVT_FLOATS;
    for (int64_t it = ib; it < ie; it++) {
        const int64_t sub = it % c->n_sub, g = (it / c->n_sub) % c->G, tile = it / (c->n_sub * c->G);
        const int64_t h0 = g * c->rep + sub * c->nh;
        int64_t h1 = h0 + c->nh;
        if (h1 > (g + 1) * c->rep) h1 = (g + 1) * c->rep;
        const int64_t s0 = tile * c->qt;
        int64_t s1 = s0 + c->qt;
        if (s1 > c->S) s1 = c->S;
        int nr = 0;
        int64_t n_vis = 0; /* keys any row of the item sees */
        for (int64_t s = s0; s < s1; s++)
            for (int64_t h = h0; h < h1; h++, nr++) {
                orow[nr] = (float *)hd_tensor_row(c->out, h, s, 0);
                qrow[nr] = (const float *)hd_tensor_row(c->q, h, s, 0);
                mrow[nr] = c->mask ? (const float *)hd_tensor_row(c->mask, s, 0, 0) : NULL;
                vis[nr] = c->T;
                if (c->causal && c->q_offset + s + 1 < vis[nr]) vis[nr] = c->q_offset + s + 1;
                if (vis[nr] > n_vis) n_vis = vis[nr];
                memset(orow[nr], 0, (size_t)d * sizeof(float));
                m[nr] = -INFINITY;
                l[nr] = 0.0f;
            }
        for (int64_t t0 = 0; t0 < n_vis; t0 += blk) {
            const int nk = (int)(n_vis - t0 < blk ? n_vis - t0 : blk);
            const char *kb = (const char *)hd_tensor_row(c->kt, g, t0, 0);
            const char *vb = (const char *)hd_tensor_row(c->vt, g, t0, 0);
            size_t ks = c->kt->nb[2], vs = c->vt->nb[2];
            /* F16 blocks are converted once and shared by the item's rows */
            if (cvt_k) {
                k->f16_rows(kbuf, (const hd_f16 *)kb, ks, nk, d);
                kb = (const char *)kbuf;
                ks = (size_t)d * sizeof(float);
            }
            if (cvt_v) {
                k->f16_rows(vbuf, (const hd_f16 *)vb, vs, nk, d);
                vb = (const char *)vbuf;
                vs = (size_t)d * sizeof(float);
            }
            const bool f32_k = c->kt->type == HD_TYPE_F32 || cvt_k;
            int r4 = 0; /* rows below r4 already have their scores */
            if (f32_k)
                for (; r4 + 4 <= nr; r4 += 4) {
                    /* scores of four rows at once, for the keys the last (latest) of them sees */
                    const int nkr = (int)(vis[r4 + 3] - t0 < nk ? vis[r4 + 3] - t0 : nk);
                    if (nkr > 0) k->dots4_f32(sc[r4], ATTN_BLOCK, qrow + r4, (const float *)kb, ks, nkr, d, c->scale);
                }
            /* scores → probabilities (sc[r][j] = 0 for keys row r does not see) */
            for (int r = 0; r < nr; r++) {
                int nkr = (int)(vis[r] - t0 < nk ? vis[r] - t0 : nk); /* causal: fewer keys */
                if (nkr < 0) nkr = 0;
                float *s_ = sc[r];
                if (nkr > 0 && r >= r4) {
                    if (f32_k)
                        k->dots_f32(s_, qrow[r], (const float *)kb, ks, nkr, d, c->scale);
                    else
                        k->dots_f16(s_, qrow[r], (const hd_f16 *)kb, ks, nkr, d, c->scale);
                }
                if (nkr > 0 && mrow[r]) k->add(s_, s_, mrow[r] + t0, nkr);
                const float bm = nkr > 0 ? k->max(s_, nkr) : -INFINITY;
                if (bm == -INFINITY) { /* nothing visible in this block */
                    memset(s_, 0, (size_t)nk * sizeof *s_);
                    continue;
                }
                if (bm > m[r]) {
                    if (m[r] != -INFINITY) {
                        const float f = expf(m[r] - bm);
                        k->scale(orow[r], orow[r], f, d);
                        l[r] *= f;
                    }
                    m[r] = bm;
                }
                l[r] += k->exp_sum(s_, nkr, 1.0f, m[r]);
                if (nkr < nk) memset(s_ + nkr, 0, (size_t)(nk - nkr) * sizeof *s_);
            }
            /* out += p · V, four rows per V load where possible */
            const bool f32_v = c->vt->type == HD_TYPE_F32 || cvt_v;
            int w4 = 0;
            if (f32_v)
                for (; w4 + 4 <= nr; w4 += 4) {
                    const int nkr = (int)(vis[w4 + 3] - t0 < nk ? vis[w4 + 3] - t0 : nk);
                    if (nkr > 0) k->wsum4_f32(orow + w4, sc[w4], ATTN_BLOCK, (const float *)vb, vs, nkr, d);
                }
            for (int r = w4; r < nr; r++) {
                const int nkr = (int)(vis[r] - t0 < nk ? vis[r] - t0 : nk);
                if (nkr <= 0) continue;
                if (f32_v)
                    k->wsum_f32(orow[r], sc[r], (const float *)vb, vs, nkr, d);
                else
                    k->wsum_f16(orow[r], sc[r], (const hd_f16 *)vb, vs, nkr, d);
            }
        }
        /* l == 0 only when no key was visible: the row stays zero. */
        for (int r = 0; r < nr; r++)
            if (l[r] > 0.0f) k->scale(orow[r], orow[r], 1.0f / l[r], d);
    }
}

/* ---- many queries, no causal mask, F32 K/V: the level's attention tiles ------------- */

/* Query tiles of HD_ATTN_TILE_Q from this many queries per head (fewer would leave most
 * of a tile's 32 lanes idle: the row kernels above are faster then). */
#define ATTN_TILE_MIN_S 16

typedef struct {
    hd_attn_tile_fn fn;
    const hd_tensor *out, *q, *kt, *vt, *mask;
    float scale;
    int64_t H, S, T, d, rep, n_qt;
    uint8_t *mcls;   /* [ceil(S/32)][nbk] mask block classes (kernels.h), NULL: none */
    float *ws;       /* per thread HD_ATTN_TILE_WS(d) floats */
    int64_t nbk;     /* key blocks: ceil(T / HD_ATTN_TILE_KB) */
} tile_ctx;

/* Classes of the mask blocks of query tiles [t0, t1): one pass over the mask instead of
 * one per head, and most blocks of a padding mask are then never read (only zeros) or
 * not computed at all (only −∞). */
static void mask_classes(void *p, int64_t t0, int64_t t1, int tid) {
    (void)tid;
    const tile_ctx *c = p;
    for (int64_t t = t0; t < t1; t++) {
        uint8_t *cls = c->mcls + t * c->nbk;
        memset(cls, 0, (size_t)c->nbk); /* bit 0: a value other than 0; bit 1: other than −∞ */
        const int64_t r1 = (t + 1) * HD_ATTN_TILE_Q < c->S ? (t + 1) * HD_ATTN_TILE_Q : c->S;
        for (int64_t r = t * HD_ATTN_TILE_Q; r < r1; r++) {
            const float *m = (const float *)hd_tensor_row(c->mask, r, 0, 0);
            for (int64_t b = 0; b < c->nbk; b++) {
                const int64_t j0 = b * HD_ATTN_TILE_KB, j1 = j0 + HD_ATTN_TILE_KB < c->T ? j0 + HD_ATTN_TILE_KB : c->T;
                int nz = 0, ni = 0;
                for (int64_t j = j0; j < j1; j++) {
                    nz |= m[j] != 0.0f;
                    ni |= m[j] != -INFINITY;
                }
                cls[b] |= (uint8_t)(nz | ni << 1);
            }
        }
        for (int64_t b = 0; b < c->nbk; b++)
            cls[b] = !(cls[b] & 1) ? HD_ATTN_MASK_ZERO : !(cls[b] & 2) ? HD_ATTN_MASK_NONE : HD_ATTN_MASK_MIXED;
    }
}

/* Item it = h · n_qt + tile (a tile: HD_ATTN_TILE_Q · HD_ATTN_TILES queries); consecutive
 * items share a head's keys and values. */
static void attn_tiles(void *p, int64_t ib, int64_t ie, int tid) {
    const tile_ctx *c = p;
    float *ws = c->ws + (size_t)tid * HD_ATTN_TILE_WS(c->d);
    for (int64_t it = ib; it < ie; it++) {
        const int64_t per = HD_ATTN_TILE_Q * HD_ATTN_TILES;
        const int64_t h = it / c->n_qt, s0 = (it % c->n_qt) * per, g = h / c->rep;
        const int nq = (int)(c->S - s0 < per ? c->S - s0 : per);
        c->fn(c->d, nq, c->T, c->scale, (const float *)hd_tensor_row(c->q, h, s0, 0), c->q->nb[2] / sizeof(float),
              (const float *)hd_tensor_row(c->kt, g, 0, 0), c->kt->nb[2] / sizeof(float),
              (const float *)hd_tensor_row(c->vt, g, 0, 0), c->vt->nb[2] / sizeof(float),
              c->mask ? (const float *)hd_tensor_row(c->mask, s0, 0, 0) : NULL,
              c->mask ? c->mask->nb[1] / sizeof(float) : 0,
              c->mcls ? c->mcls + (s0 / HD_ATTN_TILE_Q) * c->nbk : NULL, (size_t)c->nbk,
              (float *)hd_tensor_row(c->out, h, s0, 0),
              c->out->nb[2] / sizeof(float), ws);
    }
}

/* Whether a row of t (F32) and its row strides are whole floats the tile kernel can step by. */
static bool float_rows(const hd_tensor *t) {
    return t->type == HD_TYPE_F32 && t->nb[0] == sizeof(float) && t->nb[1] % sizeof(float) == 0 &&
           t->nb[2] % sizeof(float) == 0;
}

hd_status hd_op_attention(hd_exec *ex, hd_tensor *out, const hd_tensor *q, const hd_tensor *k,
                          const hd_tensor *v, const hd_attn_params *p, hd_error *err) {
    hd_status st;
    const char *op = "attention";
    if ((st = hd_ops_check_backend(op, ex, err))) return st;
    if (!p) return hd_error_set(err, HD_ERR_ARG, "attention: parameters missing");
    if ((st = hd_ops_check(op, "q", q, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check(op, "out", out, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_f32_f16(op, "k", k, err))) return st;
    if ((st = hd_ops_check_f32_f16(op, "v", v, err))) return st;
    const int64_t d = q->ne[0], H = q->ne[1], S = q->ne[2], G = k->ne[1], T = k->ne[2];
    char s1[96], s2[96], s3[96];
    if (q->ne[3] != 1 || k->ne[3] != 1 || v->ne[3] != 1 || k->ne[0] != d || v->ne[0] != d || v->ne[1] != G ||
        v->ne[2] != T)
        return hd_error_set(err, HD_ERR_SHAPE, "attention: q %s, k %s, v %s do not fit q [d, H, S], k/v [d, G, T]",
                            hd_tensor_shape_str(q, s1, sizeof s1), hd_tensor_shape_str(k, s2, sizeof s2),
                            hd_tensor_shape_str(v, s3, sizeof s3));
    if (G <= 0 || H % G != 0)
        return hd_error_set(err, HD_ERR_SHAPE, "attention: %lld query heads are not a multiple of %lld KV heads",
                            (long long)H, (long long)G);
    if ((st = hd_ops_check_same(op, "out", out, "q", q, err))) return st;
    if (p->mask) {
        if ((st = hd_ops_check(op, "mask", p->mask, HD_TYPE_F32, err))) return st;
        if (p->mask->ne[0] != T || p->mask->ne[1] != S || p->mask->ne[2] != 1 || p->mask->ne[3] != 1)
            return hd_error_set(err, HD_ERR_SHAPE, "attention: mask has shape %s, expected [%lld, %lld] (keys, queries)",
                                hd_tensor_shape_str(p->mask, s1, sizeof s1), (long long)T, (long long)S);
    }
    if (!isfinite(p->scale)) return hd_error_set(err, HD_ERR_ARG, "attention: scale %g is not finite", (double)p->scale);
    if (p->q_offset < 0)
        return hd_error_set(err, HD_ERR_ARG, "attention: q_offset %lld is negative", (long long)p->q_offset);
    if (hd_ops_overlap(out, q) || hd_ops_overlap(out, k) || hd_ops_overlap(out, v))
        return hd_error_set(err, HD_ERR_ARG, "attention: out must not overlap q, k or v");
    if (d == 0 || H == 0 || S == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, op, &st, err);
    if (bk) return bk->attention(ex, out, q, k, v, p, err);

    const hd_kernels *kk = hd_kernels_get(hd_cpu_level_get());
    if (kk->attn_tile && !p->causal && S >= ATTN_TILE_MIN_S && T > 0 && float_rows(q) &&
        float_rows(out) && float_rows(k) && float_rows(v) && (!p->mask || float_rows(p->mask))) {
        tile_ctx t = {.fn = kk->attn_tile, .out = out, .q = q, .kt = k, .vt = v, .mask = p->mask, .scale = p->scale,
                      .H = H, .S = S, .T = T, .d = d, .rep = H / G,
                      .n_qt = (S + HD_ATTN_TILE_Q * HD_ATTN_TILES - 1) / (HD_ATTN_TILE_Q * HD_ATTN_TILES),
                      .nbk = (T + HD_ATTN_TILE_KB - 1) / HD_ATTN_TILE_KB};
        /* per-thread tiles and the mask's block classes: from ex->scratch when there is one,
         * else malloc; without memory the rows below do the work (and need none) */
        const int64_t n_tiles = (S + HD_ATTN_TILE_Q - 1) / HD_ATTN_TILE_Q;
        const size_t ws_bytes = HD_ATTN_TILE_WS(d) * sizeof(float) * (size_t)hd_threadpool_size(hd_ops_pool(ex));
        const size_t cls_bytes = p->mask ? (size_t)(n_tiles * t.nbk) : 0;
        hd_arena *arena = ex ? ex->scratch : NULL;
        const size_t mark = arena ? hd_arena_mark(arena) : 0;
        void *heap = NULL;
        char *buf = arena ? hd_arena_alloc(arena, ws_bytes + cls_bytes) : NULL;
        if (!buf && posix_memalign(&heap, 64, ws_bytes + cls_bytes + 1) == 0) buf = heap;
        if (buf) {
            t.ws = (float *)buf;
            if (p->mask) {
                t.mcls = (uint8_t *)buf + ws_bytes;
                hd_parallel_for(hd_ops_pool(ex), n_tiles, 1, mask_classes, &t);
            }
            hd_parallel_for(hd_ops_pool(ex), H * t.n_qt, 1, attn_tiles, &t);
            if (arena) hd_arena_reset(arena, mark);
            free(heap);
            return HD_OK;
        }
        if (arena) hd_arena_reset(arena, mark);
    }
    attn_ctx c = {.k = hd_ops_kern_get(), .out = out, .q = q, .kt = k, .vt = v, .mask = p->mask,
                  .scale = p->scale, .causal = p->causal, .q_offset = p->q_offset,
                  .H = H, .G = G, .S = S, .T = T, .d = d, .rep = H / G};
    c.nh = c.rep < ATTN_HEADS ? c.rep : ATTN_HEADS;
    c.n_sub = (c.rep + c.nh - 1) / c.nh;
    c.qt = ATTN_ROWS / c.nh;
    if (c.qt > S) c.qt = S;
    c.n_qt = (S + c.qt - 1) / c.qt;
    /* Grain: one item is already T·d·rows work; keep items separate unless tiny. */
    int64_t per_item = (T ? T : 1) * d * c.nh * c.qt;
    int64_t grain = HD_OPS_GRAIN_ELEMS / per_item;
    hd_parallel_for(hd_ops_pool(ex), c.n_qt * G * c.n_sub, grain < 1 ? 1 : grain, attn_items, &c);
    return HD_OK;
}

/* ---- softmax over each row, after multiplying by scale ---------------------- */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *x;
    float scale;
} sm_ctx;

static void sm_rows(void *p, int64_t rb, int64_t re, int tid) {
    (void)tid;
    const sm_ctx *c = p;
    const int64_t n = c->x->ne[0];
    for (int64_t r = rb; r < re; r++) {
        float *x = (float *)hd_ops_row(c->x, r);
        if (c->scale != 1.0f) c->k->scale(x, x, c->scale, n);
        const float mx = c->k->max(x, n);
        if (mx == -INFINITY) { /* nothing to attend to: zeros, not NaN */
            memset(x, 0, (size_t)n * sizeof *x);
            continue;
        }
        const float sum = c->k->exp_sum(x, n, 1.0f, mx);
        c->k->scale(x, x, 1.0f / sum, n);
    }
}

hd_status hd_op_softmax(hd_exec *ex, hd_tensor *x, float scale, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("softmax", ex, err))) return st;
    if ((st = hd_ops_check("softmax", "x", x, HD_TYPE_F32, err))) return st;
    if (!isfinite(scale)) return hd_error_set(err, HD_ERR_ARG, "softmax: scale %g is not finite", (double)scale);
    if (x->ne[0] == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "softmax", &st, err);
    if (bk) return bk->softmax(ex, x, scale, err);
    sm_ctx c = {hd_ops_kern_get(), x, scale};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), sm_rows, &c);
    return HD_OK;
}
