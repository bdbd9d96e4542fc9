/* tests/unit/test_ops_attention.c — core/ops_attention.c: attention against a
 * naive double-precision softmax(q·kᵀ·scale + mask)·v, for causal prefill,
 * KV-cache decode and chunked prefill (q_offset), additive masks, GQA/MQA,
 * F16 K/V, strided caches, rows that see no key; softmax; errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_testutil.h"

#include <string.h>

typedef struct {
    int64_t d, H, G, S, T;
    bool causal, f16, use_mask, strided;
    int64_t q_offset;
    float scale, qscale; /* qscale: spread of q (large = peaky softmax) */
    const char *what;
} attn_case;

/* K/V element (d index i, head g, key t) in the test's own layout. */
typedef struct {
    float *f;      /* F32 data */
    hd_f16 *h;     /* F16 data */
    size_t s_i, s_g, s_t; /* element strides */
} kv_buf;

static double kv_get(const kv_buf *b, bool f16, int64_t i, int64_t g, int64_t t) {
    size_t o = (size_t)i * b->s_i + (size_t)g * b->s_g + (size_t)t * b->s_t;
    return f16 ? hd_f16_to_f32(b->h[o]) : b->f[o];
}

static void ref_attention(double *out, const float *q, const kv_buf *k, const kv_buf *v, const float *mask,
                          const attn_case *c) {
    double *sc = ot_dalloc((size_t)c->T);
    for (int64_t s = 0; s < c->S; s++)
        for (int64_t h = 0; h < c->H; h++) {
            const int64_t g = h / (c->H / c->G);
            const float *qr = q + (s * c->H + h) * c->d;
            double mx = -INFINITY;
            for (int64_t t = 0; t < c->T; t++) {
                double a = 0;
                for (int64_t i = 0; i < c->d; i++) a += qr[i] * kv_get(k, c->f16, i, g, t);
                a *= c->scale;
                if (mask) a += mask[s * c->T + t];
                if (c->causal && t > c->q_offset + s) a = -INFINITY;
                sc[t] = a;
                if (a > mx) mx = a;
            }
            double *o = out + (s * c->H + h) * c->d;
            for (int64_t i = 0; i < c->d; i++) o[i] = 0;
            if (mx == -INFINITY) continue; /* sees no key: zeros */
            double sum = 0;
            for (int64_t t = 0; t < c->T; t++) sum += sc[t] = exp(sc[t] - mx);
            for (int64_t t = 0; t < c->T; t++)
                for (int64_t i = 0; i < c->d; i++) o[i] += sc[t] / sum * kv_get(v, c->f16, i, g, t);
        }
    free(sc);
}

static void run_case(const attn_case *c, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    const int64_t d = c->d, H = c->H, G = c->G, S = c->S, T = c->T;
    const int64_t Tcap = T + 5; /* cache capacity: a view of the first T keys */
    float *q = ot_randn(&r, (size_t)(d * H * S), c->qscale);
    size_t kv_n = (size_t)(d * G * Tcap);
    float *kf = ot_randn(&r, kv_n, 1.0f), *vf = ot_randn(&r, kv_n, 1.0f);
    hd_f16 *kh = malloc(kv_n * sizeof *kh), *vh = malloc(kv_n * sizeof *vh);
    for (size_t i = 0; i < kv_n; i++) {
        kh[i] = hd_f32_to_f16(kf[i]);
        vh[i] = hd_f32_to_f16(vf[i]);
    }
    float *mask = NULL;
    if (c->use_mask) {
        mask = ot_randn(&r, (size_t)(T * S), 1.0f);
        for (int64_t i = 0; i < T * S; i++)
            if (tu_rng_uniform(&r) < 0.3f) mask[i] = -INFINITY;
        if (S > 1)
            for (int64_t t = 0; t < T; t++) mask[1 * T + t] = -INFINITY; /* query 1 sees nothing */
    }
    /* layout: packed [d, G, Tcap] (ggml order), or strided [d, Tcap, G] (head-major cache) */
    kv_buf kb, vb;
    kb.f = kf, kb.h = kh, vb.f = vf, vb.h = vh;
    kb.s_i = vb.s_i = 1;
    if (c->strided) {
        kb.s_t = vb.s_t = (size_t)d;
        kb.s_g = vb.s_g = (size_t)(d * Tcap);
    } else {
        kb.s_g = vb.s_g = (size_t)d;
        kb.s_t = vb.s_t = (size_t)(d * G);
    }
    double *ref = ot_dalloc((size_t)(d * H * S));
    ref_attention(ref, q, &kb, &vb, mask, c);

    float *out = ot_falloc((size_t)(d * H * S));
    hd_tensor tq = hd_tensor_3d(HD_TYPE_F32, d, H, S, q), to = hd_tensor_3d(HD_TYPE_F32, d, H, S, out);
    const hd_type kt = c->f16 ? HD_TYPE_F16 : HD_TYPE_F32;
    const size_t es = c->f16 ? 2 : 4;
    hd_tensor tk = hd_tensor_3d(kt, d, G, T, c->f16 ? (void *)kh : (void *)kf);
    hd_tensor tv = hd_tensor_3d(kt, d, G, T, c->f16 ? (void *)vh : (void *)vf);
    tk.nb[1] = tv.nb[1] = kb.s_g * es;
    tk.nb[2] = tv.nb[2] = kb.s_t * es;
    tk.nb[3] = tv.nb[3] = kv_n * es;
    hd_tensor tm = hd_tensor_2d(HD_TYPE_F32, T, S, mask);
    hd_attn_params p = {.scale = c->scale, .causal = c->causal, .q_offset = c->q_offset,
                        .mask = mask ? &tm : NULL};
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (int64_t i = 0; i < d * H * S; i++) out[i] = NAN; /* every element must be written */
        hd_error err;
        hd_status st = hd_op_attention(&cfg.ex, &to, &tq, &tk, &tv, &p, &err);
        if (st) fail_msg("%s: %s", c->what, err.msg);
        ot_expect_close(out, ref, d * H * S, 2e-5, 2e-6, "%s [%s] d=%lld H=%lld G=%lld S=%lld T=%lld", c->what,
                        cfg.name, (long long)d, (long long)H, (long long)G, (long long)S, (long long)T);
    }
    if (c->use_mask && S > 1)
        for (int64_t i = 0; i < d * H; i++) assert_true(out[d * H + i] == 0.0f);
    free(q);
    free(kf);
    free(vf);
    free(kh);
    free(vh);
    free(mask);
    free(ref);
    free(out);
}

static void test_attention_cases(void **state) {
    (void)state;
    const attn_case cases[] = {
        {64, 8, 2, 5, 5, true, false, false, false, 0, 0.125f, 1.0f, "causal prefill GQA"},
        {64, 8, 2, 1, 150, true, true, false, false, 149, 0.125f, 1.0f, "decode, F16 cache, 3 blocks"},
        {128, 4, 1, 7, 200, true, false, false, false, 193, 0.0884f, 1.0f, "chunked prefill MQA"},
        {17, 3, 3, 6, 70, false, false, true, false, 0, 0.3f, 1.0f, "additive mask, odd head size"},
        {17, 6, 3, 6, 70, true, true, true, false, 64, 0.3f, 1.0f, "mask and causal, F16"},
        {32, 32, 1, 2, 9, true, false, false, false, 7, 0.177f, 1.0f, "32 heads on one KV head"},
        {80, 16, 16, 3, 33, false, false, false, true, 0, 0.11f, 1.0f, "strided (head-major) cache"},
        {40, 4, 2, 3, 300, true, true, false, true, 297, 0.158f, 1.0f, "strided F16 cache"},
        {64, 2, 1, 4, 260, false, false, false, false, 0, 1.0f, 6.0f, "peaky scores: the max moves between blocks"},
        {8, 2, 2, 3, 2, true, false, false, false, 0, 0.35f, 1.0f, "more queries than keys"},
        {200, 4, 2, 2, 100, true, true, false, false, 98, 0.07f, 1.0f, "F16, d=200: 40-key converted blocks"},
        {16, 2, 2, 40, 45, true, false, true, false, 5, 0.25f, 1.0f, "two query tiles, mask and causal"},
        {80, 3, 3, 70, 70, false, true, false, false, 0, 0.11f, 1.0f, "ViT-like: 3 tiles of 32 queries, F16"},
        {8200, 2, 1, 2, 3, false, true, false, false, 0, 0.011f, 1.0f, "F16, d too large to convert a block"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 100 + i);
}

/* No keys at all (T = 0): every row is zero. */
static void test_attention_no_keys(void **state) {
    (void)state;
    float q[2 * 4 * 3], out[2 * 4 * 3], kv[1] = {0};
    for (int i = 0; i < 24; i++) q[i] = (float)i, out[i] = NAN;
    hd_tensor tq = hd_tensor_3d(HD_TYPE_F32, 2, 4, 3, q), to = hd_tensor_3d(HD_TYPE_F32, 2, 4, 3, out);
    hd_tensor tk = hd_tensor_3d(HD_TYPE_F32, 2, 2, 0, kv), tv = hd_tensor_3d(HD_TYPE_F32, 2, 2, 0, kv);
    hd_attn_params p = {.scale = 1.0f, .causal = true};
    hd_error err;
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        assert_int_equal(hd_op_attention(&cfg.ex, &to, &tq, &tk, &tv, &p, &err), HD_OK);
        for (int i = 0; i < 24; i++) assert_true(out[i] == 0.0f);
    }
}

/* The op never allocates: it works without scratch and leaves a given arena untouched. */
static void test_attention_no_scratch(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 7);
    const int64_t d = 64, H = 4, T = 500;
    float *q = ot_randn(&r, (size_t)(d * H), 1.0f), *k = ot_randn(&r, (size_t)(d * T), 1.0f);
    float *v = ot_randn(&r, (size_t)(d * T), 1.0f), *out = ot_falloc((size_t)(d * H));
    hd_error err;
    hd_arena *ar = hd_arena_create(64, &err);
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = NULL, .scratch = ar};
    hd_tensor tq = hd_tensor_3d(HD_TYPE_F32, d, H, 1, q), to = hd_tensor_3d(HD_TYPE_F32, d, H, 1, out);
    hd_tensor tk = hd_tensor_3d(HD_TYPE_F32, d, 1, T, k), tv = hd_tensor_3d(HD_TYPE_F32, d, 1, T, v);
    hd_attn_params p = {.scale = 0.125f, .causal = true, .q_offset = T - 1};
    assert_int_equal(hd_op_attention(&ex, &to, &tq, &tk, &tv, &p, &err), HD_OK);
    assert_int_equal(hd_arena_high_water(ar), 0);
    hd_arena_free(ar);
    free(q);
    free(k);
    free(v);
    free(out);
}

static void test_attention_errors(void **state) {
    (void)state;
    float buf[4096] = {0}, o[4096];
    hd_error err;
    hd_exec ex = {0};
    hd_tensor q = hd_tensor_3d(HD_TYPE_F32, 8, 6, 2, buf), out = hd_tensor_3d(HD_TYPE_F32, 8, 6, 2, o);
    hd_tensor k = hd_tensor_3d(HD_TYPE_F32, 8, 4, 5, buf + 1000), v = hd_tensor_3d(HD_TYPE_F32, 8, 4, 5, buf + 2000);
    hd_attn_params p = {.scale = 1.0f};
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v, &p, &err), HD_ERR_SHAPE); /* 6 % 4 */
    assert_non_null(strstr(err.msg, "not a multiple"));
    k.ne[1] = v.ne[1] = 3;
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v, &p, &err), HD_OK);
    hd_tensor v2 = v;
    v2.ne[2] = 4;
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v2, &p, &err), HD_ERR_SHAPE);
    hd_tensor m = hd_tensor_2d(HD_TYPE_F32, 5, 3, buf + 3000);
    p.mask = &m;
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v, &p, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "mask"));
    p.mask = NULL;
    assert_int_equal(hd_op_attention(&ex, &q, &q, &k, &v, &p, &err), HD_ERR_ARG); /* out = q */
    hd_tensor kq = hd_tensor_3d(HD_TYPE_Q8_0, 32, 3, 5, buf);
    assert_int_equal(hd_op_attention(&ex, &out, &q, &kq, &v, &p, &err), HD_ERR_UNSUPPORTED);
    p.scale = INFINITY;
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v, &p, &err), HD_ERR_ARG);
    p.scale = 1.0f;
    p.q_offset = -1;
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v, &p, &err), HD_ERR_ARG);
    assert_int_equal(hd_op_attention(&ex, &out, &q, &k, &v, NULL, &err), HD_ERR_ARG);
}

static void test_softmax(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 8);
    const int64_t widths[] = {1, 5, 16, 31, 1000, 32001};
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            const int64_t n = widths[wi], rows = 5;
            float *x = ot_randn(&r, (size_t)(n * rows), 4.0f);
            if (n > 3) x[2] = -INFINITY;
            for (int64_t i = 0; i < n; i++) x[3 * n + i] = -INFINITY; /* row 3: nothing → zeros */
            double *ref = ot_dalloc((size_t)(n * rows));
            const double sc = 0.7;
            for (int64_t rr = 0; rr < rows; rr++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t i = 0; i < n; i++)
                    if (x[rr * n + i] * sc > mx) mx = x[rr * n + i] * sc;
                if (mx == -INFINITY) continue;
                for (int64_t i = 0; i < n; i++) sum += ref[rr * n + i] = exp(x[rr * n + i] * sc - mx);
                for (int64_t i = 0; i < n; i++) ref[rr * n + i] /= sum;
            }
            hd_tensor t = hd_tensor_2d(HD_TYPE_F32, n, rows, x);
            hd_error err;
            assert_int_equal(hd_op_softmax(&cfg.ex, &t, 0.7f, &err), HD_OK);
            ot_expect_close(x, ref, n * rows, 1e-5, 1e-7, "%s softmax n=%lld", cfg.name, (long long)n);
            free(x);
            free(ref);
        }
    }
    hd_error err;
    float one = 1;
    hd_tensor t = hd_tensor_1d(HD_TYPE_F32, 1, &one);
    assert_int_equal(hd_op_softmax(NULL, &t, NAN, &err), HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_cases),  cmocka_unit_test(test_attention_no_keys),
        cmocka_unit_test(test_attention_no_scratch), cmocka_unit_test(test_attention_errors),
        cmocka_unit_test(test_softmax),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
