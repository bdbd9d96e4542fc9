/* speech/tts.h — streaming text-to-speech (SPEC §5): text in, audio out, as
 * the text arrives.
 *
 *   text pieces ──► segmenter ──► TN ──► espeak-ng phones ──► [prosody model] ──► vocoder ──► audio callback
 *                         └──► [Llama 3: layer-L states of the text's tokens] ──► TN tagger, prosody model
 *
 * hd_tts_push takes text in any pieces (LM tokens, stdin reads).  As soon as
 * a sentence is complete (".", "!", "?", ";" or ":" followed by white space,
 * or a line break; "Dr." and other abbreviations do not end one) it is
 * normalised (speech/tn.h, unless disabled), phonemised and rendered by
 * espeak-ng (speech/phonemes.h), given the prosody model's per-phone
 * duration, F0 and power when a model is attached (speech/prosody.h), and
 * rendered by the vocoder (speech/vocoder.h); its audio goes to the callback
 * before hd_tts_push returns.  A sentence still growing past 150 bytes is cut
 * at its last ", " (or, past 400, its last space) so audio does not wait for
 * a very long sentence.  hd_tts_finish renders whatever text remains.
 *
 * Llama 3 token states (paper §8: the TN tagger and the prosody model
 * cross-attend to the hidden states of the text's tokens after layer 16 of
 * Llama 3 8B).  With an LM (params.lm), each segment is tokenized with the
 * LM's tokenizer and decoded in the engine's LM context after the text read
 * before it (one prefill per segment; the context restarts with
 * <|begin_of_text|> when full), capturing the states after layer L
 * (params.lm_layer; default the models' token_layer, else n_layer/2).  A
 * caller that decodes the text anyway (an answer as it is generated) hands
 * its tokens over instead with hd_tts_push_token.  The states are aligned
 * with the TN tokens and the phones through the words of the text
 * (speech/tts_align.h): while tagging a TN token or predicting a phone the
 * models see the tokens of the words up to the newest one they look at.
 * Without an LM and without pushed states the models run with no tokens (the
 * token cross-attention is skipped), as before.
 *
 * One hd_tts is used by one thread at a time.
 */
#ifndef HD_SPEECH_TTS_H
#define HD_SPEECH_TTS_H

#include "phonemes.h"
#include "prosody.h"
#include "tn_model.h"
#include "vocoder.h"

#include "core/error.h"
#include "core/exec.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_tts hd_tts;

/* Receives n mono samples at the engine's rate; the buffer is only valid
 * during the call.  A non-OK return stops the engine with that error. */
typedef hd_status (*hd_tts_audio_fn)(void *user, const float *pcm, int64_t n, hd_error *err);

struct hd_tts_segment;   /* below */

typedef struct hd_tts_params {
    const char *voice;      /* espeak-ng voice ("en-us+klatt", "en-us", "en-gb", "en-us+f3"); NULL = "en-us+klatt" */
    int rate_wpm;           /* speaking rate, 80..450 words per minute (0 = 175)              */
    int pitch;              /* espeak-ng base pitch 0..100, negative = 50                     */
    int sample_rate;        /* output rate, 8000..48000 (16000 or 22050 typical); 0 = 22050   */
    bool no_normalize;      /* skip text normalisation                                        */
    /* > 0: the first segment of an utterance (after create or hd_tts_finish)
     * also ends at its first ", " at or past this many bytes, so a slowly
     * arriving answer starts to sound after its first clause, not its first
     * sentence; 0 = sentences only (see above) */
    int first_cut;
    /* TN tagger (borrowed, may be NULL: the rule-based normaliser decides
     * alone).  When given, each sentence's TN tokens are tagged by it and
     * the tags drive the rules (speech/tn_model.h); runs on `ex`. */
    const hd_tn_model *tn;
    /* Prosody model (borrowed, may be NULL: espeak-ng's own prosody).  When
     * given, `ex` runs it (borrowed; NULL = the calling thread, no pool). */
    const hd_prosody_model *prosody;
    hd_exec *ex;
    /* The LM whose hidden states the models cross-attend to (both borrowed;
     * NULL = none).  The engine uses `lm` alone (it installs its hidden-state
     * capture, lm/llama.h) and needs ≥ 512 positions in it; its width must
     * equal the attached models' token_embedding_length (checked at create).
     * Unused (never run) when no TN or prosody model is attached. */
    hd_llama_context *lm;
    const hd_tokenizer *lm_tok;
    int lm_layer;           /* states after this many layers; < 0 = the models'
                               token_layer, else the LM's n_layer/2 */
    /* Called once per rendered segment with what the models saw (tests,
     * diagnostics); may be NULL.  A non-OK return stops the engine. */
    hd_status (*on_segment)(void *user, const struct hd_tts_segment *seg, hd_error *err);
    void *segment_user;
} hd_tts_params;

/* One rendered segment as the models saw it; every pointer is valid only
 * during the on_segment call. */
typedef struct hd_tts_segment {
    const char *text;           /* the written text (leading white space removed) */
    size_t len;
    const char *spoken;         /* after text normalisation (NUL-terminated)      */
    int n_tn;                   /* TN tokens (0 without a TN model)                */
    const hd_tn_token *tn;      /* [n_tn] of text                                  */
    const uint8_t *tags;        /* [n_tn] the tagger's tags                        */
    int n_tokens;               /* LM tokens of the segment                        */
    int dim;                    /* their state width (0 when n_tokens = 0)         */
    const float *tok_emb;       /* [n_tokens][dim]                                 */
    const size_t *tok_start, *tok_len;  /* [n_tokens] bytes of text               */
    const int32_t *tok_chunk;   /* [n_tokens] TN chunk (word) of each token        */
    int n_phones;               /* 0 without a prosody model                       */
    const int32_t *phone_ids;   /* [n_phones] prosody inventory rows               */
    const float *feats;         /* [n_phones][4]                                   */
    const int32_t *phone_chunk; /* [n_phones] TN chunk of each phone's word        */
    const float *prosody;       /* [n_phones][3] the model's raw outputs            */
} hd_tts_segment;

hd_tts_params hd_tts_default_params(void);

/* The engine keeps `fn`/`user` (borrowed) and copies the voice name.  Fails
 * with HD_ERR_ARG for bad parameters or an unknown voice (checked here by
 * rendering nothing), HD_ERR_IO when espeak-ng cannot start. */
hd_tts *hd_tts_create(const hd_tts_params *p, hd_tts_audio_fn fn, void *user, hd_error *err);
void hd_tts_free(hd_tts *t);   /* NULL no-op */

/* Appends text[0, len) (UTF-8, any piece boundaries, even inside a UTF-8
 * sequence) and renders every sentence it completes. */
hd_status hd_tts_push(hd_tts *t, const char *text, size_t len, hd_error *err);
/* Appends one LM token's bytes with its hidden state (state[w], w = the
 * attached models' token_embedding_length; NULL = no state for this token)
 * and renders every sentence it completes.  Once a token was pushed this
 * way the engine never runs params.lm: the caller supplies the states (its
 * own decode with hd_llama_set_hidden_capture at the models' layer). */
hd_status hd_tts_push_token(hd_tts *t, const char *piece, size_t len, const float *state, hd_error *err);
/* The width of the states hd_tts_push_token takes (0: no model attached,
 * states are ignored) and the layer they should come from (for an LM of
 * n_layer layers: params.lm_layer, else the models' token_layer, else
 * n_layer/2). */
int hd_tts_state_dim(const hd_tts *t);
int hd_tts_state_layer(const hd_tts *t, int n_layer);
/* Renders the rest of the text.  The engine may be pushed to again after. */
hd_status hd_tts_finish(hd_tts *t, hd_error *err);

int hd_tts_sample_rate(const hd_tts *t);

/* Counters since creation. */
typedef struct hd_tts_stats {
    int64_t sentences;     /* segments rendered            */
    int64_t phones;        /* phones rendered              */
    int64_t samples;       /* samples given to the callback */
    int64_t lm_tokens;     /* LM token states the models saw */
} hd_tts_stats;
hd_tts_stats hd_tts_get_stats(const hd_tts *t);

/* The prosody model's targets for an utterance rendered by espeak-ng:
 * per phone, id from the model's inventory, features (word start, word end,
 * pause, last phone), chunk = the word; no Llama tokens (the engine itself
 * passes the aligned tokens).  The predictions
 * exp(log duration) · 175/rate_wpm, exp(log F0), exp(log power) are clamped to
 * what a voice can do: 10 ms..2 s, 50..400 Hz, power ≤ 1.  out[u->n_phones]. */
hd_status hd_tts_prosody_targets(const hd_prosody_model *m, hd_exec *ex, const hd_utterance *u, int rate_wpm,
                                 hd_phone_prosody *out, hd_error *err);

/* The next segment boundary in text[0, len): the number of bytes of the
 * first complete segment (including the punctuation and following white
 * space), or 0 when no segment is complete yet.  `final` = no more text
 * follows (then a trailing "." ends a segment too).  Exposed for tests. */
size_t hd_tts_segment_end(const char *text, size_t len, bool final);

#ifdef __cplusplus
}
#endif
#endif
