/* apps/cmd_caption.c — `herd caption -m MODEL VIDEO`: describe a video (or
 * answer a question about it, or caption consecutive segments of it) with a
 * Llama 3.2 Vision model.
 *
 * Video mode (a video model: `herd random-model --arch video`, the paper's
 * video path of SPEC §3): the frames' image states are merged G at a time by
 * the temporal aggregator into effective frames that the video
 * cross-attention layers attend to (lm/llama.h "video cross-attention"):
 *
 *   video:VIDEO ─ vit ─ vagg group=G ─ llama task=ask video=true group=E frame-times=true ─ sinks
 *
 * (K frames per caption, default 2·G as the paper's SFT: 64 frames, 32 per
 * effective frame; E = K/G effective frames per caption.)
 *
 * Image mode (a model without video layers, or --image-mode): the
 * sampled frames go in as several images, with their times in the prompt.
 * The command only builds a processing graph and runs it:
 *
 *   video:VIDEO frames=S·K ─ vit ─ llama task=ask group=K frame-times=true ─┬─ out    → sink
 *                                                                             └─ tokens → sink
 *
 * which is exactly `herd run "video:V frames=8 ! vit model=M ! llama model=M
 * task=ask group=8 frame-times=true prompt=Q ! stdout"`: the video node
 * decodes only the sampled frames and hands them on one at a time (the video
 * is never held whole), the vit node encodes each frame with the image path,
 * and the llama node answers each run of K frames as soon as its K-th frame
 * is encoded, then drops those frames.  One run = one caption (--segments S:
 * S runs of K frames, uniformly spread over the clip, so run i covers the
 * i-th S-th of it).  --fps R samples R frames a second instead and captions
 * every K of them.
 *
 * --with-audio SPEECH first transcribes the file's audio track with the
 * speech model (the graph of `herd transcribe`) and puts the transcript in
 * every question, each speech segment after its times ("[0.3 s to 3.8 s]
 * ...", so a segment's caption can be matched to what was said then).
 *
 * Output: the caption streams to stdout as it is generated (one caption);
 * with --format txt|srt|vtt|json (or --segments) the text sinks of
 * graph/nodes_text.c write the captions with the times of their frames (from
 * the first frame of the run to the end of the last one's display interval);
 * --json prints one object with the mode, the frames and every caption. */
#include "cli.h"
#include "llama_opts.h"

#include "core/threadpool.h"
#include "graph/graph.h"
#include "graph/node_hooks.h"
#include "graph/registry.h"
#include "graph/video_prompt.h"
#include "core/gguf.h"
#include "lm/chat.h"
#include "media/video.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_INTERRUPTED 130
#define MAX_FRAMES_PER_CAPTION 16   /* image mode: the llama node's images per answer */
#define MAX_EFFECTIVE_FRAMES 16     /* video mode: effective frames per answer */
#define DEFAULT_FRAMES 8            /* image mode */
#define MAX_SEGMENTS 10000

extern const hd_command hd_cmd_caption;

static const char k_default_question[] = "Describe what happens in this video.";

typedef struct cap_opts {
    hd_cli *cli;
    const char *question, *system, *vision, *with_audio, *format, *out;
    hd_llama_opts lm;   /* --top-k/--top-p/--min-p/-c for the llama node */
    long long frames, segments;
    bool frames_set, segments_set;
    double fps;
    bool fps_set, image_mode, hf_mask, bad;
} cap_opts;

static int flag(void *vctx, const char *f, const char *v) {
    cap_opts *o = vctx;
    long long n = 0;
    double d = 0;
    if (!strcmp(f, "--question")) { o->question = v; return 1; }
    if (!strcmp(f, "--system")) { o->system = v; return 1; }
    if (!strcmp(f, "--vision")) { o->vision = v; return 1; }
    if (!strcmp(f, "--with-audio")) { o->with_audio = v; return 1; }
    if (!strcmp(f, "-o") || !strcmp(f, "--output")) { o->out = v; return 1; }
    if (!strcmp(f, "-f") || !strcmp(f, "--format")) {
        o->format = v;
        if (v && strcmp(v, "txt") && strcmp(v, "srt") && strcmp(v, "vtt") && strcmp(v, "json")) {
            hd_cli_usage_error(o->cli, "--format: '%s' is not one of txt, srt, vtt, json", v);
            o->bad = true;
        }
        return 1;
    }
    if (!strcmp(f, "--image-mode")) { o->image_mode = true; return 0; }
    if (!strcmp(f, "--hf-mask")) { o->hf_mask = true; return 0; }
    if (!strcmp(f, "--frames")) {
        if (v && !hd_cli_int(o->cli, f, v, 1, 100000, &n)) o->bad = true;
        o->frames = n;
        o->frames_set = true;
        return 1;
    }
    if (!strcmp(f, "--segments")) {
        if (v && !hd_cli_int(o->cli, f, v, 1, MAX_SEGMENTS, &n)) o->bad = true;
        o->segments = n;
        o->segments_set = true;
        return 1;
    }
    if (!strcmp(f, "--fps")) {
        if (v && !hd_cli_float(o->cli, f, v, &d)) o->bad = true;
        else if (v && !(d > 0 && d <= 1000)) {
            hd_cli_usage_error(o->cli, "--fps: %s is out of range (0, 1000]", v);
            o->bad = true;
        }
        o->fps = d;
        o->fps_set = true;
        return 1;
    }
    int lr = hd_llama_opts_flag(o->cli, &o->lm, f, v, &o->bad);
    if (lr >= 0) return lr;
    return -1;
}

/* ---- what a run produces ------------------------------------------------------------- */

typedef struct caption {
    int64_t pts, dur;
    char *text;
    size_t len;
    hd_tokens ids;
    bool closed;       /* its last text piece came */
} caption;

typedef struct collect {
    pthread_mutex_t mu;
    const hd_cli *cli;
    const char *cmd;
    bool live;         /* print the text as it is generated */
    bool printed_any;
    caption *caps;
    int n_caps, cap_caps;
    int n_ids;         /* id packets received (one per caption, in order) */
    int64_t *frame_pts;
    int n_frames, cap_frames;
    bool oom;
} collect;

static void hook_text(void *ctx, const char *node, const char *piece, size_t len, bool end) {
    (void)node;
    (void)end;
    collect *c = ctx;
    if (!c->live || !len) return;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    c->printed_any = true;
}

static void hook_progress(void *ctx, const char *node, const char *line) {
    collect *c = ctx;
    pthread_mutex_lock(&c->mu);
    hd_cli_progress(c->cli, "herd %s: %s: %s\n", c->cmd, node, line);
    pthread_mutex_unlock(&c->mu);
}

static caption *open_caption(collect *c, const hd_packet *in) {
    if (c->n_caps > 0 && !c->caps[c->n_caps - 1].closed) return &c->caps[c->n_caps - 1];
    if (c->n_caps == c->cap_caps) {
        int cap = c->cap_caps ? 2 * c->cap_caps : 8;
        caption *t = realloc(c->caps, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        c->caps = t;
        c->cap_caps = cap;
    }
    caption *k = &c->caps[c->n_caps++];
    memset(k, 0, sizeof *k);
    k->pts = in->pts;
    k->dur = in->duration;
    return k;
}

/* Port 0: the captions' text pieces; 1: their ids; 2: the frames' times (vit output). */
static hd_node_ret sink_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)state;
    collect *c = hd_node_hooks_of(node)->ctx;
    pthread_mutex_lock(&c->mu);
    if (port == 2) {
        if (c->n_frames == c->cap_frames) {
            int cap = c->cap_frames ? 2 * c->cap_frames : 16;
            int64_t *t = realloc(c->frame_pts, (size_t)cap * sizeof *t);
            if (!t) c->oom = true;
            else {
                c->frame_pts = t;
                c->cap_frames = cap;
            }
        }
        if (!c->oom) c->frame_pts[c->n_frames++] = in->pts;
    } else if (port == 1) {
        if (c->n_ids < c->n_caps && hd_tokens_push(&c->caps[c->n_ids].ids, in->u.tokens.ids, (size_t)in->u.tokens.n, err))
            c->oom = true;
        c->n_ids++;
    } else {
        caption *k = open_caption(c, in);
        char *t = k ? realloc(k->text, k->len + in->u.text.len + 1) : NULL;
        if (!t) c->oom = true;
        else {
            memcpy(t + k->len, in->u.text.text, in->u.text.len);
            k->len += in->u.text.len;
            t[k->len] = 0;
            k->text = t;
            k->closed = !(in->flags & HD_PKT_FLAG_PARTIAL);
        }
    }
    bool oom = c->oom;
    pthread_mutex_unlock(&c->mu);
    if (oom) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for the captions"), HD_NODE_ERROR;
    return HD_NODE_OK;
}

static const hd_port_def sink_in[] = {
    {"text", HD_KIND_BIT(HD_PKT_TEXT), HD_PORT_OPTIONAL},
    {"tokens", HD_KIND_BIT(HD_PKT_TOKENS), HD_PORT_OPTIONAL},
    {"frames", HD_KIND_BIT(HD_PKT_EMBED), HD_PORT_OPTIONAL},
};
static const hd_node_type k_sink = {
    .name = "captions",
    .summary = "herd caption: gathers the captions, their ids and the frames' times",
    .inputs = sink_in,
    .n_inputs = 3,
    .process = sink_process,
};

static void collect_free(collect *c) {
    for (int i = 0; i < c->n_caps; i++) {
        free(c->caps[i].text);
        hd_tokens_free(&c->caps[i].ids);
    }
    free(c->caps);
    free(c->frame_pts);
    c->caps = NULL;
    c->frame_pts = NULL;
    c->n_caps = c->cap_caps = c->n_ids = c->n_frames = c->cap_frames = 0;
}

/* ---- running a graph -------------------------------------------------------------------- */

static int add_node(hd_graph *g, const hd_registry *reg, const char *type, const char *name, const hd_kv *kv, int n,
                    hd_error *err) {
    const hd_node_type *t = hd_registry_find(reg, type);
    if (!t) return hd_error_set(err, HD_ERR_NOTFOUND, "this herd has no '%s' node", type), -1;
    return hd_graph_add(g, t, name, kv, n, NULL, err);
}

/* Runs g to its end on `pool` (borrowed; it must outlive g); Ctrl-C cancels
 * it.  *interrupted tells whether it was.  Once the nodes are created (the
 * models loaded: no more setup errors) the lines in `pending` go to stderr as
 * progress and pending is emptied, so a failing run prints its error alone. */
static hd_status run_graph(hd_graph *g, hd_threadpool *pool, const hd_cli *cli, char *pending, bool *interrupted,
                           hd_error *err) {
    hd_graph_set_pool(g, pool);
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    *interrupted = false;
    hd_status st = hd_graph_start(g, err);
    if (!st) {
        if (pending[0]) hd_cli_progress(cli, "%s", pending);
        pending[0] = 0;
        while (!hd_graph_done(g)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            int sig = sigtimedwait(&sigs, NULL, &ts);
            if ((sig == SIGINT || sig == SIGTERM) && !*interrupted) {
                *interrupted = true;
                hd_graph_cancel(g);
            }
        }
        st = hd_graph_wait(g, err);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

/* Errors of the media sources name the file already: drop "node 'NAME': ". */
static void strip_source_prefix(hd_error *err) {
    static const char *const k_src[] = {"node 'video': ", "node 'audio': "};
    for (size_t i = 0; i < sizeof k_src / sizeof k_src[0]; i++) {
        size_t l = strlen(k_src[i]);
        if (!strncmp(err->msg, k_src[i], l)) memmove(err->msg, err->msg + l, strlen(err->msg) - l + 1);
    }
}

/* --with-audio: the transcript of the file's audio track in *out (speech
 * segments joined by spaces) and in *timed (each segment after its times,
 * "[0.3 s to 3.8 s] words"), both malloc'd, "" when nothing was said. */
static hd_status transcribe(const hd_registry *reg, const cap_opts *o, hd_threadpool *pool, const char *video,
                            hd_node_hooks *hooks, char *pending, char **out, char **timed, hd_error *err) {
    collect *c = hooks->ctx;
    *out = *timed = NULL;
    hd_graph_params gp = hd_graph_default_params();
    gp.user = hooks;
    hd_graph *g = hd_graph_create(&gp, err);
    if (!g) return err->code;
    int nodes[7], k = 0;
    hd_kv kv[4];
    kv[0] = (hd_kv){"path", video};
    nodes[k++] = add_node(g, reg, "file", "audio", kv, 1, err);
    kv[0] = (hd_kv){"rate", "16000"};
    kv[1] = (hd_kv){"channels", "1"};
    if (nodes[k - 1] >= 0) nodes[k++] = add_node(g, reg, "resample", "resample", kv, 2, err);
    if (nodes[k - 1] >= 0) nodes[k++] = add_node(g, reg, "mel", "mel", NULL, 0, err);
    if (nodes[k - 1] >= 0) nodes[k++] = add_node(g, reg, "segment", "segment", NULL, 0, err);
    hd_kv mk = {"model", o->with_audio};
    if (nodes[k - 1] >= 0) nodes[k++] = add_node(g, reg, "conformer", "conformer", &mk, 1, err);
    if (nodes[k - 1] >= 0) nodes[k++] = add_node(g, reg, "speech-adapter", "speech-adapter", &mk, 1, err);
    kv[0] = (hd_kv){"model", o->with_audio};
    kv[1] = (hd_kv){"task", "transcribe"};
    kv[2] = (hd_kv){"temp", "0"};
    kv[3] = (hd_kv){"n", "448"};   /* herd transcribe's limit per speech segment */
    if (nodes[k - 1] >= 0) nodes[k++] = add_node(g, reg, "llama", "speech-llama", kv, 4, err);
    int sink = nodes[k - 1] >= 0 ? hd_graph_add(g, &k_sink, "transcript", NULL, 0, NULL, err) : -1;
    hd_status st = sink < 0 ? err->code : HD_OK;
    for (int i = 0; !st && i + 1 < k; i++) st = hd_graph_link(g, nodes[i], NULL, nodes[i + 1], NULL, err);
    if (!st) st = hd_graph_link(g, nodes[k - 1], "out", sink, "text", err);
    bool interrupted = false;
    const bool live = c->live;
    c->live = false;
    if (!st) st = run_graph(g, pool, c->cli, pending, &interrupted, err);
    c->live = live;
    hd_graph_free(g);
    if (interrupted && st == HD_ERR_CANCELLED) {
        collect_free(c);
        return st;
    }
    if (st) {
        strip_source_prefix(err);
        hd_error_prefix(err, "--with-audio");
        collect_free(c);
        return st;
    }
    size_t len = 0;
    for (int i = 0; i < c->n_caps; i++) len += c->caps[i].len + 80;
    char *t = malloc(len + 1), *tt = malloc(len + 1);
    if (!t || !tt) {
        free(t);
        free(tt);
        collect_free(c);
        return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    }
    size_t n = 0, nt = 0;
    for (int i = 0; i < c->n_caps; i++) {
        const caption *k = &c->caps[i];
        const char *s = k->text ? k->text : "";
        size_t l = k->len;
        while (l && (*s == ' ' || *s == '\n')) s++, l--;
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\n')) l--;
        if (!l) continue;
        if (n) t[n++] = ' ';
        memcpy(t + n, s, l);
        n += l;
        if (nt) tt[nt++] = ' ';
        if (k->pts != HD_PTS_NONE) {
            char a[32], b[32];
            hd_video_time_text(k->pts, a, sizeof a);
            hd_video_time_text(k->pts + k->dur, b, sizeof b);
            nt += (size_t)snprintf(tt + nt, len + 1 - nt, "[%s to %s] ", a, b);
        }
        memcpy(tt + nt, s, l);
        nt += l;
    }
    t[n] = 0;
    tt[nt] = 0;
    collect_free(c);
    *out = t;
    *timed = tt;
    return HD_OK;
}

/* What the model can do with a video. */
typedef struct plan {
    bool video;         /* video mode */
    int k_frames;       /* frames per caption */
    int agg_group;      /* video: frames per effective frame */
    int n_eff;          /* video: effective frames per caption */
} plan;

static hd_status build(hd_graph *g, const hd_registry *reg, const cap_opts *o, const hd_cli *cli, const char *video,
                       const char *question, const plan *pl, const char *format, hd_error *err) {
    char n_buf[32], temp_buf[32], seed_buf[32], k_buf[16], total_buf[32], fps_buf[32], ag_buf[16];
    const int k_frames = pl->k_frames;
    hd_kv kv[20];
    int n = 0;
    /* the language model first: its create reports a model that cannot see
     * images before anything is decoded */
    snprintf(n_buf, sizeof n_buf, "%d", cli->n_predict >= 0 ? cli->n_predict : 256);
    snprintf(temp_buf, sizeof temp_buf, "%g", cli->temp_set ? cli->temp : 0.6);
    snprintf(seed_buf, sizeof seed_buf, "%llu", (unsigned long long)(cli->seed & INT64_MAX));
    snprintf(k_buf, sizeof k_buf, "%d", pl->video ? pl->n_eff : k_frames);
    kv[n++] = (hd_kv){"model", cli->model};
    kv[n++] = (hd_kv){"task", "ask"};
    kv[n++] = (hd_kv){"prompt", question};
    kv[n++] = (hd_kv){"group", k_buf};
    if (pl->video) kv[n++] = (hd_kv){"video", "true"};
    kv[n++] = (hd_kv){"frame-times", "true"};
    kv[n++] = (hd_kv){"n", n_buf};
    kv[n++] = (hd_kv){"temp", temp_buf};
    kv[n++] = (hd_kv){"seed", seed_buf};
    if (o->system) kv[n++] = (hd_kv){"system", o->system};
    n += hd_llama_opts_kv(&o->lm, kv + n);
    if (o->hf_mask) kv[n++] = (hd_kv){"hf-mask", "true"};
    int lm = add_node(g, reg, "llama", "llama", kv, n, err);
    if (lm < 0) return err->code;
    hd_kv vk = {"model", o->vision ? o->vision : cli->model};
    int vit = add_node(g, reg, "vit", "vit", &vk, 1, err);
    if (vit < 0) return err->code;
    n = 0;
    kv[n++] = (hd_kv){"path", video};
    if (o->fps_set) {
        snprintf(fps_buf, sizeof fps_buf, "%.17g", o->fps);
        kv[n++] = (hd_kv){"sampling", "fps"};
        kv[n++] = (hd_kv){"fps", fps_buf};
    } else {
        snprintf(total_buf, sizeof total_buf, "%lld", (long long)k_frames * (o->segments_set ? o->segments : 1));
        kv[n++] = (hd_kv){"sampling", "uniform"};
        kv[n++] = (hd_kv){"frames", total_buf};
    }
    int src = add_node(g, reg, "video", "video", kv, n, err);
    if (src < 0) return err->code;
    int sink = hd_graph_add(g, &k_sink, "captions", NULL, 0, NULL, err);
    if (sink < 0) return err->code;
    int into_lm = vit;
    if (pl->video) {   /* the temporal aggregator between the encoder and the LM */
        snprintf(ag_buf, sizeof ag_buf, "%d", pl->agg_group);
        hd_kv ak[2] = {{"model", cli->model}, {"group", ag_buf}};
        if ((into_lm = add_node(g, reg, "vagg", "vagg", ak, 2, err)) < 0) return err->code;
        hd_status st = hd_graph_link(g, vit, NULL, into_lm, NULL, err);
        if (st) return st;
    }
    hd_status st;
    if ((st = hd_graph_link(g, src, NULL, vit, NULL, err)) || (st = hd_graph_link(g, into_lm, NULL, lm, "embed", err)) ||
        (st = hd_graph_link(g, vit, NULL, sink, "frames", err)) || (st = hd_graph_link(g, lm, "out", sink, "text", err)) ||
        (st = hd_graph_link(g, lm, "tokens", sink, "tokens", err)))
        return st;
    if (format) {
        hd_kv pk = {"path", o->out ? o->out : "-"};
        int out = add_node(g, reg, format, "output", &pk, 1, err);
        if (out < 0 || (st = hd_graph_link(g, lm, "out", out, NULL, err))) return err->code;
        if (cli->ids && !strcmp(format, "txt") && (st = hd_graph_link(g, lm, "tokens", out, "tokens", err))) return st;
    }
    return HD_OK;
}

static int print_json(const collect *c, const char *mode, const char *transcript) {
    cJSON *root = cJSON_CreateObject(), *segs = cJSON_CreateArray(), *frames = cJSON_CreateArray();
    bool ok = root && segs && frames;
    for (int i = 0; ok && i < c->n_frames; i++) ok = cJSON_AddItemToArray(frames, cJSON_CreateNumber(c->frame_pts[i] / 1e6));
    for (int i = 0; ok && i < c->n_caps; i++) {
        const caption *k = &c->caps[i];
        cJSON *s = cJSON_CreateObject(), *ids = cJSON_CreateArray();
        cJSON *text = hd_cli_json_bytes(k->text ? k->text : "", k->len);
        ok = s && ids && text && cJSON_AddItemToArray(segs, s);
        if (!ok) {
            cJSON_Delete(s);
            cJSON_Delete(ids);
            cJSON_Delete(text);
            break;
        }
        for (size_t j = 0; ok && j < k->ids.n; j++) ok = cJSON_AddItemToArray(ids, cJSON_CreateNumber(k->ids.ids[j]));
        cJSON_AddNumberToObject(s, "start", k->pts == HD_PTS_NONE ? 0 : k->pts / 1e6);
        cJSON_AddNumberToObject(s, "end", k->pts == HD_PTS_NONE ? 0 : (k->pts + k->dur) / 1e6);
        cJSON_AddItemToObject(s, "text", text);
        cJSON_AddItemToObject(s, "ids", ids);
    }
    if (ok) {
        cJSON_AddStringToObject(root, "mode", mode);
        cJSON_AddItemToObject(root, "frames", frames);
        cJSON_AddItemToObject(root, "segments", segs);
        frames = segs = NULL;
        if (transcript) cJSON_AddStringToObject(root, "transcript", transcript);
    }
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    if (out) printf("%s\n", out);
    free(out);
    cJSON_Delete(root);
    cJSON_Delete(segs);
    cJSON_Delete(frames);
    return out ? HD_EXIT_OK : HD_EXIT_INPUT;
}

/* A video model (lm/llama.h "video cross-attention"): an mllama GGUF with
 * video layers and the temporal aggregator.  *group = the aggregator's G. */
static bool is_video_model(const char *path, int *group) {
    size_t n = strlen(path);
    if (n < 5 || strcmp(path + n - 5, ".gguf")) return false;
    hd_error e = {0};
    hd_gguf *g = hd_gguf_open(path, &e);
    if (!g) return false;   /* the llama node reports what is wrong with it */
    uint32_t G = 0;
    bool video = hd_gguf_find_key(g, "mllama.video.cross_attention_layers") >= 0 &&
                 hd_gguf_get_u32(g, "video_aggregator.group_frames", &G) && G > 0;
    hd_gguf_close(g);
    *group = (int)G;
    return video;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    cap_opts o = {.cli = &cli, .frames = DEFAULT_FRAMES, .segments = 1};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(hd_cmd_caption.usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "no model (-m MODEL)");
    if (cli.n_pos == 0) return hd_cli_usage_error(&cli, "no video file");
    if (cli.n_pos > 1) return hd_cli_usage_error(&cli, "one video at a time (got '%s' and '%s')", cli.pos[0], cli.pos[1]);
    if (o.fps_set && o.segments_set)
        return hd_cli_usage_error(&cli, "--segments spreads --frames over equal parts of the clip; with --fps every "
                                        "--frames frames are one segment already");
    if (cli.json && o.format) return hd_cli_usage_error(&cli, "--json prints its own object; drop --format %s", o.format);
    if (o.out && !o.out[0]) return hd_cli_usage_error(&cli, "-o: empty file name");
    if (o.out && cli.json) return hd_cli_usage_error(&cli, "--json prints to stdout; drop -o");
    if (o.question && !o.question[strspn(o.question, " \t\r\n")]) return hd_cli_usage_error(&cli, "--question is empty");
    const char *video = cli.pos[0];
    /* several captions, or a file: the text sinks write them with their times */
    const char *format = cli.json ? NULL : o.format ? o.format : (o.segments_set || o.fps_set || o.out) ? "txt" : NULL;
    if (cli.ids && format && strcmp(format, "txt"))
        return hd_cli_usage_error(&cli, "--ids needs --format txt or --json (%s has no place for token ids)", format);
    plan pl = {.k_frames = (int)o.frames};
    int G = 0;
    pl.video = !o.image_mode && is_video_model(cli.model, &G);
    if (pl.video) {
        /* the paper's SFT: 64 frames, 32 to an effective frame (2 per video) */
        if (!o.frames_set) pl.k_frames = 2 * G;
        pl.agg_group = pl.k_frames < G ? pl.k_frames : G;
        if (pl.k_frames > G && pl.k_frames % G)
            return hd_cli_usage_error(&cli, "--frames %d: in video mode a caption's frames fill whole groups of the "
                                            "aggregator's %d (or fewer than %d)", pl.k_frames, G, G);
        pl.n_eff = pl.k_frames / pl.agg_group;
        if (pl.n_eff > MAX_EFFECTIVE_FRAMES)
            return hd_cli_usage_error(&cli, "--frames %d: at most %d effective frames (%d frames) per caption",
                                      pl.k_frames, MAX_EFFECTIVE_FRAMES, MAX_EFFECTIVE_FRAMES * G);
    } else if (pl.k_frames > MAX_FRAMES_PER_CAPTION) {
        return hd_cli_usage_error(&cli, "--frames %d: at most %d frames per caption in image mode", pl.k_frames,
                                  MAX_FRAMES_PER_CAPTION);
    }
    const int k_frames = pl.k_frames;

    hd_error err = {0};
    collect c = {.cli = &cli, .cmd = "caption", .live = !cli.json && !format};
    pthread_mutex_init(&c.mu, NULL);
    hd_node_hooks hooks = hd_node_hooks_init();
    hooks.text = hook_text;
    hooks.progress = hook_progress;
    hooks.ctx = &c;
    hd_registry *reg = NULL;
    hd_graph *g = NULL;
    hd_threadpool *pool = NULL;
    char *transcript = NULL, *timed = NULL, *question = NULL;
    char pending[1024] = "";   /* progress lines shown once the first graph runs */
    bool interrupted = false;
    rc = HD_EXIT_OK;

    /* the container first: a file that is not a video fails here, in one line
     * naming it, before any model is loaded */
    {
        hd_video_reader *vr = hd_video_open(video, NULL, &err);
        if (!vr) goto fail;
        const hd_video_info *vi = hd_video_reader_info(vr);
        bool audio = vi->has_audio;
        snprintf(pending, sizeof pending, "herd caption: %s: %s %s %dx%d, %.2f s%s\n", video, vi->container, vi->codec,
                 vi->width, vi->height, vi->duration, audio ? ", with audio" : "");
        hd_video_close(vr);
        if (o.with_audio && !audio) {
            hd_error_set(&err, HD_ERR_FORMAT, "%s: no audio track (--with-audio)", video);
            goto fail;
        }
    }
    if (!(reg = hd_registry_create(&err)) || hd_registry_add_builtins(reg, &err)) goto fail;
    if (!(pool = hd_threadpool_create(cli.threads, &err))) goto fail;

    const char *q = o.question ? o.question : k_default_question;
    if (o.with_audio) {
        hd_status ts = transcribe(reg, &o, pool, video, &hooks, pending, &transcript, &timed, &err);
        if (ts == HD_ERR_CANCELLED) {
            rc = EXIT_INTERRUPTED;
            goto out;
        }
        if (ts) goto fail;
        hd_cli_progress(&cli, "herd caption: audio transcript: %s\n", transcript[0] ? transcript : "(nothing said)");
        if (transcript[0]) {
            size_t len = strlen(timed) + strlen(q) + 64;
            if (!(question = malloc(len))) {
                hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
                goto fail;
            }
            snprintf(question, len, "The video's audio track says: \"%s\". %s", timed, q);
            q = question;
        }
    }

    const char *mode = pl.video ? "video" : "image";
    size_t plen = strlen(pending);
    if (pl.video)
        snprintf(pending + plen, sizeof pending - plen,
                 "herd caption: video mode (the model's temporal aggregator and video cross-attention layers): %d "
                 "frame%s per caption, merged %d at a time into %d effective frame%s\n",
                 k_frames, k_frames == 1 ? "" : "s", pl.agg_group, pl.n_eff, pl.n_eff == 1 ? "" : "s");
    else
        snprintf(pending + plen, sizeof pending - plen,
                 "herd caption: image mode (%s): %d frame%s per caption as images, their times in the prompt\n",
                 o.image_mode ? "--image-mode" : "a Llama 3.2 Vision model without video layers", k_frames,
                 k_frames == 1 ? "" : "s");
    hd_graph_params gp = hd_graph_default_params();
    gp.user = &hooks;
    if (!(g = hd_graph_create(&gp, &err)) || build(g, reg, &o, &cli, video, q, &pl, format, &err)) goto fail;
    hd_status st = run_graph(g, pool, &cli, pending, &interrupted, &err);
    if (c.printed_any) fputc('\n', stdout);
    if (interrupted && st == HD_ERR_CANCELLED) {
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    if (st) goto fail;
    if (c.n_frames == 0) {
        hd_error_set(&err, HD_ERR_FORMAT, "%s: no frames at the sampled times", video);
        goto fail;
    }
    hd_cli_progress(&cli, "herd caption: %d caption%s from %d frame%s (%s mode)\n", c.n_caps, c.n_caps == 1 ? "" : "s",
                    c.n_frames, c.n_frames == 1 ? "" : "s", mode);
    if (cli.json) {
        rc = print_json(&c, mode, transcript);
    } else if (!format) {
        if (!c.printed_any && c.n_caps && c.caps[0].len) printf("%s\n", c.caps[0].text);
        if (cli.ids) {
            for (int i = 0; i < c.n_caps; i++)
                for (size_t j = 0; j < c.caps[i].ids.n; j++) printf("%s%d", j ? " " : "", (int)c.caps[i].ids.ids[j]);
            putchar('\n');
        }
    }
    if (fflush(stdout) != 0) rc = HD_EXIT_INPUT;
    goto out;
fail:
    fflush(stdout);
    strip_source_prefix(&err);
    rc = hd_cli_fail(&cli, &err);
out:
    hd_graph_free(g);
    hd_threadpool_free(pool);
    hd_registry_free(reg);
    collect_free(&c);
    free(transcript);
    free(timed);
    free(question);
    pthread_mutex_destroy(&c.mu);
    return rc;
}

const hd_command hd_cmd_caption = {
    "caption",
    "describe a video, answer a question about it, or caption its segments (SRT/VTT)",
    "usage: herd caption -m MODEL [options] VIDEO\n"
    "\n"
    "Samples frames of VIDEO (anything FFmpeg decodes: mp4, webm, mkv, avi, mov, ...;\n"
    "rotation metadata applied), encodes each with the model's vision encoder and\n"
    "streams a caption to stdout; progress and the mode used go to stderr.\n"
    "Video mode (a video model: herd random-model --arch video): the temporal\n"
    "aggregator merges every G frames into an effective frame that the video\n"
    "cross-attention layers attend to:\n"
    "  video:VIDEO frames=K ! vit model=MODEL ! vagg model=MODEL !\n"
    "    llama model=MODEL task=ask video=true group=K/G frame-times=true prompt=QUESTION\n"
    "Image mode (a Llama 3.2 Vision model, no video layers): the frames go in as\n"
    "images with their times in the prompt:\n"
    "  video:VIDEO frames=K ! vit model=MODEL ! llama model=MODEL task=ask group=K\n"
    "    frame-times=true prompt=QUESTION\n"
    "The mode used is said on stderr (and in --json).\n"
    "\n"
    "  -m MODEL            Llama 3.2 Vision or video GGUF, or Hugging Face folder\n"
    "  --question Q        ask this instead of \"Describe what happens in this video.\"\n"
    "  --frames K          frames per caption, spread evenly over the clip or segment\n"
    "                      (image mode: default 8, at most 16; video mode: default 2 x G,\n"
    "                      the paper's 64 for G = 32; a multiple of G or fewer than G)\n"
    "  --image-mode        frames as images even with a video model\n"
    "  --segments S        caption S consecutive equal parts of the clip (S x K frames)\n"
    "  --fps R             sample R frames a second instead; a caption every K frames\n"
    "  -f, --format F      txt (one caption a line), srt, vtt, json ({\"segments\": [...]}),\n"
    "                      with the times of each caption's frames (default: stream one\n"
    "                      caption; txt with --segments, --fps or -o)\n"
    "  -o FILE             write the captions there instead of stdout\n"
    "  --with-audio SPEECH transcribe the file's audio track with this speech model\n"
    "                      (herd transcribe's) and put the transcript in the question\n"
    "  --vision FILE       vision encoder file, when it is not in MODEL\n"
    "  --system TEXT       system message\n"
    "  -n N                maximum tokens per caption (default 256)\n"
    "  --temp T            temperature, 0 = greedy (default 0.6)\n"
    "  --top-k K, --top-p P, --min-p P, --seed N   sampling (as herd ask)\n"
    "  -c, --ctx N         context length (default: the model's, at most 4096)\n"
    "  --hf-mask           Hugging Face's cross-attention row masks: the generated tokens keep\n"
    "                      seeing the frames (Meta's reference, the default, hides several\n"
    "                      images from them; a video stays visible either way)\n"
    "  -t N                threads (default: all cores)\n"
    "  --ids               also print the token ids (a last line; with txt, a line per caption)\n"
    "  --json              one JSON object {mode, frames: [s], segments: [{start, end,\n"
    "                      text, ids}], transcript}\n"
    "  --quiet             no progress on stderr\n"
    "Exit codes: 0 ok, 1 bad input or model, 2 usage error, 130 interrupted.\n",
    run,
};
