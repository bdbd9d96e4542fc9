/* speech/ultravox.h — Ultravox v0.5 (fixie-ai/ultravox, HF UltravoxModel):
 * Whisper log-mel → Whisper encoder → frame stacking + SwiGLU projector →
 * rows replacing <|audio|> in a Llama 3 chat prompt.  herd runs it through
 * speech/audio_lm.h (hd_ultravox_ops); this header holds what the loader,
 * the converter and `herd random-model --arch ultravox` share.
 *
 * A published checkpoint (fixie-ai/ultravox-v0_5-llama-3_2-1b, -llama-3_1-8b)
 * is a Hugging Face folder:
 *   config.json               model_type "ultravox": audio_config (a whole
 *                             WhisperConfig, whisper-large-v3-turbo's encoder),
 *                             text_model_id (the LM, e.g.
 *                             "meta-llama/Llama-3.2-1B-Instruct"; text_config
 *                             then absent: UltravoxConfig.to_diff_dict drops
 *                             it), stack_factor 8, hidden_size 4096,
 *                             projector_act "swiglu", projector_ln_mid true,
 *                             norm_init 0.4, audio_latency_block_size null
 *   model.safetensors         ONLY the trained parts (UltravoxModel
 *                             .diff_state_dict): audio_tower.* (the Whisper
 *                             encoder, speech/whisper_encoder.h) and
 *                             multi_modal_projector.*
 *                             (adapters/ultravox_projector.h); the LM is not
 *                             saved, it is the text_model_id checkpoint
 *   tokenizer.json, tokenizer_config.json   the LM's (Llama 3) tokenizer and
 *                             chat template
 *   preprocessor_config.json  the WhisperFeatureExtractor (feature_size 128);
 *                             when present it must match the audio tower
 *                             (feature_size = num_mel_bins, hop 160, n_fft 400,
 *                             16 kHz): herd computes only that front end
 *
 * Where the LM comes from, first that exists:
 *   1. hd_audio_lm_params.lm_path (a Llama HF folder or a GGUF);
 *   2. text_model_id as a path (absolute, or relative to the folder);
 *   3. the folder's text_model/ sub-folder (what `herd random-model --arch
 *      ultravox` writes, so a random checkpoint is self-contained);
 *   4. the Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
 *      ~/.cache/huggingface/hub, models--ORG--NAME/snapshots/<refs/main>.
 *
 * Converted files (`herd convert` → hd_ultravox_convert):
 *   OUT.gguf          the LM as a plain llama.cpp llama GGUF (lm/convert.h)
 *   OUT-mmproj.gguf   encoder + projector in llama.cpp's mmproj layout:
 *                     general.architecture "clip", clip.has_audio_encoder
 *                     true, clip.has_vision_encoder false, clip.projector_type
 *                     "ultravox" (and clip.audio.projector_type), clip.audio.*
 *                     (num_mel_bins, embedding_length, feed_forward_length,
 *                     block_count, attention.head_count,
 *                     attention.layer_norm_epsilon, projection_dim = LM width,
 *                     projector.stack_factor), a.* / mm.a.* tensors (conv
 *                     weights and a.position_embd F16 — F32 when converting
 *                     to F32 —, conv biases [D, 1], as convert_hf_to_gguf.py
 *                     UltravoxWhisperEncoderModel writes them; other matrices
 *                     p->type, F16 when their rows do not fit its blocks;
 *                     vectors F32), plus herd's
 *                     speech.lm_file = "OUT.gguf" (a plain file name beside
 *                     it), ultravox.hidden_size and ultravox.projector_ln_mid.
 *   The mmproj file is what hd_ultravox_ops loads; one made by llama.cpp
 *   (no speech.lm_file) loads too when lm_path is given.  The tokenizer is
 *   the LM GGUF's; the chat template follows tokenizer.chat_template.
 *
 * Prompt (UltravoxProcessor + the tokenizer's chat template): the user
 * message is the task's instruction with "<|audio|>"; the template renders
 *   <|begin_of_text|>[<|start_header_id|>system<|end_header_id|>\n\n
 *   Cutting Knowledge Date: December 2023\nToday Date: DATE\n\n<|eot_id|>]
 *   <|start_header_id|>user<|end_header_id|>\n\n{instruction|trim}<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n
 * (the bracketed system block only with a Llama 3.1/3.2 template, i.e. one
 * that contains "Cutting Knowledge Date"; DATE is "26 Jul 2024", or today's
 * "%d %b %Y" when the template calls strftime_now, as transformers renders
 * it).  The text is split at "<|audio|>", each part tokenized on its own with
 * no BOS added, and the audio's rows (HD_LLAMA_TOKEN_EMBD entries) go between
 * the parts.  Special-token names are parsed in the template's own text but
 * not in the user message: the same ids as the processor for any ordinary
 * message, while a "<|eot_id|>" typed by a user stays text (lm/chat.h).  Instructions (the
 * training templates of ultravox/data/types.py):
 *   ASR     "Repeat the following text, without any explanation: <|audio|>"
 *   AST     "Please translate the text to {L}. Your response should only
 *            include the {L} translation, without any additional words:\n\n<|audio|>"
 *   DIALOG  "<|audio|>"  (UltravoxPipeline's default prompt)
 * {L} is the target's English name: speech/speech_prompt.h's 34 languages
 * plus the CoVoST 2 targets Ultravox trains on (ca, cy, et, lv, mn, sl);
 * by ISO 639-1 code or name, anything else is an error.
 * A user's own text without "<|audio|>" gets " <|audio|>" appended (as the
 * pipeline does); more than one placeholder is an error.
 *
 * Audio (UltravoxProcessor._chunk_and_pad_audio): the whole input is one
 * Whisper log-mel (speech/hf_mel.h PAD_HOP: L = ceil(N'/160) frames,
 * normalised over the whole input), cut into windows of 3000 frames; window
 * k has len_k = min(L − 3000k, 3000) frames of audio; the first window runs
 * at its own length, later ones are zero-padded to 3000 (in practice to the
 * 16·rows frames the kept rows depend on) with the keys past len_k masked;
 * each window gives rows_k = ceil(len_k / 16) rows (audio_token_len), and the
 * rows of all windows follow each other in the prompt.
 */
#ifndef HD_SPEECH_ULTRAVOX_H
#define HD_SPEECH_ULTRAVOX_H

#include "adapters/ultravox_projector.h"
#include "core/error.h"
#include "lm/convert.h"
#include "speech/whisper_encoder.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_ULTRAVOX_WINDOW_FRAMES 3000   /* audio_context_size: mel frames per encoder window */
#define HD_ULTRAVOX_ID_MAX 256

typedef struct hd_ultravox_config {
    hd_whisper_config audio;              /* audio_config                                */
    hd_ultravox_projector_config proj;    /* n_in = audio.n_embd; n_out = text hidden size
                                             (0 until known: text_config or the LM)        */
    char text_model_id[HD_ULTRAVOX_ID_MAX]; /* "" when absent                            */
    char audio_model_id[HD_ULTRAVOX_ID_MAX];/* "" when absent                            */
    int64_t vocab_size;                   /* 0 when absent                               */
} hd_ultravox_config;

/* Parses an Ultravox config.json (len bytes).  UltravoxConfig's defaults for
 * absent keys (stack_factor 8, hidden_size 4096, projector_ln_mid false,
 * projector_act "swiglu" — the only activation herd runs).  HD_ERR_FORMAT
 * "NAME: ..." for a wrong model_type, a missing audio_config (with an
 * audio_model_id: "the audio tower is not in this folder"), bad values. */
hd_status hd_ultravox_config_from_json(const char *json, size_t len, const char *name, hd_ultravox_config *c,
                                       hd_error *err);

/* Rows for n samples of 16 kHz audio (the file comment's chunking), 0 for n = 0. */
int64_t hd_ultravox_n_rows(int stack_factor, int64_t n_samples);

/* herd convert: the Ultravox folder hf_dir (+ its LM: lm_hf_dir, NULL = found
 * as above; it must be a Llama HF folder) → out_gguf (the LM) and
 * hd_ultravox_mmproj_path(out_gguf) (encoder + projector).  p NULL =
 * hd_convert_default_params(); p->type applies to the LM and to the
 * encoder/projector matrices (1-D tensors F32, conv weights F16).  Errors
 * name the file and the problem. */
hd_status hd_ultravox_convert(const char *hf_dir, const char *lm_hf_dir, const char *out_gguf,
                              const hd_convert_params *p, hd_error *err);
/* "DIR/NAME-mmproj.gguf" for out_gguf "DIR/NAME.gguf" (or "DIR/NAME" + "-mmproj.gguf");
 * malloc'd, caller frees; NULL when out of memory. */
char *hd_ultravox_mmproj_path(const char *out_gguf);

#ifdef __cplusplus
}
#endif
#endif
