/* vision/resample.c — Pillow's two-pass bilinear resampler on 8-bit RGB
 * (see resample.h for the exact arithmetic). */
#include "resample.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

typedef struct taps {
    int ksize;        /* coefficients per output pixel                */
    int *first;       /* [out] first input index                      */
    int *count;       /* [out] number of taps                          */
    int32_t *k;       /* [out][ksize] fixed-point weights              */
} taps;

static void taps_free(taps *t) {
    free(t->first), free(t->count), free(t->k);
    memset(t, 0, sizeof *t);
}

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Filter taps for resizing in_size samples to out_size (whole-image box). */
static hd_status make_taps(int in_size, int out_size, taps *t, hd_error *err) {
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale;
    const int ksize = (int)ceil(support) * 2 + 1;
    t->ksize = ksize;
    t->first = malloc((size_t)out_size * sizeof *t->first);
    t->count = malloc((size_t)out_size * sizeof *t->count);
    t->k = malloc((size_t)out_size * (size_t)ksize * sizeof *t->k);
    double *w = malloc((size_t)ksize * sizeof *w);
    if (!t->first || !t->count || !t->k || !w) {
        free(w);
        taps_free(t);
        return hd_error_set(err, HD_ERR_NOMEM, "resize: out of memory for %d -> %d filter taps", in_size, out_size);
    }
    for (int o = 0; o < out_size; o++) {
        const double center = (o + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        if (n > ksize) n = ksize; /* cannot happen; keeps the table in bounds */
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = triangle((j + lo - center + 0.5) * ss);
            sum += w[j];
        }
        int32_t *k = t->k + (size_t)o * (size_t)ksize;
        for (int j = 0; j < ksize; j++) {
            double v = j < n ? (sum != 0.0 ? w[j] / sum : w[j]) : 0.0;
            k[j] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        t->first[o] = lo;
        t->count[o] = n;
    }
    free(w);
    return HD_OK;
}

static inline uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS;   /* arithmetic shift: floor, as Pillow */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* dst [rows][dw][3] from src rows [row0, row0 + rows) of width sw. */
static void pass_h(const uint8_t *src, int sw, int row0, int rows, uint8_t *dst, int dw, const taps *t) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(row0 + y) * (size_t)sw * 3;
        uint8_t *out = dst + (size_t)y * (size_t)dw * 3;
        for (int x = 0; x < dw; x++) {
            const int32_t *k = t->k + (size_t)x * (size_t)t->ksize;
            const uint8_t *p = in + (size_t)t->first[x] * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int j = 0; j < t->count[x]; j++) {
                s0 += p[3 * j + 0] * k[j];
                s1 += p[3 * j + 1] * k[j];
                s2 += p[3 * j + 2] * k[j];
            }
            out[3 * x + 0] = clip8(s0), out[3 * x + 1] = clip8(s1), out[3 * x + 2] = clip8(s2);
        }
    }
}

/* dst [dh][w][3] from src [..][w][3]; tap indices are shifted by -row0. */
static void pass_v(const uint8_t *src, int w, int row0, uint8_t *dst, int dh, const taps *t) {
    const size_t stride = (size_t)w * 3;
    for (int y = 0; y < dh; y++) {
        const int32_t *k = t->k + (size_t)y * (size_t)t->ksize;
        const uint8_t *base = src + (size_t)(t->first[y] - row0) * stride;
        uint8_t *out = dst + (size_t)y * stride;
        for (size_t c = 0; c < stride; c++) {
            int32_t s = 1 << (PRECISION_BITS - 1);
            for (int j = 0; j < t->count[y]; j++) s += base[(size_t)j * stride + c] * k[j];
            out[c] = clip8(s);
        }
    }
}

hd_status hd_resize_bilinear_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                                  hd_error *err) {
    if (!src || !dst || sw < 1 || sh < 1 || dw < 1 || dh < 1)
        return hd_error_set(err, HD_ERR_ARG, "resize: bad sizes %dx%d -> %dx%d", sw, sh, dw, dh);
    const bool need_h = dw != sw, need_v = dh != sh;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)sw * (size_t)sh * 3);
        return HD_OK;
    }
    taps th = {0}, tv = {0};
    hd_status st = HD_OK;
    uint8_t *tmp = NULL;
    if (need_h && (st = make_taps(sw, dw, &th, err))) goto done;
    if (need_v && (st = make_taps(sh, dh, &tv, err))) goto done;
    if (!need_v) {
        pass_h(src, sw, 0, sh, dst, dw, &th);
    } else if (!need_h) {
        pass_v(src, sw, 0, dst, dh, &tv);
    } else {
        /* only the rows the vertical pass reads go through the horizontal one */
        const int row0 = tv.first[0], row1 = tv.first[dh - 1] + tv.count[dh - 1];
        tmp = malloc((size_t)(row1 - row0) * (size_t)dw * 3);
        if (!tmp) {
            st = hd_error_set(err, HD_ERR_NOMEM, "resize: out of memory for a %dx%d intermediate", dw, row1 - row0);
            goto done;
        }
        pass_h(src, sw, row0, row1 - row0, tmp, dw, &th);
        pass_v(tmp, dw, row0, dst, dh, &tv);
    }
done:
    free(tmp);
    taps_free(&th), taps_free(&tv);
    return st;
}
