/* tests/unit/test_text_join.c — the overlap join of segment texts
 * (graph/text_join.h) on synthetic word sequences: every word exactly once
 * for clean overlaps of 1..8 words, case and punctuation differences, words
 * cut in half at either window edge, repeated phrases resolved by the word
 * bound, no overlap; and the text sinks (graph/nodes_text.c) applying it to
 * overlapping timed segments, plus the verbose_json format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/graph.h"
#include "graph/registry.h"
#include "graph/text_join.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NW 48

static char g_vocab[300][16];

static void make_vocab(void) {
    tu_rng r;
    tu_rng_seed(&r, 11);
    for (int i = 0; i < 300; i++) {
        int n = 2 + (int)(tu_rng_u64(&r) % 8);
        for (int k = 0; k < n; k++) g_vocab[i][k] = (char)('a' + tu_rng_u64(&r) % 26);
        g_vocab[i][n] = 0;
    }
}

/* Appends words w[a..b) to buf, space-separated; style 1 capitalises and
 * adds a comma after every third word. */
static void put_words(char *buf, size_t size, const int *w, int a, int b, int style) {
    for (int i = a; i < b; i++) {
        size_t o = strlen(buf);
        snprintf(buf + o, size - o, "%s%s%s", o ? " " : "", g_vocab[w[i]], style && i % 3 == 0 ? "," : "");
        if (style) buf[o + (o ? 1 : 0)] = (char)(buf[o + (o ? 1 : 0)] - 'a' + 'A');
    }
}

/* The joined text prev + " " + next[skip..] with punctuation and case
 * removed, compared to the words w[0..n). */
static void expect_words(const char *prev, const char *next, size_t skip, const int *w, int n, const char *frag) {
    char joined[4096], want[4096] = "";
    snprintf(joined, sizeof joined, "%s %s", prev, next + skip);
    /* normalise: lower case, no commas, drop the fragment word */
    char norm[4096] = "";
    char *save = NULL;
    for (char *t = strtok_r(joined, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char word[64];
        size_t k = 0;
        for (const char *c = t; *c && k < 63; c++)
            if (*c != ',') word[k++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        word[k] = 0;
        if (frag && strcmp(word, frag) == 0) continue;
        size_t o = strlen(norm);
        snprintf(norm + o, sizeof norm - o, "%s%s", o ? " " : "", word);
    }
    put_words(want, sizeof want, w, 0, n, 0);
    if (strcmp(norm, want) != 0) fail_msg("joined:\n  %s\nwant:\n  %s\n(prev \"%s\", next \"%s\")", norm, want, prev, next);
}

static void test_clean_overlaps(void **state) {
    (void)state;
    make_vocab();
    tu_rng r;
    tu_rng_seed(&r, 5);
    int w[NW];
    for (int trial = 0; trial < 400; trial++) {
        for (int i = 0; i < NW; i++) w[i] = (int)(tu_rng_u64(&r) % 300);
        int a = 10 + (int)(tu_rng_u64(&r) % 25), k = 1 + (int)(tu_rng_u64(&r) % 8);
        int style = trial % 2;
        char prev[2048] = "", next[2048] = "";
        put_words(prev, sizeof prev, w, 0, a, 0);
        put_words(next, sizeof next, w, a - k, NW, style);
        /* the bound as the sink computes it: generous, not exact */
        size_t skip = hd_text_join_skip(prev, strlen(prev), next, strlen(next), (int)(k * 1.5) + 1);
        expect_words(prev, next, skip, w, NW, NULL);
    }
}

static void test_cut_words_at_edges(void **state) {
    (void)state;
    make_vocab();
    tu_rng r;
    tu_rng_seed(&r, 9);
    int w[NW];
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < NW; i++) w[i] = (int)(tu_rng_u64(&r) % 300);
        int a = 12 + (int)(tu_rng_u64(&r) % 20), k = 2 + (int)(tu_rng_u64(&r) % 5);
        char prev[2048] = "", next[2048] = "";
        /* prev ends with half of w[a] ("qz" marks a fragment no word has) */
        put_words(prev, sizeof prev, w, 0, a, 0);
        strcat(prev, " qzx");
        if (trial % 2) {
            /* next starts with the tail half of w[a-k-1] */
            strcpy(next, "zqy ");
        }
        put_words(next + strlen(next), sizeof next - strlen(next), w, a - k, NW, 0);
        size_t skip = hd_text_join_skip(prev, strlen(prev), next, strlen(next), k + 3);
        expect_words(prev, next, skip, w, NW, "qzx");
        assert_null(strstr(next + skip, "zqy"));   /* the half word of next is dropped */
    }
}

static void test_no_overlap_and_edges(void **state) {
    (void)state;
    const char *prev = "and so my fellow americans";
    /* nothing repeated: nothing skipped */
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), "ask not what", 12, 4), 0);
    /* a single word counts only at both edges */
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), "Americans, ask not", 18, 4), 11);
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), "so ask not", 10, 4), 0);
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), "x y americans ask", 17, 4), 0);
    /* the bound: 2 words may not drop 3 */
    const char *n3 = "my fellow americans ask";
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), n3, strlen(n3), 3), 20);
    /* with 2, "fellow americans" after a (taken as cut) first word */
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), n3, strlen(n3), 2), 20);
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), n3, strlen(n3), 1), 0);
    /* the whole next text repeated */
    assert_int_equal(hd_text_join_skip(prev, strlen(prev), "fellow Americans.", 17, 4), 17);
    /* punctuation-only words are ignored, UTF-8 compared as bytes */
    const char *fr = "des eaux et forêts -", *fr2 = "et forêts - et conseiller";
    assert_string_equal(fr2 + hd_text_join_skip(fr, strlen(fr), fr2, strlen(fr2), 3), "- et conseiller");
    /* non-ASCII punctuation is a word like any other */
    const char *fr3 = "des eaux et forêts —", *fr4 = "et forêts — et conseiller";
    assert_string_equal(fr4 + hd_text_join_skip(fr3, strlen(fr3), fr4, strlen(fr4), 3), "et conseiller");
    /* empty and NULL inputs */
    assert_int_equal(hd_text_join_skip("", 0, "a b", 3, 3), 0);
    assert_int_equal(hd_text_join_skip("a b", 3, "", 0, 3), 0);
    assert_int_equal(hd_text_join_skip(NULL, 0, "a", 1, 3), 0);
    assert_int_equal(hd_text_word_count("  Hello, world - again ", 23), 3);
}

static void test_repeated_phrase_needs_the_bound(void **state) {
    (void)state;
    /* "a b a b a b c": prev = first 4 words, next = last 5, true overlap 2 */
    const char *prev = "to be to be", *next = "to be to be or";
    size_t skip = hd_text_join_skip(prev, strlen(prev), next, strlen(next), 2);
    assert_string_equal(next + skip, "to be or");
    /* with a looser bound the longer (wrong) repeat wins: text alone cannot tell */
    skip = hd_text_join_skip(prev, strlen(prev), next, strlen(next), 4);
    assert_string_equal(next + skip, "or");
}

/* ---- sinks --------------------------------------------------------------------- */

typedef struct seg {
    int64_t pts, dur;
    const char *text;
} seg;

static const seg *g_segs;
static int g_nsegs;

static hd_node_ret src_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    (void)st, (void)port, (void)in;
    static int i;
    if (!g_segs) i = 0;
    if (i >= g_nsegs) {
        i = 0;
        return HD_NODE_EOS;
    }
    const seg *g = &g_segs[i++];
    hd_packet *p = hd_packet_text_new(g->text, strlen(g->text), err);
    if (!p) return HD_NODE_ERROR;
    p->pts = g->pts;
    p->duration = g->dur;
    return hd_node_send(n, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static const hd_port_def src_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_node_type src_type = {
    .name = "segsrc", .summary = "test", .outputs = src_out, .n_outputs = 1, .process = src_process,
};

static char *run_sink(const char *type, const hd_kv *extra, int n_extra) {
    hd_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/out.%s", tu_tmpdir(), type);
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    hd_graph *g = hd_graph_create(NULL, &err);
    int a = hd_graph_add(g, &src_type, NULL, NULL, 0, NULL, &err);
    hd_kv kv[4] = {{"path", path}};
    for (int i = 0; i < n_extra; i++) kv[1 + i] = extra[i];
    int b = hd_graph_add(g, hd_registry_find(reg, type), NULL, kv, 1 + n_extra, NULL, &err);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(hd_graph_link(g, a, NULL, b, NULL, &err), HD_OK);
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    hd_registry_free(reg);
    size_t n = 0;
    char *t = tu_read_file(path, &n);
    assert_non_null(t);
    char *z = realloc(t, n + 1);
    z[n] = 0;
    return z;
}

static const seg k_overlap[] = {
    {0, 12000000, " And so my fellow Americans, ask not what your"},
    {10500000, 9000000, "what your country can do for you,"},    /* 1.5 s overlap: "what your" repeated */
    {19500000, 3000000, "ask what you can do"},                  /* no overlap */
    {21000000, 1500000, "can do"},                               /* entirely repeated: skipped */
    {22500000, 2000000, "for your country."},
};

static void test_sinks_join_overlaps(void **state) {
    (void)state;
    g_segs = k_overlap;
    g_nsegs = 5;
    char *srt = run_sink("srt", NULL, 0);
    assert_string_equal(srt,
                        "1\n00:00:00,000 --> 00:00:12,000\nAnd so my fellow Americans, ask not what your\n\n"
                        "2\n00:00:12,000 --> 00:00:19,500\ncountry can do for you,\n\n"
                        "3\n00:00:19,500 --> 00:00:22,500\nask what you can do\n\n"
                        "4\n00:00:22,500 --> 00:00:24,500\nfor your country.\n\n");
    free(srt);
    char *txt = run_sink("txt", NULL, 0);
    assert_string_equal(txt, "And so my fellow Americans, ask not what your\ncountry can do for you,\nask what you can do\n"
                             "for your country.\n");
    free(txt);
}

static void test_verbose_json(void **state) {
    (void)state;
    g_segs = k_overlap;
    g_nsegs = 3;
    const hd_kv extra[] = {{"task", "translate"}, {"language", "fr"}};
    char *js = run_sink("verbose_json", extra, 2);
    cJSON *root = cJSON_Parse(js);
    if (!root) fail_msg("not JSON: %s", js);
    assert_string_equal(cJSON_GetObjectItem(root, "task")->valuestring, "translate");
    assert_string_equal(cJSON_GetObjectItem(root, "language")->valuestring, "fr");
    assert_string_equal(cJSON_GetObjectItem(root, "text")->valuestring,
                        "And so my fellow Americans, ask not what your country can do for you, ask what you can do");
    assert_true(cJSON_GetObjectItem(root, "duration")->valuedouble == 22.5);
    cJSON *segs = cJSON_GetObjectItem(root, "segments");
    assert_int_equal(cJSON_GetArraySize(segs), 3);
    cJSON *s1 = cJSON_GetArrayItem(segs, 1);
    assert_int_equal(cJSON_GetObjectItem(s1, "id")->valueint, 1);
    assert_true(cJSON_GetObjectItem(s1, "start")->valuedouble == 12.0);
    assert_true(cJSON_GetObjectItem(s1, "end")->valuedouble == 19.5);
    assert_string_equal(cJSON_GetObjectItem(s1, "text")->valuestring, "country can do for you,");
    cJSON_Delete(root);
    free(js);
    /* no segments at all: still valid */
    g_nsegs = 0;
    js = run_sink("verbose_json", NULL, 0);
    root = cJSON_Parse(js);
    if (!root) fail_msg("not JSON: %s", js);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "segments")), 0);
    assert_string_equal(cJSON_GetObjectItem(root, "task")->valuestring, "transcribe");
    assert_string_equal(cJSON_GetObjectItem(root, "text")->valuestring, "");
    cJSON_Delete(root);
    free(js);
}

/* ---- token ids paired with answers ------------------------------------------------------ */

/* A source with a text output and a tokens output: three answers, the
 * middle one blank; each answer's ids go out in the same call as its last
 * piece (as the llama node does), so the sink sees the two ports in any order. */
static hd_node_ret ans_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    (void)st, (void)port, (void)in;
    static int step;
    static const struct { const char *t; bool partial; int32_t ids[3]; int n_ids; int64_t pts; } k[] = {
        {"hello ", true, {0}, 0, 0}, {"world", false, {1, 2}, 2, 0}, {" ", false, {3}, 1, 2000000},
        {"bye", false, {4, 5, 6}, 3, 4000000},
    };
    if (step == 4) {
        step = 0;
        return HD_NODE_EOS;
    }
    int i = step++;
    hd_packet *p = hd_packet_text_new(k[i].t, strlen(k[i].t), err);
    if (!p) return HD_NODE_ERROR;
    p->pts = k[i].pts;
    p->duration = 1000000;
    if (k[i].partial) p->flags |= HD_PKT_FLAG_PARTIAL;
    if (hd_node_send(n, 0, p, err)) return HD_NODE_ERROR;
    if (k[i].n_ids) {
        hd_packet *t = hd_packet_tokens_new(k[i].ids, k[i].n_ids, err);
        if (!t || hd_node_send(n, 1, t, err)) return HD_NODE_ERROR;
    }
    return HD_NODE_OK;
}

static const hd_port_def ans_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT), 0}, {"tokens", HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_node_type ans_type = {
    .name = "anssrc", .summary = "test", .outputs = ans_out, .n_outputs = 2, .process = ans_process,
};

static char *run_with_ids(const char *type, int queue) {
    hd_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/ids.%s", tu_tmpdir(), type);
    hd_registry *reg = hd_registry_create(&err);
    assert_int_equal(hd_registry_add_builtins(reg, &err), HD_OK);
    hd_graph_params gp = hd_graph_default_params();
    gp.queue_size = queue;
    hd_graph *g = hd_graph_create(&gp, &err);
    int a = hd_graph_add(g, &ans_type, NULL, NULL, 0, NULL, &err);
    hd_kv kv[1] = {{"path", path}};
    int b = hd_graph_add(g, hd_registry_find(reg, type), NULL, kv, 1, NULL, &err);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(hd_graph_link(g, a, "out", b, "in", &err), HD_OK);
    assert_int_equal(hd_graph_link(g, a, "tokens", b, "tokens", &err), HD_OK);
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    hd_registry_free(reg);
    size_t n = 0;
    char *t = tu_read_file(path, &n);
    assert_non_null(t);
    char *z = realloc(t, n + 1);
    z[n] = 0;
    return z;
}

static void test_sinks_pair_token_ids(void **state) {
    (void)state;
    for (int q = 1; q <= 8; q += 7) {
        char *txt = run_with_ids("txt", q);
        assert_string_equal(txt, "hello world\n1 2\nbye\n4 5 6\n");   /* the blank answer's ids go with it */
        free(txt);
        char *js = run_with_ids("verbose_json", q);
        cJSON *root = cJSON_Parse(js);
        if (!root) fail_msg("not JSON: %s", js);
        cJSON *segs = cJSON_GetObjectItem(root, "segments");
        assert_int_equal(cJSON_GetArraySize(segs), 2);
        cJSON *t1 = cJSON_GetObjectItem(cJSON_GetArrayItem(segs, 1), "tokens");
        assert_int_equal(cJSON_GetArraySize(t1), 3);
        assert_int_equal(cJSON_GetArrayItem(t1, 2)->valueint, 6);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(segs, 0), "tokens")), 2);
        cJSON_Delete(root);
        free(js);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_overlaps),
        cmocka_unit_test(test_cut_words_at_edges),
        cmocka_unit_test(test_no_overlap_and_edges),
        cmocka_unit_test(test_repeated_phrase_needs_the_bound),
        cmocka_unit_test(test_sinks_join_overlaps),
        cmocka_unit_test(test_verbose_json),
        cmocka_unit_test(test_sinks_pair_token_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
