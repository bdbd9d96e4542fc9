/* apps/serve_internal.h — what the apps/serve*.c files share: the server
 * state, the request body, and the HTTP helpers.  Not a public API. */
#ifndef HD_APPS_SERVE_INTERNAL_H
#define HD_APPS_SERVE_INTERNAL_H

#include "cli.h"
#include "serve_api.h"

#include "core/threadpool.h"
#include "graph/models.h"
#include "graph/registry.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct slot {
    hd_llama_context *ctx;
    bool busy;
} slot;

typedef struct hd_server {
    const hd_cli *cli;
    hd_llama_model *model;
    hd_tokenizer *tok;
    /* Llama 3.2 Vision: the encoder (shared cache entry), its pool, <|image|> */
    hd_model *vit;
    hd_threadpool *vision_pool;
    int32_t image_token;
    hd_xattn_mask_mode xattn_mask;
    /* the speech path: -m names a speech file (encoder + adapter naming its LM) */
    const char *speech_path;
    struct hd_speech_model *speech;   /* its encoder + adapter (chat input_audio parts) */
    pthread_mutex_t speech_mu;        /* the encoder and adapter keep one arena each */
    /* ... or a Granite Speech / Ultravox checkpoint (speech/audio_lm.h, shared cache entry with the
       transcription graphs); then model and tok are its LM and tokenizer, borrowed, and only the audio
       endpoints are served */
    hd_model *audio_lm;
    const char *speech_lm;            /* --lm: its language model when it holds none */
    hd_registry *registry;   /* node types for the audio graphs (read-only once built) */
    char model_id[256];
    const char *api_key;
    bool allow_local_files;
    hd_api_limits limits;
    float default_temp;
    bool default_temp_set;
    uint64_t default_seed;
    slot *slots;
    int n_slots;
    int max_waiting;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_waiting;
    int n_workers;          /* streaming workers alive */
    atomic_bool stopping;
    atomic_llong request_counter;
} hd_server;

typedef struct request {
    char *body;
    size_t len, cap;
    bool too_large;
} request;

/* One JSON body (taken, may be NULL = out of memory → 500) with a status. */
enum MHD_Result hd_serve_send_json(struct MHD_Connection *c, int status, char *json);
enum MHD_Result hd_serve_send_error(struct MHD_Connection *c, const hd_api_error *e);
/* True when the peer closed the connection. */
bool hd_serve_client_gone(struct MHD_Connection *c);
/* A free slot, waiting in the bounded queue; NULL + 503 when full or stopping. */
slot *hd_serve_slot_acquire(hd_server *s, hd_api_error *e);
void hd_serve_slot_release(hd_server *s, slot *sl);
/* Streaming workers: count one in before the thread starts, out when it ends. */
void hd_serve_worker_begin(hd_server *s);
void hd_serve_worker_end(hd_server *s);

/* apps/serve_audio.c: POST /v1/audio/transcriptions and /translations
 * (multipart upload) and POST /v1/audio/speech (JSON). */
enum MHD_Result hd_serve_audio_text(hd_server *s, struct MHD_Connection *c, const request *rq, bool translate);
enum MHD_Result hd_serve_audio_speech(hd_server *s, struct MHD_Connection *c, const request *rq);

#endif
