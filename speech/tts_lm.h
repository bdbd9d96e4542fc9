/* speech/tts_lm.h — internal to the text-to-speech engine (speech/tts.c):
 * the Llama 3 token states of the text, with the bytes each token covers.
 *
 * Either the engine runs the LM over each segment it renders (its own
 * context, hd_tts_lm_run), or the caller hands over the states of tokens it
 * decoded anyway (hd_tts_push_token, e.g. an answer as it is generated). */
#ifndef HD_SPEECH_TTS_LM_H
#define HD_SPEECH_TTS_LM_H

#include "core/error.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* Token records: token i covers bytes [start[i], start[i] + len[i]) of the
 * text they belong to and has the state emb[i][dim]. */
typedef struct hd_tts_tokens {
    int n, cap, dim;
    size_t *start, *len;   /* [cap], owned */
    float *emb;            /* [cap][dim], owned */
} hd_tts_tokens;

/* Appends one record (emb[dim] copied).  HD_ERR_NOMEM only. */
hd_status hd_tts_tokens_push(hd_tts_tokens *tt, size_t start, size_t len, const float *emb, hd_error *err);
/* Drops records [0, k) and shifts the rest's starts down by `bytes`. */
void hd_tts_tokens_drop(hd_tts_tokens *tt, int k, size_t bytes);
void hd_tts_tokens_free(hd_tts_tokens *tt);   /* frees the arrays, zeroes *tt */

/* The engine's own LM run. */
typedef struct hd_tts_lm hd_tts_lm;

/* Borrows ctx (used by this object alone from now on: it installs its
 * hidden-state capture) and tok; layer in 0..n_layer.  The context must hold
 * at least 512 positions (a segment is at most ~400 bytes).  */
hd_tts_lm *hd_tts_lm_create(hd_llama_context *ctx, const hd_tokenizer *tok, int layer, hd_error *err);
void hd_tts_lm_free(hd_tts_lm *lm);   /* NULL no-op; removes the capture */

/* Tokenizes text[0, len) with the LM's tokenizer, decodes it after the text
 * the LM has read so far (the context starts with <|begin_of_text|> and is
 * restarted when full) and appends each token's span (bytes of text) and
 * state after `layer` layers to *out (out->dim = the LM width). */
hd_status hd_tts_lm_run(hd_tts_lm *lm, const char *text, size_t len, hd_tts_tokens *out, hd_error *err);

#endif
