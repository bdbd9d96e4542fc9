/* tests/unit/test_tts.c — speech/phonemes.c, speech/vocoder.c, speech/tts.c:
 * espeak-ng word/phone alignment; the vocoder imposing per-phone durations,
 * F0 and power (output length and the measured pitch/power of each phone
 * follow the targets, for scaled targets and for a random prosody model's
 * predictions); the segmenter; streaming (audio of a sentence comes out as
 * soon as its text is complete); errors.  (Intelligibility through
 * pocketsphinx: tests/e2e/test_speak.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/random_model_impl.h"
#include "speech/phonemes.h"
#include "speech/prosody.h"
#include "speech/tts.h"
#include "speech/vocoder.h"
#include "testutil.h"

extern const hd_rm_arch hd_rm_arch_prosody;
extern const hd_rm_arch hd_rm_arch_tn;

static const char *const SENTENCE = "The quick brown fox jumps over the lazy dog.";
static const char *const LONG_TEXT =
    "The quick brown fox jumps over the lazy dog, while seven old men sing a slow song about the open sea.";
static const hd_phonemes_params VOICE = {.voice = "en-us+klatt", .rate_wpm = 175, .pitch = -1};

static void test_alignment(void **state) {
    (void)state;
    const char *text = "Hello world, this is a test.";
    hd_utterance u;
    hd_error err = {0};
    assert_int_equal(hd_phonemes_synth(text, strlen(text), &VOICE, &u, &err), HD_OK);
    assert_int_equal(u.rate, 22050);
    assert_int_equal(u.n_words, 6);
    static const char *const words[] = {"Hello", "world", "this", "is", "a", "test"};
    for (int w = 0; w < 6; w++) {
        assert_int_equal(u.words[w].byte_len, strlen(words[w]));
        assert_memory_equal(text + u.words[w].byte_start, words[w], strlen(words[w]));
        assert_true(u.words[w].n_phones >= 1);
        for (int i = u.words[w].first_phone; i < u.words[w].first_phone + u.words[w].n_phones; i++)
            assert_int_equal(u.phones[i].word, w);
    }
    /* "world" is w 3: l d in espeak-ng's English */
    const hd_phone_word *ww = &u.words[1];
    assert_string_equal(u.phones[ww->first_phone].name, "w");
    assert_string_equal(u.phones[ww->first_phone + ww->n_phones - 1].name, "d");
    /* phones tile the audio */
    assert_int_equal(u.phones[0].start, 0);
    for (int i = 0; i + 1 < u.n_phones; i++) {
        assert_int_equal(u.phones[i].end, u.phones[i + 1].start);
        assert_true(u.phones[i].end > u.phones[i].start);
        if (u.phones[i].word < 0) assert_true(hd_phone_is_pause(u.phones[i].name));
    }
    assert_int_equal(u.phones[u.n_phones - 1].end, u.n_samples);
    /* the comma gives a pause between "world" and "this" */
    bool pause = false;
    for (int i = ww->first_phone + ww->n_phones; i < u.words[2].first_phone; i++) pause |= hd_phone_is_pause(u.phones[i].name);
    assert_true(pause);
    hd_utterance_free(&u);
    hd_utterance_free(&u);   /* zeroed: a second free is harmless */

    /* nothing to say */
    assert_int_equal(hd_phonemes_synth("", 0, &VOICE, &u, &err), HD_OK);
    assert_int_equal(u.n_phones, 0);
    hd_utterance_free(&u);
    hd_phonemes_params bad = VOICE;
    bad.voice = "no-such-voice";
    assert_int_equal(hd_phonemes_synth("x", 1, &bad, &u, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "no-such-voice"));
    bad = VOICE;
    bad.rate_wpm = 1000;
    assert_int_equal(hd_phonemes_synth("x", 1, &bad, &u, &err), HD_ERR_ARG);
}

/* Output spans of the phones at `rate` for targets tg (as the vocoder lays them). */
static int64_t *out_bounds(const hd_phone_prosody *tg, int n, int rate) {
    int64_t *b = malloc(((size_t)n + 1) * sizeof *b);
    double acc = 0;
    b[0] = 0;
    for (int i = 0; i < n; i++) acc += tg[i].dur, b[i + 1] = (int64_t)llround(acc * rate);
    return b;
}

/* Renders u with tg at 16 kHz and checks length, F0 and power per phone. */
static void check_imposed(const hd_utterance *u, const hd_phone_prosody *src, const hd_phone_prosody *tg) {
    const int rate = 16000, n = u->n_phones;
    float *y = NULL;
    int64_t ny = 0;
    hd_error err = {0};
    assert_int_equal(hd_vocoder_render(u, tg, rate, &y, &ny, &err), HD_OK);
    double total = 0;
    for (int i = 0; i < n; i++) total += tg[i].dur;
    /* duration: the sum of the targets (resampling rounds to a sample) */
    assert_true(fabs((double)ny - total * rate) <= 2.0);
    int64_t *b = out_bounds(tg, n, rate);
    hd_phone_prosody *got = malloc((size_t)n * sizeof *got);
    assert_int_equal(hd_vocoder_measure_spans(y, ny, rate, b, n, got, &err), HD_OK);
    int f_n = 0, f_ok = 0, p_n = 0, p_ok = 0;
    double f_err[256];
    for (int i = 0; i < n; i++) {
        if (hd_phone_is_pause(u->phones[i].name) || tg[i].dur < 0.04) continue;
        /* pitch is checked on vowels (a consonant's burst has no pitch to follow) */
        if (strchr("aeiouAEIOUV03@", u->phones[i].name[0]) && src[i].f0 > 0 && got[i].f0 > 0) {
            double e = fabs(got[i].f0 / tg[i].f0 - 1);
            if (f_n < 256) f_err[f_n] = e;
            f_n++, f_ok += e < 0.08;
        }
        if (src[i].power > 1e-5 && tg[i].power > 0) {
            double db = 10 * log10(got[i].power / tg[i].power);
            p_n++, p_ok += fabs(db) < 2.0;
        }
    }
    assert_true(f_n >= 15 && f_n <= 256 && p_n >= 20);
    /* median F0 error (a few phones may be off by the tracker's octave errors) */
    for (int a = 1; a < f_n; a++)
        for (int k = a; k > 0 && f_err[k] < f_err[k - 1]; k--) {
            double t = f_err[k];
            f_err[k] = f_err[k - 1], f_err[k - 1] = t;
        }
    double med = f_err[f_n / 2];
    print_message("imposed: F0 within 8%% for %d/%d vowels (median error %.1f%%), power within 2 dB for %d/%d\n",
                  f_ok, f_n, 100 * med, p_ok, p_n);
    assert_true(f_ok >= 0.8 * f_n);
    assert_true(med < 0.04);
    assert_true(p_ok >= 0.8 * p_n);
    free(b);
    free(got);
    free(y);
}

static void test_vocoder_imposes_scaled_prosody(void **state) {
    (void)state;
    hd_utterance u;
    hd_error err = {0};
    assert_int_equal(hd_phonemes_synth(LONG_TEXT, strlen(LONG_TEXT), &VOICE, &u, &err), HD_OK);
    const int n = u.n_phones;
    hd_phone_prosody *src = malloc((size_t)n * sizeof *src), *tg = malloc((size_t)n * sizeof *tg);
    assert_int_equal(hd_vocoder_analyze(&u, src, &err), HD_OK);
    /* slower, higher, louder: alternate the factors so the phones differ */
    for (int i = 0; i < n; i++) {
        tg[i] = src[i];
        tg[i].dur *= i % 2 ? 1.5f : 0.8f;
        tg[i].f0 *= i % 3 ? 1.25f : 0.85f;
        tg[i].power *= i % 2 ? 2.0f : 0.5f;
    }
    check_imposed(&u, src, tg);

    /* without targets: espeak-ng's audio as it is (22 050 Hz) */
    float *y;
    int64_t ny;
    assert_int_equal(hd_vocoder_render(&u, NULL, 22050, &y, &ny, &err), HD_OK);
    assert_int_equal(ny, u.n_samples);
    assert_memory_equal(y, u.audio, (size_t)ny * sizeof(float));
    free(y);
    /* bad targets and rates */
    tg[3].f0 = NAN;
    assert_int_equal(hd_vocoder_render(&u, tg, 16000, &y, &ny, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "phone 3"));
    tg[3].f0 = 100;
    tg[2].dur = -1;
    assert_int_equal(hd_vocoder_render(&u, tg, 16000, &y, &ny, &err), HD_ERR_ARG);
    assert_int_equal(hd_vocoder_render(&u, NULL, 4000, &y, &ny, &err), HD_ERR_ARG);
    free(src);
    free(tg);
    hd_utterance_free(&u);
}

static void test_f0_track(void **state) {
    (void)state;
    const int rate = 16000;
    const int64_t n = rate / 2;
    float *x = malloc((size_t)n * sizeof *x);
    /* a pulse-like periodic signal at 137 Hz, then silence */
    for (int64_t t = 0; t < n; t++) {
        double ph = fmod((double)t * 137.0 / rate, 1.0);
        x[t] = t < n / 2 ? (float)(0.5 * sin(2 * M_PI * ph) + 0.3 * sin(4 * M_PI * ph) + 0.2 * sin(6 * M_PI * ph)) : 0.0f;
    }
    int64_t nf = hd_f0_frames(n, rate);
    assert_int_equal(nf, n / 80 + 1);
    float *f0 = malloc((size_t)nf * sizeof *f0);
    hd_error err = {0};
    assert_int_equal(hd_f0_track(x, n, rate, f0, &err), HD_OK);
    for (int64_t k = 5; k < nf / 2 - 5; k++) assert_true(fabsf(f0[k] - 137.0f) < 1.5f);
    for (int64_t k = nf / 2 + 5; k < nf; k++) assert_true(f0[k] == 0.0f);
    assert_int_equal(hd_f0_track(x, n, 100, f0, &err), HD_ERR_ARG);
    free(x);
    free(f0);
}

static char g_model[512];

static void write_model(void) {
    if (g_model[0]) return;
    snprintf(g_model, sizeof g_model, "%s/tts-prosody-tiny.gguf", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "prosody";
    p.preset = "tiny";
    p.seed = 11;
    hd_error err = {0};
    assert_int_equal(hd_rm_arch_prosody.write(&p, g_model, &err), HD_OK);
}

/* A prosody model's predictions show up in the audio. */
static void test_model_prosody_applies(void **state) {
    (void)state;
    write_model();
    hd_error err = {0};
    hd_prosody_model *m = hd_prosody_load(g_model, &err);
    assert_non_null(m);
    hd_utterance u;
    assert_int_equal(hd_phonemes_synth(LONG_TEXT, strlen(LONG_TEXT), &VOICE, &u, &err), HD_OK);
    const int n = u.n_phones;
    hd_phone_prosody *src = malloc((size_t)n * sizeof *src), *tg = malloc((size_t)n * sizeof *tg);
    assert_int_equal(hd_vocoder_analyze(&u, src, &err), HD_OK);
    assert_int_equal(hd_tts_prosody_targets(m, NULL, &u, 175, tg, &err), HD_OK);
    /* the model's prosody is not espeak-ng's */
    double dd = 0;
    for (int i = 0; i < n; i++) dd += fabs(log(tg[i].dur / src[i].dur));
    assert_true(dd / n > 0.1);
    check_imposed(&u, src, tg);
    /* rate scales the model's durations */
    hd_phone_prosody *fast = malloc((size_t)n * sizeof *fast);
    assert_int_equal(hd_tts_prosody_targets(m, NULL, &u, 350, fast, &err), HD_OK);
    for (int i = 0; i < n; i++)
        if (tg[i].dur > 0.02f && tg[i].dur < 2.0f) assert_true(fabsf(fast[i].dur - 0.5f * tg[i].dur) < 1e-4f + 0.01f * tg[i].dur);
    free(fast);
    free(src);
    free(tg);
    hd_utterance_free(&u);
    hd_prosody_free(m);
}

/* ---- segmentation and streaming ------------------------------------------------ */

static void test_segment_end(void **state) {
    (void)state;
    static const struct {
        const char *text;
        bool final;
        size_t end;
    } t[] = {
        {"Hello there. How", false, 12},
        {"Hello there.", false, 0},           /* the space after the dot has not arrived */
        {"Hello there.", true, 12},
        {"Wait! Go", false, 5},
        {"Really? Yes", false, 7},
        {"one; two", false, 4},
        {"line\nnext", false, 5},
        {"Dr. Smith is here. Yes", false, 18},
        {"Mr. and Mrs. Jones left. Ok", false, 24},
        {"J. R. R. Tolkien wrote it. Ok", false, 26},
        {"It costs 3.50 now. Ok", false, 18},
        {"apples, pears etc. and more. Ok", false, 28},
        {"apples, pears etc. Then more", false, 18},
        {"no end yet", false, 0},
        {"no end yet", true, 10},
        {"", true, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t e = hd_tts_segment_end(t[i].text, strlen(t[i].text), t[i].final);
        if (e != t[i].end) fail_msg("\"%s\": end %zu, expected %zu", t[i].text, e, t[i].end);
    }
    /* a long sentence is cut at its last ", " */
    char longs[400] = "";
    for (int i = 0; i < 12; i++) strcat(longs, "words and more words, ");
    size_t e = hd_tts_segment_end(longs, strlen(longs), false);
    assert_true(e > 150 && e <= strlen(longs));
    assert_true(longs[e - 2] == ',' && longs[e - 1] == ' ');
    assert_int_equal(hd_tts_segment_end(NULL, 5, true), 0);
}

/* Segment texts seen by on_segment. */
typedef struct seg_log {
    char text[8][128];
    int n;
} seg_log;

static hd_status log_segment(void *user, const hd_tts_segment *s, hd_error *err) {
    (void)err;
    seg_log *l = user;
    assert_true(l->n < 8 && s->len < 128);
    memcpy(l->text[l->n], s->text, s->len);
    l->text[l->n++][s->len] = 0;
    return HD_OK;
}

typedef struct capture {
    int calls;
    int64_t samples;
    float peak;
} capture;

static hd_status on_audio(void *user, const float *pcm, int64_t n, hd_error *err) {
    (void)err;
    capture *c = user;
    c->calls++;
    c->samples += n;
    for (int64_t i = 0; i < n; i++) c->peak = fmaxf(c->peak, fabsf(pcm[i]));
    return HD_OK;
}

static void test_streaming(void **state) {
    (void)state;
    capture c = {0};
    hd_error err = {0};
    hd_tts_params p = hd_tts_default_params();
    p.sample_rate = 16000;
    hd_tts *t = hd_tts_create(&p, on_audio, &c, &err);
    assert_non_null(t);
    assert_int_equal(hd_tts_sample_rate(t), 16000);
    /* byte by byte, as an LM would stream it: audio for a sentence comes as
     * soon as the white space after its full stop arrives */
    const char *text = "Hello there. It is 5 pm";
    size_t first_at = 0;
    for (size_t i = 0; text[i]; i++) {
        assert_int_equal(hd_tts_push(t, text + i, 1, &err), HD_OK);
        if (c.calls && !first_at) first_at = i + 1;
    }
    assert_int_equal(first_at, strlen("Hello there. "));
    assert_int_equal(c.calls, 1);
    int64_t first = c.samples;
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    assert_int_equal(c.calls, 2);
    assert_true(first > 16000 / 2 && first < 16000 * 3);
    assert_true(c.peak > 0.05f && c.peak <= 1.0f);
    hd_tts_stats st = hd_tts_get_stats(t);
    assert_int_equal(st.sentences, 2);
    assert_int_equal(st.samples, c.samples);
    /* a UTF-8 sequence split across pushes, and white space only */
    assert_int_equal(hd_tts_push(t, "Caf\xc3", 4, &err), HD_OK);
    assert_int_equal(hd_tts_push(t, "\xa9 noir.  \n", 10, &err), HD_OK);
    assert_int_equal(c.calls, 3);
    assert_int_equal(hd_tts_push(t, "   \n\n", 5, &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    assert_int_equal(c.calls, 3);
    hd_tts_free(t);
    hd_tts_free(NULL);

    /* slower speech is longer */
    capture slow = {0}, fast = {0};
    p.rate_wpm = 120;
    t = hd_tts_create(&p, on_audio, &slow, &err);
    assert_int_equal(hd_tts_push(t, SENTENCE, strlen(SENTENCE), &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    hd_tts_free(t);
    p.rate_wpm = 300;
    t = hd_tts_create(&p, on_audio, &fast, &err);
    assert_int_equal(hd_tts_push(t, SENTENCE, strlen(SENTENCE), &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    hd_tts_free(t);
    assert_true(slow.samples > 1.6 * fast.samples);

    /* errors */
    p = hd_tts_default_params();
    p.voice = "nope";
    assert_null(hd_tts_create(&p, on_audio, &c, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    p = hd_tts_default_params();
    p.sample_rate = 1000;
    assert_null(hd_tts_create(&p, on_audio, &c, &err));
    assert_null(hd_tts_create(NULL, NULL, &c, &err));
}

/* With a prosody model the engine's audio is the vocoder's rendering of the
 * model's targets. */
static void test_tts_with_model(void **state) {
    (void)state;
    write_model();
    hd_error err = {0};
    hd_prosody_model *m = hd_prosody_load(g_model, &err);
    assert_non_null(m);
    capture with = {0}, without = {0};
    hd_tts_params p = hd_tts_default_params();
    p.no_normalize = true;
    hd_tts *t = hd_tts_create(&p, on_audio, &without, &err);
    assert_int_equal(hd_tts_push(t, SENTENCE, strlen(SENTENCE), &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    hd_tts_free(t);
    p.prosody = m;
    t = hd_tts_create(&p, on_audio, &with, &err);
    assert_int_equal(hd_tts_push(t, SENTENCE, strlen(SENTENCE), &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    hd_tts_free(t);
    hd_utterance u;
    assert_int_equal(hd_phonemes_synth(SENTENCE, strlen(SENTENCE), &VOICE, &u, &err), HD_OK);
    hd_phone_prosody *tg = malloc((size_t)u.n_phones * sizeof *tg);
    assert_int_equal(hd_tts_prosody_targets(m, NULL, &u, 175, tg, &err), HD_OK);
    double total = 0;
    for (int i = 0; i < u.n_phones; i++) total += tg[i].dur;
    assert_int_equal(without.samples, u.n_samples);
    assert_true(fabs((double)with.samples - total * 22050) <= 1.0);
    assert_true(with.samples != without.samples);
    free(tg);
    hd_utterance_free(&u);
    hd_prosody_free(m);
}

/* With a TN tagger the engine speaks the tagged normalisation of the text. */
static void test_tts_with_tn_model(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tts-tn-tiny.gguf", tu_tmpdir());
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = "tn";
    rp.preset = "tiny";
    rp.seed = 1;
    hd_error err = {0};
    assert_int_equal(hd_rm_arch_tn.write(&rp, path, &err), HD_OK);
    hd_tn_model *m = hd_tn_model_load(path, &err);
    assert_non_null(m);
    const char *text = "Call 911 on 5/6/2021, said NASA.";
    hd_tn_token *tk;
    int n;
    assert_int_equal(hd_tn_tokenize(text, strlen(text), &tk, &n, &err), HD_OK);
    uint8_t *tags = malloc((size_t)n);
    assert_int_equal(hd_tn_model_run(m, NULL, text, tk, n, 0, NULL, NULL, NULL, tags, &err), HD_OK);
    char *norm = hd_tn_normalize_tagged(text, strlen(text), tk, n, tags, &err);
    assert_non_null(norm);
    hd_utterance u;
    assert_int_equal(hd_phonemes_synth(norm, strlen(norm), &VOICE, &u, &err), HD_OK);
    capture c = {0};
    hd_tts_params p = hd_tts_default_params();
    p.tn = m;
    hd_tts *t = hd_tts_create(&p, on_audio, &c, &err);
    assert_int_equal(hd_tts_push(t, text, strlen(text), &err), HD_OK);
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    assert_int_equal(c.samples, u.n_samples);
    hd_tts_free(t);
    hd_utterance_free(&u);
    free(norm), free(tags), free(tk);
    hd_tn_model_free(m);
}

/* first_cut: an utterance's first clause is spoken as soon as it is complete. */
static void test_first_clause(void **state) {
    (void)state;
    seg_log log = {0};
    capture c = {0};
    hd_error err = {0};
    hd_tts_params p = hd_tts_default_params();
    p.first_cut = 20;
    p.on_segment = log_segment;
    p.segment_user = &log;
    hd_tts *t = hd_tts_create(&p, on_audio, &c, &err);
    assert_non_null(t);
    const char *text = "Well, after a long day at the office, we went home, and slept. Then, later, it rained.";
    size_t first_at = 0;
    for (size_t i = 0; text[i]; i++) {   /* byte by byte */
        assert_int_equal(hd_tts_push(t, text + i, 1, &err), HD_OK);
        if (c.calls && !first_at) first_at = i + 1;
    }
    /* "Well," is too short a clause; the first ", " past 20 bytes ends it */
    assert_int_equal(first_at, strlen("Well, after a long day at the office, "));
    assert_int_equal(hd_tts_finish(t, &err), HD_OK);
    assert_int_equal(log.n, 3);   /* later commas stay in their sentences */
    assert_string_equal(log.text[0], "Well, after a long day at the office, ");
    assert_string_equal(log.text[1], "we went home, and slept.");
    assert_string_equal(log.text[2], "Then, later, it rained.");
    /* after finish a new utterance: its first clause is cut again */
    const char *again = "Once more, with a clause of some length, and the rest. ";
    assert_int_equal(hd_tts_push(t, again, strlen(again), &err), HD_OK);
    assert_int_equal(log.n, 5);
    assert_string_equal(log.text[3], "Once more, with a clause of some length, ");
    assert_string_equal(log.text[4], "and the rest.");
    hd_tts_free(t);
    p.first_cut = -1;
    assert_null(hd_tts_create(&p, on_audio, &c, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),        cmocka_unit_test(test_f0_track),
        cmocka_unit_test(test_vocoder_imposes_scaled_prosody), cmocka_unit_test(test_model_prosody_applies),
        cmocka_unit_test(test_segment_end),      cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_tts_with_model),   cmocka_unit_test(test_tts_with_tn_model),
        cmocka_unit_test(test_first_clause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
