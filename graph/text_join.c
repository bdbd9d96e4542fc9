/* graph/text_join.c — overlap join of segment texts (see text_join.h). */
#include "text_join.h"

#include <stdbool.h>
#include <string.h>

#define MAX_WORDS 64     /* bound on max_words */
#define WORD_MAX 48      /* normalised bytes compared per word */
#define EDGE 2           /* words allowed between the repeat and an edge */

typedef struct word {
    size_t end;              /* byte offset just after the word */
    char norm[WORD_MAX];
} word;

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static bool is_punct(unsigned char c) { return c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z'); }

/* Calls back for each word: normalised form, its end offset.  Returns the
 * number of (non-punctuation) words. */
typedef void (*word_fn)(void *ctx, const char *norm, size_t end);

static int scan(const char *t, size_t n, word_fn fn, void *ctx) {
    int count = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space((unsigned char)t[i])) i++;
        if (i >= n) break;
        char norm[WORD_MAX];
        size_t k = 0;
        while (i < n && !is_space((unsigned char)t[i])) {
            unsigned char c = (unsigned char)t[i++];
            if (is_punct(c)) continue;
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
            if (k + 1 < WORD_MAX) norm[k++] = (char)c;
        }
        norm[k] = 0;
        if (k == 0) continue;   /* punctuation only */
        count++;
        if (fn) fn(ctx, norm, i);
    }
    return count;
}

int hd_text_word_count(const char *text, size_t len) { return text ? scan(text, len, NULL, NULL) : 0; }

/* The last `keep` words (ring), or the first `keep` words. */
typedef struct list {
    word w[MAX_WORDS + EDGE + 1];
    int keep, n;             /* n = words seen */
    bool tail;               /* keep the last ones (ring) */
} list;

static void collect(void *ctx, const char *norm, size_t end) {
    list *l = ctx;
    if (!l->tail && l->n >= l->keep) return;
    word *w = &l->w[l->n % l->keep];
    w->end = end;
    memcpy(w->norm, norm, strlen(norm) + 1);
    l->n++;
}

/* i-th kept word in order */
static const word *at(const list *l, int i) {
    if (!l->tail || l->n <= l->keep) return &l->w[i];
    return &l->w[(l->n - l->keep + i) % l->keep];
}

static int kept(const list *l) { return l->n < l->keep ? l->n : l->keep; }

size_t hd_text_join_skip(const char *prev, size_t prev_len, const char *next, size_t next_len, int max_words) {
    if (!prev || !next || max_words <= 0) return 0;
    if (max_words > MAX_WORDS) max_words = MAX_WORDS;
    static _Thread_local list P, Q;
    P.keep = Q.keep = max_words + EDGE;
    P.n = Q.n = 0;
    P.tail = true;
    Q.tail = false;
    scan(prev, prev_len, collect, &P);
    scan(next, next_len, collect, &Q);
    const int np = kept(&P), nq = kept(&Q);
    int best_len = 0, best_j = 0, best_slack = 1 << 30;
    for (int i = 0; i < np; i++)
        for (int j = 0; j <= EDGE && j < nq; j++) {
            int L = 0;
            while (i + L < np && j + L < nq && L < max_words && strcmp(at(&P, i + L)->norm, at(&Q, j + L)->norm) == 0)
                L++;
            if (L == 0) continue;
            int tail = np - (i + L);
            if (tail > EDGE) continue;
            if (L == 1 && (tail != 0 || j != 0)) continue;
            /* fewest edge words left over; on a tie the repeat that ends
             * exactly at prev's end (its last word was heard whole) */
            int slack = 2 * (tail + j) + (tail > 0);
            if (L > best_len || (L == best_len && slack < best_slack)) {
                best_len = L;
                best_j = j;
                best_slack = slack;
            }
        }
    if (best_len == 0) return 0;
    size_t off = at(&Q, best_j + best_len - 1)->end;
    while (off < next_len && is_space((unsigned char)next[off])) off++;
    return off;
}

size_t hd_text_clean(char *t, size_t n) {
    size_t o = 0;
    bool line_empty = true;   /* nothing but whitespace on the current output line */
    size_t line_start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '\r') continue;
        if (c == '\n') {
            if (line_empty) {
                o = line_start;   /* drop the blank line */
                continue;
            }
            t[o++] = '\n';
            line_start = o;
            line_empty = true;
            continue;
        }
        if (line_empty && (c == ' ' || c == '\t')) continue;   /* leading whitespace of a line */
        t[o++] = c;
        line_empty = false;
    }
    while (o > 0 && (t[o - 1] == ' ' || t[o - 1] == '\t' || t[o - 1] == '\n')) o--;
    t[o] = 0;
    return o;
}
