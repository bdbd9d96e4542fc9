/* apps/cmd_ask.c — `herd ask -m MODEL -i IMAGE "question"`: ask a Llama 3.2
 * Vision model about pictures.
 *
 * The command only builds a processing graph and runs it:
 *
 *   image:A ─┐
 *   image:B ─┼─ concat ─ vit ─┐
 *            ┘                llama task=ask ─┬─ out    → answer sink (text, ids)
 *                                             └─ tokens → answer sink
 *                                  (--speak: out → tts → wav:FILE)
 *
 * so it runs exactly the code of `herd run "image:A ! vit model=M ! llama
 * model=M task=ask prompt=Q ! stdout"`.  The answer is printed while it is
 * generated through the llama node's live-text hook (graph/node_hooks.h);
 * the sink gathers the delivered packets for --ids / --json.  Encoding and
 * generation progress go to stderr. */
#include "cli.h"
#include "llama_opts.h"

#include "core/threadpool.h"
#include "graph/graph.h"
#include "graph/node_hooks.h"
#include "graph/registry.h"
#include "lm/chat.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ASK_IMAGES 8   /* the inputs of one concat node */
#define EXIT_INTERRUPTED 130

extern const hd_command hd_cmd_ask;

typedef struct ask_opts {
    hd_cli *cli;
    const char *images[MAX_ASK_IMAGES];
    int n_images;
    const char *vision;       /* vision encoder file, default: the model */
    const char *system;
    const char *speak;
    const char *speak_prosody, *speak_tn;   /* --speak's prosody model and TN tagger */
    hd_llama_opts lm;   /* --top-k/--top-p/--min-p/-c for the llama node */
    bool hf_mask, bad;
} ask_opts;

static int flag(void *vctx, const char *f, const char *v) {
    ask_opts *o = vctx;
    if (!strcmp(f, "-i") || !strcmp(f, "--image")) {
        if (!v) return 1;   /* hd_cli_parse reports the missing value */
        if (o->n_images == MAX_ASK_IMAGES) {
            hd_cli_usage_error(o->cli, "at most %d images", MAX_ASK_IMAGES);
            o->bad = true;
        } else {
            o->images[o->n_images++] = v;
        }
        return 1;
    }
    if (!strcmp(f, "--vision")) { o->vision = v; return 1; }
    if (!strcmp(f, "--system")) { o->system = v; return 1; }
    if (!strcmp(f, "--speak")) { o->speak = v; return 1; }
    if (!strcmp(f, "--speak-prosody")) { o->speak_prosody = v; return 1; }
    if (!strcmp(f, "--speak-tn")) { o->speak_tn = v; return 1; }
    if (!strcmp(f, "--hf-mask")) { o->hf_mask = true; return 0; }
    int lr = hd_llama_opts_flag(o->cli, &o->lm, f, v, &o->bad);
    if (lr >= 0) return lr;
    return -1;
}

/* ---- what the run produces ------------------------------------------------------ */

typedef struct answer {
    pthread_mutex_t mu;
    bool live;               /* print text as it is generated */
    bool printed_any;
    char *text;              /* delivered text pieces */
    size_t len, cap;
    hd_tokens ids;
    bool oom;
    const hd_cli *cli;
} answer;

static void hook_text(void *ctx, const char *node, const char *piece, size_t len, bool end) {
    (void)node;
    (void)end;
    answer *a = ctx;
    if (!a->live || !len) return;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    a->printed_any = true;
}

static void hook_progress(void *ctx, const char *node, const char *line) {
    answer *a = ctx;
    hd_cli_progress(a->cli, "herd ask: %s: %s\n", node, line);
}

/* The sink: port 0 text pieces, port 1 token ids (user = the answer). */
static hd_node_ret sink_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)state;
    const hd_node_hooks *h = hd_node_hooks_of(node);
    answer *a = h->ctx;
    pthread_mutex_lock(&a->mu);
    if (port == 1) {
        if (hd_tokens_push(&a->ids, in->u.tokens.ids, (size_t)in->u.tokens.n, err)) a->oom = true;
    } else if (in->u.text.len) {
        size_t need = a->len + in->u.text.len + 1;
        if (need > a->cap) {
            size_t cap = a->cap ? a->cap : 1024;
            while (cap < need) cap *= 2;
            char *t = realloc(a->text, cap);
            if (!t) {
                a->oom = true;
                pthread_mutex_unlock(&a->mu);
                return hd_error_set(err, HD_ERR_NOMEM, "out of memory for the answer"), HD_NODE_ERROR;
            }
            a->text = t;
            a->cap = cap;
        }
        memcpy(a->text + a->len, in->u.text.text, in->u.text.len);
        a->len += in->u.text.len;
        a->text[a->len] = 0;
    }
    bool oom = a->oom;
    pthread_mutex_unlock(&a->mu);
    return oom ? HD_NODE_ERROR : HD_NODE_OK;
}

static const hd_port_def sink_in[] = {
    {"text", HD_KIND_BIT(HD_PKT_TEXT), HD_PORT_OPTIONAL},
    {"tokens", HD_KIND_BIT(HD_PKT_TOKENS), HD_PORT_OPTIONAL},
};
static const hd_node_type k_sink = {
    .name = "answer",
    .summary = "herd ask: gathers the answer text and ids",
    .inputs = sink_in,
    .n_inputs = 2,
    .process = sink_process,
};

/* ---- building the graph ------------------------------------------------------------- */

static int add_node(hd_graph *g, const hd_registry *reg, const char *type, const char *name, const hd_kv *kv, int n,
                    hd_error *err) {
    const hd_node_type *t = hd_registry_find(reg, type);
    if (!t) return hd_error_set(err, HD_ERR_NOTFOUND, "this herd has no '%s' node", type), -1;
    return hd_graph_add(g, t, name, kv, n, NULL, err);
}

/* The question: the positional arguments joined by spaces (caller frees). */
static char *join_args(const hd_cli *cli) {
    size_t len = 1;
    for (int i = 0; i < cli->n_pos; i++) len += strlen(cli->pos[i]) + 1;
    char *q = malloc(len);
    if (!q) return NULL;
    q[0] = 0;
    for (int i = 0; i < cli->n_pos; i++) {
        if (i) strcat(q, " ");
        strcat(q, cli->pos[i]);
    }
    return q;
}

static hd_status build(hd_graph *g, const hd_registry *reg, const ask_opts *o, const hd_cli *cli, const char *question,
                       hd_error *err) {
    char n_buf[32], temp_buf[32], seed_buf[32], mi_buf[16];
    snprintf(n_buf, sizeof n_buf, "%d", cli->n_predict >= 0 ? cli->n_predict : 256);
    snprintf(temp_buf, sizeof temp_buf, "%g", cli->temp_set ? cli->temp : 0.6);
    snprintf(seed_buf, sizeof seed_buf, "%llu", (unsigned long long)(cli->seed & INT64_MAX));
    hd_kv kv[16];
    int n = 0;
    kv[n++] = (hd_kv){"model", cli->model};
    kv[n++] = (hd_kv){"task", "ask"};
    kv[n++] = (hd_kv){"prompt", question};
    kv[n++] = (hd_kv){"n", n_buf};
    kv[n++] = (hd_kv){"temp", temp_buf};
    kv[n++] = (hd_kv){"seed", seed_buf};
    if (o->system) kv[n++] = (hd_kv){"system", o->system};
    n += hd_llama_opts_kv(&o->lm, kv + n);
    if (o->hf_mask) kv[n++] = (hd_kv){"hf-mask", "true"};
    if (o->n_images > 4) {   /* the context holds 4 images unless told */
        snprintf(mi_buf, sizeof mi_buf, "%d", o->n_images);
        kv[n++] = (hd_kv){"max-images", mi_buf};
    }
    /* the language model first: its create reports a model that cannot see
     * images before the vision encoder is loaded */
    int lm = add_node(g, reg, "llama", "llama", kv, n, err);
    if (lm < 0) return err->code;
    if (o->n_images) {
        int cat = add_node(g, reg, "concat", "images", NULL, 0, err);
        hd_kv vk = {"model", o->vision ? o->vision : cli->model};
        int vit = cat < 0 ? -1 : add_node(g, reg, "vit", "vit", &vk, 1, err);
        if (vit < 0) return err->code;
        for (int i = 0; i < o->n_images; i++) {
            char name[32], port[16];
            snprintf(name, sizeof name, "image%d", i + 1);
            snprintf(port, sizeof port, "in%d", i);
            hd_kv ik = {"path", o->images[i]};
            int im = add_node(g, reg, "image", name, &ik, 1, err);
            if (im < 0 || hd_graph_link(g, im, NULL, cat, port, err)) return err->code;
        }
        hd_status st;
        if ((st = hd_graph_link(g, cat, NULL, vit, NULL, err)) || (st = hd_graph_link(g, vit, NULL, lm, "embed", err)))
            return st;
    }
    int sink = hd_graph_add(g, &k_sink, "answer", NULL, 0, NULL, err);
    if (sink < 0) return err->code;
    hd_status st;
    if ((st = hd_graph_link(g, lm, "out", sink, "text", err)) || (st = hd_graph_link(g, lm, "tokens", sink, "tokens", err)))
        return st;
    if (o->speak) {
        /* the TTS models cross-attend to this LM's states: the tts node reads
         * the answer with the same weights (shared by the model cache) */
        hd_kv tk[4];
        int nt = 0;
        tk[nt++] = (hd_kv){"first-cut", "40"};   /* the answer starts to sound after its first clause */
        if (o->speak_prosody) tk[nt++] = (hd_kv){"prosody", o->speak_prosody};
        if (o->speak_tn) tk[nt++] = (hd_kv){"tn", o->speak_tn};
        if (o->speak_prosody || o->speak_tn) tk[nt++] = (hd_kv){"lm", cli->model};
        int tts = add_node(g, reg, "tts", "tts", tk, nt, err);
        hd_kv wk = {"path", o->speak};
        int wav = tts < 0 ? -1 : add_node(g, reg, "wav", "speech", &wk, 1, err);
        if (wav < 0) return err->code;
        if ((st = hd_graph_link(g, lm, "out", tts, NULL, err)) || (st = hd_graph_link(g, tts, NULL, wav, NULL, err)))
            return st;
    }
    return HD_OK;
}

static int print_json(const answer *a, int n_images) {
    cJSON *root = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *text = hd_cli_json_bytes(a->text ? a->text : "", a->len);
    bool ok = root && ids && text;
    for (size_t i = 0; ok && i < a->ids.n; i++) ok = cJSON_AddItemToArray(ids, cJSON_CreateNumber(a->ids.ids[i]));
    if (ok) {
        cJSON_AddItemToObject(root, "text", text);
        cJSON_AddItemToObject(root, "ids", ids);
        text = ids = NULL;
        ok = cJSON_AddNumberToObject(root, "n_images", n_images) &&
             cJSON_AddNumberToObject(root, "n_generated", (double)a->ids.n);
    }
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    if (out) printf("%s\n", out);
    free(out);
    cJSON_Delete(root);
    cJSON_Delete(ids);
    cJSON_Delete(text);
    return out ? HD_EXIT_OK : HD_EXIT_INPUT;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    ask_opts o = {.cli = &cli};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(hd_cmd_ask.usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "no model (-m MODEL)");
    if (cli.n_pos == 0 && o.n_images == 0) return hd_cli_usage_error(&cli, "no question and no image (-i IMAGE)");

    hd_error err = {0};
    char *question = join_args(&cli);
    answer a = {.live = !cli.json, .cli = &cli};
    pthread_mutex_init(&a.mu, NULL);
    hd_node_hooks hooks = hd_node_hooks_init();
    hooks.text = hook_text;
    hooks.progress = hook_progress;
    hooks.ctx = &a;
    hd_registry *reg = NULL;
    hd_graph *g = NULL;
    hd_threadpool *pool = NULL;
    rc = HD_EXIT_OK;
    if (!question) {
        hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(reg = hd_registry_create(&err)) || hd_registry_add_builtins(reg, &err)) goto fail;
    if ((o.speak_prosody || o.speak_tn) && !o.speak) {
        rc = hd_cli_usage_error(&cli, "--speak-prosody and --speak-tn need --speak");
        goto out;
    }
    if (o.speak && !hd_registry_find(reg, "tts")) {
        rc = hd_cli_usage_error(&cli, "--speak: this herd has no text-to-speech ('tts') node");
        goto out;
    }
    hd_graph_params gp = hd_graph_default_params();
    gp.user = &hooks;
    if (!(g = hd_graph_create(&gp, &err)) || build(g, reg, &o, &cli, question, &err)) goto fail;
    if (!(pool = hd_threadpool_create(cli.threads, &err))) goto fail;
    hd_graph_set_pool(g, pool);

    /* Ctrl-C cancels the graph (taken on this thread, not in a handler) */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    bool interrupted = false;
    hd_status st = hd_graph_start(g, &err);
    if (!st) {
        while (!hd_graph_done(g)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            int sig = sigtimedwait(&sigs, NULL, &ts);
            if ((sig == SIGINT || sig == SIGTERM) && !interrupted) {
                interrupted = true;
                hd_graph_cancel(g);
            }
        }
        st = hd_graph_wait(g, &err);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (a.printed_any) fputc('\n', stdout);
    if (interrupted && st == HD_ERR_CANCELLED) {
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    if (st) goto fail;
    if (cli.json) {
        rc = print_json(&a, o.n_images);
    } else {
        if (!a.printed_any && a.len) printf("%s\n", a.text);   /* nothing came live: print what was delivered */
        if (cli.ids) {
            for (size_t i = 0; i < a.ids.n; i++) printf("%s%d", i ? " " : "", (int)a.ids.ids[i]);
            putchar('\n');
        }
    }
    if (fflush(stdout) != 0) rc = HD_EXIT_INPUT;
    goto out;
fail:
    fflush(stdout);
    rc = hd_cli_fail(&cli, &err);
out:
    hd_graph_free(g);
    hd_threadpool_free(pool);
    hd_registry_free(reg);
    free(question);
    free(a.text);
    hd_tokens_free(&a.ids);
    pthread_mutex_destroy(&a.mu);
    return rc;
}

const hd_command hd_cmd_ask = {
    "ask",
    "ask a Llama 3.2 Vision model about images (or a Llama 3 model a plain question)",
    "usage: herd ask -m MODEL [-i IMAGE]... [options] QUESTION...\n"
    "\n"
    "Encodes each image with the model's vision encoder, then streams the answer to\n"
    "the question to stdout; progress goes to stderr.  Runs the processing graph\n"
    "  image:IMAGE ! vit model=MODEL ! llama model=MODEL task=ask prompt=QUESTION\n"
    "(several images are joined in order; each gets an <|image|> in the prompt).\n"
    "MODEL: a Llama 3.2 Vision GGUF (text + v.* vision tensors) or Hugging Face folder;\n"
    "without -i any Llama 3 model answers a plain chat question.\n"
    "\n"
    "  -m MODEL          the model (language model; also the vision encoder unless --vision)\n"
    "  -i, --image FILE  an image (PNG, JPEG, WebP, ...); repeatable, up to 8\n"
    "  --vision FILE     vision encoder file, when it is not in MODEL\n"
    "  --system TEXT     system message\n"
    "  -n N              maximum answer tokens (default 256; -1 = until a stop token)\n"
    "  --temp T          temperature, 0 = greedy (default 0.6)\n"
    "  --top-k K         keep the K most likely tokens (default 0 = off)\n"
    "  --top-p P         nucleus sampling mass (default 0.9)\n"
    "  --min-p P         drop tokens below P x the best probability (default 0 = off)\n"
    "  --seed N          random seed (default: from the clock)\n"
    "  -c, --ctx N       context length (default: the model's, at most 4096)\n"
    "  --hf-mask         Hugging Face's cross-attention row mask (text before the first\n"
    "                    image attends to the images) instead of Meta's reference mask\n"
    "  --speak FILE      also speak the answer into a WAV file (needs the tts node), sentence\n"
    "                    by sentence as it is generated (the first from its first clause)\n"
    "  --speak-prosody FILE, --speak-tn FILE\n"
    "                    the prosody model / TN tagger for --speak; they cross-attend to\n"
    "                    MODEL's hidden states of the answer (width must match MODEL)\n"
    "  -t N              threads (default: all cores)\n"
    "  --ids             also print the answer's token ids on a last line\n"
    "  --json            no streaming: one JSON object {text, ids, n_images, n_generated}\n"
    "  --quiet           no progress on stderr\n",
    run,
};
