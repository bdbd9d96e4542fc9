/* speech/conformer.h — the Llama 3 paper's speech encoder (SPEC §4, §6):
 * stride-4 frame stacking + linear projection, then Conformer blocks with
 * rotary self-attention.
 *
 * Per block, x ne={D, T} (the paper's equations, Gulati et al. 2020 §2):
 *     x = x + ½ · FeedForward₁(x)             ← feed_forward_module
 *     x = x + MultiHeadSelfAttention(x)        ← mhsa_module (RoPE)
 *     x = x + Convolution(x)                   ← convolution_module
 *     x = x + ½ · FeedForward₂(x)             ← feed_forward_module
 *     y = LayerNorm(x)                         ← final layer norm
 *   FeedForward: LayerNorm → Linear(D→F) + b → Swish → Linear(F→D) + b
 *   MHSA: LayerNorm → q,k,v = Linear + b → RoPE on q, k → softmax(qkᵀ/√d)v
 *         → Linear + b (core/nn.h hd_nn_attention, no mask: every frame sees
 *         every frame of the segment)
 *   Convolution: LayerNorm → pointwise conv D→2D + b → GLU (first half ⊙
 *         σ(second half)) → depthwise conv kernel K, same padding (K−1)/2,
 *         + b → BatchNorm (inference: running mean/var) → Swish →
 *         pointwise conv D→D + b
 * Front (before the blocks): mel frames ne={n_mel, T_mel} are stacked in
 * groups of `stack` consecutive frames, frame-major ([f0 | f1 | f2 | f3],
 * 320 values for 80 × 4), and projected by Linear(stack·n_mel → D) + b:
 * T = floor(T_mel / stack) output frames of 40 ms; a trailing partial group
 * is dropped.  Positions for RoPE are 0 .. T−1 within the call.
 *
 * Equal to torchaudio.models.Conformer's ConformerLayer (convolution_first
 * False, BatchNorm) except the attention: torchaudio has no positional
 * encoding, herd rotates q and k (SPEC §6.3); and torchaudio has no front.
 *
 * Choices where the paper is silent (SPEC §6.2, §8 list them as unknown):
 * biases everywhere (as torchaudio); BatchNorm in the conv module (Gulati);
 * Swish = SiLU; LayerNorm eps 1e-5 and BatchNorm eps 1e-5 (PyTorch defaults,
 * stored in the file); RoPE on all head_dim dims with interleaved pairs
 * (2i, 2i+1) as Meta's reference code rotates, θ = 10 000 (the RoFormer /
 * Llama 2 value; stored in the file, so a model with Llama 3's 500 000 loads
 * as well); the stacking order frame-major; no feature normalisation inside
 * the encoder (a model needing global CMVN applies it to the mel first).
 *
 * GGUF layout: general.architecture = "conformer" and
 *   conformer.mel_bins               u32  n_mel (80)
 *   conformer.stack_frames           u32  stack (4)
 *   conformer.embedding_length       u32  D (1536)
 *   conformer.feed_forward_length    u32  F (4096)
 *   conformer.block_count            u32  L (24)
 *   conformer.attention.head_count   u32  H (24)
 *   conformer.attention.key_length   u32  d, head dim (64; H·d need not be D)
 *   conformer.conv_kernel_size       u32  K (7, odd)
 *   conformer.attention.layer_norm_epsilon  f32 (1e-5)
 *   conformer.batch_norm_epsilon     f32  (1e-5)
 *   conformer.rope.freq_base         f32  θ (10000)
 * Tensors (PyTorch shapes [out, in]; GGUF ne is the reverse), N = block:
 *   enc.in.weight [D, stack·n_mel]   enc.in.bias [D]
 *   enc.blk.N.ff1.norm.{weight,bias} [D]
 *   enc.blk.N.ff1.up.weight [F, D]   enc.blk.N.ff1.up.bias [F]
 *   enc.blk.N.ff1.down.weight [D, F] enc.blk.N.ff1.down.bias [D]
 *   enc.blk.N.attn.norm.{weight,bias} [D]
 *   enc.blk.N.attn.{q,k,v}.weight [H·d, D]   .bias [H·d]
 *   enc.blk.N.attn.out.weight [D, H·d]       .bias [D]
 *   enc.blk.N.conv.norm.{weight,bias} [D]
 *   enc.blk.N.conv.pw1.weight [2D, D] (Conv1d [2D, D, 1] squeezed)  .bias [2D]
 *   enc.blk.N.conv.dw.weight [D, 1, K]                              .bias [D]
 *   enc.blk.N.conv.bn.{weight,bias,mean,var} [D]  (γ, β, running mean/var)
 *   enc.blk.N.conv.pw2.weight [D, D] (Conv1d [D, D, 1] squeezed)     .bias [D]
 *   enc.blk.N.ff2.* as ff1
 *   enc.blk.N.norm.{weight,bias} [D]  (the block's final LayerNorm)
 * Matrices may be any type core/ops.h multiplies (F32, F16, BF16, Q8_0, ...);
 * the depthwise kernel F32 or F16; vectors F32.
 */
#ifndef HD_SPEECH_CONFORMER_H
#define HD_SPEECH_CONFORMER_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/weights.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_conformer_config {
    int n_mel;         /* input mel bins                        80    */
    int stack;         /* frames stacked before the projection  4     */
    int n_embd;        /* D                                     1536  */
    int n_ff;          /* F, each macaron feed-forward          4096  */
    int n_layer;       /* L                                     24    */
    int n_head;        /* H                                     24    */
    int head_dim;      /* d                                     64    */
    int conv_kernel;   /* K, odd                                7     */
    float norm_eps;    /* LayerNorm                             1e-5  */
    float bn_eps;      /* BatchNorm                             1e-5  */
    float rope_theta;  /* θ                                     10000 */
} hd_conformer_config;

/* Presets: "tiny" (D 64, F 128, 2 blocks, 4 heads of 16, K 7: for tests) and
 * "paper-1b" (the paper's 1B encoder: D 1536, F 4096, 24 blocks, 24 heads of
 * 64, K 7, 80 mel × 4).  false for an unknown name. */
bool hd_conformer_preset(const char *name, hd_conformer_config *c);
const char *const *hd_conformer_preset_names(void);   /* NULL-terminated */

/* HD_ERR_ARG naming the first bad field. */
hd_status hd_conformer_config_check(const hd_conformer_config *c, hd_error *err);
/* Reads the conformer.* keys (all required except the three epsilons/θ,
 * which default as above); HD_ERR_FORMAT "FILE: ..." when missing or bad. */
hd_status hd_conformer_config_from_gguf(const hd_gguf *g, hd_conformer_config *c, hd_error *err);
/* Writes general.architecture and the conformer.* keys. */
hd_status hd_conformer_config_to_gguf(const hd_conformer_config *c, hd_gguf_writer *w, hd_error *err);

/* Parameters of the encoder (weights and biases, BatchNorm statistics included). */
int64_t hd_conformer_n_params(const hd_conformer_config *c);
/* Output frames for n_mel_frames input frames: floor(n / stack). */
int64_t hd_conformer_n_out(const hd_conformer_config *c, int64_t n_mel_frames);

typedef struct hd_conformer hd_conformer;

/* Opens a GGUF file and reads config and tensors (every shape and type
 * checked; errors name the file and tensor).  Owns the mapping. */
hd_conformer *hd_conformer_load(const char *path, hd_error *err);
/* Borrows w (it must outlive the model); c NULL: the config from w's GGUF
 * metadata (a safetensors file needs c). */
hd_conformer *hd_conformer_from_weights(const hd_weights *w, const hd_conformer_config *c, hd_error *err);
void hd_conformer_free(hd_conformer *m);   /* NULL is a no-op */
const hd_conformer_config *hd_conformer_config_of(const hd_conformer *m);

/* Encodes one segment: mel ne={n_mel, n_frames} (frame-major, speech/mel.h's
 * layout) → out ne={D, hd_conformer_n_out(n_frames)}, caller-allocated.
 * Activations come from an arena the model sizes and keeps for the longest
 * segment seen so far (grown here, outside the block loop).  n_frames
 * shorter than one stack gives no output and HD_OK.  Not thread-safe per
 * model (one arena); the weights may be shared by several models. */
hd_status hd_conformer_encode(hd_conformer *m, hd_exec *ex, const float *mel, int64_t n_frames, float *out,
                              hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
