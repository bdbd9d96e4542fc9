/* tests/parity/parity_ultravox.c — harness runner for Ultravox (suite
 * tests/parity/ultravox_ref.py): PCM → hd_ultravox_ops embed (Whisper
 * log-mel → encoder windows → projector) → prompt → Llama 3 logits →
 * greedy tokens.
 *
 * Metadata: "model" (the HF folder), "task" (asr / ast / dialog),
 * "language", "text" ("" = the task's instruction), "n_greedy", "n_last",
 * "convert_to" (non-empty: first `hd_ultravox_convert` the folder to this
 * GGUF path — once — and run from its mmproj file instead), "convert_type"
 * (the weight type of that conversion, default F32).
 * Input "pcm" [N].  Outputs "rows" [n_rows, D_lm], "ids" [S] (−1 for audio
 * rows), "logits" [n_last, V] (the prompt's last positions), "greedy"
 * [n_greedy] (argmax decoding after the prompt). */
#include "runner_io.h"

#include "lm/llama.h"
#include "speech/audio_lm_impl.h"
#include "speech/ultravox.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int env_threads(void) {
    const char *s = getenv("HERD_THREADS");
    const long n = s ? strtol(s, NULL, 10) : 1;
    return n >= 1 && n <= 256 ? (int)n : 1;
}

static bool task_of(const char *s, hd_speech_task *t) {
    for (int i = HD_SPEECH_ASR; i <= HD_SPEECH_DIALOG; i++)
        if (strcmp(s, hd_speech_task_name((hd_speech_task)i)) == 0) return *t = (hd_speech_task)i, true;
    return false;
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return (int32_t)b;
}

static hd_status run(pr_io *io, void *m, hd_error *err) {
    const hd_audio_lm_ops *ops = &hd_ultravox_ops;
    const hd_llama_model *lm = ops->lm(m);
    hd_tensor pcm;
    if (pr_input(io, "pcm", HD_TYPE_F32, &pcm, err)) return err->code;
    hd_speech_task task;
    if (!task_of(pr_meta_str(io, "task", "asr"), &task)) return hd_error_set(err, HD_ERR_ARG, "bad task");
    int64_t n_greedy, n_last;
    if (pr_meta_i64(io, "n_greedy", 4, &n_greedy, err) || pr_meta_i64(io, "n_last", 4, &n_last, err)) return err->code;
    const int64_t n = pcm.ne[0];
    float *rows = NULL;
    int64_t n_rows = 0;
    hd_status st = ops->embed(m, pr_exec(io), pcm.data, n, &rows, &n_rows, err);
    if (st) return st;
    if (n_rows != ops->n_rows(m, n)) {
        free(rows);
        return hd_error_set(err, HD_ERR_INTERNAL, "embed gave %lld rows, n_rows says %lld", (long long)n_rows,
                            (long long)ops->n_rows(m, n));
    }
    const int64_t D = lm->cfg.n_embd, V = lm->cfg.n_vocab;
    const int64_t ne_r[2] = {D, n_rows};
    hd_tensor r = pr_output(io, "rows", 2, ne_r);
    if (r.data) memcpy(r.data, rows, (size_t)(n_rows * D) * sizeof *rows);

    const char *text = pr_meta_str(io, "text", "");
    const hd_audio_prompt ap = {.task = task, .language = pr_meta_str(io, "language", "en"), .n_audio = n_rows,
                                .text = *text ? text : NULL};
    hd_tokens ids = {0};
    int64_t audio_at = -1;
    if ((st = ops->prompt(m, &ap, &ids, &audio_at, err))) {
        free(rows);
        return st;
    }
    const int64_t S = (int64_t)ids.n;
    const int64_t ne_ids[1] = {S};
    hd_tensor ids_out = pr_output(io, "ids", 1, ne_ids);
    if (ids_out.data)
        for (int64_t i = 0; i < S; i++) ((float *)ids_out.data)[i] = (float)ids.ids[i];
    if (audio_at < 0 || audio_at >= S || ids.ids[audio_at] != HD_LLAMA_TOKEN_EMBD)
        st = hd_error_set(err, HD_ERR_INTERNAL, "audio_at %lld does not point at the first audio row", (long long)audio_at);
    if (n_last < 1 || n_last > S) st = hd_error_set(err, HD_ERR_ARG, "n_last %lld out of range", (long long)n_last);

    hd_llama_context *ctx = NULL;
    if (st == HD_OK) {
        hd_llama_context_params cp = hd_llama_context_default_params();
        cp.n_ctx = S + n_greedy + 8, cp.n_batch = (int)S, cp.logits_all = true, cp.kv_type = HD_TYPE_F32;
        cp.n_threads = env_threads();
        if (!(ctx = hd_llama_context_create(lm, &cp, err))) st = err->code;
    }
    if (st == HD_OK) st = hd_llama_decode_embd(ctx, ids.ids, rows, S, err);
    int32_t next = 0;
    if (st == HD_OK) {
        const int64_t ne_l[2] = {V, n_last};
        hd_tensor logits = pr_output(io, "logits", 2, ne_l);
        const float *all = hd_llama_logits(ctx);
        if (!logits.data || hd_llama_n_logits(ctx) != S) st = hd_error_set(err, HD_ERR_INTERNAL, "logits rows");
        else memcpy(logits.data, all + (S - n_last) * V, (size_t)(n_last * V) * sizeof(float));
        next = argmax(all + (S - 1) * V, V);
    }
    const int64_t ne_g[1] = {n_greedy};
    hd_tensor greedy = pr_output(io, "greedy", 1, ne_g);
    for (int64_t i = 0; i < n_greedy && st == HD_OK; i++) {
        if (greedy.data) ((float *)greedy.data)[i] = (float)next;
        if ((st = hd_llama_decode(ctx, &next, 1, err))) break;
        const float *l = hd_llama_logits(ctx);
        next = argmax(l + (hd_llama_n_logits(ctx) - 1) * V, V);
    }
    hd_llama_context_free(ctx);
    hd_tokens_free(&ids);
    free(rows);
    return st;
}

static hd_status ultravox(pr_io *io, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    const char *conv = pr_meta_str(io, "convert_to", "");
    char *mm = NULL;
    if (*conv) {
        if (!(mm = hd_ultravox_mmproj_path(conv))) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        struct stat sb;
        if (stat(mm, &sb) != 0) {   /* once per test run */
            hd_convert_params cp = hd_convert_default_params();
            const int ty = hd_type_from_name(pr_meta_str(io, "convert_type", "F32"));
            if (ty < 0) {
                free(mm);
                return hd_error_set(err, HD_ERR_ARG, "bad convert_type");
            }
            cp.type = (hd_type)ty, cp.n_threads = env_threads();
            hd_status st = hd_ultravox_convert(path, NULL, conv, &cp, err);
            if (st) {
                free(mm);
                return st;
            }
        }
        if (!hd_ultravox_ops.detect(mm)) {
            free(mm);
            return hd_error_set(err, HD_ERR_INTERNAL, "the converted mmproj file is not detected as Ultravox");
        }
        path = mm;
    } else if (!hd_ultravox_ops.detect(path)) {
        return hd_error_set(err, HD_ERR_INTERNAL, "%s is not detected as Ultravox", path);
    }
    void *m = hd_ultravox_ops.load(path, NULL, err);
    free(mm);
    if (!m) return err->code;
    hd_status st = run(io, m, err);
    hd_ultravox_ops.free_state(m);
    return st;
}

/* "projector_ln_mid" / "projector_ln_post": adapters/ultravox_projector.h
 * alone.  Metadata "weights" (a safetensors file with the HF names),
 * "stack_factor", "hidden", "n_out", "ln_mid"; input "x" [F, C]; output "y". */
static hd_status projector(pr_io *io, hd_error *err) {
    hd_tensor x;
    if (pr_input(io, "x", HD_TYPE_F32, &x, err)) return err->code;
    int64_t s, h, d, mid;
    if (pr_meta_i64(io, "stack_factor", 8, &s, err) || pr_meta_i64(io, "hidden", 0, &h, err) ||
        pr_meta_i64(io, "n_out", 0, &d, err) || pr_meta_i64(io, "ln_mid", 1, &mid, err))
        return err->code;
    const char *path = pr_meta_str(io, "weights", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"weights\" missing");
    const hd_ultravox_projector_config c = {.n_in = (int)x.ne[0], .stack_factor = (int)s, .n_hidden = (int)h,
                                            .n_out = (int)d, .ln_mid = mid != 0, .norm_eps = 1e-6f};
    hd_weights *w = hd_weights_open(path, err);
    if (!w) return err->code;
    hd_ultravox_projector *p = hd_ultravox_projector_create(w, &c, HD_ULTRAVOX_NAMES_HF, err);
    hd_status st = p ? HD_OK : err->code;
    if (st == HD_OK) {
        const int64_t ne[2] = {d, hd_ultravox_projector_n_out(&c, x.ne[1])};
        hd_tensor y = pr_output(io, "y", 2, ne);
        st = y.data ? hd_ultravox_projector_forward(p, pr_exec(io), x.data, x.ne[1], y.data, err)
                    : hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    }
    hd_ultravox_projector_free(p);
    hd_weights_close(w);
    return st;
}

static const pr_case cases[] = {
    {"projector_ln_mid", projector}, {"projector_ln_post", projector},
    {"asr_short", ultravox}, {"ast_de", ultravox}, {"dialog_text", ultravox},
    {"tiny_audio", ultravox}, {"long_31s", ultravox}, {NULL, NULL},
};

int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
