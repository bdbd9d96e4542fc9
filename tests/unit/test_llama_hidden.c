/* tests/unit/test_llama_hidden.c — hd_llama_set_hidden_capture on a tiny
 * random model (2 layers): the callback sees every position once, per forward
 * batch, in order; layer 0 is the embedding rows; the states do not depend on
 * the batching; the logits are the same with and without a capture; bad
 * layers are refused; removing the capture stops the calls.  (Values against
 * PyTorch: tests/parity/test_llama_hidden.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/llama.h"
#include "lm/random_model.h"
#include "testutil.h"

static hd_llama_model *g_model;

static int setup(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/hidden_tiny.gguf", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.preset = "tiny-vocab";
    p.seed = 9;
    p.n_threads = 1;
    hd_error err = {0};
    if (hd_random_model_write(&p, path, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    g_model = hd_llama_load(path, &err);
    if (!g_model) fprintf(stderr, "%s\n", err.msg);
    return g_model ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    hd_llama_free(g_model);
    return 0;
}

static hd_llama_context *make_ctx(int n_batch) {
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = n_batch;
    cp.kv_type = HD_TYPE_F32;
    cp.n_threads = 1;
    hd_error err = {0};
    hd_llama_context *ctx = hd_llama_context_create(g_model, &cp, &err);
    assert_non_null(ctx);
    return ctx;
}

#define S 13
static const int32_t IDS[S] = {1, 7, 300, 42, 5, 99, 128, 3, 511, 17, 64, 200, 8};

typedef struct sink {
    float rows[S][64];
    int64_t calls, next;   /* next position expected */
    int64_t sizes[S];
} sink;

static void take(void *user, int64_t pos0, int64_t n, int64_t dim, const float *h) {
    sink *s = user;
    assert_int_equal(dim, 64);
    assert_int_equal(pos0, s->next);   /* in order, each position once */
    assert_true(pos0 + n <= S);
    memcpy(s->rows[pos0], h, (size_t)(n * dim) * sizeof *h);
    s->sizes[s->calls++] = n;
    s->next = pos0 + n;
}

static void run(int n_batch, int layer, sink *s, float *logits) {
    hd_llama_context *ctx = make_ctx(n_batch);
    hd_error err = {0};
    memset(s, 0, sizeof *s);
    assert_int_equal(hd_llama_set_hidden_capture(ctx, layer, take, s, &err), HD_OK);
    assert_int_equal(hd_llama_decode(ctx, IDS, S, &err), HD_OK);
    assert_int_equal(s->next, S);
    if (logits) memcpy(logits, hd_llama_logits(ctx), (size_t)g_model->cfg.n_vocab * sizeof *logits);
    hd_llama_context_free(ctx);
}

static void test_positions_and_batches(void **state) {
    (void)state;
    sink *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    run(64, 1, a, NULL);
    assert_int_equal(a->calls, 1);
    assert_int_equal(a->sizes[0], S);
    run(4, 1, b, NULL);   /* 4 + 4 + 4 + 1 */
    assert_int_equal(b->calls, 4);
    assert_int_equal(b->sizes[3], 1);
    assert_true(tu_max_rel_err(&b->rows[0][0], &a->rows[0][0], S * 64) <= 1e-5f);
    /* layers differ from each other */
    run(64, 2, b, NULL);
    assert_true(tu_max_abs_err(&b->rows[0][0], &a->rows[0][0], S * 64) > 1e-2f);
    free(a), free(b);
}

static void test_layer0_is_embeddings(void **state) {
    (void)state;
    sink *s = malloc(sizeof *s);
    run(64, 0, s, NULL);
    const float *tab = g_model->tok_embd.data;   /* F32 [64, V] */
    assert_int_equal(g_model->tok_embd.type, HD_TYPE_F32);
    for (int i = 0; i < S; i++) assert_memory_equal(s->rows[i], tab + (size_t)IDS[i] * 64, 64 * sizeof(float));
    free(s);
}

static void test_logits_unchanged(void **state) {
    (void)state;
    const int64_t V = g_model->cfg.n_vocab;
    float *with = malloc((size_t)V * sizeof *with), *without = malloc((size_t)V * sizeof *without);
    sink *s = malloc(sizeof *s);
    run(5, 2, s, with);
    hd_llama_context *ctx = make_ctx(5);
    hd_error err = {0};
    assert_int_equal(hd_llama_decode(ctx, IDS, S, &err), HD_OK);
    memcpy(without, hd_llama_logits(ctx), (size_t)V * sizeof *without);
    assert_memory_equal(with, without, (size_t)V * sizeof *with);
    hd_llama_context_free(ctx);
    free(with), free(without), free(s);
}

/* states_only: the same states, decoded in two calls (the second reads the
 * first's cache), while the layers above and the logits never run. */
static void test_states_only(void **state) {
    (void)state;
    sink *full = malloc(sizeof *full), *only = malloc(sizeof *only);
    for (int layer = 0; layer <= 2; layer++) {
        run(64, layer, full, NULL);
        hd_llama_context_params cp = hd_llama_context_default_params();
        cp.n_ctx = 64;
        cp.n_batch = 4;
        cp.kv_type = HD_TYPE_F32;
        cp.n_threads = 1;
        cp.states_only = true;
        hd_error err = {0};
        hd_llama_context *ctx = hd_llama_context_create(g_model, &cp, &err);
        assert_non_null(ctx);
        memset(only, 0, sizeof *only);
        assert_int_equal(hd_llama_set_hidden_capture(ctx, layer, take, only, &err), HD_OK);
        float *logits = (float *)hd_llama_logits(ctx);   /* the context's own buffer */
        const float sentinel = 12345.0f;
        logits[0] = sentinel;
        assert_int_equal(hd_llama_decode(ctx, IDS, 6, &err), HD_OK);
        assert_int_equal(hd_llama_decode(ctx, IDS + 6, S - 6, &err), HD_OK);
        assert_int_equal(only->next, S);
        assert_true(tu_max_rel_err(&only->rows[0][0], &full->rows[0][0], S * 64) <= 1e-5f);
        assert_true(logits[0] == sentinel);   /* no head ran */
        hd_llama_context_free(ctx);
    }
    free(full), free(only);
}

static void test_errors_and_removal(void **state) {
    (void)state;
    hd_llama_context *ctx = make_ctx(8);
    hd_error err = {0};
    sink *s = malloc(sizeof *s);
    memset(s, 0, sizeof *s);
    assert_int_equal(hd_llama_set_hidden_capture(ctx, 3, take, s, &err), HD_ERR_ARG);   /* 2 layers */
    assert_non_null(strstr(err.msg, "0..2"));
    assert_int_equal(hd_llama_set_hidden_capture(ctx, -1, take, s, &err), HD_ERR_ARG);
    assert_int_equal(hd_llama_set_hidden_capture(NULL, 1, take, s, &err), HD_ERR_ARG);
    /* installed, then removed: no calls */
    assert_int_equal(hd_llama_set_hidden_capture(ctx, 1, take, s, &err), HD_OK);
    assert_int_equal(hd_llama_set_hidden_capture(ctx, 1, NULL, NULL, &err), HD_OK);
    assert_int_equal(hd_llama_decode(ctx, IDS, S, &err), HD_OK);
    assert_int_equal(s->calls, 0);
    hd_llama_context_free(ctx);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_and_batches),
        cmocka_unit_test(test_layer0_is_embeddings),
        cmocka_unit_test(test_logits_unchanged),
        cmocka_unit_test(test_states_only),
        cmocka_unit_test(test_errors_and_removal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
