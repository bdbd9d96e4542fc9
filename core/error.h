/* core/error.h — the error value every layer of herd returns.
 *
 * Library code never prints and never exits: a function that can fail takes
 * an `hd_error *err` (may be NULL) and returns a status.  The message names
 * the file or input and the problem in one line, e.g.
 *   "model.gguf: tensor blk.0.attn_q.weight has shape [64, 32], expected [64, 64]"
 */
#ifndef HD_ERROR_H
#define HD_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_status {
    HD_OK = 0,
    HD_ERR_IO,          /* file missing, unreadable, mmap failed            */
    HD_ERR_FORMAT,      /* malformed, truncated or hostile input             */
    HD_ERR_SHAPE,       /* tensor shape/type mismatch                        */
    HD_ERR_UNSUPPORTED, /* valid input we do not handle (type, architecture) */
    HD_ERR_NOMEM,       /* allocation failed or size limit exceeded          */
    HD_ERR_ARG,         /* invalid argument from the caller (usage)          */
    HD_ERR_NOTFOUND,    /* named item (tensor, key, node) does not exist     */
    HD_ERR_CANCELLED,   /* stopped by the caller                             */
    HD_ERR_INTERNAL,    /* a bug: an invariant did not hold                  */
} hd_status;

#define HD_ERROR_MSG_MAX 512

typedef struct hd_error {
    hd_status code;
    char msg[HD_ERROR_MSG_MAX];
} hd_error;

/* Sets err (if non-NULL) and returns code, so callers can write
 *   return hd_error_set(err, HD_ERR_FORMAT, "%s: bad magic", path);       */
hd_status hd_error_set(hd_error *err, hd_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
hd_status hd_error_vset(hd_error *err, hd_status code, const char *fmt, va_list ap);
/* Prefixes an existing message: "ctx: old message". */
hd_status hd_error_prefix(hd_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void hd_error_clear(hd_error *err);
const char *hd_status_name(hd_status code);

#ifdef __cplusplus
}
#endif
#endif
