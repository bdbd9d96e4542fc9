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
 * Llama 3.2 Vision ("mllama") text models load from the same two layouts
 * (lm/llama_config.h reads text_config / the mllama.* keys).  Layers listed
 * in cross_attention_layers are gated cross-attention layers (SPEC §2.6);
 * the others are plain self-attention layers under the names above.
 *
 *   HF MllamaForConditionalGeneration      GGUF (Ollama's mllama layout)  shape (ggml order)
 *   language_model.model.embed_tokens.weight token_embd.weight            [D, V+8]
 *   language_model.model.norm.weight       output_norm.weight             [D]
 *   language_model.lm_head.weight          output.weight                  [D, V] (never tied)
 *   language_model.model.layers.N.  (self layers)   blk.N.   as for Llama: attn_q, attn_k, ...
 *   language_model.model.layers.N.  (cross layers)  blk.N.
 *     input_layernorm.weight               attn_norm.weight               [D]
 *     cross_attn.q_proj.weight             cross_attn_q_proj.weight       [D, H·d]
 *     cross_attn.k_proj.weight             cross_attn_k_proj.weight       [D, G·d]
 *     cross_attn.v_proj.weight             cross_attn_v_proj.weight       [D, G·d]
 *     cross_attn.o_proj.weight             cross_attn_o_proj.weight       [H·d, D]
 *     cross_attn.q_norm.weight             cross_attn_q_norm.weight       [d]
 *     cross_attn.k_norm.weight             cross_attn_k_norm.weight       [d]
 *     cross_attn_attn_gate                 cross_attn_attn_gate           [1] raw (tanh at run time)
 *     cross_attn_mlp_gate                  cross_attn_mlp_gate            [1] raw
 *     post_attention_layernorm.weight      ffn_norm.weight                [D]
 *     mlp.{gate,up,down}_proj.weight       ffn_{gate,up,down}.weight      [D, F], [D, F], [F, D]
 *   GGUF keys: general.architecture "mllama"; mllama.{block_count, context_length,
 *   embedding_length, feed_forward_length, attention.head_count, attention.head_count_kv,
 *   rope.freq_base, attention.layer_norm_rms_epsilon, vocab_size, rope.dimension_count}
 *   as llama.*; mllama.attention.cross_attention_layers (INT32 array); rope_freqs.weight.
 * Converting HF → GGUF: self-attention Q/K rows are permuted to the interleaved
 * layout as for Llama; cross-attention tensors are copied unchanged (no RoPE,
 * so no permutation: q/k rows stay paired with their q_norm/k_norm weights).
 * (Ollama's converter since May 2025 also permutes cross_attn_{q,k}_proj rows
 * but not the norms; such a file loads, but is a different model to herd.)
 * The vision tower's tensors in the same file or folder are not read here.
 * Folders saved by newer transformers (model.language_model.* and lm_head.weight
 * instead of language_model.model.* and language_model.lm_head.weight) load too.
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

/* One decoder layer; every pointer points into the model's weight file.
 * Shapes in ggml order (ne[0] first).  A cross-attention layer (mllama) has
 * the same matrices, read from its cross_attn names: wq projects the text
 * [D → H·d], wk/wv the image states (width D, the projector output) [D → G·d],
 * plus the per-head q/k norms and the two gates. */
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
    bool cross;            /* a gated cross-attention layer (SPEC §2.6)                */
    int slot;              /* self layer: its KV-cache layer; cross: its index among the
                              cross layers (image K/V slot)                            */
    hd_tensor q_norm;      /* [d]        F32, cross only: RMSNorm weight per query head */
    hd_tensor k_norm;      /* [d]        F32, cross only: per key head                  */
    hd_tensor attn_gate;   /* [1]        F32, cross only: raw value, tanh in the forward */
    hd_tensor mlp_gate;    /* [1]        F32, cross only                                */
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
    hd_tensor tok_embd;        /* [D, V]   embeddings, any type; mllama [D, V+8]
                                  (row V = 128256 is <|image|>)               */
    hd_tensor output_norm;     /* [D]      F32                                */
    hd_tensor output;          /* [D, V]   LM head (= tok_embd when tied)     */
    bool tied;                 /* output shares tok_embd                      */
    hd_llama_layer *layers;    /* [n_layer], owned                            */
    float *inv_freq;           /* [d/2] RoPE frequencies, scaling included    */
    float *norms;              /* owned F32 copies of the norm weights (and
                                  of the cross layers' q/k norms and gates)   */
    int n_self;                /* layers with a self-attention KV cache       */
    const struct hd_llama_hf_names *hf;/* HF tensor-name roots (lm/llama.c), NULL for GGUF */
    hd_type weight_type;       /* type of blk.0 attn_q (for messages)         */
    /* the paper's video cross-attention layers (lm/llama_video.c; GGUF only,
     * see "video" below); 0 / NULL without them */
    int n_video;               /* video cross-attention layers                */
    int32_t *video_before;     /* [n_video] the decoder layer each runs just
                                  before (an image cross-attention layer), owned */
    hd_llama_layer *vlayers;   /* [n_video], owned; cross = true, slot = index */
    float *vnorms;             /* owned F32 copies of their norms and gates    */
    /* a runtime LoRA adapter (hd_llama_lora_attach, lm/llama_lora.c), owned;
     * NULL without one */
    struct hd_llama_lora *lora;
} hd_llama_model;

/* Loads path (a .gguf file or a HF folder / config.json's folder), Llama or
 * mllama (text part).
 * Every tensor is checked for presence, shape and type; errors name the file
 * and the tensor.  Caller frees with hd_llama_free. */
hd_llama_model *hd_llama_load(const char *path, hd_error *err);
void hd_llama_free(hd_llama_model *m);                  /* NULL is a no-op */

/* ---- Granite options and LoRA adapters ----------------------------------- *
 *
 * IBM Granite (HF GraniteForCausalLM, model_type "granite"; GGUF
 * general.architecture "granite" as llama.cpp's convert_hf_to_gguf.py
 * GraniteModel writes it) is this decoder with four numbers from the config
 * (hd_llama_config: embedding_multiplier m_e, residual_multiplier m_r,
 * attention_multiplier m_a, logits_scaling s):
 *     x = m_e · embed(ids)          (rows given by the caller too: HF scales
 *                                    inputs_embeds inside GraniteModel)
 *     x = x + m_r · attention(rms_norm(x)),  scores = q·kᵀ · m_a
 *     x = x + m_r · mlp(rms_norm(x))
 *     logits = head(rms_norm(x)) / s
 * Same tensor names and layouts as Llama.  A HF granite_speech folder holds
 * the LM as language_model.model.* / language_model.lm_head.weight (tied:
 * absent); hd_llama_load reads it from there (config text_config).
 *
 * LoRA: a runtime adapter on the shared layer path (core/nn.h hd_nn_lora):
 * W·x + (alpha/r)·B·(A·x) for every adapted projection, not merged, so the
 * base weights stay mmap'd and shared and a context can run without it
 * (hd_llama_context_params.no_lora).  Published Granite Speech adapters
 * adapt q_proj and v_proj with r 64 (about 2 % extra work on those two).
 * Accepted files:
 *   - a PEFT adapter folder (or its adapter_config.json): adapter_config.json
 *     (peft_type "LORA", r, lora_alpha, target_modules; use_rslora, use_dora
 *     and bias other than "none" are refused) + adapter_model.safetensors with
 *     names [base_model.model.][language_model.]model.layers.N.{self_attn.
 *     {q,k,v,o}_proj, mlp.{gate,up,down}_proj}.lora_{A,B}.weight, PyTorch
 *     shapes A [r, in], B [out, r] — for a HF-layout model (half-split RoPE);
 *   - a llama.cpp LoRA GGUF (general.type "adapter", adapter.type "lora",
 *     adapter.lora.alpha; tensors blk.N.<name>.weight.lora_a [in, r] and
 *     .lora_b [r, out] in ggml order, Q/K lora_b rows permuted like the base
 *     rows) — for a GGUF model.  general.architecture must match the model's.
 * Attaching changes the model: do it before creating contexts. */

/* Loads the adapter at path and makes every later context of m use it
 * (unless no_lora).  Every tensor is shape-checked against m; errors name
 * the file and the tensor.  Replaces an adapter attached before. */
hd_status hd_llama_lora_attach(hd_llama_model *m, const char *path, hd_error *err);
/* Detaches and frees the adapter (no-op without one). */
void hd_llama_lora_detach(hd_llama_model *m);
bool hd_llama_has_lora(const hd_llama_model *m);
/* The adapter's scale alpha/r and rank (0, 0 without one). */
float hd_llama_lora_scale(const hd_llama_model *m);
int hd_llama_lora_rank(const hd_llama_model *m);

/* RoPE frequencies for cfg (SPEC §1.4): inv_freq[i] = θ^(−2i/d) / factor[i],
 * i < d/2, with freq_factors (a GGUF rope_freqs tensor) or, when NULL, the
 * factors of cfg's scaling (hd_llama_rope_freq_factors: the "llama3" rule,
 * all ones without scaling).  freq_factors may alias inv_freq. */
void hd_llama_rope_freqs(const hd_llama_config *cfg, const float *freq_factors, float *inv_freq);

/* ---- context ------------------------------------------------------------- */

/* Cross-attention row masking, see hd_llama_set_images below. */
typedef enum hd_xattn_mask_mode { HD_XATTN_MASK_META = 0, HD_XATTN_MASK_HF = 1 } hd_xattn_mask_mode;


typedef struct hd_llama_context_params {
    int64_t n_ctx;      /* KV cache positions; 0 = min(training context, 4096) */
    int n_batch;        /* tokens per forward pass during prefill (default 256) */
    hd_type kv_type;    /* HD_TYPE_F16 (default) or HD_TYPE_F32               */
    int n_threads;      /* ≤ 0 = one per core                                  */
    bool logits_all;    /* keep logits of every token of a batch, not just the last */
    hd_xattn_mask_mode xattn_mask;  /* cross-attention row masking (mllama), default META */
    int max_images;     /* images hd_llama_set_images may hold (≤ 0: 4; at most 64; mllama only) */
    bool no_lora;       /* run without the model's LoRA adapter (Granite Speech: text-only turns) */
    bool states_only;   /* with a hidden-state capture (below): each forward pass stops after the
                           captured layer — no later layers, no logits (hd_llama_logits is not
                           updated); for callers that want only the states (the TTS front end) */
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
/* ---- inputs that are not token ids (speech adapter, SPEC §4 step 5) ------ */

/* A token entry equal to HD_LLAMA_TOKEN_EMBD stands for one embedding row
 * supplied by the caller instead of a row of the token-embedding table. */
#define HD_LLAMA_TOKEN_EMBD (-1)

/* Like hd_llama_decode, but each entry of tokens[0..n) equal to
 * HD_LLAMA_TOKEN_EMBD takes the next row of embd ([rows][n_embd] F32,
 * row-major, rows = number of such entries) as its input embedding; the row
 * gets a normal sequence position (RoPE) like any token.  embd may be NULL
 * when no entry is HD_LLAMA_TOKEN_EMBD.  hd_llama_decode(ctx, t, n, err) is
 * hd_llama_decode_embd(ctx, t, NULL, n, err). */
hd_status hd_llama_decode_embd(hd_llama_context *ctx, const int32_t *tokens, const float *embd, int64_t n,
                               hd_error *err);

/* ---- cross-attention to images (mllama, SPEC §2.6–2.8) ------------------- */

/* How rows that see no image are treated (SPEC §2.7):
 *   META  Meta's reference: the full-text-row mask R zeroes both the
 *         cross-attention and the MLP output of such rows (default);
 *   HF    Hugging Face's released code: R only on the MLP output, so such
 *         rows get unmasked attention over all image keys on the attention
 *         branch.  For comparing outputs with transformers. */
/* (hd_xattn_mask_mode is declared above hd_llama_context_params.) */

/* One image as the cross-attention layers see it. */
typedef struct hd_llama_image {
    const float *states;   /* [n_tokens][n_embd] F32 projector output (cross_attention_states);
                              borrowed for the duration of hd_llama_set_images  */
    int64_t n_tokens;      /* max_tiles · P                                        */
    int64_t n_valid;       /* n_tiles · P: keys at index ≥ n_valid are masked       */
    int64_t pos_begin;     /* first sequence position that sees this image          */
    int64_t pos_end;       /* one past the last position; < 0 = all later positions */
} hd_llama_image;

/* Use (a prompt with <|image|> = cfg.image_token_id entries, e.g. from "herd ask"):
 *     int64_t r[8][2];
 *     int m = hd_llama_image_ranges(ids, n, cfg.image_token_id, hd_llama_n_past(ctx),
 *                                   mode, r, 8);            m must equal the images given
 *     img[i] = {states_i, max_tiles·P, n_tiles_i·P, r[i][0], r[i][1]};
 *     hd_llama_set_images(ctx, img, m, &err);
 *     hd_llama_decode(ctx, ids, n, &err);  ...  (or hd_generate)
 * Memory: 2 · n_xattn · G · d · Σ n_tokens keys/values of kv_type (11B, one
 * image of 4 × 1601 tokens, F16: 210 MB) plus an F32 mask of n_batch × Σ n_tokens. */

/* True when the model has cross-attention layers (an mllama text model). */
bool hd_llama_has_cross_attention(const hd_llama_model *m);

/* Computes K = k_norm(states·W_kᵀ) and V = states·W_vᵀ of every image for
 * every cross-attention layer once and keeps them in the context (SPEC §2.8),
 * replacing earlier images.  Later decodes apply the cross layers to each
 * position with the additive mask and R built from the images' position
 * ranges and n_valid.  With no images (n = 0, or never called) the cross
 * layers are skipped entirely (SPEC §2.8a step 8).  HD_ERR_ARG for a model
 * without cross-attention layers or inconsistent sizes. */
hd_status hd_llama_set_images(hd_llama_context *ctx, const hd_llama_image *images, int n, hd_error *err);
void hd_llama_clear_images(hd_llama_context *ctx);

/* Meta's create_vision_mask / HF's get_cross_attention_token_mask (SPEC §2.7)
 * for a prompt tokens[0..n) whose first token sits at position pos0: fills
 * ranges[i] = {begin, end} for the i-th occurrence of image_token (begin =
 * its position; end one past the last position that sees it, or -1 for "all
 * later positions").  Consecutive image tokens are all visible to the text
 * after the group.  The last image's range is open (-1) with one image, and
 * with several images: META ends it at the prompt end (generated tokens see
 * no image), HF leaves open every range the last prompt token is in.
 * Returns the number of image tokens found (may exceed max_ranges: only the
 * first max_ranges are written). */
int hd_llama_image_ranges(const int32_t *tokens, int64_t n, int32_t image_token, int64_t pos0,
                          hd_xattn_mask_mode mode, int64_t (*ranges)[2], int max_ranges);

/* ---- video cross-attention (the paper's video path, SPEC §3) ------------- */

/* A video model is an mllama GGUF with, next to the image model, the temporal
 * aggregator of vision/video_aggregator.h (video_aggregator.* keys, vagg.*
 * tensors) and a second set of gated cross-attention layers that attend to
 * the aggregated video tokens ("video cross-attention layers are added before
 * every fourth image cross-attention layer", SPEC §3).  The paper gives no
 * more; herd's choices, stored in the file:
 *
 *   mllama.video.cross_attention_layers  INT32 array, ascending: video layer v
 *       runs immediately before decoder layer video_before[v], which must be an
 *       image cross-attention layer (the paper's 8B: image cross layers j = 3
 *       and 7 of 8, decoder layers 18 and 38 → 2 video layers).
 *   vblk.V.*  the tensors of an image cross-attention layer under the same
 *       names (SPEC §2.6, shapes as above): attn_norm.weight [D],
 *       cross_attn_{q,k,v,o}_proj.weight, cross_attn_{q,k}_norm.weight [d],
 *       cross_attn_attn_gate [1], cross_attn_mlp_gate [1], ffn_norm.weight [D],
 *       ffn_{gate,up,down}.weight.  The keys/values come from the video tokens
 *       (width D: the aggregator's output is projected to the LM width).
 *   The same block as an image cross layer: RMSNorm, q/k norms per head, no
 *   RoPE, GQA, tanh gates on both branches, the full-text-row mask R.
 *   Which positions see the video: a range like one image's (the prompt's
 *   single <|image|> placeholder stands for the whole video, no video token is
 *   known; herd caption puts it first in the user turn), every video token
 *   valid.  Rows outside the range: Meta mode multiplies both branches by
 *   R = 0 (the layer adds nothing), HF mode only the MLP branch, as for images
 *   (hd_llama_context_params.xattn_mask).  With no video set the video layers
 *   are skipped, so a video model without a video is its image model. */

/* The video as the video cross-attention layers see it. */
typedef struct hd_llama_video {
    const float *states;   /* [n_tokens][n_embd] F32: the aggregated effective frames one after
                              the other (n_latent tokens each); borrowed for the call */
    int64_t n_tokens;
    int64_t pos_begin;     /* first position that sees the video                    */
    int64_t pos_end;       /* one past the last; < 0 = all later positions          */
} hd_llama_video;

/* True when the model has video cross-attention layers. */
bool hd_llama_has_video_layers(const hd_llama_model *m);

/* Computes the video keys/values for every video layer once (as
 * hd_llama_set_images does for images) and keeps them in the context,
 * replacing an earlier video; v NULL clears it.  HD_ERR_ARG for a model
 * without video layers or bad sizes.  Memory: 2 · n_video · G · d · n_tokens
 * of kv_type plus an F32 R row per batch position. */
hd_status hd_llama_set_video(hd_llama_context *ctx, const hd_llama_video *v, hd_error *err);
void hd_llama_clear_video(hd_llama_context *ctx);

/* ---- hidden states of one layer (the TTS front end, SPEC §5) ----------- */

/* The residual stream after the first `layer` decoder layers (HF's
 * output_hidden_states[layer]: 0 = the input embeddings, n_layer = the last
 * layer's output before the final RMSNorm) of the positions of one forward
 * batch: states [n][dim] F32 row-major, row i = position pos0 + i; owned by
 * the context, valid only during the call.  Called from the decoding thread
 * once per forward batch (hd_llama_decode runs n tokens in batches of
 * n_batch).  If a later batch of the same decode fails, the cache is rolled
 * back (positions are reused) although earlier batches were reported. */
typedef void (*hd_llama_hidden_fn)(void *user, int64_t pos0, int64_t n, int64_t dim, const float *states);

/* Installs (fn != NULL) or removes (fn == NULL) the capture; layer in
 * 0..n_layer, else HD_ERR_ARG.  No copy, no allocation: the callback sees the
 * activations in place; without a capture the forward pass does not change. */
hd_status hd_llama_set_hidden_capture(hd_llama_context *ctx, int layer, hd_llama_hidden_fn fn, void *user,
                                      hd_error *err);

/* High-water marks of the arenas (bytes), for tuning and tests. */
size_t hd_llama_arena_used(const hd_llama_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
