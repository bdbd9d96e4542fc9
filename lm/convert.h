/* lm/convert.h — model files from one layout to another, as llama.cpp's tools
 * make them:
 *
 *   hd_convert_hf_to_gguf   a Hugging Face Llama 3.x folder (config.json,
 *                           *.safetensors shards, tokenizer files) → one GGUF
 *                           file as convert_hf_to_gguf.py writes it: its
 *                           llama.* / general.* keys, tokenizer.ggml.*, its
 *                           tensor names and order, Q/K rows permuted to the
 *                           interleaved RoPE layout, rope_freqs.weight for
 *                           llama3 scaling.  The tensor list, metadata and
 *                           permutation are lm/random_model_llama.c's (one
 *                           implementation for both), so converting a random
 *                           HF checkpoint gives the GGUF `herd random-model`
 *                           writes for the same seed.
 *                           A Llama 3.2 Vision folder (config.json
 *                           model_type "mllama", MllamaForConditionalGeneration)
 *                           becomes one GGUF with the whole model: the text
 *                           decoder with general.architecture "mllama",
 *                           mllama.* keys and names as lm/llama.h documents
 *                           (Ollama's layout), the vision tower and projector
 *                           in vision/vit.h's v.* / mm.* names with the
 *                           mllama_vision.* keys (the patch embedding F16 for
 *                           block types); lm/random_model_mllama.c's plan.
 *                           Folders saved by newer transformers versions
 *                           (model.language_model.*, model.vision_model.*,
 *                           model.multi_modal_projector.*, lm_head.weight) are
 *                           read too.
 *   hd_quantize_gguf        a GGUF file → the same model with its weight
 *                           matrices in another type, as `llama-quantize
 *                           --pure` makes it (see below).
 *
 * Tensor data stream through the GGUF writer's fill callbacks: one output
 * tensor is in memory at a time, the inputs are read from their mappings.
 */
#ifndef HD_CONVERT_H
#define HD_CONVERT_H

#include "core/error.h"
#include "core/types.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called after each output tensor is written: done of total (1-based). */
typedef void (*hd_convert_progress_fn)(void *ctx, int done, int total, const char *tensor);

typedef struct hd_convert_params {
    hd_type type;                     /* F32, F16 (default), BF16, Q8_0, Q4_0, Q4_K:
                                         the weight matrices; 1-D tensors stay F32  */
    const char *name;                 /* general.name; NULL: the folder's name      */
    int n_threads;                    /* <= 0: one per core                          */
    hd_convert_progress_fn progress;  /* may be NULL                                 */
    void *progress_ctx;
} hd_convert_params;

hd_convert_params hd_convert_default_params(void);

/* Converts the HF folder hf_dir (LlamaForCausalLM or
 * MllamaForConditionalGeneration; safetensors in F32, F16 or BF16) to the
 * GGUF file out.  The tokenizer (tokenizer.json or
 * tokenizer.model in the folder) is stored as tokenizer.ggml.* when present.
 * Every tensor the config implies must be there with its shape; tensors the
 * model does not use (other than rotary_emb.inv_freq) are an error.
 * Errors: HD_ERR_ARG for a type GGUF cannot take or whose block size does not
 * divide a row, HD_ERR_IO / HD_ERR_FORMAT / HD_ERR_UNSUPPORTED for the folder
 * (message names the file and the problem). */
hd_status hd_convert_hf_to_gguf(const char *hf_dir, const char *out, const hd_convert_params *p, hd_error *err);

/* llama-quantize's rules for a pure type: a tensor is converted when its name
 * ends in "weight" and it has at least 2 dimensions (so norms and rope_freqs
 * stay as they are, F32); everything else, the embeddings and the LM head
 * included, gets `type` (F16, BF16, Q8_0, Q4_0, Q4_K), except the mllama
 * patch embedding v.patch_embd.weight (rows of 14, no block fits), which gets
 * F16 when `type` is a block type.  Input tensors of any
 * type herd can dequantize are re-quantized from their F32 values; a tensor
 * already in `type` is copied.  The metadata are copied with
 * general.file_type set for `type` and general.quantization_version = 2.
 * Work is split over rows with n_threads (p->type is ignored, type rules). */
hd_status hd_quantize_gguf(const char *in, const char *out, hd_type type, const hd_convert_params *p,
                           hd_error *err);

/* llama.cpp's general.file_type (llama_ftype) for a pure type. */
uint32_t hd_convert_file_type(hd_type type);

#ifdef __cplusplus
}
#endif
#endif
