/* tests/unit/test_kv_cache.c — lm/kv_cache: layout, bookkeeping, bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "lm/kv_cache.h"
#include "testutil.h"

static void test_layout(void **state) {
    (void)state;
    hd_error err = {0};
    hd_kv_cache *c = hd_kv_cache_create(3, 2, 8, 16, HD_TYPE_F16, &err);
    assert_non_null(c);
    assert_int_equal(hd_kv_cache_bytes(c), 2 * 3 * 2 * 8 * 16 * 2);
    assert_int_equal(hd_kv_cache_bytes_for(3, 2, 8, 16, HD_TYPE_F32), 2 * 3 * 2 * 8 * 16 * 4);
    assert_int_equal(hd_kv_cache_n_ctx(c), 16);
    assert_int_equal(hd_kv_cache_n_layer(c), 3);
    assert_int_equal(hd_kv_cache_type(c), HD_TYPE_F16);
    const hd_tensor *k0 = hd_kv_cache_k(c, 0), *v2 = hd_kv_cache_v(c, 2);
    assert_int_equal(k0->ne[0], 8);
    assert_int_equal(k0->ne[1], 2);
    assert_int_equal(k0->ne[2], 16);
    assert_int_equal(k0->nb[2], 8 * 2 * 2);
    assert_true(hd_tensor_is_contiguous(k0));
    assert_null(hd_kv_cache_k(c, 3));
    assert_null(hd_kv_cache_v(c, -1));
    /* all 6 tensors are disjoint: write a distinct byte into each, read back */
    const hd_tensor *all[6];
    for (int l = 0; l < 3; l++) {
        all[2 * l] = hd_kv_cache_k(c, l);
        all[2 * l + 1] = hd_kv_cache_v(c, l);
    }
    for (int i = 0; i < 6; i++) memset(all[i]->data, i + 1, hd_tensor_nbytes(all[i]));
    for (int i = 0; i < 6; i++) {
        const unsigned char *p = all[i]->data;
        for (size_t j = 0; j < hd_tensor_nbytes(all[i]); j++) assert_int_equal(p[j], i + 1);
    }
    (void)v2;
    hd_kv_cache_free(c);
    hd_kv_cache_free(NULL);
}

static void test_bookkeeping(void **state) {
    (void)state;
    hd_error err = {0};
    hd_kv_cache *c = hd_kv_cache_create(1, 1, 4, 10, HD_TYPE_F32, &err);
    assert_non_null(c);
    assert_int_equal(hd_kv_cache_used(c), 0);
    assert_int_equal(hd_kv_cache_advance(c, 7, &err), HD_OK);
    assert_int_equal(hd_kv_cache_advance(c, 4, &err), HD_ERR_ARG);   /* 11 > 10 */
    assert_non_null(strstr(err.msg, "do not fit"));
    assert_int_equal(hd_kv_cache_used(c), 7);
    assert_int_equal(hd_kv_cache_advance(c, 3, &err), HD_OK);
    assert_int_equal(hd_kv_cache_used(c), 10);
    assert_int_equal(hd_kv_cache_truncate(c, 11, &err), HD_ERR_ARG);
    assert_int_equal(hd_kv_cache_truncate(c, 4, &err), HD_OK);
    assert_int_equal(hd_kv_cache_used(c), 4);
    assert_int_equal(hd_kv_cache_advance(c, -1, &err), HD_ERR_ARG);
    hd_kv_cache_clear(c);
    assert_int_equal(hd_kv_cache_used(c), 0);
    hd_kv_cache_free(c);
}

static void test_bad_args(void **state) {
    (void)state;
    hd_error err = {0};
    assert_null(hd_kv_cache_create(1, 1, 4, 10, HD_TYPE_Q4_0, &err));
    assert_int_equal(err.code, HD_ERR_UNSUPPORTED);
    assert_null(hd_kv_cache_create(0, 1, 4, 10, HD_TYPE_F16, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_null(hd_kv_cache_create(1, 1, 4, 0, HD_TYPE_F16, &err));
    assert_null(hd_kv_cache_create(1, -3, 4, 10, HD_TYPE_F16, &err));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_bookkeeping),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
