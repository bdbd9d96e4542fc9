/* media/audio_resample.h — streaming sample-rate conversion by a polyphase
 * windowed-sinc filter.
 *
 * The ratio out/in is reduced to L/M.  Output sample n sits at input time
 * t = n*M/L; it is the dot product of the K = 2*half input samples around t
 * with the lowpass h(x) = fc*sinc(fc*x)*kaiser(x/half), x = offset from t in
 * input samples, fc = rolloff * min(1, out/in) (the -6 dB point), half =
 * ceil(zeros/fc).  Defaults (zeros 16, rolloff 0.94, Kaiser beta 8.6) at
 * 44.1 kHz -> 16 kHz: 94 taps, flat (error < 2e-5) to 6 kHz, -2 dB near
 * 7 kHz after two passes, a 12 kHz tone (alias at 4 kHz) at -98 dB.
 * Coefficients are tabulated for every phase k/L when L <= 1024 (exact), else
 * for 1024 phases with linear interpolation between neighbours.  Each phase is
 * normalized to unit DC gain.  The filter is centred on t (no delay), so
 * output n of a stream always lines up with input time n/out_rate; flushing
 * pads the end with zeros and emits ceil(n_in * L / M) samples in total, so
 * duration is preserved to within one output sample.
 */
#ifndef HD_MEDIA_AUDIO_RESAMPLE_H
#define HD_MEDIA_AUDIO_RESAMPLE_H

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_resampler hd_resampler;

typedef struct hd_resampler_params {
    int zeros;        /* sinc zero crossings per side (filter quality), default 16 */
    double rolloff;   /* cutoff as a fraction of the lower Nyquist, default 0.94 */
    double beta;      /* Kaiser window beta, default 8.6 */
} hd_resampler_params;

hd_resampler_params hd_resampler_default_params(void);
/* Caller frees with hd_resampler_free (NULL no-op). */
hd_resampler *hd_resampler_create(int in_rate, int out_rate, int channels, const hd_resampler_params *params,
                                  hd_error *err);
void hd_resampler_free(hd_resampler *r);

/* Upper bound of the frames the next process call (with n_in input frames)
 * or flush (n_in = 0) can return. */
int64_t hd_resampler_max_out(const hd_resampler *r, int64_t n_in);
/* Feeds n_in interleaved frames [n_in, channels] and writes the output frames
 * now computable into out (room for hd_resampler_max_out(r, n_in) frames);
 * returns the count, or -1 (err set). */
int64_t hd_resampler_process(hd_resampler *r, const float *in, int64_t n_in, float *out, hd_error *err);
/* End of input: writes the remaining frames; returns the count. */
int64_t hd_resampler_flush(hd_resampler *r, float *out);
/* Taps per output sample (for tests and --list). */
int hd_resampler_taps(const hd_resampler *r);

#ifdef __cplusplus
}
#endif
#endif
