/* core/ops.h — the backend-neutral op API every model is written in.
 *
 * Conventions (ggml order, see core/tensor.h): ne[0] is innermost.  Activations
 * are contiguous F32 unless stated.  Every op checks shapes and types and
 * returns HD_ERR_SHAPE / HD_ERR_UNSUPPORTED with a message instead of
 * computing garbage.  Unless stated, y may alias x (in-place) for
 * element-wise ops.  Ops dispatch on ex->backend; on the CPU they use the
 * best kernels for the machine (core/cpu.h) and ex->pool.
 */
#ifndef HD_OPS_H
#define HD_OPS_H

#include "error.h"
#include "exec.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- products ------------------------------------------------------------ */

/* y = x · wᵀ (+ b):  w ne={K, N} of any type (F32, F16, BF16, Q8_0, Q4_0, Q4_K,
 * Q5_K, Q6_K); x ne={K, M} F32; y ne={N, M} F32; b ne={N} F32 or NULL.
 * Activations are quantized on the fly where that is faster (Q8_0 for Q4_0/Q8_0,
 * Q8_K for K-quants), using ex->scratch when set. y must not alias x. */
hd_status hd_op_linear(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const hd_tensor *x,
                       const hd_tensor *b, hd_error *err);
static inline hd_status hd_op_matmul(hd_exec *ex, hd_tensor *y, const hd_tensor *w,
                                     const hd_tensor *x, hd_error *err) {
    return hd_op_linear(ex, y, w, x, NULL, err);
}

/* Embedding lookup: w ne={D, V} any type; ids[0..n) in [0, V); y ne={D, n} F32. */
hd_status hd_op_get_rows(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const int32_t *ids,
                         int64_t n, hd_error *err);

/* Type conversion with the same shape: any type -> F32, F32 -> F16/BF16/Q8_0/Q4_0/Q4_K. */
hd_status hd_op_convert(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);

/* ---- normalisation ------------------------------------------------------- */

/* Per row of ne[0]: y = x / sqrt(mean(x²) + eps) ⊙ w.  w ne={ne0} or NULL. */
hd_status hd_op_rms_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w,
                         float eps, hd_error *err);
/* Per row: y = (x - mean) / sqrt(var + eps) ⊙ w + b.  w, b ne={ne0} or NULL. */
hd_status hd_op_layer_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w,
                           const hd_tensor *b, float eps, hd_error *err);
/* Inference batch norm over channels: x ne={T, C} (PyTorch [C, T]);
 * y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c]; all ne={C}. */
hd_status hd_op_batch_norm(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *mean,
                           const hd_tensor *var, const hd_tensor *gamma, const hd_tensor *beta,
                           float eps, hd_error *err);

/* ---- positions ----------------------------------------------------------- */

typedef enum hd_rope_mode {
    HD_ROPE_INTERLEAVED = 0, /* pairs (2i, 2i+1)        — Meta .pth, GGUF llama  */
    HD_ROPE_NEOX = 1,        /* pairs (i, i + n_rot/2)  — HF "rotate_half"       */
} hd_rope_mode;

/* In place on x ne={head_dim, n_heads, n_tokens}; token t is at position pos[t];
 * the first n_rot dims of each head rotate by angle pos·inv_freq[i],
 * i < n_rot/2 (inv_freq already includes any frequency scaling). */
hd_status hd_op_rope(hd_exec *ex, hd_tensor *x, const int32_t *pos, const float *inv_freq,
                     int n_rot, hd_rope_mode mode, hd_error *err);

/* ---- attention ----------------------------------------------------------- */

typedef struct hd_attn_params {
    float scale;          /* usually 1/sqrt(head_dim)                                  */
    bool causal;          /* query s sees keys t <= q_offset + s                       */
    int64_t q_offset;     /* position of the first query among the keys (KV cache len) */
    const hd_tensor *mask;/* optional additive F32 mask ne={T, S} (-INFINITY blocks)   */
} hd_attn_params;

/* out = softmax(q·kᵀ·scale + mask)·v per head with GQA.
 * q ne={d, H, S} F32; k, v ne={d, G, T} F32 or F16 (a KV cache); H % G == 0 and
 * query head h uses KV head h / (H/G); out ne={d, H, S} F32.  A query row that
 * sees no key gives zeros. */
hd_status hd_op_attention(hd_exec *ex, hd_tensor *out, const hd_tensor *q, const hd_tensor *k,
                          const hd_tensor *v, const hd_attn_params *p, hd_error *err);

/* In place softmax over each row of ne[0], after multiplying by scale. */
hd_status hd_op_softmax(hd_exec *ex, hd_tensor *x, float scale, hd_error *err);

/* ---- element-wise -------------------------------------------------------- */

hd_status hd_op_silu(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
hd_status hd_op_gelu(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);      /* tanh approx. */
hd_status hd_op_gelu_erf(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);  /* exact        */
hd_status hd_op_tanh(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
hd_status hd_op_sigmoid(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
/* y = silu(gate) ⊙ up (all same shape). */
hd_status hd_op_swiglu(hd_exec *ex, hd_tensor *y, const hd_tensor *gate, const hd_tensor *up,
                       hd_error *err);
/* GLU over ne[0] halves: y = a ⊙ sigmoid(b), x = [a | b] ne={2n, ...}, y ne={n, ...}. */
hd_status hd_op_glu(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
/* y = a + b, y = a ⊙ b: b has a's shape or broadcasts over rows (ne={a.ne0}). */
hd_status hd_op_add(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, hd_error *err);
hd_status hd_op_mul(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, hd_error *err);
/* y = x · s */
hd_status hd_op_scale(hd_exec *ex, hd_tensor *y, const hd_tensor *x, float s, hd_error *err);

/* ---- convolution --------------------------------------------------------- */

/* PyTorch conv1d: x ne={T, C_in} ([C_in, T]); w ne={K, C_in/groups, C_out}
 * ([C_out, C_in/groups, K]) F32 or F16; b ne={C_out} or NULL;
 * y ne={T_out, C_out}, T_out = (T + 2·pad - K)/stride + 1.  groups == C_in ==
 * C_out is depthwise. */
hd_status hd_op_conv1d(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w,
                       const hd_tensor *b, int stride, int pad, int groups, hd_error *err);
/* Non-overlapping 2-D patch embedding (conv2d with kernel = stride = patch):
 * img ne={W, H, C} ([C, H, W]) F32; w ne={P, P, C, D} ([D, C, P, P]);
 * b ne={D} or NULL; y ne={D, (H/P)·(W/P)} with patches in row-major order. */
hd_status hd_op_patch_embed(hd_exec *ex, hd_tensor *y, const hd_tensor *img, const hd_tensor *w,
                            const hd_tensor *b, int patch, hd_error *err);

/* ---- layout -------------------------------------------------------------- */

/* y = [a | b] along dimension dim (0..3); other dimensions equal. */
hd_status hd_op_concat(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, int dim,
                       hd_error *err);
/* Swaps dimensions 0 and 1 into contiguous y: y ne={x.ne1, x.ne0, x.ne2, x.ne3}. */
hd_status hd_op_transpose(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
