/* core/ops_scalar.c — the reference kernels for the non-matmul ops: plain C,
 * libm's expf/tanhf, no intrinsics.  The fallback on machines without AVX2
 * and the yardstick the SIMD tables are tested against. */
#include "ops_internal.h"

#include <math.h>
#include <pthread.h>

/* exp as the SIMD kernels define it: exactly 0 below their flush threshold. */
#define HD_EXP_FLUSH (-87.0f)

/* Sums in double: this table is the accuracy reference (and long rows, e.g.
 * a 128k-entry softmax, would drift in a float accumulator). */
static float sum_sq(const float *x, int64_t n) {
    double a[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) a[j] += (double)x[i + j] * x[i + j];
    for (; i < n; i++) a[0] += (double)x[i] * x[i];
    return (float)((a[0] + a[1]) + (a[2] + a[3]));
}

static void scale_mul(float *y, const float *x, float s, const float *w, int64_t n) {
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * s * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
}

static float vmax(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

static float exp_sum(float *x, int64_t n, float scale, float sub) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        float t = x[i] * scale - sub;
        float e = t < HD_EXP_FLUSH ? 0.0f : expf(t);
        x[i] = e;
        s += e;
    }
    return (float)s;
}

static void scale(float *y, const float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
}

static void add(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void mul(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

static inline float silu1(float x) { return x / (1.0f + expf(-x)); }

static void silu(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = silu1(x[i]);
}

static void swiglu(float *y, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = silu1(g[i]) * u[i];
}

static void gelu(float *y, const float *x, int64_t n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

static void gelu_erf(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

static void sigmoid(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void dots_f32(float *s, const float *q, const float *k, size_t ks, int nk, int64_t d, float sc) {
    for (int j = 0; j < nk; j++) {
        const float *kj = (const float *)((const char *)k + (size_t)j * ks);
        float a = 0;
        for (int64_t i = 0; i < d; i++) a += q[i] * kj[i];
        s[j] = a * sc;
    }
}

/* F16 → F32 through a table built once (hd_f16_to_f32 is exact but branchy). */
static float g_f16_table[65536];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;
static void f16_table_init(void) {
    for (uint32_t i = 0; i < 65536; i++) g_f16_table[i] = hd_f16_to_f32((hd_f16)i);
}
static inline const float *f16_table(void) {
    pthread_once(&g_f16_once, f16_table_init);
    return g_f16_table;
}

static void dots_f16(float *s, const float *q, const hd_f16 *k, size_t ks, int nk, int64_t d, float sc) {
    const float *tab = f16_table();
    for (int j = 0; j < nk; j++) {
        const hd_f16 *kj = (const hd_f16 *)((const char *)k + (size_t)j * ks);
        float a = 0;
        for (int64_t i = 0; i < d; i++) a += q[i] * tab[kj[i]];
        s[j] = a * sc;
    }
}

static void wsum_f32(float *acc, const float *p, const float *v, size_t vs, int nk, int64_t d) {
    for (int j = 0; j < nk; j++) {
        if (p[j] == 0.0f) continue;
        const float *vj = (const float *)((const char *)v + (size_t)j * vs);
        for (int64_t i = 0; i < d; i++) acc[i] += p[j] * vj[i];
    }
}

static void wsum_f16(float *acc, const float *p, const hd_f16 *v, size_t vs, int nk, int64_t d) {
    const float *tab = f16_table();
    for (int j = 0; j < nk; j++) {
        if (p[j] == 0.0f) continue;
        const hd_f16 *vj = (const hd_f16 *)((const char *)v + (size_t)j * vs);
        for (int64_t i = 0; i < d; i++) acc[i] += p[j] * tab[vj[i]];
    }
}

static void dots4_f32(float *s, size_t ld, const float *const *q, const float *k, size_t ks, int nk, int64_t d,
                      float sc) {
    for (int r = 0; r < 4; r++) dots_f32(s + (size_t)r * ld, q[r], k, ks, nk, d, sc);
}

static void wsum4_f32(float *const *acc, const float *p, size_t ld, const float *v, size_t vs, int nk, int64_t d) {
    for (int r = 0; r < 4; r++) wsum_f32(acc[r], p + (size_t)r * ld, v, vs, nk, d);
}

static void f16_rows(float *dst, const hd_f16 *src, size_t ss, int nk, int64_t d) {
    const float *tab = f16_table();
    for (int j = 0; j < nk; j++) {
        const hd_f16 *r = (const hd_f16 *)((const char *)src + (size_t)j * ss);
        for (int64_t i = 0; i < d; i++) dst[j * d + i] = tab[r[i]];
    }
}

const hd_ops_kern hd_ops_kern_scalar = {
    .level = HD_CPU_SCALAR,
    .sum_sq = sum_sq,
    .scale_mul = scale_mul,
    .max = vmax,
    .exp_sum = exp_sum,
    .scale = scale,
    .add = add,
    .mul = mul,
    .silu = silu,
    .swiglu = swiglu,
    .gelu = gelu,
    .gelu_erf = gelu_erf,
    .sigmoid = sigmoid,
    .dots_f32 = dots_f32,
    .dots_f16 = dots_f16,
    .dots4_f32 = dots4_f32,
    .wsum_f32 = wsum_f32,
    .wsum_f16 = wsum_f16,
    .wsum4_f32 = wsum4_f32,
    .f16_rows = f16_rows,
};
