/* speech/tts.c — the streaming text-to-speech engine (see tts.h). */
#include "tts.h"

#include "tn.h"
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
};

hd_tts_params hd_tts_default_params(void) {
    return (hd_tts_params){.voice = "en-us+klatt", .rate_wpm = 175, .pitch = -1, .sample_rate = 22050};
}

int hd_tts_sample_rate(const hd_tts *t) { return t->p.sample_rate; }
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
    int32_t c = 0;
    for (int i = 0; i < N; i++) {
        const hd_phone *p = &u->phones[i];
        ids[i] = hd_prosody_phone_id(m, p->name);
        bool pause = hd_phone_is_pause(p->name);
        bool ws = !pause && (i == 0 || u->phones[i - 1].word != p->word);
        bool we = !pause && (i + 1 == N || u->phones[i + 1].word != p->word);
        if (!pause && p->word > c) c = p->word;
        chunk[i] = c;
        float *f = feats + (size_t)i * HD_PROSODY_N_FEAT;
        f[0] = ws, f[1] = we, f[2] = pause, f[3] = i + 1 == N;
    }
    hd_prosody_input in = {.n_phones = N, .phone_ids = ids, .feats = feats, .phone_chunk = chunk};
    if ((st = hd_prosody_predict(m, ex, &in, out, err))) goto done;
    const double rate_scale = 175.0 / (rate_wpm ? rate_wpm : 175);
    for (int i = 0; i < N; i++) {
        double d = exp(out[3 * i]) * rate_scale, f = exp(out[3 * i + 1]), pw = exp(out[3 * i + 2]);
        /* the model's values are used as they are within what a voice can do */
        tg[i].dur = (float)(isfinite(d) ? fmin(fmax(d, 0.01), 2.0) : 0.08);
        tg[i].f0 = (float)(isfinite(f) ? fmin(fmax(f, 50.0), 400.0) : 0);
        tg[i].power = (float)(isfinite(pw) ? fmin(pw, 1.0) : 0);
    }
done:
    free(ids), free(chunk), free(feats), free(out);
    return st;
}

/* TN with the tagger: tokens, tags, rules. */
static char *tagged_normalize(hd_tts *t, const char *text, size_t len, hd_error *err) {
    hd_tn_token *tk = NULL;
    int n = 0;
    if (hd_tn_tokenize(text, len, &tk, &n, err)) return NULL;
    uint8_t *tags = malloc((size_t)n + 1);
    char *out = NULL;
    if (!tags) hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
    else if (!hd_tn_model_run(t->p.tn, t->p.ex, text, tk, n, 0, NULL, NULL, NULL, tags, err))
        out = hd_tn_normalize_tagged(text, len, tk, n, tags, err);
    free(tags);
    free(tk);
    return out;
}

static hd_status render(hd_tts *t, const char *text, size_t len, hd_error *err) {
    size_t a = 0;
    while (a < len && is_space((unsigned char)text[a])) a++;
    if (a == len) return HD_OK;   /* nothing to say */
    char *norm = NULL;
    if (!t->p.no_normalize) {
        norm = t->p.tn ? tagged_normalize(t, text + a, len - a, err) : hd_tn_normalize(text + a, len - a, err);
        if (!norm) return err ? err->code : HD_ERR_NOMEM;
        text = norm, a = 0, len = strlen(norm);
    }
    hd_phonemes_params pp = {.voice = t->voice, .rate_wpm = t->p.rate_wpm, .pitch = t->p.pitch};
    hd_utterance u;
    hd_status st = hd_phonemes_synth(text + a, len - a, &pp, &u, err);
    free(norm);
    if (st) return st;
    hd_phone_prosody *tg = NULL;
    float *pcm = NULL;
    int64_t n = 0;
    if (t->p.prosody && u.n_phones > 0) {
        tg = malloc((size_t)u.n_phones * sizeof *tg);
        if (!tg) st = hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory");
        else st = hd_tts_prosody_targets(t->p.prosody, t->p.ex, &u, t->p.rate_wpm, tg, err);
    }
    if (!st) st = hd_vocoder_render(&u, tg, t->p.sample_rate, &pcm, &n, err);
    if (!st && n > 0) st = t->fn(t->user, pcm, n, err);
    if (!st) {
        t->stats.sentences++;
        t->stats.phones += u.n_phones;
        t->stats.samples += n;
    }
    free(pcm);
    free(tg);
    hd_utterance_free(&u);
    return st;
}

/* Renders complete segments at the front of the buffer. */
static hd_status drain(hd_tts *t, bool final, hd_error *err) {
    size_t off = 0;
    hd_status st = HD_OK;
    while (off < t->n) {
        size_t e = hd_tts_segment_end(t->buf + off, t->n - off, final);
        if (!e) break;
        if ((st = render(t, t->buf + off, e, err))) break;
        off += e;
    }
    memmove(t->buf, t->buf + off, t->n - off);
    t->n -= off;
    return st;
}

hd_tts *hd_tts_create(const hd_tts_params *p, hd_tts_audio_fn fn, void *user, hd_error *err) {
    hd_tts_params d = hd_tts_default_params();
    if (!p) p = &d;
    if (!fn) {
        hd_error_set(err, HD_ERR_ARG, "tts: no audio callback");
        return NULL;
    }
    int rate = p->sample_rate ? p->sample_rate : 22050;
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
    return t;
}

void hd_tts_free(hd_tts *t) {
    if (!t) return;
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

hd_status hd_tts_finish(hd_tts *t, hd_error *err) {
    if (!t) return hd_error_set(err, HD_ERR_ARG, "tts: bad arguments");
    if (t->buf) t->buf[t->n] = 0;
    return drain(t, true, err);
}
