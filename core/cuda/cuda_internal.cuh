/* core/cuda/cuda_internal.cuh — internal to core/cuda: the device context,
 * operand placement (see core/cuda/cuda.h, "Memory") and launch helpers.
 * Not a public header. */
#ifndef HD_CUDA_INTERNAL_CUH
#define HD_CUDA_INTERNAL_CUH

#include "core/cuda/kernels_math.h"   /* first: maps _Static_assert for core/types.h */

#include "core/backend.h"
#include "core/cuda/cuda.h"
#include "core/error.h"
#include "core/tensor.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stddef.h>
#include <stdint.h>

/* Uploaded weights: open-addressed table keyed by host address. */
typedef struct hd_cu_weight {
    const void *host;   /* NULL = empty slot */
    size_t bytes;
    void *dev;
} hd_cu_weight;

/* A device-to-host copy an op owes before it returns. */
typedef struct hd_cu_pending {
    void *host;
    const void *dev;
    size_t bytes;
} hd_cu_pending;

#define HD_CU_MAX_PENDING 8
#define HD_CU_MAX_CHUNKS 16

struct hd_cuda {
    int device;
    char name[256];
    cudaStream_t stream;
    cublasHandle_t blas;
    /* weights */
    hd_cu_weight *w;
    size_t w_cap, w_n, w_bytes;
    /* per-op staging: one main buffer plus overflow chunks (merged at the next op) */
    char *pool;
    size_t pool_cap, pool_used;
    void *chunks[HD_CU_MAX_CHUNKS];
    size_t chunk_bytes[HD_CU_MAX_CHUNKS];
    int n_chunks;
    hd_cu_pending pend[HD_CU_MAX_PENDING];
    int n_pend;
};

/* How an op uses an operand. */
typedef enum hd_cu_role {
    HD_CU_IN = 0,      /* read                                                     */
    HD_CU_WEIGHT = 1,  /* read, constant for the context's life: uploaded once      */
    HD_CU_OUT = 2,     /* written                                                   */
    HD_CU_INOUT = 3,   /* read and written (in place)                               */
} hd_cu_role;

#ifdef __cplusplus
extern "C" {
#endif

/* Sets err from a CUDA / cuBLAS status; returns the hd_status. */
hd_status hd_cu_fail(hd_error *err, const char *op, const char *what, cudaError_t e);
hd_status hd_cu_blas_fail(hd_error *err, const char *op, cublasStatus_t s);

/* The context of ex (ops are only called with a CUDA exec holding one). */
static inline hd_cuda *hd_cu_ctx(hd_exec *ex) { return (hd_cuda *)ex->backend_ctx; }

/* Starts an op: resets the staging area. */
hd_status hd_cu_begin(hd_cuda *c, const char *op, hd_error *err);
/* Device bytes valid until the next hd_cu_begin (256-byte aligned). */
void *hd_cu_scratch(hd_cuda *c, size_t bytes, const char *op, hd_error *err);
/* A copy of t whose data is device-accessible for `role` (see hd_cu_role);
 * t NULL or empty gives *out zeroed / unchanged data. */
hd_status hd_cu_operand(hd_cuda *c, const hd_tensor *t, hd_cu_role role, hd_tensor *out, const char *op,
                        hd_error *err);
/* A host array of bytes on the device for this op. */
hd_status hd_cu_host_array(hd_cuda *c, const void *host, size_t bytes, const void **dev, const char *op,
                           hd_error *err);
/* Ends an op: checks the launches, copies results owed to host memory back
 * and, only then, waits for the stream. */
hd_status hd_cu_end(hd_cuda *c, const char *op, hd_error *err);

/* Bytes from t->data to one past t's last byte. */
size_t hd_cu_span(const hd_tensor *t);

/* ops_linear.cu, for the table in ops.cu */
hd_status hd_cu_op_linear(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const hd_tensor *x, const hd_tensor *b,
                          hd_error *err);
hd_status hd_cu_op_get_rows(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const int32_t *ids, int64_t n,
                            hd_error *err);
hd_status hd_cu_op_convert(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);

#ifdef __cplusplus
}
#endif

/* Shape of a tensor for kernels (hd_km_shape, kernels_math.h). */
static inline hd_km_shape hd_cu_shape(const hd_tensor *t) {
    hd_km_shape s;
    for (int i = 0; i < 4; i++) {
        s.ne[i] = t->ne[i];
        s.nb[i] = (int64_t)t->nb[i];
    }
    return s;
}

/* Launch geometry of grid-stride element kernels. */
#define HD_CU_THREADS 256
static inline unsigned hd_cu_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b > 65535 * 16 ? 65535 * 16 : b);
}

/* Checks the last launch; on failure sets err and jumps to `fail`. */
#define HD_CU_CHECK_LAUNCH(c, op, err, st, label)                                         \
    do {                                                                                  \
        cudaError_t e_ = cudaGetLastError();                                              \
        if (e_ != cudaSuccess) {                                                          \
            (st) = hd_cu_fail((err), (op), "kernel launch", e_);                          \
            goto label;                                                                   \
        }                                                                                 \
    } while (0)

#endif
