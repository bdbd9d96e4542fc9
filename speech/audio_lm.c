/* speech/audio_lm.c — dispatch to the speech-LLM family modules (see
 * audio_lm.h; each family implements speech/audio_lm_impl.h). */
#include "audio_lm_impl.h"
#include "ultravox.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hd_audio_lm {
    const hd_audio_lm_ops *ops;
    void *state;
    char *path;
};

static const hd_audio_lm_ops *const k_families[] = {&hd_granite_speech_ops, &hd_ultravox_ops};
#define N_FAMILIES (int)(sizeof k_families / sizeof k_families[0])

const char *hd_audio_lm_family_name(hd_audio_lm_family f) {
    switch (f) {
    case HD_AUDIO_LM_GRANITE: return "granite-speech";
    case HD_AUDIO_LM_ULTRAVOX: return "ultravox";
    default: return "none";
    }
}

static const hd_audio_lm_ops *claim(const char *path) {
    for (int i = 0; i < N_FAMILIES; i++)
        if (k_families[i]->detect(path)) return k_families[i];
    return NULL;
}

/* The checkpoint path is: path itself when a family claims it, else (for
 * the LM file of a converted pair, OUT.gguf) the OUT-mmproj.gguf beside it
 * when a family claims that.  *ops NULL when neither; *real malloc'd. */
static hd_status resolve(const char *path, const hd_audio_lm_ops **ops, char **real, hd_error *err) {
    *ops = NULL;
    *real = NULL;
    struct stat st;
    if (!path || !*path) return hd_error_set(err, HD_ERR_ARG, "no model path given");
    if (stat(path, &st) != 0) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: no such file or folder", path);
    if ((*ops = claim(path))) {
        *real = strdup(path);
    } else {
        char *mm = hd_ultravox_mmproj_path(path);
        if (mm && stat(mm, &st) == 0 && S_ISREG(st.st_mode) && (*ops = claim(mm))) *real = mm;
        else free(mm);
    }
    if (*ops && !*real) {
        *ops = NULL;
        return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    }
    return HD_OK;
}

hd_status hd_audio_lm_detect(const char *path, hd_audio_lm_family *fam, hd_error *err) {
    *fam = HD_AUDIO_LM_NONE;
    const hd_audio_lm_ops *ops;
    char *real;
    hd_status st = resolve(path, &ops, &real, err);
    if (ops) *fam = ops->family;
    free(real);
    return st;
}

hd_audio_lm_params hd_audio_lm_default_params(void) { return (hd_audio_lm_params){0}; }

hd_audio_lm *hd_audio_lm_load(const char *path, const hd_audio_lm_params *p, hd_error *err) {
    const hd_audio_lm_ops *ops;
    char *real;
    if (resolve(path, &ops, &real, err)) return NULL;
    if (!ops) {
        hd_error_set(err, HD_ERR_ARG,
                     "%s: not a Granite Speech or Ultravox checkpoint (a Hugging Face folder whose config.json has "
                     "model_type \"granite_speech\" or \"ultravox\", or a GGUF herd convert wrote from one)",
                     path);
        return NULL;
    }
    hd_audio_lm_params dp = hd_audio_lm_default_params();
    hd_audio_lm *m = calloc(1, sizeof *m);
    if (!m) {
        free(real);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->ops = ops;
    m->path = real;
    if (!(m->state = ops->load(real, p ? p : &dp, err))) {
        free(m->path);
        free(m);
        return NULL;
    }
    return m;
}

void hd_audio_lm_free(hd_audio_lm *m) {
    if (!m) return;
    m->ops->free_state(m->state);
    free(m->path);
    free(m);
}

hd_audio_lm_family hd_audio_lm_family_of(const hd_audio_lm *m) { return m->ops->family; }
const hd_llama_model *hd_audio_lm_lm(const hd_audio_lm *m) { return m->ops->lm(m->state); }
const hd_tokenizer *hd_audio_lm_tokenizer(const hd_audio_lm *m) { return m->ops->tokenizer(m->state); }
const char *hd_audio_lm_path(const hd_audio_lm *m) { return m->path; }
double hd_audio_lm_window_seconds(const hd_audio_lm *m) { return m->ops->window_seconds(m->state); }

hd_status hd_audio_lm_embed(hd_audio_lm *m, hd_exec *ex, const float *pcm, int64_t n, float **rows, int64_t *n_rows,
                            hd_error *err) {
    *rows = NULL;
    *n_rows = 0;
    if (n < 0 || (n > 0 && !pcm)) return hd_error_set(err, HD_ERR_ARG, "%s: bad audio (%lld samples)", m->path, (long long)n);
    hd_exec one = {.backend = HD_BACKEND_CPU, .pool = NULL, .scratch = NULL};   /* NULL: this thread only */
    return m->ops->embed(m->state, ex ? ex : &one, pcm, n, rows, n_rows, err);
}

int64_t hd_audio_lm_n_rows(const hd_audio_lm *m, int64_t n) { return n <= 0 ? 0 : m->ops->n_rows(m->state, n); }

hd_status hd_audio_lm_prompt(const hd_audio_lm *m, const hd_audio_prompt *p, hd_tokens *out, int64_t *audio_at,
                             hd_error *err) {
    if (p->n_audio < 0) return hd_error_set(err, HD_ERR_ARG, "%s: negative audio row count", m->path);
    if (!m->ops->tokenizer(m->state))
        return hd_error_set(err, HD_ERR_ARG, "%s: loaded without its language model, no prompt can be built", m->path);
    return m->ops->prompt(m->state, p, out, audio_at, err);
}

hd_status hd_audio_lm_convert(const char *dir, const char *out_gguf, const hd_convert_params *p, hd_error *err) {
    hd_audio_lm_family fam;
    hd_status st = hd_audio_lm_detect(dir, &fam, err);
    if (st) return st;
    for (int i = 0; i < N_FAMILIES; i++)
        if (k_families[i]->family == fam && fam != HD_AUDIO_LM_NONE) {
            if (!k_families[i]->convert)
                return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: herd cannot convert %s checkpoints yet", dir,
                                    hd_audio_lm_family_name(fam));
            return k_families[i]->convert(dir, out_gguf, p, err);
        }
    return hd_error_set(err, HD_ERR_ARG, "%s: not a Granite Speech or Ultravox folder", dir);
}
