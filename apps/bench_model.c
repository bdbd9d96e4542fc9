/* apps/bench_model.c — `herd bench -m MODEL [-p 512] [-n 128] [-t N] [-r REPS]
 * [--json]`: tokens per second of a Llama model, measured like llama-bench so
 * the two can be compared on the same file:
 *   prefill  p random token ids decoded as one prompt into an empty KV cache
 *            (batches of up to 512, llama-bench's default micro-batch);
 *   decode   n tokens decoded one at a time from an empty KV cache.
 * Each test runs once untimed (warm-up), then REPS times; the figure is the
 * mean of the per-run rates (± the sample standard deviation), as llama-bench
 * reports "avg_ts" / "stddev_ts". */
#include "bench_model.h"

#include "cli.h"

#include "core/types.h"
#include "lm/llama.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char hd_bench_model_usage[] =
    "usage: herd bench -m MODEL [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r REPS] [--json]\n"
    "Prefill and decode speed of a Llama model (GGUF file or HF folder), as llama-bench\n"
    "measures them: prefill = N_PROMPT random tokens (default 512) into an empty cache,\n"
    "decode = N_GEN tokens (default 128) one at a time from an empty cache.  Each test\n"
    "runs once to warm up, then REPS times (default 5); the mean rate is printed.\n"
    "  -p N        prompt tokens (0: skip prefill)\n"
    "  -n N        generated tokens (0: skip decode)\n"
    "  -t N        threads (default: one per core)\n"
    "  -r N        repetitions (default 5)\n"
    "  --json      one JSON object: prefill_tokens_per_s, decode_tokens_per_s and the\n"
    "              model (path, type, parameters, bytes), threads, tokens, repetitions\n"
    "Exit codes: 0 ok, 1 bad model, 2 usage error.\n";

typedef struct bench_opts {
    const char *prompt, *reps;
} bench_opts;

static int flag(void *ctx, const char *f, const char *v) {
    bench_opts *o = ctx;
    if (strcmp(f, "-p") == 0 || strcmp(f, "--n-prompt") == 0) o->prompt = v;
    else if (strcmp(f, "-r") == 0 || strcmp(f, "--repetitions") == 0) o->reps = v;
    else return -1;
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct rate {
    double mean, stddev;
    bool done;
} rate;

static void summarize(const double *r, int n, rate *out) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += r[i];
    out->mean = s / n;
    for (int i = 0; i < n; i++) ss += (r[i] - out->mean) * (r[i] - out->mean);
    out->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
    out->done = true;
}

/* One prefill of the tokens from an empty cache; seconds or < 0 on error. */
static double time_prefill(hd_llama_context *ctx, const int32_t *ids, int n, hd_error *err) {
    if (hd_llama_rewind(ctx, 0, err)) return -1;
    const double t0 = now_s();
    if (hd_llama_decode(ctx, ids, n, err)) return -1;
    return now_s() - t0;
}

/* n single-token decodes from an empty cache; seconds or < 0 on error. */
static double time_decode(hd_llama_context *ctx, const int32_t *ids, int n, hd_error *err) {
    if (hd_llama_rewind(ctx, 0, err)) return -1;
    const double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (hd_llama_decode(ctx, &ids[i], 1, err)) return -1;
    return now_s() - t0;
}

int hd_bench_model_run(int argc, char **argv) {
    hd_cli cli;
    bool help;
    bench_opts o = {0};
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (help) {
        fputs(hd_bench_model_usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "-m MODEL is required");
    if (cli.n_pos > 0) return hd_cli_usage_error(&cli, "unexpected argument '%s'", cli.pos[0]);
    long long n_prompt = 512, n_gen = cli.n_predict >= 0 ? cli.n_predict : 128, reps = 5;
    if (o.prompt && !hd_cli_int(&cli, "-p", o.prompt, 0, 1 << 20, &n_prompt)) return HD_EXIT_USAGE;
    if (o.reps && !hd_cli_int(&cli, "-r", o.reps, 1, 1000, &reps)) return HD_EXIT_USAGE;
    if (n_gen > (1 << 20)) return hd_cli_usage_error(&cli, "-n %lld is too large", n_gen);
    if (n_prompt == 0 && n_gen == 0) return hd_cli_usage_error(&cli, "nothing to measure (-p 0 and -n 0)");

    hd_error err = {0};
    const double t_load = now_s();
    hd_llama_model *m = hd_llama_load(cli.model, &err);
    if (!m) return hd_cli_fail(&cli, &err);
    const double load_s = now_s() - t_load;
    const int64_t need = n_prompt > n_gen ? n_prompt : n_gen;
    if (need > m->cfg.n_ctx_train) {
        const long long n_ctx = (long long)m->cfg.n_ctx_train;
        hd_llama_free(m);
        return hd_cli_usage_error(&cli, "%lld tokens exceed the model's context of %lld", (long long)need, n_ctx);
    }
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = need;
    cp.n_batch = n_prompt > 512 ? 512 : n_prompt > 0 ? (int)n_prompt : 1;
    cp.n_threads = cli.threads;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    int32_t *ids = malloc((size_t)need * sizeof *ids);
    double *runs = malloc((size_t)reps * sizeof *runs);
    rate pp = {0}, tg = {0};
    bool ok = ctx && ids && runs;
    if (!ok && ctx) hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
    if (ok) {
        uint64_t s = cli.seed_set ? cli.seed : 42;   /* random ids, any vocabulary row */
        for (int64_t i = 0; i < need; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (int32_t)((s >> 33) % (uint64_t)m->cfg.n_vocab);
        }
    }
    if (ok && n_prompt > 0) {
        ok = time_prefill(ctx, ids, (int)n_prompt, &err) >= 0;
        for (int r = 0; ok && r < reps; r++) {
            const double t = time_prefill(ctx, ids, (int)n_prompt, &err);
            ok = t >= 0;
            runs[r] = (double)n_prompt / (t > 0 ? t : 1e-9);
            if (!cli.json) hd_cli_progress(&cli, "prefill %d/%lld: %.1f tokens/s\n", r + 1, reps, runs[r]);
        }
        if (ok) summarize(runs, (int)reps, &pp);
    }
    if (ok && n_gen > 0) {
        ok = time_decode(ctx, ids, 1, &err) >= 0;
        for (int r = 0; ok && r < reps; r++) {
            const double t = time_decode(ctx, ids, (int)n_gen, &err);
            ok = t >= 0;
            runs[r] = (double)n_gen / (t > 0 ? t : 1e-9);
            if (!cli.json) hd_cli_progress(&cli, "decode %d/%lld: %.1f tokens/s\n", r + 1, reps, runs[r]);
        }
        if (ok) summarize(runs, (int)reps, &tg);
    }
    if (ok) {
        struct stat sb;
        const double bytes = stat(cli.model, &sb) == 0 && S_ISREG(sb.st_mode) ? (double)sb.st_size : 0;
        const char *type = hd_type_name(m->weight_type);
        hd_llama_config shape = m->cfg;   /* GGUF has no tie key: tied = no output tensor */
        shape.tie_word_embeddings = m->tied;
        const double params = (double)hd_llama_config_n_params(&shape);
        if (cli.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", cli.model);
            cJSON_AddStringToObject(j, "model_name", m->cfg.name);
            cJSON_AddStringToObject(j, "type", type);
            cJSON_AddNumberToObject(j, "n_params", params);
            cJSON_AddNumberToObject(j, "file_bytes", bytes);
            cJSON_AddNumberToObject(j, "n_layer", m->cfg.n_layer);
            cJSON_AddNumberToObject(j, "n_embd", m->cfg.n_embd);
            cJSON_AddNumberToObject(j, "n_vocab", m->cfg.n_vocab);
            cJSON_AddNumberToObject(j, "n_threads", cli.threads);
            cJSON_AddNumberToObject(j, "n_prompt", (double)n_prompt);
            cJSON_AddNumberToObject(j, "n_gen", (double)n_gen);
            cJSON_AddNumberToObject(j, "repetitions", (double)reps);
            cJSON_AddNumberToObject(j, "load_s", load_s);
            if (pp.done) {
                cJSON_AddNumberToObject(j, "prefill_tokens_per_s", pp.mean);
                cJSON_AddNumberToObject(j, "prefill_stddev", pp.stddev);
            } else {
                cJSON_AddNullToObject(j, "prefill_tokens_per_s");
            }
            if (tg.done) {
                cJSON_AddNumberToObject(j, "decode_tokens_per_s", tg.mean);
                cJSON_AddNumberToObject(j, "decode_stddev", tg.stddev);
            } else {
                cJSON_AddNullToObject(j, "decode_tokens_per_s");
            }
            char *s = cJSON_PrintUnformatted(j);
            if (s) puts(s);
            free(s);
            cJSON_Delete(j);
        } else {
            printf("model    %s (%s, %s, %.1fM parameters, %.2f GB), %d threads, load %.3f s\n", cli.model,
                   m->cfg.name[0] ? m->cfg.name : "llama", type, params / 1e6, bytes / 1e9, cli.threads, load_s);
            if (pp.done)
                printf("prefill  pp%-6lld %10.2f ± %.2f tokens/s\n", n_prompt, pp.mean, pp.stddev);
            if (tg.done)
                printf("decode   tg%-6lld %10.2f ± %.2f tokens/s\n", n_gen, tg.mean, tg.stddev);
        }
    }
    free(runs);
    free(ids);
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    return ok ? HD_EXIT_OK : hd_cli_fail(&cli, &err);
}
