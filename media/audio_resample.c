/* media/audio_resample.c — polyphase windowed-sinc resampler (see audio_resample.h). */
#include "audio_resample.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PHASES 1024
#define MAX_TABLE_FLOATS (8u << 20)   /* 32 MiB of coefficients at most */

struct hd_resampler {
    int in_rate, out_rate, channels;
    int64_t L, M;          /* out/in = L/M, reduced                          */
    int half, K;           /* taps per side, taps = 2*half                   */
    int64_t P;             /* tabulated phases (== L when exact)             */
    float *bank;           /* [P+1][K]: row i = phase i/P                    */
    float *coef;           /* [K] scratch for interpolated phases           */

    float *hist;           /* [hist_cap, channels] input frames from hist_start */
    int64_t hist_start, hist_len, hist_cap;
    int64_t n_in;          /* input frames received so far                  */
    int64_t next_out;      /* index of the next output frame                */
};

hd_resampler_params hd_resampler_default_params(void) {
    hd_resampler_params p = {16, 0.94, 8.6};
    return p;
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Zeroth-order modified Bessel function of the first kind (series). */
static double bessel_i0(double x) {
    double sum = 1, term = 1, q = x * x / 4;
    for (int k = 1; k < 200; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

hd_resampler *hd_resampler_create(int in_rate, int out_rate, int channels, const hd_resampler_params *params,
                                  hd_error *err) {
    hd_resampler_params p = params ? *params : hd_resampler_default_params();
    if (in_rate < 1 || out_rate < 1 || channels < 1 || channels > 64) {
        hd_error_set(err, HD_ERR_ARG, "resample: bad format %d Hz -> %d Hz, %d channels", in_rate, out_rate, channels);
        return NULL;
    }
    if (p.zeros < 2 || p.zeros > 256 || !(p.rolloff > 0.1 && p.rolloff <= 1.0) || !(p.beta >= 0 && p.beta < 50)) {
        hd_error_set(err, HD_ERR_ARG, "resample: bad filter parameters (zeros %d, rolloff %g, beta %g)", p.zeros,
                     p.rolloff, p.beta);
        return NULL;
    }
    hd_resampler *r = calloc(1, sizeof *r);
    if (!r) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->in_rate = in_rate;
    r->out_rate = out_rate;
    r->channels = channels;
    int64_t g = gcd64(in_rate, out_rate);
    r->L = out_rate / g;
    r->M = in_rate / g;
    double fc = p.rolloff * (out_rate < in_rate ? (double)out_rate / in_rate : 1.0);
    double halfd = ceil(p.zeros / fc);
    if (halfd > 65536) {
        hd_resampler_free(r);
        hd_error_set(err, HD_ERR_UNSUPPORTED, "resample: ratio %d -> %d Hz needs too long a filter", in_rate, out_rate);
        return NULL;
    }
    r->half = (int)halfd;
    r->K = 2 * r->half;
    r->P = r->L <= MAX_PHASES ? r->L : MAX_PHASES;
    while (r->P > 16 && (uint64_t)(r->P + 1) * (uint64_t)r->K > MAX_TABLE_FLOATS) r->P /= 2;
    r->bank = malloc((size_t)(r->P + 1) * (size_t)r->K * sizeof(float));
    r->coef = malloc((size_t)r->K * sizeof(float));
    r->hist_cap = 4096 + r->K;
    r->hist = malloc((size_t)r->hist_cap * (size_t)channels * sizeof(float));
    if (!r->bank || !r->coef || !r->hist) {
        hd_resampler_free(r);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for the resampling filter");
        return NULL;
    }
    double i0b = bessel_i0(p.beta);
    for (int64_t ph = 0; ph <= r->P; ph++) {
        double f = (double)ph / (double)r->P;     /* t - floor(t) */
        float *row = r->bank + ph * r->K;
        double sum = 0;
        for (int j = 0; j < r->K; j++) {
            double x = (double)(j - r->half + 1) - f;  /* tap position relative to t */
            double u = x / r->half;
            double w = fabs(u) >= 1 ? 0 : bessel_i0(p.beta * sqrt(1 - u * u)) / i0b;
            double y = fc * x;
            double s = fabs(y) < 1e-12 ? 1.0 : sin(M_PI * y) / (M_PI * y);
            double h = fc * s * w;
            row[j] = (float)h;
            sum += h;
        }
        for (int j = 0; j < r->K; j++) row[j] = (float)(row[j] / sum);
    }
    r->hist_start = -(int64_t)r->half;   /* zeros before the first sample */
    r->hist_len = r->half;
    memset(r->hist, 0, (size_t)r->hist_len * (size_t)channels * sizeof(float));
    return r;
}

void hd_resampler_free(hd_resampler *r) {
    if (!r) return;
    free(r->bank);
    free(r->coef);
    free(r->hist);
    free(r);
}

int hd_resampler_taps(const hd_resampler *r) { return r->K; }

int64_t hd_resampler_max_out(const hd_resampler *r, int64_t n_in) {
    /* every output at or before the end of the (padded) input */
    int64_t total = (int64_t)(((__int128)(r->n_in + n_in) * r->L + r->M - 1) / r->M);
    int64_t n = total - r->next_out;
    return n > 0 ? n + 1 : 1;
}

/* Coefficients for output n: returns the row (table or interpolated) and
 * the index of the first input tap. */
static const float *phase_row(hd_resampler *r, int64_t n, int64_t *first) {
    __int128 num = (__int128)n * r->M;
    int64_t ip = (int64_t)(num / r->L);
    int64_t k = (int64_t)(num % r->L);
    *first = ip - r->half + 1;
    if (r->P == r->L) return r->bank + k * r->K;
    __int128 x = (__int128)k * r->P;
    int64_t i0 = (int64_t)(x / r->L);
    float w = (float)((double)(int64_t)(x % r->L) / (double)r->L);
    const float *a = r->bank + i0 * r->K, *b = a + r->K;
    for (int j = 0; j < r->K; j++) r->coef[j] = a[j] + w * (b[j] - a[j]);
    return r->coef;
}

/* sum c[j] * x[j*stride] for j < n, in 8 independent partial sums (so the
 * compiler can vectorize and pipeline; the order is fixed, so results do not
 * depend on how the input was chunked). */
static float dot(const float *c, const float *x, int stride, int n) {
    float acc[8] = {0};
    int j = 0;
    if (stride == 1) {
        for (; j + 8 <= n; j += 8)
            for (int k = 0; k < 8; k++) acc[k] += c[j + k] * x[j + k];
    } else {
        for (; j + 8 <= n; j += 8)
            for (int k = 0; k < 8; k++) acc[k] += c[j + k] * x[(size_t)(j + k) * (size_t)stride];
    }
    for (; j < n; j++) acc[j & 7] += c[j] * x[(size_t)j * (size_t)stride];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Produces outputs while their last tap is below `limit` (absolute input
 * index; input past n_in reads as zero). */
static int64_t produce(hd_resampler *r, float *out, int64_t limit, int64_t max_n) {
    int ch = r->channels;
    int64_t made = 0;
    while (made < max_n) {
        int64_t first;
        const float *c = phase_row(r, r->next_out, &first);
        if (first + r->K > limit) break;
        float *o = out + made * ch;
        /* taps outside [hist_start, n_in) read as zeros (stream edges) */
        int j0 = first < r->hist_start ? (int)(r->hist_start - first) : 0;
        int j1 = first + r->K > r->n_in ? (int)(r->n_in - first) : r->K;
        if (j1 <= j0) {
            for (int q = 0; q < ch; q++) o[q] = 0;
        } else {
            const float *s = r->hist + (first + j0 - r->hist_start) * ch;
            for (int q = 0; q < ch; q++) o[q] = dot(c + j0, s + q, ch, j1 - j0);
        }
        made++;
        r->next_out++;
    }
    return made;
}

/* Drops history no future output needs. */
static void trim(hd_resampler *r) {
    int64_t first;
    phase_row(r, r->next_out, &first);
    int64_t drop = first - r->hist_start;
    if (drop <= 0) return;
    if (drop > r->hist_len) drop = r->hist_len;
    int ch = r->channels;
    memmove(r->hist, r->hist + drop * ch, (size_t)(r->hist_len - drop) * (size_t)ch * sizeof(float));
    r->hist_len -= drop;
    r->hist_start += drop;
}

int64_t hd_resampler_process(hd_resampler *r, const float *in, int64_t n_in, float *out, hd_error *err) {
    int ch = r->channels;
    int64_t made = 0, max_n = hd_resampler_max_out(r, n_in);
    while (n_in > 0) {
        int64_t room = r->hist_cap - r->hist_len;
        if (room == 0) {
            int64_t cap = r->hist_cap * 2;
            float *h = realloc(r->hist, (size_t)cap * (size_t)ch * sizeof(float));
            if (!h) {
                hd_error_set(err, HD_ERR_NOMEM, "out of memory");
                return -1;
            }
            r->hist = h;
            r->hist_cap = cap;
            room = cap - r->hist_len;
        }
        int64_t take = n_in < room ? n_in : room;
        memcpy(r->hist + r->hist_len * ch, in, (size_t)take * (size_t)ch * sizeof(float));
        r->hist_len += take;
        r->n_in += take;
        in += take * ch;
        n_in -= take;
        made += produce(r, out + made * ch, r->n_in, max_n - made);
        trim(r);
    }
    return made;
}

int64_t hd_resampler_flush(hd_resampler *r, float *out) {
    int64_t total = (int64_t)(((__int128)r->n_in * r->L + r->M - 1) / r->M);
    int64_t want = total - r->next_out;
    if (want <= 0) return 0;
    return produce(r, out, INT64_MAX / 2, want);
}
