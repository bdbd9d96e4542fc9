/* vision/video_aggregator.h — the paper's temporal aggregator for video
 * (SPEC §3): a perceiver resampler that merges a group of G consecutive
 * frames (G = 32 in the paper's SFT, 16 in video pre-training) into one
 * "effective frame" of n_latent tokens for the video cross-attention layers.
 *
 * The paper gives only "a perceiver resampler merging 32 consecutive frames
 * into one" and the parameter budget; the block is Flamingo's (Alayrac et al.
 * 2022, the reference design SPEC §3 cites).  For one group of g ≤ G frames,
 * each frame being the image path's projector output (vision/vit.h
 * `projected`: n_tok = max_tiles·P rows of width D_in, of which the first
 * n_valid are real tiles):
 *
 *   m_f   = x_f · W_inᵀ + b_in + T[f]              media tokens of frame f,
 *                                                   T = learned time embedding
 *   M     = [m_0; m_1; …; m_{g−1}]                 (g·n_tok, W)
 *   z     = Z                                       learned latents (n_latent, W)
 *   for each layer l:
 *     q    = LN_z(z)
 *     kv   = [LN_m(M); q]                           keys/values: media + latents
 *     z    = z + Attn(q, kv)                        H heads of d, no biases, no RoPE;
 *                                                   padding-tile keys masked
 *     z    = z + W_down · GELU(W_up · LN_f(z))      no biases, exact (erf) GELU
 *   y     = LN_out(z) · W_outᵀ + b_out             (n_latent, D_out)
 *
 * Choices where the paper is silent (SPEC §3 lists them as unknown), stated
 * here and stored in the file: the aggregator reads the projected image
 * features (so every frame goes through exactly the image path, projector
 * included) and works at its own width W behind an input projection; Flamingo's
 * pre-norms with bias (LayerNorm ε 1e-5); time embeddings per position in
 * the group; n_latent learned latents (Flamingo's default 64); the output is
 * projected to the language model's width D_out.  A trailing group with fewer
 * than G frames uses the first g time embeddings.
 *
 * GGUF layout (one file, or inside a video model next to the image model's
 * tensors; PyTorch shapes [out, in], GGUF ne reversed):
 *   video_aggregator.input_length            u32  D_in  (projector width)
 *   video_aggregator.embedding_length        u32  W
 *   video_aggregator.output_length           u32  D_out (language model width)
 *   video_aggregator.block_count             u32  layers
 *   video_aggregator.attention.head_count    u32  H
 *   video_aggregator.attention.key_length    u32  d (head dim; H·d need not be W)
 *   video_aggregator.feed_forward_length     u32  F
 *   video_aggregator.latent_count            u32  n_latent
 *   video_aggregator.group_frames            u32  G
 *   video_aggregator.attention.layer_norm_epsilon f32 (1e-5)
 *   tensors:
 *   vagg.in.weight [W, D_in]        vagg.in.bias [W]
 *   vagg.time_embd [G, W]           vagg.latents [n_latent, W]
 *   vagg.blk.N.media_norm.{weight,bias} [W]
 *   vagg.blk.N.latent_norm.{weight,bias} [W]
 *   vagg.blk.N.attn_q.weight [H·d, W]  attn_k.weight [H·d, W]  attn_v.weight [H·d, W]
 *   vagg.blk.N.attn_out.weight [W, H·d]
 *   vagg.blk.N.ffn_norm.{weight,bias} [W]
 *   vagg.blk.N.ffn_up.weight [F, W]   vagg.blk.N.ffn_down.weight [W, F]
 *   vagg.out_norm.{weight,bias} [W]
 *   vagg.out.weight [D_out, W]       vagg.out.bias [D_out]
 * Matrices any type core/ops.h multiplies; latents and time embeddings any
 * type (converted to F32 at load); vectors F32.
 */
#ifndef HD_VISION_VIDEO_AGGREGATOR_H
#define HD_VISION_VIDEO_AGGREGATOR_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/weights.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_vagg_config {
    int n_in;        /* D_in, the image projector's width                4096 */
    int n_embd;      /* W                                                1280 */
    int n_out;       /* D_out, the language model's width                4096 */
    int n_layer;     /* perceiver layers                                    6 */
    int n_head;      /* H                                                  16 */
    int head_dim;    /* d                                                  80 */
    int n_ff;        /* F                                                5120 */
    int n_latent;    /* latents = tokens of one effective frame            64 */
    int n_group;     /* G, frames merged into one                          32 */
    float norm_eps;  /* LayerNorm ε                                      1e-5 */
} hd_vagg_config;

/* Presets: "tiny" (D_in/D_out 64, W 32, 2 layers, 2 heads of 16, F 64,
 * 8 latents, G 4: tests) and "paper-8b" (the shapes above: with two video
 * cross-attention layers of Llama 3 8B it lands near the paper's 0.6 B).
 * false for an unknown name. */
bool hd_vagg_preset(const char *name, hd_vagg_config *c);
const char *const *hd_vagg_preset_names(void);   /* NULL-terminated */

/* HD_ERR_ARG naming the first bad field. */
hd_status hd_vagg_config_check(const hd_vagg_config *c, hd_error *err);
/* Reads the video_aggregator.* keys (ε optional); HD_ERR_FORMAT "FILE: ..." when missing or bad. */
hd_status hd_vagg_config_from_gguf(const hd_gguf *g, hd_vagg_config *c, hd_error *err);
/* Writes the video_aggregator.* keys (not general.architecture). */
hd_status hd_vagg_config_to_gguf(const hd_vagg_config *c, hd_gguf_writer *w, hd_error *err);
int64_t hd_vagg_n_params(const hd_vagg_config *c);

typedef struct hd_vagg hd_vagg;

/* Opens a GGUF file holding the aggregator (alone or in a video model). */
hd_vagg *hd_vagg_load(const char *path, hd_error *err);
/* Borrows w (it must outlive the aggregator); the config from w's GGUF metadata. */
hd_vagg *hd_vagg_from_weights(const hd_weights *w, hd_error *err);
void hd_vagg_free(hd_vagg *a);   /* NULL is a no-op */
const hd_vagg_config *hd_vagg_config_of(const hd_vagg *a);

/* Merges one group of g frames (1 ≤ g ≤ G):
 *   frames   [g][n_tok][D_in] F32, row-major (each frame's projector output)
 *   n_valid  [g] rows of each frame that are real tiles (1 ≤ n_valid ≤ n_tok);
 *            NULL = all rows
 *   out      [n_latent][D_out]
 * The activations come from an arena sized on first use for (g·n_tok) and
 * kept for later calls of the same size or smaller.  One call at a time per
 * aggregator (the ops use ex->pool). */
hd_status hd_vagg_merge(hd_vagg *a, hd_exec *ex, const float *frames, int g, int64_t n_tok, const int64_t *n_valid,
                        float *out, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
