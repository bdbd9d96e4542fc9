/* tests/unit/test_sampler.c — lm/sampler: greedy, filters, penalty, reproducible draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lm/sampler.h"
#include "testutil.h"

static hd_sampler_params plain(float temp, uint64_t seed) {
    hd_sampler_params p = hd_sampler_default_params();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

/* Draws n tokens and counts them into hist[V]. */
static void histogram(const hd_sampler_params *p, const float *logits, int V, int n, double *hist) {
    hd_error err = {0};
    hd_sampler *s = hd_sampler_create(p, V, &err);
    assert_non_null(s);
    for (int i = 0; i < V; i++) hist[i] = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = hd_sampler_sample(s, logits);
        assert_true(t >= 0 && t < V);
        hist[t] += 1.0 / n;
    }
    hd_sampler_free(s);
}

static void test_greedy(void **state) {
    (void)state;
    float l[6] = {0.1f, 3.0f, -2.0f, 3.0f, 2.9f, -INFINITY};
    hd_sampler_params p = plain(0.0f, 1);
    hd_sampler *s = hd_sampler_create(&p, 6, NULL);
    assert_non_null(s);
    for (int i = 0; i < 5; i++) assert_int_equal(hd_sampler_sample(s, l), 1);  /* lowest id of the tie */
    assert_float_equal(l[1], 3.0f, 0);                                            /* input untouched */
    hd_sampler_free(s);
    hd_sampler_free(NULL);
}

static void test_seed_reproducible(void **state) {
    (void)state;
    enum { V = 1000, N = 200 };
    float *l = malloc(V * sizeof *l);
    tu_rng r;
    tu_rng_seed(&r, 7);
    tu_fill_normal(&r, l, V, 1.0f);
    hd_sampler_params p = hd_sampler_default_params();
    p.seed = 1234;
    p.top_k = 0;
    p.min_p = 0;
    int32_t a[N], b[N], c[N];
    hd_sampler *s1 = hd_sampler_create(&p, V, NULL), *s2 = hd_sampler_create(&p, V, NULL);
    p.seed = 1235;
    hd_sampler *s3 = hd_sampler_create(&p, V, NULL);
    for (int i = 0; i < N; i++) {
        a[i] = hd_sampler_sample(s1, l);
        b[i] = hd_sampler_sample(s2, l);
        c[i] = hd_sampler_sample(s3, l);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* reset replays the sequence */
    hd_sampler_reset(s1, 1234);
    for (int i = 0; i < N; i++) assert_int_equal(hd_sampler_sample(s1, l), a[i]);
    hd_sampler_free(s1);
    hd_sampler_free(s2);
    hd_sampler_free(s3);
    free(l);
}

static void test_uniform_range(void **state) {
    (void)state;
    hd_sampler_params p = plain(1.0f, 99);
    hd_sampler *s = hd_sampler_create(&p, 4, NULL);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = hd_sampler_uniform(s);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.01);
    hd_sampler_free(s);
}

/* Frequencies follow softmax(l / T). */
static void test_temperature_distribution(void **state) {
    (void)state;
    float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    double h[3];
    hd_sampler_params p = plain(1.0f, 5);
    histogram(&p, l, 3, 40000, h);
    assert_true(fabs(h[0] - 0.5) < 0.015 && fabs(h[1] - 0.3) < 0.015 && fabs(h[2] - 0.2) < 0.015);
    /* T = 0.5 squares the probabilities: 0.25, 0.09, 0.04 over 0.38 */
    p.temp = 0.5f;
    histogram(&p, l, 3, 40000, h);
    assert_true(fabs(h[0] - 0.25 / 0.38) < 0.015 && fabs(h[1] - 0.09 / 0.38) < 0.015 &&
                fabs(h[2] - 0.04 / 0.38) < 0.015);
}

static void test_top_k(void **state) {
    (void)state;
    float l[4] = {logf(0.1f), logf(0.5f), logf(0.3f), logf(0.1f)};
    double h[4];
    hd_sampler_params p = plain(1.0f, 11);
    p.top_k = 2;
    histogram(&p, l, 4, 40000, h);
    assert_true(h[0] == 0 && h[3] == 0);
    assert_true(fabs(h[1] - 0.625) < 0.015 && fabs(h[2] - 0.375) < 0.015);
    p.top_k = 1;  /* top-1 is greedy whatever the temperature */
    histogram(&p, l, 4, 1000, h);
    assert_true(fabs(h[1] - 1.0) < 1e-9);
}

static void test_top_p_and_min_p(void **state) {
    (void)state;
    float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    double h[3];
    hd_sampler_params p = plain(1.0f, 3);
    p.top_p = 0.7f;  /* 0.5 < 0.7 ≤ 0.8: keeps two */
    histogram(&p, l, 3, 40000, h);
    assert_true(h[2] == 0 && fabs(h[0] - 0.625) < 0.015);
    p.top_p = 0.45f; /* the first alone reaches it */
    histogram(&p, l, 3, 1000, h);
    assert_true(fabs(h[0] - 1.0) < 1e-9);
    p = plain(1.0f, 3);
    p.min_p = 0.5f;  /* keep p ≥ 0.25: tokens 0 (0.5) and 1 (0.3) */
    histogram(&p, l, 3, 40000, h);
    assert_true(h[2] == 0 && fabs(h[1] - 0.375) < 0.015);
}

/* Large vocabulary: the nucleus needs more than the first short prefix (256);
 * every draw must lie in the nucleus computed by a plain full sort. */
static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_top_p_large_vocab(void **state) {
    (void)state;
    enum { V = 20000 };
    float *l = malloc(V * sizeof *l), *sorted = malloc(V * sizeof *sorted);
    tu_rng r;
    tu_rng_seed(&r, 42);
    tu_fill_normal(&r, l, V, 0.3f);   /* flat-ish: nucleus of thousands */
    hd_sampler_params p = plain(1.0f, 8);
    p.top_p = 0.6f;
    /* reference threshold: the smallest logit inside the nucleus */
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = fmaxf(mx, l[i]);
    double total = 0;
    for (int i = 0; i < V; i++) {
        sorted[i] = l[i];
        total += exp(l[i] - mx);
    }
    qsort(sorted, V, sizeof *sorted, cmp_desc);
    double cum = 0;
    int keep = 0;
    while (cum < 0.6 * total) cum += exp(sorted[keep++] - mx);
    assert_true(keep > 256);
    float thresh = sorted[keep - 1];
    hd_sampler *s = hd_sampler_create(&p, V, NULL);
    int below = 0;
    for (int i = 0; i < 500; i++) {
        int32_t t = hd_sampler_sample(s, l);
        if (l[t] < thresh) below++;
    }
    assert_int_equal(below, 0);
    hd_sampler_free(s);
    free(l);
    free(sorted);
}

static void test_repeat_penalty(void **state) {
    (void)state;
    hd_sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 2;
    float pos[3] = {2.0f, 1.9f, -1.0f};
    hd_sampler *s = hd_sampler_create(&p, 3, NULL);
    assert_int_equal(hd_sampler_sample(s, pos), 0);
    hd_sampler_accept(s, 0);
    hd_sampler_accept(s, 0);  /* penalised once, not twice */
    assert_int_equal(hd_sampler_sample(s, pos), 1);   /* 2.0/1.5 = 1.33 < 1.9 */
    hd_sampler_accept(s, 2);
    hd_sampler_accept(s, 2);  /* token 0 leaves the window of 2 */
    assert_int_equal(hd_sampler_sample(s, pos), 0);
    hd_sampler_free(s);

    float neg[2] = {-1.0f, -1.2f};
    s = hd_sampler_create(&p, 2, NULL);
    hd_sampler_accept(s, 0);
    assert_int_equal(hd_sampler_sample(s, neg), 1);   /* -1 · 1.5 = -1.5 < -1.2 */
    hd_sampler_free(s);

    /* penalised once per distinct token: 2.0/1.5 = 1.33 beats 1.3 (twice would give 0.89) */
    float once[2] = {2.0f, 1.3f};
    p.repeat_last_n = 8;
    s = hd_sampler_create(&p, 2, NULL);
    for (int i = 0; i < 5; i++) hd_sampler_accept(s, 0);
    assert_int_equal(hd_sampler_sample(s, once), 0);
    hd_sampler_free(s);
}

static void test_bad_params(void **state) {
    (void)state;
    hd_error err = {0};
    hd_sampler_params p = hd_sampler_default_params();
    p.temp = -1;
    assert_null(hd_sampler_create(&p, 10, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    p = hd_sampler_default_params();
    p.top_p = 0;
    assert_null(hd_sampler_create(&p, 10, &err));
    p = hd_sampler_default_params();
    p.min_p = 1.5f;
    assert_null(hd_sampler_create(&p, 10, &err));
    p = hd_sampler_default_params();
    p.repeat_penalty = 0;
    assert_null(hd_sampler_create(&p, 10, &err));
    p = hd_sampler_default_params();
    assert_null(hd_sampler_create(&p, 0, &err));
    assert_non_null(strstr(err.msg, "vocabulary"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_uniform_range),
        cmocka_unit_test(test_temperature_distribution),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p_and_min_p),
        cmocka_unit_test(test_top_p_large_vocab),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
