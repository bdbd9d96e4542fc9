/* graph/nodes_speech.c — speech front-end nodes.
 *
 *   mel   16 kHz mono audio → log-mel frames (speech/mel.h: Kaldi fbank as
 *         torchaudio.compliance.kaldi.fbank computes it, 25 ms / 10 ms).
 *         Output: embedding blocks, one row per 10 ms frame, `bins` wide;
 *         pts of a block = pts of the first input sample + frame index ×
 *         10 ms, duration = rows × 10 ms.  Frames are emitted as soon as
 *         their last sample arrives, so the output does not depend on how
 *         the audio was chunked.
 */
#include "node.h"

#include "speech/mel.h"

#include <stdlib.h>

static const hd_port_def mel_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_port_def mel_out[] = {{"out", HD_KIND_BIT(HD_PKT_EMBED), 0}};

typedef struct mel_state {
    hd_mel *mel;
    int64_t pts0;     /* time of the first input sample */
    bool started;
} mel_state;

static hd_status mel_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    mel_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    hd_mel_params p = hd_mel_default_params();
    p.n_mel = (int)hd_opt_int(o, "bins");
    s->mel = hd_mel_create(&p, err);
    return s->mel ? HD_OK : (err ? err->code : HD_ERR_ARG);
}

static hd_node_ret mel_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    mel_state *s = state;
    const hd_mel_params *p = hd_mel_params_of(s->mel);
    if (in->u.audio.channels != 1 || in->u.audio.rate != p->rate) {
        hd_error_set(err, HD_ERR_UNSUPPORTED,
                     "needs %d Hz mono audio, got %d Hz x%d (put resample:%d channels=1 before it)", p->rate,
                     in->u.audio.rate, in->u.audio.channels, p->rate);
        return HD_NODE_ERROR;
    }
    if (!s->started) {
        s->started = true;
        s->pts0 = in->pts == HD_PTS_NONE ? 0 : in->pts;
    }
    const size_t n = (size_t)in->u.audio.n_frames;
    const int64_t rows = hd_mel_frames_after(s->mel, n);
    const int64_t first = hd_mel_frames_done(s->mel);
    if (rows == 0) return hd_mel_push(s->mel, in->u.audio.data, n, NULL, 0, NULL, err) ? HD_NODE_ERROR : HD_NODE_AGAIN;
    hd_packet *out = hd_packet_embed_new(rows, p->n_mel, err);
    if (!out) return HD_NODE_ERROR;
    int64_t got = 0;
    if (hd_mel_push(s->mel, in->u.audio.data, n, out->u.embed.data, rows, &got, err)) {
        hd_packet_unref(out);
        return HD_NODE_ERROR;
    }
    out->pts = s->pts0 + hd_samples_to_us(first * p->hop, p->rate);
    out->duration = s->pts0 + hd_samples_to_us((first + got) * p->hop, p->rate) - out->pts;
    return hd_node_send(node, 0, out, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static void mel_destroy(void *state) {
    mel_state *s = state;
    if (!s) return;
    hd_mel_free(s->mel);
    free(s);
}

static const hd_option_def mel_opts[] = {
    {"bins", HD_OPT_INT, "80", "mel bins", 1, 256, NULL},
};

const hd_node_type hd_node_mel = {
    .name = "mel",
    .summary = "log-mel features (Kaldi fbank, 25 ms / 10 ms) from 16 kHz mono audio",
    .inputs = mel_in,
    .n_inputs = 1,
    .outputs = mel_out,
    .n_outputs = 1,
    .options = mel_opts,
    .n_options = HD_COUNTOF(mel_opts),
    .arg_option = "bins",
    .create = mel_create,
    .process = mel_process,
    .destroy = mel_destroy,
};
