/* media/image.h — decode an image file to 8-bit RGB.
 *
 * Decoders: libpng for PNG, libjpeg-turbo for JPEG, FFmpeg's image decoders
 * for everything else (WebP, GIF (first frame), BMP, TIFF, ...) and for JPEGs
 * libjpeg-turbo cannot take (12-bit precision).  The format is chosen from
 * the file's first bytes, never from its name.
 *
 * Conversions, the same for every format:
 *   - output is 8-bit RGB, rows top to bottom, pixels left to right, no padding;
 *   - 16-bit samples are scaled to 8 bits with rounding (v * 255 / 65535);
 *   - grey becomes R = G = B; palettes are expanded; 1/2/4-bit grey is scaled
 *     to the full 0..255 range;
 *   - transparency (alpha channel, PNG tRNS) is composited onto
 *     params.background (default WHITE, as Hugging Face's convert_rgb does):
 *     out = (a*c + (255-a)*bg + 127) / 255, in 8-bit sRGB values, no
 *     linearisation;
 *   - gamma (PNG gAMA), ICC profiles and colour-space tags are NOT applied:
 *     sample values are passed through as stored (what Pillow and the model
 *     preprocessors see);
 *   - JPEG: YCbCr and grey as libjpeg-turbo converts them; CMYK and YCCK are
 *     converted with R = C*K/255 (Adobe APP14 files store inverted CMYK, which
 *     is how Photoshop writes them) or R = (255-C)(255-K)/255 without an
 *     APP14 marker; G and B likewise from M and Y;
 *   - EXIF orientation (JPEG APP1, PNG eXIf) 1..8 is applied, so w and h are
 *     the displayed size (exif_orientation6_waterfall.jpg, stored 1200x1800,
 *     decodes as 1800x1200).
 *
 * Limits: the pixel count (w*h, stored size) is checked against
 * params.max_pixels before any pixel buffer is allocated; files larger than
 * params.max_file_bytes are refused before reading.
 *
 * Damaged files: decoding fails with one line naming the input.  A JPEG whose
 * entropy data is truncated or corrupt fails too unless params.allow_partial,
 * in which case libjpeg-turbo's best effort is returned (missing rows grey) and
 * hd_image.partial is set.  A damaged PNG always fails, except for damage
 * after the last pixel row (a cut or corrupt final chunk), which is ignored.
 * CRC errors in critical PNG chunks fail; ancillary chunks with bad CRCs, and
 * text/ICC chunks always, are skipped unread (no decompression bombs).
 *
 * Thread safety: the functions keep no state; any number of threads may decode.
 */
#ifndef HD_MEDIA_IMAGE_H
#define HD_MEDIA_IMAGE_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_image {
    int w, h;        /* displayed size in pixels (after EXIF orientation)       */
    uint8_t *data;   /* [h][w][3] RGB, stride 3*w; owned by the image            */
    bool partial;    /* true if a damaged JPEG was accepted (allow_partial)     */
} hd_image;

typedef enum hd_image_format {
    HD_IMAGE_UNKNOWN = 0,
    HD_IMAGE_PNG,
    HD_IMAGE_JPEG,
    HD_IMAGE_OTHER,   /* anything else: FFmpeg probes it */
} hd_image_format;

typedef struct hd_image_params {
    uint64_t max_pixels;      /* default 1 << 28 (268M pixels, 768 MiB of RGB) */
    uint64_t max_file_bytes;  /* default 1 GiB                                   */
    uint8_t background[3];    /* alpha compositing background, default 255,255,255 */
    bool apply_orientation;   /* apply EXIF orientation, default true            */
    bool allow_partial;       /* accept truncated/corrupt JPEG data, default false */
} hd_image_params;

hd_image_params hd_image_default_params(void);

/* Decodes the file at `path`.  Caller frees the result with hd_image_free.
 * NULL on error: err says "PATH: problem" on one line.  params may be NULL. */
hd_image *hd_image_load(const char *path, const hd_image_params *params, hd_error *err);

/* Decodes an image held in memory; `name` is used in error messages.  The
 * buffer is only read during the call. */
hd_image *hd_image_decode(const void *data, size_t size, const char *name, const hd_image_params *params,
                          hd_error *err);

/* A w x h image with uninitialised pixels (for tests and writers). */
hd_image *hd_image_create(int w, int h, hd_error *err);
void hd_image_free(hd_image *img);

/* Which decoder the first bytes select. */
hd_image_format hd_image_sniff(const void *data, size_t size);

/* Applies an EXIF orientation (1..8) in place: 2 mirror, 3 rotate 180,
 * 4 flip vertically, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
 * 8 rotate 90 counter-clockwise.  Orientations 5..8 swap w and h.  1 and
 * out-of-range values leave the image unchanged.  Needs a second buffer of
 * the same size for 2..8 (HD_ERR_NOMEM if it cannot be had). */
hd_status hd_image_orient(hd_image *img, int orientation, hd_error *err);

/* The EXIF orientation tag (1..8) of a TIFF-structured EXIF block ("II*\0" or
 * "MM\0*" header, as in a JPEG APP1 after "Exif\0\0" or a PNG eXIf chunk);
 * 1 when absent or unreadable.  Every offset is bounds-checked. */
int hd_exif_orientation_tiff(const uint8_t *tiff, size_t size);
/* The same for a JPEG file: finds the first APP1 "Exif" segment among the
 * markers before the first scan. */
int hd_exif_orientation_jpeg(const uint8_t *jpeg, size_t size);

#ifdef __cplusplus
}
#endif
#endif
