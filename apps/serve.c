/* apps/serve.c — `herd serve`: an OpenAI-compatible HTTP server on
 * libmicrohttpd.
 *
 *   herd serve -m MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY]
 *              [--parallel N] [--queue N] [-c N_CTX] [--alias NAME]
 *              [--allow-local-files] [--max-body MB] [-t THREADS]
 *
 * One model is loaded once and shared (read-only, mmap'd) by N slots, each
 * with its own context (KV cache, arenas, thread pool).  A request takes a
 * free slot or waits in a bounded queue; when the queue is full it gets 503
 * with an OpenAI-style JSON error.  Each connection has its own thread
 * (MHD_USE_THREAD_PER_CONNECTION), so a request may block while it waits for
 * or uses its slot.
 *
 * Streaming ("stream": true) sends server-sent events through a pipe: a
 * worker thread generates and writes `data: {chunk}` lines, libmicrohttpd
 * reads the pipe and sends them.  When the client goes away, the connection
 * and the pipe's read end close, the worker's next write fails (EPIPE) and it
 * stops at once, freeing its slot.  A non-streaming request polls its socket
 * between tokens for the same reason.
 *
 * Routes: GET /health (no key needed), GET /v1/models, GET /v1/models/ID,
 * POST /v1/chat/completions.
 */
#include "serve_internal.h"

#include "core/threadpool.h"
#include "graph/models.h"
#include "graph/packet.h"
#include "graph/registry.h"
#include "graph/vision_lm.h"
#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "media/image.h"
#include "graph/video_prompt.h"
#include "media/audio.h"
#include "media/video.h"
#include "speech/audio_lm.h"
#include "speech/mel.h"
#include "speech/speech_file.h"
#include "speech/speech_model.h"
#include "speech/speech_prompt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

extern const hd_command hd_cmd_serve;

static const char k_usage[] =
    "usage: herd serve -m MODEL [--host ADDR] [--port N] [--api-key KEY] [--parallel N] [--queue N]\n"
    "                  [-c N_CTX] [--alias NAME] [--allow-local-files] [--max-body MB] [-t THREADS]\n"
    "An OpenAI-compatible HTTP server for MODEL (GGUF file or Hugging Face folder).\n"
    "MODEL: a Llama 3 GGUF/HF folder, a Llama 3.2 Vision checkpoint, a speech file (herd's\n"
    "encoder + adapter GGUF naming its LM) for the audio routes, or a Granite Speech 3.3 / Ultravox v0.5\n"
    "checkpoint (HF folder or herd convert's GGUF; audio routes only; --lm LM when it holds no LM).\n"
    "Routes: GET /health, GET /v1/models, POST /v1/chat/completions (text, and image_url parts for a\n"
    "Llama 3.2 Vision model: base64 data: URLs, or paths with --allow-local-files; SSE with \"stream\": true),\n"
    "POST /v1/audio/transcriptions and /v1/audio/translations (multipart: file, response_format json|text|\n"
    "srt|vtt|verbose_json, language, temperature, stream), POST /v1/audio/speech (input, voice, wav|pcm).\n"
    "  --host ADDR          IPv4 address to bind (default 127.0.0.1: this machine only)\n"
    "  --port N             TCP port (default 8080; 0 picks a free one, printed on stderr)\n"
    "  --api-key KEY        require \"Authorization: Bearer KEY\" on every route but /health\n"
    "  --parallel N         requests generated at once, one context each (default 1)\n"
    "  --queue N            requests that may wait for a slot; more get 503 (default 16)\n"
    "  -c N                 context per slot in tokens (default: min(training context, 4096))\n"
    "  --alias NAME         the model id clients use (default: the file or folder name)\n"
    "  --allow-local-files  accept image/video paths and file:// URLs in requests\n"
    "  --max-body MB        request body limit (default 64)\n"
    "  -t N                 threads per slot (default: cores / parallel)\n"
    "  --vision FILE        the vision encoder, when not in MODEL (Llama 3.2 Vision)\n"
    "  --lm LM              the language model of a Granite Speech / Ultravox checkpoint that holds none\n"
    "  --hf-mask            Hugging Face's cross-attention row mask instead of Meta's\n"
    "  --temp T, --seed N   defaults for requests that do not set them (temperature 1.0 as OpenAI)\n"
    "Stops on SIGINT/SIGTERM: stops accepting, cancels running requests, exits 0.\n"
    "Exit codes: 0 stopped by a signal, 1 bad model or cannot bind, 2 usage error.\n";

/* ---- server state ---------------------------------------------------------- */

static volatile sig_atomic_t g_signal;
static void on_signal(int sig) { g_signal = sig; }

static int64_t unix_now(void) { return (int64_t)time(NULL); }

/* Takes a free slot; waits while the queue has room.  NULL + 503 error when full or stopping. */
slot *hd_serve_slot_acquire(hd_server *s, hd_api_error *e) {
    pthread_mutex_lock(&s->mu);
    slot *got = NULL;
    for (;;) {
        if (atomic_load(&s->stopping)) break;
        for (int i = 0; i < s->n_slots; i++)
            if (!s->slots[i].busy) {
                got = &s->slots[i];
                got->busy = true;
                break;
            }
        if (got) break;
        if (s->n_waiting >= s->max_waiting) break;
        s->n_waiting++;
        pthread_cond_wait(&s->cv, &s->mu);
        s->n_waiting--;
    }
    pthread_mutex_unlock(&s->mu);
    if (!got)
        hd_api_fail(e, 503, "server_busy", NULL, "%s", atomic_load(&s->stopping) ? "the server is shutting down"
                                                                                  : "the server is busy: try again later");
    return got;
}

void hd_serve_worker_begin(hd_server *s) {
    pthread_mutex_lock(&s->mu);
    s->n_workers++;
    pthread_mutex_unlock(&s->mu);
}

void hd_serve_worker_end(hd_server *s) {
    pthread_mutex_lock(&s->mu);
    s->n_workers--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void hd_serve_slot_release(hd_server *s, slot *sl) {
    pthread_mutex_lock(&s->mu);
    sl->busy = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- HTTP helpers ---------------------------------------------------------- */

enum MHD_Result hd_serve_send_json(struct MHD_Connection *c, int status, char *json /* taken */) {
    if (!json) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(c, 500, r);
        MHD_destroy_response(r);
        return ret;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result hd_serve_send_error(struct MHD_Connection *c, const hd_api_error *e) {
    char *j = hd_api_error_json(e);
    if (j && e->status == 401) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(j), j, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
        enum MHD_Result ret = MHD_queue_response(c, 401, r);
        MHD_destroy_response(r);
        return ret;
    }
    return hd_serve_send_json(c, e->status, j);
}

/* True when the peer of a connection has closed it (checked between tokens). */
bool hd_serve_client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ---- chat completions ------------------------------------------------------ */

typedef struct chat_job {
    hd_server *srv;
    slot *sl;
    hd_api_chat req;
    hd_tokens prompt;
    hd_packet *images[16];           /* encoded images, in prompt order      */
    int n_images;
    float *embd;                     /* speech rows for the prompt's HD_LLAMA_TOKEN_EMBD entries */
    int64_t n_embd_rows;
    hd_generate_params gp;
    char id[48];
    int64_t created;
    /* output */
    bool stream;
    int fd;                          /* stream: write end of the pipe        */
    struct MHD_Connection *conn;     /* non-stream: polled for a hang-up      */
    char *text;                      /* non-stream: the answer               */
    size_t len, cap;
    char carry[8];                   /* stream: an incomplete UTF-8 sequence  */
    size_t n_carry;
    bool write_failed;
    int64_t n_generated;
} chat_job;

static bool write_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        s += w, n -= (size_t)w;
    }
    return true;
}

static bool sse_send(chat_job *j, char *json /* taken */) {
    if (!json || j->write_failed) {
        free(json);
        return false;
    }
    bool ok = write_all(j->fd, "data: ", 6) && write_all(j->fd, json, strlen(json)) && write_all(j->fd, "\n\n", 2);
    free(json);
    if (!ok) j->write_failed = true;
    return ok;
}

static bool on_chat_token(void *user, int32_t token, const char *text, size_t len) {
    chat_job *j = user;
    if (token >= 0) j->n_generated++;
    if (atomic_load(&j->srv->stopping)) return false;
    if (!j->stream) {
        if (j->len + len + 1 > j->cap) {
            size_t cap = (j->len + len + 1) * 2;
            char *t = realloc(j->text, cap);
            if (!t) return false;
            j->text = t, j->cap = cap;
        }
        memcpy(j->text + j->len, text, len);
        j->len += len;
        return !hd_serve_client_gone(j->conn);
    }
    /* stream: whole UTF-8 characters only */
    char buf[512];
    size_t n = 0;
    const char *src = text;
    size_t left = len;
    while (j->n_carry + left > 0) {
        n = 0;
        memcpy(buf, j->carry, j->n_carry);
        n = j->n_carry;
        size_t take = left < sizeof buf - n ? left : sizeof buf - n;
        memcpy(buf + n, src, take);
        n += take, src += take, left -= take;
        size_t ok = n - hd_tokenizer_utf8_pending(buf, n);
        j->n_carry = n - ok;
        memcpy(j->carry, buf + ok, j->n_carry);
        if (ok && !sse_send(j, hd_api_chat_chunk_json(j->id, j->created, j->srv->model_id, NULL, buf, ok, NULL, NULL)))
            return false;
        if (left == 0) break;
    }
    return !j->write_failed;
}

static const char *finish_reason(const hd_generate_result *r) {
    return r->stop == HD_STOP_LENGTH || r->stop == HD_STOP_CONTEXT ? "length" : "stop";
}

static void chat_job_free(chat_job *j) {
    if (!j) return;
    for (int i = 0; i < j->n_images; i++) hd_packet_unref(j->images[i]);
    free(j->embd);
    hd_api_chat_free(&j->req);
    hd_tokens_free(&j->prompt);
    free(j->text);
    free(j);
}

/* Runs the generation in the job's slot (rewound to an empty cache). */
static hd_status run_generation(chat_job *j, hd_generate_result *res, hd_error *err) {
    hd_llama_context *ctx = j->sl->ctx;
    hd_status st = hd_llama_rewind(ctx, 0, err);
    if (st) return st;
    /* the request's images (none: the cross-attention layers are skipped) */
    if (j->srv->vit &&
        (st = hd_vlm_set_images(ctx, j->prompt.ids, (int64_t)j->prompt.n, j->srv->image_token, j->images, j->n_images,
                                j->srv->xattn_mask, err)))
        return st;
    j->gp.prompt_embd = j->embd;
    return hd_generate(ctx, j->srv->tok, j->prompt.ids, (int64_t)j->prompt.n, &j->gp, res, err);
}

static void *stream_worker(void *arg) {
    chat_job *j = arg;
    hd_server *s = j->srv;
    hd_generate_result res = {0};
    hd_error err = {0};
    sse_send(j, hd_api_chat_chunk_json(j->id, j->created, s->model_id, "assistant", "", 0, NULL, NULL));
    hd_status st = run_generation(j, &res, &err);
    if (st == HD_OK && !j->write_failed) {
        if (j->n_carry)   /* a trailing incomplete sequence: sent as U+FFFD */
            sse_send(j, hd_api_chat_chunk_json(j->id, j->created, s->model_id, NULL, j->carry, j->n_carry, NULL, NULL));
        sse_send(j, hd_api_chat_chunk_json(j->id, j->created, s->model_id, NULL, NULL, 0, finish_reason(&res), NULL));
        if (j->req.include_usage) {
            hd_api_usage u = {res.n_prompt, res.n_generated};
            sse_send(j, hd_api_chat_chunk_json(j->id, j->created, s->model_id, NULL, NULL, 0, NULL, &u));
        }
        if (!j->write_failed) write_all(j->fd, "data: [DONE]\n\n", 14);
    } else if (st != HD_OK && !j->write_failed) {
        hd_api_error e;
        hd_api_fail(&e, 500, "server_error", NULL, "%s", err.msg);
        char *ej = hd_api_error_json(&e);
        sse_send(j, ej);
    }
    close(j->fd);
    hd_serve_slot_release(s, j->sl);
    chat_job_free(j);
    hd_serve_worker_end(s);
    return NULL;
}

/* Decodes and encodes the image part p of messages[i] into a new packet. */
static hd_packet *encode_image(hd_server *s, const hd_api_part *p, const char *param, hd_api_error *e) {
    hd_error err = {0};
    hd_image *im = NULL;
    if (p->path) {
        if (!s->allow_local_files) {
            hd_api_fail(e, 400, "invalid_request_error", param,
                        "'%s': local files are not accepted (start the server with --allow-local-files, or send a "
                        "base64 data: URL)", param);
            return NULL;
        }
        im = hd_image_load(p->path, NULL, &err);
    } else {
        im = hd_image_decode(p->data, p->size, param, NULL, &err);
    }
    hd_packet *pk = im ? hd_vlm_encode_image(s->vit, s->vision_pool, im, &err) : NULL;
    hd_image_free(im);
    if (!pk) hd_api_fail(e, 400, "invalid_request_error", param, "%s", err.msg);
    return pk;
}

/* A video_url part on an image model: 8 frames sampled uniformly, each
 * encoded as an image (the image-only captioning of `herd caption`); their
 * times go to *pts_us. */
#define SERVE_VIDEO_FRAMES 8
static int encode_video(hd_server *s, chat_job *j, const hd_api_part *p, const char *param, int64_t *pts_us,
                        hd_api_error *e) {
    hd_error err = {0};
    if (p->path && !s->allow_local_files) {
        hd_api_fail(e, 400, "invalid_request_error", param,
                    "'%s': local files are not accepted (start the server with --allow-local-files, or send a base64 "
                    "data: URL)", param);
        return -1;
    }
    const int room = (int)(sizeof j->images / sizeof j->images[0]) - j->n_images;
    hd_video_params vp = hd_video_default_params();
    vp.n_frames = SERVE_VIDEO_FRAMES < room ? SERVE_VIDEO_FRAMES : room;
    if (vp.n_frames < 1) {
        hd_api_fail(e, 400, "invalid_request_error", param, "too many images in one request");
        return -1;
    }
    hd_video_reader *r = p->path ? hd_video_open(p->path, &vp, &err) : hd_video_open_memory(p->data, p->size, param, &vp, &err);
    int n = 0;
    while (r && n < vp.n_frames) {
        const hd_video_frame *f = NULL;
        if (hd_video_next(r, &f, &err)) break;
        if (!f) break;
        hd_packet *pk = hd_vlm_encode_image(s->vit, s->vision_pool, &f->image, &err);
        if (!pk) break;
        j->images[j->n_images++] = pk;
        pts_us[n++] = (int64_t)(f->pts * 1e6 + 0.5);
    }
    hd_video_close(r);
    if (err.code || n == 0) {
        if (!err.code) hd_error_set(&err, HD_ERR_FORMAT, "%s: no video frames", param);
        hd_api_fail(e, 400, "invalid_request_error", param, "%s", err.msg);
        return -1;
    }
    return n;
}

/* An input_audio part → the speech adapter's LM rows, appended to j->embd
 * (the paper's spoken dialogue: the rows go into the user turn between the
 * speech file's two tokens, SPEC §4).  At most 60 s, the paper's longest
 * training segment. */
static bool encode_audio(hd_server *s, chat_job *j, const hd_api_part *p, const char *param, int64_t *n_rows,
                         hd_api_error *e) {
    hd_error err = {0};
    hd_audio_params ap = hd_audio_default_params();
    hd_audio_reader *r = hd_audio_open_memory(p->data, p->size, param, &ap, &err);
    float *pcm = NULL, *mel = NULL, *rows = NULL;
    size_t n = 0, cap = 0;
    bool ok = false;
    const size_t max_samples = (size_t)60 * 16000;
    while (r) {
        if (n + 16000 > cap) {
            cap = cap ? cap * 2 : 16000 * 8;
            float *t = realloc(pcm, cap * sizeof *t);
            if (!t) {
                hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
                goto out;
            }
            pcm = t;
        }
        size_t got = 0;
        if (hd_audio_read(r, pcm + n, cap - n, &got, &err)) goto out;
        if (got == 0) break;
        n += got;
        if (n > max_samples) {
            hd_api_fail(e, 400, "invalid_request_error", param, "'%s': audio longer than 60 s (use /v1/audio/transcriptions)",
                        param);
            goto done;
        }
    }
    if (!r) goto out;
    if (n == 0) {
        hd_error_set(&err, HD_ERR_FORMAT, "%s: no audio samples", param);
        goto out;
    }
    const hd_mel_params mp = hd_speech_model_mel_params(s->speech);
    int64_t n_frames = 0;
    if (hd_mel_compute(&mp, pcm, n, &mel, &n_frames, &err)) goto out;
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = s->vision_pool, .scratch = NULL};
    pthread_mutex_lock(&s->speech_mu);
    hd_status st = hd_speech_model_embed(s->speech, &ex, mel, n_frames, &rows, n_rows, &err);
    pthread_mutex_unlock(&s->speech_mu);
    if (st) goto out;
    if (*n_rows == 0) {
        hd_error_set(&err, HD_ERR_FORMAT, "%s: too short for the speech encoder", param);
        goto out;
    }
    const int64_t D = s->model->cfg.n_embd;
    float *t = realloc(j->embd, (size_t)(j->n_embd_rows + *n_rows) * (size_t)D * sizeof *t);
    if (!t) {
        hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
        goto out;
    }
    j->embd = t;
    memcpy(j->embd + j->n_embd_rows * D, rows, (size_t)(*n_rows * D) * sizeof *rows);
    j->n_embd_rows += *n_rows;
    ok = true;
    goto done;
out:
    hd_api_fail(e, err.code == HD_ERR_NOMEM ? 500 : 400, err.code == HD_ERR_NOMEM ? "server_error" : "invalid_request_error",
                param, "%s", err.msg);
done:
    hd_audio_close(r);
    free(pcm), free(mel), free(rows);
    return ok;
}

/* Builds the prompt tokens of a chat request (and encodes its images);
 * false + e on a problem.  Llama 3 chat layout; a user message with images
 * is <|image|>… then its text, as Llama 3.2 Vision's template puts them. */
static bool build_prompt(hd_server *s, chat_job *j, hd_api_error *e) {
    const hd_api_chat *r = &j->req;
    hd_error err = {0};
    hd_tokens hdr = {0}, tmp = {0};
    char *text = NULL;
    bool ok = false;
    const int32_t bos = hd_tokenizer_bos(s->tok);
    if (hd_chat_encode_header(s->tok, HD_CHAT_ASSISTANT, &hdr, &err) || (bos >= 0 && hd_tokens_push(&j->prompt, &bos, 1, &err)))
        goto tok_fail;
    for (int i = 0; i < r->n_messages; i++) {
        const hd_api_message *m = &r->messages[i];
        int n_img = 0, n_audio = 0, n_video = 0;
        int64_t audio_rows = 0, video_pts[SERVE_VIDEO_FRAMES];
        for (int k = 0; k < m->n_parts; k++) {
            const hd_api_part *p = &m->parts[k];
            if (p->kind == HD_API_TEXT) continue;
            char param[64];
            snprintf(param, sizeof param, "messages[%d].content[%d]", i, k);
            if (p->kind == HD_API_AUDIO) {
                if (!s->speech) {
                    hd_api_fail(e, 400, "invalid_request_error", param,
                                "model '%s' has no speech encoder: it cannot read audio", s->model_id);
                    goto out;
                }
                if (m->role != HD_CHAT_USER || n_audio) {
                    hd_api_fail(e, 400, "invalid_request_error", param, "one input_audio part per user message");
                    goto out;
                }
                if (!encode_audio(s, j, p, param, &audio_rows, e)) goto out;
                n_audio++;
                continue;
            }
            if (p->kind == HD_API_VIDEO) {
                if (!s->vit) {
                    hd_api_fail(e, 400, "invalid_request_error", param,
                                "model '%s' is a text model: it cannot read video", s->model_id);
                    goto out;
                }
                if (m->role != HD_CHAT_USER || n_video || n_img) {
                    hd_api_fail(e, 400, "invalid_request_error", param,
                                "one video_url part per user message, without other images");
                    goto out;
                }
                int k = encode_video(s, j, p, param, video_pts, e);
                if (k < 0) goto out;
                n_img += k, n_video = k;
                continue;
            }
            if (!s->vit) {
                hd_api_fail(e, 400, "invalid_request_error", param,
                            "model '%s' is a text model: it cannot read images", s->model_id);
                goto out;
            }
            if (m->role != HD_CHAT_USER || n_video) {
                hd_api_fail(e, 400, "invalid_request_error", param,
                            n_video ? "a message with a video takes no other images" : "images belong in user messages");
                goto out;
            }
            if (j->n_images == (int)(sizeof j->images / sizeof j->images[0])) {
                hd_api_fail(e, 400, "invalid_request_error", param, "too many images in one request");
                goto out;
            }
            if (!(j->images[j->n_images] = encode_image(s, p, param, e))) goto out;
            j->n_images++, n_img++;
        }
        if (!(text = hd_api_message_text(m))) goto oom;
        if (n_video) {   /* the frames' times before the question, as herd caption's image mode */
            char *t = hd_video_frames_text(video_pts, n_video, text, &err);
            if (!t) goto tok_fail;
            free(text);
            text = t;
        }
        if (n_audio && n_img) {
            hd_api_fail(e, 400, "invalid_request_error", "messages", "a message with both audio and images");
            goto out;
        }
        if (n_audio) {
            /* the paper's spoken dialogue: BEGIN, the speech rows, END, then the text of the turn */
            hd_speech_prompt sp = {.task = HD_SPEECH_DIALOG, .begin_id = hd_speech_model_begin_token(s->speech),
                                   .end_id = hd_speech_model_end_token(s->speech), .n_audio = audio_rows,
                                   .text = text[0] ? text : NULL};
            tmp.n = 0;
            if (hd_speech_prompt_encode(s->tok, &sp, &tmp, NULL, &err)) goto tok_fail;
            /* the helper writes a whole dialog (BOS … assistant header): keep the user turn */
            size_t from = tmp.n && tmp.ids[0] == bos ? 1 : 0;
            if (hd_tokens_push(&j->prompt, tmp.ids + from, tmp.n - from - hdr.n, &err)) goto tok_fail;
        } else if (n_img) {
            /* the helper ends with the assistant header: keep the user turn only */
            tmp.n = 0;
            if (hd_vlm_user_turn(s->tok, false, NULL, s->image_token, n_img, text, &tmp, &err)) goto tok_fail;
            if (hd_tokens_push(&j->prompt, tmp.ids, tmp.n - hdr.n, &err)) goto tok_fail;
        } else {
            hd_chat_message cm = {.role = m->role, .content = text};
            if (hd_chat_encode_message(s->tok, &cm, &j->prompt, &err)) goto tok_fail;
        }
        free(text), text = NULL;
    }
    if (hd_tokens_push(&j->prompt, hdr.ids, hdr.n, &err)) goto tok_fail;
    ok = true;
    goto out;
tok_fail:
    hd_api_fail(e, 400, "invalid_request_error", "messages", "%s", err.msg);
    goto out;
oom:
    hd_api_fail(e, 500, "server_error", NULL, "out of memory");
out:
    free(text);
    hd_tokens_free(&hdr);
    hd_tokens_free(&tmp);
    if (!ok) return false;
    const int64_t n_ctx = hd_llama_n_ctx(s->slots[0].ctx);
    const int64_t want = (int64_t)j->prompt.n + (r->max_tokens > 0 ? r->max_tokens : 1);
    if (want > n_ctx) {
        hd_api_fail(e, 400, "invalid_request_error", "messages",
                    "this model's context is %lld tokens; the messages take %zu%s", (long long)n_ctx, j->prompt.n,
                    r->max_tokens > 0 ? " plus max_tokens" : "");
        snprintf(e->code, sizeof e->code, "context_length_exceeded");
        return false;
    }
    return true;
}

static void fill_sampling(hd_server *s, chat_job *j) {
    const hd_api_chat *r = &j->req;
    hd_generate_params *gp = &j->gp;
    *gp = hd_generate_default_params();
    gp->n_predict = r->max_tokens > 0 ? r->max_tokens : -1;
    gp->sampling.temp = r->has_temperature ? r->temperature : s->default_temp_set ? s->default_temp : 1.0f;
    /* OpenAI semantics: no top-k / min-p unless asked, top_p 1 */
    gp->sampling.top_k = r->has_top_k ? r->top_k : 0;
    gp->sampling.top_p = r->has_top_p ? r->top_p : 1.0f;
    gp->sampling.min_p = r->has_min_p ? r->min_p : 0.0f;
    if (r->has_repeat_penalty) gp->sampling.repeat_penalty = r->repeat_penalty;
    gp->sampling.seed = r->has_seed ? r->seed : s->default_seed ^ (uint64_t)atomic_fetch_add(&s->request_counter, 1);
    gp->stop_strings = (const char *const *)r->stop;
    gp->n_stop_strings = r->n_stop;
    gp->on_token = on_chat_token;
    gp->user = j;
}

static enum MHD_Result handle_chat(hd_server *s, struct MHD_Connection *conn, const request *rq) {
    hd_api_error e = {0};
    chat_job *j = calloc(1, sizeof *j);
    if (!j) return hd_serve_send_json(conn, 500, NULL);
    j->srv = s;
    j->fd = -1;
    if (s->audio_lm) {
        hd_api_fail(&e, 400, "invalid_request_error", "model",
                    "model '%s' is a %s checkpoint: this server answers POST /v1/audio/transcriptions and "
                    "/v1/audio/translations", s->model_id,
                    hd_audio_lm_family_name(hd_audio_lm_family_of(hd_model_audio_lm(s->audio_lm))));
        goto fail;
    }
    if (!hd_api_parse_chat(rq->body, rq->len, &s->limits, &j->req, &e)) goto fail;
    if (j->req.model[0] && strcmp(j->req.model, s->model_id) != 0) {
        char shown[104];
        size_t n = 0;
        for (; j->req.model[n] && n < 100; n++) shown[n] = (unsigned char)j->req.model[n] < 0x20 ? '?' : j->req.model[n];
        shown[n] = 0;
        hd_api_fail(&e, 404, "invalid_request_error", "model", "the model '%s' does not exist (this server has '%.100s')",
                    shown, s->model_id);
        snprintf(e.code, sizeof e.code, "model_not_found");
        goto fail;
    }
    if (!build_prompt(s, j, &e)) goto fail;
    fill_sampling(s, j);
    snprintf(j->id, sizeof j->id, "chatcmpl-herd-%lld-%lld", (long long)unix_now(),
             (long long)atomic_fetch_add(&s->request_counter, 1));
    j->created = unix_now();
    if (!(j->sl = hd_serve_slot_acquire(s, &e))) goto fail;

    if (!j->req.stream) {
        j->conn = conn;
        /* the answer's buffer before the token loop: ~8 bytes a token, grown only past that */
        j->cap = (size_t)(j->req.max_tokens > 0 ? j->req.max_tokens : 512) * 8 + 64;
        if (!(j->text = malloc(j->cap))) {
            hd_serve_slot_release(s, j->sl);
            hd_api_fail(&e, 500, "server_error", NULL, "out of memory");
            goto fail;
        }
        hd_generate_result res = {0};
        hd_error err = {0};
        hd_status st = run_generation(j, &res, &err);
        hd_serve_slot_release(s, j->sl);
        if (st) {
            hd_api_fail(&e, 500, "server_error", NULL, "%s", err.msg);
            goto fail;
        }
        hd_api_usage u = {res.n_prompt, res.n_generated};
        char *json = hd_api_chat_completion_json(j->id, j->created, s->model_id, j->text ? j->text : "", j->len,
                                                 finish_reason(&res), &u);
        chat_job_free(j);
        return hd_serve_send_json(conn, 200, json);
    }

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        hd_serve_slot_release(s, j->sl);
        hd_api_fail(&e, 500, "server_error", NULL, "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    struct MHD_Response *r = MHD_create_response_from_pipe(fds[0]);
    if (!r) {
        close(fds[0]), close(fds[1]);
        hd_serve_slot_release(s, j->sl);
        hd_api_fail(&e, 500, "server_error", NULL, "out of memory");
        goto fail;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    j->stream = true;
    j->fd = fds[1];
    hd_serve_worker_begin(s);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, stream_worker, j) != 0) {
        pthread_attr_destroy(&at);
        hd_serve_worker_end(s);
        close(fds[1]);
        MHD_destroy_response(r);   /* closes fds[0] */
        hd_serve_slot_release(s, j->sl);
        hd_api_fail(&e, 500, "server_error", NULL, "cannot start a worker thread");
        goto fail;
    }
    pthread_attr_destroy(&at);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
fail:
    chat_job_free(j);
    return hd_serve_send_error(conn, &e);
}

/* ---- routing --------------------------------------------------------------- */

static bool authorized(hd_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    const char *k = h + 7;
    while (*k == ' ') k++;
    /* constant-time comparison of equal-length strings */
    size_t a = strlen(k), b = strlen(s->api_key);
    unsigned diff = (unsigned)(a != b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned)(k[i] ^ s->api_key[i]);
    return diff == 0;
}

static enum MHD_Result route(hd_server *s, struct MHD_Connection *c, const char *url, const char *method,
                             const request *rq) {
    hd_api_error e = {0};
    const bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0) {
        if (!get) return hd_api_fail(&e, 405, "invalid_request_error", NULL, "use GET /health"), hd_serve_send_error(c, &e);
        char *j = strdup("{\"status\":\"ok\"}");
        return hd_serve_send_json(c, 200, j);
    }
    if (!authorized(s, c)) {
        hd_api_fail(&e, 401, "authentication_error", NULL, "missing or wrong API key (Authorization: Bearer KEY)");
        snprintf(e.code, sizeof e.code, "invalid_api_key");
        return hd_serve_send_error(c, &e);
    }
    if (strcmp(url, "/v1/models") == 0) {
        if (!get) return hd_api_fail(&e, 405, "invalid_request_error", NULL, "use GET /v1/models"), hd_serve_send_error(c, &e);
        const char *ids[1] = {s->model_id};
        return hd_serve_send_json(c, 200, hd_api_models_json(ids, 1, unix_now()));
    }
    if (strncmp(url, "/v1/models/", 11) == 0 && get) {
        if (strcmp(url + 11, s->model_id) != 0) {
            hd_api_fail(&e, 404, "invalid_request_error", "model", "the model '%.100s' does not exist", url + 11);
            snprintf(e.code, sizeof e.code, "model_not_found");
            return hd_serve_send_error(c, &e);
        }
        return hd_serve_send_json(c, 200, hd_api_model_json(s->model_id, unix_now()));
    }
    const bool transcriptions = strcmp(url, "/v1/audio/transcriptions") == 0,
               translations = strcmp(url, "/v1/audio/translations") == 0;
    if (transcriptions || translations || strcmp(url, "/v1/audio/speech") == 0) {
        if (!post) return hd_api_fail(&e, 405, "invalid_request_error", NULL, "use POST %s", url), hd_serve_send_error(c, &e);
        if (transcriptions || translations) return hd_serve_audio_text(s, c, rq, translations);
        return hd_serve_audio_speech(s, c, rq);
    }
    if (strcmp(url, "/v1/chat/completions") == 0) {
        if (!post)
            return hd_api_fail(&e, 405, "invalid_request_error", NULL, "use POST /v1/chat/completions"),
                   hd_serve_send_error(c, &e);
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16) != 0)
            return hd_api_fail(&e, 415, "invalid_request_error", NULL, "send the request as application/json"),
                   hd_serve_send_error(c, &e);
        return handle_chat(s, c, rq);
    }
    hd_api_fail(&e, 404, "invalid_request_error", NULL, "unknown route %s %.200s", method, url);
    return hd_serve_send_error(c, &e);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    hd_server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *con_cls = rq;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->limits.max_body) rq->too_large = true;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_large && rq->len + *upload_size > s->limits.max_body) {
            rq->too_large = true;
            free(rq->body), rq->body = NULL, rq->len = rq->cap = 0;
        }
        if (!rq->too_large) {
            if (rq->len + *upload_size + 1 > rq->cap) {
                size_t cap = rq->cap ? rq->cap : 4096;
                while (cap < rq->len + *upload_size + 1) cap *= 2;
                char *b = realloc(rq->body, cap);
                if (!b) return MHD_NO;
                rq->body = b, rq->cap = cap;
            }
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
            rq->body[rq->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_large) {
        hd_api_error e;
        hd_api_fail(&e, 413, "invalid_request_error", NULL, "the request body is over the limit of %zu bytes",
                    s->limits.max_body);
        return hd_serve_send_error(c, &e);
    }
    if (!rq->body) rq->body = calloc(1, 1);
    if (!rq->body) return MHD_NO;
    return route(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    request *rq = *con_cls;
    if (rq) free(rq->body), free(rq);
    *con_cls = NULL;
}

/* ---- the command ----------------------------------------------------------- */

typedef struct opts {
    const char *host, *port, *api_key, *parallel, *queue, *ctx, *alias, *max_body, *vision, *lm;
    bool allow_local, hf_mask;
} opts;

static int flag(void *ctx, const char *f, const char *v) {
    opts *o = ctx;
    if (strcmp(f, "--host") == 0) return o->host = v, 1;
    if (strcmp(f, "--port") == 0) return o->port = v, 1;
    if (strcmp(f, "--api-key") == 0) return o->api_key = v, 1;
    if (strcmp(f, "--parallel") == 0 || strcmp(f, "-np") == 0) return o->parallel = v, 1;
    if (strcmp(f, "--queue") == 0) return o->queue = v, 1;
    if (strcmp(f, "-c") == 0 || strcmp(f, "--ctx-size") == 0) return o->ctx = v, 1;
    if (strcmp(f, "--alias") == 0) return o->alias = v, 1;
    if (strcmp(f, "--max-body") == 0) return o->max_body = v, 1;
    if (strcmp(f, "--allow-local-files") == 0) return o->allow_local = true, 0;
    if (strcmp(f, "--vision") == 0) return o->vision = v, 1;
    if (strcmp(f, "--lm") == 0) return o->lm = v, 1;
    if (strcmp(f, "--hf-mask") == 0) return o->hf_mask = true, 0;
    return -1;
}

static void model_basename(const char *path, char *out, size_t size) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(out, size, "%.*s", (int)(n - b), path + b);
}

static int run(int argc, char **argv) {
    hd_cli cli;
    opts o = {0};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (help) {
        fputs(k_usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "no model (-m MODEL)");
    if (cli.n_pos) return hd_cli_usage_error(&cli, "unexpected argument '%s'", cli.pos[0]);
    long long port = 8080, parallel = 1, queue = 16, n_ctx = 0, max_body = 64;
    if (o.port && !hd_cli_int(&cli, "--port", o.port, 0, 65535, &port)) return HD_EXIT_USAGE;
    if (o.parallel && !hd_cli_int(&cli, "--parallel", o.parallel, 1, 64, &parallel)) return HD_EXIT_USAGE;
    if (o.queue && !hd_cli_int(&cli, "--queue", o.queue, 0, 100000, &queue)) return HD_EXIT_USAGE;
    if (o.ctx && !hd_cli_int(&cli, "-c", o.ctx, 16, 1 << 24, &n_ctx)) return HD_EXIT_USAGE;
    if (o.max_body && !hd_cli_int(&cli, "--max-body", o.max_body, 1, 4096, &max_body)) return HD_EXIT_USAGE;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    const char *host = o.host ? o.host : "127.0.0.1";
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return hd_cli_usage_error(&cli, "--host '%s' is not an IPv4 address", host);
    if (o.api_key && !o.api_key[0]) return hd_cli_usage_error(&cli, "--api-key is empty");

    hd_server *s = calloc(1, sizeof *s);
    if (!s) return HD_EXIT_INPUT;
    s->cli = &cli;
    s->api_key = o.api_key;
    s->allow_local_files = o.allow_local;
    s->limits = hd_api_default_limits();
    s->limits.max_body = (size_t)max_body << 20;
    s->default_temp = cli.temp, s->default_temp_set = cli.temp_set;
    s->default_seed = cli.seed;
    s->max_waiting = (int)queue;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->speech_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    model_basename(o.alias ? o.alias : cli.model, s->model_id, sizeof s->model_id);
    if (o.alias) snprintf(s->model_id, sizeof s->model_id, "%s", o.alias);

    hd_error err = {0};
    struct MHD_Daemon *d = NULL;
    char *lm_path = NULL;
    bool is_speech = false;
    hd_audio_lm_family fam = HD_AUDIO_LM_NONE;
    hd_error derr = {0};
    if (hd_audio_lm_detect(cli.model, &fam, &derr)) fam = HD_AUDIO_LM_NONE;   /* the loaders name the problem */
    if (fam == HD_AUDIO_LM_NONE && o.lm) {
        hd_error_set(&err, HD_ERR_ARG, "--lm is for Granite Speech / Ultravox checkpoints; %s is none", cli.model);
        goto fail;
    }
    if (fam != HD_AUDIO_LM_NONE) {
        /* a published speech LLM: the audio endpoints run the transcription graph on it */
        s->speech_path = cli.model;
        s->speech_lm = o.lm;
        if (!(s->audio_lm = hd_model_acquire_with(HD_MODEL_AUDIO_LM, cli.model, o.lm, &err))) goto fail;
        const hd_audio_lm *a = hd_model_audio_lm(s->audio_lm);
        s->model = (hd_llama_model *)hd_audio_lm_lm(a);
        s->tok = (hd_tokenizer *)hd_audio_lm_tokenizer(a);
        if (!s->model || !s->tok) {
            hd_error_set(&err, HD_ERR_ARG, "%s: loaded without a language model", cli.model);
            goto fail;
        }
    } else if (hd_speech_file_lm_path(cli.model, &lm_path, &is_speech, &err)) goto fail;
    if (is_speech) {
        s->speech_path = cli.model;   /* transcriptions run on it; chat on the LM it names */
        hd_speech_model_params spp = hd_speech_model_default_params();
        spp.no_lm = true;             /* the LM is loaded once, below */
        if (!(s->speech = hd_speech_model_load(cli.model, &spp, &err))) goto fail;
        if (!(s->vision_pool = hd_threadpool_create(cli.threads, &err))) goto fail;
    }
    if (!(s->registry = hd_registry_create(&err)) || hd_registry_add_builtins(s->registry, &err)) goto fail;
    if (!s->audio_lm && !(s->model = hd_llama_load(lm_path, &err))) goto fail;
    if (!s->audio_lm && !(s->tok = hd_tokenizer_load(s->model->source, &err))) goto fail;
    if (hd_llama_has_cross_attention(s->model)) {
        /* Llama 3.2 Vision: the encoder of the same checkpoint (or --vision FILE) */
        if (!(s->vit = hd_model_acquire(HD_MODEL_VIT, o.vision ? o.vision : cli.model, &err))) goto fail;
        if (!s->vision_pool && !(s->vision_pool = hd_threadpool_create(cli.threads, &err))) goto fail;
        s->image_token = hd_vlm_image_token(s->tok, s->model);
        if (s->image_token < 0) {
            hd_error_set(&err, HD_ERR_FORMAT, "%s: no <|image|> token in the tokenizer or the embedding table", cli.model);
            goto fail;
        }
    }
    s->xattn_mask = o.hf_mask ? HD_XATTN_MASK_HF : HD_XATTN_MASK_META;
    hd_cli_progress(&cli, "herd serve: %s loaded (%d layers, width %d, %s%s)\n", cli.model, s->model->cfg.n_layer,
                    s->model->cfg.n_embd, hd_type_name(s->model->weight_type), s->vit ? ", reads images" : "");
    s->n_slots = (int)parallel;
    if (!(s->slots = calloc((size_t)s->n_slots, sizeof *s->slots))) {
        hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->n_slots; i++) {
        hd_llama_context_params cp = hd_llama_context_default_params();
        cp.n_ctx = n_ctx;
        cp.max_images = 16;   /* a request's images (a video_url part brings 8 frames) */
        cp.n_threads = cli.threads > 0 ? cli.threads : 0;
        if (!(s->slots[i].ctx = hd_llama_context_create(s->model, &cp, &err))) goto fail;
    }

    /* a thread per connection: without a bound, glibc gives threads up to 8 malloc
     * arenas per core and resident memory creeps up with the connection count */
    mallopt(M_ARENA_MAX, 2);
    /* per-request buffers (sampler tables, prompts) of 128 KiB and more are mapped and
     * given back when freed, instead of glibc's sliding threshold keeping them on the heap */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL, NULL,
                         on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)(256 + queue),
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
    if (!d) {
        hd_error_set(&err, HD_ERR_IO, "cannot listen on %s:%lld (port in use, or no permission?)", host, port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "herd serve: listening on http://%s:%u (model id '%s', %d slot%s, queue %d)\n", host,
            di ? (unsigned)di->port : (unsigned)port, s->model_id, s->n_slots, s->n_slots == 1 ? "" : "s",
            s->max_waiting);
    fflush(stderr);
    while (!g_signal) pause();
    fprintf(stderr, "herd serve: stopping (signal %d)\n", (int)g_signal);
    atomic_store(&s->stopping, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(d);
    d = NULL;
    pthread_mutex_lock(&s->mu);
    while (s->n_workers > 0) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    rc = HD_EXIT_OK;
    goto done;
fail:
    rc = hd_cli_fail(&cli, &err);
done:
    if (d) MHD_stop_daemon(d);
    for (int i = 0; s->slots && i < s->n_slots; i++) hd_llama_context_free(s->slots[i].ctx);
    free(s->slots);
    free(lm_path);
    hd_speech_model_free(s->speech);
    pthread_mutex_destroy(&s->speech_mu);
    hd_registry_free(s->registry);
    hd_model_release(s->vit);
    hd_threadpool_free(s->vision_pool);
    if (s->audio_lm) {
        hd_model_release(s->audio_lm);   /* model and tok were its own */
    } else {
        hd_tokenizer_free(s->tok);
        hd_llama_free(s->model);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return rc;
}

const hd_command hd_cmd_serve = {"serve", "an OpenAI-compatible HTTP server (chat completions, audio transcriptions/translations/speech)", k_usage,
                                 run};
