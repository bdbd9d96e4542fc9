/* speech/dft.c — mixed-radix complex DFT of any length (see dft.h). */
#include "dft.h"

#include <math.h>
#include <stdlib.h>

#define DFT_MAX_FACTORS 64

struct hd_dft {
    size_t n;
    int n_factors;
    size_t factor[DFT_MAX_FACTORS]; /* prime factors of n, smallest first       */
    double *wr, *wi;                /* [n] e^{−2πi·j/n}                         */
    double *ar, *ai;                /* [largest factor] one butterfly's inputs  */
};

hd_dft *hd_dft_create(size_t n, hd_error *err) {
    if (n < 1 || n > ((size_t)1 << 22)) {
        hd_error_set(err, HD_ERR_ARG, "dft: size %zu out of 1..4194304", n);
        return NULL;
    }
    hd_dft *d = calloc(1, sizeof *d);
    if (!d) goto nomem;
    d->n = n;
    size_t rest = n, pmax = 1;
    for (size_t p = 2; rest > 1;) {
        if (p * p > rest) p = rest; /* what is left is prime */
        if (rest % p == 0) {
            d->factor[d->n_factors++] = p;
            rest /= p;
            if (p > pmax) pmax = p;
        } else {
            p += (p == 2) ? 1 : 2;
        }
    }
    d->wr = malloc(n * sizeof *d->wr);
    d->wi = malloc(n * sizeof *d->wi);
    d->ar = malloc(pmax * sizeof *d->ar);
    d->ai = malloc(pmax * sizeof *d->ai);
    if (!d->wr || !d->wi || !d->ar || !d->ai) goto nomem;
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t j = 0; j < n; j++) {
        const double a = two_pi * (double)j / (double)n;
        d->wr[j] = cos(a);
        d->wi[j] = -sin(a);
    }
    return d;
nomem:
    hd_dft_free(d);
    hd_error_set(err, HD_ERR_NOMEM, "dft: out of memory for size %zu", n);
    return NULL;
}

void hd_dft_free(hd_dft *d) {
    if (!d) return;
    free(d->wr), free(d->wi), free(d->ar), free(d->ai);
    free(d);
}

size_t hd_dft_size(const hd_dft *d) { return d ? d->n : 0; }

/* DFT of the m = len values x[0], x[stride], x[2·stride], ... into y[0 .. len).
 * tw = n / len: the step through the length-n twiddle table. */
static void dft_rec(hd_dft *d, const double *xr, const double *xi, size_t stride, double *yr, double *yi, size_t len,
                    int fi, size_t tw) {
    if (len == 1) {
        yr[0] = xr[0];
        yi[0] = xi ? xi[0] : 0.0;
        return;
    }
    const size_t p = d->factor[fi], m = len / p, n = d->n;
    for (size_t r = 0; r < p; r++)
        dft_rec(d, xr + r * stride, xi ? xi + r * stride : NULL, stride * p, yr + r * m, yi + r * m, m, fi + 1,
                tw * p);
    /* y[q·m + k] = Σ_r W_len^{r·k} · Y_r[k] · W_p^{r·q}, Y_r = y[r·m ..];
     * table indices advance by additions mod n (no division in the loops) */
    const size_t wp = n / p; /* W_p^1 in the table */
    for (size_t k = 0; k < m; k++) {
        const size_t step = (k * tw) % n; /* W_len^k */
        size_t j = 0;
        for (size_t r = 0; r < p; r++) {
            const double br = yr[r * m + k], bi = yi[r * m + k];
            d->ar[r] = br * d->wr[j] - bi * d->wi[j];
            d->ai[r] = br * d->wi[j] + bi * d->wr[j];
            j += step;
            if (j >= n) j -= n;
        }
        if (p == 2) {
            yr[k] = d->ar[0] + d->ar[1], yi[k] = d->ai[0] + d->ai[1];
            yr[m + k] = d->ar[0] - d->ar[1], yi[m + k] = d->ai[0] - d->ai[1];
            continue;
        }
        size_t qstep = 0; /* W_p^q */
        for (size_t q = 0; q < p; q++) {
            double sr = d->ar[0], si = d->ai[0];
            size_t jj = qstep;
            for (size_t r = 1; r < p; r++) {
                sr += d->ar[r] * d->wr[jj] - d->ai[r] * d->wi[jj];
                si += d->ar[r] * d->wi[jj] + d->ai[r] * d->wr[jj];
                jj += qstep;
                if (jj >= n) jj -= n;
            }
            yr[q * m + k] = sr;
            yi[q * m + k] = si;
            qstep += wp;
        }
    }
}

void hd_dft_forward(hd_dft *d, const double *in_re, const double *in_im, double *out_re, double *out_im) {
    dft_rec(d, in_re, in_im, 1, out_re, out_im, d->n, 0, 1);
}
