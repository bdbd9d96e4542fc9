/* tests/unit/test_random_model_mllama.c — lm/random_model_mllama*.c: the Llama 3.2
 * Vision presets (published 11B numbers from SPEC §2.2/§2.9), the tensor plan, the
 * config.json written and read back, config errors naming the file, the block-type rule
 * for the patch embedding, and the loaders on a written tiny model (GGUF and HF: vision
 * tower and text decoder from the same file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/gguf.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/random_model_impl.h"
#include "testutil.h"
#include "vision/vit.h"

static int64_t plan_params(const hd_rm_plan *plan, int *n_hf) {
    int64_t n = 0;
    *n_hf = 0;
    for (int i = 0; i < plan->n; i++)
        if (plan->t[i].hf_name) n += plan->t[i].rows * plan->t[i].cols, (*n_hf)++;
    return n;
}

static const hd_rm_tensor *find(const hd_rm_plan *plan, const char *hf) {
    for (int i = 0; i < plan->n; i++)
        if (plan->t[i].hf_name && strcmp(plan->t[i].hf_name, hf) == 0) return &plan->t[i];
    return NULL;
}

/* SPEC §2.2 / §2.9: 40 layers, cross at 3, 8, ..., 38, 906 tensors; 10.67B parameters
 * (the parameter count is the sum of the published shapes, computed here by hand). */
static void test_preset_11b(void **state) {
    (void)state;
    hd_rm_mllama_config c;
    assert_true(hd_rm_mllama_preset("llama-3.2-11b-vision", &c));
    assert_int_equal(c.text.n_layer, 40);
    assert_int_equal(c.text.n_xattn, 8);
    for (int k = 0; k < 8; k++) assert_int_equal(c.text.xattn_layers[k], 3 + 5 * k);
    assert_int_equal(c.text.n_vocab, 128256);
    assert_int_equal(c.text.image_token_id, 128256);
    assert_int_equal(c.vision.proj_dim, 4096);
    assert_int_equal(c.vision.image_size, 560);
    hd_rm_plan plan = {0};
    hd_error err = {0};
    assert_int_equal(hd_rm_mllama_plan(&c, &plan, &err), HD_OK);
    int n_hf;
    const int64_t n = plan_params(&plan, &n_hf);
    assert_int_equal(n_hf, 906);
    assert_int_equal(plan.n, 907);   /* + rope_freqs.weight */
    const int64_t W = 1280, P = 1601, Fv = 5120, D = 4096, F = 14336, V = 128256, d = 128, G = 8;
    const int64_t vl = 4 * W * W + Fv * W + Fv + W * Fv + W + 4 * W;
    const int64_t vision = W + W * 3 * 14 * 14 + 1 + P * W + 9 * 4 * P * W + 2 * (1 + 9 * 4 * W) + 4 * W + 32 * vl +
                           8 * (vl + 2);
    const int64_t self_l = 2 * D * D + 2 * G * d * D + 3 * D * F + 2 * D;
    const int64_t text = (V + 8) * D + 32 * self_l + 8 * (self_l + 2 * d + 2) + D + V * D;
    assert_true(n == vision + text + D * 7680 + D);
    assert_true(n > 10600000000LL && n < 10700000000LL);   /* model card: 10.6B */
    const hd_rm_tensor *e = find(&plan, "language_model.model.embed_tokens.weight");
    assert_non_null(e);
    assert_int_equal(e->shape[0], 128264);
    e = find(&plan, "language_model.model.layers.38.cross_attn.k_norm.weight");
    assert_non_null(e);
    assert_int_equal(e->shape[0], 128);
    assert_null(find(&plan, "language_model.model.layers.38.self_attn.q_proj.weight"));
    assert_non_null(find(&plan, "language_model.model.layers.39.self_attn.q_proj.weight"));
    hd_rm_plan_free(&plan);
}

static void test_preset_tiny_and_unknown(void **state) {
    (void)state;
    hd_rm_mllama_config c;
    assert_true(hd_rm_mllama_preset("tiny", &c));
    assert_int_equal(c.text.n_layer, 10);
    assert_int_equal(c.text.n_xattn, 2);
    assert_int_equal(c.text.xattn_layers[0], 3);
    assert_int_equal(c.text.xattn_layers[1], 8);
    assert_int_equal(c.vision.proj_dim, c.text.n_embd);
    assert_false(hd_rm_mllama_preset("llama-3.1-8b", &c));
    const char *const *names = hd_random_model_preset_names("mllama");
    assert_non_null(names);
    assert_string_equal(names[0], "tiny");
    assert_string_equal(names[1], "llama-3.2-11b-vision");
    assert_null(names[2]);
}

/* config.json written then read back gives the same configuration. */
static void test_config_round_trip(void **state) {
    (void)state;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/cfg_rt", tu_tmpdir());
    mkdir(dir, 0777);
    for (int k = 0; k < 2; k++) {
        hd_rm_mllama_config c, r;
        assert_true(hd_rm_mllama_preset(k ? "llama-3.2-11b-vision" : "tiny", &c));
        hd_error err = {0};
        assert_int_equal(hd_rm_mllama_write_hf_configs(&c, HD_TYPE_BF16, dir, true, &err), HD_OK);
        snprintf(path, sizeof path, "%s/config.json", dir);
        assert_int_equal(hd_rm_mllama_config_from_hf(&r, path, &err), HD_OK);
        assert_int_equal(r.text.n_layer, c.text.n_layer);
        assert_int_equal(r.text.n_embd, c.text.n_embd);
        assert_int_equal(r.text.n_ff, c.text.n_ff);
        assert_int_equal(r.text.n_head, c.text.n_head);
        assert_int_equal(r.text.n_head_kv, c.text.n_head_kv);
        assert_int_equal(r.text.n_xattn, c.text.n_xattn);
        assert_memory_equal(r.text.xattn_layers, c.text.xattn_layers, sizeof(int32_t) * (size_t)c.text.n_xattn);
        assert_int_equal(r.text.image_token_id, 128256);
        assert_int_equal(r.text.n_eos, 3);
        assert_int_equal(r.text.eos_token_ids[2], 128009);
        assert_int_equal(r.text.rope_scaling, HD_ROPE_SCALING_LLAMA3);
        assert_true(r.text.rope_factor == 8.0f);
        assert_int_equal(r.vision.image_size, c.vision.image_size);
        assert_int_equal(r.vision.n_layer, c.vision.n_layer);
        assert_int_equal(r.vision.n_global_layer, c.vision.n_global_layer);
        assert_int_equal(r.vision.out_dim, c.vision.out_dim);
        assert_int_equal(r.vision.proj_dim, c.vision.proj_dim);
        snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
    }
}

/* Edits of a valid config.json and the message each must give. */
static void test_config_errors(void **state) {
    (void)state;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/cfg_err", tu_tmpdir());
    mkdir(dir, 0777);
    hd_rm_mllama_config c;
    assert_true(hd_rm_mllama_preset("tiny", &c));
    hd_error err = {0};
    assert_int_equal(hd_rm_mllama_write_hf_configs(&c, HD_TYPE_F32, dir, false, &err), HD_OK);
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n;
    char *good = tu_read_file(path, &n);
    assert_non_null(good);
    static const struct {
        const char *from, *to, *msg;
    } edits[] = {
        {"\"image_token_index\": 128256", "\"image_token_index\": 128257", "image_token_index 128257"},
        {"\"model_type\": \"mllama\",", "\"model_type\": \"llama\",", "config.json"},
        {"\"cross_attention_layers\": [\n      3,", "\"cross_attention_layers\": [\n      12,", "cross_attention_layers"},
        {"\"vision_config\": {", "\"vision_configs\": {", "vision_config"},
        {"\"patch_size\": 14,", "\"patch_size\": 15,", "patch_size"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *at = strstr(good, edits[i].from);
        assert_non_null(at);
        const size_t a = (size_t)(at - good), fl = strlen(edits[i].from), tl = strlen(edits[i].to);
        char *bad = malloc(n - fl + tl + 1);
        memcpy(bad, good, a);
        memcpy(bad + a, edits[i].to, tl);
        memcpy(bad + a + tl, good + a + fl, n - a - fl);
        bad[n - fl + tl] = '\0';
        assert_int_equal(tu_write_file(path, bad, strlen(bad)), 0);
        hd_rm_mllama_config r;
        hd_error e = {0};
        assert_int_not_equal(hd_rm_mllama_config_from_hf(&r, path, &e), HD_OK);
        if (!strstr(e.msg, edits[i].msg) || !strstr(e.msg, path)) fail_msg("edit %zu: message \"%s\"", i, e.msg);
        assert_null(strchr(e.msg, '\n'));
        free(bad);
    }
    free(good);
}

/* The patch embedding (rows of 14) is F16 in block-typed GGUFs; Q4_K fails naming a tensor. */
static void test_block_types(void **state) {
    (void)state;
    hd_rm_mllama_config c;
    assert_true(hd_rm_mllama_preset("tiny", &c));
    hd_rm_plan plan = {0};
    hd_error err = {0};
    assert_int_equal(hd_rm_mllama_plan(&c, &plan, &err), HD_OK);
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "mllama";
    p.type = HD_TYPE_Q4_0;
    assert_int_equal(hd_rm_check_type(&plan, &p, &err), HD_OK);
    p.type = HD_TYPE_Q4_K;
    assert_int_equal(hd_rm_check_type(&plan, &p, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "multiples of 256"));
    const hd_rm_tensor *patch = find(&plan, "vision_model.patch_embedding.weight");
    assert_non_null(patch);
    assert_true(patch->gguf_f16_if_blocked);
    hd_rm_plan_free(&plan);

    char path[4200];
    snprintf(path, sizeof path, "%s/q8.gguf", tu_tmpdir());
    p = hd_random_model_default_params();
    p.arch = "mllama";
    p.type = HD_TYPE_Q8_0;
    p.n_threads = 1;
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    int checked = 0;
    for (int64_t i = 0; i < hd_gguf_n_tensors(g); i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        const int want = strcmp(t->name, "v.patch_embd.weight") == 0 ? HD_TYPE_F16
                         : t->n_dims == 1                          ? HD_TYPE_F32
                                                                   : HD_TYPE_Q8_0;
        if ((int)t->type != want) fail_msg("%s has type %d, want %d", t->name, (int)t->type, want);
        checked++;
    }
    assert_int_equal(checked, 241);
    hd_gguf_close(g);
}

/* The vision tower and the text decoder load from the same written file or folder. */
static void test_loaders(void **state) {
    (void)state;
    char gguf[4200], hf[4200];
    snprintf(gguf, sizeof gguf, "%s/tiny.gguf", tu_tmpdir());
    snprintf(hf, sizeof hf, "%s/tiny_hf", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "mllama";
    p.seed = 3;
    p.n_threads = 1;
    hd_error err = {0};
    assert_int_equal(hd_random_model_write(&p, gguf, &err), HD_OK);
    p.format = HD_RM_HF;
    assert_int_equal(hd_random_model_write(&p, hf, &err), HD_OK);
    const char *paths[2] = {gguf, hf};
    for (int k = 0; k < 2; k++) {
        hd_vit *v = hd_vit_load(paths[k], &err);
        if (!v) fail_msg("%s", err.msg);
        assert_int_equal(hd_vit_get_config(v)->proj_dim, 64);
        hd_vit_free(v);
        hd_llama_model *m = hd_llama_load(paths[k], &err);
        if (!m) fail_msg("%s", err.msg);
        assert_true(hd_llama_has_cross_attention(m));
        assert_int_equal(m->cfg.n_xattn, 2);
        assert_int_equal(m->cfg.image_token_id, 128256);
        hd_llama_free(m);
    }
}

static void test_dry_run_writes_nothing(void **state) {
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/dry_11b", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "mllama";
    p.preset = "llama-3.2-11b-vision";
    p.format = HD_RM_HF;
    p.type = HD_TYPE_BF16;
    p.dry_run = true;
    hd_error err = {0};
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    p.n_vocab = 512;
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "--vocab"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_11b),
        cmocka_unit_test(test_preset_tiny_and_unknown),
        cmocka_unit_test(test_config_round_trip),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_block_types),
        cmocka_unit_test(test_loaders),
        cmocka_unit_test(test_dry_run_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
