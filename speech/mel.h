/* speech/mel.h — 80-bin log-mel filterbank features for the speech encoder,
 * computed incrementally from 16 kHz mono float samples (media/audio.h).
 *
 * Which front end, and why.  The Llama 3 paper states only "80-dimensional
 * mel-spectrogram features" at (implied) 10 ms frames; rate, window, FFT size
 * and normalisation are unknown (SPEC §4, §8).  herd computes exactly
 * Kaldi's `compute-fbank-feats` as torchaudio implements it:
 *
 *     torchaudio.compliance.kaldi.fbank(waveform * 32768, num_mel_bins=80,
 *         frame_length=25.0, frame_shift=10.0, dither=0.0,
 *         sample_frequency=16000.0)      # every other argument at its default
 *
 * i.e. window_type="povey" (Hann^0.85, symmetric), snip_edges=True,
 * remove_dc_offset=True, preemphasis_coefficient=0.97,
 * round_to_power_of_two=True (n_fft = 512), use_power=True (|X|²),
 * low_freq=20 Hz, high_freq=0 (= Nyquist, 8 kHz), Kaldi's HTK-style mel scale
 * 1127·ln(1 + f/700) with triangles equally spaced in mel (no area
 * normalisation), use_log_fbank=True with the floor max(E, FLT_EPSILON)
 * before the log, use_energy=False, no mean subtraction.
 *
 * Why this one: it is the documented standard front end of the published
 * Conformer ASR recipes (Kaldi, ESPnet, WeNet, icefall: 80-bin fbank,
 * 25 ms / 10 ms on 16 kHz, input scaled to the int16 range — the ×32768
 * above is WeNet's and Kaldi's convention), so any encoder trained with that
 * convention gets the features it expects.  And it is causal frame by frame:
 * with snip_edges each frame reads exactly the samples
 * [hop·i, hop·i + win) — no centring, no reflection padding at either end —
 * so streamed frames are identical to whole-signal frames and a frame is
 * final as soon as its last sample arrives.  (torchaudio.transforms.
 * MelSpectrogram with center=True needs the end of the signal for its last
 * frames and slaney/htk options that recipes disagree on.)
 *
 * Frames: n_frames(N) = 0 if N < win, else 1 + (N − win) / hop.  The tail
 * after the last full frame is not padded (as Kaldi).  Each frame is computed
 * in double (DC removal, pre-emphasis x[j] − 0.97·x[j−1] with x[−1] := x[0],
 * window, zero padding to n_fft, real FFT (speech/fft.h), power, mel
 * weights, log) and stored as float: the same samples give the same bits
 * whatever the chunking.
 *
 * Output layout: frame-major, n_mel floats per frame (ggml ne = {n_mel, T}).
 */
#ifndef HD_SPEECH_MEL_H
#define HD_SPEECH_MEL_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_mel_params {
    int rate;            /* sample rate, Hz (16000)                               */
    int n_mel;           /* mel bins (80)                                         */
    int win;             /* window length in samples (400 = 25 ms)                */
    int hop;             /* frame shift in samples (160 = 10 ms), 1 .. win        */
    int n_fft;           /* FFT size, a power of two ≥ win (512)                  */
    double preemph;      /* pre-emphasis coefficient (0.97), 0 = none             */
    bool remove_dc;      /* subtract each frame's mean first (true)               */
    double low_hz;       /* lowest triangle edge (20)                             */
    double high_hz;      /* highest edge; ≤ 0 means Nyquist + high_hz (0 → 8000)  */
    double input_scale;  /* samples are multiplied by this first (32768)          */
    double log_floor;    /* log(max(E, log_floor)) (FLT_EPSILON)                  */
} hd_mel_params;

/* The defaults above (the torchaudio call in the file comment). */
hd_mel_params hd_mel_default_params(void);

/* Frames a signal of n_samples samples gives. */
int64_t hd_mel_n_frames(const hd_mel_params *p, int64_t n_samples);

typedef struct hd_mel hd_mel;

/* Validates p (NULL = defaults); HD_ERR_ARG names the bad field.  The state
 * (filterbank, FFT plan, up to win − 1 pending samples) is the caller's:
 * hd_mel_free. */
hd_mel *hd_mel_create(const hd_mel_params *p, hd_error *err);
void hd_mel_free(hd_mel *m);                        /* NULL is a no-op */
const hd_mel_params *hd_mel_params_of(const hd_mel *m);

/* Frames the next push of n samples will complete. */
int64_t hd_mel_frames_after(const hd_mel *m, size_t n);

/* Appends n samples (any n, including 0) and writes every frame they
 * complete to out (n_mel floats per frame), *n_out of them.  max_frames is
 * out's capacity in frames; HD_ERR_ARG (nothing consumed) when it is less
 * than hd_mel_frames_after(m, n).  Non-finite samples are HD_ERR_ARG too. */
hd_status hd_mel_push(hd_mel *m, const float *x, size_t n, float *out, int64_t max_frames, int64_t *n_out,
                      hd_error *err);

/* Forgets pending samples and counters (a new signal). */
void hd_mel_reset(hd_mel *m);
int64_t hd_mel_samples_seen(const hd_mel *m);
int64_t hd_mel_frames_done(const hd_mel *m);

/* Whole signal at once: *out (malloc'd, caller frees; NULL when no frame)
 * gets hd_mel_n_frames(p, n) frames. */
hd_status hd_mel_compute(const hd_mel_params *p, const float *x, size_t n, float **out, int64_t *n_frames,
                         hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
