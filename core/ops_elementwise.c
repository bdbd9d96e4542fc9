/* core/ops_elementwise.c — activations, gated units, add/mul/scale (core/ops.h).
 *
 * Packed tensors are treated as one flat array split across the pool in
 * chunks of HD_OPS_GRAIN_ELEMS; strided views go row by row.  y may be the
 * same tensor as an input (in place); partial overlaps are not supported.
 */
#include "ops.h"
#include "ops_internal.h"

#include "backend.h"

#include <math.h>
#include <string.h>

typedef void (*unary_fn)(float *y, const float *x, int64_t n);
typedef void (*binary_fn)(float *y, const float *a, const float *b, int64_t n);

/* The backend table's entry for an element-wise op (ops of another backend, core/backend.h). */
typedef hd_status (*bk_unary_fn)(hd_exec *, hd_tensor *, const hd_tensor *, hd_error *);
typedef hd_status (*bk_binary_fn)(hd_exec *, hd_tensor *, const hd_tensor *, const hd_tensor *, hd_error *);
static bk_unary_fn bk_unary(const hd_backend_ops *bk, const char *op) {
    return !strcmp(op, "silu")       ? bk->silu
           : !strcmp(op, "gelu")     ? bk->gelu
           : !strcmp(op, "gelu_erf") ? bk->gelu_erf
           : !strcmp(op, "tanh")     ? bk->tanh
                                     : bk->sigmoid;
}
static bk_binary_fn bk_binary(const hd_backend_ops *bk, const char *op) {
    return !strcmp(op, "swiglu") ? bk->swiglu : !strcmp(op, "add") ? bk->add : bk->mul;
}

/* One driver for unary and binary kernels: b NULL = unary; b_bcast = b is a row vector. */
typedef struct {
    unary_fn un;
    binary_fn bin;
    const hd_tensor *y, *a, *b;
    bool flat, b_bcast;
} ew_ctx;

static void ew_run(void *p, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    const ew_ctx *c = p;
    if (c->flat) {
        float *y = (float *)c->y->data + i0;
        const float *a = (const float *)c->a->data + i0;
        if (c->bin) c->bin(y, a, (const float *)c->b->data + i0, i1 - i0);
        else c->un(y, a, i1 - i0);
        return;
    }
    const int64_t n = c->a->ne[0];
    for (int64_t r = i0; r < i1; r++) {
        float *y = (float *)hd_ops_row(c->y, r);
        const float *a = (const float *)hd_ops_row(c->a, r);
        if (c->bin) c->bin(y, a, (const float *)(c->b_bcast ? c->b->data : hd_ops_row(c->b, r)), n);
        else c->un(y, a, n);
    }
}

static void ew_dispatch(hd_exec *ex, ew_ctx *c) {
    const int64_t n = c->a->ne[0];
    if (n == 0 || hd_tensor_nrows(c->a) == 0) return;
    c->flat = !c->b_bcast && hd_ops_packed(c->y) && hd_ops_packed(c->a) && (!c->b || hd_ops_packed(c->b));
    if (c->flat)
        hd_parallel_for(hd_ops_pool(ex), hd_tensor_nelements(c->a), HD_OPS_GRAIN_ELEMS, ew_run, c);
    else
        hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(c->a), hd_ops_row_grain(n), ew_run, c);
}

static hd_status unary(const char *op, hd_exec *ex, hd_tensor *y, const hd_tensor *x, unary_fn fn,
                       hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend(op, ex, err))) return st;
    if ((st = hd_ops_check(op, "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check(op, "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same(op, "y", y, "x", x, err))) return st;
    const hd_backend_ops *bk = hd_backend_of(ex, op, &st, err);
    if (bk) return bk_unary(bk, op)(ex, y, x, err);
    ew_ctx c = {.un = fn, .y = y, .a = x};
    ew_dispatch(ex, &c);
    return HD_OK;
}

static hd_status binary(const char *op, hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b,
                        binary_fn fn, bool allow_bcast, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend(op, ex, err))) return st;
    if ((st = hd_ops_check(op, "a", a, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check(op, "b", b, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check(op, "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same(op, "y", y, "a", a, err))) return st;
    bool same = true;
    for (int i = 0; i < HD_MAX_DIMS; i++) same = same && a->ne[i] == b->ne[i];
    bool bcast = !same && allow_bcast && b->ne[0] == a->ne[0] && hd_tensor_nrows(b) == 1;
    if (!same && !bcast) {
        char sa[96], sb[96];
        if (!allow_bcast)
            return hd_error_set(err, HD_ERR_SHAPE, "%s: b has shape %s, expected %s", op,
                                hd_tensor_shape_str(b, sb, sizeof sb), hd_tensor_shape_str(a, sa, sizeof sa));
        return hd_error_set(err, HD_ERR_SHAPE, "%s: b has shape %s, expected %s or [%lld]", op,
                            hd_tensor_shape_str(b, sb, sizeof sb), hd_tensor_shape_str(a, sa, sizeof sa),
                            (long long)a->ne[0]);
    }
    const hd_backend_ops *bk = hd_backend_of(ex, op, &st, err);
    if (bk) return bk_binary(bk, op)(ex, y, a, b, err);
    ew_ctx c = {.bin = fn, .y = y, .a = a, .b = b, .b_bcast = bcast};
    ew_dispatch(ex, &c);
    return HD_OK;
}

/* ---- a kernel that is not in the SIMD tables (not on a hot path) ------------ */

static void tanh_k(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}


/* ---- the ops --------------------------------------------------------------- */

hd_status hd_op_silu(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    return unary("silu", ex, y, x, hd_ops_kern_get()->silu, err);
}

hd_status hd_op_gelu(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    return unary("gelu", ex, y, x, hd_ops_kern_get()->gelu, err);
}

hd_status hd_op_gelu_erf(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    return unary("gelu_erf", ex, y, x, hd_ops_kern_get()->gelu_erf, err);
}

hd_status hd_op_tanh(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    return unary("tanh", ex, y, x, tanh_k, err);
}

hd_status hd_op_sigmoid(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    return unary("sigmoid", ex, y, x, hd_ops_kern_get()->sigmoid, err);
}

hd_status hd_op_swiglu(hd_exec *ex, hd_tensor *y, const hd_tensor *gate, const hd_tensor *up, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check("swiglu", "gate", gate, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check("swiglu", "up", up, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same("swiglu", "up", up, "gate", gate, err))) return st;
    return binary("swiglu", ex, y, gate, up, hd_ops_kern_get()->swiglu, false, err);
}

hd_status hd_op_add(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, hd_error *err) {
    return binary("add", ex, y, a, b, hd_ops_kern_get()->add, true, err);
}

hd_status hd_op_mul(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, hd_error *err) {
    return binary("mul", ex, y, a, b, hd_ops_kern_get()->mul, true, err);
}

/* ---- scale: y = x · s ------------------------------------------------------- */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *y, *x;
    float s;
    bool flat;
} scale_ctx;

static void scale_run(void *p, int64_t i0, int64_t i1, int tid) {
    (void)tid;
    const scale_ctx *c = p;
    if (c->flat) {
        c->k->scale((float *)c->y->data + i0, (const float *)c->x->data + i0, c->s, i1 - i0);
        return;
    }
    for (int64_t r = i0; r < i1; r++)
        c->k->scale((float *)hd_ops_row(c->y, r), (const float *)hd_ops_row(c->x, r), c->s, c->x->ne[0]);
}

hd_status hd_op_scale(hd_exec *ex, hd_tensor *y, const hd_tensor *x, float s, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("scale", ex, err))) return st;
    if ((st = hd_ops_check("scale", "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check("scale", "y", y, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check_same("scale", "y", y, "x", x, err))) return st;
    if (x->ne[0] == 0 || hd_tensor_nrows(x) == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "scale", &st, err);
    if (bk) return bk->scale(ex, y, x, s, err);
    scale_ctx c = {hd_ops_kern_get(), y, x, s, hd_ops_packed(x) && hd_ops_packed(y)};
    if (c.flat)
        hd_parallel_for(hd_ops_pool(ex), hd_tensor_nelements(x), HD_OPS_GRAIN_ELEMS, scale_run, &c);
    else
        hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), scale_run, &c);
    return HD_OK;
}

/* ---- glu: y = a ⊙ sigmoid(b) over the halves of each row ------------------- */

typedef struct {
    const hd_ops_kern *k;
    const hd_tensor *y, *x;
} glu_ctx;

static void glu_rows(void *p, int64_t rb, int64_t re, int tid) {
    (void)tid;
    const glu_ctx *c = p;
    const int64_t n = c->y->ne[0];
    for (int64_t r = rb; r < re; r++) {
        const float *x = (const float *)hd_ops_row(c->x, r);
        float *y = (float *)hd_ops_row(c->y, r);
        c->k->sigmoid(y, x + n, n);
        c->k->mul(y, y, x, n);
    }
}

hd_status hd_op_glu(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("glu", ex, err))) return st;
    if ((st = hd_ops_check("glu", "x", x, HD_TYPE_F32, err))) return st;
    if ((st = hd_ops_check("glu", "y", y, HD_TYPE_F32, err))) return st;
    bool ok = x->ne[0] % 2 == 0 && y->ne[0] == x->ne[0] / 2;
    for (int i = 1; i < HD_MAX_DIMS; i++) ok = ok && y->ne[i] == x->ne[i];
    if (!ok) {
        char sx[96], sy[96];
        return hd_error_set(err, HD_ERR_SHAPE, "glu: x %s and y %s: x needs an even ne[0] and y half of it",
                            hd_tensor_shape_str(x, sx, sizeof sx), hd_tensor_shape_str(y, sy, sizeof sy));
    }
    if (hd_ops_overlap(x, y)) return hd_error_set(err, HD_ERR_ARG, "glu: y must not overlap x");
    if (y->ne[0] == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "glu", &st, err);
    if (bk) return bk->glu(ex, y, x, err);
    glu_ctx c = {hd_ops_kern_get(), y, x};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(x), hd_ops_row_grain(x->ne[0]), glu_rows, &c);
    return HD_OK;
}
