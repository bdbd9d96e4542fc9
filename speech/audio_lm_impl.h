/* speech/audio_lm_impl.h — what a speech-LLM family module provides to
 * speech/audio_lm.c (internal; families: speech/granite_speech.c,
 * speech/ultravox.c). */
#ifndef HD_AUDIO_LM_IMPL_H
#define HD_AUDIO_LM_IMPL_H

#include "lm/convert.h"
#include "speech/audio_lm.h"

typedef struct hd_audio_lm_ops {
    hd_audio_lm_family family;
    /* True when path is this family's checkpoint: a folder whose config.json
     * model_type matches, or a GGUF this family wrote / reads.  Never fails:
     * unreadable paths are "no". */
    bool (*detect)(const char *path);
    /* Family state (owned by the caller, freed with free_state). */
    void *(*load)(const char *path, const hd_audio_lm_params *p, hd_error *err);
    void (*free_state)(void *state);
    const hd_llama_model *(*lm)(const void *state);
    const hd_tokenizer *(*tokenizer)(const void *state);
    double (*window_seconds)(const void *state);
    int64_t (*n_rows)(const void *state, int64_t n_samples);
    hd_status (*embed)(void *state, hd_exec *ex, const float *pcm, int64_t n, float **rows, int64_t *n_rows,
                       hd_error *err);
    hd_status (*prompt)(const void *state, const hd_audio_prompt *p, hd_tokens *out, int64_t *audio_at,
                        hd_error *err);
    /* `herd convert DIR OUT.gguf`: the HF folder at dir → out_gguf (+ the
     * family's companion files beside it); p->type is the weight type. */
    hd_status (*convert)(const char *dir, const char *out_gguf, const hd_convert_params *p, hd_error *err);
} hd_audio_lm_ops;

extern const hd_audio_lm_ops hd_granite_speech_ops;   /* speech/granite_speech.c */
extern const hd_audio_lm_ops hd_ultravox_ops;         /* speech/ultravox.c       */

#endif
