/* tests/parity/parity_llama_hidden.c — runner for the hidden-state capture of
 * lm/llama.c (hd_llama_set_hidden_capture), driven by
 * tests/parity/test_llama_hidden.sh:
 *
 *   parity_llama_hidden MODEL LAYER IDS BATCH OUT
 *
 * decodes IDS ("1,2,3") in batches of BATCH with an F32 KV cache and writes
 * the states after LAYER layers of every position as raw float32 [S][D]. */
#include "lm/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    float *rows;      /* [S][D] */
    int64_t S, D;
    int64_t calls, seen;
    int bad;
} sink;

static void take(void *user, int64_t pos0, int64_t n, int64_t dim, const float *h) {
    sink *s = user;
    s->calls++;
    if (dim != s->D || pos0 < 0 || pos0 + n > s->S) {
        s->bad = 1;
        return;
    }
    memcpy(s->rows + pos0 * dim, h, (size_t)(n * dim) * sizeof *h);
    s->seen += n;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL LAYER IDS BATCH OUT\n", argv[0]);
        return 2;
    }
    int32_t ids[4096];
    int64_t S = 0;
    for (char *p = argv[3]; *p && S < 4096;) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p) {
            fprintf(stderr, "bad ids \"%s\"\n", argv[3]);
            return 2;
        }
        ids[S++] = (int32_t)v;
        p = *e == ',' ? e + 1 : e;
    }
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_batch = atoi(argv[4]);
    cp.kv_type = HD_TYPE_F32;
    cp.n_ctx = 256;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    sink s = {.S = S, .D = m->cfg.n_embd};
    s.rows = calloc((size_t)(S * s.D), sizeof *s.rows);
    int rc = 1;
    if (!ctx || !s.rows || hd_llama_set_hidden_capture(ctx, atoi(argv[2]), take, &s, &err) ||
        hd_llama_decode(ctx, ids, S, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto done;
    }
    if (s.bad || s.seen != S) {
        fprintf(stderr, "capture saw %lld of %lld positions (bad %d)\n", (long long)s.seen, (long long)S, s.bad);
        goto done;
    }
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(s.rows, sizeof *s.rows, (size_t)(S * s.D), f) != (size_t)(S * s.D)) {
        fprintf(stderr, "%s: cannot write\n", argv[5]);
        if (f) fclose(f);
        goto done;
    }
    fclose(f);
    printf("positions %lld dim %lld callbacks %lld\n", (long long)S, (long long)s.D, (long long)s.calls);
    rc = 0;
done:
    free(s.rows);
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    return rc;
}
