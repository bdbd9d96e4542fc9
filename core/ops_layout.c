/* core/ops_layout.c — concat and transpose (core/ops.h).
 *
 * Both work on any unquantized type (F32, F16, BF16, ...: one element per
 * block) by copying elements of the type's size; inputs may be strided views
 * (rows contiguous), y is written through its own strides.  y must not
 * overlap an input.
 */
#include "ops.h"
#include "ops_internal.h"

#include "backend.h"

#include <string.h>

static hd_status check_plain(const char *op, const char *what, const hd_tensor *t, hd_error *err) {
    if (!t) return hd_error_set(err, HD_ERR_ARG, "%s: %s is missing", op, what);
    const hd_type_traits *tr = hd_type_get(t->type);
    if (!tr || tr->block_size != 1)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %s has type %s; only unquantized types are supported", op,
                            t->name ? t->name : what, hd_type_name(t->type));
    return hd_ops_check(op, what, t, t->type, err);
}

/* ---- concat ----------------------------------------------------------------- */

typedef struct {
    const hd_tensor *y, *a, *b;
    int dim;
    size_t es;
} cat_ctx;

static void cat_rows(void *p, int64_t rb, int64_t re, int tid) {
    (void)tid;
    const cat_ctx *c = p;
    const hd_tensor *y = c->y;
    for (int64_t r = rb; r < re; r++) {
        int64_t i[4] = {0, r % y->ne[1], (r / y->ne[1]) % y->ne[2], r / (y->ne[1] * y->ne[2])};
        char *dst = hd_tensor_row(y, i[1], i[2], i[3]);
        if (c->dim == 0) {
            size_t na = (size_t)c->a->ne[0] * c->es;
            memcpy(dst, hd_tensor_row(c->a, i[1], i[2], i[3]), na);
            memcpy(dst + na, hd_tensor_row(c->b, i[1], i[2], i[3]), (size_t)c->b->ne[0] * c->es);
        } else {
            const hd_tensor *src = c->a;
            if (i[c->dim] >= c->a->ne[c->dim]) {
                i[c->dim] -= c->a->ne[c->dim];
                src = c->b;
            }
            memcpy(dst, hd_tensor_row(src, i[1], i[2], i[3]), (size_t)y->ne[0] * c->es);
        }
    }
}

hd_status hd_op_concat(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, int dim,
                       hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("concat", ex, err))) return st;
    if ((st = check_plain("concat", "a", a, err))) return st;
    if ((st = check_plain("concat", "b", b, err))) return st;
    if ((st = check_plain("concat", "y", y, err))) return st;
    if (dim < 0 || dim >= HD_MAX_DIMS) return hd_error_set(err, HD_ERR_ARG, "concat: dimension %d is not 0..3", dim);
    if (a->type != b->type || a->type != y->type)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "concat: types differ (a %s, b %s, y %s)", hd_type_name(a->type),
                            hd_type_name(b->type), hd_type_name(y->type));
    bool ok = true;
    for (int i = 0; i < HD_MAX_DIMS; i++)
        ok = ok && (i == dim ? y->ne[i] == a->ne[i] + b->ne[i] : a->ne[i] == b->ne[i] && y->ne[i] == a->ne[i]);
    if (!ok) {
        char sa[96], sb[96], sy[96];
        return hd_error_set(err, HD_ERR_SHAPE, "concat: a %s and b %s along dimension %d do not give y %s",
                            hd_tensor_shape_str(a, sa, sizeof sa), hd_tensor_shape_str(b, sb, sizeof sb), dim,
                            hd_tensor_shape_str(y, sy, sizeof sy));
    }
    if (hd_ops_overlap(y, a) || hd_ops_overlap(y, b))
        return hd_error_set(err, HD_ERR_ARG, "concat: y must not overlap a or b");
    if (hd_tensor_nelements(y) == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "concat", &st, err);
    if (bk) return bk->concat(ex, y, a, b, dim, err);
    cat_ctx c = {y, a, b, dim, hd_type_get(y->type)->type_size};
    hd_parallel_for(hd_ops_pool(ex), hd_tensor_nrows(y), hd_ops_row_grain(y->ne[0]), cat_rows, &c);
    return HD_OK;
}

/* ---- transpose of dimensions 0 and 1, in 32×32 tiles -------------------------- */

#define TILE 32

typedef struct {
    const hd_tensor *y, *x;
    size_t es;
    int64_t tiles0, tiles1; /* tiles along x.ne0, x.ne1 */
} tr_ctx;

static void tr_tiles(void *p, int64_t tb, int64_t te, int tid) {
    (void)tid;
    const tr_ctx *c = p;
    const hd_tensor *x = c->x, *y = c->y;
    const int64_t per_mat = c->tiles0 * c->tiles1;
    for (int64_t t = tb; t < te; t++) {
        const int64_t mat = t / per_mat, rem = t % per_mat;
        const int64_t i2 = mat % x->ne[2], i3 = mat / x->ne[2];
        const int64_t j0 = (rem / c->tiles0) * TILE, k0 = (rem % c->tiles0) * TILE; /* x rows j, columns k */
        const int64_t j1 = j0 + TILE < x->ne[1] ? j0 + TILE : x->ne[1];
        const int64_t k1 = k0 + TILE < x->ne[0] ? k0 + TILE : x->ne[0];
        for (int64_t j = j0; j < j1; j++) {
            const char *src = (const char *)hd_tensor_row(x, j, i2, i3);
            if (c->es == 4) {
                for (int64_t k = k0; k < k1; k++)
                    ((float *)hd_tensor_row(y, k, i2, i3))[j] = ((const float *)src)[k];
            } else if (c->es == 2) {
                for (int64_t k = k0; k < k1; k++)
                    ((uint16_t *)hd_tensor_row(y, k, i2, i3))[j] = ((const uint16_t *)src)[k];
            } else {
                for (int64_t k = k0; k < k1; k++)
                    memcpy((char *)hd_tensor_row(y, k, i2, i3) + (size_t)j * c->es, src + (size_t)k * c->es, c->es);
            }
        }
    }
}

hd_status hd_op_transpose(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("transpose", ex, err))) return st;
    if ((st = check_plain("transpose", "x", x, err))) return st;
    if ((st = check_plain("transpose", "y", y, err))) return st;
    if (x->type != y->type)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "transpose: x is %s but y is %s", hd_type_name(x->type),
                            hd_type_name(y->type));
    if (y->ne[0] != x->ne[1] || y->ne[1] != x->ne[0] || y->ne[2] != x->ne[2] || y->ne[3] != x->ne[3]) {
        char sx[96], sy[96];
        return hd_error_set(err, HD_ERR_SHAPE, "transpose: y has shape %s, expected x %s with ne[0] and ne[1] swapped",
                            hd_tensor_shape_str(y, sy, sizeof sy), hd_tensor_shape_str(x, sx, sizeof sx));
    }
    if (hd_ops_overlap(y, x)) return hd_error_set(err, HD_ERR_ARG, "transpose: y must not overlap x");
    if (hd_tensor_nelements(x) == 0) return HD_OK;
    const hd_backend_ops *bk = hd_backend_of(ex, "transpose", &st, err);
    if (bk) return bk->transpose(ex, y, x, err);
    tr_ctx c = {y, x, hd_type_get(x->type)->type_size, (x->ne[0] + TILE - 1) / TILE, (x->ne[1] + TILE - 1) / TILE};
    int64_t n = c.tiles0 * c.tiles1 * x->ne[2] * x->ne[3];
    hd_parallel_for(hd_ops_pool(ex), n, HD_OPS_GRAIN_ELEMS / (TILE * TILE), tr_tiles, &c);
    return HD_OK;
}
