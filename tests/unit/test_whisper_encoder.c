/* tests/unit/test_whisper_encoder.c — speech/whisper_encoder.c: presets and
 * config checks, WhisperConfig JSON (defaults, errors), the mmproj name map,
 * frame counts, loading errors naming the file and tensor (missing, wrong
 * shape, a k_proj bias Whisper does not have, wrong prefix, no config),
 * forward argument errors, and the key mask on a random checkpoint: with
 * n_valid frames, changing mel frames past the valid ones leaves the valid
 * encoder frames unchanged, and without the mask the change reaches them.
 * (Parity with the math: tests/parity/test_whisper.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "core/weights.h"
#include "speech/whisper_encoder.h"
#include "testutil.h"

static void test_presets_and_counts(void **state) {
    (void)state;
    hd_whisper_config c;
    hd_error err = {0};
    assert_true(hd_whisper_preset("whisper-large-v3-turbo", &c));
    assert_int_equal(c.n_mel, 128);
    assert_int_equal(c.n_embd, 1280);
    assert_int_equal(c.n_layer, 32);
    assert_int_equal(hd_whisper_config_check(&c, &err), HD_OK);
    /* whisper-large-v3's encoder: 635 M parameters (published model size
     * 1.55 B, of which the encoder is ~0.64 B) */
    const int64_t np = hd_whisper_n_params(&c);
    assert_true(np > 630000000 && np < 640000000);
    assert_true(hd_whisper_preset("tiny-test", &c));
    assert_false(hd_whisper_preset("whisper-huge", &c));
    assert_int_equal(hd_whisper_encoder_n_out(3000), 1500);
    assert_int_equal(hd_whisper_encoder_n_out(2999), 1500);
    assert_int_equal(hd_whisper_encoder_n_out(1), 1);
    assert_int_equal(hd_whisper_encoder_n_out(0), 0);
    assert_int_equal(hd_whisper_encoder_max_frames(&c), 3000);
    c.n_head = 5; /* 64 % 5 */
    assert_int_equal(hd_whisper_config_check(&c, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "heads"));
}

static void test_json(void **state) {
    (void)state;
    hd_whisper_config c;
    hd_error err = {0};
    const char *uv = "{\"num_mel_bins\": 128, \"d_model\": 1280, \"encoder_layers\": 32, "
                     "\"encoder_attention_heads\": 20, \"encoder_ffn_dim\": 5120, \"activation_function\": \"gelu\"}";
    assert_int_equal(hd_whisper_config_from_json(uv, strlen(uv), "uv/config.json", &c, &err), HD_OK);
    assert_int_equal(c.n_embd, 1280);
    assert_int_equal(c.n_pos, 1500); /* default */
    /* absent keys: WhisperConfig's defaults (whisper-tiny's shape) */
    assert_int_equal(hd_whisper_config_from_json("{}", 2, "x.json", &c, &err), HD_OK);
    assert_int_equal(c.n_mel, 80);
    assert_int_equal(c.n_embd, 384);
    assert_int_equal(c.n_head, 6);
    assert_int_equal(c.n_layer, 4);
    assert_int_equal(c.n_ff, 1536);
    const char *bad[] = {"{\"d_model\": 64.5}", "{\"encoder_layers\": -1}", "{\"d_model\": \"64\"}",
                         "{\"d_model\": 64, \"encoder_attention_heads\": 5}", "[1, 2]", "{\"num_mel_bins\": 99999}",
                         "{\"d_model\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = (hd_error){0};
        assert_int_not_equal(hd_whisper_config_from_json(bad[i], strlen(bad[i]), "bad.json", &c, &err), HD_OK);
        assert_non_null(strstr(err.msg, "bad.json"));
    }
    const char *act = "{\"activation_function\": \"relu\"}";
    assert_int_equal(hd_whisper_config_from_json(act, strlen(act), "a.json", &c, &err), HD_ERR_UNSUPPORTED);
}

static void test_mmproj_names(void **state) {
    (void)state;
    char b[64];
    assert_true(hd_whisper_mmproj_name("conv1.weight", b, sizeof b));
    assert_string_equal(b, "a.conv1d.1.weight");
    assert_true(hd_whisper_mmproj_name("conv2.bias", b, sizeof b));
    assert_string_equal(b, "a.conv1d.2.bias");
    assert_true(hd_whisper_mmproj_name("embed_positions.weight", b, sizeof b));
    assert_string_equal(b, "a.position_embd.weight");
    assert_true(hd_whisper_mmproj_name("layer_norm.bias", b, sizeof b));
    assert_string_equal(b, "a.post_ln.bias");
    assert_true(hd_whisper_mmproj_name("layers.31.self_attn.out_proj.weight", b, sizeof b));
    assert_string_equal(b, "a.blk.31.attn_out.weight");
    assert_true(hd_whisper_mmproj_name("layers.0.self_attn_layer_norm.bias", b, sizeof b));
    assert_string_equal(b, "a.blk.0.ln1.bias");
    assert_true(hd_whisper_mmproj_name("layers.7.fc2.weight", b, sizeof b));
    assert_string_equal(b, "a.blk.7.ffn_down.weight");
    assert_false(hd_whisper_mmproj_name("layers.1.self_attn.k_proj.bias", b, sizeof b));
    assert_false(hd_whisper_mmproj_name("layers.x.fc1.weight", b, sizeof b));
    assert_false(hd_whisper_mmproj_name("layers.01.fc1.weight", b, sizeof b));
    assert_false(hd_whisper_mmproj_name("multi_modal_projector.linear_1.weight", b, sizeof b));
    assert_false(hd_whisper_mmproj_name("layers.3.fc1.weight", b, 8)); /* does not fit */
}

/* ---- a random tiny checkpoint ------------------------------------------------- */

enum { M = 8, D = 16, H = 2, FF = 24, NL = 2, P = 12 };

typedef struct ckpt {
    char dir[512];
    float *data[64];
    int n;
} ckpt;

static void add(hd_st_writer *w, ckpt *k, tu_rng *r, const char *name, int n_dims, int64_t d0, int64_t d1,
                int64_t d2, float scale, float bias) {
    const int64_t shape[3] = {d0, d1, d2};
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= shape[i];
    float *v = malloc((size_t)n * sizeof *v);
    tu_fill_normal(r, v, (size_t)n, scale);
    for (int64_t i = 0; i < n; i++) v[i] += bias;
    k->data[k->n++] = v;
    hd_error err = {0};
    assert_int_equal(hd_st_writer_add(w, name, HD_TYPE_F32, n_dims, shape, v, &err), HD_OK);
}

/* Writes DIR/model.safetensors; skip (NULL) leaves one tensor out, extra adds
 * a k_proj bias, wide makes fc1 the wrong shape. */
static void write_ckpt(ckpt *k, const char *tag, const char *skip, bool extra, bool wide) {
    snprintf(k->dir, sizeof k->dir, "%s/whisper_%s", tu_tmpdir(), tag);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", k->dir);
    assert_int_equal(system(cmd), 0);
    hd_error err = {0};
    hd_st_writer *w = hd_st_writer_create(&err);
    tu_rng r;
    tu_rng_seed(&r, 77);
    k->n = 0;
    char name[128];
#define ADD(nm, nd, a, b, c, s, bias)                                                       \
    do {                                                                                    \
        snprintf(name, sizeof name, "audio_tower.%s", nm);                                  \
        if (!skip || strcmp(skip, nm)) add(w, k, &r, name, nd, a, b, c, s, bias);           \
    } while (0)
    ADD("conv1.weight", 3, D, M, 3, 0.3f, 0);
    ADD("conv1.bias", 1, D, 0, 0, 0.1f, 0);
    ADD("conv2.weight", 3, D, D, 3, 0.2f, 0);
    ADD("conv2.bias", 1, D, 0, 0, 0.1f, 0);
    ADD("embed_positions.weight", 2, P, D, 0, 0.5f, 0);
    char nm[96];
    for (int i = 0; i < NL; i++) {
        const char *mats[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int j = 0; j < 4; j++) {
            snprintf(nm, sizeof nm, "layers.%d.self_attn.%s.weight", i, mats[j]);
            ADD(nm, 2, D, D, 0, 0.25f, 0);
            if (j != 1 || extra) {
                snprintf(nm, sizeof nm, "layers.%d.self_attn.%s.bias", i, mats[j]);
                ADD(nm, 1, D, 0, 0, 0.1f, 0);
            }
        }
        snprintf(nm, sizeof nm, "layers.%d.self_attn_layer_norm.weight", i);
        ADD(nm, 1, D, 0, 0, 0.1f, 1);
        snprintf(nm, sizeof nm, "layers.%d.self_attn_layer_norm.bias", i);
        ADD(nm, 1, D, 0, 0, 0.1f, 0);
        snprintf(nm, sizeof nm, "layers.%d.final_layer_norm.weight", i);
        ADD(nm, 1, D, 0, 0, 0.1f, 1);
        snprintf(nm, sizeof nm, "layers.%d.final_layer_norm.bias", i);
        ADD(nm, 1, D, 0, 0, 0.1f, 0);
        snprintf(nm, sizeof nm, "layers.%d.fc1.weight", i);
        ADD(nm, 2, FF + (wide ? 1 : 0), D, 0, 0.25f, 0);
        snprintf(nm, sizeof nm, "layers.%d.fc1.bias", i);
        ADD(nm, 1, FF, 0, 0, 0.1f, 0);
        snprintf(nm, sizeof nm, "layers.%d.fc2.weight", i);
        ADD(nm, 2, D, FF, 0, 0.25f, 0);
        snprintf(nm, sizeof nm, "layers.%d.fc2.bias", i);
        ADD(nm, 1, D, 0, 0, 0.1f, 0);
    }
    ADD("layer_norm.weight", 1, D, 0, 0, 0.1f, 1);
    ADD("layer_norm.bias", 1, D, 0, 0, 0.1f, 0);
#undef ADD
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", k->dir);
    assert_int_equal(hd_st_writer_write(w, path, &err), HD_OK);
    hd_st_writer_free(w);
    for (int i = 0; i < k->n; i++) free(k->data[i]);
}

static hd_whisper_config tiny_config(void) {
    return (hd_whisper_config){.n_mel = M, .n_embd = D, .n_ff = FF, .n_layer = NL, .n_head = H, .n_pos = P,
                               .norm_eps = 1e-5f};
}

static void expect_load_error(const char *tag, const char *skip, bool extra, bool wide, const char *needle) {
    ckpt k;
    write_ckpt(&k, tag, skip, extra, wide);
    hd_error err = {0};
    hd_weights *w = hd_weights_open(k.dir, &err);
    assert_non_null(w);
    const hd_whisper_config c = tiny_config();
    assert_null(hd_whisper_encoder_load(w, "audio_tower.", &c, &err));
    if (!strstr(err.msg, needle)) fail_msg("expected '%s' in: %s", needle, err.msg);
    assert_non_null(strstr(err.msg, "whisper_")); /* names the file */
    hd_weights_close(w);
}

static void test_load_errors(void **state) {
    (void)state;
    expect_load_error("missing", "layers.1.fc2.bias", false, false, "audio_tower.layers.1.fc2.bias");
    expect_load_error("kbias", NULL, true, false, "k_proj.bias");
    expect_load_error("wide", NULL, false, true, "audio_tower.layers.0.fc1.weight");
    /* wrong prefix: the first tensor is missing */
    ckpt k;
    write_ckpt(&k, "ok", NULL, false, false);
    hd_error err = {0};
    hd_weights *w = hd_weights_open(k.dir, &err);
    const hd_whisper_config c = tiny_config();
    assert_null(hd_whisper_encoder_load(w, "model.encoder.", &c, &err));
    assert_non_null(strstr(err.msg, "model.encoder.conv1.weight"));
    assert_null(hd_whisper_encoder_load(w, "audio_tower.", NULL, &err)); /* HF layout needs a config */
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_null(hd_whisper_encoder_load_mmproj(w, NULL, &err)); /* no GGUF keys */
    hd_weights_close(w);
    hd_whisper_encoder_free(NULL);
}

static void test_forward(void **state) {
    (void)state;
    ckpt k;
    write_ckpt(&k, "fw", NULL, false, false);
    hd_error err = {0};
    hd_weights *w = hd_weights_open(k.dir, &err);
    const hd_whisper_config c = tiny_config();
    hd_whisper_encoder *e = hd_whisper_encoder_load(w, "audio_tower.", &c, &err);
    assert_non_null(e);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    tu_rng r;
    tu_rng_seed(&r, 3);
    const int64_t T = 2 * P, S = P;
    float *mel = malloc((size_t)(T * M) * sizeof *mel), *mel2 = malloc((size_t)(T * M) * sizeof *mel2);
    float *a = malloc((size_t)(S * D) * sizeof *a), *b = malloc((size_t)(S * D) * sizeof *b);
    tu_fill_normal(&r, mel, (size_t)(T * M), 1.0f);
    /* argument errors */
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, T + 1, T + 1, a, &err), HD_ERR_ARG);
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, 0, 0, a, &err), HD_ERR_ARG);
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, T, 0, a, &err), HD_ERR_ARG);
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, T, T + 1, a, &err), HD_ERR_ARG);
    /* with 10 valid frames (5 encoder frames), changing frames ≥ 12 (which
     * reach encoder frames ≥ 6 only: conv2 at s reads conv1 at 2s−1..2s+1,
     * conv1 at t reads mel t−1..t+1) leaves encoder frames 0..4 unchanged */
    const int64_t valid = 10;
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, T, valid, a, &err), HD_OK);
    memcpy(mel2, mel, (size_t)(T * M) * sizeof *mel);
    for (int64_t i = 12 * M; i < T * M; i++) mel2[i] += 3.0f;
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel2, T, valid, b, &err), HD_OK);
    assert_true(tu_max_abs_err(a, b, 5 * D) < 1e-6f);
    assert_true(tu_max_abs_err(a + 6 * D, b + 6 * D, (size_t)((S - 6) * D)) > 1e-3f);
    /* without the mask the same change reaches every frame */
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, T, T, a, &err), HD_OK);
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel2, T, T, b, &err), HD_OK);
    assert_true(tu_max_abs_err(a, b, 5 * D) > 1e-4f);
    /* a short window is computed (arena reused) and is finite */
    assert_int_equal(hd_whisper_encoder_forward(e, &ex, mel, 7, 7, a, &err), HD_OK);
    for (int i = 0; i < 4 * D; i++) assert_true(isfinite(a[i]));
    free(mel), free(mel2), free(a), free(b);
    hd_whisper_encoder_free(e);
    hd_weights_close(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_and_counts), cmocka_unit_test(test_json),
        cmocka_unit_test(test_mmproj_names),       cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
