/* tests/unit/test_random_model.c — lm/llama_config (presets, config.json and
 * GGUF metadata both ways, llama3 rope factors) and lm/random_model (tiny
 * models in both formats read back with core/gguf.h and core/safetensors.h:
 * names, shapes, types, keys, values from the generator, the Q/K RoPE
 * permutation, sharding, determinism, quantized types, errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/gguf.h"
#include "core/quant.h"
#include "core/safetensors.h"
#include "lm/llama.h"
#include "lm/llama_config.h"
#include "lm/random_model.h"
#include "lm/random_model_impl.h"
#include "lm/tokenizer.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static hd_random_model_params params(const char *preset, hd_rm_format f, hd_type t, uint64_t seed) {
    hd_random_model_params p = hd_random_model_default_params();
    p.preset = preset;
    p.format = f;
    p.type = t;
    p.seed = seed;
    return p;
}

static void write_ok(const hd_random_model_params *p, const char *path) {
    hd_error err = {0};
    if (hd_random_model_write(p, path, &err) != HD_OK) fail_msg("%s: %s", path, err.msg);
}

static bool files_equal(const char *a, const char *b) {
    size_t na, nb;
    void *da = tu_read_file(a, &na), *db = tu_read_file(b, &nb);
    bool eq = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da), free(db);
    return eq;
}

static const hd_gguf_tensor_info *gguf_tensor(const hd_gguf *g, const char *name) {
    int64_t i = hd_gguf_find_tensor(g, name);
    if (i < 0) fail_msg("GGUF tensor %s missing", name);
    return hd_gguf_tensor(g, i);
}

static const hd_st_tensor *st_tensor(const hd_safetensors *st, const char *name) {
    int64_t i = hd_safetensors_find(st, name);
    if (i < 0) fail_msg("safetensors tensor %s missing", name);
    return hd_safetensors_tensor(st, i);
}

static float f32_at(const void *p, size_t i) {
    float f;
    memcpy(&f, (const char *)p + 4 * i, 4);
    return f;
}

static uint32_t u32_key(const hd_gguf *g, const char *key) {
    uint32_t v;
    if (!hd_gguf_get_u32(g, key, &v)) fail_msg("GGUF key %s missing", key);
    return v;
}

/* ---- presets ------------------------------------------------------------- */

static void test_presets(void **state) {
    (void)state;
    hd_llama_config c;
    /* SPEC §1.6, and the published parameter counts */
    assert_true(hd_llama_config_preset("llama-3.2-1b", &c));
    assert_int_equal(c.n_embd, 2048), assert_int_equal(c.n_layer, 16), assert_int_equal(c.n_head, 32);
    assert_int_equal(c.n_head_kv, 8), assert_int_equal(c.head_dim, 64), assert_int_equal(c.n_ff, 8192);
    assert_int_equal(c.n_vocab, 128256), assert_true(c.tie_word_embeddings);
    assert_true(c.rope_factor == 32.0f), assert_true(c.rope_theta == 500000.0f), assert_true(c.norm_eps == 1e-5f);
    assert_int_equal(c.n_ctx_train, 131072), assert_int_equal(c.rope_scaling, HD_ROPE_SCALING_LLAMA3);
    assert_int_equal(hd_llama_config_n_params(&c), 1235814400);
    assert_true(hd_llama_config_preset("llama-3.2-3b", &c));
    assert_int_equal(c.n_embd, 3072), assert_int_equal(c.n_layer, 28), assert_int_equal(c.n_head, 24);
    assert_int_equal(c.head_dim, 128), assert_true(c.tie_word_embeddings), assert_true(c.rope_factor == 32.0f);
    assert_int_equal(hd_llama_config_n_params(&c), 3212749824);
    assert_true(hd_llama_config_preset("llama-3.1-8b", &c));
    assert_int_equal(c.n_embd, 4096), assert_int_equal(c.n_layer, 32), assert_int_equal(c.n_ff, 14336);
    assert_false(c.tie_word_embeddings), assert_true(c.rope_factor == 8.0f), assert_false(c.head_dim_explicit);
    assert_int_equal(hd_llama_config_n_params(&c), 8030261248);
    assert_true(hd_llama_config_preset("tiny", &c));
    assert_int_equal(c.n_vocab, 128256), assert_int_equal(c.n_embd, 64), assert_int_equal(c.n_layer, 2);
    assert_int_equal(c.n_head, 4), assert_int_equal(c.n_head_kv, 2), assert_int_equal(c.head_dim, 16);
    assert_true(hd_llama_config_preset("tiny-vocab", &c));
    assert_int_equal(c.n_vocab, 512), assert_int_equal(c.bos_token_id, -1), assert_int_equal(c.n_eos, 0);
    assert_false(hd_llama_config_preset("llama-9b", &c));
    int n = 0;
    for (const char *const *p = hd_llama_config_preset_names(); *p; p++, n++) assert_true(hd_llama_config_preset(*p, &c));
    assert_int_equal(n, 6);
    assert_non_null(hd_random_model_preset_names("llama"));
    assert_null(hd_random_model_preset_names("gpt2"));
}

/* ---- config.json --------------------------------------------------------- */

static void assert_same_config(const hd_llama_config *a, const hd_llama_config *b) {
    assert_int_equal(a->n_vocab, b->n_vocab), assert_int_equal(a->n_embd, b->n_embd);
    assert_int_equal(a->n_layer, b->n_layer), assert_int_equal(a->n_head, b->n_head);
    assert_int_equal(a->n_head_kv, b->n_head_kv), assert_int_equal(a->head_dim, b->head_dim);
    assert_int_equal(a->head_dim_explicit, b->head_dim_explicit), assert_int_equal(a->n_ff, b->n_ff);
    assert_int_equal(a->n_ctx_train, b->n_ctx_train), assert_true(a->norm_eps == b->norm_eps);
    assert_true(a->rope_theta == b->rope_theta), assert_int_equal(a->rope_scaling, b->rope_scaling);
    assert_true(a->rope_factor == b->rope_factor);
    assert_true(a->rope_low_freq_factor == b->rope_low_freq_factor);
    assert_true(a->rope_high_freq_factor == b->rope_high_freq_factor);
    assert_int_equal(a->rope_original_ctx, b->rope_original_ctx);
    assert_int_equal(a->tie_word_embeddings, b->tie_word_embeddings);
}

static void test_hf_json_roundtrip(void **state) {
    (void)state;
    for (const char *const *p = hd_llama_config_preset_names(); *p; p++) {
        hd_llama_config c, d;
        hd_error err = {0};
        assert_true(hd_llama_config_preset(*p, &c));
        char *j = hd_llama_config_to_hf_json(&c, "bfloat16", &err);
        assert_non_null(j);
        if (hd_llama_config_from_hf_json(&d, j, strlen(j), *p, &err)) fail_msg("%s: %s", *p, err.msg);
        assert_same_config(&c, &d);
        assert_int_equal(c.bos_token_id, d.bos_token_id), assert_int_equal(c.n_eos, d.n_eos);
        /* Python's float formatting, as transformers' json.dumps writes it */
        assert_non_null(strstr(j, "\n  \"rms_norm_eps\": 1e-05,\n"));
        assert_non_null(strstr(j, "\n  \"rope_theta\": 500000.0,\n"));
        assert_non_null(strstr(j, "\n    \"low_freq_factor\": 1.0,\n"));
        assert_non_null(strstr(j, "\n  \"torch_dtype\": \"bfloat16\",\n"));
        assert_non_null(strstr(j, c.rope_factor == 8.0f ? "\"factor\": 8.0," : "\"factor\": 32.0,"));
        assert_int_equal(strstr(j, "\"head_dim\"") != NULL, c.head_dim_explicit);
        free(j);
    }
    hd_llama_config c;
    hd_error err = {0};
    assert_true(hd_llama_config_preset("tiny", &c));
    assert_null(hd_llama_config_to_hf_json(&c, "int8", &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

/* The published Llama-3.1-8B-Instruct config.json (no head_dim, eos list). */
static const char k_8b_instruct[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"hidden_act\": \"silu\","
    " \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"pretraining_tp\": 1,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0,"
    " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
    " \"rope_theta\": 500000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"transformers_version\": \"4.42.3\", \"use_cache\": true, \"vocab_size\": 128256}";

static hd_status parse(const char *json, hd_llama_config *c, hd_error *err) {
    return hd_llama_config_from_hf_json(c, json, strlen(json), "config.json", err);
}

/* k_8b_instruct with `from` replaced by `to`. */
static hd_status parse_edit(const char *from, const char *to, hd_llama_config *c, hd_error *err) {
    static char buf[4096];
    const char *at = strstr(k_8b_instruct, from);
    if (!at) fail_msg("'%s' not in the config", from);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - k_8b_instruct), k_8b_instruct, to, at + strlen(from));
    return parse(buf, c, err);
}

static void test_hf_json_parse(void **state) {
    (void)state;
    hd_llama_config c, p8;
    hd_error err = {0};
    if (parse(k_8b_instruct, &c, &err)) fail_msg("%s", err.msg);
    assert_true(hd_llama_config_preset("llama-3.1-8b", &p8));
    assert_same_config(&c, &p8);
    assert_int_equal(c.n_eos, 3), assert_int_equal(c.eos_token_ids[2], 128009);
    assert_int_equal(c.bos_token_id, 128000), assert_int_equal(c.pad_token_id, -1);

    /* defaults: no num_key_value_heads → H; rope_scaling null → none */
    assert_int_equal(parse_edit("\"num_key_value_heads\": 8, ", "", &c, &err), HD_OK);
    assert_int_equal(c.n_head_kv, 32);
    assert_int_equal(parse_edit("\"rope_scaling\": {\"factor\": 8.0,", "\"rope_scaling\": null, \"x\": {\"factor\": 8.0,", &c, &err), HD_OK);
    assert_int_equal(c.rope_scaling, HD_ROPE_SCALING_NONE);

    struct { const char *from, *to; hd_status want; const char *msg; } bad[] = {
        {"\"model_type\": \"llama\"", "\"model_type\": \"mistral\"", HD_ERR_UNSUPPORTED, "mistral"},
        {"\"hidden_size\": 4096, ", "", HD_ERR_FORMAT, "hidden_size"},
        {"\"hidden_size\": 4096", "\"hidden_size\": \"4096\"", HD_ERR_FORMAT, "hidden_size"},
        {"\"hidden_size\": 4096", "\"hidden_size\": 4096.5", HD_ERR_FORMAT, "hidden_size"},
        {"\"num_attention_heads\": 32", "\"num_attention_heads\": 0", HD_ERR_FORMAT, "num_attention_heads"},
        {"\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5", HD_ERR_FORMAT, "multiple"},
        {"\"num_hidden_layers\": 32", "\"num_hidden_layers\": 1e12", HD_ERR_FORMAT, "num_hidden_layers"},
        {"\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"", HD_ERR_UNSUPPORTED, "yarn"},
        {"\"factor\": 8.0, ", "", HD_ERR_FORMAT, "factor"},
        {"\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", HD_ERR_UNSUPPORTED, "gelu"},
        {"\"attention_bias\": false", "\"attention_bias\": true", HD_ERR_UNSUPPORTED, "attention_bias"},
        {"[128001, 128008, 128009]", "[128001, \"x\"]", HD_ERR_FORMAT, "eos_token_id"},
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1", HD_ERR_FORMAT, "epsilon"},
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e300", HD_ERR_FORMAT, "rms_norm_eps"},
        {"\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 0", HD_ERR_FORMAT, "tie_word_embeddings"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hd_error e = {0};
        hd_status st = parse_edit(bad[i].from, bad[i].to, &c, &e);
        if (st != bad[i].want || !strstr(e.msg, bad[i].msg) || !strstr(e.msg, "config.json"))
            fail_msg("case %zu (%s): status %d, message '%s'", i, bad[i].to, st, e.msg);
    }
    assert_int_equal(parse("{\"model_type\": \"llama\",", &c, &err), HD_ERR_FORMAT);
    assert_int_equal(parse("[1, 2]", &c, &err), HD_ERR_FORMAT);
    assert_int_equal(hd_llama_config_from_hf_json(&c, k_8b_instruct, 40, "cut.json", &err), HD_ERR_FORMAT);
    assert_int_equal(hd_llama_config_from_hf(&c, "/nonexistent/config.json", &err), HD_ERR_NOTFOUND);
}

/* ---- rope_freqs ------------------------------------------------------------ */

static void test_rope_factors(void **state) {
    (void)state;
    hd_llama_config c;
    float f[64];
    assert_true(hd_llama_config_preset("llama-3.2-1b", &c));
    hd_llama_rope_freq_factors(&c, f);
    for (int i = 0; i < 32; i++) { /* SPEC §1.4 in double: factor = inv_freq / scaled inv_freq */
        const double inv = pow(500000.0, -2.0 * i / 64), wl = 2 * M_PI / inv;
        double scaled = inv;
        if (wl > 8192) scaled = inv / 32;
        else if (wl >= 2048) {
            const double sm = (8192 / wl - 1) / 3;
            scaled = (1 - sm) * inv / 32 + sm * inv;
        }
        const double want = inv / scaled;
        if (fabs(f[i] - want) > 1e-5 * want) fail_msg("factor %d = %g, want %g", i, f[i], want);
    }
    assert_true(f[0] == 1.0f && f[31] == 32.0f && f[15] > 1.0f && f[15] < 32.0f);
    assert_true(hd_llama_config_preset("llama-3.1-8b", &c));
    hd_llama_rope_freq_factors(&c, f);
    assert_true(f[0] == 1.0f && f[63] == 8.0f);
    c.rope_scaling = HD_ROPE_SCALING_NONE;
    hd_llama_rope_freq_factors(&c, f);
    for (int i = 0; i < 64; i++) assert_true(f[i] == 1.0f);
}

/* ---- the generator --------------------------------------------------------- */

static void test_generator(void **state) {
    (void)state;
    double s = 0, s2 = 0, s4 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        const double v = hd_random_model_value(11, "model.embed_tokens.weight", (uint64_t)i);
        s += v, s2 += v * v, s4 += v * v * v * v;
    }
    const double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n / (var * var);
    if (fabs(mean) > 0.01 || fabs(var - 1) > 0.02 || fabs(kurt - 3) > 0.1)
        fail_msg("not N(0,1): mean %g var %g kurtosis %g", mean, var, kurt);
    assert_true(hd_random_model_value(11, "a", 5) == hd_random_model_value(11, "a", 5));
    assert_true(hd_random_model_value(11, "a", 5) != hd_random_model_value(12, "a", 5));
    assert_true(hd_random_model_value(11, "a", 5) != hd_random_model_value(11, "b", 5));
    assert_true(hd_random_model_value(11, "a", 5) != hd_random_model_value(11, "a", 6));
}

/* ---- both formats of tiny-vocab ---------------------------------------------- */

static const char *const k_gguf_layer[9] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
                                            "ffn_up", "ffn_down", "attn_norm", "ffn_norm"};
static const char *const k_hf_layer[9] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                          "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                                          "input_layernorm", "post_attention_layernorm"};

static void test_tiny_both_formats(void **state) {
    (void)state;
    char gpath[512], hdir[512], name[128], hname[128];
    hd_error err = {0};
    hd_random_model_params p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_F32, 42);
    write_ok(&p, tmp_path(gpath, sizeof gpath, "tv.gguf"));
    p.format = HD_RM_HF;
    write_ok(&p, tmp_path(hdir, sizeof hdir, "tv_hf"));

    hd_gguf *g = hd_gguf_open(gpath, &err);
    if (!g) fail_msg("%s", err.msg);
    hd_llama_config want, got;
    assert_true(hd_llama_config_preset("tiny-vocab", &want));
    if (hd_llama_config_from_gguf(&got, g, &err)) fail_msg("%s", err.msg);
    assert_same_config(&want, &got);
    assert_string_equal(got.name, "Llama 3 Tiny Vocab");

    /* keys: convert_hf_to_gguf.py's, in its order */
    static const char *const keys[] = {
        "general.architecture", "general.type", "general.name", "general.size_label", "llama.block_count",
        "llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.freq_base",
        "llama.attention.layer_norm_rms_epsilon", "llama.attention.key_length", "llama.attention.value_length",
        "general.file_type", "llama.vocab_size", "llama.rope.dimension_count", "general.quantization_version",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(hd_gguf_kv_key(g, (int64_t)i), keys[i]))
            fail_msg("key %zu is %s, want %s", i, hd_gguf_kv_key(g, (int64_t)i), keys[i]);
    }
    assert_int_equal(u32_key(g, "general.file_type"), 0);
    assert_int_equal(u32_key(g, "general.quantization_version"), 2);
    assert_int_equal(u32_key(g, "llama.rope.dimension_count"), 16);
    assert_int_equal(hd_gguf_kv_type(g, hd_gguf_find_key(g, "llama.block_count")), HD_GGUF_UINT32);
    assert_int_equal(hd_gguf_kv_type(g, hd_gguf_find_key(g, "llama.rope.freq_base")), HD_GGUF_FLOAT32);

    /* tensors: rope_freqs first, 9 per layer, token_embd, output_norm, output (untied) */
    assert_int_equal(hd_gguf_n_tensors(g), 1 + 2 * 9 + 3);
    assert_string_equal(hd_gguf_tensor(g, 0)->name, "rope_freqs.weight");
    const hd_gguf_tensor_info *rf = gguf_tensor(g, "rope_freqs.weight");
    assert_int_equal(rf->type, HD_TYPE_F32), assert_int_equal(rf->n_dims, 1), assert_int_equal(rf->ne[0], 8);
    float factors[8];
    hd_llama_rope_freq_factors(&want, factors);
    assert_memory_equal(rf->data, factors, sizeof factors);

    hd_safetensors *st = hd_safetensors_open(hdir, &err);
    if (!st) fail_msg("%s", err.msg);
    assert_int_equal(hd_safetensors_n_tensors(st), 2 * 9 + 3);
    /* safetensors sorts a file's tensors by name */
    for (int64_t i = 1; i < hd_safetensors_n_tensors(st); i++)
        assert_true(strcmp(hd_safetensors_tensor(st, i - 1)->name, hd_safetensors_tensor(st, i)->name) < 0);
    const char *meta_k, *meta_v;
    assert_int_equal(hd_safetensors_n_meta(st), 1);
    assert_true(hd_safetensors_meta(st, 0, &meta_k, &meta_v));
    assert_string_equal(meta_k, "format"), assert_string_equal(meta_v, "pt");

    const int64_t D = 64, F = 128, V = 512, Hd = 64, Gd = 32, d = 16;
    struct { const char *gg, *hf; int64_t rows, cols; int heads; bool norm; } all[2 * 9 + 3];
    int n = 0;
    char names[2 * 9 + 3][2][128];
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 9; k++) {
            snprintf(names[n][0], 128, "blk.%d.%s.weight", l, k_gguf_layer[k]);
            snprintf(names[n][1], 128, "model.layers.%d.%s.weight", l, k_hf_layer[k]);
            const int64_t rows[9] = {Hd, Gd, Gd, D, F, F, D, D, D}, cols[9] = {D, D, D, Hd, D, D, F, 0, 0};
            all[n].gg = names[n][0], all[n].hf = names[n][1], all[n].rows = rows[k], all[n].cols = cols[k];
            all[n].heads = k == 0 ? 4 : k == 1 ? 2 : 0, all[n].norm = k >= 7;
            n++;
        }
    const char *extra[3][2] = {{"token_embd.weight", "model.embed_tokens.weight"},
                               {"output_norm.weight", "model.norm.weight"}, {"output.weight", "lm_head.weight"}};
    const int64_t er[3] = {V, D, V}, ec[3] = {D, 0, D};
    for (int k = 0; k < 3; k++, n++)
        all[n].gg = extra[k][0], all[n].hf = extra[k][1], all[n].rows = er[k], all[n].cols = ec[k],
        all[n].heads = 0, all[n].norm = k == 1;

    for (int i = 0; i < n; i++) {
        const hd_gguf_tensor_info *gt = gguf_tensor(g, all[i].gg);
        const hd_st_tensor *ht = st_tensor(st, all[i].hf);
        const int nd = all[i].cols ? 2 : 1;
        assert_int_equal(gt->type, HD_TYPE_F32), assert_int_equal(gt->n_dims, nd);
        assert_string_equal(ht->dtype, "F32"), assert_int_equal(ht->n_dims, nd);
        assert_int_equal(ht->shape[0], all[i].rows);
        if (nd == 2) {
            assert_int_equal(ht->shape[1], all[i].cols);
            assert_int_equal(gt->ne[0], all[i].cols), assert_int_equal(gt->ne[1], all[i].rows);
        } else {
            assert_int_equal(gt->ne[0], all[i].rows);
        }
        const int64_t cols = nd == 2 ? all[i].cols : all[i].rows, rows = nd == 2 ? all[i].rows : 1;
        for (int64_t r = 0; r < rows; r++) {
            /* GGUF row r of q/k holds HF row perm(r): within a head 2i+p <- p·d/2+i */
            int64_t hr = r;
            if (all[i].heads) {
                const int64_t h = r / d, j = r % d;
                hr = h * d + (j % 2) * (d / 2) + j / 2;
            }
            for (int64_t c = 0; c < cols; c++) {
                const float gv = f32_at(gt->data, (size_t)(r * cols + c));
                const float hv = f32_at(ht->data, (size_t)(hr * cols + c));
                if (gv != hv) fail_msg("%s[%lld,%lld] = %g but %s[%lld,%lld] = %g", all[i].gg, (long long)r,
                                       (long long)c, gv, all[i].hf, (long long)hr, (long long)c, hv);
                const float z = hd_random_model_value(42, all[i].hf, (uint64_t)(hr * cols + c));
                const float want_v = all[i].norm ? 1.0f + 0.02f * z : 0.02f * z;
                if (hv != want_v) fail_msg("%s[%lld] = %g, generator %g", all[i].hf, (long long)(hr * cols + c), hv, want_v);
            }
        }
    }
    /* q permutation is not the identity (the check above would pass unpermuted otherwise) */
    const hd_st_tensor *hq = st_tensor(st, "model.layers.0.self_attn.q_proj.weight");
    const hd_gguf_tensor_info *gq = gguf_tensor(g, "blk.0.attn_q.weight");
    assert_true(memcmp(hq->data, gq->data, (size_t)(Hd * D * 4)) != 0);
    snprintf(name, sizeof name, "%s", "blk.0.attn_v.weight");
    snprintf(hname, sizeof hname, "%s", "model.layers.0.self_attn.v_proj.weight");
    assert_memory_equal(gguf_tensor(g, name)->data, st_tensor(st, hname)->data, (size_t)(Gd * D * 4));

    /* config.json reads back as the preset */
    char cfgp[600];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", hdir);
    if (hd_llama_config_from_hf(&got, cfgp, &err)) fail_msg("%s", err.msg);
    assert_same_config(&want, &got);
    hd_safetensors_close(st);
    hd_gguf_close(g);
}

/* ---- determinism ------------------------------------------------------------- */

static void test_determinism(void **state) {
    (void)state;
    char a[512], b[512], c[512], h1[512], h2[512], f1[600], f2[600];
    hd_random_model_params p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_Q8_0, 9);
    p.n_threads = 1;
    write_ok(&p, tmp_path(a, sizeof a, "det1.gguf"));
    p.n_threads = 2;
    write_ok(&p, tmp_path(b, sizeof b, "det2.gguf"));
    assert_true(files_equal(a, b));
    p.seed = 10;
    write_ok(&p, tmp_path(c, sizeof c, "det3.gguf"));
    assert_false(files_equal(a, c));
    p = params("tiny-vocab", HD_RM_HF, HD_TYPE_BF16, 9);
    p.n_threads = 1;
    write_ok(&p, tmp_path(h1, sizeof h1, "det_hf1"));
    p.n_threads = 2;
    write_ok(&p, tmp_path(h2, sizeof h2, "det_hf2"));
    snprintf(f1, sizeof f1, "%s/model.safetensors", h1);
    snprintf(f2, sizeof f2, "%s/model.safetensors", h2);
    assert_true(files_equal(f1, f2));
    snprintf(f1, sizeof f1, "%s/config.json", h1);
    snprintf(f2, sizeof f2, "%s/config.json", h2);
    assert_true(files_equal(f1, f2));
}

/* ---- types ------------------------------------------------------------------- */

static void test_types(void **state) {
    (void)state;
    char path[512], ref[512], dir[512];
    hd_error err = {0};
    hd_random_model_params p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_F32, 5);
    write_ok(&p, tmp_path(ref, sizeof ref, "ty_f32.gguf"));
    const hd_type types[] = {HD_TYPE_F16, HD_TYPE_BF16, HD_TYPE_Q8_0, HD_TYPE_Q4_0};
    const uint32_t ftypes[] = {1, 32, 7, 2};
    hd_gguf *r = hd_gguf_open(ref, &err);
    assert_non_null(r);
    for (size_t k = 0; k < 4; k++) {
        p.type = types[k];
        write_ok(&p, tmp_path(path, sizeof path, "ty.gguf"));
        hd_gguf *g = hd_gguf_open(path, &err);
        if (!g) fail_msg("%s", err.msg);
        assert_int_equal(u32_key(g, "general.file_type"), ftypes[k]);
        for (int64_t i = 0; i < hd_gguf_n_tensors(g); i++) {
            const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
            const hd_gguf_tensor_info *t32 = gguf_tensor(r, t->name);
            /* llama.cpp keeps 1-D tensors (norms, rope_freqs) in F32 */
            assert_int_equal(t->type, t->n_dims == 1 ? HD_TYPE_F32 : types[k]);
            const int64_t ne = t->ne[0] * t->ne[1];
            float *x = malloc((size_t)ne * sizeof *x);
            hd_dequantize_row(t->type, t->data, x, ne);
            float maxabs = 0;
            for (int64_t j = 0; j < ne; j++) maxabs = fmaxf(maxabs, fabsf(f32_at(t32->data, (size_t)j)));
            /* F16/BF16 round each value; Q8_0 / Q4_0 within their step */
            const float tol = types[k] == HD_TYPE_F16 ? 1e-3f * maxabs : types[k] == HD_TYPE_BF16 ? 8e-3f * maxabs
                            : types[k] == HD_TYPE_Q8_0 ? maxabs / 127 : maxabs / 7;
            for (int64_t j = 0; j < ne; j++) {
                float r = f32_at(t32->data, (size_t)j);
                /* F32 norms of an F16/BF16 model: the HF checkpoint's rounded values, widened */
                if (t->type == HD_TYPE_F32 && t->ne[0] > 8 && types[k] == HD_TYPE_F16) r = hd_f16_to_f32(hd_f32_to_f16(r));
                if (t->type == HD_TYPE_F32 && t->ne[0] > 8 && types[k] == HD_TYPE_BF16) r = hd_bf16_to_f32(hd_f32_to_bf16(r));
                if (t->type == HD_TYPE_F32 ? x[j] != r : fabsf(x[j] - r) > tol)
                    fail_msg("%s %s[%lld]: %g vs %g", hd_type_name(types[k]), t->name, (long long)j, x[j],
                             f32_at(t32->data, (size_t)j));
            }
            free(x);
        }
        hd_gguf_close(g);
    }
    hd_gguf_close(r);

    /* Q4_K needs rows of 256: tiny (D 64) is refused, small with a small vocabulary works */
    p = params("tiny", HD_RM_GGUF, HD_TYPE_Q4_K, 5);
    assert_int_equal(hd_random_model_write(&p, tmp_path(path, sizeof path, "q4k_bad.gguf"), &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "256"));
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    p = params("small", HD_RM_GGUF, HD_TYPE_Q4_K, 5);
    p.n_vocab = 256;
    write_ok(&p, tmp_path(path, sizeof path, "q4k.gguf"));
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(u32_key(g, "general.file_type"), 15);
    assert_int_equal(u32_key(g, "llama.vocab_size"), 256);
    assert_int_equal(gguf_tensor(g, "token_embd.weight")->type, HD_TYPE_Q4_K);
    assert_int_equal(gguf_tensor(g, "blk.1.ffn_down.weight")->type, HD_TYPE_Q4_K);
    assert_int_equal(gguf_tensor(g, "blk.1.ffn_down.weight")->ne[0], 768);
    assert_int_equal(hd_gguf_find_tensor(g, "output.weight"), -1);   /* tied */
    hd_gguf_close(g);

    /* HF: F32/F16/BF16 only; BF16 values are the F32 values rounded */
    p = params("tiny-vocab", HD_RM_HF, HD_TYPE_Q8_0, 5);
    assert_int_equal(hd_random_model_write(&p, tmp_path(dir, sizeof dir, "hf_q8"), &err), HD_ERR_ARG);
    p.type = HD_TYPE_BF16;
    write_ok(&p, tmp_path(dir, sizeof dir, "hf_bf16"));
    hd_safetensors *st = hd_safetensors_open(dir, &err);
    assert_non_null(st);
    const hd_st_tensor *t = st_tensor(st, "model.layers.1.mlp.up_proj.weight");
    assert_string_equal(t->dtype, "BF16");
    for (size_t j = 0; j < 128 * 64; j++) {
        hd_bf16 h;
        memcpy(&h, (const char *)t->data + 2 * j, 2);
        const float want = 0.02f * hd_random_model_value(5, "model.layers.1.mlp.up_proj.weight", j);
        assert_int_equal(h, hd_f32_to_bf16(want));
    }
    hd_safetensors_close(st);
}

/* ---- sharding ------------------------------------------------------------------ */

static void test_sharding(void **state) {
    (void)state;
    char dir[512], path[700];
    hd_error err = {0};
    hd_random_model_params p = params("tiny-vocab", HD_RM_HF, HD_TYPE_F32, 3);
    p.max_shard_bytes = 150000;   /* embed 131 KB, a layer ~115 KB, lm_head 131 KB */
    write_ok(&p, tmp_path(dir, sizeof dir, "shards"));
    hd_safetensors *st = hd_safetensors_open(dir, &err);
    if (!st) fail_msg("%s", err.msg);
    assert_int_equal(hd_safetensors_n_tensors(st), 21);
    /* greedy in state_dict order: every shard holds at most the limit */
    int n_files = 0;
    for (int s = 1; s <= 9; s++) {
        char f[64];
        snprintf(path, sizeof path, "%s/model-%05d-of-", dir, s);
        struct stat sb;
        bool found = false;
        for (int ns = 2; ns <= 9; ns++) {
            snprintf(f, sizeof f, "%05d.safetensors", ns);
            char full[800];
            snprintf(full, sizeof full, "%s%s", path, f);
            if (stat(full, &sb) == 0) {
                found = true;
                assert_true((uint64_t)sb.st_size <= p.max_shard_bytes + 4096);   /* + header */
            }
        }
        n_files += found;
    }
    assert_true(n_files >= 3);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    cJSON *idx = cJSON_ParseWithLength(text, len);
    assert_non_null(idx);
    const cJSON *wm = cJSON_GetObjectItem(idx, "weight_map");
    assert_int_equal(cJSON_GetArraySize(wm), 21);
    const cJSON *e, *prev = NULL;
    cJSON_ArrayForEach(e, wm) {   /* sorted keys, as json.dumps(sort_keys=True) */
        if (prev) assert_true(strcmp(prev->string, e->string) < 0);
        prev = e;
    }
    double total = cJSON_GetObjectItem(cJSON_GetObjectItem(idx, "metadata"), "total_size")->valuedouble;
    assert_true(total == (double)(4 * (2 * 512 * 64 + 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 128 + 2 * 64) + 64)));
    /* the embeddings open the first shard, lm_head is in the last */
    assert_string_equal(cJSON_GetObjectItem(wm, "model.embed_tokens.weight")->valuestring,
                        st_tensor(st, "model.embed_tokens.weight")->file + strlen(dir) + 1);
    assert_non_null(strstr(cJSON_GetObjectItem(wm, "model.embed_tokens.weight")->valuestring, "model-00001-of-"));
    char last[64];
    snprintf(last, sizeof last, "model-%05d-of-%05d.safetensors", n_files, n_files);
    assert_string_equal(cJSON_GetObjectItem(wm, "lm_head.weight")->valuestring, last);
    cJSON_Delete(idx);
    free(text);
    hd_safetensors_close(st);

    /* writing again unsharded leaves no stale shard or index */
    p.max_shard_bytes = 5000000000ull;
    write_ok(&p, dir);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/model-00001-of-%05d.safetensors", dir, n_files);
    assert_int_not_equal(stat(path, &sb), 0);
    st = hd_safetensors_open(dir, &err);
    assert_non_null(st);
    assert_int_equal(hd_safetensors_n_tensors(st), 21);
    hd_safetensors_close(st);
}

/* ---- errors --------------------------------------------------------------------- */

static void test_errors(void **state) {
    (void)state;
    char path[512];
    hd_error err = {0};
    hd_random_model_params p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_F32, 0);
    p.arch = "gpt2";
    assert_int_equal(hd_random_model_write(&p, tmp_path(path, sizeof path, "e.gguf"), &err), HD_ERR_ARG);
    p = params("huge", HD_RM_GGUF, HD_TYPE_F32, 0);
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "tiny"));   /* lists the presets */
    p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_Q5_K, 0);
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_ARG);
    p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_F32, 0);
    assert_int_equal(hd_random_model_write(&p, "/nonexistent/dir/e.gguf", &err), HD_ERR_IO);
    p.format = HD_RM_HF;
    assert_int_equal(hd_random_model_write(&p, "/nonexistent/dir/e", &err), HD_ERR_IO);
    snprintf(path, sizeof path, "%s/a_file", tu_tmpdir());
    assert_int_equal(tu_write_file(path, "x", 1), 0);
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_IO);
    assert_non_null(strstr(err.msg, "not a folder"));
}

/* GGUF metadata that is not a usable llama model. */
static void test_from_gguf_errors(void **state) {
    (void)state;
    struct { const char *drop, *arch; uint32_t heads_kv; hd_status want; const char *msg; } cases[] = {
        {NULL, "gpt2", 2, HD_ERR_UNSUPPORTED, "gpt2"},
        {"llama.block_count", "llama", 2, HD_ERR_FORMAT, "llama.block_count"},
        {"llama.attention.layer_norm_rms_epsilon", "llama", 2, HD_ERR_FORMAT, "epsilon"},
        {NULL, "llama", 3, HD_ERR_FORMAT, "multiple"},
        {"llama.vocab_size", "llama", 2, HD_ERR_FORMAT, "vocab"},
    };
    hd_llama_config c;
    assert_true(hd_llama_config_preset("tiny-vocab", &c));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_error err = {0};
        hd_gguf_writer *w = hd_gguf_writer_create(&err);
        assert_non_null(w);
        assert_int_equal(hd_llama_config_to_gguf(&c, 0, w, &err), HD_OK);
        hd_gguf_set_str(w, "general.architecture", cases[i].arch);
        hd_gguf_set_u32(w, "llama.attention.head_count_kv", cases[i].heads_kv);
        char path[512];
        tmp_path(path, sizeof path, "meta.gguf");
        assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
        hd_gguf_writer_free(w);
        /* drop a key by rewriting every other one */
        hd_gguf *g = hd_gguf_open(path, &err);
        assert_non_null(g);
        if (cases[i].drop) {
            hd_gguf_writer *w2 = hd_gguf_writer_create(&err);
            for (int64_t k = 0; k < hd_gguf_n_kv(g); k++) {
                const char *key = hd_gguf_kv_key(g, k);
                if (!strcmp(key, cases[i].drop) || !strcmp(key, "general.alignment")) continue;
                double v;
                const char *s;
                size_t n;
                char buf[128];
                if (hd_gguf_kv_str(g, k, &s, &n)) snprintf(buf, sizeof buf, "%.*s", (int)n, s), hd_gguf_set_str(w2, key, buf);
                else if (hd_gguf_kv_type(g, k) == HD_GGUF_FLOAT32 && hd_gguf_kv_number(g, k, &v)) hd_gguf_set_f32(w2, key, (float)v);
                else if (hd_gguf_kv_number(g, k, &v)) hd_gguf_set_u32(w2, key, (uint32_t)v);
            }
            hd_gguf_close(g);
            assert_int_equal(hd_gguf_writer_write(w2, path, &err), HD_OK);
            hd_gguf_writer_free(w2);
            g = hd_gguf_open(path, &err);
            assert_non_null(g);
        }
        hd_llama_config out;
        hd_status st = hd_llama_config_from_gguf(&out, g, &err);
        if (st != cases[i].want || !strstr(err.msg, cases[i].msg) || !strstr(err.msg, "meta.gguf"))
            fail_msg("case %zu: status %d, message '%s'", i, st, err.msg);
        hd_gguf_close(g);
    }
}

/* ---- the tokenizer goes with the model ---------------------------------------------- */

static void test_tokenizer(void **state) {
    (void)state;
    char tokp[512], gpath[512], hdir[512], path[700];
    hd_error err = {0};
    tu_fixture(tokp, sizeof tokp, "tokenizer/llama3_tokenizer.model");
    hd_random_model_params p = params("tiny", HD_RM_GGUF, HD_TYPE_Q8_0, 1);
    p.tokenizer = tokp;
    write_ok(&p, tmp_path(gpath, sizeof gpath, "tok.gguf"));
    p.format = HD_RM_HF;
    p.type = HD_TYPE_BF16;
    write_ok(&p, tmp_path(hdir, sizeof hdir, "tok_hf"));

    hd_gguf *g = hd_gguf_open(gpath, &err);
    if (!g) fail_msg("%s", err.msg);
    assert_int_equal(u32_key(g, "tokenizer.ggml.bos_token_id"), 128000);
    assert_int_equal(u32_key(g, "tokenizer.ggml.eos_token_id"), 128001);
    /* convert_hf_to_gguf order: model keys, tokenizer keys, quantization version last */
    assert_string_equal(hd_gguf_kv_key(g, hd_gguf_n_kv(g) - 1), "general.quantization_version");
    assert_true(hd_gguf_find_key(g, "tokenizer.ggml.model") > hd_gguf_find_key(g, "llama.rope.dimension_count"));
    hd_tokenizer *t = hd_tokenizer_from_gguf(g, &err);
    if (!t) fail_msg("%s", err.msg);
    assert_int_equal(hd_tokenizer_n_vocab(t), 128256);
    /* the Llama 3.1 / 3.2 Hugging Face special names, whatever the source file */
    assert_int_equal(hd_tokenizer_find_special(t, "<|reserved_special_token_2|>"), 128005);
    assert_int_equal(hd_tokenizer_find_special(t, "<|eot_id|>"), 128009);
    hd_tokenizer_free(t);
    hd_gguf_close(g);

    t = hd_tokenizer_load(hdir, &err);   /* the folder's tokenizer.json */
    if (!t) fail_msg("%s", err.msg);
    assert_int_equal(hd_tokenizer_n_vocab(t), 128256);
    assert_int_equal(hd_tokenizer_find_special(t, "<|reserved_special_token_2|>"), 128005);
    hd_tokenizer_free(t);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", hdir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    hd_llama_config c;
    snprintf(path, sizeof path, "%s/config.json", hdir);
    if (hd_llama_config_from_hf(&c, path, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.bos_token_id, 128000), assert_int_equal(c.n_eos, 1), assert_int_equal(c.eos_token_ids[0], 128001);

    /* a vocabulary the tokenizer does not fit is refused before anything is written */
    p = params("tiny-vocab", HD_RM_GGUF, HD_TYPE_F32, 1);
    p.tokenizer = tokp;
    assert_int_equal(hd_random_model_write(&p, tmp_path(path, sizeof path, "tok_bad.gguf"), &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "128256"));
    assert_int_not_equal(stat(path, &sb), 0);
    p.tokenizer = "/nonexistent/tokenizer.model";
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_ERR_IO);
}

/* ---- the decoder sees one model in both files ------------------------------------------ */

static void logits_of(const char *path, const int32_t *toks, int n, float *out, int V) {
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(path, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(m->cfg.n_vocab, V);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.kv_type = HD_TYPE_F32;
    cp.n_ctx = 32;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    if (!ctx) fail_msg("%s", err.msg);
    if (hd_llama_decode(ctx, toks, n, &err)) fail_msg("%s", err.msg);
    memcpy(out, hd_llama_logits(ctx), (size_t)V * sizeof *out);
    hd_llama_context_free(ctx);
    hd_llama_free(m);
}

static void test_same_logits(void **state) {
    (void)state;
    char gpath[512], hdir[512];
    const int32_t toks[7] = {3, 100, 511, 0, 42, 42, 7};
    const hd_type types[2] = {HD_TYPE_F32, HD_TYPE_BF16};
    for (int k = 0; k < 2; k++) {
        hd_random_model_params p = params("tiny-vocab", HD_RM_GGUF, types[k], 77);
        write_ok(&p, tmp_path(gpath, sizeof gpath, "lg.gguf"));
        p.format = HD_RM_HF;
        write_ok(&p, tmp_path(hdir, sizeof hdir, "lg_hf"));
        float a[512], b[512];
        logits_of(gpath, toks, 7, a, 512);
        logits_of(hdir, toks, 7, b, 512);
        float mx = 0;
        for (int i = 0; i < 512; i++) mx = fmaxf(mx, fabsf(a[i]));
        assert_true(mx > 0.05f);
        const float e = tu_max_abs_err(a, b, 512);
        if (!(e <= 1e-5f * mx)) fail_msg("%s: GGUF and HF logits differ by %g (max %g)", hd_type_name(types[k]), e, mx);
    }
}

/* ---- the published shard layout (dry run) ------------------------------------------ */

typedef struct file_log {
    int n;
    char name[8][64];
    int tensors[8];
    uint64_t bytes[8];
} file_log;

static void log_file(void *ctx, const char *path, int n_tensors, uint64_t bytes) {
    file_log *l = ctx;
    if (l->n == 8) fail_msg("more than 8 files");
    const char *slash = strrchr(path, '/');
    snprintf(l->name[l->n], 64, "%s", slash ? slash + 1 : path);
    l->tensors[l->n] = n_tensors;
    l->bytes[l->n++] = bytes;
}

static void test_published_layout(void **state) {
    (void)state;
    /* transformers' 5 GB split of the BF16 checkpoints; the published files are
     * these data sizes plus their JSON headers (about 116 bytes per tensor), e.g.
     * Llama-3.2-1B model.safetensors = 2 471 628 800 + 16 808 bytes. */
    struct { const char *preset; int n; int tensors[4]; uint64_t bytes[4]; } want[] = {
        {"llama-3.2-1b", 1, {146}, {2471628800ull}},
        {"llama-3.2-3b", 2, {187, 67}, {4965777408ull, 1459722240ull}},
        {"llama-3.1-8b", 4, {82, 104, 100, 5}, {4976689152ull, 4999790592ull, 4915904512ull, 1168138240ull}},
    };
    char dir[512];
    for (size_t i = 0; i < 3; i++) {
        file_log log = {0};
        hd_random_model_params p = params(want[i].preset, HD_RM_HF, HD_TYPE_BF16, 0);
        p.dry_run = true;
        p.file_done = log_file;
        p.progress_ctx = &log;
        write_ok(&p, tmp_path(dir, sizeof dir, "dry"));
        assert_int_equal(log.n, want[i].n);
        for (int k = 0; k < log.n; k++) {
            char name[64];
            if (log.n == 1) snprintf(name, sizeof name, "model.safetensors");
            else snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, log.n);
            assert_string_equal(log.name[k], name);
            assert_int_equal(log.tensors[k], want[i].tensors[k]);
            assert_true(log.bytes[k] == want[i].bytes[k]);
        }
        struct stat sb;
        assert_int_not_equal(stat(dir, &sb), 0);   /* nothing written */
    }
    /* GGUF: pure Q4_K 8B = 4.5 bits per weight, F32 norms and rope_freqs */
    file_log log = {0};
    hd_random_model_params p = params("llama-3.1-8b", HD_RM_GGUF, HD_TYPE_Q4_K, 0);
    p.dry_run = true;
    p.file_done = log_file;
    p.progress_ctx = &log;
    write_ok(&p, tmp_path(dir, sizeof dir, "dry.gguf"));
    assert_int_equal(log.n, 1), assert_int_equal(log.tensors[0], 1 + 2 + 32 * 9 + 1);
    const uint64_t norms = 4 * (4096 * (2 * 32 + 1) + 64);
    assert_true(log.bytes[0] == (8030261248ull - 4096 * 65) / 256 * 144 + norms);
}

/* ---- the shared writers with tensors of other ranks (for the next architectures) ---- */

static void test_plan_ranks(void **state) {
    (void)state;
    hd_error err = {0};
    hd_rm_plan plan = {0};
    const int64_t conv[4] = {8, 3, 2, 32}, pos[3] = {2, 5, 32}, gate[1] = {1}, bad[2] = {4, 0};
    const float g = 0.25f;
    assert_int_equal(hd_rm_plan_add(&plan, "v.patch.weight", "v.patch_embd.weight", 4, conv, HD_RM_INIT_NORMAL, 0.5f,
                                    0, NULL, &err), HD_OK);
    assert_int_equal(hd_rm_plan_add(&plan, "v.pos", "v.position_embd", 3, pos, HD_RM_INIT_NORM, 0.1f, 0, NULL, &err),
                     HD_OK);
    assert_int_equal(hd_rm_plan_add(&plan, "v.gate", "v.gate", 1, gate, HD_RM_INIT_DATA, 0, 0, &g, &err), HD_OK);
    assert_int_equal(hd_rm_plan_add(&plan, "x", "x", 2, bad, HD_RM_INIT_NORMAL, 1, 0, NULL, &err), HD_ERR_INTERNAL);
    assert_int_equal(hd_rm_plan_add(&plan, "x", "x", 5, conv, HD_RM_INIT_NORMAL, 1, 0, NULL, &err), HD_ERR_INTERNAL);
    assert_int_equal(plan.n, 3);
    assert_int_equal(plan.t[0].rows, 48), assert_int_equal(plan.t[0].cols, 32);

    char gpath[512], dir[512];
    hd_random_model_params p = params("tiny", HD_RM_GGUF, HD_TYPE_Q8_0, 4);
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    if (hd_rm_write_gguf(&plan, &p, w, tmp_path(gpath, sizeof gpath, "ranks.gguf"), &err)) fail_msg("%s", err.msg);
    hd_gguf_writer_free(w);
    p.format = HD_RM_HF;
    p.type = HD_TYPE_F32;
    assert_int_equal(hd_rm_prepare_dir(tmp_path(dir, sizeof dir, "ranks_hf"), &err), HD_OK);
    if (hd_rm_write_hf_weights(&plan, &p, dir, &err)) fail_msg("%s", err.msg);

    hd_gguf *gg = hd_gguf_open(gpath, &err);
    assert_non_null(gg);
    const hd_gguf_tensor_info *t = gguf_tensor(gg, "v.patch_embd.weight");
    assert_int_equal(t->type, HD_TYPE_Q8_0), assert_int_equal(t->n_dims, 4);
    assert_int_equal(t->ne[0], 32), assert_int_equal(t->ne[1], 2), assert_int_equal(t->ne[2], 3), assert_int_equal(t->ne[3], 8);
    t = gguf_tensor(gg, "v.position_embd");
    assert_int_equal(t->type, HD_TYPE_Q8_0), assert_int_equal(t->n_dims, 3), assert_int_equal(t->ne[2], 2);
    t = gguf_tensor(gg, "v.gate");
    assert_int_equal(t->type, HD_TYPE_F32), assert_true(f32_at(t->data, 0) == 0.25f);
    hd_safetensors *st = hd_safetensors_open(dir, &err);
    assert_non_null(st);
    const hd_st_tensor *h = st_tensor(st, "v.patch.weight");
    assert_int_equal(h->n_dims, 4), assert_int_equal(h->shape[0], 8), assert_int_equal(h->shape[3], 32);
    for (size_t i = 0; i < 8 * 3 * 2 * 32; i++)
        assert_true(f32_at(h->data, i) == 0.5f * hd_random_model_value(4, "v.patch.weight", i));
    h = st_tensor(st, "v.pos");
    assert_int_equal(h->n_dims, 3);
    assert_true(f32_at(h->data, 7) == 1.0f + 0.1f * hd_random_model_value(4, "v.pos", 7));
    hd_safetensors_close(st);
    hd_gguf_close(gg);
    hd_rm_plan_free(&plan);
    hd_rm_plan_free(&plan);   /* freed plans are empty */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),         cmocka_unit_test(test_hf_json_roundtrip),
        cmocka_unit_test(test_hf_json_parse),   cmocka_unit_test(test_rope_factors),
        cmocka_unit_test(test_generator),       cmocka_unit_test(test_tiny_both_formats),
        cmocka_unit_test(test_determinism),     cmocka_unit_test(test_types),
        cmocka_unit_test(test_sharding),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_from_gguf_errors), cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_same_logits),     cmocka_unit_test(test_published_layout),
        cmocka_unit_test(test_plan_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
