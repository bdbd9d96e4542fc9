/* lm/sampler.h — picks the next token from a row of logits.
 *
 * The pipeline, in Hugging Face's order (repetition penalty, then the
 * "warpers" temperature, top-k, top-p, min-p), then a draw:
 *
 *   1. repetition penalty r over the last `repeat_last_n` accepted tokens
 *      (CTRL paper): a logit l of a seen token becomes l/r if l > 0, else l·r
 *   2. temp == 0: greedy — the arg-max (lowest id on ties), done
 *   3. logits / temp, softmax
 *   4. top-k: keep the k most probable (k ≤ 0: off)
 *   5. top-p: keep the smallest most-probable set whose mass reaches p (p ≥ 1: off)
 *   6. min-p: drop tokens with probability < min_p · max probability (0: off)
 *   7. renormalise and draw with the sampler's own RNG
 *
 * The RNG (xoshiro256**, seeded through splitmix64) is private to the
 * sampler, so the same seed, logits and history give the same tokens on
 * every machine.  Buffers for the whole vocabulary are allocated at create:
 * sampling never allocates.  A sampler is per request (not thread-safe).
 */
#ifndef HD_SAMPLER_H
#define HD_SAMPLER_H

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_sampler_params {
    float temp;            /* 0 = greedy                          default 0.8  */
    int top_k;             /* ≤ 0 = off                           default 40   */
    float top_p;           /* ≥ 1 = off                           default 0.95 */
    float min_p;           /* ≤ 0 = off                           default 0.05 */
    float repeat_penalty;  /* 1 = off                             default 1.0  */
    int repeat_last_n;     /* window of the penalty, tokens       default 64   */
    uint64_t seed;         /*                                     default 0    */
} hd_sampler_params;

hd_sampler_params hd_sampler_default_params(void);

typedef struct hd_sampler hd_sampler;

/* HD_ERR_ARG with a message unless temp ≥ 0, top_p > 0, 0 ≤ min_p ≤ 1,
 * repeat_penalty > 0 and 0 ≤ repeat_last_n ≤ 2^20 (all finite). */
hd_status hd_sampler_params_check(const hd_sampler_params *p, hd_error *err);

/* Checks the params as above; caller frees with hd_sampler_free. */
hd_sampler *hd_sampler_create(const hd_sampler_params *p, int32_t n_vocab, hd_error *err);
void hd_sampler_free(hd_sampler *s);     /* NULL is a no-op */

/* The next token for logits[0..n_vocab) (not modified).  Does not record it:
 * call hd_sampler_accept with the token actually used. */
int32_t hd_sampler_sample(hd_sampler *s, const float *logits);
/* Adds a token to the penalty history (prompt tokens too, if wanted). */
void hd_sampler_accept(hd_sampler *s, int32_t token);
/* Clears the history and re-seeds the RNG with seed. */
void hd_sampler_reset(hd_sampler *s, uint64_t seed);

/* The sampler's uniform draw in [0, 1), exposed for tests. */
double hd_sampler_uniform(hd_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
