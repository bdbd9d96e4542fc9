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
 * Work item = (query s, KV head g, up to ATTN_HEADS of the H/G query heads
 * sharing g): the heads of an item reuse each K/V block while it is in
 * cache.  Items are spread over ex->pool.
 */
#include "ops.h"
#include "ops_internal.h"

#include <math.h>
#include <string.h>

#define ATTN_BLOCK 64          /* keys per block */
#define ATTN_HEADS 8           /* query heads per work item */
#define ATTN_CVT_FLOATS 8192   /* F16 K (and V) block converted to F32 on the stack: 2 × 32 KiB */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *out, *q, *kt, *vt, *mask;
    float scale;
    bool causal;
    int64_t q_offset;
    int64_t H, G, S, T, d;
    int64_t rep;      /* H / G */
    int64_t n_sub;    /* work items per (s, g) */
} attn_ctx;

static void attn_items(void *p, int64_t ib, int64_t ie, int tid) {
    (void)tid;
    const attn_ctx *c = p;
    const hd_ops_kern *k = c->k;
    const int64_t d = c->d;
    float sc[ATTN_HEADS][ATTN_BLOCK];
    float m[ATTN_HEADS], l[ATTN_HEADS];
    float kbuf[ATTN_CVT_FLOATS], vbuf[ATTN_CVT_FLOATS];
    /* Keys per block: fewer when a converted F16 block would not fit the buffers. */
    int64_t blk = ATTN_BLOCK;
    const bool f16_kv = c->kt->type == HD_TYPE_F16 || c->vt->type == HD_TYPE_F16;
    if (f16_kv && d * blk > ATTN_CVT_FLOATS) blk = ATTN_CVT_FLOATS / d;
    if (blk < 1) blk = ATTN_BLOCK;  /* d > 8192: use the F16 kernels directly */
    const bool cvt_k = c->kt->type == HD_TYPE_F16 && d * blk <= ATTN_CVT_FLOATS;
    const bool cvt_v = c->vt->type == HD_TYPE_F16 && d * blk <= ATTN_CVT_FLOATS;
    for (int64_t it = ib; it < ie; it++) {
        const int64_t sub = it % c->n_sub, g = (it / c->n_sub) % c->G, s = it / (c->n_sub * c->G);
        const int64_t h0 = g * c->rep + sub * ATTN_HEADS;
        int64_t h1 = h0 + ATTN_HEADS;
        if (h1 > (g + 1) * c->rep) h1 = (g + 1) * c->rep;
        const int nh = (int)(h1 - h0);

        int64_t n_vis = c->T;
        if (c->causal && c->q_offset + s + 1 < n_vis) n_vis = c->q_offset + s + 1;
        const float *mrow = c->mask ? (const float *)hd_tensor_row(c->mask, s, 0, 0) : NULL;
        float *orow[ATTN_HEADS];
        const float *qrow[ATTN_HEADS];
        for (int hh = 0; hh < nh; hh++) {
            orow[hh] = (float *)hd_tensor_row(c->out, h0 + hh, s, 0);
            qrow[hh] = (const float *)hd_tensor_row(c->q, h0 + hh, s, 0);
            memset(orow[hh], 0, (size_t)d * sizeof(float));
            m[hh] = -INFINITY;
            l[hh] = 0.0f;
        }
        for (int64_t t0 = 0; t0 < n_vis; t0 += blk) {
            const int nk = (int)(n_vis - t0 < blk ? n_vis - t0 : blk);
            const char *kb = (const char *)hd_tensor_row(c->kt, g, t0, 0);
            const char *vb = (const char *)hd_tensor_row(c->vt, g, t0, 0);
            size_t ks = c->kt->nb[2], vs = c->vt->nb[2];
            /* The rows of one KV head are strided (by G rows) in the cache: ask for the
             * next block early so the loads overlap this block's arithmetic. */
            if (t0 + blk < n_vis) {
                const int nn = (int)(n_vis - t0 - blk < blk ? n_vis - t0 - blk : blk);
                const size_t kr = (size_t)d * (c->kt->type == HD_TYPE_F16 ? 2 : 4);
                const size_t vr = (size_t)d * (c->vt->type == HD_TYPE_F16 ? 2 : 4);
                for (int j = 0; j < nn; j++) {
                    const char *pk = kb + (size_t)(blk + j) * ks, *pv = vb + (size_t)(blk + j) * vs;
                    for (size_t o = 0; o < kr; o += 64) __builtin_prefetch(pk + o);
                    for (size_t o = 0; o < vr; o += 64) __builtin_prefetch(pv + o);
                }
            }
            /* F16 blocks are converted once and shared by the item's heads */
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
            for (int hh = 0; hh < nh; hh++) {
                float *s_ = sc[hh];
                if (c->kt->type == HD_TYPE_F16 && !cvt_k)
                    k->dots_f16(s_, qrow[hh], (const hd_f16 *)kb, ks, nk, d, c->scale);
                else
                    k->dots_f32(s_, qrow[hh], (const float *)kb, ks, nk, d, c->scale);
                if (mrow) k->add(s_, s_, mrow + t0, nk);
                const float bm = k->max(s_, nk);
                if (bm == -INFINITY) continue; /* the whole block is masked */
                if (bm > m[hh]) {
                    if (m[hh] != -INFINITY) {
                        const float f = expf(m[hh] - bm);
                        k->scale(orow[hh], orow[hh], f, d);
                        l[hh] *= f;
                    }
                    m[hh] = bm;
                }
                l[hh] += k->exp_sum(s_, nk, 1.0f, m[hh]);
                if (c->vt->type == HD_TYPE_F16 && !cvt_v)
                    k->wsum_f16(orow[hh], s_, (const hd_f16 *)vb, vs, nk, d);
                else
                    k->wsum_f32(orow[hh], s_, (const float *)vb, vs, nk, d);
            }
        }
        /* l == 0 only when no key was visible: the row stays zero. */
        for (int hh = 0; hh < nh; hh++)
            if (l[hh] > 0.0f) k->scale(orow[hh], orow[hh], 1.0f / l[hh], d);
    }
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

    attn_ctx c = {.k = hd_ops_kern_get(), .out = out, .q = q, .kt = k, .vt = v, .mask = p->mask,
                  .scale = p->scale, .causal = p->causal, .q_offset = p->q_offset,
                  .H = H, .G = G, .S = S, .T = T, .d = d, .rep = H / G};
    c.n_sub = (c.rep + ATTN_HEADS - 1) / ATTN_HEADS;
    /* Grain: one item is already T·d·(heads) work; keep items separate unless tiny. */
    int64_t per_item = (T ? T : 1) * d * (c.rep < ATTN_HEADS ? c.rep : ATTN_HEADS);
    int64_t grain = HD_OPS_GRAIN_ELEMS / per_item;
    hd_parallel_for(hd_ops_pool(ex), S * G * c.n_sub, grain < 1 ? 1 : grain, attn_items, &c);
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
    sm_ctx c = {hd_ops_kern_get(), x, scale};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), sm_rows, &c);
    return HD_OK;
}
