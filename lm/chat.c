/* lm/chat.c — Llama 3 chat turns as token ids (see chat.h). */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

const char *hd_chat_role_name(hd_chat_role r) {
    switch (r) {
    case HD_CHAT_SYSTEM: return "system";
    case HD_CHAT_USER: return "user";
    case HD_CHAT_ASSISTANT: return "assistant";
    case HD_CHAT_IPYTHON: return "ipython";
    }
    return "?";
}

/* Room for `more` ids after the n in use. */
static hd_status reserve(hd_tokens *t, size_t more, hd_error *err) {
    if (more > SIZE_MAX / 8 - t->n) return hd_error_set(err, HD_ERR_NOMEM, "token list too long");
    if (t->n + more <= t->cap) return HD_OK;
    size_t cap = t->cap ? t->cap : 64;
    while (cap < t->n + more) cap *= 2;
    int32_t *p = realloc(t->ids, cap * sizeof *p);
    if (!p) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for %zu tokens", cap);
    t->ids = p;
    t->cap = cap;
    return HD_OK;
}

hd_status hd_tokens_push(hd_tokens *t, const int32_t *ids, size_t n, hd_error *err) {
    hd_status st = reserve(t, n, err);
    if (st) return st;
    if (n) memcpy(t->ids + t->n, ids, n * sizeof *ids);
    t->n += n;
    return HD_OK;
}

void hd_tokens_free(hd_tokens *t) {
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

static hd_status special(const hd_tokenizer *tok, const char *name, int32_t *id, hd_error *err) {
    *id = hd_tokenizer_find_special(tok, name);
    if (*id < 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "chat: the tokenizer has no %s token (not a Llama 3 vocabulary)",
                            name);
    return HD_OK;
}

/* Appends the plain-text encoding of text[0..len) (special names stay text). */
static hd_status push_text(const hd_tokenizer *tok, const char *text, size_t len, hd_tokens *out, hd_error *err) {
    hd_status st = reserve(out, len + 2, err);   /* len + 2 ids always suffice */
    if (st) return st;
    size_t n = 0;
    st = hd_tokenizer_encode(tok, text, len, 0, out->ids + out->n, out->cap - out->n, &n, err);
    if (st) return st;
    out->n += n;
    return HD_OK;
}

hd_status hd_chat_encode_header(const hd_tokenizer *tok, hd_chat_role role, hd_tokens *out, hd_error *err) {
    int32_t start, end;
    hd_status st;
    if ((st = special(tok, "<|start_header_id|>", &start, err)) || (st = special(tok, "<|end_header_id|>", &end, err)))
        return st;
    const char *name = hd_chat_role_name(role);
    if ((st = hd_tokens_push(out, &start, 1, err)) || (st = push_text(tok, name, strlen(name), out, err)) ||
        (st = hd_tokens_push(out, &end, 1, err)) || (st = push_text(tok, "\n\n", 2, out, err)))
        return st;
    return HD_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

hd_status hd_chat_encode_message(const hd_tokenizer *tok, const hd_chat_message *m, hd_tokens *out,
                                 hd_error *err) {
    int32_t eot;
    hd_status st;
    if ((st = special(tok, "<|eot_id|>", &eot, err))) return st;
    if ((st = hd_chat_encode_header(tok, m->role, out, err))) return st;
    const char *s = m->content ? m->content : "";
    size_t len = strlen(s);
    while (len && is_space(*s)) s++, len--;
    while (len && is_space(s[len - 1])) len--;
    if ((st = push_text(tok, s, len, out, err))) return st;
    return hd_tokens_push(out, &eot, 1, err);
}

hd_status hd_chat_encode_dialog(const hd_tokenizer *tok, const hd_chat_message *msgs, size_t n, hd_tokens *out,
                                hd_error *err) {
    int32_t bos;
    hd_status st;
    if ((st = special(tok, "<|begin_of_text|>", &bos, err))) return st;
    if ((st = hd_tokens_push(out, &bos, 1, err))) return st;
    for (size_t i = 0; i < n; i++)
        if ((st = hd_chat_encode_message(tok, &msgs[i], out, err))) return st;
    return hd_chat_encode_header(tok, HD_CHAT_ASSISTANT, out, err);
}
