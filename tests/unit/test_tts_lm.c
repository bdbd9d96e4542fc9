/* tests/unit/test_tts_lm.c — the TTS models cross-attend to real Llama 3
 * hidden states (speech/tts.h with an LM, speech/tts_align.h, lm/llama.h
 * hd_llama_set_hidden_capture), on tiny random models: a Llama 3 "tiny"
 * (width 64, 2 layers, the Llama 3 tokenizer) and TN / prosody models
 * written for it (presets "tiny+tiny": width 64, layer 1).
 *
 *   - alignment: LM token spans, written words and spoken words on one chunk axis;
 *   - a model whose width differs from the LM's is refused at create;
 *   - the states the models get are the LM's layer-L states of the segment's
 *     tokens (checked against an independent decode), with the right chunks;
 *     another LM changes the prosody and the audio, the same LM repeats it,
 *     no LM differs;
 *   - streamed = whole utterance with those real states (prosody: autoregressive
 *     streaming vs one masked forward; TN: token stream vs whole run);
 *   - states pushed by a caller that decodes the text itself (hd_tts_push_token,
 *     in one prefill or token by token as in generation) give the engine's result;
 *   - the engine's LM context restarts with <|begin_of_text|> when full: a
 *     segment after the restart gets the states of a fresh decode;
 *   - presets "BASE+LLAMA" take the Llama preset's width and middle layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/random_model_impl.h"
#include "lm/tokenizer.h"
#include "speech/prosody.h"
#include "speech/tn.h"
#include "speech/tn_model.h"
#include "speech/tts.h"
#include "speech/tts_align.h"
#include "testutil.h"

extern const hd_rm_arch hd_rm_arch_prosody;
extern const hd_rm_arch hd_rm_arch_tn;

static const char *const TEXT = "The cat sat on 3 mats. It was happy!";

/* ---- fixtures ------------------------------------------------------------------ */

static char g_lm_a[512], g_lm_b[512], g_pros[512], g_tn[512], g_tn32[512];

static void write_models(void) {
    if (g_lm_a[0]) return;
    const char *dir = tu_tmpdir();
    char tok[512];
    tu_fixture(tok, sizeof tok, "tokenizer/llama3_tokenizer.model");
    hd_error err = {0};
    for (int i = 0; i < 2; i++) {
        char *path = i ? g_lm_b : g_lm_a;
        snprintf(path, 512, "%s/lm-%c.gguf", dir, i ? 'b' : 'a');
        hd_random_model_params p = hd_random_model_default_params();
        p.arch = "llama";
        p.preset = "tiny";
        p.seed = 100 + (uint64_t)i;
        p.tokenizer = tok;
        p.n_threads = 2;
        assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    }
    hd_random_model_params p = hd_random_model_default_params();
    p.preset = "tiny+tiny";
    p.seed = 5;
    snprintf(g_pros, sizeof g_pros, "%s/prosody-lm.gguf", dir);
    assert_int_equal(hd_rm_arch_prosody.write(&p, g_pros, &err), HD_OK);
    snprintf(g_tn, sizeof g_tn, "%s/tn-lm.gguf", dir);
    assert_int_equal(hd_rm_arch_tn.write(&p, g_tn, &err), HD_OK);
    p.preset = "tiny";   /* width 32 */
    snprintf(g_tn32, sizeof g_tn32, "%s/tn-32.gguf", dir);
    assert_int_equal(hd_rm_arch_tn.write(&p, g_tn32, &err), HD_OK);
}

typedef struct lm {
    hd_llama_model *m;
    hd_tokenizer *tok;
    hd_llama_context *ctx;
} lm;

static void lm_open(lm *l, const char *path) {
    hd_error err = {0};
    l->m = hd_llama_load(path, &err);
    assert_non_null(l->m);
    l->tok = hd_tokenizer_load(l->m->source, &err);
    assert_non_null(l->tok);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 1;
    cp.kv_type = HD_TYPE_F32;
    l->ctx = hd_llama_context_create(l->m, &cp, &err);
    assert_non_null(l->ctx);
}

static void lm_close(lm *l) {
    hd_llama_context_free(l->ctx);
    hd_tokenizer_free(l->tok);
    hd_llama_free(l->m);
}

/* What on_segment saw, copied. */
#define MAX_SEG 4
typedef struct seg_rec {
    char text[256];
    int n_tok, dim;
    float *emb;
    int32_t *tok_chunk;
    size_t *tok_start, *tok_len;
    int n_ph;
    int32_t *ids, *ph_chunk;
    float *feats, *out;
    int n_tn;
    hd_tn_token *tn;
} seg_rec;

typedef struct run_rec {
    seg_rec s[MAX_SEG];
    int n;
    int64_t samples;
    float *pcm;   /* all audio */
} run_rec;

static void *dup_mem(const void *p, size_t n) {
    if (!n) return NULL;
    void *c = malloc(n);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

static hd_status on_segment(void *user, const hd_tts_segment *g, hd_error *err) {
    (void)err;
    run_rec *r = user;
    assert_true(r->n < MAX_SEG);
    seg_rec *s = &r->s[r->n++];
    assert_true(g->len < sizeof s->text);
    memcpy(s->text, g->text, g->len);
    s->n_tok = g->n_tokens, s->dim = g->dim;
    s->emb = dup_mem(g->tok_emb, (size_t)g->n_tokens * (size_t)g->dim * sizeof(float));
    s->tok_chunk = dup_mem(g->tok_chunk, (size_t)g->n_tokens * sizeof(int32_t));
    s->tok_start = dup_mem(g->tok_start, (size_t)g->n_tokens * sizeof(size_t));
    s->tok_len = dup_mem(g->tok_len, (size_t)g->n_tokens * sizeof(size_t));
    s->n_ph = g->n_phones;
    s->ids = dup_mem(g->phone_ids, (size_t)g->n_phones * sizeof(int32_t));
    s->ph_chunk = dup_mem(g->phone_chunk, (size_t)g->n_phones * sizeof(int32_t));
    s->feats = dup_mem(g->feats, (size_t)g->n_phones * HD_PROSODY_N_FEAT * sizeof(float));
    s->out = dup_mem(g->prosody, (size_t)g->n_phones * HD_PROSODY_N_OUT * sizeof(float));
    s->n_tn = g->n_tn;
    s->tn = dup_mem(g->tn, (size_t)g->n_tn * sizeof(hd_tn_token));
    return HD_OK;
}

static hd_status on_audio(void *user, const float *pcm, int64_t n, hd_error *err) {
    (void)err;
    run_rec *r = user;
    float *p = realloc(r->pcm, (size_t)(r->samples + n) * sizeof *p);
    assert_non_null(p);
    memcpy(p + r->samples, pcm, (size_t)n * sizeof *p);
    r->pcm = p;
    r->samples += n;
    return HD_OK;
}

static void rec_free(run_rec *r) {
    for (int i = 0; i < r->n; i++) {
        seg_rec *s = &r->s[i];
        free(s->emb), free(s->tok_chunk), free(s->tok_start), free(s->tok_len), free(s->ids), free(s->ph_chunk);
        free(s->feats), free(s->out), free(s->tn);
    }
    free(r->pcm);
    memset(r, 0, sizeof *r);
}

typedef struct models {
    hd_prosody_model *pm;
    hd_tn_model *tn;
} models;

static models models_open(void) {
    hd_error err = {0};
    models m = {hd_prosody_load(g_pros, &err), hd_tn_model_load(g_tn, &err)};
    assert_non_null(m.pm);
    assert_non_null(m.tn);
    assert_int_equal(hd_prosody_config_of(m.pm)->token_layer, 1);
    assert_int_equal(hd_tn_model_config(m.tn)->token_layer, 1);
    return m;
}

/* Speaks TEXT with the models (the TN tagger unless prosody_only), the LM
 * (may be NULL) and records everything. */
static void speak_with(const models *mo, bool prosody_only, lm *l, run_rec *r) {
    hd_error err = {0};
    hd_tts_params p = hd_tts_default_params();
    p.prosody = mo->pm;
    p.tn = prosody_only ? NULL : mo->tn;
    p.on_segment = on_segment;
    p.segment_user = r;
    if (l) p.lm = l->ctx, p.lm_tok = l->tok;
    hd_tts *t = hd_tts_create(&p, on_audio, r, &err);
    assert_non_null(t);
    assert_int_equal(hd_tts_state_dim(t), 64);
    assert_int_equal(hd_tts_push(t, TEXT, strlen(TEXT), &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    assert_int_equal(hd_tts_get_stats(t).lm_tokens, r->n >= 2 ? r->s[0].n_tok + r->s[1].n_tok : 0);
    hd_tts_free(t);
    assert_int_equal(r->n, 2);
}

static void speak(const models *mo, lm *l, run_rec *r) { speak_with(mo, false, l, r); }

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* ---- alignment ------------------------------------------------------------------ */

static int32_t chunk_of_word(const char *spoken, const int32_t *c, const char *word) {
    const char *p = strstr(spoken, word);
    assert_non_null(p);
    return c[p - spoken];
}

static void test_align(void **state) {
    (void)state;
    const char *src = "I paid $5 on Jan 5, 2020 yes.";
    hd_error err = {0};
    hd_tn_token *tk;
    int n;
    assert_int_equal(hd_tn_tokenize(src, strlen(src), &tk, &n, &err), HD_OK);
    /* LM token spans → the chunk of their first non-space byte */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 0, 1), 0);     /* "I" */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 1, 5), 1);     /* " paid" */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 6, 2), 2);     /* " $" */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 8, 1), 2);     /* "5" */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 9, 1), 3);     /* " " alone: its TN token, counted with "on" */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 24, 5), 7);    /* " yes." */
    assert_int_equal(hd_tts_span_chunk(src, tk, n, 99, 1), 7);    /* past the end */
    char *spoken = hd_tn_normalize(src, strlen(src), &err);
    assert_non_null(spoken);
    const size_t ns = strlen(spoken);
    int32_t *c = malloc(ns * sizeof *c);
    assert_int_equal(hd_tts_align_spoken(src, strlen(src), tk, n, spoken, ns, c, &err), HD_OK);
    for (size_t i = 1; i < ns; i++) assert_true(c[i] >= c[i - 1]);
    assert_int_equal(chunk_of_word(spoken, c, "I "), 0);
    assert_int_equal(chunk_of_word(spoken, c, "paid"), 1);
    assert_int_equal(chunk_of_word(spoken, c, "five"), 2);      /* "$5" → "five dollars" */
    assert_int_equal(chunk_of_word(spoken, c, "dollars"), 2);
    assert_int_equal(chunk_of_word(spoken, c, " on ") , 2);     /* the space before "on": the word before */
    assert_int_equal(chunk_of_word(spoken, c, "on J") , 3);
    assert_int_equal(chunk_of_word(spoken, c, "yes"), 7);
    /* the date's spoken words stay within the date's written words 4..6 */
    const char *jan = strstr(spoken, "January");
    assert_non_null(jan);
    const char *yes = strstr(spoken, "yes");
    for (const char *q = jan; q < yes - 1; q++) assert_true(c[q - spoken] >= 4 && c[q - spoken] <= 6);
    /* nothing in common at all: spread in order */
    const char *w = "12 34";
    hd_tn_token *tk2;
    int n2;
    assert_int_equal(hd_tn_tokenize(w, strlen(w), &tk2, &n2, &err), HD_OK);
    const char *sp = "twelve thirty four";
    int32_t c2[32];
    assert_int_equal(hd_tts_align_spoken(w, strlen(w), tk2, n2, sp, strlen(sp), c2, &err), HD_OK);
    assert_int_equal(c2[0], 0);                   /* twelve */
    assert_int_equal(c2[strlen(sp) - 1], 1);      /* four */
    free(tk2);
    free(c);
    free(spoken);
    free(tk);
}

/* ---- load-time checks ------------------------------------------------------------ */

static void test_width_checked(void **state) {
    (void)state;
    write_models();
    lm l;
    lm_open(&l, g_lm_a);
    hd_error err = {0};
    hd_tn_model *tn32 = hd_tn_model_load(g_tn32, &err);
    assert_non_null(tn32);
    run_rec r = {0};
    hd_tts_params p = hd_tts_default_params();
    p.tn = tn32;
    p.lm = l.ctx, p.lm_tok = l.tok;
    assert_null(hd_tts_create(&p, on_audio, &r, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "width 32"));
    assert_non_null(strstr(err.msg, "width 64"));
    /* the TN tagger and the prosody model disagree */
    models mo = models_open();
    p.prosody = mo.pm;
    p.lm = NULL, p.lm_tok = NULL;
    err = (hd_error){0};
    assert_null(hd_tts_create(&p, on_audio, &r, &err));
    assert_non_null(strstr(err.msg, "width 32"));
    /* a layer the LM does not have; an LM without its tokenizer */
    p.tn = mo.tn;
    p.lm = l.ctx, p.lm_layer = 3;
    p.lm_tok = l.tok;
    assert_null(hd_tts_create(&p, on_audio, &r, &err));
    assert_non_null(strstr(err.msg, "layer 3"));
    p.lm_layer = -1, p.lm_tok = NULL;
    assert_null(hd_tts_create(&p, on_audio, &r, &err));
    assert_non_null(strstr(err.msg, "tokenizer"));
    hd_tn_model_free(tn32);
    hd_tn_model_free(mo.tn);
    hd_prosody_free(mo.pm);
    lm_close(&l);
}

/* ---- the states reach the models ---------------------------------------------------- */

typedef struct cap {
    float *rows;   /* [cap][dim] by position */
    int64_t dim, cap;
} cap;

static void on_hidden(void *user, int64_t pos0, int64_t n, int64_t dim, const float *h) {
    cap *c = user;
    assert_int_equal(dim, c->dim);
    assert_true(pos0 + n <= c->cap);
    memcpy(c->rows + pos0 * dim, h, (size_t)(n * dim) * sizeof *h);
}

/* Reference states: <|begin_of_text|> + each segment decoded in turn, layer 1. */
static void reference_states(lm *l, cap *c, const char *const *segs, int n_seg, int32_t *ids, int *n_ids) {
    hd_error err = {0};
    c->dim = 64, c->cap = 512;
    c->rows = calloc((size_t)(c->cap * c->dim), sizeof *c->rows);
    assert_int_equal(hd_llama_set_hidden_capture(l->ctx, 1, on_hidden, c, &err), HD_OK);
    int32_t bos = hd_tokenizer_bos(l->tok);
    assert_int_equal(hd_llama_decode(l->ctx, &bos, 1, &err), HD_OK);
    *n_ids = 0;
    for (int s = 0; s < n_seg; s++) {
        size_t k;
        assert_int_equal(hd_tokenizer_encode(l->tok, segs[s], strlen(segs[s]), 0, ids + *n_ids, 128, &k, &err), HD_OK);
        assert_int_equal(hd_llama_decode(l->ctx, ids + *n_ids, (int64_t)k, &err), HD_OK);
        *n_ids += (int)k;
    }
    assert_int_equal(hd_llama_set_hidden_capture(l->ctx, 0, NULL, NULL, &err), HD_OK);
}

static int find_token(const seg_rec *s, const char *bytes) {
    for (int i = 0; i < s->n_tok; i++)
        if (s->tok_len[i] == strlen(bytes) && !memcmp(s->text + s->tok_start[i], bytes, s->tok_len[i])) return i;
    fail_msg("no token \"%s\" in \"%s\"", bytes, s->text);
    return -1;
}

static void test_states_reach_models(void **state) {
    (void)state;
    write_models();
    models mo = models_open();
    lm a, b;
    lm_open(&a, g_lm_a);
    lm_open(&b, g_lm_b);
    run_rec ra = {0}, rb = {0}, ra2 = {0}, r0 = {0};
    speak(&mo, &a, &ra);
    /* the segments and their tokens */
    assert_string_equal(ra.s[0].text, "The cat sat on 3 mats.");
    assert_string_equal(ra.s[1].text, "It was happy!");
    /* the states are the LM's layer-1 states of the tokens (an independent decode) */
    lm ref;
    lm_open(&ref, g_lm_a);
    cap c;
    int32_t ids[256];
    int n_ids;
    const char *const segs[2] = {"The cat sat on 3 mats.", " It was happy!"};
    reference_states(&ref, &c, segs, 2, ids, &n_ids);
    assert_int_equal(ra.s[0].n_tok + ra.s[1].n_tok, n_ids);
    assert_int_equal(ra.s[0].dim, 64);
    const float *want = c.rows + 1 * 64;   /* after <|begin_of_text|> */
    assert_true(max_abs_diff(ra.s[0].emb, want, (size_t)ra.s[0].n_tok * 64) <= 1e-6f);
    assert_true(max_abs_diff(ra.s[1].emb, want + (size_t)ra.s[0].n_tok * 64, (size_t)ra.s[1].n_tok * 64) <= 1e-6f);
    /* chunks: " mats" is word 5, "3" word 4, the first token word 0 */
    assert_int_equal(ra.s[0].tok_chunk[find_token(&ra.s[0], " mats")], 5);
    assert_int_equal(ra.s[0].tok_chunk[find_token(&ra.s[0], "3")], 4);
    assert_int_equal(ra.s[0].tok_chunk[0], 0);
    assert_int_equal(ra.s[1].tok_chunk[find_token(&ra.s[1], " happy")], 2);
    /* phones: chunks from 0 to the last word, never decreasing; "three" is word 4 */
    for (int s = 0; s < 2; s++) {
        assert_true(ra.s[s].n_ph > 3);
        assert_int_equal(ra.s[s].ph_chunk[0], 0);
        for (int i = 1; i < ra.s[s].n_ph; i++) assert_true(ra.s[s].ph_chunk[i] >= ra.s[s].ph_chunk[i - 1]);
    }
    assert_int_equal(ra.s[0].ph_chunk[ra.s[0].n_ph - 1], 5);
    assert_int_equal(ra.s[1].ph_chunk[ra.s[1].n_ph - 1], 2);
    int n4 = 0;
    for (int i = 0; i < ra.s[0].n_ph; i++) n4 += ra.s[0].ph_chunk[i] == 4;
    assert_true(n4 >= 3);   /* T r i: */

    /* another LM: other tagger logits (the tags, hence the spoken text, may
     * change with them: a random tagger) */
    hd_error err = {0};
    speak(&mo, &b, &rb);
    {
        const seg_rec *g = &ra.s[0];
        assert_int_equal(rb.s[0].n_tok, g->n_tok);
        float *la = malloc((size_t)g->n_tn * HD_TN_N_TAGS * sizeof *la), *lb = malloc((size_t)g->n_tn * HD_TN_N_TAGS * sizeof *lb);
        assert_int_equal(hd_tn_model_run(mo.tn, NULL, g->text, g->tn, g->n_tn, g->n_tok, g->emb, g->tok_chunk, la, NULL, &err), HD_OK);
        assert_int_equal(hd_tn_model_run(mo.tn, NULL, g->text, g->tn, g->n_tn, g->n_tok, rb.s[0].emb, g->tok_chunk, lb, NULL, &err), HD_OK);
        assert_true(max_abs_diff(la, lb, (size_t)g->n_tn * HD_TN_N_TAGS) > 1e-3f);
        free(la), free(lb);
    }
    rec_free(&rb);
    /* prosody alone (the same phones): another LM, other prosody and audio; the
     * same LM again, the same; no LM, other */
    run_rec rpa = {0};
    lm a1;
    lm_open(&a1, g_lm_a);
    speak_with(&mo, true, &a1, &rpa);
    speak_with(&mo, true, &b, &rb);
    lm a2;
    lm_open(&a2, g_lm_a);
    speak_with(&mo, true, &a2, &ra2);
    speak_with(&mo, true, NULL, &r0);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(rb.s[s].n_ph, rpa.s[s].n_ph);
        assert_int_equal(r0.s[s].n_ph, rpa.s[s].n_ph);
        const size_t n = (size_t)rpa.s[s].n_ph * 3;
        assert_true(max_abs_diff(rb.s[s].out, rpa.s[s].out, n) > 1e-3f);
        assert_true(max_abs_diff(r0.s[s].out, rpa.s[s].out, n) > 1e-3f);
        assert_memory_equal(ra2.s[s].out, rpa.s[s].out, n * sizeof(float));
        assert_int_equal(r0.s[s].n_tok, 0);
    }
    /* the audio follows: its length is the sum of the predicted durations
     * (the samples themselves carry espeak-ng's noise sources) */
    assert_true(rb.samples != rpa.samples);
    assert_int_equal(ra2.samples, rpa.samples);
    rec_free(&rpa);
    lm_close(&a1);

    /* streamed = whole utterance, with these real states */
    for (int s = 0; s < 2; s++) {
        const seg_rec *g = &ra.s[s];
        const int N = g->n_ph;
        float *yp = calloc((size_t)N * 3, sizeof *yp), *whole = malloc((size_t)N * 3 * sizeof *whole);
        memcpy(yp + 3, g->out, (size_t)(N - 1) * 3 * sizeof *yp);
        hd_prosody_input in = {.n_phones = N, .phone_ids = g->ids, .feats = g->feats, .phone_chunk = g->ph_chunk,
                               .n_tokens = g->n_tok, .tok_emb = g->emb, .tok_chunk = g->tok_chunk};
        assert_int_equal(hd_prosody_forward(mo.pm, NULL, &in, yp, whole, &err), HD_OK);
        assert_true(tu_max_rel_err(g->out, whole, (size_t)N * 3) <= 1e-5f);
        /* the tokens matter to these outputs: without them the forward differs */
        in.n_tokens = 0, in.tok_emb = NULL, in.tok_chunk = NULL;
        assert_int_equal(hd_prosody_forward(mo.pm, NULL, &in, yp, whole, &err), HD_OK);
        assert_true(max_abs_diff(g->out, whole, (size_t)N * 3) > 1e-3f);
        free(yp), free(whole);

        /* TN: the token stream (LM tokens added as their words arrive) vs the whole run */
        const int T = g->n_tn, nt = HD_TN_N_TAGS;
        float *lw = malloc((size_t)T * nt * sizeof *lw), *ls = malloc((size_t)T * nt * sizeof *ls);
        assert_int_equal(hd_tn_model_run(mo.tn, NULL, g->text, g->tn, T, g->n_tok, g->emb, g->tok_chunk, lw, NULL, &err),
                         HD_OK);
        hd_tn_stream *ts = hd_tn_stream_create(mo.tn, g->n_tok, &err);
        assert_non_null(ts);
        int added = 0, got = 0;
        for (int i = 0; i <= T; i++) {
            if (i < T) {
                int k = added;
                while (k < g->n_tok && g->tok_chunk[k] <= g->tn[i].chunk) k++;
                if (k > added)
                    assert_int_equal(hd_tn_stream_add_llm(ts, k - added, g->emb + (size_t)added * 64, g->tok_chunk + added,
                                                          &err), HD_OK);
                added = k;
                assert_int_equal(hd_tn_stream_push(ts, g->text + g->tn[i].start, g->tn[i].len, g->tn[i].cat,
                                                   g->tn[i].chunk, &err), HD_OK);
            } else {
                hd_tn_stream_end(ts);
            }
            int idx, r;
            while ((r = hd_tn_stream_step(ts, NULL, ls + (size_t)got * nt, &idx, &err)) == 1) assert_int_equal(idx, got++);
            assert_int_equal(r, 0);
        }
        assert_int_equal(got, T);
        assert_true(tu_max_rel_err(ls, lw, (size_t)T * nt) <= 1e-5f);
        hd_tn_stream_free(ts);
        free(lw), free(ls);
    }

    free(c.rows);
    lm_close(&ref);
    rec_free(&ra), rec_free(&rb), rec_free(&ra2), rec_free(&r0);
    lm_close(&a2);
    lm_close(&b);
    lm_close(&a);
    hd_tn_model_free(mo.tn);
    hd_prosody_free(mo.pm);
}

/* ---- states from the caller's own decode ---------------------------------------------- */

static void push_states(const models *mo, lm *l, bool one_by_one, run_rec *r) {
    hd_error err = {0};
    hd_tts_params p = hd_tts_default_params();
    p.prosody = mo->pm;
    p.tn = mo->tn;
    p.on_segment = on_segment;
    p.segment_user = r;
    hd_tts *t = hd_tts_create(&p, on_audio, r, &err);
    assert_non_null(t);
    assert_int_equal(hd_tts_state_layer(t, l->m->cfg.n_layer), 1);
    cap c = {.dim = 64, .cap = 512};
    c.rows = calloc((size_t)(c.cap * c.dim), sizeof *c.rows);
    assert_int_equal(hd_llama_set_hidden_capture(l->ctx, 1, on_hidden, &c, &err), HD_OK);
    int32_t ids[256];
    ids[0] = hd_tokenizer_bos(l->tok);
    size_t n;
    assert_int_equal(hd_tokenizer_encode(l->tok, TEXT, strlen(TEXT), 0, ids + 1, 255, &n, &err), HD_OK);
    if (one_by_one) {   /* as a generation loop: a token's state exists once it was decoded */
        for (size_t i = 0; i <= n; i++) {
            assert_int_equal(hd_llama_decode(l->ctx, ids + i, 1, &err), HD_OK);
            if (i == 0) continue;
            size_t len;
            const char *piece = hd_tokenizer_token_bytes(l->tok, ids[i], &len);
            assert_int_equal(hd_tts_push_token(t, piece, len, c.rows + i * 64, &err), HD_OK);
        }
    } else {
        assert_int_equal(hd_llama_decode(l->ctx, ids, (int64_t)n + 1, &err), HD_OK);
        for (size_t i = 1; i <= n; i++) {
            size_t len;
            const char *piece = hd_tokenizer_token_bytes(l->tok, ids[i], &len);
            assert_int_equal(hd_tts_push_token(t, piece, len, c.rows + i * 64, &err), HD_OK);
        }
    }
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    hd_llama_set_hidden_capture(l->ctx, 0, NULL, NULL, NULL);
    free(c.rows);
    hd_tts_free(t);
}

static void test_pushed_states(void **state) {
    (void)state;
    write_models();
    models mo = models_open();
    lm a, p1, p2;
    lm_open(&a, g_lm_a);
    lm_open(&p1, g_lm_a);
    lm_open(&p2, g_lm_a);
    run_rec ra = {0}, rp = {0}, rt = {0};
    speak(&mo, &a, &ra);
    push_states(&mo, &p1, false, &rp);
    push_states(&mo, &p2, true, &rt);
    for (const run_rec *r = &rp; r; r = r == &rp ? &rt : NULL) {
        assert_int_equal(r->n, 2);
        for (int s = 0; s < 2; s++) {
            assert_string_equal(r->s[s].text, ra.s[s].text);
            assert_int_equal(r->s[s].n_tok, ra.s[s].n_tok);
            assert_memory_equal(r->s[s].tok_chunk, ra.s[s].tok_chunk, (size_t)ra.s[s].n_tok * sizeof(int32_t));
            assert_true(tu_max_rel_err(r->s[s].emb, ra.s[s].emb, (size_t)ra.s[s].n_tok * 64) <= 1e-4f);
            assert_int_equal(r->s[s].n_ph, ra.s[s].n_ph);
            assert_true(tu_max_rel_err(r->s[s].out, ra.s[s].out, (size_t)ra.s[s].n_ph * 3) <= 1e-4f);
        }
    }
    rec_free(&ra), rec_free(&rp), rec_free(&rt);
    lm_close(&p2);
    lm_close(&p1);
    lm_close(&a);
    hd_tn_model_free(mo.tn);
    hd_prosody_free(mo.pm);
}

/* Many segments through a context of 512 positions. */
typedef struct long_rec {
    lm *ref;              /* a second context on the same LM */
    int segs, restarts;
    int64_t used;         /* positions the engine's context holds (mirrored) */
    int64_t tokens;
} long_rec;

static hd_status on_long_segment(void *user, const hd_tts_segment *g, hd_error *err) {
    long_rec *r = user;
    r->segs++;
    r->tokens += g->n_tokens;
    assert_true(g->n_tokens > 0);
    /* mirror the engine: <|begin_of_text|> + the segment as written; restart when full */
    int32_t ids[128];
    size_t n;
    char seg[160];   /* as written: every segment after the first began with a space */
    int len = snprintf(seg, sizeof seg, "%s%.*s", r->segs > 1 ? " " : "", (int)g->len, g->text);
    assert_int_equal(hd_tokenizer_encode(r->ref->tok, seg, (size_t)len, 0, ids + 1, 127, &n, err), HD_OK);
    assert_int_equal((int)n, g->n_tokens);
    if (r->used + (int64_t)n > 512) {
        r->restarts++;
        assert_int_equal(hd_llama_rewind(r->ref->ctx, 0, err), HD_OK);
        r->used = 0;
    }
    cap c = {.dim = 64, .cap = 512};
    c.rows = calloc((size_t)(c.cap * c.dim), sizeof *c.rows);
    assert_int_equal(hd_llama_set_hidden_capture(r->ref->ctx, 1, on_hidden, &c, err), HD_OK);
    int32_t *p = ids + 1;
    int64_t k = (int64_t)n;
    if (r->used == 0) p = ids, ids[0] = hd_tokenizer_bos(r->ref->tok), k++;
    const int64_t pos0 = r->used;
    assert_int_equal(hd_llama_decode(r->ref->ctx, p, k, err), HD_OK);
    r->used += k;
    assert_true(max_abs_diff(g->tok_emb, c.rows + (pos0 + k - (int64_t)n) * 64, n * 64) <= 1e-6f);
    free(c.rows);
    return HD_OK;
}

static hd_status no_audio(void *user, const float *pcm, int64_t n, hd_error *err) {
    (void)user, (void)pcm, (void)n, (void)err;
    return HD_OK;
}

static void test_context_restart(void **state) {
    (void)state;
    write_models();
    models mo = models_open();
    lm a, ref;
    lm_open(&a, g_lm_a);
    lm_open(&ref, g_lm_a);
    long_rec r = {.ref = &ref};
    hd_error err = {0};
    hd_tts_params p = hd_tts_default_params();
    p.prosody = mo.pm;
    p.lm = a.ctx, p.lm_tok = a.tok;
    p.on_segment = on_long_segment;
    p.segment_user = &r;
    hd_tts *t = hd_tts_create(&p, no_audio, NULL, &err);
    assert_non_null(t);
    char s[128];
    for (int i = 0; i < 40; i++) {
        int n = snprintf(s, sizeof s, "%sThe brown fox number %d jumps over the lazy dog again and again.", i ? " " : "",
                         i + 1);
        assert_int_equal(hd_tts_push(t, s, (size_t)n, &err), HD_OK);
    }
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    assert_int_equal(r.segs, 40);
    assert_true(r.restarts >= 1);
    assert_int_equal(hd_tts_get_stats(t).lm_tokens, r.tokens);
    assert_int_equal(hd_llama_n_past(a.ctx), r.used);
    hd_tts_free(t);
    lm_close(&ref);
    lm_close(&a);
    hd_tn_model_free(mo.tn);
    hd_prosody_free(mo.pm);
}

static void test_presets_for_lm(void **state) {
    (void)state;
    hd_prosody_config pc;
    hd_tn_config tc;
    assert_true(hd_prosody_preset("paper+llama-3.1-8b", &pc));
    assert_int_equal(pc.n_llm, 4096);
    assert_int_equal(pc.token_layer, 16);   /* the paper's layer 16 of 32 */
    assert_int_equal(pc.n_embd, 384);
    assert_true(hd_prosody_preset("tiny+llama-3.2-1b", &pc));
    assert_int_equal(pc.n_llm, 2048);
    assert_int_equal(pc.token_layer, 8);
    assert_true(hd_tn_preset("base+llama-3.2-3b", &tc));
    assert_int_equal(tc.n_llm, 3072);
    assert_int_equal(tc.token_layer, 14);
    assert_true(hd_prosody_preset("tiny", &pc));
    assert_int_equal(pc.token_layer, 0);
    assert_false(hd_prosody_preset("tiny+nope", &pc));
    assert_false(hd_prosody_preset("nope+tiny", &pc));
    assert_false(hd_prosody_preset("tiny+tiny+tiny", &pc));
    assert_false(hd_tn_preset("+tiny", &tc));
    assert_false(hd_tn_preset("averyveryverylongname+tiny", &tc));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_align),
        cmocka_unit_test(test_width_checked),
        cmocka_unit_test(test_states_reach_models),
        cmocka_unit_test(test_pushed_states),
        cmocka_unit_test(test_context_restart),
        cmocka_unit_test(test_presets_for_lm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
