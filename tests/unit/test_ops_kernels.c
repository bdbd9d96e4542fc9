/* tests/unit/test_ops_kernels.c — core/ops_{scalar,avx2,avx512}.c: every
 * kernel of every SIMD table the machine has, against a double-precision
 * reference, on odd sizes (tails) and odd strides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ops_internal.h"
#include "ops_testutil.h"

#include <string.h>

static const int64_t sizes[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 257, 1000};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static const hd_ops_kern *table(int level) {
    switch (level) {
    case HD_CPU_AVX512: return &hd_ops_kern_avx512;
    case HD_CPU_AVX2: return &hd_ops_kern_avx2;
    default: return &hd_ops_kern_scalar;
    }
}

#define FOR_EACH_TABLE(k)                                                                                       \
    for (int lv_ = 0; lv_ <= (int)hd_cpu_level_max(); lv_++)                                                    \
        for (const hd_ops_kern *k = table(lv_); k; k = NULL)

static double dsilu(double x) { return x / (1 + exp(-x)); }

static void test_reductions(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 1);
    FOR_EACH_TABLE(k) {
        assert_int_equal(k->level, lv_);
        for (size_t si = 0; si < N_SIZES; si++) {
            int64_t n = sizes[si];
            float *x = ot_randn(&r, (size_t)n, 2.0f);
            double ss = 0, mx = -INFINITY;
            for (int64_t i = 0; i < n; i++) {
                ss += (double)x[i] * x[i];
                if (x[i] > mx) mx = x[i];
            }
            float got = k->sum_sq(x, n);
            double ref[1] = {ss};
            ot_expect_close(&got, ref, 1, 1e-6, 1e-30, "%s sum_sq n=%lld", hd_cpu_level_name(k->level), (long long)n);
            float gm = k->max(x, n);
            if (n == 0) assert_true(gm == -INFINITY);
            else assert_true(gm == (float)mx);
            free(x);
        }
    }
}

static void test_exp_sum(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 2);
    FOR_EACH_TABLE(k) {
        for (size_t si = 0; si < N_SIZES; si++) {
            int64_t n = sizes[si];
            float *x = ot_randn(&r, (size_t)n, 30.0f);
            if (n > 2) x[1] = -INFINITY;
            if (n > 4) x[3] = -1000.0f;
            /* scale 0.5: x·scale is exact, so t has one rounding whether fused or not */
            const float scale = 0.5f, sub = 5.0f;
            double *ref = ot_dalloc((size_t)n), sum = 0;
            for (int64_t i = 0; i < n; i++) {
                double t = (double)(x[i] * scale - sub);
                ref[i] = t < -87.0 ? 0.0 : exp(t);
                sum += ref[i];
            }
            float got = k->exp_sum(x, n, scale, sub);
            /* relative to each value: exp must be accurate over the whole range */
            for (int64_t i = 0; i < n; i++) {
                double tol = 4e-7 * ref[i] + 1e-37;
                if (!(fabs(x[i] - ref[i]) <= tol))
                    fail_msg("%s exp n=%lld i=%lld: %.9g vs %.9g", hd_cpu_level_name(k->level), (long long)n,
                             (long long)i, (double)x[i], ref[i]);
            }
            if (n > 2) assert_true(x[1] == 0.0f);
            if (n > 4) assert_true(x[3] == 0.0f);
            double rs[1] = {sum};
            ot_expect_close(&got, rs, 1, 1e-6, 1e-30, "%s exp_sum n=%lld", hd_cpu_level_name(k->level), (long long)n);
            free(x);
            free(ref);
        }
    }
}

static void test_maps(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 3);
    FOR_EACH_TABLE(k) {
        for (size_t si = 0; si < N_SIZES; si++) {
            int64_t n = sizes[si];
            float *a = ot_randn(&r, (size_t)n + 1, 4.0f), *b = ot_randn(&r, (size_t)n + 1, 1.0f);
            if (n > 3) {
                a[0] = 95.0f; /* beyond exp's range both ways */
                a[1] = -95.0f;
                a[2] = 0.0f;
            }
            float *y = ot_falloc((size_t)n + 1);
            double *ref = ot_dalloc((size_t)n + 1);
            const char *lv = hd_cpu_level_name(k->level);
            y[n] = 12345.0f; /* guard: kernels must not write past n */

/* Element by element: |y - ref| <= RT·|ref| + AT·(1 + |a| + |b|). */
#define CHECK_MAP(CALL, EXPR, RT, AT, NAME)                                                                     \
    do {                                                                                                       \
        CALL;                                                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                                      \
            double A = a[i], B = b[i];                                                                         \
            (void)A, (void)B;                                                                                  \
            ref[i] = (EXPR);                                                                                   \
            double tol_ = (RT) * fabs(ref[i]) + (AT) * (1 + fabs(A) + fabs(B));                                \
            if (!(fabs(y[i] - ref[i]) <= tol_))                                                                \
                fail_msg("%s %s n=%lld: element %lld (a=%.9g b=%.9g) is %.9g, expected %.9g", lv, NAME,        \
                         (long long)n, (long long)i, A, B, (double)y[i], ref[i]);                              \
        }                                                                                                      \
        assert_true(y[n] == 12345.0f);                                                                         \
    } while (0)

            CHECK_MAP(k->scale_mul(y, a, 0.75f, b, n), A * 0.75 * B, 1e-6, 0, "scale_mul");
            CHECK_MAP(k->scale_mul(y, a, 0.75f, NULL, n), A * 0.75, 1e-6, 0, "scale_mul(w=NULL)");
            CHECK_MAP(k->scale(y, a, -1.5f, n), A * -1.5, 1e-6, 0, "scale");
            CHECK_MAP(k->add(y, a, b, n), A + B, 1e-6, 0, "add");
            CHECK_MAP(k->mul(y, a, b, n), A * B, 1e-6, 0, "mul");
            CHECK_MAP(k->silu(y, a, n), dsilu(A), 1e-6, 1e-7, "silu");
            CHECK_MAP(k->swiglu(y, a, b, n), dsilu(A) * B, 1e-6, 1e-7, "swiglu");
            CHECK_MAP(k->sigmoid(y, a, n), 1 / (1 + exp(-A)), 1e-6, 1e-7, "sigmoid");
            CHECK_MAP(k->gelu(y, a, n), 0.5 * A * (1 + tanh(0.7978845608028654 * (A + 0.044715 * A * A * A))),
                      1e-6, 1e-7, "gelu");
            CHECK_MAP(k->gelu_erf(y, a, n), 0.5 * A * (1 + erf(A / sqrt(2.0))), 1e-6, 1e-7, "gelu_erf");
            /* in place */
            memcpy(y, a, (size_t)n * sizeof *y);
            CHECK_MAP(k->silu(y, y, n), dsilu(A), 1e-6, 1e-7, "silu in place");
            free(a);
            free(b);
            free(y);
            free(ref);
        }
    }
}

static void test_attention_kernels(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 4);
    const int64_t dims[] = {1, 5, 8, 16, 17, 33, 64, 80, 100, 128, 130};
    const int nks[] = {1, 3, 7, 64};
    FOR_EACH_TABLE(k) {
        const char *lv = hd_cpu_level_name(k->level);
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (size_t ni = 0; ni < sizeof nks / sizeof nks[0]; ni++) {
                const int64_t d = dims[di];
                const int nk = nks[ni];
                const int64_t ld = d + 3; /* rows with a gap: strides are honoured */
                float *q = ot_randn(&r, (size_t)d, 1.0f), *kv = ot_randn(&r, (size_t)(ld * nk), 1.0f);
                hd_f16 *kh = malloc((size_t)(ld * nk) * sizeof *kh);
                for (int64_t i = 0; i < ld * nk; i++) {
                    kh[i] = hd_f32_to_f16(kv[i]);
                }
                float *p = ot_randn(&r, (size_t)nk, 1.0f);
                p[0] = 0.0f; /* zero weights are skipped, still correct */
                float s[64], s16[64];
                double ref[64], ref16[64];
                k->dots_f32(s, q, kv, (size_t)ld * 4, nk, d, 0.5f);
                k->dots_f16(s16, q, kh, (size_t)ld * 2, nk, d, 0.5f);
                for (int j = 0; j < nk; j++) {
                    double a = 0, a16 = 0;
                    for (int64_t i = 0; i < d; i++) {
                        a += (double)q[i] * kv[j * ld + i];
                        a16 += (double)q[i] * hd_f16_to_f32(kh[j * ld + i]);
                    }
                    ref[j] = 0.5 * a;
                    ref16[j] = 0.5 * a16;
                }
                ot_expect_close(s, ref, nk, 1e-5, 1e-6, "%s dots_f32 d=%lld nk=%d", lv, (long long)d, nk);
                ot_expect_close(s16, ref16, nk, 1e-5, 1e-6, "%s dots_f16 d=%lld nk=%d", lv, (long long)d, nk);
                /* four rows at once (rows: q and three more) */
                {
                    float *q4 = ot_randn(&r, (size_t)(4 * d), 1.0f), s4[4 * 64];
                    const float *qp[4] = {q4, q4 + d, q4 + 2 * d, q4 + 3 * d};
                    double ref4[4 * 64];
                    k->dots4_f32(s4, 64, qp, kv, (size_t)ld * 4, nk, d, 0.5f);
                    for (int rr = 0; rr < 4; rr++)
                        for (int j = 0; j < nk; j++) {
                            double a = 0;
                            for (int64_t i = 0; i < d; i++) a += (double)qp[rr][i] * kv[j * ld + i];
                            ref4[rr * 64 + j] = 0.5 * a;
                        }
                    for (int rr = 0; rr < 4; rr++)
                        ot_expect_close(s4 + rr * 64, ref4 + rr * 64, nk, 1e-5, 1e-6, "%s dots4_f32 row %d d=%lld nk=%d",
                                        lv, rr, (long long)d, nk);
                    free(q4);
                }
                /* weighted sums of four rows at once */
                {
                    float pw[4 * 64], *a4 = ot_randn(&r, (size_t)(4 * d), 1.0f);
                    tu_fill_normal(&r, pw, 4 * 64, 1.0f);
                    pw[1 * 64 + 0] = 0.0f;
                    double *r4 = ot_dalloc((size_t)(4 * d));
                    for (int rr = 0; rr < 4; rr++)
                        for (int64_t i = 0; i < d; i++) {
                            r4[rr * d + i] = a4[rr * d + i];
                            for (int j = 0; j < nk; j++) r4[rr * d + i] += (double)pw[rr * 64 + j] * kv[j * ld + i];
                        }
                    float *ap[4] = {a4, a4 + d, a4 + 2 * d, a4 + 3 * d};
                    k->wsum4_f32(ap, pw, 64, kv, (size_t)ld * 4, nk, d);
                    ot_expect_close(a4, r4, 4 * d, 1e-5, 1e-6, "%s wsum4_f32 d=%lld nk=%d", lv, (long long)d, nk);
                    free(a4);
                    free(r4);
                }
                /* F16 rows to packed floats: exact */
                float *rows = ot_falloc((size_t)(d * nk) + 1);
                rows[d * nk] = 555.0f;
                k->f16_rows(rows, kh, (size_t)ld * 2, nk, d);
                for (int j = 0; j < nk; j++)
                    for (int64_t i = 0; i < d; i++)
                        if (rows[j * d + i] != hd_f16_to_f32(kh[j * ld + i]))
                            fail_msg("%s f16_rows d=%lld nk=%d: (%d, %lld)", lv, (long long)d, nk, j, (long long)i);
                assert_true(rows[d * nk] == 555.0f);
                free(rows);

                float *acc = ot_randn(&r, (size_t)d + 1, 1.0f), *acc16 = ot_falloc((size_t)d + 1);
                memcpy(acc16, acc, (size_t)d * sizeof *acc);
                acc[d] = acc16[d] = 777.0f;
                double *wr = ot_dalloc((size_t)d), *wr16 = ot_dalloc((size_t)d);
                for (int64_t i = 0; i < d; i++) {
                    wr[i] = wr16[i] = acc[i];
                    for (int j = 0; j < nk; j++) {
                        wr[i] += (double)p[j] * kv[j * ld + i];
                        wr16[i] += (double)p[j] * hd_f16_to_f32(kh[j * ld + i]);
                    }
                }
                k->wsum_f32(acc, p, kv, (size_t)ld * 4, nk, d);
                k->wsum_f16(acc16, p, kh, (size_t)ld * 2, nk, d);
                ot_expect_close(acc, wr, d, 1e-5, 1e-6, "%s wsum_f32 d=%lld nk=%d", lv, (long long)d, nk);
                ot_expect_close(acc16, wr16, d, 1e-5, 1e-6, "%s wsum_f16 d=%lld nk=%d", lv, (long long)d, nk);
                assert_true(acc[d] == 777.0f && acc16[d] == 777.0f);
                free(q);
                free(kv);
                free(kh);
                free(p);
                free(acc);
                free(acc16);
                free(wr);
                free(wr16);
            }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_exp_sum),
        cmocka_unit_test(test_maps),
        cmocka_unit_test(test_attention_kernels),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
