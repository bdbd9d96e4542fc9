/* tests/unit/test_quant.c — core/quant.c: GGUF block layouts and ggml rounding.
 *
 * Hand-built blocks are decoded and compared with values worked out from the
 * layout description (not from the decoder), which pins the bit layout; the
 * quantizers are checked by round-trip error bounds stated per type, by
 * ggml's exact rounding rules on crafted inputs, and by bad-argument returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "core/types.h"
#include "testutil.h"

#define F16_HALF 0x3800   /* 0.5  */
#define F16_ONE 0x3C00    /* 1.0  */
#define F16_QUARTER 0x3400 /* 0.25 */

static void test_f32_f16_bf16_rows(void **state) {
    (void)state;
    const float x[4] = {1.0f, -2.5f, 0.1f, 65504.f};
    hd_f16 h[4];
    hd_bf16 b[4];
    float y[4];
    assert_int_equal(hd_quantize_row(HD_TYPE_F16, x, h, 4), 8);
    assert_int_equal(h[0], 0x3C00);
    assert_int_equal(h[1], 0xC100);   /* -2.5 = -1.25 * 2^1 */
    assert_int_equal(h[3], 0x7BFF);   /* largest finite half */
    hd_dequantize_row(HD_TYPE_F16, h, y, 4);
    assert_true(y[0] == 1.0f && y[1] == -2.5f && fabsf(y[2] - 0.1f) < 1e-4f && y[3] == 65504.f);
    assert_int_equal(hd_quantize_row(HD_TYPE_BF16, x, b, 4), 8);
    assert_int_equal(b[0], 0x3F80);
    assert_int_equal(b[1], 0xC020);
    hd_dequantize_row(HD_TYPE_BF16, b, y, 4);
    assert_true(y[0] == 1.0f && y[1] == -2.5f && fabsf(y[2] - 0.1f) < 1e-3f);
    float z[4];
    assert_int_equal(hd_quantize_row(HD_TYPE_F32, x, z, 4), 16);
    assert_memory_equal(x, z, sizeof z);
}

/* Q4_0: weight j < 16 is the low nibble of qs[j], weight j+16 the high nibble; x = d (q - 8). */
static void test_q4_0_layout(void **state) {
    (void)state;
    hd_block_q4_0 b;
    b.d = F16_HALF;
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    hd_dequantize_row(HD_TYPE_Q4_0, &b, y, 32);
    assert_true(y[0] == -4.0f);   /* (0 - 8) * 0.5  */
    assert_true(y[15] == 3.5f);   /* (15 - 8) * 0.5 */
    assert_true(y[16] == 3.5f);   /* high nibble of qs[0] = 15 */
    assert_true(y[31] == -4.0f);  /* high nibble of qs[15] = 0 */
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 0.5f * (float)(j - 8));
        assert_true(y[j + 16] == 0.5f * (float)(7 - j));
    }
}

static void test_q8_0_layout(void **state) {
    (void)state;
    hd_block_q8_0 b[2];
    b[0].d = F16_QUARTER;
    b[1].d = 0xC000; /* -2.0 */
    for (int j = 0; j < 32; j++) {
        b[0].qs[j] = (int8_t)(j - 16);
        b[1].qs[j] = (int8_t)(j == 0 ? -128 : 127 - j);
    }
    float y[64];
    hd_dequantize_row(HD_TYPE_Q8_0, b, y, 64);
    for (int j = 0; j < 32; j++) assert_true(y[j] == 0.25f * (float)(j - 16));
    assert_true(y[32] == 256.0f);     /* -128 * -2 */
    assert_true(y[33] == -252.0f);    /* 126 * -2  */
}

/* K-quant 6-bit scale/min packing, built the way the format describes it:
 * bytes 0-3: low 6 bits = scale j (j<4), top 2 bits = bits 4-5 of scale j+4;
 * bytes 4-7: low 6 bits = min j,        top 2 bits = bits 4-5 of min j+4;
 * bytes 8-11: low nibble = bits 0-3 of scale j+4, high nibble = bits 0-3 of min j+4. */
static void pack_k_scales(const int sc[8], const int mn[8], uint8_t out[12]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

static const int k_sc[8] = {1, 2, 63, 4, 33, 47, 16, 63};
static const int k_mn[8] = {0, 5, 10, 63, 20, 40, 50, 17};

static void test_q4_k_layout(void **state) {
    (void)state;
    hd_block_q4_k b;
    b.d = F16_HALF;   /* 0.5  */
    b.dmin = F16_QUARTER; /* 0.25 */
    pack_k_scales(k_sc, k_mn, b.scales);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i * 7 + 3) & 0xFF);
    float y[256];
    hd_dequantize_row(HD_TYPE_Q4_K, &b, y, 256);
    /* Weight i: 64-group g = i/64 uses qs[32g .. 32g+31]; the first 32 of the group are
     * low nibbles, the next 32 high nibbles; sub-block j = i/32. */
    for (int i = 0; i < 256; i++) {
        const int g = i / 64, l = i % 32, j = i / 32;
        const uint8_t byte = b.qs[32 * g + l];
        const int q = (i % 64) < 32 ? byte & 15 : byte >> 4;
        const float want = 0.5f * (float)k_sc[j] * (float)q - 0.25f * (float)k_mn[j];
        assert_true(fabsf(y[i] - want) <= 1e-6f * fabsf(want) + 1e-6f);
    }
    /* two literal values: weight 0: qs[0]=3, low nibble 3, sub-block 0: 0.5*1*3 - 0 = 1.5;
     * weight 255: qs[127] = (127*7+3)&255 = 124 -> high nibble 7, sub-block 7: 0.5*63*7 - 0.25*17 */
    assert_true(y[0] == 1.5f);
    assert_true(fabsf(y[255] - (0.5f * 63 * 7 - 0.25f * 17)) < 1e-5f);
}

static void test_q5_k_layout(void **state) {
    (void)state;
    hd_block_q5_k b;
    b.d = F16_ONE;
    b.dmin = F16_HALF;
    pack_k_scales(k_sc, k_mn, b.scales);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i * 13 + 5) & 0xFF);
    for (int i = 0; i < 32; i++) b.qh[i] = (uint8_t)((i * 37 + 11) & 0xFF);
    float y[256];
    hd_dequantize_row(HD_TYPE_Q5_K, &b, y, 256);
    /* fifth bit of weight i (sub-block j = i/32, l = i%32) is bit j of qh[l] */
    for (int i = 0; i < 256; i++) {
        const int g = i / 64, l = i % 32, j = i / 32;
        const uint8_t byte = b.qs[32 * g + l];
        const int q = ((i % 64) < 32 ? byte & 15 : byte >> 4) + (((b.qh[l] >> j) & 1) << 4);
        const float want = 1.0f * (float)k_sc[j] * (float)q - 0.5f * (float)k_mn[j];
        assert_true(fabsf(y[i] - want) <= 1e-6f * fabsf(want) + 1e-6f);
    }
    /* weight 0: qs[0] = 5 -> 5, qh[0] = 11 = 0b1011 bit 0 set -> 21; 1*1*21 - 0 */
    assert_true(y[0] == 21.0f);
}

static void test_q6_k_layout(void **state) {
    (void)state;
    hd_block_q6_k b;
    b.d = F16_QUARTER;
    for (int i = 0; i < 128; i++) b.ql[i] = (uint8_t)((i * 29 + 1) & 0xFF);
    for (int i = 0; i < 64; i++) b.qh[i] = (uint8_t)((i * 53 + 7) & 0xFF);
    for (int i = 0; i < 16; i++) b.scales[i] = (int8_t)(i * 17 - 128);
    float y[256];
    hd_dequantize_row(HD_TYPE_Q6_K, &b, y, 256);
    /* Per 128-half h: weight 128h + 32r + l (r = 0..3, l < 32) takes the low bits from
     * ql[64h + l + 32*(r&1)] (low nibble for r < 2, high for r >= 2) and the high two bits
     * from bits 2r, 2r+1 of qh[32h + l]; scale = scales[(index)/16]; x = d * sc * (q - 32). */
    for (int i = 0; i < 256; i++) {
        const int h = i / 128, r = (i % 128) / 32, l = i % 32;
        const uint8_t lb = b.ql[64 * h + l + 32 * (r & 1)];
        const int lo = r < 2 ? lb & 15 : lb >> 4;
        const int hi = (b.qh[32 * h + l] >> (2 * r)) & 3;
        const int q = lo | (hi << 4);
        const float want = 0.25f * (float)b.scales[i / 16] * (float)(q - 32);
        assert_true(fabsf(y[i] - want) <= 1e-6f * fabsf(want) + 1e-6f);
    }
    /* weight 0: ql[0] = 1, qh[0] = 7 -> bits 0-1 = 3 -> q = 1 | 48 = 49; 0.25 * -128 * 17 */
    assert_true(y[0] == 0.25f * -128.f * 17.f);
}

static void test_q8_k_layout(void **state) {
    (void)state;
    hd_block_q8_k b;
    memset(&b, 0, sizeof b);
    b.d = 0.125f;
    for (int i = 0; i < 256; i++) b.qs[i] = (int8_t)(i - 128);
    float y[256];
    hd_dequantize_row(HD_TYPE_Q8_K, &b, y, 256);
    for (int i = 0; i < 256; i++) assert_true(y[i] == 0.125f * (float)(i - 128));
}

/* ggml rounding rules on crafted blocks. */
static void test_reference_rounding(void **state) {
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) * 0.5f; /* -8 .. 7.5, amax 8 at j=0 */
    hd_block_q8_0 q8;
    hd_quantize_row(HD_TYPE_Q8_0, x, &q8, 32);
    /* d = 8/127, q = round(x * 127/8): x = -8 -> -127; x = 0.5 -> round(7.9375) = 8 */
    assert_int_equal(q8.d, hd_f32_to_f16(8.0f / 127.f));
    assert_int_equal(q8.qs[0], -127);
    assert_int_equal(q8.qs[17], 8);
    /* Q4_0: d = max / -8 where max is the signed value of largest magnitude (-8) -> d = 1;
     * q = min(15, (int)(x/d + 8.5)) */
    hd_block_q4_0 q4;
    hd_quantize_row(HD_TYPE_Q4_0, x, &q4, 32);
    assert_int_equal(q4.d, hd_f32_to_f16(1.0f));
    assert_int_equal(q4.qs[0] & 15, 0);          /* -8 + 8.5 = 0.5 -> 0      */
    assert_int_equal(q4.qs[1] & 15, 1);          /* -7.5 + 8.5 = 1          */
    assert_int_equal(q4.qs[15] >> 4, 16 - 1);    /* x[31] = 7.5: 16 -> 15   */
    assert_int_equal(q4.qs[0] >> 4, 8);          /* x[16] = 0: 8.5 -> 8     */
    /* a positive extreme: max = +8 -> d = -1, x = +8 maps to q = 0 */
    x[0] = 8.0f;
    hd_quantize_row(HD_TYPE_Q4_0, x, &q4, 32);
    assert_int_equal(q4.d, hd_f32_to_f16(-1.0f));
    assert_int_equal(q4.qs[0] & 15, 0);
    /* Q8_K: d = max / -127 (signed), q = round-half-even, bsums = sums of 16 */
    float xk[256];
    for (int j = 0; j < 256; j++) xk[j] = (float)(j % 16) - 4.0f;
    xk[100] = -12.7f;
    hd_block_q8_k k8;
    hd_quantize_row(HD_TYPE_Q8_K, xk, &k8, 256);
    assert_true(fabsf(k8.d - 0.1f) < 1e-6f);
    assert_int_equal(k8.qs[100], -127);
    assert_int_equal(k8.qs[0], -40);
    int s = 0;
    for (int j = 0; j < 16; j++) s += k8.qs[j];
    assert_int_equal(k8.bsums[0], s);
    /* all-zero input gives zero blocks */
    memset(xk, 0, sizeof xk);
    hd_quantize_row(HD_TYPE_Q8_K, xk, &k8, 256);
    assert_true(k8.d == 0.f && k8.qs[5] == 0 && k8.bsums[3] == 0);
    hd_block_q4_k b4;
    hd_quantize_row(HD_TYPE_Q4_K, xk, &b4, 256);
    float y[256];
    hd_dequantize_row(HD_TYPE_Q4_K, &b4, y, 256);
    for (int j = 0; j < 256; j++) assert_true(y[j] == 0.f);
}

typedef struct { hd_type type; float rms_tol; } rt_case;

/* quantize -> dequantize on N(0,1) data (plus a few outliers): RMS error relative to the
 * RMS of the input below the stated bound, and a per-block max-error bound for the
 * simple formats (half a step, plus the f16 rounding of the scale). */
static void test_roundtrip_error(void **state) {
    (void)state;
    const rt_case cases[] = {
        /* measured on this data: 0.0002 0.0016 0.0057 0.0091 0.090 0.073 0.037 0.019 */
        {HD_TYPE_F16, 0.0003f}, {HD_TYPE_BF16, 0.0025f}, {HD_TYPE_Q8_0, 0.008f}, {HD_TYPE_Q8_K, 0.012f},
        {HD_TYPE_Q4_0, 0.11f},  {HD_TYPE_Q4_K, 0.085f},  {HD_TYPE_Q5_K, 0.045f}, {HD_TYPE_Q6_K, 0.023f},
    };
    const int64_t n = 256 * 24;
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    void *q = malloc((size_t)n * 4);
    tu_rng r;
    tu_rng_seed(&r, 1234);
    tu_fill_normal(&r, x, (size_t)n, 1.0f);
    x[77] = 9.0f;
    x[1000] = -11.0f;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const hd_type t = cases[c].type;
        const size_t bytes = hd_quantize_row(t, x, q, n);
        assert_int_equal(bytes, hd_type_row_size(t, n));
        hd_dequantize_row(t, q, y, n);
        double se = 0, sx = 0;
        for (int64_t i = 0; i < n; i++) {
            se += (double)(x[i] - y[i]) * (x[i] - y[i]);
            sx += (double)x[i] * x[i];
        }
        const double rel = sqrt(se / sx);
        if (!(rel < cases[c].rms_tol)) fail_msg("%s: relative RMS error %g above %g", hd_type_name(t), rel, cases[c].rms_tol);
        if (t == HD_TYPE_Q8_0 || t == HD_TYPE_Q4_0) {
            const double steps = t == HD_TYPE_Q8_0 ? 127.0 : 8.0;
            for (int64_t b0 = 0; b0 < n; b0 += 32) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b0 + j]));
                const double d = amax / steps;
                /* Q4_0's positive extreme can clamp (16 -> 15): a full step there */
                const double bound = (t == HD_TYPE_Q4_0 ? 1.0 : 0.5) * d + 128 * d / 1024.0 + 1e-7;
                for (int j = 0; j < 32; j++)
                    if (fabs((double)x[b0 + j] - y[b0 + j]) > bound)
                        fail_msg("%s: element %lld error %g above %g", hd_type_name(t), (long long)(b0 + j),
                                 fabs((double)x[b0 + j] - y[b0 + j]), bound);
            }
        }
    }
    free(x);
    free(y);
    free(q);
}

/* Golden bytes from llama.cpp.  The input below was quantized by ggml's reference
 * quantizers (quantize_row_{q4_0,q8_0,q4_K,q5_K,q6_K,q8_K}_ref in libggml-base, built
 * from a llama.cpp tree of 2026-11) and the result dequantized by ggml's
 * dequantize_row_*; recorded are the FNV-1a 64 hash of the quantized bytes, the hash
 * of the dequantized floats' bits, and the first 16 bytes.  Equal hashes mean the
 * files we write are byte-identical to llama.cpp's and we read its files to the
 * same floats. */
static void golden_input(float *x, int n) {
    for (int i = 0; i < n; i++) {
        const int a = (i * 7919 + 13) % 1013;
        x[i] = (float)(a - 506) / 137.0f * (float)(1 + i % 5) / 3.0f;
        if (i % 97 == 0) x[i] *= 7.0f;  /* outliers   */
        if (i % 61 == 5) x[i] = 0.0f;   /* exact zeros */
    }
}

static uint64_t fnv1a(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void test_golden_ggml(void **state) {
    (void)state;
    static const struct {
        hd_type type;
        uint64_t bytes_hash, floats_hash;
        uint8_t head[16];
    } golden[] = {
        {HD_TYPE_Q4_0, 0xd74bb80bde2ac413ull, 0xf2795c728720d416ull,
         {0x33, 0x3c, 0x60, 0xba, 0xa9, 0x98, 0x85, 0x68, 0xba, 0xba, 0xa8, 0x86, 0x77, 0x56, 0xca, 0xb9}},
        {HD_TYPE_Q8_0, 0xbbbc966bb013e3f5ull, 0x9df2f61aa1440c1aull,
         {0x3b, 0x2c, 0x81, 0x19, 0x11, 0xfb, 0xd8, 0x00, 0x1f, 0x1a, 0x08, 0xe8, 0xf4, 0xdb, 0x24, 0x15}},
        {HD_TYPE_Q4_K, 0x07b58428f4206709ull, 0x5dca4ff5b415063eull,
         {0x8d, 0x24, 0x4b, 0x31, 0xad, 0x6a, 0xe2, 0x7f, 0x72, 0xa2, 0x9c, 0x7f, 0x84, 0x1e, 0x34, 0xef}},
        {HD_TYPE_Q5_K, 0x25189048241cf5d7ull, 0x765714a12f49e28aull,
         {0x1a, 0x20, 0x48, 0x31, 0xb2, 0xad, 0xe4, 0xbf, 0x73, 0xa1, 0x9c, 0x7f, 0x98, 0x11, 0x45, 0xe3}},
        {HD_TYPE_Q6_K, 0x3a853463690b9e5bull, 0x9f2ca4bfefd828c1ull,
         {0x41, 0x86, 0x04, 0xdf, 0x76, 0xa0, 0x68, 0x56, 0x72, 0xfa, 0x0d, 0x47, 0x19, 0x15, 0x7e, 0x6e}},
        {HD_TYPE_Q8_K, 0x42dcde77e1f60d4eull, 0xaa9b5ed4dc751567ull,
         {0x40, 0x16, 0xa8, 0x3d, 0x9a, 0x14, 0x0d, 0xfc, 0xdf, 0x00, 0x19, 0x15, 0x06, 0xec, 0xf7, 0xe2}},
    };
    float x[1024], y[1024];
    uint8_t q[4096];
    golden_input(x, 1024);
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        const hd_type t = golden[i].type;
        const size_t n = hd_quantize_row(t, x, q, 1024);
        assert_int_equal(n, hd_type_row_size(t, 1024));
        assert_memory_equal(q, golden[i].head, 16);
        if (fnv1a(q, n) != golden[i].bytes_hash) fail_msg("%s: quantized bytes differ from ggml's", hd_type_name(t));
        hd_dequantize_row(t, q, y, 1024);
        if (fnv1a(y, sizeof y) != golden[i].floats_hash) fail_msg("%s: dequantized floats differ from ggml's", hd_type_name(t));
    }
}

static void test_bad_arguments(void **state) {
    (void)state;
    float x[64] = {0};
    uint8_t q[512];
    assert_int_equal(hd_quantize_row(HD_TYPE_Q4_0, x, q, 33), 0);   /* not a block multiple */
    assert_int_equal(hd_quantize_row(HD_TYPE_Q4_K, x, q, 64), 0);   /* K-quants need 256    */
    assert_int_equal(hd_quantize_row((hd_type)3, x, q, 32), 0);     /* Q4_1: unsupported    */
    assert_false(hd_type_can_quantize((hd_type)3));
    assert_true(hd_type_can_quantize(HD_TYPE_Q6_K));
    /* dequantize with a bad n leaves dst untouched */
    float y[32];
    for (int i = 0; i < 32; i++) y[i] = 42.f;
    hd_dequantize_row(HD_TYPE_Q8_0, q, y, 31);
    assert_true(y[0] == 42.f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_f16_bf16_rows), cmocka_unit_test(test_q4_0_layout),
        cmocka_unit_test(test_q8_0_layout),       cmocka_unit_test(test_q4_k_layout),
        cmocka_unit_test(test_q5_k_layout),       cmocka_unit_test(test_q6_k_layout),
        cmocka_unit_test(test_q8_k_layout),       cmocka_unit_test(test_reference_rounding),
        cmocka_unit_test(test_roundtrip_error),   cmocka_unit_test(test_golden_ggml),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
