/* tests/unit/test_vision.c — vision/preprocess.h, vision/resample.h,
 * vision/vit_config.h and vision/vit.h: the SPEC's worked examples, edge
 * cases, and every bad input giving a one-line error instead of a crash.
 * (Numerical parity with the Python references is tests/parity/test_vit.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "core/exec.h"
#include "lm/random_model.h"
#include "vision/preprocess.h"
#include "vision/resample.h"
#include "vision/vit.h"
#include "vision/vit_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tiling (SPEC §2.3 worked examples) ---------------------------------------- */

static void fit_worked_examples(void **state) {
    (void)state;
    hd_error err = {0};
    int r, c, w, h;
    /* 800x600: only up-scale option 1.4 is (2,2); the image is kept as it is */
    assert_int_equal(hd_mllama_fit(800, 600, 560, 4, &r, &c, &w, &h, &err), HD_OK);
    assert_int_equal(r, 2), assert_int_equal(c, 2), assert_int_equal(w, 800), assert_int_equal(h, 600);
    /* 1000x400: (1,2) and (2,2) tie at 1.12, the smaller area wins */
    assert_int_equal(hd_mllama_fit(1000, 400, 560, 4, &r, &c, &w, &h, &err), HD_OK);
    assert_int_equal(r, 1), assert_int_equal(c, 2), assert_int_equal(w, 1000), assert_int_equal(h, 400);
    /* a small image is up-scaled until its limiting side reaches the tile */
    assert_int_equal(hd_mllama_fit(100, 50, 560, 4, &r, &c, &w, &h, &err), HD_OK);
    assert_int_equal(r, 1), assert_int_equal(c, 1), assert_int_equal(w, 560), assert_int_equal(h, 280);
    /* a huge image is only down-scaled, to the largest scale (< 1) */
    assert_int_equal(hd_mllama_fit(4000, 3000, 560, 4, &r, &c, &w, &h, &err), HD_OK);
    assert_int_equal(r, 2), assert_int_equal(c, 2), assert_int_equal(w, 1120), assert_int_equal(h, 840);
    /* the ids list */
    int rows[64], cols[64];
    assert_int_equal(hd_mllama_aspect_ratios(4, rows, cols), 8);
    const int wr[8] = {1, 1, 1, 1, 2, 2, 3, 4}, wc[8] = {1, 2, 3, 4, 1, 2, 1, 1};
    for (int i = 0; i < 8; i++) assert_int_equal(rows[i], wr[i]), assert_int_equal(cols[i], wc[i]);
}

static void fit_bad_arguments(void **state) {
    (void)state;
    hd_error err = {0};
    int r, c, w, h;
    assert_int_equal(hd_mllama_fit(0, 10, 560, 4, &r, &c, &w, &h, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "empty image"));
    assert_int_equal(hd_mllama_fit(10, 10, 0, 4, &r, &c, &w, &h, &err), HD_ERR_ARG);
    assert_int_equal(hd_mllama_fit(10, 10, 560, 0, &r, &c, &w, &h, &err), HD_ERR_ARG);
    assert_int_equal(hd_mllama_fit(10, 10, 560, HD_MLLAMA_MAX_TILES + 1, &r, &c, &w, &h, &err), HD_ERR_ARG);
}

/* ---- preprocessing ----------------------------------------------------------------- */

static void preprocess_padding_and_tiles(void **state) {
    (void)state;
    hd_error err = {0};
    hd_image *img = hd_image_create(100, 30, &err);   /* wide: 1x4 tiles of 28, resized to 93x28 */
    assert_non_null(img);
    for (int i = 0; i < 100 * 30 * 3; i++) img->data[i] = 255;
    hd_mllama_preproc_params p = hd_mllama_preproc_default(28);
    hd_mllama_tiles t;
    assert_int_equal(hd_mllama_preprocess(img, &p, &t, &err), HD_OK);
    assert_int_equal(t.rows, 1), assert_int_equal(t.cols, 4), assert_int_equal(t.aspect_ratio_id, 4);
    assert_int_equal(t.n_tiles, 4);
    assert_int_equal(t.resized_w, 93), assert_int_equal(t.resized_h, 28);
    const float white0 = (1.0f - p.mean[0]) / p.std[0], black0 = -p.mean[0] / p.std[0];
    /* tile 3 holds columns 84..111: 84..92 white, 93..111 padding (black) */
    const float *t3 = t.pixels + 3 * 3 * 28 * 28;
    assert_float_equal(t3[0], white0, 1e-6);
    assert_float_equal(t3[8], white0, 1e-6);
    assert_float_equal(t3[9], black0, 1e-6);
    assert_float_equal(t3[27 * 28 + 9], black0, 1e-6);
    hd_mllama_tiles_free(&t);
    hd_mllama_tiles_free(&t);   /* twice: pixels were cleared */
    hd_mllama_tiles_free(NULL);

    /* a one-tile image: slots 1..3 are zero, mask 1 0 0 0 */
    p = hd_mllama_preproc_default(100);
    assert_int_equal(hd_mllama_preprocess(img, &p, &t, &err), HD_OK);
    assert_int_equal(t.n_tiles, 1);
    assert_int_equal(t.mask[0], 1), assert_int_equal(t.mask[1], 0), assert_int_equal(t.mask[3], 0);
    for (size_t i = 3 * 100 * 100; i < 4 * 3 * 100 * 100; i++) assert_true(t.pixels[i] == 0.0f);
    hd_mllama_tiles_free(&t);

    p.std[1] = 0;
    assert_int_equal(hd_mllama_preprocess(img, &p, &t, &err), HD_ERR_ARG);
    assert_null(t.pixels);
    assert_int_equal(hd_mllama_preprocess(NULL, &p, &t, &err), HD_ERR_ARG);
    hd_image_free(img);
}

/* ---- resampling -------------------------------------------------------------------- */

static void resample_constant_and_identity(void **state) {
    (void)state;
    hd_error err = {0};
    uint8_t src[37 * 23 * 3], dst[91 * 11 * 3];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i % 3 == 0 ? 200 : i % 3 == 1 ? 7 : 0);
    /* a constant image stays constant whether up- or down-scaled */
    assert_int_equal(hd_resize_bilinear_rgb8(src, 37, 23, dst, 91, 11, &err), HD_OK);
    for (size_t i = 0; i < sizeof dst; i += 3)
        assert_int_equal(dst[i], 200), assert_int_equal(dst[i + 1], 7), assert_int_equal(dst[i + 2], 0);
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(tu_rng_u64(&rng) & 255);
    uint8_t same[sizeof src];
    assert_int_equal(hd_resize_bilinear_rgb8(src, 37, 23, same, 37, 23, &err), HD_OK);
    assert_memory_equal(src, same, sizeof src);
    /* halving a 2x1 pair of pixels averages them (with Pillow's rounding) */
    const uint8_t two[6] = {10, 20, 30, 21, 40, 61};
    uint8_t one[3];
    assert_int_equal(hd_resize_bilinear_rgb8(two, 2, 1, one, 1, 1, &err), HD_OK);
    assert_int_equal(one[0], 16), assert_int_equal(one[1], 30), assert_int_equal(one[2], 46);
    assert_int_equal(hd_resize_bilinear_rgb8(src, 0, 23, dst, 5, 5, &err), HD_ERR_ARG);
}

/* ---- configuration -------------------------------------------------------------------- */

static const char *k_cfg =
    "{\"text_config\": {\"hidden_size\": 64}, \"vision_config\": {\"attention_heads\": 4, \"hidden_size\": 32,"
    " \"image_size\": 56, \"intermediate_layers_indices\": [1, 3, 4, 6, 7], \"intermediate_size\": 64,"
    " \"max_num_tiles\": 4, \"num_global_layers\": 2, \"num_hidden_layers\": 8, \"patch_size\": 14,"
    " \"vision_output_dim\": 192%s}}";

static hd_status parse_cfg(const char *extra, hd_vit_config *c, hd_error *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, k_cfg, extra);
    return hd_vit_config_from_hf_json(c, buf, strlen(buf), "config.json", err);
}

static void config_parse_and_errors(void **state) {
    (void)state;
    hd_error err = {0};
    hd_vit_config c, preset;
    assert_int_equal(parse_cfg("", &c, &err), HD_OK);
    assert_true(hd_vit_config_preset("tiny", &preset));
    assert_int_equal(c.n_pos, 17), assert_int_equal(c.n_pad, 7), assert_int_equal(c.n_ar, 9);
    assert_int_equal(c.out_dim, 192), assert_int_equal(c.proj_dim, 64);
    assert_int_equal(memcmp(&c, &preset, sizeof c), 0);
    assert_true(hd_vit_config_preset("llama-3.2-11b-vision", &preset));
    assert_int_equal(preset.n_pos, 1601), assert_int_equal(preset.out_dim, 7680);
    assert_false(hd_vit_config_preset("nope", &preset));

    assert_int_equal(parse_cfg(", \"supported_aspect_ratios\": [[1, 1], [2, 2]]", &c, &err), HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "supported_aspect_ratios"));
    assert_int_equal(parse_cfg(", \"hidden_act\": \"silu\"", &c, &err), HD_ERR_UNSUPPORTED);
    assert_int_equal(hd_vit_config_from_hf_json(&c, "{", 1, "config.json", &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "config.json: not valid JSON"));
    const char *no_vision = "{\"text_config\": {\"hidden_size\": 64}}";
    assert_int_equal(hd_vit_config_from_hf_json(&c, no_vision, strlen(no_vision), "config.json", &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "vision_config"));

    /* ranges checked by validate */
    hd_vit_config b = preset;
    b.inter[2] = b.inter[1];
    assert_int_equal(hd_vit_config_validate(&b, "x", &err), HD_ERR_FORMAT);
    b = preset;
    b.image_size = 448;   /* the 11B base: 32x32 patches + CLS = 1025 tokens, 7 padding */
    assert_int_equal(hd_vit_config_validate(&b, "x", &err), HD_OK);
    assert_int_equal(b.n_pos, 1025), assert_int_equal(b.n_pad, 7);
    b = preset;
    b.image_size = 100;   /* not a multiple of 14 */
    assert_int_equal(hd_vit_config_validate(&b, "x", &err), HD_ERR_FORMAT);
    b = preset;
    b.n_head = 7;
    assert_int_equal(hd_vit_config_validate(&b, "x", &err), HD_ERR_FORMAT);
}

/* ---- the encoder: loading errors, argument checks, determinism ------------------------ */

static const char *write_tiny(const char *name, hd_rm_format fmt) {
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = "mllama-vision";
    rp.preset = "tiny";
    rp.format = fmt;
    rp.seed = 2;
    rp.n_threads = 1;
    hd_error err = {0};
    assert_int_equal(hd_random_model_write(&rp, p, &err), HD_OK);
    return p;
}

static void vit_encode_checks(void **state) {
    (void)state;
    hd_error err = {0};
    const char *hf = write_tiny("vit_hf", HD_RM_HF);
    hd_vit *v = hd_vit_load(hf, &err);
    assert_non_null(v);
    const hd_vit_config *c = hd_vit_get_config(v);
    const size_t n_px = (size_t)c->max_tiles * 3 * (size_t)(c->image_size * c->image_size);
    const size_t n_f = (size_t)c->max_tiles * (size_t)c->n_pos * (size_t)c->out_dim;
    const size_t n_p = (size_t)c->max_tiles * (size_t)c->n_pos * (size_t)c->proj_dim;
    float *px = calloc(n_px, sizeof *px), *f1 = malloc(n_f * 4), *f2 = malloc(n_f * 4), *p1 = malloc(n_p * 4);
    tu_rng rng;
    tu_rng_seed(&rng, 9);
    tu_fill_normal(&rng, px, n_px, 1.0f);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    assert_int_equal(hd_vit_encode(v, &ex, px, 6, 4, f1, p1, &err), HD_OK);
    /* the same call again gives the same numbers (the arena is reset) */
    assert_int_equal(hd_vit_encode(v, &ex, px, 6, 4, f2, NULL, &err), HD_OK);
    assert_memory_equal(f1, f2, n_f * 4);
    /* the first 32 columns are the global output, then intermediates interleaved:
     * fewer valid tiles changes them (the mask and the tile embeddings differ) */
    assert_int_equal(hd_vit_encode(v, &ex, px, 2, 2, f2, NULL, &err), HD_OK);
    assert_true(tu_max_abs_err(f1, f2, n_f) > 1e-3f);
    for (size_t i = 0; i < n_p; i++) assert_true(isfinite(p1[i]));
    assert_int_equal(hd_vit_encode(v, &ex, px, 0, 1, f1, NULL, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "aspect ratio id 0"));
    assert_int_equal(hd_vit_encode(v, &ex, px, 9, 1, f1, NULL, &err), HD_ERR_ARG);
    assert_int_equal(hd_vit_encode(v, &ex, px, 1, 5, f1, NULL, &err), HD_ERR_ARG);
    hd_vit_free(v);
    hd_vit_free(NULL);

    /* GGUF with the same seed: the same features bit for bit (F32) */
    const char *gg = write_tiny("vit.gguf", HD_RM_GGUF);
    v = hd_vit_load(gg, &err);
    assert_non_null(v);
    assert_int_equal(hd_vit_encode(v, &ex, px, 6, 4, f2, NULL, &err), HD_OK);
    assert_memory_equal(f1, f2, n_f * 4);
    hd_vit_free(v);
    free(px), free(f1), free(f2), free(p1);
}

static void vit_load_errors(void **state) {
    (void)state;
    hd_error err = {0};
    assert_null(hd_vit_load("/nonexistent/folder", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/folder"));
    /* a config whose width disagrees with the weights: the tensor and both shapes are named */
    const char *hf = write_tiny("vit_bad", HD_RM_HF);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", hf);
    char text[1024];
    snprintf(text, sizeof text, k_cfg, "");
    char *wrong = strstr(text, "\"hidden_size\": 32");
    assert_non_null(wrong);
    memcpy(wrong, "\"hidden_size\": 16", strlen("\"hidden_size\": 16"));
    char *vod = strstr(text, "192");
    memcpy(vod, " 96", 3);
    assert_int_equal(tu_write_file(cfg, text, strlen(text)), 0);
    assert_null(hd_vit_load(hf, &err));
    assert_int_equal(err.code, HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "vision_model."));
    assert_non_null(strstr(err.msg, "expected"));
    /* a missing tensor */
    char st[600];
    snprintf(st, sizeof st, "%s/model.safetensors", hf);
    snprintf(text, sizeof text, k_cfg, "");
    assert_int_equal(tu_write_file(cfg, text, strlen(text)), 0);
    remove(st);
    assert_null(hd_vit_load(hf, &err));
    /* a Llama GGUF is not a vision tower */
    char lg[600];
    snprintf(lg, sizeof lg, "%s/llama.gguf", tu_tmpdir());
    hd_random_model_params rp = hd_random_model_default_params();
    rp.n_vocab = 256;
    rp.n_threads = 1;
    assert_int_equal(hd_random_model_write(&rp, lg, &err), HD_OK);
    assert_null(hd_vit_load(lg, &err));
    assert_non_null(strstr(err.msg, "mllama_vision"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fit_worked_examples),
        cmocka_unit_test(fit_bad_arguments),
        cmocka_unit_test(preprocess_padding_and_tiles),
        cmocka_unit_test(resample_constant_and_identity),
        cmocka_unit_test(config_parse_and_errors),
        cmocka_unit_test(vit_encode_checks),
        cmocka_unit_test(vit_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
