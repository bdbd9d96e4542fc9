/* apps/llama_opts.h — the llama node's sampling and context flags, parsed and
 * handed on the same way by every command that builds a llama node
 * (herd ask, herd caption): --top-k N, --top-p P, --min-p P, -c/--ctx N. */
#ifndef HD_APPS_LLAMA_OPTS_H
#define HD_APPS_LLAMA_OPTS_H

#include "cli.h"
#include "graph/graph.h"

#include <stdbool.h>

typedef struct hd_llama_opts {
    const char *top_k, *top_p, *min_p, *ctx;   /* as given, NULL = the node's default */
} hd_llama_opts;

/* One of the flags above: 1 (its value consumed; *bad set and a usage line
 * printed when the value is invalid), or -1 when f is not one of them. */
int hd_llama_opts_flag(const hd_cli *cli, hd_llama_opts *o, const char *f, const char *v, bool *bad);
/* Appends the given ones to kv as llama node options; returns how many (≤ 4). */
int hd_llama_opts_kv(const hd_llama_opts *o, hd_kv *kv);

#endif
