/* tests/unit/test_audio_lm.c — `herd transcribe` / `herd translate` on the
 * published speech-LLM checkpoints (Granite Speech, Ultravox; tiny random
 * weights in their Hugging Face layouts) against a direct library
 * computation:
 *
 *   signal = JFK + 1.5 s pause + a German sentence + 1 s (16 kHz WAV);
 *   herd transcribe|translate -m DIR --json -n 6 signal.wav  →  verbose JSON;
 *   direct: the segment node's boundaries (graph: file ! resample ! segment),
 *           then per segment its samples → hd_audio_lm_embed → the family's
 *           prompt (hd_audio_lm_prompt) → greedy hd_generate of 6 tokens.
 *
 * The graph's answer for every segment (token ids, taken from the llama
 * node's tokens port: blank answers included — tiny random LMs often repeat
 * a whitespace or special token) has the segment's time span and exactly the
 * direct ids.  The command writes every format; the folder converted with
 * `herd convert` transcribes to the same JSON; bad paths fail with one line. */
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
#include "speech/audio_lm.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_wav[512];
static uint64_t g_seed = 1;
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
    if (getenv("HERD_TEST_SEED")) g_seed = strtoull(getenv("HERD_TEST_SEED"), NULL, 10);
    append_silence(0.5);
    append_file("audio/jfk.wav");
    append_silence(1.5);
    append_file("audio/speech_de.wav");
    append_silence(1.0);
    snprintf(g_wav, sizeof g_wav, "%s/talk.wav", tu_tmpdir());
    hd_error err = {0};
    if (hd_wav_write(g_wav, g_x, g_n, 16000, 1, HD_WAV_FLOAT32, &err)) fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(g_x);
    return 0;
}

/* Writes the tiny random checkpoint of arch as an HF folder; returns its path. */
static const char *write_model(const char *arch, char *dir, size_t cap) {
    char tokp[512];
    tu_fixture(tokp, sizeof tokp, "tokenizer/tokenizer.json");
    snprintf(dir, cap, "%s/%s", tu_tmpdir(), arch);
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = arch;
    rp.preset = "tiny";
    rp.seed = g_seed;
    if (!strcmp(arch, "ultravox")) rp.tokenizer = tokp;   /* its LM is a Llama 3 (granite writes its own) */
    rp.format = HD_RM_HF;
    rp.n_threads = 1;
    hd_error err = {0};
    if (hd_random_model_write(&rp, dir, &err)) fail_msg("%s", err.msg);
    return dir;
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
static const hd_port_def keep_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_node_type keep_type = {
    .name = "keep", .summary = "test", .inputs = keep_in, .n_inputs = 1, .process = keep_process,
};

static void node_segments(void) {
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    assert_int_equal(hd_registry_add(reg, &keep_type, &err), HD_OK);
    char desc[1024];
    snprintf(desc, sizeof desc, "file:%s ! resample rate=16000 channels=1 ! segment ! keep", g_wav);
    hd_graph *g = hd_graph_create(NULL, &err);
    int off = 0;
    g_segs.n = 0;
    if (hd_pipeline_build(desc, reg, g, &off, &err) || hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    hd_registry_free(reg);
}

/* ---- the transcription graph's answers (every segment, blank text or not) ------------ */

static struct {
    int64_t pts[64], dur[64];
    int32_t ids[64][64];
    int n_ids[64];
    int n;
} g_ans;

static hd_node_ret ans_process(hd_node *node, void *st, int port, hd_packet *in, hd_error *err) {
    (void)node, (void)st, (void)port, (void)err;
    if (g_ans.n < 64) {
        g_ans.pts[g_ans.n] = in->pts;
        g_ans.dur[g_ans.n] = in->duration;
        const int64_t n = in->u.tokens.n < 64 ? in->u.tokens.n : 64;
        memcpy(g_ans.ids[g_ans.n], in->u.tokens.ids, (size_t)n * sizeof(int32_t));
        g_ans.n_ids[g_ans.n++] = (int)n;
    }
    return HD_NODE_OK;
}
static const hd_port_def ans_in[] = {{"in", HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_node_type ans_type = {
    .name = "answers", .summary = "test", .inputs = ans_in, .n_inputs = 1, .process = ans_process,
};

static void graph_answers(const char *model, bool translate) {
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    assert_int_equal(hd_registry_add(reg, &ans_type, &err), HD_OK);
    char desc[2048];
    snprintf(desc, sizeof desc,
             "file:%s ! resample rate=16000 channels=1 ! segment ! audio-encoder model=%s ! "
             "llama name=lm model=%s task=%s to=de n=6 ! null  lm.tokens ! answers",
             g_wav, model, model, translate ? "translate" : "transcribe");
    hd_graph *g = hd_graph_create(NULL, &err);
    int off = 0;
    g_ans.n = 0;
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

static cJSON *run_json(const char *cmd_name, const char *model, const char *extra, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s -m '%s' %s -t 1 -n 6 --json --quiet '%s' > '%s'", HERD_BINARY, cmd_name, model,
             extra, g_wav, out);
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
    size_t len = 0;
    char *js = tu_read_file(out, &len);
    assert_non_null(js);
    js = realloc(js, len + 1);
    js[len] = 0;
    cJSON *root = cJSON_Parse(js);
    if (!root) fail_msg("not JSON: %s", js);
    free(js);
    return root;
}

/* The command's segments equal the direct computation for every node segment. */
static void check_family(const char *arch, hd_audio_lm_family want, bool translate) {
    char dir[512], out[600];
    write_model(arch, dir, sizeof dir);
    hd_audio_lm_family fam;
    hd_error err = {0};
    assert_int_equal(hd_audio_lm_detect(dir, &fam, &err), HD_OK);
    assert_int_equal(fam, want);
    node_segments();
    assert_true(g_segs.n >= 2);   /* at least JFK and the German sentence */

    /* the graph: one answer per node segment */
    graph_answers(dir, translate);
    assert_int_equal(g_ans.n, g_segs.n);

    hd_audio_lm *m = hd_audio_lm_load(dir, NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(hd_audio_lm_family_of(m), want);
    const hd_tokenizer *tok = hd_audio_lm_tokenizer(m);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 1;
    hd_llama_context *ctx = hd_llama_context_create(hd_audio_lm_lm(m), &cp, &err);
    assert_non_null(ctx);
    for (int s = 0; s < g_segs.n; s++) {
        const int64_t s0 = g_segs.pts[s] * 16000 / 1000000, ns = g_segs.dur[s] * 16000 / 1000000;
        assert_true(s0 + ns <= (int64_t)g_n);
        float *rows = NULL;
        int64_t n_rows = 0;
        if (hd_audio_lm_embed(m, NULL, g_x + s0, ns, &rows, &n_rows, &err)) fail_msg("%s", err.msg);
        assert_int_equal(n_rows, hd_audio_lm_n_rows(m, ns));
        hd_tokens ids = {0};
        hd_audio_prompt pr = {.task = translate ? HD_SPEECH_AST : HD_SPEECH_ASR, .language = translate ? "de" : "English",
                              .n_audio = n_rows};
        int64_t at = -1;
        assert_int_equal(hd_audio_lm_prompt(m, &pr, &ids, &at, &err), HD_OK);
        assert_true(at >= 0 && at + n_rows <= (int64_t)ids.n);
        for (int64_t i = 0; i < n_rows; i++) assert_int_equal(ids.ids[at + i], HD_LLAMA_TOKEN_EMBD);
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
        /* the graph's answer for this segment: same time span, same ids */
        assert_int_equal(g_ans.pts[s], g_segs.pts[s]);
        assert_int_equal(g_ans.dur[s], g_segs.dur[s]);
        assert_int_equal(g_ans.n_ids[s], acc.n);
        for (int i = 0; i < acc.n; i++) assert_int_equal(g_ans.ids[s][i], acc.ids[i]);
        print_message("  segment %d (%.2f s, %lld audio rows): %d ids equal, first %d\n", s, g_segs.pts[s] / 1e6,
                      (long long)n_rows, acc.n, acc.n ? acc.ids[0] : -1);
    }
    hd_llama_context_free(ctx);
    hd_audio_lm_free(m);

    /* the command: every format runs; --json is valid and inside the audio */
    snprintf(out, sizeof out, "%s/%s.json", tu_tmpdir(), arch);
    cJSON *root = run_json(translate ? "translate" : "transcribe", dir, translate ? "--to de" : "", out);
    assert_string_equal(cJSON_GetObjectItem(root, "task")->valuestring, translate ? "translate" : "transcribe");
    cJSON *segs = cJSON_GetObjectItem(root, "segments");
    assert_true(cJSON_IsArray(segs));
    for (int i = 0; i < cJSON_GetArraySize(segs); i++) {
        cJSON *j = cJSON_GetArrayItem(segs, i);
        assert_true(cJSON_GetObjectItem(j, "end")->valuedouble <= g_n / 16000.0 + 0.01);
    }
    const char *fmts[] = {"txt", "srt", "vtt", "json"};
    for (int f = 0; f < 4; f++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' %s -m '%s' -t 1 -n 4 --quiet --format %s '%s' -o '%s/out.%s'", HERD_BINARY,
                 translate ? "translate" : "transcribe", dir, fmts[f], g_wav, tu_tmpdir(), fmts[f]);
        if (system(cmd) != 0) fail_msg("failed: %s", cmd);
    }

    /* the converted files: the same answers */
    char gguf[600], out2[600], cmd[2048];
    snprintf(gguf, sizeof gguf, "%s/%s.gguf", tu_tmpdir(), arch);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --type F32 --quiet", HERD_BINARY, dir, gguf);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hd_audio_lm_detect(gguf, &fam, &err), HD_OK);
    if (fam != want) fail_msg("%s: herd convert's output is not detected as %s", gguf, arch);
    /* token for token the folder's answers */
    int n_ans = g_ans.n, n_ids[64];
    int32_t ids0[64][64];
    memcpy(n_ids, g_ans.n_ids, sizeof n_ids);
    memcpy(ids0, g_ans.ids, sizeof ids0);
    graph_answers(gguf, translate);
    assert_int_equal(g_ans.n, n_ans);
    for (int a = 0; a < n_ans; a++) {
        assert_int_equal(g_ans.n_ids[a], n_ids[a]);
        for (int i = 0; i < n_ids[a]; i++) assert_int_equal(g_ans.ids[a][i], ids0[a][i]);
    }
    snprintf(out2, sizeof out2, "%s/%s.gguf.json", tu_tmpdir(), arch);
    cJSON *root2 = run_json(translate ? "translate" : "transcribe", gguf, translate ? "--to de" : "", out2);
    char *a = cJSON_PrintUnformatted(root), *b = cJSON_PrintUnformatted(root2);
    assert_string_equal(a, b);
    free(a), free(b);
    cJSON_Delete(root2);
    cJSON_Delete(root);
}

static void test_granite_transcribe(void **state) {
    (void)state;
    check_family("granite-speech", HD_AUDIO_LM_GRANITE, false);
}
static void test_granite_translate(void **state) {
    (void)state;
    check_family("granite-speech", HD_AUDIO_LM_GRANITE, true);
}
static void test_ultravox_transcribe(void **state) {
    (void)state;
    check_family("ultravox", HD_AUDIO_LM_ULTRAVOX, false);
}
static void test_ultravox_translate(void **state) {
    (void)state;
    check_family("ultravox", HD_AUDIO_LM_ULTRAVOX, true);
}

static void test_bad_paths(void **state) {
    (void)state;
    hd_error err = {0};
    hd_audio_lm_family fam = HD_AUDIO_LM_GRANITE;
    assert_int_equal(hd_audio_lm_detect("/nonexistent/granite", &fam, &err), HD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/granite"));
    /* a plain Llama tokenizer file is no speech-LLM checkpoint */
    char tokp[512];
    tu_fixture(tokp, sizeof tokp, "tokenizer/tokenizer.json");
    assert_int_equal(hd_audio_lm_detect(tokp, &fam, &err), HD_OK);
    assert_int_equal(fam, HD_AUDIO_LM_NONE);
    assert_null(hd_audio_lm_load(tokp, NULL, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_non_null(strstr(err.msg, tokp));
    assert_null(strchr(err.msg, '\n'));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_granite_transcribe),
        cmocka_unit_test(test_granite_translate),
        cmocka_unit_test(test_ultravox_transcribe),
        cmocka_unit_test(test_ultravox_translate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
