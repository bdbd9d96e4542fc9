/* core/ops_internal.h — internal: shared checks and the SIMD kernel tables
 * behind the non-matmul ops (core/ops_*.c).
 *
 * One table per SIMD level: ops_scalar.c is the reference and the fallback,
 * ops_avx2.c and ops_avx512.c are the fast versions, tested against it
 * (tests/unit/test_ops_*.c).  hd_ops_kern_get() picks the table for
 * hd_cpu_level_get() at each call, so tests can switch levels.
 * Not a public header: no stability promise.
 */
#ifndef HD_OPS_INTERNAL_H
#define HD_OPS_INTERNAL_H

#include "cpu.h"
#include "error.h"
#include "exec.h"
#include "tensor.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- kernels: all on n contiguous floats; y may equal an input ------------ */

typedef struct hd_ops_kern {
    hd_cpu_level level;
    /* Σ x² */
    float (*sum_sq)(const float *x, int64_t n);
    /* y = x · s ⊙ w   (w NULL: y = x · s) */
    void (*scale_mul)(float *y, const float *x, float s, const float *w, int64_t n);
    /* max x (-INFINITY for n == 0) */
    float (*max)(const float *x, int64_t n);
    /* x = exp(x·scale - sub) in place, returns Σ; exp of anything below about
     * -87 (including -INFINITY) is exactly 0. */
    float (*exp_sum)(float *x, int64_t n, float scale, float sub);
    void (*scale)(float *y, const float *x, float s, int64_t n);
    void (*add)(float *y, const float *a, const float *b, int64_t n);
    void (*mul)(float *y, const float *a, const float *b, int64_t n);
    void (*silu)(float *y, const float *x, int64_t n);
    void (*swiglu)(float *y, const float *g, const float *u, int64_t n);   /* y = silu(g) ⊙ u */
    void (*gelu)(float *y, const float *x, int64_t n);                     /* tanh approximation */
    void (*gelu_erf)(float *y, const float *x, int64_t n);                 /* 0.5·x·(1 + erf(x/√2)) */
    void (*sigmoid)(float *y, const float *x, int64_t n);
    /* Attention: s[j] = scale · (q · k_j) for j < nk, k_j = k + j·ks bytes, d values each. */
    void (*dots_f32)(float *s, const float *q, const float *k, size_t ks, int nk, int64_t d, float scale);
    void (*dots_f16)(float *s, const float *q, const hd_f16 *k, size_t ks, int nk, int64_t d, float scale);
    /* Four query rows at once: s[r·ld + j] = scale · (q[r] · k_j) for r < 4, j < nk. */
    void (*dots4_f32)(float *s, size_t ld, const float *const *q, const float *k, size_t ks, int nk, int64_t d,
                      float scale);
    /* acc[0..d) += Σ_j p[j] · v_j for j < nk, v_j = v + j·vs bytes. */
    void (*wsum_f32)(float *acc, const float *p, const float *v, size_t vs, int nk, int64_t d);
    void (*wsum_f16)(float *acc, const float *p, const hd_f16 *v, size_t vs, int nk, int64_t d);
    /* Four rows at once: acc[r][0..d) += Σ_j p[r·ld + j] · v_j for r < 4, j < nk (zeros included). */
    void (*wsum4_f32)(float *const *acc, const float *p, size_t ld, const float *v, size_t vs, int nk, int64_t d);
    /* dst[j·d + i] = src_j[i] for j < nk, src_j = src + j·ss bytes: F16 rows to packed floats. */
    void (*f16_rows)(float *dst, const hd_f16 *src, size_t ss, int nk, int64_t d);
} hd_ops_kern;

extern const hd_ops_kern hd_ops_kern_scalar;
extern const hd_ops_kern hd_ops_kern_avx2;
extern const hd_ops_kern hd_ops_kern_avx512;

/* The table for the active level (never NULL). */
const hd_ops_kern *hd_ops_kern_get(void);

/* ---- checks (ops_common.c); each sets err naming the op and the operand ---- */

/* t is non-NULL with data, of type `type`, rows contiguous (nb[0] = element size). */
hd_status hd_ops_check(const char *op, const char *what, const hd_tensor *t, hd_type type, hd_error *err);
/* Like hd_ops_check but F32 or F16. */
hd_status hd_ops_check_f32_f16(const char *op, const char *what, const hd_tensor *t, hd_error *err);
/* a and b have the same ne[0..3]. */
hd_status hd_ops_check_same(const char *op, const char *wa, const hd_tensor *a, const char *wb,
                            const hd_tensor *b, hd_error *err);
/* t is a vector of n elements (ne = {n, 1, 1, 1}), F32, contiguous. */
hd_status hd_ops_check_vec(const char *op, const char *what, const hd_tensor *t, int64_t n, hd_error *err);

/* True when the byte ranges spanned by a and b intersect. */
bool hd_ops_overlap(const hd_tensor *a, const hd_tensor *b);
/* True when every dimension is packed (rows back to back). */
bool hd_ops_packed(const hd_tensor *t);
/* Row r (flat index over ne[1..3]) of t. */
static inline char *hd_ops_row(const hd_tensor *t, int64_t r) {
    int64_t i1 = r % t->ne[1], i23 = r / t->ne[1];
    int64_t i2 = i23 % t->ne[2], i3 = i23 / t->ne[2];
    return (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

/* Work below this many elements per parallel_for chunk is not worth a thread. */
#define HD_OPS_GRAIN_ELEMS 16384
/* Rows per chunk so that a chunk holds at least HD_OPS_GRAIN_ELEMS elements. */
static inline int64_t hd_ops_row_grain(int64_t row_len) {
    int64_t g = HD_OPS_GRAIN_ELEMS / (row_len > 0 ? row_len : 1);
    return g < 1 ? 1 : g;
}

static inline hd_threadpool *hd_ops_pool(const hd_exec *ex) { return ex ? ex->pool : NULL; }

/* Rejects backends this build cannot run (core/backend.h: hd_backend_of). */
hd_status hd_ops_check_backend(const char *op, const hd_exec *ex, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
