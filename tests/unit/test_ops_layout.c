/* tests/unit/test_ops_layout.c — core/ops_layout.c: concat along every
 * dimension and transpose, F32 and F16, against index arithmetic; errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_testutil.h"

#include <string.h>

static size_t idx4(const int64_t *ne, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (size_t)(((i3 * ne[2] + i2) * ne[1] + i1) * ne[0] + i0);
}

static void test_concat(void **state) {
    (void)state;
    const int64_t base[4] = {5, 3, 4, 2};
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (int dim = 0; dim < 4; dim++)
            for (int f16 = 0; f16 < 2; f16++) {
                int64_t na[4], nb[4], ny[4];
                memcpy(na, base, sizeof na);
                memcpy(nb, base, sizeof nb);
                nb[dim] = base[dim] + 2;
                memcpy(ny, base, sizeof ny);
                ny[dim] = na[dim] + nb[dim];
                size_t ca = (size_t)(na[0] * na[1] * na[2] * na[3]), cb = (size_t)(nb[0] * nb[1] * nb[2] * nb[3]);
                size_t cy = ca + cb;
                /* a holds 0, 1, 2, ... and b holds -1, -2, ...: small integers, exact in F16 */
                float *a = ot_falloc(ca), *b = ot_falloc(cb), *y = ot_falloc(cy);
                hd_f16 *ah = malloc(ca * 2), *bh = malloc(cb * 2), *yh = malloc(cy * 2);
                for (size_t i = 0; i < ca; i++) a[i] = (float)i, ah[i] = hd_f32_to_f16((float)i);
                for (size_t i = 0; i < cb; i++) b[i] = -(float)i - 1, bh[i] = hd_f32_to_f16(-(float)i - 1);
                hd_type t = f16 ? HD_TYPE_F16 : HD_TYPE_F32;
                hd_tensor ta = hd_tensor_view(t, 4, na, f16 ? (void *)ah : (void *)a);
                hd_tensor tb = hd_tensor_view(t, 4, nb, f16 ? (void *)bh : (void *)b);
                hd_tensor ty = hd_tensor_view(t, 4, ny, f16 ? (void *)yh : (void *)y);
                hd_error err;
                assert_int_equal(hd_op_concat(&cfg.ex, &ty, &ta, &tb, dim, &err), HD_OK);
                for (int64_t i3 = 0; i3 < ny[3]; i3++)
                    for (int64_t i2 = 0; i2 < ny[2]; i2++)
                        for (int64_t i1 = 0; i1 < ny[1]; i1++)
                            for (int64_t i0 = 0; i0 < ny[0]; i0++) {
                                int64_t j[4] = {i0, i1, i2, i3};
                                float expect;
                                if (j[dim] < na[dim]) {
                                    expect = (float)idx4(na, j[0], j[1], j[2], j[3]);
                                } else {
                                    j[dim] -= na[dim];
                                    expect = -(float)idx4(nb, j[0], j[1], j[2], j[3]) - 1;
                                }
                                size_t o = idx4(ny, i0, i1, i2, i3);
                                float got = f16 ? hd_f16_to_f32(yh[o]) : y[o];
                                if (got != expect)
                                    fail_msg("%s concat dim %d %s at (%lld,%lld,%lld,%lld): %g vs %g", cfg.name, dim,
                                             f16 ? "F16" : "F32", (long long)i0, (long long)i1, (long long)i2,
                                             (long long)i3, (double)got, (double)expect);
                            }
                free(a), free(b), free(y), free(ah), free(bh), free(yh);
            }
    }
}

static void test_transpose(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{1, 1, 1}, {5, 3, 1}, {33, 65, 2}, {128, 40, 3}, {300, 200, 1}};
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int f16 = 0; f16 < 2; f16++) {
                const int64_t n0 = shapes[si][0], n1 = shapes[si][1], n2 = shapes[si][2];
                size_t n = (size_t)(n0 * n1 * n2);
                float *x = ot_falloc(n), *y = ot_falloc(n);
                hd_f16 *xh = malloc(n * 2), *yh = malloc(n * 2);
                for (size_t i = 0; i < n; i++) x[i] = (float)(i % 2000), xh[i] = hd_f32_to_f16((float)(i % 2000));
                hd_type t = f16 ? HD_TYPE_F16 : HD_TYPE_F32;
                hd_tensor tx = hd_tensor_3d(t, n0, n1, n2, f16 ? (void *)xh : (void *)x);
                hd_tensor ty = hd_tensor_3d(t, n1, n0, n2, f16 ? (void *)yh : (void *)y);
                hd_error err;
                assert_int_equal(hd_op_transpose(&cfg.ex, &ty, &tx, &err), HD_OK);
                for (int64_t k = 0; k < n2; k++)
                    for (int64_t j = 0; j < n1; j++)
                        for (int64_t i = 0; i < n0; i++) {
                            size_t src = (size_t)((k * n1 + j) * n0 + i), dst = (size_t)((k * n0 + i) * n1 + j);
                            bool ok = f16 ? yh[dst] == xh[src] : y[dst] == x[src];
                            if (!ok)
                                fail_msg("%s transpose [%lld,%lld,%lld] %s at (%lld,%lld,%lld)", cfg.name, (long long)n0,
                                         (long long)n1, (long long)n2, f16 ? "F16" : "F32", (long long)i, (long long)j,
                                         (long long)k);
                        }
                free(x), free(y), free(xh), free(yh);
            }
    }
}

static void test_layout_errors(void **state) {
    (void)state;
    float buf[256] = {0}, out[256];
    hd_error err;
    hd_tensor a = hd_tensor_2d(HD_TYPE_F32, 4, 3, buf), b = hd_tensor_2d(HD_TYPE_F32, 4, 2, buf);
    hd_tensor y = hd_tensor_2d(HD_TYPE_F32, 4, 5, out), ybad = hd_tensor_2d(HD_TYPE_F32, 4, 6, out);
    assert_int_equal(hd_op_concat(NULL, &y, &a, &b, 1, &err), HD_OK);
    assert_int_equal(hd_op_concat(NULL, &y, &a, &b, 0, &err), HD_ERR_SHAPE);
    assert_int_equal(hd_op_concat(NULL, &ybad, &a, &b, 1, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "concat"));
    assert_int_equal(hd_op_concat(NULL, &y, &a, &b, 4, &err), HD_ERR_ARG);
    hd_tensor bh = hd_tensor_2d(HD_TYPE_F16, 4, 2, buf);
    assert_int_equal(hd_op_concat(NULL, &y, &a, &bh, 1, &err), HD_ERR_UNSUPPORTED);
    hd_tensor q = hd_tensor_2d(HD_TYPE_Q8_0, 32, 2, buf);
    assert_int_equal(hd_op_concat(NULL, &y, &a, &q, 1, &err), HD_ERR_UNSUPPORTED);
    hd_tensor alias = hd_tensor_2d(HD_TYPE_F32, 4, 5, buf);
    assert_int_equal(hd_op_concat(NULL, &alias, &a, &b, 1, &err), HD_ERR_ARG);
    hd_tensor t = hd_tensor_2d(HD_TYPE_F32, 3, 4, out);
    assert_int_equal(hd_op_transpose(NULL, &t, &a, &err), HD_OK);
    assert_int_equal(hd_op_transpose(NULL, &y, &a, &err), HD_ERR_SHAPE);
    hd_tensor ta = hd_tensor_2d(HD_TYPE_F32, 3, 4, buf);
    assert_int_equal(hd_op_transpose(NULL, &ta, &a, &err), HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_layout_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
