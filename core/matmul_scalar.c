/* core/matmul_scalar.c — the reference kernels: plain C, every type.
 *
 * The SIMD tables (matmul_avx2.c, matmul_avx512.c) are tested against these
 * (tests/unit/test_matmul.c).  Integer dot products are exact; the float
 * sums follow the block order, so SIMD results differ only by float
 * reassociation.
 */
#include "kernels.h"
#include "quant.h"

#include <math.h>
#include <string.h>

size_t hd_act_row_size(hd_act a, int64_t k) {
    switch (a) {
    case HD_ACT_F32: return (size_t)k * sizeof(float);
    case HD_ACT_BF16: return (size_t)k * sizeof(hd_bf16);
    case HD_ACT_Q8: return (size_t)(k / 32) * sizeof(hd_block_q8x);
    case HD_ACT_Q8K:
    case HD_ACT_Q8KH: return (size_t)(k / HD_QK_K) * sizeof(hd_block_q8_k);
    case HD_ACT_Q8X2: return (size_t)((k / 32 + 1) / 2) * sizeof(hd_block_q8x2);
    case HD_ACT_Q8X4H: return (size_t)((k / 32 + 3) / 4) * sizeof(hd_block_q8x4h);
    default: return 0;
    }
}

/* ---- activation formats ------------------------------------------------------ */

static void act_f32(const float *x, void *dst, int64_t k) { memcpy(dst, x, (size_t)k * sizeof(float)); }

static void act_bf16(const float *x, void *dst, int64_t k) {
    hd_bf16 *d = dst;
    for (int64_t i = 0; i < k; i++) d[i] = hd_f32_to_bf16(x[i]);
}

void hd_act_q8x_scalar(const float *x, void *dst, int64_t k) {
    hd_block_q8x *y = dst;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        float amax = 0.f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = d;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            y[i].qs[j] = (int8_t)lrintf(fminf(fmaxf(x[j] * id, -127.f), 127.f)); /* ties to even */
            sum += y[i].qs[j];
        }
        y[i].s8 = 8.0f * d * (float)sum;
    }
}

static void act_q8k(const float *x, void *dst, int64_t k) { hd_quantize_row_q8_k_ref(x, dst, k / HD_QK_K); }

/* ---- dot products -------------------------------------------------------------- */

#define FOR_COLS for (int c = 0; c < nc; c++)
#define XCOL(T) ((const T *)((const char *)x + (size_t)c * xs))

static void dot_f32(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const float *wf = w;
    FOR_COLS {
        const float *xf = XCOL(float);
        float s = 0.f;
        for (int64_t i = 0; i < k; i++) s += wf[i] * xf[i];
        y[c * ys] = s;
    }
}

static void dot_f16(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_f16 *wh = w;
    FOR_COLS {
        const float *xf = XCOL(float);
        float s = 0.f;
        for (int64_t i = 0; i < k; i++) s += hd_f16_to_f32(wh[i]) * xf[i];
        y[c * ys] = s;
    }
}

static void dot_bf16(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_bf16 *wh = w;
    FOR_COLS {
        const float *xf = XCOL(float);
        float s = 0.f;
        for (int64_t i = 0; i < k; i++) s += hd_bf16_to_f32(wh[i]) * xf[i];
        y[c * ys] = s;
    }
}

static void dot_q8_0(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_block_q8_0 *b = w;
    FOR_COLS {
        const hd_block_q8x *a = XCOL(hd_block_q8x);
        float s = 0.f;
        for (int64_t i = 0; i < k / 32; i++) {
            int32_t acc = 0;
            for (int j = 0; j < 32; j++) acc += b[i].qs[j] * a[i].qs[j];
            s += hd_f16_to_f32(b[i].d) * a[i].d * (float)acc;
        }
        y[c * ys] = s;
    }
}

static void dot_q4_0(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_block_q4_0 *b = w;
    FOR_COLS {
        const hd_block_q8x *a = XCOL(hd_block_q8x);
        float s = 0.f;
        for (int64_t i = 0; i < k / 32; i++) {
            int32_t acc = 0;
            for (int j = 0; j < 16; j++) {
                acc += ((b[i].qs[j] & 0xF) - 8) * a[i].qs[j];
                acc += ((b[i].qs[j] >> 4) - 8) * a[i].qs[j + 16];
            }
            s += hd_f16_to_f32(b[i].d) * a[i].d * (float)acc;
        }
        y[c * ys] = s;
    }
}

/* K-quants against Q8_K: per super-block, Σ_j d·sc_j·Σ q·a  −  dmin·Σ_j m_j·Σ a, times a.d. */
static void dot_q4_k(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_block_q4_k *b = w;
    FOR_COLS {
        const hd_block_q8_k *a = XCOL(hd_block_q8_k);
        float s = 0.f;
        for (int64_t i = 0; i < k / HD_QK_K; i++) {
            int32_t sumq = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                hd_q4k_scale_min(j, b[i].scales, &sc, &m);
                const uint8_t *q = b[i].qs + 32 * (j / 2);
                const int shift = (j & 1) * 4;
                int32_t dq = 0;
                for (int l = 0; l < 32; l++) dq += ((q[l] >> shift) & 0xF) * a[i].qs[32 * j + l];
                sumq += sc * dq;
                summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
            }
            s += a[i].d * (hd_f16_to_f32(b[i].d) * (float)sumq - hd_f16_to_f32(b[i].dmin) * (float)summ);
        }
        y[c * ys] = s;
    }
}

static void dot_q5_k(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_block_q5_k *b = w;
    FOR_COLS {
        const hd_block_q8_k *a = XCOL(hd_block_q8_k);
        float s = 0.f;
        for (int64_t i = 0; i < k / HD_QK_K; i++) {
            int32_t sumq = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                hd_q4k_scale_min(j, b[i].scales, &sc, &m);
                const uint8_t *q = b[i].qs + 32 * (j / 2);
                const int shift = (j & 1) * 4;
                int32_t dq = 0;
                for (int l = 0; l < 32; l++) {
                    const int v = ((q[l] >> shift) & 0xF) | (((b[i].qh[l] >> j) & 1) << 4);
                    dq += v * a[i].qs[32 * j + l];
                }
                sumq += sc * dq;
                summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
            }
            s += a[i].d * (hd_f16_to_f32(b[i].d) * (float)sumq - hd_f16_to_f32(b[i].dmin) * (float)summ);
        }
        y[c * ys] = s;
    }
}

static void dot_q6_k(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    const hd_block_q6_k *b = w;
    FOR_COLS {
        const hd_block_q8_k *a = XCOL(hd_block_q8_k);
        float s = 0.f;
        for (int64_t i = 0; i < k / HD_QK_K; i++) {
            int32_t sum = 0;
            for (int h = 0; h < 2; h++) { /* two halves of 128 */
                const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
                const int8_t *sc = b[i].scales + 8 * h;
                const int8_t *aq = a[i].qs + 128 * h;
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    sum += sc[is + 0] * q1 * aq[l] + sc[is + 2] * q2 * aq[l + 32] + sc[is + 4] * q3 * aq[l + 64] +
                           sc[is + 6] * q4 * aq[l + 96];
                }
            }
            s += a[i].d * hd_f16_to_f32(b[i].d) * (float)sum;
        }
        y[c * ys] = s;
    }
}

/* ---- gemm micro-kernel --------------------------------------------------------- */

#define SMR 4
#define SNR 4

static void gemm_f32(int64_t kc, const void *xpv, const void *wpv, float *c, size_t ldc, int mr, int nr,
                     bool accumulate) {
    const float *xp = xpv, *wp = wpv;
    float acc[SMR][SNR] = {{0}};
    for (int64_t k = 0; k < kc; k++)
        for (int m = 0; m < SMR; m++)
            for (int n = 0; n < SNR; n++) acc[m][n] += xp[k * SMR + m] * wp[k * SNR + n];
    for (int m = 0; m < mr; m++)
        for (int n = 0; n < nr; n++) c[m * ldc + n] = accumulate ? c[m * ldc + n] + acc[m][n] : acc[m][n];
}

static void deq_generic(hd_type t, const void *src, float *dst, int64_t k) { hd_dequantize_row(t, src, dst, k); }
#define DEQ(T, NAME) \
    static void NAME(const void *s, float *d, int64_t k) { deq_generic(T, s, d, k); }
DEQ(HD_TYPE_F32, deq_f32)
DEQ(HD_TYPE_F16, deq_f16)
DEQ(HD_TYPE_BF16, deq_bf16)
DEQ(HD_TYPE_Q4_0, deq_q4_0)
DEQ(HD_TYPE_Q8_0, deq_q8_0)
DEQ(HD_TYPE_Q4_K, deq_q4_k)
DEQ(HD_TYPE_Q5_K, deq_q5_k)
DEQ(HD_TYPE_Q6_K, deq_q6_k)

static double peak_f32(int64_t iters) {
    float a[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] = a[i] * 0.999f + 1e-3f;
    volatile float sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    (void)sink;
    return (double)iters * 8 * 2;
}

const hd_kernels hd_kernels_scalar = {
    .level = HD_CPU_SCALAR,
    .act_of = {[HD_TYPE_F32] = HD_ACT_F32, [HD_TYPE_F16] = HD_ACT_F32, [HD_TYPE_BF16] = HD_ACT_F32,
               [HD_TYPE_Q8_0] = HD_ACT_Q8, [HD_TYPE_Q4_0] = HD_ACT_Q8, [HD_TYPE_Q4_K] = HD_ACT_Q8K,
               [HD_TYPE_Q5_K] = HD_ACT_Q8K, [HD_TYPE_Q6_K] = HD_ACT_Q8K},
    .act = {[HD_ACT_F32] = act_f32, [HD_ACT_BF16] = act_bf16, [HD_ACT_Q8] = hd_act_q8x_scalar,
            [HD_ACT_Q8K] = act_q8k},
    .dot = {[HD_TYPE_F32] = dot_f32, [HD_TYPE_F16] = dot_f16, [HD_TYPE_BF16] = dot_bf16,
            [HD_TYPE_Q8_0] = dot_q8_0, [HD_TYPE_Q4_0] = dot_q4_0, [HD_TYPE_Q4_K] = dot_q4_k,
            [HD_TYPE_Q5_K] = dot_q5_k, [HD_TYPE_Q6_K] = dot_q6_k},
    .deq = {[HD_TYPE_F32] = deq_f32, [HD_TYPE_F16] = deq_f16, [HD_TYPE_BF16] = deq_bf16,
            [HD_TYPE_Q8_0] = deq_q8_0, [HD_TYPE_Q4_0] = deq_q4_0, [HD_TYPE_Q4_K] = deq_q4_k,
            [HD_TYPE_Q5_K] = deq_q5_k, [HD_TYPE_Q6_K] = deq_q6_k},
    .mr = SMR,
    .nr = SNR,
    .gemm_f32 = gemm_f32,
    .mr_bf16 = 0,
    .nr_bf16 = 0,
    .gemm_bf16 = NULL,
    .peak_f32 = peak_f32,
    .peak_bf16 = NULL,
};
