/* adapters/ultravox_projector.h — Ultravox's multimodal projector
 * (fixie-ai/ultravox, ultravox/model/ultravox_model.py UltravoxProjector):
 * Whisper encoder frames → LM input rows.
 *
 * Forward, x ne={C, F} (F encoder frames of width C) → y ne={D_lm, T}:
 *
 *     T  = ceil(F / S)                        S = stack_factor (8)
 *     xs = zero-pad x to T·S frames and view it as ne={C·S, T}
 *          (row t = frames t·S .. t·S+S−1 side by side: _pad_and_stack)
 *     h  = RMSNorm(xs) ⊙ ln_pre               eps 1e-6 (LlamaRMSNorm)
 *     u  = h·W_1ᵀ                             W_1 [H, C·S], no bias
 *     m  = u[:H/2] ⊙ silu(u[H/2:])            SwiGLU: x, gate = u.chunk(2) —
 *                                             the SECOND half is the gate
 *     m  = RMSNorm(m) ⊙ ln_mid                v0.5 (projector_ln_mid true)
 *     y  = m·W_2ᵀ                             W_2 [D_lm, H/2], no bias
 *     y  = RMSNorm(y) ⊙ ln_post               v0.4.1 and older (ln_mid false)
 *
 * Published v0.5 sizes (UltravoxConfig defaults, hidden_size 4096; Whisper
 * large-v3-turbo encoder C 1280; stack_factor 8):
 *   llama-3_2-1b: C·S 10240 → H 4096 → H/2 2048 → D_lm 2048
 *   llama-3_1-8b: C·S 10240 → H 4096 → H/2 2048 → D_lm 4096
 *
 * Tensor names (PyTorch shapes; GGUF ne is the reverse):
 *   HF (model.safetensors)                     GGUF (llama.cpp mmproj)
 *   multi_modal_projector.ln_pre.weight        mm.a.norm_pre.weight   [C·S]
 *   multi_modal_projector.linear_1.weight      mm.a.mlp.1.weight      [H, C·S]
 *   multi_modal_projector.ln_mid.weight        mm.a.norm_mid.weight   [H/2]   (ln_mid)
 *   multi_modal_projector.linear_2.weight      mm.a.mlp.2.weight      [D_lm, H/2]
 *   multi_modal_projector.ln_post.weight       mm.a.norm_post.weight  [D_lm]  (no ln_mid;
 *                                              herd's name: llama.cpp has none)
 * Matrices may be any type core/ops.h multiplies; the norm weights F32, F16
 * or BF16 (copied to F32 at load).
 */
#ifndef HD_ADAPTERS_ULTRAVOX_PROJECTOR_H
#define HD_ADAPTERS_ULTRAVOX_PROJECTOR_H

#include "core/error.h"
#include "core/exec.h"
#include "core/weights.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_ultravox_projector_config {
    int n_in;           /* C, the audio encoder width (Whisper d_model)   1280 */
    int stack_factor;   /* S, frames stacked into one row                 8    */
    int n_hidden;       /* H, linear_1 outputs (config hidden_size), even 4096 */
    int n_out;          /* D_lm, the LM embedding width                   2048 */
    bool ln_mid;        /* projector_ln_mid: norm after SwiGLU (v0.5) or after linear_2 */
    float norm_eps;     /* RMSNorm eps                                    1e-6 */
} hd_ultravox_projector_config;

/* HD_ERR_ARG naming the first bad field (sizes < 1, odd H, S > 64). */
hd_status hd_ultravox_projector_config_check(const hd_ultravox_projector_config *c, hd_error *err);

/* Rows out for n_frames encoder frames: ceil(n_frames / S). */
int64_t hd_ultravox_projector_n_out(const hd_ultravox_projector_config *c, int64_t n_frames);

typedef enum hd_ultravox_names {
    HD_ULTRAVOX_NAMES_HF = 0,     /* multi_modal_projector.*  */
    HD_ULTRAVOX_NAMES_GGUF = 1,   /* mm.a.*                   */
} hd_ultravox_names;

typedef struct hd_ultravox_projector hd_ultravox_projector;

/* Borrows w (it must outlive the projector).  Every tensor's presence, shape
 * and type checked; errors name the file and the tensor.  Caller frees. */
hd_ultravox_projector *hd_ultravox_projector_create(const hd_weights *w, const hd_ultravox_projector_config *c,
                                                    hd_ultravox_names names, hd_error *err);
void hd_ultravox_projector_free(hd_ultravox_projector *p);   /* NULL is a no-op */
const hd_ultravox_projector_config *hd_ultravox_projector_config_of(const hd_ultravox_projector *p);

/* x: [n_frames][C] F32 frame-major (ne={C, n_frames}); y: caller-allocated
 * [hd_ultravox_projector_n_out(n_frames)][D_lm] F32, must not overlap x.
 * Activations come from an arena the projector keeps (grown on demand).
 * Not thread-safe per projector. */
hd_status hd_ultravox_projector_forward(hd_ultravox_projector *p, hd_exec *ex, const float *x, int64_t n_frames,
                                        float *y, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
