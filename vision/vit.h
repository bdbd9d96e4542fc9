/* vision/vit.h — the Llama 3.2 Vision ("mllama") image encoder and projector
 * (SPEC §2.4, §2.5), on the shared transformer blocks of core/nn.h.
 *
 * One call encodes one preprocessed image (vision/preprocess.h): its
 * max_tiles tiles [T][3][t][t], aspect_ratio_id and tile count.  Steps, one
 * function each in vit.c:
 *   patch_embed        conv 14×14 stride 14, no bias, per tile  → [T, P0, W]
 *   pre_tile_embed     += tanh(g_pre) · E_pre[ar_id][k] on the P0 patch tokens
 *   class_embed        CLS prepended to every tile              → [T, P, W]
 *   gated_pos_embed    += (1 − tanh g)·Pos[p] + tanh g · TileTok[ar_id][k][p]
 *   layernorm_pre, zero padding to Ppad = P + n_pad tokens per tile,
 *   flatten to one sequence of T·Ppad tokens with the mllama mask
 *   (−∞ only between two invalid tokens; valid = tile < n_tiles and p < P)
 *   local layers       n_layer ungated pre-LN layers; the state before layer
 *                      i is kept for i in inter[] (before layer 3, 7, 15, 23, 30)
 *   layernorm_post, post_tile_embed (+= tanh(g_post)·E_post[ar_id][k], all tokens)
 *   global layers      n_global_layer layers gated by tanh(gate_attn / gate_ffn)
 *   features           unpad; out[k][p] = [final (W) | intermediates interleaved
 *                      feature-major: W + n_inter·j + l]      → [T, P, out_dim]
 *   project            Linear(out_dim → D, bias)               → [T·P, D]
 *
 * Weights: a Hugging Face MllamaForConditionalGeneration folder (config.json
 * + safetensors, names below, any of F32/F16/BF16) or a GGUF file written by
 * herd (keys in vision/vit_config.h, any herd weight type for the matrices).
 *
 *   HF name (prefix vision_model.)                         GGUF name        shape (PyTorch)
 *   patch_embedding.weight                                 v.patch_embd.weight        [W, 3, p, p]
 *   class_embedding                                        v.class_embd               [W]
 *   gated_positional_embedding.embedding                   v.position_embd.weight     [P, W]
 *   gated_positional_embedding.gate                        v.position_embd.gate       [1]
 *   gated_positional_embedding.tile_embedding.weight       v.tile_position_embd.weight [n_ar, T·P·W]
 *   pre_tile_positional_embedding.embedding.weight         v.pre_tile_position_embd.weight  [n_ar, T·W]
 *   pre_tile_positional_embedding.gate                     v.pre_tile_position_embd.gate    [1]
 *   post_tile_positional_embedding.embedding.weight        v.post_tile_position_embd.weight [n_ar, T·W]
 *   post_tile_positional_embedding.gate                    v.post_tile_position_embd.gate   [1]
 *   layernorm_pre.{weight,bias}                            v.pre_ln.{weight,bias}     [W]
 *   layernorm_post.{weight,bias}                           v.post_ln.{weight,bias}    [W]
 *   transformer.layers.{i}.                                v.blk.{i}.
 *   global_transformer.layers.{i}.                         v.global.blk.{i}.
 *     self_attn.{q,k,v,o}_proj.weight                        attn_{q,k,v,out}.weight  [W, W]
 *     input_layernorm.{weight,bias}                          ln1.{weight,bias}        [W]
 *     post_attention_layernorm.{weight,bias}                 ln2.{weight,bias}        [W]
 *     mlp.fc1.{weight,bias}                                  ffn_up.{weight,bias}     [F, W], [F]
 *     mlp.fc2.{weight,bias}                                  ffn_down.{weight,bias}   [W, F], [W]
 *     gate_attn, gate_ffn (global only)                      attn_gate, ffn_gate      [1]
 *   multi_modal_projector.{weight,bias} (no prefix)        mm.proj.{weight,bias}      [D, out_dim], [D]
 *
 * Thread safety: an hd_vit owns its activation arena; encode one image at a
 * time per hd_vit (the ops themselves use ex->pool).
 */
#ifndef HD_VISION_VIT_H
#define HD_VISION_VIT_H

#include "core/error.h"
#include "core/exec.h"
#include "vit_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_vit hd_vit;

/* path: a HF checkpoint folder (or its config.json) or a .gguf file.  Every
 * tensor is checked by name and shape.  Caller frees with hd_vit_free. */
hd_vit *hd_vit_load(const char *path, hd_error *err);
void hd_vit_free(hd_vit *v);                       /* NULL is a no-op */
const hd_vit_config *hd_vit_get_config(const hd_vit *v);

/* Encodes one image.
 *   tiles      [max_tiles][3][t][t] normalised pixels (hd_mllama_tiles.pixels)
 *   ar_id      aspect-ratio id, 1 .. n_ar − 1
 *   n_tiles    valid tiles (1 .. max_tiles; the mask's k < n_tiles)
 *   features   [max_tiles][P][out_dim] or NULL: the encoder output
 *   projected  [max_tiles·P][proj_dim] or NULL: the projector output
 *              (cross_attention_states of this image)
 * HD_ERR_ARG for an id or tile count out of range. */
hd_status hd_vit_encode(hd_vit *v, hd_exec *ex, const float *tiles, int ar_id, int n_tiles, float *features,
                        float *projected, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
