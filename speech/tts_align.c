/* speech/tts_align.c — LM tokens, written words and spoken words on one
 * chunk axis (see tts_align.h). */
#include "tts_align.h"

#include <stdlib.h>
#include <string.h>

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* The TN token holding byte i (tokens tile the text in order), or n. */
static int token_at(const hd_tn_token *tk, int n, size_t i) {
    int lo = 0, hi = n;   /* first token whose end is > i */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (tk[mid].start + tk[mid].len <= i) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int32_t hd_tts_span_chunk(const char *text, const hd_tn_token *tk, int n, size_t start, size_t len) {
    if (n <= 0) return 0;
    const size_t end_text = tk[n - 1].start + tk[n - 1].len;   /* the tokens tile the text */
    if (start >= end_text) return tk[n - 1].chunk;
    const size_t end = len < end_text - start ? start + len : end_text;
    size_t i = start;
    while (i < end && is_space((unsigned char)text[i])) i++;
    if (i == end) i = start;   /* white space only */
    int k = token_at(tk, n, i);
    return k < n ? tk[k].chunk : tk[n - 1].chunk;
}

/* A white-space separated word and its comparison key. */
typedef struct word {
    size_t start, len;
    size_t key, key_len;   /* into the key buffer */
    int32_t chunk;         /* written words only */
} word;

/* Splits s into words; keys = lower-case ASCII letters and digits plus every
 * non-ASCII byte, appended to keys.  Returns the count or -1 (no memory). */
static int split(const char *s, size_t len, word **out, char *keys, size_t *kn) {
    int n = 0, cap = 0;
    word *w = NULL;
    for (size_t i = 0; i < len;) {
        while (i < len && is_space((unsigned char)s[i])) i++;
        if (i == len) break;
        size_t b = i;
        while (i < len && !is_space((unsigned char)s[i])) i++;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            word *g = realloc(w, (size_t)cap * sizeof *g);
            if (!g) return free(w), -1;
            w = g;
        }
        word *x = &w[n++];
        x->start = b, x->len = i - b, x->key = *kn, x->chunk = 0;
        for (size_t j = b; j < i; j++) {
            unsigned char c = (unsigned char)s[j];
            if (c >= 'A' && c <= 'Z') keys[(*kn)++] = (char)(c + 32);
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) keys[(*kn)++] = (char)c;
        }
        x->key_len = *kn - x->key;
    }
    *out = w;
    return n;
}

static int same(const char *keys, const word *a, const word *b) {
    return a->key_len > 0 && a->key_len == b->key_len && memcmp(keys + a->key, keys + b->key, a->key_len) == 0;
}

hd_status hd_tts_align_spoken(const char *src, size_t src_len, const hd_tn_token *tk, int n, const char *norm,
                              size_t norm_len, int32_t *out, hd_error *err) {
    if (norm_len == 0) return HD_OK;
    char *keys = malloc(src_len + norm_len + 1);
    word *sw = NULL, *nw = NULL;
    int *lcs = NULL, *map = NULL;
    size_t kn = 0;
    hd_status st = HD_OK;
    int ns = keys ? split(src, src_len, &sw, keys, &kn) : -1;
    int nn = ns >= 0 ? split(norm, norm_len, &nw, keys, &kn) : -1;
    if (nn < 0) goto nomem;
    for (int i = 0; i < ns; i++) sw[i].chunk = hd_tts_span_chunk(src, tk, n, sw[i].start, sw[i].len);
    /* lcs[i][j] = the longest common subsequence of sw[i..] and nw[j..] */
    const size_t W = (size_t)nn + 1;
    lcs = calloc(((size_t)ns + 1) * W, sizeof *lcs);
    map = malloc(((size_t)nn + 1) * sizeof *map);   /* spoken word → written word, -1 unmatched */
    if (!lcs || !map) goto nomem;
    for (int i = ns - 1; i >= 0; i--)
        for (int j = nn - 1; j >= 0; j--) {
            int *c = &lcs[(size_t)i * W + (size_t)j];
            if (same(keys, &sw[i], &nw[j])) *c = 1 + lcs[(size_t)(i + 1) * W + (size_t)j + 1];
            else {
                int a = lcs[(size_t)(i + 1) * W + (size_t)j], b = lcs[(size_t)i * W + (size_t)j + 1];
                *c = a > b ? a : b;
            }
        }
    for (int j = 0; j < nn; j++) map[j] = -1;
    for (int i = 0, j = 0; i < ns && j < nn;) {
        if (same(keys, &sw[i], &nw[j]) && lcs[(size_t)i * W + (size_t)j] == 1 + lcs[(size_t)(i + 1) * W + (size_t)j + 1])
            map[j++] = i++;
        else if (lcs[(size_t)(i + 1) * W + (size_t)j] >= lcs[(size_t)i * W + (size_t)j + 1]) i++;
        else j++;
    }
    /* gaps: the unmatched spoken words j0..j1-1 between matches, over the
     * unmatched written words i0..i1-1 between the same matches */
    int32_t *wc = (int32_t *)lcs;   /* reuse: chunk of each spoken word */
    for (int j = 0, prev_i = -1; j < nn;) {
        if (map[j] >= 0) {
            wc[j] = sw[map[j]].chunk;
            prev_i = map[j++];
            continue;
        }
        int j1 = j;
        while (j1 < nn && map[j1] < 0) j1++;
        int i0 = prev_i + 1, i1 = j1 < nn ? map[j1] : ns, w = i1 - i0, m = j1 - j;
        for (int k = 0; k < m; k++) {
            if (w > 0) wc[j + k] = sw[i0 + (int)((int64_t)k * w / m)].chunk;
            else if (prev_i >= 0) wc[j + k] = sw[prev_i].chunk;
            else wc[j + k] = ns > 0 ? sw[0].chunk : 0;
        }
        j = j1;
    }
    /* bytes: a word's bytes its chunk, white space the word before (or the first) */
    int32_t cur = nn > 0 ? wc[0] : (ns > 0 ? sw[0].chunk : 0);
    for (size_t b = 0, j = 0; b < norm_len; b++) {
        if (j < (size_t)nn && b >= nw[j].start) cur = wc[j];
        if (j < (size_t)nn && b + 1 == nw[j].start + nw[j].len) j++;
        out[b] = cur;
    }
    /* monotone by construction; keep it so if a model's chunk order ever is not */
    for (size_t b = 1; b < norm_len; b++)
        if (out[b] < out[b - 1]) out[b] = out[b - 1];
    goto done;
nomem:
    st = hd_error_set(err, HD_ERR_NOMEM, "tts: out of memory aligning words");
done:
    free(keys), free(sw), free(nw), free(lcs), free(map);
    return st;
}
