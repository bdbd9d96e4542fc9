/* media/image_ffmpeg.c — images in formats other than PNG/JPEG (WebP, GIF,
 * BMP, TIFF, 12-bit JPEG, ...) through FFmpeg: the first picture of the first
 * video stream, converted to RGB. */
#include "media/ffmpeg_io.h"
#include "media/image_internal.h"

#include <libavcodec/avcodec.h>

#include <stdlib.h>

/* Sends packets until the decoder yields one picture.  0 or AVERROR. */
static int decode_first(AVFormatContext *fmt, int stream, AVCodecContext *dec, AVFrame *frame, AVPacket *pkt) {
    int r;
    bool flushing = false;
    for (;;) {
        r = avcodec_receive_frame(dec, frame);
        if (r == 0) return 0;
        if (r != AVERROR(EAGAIN)) return r;
        if (flushing) return AVERROR_EOF;
        r = av_read_frame(fmt, pkt);
        if (r < 0) {
            flushing = true;
            r = avcodec_send_packet(dec, NULL);
            if (r < 0 && r != AVERROR_EOF) return r;
            continue;
        }
        if (pkt->stream_index == stream) r = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (r < 0 && r != AVERROR(EAGAIN)) return r;
    }
}

hd_image *hd_image_decode_ffmpeg(const uint8_t *data, size_t size, const char *name, const hd_image_params *p,
                                 hd_error *err) {
    char msg[256];
    int64_t max_px = p->max_pixels > INT64_MAX ? INT64_MAX : (int64_t)p->max_pixels;
    hd_ff_input *in = hd_ff_open_memory(data, size, name, NULL, max_px, err);
    if (!in) return NULL;
    hd_image *img = NULL;
    AVCodecContext *dec = NULL;
    AVFrame *frame = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    hd_ff_rgb conv = {0};
    if (!frame || !pkt) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        goto out;
    }
    int stream = av_find_best_stream(in->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (stream < 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: not an image (format '%s' has no picture stream)", name, in->fmt->iformat->name);
        goto out;
    }
    const AVCodecParameters *par = in->fmt->streams[stream]->codecpar;
    if (par->width > 0 && par->height > 0 &&
        hd_image_check_size((uint64_t)par->width, (uint64_t)par->height, name, p, err) != HD_OK)
        goto out;
    dec = hd_ff_open_decoder(in->fmt->streams[stream], 1, max_px, name, err);
    if (!dec) goto out;
    hd_ff_clear_log();
    int r = decode_first(in->fmt, stream, dec, frame, pkt);
    if (r < 0) {
        const bool too_big = hd_ff_size_limit_hit();
        hd_error_set(err, too_big ? HD_ERR_NOMEM : HD_ERR_FORMAT, "%s: cannot decode %s image (%s)", name, avcodec_get_name(par->codec_id),
                     r == AVERROR_EOF && !hd_ff_last_log()[0] ? "no picture in file" : hd_ff_describe(r, msg, sizeof msg));
        goto out;
    }
    if (hd_image_check_size((uint64_t)frame->width, (uint64_t)frame->height, name, p, err) != HD_OK) goto out;
    img = hd_image_create(frame->width, frame->height, err);
    if (!img) goto out;
    if (hd_ff_frame_to_rgb(&conv, frame, img->data, p->background, true, name, err) != HD_OK) {
        hd_image_free(img);
        img = NULL;
    }
out:
    hd_ff_rgb_release(&conv);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&dec);
    hd_ff_close(in);
    return img;
}
