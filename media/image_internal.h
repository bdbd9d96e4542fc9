/* media/image_internal.h — internal to media/: the per-format image decoders
 * behind hd_image_decode (media/image.c).  Each takes the whole file in
 * memory, applies every conversion listed in media/image.h except EXIF
 * orientation, and returns a new image or NULL with err set ("NAME: ...").
 * `orientation` receives the EXIF orientation found in the file (1 if none). */
#ifndef HD_MEDIA_IMAGE_INTERNAL_H
#define HD_MEDIA_IMAGE_INTERNAL_H

#include "media/image.h"

hd_image *hd_image_decode_png(const uint8_t *data, size_t size, const char *name, const hd_image_params *p,
                              int *orientation, hd_error *err);
/* Fails with HD_ERR_UNSUPPORTED for JPEGs libjpeg-turbo cannot decode but
 * FFmpeg may (12-bit precision); the caller then tries FFmpeg. */
hd_image *hd_image_decode_jpeg(const uint8_t *data, size_t size, const char *name, const hd_image_params *p,
                               int *orientation, hd_error *err);
hd_image *hd_image_decode_ffmpeg(const uint8_t *data, size_t size, const char *name, const hd_image_params *p,
                                 hd_error *err);

/* The frame size in a JPEG's first SOF marker (before the first scan);
 * false if there is none.  Bounds-checked like the EXIF reader. */
bool hd_jpeg_size(const uint8_t *jpeg, size_t size, unsigned *w, unsigned *h);
/* Checks w*h against p->max_pixels and that 4*w*h fits in size_t; sets err. */
hd_status hd_image_check_size(uint64_t w, uint64_t h, const char *name, const hd_image_params *p, hd_error *err);
/* Converts n RGBA pixels at buf to RGB in place (buf then holds 3n bytes),
 * compositing onto bg: out = (a*c + (255-a)*bg + 127) / 255. */
void hd_image_rgba_to_rgb(uint8_t *buf, size_t n, const uint8_t bg[3]);
/* Wraps a malloc'ed RGB buffer (taken over) into an image; frees it on error. */
hd_image *hd_image_wrap(uint8_t *rgb, int w, int h, const char *name, hd_error *err);

#endif
