/* core/threadpool.c — persistent workers, dynamic chunk claiming, spin-then-sleep.
 *
 * One job at a time per pool.  A job is published by storing a 64-bit claim
 * word: the job's generation in the high 32 bits and the number of chunks not
 * yet claimed in the low 32 bits.  Every thread (the caller included) claims
 * chunks by compare-and-swap on that word, so a worker that wakes late, after
 * the job is finished and a newer one published, can never claim a stale
 * chunk: its CAS fails on the generation.  The job's fields (fn, ctx, n,
 * n_chunks) are written before the claim word is published (release) and read
 * only after a successful claim (acquire); they cannot change while a claimed
 * chunk is outstanding because the caller waits for every chunk to complete.
 *
 * Waiting: workers spin for a short while on the claim word (decode issues
 * hundreds of parallel_for calls per token, a few microseconds apart), then
 * sleep on a condition variable.  The sleep/wake hand-off is a Dekker pattern
 * on sequentially consistent atomics (the sleeper announces itself, then
 * re-checks; the publisher publishes, then checks for sleepers), with the
 * wake-up itself done under the mutex, so no wake-up is lost.
 */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How long an idle thread spins before sleeping (overridable: HERD_SPIN_US). */
#define HD_SPIN_US_DEFAULT 200
/* Chunks per thread: dynamic claiming balances uneven rows without many claims. */
#define HD_CHUNKS_PER_THREAD 4

struct hd_threadpool {
    int n_threads;            /* workers + the caller                    */
    pthread_t *workers;       /* [n_threads - 1]                         */
    int n_started;            /* workers actually created                */
    long spin_ns;

    pthread_mutex_t submit;   /* one job at a time from outside the pool */
    pthread_mutex_t mutex;    /* guards the two condition variables      */
    pthread_cond_t work_cv;   /* workers sleep here between jobs         */
    pthread_cond_t done_cv;   /* the caller sleeps here for the last chunk */

    /* The job (see the file comment for when these may be read). */
    hd_parallel_fn fn;
    void *ctx;
    int64_t n;
    int64_t n_chunks;

    _Atomic uint64_t claim;   /* generation << 32 | chunks left to claim  */
    _Atomic int64_t done;     /* chunks completed in the current job      */
    _Atomic int sleepers;     /* workers inside (or entering) cond_wait   */
    _Atomic int caller_waiting;
    _Atomic int shutdown;
};

typedef struct {
    hd_threadpool *tp;
    int id;
} worker_arg;

/* The pool this thread is currently running a chunk for, and its id in it. */
static _Thread_local hd_threadpool *tl_pool;
static _Thread_local int tl_id;
static _Thread_local int tl_depth;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int hd_cpu_count(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = online > 0 ? (int)online : 1;
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int allowed = CPU_COUNT(&set);
        if (allowed > 0 && allowed < n) n = allowed;
    }
#endif
    return n;
}

int hd_threadpool_size(const hd_threadpool *tp) { return tp ? tp->n_threads : 1; }

static inline uint32_t claim_gen(uint64_t c) { return (uint32_t)(c >> 32); }

/* Chunk i of n_chunks over [0, n): sizes differ by at most one. */
static void chunk_range(int64_t n, int64_t n_chunks, int64_t i, int64_t *b, int64_t *e) {
    int64_t q = n / n_chunks, r = n % n_chunks;
    *b = i * q + (i < r ? i : r);
    *e = *b + q + (i < r ? 1 : 0);
}

/* Claims and runs chunks of generation gen until none are left. */
static void run_chunks(hd_threadpool *tp, uint32_t gen, int id) {
    uint64_t c = atomic_load_explicit(&tp->claim, memory_order_acquire);
    for (;;) {
        if (claim_gen(c) != gen || (uint32_t)c == 0) return;
        if (!atomic_compare_exchange_weak_explicit(&tp->claim, &c, c - 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* The job is stable while our chunk is outstanding: copy what we need. */
        int64_t n_chunks = tp->n_chunks;
        int64_t left = (int64_t)(uint32_t)c; /* before our claim */
        int64_t b, e;
        chunk_range(tp->n, n_chunks, n_chunks - left, &b, &e);
        tp->fn(tp->ctx, b, e, id);
        /* After this increment the caller may already be publishing the next job. */
        int64_t d = atomic_fetch_add(&tp->done, 1) + 1;
        if (d == n_chunks && atomic_load(&tp->caller_waiting)) {
            pthread_mutex_lock(&tp->mutex);
            pthread_cond_signal(&tp->done_cv);
            pthread_mutex_unlock(&tp->mutex);
        }
        c = atomic_load_explicit(&tp->claim, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    worker_arg wa = *(worker_arg *)p;
    free(p);
    hd_threadpool *tp = wa.tp;
    tl_pool = tp;
    tl_id = wa.id;
    tl_depth = 1; /* everything a worker runs is inside a job */
    uint32_t seen = 0; /* the generation at creation: a job published before this
                          thread got here must still be seen as new */
    for (;;) {
        /* Spin for a new generation, then sleep. */
        uint64_t c = atomic_load_explicit(&tp->claim, memory_order_acquire);
        if (claim_gen(c) == seen && !atomic_load_explicit(&tp->shutdown, memory_order_relaxed)) {
            long deadline = now_ns() + tp->spin_ns;
            for (unsigned it = 1;; it++) {
                cpu_relax();
                c = atomic_load_explicit(&tp->claim, memory_order_acquire);
                if (claim_gen(c) != seen || atomic_load_explicit(&tp->shutdown, memory_order_relaxed))
                    break;
                if ((it & 63) == 0 && now_ns() > deadline) break;
            }
        }
        if (claim_gen(c) == seen && !atomic_load(&tp->shutdown)) {
            pthread_mutex_lock(&tp->mutex);
            atomic_fetch_add(&tp->sleepers, 1);
            while (claim_gen(atomic_load(&tp->claim)) == seen && !atomic_load(&tp->shutdown))
                pthread_cond_wait(&tp->work_cv, &tp->mutex);
            atomic_fetch_sub(&tp->sleepers, 1);
            pthread_mutex_unlock(&tp->mutex);
            c = atomic_load_explicit(&tp->claim, memory_order_acquire);
        }
        if (atomic_load(&tp->shutdown)) break;
        seen = claim_gen(c);
        run_chunks(tp, seen, wa.id);
    }
    return NULL;
}

hd_threadpool *hd_threadpool_create(int n_threads, hd_error *err) {
    if (n_threads <= 0) n_threads = hd_cpu_count();
    if (n_threads > 1024)
        return hd_error_set(err, HD_ERR_ARG, "thread pool: %d threads requested, at most 1024", n_threads),
               NULL;
    hd_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return hd_error_set(err, HD_ERR_NOMEM, "thread pool: out of memory"), NULL;
    tp->n_threads = n_threads;
    long spin_us = HD_SPIN_US_DEFAULT;
    const char *env = getenv("HERD_SPIN_US");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 0 && v <= 1000000) spin_us = v;
    }
    tp->spin_ns = spin_us * 1000L;
    pthread_mutex_init(&tp->submit, NULL);
    pthread_mutex_init(&tp->mutex, NULL);
    pthread_cond_init(&tp->work_cv, NULL);
    pthread_cond_init(&tp->done_cv, NULL);
    atomic_init(&tp->claim, 0);
    atomic_init(&tp->done, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->caller_waiting, 0);
    atomic_init(&tp->shutdown, 0);
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof *tp->workers);
        if (!tp->workers) {
            hd_threadpool_free(tp);
            return hd_error_set(err, HD_ERR_NOMEM, "thread pool: out of memory"), NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) {
                hd_threadpool_free(tp);
                return hd_error_set(err, HD_ERR_NOMEM, "thread pool: out of memory"), NULL;
            }
            wa->tp = tp;
            wa->id = i;
            int rc = pthread_create(&tp->workers[i - 1], NULL, worker_main, wa);
            if (rc != 0) {
                free(wa);
                hd_threadpool_free(tp);
                return hd_error_set(err, HD_ERR_NOMEM, "thread pool: cannot start thread %d of %d (error %d)",
                                    i, n_threads, rc),
                       NULL;
            }
            tp->n_started++;
        }
    }
    return tp;
}

void hd_threadpool_free(hd_threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mutex);
    atomic_store(&tp->shutdown, 1);
    /* A new generation with nothing to claim wakes spinners as well. */
    uint64_t c = atomic_load(&tp->claim);
    atomic_store(&tp->claim, (uint64_t)(claim_gen(c) + 1u) << 32);
    pthread_cond_broadcast(&tp->work_cv);
    pthread_mutex_unlock(&tp->mutex);
    for (int i = 0; i < tp->n_started; i++) pthread_join(tp->workers[i], NULL);
    pthread_cond_destroy(&tp->work_cv);
    pthread_cond_destroy(&tp->done_cv);
    pthread_mutex_destroy(&tp->mutex);
    pthread_mutex_destroy(&tp->submit);
    free(tp->workers);
    free(tp);
}

/* Runs [0, n) on the calling thread as one chunk. */
static void run_serial(hd_threadpool *tp, int64_t n, hd_parallel_fn fn, void *ctx) {
    int id = (tl_depth > 0 && tl_pool == tp) ? tl_id : 0;
    tl_depth++;
    fn(ctx, 0, n, id);
    tl_depth--;
}

void hd_parallel_for(hd_threadpool *tp, int64_t n, int64_t grain, hd_parallel_fn fn, void *ctx) {
    if (n <= 0 || !fn) return;
    if (grain < 1) grain = 1;
    /* Serial: no pool, one thread, too little work, or nested inside a job. */
    if (!tp || tp->n_threads <= 1 || n <= grain || tl_depth > 0) {
        run_serial(tp, n, fn, ctx);
        return;
    }
    int64_t n_chunks = (n + grain - 1) / grain;
    int64_t max_chunks = (int64_t)tp->n_threads * HD_CHUNKS_PER_THREAD;
    if (n_chunks > max_chunks) n_chunks = max_chunks;

    pthread_mutex_lock(&tp->submit);
    tp->fn = fn;
    tp->ctx = ctx;
    tp->n = n;
    tp->n_chunks = n_chunks;
    atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
    uint32_t gen = claim_gen(atomic_load(&tp->claim)) + 1u;
    /* Publish (seq_cst store), then look for sleepers (seq_cst load). */
    atomic_store(&tp->claim, ((uint64_t)gen << 32) | (uint64_t)n_chunks);
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mutex);
        pthread_cond_broadcast(&tp->work_cv);
        pthread_mutex_unlock(&tp->mutex);
    }

    hd_threadpool *saved_pool = tl_pool;
    int saved_id = tl_id;
    tl_pool = tp;
    tl_id = 0;
    tl_depth++;
    run_chunks(tp, gen, 0);
    tl_depth--;
    tl_pool = saved_pool;
    tl_id = saved_id;

    /* Wait for chunks still running on workers: spin, then sleep. */
    if (atomic_load(&tp->done) != n_chunks) {
        long deadline = now_ns() + tp->spin_ns;
        for (unsigned it = 1; atomic_load_explicit(&tp->done, memory_order_acquire) != n_chunks; it++) {
            cpu_relax();
            if ((it & 63) == 0 && now_ns() > deadline) {
                pthread_mutex_lock(&tp->mutex);
                atomic_store(&tp->caller_waiting, 1);
                while (atomic_load(&tp->done) != n_chunks) pthread_cond_wait(&tp->done_cv, &tp->mutex);
                atomic_store(&tp->caller_waiting, 0);
                pthread_mutex_unlock(&tp->mutex);
                break;
            }
        }
    }
    pthread_mutex_unlock(&tp->submit);
}
