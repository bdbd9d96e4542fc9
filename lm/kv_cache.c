/* lm/kv_cache.c — per-layer K/V storage (see kv_cache.h). */
#include "kv_cache.h"

#include <stdlib.h>

struct hd_kv_cache {
    hd_type type;
    int n_layer, n_kv_head, head_dim;
    int64_t n_ctx;
    int64_t used;
    size_t bytes;
    void *data;        /* one block: K of every layer, then V of every layer */
    hd_tensor *k, *v;  /* [n_layer] views into data                         */
};

static size_t layer_bytes(int n_kv_head, int head_dim, int64_t n_ctx, hd_type type) {
    return hd_type_row_size(type, head_dim) * (size_t)n_kv_head * (size_t)n_ctx;
}

size_t hd_kv_cache_bytes_for(int n_layer, int n_kv_head, int head_dim, int64_t n_ctx, hd_type type) {
    return 2 * (size_t)n_layer * layer_bytes(n_kv_head, head_dim, n_ctx, type);
}

hd_kv_cache *hd_kv_cache_create(int n_layer, int n_kv_head, int head_dim, int64_t n_ctx,
                                hd_type type, hd_error *err) {
    if (type != HD_TYPE_F16 && type != HD_TYPE_F32) {
        hd_error_set(err, HD_ERR_UNSUPPORTED, "KV cache type %s is not supported (use F16 or F32)",
                     hd_type_name(type));
        return NULL;
    }
    if (n_layer <= 0 || n_kv_head <= 0 || head_dim <= 0 || n_ctx <= 0 || n_ctx > (1 << 24)) {
        hd_error_set(err, HD_ERR_ARG, "KV cache: bad dimensions (layers %d, kv heads %d, head dim %d, context %lld)",
                     n_layer, n_kv_head, head_dim, (long long)n_ctx);
        return NULL;
    }
    /* overflow guard: 2 · layers · G · d · n_ctx · 4 bytes */
    double total = 2.0 * n_layer * (double)n_kv_head * head_dim * (double)n_ctx * 4.0;
    if (total > (double)(SIZE_MAX / 2)) {
        hd_error_set(err, HD_ERR_NOMEM, "KV cache of %.0f bytes is too large", total);
        return NULL;
    }
    hd_kv_cache *c = calloc(1, sizeof *c);
    if (!c) goto nomem;
    c->type = type;
    c->n_layer = n_layer;
    c->n_kv_head = n_kv_head;
    c->head_dim = head_dim;
    c->n_ctx = n_ctx;
    c->bytes = hd_kv_cache_bytes_for(n_layer, n_kv_head, head_dim, n_ctx, type);
    c->k = calloc((size_t)n_layer, sizeof *c->k);
    c->v = calloc((size_t)n_layer, sizeof *c->v);
    /* calloc: large blocks come zeroed from mmap, touched only as positions fill */
    c->data = calloc(1, c->bytes);
    if (!c->k || !c->v || !c->data) goto nomem;
    size_t lb = layer_bytes(n_kv_head, head_dim, n_ctx, type);
    for (int l = 0; l < n_layer; l++) {
        c->k[l] = hd_tensor_3d(type, head_dim, n_kv_head, n_ctx, (char *)c->data + (size_t)l * lb);
        c->v[l] = hd_tensor_3d(type, head_dim, n_kv_head, n_ctx,
                               (char *)c->data + (size_t)(n_layer + l) * lb);
    }
    return c;
nomem:
    hd_error_set(err, HD_ERR_NOMEM, "KV cache: cannot allocate %zu bytes (%d layers, context %lld)",
                 hd_kv_cache_bytes_for(n_layer, n_kv_head, head_dim, n_ctx, type), n_layer, (long long)n_ctx);
    hd_kv_cache_free(c);
    return NULL;
}

void hd_kv_cache_free(hd_kv_cache *c) {
    if (!c) return;
    free(c->data);
    free(c->k);
    free(c->v);
    free(c);
}

const hd_tensor *hd_kv_cache_k(const hd_kv_cache *c, int layer) {
    return layer >= 0 && layer < c->n_layer ? &c->k[layer] : NULL;
}
const hd_tensor *hd_kv_cache_v(const hd_kv_cache *c, int layer) {
    return layer >= 0 && layer < c->n_layer ? &c->v[layer] : NULL;
}
int64_t hd_kv_cache_n_ctx(const hd_kv_cache *c) { return c->n_ctx; }
int hd_kv_cache_n_layer(const hd_kv_cache *c) { return c->n_layer; }
hd_type hd_kv_cache_type(const hd_kv_cache *c) { return c->type; }
size_t hd_kv_cache_bytes(const hd_kv_cache *c) { return c->bytes; }
int64_t hd_kv_cache_used(const hd_kv_cache *c) { return c->used; }

hd_status hd_kv_cache_advance(hd_kv_cache *c, int64_t n, hd_error *err) {
    if (n < 0 || n > c->n_ctx - c->used)
        return hd_error_set(err, HD_ERR_ARG, "KV cache: %lld more positions do not fit (%lld of %lld used)",
                            (long long)n, (long long)c->used, (long long)c->n_ctx);
    c->used += n;
    return HD_OK;
}

hd_status hd_kv_cache_truncate(hd_kv_cache *c, int64_t n, hd_error *err) {
    if (n < 0 || n > c->used)
        return hd_error_set(err, HD_ERR_ARG, "KV cache: cannot truncate to %lld (%lld used)", (long long)n,
                            (long long)c->used);
    c->used = n;
    return HD_OK;
}

void hd_kv_cache_clear(hd_kv_cache *c) {
    if (c) c->used = 0;
}
