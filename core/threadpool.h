/* core/threadpool.h — a persistent pool of worker threads with parallel-for.
 *
 * Workers are created once and sleep between jobs.  The calling thread takes
 * part in every job, so a pool of n threads uses n-1 workers plus the caller.
 * hd_parallel_for on a NULL pool runs serially on the caller.
 */
#ifndef HD_THREADPOOL_H
#define HD_THREADPOOL_H

#include "error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_threadpool hd_threadpool;

/* n_threads <= 0 means one per online core.  Caller frees with hd_threadpool_free. */
hd_threadpool *hd_threadpool_create(int n_threads, hd_error *err);
void hd_threadpool_free(hd_threadpool *tp);          /* NULL is a no-op */
int hd_threadpool_size(const hd_threadpool *tp);     /* 1 for NULL       */
int hd_cpu_count(void);                              /* online cores     */

/* Work on [begin, end) of the index range; thread_id in [0, size). */
typedef void (*hd_parallel_fn)(void *ctx, int64_t begin, int64_t end, int thread_id);

/* Splits [0, n) into chunks of at least `grain` indices and runs fn on them
 * across the pool; returns when all are done.  Not reentrant: fn must not call
 * hd_parallel_for on the same pool (it then runs serially). */
void hd_parallel_for(hd_threadpool *tp, int64_t n, int64_t grain, hd_parallel_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
