/* lm/llama_internal.h — the context of lm/llama.h as lm/llama.c (self
 * layers, loop) and lm/llama_xattn.c (images, cross-attention layers) share
 * it.  Not a public header. */
#ifndef HD_LLAMA_INTERNAL_H
#define HD_LLAMA_INTERNAL_H

#include "core/arena.h"
#include "core/exec.h"
#include "core/threadpool.h"
#include "lm/llama.h"

/* One image held by the context (SPEC §2.7): its keys are rows
 * [off, off + n_tokens) of every cross layer's K/V. */
typedef struct hd_llama_image_slot {
    int64_t off, n_tokens, n_valid;
    int64_t pos_begin, pos_end;   /* pos_end < 0: open */
} hd_llama_image_slot;

struct hd_llama_context {
    const hd_llama_model *model;
    hd_llama_context_params p;
    hd_kv_cache *kv;      /* self-attention layers only (model->n_self) */
    hd_threadpool *pool;
    hd_arena *act;        /* activations of one forward pass, reset per batch */
    hd_arena *scratch;    /* per-op temporaries (quantized activations, scores) */
    hd_exec ex;
    int32_t *pos;         /* [n_batch] positions of the current batch */
    int32_t *ids;         /* [n_batch] table rows of the current batch (embedding entries → 0) */
    float *logits;        /* [n_out][V] */
    int64_t n_out_max;
    int64_t n_logits;     /* rows valid in logits */

    /* images for the cross-attention layers (mllama; lm/llama_xattn.c) */
    int n_images;
    hd_llama_image_slot *images;   /* [max_images] */
    int64_t n_img_tokens;          /* T = Σ n_tokens of the images held */
    void *xkv;                     /* K then V of every cross layer: 2·n_xattn × [T][G][d] kv_type */
    size_t xkv_bytes;              /* capacity of xkv */
    hd_tensor *xk, *xv;            /* [n_xattn] views ne={d, G, T} */
    float *xmask;                  /* [n_batch][T] additive mask of the current batch */
    size_t xmask_cap;              /* floats */
    float *xrow;                   /* [n_batch] R of the current batch (1 = row sees an image) */
    bool xrow_any;                 /* some row of the batch sees an image */

    /* hidden-state capture (hd_llama_set_hidden_capture): after cap_layer layers */
    hd_llama_hidden_fn cap_fn;     /* NULL: none */
    void *cap_user;
    int cap_layer;

    /* the video for the video cross-attention layers (lm/llama_video.c) */
    bool has_video;
    int64_t n_vid_tokens;          /* T_v */
    int64_t vid_begin, vid_end;    /* positions that see it (end < 0: open) */
    void *vkv;                     /* K then V of every video layer: 2·n_video × [T_v][G][d] kv_type */
    size_t vkv_bytes;
    hd_tensor *vk, *vv;            /* [n_video] views ne={d, G, T_v} */
    float *vrow;                   /* [n_batch] R of the current batch for the video */
};

/* Before the layers of a batch at positions ctx->pos[0..S): builds the mask
 * and R rows of the images held.  Returns false when the cross layers are
 * to be skipped for this batch (no images; META with no row seeing one). */
bool hd_llama_xattn_prepare(hd_llama_context *ctx, int64_t S);

/* One gated cross-attention layer on x ne={D, S} (after prepare returned true). */
hd_status hd_llama_xattn_layer(hd_llama_context *ctx, const hd_llama_layer *L, hd_tensor *x, hd_error *err);

/* Frees the image storage (context teardown). */
void hd_llama_xattn_free(hd_llama_context *ctx);

/* lm/llama_video.c: reads the video layers of a GGUF mllama model (none when
 * the file has no mllama.video.cross_attention_layers key); frees them. */
hd_status hd_llama_video_load(hd_llama_model *m, hd_error *err);
void hd_llama_video_unload(hd_llama_model *m);
/* Context side: the per-batch R rows (create), teardown (free). */
hd_status hd_llama_video_context_init(hd_llama_context *ctx, hd_error *err);
void hd_llama_video_free(hd_llama_context *ctx);
/* Before the layers of a batch: R of the video rows; false when the video
 * layers are to be skipped (no video; META with no row seeing it). */
bool hd_llama_video_prepare(hd_llama_context *ctx, int64_t S);
/* Video layer v on x ne={D, S} (after prepare returned true). */
hd_status hd_llama_video_layer(hd_llama_context *ctx, int v, hd_tensor *x, hd_error *err);

#endif
