/* tests/unit/test_attention_tiles.c — hd_op_attention for many queries without a
 * causal mask and with F32 keys and values, the case AVX-512 runs through the
 * attention tiles of core/matmul_avx512.c (kernels.h: attn_tile, 4 tiles of 32
 * queries against blocks of HD_ATTN_TILE_KB keys, mask blocks classed as only
 * zeros / only −∞ / mixed): against a double-precision softmax(q·kᵀ·scale + mask)·v
 * at every SIMD level, serial and threaded, with and without a scratch arena.
 * Shapes straddle the tile and block edges (queries 16..200, keys 1..300, head
 * sizes 1..130); masks: none, random with −∞, a ViT padding mask (−∞ where query
 * and key are both padding) and a query that sees nothing (zeros); GQA; a
 * head-major K/V layout; peaky scores whose max moves between blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_testutil.h"

#include <math.h>
#include <string.h>

typedef enum { MASK_NONE, MASK_RANDOM, MASK_PADDING } mask_kind;

typedef struct {
    int64_t d, H, G, S, T;
    mask_kind mask;
    bool head_major; /* K/V [d, T, G] in memory (viewed as [d, G, T]) instead of [d, G, T] */
    float scale, qscale;
    const char *what;
} tile_case;

/* out [S][H][d] = softmax(q·kᵀ·scale + mask)·v in double; rows that see no key: zeros. */
static void reference(double *out, const float *q, const float *k, const float *v, size_t st, size_t sg,
                      const float *mask, const tile_case *c) {
    double *sc = ot_dalloc((size_t)c->T);
    for (int64_t s = 0; s < c->S; s++)
        for (int64_t h = 0; h < c->H; h++) {
            const int64_t g = h / (c->H / c->G);
            const float *qr = q + (s * c->H + h) * c->d;
            double mx = -INFINITY;
            for (int64_t t = 0; t < c->T; t++) {
                double a = 0;
                for (int64_t i = 0; i < c->d; i++) a += (double)qr[i] * k[(size_t)t * st + (size_t)g * sg + i];
                a = a * c->scale + (mask ? mask[s * c->T + t] : 0.0);
                sc[t] = a;
                if (a > mx) mx = a;
            }
            double *o = out + (s * c->H + h) * c->d;
            for (int64_t i = 0; i < c->d; i++) o[i] = 0;
            if (mx == -INFINITY) continue;
            double sum = 0;
            for (int64_t t = 0; t < c->T; t++) sum += sc[t] = exp(sc[t] - mx);
            for (int64_t t = 0; t < c->T; t++)
                for (int64_t i = 0; i < c->d; i++) o[i] += sc[t] / sum * v[(size_t)t * st + (size_t)g * sg + i];
        }
    free(sc);
}

static void run_case(const tile_case *c, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    const int64_t d = c->d, H = c->H, G = c->G, S = c->S, T = c->T;
    float *q = ot_randn(&r, (size_t)(d * H * S), c->qscale);
    const size_t kv_n = (size_t)(d * G * T);
    float *k = ot_randn(&r, kv_n, 1.0f), *v = ot_randn(&r, kv_n, 1.0f);
    /* element strides of key t and head g */
    const size_t st = c->head_major ? (size_t)d : (size_t)(d * G), sg = c->head_major ? (size_t)(d * T) : (size_t)d;
    float *mask = NULL;
    if (c->mask == MASK_RANDOM) {
        mask = ot_randn(&r, (size_t)(S * T), 1.0f);
        for (int64_t i = 0; i < S * T; i++)
            if (tu_rng_uniform(&r) < 0.3f) mask[i] = -INFINITY;
        for (int64_t t = 0; t < T; t++) mask[(S / 2) * T + t] = -INFINITY; /* one query sees nothing */
    } else if (c->mask == MASK_PADDING) {
        /* tokens at or past 40% of each sequence are padding; −∞ where both are */
        mask = ot_falloc((size_t)(S * T));
        for (int64_t s = 0; s < S; s++)
            for (int64_t t = 0; t < T; t++) mask[s * T + t] = (s >= S * 2 / 5 && t >= T * 2 / 5) ? -INFINITY : 0.0f;
    }
    double *ref = ot_dalloc((size_t)(d * H * S));
    reference(ref, q, k, v, st, sg, mask, c);

    float *out = ot_falloc((size_t)(d * H * S));
    hd_tensor tq = hd_tensor_3d(HD_TYPE_F32, d, H, S, q), to = hd_tensor_3d(HD_TYPE_F32, d, H, S, out);
    hd_tensor tk = hd_tensor_3d(HD_TYPE_F32, d, G, T, k), tv = hd_tensor_3d(HD_TYPE_F32, d, G, T, v);
    tk.nb[1] = tv.nb[1] = sg * sizeof(float);
    tk.nb[2] = tv.nb[2] = st * sizeof(float);
    tk.nb[3] = tv.nb[3] = kv_n * sizeof(float);
    hd_tensor tm = hd_tensor_2d(HD_TYPE_F32, T, S, mask);
    hd_attn_params p = {.scale = c->scale, .mask = mask ? &tm : NULL};
    hd_error err = {0};
    hd_arena *arena = hd_arena_create(8u << 20, &err);
    assert_non_null(arena);
    ot_config cfg;
    OT_FOR_EACH_CONFIG(cfg) {
        for (int with_arena = 0; with_arena < 2; with_arena++) {
            hd_exec ex = cfg.ex;
            if (with_arena) ex.scratch = arena;
            const size_t used = hd_arena_used(arena);
            for (int64_t i = 0; i < d * H * S; i++) out[i] = NAN; /* every element must be written */
            hd_status s = hd_op_attention(&ex, &to, &tq, &tk, &tv, &p, &err);
            if (s) fail_msg("%s: %s", c->what, err.msg);
            assert_int_equal(hd_arena_used(arena), used); /* scratch given back */
            ot_expect_close(out, ref, d * H * S, 2e-5, 2e-6, "%s [%s%s] d=%lld H=%lld G=%lld S=%lld T=%lld", c->what,
                            cfg.name, with_arena ? ", arena" : "", (long long)d, (long long)H, (long long)G,
                            (long long)S, (long long)T);
            if (c->mask == MASK_RANDOM)
                for (int64_t i = 0; i < d * H; i++) assert_true(out[(S / 2) * d * H + i] == 0.0f);
        }
    }
    hd_arena_free(arena);
    free(q);
    free(k);
    free(v);
    free(mask);
    free(ref);
    free(out);
}

static void test_attention_tile_cases(void **state) {
    (void)state;
    const tile_case cases[] = {
        {80, 2, 2, 70, 70, MASK_PADDING, false, 0.11f, 1.0f, "ViT-like padding mask"},
        {80, 2, 2, 200, 300, MASK_PADDING, false, 0.11f, 1.0f, "padding mask, two tile groups, key tail"},
        {64, 4, 2, 33, 49, MASK_RANDOM, false, 0.125f, 1.0f, "random mask, GQA, one key past a block"},
        {17, 3, 3, 16, 47, MASK_RANDOM, false, 0.3f, 1.0f, "odd head size, fewest queries, one block"},
        {130, 2, 1, 40, 96, MASK_NONE, false, 0.09f, 1.0f, "head of 130, two full blocks"},
        {5, 2, 2, 129, 1, MASK_NONE, false, 0.4f, 1.0f, "one key"},
        {1, 1, 1, 20, 13, MASK_RANDOM, false, 1.0f, 1.0f, "head size 1"},
        {48, 4, 4, 50, 100, MASK_NONE, true, 0.14f, 1.0f, "head-major K/V"},
        {64, 2, 1, 64, 260, MASK_NONE, false, 1.0f, 6.0f, "peaky scores: the max moves between blocks"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 300 + i);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_attention_tile_cases)};
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_teardown_pool();
    return rc;
}
