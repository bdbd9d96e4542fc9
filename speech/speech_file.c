/* speech/speech_file.c — a speech file's language model (see speech_file.h). */
#include "speech_file.h"

#include "core/gguf.h"

#include <stdlib.h>
#include <string.h>

hd_status hd_speech_file_lm_path(const char *path, char **out, bool *is_speech, hd_error *err) {
    size_t n = strlen(path);
    *out = NULL;
    if (is_speech) *is_speech = false;
    if (n > 5 && !strcmp(path + n - 5, ".gguf")) {
        hd_gguf *g = hd_gguf_open(path, err);
        if (!g) return err ? err->code : HD_ERR_IO;
        const char *arch, *lm;
        size_t al, ll;
        bool speech = hd_gguf_get_str(g, "general.architecture", &arch, &al) && al == 9 && !memcmp(arch, "conformer", 9);
        if (speech) {
            if (!hd_gguf_get_str(g, "speech.lm_file", &lm, &ll) || ll == 0 || memchr(lm, '/', ll) || memchr(lm, 0, ll)) {
                hd_gguf_close(g);
                return hd_error_set(err, HD_ERR_ARG,
                                    "%s is a speech encoder file without a speech.lm_file key: give the language "
                                    "model file as well",
                                    path);
            }
            const char *slash = strrchr(path, '/');
            size_t dl = slash ? (size_t)(slash - path + 1) : 0;
            *out = malloc(dl + ll + 1);
            if (*out) {
                memcpy(*out, path, dl);
                memcpy(*out + dl, lm, ll);
                (*out)[dl + ll] = 0;
            }
        }
        hd_gguf_close(g);
        if (speech) {
            if (is_speech) *is_speech = true;
            return *out ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        }
    }
    *out = strdup(path);
    return *out ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "out of memory");
}
