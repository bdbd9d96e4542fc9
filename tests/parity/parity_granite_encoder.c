/* tests/parity/parity_granite_encoder.c — harness runner for
 * speech/granite_encoder.c and adapters/qformer.c (suite
 * tests/parity/granite_encoder_ref.py).  The metadata key "model" names a
 * Granite Speech HF folder (config.json + safetensors); both configs come
 * from its config.json, the tensors from the folder under the "encoder." and
 * "projector." prefixes, exactly as the bundle loads them.
 *   full_*       feats [T, input_dim] → "enc" [T, D], "proj" [rows, D_lm]
 *   projector_*  frames [T, D_enc]    → "proj" [rows, D_lm] */
#include "runner_io.h"

#include "adapters/qformer.h"
#include "core/weights.h"
#include "speech/granite_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model {
    hd_weights *w;
    hd_granite_encoder *enc;
    hd_qformer *proj;
} model;

static void model_free(model *m) {
    hd_qformer_free(m->proj);
    hd_granite_encoder_free(m->enc);
    hd_weights_close(m->w);
}

static hd_status model_load(pr_io *io, model *m, hd_error *err) {
    memset(m, 0, sizeof *m);
    const char *dir = pr_meta_str(io, "model", NULL);
    if (!dir) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: cannot open", path);
    char *json = malloc(1 << 20);
    size_t n = json ? fread(json, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!json) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    hd_granite_encoder_config ec;
    hd_qformer_config qc;
    hd_status st = hd_granite_encoder_config_from_hf_json(&ec, json, n, path, err);
    if (!st) st = hd_qformer_config_from_hf_json(&qc, json, n, path, err);
    free(json);
    if (st) return st;
    if (!(m->w = hd_weights_open(dir, err))) return err->code;
    if (!(m->enc = hd_granite_encoder_load(m->w, "encoder.", &ec, err)) ||
        !(m->proj = hd_qformer_load(m->w, "projector.", &qc, err))) {
        model_free(m);
        return err->code;
    }
    return HD_OK;
}

static hd_status project(pr_io *io, model *m, const float *frames, int64_t T, hd_error *err) {
    const hd_qformer_config *qc = hd_qformer_config_of(m->proj);
    const int64_t ne[2] = {qc->n_out, hd_qformer_n_rows(qc, T)};
    hd_tensor y = pr_output(io, "proj", 2, ne);
    if (!y.data) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    return hd_qformer_forward(m->proj, pr_exec(io), frames, T, y.data, err);
}

static hd_status full(pr_io *io, hd_error *err) {
    model m;
    hd_tensor x;
    if (pr_input(io, "feats", HD_TYPE_F32, &x, err)) return err->code;
    hd_status st = model_load(io, &m, err);
    if (st) return st;
    const hd_granite_encoder_config *ec = hd_granite_encoder_config_of(m.enc);
    if (x.ne[0] != ec->input_dim) {
        st = hd_error_set(err, HD_ERR_SHAPE, "feats have %lld values per frame, the encoder %d", (long long)x.ne[0],
                          ec->input_dim);
    } else {
        const int64_t ne[2] = {ec->hidden, hd_granite_encoder_n_out(ec, x.ne[1])};
        hd_tensor enc = pr_output(io, "enc", 2, ne);
        if (!enc.data) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        if (!st) st = hd_granite_encoder_encode(m.enc, pr_exec(io), x.data, x.ne[1], enc.data, err);
        /* a second call on the same encoder (arena reuse) must give the same result */
        if (!st) {
            hd_tensor again = pr_temp(io, 2, ne);
            if (!again.data) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
            if (!st) st = hd_granite_encoder_encode(m.enc, pr_exec(io), x.data, x.ne[1], again.data, err);
            if (!st && memcmp(again.data, enc.data, (size_t)(ne[0] * ne[1]) * sizeof(float)) != 0)
                st = hd_error_set(err, HD_ERR_ARG, "second encode of the same input differs");
        }
        if (!st) st = project(io, &m, enc.data, ne[1], err);
    }
    model_free(&m);
    return st;
}

static hd_status projector(pr_io *io, hd_error *err) {
    model m;
    hd_tensor x;
    if (pr_input(io, "frames", HD_TYPE_F32, &x, err)) return err->code;
    hd_status st = model_load(io, &m, err);
    if (st) return st;
    if (x.ne[0] != hd_qformer_config_of(m.proj)->enc_hidden)
        st = hd_error_set(err, HD_ERR_SHAPE, "frames have width %lld", (long long)x.ne[0]);
    else
        st = project(io, &m, x.data, x.ne[1], err);
    model_free(&m);
    return st;
}

static const pr_case cases[] = {
    {"full_T1", full},   {"full_T13", full},  {"full_T20", full}, {"full_T30", full},
    {"full_T67", full},  {"projector_T7", projector}, {NULL, NULL},
};

int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
