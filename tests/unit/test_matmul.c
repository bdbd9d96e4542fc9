/* tests/unit/test_matmul.c — hd_op_linear / hd_op_get_rows / hd_op_convert.
 *
 * Every SIMD level the machine has is run against a double-precision
 * reference on the dequantized weights, and against the scalar level, on
 * random data with odd sizes, with and without bias, threaded and not,
 * with an arena and without.
 *
 * Which path runs is hd_linear_gemm_min_m's choice (core/kernels.h).
 * Tolerances (|y - ref| <= tol · Σ_k |x_k·w_k| + 1e-5, per output):
 *  - F32/F16 weights: 1e-5 (float summation order only);
 *  - BF16 weights: 1e-5 where activations stay F32, 2^-8 where the level
 *    rounds activations to BF16 (AVX-512 dot path and bf16 gemm);
 *  - Q8_0/Q4_0/Q4_K/Q5_K/Q6_K on the dot path and AVX-512's int8 gemm: activations are
 *    quantized to 8 bits, error ≤ half a step = amax/254 per element; with
 *    Σ|x·w| as the scale, 1/64 bounds it with margin for typical rows;
 *    on the dequantizing gemm path activations stay F32: 1e-5.
 *  - level vs scalar: same activation format, so the integer parts are exact
 *    and only float reassociation differs: 1e-5 (BF16 on AVX-512: 2^-8).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/bench_kernels.h"
#include "core/cpu.h"
#include "core/exec.h"
#include "core/kernels.h"
#include "core/ops.h"
#include "core/quant.h"
#include "core/threadpool.h"
#include "testutil.h"

static const hd_type k_types[] = {HD_TYPE_F32,  HD_TYPE_F16,  HD_TYPE_BF16, HD_TYPE_Q8_0,
                                  HD_TYPE_Q4_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

typedef struct problem {
    hd_type type;
    int64_t M, N, K;
    float *w32;    /* [N][K] dequantized weights (the reference's weights) */
    void *wq;      /* [N] rows of type                                     */
    float *x;      /* [M][K]                                               */
    float *b;      /* [N]                                                  */
    double *ref;   /* [M][N] without bias                                  */
    double *scale; /* [M][N] Σ|x w|                                        */
} problem;

static void problem_reference(problem *p);

static void problem_make(problem *p, hd_type t, int64_t M, int64_t N, int64_t K, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    p->type = t;
    p->M = M, p->N = N, p->K = K;
    float *w = malloc((size_t)(N * K) * sizeof(float));
    tu_fill_normal(&r, w, (size_t)(N * K), 0.5f);
    const size_t rs = hd_type_row_size(t, K);
    p->wq = malloc(rs * (size_t)N);
    p->w32 = malloc((size_t)(N * K) * sizeof(float));
    for (int64_t n = 0; n < N; n++) {
        assert_int_equal(hd_quantize_row(t, w + n * K, (char *)p->wq + (size_t)n * rs, K), rs);
        hd_dequantize_row(t, (char *)p->wq + (size_t)n * rs, p->w32 + n * K, K);
    }
    free(w);
    p->x = malloc((size_t)(M * K) * sizeof(float));
    tu_fill_normal(&r, p->x, (size_t)(M * K), 1.0f);
    p->b = malloc((size_t)N * sizeof(float));
    tu_fill_normal(&r, p->b, (size_t)N, 1.0f);
    p->ref = malloc((size_t)(M * N) * sizeof(double));
    p->scale = malloc((size_t)(M * N) * sizeof(double));
    problem_reference(p);
}

/* p->w32, ref and scale again from p->wq (after a test edited the quantized rows). */
static void problem_reference(problem *p) {
    const int64_t M = p->M, N = p->N, K = p->K;
    const size_t rs = hd_type_row_size(p->type, K);
    for (int64_t n = 0; n < N; n++) hd_dequantize_row(p->type, (char *)p->wq + (size_t)n * rs, p->w32 + n * K, K);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, a = 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)p->x[m * K + k] * p->w32[n * K + k];
                a += fabs((double)p->x[m * K + k] * p->w32[n * K + k]);
            }
            p->ref[m * N + n] = s;
            p->scale[m * N + n] = a;
        }
}

static void problem_free(problem *p) {
    free(p->w32);
    free(p->wq);
    free(p->x);
    free(p->b);
    free(p->ref);
    free(p->scale);
}

static float *run_linear(const problem *p, hd_exec *ex, bool bias) {
    float *y = malloc((size_t)(p->M * p->N) * sizeof(float));
    hd_tensor w = hd_tensor_2d(p->type, p->K, p->N, p->wq);
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, p->K, p->M, p->x);
    hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, p->N, p->M, y);
    hd_tensor bt = hd_tensor_1d(HD_TYPE_F32, p->N, p->b);
    hd_error err = {0};
    const hd_status st = hd_op_linear(ex, &yt, &w, &x, bias ? &bt : NULL, &err);
    if (st != HD_OK) fail_msg("linear %s: %s", hd_type_name(p->type), err.msg);
    return y;
}

/* Whether this level quantizes the activations to 8 bits for type t at M tokens:
 * always on the dot path, and on AVX-512's int8 gemms for Q8_0/Q4_0 and K-quants. */
static bool act_quantized(hd_type t, int64_t M, hd_cpu_level level) {
    if (t == HD_TYPE_F32 || t == HD_TYPE_F16 || t == HD_TYPE_BF16) return false;
    const hd_kernels *k = hd_kernels_get(level);
    return M < hd_linear_gemm_min_m(k, t) || (k->gemm_q8 != NULL && (t == HD_TYPE_Q8_0 || t == HD_TYPE_Q4_0)) ||
           (k->gemm_qk != NULL && (t == HD_TYPE_Q4_K || t == HD_TYPE_Q5_K)) ||
           (k->gemm_q6k != NULL && t == HD_TYPE_Q6_K);
}

static float tol_vs_ref(hd_type t, int64_t M, hd_cpu_level level) {
    const bool gemm = !act_quantized(t, M, level);
    switch (t) {
    case HD_TYPE_F32:
    case HD_TYPE_F16: return 1e-5f;
    case HD_TYPE_BF16: return level == HD_CPU_AVX512 ? 1.0f / 256 : 1e-5f;
    default: return gemm ? 1e-5f : 1.0f / 64;
    }
}

static void check(const problem *p, const float *y, bool bias, float tol, const char *what) {
    for (int64_t m = 0; m < p->M; m++)
        for (int64_t n = 0; n < p->N; n++) {
            const double want = p->ref[m * p->N + n] + (bias ? p->b[n] : 0.0);
            const double err = fabs((double)y[m * p->N + n] - want);
            const double lim = tol * p->scale[m * p->N + n] + 1e-5;
            if (!(err <= lim))
                fail_msg("%s %s M=%lld N=%lld K=%lld: y[%lld][%lld] = %g, want %g (err %g > %g)", what,
                         hd_type_name(p->type), (long long)p->M, (long long)p->N, (long long)p->K, (long long)m,
                         (long long)n, y[m * p->N + n], want, err, lim);
        }
}

static void check_pair(const problem *p, const float *y, const float *ys, float tol, const char *what) {
    for (int64_t i = 0; i < p->M * p->N; i++) {
        const double err = fabs((double)y[i] - ys[i]);
        const double lim = tol * p->scale[i] + 1e-5;
        if (!(err <= lim))
            fail_msg("%s %s M=%lld N=%lld K=%lld: element %lld = %g vs scalar %g", what, hd_type_name(p->type),
                     (long long)p->M, (long long)p->N, (long long)p->K, (long long)i, y[i], ys[i]);
    }
}

static int64_t k_for(hd_type t, int variant) {
    const size_t bs = hd_type_get(t)->block_size;
    if (bs == 256) return 256 * (1 + variant);            /* 256, 512, 768 */
    if (bs == 32) return 32 * (3 + 2 * variant);          /* 96, 160, 224  */
    return variant == 0 ? 37 : variant == 1 ? 64 : 301;   /* odd and even  */
}

/* All levels × types × shapes against the reference and against scalar. */
static void test_linear_levels(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    const hd_cpu_level max = hd_cpu_level_max();
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    hd_arena *arena = hd_arena_create(64u << 20, &err);
    assert_non_null(arena);
    const int64_t Ms[] = {1, 3, 17};
    const int64_t Ns[] = {1, 7, 67};
    uint64_t seed = 1;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const hd_type t = k_types[ti];
        for (int mi = 0; mi < 3; mi++)
            for (int ni = 0; ni < 3; ni++) {
                const int variant = (mi + ni) % 3;
                problem p;
                problem_make(&p, t, Ms[mi], Ns[ni], k_for(t, variant), seed++);
                const bool bias = (mi + ni + (int)ti) % 2 == 0;
                hd_cpu_set_level(HD_CPU_SCALAR);
                hd_exec ex0 = {.backend = HD_BACKEND_CPU, .pool = NULL, .scratch = NULL};
                float *ys = run_linear(&p, &ex0, bias);
                check(&p, ys, bias, tol_vs_ref(t, p.M, HD_CPU_SCALAR), "scalar");
                for (int lv = HD_CPU_AVX2; lv <= (int)max; lv++) {
                    hd_cpu_set_level((hd_cpu_level)lv);
                    for (int threaded = 0; threaded < 2; threaded++) {
                        hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = threaded ? tp : NULL,
                                      .scratch = threaded ? arena : NULL};
                        const size_t mark = hd_arena_used(arena);
                        float *y = run_linear(&p, &ex, bias);
                        assert_int_equal(hd_arena_used(arena), mark); /* scratch given back */
                        const char *name = hd_cpu_level_name((hd_cpu_level)lv);
                        check(&p, y, bias, tol_vs_ref(t, p.M, (hd_cpu_level)lv), name);
                        const bool bf16_act = t == HD_TYPE_BF16 && lv == HD_CPU_AVX512;
                        /* different activation rounding from scalar's: bound by the reference check */
                        const bool q8_gemm = act_quantized(t, p.M, (hd_cpu_level)lv) &&
                                             !act_quantized(t, p.M, HD_CPU_SCALAR);
                        check_pair(&p, y, ys, bf16_act ? 1.0f / 256 : q8_gemm ? 1.0f / 32 : 1e-5f, name);
                        free(y);
                    }
                }
                free(ys);
                problem_free(&p);
            }
    }
    hd_cpu_set_level(saved);
    hd_arena_free(arena);
    hd_threadpool_free(tp);
}

/* Larger gemm shapes: M around and above the tile sizes, N past a 32-wide panel edge,
 * K across several 256-column panels. */
static void test_linear_gemm_shapes(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    const hd_type types[] = {HD_TYPE_F32,  HD_TYPE_F16,  HD_TYPE_BF16, HD_TYPE_Q4_0,
                             HD_TYPE_Q8_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        problem p;
        const hd_type t = types[ti];
        /* 70 tokens: past every type's gemm threshold */
        problem_make(&p, t, 70, 45, hd_type_get(t)->block_size == 1 ? 600 : 768, 100 + ti);
        for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
            hd_cpu_set_level((hd_cpu_level)lv);
            hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = tp, .scratch = NULL};
            float *y = run_linear(&p, &ex, true);
            check(&p, y, true, tol_vs_ref(t, p.M, (hd_cpu_level)lv), hd_cpu_level_name((hd_cpu_level)lv));
            free(y);
        }
        problem_free(&p);
    }
    hd_cpu_set_level(saved);
    hd_threadpool_free(tp);
}

/* The int8 gemms (many tokens) and the dot path (one token at a time) quantize the
 * activations the same way, so they agree to float rounding: 1e-5 · Σ|x·w|. */
static void test_q8_gemm_matches_dot(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    const hd_type types[] = {HD_TYPE_Q8_0, HD_TYPE_Q4_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        problem p;
        /* past every int8 gemm's threshold (hd_linear_gemm_min_m) */
        problem_make(&p, types[ti], 53, 70, hd_type_get(types[ti])->block_size == 256 ? 768 : 320, 300 + ti);
        for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
            hd_cpu_set_level((hd_cpu_level)lv);
            hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = tp};
            float *yg = run_linear(&p, &ex, true);
            float *yd = malloc((size_t)(p.M * p.N) * sizeof(float));
            hd_tensor w = hd_tensor_2d(p.type, p.K, p.N, p.wq);
            hd_tensor b = hd_tensor_1d(HD_TYPE_F32, p.N, p.b);
            for (int64_t m = 0; m < p.M; m++) {
                hd_tensor x = hd_tensor_2d(HD_TYPE_F32, p.K, 1, p.x + m * p.K);
                hd_tensor y = hd_tensor_2d(HD_TYPE_F32, p.N, 1, yd + m * p.N);
                assert_int_equal(hd_op_linear(&ex, &y, &w, &x, &b, &err), HD_OK);
            }
            if (lv == HD_CPU_AVX512) check_pair(&p, yg, yd, 1e-5f, "int8 gemm vs dot");
            check(&p, yd, true, 1.0f / 64, "dot rows");
            free(yg);
            free(yd);
        }
        problem_free(&p);
    }
    hd_cpu_set_level(saved);
    hd_threadpool_free(tp);
}

/* Weight rows with padding between them (nb[1] > row bytes) and a 3-D x ({K, T, B}). */
static void test_linear_views(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    const hd_type types[] = {HD_TYPE_F32, HD_TYPE_Q4_0, HD_TYPE_Q4_K};
    for (size_t ti = 0; ti < 3; ti++) {
        for (int M = 2; M <= 80; M += 78) { /* dot path and gemm path */
            problem p;
            problem_make(&p, types[ti], M, 19, 256, 700 + ti);
            const size_t rs = hd_type_row_size(p.type, p.K), pad = 64;
            char *wpad = calloc(p.N, rs + pad);
            for (int64_t n = 0; n < p.N; n++) memcpy(wpad + (size_t)n * (rs + pad), (char *)p.wq + n * rs, rs);
            hd_tensor w = hd_tensor_2d(p.type, p.K, p.N, wpad);
            w.nb[1] = rs + pad;
            w.nb[2] = w.nb[3] = w.nb[1] * (size_t)p.N;
            hd_tensor x = hd_tensor_3d(HD_TYPE_F32, p.K, M / 2, 2, p.x);
            float *y = malloc((size_t)(M * p.N) * sizeof(float));
            hd_tensor yt = hd_tensor_3d(HD_TYPE_F32, p.N, M / 2, 2, y);
            for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
                hd_cpu_set_level((hd_cpu_level)lv);
                hd_error err = {0};
                assert_int_equal(hd_op_linear(NULL, &yt, &w, &x, NULL, &err), HD_OK);
                check(&p, y, false, tol_vs_ref(p.type, p.M, (hd_cpu_level)lv), "padded rows");
            }
            free(y);
            free(wpad);
            problem_free(&p);
        }
    }
    hd_cpu_set_level(saved);
}

/* Long rows on the dot path are summed in K chunks (core/matmul.c): rows long enough
 * to be chunked at some level, odd tails included, against the reference and scalar. */
static void test_linear_long_rows(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    const struct { hd_type t; int64_t K; } cases[] = {
        {HD_TYPE_F32, 6400}, {HD_TYPE_F16, 6400}, {HD_TYPE_BF16, 6401}, {HD_TYPE_Q8_0, 8224}, {HD_TYPE_Q4_0, 8224}, {HD_TYPE_Q4_0, 16416},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        problem p;
        problem_make(&p, cases[i].t, 3, 9, cases[i].K, 900 + i);
        hd_cpu_set_level(HD_CPU_SCALAR);
        float *ys = run_linear(&p, NULL, true);
        for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
            hd_cpu_set_level((hd_cpu_level)lv);
            float *y = run_linear(&p, NULL, true);
            check(&p, y, true, tol_vs_ref(p.type, p.M, (hd_cpu_level)lv), "long rows");
            const bool bf16_act = p.type == HD_TYPE_BF16 && lv == HD_CPU_AVX512;
            check_pair(&p, y, ys, bf16_act ? 1.0f / 256 : 1e-5f, "long rows vs scalar");
            free(y);
        }
        free(ys);
        problem_free(&p);
    }
    hd_cpu_set_level(saved);
}

/* One token against long rows (the decode shape): levels with a several-rows kernel
 * (kernels.h dot_rows) take it once the activation row outgrows 16 KiB; row counts
 * that leave 1..3 rows over at the end of a thread's share, odd K tails included. */
static void test_linear_one_token_rows(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    const struct { hd_type t; int64_t N, K; } cases[] = {
        {HD_TYPE_F16, 37, 6401}, {HD_TYPE_F16, 3, 8192}, {HD_TYPE_F32, 38, 4111},
        {HD_TYPE_F32, 5, 4097}, {HD_TYPE_BF16, 21, 8195}, {HD_TYPE_Q8_0, 23, 8224},
        {HD_TYPE_Q4_0, 19, 8288}, {HD_TYPE_Q4_0, 6, 2080},
    };
    bool some_rows = false;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        problem p;
        problem_make(&p, cases[i].t, 1, cases[i].N, cases[i].K, 1100 + i);
        hd_cpu_set_level(HD_CPU_SCALAR);
        float *ys = run_linear(&p, NULL, true);
        for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
            hd_cpu_set_level((hd_cpu_level)lv);
            const hd_kernels *k = hd_kernels_get((hd_cpu_level)lv);
            if (k->dot_rows[p.type] && hd_act_row_size(k->act_of[p.type], p.K) > (16u << 10)) some_rows = true;
            for (int threaded = 0; threaded < 2; threaded++) {
                hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = threaded ? tp : NULL};
                float *y = run_linear(&p, &ex, true);
                check(&p, y, true, tol_vs_ref(p.type, 1, (hd_cpu_level)lv), "one token");
                const bool bf16_act = p.type == HD_TYPE_BF16 && lv == HD_CPU_AVX512;
                check_pair(&p, y, ys, bf16_act ? 1.0f / 256 : 1e-5f, "one token vs scalar");
                free(y);
            }
        }
        free(ys);
        problem_free(&p);
    }
    /* the cases above are long enough for the rows path wherever a level has one */
    if (hd_cpu_level_max() == HD_CPU_AVX512) assert_true(some_rows);
    hd_cpu_set_level(saved);
    hd_threadpool_free(tp);
}

/* Q8_0 quants of −128 never come from ggml's quantizer (it rounds into ±127) but are
 * valid bytes in a file: every level must still multiply them exactly (the AVX-512
 * kernel moves the weights' sign onto the activations and takes |q| unsigned). */
static void test_q8_0_extreme_quants(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    problem p;
    problem_make(&p, HD_TYPE_Q8_0, 2, 7, 320, 1300);
    hd_block_q8_0 *blk = p.wq;
    for (int64_t i = 0; i < p.N * p.K / 32; i++)
        for (int j = 0; j < 32; j++)
            if ((i + j) % 3 == 0) blk[i].qs[j] = (int8_t)((i + j) % 2 ? -128 : 127);
    problem_reference(&p);
    hd_cpu_set_level(HD_CPU_SCALAR);
    float *ys = run_linear(&p, NULL, false);
    for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
        hd_cpu_set_level((hd_cpu_level)lv);
        float *y = run_linear(&p, NULL, false);
        check(&p, y, false, 1.0f / 64, "q8_0 -128");
        check_pair(&p, y, ys, 1e-5f, "q8_0 -128 vs scalar");
        free(y);
    }
    free(ys);
    problem_free(&p);
    hd_cpu_set_level(saved);
}

/* Non-finite input must not crash the quantizers or the kernels. */
static void test_nonfinite_input(void **state) {
    (void)state;
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)i;
    x[3] = NAN;
    x[40] = INFINITY;
    x[41] = -INFINITY;
    uint8_t q[512];
    const hd_type types[] = {HD_TYPE_Q4_0, HD_TYPE_Q8_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K, HD_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_int_equal(hd_quantize_row(types[i], x, q, 256), hd_type_row_size(types[i], 256));
    float w[256 * 2];
    for (int i = 0; i < 512; i++) w[i] = 0.01f * (float)(i % 13);
    hd_quantize_row(HD_TYPE_Q4_0, w, q, 512);
    float y[2];
    hd_tensor wt = hd_tensor_2d(HD_TYPE_Q4_0, 256, 2, q);
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, 256, 1, x);
    hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, 2, 1, y);
    hd_error err = {0};
    for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
        hd_cpu_set_level((hd_cpu_level)lv);
        assert_int_equal(hd_op_linear(NULL, &yt, &wt, &xt, NULL, &err), HD_OK);
    }
}

static void test_linear_errors(void **state) {
    (void)state;
    float w[64 * 4] = {0}, x[64 * 2] = {0}, y[4 * 2], b[3];
    hd_error err = {0};
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    hd_tensor wt = hd_tensor_2d(HD_TYPE_F32, 64, 4, w);
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, 64, 2, x);
    hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, 4, 2, y);
    assert_int_equal(hd_op_linear(&ex, &yt, &wt, &xt, NULL, &err), HD_OK);
    hd_tensor xbad = hd_tensor_2d(HD_TYPE_F32, 32, 4, x);
    assert_int_equal(hd_op_linear(&ex, &yt, &wt, &xbad, NULL, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "linear"));
    hd_tensor ybad = hd_tensor_2d(HD_TYPE_F32, 3, 2, y);
    assert_int_equal(hd_op_linear(&ex, &ybad, &wt, &xt, NULL, &err), HD_ERR_SHAPE);
    hd_tensor bt = hd_tensor_1d(HD_TYPE_F32, 3, b);
    assert_int_equal(hd_op_linear(&ex, &yt, &wt, &xt, &bt, &err), HD_ERR_SHAPE);
    hd_tensor wq = hd_tensor_2d((hd_type)3, 64, 4, w); /* Q4_1 */
    assert_int_equal(hd_op_linear(&ex, &yt, &wq, &xt, NULL, &err), HD_ERR_UNSUPPORTED);
    hd_tensor w33 = hd_tensor_2d(HD_TYPE_Q8_0, 48, 2, w);   /* 48 is not a multiple of 32 */
    hd_tensor x48 = hd_tensor_2d(HD_TYPE_F32, 48, 2, x);
    hd_tensor y22 = hd_tensor_2d(HD_TYPE_F32, 2, 2, y);
    assert_int_equal(hd_op_linear(&ex, &y22, &w33, &x48, NULL, &err), HD_ERR_SHAPE);
    hd_tensor alias = hd_tensor_2d(HD_TYPE_F32, 4, 2, x);
    assert_int_equal(hd_op_linear(&ex, &alias, &wt, &xt, NULL, &err), HD_ERR_ARG);
    /* an arena too small for the quantized activations: NOMEM, not a crash */
    hd_arena *tiny = hd_arena_create(64, &err);
    float wbig[256 * 2];
    uint8_t q[2 * 144];
    for (int i = 0; i < 512; i++) wbig[i] = (float)(i % 7);
    hd_quantize_row(HD_TYPE_Q4_K, wbig, q, 256);
    hd_quantize_row(HD_TYPE_Q4_K, wbig + 256, q + 144, 256);
    float xb[256 * 2] = {0}, yb[4];
    hd_tensor wk = hd_tensor_2d(HD_TYPE_Q4_K, 256, 2, q);
    hd_tensor xk = hd_tensor_2d(HD_TYPE_F32, 256, 2, xb);
    hd_tensor yk = hd_tensor_2d(HD_TYPE_F32, 2, 2, yb);
    hd_exec ext = {.backend = HD_BACKEND_CPU, .scratch = tiny};
    assert_int_equal(hd_op_linear(&ext, &yk, &wk, &xk, NULL, &err), HD_ERR_NOMEM);
    hd_arena_free(tiny);
}

static void test_get_rows(void **state) {
    (void)state;
    const hd_cpu_level saved = hd_cpu_level_get();
    tu_rng r;
    tu_rng_seed(&r, 5);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const hd_type t = k_types[ti];
        const int64_t D = hd_type_get(t)->block_size == 1 ? 40 : 512, V = 9;
        float *w = malloc((size_t)(D * V) * sizeof(float));
        tu_fill_normal(&r, w, (size_t)(D * V), 1.0f);
        const size_t rs = hd_type_row_size(t, D);
        uint8_t *q = malloc(rs * (size_t)V);
        for (int64_t v = 0; v < V; v++) hd_quantize_row(t, w + v * D, q + (size_t)v * rs, D);
        const int32_t ids[4] = {8, 0, 3, 8};
        float *want = malloc((size_t)D * sizeof(float)), *y = malloc((size_t)(4 * D) * sizeof(float));
        for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
            hd_cpu_set_level((hd_cpu_level)lv);
            hd_tensor wt = hd_tensor_2d(t, D, V, q);
            hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, D, 4, y);
            hd_error err = {0};
            assert_int_equal(hd_op_get_rows(NULL, &yt, &wt, ids, 4, &err), HD_OK);
            for (int i = 0; i < 4; i++) {
                hd_dequantize_row(t, q + (size_t)ids[i] * rs, want, D);
                for (int64_t d = 0; d < D; d++)
                    if (fabsf(y[i * D + d] - want[d]) > 1e-6f * fabsf(want[d]) + 1e-7f)
                        fail_msg("get_rows %s level %d row %d col %lld: %g vs %g", hd_type_name(t), lv, i,
                                 (long long)d, y[i * D + d], want[d]);
            }
            const int32_t bad[2] = {1, 9};
            hd_tensor y2 = hd_tensor_2d(HD_TYPE_F32, D, 2, y);
            assert_int_equal(hd_op_get_rows(NULL, &y2, &wt, bad, 2, &err), HD_ERR_ARG);
            assert_non_null(strstr(err.msg, "9"));
        }
        free(w);
        free(q);
        free(want);
        free(y);
    }
    hd_cpu_set_level(saved);
}

static void test_convert(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 9);
    const int64_t D = 512, R = 3;
    float *x = malloc((size_t)(D * R) * sizeof(float)), *back = malloc((size_t)(D * R) * sizeof(float));
    tu_fill_normal(&r, x, (size_t)(D * R), 1.0f);
    const hd_type targets[] = {HD_TYPE_F16, HD_TYPE_BF16, HD_TYPE_Q8_0, HD_TYPE_Q4_0, HD_TYPE_Q4_K};
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = tp};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        const hd_type t = targets[i];
        const size_t rs = hd_type_row_size(t, D);
        uint8_t *q = malloc(rs * R), *want = malloc(rs * R);
        hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, R, x);
        hd_tensor qt = hd_tensor_2d(t, D, R, q);
        assert_int_equal(hd_op_convert(&ex, &qt, &xt, &err), HD_OK);
        for (int64_t rr = 0; rr < R; rr++) hd_quantize_row(t, x + rr * D, want + rr * rs, D);
        assert_memory_equal(q, want, rs * R);   /* the same bytes as the row quantizer */
        hd_tensor bt = hd_tensor_2d(HD_TYPE_F32, D, R, back);
        assert_int_equal(hd_op_convert(&ex, &bt, &qt, &err), HD_OK);
        float row[512];
        for (int64_t rr = 0; rr < R; rr++) {
            hd_dequantize_row(t, q + rr * rs, row, D);
            assert_memory_equal(row, back + rr * D, sizeof row);
        }
        free(q);
        free(want);
    }
    /* unsupported directions and shapes */
    uint8_t buf[4096];
    hd_tensor q8 = hd_tensor_2d(HD_TYPE_Q8_0, D, 1, buf);
    hd_tensor q4 = hd_tensor_2d(HD_TYPE_Q4_0, D, 1, buf + 2048);
    assert_int_equal(hd_op_convert(&ex, &q4, &q8, &err), HD_ERR_UNSUPPORTED);
    hd_tensor x1 = hd_tensor_2d(HD_TYPE_F32, D, 1, x);
    hd_tensor q2 = hd_tensor_2d(HD_TYPE_Q8_0, D, 2, buf);
    assert_int_equal(hd_op_convert(&ex, &q2, &x1, &err), HD_ERR_SHAPE);
    hd_tensor xo = hd_tensor_2d(HD_TYPE_F32, 40, 1, x);
    hd_tensor qo = hd_tensor_2d(HD_TYPE_Q4_0, 40, 1, buf);
    assert_int_equal(hd_op_convert(&ex, &qo, &xo, &err), HD_ERR_SHAPE);
    hd_threadpool_free(tp);
    free(x);
    free(back);
}

/* core/bench_kernels: the numbers are consistent with the work done, bad input is refused. */
static void test_bench_library(void **state) {
    (void)state;
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    double bw = 0, peak = 0;
    double pass = 0;
    assert_int_equal(hd_bench_bandwidth(tp, 16u << 20, 2, &bw, &pass, &err), HD_OK);
    assert_true(bw > 0.1 && bw < 10000 && pass > 0.1 && pass <= bw * 1.0001);
    assert_int_equal(hd_bench_peak(tp, HD_BENCH_PEAK_F32, &peak, &err), HD_OK);
    assert_true(peak > 0.1);
    assert_int_equal(hd_bench_peak(tp, (hd_bench_peak_kind)7, &peak, &err), HD_ERR_ARG);
    hd_bench_linear_result r;
    assert_int_equal(hd_bench_linear(HD_TYPE_Q4_K, 64, 512, 3, tp, 0.0, 1u << 20, &r, &err), HD_OK);
    assert_int_equal(r.weight_bytes, 64 * hd_type_row_size(HD_TYPE_Q4_K, 512));
    assert_true(r.copies >= 2 && r.runs >= 3 && r.seconds > 0);
    assert_true(fabs(r.gflops - 2.0 * 64 * 512 * 3 / r.seconds / 1e9) < 1e-6 * r.gflops);
    assert_true(fabs(r.gbps - (double)r.weight_bytes / r.seconds / 1e9) < 1e-6 * r.gbps);
    assert_int_equal(hd_bench_linear(HD_TYPE_Q4_K, 64, 100, 1, tp, 0.0, 0, &r, &err), HD_ERR_ARG);
    assert_int_equal(hd_bench_linear(HD_TYPE_Q8_K, 64, 256, 1, tp, 0.0, 0, &r, &err), HD_ERR_ARG);
    assert_int_equal(hd_bench_bandwidth(tp, 100, 1, &bw, NULL, &err), HD_ERR_ARG);
    hd_threadpool_free(tp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_levels), cmocka_unit_test(test_linear_gemm_shapes),
        cmocka_unit_test(test_q8_gemm_matches_dot), cmocka_unit_test(test_linear_views),
        cmocka_unit_test(test_linear_long_rows),    cmocka_unit_test(test_linear_one_token_rows),
        cmocka_unit_test(test_q8_0_extreme_quants),    cmocka_unit_test(test_nonfinite_input),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_get_rows),
        cmocka_unit_test(test_convert),       cmocka_unit_test(test_bench_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
