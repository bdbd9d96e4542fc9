/* tests/parity/parity_tn.c — harness runner for speech/tn_model.c (suite
 * tests/parity/tn_ref.py).  Inputs: "text" (int32 byte values), optional
 * "llm_emb" [T, D_llm] and "llm_chunks" [T]; the C code tokenizes the text
 * (hd_tn_tokenize) and writes "logits" [n_tokens, n_tags]: from the whole
 * (layer-major) pass in case "whole", from the token-by-token stream in case
 * "stream".  `parity_tn --write-random PATH SEED [f32|f16]` writes a tiny
 * random model. */
#include "runner_io.h"

#include "lm/random_model_impl.h"
#include "speech/tn_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const hd_rm_arch hd_rm_arch_tn;

static hd_status run(pr_io *io, bool stream, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    const int32_t *bytes, *lch = NULL;
    int64_t len, nl = 0;
    if (pr_input_i32(io, "text", &bytes, &len, err)) return err->code;
    hd_tensor emb = {0};
    if (pr_has_input(io, "llm_emb")) {
        int64_t nc;
        if (pr_input(io, "llm_emb", HD_TYPE_F32, &emb, err) || pr_input_i32(io, "llm_chunks", &lch, &nc, err))
            return err->code;
        nl = emb.ne[1];
        if (nc != nl) return hd_error_set(err, HD_ERR_SHAPE, "llm_chunks length differs");
    }
    char *text = malloc((size_t)len + 1);
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < len; i++) text[i] = (char)bytes[i];
    text[len] = 0;
    hd_tn_token *tk = NULL;
    int n = 0;
    hd_tn_model *m = NULL;
    hd_tn_stream *s = NULL;
    hd_status st = hd_tn_tokenize(text, (size_t)len, &tk, &n, err);
    if (!st && !(m = hd_tn_model_load(path, err))) st = err->code;
    if (!st && nl && emb.ne[0] != hd_tn_model_config(m)->n_llm) st = hd_error_set(err, HD_ERR_SHAPE, "llm_emb width");
    if (!st) {
        const int64_t ne[2] = {hd_tn_model_config(m)->n_tags, n};
        hd_tensor y = pr_output(io, "logits", 2, ne);
        if (!y.data) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        else if (!stream) st = hd_tn_model_run(m, pr_exec(io), text, tk, n, (int)nl, nl ? emb.data : NULL, lch, y.data, NULL, err);
        else if (!(s = hd_tn_stream_create(m, (int)nl, err))) st = err->code;
        else {
            const int T = hd_tn_model_config(m)->n_tags;
            int got = 0, added = 0, idx, r = 0;
            for (int i = 0; i < n && !st && r >= 0; i++) {
                while (!st && added < nl && lch[added] <= tk[i].chunk) {
                    st = hd_tn_stream_add_llm(s, 1, (const float *)emb.data + (size_t)added * emb.ne[0], &lch[added], err);
                    added++;
                }
                if (!st) st = hd_tn_stream_push(s, text + tk[i].start, tk[i].len, tk[i].cat, tk[i].chunk, err);
                while (!st && (r = hd_tn_stream_step(s, pr_exec(io), (float *)y.data + (size_t)got * T, &idx, err)) == 1) got++;
            }
            hd_tn_stream_end(s);
            while (!st && r >= 0 && (r = hd_tn_stream_step(s, pr_exec(io), (float *)y.data + (size_t)got * T, &idx, err)) == 1) got++;
            if (!st && r < 0) st = err->code;
            if (!st && got != n) st = hd_error_set(err, HD_ERR_INTERNAL, "stream gave %d of %d tokens", got, n);
        }
    }
    hd_tn_stream_free(s);
    hd_tn_model_free(m);
    free(tk);
    free(text);
    return st;
}

static hd_status whole(pr_io *io, hd_error *err) { return run(io, false, err); }
static hd_status stream(pr_io *io, hd_error *err) { return run(io, true, err); }

static const pr_case cases[] = {
    {"whole_llm", whole}, {"whole_text_only", whole}, {"stream_llm", stream}, {"stream_short", stream}, {NULL, NULL},
};

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--write-random") == 0) {
        hd_random_model_params p = hd_random_model_default_params();
        p.arch = "tn";
        p.preset = "tiny";
        p.seed = strtoull(argv[3], NULL, 10);
        if (argc >= 5 && strcmp(argv[4], "f16") == 0) p.type = HD_TYPE_F16;
        hd_error err = {0};
        if (hd_rm_arch_tn.write(&p, argv[2], &err)) {
            fprintf(stderr, "parity_tn: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    return pr_main(argc, argv, cases);
}
