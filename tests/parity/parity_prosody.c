/* tests/parity/parity_prosody.c — harness runner for speech/prosody.c (suite
 * tests/parity/prosody_ref.py).  Every case loads the GGUF named by the
 * metadata key "model" and reads phone_ids [N], feats [N, 4], phone_chunk
 * [N] and, when present, tok_emb [T, D_llm] and tok_chunk [T]:
 *   forward: y = hd_prosody_forward(..., y_prev [N, 3])   (teacher forcing)
 *   predict: y = hd_prosody_predict(...)                   (autoregressive, streamed)
 * `parity_prosody --write-random PATH SEED [f32|f16 [PRESET]]` writes a
 * random model (speech/prosody_random.c; preset tiny by default) for the
 * test scripts. */
#include "runner_io.h"

#include "lm/random_model_impl.h"
#include "speech/prosody.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const hd_rm_arch hd_rm_arch_prosody;

static hd_status run(pr_io *io, bool forward, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    const int32_t *ids, *pch, *tch = NULL;
    int64_t n, n2, nt = 0;
    hd_tensor feats, emb = {0}, yp = {0};
    if (pr_input_i32(io, "phone_ids", &ids, &n, err) || pr_input_i32(io, "phone_chunk", &pch, &n2, err) ||
        pr_input(io, "feats", HD_TYPE_F32, &feats, err))
        return err->code;
    if (n2 != n || feats.ne[1] != n || feats.ne[0] != HD_PROSODY_N_FEAT)
        return hd_error_set(err, HD_ERR_SHAPE, "phone inputs disagree in length");
    if (pr_has_input(io, "tok_emb")) {
        int64_t nc;
        if (pr_input(io, "tok_emb", HD_TYPE_F32, &emb, err) || pr_input_i32(io, "tok_chunk", &tch, &nc, err))
            return err->code;
        nt = emb.ne[1];
        if (nc != nt) return hd_error_set(err, HD_ERR_SHAPE, "tok_chunk has %lld entries for %lld tokens", (long long)nc, (long long)nt);
    }
    if (forward && pr_input(io, "y_prev", HD_TYPE_F32, &yp, err)) return err->code;
    if (forward && (yp.ne[0] != HD_PROSODY_N_OUT || yp.ne[1] != n))
        return hd_error_set(err, HD_ERR_SHAPE, "y_prev is not [N, 3]");
    hd_prosody_model *m = hd_prosody_load(path, err);
    if (!m) return err->code;
    hd_status st = HD_OK;
    if (nt && emb.ne[0] != hd_prosody_config_of(m)->n_llm) {
        st = hd_error_set(err, HD_ERR_SHAPE, "tok_emb width %lld, the model's %d", (long long)emb.ne[0],
                          hd_prosody_config_of(m)->n_llm);
    } else {
        const int64_t ne[2] = {HD_PROSODY_N_OUT, n};
        hd_tensor y = pr_output(io, "y", 2, ne);
        hd_prosody_input in = {.n_phones = (int)n, .phone_ids = ids, .feats = feats.data, .phone_chunk = pch,
                               .n_tokens = (int)nt, .tok_emb = nt ? emb.data : NULL, .tok_chunk = nt ? tch : NULL};
        if (!y.data) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        else if (forward) st = hd_prosody_forward(m, pr_exec(io), &in, yp.data, y.data, err);
        else st = hd_prosody_predict(m, pr_exec(io), &in, y.data, err);
    }
    hd_prosody_free(m);
    return st;
}

static hd_status forward(pr_io *io, hd_error *err) { return run(io, true, err); }
static hd_status predict(pr_io *io, hd_error *err) { return run(io, false, err); }

static const pr_case cases[] = {
    {"forward_tokens", forward},
    {"forward_no_tokens", forward},
    {"predict_tokens", predict},
    {"predict_no_tokens", predict},
    {"predict_one_phone", predict},
    {NULL, NULL},
};

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--write-random") == 0) {
        hd_random_model_params p = hd_random_model_default_params();
        p.arch = "prosody";
        p.preset = "tiny";
        p.seed = strtoull(argv[3], NULL, 10);
        if (argc >= 5 && strcmp(argv[4], "f16") == 0) p.type = HD_TYPE_F16;
        if (argc >= 6) p.preset = argv[5];
        hd_error err = {0};
        if (hd_rm_arch_prosody.write(&p, argv[2], &err)) {
            fprintf(stderr, "parity_prosody: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    return pr_main(argc, argv, cases);
}
