/* lm/quantize.c — GGUF → GGUF with the weight matrices in another type, as
 * `llama-quantize --pure` makes it (hd_quantize_gguf, see convert.h). */
#include "lm/convert.h"

#include "core/gguf.h"
#include "core/quant.h"
#include "core/threadpool.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool can_target(hd_type t) {
    return t == HD_TYPE_F16 || t == HD_TYPE_BF16 || t == HD_TYPE_Q8_0 || t == HD_TYPE_Q4_0 || t == HD_TYPE_Q4_K;
}

/* ggml_n_dims: dimensions up to the last one longer than 1. */
static int real_dims(const hd_gguf_tensor_info *ti) {
    int n = 1;
    for (int i = 1; i < ti->n_dims; i++)
        if (ti->ne[i] > 1) n = i + 1;
    return n;
}

/* llama-quantize: weights ("...weight", ≥ 2-D, not a norm) are converted. */
static bool converts(const hd_gguf_tensor_info *ti) {
    const size_t n = strlen(ti->name);
    return n >= 6 && strcmp(ti->name + n - 6, "weight") == 0 && strstr(ti->name, "_norm.weight") == NULL &&
           real_dims(ti) >= 2;
}

/* Rows of a tensor: the product of its dimensions past ne[0]. */
static int64_t rows_of(const hd_gguf_tensor_info *ti) {
    int64_t rows = 1;
    for (int d = 1; d < ti->n_dims; d++) rows *= ti->ne[d];
    return rows;
}

typedef struct qjob {
    const hd_gguf_tensor_info *ti;
    hd_type type;
    int64_t cols, rows;
    size_t src_row, dst_row;
    uint8_t *dst;
    float *scratch;   /* [threads][cols] */
    hd_threadpool *tp;
    const hd_convert_params *p;
    int index, total;
} qjob;

static void quantize_rows(void *ctx, int64_t begin, int64_t end, int thread_id) {
    const qjob *j = ctx;
    float *row = j->scratch + (size_t)thread_id * (size_t)j->cols;
    const uint8_t *src = j->ti->data;
    for (int64_t r = begin; r < end; r++) {
        hd_dequantize_row(j->ti->type, src + (size_t)r * j->src_row, row, j->cols);
        hd_quantize_row(j->type, row, j->dst + (size_t)r * j->dst_row, j->cols);
    }
}

static hd_status fill(void *ctx, void *dst, size_t nbytes, hd_error *err) {
    qjob *j = ctx;
    if (nbytes != j->dst_row * (size_t)j->rows)
        return hd_error_set(err, HD_ERR_INTERNAL, "quantize: %s: %zu bytes asked, %zu expected", j->ti->name, nbytes,
                            j->dst_row * (size_t)j->rows);
    if (j->ti->type == j->type) {
        memcpy(dst, j->ti->data, nbytes);
    } else {
        const int nt = hd_threadpool_size(j->tp);
        j->scratch = malloc((size_t)nt * (size_t)j->cols * sizeof(float));
        if (!j->scratch) return hd_error_set(err, HD_ERR_NOMEM, "quantize: out of memory");
        j->dst = dst;
        const int64_t grain = j->cols >= 4096 ? 4 : 4096 / j->cols + 1;
        hd_parallel_for(j->tp, j->rows, grain, quantize_rows, j);
        free(j->scratch);
        j->scratch = NULL;
    }
    if (j->p->progress) j->p->progress(j->p->progress_ctx, j->index + 1, j->total, j->ti->name);
    return HD_OK;
}

typedef struct copy_job {
    const hd_gguf_tensor_info *ti;
    const hd_convert_params *p;
    int index, total;
} copy_job;

static hd_status fill_copy(void *ctx, void *dst, size_t nbytes, hd_error *err) {
    const copy_job *c = ctx;
    if (nbytes != c->ti->nbytes)
        return hd_error_set(err, HD_ERR_INTERNAL, "quantize: %s: %zu bytes asked, %zu expected", c->ti->name, nbytes,
                            c->ti->nbytes);
    memcpy(dst, c->ti->data, nbytes);
    if (c->p->progress) c->p->progress(c->p->progress_ctx, c->index + 1, c->total, c->ti->name);
    return HD_OK;
}

hd_status hd_quantize_gguf(const char *in, const char *out, hd_type type, const hd_convert_params *p,
                           hd_error *err) {
    if (!in || !out || !p) return hd_error_set(err, HD_ERR_ARG, "quantize: no input or output path");
    if (!hd_type_valid(type) || !can_target(type))
        return hd_error_set(err, HD_ERR_ARG, "quantize: cannot quantize to %s (use F16, BF16, Q8_0, Q4_0 or Q4_K)",
                            hd_type_name(type));
    hd_gguf *g = hd_gguf_open(in, err);
    if (!g) return err ? err->code : HD_ERR_IO;
    const int64_t n = hd_gguf_n_tensors(g);
    hd_gguf_writer *w = NULL;
    hd_threadpool *tp = NULL;
    qjob *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
    copy_job *copies = calloc((size_t)(n > 0 ? n : 1), sizeof *copies);
    hd_status st = HD_OK;
    if (!jobs || !copies) {
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", in);
        goto done;
    }
    if (!(w = hd_gguf_writer_create(err)) || !(tp = hd_threadpool_create(p->n_threads, err))) {
        st = err ? err->code : HD_ERR_NOMEM;
        goto done;
    }
    if ((st = hd_gguf_copy_kv(w, g, err))) goto done;
    if (hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK ||
        hd_gguf_set_u32(w, "general.file_type", hd_convert_file_type(type)) != HD_OK) {
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", out);
        goto done;
    }
    const size_t block = hd_type_get(type)->block_size;
    for (int64_t i = 0; i < n && st == HD_OK; i++) {
        const hd_gguf_tensor_info *ti = hd_gguf_tensor(g, i);
        if (!converts(ti)) {
            copies[i] = (copy_job){.ti = ti, .p = p, .index = (int)i, .total = (int)n};
            st = hd_gguf_add_tensor_fn(w, ti->name, ti->type, ti->n_dims, ti->ne, fill_copy, &copies[i], err);
            continue;
        }
        if (!hd_type_valid(ti->type)) {
            st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s is %s, which herd cannot re-quantize", in,
                              ti->name, hd_gguf_type_name(ti->type));
            break;
        }
        /* the mllama patch embedding [p, p, 3, W] (rows of 14): no block type fits, F16 */
        const hd_type to = block > 1 && strcmp(ti->name, "v.patch_embd.weight") == 0 ? HD_TYPE_F16 : type;
        if (to != type) {
            jobs[i] = (qjob){.ti = ti, .type = to, .cols = ti->ne[0], .rows = rows_of(ti),
                             .src_row = hd_type_row_size(ti->type, ti->ne[0]), .dst_row = hd_type_row_size(to, ti->ne[0]),
                             .tp = tp, .p = p, .index = (int)i, .total = (int)n};
            st = hd_gguf_add_tensor_fn(w, ti->name, to, ti->n_dims, ti->ne, fill, &jobs[i], err);
            continue;
        }
        if (ti->ne[0] % (int64_t)block) {
            st = hd_error_set(err, HD_ERR_ARG,
                              "%s: tensor %s has rows of %" PRId64 ", %s needs multiples of %zu (choose another type)",
                              in, ti->name, ti->ne[0], hd_type_name(type), block);
            break;
        }
        jobs[i] = (qjob){.ti = ti, .type = type, .cols = ti->ne[0], .rows = rows_of(ti),
                         .src_row = hd_type_row_size(ti->type, ti->ne[0]), .dst_row = hd_type_row_size(type, ti->ne[0]),
                         .tp = tp, .p = p, .index = (int)i, .total = (int)n};
        st = hd_gguf_add_tensor_fn(w, ti->name, type, ti->n_dims, ti->ne, fill, &jobs[i], err);
    }
    if (st == HD_OK) st = hd_gguf_writer_write(w, out, err);
done:
    hd_gguf_writer_free(w);
    hd_threadpool_free(tp);
    free(jobs);
    free(copies);
    hd_gguf_close(g);
    return st;
}
