/* graph/nodes_misc.c — tee (explicit branch point) and null (discarding sink). */
#include "node.h"


/* tee: passes every packet on; link its output several times to fan out
 * (each consumer gets a reference to the same packet). */
static hd_node_ret tee_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    return hd_node_send(node, 0, hd_packet_ref(in), err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static const hd_port_def any_in[] = {{"in", HD_KINDS_DATA, 0}};
static const hd_port_def tee_out[] = {{"out", HD_KINDS_DATA, HD_PORT_SAME_AS_INPUT}};

const hd_node_type hd_node_tee = {
    .name = "tee",
    .summary = "branch point: every link of its output gets the same packets (by reference)",
    .inputs = any_in,
    .n_inputs = 1,
    .outputs = tee_out,
    .n_outputs = 1,
    .process = tee_process,
};

/* null: consumes everything (the graph's counters say how much). */
static hd_node_ret null_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    return HD_NODE_OK;
}

const hd_node_type hd_node_null = {
    .name = "null",
    .summary = "discards everything it receives",
    .inputs = any_in,
    .n_inputs = 1,
    .process = null_process,
};
