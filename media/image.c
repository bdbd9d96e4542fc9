/* media/image.c — image decoding front door: sniffing, limits, orientation. */
#include "media/image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hd_image_params hd_image_default_params(void) {
    hd_image_params p = {
        .max_pixels = (uint64_t)1 << 28,
        .max_file_bytes = (uint64_t)1 << 30,
        .background = {255, 255, 255},
        .apply_orientation = true,
        .allow_partial = false,
    };
    return p;
}

hd_image_format hd_image_sniff(const void *data, size_t size) {
    const uint8_t *b = data;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (!b || size == 0) return HD_IMAGE_UNKNOWN;
    if (size >= 8 && memcmp(b, png_sig, 8) == 0) return HD_IMAGE_PNG;
    if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return HD_IMAGE_JPEG;
    return HD_IMAGE_OTHER;
}

hd_status hd_image_check_size(uint64_t w, uint64_t h, const char *name, const hd_image_params *p, hd_error *err) {
    if (w == 0 || h == 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: image has zero size (%llux%llu)", name, (unsigned long long)w,
                            (unsigned long long)h);
    if (w > INT32_MAX || h > INT32_MAX || w > p->max_pixels / h)
        return hd_error_set(err, HD_ERR_NOMEM, "%s: image is %llux%llu pixels, over the limit of %llu pixels", name,
                            (unsigned long long)w, (unsigned long long)h, (unsigned long long)p->max_pixels);
    if (w * h > SIZE_MAX / 8)
        return hd_error_set(err, HD_ERR_NOMEM, "%s: image is %llux%llu pixels, too large for this machine", name,
                            (unsigned long long)w, (unsigned long long)h);
    return HD_OK;
}

void hd_image_rgba_to_rgb(uint8_t *buf, size_t n, const uint8_t bg[3]) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = buf + 4 * i;
        uint8_t *d = buf + 3 * i; /* d <= s: forward in-place compaction is safe */
        unsigned a = s[3];
        uint8_t r = (uint8_t)((a * s[0] + (255 - a) * bg[0] + 127) / 255);
        uint8_t g = (uint8_t)((a * s[1] + (255 - a) * bg[1] + 127) / 255);
        uint8_t b = (uint8_t)((a * s[2] + (255 - a) * bg[2] + 127) / 255);
        d[0] = r, d[1] = g, d[2] = b;
    }
}

hd_image *hd_image_wrap(uint8_t *rgb, int w, int h, const char *name, hd_error *err) {
    hd_image *img = calloc(1, sizeof *img);
    if (!img) {
        free(rgb);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    img->w = w, img->h = h, img->data = rgb;
    return img;
}

hd_image *hd_image_create(int w, int h, hd_error *err) {
    if (w <= 0 || h <= 0 || (size_t)w > SIZE_MAX / 3 / (size_t)h) {
        hd_error_set(err, HD_ERR_ARG, "image: invalid size %dx%d", w, h);
        return NULL;
    }
    uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
    if (!rgb) {
        hd_error_set(err, HD_ERR_NOMEM, "image: out of memory for %dx%d", w, h);
        return NULL;
    }
    return hd_image_wrap(rgb, w, h, "image", err);
}

void hd_image_free(hd_image *img) {
    if (!img) return;
    free(img->data);
    free(img);
}

hd_status hd_image_orient(hd_image *img, int o, hd_error *err) {
    if (!img || o < 2 || o > 8) return HD_OK;
    const size_t w = (size_t)img->w, h = (size_t)img->h;
    uint8_t *dst = malloc(w * h * 3);
    if (!dst) return hd_error_set(err, HD_ERR_NOMEM, "image: out of memory applying orientation %d", o);
    const bool swap = o >= 5;
    const size_t ow = swap ? h : w, oh = swap ? w : h;
    const uint8_t *src = img->data;
    for (size_t y = 0; y < oh; y++) {
        uint8_t *row = dst + y * ow * 3;
        for (size_t x = 0; x < ow; x++) {
            size_t sx, sy; /* source pixel shown at (x, y) */
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;
            case 4: sx = x, sy = h - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = h - 1 - x; break;
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;
            default: sx = w - 1 - y, sy = x; break; /* 8 */
            }
            memcpy(row + 3 * x, src + (sy * w + sx) * 3, 3);
        }
    }
    free(img->data);
    img->data = dst;
    img->w = (int)ow, img->h = (int)oh;
    return HD_OK;
}

hd_image *hd_image_decode(const void *data, size_t size, const char *name, const hd_image_params *params,
                          hd_error *err) {
    hd_image_params p = params ? *params : hd_image_default_params();
    if (!name) name = "<image>";
    if (!data || size == 0) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: empty file", name);
        return NULL;
    }
    const uint8_t *b = data;
    int orientation = 1;
    hd_image *img = NULL;
    switch (hd_image_sniff(b, size)) {
    case HD_IMAGE_PNG:
        img = hd_image_decode_png(b, size, name, &p, &orientation, err);
        break;
    case HD_IMAGE_JPEG: {
        hd_error jerr = {0};
        unsigned jw, jh; /* checked here so that the FFmpeg fallback is covered too */
        if (hd_jpeg_size(b, size, &jw, &jh) && jw > 0 && jh > 0 && hd_image_check_size(jw, jh, name, &p, err) != HD_OK)
            return NULL;
        img = hd_image_decode_jpeg(b, size, name, &p, &orientation, &jerr);
        if (!img && jerr.code == HD_ERR_UNSUPPORTED) {
            hd_error ferr = {0};
            img = hd_image_decode_ffmpeg(b, size, name, &p, &ferr);
            if (img) orientation = hd_exif_orientation_jpeg(b, size);
            else if (ferr.code == HD_ERR_NOMEM && err) *err = ferr; /* over the size limit */
            else hd_error_set(err, jerr.code, "%s (FFmpeg cannot decode it either)", jerr.msg);
        } else if (!img) {
            if (err) *err = jerr;
        }
        break;
    }
    default:
        img = hd_image_decode_ffmpeg(b, size, name, &p, err);
        break;
    }
    if (img && p.apply_orientation && orientation != 1 && hd_image_orient(img, orientation, err) != HD_OK) {
        hd_image_free(img);
        return NULL;
    }
    return img;
}

hd_image *hd_image_load(const char *path, const hd_image_params *params, hd_error *err) {
    hd_image_params p = params ? *params : hd_image_default_params();
    if (!path) {
        hd_error_set(err, HD_ERR_ARG, "image: no path given");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > p.max_file_bytes || (uint64_t)st.st_size > SIZE_MAX) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: file is %lld bytes, over the image file limit of %llu", path,
                     (long long)st.st_size, (unsigned long long)p.max_file_bytes);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    int read_errno = errno;
    close(fd);
    if (got != size) {
        hd_error_set(err, HD_ERR_IO, "%s: read failed (%s)", path, got < size ? strerror(read_errno) : "short read");
        free(buf);
        return NULL;
    }
    hd_image *img = hd_image_decode(buf, size, path, &p, err);
    free(buf);
    return img;
}
