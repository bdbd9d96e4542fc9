/* tests/unit/test_weights.c — hd_weights: one fetch API over GGUF and
 * safetensors; shapes in ggml order; mismatch messages word for word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/weights.h"
#include "testutil.h"

static char g_gguf[512], g_st[512], g_gguf_noext[512];

static uint8_t g_bytes[4096];

static int setup(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof g_bytes; i++) g_bytes[i] = (uint8_t)(i * 7);
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    int64_t a[2] = {4, 3}, q[2] = {32, 2}, k[1] = {256}, h[1] = {8};
    if (hd_gguf_add_tensor(w, "blk.0.attn_q.weight", HD_TYPE_F32, 2, a, g_bytes, &err) ||   /* [4, 3]  */
        hd_gguf_add_tensor(w, "blk.0.ffn_up.weight", HD_TYPE_Q8_0, 2, q, g_bytes, &err) ||  /* [32, 2] */
        hd_gguf_add_tensor(w, "blk.0.q3", (hd_type)11, 1, k, g_bytes, &err) ||              /* Q3_K    */
        hd_gguf_add_tensor(w, "output_norm.weight", HD_TYPE_F16, 1, h, g_bytes, &err)) {    /* [8]     */
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    snprintf(g_gguf, sizeof g_gguf, "%s/w.gguf", tu_tmpdir());
    snprintf(g_gguf_noext, sizeof g_gguf_noext, "%s/model.bin", tu_tmpdir());
    if (hd_gguf_writer_write(w, g_gguf, &err) || hd_gguf_writer_write(w, g_gguf_noext, &err)) return -1;
    hd_gguf_writer_free(w);

    hd_st_writer *sw = hd_st_writer_create(&err);
    int64_t s[2] = {3, 4}, v[1] = {5};
    if (hd_st_writer_add(sw, "model.layers.0.self_attn.q_proj.weight", HD_TYPE_F32, 2, s, g_bytes, &err) ||  /* [3, 4] */
        hd_st_writer_add(sw, "model.norm.weight", HD_TYPE_BF16, 1, v, g_bytes, &err))
        return -1;
    snprintf(g_st, sizeof g_st, "%s/w.safetensors", tu_tmpdir());
    if (hd_st_writer_write(sw, g_st, &err)) return -1;
    hd_st_writer_free(sw);
    return 0;
}

static void expect_msg(hd_status got, hd_status code, const hd_error *err, const char *fmt, const char *file) {
    char want[1024];
    snprintf(want, sizeof want, fmt, file);
    assert_int_equal(got, code);
    assert_string_equal(err->msg, want);
}

static void test_gguf_fetch(void **state) {
    (void)state;
    hd_error err = {0};
    hd_weights *w = hd_weights_open(g_gguf, &err);
    if (!w) fail_msg("%s", err.msg);
    assert_non_null(hd_weights_gguf(w));
    assert_null(hd_weights_safetensors(w));
    assert_string_equal(hd_weights_name(w), g_gguf);
    assert_true(hd_weights_has(w, "blk.0.attn_q.weight"));
    assert_false(hd_weights_has(w, "blk.0.attn_k.weight"));

    hd_tensor t;
    int64_t ne[3] = {4, 3, 1};
    assert_int_equal(hd_weights_get(w, "blk.0.attn_q.weight", 2, ne, HD_TYPES_FLOAT, &t, &err), HD_OK);
    assert_int_equal(t.type, HD_TYPE_F32);
    assert_int_equal(t.n_dims, 2);
    assert_int_equal(t.ne[0], 4), assert_int_equal(t.ne[1], 3);
    assert_int_equal(t.nb[1], 16);
    assert_memory_equal(t.data, g_bytes, 48);
    assert_string_equal(t.name, "blk.0.attn_q.weight");
    /* trailing ones are the same shape */
    assert_int_equal(hd_weights_get(w, "blk.0.attn_q.weight", 3, ne, HD_TYPES_ANY, &t, &err), HD_OK);
    assert_int_equal(t.n_dims, 3);

    int64_t wrong[2] = {3, 4};
    expect_msg(hd_weights_get(w, "blk.0.attn_q.weight", 2, wrong, HD_TYPES_FLOAT, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor blk.0.attn_q.weight has shape [4, 3], expected [3, 4]", g_gguf);
    int64_t one[1] = {12};
    expect_msg(hd_weights_get(w, "blk.0.attn_q.weight", 1, one, HD_TYPES_FLOAT, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor blk.0.attn_q.weight has shape [4, 3], expected [12]", g_gguf);
    expect_msg(hd_weights_get(w, "blk.0.attn_k.weight", 2, ne, HD_TYPES_FLOAT, &t, &err), HD_ERR_NOTFOUND, &err,
               "%s: tensor blk.0.attn_k.weight is missing", g_gguf);
    int64_t q[2] = {32, 2};
    expect_msg(hd_weights_get(w, "blk.0.ffn_up.weight", 2, q, (1ull << HD_TYPE_F32) | (1ull << HD_TYPE_F16), &t, &err),
               HD_ERR_SHAPE, &err, "%s: tensor blk.0.ffn_up.weight has type Q8_0, expected one of F32, F16", g_gguf);
    expect_msg(hd_weights_get(w, "blk.0.ffn_up.weight", 2, q, HD_TYPES_FLOAT, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor blk.0.ffn_up.weight has type Q8_0, expected one of F32, F16, BF16", g_gguf);
    expect_msg(hd_weights_get(w, "blk.0.ffn_up.weight", 2, q, 1ull << HD_TYPE_Q4_K, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor blk.0.ffn_up.weight has type Q8_0, expected Q4_K", g_gguf);
    assert_int_equal(hd_weights_get(w, "blk.0.ffn_up.weight", 2, q, 1ull << HD_TYPE_Q8_0, &t, &err), HD_OK);
    assert_int_equal(t.type, HD_TYPE_Q8_0);
    assert_int_equal(t.nb[1], 34);
    /* a ggml type herd lists but cannot compute with */
    int64_t k[1] = {256};
    expect_msg(hd_weights_get(w, "blk.0.q3", 1, k, HD_TYPES_ANY, &t, &err), HD_ERR_UNSUPPORTED, &err,
               "%s: tensor blk.0.q3 has type Q3_K, which herd cannot compute with", g_gguf);
    expect_msg(hd_weights_get(w, "blk.0.q3", 1, k, HD_TYPES_FLOAT, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor blk.0.q3 has type Q3_K, expected one of F32, F16, BF16", g_gguf);
    /* shape is checked before type */
    expect_msg(hd_weights_get(w, "blk.0.q3", 1, one, HD_TYPES_FLOAT, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor blk.0.q3 has shape [256], expected [12]", g_gguf);
    /* bad requests */
    assert_int_equal(hd_weights_get(w, "blk.0.q3", 0, k, 0, &t, &err), HD_ERR_ARG);
    assert_int_equal(hd_weights_get(w, "blk.0.q3", 5, k, 0, &t, &err), HD_ERR_ARG);
    hd_weights_close(w);

    /* GGUF recognised by its magic whatever the name */
    w = hd_weights_open(g_gguf_noext, &err);
    assert_non_null(w);
    assert_non_null(hd_weights_gguf(w));
    hd_weights_close(w);
    hd_weights_close(NULL);
}

static void test_safetensors_fetch(void **state) {
    (void)state;
    hd_error err = {0};
    hd_weights *w = hd_weights_open(g_st, &err);
    if (!w) fail_msg("%s", err.msg);
    assert_null(hd_weights_gguf(w));
    assert_non_null(hd_weights_safetensors(w));
    hd_tensor t;
    /* PyTorch [out=3, in=4] is ggml {4, 3} */
    int64_t ne[2] = {4, 3};
    assert_int_equal(hd_weights_get(w, "model.layers.0.self_attn.q_proj.weight", 2, ne, HD_TYPES_FLOAT, &t, &err), HD_OK);
    assert_int_equal(t.ne[0], 4), assert_int_equal(t.ne[1], 3);
    assert_int_equal(t.nb[1], 16);
    assert_memory_equal(t.data, g_bytes, 48);
    int64_t torch_order[2] = {3, 4};
    expect_msg(hd_weights_get(w, "model.layers.0.self_attn.q_proj.weight", 2, torch_order, HD_TYPES_FLOAT, &t, &err),
               HD_ERR_SHAPE, &err, "%s: tensor model.layers.0.self_attn.q_proj.weight has shape [4, 3], expected [3, 4]", g_st);
    int64_t v[1] = {5};
    expect_msg(hd_weights_get(w, "model.norm.weight", 1, v, 1ull << HD_TYPE_F32, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor model.norm.weight has type BF16, expected F32", g_st);
    assert_int_equal(hd_weights_get(w, "model.norm.weight", 1, v, HD_TYPES_FLOAT, &t, &err), HD_OK);
    assert_int_equal(t.type, HD_TYPE_BF16);
    expect_msg(hd_weights_get(w, "lm_head.weight", 1, v, HD_TYPES_FLOAT, &t, &err), HD_ERR_NOTFOUND, &err,
               "%s: tensor lm_head.weight is missing", g_st);
    hd_weights_close(w);
}

static void test_safetensors_unusable_dtype(void **state) {
    (void)state;
    /* a file with an I64 tensor, made by hand */
    const char *json = "{\"pos\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    size_t hl = strlen(json), n = 8 + hl + 16;
    uint8_t *p = calloc(1, n);
    p[0] = (uint8_t)hl;
    memcpy(p + 8, json, hl);
    char path[512];
    snprintf(path, sizeof path, "%s/i64.safetensors", tu_tmpdir());
    assert_int_equal(tu_write_file(path, p, n), 0);
    free(p);
    hd_error err = {0};
    hd_weights *w = hd_weights_open(path, &err);
    assert_non_null(w);
    hd_tensor t;
    int64_t ne[1] = {2};
    expect_msg(hd_weights_get(w, "pos", 1, ne, HD_TYPES_FLOAT, &t, &err), HD_ERR_SHAPE, &err,
               "%s: tensor pos has type I64, expected one of F32, F16, BF16", path);
    expect_msg(hd_weights_get(w, "pos", 1, ne, HD_TYPES_ANY, &t, &err), HD_ERR_UNSUPPORTED, &err,
               "%s: tensor pos has type I64, which herd cannot compute with", path);
    hd_weights_close(w);
}

static void test_open_errors(void **state) {
    (void)state;
    hd_error err = {0};
    assert_null(hd_weights_open("/nonexistent/model.gguf", &err));
    assert_int_equal(err.code, HD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/model.gguf: No such file or directory");
    /* a truncated GGUF is reported by the GGUF reader */
    char path[512];
    snprintf(path, sizeof path, "%s/cut.gguf", tu_tmpdir());
    size_t n;
    void *data = tu_read_file(g_gguf, &n);
    assert_int_equal(tu_write_file(path, data, 30), 0);
    free(data);
    assert_null(hd_weights_open(path, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    char want[700];
    snprintf(want, sizeof want, "%s: truncated: ", path);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_null(hd_weights_open(NULL, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_fetch),
        cmocka_unit_test(test_safetensors_fetch),
        cmocka_unit_test(test_safetensors_unusable_dtype),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
