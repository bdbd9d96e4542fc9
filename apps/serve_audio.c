/* apps/serve_audio.c — herd serve's audio routes, each a processing graph:
 *
 *   POST /v1/audio/transcriptions, /v1/audio/translations  (multipart/form-data)
 *       file (required), model, language, response_format json|text|srt|vtt|
 *       verbose_json, temperature, stream, to (translations: target language,
 *       default English as OpenAI's endpoint)
 *     → apps/transcribe_graph.c, the graph of `herd transcribe` / `translate`,
 *       on the uploaded file (written to a private temporary file); its sink
 *       writes the chosen format, which is sent back.  "json" is OpenAI's
 *       {"text": ...}, taken from verbose_json.  stream=true sends
 *       `transcript.text.delta` events as each segment's text is generated and
 *       one `transcript.text.done`.
 *   POST /v1/audio/speech  {"model", "input", "voice", "response_format": "wav"|"pcm", "speed"}
 *     → text ! tts ! wav (or raw 16-bit PCM at 24 kHz for "pcm", as OpenAI's).
 */
#include "serve_internal.h"

#include "apps/transcribe_graph.h"
#include "graph/graph.h"
#include "graph/node.h"
#include "graph/packet.h"
#include "graph/text_join.h"
#include "serve_multipart.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- temporary files ------------------------------------------------------- */

static bool temp_path(char *buf, size_t size, const char *suffix) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, size, "%s/herd-serve-XXXXXX%s", dir, suffix);
    int fd = mkstemps(buf, (int)strlen(suffix));
    if (fd < 0) return false;
    close(fd);
    return true;
}

static bool write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
        }
        size_t k = fread(b + len, 1, 65536, f);
        len += k;
        if (k == 0) break;
    }
    fclose(f);
    b[len] = 0;
    *n = len;
    return b;
}

/* ---- running a graph for a request ----------------------------------------- */

/* Runs g to the end; cancels it when the client hangs up (conn may be NULL). */
static hd_status run_graph(hd_graph *g, struct MHD_Connection *conn, hd_error *err) {
    hd_status st = hd_graph_start(g, err);
    if (st) return st;
    while (!hd_graph_done(g)) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (conn && hd_serve_client_gone(conn)) hd_graph_cancel(g);
    }
    return hd_graph_wait(g, err);
}

/* A graph error as the client sees it: the input's own errors name the
 * upload, not a graph node. */
static void input_error(hd_api_error *e, const hd_error *err, const char *param) {
    const char *m = err->msg;
    static const char k_src[] = "node 'audio': ";
    if (!strncmp(m, k_src, sizeof k_src - 1)) m += sizeof k_src - 1;
    const int status = err->code == HD_ERR_FORMAT || err->code == HD_ERR_ARG || err->code == HD_ERR_NOTFOUND ? 400 : 500;
    hd_api_fail(e, status, status == 400 ? "invalid_request_error" : "server_error", status == 400 ? param : NULL, "%s", m);
}

/* ---- the SSE sink of streamed transcriptions -------------------------------- */

typedef struct sse_sink {
    int fd;
    char *text;          /* the transcript sent so far: segments' clean texts joined by spaces */
    size_t len, cap;
    char *seg;           /* the current segment's raw text, and a scratch copy to clean */
    char *scratch;
    size_t seg_len, seg_cap, seg_sent;   /* seg_sent: bytes of its clean text already sent */
    bool segment_open;
    bool failed;
} sse_sink;

static bool sse_event(sse_sink *k, cJSON *o) {
    char *j = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!j || k->failed) {
        free(j);
        return false;
    }
    size_t n = strlen(j);
    bool ok = write(k->fd, "data: ", 6) == 6 && write(k->fd, j, n) == (ssize_t)n && write(k->fd, "\n\n", 2) == 2;
    free(j);
    if (!ok) k->failed = true;
    return ok;
}

static bool grow(char **b, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = need * 2;
    char *t = realloc(*b, c);
    if (!t) return false;
    *b = t, *cap = c;
    return true;
}

/* Sends the growth of the current segment's clean text (the same text the
 * file sinks write: graph/text_join.h hd_text_clean). */
static bool send_growth(sse_sink *k) {
    size_t scap = k->seg_cap;
    if (!grow(&k->scratch, &scap, k->seg_len + 1)) return false;
    memcpy(k->scratch, k->seg, k->seg_len);
    size_t n = hd_text_clean(k->scratch, k->seg_len);
    if (n <= k->seg_sent) return true;
    const bool first = k->seg_sent == 0;
    const size_t add = n - k->seg_sent + (first && k->len ? 1 : 0);
    size_t tcap = k->cap;
    if (!grow(&k->text, &tcap, k->len + add + 1)) return false;
    k->cap = tcap;
    char *d = k->text + k->len;
    if (first && k->len) *d++ = ' ';
    memcpy(d, k->scratch + k->seg_sent, n - k->seg_sent);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "transcript.text.delta");
    cJSON_AddItemToObject(o, "delta", hd_cli_json_bytes(k->text + k->len, add));
    k->len += add;
    k->text[k->len] = 0;
    k->seg_sent = n;
    sse_event(k, o);
    return true;
}

static hd_status sse_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    sse_sink *k = calloc(1, sizeof *k);
    if (!k) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    k->fd = (int)hd_opt_int(o, "fd");
    *state = k;
    return HD_OK;
}

static hd_node_ret sse_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    sse_sink *k = state;
    if (in->kind != HD_PKT_TEXT) return HD_NODE_OK;
    if (!k->segment_open) k->seg_len = 0, k->seg_sent = 0;
    k->segment_open = (in->flags & HD_PKT_FLAG_PARTIAL) != 0;
    size_t scap = k->seg_cap;
    if (!grow(&k->seg, &scap, k->seg_len + in->u.text.len + 1)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    if (scap != k->seg_cap) {   /* the scratch copy follows the segment's capacity */
        char *t = realloc(k->scratch, scap);
        if (!t) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        k->scratch = t, k->seg_cap = scap;
    }
    memcpy(k->seg + k->seg_len, in->u.text.text, in->u.text.len);
    k->seg_len += in->u.text.len;
    if (!send_growth(k)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    /* the client went away: stop the graph rather than transcribe for no one */
    if (k->failed) return hd_error_set(err, HD_ERR_CANCELLED, "client disconnected"), HD_NODE_ERROR;
    return HD_NODE_OK;
}

static hd_status sse_flush(hd_node *node, void *state, hd_error *err) {
    sse_sink *k = state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "transcript.text.done");
    cJSON_AddItemToObject(o, "text", hd_cli_json_bytes(k->text ? k->text : "", k->len));
    sse_event(k, o);
    return HD_OK;
}

static void sse_destroy(void *state) {
    sse_sink *k = state;
    if (k) free(k->text), free(k->seg), free(k->scratch), free(k);
}

static const hd_port_def k_sse_in[] = {{"text", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_option_def k_sse_opts[] = {{"fd", HD_OPT_INT, NULL, "pipe to write the events to", 0, 0, NULL}};
static const hd_node_type k_sse_type = {
    .name = "transcript-sse", .summary = "server-sent transcript events", .inputs = k_sse_in, .n_inputs = 1,
    .options = k_sse_opts, .n_options = 1, .create = sse_create, .process = sse_process, .flush = sse_flush,
    .destroy = sse_destroy,
};

/* ---- transcriptions / translations ------------------------------------------- */

typedef struct audio_job {
    hd_server *srv;
    slot *sl;
    hd_graph *g;
    char in_path[256];
    int fd;
} audio_job;

static void *audio_stream_worker(void *arg) {
    audio_job *j = arg;
    hd_error err = {0};
    if (run_graph(j->g, NULL, &err) && err.code != HD_ERR_CANCELLED) {
        hd_api_error e;
        input_error(&e, &err, "file");
        char *ej = hd_api_error_json(&e);
        if (ej) {
            ssize_t w = write(j->fd, "data: ", 6);
            w += write(j->fd, ej, strlen(ej));
            w += write(j->fd, "\n\n", 2);
            (void)w;
        }
        free(ej);
    }
    close(j->fd);
    hd_graph_free(j->g);
    unlink(j->in_path);
    hd_serve_slot_release(j->srv, j->sl);
    hd_serve_worker_end(j->srv);
    free(j);
    return NULL;
}

static bool field(const hd_multipart *m, const char *name, char *buf, size_t size, hd_api_error *e) {
    buf[0] = 0;
    if (!hd_mp_find(m, name)) return true;
    if (!hd_mp_field(m, name, buf, size))
        return hd_api_fail(e, 400, "invalid_request_error", name, "'%s' is too long or not text", name);
    return true;
}

enum MHD_Result hd_serve_audio_text(hd_server *s, struct MHD_Connection *c, const request *rq, bool translate) {
    hd_api_error e = {0};
    char boundary[80], model[128], language[64], format[32], temp[32], stream[16], to[64];
    hd_multipart *mp = calloc(1, sizeof *mp);
    hd_graph *g = NULL;
    audio_job *job = NULL;
    char in_path[256] = "", out_path[256] = "";
    slot *sl = NULL;
    enum MHD_Result ret;
    if (!mp) return hd_serve_send_json(c, 500, NULL);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!hd_mp_boundary(ct, boundary, sizeof boundary)) {
        hd_api_fail(&e, 415, "invalid_request_error", NULL, "send the audio as multipart/form-data (file=@talk.mp3)");
        goto fail;
    }
    char msg[160];
    if (!hd_mp_parse(rq->body, rq->len, boundary, mp, msg, sizeof msg)) {
        hd_api_fail(&e, 400, "invalid_request_error", NULL, "%s", msg);
        goto fail;
    }
    const hd_mp_part *file = hd_mp_find(mp, "file");
    if (!file || !file->filename) {
        hd_api_fail(&e, 400, "invalid_request_error", "file", "'file' is required (an audio file upload)");
        goto fail;
    }
    if (file->size == 0) {
        hd_api_fail(&e, 400, "invalid_request_error", "file", "the uploaded file is empty");
        goto fail;
    }
    if (!field(mp, "model", model, sizeof model, &e) || !field(mp, "language", language, sizeof language, &e) ||
        !field(mp, "response_format", format, sizeof format, &e) || !field(mp, "temperature", temp, sizeof temp, &e) ||
        !field(mp, "stream", stream, sizeof stream, &e) || !field(mp, "to", to, sizeof to, &e))
        goto fail;
    if (model[0] && strcmp(model, s->model_id) != 0) {
        hd_api_fail(&e, 404, "invalid_request_error", "model", "the model '%s' does not exist (this server has '%s')",
                    model, s->model_id);
        snprintf(e.code, sizeof e.code, "model_not_found");
        goto fail;
    }
    if (!s->speech_path) {
        hd_api_fail(&e, 400, "invalid_request_error", "model",
                    "model '%s' has no speech encoder: start herd serve with -m SPEECH_FILE", s->model_id);
        goto fail;
    }
    if (!format[0]) snprintf(format, sizeof format, "json");
    static const char *const k_formats[] = {"json", "text", "srt", "vtt", "verbose_json"};
    bool known = false;
    for (size_t i = 0; i < sizeof k_formats / sizeof k_formats[0]; i++) known |= !strcmp(format, k_formats[i]);
    if (!known) {
        hd_api_fail(&e, 400, "invalid_request_error", "response_format",
                    "'response_format' must be json, text, srt, vtt or verbose_json");
        goto fail;
    }
    const bool want_stream = !strcmp(stream, "true") || !strcmp(stream, "1");
    if (stream[0] && !want_stream && strcmp(stream, "false") && strcmp(stream, "0")) {
        hd_api_fail(&e, 400, "invalid_request_error", "stream", "'stream' must be true or false");
        goto fail;
    }
    double t = 0;
    if (temp[0]) {
        char *end;
        t = strtod(temp, &end);
        if (*end || !(t >= 0 && t <= 1)) {
            hd_api_fail(&e, 400, "invalid_request_error", "temperature", "'temperature' must be a number in [0, 1]");
            goto fail;
        }
    }
    if (!temp_path(in_path, sizeof in_path, "") || !write_file(in_path, file->data, file->size)) {
        hd_api_fail(&e, 500, "server_error", NULL, "cannot store the upload: %s", strerror(errno));
        goto fail;
    }
    if (!(sl = hd_serve_slot_acquire(s, &e))) goto fail;

    hd_error err = {0};
    hd_graph_params gp = hd_graph_default_params();
    if (!(g = hd_graph_create(&gp, &err))) goto graph_fail;
    hd_transcribe_spec spec = {
        .model = s->speech_path, .lm = s->speech_lm, .input = in_path, .translate = translate,
        .language = language[0] ? language : NULL, .to = to[0] ? to : NULL,
        .n_predict = -1, .temp = (float)t, .temp_set = temp[0] != 0, .seed = s->default_seed,
    };
    if (want_stream) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            hd_api_fail(&e, 500, "server_error", NULL, "cannot create a pipe");
            goto fail;
        }
        char fd_buf[16];
        snprintf(fd_buf, sizeof fd_buf, "%d", fds[1]);
        const hd_kv kv = {"fd", fd_buf};
        spec.sink_type = &k_sse_type, spec.sink_kv = &kv, spec.n_sink_kv = 1;
        if (hd_transcribe_build(g, s->registry, &spec, &err) || !(job = calloc(1, sizeof *job))) {
            close(fds[0]), close(fds[1]);
            if (!job) hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
            goto graph_fail;
        }
        struct MHD_Response *r = MHD_create_response_from_pipe(fds[0]);
        if (!r) {
            close(fds[0]), close(fds[1]);
            hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
            goto graph_fail;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        *job = (audio_job){.srv = s, .sl = sl, .g = g, .fd = fds[1]};
        snprintf(job->in_path, sizeof job->in_path, "%s", in_path);
        hd_serve_worker_begin(s);
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int pc = pthread_create(&th, &at, audio_stream_worker, job);
        pthread_attr_destroy(&at);
        if (pc != 0) {
            hd_serve_worker_end(s);
            close(fds[1]);
            MHD_destroy_response(r);
            free(job);
            job = NULL;
            hd_error_set(&err, HD_ERR_NOMEM, "cannot start a worker thread");
            goto graph_fail;
        }
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        free(mp);
        return ret;   /* the worker owns the graph, the slot and the upload now */
    }
    const bool json = !strcmp(format, "json");
    spec.format = json ? "verbose_json" : !strcmp(format, "text") ? "txt" : format;
    if (!temp_path(out_path, sizeof out_path, ".out")) {
        hd_api_fail(&e, 500, "server_error", NULL, "cannot create a temporary file: %s", strerror(errno));
        goto fail;
    }
    spec.out = out_path;
    if (hd_transcribe_build(g, s->registry, &spec, &err) || run_graph(g, c, &err)) goto graph_fail;
    size_t n = 0;
    char *body = read_file(out_path, &n);
    if (!body) {
        hd_api_fail(&e, 500, "server_error", NULL, "cannot read the transcript back");
        goto fail;
    }
    if (json) {   /* OpenAI's json: just the text */
        cJSON *vj = cJSON_ParseWithLength(body, n), *o = cJSON_CreateObject();
        const cJSON *text = vj ? cJSON_GetObjectItemCaseSensitive(vj, "text") : NULL;
        cJSON_AddStringToObject(o, "text", cJSON_IsString(text) ? text->valuestring : "");
        free(body);
        body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        cJSON_Delete(vj);
        ret = hd_serve_send_json(c, 200, body);
    } else {
        struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", !strcmp(format, "verbose_json") ? "application/json"
                                                                                   : "text/plain; charset=utf-8");
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
    }
    goto done;
graph_fail:
    input_error(&e, &err, "file");
fail:
    ret = hd_serve_send_error(c, &e);
done:
    hd_graph_free(g);
    if (sl) hd_serve_slot_release(s, sl);
    if (in_path[0]) unlink(in_path);
    if (out_path[0]) unlink(out_path);
    free(mp);
    return ret;
}

/* ---- speech ------------------------------------------------------------------- */

enum MHD_Result hd_serve_audio_speech(hd_server *s, struct MHD_Connection *c, const request *rq) {
    hd_api_error e = {0};
    cJSON *root = cJSON_ParseWithLength(rq->body, rq->len);
    hd_graph *g = NULL;
    char out_path[256] = "";
    slot *sl = NULL;
    enum MHD_Result ret;
    if (!cJSON_IsObject(root)) {
        hd_api_fail(&e, 400, "invalid_request_error", NULL, "the request body must be a JSON object");
        goto fail;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *voice = cJSON_GetObjectItemCaseSensitive(root, "voice");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    const cJSON *speed = cJSON_GetObjectItemCaseSensitive(root, "speed");
    if (!cJSON_IsString(input) || !input->valuestring[0] || strlen(input->valuestring) > 4096) {
        hd_api_fail(&e, 400, "invalid_request_error", "input", "'input' must be a string of 1 to 4096 bytes");
        goto fail;
    }
    const char *format = cJSON_IsString(fmt) ? fmt->valuestring : "wav";
    const bool pcm = !strcmp(format, "pcm");
    if (!pcm && strcmp(format, "wav") != 0) {
        hd_api_fail(&e, 400, "invalid_request_error", "response_format", "'response_format' must be wav or pcm");
        goto fail;
    }
    /* OpenAI's voice names mean nothing to espeak-ng: those get the default voice */
    const char *v = cJSON_IsString(voice) ? voice->valuestring : "";
    static const char *const k_openai[] = {"alloy", "ash", "ballad", "coral", "echo", "fable",
                                           "onyx", "nova", "sage", "shimmer", "verse", ""};
    for (size_t i = 0; v && i < sizeof k_openai / sizeof k_openai[0]; i++)
        if (!strcmp(v, k_openai[i])) v = NULL;
    double sp = 1.0;
    if (speed && !cJSON_IsNull(speed)) {
        if (!cJSON_IsNumber(speed) || !(speed->valuedouble >= 0.25 && speed->valuedouble <= 4.0)) {
            hd_api_fail(&e, 400, "invalid_request_error", "speed", "'speed' must be a number in [0.25, 4]");
            goto fail;
        }
        sp = speed->valuedouble;
    }
    if (!temp_path(out_path, sizeof out_path, ".wav")) {
        hd_api_fail(&e, 500, "server_error", NULL, "cannot create a temporary file");
        goto fail;
    }
    if (!(sl = hd_serve_slot_acquire(s, &e))) goto fail;
    /* text ! tts ! wav: the graph `herd speak` and `herd ask --speak` use */
    hd_error err = {0};
    hd_graph_params gp = hd_graph_default_params();
    char wpm[16];
    snprintf(wpm, sizeof wpm, "%d", (int)(175 * sp + 0.5) < 80 ? 80 : (int)(175 * sp + 0.5) > 450 ? 450 : (int)(175 * sp + 0.5));
    hd_kv tkv = {"text", input->valuestring}, wkv = {"path", out_path};
    hd_kv ttskv[3] = {{"wpm", wpm}, {"rate", pcm ? "24000" : "22050"}, {"voice", v ? v : ""}};
    const hd_node_type *tt = hd_registry_find(s->registry, "text"), *ts = hd_registry_find(s->registry, "tts"),
                       *tw = hd_registry_find(s->registry, "wav");
    int a, b, w;
    if (!tt || !ts || !tw) {
        hd_api_fail(&e, 500, "server_error", NULL, "this herd has no text-to-speech nodes");
        goto fail;
    }
    if (!(g = hd_graph_create(&gp, &err)) || (a = hd_graph_add(g, tt, "text", &tkv, 1, NULL, &err)) < 0 ||
        (b = hd_graph_add(g, ts, "tts", ttskv, v ? 3 : 2, NULL, &err)) < 0 ||
        (w = hd_graph_add(g, tw, "out", &wkv, 1, NULL, &err)) < 0 || hd_graph_link(g, a, NULL, b, NULL, &err) ||
        hd_graph_link(g, b, NULL, w, NULL, &err) || run_graph(g, c, &err)) {
        hd_api_fail(&e, err.code == HD_ERR_ARG ? 400 : 500, err.code == HD_ERR_ARG ? "invalid_request_error" : "server_error",
                    err.code == HD_ERR_ARG ? "voice" : NULL, "%s", err.msg);
        goto fail;
    }
    size_t n = 0;
    char *wav = read_file(out_path, &n);
    if (!wav || n < 44) {
        free(wav);
        hd_api_fail(&e, 500, "server_error", NULL, "no audio was produced");
        goto fail;
    }
    if (pcm) {   /* the samples of the WAV's data chunk */
        size_t o = 12, data = 0;
        while (o + 8 <= n) {
            uint32_t sz = (uint32_t)(unsigned char)wav[o + 4] | (uint32_t)(unsigned char)wav[o + 5] << 8 |
                          (uint32_t)(unsigned char)wav[o + 6] << 16 | (uint32_t)(unsigned char)wav[o + 7] << 24;
            if (!memcmp(wav + o, "data", 4)) {
                data = o + 8;
                break;
            }
            if (sz > n - o - 8) break;
            o += 8 + sz + (sz & 1);
        }
        if (!data) {
            free(wav);
            hd_api_fail(&e, 500, "server_error", NULL, "the synthesised WAV has no data chunk");
            goto fail;
        }
        memmove(wav, wav + data, n - data);
        n -= data;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(n, wav, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", pcm ? "audio/pcm" : "audio/wav");
    ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    goto done;
fail:
    ret = hd_serve_send_error(c, &e);
done:
    hd_graph_free(g);
    if (sl) hd_serve_slot_release(s, sl);
    if (out_path[0]) unlink(out_path);
    cJSON_Delete(root);
    return ret;
}
