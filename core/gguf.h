/* core/gguf.h — GGUF v3 reader (mmap, zero copy) and writer.
 *
 * The reader maps the file and validates everything before handing out a
 * pointer: magic, version (2 and 3), counts, every string length, every array
 * length and element type, tensor dims/types/offsets/sizes and the alignment.
 * A truncated or hostile file gives HD_ERR_FORMAT with a one-line message
 * naming the file and the problem; it never reads out of bounds.
 *
 * Strings inside a GGUF file are not NUL-terminated; keys and tensor names
 * are copied (NUL-terminated) at open, string values and string-array
 * elements are returned as pointer + length into the mapping.
 */
#ifndef HD_GGUF_H
#define HD_GGUF_H

#include "error.h"
#include "tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_gguf_vtype {
    HD_GGUF_UINT8 = 0, HD_GGUF_INT8 = 1, HD_GGUF_UINT16 = 2, HD_GGUF_INT16 = 3,
    HD_GGUF_UINT32 = 4, HD_GGUF_INT32 = 5, HD_GGUF_FLOAT32 = 6, HD_GGUF_BOOL = 7,
    HD_GGUF_STRING = 8, HD_GGUF_ARRAY = 9, HD_GGUF_UINT64 = 10, HD_GGUF_INT64 = 11,
    HD_GGUF_FLOAT64 = 12,
} hd_gguf_vtype;

#define HD_GGUF_DEFAULT_ALIGNMENT 32

/* Names and sizes of every ggml tensor type id a GGUF file may carry (a
 * superset of hd_type: "Q3_K", "IQ2_XXS", ... are read and listed, not computed
 * with).  "?" / false for ids ggml does not define. */
const char *hd_gguf_type_name(int type);
bool hd_gguf_type_size(int type, size_t *block_elems, size_t *block_bytes);
/* "u8", "i32", "f32", "bool", "str", "arr", ... as llama.cpp prints them. */
const char *hd_gguf_vtype_name(hd_gguf_vtype t);

/* ---- reader -------------------------------------------------------------- */

typedef struct hd_gguf hd_gguf;

typedef struct hd_gguf_tensor_info {
    const char *name;          /* owned by the hd_gguf                   */
    hd_type type;              /* any ggml type id (see hd_gguf_type_name);
                                  herd computes only with hd_type_valid ones */
    int n_dims;
    int64_t ne[HD_MAX_DIMS];   /* innermost first, unused dims = 1       */
    uint64_t offset;           /* from the start of the data section     */
    size_t nbytes;
    const void *data;          /* into the mapping                       */
} hd_gguf_tensor_info;

/* Maps and validates path.  Caller closes with hd_gguf_close. */
hd_gguf *hd_gguf_open(const char *path, hd_error *err);
/* Parses a buffer (not copied, must outlive the result); name is used in messages. */
hd_gguf *hd_gguf_open_memory(const void *data, size_t size, const char *name, hd_error *err);
void hd_gguf_close(hd_gguf *g);                      /* NULL is a no-op */

const char *hd_gguf_name(const hd_gguf *g);          /* the path given at open */
uint32_t hd_gguf_version(const hd_gguf *g);
size_t hd_gguf_alignment(const hd_gguf *g);
size_t hd_gguf_file_size(const hd_gguf *g);
size_t hd_gguf_data_offset(const hd_gguf *g);       /* start of the data section in the file */

int64_t hd_gguf_n_kv(const hd_gguf *g);
const char *hd_gguf_kv_key(const hd_gguf *g, int64_t i);
hd_gguf_vtype hd_gguf_kv_type(const hd_gguf *g, int64_t i);
int64_t hd_gguf_find_key(const hd_gguf *g, const char *key);   /* -1 if absent */

/* Typed getters by key.  They return false when the key is absent or its type
 * cannot represent the request (integers convert when the value fits). */
bool hd_gguf_get_u32(const hd_gguf *g, const char *key, uint32_t *out);
bool hd_gguf_get_i64(const hd_gguf *g, const char *key, int64_t *out);
bool hd_gguf_get_u64(const hd_gguf *g, const char *key, uint64_t *out);
bool hd_gguf_get_f32(const hd_gguf *g, const char *key, float *out);
bool hd_gguf_get_bool(const hd_gguf *g, const char *key, bool *out);
/* Pointer into the mapping, not NUL-terminated. */
bool hd_gguf_get_str(const hd_gguf *g, const char *key, const char **s, size_t *len);

/* Scalar value of kv i as double / string (for printing). */
bool hd_gguf_kv_number(const hd_gguf *g, int64_t i, double *out);
bool hd_gguf_kv_str(const hd_gguf *g, int64_t i, const char **s, size_t *len);
/* Arrays: element type and count of kv i (false if not an array). */
bool hd_gguf_kv_array(const hd_gguf *g, int64_t i, hd_gguf_vtype *elem_type, uint64_t *n);
/* Element j of a string array (pointer into the mapping, not NUL-terminated). */
bool hd_gguf_arr_str(const hd_gguf *g, int64_t i, uint64_t j, const char **s, size_t *len);
/* Element j of a numeric array as double / int64. */
bool hd_gguf_arr_number(const hd_gguf *g, int64_t i, uint64_t j, double *out);
/* Raw pointer to a numeric array's elements (may be unaligned: use memcpy). */
const void *hd_gguf_arr_data(const hd_gguf *g, int64_t i);

int64_t hd_gguf_n_tensors(const hd_gguf *g);
const hd_gguf_tensor_info *hd_gguf_tensor(const hd_gguf *g, int64_t i);
int64_t hd_gguf_find_tensor(const hd_gguf *g, const char *name);  /* -1 if absent */
/* A view of tensor i (data in the mapping, read-only by contract). */
hd_tensor hd_gguf_tensor_view(const hd_gguf *g, int64_t i);

/* ---- writer -------------------------------------------------------------- */

typedef struct hd_gguf_writer hd_gguf_writer;

/* Fills dst (nbytes) with the tensor's data at write time. */
typedef hd_status (*hd_gguf_fill_fn)(void *ctx, void *dst, size_t nbytes, hd_error *err);

hd_gguf_writer *hd_gguf_writer_create(hd_error *err);      /* caller frees */
void hd_gguf_writer_free(hd_gguf_writer *w);               /* NULL is a no-op */

/* Setting a key twice replaces its value.  Strings and arrays are copied. */
hd_status hd_gguf_set_u32(hd_gguf_writer *w, const char *key, uint32_t v);
hd_status hd_gguf_set_i32(hd_gguf_writer *w, const char *key, int32_t v);
hd_status hd_gguf_set_u64(hd_gguf_writer *w, const char *key, uint64_t v);
hd_status hd_gguf_set_f32(hd_gguf_writer *w, const char *key, float v);
hd_status hd_gguf_set_bool(hd_gguf_writer *w, const char *key, bool v);
hd_status hd_gguf_set_str(hd_gguf_writer *w, const char *key, const char *v);
/* String array; lens may be NULL for NUL-terminated strings. */
hd_status hd_gguf_set_arr_str(hd_gguf_writer *w, const char *key, const char *const *v,
                              const size_t *lens, uint64_t n);
hd_status hd_gguf_set_arr_i32(hd_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
hd_status hd_gguf_set_arr_f32(hd_gguf_writer *w, const char *key, const float *v, uint64_t n);
/* Any type: value is the encoded bytes that follow the vtype field in a file
 * (for arrays: u32 element type, u64 count, elements), copied.  HD_ERR_ARG
 * unless the bytes are exactly one well-formed value of that type. */
hd_status hd_gguf_set_raw(hd_gguf_writer *w, const char *key, hd_gguf_vtype type, const void *value, size_t len);
/* Copies every kv of a reader (e.g. convert/quantize keep the metadata). */
hd_status hd_gguf_copy_kv(hd_gguf_writer *w, const hd_gguf *src, hd_error *err);

/* data (nbytes = hd_type_row_size(type, ne[0]) * rows) is not copied and must
 * stay valid until hd_gguf_writer_write returns. */
hd_status hd_gguf_add_tensor(hd_gguf_writer *w, const char *name, hd_type type, int n_dims,
                             const int64_t *ne, const void *data, hd_error *err);
/* The data is produced by fill(ctx, ...) while writing (large models). */
hd_status hd_gguf_add_tensor_fn(hd_gguf_writer *w, const char *name, hd_type type, int n_dims,
                                const int64_t *ne, hd_gguf_fill_fn fill, void *ctx, hd_error *err);
/* Writes GGUF v3 with general.alignment (default 32) to path. */
hd_status hd_gguf_writer_write(hd_gguf_writer *w, const char *path, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
