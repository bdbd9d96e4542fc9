/* tests/fuzz/fuzz_serve.c — libFuzzer harness for herd serve's request
 * parsing (apps/serve_api.c, apps/serve_multipart.c).
 *   first byte even: the rest is a POST /v1/chat/completions body;
 *   first byte odd:  the rest is "Content-Type value\n" + a multipart body.
 * Invariants: a refused request has a 4xx/5xx status and a one-line message
 * whose error JSON parses; an accepted one has consistent counts and every
 * multipart view lies inside the input. */
#include "apps/serve_api.h"
#include "apps/serve_multipart.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) ((cond) ? (void)0 : (fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond), abort()))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_chat(const char *body, size_t len) {
    hd_api_limits lim = hd_api_default_limits();
    lim.max_media = 1 << 16;
    lim.max_parts = 8;
    hd_api_chat c;
    hd_api_error e = {0};
    if (!hd_api_parse_chat(body, len, &lim, &c, &e)) {
        check(e.status >= 400 && e.status < 600);
        check(strchr(e.message, '\n') == NULL);
        char *j = hd_api_error_json(&e);
        check(j != NULL);
        cJSON *o = cJSON_Parse(j);
        check(o != NULL);
        cJSON_Delete(o);
        free(j);
        hd_api_chat_free(&c);
        return;
    }
    check(c.n_messages >= 1 && c.model != NULL);
    check(c.n_stop >= 0 && c.n_stop <= 4);
    int media = 0;
    for (int i = 0; i < c.n_messages; i++) {
        const hd_api_message *m = &c.messages[i];
        for (int k = 0; k < m->n_parts; k++) {
            const hd_api_part *p = &m->parts[k];
            if (p->kind == HD_API_TEXT) {
                check(p->text != NULL);
            } else {
                media++;
                check(p->path != NULL || (p->data != NULL && p->size > 0 && p->size <= lim.max_media));
            }
        }
        char *t = hd_api_message_text(m);
        check(t != NULL);
        free(t);
    }
    check(media == c.n_media && media <= lim.max_parts);
    hd_api_chat_free(&c);
}

static void fuzz_multipart(const char *in, size_t len) {
    const char *nl = memchr(in, '\n', len);
    if (!nl || nl - in > 200) return;
    char ct[256];
    memcpy(ct, in, (size_t)(nl - in));
    ct[nl - in] = 0;
    char boundary[80];
    if (!hd_mp_boundary(ct, boundary, sizeof boundary)) return;
    check(strlen(boundary) >= 1 && strlen(boundary) <= 70);
    const char *body = nl + 1;
    const size_t blen = len - (size_t)(nl + 1 - in);
    hd_multipart m;
    char msg[160];
    if (!hd_mp_parse(body, blen, boundary, &m, msg, sizeof msg)) {
        check(strchr(msg, '\n') == NULL && msg[0]);
        return;
    }
    check(m.n >= 0 && m.n <= HD_MP_MAX_PARTS);
    for (int i = 0; i < m.n; i++) {
        const hd_mp_part *p = &m.parts[i];
        check(p->name >= body && p->name + p->name_len <= body + blen);
        check(p->data >= body && p->data + p->size <= body + blen);
        if (p->filename) check(p->filename >= body && p->filename + p->filename_len <= body + blen);
        if (p->content_type) check(p->content_type >= body && p->content_type + p->content_type_len <= body + blen);
        char v[64];
        (void)hd_mp_field(&m, "model", v, sizeof v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    /* an exactly sized private copy: any over-read is an ASan report */
    char *buf = malloc(size - 1 ? size - 1 : 1);
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1) fuzz_multipart(buf, size - 1);
    else fuzz_chat(buf, size - 1);
    free(buf);
    return 0;
}
