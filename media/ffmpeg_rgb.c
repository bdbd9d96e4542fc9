/* media/ffmpeg_rgb.c — decoded FFmpeg pictures to packed RGB24 (libswscale). */
#include "media/ffmpeg_io.h"
#include "media/image_internal.h"

#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <stdlib.h>
#include <string.h>

void hd_ff_rgb_release(hd_ff_rgb *c) {
    if (!c) return;
    sws_freeContext(c->sws);
    free(c->tmp);
    memset(c, 0, sizeof *c);
}

static bool yuvj_full_range(enum AVPixelFormat f) {
    return f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_YUVJ422P || f == AV_PIX_FMT_YUVJ444P ||
           f == AV_PIX_FMT_YUVJ440P || f == AV_PIX_FMT_YUVJ411P;
}

hd_status hd_ff_frame_to_rgb(hd_ff_rgb *c, const AVFrame *frame, uint8_t *dst, const uint8_t bg[3], bool accurate,
                             const char *name, hd_error *err) {
    const int w = frame->width, h = frame->height;
    const enum AVPixelFormat src_fmt = frame->format;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(src_fmt);
    if (!desc || w <= 0 || h <= 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: decoded picture has no usable format (%dx%d)", name, w, h);
    const bool alpha = (desc->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
    const enum AVPixelFormat dst_fmt = alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
    const int flags = accurate ? SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP : SWS_BILINEAR;
    c->sws = sws_getCachedContext(c->sws, w, h, src_fmt, w, h, dst_fmt, flags, NULL, NULL, NULL);
    if (!c->sws)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB", name, desc->name);
    if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
        const int *coef = sws_getCoefficients(frame->colorspace);
        int src_full = frame->color_range == AVCOL_RANGE_JPEG || yuvj_full_range(src_fmt);
        sws_setColorspaceDetails(c->sws, coef, src_full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    uint8_t *out = dst;
    if (alpha) {
        size_t need = (size_t)w * (size_t)h * 4;
        if (c->tmp_size < need) {
            free(c->tmp);
            c->tmp = malloc(need);
            c->tmp_size = c->tmp ? need : 0;
            if (!c->tmp) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory converting %dx%d picture", name, w, h);
        }
        out = c->tmp;
    }
    uint8_t *planes[4] = {out, NULL, NULL, NULL};
    int strides[4] = {w * (alpha ? 4 : 3), 0, 0, 0};
    int rows = sws_scale(c->sws, (const uint8_t *const *)frame->data, frame->linesize, 0, h, planes, strides);
    if (rows != h) return hd_error_set(err, HD_ERR_FORMAT, "%s: picture conversion failed (%d of %d rows)", name, rows, h);
    if (alpha) {
        hd_image_rgba_to_rgb(c->tmp, (size_t)w * (size_t)h, bg);
        memcpy(dst, c->tmp, (size_t)w * (size_t)h * 3);
    }
    return HD_OK;
}
