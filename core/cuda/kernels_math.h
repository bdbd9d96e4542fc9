/* core/cuda/kernels_math.h — the arithmetic of the CUDA kernels, written once.
 *
 * Every function here is HD_HOSTDEV: `__host__ __device__` when nvcc compiles
 * it (the .cu files of core/cuda, HERD_CUDA=ON), plain `static inline` C otherwise.  The
 * CUDA kernels call these for every value they produce; only the launch
 * wrappers, the thread indexing and the reductions across threads are
 * device-only code.  tests/unit/test_cuda_math.c compiles this header with
 * the C compiler (in every build, with or without CUDA) and compares each
 * function with the CPU ops of core/ on random data.
 *
 * Conventions: blocks are GGUF's (core/types.h); "value i of a block" is the
 * i-th dequantized weight of it, exactly as core/quant.c's hd_dequantize_row
 * computes it.  Strides are in bytes, as in hd_tensor.
 * Not a public header: no stability promise.
 */
#ifndef HD_CUDA_KERNELS_MATH_H
#define HD_CUDA_KERNELS_MATH_H

#if defined(__CUDACC__)
#define HD_HOSTDEV __host__ __device__ __forceinline__
#ifndef _Static_assert
#define _Static_assert static_assert   /* core/types.h is C11; nvcc compiles C++ */
#endif
#else
#define HD_HOSTDEV static inline
#endif

#include "core/types.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- scalar conversions (bit exact, same results as core/types.c) -------- */

HD_HOSTDEV float hd_km_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

HD_HOSTDEV uint32_t hd_km_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE binary16 -> binary32, exact for every one of the 65536 inputs. */
HD_HOSTDEV float hd_km_f16_to_f32(hd_f16 h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return hd_km_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp != 0) return hd_km_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
    /* zero or subnormal: man · 2^-24 is exact in float */
    const float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

/* binary32 -> binary16, round to nearest even, overflow to ±inf, NaN kept quiet. */
HD_HOSTDEV hd_f16 hd_km_f32_to_f16(float f) {
    const uint32_t x = hd_km_f32_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u, absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u)
        return (hd_f16)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0u));
    if (absx >= 0x477ff000u) return (hd_f16)(sign | 0x7c00u);
    if (absx < 0x38800000u) {
        if (absx < 0x33000000u) return (hd_f16)sign;
        const uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u, shift = 126u - e;
        uint32_t r = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (hd_f16)(sign | r);
    }
    const uint32_t r = absx - 0x38000000u;
    uint32_t h = r >> 13;
    const uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (hd_f16)(sign | h);
}

HD_HOSTDEV float hd_km_bf16_to_f32(hd_bf16 h) { return hd_km_bits_f32((uint32_t)h << 16); }

HD_HOSTDEV hd_bf16 hd_km_f32_to_bf16(float f) {
    const uint32_t u = hd_km_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (hd_bf16)((u >> 16) | 64u);
    return (hd_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* ---- dequantization: value i of one block --------------------------------- */

HD_HOSTDEV float hd_km_q8_0_value(const hd_block_q8_0 *b, int i) {   /* i < 32 */
    return (float)b->qs[i] * hd_km_f16_to_f32(b->d);
}

HD_HOSTDEV float hd_km_q4_0_value(const hd_block_q4_0 *b, int i) {   /* i < 32 */
    const int q = i < 16 ? (b->qs[i] & 0xF) : (b->qs[i - 16] >> 4);
    return (float)(q - 8) * hd_km_f16_to_f32(b->d);
}

/* 6-bit scale and min of K-quant sub-block j (0..7) from scales[12]. */
HD_HOSTDEV void hd_km_k_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K: sub-block j = i/32; the 64 weights of sub-blocks 2c, 2c+1 share qs[32c..32c+31]
 * (low nibbles first).  x = d·sc·q − dmin·m, computed as core/quant.c does. */
HD_HOSTDEV float hd_km_q4_k_value(const hd_block_q4_k *b, int i) {   /* i < 256 */
    const int j = i >> 5, l = i & 31;
    int sc, m;
    hd_km_k_scale_min(j, b->scales, &sc, &m);
    const uint8_t q = b->qs[(j >> 1) * 32 + l];
    const int v = (j & 1) ? (q >> 4) : (q & 0xF);
    const float d = hd_km_f16_to_f32(b->d) * (float)sc, mn = hd_km_f16_to_f32(b->dmin) * (float)m;
    return d * (float)v - mn;
}

HD_HOSTDEV float hd_km_q5_k_value(const hd_block_q5_k *b, int i) {   /* i < 256 */
    const int j = i >> 5, l = i & 31;
    int sc, m;
    hd_km_k_scale_min(j, b->scales, &sc, &m);
    const uint8_t q = b->qs[(j >> 1) * 32 + l];
    const int v = ((j & 1) ? (q >> 4) : (q & 0xF)) + ((b->qh[l] >> j) & 1 ? 16 : 0);
    const float d = hd_km_f16_to_f32(b->d) * (float)sc, mn = hd_km_f16_to_f32(b->dmin) * (float)m;
    return d * (float)v - mn;
}

/* Q6_K: per 128 weights (half h), weight 32·k + l (k < 4, l < 32) takes its low 4 bits from
 * ql[64h + l + 32·(k&1)] (>> 4 when k ≥ 2) and bits 2k..2k+1 of qh[32h + l]; scale index
 * 8h + l/16 + 2k. */
HD_HOSTDEV float hd_km_q6_k_value(const hd_block_q6_k *b, int i) {   /* i < 256 */
    const int h = i >> 7, r = i & 127, k = r >> 5, l = r & 31;
    const uint8_t lo = b->ql[64 * h + l + 32 * (k & 1)];
    const int q = (((k >= 2) ? (lo >> 4) : (lo & 0xF)) | (((b->qh[32 * h + l] >> (2 * k)) & 3) << 4)) - 32;
    const float d = hd_km_f16_to_f32(b->d);
    return d * (float)b->scales[8 * h + l / 16 + 2 * k] * (float)q;
}

/* Value i of a row of `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K); 0 for others. */
HD_HOSTDEV float hd_km_row_value(int type, const void *row, int64_t i) {
    switch (type) {
    case HD_TYPE_F32: return ((const float *)row)[i];
    case HD_TYPE_F16: return hd_km_f16_to_f32(((const hd_f16 *)row)[i]);
    case HD_TYPE_BF16: return hd_km_bf16_to_f32(((const hd_bf16 *)row)[i]);
    case HD_TYPE_Q8_0: return hd_km_q8_0_value((const hd_block_q8_0 *)row + i / 32, (int)(i % 32));
    case HD_TYPE_Q4_0: return hd_km_q4_0_value((const hd_block_q4_0 *)row + i / 32, (int)(i % 32));
    case HD_TYPE_Q4_K: return hd_km_q4_k_value((const hd_block_q4_k *)row + i / 256, (int)(i % 256));
    case HD_TYPE_Q5_K: return hd_km_q5_k_value((const hd_block_q5_k *)row + i / 256, (int)(i % 256));
    case HD_TYPE_Q6_K: return hd_km_q6_k_value((const hd_block_q6_k *)row + i / 256, (int)(i % 256));
    default: return 0.0f;
    }
}

/* ---- block · activation dot products (the matrix-vector kernels) ---------- */
/* Each returns Σ_i value_i · x[i] over one block with the block's scales applied
 * once per (sub-)block, as llama.cpp's CUDA dequantize-mul-mat-vec does. */

HD_HOSTDEV float hd_km_dot_q8_0(const hd_block_q8_0 *b, const float *x) {
    float s = 0.0f;
    for (int i = 0; i < 32; i++) s += (float)b->qs[i] * x[i];
    return s * hd_km_f16_to_f32(b->d);
}

HD_HOSTDEV float hd_km_dot_q4_0(const hd_block_q4_0 *b, const float *x) {
    float s = 0.0f;
    for (int i = 0; i < 16; i++)
        s += (float)((b->qs[i] & 0xF) - 8) * x[i] + (float)((b->qs[i] >> 4) - 8) * x[i + 16];
    return s * hd_km_f16_to_f32(b->d);
}

/* Sub-block j (32 weights) of a Q4_K block against x[0..32): d·sc·Σq·x − dmin·m·Σx. */
HD_HOSTDEV float hd_km_dot_q4_k_sub(const hd_block_q4_k *b, int j, const float *x) {
    int sc, m;
    hd_km_k_scale_min(j, b->scales, &sc, &m);
    const uint8_t *q = b->qs + (j >> 1) * 32;
    const int sh = (j & 1) * 4;
    float sq = 0.0f, sx = 0.0f;
    for (int l = 0; l < 32; l++) {
        sq += (float)((q[l] >> sh) & 0xF) * x[l];
        sx += x[l];
    }
    return hd_km_f16_to_f32(b->d) * (float)sc * sq - hd_km_f16_to_f32(b->dmin) * (float)m * sx;
}

HD_HOSTDEV float hd_km_dot_q4_k(const hd_block_q4_k *b, const float *x) {   /* x[0..256) */
    float s = 0.0f;
    for (int j = 0; j < 8; j++) s += hd_km_dot_q4_k_sub(b, j, x + 32 * j);
    return s;
}

/* ---- normalisation (finishing a row reduction) ---------------------------- */

/* RMSNorm factor of a row of n values with Σx² = sum_sq: 1 / sqrt(Σx²/n + eps). */
HD_HOSTDEV float hd_km_rms_inv(float sum_sq, int64_t n, float eps) {
    return 1.0f / sqrtf(sum_sq / (float)n + eps);
}

/* y_i = x_i · inv · w_i (w NULL: 1) — RMSNorm, and LayerNorm on centred x. */
HD_HOSTDEV float hd_km_norm_apply(float x, float inv, const float *w, int64_t i) {
    return w ? x * inv * w[i] : x * inv;
}

/* Inference BatchNorm of one value of channel c as y = x·s + t. */
HD_HOSTDEV float hd_km_batch_norm(float x, float mean, float var, float gamma, float beta, float eps) {
    const float s = gamma / sqrtf(var + eps);
    return x * s + (beta - mean * s);
}

/* ---- rotary embedding ----------------------------------------------------- */

/* cos and sin of pos·inv_freq, the angle taken in double precision (positions reach 2^17). */
HD_HOSTDEV void hd_km_rope_cs(int32_t pos, float inv_freq, float *c, float *s) {
    double sa, ca;
    sincos((double)pos * (double)inv_freq, &sa, &ca);
    *c = (float)ca;
    *s = (float)sa;
}

/* Rotates the pair (a, b) by the angle whose cos, sin are c, s. */
HD_HOSTDEV void hd_km_rope_pair(float *a, float *b, float c, float s) {
    const float x = *a, y = *b;
    *a = x * c - y * s;
    *b = x * s + y * c;
}

/* Indices of pair i (< n_rot/2) in a head: (2i, 2i+1) interleaved, (i, i + n_rot/2) NeoX. */
HD_HOSTDEV void hd_km_rope_index(int i, int n_rot, int neox, int *ia, int *ib) {
    *ia = neox ? i : 2 * i;
    *ib = neox ? i + n_rot / 2 : 2 * i + 1;
}

/* ---- softmax --------------------------------------------------------------- */

/* exp(t) with the CPU kernels' flush: exactly 0 below -87 (and for -inf). */
HD_HOSTDEV float hd_km_exp_flush(float t) { return t < -87.0f ? 0.0f : expf(t); }

/* Online softmax over a stream of scores: m = running max, l = Σ exp(s − m).
 * Adds score s (may be -inf) and returns the factor by which earlier
 * exp-weighted sums must be multiplied (1 when the max did not grow);
 * *p receives exp(s − m_new). */
HD_HOSTDEV float hd_km_online_softmax(float *m, float *l, float s, float *p) {
    if (s == -INFINITY) {
        *p = 0.0f;
        return 1.0f;
    }
    float f = 1.0f;
    if (s > *m) {
        f = *m == -INFINITY ? 0.0f : expf(*m - s);
        *l *= f;
        *m = s;
    }
    *p = hd_km_exp_flush(s - *m);
    *l += *p;
    return f;
}

/* ---- activations ----------------------------------------------------------- */

HD_HOSTDEV float hd_km_silu(float x) { return x / (1.0f + expf(-x)); }
HD_HOSTDEV float hd_km_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
HD_HOSTDEV float hd_km_gelu(float x) {   /* tanh approximation */
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}
HD_HOSTDEV float hd_km_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

typedef enum hd_km_unary {
    HD_KM_SILU = 0,
    HD_KM_GELU = 1,
    HD_KM_GELU_ERF = 2,
    HD_KM_TANH = 3,
    HD_KM_SIGMOID = 4,
} hd_km_unary;

HD_HOSTDEV float hd_km_unary_apply(int op, float x) {
    switch (op) {
    case HD_KM_SILU: return hd_km_silu(x);
    case HD_KM_GELU: return hd_km_gelu(x);
    case HD_KM_GELU_ERF: return hd_km_gelu_erf(x);
    case HD_KM_TANH: return tanhf(x);
    default: return hd_km_sigmoid(x);
    }
}

typedef enum hd_km_binary {
    HD_KM_ADD = 0,
    HD_KM_MUL = 1,
    HD_KM_SWIGLU = 2,   /* silu(a) · b */
} hd_km_binary;

HD_HOSTDEV float hd_km_binary_apply(int op, float a, float b) {
    switch (op) {
    case HD_KM_ADD: return a + b;
    case HD_KM_MUL: return a * b;
    default: return hd_km_silu(a) * b;
    }
}

/* GLU of one output: a · sigmoid(b) with a, b the two halves of the row. */
HD_HOSTDEV float hd_km_glu(float a, float b) { return a * hd_km_sigmoid(b); }

/* ---- convolution ----------------------------------------------------------- */

/* One output of a PyTorch conv1d: y[co][t] = b + Σ_ci Σ_k w[co][ci][k]·x[g·cig + ci][t·stride + k − pad]
 * (zero outside the input).  x rows (channels) are xs bytes apart, w[co][ci] rows (K values of
 * wtype F32 or F16) are at w + co·ws2 + ci·ws1 bytes; g = co / cog. */
HD_HOSTDEV float hd_km_conv1d_point(const char *x, size_t xs, int64_t T, const char *w, int wtype, size_t ws1,
                                    size_t ws2, int64_t K, int64_t cig, int64_t cog, int64_t co, int64_t t,
                                    int stride, int pad, float bias) {
    const int64_t g = co / cog, base = t * stride - pad;
    float acc = bias;
    for (int64_t ci = 0; ci < cig; ci++) {
        const float *xr = (const float *)(x + (size_t)(g * cig + ci) * xs);
        const char *wr = w + (size_t)co * ws2 + (size_t)ci * ws1;
        for (int64_t k = 0; k < K; k++) {
            const int64_t i = base + k;
            if (i < 0 || i >= T) continue;
            acc += hd_km_row_value(wtype, wr, k) * xr[i];
        }
    }
    return acc;
}

/* One output of patch embedding: channel d of patch (gy, gx), P×P patches over img
 * ne={W, H, C} (rows ims1 bytes apart, channels ims2); w ne={P, P, C, D} F32/F16 with byte
 * strides ws1 (py), ws2 (ch), ws3 (d). */
HD_HOSTDEV float hd_km_patch_point(const char *img, size_t ims1, size_t ims2, const char *w, int wtype,
                                   size_t ws1, size_t ws2, size_t ws3, int64_t P, int64_t C, int64_t d,
                                   int64_t gy, int64_t gx, float bias) {
    float acc = bias;
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t py = 0; py < P; py++) {
            const float *im = (const float *)(img + (size_t)(gy * P + py) * ims1 + (size_t)ch * ims2) + gx * P;
            const char *wr = w + (size_t)py * ws1 + (size_t)ch * ws2 + (size_t)d * ws3;
            for (int64_t px = 0; px < P; px++) acc += hd_km_row_value(wtype, wr, px) * im[px];
        }
    return acc;
}

/* ---- tensor indexing -------------------------------------------------------- */

/* A tensor's shape and byte strides, passed to kernels by value. */
typedef struct hd_km_shape {
    int64_t ne[4];
    int64_t nb[4];
} hd_km_shape;

/* Byte offset of flat element index e (ne[0] innermost) of a tensor with shape s. */
HD_HOSTDEV int64_t hd_km_offset(const hd_km_shape *s, int64_t e) {
    const int64_t i0 = e % s->ne[0], r = e / s->ne[0];
    const int64_t i1 = r % s->ne[1], r2 = r / s->ne[1];
    const int64_t i2 = r2 % s->ne[2], i3 = r2 / s->ne[2];
    return i0 * s->nb[0] + i1 * s->nb[1] + i2 * s->nb[2] + i3 * s->nb[3];
}

/* Byte offset of row r (flat over ne[1..3]) of a tensor with shape s. */
HD_HOSTDEV int64_t hd_km_row_offset(const hd_km_shape *s, int64_t r) {
    const int64_t i1 = r % s->ne[1], r2 = r / s->ne[1];
    const int64_t i2 = r2 % s->ne[2], i3 = r2 / s->ne[2];
    return i1 * s->nb[1] + i2 * s->nb[2] + i3 * s->nb[3];
}

#endif
