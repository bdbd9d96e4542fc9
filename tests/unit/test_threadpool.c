/* tests/unit/test_threadpool.c — core/threadpool.c: coverage of every index,
 * thread ids, nesting, concurrent callers, sleeping workers, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    _Atomic int *hits;      /* [n] */
    int size;               /* pool size: valid thread ids are [0, size) */
    _Atomic int bad_id;
    _Atomic int calls;
    _Atomic unsigned ids_seen; /* bit per thread id */
} cover_ctx;

static void cover_fn(void *p, int64_t b, int64_t e, int id) {
    cover_ctx *c = p;
    if (id < 0 || id >= c->size) atomic_store(&c->bad_id, 1);
    else atomic_fetch_or(&c->ids_seen, 1u << (id & 31));
    atomic_fetch_add(&c->calls, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void check_cover(hd_threadpool *tp, int64_t n, int64_t grain) {
    cover_ctx c;
    memset(&c, 0, sizeof c);
    c.hits = calloc((size_t)(n > 0 ? n : 1), sizeof *c.hits);
    assert_non_null(c.hits);
    c.size = hd_threadpool_size(tp);
    hd_parallel_for(tp, n, grain, cover_fn, &c);
    for (int64_t i = 0; i < n; i++) {
        if (c.hits[i] != 1) fail_msg("n=%lld grain=%lld: index %lld visited %d times", (long long)n,
                                     (long long)grain, (long long)i, c.hits[i]);
    }
    assert_int_equal(c.bad_id, 0);
    if (n <= 0) assert_int_equal(c.calls, 0);
    else if (n <= grain || !tp) assert_int_equal(c.calls, 1);
    free(c.hits);
}

static void test_null_pool_serial(void **state) {
    (void)state;
    assert_int_equal(hd_threadpool_size(NULL), 1);
    assert_true(hd_cpu_count() >= 1);
    hd_threadpool_free(NULL);
    for (int64_t n = 0; n < 40; n += 7) check_cover(NULL, n, 1);
    cover_ctx c;
    memset(&c, 0, sizeof c);
    _Atomic int hits[10] = {0};
    c.hits = hits;
    c.size = 1;
    hd_parallel_for(NULL, 10, 1, cover_fn, &c);
    assert_int_equal(c.calls, 1);           /* one call covering everything */
    assert_int_equal(c.ids_seen, 1u);       /* on thread 0                  */
}

static void test_cover_sizes(void **state) {
    (void)state;
    hd_error err;
    for (int nt = 1; nt <= 5; nt++) {
        hd_threadpool *tp = hd_threadpool_create(nt, &err);
        assert_non_null(tp);
        assert_int_equal(hd_threadpool_size(tp), nt);
        const int64_t ns[] = {0, 1, 2, 3, 5, 17, 64, 100, 1000, 4097, 100003};
        const int64_t grains[] = {1, 2, 7, 64, 1000000};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) check_cover(tp, ns[i], grains[g]);
        check_cover(tp, 10, 0); /* grain < 1 behaves as 1 */
        hd_threadpool_free(tp);
    }
}

static void test_default_size(void **state) {
    (void)state;
    hd_error err;
    hd_threadpool *tp = hd_threadpool_create(0, &err);
    assert_non_null(tp);
    assert_int_equal(hd_threadpool_size(tp), hd_cpu_count());
    check_cover(tp, 1234, 3);
    hd_threadpool_free(tp);
    assert_null(hd_threadpool_create(100000, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

/* Chunks slow enough that a worker must take part. */
static void slow_fn(void *p, int64_t b, int64_t e, int id) {
    cover_fn(p, b, e, id);
    usleep(3000);
}

/* Every chunk waits (up to 10 s) until both threads have run one, so the job
 * can only finish early if the worker really took part: no timing guess. */
static void meet_fn(void *p, int64_t b, int64_t e, int id) {
    cover_ctx *c = p;
    cover_fn(p, b, e, id);
    for (int i = 0; i < 10000 && atomic_load(&c->ids_seen) != 3u; i++) usleep(1000);
}

static void test_workers_participate(void **state) {
    (void)state;
    hd_error err;
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    for (int round = 0; round < 3; round++) {
        cover_ctx c;
        memset(&c, 0, sizeof c);
        _Atomic int hits[16] = {0};
        c.hits = hits;
        c.size = 2;
        hd_parallel_for(tp, 16, 1, meet_fn, &c);
        for (int i = 0; i < 16; i++) assert_int_equal(hits[i], 1);
        assert_int_equal(c.ids_seen, 3u); /* thread 0 (caller) and thread 1 both ran chunks */
    }
    hd_threadpool_free(tp);
}

/* Many tiny jobs back to back: the decode pattern; sums must be exact. */
typedef struct {
    const int64_t *x;
    _Atomic int64_t sum;
} sum_ctx;

static void sum_fn(void *p, int64_t b, int64_t e, int id) {
    (void)id;
    sum_ctx *c = p;
    int64_t s = 0;
    for (int64_t i = b; i < e; i++) s += c->x[i];
    atomic_fetch_add(&c->sum, s);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_many_small_jobs(void **state) {
    (void)state;
    hd_error err;
    hd_threadpool *tp = hd_threadpool_create(3, &err);
    assert_non_null(tp);
    int64_t x[257];
    for (int i = 0; i < 257; i++) x[i] = i * 3 + 1;
    int64_t expect = 0;
    for (int i = 0; i < 257; i++) expect += x[i];
    const int iters = 20000;
    double t0 = now_s();
    for (int it = 0; it < iters; it++) {
        sum_ctx c = {.x = x};
        atomic_init(&c.sum, 0);
        int64_t n = 1 + it % 257;
        hd_parallel_for(tp, n, 1, sum_fn, &c);
        int64_t e = 0;
        for (int64_t i = 0; i < n; i++) e += x[i];
        if (c.sum != e) fail_msg("job %d: sum %lld, expected %lld", it, (long long)c.sum, (long long)e);
    }
    double dt = now_s() - t0;
    print_message("  dispatch: %.2f us per parallel_for (3 threads, %d jobs)\n", 1e6 * dt / iters, iters);
    (void)expect;
    hd_threadpool_free(tp);
}

/* Jobs separated by idle gaps longer than the spin: workers sleep and must wake. */
static void test_sleep_wake(void **state) {
    (void)state;
    setenv("HERD_SPIN_US", "50", 1);
    hd_error err;
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    unsetenv("HERD_SPIN_US");
    assert_non_null(tp);
    for (int r = 0; r < 10; r++) {
        usleep(2000);
        cover_ctx c;
        memset(&c, 0, sizeof c);
        _Atomic int hits[8] = {0};
        c.hits = hits;
        c.size = 2;
        hd_parallel_for(tp, 8, 1, slow_fn, &c);
        for (int i = 0; i < 8; i++) assert_int_equal(hits[i], 1);
    }
    hd_threadpool_free(tp);
}

/* A nested call on the same pool runs serially with the calling thread's id. */
typedef struct {
    hd_threadpool *tp;
    _Atomic int *hits; /* [outer * inner] */
    int inner;
    _Atomic int bad;
} nest_ctx;

typedef struct {
    nest_ctx *nc;
    int64_t row;
    int outer_id;
    int calls;
} inner_ctx;

static void inner_fn(void *p, int64_t b, int64_t e, int id) {
    inner_ctx *ic = p;
    ic->calls++;
    if (id != ic->outer_id) atomic_store(&ic->nc->bad, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&ic->nc->hits[ic->row * ic->nc->inner + i], 1);
}

static void outer_fn(void *p, int64_t b, int64_t e, int id) {
    nest_ctx *nc = p;
    for (int64_t r = b; r < e; r++) {
        inner_ctx ic = {.nc = nc, .row = r, .outer_id = id, .calls = 0};
        hd_parallel_for(nc->tp, nc->inner, 1, inner_fn, &ic);
        if (ic.calls != 1) atomic_store(&nc->bad, 1);
    }
}

static void test_nested(void **state) {
    (void)state;
    hd_error err;
    hd_threadpool *tp = hd_threadpool_create(3, &err);
    assert_non_null(tp);
    enum { OUTER = 37, INNER = 23 };
    _Atomic int hits[OUTER * INNER];
    memset(hits, 0, sizeof hits);
    nest_ctx nc = {.tp = tp, .hits = hits, .inner = INNER};
    atomic_init(&nc.bad, 0);
    hd_parallel_for(tp, OUTER, 1, outer_fn, &nc);
    for (int i = 0; i < OUTER * INNER; i++) assert_int_equal(hits[i], 1);
    assert_int_equal(nc.bad, 0);
    hd_threadpool_free(tp);
}

/* Two threads sharing one pool: jobs are serialised, none is lost. */
typedef struct {
    hd_threadpool *tp;
    int ok;
} share_arg;

static void *share_main(void *p) {
    share_arg *a = p;
    int64_t x[100];
    for (int i = 0; i < 100; i++) x[i] = i;
    a->ok = 1;
    for (int it = 0; it < 3000; it++) {
        sum_ctx c = {.x = x};
        atomic_init(&c.sum, 0);
        hd_parallel_for(a->tp, 100, 3, sum_fn, &c);
        if (c.sum != 4950) a->ok = 0;
    }
    return NULL;
}

static void test_concurrent_callers(void **state) {
    (void)state;
    hd_error err;
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    share_arg a = {tp, 0}, b = {tp, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, share_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, share_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.ok, 1);
    assert_int_equal(b.ok, 1);
    hd_threadpool_free(tp);
}

static void test_create_free_churn(void **state) {
    (void)state;
    hd_error err;
    for (int i = 0; i < 50; i++) {
        hd_threadpool *tp = hd_threadpool_create(1 + i % 4, &err);
        assert_non_null(tp);
        if (i % 2) check_cover(tp, 50, 1); /* half freed right after creation */
        hd_threadpool_free(tp);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_pool_serial),   cmocka_unit_test(test_cover_sizes),
        cmocka_unit_test(test_default_size),       cmocka_unit_test(test_workers_participate),
        cmocka_unit_test(test_many_small_jobs),    cmocka_unit_test(test_sleep_wake),
        cmocka_unit_test(test_nested),             cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_create_free_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
