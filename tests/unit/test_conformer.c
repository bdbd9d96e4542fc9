/* tests/unit/test_conformer.c — speech/conformer: presets and the paper's
 * parameter count, config checks, GGUF metadata round trip, a tiny random
 * encoder written by lm/random_model (arch "conformer") loaded and run
 * (shapes, determinism, arena growth, threads), and load errors (wrong
 * architecture, missing tensor, bad variance).  Numerical parity against
 * PyTorch / torchaudio: tests/parity/test_conformer.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "core/threadpool.h"
#include "lm/random_model.h"
#include "speech/conformer.h"
#include "testutil.h"

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tu_tmpdir(), name);
    return buf;
}

static void write_tiny(const char *path, const char *arch, uint64_t seed) {
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = arch, p.preset = "tiny", p.seed = seed, p.n_threads = 1;
    hd_error err = {0};
    hd_status st = hd_random_model_write(&p, path, &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, HD_OK);
}

static void test_presets(void **state) {
    (void)state;
    hd_conformer_config c;
    hd_error err = {0};
    assert_true(hd_conformer_preset("paper-1b", &c));
    assert_int_equal(c.n_embd, 1536);
    assert_int_equal(c.n_ff, 4096);
    assert_int_equal(c.n_layer, 24);
    assert_int_equal(c.n_head, 24);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.conv_kernel, 7);
    assert_int_equal(c.n_mel * c.stack, 320);
    /* SPEC §4: "~1B" (≈ 41.7M per layer × 24) */
    const int64_t n = hd_conformer_n_params(&c);
    assert_true(n > 950000000 && n < 1050000000);
    assert_int_equal(hd_conformer_config_check(&c, &err), HD_OK);
    assert_int_equal(hd_conformer_n_out(&c, 103), 25);
    assert_int_equal(hd_conformer_n_out(&c, 3), 0);
    assert_true(hd_conformer_preset("tiny", &c));
    assert_false(hd_conformer_preset("huge", &c));
    assert_false(hd_conformer_preset(NULL, &c));
    assert_string_equal(hd_conformer_preset_names()[1], "paper-1b");
    c.conv_kernel = 32;   /* even kernels have no "same" padding */
    assert_int_equal(hd_conformer_config_check(&c, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "odd"));
    assert_true(hd_conformer_preset("tiny", &c));
    c.head_dim = 15;
    assert_int_equal(hd_conformer_config_check(&c, &err), HD_ERR_ARG);
}

static void test_metadata_round_trip(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "meta.gguf");
    hd_conformer_config c, back;
    assert_true(hd_conformer_preset("paper-1b", &c));
    c.rope_theta = 500000.0f, c.bn_eps = 1e-3f;
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_int_equal(hd_conformer_config_to_gguf(&c, w, &err), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(hd_conformer_config_from_gguf(g, &back, &err), HD_OK);
    assert_memory_equal(&c, &back, sizeof c);
    /* no tensors: the loader names the first missing one */
    hd_conformer *m = hd_conformer_load(path, &err);
    assert_null(m);
    assert_int_equal(err.code, HD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "enc.in.weight"));
    assert_non_null(strstr(err.msg, path));
    hd_gguf_close(g);
}

static void test_encode(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "tiny.gguf");
    write_tiny(path, "conformer", 1);
    hd_error err = {0};
    hd_conformer *m = hd_conformer_load(path, &err);
    assert_non_null(m);
    const hd_conformer_config *c = hd_conformer_config_of(m);
    const int D = c->n_embd;
    tu_rng r;
    tu_rng_seed(&r, 4);
    const int64_t T_mel = 403, T = hd_conformer_n_out(c, T_mel);
    assert_int_equal(T, 100);
    float *mel = malloc((size_t)T_mel * 80 * sizeof *mel);
    tu_fill_normal(&r, mel, (size_t)T_mel * 80, 3.0f);
    float *a = calloc((size_t)T * D, sizeof *a), *b = calloc((size_t)T * D, sizeof *b);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    /* short segment first, then a longer one (the arena grows), then the short again */
    assert_int_equal(hd_conformer_encode(m, &ex, mel, 40, a, &err), HD_OK);
    assert_int_equal(hd_conformer_encode(m, &ex, mel, T_mel, b, &err), HD_OK);
    for (int64_t i = 0; i < T * D; i++) assert_true(isfinite(b[i]));
    float *a2 = calloc((size_t)10 * D, sizeof *a2);
    assert_int_equal(hd_conformer_encode(m, &ex, mel, 40, a2, &err), HD_OK);
    assert_memory_equal(a, a2, (size_t)10 * D * sizeof *a);
    /* different frames give different outputs */
    assert_true(fabsf(b[0] - b[D]) > 1e-4f || fabsf(b[1] - b[D + 1]) > 1e-4f);
    /* attention sees the whole segment: frame 0 of a 10-frame segment differs
     * from frame 0 of the 100-frame one */
    float diff = 0;
    for (int i = 0; i < D; i++) diff = fmaxf(diff, fabsf(a[i] - b[i]));
    assert_true(diff > 1e-5f);
    /* threads give the same result within rounding */
    hd_threadpool *pool = hd_threadpool_create(2, &err);
    assert_non_null(pool);
    hd_exec ex2 = {.backend = HD_BACKEND_CPU, .pool = pool};
    memset(a, 0, (size_t)T * D * sizeof *a);
    assert_int_equal(hd_conformer_encode(m, &ex2, mel, T_mel, a, &err), HD_OK);
    assert_true(tu_max_rel_err(a, b, (size_t)T * D) < 1e-5f);
    hd_threadpool_free(pool);
    /* fewer frames than one stack: nothing to do */
    assert_int_equal(hd_conformer_encode(m, &ex, mel, 3, NULL, &err), HD_OK);
    assert_int_equal(hd_conformer_encode(m, &ex, mel, -1, a, &err), HD_ERR_ARG);
    hd_conformer_free(m);
    hd_conformer_free(NULL);
    free(mel), free(a), free(b), free(a2);
}

static void test_load_errors(void **state) {
    (void)state;
    char path[512];
    hd_error err = {0};
    assert_null(hd_conformer_load("/nonexistent/enc.gguf", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/enc.gguf"));
    tmp_path(path, sizeof path, "llama.gguf");
    write_tiny(path, "llama", 1);
    assert_null(hd_conformer_load(path, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "conformer"));
    /* a negative BatchNorm variance is refused by name */
    tmp_path(path, sizeof path, "tiny_badvar.gguf");
    write_tiny(path, "conformer", 2);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    const int64_t ti = hd_gguf_find_tensor(g, "enc.blk.1.conv.bn.var");
    assert_true(ti >= 0);
    const size_t off = hd_gguf_data_offset(g) + hd_gguf_tensor(g, ti)->offset;
    hd_gguf_close(g);
    size_t size = 0;
    unsigned char *bytes = tu_read_file(path, &size);
    assert_non_null(bytes);
    const float bad = -1.0f;
    memcpy(bytes + off + 5 * sizeof(float), &bad, sizeof bad);
    assert_int_equal(tu_write_file(path, bytes, size), 0);
    free(bytes);
    assert_null(hd_conformer_load(path, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "enc.blk.1.conv.bn.var[5]"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_metadata_round_trip),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
