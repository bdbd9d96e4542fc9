/* graph/vision_lm.h — the steps between a picture and a Llama 3.2 Vision
 * answer, shared by the `vit` and `llama` nodes and by `herd chat` (one code
 * path for image encoding, the <|image|> prompt and hd_llama_set_images).
 *
 *   1. hd_vlm_encode_image   RGB picture → mllama preprocessing (vision/
 *                            preprocess.h, constants from the encoder's
 *                            config) → encoder + projector (vision/vit.h) →
 *                            one HD_EMBED_IMAGE packet: rows = max_tiles·P,
 *                            dim = D (the LM width), valid_rows = n_tiles·P;
 *   2. hd_vlm_user_turn      the chat-format tokens of a user turn whose
 *                            content is n images then the text (HF's
 *                            Llama 3.2 Vision template and Meta's ChatFormat:
 *                            <|image|>… then the stripped text), then the
 *                            assistant header;
 *   3. hd_vlm_set_images     the images' position ranges from the <|image|>
 *                            tokens of the whole token sequence (lm/llama.h
 *                            hd_llama_image_ranges) handed to
 *                            hd_llama_set_images.
 */
#ifndef HD_GRAPH_VISION_LM_H
#define HD_GRAPH_VISION_LM_H

#include "models.h"
#include "packet.h"

#include "core/threadpool.h"
#include "lm/chat.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "media/image.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Step 1 with the encoder of `vit` (an HD_MODEL_VIT cache entry, locked for
 * the encode) on `pool` (borrowed, may be NULL).  Returns a new packet (one
 * reference, caller's) or NULL with err set. */
hd_packet *hd_vlm_encode_image(hd_model *vit, hd_threadpool *pool, const hd_image *img, hd_error *err);

/* An image packet's pixels as an RGB hd_image (grey replicated, RGBA
 * composited onto white as media/image.h does).  Caller frees with
 * hd_image_free.  HD_ERR_UNSUPPORTED for float pixels. */
hd_image *hd_vlm_packet_rgb(const hd_packet *p, hd_error *err);

/* The id the model reads as <|image|>: the tokenizer's own when it is an
 * appended id (HF Llama-3.2-Vision: 128256); else, when the model's
 * embedding table has rows past the tokenizer's ids, the first of them (HF
 * layout: learnable row 0 = 128256); else the tokenizer's (Meta naming:
 * 128011); -1 if there is none. */
int32_t hd_vlm_image_token(const hd_tokenizer *tok, const hd_llama_model *m);

/* Step 2: appends to out [<|begin_of_text|> if bos] [the system message if
 * system is non-NULL and non-empty] then
 *   <|start_header_id|>user<|end_header_id|>\n\n <|image|>×n_images TEXT <|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n
 * TEXT = text stripped of surrounding whitespace, special-token names kept
 * as plain text.  HD_ERR_ARG if n_images > 0 and image_token < 0. */
hd_status hd_vlm_user_turn(const hd_tokenizer *tok, bool bos, const char *system, int32_t image_token,
                           int n_images, const char *text, hd_tokens *out, hd_error *err);

/* Step 3: tokens[0..n) is everything the context holds or will hold from
 * position 0; images[i] (HD_EMBED_IMAGE packets, borrowed for the call)
 * belongs to the i-th <|image|> in it.  HD_ERR_ARG when the counts differ
 * or the widths do not match the model; HD_ERR_UNSUPPORTED for a model
 * without cross-attention layers.  n_images 0 clears the images. */
hd_status hd_vlm_set_images(hd_llama_context *ctx, const int32_t *tokens, int64_t n, int32_t image_token,
                            hd_packet *const *images, int n_images, hd_xattn_mask_mode mode, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
