/* core/cuda/context.cu — the CUDA device context (core/cuda/cuda.h): device
 * probing, stream and cuBLAS handle, the weight table, per-op staging of host
 * operands and the copies back. */
#include "core/cuda/cuda_internal.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ALIGN 256
#define POOL_MIN ((size_t)64 << 20)

hd_status hd_cu_fail(hd_error *err, const char *op, const char *what, cudaError_t e) {
    return hd_error_set(err, e == cudaErrorMemoryAllocation ? HD_ERR_NOMEM : HD_ERR_INTERNAL, "%s: CUDA %s: %s (%s)",
                        op, what, cudaGetErrorString(e), cudaGetErrorName(e));
}

hd_status hd_cu_blas_fail(hd_error *err, const char *op, cublasStatus_t s) {
    return hd_error_set(err, s == CUBLAS_STATUS_ALLOC_FAILED ? HD_ERR_NOMEM : HD_ERR_INTERNAL, "%s: cuBLAS: %s", op,
                        cublasGetStatusString(s));
}

extern "C" int hd_cuda_device_count(hd_error *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();   /* clear the sticky error of this call */
        hd_error_set(err, HD_ERR_UNSUPPORTED, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n <= 0) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "cudaGetDeviceCount: 0 devices");
        return 0;
    }
    return n;
}

extern "C" hd_cuda *hd_cuda_create(int device, hd_error *err) {
    hd_error why;
    const int n = hd_cuda_device_count(&why);
    if (n <= 0) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "no CUDA device (%s)", why.msg);
        return NULL;
    }
    if (device < 0 || device >= n) {
        hd_error_set(err, HD_ERR_ARG, "CUDA device %d does not exist (%d device%s)", device, n, n == 1 ? "" : "s");
        return NULL;
    }
    hd_cuda *c = (hd_cuda *)calloc(1, sizeof *c);
    if (!c) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for a CUDA context");
        return NULL;
    }
    c->device = device;
    cudaError_t e;
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(device)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) {
        hd_cu_fail(err, "cuda", "device set-up", e);
        free(c);
        return NULL;
    }
    snprintf(c->name, sizeof c->name, "%s", prop.name);
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        hd_cu_fail(err, "cuda", "stream creation", e);
        free(c);
        return NULL;
    }
    cublasStatus_t bs = cublasCreate(&c->blas);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(c->blas, c->stream);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        hd_cu_blas_fail(err, "cuda", bs);
        if (c->blas) cublasDestroy(c->blas);
        cudaStreamDestroy(c->stream);
        free(c);
        return NULL;
    }
    return c;
}

extern "C" void hd_cuda_forget_weights(hd_cuda *c) {
    if (!c) return;
    cudaStreamSynchronize(c->stream);
    for (size_t i = 0; i < c->w_cap; i++)
        if (c->w[i].host) cudaFree(c->w[i].dev);
    free(c->w);
    c->w = NULL;
    c->w_cap = c->w_n = c->w_bytes = 0;
}

static void free_chunks(hd_cuda *c) {
    for (int i = 0; i < c->n_chunks; i++) cudaFree(c->chunks[i]);
    c->n_chunks = 0;
}

extern "C" void hd_cuda_free(hd_cuda *c) {
    if (!c) return;
    cudaSetDevice(c->device);
    hd_cuda_forget_weights(c);
    free_chunks(c);
    cudaFree(c->pool);
    cublasDestroy(c->blas);
    cudaStreamDestroy(c->stream);
    free(c);
}

extern "C" hd_status hd_cuda_sync(hd_cuda *c, hd_error *err) {
    cudaError_t e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? HD_OK : hd_cu_fail(err, "cuda", "synchronize", e);
}

extern "C" const char *hd_cuda_device_name(const hd_cuda *c) { return c->name; }

extern "C" void *hd_cuda_alloc(hd_cuda *c, size_t bytes, hd_error *err) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        hd_error_set(err, HD_ERR_NOMEM, "cuda: cannot allocate %zu bytes on %s: %s", bytes, c->name,
                     cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

extern "C" void hd_cuda_release(hd_cuda *c, void *p) {
    if (!p) return;
    cudaStreamSynchronize(c->stream);
    cudaFree(p);
}

extern "C" hd_status hd_cuda_upload(hd_cuda *c, void *dst, const void *src, size_t bytes, hd_error *err) {
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
    return e == cudaSuccess ? HD_OK : hd_cu_fail(err, "cuda", "upload", e);
}

extern "C" hd_status hd_cuda_download(hd_cuda *c, void *dst, const void *src, size_t bytes, hd_error *err) {
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? HD_OK : hd_cu_fail(err, "cuda", "download", e);
}

extern "C" size_t hd_cuda_weight_bytes(const hd_cuda *c) { return c->w_bytes; }

/* ---- staging ---------------------------------------------------------------- */

extern "C" hd_status hd_cu_begin(hd_cuda *c, const char *op, hd_error *err) {
    c->pool_used = 0;
    c->n_pend = 0;
    if (c->n_chunks == 0) return HD_OK;
    /* the last op overflowed: merge its chunks into one bigger buffer */
    size_t need = c->pool_cap;
    for (int i = 0; i < c->n_chunks; i++) need += c->chunk_bytes[i];
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return hd_cu_fail(err, op, "synchronize", e);
    free_chunks(c);
    cudaFree(c->pool);
    c->pool = NULL;
    c->pool_cap = 0;
    if ((e = cudaMalloc((void **)&c->pool, need)) != cudaSuccess) return hd_cu_fail(err, op, "staging buffer", e);
    c->pool_cap = need;
    return HD_OK;
}

extern "C" void *hd_cu_scratch(hd_cuda *c, size_t bytes, const char *op, hd_error *err) {
    bytes = (bytes + POOL_ALIGN - 1) / POOL_ALIGN * POOL_ALIGN;
    if (bytes == 0) bytes = POOL_ALIGN;
    if (!c->pool && c->n_chunks == 0) {
        size_t cap = bytes > POOL_MIN ? bytes : POOL_MIN;
        cudaError_t e = cudaMalloc((void **)&c->pool, cap);
        if (e != cudaSuccess) {
            hd_cu_fail(err, op, "staging buffer", e);
            return NULL;
        }
        c->pool_cap = cap;
    }
    if (c->pool_used + bytes <= c->pool_cap) {
        void *p = c->pool + c->pool_used;
        c->pool_used += bytes;
        return p;
    }
    if (c->n_chunks == HD_CU_MAX_CHUNKS) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: too many staging buffers in one op", op);
        return NULL;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        hd_cu_fail(err, op, "staging buffer", e);
        return NULL;
    }
    c->chunks[c->n_chunks] = p;
    c->chunk_bytes[c->n_chunks++] = bytes;
    return p;
}

extern "C" size_t hd_cu_span(const hd_tensor *t) {
    if (!t || !t->data || hd_tensor_nelements(t) == 0) return 0;
    size_t e = hd_type_row_size(t->type, t->ne[0]);
    for (int i = 1; i < HD_MAX_DIMS; i++) e += (size_t)(t->ne[i] - 1) * t->nb[i];
    return e;
}

/* Where p lives: device-usable pointer or NULL for plain (pageable) host memory. */
static void *device_view(void *p) {
    cudaPointerAttributes a;
    cudaError_t e = cudaPointerGetAttributes(&a, p);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    switch (a.type) {
    case cudaMemoryTypeDevice:
    case cudaMemoryTypeManaged: return a.devicePointer ? a.devicePointer : p;
    case cudaMemoryTypeHost: return a.devicePointer;   /* pinned and mapped */
    default: return NULL;
    }
}

static size_t hash_ptr(const void *p, size_t cap) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static hd_status weight_grow(hd_cuda *c, const char *op, hd_error *err) {
    size_t cap = c->w_cap ? c->w_cap * 2 : 256;
    hd_cu_weight *w = (hd_cu_weight *)calloc(cap, sizeof *w);
    if (!w) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for the weight table", op);
    for (size_t i = 0; i < c->w_cap; i++) {
        if (!c->w[i].host) continue;
        size_t j = hash_ptr(c->w[i].host, cap);
        while (w[j].host) j = (j + 1) & (cap - 1);
        w[j] = c->w[i];
    }
    free(c->w);
    c->w = w;
    c->w_cap = cap;
    return HD_OK;
}

/* The device copy of the weight bytes [host, host + bytes), uploaded on first use. */
static hd_status weight_get(hd_cuda *c, const void *host, size_t bytes, void **dev, const char *op, hd_error *err) {
    hd_status st;
    if ((c->w_n + 1) * 2 > c->w_cap && (st = weight_grow(c, op, err))) return st;
    size_t j = hash_ptr(host, c->w_cap);
    while (c->w[j].host && c->w[j].host != host) j = (j + 1) & (c->w_cap - 1);
    hd_cu_weight *w = &c->w[j];
    if (w->host && w->bytes >= bytes) {
        *dev = w->dev;
        return HD_OK;
    }
    cudaError_t e;
    void *p = NULL;
    if ((e = cudaMalloc(&p, bytes)) != cudaSuccess) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: cannot upload %zu bytes of weights to %s (%zu already there): %s", op,
                     bytes, c->name, c->w_bytes, cudaGetErrorString(e));
        return HD_ERR_NOMEM;
    }
    if ((e = cudaMemcpyAsync(p, host, bytes, cudaMemcpyHostToDevice, c->stream)) != cudaSuccess) {
        cudaFree(p);
        return hd_cu_fail(err, op, "weight upload", e);
    }
    if (w->host) {   /* a larger view of the same address: the new copy replaces the old in its slot */
        if ((e = cudaStreamSynchronize(c->stream)) != cudaSuccess) return hd_cu_fail(err, op, "synchronize", e);
        cudaFree(w->dev);
        c->w_bytes -= w->bytes;
    } else {
        c->w_n++;
    }
    w->host = host;
    w->bytes = bytes;
    w->dev = p;
    c->w_bytes += bytes;
    *dev = p;
    return HD_OK;
}

extern "C" hd_status hd_cu_host_array(hd_cuda *c, const void *host, size_t bytes, const void **dev, const char *op,
                                      hd_error *err) {
    void *p = hd_cu_scratch(c, bytes, op, err);
    if (!p) return err ? err->code : HD_ERR_NOMEM;
    cudaError_t e = cudaMemcpyAsync(p, host, bytes, cudaMemcpyHostToDevice, c->stream);
    if (e != cudaSuccess) return hd_cu_fail(err, op, "upload", e);
    *dev = p;
    return HD_OK;
}

extern "C" hd_status hd_cu_operand(hd_cuda *c, const hd_tensor *t, hd_cu_role role, hd_tensor *out, const char *op,
                                   hd_error *err) {
    if (!t) {
        memset(out, 0, sizeof *out);
        return HD_OK;
    }
    *out = *t;
    const size_t span = hd_cu_span(t);
    if (span == 0) return HD_OK;
    void *dv = device_view(t->data);
    if (dv) {
        out->data = dv;
        return HD_OK;
    }
    if (role == HD_CU_WEIGHT) return weight_get(c, t->data, span, &out->data, op, err);
    void *p = hd_cu_scratch(c, span, op, err);
    if (!p) return err ? err->code : HD_ERR_NOMEM;
    cudaError_t e;
    /* inputs, and outputs that are views with gaps (bytes in the span the op must not change) */
    if (role != HD_CU_OUT || !hd_tensor_is_contiguous(t))
        if ((e = cudaMemcpyAsync(p, t->data, span, cudaMemcpyHostToDevice, c->stream)) != cudaSuccess)
            return hd_cu_fail(err, op, "upload", e);
    if (role == HD_CU_OUT || role == HD_CU_INOUT) {
        if (c->n_pend == HD_CU_MAX_PENDING)
            return hd_error_set(err, HD_ERR_INTERNAL, "%s: too many host outputs in one op", op);
        hd_cu_pending *pd = &c->pend[c->n_pend++];
        pd->host = t->data;
        pd->dev = p;
        pd->bytes = span;
    }
    out->data = p;
    return HD_OK;
}

extern "C" hd_status hd_cu_end(hd_cuda *c, const char *op, hd_error *err) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return hd_cu_fail(err, op, "kernel", e);
    for (int i = 0; i < c->n_pend; i++)
        if ((e = cudaMemcpyAsync(c->pend[i].host, c->pend[i].dev, c->pend[i].bytes, cudaMemcpyDeviceToHost,
                                 c->stream)) != cudaSuccess)
            return hd_cu_fail(err, op, "download", e);
    if (c->n_pend) {
        c->n_pend = 0;
        if ((e = cudaStreamSynchronize(c->stream)) != cudaSuccess) return hd_cu_fail(err, op, "kernel", e);
    }
    return HD_OK;
}
