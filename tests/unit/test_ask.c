/* tests/unit/test_ask.c — `herd ask` (the graph: image ! vit ! llama
 * task=ask) against a second, hand-written path through the library on a
 * tiny random Llama 3.2 Vision model: the same greedy token ids.
 *
 * The direct path uses no graph code: hd_vit_encode on the preprocessed
 * tiles, the prompt ids assembled by hand from the chat layout
 * (<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>Q
 * <|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n), the image
 * range of SPEC §2.7 for one image ([position of <|image|>, open end)),
 * hd_llama_set_images and hd_generate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "graph/vision_lm.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "media/image.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N_PREDICT 12
static const char *k_question = "What is in this picture?";

static char g_model[512], g_text[512];

static int setup(void **state) {
    (void)state;
    char tok[512];
    tu_fixture(tok, sizeof tok, "tokenizer/llama3_tokenizer.model");
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = "mllama";
    rp.preset = "tiny";
    rp.tokenizer = tok;
    rp.n_threads = 1;
    snprintf(g_model, sizeof g_model, "%s/mllama.gguf", tu_tmpdir());
    hd_error err = {0};
    if (hd_random_model_write(&rp, g_model, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    rp.arch = "llama";
    snprintf(g_text, sizeof g_text, "%s/llama.gguf", tu_tmpdir());
    if (hd_random_model_write(&rp, g_text, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    return 0;
}

/* Runs a command, returns its stdout (caller frees) and exit status. */
static char *run_cmd(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

/* The ids of `herd ask --json`. */
static int herd_ids(const char *image, const char *extra, int32_t *ids, int cap) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' ask -m '%s' %s%s%s --temp 0 -n %d --json --quiet -t 2 %s '%s'", HERD_BINARY, g_model,
             image ? "-i '" : "", image ? image : "", image ? "'" : "", N_PREDICT, extra ? extra : "", k_question);
    int status;
    char *out = run_cmd(cmd, &status);
    if (status != 0) fail_msg("%s -> exit %d: %s", cmd, status, out);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *a = cJSON_GetObjectItem(j, "ids");
    assert_true(cJSON_IsArray(a));
    int n = cJSON_GetArraySize(a);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
    assert_int_equal(cJSON_GetObjectItem(j, "n_images")->valueint, image ? 1 + (extra && strstr(extra, "-i ")) : 0);
    cJSON_Delete(j);
    free(out);
    return n;
}

static void push(int32_t *ids, int *n, int32_t id) { ids[(*n)++] = id; }

typedef struct collector {
    int32_t ids[N_PREDICT + 1];
    int n;
} collector;

static bool on_token(void *u, int32_t tk, const char *t, size_t l) {
    (void)t, (void)l;
    collector *c = u;
    if (tk >= 0 && c->n <= N_PREDICT) c->ids[c->n++] = tk;
    return true;
}

/* The direct path with the given row-mask mode for n_img images (0: text only). */
static int direct_images(const char *const *images, int n_img, hd_xattn_mask_mode mode, int32_t *out, int cap) {
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(g_model, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_true(hd_llama_has_cross_attention(m));
    hd_tokenizer *tok = hd_tokenizer_load(g_model, &err);
    assert_non_null(tok);

    /* the prompt, by hand */
    int32_t ids[256];
    int n = 0, img_pos[2] = {-1, -1};
    assert_true(n_img <= 2);
    push(ids, &n, 128000);   /* <|begin_of_text|> */
    push(ids, &n, 128006);   /* <|start_header_id|> */
    push(ids, &n, 882);      /* "user" */
    push(ids, &n, 128007);   /* <|end_header_id|> */
    push(ids, &n, 271);      /* "\n\n" */
    for (int i = 0; i < n_img; i++) {
        img_pos[i] = n;
        push(ids, &n, 128256);   /* <|image|>: the first row after the 128 256 ids */
    }
    size_t got = 0;
    assert_int_equal(hd_tokenizer_encode(tok, k_question, strlen(k_question), 0, ids + n, 64, &got, &err), HD_OK);
    n += (int)got;
    push(ids, &n, 128009);   /* <|eot_id|> */
    push(ids, &n, 128006);
    push(ids, &n, 78191);    /* "assistant" */
    push(ids, &n, 128007);
    push(ids, &n, 271);

    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 2;
    cp.xattn_mask = mode;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    assert_non_null(ctx);
    float *states[2] = {NULL, NULL};
    hd_llama_image li[2];
    for (int i = 0; i < n_img; i++) {
        hd_vit *v = hd_vit_load(g_model, &err);
        if (!v) fail_msg("%s", err.msg);
        const hd_vit_config *c = hd_vit_get_config(v);
        hd_image *im = hd_image_load(images[i], NULL, &err);
        assert_non_null(im);
        hd_mllama_preproc_params pp = hd_mllama_preproc_default(c->image_size);
        pp.max_tiles = c->max_tiles;
        hd_mllama_tiles t;
        assert_int_equal(hd_mllama_preprocess(im, &pp, &t, &err), HD_OK);
        const int64_t rows = (int64_t)c->max_tiles * c->n_pos;
        states[i] = malloc((size_t)(rows * c->proj_dim) * sizeof *states[i]);
        hd_exec ex = {.backend = HD_BACKEND_CPU};
        assert_int_equal(hd_vit_encode(v, &ex, t.pixels, t.aspect_ratio_id, t.n_tiles, NULL, states[i], &err), HD_OK);
        /* SPEC 2.7: one image is seen by every later position; two adjacent
         * images are both seen by the text after them, and (Meta) not by the
         * generated tokens, (HF) by them too */
        li[i] = (hd_llama_image){
            .states = states[i],
            .n_tokens = rows,
            .n_valid = (int64_t)t.n_tiles * c->n_pos,
            .pos_begin = img_pos[i],
            .pos_end = n_img == 1 || mode == HD_XATTN_MASK_HF ? -1 : n,
        };
        hd_mllama_tiles_free(&t);
        hd_image_free(im);
        hd_vit_free(v);
    }
    if (n_img) assert_int_equal(hd_llama_set_images(ctx, li, n_img, &err), HD_OK);
    hd_generate_params gp = hd_generate_default_params();
    gp.n_predict = N_PREDICT;
    gp.sampling.temp = 0;
    collector col = {.n = 0};
    gp.on_token = on_token;
    gp.user = &col;
    hd_generate_result res;
    if (hd_generate(ctx, tok, ids, n, &gp, &res, &err)) fail_msg("%s", err.msg);
    assert_true(col.n <= cap);
    memcpy(out, col.ids, (size_t)col.n * sizeof *out);
    free(states[0]);
    free(states[1]);
    hd_llama_context_free(ctx);
    hd_tokenizer_free(tok);
    hd_llama_free(m);
    return col.n;
}

static int direct_ids(const char *image, hd_xattn_mask_mode mode, int32_t *out, int cap) {
    return direct_images(&image, image ? 1 : 0, mode, out, cap);
}

static void expect_same(const int32_t *a, int na, const int32_t *b, int nb) {
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) fail_msg("token %d: herd ask %d, direct %d", i, a[i], b[i]);
}

static void test_ask_equals_direct(void **state) {
    (void)state;
    char img[512];
    tu_fixture(img, sizeof img, "images/rgba_three_dice.png");
    int32_t a[64], b[64];
    int na = herd_ids(img, NULL, a, 64), nb = direct_ids(img, HD_XATTN_MASK_META, b, 64);
    assert_true(na > 0);
    expect_same(a, na, b, nb);
    /* --hf-mask: the same as the library with HD_XATTN_MASK_HF */
    na = herd_ids(img, "--hf-mask", a, 64);
    nb = direct_ids(img, HD_XATTN_MASK_HF, b, 64);
    expect_same(a, na, b, nb);
    /* no image: a plain chat question, cross-attention layers skipped */
    int32_t c[64], d[64];
    int nc = herd_ids(NULL, NULL, c, 64), nd = direct_ids(NULL, HD_XATTN_MASK_META, d, 64);
    expect_same(c, nc, d, nd);
}

static void test_two_images(void **state) {
    (void)state;
    /* -i A -i B: two <|image|> and two sets of states, both masks as the library */
    char i1[512], i2[512], extra[1200];
    tu_fixture(i1, sizeof i1, "images/rgba_three_dice.png");
    tu_fixture(i2, sizeof i2, "images/exif_orientation6_waterfall.jpg");
    const char *ab[2] = {i1, i2};
    int32_t a[64], b[64];
    snprintf(extra, sizeof extra, "-i '%s'", i2);
    int na = herd_ids(i1, extra, a, 64), nb = direct_images(ab, 2, HD_XATTN_MASK_META, b, 64);
    expect_same(a, na, b, nb);
    /* (adjacent images are seen by the same rows, and attention over the
     * union of their keys does not depend on their order) */
    snprintf(extra, sizeof extra, "-i '%s' --hf-mask", i2);
    na = herd_ids(i1, extra, a, 64);
    nb = direct_images(ab, 2, HD_XATTN_MASK_HF, b, 64);
    expect_same(a, na, b, nb);
}

static void test_image_matters(void **state) {
    (void)state;
    /* two different pictures give two different answers (the states reach the LM) */
    char i1[512], i2[512];
    tu_fixture(i1, sizeof i1, "images/rgba_three_dice.png");
    tu_fixture(i2, sizeof i2, "images/exif_orientation6_waterfall.jpg");
    int32_t a[64], b[64], c[64];
    int na = herd_ids(i1, NULL, a, 64), nb = herd_ids(i2, NULL, b, 64), nc = herd_ids(NULL, NULL, c, 64);
    assert_true(na > 0 && nb > 0 && nc > 0);
    bool ab = na != nb || memcmp(a, b, (size_t)na * sizeof *a) != 0;
    bool ac = na != nc || memcmp(a, c, (size_t)na * sizeof *a) != 0;
    assert_true(ab);
    assert_true(ac);
}

static void test_vlm_helpers(void **state) {
    (void)state;
    hd_error err = {0};
    char tp[512];
    tu_fixture(tp, sizeof tp, "tokenizer/llama3_tokenizer.model");
    hd_tokenizer *tok = hd_tokenizer_load(tp, &err);
    assert_non_null(tok);

    /* Meta's own dialog prompt (fixtures/tokenizer/llama-models_chat_vectors.json) */
    static const int32_t meta[] = {128000, 128006, 9125, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009, 128006,
                                   882, 128007, 271, 2028, 374, 264, 2077, 13, 128009, 128006, 78191, 128007, 271};
    hd_tokens t = {0};
    assert_int_equal(hd_vlm_user_turn(tok, true, "This is a test sentence.", -1, 0, "  This is a response.\n", &t, &err),
                     HD_OK);
    assert_int_equal(t.n, sizeof meta / sizeof meta[0]);
    assert_memory_equal(t.ids, meta, sizeof meta);
    /* two images: <|image|><|image|> right after the user header, nothing else moves */
    t.n = 0;
    assert_int_equal(hd_vlm_user_turn(tok, true, "This is a test sentence.", 128256, 2, "This is a response.", &t, &err),
                     HD_OK);
    assert_int_equal(t.n, sizeof meta / sizeof meta[0] + 2);
    assert_memory_equal(t.ids, meta, 16 * sizeof(int32_t));
    assert_true(t.ids[16] == 128256 && t.ids[17] == 128256);
    assert_memory_equal(t.ids + 18, meta + 16, (sizeof meta / sizeof meta[0] - 16) * sizeof(int32_t));
    /* a later turn: no <|begin_of_text|>, no system message; special names stay text */
    t.n = 0;
    assert_int_equal(hd_vlm_user_turn(tok, false, NULL, 128256, 0, "<|eot_id|>", &t, &err), HD_OK);
    assert_int_equal(t.ids[0], 128006);
    for (size_t i = 4; i + 5 < t.n; i++) assert_true(t.ids[i] < 128000);
    assert_int_equal(hd_vlm_user_turn(tok, false, NULL, -1, 1, "x", &t, &err), HD_ERR_ARG);
    hd_tokens_free(&t);

    /* <|image|>: the tiktoken file names 128011 <|image|> (Meta); a model with
     * rows past the vocabulary (HF layout) reads 128256 */
    assert_int_equal(hd_vlm_image_token(tok, NULL), 128011);
    hd_llama_model *mm = hd_llama_load(g_model, &err), *tl = hd_llama_load(g_text, &err);
    assert_non_null(mm);
    assert_non_null(tl);
    assert_int_equal(hd_vlm_image_token(tok, mm), 128256);
    assert_int_equal(hd_vlm_image_token(tok, tl), 128011);

    /* set_images: counts, widths and models are checked */
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 1;
    hd_llama_context *ctx = hd_llama_context_create(mm, &cp, &err), *tctx = hd_llama_context_create(tl, &cp, &err);
    assert_non_null(ctx);
    assert_non_null(tctx);
    hd_packet *img = hd_packet_embed_new(8, mm->cfg.n_embd, &err), *wide = hd_packet_embed_new(8, mm->cfg.n_embd + 1, &err);
    img->u.embed.what = wide->u.embed.what = HD_EMBED_IMAGE;
    memset(img->u.embed.data, 0, (size_t)(8 * mm->cfg.n_embd) * sizeof(float));
    const int32_t one[] = {128000, 128006, 882, 128007, 271, 128256, 1296, 128009};
    hd_packet *two[2] = {img, img};
    assert_int_equal(hd_vlm_set_images(ctx, one, 8, 128256, &img, 1, HD_XATTN_MASK_META, &err), HD_OK);
    assert_int_equal(hd_vlm_set_images(ctx, one, 8, 128256, two, 2, HD_XATTN_MASK_META, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "1 <|image|> token for 2 images"));
    assert_int_equal(hd_vlm_set_images(ctx, one, 8, 128256, &wide, 1, HD_XATTN_MASK_META, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "do not belong together"));
    img->u.embed.what = HD_EMBED_LM;
    assert_int_equal(hd_vlm_set_images(ctx, one, 8, 128256, &img, 1, HD_XATTN_MASK_META, &err), HD_ERR_ARG);
    img->u.embed.what = HD_EMBED_IMAGE;
    assert_int_equal(hd_vlm_set_images(tctx, one, 8, 128256, &img, 1, HD_XATTN_MASK_META, &err), HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "no cross-attention layers"));
    assert_int_equal(hd_vlm_set_images(ctx, one, 8, 128256, NULL, 0, HD_XATTN_MASK_META, &err), HD_OK);
    hd_packet_unref(img);
    hd_packet_unref(wide);
    hd_llama_context_free(ctx);
    hd_llama_context_free(tctx);
    hd_llama_free(mm);
    hd_llama_free(tl);
    hd_tokenizer_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vlm_helpers),
        cmocka_unit_test(test_ask_equals_direct),
        cmocka_unit_test(test_two_images),
        cmocka_unit_test(test_image_matters),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
