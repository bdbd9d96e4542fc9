/* graph/segmenter.c — energy VAD with hysteresis and length-capped cuts
 * (see segmenter.h). */
#include "segmenter.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define E_MIN (-150.0)   /* energies are clamped to [E_MIN, E_MAX) dB */
#define E_MAX 250.0
#define BIN_DB 0.5
#define N_BINS ((int)((E_MAX - E_MIN) / BIN_DB))
#define SMOOTH 5         /* cut search: mean energy over frames c-5 .. c+5 */
#define SUSTAIN 3        /* frames in a row above floor + off that keep speech going */

struct hd_segmenter {
    hd_segmenter_params p;
    int64_t on_min, sil_min, pad, max, search, overlap;   /* in frames */
    int64_t n;              /* frames pushed */
    /* noise floor: histogram of the last fw frames */
    int64_t fw;
    int *hist;              /* [N_BINS] */
    int16_t *win_bin;       /* [fw] ring of bin indices */
    double floor;
    /* energies of the recent frames (the open segment), ring of cap */
    int64_t cap;
    float *e;               /* [cap] */
    /* state */
    bool speech;
    int64_t run;            /* consecutive frames above floor + on (not in speech) */
    int64_t off_run;        /* consecutive frames above floor + off (in speech) */
    int64_t seg_start, last_speech, prev_end;
};

hd_segmenter_params hd_segmenter_default_params(void) {
    return (hd_segmenter_params){
        .frame_s = 0.01,
        .on_db = 12,
        .off_db = 6,
        .min_floor_db = -75,
        .floor_window_s = 5,
        .min_speech_s = 0.1,
        .min_silence_s = 0.6,
        .pad_s = 0.2,
        .max_s = 30,
        .search_s = 5,
        .overlap_s = 0,
    };
}

static int64_t frames_of(const hd_segmenter_params *p, double s) { return (int64_t)llround(s / p->frame_s); }

static hd_status check(const hd_segmenter_params *p, hd_error *err) {
    if (!(p->frame_s > 0 && p->frame_s <= 1))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: frame length %g s must be in (0, 1]", p->frame_s);
    if (!(p->off_db >= 0 && p->on_db >= p->off_db && p->on_db <= 100))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: thresholds must satisfy 0 <= off (%g dB) <= on (%g dB) <= 100",
                            p->off_db, p->on_db);
    if (!(p->min_floor_db > E_MIN && p->min_floor_db < E_MAX))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: minimum floor %g dB out of range", p->min_floor_db);
    if (!(p->max_s > 0 && p->max_s <= 3600 && p->floor_window_s > 0 && p->floor_window_s <= 600))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: maximum length (%g s) must be in (0, 3600], floor window "
                            "(%g s) in (0, 600]", p->max_s, p->floor_window_s);
    if (!(p->pad_s >= 0 && p->min_silence_s >= p->pad_s))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: padding %g s must be >= 0 and <= the minimum silence %g s",
                            p->pad_s, p->min_silence_s);
    if (!(p->min_speech_s >= 0 && p->search_s >= 0 && p->overlap_s >= 0))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: durations must not be negative");
    if (!(p->search_s + p->overlap_s < p->max_s) || frames_of(p, p->max_s) < 2)
        return hd_error_set(err, HD_ERR_ARG,
                            "segmenter: cut search (%g s) + overlap (%g s) must be shorter than the maximum length %g s",
                            p->search_s, p->overlap_s, p->max_s);
    if (frames_of(p, p->min_speech_s) + frames_of(p, p->pad_s) >= frames_of(p, p->max_s))
        return hd_error_set(err, HD_ERR_ARG, "segmenter: minimum speech + padding must be shorter than the maximum length");
    return HD_OK;
}

hd_segmenter *hd_segmenter_create(const hd_segmenter_params *params, hd_error *err) {
    hd_segmenter_params p = params ? *params : hd_segmenter_default_params();
    if (check(&p, err)) return NULL;
    hd_segmenter *s = calloc(1, sizeof *s);
    if (!s) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->p = p;
    s->on_min = frames_of(&p, p.min_speech_s);
    if (s->on_min < 1) s->on_min = 1;
    s->sil_min = frames_of(&p, p.min_silence_s);
    if (s->sil_min < 1) s->sil_min = 1;
    s->pad = frames_of(&p, p.pad_s);
    s->max = frames_of(&p, p.max_s);
    s->search = frames_of(&p, p.search_s);
    if (s->search < 1) s->search = 1;
    s->overlap = frames_of(&p, p.overlap_s);
    s->fw = frames_of(&p, p.floor_window_s);
    if (s->fw < 1) s->fw = 1;
    s->cap = s->max + s->on_min + s->pad + SMOOTH + 2;
    s->hist = calloc(N_BINS, sizeof *s->hist);
    s->win_bin = malloc((size_t)s->fw * sizeof *s->win_bin);
    s->e = malloc((size_t)s->cap * sizeof *s->e);
    if (!s->hist || !s->win_bin || !s->e) {
        hd_segmenter_free(s);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->floor = p.min_floor_db;
    return s;
}

void hd_segmenter_free(hd_segmenter *s) {
    if (!s) return;
    free(s->hist);
    free(s->win_bin);
    free(s->e);
    free(s);
}

const hd_segmenter_params *hd_segmenter_params_of(const hd_segmenter *s) { return &s->p; }
int64_t hd_segmenter_frames(const hd_segmenter *s) { return s->n; }
double hd_segmenter_floor(const hd_segmenter *s) { return s->floor; }

int64_t hd_segmenter_keep_from(const hd_segmenter *s) {
    if (s->speech) return s->seg_start;
    int64_t k = s->n - s->run - s->pad;
    if (k < s->prev_end) k = s->prev_end;
    return k < 0 ? 0 : k;
}

/* Adds frame n's energy to the floor histogram and recomputes the floor. */
static void update_floor(hd_segmenter *s, double e) {
    int b = (int)((e - E_MIN) / BIN_DB);
    if (b < 0) b = 0;
    if (b >= N_BINS) b = N_BINS - 1;
    int64_t slot = s->n % s->fw;
    if (s->n >= s->fw) s->hist[s->win_bin[slot]]--;
    s->win_bin[slot] = (int16_t)b;
    s->hist[b]++;
    int64_t count = s->n + 1 < s->fw ? s->n + 1 : s->fw;
    /* the 10th percentile; the quietest frame while under a tenth of the
     * window has been seen (a stream may start with speech) */
    int64_t target = count < (s->fw + 9) / 10 ? 1 : (count + 9) / 10, acc = 0;
    int k = 0;
    for (; k < N_BINS; k++) {
        acc += s->hist[k];
        if (acc >= target) break;
    }
    double f = E_MIN + (k + 0.5) * BIN_DB;
    s->floor = f > s->p.min_floor_db ? f : s->p.min_floor_db;
}

static double energy_at(const hd_segmenter *s, int64_t i) { return s->e[i % s->cap]; }

/* The quietest cut point in the last `search` frames of the open segment. */
static int64_t find_cut(const hd_segmenter *s) {
    int64_t lo = s->seg_start + s->max - s->search, hi = s->n - 1;
    if (lo <= s->seg_start) lo = s->seg_start + 1;
    int64_t best = hi;
    double best_e = INFINITY;
    for (int64_t c = lo; c <= hi; c++) {
        int64_t a = c - SMOOTH, b = c + SMOOTH;
        if (a < s->seg_start) a = s->seg_start;
        if (b > s->n - 1) b = s->n - 1;
        double acc = 0;
        for (int64_t i = a; i <= b; i++) acc += energy_at(s, i);
        acc /= (double)(b - a + 1);
        if (acc < best_e) {   /* strict: the earliest of equal minima */
            best_e = acc;
            best = c;
        }
    }
    return best;
}

int hd_segmenter_push(hd_segmenter *s, float energy_db, hd_segment *out) {
    double e = energy_db;
    if (!isfinite(e) || e < E_MIN) e = E_MIN;
    if (e >= E_MAX) e = E_MAX - BIN_DB;
    s->e[s->n % s->cap] = (float)e;
    update_floor(s, e);
    const int64_t i = s->n++;
    if (!s->speech) {
        s->run = e > s->floor + s->p.on_db ? s->run + 1 : 0;
        if (s->run >= s->on_min) {
            s->speech = true;
            int64_t first = s->n - s->run;
            s->seg_start = first - s->pad;
            if (s->seg_start < s->prev_end) s->seg_start = s->prev_end;
            if (s->seg_start < 0) s->seg_start = 0;
            s->last_speech = i;
            s->run = 0;
            s->off_run = SUSTAIN;
        }
        return 0;
    }
    s->off_run = e > s->floor + s->p.off_db ? s->off_run + 1 : 0;
    if (s->off_run >= SUSTAIN) s->last_speech = i;
    if (i - s->last_speech >= s->sil_min) {
        int64_t end = s->last_speech + 1 + s->pad;
        if (end > s->n) end = s->n;
        *out = (hd_segment){s->seg_start, end, 0};
        s->prev_end = end;
        s->speech = false;
        s->run = 0;
        return 1;
    }
    if (s->n - s->seg_start >= s->max) {
        int64_t c = find_cut(s);
        *out = (hd_segment){s->seg_start, c, 1};
        s->prev_end = c;
        s->seg_start = c - s->overlap;
        return 1;
    }
    return 0;
}

int hd_segmenter_finish(hd_segmenter *s, hd_segment *out) {
    if (!s->speech) return 0;
    s->speech = false;
    int64_t end = s->last_speech + 1 + s->pad;
    if (end > s->n) end = s->n;
    if (end <= s->seg_start) return 0;
    *out = (hd_segment){s->seg_start, end, 0};
    s->prev_end = end;
    return 1;
}
