/* core/matmul_avx512.c — AVX-512 (F/BW/VL/DQ + VNNI + BF16) kernels.
 *
 * Matrix-vector (dot path): zmm kernels for every weight type (Zen 5 runs
 * 512-bit ops at full width), with activation layouts that match each
 * type's register layout (hd_block_q8x2 for Q8_0, q8x4h for Q4_0, Q8_K in
 * nibble order for Q4_K/Q5_K), several independent accumulator chains, and
 * for one token against long F32/F16 rows a several-rows kernel (dot_rows);
 * 2..31 tokens of F16/F32 go through 4-row × 4-token tiles (dot_tile).
 * gemm: 12 tokens × 32 outputs (24 accumulators) with FMA for F32/F16 and
 * vdpbf16ps for BF16 weights, panels packed by 16×16 transposes; int8 gemms
 * (vpdpbusd) for Q8_0/Q4_0 and the K-quants.  BF16 weights take BF16
 * activations on this level (as llama.cpp does).
 * Attention (attn_tile): F32 keys and values against tiles of 32 queries, the
 * scores and p·V as gemm micro-kernels along the queries, online softmax on zmm.
 */
#define HD_X86_VNNI 1
#include "matmul_x86.h"

#include <math.h>

/* Software prefetch distance of the matrix-vector kernels: weight streams are also
 * prefetched this far ahead of the hardware prefetcher (measured on Zen 5: +10-15%
 * with four interleaved F16 rows at 8192 inputs; 512 B or 4 KiB: no better). */
#define HD_PF_DIST 2048

#define A5_MR 12
#define A5_NR 32

/* Writes the 12×32 accumulator tile c[m][2] into C (masked for nr < 32, rows < mr). */
#define A5_STORE_ROW(m)                                                                          \
    if ((m) < mr) {                                                                              \
        float *cr = c + (size_t)(m) * ldc;                                                       \
        __m512 t0 = acc##m##0, t1 = acc##m##1;                                                   \
        if (accumulate) {                                                                        \
            t0 = _mm512_add_ps(t0, _mm512_maskz_loadu_ps(k0, cr));                               \
            t1 = _mm512_add_ps(t1, _mm512_maskz_loadu_ps(k1, cr + 16));                          \
        }                                                                                        \
        _mm512_mask_storeu_ps(cr, k0, t0);                                                       \
        _mm512_mask_storeu_ps(cr + 16, k1, t1);                                                  \
    }

#define A5_DECL(m) __m512 acc##m##0 = _mm512_setzero_ps(), acc##m##1 = _mm512_setzero_ps();
#define A5_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

#define A5_FMA(m)                                                         \
    {                                                                     \
        const __m512 xb = _mm512_set1_ps(xp[m]);                          \
        acc##m##0 = _mm512_fmadd_ps(xb, w0, acc##m##0);                   \
        acc##m##1 = _mm512_fmadd_ps(xb, w1, acc##m##1);                   \
    }

static void gemm_f32_12x32(int64_t kc, const void *xpv, const void *wpv, float *c, size_t ldc, int mr, int nr,
                           bool accumulate) {
    const float *xp = xpv, *wp = wpv;
    A5_ALL(A5_DECL)
    for (int64_t k = 0; k < kc; k++, xp += A5_MR, wp += A5_NR) {
        const __m512 w0 = _mm512_load_ps(wp), w1 = _mm512_load_ps(wp + 16);
        A5_ALL(A5_FMA)
    }
    const __mmask16 k0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    A5_ALL(A5_STORE_ROW)
}

#define A5_DP(m)                                                                                    \
    {                                                                                               \
        const __m512bh xb = (__m512bh)_mm512_set1_epi32((int)xp[m]);                                \
        acc##m##0 = _mm512_dpbf16_ps(acc##m##0, xb, w0);                                            \
        acc##m##1 = _mm512_dpbf16_ps(acc##m##1, xb, w1);                                            \
    }

/* kc counts bf16 values (even); xp is [kc/2][12] pairs, wp [kc/2][32] pairs. */
static void gemm_bf16_12x32(int64_t kc, const void *xpv, const void *wpv, float *c, size_t ldc, int mr, int nr,
                            bool accumulate) {
    const uint32_t *xp = xpv, *wp = wpv;
    A5_ALL(A5_DECL)
    for (int64_t k = 0; k < kc / 2; k++, xp += A5_MR, wp += A5_NR) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512(wp), w1 = (__m512bh)_mm512_load_si512(wp + 16);
        A5_ALL(A5_DP)
    }
    const __mmask16 k0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    A5_ALL(A5_STORE_ROW)
}

/* ---- panel packing: 16×16 transposes of 32-bit values ------------------------------- */

/* r[i] = row i of a 16×16 block of 32-bit values -> r[j] = column j. */
HD_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* per 128-bit lane L: r_i[4L] r_i+1[4L] r_i[4L+1] r_i+1[4L+1] */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* the same for columns 4L+2, 4L+3 */
    }
    __m512 u[16]; /* u[4g + c], lane L: rows 4g..4g+3 at column 4L + c */
    for (int g = 0; g < 4; g++) {
        const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
        const __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int c = 0; c < 4; c++) { /* column 4L + c gathers lane L of u[c], u[4 + c], u[8 + c], u[12 + c] */
        const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

/* 16 values of row r from column j (the first `m` lanes; rows past nr: zeros). */
HD_INLINE __m512 pk_f16(const void *w, size_t ws, int r, int nr, int64_t j, __mmask16 m) {
    if (r >= nr) return _mm512_setzero_ps();
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const hd_f16 *)((const char *)w + (size_t)r * ws) + j));
}
HD_INLINE __m512 pk_u32(const void *w, size_t ws, int r, int nr, int64_t j, __mmask16 m) {
    if (r >= nr) return _mm512_setzero_ps();
    return _mm512_maskz_loadu_ps(m, (const float *)((const char *)w + (size_t)r * ws) + j);
}

/* A5_NR rows × n columns of 32-bit units (floats, or bf16 pairs) into [n][A5_NR],
 * 16 rows × 16 columns at a time: about 0.5 instructions a value where a scalar
 * scatter costs several (measured: packing took ~40% of an F16 prefill).  The
 * rows are read 64 bytes at a time, whole cache lines for aligned data. */
#define HD_PACK_PANEL(NAME, LOAD, UNITS)                                                                   \
    static void NAME(const void *w, size_t ws, int nr, int64_t kc, void *wpv) {                           \
        float *wp = wpv;                                                                                  \
        const int64_t n = (UNITS);                                                                        \
        for (int64_t j = 0; j < n; j += 16) {                                                             \
            const int jn = (int)(n - j < 16 ? n - j : 16);                                                \
            const __mmask16 m = jn == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << jn) - 1);               \
            for (int h = 0; h < A5_NR; h += 16) {                                                         \
                __m512 r[16];                                                                             \
                for (int i = 0; i < 16; i++) r[i] = LOAD(w, ws, h + i, nr, j, m);                         \
                transpose16(r);                                                                           \
                for (int c = 0; c < jn; c++) _mm512_storeu_ps(wp + (j + c) * A5_NR + h, r[c]);            \
            }                                                                                             \
        }                                                                                                 \
    }

HD_PACK_PANEL(pack_f16_panel, pk_f16, kc)
HD_PACK_PANEL(pack_f32_panel, pk_u32, kc)
HD_PACK_PANEL(pack_bf16_panel, pk_u32, kc / 2) /* BF16 pairs as 32-bit units (memcpy-free: loads are unaligned) */

/* ---- int8 gemm (VNNI): 4 tokens × 32 outputs per 32-block of K ---------------------- */

#define Q8_MR 4
#define Q8_NR 32

#define Q8_DECL(m)                                                                           \
    __m512 f##m##0 = _mm512_setzero_ps(), f##m##1 = _mm512_setzero_ps();
#define Q8_IZERO(m) __m512i i##m##0 = _mm512_setzero_si512(), i##m##1 = _mm512_setzero_si512();
#define Q8_DP(m)                                                                             \
    {                                                                                        \
        const __m512i xb = _mm512_set1_epi32(x4[g * Q8_MR + (m)]);                           \
        i##m##0 = _mm512_dpbusd_epi32(i##m##0, w0, xb);                                      \
        i##m##1 = _mm512_dpbusd_epi32(i##m##1, w1, xb);                                      \
    }
#define Q8_FOLD(m)                                                                           \
    {                                                                                        \
        const __m512i cm = _mm512_set1_epi32(corr[m]);                                       \
        const __m512 dxm = _mm512_set1_ps(dx[m]);                                            \
        f##m##0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(i##m##0, cm)),          \
                                  _mm512_mul_ps(dw0, dxm), f##m##0);                         \
        f##m##1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(i##m##1, cm)),          \
                                  _mm512_mul_ps(dw1, dxm), f##m##1);                         \
    }
#define Q8_STORE(m)                                                                          \
    if ((m) < mr) {                                                                          \
        float *cr = c + (size_t)(m) * ldc;                                                   \
        __m512 t0 = f##m##0, t1 = f##m##1;                                                   \
        if (accumulate) {                                                                    \
            t0 = _mm512_add_ps(t0, _mm512_maskz_loadu_ps(k0, cr));                           \
            t1 = _mm512_add_ps(t1, _mm512_maskz_loadu_ps(k1, cr + 16));                      \
        }                                                                                    \
        _mm512_mask_storeu_ps(cr, k0, t0);                                                   \
        _mm512_mask_storeu_ps(cr + 16, k1, t1);                                              \
    }
#define Q8_ALL(X) X(0) X(1) X(2) X(3)

static void gemm_q8_4x32(int64_t kc, const void *xpv, const void *wpv, float *c, size_t ldc, int mr, int nr,
                         bool accumulate) {
    const char *xp = xpv, *wp = wpv;
    Q8_ALL(Q8_DECL)
    for (int64_t blk = 0; blk < kc / 32; blk++, xp += HD_Q8_XTILE_BYTES(Q8_MR), wp += HD_Q8_WPANEL_BYTES(Q8_NR)) {
        const int32_t *x4 = (const int32_t *)xp;
        const int32_t *corr = (const int32_t *)(xp + 32 * Q8_MR);
        const float *dx = (const float *)(xp + 36 * Q8_MR);
        const float *dw = (const float *)(wp + 32 * Q8_NR);
        Q8_ALL(Q8_IZERO)
        for (int g = 0; g < 8; g++) {
            const __m512i w0 = _mm512_load_si512(wp + g * Q8_NR * 4), w1 = _mm512_load_si512(wp + g * Q8_NR * 4 + 64);
            Q8_ALL(Q8_DP)
        }
        const __m512 dw0 = _mm512_loadu_ps(dw), dw1 = _mm512_loadu_ps(dw + 16);
        Q8_ALL(Q8_FOLD)
    }
    const __mmask16 k0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    Q8_ALL(Q8_STORE)
}

/* ---- int8 gemm for Q4_K/Q5_K (VNNI): 4 tokens × 32 outputs per 256-block --------------- */

#define QK_MR 4
#define QK_NR 32

#define QK_TZERO(m) __m512i t##m##0 = _mm512_setzero_si512(), t##m##1 = _mm512_setzero_si512();
#define QK_SCALE(m)                                                                          \
    t##m##0 = _mm512_add_epi32(t##m##0, _mm512_mullo_epi32(i##m##0, sc0));                   \
    t##m##1 = _mm512_add_epi32(t##m##1, _mm512_mullo_epi32(i##m##1, sc1));
#define QK_MIN(m)                                                                            \
    {                                                                                        \
        const __m512i xb = _mm512_set1_epi32(xs[p * QK_MR + (m)]);                           \
        i##m##0 = _mm512_dpwssd_epi32(i##m##0, wm0, xb);                                     \
        i##m##1 = _mm512_dpwssd_epi32(i##m##1, wm1, xb);                                     \
    }
#define QK_FOLD(m)                                                                           \
    {                                                                                        \
        const __m512 dxm = _mm512_set1_ps(dx[m]);                                            \
        f##m##0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t##m##0), _mm512_mul_ps(d0, dxm), f##m##0); \
        f##m##1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t##m##1), _mm512_mul_ps(d1, dxm), f##m##1); \
        f##m##0 = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(i##m##0), _mm512_mul_ps(dm0, dxm), f##m##0); \
        f##m##1 = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(i##m##1), _mm512_mul_ps(dm1, dxm), f##m##1); \
    }

/* One kernel per sub-block count S (8: Q4_K/Q5_K, 16: Q6_K). */
#define QK_KERNEL(NAME, S)                                                                                     \
    static void NAME(int64_t kc, const void *xpv, const void *wpv, float *c, size_t ldc, int mr, int nr,      \
                     bool accumulate) {                                                                        \
        const char *xp = xpv, *wp = wpv;                                                                       \
        Q8_ALL(Q8_DECL)                                                                                        \
        for (int64_t blk = 0; blk < kc / HD_QK_K;                                                             \
             blk++, xp += HD_QK_XTILE_BYTES(QK_MR, S), wp += HD_QK_WPANEL_BYTES(QK_NR, S)) {                  \
            const int32_t *x4 = (const int32_t *)xp;                                                           \
            const int32_t *xs = (const int32_t *)(xp + 256 * QK_MR);                                           \
            const float *dx = (const float *)(xp + (256 + 2 * (S)) * QK_MR);                                   \
            const int32_t *sc = (const int32_t *)(wp + 256 * QK_NR);                                           \
            const int32_t *mn = (const int32_t *)(wp + (256 + 4 * (S)) * QK_NR);                               \
            const float *dw = (const float *)(wp + (256 + 6 * (S)) * QK_NR), *dmw = dw + QK_NR;                \
            Q8_ALL(QK_TZERO)                                                                                   \
            for (int sub = 0; sub < (S); sub++) {                                                              \
                Q8_ALL(Q8_IZERO)                                                                               \
                for (int g = (64 / (S)) * sub; g < (64 / (S)) * (sub + 1); g++) {                              \
                    const __m512i w0 = _mm512_load_si512(wp + g * QK_NR * 4);                                 \
                    const __m512i w1 = _mm512_load_si512(wp + g * QK_NR * 4 + 64);                            \
                    Q8_ALL(Q8_DP)                                                                              \
                }                                                                                              \
                const __m512i sc0 = _mm512_loadu_si512(sc + sub * QK_NR);                                      \
                const __m512i sc1 = _mm512_loadu_si512(sc + sub * QK_NR + 16);                                 \
                Q8_ALL(QK_SCALE)                                                                               \
            }                                                                                                  \
            Q8_ALL(Q8_IZERO)                                                                                   \
            for (int p = 0; p < (S) / 2; p++) {                                                                \
                const __m512i wm0 = _mm512_loadu_si512(mn + p * QK_NR);                                        \
                const __m512i wm1 = _mm512_loadu_si512(mn + p * QK_NR + 16);                                   \
                Q8_ALL(QK_MIN)                                                                                 \
            }                                                                                                  \
            const __m512 d0 = _mm512_loadu_ps(dw), d1 = _mm512_loadu_ps(dw + 16);                              \
            const __m512 dm0 = _mm512_loadu_ps(dmw), dm1 = _mm512_loadu_ps(dmw + 16);                          \
            Q8_ALL(QK_FOLD)                                                                                    \
        }                                                                                                      \
        const __mmask16 k0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);                       \
        const __mmask16 k1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1); \
        Q8_ALL(Q8_STORE)                                                                                       \
    }

QK_KERNEL(gemm_qk_4x32, 8)
QK_KERNEL(gemm_q6k_4x32, 16)

/* ---- BF16 activations and the BF16 dot product ------------------------------------------ */

static void act_bf16(const float *x, void *dst, int64_t k) {
    hd_bf16 *d = dst;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    for (; i < k; i++) d[i] = hd_f32_to_bf16(x[i]);
}

HD_INLINE void dot_bf16_n(int64_t k, const hd_bf16 *w, const void *x, size_t xs, const int nc, float *y, size_t ys) {
    __m512 acc[HD_DOT_MAX_NC][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + i), w1 = (__m512bh)_mm512_loadu_si512(w + i + 32);
        for (int c = 0; c < nc; c++) {
            const hd_bf16 *xc = XC(hd_bf16, c);
            acc[c][0] = _mm512_dpbf16_ps(acc[c][0], (__m512bh)_mm512_loadu_si512(xc + i), w0);
            acc[c][1] = _mm512_dpbf16_ps(acc[c][1], (__m512bh)_mm512_loadu_si512(xc + i + 32), w1);
        }
    }
    for (int c = 0; c < nc; c++) {
        float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]));
        const hd_bf16 *xc = XC(hd_bf16, c);
        for (int64_t j = i; j < k; j++) s += hd_bf16_to_f32(w[j]) * hd_bf16_to_f32(xc[j]);
        y[c * ys] = s;
    }
}

HD_DOT_DISPATCH(a5_dot_bf16, dot_bf16_n, hd_bf16)


/* ---- F16 and F32 weights against F32 activations on zmm ---------------------------------- */

/* 16 weights as floats (tail: the first `m` lanes, the rest zero). */
HD_INLINE __m512 ld16_f16(const hd_f16 *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
HD_INLINE __m512 ld16_f16_m(const hd_f16 *p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
HD_INLINE __m512 ld16_f32(const float *p) { return _mm512_loadu_ps(p); }
HD_INLINE __m512 ld16_f32_m(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

/* One token: four independent FMA chains over 64 weights a step (with one or two
 * chains the loop waits on the FMA latency and streams F16 rows at ~12 bytes a
 * cycle, under what memory delivers); more tokens: two chains each, 32 a step.
 * The tail (k not a multiple of 16) is a masked load, so any k works. */
#define HD_DOT_FZ(NAME, WT, LD, LDM)                                                                       \
    HD_INLINE void NAME(int64_t k, const WT *w, const void *x, size_t xs, const int nc, float *y, size_t ys) { \
        if (nc == 1) {                                                                                     \
            const float *x0 = x;                                                                           \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                   \
            int64_t i = 0;                                                                                 \
            for (; i + 64 <= k; i += 64) {                                                                 \
                a0 = _mm512_fmadd_ps(LD(w + i), _mm512_loadu_ps(x0 + i), a0);                              \
                a1 = _mm512_fmadd_ps(LD(w + i + 16), _mm512_loadu_ps(x0 + i + 16), a1);                    \
                a2 = _mm512_fmadd_ps(LD(w + i + 32), _mm512_loadu_ps(x0 + i + 32), a2);                    \
                a3 = _mm512_fmadd_ps(LD(w + i + 48), _mm512_loadu_ps(x0 + i + 48), a3);                    \
            }                                                                                              \
            for (; i + 16 <= k; i += 16) a0 = _mm512_fmadd_ps(LD(w + i), _mm512_loadu_ps(x0 + i), a0);     \
            if (i < k) {                                                                                   \
                const __mmask16 m = (__mmask16)((1u << (k - i)) - 1);                                      \
                a1 = _mm512_fmadd_ps(LDM(w + i, m), _mm512_maskz_loadu_ps(m, x0 + i), a1);                 \
            }                                                                                              \
            y[0] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));      \
            return;                                                                                        \
        }                                                                                                  \
        __m512 acc[HD_DOT_MAX_NC][2];                                                                      \
        for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();                          \
        int64_t i = 0;                                                                                     \
        for (; i + 32 <= k; i += 32) {                                                                     \
            const __m512 w0 = LD(w + i), w1 = LD(w + i + 16);                                              \
            for (int c = 0; c < nc; c++) {                                                                 \
                acc[c][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(XC(float, c) + i), acc[c][0]);             \
                acc[c][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(XC(float, c) + i + 16), acc[c][1]);        \
            }                                                                                              \
        }                                                                                                  \
        for (; i < k; i += 16) {                                                                           \
            const __mmask16 m = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);        \
            const __m512 w0 = LDM(w + i, m);                                                               \
            for (int c = 0; c < nc; c++)                                                                   \
                acc[c][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, XC(float, c) + i), acc[c][0]);    \
        }                                                                                                  \
        for (int c = 0; c < nc; c++) y[c * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc[c][0], acc[c][1])); \
    }

HD_DOT_FZ(dot_f16z_n, hd_f16, ld16_f16, ld16_f16_m)
HD_DOT_FZ(dot_f32z_n, float, ld16_f32, ld16_f32_m)
HD_DOT_DISPATCH(a5_dot_f16, dot_f16z_n, hd_f16)
HD_DOT_DISPATCH(a5_dot_f32, dot_f32z_n, float)

/* One token against up to HD_DOT_ROWS rows: each activation load serves every row
 * (a lone row would read its 4 bytes of activation per 2 bytes of F16 weight, and
 * rows past ~4096 inputs push the activations out of L1 while the weights stream
 * through it).  Two FMA chains per row.  (BF16 rows with BF16 activations gain
 * nothing from this: measured equal at 16384 inputs.) */
#define HD_DOTR_FZ(NAME, WT, LD, LDM)                                                                      \
    HD_INLINE void NAME(int64_t k, const char *w, size_t ws, const float *x, const int nr, float *y) {     \
        __m512 acc[HD_DOT_ROWS][2];                                                                        \
        for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                         \
        int64_t i = 0;                                                                                     \
        for (; i + 32 <= k; i += 32) {                                                                     \
            const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);                    \
            for (int r = 0; r < nr; r++) {                                                                 \
                const WT *wr = (const WT *)(w + (size_t)r * ws);                                           \
                _mm_prefetch((const char *)(wr + i) + HD_PF_DIST, _MM_HINT_T0);                            \
                acc[r][0] = _mm512_fmadd_ps(LD(wr + i), x0, acc[r][0]);                                    \
                acc[r][1] = _mm512_fmadd_ps(LD(wr + i + 16), x1, acc[r][1]);                               \
            }                                                                                              \
        }                                                                                                  \
        for (; i < k; i += 16) {                                                                           \
            const __mmask16 m = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);        \
            const __m512 x0 = _mm512_maskz_loadu_ps(m, x + i);                                             \
            for (int r = 0; r < nr; r++)                                                                   \
                acc[r][0] = _mm512_fmadd_ps(LDM((const WT *)(w + (size_t)r * ws) + i, m), x0, acc[r][0]);  \
        }                                                                                                  \
        for (int r = 0; r < nr; r++) y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));     \
    }

HD_DOTR_FZ(dotr_f16z_n, hd_f16, ld16_f16, ld16_f16_m)
HD_DOTR_FZ(dotr_f32z_n, float, ld16_f32, ld16_f32_m)

HD_DOTR_DISPATCH(a5_dotr_f16, dotr_f16z_n, float)
HD_DOTR_DISPATCH(a5_dotr_f32, dotr_f32z_n, float)

/* Sums of four registers' lanes: lane j = Σ of register j (a, b, c, d). */
HD_INLINE __m128 hsum4x16(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    const __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    const __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    const __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    /* [a01 a23 b01 b23 | a45 a67 b45 b67], then [a b c d | a b c d] partial sums */
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a8, b8), _mm256_hadd_ps(c8, d8));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* A tile of nr rows × nc tokens (hd_dotm_fn): nr·nc accumulators (one chain each, up
 * to 16), per 16 inputs nr weight loads (F16 widened once for all tokens), nc
 * activation loads and nr·nc FMAs.  Each row is prefetched HD_PF_DIST bytes ahead
 * (the rows are interleaved streams, as in dot_rows).  Masked tail: any k. */
#define HD_DOTM_FZ(NAME, WT, LD, LDM)                                                                         \
    HD_INLINE void NAME(int64_t k, const char *w, size_t ws, const int nr, const char *x, size_t xs,          \
                        const int nc, float *y, size_t ys) {                                                  \
        __m512 acc[HD_DOTM_ROWS][HD_DOTM_TOKENS];                                                             \
        for (int r = 0; r < HD_DOTM_ROWS; r++)                                                                \
            for (int c = 0; c < HD_DOTM_TOKENS; c++) acc[r][c] = _mm512_setzero_ps();                         \
        int64_t i = 0;                                                                                        \
        for (; i + 32 <= k; i += 32)                                                                          \
            for (int h = 0; h < 32; h += 16) {                                                                \
                __m512 xv[HD_DOTM_TOKENS];                                                                    \
                for (int c = 0; c < nc; c++) xv[c] = _mm512_loadu_ps((const float *)(x + (size_t)c * xs) + i + h); \
                for (int r = 0; r < nr; r++) {                                                                \
                    const WT *wr = (const WT *)(w + (size_t)r * ws);                                          \
                    if (sizeof(WT) == 4 || h == 0)                                                            \
                        _mm_prefetch((const char *)(wr + i + h) + HD_PF_DIST, _MM_HINT_T0);                   \
                    const __m512 wv = LD(wr + i + h);                                                         \
                    for (int c = 0; c < nc; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);           \
                }                                                                                             \
            }                                                                                                 \
        for (; i < k; i += 16) {                                                                              \
            const __mmask16 m = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);           \
            __m512 xv[HD_DOTM_TOKENS];                                                                        \
            for (int c = 0; c < nc; c++) xv[c] = _mm512_maskz_loadu_ps(m, (const float *)(x + (size_t)c * xs) + i); \
            for (int r = 0; r < nr; r++) {                                                                    \
                const __m512 wv = LDM((const WT *)(w + (size_t)r * ws) + i, m);                               \
                for (int c = 0; c < nc; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);               \
            }                                                                                                 \
        }                                                                                                     \
        const __mmask8 rm = (__mmask8)((1u << nr) - 1);                                                       \
        for (int c = 0; c < nc; c++)                                                                          \
            _mm_mask_storeu_ps(y + (size_t)c * ys, rm, hsum4x16(acc[0][c], acc[1][c], acc[2][c], acc[3][c])); \
    }

HD_DOTM_FZ(dotm_f16z_n, hd_f16, ld16_f16, ld16_f16_m)
HD_DOTM_FZ(dotm_f32z_n, float, ld16_f32, ld16_f32_m)

HD_DOTM_DISPATCH(a5_dotm_f16, dotm_f16z_n)
HD_DOTM_DISPATCH(a5_dotm_f32, dotm_f32z_n)

/* ---- Q8_0 / Q4_0 on zmm: two 32-blocks per register ----------------------------------------- */

static void act_q8x2(const float *x, void *dst, int64_t k) {
    hd_block_q8x2 *y = dst;
    const int64_t nb = k / 32;
    hd_block_q8x one;
    for (int64_t i = 0; i < nb; i++) {
        hd_block_q8x2 *p = y + i / 2;
        const int h = (int)(i & 1);
        x86_act_q8x(x + 32 * i, &one, 32);
        _mm256_storeu_ps(p->d + 8 * h, _mm256_set1_ps(one.d));
        memcpy(p->qs + 32 * h, one.qs, 32);
    }
    if (nb & 1) { /* pad the last pair with a zero block */
        hd_block_q8x2 *p = y + nb / 2;
        _mm256_storeu_ps(p->d + 8, _mm256_setzero_ps());
        memset(p->qs + 32, 0, 32);
    }
}

/* dw of blocks i and i+1 as lanes 0-7 / 8-15 (a missing second block: 0). */
HD_INLINE __m512 pair_f16(hd_f16 a, hd_f16 b) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)), _mm_set1_epi16((short)b), 1);
    return _mm512_cvtph_ps(h);
}

/* Q8_0 blocks b[0], b[1] (two == false: b[1] taken as zeros) in one register. */
HD_INLINE __m512i q8_0_pair(const hd_block_q8_0 *b, bool two) {
    const __m256i q0 = _mm256_loadu_si256((const __m256i *)b[0].qs);
    const __m256i q1 = two ? _mm256_loadu_si256((const __m256i *)b[1].qs) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
}

/* Σ q·x per 4-byte group: |q| (unsigned) times x with q's sign (exact: |x| <= 127, and
 * q = −128 from a foreign file still gives 128·(−x)). */
HD_INLINE __m512i q8_dot(__m512i absq, __mmask64 neg, __m512i x) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), absq, _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x));
}

/* Q8_0: Σ_blocks dw·dx·Σ q·x, the integer part exact (sign moved onto the activations).
 * Four blocks a step into two accumulator chains: one chain leaves the loop waiting
 * on the FMA latency (~50 GB/s from L2, too close to what memory delivers to keep
 * enough loads in flight).  The 128-byte activation pairs (no offset correction to
 * carry) keep a row of 8192 inputs at 16 KiB, in L1 beside the streaming weights.
 * A several-rows variant as for F16 was slower (~22 vs ~28 GB/s at 8192 inputs),
 * and software prefetch made no difference to this single stream. */
HD_INLINE void dot_q80z_n(int64_t k, const hd_block_q8_0 *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m512 acc[HD_DOT_MAX_NC][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
    const int64_t nb = k / 32;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const __m512i z0 = q8_0_pair(b + i, true), z1 = q8_0_pair(b + i + 2, true);
        const __mmask64 n0 = _mm512_movepi8_mask(z0), n1 = _mm512_movepi8_mask(z1);
        const __m512i u0 = _mm512_abs_epi8(z0), u1 = _mm512_abs_epi8(z1);
        const __m512 dw0 = pair_f16(b[i].d, b[i + 1].d), dw1 = pair_f16(b[i + 2].d, b[i + 3].d);
        for (int c = 0; c < nc; c++) {
            const hd_block_q8x2 *a = XC(hd_block_q8x2, c) + i / 2;
            const __m512 p0 = _mm512_cvtepi32_ps(q8_dot(u0, n0, _mm512_loadu_si512(a[0].qs)));
            const __m512 p1 = _mm512_cvtepi32_ps(q8_dot(u1, n1, _mm512_loadu_si512(a[1].qs)));
            acc[c][0] = _mm512_fmadd_ps(p0, _mm512_mul_ps(dw0, _mm512_loadu_ps(a[0].d)), acc[c][0]);
            acc[c][1] = _mm512_fmadd_ps(p1, _mm512_mul_ps(dw1, _mm512_loadu_ps(a[1].d)), acc[c][1]);
        }
    }
    for (; i < nb; i += 2) {
        const bool two = i + 1 < nb;
        const __m512i z = q8_0_pair(b + i, two);
        const __mmask64 n = _mm512_movepi8_mask(z);
        const __m512i u = _mm512_abs_epi8(z);
        const __m512 dw = pair_f16(b[i].d, two ? b[i + 1].d : 0);
        for (int c = 0; c < nc; c++) {
            const hd_block_q8x2 *a = XC(hd_block_q8x2, c) + i / 2;
            const __m512 p = _mm512_cvtepi32_ps(q8_dot(u, n, _mm512_loadu_si512(a->qs)));
            acc[c][0] = _mm512_fmadd_ps(p, _mm512_mul_ps(dw, _mm512_loadu_ps(a->d)), acc[c][0]);
        }
    }
    for (int c = 0; c < nc; c++) y[c * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]));
}


/* Quads of Q8 blocks in the order of Q4_0's nibbles on zmm (see hd_block_q8x4h). */
static void act_q8x4h(const float *x, void *dst, int64_t k) {
    hd_block_q8x4h *y = dst;
    const int64_t nb = k / 32, nq = (nb + 3) / 4;
    hd_block_q8x one;
    for (int64_t i = 0; i < nq * 4; i++) {
        hd_block_q8x4h *p = y + i / 4;
        const int j = (int)(i & 3);
        if (i < nb) {
            x86_act_q8x(x + 32 * i, &one, 32);
        } else {
            memset(&one, 0, sizeof one);
        }
        _mm_storeu_ps(p->d + 4 * j, _mm_set1_ps(one.d));
        memcpy(p->lo + 16 * j, one.qs, 16);
        memcpy(p->hi + 16 * j, one.qs + 16, 16);
    }
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t q = 0; q < nq; q++) {
        __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_loadu_si512(y[q].lo));
        s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512(y[q].hi));
        _mm512_storeu_si512(y[q].c8, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, 3)));
    }
}

/* The packed nibbles of n (1..4) Q4_0 blocks, 16 bytes each, missing ones zero. */
HD_INLINE __m512i q4_0_quad(const hd_block_q4_0 *b, int n) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)b[0].qs));
    if (n > 1) v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)b[1].qs), 1);
    else v = _mm512_inserti32x4(v, _mm_setzero_si128(), 1);
    v = _mm512_inserti32x4(v, n > 2 ? _mm_loadu_si128((const __m128i *)b[2].qs) : _mm_setzero_si128(), 2);
    v = _mm512_inserti32x4(v, n > 3 ? _mm_loadu_si128((const __m128i *)b[3].qs) : _mm_setzero_si128(), 3);
    return v;
}

/* d of block j (j < n, else 0) in lanes 4j..4j+3. */
HD_INLINE __m512 q4_0_dw4(const hd_block_q4_0 *b, int n) {
    uint64_t h = 0;
    for (int j = 0; j < n; j++) h |= (uint64_t)b[j].d << (16 * j);
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)h));
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

/* Q4_0 quad against one hd_block_q8x4h: acc + Σ_j dw_j·dx_j·(Σ n·q − 8·Σq). */
HD_INLINE __m512 q4_0_quad_dot(__m512i v, __m512 dw, const hd_block_q8x4h *a, __m512 acc) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512i p = _mm512_dpbusd_epi32(_mm512_loadu_si512(a->c8), _mm512_and_si512(v, low), _mm512_loadu_si512(a->lo));
    p = _mm512_dpbusd_epi32(p, _mm512_and_si512(_mm512_srli_epi16(v, 4), low), _mm512_loadu_si512(a->hi));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, _mm512_loadu_ps(a->d)), acc);
}

/* Q4_0 on zmm: four blocks a register, two quads a step into two chains (the
 * integer correction −8·Σq seeds vpdpbusd, so it is exact). */
HD_INLINE void dot_q40q_n(int64_t k, const hd_block_q4_0 *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m512 acc[HD_DOT_MAX_NC][2];
    for (int c = 0; c < nc; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
    const int64_t nb = k / 32;
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        const __m512i v0 = q4_0_quad(b + i, 4), v1 = q4_0_quad(b + i + 4, 4);
        const __m512 dw0 = q4_0_dw4(b + i, 4), dw1 = q4_0_dw4(b + i + 4, 4);
        for (int c = 0; c < nc; c++) {
            const hd_block_q8x4h *a = XC(hd_block_q8x4h, c) + i / 4;
            acc[c][0] = q4_0_quad_dot(v0, dw0, a, acc[c][0]);
            acc[c][1] = q4_0_quad_dot(v1, dw1, a + 1, acc[c][1]);
        }
    }
    for (; i < nb; i += 4) {
        const int n = (int)(nb - i < 4 ? nb - i : 4);
        const __m512i v = q4_0_quad(b + i, n);
        const __m512 dw = q4_0_dw4(b + i, n);
        for (int c = 0; c < nc; c++) acc[c][0] = q4_0_quad_dot(v, dw, XC(hd_block_q8x4h, c) + i / 4, acc[c][0]);
    }
    for (int c = 0; c < nc; c++) y[c * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]));
}

HD_DOT_DISPATCH(a5_dot_q4_0, dot_q40q_n, hd_block_q4_0)
HD_DOT_DISPATCH(a5_dot_q8_0, dot_q80z_n, hd_block_q8_0)

/* ---- K-quants on zmm: 64 weights per register ----------------------------------------------- */

/* Q6_K on zmm: 64 weights per register (two 32-groups that share one scale pattern). */
HD_INLINE void dot_q6_k_z(int64_t k, const hd_block_q6_k *b, const void *x, size_t xs, const int nc, float *y,
                          size_t ys) {
    __m512 acc[HD_DOT_MAX_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0F), three = _mm512_set1_epi8(3);
    /* word lane l of the scale vector for 64 weights starting at group g: scale (g*2 + l/8) */
    __m512i sidx[4];
    for (int g = 0; g < 4; g++) {
        short t[32];
        for (int l = 0; l < 32; l++) t[l] = (short)(4 * g + l / 8);
        sidx[g] = _mm512_loadu_si512(t);
    }
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        const float d = f16f(b[i].d);
        const __m256i sc16y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc16y);
        __m512i isum[HD_DOT_MAX_NC];
        for (int c = 0; c < nc; c++) isum[c] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i L = _mm512_loadu_si512(b[i].ql + 64 * h);
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            /* weights 128h + 0..63, then 128h + 64..127 */
            const __m512i q01 = _mm512_or_si512(_mm512_and_si512(L, low), _mm512_slli_epi16(_mm512_and_si512(H, three), 4));
            const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), low),
                                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(H, 4), three), 4));
            const __m512i s01 = _mm512_permutexvar_epi16(sidx[2 * h], sc16);
            const __m512i s23 = _mm512_permutexvar_epi16(sidx[2 * h + 1], sc16);
            for (int c = 0; c < nc; c++) {
                const int8_t *aq = XC(hd_block_q8_k, c)[i].qs + 128 * h;
                const __m512i p01 = _mm512_maddubs_epi16(q01, _mm512_loadu_si512(aq));
                const __m512i p23 = _mm512_maddubs_epi16(q23, _mm512_loadu_si512(aq + 64));
                isum[c] = _mm512_dpwssd_epi32(isum[c], p01, s01);
                isum[c] = _mm512_dpwssd_epi32(isum[c], p23, s23);
            }
        }
        for (int c = 0; c < nc; c++) {
            const hd_block_q8_k *a = XC(hd_block_q8_k, c) + i;
            /* the -32 offset: 32 · Σ_g sc_g · bsum_g */
            const __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), sc16y);
            const __m512i tot = _mm512_sub_epi32(isum[c], _mm512_castsi256_si512(_mm256_slli_epi32(off, 5)));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot), _mm512_set1_ps(d * a->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) y[c * ys] = _mm512_reduce_add_ps(acc[c]);
}

HD_DOT_DISPATCH(a5_dot_q6_k, dot_q6_k_z, hd_block_q6_k)

/* Q8_K with each 128-half's 32-runs in the order 0, 2, 1, 3: one zmm load of 64 bytes
 * of Q4_K/Q5_K qs then splits into the low nibbles (runs 0 and 2 of the half) and
 * the high nibbles (runs 1 and 3) without a lane shuffle. */
static void act_q8kh(const float *x, void *dst, int64_t k) {
    x86_act_q8k(x, dst, k);
    hd_block_q8_k *y = dst;
    for (int64_t i = 0; i < k / HD_QK_K; i++)
        for (int h = 0; h < 2; h++) {
            int8_t *q = y[i].qs + 128 * h;
            const __m256i r1 = _mm256_loadu_si256((const __m256i *)(q + 32));
            _mm256_storeu_si256((__m256i *)(q + 32), _mm256_loadu_si256((const __m256i *)(q + 64)));
            _mm256_storeu_si256((__m256i *)(q + 64), r1);
        }
}

/* Q4_K/Q5_K against hd_block_q8_k in nibble order: per 128-half one 64-byte load of qs;
 * low nibbles = sub-blocks 4h and 4h+2, high = 4h+1 and 4h+3; u8×s8 pairs then
 * vpdpwssd with the 16-bit scales.  Q5_K's fifth bits: bit s of qh[l] belongs to
 * weight 32s + l, shifted per 64-bit lane (s = 4h, 4h+2 for the low nibbles). */
HD_INLINE void dot_qkh_z(int64_t k, const void *w, size_t bsize, bool five, const void *x, size_t xs, const int nc,
                         float *y, size_t ys) {
    __m512 acc[HD_DOT_MAX_NC];
    __m256 accm[HD_DOT_MAX_NC];
    for (int c = 0; c < nc; c++) {
        acc[c] = _mm512_setzero_ps();
        accm[c] = _mm256_setzero_ps();
    }
    const __m512i low = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    /* word lanes 0-15 / 16-31: scale of sub-block a / b */
    const __m512i ilo0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(0)), _mm256_set1_epi16(2), 1);
    const __m512i ihi0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(1)), _mm256_set1_epi16(3), 1);
    const __m512i four = _mm512_set1_epi16(4);
    for (int64_t i = 0; i < k / HD_QK_K; i++) {
        const char *blk = (const char *)w + (size_t)i * bsize;
        const hd_f16 *dd = (const hd_f16 *)blk;
        const uint8_t *scales = (const uint8_t *)blk + 4;
        const uint8_t *qs = five ? ((const hd_block_q5_k *)blk)->qs : ((const hd_block_q4_k *)blk)->qs;
        uint8_t sc[8], m[8];
        k_scales(scales, sc, m);
        const float d = f16f(dd[0]), dmin = f16f(dd[1]);
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        __m512i qh = _mm512_setzero_si512();
        if (five)
            qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)((const hd_block_q5_k *)blk)->qh));
        __m512i isum[HD_DOT_MAX_NC];
        for (int c = 0; c < nc; c++) isum[c] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i v = _mm512_loadu_si512(qs + 64 * h);
            __m512i lo = _mm512_and_si512(v, low), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            if (five) {
                const int s0 = 4 * h, s2 = 4 * h + 2;
                const __m512i slo = _mm512_setr_epi64(s0, s0, s0, s0, s2, s2, s2, s2);
                const __m512i shi = _mm512_add_epi64(slo, _mm512_set1_epi64(1));
                const __m512i bl = _mm512_and_si512(_mm512_srlv_epi64(qh, slo), one);
                const __m512i bh = _mm512_and_si512(_mm512_srlv_epi64(qh, shi), one);
                lo = _mm512_or_si512(lo, _mm512_slli_epi16(bl, 4));
                hi = _mm512_or_si512(hi, _mm512_slli_epi16(bh, 4));
            }
            const __m512i off = h ? four : _mm512_setzero_si512();
            const __m512i slo16 = _mm512_permutexvar_epi16(_mm512_add_epi16(ilo0, off), sc16);
            const __m512i shi16 = _mm512_permutexvar_epi16(_mm512_add_epi16(ihi0, off), sc16);
            for (int c = 0; c < nc; c++) {
                const int8_t *aq = XC(hd_block_q8_k, c)[i].qs + 128 * h;
                isum[c] = _mm512_dpwssd_epi32(isum[c], _mm512_maddubs_epi16(lo, _mm512_loadu_si512(aq)), slo16);
                isum[c] = _mm512_dpwssd_epi32(isum[c], _mm512_maddubs_epi16(hi, _mm512_loadu_si512(aq + 64)), shi16);
            }
        }
        for (int c = 0; c < nc; c++) {
            const hd_block_q8_k *a = XC(hd_block_q8_k, c) + i;
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_set1_ps(d * a->d), acc[c]);
            const __m256 pm = _mm256_cvtepi32_ps(k_minsum(m, a->bsums));
            accm[c] = _mm256_fmadd_ps(pm, _mm256_set1_ps(dmin * a->d), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++) y[c * ys] = _mm512_reduce_add_ps(acc[c]) - hsum8(accm[c]);
}

HD_INLINE void dot_q4_kh_z(int64_t k, const hd_block_q4_k *w, const void *x, size_t xs, const int nc, float *y,
                           size_t ys) {
    dot_qkh_z(k, w, sizeof(hd_block_q4_k), false, x, xs, nc, y, ys);
}
HD_INLINE void dot_q5_kh_z(int64_t k, const hd_block_q5_k *w, const void *x, size_t xs, const int nc, float *y,
                           size_t ys) {
    dot_qkh_z(k, w, sizeof(hd_block_q5_k), true, x, xs, nc, y, ys);
}
HD_DOT_DISPATCH(a5_dot_q4_k, dot_q4_kh_z, hd_block_q4_k)
HD_DOT_DISPATCH(a5_dot_q5_k, dot_q5_kh_z, hd_block_q5_k)

/* ---- attention tiles (hd_attn_tile_fn) ------------------------------------------------- */

/* e^x per lane: x = n·ln2 + r, |r| <= ln2/2, e^r by its Taylor polynomial to r^7
 * (relative error < 1e-8 before rounding), times 2^n by vscalefps (which also gives 0
 * for very negative x and +inf past the float range); x is clamped to [-150, 89] first
 * so −∞ gives 0, not NaN. */
HD_INLINE __m512 exp16(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-150.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723212e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* Scores of NK keys against the 32 queries: st[j][0..31] = Σ_dd k_j[dd] · qt[dd][0..31]
 * (qt already scaled), 2·NK accumulators, one broadcast of a key value per pair of FMAs. */
HD_INLINE void at_scores(const int NK, int64_t d, const float *qt, const float *k, size_t ks, float *st) {
    __m512 a[12][2];
    for (int i = 0; i < NK; i++) a[i][0] = a[i][1] = _mm512_setzero_ps();
    for (int64_t dd = 0; dd < d; dd++) {
        const __m512 q0 = _mm512_load_ps(qt + dd * HD_ATTN_TILE_Q), q1 = _mm512_load_ps(qt + dd * HD_ATTN_TILE_Q + 16);
        for (int i = 0; i < NK; i++) {
            const __m512 b = _mm512_set1_ps(k[(size_t)i * ks + dd]);
            a[i][0] = _mm512_fmadd_ps(b, q0, a[i][0]);
            a[i][1] = _mm512_fmadd_ps(b, q1, a[i][1]);
        }
    }
    for (int i = 0; i < NK; i++) {
        _mm512_store_ps(st + i * HD_ATTN_TILE_Q, a[i][0]);
        _mm512_store_ps(st + i * HD_ATTN_TILE_Q + 16, a[i][1]);
    }
}

/* ot[dd][0..31] = ot[dd]·alpha + Σ_{j<nb} v_j[dd] · st[j][0..31] for ND value columns dd0.. */
HD_INLINE void at_pv(const int ND, int64_t nb, const float *st, const float *v, size_t vs, float *ot, __m512 al0,
                     __m512 al1) {
    __m512 a[12][2];
    for (int i = 0; i < ND; i++) {
        a[i][0] = _mm512_mul_ps(_mm512_load_ps(ot + i * HD_ATTN_TILE_Q), al0);
        a[i][1] = _mm512_mul_ps(_mm512_load_ps(ot + i * HD_ATTN_TILE_Q + 16), al1);
    }
    for (int64_t j = 0; j < nb; j++) {
        const __m512 p0 = _mm512_load_ps(st + j * HD_ATTN_TILE_Q), p1 = _mm512_load_ps(st + j * HD_ATTN_TILE_Q + 16);
        const float *vj = v + (size_t)j * vs;
        for (int i = 0; i < ND; i++) {
            const __m512 b = _mm512_set1_ps(vj[i]);
            a[i][0] = _mm512_fmadd_ps(b, p0, a[i][0]);
            a[i][1] = _mm512_fmadd_ps(b, p1, a[i][1]);
        }
    }
    for (int i = 0; i < ND; i++) {
        _mm512_store_ps(ot + i * HD_ATTN_TILE_Q, a[i][0]);
        _mm512_store_ps(ot + i * HD_ATTN_TILE_Q + 16, a[i][1]);
    }
}

/* st[j][r] += mask[r][j] for r < nq, j < nb: 16×16 blocks transposed on registers. */
static void at_add_mask(float *st, const float *mask, size_t ms, int nq, int64_t nb) {
    for (int r0 = 0; r0 < nq; r0 += 16)
        for (int64_t j0 = 0; j0 < nb; j0 += 16) {
            const int64_t nj = nb - j0 < 16 ? nb - j0 : 16;
            const __mmask16 m = nj == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nj) - 1);
            __m512 t[16];
            for (int i = 0; i < 16; i++)
                t[i] = r0 + i < nq ? _mm512_maskz_loadu_ps(m, mask + (size_t)(r0 + i) * ms + j0) : _mm512_setzero_ps();
            transpose16(t);
            for (int64_t j = 0; j < nj; j++) {
                float *s = st + (j0 + j) * HD_ATTN_TILE_Q + r0;
                _mm512_store_ps(s, _mm512_add_ps(_mm512_load_ps(s), t[j]));
            }
        }
}

/* One query tile (rows r < nq of its 32) against one block of nb keys: scores, mask,
 * online-softmax update of (m, l), p·V into ot.  qt [d][32] (scaled), ot [d][32], st
 * [KB][32] scratch, ml = m[32] then l[32]. */
static void at_block(int64_t d, int nq, int64_t nb, const float *qt, float *ot, float *ml, float *st, const float *kb,
                     size_t ks, const float *vb, size_t vs, const float *mask, size_t ms) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 12 <= nb; j += 12) at_scores(12, d, qt, kb + (size_t)j * ks, ks, st + j * HD_ATTN_TILE_Q);
    for (; j + 4 <= nb; j += 4) at_scores(4, d, qt, kb + (size_t)j * ks, ks, st + j * HD_ATTN_TILE_Q);
    for (; j < nb; j++) at_scores(1, d, qt, kb + (size_t)j * ks, ks, st + j * HD_ATTN_TILE_Q);
    if (mask) at_add_mask(st, mask, ms, nq, nb);
    /* online softmax along the queries: the new max, the rescale of what came before */
    __m512 b0 = ninf, b1 = ninf;
    for (j = 0; j < nb; j++) {
        b0 = _mm512_max_ps(b0, _mm512_load_ps(st + j * HD_ATTN_TILE_Q));
        b1 = _mm512_max_ps(b1, _mm512_load_ps(st + j * HD_ATTN_TILE_Q + 16));
    }
    const __m512 m0 = _mm512_load_ps(ml), m1 = _mm512_load_ps(ml + 16);
    const __m512 n0 = _mm512_max_ps(m0, b0), n1 = _mm512_max_ps(m1, b1);
    /* a row with nothing visible yet subtracts 0: its scores are −∞ and give 0 */
    const __m512 u0 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n0, ninf, _CMP_EQ_OQ), n0, _mm512_setzero_ps());
    const __m512 u1 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n1, ninf, _CMP_EQ_OQ), n1, _mm512_setzero_ps());
    const __m512 al0 = exp16(_mm512_sub_ps(m0, u0)), al1 = exp16(_mm512_sub_ps(m1, u1));
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (j = 0; j < nb; j++) {
        float *sj = st + j * HD_ATTN_TILE_Q;
        const __m512 p0 = exp16(_mm512_sub_ps(_mm512_load_ps(sj), u0));
        const __m512 p1 = exp16(_mm512_sub_ps(_mm512_load_ps(sj + 16), u1));
        _mm512_store_ps(sj, p0);
        _mm512_store_ps(sj + 16, p1);
        s0 = _mm512_add_ps(s0, p0);
        s1 = _mm512_add_ps(s1, p1);
    }
    _mm512_store_ps(ml, n0);
    _mm512_store_ps(ml + 16, n1);
    _mm512_store_ps(ml + 32, _mm512_fmadd_ps(_mm512_load_ps(ml + 32), al0, s0));
    _mm512_store_ps(ml + 48, _mm512_fmadd_ps(_mm512_load_ps(ml + 48), al1, s1));
    int64_t dd = 0;
    for (; dd + 12 <= d; dd += 12) at_pv(12, nb, st, vb + dd, vs, ot + dd * HD_ATTN_TILE_Q, al0, al1);
    for (; dd + 4 <= d; dd += 4) at_pv(4, nb, st, vb + dd, vs, ot + dd * HD_ATTN_TILE_Q, al0, al1);
    for (; dd < d; dd++) at_pv(1, nb, st, vb + dd, vs, ot + dd * HD_ATTN_TILE_Q, al0, al1);
}

/* Up to HD_ATTN_TILES query tiles of 32 share every block of keys and values while it
 * is in L1/L2 (one tile alone re-read the head's whole K and V from L3 per 32 queries). */
static void attn_tile_f32(int64_t d, int nq, int64_t nk, float scale, const float *q, size_t qs, const float *k,
                          size_t ks, const float *v, size_t vs, const float *mask, size_t ms, const uint8_t *mcls,
                          size_t mcs, float *out, size_t os, float *ws) {
    const int nt = (nq + HD_ATTN_TILE_Q - 1) / HD_ATTN_TILE_Q;
    const size_t tsz = (size_t)d * 2 * HD_ATTN_TILE_Q + 64; /* per tile: qt [d][32], ot [d][32], m[32], l[32] */
    float *st = ws + (size_t)HD_ATTN_TILES * tsz;           /* [KB][32] */
    for (int t = 0; t < nt; t++) {
        float *qt = ws + t * tsz, *ot = qt + d * HD_ATTN_TILE_Q, *ml = ot + d * HD_ATTN_TILE_Q;
        const int r0 = t * HD_ATTN_TILE_Q, n = nq - r0 < HD_ATTN_TILE_Q ? nq - r0 : HD_ATTN_TILE_Q;
        for (int64_t dd = 0; dd < d; dd++)
            for (int r = 0; r < HD_ATTN_TILE_Q; r++)
                qt[dd * HD_ATTN_TILE_Q + r] = r < n ? q[(size_t)(r0 + r) * qs + dd] * scale : 0.0f;
        memset(ot, 0, (size_t)d * HD_ATTN_TILE_Q * sizeof(float));
        for (int r = 0; r < HD_ATTN_TILE_Q; r++) ml[r] = -INFINITY, ml[32 + r] = 0.0f;
    }
    const size_t row_bytes = (size_t)d * sizeof(float);
    for (int64_t t0 = 0; t0 < nk; t0 += HD_ATTN_TILE_KB) {
        const int64_t nb = nk - t0 < HD_ATTN_TILE_KB ? nk - t0 : HD_ATTN_TILE_KB;
        /* the next block's keys and values into L2: rows of a few lines each, far apart
         * (the heads interleave), which the hardware prefetcher does not run ahead on */
        for (int64_t j = t0 + HD_ATTN_TILE_KB; j < t0 + HD_ATTN_TILE_KB + nb && j < nk; j++) {
            const char *kr = (const char *)(k + (size_t)j * ks), *vr = (const char *)(v + (size_t)j * vs);
            for (size_t b = 0; b < row_bytes; b += 64) {
                _mm_prefetch(kr + b, _MM_HINT_T1);
                _mm_prefetch(vr + b, _MM_HINT_T1);
            }
            _mm_prefetch(kr + row_bytes - 1, _MM_HINT_T1);
            _mm_prefetch(vr + row_bytes - 1, _MM_HINT_T1);
        }
        for (int t = 0; t < nt; t++) {
            float *qt = ws + t * tsz, *ot = qt + d * HD_ATTN_TILE_Q, *ml = ot + d * HD_ATTN_TILE_Q;
            const int r0 = t * HD_ATTN_TILE_Q, n = nq - r0 < HD_ATTN_TILE_Q ? nq - r0 : HD_ATTN_TILE_Q;
            const int cls = !mask ? HD_ATTN_MASK_ZERO
                            : mcls ? mcls[(size_t)t * mcs + (size_t)(t0 / HD_ATTN_TILE_KB)]
                                   : HD_ATTN_MASK_MIXED;
            if (cls == HD_ATTN_MASK_NONE) continue; /* every score −∞: adds nothing, changes no max */
            at_block(d, n, nb, qt, ot, ml, st, k + (size_t)t0 * ks, ks, v + (size_t)t0 * vs, vs,
                     cls == HD_ATTN_MASK_MIXED ? mask + (size_t)r0 * ms + t0 : NULL, ms);
        }
    }
    /* out = ot / l (0 where nothing was visible) */
    for (int t = 0; t < nt; t++) {
        const float *qt = ws + t * tsz, *ot = qt + d * HD_ATTN_TILE_Q, *ml = ot + d * HD_ATTN_TILE_Q;
        const int r0 = t * HD_ATTN_TILE_Q, n = nq - r0 < HD_ATTN_TILE_Q ? nq - r0 : HD_ATTN_TILE_Q;
        for (int r = 0; r < n; r++) {
            const float l = ml[32 + r], inv = l > 0.0f ? 1.0f / l : 0.0f;
            float *o = out + (size_t)(r0 + r) * os;
            for (int64_t dd = 0; dd < d; dd++) o[dd] = ot[dd * HD_ATTN_TILE_Q + r] * inv;
        }
    }
}

/* 12 independent zmm chains hide the FMA latency on both FMA pipes. */
static double peak_f32(int64_t iters) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 12 * 16 * 2;
}

static double peak_bf16(int64_t iters) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a80);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 12 * 32 * 2;
}

static double peak_int8(int64_t iters) {
    __m512i a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_epi32(i);
    const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
    }
    __m512i s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_epi32(s, a[i]);
    volatile int sink = _mm512_reduce_add_epi32(s);
    (void)sink;
    return (double)iters * 12 * 64 * 2;
}

const hd_kernels hd_kernels_avx512 = {
    .level = HD_CPU_AVX512,
    .act_of = {[HD_TYPE_F32] = HD_ACT_F32, [HD_TYPE_F16] = HD_ACT_F32, [HD_TYPE_BF16] = HD_ACT_BF16,
               [HD_TYPE_Q8_0] = HD_ACT_Q8X2, [HD_TYPE_Q4_0] = HD_ACT_Q8X4H, [HD_TYPE_Q4_K] = HD_ACT_Q8KH,
               [HD_TYPE_Q5_K] = HD_ACT_Q8KH, [HD_TYPE_Q6_K] = HD_ACT_Q8K},
    .act = {[HD_ACT_F32] = NULL, [HD_ACT_BF16] = act_bf16, [HD_ACT_Q8] = x86_act_q8x, [HD_ACT_Q8K] = x86_act_q8k,
            [HD_ACT_Q8X2] = act_q8x2, [HD_ACT_Q8X4H] = act_q8x4h, [HD_ACT_Q8KH] = act_q8kh},
    .dot = {[HD_TYPE_F32] = a5_dot_f32, [HD_TYPE_F16] = a5_dot_f16, [HD_TYPE_BF16] = a5_dot_bf16,
            [HD_TYPE_Q8_0] = a5_dot_q8_0, [HD_TYPE_Q4_0] = a5_dot_q4_0, [HD_TYPE_Q4_K] = a5_dot_q4_k,
            [HD_TYPE_Q5_K] = a5_dot_q5_k, [HD_TYPE_Q6_K] = a5_dot_q6_k},
    .dot_rows = {[HD_TYPE_F32] = a5_dotr_f32, [HD_TYPE_F16] = a5_dotr_f16},
    .dot_tile = {[HD_TYPE_F32] = a5_dotm_f32, [HD_TYPE_F16] = a5_dotm_f16},
    .pack = {[HD_TYPE_F32] = pack_f32_panel, [HD_TYPE_F16] = pack_f16_panel, [HD_TYPE_BF16] = pack_bf16_panel},
    .deq = {[HD_TYPE_F32] = x86_deq_f32, [HD_TYPE_F16] = x86_deq_f16, [HD_TYPE_BF16] = x86_deq_bf16,
            [HD_TYPE_Q8_0] = x86_deq_q8_0, [HD_TYPE_Q4_0] = x86_deq_q4_0, [HD_TYPE_Q4_K] = x86_deq_q4_k,
            [HD_TYPE_Q5_K] = x86_deq_q5_k, [HD_TYPE_Q6_K] = x86_deq_q6_k},
    .mr = A5_MR,
    .nr = A5_NR,
    .gemm_f32 = gemm_f32_12x32,
    .mr_bf16 = A5_MR,
    .nr_bf16 = A5_NR,
    .gemm_bf16 = gemm_bf16_12x32,
    .mr_q8 = Q8_MR,
    .nr_q8 = Q8_NR,
    .gemm_q8 = gemm_q8_4x32,
    .mr_qk = QK_MR,
    .nr_qk = QK_NR,
    .gemm_qk = gemm_qk_4x32,
    .gemm_q6k = gemm_q6k_4x32,
    .attn_tile = attn_tile_f32,
    .peak_f32 = peak_f32,
    .peak_bf16 = peak_bf16,
    .peak_int8 = peak_int8,
};
