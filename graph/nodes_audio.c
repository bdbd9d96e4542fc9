/* graph/nodes_audio.c — audio nodes that need no model: audio file source
 * (own WAV parser, FFmpeg through media/audio.h for other formats), raw PCM
 * source (file or stdin), sine test source, resampler, WAV sink
 * (media/wav.h). */
#include "node.h"
#include "media/audio_resample.h"
#include "media/wav_reader.h"

#include "media/audio.h"
#include "media/wav.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const hd_port_def audio_out[] = {{"out", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_port_def audio_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO), 0}};

/* Sends frames [n, channels] starting at stream frame `index` with exact
 * timestamps (pts from the sample index, duration to the next chunk). */
static hd_node_ret send_audio(hd_node *node, const float *data, int64_t n, int channels, int rate, int64_t index,
                              int64_t pts0, hd_error *err) {
    if (n <= 0) return HD_NODE_OK;
    hd_packet *p = hd_packet_audio_new(n, channels, rate, err);
    if (!p) return HD_NODE_ERROR;
    memcpy(p->u.audio.data, data, (size_t)n * (size_t)channels * sizeof(float));
    p->pts = pts0 + hd_samples_to_us(index, rate);
    p->duration = pts0 + hd_samples_to_us(index + n, rate) - p->pts;
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

/* ---- file: audio file source ----------------------------------------------------- */

typedef struct file_state {
    hd_wavfile *wav;          /* RIFF/WAVE: native rate and channels        */
    hd_audio_reader *dec;     /* anything else: FFmpeg, mono at `rate`      */
    int rate, channels;
    int64_t chunk, index;
    float *buf;
} file_state;

/* 1 when the file starts with a RIFF/WAVE header, 0 if not, -1 (err set)
 * when it cannot be read. */
static int is_wav(const char *path, hd_error *err) {
    unsigned char h[12];
    FILE *f = fopen(path, "rb");
    if (!f) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    int w = fread(h, 1, 12, f) == 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WAVE", 4) == 0;
    fclose(f);
    return w;
}

static hd_status file_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    file_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    const char *path = hd_opt_str(o, "path"), *dec = hd_opt_str(o, "decoder");
    s->chunk = hd_opt_int(o, "chunk");
    int wav = strcmp(dec, "wav") == 0;
    if (strcmp(dec, "auto") == 0 && (wav = is_wav(path, err)) < 0) return HD_ERR_IO;
    if (wav) {
        s->wav = hd_wavfile_open(path, err);
        if (!s->wav) return err ? err->code : HD_ERR_IO;
        s->rate = hd_wavfile_get_info(s->wav)->rate;
        s->channels = hd_wavfile_get_info(s->wav)->channels;
    } else {
        hd_audio_params ap = hd_audio_default_params();
        ap.rate = (int)hd_opt_int(o, "rate");
        s->dec = hd_audio_open(path, &ap, err);
        if (!s->dec) return err ? err->code : HD_ERR_IO;
        s->rate = ap.rate;
        s->channels = 1;
    }
    s->buf = malloc((size_t)s->chunk * (size_t)s->channels * sizeof(float));
    if (!s->buf) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    return HD_OK;
}

static hd_node_ret file_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    file_state *s = state;
    int64_t n;
    if (s->wav) {
        n = hd_wavfile_read(s->wav, s->buf, s->chunk, err);
        if (n < 0) return HD_NODE_ERROR;
    } else {
        size_t got = 0;
        if (hd_audio_read(s->dec, s->buf, (size_t)s->chunk, &got, err)) return HD_NODE_ERROR;
        n = (int64_t)got;
    }
    if (n == 0) return HD_NODE_EOS;
    hd_node_ret r = send_audio(node, s->buf, n, s->channels, s->rate, s->index, 0, err);
    s->index += n;
    return r;
}

static void file_destroy(void *state) {
    file_state *s = state;
    if (!s) return;
    hd_wavfile_close(s->wav);
    hd_audio_close(s->dec);
    free(s->buf);
    free(s);
}

static const hd_option_def file_opts[] = {
    {"path", HD_OPT_STRING, NULL, "audio file to read", 0, 0, NULL},
    {"decoder", HD_OPT_STRING, "auto",
     "wav: own RIFF parser, native rate and channels; ffmpeg: any format, mono at `rate`; auto: wav for "
     "RIFF/WAVE files, else ffmpeg",
     0, 0, "auto|wav|ffmpeg"},
    {"rate", HD_OPT_INT, "16000", "output rate of the ffmpeg decoder", 8000, 192000, NULL},
    {"chunk", HD_OPT_INT, "4096", "frames per packet", 1, 1 << 20, NULL},
};

const hd_node_type hd_node_file = {
    .name = "file",
    .summary = "reads an audio file (WAV natively; MP3, FLAC, Ogg, M4A, ... through FFmpeg)",
    .outputs = audio_out,
    .n_outputs = 1,
    .options = file_opts,
    .n_options = HD_COUNTOF(file_opts),
    .arg_option = "path",
    .create = file_create,
    .process = file_process,
    .destroy = file_destroy,
};

/* ---- raw: headerless PCM from a file or stdin ----------------------------------------- */

typedef struct raw_state {
    int fd;
    bool own_fd;
    bool f32;
    int rate, channels;
    int64_t chunk, index;
    uint8_t *bytes;       /* [chunk * frame bytes] */
    size_t have;          /* bytes buffered (a partial frame carries over) */
    float *buf;
} raw_state;

static hd_status raw_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    raw_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->fd = -1;
    const char *path = hd_opt_str(o, "path");
    s->f32 = strcmp(hd_opt_str(o, "format"), "f32le") == 0;
    s->rate = (int)hd_opt_int(o, "rate");
    s->channels = (int)hd_opt_int(o, "channels");
    s->chunk = hd_opt_int(o, "chunk");
    if (strcmp(path, "-") == 0) {
        s->fd = STDIN_FILENO;
    } else {
        s->fd = open(path, O_RDONLY);
        if (s->fd < 0) return hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        s->own_fd = true;
    }
    size_t fb = (size_t)s->channels * (s->f32 ? 4 : 2);
    s->bytes = malloc((size_t)s->chunk * fb);
    s->buf = malloc((size_t)s->chunk * (size_t)s->channels * sizeof(float));
    if (!s->bytes || !s->buf) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    return HD_OK;
}

static hd_node_ret raw_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    raw_state *s = state;
    size_t fb = (size_t)s->channels * (s->f32 ? 4 : 2);
    size_t want = (size_t)s->chunk * fb;
    /* wait at most 100 ms so cancellation is noticed on an idle pipe */
    struct pollfd pfd = {s->fd, POLLIN, 0};
    int pr = poll(&pfd, 1, 100);
    if (pr < 0 && errno != EINTR) return hd_error_set(err, HD_ERR_IO, "raw input: %s", strerror(errno)), HD_NODE_ERROR;
    if (pr <= 0) return HD_NODE_AGAIN;
    ssize_t got = read(s->fd, s->bytes + s->have, want - s->have);
    if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) return HD_NODE_AGAIN;
        hd_error_set(err, HD_ERR_IO, "raw input: %s", strerror(errno));
        return HD_NODE_ERROR;
    }
    if (got == 0) return HD_NODE_EOS;   /* a trailing partial frame is dropped */
    s->have += (size_t)got;
    size_t frames = s->have / fb;
    if (frames == 0) return HD_NODE_AGAIN;
    size_t cnt = frames * (size_t)s->channels;
    const uint8_t *b = s->bytes;
    for (size_t i = 0; i < cnt; i++) {
        if (s->f32) {
            uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                         (uint32_t)b[4 * i + 3] << 24;
            float v;
            memcpy(&v, &u, 4);
            s->buf[i] = isfinite(v) ? v : 0.0f;
        } else {
            int16_t v = (int16_t)(uint16_t)((uint32_t)b[2 * i] | (uint32_t)b[2 * i + 1] << 8);
            s->buf[i] = (float)v * (1.0f / 32768);
        }
    }
    size_t used = frames * fb;
    memmove(s->bytes, s->bytes + used, s->have - used);
    s->have -= used;
    hd_node_ret r = send_audio(node, s->buf, (int64_t)frames, s->channels, s->rate, s->index, 0, err);
    s->index += (int64_t)frames;
    return r;
}

static void raw_destroy(void *state) {
    raw_state *s = state;
    if (!s) return;
    if (s->own_fd && s->fd >= 0) close(s->fd);
    free(s->bytes);
    free(s->buf);
    free(s);
}

static const hd_option_def raw_opts[] = {
    {"path", HD_OPT_STRING, "-", "file to read, '-' for stdin", 0, 0, NULL},
    {"format", HD_OPT_STRING, "s16le", "sample format", 0, 0, "s16le|f32le"},
    {"rate", HD_OPT_INT, "16000", "sample rate in Hz", 1, 10000000, NULL},
    {"channels", HD_OPT_INT, "1", "interleaved channels", 1, 64, NULL},
    {"chunk", HD_OPT_INT, "1024", "frames per packet at most", 1, 1 << 20, NULL},
};

const hd_node_type hd_node_raw = {
    .name = "raw",
    .summary = "reads headerless PCM (s16le or f32le) from a file or stdin",
    .outputs = audio_out,
    .n_outputs = 1,
    .options = raw_opts,
    .n_options = HD_COUNTOF(raw_opts),
    .arg_option = "path",
    .create = raw_create,
    .process = raw_process,
    .destroy = raw_destroy,
};

/* ---- sine: test tone ------------------------------------------------------------ */

typedef struct sine_state {
    double freq, amp;
    int rate, channels;
    int64_t total;        /* frames to produce, -1 = endless */
    int64_t chunk, index;
    float *buf;
} sine_state;

static hd_status sine_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    sine_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->freq = hd_opt_float(o, "freq");
    s->amp = hd_opt_float(o, "amplitude");
    s->rate = (int)hd_opt_int(o, "rate");
    s->channels = (int)hd_opt_int(o, "channels");
    s->chunk = hd_opt_int(o, "chunk");
    double d = hd_opt_float(o, "duration");
    s->total = d > 0 ? (int64_t)llround(d * s->rate) : -1;
    if (s->freq * 2 > s->rate)
        return hd_error_set(err, HD_ERR_ARG, "freq %g Hz is above the Nyquist frequency of %d Hz", s->freq, s->rate);
    s->buf = malloc((size_t)s->chunk * (size_t)s->channels * sizeof(float));
    if (!s->buf) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    return HD_OK;
}

static hd_node_ret sine_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    sine_state *s = state;
    int64_t n = s->chunk;
    if (s->total >= 0 && s->total - s->index < n) n = s->total - s->index;
    if (n <= 0) return HD_NODE_EOS;
    for (int64_t i = 0; i < n; i++) {
        /* phase from the sample index (no accumulated drift) */
        double cyc = fmod(s->freq * (double)(s->index + i), (double)s->rate);
        float v = (float)(s->amp * sin(2 * M_PI * cyc / s->rate));
        for (int c = 0; c < s->channels; c++) s->buf[i * s->channels + c] = v;
    }
    hd_node_ret r = send_audio(node, s->buf, n, s->channels, s->rate, s->index, 0, err);
    s->index += n;
    return r;
}

static void sine_destroy(void *state) {
    sine_state *s = state;
    if (!s) return;
    free(s->buf);
    free(s);
}

static const hd_option_def sine_opts[] = {
    {"freq", HD_OPT_FLOAT, "440", "frequency in Hz", 0, 5000000, NULL},
    {"amplitude", HD_OPT_FLOAT, "0.5", "peak amplitude", 0, 1, NULL},
    {"rate", HD_OPT_INT, "16000", "sample rate in Hz", 1, 10000000, NULL},
    {"channels", HD_OPT_INT, "1", "channels (all the same tone)", 1, 64, NULL},
    {"duration", HD_OPT_FLOAT, "1", "seconds; 0 = endless", 0, 1e7, NULL},
    {"chunk", HD_OPT_INT, "1024", "frames per packet", 1, 1 << 20, NULL},
};

const hd_node_type hd_node_sine = {
    .name = "sine",
    .summary = "generates a sine tone (test source)",
    .outputs = audio_out,
    .n_outputs = 1,
    .options = sine_opts,
    .n_options = HD_COUNTOF(sine_opts),
    .arg_option = "freq",
    .create = sine_create,
    .process = sine_process,
    .destroy = sine_destroy,
};

/* ---- resample -------------------------------------------------------------------- */

typedef struct resample_state {
    int out_rate, want_channels;
    hd_resampler_params rp;
    hd_resampler *r;       /* NULL until the first packet (or when rates match) */
    bool started;
    int in_rate, in_channels, out_channels;
    int64_t pts0, out_index;
    float *mix, *out;      /* channel-converted input, resampled output */
    int64_t mix_cap, out_cap;
} resample_state;

static hd_status resample_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    resample_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->out_rate = (int)hd_opt_int(o, "rate");
    s->want_channels = (int)hd_opt_int(o, "channels");
    s->rp = hd_resampler_default_params();
    s->rp.zeros = (int)hd_opt_int(o, "quality");
    return HD_OK;
}

static bool ensure(float **p, int64_t *cap, int64_t n) {
    if (n <= *cap) return true;
    float *q = realloc(*p, (size_t)n * sizeof(float));
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

static hd_node_ret resample_emit(hd_node *node, resample_state *s, int64_t n, hd_error *err) {
    hd_node_ret r = send_audio(node, s->out, n, s->out_channels, s->out_rate, s->out_index, s->pts0, err);
    s->out_index += n;
    return r;
}

static hd_node_ret resample_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    resample_state *s = state;
    int ch = in->u.audio.channels, rate = in->u.audio.rate;
    int64_t n = in->u.audio.n_frames;
    if (!s->started) {
        s->started = true;
        s->in_rate = rate;
        s->in_channels = ch;
        s->out_channels = s->want_channels ? s->want_channels : ch;
        if (s->out_channels != ch && s->out_channels != 1 && ch != 1)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "cannot convert %d channels to %d (only to or from mono)", ch,
                                s->out_channels),
                   HD_NODE_ERROR;
        s->pts0 = in->pts == HD_PTS_NONE ? 0 : in->pts;
        if (rate != s->out_rate) {
            s->r = hd_resampler_create(rate, s->out_rate, s->out_channels, &s->rp, err);
            if (!s->r) return HD_NODE_ERROR;
        }
    } else if (rate != s->in_rate || ch != s->in_channels) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "input changed from %d Hz x%d to %d Hz x%d mid-stream", s->in_rate,
                     s->in_channels, rate, ch);
        return HD_NODE_ERROR;
    }
    /* channel conversion first (cheaper at the lower channel count) */
    int oc = s->out_channels;
    const float *src = in->u.audio.data;
    if (oc != ch) {
        if (!ensure(&s->mix, &s->mix_cap, n * oc)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        for (int64_t i = 0; i < n; i++) {
            if (oc == 1) {
                float acc = 0;
                for (int c = 0; c < ch; c++) acc += src[i * ch + c];
                s->mix[i] = acc / (float)ch;
            } else {
                for (int c = 0; c < oc; c++) s->mix[i * oc + c] = src[i];
            }
        }
        src = s->mix;
    }
    if (!s->r) {
        if (!ensure(&s->out, &s->out_cap, n * oc)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        memcpy(s->out, src, (size_t)(n * oc) * sizeof(float));
        return resample_emit(node, s, n, err);
    }
    int64_t max = hd_resampler_max_out(s->r, n);
    if (!ensure(&s->out, &s->out_cap, max * oc)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    int64_t got = hd_resampler_process(s->r, src, n, s->out, err);
    if (got < 0) return HD_NODE_ERROR;
    if (got == 0) return HD_NODE_AGAIN;
    return resample_emit(node, s, got, err);
}

static hd_status resample_flush(hd_node *node, void *state, hd_error *err) {
    resample_state *s = state;
    if (!s->r) return HD_OK;
    int64_t max = hd_resampler_max_out(s->r, 0);
    if (!ensure(&s->out, &s->out_cap, max * s->out_channels)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    int64_t got = hd_resampler_flush(s->r, s->out);
    return resample_emit(node, s, got, err) == HD_NODE_ERROR ? (err ? err->code : HD_ERR_INTERNAL) : HD_OK;
}

static void resample_destroy(void *state) {
    resample_state *s = state;
    if (!s) return;
    hd_resampler_free(s->r);
    free(s->mix);
    free(s->out);
    free(s);
}

static const hd_option_def resample_opts[] = {
    {"rate", HD_OPT_INT, "16000", "output sample rate in Hz", 1, 10000000, NULL},
    {"channels", HD_OPT_INT, "0", "output channels: 0 = as input, 1 = mix down to mono", 0, 64, NULL},
    {"quality", HD_OPT_INT, "16", "sinc zero crossings per side (filter length)", 2, 256, NULL},
};

const hd_node_type hd_node_resample = {
    .name = "resample",
    .summary = "converts the sample rate (polyphase windowed sinc) and optionally mixes to mono",
    .inputs = audio_in,
    .n_inputs = 1,
    .outputs = audio_out,
    .n_outputs = 1,
    .options = resample_opts,
    .n_options = HD_COUNTOF(resample_opts),
    .arg_option = "rate",
    .create = resample_create,
    .process = resample_process,
    .flush = resample_flush,
    .destroy = resample_destroy,
};

/* ---- wav: WAV file sink (media/wav.h) ------------------------------------------------- */

typedef struct wav_state {
    char *path;
    hd_wav_format format;
    hd_wav_writer *w;      /* opened with the first packet, when the format is known */
    int rate, channels;
} wav_state;

static hd_status wav_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    wav_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->format = strcmp(hd_opt_str(o, "format"), "f32") == 0 ? HD_WAV_FLOAT32 : HD_WAV_PCM16;
    s->path = strdup(hd_opt_str(o, "path"));
    return s->path ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "out of memory");
}

static hd_node_ret wav_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    wav_state *s = state;
    if (!s->w) {
        s->rate = in->u.audio.rate;
        s->channels = in->u.audio.channels;
        s->w = hd_wav_writer_open(s->path, s->rate, s->channels, s->format, err);
        if (!s->w) return HD_NODE_ERROR;
    } else if (in->u.audio.rate != s->rate || in->u.audio.channels != s->channels) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: audio changed from %d Hz x%d to %d Hz x%d mid-stream", s->path,
                     s->rate, s->channels, in->u.audio.rate, in->u.audio.channels);
        return HD_NODE_ERROR;
    }
    return hd_wav_writer_write(s->w, in->u.audio.data, (size_t)in->u.audio.n_frames, err) ? HD_NODE_ERROR
                                                                                          : HD_NODE_OK;
}

static hd_status wav_flush(hd_node *node, void *state, hd_error *err) {
    wav_state *s = state;
    if (!s->w) {   /* no audio at all: still write a valid, empty file */
        s->w = hd_wav_writer_open(s->path, 16000, 1, s->format, err);
        if (!s->w) return err ? err->code : HD_ERR_IO;
    }
    hd_wav_writer *w = s->w;
    s->w = NULL;
    return hd_wav_writer_close(w, err);
}

static void wav_destroy(void *state) {
    wav_state *s = state;
    if (!s) return;
    hd_wav_writer_close(s->w, NULL);   /* never flushed: finish the file anyway */
    free(s->path);
    free(s);
}

static const hd_option_def wav_opts[] = {
    {"path", HD_OPT_STRING, NULL, "WAV file to write, '-' for stdout", 0, 0, NULL},
    {"format", HD_OPT_STRING, "s16", "sample format", 0, 0, "s16|f32"},
};

const hd_node_type hd_node_wav = {
    .name = "wav",
    .summary = "writes audio to a WAV file (16-bit PCM or 32-bit float)",
    .inputs = audio_in,
    .n_inputs = 1,
    .options = wav_opts,
    .n_options = HD_COUNTOF(wav_opts),
    .arg_option = "path",
    .create = wav_create,
    .process = wav_process,
    .flush = wav_flush,
    .destroy = wav_destroy,
};

/* ---- pcm: raw PCM sink ------------------------------------------------------------------ */

/* Interleaved samples with no header, 16-bit or float little-endian, to a
 * file or stdout ("-"), written as they arrive (a player can start at once). */
typedef struct pcm_state {
    char *path;
    FILE *f;
    bool own;          /* f was opened here (not stdout) */
    bool f32;
    int rate, channels;
    uint8_t buf[2 * 4096];
} pcm_state;

static hd_status pcm_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    pcm_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->f32 = strcmp(hd_opt_str(o, "format"), "f32") == 0;
    s->path = strdup(hd_opt_str(o, "path"));
    if (!s->path) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    if (strcmp(s->path, "-") == 0) {
        s->f = stdout;
    } else {
        if (!(s->f = fopen(s->path, "wb"))) return hd_error_set(err, HD_ERR_IO, "%s: %s", s->path, strerror(errno));
        s->own = true;
    }
    return HD_OK;
}

static hd_node_ret pcm_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    pcm_state *s = state;
    if (!s->rate) {
        s->rate = in->u.audio.rate;
        s->channels = in->u.audio.channels;
    } else if (in->u.audio.rate != s->rate || in->u.audio.channels != s->channels) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: audio changed from %d Hz x%d to %d Hz x%d mid-stream", s->path,
                     s->rate, s->channels, in->u.audio.rate, in->u.audio.channels);
        return HD_NODE_ERROR;
    }
    const float *x = in->u.audio.data;
    size_t n = (size_t)in->u.audio.n_frames * (size_t)in->u.audio.channels;
    bool ok = true;
    if (s->f32) {
        ok = fwrite(x, sizeof *x, n, s->f) == n;
    } else {
        for (size_t i = 0; ok && i < n;) {
            size_t k = n - i < 4096 ? n - i : 4096;
            hd_pcm_to_s16le(x + i, k, s->buf);   /* the WAV writer's samples, without the header */
            ok = fwrite(s->buf, 2, k, s->f) == k;
            i += k;
        }
    }
    if (ok) ok = fflush(s->f) == 0;
    if (!ok) return hd_error_set(err, HD_ERR_IO, "%s: cannot write: %s", s->path, strerror(errno)), HD_NODE_ERROR;
    return HD_NODE_OK;
}

static hd_status pcm_flush(hd_node *node, void *state, hd_error *err) {
    pcm_state *s = state;
    FILE *f = s->f;
    s->f = NULL;
    if (f && s->own && fclose(f) != 0) return hd_error_set(err, HD_ERR_IO, "%s: %s", s->path, strerror(errno));
    if (f && !s->own && fflush(f) != 0) return hd_error_set(err, HD_ERR_IO, "stdout: %s", strerror(errno));
    return HD_OK;
}

static void pcm_destroy(void *state) {
    pcm_state *s = state;
    if (!s) return;
    if (s->f && s->own) fclose(s->f);
    free(s->path);
    free(s);
}

static const hd_option_def pcm_opts[] = {
    {"path", HD_OPT_STRING, NULL, "file to write, '-' for stdout", 0, 0, NULL},
    {"format", HD_OPT_STRING, "s16", "sample format (little-endian, no header)", 0, 0, "s16|f32"},
};

const hd_node_type hd_node_pcm = {
    .name = "pcm",
    .summary = "writes raw interleaved PCM (no header) to a file or stdout as it arrives",
    .inputs = audio_in,
    .n_inputs = 1,
    .options = pcm_opts,
    .n_options = HD_COUNTOF(pcm_opts),
    .arg_option = "path",
    .create = pcm_create,
    .process = pcm_process,
    .flush = pcm_flush,
    .destroy = pcm_destroy,
};
