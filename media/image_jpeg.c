/* media/image_jpeg.c — JPEG through libjpeg-turbo: baseline, progressive,
 * arithmetic, grey, CMYK/YCCK (Adobe inverted) to 8-bit RGB.  Errors and
 * warnings go to our handlers (setjmp/longjmp), never to stderr. */
#include "media/image_internal.h"

#include <stdio.h> /* jpeglib.h needs FILE */
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* A progressive JPEG may legally have hundreds of scans; hostile ones have
 * millions of tiny scans that take minutes.  Real files stay far below this. */
#define MAX_SCANS 1000

typedef struct jpeg_job {
    struct jpeg_error_mgr pub;    /* first: libjpeg casts cinfo->err to this */
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    bool allow_partial;
    int n_damage;                 /* warnings that mean lost image data */
    hd_status code;               /* error kind for the longjmp path     */
    char msg[JMSG_LENGTH_MAX];    /* last error or damage warning        */
    uint8_t *pixels;              /* RGB output, owned until wrapped     */
    uint8_t *cmyk_row;            /* one CMYK scanline                   */
} jpeg_job;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_job *job = (jpeg_job *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, job->msg);
    int c = cinfo->err->msg_code;
    job->code = (c == JERR_BAD_PRECISION || c == JERR_NOT_COMPILED || c == JERR_ARITH_NOTIMPL) ? HD_ERR_UNSUPPORTED
              : c == JERR_OUT_OF_MEMORY ? HD_ERR_NOMEM : HD_ERR_FORMAT;
    longjmp(job->jb, 1);
}

static bool is_damage(int code) {
    return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
           code == JWRN_ARITH_BAD_CODE || code == JWRN_MUST_RESYNC || code == JWRN_NOT_SEQUENTIAL ||
           code == JWRN_BOGUS_PROGRESSION;
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return; /* trace messages */
    jpeg_job *job = (jpeg_job *)cinfo->err;
    cinfo->err->num_warnings++;
    if (!is_damage(cinfo->err->msg_code)) return; /* e.g. extraneous bytes before a marker: harmless */
    job->n_damage++;
    (*cinfo->err->format_message)(cinfo, job->msg);
    if (!job->allow_partial) {
        job->code = HD_ERR_FORMAT;
        longjmp(job->jb, 1);
    }
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > MAX_SCANS) {
        jpeg_job *job = (jpeg_job *)cinfo->err;
        snprintf(job->msg, sizeof job->msg, "more than %d progressive scans", MAX_SCANS);
        job->code = HD_ERR_FORMAT;
        longjmp(job->jb, 1);
    }
}

/* CMYK (optionally Adobe-inverted) to RGB: R = C*K/255 on the inverted values. */
static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, size_t n, bool inverted) {
    for (size_t i = 0; i < n; i++, src += 4, dst += 3) {
        unsigned c = src[0], m = src[1], y = src[2], k = src[3];
        if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        dst[0] = (uint8_t)((c * k + 127) / 255);
        dst[1] = (uint8_t)((m * k + 127) / 255);
        dst[2] = (uint8_t)((y * k + 127) / 255);
    }
}

hd_image *hd_image_decode_jpeg(const uint8_t *data, size_t size, const char *name, const hd_image_params *p,
                               int *orientation, hd_error *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_job job_storage;
    jpeg_job *job = &job_storage;
    memset(job, 0, sizeof *job);
    job->allow_partial = p->allow_partial;
    *orientation = hd_exif_orientation_jpeg(data, size);

    cinfo.err = jpeg_std_error(&job->pub);
    job->pub.error_exit = on_error_exit;
    job->pub.emit_message = on_emit_message;
    job->pub.output_message = on_output_message;
    if (setjmp(job->jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(job->pixels);
        free(job->cmyk_row);
        if (job->code == HD_ERR_UNSUPPORTED)
            hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: JPEG not supported by libjpeg-turbo: %s", name, job->msg);
        else if (job->code == HD_ERR_NOMEM)
            hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory decoding JPEG", name);
        else
            hd_error_set(err, HD_ERR_FORMAT, "%s: bad JPEG: %s", name, job->msg);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    job->progress.progress_monitor = on_progress;
    cinfo.progress = &job->progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        snprintf(job->msg, sizeof job->msg, "no image in file (tables only)");
        job->code = HD_ERR_FORMAT;
        longjmp(job->jb, 1);
    }
    if (hd_image_check_size(cinfo.image_width, cinfo.image_height, name, p, err) != HD_OK) {
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const size_t w = cinfo.output_width, h = cinfo.output_height;
    if (cinfo.output_components != (cmyk ? 4 : 3) || w != cinfo.image_width || h != cinfo.image_height) {
        snprintf(job->msg, sizeof job->msg, "unexpected output layout (%d components)", cinfo.output_components);
        job->code = HD_ERR_FORMAT;
        longjmp(job->jb, 1);
    }
    job->pixels = malloc(w * h * 3);
    if (cmyk) job->cmyk_row = malloc(w * 4);
    if (!job->pixels || (cmyk && !job->cmyk_row)) {
        job->code = HD_ERR_NOMEM;
        longjmp(job->jb, 1);
    }
    const bool inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = job->pixels + (size_t)cinfo.output_scanline * w * 3;
        JSAMPROW row = cmyk ? job->cmyk_row : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(job->msg, sizeof job->msg, "decoder stopped at row %u of %zu", cinfo.output_scanline, h);
            job->code = HD_ERR_FORMAT;
            longjmp(job->jb, 1);
        }
        if (cmyk) cmyk_to_rgb(job->cmyk_row, dst, w, inverted);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(job->cmyk_row);
    hd_image *img = hd_image_wrap(job->pixels, (int)w, (int)h, name, err);
    if (img) img->partial = job->n_damage > 0;
    return img;
}
