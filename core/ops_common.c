/* core/ops_common.c — operand checks and kernel-table choice shared by core/ops_*.c. */
#include "ops_internal.h"

#include "backend.h"

#include <stdio.h>

const hd_ops_kern *hd_ops_kern_get(void) {
    switch (hd_cpu_level_get()) {
    case HD_CPU_AVX512: return &hd_ops_kern_avx512;
    case HD_CPU_AVX2: return &hd_ops_kern_avx2;
    default: return &hd_ops_kern_scalar;
    }
}

hd_status hd_ops_check_backend(const char *op, const hd_exec *ex, hd_error *err) {
    hd_status st;
    hd_backend_of(ex, op, &st, err);
    return st;
}

static const char *tname(const hd_tensor *t, const char *what) {
    return t && t->name ? t->name : what;
}

static hd_status check_common(const char *op, const char *what, const hd_tensor *t, hd_error *err) {
    if (!t) return hd_error_set(err, HD_ERR_ARG, "%s: %s is missing", op, what);
    if (t->n_dims < 1 || t->n_dims > HD_MAX_DIMS)
        return hd_error_set(err, HD_ERR_SHAPE, "%s: %s has %d dimensions, expected 1..%d", op, tname(t, what),
                            t->n_dims, HD_MAX_DIMS);
    for (int i = 0; i < HD_MAX_DIMS; i++)
        if (t->ne[i] < 0 || (i >= t->n_dims && t->ne[i] != 1)) {
            char s[96];
            return hd_error_set(err, HD_ERR_SHAPE, "%s: %s has an invalid shape %s (ne[%d] = %lld)", op,
                                tname(t, what), hd_tensor_shape_str(t, s, sizeof s), i, (long long)t->ne[i]);
        }
    if (!t->data && hd_tensor_nelements(t) > 0)
        return hd_error_set(err, HD_ERR_ARG, "%s: %s has no data", op, tname(t, what));
    return HD_OK;
}

hd_status hd_ops_check(const char *op, const char *what, const hd_tensor *t, hd_type type, hd_error *err) {
    hd_status st = check_common(op, what, t, err);
    if (st) return st;
    if (t->type != type)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %s has type %s, expected %s", op, tname(t, what),
                            hd_type_name(t->type), hd_type_name(type));
    if (t->nb[0] != hd_type_get(type)->type_size)
        return hd_error_set(err, HD_ERR_SHAPE, "%s: %s rows are not contiguous (nb[0] = %zu)", op,
                            tname(t, what), t->nb[0]);
    return HD_OK;
}

hd_status hd_ops_check_f32_f16(const char *op, const char *what, const hd_tensor *t, hd_error *err) {
    hd_status st = check_common(op, what, t, err);
    if (st) return st;
    if (t->type != HD_TYPE_F32 && t->type != HD_TYPE_F16)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %s has type %s, expected F32 or F16", op,
                            tname(t, what), hd_type_name(t->type));
    return hd_ops_check(op, what, t, t->type, err);
}

hd_status hd_ops_check_same(const char *op, const char *wa, const hd_tensor *a, const char *wb,
                            const hd_tensor *b, hd_error *err) {
    for (int i = 0; i < HD_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) {
            char sa[96], sb[96];
            return hd_error_set(err, HD_ERR_SHAPE, "%s: %s has shape %s but %s has shape %s", op, tname(a, wa),
                                hd_tensor_shape_str(a, sa, sizeof sa), tname(b, wb),
                                hd_tensor_shape_str(b, sb, sizeof sb));
        }
    return HD_OK;
}

hd_status hd_ops_check_vec(const char *op, const char *what, const hd_tensor *t, int64_t n, hd_error *err) {
    hd_status st = hd_ops_check(op, what, t, HD_TYPE_F32, err);
    if (st) return st;
    if (t->ne[0] != n || hd_tensor_nrows(t) != 1) {
        char s[96];
        return hd_error_set(err, HD_ERR_SHAPE, "%s: %s has shape %s, expected [%lld]", op, tname(t, what),
                            hd_tensor_shape_str(t, s, sizeof s), (long long)n);
    }
    return HD_OK;
}

bool hd_ops_packed(const hd_tensor *t) { return hd_tensor_is_contiguous(t); }

bool hd_ops_overlap(const hd_tensor *a, const hd_tensor *b) {
    if (!a->data || !b->data || hd_tensor_nelements(a) == 0 || hd_tensor_nelements(b) == 0) return false;
    size_t ea = a->nb[0], eb = b->nb[0]; /* one past the last byte, relative to data */
    for (int i = 0; i < HD_MAX_DIMS; i++) {
        ea += (size_t)(a->ne[i] - 1) * a->nb[i];
        eb += (size_t)(b->ne[i] - 1) * b->nb[i];
    }
    const char *a0 = a->data, *b0 = b->data;
    return a0 < b0 + eb && b0 < a0 + ea;
}
