/* graph/vision_lm.c — picture → image states → <|image|> prompt → set_images. */
#include "vision_lm.h"

#include "core/exec.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

#include <stdlib.h>
#include <string.h>

hd_image *hd_vlm_packet_rgb(const hd_packet *p, hd_error *err) {
    if (!p || p->kind != HD_PKT_IMAGE) {
        hd_error_set(err, HD_ERR_ARG, "not an image packet");
        return NULL;
    }
    const int w = p->u.image.width, h = p->u.image.height;
    const hd_pixfmt f = p->u.image.format;
    if (f == HD_PIX_RGB_F32 || hd_pixfmt_channels(f) == 0) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "%dx%d picture with float pixels: the vision encoder takes 8-bit pictures",
                     w, h);
        return NULL;
    }
    hd_image *im = calloc(1, sizeof *im);
    if (im) im->data = malloc((size_t)w * (size_t)h * 3);
    if (!im || !im->data) {
        free(im);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for a %dx%d picture", w, h);
        return NULL;
    }
    im->w = w;
    im->h = h;
    const size_t px = hd_pixfmt_bytes(f);
    for (int y = 0; y < h; y++) {
        const uint8_t *s = p->u.image.data + (size_t)y * p->u.image.stride;
        uint8_t *d = im->data + (size_t)y * w * 3;
        for (int x = 0; x < w; x++, s += px, d += 3) {
            switch (f) {
            case HD_PIX_GRAY8: d[0] = d[1] = d[2] = s[0]; break;
            case HD_PIX_RGB8: memcpy(d, s, 3); break;
            case HD_PIX_RGBA8:   /* onto white, as media/image.h composites */
                for (int c = 0; c < 3; c++) d[c] = (uint8_t)((s[3] * s[c] + (255 - s[3]) * 255 + 127) / 255);
                break;
            default: break;
            }
        }
    }
    return im;
}

hd_packet *hd_vlm_encode_image(hd_model *vit, hd_threadpool *pool, const hd_image *img, hd_error *err) {
    hd_vit *v = hd_model_vit(vit);
    if (!v) {
        hd_error_set(err, HD_ERR_ARG, "not a vision encoder");
        return NULL;
    }
    const hd_vit_config *c = hd_vit_get_config(v);
    hd_mllama_preproc_params pp = hd_mllama_preproc_default(c->image_size);
    pp.max_tiles = c->max_tiles;
    hd_mllama_tiles tiles = {0};
    if (hd_mllama_preprocess(img, &pp, &tiles, err)) return NULL;
    const int64_t P = c->n_pos;
    hd_packet *out = hd_packet_embed_new((int64_t)c->max_tiles * P, c->proj_dim, err);   /* [max_tiles·P, D] */
    if (!out) {
        hd_mllama_tiles_free(&tiles);
        return NULL;
    }
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = pool, .scratch = NULL};
    hd_model_lock(vit);
    hd_status st = hd_vit_encode(v, &ex, tiles.pixels, tiles.aspect_ratio_id, tiles.n_tiles, NULL, out->u.embed.data, err);
    hd_model_unlock(vit);
    if (st) {
        hd_mllama_tiles_free(&tiles);
        hd_packet_unref(out);
        return NULL;
    }
    out->u.embed.what = HD_EMBED_IMAGE;
    out->u.embed.valid_rows = (int64_t)tiles.n_tiles * P;
    out->u.embed.n_tiles = tiles.n_tiles;
    out->u.embed.max_tiles = c->max_tiles;
    hd_mllama_tiles_free(&tiles);
    return out;
}

int32_t hd_vlm_image_token(const hd_tokenizer *tok, const hd_llama_model *m) {
    const int32_t id = hd_tokenizer_find_special(tok, "<|image|>");
    const int32_t nv = hd_tokenizer_n_vocab(tok);
    const int32_t base = hd_tokenizer_bos(tok) >= 0 ? hd_tokenizer_bos(tok) + 256 : nv;   /* 128256 */
    if (id >= base) return id;                                    /* HF: an appended id */
    if (m && m->tok_embd.ne[1] > (int64_t)nv) return nv;          /* learnable rows after the vocabulary */
    return id;
}

/* Python str.strip() for ASCII whitespace. */
static void strip(const char *s, const char **b, size_t *n) {
    const char *e = s + strlen(s);
    while (*s && strchr(" \t\n\r\v\f", *s)) s++;
    while (e > s && strchr(" \t\n\r\v\f", e[-1])) e--;
    *b = s;
    *n = (size_t)(e - s);
}

hd_status hd_vlm_user_turn(const hd_tokenizer *tok, bool bos, const char *system, int32_t image_token,
                           int n_images, const char *text, hd_tokens *out, hd_error *err) {
    if (n_images > 0 && image_token < 0)
        return hd_error_set(err, HD_ERR_ARG, "the tokenizer has no <|image|> token");
    hd_status st;
    if (bos) {
        const int32_t b = hd_tokenizer_bos(tok);
        if (b < 0) return hd_error_set(err, HD_ERR_UNSUPPORTED, "the tokenizer has no <|begin_of_text|>");
        if ((st = hd_tokens_push(out, &b, 1, err))) return st;
    }
    if (system && *system) {
        hd_chat_message m = {HD_CHAT_SYSTEM, system};
        if ((st = hd_chat_encode_message(tok, &m, out, err))) return st;
    }
    if ((st = hd_chat_encode_header(tok, HD_CHAT_USER, out, err))) return st;
    for (int i = 0; i < n_images; i++)
        if ((st = hd_tokens_push(out, &image_token, 1, err))) return st;
    const char *b;
    size_t n;
    strip(text ? text : "", &b, &n);
    if (n) {
        int32_t *ids = malloc((n + 2) * sizeof *ids);
        if (!ids) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        size_t got = 0;
        st = hd_tokenizer_encode(tok, b, n, 0, ids, n + 2, &got, err);
        if (!st) st = hd_tokens_push(out, ids, got, err);
        free(ids);
        if (st) return st;
    }
    const int32_t eot = hd_tokenizer_eot(tok);
    if (eot < 0) return hd_error_set(err, HD_ERR_UNSUPPORTED, "the tokenizer has no <|eot_id|>: not a Llama 3 chat vocabulary");
    if ((st = hd_tokens_push(out, &eot, 1, err))) return st;
    return hd_chat_encode_header(tok, HD_CHAT_ASSISTANT, out, err);
}

hd_status hd_vlm_set_images(hd_llama_context *ctx, const int32_t *tokens, int64_t n, int32_t image_token,
                            hd_packet *const *images, int n_images, hd_xattn_mask_mode mode, hd_error *err) {
    const hd_llama_model *m = hd_llama_context_model(ctx);
    if (n_images == 0) {
        hd_llama_clear_images(ctx);
        return HD_OK;
    }
    if (!hd_llama_has_cross_attention(m))
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "%s has no cross-attention layers: not a Llama 3.2 Vision model, it cannot see images",
                            m->source ? m->source : "the language model");
    int64_t (*ranges)[2] = malloc((size_t)n_images * sizeof *ranges);
    hd_llama_image *im = malloc((size_t)n_images * sizeof *im);
    hd_status st = HD_OK;
    if (!ranges || !im) {
        st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        goto out;
    }
    int found = hd_llama_image_ranges(tokens, n, image_token, 0, mode, ranges, n_images);
    if (found != n_images) {
        st = hd_error_set(err, HD_ERR_ARG, "the prompt has %d <|image|> token%s for %d image%s", found,
                          found == 1 ? "" : "s", n_images, n_images == 1 ? "" : "s");
        goto out;
    }
    for (int i = 0; i < n_images; i++) {
        const hd_packet *p = images[i];
        if (p->kind != HD_PKT_EMBED || p->u.embed.what != HD_EMBED_IMAGE) {
            st = hd_error_set(err, HD_ERR_ARG, "image %d: not image states from a vision encoder", i + 1);
            goto out;
        }
        if (p->u.embed.dim != m->cfg.n_embd) {
            st = hd_error_set(err, HD_ERR_ARG,
                              "image %d: the vision encoder projects to width %lld but the language model is %d wide "
                              "(vision and language model do not belong together)",
                              i + 1, (long long)p->u.embed.dim, m->cfg.n_embd);
            goto out;
        }
        im[i] = (hd_llama_image){
            .states = p->u.embed.data,
            .n_tokens = p->u.embed.rows,
            .n_valid = p->u.embed.valid_rows,
            .pos_begin = ranges[i][0],
            .pos_end = ranges[i][1],
        };
    }
    st = hd_llama_set_images(ctx, im, n_images, err);
out:
    free(ranges);
    free(im);
    return st;
}
