/* speech/granite_weights.h — internal to speech/granite_encoder.c and
 * adapters/qformer.c: fetching Granite Speech tensors by formatted name
 * from a safetensors folder or a GGUF (core/weights.h), with the first
 * failure kept (every later call does nothing, the loader checks `st` once)
 * and the copies a Hugging Face file needs owned by the fetcher:
 *   - a tensor whose data is not 4-byte aligned (safetensors aligns nothing)
 *     is copied, as the kernels load whole 32-bit words;
 *   - vectors, norms, tables and kernels the ops take only as F32 are
 *     converted to F32 (published checkpoints are BF16).
 */
#ifndef HD_SPEECH_GRANITE_WEIGHTS_H
#define HD_SPEECH_GRANITE_WEIGHTS_H

#include "core/error.h"
#include "core/tensor.h"
#include "core/weights.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hd_gw {
    const hd_weights *w;   /* borrowed */
    const char *prefix;    /* borrowed, prepended to every name ("" when NULL) */
    hd_error *err;
    hd_status st;          /* HD_OK, or the first failure */
    void **owned;          /* copies made, freed by hd_gw_release */
    int n_owned, cap_owned;
} hd_gw;

void hd_gw_init(hd_gw *g, const hd_weights *w, const char *prefix, hd_error *err);
/* Frees the copies (the tensors pointing into them die with them). */
void hd_gw_release(hd_gw *g);

/* "<prefix>" + printf(fmt, idx), PyTorch shape {d0[, d1[, d2]]} (n dims,
 * outermost first).  hd_gw_mat: any type core/ops.h computes with (for
 * matrices); hd_gw_f32: converted to F32. */
void hd_gw_mat(hd_gw *g, hd_tensor *out, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt, int idx);
void hd_gw_f32(hd_gw *g, hd_tensor *out, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt, int idx);

/* ---- config.json ---------------------------------------------------------- */

/* Parses len bytes of JSON; HD_ERR_FORMAT "FILE: not valid JSON" otherwise.
 * Caller deletes with cJSON_Delete. */
cJSON *hd_gw_json_parse(const char *json, size_t len, const char *file, hd_error *err);
/* Integer key of o in [lo, hi] into *out; absent or null: *out unchanged. */
hd_status hd_gw_json_int(const cJSON *o, const char *key, int lo, int hi, int *out, const char *file, hd_error *err);
/* Finite number key into *out; absent or null: unchanged. */
hd_status hd_gw_json_float(const cJSON *o, const char *key, float *out, const char *file, hd_error *err);

#endif
