/* speech/tts.h — streaming text-to-speech (SPEC §5): text in, audio out, as
 * the text arrives.
 *
 *   text pieces ──► segmenter ──► TN ──► espeak-ng phones ──► [prosody model] ──► vocoder ──► audio callback
 *
 * hd_tts_push takes text in any pieces (LM tokens, stdin reads).  As soon as
 * a sentence is complete (".", "!", "?", ";" or ":" followed by white space,
 * or a line break; "Dr." and other abbreviations do not end one) it is
 * normalised (speech/tn.h, unless disabled), phonemised and rendered by
 * espeak-ng (speech/phonemes.h), given the prosody model's per-phone
 * duration, F0 and power when a model is attached (speech/prosody.h), and
 * rendered by the vocoder (speech/vocoder.h); its audio goes to the callback
 * before hd_tts_push returns.  A sentence still growing past 150 bytes is cut
 * at its last ", " (or, past 400, its last space) so audio does not wait for
 * a very long sentence.  hd_tts_finish renders whatever text remains.
 *
 * One hd_tts is used by one thread at a time.
 */
#ifndef HD_SPEECH_TTS_H
#define HD_SPEECH_TTS_H

#include "phonemes.h"
#include "prosody.h"
#include "tn_model.h"
#include "vocoder.h"

#include "core/error.h"
#include "core/exec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_tts hd_tts;

/* Receives n mono samples at the engine's rate; the buffer is only valid
 * during the call.  A non-OK return stops the engine with that error. */
typedef hd_status (*hd_tts_audio_fn)(void *user, const float *pcm, int64_t n, hd_error *err);

typedef struct hd_tts_params {
    const char *voice;      /* espeak-ng voice ("en-us+klatt", "en-us", "en-gb", "en-us+f3"); NULL = "en-us+klatt" */
    int rate_wpm;           /* speaking rate, 80..450 words per minute (0 = 175)              */
    int pitch;              /* espeak-ng base pitch 0..100, negative = 50                     */
    int sample_rate;        /* output rate, 8000..48000 (16000 or 22050 typical); 0 = 22050   */
    bool no_normalize;      /* skip text normalisation                                        */
    /* TN tagger (borrowed, may be NULL: the rule-based normaliser decides
     * alone).  When given, each sentence's TN tokens are tagged by it and
     * the tags drive the rules (speech/tn_model.h); runs on `ex`. */
    const hd_tn_model *tn;
    /* Prosody model (borrowed, may be NULL: espeak-ng's own prosody).  When
     * given, `ex` runs it (borrowed; NULL = the calling thread, no pool). */
    const hd_prosody_model *prosody;
    hd_exec *ex;
} hd_tts_params;

hd_tts_params hd_tts_default_params(void);

/* The engine keeps `fn`/`user` (borrowed) and copies the voice name.  Fails
 * with HD_ERR_ARG for bad parameters or an unknown voice (checked here by
 * rendering nothing), HD_ERR_IO when espeak-ng cannot start. */
hd_tts *hd_tts_create(const hd_tts_params *p, hd_tts_audio_fn fn, void *user, hd_error *err);
void hd_tts_free(hd_tts *t);   /* NULL no-op */

/* Appends text[0, len) (UTF-8, any piece boundaries, even inside a UTF-8
 * sequence) and renders every sentence it completes. */
hd_status hd_tts_push(hd_tts *t, const char *text, size_t len, hd_error *err);
/* Renders the rest of the text.  The engine may be pushed to again after. */
hd_status hd_tts_finish(hd_tts *t, hd_error *err);

int hd_tts_sample_rate(const hd_tts *t);

/* Counters since creation. */
typedef struct hd_tts_stats {
    int64_t sentences;     /* segments rendered            */
    int64_t phones;        /* phones rendered              */
    int64_t samples;       /* samples given to the callback */
} hd_tts_stats;
hd_tts_stats hd_tts_get_stats(const hd_tts *t);

/* The prosody model's targets for an utterance rendered by espeak-ng:
 * per phone, id from the model's inventory, features (word start, word end,
 * pause, last phone), chunk = the word; no Llama tokens.  The predictions
 * exp(log duration) · 175/rate_wpm, exp(log F0), exp(log power) are clamped to
 * what a voice can do: 10 ms..2 s, 50..400 Hz, power ≤ 1.  out[u->n_phones]. */
hd_status hd_tts_prosody_targets(const hd_prosody_model *m, hd_exec *ex, const hd_utterance *u, int rate_wpm,
                                 hd_phone_prosody *out, hd_error *err);

/* The next segment boundary in text[0, len): the number of bytes of the
 * first complete segment (including the punctuation and following white
 * space), or 0 when no segment is complete yet.  `final` = no more text
 * follows (then a trailing "." ends a segment too).  Exposed for tests. */
size_t hd_tts_segment_end(const char *text, size_t len, bool final);

#ifdef __cplusplus
}
#endif
#endif
