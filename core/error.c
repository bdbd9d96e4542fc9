#include "error.h"

#include <stdio.h>
#include <string.h>

hd_status hd_error_vset(hd_error *err, hd_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

hd_status hd_error_set(hd_error *err, hd_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hd_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

hd_status hd_error_prefix(hd_error *err, const char *fmt, ...) {
    if (!err) return HD_ERR_INTERNAL;
    char old[HD_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used + 3 < sizeof err->msg) {
        memcpy(err->msg + used, ": ", 2);
        size_t room = sizeof err->msg - used - 2;
        size_t len = strnlen(old, sizeof old);
        if (len >= room) len = room - 1;
        memcpy(err->msg + used + 2, old, len);
        err->msg[used + 2 + len] = '\0';
    }
    return err->code;
}

void hd_error_clear(hd_error *err) {
    if (err) {
        err->code = HD_OK;
        err->msg[0] = '\0';
    }
}

const char *hd_status_name(hd_status code) {
    switch (code) {
    case HD_OK: return "ok";
    case HD_ERR_IO: return "i/o error";
    case HD_ERR_FORMAT: return "bad format";
    case HD_ERR_SHAPE: return "shape mismatch";
    case HD_ERR_UNSUPPORTED: return "unsupported";
    case HD_ERR_NOMEM: return "out of memory";
    case HD_ERR_ARG: return "invalid argument";
    case HD_ERR_NOTFOUND: return "not found";
    case HD_ERR_CANCELLED: return "cancelled";
    case HD_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}
