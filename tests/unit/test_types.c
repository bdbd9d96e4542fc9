/* tests/unit/test_types.c — type traits and the scalar fp16/bf16 conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "core/tensor.h"
#include "core/types.h"
#include "testutil.h"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_traits_match_gguf(void **state) {
    (void)state;
    assert_int_equal(hd_type_get(HD_TYPE_Q4_0)->type_size, 18);
    assert_int_equal(hd_type_get(HD_TYPE_Q8_0)->type_size, 34);
    assert_int_equal(hd_type_get(HD_TYPE_Q4_K)->type_size, 144);
    assert_int_equal(hd_type_get(HD_TYPE_Q5_K)->type_size, 176);
    assert_int_equal(hd_type_get(HD_TYPE_Q6_K)->type_size, 210);
    assert_int_equal(hd_type_get(HD_TYPE_BF16)->type_size, 2);
    assert_int_equal(hd_type_get(HD_TYPE_Q4_K)->block_size, 256);
    assert_null(hd_type_get(3));   /* Q4_1: not supported */
    assert_null(hd_type_get(-1));
    assert_null(hd_type_get(1000));
    assert_int_equal(hd_type_from_name("q4_k"), HD_TYPE_Q4_K);
    assert_int_equal(hd_type_from_name("BF16"), HD_TYPE_BF16);
    assert_int_equal(hd_type_from_name("Q4_KK"), -1);
    assert_int_equal(hd_type_row_size(HD_TYPE_Q4_0, 64), 36);
    assert_int_equal(hd_type_row_size(HD_TYPE_Q4_0, 33), 0); /* not a multiple of the block */
    assert_int_equal(hd_type_row_size(HD_TYPE_F16, 7), 14);
}

/* Every half value converts to float and back exactly; against the compiler's _Float16. */
static void test_f16_exhaustive(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = hd_f16_to_f32((hd_f16)h);
        _Float16 ref;
        uint16_t hb = (uint16_t)h;
        memcpy(&ref, &hb, 2);
        float fr = (float)ref;
        if (isnan(fr)) {
            assert_true(isnan(f));
            continue;
        }
        assert_int_equal(f2u(f), f2u(fr));
        assert_int_equal(hd_f32_to_f16(f), h);
    }
}

/* Rounding of arbitrary floats (incl. subnormal results, ties, overflow) matches _Float16. */
static void test_f16_rounding(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 7);
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)tu_rng_u64(&r);
        /* focus on the half range: exponents 100..145 */
        if (i & 1) u = (u & 0x807fffffu) | ((100u + (u >> 24) % 46u) << 23);
        float f = u2f(u);
        if (isnan(f)) continue;
        _Float16 ref = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &ref, 2);
        if (hd_f32_to_f16(f) != rb) fail_msg("f16(%a) = %04x, expected %04x", f, hd_f32_to_f16(f), rb);
    }
}

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(hd_f32_to_bf16(1.0f), 0x3f80);
    assert_true(hd_bf16_to_f32(0x3f80) == 1.0f);
    /* round to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 → 1 */
    assert_int_equal(hd_f32_to_bf16(u2f(0x3f808000u)), 0x3f80);
    assert_int_equal(hd_f32_to_bf16(u2f(0x3f818000u)), 0x3f82);
    assert_int_equal(hd_f32_to_bf16(u2f(0x3f808001u)), 0x3f81);
    assert_true(isnan(hd_bf16_to_f32(hd_f32_to_bf16(NAN))));
    assert_true(isinf(hd_bf16_to_f32(hd_f32_to_bf16(INFINITY))));
}

static void test_tensor_views(void **state) {
    (void)state;
    float buf[24];
    hd_tensor t = hd_tensor_3d(HD_TYPE_F32, 4, 3, 2, buf);
    assert_int_equal(hd_tensor_nelements(&t), 24);
    assert_int_equal(hd_tensor_nrows(&t), 6);
    assert_int_equal(t.nb[1], 16);
    assert_int_equal(t.nb[2], 48);
    assert_true(hd_tensor_is_contiguous(&t));
    assert_ptr_equal(hd_tensor_row(&t, 1, 1, 0), (char *)buf + 64);
    char s[64];
    assert_string_equal(hd_tensor_shape_str(&t, s, sizeof s), "[4, 3, 2]");
    hd_tensor q = hd_tensor_2d(HD_TYPE_Q4_K, 512, 3, NULL);
    assert_int_equal(q.nb[1], 288);
    assert_int_equal(hd_tensor_nbytes(&q), 864);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits_match_gguf), cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f16_rounding),      cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_tensor_views),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
