/* graph/nodes_segment.c — `segment`: cuts a speech stream into utterances
 * (voice activity, graph/segmenter.h) for recognition on long or live audio.
 *
 * Input: audio (any rate and channel count, 10 ms frames of rate/100
 * samples) or log-mel rows from the `mel` node (one row per frame).  Output:
 * the same kind, ONE packet per segment holding exactly the segment's
 * samples or rows, flagged HD_PKT_FLAG_SEGMENT (the conformer node encodes
 * it as one utterance), with pts = time of its first sample/row and
 * duration = its length, sent as soon as the segment's end is detected (min-silence
 * after the speech) — so a live stream gets each utterance while audio is
 * still arriving.  Silence between segments is dropped.
 *
 * Frame energy (dB, about dBFS for both kinds):
 *   audio  10·log10(mean of y²) over the frame's samples (all channels),
 *          y = pre-emphasised signal x[j] − 0.97·x[j−1];
 *   mel    10·log10(Σ_b exp(row_b)) − 136.4: the mel node's rows are
 *          natural-log powers of the pre-emphasised, ×32768-scaled,
 *          windowed signal; on every speech fixture the difference to the
 *          audio measure over the window's central 10 ms is 136.4 ± 0.5 dB.
 * So the thresholds (on/off above the noise floor, the floor's minimum in
 * dBFS) mean the same for `resample ! segment ! mel` and `mel ! segment`.
 * Use `mel ! segment` in front of a speech encoder: mel frames are computed
 * on the continuous stream (each frame reads only its own 25 ms), so a
 * segment's rows are exactly the rows of its own samples, with true times.
 *
 * Memory: the open segment (at most max seconds) and a few seconds of
 * energies, whatever the stream length.
 */
#include "node.h"
#include "segmenter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MEL_DB_OFFSET 136.4

static const hd_port_def seg_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO) | HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_port_def seg_out[] = {{"out", HD_KIND_BIT(HD_PKT_AUDIO) | HD_KIND_BIT(HD_PKT_EMBED),
                                       HD_PORT_SAME_AS_INPUT}};

typedef struct seg_state {
    hd_segmenter_params sp;
    hd_segmenter *seg;          /* created with the first packet (frame length known then) */
    hd_packet_kind kind;
    int rate, channels;         /* audio */
    int64_t dim;                /* embed: row width */
    int64_t hop;                /* units per frame: samples (audio) or 1 row (embed) */
    int64_t width;              /* floats per unit: channels or dim */
    int64_t period_us;          /* embed: microseconds per row */
    int64_t pts0;
    int64_t units;              /* units received */
    /* buffered units [base, units) */
    float *buf;
    int64_t base, cap;          /* cap in units */
    /* audio frame energy accumulation */
    double acc;
    int64_t acc_n;
    float *prev;                /* [channels] last sample of each channel, for pre-emphasis */
    bool have_prev;
} seg_state;

static hd_status seg_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    seg_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    hd_segmenter_params p = hd_segmenter_default_params();
    p.on_db = hd_opt_float(o, "on");
    p.off_db = hd_opt_float(o, "off");
    p.min_floor_db = hd_opt_float(o, "floor");
    p.min_speech_s = hd_opt_float(o, "min-speech");
    p.min_silence_s = hd_opt_float(o, "min-silence");
    p.pad_s = hd_opt_float(o, "pad");
    p.max_s = hd_opt_float(o, "max");
    p.search_s = hd_opt_float(o, "search");
    if (!hd_opt_is_set(o, "search") && p.search_s > p.max_s / 3) p.search_s = p.max_s / 3;   /* short max */
    p.overlap_s = hd_opt_float(o, "overlap");
    s->sp = p;
    /* check the values now (frame length 10 ms), so bad options fail at start */
    hd_segmenter *t = hd_segmenter_create(&p, err);
    if (!t) return err ? err->code : HD_ERR_ARG;
    hd_segmenter_free(t);
    return HD_OK;
}

static int64_t unit_pts(const seg_state *s, int64_t u) {
    return s->kind == HD_PKT_AUDIO ? s->pts0 + hd_samples_to_us(u, s->rate) : s->pts0 + u * s->period_us;
}

static hd_status start_stream(seg_state *s, const hd_packet *in, hd_error *err) {
    s->kind = in->kind;
    s->pts0 = in->pts == HD_PTS_NONE ? 0 : in->pts;
    if (in->kind == HD_PKT_AUDIO) {
        s->rate = in->u.audio.rate;
        s->channels = in->u.audio.channels;
        if (s->rate < 100 || s->rate % 100)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "audio rate %d Hz is not a multiple of 100 Hz (10 ms frames)",
                                s->rate);
        s->hop = s->rate / 100;
        s->width = s->channels;
        s->sp.frame_s = 0.01;
        s->prev = calloc((size_t)s->channels, sizeof *s->prev);
        if (!s->prev) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    } else {
        s->dim = in->u.embed.dim;
        s->hop = 1;
        s->width = s->dim;
        if (in->u.embed.rows <= 0 || in->duration <= 0 || in->duration % in->u.embed.rows)
            return hd_error_set(err, HD_ERR_ARG,
                                "embedding block of %lld rows lasts %lld us: rows need one whole duration each "
                                "(feed it mel frames)",
                                (long long)in->u.embed.rows, (long long)in->duration);
        s->period_us = in->duration / in->u.embed.rows;
        if (s->period_us < 1000 || s->period_us > HD_TIME_BASE)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "embedding rows of %lld us: frames must be 1 ms .. 1 s long",
                                (long long)s->period_us);
        s->sp.frame_s = (double)s->period_us / HD_TIME_BASE;
    }
    s->seg = hd_segmenter_create(&s->sp, err);
    return s->seg ? HD_OK : (err ? err->code : HD_ERR_ARG);
}

/* Appends n units to the buffer. */
static hd_status buffer_append(seg_state *s, const float *x, int64_t n, hd_error *err) {
    int64_t have = s->units - s->base;
    if (have + n > s->cap) {
        int64_t cap = (have + n) * 3 / 2 + 1024;
        float *q = realloc(s->buf, (size_t)(cap * s->width) * sizeof(float));
        if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        s->buf = q;
        s->cap = cap;
    }
    memcpy(s->buf + have * s->width, x, (size_t)(n * s->width) * sizeof(float));
    s->units += n;
    return HD_OK;
}

/* Drops buffered units before `keep` (a frame index). */
static void buffer_drop(seg_state *s, int64_t keep_frame) {
    int64_t keep = keep_frame * s->hop;
    if (keep <= s->base) return;
    if (keep > s->units) keep = s->units;
    int64_t drop = keep - s->base, have = s->units - s->base;
    memmove(s->buf, s->buf + drop * s->width, (size_t)((have - drop) * s->width) * sizeof(float));
    s->base = keep;
}

static hd_status emit(hd_node *node, seg_state *s, const hd_segment *g, bool at_end, hd_error *err) {
    int64_t a = g->start * s->hop, b = g->end * s->hop;
    if (at_end && g->end == hd_segmenter_frames(s->seg)) b = s->units;   /* a partial last frame */
    if (b > s->units) b = s->units;
    if (a < s->base) return hd_error_set(err, HD_ERR_INTERNAL, "segment starts before the buffered data");
    if (b <= a) return HD_OK;
    hd_packet *p = s->kind == HD_PKT_AUDIO ? hd_packet_audio_new(b - a, s->channels, s->rate, err)
                                           : hd_packet_embed_new(b - a, s->dim, err);
    if (!p) return err ? err->code : HD_ERR_NOMEM;
    float *dst = s->kind == HD_PKT_AUDIO ? p->u.audio.data : p->u.embed.data;
    memcpy(dst, s->buf + (a - s->base) * s->width, (size_t)((b - a) * s->width) * sizeof(float));
    p->pts = unit_pts(s, a);
    p->duration = unit_pts(s, b) - p->pts;
    p->flags |= HD_PKT_FLAG_SEGMENT;
    return hd_node_send(node, 0, p, err);
}

/* Pushes one frame energy; emits a finished segment. */
static hd_status push_frame(hd_node *node, seg_state *s, double db, hd_error *err) {
    hd_segment g;
    if (hd_segmenter_push(s->seg, (float)db, &g)) {
        hd_status st = emit(node, s, &g, false, err);
        if (st) return st;
    }
    return HD_OK;
}

static double mel_row_db(const float *row, int64_t dim) {
    double m = -INFINITY;
    for (int64_t b = 0; b < dim; b++)
        if (row[b] > m) m = row[b];
    if (!isfinite(m)) return -INFINITY;
    double acc = 0;
    for (int64_t b = 0; b < dim; b++) acc += exp(row[b] - m);
    return (m + log(acc)) * (10.0 / M_LN10) - MEL_DB_OFFSET;
}

static hd_node_ret seg_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    seg_state *s = state;
    if (!s->seg) {
        if (start_stream(s, in, err)) return HD_NODE_ERROR;
    } else if (in->kind != s->kind) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "input changed from %s to %s mid-stream", hd_packet_kind_name(s->kind),
                     hd_packet_kind_name(in->kind));
        return HD_NODE_ERROR;
    }
    const int64_t first = s->units;
    if (in->kind == HD_PKT_AUDIO) {
        if (in->u.audio.rate != s->rate || in->u.audio.channels != s->channels) {
            hd_error_set(err, HD_ERR_UNSUPPORTED, "audio changed from %d Hz x%d to %d Hz x%d mid-stream", s->rate,
                         s->channels, in->u.audio.rate, in->u.audio.channels);
            return HD_NODE_ERROR;
        }
        const int64_t n = in->u.audio.n_frames;
        const int ch = s->channels;
        const float *x = in->u.audio.data;
        if (buffer_append(s, x, n, err)) return HD_NODE_ERROR;
        for (int64_t i = 0; i < n; i++) {
            double e = 0;
            for (int c = 0; c < ch; c++) {
                float v = x[i * ch + c];
                if (!isfinite(v)) v = 0;
                float pv = s->have_prev ? s->prev[c] : v;
                double y = (double)v - 0.97 * (double)pv;
                e += y * y;
                s->prev[c] = v;
            }
            s->have_prev = true;
            s->acc += e / ch;
            if (++s->acc_n == s->hop) {
                double db = 10 * log10(s->acc / (double)s->hop + 1e-15);
                s->acc = 0;
                s->acc_n = 0;
                if (push_frame(node, s, db, err)) return HD_NODE_ERROR;
            }
        }
    } else {
        if (in->u.embed.dim != s->dim) {
            hd_error_set(err, HD_ERR_UNSUPPORTED, "embedding width changed from %lld to %lld mid-stream",
                         (long long)s->dim, (long long)in->u.embed.dim);
            return HD_NODE_ERROR;
        }
        const int64_t rows = in->u.embed.rows;
        if (in->pts != HD_PTS_NONE && in->pts != unit_pts(s, first)) {
            hd_error_set(err, HD_ERR_ARG, "embedding rows are not contiguous: block at %lld us, expected %lld us",
                         (long long)in->pts, (long long)unit_pts(s, first));
            return HD_NODE_ERROR;
        }
        if (buffer_append(s, in->u.embed.data, rows, err)) return HD_NODE_ERROR;
        for (int64_t r = 0; r < rows; r++)
            if (push_frame(node, s, mel_row_db(in->u.embed.data + r * s->dim, s->dim), err)) return HD_NODE_ERROR;
    }
    buffer_drop(s, hd_segmenter_keep_from(s->seg));
    return HD_NODE_OK;
}

static hd_status seg_flush(hd_node *node, void *state, hd_error *err) {
    seg_state *s = state;
    if (!s->seg) return HD_OK;
    if (s->acc_n > 0) {   /* the partial last audio frame */
        double db = 10 * log10(s->acc / (double)s->acc_n + 1e-15);
        s->acc_n = 0;
        hd_status st = push_frame(node, s, db, err);
        if (st) return st;
    }
    hd_segment g;
    if (hd_segmenter_finish(s->seg, &g)) return emit(node, s, &g, true, err);
    return HD_OK;
}

static void seg_destroy(void *state) {
    seg_state *s = state;
    if (!s) return;
    hd_segmenter_free(s->seg);
    free(s->buf);
    free(s->prev);
    free(s);
}

static const hd_option_def seg_opts[] = {
    {"max", HD_OPT_FLOAT, "30", "longest segment, seconds (cut at the quietest point before it)", 1, 3600, NULL},
    {"min-silence", HD_OPT_FLOAT, "0.6", "silence that ends a segment, seconds", 0.01, 60, NULL},
    {"min-speech", HD_OPT_FLOAT, "0.1", "shortest sound that counts as speech, seconds", 0, 10, NULL},
    {"pad", HD_OPT_FLOAT, "0.2", "kept before and after the speech, seconds (<= min-silence)", 0, 10, NULL},
    {"on", HD_OPT_FLOAT, "12", "speech starts this many dB above the noise floor", 0, 100, NULL},
    {"off", HD_OPT_FLOAT, "6", "speech continues while this many dB above the noise floor (<= on)", 0, 100, NULL},
    {"floor", HD_OPT_FLOAT, "-75", "lowest noise floor, dBFS (pre-emphasised frame power)", -140, 0, NULL},
    {"search", HD_OPT_FLOAT, "5", "seconds before `max` searched for the quietest cut point (unset: at most max/3)", 0,
     600, NULL},
    {"overlap", HD_OPT_FLOAT, "0", "seconds by which a segment cut at `max` overlaps the next", 0, 60, NULL},
};

const hd_node_type hd_node_segment = {
    .name = "segment",
    .summary = "cuts speech (audio or mel rows) into utterances by voice activity, one packet per segment",
    .inputs = seg_in,
    .n_inputs = 1,
    .outputs = seg_out,
    .n_outputs = 1,
    .options = seg_opts,
    .n_options = HD_COUNTOF(seg_opts),
    .arg_option = "max",
    .create = seg_create,
    .process = seg_process,
    .flush = seg_flush,
    .destroy = seg_destroy,
};
