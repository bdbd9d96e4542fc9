/* graph/graph_impl.h — internals shared by graph.c (building, checking),
 * sched.c (workers), queue.c and options.c.  Not installed API. */
#ifndef HD_GRAPH_IMPL_H
#define HD_GRAPH_IMPL_H

#include "graph.h"

#include <pthread.h>
#include <stdatomic.h>

/* Bounded FIFO of packet references.  Not synchronized itself: a queue is an
 * input of one node and is guarded by that node's mutex. */
typedef struct hd_queue {
    hd_packet **buf;   /* [cap] ring */
    int cap, head, count;
    int high;          /* largest count seen */
} hd_queue;

hd_status hd_queue_init(hd_queue *q, int cap, hd_error *err);
void hd_queue_free(hd_queue *q);                 /* drops the references still queued */
bool hd_queue_push(hd_queue *q, hd_packet *p);   /* false when full (p not taken)      */
hd_packet *hd_queue_pop(hd_queue *q);            /* NULL when empty                    */
void hd_queue_clear(hd_queue *q);                /* drops every queued reference       */

/* Parsed options (options.c). */
typedef struct hd_opt_val {
    bool set;          /* given explicitly */
    int64_t i;
    double f;
    bool b;
    char *s;           /* owned; the text for STRING, NULL otherwise */
} hd_opt_val;

struct hd_node_opts {
    const hd_node_type *type;
    hd_opt_val *v;     /* [type->n_options] */
};

/* Fills o from kv (unknown keys, bad values, missing required → error naming
 * the option; *bad_kv = index into kv or -1). */
hd_status hd_opts_parse(hd_node_opts *o, const hd_node_type *type, const hd_kv *kv, int n_kv, int *bad_kv,
                        hd_error *err);
void hd_opts_free(hd_node_opts *o);

typedef struct hd_target {
    struct hd_node *dst;
    int port;
} hd_target;

typedef struct hd_in_port {
    struct hd_node *src;   /* NULL while unlinked */
    int src_port;
    hd_queue q;
    bool ended;            /* EOS seen */
} hd_in_port;

typedef struct hd_out_port {
    hd_target *targets;    /* [n_targets] */
    int n_targets;
} hd_out_port;

typedef struct hd_pending {
    int port;
    hd_packet *pkt;
} hd_pending;

struct hd_node {
    struct hd_graph *g;
    const hd_node_type *type;
    char *name;
    int index;
    hd_node_opts opts;
    void *state;
    bool created;

    hd_in_port *in;        /* [type->n_inputs]  */
    hd_out_port *out;      /* [type->n_outputs] */

    /* Guarded by mu: the input queues, ended flags, consumer_done. */
    pthread_mutex_t mu;
    pthread_cond_t cv_data;   /* consumer waits for a packet      */
    pthread_cond_t cv_space;  /* producers wait for queue space   */
    bool consumer_done;       /* takes no more input: pushes are dropped */
    int n_ended;
    int rr;                   /* round-robin start among inputs   */
    bool strict_select;       /* wait for the preferred input even when others are full */

    hd_pending *outbox;       /* sent during the current callback */
    bool holds_slot;          /* the running callback holds a heavy slot */
    int n_outbox, cap_outbox;

    pthread_t thread;
    bool thread_started;

    /* counters, written by the node's own worker, read after the run */
    _Atomic int64_t packets_in, packets_out;
    _Atomic int64_t busy_ns;
};

struct hd_graph {
    hd_graph_params p;
    struct hd_node **nodes;
    int n_nodes, cap_nodes;

    pthread_mutex_t mu;       /* heavy slots, running count, first error */
    pthread_cond_t cv;
    int heavy_free;
    int n_running;
    atomic_bool stop;         /* cancelled or failed */
    bool cancelled, failed;
    hd_error first_err;
    bool started, joined;
    bool start_failed;        /* a create failed: the graph cannot run */
    bool sync_init;
};

/* Effective kinds an output port emits (resolving HD_PORT_SAME_AS_INPUT
 * through the links); *resolved = false if it depends on an unlinked input. */
uint32_t hd_graph_out_kinds(const struct hd_node *n, int port, bool *resolved);

#endif
