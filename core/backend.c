/* core/backend.c — device choice, hd_exec set-up and the backend tables
 * (core/backend.h).  Without HERD_CUDA the hd_cuda_* entry points of
 * core/cuda/cuda.h are defined here and say that CUDA is not built in. */
#include "backend.h"

#include "cuda/cuda.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HD_HAVE_CUDA
extern const hd_backend_ops hd_cuda_backend_ops;   /* core/cuda/ops.cu */
#endif

#define NO_CUDA_BUILD "this herd was built without CUDA (configure with -DHERD_CUDA=ON)"

bool hd_device_parse(const char *s, hd_device *out) {
    if (!s) return false;
    if (!strcmp(s, "cpu")) *out = HD_DEVICE_CPU;
    else if (!strcmp(s, "cuda")) *out = HD_DEVICE_CUDA;
    else if (!strcmp(s, "auto")) *out = HD_DEVICE_AUTO;
    else return false;
    return true;
}

const char *hd_device_name(hd_device d) {
    switch (d) {
    case HD_DEVICE_CPU: return "cpu";
    case HD_DEVICE_CUDA: return "cuda";
    case HD_DEVICE_AUTO: return "auto";
    }
    return "?";
}

const char *hd_backend_name(hd_backend_kind k) {
    switch (k) {
    case HD_BACKEND_CPU: return "cpu";
    case HD_BACKEND_CUDA: return "cuda";
    }
    return "?";
}

bool hd_backend_cuda_built(void) {
#ifdef HD_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

hd_status hd_device_resolve(hd_device want, hd_backend_kind *out, char *note, size_t note_size, hd_error *err) {
    if (note && note_size) note[0] = 0;
    if (want == HD_DEVICE_CPU) {
        *out = HD_BACKEND_CPU;
        return HD_OK;
    }
    if (want != HD_DEVICE_CUDA && want != HD_DEVICE_AUTO)
        return hd_error_set(err, HD_ERR_ARG, "unknown device %d", (int)want);
    hd_error why;
    const int n = hd_cuda_device_count(&why);
    if (n > 0) {
        *out = HD_BACKEND_CUDA;
        return HD_OK;
    }
    if (want == HD_DEVICE_AUTO) {
        *out = HD_BACKEND_CPU;
        if (note && note_size) snprintf(note, note_size, "--device auto: no CUDA device (%s); running on the CPU", why.msg);
        return HD_OK;
    }
    if (!hd_backend_cuda_built()) return hd_error_set(err, HD_ERR_UNSUPPORTED, "--device cuda: %s", why.msg);
    return hd_error_set(err, HD_ERR_UNSUPPORTED, "--device cuda: no CUDA device (%s)", why.msg);
}

static _Atomic int g_default_backend = HD_BACKEND_CPU;

void hd_backend_set_default(hd_backend_kind k) { atomic_store(&g_default_backend, (int)k); }
hd_backend_kind hd_backend_default(void) { return (hd_backend_kind)atomic_load(&g_default_backend); }

hd_status hd_exec_init(hd_exec *ex, hd_backend_kind kind, hd_threadpool *pool, hd_arena *scratch, hd_error *err) {
    *ex = (hd_exec){.backend = HD_BACKEND_CPU, .pool = pool, .scratch = scratch, .backend_ctx = NULL};
    if (kind == HD_BACKEND_CPU) return HD_OK;
    if (kind != HD_BACKEND_CUDA) return hd_error_set(err, HD_ERR_ARG, "unknown backend %d", (int)kind);
    int device = 0;
    const char *env = getenv("HERD_CUDA_DEVICE");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0 || v > 1024)
            return hd_error_set(err, HD_ERR_ARG, "HERD_CUDA_DEVICE='%s' is not a device number", env);
        device = (int)v;
    }
    hd_cuda *c = hd_cuda_create(device, err);
    if (!c) return err ? err->code : HD_ERR_UNSUPPORTED;
    ex->backend = HD_BACKEND_CUDA;
    ex->backend_ctx = c;
    return HD_OK;
}

void hd_exec_release(hd_exec *ex) {
    if (!ex) return;
    if (ex->backend == HD_BACKEND_CUDA) hd_cuda_free(ex->backend_ctx);
    ex->backend = HD_BACKEND_CPU;
    ex->backend_ctx = NULL;
}

hd_status hd_exec_sync(hd_exec *ex, hd_error *err) {
    if (ex && ex->backend == HD_BACKEND_CUDA) return hd_cuda_sync(ex->backend_ctx, err);
    return HD_OK;
}

const hd_backend_ops *hd_backend_ops_get(hd_backend_kind k) {
#ifdef HD_HAVE_CUDA
    if (k == HD_BACKEND_CUDA) return &hd_cuda_backend_ops;
#endif
    (void)k;
    return NULL;
}

const hd_backend_ops *hd_backend_of(const hd_exec *ex, const char *op, hd_status *st, hd_error *err) {
    *st = HD_OK;
    if (!ex || ex->backend == HD_BACKEND_CPU) return NULL;
    const hd_backend_ops *t = hd_backend_ops_get(ex->backend);
    if (!t || !ex->backend_ctx) {
        *st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: backend %s is not available%s", op,
                           hd_backend_name(ex->backend),
                           t ? " (the exec has no device context: use hd_exec_init)" : " in this build");
    }
    return t && ex->backend_ctx ? t : NULL;
}

/* ---- core/cuda/cuda.h without CUDA ---------------------------------------- */
#ifndef HD_HAVE_CUDA
int hd_cuda_device_count(hd_error *err) {
    hd_error_set(err, HD_ERR_UNSUPPORTED, NO_CUDA_BUILD);
    return 0;
}
hd_cuda *hd_cuda_create(int device, hd_error *err) {
    (void)device;
    hd_error_set(err, HD_ERR_UNSUPPORTED, NO_CUDA_BUILD);
    return NULL;
}
void hd_cuda_free(hd_cuda *c) { (void)c; }
hd_status hd_cuda_sync(hd_cuda *c, hd_error *err) {
    (void)c;
    return hd_error_set(err, HD_ERR_UNSUPPORTED, NO_CUDA_BUILD);
}
const char *hd_cuda_device_name(const hd_cuda *c) {
    (void)c;
    return "none";
}
void *hd_cuda_alloc(hd_cuda *c, size_t bytes, hd_error *err) {
    (void)c, (void)bytes;
    hd_error_set(err, HD_ERR_UNSUPPORTED, NO_CUDA_BUILD);
    return NULL;
}
void hd_cuda_release(hd_cuda *c, void *p) { (void)c, (void)p; }
hd_status hd_cuda_upload(hd_cuda *c, void *dst, const void *src, size_t bytes, hd_error *err) {
    (void)c, (void)dst, (void)src, (void)bytes;
    return hd_error_set(err, HD_ERR_UNSUPPORTED, NO_CUDA_BUILD);
}
hd_status hd_cuda_download(hd_cuda *c, void *dst, const void *src, size_t bytes, hd_error *err) {
    (void)c, (void)dst, (void)src, (void)bytes;
    return hd_error_set(err, HD_ERR_UNSUPPORTED, NO_CUDA_BUILD);
}
void hd_cuda_forget_weights(hd_cuda *c) { (void)c; }
size_t hd_cuda_weight_bytes(const hd_cuda *c) {
    (void)c;
    return 0;
}
#endif
