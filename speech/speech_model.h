/* speech/speech_model.h — the paper's speech-understanding model as one
 * loadable bundle (SPEC §4): log-mel → Conformer → speech adapter →
 * embeddings spliced into a frozen Llama 3 between two special tokens.
 *
 * Files: two GGUF files, the way llama.cpp pairs a language model with an
 * "mmproj" encoder file:
 *
 *   SPEECH FILE (encoder + adapter), general.architecture = "conformer" so
 *   that speech/conformer.h loads it unchanged:
 *     conformer.*        keys and enc.* tensors       speech/conformer.h
 *     speech_adapter.*   keys and adp.* tensors       adapters/speech_adapter.h
 *     speech.begin_token_id  u32  id placed before the audio rows (128002)
 *     speech.end_token_id    u32  id placed after them (128003)
 *     speech.lm_file         str  optional: the LM file's name, relative to
 *                                 the speech file's directory
 *     general.name           str
 *
 *   LM FILE: a plain Llama 3.x GGUF with llama.cpp's names and keys
 *   (lm/llama.h), tokenizer.ggml.* included — any existing Llama 3 GGUF
 *   whose width equals speech_adapter.output_length, loadable by llama.cpp
 *   itself.  (One combined file would not be: llama.cpp refuses files with
 *   tensors it does not know.)
 *
 * Special tokens (SPEC §4 step 5: "enclosed by two special tokens", ids
 * unknown): <|reserved_special_token_0|> = 128002 opens the audio and
 * <|reserved_special_token_1|> = 128003 closes it.  They are the only
 * reserved ids with the same name in every Llama 3.x tokenizer release
 * (fixtures/tokenizer/special_tokens.tsv) and no release uses them, so a
 * frozen LM has never seen them in text.  The ids are stored in the file;
 * loading checks that they are inside the LM's vocabulary and, when the
 * LM has a tokenizer, that they are special tokens there.
 *
 * Front end: speech/mel.h's default Kaldi fbank with the encoder's bin count.
 *
 * Use:
 *     hd_speech_model *m = hd_speech_model_load("speech.gguf", NULL, &err);
 *     float *rows; int64_t n_rows;
 *     hd_speech_model_embed(m, ex, mel, n_frames, &rows, &n_rows, &err);
 *     ... speech/speech_prompt.h builds the ids with n_rows
 *     HD_LLAMA_TOKEN_EMBD entries; lm/generate.h runs them with
 *     hd_generate_params.prompt_embd = rows ...
 *     free(rows); hd_speech_model_free(m);
 */
#ifndef HD_SPEECH_MODEL_H
#define HD_SPEECH_MODEL_H

#include "adapters/speech_adapter.h"
#include "core/error.h"
#include "core/exec.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "speech/conformer.h"
#include "speech/mel.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The defaults written by `herd random-model --arch speech`. */
#define HD_SPEECH_BEGIN_TOKEN 128002   /* <|reserved_special_token_0|> */
#define HD_SPEECH_END_TOKEN   128003   /* <|reserved_special_token_1|> */

/* Reads speech.begin_token_id / speech.end_token_id; HD_ERR_FORMAT naming
 * the file when missing, not u32, equal, or ≥ 2^31. */
hd_status hd_speech_tokens_from_gguf(const hd_gguf *g, int32_t *begin_id, int32_t *end_id, hd_error *err);

typedef struct hd_speech_model_params {
    const char *lm_path;          /* the LM GGUF (or HF folder); NULL: speech.lm_file
                                     beside the speech file (error if the key is absent) */
    const char *tokenizer_path;   /* NULL: the LM file's own tokenizer, if it has one      */
    bool no_lm;                   /* load encoder + adapter only (no LM, no tokenizer)      */
} hd_speech_model_params;

hd_speech_model_params hd_speech_model_default_params(void);

typedef struct hd_speech_model hd_speech_model;

/* Loads the speech file at path and its LM (p NULL = defaults).  Checks that
 * the encoder width equals the adapter input, the adapter output equals the
 * LM width, and the token ids (above).  Errors name the file and the problem.
 * Caller frees with hd_speech_model_free. */
hd_speech_model *hd_speech_model_load(const char *path, const hd_speech_model_params *p, hd_error *err);
void hd_speech_model_free(hd_speech_model *m);   /* NULL is a no-op */

/* Components, owned by the model (valid until hd_speech_model_free).
 * lm is NULL with no_lm; tokenizer is NULL when neither the LM nor
 * tokenizer_path provides one. */
hd_conformer *hd_speech_model_encoder(const hd_speech_model *m);
hd_speech_adapter *hd_speech_model_adapter(const hd_speech_model *m);
const hd_llama_model *hd_speech_model_lm(const hd_speech_model *m);
const hd_tokenizer *hd_speech_model_tokenizer(const hd_speech_model *m);
int32_t hd_speech_model_begin_token(const hd_speech_model *m);
int32_t hd_speech_model_end_token(const hd_speech_model *m);
/* The mel front end the encoder expects (speech/mel.h defaults, n_mel of
 * the encoder). */
hd_mel_params hd_speech_model_mel_params(const hd_speech_model *m);
/* Paths as resolved (owned by the model); lm path NULL with no_lm. */
const char *hd_speech_model_path(const hd_speech_model *m);
const char *hd_speech_model_lm_path(const hd_speech_model *m);

/* LM input rows for a segment of mel frames: mel ne={n_mel, n_frames} →
 * *rows = malloc'd [n_rows][D_lm] F32 (caller frees; NULL when n_rows is 0),
 * n_rows = adapter frames of hd_conformer_n_out(n_frames).  Runs the encoder
 * and the adapter; not thread-safe per model (their arenas). */
hd_status hd_speech_model_embed(hd_speech_model *m, hd_exec *ex, const float *mel, int64_t n_frames, float **rows,
                                int64_t *n_rows, hd_error *err);
/* Rows for n_frames mel frames without computing them. */
int64_t hd_speech_model_n_rows(const hd_speech_model *m, int64_t n_frames);

#ifdef __cplusplus
}
#endif
#endif
