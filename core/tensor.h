/* core/tensor.h — a view of typed data with up to 4 dimensions.
 *
 * Dimension order follows GGUF/ggml: ne[0] is the innermost (contiguous) one.
 * A PyTorch nn.Linear weight of shape [out, in] is an hd_tensor with
 * ne = {in, out}.  nb[i] is the stride of dimension i in bytes; for quantized
 * types nb[0] is the block size in bytes over the block's element count and
 * rows (dimension 0) must be contiguous.
 *
 * A tensor never owns its data: data points into an mmap'd file, an arena or
 * a buffer whose owner is stated where the tensor is made.
 */
#ifndef HD_TENSOR_H
#define HD_TENSOR_H

#include "types.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_MAX_DIMS 4

typedef struct hd_tensor {
    hd_type type;
    int n_dims;                 /* 1..4; dimensions past n_dims have ne = 1 */
    int64_t ne[HD_MAX_DIMS];    /* elements per dimension, innermost first  */
    size_t nb[HD_MAX_DIMS];     /* stride in bytes per dimension            */
    void *data;                 /* not owned                                 */
    const char *name;           /* not owned; may be NULL                    */
} hd_tensor;

/* A contiguous view over data (not owned). */
hd_tensor hd_tensor_view(hd_type type, int n_dims, const int64_t *ne, void *data);
/* Convenience constructors for contiguous views. */
hd_tensor hd_tensor_1d(hd_type type, int64_t ne0, void *data);
hd_tensor hd_tensor_2d(hd_type type, int64_t ne0, int64_t ne1, void *data);
hd_tensor hd_tensor_3d(hd_type type, int64_t ne0, int64_t ne1, int64_t ne2, void *data);

int64_t hd_tensor_nelements(const hd_tensor *t);
int64_t hd_tensor_nrows(const hd_tensor *t);      /* product of ne[1..]          */
size_t hd_tensor_nbytes(const hd_tensor *t);      /* for a contiguous tensor      */
bool hd_tensor_is_contiguous(const hd_tensor *t);
/* Pointer to row (i1, i2, i3). */
static inline void *hd_tensor_row(const hd_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}
/* Writes "[ne0, ne1, ...]" into buf. */
const char *hd_tensor_shape_str(const hd_tensor *t, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
