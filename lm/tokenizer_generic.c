/* lm/tokenizer_generic.c — encoding with a tokenizer.json's own pipeline, as
 * Hugging Face tokenizers does (TokenizerImpl::encode_single_sequence):
 *
 *   1. added tokens are found in the raw text (leftmost, longest first;
 *      special ones only with ALLOW_SPECIAL; lstrip / rstrip swallow the
 *      White_Space next to them; single_word ones only between non-word
 *      characters); they become their ids;
 *   2. each stretch between them goes through the normalizers, then the
 *      pre-tokenizers, each splitting every piece of the previous one
 *      (SplitDelimiterBehavior as in tokenizers' NormalizedString::split;
 *      empty pieces are dropped);
 *   3. each piece is merged by the BPE model (byte symbols, merge priority).
 *
 * Input is bytes: invalid UTF-8 (which a Rust or JS string cannot hold) is
 * cut out first — each invalid byte is one piece, encoded as its byte token,
 * and the valid text on either side is encoded as separate texts.
 *
 * Like tokenizers' BPE cache, one encode call remembers the ids of short
 * pieces (a direct-mapped table, made once a text has many pieces): prose
 * repeats its words, and merging is the costly step.
 */
#include "lm/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct piece { size_t off, len; } piece;

#define CACHE_SLOTS 4096          /* power of two                                   */
#define CACHE_MAX_BYTES 30        /* pieces up to this long are remembered          */
#define CACHE_MAX_IDS 15
#define CACHE_AFTER 256           /* pieces before the table is worth its 384 KiB   */

typedef struct cslot {
    uint8_t len, nids;            /* len 0: empty                                   */
    uint8_t bytes[CACHE_MAX_BYTES];
    int32_t ids[CACHE_MAX_IDS];
} cslot;

typedef struct gctx {
    const hd_tokenizer *t;
    hd_tok_emit_fn emit;
    void *ctx;
    hd_tok_scratch sc;
    char *buf;                 /* working text of one segment (pieces point into it) */
    size_t n, cap;
    piece *p, *q;              /* current and next piece lists                         */
    size_t np, nq, cap_p, cap_q;
    hd_tok_spans spans;        /* regex matches of one piece                           */
    hd_tok_spans marks;        /* covering list of one piece (matches and gaps)        */
    uint8_t *is_match;         /* [cap_m] whether marks.v[i] is a match                */
    size_t cap_m;
    cslot *cache;              /* [CACHE_SLOTS] or NULL                                */
    size_t n_pieces;
    int32_t *ids;              /* ids of the piece being merged                        */
    size_t n_ids, cap_ids;
    bool oom;
} gctx;

static void collect(void *ctx, int32_t id) {
    gctx *g = ctx;
    if (g->n_ids == g->cap_ids) {
        size_t cap = g->cap_ids ? g->cap_ids * 2 : 64;
        int32_t *v = realloc(g->ids, cap * sizeof *v);
        if (!v) {
            g->oom = true;
            return;
        }
        g->ids = v;
        g->cap_ids = cap;
    }
    g->ids[g->n_ids++] = id;
}

static uint32_t piece_hash(const uint8_t *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h ^ (h >> 15);
}

/* The ids of one piece: from the cache, or merged (and remembered). */
static hd_status encode_piece(gctx *g, const uint8_t *w, size_t len) {
    const hd_tokenizer *t = g->t;
    cslot *slot = NULL;
    if (len <= CACHE_MAX_BYTES) {
        if (!g->cache && ++g->n_pieces > CACHE_AFTER) g->cache = calloc(CACHE_SLOTS, sizeof *g->cache);
        if (g->cache) {
            slot = &g->cache[piece_hash(w, len) & (CACHE_SLOTS - 1)];
            if (slot->len == len && memcmp(slot->bytes, w, len) == 0) {
                for (int i = 0; i < slot->nids; i++) g->emit(g->ctx, slot->ids[i]);
                return HD_OK;
            }
        }
    }
    int32_t id = t->ignore_merges ? hd_tok_rank(t, w, len) : -1;
    if (id >= 0) {
        g->emit(g->ctx, id);
        return HD_OK;
    }
    g->n_ids = 0;
    hd_status st = hd_tok_bpe_merges(t, w, len, &g->sc, collect, g);
    if (st) return st;
    if (g->oom) return HD_ERR_NOMEM;
    for (size_t i = 0; i < g->n_ids; i++) g->emit(g->ctx, g->ids[i]);
    if (slot && g->n_ids <= CACHE_MAX_IDS) {
        slot->len = (uint8_t)len;
        slot->nids = (uint8_t)g->n_ids;
        memcpy(slot->bytes, w, len);
        memcpy(slot->ids, g->ids, g->n_ids * sizeof *g->ids);
    }
    return HD_OK;
}

static bool buf_reserve(gctx *g, size_t n) {
    if (g->n + n > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        while (cap < g->n + n) cap *= 2;
        char *b = realloc(g->buf, cap);
        if (!b) return false;
        g->buf = b;
        g->cap = cap;
    }
    return true;
}

/* s must not point into g->buf (use buf_reserve first for that). */
static bool buf_append(gctx *g, const void *s, size_t n) {
    if (!buf_reserve(g, n)) return false;
    memcpy(g->buf + g->n, s, n);
    g->n += n;
    return true;
}

static bool push_q(gctx *g, size_t off, size_t len) {
    if (len == 0) return true;   /* tokenizers drops empty splits */
    if (g->nq == g->cap_q) {
        size_t cap = g->cap_q ? g->cap_q * 2 : 64;
        piece *v = realloc(g->q, cap * sizeof *v);
        if (!v) return false;
        g->q = v;
        g->cap_q = cap;
    }
    g->q[g->nq++] = (piece){off, len};
    return true;
}

/* covering list entry */
static bool mark(gctx *g, size_t a, size_t b, bool m) {
    if (g->marks.n == g->cap_m) {
        size_t cap = g->cap_m ? g->cap_m * 2 : 64;
        uint8_t *v = realloc(g->is_match, cap);
        if (!v) return false;
        g->is_match = v;
        g->cap_m = cap;
    }
    if (!hd_tok_spans_push(&g->marks, a, b)) return false;
    g->is_match[g->marks.n - 1] = m;
    return true;
}

static bool is_ws(int32_t cp) { return cp >= 0 && (hd_tok_class_of_cp(cp) & 4); }

static bool is_punct(int32_t cp) {
    if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2f) || (cp >= 0x3a && cp <= 0x40) || (cp >= 0x5b && cp <= 0x60) ||
                          (cp >= 0x7b && cp <= 0x7e);
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

/* Applies the behaviour to the covering list (g->marks) of the piece and
 * pushes the resulting pieces (tokenizers NormalizedString::split). */
static bool split_marks(gctx *g, hd_tok_behavior beh, bool invert) {
    size_t n = g->marks.n;
    hd_tok_span *m = g->marks.v;
    if (invert)
        for (size_t i = 0; i < n; i++) g->is_match[i] = !g->is_match[i];
    /* build the output spans in m itself (never more than n) */
    size_t k = 0;
    bool prev = false;
    switch (beh) {
    case HD_TOK_ISOLATED: k = n; break;
    case HD_TOK_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!g->is_match[i]) m[k++] = m[i];
        break;
    case HD_TOK_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            bool im = g->is_match[i];
            if (im == prev && k) m[k - 1].b = m[i].b;
            else m[k++] = m[i];
            prev = im;
        }
        break;
    case HD_TOK_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            bool im = g->is_match[i];
            if (im && !prev && k) m[k - 1].b = m[i].b;
            else m[k++] = m[i];
            prev = im;
        }
        break;
    case HD_TOK_MERGED_NEXT: {
        /* from the end: a match joins the piece after it; written back to front */
        size_t w = n;
        for (size_t i = n; i-- > 0;) {
            bool im = g->is_match[i];
            if (im && !prev && w < n) m[w].a = m[i].a;
            else m[--w] = m[i];
            prev = im;
        }
        memmove(m, m + w, (n - w) * sizeof *m);
        k = n - w;
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        if (!push_q(g, m[i].a, m[i].b - m[i].a)) return false;
    return true;
}

/* Covering list from match spans inside [off, off + len). */
static bool marks_from_spans(gctx *g, size_t off, size_t len) {
    size_t prev = 0;
    for (size_t i = 0; i < g->spans.n; i++) {
        size_t a = g->spans.v[i].a, b = g->spans.v[i].b;
        if (prev != a && !mark(g, off + prev, off + a, false)) return false;
        if (!mark(g, off + a, off + b, true)) return false;
        prev = b;
    }
    if (prev != len && !mark(g, off + prev, off + len, false)) return false;
    return true;
}

/* Covering list of a character predicate (each matching character is a match of its own). */
static bool marks_from_pred(gctx *g, size_t off, size_t len, bool (*pred)(int32_t)) {
    const uint8_t *s = (const uint8_t *)g->buf + off;
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t l = (size_t)hd_tok_utf8_next(s + i, len - i, &cp);
        if (pred(cp)) {
            if (last < i && !mark(g, off + last, off + i, false)) return false;
            if (!mark(g, off + i, off + i + l, true)) return false;
            last = i + l;
        }
        i += l;
    }
    if (last < len && !mark(g, off + last, off + len, false)) return false;
    return true;
}

static bool is_digit_cp(int32_t cp) { return cp >= 0 && (hd_tok_class_of_cp(cp) & 2); }

/* One pre-tokenizer over all current pieces (g->p) into g->q. */
static hd_status run_step(gctx *g, const hd_tok_step *st) {
    g->nq = 0;
    for (size_t i = 0; i < g->np; i++) {
        size_t off = g->p[i].off, len = g->p[i].len;
        if (st->kind == HD_TOK_STEP_BYTELEVEL && st->add_prefix_space && g->buf[off] != ' ') {
            size_t no = g->n;
            if (!buf_reserve(g, len + 1)) return HD_ERR_NOMEM;
            g->buf[no] = ' ';
            memcpy(g->buf + no + 1, g->buf + off, len);
            g->n += len + 1;
            off = no;
            len++;
        }
        g->marks.n = 0;
        bool ok = true;
        switch (st->kind) {
        case HD_TOK_STEP_SPLIT:
        case HD_TOK_STEP_BYTELEVEL:
            if (st->kind == HD_TOK_STEP_BYTELEVEL && !st->use_regex) {
                if (!push_q(g, off, len)) return HD_ERR_NOMEM;
                continue;
            }
            if (st->llama3) {
                const uint8_t *s = (const uint8_t *)g->buf + off;
                for (size_t p = 0; p < len && ok;) {
                    size_t e = hd_tok_pretok_next(s, len, p);
                    ok = mark(g, off + p, off + e, true);
                    p = e;
                }
            } else {
                g->spans.n = 0;
                hd_status rs = hd_tok_regex_find(st->re, (const uint8_t *)g->buf + off, len, &g->spans);
                if (rs) return rs;
                ok = marks_from_spans(g, off, len);
            }
            break;
        case HD_TOK_STEP_DIGITS: ok = marks_from_pred(g, off, len, is_digit_cp); break;
        case HD_TOK_STEP_PUNCT: ok = marks_from_pred(g, off, len, is_punct); break;
        case HD_TOK_STEP_WSSPLIT: ok = marks_from_pred(g, off, len, is_ws); break;
        }
        if (!ok || !split_marks(g, st->behavior, st->invert)) return HD_ERR_NOMEM;
    }
    piece *tp = g->p;
    size_t tc = g->cap_p;
    g->p = g->q, g->cap_p = g->cap_q, g->np = g->nq;
    g->q = tp, g->cap_q = tc, g->nq = 0;
    return HD_OK;
}

/* Normalizer n over text s[0..len) (malloc'd, valid UTF-8) -> new malloc'd text. */
static hd_status normalize(const hd_tok_norm *nm, char **s, size_t *len, hd_tok_spans *sp) {
    char *out = NULL;
    size_t on = 0;
    if (nm->kind <= HD_TOK_NORM_NFKD) {
        static const int opt[] = {UTF8PROC_COMPOSE, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, UTF8PROC_DECOMPOSE,
                                  UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)*s, (utf8proc_ssize_t)*len, &dst,
                                          (utf8proc_option_t)(UTF8PROC_STABLE | opt[nm->kind]));
        if (r < 0) return r == UTF8PROC_ERROR_NOMEM ? HD_ERR_NOMEM : HD_ERR_INTERNAL;
        out = (char *)dst;
        on = (size_t)r;
    } else if (nm->kind == HD_TOK_NORM_PREPEND) {
        if (*len == 0) return HD_OK;
        out = malloc(nm->len + *len + 1);
        if (!out) return HD_ERR_NOMEM;
        memcpy(out, nm->text, nm->len);
        memcpy(out + nm->len, *s, *len);
        on = nm->len + *len;
    } else {
        sp->n = 0;
        hd_status st = hd_tok_regex_find(nm->re, (const uint8_t *)*s, *len, sp);
        if (st) return st;
        size_t cap = *len + sp->n * nm->len + 1;
        out = malloc(cap);
        if (!out) return HD_ERR_NOMEM;
        size_t prev = 0;
        for (size_t i = 0; i < sp->n; i++) {
            memcpy(out + on, *s + prev, sp->v[i].a - prev);
            on += sp->v[i].a - prev;
            memcpy(out + on, nm->text, nm->len);
            on += nm->len;
            prev = sp->v[i].b;
        }
        memcpy(out + on, *s + prev, *len - prev);
        on += *len - prev;
    }
    free(*s);
    *s = out;
    *len = on;
    return HD_OK;
}

/* Text between added tokens: normalize, pre-tokenize, merge. */
static hd_status encode_segment(gctx *g, const uint8_t *s, size_t n) {
    if (n == 0) return HD_OK;
    const hd_tokenizer *t = g->t;
    const hd_tok_pipeline *pp = t->pipe;
    g->n = 0;
    if (pp->n_norm) {
        char *txt = malloc(n);
        size_t len = n;
        if (!txt) return HD_ERR_NOMEM;
        memcpy(txt, s, n);
        for (int i = 0; i < pp->n_norm; i++) {
            hd_status st = normalize(&pp->norm[i], &txt, &len, &g->spans);
            if (st) {
                free(txt);
                return st;
            }
        }
        bool ok = buf_append(g, txt, len);
        free(txt);
        if (!ok) return HD_ERR_NOMEM;
    } else if (!buf_append(g, s, n)) {
        return HD_ERR_NOMEM;
    }
    g->nq = 0;
    if (!push_q(g, 0, g->n)) return HD_ERR_NOMEM;
    piece *tp = g->p;
    size_t tc = g->cap_p;
    g->p = g->q, g->cap_p = g->cap_q, g->np = g->nq;
    g->q = tp, g->cap_q = tc, g->nq = 0;
    for (int i = 0; i < pp->n_steps; i++) {
        hd_status st = run_step(g, &pp->steps[i]);
        if (st) return st;
    }
    for (size_t i = 0; i < g->np; i++) {
        hd_status st = encode_piece(g, (const uint8_t *)g->buf + g->p[i].off, g->p[i].len);
        if (st) return st;
    }
    return HD_OK;
}

static bool word_char(int32_t cp) { return cp == '_' || (cp >= 0 && (hd_tok_class_of_cp(cp) & 3)); }

/* Start of the character that ends at s[p] (p > 0, valid UTF-8). */
static size_t prev_char(const uint8_t *s, size_t p) {
    size_t q = p - 1;
    while (q > 0 && (s[q] & 0xc0) == 0x80) q--;
    return q;
}

/* The added token whose content starts at s[p] (longest first), or -1. */
static int32_t added_at(const hd_tokenizer *t, const uint8_t *s, size_t n, size_t p, bool allow_special) {
    for (int32_t i = 0; i < t->n_spec; i++) {
        int32_t id = t->spec_ids[i];
        if (t->special[id] == HD_TOK_SPECIAL && !allow_special) continue;
        uint32_t l = t->len[id];
        if (l > n - p || memcmp(t->blob + t->off[id], s + p, l) != 0) continue;
        if (t->aflags[id] & HD_TOK_SINGLE_WORD) {
            int32_t a = -1, b = -1;
            if (p > 0) hd_tok_utf8_next(s + prev_char(s, p), p - prev_char(s, p), &a);
            if (p + l < n) hd_tok_utf8_next(s + p + l, n - p - l, &b);
            if ((p > 0 && word_char(a)) || (p + l < n && word_char(b))) continue;
        }
        return id;
    }
    return -1;
}

static hd_status encode_valid(gctx *g, const uint8_t *s, size_t n, bool allow_special) {
    const hd_tokenizer *t = g->t;
    size_t a = 0;
    for (size_t p = 0; p < n; p++) {
        if (!t->spec_first[s[p]]) continue;
        int32_t id = added_at(t, s, n, p, allow_special);
        if (id < 0) continue;
        size_t ms = p, me = p + t->len[id];
        if (t->aflags[id] & HD_TOK_LSTRIP)
            while (ms > a) {
                size_t q = prev_char(s, ms);
                int32_t cp;
                hd_tok_utf8_next(s + q, ms - q, &cp);
                if (!is_ws(cp)) break;
                ms = q;
            }
        if (t->aflags[id] & HD_TOK_RSTRIP)
            while (me < n) {
                int32_t cp;
                int l = hd_tok_utf8_next(s + me, n - me, &cp);
                if (!is_ws(cp)) break;
                me += (size_t)l;
            }
        hd_status st = encode_segment(g, s + a, ms - a);
        if (st) return st;
        g->emit(g->ctx, id);
        a = me;
        p = me - 1;
    }
    return encode_segment(g, s + a, n - a);
}

hd_status hd_tok_encode_generic(const hd_tokenizer *t, const uint8_t *s, size_t n, bool allow_special,
                                hd_tok_emit_fn emit, void *ctx, hd_error *err) {
    gctx g = {.t = t, .emit = emit, .ctx = ctx};
    hd_status st = HD_OK;
    for (size_t p = 0; p < n && !st;) {
        size_t q = p;
        while (q < n) {
            if (s[q] < 0x80) {
                q++;
                continue;
            }
            int32_t cp;
            int l = hd_tok_utf8_next(s + q, n - q, &cp);
            if (cp < 0) break;
            q += (size_t)l;
        }
        if (q > p) st = encode_valid(&g, s + p, q - p, allow_special);
        if (!st && q < n) {   /* one invalid byte */
            int32_t id = t->byte_id[s[q]];
            if (id < 0) id = t->unk;
            if (id >= 0) emit(ctx, id);
            q++;
        }
        p = q;
    }
    hd_tok_scratch_free(&g.sc);
    free(g.buf);
    free(g.p);
    free(g.q);
    free(g.spans.v);
    free(g.marks.v);
    free(g.is_match);
    free(g.cache);
    free(g.ids);
    if (st == HD_ERR_NOMEM) return hd_error_set(err, st, "tokenizer: out of memory while encoding %zu bytes", n);
    if (st) return hd_error_set(err, st, "tokenizer: the pre-tokenizer pattern failed on this text (match limit)");
    return HD_OK;
}
