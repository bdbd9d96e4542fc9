/* speech/tts_random.c — `herd random-model --arch tts`: the paper's two TTS
 * front-end models at once, PATH/prosody.gguf (speech/prosody.h) and
 * PATH/tn.gguf (speech/tn_model.h), the files `herd speak --prosody --tn`
 * takes.  Presets: "tiny" (both tests' shapes), "paper" (the prosody model's
 * paper shape with the TN tagger's "base"), either followed by "+LLAMA" for
 * the cross-attention width of a Llama preset ("tiny+tiny",
 * "paper+llama-3.1-8b": D_llm 4096, token layer 16, as the paper). */
#include "lm/random_model_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

extern const hd_rm_arch hd_rm_arch_prosody;   /* speech/prosody_random.c */
extern const hd_rm_arch hd_rm_arch_tn;        /* speech/tn_random.c */

static const char *const *tts_presets(void) {
    static const char *const k[] = {"tiny", "paper", "tiny+tiny", "paper+llama-3.2-1b", "paper+llama-3.2-3b",
                                    "paper+llama-3.1-8b", NULL};
    return k;
}

static hd_status tts_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    const char *preset = p->preset ? p->preset : "tiny";
    char tn_preset[128];
    if (strncmp(preset, "paper", 5) == 0) snprintf(tn_preset, sizeof tn_preset, "base%s", preset + 5);
    else snprintf(tn_preset, sizeof tn_preset, "%s", preset);
    if (strncmp(preset, "tiny", 4) != 0 && strncmp(preset, "paper", 5) != 0)
        return hd_error_set(err, HD_ERR_ARG, "unknown tts preset \"%s\" (tiny, paper, or either + a Llama preset: "
                            "tiny+tiny, paper+llama-3.1-8b)", preset);
    if (!p->dry_run) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (mkdir(path, 0777) != 0)
                return hd_error_set(err, HD_ERR_IO, "%s: cannot create the folder: %s", path, strerror(errno));
        } else if (!S_ISDIR(sb.st_mode)) {
            return hd_error_set(err, HD_ERR_IO, "%s: exists and is not a folder (--arch tts writes a folder)", path);
        }
    }
    char f[PATH_MAX];
    hd_random_model_params q = *p;
    q.preset = preset;
    if (snprintf(f, sizeof f, "%s/prosody.gguf", path) >= (int)sizeof f)
        return hd_error_set(err, HD_ERR_ARG, "%s: path too long", path);
    hd_status st = hd_rm_arch_prosody.write(&q, f, err);
    if (st) return st;
    q.preset = tn_preset;
    snprintf(f, sizeof f, "%s/tn.gguf", path);
    return hd_rm_arch_tn.write(&q, f, err);
}

const hd_rm_arch hd_rm_arch_tts = {"tts", tts_presets, tts_write};
