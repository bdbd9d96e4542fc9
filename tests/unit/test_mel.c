/* tests/unit/test_mel.c — speech/fft.c (against a direct DFT) and
 * speech/mel.c: frame counts, streaming in any chunking bit-identical to the
 * whole signal, a tone landing in the right mel bin, silence at the log
 * floor, capacity / non-finite / parameter errors.  (Parity with torchaudio
 * on the audio fixtures: tests/parity/test_mel.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "speech/fft.h"
#include "speech/mel.h"
#include "testutil.h"

static void test_fft_matches_dft(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 11);
    for (size_t n = 4; n <= 1024; n *= 2) {
        double *x = malloc(n * sizeof *x), *re = malloc((n / 2 + 1) * sizeof *re), *im = malloc((n / 2 + 1) * sizeof *im);
        for (size_t i = 0; i < n; i++) x[i] = tu_rng_normal(&r);
        hd_error err = {0};
        hd_rfft *f = hd_rfft_create(n, &err);
        assert_non_null(f);
        assert_int_equal(hd_rfft_size(f), n);
        hd_rfft_forward(f, x, re, im);
        double worst = 0, scale = 0;
        for (size_t k = 0; k <= n / 2; k++) {
            long double sr = 0, si = 0;
            for (size_t t = 0; t < n; t++) {
                const long double a = -2.0L * 3.14159265358979323846264338327950288L * (long double)(k * t % n) / n;
                sr += x[t] * cosl(a), si += x[t] * sinl(a);
            }
            worst = fmax(worst, fmax(fabs(re[k] - (double)sr), fabs(im[k] - (double)si)));
            scale = fmax(scale, hypot((double)sr, (double)si));
        }
        assert_true(worst <= 1e-12 * scale);
        hd_rfft_free(f);
        free(x), free(re), free(im);
    }
    hd_error err = {0};
    assert_null(hd_rfft_create(48, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_null(hd_rfft_create(2, &err));
    hd_rfft_free(NULL);
}

static void test_frame_count(void **state) {
    (void)state;
    const hd_mel_params p = hd_mel_default_params();
    assert_int_equal(hd_mel_n_frames(&p, 0), 0);
    assert_int_equal(hd_mel_n_frames(&p, 399), 0);
    assert_int_equal(hd_mel_n_frames(&p, 400), 1);
    assert_int_equal(hd_mel_n_frames(&p, 559), 1);
    assert_int_equal(hd_mel_n_frames(&p, 560), 2);
    assert_int_equal(hd_mel_n_frames(&p, 16000), 98);   /* 1 + (16000 − 400) / 160 */
}

static float *signal(size_t n, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.3f * sinf(0.01f * (float)i) * tu_rng_normal(&r) + 0.05f * tu_rng_normal(&r);
    return x;
}

static void test_streaming_identical(void **state) {
    (void)state;
    const size_t n = 3 * 16000 + 123;
    float *x = signal(n, 3), *whole = NULL;
    int64_t nf = 0;
    hd_error err = {0};
    assert_int_equal(hd_mel_compute(NULL, x, n, &whole, &nf, &err), HD_OK);
    assert_int_equal(nf, hd_mel_n_frames(&(hd_mel_params){.win = 400, .hop = 160}, (int64_t)n));
    const size_t chunks[] = {1, 7, 159, 160, 161, 399, 400, 401, 4096, 0 /* random */};
    float *got = malloc((size_t)nf * 80 * sizeof *got);
    tu_rng r;
    tu_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        hd_mel *m = hd_mel_create(NULL, &err);
        assert_non_null(m);
        memset(got, 0, (size_t)nf * 80 * sizeof *got);
        int64_t done = 0;
        for (size_t at = 0; at < n;) {
            size_t c = chunks[ci] ? chunks[ci] : (size_t)(tu_rng_u64(&r) % 1000);   /* random, 0 included */
            if (c > n - at) c = n - at;
            const int64_t expect = hd_mel_frames_after(m, c);
            int64_t k = -1;
            assert_int_equal(hd_mel_push(m, x + at, c, got + done * 80, nf - done, &k, &err), HD_OK);
            assert_int_equal(k, expect);
            done += k, at += c;
            assert_int_equal(hd_mel_samples_seen(m), (int64_t)at);
            assert_int_equal(hd_mel_frames_done(m), done);
        }
        assert_int_equal(done, nf);
        assert_memory_equal(got, whole, (size_t)nf * 80 * sizeof *got);
        /* reset starts a new signal */
        hd_mel_reset(m);
        int64_t k = 0;
        assert_int_equal(hd_mel_push(m, x, 560, got, 2, &k, &err), HD_OK);
        assert_int_equal(k, 2);
        assert_memory_equal(got, whole, 2 * 80 * sizeof *got);
        hd_mel_free(m);
    }
    free(x), free(whole), free(got);
}

/* inverse of Kaldi's mel scale */
static double hz_of(double mel) { return 700.0 * (exp(mel / 1127.0) - 1.0); }

static void test_tone_and_silence(void **state) {
    (void)state;
    const size_t n = 4000;
    float *x = malloc(n * sizeof *x), *out = NULL;
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * (float)sin(2 * M_PI * 1000.0 * (double)i / 16000.0);
    int64_t nf = 0;
    hd_error err = {0};
    assert_int_equal(hd_mel_compute(NULL, x, n, &out, &nf, &err), HD_OK);
    /* the bin whose centre frequency is closest to 1 kHz carries the most energy */
    const double ml = 1127.0 * log(1 + 20.0 / 700), mh = 1127.0 * log(1 + 8000.0 / 700), d = (mh - ml) / 81;
    int want = 0;
    for (int b = 1; b < 80; b++)
        if (fabs(hz_of(ml + (b + 1) * d) - 1000) < fabs(hz_of(ml + (want + 1) * d) - 1000)) want = b;
    for (int64_t f = 0; f < nf; f++) {
        int best = 0;
        for (int b = 1; b < 80; b++)
            if (out[f * 80 + b] > out[f * 80 + best]) best = b;
        assert_int_equal(best, want);
    }
    free(out);
    /* silence: every value is the log floor */
    memset(x, 0, n * sizeof *x);
    assert_int_equal(hd_mel_compute(NULL, x, n, &out, &nf, &err), HD_OK);
    for (int64_t i = 0; i < nf * 80; i++) assert_float_equal(out[i], logf(FLT_EPSILON), 1e-6);
    free(out);
    /* too short: no frames, no buffer */
    assert_int_equal(hd_mel_compute(NULL, x, 399, &out, &nf, &err), HD_OK);
    assert_null(out);
    assert_int_equal(nf, 0);
    free(x);
}

static void test_errors(void **state) {
    (void)state;
    hd_error err = {0};
    hd_mel_params p = hd_mel_default_params();
    p.n_fft = 500;
    assert_null(hd_mel_create(&p, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "n_fft"));
    p = hd_mel_default_params(), p.hop = 401;
    assert_null(hd_mel_create(&p, &err));
    assert_non_null(strstr(err.msg, "hop"));
    p = hd_mel_default_params(), p.high_hz = 9000;
    assert_null(hd_mel_create(&p, &err));
    assert_non_null(strstr(err.msg, "Nyquist"));
    p = hd_mel_default_params(), p.n_mel = 0;
    assert_null(hd_mel_create(&p, &err));

    hd_mel *m = hd_mel_create(NULL, &err);
    float x[1000] = {0}, out[80 * 5];
    int64_t k = 0;
    /* 1000 samples make 4 frames: capacity 3 is refused and nothing is consumed */
    assert_int_equal(hd_mel_push(m, x, 1000, out, 3, &k, &err), HD_ERR_ARG);
    assert_int_equal(hd_mel_samples_seen(m), 0);
    x[500] = NAN;
    assert_int_equal(hd_mel_push(m, x, 1000, out, 5, &k, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "500"));
    assert_int_equal(hd_mel_samples_seen(m), 0);
    x[500] = 0;
    assert_int_equal(hd_mel_push(m, x, 1000, out, 5, &k, &err), HD_OK);
    assert_int_equal(k, 4);
    assert_int_equal(hd_mel_push(m, NULL, 0, NULL, 0, &k, &err), HD_OK);
    assert_int_equal(k, 0);
    hd_mel_free(m);
    hd_mel_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fft_matches_dft),   cmocka_unit_test(test_frame_count),
        cmocka_unit_test(test_streaming_identical), cmocka_unit_test(test_tone_and_silence),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
