/* tests/unit/test_matmul_wide.c — hd_op_linear where test_matmul.c does not reach:
 * many tokens (from 256 the gemm takes panel groups twice as wide, core/matmul.c),
 * K across the bf16 gemm's 512-column blocks with a tail, N ending inside a group,
 * and few tokens (2..31) through the 4 × 4 dot tiles for F16/F32 (AVX-512, AVX2), with K tails.
 * Every SIMD level against a double-precision reference on the dequantized weights,
 * threaded in an arena sized by kernels.h's bound ((M + 16)·K·4 + T·260 KiB), which
 * must suffice and be given back.
 * Tolerances (|y − ref| <= tol · Σ|x·w| + 1e-5): F32/F16 1e-5; BF16 2^-8 (AVX-512
 * rounds activations to BF16); quantized weights 1/64 (8-bit activations). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/cpu.h"
#include "core/exec.h"
#include "core/ops.h"
#include "core/quant.h"
#include "core/threadpool.h"
#include "testutil.h"

static void run(hd_type t, int64_t M, int64_t N, int64_t K, uint64_t seed, hd_threadpool *tp) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    float *w = malloc((size_t)(N * K) * sizeof(float)), *w32 = malloc((size_t)(N * K) * sizeof(float));
    float *x = malloc((size_t)(M * K) * sizeof(float)), *b = malloc((size_t)N * sizeof(float));
    float *y = malloc((size_t)(M * N) * sizeof(float));
    tu_fill_normal(&r, w, (size_t)(N * K), 0.5f);
    tu_fill_normal(&r, x, (size_t)(M * K), 1.0f);
    tu_fill_normal(&r, b, (size_t)N, 1.0f);
    const size_t rs = hd_type_row_size(t, K);
    char *wq = malloc(rs * (size_t)N);
    for (int64_t n = 0; n < N; n++) {
        assert_int_equal(hd_quantize_row(t, w + n * K, wq + (size_t)n * rs, K), rs);
        hd_dequantize_row(t, wq + (size_t)n * rs, w32 + n * K, K);
    }
    const double tol = t == HD_TYPE_F32 || t == HD_TYPE_F16 ? 1e-5 : t == HD_TYPE_BF16 ? 1.0 / 256 : 1.0 / 64;
    const int nt = hd_threadpool_size(tp);
    hd_error err = {0};
    hd_arena *arena = hd_arena_create((size_t)(M + 16) * (size_t)K * 4 + (size_t)nt * (260u << 10), &err);
    assert_non_null(arena);
    hd_tensor wt = hd_tensor_2d(t, K, N, wq), xt = hd_tensor_2d(HD_TYPE_F32, K, M, x);
    hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, N, M, y), bt = hd_tensor_1d(HD_TYPE_F32, N, b);
    const hd_cpu_level saved = hd_cpu_level_get();
    for (int lv = 0; lv <= (int)hd_cpu_level_max(); lv++) {
        hd_cpu_set_level((hd_cpu_level)lv);
        hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = tp, .scratch = arena};
        for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
        if (hd_op_linear(&ex, &yt, &wt, &xt, &bt, &err) != HD_OK)
            fail_msg("linear %s M=%lld: %s", hd_type_name(t), (long long)M, err.msg);
        assert_int_equal(hd_arena_used(arena), 0);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = b[n], a = 0;
                for (int64_t k = 0; k < K; k++) {
                    s += (double)x[m * K + k] * w32[n * K + k];
                    a += fabs((double)x[m * K + k] * w32[n * K + k]);
                }
                const double e = fabs(y[m * N + n] - s);
                if (!(e <= tol * a + 1e-5))
                    fail_msg("%s %s M=%lld N=%lld K=%lld: y[%lld][%lld] = %g, want %g", hd_cpu_level_name((hd_cpu_level)lv),
                             hd_type_name(t), (long long)M, (long long)N, (long long)K, (long long)m, (long long)n,
                             y[m * N + n], s);
            }
    }
    hd_cpu_set_level(saved);
    hd_arena_free(arena);
    free(w);
    free(w32);
    free(x);
    free(b);
    free(y);
    free(wq);
}

/* 300 tokens: wide panel groups; N = 300 ends inside the second group of 256 outputs;
 * K = 1280 = two 512-blocks and a 256 tail for BF16 (1120 for 32-block types). */
static void test_linear_many_tokens(void **state) {
    (void)state;
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    const hd_type types[] = {HD_TYPE_F32, HD_TYPE_F16, HD_TYPE_BF16, HD_TYPE_Q8_0, HD_TYPE_Q4_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const int64_t K = hd_type_get(types[i])->block_size == 32 ? 1120 : 1280;
        run(types[i], 300, 300, K, 10 + i, tp);
    }
    hd_threadpool_free(tp);
}

/* 2..31 tokens of F16/F32: the dot tiles, every token and row tail and a K tail. */
static void test_linear_few_tokens(void **state) {
    (void)state;
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    const int64_t Ms[] = {2, 5, 8, 15, 22, 31};
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++) {
        run(HD_TYPE_F16, Ms[i], 37 + (int64_t)i, 333, 40 + i, tp);
        run(HD_TYPE_F32, Ms[i], 45 - (int64_t)i, 1031, 60 + i, i % 2 ? tp : NULL);
    }
    /* two tokens take the tiles only with rows past 16 KiB of activations (4096 inputs) */
    run(HD_TYPE_F16, 2, 9, 4103, 80, tp);
    run(HD_TYPE_F32, 2, 6, 4200, 81, NULL);
    hd_threadpool_free(tp);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_linear_many_tokens), cmocka_unit_test(test_linear_few_tokens)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
