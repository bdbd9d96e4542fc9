/* core/arena.h — a bump allocator for activations.
 *
 * Made once with a fixed capacity; a forward pass takes scratch from it and
 * the caller resets it to a mark afterwards, so the token loop never calls
 * malloc.  Every allocation is 64-byte aligned.  Running out is an error, not
 * a reallocation: size the arena when the model is loaded.
 */
#ifndef HD_ARENA_H
#define HD_ARENA_H

#include "error.h"
#include "tensor.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_arena hd_arena;

hd_arena *hd_arena_create(size_t capacity, hd_error *err);   /* caller frees */
void hd_arena_free(hd_arena *a);                             /* NULL is a no-op */
/* NULL when the arena is exhausted (the arena remembers the failed request). */
void *hd_arena_alloc(hd_arena *a, size_t bytes);
size_t hd_arena_mark(const hd_arena *a);
void hd_arena_reset(hd_arena *a, size_t mark);
size_t hd_arena_used(const hd_arena *a);
size_t hd_arena_capacity(const hd_arena *a);
size_t hd_arena_high_water(const hd_arena *a);
/* A contiguous tensor whose data lives in the arena; data is NULL when exhausted. */
hd_tensor hd_arena_tensor(hd_arena *a, hd_type type, int n_dims, const int64_t *ne);

#ifdef __cplusplus
}
#endif
#endif
