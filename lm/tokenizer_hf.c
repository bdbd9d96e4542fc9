/* lm/tokenizer_hf.c — the text pipeline of a Hugging Face tokenizer.json:
 * normalizer, pre_tokenizer, post_processor and decoder objects, read the way
 * the tokenizers library reads them, and the llama.cpp tokenizer.ggml.pre
 * names of the pipelines llama.cpp knows.
 *
 * Supported (anything else is HD_ERR_UNSUPPORTED naming the type):
 *   normalizer     null, NFC, NFKC, NFD, NFKD, Prepend, Replace, Sequence
 *   pre_tokenizer  Split (String/Regex pattern; Removed, Isolated,
 *                  MergedWithPrevious, MergedWithNext, Contiguous; invert),
 *                  ByteLevel (add_prefix_space, use_regex), Digits
 *                  (individual_digits), Punctuation, Whitespace (\w+|[^\w\s]+ with
 *                  PCRE2's \w), WhitespaceSplit, Sequence;
 *                  one ByteLevel is required (byte-level BPE)
 *   post_processor null, ByteLevel, TemplateProcessing with at most one
 *                  special token before $A and none after it, Sequence
 *   decoder        null, ByteLevel
 */
#include "lm/tokenizer_hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char hd_tok_gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void hd_tok_pipeline_free(hd_tok_pipeline *p) {
    if (!p) return;
    for (int i = 0; i < p->n_norm; i++) {
        free(p->norm[i].text);
        hd_tok_regex_free(p->norm[i].re);
    }
    for (int i = 0; i < p->n_steps; i++) hd_tok_regex_free(p->steps[i].re);
    free(p->norm);
    free(p->steps);
    free(p);
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Boolean field with a default (absent or null). */
static bool jbool(const cJSON *o, const char *key, bool def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static hd_tok_step *add_step(hd_tok_pipeline *p) {
    hd_tok_step *s = realloc(p->steps, (size_t)(p->n_steps + 1) * sizeof *s);
    if (!s) return NULL;
    p->steps = s;
    s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    return s;
}

static hd_tok_norm *add_norm(hd_tok_pipeline *p) {
    hd_tok_norm *s = realloc(p->norm, (size_t)(p->n_norm + 1) * sizeof *s);
    if (!s) return NULL;
    p->norm = s;
    s = &p->norm[p->n_norm++];
    memset(s, 0, sizeof *s);
    return s;
}

static hd_status parse_behavior(const cJSON *o, const char *name, hd_tok_behavior def, hd_tok_behavior *out,
                                hd_error *err) {
    const char *b = jstr(o, "behavior");
    static const struct { const char *n; hd_tok_behavior b; } tab[] = {
        {"Removed", HD_TOK_REMOVED},           {"Isolated", HD_TOK_ISOLATED},
        {"MergedWithPrevious", HD_TOK_MERGED_PREV}, {"MergedWithNext", HD_TOK_MERGED_NEXT},
        {"Contiguous", HD_TOK_CONTIGUOUS},
    };
    if (!b) {
        *out = def;
        return HD_OK;
    }
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (strcmp(b, tab[i].n) == 0) {
            *out = tab[i].b;
            return HD_OK;
        }
    return hd_error_set(err, HD_ERR_FORMAT, "%s: pre_tokenizer behavior \"%.40s\" is unknown", name, b);
}

/* {"String": s} or {"Regex": r} -> compiled pattern; *is_llama3 for the Llama 3 regex. */
static hd_status parse_pattern(const cJSON *pat, const char *name, const char *what, hd_tok_regex **re,
                               bool *is_llama3, hd_error *err) {
    const char *s = jstr(pat, "String"), *r = jstr(pat, "Regex");
    if (!s && !r) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s pattern is neither {\"String\"} nor {\"Regex\"}", name, what);
    if (is_llama3) *is_llama3 = r && strcmp(r, hd_tok_llama3_pattern) == 0;
    if (s && !*s) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s pattern is an empty string", name, what);
    char msg[256];
    *re = hd_tok_regex_compile(s ? s : r, strlen(s ? s : r), s != NULL, msg, sizeof msg);
    if (!*re) return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %s %s", name, what, msg);
    return HD_OK;
}

static hd_status parse_pre(const cJSON *o, const char *name, hd_tok_pipeline *p, int depth, hd_error *err) {
    if (!o || cJSON_IsNull(o)) return HD_OK;
    const char *type = jstr(o, "type");
    if (!cJSON_IsObject(o) || !type) return hd_error_set(err, HD_ERR_FORMAT, "%s: pre_tokenizer without a type", name);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        if (!cJSON_IsArray(list) || depth > 8)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: pre_tokenizer Sequence without a pretokenizers list", name);
        for (const cJSON *c = list->child; c; c = c->next) {
            hd_status st = parse_pre(c, name, p, depth + 1, err);
            if (st) return st;
        }
        return HD_OK;
    }
    hd_tok_step *s = add_step(p);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
    if (strcmp(type, "Split") == 0) {
        s->kind = HD_TOK_STEP_SPLIT;
        s->invert = jbool(o, "invert", false);
        hd_status st = parse_behavior(o, name, HD_TOK_ISOLATED, &s->behavior, err);
        if (st) return st;
        return parse_pattern(cJSON_GetObjectItemCaseSensitive(o, "pattern"), name, "Split", &s->re, &s->llama3, err);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        s->kind = HD_TOK_STEP_BYTELEVEL;
        s->add_prefix_space = jbool(o, "add_prefix_space", true);
        s->use_regex = jbool(o, "use_regex", true);
        s->behavior = HD_TOK_ISOLATED;
        if (!s->use_regex) return HD_OK;
        char msg[256];
        s->re = hd_tok_regex_compile(hd_tok_gpt2_pattern, strlen(hd_tok_gpt2_pattern), false, msg, sizeof msg);
        return s->re ? HD_OK : hd_error_set(err, HD_ERR_INTERNAL, "%s: ByteLevel %s", name, msg);
    }
    if (strcmp(type, "Digits") == 0) {
        s->kind = HD_TOK_STEP_DIGITS;
        s->individual = jbool(o, "individual_digits", false);
        s->behavior = s->individual ? HD_TOK_ISOLATED : HD_TOK_CONTIGUOUS;
        return HD_OK;
    }
    if (strcmp(type, "Punctuation") == 0) {
        s->kind = HD_TOK_STEP_PUNCT;
        return parse_behavior(o, name, HD_TOK_ISOLATED, &s->behavior, err);
    }
    if (strcmp(type, "Whitespace") == 0) {   /* tokenizers: split(Invert(\w+|[^\w\s]+), Removed) */
        static const char ws_pattern[] = "\\w+|[^\\w\\s]+";
        s->kind = HD_TOK_STEP_SPLIT;
        s->behavior = HD_TOK_REMOVED;
        s->invert = true;
        char msg[256];
        s->re = hd_tok_regex_compile(ws_pattern, strlen(ws_pattern), false, msg, sizeof msg);
        return s->re ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "%s: Whitespace %s", name, msg);
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        s->kind = HD_TOK_STEP_WSSPLIT;
        s->behavior = HD_TOK_REMOVED;
        return HD_OK;
    }
    return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: pre_tokenizer type \"%.40s\" is not supported", name, type);
}

/* The encoder's regexes and utf8proc need valid UTF-8 text. */
static bool valid_utf8(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int32_t cp;
        i += (size_t)hd_tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (cp < 0) return false;
    }
    return true;
}

static hd_status parse_norm(const cJSON *o, const char *name, hd_tok_pipeline *p, int depth, hd_error *err) {
    if (!o || cJSON_IsNull(o)) return HD_OK;
    const char *type = jstr(o, "type");
    if (!cJSON_IsObject(o) || !type) return hd_error_set(err, HD_ERR_FORMAT, "%s: normalizer without a type", name);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(list) || depth > 8)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: normalizer Sequence without a normalizers list", name);
        for (const cJSON *c = list->child; c; c = c->next) {
            hd_status st = parse_norm(c, name, p, depth + 1, err);
            if (st) return st;
        }
        return HD_OK;
    }
    static const struct { const char *n; hd_tok_norm_kind k; } uni[] = {
        {"NFC", HD_TOK_NORM_NFC}, {"NFKC", HD_TOK_NORM_NFKC}, {"NFD", HD_TOK_NORM_NFD}, {"NFKD", HD_TOK_NORM_NFKD}};
    for (size_t i = 0; i < sizeof uni / sizeof *uni; i++)
        if (strcmp(type, uni[i].n) == 0) {
            hd_tok_norm *n = add_norm(p);
            if (!n) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
            n->kind = uni[i].k;
            return HD_OK;
        }
    bool prepend = strcmp(type, "Prepend") == 0, replace = strcmp(type, "Replace") == 0;
    if (!prepend && !replace)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: normalizer type \"%.40s\" is not supported", name, type);
    const char *text = jstr(o, prepend ? "prepend" : "content");
    if (!text) return hd_error_set(err, HD_ERR_FORMAT, "%s: normalizer %s without its text", name, type);
    if (!valid_utf8(text)) return hd_error_set(err, HD_ERR_FORMAT, "%s: normalizer %s text is not UTF-8", name, type);
    hd_tok_norm *n = add_norm(p);
    if (!n || !(n->text = strdup(text))) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
    n->len = strlen(text);
    n->kind = prepend ? HD_TOK_NORM_PREPEND : HD_TOK_NORM_REPLACE;
    if (prepend) return HD_OK;
    return parse_pattern(cJSON_GetObjectItemCaseSensitive(o, "pattern"), name, "Replace", &n->re, NULL, err);
}

hd_status hd_tok_pipeline_from_json(const cJSON *normalizer, const cJSON *pre, const cJSON *decoder,
                                    const char *name, hd_tok_pipeline **out, bool *llama3, hd_error *err) {
    *out = NULL;
    *llama3 = false;
    hd_tok_pipeline *p = calloc(1, sizeof *p);
    if (!p) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
    hd_status st = parse_norm(normalizer, name, p, 0, err);
    if (!st) st = parse_pre(pre, name, p, 0, err);
    if (!st && decoder && !cJSON_IsNull(decoder)) {
        const char *type = jstr(decoder, "type");
        if (!type || strcmp(type, "ByteLevel") != 0)
            st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: decoder \"%.40s\" is not ByteLevel (not a byte-level BPE)",
                              name, type ? type : "?");
    }
    if (!st) {
        int n_bl = 0;
        for (int i = 0; i < p->n_steps; i++) n_bl += p->steps[i].kind == HD_TOK_STEP_BYTELEVEL;
        if (n_bl != 1)
            st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: pre_tokenizer has %d ByteLevel steps (a byte-level BPE has one)",
                              name, n_bl);
    }
    if (st) {
        hd_tok_pipeline_free(p);
        return st;
    }
    *llama3 = p->n_norm == 0 && p->n_steps == 2 && p->steps[0].kind == HD_TOK_STEP_SPLIT && p->steps[0].llama3 &&
              !p->steps[0].invert && p->steps[0].behavior == HD_TOK_ISOLATED &&
              p->steps[1].kind == HD_TOK_STEP_BYTELEVEL && !p->steps[1].use_regex && !p->steps[1].add_prefix_space;
    *out = p;
    return HD_OK;
}

/* One processor; *bos_name set by a template's leading special token. */
static hd_status parse_post(const cJSON *o, const char *name, const char **bos_name, int depth, hd_error *err) {
    if (!o || cJSON_IsNull(o)) return HD_OK;
    const char *type = jstr(o, "type");
    if (!type) return hd_error_set(err, HD_ERR_FORMAT, "%s: post_processor without a type", name);
    if (strcmp(type, "ByteLevel") == 0) return HD_OK;   /* offsets only */
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "processors");
        if (!cJSON_IsArray(list) || depth > 8)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: post_processor Sequence without a processors list", name);
        for (const cJSON *c = list->child; c; c = c->next) {
            hd_status st = parse_post(c, name, bos_name, depth + 1, err);
            if (st) return st;
        }
        return HD_OK;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: post_processor type \"%.40s\" is not supported", name, type);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single");
    if (!cJSON_IsArray(single))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: TemplateProcessing without a \"single\" list", name);
    int before = 0, after = 0, seq = 0;
    const char *first = NULL;
    for (const cJSON *c = single->child; c; c = c->next) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(c, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(c, "Sequence");
        if (sq) {
            seq++;
        } else if (sp && jstr(sp, "id")) {
            if (seq) after++;
            else if (before++ == 0) first = jstr(sp, "id");
        } else {
            return hd_error_set(err, HD_ERR_FORMAT, "%s: TemplateProcessing item is neither SpecialToken nor Sequence", name);
        }
    }
    if (seq != 1 || before > 1 || after > 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "%s: TemplateProcessing adds %d token(s) before and %d after the text (only one BOS is "
                            "supported)", name, before, after);
    if (first) *bos_name = first;
    return HD_OK;
}

hd_status hd_tok_post_from_json(const cJSON *post, const char *name, const char **bos_name, hd_error *err) {
    *bos_name = NULL;
    return parse_post(post, name, bos_name, 0, err);
}

/* ---- llama.cpp names ---------------------------------------------------------- */

const char *hd_tok_pipeline_pre_name(const hd_tok_pipeline *p) {
    if (!p || p->n_norm) return NULL;
    const hd_tok_step *s = p->steps;
    if (p->n_steps == 2 && s[0].kind == HD_TOK_STEP_SPLIT && s[0].llama3 && !s[0].invert &&
        s[0].behavior == HD_TOK_ISOLATED && s[1].kind == HD_TOK_STEP_BYTELEVEL && !s[1].use_regex &&
        !s[1].add_prefix_space)
        return "llama-bpe";
    const hd_tok_step *bl = &s[p->n_steps - 1];
    if (bl->kind != HD_TOK_STEP_BYTELEVEL || !bl->use_regex || bl->add_prefix_space) return NULL;
    if (p->n_steps == 1) return "gpt-2";
    if (p->n_steps == 2 && s[0].kind == HD_TOK_STEP_DIGITS && s[0].individual) return "refact";
    return NULL;
}

hd_status hd_tok_pipeline_for_pre(const char *pre, size_t len, const char *name, hd_tok_pipeline **out,
                                 hd_error *err) {
    *out = NULL;
    static const char *const llama3[] = {"llama-bpe", "llama3", "llama-v3"};
    for (size_t i = 0; i < 3; i++)
        if (len == strlen(llama3[i]) && memcmp(pre, llama3[i], len) == 0) return HD_OK;
    bool gpt2 = len == 5 && memcmp(pre, "gpt-2", 5) == 0;
    bool digits = (len == 6 && memcmp(pre, "refact", 6) == 0) || (len == 9 && memcmp(pre, "starcoder", 9) == 0);
    if (!gpt2 && !digits)
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "%s: tokenizer.ggml.pre is \"%.*s\" (supported: llama-bpe, gpt-2, refact, starcoder)", name,
                            (int)(len > 64 ? 64 : len), pre);
    hd_tok_pipeline *p = calloc(1, sizeof *p);
    hd_tok_step *s;
    char msg[256];
    if (!p) goto oom;
    if (digits) {
        if (!(s = add_step(p))) goto oom;
        s->kind = HD_TOK_STEP_DIGITS;
        s->individual = true;
        s->behavior = HD_TOK_ISOLATED;
    }
    if (!(s = add_step(p))) goto oom;
    s->kind = HD_TOK_STEP_BYTELEVEL;
    s->use_regex = true;
    s->behavior = HD_TOK_ISOLATED;
    if (!(s->re = hd_tok_regex_compile(hd_tok_gpt2_pattern, strlen(hd_tok_gpt2_pattern), false, msg, sizeof msg)))
        goto oom;
    *out = p;
    return HD_OK;
oom:
    hd_tok_pipeline_free(p);
    return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
}

hd_status hd_tok_pipeline_llama3(const char *name, hd_tok_pipeline **out, hd_error *err) {
    *out = NULL;
    hd_tok_pipeline *p = calloc(1, sizeof *p);
    hd_tok_step *s;
    char msg[256];
    if (!p || !(s = add_step(p))) goto oom;
    s->kind = HD_TOK_STEP_SPLIT;
    s->behavior = HD_TOK_ISOLATED;
    s->llama3 = true;
    if (!(s->re = hd_tok_regex_compile(hd_tok_llama3_pattern, strlen(hd_tok_llama3_pattern), false, msg, sizeof msg)))
        goto oom;
    if (!(s = add_step(p))) goto oom;
    s->kind = HD_TOK_STEP_BYTELEVEL;
    s->behavior = HD_TOK_ISOLATED;
    *out = p;
    return HD_OK;
oom:
    hd_tok_pipeline_free(p);
    return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
}
