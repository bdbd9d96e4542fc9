/* lm/tokenizer.c — the vocabulary object (ids, bytes, rank map, special
 * tokens), encoding and decoding.  Loading: tokenizer_load.c; export:
 * tokenizer_export.c; the regex: tokenizer_pretok.c; merging: tokenizer_bpe.c.
 */
#include "lm/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char hd_tok_llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---- building ------------------------------------------------------------ */

hd_tokenizer *hd_tok_new(int32_t n_vocab) {
    if (n_vocab <= 0 || n_vocab > HD_TOK_MAX_VOCAB) return NULL;
    hd_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_vocab = n_vocab;
    t->off = malloc((size_t)n_vocab * sizeof *t->off);
    t->len = malloc((size_t)n_vocab * sizeof *t->len);
    t->special = malloc((size_t)n_vocab);
    t->aflags = calloc((size_t)n_vocab, 1);
    t->blob_cap = (size_t)n_vocab * 8 + 4096;
    t->blob = malloc(t->blob_cap);
    if (!t->off || !t->len || !t->special || !t->aflags || !t->blob) {
        hd_tokenizer_free(t);
        return NULL;
    }
    for (int32_t i = 0; i < n_vocab; i++) t->off[i] = UINT32_MAX, t->len[i] = 0;
    memset(t->special, 0, (size_t)n_vocab);
    t->bos = t->eos = t->eot = t->eom = t->file_eos = t->unk = -1;
    t->require_all_bytes = true;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    return t;
}

void hd_tokenizer_free(hd_tokenizer *t) {
    if (!t) return;
    free(t->off);
    free(t->len);
    free(t->special);
    free(t->aflags);
    free(t->blob);
    free(t->map);
    free(t->spec_ids);
    free(t->mtab);
    free(t->merges);
    hd_tok_pipeline_free(t->pipe);
    free(t);
}

static hd_status blob_append(hd_tokenizer *t, const void *p, size_t n, uint32_t *off) {
    if (t->blob_size + n > UINT32_MAX) return HD_ERR_NOMEM;
    if (t->blob_size + n > t->blob_cap) {
        size_t cap = t->blob_cap * 2;
        while (cap < t->blob_size + n) cap *= 2;
        char *b = realloc(t->blob, cap);
        if (!b) return HD_ERR_NOMEM;
        t->blob = b;
        t->blob_cap = cap;
    }
    if (n) memcpy(t->blob + t->blob_size, p, n);
    *off = (uint32_t)t->blob_size;
    t->blob_size += n;
    return HD_OK;
}

hd_status hd_tok_set(hd_tokenizer *t, int32_t id, const void *bytes, size_t len, bool special,
                     const char *name, hd_error *err) {
    return hd_tok_set_kind(t, id, bytes, len, special ? HD_TOK_SPECIAL : HD_TOK_RANKED, name, err);
}

hd_status hd_tok_set_kind(hd_tokenizer *t, int32_t id, const void *bytes, size_t len, int kind, const char *name,
                          hd_error *err) {
    if (id < 0 || id >= t->n_vocab)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: token id %d out of range [0, %d)", name, id, t->n_vocab);
    if (t->off[id] != UINT32_MAX)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: token id %d defined twice", name, id);
    if (len == 0 || len > HD_TOK_MAX_TOKEN_BYTES)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: token %d has length %zu (must be 1..%d)", name, id, len,
                            HD_TOK_MAX_TOKEN_BYTES);
    uint32_t off;
    if (blob_append(t, bytes, len, &off) != HD_OK)
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for token bytes", name);
    t->off[id] = off;
    t->len[id] = (uint32_t)len;
    t->special[id] = (uint8_t)kind;
    return HD_OK;
}

/* Bytes p[0..n) (n <= 8) as a zero-padded little-endian word, without
 * reading past the end. */
static inline uint64_t load_head(const uint8_t *p, size_t n) {
    if (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        return w;
    }
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        return (uint64_t)lo | ((uint64_t)hi << (8 * (n - 4)));
    }
    if (n == 0) return 0;
    return (uint64_t)p[0] | ((uint64_t)p[n / 2] << (8 * (n / 2))) | ((uint64_t)p[n - 1] << (8 * (n - 1)));
}

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

/* Hash of p[0..n) given its head word. */
static inline uint64_t hash_bytes(const uint8_t *p, size_t n, uint64_t head) {
    uint64_t h = head ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    for (size_t i = 8; i < n; i += 8) h = mix64(h) ^ load_head(p + i, n - i < 8 ? n - i : 8);
    return mix64(h);
}

#define META_LEN_BITS 13   /* lengths up to HD_TOK_MAX_TOKEN_BYTES (4096) */
#define META(h, n) (((uint32_t)((h) >> 32) & ~((1u << META_LEN_BITS) - 1)) | (uint32_t)(n))

int32_t hd_tok_rank(const hd_tokenizer *t, const uint8_t *s, size_t n) {
    if (n == 0 || n > HD_TOK_MAX_TOKEN_BYTES) return -1;
    uint64_t head = load_head(s, n < 8 ? n : 8);
    uint64_t h = hash_bytes(s, n, head);
    uint32_t meta = META(h, n), i = (uint32_t)h & t->map_mask;
    for (;;) {
        const struct hd_tok_slot *e = &t->map[i];
        if (e->id < 0) return -1;
        if (e->meta == meta && e->head == head &&
            (n <= 8 || memcmp(t->blob + t->off[e->id] + 8, s + 8, n - 8) == 0))
            return e->id;
        i = (i + 1) & t->map_mask;
    }
}

static int cmp_spec_len(const void *a, const void *b, void *ctx) {
    const hd_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y]) return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Rebuilds the special lookup table and the well-known ids from the names. */
static hd_status build_specials(hd_tokenizer *t, const char *name, hd_error *err) {
    free(t->spec_ids);
    t->spec_ids = NULL;
    t->n_spec = 0;
    memset(t->spec_first, 0, sizeof t->spec_first);
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) n += t->special[i] != HD_TOK_RANKED;
    if (n) {
        t->spec_ids = malloc((size_t)n * sizeof *t->spec_ids);
        if (!t->spec_ids) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
    }
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->special[i]) {
            t->spec_ids[t->n_spec++] = i;
            t->spec_first[(uint8_t)t->blob[t->off[i]]] = 1;
        }
    if (t->n_spec) qsort_r(t->spec_ids, (size_t)t->n_spec, sizeof *t->spec_ids, cmp_spec_len, t);
    /* two specials with one name would make the text ambiguous */
    for (int32_t i = 1; i < t->n_spec; i++) {
        int32_t a = t->spec_ids[i - 1], b = t->spec_ids[i];
        if (t->len[a] == t->len[b] && memcmp(t->blob + t->off[a], t->blob + t->off[b], t->len[a]) == 0)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: special tokens %d and %d have the same name '%.*s'", name,
                                a, b, (int)t->len[a], t->blob + t->off[a]);
    }
    t->bos = hd_tokenizer_find_special(t, "<|begin_of_text|>");
    t->eos = hd_tokenizer_find_special(t, "<|end_of_text|>");
    t->eot = hd_tokenizer_find_special(t, "<|eot_id|>");
    t->eom = hd_tokenizer_find_special(t, "<|eom_id|>");
    return HD_OK;
}

hd_status hd_tok_finish(hd_tokenizer *t, const char *name, hd_error *err) {
    t->n_ranked = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->off[i] == UINT32_MAX)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: token id %d is not defined (ids must be 0..%d)", name, i,
                                t->n_vocab - 1);
        t->n_ranked += !t->special[i];
    }
    uint32_t cap = 1024;
    while (cap < 2u * (uint32_t)t->n_ranked) cap *= 2;
    free(t->map);
    t->map = malloc((size_t)cap * sizeof *t->map);
    if (!t->map) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for the vocabulary", name);
    t->map_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) t->map[i].id = -1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->special[id]) continue;
        const uint8_t *s = (const uint8_t *)t->blob + t->off[id];
        if (hd_tok_rank(t, s, t->len[id]) >= 0)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tokens %d and %d have the same bytes", name,
                                hd_tok_rank(t, s, t->len[id]), id);
        size_t n = t->len[id];
        uint64_t head = load_head(s, n < 8 ? n : 8);
        uint64_t h = hash_bytes(s, n, head);
        uint32_t i = (uint32_t)h & t->map_mask;
        while (t->map[i].id >= 0) i = (i + 1) & t->map_mask;
        t->map[i] = (struct hd_tok_slot){head, META(h, n), id};
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = hd_tok_rank(t, &c, 1);
        if (t->byte_id[b] < 0 && t->require_all_bytes)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: byte 0x%02x has no token (byte-level BPE needs all 256)",
                                name, b);
    }
    return build_specials(t, name, err);
}

/* ---- GPT-2 byte <-> unicode ---------------------------------------------- */

/* bytes_to_unicode(): printable bytes ('!'..'~', 0xa1..0xac, 0xae..0xff) map
 * to themselves; the other 68 (0x00..0x20, 0x7f..0xa0, 0xad), in byte order,
 * to 256, 257, ... 323. */
uint32_t hd_tok_gpt2_cp(uint8_t b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7f && b <= 0xa0) return 256u + 33 + (b - 0x7fu);
    if (b == 0xad) return 256u + 67;
    return b;
}

static int gpt2_byte_of(int32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff)) return cp;
    if (cp >= 256 && cp < 256 + 33) return cp - 256;
    if (cp >= 256 + 33 && cp < 256 + 67) return 0x7f + (cp - 256 - 33);
    if (cp == 256 + 67) return 0xad;
    return -1;
}

long hd_tok_gpt2_decode(const char *s, size_t len, uint8_t *out) {
    size_t i = 0;
    long n = 0;
    while (i < len) {
        int32_t cp;
        i += (size_t)hd_tok_utf8_next((const uint8_t *)s + i, len - i, &cp);
        int b = gpt2_byte_of(cp);
        if (b < 0) return -1;
        out[n++] = (uint8_t)b;
    }
    return n;
}

size_t hd_tok_gpt2_encode(const uint8_t *b, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = hd_tok_gpt2_cp(b[i]);
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else {
            out[o++] = (char)(0xc0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return o;
}

/* ---- special-token names ---------------------------------------------------- */

/* Name of special k (0..255) under a scheme. */
static void scheme_name(hd_tokenizer_names names, int k, char *buf, size_t n) {
    static const char *const meta[12] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|image|>"};
    static const char *const v31[11] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
    static const char *const v30[10] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|reserved_special_token_4|>", "<|eot_id|>"};
    const char *const *fixed;
    int n_fixed, first_reserved;
    switch (names) {
    case HD_TOKENIZER_NAMES_LLAMA3_0: fixed = v30, n_fixed = 10, first_reserved = 5; break;
    case HD_TOKENIZER_NAMES_LLAMA3_1: fixed = v31, n_fixed = 11, first_reserved = 3; break;
    default: fixed = meta, n_fixed = 12, first_reserved = 2; break;
    }
    if (k < n_fixed) snprintf(buf, n, "%s", fixed[k]);
    else snprintf(buf, n, "<|reserved_special_token_%d|>", first_reserved + (k - n_fixed));
}

hd_status hd_tok_name_specials(hd_tokenizer *t, int32_t base, hd_tokenizer_names names, const char *name,
                               hd_error *err) {
    for (int k = 0; k < HD_TOK_N_SPECIAL; k++) {
        char buf[64];
        scheme_name(names, k, buf, sizeof buf);
        int32_t id = base + k;
        t->off[id] = UINT32_MAX;
        hd_status st = hd_tok_set(t, id, buf, strlen(buf), true, name, err);
        if (st) return st;
    }
    return HD_OK;
}

hd_status hd_tokenizer_set_names(hd_tokenizer *t, hd_tokenizer_names names, hd_error *err) {
    if (!t) return hd_error_set(err, HD_ERR_ARG, "tokenizer: NULL");
    if (names < HD_TOKENIZER_NAMES_META || names > HD_TOKENIZER_NAMES_LLAMA3_1)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: unknown special-token naming scheme %d", (int)names);
    int32_t base = t->bos;
    if (base < 0 || base + HD_TOK_N_SPECIAL > t->n_vocab)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: no <|begin_of_text|> followed by %d special ids",
                            HD_TOK_N_SPECIAL);
    for (int k = 0; k < HD_TOK_N_SPECIAL; k++)
        if (!t->special[base + k])
            return hd_error_set(err, HD_ERR_ARG, "tokenizer: id %d after <|begin_of_text|> is not special", base + k);
    /* all or nothing: a clash (e.g. HF mllama's extra <|image|> at 128256 with
     * Meta names, which put <|image|> at 128011) restores the old names */
    uint32_t old_off[HD_TOK_N_SPECIAL], old_len[HD_TOK_N_SPECIAL];
    memcpy(old_off, t->off + base, sizeof old_off);
    memcpy(old_len, t->len + base, sizeof old_len);
    hd_status st = hd_tok_name_specials(t, base, names, "tokenizer", err);
    if (st == HD_OK) st = build_specials(t, "tokenizer", err);
    if (st != HD_OK) {
        memcpy(t->off + base, old_off, sizeof old_off);
        memcpy(t->len + base, old_len, sizeof old_len);
        hd_error tmp;
        if (build_specials(t, "tokenizer", &tmp) != HD_OK) t->n_spec = 0;   /* only on out of memory */
    }
    return st;
}

/* ---- queries ------------------------------------------------------------- */

int32_t hd_tokenizer_n_vocab(const hd_tokenizer *t) { return t->n_vocab; }
int32_t hd_tokenizer_n_ranked(const hd_tokenizer *t) { return t->n_ranked; }
int32_t hd_tokenizer_bos(const hd_tokenizer *t) { return t->bos; }
int32_t hd_tokenizer_eos(const hd_tokenizer *t) { return t->eos; }
int32_t hd_tokenizer_eot(const hd_tokenizer *t) { return t->eot; }
int32_t hd_tokenizer_eom(const hd_tokenizer *t) { return t->eom; }

int hd_tokenizer_stop_ids(const hd_tokenizer *t, int32_t *out, int cap) {
    int32_t c[4] = {t->eos, t->eom, t->eot, t->file_eos};
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if (c[i] < 0) continue;
        bool dup = false;
        for (int j = 0; j < i; j++) dup |= c[j] == c[i];
        if (dup) continue;
        if (n < cap) out[n] = c[i];
        n++;
    }
    return n;
}

bool hd_tokenizer_is_stop(const hd_tokenizer *t, int32_t id) {
    return id >= 0 && (id == t->eos || id == t->eom || id == t->eot || id == t->file_eos);
}

int32_t hd_tokenizer_find_special(const hd_tokenizer *t, const char *name) {
    size_t n = strlen(name);
    for (int32_t i = 0; i < t->n_spec; i++) {
        int32_t id = t->spec_ids[i];
        if (t->len[id] == n && memcmp(t->blob + t->off[id], name, n) == 0) return id;
    }
    return -1;
}

bool hd_tokenizer_is_special(const hd_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->special[id] == HD_TOK_SPECIAL;
}

bool hd_tokenizer_adds_bos(const hd_tokenizer *t) { return t->adds_bos && t->bos >= 0; }

const char *hd_tokenizer_pre_name(const hd_tokenizer *t) {
    return t->pipe ? hd_tok_pipeline_pre_name(t->pipe) : "llama-bpe";
}

/* ---- merges (generic BPE) ------------------------------------------------------ */

static inline uint32_t pair_hash(uint64_t key) { return (uint32_t)(mix64(key) >> 32); }

bool hd_tok_merge_find(const hd_tokenizer *t, int32_t l, int32_t r, int32_t *rank, int32_t *id) {
    if (!t->mtab) return false;
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (uint32_t i = pair_hash(key) & t->mtab_mask;; i = (i + 1) & t->mtab_mask) {
        const struct hd_tok_merge_slot *e = &t->mtab[i];
        if (e->key == UINT64_MAX) return false;
        if (e->key == key) {
            *rank = e->rank;
            *id = e->id;
            return true;
        }
    }
}

static bool mtab_insert(struct hd_tok_merge_slot *tab, uint32_t mask, uint64_t key, int32_t rank, int32_t id) {
    uint32_t i = pair_hash(key) & mask;
    while (tab[i].key != UINT64_MAX && tab[i].key != key) i = (i + 1) & mask;
    bool fresh = tab[i].key == UINT64_MAX;
    tab[i] = (struct hd_tok_merge_slot){key, rank, id};
    return fresh;
}

hd_status hd_tok_add_merge(hd_tokenizer *t, int32_t l, int32_t r, int32_t id) {
    uint32_t cap = t->mtab ? t->mtab_mask + 1 : 0;
    if ((uint64_t)(t->n_merges + 1) * 2 > cap) {   /* grow: load factor <= 1/2 */
        uint32_t nc = cap ? cap * 2 : 1024;
        struct hd_tok_merge_slot *nt = malloc((size_t)nc * sizeof *nt);
        int32_t *nm = realloc(t->merges, (size_t)nc * sizeof *nm);
        if (!nt || !nm) {
            free(nt);
            if (nm) t->merges = nm;
            return HD_ERR_NOMEM;
        }
        t->merges = nm;
        for (uint32_t i = 0; i < nc; i++) nt[i].key = UINT64_MAX;
        for (uint32_t i = 0; i < cap; i++)
            if (t->mtab[i].key != UINT64_MAX) mtab_insert(nt, nc - 1, t->mtab[i].key, t->mtab[i].rank, t->mtab[i].id);
        free(t->mtab);
        t->mtab = nt;
        t->mtab_mask = nc - 1;
    }
    /* priority = position in the list; a repeated pair takes the later one */
    int32_t rank = t->n_merges;
    mtab_insert(t->mtab, t->mtab_mask, (uint64_t)(uint32_t)l << 32 | (uint32_t)r, rank, id);
    t->merges[2 * rank] = l;
    t->merges[2 * rank + 1] = r;
    t->n_merges++;
    return HD_OK;
}

const char *hd_tokenizer_token_bytes(const hd_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *len = 0;
        return NULL;
    }
    *len = t->len[id];
    return t->blob + t->off[id];
}

/* ---- encode -------------------------------------------------------------- */

typedef struct sink {
    int32_t *out;
    size_t cap, n;
} sink;

static void sink_push(void *ctx, int32_t id) {
    sink *k = ctx;
    if (k->n < k->cap) k->out[k->n] = id;
    k->n++;
}

/* Pre-tokenizes and merges s[0..n) (text between specials). */
static hd_status encode_ordinary(const hd_tokenizer *t, const uint8_t *s, size_t n, sink *k, hd_tok_scratch *sc) {
    size_t p = 0;
    while (p < n) {
        size_t e = hd_tok_pretok_next(s, n, p);
        int32_t id = hd_tok_rank(t, s + p, e - p);
        if (id >= 0) {
            sink_push(k, id);
        } else {
            hd_status st = e - p <= HD_TOK_BPE_SCAN_MAX ? hd_tok_bpe_scan(t, s + p, e - p, sc, sink_push, k)
                                                        : hd_tok_bpe_heap(t, s + p, e - p, sc, sink_push, k);
            if (st) return st;
        }
        p = e;
    }
    return HD_OK;
}

/* The special token whose name starts at s[p], longest first, or -1. */
static int32_t special_at(const hd_tokenizer *t, const uint8_t *s, size_t n, size_t p) {
    for (int32_t i = 0; i < t->n_spec; i++) {
        int32_t id = t->spec_ids[i];
        uint32_t l = t->len[id];
        const char *name = t->blob + t->off[id];
        if (l <= n - p && (l < 2 || name[1] == (char)s[p + 1]) && memcmp(name, s + p, l) == 0) return id;
    }
    return -1;
}

static hd_status encode_segment(const hd_tokenizer *t, const uint8_t *s, size_t n, bool allow_special, sink *k,
                                hd_tok_scratch *sc) {
    if (!allow_special || t->n_spec == 0) return encode_ordinary(t, s, n, k, sc);
    size_t a = 0;
    for (size_t p = 0; p < n; p++) {
        if (!t->spec_first[s[p]]) continue;
        int32_t id = special_at(t, s, n, p);
        if (id < 0) continue;
        hd_status st = encode_ordinary(t, s + a, p - a, k, sc);
        if (st) return st;
        sink_push(k, id);
        p += t->len[id];
        a = p;
        p--;
    }
    return encode_ordinary(t, s + a, n - a, k, sc);
}

hd_status hd_tokenizer_encode(const hd_tokenizer *t, const char *text, size_t len, unsigned flags, int32_t *out,
                              size_t cap, size_t *n_out, hd_error *err) {
    *n_out = 0;
    if (!t || (!text && len)) return hd_error_set(err, HD_ERR_ARG, "tokenizer: NULL argument");
    if ((flags & HD_TOKENIZER_ADD_BOS) && t->bos < 0)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: no <|begin_of_text|> token to add as BOS");
    if ((flags & HD_TOKENIZER_ADD_EOS) && t->eos < 0)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: no <|end_of_text|> token to add as EOS");
    sink k = {out, out ? cap : 0, 0};
    hd_tok_scratch sc = {0};
    hd_status st = HD_OK;
    const uint8_t *s = (const uint8_t *)text;
    if (flags & HD_TOKENIZER_ADD_BOS) sink_push(&k, t->bos);
    if (t->pipe) {
        st = hd_tok_encode_generic(t, s, len, (flags & HD_TOKENIZER_ALLOW_SPECIAL) != 0, sink_push, &k, err);
        if (st) return st;
    }
    for (size_t w = 0; w < len && !st && !t->pipe;) {
        size_t we = hd_tok_window_end(s, len, w);
        for (size_t p = w; p < we && !st;) {
            size_t e = hd_tok_run_split(s, we, p);
            st = encode_segment(t, s + p, e - p, (flags & HD_TOKENIZER_ALLOW_SPECIAL) != 0, &k, &sc);
            p = e;
        }
        w = we;
    }
    hd_tok_scratch_free(&sc);
    if (st) return hd_error_set(err, st, "tokenizer: out of memory while encoding %zu bytes", len);
    if (flags & HD_TOKENIZER_ADD_EOS) sink_push(&k, t->eos);
    *n_out = k.n;
    if (k.n > k.cap)
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: output holds %zu ids, the text needs %zu", cap, k.n);
    return HD_OK;
}

/* ---- decode -------------------------------------------------------------- */

hd_status hd_tokenizer_decode(const hd_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char *out,
                              size_t cap, size_t *n_out, hd_error *err) {
    size_t need = 0;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab)
            return hd_error_set(err, HD_ERR_ARG, "tokenizer: id %d at position %zu is out of range [0, %d)", id, i,
                                t->n_vocab);
        if ((flags & HD_TOKENIZER_SKIP_SPECIAL) && t->special[id] == HD_TOK_SPECIAL) continue;
        if (out && need + t->len[id] <= cap) memcpy(out + need, t->blob + t->off[id], t->len[id]);
        need += t->len[id];
    }
    *n_out = need;
    if (out && need < cap) out[need] = 0;
    if (need > cap || (!out && need))
        return hd_error_set(err, HD_ERR_ARG, "tokenizer: output holds %zu bytes, the text needs %zu", cap, need);
    return HD_OK;
}

size_t hd_tokenizer_utf8_pending(const char *s, size_t len) {
    /* look back over at most 3 continuation bytes for a lead byte */
    size_t k = 0;
    while (k < len && k < 3 && ((uint8_t)s[len - 1 - k] & 0xc0) == 0x80) k++;
    if (k == len) return 0;
    uint8_t lead = (uint8_t)s[len - 1 - k];
    size_t want = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 1;
    if (want == 1 || k + 1 >= want) return 0;   /* ASCII, invalid lead, or complete */
    /* incomplete: hold the lead and its continuations back, if they can still
     * become a valid character */
    int32_t cp;
    uint8_t tmp[4] = {lead, 0x80, 0x80, 0x80};
    for (size_t i = 0; i < k; i++) tmp[1 + i] = (uint8_t)s[len - k + i];
    /* complete with the smallest continuation that keeps the prefix valid */
    if (lead == 0xe0 && k == 0) tmp[1] = 0xa0;
    if (lead == 0xf0 && k == 0) tmp[1] = 0x90;
    if (hd_tok_utf8_next(tmp, want, &cp) != (int)want) return 0;
    return k + 1;
}
