/* lm/tokenizer_regex.c — pre-tokenizer patterns through PCRE2.
 *
 * Hugging Face tokenizers compiles Split / Replace patterns with Oniguruma
 * (Ruby syntax); PCRE2 with PCRE2_UTF | PCRE2_UCP reads the constructs these
 * files use the same way (\p{L}, \p{N}, (?i:...), (?!...), classes,
 * quantifiers).  One difference is bridged here: Oniguruma's Unicode \s is
 * exactly the White_Space property, PCRE2's also matches U+180E MONGOLIAN
 * VOWEL SEPARATOR (a space before Unicode 6.3); the pattern is rewritten so
 * that \s (inside or outside a class) is the White_Space list below and \S
 * outside a class its complement.  (\S inside a class is left to PCRE2.)
 *
 * Matching follows the onig crate's find_iter: leftmost-first matches from
 * the end of the previous one; an empty match is skipped when it sits right
 * at the end of the previous match, and after an empty match the search
 * resumes one character later.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lm/tokenizer_internal.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hd_tok_regex {
    pcre2_code *code;
    char *src;        /* the pattern as written in the file (for export) */
    size_t len;
    bool literal;
};

const char *hd_tok_regex_source(const hd_tok_regex *re, size_t *len, bool *literal) {
    *len = re->len;
    *literal = re->literal;
    return re->src;
}

bool hd_tok_spans_push(hd_tok_spans *o, size_t a, size_t b) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        hd_tok_span *v = realloc(o->v, cap * sizeof *v);
        if (!v) return false;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = (hd_tok_span){a, b};
    return true;
}

/* Unicode White_Space (PropList.txt), the set the Llama 3 matcher uses too. */
static const char white_space[] =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

/* The pattern with \s / \S replaced (see top); NULL on allocation failure. */
static char *widen_space(const char *p, size_t n, size_t *out_len) {
    char *o = malloc(n / 2 * (sizeof white_space + 4) + n + 1);
    if (!o) return NULL;
    size_t k = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            i++;
            if (d == 's' || (d == 'S' && !in_class)) {
                if (!in_class) o[k++] = '[';
                if (d == 'S') o[k++] = '^';
                memcpy(o + k, white_space, sizeof white_space - 1);
                k += sizeof white_space - 1;
                if (!in_class) o[k++] = ']';
            } else {
                o[k++] = c;
                o[k++] = d;
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            o[k++] = c;
            /* a ']' right after '[' or '[^' is a literal */
            if (i + 1 < n && p[i + 1] == '^') o[k++] = p[++i];
            if (i + 1 < n && p[i + 1] == ']') o[k++] = p[++i];
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {   /* [:alpha:] */
            const char *e = memchr(p + i + 2, ']', n - i - 2);
            if (e && e > p + i + 2 && e[-1] == ':') {
                size_t l = (size_t)(e - (p + i)) + 1;
                memcpy(o + k, p + i, l);
                k += l;
                i += l - 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = false;
        o[k++] = c;
    }
    o[k] = 0;
    *out_len = k;
    return o;
}

hd_tok_regex *hd_tok_regex_compile(const char *pat, size_t len, bool literal, char *msg, size_t msg_cap) {
    hd_tok_regex *re = calloc(1, sizeof *re);
    if (!re) {
        snprintf(msg, msg_cap, "out of memory");
        return NULL;
    }
    size_t wl = len;
    char *w = literal ? NULL : widen_space(pat, len, &wl);
    if (!literal && !w) {
        free(re);
        snprintf(msg, msg_cap, "out of memory");
        return NULL;
    }
    int ec;
    PCRE2_SIZE eo;
    /* the pattern comes from a file: PCRE2 checks its UTF-8; PCRE2_LITERAL
     * admits no UCP (nor needs it) */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    re->code = pcre2_compile((PCRE2_SPTR)(literal ? pat : w), wl, opts, &ec, &eo, NULL);
    free(w);
    if (!re->code) {
        PCRE2_UCHAR buf[160];
        pcre2_get_error_message(ec, buf, sizeof buf);
        snprintf(msg, msg_cap, "pattern '%.60s' does not compile: %s", pat, (const char *)buf);
        free(re);
        return NULL;
    }
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);   /* interpreted if JIT is unavailable */
    re->src = malloc(len + 1);
    if (!re->src) {
        hd_tok_regex_free(re);
        snprintf(msg, msg_cap, "out of memory");
        return NULL;
    }
    memcpy(re->src, pat, len);
    re->src[len] = 0;
    re->len = len;
    re->literal = literal;
    return re;
}

void hd_tok_regex_free(hd_tok_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re->src);
    free(re);
}

/* Length of the UTF-8 character at s[0] (valid UTF-8). */
static size_t char_len(uint8_t c) {
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

hd_status hd_tok_regex_find(const hd_tok_regex *re, const uint8_t *s, size_t n, hd_tok_spans *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md) return HD_ERR_NOMEM;
    hd_status st = HD_OK;
    size_t pos = 0, last_end = SIZE_MAX;
    while (pos <= n) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            st = rc == PCRE2_ERROR_NOMEMORY ? HD_ERR_NOMEM : HD_ERR_UNSUPPORTED;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (a == b && a == last_end) {   /* empty match right after the previous one */
            if (a >= n) break;
            pos = a + char_len(s[a]);
            continue;
        }
        if (!hd_tok_spans_push(out, a, b)) {
            st = HD_ERR_NOMEM;
            break;
        }
        last_end = b;
        if (a == b) {
            if (b >= n) break;
            pos = b + char_len(s[b]);
        } else {
            pos = b;
        }
    }
    pcre2_match_data_free(md);
    return st;
}
