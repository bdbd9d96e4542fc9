/* lm/llama.h — the Llama 3.x decoder (SPEC §1): weights and forward pass.
 *
 * Two objects, as in whisper.cpp:
 *   hd_llama_model    the weights (mmap'd, read-only) and hyper-parameters;
 *                     one model serves any number of contexts and threads.
 *   hd_llama_context  the per-request state: KV cache, activation arena,
 *                     thread pool, logits.  Not thread-safe; one per request.
 *
 * Files: a GGUF file with llama.cpp's tensor names and `llama.*` metadata
 * (Q/K rows in the interleaved RoPE layout, optional rope_freqs), or a
 * Hugging Face folder (config.json + *.safetensors, Q/K rows in the
 * half-split layout).  The RoPE pair layout follows the file (SPEC §1.4).
 *
 * Forward for each layer (SPEC §1.1):
 *     x = x + attention(rms_norm(x))      GQA, RoPE θ with llama3 scaling
 *     x = x + mlp(rms_norm(x))            SwiGLU
 * then rms_norm and the LM head (tied to the embeddings when the file has no
 * separate output matrix).
 *
 * Use:
 *     hd_llama_model *m = hd_llama_load("model.gguf", &err);
 *     hd_llama_context_params cp = hd_llama_context_default_params();
 *     hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
 *     hd_llama_decode(ctx, ids, n, &err);          appends to the KV cache
 *     const float *logits = hd_llama_logits(ctx);  [n_vocab] of the last token
 *     ...                                          (lm/generate.h runs the loop)
 *     hd_llama_context_free(ctx);
 *     hd_llama_free(m);
 */
#ifndef HD_LLAMA_H
#define HD_LLAMA_H

#include "core/error.h"
#include "core/nn.h"
#include "core/tensor.h"
#include "core/weights.h"
#include "lm/kv_cache.h"
#include "lm/llama_config.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One decoder layer; every pointer points into the model's weight file. */
typedef struct hd_llama_layer {
    hd_tensor attn_norm;   /* [D]        F32 (converted at load if stored as F16/BF16) */
    hd_tensor wq;          /* [D, H·d]   PyTorch [H·d, D]                              */
    hd_tensor wk;          /* [D, G·d]                                                 */
    hd_tensor wv;          /* [D, G·d]                                                 */
    hd_tensor wo;          /* [H·d, D]                                                 */
    hd_tensor ffn_norm;    /* [D]        F32                                           */
    hd_tensor w_gate;      /* [D, F]     (Meta w1)                                     */
    hd_tensor w_up;        /* [D, F]     (Meta w3)                                     */
    hd_tensor w_down;      /* [F, D]     (Meta w2)                                     */
    hd_nn_layer_w nn;      /* the same weights as core/nn sees them                    */
} hd_llama_layer;

typedef enum hd_llama_format {
    HD_LLAMA_GGUF = 0,     /* llama.cpp names, interleaved RoPE pairs */
    HD_LLAMA_HF = 1,       /* Hugging Face names, half-split RoPE     */
} hd_llama_format;

typedef struct hd_llama_model {
    hd_llama_config cfg;
    hd_llama_format format;
    hd_rope_mode rope_mode;    /* INTERLEAVED for GGUF, NEOX for HF          */
    hd_weights *file;          /* owned                                       */
    char *source;              /* the GGUF file or the HF folder (owned): where
                                  the model's tokenizer is, for hd_tokenizer_load */
    hd_tensor tok_embd;        /* [D, V]   embeddings, any type               */
    hd_tensor output_norm;     /* [D]      F32                                */
    hd_tensor output;          /* [D, V]   LM head (= tok_embd when tied)     */
    bool tied;                 /* output shares tok_embd                      */
    hd_llama_layer *layers;    /* [n_layer], owned                            */
    float *inv_freq;           /* [d/2] RoPE frequencies, scaling included    */
    float *norms;              /* owned F32 copies of the norm weights        */
    hd_type weight_type;       /* type of blk.0 attn_q (for messages)         */
} hd_llama_model;

/* Loads path (a .gguf file or a HF folder / config.json's folder).
 * Every tensor is checked for presence, shape and type; errors name the file
 * and the tensor.  Caller frees with hd_llama_free. */
hd_llama_model *hd_llama_load(const char *path, hd_error *err);
void hd_llama_free(hd_llama_model *m);                  /* NULL is a no-op */

/* RoPE frequencies for cfg (SPEC §1.4): inv_freq[i] = θ^(−2i/d) / factor[i],
 * i < d/2, with freq_factors (a GGUF rope_freqs tensor) or, when NULL, the
 * factors of cfg's scaling (hd_llama_rope_freq_factors: the "llama3" rule,
 * all ones without scaling).  freq_factors may alias inv_freq. */
void hd_llama_rope_freqs(const hd_llama_config *cfg, const float *freq_factors, float *inv_freq);

/* ---- context ------------------------------------------------------------- */

typedef struct hd_llama_context_params {
    int64_t n_ctx;      /* KV cache positions; 0 = min(training context, 4096) */
    int n_batch;        /* tokens per forward pass during prefill (default 256) */
    hd_type kv_type;    /* HD_TYPE_F16 (default) or HD_TYPE_F32               */
    int n_threads;      /* ≤ 0 = one per core                                  */
    bool logits_all;    /* keep logits of every token of a batch, not just the last */
} hd_llama_context_params;

hd_llama_context_params hd_llama_context_default_params(void);

typedef struct hd_llama_context hd_llama_context;

/* Allocates the KV cache, arenas and logits once.  model must outlive it.
 * Caller frees with hd_llama_context_free. */
hd_llama_context *hd_llama_context_create(const hd_llama_model *model,
                                          const hd_llama_context_params *p, hd_error *err);
void hd_llama_context_free(hd_llama_context *ctx);      /* NULL is a no-op */

/* Runs tokens[0..n) at the next free positions of the KV cache, in batches
 * of n_batch, and appends them to the cache.  Afterwards hd_llama_logits
 * holds the logits of the last token (logits_all: of every token of the last
 * batch).  Errors: a token id outside the vocabulary, more tokens than the
 * context has room for, n > n_batch with logits_all.  On any error the cache
 * is left as it was before the call. */
hd_status hd_llama_decode(hd_llama_context *ctx, const int32_t *tokens, int64_t n, hd_error *err);

/* Logits of the last decode: [n_vocab] × hd_llama_n_logits rows, owned by the
 * context, valid until the next decode. */
const float *hd_llama_logits(const hd_llama_context *ctx);
int64_t hd_llama_n_logits(const hd_llama_context *ctx);

const hd_llama_model *hd_llama_context_model(const hd_llama_context *ctx);
int64_t hd_llama_n_ctx(const hd_llama_context *ctx);
int64_t hd_llama_n_past(const hd_llama_context *ctx);    /* positions used   */
/* Forgets positions ≥ n (n ≤ n_past), e.g. to rewind or reuse a prefix. */
hd_status hd_llama_rewind(hd_llama_context *ctx, int64_t n, hd_error *err);
hd_kv_cache *hd_llama_kv_cache(hd_llama_context *ctx);
/* High-water marks of the arenas (bytes), for tuning and tests. */
size_t hd_llama_arena_used(const hd_llama_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
