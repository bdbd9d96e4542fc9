/* media/video_decode.c — FFmpeg video decode, timestamp sampling, rotation,
 * RGB conversion; one frame at a time. */
#include "media/ffmpeg_io.h"
#include "media/video.h"

#include <libavcodec/avcodec.h>
#include <libavutil/display.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct hd_video_reader {
    char *path;           /* the file, or the name of a memory input */
    const uint8_t *mem;   /* memory input (borrowed), NULL for a file */
    size_t mem_size;
    hd_video_params p;
    hd_video_info info;
    char codec_name[64], container_name[64];
    char warning[256];

    hd_ff_input *in;
    int stream;
    AVCodecContext *dec;
    AVPacket *pkt;
    double tb;            /* stream time base in seconds           */
    double start;         /* file start time in seconds             */
    double frame_dur;     /* nominal frame duration, 0 if unknown   */
    hd_ff_decode_loop loop; /* demux → decode over in/dec/pkt */
    bool eof;
    double last_t;        /* for non-decreasing timestamps          */
    bool have_last;       /* last_t is set (reset by a seek)         */
    bool seeked;          /* frame indices are estimates from pts   */
    bool seek_useless;    /* a seek went back before seek_from: stop */
    double seek_from;     /* decoded position when the last seek was made */
    int64_t since_seek;   /* frames decoded since the last seek     */

    /* the selection window: prev = last frame at or before the target,
     * look = the frame after it */
    AVFrame *prev, *look;
    bool have_prev, have_look;
    double prev_t, look_t, prev_dur;
    int64_t prev_idx, look_idx;
    int64_t next_target;  /* index k of the next sampling target    */
    int n_out;

    int orientation;      /* EXIF-style 1..8 to apply               */
    bool orientation_known;

    hd_ff_rgb conv;
    hd_video_frame out;   /* out.image.data is owned here           */
};

static void on_decode_error(void *user, int averr);

hd_video_params hd_video_default_params(void) {
    hd_video_params p = {
        .sampling = HD_VIDEO_UNIFORM,
        .n_frames = 16,
        .fps = 1.0,
        .max_pixels = (uint64_t)1 << 26,
        .apply_rotation = true,
        .measure_duration = false,
        .threads = 0,
        .stream_index = -1,
        .seek_gap = 10.0,
    };
    return p;
}

const hd_video_info *hd_video_reader_info(const hd_video_reader *r) { return r ? &r->info : NULL; }
const char *hd_video_warning(const hd_video_reader *r) { return r ? r->warning : ""; }

void hd_video_close(hd_video_reader *r) {
    if (!r) return;
    av_frame_free(&r->prev);
    av_frame_free(&r->look);
    av_packet_free(&r->pkt);
    avcodec_free_context(&r->dec);
    hd_ff_close(r->in);
    hd_ff_rgb_release(&r->conv);
    free(r->out.image.data);
    free(r->path);
    free(r);
}

int hd_video_display_orientation(const int32_t matrix[9]) {
    /* (x' y' w) = (x y 1) * M with M = [a b u; c d v; tx ty w], a..d in 16.16 */
    double a = matrix[0] / 65536.0, b = matrix[1] / 65536.0, c = matrix[3] / 65536.0, d = matrix[4] / 65536.0;
    double s = sqrt(fabs(a * d - b * c));
    if (!(s > 1e-6)) return 0;
    a /= s, b /= s, c /= s, d /= s;
    long ia = lround(a), ib = lround(b), ic = lround(c), id = lround(d);
    if (fabs(a - ia) > 0.01 || fabs(b - ib) > 0.01 || fabs(c - ic) > 0.01 || fabs(d - id) > 0.01) return 0;
    /* the eight axis-aligned maps, as (a, b, c, d) of source -> display */
    static const int maps[9][4] = {{0}, {1, 0, 0, 1},  {-1, 0, 0, 1}, {-1, 0, 0, -1}, {1, 0, 0, -1},
                                   {0, 1, 1, 0}, {0, 1, -1, 0}, {0, -1, -1, 0}, {0, -1, 1, 0}};
    for (int o = 1; o <= 8; o++)
        if (maps[o][0] == ia && maps[o][1] == ib && maps[o][2] == ic && maps[o][3] == id) return o;
    return 0;
}

static void set_orientation(hd_video_reader *r, const int32_t *matrix) {
    r->orientation_known = true;
    r->orientation = 1;
    if (!matrix || !r->p.apply_rotation) return;
    int o = hd_video_display_orientation(matrix);
    if (o == 0) {
        snprintf(r->warning, sizeof r->warning, "%s: rotation of %.1f degrees is not a multiple of 90: not applied",
                 r->path, -av_display_rotation_get(matrix));
        return;
    }
    static const int rot[9] = {0, 0, 0, 180, 180, 90, 90, 270, 270}; /* then mirror if mir[o] */
    static const bool mir[9] = {false, false, true, false, true, true, false, true, false};
    r->orientation = o;
    r->info.rotation = rot[o];
    r->info.mirrored = mir[o];
    if (o >= 5) {
        r->info.width = r->info.coded_height;
        r->info.height = r->info.coded_width;
    }
}

static hd_ff_input *open_input(hd_video_reader *r, hd_error *err) {
    int64_t max_px = r->p.max_pixels > INT64_MAX ? INT64_MAX : (int64_t)r->p.max_pixels;
    return r->mem ? hd_ff_open_memory(r->mem, r->mem_size, r->path, NULL, max_px, err)
                  : hd_ff_open_path(r->path, NULL, max_px, err);
}

/* Reads packet timestamps to find where the stream ends (seconds), then
 * reopens the input.  < 0 if nothing was found. */
static double measure_end(hd_video_reader *r, hd_error *err, bool *ok) {
    *ok = false;
    double end = -1;
    AVStream *st = r->in->fmt->streams[r->stream];
    while (av_read_frame(r->in->fmt, r->pkt) >= 0) {
        if (r->pkt->stream_index == r->stream) {
            int64_t ts = r->pkt->pts != AV_NOPTS_VALUE ? r->pkt->pts : r->pkt->dts;
            if (ts != AV_NOPTS_VALUE) {
                double t = (double)(ts + (r->pkt->duration > 0 ? r->pkt->duration : 0)) * av_q2d(st->time_base) - r->start;
                if (t > end) end = t;
            }
        }
        av_packet_unref(r->pkt);
    }
    hd_ff_close(r->in);
    r->in = open_input(r, err);
    if (!r->in) return -1;
    r->loop.fmt = r->in->fmt;
    for (unsigned i = 0; i < r->in->fmt->nb_streams; i++)
        if ((int)i != r->stream) r->in->fmt->streams[i]->discard = AVDISCARD_ALL;
    *ok = true;
    return end;
}

static hd_video_reader *video_open(const char *path, const uint8_t *mem, size_t mem_size,
                                   const hd_video_params *params, hd_error *err) {
    hd_video_params p = params ? *params : hd_video_default_params();
    if (!path) {
        hd_error_set(err, HD_ERR_ARG, "video: no path given");
        return NULL;
    }
    if ((p.sampling == HD_VIDEO_UNIFORM && (p.n_frames < 1 || p.n_frames > 100000)) ||
        (p.sampling == HD_VIDEO_FPS && !(p.fps > 0 && p.fps <= 1000)) ||
        (p.sampling != HD_VIDEO_UNIFORM && p.sampling != HD_VIDEO_FPS && p.sampling != HD_VIDEO_ALL)) {
        hd_error_set(err, HD_ERR_ARG, "%s: invalid sampling (n_frames %d, fps %g)", path, p.n_frames, p.fps);
        return NULL;
    }
    if (p.max_pixels == 0) p.max_pixels = hd_video_default_params().max_pixels;
    hd_video_reader *r = calloc(1, sizeof *r);
    if (r) r->path = strdup(path);
    if (!r || !r->path) {
        free(r);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->p = p;
    r->mem = mem;
    r->mem_size = mem_size;
    r->info.codec = r->codec_name;
    r->info.container = r->container_name;
    r->info.duration = -1;
    int64_t max_px = p.max_pixels > INT64_MAX ? INT64_MAX : (int64_t)p.max_pixels;
    r->in = open_input(r, err);
    if (!r->in) goto fail;
    AVFormatContext *fmt = r->in->fmt;
    snprintf(r->container_name, sizeof r->container_name, "%s", fmt->iformat->name);
    int s = p.stream_index;
    if (s >= 0) {
        if ((unsigned)s >= fmt->nb_streams || fmt->streams[s]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
            hd_error_set(err, HD_ERR_NOTFOUND, "%s: stream %d is not a video stream", path, s);
            goto fail;
        }
    } else {
        s = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        if (s < 0) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: no video stream (container '%s')", path, fmt->iformat->name);
            goto fail;
        }
    }
    r->stream = s;
    AVStream *st = fmt->streams[s];
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) r->info.has_audio = true;
        if ((int)i != s) fmt->streams[i]->discard = AVDISCARD_ALL;
    }
    const AVCodecParameters *par = st->codecpar;
    if (par->width > 0 && par->height > 0 && (uint64_t)par->width > p.max_pixels / (uint64_t)par->height) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: video is %dx%d, over the limit of %llu pixels per frame", path,
                     par->width, par->height, (unsigned long long)p.max_pixels);
        goto fail;
    }
    r->dec = hd_ff_open_decoder(st, p.threads, max_px, path, err);
    r->pkt = av_packet_alloc();
    r->prev = av_frame_alloc();
    r->look = av_frame_alloc();
    if (!r->dec) goto fail;
    if (!r->pkt || !r->prev || !r->look) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    r->loop = (hd_ff_decode_loop){.fmt = fmt, .dec = r->dec, .pkt = r->pkt, .stream = s, .name = r->path,
                                  .on_error = on_decode_error, .user = r};
    snprintf(r->codec_name, sizeof r->codec_name, "%s", r->dec->codec->name);
    r->tb = av_q2d(st->time_base);
    r->start = fmt->start_time != AV_NOPTS_VALUE ? (double)fmt->start_time / AV_TIME_BASE
             : st->start_time != AV_NOPTS_VALUE ? (double)st->start_time * r->tb : 0.0;
    r->info.coded_width = r->info.width = par->width;
    r->info.coded_height = r->info.height = par->height;
    if (st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0) {
        r->info.fps = av_q2d(st->avg_frame_rate);
        if (r->info.fps > 0 && r->info.fps < 1000) r->frame_dur = 1.0 / r->info.fps;
    }
    r->info.n_frames_header = st->nb_frames > 0 ? st->nb_frames : 0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        r->info.duration = (double)st->duration * r->tb;
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
        r->info.duration = (double)fmt->duration / AV_TIME_BASE;
    size_t dm_size = 0;
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &dm_size);
    if (dm && dm_size >= 9 * sizeof(int32_t)) set_orientation(r, (const int32_t *)dm);
    if (p.sampling != HD_VIDEO_ALL && (p.measure_duration || r->info.duration <= 0)) {
        bool ok;
        double end = measure_end(r, err, &ok);
        if (!ok) goto fail;
        if (end > 0) r->info.duration = end;
    }
    if (p.sampling == HD_VIDEO_UNIFORM && r->info.duration <= 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: cannot tell the video's duration for uniform sampling", path);
        goto fail;
    }
    return r;
fail:
    hd_video_close(r);
    return NULL;
}

hd_video_reader *hd_video_open(const char *path, const hd_video_params *params, hd_error *err) {
    return video_open(path, NULL, 0, params, err);
}

hd_video_reader *hd_video_open_memory(const void *data, size_t size, const char *name, const hd_video_params *params,
                                      hd_error *err) {
    return video_open(name ? name : "<video>", data ? data : (const uint8_t *)"", size, params, err);
}

static void note_error(hd_video_reader *r, int averr) {
    char msg[200];
    r->info.n_decode_errors++;
    snprintf(r->warning, sizeof r->warning, "%s: skipped damaged video data (%s)", r->path,
             hd_ff_describe(averr, msg, sizeof msg));
    hd_ff_clear_log();
}

static void on_decode_error(void *user, int averr) { note_error(user, averr); }

/* Decodes the next frame into dst: 1 = frame (t = its time), 0 = end, -1 = fatal. */
static int decode_next(hd_video_reader *r, AVFrame *dst, double *t, hd_error *err) {
    int got = hd_ff_decode_next(&r->loop, dst, err);
    if (got <= 0) return got;
    int64_t ts = dst->best_effort_timestamp;
    double tt = ts != AV_NOPTS_VALUE ? (double)ts * r->tb - r->start : r->last_t + r->frame_dur;
    if (r->have_last && !(tt >= r->last_t)) tt = r->last_t; /* non-decreasing */
    r->last_t = tt;
    r->have_last = true;
    if (r->seeked && r->since_seek == 0 && tt <= r->seek_from) r->seek_useless = true; /* long GOPs */
    r->since_seek++;
    *t = tt;
    if (!r->orientation_known) {
        AVFrameSideData *sd = av_frame_get_side_data(dst, AV_FRAME_DATA_DISPLAYMATRIX);
        set_orientation(r, sd && sd->size >= 9 * sizeof(int32_t) ? (const int32_t *)sd->data : NULL);
    }
    r->info.n_decoded++;
    return 1;
}

/* Moves look into prev and decodes a new look; sets r->eof at the end. */
static hd_status advance(hd_video_reader *r, hd_error *err) {
    if (r->have_look) {
        av_frame_unref(r->prev);
        av_frame_move_ref(r->prev, r->look);
        r->have_prev = true;
        r->prev_t = r->look_t;
        r->prev_idx = r->look_idx;
        r->prev_dur = r->prev->pkt_duration > 0 ? (double)r->prev->pkt_duration * r->tb : r->frame_dur;
        r->have_look = false;
    }
    double t;
    int got = decode_next(r, r->look, &t, err);
    if (got < 0) return err ? err->code : HD_ERR_FORMAT;
    if (got == 0) {
        r->eof = true;
        if (r->info.n_decoded == 0)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: no video frame could be decoded%s%s", r->path,
                                r->warning[0] ? ": " : "", r->warning[0] ? r->warning : "");
        double gap = r->info.duration - (r->last_t + r->frame_dur);
        if (r->info.duration > 0 && gap > 0.5 && gap > 3 * r->frame_dur && !r->warning[0])
            snprintf(r->warning, sizeof r->warning, "%s: video data ends at %.2f s of %.2f s (truncated file?)",
                     r->path, r->last_t, r->info.duration);
        return HD_OK;
    }
    r->have_look = true;
    r->look_t = t;
    r->look_idx = !r->seeked ? r->info.n_decoded - 1 : r->info.fps > 0 ? (int64_t)llround(t * r->info.fps) : -1;
    return HD_OK;
}

/* Jumps to the last keyframe at or before `target` when the target lies more
 * than seek_gap seconds past what has been decoded: long clips are then not
 * decoded whole.  Failing seeks just leave decoding where it was. */
static void maybe_seek(hd_video_reader *r, double target) {
    if (r->p.seek_gap <= 0 || r->eof || !r->in->pb->seekable) return;
    double at = r->have_look ? r->look_t : r->have_prev ? r->prev_t : 0;
    if (target - at <= r->p.seek_gap) return;
    if (r->seek_useless || (r->seeked && r->since_seek == 0)) return;
    int64_t ts = (int64_t)floor((target + r->start) / r->tb);
    /* a keyframe known to lie at or before the decoded position: no gain */
    AVStream *st = r->in->fmt->streams[r->stream];
    int ki = av_index_search_timestamp(st, ts, AVSEEK_FLAG_BACKWARD);
    const AVIndexEntry *ke = ki >= 0 ? avformat_index_get_entry(st, ki) : NULL;
    if (ke && (double)ke->timestamp * r->tb - r->start <= at) return;
    r->seek_from = at;
    if (avformat_seek_file(r->in->fmt, r->stream, INT64_MIN, ts, ts, 0) < 0) {
        hd_ff_clear_log();
        return;
    }
    avcodec_flush_buffers(r->dec);
    av_frame_unref(r->prev);
    av_frame_unref(r->look);
    r->have_prev = r->have_look = false;
    r->have_last = false;
    r->loop.sent_flush = false;
    r->seeked = true;
    r->since_seek = 0;
}

static hd_status emit(hd_video_reader *r, const AVFrame *f, double t, int64_t idx, double target,
                      const hd_video_frame **out, hd_error *err) {
    const int w = f->width, h = f->height;
    if (w <= 0 || h <= 0 || (uint64_t)w > r->p.max_pixels / (uint64_t)h)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: frame %lld has unusable size %dx%d", r->path, (long long)idx, w, h);
    size_t need = (size_t)w * (size_t)h * 3;
    hd_image *img = &r->out.image;
    if (!img->data || (size_t)img->w * (size_t)img->h * 3 != need) {
        free(img->data);
        img->data = malloc(need);
        if (!img->data) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for a %dx%d frame", r->path, w, h);
    }
    img->w = w, img->h = h;
    static const uint8_t white[3] = {255, 255, 255};
    hd_status st = hd_ff_frame_to_rgb(&r->conv, f, img->data, white, false, r->path, err);
    if (st != HD_OK) return st;
    if (r->orientation > 1 && (st = hd_image_orient(img, r->orientation, err)) != HD_OK) return st;
    r->out.pts = t;
    r->out.target = target;
    r->out.index = idx;
    r->out.sample = r->n_out++;
    *out = &r->out;
    return HD_OK;
}

hd_status hd_video_next(hd_video_reader *r, const hd_video_frame **frame, hd_error *err) {
    *frame = NULL;
    if (!r) return hd_error_set(err, HD_ERR_ARG, "video: no reader");
    if (r->p.sampling == HD_VIDEO_ALL) {
        hd_status st = advance(r, err);
        if (st != HD_OK || !r->have_look) return st;
        return emit(r, r->look, r->look_t, r->look_idx, r->look_t, frame, err);
    }
    const double D = r->info.duration;
    const int64_t k = r->next_target;
    double target;
    if (r->p.sampling == HD_VIDEO_UNIFORM) {
        if (k >= r->p.n_frames) return HD_OK;
        target = D * ((double)k + 0.5) / r->p.n_frames;
    } else {
        target = (double)k / r->p.fps;
        if (D > 0 && target >= D) return HD_OK;
    }
    maybe_seek(r, target);
    /* decode until the frame after the target is known, or the stream ends */
    while (!r->eof && !(r->have_look && r->look_t > target)) {
        hd_status st = advance(r, err);
        if (st != HD_OK) return st;
    }
    const AVFrame *f;
    double t;
    int64_t idx;
    if (r->have_prev) {
        f = r->prev, t = r->prev_t, idx = r->prev_idx;
        if (r->eof && r->p.sampling == HD_VIDEO_FPS && target >= t + (r->prev_dur > 0 ? r->prev_dur : 0) &&
            target > t)
            return HD_OK; /* past the last frame's display interval */
    } else if (r->have_look) {
        f = r->look, t = r->look_t, idx = r->look_idx; /* target before the first frame */
    } else {
        return HD_OK;
    }
    r->next_target++;
    return emit(r, f, t, idx, target, frame, err);
}
