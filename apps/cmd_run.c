/* apps/cmd_run.c — `herd run "DESCRIPTION"`: build a processing graph from a
 * pipeline description (graph/parse.h) and run it; `herd run --list` shows
 * every node type.  SIGINT/SIGTERM cancel the run: sources stop, sinks are
 * flushed (files stay valid), exit code 130. */
#include "cli.h"

#include "core/threadpool.h"
#include "graph/graph.h"
#include "graph/parse.h"
#include "graph/registry.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_INTERRUPTED 130

static const char k_usage[] =
    "usage: herd run [options] DESCRIPTION...\n"
    "       herd run --list\n"
    "\n"
    "Runs a processing graph.  Elements are joined by '!'; options are key=value;\n"
    "TYPE:ARG sets a type's main option (file:a.wav = file path=a.wav); name=N names a\n"
    "node and N. (or N.PORT) refers to it, which makes branches:\n"
    "  herd run 'file:talk.wav ! resample rate=16000 ! wav:talk16k.wav'\n"
    "  herd run 'sine freq=1000 duration=2 ! tee name=t ! wav:a.wav  t. ! resample rate=8000 ! wav:b.wav'\n"
    "  arecord -f S16_LE -r 16000 | herd run 'raw:- rate=16000 ! wav:rec.wav'\n"
    "Quote the description as one argument (several arguments are joined by spaces).\n"
    "\n"
    "options:\n"
    "  --list         every node type with its ports and options\n"
    "  -t N           threads of the compute pool shared by model nodes (default: all cores)\n"
    "  --heavy N      model (heavy) nodes running at once (default 1)\n"
    "  --queue N      packets per link before the producer waits (default 8)\n"
    "  --stats        per-node packet counts and busy time on stderr at the end\n"
    "  --quiet        no progress on stderr\n"
    "\n"
    "Ctrl-C stops the run and finishes the output files (exit code 130).\n";

typedef struct run_opts {
    const hd_cli *cli;
    bool list, stats, bad;
    long long heavy, queue;
} run_opts;

static int run_flag(void *ctx, const char *flag, const char *value) {
    run_opts *o = ctx;
    if (!strcmp(flag, "--list")) {
        o->list = true;
        return 0;
    }
    if (!strcmp(flag, "--stats")) {
        o->stats = true;
        return 0;
    }
    if (!strcmp(flag, "--heavy") || !strcmp(flag, "--queue")) {
        if (!value) return 1; /* hd_cli_parse reports the missing value */
        if (!hd_cli_int(o->cli, flag, value, 1, flag[2] == 'h' ? 64 : 1 << 20,
                        flag[2] == 'h' ? &o->heavy : &o->queue))
            o->bad = true;
        return 1;
    }
    return -1;
}

static void print_stats(hd_graph *g, double wall) {
    int n = hd_graph_node_count(g);
    hd_node_stats *st = calloc((size_t)n, sizeof *st);
    if (!st) return;
    n = hd_graph_stats(g, st, n);
    fprintf(stderr, "%-20s %-12s %10s %10s %10s %6s\n", "node", "type", "in", "out", "busy s", "queue");
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%-20s %-12s %10lld %10lld %10.3f %6d\n", st[i].name, st[i].type,
                (long long)st[i].packets_in, (long long)st[i].packets_out, st[i].busy_s, st[i].queue_high);
    fprintf(stderr, "wall time %.3f s\n", wall);
    free(st);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    run_opts o = {&cli, false, false, false, 1, 8};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, run_flag, &o, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(k_usage, stdout);
        return HD_EXIT_OK;
    }
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    if (!reg || hd_registry_add_builtins(reg, &err)) {
        hd_registry_free(reg);
        return hd_cli_fail(&cli, &err);
    }
    if (o.list) {
        hd_registry_print(reg, stdout);
        hd_registry_free(reg);
        return fflush(stdout) == 0 ? HD_EXIT_OK : HD_EXIT_INPUT;
    }
    if (cli.n_pos == 0) {
        hd_registry_free(reg);
        return hd_cli_usage_error(&cli, "no pipeline description given");
    }
    /* the description: positional arguments joined by spaces */
    size_t len = 1;
    for (int i = 0; i < cli.n_pos; i++) len += strlen(cli.pos[i]) + 1;
    char *desc = malloc(len);
    if (!desc) {
        hd_registry_free(reg);
        hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
        return hd_cli_fail(&cli, &err);
    }
    desc[0] = 0;
    for (int i = 0; i < cli.n_pos; i++) {
        if (i) strcat(desc, " ");
        strcat(desc, cli.pos[i]);
    }

    hd_threadpool *pool = NULL;
    hd_graph *g = NULL;
    hd_graph_params gp = hd_graph_default_params();
    gp.max_heavy = (int)o.heavy;
    gp.queue_size = (int)o.queue;
    int offset = -1;
    rc = HD_EXIT_OK;
    if (!(g = hd_graph_create(&gp, &err)) || hd_pipeline_build(desc, reg, g, &offset, &err)) {
        fprintf(stderr, "herd run: %s\n", err.msg);
        if (offset >= 0) {
            char caret[2 * HD_PIPELINE_MAX_LEN + 16];
            hd_pipeline_caret(desc, offset, caret, sizeof caret);
            char *nl = strchr(caret, '\n');
            if (nl) *nl = 0;
            fprintf(stderr, "  %s\n  %s\n", caret, nl ? nl + 1 : "");
        }
        rc = HD_EXIT_USAGE;
        goto done;
    }
    /* a compute pool only when a model node will use it */
    bool heavy = false;
    for (int i = 0; i < hd_graph_node_count(g); i++) heavy |= (hd_graph_node_type(g, i)->flags & HD_NODE_HEAVY) != 0;
    if (heavy) {
        if (!(pool = hd_threadpool_create(cli.threads, &err))) {
            rc = hd_cli_fail(&cli, &err);
            goto done;
        }
        hd_graph_set_pool(g, pool);
    }

    /* Workers inherit a mask with SIGINT/SIGTERM blocked; this thread takes
     * them with sigtimedwait and cancels the graph (no work in a handler). */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    double t0 = now_s();
    bool interrupted = false;
    hd_status st = hd_graph_start(g, &err);
    if (!st) {
        while (!hd_graph_done(g)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            int sig = sigtimedwait(&sigs, NULL, &ts);
            if ((sig == SIGINT || sig == SIGTERM) && !interrupted) {
                interrupted = true;
                hd_cli_progress(&cli, "herd run: interrupted, finishing the outputs\n");
                hd_graph_cancel(g);
            }
        }
        st = hd_graph_wait(g, &err);
    }
    double wall = now_s() - t0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (o.stats && hd_graph_node_count(g)) print_stats(g, wall);
    if (interrupted && st == HD_ERR_CANCELLED) rc = EXIT_INTERRUPTED;
    else if (st) rc = hd_cli_fail(&cli, &err);
    else if (fflush(stdout) != 0) rc = HD_EXIT_INPUT;
done:
    hd_graph_free(g);
    hd_threadpool_free(pool);
    hd_registry_free(reg);
    free(desc);
    return rc;
}

const hd_command hd_cmd_run = {
    "run",
    "run a processing graph from a pipeline description (herd run --list: node types)",
    k_usage,
    run,
};
