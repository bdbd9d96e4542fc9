/* speech/tts_align.h — which Llama 3 tokens each TN token and each phone of
 * the text-to-speech front end cross-attends to (SPEC §5; paper §8).
 *
 * Both models number the text's words by TN chunk: the chunk of a TN token
 * (speech/tn_model.h) is the count of white-space tokens before it, i.e. the
 * index of its word in the written text.  The alignment is
 *
 *   LM token ↔ written bytes: a token's bytes are a span of the text (the
 *       Llama 3 tokenizer round-trips bytes, so the pieces tile the text);
 *   written bytes ↔ TN chunk: the chunk of the TN token holding the span's
 *       first non-space byte (a token of white space only: the TN token at its
 *       start), so " world" belongs to "world";
 *   spoken words ↔ TN chunk: text normalisation rewrites words ("$5" → "five
 *       dollars"), so the words of the normalised text are matched to the
 *       written words by a longest common subsequence of their letters and
 *       digits (lower-case); the unmatched spoken words between two matches
 *       are spread in order over the unmatched written words between them
 *       (spoken word k of m over written words 0..w-1: written word k·w/m),
 *       or, with no written word there, belong to the preceding match;
 *   phone ↔ spoken word (espeak-ng's word events, speech/phonemes.h).
 * Every mapping is monotone, so chunks never decrease along tokens or phones,
 * as the models require: a phone sees the tokens of its word and of the words
 * before it, and its lookahead phones' words (prosody.h). */
#ifndef HD_SPEECH_TTS_ALIGN_H
#define HD_SPEECH_TTS_ALIGN_H

#include "tn_model.h"

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The TN chunk of the LM token spanning text[start, start + len) given the
 * text's TN tokens tk[0, n) (hd_tn_tokenize of the same text).  A span at or
 * past the end gets the last chunk; n == 0 gives 0. */
int32_t hd_tts_span_chunk(const char *text, const hd_tn_token *tk, int n, size_t start, size_t len);

/* For every byte of the normalised text norm[0, norm_len), the TN chunk of
 * the written text src[0, src_len) (TN tokens tk[0, n)) it was read from
 * (white space: the chunk of the word before it, or of the first word);
 * out[norm_len] nondecreasing.  HD_ERR_NOMEM only. */
hd_status hd_tts_align_spoken(const char *src, size_t src_len, const hd_tn_token *tk, int n, const char *norm,
                              size_t norm_len, int32_t *out, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
