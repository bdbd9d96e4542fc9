/* tests/unit/test_llama_xattn.c — the mllama parts of lm/llama.h:
 *   hd_llama_image_ranges against SPEC §2.7's rules (none, one, two separate, two and
 *   three consecutive, image last, pos0 offset, META vs HF ends, max_ranges);
 *   config.json with text_config and GGUF mllama.* keys;
 *   a tiny mllama GGUF written here: text-only decoding equals the plain decoder made
 *   of its self layers (bit for bit), images change only the rows that see them (META),
 *   clear_images restores text-only behaviour, bad image arguments are errors;
 *   load errors name the file and the tensor or key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "lm/llama.h"
#include "lm/llama_config.h"
#include "testutil.h"

/* ---- hd_llama_image_ranges ------------------------------------------------------ */

#define IMG 500

static int ranges(const int32_t *t, int64_t n, int64_t pos0, hd_xattn_mask_mode mode, int64_t (*r)[2], int max) {
    for (int i = 0; i < 4; i++) r[i][0] = r[i][1] = -7;   /* every caller passes int64_t r[4][2] */
    return hd_llama_image_ranges(t, n, IMG, pos0, mode, r, max);
}

static void test_ranges_none_and_one(void **state) {
    (void)state;
    int64_t r[4][2];
    const int32_t text[4] = {1, 2, 3, 4};
    assert_int_equal(ranges(text, 4, 0, HD_XATTN_MASK_META, r, 4), 0);
    assert_int_equal(r[0][0], -7);
    assert_int_equal(hd_llama_image_ranges(NULL, 0, IMG, 0, HD_XATTN_MASK_META, r, 4), 0);
    /* one image: from its token on, open for generated tokens (both modes) */
    const int32_t one[6] = {1, 2, IMG, 3, 4, 5};
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(ranges(one, 6, 0, (hd_xattn_mask_mode)mode, r, 4), 1);
        assert_int_equal(r[0][0], 2);
        assert_int_equal(r[0][1], -1);
    }
    /* positions are absolute: the prompt starts at pos0 */
    assert_int_equal(ranges(one, 6, 100, HD_XATTN_MASK_META, r, 4), 1);
    assert_int_equal(r[0][0], 102);
    assert_int_equal(r[0][1], -1);
}

static void test_ranges_two_separate(void **state) {
    (void)state;
    int64_t r[4][2];
    const int32_t two[9] = {1, IMG, 2, 3, IMG, 4, 5, 6, 7};
    /* META: [1, 4), [4, 9) — generated tokens (≥ 9) see no image */
    assert_int_equal(ranges(two, 9, 0, HD_XATTN_MASK_META, r, 4), 2);
    assert_int_equal(r[0][0], 1);
    assert_int_equal(r[0][1], 4);
    assert_int_equal(r[1][0], 4);
    assert_int_equal(r[1][1], 9);
    /* HF: the last prompt row's images stay visible: the last range is open */
    assert_int_equal(ranges(two, 9, 10, HD_XATTN_MASK_HF, r, 4), 2);
    assert_int_equal(r[0][0], 11);
    assert_int_equal(r[0][1], 14);
    assert_int_equal(r[1][0], 14);
    assert_int_equal(r[1][1], -1);
    /* only max_ranges written, all counted */
    assert_int_equal(ranges(two, 9, 0, HD_XATTN_MASK_META, r, 1), 2);
    assert_int_equal(r[0][1], 4);
    assert_int_equal(r[1][0], -7);
}

static void test_ranges_consecutive(void **state) {
    (void)state;
    int64_t r[4][2];
    /* <img><img> then text: both visible to the text after the group (SPEC §2.7) */
    const int32_t pair[7] = {1, 2, IMG, IMG, 3, 4, 5};
    assert_int_equal(ranges(pair, 7, 0, HD_XATTN_MASK_META, r, 4), 2);
    assert_int_equal(r[0][0], 2);
    assert_int_equal(r[0][1], 7);
    assert_int_equal(r[1][0], 3);
    assert_int_equal(r[1][1], 7);
    assert_int_equal(ranges(pair, 7, 0, HD_XATTN_MASK_HF, r, 4), 2);
    assert_int_equal(r[0][1], -1);
    assert_int_equal(r[1][1], -1);
    /* a group of three before a later single image: the group ends where the single starts */
    const int32_t mix[10] = {IMG, IMG, IMG, 1, 2, IMG, 3, 4, 5, 6};
    assert_int_equal(ranges(mix, 10, 0, HD_XATTN_MASK_HF, r, 4), 4);
    const int64_t want[4][2] = {{0, 5}, {1, 5}, {2, 5}, {5, -1}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i][0], want[i][0]);
        assert_int_equal(r[i][1], want[i][1]);
    }
    assert_int_equal(ranges(mix, 10, 0, HD_XATTN_MASK_META, r, 4), 4);
    assert_int_equal(r[2][1], 5);
    assert_int_equal(r[3][1], 10);
    /* an image as the last prompt token */
    const int32_t tail[4] = {1, IMG, 2, IMG};
    assert_int_equal(ranges(tail, 4, 0, HD_XATTN_MASK_META, r, 4), 2);
    assert_int_equal(r[0][1], 3);
    assert_int_equal(r[1][0], 3);
    assert_int_equal(r[1][1], 4);
}

/* ---- config ---------------------------------------------------------------------- */

static const char *k_mllama_json =
    "{\"model_type\": \"mllama\", \"image_token_index\": 128256,"
    " \"text_config\": {\"model_type\": \"mllama_text_model\", \"vocab_size\": 128256, \"hidden_size\": 4096,"
    " \"intermediate_size\": 14336, \"num_hidden_layers\": 40, \"num_attention_heads\": 32,"
    " \"num_key_value_heads\": 8, \"cross_attention_layers\": [3, 8, 13, 18, 23, 28, 33, 38],"
    " \"rope_theta\": 500000.0, \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 8.0,"
    " \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192,"
    " \"rope_type\": \"llama3\"}, \"eos_token_id\": [128001, 128008, 128009]},"
    " \"vision_config\": {\"image_size\": 560}}";

static void test_config_hf(void **state) {
    (void)state;
    hd_llama_config c;
    hd_error err = {0};
    assert_int_equal(hd_llama_config_from_hf_json(&c, k_mllama_json, strlen(k_mllama_json), "cfg", &err), HD_OK);
    assert_int_equal(c.n_layer, 40);
    assert_int_equal(c.n_xattn, 8);
    assert_int_equal(c.xattn_layers[0], 3);
    assert_int_equal(c.xattn_layers[7], 38);
    assert_int_equal(c.image_token_id, 128256);
    assert_int_equal(c.n_eos, 3);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.rope_scaling, HD_ROPE_SCALING_LLAMA3);
    assert_false(c.tie_word_embeddings);
    /* not writable as a LlamaForCausalLM config.json */
    assert_null(hd_llama_config_to_hf_json(&c, "bfloat16", &err));
    assert_int_equal(err.code, HD_ERR_ARG);

    /* a plain llama config has no cross layers and no image token */
    const char *plain = "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4}";
    assert_int_equal(hd_llama_config_from_hf_json(&c, plain, strlen(plain), "p", &err), HD_OK);
    assert_int_equal(c.n_xattn, 0);
    assert_int_equal(c.image_token_id, -1);

    /* broken lists */
    const char *bad[] = {
        "{\"model_type\": \"mllama\"}",
        "{\"model_type\": \"mllama\", \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 4, \"num_attention_heads\": 4}}",
        "{\"model_type\": \"mllama\", \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"cross_attention_layers\": [1, 4]}}",
        "{\"model_type\": \"mllama\", \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"cross_attention_layers\": [2, 1]}}",
        "{\"model_type\": \"mllama\", \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"cross_attention_layers\": [0, 1]}}",
    };
    const char *needle[] = {"text_config", "cross_attention_layers", "cross_attention_layers[1]", "ascending",
                            "cross-attention layers of"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(hd_llama_config_from_hf_json(&c, bad[i], strlen(bad[i]), "bad.json", &err), HD_ERR_FORMAT);
        if (!strstr(err.msg, needle[i]) || !strstr(err.msg, "bad.json")) fail_msg("case %zu: %s", i, err.msg);
    }
}

/* ---- a tiny mllama GGUF ----------------------------------------------------------- */

enum { TD = 32, TH = 4, TG = 2, Td = 8, TF = 64, TV = 96, TL = 4, NT = 12 };
static const int32_t k_xl[2] = {1, 3};   /* cross layers; self layers 0 and 2 */

typedef struct mut {
    const char *skip;      /* tensor left out */
    const char *bad;       /* tensor with one element more in its last dimension */
    bool no_xl_key;        /* mllama.attention.cross_attention_layers not an array */
    int32_t xl_bad;        /* != 0: this value as the second cross layer */
    bool plain;            /* a plain llama of the self layers only (renumbered 0, 1) */
} mut;

static float *g_w[64];
static int g_nw;

static const float *weights(int i, size_t n, float scale, float offset) {
    if (!g_w[i]) {
        tu_rng r;
        tu_rng_seed(&r, 1000 + (uint64_t)i);
        g_w[i] = malloc(n * sizeof(float));
        tu_fill_normal(&r, g_w[i], n, scale);
        for (size_t k = 0; k < n; k++) g_w[i][k] += offset;
        if (i + 1 > g_nw) g_nw = i + 1;
    }
    return g_w[i];
}

static void add(hd_gguf_writer *w, const mut *mu, const char *name, int64_t ne0, int64_t ne1, const float *data) {
    if (mu->skip && strcmp(mu->skip, name) == 0) return;
    int64_t ne[2] = {ne0, ne1};
    const int nd = ne1 > 0 ? 2 : 1;
    if (mu->bad && strcmp(mu->bad, name) == 0) ne[nd - 1] -= 1;   /* data holds more: still a valid file */
    hd_error err = {0};
    if (hd_gguf_add_tensor(w, name, HD_TYPE_F32, nd, ne, data, &err)) fail_msg("%s: %s", name, err.msg);
}

static void write_model(const char *path, const mut *mu) {
    hd_llama_config c;
    assert_true(hd_llama_config_preset("tiny-vocab", &c));
    c.n_vocab = TV, c.n_embd = TD, c.n_head = TH, c.n_head_kv = TG, c.head_dim = Td, c.n_ff = TF;
    c.n_layer = mu->plain ? 2 : TL;
    c.rope_scaling = HD_ROPE_SCALING_NONE;
    if (!mu->plain) {
        c.n_xattn = 2;
        memcpy(c.xattn_layers, k_xl, sizeof k_xl);
        if (mu->xl_bad) c.xattn_layers[1] = mu->xl_bad;
    }
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    if (mu->xl_bad) {
        /* hd_llama_config_to_gguf validates: write the keys by hand around the bad list */
        hd_llama_config ok = c;
        ok.xattn_layers[1] = k_xl[1];
        assert_int_equal(hd_llama_config_to_gguf(&ok, 0, w, &err), HD_OK);
        assert_int_equal(hd_gguf_set_arr_i32(w, "mllama.attention.cross_attention_layers", c.xattn_layers, 2), HD_OK);
    } else {
        assert_int_equal(hd_llama_config_to_gguf(&c, 0, w, &err), HD_OK);
    }
    if (mu->no_xl_key) /* the layer list replaced by a string */
        assert_int_equal(hd_gguf_set_str(w, "mllama.attention.cross_attention_layers", "1,3"), HD_OK);
    const int64_t rows = mu->plain ? TV : TV + 8;
    add(w, mu, "token_embd.weight", TD, rows, weights(0, (size_t)(TD * (TV + 8)), 1.0f, 0));
    add(w, mu, "output_norm.weight", TD, 0, weights(1, TD, 0.1f, 1.0f));
    add(w, mu, "output.weight", TD, TV, weights(2, TD * TV, 0.3f, 0));
    char n[96];
    int out_l = 0;
    for (int l = 0; l < TL; l++) {
        const bool cross = l == k_xl[0] || l == k_xl[1];
        if (mu->plain && cross) continue;
        const int b = 3 + l * 13, ol = mu->plain ? out_l++ : l;
#define T(suffix, a, bb, idx, sc, off)                                                      \
    (snprintf(n, sizeof n, "blk.%d.%s", ol, suffix),                                        \
     add(w, mu, n, a, bb, weights(b + idx, (size_t)((a) * ((bb) > 0 ? (bb) : 1)), sc, off)))
        T("attn_norm.weight", TD, 0, 0, 0.1f, 1.0f);
        T("ffn_norm.weight", TD, 0, 1, 0.1f, 1.0f);
        T("ffn_gate.weight", TD, TF, 2, 0.2f, 0);
        T("ffn_up.weight", TD, TF, 3, 0.2f, 0);
        T("ffn_down.weight", TF, TD, 4, 0.2f, 0);
        if (cross) {
            T("cross_attn_q_proj.weight", TD, TH * Td, 5, 0.2f, 0);
            T("cross_attn_k_proj.weight", TD, TG * Td, 6, 0.2f, 0);
            T("cross_attn_v_proj.weight", TD, TG * Td, 7, 0.2f, 0);
            T("cross_attn_o_proj.weight", TH * Td, TD, 8, 0.2f, 0);
            T("cross_attn_q_norm.weight", Td, 0, 9, 0.2f, 1.0f);
            T("cross_attn_k_norm.weight", Td, 0, 10, 0.2f, 1.0f);
            T("cross_attn_attn_gate", 1, 0, 11, 1.0f, 0.5f);
            T("cross_attn_mlp_gate", 1, 0, 12, 1.0f, -0.5f);
        } else {
            T("attn_q.weight", TD, TH * Td, 5, 0.2f, 0);
            T("attn_k.weight", TD, TG * Td, 6, 0.2f, 0);
            T("attn_v.weight", TD, TG * Td, 7, 0.2f, 0);
            T("attn_output.weight", TH * Td, TD, 8, 0.2f, 0);
        }
#undef T
    }
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
}

static char g_mllama[512], g_plain[512];

static int setup(void **state) {
    (void)state;
    snprintf(g_mllama, sizeof g_mllama, "%s/xattn_mllama.gguf", tu_tmpdir());
    snprintf(g_plain, sizeof g_plain, "%s/xattn_plain.gguf", tu_tmpdir());
    write_model(g_mllama, &(mut){0});
    write_model(g_plain, &(mut){.plain = true});
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < g_nw; i++) free(g_w[i]);
    return 0;
}

static hd_llama_context *ctx_for(const hd_llama_model *m, hd_xattn_mask_mode mode, int n_batch) {
    hd_llama_context_params p = hd_llama_context_default_params();
    p.n_ctx = 32;
    p.n_batch = n_batch;
    p.kv_type = HD_TYPE_F32;
    p.n_threads = 1;
    p.logits_all = true;
    p.xattn_mask = mode;
    p.max_images = 2;
    hd_error err = {0};
    hd_llama_context *ctx = hd_llama_context_create(m, &p, &err);
    if (!ctx) fail_msg("context: %s", err.msg);
    return ctx;
}

static const int32_t k_prompt[NT] = {1, 5, 9, 60, TV /* <|image|> */, 7, 8, 11, 30, 2, 3, 4};

/* Logits [NT][TV] of k_prompt; images (NULL = none) set first. */
static float *run(const hd_llama_model *m, hd_xattn_mask_mode mode, const hd_llama_image *img, int n_img,
                  int n_batch) {
    hd_llama_context *ctx = ctx_for(m, mode, n_batch);
    hd_error err = {0};
    if (img && hd_llama_set_images(ctx, img, n_img, &err)) fail_msg("set_images: %s", err.msg);
    float *out = malloc(sizeof(float) * NT * TV);
    int32_t toks[NT];
    memcpy(toks, k_prompt, sizeof toks);
    if (!img) toks[4] = 50;   /* the plain model has no row for <|image|> */
    for (int off = 0; off < NT; off += n_batch) {
        int n = NT - off < n_batch ? NT - off : n_batch;
        if (hd_llama_decode(ctx, toks + off, n, &err)) fail_msg("decode: %s", err.msg);
        memcpy(out + off * TV, hd_llama_logits(ctx), sizeof(float) * (size_t)(n * TV));
    }
    hd_llama_context_free(ctx);
    return out;
}

static float g_states[2][20 * TD];

static void test_text_only_is_plain(void **state) {
    (void)state;
    hd_error err = {0};
    hd_llama_model *mm = hd_llama_load(g_mllama, &err);
    if (!mm) fail_msg("%s", err.msg);
    hd_llama_model *pm = hd_llama_load(g_plain, &err);
    if (!pm) fail_msg("%s", err.msg);
    assert_true(hd_llama_has_cross_attention(mm));
    assert_false(hd_llama_has_cross_attention(pm));
    assert_int_equal(mm->n_self, 2);
    assert_true(mm->layers[1].cross && mm->layers[3].cross && !mm->layers[0].cross);
    assert_int_equal(mm->layers[3].slot, 1);
    assert_int_equal(mm->layers[2].slot, 1);
    assert_int_equal(mm->cfg.image_token_id, TV);
    assert_int_equal(mm->tok_embd.ne[1], TV + 8);

    /* no images: the cross layers are skipped, the rest is the plain decoder exactly */
    float *a = run(mm, HD_XATTN_MASK_META, NULL, 0, 5);
    float *b = run(pm, HD_XATTN_MASK_META, NULL, 0, 5);
    assert_memory_equal(a, b, sizeof(float) * NT * TV);

    /* the plain model refuses images; the mllama model refuses bad ones */
    hd_llama_context *pc = ctx_for(pm, HD_XATTN_MASK_META, 4);
    tu_rng r;
    tu_rng_seed(&r, 9);
    tu_fill_normal(&r, &g_states[0][0], sizeof g_states / sizeof(float), 1.0f);
    hd_llama_image img = {.states = g_states[0], .n_tokens = 20, .n_valid = 10, .pos_begin = 4, .pos_end = -1};
    assert_int_equal(hd_llama_set_images(pc, &img, 1, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "no cross-attention"));
    hd_llama_context_free(pc);
    hd_llama_context *mc = ctx_for(mm, HD_XATTN_MASK_META, 4);
    hd_llama_image bad = img;
    bad.n_valid = 21;
    assert_int_equal(hd_llama_set_images(mc, &bad, 1, &err), HD_ERR_ARG);
    bad = img, bad.pos_end = 4;
    assert_int_equal(hd_llama_set_images(mc, &bad, 1, &err), HD_ERR_ARG);
    bad = img, bad.states = NULL;
    assert_int_equal(hd_llama_set_images(mc, &bad, 1, &err), HD_ERR_ARG);
    hd_llama_image three[3] = {img, img, img};
    assert_int_equal(hd_llama_set_images(mc, three, 3, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "max_images"));
    hd_llama_context_free(mc);
    free(a);
    free(b);
    hd_llama_free(mm);
    hd_llama_free(pm);
}

static void test_images_rows(void **state) {
    (void)state;
    hd_error err = {0};
    hd_llama_model *mm = hd_llama_load(g_mllama, &err);
    if (!mm) fail_msg("%s", err.msg);
    hd_llama_image img = {.states = g_states[0], .n_tokens = 20, .n_valid = 10, .pos_begin = 4, .pos_end = -1};
    float *none = run(mm, HD_XATTN_MASK_META, NULL, 0, 5);
    float *meta = run(mm, HD_XATTN_MASK_META, &img, 1, 5);
    float *meta3 = run(mm, HD_XATTN_MASK_META, &img, 1, 3);
    float *hf = run(mm, HD_XATTN_MASK_HF, &img, 1, 5);
    /* the image token row differs between the runs (row 50 vs the image row), so compare
     * only rows before it: META leaves them as text-only, HF does not */
    assert_memory_equal(meta, none, sizeof(float) * 4 * TV);
    assert_true(tu_max_abs_err(hf, none, 4 * TV) > 1e-3f);
    /* later rows see the image in both modes but differ through the earlier rows'
     * keys/values; batches of 3 and 5 agree */
    assert_true(tu_max_abs_err(hf + 5 * TV, meta + 5 * TV, (NT - 5) * TV) > 1e-4f);
    assert_true(tu_max_abs_err(meta3, meta, NT * TV) < 1e-5f);

    /* n_valid matters: masking all but the first tile's tokens changes the image rows */
    hd_llama_image fewer = img;
    fewer.n_valid = 5;
    float *f = run(mm, HD_XATTN_MASK_META, &fewer, 1, 5);
    assert_true(tu_max_abs_err(f + 5 * TV, meta + 5 * TV, (NT - 5) * TV) > 1e-4f);
    /* padding keys beyond n_valid are ignored: changing them changes nothing */
    float saved[TD];
    memcpy(saved, &g_states[0][15 * TD], sizeof saved);
    for (int i = 0; i < TD; i++) g_states[0][15 * TD + i] += 3.0f;
    float *pad = run(mm, HD_XATTN_MASK_META, &img, 1, 5);
    assert_memory_equal(pad, meta, sizeof(float) * NT * TV);
    memcpy(&g_states[0][15 * TD], saved, sizeof saved);

    /* clear_images: back to text only */
    hd_llama_context *ctx = ctx_for(mm, HD_XATTN_MASK_META, 16);
    assert_int_equal(hd_llama_set_images(ctx, &img, 1, &err), HD_OK);
    hd_llama_clear_images(ctx);
    int32_t toks[NT];
    memcpy(toks, k_prompt, sizeof toks);
    toks[4] = 50;
    assert_int_equal(hd_llama_decode(ctx, toks, NT, &err), HD_OK);
    float *cleared = run(mm, HD_XATTN_MASK_META, NULL, 0, 16);
    assert_memory_equal(hd_llama_logits(ctx), cleared, sizeof(float) * NT * TV);
    hd_llama_context_free(ctx);

    free(none), free(meta), free(meta3), free(hf), free(f), free(pad), free(cleared);
    hd_llama_free(mm);
}

static void expect_error(const mut *mu, const char *needle) {
    char path[512];
    snprintf(path, sizeof path, "%s/xattn_bad.gguf", tu_tmpdir());
    write_model(path, mu);
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(path, &err);
    if (m) fail_msg("loaded a bad model (expected %s)", needle);
    if (!strstr(err.msg, needle) || !strstr(err.msg, "xattn_bad.gguf")) fail_msg("expected %s: %s", needle, err.msg);
}

static void test_load_errors(void **state) {
    (void)state;
    expect_error(&(mut){.skip = "blk.1.cross_attn_k_norm.weight"}, "blk.1.cross_attn_k_norm.weight");
    expect_error(&(mut){.skip = "blk.3.cross_attn_mlp_gate"}, "blk.3.cross_attn_mlp_gate");
    expect_error(&(mut){.bad = "blk.3.cross_attn_q_proj.weight"}, "blk.3.cross_attn_q_proj.weight");
    expect_error(&(mut){.bad = "blk.1.cross_attn_q_norm.weight"}, "blk.1.cross_attn_q_norm.weight");
    expect_error(&(mut){.bad = "token_embd.weight"}, "token_embd.weight");
    expect_error(&(mut){.no_xl_key = true}, "mllama.attention.cross_attention_layers");
    /* a GGUF without output.weight is tied to the first V embedding rows (as llama.cpp reads it) */
    char path[512];
    snprintf(path, sizeof path, "%s/xattn_tied.gguf", tu_tmpdir());
    write_model(path, &(mut){.skip = "output.weight"});
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(path, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_true(m->tied);
    assert_int_equal(m->output.ne[1], TV);
    assert_int_equal(m->tok_embd.ne[1], TV + 8);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    hd_llama_free(m);
    expect_error(&(mut){.xl_bad = 9}, "cross_attention_layers[1]");
    expect_error(&(mut){.xl_bad = 1}, "ascending");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges_none_and_one),
        cmocka_unit_test(test_ranges_two_separate),
        cmocka_unit_test(test_ranges_consecutive),
        cmocka_unit_test(test_config_hf),
        cmocka_unit_test(test_text_only_is_plain),
        cmocka_unit_test(test_images_rows),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
