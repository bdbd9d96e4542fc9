/* speech/speech_prompt.h — the paper's speech prompts as token ids, with
 * placeholders for the audio rows (SPEC §4 steps 5–6).
 *
 * Layout (Llama 3 chat format, SPEC §1.9; lm/chat.h builds the pieces):
 *
 *   <|begin_of_text|>
 *   <|start_header_id|>system<|end_header_id|>\n\n{system prompt}<|eot_id|>   (not for DIALOG)
 *   <|start_header_id|>user<|end_header_id|>\n\n
 *       BEGIN  EMBD × n_audio  END  [{text}]<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n
 *
 * BEGIN / END are the speech file's enclosing special tokens
 * (speech/speech_model.h), EMBD is HD_LLAMA_TOKEN_EMBD (lm/llama.h): one
 * entry per adapter output row, filled by hd_llama_decode_embd.
 *
 * System prompts (the paper's, with the target language's English name):
 *   ASR     "Repeat after me in {language}:"
 *   AST     "Translate the following sentence into {language}:"
 *   DIALOG  none (general spoken dialogue)
 * Only the target language is named, never the source (the paper keeps
 * zero-shot directions and code-switching that way).  Languages: the 34 of
 * the paper's supervised data (footnote 18), by English name or ISO 639-1
 * code, case-insensitive: `--language fr` and `--language French` agree.
 */
#ifndef HD_SPEECH_PROMPT_H
#define HD_SPEECH_PROMPT_H

#include "core/error.h"
#include "lm/chat.h"
#include "lm/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_speech_task {
    HD_SPEECH_ASR = 0,      /* transcribe in the spoken language        */
    HD_SPEECH_AST = 1,      /* translate into the target language        */
    HD_SPEECH_DIALOG = 2,   /* answer the speech, no system prompt       */
} hd_speech_task;

const char *hd_speech_task_name(hd_speech_task t);   /* "asr", "ast", "dialog" */

typedef struct hd_speech_language {
    const char *code;   /* ISO 639-1, lower case: "fr" */
    const char *name;   /* English name as the prompt uses it: "French" */
} hd_speech_language;

/* The 34 languages in the paper's order (alphabetical by English name);
 * static storage.  *n gets the count. */
const hd_speech_language *hd_speech_languages(int *n);
/* By code or English name, ASCII case-insensitive; NULL if not supported. */
const hd_speech_language *hd_speech_language_find(const char *code_or_name);

/* The system prompt text (NUL-terminated) into buf; HD_ERR_ARG for an
 * unknown language (the message lists how to name one) or a too small buf;
 * DIALOG gives "". */
hd_status hd_speech_system_prompt(hd_speech_task task, const char *language, char *buf, size_t cap,
                                  hd_error *err);

typedef struct hd_speech_prompt {
    hd_speech_task task;
    const char *language;   /* code or name; NULL = English                  */
    int32_t begin_id;       /* BEGIN, e.g. hd_speech_model_begin_token()      */
    int32_t end_id;         /* END                                            */
    int64_t n_audio;        /* EMBD entries (adapter rows), ≥ 0               */
    const char *text;       /* user text after the audio, or NULL             */
} hd_speech_prompt;

/* Appends the whole prompt to out (see the layout above).  *audio_at (may be
 * NULL) gets the index in out of the first EMBD entry.  Errors: an unknown
 * language, ids outside the tokenizer's vocabulary, n_audio < 0, a
 * tokenizer without the chat special tokens. */
hd_status hd_speech_prompt_encode(const hd_tokenizer *tok, const hd_speech_prompt *p, hd_tokens *out,
                                  int64_t *audio_at, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
