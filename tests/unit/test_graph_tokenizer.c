/* tests/unit/test_graph_tokenizer.c — graph/nodes_tokenizer.c: the text
 * source and the tokenize/detokenize nodes around lm/tokenizer.h, with
 * segments split into pieces and tokens streamed one at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/parse.h"
#include "lm/tokenizer.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hd_registry *reg;
static char vocab[512];

/* Shared with the test nodes through hd_graph_params.user. */
typedef struct io {
    /* source */
    const char *const *pieces;   /* text pieces (all but the last PARTIAL) */
    int n_pieces;
    const int32_t *ids;          /* or token ids, one per packet */
    int n_ids;
    /* sink */
    hd_packet *got[512];
    int n_got;
} io;

static hd_status src_create(hd_node *n, const hd_node_opts *o, void **st, hd_error *err) {
    *st = calloc(1, sizeof(int));
    return *st ? HD_OK : HD_ERR_NOMEM;
}
static hd_node_ret src_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    io *x = hd_node_user(n);
    int *i = st;
    hd_packet *p;
    if (x->pieces) {
        if (*i >= x->n_pieces) return HD_NODE_EOS;
        const char *t = x->pieces[*i];
        p = hd_packet_text_new(t, strlen(t), err);
        p->pts = 1000000 * *i;
        p->duration = 1000000;
        p->flags = *i + 1 < x->n_pieces ? HD_PKT_FLAG_PARTIAL : 0;
    } else {
        if (*i >= x->n_ids) return HD_NODE_EOS;
        p = hd_packet_tokens_new(&x->ids[*i], 1, err);
        p->pts = 1000 * *i;
        p->duration = 1000;
    }
    (*i)++;
    return hd_node_send(n, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}
static const hd_port_def any_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT) | HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_port_def text_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_port_def tok_out[] = {{"out", HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_node_type textsrc_type = {
    .name = "pieces", .outputs = text_out, .n_outputs = 1, .create = src_create, .process = src_process, .destroy = free};
static const hd_node_type toksrc_type = {
    .name = "ids", .outputs = tok_out, .n_outputs = 1, .create = src_create, .process = src_process, .destroy = free};

static hd_node_ret keep_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    io *x = hd_node_user(n);
    if (x->n_got < 512) x->got[x->n_got++] = hd_packet_ref(in);
    return HD_NODE_OK;
}
static const hd_port_def any_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT) | HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_node_type keep_type = {.name = "keep", .inputs = any_in, .n_inputs = 1, .process = keep_process};

static int setup(void **state) {
    hd_error err = {0};
    reg = hd_registry_create(&err);
    if (hd_registry_add_builtins(reg, &err) || hd_registry_add(reg, &textsrc_type, &err) ||
        hd_registry_add(reg, &toksrc_type, &err) || hd_registry_add(reg, &keep_type, &err))
        return -1;
    tu_fixture(vocab, sizeof vocab, "tokenizer/llama3_tokenizer.model");
    (void)any_out;
    return 0;
}

static int teardown(void **state) {
    hd_registry_free(reg);
    return 0;
}

static void run(const char *desc, io *x) {
    hd_graph_params p = hd_graph_default_params();
    p.user = x;
    p.queue_size = 2;
    hd_error err = {0};
    hd_graph *g = hd_graph_create(&p, &err);
    int off;
    if (hd_pipeline_build(desc, reg, g, &off, &err)) fail_msg("%s: %s", desc, err.msg);
    if (hd_graph_run(g, &err)) fail_msg("%s: %s", desc, err.msg);
    hd_graph_free(g);
}

static void release(io *x) {
    for (int i = 0; i < x->n_got; i++) hd_packet_unref(x->got[i]);
    x->n_got = 0;
}

static void test_tokenize(void **state) {
    char desc[1024];
    io x = {0};
    /* Meta's own test (llama-models test_tokenizer.py): encode with BOS */
    snprintf(desc, sizeof desc, "text:'This is a test sentence.' ! tokenize vocab=%s bos=true ! keep", vocab);
    run(desc, &x);
    assert_int_equal(x.n_got, 1);
    const int32_t want[] = {128000, 2028, 374, 264, 1296, 11914, 13};
    assert_int_equal(x.got[0]->u.tokens.n, 7);
    assert_memory_equal(x.got[0]->u.tokens.ids, want, sizeof want);
    release(&x);

    /* a segment in pieces is tokenized whole (BPE across the piece boundaries),
     * and the token packet carries the segment's time */
    static const char *const pieces[] = {"Hel", "lo wor", "ld, ", "ünï", "cödé!"};
    x.pieces = pieces;
    x.n_pieces = 5;
    snprintf(desc, sizeof desc, "pieces ! tokenize vocab=%s ! keep", vocab);
    run(desc, &x);
    assert_int_equal(x.n_got, 1);
    hd_error err = {0};
    hd_tokenizer *tok = hd_tokenizer_load(vocab, &err);
    assert_non_null(tok);
    const char *whole = "Hello world, ünïcödé!";
    int32_t ids[64];
    size_t n = 0;
    assert_int_equal(hd_tokenizer_encode(tok, whole, strlen(whole), 0, ids, 64, &n, &err), HD_OK);
    assert_int_equal(x.got[0]->u.tokens.n, (int64_t)n);
    assert_memory_equal(x.got[0]->u.tokens.ids, ids, n * sizeof *ids);
    assert_int_equal(x.got[0]->pts, 0);
    assert_int_equal(x.got[0]->duration, 5000000);
    release(&x);
    hd_tokenizer_free(tok);
}

static void test_detokenize_streaming(void **state) {
    /* one token per packet; multi-byte characters split across tokens must
     * never be cut inside a piece */
    hd_error err = {0};
    hd_tokenizer *tok = hd_tokenizer_load(vocab, &err);
    assert_non_null(tok);
    const char *text = "日本語のテキスト, ünïcödé 🦙🦙 and plain words.";
    int32_t ids[128];
    size_t n = 0;
    assert_int_equal(hd_tokenizer_encode(tok, text, strlen(text), 0, ids, 128, &n, &err), HD_OK);
    hd_tokenizer_free(tok);
    io x = {0};
    x.ids = ids;
    x.n_ids = (int)n;
    char desc[1024];
    snprintf(desc, sizeof desc, "ids ! detokenize vocab=%s ! keep", vocab);
    run(desc, &x);
    assert_true(x.n_got >= 2);
    char joined[512] = "";
    for (int i = 0; i < x.n_got; i++) {
        hd_packet *p = x.got[i];
        assert_int_equal(p->kind, HD_PKT_TEXT);
        /* every piece but the closing one is PARTIAL; each is whole UTF-8 */
        assert_int_equal(!!(p->flags & HD_PKT_FLAG_PARTIAL), i + 1 < x.n_got);
        assert_int_equal(hd_tokenizer_utf8_pending(p->u.text.text, p->u.text.len), 0);
        strcat(joined, p->u.text.text);
    }
    assert_string_equal(joined, text);
    /* some tokens hold part of a character: their packets produced no piece */
    assert_true(x.n_got - 1 < (int)n);
    release(&x);

    /* ids out of range fail with the tokenizer's message under the node's name */
    static const int32_t bad[] = {1, 999999};
    x.ids = bad;
    x.n_ids = 2;
    hd_graph_params p = hd_graph_default_params();
    p.user = &x;
    hd_graph *g = hd_graph_create(&p, &err);
    int off;
    assert_int_equal(hd_pipeline_build(desc, reg, g, &off, &err), HD_OK);
    assert_int_not_equal(hd_graph_run(g, &err), HD_OK);
    assert_true(strncmp(err.msg, "node 'detokenize0': ", 20) == 0);
    hd_graph_free(g);
    release(&x);
}

static void test_round_trip_to_file(void **state) {
    char desc[2048], out[512];
    snprintf(out, sizeof out, "%s/rt.txt", tu_tmpdir());
    snprintf(desc, sizeof desc,
             "text:\"And so my fellow Americans, ask not \\\"what\\\"\" ! tokenize:%s ! detokenize:%s ! txt:%s", vocab,
             vocab, out);
    run(desc, &(io){0});
    size_t n;
    char *b = tu_read_file(out, &n);
    assert_non_null(b);
    assert_int_equal(n, strlen("And so my fellow Americans, ask not \"what\"\n"));
    assert_memory_equal(b, "And so my fellow Americans, ask not \"what\"\n", n);
    free(b);
    hd_error err = {0};
    hd_graph *g = hd_graph_create(NULL, &err);
    int off;
    assert_int_equal(hd_pipeline_build("text:x ! tokenize:/nonexistent/tokenizer.model ! stdout", reg, g, &off, &err),
                     HD_OK);
    assert_int_not_equal(hd_graph_run(g, &err), HD_OK);
    assert_true(strncmp(err.msg, "node 'tokenize0': ", 18) == 0);
    hd_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_detokenize_streaming),
        cmocka_unit_test(test_round_trip_to_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
