/* tests/parity/parity_granite_speech.c — runner for the whole Granite Speech
 * path of speech/granite_speech.c (hd_granite_speech_ops), driven by
 * tests/parity/test_granite_speech.sh:
 *
 *   parity_granite_speech MODEL PCM.f32 ROWS_OUT LOGITS_OUT [--greedy N] [--task asr|ast]
 *
 * MODEL: the HF folder or the converted OUT.gguf.  Loads it, embeds the raw
 * float32 16 kHz samples (log-mel → encoder → projector), builds the prompt
 * (ASR, or AST into German) and decodes it with the LM (LoRA active) with
 * logits of every position.  Prints "ids A,B,..." (-1 at the audio rows) and,
 * with --greedy N, "greedy A B ..." (one token per decode); writes the rows
 * [n][D] and the logits [S][V] as raw float32. */
#include "core/arena.h"
#include "core/threadpool.h"
#include "lm/chat.h"
#include "speech/granite_speech.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_pcm(const char *path, int64_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *x = bytes > 0 ? malloc((size_t)bytes) : NULL;
    if (!x || fread(x, 1, (size_t)bytes, f) != (size_t)bytes) {
        free(x);
        x = NULL;
    }
    fclose(f);
    *n = bytes / 4;
    return x;
}

static int write_f32(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(x, sizeof *x, n, f) == n;
    if (f) fclose(f);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL PCM.f32 ROWS_OUT LOGITS_OUT [--greedy N] [--task asr|ast]\n", argv[0]);
        return 2;
    }
    int greedy = 0;
    hd_speech_task task = HD_SPEECH_ASR;
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--greedy")) greedy = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--task")) task = strcmp(argv[i + 1], "ast") == 0 ? HD_SPEECH_AST : HD_SPEECH_ASR;
    }
    const hd_audio_lm_ops *ops = &hd_granite_speech_ops;
    hd_error err = {0};
    int rc = 1;
    int64_t n = 0;
    float *pcm = read_pcm(argv[2], &n), *rows = NULL, *all = NULL;
    void *s = NULL;
    hd_threadpool *pool = NULL;
    hd_arena *scratch = NULL;
    hd_llama_context *ctx = NULL;
    hd_tokens ids = {0};
    if (!pcm) {
        fprintf(stderr, "%s: cannot read\n", argv[2]);
        return 1;
    }
    if (!ops->detect(argv[1])) {
        fprintf(stderr, "%s: not detected as granite-speech\n", argv[1]);
        goto done;
    }
    if (!(s = ops->load(argv[1], NULL, &err)) || !(pool = hd_threadpool_create(0, &err)) ||
        !(scratch = hd_arena_create((size_t)64 << 20, &err)))
        goto fail;
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = pool, .scratch = scratch};
    int64_t n_rows = 0, audio_at = -1;
    if (ops->embed(s, &ex, pcm, n, &rows, &n_rows, &err)) goto fail;
    if (n_rows != ops->n_rows(s, n)) {
        fprintf(stderr, "embed gave %lld rows, n_rows says %lld\n", (long long)n_rows, (long long)ops->n_rows(s, n));
        goto done;
    }
    hd_audio_prompt ap = {.task = task, .language = "de", .n_audio = n_rows};
    if (ops->prompt(s, &ap, &ids, &audio_at, &err)) goto fail;
    const hd_llama_model *m = ops->lm(s);
    const int64_t D = m->cfg.n_embd, V = m->cfg.n_vocab, S = (int64_t)ids.n;
    printf("ids ");
    for (int64_t i = 0; i < S; i++) printf("%s%d", i ? "," : "", ids.ids[i] == HD_LLAMA_TOKEN_EMBD ? -1 : ids.ids[i]);
    printf("\naudio_at %lld rows %lld lora %d\n", (long long)audio_at, (long long)n_rows, hd_llama_has_lora(m));
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_batch = (int)S;
    cp.n_ctx = S + greedy + 8;
    cp.kv_type = HD_TYPE_F32;
    cp.logits_all = true;
    if (!(ctx = hd_llama_context_create(m, &cp, &err)) || hd_llama_decode_embd(ctx, ids.ids, rows, S, &err)) goto fail;
    all = malloc((size_t)(S * V) * sizeof *all);
    if (!all) goto done;
    memcpy(all, hd_llama_logits(ctx), (size_t)(S * V) * sizeof *all);
    if (!write_f32(argv[3], rows, (size_t)(n_rows * D)) || !write_f32(argv[4], all, (size_t)(S * V))) {
        fprintf(stderr, "cannot write the outputs\n");
        goto done;
    }
    if (greedy > 0) {
        const float *lg = all + (S - 1) * V;
        printf("greedy");
        for (int i = 0; i < greedy; i++) {
            int32_t t = 0;
            for (int64_t v = 1; v < V; v++)
                if (lg[v] > lg[t]) t = (int32_t)v;
            printf(" %d", (int)t);
            if (i + 1 == greedy) break;
            if (hd_llama_decode(ctx, &t, 1, &err)) goto fail;
            lg = hd_llama_logits(ctx) + (hd_llama_n_logits(ctx) - 1) * V;
        }
        printf("\n");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", err.msg);
done:
    hd_llama_context_free(ctx);
    hd_tokens_free(&ids);
    if (s) ops->free_state(s);
    hd_arena_free(scratch);
    hd_threadpool_free(pool);
    free(pcm);
    free(rows);
    free(all);
    return rc;
}
