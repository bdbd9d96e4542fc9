/* tests/unit/test_hf_mel.c — speech/dft.c (against a direct DFT, complex and
 * real input, prime and composite sizes) and speech/hf_mel.c: row / valid-row
 * counts of every padding mode, Granite's embedding count, the filterbanks
 * (Slaney area normalisation, HTK peaks of 1), a tone in the right bin, the
 * max − 8 floor, and errors (parameters, capacity, non-finite samples, too
 * short for Granite's reflect padding).  (Parity with torch/torchaudio on the
 * audio fixtures: tests/parity/test_hf_mel.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "speech/dft.h"
#include "speech/hf_mel.h"
#include "testutil.h"

static void check_dft(size_t n, bool complex_in, tu_rng *r) {
    double *xr = malloc(n * sizeof *xr), *xi = malloc(n * sizeof *xi);
    double *yr = malloc(n * sizeof *yr), *yi = malloc(n * sizeof *yi);
    for (size_t i = 0; i < n; i++) xr[i] = tu_rng_normal(r), xi[i] = complex_in ? tu_rng_normal(r) : 0.0;
    hd_error err = {0};
    hd_dft *d = hd_dft_create(n, &err);
    assert_non_null(d);
    assert_int_equal(hd_dft_size(d), n);
    hd_dft_forward(d, xr, complex_in ? xi : NULL, yr, yi);
    double worst = 0, scale = 0;
    for (size_t k = 0; k < n; k++) {
        long double sr = 0, si = 0;
        for (size_t t = 0; t < n; t++) {
            const long double a = -2.0L * 3.14159265358979323846264338327950288L * (long double)(k * t % n) / n;
            sr += xr[t] * cosl(a) - xi[t] * sinl(a);
            si += xr[t] * sinl(a) + xi[t] * cosl(a);
        }
        worst = fmax(worst, fmax(fabs(yr[k] - (double)sr), fabs(yi[k] - (double)si)));
        scale = fmax(scale, hypot((double)sr, (double)si));
    }
    if (!(worst <= 1e-12 * fmax(scale, 1.0))) fail_msg("dft n=%zu: max error %g (scale %g)", n, worst, scale);
    hd_dft_free(d);
    free(xr), free(xi), free(yr), free(yi);
}

static void test_dft_matches_direct(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 5);
    const size_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 12, 25, 97, 210, 400, 512, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        check_dft(sizes[i], false, &r);
        check_dft(sizes[i], true, &r);
    }
    hd_error err = {0};
    assert_null(hd_dft_create(0, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    hd_dft_free(NULL);
}

static void test_counts(void **state) {
    (void)state;
    const hd_hf_mel_params w30 = hd_hf_mel_whisper_params(128, HD_HF_MEL_PAD_30S);
    const hd_hf_mel_params whop = hd_hf_mel_whisper_params(80, HD_HF_MEL_PAD_HOP);
    const hd_hf_mel_params gr = hd_hf_mel_granite_params();
    /* 30 s: always 3000 frames; valid = ceil(min(n, 480000) / 160) */
    assert_int_equal(hd_hf_mel_n_rows(&w30, 0), 3000);
    assert_int_equal(hd_hf_mel_n_rows(&w30, 176000), 3000);
    assert_int_equal(hd_hf_mel_n_rows(&w30, 900000), 3000);
    assert_int_equal(hd_hf_mel_n_valid(&w30, 176000), 1100);
    assert_int_equal(hd_hf_mel_n_valid(&w30, 176001), 1101);
    assert_int_equal(hd_hf_mel_n_valid(&w30, 900000), 3000);
    /* Ultravox: at least 2 hops, then up to a multiple of 160 */
    assert_int_equal(hd_hf_mel_n_rows(&whop, 0), 2);
    assert_int_equal(hd_hf_mel_n_rows(&whop, 1), 2);
    assert_int_equal(hd_hf_mel_n_rows(&whop, 320), 2);
    assert_int_equal(hd_hf_mel_n_rows(&whop, 321), 3);
    assert_int_equal(hd_hf_mel_n_rows(&whop, 900000), 5625);
    assert_int_equal(hd_hf_mel_n_valid(&whop, 5), 2);
    assert_int_equal(hd_hf_mel_n_valid(&whop, 333), 3);
    /* Granite: (n/160 + 1)/2 stacked rows */
    assert_int_equal(hd_hf_mel_n_rows(&gr, 0), 0);
    assert_int_equal(hd_hf_mel_n_rows(&gr, 300), 1);
    assert_int_equal(hd_hf_mel_n_rows(&gr, 320), 1);
    assert_int_equal(hd_hf_mel_n_rows(&gr, 480), 2);
    assert_int_equal(hd_hf_mel_n_rows(&gr, 176000), 550);
    assert_int_equal(hd_hf_mel_width(&gr), 160);
    assert_int_equal(hd_hf_mel_width(&whop), 80);
    /* 11 s: mel 1101, encoder 550, ceil(550/15) = 37 windows of 15/5 = 3 */
    assert_int_equal(hd_hf_mel_granite_n_embeddings(176000, 160, 15, 5), 111);
    assert_int_equal(hd_hf_mel_granite_n_embeddings(0, 160, 15, 5), 0);
    assert_int_equal(hd_hf_mel_granite_n_embeddings(4800, 160, 15, 5), 3); /* enc 15: exactly one window */
    assert_int_equal(hd_hf_mel_granite_n_embeddings(4960, 160, 15, 5), 6); /* enc 16: two */
}

static void test_filterbanks(void **state) {
    (void)state;
    hd_error err = {0};
    /* Slaney-normalised triangles: each has area 1 over Hz (2/(f2 − f0) ·
     * (f2 − f0)/2), so Σ_k w·Δf ≈ 1 where the triangle spans several bins. */
    hd_hf_mel_params p = hd_hf_mel_whisper_params(80, HD_HF_MEL_PAD_HOP);
    hd_hf_mel *m = hd_hf_mel_create(&p, &err);
    assert_non_null(m);
    const double *fb = hd_hf_mel_filters(m);
    const double df = 8000.0 / 200.0;
    for (int b = 50; b < 80; b++) { /* wide upper triangles (≥ 5 bins) */
        double area = 0;
        for (int k = 0; k < 201; k++) area += fb[b * 201 + k] * df;
        assert_true(fabs(area - 1.0) < 0.02);
    }
    hd_hf_mel_free(m);
    /* HTK, unnormalised: every triangle wider than a bin peaks near 1 */
    p = hd_hf_mel_granite_params();
    m = hd_hf_mel_create(&p, &err);
    assert_non_null(m);
    fb = hd_hf_mel_filters(m);
    for (int b = 10; b < 80; b++) {
        double mx = 0;
        for (int k = 0; k < 257; k++) mx = fmax(mx, fb[b * 257 + k]);
        assert_true(mx > 0.5 && mx <= 1.0);
    }
    hd_hf_mel_free(m);
}

static void test_tone_and_floor(void **state) {
    (void)state;
    hd_error err = {0};
    const size_t n = 16000;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * (float)sin(2 * M_PI * 1000.0 * (double)i / 16000.0);
    const hd_hf_mel_params p = hd_hf_mel_whisper_params(80, HD_HF_MEL_PAD_30S);
    float *mel = NULL;
    int64_t rows = 0, valid = 0;
    assert_int_equal(hd_hf_mel_compute(&p, x, n, &mel, &rows, &valid, &err), HD_OK);
    assert_int_equal(rows, 3000);
    assert_int_equal(valid, 100);
    /* the loudest bin of a middle frame is the filter around 1 kHz (Slaney:
     * 15 mel; bin b centre = (b + 1) · mel(8000) / 81) */
    const float *f = mel + 50 * 80;
    int best = 0;
    for (int b = 1; b < 80; b++)
        if (f[b] > f[best]) best = b;
    assert_true(best >= 24 && best <= 27);
    /* after the audio: silence sits at the floor (max − 8 + 4) / 4 = global max − 2 */
    float mx = -1e30f;
    for (int64_t i = 0; i < rows * 80; i++) mx = fmaxf(mx, mel[i]);
    for (int b = 0; b < 80; b++) assert_true(fabsf(mel[2500 * 80 + b] - (mx - 2.0f)) < 1e-5f);
    free(mel);
    /* Granite: / 4 + 1, floor = max − 2 as well */
    const hd_hf_mel_params g = hd_hf_mel_granite_params();
    float *x2 = calloc(32000, sizeof *x2);
    memcpy(x2, x, n * sizeof *x);
    assert_int_equal(hd_hf_mel_compute(&g, x2, 32000, &mel, &rows, &valid, &err), HD_OK);
    assert_int_equal(rows, 100);
    mx = -1e30f;
    for (int64_t i = 0; i < rows * 160; i++) mx = fmaxf(mx, mel[i]);
    for (int b = 0; b < 160; b++) assert_true(fabsf(mel[90 * 160 + b] - (mx - 2.0f)) < 1e-5f);
    free(mel), free(x2), free(x);
}

static void test_errors(void **state) {
    (void)state;
    hd_error err = {0};
    hd_hf_mel_params p = hd_hf_mel_whisper_params(80, HD_HF_MEL_PAD_NONE);
    assert_null(hd_hf_mel_create(&p, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    p = hd_hf_mel_whisper_params(300, HD_HF_MEL_PAD_30S); /* more bins than 201 */
    assert_null(hd_hf_mel_create(&p, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    p = hd_hf_mel_granite_params();
    p.win = 600; /* window longer than n_fft */
    assert_int_equal(hd_hf_mel_params_check(&p, &err), HD_ERR_ARG);
    p = hd_hf_mel_granite_params();
    p.pad = HD_HF_MEL_PAD_HOP;
    assert_int_equal(hd_hf_mel_params_check(&p, &err), HD_ERR_ARG);

    float x[1000] = {0};
    float out[16 * 160];
    int64_t rows = -1;
    hd_hf_mel *m = hd_hf_mel_create(NULL, &err); /* Whisper 128, 30 s */
    assert_non_null(m);
    assert_int_equal(hd_hf_mel_params_of(m)->n_mel, 128);
    assert_int_equal(hd_hf_mel_run(m, x, 1000, out, 16, &rows, NULL, &err), HD_ERR_ARG); /* 3000 rows */
    assert_int_equal(rows, -1);
    hd_hf_mel_free(m);

    p = hd_hf_mel_granite_params();
    m = hd_hf_mel_create(&p, &err);
    assert_non_null(m);
    assert_int_equal(hd_hf_mel_run(m, x, 256, out, 16, &rows, NULL, &err), HD_ERR_ARG); /* ≤ n_fft/2 */
    assert_non_null(strstr(err.msg, "too short"));
    assert_int_equal(hd_hf_mel_run(m, x, 0, out, 16, &rows, NULL, &err), HD_OK);
    assert_int_equal(rows, 0);
    x[500] = NAN;
    assert_int_equal(hd_hf_mel_run(m, x, 1000, out, 16, &rows, NULL, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "sample 500"));
    x[500] = 0;
    assert_int_equal(hd_hf_mel_run(m, x, 1000, out, 16, &rows, NULL, &err), HD_OK);
    assert_int_equal(rows, 3);
    hd_hf_mel_free(m);
    hd_hf_mel_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dft_matches_direct), cmocka_unit_test(test_counts),
        cmocka_unit_test(test_filterbanks),        cmocka_unit_test(test_tone_and_floor),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
