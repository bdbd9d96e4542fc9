/* tests/parity/parity_vagg.c — harness runner for vision/video_aggregator.c
 * (suite tests/parity/vagg_ref.py).  Every case loads the GGUF named by the
 * metadata key "model", merges the input "frames" (PyTorch [g, n_tok, D_in])
 * with the optional "n_valid" [g] and writes "y" ([n_latent, D_out]). */
#include "runner_io.h"

#include "vision/video_aggregator.h"

static hd_status merge(pr_io *io, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    hd_tensor frames;
    if (pr_input(io, "frames", HD_TYPE_F32, &frames, err)) return err->code;
    const int32_t *nv32 = NULL;
    int64_t n_nv = 0;
    if (pr_has_input(io, "n_valid") && pr_input_i32(io, "n_valid", &nv32, &n_nv, err)) return err->code;
    const int64_t g = frames.ne[2], n_tok = frames.ne[1];
    if (nv32 && n_nv != g) return hd_error_set(err, HD_ERR_SHAPE, "n_valid has %lld entries for %lld frames",
                                              (long long)n_nv, (long long)g);
    int64_t n_valid[64];
    if (g > 64) return hd_error_set(err, HD_ERR_ARG, "at most 64 frames per case");
    for (int64_t f = 0; f < g; f++) n_valid[f] = nv32 ? nv32[f] : n_tok;
    hd_vagg *a = hd_vagg_load(path, err);
    if (!a) return err->code;
    const hd_vagg_config *c = hd_vagg_config_of(a);
    hd_status st = HD_OK;
    if (frames.ne[0] != c->n_in) {
        st = hd_error_set(err, HD_ERR_SHAPE, "frames have width %lld, the model %d", (long long)frames.ne[0], c->n_in);
    } else {
        const int64_t ne[2] = {c->n_out, c->n_latent};
        hd_tensor y = pr_output(io, "y", 2, ne);
        if (!y.data) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        else st = hd_vagg_merge(a, pr_exec(io), frames.data, (int)g, n_tok, n_valid, y.data, err);
    }
    hd_vagg_free(a);
    return st;
}

static const pr_case cases[] = {
    {"full_group", merge},
    {"partial_group_padding", merge},
    {"one_frame", merge},
    {NULL, NULL},
};

int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
