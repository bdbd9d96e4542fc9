/* vision/preprocess.c — mllama tiling, Pillow-exact resize, pad, normalise
 * (see preprocess.h). */
#include "preprocess.h"

#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RATIOS 64

hd_mllama_preproc_params hd_mllama_preproc_default(int tile_size) {
    hd_mllama_preproc_params p = {
        .tile_size = tile_size,
        .max_tiles = 4,
        .mean = {0.48145466f, 0.4578275f, 0.40821073f},
        .std = {0.26862954f, 0.26130258f, 0.27577711f},
        .rescale = 1.0 / 255.0,
    };
    return p;
}

int hd_mllama_aspect_ratios(int max_tiles, int *rows, int *cols) {
    int n = 0;
    for (int r = 1; r <= max_tiles; r++)
        for (int c = 1; c <= max_tiles; c++)
            if (r * c <= max_tiles && n < MAX_RATIOS) rows[n] = r, cols[n] = c, n++;
    return n;
}

static hd_status check_params(int tile_size, int max_tiles, hd_error *err) {
    if (tile_size < 1 || tile_size > 8192)
        return hd_error_set(err, HD_ERR_ARG, "mllama preprocessing: tile size %d out of range", tile_size);
    if (max_tiles < 1 || max_tiles > HD_MLLAMA_MAX_TILES)
        return hd_error_set(err, HD_ERR_ARG, "mllama preprocessing: max_tiles %d out of range 1..%d", max_tiles,
                            HD_MLLAMA_MAX_TILES);
    return HD_OK;
}

/* get_optimal_tiled_canvas: index of the chosen arrangement. */
static int choose_canvas(int w, int h, int t, const int *rows, const int *cols, int n) {
    double scale[MAX_RATIOS];
    for (int i = 0; i < n; i++) {
        const double sh = (double)(rows[i] * t) / h, sw = (double)(cols[i] * t) / w;
        scale[i] = sw > sh ? sh : sw;
    }
    bool any_up = false;
    double best = 0;
    for (int i = 0; i < n; i++)
        if (scale[i] >= 1.0 && (!any_up || scale[i] < best)) best = scale[i], any_up = true;
    if (!any_up) {
        best = scale[0];
        for (int i = 1; i < n; i++)
            if (scale[i] > best) best = scale[i];
    }
    int pick = -1;
    for (int i = 0; i < n; i++) {
        if (scale[i] != best) continue;
        if (pick < 0 || (int64_t)rows[i] * cols[i] < (int64_t)rows[pick] * cols[pick]) pick = i;
    }
    return pick;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static hd_status fit(int w, int h, int t, int max_tiles, int *idx, int *rows, int *cols, int *new_w, int *new_h,
                     hd_error *err) {
    hd_status st = check_params(t, max_tiles, err);
    if (st) return st;
    if (w < 1 || h < 1) return hd_error_set(err, HD_ERR_ARG, "mllama preprocessing: empty image (%dx%d)", w, h);
    int rs[MAX_RATIOS], cs[MAX_RATIOS];
    const int n = hd_mllama_aspect_ratios(max_tiles, rs, cs);
    const int i = choose_canvas(w, h, t, rs, cs, n);
    const int cw = cs[i] * t, ch = rs[i] * t;
    /* get_image_size_fit_to_canvas */
    const int tw = clampi(w, t, cw), th = clampi(h, t, ch);
    const double sh = (double)th / h, sw = (double)tw / w;
    int nw, nh;
    if (sw < sh) {
        nw = tw;
        const double v = floor((double)h * sw);
        nh = v < th ? (int)v : th;
    } else {
        nh = th;
        const double v = floor((double)w * sh);
        nw = v < tw ? (int)v : tw;
    }
    if (nw < 1) nw = 1;   /* HF fails here (PIL refuses a zero side); see preprocess.h */
    if (nh < 1) nh = 1;
    *idx = i, *rows = rs[i], *cols = cs[i], *new_w = nw, *new_h = nh;
    return HD_OK;
}

hd_status hd_mllama_fit(int w, int h, int tile_size, int max_tiles, int *rows, int *cols, int *new_w,
                        int *new_h, hd_error *err) {
    int idx;
    return fit(w, h, tile_size, max_tiles, &idx, rows, cols, new_w, new_h, err);
}

hd_status hd_mllama_preprocess(const hd_image *img, const hd_mllama_preproc_params *p, hd_mllama_tiles *out,
                               hd_error *err) {
    if (!out) return hd_error_set(err, HD_ERR_ARG, "mllama preprocessing: no output");
    memset(out, 0, sizeof *out);
    if (!img || !img->data || !p) return hd_error_set(err, HD_ERR_ARG, "mllama preprocessing: no image");
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
            return hd_error_set(err, HD_ERR_ARG, "mllama preprocessing: bad mean/std for channel %d", c);
    const int t = p->tile_size;
    int idx, rows, cols, nw, nh;
    hd_status st = fit(img->w, img->h, t, p->max_tiles, &idx, &rows, &cols, &nw, &nh, err);
    if (st) return st;

    const size_t plane = (size_t)t * (size_t)t, tile = 3 * plane;
    float *pix = calloc((size_t)p->max_tiles * tile, sizeof *pix);
    uint8_t *rs = malloc((size_t)nw * (size_t)nh * 3);
    if (!pix || !rs) {
        free(pix), free(rs);
        return hd_error_set(err, HD_ERR_NOMEM, "mllama preprocessing: out of memory for %d tiles of %d px",
                            p->max_tiles, t);
    }
    if ((st = hd_resize_bilinear_rgb8(img->data, img->w, img->h, rs, nw, nh, err))) {
        free(pix), free(rs);
        return st;
    }
    /* values of a byte per channel: rescale in double, round to float, normalise in float */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)((double)v * p->rescale) - p->mean[c]) / p->std[c];
    /* the canvas (rows·t) × (cols·t): resized image at the top left, zero (black) padding */
    for (int ty = 0; ty < rows; ty++)
        for (int tx = 0; tx < cols; tx++) {
            float *dst = pix + (size_t)(ty * cols + tx) * tile;
            for (int y = 0; y < t; y++) {
                const int sy = ty * t + y;
                for (int x = 0; x < t; x++) {
                    const int sx = tx * t + x;
                    const uint8_t *s = sy < nh && sx < nw ? rs + ((size_t)sy * (size_t)nw + (size_t)sx) * 3 : NULL;
                    for (int c = 0; c < 3; c++)
                        dst[(size_t)c * plane + (size_t)y * (size_t)t + (size_t)x] = lut[c][s ? s[c] : 0];
                }
            }
        }
    free(rs);
    out->tile_size = t;
    out->max_tiles = p->max_tiles;
    out->rows = rows, out->cols = cols, out->n_tiles = rows * cols;
    out->aspect_ratio_id = idx + 1;
    out->resized_w = nw, out->resized_h = nh;
    for (int k = 0; k < p->max_tiles; k++) out->mask[k] = k < out->n_tiles;
    out->pixels = pix;
    return HD_OK;
}

void hd_mllama_tiles_free(hd_mllama_tiles *t) {
    if (!t) return;
    free(t->pixels);
    t->pixels = NULL;
}
