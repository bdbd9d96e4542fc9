/* speech/random_model_conformer.h — internal: the random-weight Conformer's
 * tensor list, shared by `random-model --arch conformer` (the encoder alone)
 * and `--arch speech` (lm/random_model_speech.c: encoder + adapter + LM). */
#ifndef HD_SPEECH_RANDOM_MODEL_CONFORMER_H
#define HD_SPEECH_RANDOM_MODEL_CONFORMER_H

#include "lm/random_model_impl.h"
#include "speech/conformer.h"

/* Appends every enc.* tensor of c to plan in module order (GGUF names only;
 * initialisation as described in random_model_conformer.c).  seed: the
 * file's seed (the depthwise kernels are stored as F32 data, generated
 * here with hd_random_model_value). */
hd_status hd_rm_conformer_plan(const hd_conformer_config *c, uint64_t seed, hd_rm_plan *plan, hd_error *err);

#endif
