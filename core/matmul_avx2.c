/* core/matmul_avx2.c — AVX2 + FMA + F16C kernels (compiled with those flags). */
#include "matmul_x86.h"

/* gemm micro-kernel: 6 tokens × 16 outputs, 12 ymm accumulators. */
#define A2_MR 6
#define A2_NR 16

static void gemm_f32_6x16(int64_t kc, const void *xpv, const void *wpv, float *c, size_t ldc, int mr, int nr,
                          bool accumulate) {
    const float *xp = xpv, *wp = wpv;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++, xp += A2_MR, wp += A2_NR) {
        const __m256 w0 = _mm256_load_ps(wp), w1 = _mm256_load_ps(wp + 8);
        __m256 xb;
        xb = _mm256_broadcast_ss(xp + 0); c00 = _mm256_fmadd_ps(xb, w0, c00); c01 = _mm256_fmadd_ps(xb, w1, c01);
        xb = _mm256_broadcast_ss(xp + 1); c10 = _mm256_fmadd_ps(xb, w0, c10); c11 = _mm256_fmadd_ps(xb, w1, c11);
        xb = _mm256_broadcast_ss(xp + 2); c20 = _mm256_fmadd_ps(xb, w0, c20); c21 = _mm256_fmadd_ps(xb, w1, c21);
        xb = _mm256_broadcast_ss(xp + 3); c30 = _mm256_fmadd_ps(xb, w0, c30); c31 = _mm256_fmadd_ps(xb, w1, c31);
        xb = _mm256_broadcast_ss(xp + 4); c40 = _mm256_fmadd_ps(xb, w0, c40); c41 = _mm256_fmadd_ps(xb, w1, c41);
        xb = _mm256_broadcast_ss(xp + 5); c50 = _mm256_fmadd_ps(xb, w0, c50); c51 = _mm256_fmadd_ps(xb, w1, c51);
    }
    float tile[A2_MR][A2_NR];
    _mm256_storeu_ps(tile[0], c00); _mm256_storeu_ps(tile[0] + 8, c01);
    _mm256_storeu_ps(tile[1], c10); _mm256_storeu_ps(tile[1] + 8, c11);
    _mm256_storeu_ps(tile[2], c20); _mm256_storeu_ps(tile[2] + 8, c21);
    _mm256_storeu_ps(tile[3], c30); _mm256_storeu_ps(tile[3] + 8, c31);
    _mm256_storeu_ps(tile[4], c40); _mm256_storeu_ps(tile[4] + 8, c41);
    _mm256_storeu_ps(tile[5], c50); _mm256_storeu_ps(tile[5] + 8, c51);
    for (int m = 0; m < mr; m++) {
        float *cr = c + (size_t)m * ldc;
        if (nr == A2_NR) {
            __m256 t0 = _mm256_loadu_ps(tile[m]), t1 = _mm256_loadu_ps(tile[m] + 8);
            if (accumulate) {
                t0 = _mm256_add_ps(t0, _mm256_loadu_ps(cr));
                t1 = _mm256_add_ps(t1, _mm256_loadu_ps(cr + 8));
            }
            _mm256_storeu_ps(cr, t0);
            _mm256_storeu_ps(cr + 8, t1);
        } else {
            for (int n = 0; n < nr; n++) cr[n] = accumulate ? cr[n] + tile[m][n] : tile[m][n];
        }
    }
}

static double peak_f32(int64_t iters) {
    __m256 a[10];
    for (int i = 0; i < 10; i++) a[i] = _mm256_set1_ps((float)i);
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    }
    __m256 s = a[0];
    for (int i = 1; i < 10; i++) s = _mm256_add_ps(s, a[i]);
    volatile float sink = hsum8(s);
    (void)sink;
    return (double)iters * 10 * 8 * 2;
}

const hd_kernels hd_kernels_avx2 = {
    .level = HD_CPU_AVX2,
    .act_of = {[HD_TYPE_F32] = HD_ACT_F32, [HD_TYPE_F16] = HD_ACT_F32, [HD_TYPE_BF16] = HD_ACT_F32,
               [HD_TYPE_Q8_0] = HD_ACT_Q8, [HD_TYPE_Q4_0] = HD_ACT_Q8, [HD_TYPE_Q4_K] = HD_ACT_Q8K,
               [HD_TYPE_Q5_K] = HD_ACT_Q8K, [HD_TYPE_Q6_K] = HD_ACT_Q8K},
    .act = {[HD_ACT_F32] = NULL, [HD_ACT_Q8] = x86_act_q8x, [HD_ACT_Q8K] = x86_act_q8k},
    .dot = {[HD_TYPE_F32] = x86_dot_f32, [HD_TYPE_F16] = x86_dot_f16, [HD_TYPE_BF16] = x86_dot_bf16f,
            [HD_TYPE_Q8_0] = x86_dot_q8_0, [HD_TYPE_Q4_0] = x86_dot_q4_0, [HD_TYPE_Q4_K] = x86_dot_q4_k,
            [HD_TYPE_Q5_K] = x86_dot_q5_k, [HD_TYPE_Q6_K] = x86_dot_q6_k},
    .dot_rows = {[HD_TYPE_F32] = x86_dotr_f32, [HD_TYPE_F16] = x86_dotr_f16, [HD_TYPE_BF16] = x86_dotr_bf16f},
    .dot_tile = {[HD_TYPE_F32] = x86_dotm_f32, [HD_TYPE_F16] = x86_dotm_f16},
    .deq = {[HD_TYPE_F32] = x86_deq_f32, [HD_TYPE_F16] = x86_deq_f16, [HD_TYPE_BF16] = x86_deq_bf16,
            [HD_TYPE_Q8_0] = x86_deq_q8_0, [HD_TYPE_Q4_0] = x86_deq_q4_0, [HD_TYPE_Q4_K] = x86_deq_q4_k,
            [HD_TYPE_Q5_K] = x86_deq_q5_k, [HD_TYPE_Q6_K] = x86_deq_q6_k},
    .mr = A2_MR,
    .nr = A2_NR,
    .gemm_f32 = gemm_f32_6x16,
    .mr_bf16 = 0,
    .nr_bf16 = 0,
    .gemm_bf16 = NULL,
    .peak_f32 = peak_f32,
    .peak_bf16 = NULL,
};
