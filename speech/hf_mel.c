/* speech/hf_mel.c — the Whisper and Granite HF log-mel front ends (see hf_mel.h). */
#include "hf_mel.h"

#include "dft.h"
#include "fft.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct hd_hf_mel {
    hd_hf_mel_params p;
    int n_bins;          /* n_fft/2 + 1                                           */
    double *window;      /* [n_fft] periodic Hann of win, centred, zeros around   */
    double *filters;     /* [n_mel][n_bins] triangle weights                      */
    int *lo, *hi;        /* [n_mel] first / one-past-last nonzero bin             */
    hd_rfft *rfft;       /* n_fft a power of two                                  */
    hd_dft *dft;         /* any other n_fft                                       */
    double *frame;       /* [n_fft] windowed samples                              */
    double *re, *im;     /* [n_fft] spectrum                                      */
    double *power;       /* [n_bins]                                              */
    float *spare;        /* [n_mel] a frame that enters the max but is not kept   */
};

static const double TWO_PI = 6.283185307179586476925286766559;

hd_hf_mel_params hd_hf_mel_whisper_params(int n_mel, hd_hf_mel_pad pad) {
    return (hd_hf_mel_params){.kind = HD_HF_MEL_WHISPER,
                              .pad = pad,
                              .rate = 16000,
                              .n_mel = n_mel,
                              .n_fft = 400,
                              .win = 400,
                              .hop = 160,
                              .max_samples = 480000};
}

hd_hf_mel_params hd_hf_mel_granite_params(void) {
    return (hd_hf_mel_params){.kind = HD_HF_MEL_GRANITE,
                              .pad = HD_HF_MEL_PAD_NONE,
                              .rate = 16000,
                              .n_mel = 80,
                              .n_fft = 512,
                              .win = 400,
                              .hop = 160,
                              .max_samples = 0};
}

hd_status hd_hf_mel_params_check(const hd_hf_mel_params *p, hd_error *err) {
    if (!p) return hd_error_set(err, HD_ERR_ARG, "hf_mel: no parameters");
    if (p->kind != HD_HF_MEL_WHISPER && p->kind != HD_HF_MEL_GRANITE)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: unknown front end %d", (int)p->kind);
    if (p->kind == HD_HF_MEL_WHISPER && p->pad != HD_HF_MEL_PAD_30S && p->pad != HD_HF_MEL_PAD_HOP)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: the Whisper front end pads to 30 s or to a multiple of hop");
    if (p->kind == HD_HF_MEL_GRANITE && p->pad != HD_HF_MEL_PAD_NONE)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: the Granite front end takes no padding mode");
    if (p->rate < 1000 || p->rate > 384000)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: rate %d out of 1000..384000", p->rate);
    if (p->n_fft < 4 || p->n_fft > (1 << 16))
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: n_fft %d out of 4..65536", p->n_fft);
    if (p->win < 2 || p->win > p->n_fft)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: window %d must be in 2..n_fft (%d)", p->win, p->n_fft);
    if (p->hop < 1 || p->hop > p->n_fft)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: hop %d must be in 1..n_fft (%d)", p->hop, p->n_fft);
    if (p->n_mel < 1 || p->n_mel > p->n_fft / 2 + 1)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: n_mel %d out of 1..%d (n_fft/2 + 1)", p->n_mel, p->n_fft / 2 + 1);
    if (p->kind == HD_HF_MEL_WHISPER && p->pad == HD_HF_MEL_PAD_30S &&
        (p->max_samples <= p->n_fft / 2 || p->max_samples % p->hop != 0 || p->max_samples > ((int64_t)1 << 40)))
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: max_samples %lld must be a multiple of hop above n_fft/2",
                            (long long)p->max_samples);
    return HD_OK;
}

int hd_hf_mel_width(const hd_hf_mel_params *p) { return p->kind == HD_HF_MEL_GRANITE ? 2 * p->n_mel : p->n_mel; }

/* Whisper: the sample count after the processor's padding (N'). */
static int64_t whisper_padded(const hd_hf_mel_params *p, int64_t n) {
    if (p->pad == HD_HF_MEL_PAD_30S) return p->max_samples;
    const int64_t m = n < 2 * (int64_t)p->hop ? 2 * (int64_t)p->hop : n;
    return (m + p->hop - 1) / p->hop * p->hop;
}

int64_t hd_hf_mel_n_rows(const hd_hf_mel_params *p, int64_t n_samples) {
    if (n_samples < 0) return 0;
    if (p->kind == HD_HF_MEL_WHISPER) return whisper_padded(p, n_samples) / p->hop; /* N'/hop + 1 − the last */
    if (n_samples == 0) return 0;
    return (n_samples / p->hop + 1) / 2;
}

int64_t hd_hf_mel_n_valid(const hd_hf_mel_params *p, int64_t n_samples) {
    if (n_samples < 0) return 0;
    if (p->kind == HD_HF_MEL_GRANITE) return hd_hf_mel_n_rows(p, n_samples);
    int64_t m = n_samples;
    if (p->pad == HD_HF_MEL_PAD_30S) {
        if (m > p->max_samples) m = p->max_samples;
    } else if (m < 2 * (int64_t)p->hop) {
        m = 2 * (int64_t)p->hop; /* Ultravox pads short audio before the extractor: it counts as audio */
    }
    return (m + p->hop - 1) / p->hop;
}

int64_t hd_hf_mel_granite_n_embeddings(int64_t n_samples, int hop, int window, int downsample) {
    if (n_samples < 0 || hop < 1 || window < 1 || downsample < 1) return 0;
    const int64_t mel = n_samples / hop + 1;
    const int64_t enc = mel / 2;
    const int64_t blocks = (enc + window - 1) / window;
    return blocks * (window / downsample);
}

/* ---- filterbanks ------------------------------------------------------------ */

/* Slaney's scale (librosa / transformers audio_utils, mel_scale="slaney"):
 * linear below 1 kHz (200/3 Hz per mel), logarithmic above. */
static double slaney_mel(double hz) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return hz < min_log_hz ? hz / f_sp : min_log_mel + log(hz / min_log_hz) / logstep;
}

static double slaney_hz(double mel) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return mel < min_log_mel ? mel * f_sp : min_log_hz * exp(logstep * (mel - min_log_mel));
}

static double htk_mel(double hz) { return 2595.0 * log10(1.0 + hz / 700.0); }
static double htk_hz(double mel) { return 700.0 * (pow(10.0, mel / 2595.0) - 1.0); }

/* Triangles between n_mel + 2 points equally spaced in mel over 0 .. rate/2,
 * evaluated at the bin frequencies linspace(0, rate // 2, n_bins):
 *   w = max(0, min((f − f_m)/(f_{m+1} − f_m), (f_{m+2} − f)/(f_{m+2} − f_{m+1})))
 * Slaney (Whisper): also scaled by 2/(f_{m+2} − f_m). */
static hd_status build_filters(hd_hf_mel *m, hd_error *err) {
    const hd_hf_mel_params *p = &m->p;
    const bool slaney = p->kind == HD_HF_MEL_WHISPER;
    const int nm = p->n_mel, nb = m->n_bins;
    double *f = malloc((size_t)(nm + 2) * sizeof *f);
    if (!f) return hd_error_set(err, HD_ERR_NOMEM, "hf_mel: out of memory for the filterbank");
    const double top = (double)(p->rate / 2); /* rate // 2, as both libraries */
    const double m_lo = slaney ? slaney_mel(0.0) : htk_mel(0.0);
    const double m_hi = slaney ? slaney_mel(top) : htk_mel(top);
    for (int i = 0; i < nm + 2; i++) {
        const double mel = m_lo + (m_hi - m_lo) * (double)i / (double)(nm + 1);
        f[i] = slaney ? slaney_hz(mel) : htk_hz(mel);
    }
    for (int i = 0; i < nm; i++) {
        double *row = m->filters + (size_t)i * (size_t)nb;
        const double d0 = f[i + 1] - f[i], d1 = f[i + 2] - f[i + 1];
        const double enorm = slaney ? 2.0 / (f[i + 2] - f[i]) : 1.0;
        m->lo[i] = nb, m->hi[i] = 0;
        for (int k = 0; k < nb; k++) {
            const double fk = top * (double)k / (double)(nb - 1);
            const double down = (fk - f[i]) / d0, up = (f[i + 2] - fk) / d1;
            double w = down < up ? down : up;
            if (!(w > 0.0)) w = 0.0;
            row[k] = w * enorm;
            if (row[k] != 0.0) {
                if (k < m->lo[i]) m->lo[i] = k;
                m->hi[i] = k + 1;
            }
        }
        if (m->lo[i] > m->hi[i]) m->lo[i] = m->hi[i] = 0; /* an empty triangle (too many bins) */
    }
    free(f);
    return HD_OK;
}

hd_hf_mel *hd_hf_mel_create(const hd_hf_mel_params *p, hd_error *err) {
    const hd_hf_mel_params def = hd_hf_mel_whisper_params(128, HD_HF_MEL_PAD_30S);
    if (!p) p = &def;
    if (hd_hf_mel_params_check(p, err)) return NULL;
    hd_hf_mel *m = calloc(1, sizeof *m);
    if (!m) {
        hd_error_set(err, HD_ERR_NOMEM, "hf_mel: out of memory");
        return NULL;
    }
    m->p = *p;
    m->n_bins = p->n_fft / 2 + 1;
    const size_t nf = (size_t)p->n_fft, nb = (size_t)m->n_bins, nm = (size_t)p->n_mel;
    m->window = calloc(nf, sizeof *m->window);
    m->filters = malloc(nm * nb * sizeof *m->filters);
    m->lo = malloc(nm * sizeof *m->lo);
    m->hi = malloc(nm * sizeof *m->hi);
    m->frame = malloc(nf * sizeof *m->frame);
    m->re = malloc(nf * sizeof *m->re);
    m->im = malloc(nf * sizeof *m->im);
    m->power = malloc(nb * sizeof *m->power);
    m->spare = malloc(nm * sizeof *m->spare);
    if (!m->window || !m->filters || !m->lo || !m->hi || !m->frame || !m->re || !m->im || !m->power || !m->spare) {
        hd_hf_mel_free(m);
        hd_error_set(err, HD_ERR_NOMEM, "hf_mel: out of memory");
        return NULL;
    }
    /* torch.hann_window(win) (periodic), centred in n_fft as torch.stft pads it */
    const int left = (p->n_fft - p->win) / 2;
    for (int i = 0; i < p->win; i++) m->window[left + i] = 0.5 - 0.5 * cos(TWO_PI * (double)i / (double)p->win);
    if ((p->n_fft & (p->n_fft - 1)) == 0)
        m->rfft = hd_rfft_create(nf, err);
    else
        m->dft = hd_dft_create(nf, err);
    if ((!m->rfft && !m->dft) || build_filters(m, err)) {
        hd_hf_mel_free(m);
        return NULL;
    }
    return m;
}

void hd_hf_mel_free(hd_hf_mel *m) {
    if (!m) return;
    hd_rfft_free(m->rfft);
    hd_dft_free(m->dft);
    free(m->window), free(m->filters), free(m->lo), free(m->hi);
    free(m->frame), free(m->re), free(m->im), free(m->power), free(m->spare);
    free(m);
}

const hd_hf_mel_params *hd_hf_mel_params_of(const hd_hf_mel *m) { return &m->p; }
const double *hd_hf_mel_filters(const hd_hf_mel *m) { return m->filters; }

/* ---- frames ----------------------------------------------------------------- */

/* The signal as the STFT sees it: n_sig samples (x beyond n_x is the
 * processor's zero padding), reflect-padded by n_fft/2 at both ends
 * (torch.stft center=True, pad_mode="reflect"; needs n_sig > n_fft/2). */
typedef struct signal {
    const float *x;
    int64_t n_x, n_sig;
} signal;

static double sample_at(const signal *s, int64_t j) {
    if (j < 0) j = -j;
    if (j >= s->n_sig) j = 2 * (s->n_sig - 1) - j;
    return j < s->n_x ? (double)s->x[j] : 0.0;
}

/* log10(max(mel energy, 1e-10)) of frame i into out[n_mel]; returns the max. */
static double log_mel_frame(hd_hf_mel *m, const signal *s, int64_t i, float *out) {
    const hd_hf_mel_params *p = &m->p;
    const int64_t start = i * p->hop - p->n_fft / 2;
    if (start >= 0 && start + p->n_fft <= s->n_x) {
        const float *x = s->x + start;
        for (int j = 0; j < p->n_fft; j++) m->frame[j] = (double)x[j] * m->window[j];
    } else {
        for (int j = 0; j < p->n_fft; j++) m->frame[j] = sample_at(s, start + j) * m->window[j];
    }
    if (m->rfft)
        hd_rfft_forward(m->rfft, m->frame, m->re, m->im);
    else
        hd_dft_forward(m->dft, m->frame, NULL, m->re, m->im);
    for (int k = 0; k < m->n_bins; k++) m->power[k] = m->re[k] * m->re[k] + m->im[k] * m->im[k];
    double mx = -INFINITY;
    for (int b = 0; b < p->n_mel; b++) {
        const double *w = m->filters + (size_t)b * (size_t)m->n_bins;
        double e = 0.0;
        for (int k = m->lo[b]; k < m->hi[b]; k++) e += w[k] * m->power[k];
        const double l = log10(e > 1e-10 ? e : 1e-10);
        out[b] = (float)l;
        if (l > mx) mx = l;
    }
    return mx;
}

hd_status hd_hf_mel_run(hd_hf_mel *m, const float *x, size_t n, float *out, int64_t max_rows, int64_t *n_rows,
                        int64_t *n_valid, hd_error *err) {
    const hd_hf_mel_params *p = &m->p;
    if (n > ((size_t)1 << 40)) return hd_error_set(err, HD_ERR_ARG, "hf_mel: %zu samples is too many", n);
    if (n && !x) return hd_error_set(err, HD_ERR_ARG, "hf_mel: no samples");
    const int64_t rows = hd_hf_mel_n_rows(p, (int64_t)n);
    if (rows > max_rows)
        return hd_error_set(err, HD_ERR_ARG, "hf_mel: %lld rows need room, the buffer holds %lld", (long long)rows,
                            (long long)max_rows);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return hd_error_set(err, HD_ERR_ARG, "hf_mel: sample %zu is not finite", i);
    signal s = {.x = x, .n_x = (int64_t)n};
    int64_t n_frames; /* frames computed (they all enter the max)   */
    int64_t n_kept;   /* of which stored, as rows of n_mel           */
    if (p->kind == HD_HF_MEL_WHISPER) {
        s.n_sig = whisper_padded(p, (int64_t)n);
        if (s.n_x > s.n_sig) s.n_x = s.n_sig; /* PAD_30S truncates */
        n_frames = n_kept = s.n_sig / p->hop; /* N'/hop + 1 frames, the last one dropped before the max */
    } else {
        if (n > 0 && (int64_t)n <= p->n_fft / 2)
            return hd_error_set(err, HD_ERR_ARG,
                                "hf_mel: %zu samples are too short for the Granite front end (its reflect padding "
                                "needs more than %d)",
                                n, p->n_fft / 2);
        s.n_sig = (int64_t)n;
        n_frames = n ? (int64_t)n / p->hop + 1 : 0;
        n_kept = rows * 2; /* an odd last frame is dropped after the max */
    }
    const int nm = p->n_mel;
    double mx = -INFINITY;
    for (int64_t i = 0; i < n_frames; i++) {
        float *dst = i < n_kept ? out + (size_t)i * (size_t)nm : m->spare;
        const double l = log_mel_frame(m, &s, i, dst);
        if (l > mx) mx = l;
    }
    /* Whisper: (max(x, mx − 8) + 4) / 4;  Granite: max(x, mx − 8) / 4 + 1 */
    const double floor_v = mx - 8.0;
    const size_t total = (size_t)n_kept * (size_t)nm;
    for (size_t i = 0; i < total; i++) {
        double v = out[i];
        if (v < floor_v) v = floor_v;
        out[i] = (float)(p->kind == HD_HF_MEL_WHISPER ? (v + 4.0) / 4.0 : v / 4.0 + 1.0);
    }
    *n_rows = rows;
    if (n_valid) *n_valid = hd_hf_mel_n_valid(p, (int64_t)n);
    return HD_OK;
}

hd_status hd_hf_mel_compute(const hd_hf_mel_params *p, const float *x, size_t n, float **out, int64_t *n_rows,
                            int64_t *n_valid, hd_error *err) {
    *out = NULL;
    *n_rows = 0;
    hd_hf_mel *m = hd_hf_mel_create(p, err);
    if (!m) return err ? err->code : HD_ERR_ARG;
    const int64_t rows = hd_hf_mel_n_rows(&m->p, (int64_t)n);
    float *buf = NULL;
    if (rows > 0) {
        buf = malloc((size_t)rows * (size_t)hd_hf_mel_width(&m->p) * sizeof *buf);
        if (!buf) {
            hd_hf_mel_free(m);
            return hd_error_set(err, HD_ERR_NOMEM, "hf_mel: out of memory for %lld rows", (long long)rows);
        }
    }
    const hd_status st = hd_hf_mel_run(m, x, n, buf, rows, n_rows, n_valid, err);
    hd_hf_mel_free(m);
    if (st) {
        free(buf);
        *n_rows = 0;
        return st;
    }
    *out = buf;
    return HD_OK;
}
