/* lm/random_model.h — random-weight checkpoints in exactly the layouts the
 * published models use, for tests and demos without downloading weights.
 *
 * Two formats from one generator:
 *   HD_RM_HF    a Hugging Face folder: config.json, generation_config.json,
 *               model.safetensors (or model-0000k-of-0000n.safetensors shards
 *               and model.safetensors.index.json, split like transformers'
 *               save_pretrained), tokenizer files when a tokenizer is given;
 *   HD_RM_GGUF  one GGUF file as llama.cpp's convert_hf_to_gguf.py writes it
 *               (and, for Q4_0 / Q4_K, as `llama-quantize --pure` makes it).
 *
 * Every weight element is a pure function of (seed, tensor's HF name, element
 * index): hd_random_model_value.  Nothing depends on thread count or order,
 * and the two formats hold the same model: a GGUF tensor is the HF tensor
 * after the layout change the converter applies (Q/K rows of Llama permuted
 * from the half-split to the interleaved RoPE layout, SPEC §1.4), so both
 * give the same logits (bit-identical values for F32/F16/BF16).
 *
 * Architectures are table entries (lm/random_model_<arch>.c); presets are the
 * architecture's own (for llama: lm/llama_config.h).
 */
#ifndef HD_RANDOM_MODEL_H
#define HD_RANDOM_MODEL_H

#include "core/error.h"
#include "core/types.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_rm_format {
    HD_RM_GGUF = 0,
    HD_RM_HF = 1,
} hd_rm_format;

/* Called after each tensor is produced: done of total tensors (1-based). */
typedef void (*hd_rm_progress_fn)(void *ctx, int done, int total, const char *tensor);
/* Called for each weight file (written, or planned with dry_run): its path,
 * tensor count and bytes of tensor data (headers and metadata excluded). */
typedef void (*hd_rm_file_fn)(void *ctx, const char *path, int n_tensors, uint64_t data_bytes);

typedef struct hd_random_model_params {
    const char *arch;            /* "llama" (default), "mllama", "mllama-vision",
                                    "conformer"                                        */
    const char *preset;          /* the arch's preset name, e.g. "tiny" (default)      */
    hd_rm_format format;         /* default HD_RM_GGUF                                 */
    hd_type type;                /* GGUF: F32 F16 BF16 Q8_0 Q4_0 Q4_K; HF: F32 F16 BF16;
                                    default F32                                        */
    uint64_t seed;               /* default 0                                          */
    int64_t n_vocab;             /* > 0: vocabulary rows instead of the preset's       */
    const char *tokenizer;       /* tokenizer file (tokenizer.model / tokenizer.json)
                                    to embed (GGUF) or write (HF); NULL: none          */
    uint64_t max_shard_bytes;    /* HF: shard size limit, default 5e9 (transformers'
                                    "5GB"); both writers stream: one tensor in memory  */
    int n_threads;               /* <= 0: one per core                                 */
    bool dry_run;                /* check everything, report the files, write nothing  */
    hd_rm_progress_fn progress;  /* may be NULL                                        */
    hd_rm_file_fn file_done;     /* may be NULL                                        */
    void *progress_ctx;          /* passed to both                                     */
} hd_random_model_params;

hd_random_model_params hd_random_model_default_params(void);

/* Writes the checkpoint: path is the .gguf file (HD_RM_GGUF) or the folder
 * (HD_RM_HF; created if missing; an existing model.safetensors, shards and
 * index in it are replaced).  Errors: HD_ERR_ARG for an unknown arch/preset,
 * a type the format cannot hold, or a type whose block size does not divide
 * a weight row (e.g. Q4_K needs rows of 256: use a preset with D ≥ 256);
 * HD_ERR_IO when writing fails. */
hd_status hd_random_model_write(const hd_random_model_params *p, const char *path, hd_error *err);

/* NULL-terminated lists (static storage); presets NULL for an unknown arch. */
const char *const *hd_random_model_arch_names(void);
const char *const *hd_random_model_preset_names(const char *arch);

/* The generator: a standard normal N(0, 1) sample for element `index` of
 * the tensor named `hf_name` (its Hugging Face name, row-major index in the
 * HF layout).  Weights are std·value, norm weights 1 + std·value.
 * Definition (tests/e2e/random_model_ref.py re-implements it):
 *   s = mix(mix(seed) ^ mix(FNV-1a-64(hf_name) + G)),  G = 0x9E3779B97F4A7C15,
 *   r = mix(s + (index/2 + 1)·G),  mix = SplitMix64's finaliser,
 *   u1 = ((r >> 40) + 1) / 2^24,  u2 = (r & 0xFFFFFF) / 2^24,
 *   value = sqrt(−2 ln u1) · (index even ? cos : sin)(2π u2)   (double, then float). */
float hd_random_model_value(uint64_t seed, const char *hf_name, uint64_t index);

#ifdef __cplusplus
}
#endif
#endif
