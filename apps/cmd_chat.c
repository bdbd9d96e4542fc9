/* apps/cmd_chat.c — `herd chat`: interactive multi-turn chat with a Llama 3 model.
 *
 * One line of stdin is one user turn; the reply streams to stdout.  The KV
 * cache keeps the whole conversation, so each turn only runs its new tokens:
 * <|eot_id|> closing the previous reply, the user message, the assistant
 * header.  "/reset" starts over, an empty line or end of input quits. */
#include "cli.h"

#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const hd_command hd_cmd_chat;

typedef struct chat_opts {
    hd_cli *cli;
    const char *system;
    const char *tokenizer;
    long long n_ctx;
    bool bad;
} chat_opts;

static int flag(void *vctx, const char *f, const char *v) {
    chat_opts *o = vctx;
    long long n;
    if (!strcmp(f, "--system")) { o->system = v; return 1; }
    if (!strcmp(f, "--tokenizer")) { o->tokenizer = v; return 1; }
    if (!strcmp(f, "-c") || !strcmp(f, "--ctx")) {
        if (!hd_cli_int(o->cli, f, v, 16, 1 << 24, &n)) o->bad = true;
        o->n_ctx = n;
        return 1;
    }
    return -1;
}

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    (void)user;
    (void)token;
    if (len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return true;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    chat_opts o = {.cli = &cli};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(hd_cmd_chat.usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "no model (-m MODEL)");
    if (cli.n_pos) return hd_cli_usage_error(&cli, "unexpected argument '%s'", cli.pos[0]);

    hd_error err = {0};
    hd_llama_model *model = NULL;
    hd_tokenizer *tok = NULL;
    hd_llama_context *ctx = NULL;
    hd_tokens turn = {0};
    char *line = NULL;
    size_t line_cap = 0;
    rc = HD_EXIT_OK;

    if (!(model = hd_llama_load(cli.model, &err))) goto fail;
    if (!(tok = hd_tokenizer_load(o.tokenizer ? o.tokenizer : model->source, &err))) {
        if (!o.tokenizer) {
            char msg[HD_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err.msg);
            hd_error_set(&err, err.code, "%.400s (give --tokenizer FILE)", msg);
        }
        goto fail;
    }
    int32_t eot = hd_tokenizer_eot(tok);
    if (eot < 0) {
        hd_error_set(&err, HD_ERR_UNSUPPORTED, "%s: the tokenizer has no <|eot_id|>: not a Llama 3 chat vocabulary",
                     o.tokenizer ? o.tokenizer : cli.model);
        goto fail;
    }
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = cli.threads;
    if (!(ctx = hd_llama_context_create(model, &cp, &err))) goto fail;

    hd_generate_params gp = hd_generate_default_params();
    gp.n_predict = cli.n_predict >= 0 ? cli.n_predict : 1024;
    gp.sampling.temp = cli.temp_set ? cli.temp : 0.6f;   /* Llama 3 instruct defaults (SPEC §1.6) */
    gp.sampling.top_p = 0.9f;
    gp.sampling.top_k = 0;
    gp.sampling.min_p = 0;
    gp.sampling.seed = cli.seed;
    gp.on_token = on_token;

    const bool tty = isatty(0);
    hd_cli_progress(&cli, "herd chat: %s loaded, context %lld tokens; empty line or Ctrl-D quits, /reset starts over\n",
                    cli.model, (long long)hd_llama_n_ctx(ctx));
    bool fresh = true;
    for (;;) {
        if (tty) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        ssize_t n = getline(&line, &line_cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) break;
        if (!strcmp(line, "/reset")) {
            hd_llama_rewind(ctx, 0, NULL);
            fresh = true;
            hd_cli_progress(&cli, "herd chat: conversation cleared\n");
            continue;
        }
        turn.n = 0;
        hd_chat_message user = {HD_CHAT_USER, line};
        if (fresh) {
            hd_chat_message msgs[2];
            size_t nm = 0;
            if (o.system) msgs[nm++] = (hd_chat_message){HD_CHAT_SYSTEM, o.system};
            msgs[nm++] = user;
            if (hd_chat_encode_dialog(tok, msgs, nm, &turn, &err)) goto fail;
        } else {
            /* close the previous reply (its stop token was not run), then the new turn */
            if (hd_tokens_push(&turn, &eot, 1, &err) || hd_chat_encode_message(tok, &user, &turn, &err) ||
                hd_chat_encode_header(tok, HD_CHAT_ASSISTANT, &turn, &err))
                goto fail;
        }
        hd_generate_result res;
        if (hd_generate(ctx, tok, turn.ids, (int64_t)turn.n, &gp, &res, &err)) {
            if (err.code == HD_ERR_ARG) {
                /* the conversation (or this message) outgrew the context: say so, start over */
                fprintf(stderr, "herd chat: %s; conversation cleared\n", err.msg);
                hd_llama_rewind(ctx, 0, NULL);
                fresh = true;
                continue;
            }
            goto fail;
        }
        fresh = false;
        fputc('\n', stdout);
        fflush(stdout);
        hd_cli_progress(&cli, "[%lld tokens, %.1f tok/s, %lld/%lld context]\n", (long long)res.n_generated,
                        res.decode_ms > 0 ? res.n_generated * 1e3 / res.decode_ms : 0.0,
                        (long long)hd_llama_n_past(ctx), (long long)hd_llama_n_ctx(ctx));
        if (res.stop == HD_STOP_CONTEXT) {
            fprintf(stderr, "herd chat: the context is full; conversation cleared\n");
            hd_llama_rewind(ctx, 0, NULL);
            fresh = true;
        }
    }
    goto out;
fail:
    rc = hd_cli_fail(&cli, &err);
out:
    free(line);
    hd_tokens_free(&turn);
    hd_llama_context_free(ctx);
    hd_tokenizer_free(tok);
    hd_llama_free(model);
    return rc;
}

const hd_command hd_cmd_chat = {
    "chat",
    "interactive multi-turn chat with a Llama 3 model",
    "usage: herd chat -m MODEL [--system TEXT] [options]\n"
    "\n"
    "Reads one user message per line from stdin and streams each reply to stdout;\n"
    "the conversation stays in the KV cache.  '/reset' starts over; an empty line or\n"
    "end of input quits.\n"
    "\n"
    "  -m MODEL          model file or folder (with its tokenizer)\n"
    "  --system TEXT     system message\n"
    "  --tokenizer FILE  tokenizer.model / tokenizer.json instead of the model's own\n"
    "  -n N              maximum reply tokens (default 1024)\n"
    "  --temp T          temperature (default 0.6, top-p 0.9: the Llama 3 instruct defaults)\n"
    "  --seed N          random seed\n"
    "  -c, --ctx N       context length (default: the model's, at most 4096)\n"
    "  -t N              threads\n"
    "  --quiet           no progress on stderr\n",
    run,
};
