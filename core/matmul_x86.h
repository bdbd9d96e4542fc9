/* core/matmul_x86.h — internal: 256-bit kernels shared by matmul_avx2.c and
 * matmul_avx512.c.  Included once by each, so it is compiled with that file's
 * instruction-set flags; HD_X86_VNNI selects vpdpbusd (AVX512-VNNI on ymm)
 * over the AVX2 maddubs+madd pair for unsigned×signed byte dot products.
 * These are the AVX2 level's kernels; the AVX-512 level takes only the
 * activation quantizers, the row dequantizers and the dispatch macros from here
 * (its dots are zmm kernels of its own).  The gemm micro-kernels live in each file.
 */
#ifndef HD_MATMUL_X86_H
#define HD_MATMUL_X86_H

#include "kernels.h"
#include "quant.h"

#include <immintrin.h>
#include <string.h>

#define HD_INLINE static inline __attribute__((always_inline))

/* ---- helpers ---------------------------------------------------------------------- */

HD_INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

HD_INLINE float f16f(hd_f16 h) { return _cvtsh_ss(h); }

/* Σ over byte pairs of u8 × s8 into 8 int32 lanes (u <= 128, |s| <= 127: no saturation). */
HD_INLINE __m256i dp_u8s8(__m256i u, __m256i s) {
#ifdef HD_X86_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles then high nibbles. */
HD_INLINE __m256i nibbles32(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* ---- activation formats --------------------------------------------------------------- */

HD_INLINE __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

HD_INLINE float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 floats * id, rounded half to even, packed to 32 int8 in order. */
HD_INLINE __m256i round_pack32(const float *x, __m256 id) {
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    const __m256i s01 = _mm256_packs_epi32(i0, i1); /* lanes: 0-3 8-11 | 4-7 12-15 */
    const __m256i s23 = _mm256_packs_epi32(i2, i3);
    __m256i b = _mm256_packs_epi16(s01, s23); /* 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31 */
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void x86_act_q8x(const float *x, void *dst, int64_t k) {
    hd_block_q8x *y = dst;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        __m256 m = abs8(_mm256_loadu_ps(x));
        m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + 8)));
        m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + 16)));
        m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + 24)));
        const float amax = hmax8(m);
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = d;
        const __m256i q = round_pack32(x, _mm256_set1_ps(id));
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
        /* Σq: |q| <= 127 so byte pairs fit 16 bits */
        const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        y[i].s8 = 8.0f * d * (float)_mm_cvtsi128_si32(h);
    }
}

/* ggml's Q8_K rounding: scale from the signed value of largest magnitude (first one). */
static void x86_act_q8k(const float *x, void *dst, int64_t k) {
    hd_block_q8_k *y = dst;
    for (int64_t i = 0; i < k / HD_QK_K; i++, x += HD_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < HD_QK_K; j += 8) m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + j)));
        const float amax = hmax8(m);
        if (amax == 0.f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0.f;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < HD_QK_K; j += 8) {
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs8(_mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
            if (mask) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 vi = _mm256_set1_ps(iscale);
        for (int j = 0; j < HD_QK_K; j += 32) {
            /* values reach at most 127 after rounding except +128 for -max: clamp to 127 */
            const __m256 lim = _mm256_set1_ps(127.f);
            float t[32];
            for (int l = 0; l < 32; l += 8) _mm256_storeu_ps(t + l, _mm256_min_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + l), vi), lim));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), round_pack32(t, _mm256_set1_ps(1.f)));
        }
        for (int j = 0; j < 16; j++) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(y[i].qs + 16 * j));
            const __m256i w = _mm256_cvtepi8_epi16(q);
            const __m256i s = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            h = _mm_hadd_epi32(h, h);
            h = _mm_hadd_epi32(h, h);
            y[i].bsums[j] = (int16_t)_mm_cvtsi128_si32(h);
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- dot products, templated on the column count ----------------------------------------- */

#define XC(T, c) ((const T *)((const char *)x + (size_t)(c) * xs))

HD_INLINE __m256 ld8_f32(const float *p) { return _mm256_loadu_ps(p); }
HD_INLINE __m256 ld8_f16(const hd_f16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
HD_INLINE __m256 bf16x8(const hd_bf16 *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
HD_INLINE float one_f32(float v) { return v; }

/* Float-like weights (F32, F16, BF16 widened) against F32 activations.  One token:
 * four FMA chains over 32 weights a step (two chains wait on the FMA latency and
 * stream weights slower than memory delivers them); more: two chains each. */
#define HD_DOT_F8(NAME, WT, LD8, ONE)                                                                       \
    HD_INLINE void NAME(int64_t k, const WT *w, const void *x, size_t xs, const int nc, float *y, size_t ys) { \
        int64_t i = 0;                                                                                      \
        if (nc == 1) {                                                                                      \
            const float *x0 = x;                                                                            \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                    \
            for (; i + 32 <= k; i += 32) {                                                                  \
                a0 = _mm256_fmadd_ps(LD8(w + i), _mm256_loadu_ps(x0 + i), a0);                              \
                a1 = _mm256_fmadd_ps(LD8(w + i + 8), _mm256_loadu_ps(x0 + i + 8), a1);                      \
                a2 = _mm256_fmadd_ps(LD8(w + i + 16), _mm256_loadu_ps(x0 + i + 16), a2);                    \
                a3 = _mm256_fmadd_ps(LD8(w + i + 24), _mm256_loadu_ps(x0 + i + 24), a3);                    \
            }                                                                                               \
            for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(LD8(w + i), _mm256_loadu_ps(x0 + i), a0);       \
            float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                   \
            for (; i < k; i++) s += ONE(w[i]) * x0[i];                                                      \
            y[0] = s;                                                                                       \
            return;                                                                                         \
        }                                                                                                   \
        __m256 acc[HD_DOT_MAX_NC][2];                                                                       \
        for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();                           \
        for (; i + 16 <= k; i += 16) {                                                                      \
            const __m256 w0 = LD8(w + i), w1 = LD8(w + i + 8);                                              \
            for (int c = 0; c < nc; c++) {                                                                  \
                acc[c][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(XC(float, c) + i), acc[c][0]);              \
                acc[c][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(XC(float, c) + i + 8), acc[c][1]);          \
            }                                                                                               \
        }                                                                                                   \
        for (int c = 0; c < nc; c++) {                                                                      \
            float s = hsum8(_mm256_add_ps(acc[c][0], acc[c][1]));                                           \
            for (int64_t j = i; j < k; j++) s += ONE(w[j]) * XC(float, c)[j];                               \
            y[c * ys] = s;                                                                                  \
        }                                                                                                   \
    }

HD_DOT_F8(dot_f32_n, float, ld8_f32, one_f32)
HD_DOT_F8(dot_f16_n, hd_f16, ld8_f16, f16f)
/* BF16 weights against F32 activations (the AVX2 level; AVX-512 uses vdpbf16ps). */
HD_DOT_F8(dot_bf16f_n, hd_bf16, bf16x8, hd_bf16_to_f32)

/* One token against up to HD_DOT_ROWS rows (hd_dotr_fn; used for long rows): every
 * activation load serves all rows, two FMA chains per row, each row prefetched
 * HD_X86_PF_DIST bytes ahead (several interleaved streams outrun the hardware
 * prefetcher).  Summation order as dot_*_n for more tokens. */
#define HD_X86_PF_DIST 2048
#define HD_DOTR_F8(NAME, WT, LD8, ONE)                                                                     \
    HD_INLINE void NAME(int64_t k, const char *w, size_t ws, const float *x, const int nr, float *y) {     \
        __m256 acc[HD_DOT_ROWS][2];                                                                        \
        for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                         \
        int64_t i = 0;                                                                                     \
        for (; i + 16 <= k; i += 16) {                                                                     \
            const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);                     \
            for (int r = 0; r < nr; r++) {                                                                 \
                const WT *wr = (const WT *)(w + (size_t)r * ws);                                           \
                _mm_prefetch((const char *)(wr + i) + HD_X86_PF_DIST, _MM_HINT_T0);                        \
                acc[r][0] = _mm256_fmadd_ps(LD8(wr + i), x0, acc[r][0]);                                   \
                acc[r][1] = _mm256_fmadd_ps(LD8(wr + i + 8), x1, acc[r][1]);                               \
            }                                                                                              \
        }                                                                                                  \
        for (int r = 0; r < nr; r++) {                                                                     \
            const WT *wr = (const WT *)(w + (size_t)r * ws);                                               \
            float s = hsum8(_mm256_add_ps(acc[r][0], acc[r][1]));                                          \
            for (int64_t j = i; j < k; j++) s += ONE(wr[j]) * x[j];                                        \
            y[r] = s;                                                                                      \
        }                                                                                                  \
    }

HD_DOTR_F8(dotr_f32_n, float, ld8_f32, one_f32)
HD_DOTR_F8(dotr_f16_n, hd_f16, ld8_f16, f16f)
HD_DOTR_F8(dotr_bf16f_n, hd_bf16, bf16x8, hd_bf16_to_f32)

/* Instantiates the row-count variants behind one hd_dotr_fn. */
#define HD_DOTR_DISPATCH(NAME, IMPL, XT)                                                            \
    __attribute__((unused))                                                                        \
    static void NAME(int64_t k, const void *w, size_t ws, const void *x, int nr, float *y) {        \
        switch (nr) {                                                                              \
        case 1: IMPL(k, (const char *)w, ws, (const XT *)x, 1, y); break;                          \
        case 2: IMPL(k, (const char *)w, ws, (const XT *)x, 2, y); break;                          \
        case 3: IMPL(k, (const char *)w, ws, (const XT *)x, 3, y); break;                          \
        default: IMPL(k, (const char *)w, ws, (const XT *)x, 4, y); break;                         \
        }                                                                                          \
    }

HD_DOTR_DISPATCH(x86_dotr_f32, dotr_f32_n, float)
HD_DOTR_DISPATCH(x86_dotr_f16, dotr_f16_n, float)
HD_DOTR_DISPATCH(x86_dotr_bf16f, dotr_bf16f_n, float)

/* Instantiates every (rows, tokens) pair of a hd_dotm_fn (kernels.h dot_tile). */
#define HD_DOTM_CASE(IMPL, R)                                                                    \
    case R:                                                                                      \
        switch (nc) {                                                                            \
        case 1: IMPL(k, (const char *)w, ws, R, (const char *)x, xs, 1, y, ys); break;            \
        case 2: IMPL(k, (const char *)w, ws, R, (const char *)x, xs, 2, y, ys); break;            \
        case 3: IMPL(k, (const char *)w, ws, R, (const char *)x, xs, 3, y, ys); break;            \
        default: IMPL(k, (const char *)w, ws, R, (const char *)x, xs, 4, y, ys); break;           \
        }                                                                                        \
        break;
#define HD_DOTM_DISPATCH(NAME, IMPL)                                                                               \
    __attribute__((unused)) static void NAME(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs, \
                                             int nc, float *y, size_t ys) {                                       \
        switch (nr) {                                                                                             \
            HD_DOTM_CASE(IMPL, 1)                                                                                 \
            HD_DOTM_CASE(IMPL, 2)                                                                                 \
            HD_DOTM_CASE(IMPL, 3)                                                                                 \
        default:                                                                                                  \
            HD_DOTM_CASE(IMPL, 4)                                                                                 \
        }                                                                                                         \
    }

/* A tile of nr rows × nc tokens on ymm (hd_dotm_fn): the tokens two at a time, so the
 * 4 × 2 accumulators, two activations and a weight fit the 16 registers; the second
 * pass reads the rows again from L1/L2, not from memory.  Tail elements scalar. */
#define HD_DOTM_F8(NAME, WT, LD8, ONE)                                                                      \
    HD_INLINE void NAME(int64_t k, const char *w, size_t ws, const int nr, const char *x, size_t xs,        \
                        const int nc, float *y, size_t ys) {                                                \
        for (int c0 = 0; c0 < nc; c0 += 2) {                                                                \
            const int n2 = nc - c0 < 2 ? nc - c0 : 2;                                                       \
            __m256 acc[HD_DOTM_ROWS][2];                                                                    \
            for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                       \
            int64_t i = 0;                                                                                  \
            for (; i + 8 <= k; i += 8) {                                                                    \
                __m256 xv[2];                                                                               \
                for (int c = 0; c < n2; c++) xv[c] = _mm256_loadu_ps((const float *)(x + (size_t)(c0 + c) * xs) + i); \
                for (int r = 0; r < nr; r++) {                                                              \
                    const __m256 wv = LD8((const WT *)(w + (size_t)r * ws) + i);                            \
                    for (int c = 0; c < n2; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);         \
                }                                                                                           \
            }                                                                                               \
            for (int r = 0; r < nr; r++) {                                                                  \
                const WT *wr = (const WT *)(w + (size_t)r * ws);                                            \
                for (int c = 0; c < n2; c++) {                                                              \
                    const float *xc = (const float *)(x + (size_t)(c0 + c) * xs);                           \
                    float s = hsum8(acc[r][c]);                                                             \
                    for (int64_t j = i; j < k; j++) s += ONE(wr[j]) * xc[j];                                \
                    y[(size_t)(c0 + c) * ys + r] = s;                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

HD_DOTM_F8(dotm_f32_n, float, ld8_f32, one_f32)
HD_DOTM_F8(dotm_f16_n, hd_f16, ld8_f16, f16f)
HD_DOTM_DISPATCH(x86_dotm_f32, dotm_f32_n)
HD_DOTM_DISPATCH(x86_dotm_f16, dotm_f16_n)

/* The 32-blocks are processed two at a time into separate accumulators: one FMA
 * chain per block would bound the loop by the FMA latency (4 cycles a block). */
HD_INLINE __m256 q8_0_block(const hd_block_q8_0 *b, const hd_block_q8x *a, __m256 acc) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)b->qs);
    const __m256i xq = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)a->qs), q);
    const __m256 p = _mm256_cvtepi32_ps(dp_u8s8(_mm256_abs_epi8(q), xq));
    return _mm256_fmadd_ps(p, _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)b->d)), _mm256_broadcast_ss(&a->d)), acc);
}

HD_INLINE void dot_q8_0_n(int64_t k, const hd_block_q8_0 *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m256 acc0[HD_DOT_MAX_NC], acc1[HD_DOT_MAX_NC];
    for (int c = 0; c < nc; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();
    const int64_t nb = k / 32;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2)
        for (int c = 0; c < nc; c++) {
            const hd_block_q8x *a = XC(hd_block_q8x, c) + i;
            acc0[c] = q8_0_block(b + i, a, acc0[c]);
            acc1[c] = q8_0_block(b + i + 1, a + 1, acc1[c]);
        }
    if (i < nb)
        for (int c = 0; c < nc; c++) acc0[c] = q8_0_block(b + i, XC(hd_block_q8x, c) + i, acc0[c]);
    for (int c = 0; c < nc; c++) y[c * ys] = hsum8(_mm256_add_ps(acc0[c], acc1[c]));
}

/* Q4_0: unsigned nibbles times the activations; the weights' offset of 8 is taken
 * off once per block through the activations' s8 (dw·s8 summed in a float lane). */
HD_INLINE __m256 bcast_f16(const hd_f16 *h) { return _mm256_cvtph_ps(_mm_set1_epi16((short)*h)); }

HD_INLINE __m256 q4_0_block(const hd_block_q4_0 *b, const hd_block_q8x *a, __m256 acc, __m256 *corr) {
    const __m256 dw = bcast_f16(&b->d);
    const __m256 p = _mm256_cvtepi32_ps(dp_u8s8(nibbles32(b->qs), _mm256_loadu_si256((const __m256i *)a->qs)));
    *corr = _mm256_fmadd_ps(dw, _mm256_broadcast_ss(&a->s8), *corr);
    return _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d)), acc);
}

HD_INLINE void dot_q4_0_n(int64_t k, const hd_block_q4_0 *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m256 acc0[HD_DOT_MAX_NC], acc1[HD_DOT_MAX_NC];
    __m256 cor0[HD_DOT_MAX_NC], cor1[HD_DOT_MAX_NC]; /* every lane holds the same sum */
    for (int c = 0; c < nc; c++) acc0[c] = acc1[c] = cor0[c] = cor1[c] = _mm256_setzero_ps();
    const int64_t nb = k / 32;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2)
        for (int c = 0; c < nc; c++) {
            const hd_block_q8x *a = XC(hd_block_q8x, c) + i;
            acc0[c] = q4_0_block(b + i, a, acc0[c], &cor0[c]);
            acc1[c] = q4_0_block(b + i + 1, a + 1, acc1[c], &cor1[c]);
        }
    if (i < nb)
        for (int c = 0; c < nc; c++) acc0[c] = q4_0_block(b + i, XC(hd_block_q8x, c) + i, acc0[c], &cor0[c]);
    for (int c = 0; c < nc; c++)
        y[c * ys] = hsum8(_mm256_add_ps(acc0[c], acc1[c])) - _mm256_cvtss_f32(_mm256_add_ps(cor0[c], cor1[c]));
}

/* 6-bit scales and mins of a Q4_K/Q5_K block as two vectors of 16-bit lanes:
 * sc16[j] = scale of sub-block j (lanes 0..7), m16 = mins duplicated per 16-group
 * pair for the bsums product. */
HD_INLINE void k_scales(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    /* word-wide: A = bytes 0-3, B = 4-7, C = 8-11 (see core/quant.c for the layout) */
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    const uint32_t sc_lo = a & lo6, m_lo = b & lo6;
    const uint32_t sc_hi = (c & lo4) | (((a >> 6) & lo2) << 4);
    const uint32_t m_hi = ((c >> 4) & lo4) | (((b >> 6) & lo2) << 4);
    memcpy(sc, &sc_lo, 4);
    memcpy(sc + 4, &sc_hi, 4);
    memcpy(m, &m_lo, 4);
    memcpy(m + 4, &m_hi, 4);
}

/* Σ_j m_j · (bsums[2j] + bsums[2j+1]) as 8 int32 lanes (sum them for the total). */
HD_INLINE __m256i k_minsum(const uint8_t m[8], const int16_t *bsums) {
    const __m128i m8 = _mm_loadl_epi64((const __m128i *)m);
    const __m128i m16 = _mm_unpacklo_epi8(m8, m8); /* m0 m0 m1 m1 ... as bytes */
    const __m256i mw = _mm256_cvtepu8_epi16(m16);
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), mw);
}

/* Unsigned 4/5-bit quants (32 bytes) times 32 Q8_K values, scaled by one sub-block scale. */
HD_INLINE __m256i k_sub(__m256i q, const int8_t *a, int16_t sc) {
    const __m256i p16 = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)a));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(sc));
}

HD_INLINE void dot_q4_k_n(int64_t k, const hd_block_q4_k *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m256 acc[HD_DOT_MAX_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(b[i].scales, sc, m);
        const float d = f16f(b[i].d), dmin = f16f(b[i].dmin);
        __m256i isum[HD_DOT_MAX_NC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int jj = 0; jj < 4; jj++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * jj));
            const __m256i lo = _mm256_and_si256(q, low);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            for (int c = 0; c < nc; c++) {
                const int8_t *aq = XC(hd_block_q8_k, c)[i].qs + 64 * jj;
                isum[c] = _mm256_add_epi32(isum[c], k_sub(lo, aq, sc[2 * jj]));
                isum[c] = _mm256_add_epi32(isum[c], k_sub(hi, aq + 32, sc[2 * jj + 1]));
            }
        }
        for (int c = 0; c < nc; c++) {
            const hd_block_q8_k *a = XC(hd_block_q8_k, c) + i;
            const __m256 pm = _mm256_cvtepi32_ps(k_minsum(m, a->bsums));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * a->d), acc[c]);
            acc[c] = _mm256_fnmadd_ps(pm, _mm256_set1_ps(dmin * a->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) y[c * ys] = hsum8(acc[c]);
}

HD_INLINE void dot_q5_k_n(int64_t k, const hd_block_q5_k *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m256 acc[HD_DOT_MAX_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(b[i].scales, sc, m);
        const float d = f16f(b[i].d), dmin = f16f(b[i].dmin);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        __m256i isum[HD_DOT_MAX_NC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int jj = 0; jj < 4; jj++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * jj));
            const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * jj), one);
            const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * jj + 1), one);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low), _mm256_slli_epi16(h0, 4));
            const __m256i hi =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), _mm256_slli_epi16(h1, 4));
            for (int c = 0; c < nc; c++) {
                const int8_t *aq = XC(hd_block_q8_k, c)[i].qs + 64 * jj;
                isum[c] = _mm256_add_epi32(isum[c], k_sub(lo, aq, sc[2 * jj]));
                isum[c] = _mm256_add_epi32(isum[c], k_sub(hi, aq + 32, sc[2 * jj + 1]));
            }
        }
        for (int c = 0; c < nc; c++) {
            const hd_block_q8_k *a = XC(hd_block_q8_k, c) + i;
            const __m256 pm = _mm256_cvtepi32_ps(k_minsum(m, a->bsums));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * a->d), acc[c]);
            acc[c] = _mm256_fnmadd_ps(pm, _mm256_set1_ps(dmin * a->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) y[c * ys] = hsum8(acc[c]);
}

HD_INLINE void dot_q6_k_n(int64_t k, const hd_block_q6_k *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m256 acc[HD_DOT_MAX_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        const float d = f16f(b[i].d);
        /* scales as 16-bit lanes, each repeated for the 8 lanes of its 16 weights */
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)b[i].scales);
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        __m256i isum[HD_DOT_MAX_NC];
        for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
            for (int g = 0; g < 4; g++) {
                const int s0 = b[i].scales[8 * h + 2 * g], s1 = b[i].scales[8 * h + 2 * g + 1];
                const __m256i scv = _mm256_setr_m128i(_mm_set1_epi16((int16_t)s0), _mm_set1_epi16((int16_t)s1));
                for (int c = 0; c < nc; c++) {
                    const int8_t *aq = XC(hd_block_q8_k, c)[i].qs + 128 * h + 32 * g;
                    const __m256i p16 = _mm256_maddubs_epi16(q[g], _mm256_loadu_si256((const __m256i *)aq));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(p16, scv));
                }
            }
        }
        for (int c = 0; c < nc; c++) {
            const hd_block_q8_k *a = XC(hd_block_q8_k, c) + i;
            /* the -32 offset: 32 · Σ_g sc_g · bsum_g */
            const __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), sc16);
            const __m256i tot = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), _mm256_set1_ps(d * a->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) y[c * ys] = hsum8(acc[c]);
}

/* Instantiate the column-count variants and a dispatcher with the hd_dot_fn signature. */
#define HD_DOT_DISPATCH(NAME, IMPL, WT)                                                                  \
    __attribute__((unused))                                                                           \
    static void NAME(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        switch (nc) {                                                                                 \
        case 1: IMPL(k, (const WT *)w, x, xs, 1, y, ys); break;                                         \
        case 2: IMPL(k, (const WT *)w, x, xs, 2, y, ys); break;                                         \
        case 3: IMPL(k, (const WT *)w, x, xs, 3, y, ys); break;                                         \
        default: IMPL(k, (const WT *)w, x, xs, 4, y, ys); break;                                        \
        }                                                                                             \
    }

HD_DOT_DISPATCH(x86_dot_f32, dot_f32_n, float)
HD_DOT_DISPATCH(x86_dot_f16, dot_f16_n, hd_f16)
HD_DOT_DISPATCH(x86_dot_bf16f, dot_bf16f_n, hd_bf16)
HD_DOT_DISPATCH(x86_dot_q8_0, dot_q8_0_n, hd_block_q8_0)
HD_DOT_DISPATCH(x86_dot_q4_0, dot_q4_0_n, hd_block_q4_0)
HD_DOT_DISPATCH(x86_dot_q4_k, dot_q4_k_n, hd_block_q4_k)
HD_DOT_DISPATCH(x86_dot_q5_k, dot_q5_k_n, hd_block_q5_k)
HD_DOT_DISPATCH(x86_dot_q6_k, dot_q6_k_n, hd_block_q6_k)

/* ---- row dequantizers (gemm packing, get_rows, convert) ------------------------------- */

static void x86_deq_f32(const void *s, float *d, int64_t k) { memcpy(d, s, (size_t)k * sizeof(float)); }

static void x86_deq_f16(const void *s, float *d, int64_t k) {
    const hd_f16 *h = s;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < k; i++) d[i] = f16f(h[i]);
}

static void x86_deq_bf16(const void *s, float *d, int64_t k) {
    const hd_bf16 *h = s;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(d + i, bf16x8(h + i));
    for (; i < k; i++) d[i] = hd_bf16_to_f32(h[i]);
}

HD_INLINE void store_i8x32(float *d, __m256i q, __m256 scale) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(d, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), scale));
    _mm256_storeu_ps(d + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), scale));
    _mm256_storeu_ps(d + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), scale));
    _mm256_storeu_ps(d + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), scale));
}

static void x86_deq_q8_0(const void *s, float *d, int64_t k) {
    const hd_block_q8_0 *b = s;
    for (int64_t i = 0; i < k / 32; i++, d += 32)
        store_i8x32(d, _mm256_loadu_si256((const __m256i *)b[i].qs), _mm256_set1_ps(f16f(b[i].d)));
}

static void x86_deq_q4_0(const void *s, float *d, int64_t k) {
    const hd_block_q4_0 *b = s;
    for (int64_t i = 0; i < k / 32; i++, d += 32)
        store_i8x32(d, _mm256_sub_epi8(nibbles32(b[i].qs), _mm256_set1_epi8(8)), _mm256_set1_ps(f16f(b[i].d)));
}

/* 32 unsigned quants * scale - min */
HD_INLINE void store_u8x32(float *d, __m256i q, __m256 scale, __m256 min) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(d, _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), scale, min));
    _mm256_storeu_ps(d + 8, _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), scale, min));
    _mm256_storeu_ps(d + 16, _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), scale, min));
    _mm256_storeu_ps(d + 24, _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), scale, min));
}

static void x86_deq_q4_k(const void *s, float *d, int64_t k) {
    const hd_block_q4_k *b = s;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(b[i].scales, sc, m);
        const float dd = f16f(b[i].d), dm = f16f(b[i].dmin);
        for (int jj = 0; jj < 4; jj++, d += 64) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * jj));
            store_u8x32(d, _mm256_and_si256(q, low), _mm256_set1_ps(dd * sc[2 * jj]), _mm256_set1_ps(dm * m[2 * jj]));
            store_u8x32(d + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), low), _mm256_set1_ps(dd * sc[2 * jj + 1]),
                        _mm256_set1_ps(dm * m[2 * jj + 1]));
        }
    }
}

static void x86_deq_q5_k(const void *s, float *d, int64_t k) {
    const hd_block_q5_k *b = s;
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(b[i].scales, sc, m);
        const float dd = f16f(b[i].d), dm = f16f(b[i].dmin);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        for (int jj = 0; jj < 4; jj++, d += 64) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * jj));
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * jj), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * jj + 1), one), 4);
            store_u8x32(d, _mm256_or_si256(_mm256_and_si256(q, low), h0), _mm256_set1_ps(dd * sc[2 * jj]),
                        _mm256_set1_ps(dm * m[2 * jj]));
            store_u8x32(d + 32, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), h1),
                        _mm256_set1_ps(dd * sc[2 * jj + 1]), _mm256_set1_ps(dm * m[2 * jj + 1]));
        }
    }
}

/* 16 signed quants (q - 32) times a scale. */
HD_INLINE void store_i8x16(float *d, __m128i q, __m256 scale) {
    _mm256_storeu_ps(d, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), scale));
    _mm256_storeu_ps(d + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), scale));
}

static void x86_deq_q6_k(const void *s, float *d, int64_t k) {
    const hd_block_q6_k *b = s;
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        const float dd = f16f(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
            for (int g = 0; g < 4; g++, d += 32) {
                const __m256i v = _mm256_sub_epi8(q[g], off);
                const int8_t *sc = b[i].scales + 8 * h + 2 * g;
                store_i8x16(d, _mm256_castsi256_si128(v), _mm256_set1_ps(dd * sc[0]));
                store_i8x16(d + 16, _mm256_extracti128_si256(v, 1), _mm256_set1_ps(dd * sc[1]));
            }
        }
    }
}

#endif
