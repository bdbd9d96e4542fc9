/* tests/unit/test_arena.c — core/arena.c: alignment, exhaustion, marks, tensors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"

#include <string.h>

static void test_alloc_aligned(void **state) {
    (void)state;
    hd_error err;
    hd_arena *a = hd_arena_create(1000, &err);
    assert_non_null(a);
    assert_int_equal(hd_arena_capacity(a), 1024); /* rounded up to 64 */
    assert_int_equal(hd_arena_used(a), 0);
    unsigned char *prev = NULL;
    const size_t sizes[] = {1, 63, 64, 65, 3, 100};
    size_t expect_used = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = hd_arena_alloc(a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        if (prev) assert_true(p > prev);
        memset(p, 0xAB, sizes[i]); /* writable for its whole size (ASan checks) */
        prev = p;
        expect_used += (sizes[i] + 63) / 64 * 64;
        assert_int_equal(hd_arena_used(a), expect_used);
    }
    assert_int_equal(hd_arena_high_water(a), expect_used);
    hd_arena_free(a);
    hd_arena_free(NULL);
}

static void test_exhaustion(void **state) {
    (void)state;
    hd_error err;
    hd_arena *a = hd_arena_create(256, &err);
    assert_non_null(a);
    assert_non_null(hd_arena_alloc(a, 200));
    assert_int_equal(hd_arena_used(a), 256);
    assert_null(hd_arena_alloc(a, 1));
    assert_int_equal(hd_arena_used(a), 256);            /* unchanged by the failure */
    assert_int_equal(hd_arena_high_water(a), 256 + 64); /* the failed request is remembered */
    assert_non_null(hd_arena_alloc(a, 0));              /* zero bytes still fit */
    assert_null(hd_arena_alloc(a, SIZE_MAX));           /* no overflow */
    assert_int_equal(hd_arena_high_water(a), SIZE_MAX);
    hd_arena_reset(a, 0);
    assert_non_null(hd_arena_alloc(a, 256));
    hd_arena_free(a);
    assert_null(hd_arena_alloc(NULL, 8));
}

static void test_marks(void **state) {
    (void)state;
    hd_error err;
    hd_arena *a = hd_arena_create(4096, &err);
    assert_non_null(a);
    void *p0 = hd_arena_alloc(a, 100);
    size_t m = hd_arena_mark(a);
    void *p1 = hd_arena_alloc(a, 1000);
    assert_non_null(p1);
    hd_arena_alloc(a, 500);
    size_t hw = hd_arena_high_water(a);
    hd_arena_reset(a, m);
    assert_int_equal(hd_arena_used(a), m);
    assert_ptr_equal(hd_arena_alloc(a, 10), p1); /* same place again */
    assert_int_equal(hd_arena_high_water(a), hw); /* high water does not go down */
    hd_arena_reset(a, 4000);                      /* a mark past the position is ignored */
    assert_int_equal(hd_arena_used(a), m + 64);
    hd_arena_reset(a, 0);
    assert_ptr_equal(hd_arena_alloc(a, 1), p0);
    hd_arena_free(a);
}

static void test_tensor(void **state) {
    (void)state;
    hd_error err;
    hd_arena *a = hd_arena_create(1 << 16, &err);
    assert_non_null(a);
    int64_t ne[3] = {5, 3, 2};
    hd_tensor t = hd_arena_tensor(a, HD_TYPE_F32, 3, ne);
    assert_non_null(t.data);
    assert_int_equal((uintptr_t)t.data % 64, 0);
    assert_int_equal(t.n_dims, 3);
    assert_int_equal(t.ne[0], 5);
    assert_int_equal(t.ne[2], 2);
    assert_int_equal(t.ne[3], 1);
    assert_int_equal(t.nb[1], 20);
    assert_int_equal(t.nb[2], 60);
    assert_true(hd_tensor_is_contiguous(&t));
    assert_int_equal(hd_arena_used(a), 128); /* 120 bytes rounded */

    int64_t q[2] = {64, 2};
    hd_tensor tq = hd_arena_tensor(a, HD_TYPE_Q8_0, 2, q);
    assert_non_null(tq.data);
    assert_int_equal(hd_tensor_nbytes(&tq), 2 * 2 * 34);

    int64_t badq[1] = {33}; /* not a multiple of the Q8_0 block */
    assert_null(hd_arena_tensor(a, HD_TYPE_Q8_0, 1, badq).data);
    int64_t neg[1] = {-1};
    assert_null(hd_arena_tensor(a, HD_TYPE_F32, 1, neg).data);
    assert_null(hd_arena_tensor(a, HD_TYPE_F32, 0, ne).data);
    assert_null(hd_arena_tensor(a, HD_TYPE_F32, 5, ne).data);
    int64_t huge[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
    assert_null(hd_arena_tensor(a, HD_TYPE_F32, 4, huge).data);
    int64_t big[1] = {1 << 20};
    assert_null(hd_arena_tensor(a, HD_TYPE_F32, 1, big).data); /* exhausted */
    hd_arena_free(a);
}

static void test_create_zero(void **state) {
    (void)state;
    hd_error err;
    hd_arena *a = hd_arena_create(0, &err);
    assert_non_null(a);
    assert_int_equal(hd_arena_capacity(a), 0);
    assert_null(hd_arena_alloc(a, 1));
    hd_arena_free(a);
    assert_null(hd_arena_create(SIZE_MAX, &err));
    assert_int_equal(err.code, HD_ERR_NOMEM);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_aligned), cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_marks),         cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_create_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
