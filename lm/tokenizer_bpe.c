/* lm/tokenizer_bpe.c — byte-pair merging of one pre-tokenized piece with
 * tiktoken semantics (SPEC §1.8): start from single bytes; repeatedly merge
 * the adjacent pair whose concatenated bytes have the lowest rank (leftmost
 * on ties) until no adjacent concatenation is a token.
 *
 * Two implementations with identical results: a scan (tiktoken's
 * _byte_pair_merge, O(n²), fastest for the short pieces of real text) and a
 * lazy-deletion min-heap over a linked list (O(n log n)) for long pieces such
 * as 25 000-character runs of one letter.
 */
#include "lm/tokenizer_internal.h"

#include <stdlib.h>

#define NO_RANK INT32_MAX

void hd_tok_scratch_free(hd_tok_scratch *s) {
    if (!s) return;
    free(s->mem);
    s->mem = NULL;
    s->cap = 0;
}

bool hd_tok_scratch_reserve(hd_tok_scratch *sc, size_t bytes) {
    if (sc->cap >= bytes) return true;
    size_t cap = sc->cap ? sc->cap : 4096;
    while (cap < bytes) cap *= 2;
    void *m = realloc(sc->mem, cap);
    if (!m) return false;
    sc->mem = m;
    sc->cap = cap;
    return true;
}

static inline int32_t rank_of(const hd_tokenizer *t, const uint8_t *s, size_t a, size_t b) {
    int32_t r = hd_tok_rank(t, s + a, b - a);
    return r < 0 ? NO_RANK : r;
}

hd_status hd_tok_bpe_scan(const hd_tokenizer *t, const uint8_t *s, size_t n, hd_tok_scratch *sc,
                          hd_tok_emit_fn emit, void *ctx) {
    /* parts: start[i] = first byte of part i (start[m] = n, sentinel);
     * rank[i] = rank of parts i and i+1 merged.  m parts. */
    if (!hd_tok_scratch_reserve(sc, (n + 1) * (sizeof(uint32_t) + sizeof(int32_t)))) return HD_ERR_NOMEM;
    uint32_t *start = sc->mem;
    int32_t *rank = (int32_t *)(start + n + 1);
    size_t m = n;
    for (size_t i = 0; i <= n; i++) start[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < m; i++) rank[i] = rank_of(t, s, i, i + 2);
    rank[m - 1] = NO_RANK;
    for (;;) {
        int32_t best = NO_RANK;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rank[i] < best) best = rank[i], bi = i;
        if (best == NO_RANK) break;
        /* merge parts bi and bi+1 */
        for (size_t i = bi + 1; i < m; i++) start[i] = start[i + 1], rank[i] = rank[i + 1];
        m--;
        rank[bi] = bi + 1 < m ? rank_of(t, s, start[bi], start[bi + 2]) : NO_RANK;
        if (bi > 0) rank[bi - 1] = rank_of(t, s, start[bi - 1], start[bi + 1]);
    }
    for (size_t i = 0; i < m; i++) emit(ctx, hd_tok_rank(t, s + start[i], start[i + 1] - start[i]));
    return HD_OK;
}

/* ---- heap variant ---------------------------------------------------------- */

typedef struct { int32_t rank; uint32_t start, end; } pair_t;   /* bytes [start, end) */

static inline bool pair_less(pair_t a, pair_t b) {
    return a.rank < b.rank || (a.rank == b.rank && a.start < b.start);
}

static void heap_push(pair_t *h, size_t *hn, pair_t v) {
    size_t i = (*hn)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pair_less(v, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static pair_t heap_pop(pair_t *h, size_t *hn) {
    pair_t top = h[0], v = h[--(*hn)];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(h[c + 1], h[c])) c++;
        if (!pair_less(h[c], v)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = v;
    return top;
}

hd_status hd_tok_bpe_heap(const hd_tokenizer *t, const uint8_t *s, size_t n, hd_tok_scratch *sc,
                          hd_tok_emit_fn emit, void *ctx) {
    /* Parts are identified by their first byte.  next[a] = end of the part
     * starting at a; prev[a] = start of the part before it (or UINT32_MAX);
     * alive[a] = a starts a part.  Each merge pushes at most 2 pairs, so the
     * heap never holds more than 3n entries. */
    size_t need = (n + 1) * 2 * sizeof(uint32_t) + (n + 1) + 3 * n * sizeof(pair_t) + 16;
    if (!hd_tok_scratch_reserve(sc, need)) return HD_ERR_NOMEM;
    pair_t *heap = sc->mem;
    uint32_t *next = (uint32_t *)(heap + 3 * n);
    uint32_t *prev = next + n + 1;
    uint8_t *alive = (uint8_t *)(prev + n + 1);
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = i ? (uint32_t)(i - 1) : UINT32_MAX;
        alive[i] = 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = rank_of(t, s, i, i + 2);
        if (r != NO_RANK) heap_push(heap, &hn, (pair_t){r, (uint32_t)i, (uint32_t)(i + 2)});
    }
    while (hn) {
        pair_t p = heap_pop(heap, &hn);
        if (!alive[p.start]) continue;
        uint32_t mid = next[p.start];
        if (mid >= n || next[mid] != p.end) continue;     /* stale: neighbours changed */
        /* merge [start, mid) and [mid, end) */
        alive[mid] = 0;
        next[p.start] = p.end;
        if (p.end < n) prev[p.end] = p.start;
        uint32_t pv = prev[p.start];
        if (pv != UINT32_MAX) {
            int32_t r = rank_of(t, s, pv, p.end);
            if (r != NO_RANK) heap_push(heap, &hn, (pair_t){r, pv, p.end});
        }
        if (p.end < n) {
            int32_t r = rank_of(t, s, p.start, next[p.end]);
            if (r != NO_RANK) heap_push(heap, &hn, (pair_t){r, p.start, next[p.end]});
        }
    }
    for (uint32_t a = 0; a < n; a = next[a]) emit(ctx, hd_tok_rank(t, s + a, next[a] - a));
    return HD_OK;
}

/* ---- merge-priority variant (Hugging Face BPE) -------------------------------- */

typedef struct { int32_t rank; uint32_t pos; int32_t id; } mpair_t;

static inline bool mpair_less(mpair_t a, mpair_t b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void mheap_push(mpair_t *h, size_t *hn, mpair_t v) {
    size_t i = (*hn)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!mpair_less(v, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static mpair_t mheap_pop(mpair_t *h, size_t *hn) {
    mpair_t top = h[0], v = h[--(*hn)];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && mpair_less(h[c + 1], h[c])) c++;
        if (!mpair_less(h[c], v)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = v;
    return top;
}

hd_status hd_tok_bpe_merges(const hd_tokenizer *t, const uint8_t *s, size_t n, hd_tok_scratch *sc,
                            hd_tok_emit_fn emit, void *ctx) {
    /* symbols: c = id, len = bytes covered (0 = merged away), prev / next
     * (-1 = none).  Each merge pushes at most 2 entries: heap <= 3n. */
    size_t need = 3 * n * sizeof(mpair_t) + n * 4 * sizeof(int32_t) + 16;
    if (!hd_tok_scratch_reserve(sc, need)) return HD_ERR_NOMEM;
    mpair_t *heap = sc->mem;
    int32_t *c = (int32_t *)(heap + 3 * n), *len = c + n, *prev = len + n, *next = prev + n;
    size_t m = 0, hn = 0;
    bool last_unk = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id < 0) {
            if (t->unk < 0) continue;                     /* dropped, as tokenizers does without unk */
            if (t->fuse_unk && last_unk) {
                len[m - 1]++;
                continue;
            }
            id = t->unk;
            last_unk = true;
        } else {
            last_unk = false;
        }
        c[m] = id;
        len[m] = 1;
        m++;
    }
    for (size_t i = 0; i < m; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    int32_t rank, id;
    for (size_t i = 0; i + 1 < m; i++)
        if (hd_tok_merge_find(t, c[i], c[i + 1], &rank, &id)) mheap_push(heap, &hn, (mpair_t){rank, (uint32_t)i, id});
    while (hn) {
        mpair_t top = mheap_pop(heap, &hn);
        uint32_t p = top.pos;
        if (len[p] == 0 || next[p] < 0) continue;
        int32_t q = next[p];
        if (!hd_tok_merge_find(t, c[p], c[q], &rank, &id) || id != top.id) continue;   /* stale */
        c[p] = top.id;
        len[p] += len[q];
        len[q] = 0;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = (int32_t)p;
        if (prev[p] >= 0 && hd_tok_merge_find(t, c[prev[p]], c[p], &rank, &id))
            mheap_push(heap, &hn, (mpair_t){rank, (uint32_t)prev[p], id});
        if (next[p] >= 0 && hd_tok_merge_find(t, c[p], c[next[p]], &rank, &id))
            mheap_push(heap, &hn, (mpair_t){rank, p, id});
    }
    for (size_t i = 0; i < m; i++)
        if (len[i]) emit(ctx, c[i]);
    return HD_OK;
}
