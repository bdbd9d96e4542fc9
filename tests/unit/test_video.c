/* tests/unit/test_video.c — media/video: every fixture clip opens with the
 * size/codec the fixtures README states; uniform sampling gives exactly n
 * frames at the right times, identical to the same frames of a full decode;
 * fps sampling; rotation from the display matrix (dog_and_stove.mp4 carries
 * 180 degrees) and the matrix -> orientation map; measured durations agree
 * with the containers'; truncated and non-video files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/display.h>

#include "media/video.h"
#include "testutil.h"

static void check_error(const hd_error *err, const char *name) {
    size_t n = strlen(name);
    if (err->code == HD_OK || strncmp(err->msg, name, n) != 0 || err->msg[n] != ':' || strchr(err->msg, '\n'))
        fail_msg("bad error for %s: code %d, '%s'", name, err->code, err->msg);
}

static hd_video_reader *open_fixture(const char *rel, const hd_video_params *p) {
    char path[1024];
    hd_error err = {0};
    hd_video_reader *r = hd_video_open(tu_fixture(path, sizeof path, rel), p, &err);
    if (!r) fail_msg("%s: %s", rel, err.msg);
    return r;
}

static uint64_t checksum(const hd_image *img) {
    uint64_t h = 1469598103934665603ull;
    size_t n = (size_t)img->w * img->h * 3;
    for (size_t i = 0; i < n; i++) h = (h ^ img->data[i]) * 1099511628211ull;
    return h;
}

static const struct {
    const char *rel, *codec;
    int w, h;
    double seconds, fps;
} clips[] = {
    {"video/big_buck_bunny_0_30.webm", "vp8", 1280, 720, 30.0, 24},
    {"video/chaplin.mp4", "h264", 640, 360, 9.64, 25},
    {"video/chaplin_first4s_vp9_opus.mkv", "vp9", 320, 180, 4.0, 25},
    {"video/dog_and_stove.mp4", "h264", 1280, 720, 2.38, 0}, /* 1/90000 time base, irregular */
};

static void test_uniform_sampling(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof clips / sizeof *clips; c++) {
        hd_video_params p = hd_video_default_params();
        p.n_frames = 8;
        hd_video_reader *r = open_fixture(clips[c].rel, &p);
        const hd_video_info *info = hd_video_reader_info(r);
        assert_string_equal(info->codec, clips[c].codec);
        assert_int_equal(info->width, clips[c].w);
        assert_int_equal(info->height, clips[c].h);
        assert_true(info->has_audio);
        assert_true(fabs(info->duration - clips[c].seconds) < 0.05);
        if (clips[c].fps > 0) assert_true(fabs(info->fps - clips[c].fps) < 0.01);
        const hd_video_frame *f;
        hd_error err = {0};
        int n = 0;
        double last_pts = -1;
        int64_t last_idx = -1;
        while (hd_video_next(r, &f, &err) == HD_OK && f) {
            assert_int_equal(f->sample, n);
            assert_int_equal(f->image.w, clips[c].w);
            assert_int_equal(f->image.h, clips[c].h);
            double target = info->duration * (n + 0.5) / 8;
            assert_true(fabs(f->target - target) < 1e-9);
            assert_true(f->pts <= f->target + 1e-9);           /* the frame shown at the target time */
            assert_true(f->target - f->pts < 0.2);             /* ... and not an older one */
            assert_true(f->pts >= last_pts && f->index > last_idx);
            last_pts = f->pts, last_idx = f->index;
            n++;
        }
        assert_int_equal(err.code, HD_OK);
        assert_int_equal(n, 8);
        assert_string_equal(hd_video_warning(r), "");
        hd_video_close(r);
    }
}

/* The frames uniform sampling returns are bit-identical to those frames of a
 * decode of every frame; ALL mode counts the container's frames. */
static void test_uniform_matches_full_decode(void **state) {
    (void)state;
    static const char *rels[] = {"video/chaplin_first4s_vp9_opus.mkv", "video/dog_and_stove.mp4"};
    for (int c = 0; c < 2; c++) {
        hd_video_params p = hd_video_default_params();
        p.sampling = HD_VIDEO_ALL;
        hd_video_reader *r = open_fixture(rels[c], &p);
        uint64_t sums[512];
        double pts[512];
        int n = 0;
        const hd_video_frame *f;
        hd_error err = {0};
        while (hd_video_next(r, &f, &err) == HD_OK && f && n < 512) {
            assert_int_equal(f->index, n);
            sums[n] = checksum(&f->image);
            pts[n++] = f->pts;
        }
        assert_int_equal(err.code, HD_OK);
        const hd_video_info *info = hd_video_reader_info(r);
        if (info->n_frames_header > 0) assert_int_equal(n, info->n_frames_header);
        else assert_true(fabs(n - info->duration * info->fps) <= 1.0);
        hd_video_close(r);

        p = hd_video_default_params();
        p.n_frames = 12;
        r = open_fixture(rels[c], &p);
        int k = 0;
        while (hd_video_next(r, &f, &err) == HD_OK && f) {
            assert_true(f->index >= 0 && f->index < n);
            assert_true(sums[f->index] == checksum(&f->image));
            assert_true(pts[f->index] == f->pts);
            /* the last frame at or before the target */
            assert_true(pts[f->index] <= f->target && (f->index + 1 == n || pts[f->index + 1] > f->target));
            k++;
        }
        assert_int_equal(k, 12);
        hd_video_close(r);
    }
}

/* Seeking to the keyframe before far targets picks the same frames, with the
 * same pixels, as decoding everything, and decodes fewer frames. */
static void test_seeking_same_frames(void **state) {
    (void)state;
    static const char *rels[] = {"video/big_buck_bunny_0_30.webm", "video/chaplin.mp4"};
    for (int c = 0; c < 2; c++) {
        hd_video_params p = hd_video_default_params(), q = p;
        p.n_frames = q.n_frames = 6;
        p.seek_gap = 0;   /* decode every frame */
        q.seek_gap = 0.5; /* seek whenever a target is 0.5 s ahead */
        hd_video_reader *a = open_fixture(rels[c], &p), *b = open_fixture(rels[c], &q);
        const hd_video_frame *fa, *fb;
        hd_error err = {0};
        int n = 0;
        for (;;) {
            assert_int_equal(hd_video_next(a, &fa, &err), HD_OK);
            uint64_t sa = fa ? checksum(&fa->image) : 0;
            double pa = fa ? fa->pts : -1;
            int64_t ia = fa ? fa->index : -1;
            assert_int_equal(hd_video_next(b, &fb, &err), HD_OK);
            assert_true((fa == NULL) == (fb == NULL));
            if (!fa) break;
            if (pa != fb->pts || sa != checksum(&fb->image))
                fail_msg("%s sample %d: pts %.3f vs %.3f (seeking), pixels %s", rels[c], n, pa, fb->pts,
                         sa == checksum(&fb->image) ? "equal" : "differ");
            assert_int_equal(ia, fb->index);
            n++;
        }
        assert_int_equal(n, 6);
        int64_t da = hd_video_reader_info(a)->n_decoded, db = hd_video_reader_info(b)->n_decoded;
        print_message("%s: %lld frames decoded without seeking, %lld with\n", rels[c], (long long)da, (long long)db);
        assert_true(db <= da);          /* never more work (chaplin.mp4 has no later keyframe to jump to) */
        if (c == 0) assert_true(db < da); /* the WebM has keyframes to jump to */
        hd_video_close(a);
        hd_video_close(b);
    }
}

static long rss_now_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Frames are handed out one at a time: decoding all 720 frames of the 30-s
 * 1280x720 clip (2 GB of RGB) keeps the resident set flat. */
static void test_streamed_memory(void **state) {
    (void)state;
    hd_video_params p = hd_video_default_params();
    p.sampling = HD_VIDEO_ALL;
    p.threads = 1;
    hd_video_reader *r = open_fixture("video/big_buck_bunny_0_30.webm", &p);
    const hd_video_frame *f;
    hd_error err = {0};
    long base = 0, top = 0;
    int n = 0;
    while (hd_video_next(r, &f, &err) == HD_OK && f) {
        long now = rss_now_kb();
        if (n == 10) base = now;
        if (now > top) top = now;
        n++;
    }
    hd_video_close(r);
    print_message("%d frames, resident set %ld KiB after 10 frames, at most %ld KiB\n", n, base, top);
    assert_true(n >= 719 && n <= 721);
    assert_true(base > 0 && top - base < 64 * 1024);
}

/* A file in memory gives the same frames as the file on disk. */
static void test_memory_input(void **state) {
    (void)state;
    char path[1024];
    size_t size;
    uint8_t *bytes = tu_read_file(tu_fixture(path, sizeof path, "video/chaplin_first4s_vp9_opus.mkv"), &size);
    assert_non_null(bytes);
    hd_video_params p = hd_video_default_params();
    p.n_frames = 5;
    p.measure_duration = true; /* exercises the reopen of a memory input */
    hd_error err = {0};
    hd_video_reader *a = open_fixture("video/chaplin_first4s_vp9_opus.mkv", &p);
    hd_video_reader *b = hd_video_open_memory(bytes, size, "mem.mkv", &p, &err);
    if (!b) fail_msg("%s", err.msg);
    const hd_video_frame *fa, *fb;
    int n = 0;
    while (hd_video_next(a, &fa, &err) == HD_OK && fa) {
        uint64_t sa = checksum(&fa->image);
        double pa = fa->pts;
        assert_int_equal(hd_video_next(b, &fb, &err), HD_OK);
        assert_non_null(fb);
        assert_true(pa == fb->pts && sa == checksum(&fb->image));
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(hd_video_next(b, &fb, &err), HD_OK);
    assert_null(fb);
    hd_video_close(a);
    hd_video_close(b);
    assert_null(hd_video_open_memory(bytes, 0, "empty.mkv", &p, &err));
    check_error(&err, "empty.mkv");
    free(bytes);
}

static void test_fps_sampling(void **state) {
    (void)state;
    hd_video_params p = hd_video_default_params();
    p.sampling = HD_VIDEO_FPS;
    p.fps = 2.0;
    hd_video_reader *r = open_fixture("video/chaplin.mp4", &p);
    const hd_video_frame *f;
    hd_error err = {0};
    int n = 0;
    while (hd_video_next(r, &f, &err) == HD_OK && f) {
        assert_true(fabs(f->target - n * 0.5) < 1e-9);
        assert_true(f->pts <= f->target + 1e-9 && f->target - f->pts < 0.04 + 1e-9); /* 25 fps */
        n++;
    }
    assert_int_equal(n, 20); /* 0, 0.5, ..., 9.5 within 9.64 s */
    hd_video_close(r);
    /* more samples than frames: FPS never repeats past the end */
    p.fps = 100;
    r = open_fixture("video/dog_and_stove.mp4", &p);
    n = 0;
    while (hd_video_next(r, &f, &err) == HD_OK && f) n++;
    assert_true(n >= 230 && n <= 238);
    hd_video_close(r);
}

static void test_rotation(void **state) {
    (void)state;
    /* av_display_rotation_set takes a clockwise angle; set(90) is the matrix
     * (0 1 -1 0) of a phone's portrait video, which FFmpeg shows rotated 90
     * degrees clockwise; the flip mirrors after the rotation */
    int32_t m[9];
    static const struct { double angle; int hflip, o; } cases[] = {
        {0, 0, 1}, {90, 0, 6}, {-90, 0, 8}, {270, 0, 8}, {180, 0, 3}, {-180, 0, 3}, {0, 1, 2}, {180, 1, 4},
        {90, 1, 5}, {-90, 1, 7}, {45, 0, 0}, {30, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        av_display_rotation_set(m, cases[i].angle);
        if (cases[i].hflip) av_display_matrix_flip(m, 1, 0);
        int o = hd_video_display_orientation(m);
        if (cases[i].angle == 90 && !cases[i].hflip) {
            assert_true(m[0] == 0 && m[1] == 65536 && m[3] == -65536 && m[4] == 0);
            assert_true(fabs(av_display_rotation_get(m) + 90) < 1e-6); /* ffprobe: "rotation of -90.00 degrees" */
        }
        if (o != cases[i].o) fail_msg("angle %g flip %d: orientation %d, expected %d", cases[i].angle, cases[i].hflip, o, cases[i].o);
    }
    /* dog_and_stove.mp4 is stored upside down with a 180-degree display matrix */
    hd_video_params p = hd_video_default_params(), q = p;
    p.n_frames = q.n_frames = 3;
    q.apply_rotation = false;
    hd_video_reader *a = open_fixture("video/dog_and_stove.mp4", &p), *b = open_fixture("video/dog_and_stove.mp4", &q);
    assert_int_equal(hd_video_reader_info(a)->rotation, 180);
    assert_int_equal(hd_video_reader_info(b)->rotation, 0);
    const hd_video_frame *fa, *fb;
    hd_error err = {0};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(hd_video_next(a, &fa, &err), HD_OK);
        assert_int_equal(hd_video_next(b, &fb, &err), HD_OK);
        assert_non_null(fa);
        assert_non_null(fb);
        int w = fa->image.w, h = fa->image.h;
        assert_int_equal(fb->image.w, w);
        for (int y = 0; y < h; y += 7)
            for (int x = 0; x < w; x += 5)
                assert_memory_equal(fa->image.data + ((size_t)y * w + x) * 3,
                                    fb->image.data + ((size_t)(h - 1 - y) * w + (w - 1 - x)) * 3, 3);
    }
    hd_video_close(a);
    hd_video_close(b);
}

static void test_measured_duration(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof clips / sizeof *clips; c++) {
        hd_video_params p = hd_video_default_params();
        p.measure_duration = true;
        p.n_frames = 4;
        hd_video_reader *r = open_fixture(clips[c].rel, &p);
        double d = hd_video_reader_info(r)->duration;
        if (fabs(d - clips[c].seconds) > 0.1) fail_msg("%s: measured %.3f s, expected %.2f s", clips[c].rel, d, clips[c].seconds);
        const hd_video_frame *f;
        hd_error err = {0};
        int n = 0;
        while (hd_video_next(r, &f, &err) == HD_OK && f) n++;
        assert_int_equal(n, 4);
        hd_video_close(r);
    }
}

static void test_damaged(void **state) {
    (void)state;
    /* moov complete, mdat cut: the frames that decode, with a warning */
    hd_video_params p = hd_video_default_params();
    p.sampling = HD_VIDEO_ALL;
    hd_video_reader *r = open_fixture("corrupt/truncated_mid_mdat_dog_and_stove.mp4", &p);
    const hd_video_frame *f;
    hd_error err = {0};
    int n = 0;
    while (hd_video_next(r, &f, &err) == HD_OK && f) n++;
    assert_int_equal(err.code, HD_OK);
    assert_true(n > 0 && n < 25);
    char path[1024];
    tu_fixture(path, sizeof path, "corrupt/truncated_mid_mdat_dog_and_stove.mp4");
    assert_true(strncmp(hd_video_warning(r), path, strlen(path)) == 0);
    hd_video_close(r);

    static const char *fail_open[] = {"corrupt/empty.mp4", "corrupt/truncated_no_moov_chaplin.mp4",
                                      "corrupt/random_bytes.wav", "audio/jfk.wav", "audio/jfk.mp3",
                                      "video/no_such_file.mp4"};
    for (size_t i = 0; i < sizeof fail_open / sizeof *fail_open; i++) {
        assert_null(hd_video_open(tu_fixture(path, sizeof path, fail_open[i]), NULL, &err));
        check_error(&err, path);
    }
    /* a frame size limit below the clip's size */
    p = hd_video_default_params();
    p.max_pixels = 640 * 360 - 1;
    assert_null(hd_video_open(tu_fixture(path, sizeof path, "video/chaplin.mp4"), &p, &err));
    assert_int_equal(err.code, HD_ERR_NOMEM);
    check_error(&err, path);
    p = hd_video_default_params();
    p.n_frames = 0;
    assert_null(hd_video_open(path, &p, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_sampling),
        cmocka_unit_test(test_uniform_matches_full_decode),
        cmocka_unit_test(test_seeking_same_frames),
        cmocka_unit_test(test_streamed_memory),
        cmocka_unit_test(test_memory_input),
        cmocka_unit_test(test_fps_sampling),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_measured_duration),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
