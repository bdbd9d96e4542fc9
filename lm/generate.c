/* lm/generate.c — prefill + sample/decode loop with stops (see generate.h). */
#include "generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIECE_CHUNK 256

const char *hd_stop_reason_name(hd_stop_reason r) {
    switch (r) {
    case HD_STOP_NONE: return "none";
    case HD_STOP_LENGTH: return "length";
    case HD_STOP_TOKEN: return "stop token";
    case HD_STOP_STRING: return "stop string";
    case HD_STOP_CONTEXT: return "context full";
    case HD_STOP_CALLBACK: return "cancelled";
    }
    return "?";
}

hd_generate_params hd_generate_default_params(void) {
    hd_generate_params p = {0};
    p.n_predict = -1;
    p.sampling = hd_sampler_default_params();
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- text with stop strings ------------------------------------------------ */

typedef struct text_state {
    const char *const *stops;
    size_t *stop_len;
    int n_stops;
    char *buf;          /* held-back text */
    size_t len, cap;
    bool matched;
} text_state;

/* Length of the longest proper prefix of a stop string that ends buf[0..len). */
static size_t hold_back(const text_state *t) {
    size_t best = 0;
    for (int s = 0; s < t->n_stops; s++) {
        size_t k = t->stop_len[s] - 1;
        if (k > t->len) k = t->len;
        for (; k > best; k--)
            if (memcmp(t->buf + t->len - k, t->stops[s], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Appends piece; returns the number of leading bytes of t->buf now final
 * (the caller reports and drops them with text_consume).  Sets matched when
 * a stop string appeared: the final bytes then end right before it. */
static size_t text_push(text_state *t, const char *piece, size_t n, size_t *used) {
    size_t room = t->cap - t->len, take = n < room ? n : room;
    memcpy(t->buf + t->len, piece, take);
    t->len += take;
    *used = take;
    if (t->n_stops == 0) return t->len;
    size_t first = t->len + 1;
    for (int s = 0; s < t->n_stops; s++) {
        const char *hit = memmem(t->buf, t->len, t->stops[s], t->stop_len[s]);
        if (hit && (size_t)(hit - t->buf) < first) first = (size_t)(hit - t->buf);
    }
    if (first <= t->len) {
        t->matched = true;
        return first;
    }
    return t->len - hold_back(t);
}

static void text_consume(text_state *t, size_t n) {
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
}

/* ---- the loop ------------------------------------------------------------ */

static bool is_stop(const int32_t *stops, int n, int32_t tok) {
    for (int i = 0; i < n; i++)
        if (stops[i] == tok) return true;
    return false;
}

hd_status hd_generate(hd_llama_context *ctx, const hd_tokenizer *tok, const int32_t *prompt, int64_t n_prompt,
                      const hd_generate_params *p, hd_generate_result *res, hd_error *err) {
    memset(res, 0, sizeof *res);
    res->stop_token = -1;
    const hd_llama_model *m = hd_llama_context_model(ctx);
    const int32_t V = (int32_t)m->cfg.n_vocab;
    const int64_t n_ctx = hd_llama_n_ctx(ctx), used = hd_llama_n_past(ctx);

    if (n_prompt < 0 || (n_prompt > 0 && !prompt)) return hd_error_set(err, HD_ERR_ARG, "generate: bad prompt");
    if (n_prompt > n_ctx - used)
        return hd_error_set(err, HD_ERR_ARG,
                            "prompt of %lld tokens does not fit the context of %lld tokens (%lld in use)",
                            (long long)n_prompt, (long long)n_ctx, (long long)used);
    if (n_prompt == 0 && hd_llama_n_logits(ctx) == 0)
        return hd_error_set(err, HD_ERR_ARG, "generate: empty prompt and no logits to continue from");
    if (p->n_stop_strings > 0 && !tok)
        return hd_error_set(err, HD_ERR_ARG, "generate: stop strings need a tokenizer");

    /* stop tokens: given, or the tokenizer's end-of-text / end-of-turn set */
    int32_t default_stops[8];
    const int32_t *stops = p->stop_tokens;
    int n_stops = p->n_stop_tokens;
    if (!stops) {
        n_stops = tok ? hd_tokenizer_stop_ids(tok, default_stops, 8) : 0;
        stops = default_stops;
    }

    /* everything the loop needs, allocated before it */
    hd_status st = HD_OK;
    text_state ts = {0};
    hd_sampler *smp = hd_sampler_create(&p->sampling, V, err);
    if (!smp) return err ? err->code : HD_ERR_ARG;
    size_t max_stop = 0;
    ts.n_stops = p->n_stop_strings > 0 ? p->n_stop_strings : 0;
    ts.stops = p->stop_strings;
    ts.stop_len = calloc((size_t)ts.n_stops + 1, sizeof *ts.stop_len);
    for (int i = 0; ts.stop_len && i < ts.n_stops; i++) {
        ts.stop_len[i] = ts.stops[i] ? strlen(ts.stops[i]) : 0;
        if (ts.stop_len[i] == 0) {
            st = hd_error_set(err, HD_ERR_ARG, "generate: stop string %d is empty", i);
            goto done;
        }
        if (ts.stop_len[i] > max_stop) max_stop = ts.stop_len[i];
    }
    ts.cap = max_stop + PIECE_CHUNK;
    ts.buf = malloc(ts.cap);
    if (!ts.stop_len || !ts.buf) {
        st = hd_error_set(err, HD_ERR_NOMEM, "generate: out of memory");
        goto done;
    }

    /* 1. prefill */
    double t0 = now_ms();
    if (n_prompt > 0 && (st = hd_llama_decode_embd(ctx, prompt, p->prompt_embd, n_prompt, err))) goto done;
    res->n_prompt = n_prompt;
    res->prefill_ms = now_ms() - t0;
    if (p->penalize_prompt)
        for (int64_t i = 0; i < n_prompt; i++)
            if (prompt[i] != HD_LLAMA_TOKEN_EMBD) hd_sampler_accept(smp, prompt[i]);   /* not embedding rows */

    /* 2. decode */
    t0 = now_ms();
    for (;;) {
        if (p->n_predict >= 0 && res->n_generated >= p->n_predict) {
            res->stop = HD_STOP_LENGTH;
            break;
        }
        const float *logits = hd_llama_logits(ctx) + (hd_llama_n_logits(ctx) - 1) * (int64_t)V;
        int32_t t = hd_sampler_sample(smp, logits);
        if (is_stop(stops, n_stops, t)) {
            res->stop = HD_STOP_TOKEN;
            res->stop_token = t;
            break;
        }
        hd_sampler_accept(smp, t);
        res->n_generated++;

        /* the token's text, through the stop-string filter */
        bool keep_going = true;
        /* special tokens (headers, reserved ids) print as nothing */
        size_t plen = 0;
        const char *piece = tok && !hd_tokenizer_is_special(tok, t) ? hd_tokenizer_token_bytes(tok, t, &plen) : NULL;
        size_t off = 0;
        bool reported = false;
        do {
            size_t took = 0, final = piece ? text_push(&ts, piece + off, plen - off, &took) : 0;
            off += took;
            if (final > 0 || !reported) {
                if (p->on_token && !p->on_token(p->user, t, ts.buf, final)) keep_going = false;
                reported = true;
            }
            text_consume(&ts, final);
        } while (off < plen && !ts.matched && keep_going);
        if (ts.matched) {
            res->stop = HD_STOP_STRING;
            ts.len = 0;
        } else if (!keep_going) {
            res->stop = HD_STOP_CALLBACK;
        }

        /* every reported token enters the cache, so a chat can continue after it */
        if (hd_llama_n_past(ctx) >= n_ctx) {
            if (!res->stop) res->stop = HD_STOP_CONTEXT;
            break;
        }
        if ((st = hd_llama_decode(ctx, &t, 1, err))) break;
        if (res->stop) break;
    }
    res->decode_ms = now_ms() - t0;
    /* text still held back (a stop-string prefix that never completed) */
    if (!st && ts.len > 0 && p->on_token) p->on_token(p->user, -1, ts.buf, ts.len);
done:
    hd_sampler_free(smp);
    free(ts.stop_len);
    free(ts.buf);
    return st;
}
