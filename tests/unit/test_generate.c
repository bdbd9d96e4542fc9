/* tests/unit/test_generate.c — lm/generate on a tiny random Llama 3 with the
 * real tokenizer: the streamed text is the decoded ids; stop strings across
 * token boundaries; held-back text is flushed; n_predict, context end,
 * callback cancel and stop tokens; continuing a generation equals one run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "testutil.h"

typedef struct env {
    hd_llama_model *model;
    hd_tokenizer *tok;
    int32_t prompt[16];
    size_t n_prompt;
} env;

typedef struct capture {
    char text[8192];
    size_t len;
    int32_t ids[512];
    int n_ids;
    int n_calls_flush;
    int cancel_after;   /* > 0: return false at this many tokens */
} capture;

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    capture *c = user;
    assert_true(c->len + len < sizeof c->text);
    memcpy(c->text + c->len, text, len);
    c->len += len;
    if (token < 0) {
        c->n_calls_flush++;
        return true;
    }
    c->ids[c->n_ids++] = token;
    return !(c->cancel_after > 0 && c->n_ids >= c->cancel_after);
}

static int setup(void **state) {
    env *e = calloc(1, sizeof *e);
    char path[512], tokp[512];
    hd_error err = {0};
    snprintf(path, sizeof path, "%s/gen_tiny.gguf", tu_tmpdir());
    hd_random_model_params rp = hd_random_model_default_params();
    rp.preset = "tiny";
    rp.seed = 11;
    rp.n_threads = 2;
    if (hd_random_model_write(&rp, path, &err)) {
        print_error("random model: %s\n", err.msg);
        return -1;
    }
    e->model = hd_llama_load(path, &err);
    e->tok = hd_tokenizer_load(tu_fixture(tokp, sizeof tokp, "tokenizer/llama3_tokenizer.model"), &err);
    if (!e->model || !e->tok) {
        print_error("load: %s\n", err.msg);
        return -1;
    }
    const char *text = "The quick brown fox";
    if (hd_tokenizer_encode(e->tok, text, strlen(text), HD_TOKENIZER_ADD_BOS, e->prompt, 16, &e->n_prompt, &err))
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    hd_llama_free(e->model);
    hd_tokenizer_free(e->tok);
    free(e);
    return 0;
}

static hd_llama_context *new_ctx(const env *e, int64_t n_ctx) {
    hd_llama_context_params p = hd_llama_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = 2;
    p.kv_type = HD_TYPE_F32;
    hd_error err = {0};
    hd_llama_context *ctx = hd_llama_context_create(e->model, &p, &err);
    if (!ctx) fail_msg("context: %s", err.msg);
    return ctx;
}

/* Greedy run with no stop tokens (a random model may sample them anywhere). */
static hd_generate_result run(const env *e, hd_llama_context *ctx, const int32_t *prompt, size_t n_prompt, int n,
                              const char *stop, capture *c, hd_status want) {
    hd_generate_params p = hd_generate_default_params();
    p.n_predict = n;
    p.sampling.temp = 0;
    const int32_t none = -1;
    p.stop_tokens = &none;
    p.n_stop_tokens = 1;
    p.stop_strings = stop ? &stop : NULL;
    p.n_stop_strings = stop ? 1 : 0;
    p.on_token = on_token;
    p.user = c;
    hd_generate_result res;
    hd_error err = {0};
    hd_status st = hd_generate(ctx, e->tok, prompt, (int64_t)n_prompt, &p, &res, &err);
    if (st != want) fail_msg("generate: %s (%s)", hd_status_name(st), err.msg);
    return res;
}

static void decoded(const env *e, const int32_t *ids, int n, char *out, size_t cap, size_t *len) {
    assert_int_equal(hd_tokenizer_decode(e->tok, ids, (size_t)n, HD_TOKENIZER_SKIP_SPECIAL, out, cap, len, NULL), HD_OK);
}

static void test_text_is_decoded_ids(void **state) {
    env *e = *state;
    hd_llama_context *ctx = new_ctx(e, 128);
    capture c = {0};
    hd_generate_result r = run(e, ctx, e->prompt, e->n_prompt, 24, NULL, &c, HD_OK);
    assert_int_equal(r.stop, HD_STOP_LENGTH);
    assert_int_equal(r.n_generated, 24);
    assert_int_equal(r.n_prompt, (int64_t)e->n_prompt);
    assert_int_equal(c.n_ids, 24);
    assert_int_equal(hd_llama_n_past(ctx), (int64_t)e->n_prompt + 24);   /* every reported token is cached */
    char want[8192];
    size_t wl;
    decoded(e, c.ids, c.n_ids, want, sizeof want, &wl);
    assert_int_equal(c.len, wl);
    assert_memory_equal(c.text, want, wl);
    assert_int_equal(c.n_calls_flush, 0);
    hd_llama_context_free(ctx);
}

/* Two generations of 10 continue each other exactly like one of 20. */
static void test_continue_equals_one_run(void **state) {
    env *e = *state;
    hd_llama_context *a = new_ctx(e, 128), *b = new_ctx(e, 128);
    capture one = {0}, two = {0};
    run(e, a, e->prompt, e->n_prompt, 20, NULL, &one, HD_OK);
    run(e, b, e->prompt, e->n_prompt, 10, NULL, &two, HD_OK);
    run(e, b, NULL, 0, 10, NULL, &two, HD_OK);
    assert_int_equal(two.n_ids, 20);
    assert_memory_equal(one.ids, two.ids, 20 * sizeof(int32_t));
    hd_llama_context_free(a);
    hd_llama_context_free(b);
}

/* A stop string made of the last byte of token 5 and the first bytes of token 6. */
static void test_stop_string_across_tokens(void **state) {
    env *e = *state;
    hd_llama_context *ctx = new_ctx(e, 128);
    capture ref = {0};
    run(e, ctx, e->prompt, e->n_prompt, 24, NULL, &ref, HD_OK);
    hd_llama_context_free(ctx);
    /* byte offset where token k starts in the text */
    size_t start[25] = {0};
    for (int k = 0; k < 24; k++) {
        size_t l = 0;
        if (!hd_tokenizer_is_special(e->tok, ref.ids[k])) hd_tokenizer_token_bytes(e->tok, ref.ids[k], &l);
        start[k + 1] = start[k] + l;
    }
    int k = -1;
    for (int i = 4; i < 22 && k < 0; i++)
        if (start[i + 1] - start[i] >= 1 && start[i + 2] - start[i + 1] >= 2) k = i;
    assert_true(k > 0);
    char stop[4] = {ref.text[start[k + 1] - 1], ref.text[start[k + 1]], ref.text[start[k + 1] + 1], 0};
    const char *first = strstr(ref.text, stop);   /* may occur earlier: the cut is at the first */
    assert_non_null(first);
    size_t cut = (size_t)(first - ref.text);

    ctx = new_ctx(e, 128);
    capture c = {0};
    hd_generate_result r = run(e, ctx, e->prompt, e->n_prompt, 24, stop, &c, HD_OK);
    assert_int_equal(r.stop, HD_STOP_STRING);
    assert_int_equal(c.len, cut);
    assert_memory_equal(c.text, ref.text, cut);
    assert_true(r.n_generated <= k + 2);
    hd_llama_context_free(ctx);

    /* a stop string that only starts at the end: everything is delivered, the tail by the flush */
    char tail[8];
    snprintf(tail, sizeof tail, "%c\x01\x02", ref.text[ref.len - 1]);
    ctx = new_ctx(e, 128);
    capture d = {0};
    r = run(e, ctx, e->prompt, e->n_prompt, 24, tail, &d, HD_OK);
    assert_int_equal(r.stop, HD_STOP_LENGTH);
    assert_int_equal(d.len, ref.len);
    assert_memory_equal(d.text, ref.text, ref.len);
    assert_int_equal(d.n_calls_flush, 1);
    hd_llama_context_free(ctx);
}

static void test_stops(void **state) {
    env *e = *state;
    const int64_t P = (int64_t)e->n_prompt;
    /* context end: room for 3 more positions → 4 tokens reported, the last one not cached */
    hd_llama_context *ctx = new_ctx(e, P + 3);
    capture c = {0};
    hd_generate_result r = run(e, ctx, e->prompt, e->n_prompt, 100, NULL, &c, HD_OK);
    assert_int_equal(r.stop, HD_STOP_CONTEXT);
    assert_int_equal(r.n_generated, 4);
    assert_int_equal(hd_llama_n_past(ctx), P + 3);
    /* nothing fits any more: a further prompt is a clear error */
    capture c2 = {0};
    hd_generate_params p = hd_generate_default_params();
    p.on_token = on_token;
    p.user = &c2;
    hd_generate_result r2;
    hd_error err = {0};
    assert_int_equal(hd_generate(ctx, e->tok, e->prompt, 2, &p, &r2, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "does not fit the context"));
    hd_llama_context_free(ctx);

    /* callback cancel */
    ctx = new_ctx(e, 128);
    capture d = {.cancel_after = 3};
    r = run(e, ctx, e->prompt, e->n_prompt, 20, NULL, &d, HD_OK);
    assert_int_equal(r.stop, HD_STOP_CALLBACK);
    assert_int_equal(r.n_generated, 3);
    hd_llama_context_free(ctx);

    /* stop token: the greedy sequence's 6th token stops it at its first occurrence */
    ctx = new_ctx(e, 128);
    capture ref = {0};
    run(e, ctx, e->prompt, e->n_prompt, 8, NULL, &ref, HD_OK);
    hd_llama_context_free(ctx);
    int first = 0;
    while (ref.ids[first] != ref.ids[5]) first++;
    ctx = new_ctx(e, 128);
    hd_generate_params q = hd_generate_default_params();
    q.n_predict = 8;
    q.sampling.temp = 0;
    q.stop_tokens = &ref.ids[5];
    q.n_stop_tokens = 1;
    capture s = {0};
    q.on_token = on_token;
    q.user = &s;
    assert_int_equal(hd_generate(ctx, e->tok, e->prompt, P, &q, &r, &err), HD_OK);
    assert_int_equal(r.stop, HD_STOP_TOKEN);
    assert_int_equal(r.stop_token, ref.ids[5]);
    assert_int_equal(r.n_generated, first);
    assert_int_equal(hd_llama_n_past(ctx), P + first);   /* the stop token is not run */
    hd_llama_context_free(ctx);

    /* bad requests */
    ctx = new_ctx(e, 128);
    assert_int_equal(hd_generate(ctx, e->tok, NULL, 0, &q, &r, &err), HD_ERR_ARG);   /* nothing to continue */
    const char *empty = "";
    q.stop_strings = &empty;
    q.n_stop_strings = 1;
    assert_int_equal(hd_generate(ctx, e->tok, e->prompt, P, &q, &r, &err), HD_ERR_ARG);
    q.n_stop_strings = 0;
    q.sampling.top_p = -1;
    assert_int_equal(hd_generate(ctx, e->tok, e->prompt, P, &q, &r, &err), HD_ERR_ARG);
    assert_int_equal(hd_llama_n_past(ctx), 0);
    hd_llama_context_free(ctx);
    assert_string_equal(hd_stop_reason_name(HD_STOP_CONTEXT), "context full");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_is_decoded_ids),
        cmocka_unit_test(test_continue_equals_one_run),
        cmocka_unit_test(test_stop_string_across_tokens),
        cmocka_unit_test(test_stops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
