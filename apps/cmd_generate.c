/* apps/cmd_generate.c — `herd generate`: text completion with a Llama 3 model. */
#include "cli.h"

#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STOPS 16

extern const hd_command hd_cmd_generate;

typedef struct gen_opts {
    hd_cli *cli;
    const char *prompt;
    const char *prompt_ids;     /* hidden: "1,2,3" instead of text         */
    const char *dump_logits;    /* hidden: every prompt position's logits  */
    const char *system;
    const char *tokenizer;
    bool chat, no_bos;
    int top_k;
    double top_p, min_p, repeat_penalty;
    int repeat_last_n;
    long long n_ctx, n_batch;
    hd_type kv_type;
    const char *stops[MAX_STOPS];
    int n_stops;
    bool bad;
} gen_opts;

static int flag(void *vctx, const char *f, const char *v) {
    gen_opts *o = vctx;
    long long n;
    double d;
    if (!strcmp(f, "-p") || !strcmp(f, "--prompt")) { o->prompt = v; return 1; }
    if (!strcmp(f, "--prompt-ids")) { o->prompt_ids = v; return 1; }
    if (!strcmp(f, "--dump-logits")) { o->dump_logits = v; return 1; }
    if (!strcmp(f, "--system")) { o->system = v; return 1; }
    if (!strcmp(f, "--tokenizer")) { o->tokenizer = v; return 1; }
    if (!strcmp(f, "--chat")) { o->chat = true; return 0; }
    if (!strcmp(f, "--no-bos")) { o->no_bos = true; return 0; }
    if (!strcmp(f, "--top-k")) {
        if (!hd_cli_int(o->cli, f, v, 0, 1 << 30, &n)) o->bad = true;
        o->top_k = (int)n;
        return 1;
    }
    if (!strcmp(f, "--repeat-last-n")) {
        if (!hd_cli_int(o->cli, f, v, 0, 1 << 20, &n)) o->bad = true;
        o->repeat_last_n = (int)n;
        return 1;
    }
    if (!strcmp(f, "-c") || !strcmp(f, "--ctx")) {
        if (!hd_cli_int(o->cli, f, v, 1, 1 << 24, &n)) o->bad = true;
        o->n_ctx = n;
        return 1;
    }
    if (!strcmp(f, "--batch")) {
        if (!hd_cli_int(o->cli, f, v, 1, 1 << 16, &n)) o->bad = true;
        o->n_batch = n;
        return 1;
    }
    if (!strcmp(f, "--top-p") || !strcmp(f, "--min-p") || !strcmp(f, "--repeat-penalty")) {
        if (!hd_cli_float(o->cli, f, v, &d)) o->bad = true;
        if (!strcmp(f, "--top-p")) o->top_p = d;
        else if (!strcmp(f, "--min-p")) o->min_p = d;
        else o->repeat_penalty = d;
        return 1;
    }
    if (!strcmp(f, "--kv-type")) {
        if (v && !strcmp(v, "f16")) o->kv_type = HD_TYPE_F16;
        else if (v && !strcmp(v, "f32")) o->kv_type = HD_TYPE_F32;
        else {
            hd_cli_usage_error(o->cli, "--kv-type must be f16 or f32");
            o->bad = true;
        }
        return 1;
    }
    if (!strcmp(f, "--stop")) {
        if (o->n_stops == MAX_STOPS) {
            hd_cli_usage_error(o->cli, "at most %d --stop strings", MAX_STOPS);
            o->bad = true;
        } else if (v && !*v) {
            hd_cli_usage_error(o->cli, "--stop needs a non-empty string");
            o->bad = true;
        } else {
            o->stops[o->n_stops++] = v;
        }
        return 1;
    }
    return -1;
}

/* "1,2, 3" → ids (caller frees); false on a malformed list. */
static bool parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = strlen(s) / 2 + 1, k = 0;
    int32_t *out = malloc(cap * sizeof *out);
    if (!out) return false;
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || k == cap) {
            free(out);
            return false;
        }
        out[k++] = (int32_t)v;
        p = end;
    }
    *ids = out;
    *n = k;
    return k > 0;
}

/* All of stdin as a NUL-terminated string (caller frees); NULL on error. */
static char *read_stdin(void) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, stdin);
        if (ferror(stdin)) break;
        if (feof(stdin)) {
            buf[n] = 0;
            return buf;
        }
        if (n + 1 == cap) {
            char *p = cap < ((size_t)1 << 30) ? realloc(buf, cap *= 2) : NULL;
            if (!p) break;
            buf = p;
        }
    }
    free(buf);
    return NULL;
}

typedef struct stream {
    FILE *out;          /* NULL: collect the text instead (--json) */
    int32_t *ids;
    size_t n, cap;
    char *text;         /* --json: the text so far */
    size_t len, text_cap;
    bool oom;
} stream;

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    stream *s = user;
    if (len && s->out) {
        fwrite(text, 1, len, s->out);
        fflush(s->out);
    } else if (len) {
        if (s->len + len + 1 > s->text_cap) {
            size_t cap = s->text_cap ? s->text_cap : 4096;
            while (cap < s->len + len + 1) cap *= 2;
            char *p = realloc(s->text, cap);
            if (!p) {
                s->oom = true;
                return false;
            }
            s->text = p;
            s->text_cap = cap;
        }
        memcpy(s->text + s->len, text, len);
        s->len += len;
    }
    if (token >= 0 && s->n < s->cap) s->ids[s->n++] = token;
    return true;
}


static int print_json(const stream *s, const hd_generate_result *r) {
    cJSON *root = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *text = hd_cli_json_bytes(s->text ? s->text : "", s->len);
    bool ok = root && ids && text;
    for (size_t i = 0; ok && i < s->n; i++) ok = cJSON_AddItemToArray(ids, cJSON_CreateNumber(s->ids[i]));
    if (ok) {
        cJSON_AddItemToObject(root, "text", text);
        cJSON_AddItemToObject(root, "ids", ids);
        text = ids = NULL;
        ok = cJSON_AddNumberToObject(root, "n_prompt", (double)r->n_prompt) &&
             cJSON_AddNumberToObject(root, "n_generated", (double)r->n_generated) &&
             cJSON_AddStringToObject(root, "stop", hd_stop_reason_name(r->stop)) &&
             cJSON_AddNumberToObject(root, "prefill_ms", r->prefill_ms) &&
             cJSON_AddNumberToObject(root, "decode_ms", r->decode_ms);
    }
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    if (out) printf("%s\n", out);
    free(out);
    cJSON_Delete(root);
    cJSON_Delete(ids);
    cJSON_Delete(text);
    return out ? HD_EXIT_OK : HD_EXIT_INPUT;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs the prompt in batches with logits for every position and writes them
 * (float32 [n][V], little-endian as in memory) to path. */
static hd_status dump_prompt_logits(hd_llama_context *ctx, const int32_t *ids, size_t n, int n_batch,
                                    const char *path, hd_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return hd_error_set(err, HD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const int64_t V = hd_llama_context_model(ctx)->cfg.n_vocab;
    hd_status st = HD_OK;
    for (size_t off = 0; off < n && !st; off += (size_t)n_batch) {
        size_t S = n - off < (size_t)n_batch ? n - off : (size_t)n_batch;
        if ((st = hd_llama_decode(ctx, ids + off, (int64_t)S, err))) break;
        size_t rows = (size_t)hd_llama_n_logits(ctx);
        if (fwrite(hd_llama_logits(ctx), sizeof(float) * (size_t)V, rows, f) != rows)
            st = hd_error_set(err, HD_ERR_IO, "%s: write failed", path);
    }
    if (fclose(f) && !st) st = hd_error_set(err, HD_ERR_IO, "%s: write failed", path);
    return st;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    gen_opts o = {.cli = &cli, .top_k = -1, .top_p = -1, .min_p = -1, .repeat_penalty = -1,
                  .repeat_last_n = -1, .kv_type = HD_TYPE_F16};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(hd_cmd_generate.usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "no model (-m MODEL)");
    if (!o.prompt && !o.prompt_ids) return hd_cli_usage_error(&cli, "no prompt (-p TEXT)");
    if (o.prompt && o.prompt_ids) return hd_cli_usage_error(&cli, "give -p or --prompt-ids, not both");
    if (cli.n_pos) return hd_cli_usage_error(&cli, "unexpected argument '%s'", cli.pos[0]);

    hd_error err = {0};
    hd_llama_model *model = NULL;
    hd_tokenizer *tok = NULL;
    hd_llama_context *ctx = NULL;
    int32_t *ids = NULL, *out_ids = NULL;
    hd_tokens chat = {0};
    char *stdin_text = NULL;
    size_t n_ids = 0;
    rc = HD_EXIT_OK;

    hd_generate_params gp = hd_generate_default_params();
    gp.n_predict = cli.n_predict >= 0 ? cli.n_predict : 256;
    gp.sampling.temp = cli.temp;
    gp.sampling.seed = cli.seed;
    if (o.top_k >= 0) gp.sampling.top_k = o.top_k;
    if (o.top_p >= 0) gp.sampling.top_p = (float)o.top_p;
    if (o.min_p >= 0) gp.sampling.min_p = (float)o.min_p;
    if (o.repeat_penalty >= 0) gp.sampling.repeat_penalty = (float)o.repeat_penalty;
    if (o.repeat_last_n >= 0) gp.sampling.repeat_last_n = o.repeat_last_n;
    if (hd_sampler_params_check(&gp.sampling, &err)) goto fail;
    gp.stop_strings = o.stops;
    gp.n_stop_strings = o.n_stops;

    double t0 = now_ms();
    if (!(model = hd_llama_load(cli.model, &err))) goto fail;
    const hd_llama_config *c = &model->cfg;
    hd_cli_progress(&cli, "herd generate: %s: %d layers, width %d, %d/%d heads, vocab %d, %s weights%s, loaded in %.0f ms\n",
                    cli.model, c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->n_vocab,
                    hd_type_name(model->weight_type), model->tied ? ", tied head" : "", now_ms() - t0);

    /* the tokenizer: --tokenizer, else the model's own (GGUF vocab / HF folder) */
    tok = hd_tokenizer_load(o.tokenizer ? o.tokenizer : model->source, &err);
    if (!tok && (o.prompt || o.tokenizer || o.n_stops || o.chat || o.system)) {
        if (!o.tokenizer) {
            char msg[HD_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err.msg);
            hd_error_set(&err, err.code, "%.400s (give --tokenizer FILE)", msg);
        }
        goto fail;
    }
    if (tok && hd_tokenizer_n_vocab(tok) > c->n_vocab) {
        hd_error_set(&err, HD_ERR_FORMAT, "%s: tokenizer has %d ids but the model only %d rows",
                     o.tokenizer ? o.tokenizer : cli.model, (int)hd_tokenizer_n_vocab(tok), c->n_vocab);
        goto fail;
    }
    hd_error_clear(&err);

    /* the prompt */
    if (o.prompt && !strcmp(o.prompt, "-")) {
        if (!(stdin_text = read_stdin())) {
            hd_error_set(&err, HD_ERR_IO, "cannot read the prompt from stdin");
            goto fail;
        }
        o.prompt = stdin_text;
    }
    if (o.prompt_ids) {
        if (!parse_ids(o.prompt_ids, &ids, &n_ids)) {
            rc = hd_cli_usage_error(&cli, "--prompt-ids: '%s' is not a list of token ids", o.prompt_ids);
            goto out;
        }
    } else if (o.chat || o.system) {
        hd_chat_message msgs[2];
        size_t nm = 0;
        if (o.system) msgs[nm++] = (hd_chat_message){HD_CHAT_SYSTEM, o.system};
        msgs[nm++] = (hd_chat_message){HD_CHAT_USER, o.prompt};
        if (hd_chat_encode_dialog(tok, msgs, nm, &chat, &err)) goto fail;
        ids = chat.ids;
        n_ids = chat.n;
        chat.ids = NULL;
    } else {
        size_t len = strlen(o.prompt), cap = len + 2;
        ids = malloc(cap * sizeof *ids);
        if (!ids) {
            hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (hd_tokenizer_encode(tok, o.prompt, len, o.no_bos ? 0 : HD_TOKENIZER_ADD_BOS, ids, cap, &n_ids, &err))
            goto fail;
        if (n_ids == 0) {
            rc = hd_cli_usage_error(&cli, "the prompt is empty");
            goto out;
        }
    }

    /* the context */
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = o.n_ctx;
    if (o.n_batch > 0) cp.n_batch = (int)o.n_batch;
    cp.kv_type = o.kv_type;
    cp.n_threads = cli.threads;
    cp.logits_all = o.dump_logits != NULL;
    if (cp.logits_all && (size_t)cp.n_batch > n_ids) cp.n_batch = (int)n_ids;   /* logits buffer: [V, n_batch] */
    if (!(ctx = hd_llama_context_create(model, &cp, &err))) goto fail;
    const int64_t n_ctx = hd_llama_n_ctx(ctx);
    if ((int64_t)n_ids > n_ctx) {
        hd_error_set(&err, HD_ERR_ARG, "prompt of %zu tokens does not fit the context of %lld tokens (use -c)",
                     n_ids, (long long)n_ctx);
        goto fail;
    }
    if (o.dump_logits) {
        int nb = cp.n_batch < n_ctx ? cp.n_batch : (int)n_ctx;
        if (dump_prompt_logits(ctx, ids, n_ids, nb, o.dump_logits, &err)) goto fail;
    }

    /* generate */
    size_t cap = (size_t)(n_ctx + 1);
    out_ids = malloc(cap * sizeof *out_ids);
    if (!out_ids) {
        hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    stream s = {.out = cli.json ? NULL : stdout, .ids = out_ids, .cap = cap};
    gp.on_token = on_token;
    gp.user = &s;
    hd_generate_result res;
    hd_status st = hd_generate(ctx, tok, o.dump_logits ? NULL : ids, o.dump_logits ? 0 : (int64_t)n_ids, &gp, &res,
                               &err);
    if (s.oom) st = hd_error_set(&err, HD_ERR_NOMEM, "out of memory for the generated text");
    if (o.dump_logits) res.n_prompt = (int64_t)n_ids;
    if (cli.json && !st) {
        rc = print_json(&s, &res);
    } else if (!cli.json) {
        if (tok && s.n) fputc('\n', stdout);
        if (cli.ids) {
            for (size_t i = 0; i < s.n; i++) printf("%s%d", i ? " " : "", (int)s.ids[i]);
            putchar('\n');
        }
    }
    fflush(stdout);
    free(s.text);
    if (st) goto fail;
    hd_cli_progress(&cli, "herd generate: prompt %lld tokens in %.1f ms (%.1f tok/s), %lld generated in %.1f ms "
                          "(%.2f tok/s), stop: %s\n",
                    (long long)res.n_prompt, res.prefill_ms,
                    res.prefill_ms > 0 ? res.n_prompt * 1e3 / res.prefill_ms : 0.0, (long long)res.n_generated,
                    res.decode_ms, res.decode_ms > 0 ? res.n_generated * 1e3 / res.decode_ms : 0.0,
                    hd_stop_reason_name(res.stop));
    if (res.stop == HD_STOP_CONTEXT)
        hd_cli_progress(&cli, "herd generate: the context of %lld tokens is full (use -c for a longer one)\n",
                        (long long)n_ctx);
    goto out;
fail:
    rc = hd_cli_fail(&cli, &err);
out:
    free(stdin_text);
    free(ids);
    free(out_ids);
    hd_tokens_free(&chat);
    hd_llama_context_free(ctx);
    hd_tokenizer_free(tok);
    hd_llama_free(model);
    return rc;
}

const hd_command hd_cmd_generate = {
    "generate",
    "complete a prompt with a Llama 3 model, streaming the text",
    "usage: herd generate -m MODEL -p TEXT [options]\n"
    "\n"
    "Streams the continuation of TEXT to stdout; progress and timings go to stderr.\n"
    "MODEL is a GGUF file or a Hugging Face folder (config.json + safetensors).\n"
    "\n"
    "  -m MODEL             model file or folder\n"
    "  -p, --prompt TEXT    the prompt (BOS is added unless --no-bos); '-' reads it from stdin\n"
    "  -n N                 maximum new tokens (default 256; -1 = until a stop or the context end)\n"
    "  --temp T             temperature, 0 = greedy (default 0.8)\n"
    "  --top-k K            keep the K most likely tokens (default 40, 0 = off)\n"
    "  --top-p P            nucleus sampling mass (default 0.95, 1 = off)\n"
    "  --min-p P            drop tokens below P x the best probability (default 0.05, 0 = off)\n"
    "  --repeat-penalty R   penalty on recent tokens (default 1 = off)\n"
    "  --repeat-last-n N    window of the penalty (default 64)\n"
    "  --seed N             random seed (default: from the clock)\n"
    "  --stop TEXT          stop when the output reaches TEXT (repeatable, up to 16)\n"
    "  --chat               wrap the prompt in the Llama 3 chat format\n"
    "  --system TEXT        system message (implies --chat)\n"
    "  --tokenizer FILE     tokenizer.model / tokenizer.json instead of the model's own\n"
    "  -c, --ctx N          context length (default: the model's, at most 4096)\n"
    "  --batch N            prompt tokens per forward pass (default 256)\n"
    "  --kv-type f16|f32    KV cache precision (default f16)\n"
    "  -t N                 threads (default: all cores)\n"
    "  --ids                also print the generated token ids on a last line\n"
    "  --json               no streaming: one JSON object {text, ids, n_prompt, n_generated,\n"
    "                       stop, prefill_ms, decode_ms} on stdout\n"
    "  --quiet              no progress on stderr\n",
    run,
};
