/* media/audio_decode.c — FFmpeg demux + decode, or raw PCM, through
 * libswresample to mono float at the output rate, pulled in small pieces. */
#include "media/audio.h"
#include "media/ffmpeg_io.h"

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CHANNELS 64           /* libswresample's SWR_CH_MAX */
#define RAW_CHUNK_FRAMES 4096     /* raw PCM frames read per step */

struct hd_audio_reader {
    char *name;
    hd_audio_params p;
    hd_audio_info info;
    char codec_name[64], container_name[64];
    char warning[256];

    /* FFmpeg source */
    hd_ff_input *in;
    int stream;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    hd_ff_decode_loop loop; /* demux → decode over in/dec/pkt */

    /* raw PCM source */
    int raw_fd;
    hd_pcm_format raw_format;
    int raw_rate, raw_channels;
    uint8_t *raw_buf;       /* [RAW_CHUNK_FRAMES * channels * bytes] */
    size_t raw_have;        /* bytes in raw_buf                       */

    /* resampler for the current input configuration */
    SwrContext *swr;
    int swr_rate;
    enum AVSampleFormat swr_fmt;
    AVChannelLayout swr_layout;

    /* output FIFO: valid samples are buf[head, tail) */
    float *buf;
    size_t cap, head, tail;

    bool src_eof;   /* no more input frames                 */
    bool done;      /* resampler flushed: FIFO is all there is */
    bool any_audio; /* at least one frame decoded            */
};

static void on_decode_error(void *user, int averr);

hd_audio_params hd_audio_default_params(void) {
    hd_audio_params p = {.rate = HD_AUDIO_RATE, .stream_index = -1, .max_in_rate = 2000000};
    return p;
}

const hd_audio_info *hd_audio_reader_info(const hd_audio_reader *r) { return r ? &r->info : NULL; }
const char *hd_audio_warning(const hd_audio_reader *r) { return r ? r->warning : ""; }

void hd_audio_close(hd_audio_reader *r) {
    if (!r) return;
    swr_free(&r->swr);
    av_channel_layout_uninit(&r->swr_layout);
    av_frame_free(&r->frame);
    av_packet_free(&r->pkt);
    avcodec_free_context(&r->dec);
    hd_ff_close(r->in);
    free(r->raw_buf);
    free(r->buf);
    free(r->name);
    free(r);
}

static hd_audio_reader *reader_new(const char *name, const hd_audio_params *params, hd_error *err) {
    hd_audio_params p = params ? *params : hd_audio_default_params();
    if (!name) name = "<audio>";
    if (p.rate < 8000 || p.rate > 192000) {
        hd_error_set(err, HD_ERR_ARG, "%s: output rate %d Hz outside 8000..192000", name, p.rate);
        return NULL;
    }
    if (p.max_in_rate <= 0) p.max_in_rate = hd_audio_default_params().max_in_rate;
    hd_audio_reader *r = calloc(1, sizeof *r);
    if (r) r->name = strdup(name);
    if (!r || !r->name) {
        free(r);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    r->p = p;
    r->raw_fd = -1;
    r->stream = -1;
    r->info.rate = p.rate;
    r->info.duration = -1;
    r->info.codec = r->codec_name;
    r->info.container = r->container_name;
    return r;
}

/* ---- opening ------------------------------------------------------------------------ */

static hd_audio_reader *finish_ffmpeg_open(hd_audio_reader *r, hd_ff_input *in, hd_error *err) {
    if (!in) {
        hd_audio_close(r);
        return NULL;
    }
    r->in = in;
    AVFormatContext *fmt = in->fmt;
    snprintf(r->container_name, sizeof r->container_name, "%s", fmt->iformat->name);
    int s = r->p.stream_index;
    if (s >= 0) {
        if ((unsigned)s >= fmt->nb_streams || fmt->streams[s]->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) {
            hd_error_set(err, HD_ERR_NOTFOUND, "%s: stream %d is not an audio stream", r->name, s);
            goto fail;
        }
    } else {
        s = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
        if (s < 0) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: no audio stream (container '%s')", r->name, fmt->iformat->name);
            goto fail;
        }
    }
    r->stream = s;
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if ((int)i != s) fmt->streams[i]->discard = AVDISCARD_ALL;
    const AVStream *st = fmt->streams[s];
    const AVCodecParameters *par = st->codecpar;
    if (par->sample_rate <= 0 || par->sample_rate > r->p.max_in_rate) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: unusable sample rate %d Hz (accepted: 1..%d)", r->name, par->sample_rate,
                     r->p.max_in_rate);
        goto fail;
    }
    if (par->ch_layout.nb_channels <= 0 || par->ch_layout.nb_channels > MAX_CHANNELS) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: unusable channel count %d (accepted: 1..%d)", r->name,
                     par->ch_layout.nb_channels, MAX_CHANNELS);
        goto fail;
    }
    r->dec = hd_ff_open_decoder(st, 1, 0, r->name, err);
    if (!r->dec) goto fail;
    r->pkt = av_packet_alloc();
    r->frame = av_frame_alloc();
    if (!r->pkt || !r->frame) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", r->name);
        goto fail;
    }
    r->loop = (hd_ff_decode_loop){.fmt = fmt, .dec = r->dec, .pkt = r->pkt, .stream = s, .name = r->name,
                                  .on_error = on_decode_error, .user = r};
    snprintf(r->codec_name, sizeof r->codec_name, "%s", r->dec->codec->name);
    r->info.in_rate = par->sample_rate;
    r->info.in_channels = par->ch_layout.nb_channels;
    if (st->start_time != AV_NOPTS_VALUE) {
        double file_start = fmt->start_time != AV_NOPTS_VALUE ? (double)fmt->start_time / AV_TIME_BASE : 0.0;
        r->info.start_time = (double)st->start_time * av_q2d(st->time_base) - file_start;
        if (!(r->info.start_time > 0) || !isfinite(r->info.start_time)) r->info.start_time = 0;
    }
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        r->info.duration = (double)st->duration * av_q2d(st->time_base);
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
        r->info.duration = (double)fmt->duration / AV_TIME_BASE;
    return r;
fail:
    hd_audio_close(r);
    return NULL;
}

hd_audio_reader *hd_audio_open(const char *path, const hd_audio_params *params, hd_error *err) {
    if (!path) {
        hd_error_set(err, HD_ERR_ARG, "audio: no path given");
        return NULL;
    }
    hd_audio_reader *r = reader_new(strcmp(path, "-") == 0 ? "<stdin>" : path, params, err);
    if (!r) return NULL;
    return finish_ffmpeg_open(r, hd_ff_open_path(path, NULL, 0, err), err);
}

hd_audio_reader *hd_audio_open_memory(const void *data, size_t size, const char *name,
                                      const hd_audio_params *params, hd_error *err) {
    hd_audio_reader *r = reader_new(name, params, err);
    if (!r) return NULL;
    return finish_ffmpeg_open(r, hd_ff_open_memory(data, size, r->name, NULL, 0, err), err);
}

hd_audio_reader *hd_audio_open_callback(hd_media_read_fn read, void *user, const char *name,
                                        const hd_audio_params *params, hd_error *err) {
    hd_audio_reader *r = reader_new(name, params, err);
    if (!r) return NULL;
    return finish_ffmpeg_open(r, hd_ff_open_callback(read, user, r->name, NULL, 0, err), err);
}

hd_audio_reader *hd_audio_open_raw_fd(int fd, hd_pcm_format format, int rate, int channels, const char *name,
                                      const hd_audio_params *params, hd_error *err) {
    hd_audio_reader *r = reader_new(name, params, err);
    if (!r) return NULL;
    if (fd < 0 || (format != HD_PCM_S16LE && format != HD_PCM_F32LE) || rate <= 0 || rate > r->p.max_in_rate ||
        channels <= 0 || channels > MAX_CHANNELS) {
        hd_error_set(err, HD_ERR_ARG, "%s: invalid raw PCM setup (fd %d, rate %d, channels %d)", r->name, fd, rate,
                     channels);
        hd_audio_close(r);
        return NULL;
    }
    r->raw_fd = fd;
    r->raw_format = format;
    r->raw_rate = rate;
    r->raw_channels = channels;
    size_t bytes = (size_t)RAW_CHUNK_FRAMES * (size_t)channels * (format == HD_PCM_S16LE ? 2 : 4);
    r->raw_buf = malloc(bytes);
    if (!r->raw_buf) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", r->name);
        hd_audio_close(r);
        return NULL;
    }
    snprintf(r->container_name, sizeof r->container_name, "raw");
    snprintf(r->codec_name, sizeof r->codec_name, "%s", format == HD_PCM_S16LE ? "pcm_s16le" : "pcm_f32le");
    r->info.in_rate = rate;
    r->info.in_channels = channels;
    return r;
}

/* ---- resampling into the FIFO ----------------------------------------------------------------- */

static hd_status fifo_reserve(hd_audio_reader *r, size_t n, hd_error *err) {
    if (r->head > 0) { /* compact */
        memmove(r->buf, r->buf + r->head, (r->tail - r->head) * sizeof *r->buf);
        r->tail -= r->head;
        r->head = 0;
    }
    if (r->cap - r->tail >= n) return HD_OK;
    size_t cap = r->tail + n + 1024;
    float *b = realloc(r->buf, cap * sizeof *b);
    if (!b) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", r->name);
    r->buf = b;
    r->cap = cap;
    return HD_OK;
}

/* Makes sure the resampler matches (rate, fmt, layout); a change mid-stream
 * flushes the old one first. */
static hd_status swr_setup(hd_audio_reader *r, int rate, enum AVSampleFormat fmt, const AVChannelLayout *layout_in,
                           hd_error *err);

/* Float inputs can carry NaN/Inf (or values whose filtering overflows):
 * they become 0 so one bad sample cannot poison everything downstream. */
static void sanitize(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) x[i] = 0.0f;
}

static hd_status swr_drain(hd_audio_reader *r, hd_error *err) {
    for (;;) {
        int want = swr_get_out_samples(r->swr, 0);
        if (want <= 0) want = 256;
        if (fifo_reserve(r, (size_t)want, err) != HD_OK) return err ? err->code : HD_ERR_NOMEM;
        uint8_t *out = (uint8_t *)(r->buf + r->tail);
        int got = swr_convert(r->swr, &out, want, NULL, 0);
        if (got < 0) return hd_error_set(err, HD_ERR_INTERNAL, "%s: resampler flush failed", r->name);
        if (got == 0) return HD_OK;
        sanitize(r->buf + r->tail, (size_t)got);
        r->tail += (size_t)got;
    }
}

static hd_status swr_setup(hd_audio_reader *r, int rate, enum AVSampleFormat fmt, const AVChannelLayout *layout_in,
                           hd_error *err) {
    AVChannelLayout layout = {0};
    if (layout_in->order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(layout_in) == 0)
        av_channel_layout_default(&layout, layout_in->nb_channels);
    else if (av_channel_layout_copy(&layout, layout_in) < 0)
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", r->name);
    if (r->swr && r->swr_rate == rate && r->swr_fmt == fmt && av_channel_layout_compare(&r->swr_layout, &layout) == 0) {
        av_channel_layout_uninit(&layout);
        return HD_OK;
    }
    if (r->swr) {
        hd_status st = swr_drain(r, err);
        swr_free(&r->swr);
        if (st != HD_OK) {
            av_channel_layout_uninit(&layout);
            return st;
        }
    }
    const int c = layout.nb_channels;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    int ret = swr_alloc_set_opts2(&r->swr, &mono, AV_SAMPLE_FMT_FLT, r->p.rate, &layout, fmt, rate, 0, NULL);
    double matrix[MAX_CHANNELS];
    for (int i = 0; i < c; i++) matrix[i] = 1.0 / c; /* downmix: plain mean of all channels */
    if (ret >= 0) ret = swr_set_matrix(r->swr, matrix, c);
    if (ret >= 0) ret = swr_init(r->swr);
    av_channel_layout_uninit(&r->swr_layout);
    r->swr_layout = layout;
    r->swr_rate = rate;
    r->swr_fmt = fmt;
    if (ret < 0) {
        char msg[256];
        swr_free(&r->swr);
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: cannot resample %d Hz %d-channel %s audio (%s)", r->name, rate,
                            c, av_get_sample_fmt_name(fmt) ? av_get_sample_fmt_name(fmt) : "?",
                            hd_ff_describe(ret, msg, sizeof msg));
    }
    return HD_OK;
}

static hd_status resample(hd_audio_reader *r, const uint8_t *const *in, int n_in, hd_error *err) {
    int want = swr_get_out_samples(r->swr, n_in);
    if (want < 0) return hd_error_set(err, HD_ERR_INTERNAL, "%s: resampler state error", r->name);
    if (fifo_reserve(r, (size_t)want + 1, err) != HD_OK) return err ? err->code : HD_ERR_NOMEM;
    uint8_t *out = (uint8_t *)(r->buf + r->tail);
    int got = swr_convert(r->swr, &out, want + 1, (const uint8_t **)in, n_in);
    if (got < 0) return hd_error_set(err, HD_ERR_INTERNAL, "%s: resampling failed", r->name);
    sanitize(r->buf + r->tail, (size_t)got);
    r->tail += (size_t)got;
    return HD_OK;
}

/* ---- sources ------------------------------------------------------------------------------ */

static void note_error(hd_audio_reader *r, int averr) {
    char msg[200];
    r->info.n_decode_errors++;
    snprintf(r->warning, sizeof r->warning, "%s: skipped undecodable audio (%s)", r->name,
             hd_ff_describe(averr, msg, sizeof msg));
    hd_ff_clear_log();
}

static void on_decode_error(void *user, int averr) { note_error(user, averr); }

/* Next decoded frame into r->frame: 1 = frame, 0 = end, < 0 fatal (err set).
 * Frames with an unusable rate or channel count are skipped with a warning. */
static int next_ffmpeg_frame(hd_audio_reader *r, hd_error *err) {
    for (;;) {
        int got = hd_ff_decode_next(&r->loop, r->frame, err);
        if (got <= 0) return got;
        const int rate = r->frame->sample_rate, ch = r->frame->ch_layout.nb_channels;
        if (rate <= 0 || rate > r->p.max_in_rate || ch <= 0 || ch > MAX_CHANNELS) {
            char msg[96];
            snprintf(msg, sizeof msg, "frame with %d Hz, %d channels", rate, ch);
            r->info.n_decode_errors++;
            snprintf(r->warning, sizeof r->warning, "%s: skipped unusable audio (%s)", r->name, msg);
            av_frame_unref(r->frame);
            continue;
        }
        return 1;
    }
}

/* Reads raw PCM: 1 = frames resampled, 0 = end, < 0 fatal. */
static int step_raw(hd_audio_reader *r, hd_error *err) {
    const size_t bpf = (size_t)r->raw_channels * (r->raw_format == HD_PCM_S16LE ? 2 : 4);
    const size_t cap = RAW_CHUNK_FRAMES * bpf;
    bool eof = false;
    while (r->raw_have < bpf) {
        ssize_t n = read(r->raw_fd, r->raw_buf + r->raw_have, cap - r->raw_have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            hd_error_set(err, HD_ERR_IO, "%s: read failed (%s)", r->name, strerror(errno));
            return -1;
        }
        if (n == 0) {
            eof = true;
            break;
        }
        r->raw_have += (size_t)n;
    }
    size_t frames = r->raw_have / bpf;
    if (frames == 0 && eof) return 0;
    AVChannelLayout layout = {0};
    av_channel_layout_default(&layout, r->raw_channels);
    hd_status st = swr_setup(r, r->raw_rate, r->raw_format == HD_PCM_S16LE ? AV_SAMPLE_FMT_S16 : AV_SAMPLE_FMT_FLT,
                             &layout, err);
    av_channel_layout_uninit(&layout);
    if (st != HD_OK) return -1;
    const uint8_t *in[1] = {r->raw_buf};
    if (resample(r, in, (int)frames, err) != HD_OK) return -1;
    size_t used = frames * bpf;
    memmove(r->raw_buf, r->raw_buf + used, r->raw_have - used);
    r->raw_have -= used;
    r->any_audio = true;
    return 1;
}

/* Produces more output into the FIFO, or sets r->done. */
static hd_status fill(hd_audio_reader *r, hd_error *err) {
    if (!r->src_eof) {
        int got;
        if (r->raw_fd >= 0) {
            got = step_raw(r, err);
        } else {
            got = next_ffmpeg_frame(r, err);
            if (got > 0) {
                AVFrame *f = r->frame;
                hd_status st = swr_setup(r, f->sample_rate, (enum AVSampleFormat)f->format, &f->ch_layout, err);
                if (st == HD_OK) st = resample(r, (const uint8_t *const *)f->extended_data, f->nb_samples, err);
                av_frame_unref(f);
                if (st != HD_OK) return st;
                r->any_audio = true;
            }
        }
        if (got < 0) return err ? err->code : HD_ERR_FORMAT;
        if (got > 0) return HD_OK;
        r->src_eof = true;
    }
    if (!r->any_audio && r->info.n_decode_errors > 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: no decodable audio (%lld packets failed; last: %s)", r->name,
                            (long long)r->info.n_decode_errors, r->warning);
    if (r->swr) {
        hd_status st = swr_drain(r, err);
        if (st != HD_OK) return st;
    }
    r->done = true;
    return HD_OK;
}

/* ---- reading --------------------------------------------------------------------------------- */

hd_status hd_audio_read(hd_audio_reader *r, float *out, size_t max, size_t *n, hd_error *err) {
    *n = 0;
    if (!r || (!out && max > 0)) return hd_error_set(err, HD_ERR_ARG, "audio: no reader or output buffer");
    while (*n < max) {
        size_t avail = r->tail - r->head;
        if (avail > 0) {
            size_t k = avail < max - *n ? avail : max - *n;
            memcpy(out + *n, r->buf + r->head, k * sizeof *out);
            r->head += k;
            *n += k;
            continue;
        }
        if (r->done) break;
        hd_status st = fill(r, err);
        if (st != HD_OK) return st;
    }
    r->info.n_samples += (int64_t)*n;
    return HD_OK;
}

hd_status hd_audio_stream(hd_audio_reader *r, size_t chunk, hd_audio_chunk_fn fn, void *user, hd_error *err) {
    if (!r || !fn || chunk == 0) return hd_error_set(err, HD_ERR_ARG, "audio: invalid stream arguments");
    float *buf = malloc(chunk * sizeof *buf);
    if (!buf) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", r->name);
    hd_status st = HD_OK;
    for (;;) {
        double t0 = (double)r->info.n_samples / r->p.rate;
        size_t n = 0;
        st = hd_audio_read(r, buf, chunk, &n, err);
        if (st != HD_OK || n == 0) break;
        if (fn(user, buf, n, t0) != 0) {
            st = hd_error_set(err, HD_ERR_CANCELLED, "%s: stopped by the caller", r->name);
            break;
        }
    }
    free(buf);
    return st;
}

hd_status hd_audio_load(const char *path, const hd_audio_params *params, double max_seconds, float **samples,
                        size_t *n, hd_error *err) {
    *samples = NULL;
    *n = 0;
    hd_audio_reader *r = hd_audio_open(path, params, err);
    if (!r) return err ? err->code : HD_ERR_FORMAT;
    const double limit_d = max_seconds * r->p.rate;
    const size_t limit = limit_d >= (double)(SIZE_MAX / sizeof(float)) ? SIZE_MAX / sizeof(float) - 1 : (size_t)limit_d;
    size_t cap = 0, len = 0;
    float *buf = NULL;
    hd_status st = HD_OK;
    for (;;) {
        if (cap - len < 16384) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > limit + 1) ncap = limit + 1;
            if (ncap <= len) {
                st = hd_error_set(err, HD_ERR_NOMEM, "%s: longer than the %.0f s limit", path, max_seconds);
                break;
            }
            float *nb = realloc(buf, ncap * sizeof *nb);
            if (!nb) {
                st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = 0;
        st = hd_audio_read(r, buf + len, cap - len, &got, err);
        if (st != HD_OK || got == 0) break;
        len += got;
        if (len > limit) {
            st = hd_error_set(err, HD_ERR_NOMEM, "%s: longer than the %.0f s limit", path, max_seconds);
            break;
        }
    }
    hd_audio_close(r);
    if (st != HD_OK) {
        free(buf);
        return st;
    }
    *samples = buf;
    *n = len;
    return HD_OK;
}
