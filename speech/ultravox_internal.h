/* speech/ultravox_internal.h — the loaded Ultravox model as speech/ultravox.c
 * (load, embed) and speech/ultravox_prompt.c (prompt) share it (internal). */
#ifndef HD_SPEECH_ULTRAVOX_INTERNAL_H
#define HD_SPEECH_ULTRAVOX_INTERNAL_H

#include "lm/chat.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "speech/audio_lm.h"
#include "speech/hf_mel.h"
#include "speech/ultravox.h"

typedef struct hd_ultravox {
    hd_ultravox_config cfg;
    char *path;                     /* the folder or mmproj file (owned)             */
    char *lm_path;                  /* the LM's path (owned), NULL with no_lm          */
    hd_weights *w;                  /* encoder + projector weights (owned)             */
    hd_whisper_encoder *enc;        /* borrows w                                       */
    hd_ultravox_projector *proj;    /* borrows w                                       */
    hd_hf_mel *mel;                 /* Whisper log-mel, PAD_HOP                         */
    hd_llama_model *lm;             /* owned, NULL with no_lm                          */
    hd_tokenizer *tok;              /* owned, NULL with no_lm                          */
    bool system_block;              /* Llama 3.1/3.2 template: the "Cutting Knowledge" system turn */
    char date[32];                  /* its "Today Date"                                 */
} hd_ultravox;

/* Reads the chat template's kind (speech/ultravox.h "Prompt"): sets
 * system_block and date.  tmpl NULL = none (the Llama 3 form). */
void hd_ultravox_template_set(hd_ultravox *u, const char *tmpl, size_t len);

/* hd_ultravox_ops.prompt. */
hd_status hd_ultravox_prompt(const void *state, const hd_audio_prompt *p, hd_tokens *out, int64_t *audio_at,
                             hd_error *err);

/* llama.cpp's mmproj name of an Ultravox HF tensor into out; false when it
 * has none (speech/ultravox_convert.c). */
bool hd_ultravox_gguf_name(const char *hf, char *out, size_t cap);
/* hd_ultravox_ops.convert: hd_ultravox_convert with the LM found as usual. */
hd_status hd_ultravox_convert_ops(const char *dir, const char *out_gguf, const hd_convert_params *p, hd_error *err);

#endif
