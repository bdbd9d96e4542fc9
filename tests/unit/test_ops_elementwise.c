/* tests/unit/test_ops_elementwise.c — core/ops_elementwise.c: activations,
 * swiglu, glu, add/mul (same shape and row broadcast), scale; packed and
 * strided, in place, every SIMD level, serial and threaded; errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_testutil.h"

#include <string.h>

static double r_silu(double x) { return x / (1 + exp(-x)); }
static double r_gelu(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }
static double r_gelu_erf(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double r_sigmoid(double x) { return 1 / (1 + exp(-x)); }

typedef hd_status (*unary_op)(hd_exec *, hd_tensor *, const hd_tensor *, hd_error *);

static const struct {
    const char *name;
    unary_op op;
    double (*ref)(double);
} unaries[] = {
    {"silu", hd_op_silu, r_silu},         {"gelu", hd_op_gelu, r_gelu},
    {"gelu_erf", hd_op_gelu_erf, r_gelu_erf}, {"tanh", hd_op_tanh, tanh},
    {"sigmoid", hd_op_sigmoid, r_sigmoid},
};

/* Shapes: small odd ones, and one big enough to be split across threads. */
static const int64_t shapes[][2] = {{1, 1}, {7, 3}, {33, 5}, {4096, 1}, {1000, 70}};

static void test_unary(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 20);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t u = 0; u < sizeof unaries / sizeof unaries[0]; u++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                const int64_t n = shapes[si][0], rows = shapes[si][1];
                float *x = ot_randn(&r, (size_t)(n * rows), 3.0f), *y = ot_falloc((size_t)(n * rows));
                double *ref = ot_dalloc((size_t)(n * rows));
                for (int64_t i = 0; i < n * rows; i++) ref[i] = unaries[u].ref(x[i]);
                hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, n, rows, x), ty = hd_tensor_2d(HD_TYPE_F32, n, rows, y);
                hd_error err;
                assert_int_equal(unaries[u].op(&cfg.ex, &ty, &tx, &err), HD_OK);
                ot_expect_close(y, ref, n * rows, 1e-6, 1e-7, "%s %s [%lld, %lld]", cfg.name, unaries[u].name,
                                (long long)n, (long long)rows);
                assert_int_equal(unaries[u].op(&cfg.ex, &tx, &tx, &err), HD_OK); /* in place */
                ot_expect_close(x, ref, n * rows, 1e-6, 1e-7, "%s %s in place", cfg.name, unaries[u].name);
                free(x);
                free(y);
                free(ref);
            }
    }
}

/* A strided view (every row padded): only the view's elements change. */
static void test_unary_strided(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 21);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        const int64_t n = 19, rows = 11, ld = 24;
        float *x = ot_randn(&r, (size_t)(ld * rows), 2.0f), *y = ot_falloc((size_t)(ld * rows));
        for (int64_t i = 0; i < ld * rows; i++) y[i] = -7.0f;
        hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, n, rows, x), ty = hd_tensor_2d(HD_TYPE_F32, n, rows, y);
        tx.nb[1] = ty.nb[1] = (size_t)ld * 4;
        tx.nb[2] = tx.nb[3] = ty.nb[2] = ty.nb[3] = (size_t)(ld * rows) * 4;
        hd_error err;
        assert_int_equal(hd_op_silu(&cfg.ex, &ty, &tx, &err), HD_OK);
        for (int64_t rr = 0; rr < rows; rr++)
            for (int64_t i = 0; i < ld; i++) {
                float got = y[rr * ld + i];
                if (i >= n) assert_true(got == -7.0f);
                else assert_true(fabs(got - r_silu(x[rr * ld + i])) <= 1e-6 * (1 + fabs(r_silu(x[rr * ld + i]))));
            }
        free(x);
        free(y);
    }
}

static void test_binary(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 22);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t n = shapes[si][0], rows = shapes[si][1], N = n * rows;
            float *a = ot_randn(&r, (size_t)N, 2.0f), *b = ot_randn(&r, (size_t)N, 2.0f), *y = ot_falloc((size_t)N);
            float *bv = ot_randn(&r, (size_t)n, 1.0f);
            double *ref = ot_dalloc((size_t)N);
            hd_tensor ta = hd_tensor_2d(HD_TYPE_F32, n, rows, a), tb = hd_tensor_2d(HD_TYPE_F32, n, rows, b);
            hd_tensor ty = hd_tensor_2d(HD_TYPE_F32, n, rows, y), tbv = hd_tensor_1d(HD_TYPE_F32, n, bv);
            hd_error err;
            assert_int_equal(hd_op_add(&cfg.ex, &ty, &ta, &tb, &err), HD_OK);
            for (int64_t i = 0; i < N; i++) ref[i] = (double)a[i] + b[i];
            ot_expect_close(y, ref, N, 1e-6, 0, "%s add n=%lld", cfg.name, (long long)n);
            assert_int_equal(hd_op_mul(&cfg.ex, &ty, &ta, &tb, &err), HD_OK);
            for (int64_t i = 0; i < N; i++) ref[i] = (double)a[i] * b[i];
            ot_expect_close(y, ref, N, 1e-6, 0, "%s mul n=%lld", cfg.name, (long long)n);
            assert_int_equal(hd_op_add(&cfg.ex, &ty, &ta, &tbv, &err), HD_OK);
            for (int64_t i = 0; i < N; i++) ref[i] = (double)a[i] + bv[i % n];
            ot_expect_close(y, ref, N, 1e-6, 0, "%s add broadcast n=%lld", cfg.name, (long long)n);
            assert_int_equal(hd_op_mul(&cfg.ex, &ty, &ta, &tbv, &err), HD_OK);
            for (int64_t i = 0; i < N; i++) ref[i] = (double)a[i] * bv[i % n];
            ot_expect_close(y, ref, N, 1e-6, 0, "%s mul broadcast n=%lld", cfg.name, (long long)n);
            assert_int_equal(hd_op_swiglu(&cfg.ex, &ty, &ta, &tb, &err), HD_OK);
            for (int64_t i = 0; i < N; i++) ref[i] = r_silu(a[i]) * b[i];
            ot_expect_close(y, ref, N, 1e-6, 1e-7, "%s swiglu n=%lld", cfg.name, (long long)n);
            assert_int_equal(hd_op_scale(&cfg.ex, &ty, &ta, -0.3f, &err), HD_OK);
            for (int64_t i = 0; i < N; i++) ref[i] = a[i] * (double)-0.3f;
            ot_expect_close(y, ref, N, 1e-6, 0, "%s scale n=%lld", cfg.name, (long long)n);
            /* in place: a = a + b, then up = silu(gate) ⊙ up (how core/nn.c calls it) */
            for (int64_t i = 0; i < N; i++) ref[i] = r_silu(b[i]) * ((double)a[i] + b[i]);
            assert_int_equal(hd_op_add(&cfg.ex, &ta, &ta, &tb, &err), HD_OK);
            assert_int_equal(hd_op_swiglu(&cfg.ex, &ta, &tb, &ta, &err), HD_OK);
            ot_expect_close(a, ref, N, 2e-6, 1e-7, "%s in place add, swiglu n=%lld", cfg.name, (long long)n);
            free(a);
            free(b);
            free(y);
            free(bv);
            free(ref);
        }
    }
}

static void test_glu(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 23);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        const int64_t n = 37, rows = 600;
        float *x = ot_randn(&r, (size_t)(2 * n * rows), 2.0f), *y = ot_falloc((size_t)(n * rows));
        double *ref = ot_dalloc((size_t)(n * rows));
        for (int64_t rr = 0; rr < rows; rr++)
            for (int64_t i = 0; i < n; i++)
                ref[rr * n + i] = x[rr * 2 * n + i] * r_sigmoid(x[rr * 2 * n + n + i]);
        hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, 2 * n, rows, x), ty = hd_tensor_2d(HD_TYPE_F32, n, rows, y);
        hd_error err;
        assert_int_equal(hd_op_glu(&cfg.ex, &ty, &tx, &err), HD_OK);
        ot_expect_close(y, ref, n * rows, 1e-6, 1e-7, "%s glu", cfg.name);
        assert_int_equal(hd_op_glu(&cfg.ex, &tx, &tx, &err), HD_ERR_SHAPE);
        hd_tensor alias = hd_tensor_2d(HD_TYPE_F32, n, rows, x);
        assert_int_equal(hd_op_glu(&cfg.ex, &alias, &tx, &err), HD_ERR_ARG);
        free(x);
        free(y);
        free(ref);
    }
}

static void test_errors(void **state) {
    (void)state;
    float buf[64] = {0}, buf2[64] = {0};
    hd_error err;
    hd_tensor a = hd_tensor_2d(HD_TYPE_F32, 8, 4, buf), b = hd_tensor_2d(HD_TYPE_F32, 4, 8, buf2);
    hd_tensor y = hd_tensor_2d(HD_TYPE_F32, 8, 4, buf2), yb = hd_tensor_2d(HD_TYPE_F32, 8, 3, buf2);
    hd_tensor v5 = hd_tensor_1d(HD_TYPE_F32, 5, buf2), h = hd_tensor_2d(HD_TYPE_F16, 8, 4, buf2);
    assert_int_equal(hd_op_add(NULL, &y, &a, &b, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "add: b has shape [4, 8], expected [8, 4] or [8]"));
    assert_int_equal(hd_op_mul(NULL, &y, &a, &v5, &err), HD_ERR_SHAPE);
    assert_int_equal(hd_op_add(NULL, &yb, &a, &a, &err), HD_ERR_SHAPE);
    assert_int_equal(hd_op_add(NULL, &y, &a, &h, &err), HD_ERR_UNSUPPORTED);
    hd_tensor a8 = hd_tensor_1d(HD_TYPE_F32, 8, buf);
    assert_int_equal(hd_op_swiglu(NULL, &y, &a, &a8, &err), HD_ERR_SHAPE); /* no broadcast for swiglu */
    assert_int_equal(hd_op_silu(NULL, &yb, &a, &err), HD_ERR_SHAPE);
    assert_int_equal(hd_op_gelu(NULL, &y, &h, &err), HD_ERR_UNSUPPORTED);
    assert_int_equal(hd_op_scale(NULL, &yb, &a, 2.0f, &err), HD_ERR_SHAPE);
    hd_tensor odd = hd_tensor_2d(HD_TYPE_F32, 7, 4, buf), half = hd_tensor_2d(HD_TYPE_F32, 3, 4, buf2);
    assert_int_equal(hd_op_glu(NULL, &half, &odd, &err), HD_ERR_SHAPE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary), cmocka_unit_test(test_unary_strided), cmocka_unit_test(test_binary),
        cmocka_unit_test(test_glu),   cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
