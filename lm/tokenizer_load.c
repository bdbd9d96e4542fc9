/* lm/tokenizer_load.c — reading Llama 3 vocabularies: Meta's tiktoken
 * tokenizer.model, Hugging Face tokenizer.json, the tokenizer.ggml.* keys of a
 * GGUF file, and detection of which one a path holds.
 */
#include "lm/tokenizer_hf.h"

#include "core/mmap.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- tiktoken: "base64 rank\n" per line ------------------------------------ */

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with '=' padding; returns the byte count or -1. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap) {
    if (n == 0 || n % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad) return -1;   /* data after padding */
                v[k] = b64_value(s[i + k]);
                if (v[k] < 0) return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        for (int k = 0; k < 3 - pad; k++) {
            if (o >= cap) return -1;
            out[o++] = b[k];
        }
    }
    return (long)o;
}

hd_tokenizer *hd_tokenizer_from_tiktoken(const void *data, size_t size, const char *name, hd_error *err) {
    /* one token per non-empty line (empty lines are skipped, as Meta's
     * load_tiktoken_bpe does); a line may end in \r\n */
    const uint8_t *s = data;
    size_t lines = 0;
    for (size_t i = 0; i < size;) {
        size_t e = i;
        while (e < size && s[e] != '\n') e++;
        size_t l = e - i - (e > i && s[e - 1] == '\r');
        lines += l > 0;
        i = e + 1;
    }
    if (lines == 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: empty tokenizer file", name);
        return NULL;
    }
    if (lines > HD_TOK_MAX_VOCAB - HD_TOK_N_SPECIAL) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: %zu lines is more tokens than supported", name, lines);
        return NULL;
    }
    int32_t n_ranked = (int32_t)lines;
    hd_tokenizer *t = hd_tok_new(n_ranked + HD_TOK_N_SPECIAL);
    if (!t) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    uint8_t buf[HD_TOK_MAX_TOKEN_BYTES];
    size_t p = 0, line = 0;
    while (p < size) {
        line++;
        size_t e = p;
        while (e < size && s[e] != '\n') e++;
        size_t next = e + 1;
        if (e > p && s[e - 1] == '\r') e--;
        if (e == p) {
            p = next;
            continue;
        }
        size_t sp = p;
        while (sp < e && s[sp] != ' ') sp++;
        long nb = sp < e ? b64_decode(s + p, sp - p, buf, sizeof buf) : -1;
        if (nb <= 0) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: line %zu: expected 'base64 rank'", name, line);
            goto fail;
        }
        long long rank = 0;
        size_t q = sp + 1;
        if (q >= e) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: line %zu: missing rank", name, line);
            goto fail;
        }
        for (; q < e; q++) {
            if (s[q] < '0' || s[q] > '9' || rank >= n_ranked) {
                hd_error_set(err, HD_ERR_FORMAT, "%s: line %zu: rank is not an integer in [0, %d)", name, line,
                             n_ranked);
                goto fail;
            }
            rank = rank * 10 + (s[q] - '0');
        }
        if (rank >= n_ranked) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: line %zu: rank %lld is not in [0, %d)", name, line, rank, n_ranked);
            goto fail;
        }
        if (hd_tok_set(t, (int32_t)rank, buf, (size_t)nb, false, name, err)) goto fail;
        p = next;
    }
    if (hd_tok_name_specials(t, n_ranked, HD_TOKENIZER_NAMES_META, name, err)) goto fail;
    if (hd_tok_finish(t, name, err)) goto fail;
    t->adds_bos = true;   /* Meta's encode(bos=True) */
    return t;
fail:
    hd_tokenizer_free(t);
    return NULL;
}

/* ---- merges consistency (tokenizer.json and GGUF) ----------------------------- */

typedef struct merge_check {
    const hd_tokenizer *t;
    const char *name;
    int32_t last_rank;
    size_t index;
} merge_check;

/* One merge "a b" (GPT-2 unicode strings): both parts and the result must be
 * ranked tokens, results in non-decreasing rank order — the order in which
 * tiktoken's lowest-rank-first merging applies them. */
static hd_status check_merge(merge_check *m, const char *a, size_t la, const char *b, size_t lb, hd_error *err) {
    uint8_t buf[2 * HD_TOK_MAX_TOKEN_BYTES];
    if (la > HD_TOK_MAX_TOKEN_BYTES || lb > HD_TOK_MAX_TOKEN_BYTES)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu is too long", m->name, m->index);
    long na = hd_tok_gpt2_decode(a, la, buf);
    long nb = na < 0 ? -1 : hd_tok_gpt2_decode(b, lb, buf + na);
    if (na <= 0 || nb <= 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu '%.*s %.*s' is not two GPT-2 byte strings", m->name,
                            m->index, (int)la, a, (int)lb, b);
    int32_t ra = hd_tok_rank(m->t, buf, (size_t)na), rb = hd_tok_rank(m->t, buf + na, (size_t)nb);
    int32_t r = hd_tok_rank(m->t, buf, (size_t)(na + nb));
    if (ra < 0 || rb < 0 || r < 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu '%.*s %.*s': %s is not in the vocabulary", m->name,
                            m->index, (int)la, a, (int)lb, b, ra < 0 ? "its left part" : rb < 0 ? "its right part" : "the merged token");
    if (r < m->last_rank)
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "%s: merge %zu '%.*s %.*s' makes token %d after token %d: merges not in rank order, "
                            "not a tiktoken-style (Llama 3) vocabulary", m->name, m->index, (int)la, a, (int)lb, b, r,
                            m->last_rank);
    m->last_rank = r;
    m->index++;
    return HD_OK;
}

static hd_status check_merge_str(merge_check *m, const char *s, size_t len, hd_error *err) {
    const char *sp = memchr(s, ' ', len);
    if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp - s) - 1))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu '%.*s' is not 'A B'", m->name, m->index,
                            (int)(len > 64 ? 64 : len), s);
    return check_merge(m, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1, err);
}

/* ---- Hugging Face tokenizer.json --------------------------------------------- */

static bool json_id(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < HD_TOK_MAX_VOCAB) || d != floor(d)) return false;
    *id = (int32_t)d;
    return true;
}

/* Reads merge c ("a b" or [a, b]) into its two GPT-2 strings. */
static hd_status merge_parts(const cJSON *c, size_t index, const char *name, const char **a, size_t *la,
                             const char **b, size_t *lb, hd_error *err) {
    if (cJSON_IsString(c)) {
        const char *s = c->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu '%.64s' is not 'A B'", name, index, s);
        *a = s, *la = (size_t)(sp - s), *b = sp + 1, *lb = strlen(sp + 1);
        return HD_OK;
    }
    if (cJSON_GetArraySize(c) == 2 && cJSON_IsString(c->child) && cJSON_IsString(c->child->next)) {
        *a = c->child->valuestring, *la = strlen(*a);
        *b = c->child->next->valuestring, *lb = strlen(*b);
        return HD_OK;
    }
    return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu is neither \"A B\" nor [A, B]", name, index);
}

/* Merge (a, b) for the merge-priority model: parts and result must be tokens. */
static hd_status add_merge(hd_tokenizer *t, const char *a, size_t la, const char *b, size_t lb, size_t index,
                           const char *name, hd_error *err) {
    uint8_t buf[2 * HD_TOK_MAX_TOKEN_BYTES];
    long na = la <= HD_TOK_MAX_TOKEN_BYTES ? hd_tok_gpt2_decode(a, la, buf) : -1;
    long nb = na <= 0 || lb > HD_TOK_MAX_TOKEN_BYTES ? -1 : hd_tok_gpt2_decode(b, lb, buf + na);
    if (na <= 0 || nb <= 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu '%.*s %.*s' is not two GPT-2 byte strings", name, index,
                            (int)(la > 64 ? 64 : la), a, (int)(lb > 64 ? 64 : lb), b);
    int32_t ra = hd_tok_rank(t, buf, (size_t)na), rb = hd_tok_rank(t, buf + na, (size_t)nb);
    int32_t r = hd_tok_rank(t, buf, (size_t)(na + nb));
    if (ra < 0 || rb < 0 || r < 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: merge %zu '%.*s %.*s': %s is not in the vocabulary", name, index,
                            (int)(la > 64 ? 64 : la), a, (int)(lb > 64 ? 64 : lb), b,
                            ra < 0 ? "its left part" : rb < 0 ? "its right part" : "the merged token");
    if (hd_tok_add_merge(t, ra, rb, r)) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for merges", name);
    return HD_OK;
}

/* model fields that change what BPE does and that herd refuses with a one-line error */
static hd_status check_model_options(const cJSON *model, const char *name, hd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    if (cJSON_IsTrue(v)) return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: model.byte_fallback is not supported", name);
    v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(v) && v->valuedouble > 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: model.dropout (training-time BPE dropout) is not supported", name);
    static const char *const strs[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(model, strs[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: model.%s is not supported", name, strs[i]);
    }
    return HD_OK;
}

hd_tokenizer *hd_tokenizer_from_hf_json(const void *data, size_t size, const char *name, hd_error *err) {
    hd_tokenizer *t = NULL;
    hd_tok_pipeline *pipe = NULL;
    cJSON *root = cJSON_ParseWithLength(data, size);
    if (!root) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: not valid JSON", name);
        return NULL;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(model) || !cJSON_IsObject(vocab)) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: no model.vocab object", name);
        goto done;
    }
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: model.type is not \"BPE\"", name);
        goto done;
    }
    if (added && !cJSON_IsArray(added)) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: added_tokens is not an array", name);
        goto done;
    }
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges)) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: model.merges is not an array", name);
        goto done;
    }
    /* size: the largest id + 1 */
    int32_t max_id = -1, id = 0;
    for (const cJSON *c = vocab->child; c; c = c->next) {
        if (!json_id(c, &id)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: vocab entry '%.64s' has no valid id", name, c->string);
            goto done;
        }
        if (id > max_id) max_id = id;
    }
    for (const cJSON *c = added ? added->child : NULL; c; c = c->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(c, "content");
        if (!json_id(cJSON_GetObjectItemCaseSensitive(c, "id"), &id) || !cJSON_IsString(content) ||
            !content->valuestring[0]) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: an added_tokens entry lacks a valid id or content", name);
            goto done;
        }
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: the vocabulary is empty", name);
        goto done;
    }
    bool llama3;
    if (hd_tok_pipeline_from_json(cJSON_GetObjectItemCaseSensitive(root, "normalizer"),
                                  cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"),
                                  cJSON_GetObjectItemCaseSensitive(root, "decoder"), name, &pipe, &llama3, err))
        goto done;
    const char *bos_name = NULL;
    if (hd_tok_post_from_json(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), name, &bos_name, err))
        goto done;
    if (check_model_options(model, name, err)) goto done;
    t = hd_tok_new(max_id + 1);
    if (!t) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory (%d tokens)", name, max_id + 1);
        goto done;
    }
    /* added tokens first: they take their id even when the vocab also lists it
     * (GPT-2's <|endoftext|>), and are matched as whole contents, never merged */
    for (const cJSON *c = added ? added->child : NULL; c; c = c->next) {
        json_id(cJSON_GetObjectItemCaseSensitive(c, "id"), &id);
        const char *s = cJSON_GetObjectItemCaseSensitive(c, "content")->valuestring;
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(c, "special");
        bool special = !cJSON_IsBool(sp) || cJSON_IsTrue(sp);
        if (hd_tok_set_kind(t, id, s, strlen(s), special ? HD_TOK_SPECIAL : HD_TOK_ADDED, name, err)) goto fail;
        t->aflags[id] = (uint8_t)((cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "lstrip")) ? HD_TOK_LSTRIP : 0) |
                                  (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "rstrip")) ? HD_TOK_RSTRIP : 0) |
                                  (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "single_word")) ? HD_TOK_SINGLE_WORD : 0));
    }
    uint8_t buf[HD_TOK_MAX_TOKEN_BYTES];
    for (const cJSON *c = vocab->child; c; c = c->next) {
        json_id(c, &id);
        if (t->off[id] != UINT32_MAX && t->special[id] != HD_TOK_RANKED) continue;   /* an added token */
        size_t l = strlen(c->string);
        long nb = l <= 2 * HD_TOK_MAX_TOKEN_BYTES ? hd_tok_gpt2_decode(c->string, l, buf) : -1;
        if (nb <= 0 || nb > HD_TOK_MAX_TOKEN_BYTES) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: vocab entry %d '%.64s' is not a GPT-2 byte string", name, id, c->string);
            goto fail;
        }
        if (hd_tok_set(t, id, buf, (size_t)nb, false, name, err)) goto fail;
    }
    /* the Llama 3 fast path needs every byte and merges in rank order; any
     * other file merges by priority */
    t->require_all_bytes = llama3;
    if (hd_tok_finish(t, name, err)) goto fail;
    bool rank_order = llama3;
    merge_check m = {t, name, -1, 0};
    for (const cJSON *c = merges ? merges->child : NULL; c && rank_order; c = c->next) {
        const char *a, *b;
        size_t la, lb;
        if (merge_parts(c, m.index, name, &a, &la, &b, &lb, err)) goto fail;
        hd_error tmp;
        if (check_merge(&m, a, la, b, lb, &tmp)) {
            if (tmp.code != HD_ERR_UNSUPPORTED) {   /* malformed: report it */
                if (err) *err = tmp;
                goto fail;
            }
            rank_order = false;
        }
    }
    if (rank_order) {   /* the Llama 3 encoder */
        t->adds_bos = bos_name != NULL;
        hd_tok_pipeline_free(pipe);
        pipe = NULL;
        goto done;
    }
    t->pipe = pipe;
    pipe = NULL;
    t->merge_mode = true;
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    t->fuse_unk = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "fuse_unk"));
    size_t index = 0;
    for (const cJSON *c = merges ? merges->child : NULL; c; c = c->next, index++) {
        const char *a, *b;
        size_t la, lb;
        if (merge_parts(c, index, name, &a, &la, &b, &lb, err) || add_merge(t, a, la, b, lb, index, name, err))
            goto fail;
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(vocab, unk->valuestring);
        if (!json_id(u, &t->unk)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: model.unk_token '%.64s' is not in the vocabulary", name,
                         unk->valuestring);
            goto fail;
        }
    }
    if (bos_name) {
        int32_t b = hd_tokenizer_find_special(t, bos_name);
        if (b < 0) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: post_processor's token '%.64s' is not an added token", name, bos_name);
            goto fail;
        }
        t->bos = b;
        t->adds_bos = true;
    }
    if (t->eos < 0) t->eos = hd_tokenizer_find_special(t, "<|endoftext|>");
    goto done;
fail:
    hd_tokenizer_free(t);
    t = NULL;
done:
    hd_tok_pipeline_free(pipe);
    cJSON_Delete(root);
    return t;
}

/* tokenizer_config.json next to a generic tokenizer.json: bos_token and
 * eos_token (a string or {"content": ...}) name the ids.  Missing file or
 * keys: nothing changes. */
static hd_status apply_hf_config(hd_tokenizer *t, const char *json_path, hd_error *err) {
    char p[4096];
    const char *slash = strrchr(json_path, '/');
    int dl = slash ? (int)(slash - json_path) : 1;
    if ((size_t)snprintf(p, sizeof p, "%.*s/tokenizer_config.json", dl, slash ? json_path : ".") >= sizeof p)
        return HD_OK;
    struct stat sb;
    if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) return HD_OK;
    hd_mmap m;
    if (hd_mmap_open(&m, p, err)) return err ? err->code : HD_ERR_IO;
    cJSON *root = cJSON_ParseWithLength(m.data, m.size);
    hd_mmap_close(&m);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", p);
    }
    hd_status st = HD_OK;
    static const char *const keys[] = {"bos_token", "eos_token"};
    for (int k = 0; k < 2 && !st; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (!cJSON_IsString(v)) continue;
        int32_t id = hd_tokenizer_find_special(t, v->valuestring);
        if (id < 0) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: %s '%.64s' is not an added token of the tokenizer.json", p,
                              keys[k], v->valuestring);
        } else if (k == 0) {
            if (t->adds_bos && id != t->bos)
                st = hd_error_set(err, HD_ERR_FORMAT, "%s: bos_token '%.64s' differs from the post_processor's", p,
                                  v->valuestring);
            t->bos = id;
        } else {
            t->file_eos = id;
            if (t->eos < 0) t->eos = id;
        }
    }
    cJSON_Delete(root);
    return st;
}

/* ---- GGUF -------------------------------------------------------------------- */

static bool gguf_str_is(const hd_gguf *g, const char *key, const char *want, bool *present) {
    const char *s;
    size_t n;
    *present = hd_gguf_get_str(g, key, &s, &n);
    return *present && n == strlen(want) && memcmp(s, want, n) == 0;
}

hd_tokenizer *hd_tokenizer_from_gguf(const hd_gguf *g, hd_error *err) {
    const char *name = hd_gguf_name(g);
    bool present;
    if (!gguf_str_is(g, "tokenizer.ggml.model", "gpt2", &present)) {
        hd_error_set(err, present ? HD_ERR_UNSUPPORTED : HD_ERR_NOTFOUND,
                     "%s: tokenizer.ggml.model is %s (need \"gpt2\", a byte-level BPE)", name,
                     present ? "not \"gpt2\"" : "missing");
        return NULL;
    }
    hd_tok_pipeline *pipe = NULL;
    const char *pre;
    size_t pre_len;
    if (hd_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len) &&
        hd_tok_pipeline_for_pre(pre, pre_len, name, &pipe, err))
        return NULL;
    int64_t ktok = hd_gguf_find_key(g, "tokenizer.ggml.tokens");
    int64_t ktype = hd_gguf_find_key(g, "tokenizer.ggml.token_type");
    int64_t kmerge = hd_gguf_find_key(g, "tokenizer.ggml.merges");
    hd_gguf_vtype et;
    uint64_t n_tok = 0, n_type = 0, n_merge = 0;
    hd_tokenizer *t = NULL;
    if (ktok < 0 || !hd_gguf_kv_array(g, ktok, &et, &n_tok) || et != HD_GGUF_STRING) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or not a string array", name);
        goto fail;
    }
    if (ktype < 0 || !hd_gguf_kv_array(g, ktype, &et, &n_type) ||
        !(et == HD_GGUF_INT32 || et == HD_GGUF_UINT32) || n_type != n_tok) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.token_type is missing, not an i32 array or not %llu long",
                     name, (unsigned long long)n_tok);
        goto fail;
    }
    if (kmerge >= 0 && (!hd_gguf_kv_array(g, kmerge, &et, &n_merge) || et != HD_GGUF_STRING)) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.merges is not a string array", name);
        goto fail;
    }
    if (n_tok == 0 || n_tok > HD_TOK_MAX_VOCAB) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", name, (unsigned long long)n_tok);
        goto fail;
    }
    t = hd_tok_new((int32_t)n_tok);
    if (!t) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    uint8_t buf[HD_TOK_MAX_TOKEN_BYTES];
    for (uint64_t i = 0; i < n_tok; i++) {
        const char *s;
        size_t len;
        double ty;
        if (!hd_gguf_arr_str(g, ktok, i, &s, &len) || !hd_gguf_arr_number(g, ktype, i, &ty)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read token %llu", name, (unsigned long long)i);
            goto fail;
        }
        int type = (int)ty;
        if (type == 1) {           /* NORMAL: GPT-2 unicode string of the bytes */
            long nb = len <= HD_TOK_MAX_TOKEN_BYTES ? hd_tok_gpt2_decode(s, len, buf) : -1;
            if (nb <= 0) {
                hd_error_set(err, HD_ERR_FORMAT, "%s: token %llu '%.*s' is not a GPT-2 byte string", name,
                             (unsigned long long)i, (int)(len > 64 ? 64 : len), s);
                goto fail;
            }
            if (hd_tok_set(t, (int32_t)i, buf, (size_t)nb, false, name, err)) goto fail;
        } else if (type >= 2 && type <= 5) {   /* UNKNOWN, CONTROL, USER_DEFINED, UNUSED: by name */
            /* USER_DEFINED is llama.cpp's non-special added token */
            if (hd_tok_set_kind(t, (int32_t)i, s, len, type == 4 ? HD_TOK_ADDED : HD_TOK_SPECIAL, name, err))
                goto fail;
            if (type == 2) t->unk = (int32_t)i;
        } else {
            hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: token %llu has token_type %d (byte-level BPE uses 1..5)", name,
                         (unsigned long long)i, type);
            goto fail;
        }
    }
    bool llama3 = pipe == NULL;
    t->require_all_bytes = llama3;
    if (hd_tok_finish(t, name, err)) goto fail;
    /* Llama 3 pre-tokenizer: the fast path needs merges in rank order; a
     * vocabulary whose merges are not (another model with llama-bpe) merges
     * by priority with ignore_merges, as llama.cpp does for this pre type */
    merge_check m = {t, name, -1, 0};
    for (uint64_t i = 0; llama3 && i < n_merge; i++) {
        const char *s;
        size_t len;
        hd_error tmp;
        if (!hd_gguf_arr_str(g, kmerge, i, &s, &len)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read merge %llu", name, (unsigned long long)i);
            goto fail;
        }
        if (check_merge_str(&m, s, len, &tmp)) {
            if (tmp.code != HD_ERR_UNSUPPORTED) {
                if (err) *err = tmp;
                goto fail;
            }
            if (hd_tok_pipeline_llama3(name, &pipe, err)) goto fail;
            t->ignore_merges = true;
            break;
        }
    }
    for (uint64_t i = 0; pipe && i < n_merge; i++) {
        const char *s;
        size_t len;
        if (!hd_gguf_arr_str(g, kmerge, i, &s, &len)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read merge %llu", name, (unsigned long long)i);
            goto fail;
        }
        const char *sp = memchr(s, ' ', len);
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp - s) - 1)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: merge %llu '%.*s' is not 'A B'", name, (unsigned long long)i,
                         (int)(len > 64 ? 64 : len), s);
            goto fail;
        }
        if (add_merge(t, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1, (size_t)i, name, err)) goto fail;
    }
    t->adds_bos = llama3;   /* llama.cpp's defaults: Llama 3 adds BOS, GPT-2 style vocabularies do not */
    bool add_bos;
    if (hd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos)) t->adds_bos = add_bos;
    if (pipe) {
        t->pipe = pipe;
        pipe = NULL;
        t->merge_mode = true;
        if (t->eos < 0) t->eos = hd_tokenizer_find_special(t, "<|endoftext|>");
    }
    uint32_t v;
    if (hd_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &v)) {
        if (v >= (uint32_t)t->n_vocab) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.bos_token_id %u is out of range", name, v);
            goto fail;
        }
        t->bos = (int32_t)v;
    }
    if (hd_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &v)) {
        if (v >= (uint32_t)t->n_vocab) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.eos_token_id %u is out of range", name, v);
            goto fail;
        }
        t->file_eos = (int32_t)v;
        if (t->pipe && t->eos < 0) t->eos = t->file_eos;
    }
    if (hd_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &v)) {
        if (v >= (uint32_t)t->n_vocab) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: tokenizer.ggml.unknown_token_id %u is out of range", name, v);
            goto fail;
        }
        t->unk = (int32_t)v;
    }
    if (t->adds_bos && t->bos < 0) t->adds_bos = false;
    return t;
fail:
    hd_tok_pipeline_free(pipe);
    hd_tokenizer_free(t);
    return NULL;
}

/* ---- by path ----------------------------------------------------------------- */

static hd_tokenizer *load_file(const char *path, hd_error *err) {
    hd_mmap m;
    if (hd_mmap_open(&m, path, err)) return NULL;
    const uint8_t *s = m.data;
    size_t i = 0;
    while (i < m.size && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
    hd_tokenizer *t;
    if (m.size >= 4 && memcmp(s, "GGUF", 4) == 0) {
        hd_mmap_close(&m);
        hd_gguf *g = hd_gguf_open(path, err);
        if (!g) return NULL;
        t = hd_tokenizer_from_gguf(g, err);
        hd_gguf_close(g);
        return t;
    }
    bool json = i < m.size && s[i] == '{';
    if (json) t = hd_tokenizer_from_hf_json(m.data, m.size, path, err);
    else t = hd_tokenizer_from_tiktoken(m.data, m.size, path, err);
    hd_mmap_close(&m);
    if (t && json && t->pipe && apply_hf_config(t, path, err)) {
        hd_tokenizer_free(t);
        return NULL;
    }
    return t;
}

hd_tokenizer *hd_tokenizer_load(const char *path, hd_error *err) {
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        hd_error_set(err, HD_ERR_IO, "%s: no such file or directory", path ? path : "(null)");
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) return load_file(path, err);
    static const char *const names[] = {"tokenizer.json", "tokenizer.model", "original/tokenizer.model"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", path, names[i]) >= sizeof p) break;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) return load_file(p, err);
    }
    hd_error_set(err, HD_ERR_NOTFOUND, "%s: directory has no tokenizer.json or tokenizer.model", path);
    return NULL;
}
