/* tests/unit/test_graph_image.c — graph/nodes_image.c: image and video
 * sources against media/ decoding directly, timestamps and durations of
 * frames, the PPM sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/parse.h"
#include "media/image.h"
#include "media/video.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A sink keeping a reference to every picture (user = frames array). */
typedef struct frames {
    hd_packet *p[64];
    int n;
} frames;

static hd_node_ret keep_process(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    frames *f = hd_node_user(n);
    if (f->n < 64) f->p[f->n++] = hd_packet_ref(in);
    return HD_NODE_OK;
}
static const hd_port_def pic_in[] = {{"in", HD_KIND_BIT(HD_PKT_IMAGE), 0}};
static const hd_node_type keep_type = {.name = "keep", .inputs = pic_in, .n_inputs = 1, .process = keep_process};

static hd_status run(const char *desc, frames *user, hd_error *err) {
    hd_graph_params p = hd_graph_default_params();
    p.user = user;
    hd_graph *g = hd_graph_create(&p, err);
    int off;
    hd_status st = hd_pipeline_build(desc, reg, g, &off, err);
    if (!st) st = hd_graph_run(g, err);
    hd_graph_free(g);
    return st;
}

/* Reads a binary PPM written by the ppm node. */
static uint8_t *read_ppm(const char *path, int *w, int *h) {
    size_t n;
    uint8_t *b = tu_read_file(path, &n);
    assert_non_null(b);
    int off = 0;
    assert_int_equal(sscanf((char *)b, "P6\n%d %d\n255\n%n", w, h, &off), 2);
    assert_true(off > 0 && (size_t)off + (size_t)*w * *h * 3 == n);
    uint8_t *px = malloc((size_t)*w * *h * 3);
    memcpy(px, b + off, (size_t)*w * *h * 3);
    free(b);
    return px;
}

static void test_image_to_ppm(void **state) {
    char in[512], out[512], desc[2048];
    const char *files[] = {"images/exif_orientation6_waterfall.jpg", "images/rgba_three_dice.png",
                           "images/palette_trns_interlaced_toucan.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tu_fixture(in, sizeof in, files[i]);
        snprintf(out, sizeof out, "%s/img%zu.ppm", tu_tmpdir(), i);
        snprintf(desc, sizeof desc, "image:%s ! ppm:%s", in, out);
        hd_error err = {0};
        if (run(desc, NULL, &err)) fail_msg("%s", err.msg);
        hd_image *ref = hd_image_load(in, NULL, &err);
        assert_non_null(ref);
        int w, h;
        uint8_t *px = read_ppm(out, &w, &h);
        assert_int_equal(w, ref->w);
        assert_int_equal(h, ref->h);
        assert_memory_equal(px, ref->data, (size_t)w * h * 3);
        if (i == 0) assert_true(w == 1800 && h == 1200);   /* EXIF orientation 6 applied */
        free(px);
        hd_image_free(ref);
    }
}

static void test_video_frames(void **state) {
    char in[512], desc[1024];
    tu_fixture(in, sizeof in, "video/chaplin.mp4");
    frames *f = calloc(1, sizeof *f);
    hd_error err = {0};
    hd_graph_params p = hd_graph_default_params();
    p.user = f;
    hd_graph *g = hd_graph_create(&p, &err);
    /* threads=1: FFmpeg's own frame threads are not instrumented for TSan */
    snprintf(desc, sizeof desc, "video:%s frames=5 threads=1 name=v", in);
    int off;
    assert_int_equal(hd_pipeline_build(desc, reg, g, &off, &err), HD_OK);
    int k = hd_graph_add(g, &keep_type, NULL, NULL, 0, NULL, &err);
    assert_int_equal(hd_graph_link(g, hd_graph_find(g, "v"), NULL, k, NULL, &err), HD_OK);
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    assert_int_equal(f->n, 5);

    /* the same frames and times as media/video.h gives directly */
    hd_video_params vp = hd_video_default_params();
    vp.n_frames = 5;
    vp.threads = 1;
    hd_video_reader *r = hd_video_open(in, &vp, &err);
    assert_non_null(r);
    for (int i = 0; i < 5; i++) {
        const hd_video_frame *fr;
        assert_int_equal(hd_video_next(r, &fr, &err), HD_OK);
        assert_non_null(fr);
        hd_packet *pk = f->p[i];
        assert_int_equal(pk->kind, HD_PKT_IMAGE);
        assert_int_equal(pk->u.image.width, fr->image.w);
        assert_int_equal(pk->u.image.height, fr->image.h);
        assert_int_equal(pk->pts, (int64_t)llround(fr->pts * 1e6));
        assert_memory_equal(pk->u.image.data, fr->image.data, (size_t)fr->image.w * fr->image.h * 3);
        /* duration reaches the next frame; the last keeps the previous spacing */
        if (i < 4) assert_int_equal(pk->duration, f->p[i + 1]->pts - pk->pts);
        else assert_int_equal(pk->duration, f->p[3]->duration);
        assert_true(pk->duration > 0);
    }
    hd_video_close(r);
    for (int i = 0; i < f->n; i++) hd_packet_unref(f->p[i]);
    free(f);
}

static void test_errors(void **state) {
    char in[512], desc[2048];
    hd_error err = {0};
    tu_fixture(in, sizeof in, "video/chaplin.mp4");
    snprintf(desc, sizeof desc, "video:%s frames=3 threads=1 ! ppm:%s/one.ppm", in, tu_tmpdir());
    assert_int_equal(run(desc, NULL, &err), HD_ERR_ARG);
    char want[1024];
    snprintf(want, sizeof want, "node 'ppm0': %s/one.ppm: a second picture arrived; put %%d in the path to number them",
             tu_tmpdir());
    assert_string_equal(err.msg, want);
    /* numbered output works */
    snprintf(desc, sizeof desc, "video:%s frames=3 threads=1 ! ppm:%s/fr%%03d.ppm", in, tu_tmpdir());
    assert_int_equal(run(desc, NULL, &err), HD_OK);
    int w, h;
    char path[1024];
    snprintf(path, sizeof path, "%s/fr002.ppm", tu_tmpdir());
    free(read_ppm(path, &w, &h));
    snprintf(desc, sizeof desc, "image:x.png ! ppm:%%s%%d.ppm");
    assert_int_equal(run(desc, NULL, &err), HD_ERR_IO);   /* the image fails first, in order */
    tu_fixture(in, sizeof in, "images/bus.jpg");
    snprintf(desc, sizeof desc, "image:%s ! ppm:%%s.ppm", in);
    assert_int_equal(run(desc, NULL, &err), HD_ERR_ARG);
    assert_string_equal(err.msg, "node 'ppm0': path '%s.ppm': only one %d (or %05d ...) conversion is allowed");
    /* pictures do not go into audio nodes */
    assert_int_equal(run("image:x.png ! resample ! null", NULL, &err), HD_ERR_ARG);
    assert_string_equal(err.msg, "column 13: cannot link 'image0'.out (image) to 'resample0'.in (audio): packet kinds do not match");
    tu_fixture(in, sizeof in, "corrupt/empty.png");
    snprintf(desc, sizeof desc, "image:%s ! ppm:x.ppm", in);
    assert_int_not_equal(run(desc, NULL, &err), HD_OK);
    assert_true(strncmp(err.msg, "node 'image0': ", 15) == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_to_ppm),
        cmocka_unit_test(test_video_frames),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
