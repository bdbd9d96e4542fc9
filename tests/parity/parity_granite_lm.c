/* tests/parity/parity_granite_lm.c — runner for the Granite options and the
 * runtime LoRA of lm/llama.c, driven by tests/parity/test_granite_speech.sh:
 *
 *   parity_granite_lm MODEL IDS OUT [--lora ADAPTER] [--embd ROWS.f32]
 *                     [--batch N] [--greedy N]
 *
 * IDS "1,-1,-1,5": -1 entries take the next row of ROWS (raw float32 [n][D])
 * as HD_LLAMA_TOKEN_EMBD.  Decodes in batches of N (default 256) with an F32
 * KV cache and logits of every position, writes raw float32 [S][V] to OUT;
 * with --greedy N, also prints N greedy ids after the prompt (one token per
 * decode, as generation runs). */
#include "lm/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_rows(const char *path, int64_t D, int64_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *r = bytes > 0 ? malloc((size_t)bytes) : NULL;
    if (!r || fread(r, 1, (size_t)bytes, f) != (size_t)bytes || bytes % (long)(D * 4)) {
        free(r);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *n = bytes / (D * 4);
    return r;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL IDS OUT [--lora A] [--embd ROWS] [--batch N] [--greedy N]\n", argv[0]);
        return 2;
    }
    const char *lora = NULL, *embd_path = NULL;
    int batch = 256, greedy = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--lora")) lora = argv[i + 1];
        else if (!strcmp(argv[i], "--embd")) embd_path = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--greedy")) greedy = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int32_t ids[4096];
    int64_t S = 0, n_embd_ids = 0;
    for (char *p = argv[2]; *p && S < 4000;) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p) {
            fprintf(stderr, "bad ids \"%s\"\n", argv[2]);
            return 2;
        }
        ids[S++] = v < 0 ? HD_LLAMA_TOKEN_EMBD : (int32_t)v;
        n_embd_ids += v < 0;
        p = *e == ',' ? e + 1 : e;
    }
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(argv[1], &err);
    if (!m || (lora && hd_llama_lora_attach(m, lora, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        hd_llama_free(m);
        return 1;
    }
    const int64_t D = m->cfg.n_embd, V = m->cfg.n_vocab;
    float *rows = NULL;
    int64_t n_rows = 0;
    if (embd_path && !(rows = read_rows(embd_path, D, &n_rows))) {
        fprintf(stderr, "%s: cannot read rows of %lld floats\n", embd_path, (long long)D);
        hd_llama_free(m);
        return 1;
    }
    if (n_rows != n_embd_ids) {
        fprintf(stderr, "%lld rows for %lld embedding entries\n", (long long)n_rows, (long long)n_embd_ids);
        free(rows);
        hd_llama_free(m);
        return 1;
    }
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_batch = batch;
    cp.kv_type = HD_TYPE_F32;
    cp.n_ctx = 512;
    cp.logits_all = true;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    float *all = calloc((size_t)(S * V), sizeof *all);
    int rc = 1;
    if (!ctx || !all) goto fail;
    /* batch by batch so every position's logits are kept */
    const float *r = rows;
    for (int64_t off = 0; off < S; off += batch) {
        int64_t n = S - off < batch ? S - off : batch;
        if (hd_llama_decode_embd(ctx, ids + off, r, n, &err)) goto fail;
        if (hd_llama_n_logits(ctx) != n) {
            fprintf(stderr, "%lld logit rows for a batch of %lld\n", (long long)hd_llama_n_logits(ctx), (long long)n);
            goto done;
        }
        memcpy(all + off * V, hd_llama_logits(ctx), (size_t)(n * V) * sizeof *all);
        for (int64_t i = 0; i < n; i++)
            if (ids[off + i] == HD_LLAMA_TOKEN_EMBD) r += D;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(all, sizeof *all, (size_t)(S * V), f) != (size_t)(S * V)) {
        fprintf(stderr, "%s: cannot write\n", argv[3]);
        if (f) fclose(f);
        goto done;
    }
    fclose(f);
    if (greedy > 0) {
        int32_t t = (int32_t)argmax(all + (S - 1) * V, V);
        for (int i = 0; i < greedy; i++) {
            printf("%s%d", i ? " " : "", (int)t);
            if (i + 1 == greedy) break;
            if (hd_llama_decode(ctx, &t, 1, &err)) goto fail;
            t = (int32_t)argmax(hd_llama_logits(ctx), V);
        }
        printf("\n");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", err.msg);
done:
    free(all);
    free(rows);
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    return rc;
}
