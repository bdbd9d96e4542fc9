/* tests/fuzz/fuzz_image.c — libFuzzer harness for media/image (libpng,
 * libjpeg-turbo with the EXIF reader, FFmpeg for other formats).
 *
 * Any input must give either an image whose every pixel can be read, of at
 * most max_pixels pixels, or a clean one-line error naming the input.  The
 * first byte picks the options (partial JPEGs, orientation, background) so
 * that every branch is reachable.  The pixel limit is kept small so that a
 * hostile header cannot make a run slow or large. */
#include "media/image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.img"

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hd_image_params p = hd_image_default_params();
    p.max_pixels = (uint64_t)1 << 22;
    uint8_t opt = size > 0 ? data[size - 1] : 0; /* the last byte: formats keep their magic at the front */
    p.allow_partial = opt & 1;
    p.apply_orientation = !(opt & 2);
    p.background[0] = opt;
    hd_error err = {0};
    hd_image *img = hd_image_decode(data, size, NAME, &p, &err);
    if (!img) {
        check(err.code != HD_OK);
        check(strncmp(err.msg, NAME ": ", sizeof NAME + 1) == 0);
        check(strchr(err.msg, '\n') == NULL);
    } else {
        check(img->w > 0 && img->h > 0);
        check((uint64_t)img->w * (uint64_t)img->h <= p.max_pixels);
        check(img->partial == false || p.allow_partial);
        volatile unsigned acc = 0;
        size_t n = (size_t)img->w * (size_t)img->h * 3;
        for (size_t i = 0; i < n; i += 61) acc += img->data[i];
        acc += img->data[n - 1];
        (void)acc;
    }
    hd_image_free(img);
    /* the EXIF readers on the raw bytes, both entry points */
    int o = hd_exif_orientation_jpeg(data, size);
    check(o >= 1 && o <= 8);
    o = hd_exif_orientation_tiff(data, size);
    check(o >= 1 && o <= 8);
    return 0;
}
