/* tests/parity/parity_whisper.c — speech/whisper_encoder.c on a checkpoint
 * folder whisper_ref.py wrote, for whisper_ref.py.
 *
 *   parity_whisper DIR PREFIX
 *
 * DIR holds config.json (a WhisperConfig, or an Ultravox config with it under
 * "audio_config"), model.safetensors (the encoder's tensors named PREFIX +
 * the HF names), cases.txt (lines "NAME T N_VALID LATENCY_BLOCK") and
 * NAME.mel (float32 [T][n_mel]).  For every case the encoder loaded from the
 * HF layout writes DIR/NAME.hf.out, and the same weights converted to a
 * llama.cpp-layout mmproj GGUF (DIR/mmproj.gguf: names by
 * hd_whisper_mmproj_name, conv kernels F16 and conv biases [D, 1] as
 * convert_hf_to_gguf.py writes them, the rest F32; config from the clip.audio
 * keys) write DIR/NAME.mmproj.out (float32 [S][D]).
 * (Not a harness runner: the reference needs the checkpoint folder.)
 */
#include "core/gguf.h"
#include "core/ops.h"
#include "core/safetensors.h"
#include "core/threadpool.h"
#include "core/weights.h"
#include "speech/whisper_encoder.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) free(s), s = NULL;
    fclose(f);
    if (s) s[n] = '\0', *len = (size_t)n;
    return s;
}

static int fail(const hd_error *err) { return fprintf(stderr, "%s\n", err->msg), 1; }

/* Every encoder tensor of st (named prefix + HF name) into an mmproj GGUF. */
static int write_mmproj(const hd_safetensors *st, const char *prefix, const hd_whisper_config *c, const char *path,
                        void ***bufs, int *n_bufs) {
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    if (!w) return fail(&err);
    int rc = 1;
    if (hd_gguf_set_str(w, "general.architecture", "clip") || hd_gguf_set_bool(w, "clip.has_audio_encoder", true) ||
        hd_whisper_config_to_gguf(c, w, &err))
        goto out;
    const size_t pl = strlen(prefix);
    const int64_t n = hd_safetensors_n_tensors(st);
    *bufs = calloc((size_t)n, sizeof **bufs);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    for (int64_t i = 0; i < n; i++) {
        const hd_st_tensor *ti = hd_safetensors_tensor(st, i);
        char mm[160];
        if (strncmp(ti->name, prefix, pl) != 0 || !hd_whisper_mmproj_name(ti->name + pl, mm, sizeof mm)) {
            fprintf(stderr, "%s: no mmproj name\n", ti->name);
            goto out;
        }
        hd_tensor t;
        if (hd_safetensors_view(st, (int64_t)i, &t, &err)) goto out;
        const bool conv_w = strstr(mm, "a.conv1d.") && strstr(mm, ".weight");
        const bool conv_b = strstr(mm, "a.conv1d.") && strstr(mm, ".bias");
        const hd_type type = conv_w ? HD_TYPE_F16 : HD_TYPE_F32;
        const size_t esz = conv_w ? 2 : 4;
        void *d = malloc((size_t)hd_tensor_nelements(&t) * esz);
        if (!d) goto out;
        (*bufs)[(*n_bufs)++] = d;
        hd_tensor f32 = hd_tensor_view(HD_TYPE_F32, t.n_dims, t.ne, NULL);
        float *tmp = malloc((size_t)hd_tensor_nelements(&t) * sizeof(float));
        f32.data = tmp;
        if (!tmp || hd_op_convert(&ex, &f32, &t, &err)) {
            free(tmp);
            goto out;
        }
        if (conv_w) {
            hd_tensor h = hd_tensor_view(HD_TYPE_F16, t.n_dims, t.ne, d);
            if (hd_op_convert(&ex, &h, &f32, &err)) {
                free(tmp);
                goto out;
            }
        } else {
            memcpy(d, tmp, (size_t)hd_tensor_nelements(&t) * sizeof(float));
        }
        free(tmp);
        int64_t ne[4] = {t.ne[0], t.ne[1], t.ne[2], t.ne[3]};
        int nd = t.n_dims;
        if (conv_b) ne[1] = ne[0], ne[0] = 1, nd = 2; /* PyTorch [D] → [D, 1] */
        if (hd_gguf_add_tensor(w, mm, type, nd, ne, d, &err)) goto out;
    }
    if (hd_gguf_writer_write(w, path, &err)) goto out;
    rc = 0;
out:
    if (rc && err.msg[0]) fprintf(stderr, "%s\n", err.msg);
    hd_gguf_writer_free(w);
    return rc;
}

static int run_cases(hd_whisper_encoder *enc, hd_whisper_encoder *blocked, hd_exec *ex, const char *dir,
                     const char *tag) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "%s: cannot open\n", path), 1;
    const hd_whisper_config *c = hd_whisper_encoder_config(enc);
    char name[64];
    long long T, valid, block;
    int rc = 0;
    while (rc == 0 && fscanf(f, "%63s %lld %lld %lld", name, &T, &valid, &block) == 4) {
        hd_whisper_encoder *e = block ? blocked : enc;
        snprintf(path, sizeof path, "%s/%s.mel", dir, name);
        size_t len = 0;
        float *mel = (float *)read_text(path, &len);
        if (!mel || len != (size_t)T * (size_t)c->n_mel * sizeof(float)) {
            fprintf(stderr, "%s: missing or not [%lld][%d] float32\n", path, T, c->n_mel);
            free(mel);
            rc = 1;
            break;
        }
        const int64_t S = hd_whisper_encoder_n_out(T);
        float *out = malloc((size_t)S * (size_t)c->n_embd * sizeof(float));
        hd_error err = {0};
        if (!out || hd_whisper_encoder_forward(e, ex, mel, T, valid, out, &err)) {
            rc = fail(&err);
        } else {
            snprintf(path, sizeof path, "%s/%s.%s.out", dir, name, tag);
            FILE *o = fopen(path, "wb");
            if (!o || fwrite(out, sizeof(float), (size_t)S * (size_t)c->n_embd, o) != (size_t)S * (size_t)c->n_embd)
                rc = 1;
            if (o && fclose(o)) rc = 1;
        }
        free(out), free(mel);
    }
    fclose(f);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: parity_whisper DIR PREFIX\n"), 2;
    const char *dir = argv[1], *prefix = argv[2];
    hd_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len = 0;
    char *text = read_text(path, &len);
    if (!text) return fprintf(stderr, "%s: cannot read\n", path), 1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *audio = cJSON_GetObjectItemCaseSensitive(root, "audio_config");
    hd_whisper_config c;
    if (hd_whisper_config_from_cjson(audio ? audio : root, path, &c, &err)) return cJSON_Delete(root), fail(&err);
    cJSON_Delete(root);
    hd_whisper_config cb = c;
    cb.latency_block = 4;

    const char *threads = getenv("HERD_THREADS");
    hd_threadpool *pool = threads && atoi(threads) > 1 ? hd_threadpool_create(atoi(threads), &err) : NULL;
    hd_arena *scratch = hd_arena_create((size_t)64 << 20, &err);
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = pool, .scratch = scratch};

    int rc = 1;
    void **bufs = NULL;
    int n_bufs = 0;
    hd_weights *hf = hd_weights_open(dir, &err), *mmw = NULL;
    hd_whisper_encoder *e1 = NULL, *e1b = NULL, *e2 = NULL, *e2b = NULL;
    if (!hf || !(e1 = hd_whisper_encoder_load(hf, prefix, &c, &err)) ||
        !(e1b = hd_whisper_encoder_load(hf, prefix, &cb, &err))) {
        fail(&err);
        goto out;
    }
    if (run_cases(e1, e1b, &ex, dir, "hf")) goto out;
    snprintf(path, sizeof path, "%s/mmproj.gguf", dir);
    if (write_mmproj(hd_weights_safetensors(hf), prefix, &c, path, &bufs, &n_bufs)) goto out;
    if (!(mmw = hd_weights_open(path, &err)) || !(e2 = hd_whisper_encoder_load_mmproj(mmw, NULL, &err)) ||
        !(e2b = hd_whisper_encoder_load_mmproj(mmw, &cb, &err))) {
        fail(&err);
        goto out;
    }
    const hd_whisper_config *c2 = hd_whisper_encoder_config(e2);
    if (c2->n_embd != c.n_embd || c2->n_ff != c.n_ff || c2->n_layer != c.n_layer || c2->n_head != c.n_head ||
        c2->n_mel != c.n_mel || c2->n_pos != c.n_pos || c2->norm_eps != c.norm_eps) {
        fprintf(stderr, "%s: config read back from the clip.audio keys differs\n", path);
        goto out;
    }
    if (run_cases(e2, e2b, &ex, dir, "mmproj")) goto out;
    rc = 0;
out:
    hd_whisper_encoder_free(e1), hd_whisper_encoder_free(e1b), hd_whisper_encoder_free(e2),
        hd_whisper_encoder_free(e2b);
    hd_weights_close(hf), hd_weights_close(mmw);
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    free(bufs);
    hd_arena_free(scratch);
    hd_threadpool_free(pool);
    return rc;
}
