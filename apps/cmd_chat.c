/* apps/cmd_chat.c — `herd chat`: interactive multi-turn chat with a Llama 3 model.
 *
 * One line of stdin is one user turn; the reply streams to stdout.  The KV
 * cache keeps the whole conversation, so each turn only runs its new tokens:
 * <|eot_id|> closing the previous reply, the user message, the assistant
 * header.  "/reset" starts over, an empty line or end of input quits.
 *
 * Images (Llama 3.2 Vision): "/image PATH" encodes a picture and attaches it
 * to the next user turn, which then starts with one <|image|> per attached
 * picture.  The encoding, the turn's tokens and hd_llama_set_images are the
 * llama node's own (graph/vision_lm.h).  Image ranges are positions of the
 * whole conversation, so a turn that brings images re-runs the conversation
 * from position 0 with every image so far (hd_llama_set_images replaces the
 * images of the context). */
#include "cli.h"

#include "core/threadpool.h"
#include "graph/models.h"
#include "graph/vision_lm.h"
#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const hd_command hd_cmd_chat;

#define CHAT_MAX_IMAGES 4   /* hd_llama_context_params.max_images default */

typedef struct chat_opts {
    hd_cli *cli;
    const char *system;
    const char *tokenizer;
    const char *vision;     /* vision encoder file, default: the model */
    long long n_ctx;
    bool hf_mask, bad;
} chat_opts;

static int flag(void *vctx, const char *f, const char *v) {
    chat_opts *o = vctx;
    long long n;
    if (!strcmp(f, "--system")) { o->system = v; return 1; }
    if (!strcmp(f, "--tokenizer")) { o->tokenizer = v; return 1; }
    if (!strcmp(f, "--vision")) { o->vision = v; return 1; }
    if (!strcmp(f, "--hf-mask")) { o->hf_mask = true; return 0; }
    if (!strcmp(f, "-c") || !strcmp(f, "--ctx")) {
        if (!hd_cli_int(o->cli, f, v, 16, 1 << 24, &n)) o->bad = true;
        o->n_ctx = n;
        return 1;
    }
    return -1;
}

/* The conversation so far (every token run through the model, generated
 * ones included) and the images it refers to. */
typedef struct convo {
    hd_tokens ids;
    hd_packet *images[CHAT_MAX_IMAGES];   /* HD_EMBED_IMAGE states, in <|image|> order */
    int n_images;
    int n_pending;                        /* attached by /image, not sent yet */
    bool oom;
} convo;

static void convo_clear(convo *c, hd_llama_context *ctx) {
    c->ids.n = 0;
    for (int i = 0; i < c->n_images; i++) hd_packet_unref(c->images[i]);
    c->n_images = c->n_pending = 0;
    hd_llama_rewind(ctx, 0, NULL);
    hd_llama_clear_images(ctx);
}

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    convo *c = user;
    if (len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    if (token >= 0 && hd_tokens_push(&c->ids, &token, 1, NULL)) {
        c->oom = true;
        return false;
    }
    return true;
}

typedef struct vision {
    hd_model *vit;          /* from the model cache, loaded at the first /image */
    hd_threadpool *pool;
} vision;

/* "/image PATH": encodes the picture for the next turn.  Problems with the
 * file or the model are reported and the chat goes on. */
static void attach_image(const hd_cli *cli, const chat_opts *o, const hd_llama_model *m, vision *v, convo *c,
                         const char *path) {
    hd_error err = {0};
    if (!hd_llama_has_cross_attention(m)) {
        fprintf(stderr, "herd chat: %s has no cross-attention layers: not a Llama 3.2 Vision model, it cannot see "
                        "images\n", cli->model);
        return;
    }
    if (c->n_images == CHAT_MAX_IMAGES) {
        fprintf(stderr, "herd chat: at most %d images per conversation (/reset starts over)\n", CHAT_MAX_IMAGES);
        return;
    }
    while (*path == ' ') path++;
    if (!*path) {
        fprintf(stderr, "herd chat: /image needs a file: /image PATH\n");
        return;
    }
    if (!v->vit && !(v->vit = hd_model_acquire(HD_MODEL_VIT, o->vision ? o->vision : cli->model, &err))) {
        fprintf(stderr, "herd chat: %s\n", err.msg);
        return;
    }
    if (!v->pool && !(v->pool = hd_threadpool_create(cli->threads, &err))) {
        fprintf(stderr, "herd chat: %s\n", err.msg);
        return;
    }
    hd_image *im = hd_image_load(path, NULL, &err);
    hd_packet *st = im ? hd_vlm_encode_image(v->vit, v->pool, im, &err) : NULL;
    if (!st) {
        fprintf(stderr, "herd chat: %s\n", err.msg);
        hd_image_free(im);
        return;
    }
    hd_cli_progress(cli, "herd chat: %s: %dx%d, %d tiles; attached to your next message\n", path, im->w, im->h,
                    st->u.embed.n_tiles);
    hd_image_free(im);
    c->images[c->n_images++] = st;
    c->n_pending++;
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
    convo conv = {0};
    vision vis = {0};
    int32_t image_token = -1;
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
    cp.xattn_mask = o.hf_mask ? HD_XATTN_MASK_HF : HD_XATTN_MASK_META;
    cp.max_images = CHAT_MAX_IMAGES;
    if (!(ctx = hd_llama_context_create(model, &cp, &err))) goto fail;
    image_token = hd_vlm_image_token(tok, model);

    hd_generate_params gp = hd_generate_default_params();
    gp.n_predict = cli.n_predict >= 0 ? cli.n_predict : 1024;
    gp.sampling.temp = cli.temp_set ? cli.temp : 0.6f;   /* Llama 3 instruct defaults (SPEC §1.6) */
    gp.sampling.top_p = 0.9f;
    gp.sampling.top_k = 0;
    gp.sampling.min_p = 0;
    gp.sampling.seed = cli.seed;
    gp.on_token = on_token;
    gp.user = &conv;

    const bool tty = isatty(0);
    hd_cli_progress(&cli, "herd chat: %s loaded, context %lld tokens; empty line or Ctrl-D quits, /reset starts over%s\n",
                    cli.model, (long long)hd_llama_n_ctx(ctx),
                    hd_llama_has_cross_attention(model) ? ", /image PATH attaches a picture" : "");
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
            convo_clear(&conv, ctx);
            fresh = true;
            hd_cli_progress(&cli, "herd chat: conversation cleared\n");
            continue;
        }
        if (!strncmp(line, "/image", 6) && (line[6] == ' ' || line[6] == 0)) {
            attach_image(&cli, &o, model, &vis, &conv, line + 6);
            continue;
        }
        turn.n = 0;
        hd_chat_message user = {HD_CHAT_USER, line};
        bool rerun = false;   /* new images: run the conversation again from position 0 */
        if (conv.n_pending) {
            if (!fresh && hd_tokens_push(&turn, &eot, 1, &err)) goto fail;
            if (hd_vlm_user_turn(tok, fresh, fresh ? o.system : NULL, image_token, conv.n_pending, line, &turn, &err))
                goto fail;
            rerun = !fresh;
        } else if (fresh) {
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
        /* the conversation with this turn: image ranges are positions in it */
        if (hd_tokens_push(&conv.ids, turn.ids, turn.n, &err)) goto fail;
        const int32_t *run_ids = turn.ids;
        int64_t n_run = (int64_t)turn.n;
        if (conv.n_pending) {
            if (rerun) {
                hd_llama_rewind(ctx, 0, NULL);
                run_ids = conv.ids.ids;
                n_run = (int64_t)conv.ids.n;
            }
            if (hd_vlm_set_images(ctx, conv.ids.ids, (int64_t)conv.ids.n, image_token, conv.images, conv.n_images,
                                  cp.xattn_mask, &err)) {
                fprintf(stderr, "herd chat: %s; conversation cleared\n", err.msg);
                convo_clear(&conv, ctx);
                fresh = true;
                continue;
            }
            conv.n_pending = 0;
        }
        hd_generate_result res;
        if (hd_generate(ctx, tok, run_ids, n_run, &gp, &res, &err)) {
            if (err.code == HD_ERR_ARG) {
                /* the conversation (or this message) outgrew the context: say so, start over */
                fprintf(stderr, "herd chat: %s; conversation cleared\n", err.msg);
                convo_clear(&conv, ctx);
                fresh = true;
                continue;
            }
            goto fail;
        }
        if (conv.oom) {
            hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
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
            convo_clear(&conv, ctx);
            fresh = true;
        }
    }
    goto out;
fail:
    rc = hd_cli_fail(&cli, &err);
out:
    free(line);
    hd_tokens_free(&turn);
    for (int i = 0; i < conv.n_images; i++) hd_packet_unref(conv.images[i]);
    hd_tokens_free(&conv.ids);
    hd_model_release(vis.vit);
    hd_threadpool_free(vis.pool);
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
    "end of input quits.  With a Llama 3.2 Vision model, '/image PATH' attaches a\n"
    "picture to your next message (up to 4 per conversation).\n"
    "\n"
    "  -m MODEL          model file or folder (with its tokenizer)\n"
    "  --vision FILE     vision encoder file, when it is not in MODEL\n"
    "  --hf-mask         Hugging Face's cross-attention row mask instead of Meta's\n"
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
