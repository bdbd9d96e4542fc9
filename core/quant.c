/* core/quant.c — row conversion between F32 and every storage type.
 *
 * Scalar reference code.  The block layouts are GGUF's (core/types.h) and the
 * quantizers reproduce ggml's reference ("_ref") rounding, so a row we
 * quantize has the same bytes llama.cpp would write for it, and a row read
 * from any GGUF file dequantizes to the values llama.cpp computes.
 *
 * Layout summary (x = the dequantized value):
 *   Q4_0  d:f16, qs[16]     weight j<16: low nibble of qs[j]; j>=16: high nibble of qs[j-16]
 *                           x = d * (q - 8)
 *   Q8_0  d:f16, qs[32]     x = d * q
 *   Q4_K  d, dmin:f16, scales[12], qs[128]
 *                           8 sub-blocks of 32 with 6-bit scale sc and min m (packing below);
 *                           64 weights per 32 bytes of qs: the first 32 are the low nibbles,
 *                           the next 32 the high nibbles.  x = d*sc*q - dmin*m
 *   Q5_K  as Q4_K + qh[32]: bit (2i) of qh[l] is the fifth bit of weight 64i + l,
 *                           bit (2i+1) that of weight 64i + 32 + l.
 *   Q6_K  ql[128], qh[64], scales[16]:i8, d:f16; 16 sub-blocks of 16; per 128 weights
 *                           (64 bytes of ql, 32 of qh): weight l, l+32, l+64, l+96 (l<32) take
 *                           ql[l]&15, ql[l+32]&15, ql[l]>>4, ql[l+32]>>4 as low bits and
 *                           bits 0-1, 2-3, 4-5, 6-7 of qh[l] as high bits.  x = d*sc*(q - 32)
 *   Q8_K  d:f32, qs[256], bsums[16] (sum of each 16 quants).  x = d * q
 *
 * K-quant 6-bit scale packing (scales[12]) for sub-block j (0..7):
 *   j < 4:  sc = scales[j] & 63,                 m = scales[j+4] & 63
 *   j >= 4: sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4,
 *           m  = (scales[j+4] >> 4) | (scales[j]   >> 6) << 4
 */
#include "quant.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

/* Round to nearest, ties to even, as ggml's nearest_int (magic-number trick). */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

void hd_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* ---- dequantize ------------------------------------------------------------ */

static void deq_q4_0(const hd_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += HD_QK4_0) {
        const float d = hd_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q8_0(const hd_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += HD_QK8_0) {
        const float d = hd_f16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

static void deq_q4_k(const hd_block_q4_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = hd_f16_to_f32(b[i].d), dmin = hd_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            hd_q4k_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            hd_q4k_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void deq_q5_k(const hd_block_q5_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = hd_f16_to_f32(b[i].d), dmin = hd_f16_to_f32(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            hd_q4k_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            hd_q4k_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void deq_q6_k(const hd_block_q6_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = hd_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int n = 0; n < HD_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static void deq_q8_k(const hd_block_q8_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += HD_QK_K)
        for (int j = 0; j < HD_QK_K; j++) y[j] = b[i].d * (float)b[i].qs[j];
}

void hd_dequantize_row(hd_type type, const void *src, float *dst, int64_t n) {
    const hd_type_traits *tt = hd_type_get(type);
    if (!tt || n <= 0 || n % (int64_t)tt->block_size) return;
    const int64_t nb = n / (int64_t)tt->block_size;
    switch (type) {
    case HD_TYPE_F32: memmove(dst, src, (size_t)n * sizeof(float)); break;
    case HD_TYPE_F16: {
        const hd_f16 *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = hd_f16_to_f32(s[i]);
        break;
    }
    case HD_TYPE_BF16: {
        const hd_bf16 *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = hd_bf16_to_f32(s[i]);
        break;
    }
    case HD_TYPE_Q4_0: deq_q4_0(src, dst, nb); break;
    case HD_TYPE_Q8_0: deq_q8_0(src, dst, nb); break;
    case HD_TYPE_Q4_K: deq_q4_k(src, dst, nb); break;
    case HD_TYPE_Q5_K: deq_q5_k(src, dst, nb); break;
    case HD_TYPE_Q6_K: deq_q6_k(src, dst, nb); break;
    case HD_TYPE_Q8_K: deq_q8_k(src, dst, nb); break;
    default: break;
    }
}

/* ---- quantize (ggml reference rounding) ----------------------------------- */

static void quant_q4_0(const float *x, hd_block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += HD_QK4_0) {
        float amax = 0.f, max = 0.f;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = hd_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            /* truncation toward zero of x+8.5 (in [0.5, 16.5] for finite input) rounds
             * half up; the clamp only keeps NaN/inf input from an undefined conversion */
            const int q0 = imin(15, (int)(int8_t)fminf(fmaxf(x[j] * id + 8.5f, 0.f), 16.5f));
            const int q1 = imin(15, (int)(int8_t)fminf(fmaxf(x[j + 16] * id + 8.5f, 0.f), 16.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q8_0(const float *x, hd_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += HD_QK8_0) {
        float amax = 0.f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = hd_f32_to_f16(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)roundf(fminf(fmaxf(x[j] * id, -127.f), 127.f));
    }
}

/* ggml's make_qkx2_quants: an asymmetric (scale, min) fit of n values to
 * [0, nmax] minimising the weighted squared error over a small search of
 * scales.  Returns the scale, stores -min in *the_min. */
static float make_qkx2(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                       uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
        L[i] = (uint8_t)l;
        const float diff = scale * l + min - x[i];
        best_error += w[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                const float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += w[i] * diff * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per-sub-block fits, 6-bit
 * scales and mins packed into scales[12], then the final quants L[256]. */
static void quant_k_common(const float *x, int nmax, float rmin, float rdelta, int nstep, uint8_t *scales_out,
                           hd_f16 *d_out, hd_f16 *dmin_out, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(scales_out, 0, HD_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        const uint8_t ls = (uint8_t)imin(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        const uint8_t lm = (uint8_t)imin(63, (uint8_t)nearest_int(inv_min * mins[j]));
        if (j < 4) {
            scales_out[j] = ls;
            scales_out[j + 4] = lm;
        } else {
            scales_out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales_out[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales_out[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = hd_f32_to_f16(max_scale / 63.f);
    *dmin_out = hd_f32_to_f16(max_min / 63.f);
    const float d = hd_f16_to_f32(*d_out), dmin = hd_f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        hd_q4k_scale_min(j, scales_out, &sc, &m);
        const float dj = d * sc;
        if (dj == 0.f) continue;
        const float dm = dmin * m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + l] + dm) / dj)));
    }
}

static void quant_q4_k(const float *x, hd_block_q4_k *y, int64_t nb) {
    uint8_t L[HD_QK_K];
    for (int64_t i = 0; i < nb; i++, x += HD_QK_K) {
        quant_k_common(x, 15, -1.f, 0.1f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < HD_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void quant_q5_k(const float *x, hd_block_q5_k *y, int64_t nb) {
    uint8_t L[HD_QK_K];
    for (int64_t i = 0; i < nb; i++, x += HD_QK_K) {
        quant_k_common(x, 31, -0.5f, 0.1f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, HD_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < HD_QK_K; n += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

/* ggml's make_qx_quants with rmse_type 1 (weights x²): symmetric fit to
 * [-nmax, nmax-1]; L gets q + nmax. */
static float make_qx(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void quant_q6_k(const float *x, hd_block_q6_k *y, int64_t nb) {
    int8_t L[HD_QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += HD_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = make_qx(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < 1e-15f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = hd_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        const float d = hd_f16_to_f32(y[i].d);
        for (int j = 0; j < 16; j++) {
            const float dj = d * y[i].scales[j];
            if (dj == 0.f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + l] / dj))) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < HD_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void hd_quantize_row_q8_k_ref(const float *x, hd_block_q8_k *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += HD_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < HD_QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < HD_QK_K; j++) y[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

bool hd_type_can_quantize(hd_type type) {
    switch (type) {
    case HD_TYPE_F32:
    case HD_TYPE_F16:
    case HD_TYPE_BF16:
    case HD_TYPE_Q4_0:
    case HD_TYPE_Q8_0:
    case HD_TYPE_Q4_K:
    case HD_TYPE_Q5_K:
    case HD_TYPE_Q6_K:
    case HD_TYPE_Q8_K: return true;
    default: return false;
    }
}

size_t hd_quantize_row(hd_type type, const float *src, void *dst, int64_t n) {
    if (!hd_type_can_quantize(type)) return 0;
    const size_t bytes = hd_type_row_size(type, n);
    if (bytes == 0) return 0;
    const int64_t nb = n / (int64_t)hd_type_get(type)->block_size;
    switch (type) {
    case HD_TYPE_F32: memmove(dst, src, bytes); break;
    case HD_TYPE_F16: {
        hd_f16 *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = hd_f32_to_f16(src[i]);
        break;
    }
    case HD_TYPE_BF16: {
        hd_bf16 *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = hd_f32_to_bf16(src[i]);
        break;
    }
    case HD_TYPE_Q4_0: quant_q4_0(src, dst, nb); break;
    case HD_TYPE_Q8_0: quant_q8_0(src, dst, nb); break;
    case HD_TYPE_Q4_K: quant_q4_k(src, dst, nb); break;
    case HD_TYPE_Q5_K: quant_q5_k(src, dst, nb); break;
    case HD_TYPE_Q6_K: quant_q6_k(src, dst, nb); break;
    case HD_TYPE_Q8_K: hd_quantize_row_q8_k_ref(src, dst, nb); break;
    default: return 0;
    }
    return bytes;
}
