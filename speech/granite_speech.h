/* speech/granite_speech.h — IBM Granite Speech 3.3 (HF
 * GraniteSpeechForConditionalGeneration) behind speech/audio_lm.h:
 * hd_granite_speech_ops (speech/granite_speech.c) and its converter
 * (speech/granite_speech_convert.c).
 *
 * Pipeline (one utterance):
 *   16 kHz PCM → Granite log-mel, frame pairs stacked (speech/hf_mel.h)
 *             → Conformer encoder (speech/granite_encoder.h, "encoder.")
 *             → windowed Q-Former projector (adapters/qformer.h, "projector.")
 *             → rows at the <|audio|> positions of the Granite LM (lm/llama.h
 *               with Granite's multipliers, "language_model."), whose PEFT
 *               LoRA is active: the published model enables its adapter
 *               exactly when audio features are given (generate() override),
 *               and every prompt here has audio.
 *
 * What a path may be:
 *   - the HF folder: config.json (model_type "granite_speech": text_config,
 *     encoder_config, projector_config, audio_token_index, window_size,
 *     downsample_rate, has_lora_adapter), model safetensors (or shards +
 *     index), adapter_config.json + adapter_model.safetensors (when
 *     has_lora_adapter), tokenizer.json / tokenizer_config.json;
 *   - the GGUF `herd convert` writes from it: OUT.gguf holds the encoder and
 *     projector (general.architecture "granite_speech", the tensors under
 *     their HF names without the "encoder." / "projector." prefix — GGUF
 *     names hold at most 63 bytes and the Q-Former's HF names under
 *     projector. are longer; the two modules' names do not collide —
 *     speech/granite_encoder.h's granite_speech.encoder.*
 *     and granite_speech.projector.* keys, and
 *        granite_speech.audio_token_index   u32
 *        granite_speech.lm_file             str  the LM file beside it
 *        granite_speech.lora_file           str  the LoRA file beside it
 *                                                (absent without an adapter)
 *     with the LM as llama.cpp's "granite" GGUF (OUT-lm.gguf, tokenizer
 *     included) and the adapter as llama.cpp's LoRA GGUF (OUT-lora.gguf).
 *     Conv kernels and the queries (3-D tensors) are F16 when the weight type
 *     is a block type; vectors F32.
 *
 * Prompt (GraniteSpeechProcessor + the Granite 3.3 chat template, as the
 * model card's example builds it):
 *   <|start_of_role|>system<|end_of_role|>SYSTEM<|end_of_text|>\n
 *   <|start_of_role|>user<|end_of_role|><|audio|>×n INSTRUCTION<|end_of_text|>\n
 *   <|start_of_role|>assistant<|end_of_role|>
 * SYSTEM = the model card's "Knowledge Cutoff Date: April 2024.\nToday's
 * Date: April 9, 2025.\nYou are Granite, developed by IBM. You are a helpful
 * AI assistant" (the template's own default inserts today's date; a fixed
 * one keeps outputs reproducible).  INSTRUCTION: ASR "can you transcribe the
 * speech into a written format?" (model card); AST "translate the speech to
 * LANGUAGE" (LANGUAGE = English name, speech/speech_prompt.h); DIALOG: the
 * user's text or nothing; a given text replaces the instruction.  No BOS
 * (Granite's tokenizer adds none).
 */
#ifndef HD_SPEECH_GRANITE_SPEECH_H
#define HD_SPEECH_GRANITE_SPEECH_H

#include "core/error.h"
#include "lm/convert.h"
#include "speech/audio_lm_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The published prompt texts (static storage). */
#define HD_GRANITE_SPEECH_SYSTEM                                                                                   \
    "Knowledge Cutoff Date: April 2024.\nToday's Date: April 9, 2025.\nYou are Granite, developed by IBM. You are " \
    "a helpful AI assistant"
#define HD_GRANITE_SPEECH_ASR "can you transcribe the speech into a written format?"
#define HD_GRANITE_SPEECH_AST "translate the speech to %s"

/* `herd convert DIR OUT.gguf` for a granite_speech folder: OUT.gguf
 * (encoder + projector), OUT-lm.gguf (llama.cpp "granite", tokenizer
 * included when the folder has one) and, with an adapter, OUT-lora.gguf
 * (llama.cpp LoRA: general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha; Q/K lora_b rows permuted like the base Q/K rows).
 * OUT must end in ".gguf".  p->type: the LM and encoder/projector matrices
 * (F32, F16, BF16, Q8_0, Q4_0, Q4_K as the rows allow); the LoRA file keeps
 * F32 / BF16 and is F16 otherwise (convert_lora_to_gguf.py's default).  Every
 * tensor of the folder must belong to the model (errors name the file and
 * the tensor). */
hd_status hd_granite_speech_convert(const char *dir, const char *out_gguf, const hd_convert_params *p,
                                    hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
