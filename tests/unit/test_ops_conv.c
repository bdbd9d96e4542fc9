/* tests/unit/test_ops_conv.c — core/ops_conv.c: conv1d (stride, padding,
 * groups, depthwise, F32/F16 weights) and patch_embed against a direct
 * double-precision convolution; both code paths (direct loops without
 * scratch, im2col + linear with scratch); errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "ops_testutil.h"

#include <string.h>

typedef struct {
    int64_t T, C_in, C_out, K;
    int stride, pad, groups;
    bool f16, bias;
    const char *what;
} conv_case;

static void run_conv(const conv_case *c, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    const int64_t cig = c->C_in / c->groups, cog = c->C_out / c->groups;
    const int64_t T_out = (c->T + 2 * c->pad - c->K) / c->stride + 1;
    const size_t nw = (size_t)(c->K * cig * c->C_out);
    float *x = ot_randn(&r, (size_t)(c->T * c->C_in), 1.0f), *w = ot_randn(&r, nw, 0.5f);
    float *b = ot_randn(&r, (size_t)c->C_out, 1.0f), *y = ot_falloc((size_t)(T_out * c->C_out));
    hd_f16 *wh = malloc(nw * sizeof *wh);
    for (size_t i = 0; i < nw; i++) {
        wh[i] = hd_f32_to_f16(w[i]);
        if (c->f16) w[i] = hd_f16_to_f32(wh[i]); /* the reference sees the rounded weights */
    }
    double *ref = ot_dalloc((size_t)(T_out * c->C_out));
    for (int64_t co = 0; co < c->C_out; co++) {
        const int64_t g = co / cog;
        for (int64_t t = 0; t < T_out; t++) {
            double a = c->bias ? b[co] : 0;
            for (int64_t ci = 0; ci < cig; ci++)
                for (int64_t k = 0; k < c->K; k++) {
                    int64_t i = t * c->stride + k - c->pad;
                    if (i >= 0 && i < c->T) a += (double)w[(co * cig + ci) * c->K + k] * x[(g * cig + ci) * c->T + i];
                }
            ref[co * T_out + t] = a;
        }
    }
    hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, c->T, c->C_in, x), ty = hd_tensor_2d(HD_TYPE_F32, T_out, c->C_out, y);
    hd_tensor tw = hd_tensor_3d(c->f16 ? HD_TYPE_F16 : HD_TYPE_F32, c->K, cig, c->C_out, c->f16 ? (void *)wh : (void *)w);
    hd_tensor tb = hd_tensor_1d(HD_TYPE_F32, c->C_out, b);
    hd_error err;
    hd_arena *ar = hd_arena_create(64u << 20, &err);
    assert_non_null(ar);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (int with_scratch = 0; with_scratch < 2; with_scratch++) {
            cfg.ex.scratch = with_scratch ? ar : NULL;
            for (int64_t i = 0; i < T_out * c->C_out; i++) y[i] = NAN;
            hd_status st = hd_op_conv1d(&cfg.ex, &ty, &tx, &tw, c->bias ? &tb : NULL, c->stride, c->pad, c->groups, &err);
            if (st) fail_msg("%s: %s", c->what, err.msg);
            assert_int_equal(hd_arena_used(ar), 0); /* scratch handed back */
            ot_expect_close(y, ref, T_out * c->C_out, 2e-5, 1e-5, "%s [%s, %s]", c->what, cfg.name,
                            with_scratch ? "scratch" : "no scratch");
        }
    }
    /* white box: dense convolutions of at least 2^20 multiply-adds take the im2col path */
    const double macs = (double)c->C_out * (double)cig * (double)c->K * (double)T_out;
    if (c->groups == 1 && macs >= (1 << 20)) assert_true(hd_arena_high_water(ar) > 0);
    else assert_int_equal(hd_arena_high_water(ar), 0);
    hd_arena_free(ar);
    free(x);
    free(w);
    free(wh);
    free(b);
    free(y);
    free(ref);
}

static void test_conv1d(void **state) {
    (void)state;
    const conv_case cases[] = {
        {20, 5, 7, 3, 1, 1, 1, false, true, "dense k3 same padding"},
        {301, 48, 64, 3, 2, 1, 1, true, true, "dense stride 2, F16 weights (im2col size)"},
        {300, 80, 96, 3, 1, 1, 1, false, false, "whisper-like conv1, no bias"},
        {50, 24, 24, 7, 1, 3, 24, false, true, "depthwise k7"},
        {33, 16, 16, 5, 1, 2, 16, true, true, "depthwise F16"},
        {29, 8, 12, 3, 1, 0, 4, false, true, "grouped"},
        {40, 32, 64, 1, 1, 0, 1, false, true, "pointwise"},
        {2, 3, 4, 5, 1, 2, 1, false, true, "kernel longer than the input"},
        {31, 6, 5, 4, 3, 2, 1, false, true, "stride 3 with padding"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_conv(&cases[i], 200 + i);
}

static void run_patch(int64_t W, int64_t H, int64_t C, int64_t D, int P, bool f16, bool bias, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    const int64_t gh = H / P, gw = W / P, n = gh * gw;
    const size_t nw = (size_t)(P * P * C * D);
    float *img = ot_randn(&r, (size_t)(W * H * C), 1.0f), *w = ot_randn(&r, nw, 0.1f);
    float *b = ot_randn(&r, (size_t)D, 1.0f), *y = ot_falloc((size_t)(D * n));
    hd_f16 *wh = malloc(nw * sizeof *wh);
    for (size_t i = 0; i < nw; i++) {
        wh[i] = hd_f32_to_f16(w[i]);
        if (f16) w[i] = hd_f16_to_f32(wh[i]);
    }
    double *ref = ot_dalloc((size_t)(D * n));
    for (int64_t py = 0; py < gh; py++)
        for (int64_t px = 0; px < gw; px++)
            for (int64_t d = 0; d < D; d++) {
                double a = bias ? b[d] : 0;
                for (int64_t c = 0; c < C; c++)
                    for (int64_t ky = 0; ky < P; ky++)
                        for (int64_t kx = 0; kx < P; kx++)
                            a += (double)w[((d * C + c) * P + ky) * P + kx] * img[(c * H + py * P + ky) * W + px * P + kx];
                ref[(py * gw + px) * D + d] = a;
            }
    hd_tensor ti = hd_tensor_3d(HD_TYPE_F32, W, H, C, img), ty = hd_tensor_2d(HD_TYPE_F32, D, n, y);
    int64_t ne[4] = {P, P, C, D};
    hd_tensor tw = hd_tensor_view(f16 ? HD_TYPE_F16 : HD_TYPE_F32, 4, ne, f16 ? (void *)wh : (void *)w);
    hd_tensor tb = hd_tensor_1d(HD_TYPE_F32, D, b);
    hd_error err;
    hd_arena *ar = hd_arena_create(16u << 20, &err);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (int with_scratch = 0; with_scratch < 2; with_scratch++) {
            cfg.ex.scratch = with_scratch ? ar : NULL;
            for (int64_t i = 0; i < D * n; i++) y[i] = NAN;
            hd_status st = hd_op_patch_embed(&cfg.ex, &ty, &ti, &tw, bias ? &tb : NULL, P, &err);
            if (st) fail_msg("patch_embed: %s", err.msg);
            assert_int_equal(hd_arena_used(ar), 0);
            ot_expect_close(y, ref, D * n, 2e-5, 1e-5, "patch_embed %lldx%lldx%lld P=%d D=%lld [%s, %s]", (long long)W,
                            (long long)H, (long long)C, P, (long long)D, cfg.name, with_scratch ? "scratch" : "no scratch");
        }
    }
    if ((double)n * (double)D * (double)(C * P * P) >= (1 << 20)) assert_true(hd_arena_high_water(ar) > 0);
    else assert_int_equal(hd_arena_high_water(ar), 0);
    hd_arena_free(ar);
    free(img);
    free(w);
    free(wh);
    free(b);
    free(y);
    free(ref);
}

static void test_patch_embed(void **state) {
    (void)state;
    run_patch(42, 28, 3, 16, 14, false, true, 300);   /* 3 × 2 patches */
    run_patch(45, 30, 3, 8, 14, true, false, 301);    /* partial edge patches are dropped */
    run_patch(112, 112, 3, 64, 14, false, true, 302); /* large enough for im2col */
    run_patch(64, 48, 2, 40, 16, true, true, 303);
}

static void test_conv_errors(void **state) {
    (void)state;
    float buf[4096] = {0}, out[4096];
    hd_error err;
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, 10, 4, buf), w = hd_tensor_3d(HD_TYPE_F32, 3, 4, 6, buf);
    hd_tensor y = hd_tensor_2d(HD_TYPE_F32, 10, 6, out);
    assert_int_equal(hd_op_conv1d(NULL, &y, &x, &w, NULL, 1, 1, 1, &err), HD_OK);
    assert_int_equal(hd_op_conv1d(NULL, &y, &x, &w, NULL, 1, 0, 1, &err), HD_ERR_SHAPE); /* T_out 8 */
    assert_non_null(strstr(err.msg, "expected [8, 6]"));
    assert_int_equal(hd_op_conv1d(NULL, &y, &x, &w, NULL, 1, 1, 3, &err), HD_ERR_SHAPE); /* 4 % 3 */
    assert_int_equal(hd_op_conv1d(NULL, &y, &x, &w, NULL, 0, 1, 1, &err), HD_ERR_ARG);
    hd_tensor b5 = hd_tensor_1d(HD_TYPE_F32, 5, buf);
    assert_int_equal(hd_op_conv1d(NULL, &y, &x, &w, &b5, 1, 1, 1, &err), HD_ERR_SHAPE);
    hd_tensor wq = hd_tensor_3d(HD_TYPE_Q8_0, 32, 4, 6, buf);
    assert_int_equal(hd_op_conv1d(NULL, &y, &x, &wq, NULL, 1, 1, 1, &err), HD_ERR_UNSUPPORTED);
    hd_tensor alias = hd_tensor_2d(HD_TYPE_F32, 10, 6, buf);
    assert_int_equal(hd_op_conv1d(NULL, &alias, &x, &w, NULL, 1, 1, 1, &err), HD_ERR_ARG);
    hd_tensor shortx = hd_tensor_2d(HD_TYPE_F32, 1, 4, buf), y1 = hd_tensor_2d(HD_TYPE_F32, 1, 6, out);
    assert_int_equal(hd_op_conv1d(NULL, &y1, &shortx, &w, NULL, 1, 0, 1, &err), HD_ERR_SHAPE);

    hd_tensor img = hd_tensor_3d(HD_TYPE_F32, 8, 8, 3, buf);
    int64_t ne[4] = {4, 4, 3, 5};
    hd_tensor pw = hd_tensor_view(HD_TYPE_F32, 4, ne, buf);
    hd_tensor py = hd_tensor_2d(HD_TYPE_F32, 5, 4, out);
    assert_int_equal(hd_op_patch_embed(NULL, &py, &img, &pw, NULL, 4, &err), HD_OK);
    assert_int_equal(hd_op_patch_embed(NULL, &py, &img, &pw, NULL, 2, &err), HD_ERR_SHAPE);
    hd_tensor py2 = hd_tensor_2d(HD_TYPE_F32, 5, 5, out);
    assert_int_equal(hd_op_patch_embed(NULL, &py2, &img, &pw, NULL, 4, &err), HD_ERR_SHAPE);
    assert_int_equal(hd_op_patch_embed(NULL, &py, &img, &pw, NULL, 0, &err), HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_patch_embed),
        cmocka_unit_test(test_conv_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
