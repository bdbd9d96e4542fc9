/* tests/fuzz/fuzz_video.c — libFuzzer harness for media/video over an
 * in-memory AVIOContext (FFmpeg probing, demuxing, video decoding, timestamp
 * sampling, rotation, libswscale).
 *
 * Any input must give either a clean one-line error naming the input, or
 * frames whose pixels can all be read, within the pixel limit, with
 * non-decreasing timestamps.  The last byte picks the sampling mode.  Frames
 * are small (max_pixels 2^20) and limited in number so runs stay fast. */
#include "media/video.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.video"
#define MAX_FRAMES 64

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
    uint8_t opt = size > 0 ? data[size - 1] : 0;
    hd_video_params p = hd_video_default_params();
    p.max_pixels = (uint64_t)1 << 20;
    p.threads = 1;
    p.sampling = (hd_video_sampling)(opt % 3);
    p.n_frames = 1 + (opt >> 2) % 8;
    p.fps = 0.5 + (opt >> 2) % 8;
    p.measure_duration = (opt & 0x80) != 0;
    p.seek_gap = (opt & 0x40) ? 0.1 : 0;
    hd_error err = {0};
    hd_video_reader *r = hd_video_open_memory(data, size, NAME, &p, &err);
    if (!r) {
        check_err(&err);
        return 0;
    }
    const hd_video_frame *f;
    double last = -INFINITY;
    int n = 0;
    hd_status st;
    while (n < MAX_FRAMES && (st = hd_video_next(r, &f, &err)) == HD_OK && f) {
        check(f->image.w > 0 && f->image.h > 0);
        check((uint64_t)f->image.w * (uint64_t)f->image.h <= p.max_pixels);
        check(isfinite(f->pts));
        if (p.sampling == HD_VIDEO_ALL) check(f->pts >= last);
        last = f->pts;
        volatile unsigned acc = 0;
        size_t bytes = (size_t)f->image.w * (size_t)f->image.h * 3;
        for (size_t i = 0; i < bytes; i += 97) acc += f->image.data[i];
        acc += f->image.data[bytes - 1];
        (void)acc;
        check(f->sample == n);
        n++;
    }
    if (n < MAX_FRAMES && st != HD_OK) check_err(&err);
    const char *w = hd_video_warning(r);
    check(w[0] == '\0' || strncmp(w, NAME ": ", sizeof NAME + 1) == 0);
    hd_video_close(r);
    return 0;
}
