/* core/cuda/ops_linear.cu — hd_op_linear, hd_op_get_rows and hd_op_convert on
 * the GPU.
 *
 * linear (y = x·wᵀ + b, w ne={K, N}, x ne={K, M}):
 *   - F32 weights: cublasSgemm;  F16 / BF16 weights: cublasGemmEx with x
 *     converted to the weight's type and F32 accumulation;
 *   - Q8_0 / Q4_0 / Q4_K with M ≤ MV_MAX_M tokens: own matrix-vector kernels,
 *     one warp per weight row, lanes over blocks (sub-blocks for Q4_K), each
 *     block product hd_km_dot_* of kernels_math.h;
 *   - other quantized cases: weights dequantized per slice of rows into F32
 *     staging (hd_km_row_value) and cublasSgemm per slice.
 * Column-major view for cuBLAS: w is a K×N matrix with leading dimension
 * nb[1]/element, x K×M, y N×M, so y = wᵀ·x is gemm(T, N).
 */
#include "core/cuda/cuda_internal.cuh"

#include "core/ops.h"
#include "core/quant.h"

#include <stdlib.h>

#define MV_MAX_M 8                      /* tokens up to which quantized weights use the mat-vec kernels */
#define MV_WARPS 4                      /* weight rows per block of the mat-vec kernels                  */
#define DEQ_SLICE_BYTES ((size_t)64 << 20) /* F32 staging per dequantized slice of weight rows           */

/* ---- kernels ------------------------------------------------------------------ */

__device__ static float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* y[m·N + n] = w_n · x_m (+ b[n]); blockIdx.y = token m; one warp per row n. */
template <int TYPE>
__global__ static void k_matvec(const char *w, size_t w_stride, const float *x, float *y, const float *b, int64_t K,
                                int64_t N) {
    const int64_t n = (int64_t)blockIdx.x * MV_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (n >= N) return;
    const int64_t m = blockIdx.y;
    const char *row = w + (size_t)n * w_stride;
    const float *xm = x + m * K;
    float s = 0.0f;
    if (TYPE == HD_TYPE_Q8_0) {
        for (int64_t i = lane; i < K / 32; i += 32) s += hd_km_dot_q8_0((const hd_block_q8_0 *)row + i, xm + 32 * i);
    } else if (TYPE == HD_TYPE_Q4_0) {
        for (int64_t i = lane; i < K / 32; i += 32) s += hd_km_dot_q4_0((const hd_block_q4_0 *)row + i, xm + 32 * i);
    } else if (TYPE == HD_TYPE_Q4_K) {
        for (int64_t i = lane; i < K / 32; i += 32)   /* i = sub-block of 32 */
            s += hd_km_dot_q4_k_sub((const hd_block_q4_k *)row + i / 8, (int)(i % 8), xm + 32 * i);
    } else {   /* any other type, one value at a time */
        for (int64_t k = lane; k < K; k += 32) s += hd_km_row_value(TYPE, row, k) * xm[k];
    }
    s = warp_sum(s);
    if (lane == 0) y[m * N + n] = s + (b ? b[n] : 0.0f);
}

/* dst[r·K + k] = value k of weight row r0 + r (F32), for r < rows. */
__global__ static void k_dequant_rows(const char *w, size_t w_stride, int type, int64_t r0, int64_t rows, int64_t K,
                                      float *dst) {
    const int64_t n = rows * K;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = e / K, k = e % K;
        dst[e] = hd_km_row_value(type, w + (size_t)(r0 + r) * w_stride, k);
    }
}

__global__ static void k_f32_to_half(const float *x, void *dst, int64_t n, int bf16) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        if (bf16) ((hd_bf16 *)dst)[e] = hd_km_f32_to_bf16(x[e]);
        else ((hd_f16 *)dst)[e] = hd_km_f32_to_f16(x[e]);
    }
}

/* y[m·N + n] += b[n] */
__global__ static void k_add_bias(float *y, const float *b, int64_t N, int64_t M) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < N * M; e += (int64_t)gridDim.x * blockDim.x)
        y[e] += b[e % N];
}

/* y[i·D + k] = value k of row ids[i] of w. */
__global__ static void k_get_rows(const char *w, size_t w_stride, int type, const int32_t *ids, int64_t n, int64_t D,
                                  float *y) {
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n * D; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e / D, k = e % D;
        y[e] = hd_km_row_value(type, w + (size_t)ids[i] * w_stride, k);
    }
}

/* Element e of x (any type) -> F32 / F16 / BF16 element of y, both with their own strides. */
__global__ static void k_convert(const char *x, hd_km_shape xs, int xtype, char *y, hd_km_shape ys, int ytype,
                                 int64_t n) {
    const int64_t ne0 = xs.ne[0];
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = e / ne0, k = e % ne0;
        const float v = hd_km_row_value(xtype, x + hd_km_row_offset(&xs, r), k);
        char *dst = y + hd_km_row_offset(&ys, r);
        if (ytype == HD_TYPE_F32) ((float *)dst)[k] = v;
        else if (ytype == HD_TYPE_F16) ((hd_f16 *)dst)[k] = hd_km_f32_to_f16(v);
        else ((hd_bf16 *)dst)[k] = hd_km_f32_to_bf16(v);
    }
}

/* ---- linear -------------------------------------------------------------------- */

static hd_status launch_matvec(hd_cuda *c, int type, const hd_tensor *w, const float *x, float *y, const float *b,
                               int64_t K, int64_t N, int64_t M) {
    dim3 grid((unsigned)((N + MV_WARPS - 1) / MV_WARPS), (unsigned)M);
    const char *wd = (const char *)w->data;
    switch (type) {
    case HD_TYPE_Q8_0: k_matvec<HD_TYPE_Q8_0><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    case HD_TYPE_Q4_0: k_matvec<HD_TYPE_Q4_0><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    case HD_TYPE_Q4_K: k_matvec<HD_TYPE_Q4_K><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    case HD_TYPE_Q5_K: k_matvec<HD_TYPE_Q5_K><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    case HD_TYPE_Q6_K: k_matvec<HD_TYPE_Q6_K><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    case HD_TYPE_F16: k_matvec<HD_TYPE_F16><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    case HD_TYPE_BF16: k_matvec<HD_TYPE_BF16><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    default: k_matvec<HD_TYPE_F32><<<grid, 32 * MV_WARPS, 0, c->stream>>>(wd, w->nb[1], x, y, b, K, N); break;
    }
    return HD_OK;
}

static hd_status cu_linear(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const hd_tensor *x, const hd_tensor *b,
                           hd_error *err) {
    const char *op = "linear";
    hd_cuda *c = hd_cu_ctx(ex);
    hd_status st;
    if ((st = hd_cu_begin(c, op, err))) return st;
    const int64_t K = w->ne[0], N = w->ne[1], M = hd_tensor_nrows(x);
    const int type = w->type;
    hd_tensor dw, dx, dy, db;
    if ((st = hd_cu_operand(c, w, HD_CU_WEIGHT, &dw, op, err)) || (st = hd_cu_operand(c, x, HD_CU_IN, &dx, op, err)) ||
        (st = hd_cu_operand(c, y, HD_CU_OUT, &dy, op, err)) || (st = hd_cu_operand(c, b, HD_CU_WEIGHT, &db, op, err)))
        return st;
    const float *xd = (const float *)dx.data, *bd = b ? (const float *)db.data : NULL;
    float *yd = (float *)dy.data;
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    const bool quant = type != HD_TYPE_F32 && type != HD_TYPE_F16 && type != HD_TYPE_BF16;
    if (M <= MV_MAX_M && (quant || M == 1)) {
        launch_matvec(c, type, &dw, xd, yd, bd, K, N, M);
        HD_CU_CHECK_LAUNCH(c, op, err, st, fail);
        return hd_cu_end(c, op, err);
    }
    if (type == HD_TYPE_F32) {
        bs = cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, (const float *)dw.data,
                         (int)(dw.nb[1] / sizeof(float)), xd, (int)K, &zero, yd, (int)N);
    } else if (type == HD_TYPE_F16 || type == HD_TYPE_BF16) {
        const bool bf = type == HD_TYPE_BF16;
        void *xh = hd_cu_scratch(c, (size_t)(K * M) * 2, op, err);
        if (!xh) return err ? err->code : HD_ERR_NOMEM;
        k_f32_to_half<<<hd_cu_blocks(K * M, HD_CU_THREADS), HD_CU_THREADS, 0, c->stream>>>(xd, xh, K * M, bf);
        HD_CU_CHECK_LAUNCH(c, op, err, st, fail);
        const cudaDataType_t dt = bf ? CUDA_R_16BF : CUDA_R_16F;
        bs = cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, dw.data, dt,
                          (int)(dw.nb[1] / 2), xh, dt, (int)K, &zero, yd, CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F,
                          CUBLAS_GEMM_DEFAULT);
    } else {
        /* dequantize slices of rows to F32 and multiply each with cuBLAS */
        int64_t rows = (int64_t)(DEQ_SLICE_BYTES / ((size_t)K * sizeof(float)));
        if (rows < 1) rows = 1;
        if (rows > N) rows = N;
        float *wf = (float *)hd_cu_scratch(c, (size_t)(rows * K) * sizeof(float), op, err);
        if (!wf) return err ? err->code : HD_ERR_NOMEM;
        for (int64_t r0 = 0; r0 < N && bs == CUBLAS_STATUS_SUCCESS; r0 += rows) {
            const int64_t nr = N - r0 < rows ? N - r0 : rows;
            k_dequant_rows<<<hd_cu_blocks(nr * K, HD_CU_THREADS), HD_CU_THREADS, 0, c->stream>>>(
                (const char *)dw.data, dw.nb[1], type, r0, nr, K, wf);
            HD_CU_CHECK_LAUNCH(c, op, err, st, fail);
            bs = cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, (int)M, (int)K, &one, wf, (int)K, xd, (int)K,
                             &zero, yd + r0, (int)N);
        }
    }
    if (bs != CUBLAS_STATUS_SUCCESS) return hd_cu_blas_fail(err, op, bs);
    if (bd) {
        k_add_bias<<<hd_cu_blocks(N * M, HD_CU_THREADS), HD_CU_THREADS, 0, c->stream>>>(yd, bd, N, M);
        HD_CU_CHECK_LAUNCH(c, op, err, st, fail);
    }
    return hd_cu_end(c, op, err);
fail:
    return st;
}

/* ---- get_rows -------------------------------------------------------------------- */

static hd_status cu_get_rows(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const int32_t *ids, int64_t n,
                             hd_error *err) {
    const char *op = "get_rows";
    hd_cuda *c = hd_cu_ctx(ex);
    hd_status st;
    if (n == 0) return HD_OK;
    if ((st = hd_cu_begin(c, op, err))) return st;
    hd_tensor dw, dy;
    const void *dids;
    if ((st = hd_cu_operand(c, w, HD_CU_WEIGHT, &dw, op, err)) || (st = hd_cu_operand(c, y, HD_CU_OUT, &dy, op, err)) ||
        (st = hd_cu_host_array(c, ids, (size_t)n * sizeof *ids, &dids, op, err)))
        return st;
    const int64_t D = w->ne[0];
    k_get_rows<<<hd_cu_blocks(n * D, HD_CU_THREADS), HD_CU_THREADS, 0, c->stream>>>(
        (const char *)dw.data, dw.nb[1], w->type, (const int32_t *)dids, n, D, (float *)dy.data);
    HD_CU_CHECK_LAUNCH(c, op, err, st, fail);
    return hd_cu_end(c, op, err);
fail:
    return st;
}

/* ---- convert ------------------------------------------------------------------------ */

static hd_status cu_convert(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    const char *op = "convert";
    hd_cuda *c = hd_cu_ctx(ex);
    hd_status st;
    if (x->data == y->data) return HD_OK;   /* F32 -> F32 in place (checked by the op) */
    const int64_t n = hd_tensor_nelements(x);
    if (n == 0) return HD_OK;
    if (y->type != HD_TYPE_F32 && y->type != HD_TYPE_F16 && y->type != HD_TYPE_BF16) {
        /* Quantizing (F32 -> Q8_0/Q4_0/K-quants) follows ggml's reference rounding on the host:
         * bring x to host memory if it is on the device, quantize there, and put y back. */
        if ((st = hd_cu_begin(c, op, err)) || (st = hd_cuda_sync(c, err))) return st;
        hd_exec cpu = {HD_BACKEND_CPU, ex->pool, ex->scratch, NULL};
        cudaPointerAttributes ax, ay;
        const bool x_dev = cudaPointerGetAttributes(&ax, x->data) == cudaSuccess && ax.type == cudaMemoryTypeDevice;
        const bool y_dev = cudaPointerGetAttributes(&ay, y->data) == cudaSuccess && ay.type == cudaMemoryTypeDevice;
        cudaGetLastError();
        if (!x_dev && !y_dev) return hd_op_convert(&cpu, y, x, err);
        const size_t xs = hd_cu_span(x), ys = hd_cu_span(y);
        char *hx = (char *)malloc(xs), *hy = (char *)malloc(ys);
        hd_tensor tx = *x, ty = *y;
        if (!hx || !hy) {
            free(hx), free(hy);
            return hd_error_set(err, HD_ERR_NOMEM, "%s: out of host memory staging %zu bytes", op, xs + ys);
        }
        st = x_dev ? hd_cuda_download(c, hx, x->data, xs, err) : (memcpy(hx, x->data, xs), HD_OK);
        if (!st && y_dev) st = hd_cuda_download(c, hy, y->data, ys, err);   /* bytes of a view's gaps */
        tx.data = x_dev ? hx : x->data;
        ty.data = y_dev ? hy : y->data;
        if (!st) st = hd_op_convert(&cpu, &ty, &tx, err);
        if (!st && y_dev) st = hd_cuda_upload(c, y->data, hy, ys, err);
        if (!st) st = hd_cuda_sync(c, err);
        free(hx), free(hy);
        return st;
    }
    if ((st = hd_cu_begin(c, op, err))) return st;
    hd_tensor dx, dy;
    if ((st = hd_cu_operand(c, x, HD_CU_IN, &dx, op, err)) || (st = hd_cu_operand(c, y, HD_CU_OUT, &dy, op, err)))
        return st;
    k_convert<<<hd_cu_blocks(n, HD_CU_THREADS), HD_CU_THREADS, 0, c->stream>>>(
        (const char *)dx.data, hd_cu_shape(&dx), x->type, (char *)dy.data, hd_cu_shape(&dy), y->type, n);
    HD_CU_CHECK_LAUNCH(c, op, err, st, fail);
    return hd_cu_end(c, op, err);
fail:
    return st;
}

/* Entry points for the table in ops.cu. */
hd_status hd_cu_op_linear(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const hd_tensor *x, const hd_tensor *b,
                          hd_error *err) {
    return cu_linear(ex, y, w, x, b, err);
}
hd_status hd_cu_op_get_rows(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const int32_t *ids, int64_t n,
                            hd_error *err) {
    return cu_get_rows(ex, y, w, ids, n, err);
}
hd_status hd_cu_op_convert(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err) {
    return cu_convert(ex, y, x, err);
}
