/* core/nn.h — the transformer building blocks every model shares.
 *
 * Written once on top of core/ops.h and reused by the Llama decoder (lm/),
 * the ViT (vision/), the Conformer (speech/) and the adapters:
 *
 *   hd_nn_norm       RMSNorm or LayerNorm with optional weight/bias
 *   hd_nn_linear     y = x·Wᵀ + b
 *   hd_nn_attention  multi-head attention with optional GQA, q/k norm,
 *                    RoPE, KV cache, causal mask or an additive mask
 *   hd_nn_mlp        SwiGLU (down(silu(gate x) ⊙ up x)) or plain
 *                    (down(act(up x + b)) + b)
 *   hd_nn_layer      the pre-norm transformer layer
 *                        x = x + g_a · attention(norm_a(x))
 *                        x = x + g_f · mlp(norm_f(x))
 *                    (g = tanh(gate) when a gate is given, else 1)
 *
 * Activations are contiguous F32 with ggml dimension order: a sequence of S
 * vectors of width D is ne = {D, S}.  Every block takes its temporaries from
 * `arena` and resets it to where it found it, so the caller allocates the
 * output (usually from the same arena) and the token loop never mallocs.
 * The *_scratch_bytes functions say how much arena a block needs for S
 * tokens, so a model can size its arena once at load.
 *
 * Weights are borrowed (not owned) and never written: one set of weights can
 * serve many threads, each with its own arena.
 */
#ifndef HD_NN_H
#define HD_NN_H

#include "arena.h"
#include "error.h"
#include "exec.h"
#include "ops.h"
#include "tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- normalisation ------------------------------------------------------- */

typedef enum hd_nn_norm_kind {
    HD_NN_NORM_RMS = 0,    /* y = x / sqrt(mean(x²) + eps) ⊙ w          */
    HD_NN_NORM_LAYER = 1,  /* y = (x - mean) / sqrt(var + eps) ⊙ w + b    */
} hd_nn_norm_kind;

typedef struct hd_nn_norm_w {
    hd_nn_norm_kind kind;
    const hd_tensor *w;    /* [D] or NULL */
    const hd_tensor *b;    /* [D] or NULL (LayerNorm only) */
    float eps;
} hd_nn_norm_w;

/* y = norm(x) over ne[0]; y, x ne={D, ...} F32 (y may alias x). */
hd_status hd_nn_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_nn_norm_w *n,
                     hd_error *err);

/* ---- linear -------------------------------------------------------------- */

/* y = x·wᵀ + b with y allocated from the arena: w ne={K, N}; x ne={K, S};
 * y ne={N, S}.  HD_ERR_NOMEM when the arena is exhausted. */
hd_status hd_nn_linear(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_tensor *w,
                       const hd_tensor *b, const hd_tensor *x, hd_error *err);

/* ---- low-rank adapters (LoRA) --------------------------------------------- */

/* A runtime LoRA on one linear y = x·Wᵀ (PEFT's LoraLayer, llama.cpp's
 * adapter): y += scale · (x·Aᵀ)·Bᵀ, scale = alpha / r.  Borrowed weights. */
typedef struct hd_nn_lora {
    const hd_tensor *a;    /* [K, r]  PyTorch lora_A [r, K] */
    const hd_tensor *b;    /* [r, N]  PyTorch lora_B [N, r] */
    float scale;
} hd_nn_lora;

/* y += lora(x) for x ne={K, S}, y ne={N, S}; temporaries from the arena
 * (reset after): (r + N)·S floats.  lora NULL is a no-op. */
hd_status hd_nn_lora_add(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_lora *lora, const hd_tensor *x,
                         hd_error *err);
size_t hd_nn_lora_scratch_bytes(const hd_nn_lora *lora, int64_t n_tokens);

/* ---- attention ----------------------------------------------------------- */

typedef struct hd_nn_attn_w {
    const hd_tensor *wq;   /* [D, H·d]   (PyTorch [H·d, D])               */
    const hd_tensor *wk;   /* [D_kv, G·d] (D_kv = D for self-attention)    */
    const hd_tensor *wv;   /* [D_kv, G·d]                                 */
    const hd_tensor *wo;   /* [H·d, D]   (PyTorch [D, H·d])               */
    const hd_tensor *bq, *bk, *bv, *bo;   /* [H·d], [G·d], [G·d], [D] or NULL */
    const hd_tensor *q_norm;  /* [d] RMSNorm over each query head, or NULL */
    const hd_tensor *k_norm;  /* [d] RMSNorm over each key head, or NULL   */
    float qk_norm_eps;
    int n_head;            /* H */
    int n_kv_head;         /* G, H % G == 0 (GQA); G == H is plain MHA     */
    int head_dim;          /* d */
    float scale;           /* softmax scale of q·kᵀ; 0 = 1/sqrt(d) (Granite: attention_multiplier) */
    const hd_nn_lora *lora_q, *lora_k, *lora_v, *lora_o;   /* runtime LoRA per projection, or NULL */
} hd_nn_attn_w;

/* How one call attends: positions, rotary embedding, cache, masking. */
typedef struct hd_nn_attn_ctx {
    /* RoPE on q and k (not v); inv_freq NULL = no RoPE. */
    const int32_t *pos;        /* [S] position of each token            */
    const float *inv_freq;     /* [n_rot/2] frequencies, scaling applied */
    int n_rot;                 /* rotated dims per head (≤ d, even)      */
    hd_rope_mode rope_mode;
    /* KV cache of this layer; NULL = attend only to this call's tokens.
     * k_cache, v_cache ne={d, G, T_max} F32 or F16.  The new keys/values
     * (after RoPE) are written at rows [n_past, n_past+S) and the queries
     * attend to rows [0, n_past+S). */
    const hd_tensor *k_cache;
    const hd_tensor *v_cache;
    int64_t n_past;
    bool causal;               /* query s sees keys t ≤ n_past + s       */
    const hd_tensor *mask;     /* optional additive mask ne={T, S}        */
    /* Cross-attention (no RoPE): keys and values come from kv_input
     * ne={D_kv, T} instead of x; with a cache they are written at rows
     * [n_past, n_past+T).  kv_cached: project nothing, attend to the cache
     * rows [0, n_past) as they are (K/V computed once, e.g. image states). */
    const hd_tensor *kv_input;
    bool kv_cached;
    /* hd_nn_layer only: per-token factors [S] on the attention and on the MLP
     * branch before each residual add (on top of tanh(gate)), e.g. mllama's
     * full-text-row mask R (SPEC §2.7); NULL = 1.  A factor 0 makes the
     * branch add exactly nothing to that token. */
    const float *attn_row_scale;
    const float *mlp_row_scale;
    /* Block-local attention (no cache, no causal mask, no additive mask):
     * block > 0 cuts the queries into consecutive blocks of `block` and the
     * keys into blocks of kv_block (0 = block); query block b attends only
     * to key block b, the last blocks may be shorter, and there must be as
     * many key blocks as query blocks.  E.g. the Granite Conformer's
     * context_size blocks (self), the Q-Former's Q queries per window of W
     * frames (cross-attention, all windows in one call). */
    int64_t block;
    int64_t kv_block;
    /* Shaw relative positions (Shaw et al. 2018; self-attention only, no
     * cache): with rel_pos set, the score of query i and key j (positions
     * inside their block, or inside the call without blocks) gains
     *     q_i · rel_pos[clamp(i − j, −rel_clamp, rel_clamp) + rel_max] · scale
     * rel_pos ne={d, 2·rel_max+1} (PyTorch nn.Embedding [2·rel_max+1, d]),
     * any type hd_op_linear takes; 0 ≤ rel_clamp ≤ rel_max. */
    const hd_tensor *rel_pos;
    int rel_max;
    int rel_clamp;
} hd_nn_attn_ctx;

/* y = attention(x): x ne={D, S}, y ne={D, S} allocated by the caller (y must
 * not alias x).  scores = q·kᵀ·scale (+ mask), softmax, ·v, ·W_oᵀ (each
 * projection plus its LoRA when given). */
hd_status hd_nn_attention(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_attn_w *w,
                          const hd_tensor *x, const hd_nn_attn_ctx *c, hd_error *err);
/* Keys and values of src for a cache that hd_nn_attention later reads with
 * kv_cached (cross-attention states computed once, SPEC §2.8):
 *     k = k_norm(src·W_kᵀ + b_k),  v = src·W_vᵀ + b_v       (no RoPE)
 * src ne={D_kv, T} F32; k_dst, v_dst ne={d, G, T} F32 or F16 (e.g. cache
 * rows), written by conversion.  Temporaries come from arena (reset after):
 * 2·G·d·T floats. */
hd_status hd_nn_attention_kv(hd_exec *ex, hd_arena *arena, const hd_nn_attn_w *w, const hd_tensor *src,
                             hd_tensor *k_dst, hd_tensor *v_dst, hd_error *err);

/* Arena bytes for n_tokens queries and keys (cross-attention: max(S, T)). */
size_t hd_nn_attention_scratch_bytes(const hd_nn_attn_w *w, int64_t n_tokens);
/* The same for a call with c's block and relative-position options. */
size_t hd_nn_attention_ctx_scratch_bytes(const hd_nn_attn_w *w, int64_t n_tokens, const hd_nn_attn_ctx *c);

/* ---- feed-forward -------------------------------------------------------- */

typedef enum hd_nn_act {
    HD_NN_ACT_SILU = 0,
    HD_NN_ACT_GELU = 1,      /* tanh approximation */
    HD_NN_ACT_GELU_ERF = 2,  /* exact              */
} hd_nn_act;

typedef struct hd_nn_mlp_w {
    const hd_tensor *gate;   /* [D, F] for a gated MLP (SwiGLU with SILU), NULL = plain */
    const hd_tensor *up;     /* [D, F]  */
    const hd_tensor *down;   /* [F, D]  */
    const hd_tensor *b_up;   /* [F] or NULL (plain MLP only) */
    const hd_tensor *b_down; /* [D] or NULL */
    hd_nn_act act;
    const hd_nn_lora *lora_gate, *lora_up, *lora_down;   /* runtime LoRA, or NULL */
} hd_nn_mlp_w;

/* y = mlp(x): x, y ne={D, S}; y allocated by the caller, must not alias x.
 * gated: y = down(act(gate·x) ⊙ up·x);  plain: y = down(act(up·x + b_up)) + b_down. */
hd_status hd_nn_mlp(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_mlp_w *w,
                    const hd_tensor *x, hd_error *err);
size_t hd_nn_mlp_scratch_bytes(const hd_nn_mlp_w *w, int64_t n_tokens);

/* ---- Conformer convolution module ---------------------------------------- */

typedef struct hd_nn_conv_w {
    hd_nn_norm_w norm;        /* LayerNorm [D]                                        */
    const hd_tensor *pw1;     /* [D, 2C] (PyTorch Conv1d [2C, D, 1] with the 1 dropped) */
    const hd_tensor *pw1_b;   /* [2C] or NULL                                         */
    const hd_tensor *dw;      /* [K, 1, C] F32/F16 depthwise kernel (PyTorch [C, 1, K]) */
    const hd_tensor *dw_b;    /* [C] or NULL                                          */
    const hd_tensor *bn_mean, *bn_var, *bn_w, *bn_b;   /* [C] F32: running stats, γ, β */
    float bn_eps;
    const hd_tensor *pw2;     /* [C, D] (PyTorch Conv1d [D, C, 1])                    */
    const hd_tensor *pw2_b;   /* [D] or NULL                                          */
    int pad_left;             /* zero frames before and after for the depthwise conv, */
    int pad_right;            /* pad_left + pad_right = K − 1 (same length): (K−1)/2
                                 each for odd K; Granite K/2 and K/2 − (K+1)%2        */
} hd_nn_conv_w;

/* The Conformer convolution module (Gulati et al. 2020):
 *   y = pw2(SiLU(BatchNorm(dw(GLU(pw1(norm(x)))))))
 * GLU over channels (first half ⊙ σ(second half)); x, y ne={D, T} (time
 * along ne[1]); y caller-allocated, must not alias x.  The caller adds the
 * residual.  Temporaries from the arena (reset after). */
hd_status hd_nn_conv_module(hd_exec *ex, hd_arena *arena, hd_tensor *y, const hd_nn_conv_w *w, const hd_tensor *x,
                            hd_error *err);
size_t hd_nn_conv_module_scratch_bytes(const hd_nn_conv_w *w, int64_t n_tokens);

/* ---- the pre-norm transformer layer -------------------------------------- */

typedef struct hd_nn_layer_w {
    hd_nn_norm_w attn_norm;
    hd_nn_attn_w attn;
    hd_nn_norm_w mlp_norm;
    hd_nn_mlp_w mlp;
    const hd_tensor *attn_gate;  /* [1] F32: residual scaled by tanh(gate), or NULL */
    const hd_tensor *mlp_gate;   /* [1] F32 or NULL */
    float residual_scale;        /* m on both branches, x = x + m·branch; 0 = 1
                                    (Granite: residual_multiplier)               */
} hd_nn_layer_w;

/* In place on x ne={D, S}:
 *   x = x + m · g_a · r_a ⊙ attention(attn_norm(x))
 *   x = x + m · g_f · r_f ⊙ mlp(mlp_norm(x))
 * g = tanh(gate) (1 without a gate), r = c's per-token row scales (1 when
 * NULL), m = residual_scale (1 when 0).                                   */
hd_status hd_nn_layer(hd_exec *ex, hd_arena *arena, hd_tensor *x, const hd_nn_layer_w *w,
                      const hd_nn_attn_ctx *c, hd_error *err);
size_t hd_nn_layer_scratch_bytes(const hd_nn_layer_w *w, int64_t n_tokens);

/* ---- rotary positions ------------------------------------------------------ */

/* inv_freq[i] = theta^(-2i/d) for i < d/2 (plain RoPE, no scaling). */
void hd_nn_rope_freqs(float theta, int d, float *inv_freq);
/* Grows *pos (malloc'd, *cap entries holding 0, 1, 2, ...) to at least n
 * entries; HD_ERR_NOMEM naming `who` when it cannot. */
hd_status hd_nn_positions(int32_t **pos, int64_t *cap, int64_t n, const char *who, hd_error *err);

/* Arena bytes of one F32 activation with n elements (rounded to the arena's
 * 64-byte alignment), for sizing arenas. */
size_t hd_nn_f32_bytes(int64_t n);

#ifdef __cplusplus
}
#endif
#endif
