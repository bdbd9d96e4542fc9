/* graph/nodes_image.c — picture nodes: still image and video sources (media/
 * image.h, media/video.h) and a PPM sink.
 *
 * image  one RGB8 packet, pts 0, then end of stream
 * video  sampled RGB8 frames, pts from the file (microseconds), duration up
 *        to the next frame's pts (the last frame gets the previous spacing)
 * ppm    writes each picture as binary PPM (P6, RGB8); the path may hold one
 *        printf integer conversion (%d, %05d, ...) numbered from 0, needed
 *        when more than one picture arrives
 */
#include "node.h"

#include "media/image.h"
#include "media/video.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hd_port_def image_out[] = {{"out", HD_KIND_BIT(HD_PKT_IMAGE), 0}};
static const hd_port_def image_in[] = {{"in", HD_KIND_BIT(HD_PKT_IMAGE), 0}};

static hd_packet *rgb_packet(const hd_image *im, hd_error *err) {
    hd_packet *p = hd_packet_image_new(im->w, im->h, HD_PIX_RGB8, err);
    if (p) memcpy(p->u.image.data, im->data, (size_t)im->w * (size_t)im->h * 3);
    return p;
}

/* ---- image ------------------------------------------------------------------------ */

typedef struct image_state {
    hd_image *im;
} image_state;

static hd_status image_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    image_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->im = hd_image_load(hd_opt_str(o, "path"), NULL, err);
    return s->im ? HD_OK : (err ? err->code : HD_ERR_IO);
}

static hd_node_ret image_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    image_state *s = state;
    if (!s->im) return HD_NODE_EOS;
    hd_packet *p = rgb_packet(s->im, err);
    hd_image_free(s->im);
    s->im = NULL;
    if (!p) return HD_NODE_ERROR;
    p->pts = 0;
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static void image_destroy(void *state) {
    image_state *s = state;
    if (!s) return;
    hd_image_free(s->im);
    free(s);
}

static const hd_option_def image_opts[] = {
    {"path", HD_OPT_STRING, NULL, "image file (PNG, JPEG, WebP, ...; EXIF orientation applied)", 0, 0, NULL},
};

const hd_node_type hd_node_image = {
    .name = "image",
    .summary = "decodes one image file to an RGB picture",
    .outputs = image_out,
    .n_outputs = 1,
    .options = image_opts,
    .n_options = HD_COUNTOF(image_opts),
    .arg_option = "path",
    .create = image_create,
    .process = image_process,
    .destroy = image_destroy,
};

/* ---- video ------------------------------------------------------------------------ */

typedef struct video_state {
    hd_video_reader *r;
    hd_packet *held;     /* decoded, waiting for the next pts to know its duration */
    int64_t last_dur;
} video_state;

static hd_status video_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    video_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    hd_video_params vp = hd_video_default_params();
    const char *m = hd_opt_str(o, "sampling");
    vp.sampling = !strcmp(m, "fps") ? HD_VIDEO_FPS : !strcmp(m, "all") ? HD_VIDEO_ALL : HD_VIDEO_UNIFORM;
    vp.n_frames = (int)hd_opt_int(o, "frames");
    vp.fps = hd_opt_float(o, "fps");
    vp.threads = (int)hd_opt_int(o, "threads");
    s->r = hd_video_open(hd_opt_str(o, "path"), &vp, err);
    return s->r ? HD_OK : (err ? err->code : HD_ERR_IO);
}

static hd_node_ret video_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    video_state *s = state;
    const hd_video_frame *f;
    if (hd_video_next(s->r, &f, err)) return HD_NODE_ERROR;
    if (!f) {
        /* the last frame: no next pts, keep the previous spacing */
        if (!s->held) return HD_NODE_EOS;
        s->held->duration = s->last_dur;
        hd_packet *p = s->held;
        s->held = NULL;
        return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_EOS;
    }
    hd_packet *p = rgb_packet(&f->image, err);
    if (!p) return HD_NODE_ERROR;
    p->pts = (int64_t)llround(f->pts * HD_TIME_BASE);
    if (!s->held) {
        s->held = p;   /* sent once the next frame gives its duration */
        return HD_NODE_OK;
    }
    hd_packet *prev = s->held;
    s->held = p;
    prev->duration = p->pts > prev->pts ? p->pts - prev->pts : 0;
    s->last_dur = prev->duration;
    return hd_node_send(node, 0, prev, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static void video_destroy(void *state) {
    video_state *s = state;
    if (!s) return;
    hd_packet_unref(s->held);
    hd_video_close(s->r);
    free(s);
}

static const hd_option_def video_opts[] = {
    {"path", HD_OPT_STRING, NULL, "video file (anything FFmpeg decodes)", 0, 0, NULL},
    {"sampling", HD_OPT_STRING, "uniform", "which frames: n evenly spread, fixed rate, or every frame", 0, 0,
     "uniform|fps|all"},
    {"frames", HD_OPT_INT, "16", "uniform: number of frames", 1, 100000, NULL},
    {"fps", HD_OPT_FLOAT, "1", "fps: frames per second", 0.001, 1000, NULL},
    {"threads", HD_OPT_INT, "0", "decoder threads (0 = FFmpeg's choice)", 0, 64, NULL},
};

const hd_node_type hd_node_video = {
    .name = "video",
    .summary = "decodes sampled video frames to RGB pictures with their timestamps",
    .outputs = image_out,
    .n_outputs = 1,
    .options = video_opts,
    .n_options = HD_COUNTOF(video_opts),
    .arg_option = "path",
    .create = video_create,
    .process = video_process,
    .destroy = video_destroy,
};

/* ---- ppm ---------------------------------------------------------------------------- */

typedef struct ppm_state {
    char *path;
    bool pattern;        /* path holds one integer conversion */
    int64_t count;
} ppm_state;

/* Accepts at most one conversion of the form %[0][width]d; "%%" is a literal. */
static bool check_pattern(const char *p, bool *has) {
    *has = false;
    for (; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        if (*has) return false;
        p++;
        if (*p == '0') p++;
        for (int w = 0; *p >= '0' && *p <= '9'; p++)
            if (++w > 2) return false;
        if (*p != 'd') return false;
        *has = true;
    }
    return true;
}

static hd_status ppm_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    ppm_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->path = strdup(hd_opt_str(o, "path"));
    if (!s->path) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    if (!check_pattern(s->path, &s->pattern))
        return hd_error_set(err, HD_ERR_ARG, "path '%s': only one %%d (or %%05d ...) conversion is allowed", s->path);
    return HD_OK;
}

static hd_node_ret ppm_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    ppm_state *s = state;
    if (in->u.image.format != HD_PIX_RGB8 && in->u.image.format != HD_PIX_GRAY8)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "ppm: only 8-bit RGB or grey pictures"), HD_NODE_ERROR;
    if (s->count > 0 && !s->pattern)
        return hd_error_set(err, HD_ERR_ARG, "%s: a second picture arrived; put %%d in the path to number them",
                            s->path),
               HD_NODE_ERROR;
    char name[4096];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (s->pattern) snprintf(name, sizeof name, s->path, (int)s->count);   /* checked in ppm_create */
    else snprintf(name, sizeof name, "%s", s->path);
#pragma GCC diagnostic pop
    FILE *f = fopen(name, "wb");
    if (!f) return hd_error_set(err, HD_ERR_IO, "%s: %s", name, strerror(errno)), HD_NODE_ERROR;
    int w = in->u.image.width, h = in->u.image.height;
    bool grey = in->u.image.format == HD_PIX_GRAY8;
    bool ok = fprintf(f, "%s\n%d %d\n255\n", grey ? "P5" : "P6", w, h) > 0;
    size_t row = (size_t)w * (grey ? 1 : 3);
    for (int y = 0; y < h && ok; y++) ok = fwrite(in->u.image.data + (size_t)y * in->u.image.stride, 1, row, f) == row;
    if (fclose(f) != 0) ok = false;
    if (!ok) return hd_error_set(err, HD_ERR_IO, "%s: write error: %s", name, strerror(errno)), HD_NODE_ERROR;
    s->count++;
    return HD_NODE_OK;
}

static void ppm_destroy(void *state) {
    ppm_state *s = state;
    if (!s) return;
    free(s->path);
    free(s);
}

static const hd_option_def ppm_opts[] = {
    {"path", HD_OPT_STRING, NULL, "PPM file; with %d (e.g. frame%03d.ppm) for numbered pictures", 0, 0, NULL},
};

const hd_node_type hd_node_ppm = {
    .name = "ppm",
    .summary = "writes pictures as binary PPM/PGM files",
    .inputs = image_in,
    .n_inputs = 1,
    .options = ppm_opts,
    .n_options = HD_COUNTOF(ppm_opts),
    .arg_option = "path",
    .create = ppm_create,
    .process = ppm_process,
    .destroy = ppm_destroy,
};
