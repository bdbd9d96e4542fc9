/* tests/unit/test_transcribe.c — `herd transcribe` (the binary) against a
 * direct library computation, on a tiny random speech model:
 *
 *   signal = JFK + 1.5 s pause + a German sentence + 1 s (16 kHz WAV);
 *   herd transcribe -m sp.gguf --json -n 6 signal.wav  →  verbose JSON;
 *   direct: the segment node's boundaries (graph: file ! resample ! mel !
 *           segment), then per segment the whole-signal mel rows of its
 *           time range → hd_speech_model_embed → the ASR prompt
 *           (speech/speech_prompt.h) → greedy hd_generate of 6 tokens.
 *
 * Every segment the command wrote has exactly the boundaries of a segment
 * of the node, and its token ids and text are exactly the direct ones (the
 * model's random weights make the words meaningless, not the ids).
 * Segments whose answer decodes to blank text are not written (the text
 * sinks skip empty cues); the direct path says which those are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/graph.h"
#include "graph/parse.h"
#include "graph/registry.h"
#include "lm/generate.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "media/audio.h"
#include "media/wav.h"
#include "speech/mel.h"
#include "speech/speech_model.h"
#include "speech/speech_prompt.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_wav[512], g_sp[512];
static float *g_x;
static size_t g_n;

static void append_file(const char *rel) {
    char path[1024];
    float *x = NULL;
    size_t n = 0;
    hd_error err = {0};
    if (hd_audio_load(tu_fixture(path, sizeof path, rel), NULL, 60, &x, &n, &err)) fail_msg("%s", err.msg);
    g_x = realloc(g_x, (g_n + n) * sizeof(float));
    memcpy(g_x + g_n, x, n * sizeof(float));
    g_n += n;
    free(x);
}

static void append_silence(double s) {
    size_t n = (size_t)(s * 16000);
    g_x = realloc(g_x, (g_n + n) * sizeof(float));
    tu_rng r;
    tu_rng_seed(&r, g_n);
    for (size_t i = 0; i < n; i++) g_x[g_n + i] = 0.0001f * tu_rng_normal(&r);
    g_n += n;
}

static int setup(void **state) {
    (void)state;
    append_silence(0.5);
    append_file("audio/jfk.wav");
    append_silence(1.5);
    append_file("audio/speech_de.wav");
    append_silence(1.0);
    snprintf(g_wav, sizeof g_wav, "%s/talk.wav", tu_tmpdir());
    hd_error err = {0};
    if (hd_wav_write(g_wav, g_x, g_n, 16000, 1, HD_WAV_FLOAT32, &err)) fail_msg("%s", err.msg);
    char tokp[512];
    tu_fixture(tokp, sizeof tokp, "tokenizer/llama3_tokenizer.model");
    snprintf(g_sp, sizeof g_sp, "%s/sp.gguf", tu_tmpdir());
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = "speech";
    rp.preset = "tiny";
    rp.tokenizer = tokp;
    rp.n_threads = 1;
    if (hd_random_model_write(&rp, g_sp, &err)) fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(g_x);
    return 0;
}

/* ---- the segment node's boundaries ------------------------------------------------ */

static struct {
    int64_t pts[64], dur[64];
    int n;
} g_segs;

static hd_node_ret keep_process(hd_node *node, void *st, int port, hd_packet *in, hd_error *err) {
    (void)node, (void)st, (void)port, (void)err;
    if (g_segs.n < 64) {
        g_segs.pts[g_segs.n] = in->pts;
        g_segs.dur[g_segs.n++] = in->duration;
    }
    return HD_NODE_OK;
}
static const hd_port_def keep_in[] = {{"in", HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_node_type keep_type = {
    .name = "keep", .summary = "test", .inputs = keep_in, .n_inputs = 1, .process = keep_process,
};

static void node_segments(void) {
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    assert_int_equal(hd_registry_add(reg, &keep_type, &err), HD_OK);
    char desc[1024];
    snprintf(desc, sizeof desc, "file:%s ! resample rate=16000 channels=1 ! mel ! segment ! keep", g_wav);
    hd_graph *g = hd_graph_create(NULL, &err);
    int off = 0;
    g_segs.n = 0;
    if (hd_pipeline_build(desc, reg, g, &off, &err) || hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    hd_registry_free(reg);
}

/* ---- the direct computation ------------------------------------------------------- */

typedef struct ids_acc {
    int32_t ids[64];
    int n;
} ids_acc;

static bool acc_token(void *u, int32_t tk, const char *t, size_t l) {
    (void)t, (void)l;
    ids_acc *a = u;
    if (tk >= 0 && a->n < 64) a->ids[a->n++] = tk;
    return true;
}

static void trim(char *s) {
    size_t a = 0, n = strlen(s);
    while (a < n && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t' || s[a] == '\r')) a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
}

static void test_transcribe_equals_direct(void **state) {
    (void)state;
    node_segments();
    assert_true(g_segs.n >= 2);   /* at least JFK and the German sentence */

    char out[600], cmd[2048];
    snprintf(out, sizeof out, "%s/talk.json", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' transcribe -m '%s' -t 1 -n 6 --json --quiet '%s' > '%s'", HERD_BINARY, g_sp, g_wav,
             out);
    assert_int_equal(system(cmd), 0);
    size_t len = 0;
    char *js = tu_read_file(out, &len);
    assert_non_null(js);
    js = realloc(js, len + 1);
    js[len] = 0;
    cJSON *root = cJSON_Parse(js);
    if (!root) fail_msg("not JSON: %s", js);
    assert_string_equal(cJSON_GetObjectItem(root, "task")->valuestring, "transcribe");
    cJSON *segs = cJSON_GetObjectItem(root, "segments");

    /* the direct path for every node segment */
    hd_error err = {0};
    hd_speech_model *m = hd_speech_model_load(g_sp, NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    const hd_tokenizer *tok = hd_speech_model_tokenizer(m);
    hd_mel_params mp = hd_speech_model_mel_params(m);
    float *mel = NULL;
    int64_t nf = 0;
    assert_int_equal(hd_mel_compute(&mp, g_x, g_n, &mel, &nf, &err), HD_OK);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 1;
    hd_llama_context *ctx = hd_llama_context_create(hd_speech_model_lm(m), &cp, &err);
    assert_non_null(ctx);
    int written = 0, json_i = 0;
    for (int s = 0; s < g_segs.n; s++) {
        int64_t r0 = g_segs.pts[s] / 10000, nr = g_segs.dur[s] / 10000;
        assert_true(r0 + nr <= nf);
        float *rows = NULL;
        int64_t n_rows = 0;
        assert_int_equal(hd_speech_model_embed(m, NULL, mel + r0 * mp.n_mel, nr, &rows, &n_rows, &err), HD_OK);
        hd_tokens ids = {0};
        hd_speech_prompt pr = {.task = HD_SPEECH_ASR, .language = "English", .begin_id = hd_speech_model_begin_token(m),
                               .end_id = hd_speech_model_end_token(m), .n_audio = n_rows};
        assert_int_equal(hd_speech_prompt_encode(tok, &pr, &ids, NULL, &err), HD_OK);
        assert_int_equal(hd_llama_rewind(ctx, 0, &err), HD_OK);
        hd_generate_params gp = hd_generate_default_params();
        gp.n_predict = 6;
        gp.sampling.temp = 0;
        gp.prompt_embd = rows;
        ids_acc acc = {.n = 0};
        gp.on_token = acc_token;
        gp.user = &acc;
        hd_generate_result res;
        if (hd_generate(ctx, tok, ids.ids, (int64_t)ids.n, &gp, &res, &err)) fail_msg("%s", err.msg);
        hd_tokens_free(&ids);
        free(rows);
        char text[1024];
        size_t tl = 0;
        assert_int_equal(hd_tokenizer_decode(tok, acc.ids, (size_t)acc.n, 0, text, sizeof text - 1, &tl, &err), HD_OK);
        text[tl] = 0;
        trim(text);
        if (!text[0]) continue;   /* a blank answer: no cue */
        /* the command's next segment is this one */
        cJSON *j = cJSON_GetArrayItem(segs, json_i++);
        if (!j) fail_msg("segment %d (%.2f s) missing from the output", s, g_segs.pts[s] / 1e6);
        double start = cJSON_GetObjectItem(j, "start")->valuedouble, end = cJSON_GetObjectItem(j, "end")->valuedouble;
        assert_int_equal((int64_t)(start * 1000 + 0.5), g_segs.pts[s] / 1000);
        assert_int_equal((int64_t)(end * 1000 + 0.5), (g_segs.pts[s] + g_segs.dur[s]) / 1000);
        assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, text);
        cJSON *tk = cJSON_GetObjectItem(j, "tokens");
        assert_int_equal(cJSON_GetArraySize(tk), acc.n);
        for (int i = 0; i < acc.n; i++) assert_int_equal(cJSON_GetArrayItem(tk, i)->valueint, acc.ids[i]);
        written++;
    }
    print_message("%d segments, %d with text, all equal to the direct computation\n", g_segs.n, written);
    assert_int_equal(cJSON_GetArraySize(segs), written);
    assert_true(written >= 1);
    hd_llama_context_free(ctx);
    hd_speech_model_free(m);
    free(mel);
    cJSON_Delete(root);
    free(js);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transcribe_equals_direct),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
