/* speech/tts_lm.c — Llama 3 token states for the TTS front end (see tts_lm.h). */
#include "tts_lm.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CTX 512   /* positions: a segment (≤ ~400 bytes) and <|begin_of_text|> */

hd_status hd_tts_tokens_push(hd_tts_tokens *tt, size_t start, size_t len, const float *emb, hd_error *err) {
    if (tt->n == tt->cap) {
        int cap = tt->cap ? tt->cap * 2 : 64;
        size_t *s = realloc(tt->start, (size_t)cap * sizeof *s);
        if (s) tt->start = s;
        size_t *l = s ? realloc(tt->len, (size_t)cap * sizeof *l) : NULL;
        if (l) tt->len = l;
        float *e = l ? realloc(tt->emb, (size_t)cap * (size_t)tt->dim * sizeof *e) : NULL;
        if (!e) return hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory for LM token states");
        tt->emb = e;
        tt->cap = cap;
    }
    tt->start[tt->n] = start;
    tt->len[tt->n] = len;
    memcpy(tt->emb + (size_t)tt->n * (size_t)tt->dim, emb, (size_t)tt->dim * sizeof *emb);
    tt->n++;
    return HD_OK;
}

void hd_tts_tokens_drop(hd_tts_tokens *tt, int k, size_t bytes) {
    if (tt->n == 0) return;
    if (k > tt->n) k = tt->n;
    const int rest = tt->n - k;
    memmove(tt->start, tt->start + k, (size_t)rest * sizeof *tt->start);
    memmove(tt->len, tt->len + k, (size_t)rest * sizeof *tt->len);
    memmove(tt->emb, tt->emb + (size_t)k * (size_t)tt->dim, (size_t)rest * (size_t)tt->dim * sizeof *tt->emb);
    tt->n = rest;
    for (int i = 0; i < rest; i++) tt->start[i] = tt->start[i] > bytes ? tt->start[i] - bytes : 0;
}

void hd_tts_tokens_free(hd_tts_tokens *tt) {
    free(tt->start);
    free(tt->len);
    free(tt->emb);
    *tt = (hd_tts_tokens){.dim = tt->dim};
}

struct hd_tts_lm {
    hd_llama_context *ctx;
    const hd_tokenizer *tok;
    int layer;
    int64_t dim, n_ctx;
    int32_t *ids;          /* [n_ctx] the segment's ids (BOS first when restarting) */
    /* capture target of the running decode */
    float *rows;           /* [n_ctx][dim] states of the positions being decoded */
    int64_t pos0;          /* position of rows[0] */
};

static void capture(void *user, int64_t pos0, int64_t n, int64_t dim, const float *h) {
    hd_tts_lm *lm = user;
    /* rows of this decode only (pos0 ≥ lm->pos0 always: the engine decodes alone) */
    int64_t off = pos0 - lm->pos0;
    if (off < 0 || off + n > lm->n_ctx || dim != lm->dim) return;
    memcpy(lm->rows + off * dim, h, (size_t)(n * dim) * sizeof *h);
}

hd_tts_lm *hd_tts_lm_create(hd_llama_context *ctx, const hd_tokenizer *tok, int layer, hd_error *err) {
    if (!ctx || !tok) {
        hd_error_set(err, HD_ERR_ARG, "tts: an LM needs its context and its tokenizer");
        return NULL;
    }
    const hd_llama_model *m = hd_llama_context_model(ctx);
    const int64_t n_ctx = hd_llama_n_ctx(ctx);
    if (n_ctx < MIN_CTX) {
        hd_error_set(err, HD_ERR_ARG, "tts: the LM context holds %lld positions, at least %d are needed",
                     (long long)n_ctx, MIN_CTX);
        return NULL;
    }
    hd_tts_lm *lm = calloc(1, sizeof *lm);
    if (!lm) {
        hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
        return NULL;
    }
    lm->ctx = ctx, lm->tok = tok, lm->layer = layer;
    lm->dim = m->cfg.n_embd, lm->n_ctx = n_ctx;
    lm->ids = malloc((size_t)n_ctx * sizeof *lm->ids);
    lm->rows = malloc((size_t)(n_ctx * lm->dim) * sizeof *lm->rows);
    if (!lm->ids || !lm->rows) {
        hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory for the LM states");
        hd_tts_lm_free(lm);
        return NULL;
    }
    if (hd_llama_set_hidden_capture(ctx, layer, capture, lm, err)) {
        lm->ctx = NULL;   /* no capture installed: nothing to remove */
        hd_tts_lm_free(lm);
        return NULL;
    }
    return lm;
}

void hd_tts_lm_free(hd_tts_lm *lm) {
    if (!lm) return;
    if (lm->ctx) hd_llama_set_hidden_capture(lm->ctx, 0, NULL, NULL, NULL);
    free(lm->ids);
    free(lm->rows);
    free(lm);
}

hd_status hd_tts_lm_run(hd_tts_lm *lm, const char *text, size_t len, hd_tts_tokens *out, hd_error *err) {
    if (len == 0) return HD_OK;
    const int32_t bos = hd_tokenizer_bos(lm->tok);
    const int64_t room = lm->n_ctx - 1;   /* one for <|begin_of_text|> */
    size_t n = 0;
    hd_status st = hd_tokenizer_encode(lm->tok, text, len, 0, lm->ids + 1, (size_t)room, &n, err);
    if (st) {
        if (n > (size_t)room)
            return hd_error_set(err, HD_ERR_ARG, "tts: a segment of %zu LM tokens exceeds the LM context of %lld", n,
                                (long long)lm->n_ctx);
        return st;
    }
    if (n == 0) return HD_OK;
    /* restart the context when the segment does not fit after what was read */
    int64_t past = hd_llama_n_past(lm->ctx);
    if (past + (int64_t)n > lm->n_ctx) {
        if ((st = hd_llama_rewind(lm->ctx, 0, err))) return st;
        past = 0;
    }
    int32_t *ids = lm->ids + 1;
    int64_t k = (int64_t)n;
    if (past == 0 && bos >= 0) ids = lm->ids, ids[0] = bos, k++;
    lm->pos0 = past;
    if ((st = hd_llama_decode(lm->ctx, ids, k, err))) return hd_error_prefix(err, "tts: LM"), st;
    const float *rows = lm->rows + (k - (int64_t)n) * lm->dim;   /* skip <|begin_of_text|> */
    out->dim = (int)lm->dim;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tl = 0;
        hd_tokenizer_token_bytes(lm->tok, lm->ids[1 + i], &tl);
        if ((st = hd_tts_tokens_push(out, at, tl, rows + i * lm->dim, err))) return st;
        at += tl;
    }
    return HD_OK;
}
