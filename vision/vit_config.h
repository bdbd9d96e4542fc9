/* vision/vit_config.h — the shape of a Llama 3.2 Vision ("mllama") vision
 * encoder and projector (SPEC §2.2, §2.4, §2.5), read from a Hugging Face
 * config.json (its "vision_config" and "text_config.hidden_size") or from
 * GGUF keys, and the presets `herd random-model --arch mllama-vision` writes.
 *
 * GGUF keys (herd's naming; there is no upstream GGUF layout for this model):
 *   general.architecture                 "mllama_vision" (the tower alone) or
 *                                        "mllama" (the whole model in one file:
 *                                        text keys mllama.* as lm/llama.h says,
 *                                        plus the mllama_vision.* keys below)
 *   mllama_vision.image_size             u32   tile size t (560 / 448)
 *   mllama_vision.patch_size             u32   14
 *   mllama_vision.embedding_length       u32   W (1280)
 *   mllama_vision.feed_forward_length    u32   5120
 *   mllama_vision.attention.head_count   u32   16
 *   mllama_vision.attention.layer_norm_epsilon f32 1e-5
 *   mllama_vision.block_count            u32   local layers (32)
 *   mllama_vision.global_block_count     u32   gated global layers (8)
 *   mllama_vision.intermediate_layers    i32[] [3, 7, 15, 23, 30]
 *   mllama_vision.max_num_tiles          u32   4
 *   mllama_vision.projection_dim         u32   language model width D (4096)
 */
#ifndef HD_VISION_VIT_CONFIG_H
#define HD_VISION_VIT_CONFIG_H

#include "core/error.h"
#include "core/gguf.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_VIT_MAX_INTER 8

typedef struct hd_vit_config {
    int image_size;      /* tile size t                                      */
    int patch_size;      /* 14                                               */
    int n_channels;      /* 3                                                */
    int width;           /* W                                                */
    int n_head;          /* heads (head dim W / n_head)                      */
    int n_ff;            /* MLP width                                        */
    int n_layer;         /* local transformer layers                         */
    int n_global_layer;  /* gated global transformer layers                  */
    int n_inter;         /* intermediate layers kept (5)                     */
    int inter[HD_VIT_MAX_INTER]; /* their indices: state before local layer i */
    int max_tiles;       /* T (4)                                            */
    int proj_dim;        /* D of the language model (projector output)       */
    float norm_eps;      /* LayerNorm ε                                       */
    /* derived by hd_vit_config_validate */
    int n_patches;       /* (t/p)²                                           */
    int n_pos;           /* P = n_patches + 1 (CLS)                          */
    int n_pad;           /* (8 − P mod 8) mod 8                              */
    int n_ar;            /* rows of the aspect-ratio tables: ratios + 1       */
    int out_dim;         /* W · (n_inter + 1) (7680)                          */
} hd_vit_config;

/* Checks ranges (t a multiple of p, W divisible by heads, intermediate
 * indices increasing and ≤ n_layer) and fills
 * the derived fields.  Messages name `file`. */
hd_status hd_vit_config_validate(hd_vit_config *c, const char *file, hd_error *err);

/* Parses a MllamaForConditionalGeneration config.json text (len bytes). */
hd_status hd_vit_config_from_hf_json(hd_vit_config *c, const char *json, size_t len, const char *name,
                                     hd_error *err);
/* Reads path (a config.json). */
hd_status hd_vit_config_from_hf(hd_vit_config *c, const char *path, hd_error *err);
hd_status hd_vit_config_from_gguf(hd_vit_config *c, const hd_gguf *g, hd_error *err);
/* general.architecture "mllama_vision" and the keys below. */
hd_status hd_vit_config_to_gguf(const hd_vit_config *c, hd_gguf_writer *w, hd_error *err);
/* Only the mllama_vision.* keys (for a combined "mllama" file). */
hd_status hd_vit_config_to_gguf_keys(const hd_vit_config *c, hd_gguf_writer *w, hd_error *err);

/* Presets: "tiny" (t 56, W 32, 4 heads, 8 + 2 layers, D 64) and
 * "llama-3.2-11b-vision" (the published 11B-Vision-Instruct vision tower,
 * t 560, D 4096).  false (c untouched) for an unknown name. */
bool hd_vit_config_preset(const char *name, hd_vit_config *c);
const char *const *hd_vit_config_preset_names(void);   /* NULL-terminated */

#ifdef __cplusplus
}
#endif
#endif
