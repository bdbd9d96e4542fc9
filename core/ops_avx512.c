/* core/ops_avx512.c — AVX-512 kernels for the non-matmul ops (16 floats per
 * register, masked loads/stores for the tails).  Same contracts as
 * ops_scalar.c; results differ from it only by rounding (exp is a degree-6
 * polynomial after range reduction, ~2 ulp). */
#include "ops_internal.h"

#include <immintrin.h>
#include <math.h>

static inline __mmask16 tail_mask(int64_t r) { return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1u); }

/* e^x; exactly 0 below -87, saturates at e^88 above 88. */
static inline __m512 exp16(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.0f), lo = _mm512_set1_ps(-87.0f);
    __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_max_ps(_mm512_min_ps(x, hi), lo);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(keep, p, _mm512_castsi512_ps(e));
}

/* x / (1 + e^(-k·x)) */
static inline __m512 x_sigmoid16(__m512 x, __m512 v, float k) {
    __m512 e = exp16(_mm512_mul_ps(v, _mm512_set1_ps(-k)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static float sum_sq(const float *x, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
        a2 = _mm512_fmadd_ps(v2, v2, a2);
        a3 = _mm512_fmadd_ps(v3, v3, a3);
    }
    for (; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static void scale_mul(float *y, const float *x, float s, const float *w, int64_t n) {
    const __m512 vs = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

static float vmax(const float *x, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16)
        m = _mm512_mask_max_ps(m, tail_mask(n - i), m, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    return _mm512_reduce_max_ps(m);
}

static float exp_sum(float *x, int64_t n, float scale, float sub) {
    const __m512 vs = _mm512_set1_ps(scale), vsub = _mm512_set1_ps(sub);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp16(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, x + i), vs, vsub));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc = _mm512_mask_add_ps(acc, m, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

static void scale(float *y, const float *x, float s, int64_t n) { scale_mul(y, x, s, NULL, n); }

static void add(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void mul(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static void silu(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, x_sigmoid16(v, v, 1.0f));
    }
}

static void swiglu(float *y, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, g + i);
        __m512 s = x_sigmoid16(v, v, 1.0f);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* 0.5·x·(1 + tanh(u)) = x·sigmoid(2u), u = sqrt(2/pi)·(x + 0.044715·x³) */
static void gelu(float *y, const float *x, int64_t n) {
    const __m512 c = _mm512_set1_ps(0.7978845608028654f), c3 = _mm512_set1_ps(0.044715f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 u = _mm512_mul_ps(c, _mm512_fmadd_ps(_mm512_mul_ps(c3, v), _mm512_mul_ps(v, v), v));
        _mm512_mask_storeu_ps(y + i, m, x_sigmoid16(v, u, 2.0f));
    }
}

/* erf(x) for x >= 0 by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7):
 * 1 - (a1·t + a2·t² + a3·t³ + a4·t⁴ + a5·t⁵)·e^(-x²), t = 1 / (1 + p·x). */
static inline __m512 erf_pos16(__m512 x) {
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), x, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = exp16(_mm512_mul_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(-1.0f)));
    return _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
}

static void gelu_erf(float *y, const float *x, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 u = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
        __m512 a = _mm512_andnot_ps(sign, u);                                  /* |u| */
        __m512 erf = _mm512_xor_ps(erf_pos16(a), _mm512_and_ps(sign, u));      /* odd */
        __m512 r = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static void sigmoid(float *y, const float *x, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, x_sigmoid16(one, v, 1.0f));
    }
}

static inline __m512 load_f16(const hd_f16 *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* [Σa0, Σa1, Σa2, Σa3]: four horizontal sums sharing the shuffles. */
static inline __m128 reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m256 b0 = _mm256_add_ps(_mm512_castps512_ps256(a0), _mm512_extractf32x8_ps(a0, 1));
    __m256 b1 = _mm256_add_ps(_mm512_castps512_ps256(a1), _mm512_extractf32x8_ps(a1, 1));
    __m256 b2 = _mm256_add_ps(_mm512_castps512_ps256(a2), _mm512_extractf32x8_ps(a2, 1));
    __m256 b3 = _mm256_add_ps(_mm512_castps512_ps256(a3), _mm512_extractf32x8_ps(a3, 1));
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(b0, b1), _mm256_hadd_ps(b2, b3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

static void dots_f32(float *s, const float *q, const float *k, size_t ks, int nk, int64_t d, float sc) {
    int j = 0;
    /* four keys at a time: q is loaded once per step and the reductions are shared */
    for (; j + 4 <= nk; j += 4) {
        const float *k0 = (const float *)((const char *)k + (size_t)j * ks);
        const float *k1 = (const float *)((const char *)k0 + ks), *k2 = (const float *)((const char *)k1 + ks);
        const float *k3 = (const float *)((const char *)k2 + ks);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < d; i += 16) {
            __mmask16 m = tail_mask(d - i);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + i), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k1 + i), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k2 + i), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k3 + i), a3);
        }
        _mm_storeu_ps(s + j, _mm_mul_ps(reduce4(a0, a1, a2, a3), _mm_set1_ps(sc)));
    }
    for (; j < nk; j++) {
        const float *kj = (const float *)((const char *)k + (size_t)j * ks);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 32 <= d; i += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(kj + i), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(kj + i + 16), a1);
        }
        for (; i < d; i += 16) {
            __mmask16 m = tail_mask(d - i);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, kj + i), a0);
        }
        s[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * sc;
    }
}

/* 4 query rows × 4 keys per step: 16 accumulators, 8 loads per 16 FMAs. */
static void dots4_f32(float *s, size_t ld, const float *const *q, const float *k, size_t ks, int nk, int64_t d,
                      float sc) {
    const __m128 vsc = _mm_set1_ps(sc);
    int j = 0;
    for (; j + 4 <= nk; j += 4) {
        const float *k0 = (const float *)((const char *)k + (size_t)j * ks);
        const float *k1 = (const float *)((const char *)k0 + ks), *k2 = (const float *)((const char *)k1 + ks);
        const float *k3 = (const float *)((const char *)k2 + ks);
        __m512 a[4][4];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) a[r][c] = _mm512_setzero_ps();
        for (int64_t i = 0; i < d; i += 16) {
            const __mmask16 m = tail_mask(d - i);
            const __m512 kv0 = _mm512_maskz_loadu_ps(m, k0 + i), kv1 = _mm512_maskz_loadu_ps(m, k1 + i);
            const __m512 kv2 = _mm512_maskz_loadu_ps(m, k2 + i), kv3 = _mm512_maskz_loadu_ps(m, k3 + i);
            for (int r = 0; r < 4; r++) {
                const __m512 qv = _mm512_maskz_loadu_ps(m, q[r] + i);
                a[r][0] = _mm512_fmadd_ps(qv, kv0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(qv, kv1, a[r][1]);
                a[r][2] = _mm512_fmadd_ps(qv, kv2, a[r][2]);
                a[r][3] = _mm512_fmadd_ps(qv, kv3, a[r][3]);
            }
        }
        for (int r = 0; r < 4; r++)
            _mm_storeu_ps(s + (size_t)r * ld + j, _mm_mul_ps(reduce4(a[r][0], a[r][1], a[r][2], a[r][3]), vsc));
    }
    if (j < nk)
        for (int r = 0; r < 4; r++)
            dots_f32(s + (size_t)r * ld + j, q[r], (const float *)((const char *)k + (size_t)j * ks), ks, nk - j, d, sc);
}

static void dots_f16(float *s, const float *q, const hd_f16 *k, size_t ks, int nk, int64_t d, float sc) {
    for (int j = 0; j < nk; j++) {
        const hd_f16 *kj = (const hd_f16 *)((const char *)k + (size_t)j * ks);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 32 <= d; i += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_f16(kj + i, 0xFFFF), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_f16(kj + i + 16, 0xFFFF), a1);
        }
        for (; i < d; i += 16) {
            __mmask16 m = tail_mask(d - i);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load_f16(kj + i, m), a0);
        }
        s[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * sc;
    }
}

/* acc += Σ p_j v_j, up to 64 columns at a time held in registers; a last
 * chunk of w < 64 columns uses only the ceil(w/16) registers it needs (d = 80
 * is 64 + 16, not 64 + 64). LOAD(ptr, mask) gives 16 floats of a V row. */
#define WSUM_CHUNK(NREG, VT, LOAD)                                                                                 \
    do {                                                                                                           \
        __m512 r_[4];                                                                                              \
        for (int q_ = 0; q_ < (NREG); q_++) r_[q_] = _mm512_maskz_loadu_ps(mk[q_], a + 16 * q_);                   \
        for (int j = 0; j < nk; j++) {                                                                             \
            if (p[j] == 0.0f) continue;                                                                            \
            const VT *vj = (const VT *)((const char *)v + (size_t)j * vs) + i0;                                    \
            const __m512 pj = _mm512_set1_ps(p[j]);                                                                \
            for (int q_ = 0; q_ < (NREG); q_++) r_[q_] = _mm512_fmadd_ps(pj, LOAD(vj + 16 * q_, mk[q_]), r_[q_]);  \
        }                                                                                                          \
        for (int q_ = 0; q_ < (NREG); q_++) _mm512_mask_storeu_ps(a + 16 * q_, mk[q_], r_[q_]);                    \
    } while (0)

#define LOAD_F32(ptr, m) _mm512_maskz_loadu_ps((m), (ptr))
#define LOAD_F16(ptr, m) load_f16((ptr), (m))

#define WSUM_BODY(VT, LOAD)                                                                                        \
    for (int64_t i0 = 0; i0 < d; i0 += 64) {                                                                       \
        const int64_t w = d - i0 < 64 ? d - i0 : 64;                                                               \
        __mmask16 mk[4];                                                                                           \
        for (int q_ = 0; q_ < 4; q_++) mk[q_] = w > 16 * q_ ? tail_mask(w - 16 * q_) : 0;                          \
        float *a = acc + i0;                                                                                       \
        switch ((w + 15) / 16) {                                                                                   \
        case 1: WSUM_CHUNK(1, VT, LOAD); break;                                                                    \
        case 2: WSUM_CHUNK(2, VT, LOAD); break;                                                                    \
        case 3: WSUM_CHUNK(3, VT, LOAD); break;                                                                    \
        default: WSUM_CHUNK(4, VT, LOAD); break;                                                                   \
        }                                                                                                          \
    }

static void wsum_f32(float *acc, const float *p, const float *v, size_t vs, int nk, int64_t d) {
    WSUM_BODY(float, LOAD_F32)
}

static void wsum_f16(float *acc, const float *p, const hd_f16 *v, size_t vs, int nk, int64_t d) {
    WSUM_BODY(hd_f16, LOAD_F16)
}

/* Four rows share each V load: per key, NREG loads feed 4·NREG FMAs. */
#define WSUM4_CHUNK(NREG)                                                                                          \
    do {                                                                                                           \
        __m512 r_[4][4];                                                                                           \
        for (int w_ = 0; w_ < 4; w_++)                                                                             \
            for (int q_ = 0; q_ < (NREG); q_++) r_[w_][q_] = _mm512_maskz_loadu_ps(mk[q_], acc[w_] + i0 + 16 * q_); \
        for (int j = 0; j < nk; j++) {                                                                             \
            const float *vj = (const float *)((const char *)v + (size_t)j * vs) + i0;                              \
            __m512 vv[4];                                                                                          \
            for (int q_ = 0; q_ < (NREG); q_++) vv[q_] = _mm512_maskz_loadu_ps(mk[q_], vj + 16 * q_);              \
            for (int w_ = 0; w_ < 4; w_++) {                                                                       \
                const __m512 pj = _mm512_set1_ps(p[(size_t)w_ * ld + j]);                                          \
                for (int q_ = 0; q_ < (NREG); q_++) r_[w_][q_] = _mm512_fmadd_ps(pj, vv[q_], r_[w_][q_]);          \
            }                                                                                                      \
        }                                                                                                          \
        for (int w_ = 0; w_ < 4; w_++)                                                                             \
            for (int q_ = 0; q_ < (NREG); q_++) _mm512_mask_storeu_ps(acc[w_] + i0 + 16 * q_, mk[q_], r_[w_][q_]); \
    } while (0)

static void wsum4_f32(float *const *acc, const float *p, size_t ld, const float *v, size_t vs, int nk, int64_t d) {
    for (int64_t i0 = 0; i0 < d; i0 += 64) {
        const int64_t w = d - i0 < 64 ? d - i0 : 64;
        __mmask16 mk[4];
        for (int q_ = 0; q_ < 4; q_++) mk[q_] = w > 16 * q_ ? tail_mask(w - 16 * q_) : 0;
        switch ((w + 15) / 16) {
        case 1: WSUM4_CHUNK(1); break;
        case 2: WSUM4_CHUNK(2); break;
        case 3: WSUM4_CHUNK(3); break;
        default: WSUM4_CHUNK(4); break;
        }
    }
}

static void f16_rows(float *dst, const hd_f16 *src, size_t ss, int nk, int64_t d) {
    for (int j = 0; j < nk; j++) {
        const hd_f16 *r = (const hd_f16 *)((const char *)src + (size_t)j * ss);
        for (int64_t i = 0; i < d; i += 16) {
            __mmask16 m = tail_mask(d - i);
            _mm512_mask_storeu_ps(dst + j * d + i, m, load_f16(r + i, m));
        }
    }
}

const hd_ops_kern hd_ops_kern_avx512 = {
    .level = HD_CPU_AVX512,
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
