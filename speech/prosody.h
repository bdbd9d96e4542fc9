/* speech/prosody.h — the paper's prosody model (SPEC §5.2): a decoder-only
 * (causal) Transformer predicting, per phone, log duration, log F0 and log
 * power, with a lookahead over future phones and tokens and cross-attention
 * to Llama 3 embeddings.
 *
 * The paper gives 6 heads, a feed-forward hidden size of 864, a dual
 * cross-attention (phone-rate linguistic inputs; token-rate Llama 3
 * embeddings), a lookahead of a fixed number of phones plus the TN chunk of
 * tokens, causal masking and the delayed pattern.  Everything else is ours,
 * stated here and stored in the file.  For phones i = 0..N-1 with phone ids
 * p_i, linguistic features f_i (4 values: word start, word end, pause, last
 * phone of the utterance; 0/1), chunk c_i (the TN chunk / word the phone
 * belongs to, nondecreasing), and Llama tokens t = 0..T-1 with embeddings
 * e_t (width D_llm, the 16th layer of Llama 3 8B in the paper) and chunks
 * k_t (nondecreasing):
 *
 *   PE(i)  sinusoidal position embedding of width D (sin on even, cos on odd
 *          dims, 10000^(-2j/D) frequencies)
 *   l_i  = E[p_i] + W_f·f_i + b_f + PE(i)            linguistic memory  (D, N)
 *   m_t  = W_t·e_t + b_t                             token memory       (D, T)
 *   x_i  = W_y·y_{i-1} + b_y + E[p_i] + PE(i)        decoder input      (D, N)
 *          y_{i-1} = the previous phone's 3 outputs (0 for i = 0): the
 *          decoder is autoregressive (delayed pattern: phone i's output is
 *          produced once phone i+L is known)
 *   per layer:
 *     x += SelfAttn(LN_a(x))       causal over phones
 *     x += LingAttn(LN_l(x), l)    phone i sees l_j for j ≤ i + L   (L = lookahead phones)
 *     x += TokAttn(LN_t(x), m)     phone i sees m_t with k_t ≤ c_{min(i+L, N-1)}: the
 *                                  chunk of its newest phone, taken in when that
 *                                  chunk's first phone becomes current; skipped for a
 *                                  phone that sees no token (no LM: T = 0)
 *     x += W_down·GELU(W_up·LN_f(x) + b_up) + b_down    the "dual fully connected layers"
 *   y_i  = W_o·LN_o(x_i) + b_o = (log duration [s], log F0 [Hz], log power [mean square])
 *
 * LayerNorms with weight and bias; attention H heads of d = D/H with biases
 * on q, k, v and output; exact (erf) GELU.
 *
 * GGUF layout (general.architecture "prosody"; PyTorch shapes [out, in],
 * GGUF ne reversed):
 *   prosody.embedding_length      u32  D
 *   prosody.block_count           u32  layers
 *   prosody.attention.head_count  u32  H
 *   prosody.feed_forward_length   u32  F (864 in the paper)
 *   prosody.token_embedding_length u32 D_llm
 *   prosody.lookahead_phones      u32  L
 *   prosody.token_layer           u32  optional: the LM layer of e_t (absent
 *                                 or 0: the LM's n_layer/2)
 *   prosody.attention.layer_norm_epsilon f32
 *   prosody.phones                string array: the phone inventory (espeak-ng
 *                                 mnemonics); row 0 is used for unknown phones
 *   tensors:
 *   phone_embd.weight [V, D]
 *   feat_proj.weight [D, 4]      feat_proj.bias [D]
 *   prev_proj.weight [D, 3]      prev_proj.bias [D]
 *   tok_proj.weight [D, D_llm]   tok_proj.bias [D]
 *   blk.N.{self,ling,tok}_norm.{weight,bias} [D]
 *   blk.N.{self,ling,tok}_{q,k,v,o}.weight [D, D]   .bias [D]
 *   blk.N.ffn_norm.{weight,bias} [D]
 *   blk.N.ffn_up.weight [F, D]   blk.N.ffn_up.bias [F]
 *   blk.N.ffn_down.weight [D, F] blk.N.ffn_down.bias [D]
 *   output_norm.{weight,bias} [D]
 *   output.weight [3, D]         output.bias [3]
 * Matrices any type core/ops.h multiplies; phone_embd any type (F32 copy at
 * load); vectors F32.
 */
#ifndef HD_SPEECH_PROSODY_H
#define HD_SPEECH_PROSODY_H

#include "core/error.h"
#include "core/exec.h"
#include "core/gguf.h"
#include "core/weights.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_PROSODY_N_FEAT 4   /* word start, word end, pause, last phone */
#define HD_PROSODY_N_OUT 3    /* log duration, log F0, log power */

typedef struct hd_prosody_config {
    int n_embd;       /* D                                  */
    int n_layer;
    int n_head;       /* H (6 in the paper), D % H == 0     */
    int n_ff;         /* F (864 in the paper)               */
    int n_llm;        /* D_llm (4096 for Llama 3 8B)        */
    int lookahead;    /* L, future phones seen              */
    float norm_eps;
    int token_layer;  /* the LM layer whose hidden states are e_t (lm/llama.h
                         hd_llama_set_hidden_capture); 0 = not stored: the
                         LM's n_layer/2 (16 for Llama 3 8B, the paper's)   */
} hd_prosody_config;

/* Presets: "tiny" (D 48, 2 layers, 6 heads, F 96, D_llm 64, L 3: tests) and
 * "paper" (D 384, 6 layers, 6 heads, F 864, D_llm 4096, L 3); either
 * followed by "+LLAMA" with a Llama preset of lm/llama_config.h ("tiny+tiny",
 * "paper+llama-3.1-8b") takes D_llm = that model's width and token_layer =
 * its n_layer/2, so the model cross-attends to that LM.  false for an
 * unknown name. */
bool hd_prosody_preset(const char *name, hd_prosody_config *c);
hd_status hd_prosody_config_check(const hd_prosody_config *c, hd_error *err);
/* Writes the prosody.* keys and the default phone inventory (not
 * general.architecture). */
hd_status hd_prosody_config_to_gguf(const hd_prosody_config *c, hd_gguf_writer *w, hd_error *err);

/* The phone inventory of the random-weight writer: espeak-ng's English
 * phonemes ("<unk>" first), NULL-terminated. */
const char *const *hd_prosody_default_phones(void);

typedef struct hd_prosody_model hd_prosody_model;

hd_prosody_model *hd_prosody_load(const char *path, hd_error *err);
/* Borrows w (it must outlive the model). */
hd_prosody_model *hd_prosody_from_weights(const hd_weights *w, hd_error *err);
void hd_prosody_free(hd_prosody_model *m);   /* NULL no-op */
const hd_prosody_config *hd_prosody_config_of(const hd_prosody_model *m);
/* Row of a phone name in the inventory, 0 (unknown) when absent. */
int hd_prosody_phone_id(const hd_prosody_model *m, const char *name);
int hd_prosody_n_phones(const hd_prosody_model *m);   /* V */

/* One utterance's inputs. */
typedef struct hd_prosody_input {
    int n_phones;                 /* N ≥ 1                                      */
    const int32_t *phone_ids;     /* [N], 0..V-1                                */
    const float *feats;           /* [N][4]                                     */
    const int32_t *phone_chunk;   /* [N] nondecreasing                          */
    int n_tokens;                 /* T ≥ 0                                      */
    const float *tok_emb;         /* [T][D_llm] (NULL when T = 0)               */
    const int32_t *tok_chunk;     /* [T] nondecreasing (NULL when T = 0)        */
} hd_prosody_input;

/* Whole-utterance forward with given decoder inputs (teacher forcing):
 * y_prev[N][3], row i = the outputs taken as phone i-1's (row 0 is ignored
 * and read as zeros); out[N][3].  All phones in one pass with masks. */
hd_status hd_prosody_forward(const hd_prosody_model *m, hd_exec *ex, const hd_prosody_input *in,
                             const float *y_prev, float *out, hd_error *err);

/* Autoregressive prediction of a whole utterance (each phone's output is
 * the next phone's y_prev), through the streaming path. */
hd_status hd_prosody_predict(const hd_prosody_model *m, hd_exec *ex, const hd_prosody_input *in, float *out,
                             hd_error *err);

/* ---- streaming ------------------------------------------------------------
 * Phones and tokens are added as they arrive; hd_prosody_stream_step
 * produces the next phone's outputs as soon as its lookahead is known
 * (phone i needs phones up to i+L, or the end of the utterance).  Tokens of a
 * chunk must be added before the phone that makes the chunk current is
 * stepped over.  Capacities are fixed at creation. */
typedef struct hd_prosody_stream hd_prosody_stream;

hd_prosody_stream *hd_prosody_stream_create(const hd_prosody_model *m, int max_phones, int max_tokens,
                                            hd_error *err);
void hd_prosody_stream_free(hd_prosody_stream *s);   /* NULL no-op */
hd_status hd_prosody_stream_add_phone(hd_prosody_stream *s, int32_t phone_id, const float feats[4], int32_t chunk,
                                      hd_error *err);
hd_status hd_prosody_stream_add_tokens(hd_prosody_stream *s, int n, const float *emb, const int32_t *chunks,
                                       hd_error *err);
/* Marks the end of the utterance (the last phones no longer wait for lookahead). */
void hd_prosody_stream_end(hd_prosody_stream *s);
/* Computes the next phone's outputs into out[3] and returns 1 (*index = the
 * phone), 0 when more input is needed, -1 on error. */
int hd_prosody_stream_step(hd_prosody_stream *s, hd_exec *ex, float out[3], int *index, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
