/* lm/tokenizer_pretok.c — the Llama 3 pre-tokenizer regex as a hand-written
 * matcher, and Meta's chunk limits (SPEC §1.8).
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * The alternatives are tried in order at each position (leftmost-first, as in
 * tiktoken's fancy-regex, PCRE2 or Python regex); each branch below states
 * what the backtracking matcher would end up with.  Classes: \p{L} = general
 * categories Lu Ll Lt Lm Lo, \p{N} = Nd Nl No (utf8proc, Unicode 15), \s =
 * White_Space.  Case-insensitive contractions: 's' also matches U+017F LATIN
 * SMALL LETTER LONG S (its simple case fold), other letters only their ASCII
 * cases.  Invalid UTF-8 bytes: see lm/tokenizer.h.
 */
#include "lm/tokenizer_internal.h"

#include <utf8proc.h>

enum {
    CL_L = 1,       /* \p{L}                                  */
    CL_N = 2,       /* \p{N}                                  */
    CL_WS = 4,      /* \s                                     */
    CL_CRLF = 8,    /* \r or \n (also CL_WS)                  */
    CL_BAD = 16,    /* a byte that does not start valid UTF-8 */
};
/* CL == 0: a symbol, i.e. [^\s\p{L}\p{N}] */

int hd_tok_utf8_next(const uint8_t *s, size_t n, int32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, v = c & 0x07, min = 0x10000;
    else {
        *cp = -1;
        return 1;
    }
    if ((size_t)len > n) {
        *cp = -1;
        return 1;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = -1;
        return 1;
    }
    *cp = (int32_t)v;
    return len;
}

static bool is_white_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

bool hd_tok_py_isspace(int32_t c) {
    return is_white_space(c) || (c >= 0x1c && c <= 0x1f);
}

int hd_tok_class_of_cp(int32_t c) {
    if (c < 0) return CL_BAD;
    if (is_white_space(c)) return (c == '\r' || c == '\n') ? CL_WS | CL_CRLF : CL_WS;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_L;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_N;
    default:
        return 0;
    }
}

/* ASCII: the only letters are A-Z a-z, the only numbers 0-9 (also what
 * utf8proc says; test_tokenizer checks every ASCII byte against it). */
static inline int ascii_class(uint8_t c) {
    if ((uint8_t)((c | 0x20) - 'a') < 26) return CL_L;
    if ((uint8_t)(c - '0') < 10) return CL_N;
    if (c == ' ' || (c >= 0x09 && c <= 0x0d)) return (c == '\n' || c == '\r') ? CL_WS | CL_CRLF : CL_WS;
    return 0;
}

int hd_tok_class_of_ascii(uint8_t c) { return ascii_class(c); }

/* The character at s[p] (p < n): its class, length and code point. */
typedef struct { int cls, len; int32_t cp; } ch_t;

static inline ch_t char_at(const uint8_t *s, size_t n, size_t p) {
    ch_t r;
    if (s[p] < 0x80) {
        r.cp = s[p];
        r.len = 1;
        r.cls = ascii_class(s[p]);
        return r;
    }
    r.len = hd_tok_utf8_next(s + p, n - p, &r.cp);
    r.cls = hd_tok_class_of_cp(r.cp);
    return r;
}

/* End of the run of characters whose class has any bit of `want` and none of `stop`. */
static inline size_t run_of(const uint8_t *s, size_t n, size_t p, int want, int stop) {
    while (p < n) {
        ch_t c = char_at(s, n, p);
        if (!(c.cls & want) || (c.cls & stop)) break;
        p += (size_t)c.len;
    }
    return p;
}

static inline size_t symbol_run(const uint8_t *s, size_t n, size_t p) {
    while (p < n) {
        ch_t c = char_at(s, n, p);
        if (c.cls != 0) break;
        p += (size_t)c.len;
    }
    return p;
}

static inline int lower_ascii(int32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

size_t hd_tok_pretok_next(const uint8_t *s, size_t n, size_t p) {
    ch_t c0 = char_at(s, n, p);
    if (c0.cls & CL_BAD) return p + 1;
    size_t p1 = p + (size_t)c0.len;

    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (c0.cp == '\'' && p1 < n) {
        ch_t c1 = char_at(s, n, p1);
        int l1 = lower_ascii(c1.cp);
        if (l1 == 's' || l1 == 't' || l1 == 'm' || l1 == 'd' || c1.cp == 0x17f) return p1 + (size_t)c1.len;
        size_t p2 = p1 + (size_t)c1.len;
        if ((l1 == 'r' || l1 == 'v' || l1 == 'l') && p2 < n) {
            int l2 = lower_ascii(char_at(s, n, p2).cp);
            if ((l1 == 'l' && l2 == 'l') || (l1 != 'l' && l2 == 'e')) return p2 + 1;
        }
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0.cls & CL_L) return run_of(s, n, p1, CL_L, 0);
    if (!(c0.cls & (CL_N | CL_CRLF)) && p1 < n) {
        ch_t c1 = char_at(s, n, p1);
        if (c1.cls & CL_L) return run_of(s, n, p1 + (size_t)c1.len, CL_L, 0);
    }
    /* \p{N}{1,3} */
    if (c0.cls & CL_N) {
        size_t q = p1;
        for (int k = 1; k < 3 && q < n; k++) {
            ch_t c = char_at(s, n, q);
            if (!(c.cls & CL_N)) break;
            q += (size_t)c.len;
        }
        return q;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]*   (CL_BAD is not a symbol: it stands alone) */
    size_t q = p;
    if (c0.cp == ' ' && p1 < n && char_at(s, n, p1).cls == 0) q = p1;
    if (q > p || c0.cls == 0) {
        q = symbol_run(s, n, q);
        while (q < n && (s[q] == '\r' || s[q] == '\n')) q++;
        return q;
    }
    /* c0 is white space.  j = end of the whitespace run, last = start of its
     * last character, crlf = just after its last \r or \n. */
    size_t j = p, last = p, crlf = 0;
    while (j < n) {
        ch_t c = char_at(s, n, j);
        if (!(c.cls & CL_WS)) break;
        last = j;
        j += (size_t)c.len;
        if (c.cls & CL_CRLF) crlf = j;
    }
    /* \s*[\r\n]+ : greedy \s*, backtracked to the last newline */
    if (crlf) return crlf;
    /* \s+(?!\S) : the whole run at the end of text, else all but its last char */
    if (j == n) return j;
    if (last > p) return last;
    /* \s+ */
    return j;
}

size_t hd_tok_window_end(const uint8_t *s, size_t n, size_t pos) {
    if (n - pos <= HD_TOK_CHUNK_CHARS) return n;   /* never more characters than bytes */
    size_t chars = 0;
    while (pos < n && chars < HD_TOK_CHUNK_CHARS) {
        if (s[pos] < 0x80) {
            pos++;
        } else {
            int32_t cp;
            pos += (size_t)hd_tok_utf8_next(s + pos, n - pos, &cp);
        }
        chars++;
    }
    return pos;
}

static inline bool py_space_at(const uint8_t *s, size_t end, size_t p, int *len) {
    if (s[p] < 0x80) {
        *len = 1;
        return (s[p] >= 0x09 && s[p] <= 0x0d) || (s[p] >= 0x1c && s[p] <= 0x20);
    }
    int32_t cp;
    *len = hd_tok_utf8_next(s + p, end - p, &cp);
    return cp >= 0 && hd_tok_py_isspace(cp);
}

size_t hd_tok_run_split(const uint8_t *s, size_t end, size_t pos) {
    if (pos >= end) return end;
    int len;
    bool cur = py_space_at(s, end, pos, &len);
    size_t run = 0;
    while (pos < end) {
        bool sp = py_space_at(s, end, pos, &len);
        if (sp != cur) {
            cur = sp;
            run = 1;
        } else if (++run > HD_TOK_MAX_RUN_CHARS) {
            return pos;
        }
        pos += (size_t)len;
    }
    return end;
}
