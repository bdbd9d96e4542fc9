/* media/image_png.c — PNG through libpng: every bit depth and colour type to
 * 8-bit RGB, alpha composited, errors as values (setjmp/longjmp), silent. */
#include "media/image_internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text, ICC and palette-suggestion chunks are never needed for pixels; they are
 * skipped unread, which also defuses compressed-text bombs. */
static const png_byte ignored_chunks[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0";

typedef struct png_job {
    jmp_buf jb;
    const char *name;
    const uint8_t *data;
    size_t size, pos;
    uint8_t *pixels;     /* owned until handed to the image */
    bool rows_done;      /* all pixel rows read: later errors are tolerated */
    png_uint_32 w, h;
    int channels;
    char msg[200];
} png_job;

static void on_error(png_structp png, png_const_charp msg) {
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg ? msg : "libpng error");
    longjmp(job->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void on_read(png_structp png, png_bytep out, size_t n) {
    png_job *job = png_get_io_ptr(png);
    if (n > job->size - job->pos) png_error(png, "file ends early (truncated)");
    memcpy(out, job->data + job->pos, n);
    job->pos += n;
}

hd_image *hd_image_decode_png(const uint8_t *data, size_t size, const char *name, const hd_image_params *p,
                              int *orientation, hd_error *err) {
    png_job job_storage;
    png_job *job = &job_storage;
    memset(job, 0, sizeof *job);
    job->name = name, job->data = data, job->size = size;
    *orientation = 1;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    if (setjmp(job->jb)) {
        if (job->rows_done) goto done; /* damage after the pixels (e.g. a cut final chunk): keep the image */
        png_destroy_read_struct(&png, &info, NULL);
        free(job->pixels);
        hd_error_set(err, HD_ERR_FORMAT, "%s: bad PNG: %s", name, job->msg);
        return NULL;
    }
    png_set_read_fn(png, job, on_read);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks, 5);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff); /* our own pixel limit follows */
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);

    int bit_depth, color_type, interlace;
    png_uint_32 w, h;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    job->w = w, job->h = h;
    if (hd_image_check_size(w, h, name, p, err) != HD_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    job->channels = channels;
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((channels != 3 && channels != 4) || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)w * channels)
        png_error(png, "unexpected pixel layout after conversion");
    job->pixels = malloc((size_t)h * rowbytes);
    if (!job->pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, (unsigned)w, (unsigned)h);
        return NULL;
    }
    /* Row by row (Adam7 passes combine into the same rows): no row-pointer array. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < h; y++) png_read_row(png, job->pixels + (size_t)y * rowbytes, NULL);
    job->rows_done = true;
    png_read_end(png, info);
done:;
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 n_exif = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &n_exif, &exif) && exif) *orientation = hd_exif_orientation_tiff(exif, n_exif);
#endif
    png_destroy_read_struct(&png, &info, NULL);
    uint8_t *rgb = job->pixels;
    size_t n = (size_t)job->w * job->h;
    if (job->channels == 4) {
        hd_image_rgba_to_rgb(rgb, n, p->background);
        uint8_t *shrunk = realloc(rgb, n * 3);
        if (shrunk) rgb = shrunk;
    }
    return hd_image_wrap(rgb, (int)job->w, (int)job->h, name, err);
}
