/* speech/speech_file.h — telling a speech file from a language model file.
 *
 * A speech file (speech/speech_model.h: general.architecture "conformer",
 * encoder + adapter) names its language model in speech.lm_file, relative to
 * its own directory.  Commands, graph nodes and the server accept either
 * file as "the model" and find the LM through this one function. */
#ifndef HD_SPEECH_FILE_H
#define HD_SPEECH_FILE_H

#include "core/error.h"

#include <stdbool.h>

/* *lm_path (malloc'd, caller frees): for a speech file the LM it names, for
 * anything else `path` itself.  *is_speech (may be NULL) says which.
 * HD_ERR_ARG for a speech file without a usable speech.lm_file; GGUF open
 * errors name the file. */
hd_status hd_speech_file_lm_path(const char *path, char **lm_path, bool *is_speech, hd_error *err);

#endif
