/* core/exec.h — where ops run: the backend, its threads and its scratch.
 *
 * Model code holds an hd_exec and passes it to every op (core/ops.h); it never
 * names a backend.  The CPU backend runs kernels chosen at run time for the
 * best instruction set (core/cpu.h) on the thread pool.  The CUDA backend
 * (core/cuda/, HERD_CUDA=ON) slots in behind the same ops: an op whose
 * ex->backend is not the CPU hands its checked operands to that backend's
 * table (core/backend.h).  Choosing a device and filling an hd_exec for it:
 * core/backend.h.
 */
#ifndef HD_EXEC_H
#define HD_EXEC_H

#include "arena.h"
#include "error.h"
#include "threadpool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_backend_kind {
    HD_BACKEND_CPU = 0,
    HD_BACKEND_CUDA = 1,
} hd_backend_kind;

typedef struct hd_exec {
    hd_backend_kind backend;
    hd_threadpool *pool;   /* not owned; NULL = run on the calling thread        */
    hd_arena *scratch;     /* not owned; per-op temporary buffers (e.g. quantized
                              activations); ops reset it to where they found it   */
    void *backend_ctx;     /* the backend's state: NULL for the CPU, the device
                              context (hd_cuda, core/cuda/cuda.h) for CUDA; owned
                              by whoever filled the struct (hd_exec_init in
                              core/backend.h owns and hd_exec_release frees it) */
} hd_exec;

#ifdef __cplusplus
}
#endif
#endif
