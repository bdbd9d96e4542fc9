/* tests/unit/test_granite_speech.c — what the PyTorch parity test
 * (tests/parity/test_granite_speech.sh) does not isolate:
 *   - Granite in the Llama config: config.json (GraniteForCausalLM and the
 *     text_config of granite_speech; defaults 1.0; bad values), the GGUF
 *     "granite" keys written and read back, llama.cpp's optional keys;
 *   - the runtime LoRA: a context with no_lora runs the base model, the
 *     adapter changes the logits, detach restores the base;
 *   - hd_granite_speech_ops on `random-model --arch granite-speech --preset
 *     tiny`: detect, row counts as GraniteSpeechFeatureExtractor reserves
 *     them, the prompt (the model card's chat text around n EMBD entries;
 *     ASR / AST / a user's text; unknown language), no_lm;
 *   - one-line errors naming the file for a broken folder: a missing
 *     adapter, a missing and a misshapen LM tensor (config changed), a bad
 *     audio_token_index, a config without text_config, and random-model's
 *     refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gguf.h"
#include "lm/chat.h"
#include "lm/llama.h"
#include "lm/llama_config.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "speech/granite_speech.h"
#include "speech/hf_mel.h"
#include "testutil.h"

static char g_dir[512];   /* the tiny folder, written once */

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/granite_tiny_%d", tu_tmpdir(), (int)getpid());
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "granite-speech";
    p.preset = "tiny";
    p.format = HD_RM_HF;
    p.seed = 7;
    hd_error err = {0};
    if (hd_random_model_write(&p, g_dir, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void one_line(const hd_error *err, const char *needle) {
    if (strchr(err->msg, '\n') || (needle && !strstr(err->msg, needle)))
        fail_msg("error \"%s\" is not one line naming \"%s\"", err->msg, needle ? needle : "");
}

/* ---- config ---------------------------------------------------------------- */

static void test_config_hf(void **state) {
    (void)state;
    hd_llama_config c;
    hd_error err = {0};
    const char *granite = "{\"model_type\": \"granite\", \"hidden_size\": 64, \"intermediate_size\": 128, "
                          "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                          "\"vocab_size\": 100, \"embedding_multiplier\": 12.0, \"residual_multiplier\": 0.22, "
                          "\"attention_multiplier\": 0.015625, \"logits_scaling\": 8.0}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, granite, strlen(granite), "g.json", &err), HD_OK);
    assert_true(c.granite);
    assert_true(c.embedding_multiplier == 12.0f && c.residual_multiplier == 0.22f);
    assert_true(c.attention_multiplier == 0.015625f && c.logits_scaling == 8.0f);
    /* GraniteConfig defaults: every multiplier 1.0 (attention 1.0, not 1/sqrt(d)) */
    const char *bare = "{\"model_type\": \"granite\", \"hidden_size\": 64, \"intermediate_size\": 128, "
                       "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, bare, strlen(bare), "g.json", &err), HD_OK);
    assert_true(c.embedding_multiplier == 1.0f && c.attention_multiplier == 1.0f && c.logits_scaling == 1.0f);
    /* a Llama config stays Llama: 0 = unused */
    const char *llama = "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128, "
                        "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, llama, strlen(llama), "l.json", &err), HD_OK);
    assert_false(c.granite);
    assert_true(c.embedding_multiplier == 0 && c.attention_multiplier == 0 && c.residual_multiplier == 0);
    /* bad values and shapes */
    const char *neg = "{\"model_type\": \"granite\", \"hidden_size\": 64, \"intermediate_size\": 128, "
                      "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"logits_scaling\": -1}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, neg, strlen(neg), "neg.json", &err), HD_ERR_FORMAT);
    one_line(&err, "neg.json");
    const char *nt = "{\"model_type\": \"granite_speech\", \"encoder_config\": {}}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, nt, strlen(nt), "nt.json", &err), HD_ERR_FORMAT);
    one_line(&err, "text_config");
    const char *wt = "{\"model_type\": \"granite_speech\", \"text_config\": {\"model_type\": \"llama\"}}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, wt, strlen(wt), "wt.json", &err), HD_ERR_UNSUPPORTED);
    one_line(&err, "wt.json");
    /* the speech folder's text_config */
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    assert_int_equal(hd_llama_config_from_hf(&c, path, &err), HD_OK);
    assert_true(c.granite && c.n_embd == 64 && c.tie_word_embeddings && c.logits_scaling == 8.0f);
}

static void test_config_gguf(void **state) {
    (void)state;
    hd_llama_config c, back;
    hd_error err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    assert_int_equal(hd_llama_config_from_hf(&c, path, &err), HD_OK);
    snprintf(path, sizeof path, "%s/granite_keys_%d.gguf", tu_tmpdir(), (int)getpid());
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    assert_int_equal(hd_llama_config_to_gguf(&c, 0, w, &err), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    const char *s;
    size_t n;
    assert_true(hd_gguf_get_str(g, "general.architecture", &s, &n) && n == 7 && !memcmp(s, "granite", 7));
    float v;
    assert_true(hd_gguf_get_f32(g, "granite.logit_scale", &v) && v == 8.0f);
    assert_true(hd_gguf_find_key(g, "granite.block_count") >= 0 && hd_gguf_find_key(g, "llama.block_count") < 0);
    assert_int_equal(hd_llama_config_from_gguf(&back, g, &err), HD_OK);
    assert_true(back.granite && back.embedding_multiplier == c.embedding_multiplier &&
                back.residual_multiplier == c.residual_multiplier &&
                back.attention_multiplier == c.attention_multiplier && back.logits_scaling == c.logits_scaling);
    hd_gguf_close(g);
    unlink(path);
}

/* ---- LoRA ----------------------------------------------------------------- */

static void logits_of(const hd_llama_model *m, bool no_lora, float *out) {
    hd_error err = {0};
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.kv_type = HD_TYPE_F32;
    cp.n_ctx = 64;
    cp.no_lora = no_lora;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    assert_non_null(ctx);
    const int32_t ids[5] = {0, 301, 45, 67, 302};
    assert_int_equal(hd_llama_decode(ctx, ids, 5, &err), HD_OK);
    memcpy(out, hd_llama_logits(ctx), (size_t)m->cfg.n_vocab * sizeof *out);
    hd_llama_context_free(ctx);
}

static void test_lora(void **state) {
    (void)state;
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(g_dir, &err);
    assert_non_null(m);
    assert_true(m->cfg.granite);
    const int V = m->cfg.n_vocab;
    float *base = malloc((size_t)V * 4), *with = malloc((size_t)V * 4), *off = malloc((size_t)V * 4),
          *after = malloc((size_t)V * 4);
    logits_of(m, false, base);
    assert_int_equal(hd_llama_lora_attach(m, g_dir, &err), HD_OK);
    assert_true(hd_llama_has_lora(m) && hd_llama_lora_rank(m) == 4 && hd_llama_lora_scale(m) == 2.0f);
    assert_non_null(m->layers[0].nn.attn.lora_q);
    assert_null(m->layers[0].nn.attn.lora_k);   /* q_proj and v_proj only */
    assert_non_null(m->layers[1].nn.attn.lora_v);
    logits_of(m, false, with);
    logits_of(m, true, off);
    assert_true(tu_max_rel_err(with, base, (size_t)V) > 1e-3f);   /* the adapter matters */
    assert_true(tu_max_abs_err(off, base, (size_t)V) == 0.0f);    /* no_lora is the base model, exactly */
    hd_llama_lora_detach(m);
    assert_false(hd_llama_has_lora(m));
    logits_of(m, false, after);
    assert_true(tu_max_abs_err(after, base, (size_t)V) == 0.0f);
    /* a PEFT adapter on a GGUF model, a missing adapter: refused, model unchanged */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no_such_adapter.gguf", g_dir);
    assert_int_not_equal(hd_llama_lora_attach(m, bad, &err), HD_OK);
    one_line(&err, "no_such_adapter.gguf");
    assert_false(hd_llama_has_lora(m));
    free(base), free(with), free(off), free(after);
    hd_llama_free(m);
}

/* ---- the bundle ------------------------------------------------------------- */

static void test_bundle(void **state) {
    (void)state;
    const hd_audio_lm_ops *ops = &hd_granite_speech_ops;
    hd_error err = {0};
    assert_true(ops->detect(g_dir));
    assert_false(ops->detect("/nonexistent"));
    void *s = ops->load(g_dir, NULL, &err);
    if (!s) fail_msg("%s", err.msg);
    const hd_llama_model *lm = ops->lm(s);
    assert_non_null(lm);
    assert_true(hd_llama_has_lora(lm));   /* active with audio: every prompt here */
    assert_true(ops->window_seconds(s) == 0.0);
    /* GraniteSpeechFeatureExtractor's count: window 15, downsample 5 */
    const int64_t lens[] = {16000, 20800, 47999, 320, 160, 0};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        const int64_t want = lens[i] == 0 ? 0 : hd_hf_mel_granite_n_embeddings(lens[i], 160, 15, 5);
        assert_int_equal(ops->n_rows(s, lens[i]), want);
    }
    /* the prompt around 6 audio rows */
    const hd_tokenizer *tok = ops->tokenizer(s);
    hd_tokens t = {0};
    int64_t at = -1;
    hd_audio_prompt ap = {.task = HD_SPEECH_ASR, .n_audio = 6};
    assert_int_equal(ops->prompt(s, &ap, &t, &at, &err), HD_OK);
    assert_true(at > 0 && at + 6 < (int64_t)t.n);
    for (int64_t i = 0; i < (int64_t)t.n; i++)
        assert_int_equal(t.ids[i] == HD_LLAMA_TOKEN_EMBD, i >= at && i < at + 6);
    char text[2048];
    size_t n = 0;
    assert_int_equal(hd_tokenizer_decode(tok, t.ids, (size_t)at, 0, text, sizeof text, &n, &err), HD_OK);
    assert_string_equal(text, "<|start_of_role|>system<|end_of_role|>" HD_GRANITE_SPEECH_SYSTEM
                              "<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>");
    assert_int_equal(hd_tokenizer_decode(tok, t.ids + at + 6, t.n - (size_t)at - 6, 0, text, sizeof text, &n, &err),
                     HD_OK);
    assert_string_equal(text, HD_GRANITE_SPEECH_ASR "<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>");
    hd_tokens_free(&t);
    ap = (hd_audio_prompt){.task = HD_SPEECH_AST, .language = "de", .n_audio = 2};
    assert_int_equal(ops->prompt(s, &ap, &t, &at, &err), HD_OK);
    assert_int_equal(hd_tokenizer_decode(tok, t.ids + at + 2, t.n - (size_t)at - 2, 0, text, sizeof text, &n, &err),
                     HD_OK);
    assert_non_null(strstr(text, "translate the speech to German<|end_of_text|>"));
    hd_tokens_free(&t);
    ap = (hd_audio_prompt){.task = HD_SPEECH_DIALOG, .text = "what is said?", .n_audio = 1};
    assert_int_equal(ops->prompt(s, &ap, &t, &at, &err), HD_OK);
    assert_int_equal(hd_tokenizer_decode(tok, t.ids + at + 1, t.n - (size_t)at - 1, 0, text, sizeof text, &n, &err),
                     HD_OK);
    assert_non_null(strstr(text, "what is said?<|end_of_text|>"));
    hd_tokens_free(&t);
    ap = (hd_audio_prompt){.task = HD_SPEECH_AST, .language = "xx-klingon", .n_audio = 1};
    assert_int_equal(ops->prompt(s, &ap, &t, &at, &err), HD_ERR_ARG);
    one_line(&err, "xx-klingon");
    ap = (hd_audio_prompt){.task = HD_SPEECH_ASR, .n_audio = -1};
    assert_int_equal(ops->prompt(s, &ap, &t, &at, &err), HD_ERR_ARG);
    assert_int_equal((int)t.n, 0);
    ops->free_state(s);
    /* encoder + projector only */
    hd_audio_lm_params p = {.no_lm = true};
    s = ops->load(g_dir, &p, &err);
    assert_non_null(s);
    assert_null(ops->lm(s));
    assert_null(ops->tokenizer(s));
    ap = (hd_audio_prompt){.task = HD_SPEECH_ASR, .n_audio = 1};
    assert_int_equal(ops->prompt(s, &ap, &t, &at, &err), HD_ERR_ARG);
    ops->free_state(s);
}

/* ---- broken folders ---------------------------------------------------------- */

static void copy_folder(const char *to) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", to, g_dir, to);
    assert_int_equal(system(cmd), 0);
}

/* Replaces the first occurrence of `from` in DIR/config.json by `to`. */
static void edit_config(const char *dir, const char *from, const char *to) {
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n = 0;
    char *s = tu_read_file(path, &n);
    assert_non_null(s);
    char *at = strstr(s, from);
    assert_non_null(at);
    size_t pre = (size_t)(at - s), fl = strlen(from), tl = strlen(to);
    char *out = malloc(n - fl + tl + 1);
    memcpy(out, s, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, at + fl, n - pre - fl);
    assert_int_equal(tu_write_file(path, out, n - fl + tl), 0);
    free(out);
    free(s);
}

static void test_errors(void **state) {
    (void)state;
    const hd_audio_lm_ops *ops = &hd_granite_speech_ops;
    char dir[600], f[700];
    snprintf(dir, sizeof dir, "%s_bad", g_dir);
    hd_error err = {0};
    struct {
        const char *what, *from, *to, *remove, *needle;
    } cases[] = {
        {"adapter missing", NULL, NULL, "adapter_config.json", "adapter_config.json"},
        {"adapter weights missing", NULL, NULL, "adapter_model.safetensors", "adapter_model.safetensors"},
        {"an LM layer more than stored", "\"num_hidden_layers\":\t2,\n\t\t\"num_key_value_heads\"",
         "\"num_hidden_layers\":\t3,\n\t\t\"num_key_value_heads\"", NULL, "language_model.model.layers.2."},
        {"LM width", "\"intermediate_size\":\t128", "\"intermediate_size\":\t96", NULL, "mlp.gate_proj"},
        {"audio token outside the vocabulary", "\"audio_token_index\":\t304", "\"audio_token_index\":\t999", NULL,
         "999"},
        {"audio token not <|audio|>", "\"audio_token_index\":\t304", "\"audio_token_index\":\t300", NULL, "<|audio|>"},
        {"no text_config", "\"text_config\"", "\"text_config_gone\"", NULL, "text_config"},
        {"tokenizer gone", NULL, NULL, "tokenizer.json", "tokenizer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_folder(dir);
        if (cases[i].from) edit_config(dir, cases[i].from, cases[i].to);
        if (cases[i].remove) {
            snprintf(f, sizeof f, "%s/%s", dir, cases[i].remove);
            assert_int_equal(unlink(f), 0);
        }
        err = (hd_error){0};
        void *s = ops->load(dir, NULL, &err);
        if (s) fail_msg("case \"%s\": loaded", cases[i].what);
        if (strchr(err.msg, '\n') || !strstr(err.msg, cases[i].needle) || !strstr(err.msg, "_bad"))
            fail_msg("case \"%s\": error \"%s\" (wanted one line naming the folder and \"%s\")", cases[i].what, err.msg,
                     cases[i].needle);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    /* random-model refusals */
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "granite-speech";
    p.preset = "3.3-2b";
    p.format = HD_RM_GGUF;
    assert_int_equal(hd_random_model_write(&p, dir, &err), HD_ERR_ARG);   /* not a .gguf path */
    one_line(&err, ".gguf");
    p.format = HD_RM_HF;
    p.preset = "3.3-1b";
    assert_int_equal(hd_random_model_write(&p, dir, &err), HD_ERR_ARG);
    one_line(&err, "3.3-1b");
    /* the published shapes plan and check without writing */
    p.preset = "3.3-8b";
    p.dry_run = true;
    p.type = HD_TYPE_BF16;
    assert_int_equal(hd_random_model_write(&p, dir, &err), HD_OK);
}

/* --format gguf: the converted set, which loads and embeds like the folder */
static void test_gguf_set(void **state) {
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s_set/gs.gguf", g_dir);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s_set'", g_dir);
    assert_int_equal(system(cmd), 0);
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "granite-speech";
    p.preset = "tiny";
    p.format = HD_RM_GGUF;
    p.seed = 7;
    hd_error err = {0};
    if (hd_random_model_write(&p, path, &err)) fail_msg("%s", err.msg);
    const hd_audio_lm_ops *ops = &hd_granite_speech_ops;
    assert_true(ops->detect(path));
    void *a = ops->load(g_dir, NULL, &err), *b = ops->load(path, NULL, &err);
    if (!a || !b) fail_msg("%s", err.msg);
    assert_true(hd_llama_has_lora(ops->lm(b)) && ops->lm(b)->format == HD_LLAMA_GGUF);
    float pcm[8000];
    tu_rng r;
    tu_rng_seed(&r, 3);
    tu_fill_normal(&r, pcm, 8000, 0.1f);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    float *ra = NULL, *rb = NULL;
    int64_t na = 0, nb = 0;
    assert_int_equal(ops->embed(a, &ex, pcm, 8000, &ra, &na, &err), HD_OK);
    assert_int_equal(ops->embed(b, &ex, pcm, 8000, &rb, &nb, &err), HD_OK);
    assert_int_equal(na, nb);
    assert_int_equal(na, ops->n_rows(a, 8000));
    assert_true(tu_max_rel_err(rb, ra, (size_t)(na * 64)) < 1e-6f);   /* F32 both: the same model */
    free(ra), free(rb);
    ops->free_state(a);
    ops->free_state(b);
    /* the LM file named by granite_speech.lm_file gone: one line naming it */
    snprintf(cmd, sizeof cmd, "%s_set/gs-lm.gguf", g_dir);
    assert_int_equal(unlink(cmd), 0);
    assert_null(ops->load(path, NULL, &err));
    one_line(&err, "gs-lm.gguf");
    snprintf(cmd, sizeof cmd, "rm -rf '%s_set'", g_dir);
    assert_int_equal(system(cmd), 0);
}

static int teardown(void **state) {
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_hf),  cmocka_unit_test(test_config_gguf), cmocka_unit_test(test_lora),
        cmocka_unit_test(test_bundle),     cmocka_unit_test(test_errors),     cmocka_unit_test(test_gguf_set),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
