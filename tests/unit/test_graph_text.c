/* tests/unit/test_graph_text.c — graph/nodes_text.c: srt, vtt, json, txt and
 * stdout output for a known segment list, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/graph.h"
#include "graph/registry.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct seg {
    int64_t pts, dur;
    const char *text;
    bool partial;
} seg;

static const seg k_segs[] = {
    {0, 2500000, "And so my fellow Americans,", false},
    {2500000, 1000000, " ask not", true},
    {3500000, 1200000, " what your country can do for you,", false},
    {3723456789, 1500, "  line one\r\n\n  line two  ", false},   /* 1:02:03.456789 */
    {3800000000, 1000, "   ", false},                             /* empty: skipped */
    {36000000000, 999500, "ünïcödé \"quoted\"", false},           /* 10 h */
    {36005000000, 500000, "tail", true},                          /* ended by end of stream */
};

typedef struct src_state {
    const seg *s;
    int n, i;
    bool tokens;   /* also send a token packet first */
} src_state;

static hd_status src_create(hd_node *n, const hd_node_opts *o, void **st, hd_error *err) {
    src_state *s = calloc(1, sizeof *s);
    *s = *(src_state *)hd_node_user(n);
    *st = s;
    return HD_OK;
}

static hd_node_ret src_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    src_state *s = st;
    if (s->tokens) {
        s->tokens = false;
        const int32_t ids[] = {128000, 9906, 1917};
        return hd_node_send(n, 0, hd_packet_tokens_new(ids, 3, err), err) ? HD_NODE_ERROR : HD_NODE_OK;
    }
    if (s->i >= s->n) return HD_NODE_EOS;
    const seg *g = &s->s[s->i++];
    hd_packet *p = hd_packet_text_new(g->text, strlen(g->text), err);
    if (!p) return HD_NODE_ERROR;
    p->pts = g->pts;
    p->duration = g->dur;
    p->flags = g->partial ? HD_PKT_FLAG_PARTIAL : 0;
    return hd_node_send(n, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static const hd_port_def text_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT) | HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_port_def only_text_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_node_type src_type = {
    .name = "segments", .outputs = text_out, .n_outputs = 1,
    .create = src_create, .process = src_process, .destroy = free,
};
static const hd_node_type text_src_type = {
    .name = "segments", .outputs = only_text_out, .n_outputs = 1,
    .create = src_create, .process = src_process, .destroy = free,
};

static hd_registry *reg;

static int setup(void **state) {
    hd_error err = {0};
    reg = hd_registry_create(&err);
    return hd_registry_add_builtins(reg, &err) ? -1 : 0;
}

static int teardown(void **state) {
    hd_registry_free(reg);
    return 0;
}

static char *slurp(const char *path) {
    size_t n;
    char *b = tu_read_file(path, &n);
    if (!b) fail_msg("cannot read %s", path);
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    free(b);
    return s;
}

static const char k_srt[] =
    "1\n00:00:00,000 --> 00:00:02,500\nAnd so my fellow Americans,\n\n"
    "2\n00:00:02,500 --> 00:00:04,700\nask not what your country can do for you,\n\n"
    "3\n01:02:03,457 --> 01:02:03,458\nline one\nline two\n\n"
    "4\n10:00:00,000 --> 10:00:01,000\nünïcödé \"quoted\"\n\n"
    "5\n10:00:05,000 --> 10:00:05,500\ntail\n\n";

static const char k_vtt[] =
    "WEBVTT\n\n"
    "00:00:00.000 --> 00:00:02.500\nAnd so my fellow Americans,\n\n"
    "00:00:02.500 --> 00:00:04.700\nask not what your country can do for you,\n\n"
    "01:02:03.457 --> 01:02:03.458\nline one\nline two\n\n"
    "10:00:00.000 --> 10:00:01.000\nünïcödé \"quoted\"\n\n"
    "10:00:05.000 --> 10:00:05.500\ntail\n\n";

static const char k_json[] =
    "{\"segments\": [\n"
    "  {\"start\":0,\"end\":2.5,\"text\":\"And so my fellow Americans,\"},\n"
    "  {\"start\":2.5,\"end\":4.7,\"text\":\"ask not what your country can do for you,\"},\n"
    "  {\"start\":3723.457,\"end\":3723.458,\"text\":\"line one\\nline two\"},\n"
    "  {\"start\":36000,\"end\":36001,\"text\":\"ünïcödé \\\"quoted\\\"\"},\n"
    "  {\"start\":36005,\"end\":36005.5,\"text\":\"tail\"}\n"
    "]}\n";

static const char k_txt[] =
    "And so my fellow Americans,\n"
    "ask not what your country can do for you,\n"
    "line one\nline two\n"
    "ünïcödé \"quoted\"\n"
    "tail\n";

static void test_formats(void **state) {
    src_state ss = {k_segs, (int)(sizeof k_segs / sizeof k_segs[0]), 0, false};
    hd_graph_params p = hd_graph_default_params();
    p.user = &ss;
    p.queue_size = 1;
    hd_error err = {0};
    hd_graph *g = hd_graph_create(&p, &err);
    int src = hd_graph_add(g, &text_src_type, NULL, NULL, 0, NULL, &err);
    const char *fmts[] = {"srt", "vtt", "json", "txt"};
    char paths[4][512];
    for (int i = 0; i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/out.%s", tu_tmpdir(), fmts[i]);
        hd_kv kv[] = {{"path", paths[i]}};
        int k = hd_graph_add(g, hd_registry_find(reg, fmts[i]), NULL, kv, 1, NULL, &err);
        assert_true(k >= 0);
        assert_int_equal(hd_graph_link(g, src, NULL, k, NULL, &err), HD_OK);   /* fan-out */
    }
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    const char *want[] = {k_srt, k_vtt, k_json, k_txt};
    for (int i = 0; i < 4; i++) {
        char *got = slurp(paths[i]);
        if (strcmp(got, want[i]) != 0) fail_msg("%s:\n--- got ---\n%s--- want ---\n%s", fmts[i], got, want[i]);
        free(got);
    }
    /* the JSON is valid and holds the same numbers */
    char *js = slurp(paths[2]);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    cJSON *segs = cJSON_GetObjectItem(root, "segments");
    assert_int_equal(cJSON_GetArraySize(segs), 5);
    assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(segs, 2), "start")->valuedouble == 3723.457);
    cJSON_Delete(root);
    free(js);
}

static void test_empty_and_untimed(void **state) {
    /* no segments: valid empty files */
    src_state ss = {k_segs, 0, 0, false};
    hd_graph_params p = hd_graph_default_params();
    p.user = &ss;
    hd_error err = {0};
    const char *fmts[] = {"srt", "vtt", "json", "txt"};
    const char *want[] = {"", "WEBVTT\n\n", "{\"segments\": []}\n", ""};
    for (int i = 0; i < 4; i++) {
        hd_graph *g = hd_graph_create(&p, &err);
        char path[512];
        snprintf(path, sizeof path, "%s/empty.%s", tu_tmpdir(), fmts[i]);
        hd_kv kv[] = {{"path", path}};
        int s = hd_graph_add(g, &text_src_type, NULL, NULL, 0, NULL, &err);
        int k = hd_graph_add(g, hd_registry_find(reg, fmts[i]), NULL, kv, 1, NULL, &err);
        hd_graph_link(g, s, NULL, k, NULL, &err);
        assert_int_equal(hd_graph_run(g, &err), HD_OK);
        hd_graph_free(g);
        char *got = slurp(path);
        assert_string_equal(got, want[i]);
        free(got);
    }
    /* subtitles need timestamps; a plain text file does not */
    static const seg untimed[] = {{HD_PTS_NONE, 0, "no time", false}};
    src_state su = {untimed, 1, 0, false};
    p.user = &su;
    for (int i = 0; i < 2; i++) {
        hd_graph *g = hd_graph_create(&p, &err);
        char path[512];
        snprintf(path, sizeof path, "%s/untimed.%s", tu_tmpdir(), i ? "txt" : "srt");
        hd_kv kv[] = {{"path", path}};
        int s = hd_graph_add(g, &text_src_type, NULL, NULL, 0, NULL, &err);
        int k = hd_graph_add(g, hd_registry_find(reg, i ? "txt" : "srt"), "subs", kv, 1, NULL, &err);
        hd_graph_link(g, s, NULL, k, NULL, &err);
        hd_status st = hd_graph_run(g, &err);
        if (i == 0) {
            assert_int_equal(st, HD_ERR_ARG);
            char want_msg[1024];
            snprintf(want_msg, sizeof want_msg, "node 'subs': %s: text segment without a timestamp: \"no time\"", path);
            assert_string_equal(err.msg, want_msg);
        } else {
            assert_int_equal(st, HD_OK);
        }
        hd_graph_free(g);
    }
    /* an unwritable path fails at start, naming the node */
    hd_graph *g = hd_graph_create(&p, &err);
    hd_kv kv[] = {{"path", "/nonexistent/dir/x.srt"}};
    int s = hd_graph_add(g, &text_src_type, NULL, NULL, 0, NULL, &err);
    int k = hd_graph_add(g, hd_registry_find(reg, "srt"), NULL, kv, 1, NULL, &err);
    hd_graph_link(g, s, NULL, k, NULL, &err);
    assert_int_equal(hd_graph_run(g, &err), HD_ERR_IO);
    assert_string_equal(err.msg, "node 'srt0': /nonexistent/dir/x.srt: No such file or directory");
    hd_graph_free(g);
}

static void test_stdout(void **state) {
    src_state ss = {k_segs, (int)(sizeof k_segs / sizeof k_segs[0]), 0, true};
    hd_graph_params p = hd_graph_default_params();
    p.user = &ss;
    hd_error err = {0};
    hd_graph *g = hd_graph_create(&p, &err);
    int s = hd_graph_add(g, &src_type, NULL, NULL, 0, NULL, &err);
    int k = hd_graph_add(g, hd_registry_find(reg, "stdout"), NULL, NULL, 0, NULL, &err);
    assert_int_equal(hd_graph_link(g, s, NULL, k, NULL, &err), HD_OK);
    /* capture fd 1 in a file for the run */
    char path[512];
    snprintf(path, sizeof path, "%s/stdout.txt", tu_tmpdir());
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    hd_status st = hd_graph_run(g, &err);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal(st, HD_OK);
    hd_graph_free(g);
    char *got = slurp(path);
    /* pieces as they come; a newline ends each complete segment */
    assert_string_equal(got, "128000 9906 1917\n"
                             "And so my fellow Americans,\n"
                             " ask not what your country can do for you,\n"
                             "  line one\r\n\n  line two  \n"
                             "   \n"
                             "ünïcödé \"quoted\"\n"
                             "tail");
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_empty_and_untimed),
        cmocka_unit_test(test_stdout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
