/* apps/serve_api.c — OpenAI request parsing and response JSON (see serve_api.h). */
#include "serve_api.h"

#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD_REQ "invalid_request_error"

hd_api_limits hd_api_default_limits(void) {
    return (hd_api_limits){.max_body = 64u << 20, .max_media = 32u << 20, .max_messages = 1024, .max_parts = 16};
}

bool hd_api_fail(hd_api_error *e, int status, const char *type, const char *param, const char *fmt, ...) {
    if (!e) return false;
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : BAD_REQ);
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    e->code[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

char *hd_api_error_json(const hd_api_error *e) {
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    if (!err) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(err, "message", hd_cli_json_bytes(e->message, strlen(e->message)));
    cJSON_AddStringToObject(err, "type", e->type[0] ? e->type : BAD_REQ);
    if (e->param[0]) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code[0]) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- base64 --------------------------------------------------------------- */

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;   /* '-' '_': the URL-safe alphabet */
    if (c == '/' || c == '_') return 63;
    return -1;
}

bool hd_api_base64_decode(const char *s, size_t len, size_t max_out, unsigned char **out, size_t *out_len,
                          bool *too_large) {
    *out = NULL, *out_len = 0;
    if (too_large) *too_large = false;
    /* count significant characters first: the output size is known before allocating */
    size_t n = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || b64_value(c) < 0) return false;   /* data after padding, or not base64 */
        n++;
    }
    if (pad > 2 || n % 4 == 1 || (pad && (n + pad) % 4)) return false;
    const size_t size = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (size > max_out) {
        if (too_large) *too_large = true;
        return false;
    }
    unsigned char *b = malloc(size ? size : 1);
    if (!b) return false;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) continue;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k < size) b[k++] = (unsigned char)(acc >> bits);
        }
    }
    *out = b, *out_len = k;
    return true;
}

/* ---- parsing -------------------------------------------------------------- */

/* A request's string as it may appear in a one-line message: at most 40
 * bytes, control characters shown as '?'. */
static const char *shown(const char *v, char *buf, size_t size) {
    size_t n = 0;
    for (; v[n] && n < 40 && n + 1 < size; n++) buf[n] = (unsigned char)v[n] < 0x20 || v[n] == 0x7f ? '?' : v[n];
    buf[n] = 0;
    return buf;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}

static bool get_number(const cJSON *o, const char *key, double lo, double hi, bool *has, double *v, hd_api_error *e) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return true;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo || it->valuedouble > hi)
        return hd_api_fail(e, 400, BAD_REQ, key, "'%s' must be a number between %g and %g", key, lo, hi);
    *has = true, *v = it->valuedouble;
    return true;
}

static bool get_bool(const cJSON *o, const char *key, bool *v, hd_api_error *e) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return true;
    if (!cJSON_IsBool(it)) return hd_api_fail(e, 400, BAD_REQ, key, "'%s' must be a boolean", key);
    *v = cJSON_IsTrue(it);
    return true;
}

static bool parse_role(const cJSON *m, int i, hd_chat_role *r, hd_api_error *e) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    char param[32];
    snprintf(param, sizeof param, "messages[%d].role", i);
    if (!cJSON_IsString(role)) return hd_api_fail(e, 400, BAD_REQ, param, "'%s' must be a string", param);
    const char *s = role->valuestring;
    if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0) *r = HD_CHAT_SYSTEM;
    else if (strcmp(s, "user") == 0) *r = HD_CHAT_USER;
    else if (strcmp(s, "assistant") == 0) *r = HD_CHAT_ASSISTANT;
    else if (strcmp(s, "tool") == 0 || strcmp(s, "ipython") == 0) *r = HD_CHAT_IPYTHON;
    else {
        char b[48];
        return hd_api_fail(e, 400, BAD_REQ, param, "'%s' is '%s': expected system, user, assistant or tool", param,
                           shown(s, b, sizeof b));
    }
    return true;
}

/* A media URL: data:TYPE/SUB;base64,PAYLOAD → bytes; file:// or a plain path → path. */
static bool parse_media_url(const char *url, hd_api_part *p, const char *param, const hd_api_limits *lim,
                            hd_api_error *e) {
    if (strncmp(url, "data:", 5) == 0) {
        const char *comma = strchr(url, ',');
        if (!comma) return hd_api_fail(e, 400, BAD_REQ, param, "'%s': a data URL without ','", param);
        const char *meta = url + 5;
        const size_t mlen = (size_t)(comma - meta);
        if (mlen < 7 || memcmp(comma - 7, ";base64", 7) != 0)
            return hd_api_fail(e, 400, BAD_REQ, param, "'%s': only base64 data URLs are accepted", param);
        const char *slash = memchr(meta, '/', mlen);
        if (slash) {
            size_t fl = 0;
            for (const char *q = slash + 1; q < comma - 7 && *q != ';' && fl + 1 < sizeof p->format; q++)
                p->format[fl++] = *q;
            p->format[fl] = 0;
        }
        bool big = false;
        if (!hd_api_base64_decode(comma + 1, strlen(comma + 1), lim->max_media, &p->data, &p->size, &big))
            return big ? hd_api_fail(e, 413, BAD_REQ, param, "'%s': media larger than the limit of %zu bytes", param,
                                     lim->max_media)
                       : hd_api_fail(e, 400, BAD_REQ, param, "'%s': invalid base64 data", param);
        if (p->size == 0) return hd_api_fail(e, 400, BAD_REQ, param, "'%s': empty media data", param);
        return true;
    }
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        return hd_api_fail(e, 400, BAD_REQ, param,
                           "'%s': herd does not download URLs; send the file as a base64 data: URL", param);
    const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url;
    if (!*path) return hd_api_fail(e, 400, BAD_REQ, param, "'%s' is empty", param);
    p->path = dup_n(path, strlen(path));
    return p->path ? true : hd_api_fail(e, 500, "server_error", NULL, "out of memory");
}

static bool parse_part(const cJSON *it, hd_api_part *p, const char *param, const hd_api_limits *lim, hd_api_error *e) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
    if (!cJSON_IsString(type)) return hd_api_fail(e, 400, BAD_REQ, param, "'%s.type' must be a string", param);
    const char *t = type->valuestring;
    if (strcmp(t, "text") == 0) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(it, "text");
        if (!cJSON_IsString(text)) return hd_api_fail(e, 400, BAD_REQ, param, "'%s.text' must be a string", param);
        p->kind = HD_API_TEXT;
        p->text = dup_n(text->valuestring, strlen(text->valuestring));
        return p->text ? true : hd_api_fail(e, 500, "server_error", NULL, "out of memory");
    }
    if (strcmp(t, "image_url") == 0 || strcmp(t, "video_url") == 0) {
        const bool video = t[0] == 'v';
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, video ? "video_url" : "image_url");
        const cJSON *url = cJSON_IsObject(u) ? cJSON_GetObjectItemCaseSensitive(u, "url") : u;
        if (!cJSON_IsString(url))
            return hd_api_fail(e, 400, BAD_REQ, param, "'%s.%s.url' must be a string", param, t);
        p->kind = video ? HD_API_VIDEO : HD_API_IMAGE;
        return parse_media_url(url->valuestring, p, param, lim, e);
    }
    if (strcmp(t, "input_audio") == 0) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "input_audio");
        const cJSON *data = cJSON_IsObject(a) ? cJSON_GetObjectItemCaseSensitive(a, "data") : NULL;
        const cJSON *fmt = cJSON_IsObject(a) ? cJSON_GetObjectItemCaseSensitive(a, "format") : NULL;
        if (!cJSON_IsString(data))
            return hd_api_fail(e, 400, BAD_REQ, param, "'%s.input_audio.data' must be a base64 string", param);
        p->kind = HD_API_AUDIO;
        if (cJSON_IsString(fmt)) snprintf(p->format, sizeof p->format, "%s", fmt->valuestring);
        bool big = false;
        if (!hd_api_base64_decode(data->valuestring, strlen(data->valuestring), lim->max_media, &p->data, &p->size,
                                  &big))
            return big ? hd_api_fail(e, 413, BAD_REQ, param, "'%s': audio larger than the limit of %zu bytes", param,
                                     lim->max_media)
                       : hd_api_fail(e, 400, BAD_REQ, param, "'%s.input_audio.data': invalid base64", param);
        if (p->size == 0) return hd_api_fail(e, 400, BAD_REQ, param, "'%s': empty audio", param);
        return true;
    }
    char b[48];
    return hd_api_fail(e, 400, BAD_REQ, param, "'%s.type' is '%s': expected text, image_url, input_audio or video_url",
                       param, shown(t, b, sizeof b));
}

static bool parse_message(const cJSON *m, int i, hd_api_message *out, int *n_media, const hd_api_limits *lim,
                          hd_api_error *e) {
    char param[48];
    snprintf(param, sizeof param, "messages[%d]", i);
    if (!cJSON_IsObject(m)) return hd_api_fail(e, 400, BAD_REQ, param, "'%s' must be an object", param);
    if (!parse_role(m, i, &out->role, e)) return false;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (!content || cJSON_IsNull(content)) return true;   /* e.g. an assistant turn with tool calls only */
    if (cJSON_IsString(content)) {
        out->parts = calloc(1, sizeof *out->parts);
        if (!out->parts) return hd_api_fail(e, 500, "server_error", NULL, "out of memory");
        out->n_parts = 1;
        out->parts[0].kind = HD_API_TEXT;
        out->parts[0].text = dup_n(content->valuestring, strlen(content->valuestring));
        return out->parts[0].text ? true : hd_api_fail(e, 500, "server_error", NULL, "out of memory");
    }
    if (!cJSON_IsArray(content))
        return hd_api_fail(e, 400, BAD_REQ, param, "'%s' must be a string or an array of parts", param);
    const int n = cJSON_GetArraySize(content);
    if (n > 4096) return hd_api_fail(e, 400, BAD_REQ, param, "'%s' has %d parts (at most 4096)", param, n);
    out->parts = calloc((size_t)(n ? n : 1), sizeof *out->parts);
    if (!out->parts) return hd_api_fail(e, 500, "server_error", NULL, "out of memory");
    int k = 0;
    for (const cJSON *it = content->child; it; it = it->next, k++) {
        char pp[64];
        snprintf(pp, sizeof pp, "messages[%d].content[%d]", i, k);
        if (!cJSON_IsObject(it)) return hd_api_fail(e, 400, BAD_REQ, pp, "'%s' must be an object", pp);
        out->n_parts = k + 1;
        if (!parse_part(it, &out->parts[k], pp, lim, e)) return false;
        if (out->parts[k].kind != HD_API_TEXT && ++*n_media > lim->max_parts)
            return hd_api_fail(e, 400, BAD_REQ, pp, "more than %d media parts in one request", lim->max_parts);
    }
    return true;
}

static bool parse_stop(const cJSON *o, hd_api_chat *c, hd_api_error *e) {
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!stop || cJSON_IsNull(stop)) return true;
    if (cJSON_IsString(stop)) {
        if (!stop->valuestring[0]) return true;
        c->stop[0] = dup_n(stop->valuestring, strlen(stop->valuestring));
        c->n_stop = c->stop[0] ? 1 : 0;
        return c->stop[0] ? true : hd_api_fail(e, 500, "server_error", NULL, "out of memory");
    }
    if (!cJSON_IsArray(stop)) return hd_api_fail(e, 400, BAD_REQ, "stop", "'stop' must be a string or an array of strings");
    if (cJSON_GetArraySize(stop) > 4) return hd_api_fail(e, 400, BAD_REQ, "stop", "'stop' has more than 4 sequences");
    for (const cJSON *it = stop->child; it; it = it->next) {
        if (!cJSON_IsString(it)) return hd_api_fail(e, 400, BAD_REQ, "stop", "'stop' must hold strings");
        if (!it->valuestring[0]) continue;
        if (strlen(it->valuestring) > 256) return hd_api_fail(e, 400, BAD_REQ, "stop", "a stop sequence is over 256 bytes");
        if (!(c->stop[c->n_stop] = dup_n(it->valuestring, strlen(it->valuestring))))
            return hd_api_fail(e, 500, "server_error", NULL, "out of memory");
        c->n_stop++;
    }
    return true;
}

bool hd_api_parse_chat(const char *body, size_t len, const hd_api_limits *lim, hd_api_chat *c, hd_api_error *e) {
    memset(c, 0, sizeof *c);
    c->max_tokens = -1;
    if (len > lim->max_body)
        return hd_api_fail(e, 413, BAD_REQ, NULL, "request body of %zu bytes is over the limit of %zu", len, lim->max_body);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return hd_api_fail(e, 400, BAD_REQ, NULL, "the request body is not valid JSON");
    bool ok = false;
    if (!cJSON_IsObject(root)) {
        hd_api_fail(e, 400, BAD_REQ, NULL, "the request body must be a JSON object");
        goto done;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) {
        hd_api_fail(e, 400, BAD_REQ, "model", "'model' must be a string");
        goto done;
    }
    c->model = dup_n(cJSON_IsString(model) ? model->valuestring : "", cJSON_IsString(model) ? strlen(model->valuestring) : 0);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!c->model) {
        hd_api_fail(e, 500, "server_error", NULL, "out of memory");
        goto done;
    }
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        hd_api_fail(e, 400, BAD_REQ, "messages", "'messages' must be a non-empty array");
        goto done;
    }
    const int n = cJSON_GetArraySize(msgs);
    if (n > lim->max_messages) {
        hd_api_fail(e, 400, BAD_REQ, "messages", "%d messages (at most %d)", n, lim->max_messages);
        goto done;
    }
    if (!(c->messages = calloc((size_t)n, sizeof *c->messages))) {
        hd_api_fail(e, 500, "server_error", NULL, "out of memory");
        goto done;
    }
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        c->n_messages = i + 1;
        if (!parse_message(m, i, &c->messages[i], &c->n_media, lim, e)) goto done;
    }
    double v;
    bool has;
    if (!get_bool(root, "stream", &c->stream, e)) goto done;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (cJSON_IsObject(so) && !get_bool(so, "include_usage", &c->include_usage, e)) goto done;
    has = false;
    if (!get_number(root, "temperature", 0, 2, &has, &v, e)) goto done;
    if (has) c->has_temperature = true, c->temperature = (float)v;
    has = false;
    if (!get_number(root, "top_p", 0, 1, &has, &v, e)) goto done;
    if (has) {
        if (!(v > 0)) {
            hd_api_fail(e, 400, BAD_REQ, "top_p", "'top_p' must be greater than 0");
            goto done;
        }
        c->has_top_p = true, c->top_p = (float)v;
    }
    has = false;
    if (!get_number(root, "min_p", 0, 1, &has, &v, e)) goto done;
    if (has) c->has_min_p = true, c->min_p = (float)v;
    has = false;
    if (!get_number(root, "top_k", 0, 1e6, &has, &v, e)) goto done;
    if (has) c->has_top_k = true, c->top_k = (int)v;
    has = false;
    if (!get_number(root, "repetition_penalty", 0.01, 100, &has, &v, e)) goto done;
    if (has) c->has_repeat_penalty = true, c->repeat_penalty = (float)v;
    const char *mt_key = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens") ? "max_completion_tokens"
                                                                                            : "max_tokens";
    has = false;
    if (!get_number(root, mt_key, 1, 1 << 24, &has, &v, e)) goto done;
    if (has) c->max_tokens = (int)v;
    has = false;
    if (!get_number(root, "seed", -9.2e18, 9.2e18, &has, &v, e)) goto done;
    if (has) c->has_seed = true, c->seed = (uint64_t)(int64_t)v;
    if (!parse_stop(root, c, e)) goto done;
    ok = true;
done:
    cJSON_Delete(root);
    return ok;
}

void hd_api_chat_free(hd_api_chat *c) {
    if (!c) return;
    for (int i = 0; i < c->n_messages; i++) {
        for (int k = 0; k < c->messages[i].n_parts; k++) {
            hd_api_part *p = &c->messages[i].parts[k];
            free(p->text), free(p->data), free(p->path);
        }
        free(c->messages[i].parts);
    }
    free(c->messages);
    free(c->model);
    for (int i = 0; i < c->n_stop; i++) free(c->stop[i]);
    memset(c, 0, sizeof *c);
}

char *hd_api_message_text(const hd_api_message *m) {
    size_t n = 1;
    for (int k = 0; k < m->n_parts; k++)
        if (m->parts[k].kind == HD_API_TEXT) n += strlen(m->parts[k].text) + 1;
    char *s = malloc(n), *w = s;
    if (!s) return NULL;
    bool first = true;
    for (int k = 0; k < m->n_parts; k++) {
        if (m->parts[k].kind != HD_API_TEXT) continue;
        if (!first) *w++ = '\n';
        size_t l = strlen(m->parts[k].text);
        memcpy(w, m->parts[k].text, l);
        w += l;
        first = false;
    }
    *w = 0;
    return s;
}

/* ---- responses ------------------------------------------------------------ */

static void add_usage(cJSON *o, const hd_api_usage *u) {
    cJSON *us = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(us, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(us, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(us, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
}

static char *print_delete(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *hd_api_chat_completion_json(const char *id, int64_t created, const char *model, const char *content,
                                  size_t content_len, const char *finish_reason, const hd_api_usage *usage) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", model);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddItemToObject(msg, "content", hd_cli_json_bytes(content, content_len));
    cJSON_AddStringToObject(ch, "finish_reason", finish_reason);
    if (usage) add_usage(o, usage);
    return print_delete(o);
}

char *hd_api_chat_chunk_json(const char *id, int64_t created, const char *model, const char *role,
                             const char *content, size_t content_len, const char *finish_reason,
                             const hd_api_usage *usage) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", model);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (usage) {
        add_usage(o, usage);   /* the include_usage chunk: usage, empty choices */
        return print_delete(o);
    }
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
    if (role) cJSON_AddStringToObject(delta, "role", role);
    if (content) cJSON_AddItemToObject(delta, "content", hd_cli_json_bytes(content, content_len));
    if (finish_reason) cJSON_AddStringToObject(ch, "finish_reason", finish_reason);
    else cJSON_AddNullToObject(ch, "finish_reason");
    return print_delete(o);
}

static cJSON *model_object(const char *id, int64_t created) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "herd");
    return m;
}

char *hd_api_model_json(const char *id, int64_t created) { return print_delete(model_object(id, created)); }

char *hd_api_models_json(const char *const *ids, int n, int64_t created) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(data, model_object(ids[i], created));
    return print_delete(o);
}
