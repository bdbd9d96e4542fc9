/* core/cuda/cuda.h — the CUDA device context behind HD_BACKEND_CUDA.
 *
 * Built only with HERD_CUDA=ON (the .cu files here, nvcc, sm_80 and sm_90); in
 * other builds core/backend.c provides these functions and they report that
 * CUDA is not built in.  Model code does not call this directly: it gets an
 * hd_exec from hd_exec_init (core/backend.h) and uses the ops of core/ops.h.
 *
 * One context = one device, one CUDA stream, one cuBLAS handle.  Every op is
 * issued on the stream in program order (stream-ordered execution); the host
 * waits only when an op must hand a result back to host memory.
 *
 * Memory.  Operands may live anywhere:
 *   - device or managed memory (hd_cuda_alloc, cudaMallocManaged) is used in
 *     place, and results written there stay on the device (no wait);
 *   - weights (the `w`, norm-weight and bias operands) in host memory are
 *     uploaded once per context, keyed by their host address, in their own
 *     storage type (Q4_K blocks stay Q4_K on the device), and reused;
 *   - other host operands (activations, KV caches held in host memory) are
 *     copied to a device staging area for the op and results copied back.
 * Weights must therefore not change while the context caches them: after
 * freeing or rewriting a model's weights call hd_cuda_forget_weights.
 * Not thread-safe: one context per thread of work.
 */
#ifndef HD_CUDA_H
#define HD_CUDA_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_cuda hd_cuda;

/* Number of CUDA devices (> 0), or 0 with err saying why: "cudaGetDeviceCount:
 * <CUDA's message>", or that this build has no CUDA. */
int hd_cuda_device_count(hd_error *err);

/* Context on device `device` (0-based).  Caller frees with hd_cuda_free. */
hd_cuda *hd_cuda_create(int device, hd_error *err);
void hd_cuda_free(hd_cuda *c);                        /* NULL is a no-op */
/* Waits for every op issued so far; reports a device error if one happened. */
hd_status hd_cuda_sync(hd_cuda *c, hd_error *err);
const char *hd_cuda_device_name(const hd_cuda *c);    /* e.g. "NVIDIA H100" */

/* Device memory owned by the caller (free with hd_cuda_release); NULL with err set. */
void *hd_cuda_alloc(hd_cuda *c, size_t bytes, hd_error *err);
void hd_cuda_release(hd_cuda *c, void *p);
/* Stream-ordered copies between host memory and device memory. */
hd_status hd_cuda_upload(hd_cuda *c, void *dst_dev, const void *src_host, size_t bytes, hd_error *err);
hd_status hd_cuda_download(hd_cuda *c, void *dst_host, const void *src_dev, size_t bytes, hd_error *err);

/* Drops every uploaded weight (e.g. before freeing a model). */
void hd_cuda_forget_weights(hd_cuda *c);
/* Bytes of weights now held on the device. */
size_t hd_cuda_weight_bytes(const hd_cuda *c);

#ifdef __cplusplus
}
#endif
#endif
