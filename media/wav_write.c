/* media/wav_write.c — RIFF/WAVE writer (PCM16 or float32), little endian. */
#include "media/wav.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_SAMPLES 4096
#define FACT_OFFSET 46 /* float files: frame count inside the fact chunk */

struct hd_wav_writer {
    int fd;
    bool own_fd;
    char *name;
    int rate, channels;
    hd_wav_format format;
    size_t header_size;   /* 44 (PCM16) or 58 (float) */
    uint64_t data_bytes;
    bool failed;
    uint8_t buf[CHUNK_SAMPLES * 4];
};

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static hd_status write_all(hd_wav_writer *w, const uint8_t *p, size_t n, hd_error *err) {
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            w->failed = true;
            return hd_error_set(err, HD_ERR_IO, "%s: write failed (%s)", w->name, k < 0 ? strerror(errno) : "no progress");
        }
        p += k;
        n -= (size_t)k;
    }
    return HD_OK;
}

/* Header with the given sizes (0xFFFFFFFF = unknown). */
static size_t make_header(const hd_wav_writer *w, uint8_t *h, uint32_t riff_size, uint32_t data_size,
                          uint32_t frames, int rate) {
    const bool flt = w->format == HD_WAV_FLOAT32;
    const unsigned bytes = flt ? 4 : 2;
    size_t o = 0;
    memcpy(h, "RIFF", 4), put32(h + 4, riff_size), memcpy(h + 8, "WAVE", 4), o = 12;
    memcpy(h + o, "fmt ", 4), put32(h + o + 4, flt ? 18 : 16), o += 8;
    put16(h + o, flt ? 3 : 1);                                   /* WAVE_FORMAT_IEEE_FLOAT / PCM */
    put16(h + o + 2, (unsigned)w->channels);
    put32(h + o + 4, (uint32_t)rate);
    put32(h + o + 8, (uint32_t)rate * (uint32_t)w->channels * bytes); /* byte rate   */
    put16(h + o + 12, (unsigned)w->channels * bytes);                  /* block align */
    put16(h + o + 14, bytes * 8);
    o += 16;
    if (flt) {
        put16(h + o, 0), o += 2;                                    /* cbSize */
        memcpy(h + o, "fact", 4), put32(h + o + 4, 4), put32(h + o + 8, frames), o += 12;
    }
    memcpy(h + o, "data", 4), put32(h + o + 4, data_size), o += 8;
    return o;
}

hd_wav_writer *hd_wav_writer_open_fd(int fd, const char *name, int rate, int channels, hd_wav_format format,
                                     hd_error *err) {
    if (!name) name = "<wav>";
    if (fd < 0 || rate <= 0 || channels <= 0 || channels > 65535 || (format != HD_WAV_PCM16 && format != HD_WAV_FLOAT32) ||
        (uint64_t)rate * (uint64_t)channels * 4 > UINT32_MAX) {
        hd_error_set(err, HD_ERR_ARG, "%s: invalid WAV setup (rate %d, channels %d)", name, rate, channels);
        return NULL;
    }
    hd_wav_writer *w = calloc(1, sizeof *w);
    if (w) w->name = strdup(name);
    if (!w || !w->name) {
        free(w);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    w->fd = fd;
    w->rate = rate;
    w->channels = channels;
    w->format = format;
    uint8_t h[64];
    w->header_size = make_header(w, h, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, rate);
    if (write_all(w, h, w->header_size, err) != HD_OK) {
        free(w->name);
        free(w);
        return NULL;
    }
    return w;
}

hd_wav_writer *hd_wav_writer_open(const char *path, int rate, int channels, hd_wav_format format, hd_error *err) {
    if (!path) {
        hd_error_set(err, HD_ERR_ARG, "wav: no path given");
        return NULL;
    }
    if (strcmp(path, "-") == 0) return hd_wav_writer_open_fd(STDOUT_FILENO, "<stdout>", rate, channels, format, err);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    hd_wav_writer *w = hd_wav_writer_open_fd(fd, path, rate, channels, format, err);
    if (!w) {
        close(fd);
        unlink(path);
        return NULL;
    }
    w->own_fd = true;
    return w;
}

hd_status hd_wav_writer_write(hd_wav_writer *w, const float *x, size_t frames, hd_error *err) {
    if (!w || (!x && frames)) return hd_error_set(err, HD_ERR_ARG, "wav: no writer or samples");
    if (w->failed) return hd_error_set(err, HD_ERR_IO, "%s: writer failed earlier", w->name);
    const size_t bytes = w->format == HD_WAV_FLOAT32 ? 4 : 2;
    if (frames > (SIZE_MAX / bytes) / (size_t)w->channels)
        return hd_error_set(err, HD_ERR_ARG, "%s: too many frames in one write", w->name);
    size_t n = frames * (size_t)w->channels;
    if (w->data_bytes + (uint64_t)n * bytes > UINT32_MAX - w->header_size)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: WAV data would exceed the 4 GiB RIFF limit", w->name);
    while (n > 0) {
        size_t k = n < CHUNK_SAMPLES ? n : CHUNK_SAMPLES;
        for (size_t i = 0; i < k; i++) {
            float v = x[i];
            if (w->format == HD_WAV_FLOAT32) {
                uint32_t u;
                memcpy(&u, &v, 4);
                put32(w->buf + 4 * i, u);
            } else {
                hd_pcm_to_s16le(&v, 1, w->buf + 2 * i);
            }
        }
        if (write_all(w, w->buf, k * bytes, err) != HD_OK) return HD_ERR_IO;
        w->data_bytes += k * bytes;
        x += k;
        n -= k;
    }
    return HD_OK;
}

static hd_status patch_sizes(hd_wav_writer *w, hd_error *err) {
    if (lseek(w->fd, 0, SEEK_END) < 0) return HD_OK; /* a pipe: sizes stay "unknown" */
    uint8_t h[64];
    const size_t bytes = w->format == HD_WAV_FLOAT32 ? 4 : 2;
    uint32_t frames = (uint32_t)(w->data_bytes / bytes / (size_t)w->channels);
    size_t n = make_header(w, h, (uint32_t)(w->header_size - 8 + w->data_bytes), (uint32_t)w->data_bytes, frames, w->rate);
    if (pwrite(w->fd, h, n, 0) != (ssize_t)n)
        return hd_error_set(err, HD_ERR_IO, "%s: cannot finish header (%s)", w->name, strerror(errno));
    return HD_OK;
}

hd_status hd_wav_writer_close(hd_wav_writer *w, hd_error *err) {
    if (!w) return HD_OK;
    hd_status st = w->failed ? hd_error_set(err, HD_ERR_IO, "%s: incomplete after a write error", w->name)
                             : patch_sizes(w, err);
    if (w->own_fd && close(w->fd) != 0 && st == HD_OK)
        st = hd_error_set(err, HD_ERR_IO, "%s: close failed (%s)", w->name, strerror(errno));
    free(w->name);
    free(w);
    return st;
}

hd_status hd_wav_write(const char *path, const float *samples, size_t frames, int rate, int channels,
                       hd_wav_format format, hd_error *err) {
    hd_wav_writer *w = hd_wav_writer_open(path, rate, channels, format, err);
    if (!w) return err ? err->code : HD_ERR_IO;
    hd_status st = hd_wav_writer_write(w, samples, frames, err);
    hd_error cerr = {0};
    hd_status cst = hd_wav_writer_close(w, &cerr);
    if (st == HD_OK && cst != HD_OK) {
        if (err) *err = cerr;
        st = cst;
    }
    return st;
}

void hd_pcm_to_s16le(const float *x, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!(v > -1.0f)) v = -1.0f; /* also maps NaN to -1 */
        if (v > 1.0f) v = 1.0f;
        const uint16_t u = (uint16_t)(int16_t)lrintf(v * 32767.0f);
        out[2 * i] = (uint8_t)(u & 0xff);
        out[2 * i + 1] = (uint8_t)(u >> 8);
    }
}
