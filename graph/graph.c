/* graph/graph.c — building a graph: nodes, options, links, kind checks,
 * validation.  Running it is sched.c. */
#include "graph_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HD_NAME_MAX 64

hd_graph_params hd_graph_default_params(void) {
    hd_graph_params p;
    memset(&p, 0, sizeof p);
    p.queue_size = 8;
    p.max_heavy = 1;
    return p;
}

hd_graph *hd_graph_create(const hd_graph_params *params, hd_error *err) {
    hd_graph_params p = params ? *params : hd_graph_default_params();
    if (p.queue_size < 1 || p.queue_size > 1 << 20) {
        hd_error_set(err, HD_ERR_ARG, "graph: queue size %d out of range [1, %d]", p.queue_size, 1 << 20);
        return NULL;
    }
    if (p.max_heavy < 1) {
        hd_error_set(err, HD_ERR_ARG, "graph: max_heavy must be >= 1, got %d", p.max_heavy);
        return NULL;
    }
    hd_graph *g = calloc(1, sizeof *g);
    if (!g) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    g->p = p;
    if (pthread_mutex_init(&g->mu, NULL) || pthread_cond_init(&g->cv, NULL)) {
        free(g);
        hd_error_set(err, HD_ERR_INTERNAL, "graph: cannot create a mutex");
        return NULL;
    }
    g->sync_init = true;
    atomic_init(&g->stop, false);
    return g;
}

static void node_free(hd_node *n) {
    if (!n) return;
    if (n->created && n->type->destroy) n->type->destroy(n->state);
    for (int i = 0; i < n->type->n_inputs; i++) hd_queue_free(&n->in[i].q);
    for (int i = 0; i < n->type->n_outputs; i++) free(n->out[i].targets);
    for (int i = 0; i < n->n_outbox; i++) hd_packet_unref(n->outbox[i].pkt);
    free(n->outbox);
    free(n->in);
    free(n->out);
    hd_opts_free(&n->opts);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv_data);
    pthread_cond_destroy(&n->cv_space);
    free(n->name);
    free(n);
}

void hd_graph_free(hd_graph *g) {
    if (!g) return;
    if (g->started && !g->joined) {
        hd_graph_cancel(g);
        hd_graph_wait(g, NULL);
    }
    for (int i = 0; i < g->n_nodes; i++) node_free(g->nodes[i]);
    free(g->nodes);
    if (g->sync_init) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
    }
    free(g);
}

static bool valid_name(const char *s) {
    if (!*s || strlen(s) >= HD_NAME_MAX) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

int hd_graph_find(const hd_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0) return i;
    return -1;
}

void hd_graph_set_pool(hd_graph *g, hd_threadpool *pool) {
    if (!g->started) g->p.pool = pool;
}

int hd_graph_node_count(const hd_graph *g) { return g->n_nodes; }

const char *hd_graph_node_name(const hd_graph *g, int node) {
    return node >= 0 && node < g->n_nodes ? g->nodes[node]->name : NULL;
}

const hd_node_type *hd_graph_node_type(const hd_graph *g, int node) {
    return node >= 0 && node < g->n_nodes ? g->nodes[node]->type : NULL;
}

int hd_graph_add(hd_graph *g, const hd_node_type *type, const char *name, const hd_kv *kv, int n_kv,
                 int *bad_kv, hd_error *err) {
    if (bad_kv) *bad_kv = -1;
    if (g->started) {
        hd_error_set(err, HD_ERR_ARG, "graph: cannot add a node to a started graph");
        return -1;
    }
    if (!type || !type->name || !type->process || type->n_inputs < 0 || type->n_outputs < 0 ||
        (type->n_inputs && !type->inputs) || (type->n_outputs && !type->outputs)) {
        hd_error_set(err, HD_ERR_ARG, "graph: incomplete node type '%s'", type && type->name ? type->name : "?");
        return -1;
    }
    char auto_name[HD_NAME_MAX + 16];
    if (name) {
        if (!valid_name(name)) {
            hd_error_set(err, HD_ERR_ARG, "bad node name '%s' (letters, digits, '_' and '-', at most %d)", name,
                         HD_NAME_MAX - 1);
            return -1;
        }
        if (hd_graph_find(g, name) >= 0) {
            hd_error_set(err, HD_ERR_ARG, "node name '%s' is used twice", name);
            return -1;
        }
    } else {
        /* type name + the first free per-type index */
        for (int k = 0;; k++) {
            snprintf(auto_name, sizeof auto_name, "%s%d", type->name, k);
            if (hd_graph_find(g, auto_name) < 0) break;
        }
        name = auto_name;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 8;
        hd_node **nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            hd_error_set(err, HD_ERR_NOMEM, "out of memory");
            return -1;
        }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    hd_node *n = calloc(1, sizeof *n);
    if (!n) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return -1;
    }
    n->g = g;
    n->type = type;
    n->index = g->n_nodes;
    n->name = strdup(name);
    n->in = calloc((size_t)type->n_inputs + 1, sizeof *n->in);
    n->out = calloc((size_t)type->n_outputs + 1, sizeof *n->out);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv_data, NULL);
    pthread_cond_init(&n->cv_space, NULL);
    if (!n->name || !n->in || !n->out) {
        node_free(n);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (hd_opts_parse(&n->opts, type, kv, n_kv, bad_kv, err)) {
        hd_error_prefix(err, "node '%s' (%s)", n->name, type->name);
        node_free(n);
        return -1;
    }
    for (int i = 0; i < type->n_inputs; i++) {
        if (hd_queue_init(&n->in[i].q, g->p.queue_size, err)) {
            node_free(n);
            return -1;
        }
    }
    g->nodes[g->n_nodes++] = n;
    return n->index;
}

/* ---- kinds --------------------------------------------------------------- */

static uint32_t out_kinds(const hd_node *n, int port, bool *resolved, int depth) {
    const hd_port_def *pd = &n->type->outputs[port];
    if (!(pd->flags & HD_PORT_SAME_AS_INPUT)) return pd->kinds;
    if (depth > 256 || n->type->n_inputs == 0 || !n->in[0].src) {
        *resolved = false;
        return pd->kinds;
    }
    return out_kinds(n->in[0].src, n->in[0].src_port, resolved, depth + 1);
}

uint32_t hd_graph_out_kinds(const hd_node *n, int port, bool *resolved) {
    *resolved = true;
    return out_kinds(n, port, resolved, 0);
}

/* Data kinds the producer may emit that the consumer does not take.  Control
 * kinds (EOS, error) are handled by the graph and never make a mismatch. */
static uint32_t missing_kinds(uint32_t out, uint32_t in) { return (out & HD_KINDS_DATA) & ~in; }

static hd_status kinds_error(const hd_node *s, int sp, const hd_node *d, int dp, uint32_t ok, hd_error *err) {
    char a[96], b[96];
    hd_kinds_text(ok, a, sizeof a);
    hd_kinds_text(d->type->inputs[dp].kinds, b, sizeof b);
    return hd_error_set(err, HD_ERR_ARG, "cannot link '%s'.%s (%s) to '%s'.%s (%s): packet kinds do not match",
                        s->name, s->type->outputs[sp].name, a, d->name, d->type->inputs[dp].name, b);
}

static int find_port(const hd_port_def *ports, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(ports[i].name, name) == 0) return i;
    return -1;
}

static hd_status port_list_error(const hd_node *n, bool input, const char *name, hd_error *err) {
    const hd_port_def *p = input ? n->type->inputs : n->type->outputs;
    int cnt = input ? n->type->n_inputs : n->type->n_outputs;
    char list[256];
    size_t l = 0;
    list[0] = 0;
    for (int i = 0; i < cnt && l < sizeof list; i++)
        l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", p[i].name);
    return hd_error_set(err, HD_ERR_NOTFOUND, "node '%s' (%s) has no %s port '%s' (%s: %s)", n->name, n->type->name,
                        input ? "input" : "output", name, input ? "inputs" : "outputs", cnt ? list : "none");
}

hd_status hd_graph_link(hd_graph *g, int src, const char *out_port, int dst, const char *in_port, hd_error *err) {
    if (g->started) return hd_error_set(err, HD_ERR_ARG, "graph: cannot link in a started graph");
    if (src < 0 || src >= g->n_nodes || dst < 0 || dst >= g->n_nodes)
        return hd_error_set(err, HD_ERR_ARG, "graph: link between unknown nodes %d and %d", src, dst);
    hd_node *s = g->nodes[src], *d = g->nodes[dst];
    if (s == d) return hd_error_set(err, HD_ERR_ARG, "cannot link node '%s' to itself", s->name);
    if (s->type->n_outputs == 0)
        return hd_error_set(err, HD_ERR_ARG, "cannot link from '%s': %s is a sink and has no outputs", s->name,
                            s->type->name);
    if (d->type->n_inputs == 0)
        return hd_error_set(err, HD_ERR_ARG, "cannot link to '%s': %s is a source and has no inputs", d->name,
                            d->type->name);
    int sp = -1, dp = -1;
    if (out_port) {
        sp = find_port(s->type->outputs, s->type->n_outputs, out_port);
        if (sp < 0) return port_list_error(s, false, out_port, err);
    }
    if (in_port) {
        dp = find_port(d->type->inputs, d->type->n_inputs, in_port);
        if (dp < 0) return port_list_error(d, true, in_port, err);
        if (d->in[dp].src)
            return hd_error_set(err, HD_ERR_ARG, "input '%s'.%s is already linked from '%s'", d->name,
                                d->type->inputs[dp].name, d->in[dp].src->name);
    }
    /* pick ports: a compatible pair first, else the first candidates (and the
     * kind check below reports the mismatch) */
    if (sp < 0 || dp < 0) {
        int best_s = -1, best_d = -1;
        for (int i = 0; i < s->type->n_outputs && best_s < 0; i++) {
            if (sp >= 0 && i != sp) continue;
            bool r;
            uint32_t k = hd_graph_out_kinds(s, i, &r);
            for (int j = 0; j < d->type->n_inputs; j++) {
                if ((dp >= 0 && j != dp) || d->in[j].src) continue;
                if (!r || !missing_kinds(k, d->type->inputs[j].kinds)) {
                    best_s = i;
                    best_d = j;
                    break;
                }
            }
        }
        if (best_s < 0) {
            best_s = sp >= 0 ? sp : 0;
            if (dp >= 0) best_d = dp;
            else
                for (int j = 0; j < d->type->n_inputs && best_d < 0; j++)
                    if (!d->in[j].src) best_d = j;
            if (best_d < 0)
                return hd_error_set(err, HD_ERR_ARG, "cannot link '%s' to '%s': all %d input(s) of '%s' are linked",
                                    s->name, d->name, d->type->n_inputs, d->name);
        }
        sp = best_s;
        dp = best_d;
    }
    bool resolved;
    uint32_t k = hd_graph_out_kinds(s, sp, &resolved);
    if (resolved && missing_kinds(k, d->type->inputs[dp].kinds)) return kinds_error(s, sp, d, dp, k, err);

    hd_out_port *op = &s->out[sp];
    if (op->n_targets < 0 || op->n_targets >= 4096)
        return hd_error_set(err, HD_ERR_ARG, "output '%s'.%s has too many links", s->name, s->type->outputs[sp].name);
    size_t nt = (size_t)op->n_targets + 1;
    hd_target *t = realloc(op->targets, nt * sizeof *t);
    if (!t) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    op->targets = t;
    op->targets[op->n_targets].dst = d;
    op->targets[op->n_targets].port = dp;
    op->n_targets++;
    d->in[dp].src = s;
    d->in[dp].src_port = sp;
    return HD_OK;
}

/* 0 = unvisited, 1 = on the DFS stack, 2 = done */
static bool has_cycle(hd_node *n, unsigned char *mark, hd_node **at) {
    mark[n->index] = 1;
    for (int p = 0; p < n->type->n_outputs; p++) {
        for (int t = 0; t < n->out[p].n_targets; t++) {
            hd_node *d = n->out[p].targets[t].dst;
            if (mark[d->index] == 1) {
                *at = d;
                return true;
            }
            if (mark[d->index] == 0 && has_cycle(d, mark, at)) return true;
        }
    }
    mark[n->index] = 2;
    return false;
}

hd_status hd_graph_validate(hd_graph *g, hd_error *err) {
    if (g->n_nodes == 0) return hd_error_set(err, HD_ERR_ARG, "graph: no nodes");
    for (int i = 0; i < g->n_nodes; i++) {
        hd_node *n = g->nodes[i];
        for (int p = 0; p < n->type->n_inputs; p++) {
            if (!n->in[p].src && !(n->type->inputs[p].flags & HD_PORT_OPTIONAL))
                return hd_error_set(err, HD_ERR_ARG, "input '%s'.%s is not linked", n->name, n->type->inputs[p].name);
        }
    }
    unsigned char *mark = calloc((unsigned)g->n_nodes, 1);
    if (!mark) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    hd_node *at = NULL;
    bool cyc = false;
    for (int i = 0; i < g->n_nodes && !cyc; i++)
        if (!mark[i]) cyc = has_cycle(g->nodes[i], mark, &at);
    free(mark);
    if (cyc) return hd_error_set(err, HD_ERR_ARG, "graph has a cycle through node '%s'", at->name);
    /* kinds again, now that every SAME_AS_INPUT port resolves */
    for (int i = 0; i < g->n_nodes; i++) {
        hd_node *d = g->nodes[i];
        for (int p = 0; p < d->type->n_inputs; p++) {
            hd_node *s = d->in[p].src;
            if (!s) continue;   /* an optional input left unlinked */
            bool r;
            uint32_t k = hd_graph_out_kinds(s, d->in[p].src_port, &r);
            if (missing_kinds(k, d->type->inputs[p].kinds)) return kinds_error(s, d->in[p].src_port, d, p, k, err);
        }
    }
    return HD_OK;
}

/* ---- what callbacks may call ---------------------------------------------- */

const char *hd_node_name(const hd_node *n) { return n->name; }
const hd_node_type *hd_node_get_type(const hd_node *n) { return n->type; }
bool hd_node_input_linked(const hd_node *n, int port) {
    return port >= 0 && port < n->type->n_inputs && n->in[port].src != NULL;
}
bool hd_node_cancelled(const hd_node *n) { return atomic_load(&n->g->stop); }
hd_threadpool *hd_node_pool(const hd_node *n) { return n->g->p.pool; }
void *hd_node_user(const hd_node *n) { return n->g->p.user; }

hd_status hd_node_send(hd_node *n, int port, hd_packet *pkt, hd_error *err) {
    if (!pkt) return hd_error_set(err, HD_ERR_ARG, "node '%s': sent a NULL packet", n->name);
    if (port < 0 || port >= n->type->n_outputs) {
        hd_packet_unref(pkt);
        return hd_error_set(err, HD_ERR_INTERNAL, "node '%s': sent on output %d of %d", n->name, port,
                            n->type->n_outputs);
    }
    const hd_port_def *pd = &n->type->outputs[port];
    uint32_t bit = HD_KIND_BIT(pkt->kind);
    if (pkt->kind == HD_PKT_EOS || (pkt->kind != HD_PKT_ERROR && !(pd->flags & HD_PORT_SAME_AS_INPUT) && !(pd->kinds & bit))) {
        hd_status st = hd_error_set(err, HD_ERR_INTERNAL, "node '%s': sent a %s packet on output '%s'", n->name,
                                    hd_packet_kind_name(pkt->kind), pd->name);
        hd_packet_unref(pkt);
        return st;
    }
    if (n->n_outbox == n->cap_outbox) {
        int cap = n->cap_outbox ? 2 * n->cap_outbox : 8;
        hd_pending *ob = realloc(n->outbox, (size_t)cap * sizeof *ob);
        if (!ob) {
            hd_packet_unref(pkt);
            return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        }
        n->outbox = ob;
        n->cap_outbox = cap;
    }
    n->outbox[n->n_outbox].port = port;
    n->outbox[n->n_outbox].pkt = pkt;
    n->n_outbox++;
    return HD_OK;
}

int hd_graph_stats(hd_graph *g, hd_node_stats *out, int n) {
    int c = 0;
    for (int i = 0; i < g->n_nodes && c < n; i++, c++) {
        hd_node *nd = g->nodes[i];
        out[c].name = nd->name;
        out[c].type = nd->type->name;
        out[c].packets_in = atomic_load(&nd->packets_in);
        out[c].packets_out = atomic_load(&nd->packets_out);
        out[c].busy_s = (double)atomic_load(&nd->busy_ns) * 1e-9;
        pthread_mutex_lock(&nd->mu);
        int high = 0;
        for (int p = 0; p < nd->type->n_inputs; p++)
            if (nd->in[p].q.high > high) high = nd->in[p].q.high;
        pthread_mutex_unlock(&nd->mu);
        out[c].queue_high = high;
    }
    return c;
}
