/* tests/unit/ops_testutil.h — shared by the test_ops_*.c files (header-only).
 *
 * Every op test runs its case under each SIMD level the machine has and with
 * and without a thread pool:
 *
 *     OT_FOR_EACH_CONFIG(cfg) { ... cfg.ex ... cfg.name ... }
 *
 * and compares against a plain double-precision reference written in the test.
 */
#ifndef HD_OPS_TESTUTIL_H
#define HD_OPS_TESTUTIL_H

#include "core/cpu.h"
#include "core/exec.h"
#include "core/ops.h"
#include "core/threadpool.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    hd_exec ex;
    hd_cpu_level level;
    int threads;
    char name[64];
} ot_config;

static hd_threadpool *ot_pool;

/* Config i (0 .. 2·levels-1): level i/2, serial (even) or 3 threads (odd). */
static inline bool ot_config_get(int i, ot_config *c) {
    int levels = (int)hd_cpu_level_max() + 1;
    if (i >= 2 * levels) {
        hd_cpu_set_level(hd_cpu_level_max());
        return false;
    }
    if (!ot_pool) {
        hd_error err;
        ot_pool = hd_threadpool_create(3, &err);
        if (!ot_pool) {
            fprintf(stderr, "cannot create a thread pool: %s\n", err.msg);
            abort();
        }
    }
    c->level = hd_cpu_set_level((hd_cpu_level)(i / 2));
    c->threads = i % 2 ? 3 : 1;
    c->ex = (hd_exec){.backend = HD_BACKEND_CPU, .pool = i % 2 ? ot_pool : NULL, .scratch = NULL};
    snprintf(c->name, sizeof c->name, "%s/%d thread%s", hd_cpu_level_name(c->level), c->threads,
             c->threads > 1 ? "s" : "");
    return true;
}

#define OT_FOR_EACH_CONFIG(cfg) for (int ot_i_ = 0; ot_config_get(ot_i_, &(cfg)); ot_i_++)

/* Fails the test when max|got - ref| > atol + rtol·max|ref|; reports where. */
#define ot_expect_close(got, ref, n, rtol, atol, ...)                                                          \
    do {                                                                                                       \
        const float *g_ = (got);                                                                               \
        const double *r_ = (ref);                                                                              \
        size_t n_ = (size_t)(n);                                                                               \
        double mx_ = 0, worst_ = 0;                                                                            \
        size_t wi_ = 0;                                                                                        \
        for (size_t i_ = 0; i_ < n_; i_++)                                                                     \
            if (fabs(r_[i_]) > mx_) mx_ = fabs(r_[i_]);                                                        \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                                   \
            double d_ = fabs((double)g_[i_] - r_[i_]);                                                         \
            if (!(d_ <= worst_)) {                                                                             \
                worst_ = d_;                                                                                   \
                wi_ = i_;                                                                                      \
            }                                                                                                  \
        }                                                                                                      \
        if (!(worst_ <= (atol) + (rtol)*mx_)) {                                                                \
            char ctx_[256];                                                                                    \
            snprintf(ctx_, sizeof ctx_, __VA_ARGS__);                                                          \
            fail_msg("%s: element %zu is %.9g, expected %.9g (|diff| %.3g > %.3g)", ctx_, wi_,                 \
                     (double)g_[wi_], r_[wi_], worst_, (atol) + (rtol)*mx_);                                   \
        }                                                                                                      \
    } while (0)

static inline float *ot_randn(tu_rng *r, size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) abort();
    tu_fill_normal(r, x, n, scale);
    return x;
}

static inline double *ot_dalloc(size_t n) {
    double *x = calloc(n ? n : 1, sizeof *x);
    if (!x) abort();
    return x;
}

static inline float *ot_falloc(size_t n) {
    float *x = calloc(n ? n : 1, sizeof *x);
    if (!x) abort();
    return x;
}

static inline void ot_teardown_pool(void) {
    hd_threadpool_free(ot_pool);
    ot_pool = NULL;
}

#endif
