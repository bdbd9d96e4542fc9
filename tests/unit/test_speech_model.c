/* tests/unit/test_speech_model.c — speech/speech_model and
 * `random-model --arch speech`: the two files and their keys, the bundle
 * loaded through speech.lm_file, each file loadable by the plain component
 * loaders (conformer, adapter, lm/llama.c unchanged), the embedding rows
 * fed through hd_llama_decode_embd, dry runs and preset errors, and load
 * errors (missing LM, LM without the speech ids, a speech.lm_file that
 * leaves the directory, a missing token key, truncated files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/random_model.h"
#include "speech/speech_model.h"
#include "speech/speech_prompt.h"
#include "testutil.h"

static char g_speech[512], g_lm[512], g_tokpath[512];

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static hd_status write_model(const char *arch, const char *preset, const char *tok, int64_t vocab, bool dry,
                             const char *path, hd_error *err) {
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = arch, p.preset = preset, p.tokenizer = tok, p.n_vocab = vocab, p.seed = 2, p.n_threads = 1;
    p.dry_run = dry;
    return hd_random_model_write(&p, path, err);
}

static int setup(void **state) {
    (void)state;
    hd_error err = {0};
    tu_fixture(g_tokpath, sizeof g_tokpath, "tokenizer/llama3_tokenizer.model");
    tmp_path(g_speech, sizeof g_speech, "tiny.gguf");
    tmp_path(g_lm, sizeof g_lm, "tiny-lm.gguf");
    if (write_model("speech", "tiny", g_tokpath, 0, false, g_speech, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void test_files(void **state) {
    (void)state;
    hd_error err = {0};
    hd_gguf *g = hd_gguf_open(g_speech, &err);
    assert_non_null(g);
    const char *s;
    size_t n;
    uint32_t v;
    assert_true(hd_gguf_get_str(g, "general.architecture", &s, &n));
    assert_memory_equal(s, "conformer", 9);
    assert_true(hd_gguf_get_str(g, "speech.lm_file", &s, &n));
    assert_int_equal(n, strlen("tiny-lm.gguf"));
    assert_memory_equal(s, "tiny-lm.gguf", n);
    assert_true(hd_gguf_get_u32(g, "speech.begin_token_id", &v));
    assert_int_equal(v, HD_SPEECH_BEGIN_TOKEN);
    assert_true(hd_gguf_get_u32(g, "speech.end_token_id", &v));
    assert_int_equal(v, HD_SPEECH_END_TOKEN);
    assert_true(hd_gguf_get_u32(g, "speech_adapter.output_length", &v));
    assert_int_equal(v, 64);
    assert_true(hd_gguf_find_tensor(g, "adp.conv.weight") >= 0);
    assert_true(hd_gguf_find_tensor(g, "enc.blk.1.norm.weight") >= 0);
    assert_true(hd_gguf_find_tensor(g, "token_embd.weight") < 0);   /* the LM is in its own file */
    hd_gguf_close(g);
    /* every part loads with its own loader, unchanged */
    hd_conformer *enc = hd_conformer_load(g_speech, &err);
    assert_non_null(enc);
    hd_conformer_free(enc);
    hd_speech_adapter *adp = hd_speech_adapter_load(g_speech, &err);
    assert_non_null(adp);
    hd_speech_adapter_free(adp);
    hd_llama_model *lm = hd_llama_load(g_lm, &err);
    assert_non_null(lm);
    assert_int_equal(lm->cfg.n_embd, 64);
    assert_int_equal(lm->cfg.n_vocab, 128256);
    hd_llama_free(lm);
}

static void test_bundle(void **state) {
    (void)state;
    hd_error err = {0};
    hd_speech_model *m = hd_speech_model_load(g_speech, NULL, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    assert_string_equal(hd_speech_model_lm_path(m), g_lm);
    assert_string_equal(hd_speech_model_path(m), g_speech);
    assert_non_null(hd_speech_model_lm(m));
    const hd_tokenizer *tok = hd_speech_model_tokenizer(m);
    assert_non_null(tok);
    assert_int_equal(hd_speech_model_begin_token(m), 128002);
    assert_int_equal(hd_speech_model_end_token(m), 128003);
    const hd_mel_params mp = hd_speech_model_mel_params(m);
    assert_int_equal(mp.n_mel, 80);
    assert_int_equal(mp.hop, 160);
    /* 103 mel frames → 25 encoder frames → 13 rows of 64 */
    assert_int_equal(hd_speech_model_n_rows(m, 103), 13);
    assert_int_equal(hd_speech_model_n_rows(m, 3), 0);
    tu_rng r;
    tu_rng_seed(&r, 4);
    float mel[103 * 80];
    tu_fill_normal(&r, mel, 103 * 80, 3.0f);
    float *rows = NULL;
    int64_t n_rows = 0;
    assert_int_equal(hd_speech_model_embed(m, NULL, mel, 103, &rows, &n_rows, &err), HD_OK);
    assert_int_equal(n_rows, 13);
    for (int64_t i = 0; i < 13 * 64; i++) assert_true(isfinite(rows[i]));
    /* too short for one row: no rows, no error */
    float *none = (float *)1;
    int64_t n_none = 5;
    assert_int_equal(hd_speech_model_embed(m, NULL, mel, 3, &none, &n_none, &err), HD_OK);
    assert_null(none);
    assert_int_equal(n_none, 0);

    /* the rows as LM input: the prompt's logits depend on the audio */
    hd_tokens ids = {0};
    const hd_speech_prompt sp = {.task = HD_SPEECH_ASR, .language = "fr", .begin_id = 128002, .end_id = 128003,
                                 .n_audio = n_rows};
    assert_int_equal(hd_speech_prompt_encode(tok, &sp, &ids, NULL, &err), HD_OK);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = 128, cp.n_threads = 1;
    hd_llama_context *ctx = hd_llama_context_create(hd_speech_model_lm(m), &cp, &err);
    assert_non_null(ctx);
    const int64_t V = hd_speech_model_lm(m)->cfg.n_vocab;
    float *l1 = malloc((size_t)V * sizeof *l1);
    assert_int_equal(hd_llama_decode_embd(ctx, ids.ids, rows, (int64_t)ids.n, &err), HD_OK);
    memcpy(l1, hd_llama_logits(ctx), (size_t)V * sizeof *l1);
    assert_int_equal(hd_llama_rewind(ctx, 0, &err), HD_OK);
    rows[5] += 1.0f;
    assert_int_equal(hd_llama_decode_embd(ctx, ids.ids, rows, (int64_t)ids.n, &err), HD_OK);
    assert_true(memcmp(l1, hd_llama_logits(ctx), (size_t)V * sizeof *l1) != 0);
    /* the placeholders need rows */
    assert_int_equal(hd_llama_rewind(ctx, 0, &err), HD_OK);
    assert_int_not_equal(hd_llama_decode_embd(ctx, ids.ids, NULL, (int64_t)ids.n, &err), HD_OK);
    free(l1);
    hd_llama_context_free(ctx);
    hd_tokens_free(&ids);
    free(rows);
    hd_speech_model_free(m);
    hd_speech_model_free(NULL);

    /* encoder + adapter only */
    hd_speech_model_params p = hd_speech_model_default_params();
    p.no_lm = true;
    m = hd_speech_model_load(g_speech, &p, &err);
    assert_non_null(m);
    assert_null(hd_speech_model_lm(m));
    assert_null(hd_speech_model_tokenizer(m));
    assert_null(hd_speech_model_lm_path(m));
    hd_speech_model_free(m);
}

/* A copy of the speech file with the first occurrence of `from` replaced by
 * `to` (same length) in its header. */
static void patched_copy(const char *path, const char *from, const char *to) {
    size_t n = 0;
    char *d = tu_read_file(g_speech, &n);
    assert_non_null(d);
    const size_t k = strlen(from);
    assert_int_equal(strlen(to), k);
    char *hit = NULL;
    for (size_t i = 0; i + k <= n && !hit; i++)
        if (memcmp(d + i, from, k) == 0) hit = d + i;
    assert_non_null(hit);
    memcpy(hit, to, k);
    assert_int_equal(tu_write_file(path, d, n), 0);
    free(d);
}

static void test_load_errors(void **state) {
    (void)state;
    hd_error err = {0};
    char path[512], other[512];
    hd_speech_model_params p = hd_speech_model_default_params();
    /* an LM file that does not exist is named */
    p.lm_path = "/nonexistent/lm.gguf";
    assert_null(hd_speech_model_load(g_speech, &p, &err));
    assert_non_null(strstr(err.msg, "/nonexistent/lm.gguf"));
    /* an LM without rows for the speech tokens */
    tmp_path(other, sizeof other, "small-vocab.gguf");
    assert_int_equal(write_model("llama", "tiny-vocab", NULL, 0, false, other, &err), HD_OK);
    p.lm_path = other;
    assert_null(hd_speech_model_load(g_speech, &p, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    /* speech.lm_file may not leave the directory */
    tmp_path(path, sizeof path, "escape.gguf");
    patched_copy(path, "tiny-lm.gguf", "../x-lm.gguf");
    assert_null(hd_speech_model_load(path, NULL, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "speech.lm_file"));
    assert_non_null(strstr(err.msg, "escape.gguf"));
    /* the token ids are required */
    tmp_path(path, sizeof path, "no-begin.gguf");
    patched_copy(path, "speech.begin_token_id", "speech.begin_tokXn_id");
    assert_null(hd_speech_model_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "speech.begin_token_id is missing"));
    /* a plain conformer file is not a speech model */
    tmp_path(path, sizeof path, "conformer.gguf");
    assert_int_equal(write_model("conformer", "tiny", NULL, 0, false, path, &err), HD_OK);
    assert_null(hd_speech_model_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "speech_adapter."));
    /* an LM that is not a speech file */
    assert_null(hd_speech_model_load(g_lm, NULL, &err));
    assert_non_null(strstr(err.msg, "conformer"));
    assert_null(hd_speech_model_load("", NULL, &err));
    /* a truncated speech file is an error naming it, not a crash */
    size_t n = 0;
    char *d = tu_read_file(g_speech, &n);
    assert_non_null(d);
    tmp_path(path, sizeof path, "truncated.gguf");
    for (size_t cut = 16; cut < n; cut = cut * 4 + 1) {
        assert_int_equal(tu_write_file(path, d, cut), 0);
        assert_null(hd_speech_model_load(path, NULL, &err));
        assert_non_null(strstr(err.msg, "truncated.gguf"));
    }
    free(d);
}

typedef struct seen {
    char paths[4][512];
    int n;
} seen;

static void on_file(void *ctx, const char *path, int n_tensors, uint64_t bytes) {
    seen *s = ctx;
    (void)n_tensors, (void)bytes;
    if (s->n < 4) snprintf(s->paths[s->n], sizeof s->paths[0], "%s", path);
    s->n++;
}

static void test_random_model(void **state) {
    (void)state;
    hd_error err = {0};
    char path[512];
    /* dry run of the 8B pairing: two files, nothing written */
    hd_random_model_params p = hd_random_model_default_params();
    seen s = {0};
    p.arch = "speech", p.preset = "paper-1b+llama-3.1-8b", p.type = HD_TYPE_BF16, p.dry_run = true;
    p.file_done = on_file, p.progress_ctx = &s, p.n_threads = 1;
    tmp_path(path, sizeof path, "paper.gguf");
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.paths[0], path);
    assert_non_null(strstr(s.paths[1], "paper-lm.gguf"));
    FILE *f = fopen(path, "rb");
    assert_null(f);
    /* the plain paper preset has no LM */
    s.n = 0, p.preset = "paper-1b";
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    assert_int_equal(s.n, 1);
    s.n = 0, p.preset = "small";   /* the benchmark's small model: no LM either */
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    assert_int_equal(s.n, 1);
    const char *const *names = hd_random_model_preset_names("speech");
    assert_non_null(names);
    assert_string_equal(names[0], "tiny");
    /* errors */
    assert_int_equal(write_model("speech", "paper-2b", NULL, 0, true, path, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "paper-1b+llama-3.1-8b"));
    assert_int_equal(write_model("speech", "paper-1b+llama-9", NULL, 0, true, path, &err), HD_ERR_ARG);
    assert_int_equal(write_model("speech", "paper-1b", g_tokpath, 0, true, path, &err), HD_ERR_ARG);
    assert_int_equal(write_model("speech", "tiny", NULL, 1000, true, path, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "vocabulary rows"));
    p.preset = "tiny", p.format = HD_RM_HF, p.file_done = NULL;
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_ARG);
    p.format = HD_RM_GGUF, p.type = HD_TYPE_Q4_K;   /* rows of 64 cannot hold Q4_K blocks */
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_bundle),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
