/* speech/fft.h — a real-input FFT of power-of-two length, in double.
 *
 * The n real samples are packed as n/2 complex values z[j] = x[2j] + i·x[2j+1],
 * transformed by an iterative radix-2 complex FFT of length n/2, and split
 * into the n/2 + 1 non-redundant bins of the real spectrum:
 *   X[k] = (Z[k] + conj Z[n/2-k]) / 2 − i·e^{−2πik/n} (Z[k] − conj Z[n/2-k]) / 2.
 * X[k] = Σ_t x[t]·e^{−2πikt/n} (no normalisation), k = 0 .. n/2.
 *
 * The plan owns its twiddle tables and one work buffer, so one plan serves
 * one thread at a time.
 */
#ifndef HD_SPEECH_FFT_H
#define HD_SPEECH_FFT_H

#include "core/error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_rfft hd_rfft;

/* n: a power of two, 4 .. 2^20.  Caller frees with hd_rfft_free. */
hd_rfft *hd_rfft_create(size_t n, hd_error *err);
void hd_rfft_free(hd_rfft *f);               /* NULL is a no-op */
size_t hd_rfft_size(const hd_rfft *f);

/* x: n real samples (not modified); re, im: n/2 + 1 bins each. */
void hd_rfft_forward(hd_rfft *f, const double *x, double *re, double *im);

#ifdef __cplusplus
}
#endif
#endif
