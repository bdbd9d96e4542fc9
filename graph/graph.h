/* graph/graph.h — a processing graph: build it, link it, run it.
 *
 *   hd_graph_params p = hd_graph_default_params();
 *   hd_graph *g = hd_graph_create(&p, &err);
 *   int a = hd_graph_add(g, &sine_type, NULL, kv, n_kv, NULL, &err);   // "sine0"
 *   int b = hd_graph_add(g, &wav_type, "out", kv2, n_kv2, NULL, &err);
 *   hd_graph_link(g, a, NULL, b, NULL, &err);     // first compatible ports
 *   hd_graph_run(g, &err);                        // or start / cancel / wait
 *   hd_graph_free(g);
 *
 * Building: hd_graph_add checks options against the type (unknown option,
 * bad value, missing required value) but calls no callback; nothing touches
 * files until hd_graph_start.  hd_graph_link checks packet kinds: every kind
 * the producer's port can emit must be accepted by the consumer's port, else
 * the error names both nodes and ports.  An output may feed several inputs
 * (fan-out by reference); an input takes exactly one link.  Cycles are
 * rejected.
 *
 * Running: one worker thread per node; every link is a bounded queue of
 * `queue_size` packets, so a slow consumer blocks its producer (back-pressure)
 * and memory stays bounded.  Heavy nodes (HD_NODE_HEAVY) run at most
 * `max_heavy` at once and share `pool` for their math.  A node sends its
 * output only after its callback returns, so a heavy node never blocks on a
 * full queue while holding a heavy slot (no deadlock between heavy slots and
 * back-pressure).  End-of-stream flows down every edge; a node ends when all
 * of its inputs have ended, after its flush.  The first error stops the graph
 * and is returned as "node 'NAME': message".  hd_graph_cancel stops every
 * worker promptly (blocked queue operations wake up), flushes the sinks and
 * makes hd_graph_wait return HD_ERR_CANCELLED.
 */
#ifndef HD_GRAPH_H
#define HD_GRAPH_H

#include "node.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_graph hd_graph;

typedef struct hd_graph_params {
    int queue_size;        /* packets per link (default 8, >= 1)              */
    int max_heavy;         /* heavy nodes running at once (default 1, >= 1)   */
    hd_threadpool *pool;   /* borrowed shared compute pool, may be NULL        */
    void *user;            /* given to nodes via hd_node_user                  */
} hd_graph_params;

typedef struct hd_kv {
    const char *key;
    const char *value;
} hd_kv;

/* Per-node counters, filled by hd_graph_stats after (or during) a run. */
typedef struct hd_node_stats {
    const char *name;        /* owned by the graph */
    const char *type;
    int64_t packets_in, packets_out;
    double busy_s;           /* wall time inside callbacks */
    int queue_high;          /* largest fill of any of its input queues */
} hd_node_stats;

hd_graph_params hd_graph_default_params(void);
/* Caller frees with hd_graph_free. */
hd_graph *hd_graph_create(const hd_graph_params *params, hd_error *err);
/* Waits for a running graph (after cancelling it), destroys node states. NULL no-op. */
void hd_graph_free(hd_graph *g);

/* Adds a node; name NULL = type name + per-type index ("resample0").  Returns
 * the node index, or -1 with err set; *bad_kv (if non-NULL) is then the index
 * of the offending option in kv, or -1.  type must outlive the graph. */
int hd_graph_add(hd_graph *g, const hd_node_type *type, const char *name, const hd_kv *kv, int n_kv,
                 int *bad_kv, hd_error *err);
int hd_graph_node_count(const hd_graph *g);
int hd_graph_find(const hd_graph *g, const char *name);     /* index or -1 */
const char *hd_graph_node_name(const hd_graph *g, int node);
const hd_node_type *hd_graph_node_type(const hd_graph *g, int node);

/* Links output port `out_port` of node src to input `in_port` of node dst.
 * NULL port names pick: for the output, the first port whose kinds dst can
 * take; for the input, the first unlinked port that accepts src's kinds. */
hd_status hd_graph_link(hd_graph *g, int src, const char *out_port, int dst, const char *in_port,
                        hd_error *err);
/* Full check without running: inputs linked, kinds, no cycles. */
hd_status hd_graph_validate(hd_graph *g, hd_error *err);

/* Sets the shared compute pool (borrowed; must outlive the run) before start. */
void hd_graph_set_pool(hd_graph *g, hd_threadpool *pool);

/* Validates, creates every node (in order) and starts the workers. */
hd_status hd_graph_start(hd_graph *g, hd_error *err);
/* Asks a started graph to stop; safe from any thread (not from a signal
 * handler).  Idempotent. */
void hd_graph_cancel(hd_graph *g);
/* True once every worker has finished (hd_graph_wait then returns at once). */
bool hd_graph_done(hd_graph *g);
/* Waits for the workers; returns HD_OK, the first node error, or
 * HD_ERR_CANCELLED. */
hd_status hd_graph_wait(hd_graph *g, hd_error *err);
/* start + wait. */
hd_status hd_graph_run(hd_graph *g, hd_error *err);

/* Copies per-node counters into out[0 .. min(n, node count)); returns the count. */
int hd_graph_stats(hd_graph *g, hd_node_stats *out, int n);

#ifdef __cplusplus
}
#endif
#endif
