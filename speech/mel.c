/* speech/mel.c — Kaldi-style log-mel filterbank, streamed (see mel.h). */
#include "mel.h"

#include "fft.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hd_mel {
    hd_mel_params p;
    hd_rfft *fft;
    double *window;      /* [win] Povey window                                 */
    double *frame;       /* [n_fft] work: one frame, zero-padded               */
    double *re, *im;     /* [n_fft/2 + 1] spectrum                             */
    float *weights;      /* [n_mel][n_fft/2] triangle weights (dense)          */
    int *lo, *hi;        /* [n_mel] first / one-past-last nonzero FFT bin      */
    float *pending;      /* [win] samples not yet consumed by a complete frame */
    size_t n_pending;
    int64_t n_seen, n_done;
};

hd_mel_params hd_mel_default_params(void) {
    hd_mel_params p = {
        .rate = 16000,
        .n_mel = 80,
        .win = 400,
        .hop = 160,
        .n_fft = 512,
        .preemph = 0.97,
        .remove_dc = true,
        .low_hz = 20.0,
        .high_hz = 0.0,
        .input_scale = 32768.0,
        .log_floor = FLT_EPSILON,
    };
    return p;
}

int64_t hd_mel_n_frames(const hd_mel_params *p, int64_t n_samples) {
    if (!p || p->win <= 0 || p->hop <= 0 || n_samples < p->win) return 0;
    return 1 + (n_samples - p->win) / p->hop;
}

static double mel_of(double hz) { return 1127.0 * log(1.0 + hz / 700.0); }

static hd_status check_params(const hd_mel_params *p, double *high, hd_error *err) {
    if (p->rate < 1000 || p->rate > 384000) return hd_error_set(err, HD_ERR_ARG, "mel: rate %d out of range", p->rate);
    if (p->n_mel < 1 || p->n_mel > 1024) return hd_error_set(err, HD_ERR_ARG, "mel: n_mel %d out of 1..1024", p->n_mel);
    if (p->win < 2 || p->win > (1 << 20)) return hd_error_set(err, HD_ERR_ARG, "mel: window %d out of range", p->win);
    if (p->hop < 1 || p->hop > p->win)
        return hd_error_set(err, HD_ERR_ARG, "mel: hop %d must be in 1..window (%d)", p->hop, p->win);
    if (p->n_fft < p->win || p->n_fft > (1 << 20) || (p->n_fft & (p->n_fft - 1)))
        return hd_error_set(err, HD_ERR_ARG, "mel: n_fft %d must be a power of two >= the window %d", p->n_fft,
                            p->win);
    const double nyq = 0.5 * p->rate;
    *high = p->high_hz > 0 ? p->high_hz : nyq + p->high_hz;
    if (!(p->low_hz >= 0) || !(*high <= nyq) || !(p->low_hz < *high))
        return hd_error_set(err, HD_ERR_ARG, "mel: need 0 <= low (%g) < high (%g) <= Nyquist (%g)", p->low_hz, *high,
                            nyq);
    if (!isfinite(p->preemph) || !isfinite(p->input_scale) || !(p->log_floor > 0))
        return hd_error_set(err, HD_ERR_ARG, "mel: pre-emphasis, scale and log floor must be finite, floor > 0");
    return HD_OK;
}

/* Kaldi's MelBanks (torchaudio get_mel_banks without VTLN): triangles equally
 * spaced in mel between low and high; FFT bin k (k < n_fft/2) at k·rate/n_fft
 * gets weight max(0, min(up slope, down slope)); the Nyquist bin gets none.
 * Computed in float arithmetic step by step as torchaudio does (and as Kaldi,
 * whose BaseFloat is float): the edges in double, everything after in float.
 * Weights computed in double instead differ by up to 1.4e-5, which moves
 * log-mel values by up to 6e-4 on speech — more than the 1e-4 budget. */
static void make_banks(hd_mel *m, double high) {
    const hd_mel_params *p = &m->p;
    const int nb = p->n_fft / 2;
    const double ml = mel_of(p->low_hz), mh = mel_of(high), d = (mh - ml) / (p->n_mel + 1);
    const float mlf = (float)ml, df = (float)d, bin_hz = (float)((double)p->rate / p->n_fft);
    for (int b = 0; b < p->n_mel; b++) {
        const float left = mlf + (float)b * df, centre = mlf + (float)(b + 1) * df;
        const float right = mlf + (float)(b + 2) * df;
        float *w = m->weights + (size_t)b * nb;
        m->lo[b] = nb, m->hi[b] = 0;
        for (int k = 0; k < nb; k++) {
            const float hz = bin_hz * (float)k;
            const float mel = 1127.0f * logf(1.0f + hz / 700.0f);
            const float up = (mel - left) / (centre - left), down = (right - mel) / (right - centre);
            const float v = fmaxf(0.0f, fminf(up, down));
            w[k] = v;
            if (v > 0) {
                if (k < m->lo[b]) m->lo[b] = k;
                m->hi[b] = k + 1;
            }
        }
        if (m->hi[b] == 0) m->lo[b] = 0;
    }
}

hd_mel *hd_mel_create(const hd_mel_params *params, hd_error *err) {
    const hd_mel_params p = params ? *params : hd_mel_default_params();
    double high = 0;
    if (check_params(&p, &high, err)) return NULL;
    hd_mel *m = calloc(1, sizeof *m);
    if (!m) return hd_error_set(err, HD_ERR_NOMEM, "mel: out of memory"), NULL;
    m->p = p;
    const size_t nb = (size_t)p.n_fft / 2;
    m->window = malloc((size_t)p.win * sizeof(double));
    m->frame = malloc((size_t)p.n_fft * sizeof(double));
    m->re = malloc((nb + 1) * sizeof(double));
    m->im = malloc((nb + 1) * sizeof(double));
    m->weights = malloc((size_t)p.n_mel * nb * sizeof(float));
    m->lo = malloc((size_t)p.n_mel * sizeof(int));
    m->hi = malloc((size_t)p.n_mel * sizeof(int));
    m->pending = malloc((size_t)p.win * sizeof(float));
    if (!m->window || !m->frame || !m->re || !m->im || !m->weights || !m->lo || !m->hi || !m->pending) {
        hd_mel_free(m);
        return hd_error_set(err, HD_ERR_NOMEM, "mel: out of memory"), NULL;
    }
    if (!(m->fft = hd_rfft_create((size_t)p.n_fft, err))) {
        hd_mel_free(m);
        return NULL;
    }
    /* Povey window: (0.5 − 0.5·cos(2πn/(win−1)))^0.85 */
    for (int n = 0; n < p.win; n++)
        m->window[n] = pow(0.5 - 0.5 * cos(2.0 * M_PI * n / (p.win - 1)), 0.85);
    make_banks(m, high);
    return m;
}

void hd_mel_free(hd_mel *m) {
    if (!m) return;
    hd_rfft_free(m->fft);
    free(m->window), free(m->frame), free(m->re), free(m->im), free(m->weights), free(m->lo), free(m->hi);
    free(m->pending);
    free(m);
}

const hd_mel_params *hd_mel_params_of(const hd_mel *m) { return &m->p; }

void hd_mel_reset(hd_mel *m) { m->n_pending = 0, m->n_seen = 0, m->n_done = 0; }
int64_t hd_mel_samples_seen(const hd_mel *m) { return m->n_seen; }
int64_t hd_mel_frames_done(const hd_mel *m) { return m->n_done; }

int64_t hd_mel_frames_after(const hd_mel *m, size_t n) {
    return hd_mel_n_frames(&m->p, m->n_seen + (int64_t)n) - m->n_done;
}

/* One frame from win samples: a[0..na) then b[0..win−na). */
static void compute_frame(hd_mel *m, const float *a, size_t na, const float *b, float *out) {
    const hd_mel_params *p = &m->p;
    const int win = p->win, nb = p->n_fft / 2;
    double *f = m->frame;
    for (int i = 0; i < win; i++) f[i] = (double)((size_t)i < na ? a[i] : b[(size_t)i - na]) * p->input_scale;
    if (p->remove_dc) {
        double s = 0;
        for (int i = 0; i < win; i++) s += f[i];
        s /= win;
        for (int i = 0; i < win; i++) f[i] -= s;
    }
    if (p->preemph != 0) {
        for (int i = win - 1; i > 0; i--) f[i] -= p->preemph * f[i - 1];
        f[0] -= p->preemph * f[0];
    }
    for (int i = 0; i < win; i++) f[i] *= m->window[i];
    for (int i = win; i < p->n_fft; i++) f[i] = 0;
    hd_rfft_forward(m->fft, f, m->re, m->im);
    double *pw = m->re;   /* power spectrum over re[] in place */
    for (int k = 0; k <= nb; k++) pw[k] = m->re[k] * m->re[k] + m->im[k] * m->im[k];
    for (int b = 0; b < p->n_mel; b++) {
        const float *w = m->weights + (size_t)b * nb;
        double e = 0;
        for (int k = m->lo[b]; k < m->hi[b]; k++) e += (double)w[k] * pw[k];
        out[b] = (float)log(fmax(e, p->log_floor));
    }
}

hd_status hd_mel_push(hd_mel *m, const float *x, size_t n, float *out, int64_t max_frames, int64_t *n_out,
                      hd_error *err) {
    if (n_out) *n_out = 0;
    if (n && !x) return hd_error_set(err, HD_ERR_ARG, "mel: no samples");
    const int64_t want = hd_mel_frames_after(m, n);
    if (want > max_frames || (want > 0 && !out))
        return hd_error_set(err, HD_ERR_ARG, "mel: %lld frames do not fit the output (%lld)", (long long)want,
                            (long long)max_frames);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return hd_error_set(err, HD_ERR_ARG, "mel: sample %zu is not finite", i);
    const size_t win = (size_t)m->p.win, hop = (size_t)m->p.hop;
    int64_t made = 0;
    /* frames while pending + remaining input hold a full window */
    while (m->n_pending + n >= win) {
        compute_frame(m, m->pending, m->n_pending, x, out + (size_t)made * (size_t)m->p.n_mel);
        made++;
        if (hop <= m->n_pending) {
            memmove(m->pending, m->pending + hop, (m->n_pending - hop) * sizeof(float));
            m->n_pending -= hop;
        } else {
            const size_t skip = hop - m->n_pending;   /* ≤ n since pending + n ≥ win ≥ hop */
            x += skip, n -= skip;
            m->n_seen += (int64_t)skip;
            m->n_pending = 0;
        }
    }
    if (n) memcpy(m->pending + m->n_pending, x, n * sizeof(float));
    m->n_pending += n;
    m->n_seen += (int64_t)n;
    m->n_done += made;
    if (n_out) *n_out = made;
    return HD_OK;
}

hd_status hd_mel_compute(const hd_mel_params *p, const float *x, size_t n, float **out, int64_t *n_frames,
                         hd_error *err) {
    *out = NULL, *n_frames = 0;
    hd_mel *m = hd_mel_create(p, err);
    if (!m) return err ? err->code : HD_ERR_ARG;
    const int64_t nf = hd_mel_frames_after(m, n);
    float *buf = NULL;
    if (nf > 0 && !(buf = malloc((size_t)nf * (size_t)m->p.n_mel * sizeof(float)))) {
        hd_mel_free(m);
        return hd_error_set(err, HD_ERR_NOMEM, "mel: out of memory for %lld frames", (long long)nf);
    }
    int64_t got = 0;
    hd_status st = hd_mel_push(m, x, n, buf, nf, &got, err);
    hd_mel_free(m);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf, *n_frames = got;
    return HD_OK;
}
