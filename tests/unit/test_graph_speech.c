/* tests/unit/test_graph_speech.c — the `mel` node (graph/nodes_speech.c):
 * file → mel → sink gives exactly the frames of speech/mel.h on the whole
 * decoded file whatever the chunk size, with timestamps of 10 ms per row;
 * audio that is not 16 kHz mono is refused with a hint.  The node is added
 * to the registry by the test (hd_registry_add). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/graph.h"
#include "graph/node.h"
#include "graph/parse.h"
#include "graph/registry.h"
#include "media/audio.h"
#include "speech/mel.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- a sink collecting embedding rows ----------------------------------- */

static struct {
    float *rows;
    int64_t n, cap, dim;
    int64_t next_pts;   /* expected pts of the next block */
    int bad_pts;
} g_sink;

static hd_node_ret sink_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)node, (void)state, (void)port, (void)err;
    const int64_t r = in->u.embed.rows, d = in->u.embed.dim;
    if (g_sink.n + r > g_sink.cap) {
        g_sink.cap = (g_sink.n + r) * 2;
        g_sink.rows = realloc(g_sink.rows, (size_t)(g_sink.cap * d) * sizeof(float));
    }
    memcpy(g_sink.rows + g_sink.n * d, in->u.embed.data, (size_t)(r * d) * sizeof(float));
    if (in->pts != g_sink.next_pts || in->duration != r * 10000) g_sink.bad_pts++;
    g_sink.next_pts = in->pts + in->duration;
    g_sink.n += r, g_sink.dim = d;
    return HD_NODE_OK;
}

static const hd_port_def sink_in[] = {{"in", HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_node_type sink_type = {
    .name = "embsink", .summary = "test sink", .inputs = sink_in, .n_inputs = 1, .process = sink_process,
};

static hd_status run(const char *desc, hd_error *err) {
    hd_registry *reg = hd_registry_create(err);
    assert_non_null(reg);
    assert_int_equal(hd_registry_add_builtins(reg, err), HD_OK);
    assert_non_null(hd_registry_find(reg, "mel"));   /* a built-in node */
    assert_int_equal(hd_registry_add(reg, &sink_type, err), HD_OK);
    hd_graph *g = hd_graph_create(NULL, err);
    int off = 0;
    hd_status st = hd_pipeline_build(desc, reg, g, &off, err);
    if (st == HD_OK) st = hd_graph_run(g, err);
    hd_graph_free(g);
    hd_registry_free(reg);
    return st;
}

static void test_mel_node_matches_library(void **state) {
    (void)state;
    char path[1024], desc[1400];
    tu_fixture(path, sizeof path, "audio/librivox_sense_and_sensibility_0880.wav");
    float *x = NULL, *ref = NULL;
    size_t n = 0;
    int64_t nf = 0;
    hd_error err = {0};
    assert_int_equal(hd_audio_load(path, NULL, 60, &x, &n, &err), HD_OK);
    assert_int_equal(hd_mel_compute(NULL, x, n, &ref, &nf, &err), HD_OK);
    assert_true(nf > 250);
    const int chunks[] = {1024, 160, 7, 40000};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        memset(&g_sink, 0, sizeof g_sink);
        snprintf(desc, sizeof desc, "file:%s decoder=ffmpeg chunk=%d ! mel ! embsink", path, chunks[i]);
        hd_status st = run(desc, &err);
        if (st) fail_msg("%s: %s", desc, err.msg);
        assert_int_equal(g_sink.n, nf);
        assert_int_equal(g_sink.dim, 80);
        assert_int_equal(g_sink.bad_pts, 0);
        assert_memory_equal(g_sink.rows, ref, (size_t)(nf * 80) * sizeof(float));
        free(g_sink.rows);
    }
    free(x), free(ref);
}

static void test_mel_node_refuses_other_audio(void **state) {
    (void)state;
    hd_error err = {0};
    memset(&g_sink, 0, sizeof g_sink);
    assert_int_not_equal(run("sine rate=8000 duration=0.5 ! mel ! embsink", &err), HD_OK);
    assert_non_null(strstr(err.msg, "16000 Hz mono"));
    assert_non_null(strstr(err.msg, "resample"));
    assert_int_not_equal(run("sine channels=2 duration=0.5 ! mel ! embsink", &err), HD_OK);
    assert_non_null(strstr(err.msg, "x2"));
    /* through resample it works: 0.5 s at 8 kHz → 0.5 s at 16 kHz → 48 frames */
    memset(&g_sink, 0, sizeof g_sink);
    assert_int_equal(run("sine rate=8000 duration=0.5 ! resample:16000 ! mel:40 ! embsink", &err), HD_OK);
    assert_int_equal(g_sink.dim, 40);
    assert_true(g_sink.n >= 47 && g_sink.n <= 48);
    free(g_sink.rows);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mel_node_matches_library),
        cmocka_unit_test(test_mel_node_refuses_other_audio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
