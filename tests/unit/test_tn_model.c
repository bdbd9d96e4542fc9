/* tests/unit/test_tn_model.c — speech/tn_model.c: TN tokens by character
 * category, the rule-based normaliser driven by per-token tags, and the
 * streaming LSTM tagger on a tiny random model: streamed (token by token,
 * tags after R tokens of right context) == whole (layer-major, batched),
 * its right context and LM-token visibility, errors.  (Parity with
 * torch.nn.LSTM: tests/parity/test_tn.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/random_model_impl.h"
#include "speech/tn.h"
#include "speech/tn_model.h"
#include "testutil.h"

extern const hd_rm_arch hd_rm_arch_tn;

static char g_path[512];

static int setup(void **state) {
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/tn-tiny.gguf", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "tn";
    p.preset = "tiny";
    p.seed = 4;
    hd_error err = {0};
    if (hd_rm_arch_tn.write(&p, g_path, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void test_tokenize(void **state) {
    (void)state;
    const char *t = "It's 5 km, caf\xc3\xa9!";
    hd_tn_token *tk;
    int n;
    hd_error err = {0};
    assert_int_equal(hd_tn_tokenize(t, strlen(t), &tk, &n, &err), HD_OK);
    static const struct {
        const char *s;
        hd_tn_cat cat;
        int chunk;
    } want[] = {{"It", HD_TN_CAT_LETTERS, 0}, {"'", HD_TN_CAT_OTHER, 0}, {"s", HD_TN_CAT_LETTERS, 0},
                {" ", HD_TN_CAT_SPACE, 1},    {"5", HD_TN_CAT_DIGITS, 1},  {" ", HD_TN_CAT_SPACE, 2},
                {"km", HD_TN_CAT_LETTERS, 2}, {",", HD_TN_CAT_OTHER, 2},   {" ", HD_TN_CAT_SPACE, 3},
                {"caf\xc3\xa9", HD_TN_CAT_LETTERS, 3}, {"!", HD_TN_CAT_OTHER, 3}};
    assert_int_equal(n, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < n; i++) {
        assert_int_equal(tk[i].len, strlen(want[i].s));
        assert_memory_equal(t + tk[i].start, want[i].s, tk[i].len);
        assert_int_equal(tk[i].cat, want[i].cat);
        assert_int_equal(tk[i].chunk, want[i].chunk);
    }
    free(tk);
    assert_int_equal(hd_tn_tokenize("", 0, &tk, &n, &err), HD_OK);
    assert_int_equal(n, 0);
    free(tk);
}

/* Normalises text with tag `tag` on the token equal to `which` (others SELF). */
static char *tagged(const char *text, const char *which, hd_tn_tag tag) {
    hd_tn_token *tk;
    int n;
    hd_error err = {0};
    assert_int_equal(hd_tn_tokenize(text, strlen(text), &tk, &n, &err), HD_OK);
    uint8_t *tags = calloc((size_t)n + 1, 1);
    for (int i = 0; i < n; i++)
        if (which && tk[i].len == strlen(which) && memcmp(text + tk[i].start, which, tk[i].len) == 0) tags[i] = (uint8_t)tag;
    char *s = hd_tn_normalize_tagged(text, strlen(text), tk, n, tags, &err);
    assert_non_null(s);
    free(tags);
    free(tk);
    return s;
}

static void test_tagged_rules(void **state) {
    (void)state;
    static const struct {
        const char *text, *which;
        hd_tn_tag tag;
        const char *spoken;
    } t[] = {
        {"Call 911 now", "911", HD_TN_DIGITS, "Call nine one one now"},
        {"Call 911 now", "911", HD_TN_CARDINAL, "Call nine hundred eleven now"},
        {"Call 911 now", NULL, HD_TN_SELF, "Call nine hundred eleven now"},
        {"room 1984 is", "1984", HD_TN_YEAR, "room nineteen eighty four is"},
        {"in 1984 we", "1984", HD_TN_CARDINAL, "in one thousand nine hundred eighty four we"},
        {"in 1984 we", NULL, HD_TN_SELF, "in nineteen eighty four we"},
        {"the 5 of May", "5", HD_TN_ORDINAL, "the fifth of May"},
        {"NASA said", "NASA", HD_TN_LETTERS, "N A S A said"},
        {"a *big* deal", "*", HD_TN_SILENT, "a big deal"},
        {"keep 42 as is", "42", HD_TN_VERBATIM, "keep 42 as is"},
        {"word tagged", "word", HD_TN_CARDINAL, "word tagged"},          /* does not fit: SELF */
        {"It costs $3.50 today", NULL, HD_TN_SELF, "It costs three dollars and fifty cents today"},
        {"room 99 on 5 March 2024", "99", HD_TN_DIGITS, "room nine nine on the fifth of March twenty twenty four"},
        {"year 12345", "12345", HD_TN_YEAR, "year twelve thousand three hundred forty five"},   /* no year: cardinal */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *s = tagged(t[i].text, t[i].which, t[i].tag);
        if (strcmp(s, t[i].spoken) != 0)
            fail_msg("\"%s\" with %s on \"%s\": \"%s\", expected \"%s\"", t[i].text, hd_tn_tag_name(t[i].tag),
                     t[i].which ? t[i].which : "-", s, t[i].spoken);
        free(s);
    }
    /* all SELF is the rule-based normaliser */
    const char *x = "Dr. Smith paid $20 on 5/6/2021 at 3:30 pm.";
    char *a = tagged(x, NULL, HD_TN_SELF), *b = hd_tn_normalize(x, strlen(x), NULL);
    assert_string_equal(a, b);
    free(a), free(b);
    hd_error err = {0};
    hd_tn_token bad = {.start = 5, .len = 10, .cat = HD_TN_CAT_LETTERS};
    uint8_t tg = HD_TN_LETTERS;
    assert_null(hd_tn_normalize_tagged("short", 5, &bad, 1, &tg, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

enum { NL = 7 };

static void test_stream_equals_whole(void **state) {
    (void)state;
    hd_error err = {0};
    hd_tn_model *m = hd_tn_model_load(g_path, &err);
    assert_non_null(m);
    const hd_tn_config *c = hd_tn_model_config(m);
    assert_int_equal(c->lookahead, 3);
    const char *text = "On 5/6/2021 Dr. Smith paid $20, then called 911 for NASA.";
    hd_tn_token *tk;
    int n;
    assert_int_equal(hd_tn_tokenize(text, strlen(text), &tk, &n, &err), HD_OK);
    tu_rng r;
    tu_rng_seed(&r, 2);
    float *emb = malloc((size_t)NL * c->n_llm * sizeof *emb);
    tu_fill_normal(&r, emb, (size_t)NL * c->n_llm, 1.0f);
    int32_t lch[NL] = {0, 1, 2, 3, 5, 6, 8};
    float *whole = malloc((size_t)n * c->n_tags * sizeof *whole), *inc = malloc((size_t)n * c->n_tags * sizeof *inc);
    uint8_t *tags = malloc((size_t)n);
    assert_int_equal(hd_tn_model_run(m, NULL, text, tk, n, NL, emb, lch, whole, tags, &err), HD_OK);
    for (int i = 0; i < n; i++) assert_true(tags[i] < HD_TN_N_TAGS);

    hd_tn_stream *s = hd_tn_stream_create(m, NL, &err);
    assert_non_null(s);
    int got = 0, l_added = 0, idx;
    for (int i = 0; i < n; i++) {
        while (l_added < NL && lch[l_added] <= tk[i].chunk) {
            assert_int_equal(hd_tn_stream_add_llm(s, 1, emb + (size_t)l_added * c->n_llm, &lch[l_added], &err), HD_OK);
            l_added++;
        }
        assert_int_equal(hd_tn_stream_push(s, text + tk[i].start, tk[i].len, tk[i].cat, tk[i].chunk, &err), HD_OK);
        int rr;
        while ((rr = hd_tn_stream_step(s, NULL, inc + (size_t)got * c->n_tags, &idx, &err)) == 1) assert_int_equal(idx, got++);
        assert_int_equal(rr, 0);
        assert_int_equal(got, i + 1 > 3 ? i + 1 - 3 : 0);   /* right context of 3 tokens */
    }
    hd_tn_stream_end(s);
    while (hd_tn_stream_step(s, NULL, inc + (size_t)got * c->n_tags, &idx, &err) == 1) got++;
    assert_int_equal(got, n);
    float e = tu_max_rel_err(inc, whole, (size_t)n * c->n_tags);
    print_message("TN streamed vs whole: max rel err %.3g over %d tokens\n", e, n);
    assert_true(e < 1e-5f);
    assert_int_equal(hd_tn_stream_push(s, "x", 1, HD_TN_CAT_LETTERS, 99, &err), HD_ERR_ARG);
    hd_tn_stream_free(s);

    /* right context: token j changes the logits of tokens j-3.. only */
    const int j = 11;   /* "Smith" */
    hd_tn_token *tk2 = malloc((size_t)n * sizeof *tk2);
    memcpy(tk2, tk, (size_t)n * sizeof *tk2);
    char *text2 = strdup(text);
    /* a letter run: change its first letter */
    assert_int_equal(tk[j].cat, HD_TN_CAT_LETTERS);
    text2[tk[j].start] = text2[tk[j].start] == 'q' ? 'z' : 'q';
    float *other = malloc((size_t)n * c->n_tags * sizeof *other);
    assert_int_equal(hd_tn_model_run(m, NULL, text2, tk2, n, NL, emb, lch, other, NULL, &err), HD_OK);
    for (int i = 0; i < n; i++) {
        float d = 0;
        for (int k = 0; k < c->n_tags; k++) d += fabsf(other[(size_t)i * c->n_tags + k] - whole[(size_t)i * c->n_tags + k]);
        if (i < j - 3) assert_true(d == 0.0f);
        else assert_true(d > 0.0f);
    }
    /* LM tokens: the last one (chunk 8) reaches only tokens whose newest token is in chunk >= 8 */
    for (int k = 0; k < c->n_llm; k++) emb[(size_t)(NL - 1) * c->n_llm + k] += 1.0f;
    assert_int_equal(hd_tn_model_run(m, NULL, text, tk, n, NL, emb, lch, other, NULL, &err), HD_OK);
    int changed = 0;
    for (int i = 0; i < n; i++) {
        int newest = i + 3 < n ? i + 3 : n - 1;
        float d = 0;
        for (int k = 0; k < c->n_tags; k++) d += fabsf(other[(size_t)i * c->n_tags + k] - whole[(size_t)i * c->n_tags + k]);
        if (tk[newest].chunk < 8) assert_true(d == 0.0f);
        else assert_true(d > 0.0f), changed++;
    }
    assert_true(changed > 0 && changed < n);
    free(other), free(text2), free(tk2);
    free(emb), free(whole), free(inc), free(tags), free(tk);
    hd_tn_model_free(m);
}

static void test_errors(void **state) {
    (void)state;
    hd_error err = {0};
    size_t size = 0;
    unsigned char *data = tu_read_file(g_path, &size);
    assert_non_null(data);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/tn-cut.gguf", tu_tmpdir());
    assert_int_equal(tu_write_file(bad, data, size - 100), 0);
    assert_null(hd_tn_model_load(bad, &err));
    assert_non_null(strstr(err.msg, "tn-cut.gguf"));
    free(data);
    hd_tn_model *m = hd_tn_model_load(g_path, &err);
    assert_non_null(m);
    hd_tn_token t[2] = {{.start = 0, .len = 1, .chunk = 1}, {.start = 1, .len = 1, .chunk = 0}};
    assert_int_equal(hd_tn_model_run(m, NULL, "ab", t, 2, 0, NULL, NULL, NULL, NULL, &err), HD_ERR_ARG);
    assert_null(hd_tn_stream_create(m, -1, &err));
    hd_tn_model_free(m);
    hd_tn_model_free(NULL);
    hd_tn_config c;
    assert_true(hd_tn_preset("base", &c));
    assert_int_equal(c.lookahead, 3);
    assert_false(hd_tn_preset("nope", &c));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_tagged_rules),
        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
