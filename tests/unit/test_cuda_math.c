/* tests/unit/test_cuda_math.c — core/cuda/kernels_math.h on the host.
 *
 * The CUDA kernels compute every value with these __host__ __device__
 * functions; here the C compiler builds the same functions and each one,
 * composed the way its kernel composes it, is compared with the CPU op of
 * core/ (scalar kernel table) on random data.  Runs in every build, with or
 * without HERD_CUDA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cpu.h"
#include "core/cuda/kernels_math.h"
#include "core/exec.h"
#include "core/ops.h"
#include "core/quant.h"
#include "core/types.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hd_exec cpu_ex(void) {
    hd_cpu_set_level(HD_CPU_SCALAR);
    return (hd_exec){.backend = HD_BACKEND_CPU, .pool = NULL, .scratch = NULL};
}

static float *rnd(tu_rng *r, size_t n, float scale) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    tu_fill_normal(r, x, n, scale);
    return x;
}

/* max |a - b| ≤ atol + rtol · max |b| */
static void expect_close(const float *a, const float *b, size_t n, float rtol, float atol, const char *what) {
    float mb = 0, me = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabsf(b[i]) > mb) mb = fabsf(b[i]);
        float e = fabsf(a[i] - b[i]);
        if (!(e <= me)) {
            me = e;
            at = i;
        }
    }
    if (!(me <= atol + rtol * mb)) {
        fprintf(stderr, "%s: max error %g at %zu (got %g, want %g; max |ref| %g)\n", what, (double)me, at,
                (double)a[at], (double)b[at], (double)mb);
        fail();
    }
}

/* ---- conversions ------------------------------------------------------------ */

static void test_f16_all_values(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t a = hd_km_f32_bits(hd_km_f16_to_f32((hd_f16)h)), b = hd_km_f32_bits(hd_f16_to_f32((hd_f16)h));
        if (a != b) {
            fprintf(stderr, "f16 %04x: %08x vs %08x\n", h, a, b);
            fail();
        }
        assert_int_equal(hd_km_bf16_to_f32((hd_bf16)h), hd_bf16_to_f32((hd_bf16)h));
    }
}

static void test_f32_to_half_rounding(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 11);
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65519.99f, 65520.0f, 1e-8f,
                             2.98e-8f, 5.96e-8f, 6.1e-5f, 3.0517578125e-05f, 1.0f + 1.0f / 2048, 1e30f, -1e-30f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        assert_int_equal(hd_km_f32_to_f16(special[i]), hd_f32_to_f16(special[i]));
        assert_int_equal(hd_km_f32_to_bf16(special[i]), hd_f32_to_bf16(special[i]));
    }
    for (int i = 0; i < 200000; i++) {
        /* random bit patterns cover every exponent, subnormals and ties */
        uint32_t u = (uint32_t)tu_rng_u64(&r);
        if (i % 2) u = (u & 0x8000e000u) | ((uint32_t)(100 + i % 60) << 23) | (u & 0x1fffu); /* near f16 range */
        float f = hd_km_bits_f32(u);
        if (hd_km_f32_to_f16(f) != hd_f32_to_f16(f) || hd_km_f32_to_bf16(f) != hd_f32_to_bf16(f)) {
            fprintf(stderr, "f32 %08x: f16 %04x vs %04x, bf16 %04x vs %04x\n", u, hd_km_f32_to_f16(f),
                    hd_f32_to_f16(f), hd_km_f32_to_bf16(f), hd_f32_to_bf16(f));
            fail();
        }
    }
}

/* ---- dequantization ------------------------------------------------------------ */

static const hd_type k_weight_types[] = {HD_TYPE_F32,  HD_TYPE_F16,  HD_TYPE_BF16, HD_TYPE_Q8_0,
                                         HD_TYPE_Q4_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K};
#define N_WEIGHT_TYPES (sizeof k_weight_types / sizeof *k_weight_types)

/* A row of n random values stored as type t (caller frees). */
static void *quantized_row(tu_rng *r, hd_type t, int64_t n) {
    float *x = rnd(r, (size_t)n, 1.0f);
    void *q = malloc(hd_type_row_size(t, n));
    assert_non_null(q);
    if (t == HD_TYPE_F32)
        memcpy(q, x, (size_t)n * sizeof *x);
    else
        assert_int_equal(hd_quantize_row(t, x, q, n), hd_type_row_size(t, n));
    free(x);
    return q;
}

static void test_dequantize_bit_exact(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 1);
    const int64_t n = 1024;
    float *ref = malloc(n * sizeof *ref);
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        hd_type t = k_weight_types[ti];
        void *q = quantized_row(&r, t, n);
        hd_dequantize_row(t, q, ref, n);
        for (int64_t i = 0; i < n; i++) {
            float v = hd_km_row_value(t, q, i);
            if (hd_km_f32_bits(v) != hd_km_f32_bits(ref[i])) {
                fprintf(stderr, "%s value %lld: %.9g vs %.9g\n", hd_type_name(t), (long long)i, (double)v,
                        (double)ref[i]);
                fail();
            }
        }
        free(q);
    }
    free(ref);
}

/* ---- matrix-vector products ------------------------------------------------------ */

/* y[m][n] as the quantized matrix-vector kernel computes it: Σ over blocks of hd_km_dot_*. */
static float km_matvec_row(hd_type t, const void *wrow, const float *x, int64_t K) {
    float s = 0.0f;
    switch (t) {
    case HD_TYPE_Q8_0:
        for (int64_t b = 0; b < K / 32; b++) s += hd_km_dot_q8_0((const hd_block_q8_0 *)wrow + b, x + 32 * b);
        break;
    case HD_TYPE_Q4_0:
        for (int64_t b = 0; b < K / 32; b++) s += hd_km_dot_q4_0((const hd_block_q4_0 *)wrow + b, x + 32 * b);
        break;
    case HD_TYPE_Q4_K:
        for (int64_t b = 0; b < K / 256; b++) s += hd_km_dot_q4_k((const hd_block_q4_k *)wrow + b, x + 256 * b);
        break;
    default: fail();
    }
    return s;
}

static void test_quantized_matvec(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 2);
    const hd_type types[] = {HD_TYPE_Q8_0, HD_TYPE_Q4_0, HD_TYPE_Q4_K};
    const int64_t K = 512, N = 24, M = 3;
    hd_exec ex = cpu_ex();
    for (size_t ti = 0; ti < 3; ti++) {
        const hd_type t = types[ti];
        const size_t rs = hd_type_row_size(t, K);
        char *w = malloc(rs * N);
        float *x = rnd(&r, (size_t)(K * M), 1.0f), *deq = malloc(K * sizeof(float));
        float *y_km = malloc(N * M * sizeof(float)), *y_ref = malloc(N * M * sizeof(float)),
              *y_cpu = malloc(N * M * sizeof(float));
        for (int64_t n = 0; n < N; n++) {
            void *q = quantized_row(&r, t, K);
            memcpy(w + n * rs, q, rs);
            free(q);
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                y_km[m * N + n] = km_matvec_row(t, w + n * rs, x + m * K, K);
                hd_dequantize_row(t, w + n * rs, deq, K);
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)deq[k] * x[m * K + k];
                y_ref[m * N + n] = (float)s;
            }
        /* exact weights, float accumulation: close to the double reference */
        expect_close(y_km, y_ref, (size_t)(N * M), 2e-5f, 1e-5f, hd_type_name(t));
        /* and to the CPU op, which also quantizes the activations (Q8): looser */
        hd_tensor tw = hd_tensor_2d(t, K, N, w), tx = hd_tensor_2d(HD_TYPE_F32, K, M, x),
                  ty = hd_tensor_2d(HD_TYPE_F32, N, M, y_cpu);
        hd_error err;
        assert_int_equal(hd_op_linear(&ex, &ty, &tw, &tx, NULL, &err), HD_OK);
        expect_close(y_km, y_cpu, (size_t)(N * M), 2e-2f, 0, hd_type_name(t));
        free(w), free(x), free(deq), free(y_km), free(y_ref), free(y_cpu);
    }
}

/* ---- normalisation ------------------------------------------------------------- */

static void test_norms(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 3);
    hd_exec ex = cpu_ex();
    hd_error err;
    const int64_t n = 300, rows = 5;
    float *x = rnd(&r, n * rows, 2.0f), *w = rnd(&r, n, 1.0f), *b = rnd(&r, n, 1.0f);
    float *got = malloc(n * rows * sizeof(float)), *want = malloc(n * rows * sizeof(float));
    hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, n, rows, x), ty = hd_tensor_2d(HD_TYPE_F32, n, rows, want);
    hd_tensor tw = hd_tensor_1d(HD_TYPE_F32, n, w), tb = hd_tensor_1d(HD_TYPE_F32, n, b);

    /* RMSNorm: the kernel reduces Σx² across threads, then applies the factor */
    for (int with_w = 0; with_w < 2; with_w++) {
        for (int64_t rr = 0; rr < rows; rr++) {
            const float *xr = x + rr * n;
            float ss = 0;
            for (int64_t i = 0; i < n; i++) ss += xr[i] * xr[i];
            float inv = hd_km_rms_inv(ss, n, 1e-5f);
            for (int64_t i = 0; i < n; i++) got[rr * n + i] = hd_km_norm_apply(xr[i], inv, with_w ? w : NULL, i);
        }
        assert_int_equal(hd_op_rms_norm(&ex, &ty, &tx, with_w ? &tw : NULL, 1e-5f, &err), HD_OK);
        expect_close(got, want, (size_t)(n * rows), 1e-5f, 0, "rms_norm");
    }
    /* LayerNorm: mean, centre, Σ(x-mean)², the same factor, then + b */
    for (int64_t rr = 0; rr < rows; rr++) {
        const float *xr = x + rr * n;
        float s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++) s += xr[i];
        const float mean = s / (float)n;
        for (int64_t i = 0; i < n; i++) ss += (xr[i] - mean) * (xr[i] - mean);
        float inv = hd_km_rms_inv(ss, n, 1e-5f);
        for (int64_t i = 0; i < n; i++) got[rr * n + i] = hd_km_norm_apply(xr[i] - mean, inv, w, i) + b[i];
    }
    assert_int_equal(hd_op_layer_norm(&ex, &ty, &tx, &tw, &tb, 1e-5f, &err), HD_OK);
    expect_close(got, want, (size_t)(n * rows), 1e-5f, 0, "layer_norm");

    /* BatchNorm over channels: x ne={T, C} */
    const int64_t T = n, C = rows;
    float *mean = rnd(&r, C, 1.0f), *var = rnd(&r, C, 1.0f), *gam = rnd(&r, C, 1.0f), *bet = rnd(&r, C, 1.0f);
    for (int64_t c = 0; c < C; c++) var[c] = fabsf(var[c]) + 0.1f;
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < T; t++)
            got[c * T + t] = hd_km_batch_norm(x[c * T + t], mean[c], var[c], gam[c], bet[c], 1e-3f);
    hd_tensor tm = hd_tensor_1d(HD_TYPE_F32, C, mean), tv = hd_tensor_1d(HD_TYPE_F32, C, var),
              tg = hd_tensor_1d(HD_TYPE_F32, C, gam), tbe = hd_tensor_1d(HD_TYPE_F32, C, bet);
    assert_int_equal(hd_op_batch_norm(&ex, &ty, &tx, &tm, &tv, &tg, &tbe, 1e-3f, &err), HD_OK);
    expect_close(got, want, (size_t)(n * rows), 1e-6f, 0, "batch_norm");
    free(x), free(w), free(b), free(got), free(want), free(mean), free(var), free(gam), free(bet);
}

/* ---- RoPE ------------------------------------------------------------------------ */

static void test_rope(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 4);
    hd_exec ex = cpu_ex();
    hd_error err;
    const int d = 64, H = 3, S = 4, n_rot = 48;
    int32_t pos[4] = {0, 7, 4096, 131071};
    float inv_freq[32];
    for (int i = 0; i < n_rot / 2; i++) inv_freq[i] = powf(500000.0f, -2.0f * (float)i / (float)n_rot);
    for (int neox = 0; neox < 2; neox++) {
        float *x = rnd(&r, (size_t)(d * H * S), 1.0f), *want = malloc((size_t)(d * H * S) * sizeof(float));
        memcpy(want, x, (size_t)(d * H * S) * sizeof(float));
        for (int s = 0; s < S; s++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n_rot / 2; i++) {   /* one thread per (token, head, pair) */
                    float c, sn;
                    int ia, ib;
                    hd_km_rope_cs(pos[s], inv_freq[i], &c, &sn);
                    hd_km_rope_index(i, n_rot, neox, &ia, &ib);
                    float *v = x + (s * H + h) * d;
                    hd_km_rope_pair(v + ia, v + ib, c, sn);
                }
        hd_tensor t = hd_tensor_3d(HD_TYPE_F32, d, H, S, want);
        assert_int_equal(hd_op_rope(&ex, &t, pos, inv_freq, n_rot, neox ? HD_ROPE_NEOX : HD_ROPE_INTERLEAVED, &err),
                         HD_OK);
        expect_close(x, want, (size_t)(d * H * S), 1e-6f, 0, neox ? "rope neox" : "rope interleaved");
        free(x), free(want);
    }
}

/* ---- softmax and attention ------------------------------------------------------- */

static void test_softmax(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 5);
    hd_exec ex = cpu_ex();
    hd_error err;
    const int64_t n = 257, rows = 4;
    float *x = rnd(&r, n * rows, 3.0f), *got = malloc(n * rows * sizeof(float));
    for (int64_t i = 0; i < n; i += 5) x[i] = -INFINITY;         /* masked entries */
    for (int64_t i = 0; i < n; i++) x[3 * n + i] = -INFINITY;    /* a row that sees nothing */
    const float scale = 0.7f;
    for (int64_t rr = 0; rr < rows; rr++) {
        /* the kernel: online max/sum over the row, then exp(s − m) / l */
        float m = -INFINITY, l = 0, p;
        for (int64_t i = 0; i < n; i++) hd_km_online_softmax(&m, &l, x[rr * n + i] * scale, &p);
        for (int64_t i = 0; i < n; i++)
            got[rr * n + i] = l > 0 ? hd_km_exp_flush(x[rr * n + i] * scale - m) / l : 0.0f;
    }
    hd_tensor t = hd_tensor_2d(HD_TYPE_F32, n, rows, x);
    assert_int_equal(hd_op_softmax(&ex, &t, scale, &err), HD_OK);
    expect_close(got, x, (size_t)(n * rows), 1e-5f, 1e-7f, "softmax");
    for (int64_t i = 0; i < n; i++) assert_true(got[3 * n + i] == 0.0f);
    free(x), free(got);
}

/* One (query, head) row of attention exactly as the CUDA kernel streams it. */
static void km_attention_row(float *out, const float *q, const void *k, const void *v, int kv_type, size_t ks,
                             size_t vs, int64_t d, int64_t n_vis, const float *mask, float scale) {
    float m = -INFINITY, l = 0;
    for (int64_t i = 0; i < d; i++) out[i] = 0;
    for (int64_t t = 0; t < n_vis; t++) {
        const char *kt = (const char *)k + t * ks, *vt = (const char *)v + t * vs;
        float dot = 0;
        for (int64_t i = 0; i < d; i++) dot += q[i] * hd_km_row_value(kv_type, kt, i);
        float s = dot * scale + (mask ? mask[t] : 0.0f), p;
        float f = hd_km_online_softmax(&m, &l, s, &p);
        for (int64_t i = 0; i < d; i++) out[i] = out[i] * f + p * hd_km_row_value(kv_type, vt, i);
    }
    for (int64_t i = 0; i < d; i++) out[i] = l > 0 ? out[i] / l : 0.0f;
}

static void test_attention(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 6);
    hd_exec ex = cpu_ex();
    hd_error err;
    const int64_t d = 32, H = 4, G = 2, S = 3, T = 70, q_offset = 67;
    for (int variant = 0; variant < 3; variant++) {   /* F32 causal, F16 causal, F32 masked */
        const hd_type kt = variant == 1 ? HD_TYPE_F16 : HD_TYPE_F32;
        const size_t es = kt == HD_TYPE_F16 ? 2 : 4;
        float *q = rnd(&r, d * H * S, 1.0f), *kf = rnd(&r, d * G * T, 1.0f), *vf = rnd(&r, d * G * T, 1.0f);
        float *mask = NULL;
        void *k = malloc(d * G * T * es), *v = malloc(d * G * T * es);
        if (kt == HD_TYPE_F16) {
            hd_quantize_row(HD_TYPE_F16, kf, k, d * G * T);
            hd_quantize_row(HD_TYPE_F16, vf, v, d * G * T);
        } else {
            memcpy(k, kf, d * G * T * es);
            memcpy(v, vf, d * G * T * es);
        }
        if (variant == 2) {
            mask = rnd(&r, T * S, 1.0f);
            for (int64_t i = 0; i < T * S; i += 3) mask[i] = -INFINITY;
            for (int64_t i = 0; i < T; i++) mask[2 * T + i] = -INFINITY;   /* query 2 sees nothing */
        }
        float *got = malloc(d * H * S * sizeof(float)), *want = malloc(d * H * S * sizeof(float));
        const float scale = 1.0f / sqrtf((float)d);
        const bool causal = variant != 2;
        for (int64_t s = 0; s < S; s++)
            for (int64_t h = 0; h < H; h++) {
                const int64_t g = h / (H / G);
                int64_t n_vis = T;
                if (causal && q_offset + s + 1 < n_vis) n_vis = q_offset + s + 1;
                km_attention_row(got + (s * H + h) * d, q + (s * H + h) * d, (char *)k + g * d * es,
                                 (char *)v + g * d * es, kt, G * d * es, G * d * es, d, n_vis,
                                 mask ? mask + s * T : NULL, scale);
            }
        hd_tensor tq = hd_tensor_3d(HD_TYPE_F32, d, H, S, q), tk = hd_tensor_3d(kt, d, G, T, k),
                  tv = hd_tensor_3d(kt, d, G, T, v), to = hd_tensor_3d(HD_TYPE_F32, d, H, S, want),
                  tm = hd_tensor_2d(HD_TYPE_F32, T, S, mask);
        hd_attn_params p = {.scale = scale, .causal = causal, .q_offset = causal ? q_offset : 0,
                            .mask = mask ? &tm : NULL};
        assert_int_equal(hd_op_attention(&ex, &to, &tq, &tk, &tv, &p, &err), HD_OK);
        expect_close(got, want, (size_t)(d * H * S), 2e-5f, 1e-6f, "attention");
        if (variant == 2)
            for (int64_t i = 0; i < d * H; i++) assert_true(got[2 * d * H + i] == 0.0f);
        free(q), free(kf), free(vf), free(k), free(v), free(mask), free(got), free(want);
    }
}

/* ---- element-wise ----------------------------------------------------------------- */

static void test_elementwise(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 7);
    hd_exec ex = cpu_ex();
    hd_error err;
    const int64_t n = 999;
    float *a = rnd(&r, n, 4.0f), *b = rnd(&r, n, 4.0f), *got = malloc(n * sizeof(float)),
          *want = malloc(n * sizeof(float));
    hd_tensor ta = hd_tensor_1d(HD_TYPE_F32, n, a), tb = hd_tensor_1d(HD_TYPE_F32, n, b),
              tw = hd_tensor_1d(HD_TYPE_F32, n, want);
    typedef hd_status (*un_fn)(hd_exec *, hd_tensor *, const hd_tensor *, hd_error *);
    const un_fn un[] = {hd_op_silu, hd_op_gelu, hd_op_gelu_erf, hd_op_tanh, hd_op_sigmoid};
    const int un_op[] = {HD_KM_SILU, HD_KM_GELU, HD_KM_GELU_ERF, HD_KM_TANH, HD_KM_SIGMOID};
    for (int u = 0; u < 5; u++) {
        for (int64_t i = 0; i < n; i++) got[i] = hd_km_unary_apply(un_op[u], a[i]);
        assert_int_equal(un[u](&ex, &tw, &ta, &err), HD_OK);
        expect_close(got, want, (size_t)n, 1e-6f, 1e-7f, "unary");
    }
    typedef hd_status (*bin_fn)(hd_exec *, hd_tensor *, const hd_tensor *, const hd_tensor *, hd_error *);
    const bin_fn bin[] = {hd_op_add, hd_op_mul, hd_op_swiglu};
    const int bin_op[] = {HD_KM_ADD, HD_KM_MUL, HD_KM_SWIGLU};
    for (int u = 0; u < 3; u++) {
        for (int64_t i = 0; i < n; i++) got[i] = hd_km_binary_apply(bin_op[u], a[i], b[i]);
        assert_int_equal(bin[u](&ex, &tw, &ta, &tb, &err), HD_OK);
        expect_close(got, want, (size_t)n, 1e-6f, 1e-7f, "binary");
    }
    /* GLU over row halves: x ne={2·h, rows} */
    const int64_t h = 111, rows = 4;   /* 2·111·4 = 888 ≤ n */
    hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, 2 * h, rows, a), ty = hd_tensor_2d(HD_TYPE_F32, h, rows, want);
    for (int64_t rr = 0; rr < rows; rr++)
        for (int64_t i = 0; i < h; i++) got[rr * h + i] = hd_km_glu(a[rr * 2 * h + i], a[rr * 2 * h + h + i]);
    assert_int_equal(hd_op_glu(&ex, &ty, &tx, &err), HD_OK);
    expect_close(got, want, (size_t)(h * rows), 1e-6f, 1e-7f, "glu");
    free(a), free(b), free(got), free(want);
}

/* ---- convolution ------------------------------------------------------------------ */

static void test_conv1d(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 8);
    hd_exec ex = cpu_ex();
    hd_error err;
    struct { int64_t T, C_in, C_out, K; int stride, pad, groups; hd_type wt; } cases[] = {
        {50, 6, 4, 3, 1, 1, 1, HD_TYPE_F32},   /* dense */
        {51, 8, 8, 5, 2, 2, 1, HD_TYPE_F16},   /* strided, F16 weights */
        {40, 12, 12, 31, 1, 15, 12, HD_TYPE_F32},  /* depthwise (Conformer) */
        {33, 6, 9, 4, 3, 0, 3, HD_TYPE_F32},   /* grouped */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int64_t T = cases[ci].T, C_in = cases[ci].C_in, C_out = cases[ci].C_out, K = cases[ci].K;
        const int st = cases[ci].stride, pad = cases[ci].pad, grp = cases[ci].groups;
        const int64_t cig = C_in / grp, cog = C_out / grp, T_out = (T + 2 * pad - K) / st + 1;
        float *x = rnd(&r, T * C_in, 1.0f), *wf = rnd(&r, K * cig * C_out, 0.5f), *b = rnd(&r, C_out, 1.0f);
        const size_t es = cases[ci].wt == HD_TYPE_F16 ? 2 : 4;
        void *w = malloc(K * cig * C_out * es);
        if (es == 2) hd_quantize_row(HD_TYPE_F16, wf, w, K * cig * C_out);
        else memcpy(w, wf, K * cig * C_out * es);
        float *got = malloc(T_out * C_out * sizeof(float)), *want = malloc(T_out * C_out * sizeof(float));
        for (int64_t co = 0; co < C_out; co++)   /* one thread per output point */
            for (int64_t t = 0; t < T_out; t++)
                got[co * T_out + t] = hd_km_conv1d_point((const char *)x, T * 4, T, w, cases[ci].wt, K * es,
                                                         cig * K * es, K, cig, cog, co, t, st, pad, b[co]);
        hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, T, C_in, x), tw = hd_tensor_3d(cases[ci].wt, K, cig, C_out, w),
                  tb = hd_tensor_1d(HD_TYPE_F32, C_out, b), ty = hd_tensor_2d(HD_TYPE_F32, T_out, C_out, want);
        assert_int_equal(hd_op_conv1d(&ex, &ty, &tx, &tw, &tb, st, pad, grp, &err), HD_OK);
        expect_close(got, want, (size_t)(T_out * C_out), 1e-5f, 1e-6f, "conv1d");
        free(x), free(wf), free(b), free(w), free(got), free(want);
    }
}

static void test_patch_embed(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 9);
    hd_exec ex = cpu_ex();
    hd_error err;
    const int64_t P = 4, W = 13, H = 9, C = 3, D = 5, gw = W / P, gh = H / P;
    float *img = rnd(&r, W * H * C, 1.0f), *w = rnd(&r, P * P * C * D, 0.5f), *b = rnd(&r, D, 1.0f);
    float *got = malloc(D * gw * gh * sizeof(float)), *want = malloc(D * gw * gh * sizeof(float));
    for (int64_t pi = 0; pi < gw * gh; pi++)
        for (int64_t d = 0; d < D; d++)
            got[pi * D + d] = hd_km_patch_point((const char *)img, W * 4, W * H * 4, (const char *)w, HD_TYPE_F32,
                                                P * 4, P * P * 4, P * P * C * 4, P, C, d, pi / gw, pi % gw, b[d]);
    int64_t nei[3] = {W, H, C}, new_[4] = {P, P, C, D};
    hd_tensor ti = hd_tensor_view(HD_TYPE_F32, 3, nei, img), tw = hd_tensor_view(HD_TYPE_F32, 4, new_, w),
              tb = hd_tensor_1d(HD_TYPE_F32, D, b), ty = hd_tensor_2d(HD_TYPE_F32, D, gw * gh, want);
    assert_int_equal(hd_op_patch_embed(&ex, &ty, &ti, &tw, &tb, (int)P, &err), HD_OK);
    expect_close(got, want, (size_t)(D * gw * gh), 1e-5f, 1e-6f, "patch_embed");
    free(img), free(w), free(b), free(got), free(want);
}

/* ---- indexing ---------------------------------------------------------------------- */

static void test_offsets(void **state) {
    (void)state;
    static float buf[6 * 5 * 4 * 3];
    int64_t ne[4] = {6, 5, 4, 3};
    hd_tensor t = hd_tensor_view(HD_TYPE_F32, 4, ne, buf);
    /* a strided view: every other row, half of each row */
    hd_tensor v = t;
    v.ne[0] = 3;
    v.ne[1] = 2;
    v.nb[1] = t.nb[1] * 2;
    hd_km_shape s = {{v.ne[0], v.ne[1], v.ne[2], v.ne[3]},
                     {(int64_t)v.nb[0], (int64_t)v.nb[1], (int64_t)v.nb[2], (int64_t)v.nb[3]}};
    int64_t e = 0;
    for (int64_t i3 = 0; i3 < v.ne[3]; i3++)
        for (int64_t i2 = 0; i2 < v.ne[2]; i2++)
            for (int64_t i1 = 0; i1 < v.ne[1]; i1++) {
                const char *row = hd_tensor_row(&v, i1, i2, i3);
                assert_ptr_equal((const char *)buf + hd_km_row_offset(&s, e / v.ne[0]), row);
                for (int64_t i0 = 0; i0 < v.ne[0]; i0++, e++)
                    assert_ptr_equal((const char *)buf + hd_km_offset(&s, e), row + i0 * 4);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_all_values),   cmocka_unit_test(test_f32_to_half_rounding),
        cmocka_unit_test(test_dequantize_bit_exact), cmocka_unit_test(test_quantized_matvec),
        cmocka_unit_test(test_norms),            cmocka_unit_test(test_rope),
        cmocka_unit_test(test_softmax),          cmocka_unit_test(test_attention),
        cmocka_unit_test(test_elementwise),      cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_patch_embed),      cmocka_unit_test(test_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
