/* apps/transcribe_graph.c — the speech-to-text graph (see transcribe_graph.h). */
#include "transcribe_graph.h"

#include "speech/audio_lm.h"

#include <stdio.h>
#include <string.h>

static int add_node(hd_graph *g, const hd_registry *reg, const char *type, const char *name, const hd_kv *kv, int n,
                    hd_error *err) {
    const hd_node_type *t = hd_registry_find(reg, type);
    if (!t) return hd_error_set(err, HD_ERR_NOTFOUND, "this herd has no '%s' node", type), -1;
    return hd_graph_add(g, t, name, kv, n, NULL, err);
}

static hd_status chain(hd_graph *g, const int *nodes, int n, hd_error *err) {
    for (int i = 0; i + 1 < n; i++) {
        hd_status st = hd_graph_link(g, nodes[i], NULL, nodes[i + 1], NULL, err);
        if (st) return st;
    }
    return HD_OK;
}

hd_status hd_transcribe_build(hd_graph *g, const hd_registry *reg, const hd_transcribe_spec *o, hd_error *err) {
    int nodes[8], k = 0;
    hd_kv kv[12];
    int n = 0;
    /* the source */
    if (!strcmp(o->input, "-")) {
        const char *sf = o->sample_format && o->sample_format[0] == 'f' ? "f32le" : "s16le";
        kv[n++] = (hd_kv){"path", "-"};
        kv[n++] = (hd_kv){"format", sf};
        kv[n++] = (hd_kv){"rate", o->rate ? o->rate : "16000"};
        kv[n++] = (hd_kv){"channels", o->channels ? o->channels : "1"};
        kv[n++] = (hd_kv){"chunk", "320"};   /* 20 ms at 16 kHz: small reads keep the latency low */
        nodes[k++] = add_node(g, reg, "raw", "audio", kv, n, err);
    } else {
        kv[n++] = (hd_kv){"path", o->input};
        nodes[k++] = add_node(g, reg, "file", "audio", kv, n, err);
    }
    if (nodes[k - 1] < 0) return err->code;
    n = 0;
    kv[n++] = (hd_kv){"rate", "16000"};
    kv[n++] = (hd_kv){"channels", "1"};
    if ((nodes[k++] = add_node(g, reg, "resample", "resample", kv, n, err)) < 0) return err->code;
    /* a published speech LLM (Granite Speech, Ultravox) runs its own front end on each segment's samples;
       the paper's speech file takes herd's log-mel rows */
    hd_audio_lm_family fam = HD_AUDIO_LM_NONE;
    hd_error derr = {0};
    if (hd_audio_lm_detect(o->model, &fam, &derr)) fam = HD_AUDIO_LM_NONE;   /* the loaders name the problem */
    if (fam == HD_AUDIO_LM_NONE && o->lm)
        return hd_error_set(err, HD_ERR_ARG, "--lm is for Granite Speech / Ultravox checkpoints; %s is none", o->model);
    if (fam == HD_AUDIO_LM_NONE && (nodes[k++] = add_node(g, reg, "mel", "mel", NULL, 0, err)) < 0) return err->code;
    n = 0;
    if (o->max_segment) kv[n++] = (hd_kv){"max", o->max_segment};   /* default 30 s: one Whisper window */
    if (o->min_silence) kv[n++] = (hd_kv){"min-silence", o->min_silence};
    if (o->overlap) kv[n++] = (hd_kv){"overlap", o->overlap};
    if ((nodes[k++] = add_node(g, reg, "segment", "segment", kv, n, err)) < 0) return err->code;
    hd_kv mk[2] = {{"model", o->model}, {"lm", o->lm ? o->lm : ""}};
    if (fam != HD_AUDIO_LM_NONE) {
        if ((nodes[k++] = add_node(g, reg, "audio-encoder", "audio-encoder", mk, 2, err)) < 0) return err->code;
    } else {
        if ((nodes[k++] = add_node(g, reg, "conformer", "conformer", mk, 1, err)) < 0) return err->code;
        if ((nodes[k++] = add_node(g, reg, "speech-adapter", "speech-adapter", mk, 1, err)) < 0) return err->code;
    }
    /* the language model */
    char n_buf[32], temp_buf[32], seed_buf[32];
    snprintf(n_buf, sizeof n_buf, "%d", o->n_predict >= 0 ? o->n_predict : 448);
    snprintf(temp_buf, sizeof temp_buf, "%g", o->temp_set ? o->temp : 0.0);
    snprintf(seed_buf, sizeof seed_buf, "%llu", (unsigned long long)(o->seed & INT64_MAX));
    n = 0;
    kv[n++] = (hd_kv){"model", o->model};
    kv[n++] = (hd_kv){"task", o->translate ? "translate" : "transcribe"};
    kv[n++] = (hd_kv){"n", n_buf};
    kv[n++] = (hd_kv){"temp", temp_buf};
    kv[n++] = (hd_kv){"seed", seed_buf};
    if (o->lm) kv[n++] = (hd_kv){"lm", o->lm};
    if (o->translate) kv[n++] = (hd_kv){"to", o->to ? o->to : "English"};
    else if (o->language) kv[n++] = (hd_kv){"language", o->language};
    int lm = nodes[k++] = add_node(g, reg, "llama", "llama", kv, n, err);
    if (lm < 0) return err->code;
    /* the sink */
    int sink;
    if (o->sink_type) {
        sink = nodes[k++] = hd_graph_add(g, o->sink_type, "output", o->sink_kv, o->n_sink_kv, NULL, err);
    } else {
        const char *format = o->format ? o->format : "txt";
        n = 0;
        kv[n++] = (hd_kv){"path", o->out ? o->out : "-"};
        if (!strcmp(format, "verbose_json")) {
            kv[n++] = (hd_kv){"task", o->translate ? "translate" : "transcribe"};
            /* transcribe: the transcript's language; translate: the spoken one, if given */
            kv[n++] = (hd_kv){"language", o->language ? o->language : o->translate ? "" : "English"};
        }
        sink = nodes[k++] = add_node(g, reg, format, "output", kv, n, err);
    }
    if (sink < 0) return err->code;
    hd_status st = chain(g, nodes, k, err);
    if (!st && o->link_tokens) st = hd_graph_link(g, lm, "tokens", sink, "tokens", err);
    return st;
}
