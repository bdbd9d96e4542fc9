/* apps/serve_api.h — the OpenAI wire format of `herd serve`: request bodies
 * parsed into plain structs, responses and errors built as JSON.
 *
 * Pure functions of their input (no sockets, no models), so they are unit
 * tested and fuzzed on their own (tests/unit/test_serve_api.c,
 * tests/fuzz/fuzz_serve.c).  Every string and array read from a request is
 * length- and count-checked against hd_api_limits; a problem becomes an
 * hd_api_error carrying the HTTP status, OpenAI's error type and the
 * offending parameter.
 *
 * Chat request (POST /v1/chat/completions), the fields herd reads:
 *   model                     string (checked by the server against its model id)
 *   messages[]                {role: system|user|assistant|tool, content}
 *     content                 a string, or an array of parts:
 *       {type: "text", text}
 *       {type: "image_url", image_url: {url}}     data:image/...;base64,... or a path/file:// URL
 *       {type: "input_audio", input_audio: {data (base64), format: wav|mp3|...}}
 *       {type: "video_url", video_url: {url}}     (vLLM's convention)
 *   stream, stream_options.include_usage   booleans
 *   temperature (0..2), top_p (0..1], max_tokens / max_completion_tokens (≥ 1),
 *   stop (string or array of ≤ 4 strings), seed (integer), top_k, min_p,
 *   repetition_penalty (llama.cpp-style extensions)
 * Unknown fields are ignored, as OpenAI's own server ignores what it does not use.
 */
#ifndef HD_SERVE_API_H
#define HD_SERVE_API_H

#include "lm/chat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

typedef struct hd_api_limits {
    size_t max_body;          /* bytes of a request body                      */
    size_t max_media;         /* decoded bytes of one image/audio/video part   */
    int max_messages;         /* messages per chat request                     */
    int max_parts;            /* media parts per request                       */
} hd_api_limits;

hd_api_limits hd_api_default_limits(void);   /* 64 MiB body, 32 MiB media, 1024 messages, 16 parts */

typedef struct hd_api_error {
    int status;               /* HTTP status: 400, 401, 404, 405, 413, 415, 500, 503 */
    char type[40];            /* "invalid_request_error", "authentication_error", "server_error", ... */
    char code[40];            /* "model_not_found", "context_length_exceeded", ... or ""           */
    char param[64];           /* the request field at fault, or ""                               */
    char message[256];
} hd_api_error;

/* Fills e and returns false, for one-line use: `return hd_api_fail(e, 400, ...)`. */
bool hd_api_fail(hd_api_error *e, int status, const char *type, const char *param, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* {"error":{"message","type","param","code"}} (param/code null when empty); caller frees. */
char *hd_api_error_json(const hd_api_error *e);

typedef enum hd_api_part_kind {
    HD_API_TEXT = 0,
    HD_API_IMAGE,
    HD_API_AUDIO,
    HD_API_VIDEO,
} hd_api_part_kind;

typedef struct hd_api_part {
    hd_api_part_kind kind;
    char *text;               /* TEXT: the text (NUL-terminated, may hold no NULs)          */
    unsigned char *data;      /* IMAGE/AUDIO/VIDEO from data: URLs or base64: decoded bytes */
    size_t size;
    char *path;               /* IMAGE/VIDEO given as a local path / file:// URL (the server
                                 accepts it only with --allow-local-files)                   */
    char format[16];          /* AUDIO: "wav", "mp3", ...; IMAGE/VIDEO: from the data URL's
                                 media type ("png", "jpeg", "mp4", ...) or ""                */
} hd_api_part;

typedef struct hd_api_message {
    hd_chat_role role;
    hd_api_part *parts;
    int n_parts;
} hd_api_message;

typedef struct hd_api_chat {
    char *model;              /* "" when absent                                   */
    hd_api_message *messages;
    int n_messages;
    int n_media;              /* image/audio/video parts over all messages         */
    bool stream, include_usage;
    bool has_temperature, has_top_p, has_seed, has_top_k, has_min_p, has_repeat_penalty;
    float temperature, top_p, min_p, repeat_penalty;
    int top_k;
    uint64_t seed;
    int max_tokens;           /* -1 when absent                                     */
    char *stop[4];
    int n_stop;
} hd_api_chat;

/* Parses a chat-completions body; false with e set (status 400 or 413).
 * out is zeroed first and owns everything it points to afterwards (free with
 * hd_api_chat_free, also after a failure). */
bool hd_api_parse_chat(const char *body, size_t len, const hd_api_limits *lim, hd_api_chat *out, hd_api_error *e);
void hd_api_chat_free(hd_api_chat *c);

/* The text of a message: its text parts joined by "\n" (media parts skipped). Caller frees. */
char *hd_api_message_text(const hd_api_message *m);

/* Decodes standard base64 (with or without padding, whitespace ignored);
 * false for any other character or a bad length.  *out is malloc'd (caller
 * frees), at most max_out bytes (false "too large" beyond). */
bool hd_api_base64_decode(const char *s, size_t len, size_t max_out, unsigned char **out, size_t *out_len,
                          bool *too_large);

/* ---- responses ------------------------------------------------------------ */

typedef struct hd_api_usage {
    int64_t prompt_tokens, completion_tokens;
} hd_api_usage;

/* "stop" or "length" (or "cancelled" never reaches a client). */
/* A whole chat.completion object; caller frees. */
char *hd_api_chat_completion_json(const char *id, int64_t created, const char *model, const char *content,
                                  size_t content_len, const char *finish_reason, const hd_api_usage *usage);
/* One chat.completion.chunk: a role-only first chunk (role != NULL), a content
 * delta (content != NULL), or the final chunk (finish_reason != NULL, empty
 * delta).  usage != NULL adds "usage" (the include_usage chunk has no choices). */
char *hd_api_chat_chunk_json(const char *id, int64_t created, const char *model, const char *role,
                             const char *content, size_t content_len, const char *finish_reason,
                             const hd_api_usage *usage);
/* GET /v1/models: {"object":"list","data":[{"id","object":"model","created","owned_by":"herd"}]}. */
char *hd_api_models_json(const char *const *ids, int n, int64_t created);
/* GET /v1/models/ID: the one model object. */
char *hd_api_model_json(const char *id, int64_t created);

#endif
