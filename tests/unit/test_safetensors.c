/* tests/unit/test_safetensors.c — safetensors files written by Python
 * (tests/parity/st_write.py, with torch) read by herd: every dtype, a sharded
 * index, directories; herd's writer read back by the Python reader; one clean
 * error per malformation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/safetensors.h"
#include "core/types.h"
#include "testutil.h"

#define PY "/usr/bin/python3"

static char g_pydir[512];

static int setup(void **state) {
    (void)state;
    snprintf(g_pydir, sizeof g_pydir, "%s/py", tu_tmpdir());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, PY " %s/tests/parity/st_write.py write %s", HERD_SOURCE_DIR, g_pydir);
    if (system(cmd) != 0) {
        fprintf(stderr, "setup: '%s' failed (needs /usr/bin/python3 with torch)\n", cmd);
        return -1;
    }
    return 0;
}

static const char *py_path(char *buf, size_t n, const char *rel) {
    snprintf(buf, n, "%s/%s", g_pydir, rel);
    return buf;
}

static const hd_st_tensor *get(const hd_safetensors *st, const char *name) {
    int64_t i = hd_safetensors_find(st, name);
    if (i < 0) fail_msg("tensor %s not found", name);
    return hd_safetensors_tensor(st, i);
}

static float f32_at(const hd_st_tensor *t, size_t i) {
    float f;
    memcpy(&f, (const char *)t->data + 4 * i, 4);
    return f;
}

static void test_python_single_file(void **state) {
    (void)state;
    char path[600];
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open(py_path(path, sizeof path, "single.safetensors"), &err);
    if (!st) fail_msg("%s", err.msg);
    assert_int_equal(hd_safetensors_n_tensors(st), 13);
    assert_string_equal(hd_safetensors_name(st), path);

    /* metadata */
    assert_int_equal(hd_safetensors_n_meta(st), 2);
    const char *k, *v;
    assert_true(hd_safetensors_meta(st, 0, &k, &v));
    assert_string_equal(k, "format");
    assert_string_equal(v, "pt");
    assert_true(hd_safetensors_meta(st, 1, &k, &v));
    assert_string_equal(k, "source");
    assert_string_equal(v, "st_write.py");
    assert_false(hd_safetensors_meta(st, 2, &k, &v));

    /* F32 [2, 3, 4] = arange(24) * 0.5 - 3 */
    const hd_st_tensor *t = get(st, "w.f32");
    assert_string_equal(t->dtype, "F32");
    assert_int_equal(t->hd_type, HD_TYPE_F32);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->shape[0], 2), assert_int_equal(t->shape[1], 3), assert_int_equal(t->shape[2], 4);
    assert_int_equal(t->nbytes, 96);
    assert_string_equal(t->file, path);
    for (size_t i = 0; i < 24; i++) assert_true(f32_at(t, i) == (float)i * 0.5f - 3.0f);
    hd_tensor view;
    assert_int_equal(hd_safetensors_view(st, hd_safetensors_find(st, "w.f32"), &view, &err), HD_OK);
    assert_int_equal(view.type, HD_TYPE_F32);
    assert_int_equal(view.n_dims, 3);
    assert_int_equal(view.ne[0], 4), assert_int_equal(view.ne[1], 3), assert_int_equal(view.ne[2], 2);
    assert_int_equal(view.nb[1], 16), assert_int_equal(view.nb[2], 48);
    assert_ptr_equal(view.data, t->data);
    assert_string_equal(view.name, "w.f32");

    /* F16 [4, 3] = arange(12) * 0.25 */
    t = get(st, "w.f16");
    assert_int_equal(t->hd_type, HD_TYPE_F16);
    for (size_t i = 0; i < 12; i++) {
        hd_f16 h;
        memcpy(&h, (const char *)t->data + 2 * i, 2);
        assert_true(hd_f16_to_f32(h) == (float)i * 0.25f);
    }
    /* BF16 [2, 5] = (arange(10) - 5) * 1.5 */
    t = get(st, "w.bf16");
    assert_int_equal(t->hd_type, HD_TYPE_BF16);
    assert_int_equal(t->shape[0], 2), assert_int_equal(t->shape[1], 5);
    for (size_t i = 0; i < 10; i++) {
        hd_bf16 h;
        memcpy(&h, (const char *)t->data + 2 * i, 2);
        assert_true(hd_bf16_to_f32(h) == ((float)i - 5.0f) * 1.5f);
    }
    /* dtypes herd lists but does not compute with */
    static const struct { const char *name, *dtype; size_t nbytes; } other[] = {
        {"f.f64", "F64", 16}, {"i.i64", "I64", 40}, {"i.i32", "I32", 12}, {"i.i16", "I16", 4},
        {"i.i8", "I8", 2},    {"u.u8", "U8", 6},    {"m.bool", "BOOL", 3},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        t = get(st, other[i].name);
        assert_string_equal(t->dtype, other[i].dtype);
        assert_int_equal(t->hd_type, -1);
        assert_int_equal(t->nbytes, other[i].nbytes);
    }
    t = get(st, "i.i64");
    int64_t i64;
    memcpy(&i64, (const char *)t->data + 8 * 4, 8);
    assert_true(i64 == 4000000000000ll);
    t = get(st, "m.bool");
    assert_memory_equal(t->data, "\1\0\1", 3);
    assert_int_equal(hd_safetensors_view(st, hd_safetensors_find(st, "i.i64"), &view, &err), HD_ERR_UNSUPPORTED);
    char expect[700];
    snprintf(expect, sizeof expect, "%s: tensor i.i64 has dtype I64, which herd cannot compute with", path);
    assert_string_equal(err.msg, expect);

    /* a 0-d scalar, a zero-size tensor, a 5-d tensor with leading ones, a \u-escaped name */
    t = get(st, "scalar");
    assert_int_equal(t->n_dims, 0);
    assert_true(f32_at(t, 0) == 7.0f);
    assert_int_equal(hd_safetensors_view(st, hd_safetensors_find(st, "scalar"), &view, &err), HD_OK);
    assert_int_equal(view.n_dims, 1), assert_int_equal(view.ne[0], 1);
    t = get(st, "empty");
    assert_int_equal(t->nbytes, 0);
    assert_int_equal(t->shape[0], 0), assert_int_equal(t->shape[1], 4);
    int64_t ui = hd_safetensors_find(st, "emb.\xc3\xbcn\xc3\xaf" "code");
    assert_true(ui >= 0);
    t = hd_safetensors_tensor(st, ui);
    assert_int_equal(t->n_dims, 5);
    assert_int_equal(hd_safetensors_view(st, ui, &view, &err), HD_OK);
    assert_int_equal(view.n_dims, 4);
    assert_int_equal(view.ne[0], 3), assert_int_equal(view.ne[1], 1), assert_int_equal(view.ne[2], 1),
        assert_int_equal(view.ne[3], 2);

    assert_int_equal(hd_safetensors_find(st, "absent"), -1);
    assert_null(hd_safetensors_tensor(st, 13));
    hd_safetensors_close(st);
    hd_safetensors_close(NULL);
}

static void check_sharded(const char *open_path) {
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open(open_path, &err);
    if (!st) fail_msg("%s: %s", open_path, err.msg);
    assert_int_equal(hd_safetensors_n_tensors(st), 5);
    static const struct { const char *name; int shard; int64_t d0, d1; } want[] = {
        {"model.embed_tokens.weight", 1, 16, 8}, {"model.layers.0.self_attn.q_proj.weight", 1, 8, 8},
        {"model.layers.0.mlp.up_proj.weight", 1, 12, 8}, {"model.norm.weight", 2, 8, 0},
        {"lm_head.weight", 2, 16, 8},
    };
    for (size_t i = 0; i < 5; i++) {
        const hd_st_tensor *t = get(st, want[i].name);
        char suffix[64];
        snprintf(suffix, sizeof suffix, "/model-%05d-of-00002.safetensors", want[i].shard);
        assert_non_null(strstr(t->file, suffix));
        assert_string_equal(t->dtype, "BF16");
        assert_int_equal(t->shape[0], want[i].d0);
        if (want[i].d1) assert_int_equal(t->shape[1], want[i].d1);
        else assert_int_equal(t->n_dims, 1);
        /* values are N(0,1) samples: finite and not all zero */
        float sum = 0;
        for (size_t j = 0; j < t->nbytes / 2; j++) {
            hd_bf16 h;
            memcpy(&h, (const char *)t->data + 2 * j, 2);
            float x = hd_bf16_to_f32(h);
            assert_true(isfinite(x) && fabsf(x) < 10);
            sum += fabsf(x);
        }
        assert_true(sum > 0);
    }
    /* each shard is mapped once: tensors of one shard share its path string */
    assert_ptr_equal(get(st, "model.embed_tokens.weight")->file, get(st, "model.layers.0.mlp.up_proj.weight")->file);
    assert_ptr_equal(get(st, "model.norm.weight")->file, get(st, "lm_head.weight")->file);
    assert_ptr_not_equal(get(st, "model.norm.weight")->file, get(st, "model.embed_tokens.weight")->file);
    /* embed_tokens and lm_head are distinct samples in distinct shards */
    assert_memory_not_equal(get(st, "model.embed_tokens.weight")->data, get(st, "lm_head.weight")->data, 256);
    hd_safetensors_close(st);
}

static void test_python_sharded(void **state) {
    (void)state;
    char p[600];
    check_sharded(py_path(p, sizeof p, "sharded"));
    check_sharded(py_path(p, sizeof p, "sharded/model.safetensors.index.json"));
    check_sharded(py_path(p, sizeof p, "sharded/"));
    /* a directory with one model.safetensors */
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open(py_path(p, sizeof p, "one"), &err);
    assert_non_null(st);
    assert_int_equal(hd_safetensors_n_tensors(st), 1);
    assert_int_equal(hd_safetensors_n_meta(st), 0);
    hd_safetensors_close(st);
}

/* ---- the writer, read back by herd and by the Python reader ---------------- */

static void test_writer_roundtrip(void **state) {
    (void)state;
    hd_error err = {0};
    hd_st_writer *w = hd_st_writer_create(&err);
    assert_non_null(w);
    float a[6] = {1, -2, 3.5f, 4, 5, 6};
    hd_f16 h[4];
    hd_bf16 b[3];
    for (int i = 0; i < 4; i++) h[i] = hd_f32_to_f16((float)i + 0.5f);
    for (int i = 0; i < 3; i++) b[i] = hd_f32_to_bf16((float)i * -2.0f);
    int64_t sa[2] = {2, 3}, sh[1] = {4}, sb[3] = {1, 3, 1};
    float scalar = 42;
    assert_int_equal(hd_st_writer_add(w, "model.a.weight", HD_TYPE_F32, 2, sa, a, &err), HD_OK);
    assert_int_equal(hd_st_writer_add(w, "h \"quoted\"\\name", HD_TYPE_F16, 1, sh, h, &err), HD_OK);
    assert_int_equal(hd_st_writer_add(w, "b", HD_TYPE_BF16, 3, sb, b, &err), HD_OK);
    assert_int_equal(hd_st_writer_add(w, "s", HD_TYPE_F32, 0, NULL, &scalar, &err), HD_OK);
    assert_int_equal(hd_st_writer_add(w, "b", HD_TYPE_F32, 1, sh, a, &err), HD_ERR_ARG);
    assert_int_equal(hd_st_writer_add(w, "q", HD_TYPE_Q8_0, 1, sh, a, &err), HD_ERR_ARG);
    assert_string_equal(err.msg, "safetensors writer: tensor 'q': type Q8_0 is not F32, F16 or BF16");
    assert_int_equal(hd_st_writer_meta(w, "note", "written by herd"), HD_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/herd-written.safetensors", tu_tmpdir());
    assert_int_equal(hd_st_writer_write(w, path, &err), HD_OK);
    hd_st_writer_free(w);
    hd_st_writer_free(NULL);

    /* header length is a multiple of 8 and the JSON starts with '{' */
    size_t n;
    uint8_t *raw = tu_read_file(path, &n);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)raw[i] << (8 * i);
    assert_int_equal(hl % 8, 0);
    assert_int_equal(raw[8], '{');
    assert_int_equal(n, 8 + hl + 24 + 8 + 6 + 4);
    free(raw);

    hd_safetensors *st = hd_safetensors_open(path, &err);
    if (!st) fail_msg("%s", err.msg);
    assert_int_equal(hd_safetensors_n_tensors(st), 4);
    const char *k, *v;
    assert_true(hd_safetensors_meta(st, 0, &k, &v));
    assert_string_equal(k, "format"), assert_string_equal(v, "pt");
    assert_true(hd_safetensors_meta(st, 1, &k, &v));
    assert_string_equal(k, "note"), assert_string_equal(v, "written by herd");
    const hd_st_tensor *t = get(st, "model.a.weight");
    assert_memory_equal(t->data, a, sizeof a);
    t = get(st, "h \"quoted\"\\name");
    assert_memory_equal(t->data, h, sizeof h);
    t = get(st, "b");
    assert_int_equal(t->n_dims, 3);
    assert_memory_equal(t->data, b, sizeof b);
    t = get(st, "s");
    assert_int_equal(t->n_dims, 0);
    hd_safetensors_close(st);

    /* the independent Python reader validates it as the reference does */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, PY " %s/tests/parity/st_write.py read %s", HERD_SOURCE_DIR, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[2048] = {0};
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    assert_int_equal(pclose(p), 0);
    assert_string_equal(out,
                        "b BF16 1,3,1 -6.000000\n"
                        "h \"quoted\"\\name F16 4 8.000000\n"
                        "model.a.weight F32 2,3 17.500000\n"
                        "s F32  42.000000\n");
}

/* ---- malformations --------------------------------------------------------- */

/* A file from a header text and n data bytes. */
static void *make_st(const char *json, size_t data, size_t *size) {
    size_t hl = strlen(json);
    *size = 8 + hl + data;
    uint8_t *p = calloc(1, *size);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(p + 8, json, hl);
    return p;
}

static void expect_error(const void *buf, size_t n, hd_status code, const char *msg) {
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open_memory(buf, n, "bad.safetensors", &err);
    if (st) fail_msg("accepted; expected '%s'", msg);
    if (err.code != code || !strstr(err.msg, msg)) fail_msg("got %d '%s', expected %d '%s'", err.code, err.msg, code, msg);
    assert_memory_equal(err.msg, "bad.safetensors: ", 17);
    assert_null(strchr(err.msg, '\n'));
}

static void test_malformed(void **state) {
    (void)state;
    static const struct { const char *json; size_t data; const char *msg; } cases[] = {
        {"[1]", 0, "header does not start with a JSON object"},
        {"{\"a\":", 0, "header is not valid JSON"},
        {"{} x", 0, "header has trailing bytes after the JSON object"},
        {"{\"a\":1}", 0, "entry 'a' is not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a' needs string dtype, array shape and array data_offsets"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has unknown dtype 'Q4'"},
        {"{\"a\":{\"dtype\":\"\\n8\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has unknown dtype '?8'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' shape entry 0 is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape entry 0 is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape entry 0 is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has 9 dimensions (limit 8)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has too many elements"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "tensor 'a' data_offsets is not [begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4, "data_offsets are not non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4, "data_offsets are not non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 4, "tensor 'a' data_offsets [4, 8] are outside the data section (4 bytes)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "are outside the data section"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, "tensor 'a' data_offsets span 4 bytes, but 2 x F32 needs 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
         "tensors 'a' and 'b' overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
         "duplicate tensor 'a'"},
        {"{\"__metadata__\":{\"format\":1}}", 0, "__metadata__ value of 'format' is not a string"},
        {"{\"__metadata__\":[]}", 0, "__metadata__ is not an object"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "a tensor has an empty name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        void *p = make_st(cases[i].json, cases[i].data, &n);
        expect_error(p, n, HD_ERR_FORMAT, cases[i].msg);
        free(p);
    }
    /* raw-byte cases */
    uint8_t tiny[5] = {1, 0, 0, 0, 0};
    expect_error(tiny, 5, HD_ERR_FORMAT, "bad.safetensors: too small for a safetensors file (5 bytes)");
    uint8_t big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    expect_error(big, 16, HD_ERR_FORMAT, "header length 9223372036854775807 exceeds the limit of 100000000 bytes");
    uint8_t past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    expect_error(past, 16, HD_ERR_FORMAT, "header length 100 runs past the end of the file (16 bytes)");
    uint8_t text[16] = {'r', 'o', 'o', 't', ':', 'x', ':', '0', ':', '0'};
    expect_error(text, 16, HD_ERR_FORMAT, "bad.safetensors: not a safetensors file (no 8-byte header length + JSON header)");
    uint8_t nul[12] = {4, 0, 0, 0, 0, 0, 0, 0, '{', 0, '}', ' '};
    expect_error(nul, 12, HD_ERR_FORMAT, "header contains a NUL byte");
    /* an empty header object is a valid file with no tensors; padding spaces are fine */
    size_t n;
    void *p = make_st("{}      ", 0, &n);
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open_memory(p, n, "ok", &err);
    assert_non_null(st);
    assert_int_equal(hd_safetensors_n_tensors(st), 0);
    hd_safetensors_close(st);
    free(p);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
}

static void expect_open_error(const char *path, hd_status code, const char *msg) {
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open(path, &err);
    if (st) fail_msg("%s accepted; expected '%s'", path, msg);
    if (err.code != code || !strstr(err.msg, msg)) fail_msg("got %d '%s', expected %d '%s'", err.code, err.msg, code, msg);
    assert_null(strchr(err.msg, '\n'));
}

static void test_bad_index_and_dirs(void **state) {
    (void)state;
    char dir[600], shard[700], idx[700];
    snprintf(dir, sizeof dir, "%s/badidx", tu_tmpdir());
    mkdir(dir, 0755);
    /* a shard copied from the Python output */
    char src[700];
    size_t n;
    void *data = tu_read_file(py_path(src, sizeof src, "sharded/model-00002-of-00002.safetensors"), &n);
    assert_non_null(data);
    snprintf(shard, sizeof shard, "%s/s.safetensors", dir);
    assert_int_equal(tu_write_file(shard, data, n), 0);
    free(data);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);

    write_text(dir, "model.safetensors.index.json", "{\"metadata\":{}}");
    expect_open_error(idx, HD_ERR_FORMAT, "model.safetensors.index.json: no \"weight_map\" object");
    expect_open_error(dir, HD_ERR_FORMAT, "no \"weight_map\" object");   /* the directory picks the index */
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{}}");
    expect_open_error(idx, HD_ERR_FORMAT, "weight_map is empty");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{\"x\":\"../s.safetensors\"}}");
    expect_open_error(idx, HD_ERR_FORMAT, "weight_map names '../s.safetensors', which is not a file in the index's directory");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{\"x\":7}}");
    expect_open_error(idx, HD_ERR_FORMAT, "weight_map entry 'x' is not a file name");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{\"x\":\"missing.safetensors\"}}");
    expect_open_error(idx, HD_ERR_IO, "/missing.safetensors: No such file or directory");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{\"lm_head.weight\":\"s.safetensors\",\"nope\":\"s.safetensors\"}}");
    expect_open_error(idx, HD_ERR_FORMAT, "weight_map lists tensor 'nope' in s.safetensors, which does not contain it");
    write_text(dir, "model.safetensors.index.json", "not json");
    expect_open_error(idx, HD_ERR_FORMAT, "model.safetensors.index.json: not a JSON object");
    /* the same tensor in two shards */
    snprintf(shard, sizeof shard, "%s/t.safetensors", dir);
    data = tu_read_file(py_path(src, sizeof src, "sharded/model-00002-of-00002.safetensors"), &n);
    assert_int_equal(tu_write_file(shard, data, n), 0);
    free(data);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{\"lm_head.weight\":\"s.safetensors\",\"model.norm.weight\":\"t.safetensors\"}}");
    expect_open_error(idx, HD_ERR_FORMAT, "t.safetensors: duplicate tensor 'lm_head.weight' (also in ");
    /* without the index, the directory's *.safetensors are read in name order: same clash */
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    remove(idx);
    expect_open_error(dir, HD_ERR_FORMAT, "duplicate tensor 'lm_head.weight'");
    remove(shard);
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open(dir, &err);
    if (!st) fail_msg("%s", err.msg);
    assert_int_equal(hd_safetensors_n_tensors(st), 2);
    hd_safetensors_close(st);
    /* an empty directory, a missing path */
    char empty[700];
    snprintf(empty, sizeof empty, "%s/emptydir", tu_tmpdir());
    mkdir(empty, 0755);
    expect_open_error(empty, HD_ERR_NOTFOUND, "emptydir: no model.safetensors.index.json or *.safetensors in the directory");
    expect_open_error("/nonexistent/x.safetensors", HD_ERR_IO, "/nonexistent/x.safetensors: No such file or directory");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_single_file),
        cmocka_unit_test(test_python_sharded),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_index_and_dirs),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
