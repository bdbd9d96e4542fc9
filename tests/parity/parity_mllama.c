/* tests/parity/parity_mllama.c — runner for tests/parity/mllama_ref.py: a whole Llama 3.2
 * Vision checkpoint end to end, photo file in, logits out:
 *
 *   image file ──hd_image_load──► hd_mllama_preprocess ──► hd_vit_encode (vision tower +
 *   projector) ──► hd_llama_set_images (ranges from hd_llama_image_ranges) ──► hd_llama_decode
 *
 * The vision tower and the text decoder are loaded from the same checkpoint (a HF
 * MllamaForConditionalGeneration folder or one mllama GGUF).
 *
 * Inputs: ids I32 [S] (the prompt, <|image|> = image_token where the images go).
 * Meta: model, images (image paths joined by '|', in prompt order), mode "meta" | "hf",
 * n_batch, n_gen, kv "f32" | "f16".
 * Outputs: projected [M, T·P, D] (each image's cross_attention_states), logits [S, V] of
 * every prompt position (prefilled in batches of n_batch), gen [n_gen] the greedy tokens
 * and gen_logits [n_gen, V] the logits after each. */
#include "runner_io.h"

#include "core/safetensors.h"
#include "lm/llama.h"
#include "media/image.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGES 4

static int32_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return (int32_t)b;
}

/* Splits s at '|' into at most MAX_IMAGES paths (s is modified). */
static int split_paths(char *s, char **out) {
    int n = 0;
    for (char *p = s; p && *p && n < MAX_IMAGES + 1; n++) {
        out[n < MAX_IMAGES ? n : MAX_IMAGES - 1] = p;
        char *bar = strchr(p, '|');
        if (bar) *bar = '\0';
        p = bar ? bar + 1 : NULL;
    }
    return n;
}

/* One photo: decoded by herd, tiled for the tower, encoded and projected into
 * dst [T·P][D]; *n_tiles gets its valid tile count. */
static hd_status encode_image(hd_vit *v, hd_exec *ex, const char *path, float *dst, int *n_tiles, hd_error *err) {
    const hd_vit_config *c = hd_vit_get_config(v);
    hd_image *img = hd_image_load(path, NULL, err);
    if (!img) return err->code;
    hd_mllama_preproc_params pp = hd_mllama_preproc_default(c->image_size);
    pp.max_tiles = c->max_tiles;
    hd_mllama_tiles t;
    hd_status st = hd_mllama_preprocess(img, &pp, &t, err);
    hd_image_free(img);
    if (st) return st;
    st = hd_vit_encode(v, ex, t.pixels, t.aspect_ratio_id, t.n_tiles, NULL, dst, err);
    *n_tiles = t.n_tiles;
    hd_mllama_tiles_free(&t);
    return st;
}

static hd_status run_case(hd_llama_context *ctx, pr_io *io, const int32_t *ids, int64_t S, int64_t n_gen,
                          int64_t n_batch, hd_error *err) {
    const int64_t V = hd_llama_context_model(ctx)->cfg.n_vocab;
    const int64_t ne_l[2] = {V, S};
    hd_tensor logits = pr_output(io, "logits", 2, ne_l);
    if (!logits.data) return HD_OK;   /* pr_main reports the missing memory */
    hd_status st;
    for (int64_t off = 0; off < S; off += n_batch) {
        const int64_t n = S - off < n_batch ? S - off : n_batch;
        if ((st = hd_llama_decode(ctx, ids + off, n, err))) return st;
        if (hd_llama_n_logits(ctx) != n)
            return hd_error_set(err, HD_ERR_INTERNAL, "%lld logits rows, expected %lld",
                                (long long)hd_llama_n_logits(ctx), (long long)n);
        memcpy((float *)logits.data + off * V, hd_llama_logits(ctx), (size_t)(n * V) * sizeof(float));
    }
    if (n_gen <= 0) return HD_OK;
    const int64_t ne_g[1] = {n_gen}, ne_gl[2] = {V, n_gen};
    hd_tensor gen = pr_output(io, "gen", 1, ne_g), gl = pr_output(io, "gen_logits", 2, ne_gl);
    if (!gen.data || !gl.data) return HD_OK;
    const float *last = (const float *)logits.data + (S - 1) * V;
    for (int64_t g = 0; g < n_gen; g++) {
        int32_t t = argmax(last, V);
        ((float *)gen.data)[g] = (float)t;
        if ((st = hd_llama_decode(ctx, &t, 1, err))) return st;
        last = hd_llama_logits(ctx);
        memcpy((float *)gl.data + g * V, last, (size_t)V * sizeof(float));
    }
    return HD_OK;
}

static hd_status run_mllama(pr_io *io, hd_error *err) {
    const char *model = pr_meta_str(io, "model", NULL);
    const char *mode = pr_meta_str(io, "mode", "meta");
    const char *kv = pr_meta_str(io, "kv", "f32");
    const char *images = pr_meta_str(io, "images", "");
    if (!model) return hd_error_set(err, HD_ERR_ARG, "no \"model\" in the metadata");
    if (strcmp(mode, "meta") && strcmp(mode, "hf")) return hd_error_set(err, HD_ERR_ARG, "mode %s", mode);
    int64_t n_batch, n_gen;
    hd_status st;
    if ((st = pr_meta_i64(io, "n_batch", 16, &n_batch, err)) || (st = pr_meta_i64(io, "n_gen", 0, &n_gen, err)))
        return st;
    const int32_t *ids;
    int64_t S;
    if ((st = pr_input_i32(io, "ids", &ids, &S, err))) return st;
    char paths_buf[4096];
    snprintf(paths_buf, sizeof paths_buf, "%s", images);
    char *paths[MAX_IMAGES];
    const int M = split_paths(paths_buf, paths);
    if (M > MAX_IMAGES) return hd_error_set(err, HD_ERR_ARG, "more than %d images", MAX_IMAGES);

    hd_vit *v = NULL;
    hd_llama_model *m = NULL;
    hd_llama_context *ctx = NULL;
    if (!(v = hd_vit_load(model, err)) || !(m = hd_llama_load(model, err))) {
        st = err->code;
        goto out;
    }
    if (!hd_llama_has_cross_attention(m)) {
        st = hd_error_set(err, HD_ERR_ARG, "%s: no cross-attention layers", model);
        goto out;
    }
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = S + n_gen + 8;
    cp.n_batch = (int)n_batch;
    cp.kv_type = strcmp(kv, "f16") == 0 ? HD_TYPE_F16 : HD_TYPE_F32;
    cp.logits_all = true;
    cp.xattn_mask = strcmp(mode, "hf") == 0 ? HD_XATTN_MASK_HF : HD_XATTN_MASK_META;
    cp.max_images = MAX_IMAGES;
    const char *th = getenv("HERD_THREADS");
    cp.n_threads = th ? atoi(th) : 1;
    if (!(ctx = hd_llama_context_create(m, &cp, err))) {
        st = err->code;
        goto out;
    }
    if (M > 0) {
        const hd_vit_config *vc = hd_vit_get_config(v);
        const int64_t TP = (int64_t)vc->max_tiles * vc->n_pos, D = m->cfg.n_embd;
        const int64_t ne_p[3] = {D, TP, M};
        hd_tensor proj = pr_output(io, "projected", 3, ne_p);
        if (!proj.data) goto out;
        int64_t ranges[MAX_IMAGES][2];
        const int found = hd_llama_image_ranges(ids, S, m->cfg.image_token_id, 0, cp.xattn_mask, ranges, MAX_IMAGES);
        if (found != M) {
            st = hd_error_set(err, HD_ERR_ARG, "%d images, %d image tokens in the prompt", M, found);
            goto out;
        }
        hd_llama_image img[MAX_IMAGES];
        for (int i = 0; i < M; i++) {
            float *dst = (float *)proj.data + (int64_t)i * TP * D;
            int n_tiles = 0;
            if ((st = encode_image(v, pr_exec(io), paths[i], dst, &n_tiles, err))) goto out;
            img[i] = (hd_llama_image){.states = dst, .n_tokens = TP, .n_valid = (int64_t)n_tiles * vc->n_pos,
                                      .pos_begin = ranges[i][0], .pos_end = ranges[i][1]};
        }
        if ((st = hd_llama_set_images(ctx, img, M, err))) goto out;
    }
    st = run_case(ctx, io, ids, S, n_gen, n_batch, err);
out:
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    hd_vit_free(v);
    return st;
}

int main(int argc, char **argv) {
    /* every case of the suite runs the same function; the metadata describe it */
    char name[256] = "";
    if (argc >= 2) {
        hd_error err = {0};
        hd_safetensors *st = hd_safetensors_open(argv[1], &err);
        for (int64_t i = 0; st && i < hd_safetensors_n_meta(st); i++) {
            const char *k, *val;
            if (hd_safetensors_meta(st, i, &k, &val) && strcmp(k, "case") == 0) snprintf(name, sizeof name, "%s", val);
        }
        hd_safetensors_close(st);
    }
    const pr_case cases[] = {{name, run_mllama}, {NULL, NULL}};
    return pr_main(argc, argv, cases);
}
