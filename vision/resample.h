/* vision/resample.h — Pillow-exact bilinear resizing of 8-bit RGB.
 *
 * Llama 3.2 Vision's preprocessors (Hugging Face MllamaImageProcessor and
 * Meta's VariableSizeImageTransform) both resize with PIL's
 * Image.resize(..., BILINEAR) on 8-bit pixels.  This reproduces Pillow's
 * algorithm (libImaging/Resample.c, Pillow 2.7 – 11) bit for bit:
 *
 *   - separable triangle filter, support 1 scaled by the reduction factor
 *     when down-scaling (anti-aliased), 1 when up-scaling;
 *   - per output pixel: centre = (i + 0.5)·scale, taps in
 *     [(int)(centre − support + 0.5), (int)(centre + support + 0.5)) clipped to
 *     the image, weights tri((j − centre + 0.5)/filterscale) normalised to sum 1,
 *     then rounded to fixed point with 22 fractional bits;
 *   - sum = 2^21 + Σ pixel·weight (integers), result clamp(sum >> 22, 0, 255);
 *   - horizontal pass first (only over the rows the vertical pass reads), the
 *     8-bit intermediate rounded as above, then the vertical pass; a pass whose
 *     size does not change is skipped.
 */
#ifndef HD_VISION_RESAMPLE_H
#define HD_VISION_RESAMPLE_H

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Resizes src [sh][sw][3] to dst [dh][dw][3] (both tightly packed RGB, not
 * overlapping).  Sizes must be ≥ 1; HD_ERR_NOMEM when the filter tables or the
 * intermediate image cannot be allocated. */
hd_status hd_resize_bilinear_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                                  hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
