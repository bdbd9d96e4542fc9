/* tests/parity/parity_mllama_video.c — runner for tests/parity/mllama_video_ref.py: an
 * mllama text decoder with video cross-attention layers (lm/llama_video.c) on a prompt
 * with one <|image|> placeholder standing for the video and random video tokens.
 *
 * Inputs: ids I32 [S]; video F32 [T_v, D] (absent: no video set).  Meta: model (GGUF),
 * mode "meta" | "hf", n_batch, n_gen, image_token, kv "f32" | "f16" (cache type).
 * The video is seen from the placeholder's position on (open-ended).
 * Outputs: logits [S, V] of every prompt position (prefilled in batches of n_batch);
 * gen [n_gen] the greedy tokens and gen_logits [n_gen, V] the logits after each. */
#include "runner_io.h"

#include "core/safetensors.h"
#include "lm/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static hd_status run_video(pr_io *io, hd_error *err) {
    const char *model = pr_meta_str(io, "model", NULL);
    const char *mode = pr_meta_str(io, "mode", "meta");
    const char *kv = pr_meta_str(io, "kv", "f32");
    if (!model || !model[0]) return hd_error_set(err, HD_ERR_ARG, "no \"model\" in the metadata (set VIDEO_MODEL)");
    if (strcmp(mode, "meta") && strcmp(mode, "hf")) return hd_error_set(err, HD_ERR_ARG, "mode %s", mode);
    int64_t n_batch, n_gen, image_token;
    hd_status st;
    if ((st = pr_meta_i64(io, "n_batch", 16, &n_batch, err)) || (st = pr_meta_i64(io, "n_gen", 0, &n_gen, err)) ||
        (st = pr_meta_i64(io, "image_token", 128256, &image_token, err)))
        return st;
    const int32_t *ids;
    int64_t S;
    if ((st = pr_input_i32(io, "ids", &ids, &S, err))) return st;

    hd_llama_model *m = hd_llama_load(model, err);
    if (!m) return err->code;
    if (!hd_llama_has_video_layers(m)) {
        hd_llama_free(m);
        return hd_error_set(err, HD_ERR_ARG, "%s has no video layers", model);
    }
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = S + n_gen + 8;
    cp.n_batch = (int)n_batch;
    cp.kv_type = strcmp(kv, "f16") == 0 ? HD_TYPE_F16 : HD_TYPE_F32;   /* self and video K/V */
    cp.logits_all = true;
    cp.xattn_mask = strcmp(mode, "hf") == 0 ? HD_XATTN_MASK_HF : HD_XATTN_MASK_META;
    const char *th = getenv("HERD_THREADS");
    cp.n_threads = th ? atoi(th) : 1;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, err);
    if (!ctx) {
        hd_llama_free(m);
        return err->code;
    }
    if (pr_has_input(io, "video")) {
        hd_tensor video;
        if ((st = pr_input(io, "video", HD_TYPE_F32, &video, err))) goto out;
        int64_t p0 = -1;
        for (int64_t i = 0; i < S && p0 < 0; i++)
            if (ids[i] == (int32_t)image_token) p0 = i;
        if (p0 < 0 || video.ne[0] != m->cfg.n_embd) {
            st = hd_error_set(err, HD_ERR_ARG, "no placeholder in the prompt, or video rows of width %lld",
                              (long long)video.ne[0]);
            goto out;
        }
        const hd_llama_video v = {.states = video.data, .n_tokens = video.ne[1], .pos_begin = p0, .pos_end = -1};
        if ((st = hd_llama_set_video(ctx, &v, err))) goto out;
    }
    st = run_case(ctx, io, ids, S, n_gen, n_batch, err);
out:
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    return st;
}

int main(int argc, char **argv) {
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
    const pr_case named[] = {{name, run_video}, {NULL, NULL}};
    return pr_main(argc, argv, named);
}
