/* lm/random_model_granite.h — internal: the Granite Speech tensor plans of
 * lm/random_model_granite.c, shared with speech/granite_speech_convert.c
 * (one list of names and shapes for the random checkpoints and for herd
 * convert). */
#ifndef HD_RANDOM_MODEL_GRANITE_H
#define HD_RANDOM_MODEL_GRANITE_H

#include "adapters/qformer.h"
#include "lm/random_model_impl.h"
#include "speech/granite_encoder.h"

/* encoder.* then projector.* in HF state_dict order, PyTorch shapes; the
 * GGUF names are the HF names without "encoder." / "projector." (GGUF names
 * hold at most 63 bytes; the two modules' names do not collide).
 * 3-D tensors (conv kernels, the queries) are F16 in a GGUF with a block type.
 * BatchNorm's num_batches_tracked is not listed (nothing reads it). */
hd_status hd_rm_granite_audio_plan(const hd_granite_encoder_config *e, const hd_qformer_config *q, hd_rm_plan *plan,
                                   hd_error *err);

/* The Granite LM of lm/random_model_llama.c's plan with the HF names under
 * "language_model." (GGUF names and the Q/K permutation unchanged); matrices
 * get std lm_std. */
hd_status hd_rm_granite_lm_plan(const hd_llama_config *text, float lm_std, hd_rm_plan *plan, hd_error *err);

#endif
