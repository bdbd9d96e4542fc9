/* core/ops_avx2.c — AVX2/FMA/F16C kernels for the non-matmul ops (8 floats
 * per register; tails through maskload/maskstore, F16 tails through a small
 * zero-padded copy).  Same contracts as ops_scalar.c; results differ from it
 * only by rounding (exp is a degree-6 polynomial after range reduction). */
#include "ops_internal.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes [0, r) set, r clamped to [0, 8]. */
static inline __m256i tail_mask(int64_t r) {
    if (r >= 8) r = 8;
    if (r < 0) r = 0;
    return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - r));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* e^x; exactly 0 below -87, saturates at e^88 above 88. */
static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.0f), lo = _mm256_set1_ps(-87.0f);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

/* x / (1 + e^(-k·v)) */
static inline __m256 x_sigmoid8(__m256 x, __m256 v, float k) {
    __m256 e = exp8(_mm256_mul_ps(v, _mm256_set1_ps(-k)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 load_tail(const float *p, int64_t r) { return _mm256_maskload_ps(p, tail_mask(r)); }
static inline void store_tail(float *p, int64_t r, __m256 v) { _mm256_maskstore_ps(p, tail_mask(r), v); }

static float sum_sq(const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        a2 = _mm256_fmadd_ps(v2, v2, a2);
        a3 = _mm256_fmadd_ps(v3, v3, a3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        a0 = _mm256_fmadd_ps(v, v, a0);
    }
    if (i < n) {
        __m256 v = load_tail(x + i, n - i);
        a1 = _mm256_fmadd_ps(v, v, a1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

static void scale_mul(float *y, const float *x, float s, const float *w, int64_t n) {
    const __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(y + i, v);
    }
    if (i < n) {
        __m256 v = _mm256_mul_ps(load_tail(x + i, n - i), vs);
        if (w) v = _mm256_mul_ps(v, load_tail(w + i, n - i));
        store_tail(y + i, n - i, v);
    }
}

static float vmax(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float r = hmax(m);
    for (; i < n; i++)
        if (x[i] > r) r = x[i];
    return r;
}

static float exp_sum(float *x, int64_t n, float scale, float sub) {
    const __m256 vs = _mm256_set1_ps(scale), vsub = _mm256_set1_ps(sub);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(x + i), vs, vsub));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 e = exp8(_mm256_fmsub_ps(_mm256_maskload_ps(x + i, m), vs, vsub));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        acc = _mm256_add_ps(acc, e);
    }
    return hsum(acc);
}

static void scale(float *y, const float *x, float s, int64_t n) { scale_mul(y, x, s, NULL, n); }

static void add(float *y, const float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) store_tail(y + i, n - i, _mm256_add_ps(load_tail(a + i, n - i), load_tail(b + i, n - i)));
}

static void mul(float *y, const float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) store_tail(y + i, n - i, _mm256_mul_ps(load_tail(a + i, n - i), load_tail(b + i, n - i)));
}

static void silu(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, x_sigmoid8(v, v, 1.0f));
    }
    if (i < n) {
        __m256 v = load_tail(x + i, n - i);
        store_tail(y + i, n - i, x_sigmoid8(v, v, 1.0f));
    }
}

static void swiglu(float *y, const float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(x_sigmoid8(v, v, 1.0f), _mm256_loadu_ps(u + i)));
    }
    if (i < n) {
        __m256 v = load_tail(g + i, n - i);
        store_tail(y + i, n - i, _mm256_mul_ps(x_sigmoid8(v, v, 1.0f), load_tail(u + i, n - i)));
    }
}

/* 0.5·x·(1 + tanh(u)) = x·sigmoid(2u), u = sqrt(2/pi)·(x + 0.044715·x³) */
static inline __m256 gelu8(__m256 v) {
    const __m256 c = _mm256_set1_ps(0.7978845608028654f), c3 = _mm256_set1_ps(0.044715f);
    __m256 u = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(c3, v), _mm256_mul_ps(v, v), v));
    return x_sigmoid8(v, u, 2.0f);
}

static void gelu(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) store_tail(y + i, n - i, gelu8(load_tail(x + i, n - i)));
}

/* erf(x) for x >= 0 by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7):
 * 1 - (a1·t + a2·t² + a3·t³ + a4·t⁴ + a5·t⁵)·e^(-x²), t = 1 / (1 + p·x). */
static inline __m256 erf_pos8(__m256 x) {
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), x, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = exp8(_mm256_mul_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-1.0f)));
    return _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
}

static inline __m256 gelu_erf8(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 u = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
    __m256 erf = _mm256_xor_ps(erf_pos8(_mm256_andnot_ps(sign, u)), _mm256_and_ps(sign, u)); /* odd */
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

static void gelu_erf(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu_erf8(_mm256_loadu_ps(x + i)));
    if (i < n) store_tail(y + i, n - i, gelu_erf8(load_tail(x + i, n - i)));
}

static void sigmoid(float *y, const float *x, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, x_sigmoid8(one, _mm256_loadu_ps(x + i), 1.0f));
    if (i < n) store_tail(y + i, n - i, x_sigmoid8(one, load_tail(x + i, n - i), 1.0f));
}

/* 8 halves → floats; r < 8 reads only r of them. */
static inline __m256 load_f16(const hd_f16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load_f16_tail(const hd_f16 *p, int64_t r) {
    hd_f16 t[8] = {0};
    memcpy(t, p, (size_t)(r < 8 ? r : 8) * sizeof *p);
    return load_f16(t);
}

/* [Σa0, Σa1, Σa2, Σa3]: four horizontal sums sharing the shuffles. */
static inline __m128 reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

static void dots_f32(float *s, const float *q, const float *k, size_t ks, int nk, int64_t d, float sc) {
    int j = 0;
    /* four keys at a time: q is loaded once per step and the reductions are shared */
    for (; j + 4 <= nk; j += 4) {
        const float *k0 = (const float *)((const char *)k + (size_t)j * ks);
        const float *k1 = (const float *)((const char *)k0 + ks), *k2 = (const float *)((const char *)k1 + ks);
        const float *k3 = (const float *)((const char *)k2 + ks);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 8 <= d; i += 8) {
            __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + i), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + i), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + i), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + i), a3);
        }
        if (i < d) {
            __m256 qv = load_tail(q + i, d - i);
            a0 = _mm256_fmadd_ps(qv, load_tail(k0 + i, d - i), a0);
            a1 = _mm256_fmadd_ps(qv, load_tail(k1 + i, d - i), a1);
            a2 = _mm256_fmadd_ps(qv, load_tail(k2 + i, d - i), a2);
            a3 = _mm256_fmadd_ps(qv, load_tail(k3 + i, d - i), a3);
        }
        _mm_storeu_ps(s + j, _mm_mul_ps(reduce4(a0, a1, a2, a3), _mm_set1_ps(sc)));
    }
    for (; j < nk; j++) {
        const float *kj = (const float *)((const char *)k + (size_t)j * ks);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 16 <= d; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kj + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kj + i + 8), a1);
        }
        for (; i < d; i += 8) a0 = _mm256_fmadd_ps(load_tail(q + i, d - i), load_tail(kj + i, d - i), a0);
        s[j] = hsum(_mm256_add_ps(a0, a1)) * sc;
    }
}

static void dots_f16(float *s, const float *q, const hd_f16 *k, size_t ks, int nk, int64_t d, float sc) {
    for (int j = 0; j < nk; j++) {
        const hd_f16 *kj = (const hd_f16 *)((const char *)k + (size_t)j * ks);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 16 <= d; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(kj + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_f16(kj + i + 8), a1);
        }
        for (; i + 8 <= d; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(kj + i), a0);
        if (i < d) a1 = _mm256_fmadd_ps(load_tail(q + i, d - i), load_f16_tail(kj + i, d - i), a1);
        s[j] = hsum(_mm256_add_ps(a0, a1)) * sc;
    }
}

/* acc += Σ p_j v_j, 32 columns at a time held in four registers. */
static void wsum_f32(float *acc, const float *p, const float *v, size_t vs, int nk, int64_t d) {
    for (int64_t i0 = 0; i0 < d; i0 += 32) {
        const int64_t w = d - i0;
        const __m256i m0 = tail_mask(w), m1 = tail_mask(w - 8), m2 = tail_mask(w - 16), m3 = tail_mask(w - 24);
        float *a = acc + i0;
        __m256 r0 = _mm256_maskload_ps(a, m0), r1 = _mm256_maskload_ps(a + 8, m1);
        __m256 r2 = _mm256_maskload_ps(a + 16, m2), r3 = _mm256_maskload_ps(a + 24, m3);
        for (int j = 0; j < nk; j++) {
            if (p[j] == 0.0f) continue;
            const float *vj = (const float *)((const char *)v + (size_t)j * vs) + i0;
            __m256 pj = _mm256_set1_ps(p[j]);
            r0 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj, m0), r0);
            r1 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 8, m1), r1);
            r2 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 16, m2), r2);
            r3 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 24, m3), r3);
        }
        _mm256_maskstore_ps(a, m0, r0);
        _mm256_maskstore_ps(a + 8, m1, r1);
        _mm256_maskstore_ps(a + 16, m2, r2);
        _mm256_maskstore_ps(a + 24, m3, r3);
    }
}

static void wsum_f16(float *acc, const float *p, const hd_f16 *v, size_t vs, int nk, int64_t d) {
    int64_t i0 = 0;
    for (; i0 + 32 <= d; i0 += 32) {
        float *a = acc + i0;
        __m256 r0 = _mm256_loadu_ps(a), r1 = _mm256_loadu_ps(a + 8);
        __m256 r2 = _mm256_loadu_ps(a + 16), r3 = _mm256_loadu_ps(a + 24);
        for (int j = 0; j < nk; j++) {
            if (p[j] == 0.0f) continue;
            const hd_f16 *vj = (const hd_f16 *)((const char *)v + (size_t)j * vs) + i0;
            __m256 pj = _mm256_set1_ps(p[j]);
            r0 = _mm256_fmadd_ps(pj, load_f16(vj), r0);
            r1 = _mm256_fmadd_ps(pj, load_f16(vj + 8), r1);
            r2 = _mm256_fmadd_ps(pj, load_f16(vj + 16), r2);
            r3 = _mm256_fmadd_ps(pj, load_f16(vj + 24), r3);
        }
        _mm256_storeu_ps(a, r0);
        _mm256_storeu_ps(a + 8, r1);
        _mm256_storeu_ps(a + 16, r2);
        _mm256_storeu_ps(a + 24, r3);
    }
    /* the last < 32 columns, 8 at a time */
    for (; i0 < d; i0 += 8) {
        const int64_t w = d - i0;
        const __m256i m = tail_mask(w);
        __m256 r = _mm256_maskload_ps(acc + i0, m);
        for (int j = 0; j < nk; j++) {
            if (p[j] == 0.0f) continue;
            const hd_f16 *vj = (const hd_f16 *)((const char *)v + (size_t)j * vs) + i0;
            r = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), w >= 8 ? load_f16(vj) : load_f16_tail(vj, w), r);
        }
        _mm256_maskstore_ps(acc + i0, m, r);
    }
}

/* Two query rows × four keys per step (8 accumulators fit the 16 registers). */
static void dots2x4(float *s, size_t ld, const float *q0, const float *q1, const float *k, size_t ks, int nk,
                    int64_t d, float sc) {
    const __m128 vsc = _mm_set1_ps(sc);
    int j = 0;
    for (; j + 4 <= nk; j += 4) {
        const float *k0 = (const float *)((const char *)k + (size_t)j * ks);
        const float *k1 = (const float *)((const char *)k0 + ks), *k2 = (const float *)((const char *)k1 + ks);
        const float *k3 = (const float *)((const char *)k2 + ks);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int64_t i = 0; i < d; i += 8) {
            const int64_t r = d - i;
            __m256 kv0, kv1, kv2, kv3, qa, qb;
            if (r >= 8) {
                kv0 = _mm256_loadu_ps(k0 + i), kv1 = _mm256_loadu_ps(k1 + i);
                kv2 = _mm256_loadu_ps(k2 + i), kv3 = _mm256_loadu_ps(k3 + i);
                qa = _mm256_loadu_ps(q0 + i), qb = _mm256_loadu_ps(q1 + i);
            } else {
                kv0 = load_tail(k0 + i, r), kv1 = load_tail(k1 + i, r), kv2 = load_tail(k2 + i, r);
                kv3 = load_tail(k3 + i, r), qa = load_tail(q0 + i, r), qb = load_tail(q1 + i, r);
            }
            a0 = _mm256_fmadd_ps(qa, kv0, a0), a1 = _mm256_fmadd_ps(qa, kv1, a1);
            a2 = _mm256_fmadd_ps(qa, kv2, a2), a3 = _mm256_fmadd_ps(qa, kv3, a3);
            b0 = _mm256_fmadd_ps(qb, kv0, b0), b1 = _mm256_fmadd_ps(qb, kv1, b1);
            b2 = _mm256_fmadd_ps(qb, kv2, b2), b3 = _mm256_fmadd_ps(qb, kv3, b3);
        }
        _mm_storeu_ps(s + j, _mm_mul_ps(reduce4(a0, a1, a2, a3), vsc));
        _mm_storeu_ps(s + ld + j, _mm_mul_ps(reduce4(b0, b1, b2, b3), vsc));
    }
    if (j < nk) {
        const float *kj = (const float *)((const char *)k + (size_t)j * ks);
        dots_f32(s + j, q0, kj, ks, nk - j, d, sc);
        dots_f32(s + ld + j, q1, kj, ks, nk - j, d, sc);
    }
}

static void dots4_f32(float *s, size_t ld, const float *const *q, const float *k, size_t ks, int nk, int64_t d,
                      float sc) {
    dots2x4(s, ld, q[0], q[1], k, ks, nk, d, sc);
    dots2x4(s + 2 * ld, ld, q[2], q[3], k, ks, nk, d, sc);
}

/* Four rows × 16 columns in 8 registers; each V load feeds four FMAs. */
static void wsum4_f32(float *const *acc, const float *p, size_t ld, const float *v, size_t vs, int nk, int64_t d) {
    for (int64_t i0 = 0; i0 < d; i0 += 16) {
        const int64_t w = d - i0;
        const __m256i m0 = tail_mask(w), m1 = tail_mask(w - 8);
        __m256 r0[4], r1[4];
        for (int x = 0; x < 4; x++) {
            r0[x] = _mm256_maskload_ps(acc[x] + i0, m0);
            r1[x] = _mm256_maskload_ps(acc[x] + i0 + 8, m1);
        }
        for (int j = 0; j < nk; j++) {
            const float *vj = (const float *)((const char *)v + (size_t)j * vs) + i0;
            const __m256 v0 = _mm256_maskload_ps(vj, m0), v1 = _mm256_maskload_ps(vj + 8, m1);
            for (int x = 0; x < 4; x++) {
                const __m256 pj = _mm256_broadcast_ss(p + (size_t)x * ld + j);
                r0[x] = _mm256_fmadd_ps(pj, v0, r0[x]);
                r1[x] = _mm256_fmadd_ps(pj, v1, r1[x]);
            }
        }
        for (int x = 0; x < 4; x++) {
            _mm256_maskstore_ps(acc[x] + i0, m0, r0[x]);
            _mm256_maskstore_ps(acc[x] + i0 + 8, m1, r1[x]);
        }
    }
}

static void f16_rows(float *dst, const hd_f16 *src, size_t ss, int nk, int64_t d) {
    for (int j = 0; j < nk; j++) {
        const hd_f16 *r = (const hd_f16 *)((const char *)src + (size_t)j * ss);
        float *o = dst + j * d;
        int64_t i = 0;
        for (; i + 8 <= d; i += 8) _mm256_storeu_ps(o + i, load_f16(r + i));
        if (i < d) store_tail(o + i, d - i, load_f16_tail(r + i, d - i));
    }
}

const hd_ops_kern hd_ops_kern_avx2 = {
    .level = HD_CPU_AVX2,
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
