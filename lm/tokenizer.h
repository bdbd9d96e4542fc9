/* lm/tokenizer.h — byte-level BPE tokenizers: Llama 3's (SPEC §1.8,
 * tiktoken-style) and any Hugging Face byte-level BPE tokenizer.json (GPT-2,
 * Granite 3.x, ...), each with its own pre-tokenizer.
 *
 * Sources, detected from the file's content:
 *   - Meta's tokenizer.model (tiktoken: "base64(bytes) rank" per line); the
 *     256 special tokens get Meta llama-models names (HD_TOKENIZER_NAMES_META);
 *   - Hugging Face tokenizer.json: model BPE (vocab, merges as "a b" or
 *     [a, b], ignore_merges, unk_token, fuse_unk; byte_fallback, dropout and
 *     subword prefixes/suffixes are refused), added_tokens (special or not;
 *     lstrip / rstrip / single_word applied), and the file's own normalizer,
 *     pre_tokenizer, post_processor and decoder (lm/tokenizer_hf.c lists the
 *     supported types; regexes run on PCRE2);
 *     a sibling tokenizer_config.json, when present, names bos_token and
 *     eos_token (not for the Llama 3 file, whose ids are fixed by name);
 *   - the vocabulary inside a GGUF (tokenizer.ggml.model "gpt2"; .pre
 *     "llama-bpe", "gpt-2", "refact" or "starcoder"): tokens / token_type /
 *     merges / bos / eos / add_bos_token;
 *   - a directory: its tokenizer.json, else tokenizer.model, else
 *     original/tokenizer.model.
 *
 * Two encoders.  The Llama 3 one (tokenizer.model; a tokenizer.json whose
 * pipeline is exactly Llama 3's and whose merges are in rank order; GGUF
 * "llama-bpe" with merges in rank order) is the hand-written fast path
 * described below.  Every other
 * tokenizer.json / GGUF goes through the generic pipeline
 * (lm/tokenizer_generic.c) with Hugging Face tokenizers' semantics: added
 * tokens, normalizers, pre-tokenizers, then BPE by merge priority (leftmost
 * on ties; ignore_merges takes a piece that is a token whole).  Its Unicode
 * classes are PCRE2's / utf8proc's (\s = White_Space as in Oniguruma).
 * Invalid UTF-8 on the generic path: each invalid byte is a piece of its own
 * (its byte token) and the valid text around it is encoded as separate texts.
 * Ids: "special" below means added tokens marked special; non-special added
 * tokens are always matched in the text and never skipped when decoding.
 * Added tokens are found in the text before normalization (tokenizers
 * matches "normalized": true ones after it: the same unless the normalizer
 * changes their content).  Ids must be contiguous (0..max id all defined).
 *
 * Llama 3 merges: checked for consistency with the ranks (each merge's parts
 * and result exist, results in non-decreasing rank order); encoding uses the
 * ranks (tiktoken semantics, equal to HF's ignore_merges byte-level BPE).
 *
 * Llama 3 encoding (Meta's Tokenizer.encode):
 *   1. the text is cut into chunks of at most 400 000 characters, and no run
 *      of more than 25 000 consecutive whitespace (Python str.isspace) or
 *      non-whitespace characters is kept together;
 *   2. with HD_TOKENIZER_ALLOW_SPECIAL, special-token names found in a chunk
 *      become their ids (longest name wins at a position); otherwise they are
 *      ordinary text;
 *   3. the text between them is split by the Llama 3 pre-tokenizer regex
 *      (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *       ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *      with Unicode classes from utf8proc (\s = the White_Space property);
 *   4. each piece: if its bytes are a token, that token; else byte-pair merges,
 *      lowest rank of the merged bytes first, leftmost on ties.
 *
 * Invalid UTF-8: the input is bytes.  A byte that does not start a valid UTF-8
 * sequence (stray continuation byte, overlong form, surrogate, > U+10FFFF,
 * truncated sequence) is one character of its own: it always forms a piece by
 * itself (hence exactly its single-byte token), and to its neighbours it looks
 * like a non-space symbol (it ends a whitespace run as `\S`; for Meta's run
 * limit it is one non-whitespace character).  Encoding never fails on content,
 * and decode(encode(x)) == x for every byte string x, with or without
 * ALLOW_SPECIAL (special tokens decode to their names).
 *
 * Decoding returns raw bytes: the concatenation of the tokens' bytes (special
 * tokens as their names).  A token may hold part of a UTF-8 character, so a
 * prefix of a token sequence can end (or, for arbitrary id sequences, contain)
 * invalid UTF-8; hd_tokenizer_utf8_pending() tells a streaming printer how many
 * trailing bytes to hold back.
 *
 * A tokenizer is immutable after loading (except hd_tokenizer_set_names) and
 * may be used from many threads at once.
 */
#ifndef HD_TOKENIZER_H
#define HD_TOKENIZER_H

#include "core/error.h"
#include "core/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_tokenizer hd_tokenizer;

/* encode flags */
#define HD_TOKENIZER_ADD_BOS       (1u << 0)  /* prepend the BOS id                       */
#define HD_TOKENIZER_ADD_EOS       (1u << 1)  /* append <|end_of_text|> (Meta's eos=True)  */
#define HD_TOKENIZER_ALLOW_SPECIAL (1u << 2)  /* parse special-token names in the text     */
/* decode flags */
#define HD_TOKENIZER_SKIP_SPECIAL  (1u << 0)  /* leave special tokens out of the text      */

/* Special-token naming schemes for ids base..base+255 (base = the id of
 * <|begin_of_text|>, 128000); see fixtures/tokenizer/special_tokens.tsv. */
typedef enum hd_tokenizer_names {
    HD_TOKENIZER_NAMES_META = 0,   /* llama-models llama3/tokenizer.py (3.1/3.2 native):
                                      128011 <|image|>, reserved _2.._245 from 128012   */
    HD_TOKENIZER_NAMES_LLAMA3_0,   /* HF Meta-Llama-3: reserved _0.._3, _4 at 128008 ... _250 */
    HD_TOKENIZER_NAMES_LLAMA3_1,   /* HF Llama-3.1/3.2 text: eom/python_tag, reserved _2 at
                                      128005, _3.._247 from 128011                       */
} hd_tokenizer_names;

/* Loads tokenizer.model, tokenizer.json, a GGUF file or a directory (see top).
 * Caller frees with hd_tokenizer_free. */
hd_tokenizer *hd_tokenizer_load(const char *path, hd_error *err);
/* From an open GGUF (its tokenizer.ggml.* keys); g may be closed afterwards. */
hd_tokenizer *hd_tokenizer_from_gguf(const hd_gguf *g, hd_error *err);
/* From file contents in memory (not kept); name is used in messages. */
hd_tokenizer *hd_tokenizer_from_tiktoken(const void *data, size_t size, const char *name, hd_error *err);
hd_tokenizer *hd_tokenizer_from_hf_json(const void *data, size_t size, const char *name, hd_error *err);
void hd_tokenizer_free(hd_tokenizer *tok);                      /* NULL is a no-op */

/* Renames the 256 special tokens base..base+255 by a scheme.  HD_ERR_ARG if the
 * tokenizer has no <|begin_of_text|> followed by 256 special ids. */
hd_status hd_tokenizer_set_names(hd_tokenizer *tok, hd_tokenizer_names names, hd_error *err);

int32_t hd_tokenizer_n_vocab(const hd_tokenizer *tok);      /* all ids: 128256 (or 128257) */
int32_t hd_tokenizer_n_ranked(const hd_tokenizer *tok);     /* BPE tokens: 128000          */
/* Special ids, -1 when the vocabulary has no such token. */
int32_t hd_tokenizer_bos(const hd_tokenizer *tok);   /* <|begin_of_text|> (GGUF: bos_token_id) */
int32_t hd_tokenizer_eos(const hd_tokenizer *tok);   /* <|end_of_text|>                         */
int32_t hd_tokenizer_eot(const hd_tokenizer *tok);   /* <|eot_id|>                              */
int32_t hd_tokenizer_eom(const hd_tokenizer *tok);   /* <|eom_id|>                              */
/* Generation stop ids: end_of_text, eom, eot (those present) and a GGUF
 * eos_token_id if different; returns the count (at most 4), fills up to cap. */
int hd_tokenizer_stop_ids(const hd_tokenizer *tok, int32_t *out, int cap);
bool hd_tokenizer_is_stop(const hd_tokenizer *tok, int32_t id);
/* Id of the special token with this exact name (e.g. "<|image|>"), or -1. */
int32_t hd_tokenizer_find_special(const hd_tokenizer *tok, const char *name);
bool hd_tokenizer_is_special(const hd_tokenizer *tok, int32_t id);
/* Whether the file's post-processor puts bos first (what HF's encode does with
 * add_special_tokens=True; Llama 3 tokenizer.json / tokenizer.model: true,
 * GPT-2 and Granite: false).  Callers pass HD_TOKENIZER_ADD_BOS accordingly. */
bool hd_tokenizer_adds_bos(const hd_tokenizer *tok);
/* llama.cpp's tokenizer.ggml.pre name of the pre-tokenizer ("llama-bpe",
 * "gpt-2", "refact"), or NULL when llama.cpp has none for it. */
const char *hd_tokenizer_pre_name(const hd_tokenizer *tok);

/* Encodes len bytes of text.  Writes at most cap ids to out and sets *n_out
 * to the number of ids the text needs; if that exceeds cap the result is
 * HD_ERR_ARG (out holds the first cap ids).  len + 2 ids always suffice. */
hd_status hd_tokenizer_encode(const hd_tokenizer *tok, const char *text, size_t len, unsigned flags,
                              int32_t *out, size_t cap, size_t *n_out, hd_error *err);

/* The bytes of one token (special tokens: their name), not NUL-terminated,
 * owned by the tokenizer.  NULL (and *len = 0) for an id out of range. */
const char *hd_tokenizer_token_bytes(const hd_tokenizer *tok, int32_t id, size_t *len);

/* Decodes ids to bytes (see top: raw bytes, possibly invalid UTF-8).  Writes
 * at most cap bytes and NUL-terminates when room is left; *n_out = bytes
 * needed.  HD_ERR_ARG for an id out of range or when cap is too small. */
hd_status hd_tokenizer_decode(const hd_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                              char *out, size_t cap, size_t *n_out, hd_error *err);

/* Number of trailing bytes of s[0..len) that start a UTF-8 character not yet
 * complete (0..3): a streaming printer emits len minus this and waits. */
size_t hd_tokenizer_utf8_pending(const char *s, size_t len);

/* ---- export -------------------------------------------------------------- */

/* Sets llama.cpp's tokenizer keys on w: tokenizer.ggml.model "gpt2",
 * .pre (hd_tokenizer_pre_name; HD_ERR_UNSUPPORTED when it has none), .tokens
 * (GPT-2 unicode strings; added tokens by content), .token_type (1 normal,
 * 3 control = special, 4 user-defined = non-special added), .merges ("a b":
 * the file's merges in priority order; for Llama 3 derived from the ranks as
 * HF's tiktoken converter does: every split of every token into two tokens,
 * in rank order), .bos_token_id (when there is a bos), .add_bos_token,
 * .eos_token_id = eos_id (Llama 3: 128009 for instruct models, 128001 for
 * base models). */
hd_status hd_tokenizer_to_gguf(const hd_tokenizer *tok, hd_gguf_writer *w, int32_t eos_id, hd_error *err);

/* Writes DIR/tokenizer.json and DIR/tokenizer_config.json (HF format; eos_id
 * names eos_token and must be an added token).  Llama 3 tokenizers: the Llama
 * 3 pre-tokenizer, BOS template, chat template and merges derived from the
 * ranks, as above.  Others: their own normalizers / pre-tokenizers, added
 * tokens with their flags, merges in priority order, ignore_merges / unk /
 * fuse_unk, a BOS template when hd_tokenizer_adds_bos (ByteLevel otherwise),
 * bos_token when there is a bos; no chat template.  DIR must exist. */
hd_status hd_tokenizer_write_hf(const hd_tokenizer *tok, const char *dir, int32_t eos_id, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
