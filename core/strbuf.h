/* core/strbuf.h — a growable NUL-terminated byte string with a sticky
 * out-of-memory flag, for code that builds text piece by piece (the TTS
 * normalisers) and checks for failure once at the end.
 *
 *   hd_strbuf b = {0};
 *   hd_strbuf_put(&b, "five", 4); hd_strbuf_puts(&b, " dollars");
 *   if (b.oom) ... else use b.p (b.n bytes, NUL-terminated); free(b.p);
 */
#ifndef HD_CORE_STRBUF_H
#define HD_CORE_STRBUF_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct hd_strbuf {
    char *p;        /* owned by the caller once built: free(b.p)       */
    size_t n, cap;  /* bytes used (before the NUL) and allocated        */
    bool oom;       /* an append failed; later appends do nothing       */
} hd_strbuf;

/* Appends s[0..n) and keeps the string NUL-terminated. */
void hd_strbuf_put(hd_strbuf *b, const char *s, size_t n);
/* Appends a NUL-terminated string. */
void hd_strbuf_puts(hd_strbuf *b, const char *s);
/* Appends s[0..n) as valid UTF-8: every maximal ill-formed subsequence
 * (a stray continuation byte, a truncated or overlong sequence, a surrogate,
 * a code point above U+10FFFF) becomes U+FFFD, as Python's
 * bytes.decode("utf-8", errors="replace") and the WHATWG decoder do.  For
 * model output, whose byte-level tokens need not end on characters. */
void hd_strbuf_put_utf8(hd_strbuf *b, const char *s, size_t n);

/* A whole small text file (config.json, tokenizer_config.json, ...),
 * malloc'd and NUL-terminated; *len (may be NULL) = its bytes.  NULL with
 * err naming the file: HD_ERR_NOTFOUND when it cannot be opened, HD_ERR_IO
 * when it cannot be read or holds more than max bytes. */
char *hd_read_text_file(const char *path, size_t max, size_t *len, hd_error *err);

#endif
