/* tests/unit/test_convert.c — lm/convert.h: hd_convert_hf_to_gguf on random
 * HF checkpoints (the GGUF equals hd_random_model_write's for the same seed;
 * the permuted Q rows hold the HF rows; progress; errors naming the tensor)
 * and hd_quantize_gguf (types per tensor, metadata, values within the
 * quantization error, bad types and rows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "core/quant.h"
#include "core/safetensors.h"
#include "lm/convert.h"
#include "lm/random_model.h"
#include "testutil.h"

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static void write_model(const char *preset, hd_rm_format f, hd_type t, uint64_t seed, const char *path) {
    hd_random_model_params p = hd_random_model_default_params();
    p.preset = preset;
    p.format = f;
    p.type = t;
    p.seed = seed;
    p.n_threads = 2;
    hd_error err = {0};
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
}

static bool files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    void *da = tu_read_file(a, &na), *db = tu_read_file(b, &nb);
    const bool eq = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da), free(db);
    return eq;
}

typedef struct counter {
    int calls, last_done, last_total;
} counter;

static void count(void *ctx, int done, int total, const char *tensor) {
    counter *c = ctx;
    assert_non_null(tensor);
    c->calls++;
    assert_int_equal(done, c->last_done + 1);
    c->last_done = done, c->last_total = total;
}

static void test_convert_matches_random_gguf(void **state) {
    (void)state;
    char hf[512], ref[512], out[512];
    write_model("tiny-vocab", HD_RM_HF, HD_TYPE_F32, 21, tmp_path(hf, sizeof hf, "cv_hf"));
    write_model("tiny-vocab", HD_RM_GGUF, HD_TYPE_Q8_0, 21, tmp_path(ref, sizeof ref, "cv_ref.gguf"));
    hd_convert_params p = hd_convert_default_params();
    assert_int_equal(p.type, HD_TYPE_F16);   /* convert_hf_to_gguf.py's default */
    p.type = HD_TYPE_Q8_0;
    p.name = "Llama 3 Tiny Vocab";
    counter c = {0};
    p.progress = count, p.progress_ctx = &c;
    hd_error err = {0};
    assert_int_equal(hd_convert_hf_to_gguf(hf, tmp_path(out, sizeof out, "cv.gguf"), &p, &err), HD_OK);
    assert_true(files_equal(ref, out));
    hd_gguf *g = hd_gguf_open(out, &err);
    assert_non_null(g);
    assert_int_equal(c.calls, hd_gguf_n_tensors(g));
    assert_int_equal(c.last_total, hd_gguf_n_tensors(g));
    hd_gguf_close(g);
}

/* GGUF attn_q row 2i+p of a head = HF row p·d/2 + i (F32: exact values). */
static void test_convert_permutes_q(void **state) {
    (void)state;
    char hf[512], out[512];
    write_model("tiny-vocab", HD_RM_HF, HD_TYPE_F32, 4, tmp_path(hf, sizeof hf, "perm_hf"));
    hd_convert_params p = hd_convert_default_params();
    p.type = HD_TYPE_F32;
    hd_error err = {0};
    assert_int_equal(hd_convert_hf_to_gguf(hf, tmp_path(out, sizeof out, "perm.gguf"), &p, &err), HD_OK);
    hd_safetensors *st = hd_safetensors_open(hf, &err);
    hd_gguf *g = hd_gguf_open(out, &err);
    assert_non_null(st);
    assert_non_null(g);
    const hd_st_tensor *q = hd_safetensors_tensor(st, hd_safetensors_find(st, "model.layers.1.self_attn.q_proj.weight"));
    const int64_t gi = hd_gguf_find_tensor(g, "blk.1.attn_q.weight");
    assert_true(gi >= 0);
    const hd_gguf_tensor_info *ti = hd_gguf_tensor(g, gi);
    assert_int_equal(ti->type, HD_TYPE_F32);
    const int64_t D = ti->ne[0], rows = ti->ne[1], d = 16;   /* tiny-vocab: 4 heads of 16 */
    assert_int_equal(rows, q->shape[0]);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t h = r / d, j = r % d, hr = h * d + (j % 2) * (d / 2) + j / 2;
        assert_memory_equal((const float *)ti->data + r * D, (const float *)q->data + hr * D, (size_t)D * sizeof(float));
    }
    /* general.name defaults to the folder's name */
    const char *s;
    size_t n;
    assert_true(hd_gguf_get_str(g, "general.name", &s, &n));
    assert_int_equal(n, strlen("perm_hf"));
    assert_memory_equal(s, "perm_hf", n);
    hd_gguf_close(g);
    hd_safetensors_close(st);
}

static void test_convert_errors(void **state) {
    (void)state;
    char hf[512], out[512], path[600];
    hd_convert_params p = hd_convert_default_params();
    hd_error err = {0};
    tmp_path(out, sizeof out, "bad.gguf");
    assert_int_equal(hd_convert_hf_to_gguf(tu_tmpdir(), out, &p, &err), HD_ERR_IO);   /* no config.json */
    assert_non_null(strstr(err.msg, "config.json"));
    /* a config with an extra layer: tensors of layer 2 are missing */
    write_model("tiny-vocab", HD_RM_HF, HD_TYPE_F32, 1, tmp_path(hf, sizeof hf, "err_hf"));
    snprintf(path, sizeof path, "%s/config.json", hf);
    size_t n = 0;
    char *cfg = tu_read_file(path, &n);
    assert_non_null(cfg);
    char *at = strstr(cfg, "\"num_hidden_layers\": 2");
    assert_non_null(at);
    at[strlen("\"num_hidden_layers\": ")] = '3';
    assert_int_equal(tu_write_file(path, cfg, n), 0);
    assert_int_equal(hd_convert_hf_to_gguf(hf, out, &p, &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "model.layers.2."));
    /* a wider FFN than the weights have: the message names the tensor and both shapes */
    at[strlen("\"num_hidden_layers\": ")] = '2';
    at = strstr(cfg, "\"intermediate_size\": 128");
    assert_non_null(at);
    memcpy(at + strlen("\"intermediate_size\": "), "256", 3);
    assert_int_equal(tu_write_file(path, cfg, n), 0);
    assert_int_equal(hd_convert_hf_to_gguf(hf, out, &p, &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "[256, 64]"));
    free(cfg);
    /* Q4_K needs rows of 256; tiny-vocab rows are 64 */
    write_model("tiny-vocab", HD_RM_HF, HD_TYPE_F32, 1, hf);
    p.type = HD_TYPE_Q4_K;
    assert_int_equal(hd_convert_hf_to_gguf(hf, out, &p, &err), HD_ERR_ARG);
    p.type = HD_TYPE_Q5_K;
    assert_int_equal(hd_convert_hf_to_gguf(hf, out, &p, &err), HD_ERR_ARG);
}

static void test_quantize(void **state) {
    (void)state;
    char in[512], out[512];
    write_model("small", HD_RM_GGUF, HD_TYPE_F32, 2, tmp_path(in, sizeof in, "q_in.gguf"));
    hd_convert_params p = hd_convert_default_params();
    p.n_threads = 2;
    counter c = {0};
    p.progress = count, p.progress_ctx = &c;
    hd_error err = {0};
    assert_int_equal(hd_quantize_gguf(in, tmp_path(out, sizeof out, "q4k.gguf"), HD_TYPE_Q4_K, &p, &err), HD_OK);
    hd_gguf *a = hd_gguf_open(in, &err), *b = hd_gguf_open(out, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(c.calls, hd_gguf_n_tensors(a));
    assert_int_equal(hd_gguf_n_tensors(a), hd_gguf_n_tensors(b));
    assert_int_equal(hd_gguf_n_kv(a), hd_gguf_n_kv(b));
    uint32_t ft = 0;
    assert_true(hd_gguf_get_u32(b, "general.file_type", &ft));
    assert_int_equal(ft, hd_convert_file_type(HD_TYPE_Q4_K));
    for (int64_t i = 0; i < hd_gguf_n_tensors(a); i++) {
        const hd_gguf_tensor_info *x = hd_gguf_tensor(a, i), *y = hd_gguf_tensor(b, i);
        assert_string_equal(x->name, y->name);
        const bool weight = x->ne[1] > 1;
        assert_int_equal(y->type, weight ? HD_TYPE_Q4_K : HD_TYPE_F32);
        if (!weight) {
            assert_memory_equal(x->data, y->data, x->nbytes);
            continue;
        }
        /* every row dequantizes to within Q4_K's error of the F32 row */
        const int64_t cols = x->ne[0];
        float *row = malloc((size_t)cols * sizeof *row);
        assert_non_null(row);
        for (int64_t r = 0; r < x->ne[1]; r += 97) {
            hd_dequantize_row(HD_TYPE_Q4_K, (const uint8_t *)y->data + (size_t)r * hd_type_row_size(HD_TYPE_Q4_K, cols),
                              row, cols);
            const float *ref = (const float *)x->data + r * cols;
            double num = 0, den = 0;
            for (int64_t k = 0; k < cols; k++) num += (row[k] - ref[k]) * (row[k] - ref[k]), den += ref[k] * ref[k];
            assert_true(sqrt(num / den) < 0.15);
            assert_true(sqrt(num / den) > 0.0);
        }
        free(row);
    }
    hd_gguf_close(a);
    hd_gguf_close(b);
    /* bad types */
    assert_int_equal(hd_quantize_gguf(in, out, HD_TYPE_F32, &p, &err), HD_ERR_ARG);
    assert_int_equal(hd_quantize_gguf(in, out, HD_TYPE_Q8_K, &p, &err), HD_ERR_ARG);
    assert_int_equal(hd_quantize_gguf(in, out, (hd_type)99, &p, &err), HD_ERR_ARG);
    /* rows of 64 cannot take Q4_K: the message names a tensor */
    write_model("tiny-vocab", HD_RM_GGUF, HD_TYPE_F32, 2, in);
    assert_int_equal(hd_quantize_gguf(in, out, HD_TYPE_Q4_K, &p, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, ".weight"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_matches_random_gguf),
        cmocka_unit_test(test_convert_permutes_q),
        cmocka_unit_test(test_convert_errors),
        cmocka_unit_test(test_quantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
