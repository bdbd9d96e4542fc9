/* core/strbuf.c — a growable string (see strbuf.h). */
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hd_strbuf_put(hd_strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void hd_strbuf_puts(hd_strbuf *b, const char *s) { hd_strbuf_put(b, s, strlen(s)); }

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 when s starts
 * with an ill-formed one; *bad gets the length of its maximal ill-formed
 * prefix (Unicode 3.9, "maximal subpart") in that case. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
    const unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;   /* the second byte's range */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        const unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
    }
    if (i == need) return need;
    *bad = i;
    return 0;
}

void hd_strbuf_put_utf8(hd_strbuf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;   /* s[run..i) is well-formed and not yet appended */
    while (i < n) {
        size_t bad = 0, k = utf8_seq(u + i, n - i, &bad);
        if (k) {
            i += k;
            continue;
        }
        hd_strbuf_put(b, s + run, i - run);
        hd_strbuf_put(b, "\xEF\xBF\xBD", 3);   /* U+FFFD */
        i += bad;
        run = i;
    }
    hd_strbuf_put(b, s + run, i - run);
}

char *hd_read_text_file(const char *path, size_t max, size_t *len, hd_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        hd_error_set(err, HD_ERR_NOTFOUND, "%s: cannot open", path);
        return NULL;
    }
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && (size_t)n <= max && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
        hd_error_set(err, HD_ERR_IO, "%s: cannot read (or larger than %zu MiB)", path, max >> 20);
    }
    fclose(f);
    return buf;
}
