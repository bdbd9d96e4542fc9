/* adapters/qformer.h — the windowed Q-Former projector of Granite Speech
 * (HF GraniteSpeechEncoderProjector on a BLIP-2 Blip2QFormerModel): encoder
 * frames → LM input rows.
 *
 * The encoder's T frames are cut into nW = ceil(T / W) windows of W frames
 * (window_size); the last window is padded with zero frames, which the
 * cross-attention DOES attend to (HF passes no encoder mask).  Each window is
 * read by Q = W / R learned queries (R = downsample_rate):
 *
 *   h = LayerNorm_emb(query)                      query [Q, Dq] (shared by all windows)
 *   per layer l:
 *     h = LayerNorm(h + SelfAttn(h))              q,k,v,o Linear + b, Q queries only
 *     if l % cross_every == 0:
 *       h = LayerNorm(h + CrossAttn(h, window))   q,o from Dq; k,v from D_enc (+ b)
 *     h = LayerNorm(h + Linear(act(Linear(h) + b)) + b)   (the *_query FFN)
 *   rows = Linear(Dq → D_lm)(h) + b               (projector.linear)
 * post-LN as BERT (eps layer_norm_eps), softmax(q·kᵀ/√(Dq/H))·v, act "gelu" =
 * exact erf GELU.  Output: nW·Q rows, window-major (window 0's Q rows, then
 * window 1's, ...).  Built on core/nn.h (hd_nn_attention with its block
 * option: every window's queries attend only to their own window, all
 * windows in one call; hd_nn_mlp; hd_nn_norm).
 * Source: transformers models/granite_speech/modeling_granite_speech.py
 * (GraniteSpeechEncoderProjector), models/blip_2/modeling_blip_2.py
 * (Blip2QFormerModel/Layer/MultiHeadAttention), math re-implemented.
 *
 * Weights (PyTorch shapes [out, in]; prefix given at load, "projector." in a
 * GraniteSpeechForConditionalGeneration folder), N = layer:
 *   query [1, Q, Dq]
 *   qformer.layernorm.{weight,bias} [Dq]
 *   qformer.encoder.layer.N.attention.attention.{query,key,value}.weight [Dq, Dq]  .bias [Dq]
 *   qformer.encoder.layer.N.attention.output.dense.weight [Dq, Dq]                .bias [Dq]
 *   qformer.encoder.layer.N.attention.output.LayerNorm.{weight,bias} [Dq]
 *   qformer.encoder.layer.N.crossattention.attention.query.weight [Dq, Dq]        .bias [Dq]
 *   qformer.encoder.layer.N.crossattention.attention.{key,value}.weight [Dq, D_enc] .bias [Dq]
 *   qformer.encoder.layer.N.crossattention.output.dense.weight [Dq, Dq]           .bias [Dq]
 *   qformer.encoder.layer.N.crossattention.output.LayerNorm.{weight,bias} [Dq]
 *   qformer.encoder.layer.N.intermediate_query.dense.weight [F, Dq]               .bias [F]
 *   qformer.encoder.layer.N.output_query.dense.weight [Dq, F]                     .bias [Dq]
 *   qformer.encoder.layer.N.output_query.LayerNorm.{weight,bias} [Dq]
 *   linear.weight [D_lm, Dq]   .bias [D_lm]
 * (crossattention.* only in layers with N % cross_every == 0; the text-path
 * intermediate/output tensors, if present, are not used.)  Matrices any type
 * core/ops.h multiplies; vectors and the queries F32/F16/BF16 (converted at
 * load).
 *
 * GGUF (written by `herd convert`): the same tensor names without the
 * "projector." prefix (llama.cpp's 63-byte name limit; load with prefix ""),
 * and
 *   granite_speech.projector.embedding_length          u32  Dq
 *   granite_speech.projector.block_count               u32  layers
 *   granite_speech.projector.attention.head_count      u32  H
 *   granite_speech.projector.feed_forward_length       u32  F
 *   granite_speech.projector.encoder_embedding_length  u32  D_enc
 *   granite_speech.projector.cross_attention_frequency u32  cross_every
 *   granite_speech.projector.window_size               u32  W
 *   granite_speech.projector.downsample_rate           u32  R
 *   granite_speech.projector.output_length             u32  D_lm
 *   granite_speech.projector.hidden_act                str  ("gelu", optional)
 *   granite_speech.projector.layer_norm_epsilon        f32  (optional, 1e-12)
 */
#ifndef HD_ADAPTERS_QFORMER_H
#define HD_ADAPTERS_QFORMER_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/nn.h"
#include "core/weights.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values: HF defaults / granite-speech-3.3 (projector_config,
 * top-level window_size/downsample_rate, text_config.hidden_size). */
typedef struct hd_qformer_config {
    int hidden;        /* projector_config.hidden_size Dq             1024 */
    int n_layer;       /* num_hidden_layers                           2    */
    int n_head;        /* num_attention_heads H (Dq % H == 0)         16   */
    int n_ff;          /* intermediate_size F                         4096 */
    int enc_hidden;    /* encoder_hidden_size D_enc                   1024 */
    int cross_every;   /* cross_attention_frequency                   1    */
    hd_nn_act act;     /* hidden_act: "gelu" exact, "gelu_new"/"gelu_pytorch_tanh" tanh, "silu" */
    float norm_eps;    /* layer_norm_eps                              1e-12 */
    int window;        /* window_size W                               15   */
    int downsample;    /* downsample_rate R (W % R == 0)              5    */
    int n_out;         /* D_lm = text_config.hidden_size  2048 (2B) / 4096 (8B) */
} hd_qformer_config;

void hd_qformer_config_default(hd_qformer_config *c);   /* the right column, n_out 4096 */
hd_status hd_qformer_config_check(const hd_qformer_config *c, hd_error *err);
/* From a granite_speech config.json text: projector_config, window_size,
 * downsample_rate, text_config.hidden_size.  Missing keys take the HF class
 * defaults as HF fills them: projector_config → Blip2QFormerConfig (hidden
 * 768, 12 layers, 12 heads, intermediate 3072, encoder_hidden_size 1408,
 * cross_attention_frequency 2, "gelu", 1e-12), window_size 15,
 * downsample_rate 5, text_config.hidden_size → GraniteConfig's 4096.
 * projector_config.model_type must be "blip_2_qformer" (when given) and its
 * position_embedding_type "absolute" (the only one that means nothing for
 * query-only input).  HD_ERR_FORMAT "FILE: ..." on errors. */
hd_status hd_qformer_config_from_hf_json(hd_qformer_config *c, const char *json, size_t len, const char *file,
                                         hd_error *err);
hd_status hd_qformer_config_from_gguf(const hd_gguf *g, hd_qformer_config *c, hd_error *err);
hd_status hd_qformer_config_to_gguf(const hd_qformer_config *c, hd_gguf_writer *w, hd_error *err);

int64_t hd_qformer_n_params(const hd_qformer_config *c);
/* Queries per window: W / R. */
int hd_qformer_n_query(const hd_qformer_config *c);
/* LM rows for n_frames encoder frames: ceil(n_frames / W) · (W / R); 0 for 0. */
int64_t hd_qformer_n_rows(const hd_qformer_config *c, int64_t n_frames);

typedef struct hd_qformer hd_qformer;

/* Reads "<prefix>NAME" tensors (prefix NULL = ""), shapes checked against c.
 * Borrows w (it must outlive the projector); c is copied.  Caller frees. */
hd_qformer *hd_qformer_load(const hd_weights *w, const char *prefix, const hd_qformer_config *c, hd_error *err);
void hd_qformer_free(hd_qformer *q);   /* NULL is a no-op */
const hd_qformer_config *hd_qformer_config_of(const hd_qformer *q);

/* frames ne={D_enc, n_frames} F32 → out ne={D_lm, hd_qformer_n_rows(n_frames)}
 * F32, caller-allocated.  Arena kept and grown by the projector.  Not
 * thread-safe per projector. */
hd_status hd_qformer_forward(hd_qformer *q, hd_exec *ex, const float *frames, int64_t n_frames, float *out,
                             hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
