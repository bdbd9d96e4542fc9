/* graph/nodes_tts.c — the `tts` node: text in (any pieces, e.g. an LM's
 * tokens as they are generated), speech out, sentence by sentence
 * (speech/tts.h).  Audio packets carry exact timestamps from the sample
 * count; each sentence's audio is sent in packets of `chunk` frames as soon
 * as the sentence is complete.
 *
 * With `lm=MODEL` (and a TN or prosody model) the node reads the text with
 * that Llama 3 too (shared through graph/models.h with any llama node naming
 * the same file; its own context of `lm-ctx` positions) and the models
 * cross-attend to its layer-`lm-layer` states (-1: the models' file, else
 * n_layer/2).  Without `lm` the models run without LM tokens. */
#include "models.h"
#include "node.h"
#include "node_hooks.h"

#include "speech/prosody.h"
#include "speech/tn_model.h"
#include "speech/tts.h"

#include <stdlib.h>
#include <string.h>

static const hd_port_def tts_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_port_def tts_out[] = {{"out", HD_KIND_BIT(HD_PKT_AUDIO), 0}};

typedef struct tts_state {
    hd_node *node;
    hd_tts *tts;
    hd_prosody_model *pm;
    hd_tn_model *tn;
    hd_exec ex;
    hd_model *lm_entry, *tok_entry;   /* the LM and its tokenizer (lm=), or NULL */
    hd_llama_context *lm;             /* owned */
    int rate;
    int64_t chunk, index;   /* frames per packet, frames sent so far */
} tts_state;

static hd_status tts_audio(void *user, const float *pcm, int64_t n, hd_error *err) {
    tts_state *s = user;
    for (int64_t i = 0; i < n;) {
        int64_t k = n - i < s->chunk ? n - i : s->chunk;
        hd_packet *p = hd_packet_audio_new(k, 1, s->rate, err);
        if (!p) return err ? err->code : HD_ERR_NOMEM;
        memcpy(p->u.audio.data, pcm + i, (size_t)k * sizeof(float));
        p->pts = hd_samples_to_us(s->index, s->rate);
        p->duration = hd_samples_to_us(s->index + k, s->rate) - p->pts;
        hd_status st = hd_node_send(s->node, 0, p, err);
        if (st) return st;
        s->index += k;
        i += k;
    }
    /* a sentence's audio goes out now, not when the text packet is done */
    hd_node_deliver_now(s->node);
    const hd_node_hooks *h = hd_node_hooks_of(s->node);
    if (h && h->audio) h->audio(h->ctx, hd_node_name(s->node), n, s->rate);
    return HD_OK;
}

static hd_status tts_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    tts_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->node = node;
    s->chunk = hd_opt_int(o, "chunk");
    s->rate = (int)hd_opt_int(o, "rate");
    s->ex = (hd_exec){.backend = HD_BACKEND_CPU};
    hd_tts_params p = hd_tts_default_params();
    p.voice = hd_opt_str(o, "voice");
    p.rate_wpm = (int)hd_opt_int(o, "wpm");
    p.pitch = (int)hd_opt_int(o, "pitch");
    p.sample_rate = s->rate;
    p.no_normalize = !hd_opt_bool(o, "normalize");
    p.first_cut = (int)hd_opt_int(o, "first-cut");
    const char *pm = hd_opt_str(o, "prosody");
    if (pm[0]) {
        if (!(s->pm = hd_prosody_load(pm, err))) return err ? err->code : HD_ERR_IO;
        p.prosody = s->pm;
        p.ex = &s->ex;
    }
    const char *tn = hd_opt_str(o, "tn");
    if (tn[0]) {
        if (!(s->tn = hd_tn_model_load(tn, err))) return err ? err->code : HD_ERR_IO;
        p.tn = s->tn;
        p.ex = &s->ex;
    }
    const char *lm = hd_opt_str(o, "lm");
    if (lm[0] && !s->pm && !s->tn)
        return hd_error_set(err, HD_ERR_ARG, "lm=%s feeds the prosody model or the TN tagger: give prosody= or tn=", lm);
    if (lm[0]) {
        if (!(s->lm_entry = hd_model_acquire(HD_MODEL_LLAMA, lm, err))) return err ? err->code : HD_ERR_IO;
        const hd_llama_model *m = hd_model_llama(s->lm_entry);
        if (!(s->tok_entry = hd_model_acquire(HD_MODEL_TOKENIZER, m->source, err)))
            return hd_error_prefix(err, "the LM's tokenizer");
        hd_llama_context_params cp = hd_llama_context_default_params();
        cp.n_ctx = hd_opt_int(o, "lm-ctx");
        cp.n_threads = hd_threadpool_size(hd_node_pool(node));
        cp.states_only = true;   /* the TTS models need layer L's states, never the logits */
        if (!(s->lm = hd_llama_context_create(m, &cp, err))) return err ? err->code : HD_ERR_NOMEM;
        p.lm = s->lm;
        p.lm_tok = hd_model_tokenizer(s->tok_entry);
        p.lm_layer = (int)hd_opt_int(o, "lm-layer");
    }
    if (!(s->tts = hd_tts_create(&p, tts_audio, s, err))) return err ? err->code : HD_ERR_ARG;
    return HD_OK;
}

static hd_node_ret tts_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    tts_state *s = state;
    s->node = node;
    s->ex.pool = hd_node_pool(node);
    return hd_tts_push(s->tts, in->u.text.text, in->u.text.len, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static hd_status tts_flush(hd_node *node, void *state, hd_error *err) {
    tts_state *s = state;
    s->node = node;
    s->ex.pool = hd_node_pool(node);
    return hd_tts_finish(s->tts, err);
}

static void tts_destroy(void *state) {
    tts_state *s = state;
    if (!s) return;
    hd_tts_free(s->tts);
    hd_llama_context_free(s->lm);
    hd_model_release(s->tok_entry);
    hd_model_release(s->lm_entry);
    hd_prosody_free(s->pm);
    hd_tn_model_free(s->tn);
    free(s);
}

static const hd_option_def tts_opts[] = {
    {"voice", HD_OPT_STRING, "en-us+klatt", "espeak-ng voice (en-us, en-us+klatt, en-us+f3, ...)", 0, 0, NULL},
    {"wpm", HD_OPT_INT, "175", "speaking rate, words per minute", 80, 450, NULL},
    {"pitch", HD_OPT_INT, "50", "base pitch", 0, 100, NULL},
    {"rate", HD_OPT_INT, "22050", "output sample rate", 8000, 48000, NULL},
    {"normalize", HD_OPT_BOOL, "true", "read numbers, dates, units, abbreviations out (rule-based TN)", 0, 0, NULL},
    {"prosody", HD_OPT_STRING, "", "prosody model GGUF (speech/prosody.h); empty = espeak-ng's prosody", 0, 0, NULL},
    {"tn", HD_OPT_STRING, "", "TN tagger GGUF (speech/tn_model.h); empty = rule-based normaliser alone", 0, 0, NULL},
    {"lm", HD_OPT_STRING, "", "Llama 3 model whose hidden states the TN and prosody models cross-attend to; "
                              "empty = none", 0, 0, NULL},
    {"lm-layer", HD_OPT_INT, "-1", "LM layer of those states (-1: the models' token_layer, else n_layer/2)", -1, 1024,
     NULL},
    {"lm-ctx", HD_OPT_INT, "2048", "positions of the node's LM context (restarted when full)", 512, 1 << 20, NULL},
    {"first-cut", HD_OPT_INT, "0", "also end an utterance's first segment at its first \", \" past N bytes (0 = sentences)",
     0, 1 << 20, NULL},
    {"chunk", HD_OPT_INT, "4096", "frames per audio packet", 1, 1 << 20, NULL},
};

const hd_node_type hd_node_tts = {
    .name = "tts",
    .summary = "text to speech, sentence by sentence as the text arrives (espeak-ng phones, TD-PSOLA vocoder, "
               "optional prosody model)",
    .inputs = tts_in,
    .n_inputs = 1,
    .outputs = tts_out,
    .n_outputs = 1,
    .options = tts_opts,
    .n_options = HD_COUNTOF(tts_opts),
    .arg_option = "voice",
    .flags = HD_NODE_HEAVY,
    .create = tts_create,
    .process = tts_process,
    .flush = tts_flush,
    .destroy = tts_destroy,
};
