/* speech/tts.c — the streaming text-to-speech engine (see tts.h). */
#include "tts.h"

#include "tn.h"
#include "tts_align.h"
#include "tts_lm.h"
#include "vocoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SOFT_CUT 150   /* bytes: cut a growing sentence at its last ", " */
#define HARD_CUT 400   /* bytes: cut at its last space                 */

struct hd_tts {
    hd_tts_params p;
    char voice[64];
    hd_tts_audio_fn fn;
    void *user;
    char *buf;            /* pending text */
    size_t n, cap;
    hd_tts_stats stats;
    int dim;              /* the models' LM state width; 0 = no model attached */
    int layer;            /* the models' token_layer (0 = not stored) */
    hd_tts_lm *lm;        /* the engine's LM run (params.lm with a model attached), or NULL */
    bool external;        /* hd_tts_push_token was used: never run lm */
    bool spoke;           /* a segment of this utterance was rendered (first_cut is done) */
    hd_tts_tokens pend;   /* pushed tokens not yet rendered, spans relative to buf */
};

hd_tts_params hd_tts_default_params(void) {
    return (hd_tts_params){.voice = "en-us+klatt", .rate_wpm = 175, .pitch = -1, .sample_rate = 22050, .lm_layer = -1};
}

int hd_tts_sample_rate(const hd_tts *t) { return t->p.sample_rate; }
int hd_tts_state_dim(const hd_tts *t) { return t->dim; }

int hd_tts_state_layer(const hd_tts *t, int n_layer) {
    if (t->p.lm_layer >= 0) return t->p.lm_layer;
    if (t->layer > 0) return t->layer;
    return n_layer / 2;
}
hd_tts_stats hd_tts_get_stats(const hd_tts *t) { return t->stats; }

/* ---- segmentation ------------------------------------------------------------ */

static bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_letter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* The '.' at text[i] ends an abbreviation or an initial ("Dr.", "e.g.", "J."). */
static bool abbreviation_dot(const char *text, size_t len, size_t i) {
    static const char *const abbr[] = {"mr",   "mrs",  "ms",   "dr",  "st",   "prof", "jr",  "sr",  "mt",
                                       "no",   "vs",   "eg",   "ie",  "inc",  "ltd",  "co",  "corp", "gen",
                                       "capt", "sgt",  "lt",   "gov", "sen",  "rep",  "fig", "ave", "blvd",
                                       "rd",   "jan",  "feb",  "mar", "apr",  "jun",  "jul", "aug", "sep",
                                       "sept", "oct",  "nov",  "dec", "approx", "dept", "est", "etc"};
    size_t j = i;
    char w[8];
    size_t k = 0;
    /* the letters (and inner dots, "e.g") before the dot */
    while (j > 0 && (is_letter((unsigned char)text[j - 1]) || (text[j - 1] == '.' && j >= 2 && is_letter((unsigned char)text[j - 2])))) {
        j--;
        if (text[j] == '.') continue;
        if (k == sizeof w - 1) return false;
        w[k++] = (char)((text[j] >= 'A' && text[j] <= 'Z') ? text[j] + 32 : text[j]);
    }
    if (k == 0) return false;
    if (j > 0 && !is_space((unsigned char)text[j - 1]) && text[j - 1] != '(' && text[j - 1] != '"') return false;
    /* reverse into reading order */
    for (size_t a = 0, b = k - 1; a < b; a++, b--) {
        char c = w[a];
        w[a] = w[b];
        w[b] = c;
    }
    w[k] = 0;
    if (k == 1 && text[j] >= 'A' && text[j] <= 'Z') return true;   /* an initial */
    /* "etc." ends sentences as often as not: only when a lower-case word follows */
    for (size_t a = 0; a < sizeof abbr / sizeof abbr[0]; a++)
        if (strcmp(w, abbr[a]) == 0) {
            if (strcmp(w, "etc") != 0) return true;
            size_t n = i + 1;
            while (n < len && is_space((unsigned char)text[n])) n++;
            return n < len && text[n] >= 'a' && text[n] <= 'z';
        }
    return false;
}

size_t hd_tts_segment_end(const char *text, size_t len, bool final) {
    if (!text) return 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)text[i];
        if (c == '\n') return i + 1;
        if (c != '.' && c != '!' && c != '?' && c != ';' && c != ':') continue;
        /* the punctuation must be followed by white space (which must have arrived) */
        if (i + 1 >= len || !is_space((unsigned char)text[i + 1])) continue;
        if (c == '.' && abbreviation_dot(text, len, i)) continue;
        return i + 1;
    }
    if (len > SOFT_CUT) {
        for (size_t i = len - 1; i > 0; i--)
            if (text[i - 1] == ',' && text[i] == ' ') return i + 1;
    }
    if (len > HARD_CUT) {
        for (size_t i = len - 1; i > 0; i--)
            if (text[i] == ' ') return i + 1;
        return len;   /* one endless word */
    }
    return final ? len : 0;
}

/* ---- rendering ----------------------------------------------------------------- */

/* Prosody inputs of an utterance: inventory ids, features and chunks.  The
 * chunk of a phone is spoken_chunk[its word's first byte] (the TN chunk, see
 * tts_align.h) or, when spoken_chunk is NULL, its word index; pauses keep the
 * chunk before them. */
static void prosody_inputs(const hd_prosody_model *m, const hd_utterance *u, const int32_t *spoken_chunk,
                           size_t spoken_len, int32_t *ids, float *feats, int32_t *chunk) {
    const int N = u->n_phones;
    int32_t c = spoken_chunk && spoken_len ? spoken_chunk[0] : 0;
    for (int i = 0; i < N; i++) {
        const hd_phone *p = &u->phones[i];
        ids[i] = hd_prosody_phone_id(m, p->name);
        bool pause = hd_phone_is_pause(p->name);
        bool ws = !pause && (i == 0 || u->phones[i - 1].word != p->word);
        bool we = !pause && (i + 1 == N || u->phones[i + 1].word != p->word);
        if (!pause && p->word >= 0) {
            int32_t w = p->word;
            if (spoken_chunk) {
                size_t b = p->word < u->n_words ? u->words[p->word].byte_start : spoken_len;
                w = b < spoken_len ? spoken_chunk[b] : c;
            }
            if (w > c) c = w;
        }
        chunk[i] = c;
        float *f = feats + (size_t)i * HD_PROSODY_N_FEAT;
        f[0] = ws, f[1] = we, f[2] = pause, f[3] = i + 1 == N;
    }
}

/* The model's raw outputs [N][3] as what a voice can do (see tts.h). */
static void prosody_to_targets(const float *out, int N, int rate_wpm, hd_phone_prosody *tg) {
    const double rate_scale = 175.0 / (rate_wpm ? rate_wpm : 175);
    for (int i = 0; i < N; i++) {
        double d = exp(out[3 * i]) * rate_scale, f = exp(out[3 * i + 1]), pw = exp(out[3 * i + 2]);
        /* the model's values are used as they are within what a voice can do */
        tg[i].dur = (float)(isfinite(d) ? fmin(fmax(d, 0.01), 2.0) : 0.08);
        tg[i].f0 = (float)(isfinite(f) ? fmin(fmax(f, 50.0), 400.0) : 0);
        tg[i].power = (float)(isfinite(pw) ? fmin(pw, 1.0) : 0);
    }
}

hd_status hd_tts_prosody_targets(const hd_prosody_model *m, hd_exec *ex, const hd_utterance *u, int rate_wpm,
                                 hd_phone_prosody *tg, hd_error *err) {
    if (!m || !u || (u->n_phones > 0 && !tg)) return hd_error_set(err, HD_ERR_ARG, "tts: bad prosody arguments");
    const int N = u->n_phones;
    if (N == 0) return HD_OK;
    int32_t *ids = malloc((size_t)N * sizeof *ids), *chunk = malloc((size_t)N * sizeof *chunk);
    float *feats = malloc((size_t)N * HD_PROSODY_N_FEAT * sizeof *feats), *out = malloc((size_t)N * 3 * sizeof *out);
    hd_status st = HD_OK;
    if (!ids || !chunk || !feats || !out) {
        st = hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
        goto done;
    }
    prosody_inputs(m, u, NULL, 0, ids, feats, chunk);
    hd_prosody_input in = {.n_phones = N, .phone_ids = ids, .feats = feats, .phone_chunk = chunk};
    if ((st = hd_prosody_predict(m, ex, &in, out, err))) goto done;
    prosody_to_targets(out, N, rate_wpm, tg);
done:
    free(ids), free(chunk), free(feats), free(out);
    return st;
}

static char *copy_text(const char *s, size_t n, hd_error *err) {
    char *c = malloc(n + 1);
    if (!c) {
        hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
        return NULL;
    }
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

/* Everything one segment needs, freed together. */
typedef struct seg_work {
    hd_tts_tokens tok;       /* the segment's LM tokens, spans in src */
    int32_t *tok_chunk;      /* [tok.n] */
    hd_tn_token *tn;
    int n_tn;
    uint8_t *tags;           /* [n_tn] */
    char *spoken;
    int32_t *spoken_chunk;   /* [strlen(spoken)] */
    hd_utterance u;
    int32_t *ids, *chunk;    /* [n_phones] */
    float *feats, *out;      /* [n_phones][4], [n_phones][3] */
    hd_phone_prosody *tg;
    float *pcm;
} seg_work;

static void seg_work_free(seg_work *w) {
    hd_tts_tokens_free(&w->tok);
    free(w->tok_chunk), free(w->tn), free(w->tags), free(w->spoken), free(w->spoken_chunk);
    hd_utterance_free(&w->u);
    free(w->ids), free(w->chunk), free(w->feats), free(w->out), free(w->tg), free(w->pcm);
}

/* Renders text[0, len) with the pushed LM tokens pend[0, k) (spans relative
 * to text; a token may run past len). */
static hd_status render(hd_tts *t, const char *text, size_t len, const hd_tts_tokens *pend, int k, hd_error *err) {
    size_t a = 0;
    while (a < len && is_space((unsigned char)text[a])) a++;
    if (a == len) return HD_OK;   /* nothing to say */
    const char *src = text + a;
    const size_t slen = len - a;
    const bool models = t->p.tn || t->p.prosody;
    seg_work w = {.tok = {.dim = t->dim}};
    hd_tts_tokens own = {.dim = t->dim};
    hd_status st = HD_OK;

    /* the LM tokens of the segment: the engine's own LM run over the segment as
     * written (white space included, as the LM reads the text), or the pushed
     * ones; spans moved to src */
    if (models && t->lm && !t->external) {
        if ((st = hd_tts_lm_run(t->lm, text, len, &own, err))) goto done;
        pend = &own, k = own.n;
    }
    if (models) {
        for (int i = 0; i < k && !st; i++) {
            size_t b = pend->start[i], e = b + pend->len[i];
            b = b > a ? b - a : 0;
            e = e > a ? e - a : 0;
            if (e > slen) e = slen;
            if (b >= slen) break;
            st = hd_tts_tokens_push(&w.tok, b, e - b, pend->emb + (size_t)i * (size_t)pend->dim, err);
        }
        if (st) goto done;
    }
    /* TN tokens: the chunk (word) axis both models share */
    if (models && (st = hd_tn_tokenize(src, slen, &w.tn, &w.n_tn, err))) goto done;
    if (w.tok.n > 0) {
        if (!(w.tok_chunk = malloc((size_t)w.tok.n * sizeof *w.tok_chunk))) goto nomem;
        for (int i = 0; i < w.tok.n; i++)
            w.tok_chunk[i] = hd_tts_span_chunk(src, w.tn, w.n_tn, w.tok.start[i], w.tok.len[i]);
    }
    /* text normalisation: with the tagger (cross-attending to the tokens), or the rules alone */
    if (t->p.no_normalize) {
        w.spoken = copy_text(src, slen, err);
    } else if (t->p.tn) {
        if (!(w.tags = malloc((size_t)w.n_tn + 1))) goto nomem;
        if ((st = hd_tn_model_run(t->p.tn, t->p.ex, src, w.tn, w.n_tn, w.tok.n, w.tok.emb, w.tok_chunk, NULL, w.tags,
                                  err)))
            goto done;
        w.spoken = hd_tn_normalize_tagged(src, slen, w.tn, w.n_tn, w.tags, err);
    } else {
        w.spoken = hd_tn_normalize(src, slen, err);
    }
    if (!w.spoken) {
        st = err ? err->code : HD_ERR_NOMEM;
        goto done;
    }
    const size_t nlen = strlen(w.spoken);
    hd_phonemes_params pp = {.voice = t->voice, .rate_wpm = t->p.rate_wpm, .pitch = t->p.pitch};
    if ((st = hd_phonemes_synth(w.spoken, nlen, &pp, &w.u, err))) goto done;
    const int N = w.u.n_phones;
    if (t->p.prosody && N > 0) {
        w.spoken_chunk = malloc((nlen + 1) * sizeof *w.spoken_chunk);
        w.ids = malloc((size_t)N * sizeof *w.ids), w.chunk = malloc((size_t)N * sizeof *w.chunk);
        w.feats = malloc((size_t)N * HD_PROSODY_N_FEAT * sizeof *w.feats);
        w.out = malloc((size_t)N * HD_PROSODY_N_OUT * sizeof *w.out);
        w.tg = malloc((size_t)N * sizeof *w.tg);
        if (!w.spoken_chunk || !w.ids || !w.chunk || !w.feats || !w.out || !w.tg) goto nomem;
        if ((st = hd_tts_align_spoken(src, slen, w.tn, w.n_tn, w.spoken, nlen, w.spoken_chunk, err))) goto done;
        prosody_inputs(t->p.prosody, &w.u, w.spoken_chunk, nlen, w.ids, w.feats, w.chunk);
        hd_prosody_input in = {.n_phones = N, .phone_ids = w.ids, .feats = w.feats, .phone_chunk = w.chunk,
                               .n_tokens = w.tok.n, .tok_emb = w.tok.n ? w.tok.emb : NULL,
                               .tok_chunk = w.tok.n ? w.tok_chunk : NULL};
        if ((st = hd_prosody_predict(t->p.prosody, t->p.ex, &in, w.out, err))) goto done;
        prosody_to_targets(w.out, N, t->p.rate_wpm, w.tg);
    }
    if (t->p.on_segment) {
        const hd_tts_segment seg = {
            .text = src, .len = slen, .spoken = w.spoken, .n_tn = w.n_tn, .tn = w.tn, .tags = w.tags,
            .n_tokens = w.tok.n, .dim = w.tok.n ? w.tok.dim : 0, .tok_emb = w.tok.emb, .tok_start = w.tok.start,
            .tok_len = w.tok.len, .tok_chunk = w.tok_chunk, .n_phones = w.ids ? N : 0, .phone_ids = w.ids,
            .feats = w.feats, .phone_chunk = w.chunk, .prosody = w.out};
        if ((st = t->p.on_segment(t->p.segment_user, &seg, err))) goto done;
    }
    int64_t n = 0;
    if ((st = hd_vocoder_render(&w.u, w.tg, t->p.sample_rate, &w.pcm, &n, err))) goto done;
    if (n > 0 && (st = t->fn(t->user, w.pcm, n, err))) goto done;
    t->stats.sentences++;
    t->stats.phones += N;
    t->stats.samples += n;
    t->stats.lm_tokens += w.tok.n;
    goto done;
nomem:
    st = hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
done:
    hd_tts_tokens_free(&own);
    seg_work_free(&w);
    return st;
}

/* Renders complete segments at the front of the buffer. */
static hd_status drain(hd_tts *t, bool final, hd_error *err) {
    size_t off = 0;
    hd_status st = HD_OK;
    while (off < t->n) {
        size_t e = hd_tts_segment_end(t->buf + off, t->n - off, final);
        if (!t->spoke && t->p.first_cut > 0) {   /* the first clause of an utterance */
            const char *b = t->buf + off;
            const size_t n = t->n - off, lim = e ? e : n;
            for (size_t i = (size_t)t->p.first_cut; i < lim; i++)
                if (b[i - 1] == ',' && b[i] == ' ') {
                    e = i + 1;
                    break;
                }
        }
        if (!e) break;
        /* the pushed tokens that start in the segment (spans relative to it) */
        int k = 0;
        while (k < t->pend.n && t->pend.start[k] < e) k++;
        const int64_t said = t->stats.sentences;
        st = render(t, t->buf + off, e, &t->pend, k, err);
        hd_tts_tokens_drop(&t->pend, k, e);
        if (st) break;
        off += e;
        if (t->stats.sentences > said) t->spoke = true;   /* white space alone does not count */
    }
    memmove(t->buf, t->buf + off, t->n - off);
    t->n -= off;
    return st;
}

/* The LM state width and layer the attached models agree on, and the
 * engine's LM run when an LM is given. */
static hd_status attach_models(hd_tts *t, hd_error *err) {
    const hd_tn_config *tc = t->p.tn ? hd_tn_model_config(t->p.tn) : NULL;
    const hd_prosody_config *pc = t->p.prosody ? hd_prosody_config_of(t->p.prosody) : NULL;
    if (tc && pc && tc->n_llm != pc->n_llm)
        return hd_error_set(err, HD_ERR_ARG,
                            "tts: the TN tagger cross-attends to LM states of width %d, the prosody model to width %d",
                            tc->n_llm, pc->n_llm);
    if (tc && pc && tc->token_layer && pc->token_layer && tc->token_layer != pc->token_layer)
        return hd_error_set(err, HD_ERR_ARG, "tts: the TN tagger reads LM layer %d, the prosody model layer %d",
                            tc->token_layer, pc->token_layer);
    t->dim = pc ? pc->n_llm : tc ? tc->n_llm : 0;
    t->layer = pc && pc->token_layer ? pc->token_layer : tc ? tc->token_layer : 0;
    t->pend.dim = t->dim;
    if (!t->p.lm) return HD_OK;
    if (!t->p.lm_tok) return hd_error_set(err, HD_ERR_ARG, "tts: an LM was given without its tokenizer");
    if (!t->dim) return HD_OK;   /* no model to feed: the LM is never run */
    const hd_llama_model *m = hd_llama_context_model(t->p.lm);
    if (m->cfg.n_embd != t->dim)
        return hd_error_set(err, HD_ERR_ARG,
                            "tts: the %s cross-attends to LM states of width %d, but the LM (%s) has width %d; "
                            "write TTS models for it (herd random-model --arch %s --preset tiny+LLAMA_PRESET)",
                            pc ? "prosody model" : "TN tagger", t->dim, m->source ? m->source : "?", m->cfg.n_embd,
                            pc ? "prosody" : "tn");
    const int layer = hd_tts_state_layer(t, m->cfg.n_layer);
    if (layer < 0 || layer > m->cfg.n_layer)
        return hd_error_set(err, HD_ERR_ARG, "tts: LM layer %d asked for, the LM (%s) has %d layers", layer,
                            m->source ? m->source : "?", m->cfg.n_layer);
    t->lm = hd_tts_lm_create(t->p.lm, t->p.lm_tok, layer, err);
    return t->lm ? HD_OK : (err ? err->code : HD_ERR_NOMEM);
}

hd_tts *hd_tts_create(const hd_tts_params *p, hd_tts_audio_fn fn, void *user, hd_error *err) {
    hd_tts_params d = hd_tts_default_params();
    if (!p) p = &d;
    if (!fn) {
        hd_error_set(err, HD_ERR_ARG, "tts: no audio callback");
        return NULL;
    }
    int rate = p->sample_rate ? p->sample_rate : 22050;
    if (p->first_cut < 0) {
        hd_error_set(err, HD_ERR_ARG, "tts: first_cut %d is negative", p->first_cut);
        return NULL;
    }
    if (rate < 8000 || rate > 48000) {
        hd_error_set(err, HD_ERR_ARG, "tts: sample rate %d outside 8000..48000", rate);
        return NULL;
    }
    const char *voice = p->voice && p->voice[0] ? p->voice : "en-us+klatt";
    hd_tts *t = calloc(1, sizeof *t);
    if (!t) {
        hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
        return NULL;
    }
    t->p = *p;
    t->p.sample_rate = rate;
    t->fn = fn, t->user = user;
    if (strlen(voice) >= sizeof t->voice) {
        hd_error_set(err, HD_ERR_ARG, "tts: voice name too long");
        free(t);
        return NULL;
    }
    strcpy(t->voice, voice);
    t->p.voice = t->voice;
    /* check voice, rate and pitch now: render nothing */
    hd_phonemes_params pp = {.voice = t->voice, .rate_wpm = p->rate_wpm, .pitch = p->pitch};
    hd_utterance u;
    if (hd_phonemes_synth("", 0, &pp, &u, err)) {
        free(t);
        return NULL;
    }
    hd_utterance_free(&u);
    if (attach_models(t, err)) {
        hd_tts_free(t);
        return NULL;
    }
    return t;
}

void hd_tts_free(hd_tts *t) {
    if (!t) return;
    hd_tts_lm_free(t->lm);
    hd_tts_tokens_free(&t->pend);
    free(t->buf);
    free(t);
}

hd_status hd_tts_push(hd_tts *t, const char *text, size_t len, hd_error *err) {
    if (!t || (!text && len)) return hd_error_set(err, HD_ERR_ARG, "tts: bad arguments");
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + len + 1) cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) return hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
        t->buf = b, t->cap = cap;
    }
    if (len) memcpy(t->buf + t->n, text, len);
    t->n += len;
    t->buf[t->n] = 0;
    return drain(t, false, err);
}

hd_status hd_tts_push_token(hd_tts *t, const char *piece, size_t len, const float *state, hd_error *err) {
    if (!t || (!piece && len)) return hd_error_set(err, HD_ERR_ARG, "tts: bad arguments");
    t->external = true;
    if (state && t->dim > 0 && len > 0) {
        hd_status st = hd_tts_tokens_push(&t->pend, t->n, len, state, err);
        if (st) return st;
    }
    return hd_tts_push(t, piece, len, err);
}

hd_status hd_tts_finish(hd_tts *t, hd_error *err) {
    if (!t) return hd_error_set(err, HD_ERR_ARG, "tts: bad arguments");
    if (t->buf) t->buf[t->n] = 0;
    hd_status st = drain(t, true, err);
    t->spoke = false;   /* the next text is a new utterance */
    return st;
}
