/* graph/node_hooks.h — callbacks an application gives the model nodes (vit,
 * conformer, speech-adapter, llama) for progress lines and live text.
 *
 * The graph delivers a node's packets after its callback returns
 * (graph/node.h), so an answer generated inside one callback reaches the
 * sinks as a burst when it is complete.  An application that wants to show
 * it while it is generated (herd ask) passes hooks through
 * hd_graph_params.user:
 *
 *   hd_node_hooks h = hd_node_hooks_init();
 *   h.text = my_text; h.progress = my_progress; h.ctx = me;
 *   params.user = &h;
 *
 * A node calls them on its own worker thread, so they must be thread-safe
 * when several model nodes run.  hd_graph_params.user must then point to an
 * hd_node_hooks (checked by its magic field) or be NULL; nodes ignore any
 * other pointer.
 */
#ifndef HD_GRAPH_NODE_HOOKS_H
#define HD_GRAPH_NODE_HOOKS_H

#include "node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_NODE_HOOKS_MAGIC 0x6b6f6f68u   /* "hook" */

typedef struct hd_node_hooks {
    uint32_t magic;   /* HD_NODE_HOOKS_MAGIC */
    /* one line of progress (no newline), e.g. "picture 1: 4 tiles encoded in 812 ms" */
    void (*progress)(void *ctx, const char *node, const char *line);
    /* generated text as it is produced (whole UTF-8 characters); end = the
     * answer (segment) is complete, then len may be 0 */
    void (*text)(void *ctx, const char *node, const char *piece, size_t len, bool end);
    /* generated audio as it is produced (the tts node): n_frames at rate Hz */
    void (*audio)(void *ctx, const char *node, int64_t n_frames, int rate);
    void *ctx;
} hd_node_hooks;

hd_node_hooks hd_node_hooks_init(void);   /* magic set, callbacks NULL */

/* The hooks of node's graph, or NULL. */
const hd_node_hooks *hd_node_hooks_of(const hd_node *node);

/* Formats one progress line and hands it to the progress hook (no-op
 * without one). */
void hd_node_progressf(const hd_node *node, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
