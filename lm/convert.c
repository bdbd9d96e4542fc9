/* lm/convert.c — HF folder → GGUF (hd_convert_hf_to_gguf) on top of the
 * random-model writer's Llama plan; see convert.h.  hd_quantize_gguf lives in
 * lm/quantize.c. */
#include "lm/convert.h"

#include "core/safetensors.h"
#include "lm/llama_config.h"
#include "lm/random_model_impl.h"
#include "lm/tokenizer.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

hd_convert_params hd_convert_default_params(void) {
    hd_convert_params p = {.type = HD_TYPE_F16, .name = NULL, .n_threads = 0, .progress = NULL, .progress_ctx = NULL};
    return p;
}

uint32_t hd_convert_file_type(hd_type type) { return hd_rm_file_type(type); }

/* general.name default: the folder's last path component. */
static void folder_name(const char *dir, char *out, size_t size) {
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    size_t begin = end;
    while (begin > 0 && dir[begin - 1] != '/') begin--;
    size_t n = end - begin;
    if (n >= size) n = size - 1;
    memcpy(out, dir + begin, n);
    out[n] = '\0';
}

static bool ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The tensor named hf (the Hub checkpoints' names) in st, or under the names
 * newer transformers versions save MllamaForConditionalGeneration with
 * (model.language_model.*, model.vision_model.*, model.multi_modal_projector.*,
 * lm_head.weight); -1 if neither is there. */
static int64_t find_source(const hd_safetensors *st, const char *hf) {
    int64_t k = hd_safetensors_find(st, hf);
    if (k >= 0) return k;
    static const char *const from[] = {"language_model.model.", "language_model.lm_head.", "vision_model.",
                                       "multi_modal_projector."};
    static const char *const to[] = {"model.language_model.", "lm_head.", "model.vision_model.",
                                     "model.multi_modal_projector."};
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        const size_t n = strlen(from[i]);
        if (strncmp(hf, from[i], n) != 0) continue;
        char alt[512];
        if (snprintf(alt, sizeof alt, "%s%s", to[i], hf + n) >= (int)sizeof alt) return -1;
        return hd_safetensors_find(st, alt);
    }
    return -1;
}

/* Points every HF tensor of the plan at its data in st after checking name,
 * shape and dtype; src_shard = rank of its file among the checkpoint's files
 * in name order (convert_hf_to_gguf.py reads the parts sorted). */
static hd_status bind_sources(hd_rm_plan *plan, const hd_safetensors *st, const char *dir, hd_error *err) {
    const int64_t n = hd_safetensors_n_tensors(st);
    const char **files = malloc((size_t)(n > 0 ? n : 1) * sizeof *files);
    bool *used = calloc((size_t)(n > 0 ? n : 1), sizeof *used);
    hd_status s = HD_OK;
    if (!files || !used) {
        s = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    int nf = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *f = hd_safetensors_tensor(st, i)->file;
        bool seen = false;
        for (int k = 0; k < nf && !seen; k++) seen = strcmp(files[k], f) == 0;
        if (!seen) files[nf++] = f;
    }
    qsort(files, (size_t)nf, sizeof *files, cmp_str);
    for (int i = 0; i < plan->n && s == HD_OK; i++) {
        hd_rm_tensor *t = &plan->t[i];
        if (!t->hf_name) continue;
        const int64_t k = find_source(st, t->hf_name);
        if (k < 0) {
            s = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s is missing", dir, t->hf_name);
            break;
        }
        const hd_st_tensor *x = hd_safetensors_tensor(st, k);
        used[k] = true;
        if (x->hd_type != HD_TYPE_F32 && x->hd_type != HD_TYPE_F16 && x->hd_type != HD_TYPE_BF16) {
            s = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16 or BF16 expected)",
                             x->file, t->hf_name, x->dtype);
            break;
        }
        bool same = x->n_dims == t->n_dims;
        for (int d = 0; same && d < t->n_dims; d++) same = x->shape[d] == t->shape[d];
        if (!same) {
            char want[96], got[96];
            int o = 0;
            for (int d = 0; d < t->n_dims; d++)
                o += snprintf(want + o, sizeof want - (size_t)o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
            o = 0;
            for (int d = 0; d < x->n_dims && o < (int)sizeof got - 24; d++)
                o += snprintf(got + o, sizeof got - (size_t)o, "%s%" PRId64, d ? ", " : "", x->shape[d]);
            if (x->n_dims == 0) got[0] = '\0';
            s = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s has shape [%s], config.json implies [%s]", x->file,
                             t->hf_name, got, want);
            break;
        }
        const char **f = bsearch(&x->file, files, (size_t)nf, sizeof *files, cmp_str);
        t->init = HD_RM_INIT_SOURCE;
        t->src = x->data;
        t->src_type = (hd_type)x->hd_type;
        t->src_shard = f ? (int)(f - files) : 0;
    }
    for (int64_t i = 0; i < n && s == HD_OK; i++) {
        const hd_st_tensor *x = hd_safetensors_tensor(st, i);
        if (!used[i] && !ends_with(x->name, ".rotary_emb.inv_freq"))
            s = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s is not part of the model config.json describes",
                             x->file, x->name);
    }
done:
    free(files);
    free(used);
    return s;
}

typedef struct progress_bridge {
    const hd_convert_params *p;
} progress_bridge;

static void bridge_progress(void *ctx, int done, int total, const char *tensor) {
    const progress_bridge *b = ctx;
    b->p->progress(b->p->progress_ctx, done, total, tensor);
}

/* model_type of a config.json, "" when it has none or cannot be read (the
 * Llama parser then reports the problem). */
static void model_type_of(const char *path, char *out, size_t size) {
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    const size_t cap = (size_t)16 << 20;
    char *buf = malloc(cap);
    const size_t n = buf ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    cJSON *root = n > 0 && n < cap ? cJSON_ParseWithLength(buf, n) : NULL;
    const cJSON *mt = root ? cJSON_GetObjectItemCaseSensitive(root, "model_type") : NULL;
    if (cJSON_IsString(mt)) snprintf(out, size, "%s", mt->valuestring);
    cJSON_Delete(root);
    free(buf);
}

/* The tokenizer of the folder, NULL without error when it has none; its ids
 * must be the embedding rows: n_vocab, or n_vocab + 1 with the extra id
 * `image_token` named <|image|> (HF Llama 3.2 Vision) when image_token ≥ 0. */
static hd_tokenizer *folder_tokenizer(const char *dir, int n_vocab, int32_t image_token, hd_status *st,
                                      hd_error *err) {
    hd_error terr = {0};
    *st = HD_OK;
    hd_tokenizer *tok = hd_tokenizer_load(dir, &terr);
    if (!tok) {
        if (terr.code != HD_ERR_NOTFOUND) {
            if (err) *err = terr;
            *st = terr.code;
        }
        return NULL;
    }
    const int n = hd_tokenizer_n_vocab(tok);
    const bool ok = n == n_vocab || (image_token >= 0 && n == image_token + 1 && image_token == n_vocab &&
                                     hd_tokenizer_find_special(tok, "<|image|>") == image_token);
    if (!ok) {
        *st = hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has %d ids but config.json has vocab_size %d%s", dir,
                           n, n_vocab, image_token >= 0 ? " (+ <|image|>)" : "");
        hd_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* MllamaForConditionalGeneration → one GGUF (lm/random_model_mllama.c's plan and keys). */
static hd_status convert_mllama(const char *hf_dir, const char *config, const char *out, const hd_convert_params *p,
                                hd_error *err) {
    hd_rm_mllama_config c;
    hd_status st = hd_rm_mllama_config_from_hf(&c, config, err);
    if (st) return st;
    if (p->name) snprintf(c.text.name, sizeof c.text.name, "%s", p->name);
    else folder_name(hf_dir, c.text.name, sizeof c.text.name);
    hd_random_model_params rp = hd_random_model_default_params();
    rp.type = p->type;
    rp.n_threads = p->n_threads;
    progress_bridge bridge = {p};
    if (p->progress) rp.progress = bridge_progress, rp.progress_ctx = &bridge;
    hd_tokenizer *tok = NULL;
    hd_safetensors *sf = NULL;
    hd_rm_plan plan = {0};
    if (!(sf = hd_safetensors_open(hf_dir, err))) {
        st = err ? err->code : HD_ERR_IO;
        goto done;
    }
    if ((st = hd_rm_mllama_plan(&c, &plan, err)) || (st = hd_rm_check_type(&plan, &rp, err)) ||
        (st = bind_sources(&plan, sf, hf_dir, err)))
        goto done;
    tok = folder_tokenizer(hf_dir, c.text.n_vocab, c.text.image_token_id, &st, err);
    if (st == HD_OK) st = hd_rm_mllama_write_gguf(&c, &plan, tok, &rp, out, err);
done:
    hd_rm_plan_free(&plan);
    hd_safetensors_close(sf);
    hd_tokenizer_free(tok);
    return st;
}

hd_status hd_convert_hf_to_gguf(const char *hf_dir, const char *out, const hd_convert_params *p, hd_error *err) {
    if (!hf_dir || !out || !p) return hd_error_set(err, HD_ERR_ARG, "convert: no input or output path");
    struct stat sb;
    if (stat(hf_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return hd_error_set(err, HD_ERR_IO, "%s: not a folder", hf_dir);
    char path[4352];
    snprintf(path, sizeof path, "%s/config.json", hf_dir);
    if (stat(path, &sb) != 0) return hd_error_set(err, HD_ERR_IO, "%s: no config.json in the folder", hf_dir);
    char model_type[64];
    model_type_of(path, model_type, sizeof model_type);
    if (strcmp(model_type, "mllama") == 0) return convert_mllama(hf_dir, path, out, p, err);
    hd_llama_config c;
    hd_status st = hd_llama_config_from_hf(&c, path, err);
    if (st) return st;
    if (p->name) snprintf(c.name, sizeof c.name, "%s", p->name);
    else folder_name(hf_dir, c.name, sizeof c.name);

    hd_random_model_params rp = hd_random_model_default_params();
    rp.type = p->type;
    rp.n_threads = p->n_threads;
    progress_bridge bridge = {p};
    if (p->progress) rp.progress = bridge_progress, rp.progress_ctx = &bridge;

    hd_tokenizer *tok = NULL;
    hd_safetensors *sf = NULL;
    hd_rm_plan plan = {0};
    if (!(sf = hd_safetensors_open(hf_dir, err))) {
        st = err ? err->code : HD_ERR_IO;
        goto done;
    }
    /* a tied checkpoint that still stores lm_head.weight: convert_hf_to_gguf.py writes it as output.weight */
    if (c.tie_word_embeddings && hd_safetensors_find(sf, "lm_head.weight") >= 0) c.tie_word_embeddings = false;
    if ((st = hd_rm_llama_plan(&c, &plan, err)) || (st = hd_rm_check_type(&plan, &rp, err)) ||
        (st = bind_sources(&plan, sf, hf_dir, err)))
        goto done;

    /* the tokenizer is optional (test checkpoints without one); a broken one is an error */
    tok = folder_tokenizer(hf_dir, c.n_vocab, -1, &st, err);
    if (st) goto done;
    if (tok && c.n_eos == 0) {
        const int32_t eos = hd_tokenizer_eos(tok);
        if (eos >= 0) c.eos_token_ids[c.n_eos++] = eos;
    }
    if (tok && c.n_eos == 0) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: no eos_token_id in config.json and no <|end_of_text|> token", hf_dir);
        goto done;
    }
    st = hd_rm_llama_write_gguf(&c, &plan, tok, &rp, out, err);
done:
    hd_rm_plan_free(&plan);
    hd_safetensors_close(sf);
    hd_tokenizer_free(tok);
    return st;
}
