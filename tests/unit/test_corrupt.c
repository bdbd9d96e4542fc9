/* tests/unit/test_corrupt.c — hostile input for the model readers: every
 * fixture file (the corrupt/ set and every non-model file) fed to the GGUF,
 * safetensors and weights readers; every prefix of a valid GGUF and
 * safetensors file; byte flips at every position.  Each gives a one-line error
 * naming the input or a result whose every pointer stays inside the buffer.
 * Buffers are exactly sized heap copies, so AddressSanitizer builds catch any
 * read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/weights.h"
#include "testutil.h"

static void check_error(const hd_error *err, const char *name) {
    size_t n = strlen(name);
    if (err->code == HD_OK || strncmp(err->msg, name, n) != 0 || err->msg[n] != ':' || strchr(err->msg, '\n'))
        fail_msg("bad error for %s: code %d, '%s'", name, err->code, err->msg);
}

/* Reads every byte a caller could reach through the GGUF API. */
static unsigned touch_gguf(const hd_gguf *g, const uint8_t *buf, size_t size) {
    unsigned acc = 0;
    for (int64_t i = 0; i < hd_gguf_n_kv(g); i++) {
        acc += (unsigned)strlen(hd_gguf_kv_key(g, i));
        const char *s;
        size_t len;
        double d;
        hd_gguf_vtype et;
        uint64_t n;
        if (hd_gguf_kv_str(g, i, &s, &len)) {
            assert_true((const uint8_t *)s >= buf && (const uint8_t *)s + len <= buf + size);
            for (size_t k = 0; k < len; k++) acc += (unsigned char)s[k];
        } else if (hd_gguf_kv_array(g, i, &et, &n)) {
            for (uint64_t j = 0; j < n; j++) {
                if (et == HD_GGUF_STRING) {
                    assert_true(hd_gguf_arr_str(g, i, j, &s, &len));
                    assert_true((const uint8_t *)s >= buf && (const uint8_t *)s + len <= buf + size);
                    if (len) acc += (unsigned char)s[0] + (unsigned char)s[len - 1];
                } else {
                    assert_true(hd_gguf_arr_number(g, i, j, &d));
                    acc += d > 0;
                }
            }
        } else {
            assert_true(hd_gguf_kv_number(g, i, &d));
            acc += d > 0;
        }
    }
    for (int64_t i = 0; i < hd_gguf_n_tensors(g); i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        const uint8_t *p = t->data;
        assert_true(p >= buf + hd_gguf_data_offset(g) && p + t->nbytes <= buf + size);
        assert_int_equal(t->offset % hd_gguf_alignment(g), 0);
        assert_true(t->n_dims >= 1 && t->n_dims <= 4);
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
        hd_tensor v = hd_gguf_tensor_view(g, i);
        assert_int_equal(v.nb[1] * (size_t)(v.ne[1] * v.ne[2] * v.ne[3]), t->nbytes);
        assert_int_equal(hd_gguf_find_tensor(g, t->name), i);
    }
    return acc;
}

static unsigned touch_st(const hd_safetensors *st, const uint8_t *buf, size_t size) {
    unsigned acc = 0;
    for (int64_t i = 0; i < hd_safetensors_n_meta(st); i++) {
        const char *k, *v;
        assert_true(hd_safetensors_meta(st, i, &k, &v));
        acc += (unsigned)(strlen(k) + strlen(v));
    }
    for (int64_t i = 0; i < hd_safetensors_n_tensors(st); i++) {
        const hd_st_tensor *t = hd_safetensors_tensor(st, i);
        const uint8_t *p = t->data;
        assert_true(p >= buf && p + t->nbytes <= buf + size);
        assert_true(t->n_dims >= 0 && t->n_dims <= HD_ST_MAX_DIMS);
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
        assert_int_equal(hd_safetensors_find(st, t->name), i);
        hd_tensor v;
        hd_error err = {0};
        if (hd_safetensors_view(st, i, &v, &err) == HD_OK) assert_ptr_equal(v.data, t->data);
    }
    return acc;
}

/* Parses buf[0..n) (copied to an exact-size allocation) with both readers. */
static void feed_memory(const uint8_t *data, size_t n, const char *name, int *gguf_ok, int *st_ok) {
    uint8_t *buf = malloc(n ? n : 1);
    if (n) memcpy(buf, data, n);
    hd_error err = {0};
    hd_gguf *g = hd_gguf_open_memory(n ? buf : NULL, n, name, &err);
    if (g) {
        touch_gguf(g, buf, n);
        hd_gguf_close(g);
        if (gguf_ok) (*gguf_ok)++;
    } else {
        check_error(&err, name);
    }
    hd_error_clear(&err);
    hd_safetensors *st = hd_safetensors_open_memory(n ? buf : NULL, n, name, &err);
    if (st) {
        touch_st(st, buf, n);
        hd_safetensors_close(st);
        if (st_ok) (*st_ok)++;
    } else {
        check_error(&err, name);
    }
    free(buf);
}

/* ---- every fixture file ------------------------------------------------------ */

static int g_files;

static void feed_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            feed_tree(path);
            continue;
        }
        g_files++;
        hd_error err = {0};
        hd_gguf *g = hd_gguf_open(path, &err);
        if (g) fail_msg("%s opened as GGUF", path);
        check_error(&err, path);
        hd_safetensors *st = hd_safetensors_open(path, &err);
        if (st) fail_msg("%s opened as safetensors", path);
        check_error(&err, path);
        hd_weights *w = hd_weights_open(path, &err);
        if (w) fail_msg("%s opened as weights", path);
        check_error(&err, path);
        /* and from memory */
        size_t n;
        uint8_t *data = tu_read_file(path, &n);
        assert_non_null(data);
        int gok = 0, sok = 0;
        feed_memory(data, n, path, &gok, &sok);
        assert_int_equal(gok + sok, 0);
        free(data);
    }
    closedir(d);
}

static void test_fixture_files(void **state) {
    (void)state;
    char dir[512];
    g_files = 0;
    feed_tree(tu_fixture(dir, sizeof dir, "corrupt"));
    assert_true(g_files >= 30);   /* the corrupt/ set (README lists them) */
    int corrupt = g_files;
    feed_tree(tu_fixture(dir, sizeof dir, ""));
    assert_true(g_files > corrupt * 2);
    /* a directory is no model for the GGUF reader, and holds none for safetensors */
    hd_error err = {0};
    assert_null(hd_safetensors_open(tu_fixture(dir, sizeof dir, "corrupt"), &err));
    check_error(&err, dir);
}

/* ---- small valid files, truncated and flipped --------------------------------- */

static uint8_t *make_gguf(size_t *n, size_t *data_end) {
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    hd_gguf_set_str(w, "general.architecture", "llama");
    hd_gguf_set_u32(w, "llama.block_count", 2);
    hd_gguf_set_f32(w, "llama.rope.freq_base", 500000.0f);
    hd_gguf_set_bool(w, "flag", true);
    hd_gguf_set_u32(w, "general.alignment", 16);
    const char *toks[] = {"<|begin_of_text|>", "a", "", "bc"};
    hd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4);
    int32_t ty[] = {3, 1, 1, 1};
    hd_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", ty, 4);
    static uint8_t bytes[400];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(i * 13 + 1);
    int64_t a[2] = {4, 2}, b[1] = {32}, c[2] = {3, 1};
    hd_gguf_add_tensor(w, "token_embd.weight", HD_TYPE_F16, 2, a, bytes, &err);
    hd_gguf_add_tensor(w, "blk.0.attn_q.weight", HD_TYPE_Q8_0, 1, b, bytes, &err);
    hd_gguf_add_tensor(w, "output_norm.weight", HD_TYPE_F32, 2, c, bytes, &err);
    char path[512];
    snprintf(path, sizeof path, "%s/small.gguf", tu_tmpdir());
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    uint8_t *data = tu_read_file(path, n);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    const hd_gguf_tensor_info *last = hd_gguf_tensor(g, 2);
    *data_end = hd_gguf_data_offset(g) + last->offset + last->nbytes;
    hd_gguf_close(g);
    return data;
}

static uint8_t *make_st(size_t *n) {
    hd_error err = {0};
    hd_st_writer *w = hd_st_writer_create(&err);
    hd_st_writer_meta(w, "note", "x");
    static uint8_t bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(i * 7 + 3);
    int64_t a[2] = {2, 3}, b[1] = {4};
    hd_st_writer_add(w, "model.embed_tokens.weight", HD_TYPE_BF16, 2, a, bytes, &err);
    hd_st_writer_add(w, "model.norm.weight", HD_TYPE_F32, 1, b, bytes, &err);
    hd_st_writer_add(w, "s", HD_TYPE_F16, 0, NULL, bytes, &err);
    char path[512];
    snprintf(path, sizeof path, "%s/small.safetensors", tu_tmpdir());
    assert_int_equal(hd_st_writer_write(w, path, &err), HD_OK);
    hd_st_writer_free(w);
    return tu_read_file(path, n);
}

static void test_truncations(void **state) {
    (void)state;
    size_t n, data_end;
    uint8_t *g = make_gguf(&n, &data_end);
    assert_true(data_end <= n && n - data_end < 16);
    for (size_t len = 0; len <= n; len++) {
        int ok = 0;
        feed_memory(g, len, "cut.gguf", &ok, NULL);
        /* valid exactly when the last tensor's bytes are present (its padding is optional) */
        if (ok != (len >= data_end)) fail_msg("GGUF prefix of %zu bytes (data ends at %zu): accepted=%d", len, data_end, ok);
    }
    free(g);
    uint8_t *s = make_st(&n);
    for (size_t len = 0; len <= n; len++) {
        int ok = 0;
        feed_memory(s, len, "cut.safetensors", NULL, &ok);
        if (ok != (len == n)) fail_msg("safetensors prefix of %zu of %zu bytes: accepted=%d", len, n, ok);
    }
    free(s);
}

static void flips(const uint8_t *orig, size_t n, const char *name, int *gok, int *sok) {
    static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xff};
    uint8_t *m = malloc(n);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof masks; k++) {
            memcpy(m, orig, n);
            m[i] ^= masks[k];
            feed_memory(m, n, name, gok, sok);
        }
    }
    free(m);
}

static void test_byte_flips(void **state) {
    (void)state;
    size_t n, data_end;
    int gok = 0, sok = 0;
    uint8_t *g = make_gguf(&n, &data_end);
    flips(g, n, "flip.gguf", &gok, &sok);
    /* flips in tensor data and some values leave valid files; header flips must not */
    assert_true(gok > 0 && gok < (int)(n * 5));
    assert_int_equal(sok, 0);
    free(g);
    gok = sok = 0;
    uint8_t *s = make_st(&n);
    flips(s, n, "flip.safetensors", &gok, &sok);
    assert_true(sok > 0 && sok < (int)(n * 5));
    assert_int_equal(gok, 0);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_files),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
