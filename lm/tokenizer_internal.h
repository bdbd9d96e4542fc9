/* lm/tokenizer_internal.h — the tokenizer's parts, shared by lm/tokenizer*.c
 * and the unit test (not installed API).
 *
 *   tokenizer.c          the vocabulary object, rank map, specials, encode, decode
 *   tokenizer_pretok.c   UTF-8 classes, the Llama 3 regex, Meta's chunk limits
 *   tokenizer_bpe.c      byte-pair merging of one piece (scan and heap variants)
 *   tokenizer_load.c     tokenizer.model, tokenizer.json, GGUF vocabularies
 *   tokenizer_export.c   GGUF keys and HF tokenizer.json / tokenizer_config.json
 *   tokenizer_hf.c       a tokenizer.json's normalizer / pre_tokenizer / post_processor
 *   tokenizer_regex.c    PCRE2 patterns with Oniguruma (HF tokenizers) semantics
 *   tokenizer_generic.c  encoding through such a pipeline (any byte-level BPE)
 */
#ifndef HD_TOKENIZER_INTERNAL_H
#define HD_TOKENIZER_INTERNAL_H

#include "lm/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HD_TOK_N_SPECIAL 256              /* Llama 3 special ids base..base+255      */
#define HD_TOK_MAX_VOCAB (1 << 24)        /* sanity limit for hostile files          */
#define HD_TOK_MAX_TOKEN_BYTES 4096       /* longest token (bytes or special name)   */
#define HD_TOK_CHUNK_CHARS 400000         /* Meta TIKTOKEN_MAX_ENCODE_CHARS          */
#define HD_TOK_MAX_RUN_CHARS 25000        /* Meta MAX_NO_WHITESPACES_CHARS           */
#define HD_TOK_BPE_SCAN_MAX 256           /* pieces up to this many bytes: O(n²) scan */

extern const char hd_tok_llama3_pattern[]; /* the pre-tokenizer regex, as in the files */
extern const char hd_tok_gpt2_pattern[];   /* ByteLevel's use_regex pattern (GPT-2)     */

/* Kinds of ids (hd_tokenizer.special[id]). */
#define HD_TOK_RANKED 0      /* a BPE token: its bytes                                    */
#define HD_TOK_SPECIAL 1     /* special added token (control): matched with ALLOW_SPECIAL  */
#define HD_TOK_ADDED 2       /* non-special added token: always matched, never skipped     */

/* Added-token flags (hd_tokenizer.aflags[id]), as in tokenizer.json. */
#define HD_TOK_LSTRIP 1
#define HD_TOK_RSTRIP 2
#define HD_TOK_SINGLE_WORD 4

/* ---- the generic pipeline (tokenizer_hf.c, tokenizer_regex.c) -------------- */
typedef struct hd_tok_regex hd_tok_regex;           /* compiled pattern; immutable, shareable */
typedef struct hd_tok_span { size_t a, b; } hd_tok_span;
typedef struct hd_tok_spans { hd_tok_span *v; size_t n, cap; } hd_tok_spans;

/* Compiles an Oniguruma-syntax pattern (as HF tokenizers writes them) for
 * PCRE2 (UTF, UCP, JIT when available); \s and \S are rewritten to the
 * Unicode White_Space set Oniguruma uses (PCRE2 adds U+180E).  literal: the
 * pattern is a plain string (Split {"String": ...}).  NULL with a message in
 * msg on error. */
hd_tok_regex *hd_tok_regex_compile(const char *pat, size_t len, bool literal, char *msg, size_t msg_cap);
void hd_tok_regex_free(hd_tok_regex *re);
/* The pattern as given to hd_tok_regex_compile (NUL-terminated, owned by re). */
const char *hd_tok_regex_source(const hd_tok_regex *re, size_t *len, bool *literal);
/* Appends the matches of re in s[0..n) (valid UTF-8) to out, with the
 * find_iter semantics of the onig crate (an empty match right after the
 * previous match is skipped).  HD_ERR_NOMEM, or HD_ERR_LIMIT-like failures of
 * the matcher as HD_ERR_UNSUPPORTED. */
hd_status hd_tok_regex_find(const hd_tok_regex *re, const uint8_t *s, size_t n, hd_tok_spans *out);
bool hd_tok_spans_push(hd_tok_spans *o, size_t a, size_t b);

typedef enum hd_tok_behavior {                      /* SplitDelimiterBehavior */
    HD_TOK_REMOVED, HD_TOK_ISOLATED, HD_TOK_MERGED_PREV, HD_TOK_MERGED_NEXT, HD_TOK_CONTIGUOUS
} hd_tok_behavior;

typedef enum hd_tok_step_kind {
    HD_TOK_STEP_SPLIT,        /* Split {pattern, behavior, invert}                         */
    HD_TOK_STEP_BYTELEVEL,    /* ByteLevel {add_prefix_space, use_regex (GPT-2 pattern)}    */
    HD_TOK_STEP_DIGITS,       /* Digits {individual_digits}: \p{N} chars                   */
    HD_TOK_STEP_PUNCT,        /* Punctuation {behavior}: ASCII punctuation and \p{P}        */
    HD_TOK_STEP_WSSPLIT,      /* WhitespaceSplit: White_Space removed                       */
} hd_tok_step_kind;

typedef struct hd_tok_step {
    hd_tok_step_kind kind;
    hd_tok_behavior behavior;
    bool invert;
    bool add_prefix_space;    /* ByteLevel                                                 */
    bool use_regex;           /* ByteLevel                                                 */
    bool individual;          /* Digits                                                    */
    bool llama3;              /* Split by the Llama 3 pattern: the hand-written matcher    */
    hd_tok_regex *re;         /* Split (unless llama3), ByteLevel with use_regex           */
} hd_tok_step;

typedef enum hd_tok_norm_kind {
    HD_TOK_NORM_NFC, HD_TOK_NORM_NFKC, HD_TOK_NORM_NFD, HD_TOK_NORM_NFKD,
    HD_TOK_NORM_PREPEND,      /* text prepended to a non-empty segment                     */
    HD_TOK_NORM_REPLACE,      /* every match of re replaced by text                        */
} hd_tok_norm_kind;

typedef struct hd_tok_norm {
    hd_tok_norm_kind kind;
    char *text;               /* owned; PREPEND / REPLACE content                          */
    size_t len;
    hd_tok_regex *re;         /* REPLACE                                                   */
} hd_tok_norm;

typedef struct hd_tok_pipeline {
    hd_tok_norm *norm;        /* [n_norm] applied in order                                 */
    int n_norm;
    hd_tok_step *steps;       /* [n_steps] pre-tokenizers, in order                        */
    int n_steps;
} hd_tok_pipeline;

void hd_tok_pipeline_free(hd_tok_pipeline *p);    /* NULL is a no-op; frees p itself */
/* The llama.cpp tokenizer.ggml.pre name of a pipeline ("llama-bpe", "gpt-2",
 * "refact"), or NULL when llama.cpp has no name for it. */
const char *hd_tok_pipeline_pre_name(const hd_tok_pipeline *p);
/* The pipeline a llama.cpp pre name stands for ("gpt-2"; "refact" and
 * "starcoder": Digits + GPT-2).  The Llama 3 names give HD_OK and *out NULL
 * (the fast path); other names HD_ERR_UNSUPPORTED naming file `name`. */
hd_status hd_tok_pipeline_for_pre(const char *pre, size_t len, const char *name, hd_tok_pipeline **out,
                                  hd_error *err);
/* Llama 3's pipeline (Split by its regex, hand-matched, + ByteLevel) for the
 * generic encoder: vocabularies with that pre-tokenizer whose merges are not
 * in rank order. */
hd_status hd_tok_pipeline_llama3(const char *name, hd_tok_pipeline **out, hd_error *err);

struct hd_tokenizer {
    int32_t n_vocab;          /* ids 0..n_vocab-1, every one defined                 */
    int32_t n_ranked;         /* ordinary (BPE) tokens; rank = id                    */
    uint32_t *off;            /* [n_vocab] byte offset of the token's bytes in blob  */
    uint32_t *len;            /* [n_vocab] byte length                               */
    uint8_t *special;         /* [n_vocab] 1 = special (name in blob), 0 = ranked    */
    char *blob;               /* token bytes and special names                       */
    size_t blob_size, blob_cap;

    /* bytes -> id of ranked tokens: open addressing, linear probing.  A slot
     * holds the first 8 bytes and the length, so most lookups touch one
     * cache line and no memcmp. */
    uint32_t map_mask;        /* capacity - 1 (power of two)                         */
    struct hd_tok_slot {
        uint64_t head;        /* first min(len, 8) bytes, zero-padded, little-endian */
        uint32_t meta;        /* high hash bits | len (13 bits)                       */
        int32_t id;           /* -1 = empty                                          */
    } *map;                   /* [capacity]                                          */

    /* specials, for ALLOW_SPECIAL matching */
    int32_t *spec_ids;        /* [n_spec] ids of special tokens, longest name first  */
    int32_t n_spec;
    uint8_t spec_first[256];  /* 1 if some special name starts with this byte        */

    int32_t bos, eos, eot, eom;  /* -1 if absent                                     */
    int32_t file_eos;            /* GGUF tokenizer.ggml.eos_token_id, or -1          */

    /* Generic byte-level BPE (any HF tokenizer.json other than Llama 3's exact
     * one, GGUF pre other than llama-bpe).  NULL pipe: the Llama 3 path
     * (hand-written regex, Meta's chunk limits, rank-order merging). */
    hd_tok_pipeline *pipe;
    uint8_t *aflags;             /* [n_vocab] HD_TOK_LSTRIP | RSTRIP | SINGLE_WORD    */
    bool merge_mode;             /* merge by the merges' priority (HF BPE), not rank  */
    bool ignore_merges;          /* a piece that is a token is taken whole            */
    bool fuse_unk;
    bool adds_bos;               /* the post-processor puts bos first                 */
    bool require_all_bytes;      /* hd_tok_finish: every byte must be a token          */
    int32_t unk;                 /* model.unk_token id, or -1                          */
    int32_t byte_id[256];        /* id of each single byte, -1 if none                 */
    /* merges: (left id, right id) -> (priority, merged id); open addressing */
    struct hd_tok_merge_slot {
        uint64_t key;            /* left << 32 | right; UINT64_MAX = empty            */
        int32_t rank, id;
    } *mtab;
    uint32_t mtab_mask;
    int32_t *merges;             /* [2 * n_merges] left, right ids in priority order  */
    int32_t n_merges;
};

/* ---- building (tokenizer.c) ---------------------------------------------- */
/* A tokenizer with n_vocab undefined ids; NULL on allocation failure. */
hd_tokenizer *hd_tok_new(int32_t n_vocab);
/* Defines id (once).  Ranked tokens are byte strings; specials are names. */
hd_status hd_tok_set(hd_tokenizer *t, int32_t id, const void *bytes, size_t len, bool special,
                     const char *name, hd_error *err);
/* The same with a kind (HD_TOK_RANKED, HD_TOK_SPECIAL, HD_TOK_ADDED). */
hd_status hd_tok_set_kind(hd_tokenizer *t, int32_t id, const void *bytes, size_t len, int kind, const char *name,
                          hd_error *err);
/* Checks every id is defined, ranked byte strings are unique and all 256
 * single bytes exist; builds the map and the special table.  name: messages. */
hd_status hd_tok_finish(hd_tokenizer *t, const char *name, hd_error *err);
/* Defines ids base..base+255 as the specials of a naming scheme. */
hd_status hd_tok_name_specials(hd_tokenizer *t, int32_t base, hd_tokenizer_names names, const char *name,
                               hd_error *err);
/* Adds a merge with the next priority (a later duplicate pair replaces the
 * earlier one, as in HF).  Ids must be ranked tokens; HD_ERR_NOMEM only. */
hd_status hd_tok_add_merge(hd_tokenizer *t, int32_t l, int32_t r, int32_t id);
/* The merge of pair (l, r): priority and result, false if none. */
bool hd_tok_merge_find(const hd_tokenizer *t, int32_t l, int32_t r, int32_t *rank, int32_t *id);
/* Rank (= id) of a ranked byte string, or -1. */
int32_t hd_tok_rank(const hd_tokenizer *t, const uint8_t *s, size_t n);

/* ---- GPT-2 byte <-> unicode (tokenizer.c) ---------------------------------- */
/* The code point GPT-2's bytes_to_unicode assigns to byte b. */
uint32_t hd_tok_gpt2_cp(uint8_t b);
/* Decodes a GPT-2 unicode string (UTF-8) into bytes; out holds len bytes at
 * least.  Returns the byte count, or -1 if s holds a character outside the map. */
long hd_tok_gpt2_decode(const char *s, size_t len, uint8_t *out);
/* Encodes bytes as a GPT-2 unicode string (UTF-8, at most 2 bytes per byte). */
size_t hd_tok_gpt2_encode(const uint8_t *b, size_t n, char *out);

/* ---- pre-tokenizer (tokenizer_pretok.c) ----------------------------------- */
/* Decodes one UTF-8 character at s[0..n) (n >= 1): returns its length (1..4)
 * and sets *cp; an invalid start gives length 1 and *cp = -1. */
int hd_tok_utf8_next(const uint8_t *s, size_t n, int32_t *cp);
/* End (exclusive) of the regex piece that starts at pos in s[0..n), pos < n;
 * s[0..n) is the whole text the regex sees (its end is the regex's end). */
size_t hd_tok_pretok_next(const uint8_t *s, size_t n, size_t pos);
/* Character classes of the regex: bit 1 \p{L}, 2 \p{N}, 4 \s, 8 \r or \n,
 * 16 invalid (cp < 0); 0 = other.  The ASCII variant is the fast path. */
int hd_tok_class_of_cp(int32_t cp);
int hd_tok_class_of_ascii(uint8_t c);
/* Python str.isspace() of a code point (Meta's whitespace-run limit). */
bool hd_tok_py_isspace(int32_t cp);
/* Meta's chunk limits: the end of the 400 000-character window starting at
 * pos, and the end of the segment starting at pos inside [pos, end) once runs
 * of more than 25 000 whitespace / non-whitespace characters are cut
 * (Tokenizer._split_whitespaces_or_nonwhitespaces). */
size_t hd_tok_window_end(const uint8_t *s, size_t n, size_t pos);
size_t hd_tok_run_split(const uint8_t *s, size_t end, size_t pos);

/* ---- BPE (tokenizer_bpe.c) -------------------------------------------------- */
/* Scratch memory reused across pieces of one encode call. */
typedef struct hd_tok_scratch {
    void *mem;
    size_t cap;
} hd_tok_scratch;
void hd_tok_scratch_free(hd_tok_scratch *s);
/* Merges piece s[0..n) (n >= 2, not itself a token) and calls emit for each
 * resulting token in order.  The two variants give identical results; the
 * encoder uses scan up to HD_TOK_BPE_SCAN_MAX bytes.  HD_ERR_NOMEM only. */
typedef void (*hd_tok_emit_fn)(void *ctx, int32_t id);
hd_status hd_tok_bpe_scan(const hd_tokenizer *t, const uint8_t *s, size_t n, hd_tok_scratch *sc,
                          hd_tok_emit_fn emit, void *ctx);
hd_status hd_tok_bpe_heap(const hd_tokenizer *t, const uint8_t *s, size_t n, hd_tok_scratch *sc,
                          hd_tok_emit_fn emit, void *ctx);
/* Hugging Face's BPE (tokenizers Word::merge_all): starts from one symbol per
 * byte (missing bytes: unk, fused when fuse_unk, or dropped), then applies the
 * pair of lowest merge priority, leftmost on ties, until none applies. */
hd_status hd_tok_bpe_merges(const hd_tokenizer *t, const uint8_t *s, size_t n, hd_tok_scratch *sc,
                            hd_tok_emit_fn emit, void *ctx);
/* The generic encoder (tokenizer_generic.c): text s[0..n) through added
 * tokens, normalizers, pre-tokenizers and the model; emits ids. */
hd_status hd_tok_encode_generic(const hd_tokenizer *t, const uint8_t *s, size_t n, bool allow_special,
                                hd_tok_emit_fn emit, void *ctx, hd_error *err);
/* Reserves at least bytes in sc. */
bool hd_tok_scratch_reserve(hd_tok_scratch *sc, size_t bytes);

#endif
