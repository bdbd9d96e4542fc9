/* speech/phonemes.h — phonemes, word/phone alignment and a reference
 * rendering through libespeak-ng.
 *
 * hd_phonemes_synth hands (already normalised) text to espeak-ng, which
 * renders it with its own formant voice at 22 050 Hz, and records from its
 * events where every phone and every word starts in that audio.  The phones
 * (espeak-ng mnemonics: "h", "@", "oU", "_:" for a pause ...) are the
 * linguistic units of the prosody model and the vocoder; the audio is the
 * vocoder's source signal.  Phone i spans samples [start, end) with
 * end == phones[i+1].start, and the last phone ends at n_samples; silence
 * before the first phone is phone 0 "_" (a pause).
 *
 * espeak-ng keeps global state, so every call is serialised on one process
 * wide lock; calls from several threads are safe but do not run in parallel.
 */
#ifndef HD_SPEECH_PHONEMES_H
#define HD_SPEECH_PHONEMES_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_PHONE_NAME_MAX 8

typedef struct hd_phone {
    char name[HD_PHONE_NAME_MAX + 1];   /* espeak-ng mnemonic, NUL-terminated       */
    int word;                           /* index into words[], -1 for a pause        */
    int64_t start, end;                 /* samples of the rendering, end exclusive   */
} hd_phone;

typedef struct hd_phone_word {
    size_t byte_start, byte_len;        /* span of the word in the synthesised text  */
    int first_phone, n_phones;          /* phones[first_phone, first_phone+n_phones) */
} hd_phone_word;

/* One rendered utterance.  All arrays are owned; free with
 * hd_utterance_free (NULL no-op). */
typedef struct hd_utterance {
    hd_phone *phones;
    int n_phones;
    hd_phone_word *words;
    int n_words;
    float *audio;          /* [n_samples] mono, [-1, 1] */
    int64_t n_samples;
    int rate;              /* 22050 */
} hd_utterance;

typedef struct hd_phonemes_params {
    const char *voice;     /* espeak-ng voice name ("en-us", "en-us+klatt", "en-us+f3") or language ("en-gb"); NULL = "en-us" */
    int rate_wpm;          /* speaking rate, words per minute, 80..450 (0 = 175) */
    int pitch;             /* espeak base pitch 0..100 (negative = default 50) */
} hd_phonemes_params;

hd_phonemes_params hd_phonemes_default_params(void);

/* Renders text[0, len) (UTF-8).  On success *out holds the utterance (a text
 * with no word to say gives zero phones and zero samples).  Errors:
 * HD_ERR_ARG (bad parameters, unknown voice), HD_ERR_IO (espeak-ng data not
 * found), HD_ERR_NOMEM. */
hd_status hd_phonemes_synth(const char *text, size_t len, const hd_phonemes_params *p, hd_utterance *out,
                            hd_error *err);

void hd_utterance_free(hd_utterance *u);   /* frees the arrays, zeroes *u */

/* Whether the phone is a pause (espeak-ng names starting with '_'). */
bool hd_phone_is_pause(const char *name);

#ifdef __cplusplus
}
#endif
#endif
