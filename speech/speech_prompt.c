/* speech/speech_prompt.c — the paper's ASR / AST / dialogue prompts as token
 * ids with audio placeholders (see speech_prompt.h). */
#include "speech_prompt.h"

#include "lm/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paper footnote 18 (SPEC §4), in its order; ISO 639-1 codes. */
static const hd_speech_language k_languages[] = {
    {"ar", "Arabic"},     {"bn", "Bengali"},  {"zh", "Chinese"},    {"cs", "Czech"},     {"nl", "Dutch"},
    {"en", "English"},    {"fi", "Finnish"},  {"fr", "French"},     {"de", "German"},    {"el", "Greek"},
    {"gu", "Gujarati"},   {"hi", "Hindi"},    {"hu", "Hungarian"},  {"id", "Indonesian"}, {"it", "Italian"},
    {"ja", "Japanese"},   {"kn", "Kannada"},  {"ko", "Korean"},     {"ml", "Malayalam"}, {"mr", "Marathi"},
    {"fa", "Persian"},    {"pl", "Polish"},   {"pt", "Portuguese"}, {"ro", "Romanian"},  {"ru", "Russian"},
    {"es", "Spanish"},    {"sw", "Swahili"},  {"sv", "Swedish"},    {"ta", "Tamil"},     {"te", "Telugu"},
    {"th", "Thai"},       {"tr", "Turkish"},  {"ur", "Urdu"},       {"vi", "Vietnamese"},
};
#define N_LANGUAGES ((int)(sizeof k_languages / sizeof k_languages[0]))

const hd_speech_language *hd_speech_languages(int *n) {
    if (n) *n = N_LANGUAGES;
    return k_languages;
}

static bool ascii_ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return false;
    }
    return *a == *b;
}

const hd_speech_language *hd_speech_language_find(const char *s) {
    if (!s) return NULL;
    for (int i = 0; i < N_LANGUAGES; i++)
        if (ascii_ieq(s, k_languages[i].code) || ascii_ieq(s, k_languages[i].name)) return &k_languages[i];
    return NULL;
}

const char *hd_speech_task_name(hd_speech_task t) {
    switch (t) {
    case HD_SPEECH_ASR: return "asr";
    case HD_SPEECH_AST: return "ast";
    case HD_SPEECH_DIALOG: return "dialog";
    }
    return "?";
}

hd_status hd_speech_system_prompt(hd_speech_task task, const char *language, char *buf, size_t cap, hd_error *err) {
    if (!buf || cap == 0) return hd_error_set(err, HD_ERR_ARG, "speech prompt: no buffer");
    buf[0] = 0;
    if (task == HD_SPEECH_DIALOG) return HD_OK;
    if (task != HD_SPEECH_ASR && task != HD_SPEECH_AST)
        return hd_error_set(err, HD_ERR_ARG, "speech prompt: unknown task %d", (int)task);
    const hd_speech_language *l = hd_speech_language_find(language ? language : "en");
    if (!l)
        return hd_error_set(err, HD_ERR_ARG,
                            "speech prompt: language \"%s\" is not one of the 34 supported (an ISO 639-1 code such "
                            "as fr, or an English name such as French)",
                            language);
    const int n = task == HD_SPEECH_ASR ? snprintf(buf, cap, "Repeat after me in %s:", l->name)
                                        : snprintf(buf, cap, "Translate the following sentence into %s:", l->name);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = 0;
        return hd_error_set(err, HD_ERR_ARG, "speech prompt: buffer of %zu bytes too small", cap);
    }
    return HD_OK;
}

static bool id_ok(const hd_tokenizer *tok, int32_t id) { return id >= 0 && id < hd_tokenizer_n_vocab(tok); }

hd_status hd_speech_prompt_encode(const hd_tokenizer *tok, const hd_speech_prompt *p, hd_tokens *out,
                                  int64_t *audio_at, hd_error *err) {
    if (!tok || !p || !out) return hd_error_set(err, HD_ERR_ARG, "speech prompt: missing tokenizer or prompt");
    if (p->n_audio < 0 || p->n_audio > (INT64_C(1) << 24))
        return hd_error_set(err, HD_ERR_ARG, "speech prompt: %lld audio rows out of range", (long long)p->n_audio);
    if (!id_ok(tok, p->begin_id) || !id_ok(tok, p->end_id))
        return hd_error_set(err, HD_ERR_ARG, "speech prompt: speech tokens %d / %d outside the vocabulary of %d ids",
                            p->begin_id, p->end_id, hd_tokenizer_n_vocab(tok));
    const int32_t bos = hd_tokenizer_bos(tok), eot = hd_tokenizer_eot(tok);
    if (bos < 0 || eot < 0)
        return hd_error_set(err, HD_ERR_ARG, "speech prompt: the tokenizer has no <|begin_of_text|> / <|eot_id|>");
    char system[128];
    hd_status st = hd_speech_system_prompt(p->task, p->language, system, sizeof system, err);
    if (st) return st;
    const size_t start = out->n;
    /* <|begin_of_text|> [system turn] */
    if ((st = hd_tokens_push(out, &bos, 1, err))) goto fail;
    if (p->task != HD_SPEECH_DIALOG) {
        const hd_chat_message sys = {HD_CHAT_SYSTEM, system};
        if ((st = hd_chat_encode_message(tok, &sys, out, err))) goto fail;
    }
    /* user turn: header, BEGIN, one placeholder per audio row, END, [text], <|eot_id|> */
    if ((st = hd_chat_encode_header(tok, HD_CHAT_USER, out, err)) || (st = hd_tokens_push(out, &p->begin_id, 1, err)))
        goto fail;
    if (audio_at) *audio_at = (int64_t)out->n;
    const int32_t embd = HD_LLAMA_TOKEN_EMBD;
    for (int64_t i = 0; i < p->n_audio; i++)
        if ((st = hd_tokens_push(out, &embd, 1, err))) goto fail;
    if ((st = hd_tokens_push(out, &p->end_id, 1, err))) goto fail;
    if (p->text && *p->text) {
        /* ordinary text: special-token names in it stay text (lm/chat.h) */
        const size_t len = strlen(p->text), cap = len + 2;
        int32_t stack_ids[256];
        int32_t *ids = stack_ids;
        if (cap > 256 && !(ids = malloc(cap * sizeof *ids))) {
            st = hd_error_set(err, HD_ERR_NOMEM, "speech prompt: out of memory");
            goto fail;
        }
        size_t n = 0;
        st = hd_tokenizer_encode(tok, p->text, len, 0, ids, cap, &n, err);
        if (st == HD_OK) st = hd_tokens_push(out, ids, n, err);
        if (ids != stack_ids) free(ids);
        if (st) goto fail;
    }
    if ((st = hd_tokens_push(out, &eot, 1, err)) || (st = hd_chat_encode_header(tok, HD_CHAT_ASSISTANT, out, err)))
        goto fail;
    return HD_OK;
fail:
    out->n = start;
    return st;
}
