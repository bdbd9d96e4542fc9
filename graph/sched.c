/* graph/sched.c — running a graph: one worker thread per node, bounded
 * queues with back-pressure, heavy-node slots, end-of-stream, errors and
 * cancellation.
 *
 * Locking: each node's mutex guards its input queues (producers push under
 * the consumer's mutex).  The graph mutex guards heavy slots, the running
 * count and the first error.  No thread holds two mutexes at once.  Every
 * wait re-checks g->stop, and hd_graph_cancel broadcasts every condition
 * variable under its mutex after setting stop, so no wake-up is lost.
 *
 * Deadlock freedom: a node's outputs are delivered after its callback
 * returns and after any heavy slot is released, so a thread blocked on a full
 * queue holds nothing another node needs; the graph is acyclic, so the most
 * downstream blocked producer's consumer can always make progress.  A
 * consumer that stops early (HD_NODE_EOS, error) marks itself done and its
 * producers then drop packets instead of blocking.
 */
#include "graph_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool stopped(hd_graph *g) { return atomic_load(&g->stop); }

/* Wakes every waiting thread (after stop was set). */
static void wake_all(hd_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        hd_node *n = g->nodes[i];
        pthread_mutex_lock(&n->mu);
        pthread_cond_broadcast(&n->cv_data);
        pthread_cond_broadcast(&n->cv_space);
        pthread_mutex_unlock(&n->mu);
    }
    pthread_mutex_lock(&g->mu);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void hd_graph_cancel(hd_graph *g) {
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    if (!g->failed) g->cancelled = true;
    atomic_store(&g->stop, true);
    pthread_mutex_unlock(&g->mu);
    wake_all(g);
}

/* Records the first failure as "node 'NAME': message" and stops the graph. */
static void fail(hd_node *n, const hd_error *e) {
    hd_graph *g = n->g;
    pthread_mutex_lock(&g->mu);
    bool first = !g->failed && !g->cancelled;
    if (first) {
        g->failed = true;
        hd_error_set(&g->first_err, e->code ? e->code : HD_ERR_INTERNAL, "node '%s': %s", n->name,
                     e->msg[0] ? e->msg : hd_status_name(e->code));
    }
    atomic_store(&g->stop, true);
    pthread_mutex_unlock(&g->mu);
    if (first) wake_all(g);
}

/* ---- heavy slots ------------------------------------------------------------ */

/* Returns true if a slot was taken (release it); false when stopping (the
 * callback then runs without one: shutdown work is short). */
static bool heavy_acquire(hd_graph *g) {
    pthread_mutex_lock(&g->mu);
    while (g->heavy_free == 0 && !stopped(g)) pthread_cond_wait(&g->cv, &g->mu);
    bool took = g->heavy_free > 0;
    if (took) g->heavy_free--;
    pthread_mutex_unlock(&g->mu);
    return took;
}

static void heavy_release(hd_graph *g) {
    pthread_mutex_lock(&g->mu);
    g->heavy_free++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ---- queues ----------------------------------------------------------------- */

/* Pushes p (one reference, taken) into dst's input port, waiting for space.
 * Drops it if the consumer is done or the graph stops. */
static void push(hd_node *dst, int port, hd_packet *p) {
    hd_graph *g = dst->g;
    pthread_mutex_lock(&dst->mu);
    hd_queue *q = &dst->in[port].q;
    while (!dst->consumer_done && !stopped(g) && q->count >= q->cap) pthread_cond_wait(&dst->cv_space, &dst->mu);
    if (dst->consumer_done || stopped(g)) {
        pthread_mutex_unlock(&dst->mu);
        hd_packet_unref(p);
        return;
    }
    hd_queue_push(q, p);
    pthread_cond_signal(&dst->cv_data);
    pthread_mutex_unlock(&dst->mu);
}

/* Pops input i (under n->mu, which it releases); marks the port ended on EOS. */
static hd_packet *take(hd_node *n, int i, int *port) {
    hd_packet *p = hd_queue_pop(&n->in[i].q);
    n->rr = (i + 1) % n->type->n_inputs;
    if (p->kind == HD_PKT_EOS) {
        n->in[i].ended = true;
        n->n_ended++;
    }
    pthread_cond_broadcast(&n->cv_space);
    pthread_mutex_unlock(&n->mu);
    *port = i;
    return p;
}

/* Next packet: from the input the node prefers (select_input) if it has one
 * running, else round-robin among the non-empty queues.  Waiting for the
 * preferred input keeps back-pressure on the others (a fan-in node does not
 * buffer a fast input while a slow one catches up).  When the inputs share
 * an upstream node (a diamond: tee -> two branches -> join), strict waiting
 * could deadlock, since the shared node may be blocked on the full queue of
 * another input; then a full queue of another input is taken instead.
 * NULL when every input has ended or the graph stops. */
static hd_packet *pop_any(hd_node *n, int *port) {
    hd_graph *g = n->g;
    int ni = n->type->n_inputs;
    int pref = n->type->select_input ? n->type->select_input(n, n->state) : -1;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        if (stopped(g)) break;
        if (pref >= 0 && pref < ni && !n->in[pref].ended) {
            if (n->in[pref].q.count) return take(n, pref, port);
            if (!n->strict_select)
                for (int i = 0; i < ni; i++)
                    if (i != pref && n->in[i].q.count >= n->in[i].q.cap) return take(n, i, port);
            pthread_cond_wait(&n->cv_data, &n->mu);
            continue;
        }
        for (int k = 0; k < ni; k++) {
            int i = (n->rr + k) % ni;
            if (n->in[i].q.count) return take(n, i, port);
        }
        if (n->n_ended >= ni) break;
        pthread_cond_wait(&n->cv_data, &n->mu);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* Marks every node upstream of n (n included) in mark[]. */
static void mark_upstream(hd_node *n, unsigned char *mark) {
    if (mark[n->index]) return;
    mark[n->index] = 1;
    for (int i = 0; i < n->type->n_inputs; i++)
        if (n->in[i].src) mark_upstream(n->in[i].src, mark);
}

/* Strict input preference is safe when no two inputs share an upstream node. */
static hd_status decide_strict(hd_graph *g, hd_node *n, hd_error *err) {
    n->strict_select = true;
    int ni = n->type->n_inputs, nn = g->n_nodes;
    unsigned char *marks = calloc((size_t)ni * (unsigned)nn, 1);
    if (!marks) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ni; i++)
        if (n->in[i].src) mark_upstream(n->in[i].src, marks + (size_t)i * nn);
    for (int i = 0; i < ni && n->strict_select; i++)
        for (int j = i + 1; j < ni && n->strict_select; j++)
            for (int k = 0; k < nn; k++)
                if (marks[(size_t)i * nn + k] && marks[(size_t)j * nn + k]) {
                    n->strict_select = false;
                    break;
                }
    free(marks);
    return HD_OK;
}

/* The node takes no more input: drop what is queued, unblock producers. */
static void consumer_finish(hd_node *n) {
    pthread_mutex_lock(&n->mu);
    n->consumer_done = true;
    for (int i = 0; i < n->type->n_inputs; i++) hd_queue_clear(&n->in[i].q);
    pthread_cond_broadcast(&n->cv_space);
    pthread_mutex_unlock(&n->mu);
}

/* Sends what the last callback queued to every linked consumer. */
static void deliver(hd_node *n) {
    for (int i = 0; i < n->n_outbox; i++) {
        hd_pending *pd = &n->outbox[i];
        hd_out_port *op = &n->out[pd->port];
        atomic_fetch_add(&n->packets_out, 1);
        if (op->n_targets == 0 || stopped(n->g)) {
            hd_packet_unref(pd->pkt);
            continue;
        }
        for (int t = 0; t < op->n_targets; t++) {
            hd_packet *p = t + 1 < op->n_targets ? hd_packet_ref(pd->pkt) : pd->pkt;
            push(op->targets[t].dst, op->targets[t].port, p);
        }
    }
    n->n_outbox = 0;
}

/* True when the node has linked outputs and every consumer has stopped
 * taking input: its work can no longer reach anyone, so it stops too (and
 * the stop travels upstream the same way). */
static bool consumers_gone(hd_node *n) {
    int linked = 0;
    for (int p = 0; p < n->type->n_outputs; p++) {
        hd_out_port *op = &n->out[p];
        for (int t = 0; t < op->n_targets; t++) {
            hd_node *d = op->targets[t].dst;
            pthread_mutex_lock(&d->mu);
            bool done = d->consumer_done;
            pthread_mutex_unlock(&d->mu);
            if (!done) return false;
            linked++;
        }
    }
    return linked > 0;
}

static void send_eos(hd_node *n) {
    for (int p = 0; p < n->type->n_outputs; p++) {
        hd_out_port *op = &n->out[p];
        for (int t = 0; t < op->n_targets; t++) {
            hd_packet *eos = hd_packet_eos_new(NULL);
            if (!eos) {
                hd_error e = {HD_ERR_NOMEM, "out of memory for an end-of-stream packet"};
                fail(n, &e);
                return;
            }
            push(op->targets[t].dst, op->targets[t].port, eos);
        }
    }
}

/* ---- callbacks ---------------------------------------------------------------- */

static hd_node_ret call_process(hd_node *n, int port, hd_packet *in, hd_error *err) {
    bool heavy = n->type->flags & HD_NODE_HEAVY;
    n->holds_slot = heavy && heavy_acquire(n->g);
    int64_t t0 = now_ns();
    hd_node_ret r = n->type->process(n, n->state, port, in, err);
    atomic_fetch_add(&n->busy_ns, now_ns() - t0);
    if (n->holds_slot) heavy_release(n->g);
    n->holds_slot = false;
    if (in) atomic_fetch_add(&n->packets_in, 1);
    return r;
}

/* Delivers the outbox now, from inside a callback; the heavy slot is given
 * back while consumers' queues are full, so the wait holds nothing. */
void hd_node_deliver_now(hd_node *n) {
    if (!n->n_outbox) return;
    if (n->holds_slot) heavy_release(n->g);
    deliver(n);
    if (n->holds_slot) n->holds_slot = heavy_acquire(n->g);
}

static hd_status call_flush(hd_node *n, hd_error *err) {
    if (!n->type->flush) return HD_OK;
    bool heavy = n->type->flags & HD_NODE_HEAVY;
    n->holds_slot = heavy && heavy_acquire(n->g);
    int64_t t0 = now_ns();
    hd_status st = n->type->flush(n, n->state, err);
    atomic_fetch_add(&n->busy_ns, now_ns() - t0);
    if (n->holds_slot) heavy_release(n->g);
    n->holds_slot = false;
    return st;
}

/* Waits up to ms milliseconds or until the graph stops. */
static void pause_ms(hd_graph *g, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_mutex_lock(&g->mu);
    if (!stopped(g)) pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    pthread_mutex_unlock(&g->mu);
}

static void *worker(void *arg) {
    hd_node *n = arg;
    hd_graph *g = n->g;
    hd_error err;
    hd_error_clear(&err);
    bool failed = false;

    if (n->type->n_inputs == 0) {
        while (!stopped(g)) {
            hd_node_ret r = call_process(n, -1, NULL, &err);
            deliver(n);
            if (r == HD_NODE_ERROR) {
                failed = true;
                break;
            }
            if (r == HD_NODE_EOS || consumers_gone(n)) break;
            if (r == HD_NODE_AGAIN) pause_ms(g, 2);
        }
    } else {
        int port;
        hd_packet *p;
        while ((p = pop_any(n, &port)) != NULL) {
            if (p->kind == HD_PKT_EOS) {
                hd_packet_unref(p);
                if (!n->type->input_eos) continue;
                int64_t t0 = now_ns();
                hd_node_ret r = n->type->input_eos(n, n->state, port, &err);
                atomic_fetch_add(&n->busy_ns, now_ns() - t0);
                deliver(n);
                if (r == HD_NODE_ERROR) {
                    failed = true;
                    break;
                }
                if (r == HD_NODE_EOS || consumers_gone(n)) break;
                continue;
            }
            if (p->kind == HD_PKT_ERROR && !(n->type->inputs[port].kinds & HD_KIND_BIT(HD_PKT_ERROR))) {
                /* an in-band error this node cannot handle stops the graph,
                 * reported under the name of the node that raised it */
                hd_error e;
                e.code = p->u.error.code ? p->u.error.code : HD_ERR_INTERNAL;
                snprintf(e.msg, sizeof e.msg, "%s", p->u.error.msg);
                hd_packet_unref(p);
                fail(n->in[port].src, &e);
                break;
            }
            hd_node_ret r = call_process(n, port, p, &err);
            hd_packet_unref(p);
            deliver(n);
            if (r == HD_NODE_ERROR) {
                failed = true;
                break;
            }
            if (r == HD_NODE_EOS || consumers_gone(n)) break;
        }
        consumer_finish(n);
    }
    if (failed) fail(n, &err);

    /* flush: always on a normal end; on stop only for sinks, so their files
     * are complete */
    if (!failed && (!stopped(g) || n->type->n_outputs == 0)) {
        if (call_flush(n, &err)) fail(n, &err);
        deliver(n);
    }
    if (!stopped(g)) send_eos(n);
    else {
        for (int i = 0; i < n->n_outbox; i++) hd_packet_unref(n->outbox[i].pkt);
        n->n_outbox = 0;
    }

    pthread_mutex_lock(&g->mu);
    g->n_running--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- start / wait ------------------------------------------------------------- */

hd_status hd_graph_start(hd_graph *g, hd_error *err) {
    if (g->started || g->start_failed) return hd_error_set(err, HD_ERR_ARG, "graph: already started");
    hd_status st = hd_graph_validate(g, err);
    if (st) return st;
    for (int i = 0; i < g->n_nodes; i++) {
        hd_node *n = g->nodes[i];
        n->state = NULL;
        if (n->type->create) {
            hd_error e;
            hd_error_clear(&e);
            st = n->type->create(n, &n->opts, &n->state, &e);
            if (st) {
                /* destroy(NULL-or-partial) is the type's contract */
                n->created = true;
                g->start_failed = true;
                return hd_error_set(err, st, "node '%s': %s", n->name, e.msg[0] ? e.msg : hd_status_name(st));
            }
        }
        n->created = true;
    }
    /* optional inputs left unlinked are ended from the start */
    for (int i = 0; i < g->n_nodes; i++) {
        hd_node *n = g->nodes[i];
        if (n->type->select_input && (st = decide_strict(g, n, err))) {
            g->start_failed = true;
            return st;
        }
        for (int p = 0; p < n->type->n_inputs; p++) {
            if (!n->in[p].src) {
                n->in[p].ended = true;
                n->n_ended++;
            }
        }
    }
    g->heavy_free = g->p.max_heavy;
    g->started = true;
    for (int i = 0; i < g->n_nodes; i++) {
        hd_node *n = g->nodes[i];
        pthread_mutex_lock(&g->mu);
        g->n_running++;
        pthread_mutex_unlock(&g->mu);
        int rc = pthread_create(&n->thread, NULL, worker, n);
        if (rc) {
            pthread_mutex_lock(&g->mu);
            g->n_running--;
            pthread_mutex_unlock(&g->mu);
            hd_error e = {HD_ERR_NOMEM, ""};
            snprintf(e.msg, sizeof e.msg, "cannot start a worker thread: %s", strerror(rc));
            fail(n, &e);
            break;
        }
        n->thread_started = true;
    }
    return HD_OK;
}

bool hd_graph_done(hd_graph *g) {
    pthread_mutex_lock(&g->mu);
    bool d = g->started && g->n_running == 0;
    pthread_mutex_unlock(&g->mu);
    return d;
}

hd_status hd_graph_wait(hd_graph *g, hd_error *err) {
    if (!g->started) return hd_error_set(err, HD_ERR_ARG, "graph: not started");
    if (!g->joined) {
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i]->thread_started) pthread_join(g->nodes[i]->thread, NULL);
        g->joined = true;
    }
    if (g->failed) {
        if (err) *err = g->first_err;
        return g->first_err.code;
    }
    if (g->cancelled) return hd_error_set(err, HD_ERR_CANCELLED, "cancelled");
    return HD_OK;
}

hd_status hd_graph_run(hd_graph *g, hd_error *err) {
    hd_status st = hd_graph_start(g, err);
    if (st) return st;
    return hd_graph_wait(g, err);
}
