/* graph/node_hooks.c — progress and live-text callbacks for model nodes. */
#include "node_hooks.h"

#include <stdarg.h>
#include <stdio.h>

hd_node_hooks hd_node_hooks_init(void) { return (hd_node_hooks){.magic = HD_NODE_HOOKS_MAGIC}; }

const hd_node_hooks *hd_node_hooks_of(const hd_node *node) {
    const hd_node_hooks *h = node ? hd_node_user(node) : NULL;
    return h && h->magic == HD_NODE_HOOKS_MAGIC ? h : NULL;
}

void hd_node_progressf(const hd_node *node, const char *fmt, ...) {
    const hd_node_hooks *h = hd_node_hooks_of(node);
    if (!h || !h->progress) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h->progress(h->ctx, hd_node_name(node), line);
}
