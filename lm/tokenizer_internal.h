/* lm/tokenizer_internal.h — the tokenizer's parts, shared by lm/tokenizer*.c
 * and the unit test (not installed API).
 *
 *   tokenizer.c          the vocabulary object, rank map, specials, encode, decode
 *   tokenizer_pretok.c   UTF-8 classes, the Llama 3 regex, Meta's chunk limits
 *   tokenizer_bpe.c      byte-pair merging of one piece (scan and heap variants)
 *   tokenizer_load.c     tokenizer.model, tokenizer.json, GGUF vocabularies
 *   tokenizer_export.c   GGUF keys and HF tokenizer.json / tokenizer_config.json
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
};

/* ---- building (tokenizer.c) ---------------------------------------------- */
/* A tokenizer with n_vocab undefined ids; NULL on allocation failure. */
hd_tokenizer *hd_tok_new(int32_t n_vocab);
/* Defines id (once).  Ranked tokens are byte strings; specials are names. */
hd_status hd_tok_set(hd_tokenizer *t, int32_t id, const void *bytes, size_t len, bool special,
                     const char *name, hd_error *err);
/* Checks every id is defined, ranked byte strings are unique and all 256
 * single bytes exist; builds the map and the special table.  name: messages. */
hd_status hd_tok_finish(hd_tokenizer *t, const char *name, hd_error *err);
/* Defines ids base..base+255 as the specials of a naming scheme. */
hd_status hd_tok_name_specials(hd_tokenizer *t, int32_t base, hd_tokenizer_names names, const char *name,
                               hd_error *err);
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
/* Reserves at least bytes in sc. */
bool hd_tok_scratch_reserve(hd_tok_scratch *sc, size_t bytes);

#endif
