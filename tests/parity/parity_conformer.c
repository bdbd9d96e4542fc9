/* tests/parity/parity_conformer.c — harness runner for speech/conformer.c
 * (suite tests/parity/conformer_ref.py).  Every case loads the GGUF named
 * by the metadata key "model", encodes the input "mel" (PyTorch
 * [T_mel, n_mel]) and writes "y" ([T, D]). */
#include "runner_io.h"

#include "speech/conformer.h"

static hd_status encode(pr_io *io, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    hd_tensor mel;
    if (pr_input(io, "mel", HD_TYPE_F32, &mel, err)) return err->code;
    hd_conformer *m = hd_conformer_load(path, err);
    if (!m) return err->code;
    const hd_conformer_config *c = hd_conformer_config_of(m);
    hd_status st = HD_OK;
    if (mel.ne[0] != c->n_mel) {
        st = hd_error_set(err, HD_ERR_SHAPE, "mel has %lld bins, the model %d", (long long)mel.ne[0], c->n_mel);
    } else {
        const int64_t ne[2] = {c->n_embd, hd_conformer_n_out(c, mel.ne[1])};
        hd_tensor y = pr_output(io, "y", 2, ne);
        if (!y.data) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        else st = hd_conformer_encode(m, pr_exec(io), mel.data, mel.ne[1], y.data, err);
    }
    hd_conformer_free(m);
    return st;
}

static const pr_case cases[] = {
    {"encoder", encode},
    {"encoder_torchaudio", encode},
    {"encoder_long", encode},
    {NULL, NULL},
};

int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
