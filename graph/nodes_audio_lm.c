/* graph/nodes_audio_lm.c — `audio-encoder`: the encoder + projector of a
 * published speech-LLM checkpoint (speech/audio_lm.h: Granite Speech,
 * Ultravox) as a node; the model is shared through graph/models.h with the
 * llama node that names the same checkpoint.
 *
 *   audio-encoder model=PATH [lm=LM] [segment=SECONDS]
 *        16 kHz mono audio → LM input rows (HD_EMBED_LM, begin/end ids -1:
 *        the llama node builds the family's own prompt around them), ONE
 *        packet per speech segment.  A packet flagged HD_PKT_FLAG_SEGMENT
 *        (one utterance from `segment`) is encoded alone; unflagged audio is
 *        gathered and encoded every `segment` seconds (never more than the
 *        encoder's window, e.g. Whisper's 30 s) and at the end of the stream.
 *        The family's own front end (log-mel exactly as its HF feature
 *        extractor) runs inside, on each segment's samples.
 *        pts = time of the segment's first sample, duration = its length.
 */
#include "node.h"

#include "models.h"
#include "node_hooks.h"

#include "core/exec.h"
#include "speech/audio_lm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE 16000

static const hd_port_def aenc_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_port_def aenc_out[] = {{"out", HD_KIND_BIT(HD_PKT_EMBED), 0}};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct aenc_state {
    hd_model *entry;
    int64_t max_samples;   /* gathered samples per segment */
    float *buf;            /* [n] gathered samples */
    int64_t n, cap;
    int64_t pts;           /* time of buf's first sample, HD_PTS_NONE if unknown */
    int64_t segments;
} aenc_state;

static hd_status aenc_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    aenc_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->entry = hd_model_acquire_with(HD_MODEL_AUDIO_LM, hd_opt_str(o, "model"), hd_opt_str(o, "lm"), err);
    if (!s->entry) return err ? err->code : HD_ERR_IO;
    double seg = hd_opt_float(o, "segment");
    const double win = hd_audio_lm_window_seconds(hd_model_audio_lm(s->entry));
    if (win > 0 && seg > win) seg = win;
    s->max_samples = (int64_t)(seg * RATE);
    s->pts = HD_PTS_NONE;
    return HD_OK;
}

/* Encodes samples [0, n) as one segment starting at pts. */
static hd_node_ret aenc_encode(hd_node *node, aenc_state *s, const float *pcm, int64_t n, int64_t pts,
                               hd_error *err) {
    hd_audio_lm *m = hd_model_audio_lm(s->entry);
    if (hd_audio_lm_n_rows(m, n) == 0) return HD_NODE_OK;   /* too short to say anything */
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = hd_node_pool(node), .scratch = NULL};
    float *rows = NULL;
    int64_t T = 0;
    const double t0 = now_ms();
    hd_model_lock(s->entry);
    hd_status st = hd_audio_lm_embed(m, &ex, pcm, n, &rows, &T, err);
    hd_model_unlock(s->entry);
    if (st) return HD_NODE_ERROR;
    if (T == 0) return HD_NODE_OK;
    const int64_t D = hd_audio_lm_lm(m) ? hd_audio_lm_lm(m)->cfg.n_embd : 0;
    hd_packet *out = D > 0 ? hd_packet_embed_new(T, D, err) : NULL;   /* [T, D_lm] */
    if (!out) {
        free(rows);
        return D > 0 ? HD_NODE_ERROR
                     : (hd_error_set(err, HD_ERR_ARG, "%s was loaded without its language model", hd_audio_lm_path(m)),
                        HD_NODE_ERROR);
    }
    memcpy(out->u.embed.data, rows, (size_t)(T * D) * sizeof *rows);
    free(rows);
    s->segments++;
    out->u.embed.what = HD_EMBED_LM;
    out->u.embed.begin_id = -1;
    out->u.embed.end_id = -1;
    out->flags = HD_PKT_FLAG_SEGMENT;
    out->pts = pts;
    out->duration = n * 1000000 / RATE;
    hd_node_progressf(node, "segment %lld: %.2f s, %lld LM rows in %.0f ms", (long long)s->segments,
                      n / (double)RATE, (long long)T, now_ms() - t0);
    return hd_node_send(node, 0, out, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

/* Encodes the first k gathered samples and drops them from the buffer. */
static hd_node_ret aenc_flush_samples(hd_node *node, aenc_state *s, int64_t k, hd_error *err) {
    if (k > s->n) k = s->n;
    if (k == 0) return HD_NODE_OK;
    if (aenc_encode(node, s, s->buf, k, s->pts, err) == HD_NODE_ERROR) return HD_NODE_ERROR;
    memmove(s->buf, s->buf + k, (size_t)(s->n - k) * sizeof *s->buf);
    s->n -= k;
    if (s->pts != HD_PTS_NONE) s->pts += k * 1000000 / RATE;
    return HD_NODE_OK;
}

static hd_node_ret aenc_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    aenc_state *s = state;
    if (in->u.audio.rate != RATE || in->u.audio.channels != 1)
        return hd_error_set(err, HD_ERR_ARG, "needs 16 kHz mono audio, got %d Hz, %d channels (put resample rate=16000 "
                            "channels=1 before it)", in->u.audio.rate, in->u.audio.channels),
               HD_NODE_ERROR;
    const int64_t n = in->u.audio.n_frames;
    if (n == 0) return HD_NODE_AGAIN;
    if (in->flags & HD_PKT_FLAG_SEGMENT) {
        if (aenc_flush_samples(node, s, s->n, err) == HD_NODE_ERROR) return HD_NODE_ERROR;
        /* one utterance; longer than the window only if the segmenter allows it: cut it */
        int64_t done = 0;
        while (done < n) {
            const int64_t k = n - done < s->max_samples ? n - done : s->max_samples;
            const int64_t pts = in->pts == HD_PTS_NONE ? HD_PTS_NONE : in->pts + done * 1000000 / RATE;
            if (aenc_encode(node, s, in->u.audio.data + done, k, pts, err) == HD_NODE_ERROR) return HD_NODE_ERROR;
            done += k;
        }
        return HD_NODE_OK;
    }
    if (s->n == 0) s->pts = in->pts;
    if (s->n + n > s->cap) {
        int64_t cap = s->cap ? s->cap : RATE;
        while (cap < s->n + n) cap *= 2;
        float *b = realloc(s->buf, (size_t)cap * sizeof *b);
        if (!b) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for %lld samples", (long long)cap), HD_NODE_ERROR;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, in->u.audio.data, (size_t)n * sizeof *s->buf);
    s->n += n;
    hd_node_ret r = HD_NODE_AGAIN;
    while (s->n >= s->max_samples) {
        if ((r = aenc_flush_samples(node, s, s->max_samples, err)) == HD_NODE_ERROR) return r;
        r = HD_NODE_OK;
    }
    return r;
}

static hd_status aenc_flush(hd_node *node, void *state, hd_error *err) {
    aenc_state *s = state;
    return aenc_flush_samples(node, s, s->n, err) == HD_NODE_ERROR ? (err && err->code ? err->code : HD_ERR_INTERNAL)
                                                                   : HD_OK;
}

static void aenc_destroy(void *state) {
    aenc_state *s = state;
    if (!s) return;
    hd_model_release(s->entry);
    free(s->buf);
    free(s);
}

static const hd_option_def aenc_opts[] = {
    {"model", HD_OPT_STRING, NULL, "Granite Speech or Ultravox checkpoint (HF folder or converted GGUF)", 0, 0, NULL},
    {"lm", HD_OPT_STRING, "", "its language model when the checkpoint does not hold one (HF folder or GGUF)", 0, 0,
     NULL},
    {"segment", HD_OPT_FLOAT, "30", "seconds of gathered audio per encoded segment (unsegmented input; at most the "
     "encoder's window)", 0.1, 600, NULL},
};

const hd_node_type hd_node_audio_encoder = {
    .name = "audio-encoder",
    .summary = "speech-LLM encoder (Granite Speech, Ultravox): 16 kHz audio -> LM input rows for llama task=transcribe",
    .inputs = aenc_in,
    .n_inputs = 1,
    .outputs = aenc_out,
    .n_outputs = 1,
    .options = aenc_opts,
    .n_options = HD_COUNTOF(aenc_opts),
    .arg_option = "model",
    .flags = HD_NODE_HEAVY,
    .create = aenc_create,
    .process = aenc_process,
    .flush = aenc_flush,
    .destroy = aenc_destroy,
};
