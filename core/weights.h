/* core/weights.h — fetch tensors by name from a GGUF file or a Hugging Face
 * safetensors checkpoint, with the expected shape and type checked.
 *
 * Mismatches are reported as
 *   "FILE: tensor NAME has shape [a, b], expected [c, d]"
 *   "FILE: tensor NAME has type Q4_K, expected one of F32, F16"
 *   "FILE: tensor NAME is missing"
 * Shapes are given and printed in ggml order (innermost first), the order
 * GGUF stores; a safetensors tensor [out, in] is ne = {in, out}.  Trailing
 * dimensions of 1 do not count ([4096] matches [4096, 1]).  FILE is the path
 * given to hd_weights_open.  Codes: HD_ERR_NOTFOUND (missing), HD_ERR_SHAPE
 * (shape or type outside types_mask), HD_ERR_UNSUPPORTED (a type herd lists
 * but cannot compute with, e.g. Q3_K or I64, when types_mask is 0):
 *   "FILE: tensor NAME has type I64, which herd cannot compute with"
 */
#ifndef HD_WEIGHTS_H
#define HD_WEIGHTS_H

#include "error.h"
#include "gguf.h"
#include "safetensors.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_weights hd_weights;

/* path: a .gguf file, or anything hd_safetensors_open accepts. Caller closes. */
hd_weights *hd_weights_open(const char *path, hd_error *err);
void hd_weights_close(hd_weights *w);                    /* NULL is a no-op */
const char *hd_weights_name(const hd_weights *w);
const hd_gguf *hd_weights_gguf(const hd_weights *w);            /* NULL if safetensors */
const hd_safetensors *hd_weights_safetensors(const hd_weights *w); /* NULL if GGUF    */

bool hd_weights_has(const hd_weights *w, const char *name);
/* Any-type fetch with shape check: n_dims (1..4)/ne in ggml order.  types_mask:
 * bit (1ull << type) for every acceptable type, 0 = any type herd computes
 * with.  out (may be NULL) is a view into the mapping, valid until close; its
 * n_dims/ne are the requested ones. */
hd_status hd_weights_get(const hd_weights *w, const char *name, int n_dims, const int64_t *ne,
                         uint64_t types_mask, hd_tensor *out, hd_error *err);

#define HD_TYPES_FLOAT ((1ull << HD_TYPE_F32) | (1ull << HD_TYPE_F16) | (1ull << HD_TYPE_BF16))
#define HD_TYPES_ANY 0ull

/* ---- loading a model's tensors one after another ------------------------- */

/* Model loaders fetch dozens of tensors by formatted name.  The loader keeps
 * the first failure and every later call does nothing, so a model's loader
 * reads as its list of tensors and checks `st` once at the end. */
typedef struct hd_weights_loader {
    const hd_weights *w;
    hd_error *err;
    hd_status st;   /* HD_OK, or the first failure */
} hd_weights_loader;

/* The tensor named printf(fmt, index) whose PyTorch shape is {d0} (d1 == 0)
 * or {d0, d1} (outermost first), of a type in `types` (see hd_weights_get). */
void hd_weights_load(hd_weights_loader *L, hd_tensor *out, uint64_t types, int64_t d0, int64_t d1, const char *fmt,
                     int index);
/* The same for n ≤ 3 dimensions {d0, d1, d2} (outermost first). */
void hd_weights_load3(hd_weights_loader *L, hd_tensor *out, uint64_t types, int n, int64_t d0, int64_t d1, int64_t d2,
                      const char *fmt, int index);

#ifdef __cplusplus
}
#endif
#endif
