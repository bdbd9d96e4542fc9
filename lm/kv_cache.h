/* lm/kv_cache.h — the self-attention key/value cache of a decoder.
 *
 * One K and one V tensor per layer, each ne = {head_dim, n_kv_head, n_ctx}
 * (PyTorch [n_ctx, G, d]): the keys of position t are row t, stored after
 * RoPE.  F16 by default (half the memory, what llama.cpp does), F32 on
 * request.  The cache records how many positions are filled; a decode step
 * writes rows [n, n+S) and then advances n.  Memory is allocated once at
 * create, so the token loop never allocates.
 */
#ifndef HD_KV_CACHE_H
#define HD_KV_CACHE_H

#include "core/error.h"
#include "core/tensor.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_kv_cache hd_kv_cache;

/* type: HD_TYPE_F16 or HD_TYPE_F32.  Caller frees with hd_kv_cache_free. */
hd_kv_cache *hd_kv_cache_create(int n_layer, int n_kv_head, int head_dim, int64_t n_ctx,
                                hd_type type, hd_error *err);
void hd_kv_cache_free(hd_kv_cache *c);                 /* NULL is a no-op */

/* Bytes a cache of these dimensions takes (for planning and messages). */
size_t hd_kv_cache_bytes_for(int n_layer, int n_kv_head, int head_dim, int64_t n_ctx, hd_type type);

/* The whole K / V tensor of a layer, ne = {d, G, n_ctx}; owned by the cache. */
const hd_tensor *hd_kv_cache_k(const hd_kv_cache *c, int layer);
const hd_tensor *hd_kv_cache_v(const hd_kv_cache *c, int layer);

int64_t hd_kv_cache_n_ctx(const hd_kv_cache *c);
int hd_kv_cache_n_layer(const hd_kv_cache *c);
hd_type hd_kv_cache_type(const hd_kv_cache *c);
size_t hd_kv_cache_bytes(const hd_kv_cache *c);

/* Positions filled so far (0 … n_ctx). */
int64_t hd_kv_cache_used(const hd_kv_cache *c);
/* Marks n more positions as filled (after a forward pass wrote them);
 * HD_ERR_ARG if that passes n_ctx. */
hd_status hd_kv_cache_advance(hd_kv_cache *c, int64_t n, hd_error *err);
/* Forgets everything from position n on (n ≤ used): rewinding a turn,
 * reusing a shared prefix.  HD_ERR_ARG if n is out of range. */
hd_status hd_kv_cache_truncate(hd_kv_cache *c, int64_t n, hd_error *err);
void hd_kv_cache_clear(hd_kv_cache *c);

#ifdef __cplusplus
}
#endif
#endif
