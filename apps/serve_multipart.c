/* apps/serve_multipart.c — multipart/form-data parsing (see serve_multipart.h). */
#include "serve_multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_HEADER_BYTES 4096   /* per part */

static bool ieq_prefix(const char *s, size_t n, const char *lit) {
    size_t l = strlen(lit);
    if (n < l) return false;
    for (size_t i = 0; i < l; i++)
        if (tolower((unsigned char)s[i]) != tolower((unsigned char)lit[i])) return false;
    return true;
}

bool hd_mp_boundary(const char *ct, char *buf, size_t size) {
    if (!ct || !ieq_prefix(ct, strlen(ct), "multipart/form-data")) return false;
    const char *p = ct;
    while ((p = strchr(p, ';'))) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (!ieq_prefix(p, strlen(p), "boundary=")) continue;
        p += 9;
        size_t n = 0;
        if (*p == '"') {
            p++;
            const char *q = strchr(p, '"');
            if (!q) return false;
            n = (size_t)(q - p);
        } else {
            while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
        }
        if (n < 1 || n > 70 || n + 1 > size) return false;
        memcpy(buf, p, n);
        buf[n] = 0;
        return true;
    }
    return false;
}

/* First occurrence of needle[0..nl) in hay[0..hl), or NULL. */
static const char *find(const char *hay, size_t hl, const char *needle, size_t nl) {
    if (nl == 0 || hl < nl) return NULL;
    const char *end = hay + hl - nl;
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, needle, nl) == 0) return p;
    }
    return NULL;
}

/* A parameter `key="value"` (or key=value) inside a Content-Disposition header line. */
static bool disposition_param(const char *line, size_t n, const char *key, const char **v, size_t *vl) {
    const size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 1 <= n; i++) {
        if ((i == 0 || line[i - 1] == ';' || line[i - 1] == ' ') && memcmp(line + i, key, kl) == 0 &&
            line[i + kl] == '=') {
            const char *s = line + i + kl + 1, *end = line + n;
            if (s < end && *s == '"') {
                s++;
                const char *q = memchr(s, '"', (size_t)(end - s));
                if (!q) return false;
                *v = s, *vl = (size_t)(q - s);
            } else {
                const char *q = s;
                while (q < end && *q != ';' && *q != ' ') q++;
                *v = s, *vl = (size_t)(q - s);
            }
            return true;
        }
    }
    return false;
}

static bool fail(char *msg, size_t size, const char *what) {
    if (msg && size) snprintf(msg, size, "malformed multipart body: %s", what);
    return false;
}

bool hd_mp_parse(const char *body, size_t len, const char *boundary, hd_multipart *out, char *msg, size_t msg_size) {
    memset(out, 0, sizeof *out);
    char delim[80];
    const size_t bl = strlen(boundary);
    if (bl < 1 || bl > 70) return fail(msg, msg_size, "bad boundary");
    delim[0] = '-', delim[1] = '-';
    memcpy(delim + 2, boundary, bl);
    const size_t dl = bl + 2;
    /* the first delimiter (a preamble before it is allowed and ignored) */
    const char *p = find(body, len, delim, dl);
    if (!p) return fail(msg, msg_size, "no boundary line");
    const char *end = body + len;
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return true;   /* the close delimiter */
        /* rest of the delimiter line */
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return fail(msg, msg_size, "boundary line not ended by CRLF");
        p += 2;
        if (out->n == HD_MP_MAX_PARTS) return fail(msg, msg_size, "more than 64 parts");
        hd_mp_part *part = &out->parts[out->n];
        /* headers up to an empty line */
        const size_t avail = (size_t)(end - p);
        const char *hend = find(p, avail < MAX_HEADER_BYTES ? avail : MAX_HEADER_BYTES, "\r\n\r\n", 4);
        const char *data;
        if (avail >= 2 && p[0] == '\r' && p[1] == '\n') { /* no headers at all */
            hend = p;
            data = p + 2;
        } else {
            if (!hend) return fail(msg, msg_size, "part headers not ended by an empty line (or over 4096 bytes)");
            data = hend + 4;
        }
        for (const char *line = p; line < hend;) {
            const char *eol = find(line, (size_t)(hend - line), "\r\n", 2);
            if (!eol) eol = hend;
            const size_t ll = (size_t)(eol - line);
            if (ieq_prefix(line, ll, "content-disposition:")) {
                const char *v;
                size_t vl;
                if (disposition_param(line, ll, "name", &v, &vl)) part->name = v, part->name_len = vl;
                if (disposition_param(line, ll, "filename", &v, &vl)) part->filename = v, part->filename_len = vl;
            } else if (ieq_prefix(line, ll, "content-type:")) {
                const char *v = line + 13;
                while (v < eol && (*v == ' ' || *v == '\t')) v++;
                part->content_type = v, part->content_type_len = (size_t)(eol - v);
            }
            line = eol + 2;
        }
        if (!part->name) return fail(msg, msg_size, "a part without a Content-Disposition name");
        /* data runs to CRLF + next delimiter */
        char nd[84];
        nd[0] = '\r', nd[1] = '\n';
        memcpy(nd + 2, delim, dl);
        const char *next = find(data, (size_t)(end - data), nd, dl + 2);
        if (!next) return fail(msg, msg_size, "a part without its closing boundary (truncated body?)");
        part->data = data, part->size = (size_t)(next - data);
        out->n++;
        p = next + 2;
    }
}

const hd_mp_part *hd_mp_find(const hd_multipart *m, const char *name) {
    const size_t l = strlen(name);
    for (int i = 0; i < m->n; i++)
        if (m->parts[i].name_len == l && memcmp(m->parts[i].name, name, l) == 0) return &m->parts[i];
    return NULL;
}

bool hd_mp_field(const hd_multipart *m, const char *name, char *buf, size_t size) {
    const hd_mp_part *p = hd_mp_find(m, name);
    if (!p || p->size + 1 > size || memchr(p->data, 0, p->size)) return false;
    memcpy(buf, p->data, p->size);
    buf[p->size] = 0;
    return true;
}
