/* graph/nodes_concat.c — concat: joins up to eight streams one after the
 * other (fan-in in input order).
 *
 * Inputs in0..in7 (optional; link at least one) carry one kind of packet,
 * the kind of in0 (the output is "same as input"; a packet of another kind
 * is an error).  Every packet of in0 is passed on, then
 * every packet of in1 once in0 has ended, and so on: e.g. several pictures,
 * each from its own image source, reach one vision encoder in the order the
 * command line named them.  The node asks the graph for the input whose turn
 * it is (select_input), so later inputs wait in their queues; packets the
 * graph hands over early anyway (inputs sharing an upstream node) are held
 * and sent in their turn.
 */
#include "node.h"

#include <stdlib.h>

#define CONCAT_INPUTS 8

typedef struct held {
    hd_packet **p;
    int n, cap;
} held;

typedef struct concat_state {
    int cur;                       /* input whose packets are passed on now */
    bool ended[CONCAT_INPUTS];
    held wait[CONCAT_INPUTS];      /* packets that arrived before their turn */
    int kind;                      /* kind of the first packet, -1 before it */
} concat_state;

static hd_status concat_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)o;
    concat_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    int linked = 0;
    for (int i = 0; i < CONCAT_INPUTS; i++) {
        if (hd_node_input_linked(node, i)) linked++;
        else s->ended[i] = true;   /* unlinked inputs are ended from the start */
    }
    s->kind = -1;
    if (!linked) return hd_error_set(err, HD_ERR_ARG, "no input linked");
    while (s->cur < CONCAT_INPUTS && s->ended[s->cur]) s->cur++;
    return HD_OK;
}

/* Sends the held packets of the inputs whose turn has come. */
static hd_node_ret advance(hd_node *node, concat_state *s, hd_error *err) {
    while (s->cur < CONCAT_INPUTS) {
        held *h = &s->wait[s->cur];
        for (int i = 0; i < h->n; i++) {
            hd_packet *p = h->p[i];
            h->p[i] = NULL;
            if (hd_node_send(node, 0, p, err)) return HD_NODE_ERROR;
        }
        h->n = 0;
        if (!s->ended[s->cur]) break;
        s->cur++;
    }
    return HD_NODE_OK;
}

static hd_node_ret concat_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    concat_state *s = state;
    if (s->kind < 0) s->kind = (int)in->kind;
    if ((int)in->kind != s->kind)
        return hd_error_set(err, HD_ERR_ARG, "in%d: %s packet among %s packets (the inputs must carry one kind)", port,
                            hd_packet_kind_name(in->kind), hd_packet_kind_name((hd_packet_kind)s->kind)),
               HD_NODE_ERROR;
    if (port == s->cur) return hd_node_send(node, 0, hd_packet_ref(in), err) ? HD_NODE_ERROR : HD_NODE_OK;
    held *h = &s->wait[port];
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 8;
        hd_packet **p = realloc(h->p, (size_t)cap * sizeof *p);
        if (!p) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        h->p = p;
        h->cap = cap;
    }
    h->p[h->n++] = hd_packet_ref(in);
    return HD_NODE_AGAIN;
}

static hd_node_ret concat_input_eos(hd_node *node, void *state, int port, hd_error *err) {
    concat_state *s = state;
    s->ended[port] = true;
    return advance(node, s, err);
}

static int concat_select(hd_node *node, void *state) {
    (void)node;
    const concat_state *s = state;
    return s->cur < CONCAT_INPUTS ? s->cur : -1;
}

static void concat_destroy(void *state) {
    concat_state *s = state;
    if (!s) return;
    for (int i = 0; i < CONCAT_INPUTS; i++) {
        for (int k = 0; k < s->wait[i].n; k++) hd_packet_unref(s->wait[i].p[k]);
        free(s->wait[i].p);
    }
    free(s);
}

static const hd_port_def concat_in[CONCAT_INPUTS] = {
    {"in0", HD_KINDS_DATA, HD_PORT_OPTIONAL}, {"in1", HD_KINDS_DATA, HD_PORT_OPTIONAL},
    {"in2", HD_KINDS_DATA, HD_PORT_OPTIONAL}, {"in3", HD_KINDS_DATA, HD_PORT_OPTIONAL},
    {"in4", HD_KINDS_DATA, HD_PORT_OPTIONAL}, {"in5", HD_KINDS_DATA, HD_PORT_OPTIONAL},
    {"in6", HD_KINDS_DATA, HD_PORT_OPTIONAL}, {"in7", HD_KINDS_DATA, HD_PORT_OPTIONAL},
};
static const hd_port_def concat_out[] = {{"out", HD_KINDS_DATA, HD_PORT_SAME_AS_INPUT}};

const hd_node_type hd_node_concat = {
    .name = "concat",
    .summary = "joins up to 8 streams one after the other: all of in0, then in1, ...",
    .inputs = concat_in,
    .n_inputs = CONCAT_INPUTS,
    .outputs = concat_out,
    .n_outputs = 1,
    .create = concat_create,
    .process = concat_process,
    .input_eos = concat_input_eos,
    .select_input = concat_select,
    .destroy = concat_destroy,
};
