/* adapters/speech_adapter.h — the Llama 3 paper's speech adapter (SPEC §4
 * step 4): it turns Conformer output (40 ms frames) into LM input embeddings
 * (80 ms frames) that are spliced into the prompt as if they were tokens.
 *
 * The paper: "a convolution layer (kernel 3, stride 2), a rotary Transformer
 * layer (latent 3072, FFN 4096) and a linear layer" to the LM width, ~100M
 * parameters.  herd's forward, x ne={D_enc, T40} → y ne={D_lm, T80}:
 *
 *     h = Conv1d(x)                  D_enc → D_a, kernel K 3, stride S 2,
 *                                    zero padding P 1 on both ends, + bias
 *     per layer (n_layer = 1 in the paper):
 *       h = h + Attention(RMSNorm(h))  rotary, no bias, every frame sees all
 *       h = h + SwiGLU(RMSNorm(h))     down(silu(gate·h) ⊙ up·h), no bias
 *     y = h·W_outᵀ + b_out           D_a → D_lm
 *
 *     T80 = floor((T40 + 2P − K) / S) + 1   (0 when T40 + 2P < K)
 *         = ceil(T40 / 2) for K 3, S 2, P 1.
 *
 * Choices where the paper is silent (SPEC §8 lists them as unknown), each
 * stored in the file so another choice is a different file, not new code:
 *   - padding 1: "same"-style, so every 40 ms frame reaches an output and a
 *     60 s segment (1500 encoder frames) gives exactly the 750 LM positions
 *     of SPEC §4 step 5 (padding 0 would give 749);
 *   - no activation between the conv and the transformer layer: the paper
 *     names only the three layers, and the pre-norm layer that follows
 *     normalises its input anyway;
 *   - the transformer layer is Llama 3's own (SPEC §1.1): RMSNorm (eps 1e-5),
 *     SwiGLU FFN, no biases.  With the paper's sizes this gives
 *     conv 14.2M + attention 37.7M + SwiGLU 37.7M + output 12.6M (D_lm 4096)
 *     = 102M ≈ "about 100M"; a plain 2-matrix FFN would give 90M;
 *   - 24 heads of 128 (d 128 as every Llama 3 ≥ 3B; 3072 = 24 × 128 is
 *     exactly Llama 3.2 3B's attention), no GQA (G = H, storable);
 *   - RoPE θ 10 000 over all d dims with interleaved pairs (2i, 2i+1), the
 *     same convention as herd's Conformer (speech/conformer.h); positions
 *     0 .. T80−1 within one segment;
 *   - biases on the conv and the output linear (PyTorch's nn.Conv1d /
 *     nn.Linear default; mllama's projector has one too), none inside the
 *     Llama-style layer.
 *
 * GGUF layout: the keys live in the speech file beside the conformer.* keys
 * (speech/speech_model.h):
 *   speech_adapter.input_length            u32  D_enc (1536)
 *   speech_adapter.embedding_length        u32  D_a (3072)
 *   speech_adapter.feed_forward_length     u32  F (4096)
 *   speech_adapter.block_count             u32  layers (1)
 *   speech_adapter.attention.head_count    u32  H (24)
 *   speech_adapter.attention.head_count_kv u32  G (24)
 *   speech_adapter.attention.key_length    u32  d (128)
 *   speech_adapter.conv_kernel_size        u32  K (3)
 *   speech_adapter.conv_stride             u32  S (2)
 *   speech_adapter.conv_padding            u32  P (1)
 *   speech_adapter.output_length           u32  D_lm (4096 for Llama 3 8B)
 *   speech_adapter.attention.layer_norm_rms_epsilon  f32 (1e-5; optional)
 *   speech_adapter.rope.freq_base          f32  θ (10000; optional)
 * Tensors (PyTorch shapes [out, in]; GGUF ne is the reverse), N = layer:
 *   adp.conv.weight [D_a, K·D_enc]  the nn.Conv1d weight [D_a, D_enc, K]
 *                   permuted to [D_a, K, D_enc] and flattened: column
 *                   k·D_enc + i holds tap k of input channel i.  Tap-major
 *                   rows make the convolution one matrix product over K
 *                   consecutive frames and keep rows long enough to quantize.
 *   adp.conv.bias [D_a]
 *   adp.blk.N.attn_norm.weight [D_a]
 *   adp.blk.N.attn_q.weight [H·d, D_a]  (rows in interleaved RoPE pair order)
 *   adp.blk.N.attn_k.weight [G·d, D_a]  (idem)
 *   adp.blk.N.attn_v.weight [G·d, D_a]
 *   adp.blk.N.attn_output.weight [D_a, H·d]
 *   adp.blk.N.ffn_norm.weight [D_a]
 *   adp.blk.N.ffn_gate.weight [F, D_a]
 *   adp.blk.N.ffn_up.weight [F, D_a]
 *   adp.blk.N.ffn_down.weight [D_a, F]
 *   adp.out.weight [D_lm, D_a]      adp.out.bias [D_lm]
 * Matrices may be any type core/ops.h multiplies; vectors F32.
 */
#ifndef HD_ADAPTERS_SPEECH_ADAPTER_H
#define HD_ADAPTERS_SPEECH_ADAPTER_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/weights.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_speech_adapter_config {
    int n_in;          /* D_enc, the encoder width                 1536  */
    int n_embd;        /* D_a                                       3072  */
    int n_ff;          /* F (SwiGLU hidden)                         4096  */
    int n_layer;       /* rotary transformer layers                 1     */
    int n_head;        /* H                                         24    */
    int n_head_kv;     /* G, H % G == 0                             24    */
    int head_dim;      /* d, even                                   128   */
    int conv_kernel;   /* K                                         3     */
    int conv_stride;   /* S                                         2     */
    int conv_pad;      /* P, < K                                    1     */
    int n_out;         /* D_lm, the LM embedding width              4096  */
    float norm_eps;    /* RMSNorm                                   1e-5  */
    float rope_theta;  /* θ                                         10000 */
} hd_speech_adapter_config;

/* Presets for an encoder of width n_in and an LM of width n_out:
 *   "tiny"      D_a 96, F 128, 1 layer, 4 heads of 24 with 2 KV heads (so
 *               tests exercise GQA), K 3 / S 2 / P 1;
 *   "paper"     the paper's adapter: D_a 3072, F 4096, 1 layer, 24 heads of
 *               128, K 3 / S 2 / P 1.
 * false for an unknown name or n_in / n_out < 1. */
bool hd_speech_adapter_preset(const char *name, int n_in, int n_out, hd_speech_adapter_config *c);

/* HD_ERR_ARG naming the first bad field. */
hd_status hd_speech_adapter_config_check(const hd_speech_adapter_config *c, hd_error *err);
/* Reads the speech_adapter.* keys (all u32 keys required; the two f32 keys
 * default as above).  HD_ERR_FORMAT "FILE: ..." when missing or bad. */
hd_status hd_speech_adapter_config_from_gguf(const hd_gguf *g, hd_speech_adapter_config *c, hd_error *err);
/* Writes the speech_adapter.* keys (not general.architecture). */
hd_status hd_speech_adapter_config_to_gguf(const hd_speech_adapter_config *c, hd_gguf_writer *w, hd_error *err);

int64_t hd_speech_adapter_n_params(const hd_speech_adapter_config *c);
/* Output frames for n_in_frames encoder frames (formula at the top). */
int64_t hd_speech_adapter_n_out(const hd_speech_adapter_config *c, int64_t n_in_frames);

typedef struct hd_speech_adapter hd_speech_adapter;

/* Opens a GGUF file (usually the speech file of speech/speech_model.h) and
 * reads the adapter's config and tensors; owns the mapping. */
hd_speech_adapter *hd_speech_adapter_load(const char *path, hd_error *err);
/* Borrows w (it must outlive the adapter); c NULL: the config from w's GGUF
 * metadata.  Every tensor's shape and type checked; errors name file and
 * tensor. */
hd_speech_adapter *hd_speech_adapter_from_weights(const hd_weights *w, const hd_speech_adapter_config *c,
                                                  hd_error *err);
void hd_speech_adapter_free(hd_speech_adapter *a);   /* NULL is a no-op */
const hd_speech_adapter_config *hd_speech_adapter_config_of(const hd_speech_adapter *a);

/* Adapts one segment: x ne={D_enc, n_in} (frame-major F32, the Conformer's
 * output layout) → y ne={D_lm, hd_speech_adapter_n_out(n_in)}, caller-
 * allocated; y must not overlap x.  Activations come from an arena the
 * adapter keeps for the longest segment seen so far (grown here).  n_in too
 * short for one output gives no output and HD_OK.  Not thread-safe per
 * adapter (one arena). */
hd_status hd_speech_adapter_encode(hd_speech_adapter *a, hd_exec *ex, const float *x, int64_t n_in, float *y,
                                   hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
