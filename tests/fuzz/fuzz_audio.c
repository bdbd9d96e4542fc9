/* tests/fuzz/fuzz_audio.c — libFuzzer harness for media/audio over an
 * in-memory AVIOContext (FFmpeg probing, demuxing, decoding, libswresample).
 *
 * Any input must give either a clean one-line error naming the input (at open
 * or while reading), or a stream of finite samples.  Reading stops after 60 s
 * of output so that a valid long stream cannot make a run slow.  The last
 * byte picks the output rate. */
#include "media/audio.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.audio"
#define MAX_SECONDS 60

static void check(int cond) {
    if (!cond) abort();
}

static void check_err(const hd_error *err) {
    check(err->code != HD_OK);
    check(strncmp(err->msg, NAME ": ", sizeof NAME + 1) == 0);
    check(strchr(err->msg, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int rates[4] = {16000, 8000, 22050, 48000};
    hd_audio_params p = hd_audio_default_params();
    p.rate = rates[size > 0 ? data[size - 1] & 3 : 0];
    hd_error err = {0};
    hd_audio_reader *r = hd_audio_open_memory(data, size, NAME, &p, &err);
    if (!r) {
        check_err(&err);
        return 0;
    }
    const hd_audio_info *info = hd_audio_reader_info(r);
    check(info->in_rate > 0 && info->in_channels > 0 && info->rate == p.rate);
    float buf[4096];
    size_t total = 0, n = 0;
    hd_status st;
    while ((st = hd_audio_read(r, buf, 4096, &n, &err)) == HD_OK && n > 0) {
        check(n <= 4096);
        for (size_t i = 0; i < n; i++) check(isfinite(buf[i]));
        total += n;
        if (total > (size_t)MAX_SECONDS * (size_t)p.rate) break;
    }
    if (st != HD_OK) check_err(&err);
    check(info->n_samples == (int64_t)total);
    const char *w = hd_audio_warning(r);
    check(w[0] == '\0' || strncmp(w, NAME ": ", sizeof NAME + 1) == 0);
    hd_audio_close(r);
    return 0;
}
