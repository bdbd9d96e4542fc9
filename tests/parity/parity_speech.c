/* tests/parity/parity_speech.c — harness runner for the whole speech path
 * (suite tests/parity/speech_ref.py): mel → Conformer → speech adapter →
 * prompt with the audio rows spliced in → Llama 3 logits.
 *
 * Metadata: "model" (speech file), "lm" (LM file, "" = the speech file's
 * speech.lm_file), "task" (asr / ast / dialog), "language", "text" (user
 * text after the audio, may be ""), "split" (> 0: decode the prompt in two
 * calls, the first ending after `split` entries, to test positions and
 * embedding rows across calls; the logits are then those of the second call).
 * Input "mel" (PyTorch [T_mel, n_mel]).  Outputs "encoder" [T40, D_enc],
 * "adapter" [T80, D_lm], "ids" [S] (the prompt, -1 for audio rows) and
 * "logits" [S − split, V]. */
#include "runner_io.h"

#include "lm/llama.h"
#include "speech/speech_model.h"
#include "speech/speech_prompt.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static hd_status run_speech(pr_io *io, hd_speech_model *m, hd_error *err) {
    const hd_conformer_config *ec = hd_conformer_config_of(hd_speech_model_encoder(m));
    const hd_speech_adapter_config *ac = hd_speech_adapter_config_of(hd_speech_model_adapter(m));
    const hd_llama_model *lm = hd_speech_model_lm(m);
    const hd_tokenizer *tok = hd_speech_model_tokenizer(m);
    hd_tensor mel;
    if (pr_input(io, "mel", HD_TYPE_F32, &mel, err)) return err->code;
    if (mel.ne[0] != ec->n_mel)
        return hd_error_set(err, HD_ERR_SHAPE, "mel has %lld bins, the model %d", (long long)mel.ne[0], ec->n_mel);
    if (!tok) return hd_error_set(err, HD_ERR_ARG, "the LM has no tokenizer");
    hd_speech_task task;
    if (!task_of(pr_meta_str(io, "task", "asr"), &task)) return hd_error_set(err, HD_ERR_ARG, "bad task");
    int64_t split;
    if (pr_meta_i64(io, "split", 0, &split, err)) return err->code;

    /* encoder and adapter one by one, for the intermediate outputs */
    const int64_t T40 = hd_conformer_n_out(ec, mel.ne[1]), T80 = hd_speech_adapter_n_out(ac, T40);
    const int64_t ne_enc[2] = {ec->n_embd, T40}, ne_adp[2] = {ac->n_out, T80};
    hd_tensor enc = pr_output(io, "encoder", 2, ne_enc), adp = pr_output(io, "adapter", 2, ne_adp);
    if (!enc.data || !adp.data) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    hd_status st;
    if ((st = hd_conformer_encode(hd_speech_model_encoder(m), pr_exec(io), mel.data, mel.ne[1], enc.data, err)) ||
        (st = hd_speech_adapter_encode(hd_speech_model_adapter(m), pr_exec(io), enc.data, T40, adp.data, err)))
        return st;
    /* the bundle's one-call path must give the same rows, bit for bit */
    float *rows = NULL;
    int64_t n_rows = 0;
    if ((st = hd_speech_model_embed(m, pr_exec(io), mel.data, mel.ne[1], &rows, &n_rows, err))) return st;
    const bool same = n_rows == T80 && n_rows == hd_speech_model_n_rows(m, mel.ne[1]) &&
                      (T80 == 0 || memcmp(rows, adp.data, (size_t)(T80 * ac->n_out) * sizeof *rows) == 0);
    free(rows);
    if (!same) return hd_error_set(err, HD_ERR_INTERNAL, "hd_speech_model_embed differs from encoder + adapter");

    /* the prompt */
    hd_tokens ids = {0};
    const char *text = pr_meta_str(io, "text", "");
    const hd_speech_prompt sp = {
        .task = task, .language = pr_meta_str(io, "language", "en"), .begin_id = hd_speech_model_begin_token(m),
        .end_id = hd_speech_model_end_token(m), .n_audio = T80, .text = *text ? text : NULL,
    };
    int64_t audio_at = -1;
    if ((st = hd_speech_prompt_encode(tok, &sp, &ids, &audio_at, err))) return st;
    const int64_t S = (int64_t)ids.n, V = lm->cfg.n_vocab;
    const int64_t ne_ids[1] = {S};
    hd_tensor ids_out = pr_output(io, "ids", 1, ne_ids);
    if (ids_out.data)
        for (int64_t i = 0; i < S; i++) ((float *)ids_out.data)[i] = (float)ids.ids[i];
    if (split < 0 || split >= S) st = hd_error_set(err, HD_ERR_ARG, "split %lld out of 0..%lld", (long long)split, (long long)(S - 1));

    /* the LM over the whole prompt, logits of every position */
    hd_llama_context *ctx = NULL;
    if (st == HD_OK) {
        hd_llama_context_params cp = hd_llama_context_default_params();
        cp.n_ctx = S + 8, cp.n_batch = (int)S, cp.logits_all = true, cp.kv_type = HD_TYPE_F32;
        cp.n_threads = env_threads();
        if (!(ctx = hd_llama_context_create(lm, &cp, err))) st = err->code;
    }
    if (st == HD_OK && split > 0) {
        /* audio rows consumed by the first call: the EMBD entries before split */
        st = hd_llama_decode_embd(ctx, ids.ids, adp.data, split, err);
    }
    if (st == HD_OK) {
        int64_t used = 0;
        for (int64_t i = 0; i < split; i++) used += ids.ids[i] == HD_LLAMA_TOKEN_EMBD;
        st = hd_llama_decode_embd(ctx, ids.ids + split, (const float *)adp.data + used * ac->n_out, S - split, err);
    }
    if (st == HD_OK) {
        const int64_t ne_l[2] = {V, S - split};
        hd_tensor logits = pr_output(io, "logits", 2, ne_l);
        if (!logits.data || hd_llama_n_logits(ctx) != S - split)
            st = hd_error_set(err, HD_ERR_INTERNAL, "expected %lld rows of logits", (long long)(S - split));
        else
            memcpy(logits.data, hd_llama_logits(ctx), (size_t)((S - split) * V) * sizeof(float));
    }
    hd_llama_context_free(ctx);
    hd_tokens_free(&ids);
    return st;
}

static hd_status speech(pr_io *io, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    const char *lm = pr_meta_str(io, "lm", "");
    hd_speech_model_params p = hd_speech_model_default_params();
    p.lm_path = *lm ? lm : NULL;
    hd_speech_model *m = hd_speech_model_load(path, &p, err);
    if (!m) return err->code;
    hd_status st = run_speech(io, m, err);
    hd_speech_model_free(m);
    return st;
}

/* "embed" (not a parity case: tools/bench/speech_vs_torch.sh): encoder +
 * adapter only (no LM loaded), run `repeat` times after one warm-up run;
 * outputs "adapter" and "seconds" [repeat], the wall time of each run. */
static hd_status embed_timed(pr_io *io, hd_error *err) {
    const char *path = pr_meta_str(io, "model", NULL);
    if (!path) return hd_error_set(err, HD_ERR_ARG, "metadata \"model\" missing");
    int64_t repeat;
    if (pr_meta_i64(io, "repeat", 3, &repeat, err)) return err->code;
    if (repeat < 1 || repeat > 1000) return hd_error_set(err, HD_ERR_ARG, "repeat %lld out of 1..1000", (long long)repeat);
    hd_tensor mel;
    if (pr_input(io, "mel", HD_TYPE_F32, &mel, err)) return err->code;
    hd_speech_model_params p = hd_speech_model_default_params();
    p.no_lm = true;
    hd_speech_model *m = hd_speech_model_load(path, &p, err);
    if (!m) return err->code;
    hd_status st = HD_OK;
    const int64_t T80 = hd_speech_model_n_rows(m, mel.ne[1]);
    const int64_t ne_adp[2] = {hd_speech_adapter_config_of(hd_speech_model_adapter(m))->n_out, T80};
    const int64_t ne_s[1] = {repeat};
    hd_tensor adp = pr_output(io, "adapter", 2, ne_adp), secs = pr_output(io, "seconds", 1, ne_s);
    if (hd_conformer_config_of(hd_speech_model_encoder(m))->n_mel != mel.ne[0])
        st = hd_error_set(err, HD_ERR_SHAPE, "mel has %lld bins", (long long)mel.ne[0]);
    else if (T80 == 0 || !adp.data || !secs.data)
        st = hd_error_set(err, HD_ERR_ARG, "no adapter rows for %lld mel frames", (long long)mel.ne[1]);
    for (int64_t r = -1; st == HD_OK && r < repeat; r++) {
        float *rows = NULL;
        int64_t n = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = hd_speech_model_embed(m, pr_exec(io), mel.data, mel.ne[1], &rows, &n, err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st == HD_OK && r >= 0) {
            ((float *)secs.data)[r] = (float)((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
            memcpy(adp.data, rows, (size_t)(n * ne_adp[0]) * sizeof *rows);
        }
        free(rows);
    }
    hd_speech_model_free(m);
    return st;
}

static const pr_case cases[] = {
    {"embed", embed_timed},
    {"asr_en", speech},
    {"ast_fr_split", speech},
    {"dialog_text", speech},
    {"short", speech},
    {NULL, NULL},
};

int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
