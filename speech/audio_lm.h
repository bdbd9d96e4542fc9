/* speech/audio_lm.h — published speech-LLM checkpoints behind one interface:
 * 16 kHz audio in, LM input rows + the model's own prompt out.
 *
 * Families (each in its own module; this file only dispatches):
 *   GRANITE   IBM Granite Speech 3.3 (HF GraniteSpeechForConditionalGeneration):
 *             Granite log-mel → Conformer (Shaw relative positions, block
 *             attention, CTC mid-layer) → windowed Q-Former projector →
 *             Granite LM (Llama core + multipliers) with its LoRA active
 *             whenever audio is present            speech/granite_speech.h
 *   ULTRAVOX  Ultravox v0.5 (HF UltravoxModel): Whisper log-mel → Whisper
 *             encoder → frame stacking (stack_factor) → SwiGLU projector →
 *             rows replacing <|audio|> in a Llama 3 chat prompt
 *                                                   speech/ultravox.h
 * (The paper's own speech file — conformer + adapter GGUF — keeps its
 * nodes conformer ! speech-adapter; speech/speech_model.h.)
 *
 * What a path may be:
 *   - a Hugging Face folder (config.json model_type "granite_speech" or
 *     "ultravox", safetensors, tokenizer files, preprocessor_config.json);
 *   - a GGUF written by `herd convert` from such a folder (the family's module
 *     documents the files; the LM GGUF is a plain llama.cpp-layout file).
 *
 * Use:
 *     hd_audio_lm *m = hd_audio_lm_load("granite-speech-3.3-2b/", NULL, &err);
 *     float *rows; int64_t n_rows;
 *     hd_audio_lm_embed(m, ex, pcm16k, n_samples, &rows, &n_rows, &err);
 *     hd_audio_prompt ap = {.task = HD_SPEECH_ASR, .n_audio = n_rows};
 *     hd_audio_lm_prompt(m, &ap, &ids, &audio_at, &err);
 *     ... lm/generate.h with prompt_embd = rows at the HD_LLAMA_TOKEN_EMBD entries,
 *         on hd_audio_lm_lm(m) (LoRA, if any, already active) ...
 *     free(rows); hd_audio_lm_free(m);
 */
#ifndef HD_AUDIO_LM_H
#define HD_AUDIO_LM_H

#include "core/error.h"
#include "core/exec.h"
#include "lm/convert.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "speech/speech_prompt.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_audio_lm_family {
    HD_AUDIO_LM_NONE = 0,   /* not a published speech-LLM checkpoint */
    HD_AUDIO_LM_GRANITE,
    HD_AUDIO_LM_ULTRAVOX,
} hd_audio_lm_family;

const char *hd_audio_lm_family_name(hd_audio_lm_family f);   /* "granite-speech", "ultravox", "none" */

/* What path holds, by reading only config.json (model_type) or the GGUF
 * header.  *fam = HD_AUDIO_LM_NONE (and HD_OK) for anything else that opens
 * (a Llama GGUF, a herd speech file, a plain Llama folder).  Errors: the path
 * does not exist / cannot be read (message names it). */
hd_status hd_audio_lm_detect(const char *path, hd_audio_lm_family *fam, hd_error *err);

typedef struct hd_audio_lm_params {
    const char *lm_path;          /* the language model when the checkpoint does not
                                     hold or name it (e.g. a llama.cpp mmproj file);
                                     NULL = the checkpoint's own                        */
    bool no_lm;                   /* encoder + projector only (no LM, no tokenizer)     */
} hd_audio_lm_params;

hd_audio_lm_params hd_audio_lm_default_params(void);

typedef struct hd_audio_lm hd_audio_lm;

/* Loads the checkpoint at path (p NULL = defaults).  Checks that the encoder,
 * projector and LM widths agree and that the tokenizer has the audio
 * placeholder / chat tokens the prompt needs.  Errors name the file and the
 * problem (HD_ERR_FORMAT for a wrong layout, HD_ERR_NOTFOUND for a missing
 * file, HD_ERR_ARG for a path that is no speech-LLM checkpoint).
 * Caller frees with hd_audio_lm_free. */
hd_audio_lm *hd_audio_lm_load(const char *path, const hd_audio_lm_params *p, hd_error *err);
void hd_audio_lm_free(hd_audio_lm *m);   /* NULL is a no-op */

hd_audio_lm_family hd_audio_lm_family_of(const hd_audio_lm *m);
/* Owned by m (valid until hd_audio_lm_free); NULL with no_lm. */
const hd_llama_model *hd_audio_lm_lm(const hd_audio_lm *m);
const hd_tokenizer *hd_audio_lm_tokenizer(const hd_audio_lm *m);
const char *hd_audio_lm_path(const hd_audio_lm *m);
/* Audio the encoder takes in one window, in seconds (Whisper: 30; 0 = no
 * limit).  hd_audio_lm_embed splits longer audio itself; segmenters use this
 * to cut utterances no longer than one window. */
double hd_audio_lm_window_seconds(const hd_audio_lm *m);

/* LM input rows for n samples of 16 kHz mono PCM in [-1, 1]:
 * *rows = malloc'd [n_rows][D_lm] F32 (caller frees; NULL when n_rows is 0).
 * Runs the family's own front end (exactly as its HF feature extractor),
 * encoder and projector.  Not thread-safe per model. */
hd_status hd_audio_lm_embed(hd_audio_lm *m, hd_exec *ex, const float *pcm, int64_t n, float **rows, int64_t *n_rows,
                            hd_error *err);
/* Rows for n samples without computing them. */
int64_t hd_audio_lm_n_rows(const hd_audio_lm *m, int64_t n);

typedef struct hd_audio_prompt {
    hd_speech_task task;      /* ASR: transcribe; AST: translate into `language`; DIALOG: answer */
    const char *language;     /* target language (code or English name), NULL = English          */
    int64_t n_audio;          /* HD_LLAMA_TOKEN_EMBD entries = rows from hd_audio_lm_embed       */
    const char *text;         /* NULL = the family's default instruction for the task;
                                 otherwise the user's own instruction, used instead               */
} hd_audio_prompt;

/* Appends the whole prompt, as the family's HF processor + chat template
 * build it, to out; *audio_at (may be NULL) = index of the first EMBD entry.
 * Errors: an unknown language, n_audio < 0, no tokenizer. */
hd_status hd_audio_lm_prompt(const hd_audio_lm *m, const hd_audio_prompt *p, hd_tokens *out, int64_t *audio_at,
                             hd_error *err);

/* `herd convert`: a Granite Speech / Ultravox HF folder → GGUF (out_gguf and
 * the family's companion files beside it, documented in its module).
 * HD_ERR_ARG when dir is no such folder. */
hd_status hd_audio_lm_convert(const char *dir, const char *out_gguf, const hd_convert_params *p, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
