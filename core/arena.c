/* core/arena.c — a fixed-capacity bump allocator (see arena.h).
 *
 * One 64-byte aligned block, allocated once.  hd_arena_alloc rounds every
 * request up to 64 bytes so that each pointer it returns is 64-byte aligned.
 * A request that does not fit returns NULL and leaves the arena unchanged;
 * the failed request is remembered in the high-water mark (used + request),
 * so after an exhaustion hd_arena_high_water() exceeds the capacity and
 * says how large the arena must be made.  Not thread-safe: one owner at a
 * time (ops allocate on the calling thread before fanning out to workers).
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define HD_ARENA_ALIGN 64

struct hd_arena {
    unsigned char *base;   /* [capacity], 64-byte aligned */
    size_t capacity;       /* multiple of 64              */
    size_t used;           /* multiple of 64              */
    size_t high_water;     /* largest used, failed requests included */
};

static size_t round_up(size_t n, bool *overflow) {
    if (n > SIZE_MAX - (HD_ARENA_ALIGN - 1)) {
        *overflow = true;
        return SIZE_MAX;
    }
    return (n + HD_ARENA_ALIGN - 1) & ~(size_t)(HD_ARENA_ALIGN - 1);
}

hd_arena *hd_arena_create(size_t capacity, hd_error *err) {
    bool overflow = false;
    size_t cap = round_up(capacity, &overflow);
    if (overflow)
        return hd_error_set(err, HD_ERR_NOMEM, "arena: capacity of %zu bytes is too large", capacity), NULL;
    hd_arena *a = calloc(1, sizeof *a);
    if (!a) return hd_error_set(err, HD_ERR_NOMEM, "arena: out of memory"), NULL;
    /* aligned_alloc wants a non-zero multiple of the alignment. */
    a->base = aligned_alloc(HD_ARENA_ALIGN, cap ? cap : HD_ARENA_ALIGN);
    if (!a->base) {
        free(a);
        return hd_error_set(err, HD_ERR_NOMEM, "arena: cannot allocate %zu bytes", cap), NULL;
    }
    a->capacity = cap;
    return a;
}

void hd_arena_free(hd_arena *a) {
    if (!a) return;
    free(a->base);
    free(a);
}

void *hd_arena_alloc(hd_arena *a, size_t bytes) {
    if (!a) return NULL;
    bool overflow = false;
    size_t n = round_up(bytes, &overflow);
    if (overflow || n > a->capacity - a->used) {
        size_t want = overflow || n > SIZE_MAX - a->used ? SIZE_MAX : a->used + n;
        if (want > a->high_water) a->high_water = want;
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += n;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

size_t hd_arena_mark(const hd_arena *a) { return a ? a->used : 0; }

void hd_arena_reset(hd_arena *a, size_t mark) {
    if (!a) return;
    /* A mark can only move the arena back: a later mark than the current
     * position (a caller bug) leaves it where it is. */
    if (mark <= a->used) a->used = mark;
}

size_t hd_arena_used(const hd_arena *a) { return a ? a->used : 0; }
size_t hd_arena_capacity(const hd_arena *a) { return a ? a->capacity : 0; }
size_t hd_arena_high_water(const hd_arena *a) { return a ? a->high_water : 0; }

hd_tensor hd_arena_tensor(hd_arena *a, hd_type type, int n_dims, const int64_t *ne) {
    hd_tensor t = {0};
    t.type = type;
    if (n_dims < 1 || n_dims > HD_MAX_DIMS || !ne || !hd_type_valid(type)) return t;
    for (int i = 0; i < n_dims; i++)
        if (ne[i] < 0) return t;
    t = hd_tensor_view(type, n_dims, ne, NULL);
    /* Bytes = row size × rows, with overflow checks. */
    size_t row = hd_type_row_size(type, t.ne[0]);
    if (row == 0 && t.ne[0] != 0) return t; /* ne[0] not a multiple of the block size */
    size_t bytes = row;
    for (int i = 1; i < HD_MAX_DIMS; i++) {
        size_t d = (size_t)t.ne[i];
        if (d != 0 && bytes > SIZE_MAX / d) return t;
        bytes *= d;
    }
    t.data = hd_arena_alloc(a, bytes);
    return t;
}
