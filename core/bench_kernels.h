/* core/bench_kernels.h — measurements behind `herd bench kernels`.
 *
 * Memory bandwidth (a STREAM-like read of a large buffer with a given number
 * of threads) and the speed of hd_op_linear per weight type and shape, so
 * the matrix-vector products can be quoted as a share of the bandwidth the
 * machine actually delivers.  Library code: nothing is printed.
 */
#ifndef HD_BENCH_KERNELS_H
#define HD_BENCH_KERNELS_H

#include "error.h"
#include "threadpool.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Read bandwidth in GB/s (1e9 bytes/s) of a STREAM-like pass over `bytes`
 * (rounded down to 8 MiB, should be far past the caches: >= 1 GiB) split
 * across the pool's threads, `reps` passes.  *gbps is the best 8 MiB window
 * of all passes — the same best-of-short-calls statistic the linear timings
 * use, so their ratio is not skewed by a busy machine; *pass_gbps (may be
 * NULL) the best whole pass. */
hd_status hd_bench_bandwidth(hd_threadpool *tp, size_t bytes, int reps, double *gbps, double *pass_gbps,
                             hd_error *err);

typedef struct hd_bench_linear_result {
    hd_type type;
    int64_t n, k, m;        /* w [n, k] (out × in), m tokens                       */
    int threads;
    int runs;               /* timed calls                                          */
    double seconds;         /* best time of one call                                */
    double gflops;          /* 2·n·k·m / seconds / 1e9                              */
    double gbps;            /* weight bytes read / seconds / 1e9                    */
    size_t weight_bytes;    /* bytes of one copy of w                               */
    int copies;             /* distinct copies of w cycled through (cold caches)    */
} hd_bench_linear_result;

/* Times y = x·wᵀ for random w of `type` ([n, k]) and m random tokens on the pool.
 * For m small (memory bound) the call cycles through enough copies of w to
 * exceed `cold_bytes` so the weights come from memory, not the caches
 * (cold_bytes 0: one copy).  Runs for at least min_seconds (and 3 calls). */
hd_status hd_bench_linear(hd_type type, int64_t n, int64_t k, int64_t m, hd_threadpool *tp, double min_seconds,
                          size_t cold_bytes, hd_bench_linear_result *out, hd_error *err);

/* What an arithmetic peak probe runs. */
typedef enum hd_bench_peak_kind {
    HD_BENCH_PEAK_F32 = 0,   /* FMA                        */
    HD_BENCH_PEAK_BF16 = 1,  /* vdpbf16ps                  */
    HD_BENCH_PEAK_INT8 = 2,  /* vpdpbusd (2 ops a product) */
} hd_bench_peak_kind;

/* Arithmetic peak in G(FL)OP/s of the active SIMD level on the pool's threads:
 * register-only chains of the kind's instruction; HD_ERR_UNSUPPORTED where the
 * level has none. */
hd_status hd_bench_peak(hd_threadpool *tp, hd_bench_peak_kind kind, double *gflops, hd_error *err);

/* Monotonic seconds. */
double hd_bench_now(void);

#ifdef __cplusplus
}
#endif
#endif
