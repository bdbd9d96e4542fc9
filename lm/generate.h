/* lm/generate.h — the generation loop: prefill, then sample/decode until a stop.
 *
 *   1. prefill: the prompt is run through the decoder in batches of the
 *      context's n_batch and appended to its KV cache (after whatever the
 *      cache already holds, so a chat can continue a conversation);
 *   2. decode: sample a token from the last logits, report it through the
 *      callback, run it, repeat — until a stop token, a stop string, n_predict
 *      tokens, the end of the context, or the callback says stop.
 *
 * Stop tokens are not run through the decoder (the cache ends before them);
 * text that might be the start of a stop string is held back until it is
 * known not to be, and a matched stop string is never reported.  The loop
 * itself does not allocate: the sampler and text buffers are made before the
 * first token.
 */
#ifndef HD_GENERATE_H
#define HD_GENERATE_H

#include "core/error.h"
#include "lm/llama.h"
#include "lm/sampler.h"
#include "lm/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_stop_reason {
    HD_STOP_NONE = 0,
    HD_STOP_LENGTH,     /* n_predict tokens generated           */
    HD_STOP_TOKEN,      /* a stop token was sampled             */
    HD_STOP_STRING,     /* the text reached a stop string       */
    HD_STOP_CONTEXT,    /* the KV cache is full                 */
    HD_STOP_CALLBACK,   /* the token callback returned false    */
} hd_stop_reason;

const char *hd_stop_reason_name(hd_stop_reason r);

/* Called once per generated token (stop tokens excluded).  text/len: the
 * bytes that became final with this token (possibly empty while a stop
 * string might be starting, possibly the held-back text of earlier tokens
 * too; UTF-8 characters may be split between calls).  A last call with
 * token -1 delivers text held back for a stop string that never completed.
 * Return false to stop. */
typedef bool (*hd_token_fn)(void *user, int32_t token, const char *text, size_t len);

typedef struct hd_generate_params {
    int n_predict;                   /* maximum new tokens; < 0 = until a stop or the context end */
    hd_sampler_params sampling;
    const int32_t *stop_tokens;      /* NULL = the tokenizer's end-of-text/turn tokens            */
    int n_stop_tokens;
    const char *const *stop_strings; /* NUL-terminated, non-empty; may be NULL                     */
    int n_stop_strings;
    bool penalize_prompt;            /* prompt tokens enter the repetition-penalty window          */
    const float *prompt_embd;        /* rows for prompt entries equal to HD_LLAMA_TOKEN_EMBD
                                        ([rows][n_embd] F32, lm/llama.h), or NULL                  */
    hd_token_fn on_token;            /* may be NULL                                                */
    void *user;
} hd_generate_params;

hd_generate_params hd_generate_default_params(void);

typedef struct hd_generate_result {
    int64_t n_prompt;         /* tokens prefilled                       */
    int64_t n_generated;      /* tokens reported (stop token excluded)  */
    hd_stop_reason stop;
    int32_t stop_token;       /* the stop token sampled, or -1          */
    double prefill_ms;        /* wall time of the prefill               */
    double decode_ms;         /* wall time of sampling + decoding       */
} hd_generate_result;

/* Generates after prompt[0..n_prompt) (n_prompt may be 0 if the context
 * already holds logits from an earlier decode).  tok may be NULL: then no
 * text is produced and stop strings are refused.  Errors: the prompt does not
 * fit the remaining context ("prompt of N tokens does not fit ..."), bad
 * sampler parameters, forward-pass failures.  res is filled even on error. */
hd_status hd_generate(hd_llama_context *ctx, const hd_tokenizer *tok, const int32_t *prompt, int64_t n_prompt,
                      const hd_generate_params *p, hd_generate_result *res, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
