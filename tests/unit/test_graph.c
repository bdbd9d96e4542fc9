/* tests/unit/test_graph.c — graph/packet.c, graph.c, sched.c: reference
 * counting, link kind checks, back-pressure, concurrency of branches, heavy
 * slots, error propagation, cancellation, fan-out/fan-in end-of-stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/graph.h"
#include "graph/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- test node types (state shared through hd_graph_params.user) ------------ */

#define MAX_SENT 4096

typedef struct shared {
    int n_packets;              /* what counting sources emit            */
    int fail_at;                /* "failer" fails on this packet index   */
    long sink_sleep_us;         /* slow sink delay per packet            */
    double rendezvous_timeout;  /* seconds a "meet" source waits         */
    bool keep_sent;             /* counting source keeps a ref of each   */

    hd_packet *sent[MAX_SENT];
    _Atomic int n_sent;
    _Atomic int64_t max_live;
    _Atomic int active, max_active;
    _Atomic int received[4];
    hd_packet *got[4][MAX_SENT];   /* per input port, in arrival order (refs kept) */
    _Atomic int flushed;
    _Atomic int order_bad;
} shared;

static shared *SH(hd_node *n) { return hd_node_user(n); }

static const hd_port_def audio_port[] = {{"out", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_port_def audio_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_port_def two_in[] = {{"a", HD_KIND_BIT(HD_PKT_AUDIO), 0}, {"b", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_port_def text_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT), 0}};

/* counter: emits n_packets one-frame audio packets holding their index */
typedef struct { int i; } counter_state;
static hd_status counter_create(hd_node *n, const hd_node_opts *o, void **st, hd_error *err) {
    *st = calloc(1, sizeof(counter_state));
    return *st ? HD_OK : HD_ERR_NOMEM;
}
static hd_node_ret counter_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    counter_state *c = st;
    shared *s = SH(n);
    if (c->i >= s->n_packets) return HD_NODE_EOS;
    hd_packet *p = hd_packet_audio_new(1, 1, 16000, err);
    if (!p) return HD_NODE_ERROR;
    p->u.audio.data[0] = (float)c->i;
    p->pts = c->i;
    if (s->keep_sent && c->i < MAX_SENT) {
        s->sent[c->i] = hd_packet_ref(p);
        atomic_fetch_add(&s->n_sent, 1);
    }
    c->i++;
    return hd_node_send(n, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}
static const hd_node_type counter_type = {
    .name = "counter", .outputs = audio_port, .n_outputs = 1,
    .create = counter_create, .process = counter_process, .destroy = free,
};

/* collect: sink with any number of audio inputs; records order and live packets */
static hd_node_ret collect_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    shared *s = SH(n);
    int k = atomic_fetch_add(&s->received[port], 1);
    if (in->u.audio.data[0] != (float)k) atomic_store(&s->order_bad, 1);
    if (k < MAX_SENT && s->keep_sent) s->got[port][k] = hd_packet_ref(in);
    int64_t live = hd_packet_live_count();
    int64_t m = atomic_load(&s->max_live);
    while (live > m && !atomic_compare_exchange_weak(&s->max_live, &m, live)) {}
    if (s->sink_sleep_us) sleep_us(s->sink_sleep_us);
    return HD_NODE_OK;
}
static hd_status collect_flush(hd_node *n, void *st, hd_error *err) {
    atomic_fetch_add(&SH(n)->flushed, 1);
    return HD_OK;
}
static const hd_node_type collect_type = {
    .name = "collect", .inputs = audio_in, .n_inputs = 1, .process = collect_process, .flush = collect_flush,
};
static const hd_node_type join_type = {
    .name = "join", .inputs = two_in, .n_inputs = 2, .process = collect_process, .flush = collect_flush,
};

/* pass: audio filter that forwards (by reference) */
static hd_node_ret pass_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    return hd_node_send(n, 0, hd_packet_ref(in), err) ? HD_NODE_ERROR : HD_NODE_OK;
}
static const hd_node_type pass_type = {
    .name = "pass", .inputs = audio_in, .n_inputs = 1, .outputs = audio_port, .n_outputs = 1, .process = pass_process,
};

/* failer: forwards, fails on packet fail_at */
static hd_node_ret failer_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    int i = (int)in->u.audio.data[0];
    if (i == SH(n)->fail_at) {
        hd_error_set(err, HD_ERR_FORMAT, "boom at %d", i);
        return HD_NODE_ERROR;
    }
    return pass_process(n, st, port, in, err);
}
static const hd_node_type failer_type = {
    .name = "failer", .inputs = audio_in, .n_inputs = 1, .outputs = audio_port, .n_outputs = 1,
    .process = failer_process,
};

/* reporter: turns packet fail_at into an in-band error packet */
static hd_node_ret reporter_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    int i = (int)in->u.audio.data[0];
    if (i == SH(n)->fail_at) {
        hd_packet *e = hd_packet_error_new(HD_ERR_FORMAT, "frame 3 is corrupt", err);
        return e && !hd_node_send(n, 0, e, err) ? HD_NODE_OK : HD_NODE_ERROR;
    }
    return pass_process(n, st, port, in, err);
}
static const hd_node_type reporter_type = {
    .name = "reporter", .inputs = audio_in, .n_inputs = 1, .outputs = audio_port, .n_outputs = 1,
    .process = reporter_process,
};

/* head: passes the first 3 packets, then ends (HD_NODE_EOS) */
typedef struct { int seen; } head_state;
static hd_status head_create(hd_node *n, const hd_node_opts *o, void **st, hd_error *err) {
    *st = calloc(1, sizeof(head_state));
    return *st ? HD_OK : HD_ERR_NOMEM;
}
static hd_node_ret head_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    head_state *h = st;
    if (pass_process(n, st, port, in, err) != HD_NODE_OK) return HD_NODE_ERROR;
    return ++h->seen >= 3 ? HD_NODE_EOS : HD_NODE_OK;
}
static const hd_node_type head_type = {
    .name = "head", .inputs = audio_in, .n_inputs = 1, .outputs = audio_port, .n_outputs = 1,
    .create = head_create, .process = head_process, .destroy = free,
};

/* meet: source whose every call waits (bounded) until another meet is inside
 * its callback at the same time; records the largest overlap seen */
typedef struct { int i; } meet_state;
static hd_status meet_create(hd_node *n, const hd_node_opts *o, void **st, hd_error *err) {
    *st = calloc(1, sizeof(meet_state));
    return *st ? HD_OK : HD_ERR_NOMEM;
}
static hd_node_ret meet_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    meet_state *m = st;
    shared *s = SH(n);
    if (m->i >= s->n_packets) return HD_NODE_EOS;
    int a = atomic_fetch_add(&s->active, 1) + 1;
    double t0 = now_s();
    for (;;) {
        int cur = atomic_load(&s->active);
        if (cur > a) a = cur;
        if (a >= 2 || now_s() - t0 > s->rendezvous_timeout) break;
        sleep_us(100);
    }
    int mx = atomic_load(&s->max_active);
    while (a > mx && !atomic_compare_exchange_weak(&s->max_active, &mx, a)) {}
    /* stay inside a little so the partner sees us too */
    sleep_us(2000);
    atomic_fetch_sub(&s->active, 1);
    hd_packet *p = hd_packet_audio_new(1, 1, 16000, err);
    if (!p) return HD_NODE_ERROR;
    p->u.audio.data[0] = (float)m->i++;
    return hd_node_send(n, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}
static const hd_node_type meet_type = {
    .name = "meet", .outputs = audio_port, .n_outputs = 1,
    .create = meet_create, .process = meet_process, .destroy = free,
};
static const hd_node_type meet_heavy_type = {
    .name = "meet-heavy", .outputs = audio_port, .n_outputs = 1, .flags = HD_NODE_HEAVY,
    .create = meet_create, .process = meet_process, .destroy = free,
};

static const hd_node_type textsink_type = {
    .name = "textsink", .inputs = text_in, .n_inputs = 1, .process = collect_process,
};

static hd_graph *new_graph(shared *s, int queue, int heavy) {
    hd_graph_params p = hd_graph_default_params();
    p.queue_size = queue;
    p.max_heavy = heavy;
    p.user = s;
    hd_error err = {0};
    hd_graph *g = hd_graph_create(&p, &err);
    assert_non_null(g);
    return g;
}

static int add(hd_graph *g, const hd_node_type *t, const char *name) {
    hd_error err = {0};
    int i = hd_graph_add(g, t, name, NULL, 0, NULL, &err);
    if (i < 0) fail_msg("add %s: %s", t->name, err.msg);
    return i;
}

static void link_ok(hd_graph *g, int a, const char *ap, int b, const char *bp) {
    hd_error err = {0};
    if (hd_graph_link(g, a, ap, b, bp, &err)) fail_msg("link: %s", err.msg);
}

static void release(shared *s) {
    for (int i = 0; i < MAX_SENT; i++) {
        hd_packet_unref(s->sent[i]);
        for (int p = 0; p < 4; p++) hd_packet_unref(s->got[p][i]);
    }
}

/* ---- packets -------------------------------------------------------------------- */

static void test_packet_refs(void **state) {
    int64_t live0 = hd_packet_live_count();
    hd_error err = {0};
    hd_packet *p = hd_packet_audio_new(480, 2, 48000, &err);
    assert_non_null(p);
    assert_int_equal(p->duration, 10000);   /* 480 frames at 48 kHz = 10 ms */
    assert_true(((uintptr_t)p->u.audio.data & 63) == 0);
    assert_int_equal(hd_packet_live_count(), live0 + 1);
    assert_ptr_equal(hd_packet_ref(p), p);
    assert_int_equal(hd_packet_refs(p), 2);
    /* shared: make_writable copies and drops one reference of the original */
    p->u.audio.data[5] = 0.25f;
    hd_packet *w = hd_packet_make_writable(p, &err);
    assert_non_null(w);
    assert_ptr_not_equal(w, p);
    assert_int_equal(hd_packet_refs(p), 1);
    assert_true(w->u.audio.data[5] == 0.25f);
    assert_ptr_not_equal(w->u.audio.data, p->u.audio.data);
    /* sole owner: the same packet */
    assert_ptr_equal(hd_packet_make_writable(w, &err), w);
    hd_packet_unref(w);
    hd_packet_unref(p);
    hd_packet_unref(NULL);
    assert_int_equal(hd_packet_live_count(), live0);

    hd_packet *t = hd_packet_text_new("héllo", 6, &err);
    assert_string_equal(t->u.text.text, "héllo");
    hd_packet_unref(t);
    /* absurd sizes fail cleanly */
    assert_null(hd_packet_audio_new(INT64_MAX / 2, 2, 16000, &err));
    assert_null(hd_packet_embed_new(1 << 30, 1 << 30, &err));
    assert_null(hd_packet_image_new(-1, 5, HD_PIX_RGB8, &err));
    hd_packet *im = hd_packet_image_new(5, 3, HD_PIX_RGB8, &err);
    assert_int_equal(im->u.image.stride, 15);
    assert_int_equal(im->u.image.channels, 3);
    hd_packet_unref(im);
    assert_int_equal(hd_packet_live_count(), live0);
    assert_int_equal(hd_samples_to_us(16000, 16000), 1000000);
    assert_int_equal(hd_samples_to_us(1, 44100), 22);
    assert_int_equal(hd_samples_to_us(-1, 44100), -23);
}

/* ---- linking ------------------------------------------------------------------------ */

static void test_link_kinds(void **state) {
    shared s = {0};
    hd_graph *g = new_graph(&s, 4, 1);
    int src = add(g, &counter_type, NULL);
    int ts = add(g, &textsink_type, "subs");
    hd_error err = {0};
    assert_int_equal(hd_graph_link(g, src, NULL, ts, NULL, &err), HD_ERR_ARG);
    assert_string_equal(err.msg,
                        "cannot link 'counter0'.out (audio) to 'subs'.in (text): packet kinds do not match");
    /* unknown ports are named with the list of real ones */
    int c = add(g, &collect_type, NULL);
    assert_int_equal(hd_graph_link(g, src, "video", c, NULL, &err), HD_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "no output port 'video' (outputs: out)"));
    link_ok(g, src, NULL, c, NULL);
    /* one link per input */
    int src2 = add(g, &counter_type, NULL);
    assert_int_equal(hd_graph_link(g, src2, NULL, c, "in", &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "already linked from 'counter0'"));
    /* sources have no inputs, sinks no outputs */
    assert_int_equal(hd_graph_link(g, c, NULL, src, NULL, &err), HD_ERR_ARG);
    /* the text sink is still unlinked: validation names it */
    assert_int_equal(hd_graph_validate(g, &err), HD_ERR_ARG);
    assert_string_equal(err.msg, "input 'subs'.in is not linked");
    hd_graph_free(g);

    /* a tee carries what reaches it: checked at link time when known ... */
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    const hd_node_type *tee = hd_registry_find(reg, "tee");
    g = new_graph(&s, 4, 1);
    src = add(g, &counter_type, NULL);
    int t = add(g, tee, NULL);
    ts = add(g, &textsink_type, NULL);
    link_ok(g, src, NULL, t, NULL);
    assert_int_equal(hd_graph_link(g, t, NULL, ts, NULL, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "'tee0'.out (audio) to 'textsink0'.in (text)"));
    hd_graph_free(g);
    /* ... and by validation when the tee's input is linked last */
    g = new_graph(&s, 4, 1);
    src = add(g, &counter_type, NULL);
    t = add(g, tee, NULL);
    ts = add(g, &textsink_type, NULL);
    link_ok(g, t, NULL, ts, NULL);
    link_ok(g, src, NULL, t, NULL);
    assert_int_equal(hd_graph_validate(g, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "'tee0'.out (audio) to 'textsink0'.in (text)"));
    assert_int_equal(hd_graph_start(g, &err), HD_ERR_ARG);
    hd_graph_free(g);

    /* cycles are rejected */
    g = new_graph(&s, 4, 1);
    int a = add(g, &pass_type, "a"), b = add(g, &pass_type, "b");
    link_ok(g, a, NULL, b, NULL);
    link_ok(g, b, NULL, a, NULL);
    assert_int_equal(hd_graph_validate(g, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "cycle"));
    hd_graph_free(g);

    /* names: duplicates and bad characters */
    g = new_graph(&s, 4, 1);
    add(g, &pass_type, "x");
    assert_int_equal(hd_graph_add(g, &pass_type, "x", NULL, 0, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "used twice"));
    assert_int_equal(hd_graph_add(g, &pass_type, "a b", NULL, 0, NULL, &err), -1);
    hd_graph_free(g);
    hd_registry_free(reg);
}

/* ---- back-pressure ------------------------------------------------------------------- */

static void test_backpressure(void **state) {
    shared s = {0};
    s.n_packets = 1500;
    s.sink_sleep_us = 100;
    int64_t live0 = hd_packet_live_count();
    hd_graph *g = new_graph(&s, 4, 1);
    int src = add(g, &counter_type, NULL);
    int p = add(g, &pass_type, NULL);
    int snk = add(g, &collect_type, NULL);
    link_ok(g, src, NULL, p, NULL);
    link_ok(g, p, NULL, snk, NULL);
    hd_error err = {0};
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_int_equal(s.received[0], 1500);
    assert_int_equal(s.order_bad, 0);
    /* two queues of 4, plus one packet in each of the 3 nodes' hands: without
     * back-pressure the fast source would have had ~1500 packets alive */
    int64_t peak = s.max_live - live0;
    print_message("peak live packets %lld (queues 2 x 4)\n", (long long)peak);
    assert_true(peak <= 2 * 4 + 3);
    hd_node_stats st[3];
    assert_int_equal(hd_graph_stats(g, st, 3), 3);
    assert_int_equal(st[2].queue_high, 4);   /* the sink's queue did fill up */
    assert_int_equal(st[0].packets_out, 1500);
    assert_int_equal(st[2].packets_in, 1500);
    assert_int_equal(s.flushed, 1);
    hd_graph_free(g);
    assert_int_equal(hd_packet_live_count(), live0);
}

/* ---- concurrency ------------------------------------------------------------------------ */

static void test_branches_overlap(void **state) {
    /* two independent sources feeding one join: their callbacks overlap */
    shared s = {0};
    s.n_packets = 4;
    s.rendezvous_timeout = 5.0;
    hd_graph *g = new_graph(&s, 2, 1);
    int a = add(g, &meet_type, "left"), b = add(g, &meet_type, "right");
    int j = add(g, &join_type, NULL);
    link_ok(g, a, NULL, j, "a");
    link_ok(g, b, NULL, j, "b");
    hd_error err = {0};
    double t0 = now_s();
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    print_message("max overlap %d, %.3f s\n", s.max_active, now_s() - t0);
    assert_int_equal(s.max_active, 2);
    assert_int_equal(s.received[0], 4);
    assert_int_equal(s.received[1], 4);
    hd_graph_free(g);
}

static void test_heavy_limit(void **state) {
    /* the same two sources marked heavy, max_heavy = 1: never together */
    shared s = {0};
    s.n_packets = 4;
    s.rendezvous_timeout = 0.03;
    hd_graph *g = new_graph(&s, 2, 1);
    int a = add(g, &meet_heavy_type, "left"), b = add(g, &meet_heavy_type, "right");
    int j = add(g, &join_type, NULL);
    link_ok(g, a, NULL, j, "a");
    link_ok(g, b, NULL, j, "b");
    hd_error err = {0};
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_int_equal(s.max_active, 1);
    assert_int_equal(s.received[0] + s.received[1], 8);
    hd_graph_free(g);

    /* max_heavy = 2 lets them meet again */
    shared s2 = {0};
    s2.n_packets = 2;
    s2.rendezvous_timeout = 5.0;
    g = new_graph(&s2, 2, 2);
    a = add(g, &meet_heavy_type, "left");
    b = add(g, &meet_heavy_type, "right");
    j = add(g, &join_type, NULL);
    link_ok(g, a, NULL, j, "a");
    link_ok(g, b, NULL, j, "b");
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_int_equal(s2.max_active, 2);
    hd_graph_free(g);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void test_error_propagation(void **state) {
    int64_t live0 = hd_packet_live_count();
    shared s = {0};
    s.n_packets = 100000;   /* the failure must stop the source long before */
    s.fail_at = 5;
    hd_graph *g = new_graph(&s, 2, 1);
    int src = add(g, &counter_type, NULL);
    int f = add(g, &failer_type, "decoder");
    int snk = add(g, &collect_type, NULL);
    link_ok(g, src, NULL, f, NULL);
    link_ok(g, f, NULL, snk, NULL);
    hd_error err = {0};
    assert_int_equal(hd_graph_run(g, &err), HD_ERR_FORMAT);
    assert_string_equal(err.msg, "node 'decoder': boom at 5");
    assert_int_equal(s.flushed, 1);            /* the sink still finished its output */
    assert_true(s.received[0] <= 5);
    hd_graph_free(g);
    assert_int_equal(hd_packet_live_count(), live0);

    /* an in-band error packet reaching a node that does not take errors */
    shared s2 = {0};
    s2.n_packets = 10;
    s2.fail_at = 3;
    g = new_graph(&s2, 2, 1);
    src = add(g, &counter_type, NULL);
    f = add(g, &reporter_type, "demux");
    snk = add(g, &collect_type, NULL);
    link_ok(g, src, NULL, f, NULL);
    link_ok(g, f, NULL, snk, NULL);
    assert_int_equal(hd_graph_run(g, &err), HD_ERR_FORMAT);
    assert_string_equal(err.msg, "node 'demux': frame 3 is corrupt");
    assert_int_equal(s2.received[0], 3);
    hd_graph_free(g);

    /* create failures name the node */
    hd_registry *reg = hd_registry_create(&err);
    hd_registry_add_builtins(reg, &err);
    g = new_graph(&s, 2, 1);
    hd_kv kv[] = {{"path", "/nonexistent/x.wav"}};
    int fi = hd_graph_add(g, hd_registry_find(reg, "file"), NULL, kv, 1, NULL, &err);
    snk = add(g, &collect_type, NULL);
    link_ok(g, fi, NULL, snk, NULL);
    assert_int_equal(hd_graph_run(g, &err), HD_ERR_IO);
    assert_string_equal(err.msg, "node 'file0': /nonexistent/x.wav: No such file or directory");
    hd_graph_free(g);
    hd_registry_free(reg);
}

/* ---- cancellation ------------------------------------------------------------------------ */

typedef struct {
    hd_graph *g;
    double at;
} cancel_arg;

static void *canceller(void *p) {
    cancel_arg *c = p;
    sleep_us(100000);
    c->at = now_s();
    hd_graph_cancel(c->g);
    return NULL;
}

static void test_cancel(void **state) {
    int64_t live0 = hd_packet_live_count();
    shared s = {0};
    s.n_packets = 1 << 30;      /* endless for this test */
    s.sink_sleep_us = 20000;    /* slow sink: the source is blocked on a full queue */
    hd_graph *g = new_graph(&s, 4, 1);
    int src = add(g, &counter_type, NULL);
    int p = add(g, &pass_type, NULL);
    int snk = add(g, &collect_type, NULL);
    link_ok(g, src, NULL, p, NULL);
    link_ok(g, p, NULL, snk, NULL);
    hd_error err = {0};
    cancel_arg ca = {g, 0};
    pthread_t th;
    assert_int_equal(hd_graph_start(g, &err), HD_OK);
    pthread_create(&th, NULL, canceller, &ca);
    hd_status st = hd_graph_wait(g, &err);
    double lag = now_s() - ca.at;
    pthread_join(th, NULL);
    assert_int_equal(st, HD_ERR_CANCELLED);
    print_message("stopped %.1f ms after cancel\n", lag * 1e3);
    assert_true(lag < 1.0);               /* one sink callback is 20 ms; typically ~20 ms */
    assert_int_equal(s.flushed, 1);       /* sinks are flushed on cancel */
    assert_true(hd_graph_done(g));
    hd_graph_free(g);
    assert_int_equal(hd_packet_live_count(), live0);

    /* cancel before anything ran, and free without waiting */
    g = new_graph(&s, 4, 1);
    src = add(g, &counter_type, NULL);
    snk = add(g, &collect_type, NULL);
    link_ok(g, src, NULL, snk, NULL);
    assert_int_equal(hd_graph_start(g, &err), HD_OK);
    hd_graph_free(g);
    assert_int_equal(hd_packet_live_count(), live0);
}

/* ---- fan-out / fan-in ---------------------------------------------------------------------- */

static void test_fanout_fanin(void **state) {
    int64_t live0 = hd_packet_live_count();
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    hd_registry_add_builtins(reg, &err);
    for (int q = 1; q <= 3; q += 2) {
        shared *s = calloc(1, sizeof *s);
        s->n_packets = 300;
        s->keep_sent = true;
        hd_graph *g = new_graph(s, q, 1);
        int src = add(g, &counter_type, NULL);
        int t = add(g, hd_registry_find(reg, "tee"), NULL);
        int p1 = add(g, &pass_type, NULL), p2 = add(g, &pass_type, NULL);
        int j = add(g, &join_type, NULL);
        link_ok(g, src, NULL, t, NULL);
        link_ok(g, t, NULL, p1, NULL);     /* fan-out: one output, two links */
        link_ok(g, t, NULL, j, "a");
        link_ok(g, p1, NULL, p2, NULL);
        link_ok(g, p2, NULL, j, "b");      /* fan-in: two branches meet */
        assert_int_equal(hd_graph_run(g, &err), HD_OK);
        assert_int_equal(s->received[0], 300);
        assert_int_equal(s->received[1], 300);
        assert_int_equal(s->order_bad, 0);
        assert_int_equal(s->flushed, 1);
        /* both branches got the very same packets: no copies */
        for (int i = 0; i < 300; i++) {
            assert_ptr_equal(s->got[0][i], s->sent[i]);
            assert_ptr_equal(s->got[1][i], s->sent[i]);
        }
        assert_int_equal(hd_packet_refs(s->sent[0]), 3);
        hd_graph_free(g);
        release(s);
        free(s);
    }
    hd_registry_free(reg);
    assert_int_equal(hd_packet_live_count(), live0);
}

static void test_early_end(void **state) {
    /* a node that ends early stops an endless upstream and the graph ends */
    int64_t live0 = hd_packet_live_count();
    shared s = {0};
    s.n_packets = 1 << 30;
    hd_graph *g = new_graph(&s, 2, 1);
    int src = add(g, &counter_type, NULL);
    int h = add(g, &head_type, NULL);
    int snk = add(g, &collect_type, NULL);
    link_ok(g, src, NULL, h, NULL);
    link_ok(g, h, NULL, snk, NULL);
    hd_error err = {0};
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_int_equal(s.received[0], 3);
    assert_int_equal(s.flushed, 1);
    hd_graph_free(g);
    assert_int_equal(hd_packet_live_count(), live0);
}

/* gain: heavy filter doing its math on the graph's pool (hd_node_pool) */
typedef struct {
    const float *in;
    float *out;
    _Atomic int threads_seen;
} gain_job;
static void gain_chunk(void *ctx, int64_t b, int64_t e, int tid) {
    gain_job *j = ctx;
    atomic_fetch_or(&j->threads_seen, 1 << (tid & 15));
    for (int64_t i = b; i < e; i++) j->out[i] = 2 * j->in[i];
}
static _Atomic int g_gain_threads, g_gain_bad;
static hd_threadpool *_Atomic g_gain_pool;
static hd_node_ret gain_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    hd_packet *o = hd_packet_audio_new(in->u.audio.n_frames, 1, in->u.audio.rate, err);
    if (!o) return HD_NODE_ERROR;
    gain_job j = {in->u.audio.data, o->u.audio.data, 0};
    atomic_store(&g_gain_pool, hd_node_pool(n));
    hd_parallel_for(hd_node_pool(n), in->u.audio.n_frames, 64, gain_chunk, &j);
    atomic_fetch_or(&g_gain_threads, atomic_load(&j.threads_seen));
    for (int64_t i = 0; i < in->u.audio.n_frames; i++)
        if (o->u.audio.data[i] != 2 * in->u.audio.data[i]) atomic_store(&g_gain_bad, 1);
    o->pts = in->pts;
    return hd_node_send(n, 0, o, err) ? HD_NODE_ERROR : HD_NODE_OK;
}
static const hd_node_type gain_type = {
    .name = "gain", .inputs = audio_in, .n_inputs = 1, .outputs = audio_port, .n_outputs = 1,
    .flags = HD_NODE_HEAVY, .process = gain_process,
};

static void test_pool_context(void **state) {
    hd_error err = {0};
    hd_threadpool *tp = hd_threadpool_create(2, &err);
    assert_non_null(tp);
    hd_registry *reg = hd_registry_create(&err);
    hd_registry_add_builtins(reg, &err);
    shared s = {0};
    hd_graph *g = new_graph(&s, 4, 1);
    hd_graph_set_pool(g, tp);
    hd_kv kv[] = {{"duration", "0.5"}, {"chunk", "4000"}};
    int src = hd_graph_add(g, hd_registry_find(reg, "sine"), NULL, kv, 2, NULL, &err);
    int gn = add(g, &gain_type, NULL);
    int snk = add(g, hd_registry_find(reg, "null"), NULL);
    link_ok(g, src, NULL, gn, NULL);
    link_ok(g, gn, NULL, snk, NULL);
    atomic_store(&g_gain_threads, 0);
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    /* the node ran its math on the graph's pool: thread ids within the pool's
     * size (which threads take chunks is up to the pool), results exact */
    assert_ptr_equal(atomic_load(&g_gain_pool), tp);
    assert_int_not_equal(atomic_load(&g_gain_threads), 0);
    assert_int_equal(atomic_load(&g_gain_threads) & ~3, 0);
    assert_int_equal(atomic_load(&g_gain_bad), 0);
    hd_node_stats st[3];
    hd_graph_stats(g, st, 3);
    assert_int_equal(st[2].packets_in, 2);
    hd_graph_free(g);
    hd_registry_free(reg);
    hd_threadpool_free(tp);
}

/* a join that reads the input with fewer packets so far (or always "b") */
static int behind_select(hd_node *n, void *st) {
    shared *s = SH(n);
    return s->received[0] <= s->received[1] ? 0 : 1;
}
static int always_b_select(hd_node *n, void *st) { return 1; }
static hd_node_ret gap_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    shared *s = SH(n);
    collect_process(n, st, port, in, err);
    int gap = abs(atomic_load(&s->received[0]) - atomic_load(&s->received[1]));
    int m = atomic_load(&s->max_active);   /* reused: the largest gap seen */
    if (gap > m) atomic_store(&s->max_active, gap);
    return HD_NODE_OK;
}
static const hd_node_type fair_join_type = {
    .name = "fair-join", .inputs = two_in, .n_inputs = 2, .process = gap_process, .flush = collect_flush,
    .select_input = behind_select,
};
static const hd_node_type b_first_join_type = {
    .name = "b-first-join", .inputs = two_in, .n_inputs = 2, .process = collect_process, .flush = collect_flush,
    .select_input = always_b_select,
};

static void *watchdog(void *p) {
    hd_graph *g = p;
    for (int i = 0; i < 200 && !hd_graph_done(g); i++) sleep_us(50000);
    if (!hd_graph_done(g)) hd_graph_cancel(g);   /* a deadlock shows as HD_ERR_CANCELLED */
    return NULL;
}

static void test_select_input(void **state) {
    /* independent sources: the join waits for the one behind, so the fast
     * one stays under back-pressure and never gets far ahead */
    shared s = {0};
    s.n_packets = 400;
    hd_graph *g = new_graph(&s, 2, 1);
    int a = add(g, &counter_type, "fast");
    int b = add(g, &meet_type, "slow");   /* a few ms per packet */
    s.rendezvous_timeout = 0;
    int j = add(g, &fair_join_type, NULL);
    link_ok(g, a, NULL, j, "a");
    link_ok(g, b, NULL, j, "b");
    hd_error err = {0};
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_int_equal(s.received[0], 400);
    assert_int_equal(s.received[1], 400);
    print_message("largest gap between the inputs: %d packets\n", s.max_active);
    assert_true(s.max_active <= 2);
    hd_graph_free(g);

    /* a diamond with a join insisting on input b: strict waiting would
     * deadlock (the tee blocks on a's full queue before feeding b); the graph
     * hands over a's full queue instead and the run completes */
    shared s2 = {0};
    s2.n_packets = 300;
    hd_registry *reg = hd_registry_create(&err);
    hd_registry_add_builtins(reg, &err);
    g = new_graph(&s2, 1, 1);
    int src = add(g, &counter_type, NULL);
    int t = add(g, hd_registry_find(reg, "tee"), NULL);
    int p = add(g, &pass_type, NULL);
    j = add(g, &b_first_join_type, NULL);
    link_ok(g, src, NULL, t, NULL);
    link_ok(g, t, NULL, j, "a");
    link_ok(g, t, NULL, p, NULL);
    link_ok(g, p, NULL, j, "b");
    assert_int_equal(hd_graph_start(g, &err), HD_OK);
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, g);
    hd_status st = hd_graph_wait(g, &err);
    pthread_join(wd, NULL);
    assert_int_equal(st, HD_OK);
    assert_int_equal(s2.received[0], 300);
    assert_int_equal(s2.received[1], 300);
    hd_graph_free(g);
    hd_registry_free(reg);
}

static void test_registry(void **state) {
    hd_error err = {0};
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    const char *names[] = {"file", "raw", "sine", "resample", "mix", "tee", "wav", "null", "stdout", "txt", "srt", "vtt", "json", "image", "video", "ppm", "text", "tokenize", "detokenize", "mel"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_non_null(hd_registry_find(reg, names[i]));
    assert_ptr_equal(hd_registry_find(reg, "tone"), hd_registry_find(reg, "sine"));
    /* the model, segment and TTS nodes register too: at least the media/text set */
    assert_true(hd_registry_count(reg) >= (int)(sizeof names / sizeof names[0]));
    assert_int_equal(hd_registry_add(reg, &pass_type, &err), HD_OK);
    assert_int_equal(hd_registry_add(reg, &pass_type, &err), HD_ERR_ARG);
    assert_string_equal(hd_registry_suggest(reg, "resmaple"), "resample");
    assert_null(hd_registry_suggest(reg, "transmogrifier"));
    char buf[64];
    assert_string_equal(hd_registry_aliases(reg, hd_registry_find(reg, "sine"), buf, sizeof buf), "tone");
    /* --list text mentions every option of resample with its default */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_registry_print(reg, f);
    fclose(f);
    assert_non_null(strstr(text, "resample  [filter]"));
    assert_non_null(strstr(text, "rate=<integer> (default 16000)"));
    assert_non_null(strstr(text, "format=<s16le|f32le> (default s16le)"));
    assert_non_null(strstr(text, "sine (alias: tone)  [source]"));
    free(text);
    hd_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packet_refs),      cmocka_unit_test(test_link_kinds),
        cmocka_unit_test(test_backpressure),     cmocka_unit_test(test_branches_overlap),
        cmocka_unit_test(test_heavy_limit),      cmocka_unit_test(test_error_propagation),
        cmocka_unit_test(test_cancel),           cmocka_unit_test(test_fanout_fanin),
        cmocka_unit_test(test_early_end),        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_pool_context),     cmocka_unit_test(test_select_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
