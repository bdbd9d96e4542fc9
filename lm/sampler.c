/* lm/sampler.c — repetition penalty, temperature, top-k/top-p/min-p, draw (see sampler.h). */
#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float p;   /* logit, then unnormalised probability */
} cand;

struct hd_sampler {
    hd_sampler_params p;
    int32_t n_vocab;
    float *logits;      /* [n_vocab] working copy                      */
    cand *c;            /* [n_vocab] candidates                        */
    uint32_t *stamp;    /* [n_vocab] "penalised in call #" marks       */
    uint32_t call;
    int32_t *hist;      /* ring of the last repeat_last_n tokens       */
    int n_hist, hist_pos;
    uint64_t rng[4];
};

hd_sampler_params hd_sampler_default_params(void) {
    hd_sampler_params p = {
        .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0,
    };
    return p;
}

/* ---- RNG: xoshiro256** seeded by splitmix64 ------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(hd_sampler *s) {
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

double hd_sampler_uniform(hd_sampler *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

void hd_sampler_reset(hd_sampler *s, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->n_hist = 0;
    s->hist_pos = 0;
    s->p.seed = seed;
}

/* ---- create / free -------------------------------------------------------- */

hd_status hd_sampler_params_check(const hd_sampler_params *p, hd_error *err) {
    if (!(p->temp >= 0) || !isfinite(p->temp) || !(p->top_p > 0) || !(p->min_p >= 0 && p->min_p <= 1) ||
        !(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty) || p->repeat_last_n < 0 ||
        p->repeat_last_n > (1 << 20))
        return hd_error_set(err, HD_ERR_ARG,
                            "sampler: bad parameters (temp %g, top-p %g, min-p %g, repeat penalty %g, last-n %d): "
                            "need temp >= 0, top-p > 0, 0 <= min-p <= 1, penalty > 0",
                            (double)p->temp, (double)p->top_p, (double)p->min_p, (double)p->repeat_penalty,
                            p->repeat_last_n);
    return HD_OK;
}

hd_sampler *hd_sampler_create(const hd_sampler_params *p, int32_t n_vocab, hd_error *err) {
    if (n_vocab <= 0) {
        hd_error_set(err, HD_ERR_ARG, "sampler: vocabulary size %d", (int)n_vocab);
        return NULL;
    }
    if (hd_sampler_params_check(p, err)) return NULL;
    hd_sampler *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->logits = malloc((size_t)n_vocab * sizeof *s->logits);
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->stamp = calloc((size_t)n_vocab, sizeof *s->stamp);
    s->hist = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->hist);
    if (!s->logits || !s->c || !s->stamp || !s->hist) goto nomem;
    hd_sampler_reset(s, p->seed);
    return s;
nomem:
    hd_sampler_free(s);
    hd_error_set(err, HD_ERR_NOMEM, "sampler: out of memory for a vocabulary of %d", (int)n_vocab);
    return NULL;
}

void hd_sampler_free(hd_sampler *s) {
    if (!s) return;
    free(s->logits);
    free(s->c);
    free(s->stamp);
    free(s->hist);
    free(s);
}

void hd_sampler_accept(hd_sampler *s, int32_t token) {
    if (s->p.repeat_last_n <= 0 || token < 0 || token >= s->n_vocab) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

/* ---- ordering: higher p first, lower id on ties (a total order) ----------- */

static int before(const cand *a, const cand *b) { return a->p > b->p || (a->p == b->p && a->id < b->id); }

static int cmp_cand(const void *x, const void *y) {
    const cand *a = x, *b = y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Moves the m best of c[0..n) to c[0..m) (in no particular order). */
static void select_top(cand *c, int64_t n, int64_t m) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        /* median of three as pivot, moved to hi */
        if (before(&c[mid], &c[lo])) swap(&c[mid], &c[lo]);
        if (before(&c[hi], &c[lo])) swap(&c[hi], &c[lo]);
        if (before(&c[mid], &c[hi])) swap(&c[mid], &c[hi]);
        cand pivot = c[hi];
        int64_t store = lo;
        for (int64_t i = lo; i < hi; i++)
            if (before(&c[i], &pivot)) swap(&c[i], &c[store++]);
        swap(&c[store], &c[hi]);
        if (store == m || store == m - 1) return;
        if (store < m) lo = store + 1;
        else hi = store - 1;
    }
}

/* Sorts the best m of c[0..n) to the front, best first. */
static void sort_top(cand *c, int64_t n, int64_t m) {
    if (m < n) select_top(c, n, m);
    qsort(c, (size_t)m, sizeof *c, cmp_cand);
}

int32_t hd_sampler_sample(hd_sampler *s, const float *logits) {
    const int32_t V = s->n_vocab;
    float *l = s->logits;
    memcpy(l, logits, (size_t)V * sizeof *l);

    /* 1. repetition penalty, once per distinct token in the window */
    if (s->p.repeat_penalty != 1.0f && s->n_hist > 0) {
        if (++s->call == 0) {  /* stamp wrapped: start over */
            memset(s->stamp, 0, (size_t)V * sizeof *s->stamp);
            s->call = 1;
        }
        for (int i = 0; i < s->n_hist; i++) {
            int32_t t = s->hist[i];
            if (s->stamp[t] == s->call) continue;
            s->stamp[t] = s->call;
            l[t] = l[t] > 0 ? l[t] / s->p.repeat_penalty : l[t] * s->p.repeat_penalty;
        }
    }

    /* 2. greedy */
    int32_t best = 0;
    for (int32_t i = 1; i < V; i++)
        if (l[i] > l[best]) best = i;
    if (s->p.temp == 0.0f || !isfinite(l[best])) return best;

    /* 3. temperature and softmax (unnormalised: p = exp((l - max)/T)) */
    const float inv_t = 1.0f / s->p.temp, lmax = l[best];
    cand *c = s->c;
    int64_t n = 0;
    for (int32_t i = 0; i < V; i++) {
        float p = expf((l[i] - lmax) * inv_t);
        if (p > 0) c[n++] = (cand){i, p};
    }
    bool sorted = false;

    /* 4. top-k */
    if (s->p.top_k > 0 && s->p.top_k < n) {
        sort_top(c, n, s->p.top_k);
        n = s->p.top_k;
        sorted = true;
    }
    /* 5. top-p: smallest best-first prefix with mass ≥ p; try a short prefix first */
    if (s->p.top_p < 1.0f) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) total += c[i].p;
        const double target = s->p.top_p * total;
        for (int64_t m = sorted ? n : (n < 256 ? n : 256);; m = m * 16 < n ? m * 16 : n) {
            if (!sorted) sort_top(c, n, m);
            double cum = 0;
            int64_t keep = -1;
            for (int64_t i = 0; i < m; i++) {
                cum += c[i].p;
                if (cum >= target) {
                    keep = i + 1;
                    break;
                }
            }
            if (keep > 0) {
                n = keep;
                sorted = true;
                break;
            }
            if (m == n) {  /* rounding: the whole set never reached p·total */
                sorted = true;
                break;
            }
        }
    }
    /* 6. min-p relative to the most probable token (whose p is 1) */
    if (s->p.min_p > 0) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (c[i].p >= s->p.min_p) c[k++] = c[i];
        n = k;  /* the best token (p = 1) always survives */
    }

    /* 7. draw */
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += c[i].p;
    double r = hd_sampler_uniform(s) * total, cum = 0;
    for (int64_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}
