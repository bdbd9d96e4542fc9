/* graph/node.h — node types: named typed ports, options, callbacks.
 *
 * A node type is a static description (hd_node_type) plus four callbacks.
 * The graph calls them from one worker thread per node instance:
 *
 *   create(node, opts, &state, err)   once, before any data flows (on the
 *                                     thread that starts the graph)
 *   process(node, state, port, in, err)
 *                                     once per input packet (port = input
 *                                     port index, `in` BORROWED: the graph
 *                                     drops its reference after the call; take
 *                                     hd_packet_ref to keep it).  A source (no
 *                                     input ports) is called with port -1 and
 *                                     in == NULL, again and again, and
 *                                     produces one chunk per call.
 *   input_eos(node, state, port, err) (optional) when one input ends
 *   flush(node, state, err)           once, after every input has reached
 *                                     end-of-stream (or the source returned
 *                                     HD_NODE_EOS): emit what is buffered and
 *                                     finish files.  On cancellation or error
 *                                     only sinks (nodes without outputs) are
 *                                     flushed, so files they write are valid.
 *   destroy(state)                    once, when the graph is freed (also
 *                                     after a failed create: state may be
 *                                     NULL, and destroy(NULL) must be a no-op)
 *
 * Output: hd_node_send(node, port, pkt) hands ONE reference of pkt to the
 * graph, which delivers it to every consumer linked to that output port
 * (fan-out by reference, no copies) once the callback returns.  Unlinked
 * outputs drop packets.  End-of-stream packets are sent by the graph, never
 * by the node.
 *
 * process results (EAGAIN-style, not errors):
 *   HD_NODE_OK     input consumed (output may have been sent)
 *   HD_NODE_AGAIN  input consumed, need more input before output can come;
 *                  for a source: nothing available now, call again shortly
 *   HD_NODE_EOS    this node will produce nothing more (a source at the end
 *                  of its data, or a filter that is done); the graph stops
 *                  feeding it, flushes it and ends its outputs
 *   HD_NODE_ERROR  failure, err set; the graph stops and reports
 *                  "node 'NAME': message"
 *
 * In-band errors: a node may send an HD_PKT_ERROR packet (e.g. one corrupt
 * frame it skipped).  A consumer whose input port lists HD_PKT_ERROR gets it
 * in process like any packet; any other consumer stops the graph with the
 * packet's message, reported under the name of the node that sent it.
 *
 * Heavy nodes (HD_NODE_HEAVY: model components) run their math on the
 * graph's shared thread pool (hd_node_pool) and the graph lets at most
 * `max_heavy` of them be inside a callback at once, so the cores are not
 * oversubscribed.  Light nodes do little work per packet and run freely.
 */
#ifndef HD_NODE_H
#define HD_NODE_H

#include "packet.h"

#include "core/threadpool.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_node hd_node;   /* one instance in a graph; owned by the graph */

typedef enum hd_node_ret { HD_NODE_OK = 0, HD_NODE_AGAIN, HD_NODE_EOS, HD_NODE_ERROR } hd_node_ret;

/* ---- ports -------------------------------------------------------------- */

#define HD_PORT_SAME_AS_INPUT 1u   /* output: carries whatever input 0 receives */
#define HD_PORT_OPTIONAL 2u        /* input: may stay unlinked (then it is ended from the start) */

typedef struct hd_port_def {
    const char *name;     /* "in", "out", "audio", ...                           */
    uint32_t kinds;       /* accepted/produced kinds: HD_KIND_BIT(HD_PKT_AUDIO)... */
    unsigned flags;       /* HD_PORT_SAME_AS_INPUT, HD_PORT_OPTIONAL              */
} hd_port_def;

/* ---- options ------------------------------------------------------------ */

typedef enum hd_opt_type { HD_OPT_INT = 0, HD_OPT_FLOAT, HD_OPT_BOOL, HD_OPT_STRING } hd_opt_type;

typedef struct hd_option_def {
    const char *name;     /* key in "key=value"                                 */
    hd_opt_type type;
    const char *def;      /* default as text ("16000", "0.5", "true", "s16"); NULL = required */
    const char *help;     /* one line                                           */
    double min, max;      /* INT/FLOAT range when min < max                     */
    const char *choices;  /* STRING: allowed values "s16|f32", or NULL = any     */
} hd_option_def;

/* Parsed option values of one node, in the order of the type's options.
 * Owned by the graph; valid until the graph is freed. */
typedef struct hd_node_opts hd_node_opts;
int64_t hd_opt_int(const hd_node_opts *o, const char *name);
double hd_opt_float(const hd_node_opts *o, const char *name);
bool hd_opt_bool(const hd_node_opts *o, const char *name);
const char *hd_opt_str(const hd_node_opts *o, const char *name);  /* never NULL */
bool hd_opt_is_set(const hd_node_opts *o, const char *name);      /* given explicitly */
const char *hd_opt_type_name(hd_opt_type t);                     /* "integer", ... */

/* ---- the type ----------------------------------------------------------- */

#define HD_NODE_HEAVY 1u   /* compute-heavy: counts against max_heavy, uses the pool */

typedef struct hd_node_type {
    const char *name;          /* "resample"                                 */
    const char *summary;       /* one line for `herd run --list`            */
    const hd_port_def *inputs;
    int n_inputs;
    const hd_port_def *outputs;
    int n_outputs;
    const hd_option_def *options;
    int n_options;
    const char *arg_option;    /* option set by the "type:ARG" shorthand, or NULL */
    unsigned flags;            /* HD_NODE_HEAVY                              */

    hd_status (*create)(hd_node *node, const hd_node_opts *opts, void **state, hd_error *err);
    hd_node_ret (*process)(hd_node *node, void *state, int port, hd_packet *in, hd_error *err);
    hd_status (*flush)(hd_node *node, void *state, hd_error *err);   /* may be NULL */
    /* Optional: input `port` reached end-of-stream while others may still run
     * (fan-in nodes use it; flush still follows once all inputs ended). */
    hd_node_ret (*input_eos)(hd_node *node, void *state, int port, hd_error *err);
    /* Optional: the input to take the next packet from, or -1 for any (the
     * graph then round-robins).  Called on the node's thread before each
     * wait.  Lets a fan-in node read the input that is behind, so the others
     * stay under back-pressure instead of piling up in the node. */
    int (*select_input)(hd_node *node, void *state);
    void (*destroy)(void *state);                                    /* may be NULL */
} hd_node_type;

#define HD_COUNTOF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- what callbacks may call --------------------------------------------- */

const char *hd_node_name(const hd_node *node);
const hd_node_type *hd_node_get_type(const hd_node *node);
/* Queues pkt (one reference, taken over even on error) for output `port`. */
hd_status hd_node_send(hd_node *node, int port, hd_packet *pkt, hd_error *err);
/* Delivers what the running callback has sent so far now rather than when
 * it returns, for a long callback that streams (a language model's pieces).
 * Waits while a consumer's queue is full; a heavy node gives its heavy slot
 * back during that wait and takes it again after. */
void hd_node_deliver_now(hd_node *node);
/* Whether input `port` is linked (an HD_PORT_OPTIONAL input may not be). */
bool hd_node_input_linked(const hd_node *node, int port);
/* True once the graph is being cancelled or has failed: long callbacks poll it. */
bool hd_node_cancelled(const hd_node *node);
/* The graph's shared compute pool (borrowed; may be NULL = run serially). */
hd_threadpool *hd_node_pool(const hd_node *node);
/* Opaque pointer given in hd_graph_params.user (e.g. loaded models). */
void *hd_node_user(const hd_node *node);

#ifdef __cplusplus
}
#endif
#endif
