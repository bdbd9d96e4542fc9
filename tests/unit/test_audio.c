/* tests/unit/test_audio.c — media/audio and media/wav: every fixture decodes
 * to the stated duration at 16 kHz mono; lossy and resampled versions line up
 * with their WAV originals sample for sample (Opus pre-skip, MP3 delay); the
 * downmix rule on a real stereo file; WAV writer round trips; raw PCM from a
 * file descriptor; callback and memory sources; a 2-hour stream in bounded
 * memory; every corrupt or non-audio file fails with one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "media/audio.h"
#include "media/wav.h"
#include "testutil.h"

/* Under AddressSanitizer, freed blocks sit in a 256 MB quarantine, which the
 * bounded-memory test would count as growth: keep it small in this binary. */
#if defined(__SANITIZE_ADDRESS__)
#define HD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HD_TEST_ASAN 1
#endif
#endif
#ifdef HD_TEST_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=4"; }
#endif

static void check_error(const hd_error *err, const char *name) {
    size_t n = strlen(name);
    if (err->code == HD_OK || strncmp(err->msg, name, n) != 0 || err->msg[n] != ':' || strchr(err->msg, '\n'))
        fail_msg("bad error for %s: code %d, '%s'", name, err->code, err->msg);
}

static float *load(const char *rel, size_t *n) {
    char path[1024];
    hd_error err = {0};
    float *s = NULL;
    if (hd_audio_load(tu_fixture(path, sizeof path, rel), NULL, 600, &s, n, &err) != HD_OK)
        fail_msg("%s: %s", rel, err.msg);
    return s;
}

/* ---- fixtures ------------------------------------------------------------------- */

static void test_fixture_durations(void **state) {
    (void)state;
    /* seconds from the fixtures README (audio content length).  The two MP3s
     * decode gaplessly: FFmpeg drops the encoder delay and padding recorded in
     * their LAME/Info header, which ffprobe's container duration (README 11.09 s
     * and 59.95 s) includes; jfk.mp3 then has exactly jfk.wav's 11.00 s. */
    static const struct { const char *rel; double seconds; int in_rate, in_ch; } cases[] = {
        {"audio/aishell_BAC009S0724W0121_zh.wav", 4.28, 16000, 1},
        {"audio/jfk.flac", 11.0, 44100, 2},
        {"audio/jfk.mp3", 11.0, 16000, 1},
        {"audio/jfk.wav", 11.0, 16000, 1},
        {"audio/librispeech_1995-1837-0001_en.wav", 8.73, 16000, 1},
        {"audio/librispeech_mr_quilter_en.wav", 5.86, 16000, 1},
        {"audio/librivox_sense_and_sensibility_0870.opus", 7.10, 48000, 1}, /* 7.11 incl. pre-skip */
        {"audio/librivox_sense_and_sensibility_0870.wav", 7.10, 16000, 1},
        {"audio/librivox_sense_and_sensibility_0880.wav", 2.99, 16000, 1},
        {"audio/mit_license_en_de.mp3", 59.90, 24000, 1},
        {"audio/oversized_id3_chunk.wav", 0.1, 44100, 2},
        {"audio/speech_de.wav", 5.26, 16000, 1},
        {"audio/speech_es.m4a", 8.66, 44100, 1},
        {"audio/speech_es.wav", 8.66, 16000, 1},
        {"audio/speech_fr.ogg", 6.67, 16000, 1},
        {"audio/speech_fr.wav", 6.67, 16000, 1},
        {"audio/speech_it.wav", 5.54, 16000, 1},
        {"audio/speech_ja.wav", 5.44, 16000, 1},
        {"audio/speech_ko.wav", 3.89, 16000, 1},
        {"audio/speech_pt.wav", 4.43, 16000, 1},
        {"audio/stereo_two_speakers.wav", 5.0, 16000, 2},
        /* audio tracks of the videos (README clip lengths) */
        {"video/big_buck_bunny_0_30.webm", 30.0, 44100, 2},
        {"video/chaplin.mp4", 9.64, 44100, 2},
        {"video/chaplin_first4s_vp9_opus.mkv", 4.0, 48000, 2},
        {"corrupt/mediabunny_malformed_join.mp3", 8.6, 44100, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[1024];
        hd_error err = {0};
        hd_audio_reader *r = hd_audio_open(tu_fixture(path, sizeof path, cases[i].rel), NULL, &err);
        if (!r) fail_msg("%s: %s", cases[i].rel, err.msg);
        const hd_audio_info *info = hd_audio_reader_info(r);
        assert_int_equal(info->in_rate, cases[i].in_rate);
        assert_int_equal(info->in_channels, cases[i].in_ch);
        assert_int_equal(info->rate, 16000);
        float buf[3000];
        size_t n, total = 0;
        double energy = 0;
        while (hd_audio_read(r, buf, 3000, &n, &err) == HD_OK && n > 0) {
            total += n;
            for (size_t k = 0; k < n; k++) energy += (double)buf[k] * buf[k];
        }
        assert_int_equal(err.code, HD_OK);
        assert_int_equal((int64_t)total, info->n_samples);
        double secs = (double)total / 16000.0;
        double tol = strstr(cases[i].rel, "malformed") ? 0.2 : 0.05;
        if (fabs(secs - cases[i].seconds) > tol)
            fail_msg("%s: %.3f s, expected %.2f s", cases[i].rel, secs, cases[i].seconds);
        if (strstr(cases[i].rel, "oversized_id3") == NULL) assert_true(energy / (double)total > 1e-6); /* not silence */
        hd_audio_close(r);
    }
}

/* Same speech in two files: equal length (to 2 ms) and best aligned at lag 0
 * with correlation above `min_corr`. */
static void check_aligned(const char *a_rel, const char *b_rel, double min_corr, double max_abs_diff) {
    size_t na, nb;
    float *a = load(a_rel, &na), *b = load(b_rel, &nb);
    if (labs((long)na - (long)nb) > 32 && strstr(b_rel, "m4a") == NULL)
        fail_msg("%s %zu vs %s %zu samples", a_rel, na, b_rel, nb);
    size_t n = (na < nb ? na : nb) - 400;
    double best = -2;
    int best_lag = 999;
    double corr0 = 0, maxd = 0;
    for (int lag = -100; lag <= 100; lag++) {
        double xy = 0, xx = 0, yy = 0;
        for (size_t i = 200; i < n; i++) {
            double x = a[i], y = b[(size_t)((long)i + lag)];
            xy += x * y, xx += x * x, yy += y * y;
        }
        double c = xy / sqrt(xx * yy + 1e-30);
        if (c > best) best = c, best_lag = lag;
        if (lag == 0) corr0 = c;
    }
    for (size_t i = 200; i < n; i++) maxd = fmax(maxd, fabs((double)a[i] - b[i]));
    if (best_lag != 0 || corr0 < min_corr || maxd > max_abs_diff)
        fail_msg("%s vs %s: best lag %d, correlation %.4f, max diff %.4f", a_rel, b_rel, best_lag, corr0, maxd);
    free(a);
    free(b);
}

static void test_codecs_line_up(void **state) {
    (void)state;
    /* 44.1 kHz 24-bit stereo FLAC -> 16 kHz mono equals the 16 kHz WAV */
    check_aligned("audio/jfk.wav", "audio/jfk.flac", 0.9999, 1e-3);
    check_aligned("audio/jfk.wav", "audio/jfk.mp3", 0.99, 0.1);
    check_aligned("audio/librivox_sense_and_sensibility_0870.wav", "audio/librivox_sense_and_sensibility_0870.opus",
                  0.98, 0.2);
    check_aligned("audio/speech_fr.wav", "audio/speech_fr.ogg", 0.99, 0.2);
    check_aligned("audio/speech_es.wav", "audio/speech_es.m4a", 0.99, 0.5);
}

/* Reads the s16 samples of a canonical WAV by walking its chunks. */
static int16_t *wav_s16(const char *rel, int *channels, size_t *frames) {
    char path[1024];
    size_t size;
    uint8_t *b = tu_read_file(tu_fixture(path, sizeof path, rel), &size);
    assert_non_null(b);
    assert_memory_equal(b, "RIFF", 4);
    size_t pos = 12;
    int16_t *out = NULL;
    while (pos + 8 <= size) {
        uint32_t len = b[pos + 4] | b[pos + 5] << 8 | b[pos + 6] << 16 | (uint32_t)b[pos + 7] << 24;
        if (memcmp(b + pos, "fmt ", 4) == 0) *channels = b[pos + 10] | b[pos + 11] << 8;
        if (memcmp(b + pos, "data", 4) == 0) {
            if (len > size - pos - 8) len = (uint32_t)(size - pos - 8);
            *frames = len / 2 / (size_t)*channels;
            out = malloc(len);
            for (size_t i = 0; i < len / 2; i++) out[i] = (int16_t)(b[pos + 8 + 2 * i] | b[pos + 9 + 2 * i] << 8);
            break;
        }
        pos += 8 + len + (len & 1);
    }
    free(b);
    assert_non_null(out);
    return out;
}

static void test_downmix_rule(void **state) {
    (void)state;
    int ch = 0;
    size_t frames, n;
    int16_t *pcm = wav_s16("audio/stereo_two_speakers.wav", &ch, &frames);
    assert_int_equal(ch, 2);
    float *mono = load("audio/stereo_two_speakers.wav", &n); /* 16 kHz in, 16 kHz out: no resampling */
    assert_int_equal(n, frames);
    double maxd = 0, lr = 0;
    for (size_t i = 0; i < n; i++) {
        double expect = ((double)pcm[2 * i] + pcm[2 * i + 1]) / 2.0 / 32768.0;
        maxd = fmax(maxd, fabs(mono[i] - expect));
        lr = fmax(lr, fabs((double)pcm[2 * i] - pcm[2 * i + 1]));
    }
    assert_true(lr > 1000);     /* the channels really differ */
    assert_true(maxd < 1e-5);   /* mono = (L + R) / 2 */
    free(pcm);
    free(mono);
}

/* ---- WAV writer and raw PCM ------------------------------------------------------ */

static void test_wav_roundtrip(void **state) {
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    enum { N = 16000 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (tu_rng_uniform(&rng) * 2 - 1) * 0.9f;
    x[10] = 1.5f, x[11] = -1.5f; /* clamped in PCM16 */
    char path[512];
    hd_error err = {0};
    for (int fmt = 0; fmt < 2; fmt++) {
        snprintf(path, sizeof path, "%s/rt%d.wav", tu_tmpdir(), fmt);
        assert_int_equal(hd_wav_write(path, x, N, 16000, 1, fmt ? HD_WAV_FLOAT32 : HD_WAV_PCM16, &err), HD_OK);
        size_t size;
        uint8_t *b = tu_read_file(path, &size);
        assert_int_equal(size, (fmt ? 58 : 44) + N * (fmt ? 4 : 2));
        uint32_t riff = b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24;
        assert_int_equal(riff, size - 8);
        free(b);
        size_t n;
        float *y = NULL;
        assert_int_equal(hd_audio_load(path, NULL, 10, &y, &n, &err), HD_OK);
        assert_int_equal(n, N);
        for (int i = 0; i < N; i++) {
            float want = fmt ? x[i] : fmaxf(-1.f, fminf(1.f, x[i]));
            float tol = fmt ? 0 : 2.0f / 32768; /* written as x*32767, read as v/32768 */
            if (fabsf(y[i] - want) > tol) fail_msg("format %d sample %d: %f vs %f", fmt, i, y[i], want);
        }
        free(y);
    }
    free(x);
    /* 44.1 kHz stereo sines -> 16 kHz mono = (L + R) / 2 of the same sines */
    enum { F = 44100 };
    float *st = malloc(2 * F * sizeof *st);
    for (int i = 0; i < F; i++) {
        double t = i / 44100.0;
        st[2 * i] = (float)(0.5 * sin(2 * M_PI * 440 * t));
        st[2 * i + 1] = (float)(0.3 * sin(2 * M_PI * 1000 * t + 1));
    }
    snprintf(path, sizeof path, "%s/stereo.wav", tu_tmpdir());
    assert_int_equal(hd_wav_write(path, st, F, 44100, 2, HD_WAV_FLOAT32, &err), HD_OK);
    free(st);
    size_t n;
    float *y;
    assert_int_equal(hd_audio_load(path, NULL, 10, &y, &n, &err), HD_OK);
    assert_true(labs((long)n - 16000) <= 1);
    double maxd = 0;
    for (size_t i = 200; i < n - 200; i++) {
        double t = i / 16000.0;
        double want = (0.5 * sin(2 * M_PI * 440 * t) + 0.3 * sin(2 * M_PI * 1000 * t + 1)) / 2;
        maxd = fmax(maxd, fabs(y[i] - want));
    }
    free(y);
    if (maxd > 2e-3) fail_msg("resampled sines off by %g", maxd);
    /* bad setups */
    assert_null(hd_wav_writer_open(path, 0, 1, HD_WAV_PCM16, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_null(hd_wav_writer_open("/nonexistent-dir/x.wav", 16000, 1, HD_WAV_PCM16, &err));
    assert_int_equal(err.code, HD_ERR_IO);
    check_error(&err, "/nonexistent-dir/x.wav");
}

static void test_wav_to_pipe(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    hd_error err = {0};
    hd_wav_writer *w = hd_wav_writer_open_fd(fds[1], "pipe", 8000, 1, HD_WAV_PCM16, &err);
    assert_non_null(w);
    float x[100] = {0.5f};
    assert_int_equal(hd_wav_writer_write(w, x, 100, &err), HD_OK);
    assert_int_equal(hd_wav_writer_close(w, &err), HD_OK);
    close(fds[1]);
    uint8_t b[256];
    ssize_t got = read(fds[0], b, sizeof b);
    close(fds[0]);
    assert_int_equal(got, 44 + 200);
    assert_memory_equal(b + 4, "\xff\xff\xff\xff", 4);  /* sizes unknown on a pipe */
    assert_memory_equal(b + 40, "\xff\xff\xff\xff", 4);
    assert_int_equal(b[44] | b[45] << 8, 16384); /* 0.5 * 32767 rounded */
}

static void test_raw_pcm_fd(void **state) {
    (void)state;
    /* the same 8 kHz stereo signal as raw s16le/f32le and as a WAV: identical output */
    enum { F = 8000 };
    float *x = malloc(2 * F * sizeof *x);
    int16_t *s16 = malloc(2 * F * sizeof *s16);
    for (int i = 0; i < 2 * F; i++) {
        s16[i] = (int16_t)((i * 7919) % 20000 - 10000);
        x[i] = s16[i] / 32768.0f;
    }
    char wav[512], raw16[512], raw32[512];
    hd_error err = {0};
    snprintf(wav, sizeof wav, "%s/raw.wav", tu_tmpdir());
    snprintf(raw16, sizeof raw16, "%s/raw.s16", tu_tmpdir());
    snprintf(raw32, sizeof raw32, "%s/raw.f32", tu_tmpdir());
    assert_int_equal(hd_wav_write(wav, x, F, 8000, 2, HD_WAV_FLOAT32, &err), HD_OK);
    assert_int_equal(tu_write_file(raw16, s16, 2 * F * sizeof *s16), 0);
    assert_int_equal(tu_write_file(raw32, x, 2 * F * sizeof *x), 0);
    size_t nw;
    float *yw;
    assert_int_equal(hd_audio_load(wav, NULL, 10, &yw, &nw, &err), HD_OK);
    assert_true(labs((long)nw - 16000) <= 1);
    for (int k = 0; k < 2; k++) {
        int fd = open(k ? raw32 : raw16, O_RDONLY);
        hd_audio_reader *r = hd_audio_open_raw_fd(fd, k ? HD_PCM_F32LE : HD_PCM_S16LE, 8000, 2, "raw", NULL, &err);
        assert_non_null(r);
        float *y = malloc((nw + 100) * sizeof *y);
        size_t n = 0, got;
        while (hd_audio_read(r, y + n, 777, &got, &err) == HD_OK && got > 0) n += got;
        assert_int_equal(err.code, HD_OK);
        assert_int_equal(n, nw);
        for (size_t i = 0; i < n; i++)
            if (fabsf(y[i] - yw[i]) > 1e-6f) fail_msg("raw %d sample %zu: %f vs %f", k, i, y[i], yw[i]);
        hd_audio_close(r);
        close(fd);
        free(y);
    }
    free(yw);
    free(x);
    free(s16);
    assert_null(hd_audio_open_raw_fd(0, HD_PCM_S16LE, 0, 1, "raw", NULL, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_null(hd_audio_open_raw_fd(0, HD_PCM_S16LE, 16000, 65, "raw", NULL, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

/* ---- sources and streaming ------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    tu_rng rng;
} mem_src;

static ssize_t mem_read(void *user, uint8_t *buf, size_t size) {
    mem_src *m = user;
    size_t n = 1 + (size_t)(tu_rng_u64(&m->rng) % 5000); /* short, irregular reads */
    if (n > size) n = size;
    if (n > m->size - m->pos) n = m->size - m->pos;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static float *drain(hd_audio_reader *r, size_t *n) {
    size_t cap = 1 << 20, got;
    float *y = malloc(cap * sizeof *y);
    hd_error err = {0};
    *n = 0;
    while (hd_audio_read(r, y + *n, cap - *n < 4096 ? cap - *n : 4096, &got, &err) == HD_OK && got > 0) *n += got;
    assert_int_equal(err.code, HD_OK);
    return y;
}

static void test_sources_agree(void **state) {
    (void)state;
    static const char *files[] = {"audio/jfk.mp3", "audio/librivox_sense_and_sensibility_0870.opus",
                                  "audio/speech_fr.ogg", "audio/jfk.flac"};
    for (int f = 0; f < 4; f++) {
        size_t n_file, size;
        float *ref = load(files[f], &n_file);
        char path[1024];
        uint8_t *bytes = tu_read_file(tu_fixture(path, sizeof path, files[f]), &size);
        hd_error err = {0};
        hd_audio_reader *r = hd_audio_open_memory(bytes, size, "mem", NULL, &err);
        assert_non_null(r);
        size_t n;
        float *y = drain(r, &n);
        assert_int_equal(n, n_file);
        assert_memory_equal(y, ref, n * sizeof *y);
        hd_audio_close(r);
        free(y);
        mem_src m = {bytes, size, 0, {0}};
        tu_rng_seed(&m.rng, (uint64_t)f);
        r = hd_audio_open_callback(mem_read, &m, "stdin", NULL, &err);
        if (!r) fail_msg("%s via callback: %s", files[f], err.msg);
        y = drain(r, &n);
        /* not seekable: FFmpeg cannot find an MP3's last frame to trim the
         * encoder padding (jfk.mp3: 832 samples at 16 kHz = 303 after the
         * decoder delay), so up to 50 ms of trailing padding remains */
        if (strstr(files[f], ".mp3")) assert_true(n >= n_file && n <= n_file + 800);
        else assert_int_equal(n, n_file);
        assert_memory_equal(y, ref, n_file * sizeof *y);
        hd_audio_close(r);
        free(y);
        free(bytes);
        free(ref);
    }
}

/* "-" reads standard input: a pipe fed by a child process (not seekable), and
 * a redirected file (seekable); both give the file's samples. */
static void test_stdin(void **state) {
    (void)state;
    size_t n_ref, size;
    float *ref = load("audio/speech_fr.ogg", &n_ref);
    char path[1024];
    uint8_t *bytes = tu_read_file(tu_fixture(path, sizeof path, "audio/speech_fr.ogg"), &size);
    int saved = dup(STDIN_FILENO);
    for (int mode = 0; mode < 2; mode++) {
        pid_t child = -1;
        int fd;
        if (mode == 0) {
            int fds[2];
            assert_int_equal(pipe(fds), 0);
            child = fork();
            assert_true(child >= 0);
            if (child == 0) {
                close(fds[0]);
                size_t off = 0;
                while (off < size) {
                    ssize_t k = write(fds[1], bytes + off, size - off);
                    if (k <= 0) _exit(1);
                    off += (size_t)k;
                }
                _exit(0);
            }
            close(fds[1]);
            fd = fds[0];
        } else {
            fd = open(path, O_RDONLY);
        }
        assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
        close(fd);
        hd_error err = {0};
        hd_audio_reader *r = hd_audio_open("-", NULL, &err);
        if (!r) fail_msg("stdin mode %d: %s", mode, err.msg);
        size_t n;
        float *y = drain(r, &n);
        assert_int_equal(n, n_ref);
        assert_memory_equal(y, ref, n * sizeof *y);
        hd_audio_close(r);
        free(y);
        if (child > 0) waitpid(child, NULL, 0);
    }
    dup2(saved, STDIN_FILENO);
    close(saved);
    free(bytes);
    free(ref);
}

typedef struct {
    size_t calls, samples, max_chunk;
    double last_t0;
    bool bad_time;
    size_t stop_after;
} chunk_log;

static int on_chunk(void *user, const float *s, size_t n, double t0) {
    chunk_log *c = user;
    (void)s;
    if (fabs(t0 - c->samples / 16000.0) > 1e-9) c->bad_time = true;
    c->calls++;
    c->samples += n;
    if (n > c->max_chunk) c->max_chunk = n;
    return c->stop_after && c->calls >= c->stop_after;
}

static void test_stream_callback(void **state) {
    (void)state;
    char path[1024];
    hd_error err = {0};
    tu_fixture(path, sizeof path, "audio/jfk.wav");
    hd_audio_reader *r = hd_audio_open(path, NULL, &err);
    chunk_log c = {0};
    assert_int_equal(hd_audio_stream(r, 4000, on_chunk, &c, &err), HD_OK);
    assert_int_equal(c.samples, 176000);
    assert_int_equal(c.calls, 44);
    assert_int_equal(c.max_chunk, 4000);
    assert_false(c.bad_time);
    hd_audio_close(r);
    r = hd_audio_open(path, NULL, &err);
    chunk_log stop = {.stop_after = 3};
    assert_int_equal(hd_audio_stream(r, 1000, on_chunk, &stop, &err), HD_ERR_CANCELLED);
    assert_int_equal(stop.calls, 3);
    hd_audio_close(r);
}

/* A 2-hour 44.1 kHz stereo s16 WAV made on the fly (1.27 GB never stored). */
typedef struct {
    uint64_t pos, total;
    uint8_t header[44];
    int16_t period[441 * 2]; /* 100 Hz on the left, 300 Hz on the right */
} long_wav;

static ssize_t long_read(void *user, uint8_t *buf, size_t size) {
    long_wav *w = user;
    size_t n = 0;
    while (n < size && w->pos < w->total) {
        if (w->pos < 44) {
            buf[n++] = w->header[w->pos++];
            continue;
        }
        uint64_t off = (w->pos - 44) % sizeof w->period;
        size_t k = sizeof w->period - off;
        if (k > size - n) k = size - n;
        if (k > w->total - w->pos) k = (size_t)(w->total - w->pos);
        memcpy(buf + n, (const uint8_t *)w->period + off, k);
        n += k;
        w->pos += k;
    }
    return (ssize_t)n;
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Current resident set (ru_maxrss only ever grows, so earlier tests could
 * hide growth here). */
static long rss_now_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_two_hours_bounded_memory(void **state) {
    (void)state;
    static long_wav w;
    const uint64_t frames = 2ull * 3600 * 44100, data = frames * 4;
    w.total = 44 + data;
    uint8_t *h = w.header;
    memcpy(h, "RIFF", 4), memcpy(h + 8, "WAVEfmt ", 8), memcpy(h + 36, "data", 4);
    uint32_t v[] = {(uint32_t)(36 + data), 16, 0x00020001u, 44100, 44100 * 4, 0x00100004u, (uint32_t)data};
    int off[] = {4, 16, 20, 24, 28, 32, 40};
    for (int i = 0; i < 7; i++)
        for (int b = 0; b < 4; b++) h[off[i] + b] = (uint8_t)(v[i] >> (8 * b));
    for (int i = 0; i < 441; i++) {
        w.period[2 * i] = (int16_t)lrint(8000 * sin(2 * M_PI * i / 441.0));
        w.period[2 * i + 1] = (int16_t)lrint(8000 * sin(2 * M_PI * 3 * i / 441.0));
    }
    long rss0 = max_rss_kb(), now0 = rss_now_kb(), now_max = now0;
    hd_error err = {0};
    hd_audio_reader *r = hd_audio_open_callback(long_read, &w, "long.wav", NULL, &err);
    if (!r) fail_msg("%s", err.msg);
    static float buf[16000];
    uint64_t total = 0;
    double peak = 0;
    size_t n;
    unsigned iter = 0;
    while (hd_audio_read(r, buf, 16000, &n, &err) == HD_OK && n > 0) {
        total += n;
        if (++iter % 64 == 0) {
            long now = rss_now_kb();
            if (now > now_max) now_max = now;
        }
        for (size_t i = 0; i < n; i += 97) peak = fmax(peak, fabs(buf[i]));
    }
    assert_int_equal(err.code, HD_OK);
    hd_audio_close(r);
    long grown = max_rss_kb() - rss0, grown_now = now_max - now0;
    print_message("2 h stream: %llu samples, peak %.3f, peak RSS grew by %ld KiB, resident set by at most %ld KiB\n",
                  (unsigned long long)total, peak, grown, grown_now);
    assert_true(llabs((long long)total - 2LL * 3600 * 16000) <= 2);
    /* (sin a + sin 3a) / 2 * 8000/32768 peaks at 0.188 */
    assert_true(peak > 0.17 && peak < 0.19);
    assert_true(now0 > 0);
    assert_true(grown < 32 * 1024);     /* the 1.27 GB input and 460 MB output never sit in memory */
    assert_true(grown_now < 32 * 1024);
}

/* ---- damaged and non-audio input ------------------------------------------------------------ */

static void test_corrupt(void **state) {
    (void)state;
    static const char *fail_open[] = {
        "corrupt/empty.wav", "corrupt/empty.bin", "corrupt/empty.mp4", "corrupt/pocketsphinx_bad.wav",
        "corrupt/pocketsphinx_evil.wav", "corrupt/random_bytes.wav", "corrupt/truncated_no_moov_chaplin.mp4",
        "images/bus.jpg", "images/coco_000000039769_two_cats.png", "corrupt/pillow_broken.png",
        "tokenizer/llama3_tokenizer.model", "audio/no_such_file.wav",
    };
    for (size_t i = 0; i < sizeof fail_open / sizeof *fail_open; i++) {
        char path[1024];
        hd_error err = {0};
        hd_audio_reader *r = hd_audio_open(tu_fixture(path, sizeof path, fail_open[i]), NULL, &err);
        if (r) fail_msg("%s opened as audio (%s)", fail_open[i], hd_audio_reader_info(r)->container);
        check_error(&err, path);
    }
    size_t n;
    float *s;
    /* valid header, zero samples: an empty stream */
    s = load("corrupt/pocketsphinx_null_header_only.wav", &n);
    assert_int_equal(n, 0);
    free(s);
    /* 1 092 676 Hz: resampled (0.4 ms of silence is shorter than the resampler's filter) */
    s = load("corrupt/pocketsphinx_awful.wav", &n);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) assert_true(fabsf(s[i]) < 1e-6f);
    free(s);
    /* badly joined MP3: decodes, with the damage reported */
    char path[1024];
    hd_error err = {0};
    hd_audio_reader *r = hd_audio_open(tu_fixture(path, sizeof path, "corrupt/mediabunny_malformed_join.mp3"), NULL, &err);
    assert_non_null(r);
    free(drain(r, &n));
    assert_true(hd_audio_reader_info(r)->n_decode_errors > 0);
    assert_true(strncmp(hd_audio_warning(r), path, strlen(path)) == 0);
    hd_audio_close(r);
    /* MP4 cut inside mdat: the audio before the cut */
    s = load("corrupt/truncated_mid_mdat_dog_and_stove.mp4", &n);
    assert_true(n > 8000 && n < 2.3 * 16000);
    free(s);
    /* bad parameters */
    hd_audio_params p = hd_audio_default_params();
    p.rate = 1000;
    assert_null(hd_audio_open(tu_fixture(path, sizeof path, "audio/jfk.wav"), &p, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    p = hd_audio_default_params();
    p.stream_index = 0; /* chaplin.mp4 stream 0 is the video */
    assert_null(hd_audio_open(tu_fixture(path, sizeof path, "video/chaplin.mp4"), &p, &err));
    check_error(&err, path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_hours_bounded_memory), /* first: a low peak-RSS baseline */
        cmocka_unit_test(test_fixture_durations),
        cmocka_unit_test(test_codecs_line_up),
        cmocka_unit_test(test_downmix_rule),
        cmocka_unit_test(test_wav_roundtrip),
        cmocka_unit_test(test_wav_to_pipe),
        cmocka_unit_test(test_raw_pcm_fd),
        cmocka_unit_test(test_sources_agree),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_stream_callback),
        cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
