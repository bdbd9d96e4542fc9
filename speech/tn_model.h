/* speech/tn_model.h — the paper's streaming text-normalisation tagger (SPEC
 * §5.1): an LSTM over TN tokens that picks, per token, which hand-written TN
 * rule to apply, cross-attending to Llama 3 token embeddings, with a right
 * context of 3 TN tokens.
 *
 * TN tokens are runs of one character category (letters — any non-ASCII
 * character counts as a letter —, digits, white space) or one other
 * character (punctuation, symbols), as the paper demarcates TN chunks "by
 * Unicode category".  The rules are those of the rule-based normaliser
 * (speech/tn.h), one tag per token:
 *
 *   SELF      the rule-based normaliser decides (runs of SELF tokens are
 *             normalised together, so dates, money, times keep working)
 *   CARDINAL  a number token read as a quantity ("123" one hundred twenty three)
 *   DIGITS    digit by digit ("123" one two three)
 *   YEAR      as a year ("1984" nineteen eighty four)
 *   ORDINAL   as an ordinal ("5" fifth)
 *   LETTERS   spelled ("NASA" N A S A)
 *   VERBATIM  as written, no rule
 *   SILENT    dropped ("*", "#" used as decoration)
 * A tag that does not fit its token (CARDINAL on a word) falls back to SELF.
 *
 * Model (sizes are not in the paper; ours, stored in the file).  Token t has
 * hashed id b_t = 1 + FNV-1a(lower-case bytes) mod (B-1) (row 0 is the
 * end-of-text pad), category k_t ∈ {letters, digits, space, other}, and
 * chunk c_t (its word: the count of space tokens before it); Llama tokens j
 * have embeddings e_j (D_llm) and chunks g_j (nondecreasing):
 *
 *   x_t  = E[b_t] + C[k_t]                        (E_dim)
 *   h_t  = LSTM(x_t, h_{t-1})                     n_layer layers of H, PyTorch
 *                                                 nn.LSTM gates (i, f, g, o)
 *   the tag of token i is read at step s = i + R (R = 3 tokens of right
 *   context; after the last token, R pad steps x = E[0] + C[space]):
 *   z_i  = h_s + Attn(h_s, m)                     m_j = e_j (keys W_k e_j + b_k, values W_v e_j + b_v),
 *                                                 token j visible when g_j ≤ c_{min(s, n-1)};
 *                                                 no visible token: z_i = h_s
 *   logits_i = W_o z_i + b_o                      (n_tags), tag = argmax
 *
 * GGUF layout (general.architecture "tn"; PyTorch shapes, GGUF ne reversed):
 *   tn.hash_buckets u32 B, tn.embedding_length u32 E_dim, tn.hidden_size u32 H,
 *   tn.block_count u32 (LSTM layers), tn.attention.head_count u32,
 *   tn.token_embedding_length u32 D_llm, tn.lookahead_tokens u32 R,
 *   tn.tag_count u32 (8), tn.token_layer u32 (optional: the LM layer of e_j;
 *   absent or 0 = the LM's n_layer/2)
 *   tok_embd.weight [B, E_dim]      cat_embd.weight [4, E_dim]
 *   lstm.N.weight_ih [4H, in]  lstm.N.weight_hh [4H, H]  lstm.N.bias_ih [4H]  lstm.N.bias_hh [4H]
 *   attn_q.{weight [H, H], bias [H]}   attn_k.{weight [H, D_llm], bias [H]}
 *   attn_v.{weight [H, D_llm], bias [H]}   attn_o.{weight [H, H], bias [H]}
 *   output.weight [n_tags, H]  output.bias [n_tags]
 */
#ifndef HD_SPEECH_TN_MODEL_H
#define HD_SPEECH_TN_MODEL_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/weights.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_tn_tag {
    HD_TN_SELF = 0,
    HD_TN_CARDINAL,
    HD_TN_DIGITS,
    HD_TN_YEAR,
    HD_TN_ORDINAL,
    HD_TN_LETTERS,
    HD_TN_VERBATIM,
    HD_TN_SILENT,
    HD_TN_N_TAGS
} hd_tn_tag;

const char *hd_tn_tag_name(hd_tn_tag t);   /* "self", "cardinal", ... */

typedef enum hd_tn_cat { HD_TN_CAT_LETTERS = 0, HD_TN_CAT_DIGITS, HD_TN_CAT_SPACE, HD_TN_CAT_OTHER } hd_tn_cat;

typedef struct hd_tn_token {
    size_t start, len;     /* bytes of the text  */
    hd_tn_cat cat;
    int32_t chunk;         /* word index: space tokens before it */
} hd_tn_token;

/* Splits text[0, len) into TN tokens; *tokens malloc'ed (caller frees),
 * *n their count.  HD_ERR_NOMEM only. */
hd_status hd_tn_tokenize(const char *text, size_t len, hd_tn_token **tokens, int *n, hd_error *err);

/* The rule-based normaliser (speech/tn.h) driven by one tag per token (see
 * above).  Returns a malloc'ed NUL-terminated string or NULL (err set). */
char *hd_tn_normalize_tagged(const char *text, size_t len, const hd_tn_token *tokens, int n, const uint8_t *tags,
                             hd_error *err);

typedef struct hd_tn_config {
    int n_bucket;    /* B                 */
    int n_embd;      /* E_dim             */
    int n_hidden;    /* H                 */
    int n_layer;     /* LSTM layers       */
    int n_head;      /* attention heads, H % n_head == 0 */
    int n_llm;       /* D_llm             */
    int lookahead;   /* R (3 in the paper) */
    int n_tags;      /* HD_TN_N_TAGS      */
    int token_layer; /* the LM layer whose hidden states are e_j (lm/llama.h
                        hd_llama_set_hidden_capture); 0 = not stored: the
                        LM's n_layer/2 (16 for Llama 3 8B, as the paper)   */
} hd_tn_config;

/* "tiny" (B 512, E 16, H 24, 1 layer, 2 heads, D_llm 32, R 3: tests) and
 * "base" (B 32768, E 128, H 256, 2 layers, 4 heads, D_llm 4096, R 3); either
 * followed by "+LLAMA" with a Llama preset of lm/llama_config.h ("tiny+tiny",
 * "base+llama-3.1-8b") takes D_llm = that model's width and token_layer =
 * its n_layer/2. */
bool hd_tn_preset(const char *name, hd_tn_config *c);
hd_status hd_tn_config_to_gguf(const hd_tn_config *c, hd_gguf_writer *w, hd_error *err);

typedef struct hd_tn_model hd_tn_model;

hd_tn_model *hd_tn_model_load(const char *path, hd_error *err);
hd_tn_model *hd_tn_model_from_weights(const hd_weights *w, hd_error *err);   /* borrows w */
void hd_tn_model_free(hd_tn_model *m);   /* NULL no-op */
const hd_tn_config *hd_tn_model_config(const hd_tn_model *m);
/* The hashed id of a token's bytes (1..B-1). */
int32_t hd_tn_bucket(const hd_tn_model *m, const char *s, size_t len);

/* ---- streaming ------------------------------------------------------------
 * Tokens are pushed one by one (with their bytes for the hash); the logits
 * of token i come out once token i+R has been pushed, or after end. */
typedef struct hd_tn_stream hd_tn_stream;

hd_tn_stream *hd_tn_stream_create(const hd_tn_model *m, int max_llm_tokens, hd_error *err);
void hd_tn_stream_free(hd_tn_stream *s);   /* NULL no-op */
hd_status hd_tn_stream_add_llm(hd_tn_stream *s, int n, const float *emb, const int32_t *chunks, hd_error *err);
hd_status hd_tn_stream_push(hd_tn_stream *s, const char *bytes, size_t len, hd_tn_cat cat, int32_t chunk,
                            hd_error *err);
void hd_tn_stream_end(hd_tn_stream *s);
/* Next token's logits into logits[n_tags]: 1 (*index set), 0 = needs more
 * tokens, -1 error. */
int hd_tn_stream_step(hd_tn_stream *s, hd_exec *ex, float *logits, int *index, hd_error *err);

/* Whole text at once: tokens (hd_tn_tokenize) → logits [n][n_tags] and tags
 * [n] (argmax); Llama tokens optional (n_llm = 0).  Either output may be NULL. */
hd_status hd_tn_model_run(const hd_tn_model *m, hd_exec *ex, const char *text, const hd_tn_token *tokens, int n,
                          int n_llm, const float *llm_emb, const int32_t *llm_chunks, float *logits, uint8_t *tags,
                          hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
