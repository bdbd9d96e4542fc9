/* tests/unit/test_speech_adapter.c — adapters/speech_adapter: presets and the
 * paper's parameter count, output length (padding choice), config checks,
 * GGUF key round trip, the convolution + output linear against a direct
 * double-precision Conv1d on the PyTorch weight layout (a config with no
 * transformer layer makes the adapter linear and local), locality, threads,
 * and load errors naming file and tensor.  The whole forward against PyTorch:
 * tests/parity/test_speech.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/speech_adapter.h"
#include "core/gguf.h"
#include "core/threadpool.h"
#include "lm/random_model.h"
#include "testutil.h"

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

/* the tiny speech file (the LM beside it is written too, not used here) */
static const char *tiny_file(void) {
    static char path[512];
    if (!path[0]) {
        tmp_path(path, sizeof path, "adapter-tiny.gguf");
        hd_random_model_params p = hd_random_model_default_params();
        p.arch = "speech", p.preset = "tiny", p.seed = 5, p.n_threads = 1;
        hd_error err = {0};
        hd_status st = hd_random_model_write(&p, path, &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, HD_OK);
    }
    return path;
}

static void test_presets(void **state) {
    (void)state;
    hd_speech_adapter_config c;
    hd_error err = {0};
    assert_true(hd_speech_adapter_preset("paper", 1536, 4096, &c));
    assert_int_equal(c.n_embd, 3072);
    assert_int_equal(c.n_ff, 4096);
    assert_int_equal(c.n_layer, 1);
    assert_int_equal(c.n_head * c.head_dim, 3072);
    assert_int_equal(c.conv_kernel, 3);
    assert_int_equal(c.conv_stride, 2);
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_OK);
    /* conv 3072·3·1536 + 3072, layer 2·3072 + 4·3072² + 3·4096·3072,
     * output 4096·3072 + 4096: "about 100M" (SPEC §4 step 4) */
    assert_int_equal(hd_speech_adapter_n_params(&c), INT64_C(102249472));
    assert_true(hd_speech_adapter_preset("tiny", 64, 64, &c));
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_OK);
    assert_true(c.n_head_kv < c.n_head);   /* tests see GQA */
    assert_false(hd_speech_adapter_preset("huge", 64, 64, &c));
    assert_false(hd_speech_adapter_preset(NULL, 64, 64, &c));
    assert_false(hd_speech_adapter_preset("tiny", 0, 64, &c));
}

static void test_n_out(void **state) {
    (void)state;
    hd_speech_adapter_config c;
    assert_true(hd_speech_adapter_preset("paper", 1536, 4096, &c));
    const int64_t in[] = {0, 1, 2, 3, 4, 5, 25, 1500, -3};
    const int64_t want[] = {0, 1, 1, 2, 2, 3, 13, 750, 0};   /* ceil(T / 2) */
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) assert_int_equal(hd_speech_adapter_n_out(&c, in[i]), want[i]);
    c.conv_pad = 0;   /* the other choice: drops the last frame of an even segment */
    assert_int_equal(hd_speech_adapter_n_out(&c, 1500), 749);
    assert_int_equal(hd_speech_adapter_n_out(&c, 2), 0);
    assert_int_equal(hd_speech_adapter_n_out(&c, 3), 1);
}

static void test_config_check(void **state) {
    (void)state;
    hd_speech_adapter_config c, base;
    hd_error err = {0};
    assert_true(hd_speech_adapter_preset("tiny", 64, 64, &base));
    c = base, c.n_head_kv = 3;   /* 4 heads */
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "KV heads"));
    c = base, c.conv_pad = 3;
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "padding"));
    c = base, c.head_dim = 23;
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_ERR_ARG);
    c = base, c.conv_stride = 0;
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_ERR_ARG);
    c = base, c.rope_theta = 1.0f;
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_ERR_ARG);
    c = base, c.norm_eps = NAN;
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_ERR_ARG);
    c = base, c.n_layer = 0;   /* allowed: conv + linear only */
    assert_int_equal(hd_speech_adapter_config_check(&c, &err), HD_OK);
}

static void test_gguf_keys(void **state) {
    (void)state;
    char path[512];
    hd_error err = {0};
    hd_speech_adapter_config c, back;
    assert_true(hd_speech_adapter_preset("paper", 1536, 8192, &c));
    c.rope_theta = 500000.0f, c.n_head_kv = 8;
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    assert_int_equal(hd_speech_adapter_config_to_gguf(&c, w, &err), HD_OK);
    tmp_path(path, sizeof path, "adapter-keys.gguf");
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(hd_speech_adapter_config_from_gguf(g, &back, &err), HD_OK);
    assert_memory_equal(&c, &back, sizeof c);
    hd_gguf_close(g);

    /* a missing key is named */
    w = hd_gguf_writer_create(&err);
    assert_int_equal(hd_gguf_set_u32(w, "speech_adapter.input_length", 64), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    g = hd_gguf_open(path, &err);
    assert_int_equal(hd_speech_adapter_config_from_gguf(g, &back, &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "speech_adapter.embedding_length"));
    assert_non_null(strstr(err.msg, path));
    hd_gguf_close(g);
}

/* the stored F32 values of a tensor (the tiny file keeps F32) */
static const float *f32(const hd_weights *w, const char *name) {
    const hd_gguf *g = hd_weights_gguf(w);
    const int64_t i = hd_gguf_find_tensor(g, name);
    assert_true(i >= 0);
    const hd_gguf_tensor_info *ti = hd_gguf_tensor(g, i);
    assert_int_equal(ti->type, HD_TYPE_F32);
    return ti->data;
}

/* n_layer 0: y[t] = W_out (conv(x)[t]) + b_out, with conv computed directly
 * from the PyTorch Conv1d definition on w[o][i][k] = stored[o][k·D_in + i]. */
static void test_conv_and_linear(void **state) {
    (void)state;
    hd_error err = {0};
    hd_weights *w = hd_weights_open(tiny_file(), &err);
    assert_non_null(w);
    hd_speech_adapter_config c;
    assert_int_equal(hd_speech_adapter_config_from_gguf(hd_weights_gguf(w), &c, &err), HD_OK);
    c.n_layer = 0;
    hd_speech_adapter *a = hd_speech_adapter_from_weights(w, &c, &err);
    assert_non_null(a);
    const float *cw = f32(w, "adp.conv.weight"), *cb = f32(w, "adp.conv.bias");
    const float *ow = f32(w, "adp.out.weight"), *ob = f32(w, "adp.out.bias");
    const int Din = c.n_in, Da = c.n_embd, Dout = c.n_out, K = c.conv_kernel;
    tu_rng r;
    tu_rng_seed(&r, 9);
    for (int64_t n_in = 1; n_in <= 8; n_in += 7) {
        const int64_t T = hd_speech_adapter_n_out(&c, n_in);
        float *x = malloc((size_t)(n_in * Din) * sizeof *x), *y = malloc((size_t)(T * Dout) * sizeof *y);
        float *ref = malloc((size_t)(T * Dout) * sizeof *ref);
        double *h = malloc((size_t)Da * sizeof *h);
        tu_fill_normal(&r, x, (size_t)(n_in * Din), 1.0f);
        assert_int_equal(hd_speech_adapter_encode(a, NULL, x, n_in, y, &err), HD_OK);
        for (int64_t t = 0; t < T; t++) {
            for (int o = 0; o < Da; o++) {
                double s = cb[o];
                for (int i = 0; i < Din; i++)
                    for (int k = 0; k < K; k++) {
                        const int64_t f = t * c.conv_stride - c.conv_pad + k;
                        if (f >= 0 && f < n_in) s += (double)cw[(int64_t)o * K * Din + k * Din + i] * x[f * Din + i];
                    }
                h[o] = s;
            }
            for (int o = 0; o < Dout; o++) {
                double s = ob[o];
                for (int i = 0; i < Da; i++) s += (double)ow[(int64_t)o * Da + i] * h[i];
                ref[t * Dout + o] = (float)s;
            }
        }
        assert_true(tu_max_rel_err(y, ref, (size_t)(T * Dout)) < 1e-5f);
        /* locality: a change in frame 4 reaches exactly the outputs whose window 2t-1..2t+1 holds it */
        if (n_in == 8) {
            float *y2 = malloc((size_t)(T * Dout) * sizeof *y2);
            x[4 * Din + 7] += 1.0f;
            assert_int_equal(hd_speech_adapter_encode(a, NULL, x, n_in, y2, &err), HD_OK);
            for (int64_t t = 0; t < T; t++) {
                const bool touched = 2 * t - 1 <= 4 && 4 <= 2 * t + 1;
                const bool changed = memcmp(y + t * Dout, y2 + t * Dout, (size_t)Dout * sizeof *y) != 0;
                assert_int_equal(touched, changed);
            }
            free(y2);
        }
        free(x), free(y), free(ref), free(h);
    }
    hd_speech_adapter_free(a);
    hd_weights_close(w);
}

/* The full adapter: deterministic, the same on 1 and 2 threads, arena growth. */
static void test_forward(void **state) {
    (void)state;
    hd_error err = {0};
    hd_speech_adapter *a = hd_speech_adapter_load(tiny_file(), &err);
    assert_non_null(a);
    const hd_speech_adapter_config *c = hd_speech_adapter_config_of(a);
    assert_int_equal(c->n_layer, 1);
    tu_rng r;
    tu_rng_seed(&r, 3);
    const int64_t n_in = 41, T = hd_speech_adapter_n_out(c, n_in);
    assert_int_equal(T, 21);
    float *x = malloc((size_t)(n_in * c->n_in) * sizeof *x);
    float *y1 = calloc((size_t)(T * c->n_out), sizeof *y1), *y2 = calloc((size_t)(T * c->n_out), sizeof *y2);
    tu_fill_normal(&r, x, (size_t)(n_in * c->n_in), 1.0f);
    /* a short segment first, then a longer one (the arena grows) */
    assert_int_equal(hd_speech_adapter_encode(a, NULL, x, 3, y1, &err), HD_OK);
    assert_int_equal(hd_speech_adapter_encode(a, NULL, x, n_in, y1, &err), HD_OK);
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = tp};
    assert_int_equal(hd_speech_adapter_encode(a, &ex, x, n_in, y2, &err), HD_OK);
    assert_true(tu_max_rel_err(y2, y1, (size_t)(T * c->n_out)) < 1e-5f);
    for (int64_t i = 0; i < T * c->n_out; i++) assert_true(isfinite(y1[i]));
    /* rotary attention mixes the segment: a change in frame 0 reaches the last row */
    x[0] += 1.0f;
    assert_int_equal(hd_speech_adapter_encode(a, &ex, x, n_in, y2, &err), HD_OK);
    assert_true(memcmp(y1 + (T - 1) * c->n_out, y2 + (T - 1) * c->n_out, (size_t)c->n_out * sizeof *y1) != 0);
    /* nothing to do */
    assert_int_equal(hd_speech_adapter_encode(a, &ex, x, 0, y2, &err), HD_OK);
    assert_int_equal(hd_speech_adapter_encode(a, &ex, x, -1, y2, &err), HD_ERR_ARG);
    assert_int_equal(hd_speech_adapter_encode(a, &ex, NULL, 4, y2, &err), HD_ERR_ARG);
    hd_threadpool_free(tp);
    free(x), free(y1), free(y2);
    hd_speech_adapter_free(a);
    hd_speech_adapter_free(NULL);
}

static void test_load_errors(void **state) {
    (void)state;
    hd_error err = {0};
    hd_weights *w = hd_weights_open(tiny_file(), &err);
    assert_non_null(w);
    hd_speech_adapter_config c;
    assert_int_equal(hd_speech_adapter_config_from_gguf(hd_weights_gguf(w), &c, &err), HD_OK);
    c.n_layer = 2;   /* the file has one layer */
    assert_null(hd_speech_adapter_from_weights(w, &c, &err));
    assert_int_equal(err.code, HD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "adp.blk.1.attn_norm.weight"));
    assert_non_null(strstr(err.msg, "adapter-tiny.gguf"));
    c.n_layer = 1, c.n_ff = 100;
    assert_null(hd_speech_adapter_from_weights(w, &c, &err));
    assert_int_equal(err.code, HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "adp.blk.0.ffn_gate.weight"));
    c.n_ff = 128, c.conv_kernel = 5, c.conv_pad = 2;
    assert_null(hd_speech_adapter_from_weights(w, &c, &err));
    assert_non_null(strstr(err.msg, "adp.conv.weight"));
    hd_weights_close(w);
    /* a file without adapter keys */
    char path[512];
    tmp_path(path, sizeof path, "adapter-none.gguf");
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "conformer", p.preset = "tiny", p.n_threads = 1;
    assert_int_equal(hd_random_model_write(&p, path, &err), HD_OK);
    assert_null(hd_speech_adapter_load(path, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "speech_adapter.input_length"));
    assert_null(hd_speech_adapter_load("/nonexistent/speech.gguf", &err));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),       cmocka_unit_test(test_n_out),
        cmocka_unit_test(test_config_check),  cmocka_unit_test(test_gguf_keys),
        cmocka_unit_test(test_conv_and_linear), cmocka_unit_test(test_forward),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
