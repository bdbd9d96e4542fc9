/* lm/tokenizer_hf.h — reading a tokenizer.json's pipeline objects (internal;
 * see lm/tokenizer_hf.c for what is supported). */
#ifndef HD_TOKENIZER_HF_H
#define HD_TOKENIZER_HF_H

#include "lm/tokenizer_internal.h"

#include <cjson/cJSON.h>

/* normalizer + pre_tokenizer (+ decoder, checked to be null or ByteLevel) ->
 * a pipeline the caller frees with hd_tok_pipeline_free.  *llama3: it is
 * exactly Llama 3's (no normalizer, Split by the Llama 3 regex, ByteLevel
 * without regex), which the fast path implements. */
hd_status hd_tok_pipeline_from_json(const cJSON *normalizer, const cJSON *pre, const cJSON *decoder,
                                    const char *name, hd_tok_pipeline **out, bool *llama3, hd_error *err);
/* post_processor: *bos_name = the content of the one special token a
 * TemplateProcessing puts before the text (points into the JSON), or NULL. */
hd_status hd_tok_post_from_json(const cJSON *post, const char *name, const char **bos_name, hd_error *err);

#endif
