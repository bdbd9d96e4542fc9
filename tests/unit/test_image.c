/* tests/unit/test_image.c — media/image: every fixture image decodes to the
 * size the fixtures README states; PNG conversions (bit depths, palettes,
 * tRNS, interlace, alpha compositing); JPEG colour handling (grey, CMYK with
 * and without the Adobe marker) and EXIF orientation 1..8 against the EXIF
 * definition; formats through FFmpeg (BMP, TIFF, WebP, 12-bit JPEG); every
 * corrupt image fails with one line naming the file; the size limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <libavcodec/avcodec.h>

#include "media/image.h"
#include "testutil.h"

static void check_error(const hd_error *err, const char *name) {
    size_t n = strlen(name);
    if (err->code == HD_OK || strncmp(err->msg, name, n) != 0 || err->msg[n] != ':' || strchr(err->msg, '\n'))
        fail_msg("bad error for %s: code %d, '%s'", name, err->code, err->msg);
}

static hd_image *load_fixture(const char *rel, const hd_image_params *p) {
    char path[1024];
    hd_error err = {0};
    hd_image *img = hd_image_load(tu_fixture(path, sizeof path, rel), p, &err);
    if (!img) fail_msg("%s: %s", rel, err.msg);
    return img;
}

static double mean_abs_diff(const hd_image *a, const hd_image *b) {
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    double s = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) s += abs((int)a->data[i] - (int)b->data[i]);
    return s / (double)n;
}

static bool same_pixels(const hd_image *a, const hd_image *b) {
    return a->w == b->w && a->h == b->h && memcmp(a->data, b->data, (size_t)a->w * a->h * 3) == 0;
}

/* ---- fixtures ------------------------------------------------------------------ */

static void test_fixture_sizes(void **state) {
    (void)state;
    static const struct { const char *rel; int w, h; } cases[] = {
        {"images/arithmetic_coded_rose.jpg", 227, 149},
        {"images/baseline_rose_testorig.jpg", 227, 149},
        {"images/bus.jpg", 810, 1080},
        {"images/cmyk_red_text.jpg", 100, 100},
        {"images/coco_000000039769_two_cats.png", 640, 480},
        {"images/dog_on_skateboard.jpg", 512, 512},
        {"images/exif_orientation6_waterfall.jpg", 1800, 1200}, /* stored 1200x1800, EXIF 6 */
        {"images/extreme_tall_1x65535.png", 1, 65535},
        {"images/extreme_wide_65535x1.png", 65535, 1},
        {"images/grayscale_cat_on_roof.jpg", 512, 512},
        {"images/jpeg12bit_monkey.jpg", 149, 227},
        {"images/palette_exoplanet_diagram.png", 3840, 2160},
        {"images/palette_trns_interlaced_toucan.png", 162, 150},
        {"images/pasta.jpeg", 1280, 1280},
        {"images/progressive_three_puppies.jpg", 256, 160},
        {"images/rgb16_monkey.png", 149, 227},
        {"images/rgba_three_dice.png", 200, 150},
        {"images/street_2560x1440.jpg", 2560, 1440},
        {"images/wide_kodak_gray_scale_scan.png", 4160, 870},
        {"images/zidane.jpg", 1280, 720},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hd_image *img = load_fixture(cases[i].rel, NULL);
        if (img->w != cases[i].w || img->h != cases[i].h)
            fail_msg("%s: %dx%d, expected %dx%d", cases[i].rel, img->w, img->h, cases[i].w, cases[i].h);
        assert_false(img->partial);
        hd_image_free(img);
    }
    /* every file in images/ is covered above or in the PngSuite test */
    char dir[1024];
    DIR *d = opendir(tu_fixture(dir, sizeof dir, "images"));
    assert_non_null(d);
    int n_files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "pngsuite") != 0) n_files++;
    closedir(d);
    assert_int_equal(n_files, (int)(sizeof cases / sizeof *cases));
}

static void test_pngsuite(void **state) {
    (void)state;
    char dir[1024];
    DIR *d = opendir(tu_fixture(dir, sizeof dir, "images/pngsuite"));
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char rel[512];
        snprintf(rel, sizeof rel, "images/pngsuite/%s", e->d_name);
        hd_image *img = load_fixture(rel, NULL);
        assert_int_equal(img->w, 32);
        assert_int_equal(img->h, 32);
        if (strncmp(e->d_name, "basn0g", 6) == 0 || strncmp(e->d_name, "ibasn0g", 7) == 0) /* grey: R = G = B */
            for (size_t i = 0; i < 32 * 32; i++) {
                assert_int_equal(img->data[3 * i], img->data[3 * i + 1]);
                assert_int_equal(img->data[3 * i], img->data[3 * i + 2]);
            }
        hd_image_free(img);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 16);
    /* 1/2-bit grey use the full range; 16-bit scales to 8 */
    hd_image *g1 = load_fixture("images/pngsuite/basn0g01.png", NULL);
    int lo = 255, hi = 0;
    for (size_t i = 0; i < 32 * 32 * 3; i++) lo = g1->data[i] < lo ? g1->data[i] : lo, hi = g1->data[i] > hi ? g1->data[i] : hi;
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 255);
    hd_image_free(g1);
}

static void test_png_interlace_same_pixels(void **state) {
    (void)state;
    static const char *pairs[][2] = {{"images/pngsuite/basn0g16.png", "images/pngsuite/ibasn0g16.png"},
                                     {"images/pngsuite/basn6a16.png", "images/pngsuite/ibasn6a16.png"}};
    for (int i = 0; i < 2; i++) {
        hd_image *a = load_fixture(pairs[i][0], NULL), *b = load_fixture(pairs[i][1], NULL);
        assert_true(same_pixels(a, b));
        hd_image_free(a);
        hd_image_free(b);
    }
}

/* Composited on white minus composited on black = (255 - alpha) in every
 * channel (to rounding); transparent pixels exist in these files. */
static void check_alpha(const char *rel, bool expect_partial_alpha) {
    hd_image_params pw = hd_image_default_params(), pb = pw;
    pb.background[0] = pb.background[1] = pb.background[2] = 0;
    hd_image *w = load_fixture(rel, &pw), *b = load_fixture(rel, &pb);
    assert_int_equal(w->w, b->w);
    size_t n = (size_t)w->w * w->h, transparent = 0, partial = 0;
    for (size_t i = 0; i < n; i++) {
        int d0 = w->data[3 * i] - b->data[3 * i], d1 = w->data[3 * i + 1] - b->data[3 * i + 1],
            d2 = w->data[3 * i + 2] - b->data[3 * i + 2];
        assert_true(d0 >= 0 && d1 >= 0 && d2 >= 0);
        assert_true(abs(d0 - d1) <= 1 && abs(d0 - d2) <= 1);
        if (d0 == 255) transparent++;
        else if (d0 > 1) partial++;
    }
    assert_true(transparent > 0);
    if (expect_partial_alpha) assert_true(partial > 0);
    hd_image_free(w);
    hd_image_free(b);
}

static void test_png_alpha_composite(void **state) {
    (void)state;
    check_alpha("images/rgba_three_dice.png", true);                  /* RGBA, real partial alpha */
    check_alpha("images/palette_trns_interlaced_toucan.png", true);   /* palette + tRNS, interlaced */
    check_alpha("images/pngsuite/basn4a08.png", true);                /* grey + alpha 8-bit */
    check_alpha("images/pngsuite/basn4a16.png", true);                /* grey + alpha 16-bit */
    check_alpha("images/pngsuite/basn6a16.png", true);                /* RGBA 16-bit */
    check_alpha("images/pngsuite/ftbbn3p08.png", false);              /* palette with tRNS */
}

/* ---- JPEG ----------------------------------------------------------------------------- */

static void test_jpeg_variants(void **state) {
    (void)state;
    hd_image *g = load_fixture("images/grayscale_cat_on_roof.jpg", NULL);
    for (size_t i = 0; i < (size_t)g->w * g->h; i++) {
        assert_int_equal(g->data[3 * i], g->data[3 * i + 1]);
        assert_int_equal(g->data[3 * i], g->data[3 * i + 2]);
    }
    hd_image_free(g);
    /* arithmetic-coded and baseline versions of the same picture */
    hd_image *a = load_fixture("images/arithmetic_coded_rose.jpg", NULL);
    hd_image *b = load_fixture("images/baseline_rose_testorig.jpg", NULL);
    assert_true(mean_abs_diff(a, b) < 1.0);
    hd_image_free(a);
    hd_image_free(b);
    /* 12-bit JPEG (FFmpeg fallback) against the 16-bit PNG of the same monkey */
    a = load_fixture("images/jpeg12bit_monkey.jpg", NULL);
    b = load_fixture("images/rgb16_monkey.png", NULL);
    assert_true(mean_abs_diff(a, b) < 3.0);
    hd_image_free(a);
    hd_image_free(b);
    /* Adobe YCCK CMYK: red letters, top-left block red, centre of the black square black */
    hd_image *c = load_fixture("images/cmyk_red_text.jpg", NULL);
    const uint8_t *tl = c->data + (3 * 100 + 3) * 3, *mid = c->data + (50 * 100 + 50) * 3;
    assert_true(tl[0] > 200 && tl[1] < 60 && tl[2] < 60);
    assert_true(mid[0] < 40 && mid[1] < 40 && mid[2] < 40);
    hd_image_free(c);
}

/* In-memory JPEG writer for the synthetic tests. */
typedef struct {
    uint8_t *buf;
    unsigned long size;
} jpeg_out;

static void write_jpeg(jpeg_out *out, const uint8_t *pix, int w, int h, int comps, J_COLOR_SPACE cs, bool adobe,
                       const uint8_t *app1, size_t app1_len) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    out->buf = NULL;
    out->size = 0;
    jpeg_mem_dest(&c, &out->buf, &out->size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    if (cs == JCS_CMYK) {
        jpeg_set_colorspace(&c, JCS_CMYK);
        c.write_Adobe_marker = adobe;
    }
    jpeg_start_compress(&c, TRUE);
    if (app1) jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
}

static void test_jpeg_cmyk_adobe_inversion(void **state) {
    (void)state;
    /* flat C, M, Y, K = 40, 100, 200, 220 (as stored) */
    enum { W = 16, H = 16 };
    uint8_t px[W * H * 4];
    for (int i = 0; i < W * H; i++) px[4 * i] = 40, px[4 * i + 1] = 100, px[4 * i + 2] = 200, px[4 * i + 3] = 220;
    for (int adobe = 0; adobe <= 1; adobe++) {
        jpeg_out j;
        write_jpeg(&j, px, W, H, 4, JCS_CMYK, adobe, NULL, 0);
        hd_error err = {0};
        hd_image *img = hd_image_decode(j.buf, j.size, "cmyk.jpg", NULL, &err);
        free(j.buf);
        if (!img) fail_msg("%s", err.msg);
        int exp[3];
        for (int ch = 0; ch < 3; ch++) {
            int v = px[ch], k = px[3];
            exp[ch] = adobe ? (v * k + 127) / 255 : ((255 - v) * (255 - k) + 127) / 255;
        }
        for (int i = 0; i < W * H; i++)
            for (int ch = 0; ch < 3; ch++)
                if (abs(img->data[3 * i + ch] - exp[ch]) > 3)
                    fail_msg("adobe=%d pixel %d ch %d: %d, expected %d", adobe, i, ch, img->data[3 * i + ch], exp[ch]);
        hd_image_free(img);
    }
}

/* hd_image_orient against the EXIF definitions on a 3x2 picture
 *   a b c
 *   d e f                                                                */
static void test_orient_definitions(void **state) {
    (void)state;
    static const char *expect[9] = {NULL, "abcdef", "cbafed", "fedcba", "defabc",
                                    "adbecf", "daebfc", "fcebda", "cfbead"};
    static const int ew[9] = {0, 3, 3, 3, 3, 2, 2, 2, 2};
    for (int o = 1; o <= 8; o++) {
        hd_image *img = hd_image_create(3, 2, NULL);
        assert_non_null(img);
        for (int i = 0; i < 6; i++) img->data[3 * i] = img->data[3 * i + 1] = img->data[3 * i + 2] = (uint8_t)('a' + i);
        assert_int_equal(hd_image_orient(img, o, NULL), HD_OK);
        assert_int_equal(img->w, ew[o]);
        assert_int_equal(img->w * img->h, 6);
        char got[7] = {0};
        for (int i = 0; i < 6; i++) got[i] = (char)img->data[3 * i];
        if (strcmp(got, expect[o]) != 0) fail_msg("orientation %d: %s, expected %s", o, got, expect[o]);
        hd_image_free(img);
    }
}

/* APP1 "Exif\0\0" + a TIFF header + IFD0 with only the Orientation tag. */
static size_t make_exif(uint8_t *b, int orientation, bool big_endian) {
    memcpy(b, "Exif\0\0", 6);
    uint8_t *t = b + 6;
    uint8_t le[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0, 0};
    uint8_t be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0};
    memcpy(t, big_endian ? be : le, sizeof le);
    return 6 + sizeof le;
}

static void test_exif_orientation_all(void **state) {
    (void)state;
    /* 48x32 picture of 8x8 blocks, each a distinct colour: survives JPEG at quality 100 */
    enum { W = 48, H = 32 };
    uint8_t px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int blk = (y / 8) * (W / 8) + x / 8;
            px[(y * W + x) * 3] = (uint8_t)(blk * 40 % 256), px[(y * W + x) * 3 + 1] = (uint8_t)(blk * 90 % 256),
            px[(y * W + x) * 3 + 2] = (uint8_t)(255 - blk * 10);
        }
    hd_image_params keep = hd_image_default_params();
    keep.apply_orientation = false;
    for (int be = 0; be <= 1; be++)
        for (int o = 1; o <= 8; o++) {
            uint8_t app1[64];
            size_t n = make_exif(app1, o, be);
            jpeg_out j;
            write_jpeg(&j, px, W, H, 3, JCS_RGB, false, app1, n);
            assert_int_equal(hd_exif_orientation_jpeg(j.buf, j.size), o);
            hd_error err = {0};
            hd_image *img = hd_image_decode(j.buf, j.size, "exif.jpg", NULL, &err);
            hd_image *raw = hd_image_decode(j.buf, j.size, "exif.jpg", &keep, &err);
            free(j.buf);
            assert_non_null(img);
            assert_non_null(raw);
            assert_int_equal(raw->w, W);
            assert_int_equal(img->w, o >= 5 ? H : W);
            assert_int_equal(hd_image_orient(raw, o, NULL), HD_OK);
            assert_true(same_pixels(img, raw));
            /* the block at stored (0,0) ends where the EXIF definition puts it */
            static const int corner_x[9] = {0, 0, 1, 1, 0, 0, 1, 1, 0}; /* 1 = right edge */
            static const int corner_y[9] = {0, 0, 0, 1, 1, 0, 0, 1, 1}; /* 1 = bottom edge */
            int cx = corner_x[o] ? img->w - 4 : 3, cy = corner_y[o] ? img->h - 4 : 3;
            const uint8_t *p = img->data + ((size_t)cy * img->w + cx) * 3;
            assert_true(abs(p[0] - px[0]) <= 4 && abs(p[1] - px[1]) <= 4 && abs(p[2] - px[2]) <= 4);
            hd_image_free(img);
            hd_image_free(raw);
        }
    /* the real EXIF 6 photo: displayed = stored rotated 90 degrees clockwise */
    hd_image *img = load_fixture("images/exif_orientation6_waterfall.jpg", NULL);
    hd_image *raw = load_fixture("images/exif_orientation6_waterfall.jpg", &keep);
    assert_int_equal(raw->w, 1200);
    assert_int_equal(raw->h, 1800);
    assert_int_equal(hd_image_orient(raw, 6, NULL), HD_OK);
    assert_true(same_pixels(img, raw));
    hd_image_free(img);
    hd_image_free(raw);
    /* hostile EXIF blocks read as "no orientation" */
    const uint8_t bad1[] = {'I', 'I', 42, 0, 0xFF, 0xFF, 0xFF, 0x7F};
    const uint8_t bad2[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0xFF, 0xFF, 0x01, 0x12};
    assert_int_equal(hd_exif_orientation_tiff(bad1, sizeof bad1), 1);
    assert_int_equal(hd_exif_orientation_tiff(bad2, sizeof bad2), 1);
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* A PNG eXIf chunk (orientation 8) inserted after IHDR is honoured. */
static void test_png_exif(void **state) {
    (void)state;
    char path[1024];
    size_t size;
    uint8_t *png = tu_read_file(tu_fixture(path, sizeof path, "images/pngsuite/basn2c08.png"), &size);
    assert_non_null(png);
    uint8_t exif[64];
    size_t n = make_exif(exif, 8, true) - 6; /* PNG eXIf holds the TIFF part only */
    uint8_t chunk[96];
    chunk[0] = 0, chunk[1] = 0, chunk[2] = 0, chunk[3] = (uint8_t)n;
    memcpy(chunk + 4, "eXIf", 4);
    memcpy(chunk + 8, exif + 6, n);
    uint32_t crc = crc32_png(chunk + 4, n + 4);
    chunk[8 + n] = (uint8_t)(crc >> 24), chunk[9 + n] = (uint8_t)(crc >> 16), chunk[10 + n] = (uint8_t)(crc >> 8);
    chunk[11 + n] = (uint8_t)crc;
    const size_t at = 8 + 25; /* after the signature and IHDR */
    uint8_t *out = malloc(size + n + 12);
    memcpy(out, png, at);
    memcpy(out + at, chunk, n + 12);
    memcpy(out + at + n + 12, png + at, size - at);
    hd_error err = {0};
    hd_image *plain = hd_image_decode(png, size, "plain.png", NULL, &err);
    hd_image *rot = hd_image_decode(out, size + n + 12, "exif.png", NULL, &err);
    if (!rot) fail_msg("%s", err.msg);
    assert_non_null(plain);
    assert_false(same_pixels(plain, rot)); /* the pattern is not rotation-symmetric */
    assert_int_equal(hd_image_orient(plain, 8, NULL), HD_OK);
    assert_true(same_pixels(plain, rot));
    hd_image_free(plain);
    hd_image_free(rot);
    free(out);
    free(png);
}

/* ---- FFmpeg formats -------------------------------------------------------------------- */

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xFFFF), put16(p + 2, v >> 16); }

static void pattern(uint8_t *rgb, int w, int h) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = rgb + (y * w + x) * 3;
            p[0] = (uint8_t)(x * 37 + y * 11), p[1] = (uint8_t)(y * 53 + 7), p[2] = (uint8_t)((x ^ y) * 29);
        }
}

static void test_ffmpeg_bmp_tiff(void **state) {
    (void)state;
    enum { W = 5, H = 3 };
    uint8_t rgb[W * H * 3];
    pattern(rgb, W, H);
    /* BMP: 24-bit BGR, bottom-up rows padded to 4 bytes */
    const int stride = (W * 3 + 3) & ~3;
    uint8_t bmp[54 + H * ((W * 3 + 3) & ~3)];
    memset(bmp, 0, sizeof bmp);
    bmp[0] = 'B', bmp[1] = 'M';
    put32(bmp + 2, sizeof bmp), put32(bmp + 10, 54), put32(bmp + 14, 40), put32(bmp + 18, W), put32(bmp + 22, H);
    put16(bmp + 26, 1), put16(bmp + 28, 24), put32(bmp + 34, (uint32_t)(stride * H));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *d = bmp + 54 + (H - 1 - y) * stride + x * 3;
            const uint8_t *s = rgb + (y * W + x) * 3;
            d[0] = s[2], d[1] = s[1], d[2] = s[0];
        }
    assert_int_equal(hd_image_sniff(bmp, sizeof bmp), HD_IMAGE_OTHER);
    hd_error err = {0};
    hd_image *img = hd_image_decode(bmp, sizeof bmp, "t.bmp", NULL, &err);
    if (!img) fail_msg("%s", err.msg);
    assert_int_equal(img->w, W);
    assert_int_equal(img->h, H);
    assert_memory_equal(img->data, rgb, sizeof rgb);
    hd_image_free(img);

    /* TIFF: little endian, uncompressed RGB, one strip */
    uint8_t tif[512];
    memset(tif, 0, sizeof tif);
    memcpy(tif, "II*\0", 4);
    put32(tif + 4, 8);
    static const uint16_t tags[][3] = {{256, 3, W}, {257, 3, H}, {258, 3, 0}, {259, 3, 1}, {262, 3, 2},
                                       {273, 4, 0}, {277, 3, 3}, {278, 3, H}, {279, 4, W * H * 3}};
    const int nt = 9, ifd = 8, bps_off = ifd + 2 + nt * 12 + 4, data_off = bps_off + 6;
    put16(tif + ifd, nt);
    for (int i = 0; i < nt; i++) {
        uint8_t *e = tif + ifd + 2 + 12 * i;
        put16(e, tags[i][0]), put16(e + 2, tags[i][1]), put32(e + 4, tags[i][0] == 258 ? 3 : 1);
        uint32_t v = tags[i][2];
        if (tags[i][0] == 258) v = (uint32_t)bps_off;
        if (tags[i][0] == 273) v = (uint32_t)data_off;
        if (tags[i][1] == 3 && tags[i][0] != 258) put16(e + 8, v); else put32(e + 8, v);
    }
    put16(tif + bps_off, 8), put16(tif + bps_off + 2, 8), put16(tif + bps_off + 4, 8);
    memcpy(tif + data_off, rgb, sizeof rgb);
    img = hd_image_decode(tif, (size_t)data_off + sizeof rgb, "t.tiff", NULL, &err);
    if (!img) fail_msg("%s", err.msg);
    assert_int_equal(img->w, W);
    assert_memory_equal(img->data, rgb, sizeof rgb);
    hd_image_free(img);
}

/* WebP through FFmpeg, when this FFmpeg has the libwebp encoder to make one. */
static void test_ffmpeg_webp(void **state) {
    (void)state;
    const AVCodec *enc = avcodec_find_encoder_by_name("libwebp");
    if (!enc) skip();
    enum { W = 24, H = 16 };
    AVCodecContext *c = avcodec_alloc_context3(enc);
    c->width = W, c->height = H, c->pix_fmt = AV_PIX_FMT_RGB24, c->time_base = (AVRational){1, 1};
    int sup = 0;
    for (const enum AVPixelFormat *f = enc->pix_fmts; f && *f != AV_PIX_FMT_NONE; f++) sup |= *f == AV_PIX_FMT_RGB24;
    if (!sup) c->pix_fmt = AV_PIX_FMT_BGRA;
    AVDictionary *opt = NULL;
    av_dict_set(&opt, "lossless", "1", 0);
    if (avcodec_open2(c, enc, &opt) < 0) {
        av_dict_free(&opt);
        avcodec_free_context(&c);
        skip();
    }
    av_dict_free(&opt);
    uint8_t rgb[W * H * 3];
    pattern(rgb, W, H);
    AVFrame *f = av_frame_alloc();
    f->width = W, f->height = H, f->format = c->pix_fmt;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *s = rgb + (y * W + x) * 3;
            uint8_t *d = f->data[0] + y * f->linesize[0] + x * (c->pix_fmt == AV_PIX_FMT_BGRA ? 4 : 3);
            if (c->pix_fmt == AV_PIX_FMT_BGRA) d[0] = s[2], d[1] = s[1], d[2] = s[0], d[3] = 255;
            else d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
    AVPacket *pkt = av_packet_alloc();
    assert_int_equal(avcodec_send_frame(c, f), 0);
    assert_int_equal(avcodec_receive_packet(c, pkt), 0);
    assert_memory_equal(pkt->data, "RIFF", 4);
    hd_error err = {0};
    hd_image *img = hd_image_decode(pkt->data, (size_t)pkt->size, "t.webp", NULL, &err);
    if (!img) fail_msg("%s", err.msg);
    assert_int_equal(img->w, W);
    assert_int_equal(img->h, H);
    assert_memory_equal(img->data, rgb, sizeof rgb);
    hd_image_free(img);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&c);
}

/* GIF through FFmpeg: FFmpeg's own GIF encoder makes a complete one-frame
 * file (3-3-2 RGB palette); each of its 8 red levels must come back as a
 * distinct, increasing red value. */
static void test_ffmpeg_gif(void **state) {
    (void)state;
    const AVCodec *enc = avcodec_find_encoder(AV_CODEC_ID_GIF);
    if (!enc) skip();
    enum { W = 8, H = 4 };
    AVCodecContext *c = avcodec_alloc_context3(enc);
    c->width = W, c->height = H, c->pix_fmt = AV_PIX_FMT_RGB8, c->time_base = (AVRational){1, 1};
    assert_int_equal(avcodec_open2(c, enc, NULL), 0);
    AVFrame *f = av_frame_alloc();
    f->width = W, f->height = H, f->format = AV_PIX_FMT_RGB8;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) f->data[0][y * f->linesize[0] + x] = (uint8_t)(x << 5); /* red level x */
    AVPacket *pkt = av_packet_alloc();
    assert_int_equal(avcodec_send_frame(c, f), 0);
    assert_int_equal(avcodec_receive_packet(c, pkt), 0);
    assert_memory_equal(pkt->data, "GIF8", 4);
    hd_error err = {0};
    hd_image *img = hd_image_decode(pkt->data, (size_t)pkt->size, "t.gif", NULL, &err);
    if (!img) fail_msg("%s", err.msg);
    assert_int_equal(img->w, W);
    assert_int_equal(img->h, H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = img->data + (y * W + x) * 3;
            assert_true(p[1] == 0 && p[2] == 0);
            if (x > 0) assert_true(p[0] > p[-3]);
            assert_int_equal(p[0], img->data[x * 3]); /* same in every row */
        }
    hd_image_free(img);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&c);
}

/* ---- damaged input and limits ------------------------------------------------------------------ */

static bool is_image_name(const char *n) {
    size_t l = strlen(n);
    return (l > 4 && (strcmp(n + l - 4, ".png") == 0 || strcmp(n + l - 4, ".jpg") == 0)) ||
           strcmp(n, "empty.bin") == 0 || strcmp(n, "random_bytes.wav") == 0;
}

/* May decode (README: "fail or tolerate" / "ignore the chunk"): */
static bool may_decode(const char *n) {
    return strcmp(n, "pillow_png_decompression_dos.png") == 0 || strcmp(n, "pillow_truncated_end_chunk.png") == 0;
}

static int check_corrupt_dir(const char *rel) {
    char dir[1024];
    DIR *d = opendir(tu_fixture(dir, sizeof dir, rel));
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        char path[1536];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hd_error err = {0};
        hd_image *img = hd_image_load(path, NULL, &err);
        if (img) {
            if (!may_decode(e->d_name)) fail_msg("%s decoded (%dx%d) but must fail", e->d_name, img->w, img->h);
            assert_true(img->w > 0 && img->h > 0 && img->w <= 128 && img->h <= 128);
            hd_image_free(img);
        } else {
            check_error(&err, path);
        }
        n++;
    }
    closedir(d);
    return n;
}

static void test_corrupt(void **state) {
    (void)state;
    assert_int_equal(check_corrupt_dir("corrupt") + check_corrupt_dir("corrupt/pngsuite"), 17 + 14);
    /* truncated JPEG: fails by default, top rows with allow_partial */
    char path[1024];
    tu_fixture(path, sizeof path, "corrupt/truncated_bus_40000B.jpg");
    hd_image_params p = hd_image_default_params();
    p.allow_partial = true;
    hd_error err = {0};
    hd_image *img = hd_image_load(path, &p, &err);
    assert_non_null(img);
    assert_true(img->partial);
    assert_int_equal(img->w, 810);
    assert_int_equal(img->h, 1080);
    hd_image *full = load_fixture("images/bus.jpg", NULL);
    assert_memory_equal(img->data, full->data, 810 * 3 * 16); /* the first rows are intact */
    hd_image_free(img);
    hd_image_free(full);
    /* a missing file is an I/O error naming it */
    tu_fixture(path, sizeof path, "images/no_such_file.png");
    assert_null(hd_image_load(path, NULL, &err));
    assert_int_equal(err.code, HD_ERR_IO);
    check_error(&err, path);
}

static void test_size_limit(void **state) {
    (void)state;
    char path[1024];
    hd_error err = {0};
    tu_fixture(path, sizeof path, "corrupt/gdkpixbuf_huge_dims_crasher.png");
    assert_null(hd_image_load(path, NULL, &err));
    assert_int_equal(err.code, HD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "935820x854554"));
    /* the limit is configurable and applies to every decoder */
    hd_image_params p = hd_image_default_params();
    p.max_pixels = 100 * 100;
    static const char *big[] = {"images/bus.jpg", "images/coco_000000039769_two_cats.png", "images/jpeg12bit_monkey.jpg"};
    for (int i = 0; i < 3; i++) {
        assert_null(hd_image_load(tu_fixture(path, sizeof path, big[i]), &p, &err));
        assert_int_equal(err.code, HD_ERR_NOMEM);
        check_error(&err, path);
    }
    p.max_pixels = 100 * 100; /* exactly at the limit is fine */
    hd_image *img = hd_image_load(tu_fixture(path, sizeof path, "images/cmyk_red_text.jpg"), &p, &err);
    assert_non_null(img);
    hd_image_free(img);
    /* a BMP header claiming 200x200 (FFmpeg path): refused before decoding */
    uint8_t bmp[64] = {'B', 'M'};
    put32(bmp + 2, sizeof bmp), put32(bmp + 10, 54), put32(bmp + 14, 40), put32(bmp + 18, 200);
    put32(bmp + 22, 200), put16(bmp + 26, 1), put16(bmp + 28, 24);
    assert_null(hd_image_decode(bmp, sizeof bmp, "huge.bmp", &p, &err));
    assert_int_equal(err.code, HD_ERR_NOMEM);
    check_error(&err, "huge.bmp");
    p.max_file_bytes = 1000;
    assert_null(hd_image_load(tu_fixture(path, sizeof path, "images/bus.jpg"), &p, &err));
    check_error(&err, path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_sizes),
        cmocka_unit_test(test_pngsuite),
        cmocka_unit_test(test_png_interlace_same_pixels),
        cmocka_unit_test(test_png_alpha_composite),
        cmocka_unit_test(test_jpeg_variants),
        cmocka_unit_test(test_jpeg_cmyk_adobe_inversion),
        cmocka_unit_test(test_orient_definitions),
        cmocka_unit_test(test_exif_orientation_all),
        cmocka_unit_test(test_png_exif),
        cmocka_unit_test(test_ffmpeg_bmp_tiff),
        cmocka_unit_test(test_ffmpeg_webp),
        cmocka_unit_test(test_ffmpeg_gif),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
