/* lm/random_model_impl.h — internal: what an architecture file
 * (lm/random_model_<arch>.c) uses to describe its tensors, and the shared
 * writers that turn that description into a GGUF file or HF safetensors.
 *
 * An architecture builds a plan — its tensors in Hugging Face state_dict
 * order, each with its HF name, its GGUF name, its shape and how it is
 * initialised — writes its own metadata (GGUF keys, config.json, ...) and
 * hands the plan to hd_rm_write_gguf / hd_rm_write_hf_weights.
 */
#ifndef HD_RANDOM_MODEL_IMPL_H
#define HD_RANDOM_MODEL_IMPL_H

#include "core/gguf.h"
#include "lm/llama_config.h"
#include "lm/random_model.h"
#include "vision/vit_config.h"

#include <stddef.h>

#define HD_RM_MAX_DIMS 4

typedef enum hd_rm_init {
    HD_RM_INIT_NORMAL = 0,   /* std · N(0,1)                              */
    HD_RM_INIT_NORM = 1,     /* 1 + std · N(0,1)  (RMSNorm / LayerNorm γ) */
    HD_RM_INIT_DATA = 2,     /* fixed F32 values (e.g. rope_freqs)        */
    HD_RM_INIT_SOURCE = 3,   /* values read from src (herd convert)       */
} hd_rm_init;

typedef struct hd_rm_tensor {
    char *hf_name;           /* owned; NULL: only in GGUF                       */
    char *gguf_name;         /* owned; NULL: only in HF                         */
    int n_dims;              /* 1 .. HD_RM_MAX_DIMS                             */
    int64_t shape[4];        /* PyTorch order, outermost first                  */
    int64_t rows, cols;      /* cols = innermost dim, rows = product of the rest
                                (element (r, c) has row-major index r·cols + c) */
    hd_rm_init init;
    float std;
    int rope_heads;          /* > 0 (2-D only): the GGUF rows are the HF rows permuted per
                                head from half-split to interleaved RoPE pairs
                                (convert_hf_to_gguf LlamaModel.permute)         */
    float *data;             /* owned, HD_RM_INIT_DATA: rows·cols values        */
    const void *src;         /* HD_RM_INIT_SOURCE: rows·cols values of src_type in
                                the HF layout, row-major (not owned; e.g. a
                                safetensors mapping, read row by row)           */
    hd_type src_type;        /* F32, F16 or BF16                                */
    int src_shard;           /* HD_RM_INIT_SOURCE: index of the checkpoint file
                                holding it (files in name order)                */
    bool gguf_f16_if_blocked;/* GGUF with a block type (Q8_0, Q4_0, Q4_K): stored
                                as F16 instead, its rows being too short for
                                blocks (the mllama patch embedding, rows of 14) */
} hd_rm_tensor;

typedef struct hd_rm_plan {
    hd_rm_tensor *t;         /* [n], owned */
    int n, cap;
} hd_rm_plan;

/* Appends a tensor (names and data are copied).  shape is PyTorch order.
 * In GGUF it is [ne0 = shape[n-1], ..., shape[0]]; 1-D tensors are F32 there. */
hd_status hd_rm_plan_add(hd_rm_plan *plan, const char *hf_name, const char *gguf_name, int n_dims,
                         const int64_t *shape, hd_rm_init init, float std, int rope_heads, const float *data,
                         hd_error *err);
void hd_rm_plan_free(hd_rm_plan *plan);        /* frees the contents; plan itself is the caller's */

/* llama.cpp's general.file_type (llama_ftype) for a "pure" type. */
uint32_t hd_rm_file_type(hd_type type);

/* Checks p->type for the format and that its block size divides every row
 * that would get it; the message names the tensor. */
hd_status hd_rm_check_type(const hd_rm_plan *plan, const hd_random_model_params *p, hd_error *err);

/* Adds every GGUF tensor of the plan to w in convert_hf_to_gguf.py's order
 * (GGUF-only tensors first, then HF shard by shard, names sorted within a
 * shard) with fill callbacks, and writes path.  1-D tensors are F32, the
 * others p->type.  w must already hold the metadata.  The shards are the
 * tensors' src_shard when the plan has HD_RM_INIT_SOURCE tensors, else those
 * a BF16 checkpoint split at p->max_shard_bytes would have. */
hd_status hd_rm_write_gguf(const hd_rm_plan *plan, const hd_random_model_params *p, hd_gguf_writer *w,
                           const char *path, hd_error *err);

/* Writes the safetensors of the plan into dir: model.safetensors, or shards
 * model-0000k-of-0000n.safetensors + model.safetensors.index.json when the
 * data exceed p->max_shard_bytes.  Both writers honour p->dry_run (nothing
 * written) and report each file to p->file_done. */
hd_status hd_rm_write_hf_weights(const hd_rm_plan *plan, const hd_random_model_params *p, const char *dir,
                                 hd_error *err);

/* Creates dir if missing and removes a previous checkpoint's weight files in
 * it (model.safetensors, model-*-of-*.safetensors, the index). */
hd_status hd_rm_prepare_dir(const char *dir, hd_error *err);

/* Writes text to dir/name atomically. */
hd_status hd_rm_write_text(const char *dir, const char *name, const char *text, hd_error *err);

/* ---- Llama (lm/random_model_llama.c), shared with lm/convert.c ------------- */

struct hd_llama_config;
struct hd_tokenizer;

/* Every tensor of a Llama 3.x decoder in HF state_dict order with its GGUF
 * name (rope_freqs.weight first when the config has llama3 scaling). */
hd_status hd_rm_llama_plan(const struct hd_llama_config *c, hd_rm_plan *plan, hd_error *err);

/* The GGUF file as convert_hf_to_gguf.py writes it: llama.* keys
 * (hd_llama_config_to_gguf, general.file_type for p->type), tokenizer.ggml.*
 * when tok is not NULL (eos = c's first eos id), general.quantization_version,
 * then the plan's tensors (hd_rm_write_gguf). */
hd_status hd_rm_llama_write_gguf(const struct hd_llama_config *c, const hd_rm_plan *plan,
                                 const struct hd_tokenizer *tok, const hd_random_model_params *p, const char *path,
                                 hd_error *err);

/* ---- Llama 3.2 Vision (lm/random_model_mllama.c), shared with lm/convert.c --- */

/* MllamaForConditionalGeneration's shape (SPEC §2.2, §2.9). */
typedef struct hd_rm_mllama_config {
    hd_llama_config text;                  /* the text decoder: n_layer self + cross
                                              layers (HF num_hidden_layers), the cross
                                              ones in n_xattn / xattn_layers; n_vocab
                                              LM-head rows (128256); embed_tokens has
                                              HD_LLAMA_XATTN_EXTRA_ROWS more, row
                                              image_token_id = n_vocab is <|image|>  */
    hd_vit_config vision;                  /* vision tower; proj_dim = text n_embd    */
} hd_rm_mllama_config;

/* The presets: "tiny" (vision tiny of vit_config.h; text D 64, H 4, G 2,
 * d 16, F 128, 10 layers with cross layers 3 and 8, vocabulary 128256 + 8)
 * and "llama-3.2-11b-vision" (Llama-3.2-11B-Vision-Instruct).  false for an
 * unknown name. */
bool hd_rm_mllama_preset(const char *name, hd_rm_mllama_config *c);

/* Parses an MllamaForConditionalGeneration config.json (the text part with
 * lm/llama_config.h's parser, vision_config with vision/vit_config.h's) and
 * checks that the parts agree (projector width = text width, <|image|> the
 * first extra embedding row). */
hd_status hd_rm_mllama_config_from_hf(hd_rm_mllama_config *c, const char *path, hd_error *err);

/* Every tensor in HF state_dict order (vision_model.*, language_model.*,
 * multi_modal_projector.*) with its GGUF name: vision as vision/vit.h, text
 * as lm/llama.h documents for general.architecture "mllama" (self layers with
 * llama.cpp names and Q/K rows permuted for RoPE; cross layers
 * blk.N.cross_attn_*), rope_freqs.weight first. */
hd_status hd_rm_mllama_plan(const hd_rm_mllama_config *c, hd_rm_plan *plan, hd_error *err);

/* One GGUF with the text keys (mllama.*), the vision keys (mllama_vision.*,
 * vision/vit_config.h), tokenizer.ggml.* when tok is not NULL, then the plan. */
hd_status hd_rm_mllama_write_gguf(const hd_rm_mllama_config *c, const hd_rm_plan *plan, const struct hd_tokenizer *tok,
                                  const hd_random_model_params *p, const char *path, hd_error *err);

/* The HF folder's other files (lm/random_model_mllama_files.c): config.json,
 * preprocessor_config.json and, with `generation`, generation_config.json;
 * torch_dtype from type. */
hd_status hd_rm_mllama_write_hf_configs(const hd_rm_mllama_config *c, hd_type type, const char *dir, bool generation,
                                        hd_error *err);

/* The tokenizer of file src (Llama 3: c->text.image_token_id ids, or one more
 * with <|image|>) with the Llama 3.1 special names and <|image|> =
 * image_token_id added as the HF Vision files have it, written as
 * tokenizer.json + tokenizer_config.json into dir (NULL: a temporary folder,
 * removed again) and returned as loaded back from there, so a GGUF gets
 * exactly these ids.  Caller frees. */
struct hd_tokenizer *hd_rm_mllama_tokenizer(const char *src, const hd_rm_mllama_config *c, const char *dir,
                                            hd_error *err);

/* ---- architecture table -------------------------------------------------- */

typedef struct hd_rm_arch {
    const char *name;
    const char *const *(*presets)(void);
    hd_status (*write)(const hd_random_model_params *p, const char *path, hd_error *err);
} hd_rm_arch;

extern const hd_rm_arch hd_rm_arch_llama;
extern const hd_rm_arch hd_rm_arch_mllama_vision;   /* lm/random_model_mllama.c */
extern const hd_rm_arch hd_rm_arch_mllama;          /* lm/random_model_mllama.c */
extern const hd_rm_arch hd_rm_arch_conformer;   /* speech/random_model_conformer.c */

#endif
