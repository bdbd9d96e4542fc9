/* speech/phonemes.c — espeak-ng rendering with phone and word events (see
 * phonemes.h). */
#include "phonemes.h"

#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_rate;              /* > 0 once espeak-ng is up, -1 when it failed */
static char g_voice[64];        /* voice currently selected */

/* What the synthesis callback collects (only touched under g_lock). */
typedef struct raw_event {
    int type;                   /* espeakEVENT_PHONEME or espeakEVENT_WORD */
    int64_t sample;
    int text_pos, text_len;     /* WORD: characters, 1-based position */
    char name[HD_PHONE_NAME_MAX + 1];
} raw_event;

typedef struct collect {
    float *audio;
    int64_t n, cap;
    raw_event *ev;
    int n_ev, cap_ev;
    bool oom;
} collect;

static collect *g_collect;

static int synth_cb(short *wav, int n, espeak_EVENT *ev) {
    collect *c = g_collect;
    if (!c || c->oom) return 1;
    for (; ev && ev->type != espeakEVENT_LIST_TERMINATED; ev++) {
        if (ev->type != espeakEVENT_PHONEME && ev->type != espeakEVENT_WORD) continue;
        if (c->n_ev == c->cap_ev) {
            int cap = c->cap_ev ? 2 * c->cap_ev : 64;
            raw_event *e = realloc(c->ev, (size_t)cap * sizeof *e);
            if (!e) return c->oom = true, 1;
            c->ev = e, c->cap_ev = cap;
        }
        raw_event *r = &c->ev[c->n_ev++];
        memset(r, 0, sizeof *r);
        r->type = ev->type;
        r->sample = ev->sample < 0 ? 0 : ev->sample;
        r->text_pos = ev->text_position;
        r->text_len = ev->length;
        if (ev->type == espeakEVENT_PHONEME) memcpy(r->name, ev->id.string, HD_PHONE_NAME_MAX);
    }
    if (wav && n > 0) {
        if (c->n + n > c->cap) {
            int64_t cap = c->cap ? c->cap : 1 << 15;
            while (cap < c->n + n) cap *= 2;
            float *a = realloc(c->audio, (size_t)cap * sizeof *a);
            if (!a) return c->oom = true, 1;
            c->audio = a, c->cap = cap;
        }
        for (int i = 0; i < n; i++) c->audio[c->n + i] = (float)wav[i] * (1.0f / 32768.0f);
        c->n += n;
    }
    return 0;
}

/* Starts espeak-ng once; g_lock held. */
static hd_status ensure_init(hd_error *err) {
    if (g_rate > 0) return HD_OK;
    if (g_rate < 0) return hd_error_set(err, HD_ERR_IO, "espeak-ng: could not start (is espeak-ng-data installed?)");
    int r = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 100, NULL,
                              espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_DONT_EXIT);
    if (r <= 0) {
        g_rate = -1;
        return hd_error_set(err, HD_ERR_IO, "espeak-ng: could not start (is espeak-ng-data installed?)");
    }
    g_rate = r;
    espeak_SetSynthCallback(synth_cb);
    return HD_OK;
}

/* Selects the best voice for a language some installed voice lists exactly
 * ("en-gb"); g_lock held. */
static bool set_language(const char *lang) {
    if (strchr(lang, '+')) return false;
    espeak_VOICE spec = {.languages = lang};
    const espeak_VOICE **vl = espeak_ListVoices(&spec);
    bool found = false;
    for (int i = 0; vl && vl[i] && !found; i++)
        for (const char *l = vl[i]->languages; l && *l && !found; l += strlen(l + 1) + 2)
            found = strcasecmp(l + 1, lang) == 0;   /* each entry: priority byte, name, NUL */
    return found && espeak_SetVoiceByProperties(&spec) == EE_OK;
}

hd_phonemes_params hd_phonemes_default_params(void) {
    return (hd_phonemes_params){.voice = "en-us", .rate_wpm = 175, .pitch = -1};
}

bool hd_phone_is_pause(const char *name) { return name && name[0] == '_'; }

void hd_utterance_free(hd_utterance *u) {
    if (!u) return;
    free(u->phones);
    free(u->words);
    free(u->audio);
    memset(u, 0, sizeof *u);
}

/* Byte offset of the 1-based character position `pos` in text[0, len). */
static size_t char_to_byte(const char *text, size_t len, int pos) {
    size_t b = 0;
    for (int c = 1; c < pos && b < len; c++) {
        b++;
        while (b < len && ((unsigned char)text[b] & 0xc0) == 0x80) b++;
    }
    return b;
}

/* Builds phones and words from the collected events. */
static hd_status build(const char *text, size_t len, collect *c, hd_utterance *u, hd_error *err) {
    int n_ph = 0, n_w = 0;
    for (int i = 0; i < c->n_ev; i++) n_ph += c->ev[i].type == espeakEVENT_PHONEME, n_w += c->ev[i].type == espeakEVENT_WORD;
    u->phones = calloc((size_t)n_ph + 1, sizeof *u->phones);
    u->words = calloc((size_t)n_w + 1, sizeof *u->words);
    if (!u->phones || !u->words) return hd_error_set(err, HD_ERR_NOMEM, "espeak-ng: out of memory");
    int cur_word = -1;
    int64_t last = 0;
    for (int i = 0; i < c->n_ev; i++) {
        const raw_event *e = &c->ev[i];
        int64_t s = e->sample < last ? last : e->sample > c->n ? c->n : e->sample;
        if (e->type == espeakEVENT_WORD) {
            hd_phone_word *w = &u->words[u->n_words];
            w->byte_start = char_to_byte(text, len, e->text_pos);
            size_t end = char_to_byte(text, len, e->text_pos + (e->text_len > 0 ? e->text_len : 0));
            w->byte_len = end > w->byte_start ? end - w->byte_start : 0;
            w->first_phone = -1;
            cur_word = u->n_words++;
            continue;
        }
        /* leading silence becomes a pause phone */
        if (u->n_phones == 0 && s > 0) {
            hd_phone *p = &u->phones[u->n_phones++];
            strcpy(p->name, "_");
            p->word = -1;
            p->start = 0;
        }
        hd_phone *p = &u->phones[u->n_phones];
        memcpy(p->name, e->name, HD_PHONE_NAME_MAX);
        p->name[HD_PHONE_NAME_MAX] = 0;
        if (!p->name[0]) strcpy(p->name, "_");
        p->word = hd_phone_is_pause(p->name) ? -1 : cur_word;
        p->start = s;
        /* a phone of zero length is replaced by the next one */
        if (u->n_phones > 0 && u->phones[u->n_phones - 1].start == s) {
            u->phones[u->n_phones - 1] = *p;
        } else {
            u->n_phones++;
        }
        last = s;
    }
    /* the final zero-length pause espeak-ng reports at the end is dropped */
    while (u->n_phones > 0 && u->phones[u->n_phones - 1].start >= c->n) u->n_phones--;
    for (int i = 0; i < u->n_phones; i++) u->phones[i].end = i + 1 < u->n_phones ? u->phones[i + 1].start : c->n;
    for (int i = 0; i < u->n_phones; i++) {
        int w = u->phones[i].word;
        if (w < 0 || w >= u->n_words) continue;
        if (u->words[w].first_phone < 0) u->words[w].first_phone = i;
        u->words[w].n_phones = i - u->words[w].first_phone + 1;
    }
    for (int w = 0; w < u->n_words; w++)
        if (u->words[w].first_phone < 0) u->words[w].first_phone = 0, u->words[w].n_phones = 0;
    if (u->n_words == 0) {   /* no word: nothing to say, however much silence espeak-ng made */
        u->n_phones = 0;
        return HD_OK;
    }
    u->audio = c->audio;
    u->n_samples = c->n;
    c->audio = NULL;
    return HD_OK;
}

hd_status hd_phonemes_synth(const char *text, size_t len, const hd_phonemes_params *p, hd_utterance *out,
                            hd_error *err) {
    if (!out) return hd_error_set(err, HD_ERR_ARG, "espeak-ng: no output");
    memset(out, 0, sizeof *out);
    if (!text && len) return hd_error_set(err, HD_ERR_ARG, "espeak-ng: NULL text");
    hd_phonemes_params d = hd_phonemes_default_params();
    if (!p) p = &d;
    const char *voice = p->voice && p->voice[0] ? p->voice : "en-us";
    int wpm = p->rate_wpm ? p->rate_wpm : 175;
    if (wpm < espeakRATE_MINIMUM || wpm > espeakRATE_MAXIMUM)
        return hd_error_set(err, HD_ERR_ARG, "espeak-ng: rate %d words per minute is outside %d..%d", wpm,
                            espeakRATE_MINIMUM, espeakRATE_MAXIMUM);
    if (p->pitch > 100) return hd_error_set(err, HD_ERR_ARG, "espeak-ng: pitch %d is outside 0..100", p->pitch);
    if (strlen(voice) >= sizeof g_voice) return hd_error_set(err, HD_ERR_ARG, "espeak-ng: voice name too long");
    /* espeak-ng wants a NUL-terminated copy */
    char *t = malloc(len + 1);
    if (!t) return hd_error_set(err, HD_ERR_NOMEM, "espeak-ng: out of memory");
    if (len) memcpy(t, text, len);
    t[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (!t[i]) t[i] = ' ';   /* an embedded NUL would end the text early */

    collect c = {0};
    hd_status st = HD_OK;
    pthread_mutex_lock(&g_lock);
    if ((st = ensure_init(err))) goto unlock;
    if (strcmp(g_voice, voice) != 0) {
        /* a voice name ("en-us", "en-us+klatt"), else a language ("en-gb") */
        if (espeak_SetVoiceByName(voice) != EE_OK && !set_language(voice)) {
            g_voice[0] = 0;
            st = hd_error_set(err, HD_ERR_ARG, "espeak-ng: unknown voice '%s'", voice);
            goto unlock;
        }
        strcpy(g_voice, voice);
    }
    espeak_SetParameter(espeakRATE, wpm, 0);
    espeak_SetParameter(espeakPITCH, p->pitch < 0 ? 50 : p->pitch, 0);
    g_collect = &c;
    espeak_ERROR e = espeak_Synth(t, len + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
    g_collect = NULL;
    if (c.oom) st = hd_error_set(err, HD_ERR_NOMEM, "espeak-ng: out of memory");
    else if (e != EE_OK) st = hd_error_set(err, HD_ERR_INTERNAL, "espeak-ng: synthesis failed (%d)", (int)e);
    else out->rate = g_rate;
unlock:
    pthread_mutex_unlock(&g_lock);
    if (!st) st = build(t, len, &c, out, err);
    free(t);
    free(c.audio);
    free(c.ev);
    if (st) hd_utterance_free(out);
    return st;
}
