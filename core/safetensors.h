/* core/safetensors.h — safetensors reader (mmap, zero copy; sharded via
 * model.safetensors.index.json) and writer.
 *
 * Open accepts a .safetensors file, a *.safetensors.index.json, or a
 * directory (its model.safetensors.index.json, else its single
 * model.safetensors, else all *.safetensors in it).  The JSON header is
 * bounds-checked: header length, dtype names, shapes, data_offsets inside the
 * file and consistent with shape × dtype size, no overlap past the end.
 * Shapes are kept as in the file (outermost first); hd_safetensors_view
 * returns an hd_tensor in ggml order (reversed).  Tensor data is aligned only
 * as the file makes it (writers pad the header to 8 bytes); read it with
 * memcpy-safe code or check the alignment.
 */
#ifndef HD_SAFETENSORS_H
#define HD_SAFETENSORS_H

#include "error.h"
#include "tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_ST_MAX_DIMS 8

typedef struct hd_safetensors hd_safetensors;

typedef struct hd_st_tensor {
    const char *name;              /* owned by the reader                        */
    const char *dtype;             /* "F32", "F16", "BF16", "I64", ... as in file */
    int hd_type;                   /* hd_type, or -1 for dtypes herd cannot use  */
    int n_dims;
    int64_t shape[HD_ST_MAX_DIMS]; /* outermost first, as in the file            */
    size_t nbytes;
    const void *data;              /* into the mapping                           */
    uint64_t offset;               /* data_offsets[0]: from the shard's data section */
    const char *file;              /* the shard it lives in (owned by the reader) */
} hd_st_tensor;

hd_safetensors *hd_safetensors_open(const char *path, hd_error *err);   /* caller closes */
/* One safetensors buffer (not copied, must outlive the result). */
hd_safetensors *hd_safetensors_open_memory(const void *data, size_t size, const char *name,
                                           hd_error *err);
void hd_safetensors_close(hd_safetensors *st);                            /* NULL ok */

const char *hd_safetensors_name(const hd_safetensors *st);
int64_t hd_safetensors_n_tensors(const hd_safetensors *st);
const hd_st_tensor *hd_safetensors_tensor(const hd_safetensors *st, int64_t i);
int64_t hd_safetensors_find(const hd_safetensors *st, const char *name);  /* -1 if absent */
/* __metadata__ entries (string → string) of the first file. */
int64_t hd_safetensors_n_meta(const hd_safetensors *st);
bool hd_safetensors_meta(const hd_safetensors *st, int64_t i, const char **key, const char **value);
/* ggml-order view; HD_ERR_UNSUPPORTED for dtypes herd cannot compute with. */
hd_status hd_safetensors_view(const hd_safetensors *st, int64_t i, hd_tensor *out, hd_error *err);

/* ---- writer: one file, tensors in the order added ------------------------ */

typedef struct hd_st_writer hd_st_writer;
hd_st_writer *hd_st_writer_create(hd_error *err);                          /* caller frees */
void hd_st_writer_free(hd_st_writer *w);
hd_status hd_st_writer_meta(hd_st_writer *w, const char *key, const char *value);
/* shape outermost first (PyTorch order); type F32, F16 or BF16; data not
 * copied, must stay valid until write. */
hd_status hd_st_writer_add(hd_st_writer *w, const char *name, hd_type type, int n_dims,
                           const int64_t *shape, const void *data, hd_error *err);
hd_status hd_st_writer_write(hd_st_writer *w, const char *path, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
