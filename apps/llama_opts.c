/* apps/llama_opts.c — the llama node's flags (see llama_opts.h). */
#include "llama_opts.h"

#include <string.h>

int hd_llama_opts_flag(const hd_cli *cli, hd_llama_opts *o, const char *f, const char *v, bool *bad) {
    long long n;
    double d;
    if (!strcmp(f, "--top-k")) {
        if (v && !hd_cli_int(cli, f, v, 0, 1 << 30, &n)) *bad = true;
        o->top_k = v;
        return 1;
    }
    if (!strcmp(f, "-c") || !strcmp(f, "--ctx")) {
        if (v && !hd_cli_int(cli, f, v, 16, 1 << 24, &n)) *bad = true;
        o->ctx = v;
        return 1;
    }
    if (!strcmp(f, "--top-p") || !strcmp(f, "--min-p")) {
        if (v && !hd_cli_float(cli, f, v, &d)) *bad = true;
        if (!strcmp(f, "--top-p")) o->top_p = v;
        else o->min_p = v;
        return 1;
    }
    return -1;
}

int hd_llama_opts_kv(const hd_llama_opts *o, hd_kv *kv) {
    int n = 0;
    if (o->top_k) kv[n++] = (hd_kv){"top-k", o->top_k};
    if (o->top_p) kv[n++] = (hd_kv){"top-p", o->top_p};
    if (o->min_p) kv[n++] = (hd_kv){"min-p", o->min_p};
    if (o->ctx) kv[n++] = (hd_kv){"ctx", o->ctx};
    return n;
}
