/* tests/unit/test_gguf.c — GGUF reader and writer: round trips of every
 * metadata type and every tensor type, the exact byte layout the writer
 * produces, hand-built v2/v3 files, and one clean error per malformation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gguf.h"
#include "core/types.h"
#include "testutil.h"

/* ---- a byte builder independent of the writer ------------------------------ */

typedef struct bb { uint8_t *p; size_t n, cap; } bb;

static void bb_put(bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u8(bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u32(bb *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    bb_put(b, x, 4);
}
static void bb_u64(bb *b, uint64_t v) {
    bb_u32(b, (uint32_t)v);
    bb_u32(b, (uint32_t)(v >> 32));
}
static void bb_str(bb *b, const char *s) {
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_pad(bb *b, size_t a) {
    while (b->n % a) bb_u8(b, 0);
}
static void bb_header(bb *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, nt);
    bb_u64(b, nkv);
}
static void bb_tensor(bb *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    bb_str(b, name);
    bb_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) bb_u64(b, ne[i]);
    bb_u32(b, type);
    bb_u64(b, off);
}

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

/* ---- round trip: every metadata type ---------------------------------------- */

static void test_roundtrip_kv_all_types(void **state) {
    (void)state;
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint8_t u16[2] = {0x34, 0x12};         /* 0x1234 */
    uint8_t i16[2] = {0x00, 0x80};         /* -32768 */
    uint8_t i64[8] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};   /* -2 */
    double f64 = -1.0 / 3.0;
    assert_int_equal(hd_gguf_set_raw(w, "t.u8", HD_GGUF_UINT8, &u8, 1), HD_OK);
    assert_int_equal(hd_gguf_set_raw(w, "t.i8", HD_GGUF_INT8, &i8, 1), HD_OK);
    assert_int_equal(hd_gguf_set_raw(w, "t.u16", HD_GGUF_UINT16, u16, 2), HD_OK);
    assert_int_equal(hd_gguf_set_raw(w, "t.i16", HD_GGUF_INT16, i16, 2), HD_OK);
    assert_int_equal(hd_gguf_set_u32(w, "t.u32", 4000000000u), HD_OK);
    assert_int_equal(hd_gguf_set_i32(w, "t.i32", -123456), HD_OK);
    assert_int_equal(hd_gguf_set_f32(w, "t.f32", 0.1f), HD_OK);
    assert_int_equal(hd_gguf_set_bool(w, "t.bool", true), HD_OK);
    assert_int_equal(hd_gguf_set_str(w, "t.str", "héllo\nworld"), HD_OK);
    assert_int_equal(hd_gguf_set_u64(w, "t.u64", 18446744073709551615ull), HD_OK);
    assert_int_equal(hd_gguf_set_raw(w, "t.i64", HD_GGUF_INT64, i64, 8), HD_OK);
    assert_int_equal(hd_gguf_set_raw(w, "t.f64", HD_GGUF_FLOAT64, &f64, 8), HD_OK);
    const char *strs[] = {"<|begin_of_text|>", "", "Ġthe", "\xe4\xb8\xad"};
    assert_int_equal(hd_gguf_set_arr_str(w, "t.arr_str", strs, NULL, 4), HD_OK);
    const char *with_nul[] = {"a\0b"};
    size_t nul_len[] = {3};
    assert_int_equal(hd_gguf_set_arr_str(w, "t.arr_str_nul", with_nul, nul_len, 1), HD_OK);
    int32_t ia[] = {1, -2, 2147483647, -2147483647 - 1};
    assert_int_equal(hd_gguf_set_arr_i32(w, "t.arr_i32", ia, 4), HD_OK);
    float fa[] = {0.5f, -1e30f, 3.25f};
    assert_int_equal(hd_gguf_set_arr_f32(w, "t.arr_f32", fa, 3), HD_OK);
    assert_int_equal(hd_gguf_set_arr_f32(w, "t.arr_empty", NULL, 0), HD_OK);
    /* arrays of the other element types, encoded by hand */
    bb raw = {0};
    bb_u32(&raw, HD_GGUF_BOOL);
    bb_u64(&raw, 3);
    bb_u8(&raw, 1), bb_u8(&raw, 0), bb_u8(&raw, 1);
    assert_int_equal(hd_gguf_set_raw(w, "t.arr_bool", HD_GGUF_ARRAY, raw.p, raw.n), HD_OK);
    raw.n = 0;
    bb_u32(&raw, HD_GGUF_UINT64);
    bb_u64(&raw, 2);
    bb_u64(&raw, 1ull << 60), bb_u64(&raw, 7);
    assert_int_equal(hd_gguf_set_raw(w, "t.arr_u64", HD_GGUF_ARRAY, raw.p, raw.n), HD_OK);
    raw.n = 0;
    bb_u32(&raw, HD_GGUF_FLOAT64);
    bb_u64(&raw, 1);
    bb_put(&raw, &f64, 8);
    assert_int_equal(hd_gguf_set_raw(w, "t.arr_f64", HD_GGUF_ARRAY, raw.p, raw.n), HD_OK);
    free(raw.p);
    /* setting twice replaces */
    assert_int_equal(hd_gguf_set_str(w, "t.replaced", "old"), HD_OK);
    assert_int_equal(hd_gguf_set_u32(w, "t.replaced", 9), HD_OK);
    assert_int_equal(hd_gguf_set_u32(w, "", 1), HD_ERR_ARG);
    /* raw values must be exactly one well-formed value */
    assert_int_equal(hd_gguf_set_raw(w, "t.bad", HD_GGUF_UINT32, u16, 2), HD_ERR_ARG);
    assert_int_equal(hd_gguf_set_raw(w, "t.bad", HD_GGUF_UINT8, u16, 2), HD_ERR_ARG);
    uint8_t two = 2;
    assert_int_equal(hd_gguf_set_raw(w, "t.bad", HD_GGUF_BOOL, &two, 1), HD_ERR_ARG);
    bb badarr = {0};
    bb_u32(&badarr, HD_GGUF_STRING);
    bb_u64(&badarr, 2);
    bb_str(&badarr, "only one");
    assert_int_equal(hd_gguf_set_raw(w, "t.bad", HD_GGUF_ARRAY, badarr.p, badarr.n), HD_ERR_ARG);
    free(badarr.p);
    assert_int_equal(hd_gguf_find_key(NULL, "t.bad"), -1);

    char path[512];
    tmp_path(path, sizeof path, "kv.gguf");
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);

    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(hd_gguf_version(g), 3);
    assert_int_equal(hd_gguf_n_kv(g), 21);
    assert_int_equal(hd_gguf_n_tensors(g), 0);
    assert_int_equal(hd_gguf_alignment(g), 32);
    /* keys keep their order */
    assert_string_equal(hd_gguf_kv_key(g, 0), "t.u8");
    assert_string_equal(hd_gguf_kv_key(g, 20), "t.replaced");
    assert_int_equal(hd_gguf_kv_type(g, hd_gguf_find_key(g, "t.replaced")), HD_GGUF_UINT32);

    uint32_t u;
    int64_t v;
    float f;
    bool b;
    double d;
    assert_true(hd_gguf_get_u32(g, "t.u8", &u)), assert_int_equal(u, 200);
    assert_true(hd_gguf_get_i64(g, "t.i8", &v)), assert_int_equal(v, -100);
    assert_false(hd_gguf_get_u32(g, "t.i8", &u));            /* negative */
    assert_true(hd_gguf_get_u32(g, "t.u16", &u)), assert_int_equal(u, 0x1234);
    assert_true(hd_gguf_get_i64(g, "t.i16", &v)), assert_int_equal(v, -32768);
    assert_true(hd_gguf_get_u32(g, "t.u32", &u)), assert_int_equal(u, 4000000000u);
    assert_true(hd_gguf_get_i64(g, "t.i32", &v)), assert_int_equal(v, -123456);
    assert_true(hd_gguf_get_f32(g, "t.f32", &f)), assert_true(f == 0.1f);
    assert_true(hd_gguf_get_bool(g, "t.bool", &b)), assert_true(b);
    assert_false(hd_gguf_get_bool(g, "t.u8", &b));
    assert_false(hd_gguf_get_u32(g, "t.bool", &u));
    const char *s;
    size_t len;
    assert_true(hd_gguf_get_str(g, "t.str", &s, &len));
    assert_int_equal(len, strlen("héllo\nworld"));
    assert_memory_equal(s, "héllo\nworld", len);
    assert_false(hd_gguf_get_str(g, "t.u32", &s, &len));
    assert_false(hd_gguf_get_i64(g, "t.u64", &v));             /* > INT64_MAX */
    assert_false(hd_gguf_get_u32(g, "t.u64", &u));
    uint64_t u64;
    assert_true(hd_gguf_get_u64(g, "t.u64", &u64)), assert_true(u64 == 18446744073709551615ull);
    assert_true(hd_gguf_get_u64(g, "t.u8", &u64)), assert_true(u64 == 200);
    assert_false(hd_gguf_get_u64(g, "t.i8", &u64));
    assert_true(hd_gguf_kv_number(g, hd_gguf_find_key(g, "t.u64"), &d)), assert_true(d == 18446744073709551615.0);
    assert_true(hd_gguf_get_i64(g, "t.i64", &v)), assert_int_equal(v, -2);
    assert_true(hd_gguf_get_f32(g, "t.f64", &f)), assert_true(f == (float)(-1.0 / 3.0));
    assert_true(hd_gguf_kv_number(g, hd_gguf_find_key(g, "t.f64"), &d)), assert_true(d == -1.0 / 3.0);
    assert_false(hd_gguf_get_u32(g, "t.absent", &u));
    assert_int_equal(hd_gguf_find_key(g, "t.absent"), -1);

    int64_t k = hd_gguf_find_key(g, "t.arr_str");
    hd_gguf_vtype et;
    uint64_t n;
    assert_true(hd_gguf_kv_array(g, k, &et, &n));
    assert_int_equal(et, HD_GGUF_STRING);
    assert_int_equal(n, 4);
    for (uint64_t j = 0; j < 4; j++) {
        assert_true(hd_gguf_arr_str(g, k, j, &s, &len));
        assert_int_equal(len, strlen(strs[j]));
        assert_memory_equal(s, strs[j], len);
    }
    assert_false(hd_gguf_arr_str(g, k, 4, &s, &len));
    assert_null(hd_gguf_arr_data(g, k));
    k = hd_gguf_find_key(g, "t.arr_str_nul");
    assert_true(hd_gguf_arr_str(g, k, 0, &s, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    k = hd_gguf_find_key(g, "t.arr_i32");
    assert_true(hd_gguf_kv_array(g, k, &et, &n));
    assert_int_equal(et, HD_GGUF_INT32);
    assert_int_equal(n, 4);
    int32_t ib[4];
    memcpy(ib, hd_gguf_arr_data(g, k), sizeof ib);
    assert_memory_equal(ib, ia, sizeof ia);
    assert_true(hd_gguf_arr_number(g, k, 3, &d)), assert_true(d == -2147483648.0);
    k = hd_gguf_find_key(g, "t.arr_f32");
    assert_true(hd_gguf_arr_number(g, k, 1, &d)), assert_true((float)d == -1e30f);
    assert_false(hd_gguf_arr_number(g, k, 3, &d));
    k = hd_gguf_find_key(g, "t.arr_empty");
    assert_true(hd_gguf_kv_array(g, k, &et, &n)), assert_int_equal(n, 0);
    k = hd_gguf_find_key(g, "t.arr_bool");
    assert_true(hd_gguf_kv_array(g, k, &et, &n));
    assert_int_equal(et, HD_GGUF_BOOL);
    assert_true(hd_gguf_arr_number(g, k, 1, &d)), assert_true(d == 0);
    assert_true(hd_gguf_arr_number(g, k, 2, &d)), assert_true(d == 1);
    k = hd_gguf_find_key(g, "t.arr_u64");
    assert_true(hd_gguf_arr_number(g, k, 0, &d)), assert_true(d == (double)(1ull << 60));
    k = hd_gguf_find_key(g, "t.arr_f64");
    assert_true(hd_gguf_arr_number(g, k, 0, &d)), assert_true(d == f64);
    /* a scalar is not an array and vice versa */
    assert_false(hd_gguf_kv_array(g, hd_gguf_find_key(g, "t.u32"), &et, &n));
    assert_false(hd_gguf_kv_number(g, k, &d));

    /* copy every kv into a new file: the encoded values survive byte for byte */
    hd_gguf_writer *w2 = hd_gguf_writer_create(&err);
    assert_int_equal(hd_gguf_copy_kv(w2, g, &err), HD_OK);
    char path2[512];
    tmp_path(path2, sizeof path2, "kv-copy.gguf");
    assert_int_equal(hd_gguf_writer_write(w2, path2, &err), HD_OK);
    hd_gguf_writer_free(w2);
    size_t s1, s2;
    void *a = tu_read_file(path, &s1), *c = tu_read_file(path2, &s2);
    assert_int_equal(s1, s2);
    assert_memory_equal(a, c, s1);
    free(a);
    free(c);
    hd_gguf_close(g);
}

/* ---- round trip: every tensor type ----------------------------------------- */

typedef struct fill_ctx { uint64_t seed; int calls; } fill_ctx;

static hd_status fill_bytes(void *ctx, void *dst, size_t n, hd_error *err) {
    fill_ctx *fc = ctx;
    tu_rng r;
    tu_rng_seed(&r, fc->seed);
    for (size_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = (uint8_t)tu_rng_u64(&r);
    fc->calls++;
    return HD_OK;
}

static void roundtrip_tensors(uint32_t alignment) {
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    if (alignment) assert_int_equal(hd_gguf_set_u32(w, "general.alignment", alignment), HD_OK);
    hd_gguf_set_str(w, "general.architecture", "llama");
    enum { MAXT = 64 };
    void *bufs[MAXT];
    char names[MAXT][32];
    int types[MAXT], nds[MAXT];
    int64_t shapes[MAXT][4];
    size_t sizes[MAXT];
    int nt = 0;
    tu_rng r;
    tu_rng_seed(&r, 42);
    /* every hd type, plus a ggml type herd does not compute with (Q3_K) */
    for (int t = 0; t < HD_TYPE_COUNT; t++) {
        if (!hd_type_valid(t) && t != 11) continue;
        size_t blk;
        assert_true(hd_gguf_type_size(t, &blk, NULL));
        for (int variant = 0; variant < 2; variant++) {
            int i = nt++;
            types[i] = t;
            nds[i] = variant ? 4 : 2;
            int64_t sh[4] = {(int64_t)blk * (variant ? 1 : 3), variant ? 2 : 5, 3, 2};
            memcpy(shapes[i], sh, sizeof sh);
            snprintf(names[i], sizeof names[i], "blk.%d.%s.weight", variant, hd_gguf_type_name(t));
            size_t rows = 1;
            for (int d = 1; d < nds[i]; d++) rows *= (size_t)sh[d];
            size_t bl, bb_;
            hd_gguf_type_size(t, &bl, &bb_);
            sizes[i] = (size_t)sh[0] / bl * bb_ * rows;
            if (hd_type_valid(t)) assert_int_equal(sizes[i], hd_type_row_size((hd_type)t, sh[0]) * rows);
            bufs[i] = malloc(sizes[i]);
            for (size_t j = 0; j < sizes[i]; j++) ((uint8_t *)bufs[i])[j] = (uint8_t)tu_rng_u64(&r);
            assert_int_equal(hd_gguf_add_tensor(w, names[i], (hd_type)t, nds[i], sh, bufs[i], &err), HD_OK);
        }
    }
    /* one produced by a callback, odd size (7 F32) */
    fill_ctx fc = {99, 0};
    int64_t ne_fn[1] = {7};
    assert_int_equal(hd_gguf_add_tensor_fn(w, "by_callback", HD_TYPE_F32, 1, ne_fn, fill_bytes, &fc, &err), HD_OK);
    /* writer-side checks */
    int64_t bad[2] = {33, 1};
    assert_int_equal(hd_gguf_add_tensor(w, "bad_row", HD_TYPE_Q4_0, 2, bad, bufs[0], &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "not a multiple"));
    assert_int_equal(hd_gguf_add_tensor(w, names[0], HD_TYPE_F32, 2, shapes[0], bufs[0], &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_int_equal(hd_gguf_add_tensor(w, "x", (hd_type)4, 1, ne_fn, bufs[0], &err), HD_ERR_ARG);
    /* llama.cpp reads names of at most 63 bytes */
    char longname[65];
    memset(longname, 'n', 64);
    longname[64] = 0;
    assert_int_equal(hd_gguf_add_tensor(w, longname, HD_TYPE_F32, 1, ne_fn, bufs[0], &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "is longer than 63 bytes"));
    longname[63] = 0;
    int64_t ne1[1] = {1};
    assert_int_equal(hd_gguf_add_tensor(w, longname, HD_TYPE_F32, 1, ne1, bufs[0], &err), HD_OK);
    assert_int_equal(hd_gguf_add_tensor(w, "x", HD_TYPE_F32, 5, shapes[0], bufs[0], &err), HD_ERR_ARG);
    char path[512];
    tmp_path(path, sizeof path, alignment ? "tensors-a.gguf" : "tensors.gguf");
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    assert_int_equal(fc.calls, 1);
    hd_gguf_writer_free(w);

    size_t align = alignment ? alignment : 32;
    hd_gguf *g = hd_gguf_open(path, &err);
    if (!g) fail_msg("%s", err.msg);
    assert_int_equal(hd_gguf_alignment(g), align);
    assert_int_equal(hd_gguf_n_tensors(g), nt + 2);
    assert_int_equal(hd_gguf_data_offset(g) % align, 0);
    uint64_t expect_off = 0;
    for (int i = 0; i < nt; i++) {
        int64_t idx = hd_gguf_find_tensor(g, names[i]);
        assert_int_equal(idx, i);
        const hd_gguf_tensor_info *ti = hd_gguf_tensor(g, idx);
        assert_string_equal(ti->name, names[i]);
        assert_int_equal(ti->type, types[i]);
        assert_int_equal(ti->n_dims, nds[i]);
        for (int d = 0; d < 4; d++) assert_int_equal(ti->ne[d], d < nds[i] ? shapes[i][d] : 1);
        assert_int_equal(ti->nbytes, sizes[i]);
        /* laid out back to back, each padded: what llama.cpp requires */
        assert_int_equal(ti->offset, expect_off);
        expect_off = (expect_off + sizes[i] + align - 1) / align * align;
        assert_memory_equal(ti->data, bufs[i], sizes[i]);
        hd_tensor v = hd_gguf_tensor_view(g, idx);
        assert_ptr_equal(v.data, ti->data);
        assert_int_equal(v.nb[1] * (size_t)(v.ne[1] * v.ne[2] * v.ne[3]), sizes[i]);
        free(bufs[i]);
    }
    assert_int_equal(strlen(hd_gguf_tensor(g, nt + 1)->name), 63);
    const hd_gguf_tensor_info *ti = hd_gguf_tensor(g, nt);
    assert_string_equal(ti->name, "by_callback");
    assert_int_equal(ti->nbytes, 28);
    uint8_t expect[28];
    fill_bytes(&fc, expect, 28, NULL);
    assert_memory_equal(ti->data, expect, 28);
    /* the file ends with the last tensor's padding */
    ti = hd_gguf_tensor(g, nt + 1);
    assert_int_equal(hd_gguf_file_size(g), hd_gguf_data_offset(g) + (ti->offset + 4 + align - 1) / align * align);
    assert_null(hd_gguf_tensor(g, nt + 2));
    assert_int_equal(hd_gguf_find_tensor(g, "nope"), -1);
    hd_gguf_close(g);
}

static void test_roundtrip_tensors_default_alignment(void **state) { (void)state; roundtrip_tensors(0); }
static void test_roundtrip_tensors_alignment_64(void **state) { (void)state; roundtrip_tensors(64); }

/* ---- the writer's exact bytes ----------------------------------------------- */

static void test_writer_layout(void **state) {
    (void)state;
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    hd_gguf_set_u32(w, "a", 7);
    float data[2] = {1.5f, -2.0f};
    int64_t ne[1] = {2};
    assert_int_equal(hd_gguf_add_tensor(w, "t", HD_TYPE_F32, 1, ne, data, &err), HD_OK);
    char path[512];
    tmp_path(path, sizeof path, "layout.gguf");
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    bb e = {0};
    bb_header(&e, 3, 1, 1);
    bb_str(&e, "a");
    bb_u32(&e, HD_GGUF_UINT32);
    bb_u32(&e, 7);
    uint64_t dims[1] = {2};
    bb_tensor(&e, "t", 1, dims, 0, 0);
    bb_pad(&e, 32);
    bb_put(&e, data, 8);
    bb_pad(&e, 32);
    size_t n;
    uint8_t *got = tu_read_file(path, &n);
    assert_int_equal(n, 128);
    assert_int_equal(e.n, 128);
    assert_memory_equal(got, e.p, n);
    free(got);
    free(e.p);
    /* no temporary file is left next to it */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static hd_status fill_fails(void *ctx, void *dst, size_t n, hd_error *err) {
    (void)ctx, (void)dst, (void)n;
    return hd_error_set(err, HD_ERR_IO, "source.bin: read failed");
}

static void test_writer_fill_error(void **state) {
    (void)state;
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    int64_t ne[1] = {4};
    assert_int_equal(hd_gguf_add_tensor_fn(w, "t", HD_TYPE_F32, 1, ne, fill_fails, NULL, &err), HD_OK);
    char path[512];
    tmp_path(path, sizeof path, "never.gguf");
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_ERR_IO);
    assert_string_equal(err.msg, "source.bin: read failed");
    assert_int_not_equal(access(path, F_OK), 0);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    hd_gguf_writer_free(w);
    /* an unwritable destination */
    w = hd_gguf_writer_create(&err);
    assert_int_equal(hd_gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), HD_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf: "));
    hd_gguf_writer_free(w);
    hd_gguf_writer_free(NULL);
    hd_gguf_close(NULL);
}

/* ---- hand-built files ------------------------------------------------------- */

static void test_handmade_v2_and_v3(void **state) {
    (void)state;
    for (uint32_t version = 2; version <= 3; version++) {
        bb b = {0};
        bb_header(&b, version, 2, 3);
        bb_str(&b, "general.alignment");
        bb_u32(&b, HD_GGUF_UINT32);
        bb_u32(&b, 16);
        bb_str(&b, "tokenizer.ggml.tokens");
        bb_u32(&b, HD_GGUF_ARRAY);
        bb_u32(&b, HD_GGUF_STRING);
        bb_u64(&b, 2);
        bb_str(&b, "!");
        bb_str(&b, "<|eot_id|>");
        bb_str(&b, "llama.rope.freq_base");
        bb_u32(&b, HD_GGUF_FLOAT32);
        float fb = 500000.0f;
        bb_put(&b, &fb, 4);
        uint64_t ne1[2] = {4, 2}, ne2[1] = {32};
        bb_tensor(&b, "a", 2, ne1, HD_TYPE_F16, 0);
        bb_tensor(&b, "b", 1, ne2, HD_TYPE_Q8_0, 16);
        bb_pad(&b, 16);
        size_t data_at = b.n;
        for (int i = 0; i < 16 + 34; i++) bb_u8(&b, (uint8_t)i);
        hd_error err = {0};
        hd_gguf *g = hd_gguf_open_memory(b.p, b.n, "hand.gguf", &err);
        if (!g) fail_msg("%s", err.msg);
        assert_int_equal(hd_gguf_version(g), version);
        assert_int_equal(hd_gguf_alignment(g), 16);
        assert_int_equal(hd_gguf_data_offset(g), data_at);
        assert_string_equal(hd_gguf_name(g), "hand.gguf");
        float f;
        assert_true(hd_gguf_get_f32(g, "llama.rope.freq_base", &f));
        assert_true(f == 500000.0f);
        const char *s;
        size_t len;
        assert_true(hd_gguf_arr_str(g, hd_gguf_find_key(g, "tokenizer.ggml.tokens"), 1, &s, &len));
        assert_int_equal(len, 10);
        assert_memory_equal(s, "<|eot_id|>", 10);
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, 1);
        assert_int_equal(t->type, HD_TYPE_Q8_0);
        assert_int_equal(t->nbytes, 34);
        assert_ptr_equal(t->data, b.p + data_at + 16);
        hd_gguf_close(g);
        free(b.p);
    }
    /* zero tensors, zero keys: the 24-byte minimum */
    bb b = {0};
    bb_header(&b, 3, 0, 0);
    hd_error err = {0};
    hd_gguf *g = hd_gguf_open_memory(b.p, b.n, "empty.gguf", &err);
    assert_non_null(g);
    assert_int_equal(hd_gguf_n_kv(g), 0);
    assert_int_equal(hd_gguf_n_tensors(g), 0);
    hd_gguf_close(g);
    free(b.p);
}

/* ---- malformations: each gives one line naming the file ---------------------- */

typedef void (*build_fn)(bb *b);

static void mk_magic(bb *b) { bb_put(b, "GGUX\3\0\0\0", 8); bb_u64(b, 0); bb_u64(b, 0); }
static void mk_v1(bb *b) { bb_header(b, 1, 0, 0); }
static void mk_v4(bb *b) { bb_header(b, 4, 0, 0); }
static void mk_bigendian(bb *b) { bb_header(b, 0x03000000u, 0, 0); }
static void mk_short(bb *b) { bb_put(b, "GGUF\3\0\0\0\0\0", 10); }
static void mk_kv_count(bb *b) { bb_header(b, 3, 0, 1ull << 40); }
static void mk_tensor_count(bb *b) { bb_header(b, 3, 1ull << 62, 0); }
static void mk_counts(bb *b) { bb_header(b, 3, 2, 3); bb_u64(b, 0); }
static void mk_key_len(bb *b) { bb_header(b, 3, 0, 1); bb_u64(b, 1ull << 63); bb_u64(b, 0); }
static void mk_key_empty(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, ""); bb_u32(b, 4); bb_u32(b, 1); }
static void mk_dup_key(bb *b) {
    bb_header(b, 3, 0, 2);
    for (int i = 0; i < 2; i++) bb_str(b, "k"), bb_u32(b, HD_GGUF_UINT32), bb_u32(b, 1);
}
static void mk_vtype(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, 13); bb_u32(b, 0); }
static void mk_ctrl_key(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "bad\nkey"); bb_u32(b, 13); bb_u32(b, 0); }
static void mk_bool(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, HD_GGUF_BOOL); bb_u8(b, 2); }
static void mk_str_len(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, HD_GGUF_STRING); bb_u64(b, 100); bb_put(b, "abc", 3); }
static void mk_nested(bb *b) {
    bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, HD_GGUF_ARRAY); bb_u32(b, HD_GGUF_ARRAY); bb_u64(b, 1);
    bb_u32(b, HD_GGUF_UINT8); bb_u64(b, 0);
}
static void mk_arr_len(bb *b) {
    bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, HD_GGUF_ARRAY); bb_u32(b, HD_GGUF_INT32); bb_u64(b, 1ull << 61);
    bb_u32(b, 0);
}
static void mk_arr_strs(bb *b) {
    bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, HD_GGUF_ARRAY); bb_u32(b, HD_GGUF_STRING); bb_u64(b, 1000000000);
    bb_str(b, "x");
}
static void mk_arr_type(bb *b) {
    bb_header(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, HD_GGUF_ARRAY); bb_u32(b, 77); bb_u64(b, 0);
}
static void mk_align_type(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "general.alignment"); bb_u32(b, HD_GGUF_UINT64); bb_u64(b, 32); }
static void mk_align_pow2(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "general.alignment"); bb_u32(b, HD_GGUF_UINT32); bb_u32(b, 48); }
static void mk_align_zero(bb *b) { bb_header(b, 3, 0, 1); bb_str(b, "general.alignment"); bb_u32(b, HD_GGUF_UINT32); bb_u32(b, 0); }
static void one_tensor(bb *b, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off, size_t data) {
    bb_header(b, 3, 1, 0);
    bb_tensor(b, "w", nd, ne, type, off);
    bb_pad(b, 32);
    for (size_t i = 0; i < data; i++) bb_u8(b, 0);
}
static void mk_ndims(bb *b) { uint64_t ne[5] = {1, 1, 1, 1, 1}; one_tensor(b, 5, ne, 0, 0, 64); }
static void mk_ndims0(bb *b) { one_tensor(b, 0, NULL, 0, 0, 64); }
static void mk_dim0(bb *b) { uint64_t ne[2] = {4, 0}; one_tensor(b, 2, ne, 0, 0, 64); }
static void mk_dimneg(bb *b) { uint64_t ne[1] = {(uint64_t)-4}; one_tensor(b, 1, ne, 0, 0, 64); }
static void mk_overflow(bb *b) { uint64_t ne[4] = {1u << 20, 1u << 20, 1u << 20, 1u << 20}; one_tensor(b, 4, ne, 0, 0, 64); }
static void mk_type(bb *b) { uint64_t ne[1] = {4}; one_tensor(b, 1, ne, 4, 0, 64); }
static void mk_type_big(bb *b) { uint64_t ne[1] = {4}; one_tensor(b, 1, ne, 1000, 0, 64); }
static void mk_block(bb *b) { uint64_t ne[1] = {31}; one_tensor(b, 1, ne, HD_TYPE_Q4_0, 0, 64); }
static void mk_align_off(bb *b) { uint64_t ne[1] = {4}; one_tensor(b, 1, ne, 0, 8, 64); }
static void mk_past_end(bb *b) { uint64_t ne[1] = {17}; one_tensor(b, 1, ne, 0, 0, 64); }
static void mk_off_huge(bb *b) { uint64_t ne[1] = {4}; one_tensor(b, 1, ne, 0, (uint64_t)-32, 64); }
static void mk_huge_tensor(bb *b) { uint64_t ne[2] = {1ull << 31, 1ull << 31}; one_tensor(b, 2, ne, 0, 0, 64); }
static void mk_no_data(bb *b) { uint64_t ne[1] = {4}; bb_header(b, 3, 1, 0); bb_tensor(b, "w", 1, ne, 0, 0); }
static void mk_dup_tensor(bb *b) {
    uint64_t ne[1] = {8};
    bb_header(b, 3, 2, 0);
    bb_tensor(b, "w", 1, ne, 0, 0);
    bb_tensor(b, "w", 1, ne, 0, 32);
    bb_pad(b, 32);
    for (int i = 0; i < 64; i++) bb_u8(b, 0);
}
static void mk_name_nul(bb *b) {
    uint64_t ne[1] = {8};
    bb_header(b, 3, 1, 0);
    bb_u64(b, 3);
    bb_put(b, "a\0b", 3);
    bb_u32(b, 1);
    bb_u64(b, ne[0]);
    bb_u32(b, 0);
    bb_u64(b, 0);
    bb_pad(b, 32);
    for (int i = 0; i < 32; i++) bb_u8(b, 0);
}

static void test_malformed(void **state) {
    (void)state;
    static const struct { const char *what; build_fn fn; hd_status code; const char *expect; } cases[] = {
        {"magic", mk_magic, HD_ERR_FORMAT, "bad.gguf: not a GGUF file (magic 'GGUX')"},
        {"v1", mk_v1, HD_ERR_UNSUPPORTED, "bad.gguf: GGUF version 1 is not supported (need 2 or 3)"},
        {"v4", mk_v4, HD_ERR_UNSUPPORTED, "bad.gguf: GGUF version 4 is not supported (need 2 or 3)"},
        {"big-endian", mk_bigendian, HD_ERR_UNSUPPORTED, "bad.gguf: GGUF version 0x03000000 looks big-endian (not supported)"},
        {"short", mk_short, HD_ERR_FORMAT, "bad.gguf: truncated: tensor count needs 8 bytes at offset 8, file has 10"},
        {"kv count", mk_kv_count, HD_ERR_FORMAT, "bad.gguf: key count 1099511627776 exceeds the limit of 1048576"},
        {"tensor count", mk_tensor_count, HD_ERR_FORMAT, "bad.gguf: tensor count 4611686018427387904 exceeds the limit of 1048576"},
        {"counts", mk_counts, HD_ERR_FORMAT, "bad.gguf: truncated: 3 keys and 2 tensors need at least 89 bytes after the header, file has 8"},
        {"key length", mk_key_len, HD_ERR_FORMAT, "key 0 has length 9223372036854775808 at offset 24, past the end"},
        {"empty key", mk_key_empty, HD_ERR_FORMAT, "bad.gguf: key 0 is empty"},
        {"dup key", mk_dup_key, HD_ERR_FORMAT, "bad.gguf: duplicate key 'k'"},
        {"vtype", mk_vtype, HD_ERR_FORMAT, "bad.gguf: key 'k' has unknown value type 13"},
        {"control bytes", mk_ctrl_key, HD_ERR_FORMAT, "bad.gguf: key 'bad?key' has unknown value type 13"},
        {"bool", mk_bool, HD_ERR_FORMAT, "bad.gguf: key 'k' is not a bool (2)"},
        {"str len", mk_str_len, HD_ERR_FORMAT, "value of key 'k' has length 100"},
        {"nested", mk_nested, HD_ERR_FORMAT, "bad.gguf: key 'k' is an array of arrays (not supported)"},
        {"arr len", mk_arr_len, HD_ERR_FORMAT, "bad.gguf: key 'k' claims 2305843009213693952 i32 elements"},
        {"arr strs", mk_arr_strs, HD_ERR_FORMAT, "bad.gguf: key 'k' claims 1000000000 strings"},
        {"arr type", mk_arr_type, HD_ERR_FORMAT, "bad.gguf: key 'k' has an array of unknown type 77"},
        {"align type", mk_align_type, HD_ERR_FORMAT, "bad.gguf: general.alignment has type u64, expected u32"},
        {"align pow2", mk_align_pow2, HD_ERR_FORMAT, "bad.gguf: general.alignment 48 is not a power of two"},
        {"align zero", mk_align_zero, HD_ERR_FORMAT, "bad.gguf: general.alignment 0 is not a power of two"},
        {"n_dims 5", mk_ndims, HD_ERR_FORMAT, "bad.gguf: tensor 'w' has 5 dimensions (must be 1..4)"},
        {"n_dims 0", mk_ndims0, HD_ERR_FORMAT, "bad.gguf: tensor 'w' has 0 dimensions (must be 1..4)"},
        {"dim 0", mk_dim0, HD_ERR_FORMAT, "bad.gguf: tensor 'w' dimension 1 is 0 (must be positive)"},
        {"dim < 0", mk_dimneg, HD_ERR_FORMAT, "bad.gguf: tensor 'w' dimension 0 is -4 (must be positive)"},
        {"overflow", mk_overflow, HD_ERR_FORMAT, "bad.gguf: tensor 'w' has too many elements (overflow)"},
        {"type 4", mk_type, HD_ERR_FORMAT, "bad.gguf: tensor 'w' has unknown type 4"},
        {"type 1000", mk_type_big, HD_ERR_FORMAT, "bad.gguf: tensor 'w' has unknown type 1000"},
        {"block", mk_block, HD_ERR_FORMAT, "bad.gguf: tensor 'w' of type Q4_0 has rows of 31 elements, not a multiple of 32"},
        {"offset alignment", mk_align_off, HD_ERR_FORMAT, "bad.gguf: tensor 'w' offset 8 is not a multiple of the alignment 32"},
        {"past end", mk_past_end, HD_ERR_FORMAT, "bad.gguf: tensor 'w' data [0, +68) runs past the end of the file (data section has 64 bytes)"},
        {"offset huge", mk_off_huge, HD_ERR_FORMAT, "runs past the end of the file"},
        {"huge tensor", mk_huge_tensor, HD_ERR_FORMAT, "is larger than the file"},
        {"no data", mk_no_data, HD_ERR_FORMAT, "bad.gguf: truncated: data section would start at offset 64"},
        {"dup tensor", mk_dup_tensor, HD_ERR_FORMAT, "bad.gguf: duplicate tensor 'w'"},
        {"name nul", mk_name_nul, HD_ERR_FORMAT, "bad.gguf: tensor name 0 contains a NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb b = {0};
        cases[i].fn(&b);
        hd_error err = {0};
        hd_gguf *g = hd_gguf_open_memory(b.p, b.n, "bad.gguf", &err);
        if (g) fail_msg("case '%s' was accepted", cases[i].what);
        if (err.code != cases[i].code || !strstr(err.msg, cases[i].expect))
            fail_msg("case '%s': got %d '%s', expected %d containing '%s'", cases[i].what, err.code, err.msg,
                     cases[i].code, cases[i].expect);
        assert_null(strchr(err.msg, '\n'));
        assert_memory_equal(err.msg, "bad.gguf: ", 10);
        free(b.p);
    }
    /* files on disk: missing, a directory, empty */
    hd_error err = {0};
    assert_null(hd_gguf_open("/nonexistent/model.gguf", &err));
    assert_int_equal(err.code, HD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/model.gguf: No such file or directory");
    assert_null(hd_gguf_open(tu_tmpdir(), &err));
    assert_int_equal(err.code, HD_ERR_IO);
    assert_non_null(strstr(err.msg, ": not a regular file"));
    char path[512];
    tmp_path(path, sizeof path, "empty.gguf");
    assert_int_equal(tu_write_file(path, "", 0), 0);
    assert_null(hd_gguf_open(path, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "empty.gguf: too small for a GGUF file (0 bytes)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_kv_all_types),
        cmocka_unit_test(test_roundtrip_tensors_default_alignment),
        cmocka_unit_test(test_roundtrip_tensors_alignment_64),
        cmocka_unit_test(test_writer_layout),
        cmocka_unit_test(test_writer_fill_error),
        cmocka_unit_test(test_handmade_v2_and_v3),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
