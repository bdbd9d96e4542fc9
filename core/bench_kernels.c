/* core/bench_kernels.c — bandwidth and hd_op_linear timings (see bench_kernels.h). */
#include "bench_kernels.h"

#include "arena.h"
#include "cpu.h"
#include "kernels.h"
#include "exec.h"
#include "ops.h"
#include "quant.h"

#include <emmintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double hd_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- bandwidth --------------------------------------------------------------------- */

typedef struct bw_ctx {
    const uint64_t *buf;
    uint64_t sums[64];   /* one per chunk slot, so the reads cannot be optimised away */
    int64_t chunk;       /* words per index                                           */
} bw_ctx;

static void bw_read(void *vctx, int64_t i0, int64_t i1, int tid) {
    bw_ctx *c = vctx;
    const __m128i *p = (const __m128i *)(c->buf + i0 * c->chunk), *e = (const __m128i *)(c->buf + i1 * c->chunk);
    __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    for (; p < e; p += 8) { /* 128 bytes a step, eight independent chains (SSE2: portable x86-64) */
        s0 = _mm_add_epi64(s0, _mm_load_si128(p + 0));
        s1 = _mm_add_epi64(s1, _mm_load_si128(p + 1));
        s2 = _mm_add_epi64(s2, _mm_load_si128(p + 2));
        s3 = _mm_add_epi64(s3, _mm_load_si128(p + 3));
        s4 = _mm_add_epi64(s4, _mm_load_si128(p + 4));
        s5 = _mm_add_epi64(s5, _mm_load_si128(p + 5));
        s6 = _mm_add_epi64(s6, _mm_load_si128(p + 6));
        s7 = _mm_add_epi64(s7, _mm_load_si128(p + 7));
    }
    s0 = _mm_add_epi64(_mm_add_epi64(_mm_add_epi64(s0, s1), _mm_add_epi64(s2, s3)),
                       _mm_add_epi64(_mm_add_epi64(s4, s5), _mm_add_epi64(s6, s7)));
    uint64_t lanes[2];
    _mm_storeu_si128((__m128i *)lanes, s0);
    c->sums[tid & 63] += lanes[0] + lanes[1];
}

hd_status hd_bench_bandwidth(hd_threadpool *tp, size_t bytes, int reps, double *gbps, double *pass_gbps,
                             hd_error *err) {
    const size_t chunk_bytes = 4096, window = (size_t)8 << 20;
    bytes -= bytes % window;
    if (bytes == 0 || reps < 1)
        return hd_error_set(err, HD_ERR_ARG, "bench: bandwidth buffer of %zu bytes (needs >= 8 MiB)", bytes);
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, bytes) != 0)
        return hd_error_set(err, HD_ERR_NOMEM, "bench: cannot allocate %zu bytes for the bandwidth test", bytes);
    memset(buf, 1, bytes); /* fault every page in before timing */
    const int nt = hd_threadpool_size(tp);
    const int64_t per_window = (int64_t)(window / chunk_bytes);
    double best = 1e30, best_pass = 1e30;
    uint64_t total = 0;
    for (int r = 0; r < reps; r++) {
        const double p0 = hd_bench_now();
        for (size_t off = 0; off < bytes; off += window) {
            bw_ctx c = {.buf = (const uint64_t *)((const char *)buf + off),
                        .chunk = (int64_t)(chunk_bytes / sizeof(uint64_t))};
            const double t0 = hd_bench_now();
            hd_parallel_for(tp, per_window, per_window / nt > 0 ? per_window / nt : 1, bw_read, &c);
            const double t = hd_bench_now() - t0;
            if (t < best) best = t;
            for (int i = 0; i < 64; i++) total += c.sums[i];
        }
        const double tp_ = hd_bench_now() - p0;
        if (tp_ < best_pass) best_pass = tp_;
    }
    free(buf);
    if (total == 0) return hd_error_set(err, HD_ERR_INTERNAL, "bench: bandwidth read summed to zero");
    *gbps = (double)window / best / 1e9;
    if (pass_gbps) *pass_gbps = (double)bytes / best_pass / 1e9;
    return HD_OK;
}

/* ---- arithmetic peak ---------------------------------------------------------------- */

typedef struct peak_ctx {
    double (*fn)(int64_t iters);
    int64_t iters;
    double flops[64];
} peak_ctx;

static void peak_run(void *vctx, int64_t i0, int64_t i1, int tid) {
    peak_ctx *c = vctx;
    for (int64_t i = i0; i < i1; i++) c->flops[tid & 63] += c->fn(c->iters);
}

hd_status hd_bench_peak(hd_threadpool *tp, hd_bench_peak_kind kind, double *gflops, hd_error *err) {
    const hd_kernels *k = hd_kernels_get(hd_cpu_level_get());
    static const char *const names[] = {"f32", "bf16", "int8"};
    if ((int)kind < 0 || kind > HD_BENCH_PEAK_INT8) return hd_error_set(err, HD_ERR_ARG, "bench: bad peak kind %d", (int)kind);
    peak_ctx c = {.fn = kind == HD_BENCH_PEAK_F32 ? k->peak_f32 : kind == HD_BENCH_PEAK_BF16 ? k->peak_bf16 : k->peak_int8,
                  .iters = 2000000};
    if (!c.fn)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "bench: no %s peak probe at SIMD level %s", names[kind],
                            hd_cpu_level_name(k->level));
    const int nt = hd_threadpool_size(tp);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        memset(c.flops, 0, sizeof c.flops);
        const double t0 = hd_bench_now();
        hd_parallel_for(tp, nt, 1, peak_run, &c);
        const double t = hd_bench_now() - t0;
        double f = 0;
        for (int i = 0; i < 64; i++) f += c.flops[i];
        if (f / t / 1e9 > best) best = f / t / 1e9;
    }
    *gflops = best;
    return HD_OK;
}

/* ---- linear ----------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void fill_random(float *x, int64_t n, uint64_t seed, float scale) {
    uint64_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) x[i] = scale * ((float)(xorshift(&s) >> 40) / (float)(1 << 24) - 0.5f);
}

hd_status hd_bench_linear(hd_type type, int64_t n, int64_t k, int64_t m, hd_threadpool *tp, double min_seconds,
                          size_t cold_bytes, hd_bench_linear_result *out, hd_error *err) {
    memset(out, 0, sizeof *out);
    const size_t rs = hd_type_row_size(type, k);
    if (!hd_type_can_quantize(type) || type == HD_TYPE_Q8_K || rs == 0 || n <= 0 || m <= 0)
        return hd_error_set(err, HD_ERR_ARG, "bench: cannot benchmark %s with k=%lld", hd_type_name(type),
                            (long long)k);
    const size_t wbytes = rs * (size_t)n;
    int copies = 1;
    if (cold_bytes > wbytes) copies = (int)((cold_bytes + wbytes - 1) / wbytes);
    char *w = NULL;
    float *x = NULL, *y = NULL, *row = NULL;
    hd_arena *arena = NULL;
    hd_status st = HD_OK;
    if (posix_memalign((void **)&w, 64, wbytes * (size_t)copies) != 0) w = NULL;
    x = malloc((size_t)(m * k) * sizeof(float));
    y = malloc((size_t)(m * n) * sizeof(float));
    row = malloc((size_t)k * sizeof(float));
    if (!w || !x || !y || !row) {
        st = hd_error_set(err, HD_ERR_NOMEM, "bench: cannot allocate %zu bytes of weights", wbytes * (size_t)copies);
        goto done;
    }
    /* 61 distinct random rows repeated: speed does not depend on the values, and the
     * reference quantizers (K-quants) are slow on 16M weights */
    for (int64_t r = 0; r < n; r++) {
        if (r < 61) {
            fill_random(row, k, (uint64_t)r + 7, 0.1f);
            hd_quantize_row(type, row, w + (size_t)r * rs, k);
        } else {
            memcpy(w + (size_t)r * rs, w + (size_t)(r % 61) * rs, rs);
        }
    }
    for (int c = 1; c < copies; c++) memcpy(w + (size_t)c * wbytes, w, wbytes);
    fill_random(x, m * k, 3, 2.0f);
    /* scratch: converted or packed activations plus per-thread panels */
    const size_t scratch = (size_t)(m + 16) * (size_t)k * sizeof(float) + (8u << 20);
    arena = hd_arena_create(scratch, err);
    if (!arena) {
        st = HD_ERR_NOMEM;
        goto done;
    }
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = tp, .scratch = arena};
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, k, m, x);
    hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, n, m, y);
    double best = 1e30, total = 0;
    int runs = 0;
    while (runs < 3 || total < min_seconds) {
        hd_tensor wt = hd_tensor_2d(type, k, n, w + (size_t)(runs % copies) * wbytes);
        const double t0 = hd_bench_now();
        st = hd_op_linear(&ex, &yt, &wt, &xt, NULL, err);
        const double t = hd_bench_now() - t0;
        if (st != HD_OK) goto done;
        if (t < best) best = t;
        total += t;
        runs++;
    }
    out->type = type;
    out->n = n, out->k = k, out->m = m;
    out->threads = hd_threadpool_size(tp);
    out->runs = runs;
    out->seconds = best;
    out->gflops = 2.0 * (double)n * (double)k * (double)m / best / 1e9;
    out->gbps = (double)wbytes / best / 1e9;
    out->weight_bytes = wbytes;
    out->copies = copies;
done:
    hd_arena_free(arena);
    free(w);
    free(x);
    free(y);
    free(row);
    return st;
}
