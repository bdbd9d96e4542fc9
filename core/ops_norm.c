/* core/ops_norm.c — RMSNorm, LayerNorm and inference BatchNorm (core/ops.h).
 *
 * Rows of ne[0] are independent, so every op splits rows across ex->pool.
 * Rows may be strided (views); elements within a row must be contiguous.
 */
#include "ops.h"
#include "ops_internal.h"

#include "backend.h"

#include <math.h>

/* ---- rms_norm: y = x / sqrt(mean(x²) + eps) ⊙ w ---------------------------- */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *x, *y;
    const float *w;      /* [ne0] or NULL */
    float eps;
} rms_ctx;

static void rms_rows(void *p, int64_t b, int64_t e, int tid) {
    (void)tid;
    const rms_ctx *c = p;
    const int64_t n = c->x->ne[0];
    for (int64_t r = b; r < e; r++) {
        const float *x = (const float *)hd_ops_row(c->x, r);
        float *y = (float *)hd_ops_row(c->y, r);
        float ms = c->k->sum_sq(x, n) / (float)n;
        c->k->scale_mul(y, x, 1.0f / sqrtf(ms + c->eps), c->w, n);
    }
}

hd_status hd_op_rms_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w, float eps,
                         hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("rms_norm", ex, err))) return st;
    if ((st = hd_ops_check("rms_norm", "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check("rms_norm", "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same("rms_norm", "y", y, "x", x, err))) return st;
    if (w && (st = hd_ops_check_vec("rms_norm", "w", w, x->ne[0], err))) return st;
    if (!(eps >= 0.0f)) return hd_error_set(err, HD_ERR_ARG, "rms_norm: eps %g must be >= 0", (double)eps);
    if (x->ne[0] == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "rms_norm", &st, err);
    if (bk) return bk->rms_norm(ex, y, x, w, eps, err);
    rms_ctx c = {hd_ops_kern_get(), x, y, w ? (const float *)w->data : NULL, eps};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), rms_rows, &c);
    return HD_OK;
}

/* ---- layer_norm: y = (x - mean) / sqrt(var + eps) ⊙ w + b ------------------ */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *x, *y;
    const float *w, *b;  /* [ne0] or NULL */
    float eps;
} ln_ctx;

static void ln_rows(void *p, int64_t rb, int64_t re, int tid) {
    (void)tid;
    const ln_ctx *c = p;
    const int64_t n = c->x->ne[0];
    for (int64_t r = rb; r < re; r++) {
        const float *x = (const float *)hd_ops_row(c->x, r);
        float *y = (float *)hd_ops_row(c->y, r);
        float s[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) s[j] += x[i + j];
        for (; i < n; i++) s[0] += x[i];
        float mean = (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) / (float)n;
        for (i = 0; i < n; i++) y[i] = x[i] - mean;             /* two-pass variance: no cancellation */
        float var = c->k->sum_sq(y, n) / (float)n;
        c->k->scale_mul(y, y, 1.0f / sqrtf(var + c->eps), c->w, n);
        if (c->b) c->k->add(y, y, c->b, n);
    }
}

hd_status hd_op_layer_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w,
                           const hd_tensor *b, float eps, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("layer_norm", ex, err))) return st;
    if ((st = hd_ops_check("layer_norm", "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check("layer_norm", "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same("layer_norm", "y", y, "x", x, err))) return st;
    if (w && (st = hd_ops_check_vec("layer_norm", "w", w, x->ne[0], err))) return st;
    if (b && (st = hd_ops_check_vec("layer_norm", "b", b, x->ne[0], err))) return st;
    if (!(eps >= 0.0f)) return hd_error_set(err, HD_ERR_ARG, "layer_norm: eps %g must be >= 0", (double)eps);
    if (x->ne[0] == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "layer_norm", &st, err);
    if (bk) return bk->layer_norm(ex, y, x, w, b, eps, err);
    ln_ctx c = {hd_ops_kern_get(), x, y, w ? (const float *)w->data : NULL, b ? (const float *)b->data : NULL, eps};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), ln_rows, &c);
    return HD_OK;
}

/* ---- batch_norm: per channel c (row index mod C) -------------------------- */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *x, *y;
    const float *mean, *var, *gamma, *beta; /* [C]; gamma, beta may be NULL (1, 0) */
    float eps;
} bn_ctx;

static void bn_rows(void *p, int64_t rb, int64_t re, int tid) {
    (void)tid;
    const bn_ctx *c = p;
    const int64_t n = c->x->ne[0], C = c->x->ne[1];
    for (int64_t r = rb; r < re; r++) {
        const int64_t ch = r % C;
        const float *x = (const float *)hd_ops_row(c->x, r);
        float *y = (float *)hd_ops_row(c->y, r);
        const float s = (c->gamma ? c->gamma[ch] : 1.0f) / sqrtf(c->var[ch] + c->eps);
        const float t = (c->beta ? c->beta[ch] : 0.0f) - c->mean[ch] * s;
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * s + t;
    }
}

hd_status hd_op_batch_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *mean,
                           const hd_tensor *var, const hd_tensor *gamma, const hd_tensor *beta, float eps,
                           hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("batch_norm", ex, err))) return st;
    if ((st = hd_ops_check("batch_norm", "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check("batch_norm", "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same("batch_norm", "y", y, "x", x, err))) return st;
    const int64_t C = x->ne[1];
    if ((st = hd_ops_check_vec("batch_norm", "mean", mean, C, err))) return st;
    if ((st = hd_ops_check_vec("batch_norm", "var", var, C, err))) return st;
    if (gamma && (st = hd_ops_check_vec("batch_norm", "gamma", gamma, C, err))) return st;
    if (beta && (st = hd_ops_check_vec("batch_norm", "beta", beta, C, err))) return st;
    if (!(eps >= 0.0f)) return hd_error_set(err, HD_ERR_ARG, "batch_norm: eps %g must be >= 0", (double)eps);
    const float *vv = var->data;
    for (int64_t i = 0; i < C; i++)
        if (!(vv[i] + eps > 0.0f))
            return hd_error_set(err, HD_ERR_ARG, "batch_norm: %s[%lld] + eps = %g is not positive",
                                var->name ? var->name : "var", (long long)i, (double)(vv[i] + eps));
    if (x->ne[0] == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "batch_norm", &st, err);
    if (bk) return bk->batch_norm(ex, y, x, mean, var, gamma, beta, eps, err);
    bn_ctx c = {hd_ops_kern_get(), x, y, mean->data, var->data, gamma ? gamma->data : NULL,
                beta ? beta->data : NULL, eps};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), bn_rows, &c);
    return HD_OK;
}
