/* core/strbuf.c — a growable string (see strbuf.h). */
#include "strbuf.h"

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
