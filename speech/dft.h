/* speech/dft.h — a complex DFT of any length n ≥ 1, in double, by mixed-radix
 * Cooley–Tukey over the prime factors of n (decimation in time; a generic
 * radix-p butterfly, so a large prime factor costs O(n·p)).
 *
 *     X[k] = Σ_t x[t] · e^{−2πi·k·t/n},   k = 0 .. n−1   (no normalisation)
 *
 * For the front ends whose FFT size is not a power of two (Whisper's
 * n_fft = 400 = 2⁴·5²); power-of-two real transforms use speech/fft.h.
 * The plan owns its twiddles and work buffers: one thread at a time.
 */
#ifndef HD_SPEECH_DFT_H
#define HD_SPEECH_DFT_H

#include "core/error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_dft hd_dft;

/* n: 1 .. 2^22.  Caller frees with hd_dft_free. */
hd_dft *hd_dft_create(size_t n, hd_error *err);
void hd_dft_free(hd_dft *d);                  /* NULL is a no-op */
size_t hd_dft_size(const hd_dft *d);

/* in_re/in_im: n values each (in_im NULL = real input, all zero); out_re,
 * out_im: n values each.  Outputs must not alias inputs. */
void hd_dft_forward(hd_dft *d, const double *in_re, const double *in_im, double *out_re, double *out_im);

#ifdef __cplusplus
}
#endif
#endif
