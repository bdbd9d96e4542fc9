/* speech/ultravox_prompt.c — Ultravox's prompt as UltravoxProcessor builds
 * it from the tokenizer's chat template (speech/ultravox.h "Prompt"). */
#include "speech/ultravox_internal.h"

#include "core/strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AUDIO_PLACEHOLDER "<|audio|>"

void hd_ultravox_template_set(hd_ultravox *u, const char *tmpl, size_t len) {
    u->system_block = false;
    strcpy(u->date, "26 Jul 2024");   /* the Llama 3.1 template's default date_string */
    if (!tmpl) return;
    const char *end = tmpl + len;
    static const char ck[] = "Cutting Knowledge Date", sf[] = "strftime_now", ds[] = "date_string = \"";
    u->system_block = memmem(tmpl, len, ck, sizeof ck - 1) != NULL;
    if (memmem(tmpl, len, sf, sizeof sf - 1)) {
        /* Llama 3.2: strftime_now("%d %b %Y"), which transformers defines */
        time_t now = time(NULL);
        struct tm tm;
        if (localtime_r(&now, &tm) && strftime(u->date, sizeof u->date, "%d %b %Y", &tm) > 0) return;
        strcpy(u->date, "26 Jul 2024");
        return;
    }
    const char *d = memmem(tmpl, len, ds, sizeof ds - 1);
    if (d) {
        d += sizeof ds - 1;
        const char *q = memchr(d, '"', (size_t)(end - d));
        if (q && q > d && (size_t)(q - d) < sizeof u->date) {
            memcpy(u->date, d, (size_t)(q - d));
            u->date[q - d] = 0;
        }
    }
}

/* Target languages: speech/speech_prompt.h's 34, plus the CoVoST 2 En→X
 * targets Ultravox trains translation into (ultravox/data/configs/covost2.py)
 * that list lacks.  NULL when unknown. */
static const char *target_name(const char *code_or_name) {
    const hd_speech_language *l = hd_speech_language_find(code_or_name);
    if (l) return l->name;
    static const char *const extra[][2] = {{"ca", "Catalan"}, {"cy", "Welsh"},     {"et", "Estonian"},
                                           {"lv", "Latvian"}, {"mn", "Mongolian"}, {"sl", "Slovenian"}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (strcasecmp(code_or_name, extra[i][0]) == 0 || strcasecmp(code_or_name, extra[i][1]) == 0) return extra[i][1];
    return NULL;
}

/* Jinja's |trim: Python str.strip() of ASCII whitespace. */
static void trim(const char **s, size_t *n) {
    while (*n && strchr(" \t\n\r\f\v", (*s)[0])) (*s)++, (*n)--;
    while (*n && strchr(" \t\n\r\f\v", (*s)[*n - 1])) (*n)--;
}

static hd_status encode_part(const hd_tokenizer *tok, const char *s, size_t n, unsigned flags, hd_tokens *out,
                             hd_error *err) {
    if (n == 0) return HD_OK;
    int32_t *ids = malloc((n + 2) * sizeof *ids);
    if (!ids) return hd_error_set(err, HD_ERR_NOMEM, "ultravox prompt: out of memory");
    size_t k = 0;
    hd_status st = hd_tokenizer_encode(tok, s, n, flags, ids, n + 2, &k, err);
    if (st == HD_OK) st = hd_tokens_push(out, ids, k, err);
    free(ids);
    return st;
}

hd_status hd_ultravox_prompt(const void *state, const hd_audio_prompt *p, hd_tokens *out, int64_t *audio_at,
                             hd_error *err) {
    const hd_ultravox *u = state;
    if (!p) return hd_error_set(err, HD_ERR_ARG, "ultravox prompt: no prompt");
    if (!u->tok) return hd_error_set(err, HD_ERR_ARG, "%s: loaded without a tokenizer (no_lm)", u->path);
    if (p->n_audio < 0) return hd_error_set(err, HD_ERR_ARG, "ultravox prompt: %lld audio rows", (long long)p->n_audio);
    /* the user message: the task's instruction (ultravox/data/types.py) or the user's own text */
    hd_strbuf msg = {0};
    if (p->text) {
        hd_strbuf_puts(&msg, p->text);
        if (!strstr(p->text, AUDIO_PLACEHOLDER)) hd_strbuf_puts(&msg, " " AUDIO_PLACEHOLDER);
    } else if (p->task == HD_SPEECH_ASR) {
        hd_strbuf_puts(&msg, "Repeat the following text, without any explanation: " AUDIO_PLACEHOLDER);
    } else if (p->task == HD_SPEECH_AST) {
        const char *name = target_name(p->language ? p->language : "en");
        if (!name) {
            free(msg.p);
            return hd_error_set(err, HD_ERR_ARG,
                                "ultravox prompt: unknown target language \"%s\" (give an ISO 639-1 code or an "
                                "English name, e.g. de or German)",
                                p->language);
        }
        hd_strbuf_puts(&msg, "Please translate the text to ");
        hd_strbuf_puts(&msg, name);
        hd_strbuf_puts(&msg, ". Your response should only include the ");
        hd_strbuf_puts(&msg, name);
        hd_strbuf_puts(&msg, " translation, without any additional words:\n\n" AUDIO_PLACEHOLDER);
    } else if (p->task == HD_SPEECH_DIALOG) {
        hd_strbuf_puts(&msg, AUDIO_PLACEHOLDER);
    } else {
        return hd_error_set(err, HD_ERR_ARG, "ultravox prompt: unknown task %d", (int)p->task);
    }
    /* the chat template's rendering */
    hd_strbuf text = {0};
    hd_strbuf_puts(&text, "<|begin_of_text|>");
    if (u->system_block) {
        hd_strbuf_puts(&text, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                              "Today Date: ");
        hd_strbuf_puts(&text, u->date);
        hd_strbuf_puts(&text, "\n\n<|eot_id|>");
    }
    hd_strbuf_puts(&text, "<|start_header_id|>user<|end_header_id|>\n\n");
    static const char tail[] = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    const char *c = msg.p ? msg.p : "";
    size_t cn = msg.n;
    trim(&c, &cn);
    hd_status st = HD_OK;
    if (msg.oom || text.oom) st = hd_error_set(err, HD_ERR_NOMEM, "ultravox prompt: out of memory");
    /* split at the one placeholder; each side tokenized alone (the processor).
     * The template's own text is parsed for special tokens, the message is not:
     * the same ids for any ordinary text, and a user's "<|eot_id|>" stays text
     * (lm/chat.h: a user cannot forge a turn) */
    const char *ph = st == HD_OK ? memmem(c, cn, AUDIO_PLACEHOLDER, sizeof AUDIO_PLACEHOLDER - 1) : NULL;
    const size_t k = ph ? (size_t)(ph - c) : 0, after = ph ? cn - k - (sizeof AUDIO_PLACEHOLDER - 1) : 0;
    if (st == HD_OK && (!ph || memmem(ph + sizeof AUDIO_PLACEHOLDER - 1, after, AUDIO_PLACEHOLDER,
                                      sizeof AUDIO_PLACEHOLDER - 1)))
        st = hd_error_set(err, HD_ERR_ARG, "ultravox prompt: the instruction must hold exactly one %s",
                          AUDIO_PLACEHOLDER);
    const size_t n0 = out->n;
    if (st == HD_OK) st = encode_part(u->tok, text.p, text.n, HD_TOKENIZER_ALLOW_SPECIAL, out, err);
    if (st == HD_OK) st = encode_part(u->tok, c, k, 0, out, err);
    if (st == HD_OK && audio_at) *audio_at = (int64_t)out->n;
    for (int64_t i = 0; i < p->n_audio && st == HD_OK; i++) {
        const int32_t e = HD_LLAMA_TOKEN_EMBD;
        st = hd_tokens_push(out, &e, 1, err);
    }
    if (st == HD_OK) st = encode_part(u->tok, ph + sizeof AUDIO_PLACEHOLDER - 1, after, 0, out, err);
    if (st == HD_OK) st = encode_part(u->tok, tail, sizeof tail - 1, HD_TOKENIZER_ALLOW_SPECIAL, out, err);
    if (st) out->n = n0;
    free(msg.p);
    free(text.p);
    return st;
}
