/* graph/nodes_speech_model.c — the speech encoder and adapter as nodes
 * (speech/conformer.h, adapters/speech_adapter.h; the models are shared
 * through graph/models.h).
 *
 *   conformer model=PATH segment=SECONDS
 *        log-mel rows (the mel node's embedding blocks, n_mel wide, 10 ms
 *        each) → encoder frames (D wide, 40 ms each), ONE packet per
 *        speech segment (HD_EMBED_SPEECH, HD_PKT_FLAG_SEGMENT).  A packet
 *        flagged HD_PKT_FLAG_SEGMENT (one utterance from a segmenter) is
 *        encoded alone; other rows are gathered and encoded every `segment`
 *        seconds and at the end of the stream (the encoder's attention
 *        spans one segment; the paper trains on segments up to 60 s).
 *        pts = time of the segment's first row, duration = its rows' span.
 *   speech-adapter model=PATH
 *        encoder frames → LM input rows (80 ms each), one packet per input
 *        packet (HD_EMBED_LM, pts/duration and flags kept), with the speech
 *        file's begin/end token ids (speech/speech_model.h; 128002/128003
 *        when the file has none) for the llama node's prompt.
 */
#include "node.h"

#include "models.h"
#include "node_hooks.h"

#include "adapters/speech_adapter.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "speech/conformer.h"
#include "speech/speech_model.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEL_ROW_US 10000   /* the mel node's hop: 10 ms */

static const hd_port_def embed_in[] = {{"in", HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_port_def embed_out[] = {{"out", HD_KIND_BIT(HD_PKT_EMBED), 0}};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- conformer ---------------------------------------------------------------------- */

typedef struct conf_state {
    hd_model *enc;
    const hd_conformer_config *c;
    int64_t max_rows;      /* gathered rows per segment (a multiple of the stack) */
    float *buf;            /* [n, n_mel] gathered rows */
    int64_t n, cap;
    int64_t pts;           /* time of buf's first row, HD_PTS_NONE if unknown */
    int64_t row_us;        /* time per row */
    int64_t segments;
} conf_state;

static hd_status conf_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    conf_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->enc = hd_model_acquire(HD_MODEL_CONFORMER, hd_opt_str(o, "model"), err);
    if (!s->enc) return err ? err->code : HD_ERR_IO;
    s->c = hd_conformer_config_of(hd_model_conformer(s->enc));
    const int64_t rows = (int64_t)(hd_opt_float(o, "segment") * 1e6 / MEL_ROW_US);
    s->max_rows = rows / s->c->stack * s->c->stack;
    if (s->max_rows < s->c->stack) s->max_rows = s->c->stack;
    s->pts = HD_PTS_NONE;
    s->row_us = MEL_ROW_US;
    return HD_OK;
}

/* Encodes rows [0, n) of mel as one segment starting at pts. */
static hd_node_ret conf_encode(hd_node *node, conf_state *s, const float *mel, int64_t n, int64_t pts, int64_t dur,
                               hd_error *err) {
    const int64_t T = hd_conformer_n_out(s->c, n);
    if (T == 0) return HD_NODE_OK;   /* shorter than one stacked frame: nothing to say */
    hd_packet *out = hd_packet_embed_new(T, s->c->n_embd, err);   /* [T, D] */
    if (!out) return HD_NODE_ERROR;
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = hd_node_pool(node), .scratch = NULL};
    double t0 = now_ms();
    hd_model_lock(s->enc);
    hd_status st = hd_conformer_encode(hd_model_conformer(s->enc), &ex, mel, n, out->u.embed.data, err);
    hd_model_unlock(s->enc);
    if (st) {
        hd_packet_unref(out);
        return HD_NODE_ERROR;
    }
    s->segments++;
    out->u.embed.what = HD_EMBED_SPEECH;
    out->flags = HD_PKT_FLAG_SEGMENT;
    out->pts = pts;
    out->duration = dur;
    hd_node_progressf(node, "segment %lld: %.2f s, %lld encoder frames in %.0f ms", (long long)s->segments,
                      n * (double)s->row_us / 1e6, (long long)T, now_ms() - t0);
    return hd_node_send(node, 0, out, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

/* Encodes the first k gathered rows and drops them from the buffer. */
static hd_node_ret conf_flush_rows(hd_node *node, conf_state *s, int64_t k, hd_error *err) {
    if (k > s->n) k = s->n;
    if (k == 0) return HD_NODE_OK;
    hd_node_ret r = conf_encode(node, s, s->buf, k, s->pts, k * s->row_us, err);
    if (r == HD_NODE_ERROR) return r;
    const int64_t D = s->c->n_mel;
    memmove(s->buf, s->buf + k * D, (size_t)((s->n - k) * D) * sizeof *s->buf);
    s->n -= k;
    if (s->pts != HD_PTS_NONE) s->pts += k * s->row_us;
    return HD_NODE_OK;
}

static hd_node_ret conf_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    conf_state *s = state;
    const int64_t D = s->c->n_mel, rows = in->u.embed.rows;
    if (in->u.embed.dim != D)
        return hd_error_set(err, HD_ERR_ARG, "needs log-mel rows of %lld bins, got %lld-wide embeddings (mel bins=%lld)",
                            (long long)D, (long long)in->u.embed.dim, (long long)D),
               HD_NODE_ERROR;
    if (rows == 0) return HD_NODE_AGAIN;
    if (in->flags & HD_PKT_FLAG_SEGMENT) {
        /* one utterance: whatever was gathered before is a segment of its own */
        if (conf_flush_rows(node, s, s->n, err) == HD_NODE_ERROR) return HD_NODE_ERROR;
        return conf_encode(node, s, in->u.embed.data, rows, in->pts, in->duration, err);
    }
    if (s->n == 0) {
        s->pts = in->pts;
        if (in->duration > 0) s->row_us = in->duration / rows;
    }
    if (s->n + rows > s->cap) {
        int64_t cap = s->cap ? s->cap : 1024;
        while (cap < s->n + rows) cap *= 2;
        float *b = realloc(s->buf, (size_t)(cap * D) * sizeof *b);
        if (!b) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for %lld mel rows", (long long)cap), HD_NODE_ERROR;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->n * D, in->u.embed.data, (size_t)(rows * D) * sizeof *s->buf);
    s->n += rows;
    hd_node_ret r = HD_NODE_AGAIN;
    while (s->n >= s->max_rows) {
        if ((r = conf_flush_rows(node, s, s->max_rows, err)) == HD_NODE_ERROR) return r;
        r = HD_NODE_OK;
    }
    return r;
}

static hd_status conf_flush(hd_node *node, void *state, hd_error *err) {
    conf_state *s = state;
    return conf_flush_rows(node, s, s->n, err) == HD_NODE_ERROR ? (err && err->code ? err->code : HD_ERR_INTERNAL)
                                                                  : HD_OK;
}

static void conf_destroy(void *state) {
    conf_state *s = state;
    if (!s) return;
    hd_model_release(s->enc);
    free(s->buf);
    free(s);
}

static const hd_option_def conf_opts[] = {
    {"model", HD_OPT_STRING, NULL, "speech encoder GGUF (conformer.* keys: a speech file or a bare encoder)", 0, 0,
     NULL},
    {"segment", HD_OPT_FLOAT, "30", "seconds of gathered mel rows per encoded segment (unsegmented input)", 0.04, 600,
     NULL},
};

const hd_node_type hd_node_conformer = {
    .name = "conformer",
    .summary = "speech encoder (Conformer): log-mel rows -> 40 ms encoder frames, one packet per segment",
    .inputs = embed_in,
    .n_inputs = 1,
    .outputs = embed_out,
    .n_outputs = 1,
    .options = conf_opts,
    .n_options = HD_COUNTOF(conf_opts),
    .arg_option = "model",
    .flags = HD_NODE_HEAVY,
    .create = conf_create,
    .process = conf_process,
    .flush = conf_flush,
    .destroy = conf_destroy,
};

/* ---- speech-adapter ----------------------------------------------------------------------- */

typedef struct adp_state {
    hd_model *adp;
    const hd_speech_adapter_config *c;
    int32_t begin_id, end_id;
    int64_t count;
} adp_state;

/* The speech file's enclosing token ids; the defaults when it has none. */
static hd_status read_ids(const char *path, int32_t *b, int32_t *e, hd_error *err) {
    *b = HD_SPEECH_BEGIN_TOKEN;
    *e = HD_SPEECH_END_TOKEN;
    hd_gguf *g = hd_gguf_open(path, err);
    if (!g) return err ? err->code : HD_ERR_IO;
    hd_status st = HD_OK;
    if (hd_gguf_find_key(g, "speech.begin_token_id") >= 0 || hd_gguf_find_key(g, "speech.end_token_id") >= 0)
        st = hd_speech_tokens_from_gguf(g, b, e, err);
    hd_gguf_close(g);
    return st;
}

static hd_status adp_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    adp_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    const char *path = hd_opt_str(o, "model");
    s->adp = hd_model_acquire(HD_MODEL_SPEECH_ADAPTER, path, err);
    if (!s->adp) return err ? err->code : HD_ERR_IO;
    s->c = hd_speech_adapter_config_of(hd_model_speech_adapter(s->adp));
    return read_ids(path, &s->begin_id, &s->end_id, err);
}

static hd_node_ret adp_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    adp_state *s = state;
    if (in->u.embed.dim != s->c->n_in)
        return hd_error_set(err, HD_ERR_ARG, "needs speech encoder frames %d wide, got %lld-wide embeddings",
                            s->c->n_in, (long long)in->u.embed.dim),
               HD_NODE_ERROR;
    const int64_t T = hd_speech_adapter_n_out(s->c, in->u.embed.rows);
    if (T == 0) return HD_NODE_AGAIN;
    hd_packet *out = hd_packet_embed_new(T, s->c->n_out, err);   /* [T, D_lm] */
    if (!out) return HD_NODE_ERROR;
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = hd_node_pool(node), .scratch = NULL};
    double t0 = now_ms();
    hd_model_lock(s->adp);
    hd_status st = hd_speech_adapter_encode(hd_model_speech_adapter(s->adp), &ex, in->u.embed.data, in->u.embed.rows,
                                            out->u.embed.data, err);
    hd_model_unlock(s->adp);
    if (st) {
        hd_packet_unref(out);
        return HD_NODE_ERROR;
    }
    s->count++;
    out->u.embed.what = HD_EMBED_LM;
    out->u.embed.begin_id = s->begin_id;
    out->u.embed.end_id = s->end_id;
    out->flags = in->flags;
    out->pts = in->pts;
    out->duration = in->duration;
    hd_node_progressf(node, "segment %lld: %lld LM rows in %.0f ms", (long long)s->count, (long long)T, now_ms() - t0);
    return hd_node_send(node, 0, out, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static void adp_destroy(void *state) {
    adp_state *s = state;
    if (!s) return;
    hd_model_release(s->adp);
    free(s);
}

static const hd_option_def adp_opts[] = {
    {"model", HD_OPT_STRING, NULL, "speech file with the adapter (speech_adapter.* keys)", 0, 0, NULL},
};

const hd_node_type hd_node_speech_adapter = {
    .name = "speech-adapter",
    .summary = "speech adapter: encoder frames -> LM input embeddings (80 ms each) for llama task=transcribe",
    .inputs = embed_in,
    .n_inputs = 1,
    .outputs = embed_out,
    .n_outputs = 1,
    .options = adp_opts,
    .n_options = HD_COUNTOF(adp_opts),
    .arg_option = "model",
    .flags = HD_NODE_HEAVY,
    .create = adp_create,
    .process = adp_process,
    .destroy = adp_destroy,
};
