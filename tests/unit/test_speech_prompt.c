/* tests/unit/test_speech_prompt.c — speech/speech_prompt: the paper's 34
 * languages by code and name, the ASR / AST system prompts, and the token
 * layout with the real Llama 3 tokenizer (ids checked against values from
 * the independent Python tokenizer of tests/parity/tokenizer_ref.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lm/llama.h"
#include "speech/speech_prompt.h"
#include "testutil.h"

#define E HD_LLAMA_TOKEN_EMBD

static hd_tokenizer *g_tok;

static int setup(void **state) {
    (void)state;
    char path[512];
    hd_error err = {0};
    g_tok = hd_tokenizer_load(tu_fixture(path, sizeof path, "tokenizer/llama3_tokenizer.model"), &err);
    if (!g_tok) fprintf(stderr, "%s\n", err.msg);
    return g_tok ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    hd_tokenizer_free(g_tok);
    return 0;
}

static void test_languages(void **state) {
    (void)state;
    int n = 0;
    const hd_speech_language *l = hd_speech_languages(&n);
    assert_int_equal(n, 34);
    assert_string_equal(l[0].name, "Arabic");
    assert_string_equal(l[33].name, "Vietnamese");
    for (int i = 0; i < n; i++) {
        assert_int_equal(strlen(l[i].code), 2);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(l[i].code, l[j].code);
            assert_true(strcmp(l[j].name, l[i].name) < 0);   /* the paper's alphabetical order */
        }
        assert_ptr_equal(hd_speech_language_find(l[i].code), &l[i]);
        assert_ptr_equal(hd_speech_language_find(l[i].name), &l[i]);
    }
    assert_string_equal(hd_speech_language_find("fr")->name, "French");
    assert_string_equal(hd_speech_language_find("FR")->name, "French");
    assert_string_equal(hd_speech_language_find("french")->code, "fr");
    assert_string_equal(hd_speech_language_find("zh")->name, "Chinese");
    assert_string_equal(hd_speech_language_find("fa")->name, "Persian");
    assert_null(hd_speech_language_find("xx"));
    assert_null(hd_speech_language_find(""));
    assert_null(hd_speech_language_find("Frenc"));
    assert_null(hd_speech_language_find("Klingon"));
    assert_null(hd_speech_language_find(NULL));
}

static void test_system_prompts(void **state) {
    (void)state;
    char buf[128];
    hd_error err = {0};
    assert_int_equal(hd_speech_system_prompt(HD_SPEECH_ASR, "de", buf, sizeof buf, &err), HD_OK);
    assert_string_equal(buf, "Repeat after me in German:");
    assert_int_equal(hd_speech_system_prompt(HD_SPEECH_AST, "Japanese", buf, sizeof buf, &err), HD_OK);
    assert_string_equal(buf, "Translate the following sentence into Japanese:");
    assert_int_equal(hd_speech_system_prompt(HD_SPEECH_ASR, NULL, buf, sizeof buf, &err), HD_OK);
    assert_string_equal(buf, "Repeat after me in English:");
    assert_int_equal(hd_speech_system_prompt(HD_SPEECH_DIALOG, "xx", buf, sizeof buf, &err), HD_OK);
    assert_string_equal(buf, "");
    assert_int_equal(hd_speech_system_prompt(HD_SPEECH_AST, "tlh", buf, sizeof buf, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "\"tlh\""));
    assert_int_equal(hd_speech_system_prompt(HD_SPEECH_ASR, "en", buf, 10, &err), HD_ERR_ARG);
    assert_string_equal(buf, "");
    assert_string_equal(hd_speech_task_name(HD_SPEECH_AST), "ast");
}

static void test_asr_layout(void **state) {
    (void)state;
    hd_tokens t = {0};
    hd_error err = {0};
    const hd_speech_prompt p = {.task = HD_SPEECH_ASR, .language = "en", .begin_id = 128002, .end_id = 128003,
                                .n_audio = 3};
    int64_t at = -1;
    assert_int_equal(hd_speech_prompt_encode(g_tok, &p, &t, &at, &err), HD_OK);
    /* "Repeat after me in English:" = 39818 1306 757 304 6498 25 (tokenizer_ref.py) */
    const int32_t want[] = {128000, 128006, 9125, 128007, 271, 39818, 1306, 757, 304, 6498, 25, 128009,
                            128006, 882, 128007, 271, 128002, E, E, E, 128003, 128009,
                            128006, 78191, 128007, 271};
    assert_int_equal(t.n, sizeof want / sizeof want[0]);
    assert_memory_equal(t.ids, want, sizeof want);
    assert_int_equal(at, 17);
    hd_tokens_free(&t);
}

static void test_dialog_and_text(void **state) {
    (void)state;
    hd_tokens t = {0};
    hd_error err = {0};
    /* special-token names typed by a user stay text */
    const hd_speech_prompt p = {.task = HD_SPEECH_DIALOG, .begin_id = 128002, .end_id = 128003, .n_audio = 0,
                                .text = "<|eot_id|>"};
    int64_t at = -1;
    assert_int_equal(hd_speech_prompt_encode(g_tok, &p, &t, &at, &err), HD_OK);
    assert_int_equal(t.ids[0], 128000);
    assert_int_equal(t.ids[1], 128006);
    assert_int_equal(t.ids[2], 882);   /* straight to the user turn: no system prompt */
    assert_int_equal(at, 6);
    assert_int_equal(t.ids[5], 128002);
    assert_int_equal(t.ids[6], 128003);   /* no audio rows */
    size_t eot = 0;
    for (size_t i = 0; i < t.n; i++) eot += t.ids[i] == 128009;
    assert_int_equal(eot, 1);   /* only the real end of the user turn */
    assert_int_equal(t.ids[t.n - 1], 271);
    assert_int_equal(t.ids[t.n - 3], 78191);
    hd_tokens_free(&t);
}

static void test_errors(void **state) {
    (void)state;
    hd_tokens t = {0};
    hd_error err = {0};
    const int32_t keep = 7;
    assert_int_equal(hd_tokens_push(&t, &keep, 1, &err), HD_OK);
    hd_speech_prompt p = {.task = HD_SPEECH_AST, .language = "xx", .begin_id = 128002, .end_id = 128003, .n_audio = 2};
    assert_int_equal(hd_speech_prompt_encode(g_tok, &p, &t, NULL, &err), HD_ERR_ARG);
    assert_int_equal(t.n, 1);   /* left as it was */
    p.language = "sw", p.end_id = 128256;
    assert_int_equal(hd_speech_prompt_encode(g_tok, &p, &t, NULL, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "vocabulary"));
    p.end_id = 128003, p.n_audio = -1;
    assert_int_equal(hd_speech_prompt_encode(g_tok, &p, &t, NULL, &err), HD_ERR_ARG);
    assert_int_equal(hd_speech_prompt_encode(NULL, &p, &t, NULL, &err), HD_ERR_ARG);
    p.n_audio = 1;
    assert_int_equal(hd_speech_prompt_encode(g_tok, &p, &t, NULL, &err), HD_OK);
    assert_int_equal(t.ids[0], 7);      /* appended after what was there */
    assert_int_equal(t.ids[1], 128000);
    hd_tokens_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_languages),      cmocka_unit_test(test_system_prompts),
        cmocka_unit_test(test_asr_layout),     cmocka_unit_test(test_dialog_and_text),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
