/* speech/granite_encoder.h — IBM Granite Speech 3.3's audio encoder
 * (HF GraniteSpeechCTCEncoder): a Conformer with Shaw relative positions,
 * block-local attention and a CTC "self-conditioning" mid-layer.
 *
 * Input: the Granite log-mel features (speech/hf_mel.h), two 80-bin frames
 * stacked per row: feats ne={input_dim (160), T} (HF input_features
 * [T, 160] row-major is the same memory).  Output ne={D, T}: one row per
 * input row (no subsampling inside the encoder; the projector windows it).
 *
 *   x = input_linear(feats)                       Linear(input_dim → D) + b
 *   for l = 1 .. L:
 *     x = x + ½ · FF₁(x)       FF: LayerNorm → Linear(D→mult·D) + b → SiLU
 *                                  → Linear(mult·D→D) + b
 *     x = x + Attn(x)          LayerNorm → q = x·W_qᵀ, [k|v] = x·W_kvᵀ (no
 *                              biases) → per block of C = context_size
 *                              frames, per head:
 *                                s(i,j) = (q_i·k_j + q_i·E[clamp(i−j, −C, C) + P]) / √d
 *                              (i, j positions inside the block, E the Shaw
 *                              table rel_pos_emb [2P+1, d], P = max_pos_emb)
 *                              → softmax over the block's keys → ·v →
 *                              Linear(H·d → D) + b.  The last partial block
 *                              (T % C frames) attends only within its own
 *                              frames (HF pads it and masks the padding).
 *     x = x + Conv(x)          LayerNorm → Conv1d(D → 2·E·D, 1) + b → GLU
 *                              over channels → depthwise Conv1d(E·D, K, no
 *                              bias, zero padding K/2 left and K/2 − (K+1)%2
 *                              right) → BatchNorm (running stats) → SiLU →
 *                              Conv1d(E·D → D, 1) + b        (E = conv_expansion)
 *     x = x + ½ · FF₂(x)
 *     x = LayerNorm(x)                                        (post_norm)
 *     if l == L/2 (integer division):                         (CTC mid-layer)
 *       x = x + out_mid(softmax(out(x)))     out: Linear(D → V) + b,
 *                                            out_mid: Linear(V → D) + b
 * LayerNorm and BatchNorm eps 1e-5 (PyTorch defaults; HF hard-codes them).
 * Built on core/nn.h (hd_nn_norm, hd_nn_mlp, hd_nn_attention with its block
 * and Shaw relative-position options) and the conv ops of core/ops.h.
 * Source: transformers models/granite_speech/modeling_granite_speech.py and
 * configuration_granite_speech.py (math re-implemented, not copied).
 *
 * Weights (PyTorch shapes [out, in]; prefix given at load, "encoder." in a
 * GraniteSpeechForConditionalGeneration folder), N = layer 0 .. L−1:
 *   input_linear.weight [D, input_dim]                .bias [D]
 *   layers.N.ff1.pre_norm.{weight,bias} [D]
 *   layers.N.ff1.up_proj.weight [mult·D, D]           .bias [mult·D]
 *   layers.N.ff1.down_proj.weight [D, mult·D]         .bias [D]
 *   layers.N.attn.pre_norm.{weight,bias} [D]
 *   layers.N.attn.to_q.weight [H·d, D]
 *   layers.N.attn.to_kv.weight [2·H·d, D]   (rows [0, H·d) keys, then values)
 *   layers.N.attn.to_out.weight [D, H·d]              .bias [D]
 *   layers.N.attn.rel_pos_emb.weight [2P+1, d]
 *   layers.N.conv.norm.{weight,bias} [D]
 *   layers.N.conv.up_conv.weight [2·E·D, D, 1]        .bias [2·E·D]
 *   layers.N.conv.depth_conv.conv.weight [E·D, 1, K]
 *   layers.N.conv.batch_norm.{weight,bias,running_mean,running_var} [E·D]
 *   layers.N.conv.down_conv.weight [D, E·D, 1]        .bias [D]
 *   layers.N.ff2.* as ff1
 *   layers.N.post_norm.{weight,bias} [D]
 *   out.weight [V, D]      .bias [V]
 *   out_mid.weight [D, V]  .bias [D]
 * (batch_norm.num_batches_tracked is ignored.)  Matrices: any type
 * core/ops.h multiplies (F32, F16, BF16, Q8_0, ...); the depthwise kernel F32
 * or F16 or BF16 (converted to F32 at load); vectors and the Shaw table
 * F32/F16/BF16 (converted at load).
 *
 * GGUF (written by `herd convert`, speech/granite_speech_convert.c): the
 * same tensor names and shapes (pointwise convs stay [out, in, 1]) without
 * the "encoder." prefix (llama.cpp's 63-byte name limit; load with prefix
 * ""), and the config as
 *   granite_speech.encoder.input_dim               u32  (160)
 *   granite_speech.encoder.block_count             u32  L
 *   granite_speech.encoder.embedding_length        u32  D
 *   granite_speech.encoder.feed_forward_mult       u32  mult
 *   granite_speech.encoder.attention.head_count    u32  H
 *   granite_speech.encoder.attention.key_length    u32  d
 *   granite_speech.encoder.ctc_vocab_size          u32  V (output_dim)
 *   granite_speech.encoder.context_size            u32  C
 *   granite_speech.encoder.max_pos_emb             u32  P
 *   granite_speech.encoder.conv_kernel_size        u32  K
 *   granite_speech.encoder.conv_expansion_factor   u32  E
 *   granite_speech.encoder.layer_norm_epsilon      f32  (optional, 1e-5)
 *   granite_speech.encoder.batch_norm_epsilon      f32  (optional, 1e-5)
 * (llama.cpp has no Granite Speech audio layout to follow.)
 */
#ifndef HD_SPEECH_GRANITE_ENCODER_H
#define HD_SPEECH_GRANITE_ENCODER_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/weights.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* HF GraniteSpeechEncoderConfig.  Values: class default / granite-speech-3.3
 * (2B and 8B share the encoder: 16 layers, 1024 wide, output_dim 256,
 * context 200, max_pos_emb 512 as in the published config.json). */
typedef struct hd_granite_encoder_config {
    int input_dim;       /* input_dim              160   / 160  */
    int n_layer;         /* num_layers             10    / 16   */
    int hidden;          /* hidden_dim D           1024  / 1024 */
    int ff_mult;         /* feedforward_mult       4     / 4    */
    int n_head;          /* num_heads H            8     / 8    */
    int head_dim;        /* dim_head d             128   / 128  */
    int n_ctc;           /* output_dim V (CTC)     42    / 256  */
    int context;         /* context_size C         200   / 200  */
    int max_pos_emb;     /* max_pos_emb P ≥ C      512   / 512  */
    int conv_kernel;     /* conv_kernel_size K     15    / 15   */
    int conv_expansion;  /* conv_expansion_factor  2     / 2    */
    float norm_eps;      /* LayerNorm              1e-5         */
    float bn_eps;        /* BatchNorm              1e-5         */
} hd_granite_encoder_config;

/* The HF class defaults (left column above). */
void hd_granite_encoder_config_default(hd_granite_encoder_config *c);
/* HD_ERR_ARG naming the first bad field (e.g. context > max_pos_emb). */
hd_status hd_granite_encoder_config_check(const hd_granite_encoder_config *c, hd_error *err);
/* From config.json text (len bytes, need not be NUL-terminated): the
 * "encoder_config" object of a granite_speech config, or the object itself
 * when its model_type is "granite_speech_encoder".  Missing keys (or an
 * encoder_config of null) take the class defaults (as HF does).  Errors: HD_ERR_FORMAT "FILE: ..." (file names
 * the source in messages). */
hd_status hd_granite_encoder_config_from_hf_json(hd_granite_encoder_config *c, const char *json, size_t len,
                                                 const char *file, hd_error *err);
/* The granite_speech.encoder.* keys above (the epsilons optional). */
hd_status hd_granite_encoder_config_from_gguf(const hd_gguf *g, hd_granite_encoder_config *c, hd_error *err);
hd_status hd_granite_encoder_config_to_gguf(const hd_granite_encoder_config *c, hd_gguf_writer *w, hd_error *err);

/* Parameters (weights, biases, BatchNorm statistics) of the encoder. */
int64_t hd_granite_encoder_n_params(const hd_granite_encoder_config *c);
/* Output rows for n input rows: n (the encoder keeps the frame rate). */
int64_t hd_granite_encoder_n_out(const hd_granite_encoder_config *c, int64_t n_frames);

typedef struct hd_granite_encoder hd_granite_encoder;

/* Reads every tensor "<prefix>NAME" (prefix NULL = "") from w, shapes checked
 * against c (errors name the file and tensor).  Borrows w (it must outlive
 * the encoder); c is copied.  Caller frees. */
hd_granite_encoder *hd_granite_encoder_load(const hd_weights *w, const char *prefix,
                                            const hd_granite_encoder_config *c, hd_error *err);
void hd_granite_encoder_free(hd_granite_encoder *m);   /* NULL is a no-op */
const hd_granite_encoder_config *hd_granite_encoder_config_of(const hd_granite_encoder *m);

/* feats ne={input_dim, n_frames} F32 → out ne={D, n_frames} F32 (caller-
 * allocated, n_frames·D floats).  n_frames 0 gives nothing and HD_OK.
 * Activations come from an arena the encoder keeps and grows for the longest
 * input seen (outside the layer loop).  Not thread-safe per encoder. */
hd_status hd_granite_encoder_encode(hd_granite_encoder *m, hd_exec *ex, const float *feats, int64_t n_frames,
                                    float *out, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
