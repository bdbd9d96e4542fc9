/* core/ops_conv.c — 1-D convolution and 2-D patch embedding (core/ops.h).
 *
 * Two paths each:
 *  - im2col + hd_op_linear: the input windows are unfolded into a matrix in
 *    ex->scratch and one product with the weight (viewed as [out, in·K])
 *    does the work at matmul speed.  Used for dense convolutions (groups 1)
 *    and patch embedding when ex->scratch has room and the work is large.
 *  - direct loops over output channels (conv1d) or patches (patch_embed),
 *    split across the pool; used for depthwise/grouped convolution, small
 *    problems, and whenever there is no scratch (no allocation at all).
 * Both give the same result up to float rounding (tested against each other
 * and against a scalar reference in tests/unit/test_ops_conv.c).
 */
#include "ops.h"
#include "ops_internal.h"

#include "arena.h"
#include "backend.h"

#include <string.h>

/* Below this many multiply-adds the direct loop is as fast as im2col. */
#define IM2COL_MIN_MACS (1 << 20)

static inline float wval(const hd_tensor *w, const void *row, int64_t i) {
    return w->type == HD_TYPE_F16 ? hd_f16_to_f32(((const hd_f16 *)row)[i]) : ((const float *)row)[i];
}

/* ---- conv1d ------------------------------------------------------------------ */

typedef struct {
    const hd_tensor *y, *x, *w;
    const float *b;
    int64_t T, T_out, K, cig, cog;   /* input length, output length, kernel, channels per group in/out */
    int stride, pad;
} c1_ctx;

/* Direct: one output channel per index. */
static void c1_direct(void *p, int64_t cb, int64_t ce, int tid) {
    (void)tid;
    const c1_ctx *c = p;
    const int64_t T = c->T, T_out = c->T_out, K = c->K, st = c->stride, pad = c->pad;
    for (int64_t co = cb; co < ce; co++) {
        const int64_t g = co / c->cog;
        float *y = (float *)hd_tensor_row(c->y, co, 0, 0);
        const float bias = c->b ? c->b[co] : 0.0f;
        for (int64_t t = 0; t < T_out; t++) y[t] = bias;
        for (int64_t ci = 0; ci < c->cig; ci++) {
            const float *x = (const float *)hd_tensor_row(c->x, g * c->cig + ci, 0, 0);
            const void *wr = hd_tensor_row(c->w, ci, co, 0);
            for (int64_t k = 0; k < K; k++) {
                const float wk = wval(c->w, wr, k);
                /* outputs t with 0 <= t·stride + k - pad < T */
                const int64_t off = k - pad;
                int64_t t0 = off >= 0 ? 0 : (-off + st - 1) / st;
                int64_t t1 = (T - 1 - off) < 0 ? 0 : (T - 1 - off) / st + 1;
                if (t1 > T_out) t1 = T_out;
                if (st == 1) {
                    const float *xs = x + off;
                    for (int64_t t = t0; t < t1; t++) y[t] += wk * xs[t];
                } else {
                    for (int64_t t = t0; t < t1; t++) y[t] += wk * x[t * st + off];
                }
            }
        }
    }
}

/* im2col: column block for output t: X[t][ci·K + k] = x[ci][t·stride + k - pad] (0 outside). */
typedef struct {
    const c1_ctx *c;
    float *X;  /* [T_out][C_in·K] */
    int64_t C_in;
} c1_col_ctx;

static void c1_im2col(void *p, int64_t tb, int64_t te, int tid) {
    (void)tid;
    const c1_col_ctx *cc = p;
    const c1_ctx *c = cc->c;
    const int64_t K = c->K, row = cc->C_in * K;
    for (int64_t t = tb; t < te; t++) {
        float *X = cc->X + t * row;
        const int64_t base = t * c->stride - c->pad;
        for (int64_t ci = 0; ci < cc->C_in; ci++) {
            const float *x = (const float *)hd_tensor_row(c->x, ci, 0, 0);
            for (int64_t k = 0; k < K; k++) {
                const int64_t i = base + k;
                X[ci * K + k] = i >= 0 && i < c->T ? x[i] : 0.0f;
            }
        }
    }
}

/* Dense conv1d through im2col + linear; returns HD_ERR_NOMEM (err untouched) when scratch is short. */
static hd_status c1_linear(hd_exec *ex, const c1_ctx *c, const hd_tensor *b, int64_t C_in, int64_t C_out,
                           hd_error *err) {
    hd_arena *ar = ex->scratch;
    const size_t mark = hd_arena_mark(ar);
    const int64_t KC = C_in * c->K;
    float *X = hd_arena_alloc(ar, (size_t)(KC * c->T_out) * sizeof(float));
    float *Y = hd_arena_alloc(ar, (size_t)(C_out * c->T_out) * sizeof(float));
    if (!X || !Y) {
        hd_arena_reset(ar, mark);
        return HD_ERR_NOMEM;
    }
    c1_col_ctx cc = {c, X, C_in};
    hd_parallel_for(hd_ops_pool(ex), c->T_out, hd_ops_row_grain(KC), c1_im2col, &cc);
    hd_tensor w2 = hd_tensor_2d(c->w->type, KC, C_out, c->w->data);      /* [C_out, C_in·K] */
    hd_tensor x2 = hd_tensor_2d(HD_TYPE_F32, KC, c->T_out, X);            /* [T_out, C_in·K] */
    hd_tensor y2 = hd_tensor_2d(HD_TYPE_F32, C_out, c->T_out, Y);         /* [T_out, C_out]  */
    hd_error lerr;
    hd_status st = hd_op_linear(ex, &y2, &w2, &x2, b, &lerr);
    if (st == HD_OK) {
        hd_tensor yt = *c->y;
        st = hd_op_transpose(ex, &yt, &y2, err);                          /* -> [C_out, T_out] */
    } else if (st != HD_ERR_NOMEM) {
        if (err) *err = lerr;
        hd_error_prefix(err, "conv1d");
    }
    hd_arena_reset(ar, mark);
    return st;
}

hd_status hd_op_conv1d(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w, const hd_tensor *b,
                       int stride, int pad, int groups, hd_error *err) {
    hd_status st;
    const char *op = "conv1d";
    if ((st = hd_ops_check_backend(op, ex, err))) return st;
    if ((st = hd_ops_check(op, "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check(op, "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_f32_f16(op, "w", w, err))) return st;
    if (stride < 1 || pad < 0 || groups < 1)
        return hd_error_set(err, HD_ERR_ARG, "conv1d: stride %d, padding %d, groups %d out of range", stride, pad,
                            groups);
    const int64_t T = x->ne[0], C_in = x->ne[1], K = w->ne[0], C_out = w->ne[2];
    char sx[96], sw[96], sy[96];
    if (x->ne[2] != 1 || x->ne[3] != 1 || w->ne[3] != 1 || C_in % groups != 0 || C_out % groups != 0 ||
        w->ne[1] != C_in / groups || K < 1)
        return hd_error_set(err, HD_ERR_SHAPE, "conv1d: x %s [T, C_in] and w %s [K, C_in/groups, C_out] with %d groups do not fit",
                            hd_tensor_shape_str(x, sx, sizeof sx), hd_tensor_shape_str(w, sw, sizeof sw), groups);
    if (T + 2 * (int64_t)pad < K)
        return hd_error_set(err, HD_ERR_SHAPE, "conv1d: input length %lld + 2·%d padding is shorter than kernel %lld",
                            (long long)T, pad, (long long)K);
    const int64_t T_out = (T + 2 * (int64_t)pad - K) / stride + 1;
    if (y->ne[0] != T_out || y->ne[1] != C_out || y->ne[2] != 1 || y->ne[3] != 1)
        return hd_error_set(err, HD_ERR_SHAPE, "conv1d: y has shape %s, expected [%lld, %lld]",
                            hd_tensor_shape_str(y, sy, sizeof sy), (long long)T_out, (long long)C_out);
    if (b && (st = hd_ops_check_vec(op, "b", b, C_out, err))) return st;
    if (hd_ops_overlap(y, x)) return hd_error_set(err, HD_ERR_ARG, "conv1d: y must not overlap x");
    if (T_out == 0 || C_out == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, op, &st, err);
    if (bk) return bk->conv1d(ex, y, x, w, b, stride, pad, groups, err);

    c1_ctx c = {y, x, w, b ? (const float *)b->data : NULL, T, T_out, K, C_in / groups, C_out / groups,
                stride, pad};
    const double macs = (double)C_out * (double)(C_in / groups) * (double)K * (double)T_out;
    if (groups == 1 && ex && ex->scratch && macs >= IM2COL_MIN_MACS && hd_ops_packed(w)) {
        st = c1_linear(ex, &c, b, C_in, C_out, err);
        if (st != HD_ERR_NOMEM) return st;
    }
    hd_parallel_for(hd_ops_pool(ex), C_out, 1, c1_direct, &c);
    return HD_OK;
}

/* ---- patch_embed ------------------------------------------------------------- */

typedef struct {
    const hd_tensor *y, *img, *w;
    const float *b;
    int64_t P, C, D, gw;   /* patch, channels, embedding width, patches per image row */
    float *X;              /* im2col: [n_patches][C·P·P] */
} pe_ctx;

static void pe_im2col(void *p, int64_t pb, int64_t pe, int tid) {
    (void)tid;
    const pe_ctx *c = p;
    const int64_t P = c->P, row = c->C * P * P;
    for (int64_t pi = pb; pi < pe; pi++) {
        const int64_t gy = pi / c->gw, gx = pi % c->gw;
        float *X = c->X + pi * row;
        for (int64_t ch = 0; ch < c->C; ch++)
            for (int64_t py = 0; py < P; py++)
                memcpy(X + (ch * P + py) * P, (const float *)hd_tensor_row(c->img, gy * P + py, ch, 0) + gx * P,
                       (size_t)P * sizeof(float));
    }
}

static void pe_direct(void *p, int64_t pb, int64_t pe, int tid) {
    (void)tid;
    const pe_ctx *c = p;
    const int64_t P = c->P;
    for (int64_t pi = pb; pi < pe; pi++) {
        const int64_t gy = pi / c->gw, gx = pi % c->gw;
        float *y = (float *)hd_tensor_row(c->y, pi, 0, 0);
        for (int64_t d = 0; d < c->D; d++) {
            float acc = c->b ? c->b[d] : 0.0f;
            for (int64_t ch = 0; ch < c->C; ch++)
                for (int64_t py = 0; py < P; py++) {
                    const float *im = (const float *)hd_tensor_row(c->img, gy * P + py, ch, 0) + gx * P;
                    const void *wr = hd_tensor_row(c->w, py, ch, d);
                    for (int64_t px = 0; px < P; px++) acc += wval(c->w, wr, px) * im[px];
                }
            y[d] = acc;
        }
    }
}

hd_status hd_op_patch_embed(hd_exec *ex, hd_tensor *y, const hd_tensor *img, const hd_tensor *w,
                            const hd_tensor *b, int patch, hd_error *err) {
    hd_status st;
    const char *op = "patch_embed";
    if ((st = hd_ops_check_backend(op, ex, err))) return st;
    if ((st = hd_ops_check(op, "img", img, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check(op, "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_f32_f16(op, "w", w, err))) return st;
    if (patch < 1) return hd_error_set(err, HD_ERR_ARG, "patch_embed: patch size %d must be positive", patch);
    const int64_t P = patch, W = img->ne[0], H = img->ne[1], C = img->ne[2], D = w->ne[3];
    char si[96], sw[96], sy[96];
    if (img->ne[3] != 1 || w->ne[0] != P || w->ne[1] != P || w->ne[2] != C)
        return hd_error_set(err, HD_ERR_SHAPE, "patch_embed: img %s [W, H, C] and w %s, expected w [%d, %d, %lld, D]",
                            hd_tensor_shape_str(img, si, sizeof si), hd_tensor_shape_str(w, sw, sizeof sw), patch,
                            patch, (long long)C);
    /* Like conv2d with stride = kernel: a partial patch at the right/bottom edge is dropped. */
    const int64_t gh = H / P, gw = W / P, n = gh * gw;
    if (y->ne[0] != D || y->ne[1] != n || y->ne[2] != 1 || y->ne[3] != 1)
        return hd_error_set(err, HD_ERR_SHAPE, "patch_embed: y has shape %s, expected [%lld, %lld]",
                            hd_tensor_shape_str(y, sy, sizeof sy), (long long)D, (long long)n);
    if (b && (st = hd_ops_check_vec(op, "b", b, D, err))) return st;
    if (hd_ops_overlap(y, img)) return hd_error_set(err, HD_ERR_ARG, "patch_embed: y must not overlap img");
    if (n == 0 || D == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, op, &st, err);
    if (bk) return bk->patch_embed(ex, y, img, w, b, patch, err);

    pe_ctx c = {y, img, w, b ? (const float *)b->data : NULL, P, C, D, gw, NULL};
    const int64_t KC = C * P * P;
    const double macs = (double)n * (double)D * (double)KC;
    if (ex && ex->scratch && macs >= IM2COL_MIN_MACS && hd_ops_packed(w) && hd_ops_packed(y)) {
        const size_t mark = hd_arena_mark(ex->scratch);
        c.X = hd_arena_alloc(ex->scratch, (size_t)(n * KC) * sizeof(float));
        if (c.X) {
            hd_parallel_for(hd_ops_pool(ex), n, hd_ops_row_grain(KC), pe_im2col, &c);
            hd_tensor w2 = hd_tensor_2d(w->type, KC, D, w->data);  /* [D, C·P·P] */
            hd_tensor x2 = hd_tensor_2d(HD_TYPE_F32, KC, n, c.X);   /* [n, C·P·P] */
            hd_error lerr;
            st = hd_op_linear(ex, y, &w2, &x2, b, &lerr);
            hd_arena_reset(ex->scratch, mark);
            if (st == HD_OK) return HD_OK;
            if (st != HD_ERR_NOMEM) {
                if (err) *err = lerr;
                return hd_error_prefix(err, "patch_embed");
            }
        }
        hd_arena_reset(ex->scratch, mark);
    }
    hd_parallel_for(hd_ops_pool(ex), n, 1, pe_direct, &c);
    return HD_OK;
}
