/* lm/tokenizer_export.c — writing a tokenizer out: llama.cpp's GGUF keys for
 * Llama 3 and the Hugging Face tokenizer.json / tokenizer_config.json pair.
 *
 * Merges are derived from the ranks the way HF's tiktoken converter
 * (transformers TikTokenConverter.extract_vocab_merges_from_model) does: for
 * every ranked token of two or more bytes, in rank order, every split into a
 * left and a right part that are both tokens, ordered by (rank left, rank
 * right).  For Meta's tokenizer.model this reproduces the 280 147 merges of
 * Meta-Llama-3's tokenizer.json exactly.
 */
#include "lm/tokenizer_internal.h"

#include "core/mmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- merges ------------------------------------------------------------------ */

typedef struct merge { int32_t l, r; uint32_t split; } merge;   /* token split after `split` bytes */

typedef struct merge_list {
    merge *m;
    size_t n, cap;
} merge_list;

static hd_status derive_merges(const hd_tokenizer *t, merge_list *ml, hd_error *err) {
    ml->m = NULL;
    ml->n = ml->cap = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->special[id] || t->len[id] < 2) continue;
        const uint8_t *s = (const uint8_t *)t->blob + t->off[id];
        size_t first = ml->n;
        for (uint32_t k = 1; k < t->len[id]; k++) {
            int32_t l = hd_tok_rank(t, s, k), r = l < 0 ? -1 : hd_tok_rank(t, s + k, t->len[id] - k);
            if (l < 0 || r < 0) continue;
            if (ml->n == ml->cap) {
                size_t cap = ml->cap ? ml->cap * 2 : 1 << 18;
                merge *m = realloc(ml->m, cap * sizeof *m);
                if (!m) {
                    free(ml->m);
                    ml->m = NULL;
                    return hd_error_set(err, HD_ERR_NOMEM, "tokenizer: out of memory for merges");
                }
                ml->m = m;
                ml->cap = cap;
            }
            /* insertion into this token's sorted run by (l, r) */
            size_t j = ml->n++;
            while (j > first && (ml->m[j - 1].l > l || (ml->m[j - 1].l == l && ml->m[j - 1].r > r))) {
                ml->m[j] = ml->m[j - 1];
                j--;
            }
            ml->m[j] = (merge){l, r, k};
        }
        /* a token with no split into two tokens gets no merge, as in HF's converter */
    }
    return HD_OK;
}

/* ---- GGUF -------------------------------------------------------------------- */

hd_status hd_tokenizer_to_gguf(const hd_tokenizer *t, hd_gguf_writer *w, int32_t eos_id, hd_error *err) {
    if (!t || !w) return hd_error_set(err, HD_ERR_ARG, "tokenizer: NULL argument");
    if (eos_id < 0 || eos_id >= t->n_vocab)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: eos id %d out of range [0, %d)", eos_id, t->n_vocab);
    const char *pre = hd_tokenizer_pre_name(t);
    if (!pre)
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "tokenizer: llama.cpp has no tokenizer.ggml.pre name for this pre-tokenizer");
    if (!t->pipe && t->bos < 0)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: no <|begin_of_text|> for bos_token_id");
    size_t n = (size_t)t->n_vocab;
    merge_list ml = {0};
    hd_status st = HD_OK;
    if (t->pipe) {   /* the file's merges, in priority order */
        ml.n = ml.cap = (size_t)t->n_merges;
        ml.m = malloc((ml.n ? ml.n : 1) * sizeof *ml.m);
        if (!ml.m) return hd_error_set(err, HD_ERR_NOMEM, "tokenizer: out of memory for merges");
        for (size_t i = 0; i < ml.n; i++) ml.m[i] = (merge){t->merges[2 * i], t->merges[2 * i + 1], 0};
    } else {
        st = derive_merges(t, &ml, err);
        if (st) return st;
    }
    /* all strings in one buffer: GPT-2 text is at most 2 bytes per byte */
    size_t tok_bytes = 0;
    for (size_t i = 0; i < n; i++) tok_bytes += 2 * (size_t)t->len[i];
    size_t merge_bytes = 0;
    for (size_t i = 0; i < ml.n; i++) {
        int32_t id = ml.m[i].l;
        merge_bytes += 2 * (size_t)t->len[id] + 2 * (size_t)t->len[ml.m[i].r] + 1;
    }
    char *buf = malloc(tok_bytes + merge_bytes + 1);
    const char **ptr = malloc((n > ml.n ? n : ml.n) * sizeof *ptr);
    size_t *lens = malloc((n > ml.n ? n : ml.n) * sizeof *lens);
    int32_t *types = malloc(n * sizeof *types);
    if (!buf || !ptr || !lens || !types) {
        st = hd_error_set(err, HD_ERR_NOMEM, "tokenizer: out of memory writing the GGUF vocabulary");
        goto done;
    }
    char *o = buf;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = (const uint8_t *)t->blob + t->off[i];
        ptr[i] = o;
        if (t->special[i]) {
            memcpy(o, s, t->len[i]);
            lens[i] = t->len[i];
        } else {
            lens[i] = hd_tok_gpt2_encode(s, t->len[i], o);
        }
        o += lens[i];
        types[i] = t->special[i] == HD_TOK_SPECIAL ? 3 : t->special[i] == HD_TOK_ADDED ? 4 : 1;
        if ((int32_t)i == t->unk && t->special[i]) types[i] = 2;
    }
    if ((st = hd_gguf_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (st = hd_gguf_set_str(w, "tokenizer.ggml.pre", pre)) ||
        (st = hd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", ptr, lens, n)) ||
        (st = hd_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, n)))
        goto fail;
    o = buf;   /* token strings are copied by the writer: reuse the buffer */
    for (size_t i = 0; i < ml.n; i++) {
        const merge *m = &ml.m[i];
        ptr[i] = o;
        o += hd_tok_gpt2_encode((const uint8_t *)t->blob + t->off[m->l], t->len[m->l], o);
        *o++ = ' ';
        o += hd_tok_gpt2_encode((const uint8_t *)t->blob + t->off[m->r], t->len[m->r], o);
        lens[i] = (size_t)(o - ptr[i]);
    }
    if ((st = hd_gguf_set_arr_str(w, "tokenizer.ggml.merges", ptr, lens, ml.n)) ||
        (t->bos >= 0 && (st = hd_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos))) ||
        /* Llama 3 always starts with <|begin_of_text|> (Meta's tokenizer, llama.cpp's Llama 3 GGUFs), also
           when its tokenizer.json comes from the first Meta-Llama-3 release, whose post-processor adds none */
        (st = hd_gguf_set_bool(w, "tokenizer.ggml.add_bos_token",
                               hd_tokenizer_adds_bos(t) || (!t->pipe && t->bos >= 0))) ||
        (t->unk >= 0 && (st = hd_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk))) ||
        (st = hd_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos_id)))
        goto fail;
    goto done;
fail:
    st = hd_error_set(err, st, "tokenizer: GGUF writer refused the tokenizer keys (%s)", hd_status_name(st));
done:
    free(buf);
    free(ptr);
    free(lens);
    free(types);
    free(ml.m);
    return st;
}

/* ---- Hugging Face files -------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* A JSON string literal of UTF-8 text s[0..n). */
static void sb_json(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    size_t a = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + a, i - a);
        if (c == '"') sb_str(b, "\\\"");
        else if (c == '\\') sb_str(b, "\\\\");
        else if (c == '\n') sb_str(b, "\\n");
        else if (c == '\r') sb_str(b, "\\r");
        else if (c == '\t') sb_str(b, "\\t");
        else sb_printf(b, "\\u%04x", c);
        a = i + 1;
    }
    sb_put(b, s + a, n - a);
    sb_put(b, "\"", 1);
}

/* GPT-2 form of ranked token id as a JSON string. */
static void sb_gpt2(sbuf *b, const hd_tokenizer *t, int32_t id) {
    char tmp[2 * HD_TOK_MAX_TOKEN_BYTES];
    size_t n = hd_tok_gpt2_encode((const uint8_t *)t->blob + t->off[id], t->len[id], tmp);
    sb_json(b, tmp, n);
}

static hd_status write_file(const char *dir, const char *file, const sbuf *b, hd_error *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return hd_error_set(err, HD_ERR_ARG, "%s: path too long", dir);
    hd_outfile o;
    hd_status st = hd_outfile_open(&o, path, err);
    if (st) return st;
    hd_outfile_write(&o, b->p, b->n);
    return hd_outfile_commit(&o, err);
}

static const char llama3_chat_template[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/* One added-token object; `open` goes before its '{', `indent` before its '}'. */
static void added_token_json(sbuf *b, const hd_tokenizer *t, int32_t id, const char *open, const char *indent) {
    sb_printf(b, "%s{\n%s  \"id\": %d,\n%s  \"content\": ", open, indent, id, indent);
    sb_json(b, t->blob + t->off[id], t->len[id]);
    sb_printf(b, ",\n%s  \"single_word\": false,\n%s  \"lstrip\": false,\n%s  \"rstrip\": false,\n"
                 "%s  \"normalized\": false,\n%s  \"special\": true\n%s}", indent, indent, indent, indent, indent, indent);
}

/* ---- generic tokenizers: their own pipeline -------------------------------------- */

static const char *behavior_name(hd_tok_behavior b) {
    static const char *const n[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    return n[b];
}

/* {"String": ...} or {"Regex": ...} of a compiled pattern */
static void sb_pattern(sbuf *b, const hd_tok_regex *re) {
    size_t len;
    bool literal;
    const char *src = hd_tok_regex_source(re, &len, &literal);
    sb_str(b, literal ? "{\"String\": " : "{\"Regex\": ");
    sb_json(b, src, len);
    sb_str(b, "}");
}

static void sb_bool(sbuf *b, const char *key, bool v) { sb_printf(b, "\"%s\": %s", key, v ? "true" : "false"); }

static void write_pipeline(sbuf *b, const hd_tok_pipeline *p) {
    sb_str(b, "  \"normalizer\": ");
    if (!p->n_norm) sb_str(b, "null");
    else sb_str(b, "{\"type\": \"Sequence\", \"normalizers\": [");
    for (int i = 0; i < p->n_norm; i++) {
        const hd_tok_norm *n = &p->norm[i];
        static const char *const uni[] = {"NFC", "NFKC", "NFD", "NFKD"};
        if (i) sb_str(b, ", ");
        if (n->kind <= HD_TOK_NORM_NFKD) {
            sb_printf(b, "{\"type\": \"%s\"}", uni[n->kind]);
        } else if (n->kind == HD_TOK_NORM_PREPEND) {
            sb_str(b, "{\"type\": \"Prepend\", \"prepend\": ");
            sb_json(b, n->text, n->len);
            sb_str(b, "}");
        } else {
            sb_str(b, "{\"type\": \"Replace\", \"pattern\": ");
            sb_pattern(b, n->re);
            sb_str(b, ", \"content\": ");
            sb_json(b, n->text, n->len);
            sb_str(b, "}");
        }
    }
    if (p->n_norm) sb_str(b, "]}");
    sb_str(b, ",\n  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [");
    for (int i = 0; i < p->n_steps; i++) {
        const hd_tok_step *s = &p->steps[i];
        sb_str(b, i ? ",\n    " : "\n    ");
        switch (s->kind) {
        case HD_TOK_STEP_SPLIT:
            sb_str(b, "{\"type\": \"Split\", \"pattern\": ");
            sb_pattern(b, s->re);
            sb_printf(b, ", \"behavior\": \"%s\", ", behavior_name(s->behavior));
            sb_bool(b, "invert", s->invert);
            break;
        case HD_TOK_STEP_BYTELEVEL:
            sb_str(b, "{\"type\": \"ByteLevel\", ");
            sb_bool(b, "add_prefix_space", s->add_prefix_space);
            sb_str(b, ", \"trim_offsets\": true, ");
            sb_bool(b, "use_regex", s->use_regex);
            break;
        case HD_TOK_STEP_DIGITS:
            sb_str(b, "{\"type\": \"Digits\", ");
            sb_bool(b, "individual_digits", s->individual);
            break;
        case HD_TOK_STEP_PUNCT:
            sb_printf(b, "{\"type\": \"Punctuation\", \"behavior\": \"%s\"", behavior_name(s->behavior));
            break;
        case HD_TOK_STEP_WSSPLIT: sb_str(b, "{\"type\": \"WhitespaceSplit\""); break;
        }
        sb_str(b, "}");
    }
    sb_str(b, "\n  ]},\n");
}

/* One added token with its flags. */
static void added_generic_json(sbuf *b, const hd_tokenizer *t, int32_t id, bool with_id) {
    sb_str(b, "{");
    if (with_id) sb_printf(b, "\"id\": %d, ", id);
    sb_str(b, "\"content\": ");
    sb_json(b, t->blob + t->off[id], t->len[id]);
    sb_str(b, ", ");
    sb_bool(b, "single_word", t->aflags[id] & HD_TOK_SINGLE_WORD);
    sb_str(b, ", ");
    sb_bool(b, "lstrip", t->aflags[id] & HD_TOK_LSTRIP);
    sb_str(b, ", ");
    sb_bool(b, "rstrip", t->aflags[id] & HD_TOK_RSTRIP);
    sb_str(b, ", \"normalized\": false, ");
    sb_bool(b, "special", t->special[id] == HD_TOK_SPECIAL);
    sb_str(b, "}");
}

/* Name of token id as tokenizer.json writes it (GPT-2 form for BPE tokens). */
static void sb_token_name(sbuf *b, const hd_tokenizer *t, int32_t id) {
    if (t->special[id]) sb_json(b, t->blob + t->off[id], t->len[id]);
    else sb_gpt2(b, t, id);
}

static hd_status write_hf_generic(const hd_tokenizer *t, const char *dir, int32_t eos_id, hd_error *err) {
    sbuf b = {0};
    sb_str(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    bool first = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->special[id]) continue;
        sb_str(&b, first ? "\n    " : ",\n    ");
        first = false;
        added_generic_json(&b, t, id, true);
    }
    sb_str(&b, "\n  ],\n");
    write_pipeline(&b, t->pipe);
    if (t->adds_bos && t->bos >= 0) {
        sb_str(&b, "  \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": ");
        sb_token_name(&b, t, t->bos);
        sb_str(&b, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"SpecialToken\": "
                   "{\"id\": ");
        sb_token_name(&b, t, t->bos);
        sb_str(&b, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": ");
        sb_token_name(&b, t, t->bos);
        sb_str(&b, ", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {");
        sb_token_name(&b, t, t->bos);
        sb_str(&b, ": {\"id\": ");
        sb_token_name(&b, t, t->bos);
        sb_printf(&b, ", \"ids\": [%d], \"tokens\": [", t->bos);
        sb_token_name(&b, t, t->bos);
        sb_str(&b, "]}}},\n");
    } else {
        sb_str(&b, "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, "
                   "\"use_regex\": true},\n");
    }
    sb_str(&b, "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
               "\"use_regex\": true},\n  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": ");
    if (t->unk >= 0) sb_token_name(&b, t, t->unk);
    else sb_str(&b, "null");
    sb_str(&b, ", \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, ");
    sb_bool(&b, "fuse_unk", t->fuse_unk);
    sb_str(&b, ", \"byte_fallback\": false, ");
    sb_bool(&b, "ignore_merges", t->ignore_merges);
    sb_str(&b, ",\n    \"vocab\": {");
    first = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->special[id]) continue;
        sb_str(&b, first ? "\n      " : ",\n      ");
        first = false;
        sb_gpt2(&b, t, id);
        sb_printf(&b, ": %d", id);
    }
    sb_str(&b, "\n    },\n    \"merges\": [");
    for (int32_t i = 0; i < t->n_merges; i++) {
        sb_str(&b, i ? ",\n      [" : "\n      [");
        sb_gpt2(&b, t, t->merges[2 * i]);
        sb_str(&b, ", ");
        sb_gpt2(&b, t, t->merges[2 * i + 1]);
        sb_str(&b, "]");
    }
    sb_str(&b, "\n    ]\n  }\n}\n");
    hd_status st = b.oom ? hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory writing tokenizer.json", dir)
                         : write_file(dir, "tokenizer.json", &b, err);
    if (st) {
        free(b.p);
        return st;
    }
    /* tokenizer_config.json: the added tokens, bos and eos by name */
    b.n = 0;
    sb_str(&b, "{\n  \"added_tokens_decoder\": {");
    first = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->special[id]) continue;
        sb_printf(&b, "%s\n    \"%d\": ", first ? "" : ",", id);
        first = false;
        added_generic_json(&b, t, id, false);
    }
    sb_str(&b, "\n  },\n");
    if (t->bos >= 0) {
        sb_str(&b, "  \"bos_token\": ");
        sb_token_name(&b, t, t->bos);
        sb_str(&b, ",\n");
    }
    sb_str(&b, "  \"eos_token\": ");
    sb_token_name(&b, t, eos_id);
    sb_str(&b, ",\n  \"clean_up_tokenization_spaces\": false,\n  \"model_max_length\": 131072,\n"
               "  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n");
    if (b.oom) st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory writing tokenizer_config.json", dir);
    else st = write_file(dir, "tokenizer_config.json", &b, err);
    free(b.p);
    return st;
}

hd_status hd_tokenizer_write_hf(const hd_tokenizer *t, const char *dir, int32_t eos_id, hd_error *err) {
    if (!t || !dir) return hd_error_set(err, HD_ERR_ARG, "tokenizer: NULL argument");
    if (eos_id < 0 || eos_id >= t->n_vocab || !t->special[eos_id])
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: eos id %d is not a special token", eos_id);
    if (t->pipe) return write_hf_generic(t, dir, eos_id, err);
    if (t->bos < 0) return hd_error_set(err, HD_ERR_ARG, "tokenizer: no <|begin_of_text|> to use as BOS");
    merge_list ml;
    hd_status st = derive_merges(t, &ml, err);
    if (st) return st;
    sbuf b = {0};
    /* tokenizer.json */
    sb_str(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n");
    bool first = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->special[id]) continue;
        if (!first) sb_str(&b, ",\n");
        first = false;
        added_token_json(&b, t, id, "    ", "    ");
    }
    sb_str(&b, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\n    \"type\": \"Sequence\",\n"
               "    \"pretokenizers\": [\n      {\n        \"type\": \"Split\",\n        \"pattern\": {\n"
               "          \"Regex\": ");
    sb_json(&b, hd_tok_llama3_pattern, strlen(hd_tok_llama3_pattern));
    sb_str(&b, "\n        },\n        \"behavior\": \"Isolated\",\n        \"invert\": false\n      },\n"
               "      {\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": false,\n"
               "        \"trim_offsets\": true,\n        \"use_regex\": false\n      }\n    ]\n  },\n");
    size_t bl;
    const char *bos = hd_tokenizer_token_bytes(t, t->bos, &bl);
    sb_str(&b, "  \"post_processor\": {\n    \"type\": \"Sequence\",\n    \"processors\": [\n"
               "      {\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": true,\n"
               "        \"trim_offsets\": false,\n        \"use_regex\": true\n      },\n"
               "      {\n        \"type\": \"TemplateProcessing\",\n        \"single\": [\n"
               "          {\n            \"SpecialToken\": {\n              \"id\": ");
    sb_json(&b, bos, bl);
    sb_str(&b, ",\n              \"type_id\": 0\n            }\n          },\n"
               "          {\n            \"Sequence\": {\n              \"id\": \"A\",\n              \"type_id\": 0\n"
               "            }\n          }\n        ],\n        \"pair\": [\n"
               "          {\n            \"SpecialToken\": {\n              \"id\": ");
    sb_json(&b, bos, bl);
    sb_str(&b, ",\n              \"type_id\": 0\n            }\n          },\n"
               "          {\n            \"Sequence\": {\n              \"id\": \"A\",\n              \"type_id\": 0\n"
               "            }\n          },\n"
               "          {\n            \"SpecialToken\": {\n              \"id\": ");
    sb_json(&b, bos, bl);
    sb_str(&b, ",\n              \"type_id\": 1\n            }\n          },\n"
               "          {\n            \"Sequence\": {\n              \"id\": \"B\",\n              \"type_id\": 1\n"
               "            }\n          }\n        ],\n        \"special_tokens\": {\n          ");
    sb_json(&b, bos, bl);
    sb_str(&b, ": {\n            \"id\": ");
    sb_json(&b, bos, bl);
    sb_printf(&b, ",\n            \"ids\": [\n              %d\n            ],\n            \"tokens\": [\n              ",
              t->bos);
    sb_json(&b, bos, bl);
    sb_str(&b, "\n            ]\n          }\n        }\n      }\n    ]\n  },\n"
               "  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n"
               "    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n"
               "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
               "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
               "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": true,\n"
               "    \"vocab\": {\n");
    first = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->special[id]) continue;
        sb_str(&b, first ? "      " : ",\n      ");
        first = false;
        sb_gpt2(&b, t, id);
        sb_printf(&b, ": %d", id);
    }
    sb_str(&b, "\n    },\n    \"merges\": [\n");
    for (size_t i = 0; i < ml.n; i++) {
        char tmp[4 * HD_TOK_MAX_TOKEN_BYTES + 1];
        const merge *m = &ml.m[i];
        size_t k = hd_tok_gpt2_encode((const uint8_t *)t->blob + t->off[m->l], t->len[m->l], tmp);
        tmp[k++] = ' ';
        k += hd_tok_gpt2_encode((const uint8_t *)t->blob + t->off[m->r], t->len[m->r], tmp + k);
        sb_str(&b, i ? ",\n      " : "      ");
        sb_json(&b, tmp, k);
    }
    sb_str(&b, "\n    ]\n  }\n}\n");
    free(ml.m);
    if (b.oom) {
        free(b.p);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory writing tokenizer.json", dir);
    }
    st = write_file(dir, "tokenizer.json", &b, err);
    if (st) {
        free(b.p);
        return st;
    }
    /* tokenizer_config.json */
    b.n = 0;
    sb_str(&b, "{\n  \"added_tokens_decoder\": {\n");
    first = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->special[id]) continue;
        sb_printf(&b, "%s    \"%d\": ", first ? "" : ",\n", id);
        first = false;
        added_token_json(&b, t, id, "", "    ");
    }
    size_t el;
    const char *eos = hd_tokenizer_token_bytes(t, eos_id, &el);
    sb_str(&b, "\n  },\n  \"bos_token\": ");
    sb_json(&b, bos, bl);
    sb_str(&b, ",\n  \"chat_template\": ");
    sb_json(&b, llama3_chat_template, strlen(llama3_chat_template));
    sb_str(&b, ",\n  \"clean_up_tokenization_spaces\": true,\n  \"eos_token\": ");
    sb_json(&b, eos, el);
    sb_str(&b, ",\n  \"model_input_names\": [\n    \"input_ids\",\n    \"attention_mask\"\n  ],\n"
               "  \"model_max_length\": 131072,\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n");
    if (b.oom) st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory writing tokenizer_config.json", dir);
    else st = write_file(dir, "tokenizer_config.json", &b, err);
    free(b.p);
    return st;
}
