/* tests/unit/test_ops_norm.c — core/ops_norm.c: RMSNorm, LayerNorm, BatchNorm
 * against double-precision references, every SIMD level, serial and threaded,
 * packed and strided rows, in place; shape and type errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_testutil.h"

#include <string.h>

static void ref_rms(double *y, const float *x, const float *w, int64_t n, int64_t rows, size_t ld, double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        double inv = 1.0 / sqrt(ss / n + eps);
        for (int64_t i = 0; i < n; i++) y[r * n + i] = xr[i] * inv * (w ? w[i] : 1.0);
    }
}

static void ref_ln(double *y, const float *x, const float *w, const float *b, int64_t n, int64_t rows, double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++) m += xr[i];
        m /= n;
        for (int64_t i = 0; i < n; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= n;
        for (int64_t i = 0; i < n; i++) y[r * n + i] = (xr[i] - m) / sqrt(v + eps) * (w ? w[i] : 1) + (b ? b[i] : 0);
    }
}

static const int64_t widths[] = {1, 7, 16, 33, 100, 4096};
static const int64_t nrows[] = {1, 3, 37};

static void test_rms_norm(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 10);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
            for (size_t ri = 0; ri < sizeof nrows / sizeof nrows[0]; ri++) {
                const int64_t n = widths[wi], rows = nrows[ri];
                float *x = ot_randn(&r, (size_t)(n * rows), 3.0f), *w = ot_randn(&r, (size_t)n, 1.0f);
                float *y = ot_falloc((size_t)(n * rows));
                double *ref = ot_dalloc((size_t)(n * rows));
                hd_error err;
                /* rows as {n, rows} and as {n, 1, rows}: both are row sets */
                hd_tensor tx = hd_tensor_3d(HD_TYPE_F32, n, 1, rows, x), ty = hd_tensor_3d(HD_TYPE_F32, n, 1, rows, y);
                hd_tensor tw = hd_tensor_1d(HD_TYPE_F32, n, w);
                assert_int_equal(hd_op_rms_norm(&cfg.ex, &ty, &tx, &tw, 1e-5f, &err), HD_OK);
                ref_rms(ref, x, w, n, rows, (size_t)n, 1e-5);
                ot_expect_close(y, ref, n * rows, 2e-6, 0, "%s rms_norm n=%lld rows=%lld", cfg.name, (long long)n,
                                (long long)rows);
                /* no weight, in place */
                ref_rms(ref, x, NULL, n, rows, (size_t)n, 1e-6);
                hd_tensor t2 = hd_tensor_2d(HD_TYPE_F32, n, rows, x);
                assert_int_equal(hd_op_rms_norm(&cfg.ex, &t2, &t2, NULL, 1e-6f, &err), HD_OK);
                ot_expect_close(x, ref, n * rows, 2e-6, 0, "%s rms_norm in place n=%lld rows=%lld", cfg.name,
                                (long long)n, (long long)rows);
                free(x);
                free(w);
                free(y);
                free(ref);
            }
    }
}

/* In place without weight against the reference on the same input, and a strided view. */
static void test_rms_norm_inplace_strided(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 11);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        const int64_t n = 45, rows = 20, ld = 64;
        float *buf = ot_randn(&r, (size_t)(ld * rows), 1.0f), *orig = ot_falloc((size_t)(ld * rows));
        memcpy(orig, buf, (size_t)(ld * rows) * sizeof *buf);
        double *ref = ot_dalloc((size_t)(n * rows));
        ref_rms(ref, orig, NULL, n, rows, (size_t)ld, 1e-6);
        hd_tensor t = hd_tensor_2d(HD_TYPE_F32, n, rows, buf);
        t.nb[1] = (size_t)ld * sizeof(float); /* view: n of every ld floats */
        t.nb[2] = t.nb[3] = t.nb[1] * (size_t)rows;
        hd_error err;
        assert_int_equal(hd_op_rms_norm(&cfg.ex, &t, &t, NULL, 1e-6f, &err), HD_OK);
        float *packed = ot_falloc((size_t)(n * rows));
        for (int64_t i = 0; i < rows; i++) {
            memcpy(packed + i * n, buf + i * ld, (size_t)n * sizeof *buf);
            for (int64_t j = n; j < ld; j++) assert_true(buf[i * ld + j] == orig[i * ld + j]); /* gaps untouched */
        }
        ot_expect_close(packed, ref, n * rows, 2e-6, 0, "%s rms_norm strided in place", cfg.name);
        free(buf);
        free(orig);
        free(ref);
        free(packed);
    }
}

static void test_layer_norm(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 12);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
            for (size_t ri = 0; ri < sizeof nrows / sizeof nrows[0]; ri++) {
                const int64_t n = widths[wi], rows = nrows[ri];
                float *x = ot_randn(&r, (size_t)(n * rows), 2.0f), *w = ot_randn(&r, (size_t)n, 1.0f);
                float *b = ot_randn(&r, (size_t)n, 1.0f), *y = ot_falloc((size_t)(n * rows));
                for (int64_t i = 0; i < n * rows; i++) x[i] += 10.0f; /* a large mean: the two-pass variance */
                double *ref = ot_dalloc((size_t)(n * rows));
                hd_error err;
                hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, n, rows, x), ty = hd_tensor_2d(HD_TYPE_F32, n, rows, y);
                hd_tensor tw = hd_tensor_1d(HD_TYPE_F32, n, w), tb = hd_tensor_1d(HD_TYPE_F32, n, b);
                assert_int_equal(hd_op_layer_norm(&cfg.ex, &ty, &tx, &tw, &tb, 1e-5f, &err), HD_OK);
                ref_ln(ref, x, w, b, n, rows, 1e-5);
                ot_expect_close(y, ref, n * rows, 1e-5, 1e-5, "%s layer_norm n=%lld rows=%lld", cfg.name,
                                (long long)n, (long long)rows);
                assert_int_equal(hd_op_layer_norm(&cfg.ex, &ty, &tx, NULL, NULL, 1e-5f, &err), HD_OK);
                ref_ln(ref, x, NULL, NULL, n, rows, 1e-5);
                ot_expect_close(y, ref, n * rows, 1e-5, 1e-5, "%s layer_norm (no w, b) n=%lld", cfg.name, (long long)n);
                assert_int_equal(hd_op_layer_norm(&cfg.ex, &tx, &tx, &tw, NULL, 1e-5f, &err), HD_OK); /* in place */
                ref_ln(ref, y, w, NULL, n, rows, 1e-5); /* y holds the normalised x: normalising again is a no-op */
                ot_expect_close(x, ref, n * rows, 1e-4, 1e-4, "%s layer_norm in place n=%lld", cfg.name, (long long)n);
                free(x);
                free(w);
                free(b);
                free(y);
                free(ref);
            }
    }
}

static void test_batch_norm(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 13);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        const int64_t T = 53, C = 19;
        float *x = ot_randn(&r, (size_t)(T * C), 2.0f), *y = ot_falloc((size_t)(T * C));
        float *mean = ot_randn(&r, (size_t)C, 1.0f), *var = ot_randn(&r, (size_t)C, 1.0f);
        float *g = ot_randn(&r, (size_t)C, 1.0f), *b = ot_randn(&r, (size_t)C, 1.0f);
        for (int64_t c = 0; c < C; c++) var[c] = var[c] * var[c] + 0.1f;
        double *ref = ot_dalloc((size_t)(T * C));
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++)
                ref[c * T + t] = (x[c * T + t] - mean[c]) / sqrt(var[c] + 1e-5) * g[c] + b[c];
        hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, T, C, x), ty = hd_tensor_2d(HD_TYPE_F32, T, C, y);
        hd_tensor tm = hd_tensor_1d(HD_TYPE_F32, C, mean), tv = hd_tensor_1d(HD_TYPE_F32, C, var);
        hd_tensor tg = hd_tensor_1d(HD_TYPE_F32, C, g), tb = hd_tensor_1d(HD_TYPE_F32, C, b);
        hd_error err;
        assert_int_equal(hd_op_batch_norm(&cfg.ex, &ty, &tx, &tm, &tv, &tg, &tb, 1e-5f, &err), HD_OK);
        ot_expect_close(y, ref, T * C, 1e-5, 1e-6, "%s batch_norm", cfg.name);
        /* variance that is not positive after eps */
        var[3] = -1.0f;
        assert_int_equal(hd_op_batch_norm(&cfg.ex, &ty, &tx, &tm, &tv, &tg, &tb, 1e-5f, &err), HD_ERR_ARG);
        assert_non_null(strstr(err.msg, "var[3]"));
        free(x);
        free(y);
        free(mean);
        free(var);
        free(g);
        free(b);
        free(ref);
    }
}

static void test_errors(void **state) {
    (void)state;
    float buf[64] = {0};
    hd_f16 hbuf[64] = {0};
    hd_exec ex = {0};
    hd_error err;
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, 8, 4, buf), y = hd_tensor_2d(HD_TYPE_F32, 8, 4, buf);
    hd_tensor ybad = hd_tensor_2d(HD_TYPE_F32, 4, 8, buf), xh = hd_tensor_2d(HD_TYPE_F16, 8, 4, hbuf);
    hd_tensor w7 = hd_tensor_1d(HD_TYPE_F32, 7, buf);
    assert_int_equal(hd_op_rms_norm(&ex, &ybad, &x, NULL, 1e-5f, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "rms_norm"));
    assert_int_equal(hd_op_rms_norm(&ex, &y, &xh, NULL, 1e-5f, &err), HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "F16"));
    assert_int_equal(hd_op_rms_norm(&ex, &y, &x, &w7, 1e-5f, &err), HD_ERR_SHAPE);
    assert_int_equal(hd_op_rms_norm(&ex, &y, &x, NULL, -1.0f, &err), HD_ERR_ARG);
    assert_int_equal(hd_op_rms_norm(&ex, &y, NULL, NULL, 1e-5f, &err), HD_ERR_ARG);
    assert_int_equal(hd_op_layer_norm(&ex, &y, &x, NULL, &w7, 1e-5f, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "layer_norm: b"));
    hd_tensor c4 = hd_tensor_1d(HD_TYPE_F32, 4, buf), c3 = hd_tensor_1d(HD_TYPE_F32, 3, buf);
    assert_int_equal(hd_op_batch_norm(&ex, &y, &x, &c3, &c4, NULL, NULL, 1e-5f, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "mean"));
    hd_tensor nodata = hd_tensor_2d(HD_TYPE_F32, 8, 4, NULL);
    assert_int_equal(hd_op_rms_norm(&ex, &y, &nodata, NULL, 1e-5f, &err), HD_ERR_ARG);
    hd_tensor strided0 = x;
    strided0.nb[0] = 8;
    assert_int_equal(hd_op_rms_norm(&ex, &y, &strided0, NULL, 1e-5f, &err), HD_ERR_SHAPE);
    hd_exec cuda = {.backend = HD_BACKEND_CUDA};
    assert_int_equal(hd_op_rms_norm(&cuda, &y, &x, NULL, 1e-5f, &err), HD_ERR_UNSUPPORTED);
    /* NULL exec runs serially on the CPU */
    assert_int_equal(hd_op_rms_norm(NULL, &y, &x, NULL, 1e-5f, &err), HD_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rms_norm),  cmocka_unit_test(test_rms_norm_inplace_strided),
        cmocka_unit_test(test_layer_norm), cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
