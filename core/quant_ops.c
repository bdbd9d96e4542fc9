/* core/quant_ops.c — hd_op_get_rows and hd_op_convert on the CPU: rows
 * dequantized with the active SIMD level's row dequantizers (core/kernels.h)
 * or quantized with core/quant.c's reference quantizers. */
#include "backend.h"
#include "kernels.h"
#include "ops.h"
#include "quant.h"

#include <string.h>

static const char *tname(const hd_tensor *t) { return t->name ? t->name : "tensor"; }

static bool rows_contiguous(const hd_tensor *t) {
    const hd_type_traits *tt = hd_type_get(t->type);
    return tt && t->nb[0] == tt->type_size;
}

static bool overlaps(const hd_tensor *a, const hd_tensor *b) {
    const char *a0 = a->data, *b0 = b->data;
    const char *a1 = a0 + hd_tensor_nbytes(a), *b1 = b0 + hd_tensor_nbytes(b);
    return a0 < b1 && b0 < a1;
}

/* ---- get_rows ------------------------------------------------------------------------ */

hd_status hd_op_get_rows(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const int32_t *ids, int64_t n,
                         hd_error *err) {
    if (!y || !w || !y->data || !w->data || (n > 0 && !ids))
        return hd_error_set(err, HD_ERR_ARG, "get_rows: missing tensor, data or ids");
    const hd_type_traits *tt = hd_type_get(w->type);
    const hd_kernels *k = hd_kernels_get(hd_cpu_level_get());
    if (!tt || w->type == HD_TYPE_Q8_K || !hd_kernels_deq(k, w->type))
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "get_rows: %s has unsupported type %s", tname(w),
                            hd_type_name(w->type));
    const int64_t D = w->ne[0], V = hd_tensor_nrows(w);
    char sy[64];
    if (y->type != HD_TYPE_F32 || y->ne[0] != D || hd_tensor_nrows(y) != n || !hd_tensor_is_contiguous(y))
        return hd_error_set(err, HD_ERR_SHAPE, "get_rows: y %s must be contiguous F32 [%lld, %lld]",
                            hd_tensor_shape_str(y, sy, sizeof sy), (long long)D, (long long)n);
    if (D % (int64_t)tt->block_size != 0 || !rows_contiguous(w))
        return hd_error_set(err, HD_ERR_SHAPE, "get_rows: %s rows are not whole contiguous blocks", tname(w));
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return hd_error_set(err, HD_ERR_ARG, "get_rows: id %d at position %lld is outside [0, %lld)", ids[i],
                                (long long)i, (long long)V);
    hd_status st;
    const hd_backend_ops *bk = hd_backend_of(ex, "get_rows", &st, err);
    if (st) return st;
    if (bk) return bk->get_rows(ex, y, w, ids, n, err);
    float *yd = y->data;
    for (int64_t i = 0; i < n; i++) {
        const char *src = (const char *)w->data + (size_t)ids[i] * w->nb[1];
        hd_kernels_deq(k, w->type)(src, yd + i * D, D);
    }
    return HD_OK;
}

/* ---- convert ------------------------------------------------------------------------- */

typedef struct convert_ctx {
    const hd_kernels *k;
    const hd_tensor *x;
    hd_tensor *y;
    int64_t n0;
} convert_ctx;

static void convert_rows_fn(void *vctx, int64_t r0, int64_t r1, int tid) {
    (void)tid;
    const convert_ctx *c = vctx;
    const hd_tensor *x = c->x;
    hd_tensor *y = c->y;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        const void *src = hd_tensor_row(x, i1, i2, i3);
        void *dst = hd_tensor_row(y, i1, i2, i3);
        if (y->type == HD_TYPE_F32)
            hd_kernels_deq(c->k, x->type)(src, dst, c->n0);
        else
            hd_quantize_row(y->type, src, dst, c->n0);
    }
}

hd_status hd_op_convert(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    if (!y || !x || !y->data || !x->data) return hd_error_set(err, HD_ERR_ARG, "convert: missing tensor or data");
    const hd_kernels *k = hd_kernels_get(hd_cpu_level_get());
    for (int i = 0; i < HD_MAX_DIMS; i++)
        if (x->ne[i] != y->ne[i]) {
            char sx[64], sy[64];
            return hd_error_set(err, HD_ERR_SHAPE, "convert: shapes differ (%s vs %s)",
                                hd_tensor_shape_str(x, sx, sizeof sx), hd_tensor_shape_str(y, sy, sizeof sy));
        }
    const bool to_f32 = y->type == HD_TYPE_F32 && hd_type_valid(x->type) && x->type != HD_TYPE_Q8_K &&
                        hd_kernels_deq(k, x->type);
    const bool from_f32 = x->type == HD_TYPE_F32 &&
                          (y->type == HD_TYPE_F16 || y->type == HD_TYPE_BF16 || y->type == HD_TYPE_Q8_0 ||
                           y->type == HD_TYPE_Q4_0 || y->type == HD_TYPE_Q4_K || y->type == HD_TYPE_Q5_K ||
                           y->type == HD_TYPE_Q6_K);
    if (!to_f32 && !from_f32)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "convert: %s -> %s is not supported", hd_type_name(x->type),
                            hd_type_name(y->type));
    const hd_type qt = to_f32 ? x->type : y->type;
    const hd_type_traits *tt = hd_type_get(qt);
    if (x->ne[0] % (int64_t)tt->block_size != 0)
        return hd_error_set(err, HD_ERR_SHAPE, "convert: row length %lld is not a multiple of %s's block %zu",
                            (long long)x->ne[0], tt->name, tt->block_size);
    if (!rows_contiguous(x) || !rows_contiguous(y))
        return hd_error_set(err, HD_ERR_SHAPE, "convert: rows must be contiguous");
    if (x->data != y->data && overlaps(x, y))
        return hd_error_set(err, HD_ERR_ARG, "convert: y partly overlaps x");
    if (x->data == y->data && x->type != y->type)
        return hd_error_set(err, HD_ERR_ARG, "convert: cannot convert %s to %s in place", hd_type_name(x->type),
                            hd_type_name(y->type));
    if (x->data == y->data) return HD_OK; /* F32 -> F32 in place */
    hd_status st;
    const hd_backend_ops *bk = hd_backend_of(ex, "convert", &st, err);
    if (st) return st;
    if (bk) return bk->convert(ex, y, x, err);
    convert_ctx c = {.k = k, .x = x, .y = y, .n0 = x->ne[0]};
    const int64_t rows = hd_tensor_nrows(x);
    hd_parallel_for(ex ? ex->pool : NULL, rows, 1, convert_rows_fn, &c);
    return HD_OK;
}
