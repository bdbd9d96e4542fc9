/* tests/unit/test_ops_rope.c — core/ops_rope.c: both pair layouts against a
 * double-precision rotation, partial rotation (n_rot < head size), large
 * positions, the relation between the two layouts, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_testutil.h"

#include <string.h>

static void ref_rope(double *y, const float *x, int64_t d, int64_t H, int64_t T, const int32_t *pos,
                     const float *inv_freq, int n_rot, hd_rope_mode mode) {
    const int half = n_rot / 2;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++) {
            const float *v = x + (t * H + h) * d;
            double *o = y + (t * H + h) * d;
            for (int64_t i = 0; i < d; i++) o[i] = v[i];
            for (int i = 0; i < half; i++) {
                double a = (double)pos[t] * inv_freq[i], c = cos(a), s = sin(a);
                int64_t i0 = mode == HD_ROPE_INTERLEAVED ? 2 * i : i, i1 = mode == HD_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
                o[i0] = v[i0] * c - v[i1] * s;
                o[i1] = v[i0] * s + v[i1] * c;
            }
        }
}

static void test_rope(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 30);
    const struct {
        int64_t d, H, T;
        int n_rot;
    } cases[] = {{64, 4, 9, 64}, {128, 8, 3, 128}, {80, 3, 5, 40}, {6, 1, 1, 2}, {512, 2, 70, 300}};
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
            for (int mode = 0; mode < 2; mode++) {
                const int64_t d = cases[ci].d, H = cases[ci].H, T = cases[ci].T;
                const int n_rot = cases[ci].n_rot;
                float *x = ot_randn(&r, (size_t)(d * H * T), 1.0f);
                float *inv = ot_falloc((size_t)n_rot / 2);
                for (int i = 0; i < n_rot / 2; i++) inv[i] = (float)pow(500000.0, -2.0 * i / n_rot);
                int32_t *pos = malloc((size_t)T * sizeof *pos);
                for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)(t * 977 + (ci == 4 ? 131000 - 70 * 977 : 3));
                double *ref = ot_dalloc((size_t)(d * H * T));
                ref_rope(ref, x, d, H, T, pos, inv, n_rot, (hd_rope_mode)mode);
                hd_tensor tx = hd_tensor_3d(HD_TYPE_F32, d, H, T, x);
                hd_error err;
                assert_int_equal(hd_op_rope(&cfg.ex, &tx, pos, inv, n_rot, (hd_rope_mode)mode, &err), HD_OK);
                ot_expect_close(x, ref, d * H * T, 1e-6, 1e-6, "%s rope mode %d d=%lld n_rot=%d", cfg.name, mode,
                                (long long)d, n_rot);
                free(x);
                free(inv);
                free(pos);
                free(ref);
            }
    }
}

/* NEOX on a permuted head equals INTERLEAVED on the original (the HF conversion permutation). */
static void test_rope_layouts_agree(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 31);
    const int64_t d = 32;
    float x[32], xp[32], inv[16];
    tu_fill_normal(&r, x, 32, 1.0f);
    for (int i = 0; i < 16; i++) {
        inv[i] = powf(10000.0f, -2.0f * (float)i / 32.0f);
        xp[i] = x[2 * i];          /* first half: even dims  */
        xp[i + 16] = x[2 * i + 1]; /* second half: odd dims  */
    }
    int32_t pos[1] = {1234};
    hd_tensor t1 = hd_tensor_3d(HD_TYPE_F32, d, 1, 1, x), t2 = hd_tensor_3d(HD_TYPE_F32, d, 1, 1, xp);
    hd_error err;
    assert_int_equal(hd_op_rope(NULL, &t1, pos, inv, 32, HD_ROPE_INTERLEAVED, &err), HD_OK);
    assert_int_equal(hd_op_rope(NULL, &t2, pos, inv, 32, HD_ROPE_NEOX, &err), HD_OK);
    for (int i = 0; i < 16; i++) {
        assert_true(x[2 * i] == xp[i]);
        assert_true(x[2 * i + 1] == xp[i + 16]);
    }
}

static void test_rope_errors(void **state) {
    (void)state;
    float x[64] = {0}, inv[32] = {0};
    int32_t pos[4] = {0};
    hd_tensor t = hd_tensor_3d(HD_TYPE_F32, 8, 2, 4, x);
    hd_error err;
    assert_int_equal(hd_op_rope(NULL, &t, pos, inv, 7, HD_ROPE_NEOX, &err), HD_ERR_ARG);
    assert_int_equal(hd_op_rope(NULL, &t, pos, inv, 10, HD_ROPE_NEOX, &err), HD_ERR_ARG);
    assert_int_equal(hd_op_rope(NULL, &t, pos, inv, 8, (hd_rope_mode)5, &err), HD_ERR_ARG);
    assert_int_equal(hd_op_rope(NULL, &t, NULL, inv, 8, HD_ROPE_NEOX, &err), HD_ERR_ARG);
    hd_tensor h = hd_tensor_3d(HD_TYPE_F16, 8, 2, 4, x);
    assert_int_equal(hd_op_rope(NULL, &h, pos, inv, 8, HD_ROPE_NEOX, &err), HD_ERR_UNSUPPORTED);
    assert_int_equal(hd_op_rope(NULL, &t, pos, inv, 0, HD_ROPE_NEOX, &err), HD_OK); /* nothing rotates */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_rope_layouts_agree),
        cmocka_unit_test(test_rope_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
