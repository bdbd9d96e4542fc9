/* media/ffmpeg_io.c — FFmpeg inputs over our own I/O; silent, captured logging. */
#include "media/ffmpeg_io.h"

#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_BUF_SIZE (64 * 1024)
#define MIN_PROBE_SCORE 25 /* AVPROBE_SCORE_RETRY: below it FFmpeg warns "misdetection possible" */

/* ---- logging ----------------------------------------------------------------- */

static _Thread_local char tls_last_log[256];
static _Thread_local bool tls_size_limit_hit;

static void log_callback(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > AV_LOG_ERROR || !fmt) return;
    char line[192];
    vsnprintf(line, sizeof line, fmt, vl);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
    if (n == 0) return;
    if (strstr(line, "exceeds specified max pixel count")) tls_size_limit_hit = true;
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    const char *who = NULL;
    if (avcl) {
        const AVClass *cls = *(const AVClass *const *)avcl;
        if (cls && cls->item_name) who = cls->item_name(avcl);
    }
    if (who && who[0])
        snprintf(tls_last_log, sizeof tls_last_log, "%.48s: %s", who, line);
    else
        snprintf(tls_last_log, sizeof tls_last_log, "%s", line);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_ffmpeg(void) {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(log_callback);
}

void hd_ff_init(void) { pthread_once(&init_once, init_ffmpeg); }

const char *hd_ff_last_log(void) { return tls_last_log; }

void hd_ff_clear_log(void) {
    tls_last_log[0] = '\0';
    tls_size_limit_hit = false;
}

bool hd_ff_size_limit_hit(void) { return tls_size_limit_hit; }

const char *hd_ff_describe(int averr, char *buf, size_t size) {
    if (tls_last_log[0]) {
        snprintf(buf, size, "%s", tls_last_log);
    } else if (av_strerror(averr, buf, size) < 0) {
        snprintf(buf, size, "FFmpeg error %d", averr);
    }
    return buf;
}

/* ---- I/O callbacks ------------------------------------------------------------ */

static int fd_read(void *opaque, uint8_t *buf, int size) {
    hd_ff_input *in = opaque;
    for (;;) {
        ssize_t n = read(in->fd, buf, (size_t)size);
        if (n > 0) return (int)n;
        if (n == 0) return AVERROR_EOF;
        if (errno != EINTR) return AVERROR(errno);
    }
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence) {
    hd_ff_input *in = opaque;
    if (whence & AVSEEK_SIZE) {
        struct stat st;
        if (fstat(in->fd, &st) != 0) return AVERROR(errno);
        return (int64_t)st.st_size;
    }
    off_t r = lseek(in->fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return r < 0 ? AVERROR(errno) : (int64_t)r;
}

static int mem_read(void *opaque, uint8_t *buf, int size) {
    hd_ff_input *in = opaque;
    size_t left = in->mem_size - in->mem_pos;
    if (left == 0) return AVERROR_EOF;
    size_t n = (size_t)size < left ? (size_t)size : left;
    memcpy(buf, in->mem + in->mem_pos, n);
    in->mem_pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence) {
    hd_ff_input *in = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence & AVSEEK_SIZE) return (int64_t)in->mem_size;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)in->mem_pos
                 : whence == SEEK_END ? (int64_t)in->mem_size : -1;
    if (base < 0) return AVERROR(EINVAL);
    if (offset > INT64_MAX - base) return AVERROR(EINVAL);
    int64_t pos = base + offset;
    if (pos < 0 || (uint64_t)pos > in->mem_size) return AVERROR(EINVAL);
    in->mem_pos = (size_t)pos;
    return pos;
}

static int cb_read(void *opaque, uint8_t *buf, int size) {
    hd_ff_input *in = opaque;
    ssize_t n = in->read(in->read_user, buf, (size_t)size);
    if (n > size) return AVERROR(EIO);
    if (n > 0) return (int)n;
    return n == 0 ? AVERROR_EOF : AVERROR(EIO);
}

/* Demuxers that open further URLs (playlists, concat lists, references in MOV)
 * are refused: an input is exactly the bytes we were given. */
static int refuse_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags, AVDictionary **options) {
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* ---- open / close ---------------------------------------------------------------- */

void hd_ff_close(hd_ff_input *in) {
    if (!in) return;
    if (in->fmt) avformat_close_input(&in->fmt);
    if (in->pb) {
        av_freep(&in->pb->buffer);
        avio_context_free(&in->pb);
    }
    if (in->own_fd && in->fd >= 0) close(in->fd);
    free(in->name);
    free(in);
}

static hd_ff_input *input_new(const char *name, hd_error *err) {
    hd_ff_init();
    hd_ff_clear_log();
    hd_ff_input *in = calloc(1, sizeof *in);
    if (in) in->name = strdup(name ? name : "<input>");
    if (!in || !in->name) {
        free(in);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name ? name : "<input>");
        return NULL;
    }
    in->fd = -1;
    return in;
}

static hd_ff_input *finish_open(hd_ff_input *in, int (*rd)(void *, uint8_t *, int),
                                int64_t (*sk)(void *, int64_t, int), const AVInputFormat *fmt, int64_t max_pixels,
                                hd_error *err) {
    char msg[256];
    uint8_t *buf = av_malloc(IO_BUF_SIZE);
    if (buf) in->pb = avio_alloc_context(buf, IO_BUF_SIZE, 0, in, rd, NULL, sk);
    if (!in->pb) {
        av_free(buf);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", in->name);
        goto fail;
    }
    if (!sk) in->pb->seekable = 0;
    if (!fmt) {
        const AVInputFormat *probed = NULL;
        int score = av_probe_input_buffer2(in->pb, &probed, in->name, NULL, 0, 0);
        if (score == AVERROR_EOF || (score < 0 && in->pb->pos == 0 && avio_feof(in->pb))) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: empty input", in->name);
            goto fail;
        }
        if (score < 0 || !probed) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: not a recognised media file (%s)", in->name,
                         hd_ff_describe(score < 0 ? score : AVERROR_INVALIDDATA, msg, sizeof msg));
            goto fail;
        }
        if (score < MIN_PROBE_SCORE) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: not a recognised media file (best guess '%s' with low confidence %d/100)",
                         in->name, probed->name, score);
            goto fail;
        }
        fmt = probed;
    }
    in->fmt = avformat_alloc_context();
    if (!in->fmt) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", in->name);
        goto fail;
    }
    in->fmt->pb = in->pb;
    in->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    in->fmt->io_open = refuse_io_open;
    int r = avformat_open_input(&in->fmt, in->name, fmt, NULL); /* frees fmt context on failure */
    if (r < 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: cannot open as %s (%s)", in->name, fmt->name,
                     hd_ff_describe(r, msg, sizeof msg));
        goto fail;
    }
    hd_ff_clear_log();
    unsigned n_streams = in->fmt->nb_streams;
    AVDictionary **opts = NULL;
    if (max_pixels > 0 && n_streams > 0) {
        opts = av_calloc(n_streams, sizeof *opts);
        if (!opts) {
            hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", in->name);
            goto fail;
        }
        for (unsigned i = 0; i < n_streams; i++) av_dict_set_int(&opts[i], "max_pixels", max_pixels, 0);
    }
    r = avformat_find_stream_info(in->fmt, opts);
    if (opts) {
        for (unsigned i = 0; i < n_streams; i++) av_dict_free(&opts[i]);
        av_free(opts);
    }
    if (r < 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read stream information (%s)", in->name,
                     hd_ff_describe(r, msg, sizeof msg));
        goto fail;
    }
    hd_ff_clear_log();
    return in;
fail:
    hd_ff_close(in);
    return NULL;
}

hd_ff_input *hd_ff_open_path(const char *path, const AVInputFormat *fmt, int64_t max_pixels, hd_error *err) {
    const bool is_stdin = strcmp(path, "-") == 0;
    hd_ff_input *in = input_new(is_stdin ? "<stdin>" : path, err);
    if (!in) return NULL;
    in->fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    in->own_fd = !is_stdin;
    if (in->fd < 0) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        hd_ff_close(in);
        return NULL;
    }
    struct stat st;
    if (fstat(in->fd, &st) != 0) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", in->name, strerror(errno));
        hd_ff_close(in);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        hd_error_set(err, HD_ERR_IO, "%s: is a directory", in->name);
        hd_ff_close(in);
        return NULL;
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: empty file", in->name);
        hd_ff_close(in);
        return NULL;
    }
    /* stdin redirected from a file may start mid-file: only seek from offset 0 */
    bool seekable = (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) && (!is_stdin || lseek(in->fd, 0, SEEK_CUR) == 0);
    return finish_open(in, fd_read, seekable ? fd_seek : NULL, fmt, max_pixels, err);
}

hd_ff_input *hd_ff_open_memory(const void *data, size_t size, const char *name, const AVInputFormat *fmt,
                               int64_t max_pixels, hd_error *err) {
    hd_ff_input *in = input_new(name, err);
    if (!in) return NULL;
    if (size == 0 || !data) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: empty input", in->name);
        hd_ff_close(in);
        return NULL;
    }
    in->mem = data;
    in->mem_size = size;
    return finish_open(in, mem_read, mem_seek, fmt, max_pixels, err);
}

hd_ff_input *hd_ff_open_callback(hd_media_read_fn read, void *user, const char *name, const AVInputFormat *fmt,
                                 int64_t max_pixels, hd_error *err) {
    hd_ff_input *in = input_new(name, err);
    if (!in) return NULL;
    if (!read) {
        hd_error_set(err, HD_ERR_ARG, "%s: no read callback", in->name);
        hd_ff_close(in);
        return NULL;
    }
    in->read = read;
    in->read_user = user;
    return finish_open(in, cb_read, NULL, fmt, max_pixels, err);
}

AVCodecContext *hd_ff_open_decoder(const AVStream *st, int threads, int64_t max_pixels, const char *name,
                                   hd_error *err) {
    char msg[256];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: no decoder for codec '%s'", name,
                     avcodec_get_name(st->codecpar->codec_id));
        return NULL;
    }
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    if (!ctx) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    hd_ff_clear_log();
    int r = avcodec_parameters_to_context(ctx, st->codecpar);
    if (r >= 0) {
        ctx->pkt_timebase = st->time_base;
        ctx->thread_count = threads > 0 ? threads : 0;
        if (max_pixels > 0) ctx->max_pixels = max_pixels;
        r = avcodec_open2(ctx, codec, NULL);
    }
    if (r < 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: cannot open %s decoder (%s)", name, codec->name,
                     hd_ff_describe(r, msg, sizeof msg));
        avcodec_free_context(&ctx);
        return NULL;
    }
    return ctx;
}

/* ---- the demux → decode loop ---------------------------------------------------------------- */

static void loop_error(hd_ff_decode_loop *d, int averr) {
    d->last_error = averr;
    if (d->on_error) d->on_error(d->user, averr);
}

static int loop_give_up(hd_ff_decode_loop *d, hd_error *err) {
    char msg[200];
    hd_error_set(err, HD_ERR_FORMAT, "%s: decoder keeps failing (%s)", d->name,
                 hd_ff_describe(d->last_error, msg, sizeof msg));
    return -1;
}

int hd_ff_decode_next(hd_ff_decode_loop *d, AVFrame *frame, hd_error *err) {
    int errors_in_a_row = 0;
    for (;;) {
        int ret = avcodec_receive_frame(d->dec, frame);
        if (ret == 0) return 1;
        if (ret == AVERROR_EOF) return 0;
        if (ret != AVERROR(EAGAIN)) {
            loop_error(d, ret);
            if (++errors_in_a_row > HD_FF_MAX_ERRORS_IN_A_ROW) return loop_give_up(d, err);
            continue;
        }
        if (d->sent_flush) return 0;
        ret = av_read_frame(d->fmt, d->pkt);
        if (ret < 0) {
            if (ret != AVERROR_EOF && ret != AVERROR(EAGAIN)) loop_error(d, ret); /* damaged tail: keep what we have */
            d->sent_flush = true;
            avcodec_send_packet(d->dec, NULL);
            continue;
        }
        if (d->pkt->stream_index != d->stream) {
            av_packet_unref(d->pkt);
            continue;
        }
        ret = avcodec_send_packet(d->dec, d->pkt);
        av_packet_unref(d->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            loop_error(d, ret);
            if (++errors_in_a_row > HD_FF_MAX_ERRORS_IN_A_ROW) return loop_give_up(d, err);
        } else {
            errors_in_a_row = 0;
        }
    }
}
