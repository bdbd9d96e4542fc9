/* tests/unit/test_cuda_backend.c — device choice (core/backend.h), the
 * `--device` flag of the herd binary, and, on a machine with a CUDA device, the
 * CUDA op table against the CPU ops.
 *
 * Without a usable device (no GPU, or a build without HERD_CUDA) the device
 * tests check the exact errors and the CPU fallback; the GPU comparisons are
 * skipped (cmocka "SKIPPED") because nothing can run them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/backend.h"
#include "core/cpu.h"
#include "core/cuda/cuda.h"
#include "core/ops.h"
#include "core/quant.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static bool have_gpu(void) {
    hd_error err;
    return hd_cuda_device_count(&err) > 0;
}

/* ---- device choice --------------------------------------------------------- */

static void test_parse(void **state) {
    (void)state;
    hd_device d;
    assert_true(hd_device_parse("cpu", &d) && d == HD_DEVICE_CPU);
    assert_true(hd_device_parse("cuda", &d) && d == HD_DEVICE_CUDA);
    assert_true(hd_device_parse("auto", &d) && d == HD_DEVICE_AUTO);
    assert_false(hd_device_parse("gpu", &d));
    assert_false(hd_device_parse("CUDA", &d));
    assert_false(hd_device_parse("", &d));
    assert_false(hd_device_parse(NULL, &d));
    assert_string_equal(hd_device_name(HD_DEVICE_AUTO), "auto");
    assert_string_equal(hd_backend_name(HD_BACKEND_CUDA), "cuda");
}

static void test_resolve(void **state) {
    (void)state;
    hd_backend_kind k = HD_BACKEND_CUDA;
    char note[600];
    hd_error err;
    assert_int_equal(hd_device_resolve(HD_DEVICE_CPU, &k, note, sizeof note, &err), HD_OK);
    assert_int_equal(k, HD_BACKEND_CPU);
    assert_string_equal(note, "");

    hd_error why;
    const int n = hd_cuda_device_count(&why);
    if (!hd_backend_cuda_built()) {
        assert_int_equal(n, 0);
        assert_non_null(strstr(why.msg, "built without CUDA"));
    }
    hd_status st = hd_device_resolve(HD_DEVICE_CUDA, &k, note, sizeof note, &err);
    if (n > 0) {
        assert_int_equal(st, HD_OK);
        assert_int_equal(k, HD_BACKEND_CUDA);
    } else {
        assert_int_equal(st, HD_ERR_UNSUPPORTED);
        const char *want = hd_backend_cuda_built() ? "--device cuda: no CUDA device (cudaGetDeviceCount: "
                                                   : "--device cuda: this herd was built without CUDA";
        if (strncmp(err.msg, want, strlen(want)) != 0) {
            fprintf(stderr, "message: %s\n", err.msg);
            fail();
        }
    }
    k = HD_BACKEND_CUDA;
    assert_int_equal(hd_device_resolve(HD_DEVICE_AUTO, &k, note, sizeof note, &err), HD_OK);
    if (n > 0) {
        assert_int_equal(k, HD_BACKEND_CUDA);
    } else {
        assert_int_equal(k, HD_BACKEND_CPU);
        assert_non_null(strstr(note, "--device auto: no CUDA device ("));
        assert_non_null(strstr(note, "running on the CPU"));
        assert_null(strchr(note, '\n'));
    }
}

static void test_exec_init(void **state) {
    (void)state;
    hd_exec ex;
    hd_error err;
    assert_int_equal(hd_exec_init(&ex, HD_BACKEND_CPU, NULL, NULL, &err), HD_OK);
    assert_int_equal(ex.backend, HD_BACKEND_CPU);
    assert_null(ex.backend_ctx);
    assert_int_equal(hd_exec_sync(&ex, &err), HD_OK);
    hd_exec_release(&ex);

    hd_status st = hd_exec_init(&ex, HD_BACKEND_CUDA, NULL, NULL, &err);
    if (have_gpu()) {
        assert_int_equal(st, HD_OK);
        assert_int_equal(ex.backend, HD_BACKEND_CUDA);
        assert_non_null(ex.backend_ctx);
        assert_int_equal(hd_exec_sync(&ex, &err), HD_OK);
    } else {
        assert_int_not_equal(st, HD_OK);
        assert_int_equal(ex.backend, HD_BACKEND_CPU);   /* left usable on the CPU */
        assert_null(ex.backend_ctx);
    }
    hd_exec_release(&ex);
    assert_int_equal(ex.backend, HD_BACKEND_CPU);
    hd_exec_release(NULL);

    /* the default backend the CLI sets */
    assert_int_equal(hd_backend_default(), HD_BACKEND_CPU);
    hd_backend_set_default(HD_BACKEND_CUDA);
    assert_int_equal(hd_backend_default(), HD_BACKEND_CUDA);
    hd_backend_set_default(HD_BACKEND_CPU);

    /* a CUDA exec without a context (not made by hd_exec_init) is refused, not crashed on */
    setenv("HERD_CUDA_DEVICE", "x1", 1);
    assert_int_equal(hd_exec_init(&ex, HD_BACKEND_CUDA, NULL, NULL, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "HERD_CUDA_DEVICE"));
    unsetenv("HERD_CUDA_DEVICE");
    hd_exec bad = {.backend = HD_BACKEND_CUDA};
    assert_null(hd_backend_of(&bad, "rms_norm", &st, &err));
    assert_int_equal(st, HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "rms_norm: backend cuda is not available"));
    hd_exec cpu = {.backend = HD_BACKEND_CPU};
    assert_null(hd_backend_of(&cpu, "rms_norm", &st, &err));
    assert_int_equal(st, HD_OK);
    assert_null(hd_backend_of(NULL, "rms_norm", &st, &err));
    assert_int_equal(st, HD_OK);
    assert_int_equal(hd_backend_ops_get(HD_BACKEND_CUDA) != NULL, hd_backend_cuda_built());
    assert_null(hd_backend_ops_get(HD_BACKEND_CPU));
}

/* ---- the herd binary's --device ------------------------------------------------ */

/* Runs HERD_BINARY with args (shell-quoted by the caller); stderr into err_out. */
static int run_herd(const char *args, char *err_out, size_t size) {
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/herd_device_stderr.txt", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>'%s'", HERD_BINARY, args, path);
    int rc = system(cmd);
    size_t n = 0;
    char *e = tu_read_file(path, &n);
    snprintf(err_out, size, "%.*s", e ? (int)n : 0, e ? e : "");
    free(e);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli_device(void **state) {
    (void)state;
    char err[2048], tok[512], args[1024];
    snprintf(tok, sizeof tok, "%s/tokenizer/tokenizer.json", HERD_FIXTURES);

    assert_int_equal(run_herd("tokenize --device gpu -m x hello", err, sizeof err), 2);
    assert_non_null(strstr(err, "--device: 'gpu' is not one of cpu, cuda, auto"));
    assert_int_equal(run_herd("tokenize -m x hello --device", err, sizeof err), 2);

    snprintf(args, sizeof args, "tokenize --count --device cpu -m '%s' hello", tok);
    assert_int_equal(run_herd(args, err, sizeof err), 0);
    assert_string_equal(err, "");

    const bool gpu = have_gpu();
    snprintf(args, sizeof args, "tokenize --count --device cuda -m '%s' hello", tok);
    int rc = run_herd(args, err, sizeof err);
    if (!gpu) {
        assert_int_equal(rc, 1);
        const char *want = hd_backend_cuda_built() ? "herd: --device cuda: no CUDA device (cudaGetDeviceCount: "
                                                   : "herd: --device cuda: this herd was built without CUDA";
        if (strncmp(err, want, strlen(want)) != 0) {
            fprintf(stderr, "stderr: %s\n", err);
            fail();
        }
        int lines = 0;
        for (const char *c = err; *c; c++) lines += *c == '\n';
        assert_int_equal(lines, 1);   /* one line, nothing else */
    } else {
        assert_int_equal(rc, 0);
    }

    snprintf(args, sizeof args, "tokenize --count --device auto -m '%s' hello", tok);
    assert_int_equal(run_herd(args, err, sizeof err), 0);
    if (!gpu) {
        assert_non_null(strstr(err, "herd: --device auto: no CUDA device ("));
        assert_non_null(strstr(err, "; running on the CPU\n"));
    }
    snprintf(args, sizeof args, "tokenize --count --quiet --device auto -m '%s' hello", tok);
    assert_int_equal(run_herd(args, err, sizeof err), 0);
    assert_string_equal(err, "");
}

/* ---- CUDA ops against the CPU ops (needs a device) ------------------------------------ */

typedef struct {
    hd_exec gpu, cpu;
    const hd_backend_ops *t;
    tu_rng r;
} gpu_fx;

static float *rnd(tu_rng *r, size_t n) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    tu_fill_normal(r, x, n, 1.0f);
    return x;
}

static void close_to(const float *a, const float *b, size_t n, float rtol, const char *what) {
    float mb = 0, me = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabsf(b[i]) > mb) mb = fabsf(b[i]);
        if (!(fabsf(a[i] - b[i]) <= me)) me = fabsf(a[i] - b[i]);
    }
    if (!(me <= rtol * (mb > 1e-6f ? mb : 1e-6f))) {
        fprintf(stderr, "%s: GPU vs CPU max error %g (max |ref| %g)\n", what, (double)me, (double)mb);
        fail();
    }
}

static void test_gpu_ops(void **state) {
    (void)state;
    if (!have_gpu()) skip();
    gpu_fx f;
    hd_error err;
    assert_int_equal(hd_exec_init(&f.gpu, HD_BACKEND_CUDA, NULL, NULL, &err), HD_OK);
    f.cpu = (hd_exec){.backend = HD_BACKEND_CPU};
    f.t = hd_backend_ops_get(HD_BACKEND_CUDA);
    assert_non_null(f.t);
    tu_rng_seed(&f.r, 77);

    /* linear: every weight type, decode (M = 1, 3: mat-vec kernels) and prefill (M = 40: cuBLAS) */
    const hd_type types[] = {HD_TYPE_F32, HD_TYPE_F16, HD_TYPE_BF16, HD_TYPE_Q8_0,
                             HD_TYPE_Q4_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K};
    const int64_t K = 512, N = 96, Ms[] = {1, 3, 40};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        float *wf = rnd(&f.r, K * N), *b = rnd(&f.r, N);
        void *w = malloc(hd_type_row_size(types[ti], K) * N);
        if (types[ti] == HD_TYPE_F32) memcpy(w, wf, K * N * 4);
        else
            for (int64_t n = 0; n < N; n++)
                hd_quantize_row(types[ti], wf + n * K, (char *)w + n * hd_type_row_size(types[ti], K), K);
        for (int mi = 0; mi < 3; mi++) {
            const int64_t M = Ms[mi];
            float *x = rnd(&f.r, K * M), *yg = malloc(N * M * 4), *yc = malloc(N * M * 4);
            hd_tensor tw = hd_tensor_2d(types[ti], K, N, w), tx = hd_tensor_2d(HD_TYPE_F32, K, M, x),
                      tb = hd_tensor_1d(HD_TYPE_F32, N, b), tyg = hd_tensor_2d(HD_TYPE_F32, N, M, yg),
                      tyc = hd_tensor_2d(HD_TYPE_F32, N, M, yc);
            assert_int_equal(f.t->linear(&f.gpu, &tyg, &tw, &tx, &tb, &err), HD_OK);
            assert_int_equal(hd_op_linear(&f.cpu, &tyc, &tw, &tx, &tb, &err), HD_OK);
            /* CPU quantizes activations for quantized weights; F16/BF16 GEMMs round x */
            close_to(yg, yc, (size_t)(N * M), types[ti] == HD_TYPE_F32 ? 1e-4f : 3e-2f, hd_type_name(types[ti]));
            free(x), free(yg), free(yc);
        }
        /* get_rows of the same weights */
        int32_t ids[3] = {5, 0, 95};
        float *rg = malloc(K * 3 * 4), *rc = malloc(K * 3 * 4);
        hd_tensor tw = hd_tensor_2d(types[ti], K, N, w), trg = hd_tensor_2d(HD_TYPE_F32, K, 3, rg),
                  trc = hd_tensor_2d(HD_TYPE_F32, K, 3, rc);
        assert_int_equal(f.t->get_rows(&f.gpu, &trg, &tw, ids, 3, &err), HD_OK);
        assert_int_equal(hd_op_get_rows(&f.cpu, &trc, &tw, ids, 3, &err), HD_OK);
        close_to(rg, rc, (size_t)(K * 3), 0, "get_rows");
        free(rg), free(rc), free(wf), free(b), free(w);
    }

    /* norms, RoPE, softmax, attention, activations, conv1d on one set of shapes */
    const int64_t d = 64, H = 4, G = 2, S = 5, T = 9;
    float *q = rnd(&f.r, d * H * S), *k = rnd(&f.r, d * G * T), *v = rnd(&f.r, d * G * T), *w = rnd(&f.r, d);
    float *og = malloc(d * H * S * 4), *oc = malloc(d * H * S * 4), *qg = malloc(d * H * S * 4);
    hd_tensor tq = hd_tensor_3d(HD_TYPE_F32, d, H, S, q), tk = hd_tensor_3d(HD_TYPE_F32, d, G, T, k),
              tv = hd_tensor_3d(HD_TYPE_F32, d, G, T, v), tw = hd_tensor_1d(HD_TYPE_F32, d, w),
              tog = hd_tensor_3d(HD_TYPE_F32, d, H, S, og), toc = hd_tensor_3d(HD_TYPE_F32, d, H, S, oc);
    hd_tensor q2 = hd_tensor_2d(HD_TYPE_F32, d, H * S, q), og2 = hd_tensor_2d(HD_TYPE_F32, d, H * S, og),
              oc2 = hd_tensor_2d(HD_TYPE_F32, d, H * S, oc);
    assert_int_equal(f.t->rms_norm(&f.gpu, &og2, &q2, &tw, 1e-5f, &err), HD_OK);
    assert_int_equal(hd_op_rms_norm(&f.cpu, &oc2, &q2, &tw, 1e-5f, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "rms_norm");
    assert_int_equal(f.t->layer_norm(&f.gpu, &og2, &q2, &tw, &tw, 1e-5f, &err), HD_OK);
    assert_int_equal(hd_op_layer_norm(&f.cpu, &oc2, &q2, &tw, &tw, 1e-5f, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "layer_norm");
    int32_t pos[5] = {3, 4, 5, 6, 100000};
    float inv[32];
    for (int i = 0; i < 32; i++) inv[i] = powf(10000.0f, -(float)i / 32.0f);
    memcpy(og, q, d * H * S * 4), memcpy(oc, q, d * H * S * 4);
    assert_int_equal(f.t->rope(&f.gpu, &tog, pos, inv, 64, HD_ROPE_NEOX, &err), HD_OK);
    assert_int_equal(hd_op_rope(&f.cpu, &toc, pos, inv, 64, HD_ROPE_NEOX, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "rope");
    memcpy(og, q, d * H * S * 4), memcpy(oc, q, d * H * S * 4);
    assert_int_equal(f.t->softmax(&f.gpu, &og2, 0.5f, &err), HD_OK);
    assert_int_equal(hd_op_softmax(&f.cpu, &oc2, 0.5f, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "softmax");
    hd_attn_params p = {.scale = 0.125f, .causal = true, .q_offset = T - S};
    assert_int_equal(f.t->attention(&f.gpu, &tog, &tq, &tk, &tv, &p, &err), HD_OK);
    assert_int_equal(hd_op_attention(&f.cpu, &toc, &tq, &tk, &tv, &p, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "attention");
    memcpy(qg, q, d * H * S * 4);
    hd_tensor tqg = hd_tensor_3d(HD_TYPE_F32, d, H, S, qg);
    assert_int_equal(f.t->swiglu(&f.gpu, &tog, &tq, &tqg, &err), HD_OK);
    assert_int_equal(hd_op_swiglu(&f.cpu, &toc, &tq, &tqg, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "swiglu");
    assert_int_equal(f.t->gelu(&f.gpu, &tog, &tq, &err), HD_OK);
    assert_int_equal(hd_op_gelu(&f.cpu, &toc, &tq, &err), HD_OK);
    close_to(og, oc, (size_t)(d * H * S), 1e-5f, "gelu");
    /* conv1d: x [T=d, C=H·S/… ] viewed as 20 channels of 64 samples, depthwise K = 5 */
    hd_tensor cx = hd_tensor_2d(HD_TYPE_F32, d, H * S, q);
    float *cw = rnd(&f.r, 5 * H * S), *cyg = malloc(d * H * S * 4), *cyc = malloc(d * H * S * 4);
    hd_tensor tcw = hd_tensor_3d(HD_TYPE_F32, 5, 1, H * S, cw), tcyg = hd_tensor_2d(HD_TYPE_F32, d, H * S, cyg),
              tcyc = hd_tensor_2d(HD_TYPE_F32, d, H * S, cyc);
    assert_int_equal(f.t->conv1d(&f.gpu, &tcyg, &cx, &tcw, NULL, 1, 2, (int)(H * S), &err), HD_OK);
    assert_int_equal(hd_op_conv1d(&f.cpu, &tcyc, &cx, &tcw, NULL, 1, 2, (int)(H * S), &err), HD_OK);
    close_to(cyg, cyc, (size_t)(d * H * S), 1e-5f, "conv1d");
    assert_int_equal(hd_exec_sync(&f.gpu, &err), HD_OK);
    free(q), free(k), free(v), free(w), free(og), free(oc), free(qg), free(cw), free(cyg), free(cyc);
    hd_exec_release(&f.gpu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),      cmocka_unit_test(test_resolve), cmocka_unit_test(test_exec_init),
        cmocka_unit_test(test_cli_device), cmocka_unit_test(test_gpu_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
