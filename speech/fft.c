/* speech/fft.c — real FFT through a half-length complex radix-2 FFT (see fft.h). */
#include "fft.h"

#include <math.h>
#include <stdlib.h>

struct hd_rfft {
    size_t n, h;       /* n real points, h = n/2 complex points             */
    double *wr, *wi;   /* [h/2] twiddles e^{-2πij/h} of the complex FFT      */
    double *sr, *si;   /* [h] split twiddles e^{-2πik/n}                     */
    size_t *rev;       /* [h] bit-reversed index                             */
    double *zr, *zi;   /* [h] work buffer                                    */
};

hd_rfft *hd_rfft_create(size_t n, hd_error *err) {
    if (n < 4 || n > ((size_t)1 << 20) || (n & (n - 1)))
        return hd_error_set(err, HD_ERR_ARG, "fft: size %zu is not a power of two in 4 .. 2^20", n), NULL;
    hd_rfft *f = calloc(1, sizeof *f);
    const size_t h = n / 2;
    if (f) {
        f->n = n, f->h = h;
        f->wr = malloc(h / 2 * sizeof(double));
        f->wi = malloc(h / 2 * sizeof(double));
        f->sr = malloc(h * sizeof(double));
        f->si = malloc(h * sizeof(double));
        f->rev = malloc(h * sizeof(size_t));
        f->zr = malloc(h * sizeof(double));
        f->zi = malloc(h * sizeof(double));
    }
    if (!f || !f->wr || !f->wi || !f->sr || !f->si || !f->rev || !f->zr || !f->zi) {
        hd_rfft_free(f);
        return hd_error_set(err, HD_ERR_NOMEM, "fft: out of memory"), NULL;
    }
    for (size_t j = 0; j < h / 2; j++) {
        const double a = -2.0 * M_PI * (double)j / (double)h;
        f->wr[j] = cos(a), f->wi[j] = sin(a);
    }
    for (size_t k = 0; k < h; k++) {
        const double a = -2.0 * M_PI * (double)k / (double)n;
        f->sr[k] = cos(a), f->si[k] = sin(a);
    }
    unsigned bits = 0;
    while (((size_t)1 << bits) < h) bits++;
    for (size_t i = 0; i < h; i++) {
        size_t r = 0;
        for (unsigned b = 0; b < bits; b++) r |= ((i >> b) & 1u) << (bits - 1 - b);
        f->rev[i] = r;
    }
    return f;
}

void hd_rfft_free(hd_rfft *f) {
    if (!f) return;
    free(f->wr), free(f->wi), free(f->sr), free(f->si), free(f->rev), free(f->zr), free(f->zi);
    free(f);
}

size_t hd_rfft_size(const hd_rfft *f) { return f->n; }

void hd_rfft_forward(hd_rfft *f, const double *x, double *re, double *im) {
    const size_t h = f->h;
    double *zr = f->zr, *zi = f->zi;
    /* pack even/odd samples as one complex sequence, in bit-reversed order */
    for (size_t j = 0; j < h; j++) {
        const size_t r = f->rev[j];
        zr[r] = x[2 * j];
        zi[r] = x[2 * j + 1];
    }
    /* iterative decimation-in-time butterflies */
    for (size_t len = 2; len <= h; len <<= 1) {
        const size_t half = len / 2, step = h / len;
        for (size_t s = 0; s < h; s += len) {
            for (size_t j = 0; j < half; j++) {
                const double wr = f->wr[j * step], wi = f->wi[j * step];
                const size_t a = s + j, b = a + half;
                const double tr = zr[b] * wr - zi[b] * wi;
                const double ti = zr[b] * wi + zi[b] * wr;
                zr[b] = zr[a] - tr, zi[b] = zi[a] - ti;
                zr[a] += tr, zi[a] += ti;
            }
        }
    }
    /* split: E[k] = (Z[k] + conj Z[h-k]) / 2 (even samples' spectrum),
     *        O[k] = (Z[k] − conj Z[h-k]) / 2i (odd samples' spectrum),
     *        X[k] = E[k] + e^{−2πik/n} O[k]. */
    for (size_t k = 0; k <= h; k++) {
        const size_t a = k % h, b = (h - k) % h;
        const double er = 0.5 * (zr[a] + zr[b]), ei = 0.5 * (zi[a] - zi[b]);
        const double or_ = 0.5 * (zi[a] + zi[b]), oi = -0.5 * (zr[a] - zr[b]);
        const double c = k < h ? f->sr[k] : -1.0, s = k < h ? f->si[k] : 0.0;
        re[k] = er + c * or_ - s * oi;
        im[k] = ei + c * oi + s * or_;
    }
}
