/* tests/unit/test_graph_audio.c — graph/wavio.c, resample.c, nodes_audio.c:
 * WAV parsing (formats, chunk skipping, corrupt files), writing, the
 * resampler's accuracy (tones, aliasing, images, streaming invariance) and
 * WAV -> resample -> WAV pipelines on the jfk.wav fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/parse.h"
#include "media/audio_resample.h"
#include "media/wav_reader.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_wav(const char *path, hd_wavfile_info *info) {
    hd_error err = {0};
    hd_wavfile *r = hd_wavfile_open(path, &err);
    if (!r) fail_msg("%s", err.msg);
    *info = *hd_wavfile_get_info(r);
    size_t n = (size_t)info->n_frames * (size_t)info->channels;
    float *x = malloc((n ? n : 1) * sizeof *x);
    int64_t got = hd_wavfile_read(r, x, info->n_frames, &err);
    assert_int_equal(got, info->n_frames);
    assert_int_equal(hd_wavfile_read(r, x, 1, &err), 0);
    hd_wavfile_close(r);
    return x;
}

static void run_pipeline(const char *desc) {
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    hd_registry_add_builtins(reg, &err);
    hd_graph *g = hd_graph_create(NULL, &err);
    int off;
    if (hd_pipeline_build(desc, reg, g, &off, &err)) fail_msg("%s: %s", desc, err.msg);
    if (hd_graph_run(g, &err)) fail_msg("%s: %s", desc, err.msg);
    hd_graph_free(g);
    hd_registry_free(reg);
}

static double rms(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s / (double)(n ? n : 1));
}

/* Amplitude of the component at freq (single DFT bin, Hann window). */
static double tone_amp(const float *x, size_t n, double freq, int rate) {
    double re = 0, im = 0, wsum = 0;
    for (size_t i = 0; i < n; i++) {
        double w = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)(n - 1));
        double ph = 2 * M_PI * freq * (double)i / rate;
        re += w * x[i] * cos(ph);
        im -= w * x[i] * sin(ph);
        wsum += w;
    }
    return 2 * sqrt(re * re + im * im) / wsum;
}

static float *tone(int64_t n, double freq, int rate, double amp) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * M_PI * freq * (double)i / rate));
    return x;
}

/* Resamples all of x in one call (plus flush); returns the output, *n_out. */
static float *resample_all(const float *x, int64_t n, int in_rate, int out_rate, int ch, int64_t *n_out) {
    hd_error err = {0};
    hd_resampler *r = hd_resampler_create(in_rate, out_rate, ch, NULL, &err);
    if (!r) fail_msg("%s", err.msg);
    int64_t cap = hd_resampler_max_out(r, n) + 16;
    float *y = malloc((size_t)cap * (size_t)ch * sizeof *y);
    int64_t a = hd_resampler_process(r, x, n, y, &err);
    assert_true(a >= 0);
    int64_t b = hd_resampler_flush(r, y + a * ch);
    *n_out = a + b;
    assert_true(*n_out <= cap);
    hd_resampler_free(r);
    return y;
}

/* ---- WAV reading ------------------------------------------------------------------ */

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

/* A WAV file with a LIST chunk before fmt, given sample bytes. */
static size_t make_wav(uint8_t *b, unsigned tag, int ch, int rate, int bits, const void *data, size_t bytes,
                       bool extensible) {
    size_t o = 12;
    memcpy(b, "RIFF", 4);
    memcpy(b + 8, "WAVE", 4);
    memcpy(b + o, "LIST", 4);            /* odd-sized chunk: padded to even */
    put32(b + o + 4, 3);
    memcpy(b + o + 8, "abc\0", 4);
    o += 12;
    memcpy(b + o, "fmt ", 4);
    put32(b + o + 4, extensible ? 40 : 16);
    put16(b + o + 8, extensible ? 0xFFFE : tag);
    put16(b + o + 10, (unsigned)ch);
    put32(b + o + 12, (uint32_t)rate);
    put32(b + o + 16, (uint32_t)(rate * ch * bits / 8));
    put16(b + o + 20, (unsigned)(ch * bits / 8));
    put16(b + o + 22, (unsigned)bits);
    o += 24;
    if (extensible) {
        static const uint8_t tail[14] = {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
        put16(b + o, 22);
        put16(b + o + 2, (unsigned)bits);
        put32(b + o + 4, 0);
        put16(b + o + 8, tag);
        memcpy(b + o + 10, tail, 14);
        o += 24;
    }
    memcpy(b + o, "data", 4);
    put32(b + o + 4, (uint32_t)bytes);
    memcpy(b + o + 8, data, bytes);
    o += 8 + bytes;
    put32(b + 4, (uint32_t)(o - 8));
    return o;
}

static void check_decode(const char *name, unsigned tag, int bits, bool ext, const void *data, size_t bytes,
                         const float *want, int n) {
    uint8_t buf[512];
    size_t len = make_wav(buf, tag, 1, 8000, bits, data, bytes, ext);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    assert_int_equal(tu_write_file(path, buf, len), 0);
    hd_wavfile_info info;
    float *x = read_wav(path, &info);
    assert_int_equal(info.n_frames, n);
    assert_int_equal(info.bits, bits);
    assert_int_equal(info.rate, 8000);
    for (int i = 0; i < n; i++)
        if (x[i] != want[i]) fail_msg("%s sample %d: %.9g != %.9g", name, i, x[i], want[i]);
    free(x);
}

static void test_wav_formats(void **state) {
    const uint8_t u8[] = {0, 128, 255, 64};
    const float u8w[] = {-1.0f, 0.0f, 127.0f / 128, -0.5f};
    check_decode("u8.wav", 1, 8, false, u8, sizeof u8, u8w, 4);
    const uint8_t s16[] = {0x00, 0x80, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x40};
    const float s16w[] = {-1.0f, 32767.0f / 32768, 0.0f, 0.5f};
    check_decode("s16.wav", 1, 16, false, s16, sizeof s16, s16w, 4);
    const uint8_t s24[] = {0x00, 0x00, 0x80, 0xff, 0xff, 0x7f, 0x00, 0x00, 0xc0, 0x01, 0x00, 0x00};
    const float s24w[] = {-1.0f, 8388607.0f / 8388608, -0.5f, 1.0f / 8388608};
    check_decode("s24.wav", 1, 24, false, s24, sizeof s24, s24w, 4);
    check_decode("s24ext.wav", 1, 24, true, s24, sizeof s24, s24w, 4);
    const int32_t s32[] = {INT32_MIN, 1 << 30, 0, -(1 << 29)};
    const float s32w[] = {-1.0f, 0.5f, 0.0f, -0.25f};
    check_decode("s32.wav", 1, 32, false, s32, sizeof s32, s32w, 4);
    const float f32[] = {0.125f, -0.75f, 1.5f, 0.0f};
    check_decode("f32.wav", 3, 32, false, f32, sizeof f32, f32, 4);
    const double f64[] = {0.125, -0.75, 1e-3, 0.0};
    const float f64w[] = {0.125f, -0.75f, 1e-3f, 0.0f};
    check_decode("f64.wav", 3, 64, false, f64, sizeof f64, f64w, 4);

    /* rejected formats and inconsistent headers */
    uint8_t buf[256];
    hd_wavfile_info info;
    hd_error err = {0};
    size_t len = make_wav(buf, 2 /* ADPCM */, 1, 8000, 16, s16, sizeof s16, false);
    assert_int_equal(hd_wavfile_parse_header(buf, len, len, "adpcm.wav", &info, &err), HD_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "adpcm.wav: WAV sample format 0x0002 is not PCM or IEEE float");
    len = make_wav(buf, 1, 1, 8000, 12, s16, sizeof s16, false);
    assert_int_equal(hd_wavfile_parse_header(buf, len, len, "x.wav", &info, &err), HD_ERR_UNSUPPORTED);
    len = make_wav(buf, 1, 0, 8000, 16, s16, sizeof s16, false);
    assert_int_equal(hd_wavfile_parse_header(buf, len, len, "x.wav", &info, &err), HD_ERR_FORMAT);
    /* data size beyond the file is clamped to the whole frames present */
    len = make_wav(buf, 1, 1, 8000, 16, s16, sizeof s16, false);
    put32(buf + len - sizeof s16 - 4, 0xFFFFFFFFu);
    assert_int_equal(hd_wavfile_parse_header(buf, len - 1, len - 1, "x.wav", &info, &err), HD_OK);
    assert_int_equal(info.n_frames, 3);
}

static void test_wav_fixtures(void **state) {
    char path[512];
    hd_wavfile_info info;
    float *x = read_wav(tu_fixture(path, sizeof path, "audio/oversized_id3_chunk.wav"), &info);
    assert_int_equal(info.rate, 44100);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.n_frames, 4410);    /* 0.1 s behind an 80 KB ID3 chunk */
    free(x);
    x = read_wav(tu_fixture(path, sizeof path, "corrupt/pocketsphinx_null_header_only.wav"), &info);
    assert_int_equal(info.n_frames, 0);
    free(x);
    x = read_wav(tu_fixture(path, sizeof path, "corrupt/pocketsphinx_awful.wav"), &info);
    assert_int_equal(info.rate, 1092676);
    free(x);

    struct {
        const char *file;
        hd_status code;
        const char *msg;   /* after the path */
    } bad[] = {
        {"corrupt/empty.wav", HD_ERR_FORMAT, "empty file"},
        {"corrupt/random_bytes.wav", HD_ERR_FORMAT, "not a WAV file (no RIFF/WAVE header)"},
        {"corrupt/pocketsphinx_bad.wav", HD_ERR_FORMAT, "fmt chunk of 1717986918 bytes runs past the end of the file"},
        {"corrupt/pocketsphinx_evil.wav", HD_ERR_FORMAT,
         "chunk 'HURF' of 960051513 bytes at byte 36 runs past the end of the file"},
        {"audio/jfk.mp3", HD_ERR_FORMAT, "not a WAV file (no RIFF/WAVE header)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hd_error err = {0};
        tu_fixture(path, sizeof path, bad[i].file);
        assert_null(hd_wavfile_open(path, &err));
        char want[1024];
        snprintf(want, sizeof want, "%s: %s", path, bad[i].msg);
        assert_string_equal(err.msg, want);
        assert_int_equal(err.code, bad[i].code);
    }

    /* every prefix of a real header parses or fails cleanly */
    size_t size;
    uint8_t *jfk = tu_read_file(tu_fixture(path, sizeof path, "audio/jfk.wav"), &size);
    assert_non_null(jfk);
    for (size_t n = 0; n < 200; n++) {
        hd_error err = {0};
        hd_status st = hd_wavfile_parse_header(jfk, n, n, "p.wav", &info, &err);
        /* jfk.wav: fmt, a 26-byte LIST chunk, then the data chunk header ends at byte 78 */
        if (n >= 78) assert_int_equal(st, HD_OK);
        else assert_int_not_equal(st, HD_OK);
    }
    /* random byte flips in the header never crash */
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    for (int k = 0; k < 20000; k++) {
        uint8_t h[128];
        memcpy(h, jfk, sizeof h);
        for (int f = 0; f < 3; f++) h[tu_rng_u64(&rng) % 48] ^= (uint8_t)(1u << (tu_rng_u64(&rng) % 8));
        hd_error err = {0};
        hd_wavfile_parse_header(h, sizeof h, size, "f.wav", &info, &err);
    }
    free(jfk);
}

static void test_wav_sink(void **state) {
    char in[512], out[512], desc[2048];
    hd_wavfile_info ia, ib;
    float *x = read_wav(tu_fixture(in, sizeof in, "audio/jfk.wav"), &ia);
    /* float output is exact; 16-bit within one step of media/wav.h's x*32767 */
    for (int f = 0; f < 2; f++) {
        snprintf(out, sizeof out, "%s/copy%d.wav", tu_tmpdir(), f);
        snprintf(desc, sizeof desc, "file:%s chunk=777 ! wav:%s format=%s", in, out, f ? "f32" : "s16");
        run_pipeline(desc);
        float *y = read_wav(out, &ib);
        assert_int_equal(ib.n_frames, ia.n_frames);
        assert_int_equal(ib.rate, 16000);
        assert_int_equal(ib.is_float, f == 1);
        if (f) assert_memory_equal(x, y, (size_t)ia.n_frames * sizeof(float));
        else
            for (int64_t i = 0; i < ia.n_frames; i++) assert_true(fabsf(x[i] - y[i]) <= 1.01f / 32768);
        free(y);
    }
    free(x);
    /* no samples at all: still a valid (empty) file */
    snprintf(out, sizeof out, "%s/empty.wav", tu_tmpdir());
    snprintf(desc, sizeof desc, "file:%s ! wav:%s", tu_fixture(in, sizeof in, "corrupt/pocketsphinx_null_header_only.wav"),
             out);
    run_pipeline(desc);
    free(read_wav(out, &ib));
    assert_int_equal(ib.n_frames, 0);
}

/* ---- resampler ---------------------------------------------------------------------- */

static void test_resampler_tones(void **state) {
    /* 44.1 kHz -> 16 kHz */
    int64_t n = 44100, m;
    for (int k = 0; k < 3; k++) {
        double f = k == 0 ? 1000 : k == 1 ? 5000 : 6000;
        float *x = tone(n, f, 44100, 0.5);
        float *y = resample_all(x, n, 44100, 16000, 1, &m);
        assert_int_equal(m, 16000);   /* duration preserved */
        /* sample-exact alignment: compare with the ideal tone away from the edges */
        double maxerr = 0;
        for (int64_t i = 1000; i < m - 1000; i++) {
            double e = fabs(y[i] - 0.5 * sin(2 * M_PI * f * (double)i / 16000));
            if (e > maxerr) maxerr = e;
        }
        print_message("44.1k->16k %5.0f Hz: max error %.2e\n", f, maxerr);
        assert_true(maxerr < (f < 5500 ? 2e-4 : 2e-3));
        free(x);
        free(y);
    }
    /* above the new Nyquist: 12 kHz would alias to 4 kHz; must be gone */
    float *x = tone(n, 12000, 44100, 0.5);
    float *y = resample_all(x, n, 44100, 16000, 1, &m);
    double a = tone_amp(y + 1000, (size_t)(m - 2000), 4000, 16000), r = rms(y + 1000, (size_t)(m - 2000));
    print_message("12 kHz -> alias at 4 kHz: %.1f dB, rms %.1f dB\n", 20 * log10(a / 0.5 + 1e-30),
                  20 * log10(r / (0.5 / sqrt(2)) + 1e-30));
    assert_true(a < 0.5 * 1e-4);   /* < -80 dB */
    free(x);
    free(y);

    /* 16 kHz -> 44.1 kHz: the tone stays, the image at 15 kHz does not appear */
    x = tone(16000, 1000, 16000, 0.5);
    y = resample_all(x, 16000, 16000, 44100, 1, &m);
    assert_int_equal(m, 44100);
    double maxerr = 0;
    for (int64_t i = 3000; i < m - 3000; i++) {
        double e = fabs(y[i] - 0.5 * sin(2 * M_PI * 1000 * (double)i / 44100));
        if (e > maxerr) maxerr = e;
    }
    assert_true(maxerr < 2e-4);
    double img = tone_amp(y + 3000, (size_t)(m - 6000), 15000, 44100);
    print_message("16k->44.1k: max error %.2e, image at 15 kHz %.1f dB\n", maxerr, 20 * log10(img / 0.5 + 1e-30));
    assert_true(img < 0.5 * 1e-4);
    free(x);
    free(y);
}

static void test_resampler_streaming(void **state) {
    /* any chunking gives bit-identical output, for stereo and awkward ratios */
    int rates[][2] = {{44100, 16000}, {16000, 44100}, {48000, 16000}, {22050, 16000}, {8000, 8001}, {1092676, 16000}};
    tu_rng rng;
    tu_rng_seed(&rng, 42);
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        int in = rates[k][0], out = rates[k][1], ch = 2;
        int64_t n = in / 10 + 17;
        float *x = malloc((size_t)n * ch * sizeof *x);
        tu_fill_normal(&rng, x, (size_t)n * ch, 0.3f);
        int64_t m;
        float *ref = resample_all(x, n, in, out, ch, &m);
        int64_t want = (int64_t)(((__int128)n * out + in - 1) / in);
        assert_int_equal(m, want);
        hd_error err = {0};
        hd_resampler *r = hd_resampler_create(in, out, ch, NULL, &err);
        float *y = malloc((size_t)(m + 64) * ch * sizeof *y);
        int64_t done = 0, got = 0;
        while (done < n) {
            int64_t c = 1 + (int64_t)(tu_rng_u64(&rng) % 700);
            if (c > n - done) c = n - done;
            assert_true(got + hd_resampler_max_out(r, c) <= m + 64);
            int64_t g = hd_resampler_process(r, x + done * ch, c, y + got * ch, &err);
            assert_true(g >= 0);
            got += g;
            done += c;
        }
        got += hd_resampler_flush(r, y + got * ch);
        assert_int_equal(got, m);
        assert_memory_equal(y, ref, (size_t)m * ch * sizeof *y);
        print_message("%d -> %d Hz: %d taps, %lld -> %lld frames\n", in, out, hd_resampler_taps(r), (long long)n,
                      (long long)m);
        hd_resampler_free(r);
        free(x);
        free(y);
        free(ref);
    }
    hd_error err = {0};
    assert_null(hd_resampler_create(0, 16000, 1, NULL, &err));
    assert_null(hd_resampler_create(16000, 16000, 0, NULL, &err));
}

/* ---- pipelines ------------------------------------------------------------------------ */

static void test_wav_resample_wav(void **state) {
    char in[512], mid[512], out[512], desc[2048];
    tu_fixture(in, sizeof in, "audio/jfk.wav");
    snprintf(mid, sizeof mid, "%s/jfk44.wav", tu_tmpdir());
    snprintf(out, sizeof out, "%s/jfk16.wav", tu_tmpdir());
    snprintf(desc, sizeof desc, "file:%s ! resample rate=44100 ! wav:%s format=f32", in, mid);
    run_pipeline(desc);
    snprintf(desc, sizeof desc, "file:%s chunk=1000 ! resample rate=16000 ! wav:%s format=f32", mid, out);
    run_pipeline(desc);
    hd_wavfile_info ia, ib, ic;
    float *x = read_wav(in, &ia), *y = read_wav(mid, &ib), *z = read_wav(out, &ic);
    /* durations: 176000 frames = 11 s at 16 kHz, 485100 at 44.1 kHz, back to 176000 */
    assert_int_equal(ia.n_frames, 176000);
    assert_int_equal(ib.rate, 44100);
    assert_int_equal(ib.n_frames, 485100);
    assert_int_equal(ic.n_frames, 176000);
    /* energy: speech is below 8 kHz, so the upsampled signal has the same rms */
    double ra = rms(x, 176000), rb = rms(y, 485100), rc = rms(z, 176000);
    print_message("rms in %.5f, 44.1k %.5f, back %.5f\n", ra, rb, rc);
    assert_true(fabs(rb / ra - 1) < 0.005);
    /* the round trip loses only what lies above 0.94 x 8 kHz: compare spectra
     * band by band (Hann-windowed DFT magnitudes over 1/8 s frames) */
    double num = 0, den = 0;
    for (int64_t i = 0; i < 176000; i++) {
        double d = (double)z[i] - x[i];
        num += (double)x[i] * x[i];
        den += d * d;
    }
    double snr = 10 * log10(num / den);
    print_message("16k -> 44.1k -> 16k SNR %.1f dB\n", snr);
    assert_true(snr > 40);
    const double bands[] = {100, 300, 1000, 2000, 3000, 5000, 6000};
    for (size_t b = 0; b < sizeof bands / sizeof bands[0]; b++) {
        double ex = 0, ez = 0;
        for (int64_t f0 = 0; f0 + 2000 <= 176000; f0 += 2000) {
            double ax = tone_amp(x + f0, 2000, bands[b], 16000), az = tone_amp(z + f0, 2000, bands[b], 16000);
            ex += ax * ax;
            ez += az * az;
        }
        double db = 10 * log10(ez / ex);
        if (fabs(db) > 0.05) fail_msg("band %.0f Hz changed by %.3f dB", bands[b], db);
    }
    /* 7 kHz lies in the filter's transition band (cutoff 0.94 x 8 kHz) and has
     * been through it twice: attenuated, but not removed */
    double e7x = 0, e7z = 0;
    for (int64_t f0 = 0; f0 + 2000 <= 176000; f0 += 2000) {
        double ax = tone_amp(x + f0, 2000, 7000, 16000), az = tone_amp(z + f0, 2000, 7000, 16000);
        e7x += ax * ax;
        e7z += az * az;
    }
    double db7 = 10 * log10(e7z / e7x);
    print_message("7 kHz band after the round trip: %.2f dB\n", db7);
    assert_true(db7 < -0.5 && db7 > -4);
    free(x);
    free(y);
    free(z);

    /* stereo fixture mixed down to mono 16 kHz in the same node */
    snprintf(out, sizeof out, "%s/id3mono.wav", tu_tmpdir());
    snprintf(desc, sizeof desc, "file:%s ! resample rate=16000 channels=1 ! wav:%s", 
             tu_fixture(in, sizeof in, "audio/oversized_id3_chunk.wav"), out);
    run_pipeline(desc);
    z = read_wav(out, &ic);
    assert_int_equal(ic.channels, 1);
    assert_int_equal(ic.n_frames, 1600);
    free(z);
}

static void test_sources(void **state) {
    char out[512], raw[512], desc[2048];
    hd_wavfile_info info;
    /* sine: exact tone with the requested duration */
    snprintf(out, sizeof out, "%s/sine.wav", tu_tmpdir());
    snprintf(desc, sizeof desc, "sine freq=1000 amplitude=0.25 duration=0.5 chunk=333 ! wav:%s format=f32", out);
    run_pipeline(desc);
    float *y = read_wav(out, &info);
    assert_int_equal(info.n_frames, 8000);
    for (int i = 0; i < 8000; i++) assert_true(fabs(y[i] - 0.25 * sin(2 * M_PI * 1000 * i / 16000.0)) < 1e-6);
    free(y);

    /* raw s16le stereo from a file, with a trailing half frame that is dropped */
    int16_t pcm[2 * 1000 + 1];
    for (int i = 0; i < 2001; i++) pcm[i] = (int16_t)(i * 31 - 30000);
    snprintf(raw, sizeof raw, "%s/in.s16", tu_tmpdir());
    tu_write_file(raw, pcm, sizeof pcm);
    snprintf(desc, sizeof desc, "raw:%s rate=8000 channels=2 chunk=77 ! wav:%s format=f32", raw, out);
    run_pipeline(desc);
    y = read_wav(out, &info);
    assert_int_equal(info.n_frames, 1000);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.rate, 8000);
    for (int i = 0; i < 2000; i++) assert_true(y[i] == pcm[i] / 32768.0f);
    free(y);
    /* raw f32le */
    float fl[300];
    for (int i = 0; i < 300; i++) fl[i] = (float)i / 300 - 0.5f;
    tu_write_file(raw, fl, sizeof fl);
    snprintf(desc, sizeof desc, "raw path=%s format=f32le rate=24000 ! wav:%s format=f32", raw, out);
    run_pipeline(desc);
    y = read_wav(out, &info);
    assert_int_equal(info.n_frames, 300);
    assert_memory_equal(y, fl, sizeof fl);
    free(y);
}

static void test_mix(void **state) {
    char out[512], desc[2048];
    hd_wavfile_info info;
    snprintf(out, sizeof out, "%s/mix.wav", tu_tmpdir());
    /* two tones of different lengths: the short one ends, the mix goes on;
     * max-lag 0.2 s proves the output does not wait for the long input's end */
    snprintf(desc, sizeof desc,
             "sine freq=440 duration=1 chunk=500 ! m.in2  sine freq=660 duration=0.1 chunk=300 ! m. "
             " mix name=m gain=0.5 max-lag=0.2 ! wav:%s format=f32", out);
    run_pipeline(desc);
    float *y = read_wav(out, &info);
    assert_int_equal(info.n_frames, 16000);
    double maxerr = 0;
    for (int i = 0; i < 16000; i++) {
        double a = 0.5 * sin(2 * M_PI * 440 * i / 16000.0), b = i < 1600 ? 0.5 * sin(2 * M_PI * 660 * i / 16000.0) : 0;
        double e = fabs(y[i] - 0.5 * (a + b));
        if (e > maxerr) maxerr = e;
    }
    assert_true(maxerr < 1e-6);
    free(y);

    /* formats must agree; the error names the node and the port */
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    hd_registry_add_builtins(reg, &err);
    hd_graph *g = hd_graph_create(NULL, &err);
    int off;
    assert_int_equal(hd_pipeline_build("sine rate=8000 ! m.  sine ! m.  mix name=m ! null", reg, g, &off, &err), HD_OK);
    assert_int_equal(hd_graph_run(g, &err), HD_ERR_UNSUPPORTED);
    assert_true(strncmp(err.msg, "node 'm': input 'in", 19) == 0);
    assert_non_null(strstr(err.msg, "(resample first)"));
    hd_graph_free(g);
    hd_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_formats),         cmocka_unit_test(test_wav_fixtures),
        cmocka_unit_test(test_wav_sink),          cmocka_unit_test(test_resampler_tones),
        cmocka_unit_test(test_resampler_streaming), cmocka_unit_test(test_wav_resample_wav),
        cmocka_unit_test(test_sources),             cmocka_unit_test(test_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
