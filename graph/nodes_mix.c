/* graph/nodes_mix.c — mix: sums up to four audio streams (fan-in).
 *
 * Inputs in0..in3 (optional; link at least one) must share sample rate and
 * channel count.  They are aligned by sample count from their first sample;
 * an input that has ended contributes silence, so the output is as long as
 * the longest input.  Output frame i = gain * sum of input frames i.
 * Output is produced as soon as every input that is still running has
 * delivered that frame.  The node asks the graph for the input that is
 * furthest behind (select_input), so a fast input waits in its queue under
 * back-pressure.  When the inputs share an upstream node the graph may hand
 * over a fast input anyway (to avoid a deadlock); what piles up here is
 * capped at max-lag seconds (then the node fails rather than grow).
 */
#include "node.h"

#include <stdlib.h>
#include <string.h>

#define MIX_INPUTS 4

typedef struct mix_in {
    float *buf;          /* [len, channels] frames from `start` on */
    int64_t start, len, cap;
    bool seen, ended;
} mix_in;

typedef struct mix_state {
    mix_in in[MIX_INPUTS];
    int n_linked;
    float gain;
    double max_lag;
    int rate, channels;
    int64_t emitted;     /* output frames sent */
    float *out;
    int64_t out_cap;
} mix_state;

static hd_status mix_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    mix_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->gain = (float)hd_opt_float(o, "gain");
    s->max_lag = hd_opt_float(o, "max-lag");
    for (int i = 0; i < MIX_INPUTS; i++) s->in[i].ended = !hd_node_input_linked(node, i);
    return HD_OK;
}

/* Emits every frame all running inputs have delivered (all frames when
 * `all`), then drops what no input needs any more. */
static hd_node_ret mix_emit(hd_node *node, mix_state *s, bool all, hd_error *err) {
    int64_t end = INT64_MAX, longest = s->emitted;
    bool any_running = false;
    for (int i = 0; i < MIX_INPUTS; i++) {
        mix_in *m = &s->in[i];
        if (m->start + m->len > longest) longest = m->start + m->len;
        if (m->ended || !m->seen) continue;
        any_running = true;
        if (m->start + m->len < end) end = m->start + m->len;
    }
    /* inputs that have not delivered anything yet hold the output back */
    for (int i = 0; i < MIX_INPUTS && !all; i++)
        if (!s->in[i].seen && !s->in[i].ended) return HD_NODE_AGAIN;
    if (all || !any_running) end = longest;
    int64_t n = end - s->emitted;
    if (n <= 0) return HD_NODE_AGAIN;
    int ch = s->channels;
    if (n * ch > s->out_cap) {
        float *q = realloc(s->out, (size_t)(n * ch) * sizeof *q);
        if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        s->out = q;
        s->out_cap = n * ch;
    }
    memset(s->out, 0, (size_t)(n * ch) * sizeof *s->out);
    for (int i = 0; i < MIX_INPUTS; i++) {
        mix_in *m = &s->in[i];
        int64_t have = m->start + m->len - s->emitted;   /* frames of this input in range */
        if (have > n) have = n;
        const float *src = m->buf + (s->emitted - m->start) * ch;
        for (int64_t k = 0; k < have * ch; k++) s->out[k] += src[k];
        /* drop the consumed frames */
        int64_t used = have > 0 ? have : 0;
        if (used) {
            memmove(m->buf, m->buf + used * ch, (size_t)((m->len - used) * ch) * sizeof(float));
            m->len -= used;
            m->start += used;
        }
        if (m->start < s->emitted + n) m->start = s->emitted + n;   /* ended inputs: keep in step */
    }
    if (s->gain != 1.0f)
        for (int64_t k = 0; k < n * ch; k++) s->out[k] *= s->gain;
    hd_packet *p = hd_packet_audio_new(n, ch, s->rate, err);
    if (!p) return HD_NODE_ERROR;
    memcpy(p->u.audio.data, s->out, (size_t)(n * ch) * sizeof(float));
    p->pts = hd_samples_to_us(s->emitted, s->rate);
    p->duration = hd_samples_to_us(s->emitted + n, s->rate) - p->pts;
    s->emitted += n;
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static hd_node_ret mix_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    mix_state *s = state;
    static const char *const names[MIX_INPUTS] = {"in0", "in1", "in2", "in3"};
    if (s->rate == 0) {
        s->rate = in->u.audio.rate;
        s->channels = in->u.audio.channels;
    } else if (in->u.audio.rate != s->rate || in->u.audio.channels != s->channels) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "input '%s' is %d Hz x%d, the others %d Hz x%d (resample first)",
                     names[port], in->u.audio.rate, in->u.audio.channels, s->rate, s->channels);
        return HD_NODE_ERROR;
    }
    mix_in *m = &s->in[port];
    if (!m->seen) {
        m->seen = true;
        m->start = s->emitted;
    }
    int ch = s->channels;
    int64_t n = in->u.audio.n_frames;
    if ((double)(m->len + n) > s->max_lag * s->rate) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "input '%s' is more than %g s ahead of the others", names[port],
                     s->max_lag);
        return HD_NODE_ERROR;
    }
    if ((m->len + n) * ch > m->cap) {
        int64_t cap = (m->len + n) * ch * 2;
        float *q = realloc(m->buf, (size_t)cap * sizeof *q);
        if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        m->buf = q;
        m->cap = cap;
    }
    memcpy(m->buf + m->len * ch, in->u.audio.data, (size_t)(n * ch) * sizeof(float));
    m->len += n;
    return mix_emit(node, s, false, err);
}

static hd_node_ret mix_input_eos(hd_node *node, void *state, int port, hd_error *err) {
    mix_state *s = state;
    s->in[port].ended = true;
    if (s->rate == 0) return HD_NODE_AGAIN;   /* nothing arrived yet on any input */
    return mix_emit(node, s, false, err);
}

/* Read the running input that has delivered the fewest frames. */
static int mix_select(hd_node *node, void *state) {
    mix_state *s = state;
    int best = -1;
    int64_t least = INT64_MAX;
    for (int i = 0; i < MIX_INPUTS; i++) {
        const mix_in *m = &s->in[i];
        if (m->ended) continue;
        int64_t have = m->seen ? m->start + m->len : -1;   /* not started: most behind */
        if (have < least) {
            least = have;
            best = i;
        }
    }
    return best;
}

static hd_status mix_flush(hd_node *node, void *state, hd_error *err) {
    mix_state *s = state;
    if (s->rate == 0) return HD_OK;   /* no input ever arrived */
    for (int i = 0; i < MIX_INPUTS; i++) s->in[i].ended = true;
    return mix_emit(node, s, true, err) == HD_NODE_ERROR ? (err ? err->code : HD_ERR_INTERNAL) : HD_OK;
}

static void mix_destroy(void *state) {
    mix_state *s = state;
    if (!s) return;
    for (int i = 0; i < MIX_INPUTS; i++) free(s->in[i].buf);
    free(s->out);
    free(s);
}

static const hd_port_def mix_in_ports[MIX_INPUTS] = {
    {"in0", HD_KIND_BIT(HD_PKT_AUDIO), HD_PORT_OPTIONAL},
    {"in1", HD_KIND_BIT(HD_PKT_AUDIO), HD_PORT_OPTIONAL},
    {"in2", HD_KIND_BIT(HD_PKT_AUDIO), HD_PORT_OPTIONAL},
    {"in3", HD_KIND_BIT(HD_PKT_AUDIO), HD_PORT_OPTIONAL},
};
static const hd_port_def mix_out[] = {{"out", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_option_def mix_opts[] = {
    {"gain", HD_OPT_FLOAT, "1", "factor applied to the sum", 0, 100, NULL},
    {"max-lag", HD_OPT_FLOAT, "30", "seconds one input may run ahead of another", 0.01, 3600, NULL},
};

const hd_node_type hd_node_mix = {
    .name = "mix",
    .summary = "sums up to four audio streams of the same format, aligned by sample count",
    .inputs = mix_in_ports,
    .n_inputs = MIX_INPUTS,
    .outputs = mix_out,
    .n_outputs = 1,
    .options = mix_opts,
    .n_options = HD_COUNTOF(mix_opts),
    .create = mix_create,
    .process = mix_process,
    .flush = mix_flush,
    .input_eos = mix_input_eos,
    .select_input = mix_select,
    .destroy = mix_destroy,
};
