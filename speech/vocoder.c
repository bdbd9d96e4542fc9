/* speech/vocoder.c — F0 tracking, pitch marks and TD-PSOLA (see vocoder.h). */
#include "vocoder.h"

#include "media/audio_resample.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define F0_MIN 55.0
#define F0_MAX 450.0
#define VOICING_THRESHOLD 0.6
#define PI_D 3.14159265358979323846

static int hop_of(int rate) { return rate / 200; }

int64_t hd_f0_frames(int64_t n, int rate) {
    if (n <= 0 || rate < 8000) return 0;
    return n / hop_of(rate) + 1;
}

/* F0 of the 40 ms window centred on c, 0 if unvoiced: the lag with the
 * highest normalised cross-correlation, taking the shortest lag whose
 * correlation is a local peak within 92% of the best (avoids octave-down
 * errors without jumping an octave up on strong second harmonics), refined
 * by a parabola through its neighbours.  x is at `rate` (possibly
 * decimated, so fractional). */
static float frame_f0(const float *x, int64_t n, double rate, int64_t c, float *r) {
    const int W = (int)(rate / 25);
    const int lo = (int)(rate / F0_MAX), hi = (int)(rate / F0_MIN) + 1;
    int64_t s = c - W / 2;
    if (s < 0) s = 0;
    if (s + W + hi + 1 > n) s = n - W - hi - 1;
    if (s < 0) return 0;
    double e0 = 0;
    for (int j = 0; j < W; j++) e0 += (double)x[s + j] * x[s + j];
    if (e0 < 1e-7 * W) return 0;   /* silence */
    /* energy of the lagged window, updated as the lag grows */
    double el = 0;
    for (int j = 0; j < W; j++) el += (double)x[s + lo + j] * x[s + lo + j];
    double best = -1;
    const float *a = x + s;
    for (int t = lo; t <= hi; t++) {
        const float *b = x + s + t;
        float p0 = 0, p1 = 0, p2 = 0, p3 = 0;   /* four partial sums: independent chains */
        int j = 0;
        for (; j + 4 <= W; j += 4) p0 += a[j] * b[j], p1 += a[j + 1] * b[j + 1], p2 += a[j + 2] * b[j + 2], p3 += a[j + 3] * b[j + 3];
        for (; j < W; j++) p0 += a[j] * b[j];
        double xy = (double)p0 + p1 + p2 + p3;
        r[t] = (float)(el > 0 ? xy / sqrt(e0 * el) : 0);
        if (r[t] > best) best = r[t];
        double out = x[s + t], in = x[s + t + W];
        el += in * in - out * out;
    }
    if (best < VOICING_THRESHOLD) return 0;
    int pick = -1;
    for (int t = lo + 1; t < hi; t++)
        if (r[t] >= r[t - 1] && r[t] >= r[t + 1] && r[t] >= 0.92 * best) {
            pick = t;
            break;
        }
    if (pick < 0) return 0;
    double ra = r[pick - 1], rb = r[pick], rc = r[pick + 1], den = ra - 2 * rb + rc;
    double off = den < 0 ? 0.5 * (ra - rc) / den : 0;
    if (off < -0.5 || off > 0.5) off = 0;
    return (float)(rate / (pick + off));
}

hd_status hd_f0_track(const float *x, int64_t n, int rate, float *f0, hd_error *err) {
    if (rate < 8000 || rate > 96000) return hd_error_set(err, HD_ERR_ARG, "f0 track: rate %d outside 8000..96000", rate);
    int64_t nf = hd_f0_frames(n, rate);
    if (nf == 0) return HD_OK;
    /* the correlation runs at about 11 kHz: plenty for 55..450 Hz, and a
     * quarter of the work at 22 050 Hz (low-passed decimation by q) */
    const int q = rate >= 22050 ? rate / 11025 : 1;
    const int64_t nd = n / q;
    const double rd = (double)rate / q;
    float *r = malloc(((size_t)(rd / F0_MIN) + 2) * sizeof *r);
    float *y = q > 1 ? malloc(((size_t)nd + 1) * sizeof *y) : NULL;
    if (!r || (q > 1 && !y)) return free(r), free(y), hd_error_set(err, HD_ERR_NOMEM, "f0 track: out of memory");
    if (q > 1) {
        /* low-pass: a binomial filter 2q+1 taps wide (q = 2: 1 4 6 4 1 / 16) */
        float h[33];
        int L = 2 * q + 1;
        if (L > 33) L = 33;
        h[0] = 1;
        for (int i = 1; i < L; i++) {
            h[i] = 0;
            for (int j = i; j > 0; j--) h[j] += h[j - 1];
        }
        float hs = 0;
        for (int i = 0; i < L; i++) hs += h[i];
        for (int64_t k = 0; k < nd; k++) {
            float acc = 0;
            for (int j = 0; j < L; j++) {
                int64_t t = k * q + j - L / 2;
                if (t >= 0 && t < n) acc += h[j] * x[t];
            }
            y[k] = acc / hs;
        }
    }
    const float *src = q > 1 ? y : x;
    for (int64_t k = 0; k < nf; k++) f0[k] = frame_f0(src, q > 1 ? nd : n, rd, k * hop_of(rate) / q, r);
    free(y);
    /* a voiced frame alone between unvoiced ones is noise */
    for (int64_t k = 1; k + 1 < nf; k++)
        if (f0[k] > 0 && f0[k - 1] == 0 && f0[k + 1] == 0) f0[k] = 0;
    /* octave jumps: a median of the voiced frames among the 5 around each
     * voiced frame */
    float *raw = malloc((size_t)nf * sizeof *raw);
    if (!raw) return free(r), hd_error_set(err, HD_ERR_NOMEM, "f0 track: out of memory");
    memcpy(raw, f0, (size_t)nf * sizeof *raw);
    for (int64_t k = 0; k < nf; k++) {
        if (raw[k] == 0) continue;
        float v[5];
        int m = 0;
        for (int64_t j = k - 2; j <= k + 2; j++)
            if (j >= 0 && j < nf && raw[j] > 0) v[m++] = raw[j];
        for (int i = 1; i < m; i++)
            for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
                float t = v[j];
                v[j] = v[j - 1], v[j - 1] = t;
            }
        f0[k] = m % 2 ? v[m / 2] : 0.5f * (v[m / 2 - 1] + v[m / 2]);
    }
    free(raw);
    free(r);
    return HD_OK;
}

/* Per-span duration, mean F0 (over the voiced frames inside) and power from a
 * computed track. */
static void spans_from_track(const float *x, int64_t n, int rate, const float *f0, int64_t nf, const int64_t *bounds,
                             int n_spans, hd_phone_prosody *out) {
    const int hop = hop_of(rate);
    for (int i = 0; i < n_spans; i++) {
        int64_t a = bounds[i] < 0 ? 0 : bounds[i] > n ? n : bounds[i];
        int64_t b = bounds[i + 1] < a ? a : bounds[i + 1] > n ? n : bounds[i + 1];
        double p = 0;
        for (int64_t t = a; t < b; t++) p += (double)x[t] * x[t];
        double fs = 0;
        int fn = 0;
        for (int64_t k = (a + hop - 1) / hop; k * hop < b && k < nf; k++)
            if (f0[k] > 0) fs += f0[k], fn++;
        out[i].dur = (float)(bounds[i + 1] - bounds[i]) / rate;
        out[i].power = b > a ? (float)(p / (double)(b - a)) : 0;
        out[i].f0 = fn ? (float)(fs / fn) : 0;
    }
}

/* F0 at sample t from the track (nearest frame). */
static float f0_at(const float *f0, int64_t nf, int hop, int64_t t) {
    int64_t k = (t + hop / 2) / hop;
    if (k < 0) k = 0;
    if (k >= nf) k = nf - 1;
    return nf > 0 ? f0[k] : 0;
}

hd_status hd_vocoder_measure_spans(const float *x, int64_t n, int rate, const int64_t *bounds, int n_spans,
                                   hd_phone_prosody *out, hd_error *err) {
    if (n_spans < 0 || (n_spans > 0 && (!bounds || !out)) || n < 0 || (n > 0 && !x))
        return hd_error_set(err, HD_ERR_ARG, "vocoder: bad spans");
    int64_t nf = hd_f0_frames(n, rate);
    float *f0 = malloc(((size_t)nf + 1) * sizeof *f0);
    if (!f0) return hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
    hd_status st = hd_f0_track(x, n, rate, f0, err);
    if (!st) spans_from_track(x, n, rate, f0, nf, bounds, n_spans, out);
    free(f0);
    return st;
}

/* Phone boundaries of u: [start_0, start_1, ..., end_last]; malloc'ed. */
static int64_t *phone_bounds(const hd_utterance *u) {
    int64_t *b = malloc(((size_t)u->n_phones + 1) * sizeof *b);
    if (!b) return NULL;
    for (int i = 0; i < u->n_phones; i++) b[i] = u->phones[i].start;
    b[u->n_phones] = u->phones[u->n_phones - 1].end;
    return b;
}

hd_status hd_vocoder_analyze(const hd_utterance *u, hd_phone_prosody *out, hd_error *err) {
    if (!u || (u->n_phones && !out)) return hd_error_set(err, HD_ERR_ARG, "vocoder: no utterance");
    if (!u->n_phones) return HD_OK;
    int64_t *b = phone_bounds(u);
    if (!b) return hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
    hd_status st = hd_vocoder_measure_spans(u->audio, u->n_samples, u->rate, b, u->n_phones, out, err);
    free(b);
    return st;
}

/* ---- pitch marks ---------------------------------------------------------------- */

typedef struct mark {
    int64_t t;
    bool voiced;
} mark;

/* One mark per period at the waveform maximum in voiced stretches, every
 * 5 ms elsewhere.  *marks is malloc'ed. */
static hd_status pitch_marks(const float *x, int64_t n, int rate, const float *f0, int64_t nf, mark **marks,
                             int64_t *n_marks, hd_error *err) {
    int hop = hop_of(rate);
    /* voiced marks are at least 0.75 of the shortest period apart */
    int64_t cap = n / (int64_t)(0.75 * rate / F0_MAX) + n / hop + 4, m = 0;
    mark *mk = malloc((size_t)cap * sizeof *mk);
    if (!mk) return hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
    int64_t t = 0;
    while (t < n && m < cap) {
        float f = f0_at(f0, nf, hop, t);
        if (f > 0) {
            double T = rate / f;
            int64_t lo, hi;
            if (m > 0 && mk[m - 1].voiced) lo = mk[m - 1].t + (int64_t)(0.75 * T), hi = mk[m - 1].t + (int64_t)(1.25 * T);
            else lo = t, hi = t + (int64_t)T;
            if (lo >= n) break;
            if (hi >= n) hi = n - 1;
            int64_t best = lo;
            for (int64_t k = lo; k <= hi; k++)
                if (x[k] > x[best]) best = k;
            if (m > 0 && best <= mk[m - 1].t) best = mk[m - 1].t + 1;
            mk[m].t = best;
            mk[m].voiced = f0_at(f0, nf, hop, best) > 0;
            m++;
            t = best + 1;
        } else {
            if (m > 0 && t <= mk[m - 1].t) t = mk[m - 1].t + 1;
            mk[m].t = t;
            mk[m].voiced = false;
            m++;
            t += hop;
        }
    }
    *marks = mk;
    *n_marks = m;
    return HD_OK;
}

/* ---- synthesis -------------------------------------------------------------------- */

static hd_status check_targets(const hd_utterance *u, const hd_phone_prosody *tg, hd_error *err) {
    for (int i = 0; i < u->n_phones; i++)
        if (!isfinite(tg[i].dur) || !isfinite(tg[i].f0) || !isfinite(tg[i].power) || tg[i].dur < 0 || tg[i].f0 < 0 ||
            tg[i].power < 0 || tg[i].dur > 60)
            return hd_error_set(err, HD_ERR_ARG, "vocoder: phone %d '%s' has an invalid target (dur %g s, f0 %g Hz, power %g)",
                                i, u->phones[i].name, tg[i].dur, tg[i].f0, tg[i].power);
    return HD_OK;
}

/* TD-PSOLA at the source rate; *y malloc'ed. */
static hd_status psola(const hd_utterance *u, const hd_phone_prosody *tg, float **y_out, int64_t *n_y, hd_error *err) {
    const int rate = u->rate, np = u->n_phones;
    const float *x = u->audio;
    const int64_t n = u->n_samples;
    hd_status st = HD_OK;
    int64_t nf = hd_f0_frames(n, rate), n_marks = 0;
    float *f0 = malloc(((size_t)nf + 1) * sizeof *f0);
    hd_phone_prosody *src = malloc((size_t)np * sizeof *src);
    int64_t *B = malloc(((size_t)np + 1) * sizeof *B);
    mark *mk = NULL;
    float *y = NULL, *gain = NULL;
    if (!f0 || !src || !B) {
        st = hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
        goto done;
    }
    if ((st = hd_f0_track(x, n, rate, f0, err)) || (st = pitch_marks(x, n, rate, f0, nf, &mk, &n_marks, err)))
        goto done;
    /* the source phones' prosody from the same track */
    for (int i = 0; i < np; i++) B[i] = u->phones[i].start;
    B[np] = u->phones[np - 1].end;
    spans_from_track(x, n, rate, f0, nf, B, np, src);
    /* output phone boundaries (source-rate samples) */
    double acc = 0;
    B[0] = 0;
    for (int i = 0; i < np; i++) acc += tg[i].dur, B[i + 1] = (int64_t)llround(acc * rate);
    const int64_t ny = B[np];
    y = calloc((size_t)ny + 1, sizeof *y);
    gain = malloc(((size_t)ny + 1) * sizeof *gain);
    if (!y || !gain) {
        st = hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
        goto done;
    }
    const int pmin = rate / 500, pmax = rate / 50;
    int ph = 0;
    int64_t k = 0;   /* nearest source mark, moves forward with the output */
    for (double t = 0; t < ny && n_marks > 0;) {
        int64_t ti = (int64_t)t;
        while (ph + 1 < np && ti >= B[ph + 1]) ph++;
        /* source time of t: phone ph's span stretched linearly */
        const hd_phone *p = &u->phones[ph];
        double span = (double)(B[ph + 1] - B[ph]);
        double tau = p->start + (span > 0 ? (t - B[ph]) * (double)(p->end - p->start) / span : 0);
        while (k + 1 < n_marks && fabs((double)mk[k + 1].t - tau) <= fabs((double)mk[k].t - tau)) k++;
        while (k > 0 && fabs((double)mk[k - 1].t - tau) < fabs((double)mk[k].t - tau)) k--;
        int64_t L = k > 0 ? mk[k].t - mk[k - 1].t : (k + 1 < n_marks ? mk[k + 1].t - mk[k].t : pmax);
        int64_t R = k + 1 < n_marks ? mk[k + 1].t - mk[k].t : L;
        L = L < pmin ? pmin : L > pmax ? pmax : L;
        R = R < pmin ? pmin : R > pmax ? pmax : R;
        double P = 0.5 * (double)(L + R);
        if (mk[k].voiced && tg[ph].f0 > 0 && src[ph].f0 > 0) {
            double ratio = src[ph].f0 / tg[ph].f0;
            ratio = ratio < 0.5 ? 0.5 : ratio > 2 ? 2 : ratio;
            P *= ratio;
        }
        const int64_t c = (int64_t)llround(t), m = mk[k].t;
        for (int64_t j = -L; j < R; j++) {
            int64_t si = m + j, oi = c + j;
            if (si < 0 || si >= n || oi < 0 || oi >= ny) continue;
            double w = j < 0 ? 0.5 - 0.5 * cos(PI_D * (double)(j + L) / (double)L) : 0.5 + 0.5 * cos(PI_D * (double)j / (double)R);
            y[oi] += (float)(w * x[si]);
        }
        t += P < 1 ? 1 : P;
    }
    /* power: gain per phone, linear between phone centres */
    double *g = malloc(((size_t)np + 1) * sizeof *g);
    if (!g) {
        st = hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
        goto done;
    }
    for (int i = 0; i < np; i++) {
        double pw = 0;
        for (int64_t s = B[i]; s < B[i + 1]; s++) pw += (double)y[s] * y[s];
        int64_t len = B[i + 1] - B[i];
        pw = len > 0 ? pw / (double)len : 0;
        double gi = (pw > 1e-9 && tg[i].power > 0) ? sqrt(tg[i].power / pw) : 1.0;
        g[i] = gi < 0.02 ? 0.02 : gi > 50 ? 50 : gi;
    }
    /* constant within a phone, a linear ramp of up to 5 ms (and at most a
     * quarter of either phone) across each boundary */
    for (int i = 0; i < np; i++)
        for (int64_t s = B[i]; s < B[i + 1]; s++) gain[s] = (float)g[i];
    for (int i = 1; i < np; i++) {
        int64_t la = B[i] - B[i - 1], lb = B[i + 1] - B[i], R = rate / 200;
        if (la / 4 < R) R = la / 4;
        if (lb / 4 < R) R = lb / 4;
        for (int64_t s = B[i] - R; s < B[i] + R; s++) {
            double a = (double)(s - (B[i] - R)) / (double)(2 * R);
            gain[s] = (float)(g[i - 1] + a * (g[i] - g[i - 1]));
        }
    }
    free(g);
    for (int64_t s = 0; s < ny; s++) y[s] *= gain[s];
    *y_out = y;
    *n_y = ny;
    y = NULL;
done:
    free(f0);
    free(src);
    free(B);
    free(mk);
    free(y);
    free(gain);
    return st;
}

hd_status hd_vocoder_render(const hd_utterance *u, const hd_phone_prosody *target, int out_rate, float **pcm,
                            int64_t *n_out, hd_error *err) {
    if (!u || !pcm || !n_out) return hd_error_set(err, HD_ERR_ARG, "vocoder: missing argument");
    *pcm = NULL;
    *n_out = 0;
    if (out_rate < 8000 || out_rate > 48000)
        return hd_error_set(err, HD_ERR_ARG, "vocoder: output rate %d outside 8000..48000", out_rate);
    if (u->n_samples < 0 || (u->n_samples > 0 && (!u->audio || u->rate < 8000)))
        return hd_error_set(err, HD_ERR_ARG, "vocoder: utterance without audio");
    for (int i = 0; i < u->n_phones; i++)
        if (u->phones[i].start < 0 || u->phones[i].end < u->phones[i].start || u->phones[i].end > u->n_samples)
            return hd_error_set(err, HD_ERR_ARG, "vocoder: phone %d spans samples outside the audio", i);
    float *y = NULL;
    int64_t ny = 0;
    hd_status st;
    if (target && u->n_phones > 0) {
        if ((st = check_targets(u, target, err))) return st;
        if ((st = psola(u, target, &y, &ny, err))) return st;
    } else {
        y = malloc(((size_t)u->n_samples + 1) * sizeof *y);
        if (!y) return hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
        if (u->n_samples) memcpy(y, u->audio, (size_t)u->n_samples * sizeof *y);
        ny = u->n_samples;
    }
    if (out_rate == u->rate || ny == 0) {
        *pcm = y;
        *n_out = ny;
        return HD_OK;
    }
    hd_resampler *rs = hd_resampler_create(u->rate, out_rate, 1, NULL, err);
    if (!rs) return free(y), err ? err->code : HD_ERR_NOMEM;
    int64_t cap = hd_resampler_max_out(rs, ny) + hd_resampler_max_out(rs, 0) + 1;
    float *z = malloc((size_t)cap * sizeof *z);
    if (!z) {
        hd_resampler_free(rs);
        free(y);
        return hd_error_set(err, HD_ERR_NOMEM, "vocoder: out of memory");
    }
    int64_t a = hd_resampler_process(rs, y, ny, z, err);
    if (a < 0) {
        hd_resampler_free(rs);
        free(y), free(z);
        return err ? err->code : HD_ERR_INTERNAL;
    }
    a += hd_resampler_flush(rs, z + a);
    hd_resampler_free(rs);
    free(y);
    *pcm = z;
    *n_out = a;
    return HD_OK;
}
