/* speech/vocoder.h — renders phones with given durations, F0 and power.
 *
 * The source signal is espeak-ng's own rendering of the utterance
 * (speech/phonemes.h), which is intelligible out of the box.  Prosody is
 * imposed on it by time-domain pitch-synchronous overlap-add (TD-PSOLA):
 *
 *   1. analysis: an F0 track (normalised cross-correlation, 5 ms hop, 55 to
 *      450 Hz) and pitch marks, one per period at the waveform peak in
 *      voiced stretches and every 5 ms elsewhere;
 *   2. time warp: phone i's source span [start, end) maps linearly onto an
 *      output span of the target duration;
 *   3. synthesis: output marks are laid one period apart, a period being the
 *      nearest source mark's period scaled by f0_source(i) / f0_target(i)
 *      (so the phone's mean F0 becomes the target and espeak-ng's contour
 *      inside the phone is kept; the ratio is clamped to [0.5, 2]); each
 *      output mark receives the nearest source grain, Hann-windowed over the
 *      periods on either side;
 *   4. power: a gain per phone brings its mean square to the target (5 ms
 *      linear ramps across phone boundaries);
 *   5. the result (22 050 Hz) is resampled to the requested rate.
 *
 * Without targets the source audio is returned (resampled) unchanged.
 */
#ifndef HD_SPEECH_VOCODER_H
#define HD_SPEECH_VOCODER_H

#include "phonemes.h"

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prosody of one phone. */
typedef struct hd_phone_prosody {
    float dur;     /* seconds                                        */
    float f0;      /* mean F0 over the voiced part, Hz; 0 = unvoiced  */
    float power;   /* mean square of the samples (full scale = 1)    */
} hd_phone_prosody;

/* F0 track: frame k is centred on sample k * hop, hop = rate / 200 (5 ms);
 * f0[k] in Hz or 0 where unvoiced.  Returns the frame count for n samples. */
int64_t hd_f0_frames(int64_t n, int rate);
/* f0 has room for hd_f0_frames(n, rate) values.  HD_ERR_ARG for a rate
 * outside 8000..96000. */
hd_status hd_f0_track(const float *x, int64_t n, int rate, float *f0, hd_error *err);

/* Measured prosody of every phone of u into out[u->n_phones]. */
hd_status hd_vocoder_analyze(const hd_utterance *u, hd_phone_prosody *out, hd_error *err);

/* Mean F0 and power of x over the spans [bounds[i], bounds[i+1]) (samples),
 * i < n_spans, as hd_vocoder_analyze measures them (dur = span / rate). */
hd_status hd_vocoder_measure_spans(const float *x, int64_t n, int rate, const int64_t *bounds, int n_spans,
                                   hd_phone_prosody *out, hd_error *err);

/* Renders u with per-phone targets (target[u->n_phones], NULL = as spoken by
 * espeak-ng) at out_rate (8000..48000).  *pcm is malloc'ed (caller frees),
 * *n_out its length.  Targets must be finite with dur >= 0, f0 >= 0,
 * power >= 0 (HD_ERR_ARG otherwise); a dur of 0 drops the phone. */
hd_status hd_vocoder_render(const hd_utterance *u, const hd_phone_prosody *target, int out_rate, float **pcm,
                            int64_t *n_out, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
