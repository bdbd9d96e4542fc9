/* tests/unit/test_llama_embd.c — hd_llama_decode_embd and
 * hd_generate_params.prompt_embd on a tiny random model: caller-supplied rows
 * equal to table rows give the same logits as the token ids (batched across
 * n_batch boundaries, rows consumed in order); different rows change them;
 * bad inputs are errors that leave the cache untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "testutil.h"

static hd_llama_model *g_model;

static int setup(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/embd_tiny.gguf", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.preset = "tiny-vocab";
    p.seed = 7;
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

static hd_llama_context *make_ctx(int n_batch, bool logits_all) {
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = n_batch;
    cp.kv_type = HD_TYPE_F32;
    cp.n_threads = 1;
    cp.logits_all = logits_all;
    hd_error err = {0};
    hd_llama_context *ctx = hd_llama_context_create(g_model, &cp, &err);
    assert_non_null(ctx);
    return ctx;
}

/* Row `tok` of the embedding table as F32. */
static void table_row(int32_t tok, float *out) {
    const hd_tensor *t = &g_model->tok_embd;
    const size_t rs = hd_type_row_size(t->type, t->ne[0]);
    hd_dequantize_row(t->type, (const char *)t->data + (size_t)tok * rs, out, t->ne[0]);
}

static void test_rows_equal_tokens(void **state) {
    (void)state;
    const int64_t D = g_model->cfg.n_embd, V = g_model->cfg.n_vocab;
    const int32_t toks[7] = {5, 17, 300, 2, 99, 41, 7};
    /* entries 1, 3, 4 and 6 as embedding rows; n_batch 3 splits them over batches */
    int32_t mixed[7];
    float rows[4 * 64];
    assert_true(D <= 64);
    int r = 0;
    for (int i = 0; i < 7; i++) {
        bool e = i == 1 || i == 3 || i == 4 || i == 6;
        mixed[i] = e ? HD_LLAMA_TOKEN_EMBD : toks[i];
        if (e) table_row(toks[i], rows + (r++) * D);
    }
    hd_error err = {0};
    hd_llama_context *a = make_ctx(3, false), *b = make_ctx(3, false);
    assert_int_equal(hd_llama_decode(a, toks, 7, &err), HD_OK);
    assert_int_equal(hd_llama_decode_embd(b, mixed, rows, 7, &err), HD_OK);
    assert_int_equal(hd_llama_n_past(b), 7);
    assert_true(tu_max_abs_err(hd_llama_logits(a), hd_llama_logits(b), (size_t)V) < 1e-6f);

    /* the next step continues from the same cache */
    const int32_t next = 11;
    assert_int_equal(hd_llama_decode(a, &next, 1, &err), HD_OK);
    assert_int_equal(hd_llama_decode(b, &next, 1, &err), HD_OK);
    assert_true(tu_max_abs_err(hd_llama_logits(a), hd_llama_logits(b), (size_t)V) < 1e-6f);

    /* a different row changes the result */
    hd_llama_context *c = make_ctx(3, false);
    rows[2 * D] += 1.0f;
    assert_int_equal(hd_llama_decode_embd(c, mixed, rows, 7, &err), HD_OK);
    hd_llama_context *d = make_ctx(3, false);
    assert_int_equal(hd_llama_decode(d, toks, 7, &err), HD_OK);
    assert_true(tu_max_abs_err(hd_llama_logits(c), hd_llama_logits(d), (size_t)V) > 1e-4f);
    hd_llama_context_free(a);
    hd_llama_context_free(b);
    hd_llama_context_free(c);
    hd_llama_context_free(d);
}

static void test_all_rows_logits_all(void **state) {
    (void)state;
    const int64_t D = g_model->cfg.n_embd, V = g_model->cfg.n_vocab;
    const int32_t toks[4] = {1, 2, 3, 4};
    const int32_t embd_only[4] = {HD_LLAMA_TOKEN_EMBD, HD_LLAMA_TOKEN_EMBD, HD_LLAMA_TOKEN_EMBD,
                                  HD_LLAMA_TOKEN_EMBD};
    float rows[4 * 64];
    for (int i = 0; i < 4; i++) table_row(toks[i], rows + i * D);
    hd_error err = {0};
    hd_llama_context *a = make_ctx(8, true), *b = make_ctx(8, true);
    assert_int_equal(hd_llama_decode(a, toks, 4, &err), HD_OK);
    assert_int_equal(hd_llama_decode_embd(b, embd_only, rows, 4, &err), HD_OK);
    assert_int_equal(hd_llama_n_logits(b), 4);
    assert_true(tu_max_abs_err(hd_llama_logits(a), hd_llama_logits(b), (size_t)(4 * V)) < 1e-6f);
    hd_llama_context_free(a);
    hd_llama_context_free(b);
}

static void test_errors(void **state) {
    (void)state;
    hd_error err = {0};
    hd_llama_context *a = make_ctx(4, false);
    const int32_t t1[3] = {1, HD_LLAMA_TOKEN_EMBD, 2};
    assert_int_equal(hd_llama_decode_embd(a, t1, NULL, 3, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "entry 1"));
    const int32_t t2[2] = {1, -2};
    float row[64] = {0};
    assert_int_equal(hd_llama_decode_embd(a, t2, row, 2, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "-2"));
    const int32_t t3[1] = {(int32_t)g_model->cfg.n_vocab};
    assert_int_equal(hd_llama_decode_embd(a, t3, row, 1, &err), HD_ERR_ARG);
    assert_int_equal(hd_llama_n_past(a), 0);
    hd_llama_context_free(a);
}

typedef struct collect {
    int32_t toks[16];
    int n;
} collect;

static bool on_tok(void *user, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    collect *c = user;
    if (token >= 0 && c->n < 16) c->toks[c->n++] = token;
    return true;
}

static void test_generate_prompt_embd(void **state) {
    (void)state;
    const int64_t D = g_model->cfg.n_embd;
    const int32_t toks[5] = {9, 8, 7, 6, 5};
    const int32_t mixed[5] = {9, HD_LLAMA_TOKEN_EMBD, 7, HD_LLAMA_TOKEN_EMBD, 5};
    float rows[2 * 64];
    table_row(8, rows);
    table_row(6, rows + D);
    hd_generate_params gp = hd_generate_default_params();
    gp.n_predict = 6;
    gp.sampling.temp = 0;   /* greedy */
    gp.on_token = on_tok;
    collect ca = {0}, cb = {0};
    hd_generate_result ra, rb;
    hd_error err = {0};
    hd_llama_context *a = make_ctx(4, false), *b = make_ctx(4, false);
    gp.user = &ca;
    assert_int_equal(hd_generate(a, NULL, toks, 5, &gp, &ra, &err), HD_OK);
    gp.user = &cb;
    gp.prompt_embd = rows;
    assert_int_equal(hd_generate(b, NULL, mixed, 5, &gp, &rb, &err), HD_OK);
    assert_int_equal(ra.n_prompt, 5);
    assert_int_equal(rb.n_prompt, 5);
    assert_int_equal(ca.n, 6);
    assert_int_equal(cb.n, 6);
    assert_memory_equal(ca.toks, cb.toks, sizeof ca.toks);
    /* the repetition window takes the real ids of the prompt, not the embedding entries */
    gp.penalize_prompt = true;
    gp.sampling.repeat_penalty = 1.3f;
    hd_llama_rewind(b, 0, &err);
    assert_int_equal(hd_generate(b, NULL, mixed, 5, &gp, &rb, &err), HD_OK);
    assert_int_equal(rb.n_generated, 6);
    /* without the rows, generate refuses the prompt */
    gp.prompt_embd = NULL;
    hd_llama_rewind(b, 0, &err);
    assert_int_equal(hd_generate(b, NULL, mixed, 5, &gp, &rb, &err), HD_ERR_ARG);
    hd_llama_context_free(a);
    hd_llama_context_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_equal_tokens),
        cmocka_unit_test(test_all_rows_logits_all),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_generate_prompt_embd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
