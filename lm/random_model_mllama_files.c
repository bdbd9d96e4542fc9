/* lm/random_model_mllama_files.c — the files of a Hugging Face Llama 3.2 Vision
 * folder besides the weights: config.json (MllamaConfig as transformers writes
 * it), generation_config.json and preprocessor_config.json of
 * Llama-3.2-11B-Vision-Instruct, and the tokenizer with <|image|> = 128256
 * (see random_model_impl.h). */
#include "random_model_impl.h"

#include "lm/tokenizer.h"
#include "vision/preprocess.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- config.json, generation_config.json, preprocessor_config.json ---------- */

static const char *torch_dtype(hd_type t) {
    return t == HD_TYPE_F16 ? "float16" : t == HD_TYPE_BF16 ? "bfloat16" : "float32";
}

/* config.json as transformers writes MllamaConfig (sorted keys, indent 2). */
static char *hf_config(const hd_rm_mllama_config *m, const char *dtype) {
    const hd_vit_config *c = &m->vision;
    const hd_llama_config *t = &m->text;
    char ratios[1024] = "", xlayers[1024] = "", eos[256] = "", inter[160] = "";
    int rows[64], cols[64];
    const int n = hd_mllama_aspect_ratios(c->max_tiles, rows, cols);
    for (int i = 0; i < n; i++)
        snprintf(ratios + strlen(ratios), sizeof ratios - strlen(ratios), "%s\n      [\n        %d,\n        %d\n      ]",
                 i ? "," : "", rows[i], cols[i]);
    for (int k = 0; k < t->n_xattn; k++)
        snprintf(xlayers + strlen(xlayers), sizeof xlayers - strlen(xlayers), "%s%d", k ? ",\n      " : "",
                 (int)t->xattn_layers[k]);
    for (int k = 0; k < t->n_eos; k++)
        snprintf(eos + strlen(eos), sizeof eos - strlen(eos), "%s%d", k ? ",\n      " : "", t->eos_token_ids[k]);
    for (int i = 0; i < c->n_inter; i++)
        snprintf(inter + strlen(inter), sizeof inter - strlen(inter), "%s%d", i ? ",\n      " : "", c->inter[i]);
    const char *fmt =
        "{\n"
        "  \"architectures\": [\n    \"MllamaForConditionalGeneration\"\n  ],\n"
        "  \"image_token_index\": %d,\n"
        "  \"model_type\": \"mllama\",\n"
        "  \"text_config\": {\n"
        "    \"bos_token_id\": %d,\n"
        "    \"cross_attention_layers\": [\n      %s\n    ],\n"
        "    \"dropout\": 0,\n"
        "    \"eos_token_id\": [\n      %s\n    ],\n"
        "    \"hidden_act\": \"silu\",\n"
        "    \"hidden_size\": %d,\n"
        "    \"initializer_range\": 0.02,\n"
        "    \"intermediate_size\": %d,\n"
        "    \"max_position_embeddings\": %" PRId64 ",\n"
        "    \"model_type\": \"mllama_text_model\",\n"
        "    \"num_attention_heads\": %d,\n"
        "    \"num_hidden_layers\": %d,\n"
        "    \"num_key_value_heads\": %d,\n"
        "    \"pad_token_id\": %d,\n"
        "    \"rms_norm_eps\": 1e-05,\n"
        "    \"rope_scaling\": {\n      \"factor\": %.1f,\n      \"high_freq_factor\": %.1f,\n"
        "      \"low_freq_factor\": %.1f,\n      \"original_max_position_embeddings\": %" PRId64 ",\n"
        "      \"rope_type\": \"llama3\"\n    },\n"
        "    \"rope_theta\": %.1f,\n"
        "    \"tie_word_embeddings\": false,\n"
        "    \"torch_dtype\": \"%s\",\n"
        "    \"use_cache\": true,\n"
        "    \"vocab_size\": %d\n"
        "  },\n"
        "  \"torch_dtype\": \"%s\",\n"
        "  \"transformers_version\": \"4.45.0.dev0\",\n"
        "  \"vision_config\": {\n"
        "    \"attention_heads\": %d,\n"
        "    \"hidden_act\": \"gelu\",\n"
        "    \"hidden_size\": %d,\n"
        "    \"image_size\": %d,\n"
        "    \"initializer_range\": 0.02,\n"
        "    \"intermediate_layers_indices\": [\n      %s\n    ],\n"
        "    \"intermediate_size\": %d,\n"
        "    \"max_num_tiles\": %d,\n"
        "    \"model_type\": \"mllama_vision_model\",\n"
        "    \"norm_eps\": 1e-05,\n"
        "    \"num_channels\": 3,\n"
        "    \"num_global_layers\": %d,\n"
        "    \"num_hidden_layers\": %d,\n"
        "    \"patch_size\": %d,\n"
        "    \"supported_aspect_ratios\": [%s\n    ],\n"
        "    \"torch_dtype\": \"%s\",\n"
        "    \"vision_output_dim\": %d\n"
        "  }\n"
        "}\n";
    const size_t cap = strlen(fmt) + sizeof ratios + sizeof xlayers + sizeof eos + sizeof inter + 1024;
    char *s = malloc(cap);
    if (!s) return NULL;
    snprintf(s, cap, fmt, (int)t->image_token_id, t->bos_token_id, xlayers, eos, t->n_embd, t->n_ff, t->n_ctx_train,
             t->n_head, t->n_layer, t->n_head_kv, t->pad_token_id, (double)t->rope_factor,
             (double)t->rope_high_freq_factor, (double)t->rope_low_freq_factor, t->rope_original_ctx,
             (double)t->rope_theta, dtype, t->n_vocab, dtype, c->n_head, c->width, c->image_size, inter, c->n_ff,
             c->max_tiles, c->n_global_layer, c->n_layer, c->patch_size, ratios, dtype, c->out_dim);
    return s;
}

/* generation_config.json of Llama-3.2-11B-Vision-Instruct. */
static char *generation_config(const hd_llama_config *t) {
    char eos[256] = "";
    for (int k = 0; k < t->n_eos; k++)
        snprintf(eos + strlen(eos), sizeof eos - strlen(eos), "%s%d", k ? ",\n    " : "", t->eos_token_ids[k]);
    const char *fmt = "{\n  \"bos_token_id\": %d,\n  \"do_sample\": true,\n  \"eos_token_id\": [\n    %s\n  ],\n"
                      "  \"pad_token_id\": %d,\n  \"temperature\": 0.6,\n  \"top_p\": 0.9,\n"
                      "  \"transformers_version\": \"4.45.0.dev0\"\n}\n";
    const size_t cap = strlen(fmt) + sizeof eos + 64;
    char *s = malloc(cap);
    if (s) snprintf(s, cap, fmt, t->bos_token_id, eos, t->pad_token_id);
    return s;
}

/* preprocessor_config.json of the released checkpoints, with the preset's tile size. */
static char *preprocessor_config(const hd_vit_config *c) {
    const char *fmt =
        "{\n"
        "  \"do_convert_rgb\": true,\n  \"do_normalize\": true,\n  \"do_pad\": true,\n"
        "  \"do_rescale\": true,\n  \"do_resize\": true,\n"
        "  \"image_mean\": [\n    0.48145466,\n    0.4578275,\n    0.40821073\n  ],\n"
        "  \"image_processor_type\": \"MllamaImageProcessor\",\n"
        "  \"image_std\": [\n    0.26862954,\n    0.26130258,\n    0.27577711\n  ],\n"
        "  \"max_image_tiles\": %d,\n"
        "  \"resample\": 2,\n"
        "  \"rescale_factor\": 0.00392156862745098,\n"
        "  \"size\": {\n    \"height\": %d,\n    \"width\": %d\n  }\n"
        "}\n";
    const size_t cap = strlen(fmt) + 64;
    char *s = malloc(cap);
    if (s) snprintf(s, cap, fmt, c->max_tiles, c->image_size, c->image_size);
    return s;
}

static hd_status write_text_owned(const char *dir, const char *name, char *text, hd_error *err) {
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    hd_status st = hd_rm_write_text(dir, name, text, err);
    free(text);
    return st;
}

hd_status hd_rm_mllama_write_hf_configs(const hd_rm_mllama_config *c, hd_type type, const char *dir, bool generation,
                                        hd_error *err) {
    hd_status st = write_text_owned(dir, "config.json", hf_config(c, torch_dtype(type)), err);
    if (st == HD_OK && generation) st = write_text_owned(dir, "generation_config.json", generation_config(&c->text), err);
    if (st == HD_OK) st = write_text_owned(dir, "preprocessor_config.json", preprocessor_config(&c->vision), err);
    return st;
}

/* ---- the tokenizer: Llama 3.1 names + <|image|> ----------------------------- */

#define IMAGE_TOKEN_NAME "<|image|>"

/* Reads dir/name as a cJSON tree. */
static cJSON *read_json(const char *dir, const char *name, hd_error *err) {
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        hd_error_set(err, HD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    const bool ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    cJSON *root = ok ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
    free(buf);
    if (!root) hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read it back as JSON", path);
    return root;
}

static hd_status write_json(const char *dir, const char *name, const cJSON *root, hd_error *err) {
    char *text = cJSON_Print(root);
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    size_t n = strlen(text);
    char *nl = malloc(n + 2);
    if (!nl) {
        free(text);
        return hd_error_set(err, HD_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    }
    memcpy(nl, text, n);
    nl[n] = '\n', nl[n + 1] = '\0';
    free(text);
    hd_status st = hd_rm_write_text(dir, name, nl, err);
    free(nl);
    return st;
}

static cJSON *image_token_entry(int32_t id, bool with_id) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = (!with_id || cJSON_AddNumberToObject(o, "id", id)) &&
              cJSON_AddStringToObject(o, "content", IMAGE_TOKEN_NAME) && cJSON_AddFalseToObject(o, "lstrip") &&
              cJSON_AddFalseToObject(o, "normalized") && cJSON_AddFalseToObject(o, "rstrip") &&
              cJSON_AddFalseToObject(o, "single_word") && cJSON_AddTrueToObject(o, "special");
    if (!ok) cJSON_Delete(o), o = NULL;
    return o;
}

/* Appends <|image|> = id to dir's tokenizer.json (added_tokens) and
 * tokenizer_config.json (added_tokens_decoder), as the HF Llama 3.2 Vision
 * files have it. */
static hd_status add_image_token(const char *dir, int32_t id, hd_error *err) {
    cJSON *tj = read_json(dir, "tokenizer.json", err);
    if (!tj) return err ? err->code : HD_ERR_FORMAT;
    cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    cJSON *e = image_token_entry(id, true);
    hd_status st = HD_OK;
    if (!cJSON_IsArray(added) || !e || !cJSON_AddItemToArray(added, e)) {
        cJSON_Delete(e);
        st = hd_error_set(err, HD_ERR_INTERNAL, "%s/tokenizer.json: cannot add %s", dir, IMAGE_TOKEN_NAME);
    }
    if (st == HD_OK) st = write_json(dir, "tokenizer.json", tj, err);
    cJSON_Delete(tj);
    if (st) return st;
    cJSON *tc = read_json(dir, "tokenizer_config.json", err);
    if (!tc) return err ? err->code : HD_ERR_FORMAT;
    cJSON *dec = cJSON_GetObjectItemCaseSensitive(tc, "added_tokens_decoder");
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    e = image_token_entry(id, false);
    if (!cJSON_IsObject(dec) || !e || !cJSON_AddItemToObject(dec, key, e)) {
        cJSON_Delete(e);
        st = hd_error_set(err, HD_ERR_INTERNAL, "%s/tokenizer_config.json: cannot add %s", dir, IMAGE_TOKEN_NAME);
    }
    if (st == HD_OK) st = write_json(dir, "tokenizer_config.json", tc, err);
    cJSON_Delete(tc);
    return st;
}

static bool has_image_token(const hd_tokenizer *tok, int32_t id) {
    return hd_tokenizer_n_vocab(tok) == id + 1 && hd_tokenizer_find_special(tok, IMAGE_TOKEN_NAME) == id;
}

/* A private temporary folder for the GGUF path's tokenizer files. */
static bool make_temp_dir(char *out, size_t size) {
    const char *base = getenv("TMPDIR");
    snprintf(out, size, "%s/herd-tokenizer-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(out) != NULL;
}

static void remove_temp_dir(const char *dir) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    char path[4352];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static hd_tokenizer *write_tokenizer(const char *src, const hd_rm_mllama_config *c, const char *dir, hd_error *err) {
    hd_tokenizer *tok = hd_tokenizer_load(src, err);
    if (!tok) return NULL;
    const bool has = has_image_token(tok, c->text.image_token_id);
    const int32_t eot = 128009;   /* the Instruct tokenizer's eos_token <|eot_id|> */
    hd_status st = HD_OK;
    if (!has && hd_tokenizer_n_vocab(tok) != c->text.image_token_id)
        st = hd_error_set(err, HD_ERR_ARG, "%s: the tokenizer has %d ids; mllama needs %d (+ %s)", src,
                          hd_tokenizer_n_vocab(tok), c->text.image_token_id, IMAGE_TOKEN_NAME);
    else if (hd_tokenizer_bos(tok) < 0 || eot >= hd_tokenizer_n_vocab(tok) || !hd_tokenizer_is_special(tok, eot))
        st = hd_error_set(err, HD_ERR_ARG, "%s: no Llama 3 special tokens (<|begin_of_text|>, <|eot_id|>)", src);
    else if (!has)
        st = hd_tokenizer_set_names(tok, HD_TOKENIZER_NAMES_LLAMA3_1, err);
    if (st == HD_OK) st = hd_tokenizer_write_hf(tok, dir, eot, err);
    hd_tokenizer_free(tok);
    if (st == HD_OK && !has) st = add_image_token(dir, c->text.image_token_id, err);
    if (st) return NULL;
    if (!(tok = hd_tokenizer_load(dir, err))) return NULL;
    if (!has_image_token(tok, c->text.image_token_id)) {
        hd_error_set(err, HD_ERR_INTERNAL, "%s: the written tokenizer lacks %s = %d", dir, IMAGE_TOKEN_NAME,
                     c->text.image_token_id);
        hd_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

hd_tokenizer *hd_rm_mllama_tokenizer(const char *src, const hd_rm_mllama_config *c, const char *dir, hd_error *err) {
    if (dir) return write_tokenizer(src, c, dir, err);
    char tmp[4096];
    if (!make_temp_dir(tmp, sizeof tmp)) {
        hd_error_set(err, HD_ERR_IO, "cannot create a temporary folder: %s", strerror(errno));
        return NULL;
    }
    hd_tokenizer *tok = write_tokenizer(src, c, tmp, err);
    remove_temp_dir(tmp);
    return tok;
}
