/* tests/parity/parity_mllama_text.c — runner for tests/parity/mllama_text_ref.py: the
 * mllama text decoder (lm/llama.h) on a prompt with <|image|> tokens and random
 * cross-attention states.
 *
 * Inputs: ids I32 [S]; states F32 [M, n_tokens, D] and n_tiles I32 [M] (absent: text
 * only).  Meta: model (HF folder or GGUF), mode "meta" | "hf", n_batch, n_gen,
 * image_token, tile_tokens (P), kv "f32" | "f16" (cache type).
 * Outputs: logits [S, V] of every prompt position (prefilled in batches of n_batch);
 * gen [n_gen] the greedy tokens and gen_logits [n_gen, V] the logits after each. */
#include "runner_io.h"

#include "core/safetensors.h"
#include "lm/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGES 8

static int32_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return (int32_t)b;
}

static hd_status run_case(hd_llama_context *ctx, pr_io *io, const int32_t *ids, int64_t S, int64_t n_gen,
                          int64_t n_batch, hd_error *err) {
    const int64_t V = hd_llama_context_model(ctx)->cfg.n_vocab;
    const int64_t ne_l[2] = {V, S};
    hd_tensor logits = pr_output(io, "logits", 2, ne_l);
    if (!logits.data) return HD_OK;   /* pr_main reports the missing memory */
    hd_status st;
    /* prefill in batches, keeping every position's logits */
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
    if (!model) return hd_error_set(err, HD_ERR_ARG, "no \"model\" in the metadata");
    if (strcmp(mode, "meta") && strcmp(mode, "hf")) return hd_error_set(err, HD_ERR_ARG, "mode %s", mode);
    int64_t n_batch, n_gen, image_token, P;
    hd_status st;
    if ((st = pr_meta_i64(io, "n_batch", 16, &n_batch, err)) || (st = pr_meta_i64(io, "n_gen", 0, &n_gen, err)) ||
        (st = pr_meta_i64(io, "image_token", 128256, &image_token, err)) ||
        (st = pr_meta_i64(io, "tile_tokens", 1601, &P, err)))
        return st;
    const int32_t *ids;
    int64_t S;
    if ((st = pr_input_i32(io, "ids", &ids, &S, err))) return st;

    hd_llama_model *m = hd_llama_load(model, err);
    if (!m) return err->code;
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = S + n_gen + 8;
    cp.n_batch = (int)n_batch;
    cp.kv_type = strcmp(kv, "f16") == 0 ? HD_TYPE_F16 : HD_TYPE_F32;   /* self and image K/V */
    cp.logits_all = true;
    cp.xattn_mask = strcmp(mode, "hf") == 0 ? HD_XATTN_MASK_HF : HD_XATTN_MASK_META;
    cp.max_images = MAX_IMAGES;
    const char *th = getenv("HERD_THREADS");
    cp.n_threads = th ? atoi(th) : 1;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, err);
    if (!ctx) {
        hd_llama_free(m);
        return err->code;
    }

    if (pr_has_input(io, "states")) {
        /* the images' position ranges from the prompt (SPEC §2.7), their states and valid tokens */
        hd_tensor states;
        const int32_t *tiles;
        int64_t M;
        int64_t ranges[MAX_IMAGES][2];
        if ((st = pr_input(io, "states", HD_TYPE_F32, &states, err)) ||
            (st = pr_input_i32(io, "n_tiles", &tiles, &M, err)))
            goto out;
        const int found = hd_llama_image_ranges(ids, S, (int32_t)image_token, 0, cp.xattn_mask, ranges, MAX_IMAGES);
        if (M < 1 || M > MAX_IMAGES || found != M || states.ne[2] != M || states.ne[0] != m->cfg.n_embd) {
            st = hd_error_set(err, HD_ERR_ARG, "%lld images of states, %d image tokens in the prompt", (long long)M,
                              found);
            goto out;
        }
        hd_llama_image img[MAX_IMAGES];
        for (int64_t i = 0; i < M; i++)
            img[i] = (hd_llama_image){.states = (const float *)states.data + i * states.ne[0] * states.ne[1],
                                      .n_tokens = states.ne[1], .n_valid = tiles[i] * P,
                                      .pos_begin = ranges[i][0], .pos_end = ranges[i][1]};
        if ((st = hd_llama_set_images(ctx, img, (int)M, err))) goto out;
    }
    st = run_case(ctx, io, ids, S, n_gen, n_batch, err);
out:
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    return st;
}

int main(int argc, char **argv) {
    static const pr_case cases[] = {{"mllama", run_mllama}, {NULL, NULL}};
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
    /* every case of the suite runs the same function; the metadata describes it */
    const pr_case named[] = {{name, cases[0].run}, {NULL, NULL}};
    return pr_main(argc, argv, named);
}
