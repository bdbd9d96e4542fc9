/* core/backend.h — choosing where ops run, and the table a non-CPU backend
 * plugs into.
 *
 * Devices: "cpu", "cuda", "auto".  cuda needs a build with HERD_CUDA=ON and a
 * device that answers cudaGetDeviceCount; auto takes CUDA when both hold and
 * the CPU otherwise (with a one-line note saying why).
 *
 * A program (the `herd` CLI: --device) resolves the device once and sets the
 * process default; model code fills its hd_exec with hd_exec_init, which
 * makes the device context for CUDA, and releases it with hd_exec_release.
 *
 * Ops dispatch: every op in core/ops.h checks its operands on the host and
 * then, when ex->backend is not HD_BACKEND_CPU, calls the backend's table
 * (hd_backend_ops_get) with the same arguments instead of the CPU kernels.
 * The table's functions may assume the operands passed those checks.
 */
#ifndef HD_BACKEND_H
#define HD_BACKEND_H

#include "arena.h"
#include "error.h"
#include "exec.h"
#include "ops.h"
#include "tensor.h"
#include "threadpool.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- device choice ------------------------------------------------------- */

typedef enum hd_device {
    HD_DEVICE_CPU = 0,
    HD_DEVICE_CUDA = 1,
    HD_DEVICE_AUTO = 2,
} hd_device;

/* "cpu" | "cuda" | "auto" -> *out; false for anything else. */
bool hd_device_parse(const char *s, hd_device *out);
const char *hd_device_name(hd_device d);          /* "cpu", "cuda", "auto" */
const char *hd_backend_name(hd_backend_kind k);   /* "cpu", "cuda"         */

/* True when this build has the CUDA backend (HERD_CUDA=ON). */
bool hd_backend_cuda_built(void);

/* Resolves a choice to a backend.  CPU: always.  CUDA: HD_ERR_UNSUPPORTED with
 * "--device cuda: no CUDA device (cudaGetDeviceCount: ...)" or "--device cuda:
 * this herd was built without CUDA (...)".  AUTO: CUDA when a device answers,
 * else the CPU and `note` (if not NULL) receives one line saying why;
 * note is "" when there is nothing to say. */
hd_status hd_device_resolve(hd_device want, hd_backend_kind *out, char *note, size_t note_size, hd_error *err);

/* The process-wide default backend for hd_exec_init (HD_BACKEND_CPU unless set). */
void hd_backend_set_default(hd_backend_kind k);
hd_backend_kind hd_backend_default(void);

/* ---- hd_exec for a backend ----------------------------------------------- */

/* Fills ex for `kind` with the CPU thread pool and scratch (both borrowed).
 * CUDA: creates the device context (device $HERD_CUDA_DEVICE, default 0), which
 * ex then owns.  On failure ex is left as a CPU exec and err says why. */
hd_status hd_exec_init(hd_exec *ex, hd_backend_kind kind, hd_threadpool *pool, hd_arena *scratch, hd_error *err);
/* Frees what hd_exec_init made (nothing for the CPU); ex becomes a CPU exec. */
void hd_exec_release(hd_exec *ex);
/* Waits until every op issued on ex has finished (no-op on the CPU). */
hd_status hd_exec_sync(hd_exec *ex, hd_error *err);

/* ---- the table a backend implements ---------------------------------------- */

/* Same arguments and meaning as the op of the same name in core/ops.h. */
typedef struct hd_backend_ops {
    const char *name;
    hd_status (*linear)(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const hd_tensor *x, const hd_tensor *b,
                        hd_error *err);
    hd_status (*get_rows)(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const int32_t *ids, int64_t n,
                          hd_error *err);
    hd_status (*convert)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*rms_norm)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w, float eps,
                          hd_error *err);
    hd_status (*layer_norm)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w, const hd_tensor *b,
                            float eps, hd_error *err);
    hd_status (*batch_norm)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *mean,
                            const hd_tensor *var, const hd_tensor *gamma, const hd_tensor *beta, float eps,
                            hd_error *err);
    hd_status (*rope)(hd_exec *ex, hd_tensor *x, const int32_t *pos, const float *inv_freq, int n_rot,
                      hd_rope_mode mode, hd_error *err);
    hd_status (*attention)(hd_exec *ex, hd_tensor *out, const hd_tensor *q, const hd_tensor *k, const hd_tensor *v,
                           const hd_attn_params *p, hd_error *err);
    hd_status (*softmax)(hd_exec *ex, hd_tensor *x, float scale, hd_error *err);
    hd_status (*silu)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*gelu)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*gelu_erf)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*tanh)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*sigmoid)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*swiglu)(hd_exec *ex, hd_tensor *y, const hd_tensor *gate, const hd_tensor *up, hd_error *err);
    hd_status (*glu)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
    hd_status (*add)(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, hd_error *err);
    hd_status (*mul)(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, hd_error *err);
    hd_status (*scale)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, float s, hd_error *err);
    hd_status (*conv1d)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, const hd_tensor *w, const hd_tensor *b,
                        int stride, int pad, int groups, hd_error *err);
    hd_status (*patch_embed)(hd_exec *ex, hd_tensor *y, const hd_tensor *img, const hd_tensor *w,
                             const hd_tensor *b, int patch, hd_error *err);
    hd_status (*concat)(hd_exec *ex, hd_tensor *y, const hd_tensor *a, const hd_tensor *b, int dim, hd_error *err);
    hd_status (*transpose)(hd_exec *ex, hd_tensor *y, const hd_tensor *x, hd_error *err);
} hd_backend_ops;

/* The table of a non-CPU backend; NULL for the CPU and for backends this
 * build lacks. */
const hd_backend_ops *hd_backend_ops_get(hd_backend_kind k);

/* For core/ops_*.c: the table ex runs on, or NULL when ex is a CPU exec (or
 * NULL).  With a non-CPU backend this build lacks, sets err and returns NULL
 * with *st = HD_ERR_UNSUPPORTED. */
const hd_backend_ops *hd_backend_of(const hd_exec *ex, const char *op, hd_status *st, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
