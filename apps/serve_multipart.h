/* apps/serve_multipart.h — multipart/form-data bodies (RFC 7578), as the
 * OpenAI audio endpoints receive them (file=@talk.mp3, model=..., ...).
 *
 * The parser works on the whole body in memory (the server bounds its size)
 * and returns views into it: nothing is copied, the body must outlive the
 * parts.  Every offset is bounds-checked; a malformed body (no boundary, a
 * part without headers or without its closing boundary, too many parts,
 * oversized headers) is an error with a one-line message.
 */
#ifndef HD_SERVE_MULTIPART_H
#define HD_SERVE_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define HD_MP_MAX_PARTS 64

typedef struct hd_mp_part {
    const char *name;        /* form field name (not NUL-terminated)        */
    size_t name_len;
    const char *filename;    /* NULL when the part is a plain field         */
    size_t filename_len;
    const char *content_type;/* NULL when absent                            */
    size_t content_type_len;
    const char *data;        /* the part's bytes                            */
    size_t size;
} hd_mp_part;

typedef struct hd_multipart {
    hd_mp_part parts[HD_MP_MAX_PARTS];
    int n;
} hd_multipart;

/* Extracts the boundary from a Content-Type header value
 * ("multipart/form-data; boundary=XYZ", quoted or not) into buf (1..70
 * characters, RFC 2046).  false if the header is not multipart/form-data or
 * has no valid boundary. */
bool hd_mp_boundary(const char *content_type, char *buf, size_t size);

/* Parses body; false with msg (one line) on a malformed body. */
bool hd_mp_parse(const char *body, size_t len, const char *boundary, hd_multipart *out, char *msg, size_t msg_size);

/* The first part named `name`, or NULL. */
const hd_mp_part *hd_mp_find(const hd_multipart *m, const char *name);
/* A plain field's value copied as a NUL-terminated string into buf (truncated
 * values are refused): false when absent or longer than size − 1. */
bool hd_mp_field(const hd_multipart *m, const char *name, char *buf, size_t size);

#endif
