/* tests/unit/test_graph_parse.c — graph/parse.c: the pipeline description
 * language (elements, options, quoting, branches by reference) and its
 * error messages with positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/parse.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static hd_registry *reg;

static int setup(void **state) {
    hd_error err = {0};
    reg = hd_registry_create(&err);
    return reg && hd_registry_add_builtins(reg, &err) == HD_OK ? 0 : -1;
}

static int teardown(void **state) {
    hd_registry_free(reg);
    return 0;
}

/* Builds desc; expects failure with exactly `msg` at byte offset `off`. */
static void expect_error(const char *desc, int off, const char *msg) {
    hd_error err = {0};
    hd_graph *g = hd_graph_create(NULL, &err);
    int o = -2;
    hd_status st = hd_pipeline_build(desc, reg, g, &o, &err);
    if (st == HD_OK) fail_msg("'%s' was accepted", desc);
    if (strcmp(err.msg, msg) != 0 || o != off)
        fail_msg("'%s':\n  got      [%d] %s\n  expected [%d] %s", desc, o, err.msg, off, msg);
    hd_graph_free(g);
}

static hd_graph *build_ok(const char *desc) {
    hd_error err = {0};
    hd_graph *g = hd_graph_create(NULL, &err);
    int o;
    if (hd_pipeline_build(desc, reg, g, &o, &err)) fail_msg("'%s': %s (offset %d)", desc, err.msg, o);
    return g;
}

static void test_errors(void **state) {
    expect_error("sine ! resampel rate=16000 ! null", 7,
                 "column 8: unknown node type 'resampel' (did you mean 'resample'?)");
    expect_error("sine ! warpdrive ! null", 7, "column 8: unknown node type 'warpdrive' (see 'herd run --list')");
    expect_error("sine ! resample rat=16000 ! null", 16,
                 "column 17: node 'resample0' (resample): unknown option 'rat' (options: rate, channels, quality)");
    expect_error("! sine", 0, "column 1: '!' needs an element before it");
    expect_error("sine !", 5, "column 6: expected an element after '!'");
    expect_error("sine ! ; null", 5, "column 6: expected an element after '!'");
    expect_error("sine ! ! null", 7, "column 8: expected an element between '!' and '!'");
    expect_error("sine ! rate=3 null", 7, "column 8: expected an element after '!', found option 'rate=3'");
    expect_error("sine freq=\"440 ! null", 10, "column 11: unterminated \" quote");
    expect_error("sine freq='440 ! null", 10, "column 11: unterminated ' quote");
    expect_error("wav:\"a\\qb\" ", 6, "column 7: unknown escape '\\q' in quotes");
    expect_error("rate=5 sine", 0, "column 1: option 'rate=5' does not follow an element");
    expect_error("sine ! t. ! null", 7, "column 8: no element named 't'");
    expect_error("sine ! srt:x.srt", 5,
                 "column 6: cannot link 'sine0'.out (audio) to 'srt0'.in (text): packet kinds do not match");
    expect_error("sine ! null:abc", 7, "column 8: node type 'null' has no 'null:VALUE' shorthand");
    expect_error("sine name=a name=b", 12, "column 13: option 'name' given twice");
    expect_error("sine name=a ! null  sine name=a ! null", 20, "column 21: node name 'a' is used twice");
    expect_error("sine name=\"a b\"", 10, "column 11: bad node name 'a b' (letters, digits, '_' and '-', at most 63)");
    expect_error("sine name=s ! n.foo  null name=n", 12,
                 "column 13: node 'n' (null) has no input port 'foo' (inputs: in)");
    expect_error("sine name=s  s. rate=3 ! null", 16,
                 "column 17: option 'rate' given to the reference 's.': set it where 's' is defined");
    expect_error("file:a.wav path=b.wav ! null", 11, "column 12: node 'file0' (file): option 'path' given twice");
    expect_error("sine freq=abc ! null", 5, "column 6: node 'sine0' (sine): option 'freq' needs a number, got 'abc'");
    expect_error("sine amplitude=2 ! null", 5,
                 "column 6: node 'sine0' (sine): option 'amplitude' must be in [0, 1], got 2");
    expect_error("raw format=s24 ! null", 4,
                 "column 5: node 'raw0' (raw): option 'format' must be one of s16le|f32le, got 's24'");
    expect_error("wav:x.wav ! null", 10, "column 11: cannot link from 'wav0': wav is a sink and has no outputs");
    expect_error("sine ! sine", 5, "column 6: cannot link to 'sine1': sine is a source and has no inputs");
    expect_error("sine ! :x", 7, "column 8: missing node type before ':'");
    expect_error("sine ! a$b", 7, "column 8: 'a$b' is not a node type name");
    expect_error(".x ! null", 0, "column 1: bad element reference '.x' (expected NAME. or NAME.PORT)");
    expect_error("", -1, "empty pipeline description");
    expect_error(" \t\n ", -1, "empty pipeline description");
    expect_error(";;", -1, "empty pipeline description");
    /* columns count characters, not bytes */
    expect_error("sine freq=\"é\" ! bogus", 17, "column 17: unknown node type 'bogus' (see 'herd run --list')");
    /* a missing required option is reported at the element */
    expect_error("sine ! wav", 7, "column 8: node 'wav0' (wav): option 'path' is required (WAV file to write, '-' for stdout)");
}

static void test_too_long(void **state) {
    size_t n = HD_PIPELINE_MAX_LEN + 10;
    char *d = malloc(n + 1);
    memset(d, ' ', n);
    memcpy(d, "sine", 4);
    d[n] = 0;
    char msg[128];
    snprintf(msg, sizeof msg, "pipeline description longer than %d bytes", HD_PIPELINE_MAX_LEN);
    expect_error(d, -1, msg);
    free(d);
}

static void test_caret(void **state) {
    char buf[128];
    assert_string_equal(hd_pipeline_caret("sine ! resampel", 7, buf, sizeof buf), "sine ! resampel\n       ^");
    assert_string_equal(hd_pipeline_caret("a\tb ! é ! x", 11, buf, sizeof buf), "a b ! é ! x\n          ^");
    assert_string_equal(hd_pipeline_caret("abc", 0, buf, 6), "abc\n^");
}

static int64_t packets_in(hd_graph *g, const char *name) {
    hd_node_stats st[32];
    int n = hd_graph_stats(g, st, 32);
    for (int i = 0; i < n; i++)
        if (strcmp(st[i].name, name) == 0) return st[i].packets_in;
    fail_msg("no node %s", name);
    return -1;
}

static void test_structure_and_run(void **state) {
    hd_error err = {0};
    /* names: automatic per type, explicit via name= */
    hd_graph *g = build_ok("sine duration=0.25 chunk=400 ! tee name=t ! null ; t. ! resample rate=8000 ! null  t. ! null");
    assert_int_equal(hd_graph_node_count(g), 6);
    assert_string_equal(hd_graph_node_name(g, 0), "sine0");
    assert_string_equal(hd_graph_node_name(g, 1), "t");
    assert_string_equal(hd_graph_node_name(g, 2), "null0");
    assert_string_equal(hd_graph_node_name(g, 3), "resample0");
    assert_string_equal(hd_graph_node_name(g, 5), "null2");
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    /* 4000 frames in chunks of 400: every branch sees all 10 packets */
    assert_int_equal(packets_in(g, "t"), 10);
    assert_int_equal(packets_in(g, "null0"), 10);
    assert_int_equal(packets_in(g, "resample0"), 10);
    assert_int_equal(packets_in(g, "null2"), 10);
    hd_graph_free(g);

    /* forward references and explicit ports */
    g = build_ok("m. ! n.in   sine duration=0.05 name=m   null name=n");
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_true(packets_in(g, "n") > 0);
    hd_graph_free(g);

    /* a ref in the middle of a chain: in and out of the same node */
    g = build_ok("sine duration=0.05 ! x. ! r. ! null   resample name=r rate=8000   tee name=x");
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    assert_int_equal(packets_in(g, "x"), 1);
    assert_int_equal(packets_in(g, "r"), 1);
    assert_int_equal(packets_in(g, "null0"), 2);   /* resample: one packet + the tail at flush */
    hd_graph_free(g);
    expect_error("sine duration=0.05 ! r.   resample name=r   sine ! r.", 49,
                 "column 50: cannot link 'sine1' to 'r': all 1 input(s) of 'r' are linked");

    /* no separators needed around '!' and ';' */
    g = build_ok("sine duration=0.05!null;sine duration=0.05!null");
    assert_int_equal(hd_graph_node_count(g), 4);
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    hd_graph_free(g);
}

static void test_quoting(void **state) {
    /* quoted paths with spaces, '!', ';', '=', ':' and '.' reach the option intact */
    char dir[512], desc[2048], path[1024];
    snprintf(dir, sizeof dir, "%s/q d!r;x", tu_tmpdir());
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/a=b:c \"q\".wav", dir);
    snprintf(desc, sizeof desc, "sine duration=0.01 ! wav:'%s/a=b:c \"q\".wav'", dir);
    hd_error err = {0};
    hd_graph *g = build_ok(desc);
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    hd_graph_free(g);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 44 + 160 * 2);   /* 10 ms at 16 kHz, 16-bit */
    /* double quotes with escapes, in the middle of a word */
    snprintf(desc, sizeof desc, "sine duration=0.01 ! wav path=\"%s/e\\\"x\\\\.wav\"", dir);
    g = build_ok(desc);
    assert_int_equal(hd_graph_run(g, &err), HD_OK);
    hd_graph_free(g);
    snprintf(path, sizeof path, "%s/e\"x\\.wav", dir);
    assert_int_equal(stat(path, &st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),  cmocka_unit_test(test_too_long),          cmocka_unit_test(test_caret),
        cmocka_unit_test(test_quoting), cmocka_unit_test(test_structure_and_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
