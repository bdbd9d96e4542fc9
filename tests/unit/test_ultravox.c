/* tests/unit/test_ultravox.c — speech/ultravox (hd_ultravox_ops) and
 * `random-model --arch ultravox`: the folder's files, detection, row counts
 * (windows of 3000 frames), the llama.cpp mmproj names, the prompt (Llama 3
 * and 3.1 templates, task texts, placeholders, languages), and one-line load
 * errors naming the file: bad config.json values, a missing tensor, a wrong
 * shape, a missing or mismatched LM, a llama.cpp mmproj without the LM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/gguf.h"
#include "lm/random_model.h"
#include "speech/audio_lm_impl.h"
#include "speech/ultravox.h"
#include "speech/ultravox_internal.h"
#include "testutil.h"

static char g_dir[512], g_tok[512];

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static int setup(void **state) {
    (void)state;
    hd_error err = {0};
    tu_fixture(g_tok, sizeof g_tok, "tokenizer/tokenizer.json");
    tmp_path(g_dir, sizeof g_dir, "uv");
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "ultravox", p.preset = "tiny", p.format = HD_RM_HF, p.tokenizer = g_tok, p.seed = 4, p.n_threads = 1;
    if (hd_random_model_write(&p, g_dir, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* A whole text file, NUL-terminated (caller frees). */
static char *read_text(const char *path, size_t *n) {
    char *raw = tu_read_file(path, n);
    assert_non_null(raw);
    char *t = malloc(*n + 1);
    assert_non_null(t);
    memcpy(t, raw, *n);
    t[*n] = 0;
    free(raw);
    return t;
}

static bool one_line(const char *msg) { return msg[0] && !strchr(msg, '\n'); }

/* ---- files, detection, counts -------------------------------------------- */

static void test_folder_layout(void **state) {
    (void)state;
    static const char *const files[] = {"config.json", "model.safetensors", "preprocessor_config.json",
                                        "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                        "text_model/config.json", "text_model/model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        assert_int_equal(stat(p, &st), 0);
    }
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", g_dir);
    size_t n = 0;
    char *txt = read_text(p, &n);
    hd_ultravox_config c;
    hd_error err = {0};
    assert_int_equal(hd_ultravox_config_from_json(txt, n, p, &c, &err), HD_OK);
    free(txt);
    assert_int_equal(c.audio.n_mel, 128);
    assert_int_equal(c.audio.n_embd, 64);
    assert_int_equal(c.audio.n_layer, 2);
    assert_int_equal(c.proj.stack_factor, 8);
    assert_int_equal(c.proj.n_hidden, 128);
    assert_true(c.proj.ln_mid);
    assert_int_equal(c.proj.n_out, 0);   /* no text_config: the LM says */
    assert_string_equal(c.text_model_id, "meta-llama/Llama-3.2-1B-Instruct");
    /* published-shape presets plan without writing */
    hd_random_model_params q = hd_random_model_default_params();
    q.arch = "ultravox", q.preset = "v0_5-llama-3_1-8b", q.format = HD_RM_HF, q.dry_run = true, q.type = HD_TYPE_BF16;
    char dry[600];
    assert_int_equal(hd_random_model_write(&q, tmp_path(dry, sizeof dry, "dry"), &err), HD_OK);
    q.preset = "v0_6";
    assert_int_equal(hd_random_model_write(&q, dry, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "v0_5-llama-3_2-1b"));
    q.preset = "tiny", q.format = HD_RM_GGUF, q.type = HD_TYPE_Q4_0;
    assert_int_equal(hd_random_model_write(&q, dry, &err), HD_OK);
    q.type = HD_TYPE_Q6_K;
    assert_int_equal(hd_random_model_write(&q, dry, &err), HD_ERR_ARG);
    /* --format gguf: the converted pair, loadable beside each other */
    hd_random_model_params g = hd_random_model_default_params();
    g.arch = "ultravox", g.preset = "tiny", g.tokenizer = g_tok, g.seed = 4, g.n_threads = 1, g.type = HD_TYPE_F16;
    char gg[600];
    assert_int_equal(hd_random_model_write(&g, tmp_path(gg, sizeof gg, "uvr.gguf"), &err), HD_OK);
    char *mm = hd_ultravox_mmproj_path(gg);
    assert_true(hd_ultravox_ops.detect(mm));
    void *m = hd_ultravox_ops.load(mm, NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_non_null(hd_ultravox_ops.tokenizer(m));
    hd_ultravox_ops.free_state(m);
    free(mm);
}

static void test_detect(void **state) {
    (void)state;
    assert_true(hd_ultravox_ops.detect(g_dir));
    char p[600];
    snprintf(p, sizeof p, "%s/text_model", g_dir);
    assert_false(hd_ultravox_ops.detect(p));            /* a plain Llama folder */
    assert_false(hd_ultravox_ops.detect("/nonexistent/uv"));
    assert_false(hd_ultravox_ops.detect(g_tok));          /* not a GGUF */
}

static void test_n_rows(void **state) {
    (void)state;
    assert_int_equal(hd_ultravox_n_rows(8, 0), 0);
    assert_int_equal(hd_ultravox_n_rows(8, 100), 1);          /* 2 hops → 2 frames → 1 row */
    assert_int_equal(hd_ultravox_n_rows(8, 5920), 3);         /* 37 frames */
    assert_int_equal(hd_ultravox_n_rows(8, 5921), 3);         /* 38 frames */
    assert_int_equal(hd_ultravox_n_rows(8, 16 * 160), 1);     /* 16 frames: one row */
    assert_int_equal(hd_ultravox_n_rows(8, 16 * 160 + 1), 2); /* 17 frames */
    assert_int_equal(hd_ultravox_n_rows(8, 480000), 188);     /* 3000 frames: ceil(3000/16) */
    assert_int_equal(hd_ultravox_n_rows(8, 480001), 189);     /* a second window of 1 frame */
    assert_int_equal(hd_ultravox_n_rows(8, 500800), 188 + 9); /* 3130 frames */
    assert_int_equal(hd_ultravox_n_rows(4, 480000), 375);
}

static void test_gguf_names(void **state) {
    (void)state;
    static const char *const pairs[][2] = {
        {"audio_tower.conv1.weight", "a.conv1d.1.weight"},
        {"audio_tower.conv2.bias", "a.conv1d.2.bias"},
        {"audio_tower.embed_positions.weight", "a.position_embd.weight"},
        {"audio_tower.layer_norm.bias", "a.post_ln.bias"},
        {"audio_tower.layers.0.self_attn.q_proj.bias", "a.blk.0.attn_q.bias"},
        {"audio_tower.layers.31.self_attn.k_proj.weight", "a.blk.31.attn_k.weight"},
        {"audio_tower.layers.7.self_attn.out_proj.weight", "a.blk.7.attn_out.weight"},
        {"audio_tower.layers.2.self_attn_layer_norm.weight", "a.blk.2.ln1.weight"},
        {"audio_tower.layers.2.final_layer_norm.bias", "a.blk.2.ln2.bias"},
        {"audio_tower.layers.3.fc1.weight", "a.blk.3.ffn_up.weight"},
        {"audio_tower.layers.3.fc2.bias", "a.blk.3.ffn_down.bias"},
        {"multi_modal_projector.ln_pre.weight", "mm.a.norm_pre.weight"},
        {"multi_modal_projector.linear_1.weight", "mm.a.mlp.1.weight"},
        {"multi_modal_projector.ln_mid.weight", "mm.a.norm_mid.weight"},
        {"multi_modal_projector.linear_2.weight", "mm.a.mlp.2.weight"},
    };
    char out[96];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        assert_true(hd_ultravox_gguf_name(pairs[i][0], out, sizeof out));
        assert_string_equal(out, pairs[i][1]);
    }
    assert_false(hd_ultravox_gguf_name("language_model.model.norm.weight", out, sizeof out));
    assert_false(hd_ultravox_gguf_name("audio_tower.layers.x.fc1.weight", out, sizeof out));
    assert_false(hd_ultravox_gguf_name("audio_tower.conv1.scale", out, sizeof out));
    char *mm = hd_ultravox_mmproj_path("/a/b/uv-q8.gguf");
    assert_string_equal(mm, "/a/b/uv-q8-mmproj.gguf");
    free(mm);
}

/* ---- the prompt ------------------------------------------------------------ */

static int32_t special(const hd_tokenizer *t, const char *name) {
    const int32_t id = hd_tokenizer_find_special(t, name);
    assert_true(id >= 0);
    return id;
}

static void test_prompt(void **state) {
    (void)state;
    hd_error err = {0};
    void *m = hd_ultravox_ops.load(g_dir, NULL, &err);
    assert_non_null(m);
    const hd_tokenizer *tok = hd_ultravox_ops.tokenizer(m);
    assert_non_null(tok);
    assert_non_null(hd_ultravox_ops.lm(m));
    assert_true(hd_ultravox_ops.window_seconds(m) == 30.0);
    const int32_t bos = special(tok, "<|begin_of_text|>"), sh = special(tok, "<|start_header_id|>");
    const int32_t eot = special(tok, "<|eot_id|>");

    hd_tokens ids = {0};
    int64_t at = -1;
    hd_audio_prompt p = {.task = HD_SPEECH_ASR, .n_audio = 5};
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    /* <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nRepeat ... explanation: EMBD×5<|eot_id|>... */
    assert_int_equal(ids.ids[0], bos);
    assert_int_equal(ids.ids[1], sh);
    int n_embd = 0;
    for (size_t i = 0; i < ids.n; i++) n_embd += ids.ids[i] == HD_LLAMA_TOKEN_EMBD;
    assert_int_equal(n_embd, 5);
    assert_int_equal(ids.ids[at], HD_LLAMA_TOKEN_EMBD);
    assert_int_equal(ids.ids[at - 1] != HD_LLAMA_TOKEN_EMBD, 1);
    assert_int_equal(ids.ids[at + 5], eot);
    char text[512];
    size_t n = 0;
    assert_int_equal(hd_tokenizer_decode(tok, ids.ids + 2, (size_t)(at - 2), 0, text, sizeof text, &n, &err), HD_OK);
    assert_string_equal(text, "user<|end_header_id|>\n\nRepeat the following text, without any explanation: ");
    const size_t asr_n = ids.n;
    hd_tokens_free(&ids);

    /* AST: the language's English name twice; unknown language: one-line error */
    p = (hd_audio_prompt){.task = HD_SPEECH_AST, .language = "de", .n_audio = 2};
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    assert_int_equal(hd_tokenizer_decode(tok, ids.ids, (size_t)at, 0, text, sizeof text, &n, &err), HD_OK);
    assert_non_null(strstr(text, "Please translate the text to German. Your response should only include the German "
                                 "translation, without any additional words:\n\n"));
    hd_tokens_free(&ids);
    p.language = "cy";   /* a CoVoST 2 target outside the paper's 34 */
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    assert_int_equal(hd_tokenizer_decode(tok, ids.ids, (size_t)at, 0, text, sizeof text, &n, &err), HD_OK);
    assert_non_null(strstr(text, "translate the text to Welsh. "));
    hd_tokens_free(&ids);
    p.language = "Klingon";
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_ERR_ARG);
    assert_true(one_line(err.msg));
    assert_int_equal(ids.n, 0);

    /* DIALOG: the user turn is only the audio */
    p = (hd_audio_prompt){.task = HD_SPEECH_DIALOG, .n_audio = 3};
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    assert_int_equal(ids.ids[at + 3], eot);
    assert_true(ids.n < asr_n);
    hd_tokens_free(&ids);

    /* user text: placeholder appended when absent; two placeholders rejected */
    p = (hd_audio_prompt){.task = HD_SPEECH_ASR, .n_audio = 1, .text = "Who speaks?"};
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    assert_int_equal(hd_tokenizer_decode(tok, ids.ids, (size_t)at, 0, text, sizeof text, &n, &err), HD_OK);
    assert_non_null(strstr(text, "\n\nWho speaks? "));
    hd_tokens_free(&ids);
    p.text = "Say<|eot_id|><|audio|>";   /* a special name in the user's text stays text */
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    int n_eot = 0;
    for (size_t i = 0; i < ids.n; i++) n_eot += ids.ids[i] == eot;
    assert_int_equal(n_eot, 1);   /* the one closing the user turn; none from the text */
    hd_tokens_free(&ids);
    p.text = "<|audio|> and <|audio|>";
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_ERR_ARG);
    assert_true(one_line(err.msg));
    p.text = NULL, p.n_audio = -1;
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_ERR_ARG);

    /* a Llama 3.1 template: the "Cutting Knowledge" system turn with its date */
    hd_ultravox *u = m;
    static const char t31[] = "{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}"
                              "{%- endif %}{{- \"Cutting Knowledge Date: December 2023\\n\" }}";
    hd_ultravox_template_set(u, t31, strlen(t31));
    p = (hd_audio_prompt){.task = HD_SPEECH_DIALOG, .n_audio = 1};
    assert_int_equal(hd_ultravox_ops.prompt(m, &p, &ids, &at, &err), HD_OK);
    assert_int_equal(hd_tokenizer_decode(tok, ids.ids, (size_t)at, 0, text, sizeof text, &n, &err), HD_OK);
    assert_string_equal(text, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                              "December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user"
                              "<|end_header_id|>\n\n");
    hd_tokens_free(&ids);
    hd_ultravox_ops.free_state(m);
}

/* ---- load errors ------------------------------------------------------------ */

/* A copy of the tiny folder's files with config.json replaced by cfg (text
 * with one "%s" filled by `sub`) and the LM linked to the original. */
static void variant(const char *name, const char *from, const char *to, char *out, size_t cap) {
    tmp_path(out, cap, name);
    char cmd[2048];
    const int len = snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s'/*.json '%s'/model.safetensors "
                           "'%s'/ && ln -s '%s/text_model' '%s/text_model'",
                           out, out, g_dir, g_dir, out, g_dir, out);
    assert_true(len > 0 && (size_t)len < sizeof cmd);
    assert_int_equal(system(cmd), 0);
    if (!from) return;
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", out);
    size_t n = 0;
    char *txt = read_text(p, &n);
    char *at = strstr(txt, from);
    assert_non_null(at);
    char *neu = malloc(n + strlen(to) + 1);
    memcpy(neu, txt, (size_t)(at - txt));
    strcpy(neu + (at - txt), to);
    strcat(neu, at + strlen(from));
    assert_int_equal(tu_write_file(p, neu, strlen(neu)), 0);
    free(txt), free(neu);
}

static void expect_load_error(const char *dir, const hd_audio_lm_params *p, hd_status code, const char *needle) {
    hd_error err = {0};
    void *m = hd_ultravox_ops.load(dir, p, &err);
    if (m) hd_ultravox_ops.free_state(m);
    assert_null(m);
    if (err.code != code || !strstr(err.msg, needle) || !one_line(err.msg))
        fail_msg("expected %d with \"%s\", got %d: %s", (int)code, needle, (int)err.code, err.msg);
}

static void test_load_errors(void **state) {
    (void)state;
    char d[600];
    variant("bad_type", "\"model_type\": \"ultravox\"", "\"model_type\": \"llava\"", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_FORMAT, "model_type is not \"ultravox\"");
    variant("bad_act", "\"projector_act\": \"swiglu\"", "\"projector_act\": \"gelu\"", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_FORMAT, "projector_act");
    variant("bad_stack", "\"stack_factor\": 8", "\"stack_factor\": 0", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_FORMAT, "stack_factor");
    variant("odd_hidden", "\"hidden_size\": 128", "\"hidden_size\": 127", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_FORMAT, "hidden_size");
    /* shapes: a config that disagrees with the weights */
    variant("wrong_hidden", "\"hidden_size\": 128", "\"hidden_size\": 256", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_SHAPE, "multi_modal_projector.linear_1.weight");
    variant("wrong_stack", "\"stack_factor\": 8", "\"stack_factor\": 4", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_SHAPE, "multi_modal_projector.ln_pre.weight");
    variant("wrong_layers", "\"encoder_layers\": 2", "\"encoder_layers\": 3", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_NOTFOUND, "audio_tower.layers.2.");
    /* a front end the audio tower was not trained on */
    variant("bad_fe", NULL, NULL, d, sizeof d);
    char pp[700];
    snprintf(pp, sizeof pp, "%s/preprocessor_config.json", d);
    size_t pn = 0;
    char *pt = read_text(pp, &pn);
    char *fs = strstr(pt, "\"feature_size\": 128");
    assert_non_null(fs);
    memcpy(fs, "\"feature_size\":  80", 19);
    assert_int_equal(tu_write_file(pp, pt, pn), 0);
    free(pt);
    expect_load_error(d, NULL, HD_ERR_FORMAT, "feature_size is not 128");
    /* a missing tensor: v0.4.1's ln_post expected */
    variant("no_ln_post", "\"projector_ln_mid\": true", "\"projector_ln_mid\": false", d, sizeof d);
    expect_load_error(d, NULL, HD_ERR_NOTFOUND, "multi_modal_projector.ln_post.weight is missing");
    /* audio tower not saved */
    variant("no_audio", "\"audio_model_id\": null", "\"audio_model_id\": \"openai/whisper-large-v3-turbo\"", d,
            sizeof d);
    char cfg[700], *txt;
    size_t n = 0;
    snprintf(cfg, sizeof cfg, "%s/config.json", d);
    txt = read_text(cfg, &n);
    char *ac = strstr(txt, "\"audio_config\"");
    assert_non_null(ac);
    memcpy(ac, "\"audio_cfg_x_\"", 14);   /* same length: the key is gone */
    assert_int_equal(tu_write_file(cfg, txt, n), 0);
    free(txt);
    expect_load_error(d, NULL, HD_ERR_FORMAT, "openai/whisper-large-v3-turbo");
    /* the LM: missing (no text_model/, id not a path, no hub cache), wrong width, wrong path */
    variant("no_lm", NULL, NULL, d, sizeof d);
    char link[700];
    snprintf(link, sizeof link, "%s/text_model", d);
    assert_int_equal(unlink(link), 0);
    setenv("HF_HUB_CACHE", tu_tmpdir(), 1);
    setenv("HF_HOME", tu_tmpdir(), 1);
    expect_load_error(d, NULL, HD_ERR_NOTFOUND, "meta-llama/Llama-3.2-1B-Instruct");
    hd_audio_lm_params lp = {.lm_path = "/nonexistent/lm.gguf"};
    expect_load_error(d, &lp, HD_ERR_NOTFOUND, "/nonexistent/lm.gguf");
    /* the hub cache: models--ORG--NAME/refs/main names the snapshot */
    char hub[700], cmd[4096];
    snprintf(hub, sizeof hub, "%s/hub", tu_tmpdir());
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/models--meta-llama--Llama-3.2-1B-Instruct/refs' "
             "'%s/models--meta-llama--Llama-3.2-1B-Instruct/snapshots' && "
             "printf 'c0ffee\\n' > '%s/models--meta-llama--Llama-3.2-1B-Instruct/refs/main' && "
             "ln -sfn '%s/text_model' '%s/models--meta-llama--Llama-3.2-1B-Instruct/snapshots/c0ffee'",
             hub, hub, hub, g_dir, hub);
    assert_int_equal(system(cmd), 0);
    setenv("HF_HUB_CACHE", hub, 1);
    hd_error herr = {0};
    void *hm = hd_ultravox_ops.load(d, NULL, &herr);
    if (!hm) fail_msg("%s", herr.msg);
    assert_non_null(strstr(((hd_ultravox *)hm)->lm_path, "snapshots/c0ffee"));
    hd_ultravox_ops.free_state(hm);
    setenv("HF_HUB_CACHE", tu_tmpdir(), 1);
    /* encoder + projector only: loads without an LM, width from linear_2 */
    lp = (hd_audio_lm_params){.no_lm = true};
    hd_error err = {0};
    void *m = hd_ultravox_ops.load(d, &lp, &err);
    assert_non_null(m);
    assert_null(hd_ultravox_ops.lm(m));
    hd_audio_prompt ap = {.task = HD_SPEECH_ASR, .n_audio = 1};
    hd_tokens ids = {0};
    assert_int_equal(hd_ultravox_ops.prompt(m, &ap, &ids, NULL, &err), HD_ERR_ARG);
    hd_ultravox_ops.free_state(m);
    /* an LM of another width (64 → 256: llama "small") */
    char small[600];
    hd_random_model_params q = hd_random_model_default_params();
    q.arch = "llama", q.preset = "small", q.format = HD_RM_GGUF, q.tokenizer = g_tok, q.n_threads = 1;
    assert_int_equal(hd_random_model_write(&q, tmp_path(small, sizeof small, "small.gguf"), &err), HD_OK);
    lp = (hd_audio_lm_params){.lm_path = small};
    expect_load_error(d, &lp, HD_ERR_FORMAT, "256 wide");
    expect_load_error("/nonexistent/uv", NULL, HD_ERR_NOTFOUND, "/nonexistent/uv");
}

/* The converted pair: the mmproj loads beside its LM; a copy without
 * speech.lm_file (as llama.cpp writes it) needs lm_path. */
static void test_convert(void **state) {
    (void)state;
    hd_error err = {0};
    char out[600];
    hd_convert_params cp = hd_convert_default_params();
    cp.type = HD_TYPE_F16, cp.n_threads = 1;
    if (hd_ultravox_convert(g_dir, NULL, tmp_path(out, sizeof out, "uv.gguf"), &cp, &err)) fail_msg("%s", err.msg);
    char *mm = hd_ultravox_mmproj_path(out);
    assert_true(hd_ultravox_ops.detect(mm));
    assert_false(hd_ultravox_ops.detect(out));   /* the LM file is a plain llama GGUF */
    void *m = hd_ultravox_ops.load(mm, NULL, &err);
    assert_non_null(m);
    hd_ultravox *u = m;
    assert_int_equal(u->cfg.proj.n_hidden, 128);
    assert_true(u->cfg.proj.ln_mid);
    assert_int_equal(u->cfg.audio.n_layer, 2);
    float pcm[4000];
    for (int i = 0; i < 4000; i++) pcm[i] = 0.1f * (float)((i * 37) % 101 - 50) / 50.0f;
    float *rows = NULL;
    int64_t n_rows = 0;
    hd_exec ex = {0};
    if (hd_ultravox_ops.embed(m, &ex, pcm, 4000, &rows, &n_rows, &err)) fail_msg("%s", err.msg);
    assert_int_equal(n_rows, 2);   /* 25 frames */
    hd_ultravox_ops.free_state(m);

    /* the same tensors with only the keys llama.cpp writes (no speech.lm_file,
     * no ultravox.*): H from mm.a.mlp.1, ln_mid from mm.a.norm_mid; the LM by lm_path */
    hd_gguf *g = hd_gguf_open(mm, &err);
    assert_non_null(g);
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    assert_int_equal(hd_gguf_set_str(w, "general.architecture", "clip"), HD_OK);
    assert_int_equal(hd_gguf_set_bool(w, "clip.has_audio_encoder", true), HD_OK);
    assert_int_equal(hd_gguf_set_str(w, "clip.projector_type", "ultravox"), HD_OK);
    static const char *const u32_keys[] = {"clip.audio.num_mel_bins", "clip.audio.embedding_length",
                                           "clip.audio.feed_forward_length", "clip.audio.block_count",
                                           "clip.audio.attention.head_count", "clip.audio.projection_dim",
                                           "clip.audio.projector.stack_factor"};
    for (size_t i = 0; i < sizeof u32_keys / sizeof u32_keys[0]; i++) {
        uint32_t v;
        assert_true(hd_gguf_get_u32(g, u32_keys[i], &v));
        assert_int_equal(hd_gguf_set_u32(w, u32_keys[i], v), HD_OK);
    }
    for (int64_t i = 0; i < hd_gguf_n_tensors(g); i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        const hd_tensor v = hd_gguf_tensor_view(g, i);
        assert_int_equal(hd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, v.data, &err), HD_OK);
    }
    char lcpp[600];
    assert_int_equal(hd_gguf_writer_write(w, tmp_path(lcpp, sizeof lcpp, "llamacpp-mmproj.gguf"), &err), HD_OK);
    hd_gguf_writer_free(w);
    hd_gguf_close(g);
    assert_true(hd_ultravox_ops.detect(lcpp));
    expect_load_error(lcpp, NULL, HD_ERR_ARG, "--lm");
    hd_audio_lm_params lp = {.lm_path = out};
    m = hd_ultravox_ops.load(lcpp, &lp, &err);
    if (!m) fail_msg("%s", err.msg);
    u = m;
    assert_int_equal(u->cfg.proj.n_hidden, 128);
    assert_true(u->cfg.proj.ln_mid);
    float *rows2 = NULL;
    int64_t n2 = 0;
    if (hd_ultravox_ops.embed(m, &ex, pcm, 4000, &rows2, &n2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(n2, n_rows);
    assert_memory_equal(rows, rows2, (size_t)(n2 * 64) * sizeof *rows);
    free(rows), free(rows2);
    hd_ultravox_ops.free_state(m);
    /* the folder is not a converted file: converting an mmproj is refused */
    assert_int_not_equal(hd_ultravox_convert(mm, NULL, out, &cp, &err), HD_OK);
    assert_true(one_line(err.msg));
    free(mm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_layout), cmocka_unit_test(test_detect),  cmocka_unit_test(test_n_rows),
        cmocka_unit_test(test_gguf_names),    cmocka_unit_test(test_prompt),  cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_convert),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
