/* lm/llama_config.h — Llama 3.x hyper-parameters (SPEC §1.6): named presets and
 * their two on-disk spellings, GGUF `llama.*` metadata (as llama.cpp's
 * convert_hf_to_gguf.py writes it) and Hugging Face config.json
 * (LlamaForCausalLM).  No weights here; lm/llama.c loads those and
 * lm/random_model*.c writes random ones.
 *
 * Notation (SPEC): D model width, H query heads, G KV heads, d head dim,
 * F FFN hidden size, V vocabulary rows.
 */
#ifndef HD_LLAMA_CONFIG_H
#define HD_LLAMA_CONFIG_H

#include "core/error.h"
#include "core/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_rope_scaling {
    HD_ROPE_SCALING_NONE = 0,    /* plain θ^(−2i/d) (Llama 3.0)                  */
    HD_ROPE_SCALING_LLAMA3 = 1,  /* "llama3" frequency scaling, SPEC §1.4        */
} hd_rope_scaling;

#define HD_LLAMA_MAX_EOS 8
#define HD_LLAMA_MAX_XATTN 64        /* cross-attention layers a config can list (90B: 20) */
#define HD_LLAMA_XATTN_EXTRA_ROWS 8  /* mllama's embedding rows past the vocabulary (SPEC §2.7) */
#define HD_LLAMA_NAME_MAX 96

typedef struct hd_llama_config {
    char name[HD_LLAMA_NAME_MAX]; /* general.name / preset name ("" if unknown)  */
    int n_vocab;                  /* V   vocab_size                              */
    int n_embd;                   /* D   hidden_size                             */
    int n_layer;                  /*     num_hidden_layers                       */
    int n_head;                   /* H   num_attention_heads                     */
    int n_head_kv;                /* G   num_key_value_heads                     */
    int head_dim;                 /* d   head_dim (D/H when the file omits it)   */
    bool head_dim_explicit;       /* the file states head_dim (config.json key /
                                     GGUF attention.key_length); Llama 3.2 does,
                                     the Llama 3.1 8B config does not            */
    int n_ff;                     /* F   intermediate_size                       */
    int64_t n_ctx_train;          /*     max_position_embeddings                 */
    float norm_eps;               /*     rms_norm_eps                            */
    float rope_theta;             /* θ   rope_theta                              */
    hd_rope_scaling rope_scaling;
    float rope_factor;            /* s   (LLAMA3 only)                           */
    float rope_low_freq_factor;   /* l                                           */
    float rope_high_freq_factor;  /* h                                           */
    int64_t rope_original_ctx;    /* L   original_max_position_embeddings        */
    bool tie_word_embeddings;     /* LM head = embeddings (no output tensor)     */
    int32_t bos_token_id;         /* -1 if unknown                               */
    int32_t pad_token_id;         /* -1 if unknown                               */
    int n_eos;                    /* eos ids (config.json allows a list)         */
    int32_t eos_token_ids[HD_LLAMA_MAX_EOS];
    /* Llama 3.2 Vision ("mllama") text model, SPEC §2.6: n_xattn of the
     * n_layer layers are gated cross-attention layers (0 = plain Llama) */
    int n_xattn;                  /*     len(cross_attention_layers)              */
    int32_t xattn_layers[HD_LLAMA_MAX_XATTN]; /* their indices, ascending        */
    int32_t image_token_id;       /*     <|image|> (128256), -1 if none           */
    /* IBM Granite (HF GraniteForCausalLM, also the text_config of
     * granite_speech; GGUF general.architecture "granite" with llama.cpp's
     * granite.* keys).  Options of the one Llama core; a value of 0 means
     * Llama's behaviour (what every plain Llama config has). */
    bool granite;                 /*     written as "granite" GGUF / config.json   */
    float embedding_multiplier;   /*     x = embed(ids)·m, caller rows included    */
    float residual_multiplier;    /*     x = x + m·branch (attention and MLP)      */
    float attention_multiplier;   /*     softmax scale, replaces 1/√d              */
    float logits_scaling;         /*     logits = head(x) / s                      */
} hd_llama_config;

/* ---- presets ------------------------------------------------------------- */

/* Fills *cfg with a named preset and returns true, false if unknown:
 *   "tiny"          2 layers, D 64, H 4, G 2, d 16, F 128, V 128256 (real vocab)
 *   "tiny-vocab"    the same with V 512 (no tokenizer; unit tests)
 *   "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"  the published shapes. */
bool hd_llama_config_preset(const char *name, hd_llama_config *cfg);
/* NULL-terminated list of the preset names (static storage). */
const char *const *hd_llama_config_preset_names(void);

/* Checks that the dimensions are positive, consistent (H multiple of G, even
 * d, ...) and within sane limits; `file` names the source in messages. */
hd_status hd_llama_config_validate(const hd_llama_config *cfg, const char *file, hd_error *err);

/* Parameter count (embeddings + layers + norm + LM head when untied). */
int64_t hd_llama_config_n_params(const hd_llama_config *cfg);

/* ---- GGUF ---------------------------------------------------------------- */

/* Reads llama.* keys (and general.name, tokenizer.ggml.{bos,eos,padding}_token_id
 * when present).  general.architecture must be "llama", "granite" (the same
 * keys under granite.* plus granite.embedding_scale, granite.residual_scale,
 * granite.attention.scale, granite.logit_scale, each optional as in
 * llama.cpp: absent = 0 = Llama's behaviour), or "mllama" (Ollama's
 * Llama 3.2 Vision layout: the same keys under mllama.* plus the array
 * mllama.attention.cross_attention_layers; image_token_id = n_vocab).  llama.vocab_size
 * missing → the length of tokenizer.ggml.tokens.  Rope scaling: GGUF files
 * from llama.cpp carry the llama3 scaling in the rope_freqs.weight tensor,
 * not in keys, so rope_scaling is LLAMA3 only when rope_freqs.weight exists
 * (factor etc. then hold the Llama 3.1 defaults and are informational);
 * loaders should use the tensor.  Validates the result. */
hd_status hd_llama_config_from_gguf(hd_llama_config *cfg, const hd_gguf *g, hd_error *err);

/* Writes the keys convert_hf_to_gguf.py writes for a Llama 3.x checkpoint,
 * in its order (with n_xattn > 0: architecture "mllama", every llama.* key
 * as mllama.*, then mllama.attention.cross_attention_layers as an INT32
 * array; with granite: architecture "granite", every key as granite.*, then
 * GraniteModel's granite.attention.scale, embedding_scale, residual_scale,
 * logit_scale): general.architecture "llama", general.type, general.name,
 * general.size_label, llama.{block_count, context_length, embedding_length,
 * feed_forward_length, attention.head_count, attention.head_count_kv,
 * rope.freq_base, attention.layer_norm_rms_epsilon, [attention.key_length,
 * attention.value_length when head_dim_explicit]}, general.file_type
 * (llama_ftype: 0 F32, 1 F16, 2 Q4_0, 7 Q8_0, 15 Q4_K_M, 32 BF16),
 * llama.vocab_size, llama.rope.dimension_count.  Tokenizer keys and
 * general.quantization_version are the caller's. */
hd_status hd_llama_config_to_gguf(const hd_llama_config *cfg, uint32_t file_type, hd_gguf_writer *w,
                                  hd_error *err);

/* llama.cpp's rope_freqs.weight for the llama3 scaling: factors[i] (i < d/2)
 * such that the scaled frequency is θ^(−2i/d) / factors[i]; 1 for high
 * frequencies, s for low ones, a smooth blend between.  All ones when
 * rope_scaling is NONE. */
void hd_llama_rope_freq_factors(const hd_llama_config *cfg, float *factors);

/* ---- Hugging Face config.json -------------------------------------------- */

/* Parses config.json text (len bytes; need not be NUL-terminated).  Accepts
 * model_type "llama" (and a missing model_type when architectures names
 * LlamaForCausalLM), "granite" (GraniteForCausalLM: GraniteConfig's defaults,
 * the four multipliers, default 1.0 each), "granite_speech"
 * (GraniteSpeechForConditionalGeneration: the LM is its text_config, a
 * granite config; encoder/projector are left to speech/granite_speech.c),
 * and model_type "mllama" (MllamaForConditionalGeneration):
 * then the text model is read from "text_config" (its cross_attention_layers
 * list included) and image_token_index from the top level; vision_config is
 * left to vision/.  Unknown keys are ignored; missing optional keys get the
 * HF defaults (MllamaTextConfig's for mllama). */
hd_status hd_llama_config_from_hf_json(hd_llama_config *cfg, const char *json, size_t len, const char *name,
                                       hd_error *err);
/* Reads and parses the file at path (a config.json; HD_ERR_NOTFOUND when it
 * cannot be opened, HD_ERR_IO when unreadable or over 16 MiB). */
hd_status hd_llama_config_from_hf(hd_llama_config *cfg, const char *path, hd_error *err);

/* A config.json for cfg with every key a real Llama 3.2 checkpoint has
 * (plain Llama only: HD_ERR_ARG when cfg has cross-attention layers; with
 * cfg->granite a GraniteForCausalLM config: model_type "granite", the four
 * multipliers, no pretraining_tp);
 * torch_dtype is "float32", "float16" or "bfloat16".  Returns a malloc'd
 * NUL-terminated string the caller frees, NULL on error. */
char *hd_llama_config_to_hf_json(const hd_llama_config *cfg, const char *torch_dtype, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
