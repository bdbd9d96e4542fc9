/* speech/speech_model.c — the speech-understanding bundle (see speech_model.h):
 * one speech file (Conformer + adapter + token ids) and its Llama 3 LM. */
#include "speech_model.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hd_speech_model {
    hd_weights *file;             /* the speech file's mapping (owned)          */
    hd_conformer *encoder;        /* borrows file                               */
    hd_speech_adapter *adapter;   /* borrows file                               */
    hd_llama_model *lm;           /* owned, NULL with no_lm                     */
    hd_tokenizer *tok;            /* owned, may be NULL                         */
    int32_t begin_id, end_id;
    char *path, *lm_path;         /* owned                                      */
};

hd_status hd_speech_tokens_from_gguf(const hd_gguf *g, int32_t *begin_id, int32_t *end_id, hd_error *err) {
    static const char *const keys[2] = {"speech.begin_token_id", "speech.end_token_id"};
    uint32_t v[2];
    for (int i = 0; i < 2; i++) {
        if (!hd_gguf_get_u32(g, keys[i], &v[i]))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not a u32", hd_gguf_name(g), keys[i]);
        if (v[i] > INT32_MAX)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is out of range", hd_gguf_name(g), keys[i], v[i]);
    }
    if (v[0] == v[1])
        return hd_error_set(err, HD_ERR_FORMAT, "%s: speech.begin_token_id and speech.end_token_id are both %u",
                            hd_gguf_name(g), v[0]);
    *begin_id = (int32_t)v[0], *end_id = (int32_t)v[1];
    return HD_OK;
}

hd_speech_model_params hd_speech_model_default_params(void) {
    return (hd_speech_model_params){.lm_path = NULL, .tokenizer_path = NULL, .no_lm = false};
}

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}

/* speech.lm_file resolved against the speech file's directory.  The key must
 * be a plain file name: a model file does not get to point elsewhere. */
static char *lm_beside(const hd_gguf *g, const char *path, hd_error *err) {
    const char *name;
    size_t n;
    if (!hd_gguf_get_str(g, "speech.lm_file", &name, &n)) {
        hd_error_set(err, HD_ERR_ARG, "%s: no speech.lm_file key: name the language model file", path);
        return NULL;
    }
    if (n == 0 || n > 255 || memchr(name, '/', n) || memchr(name, 0, n) || (n <= 2 && memcmp(name, "..", n) == 0) ||
        (n == 1 && name[0] == '.')) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: speech.lm_file must be a plain file name", path);
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    const size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    char *out = malloc(dir + n + 1);
    if (!out) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(out, path, dir);
    memcpy(out + dir, name, n);
    out[dir + n] = 0;
    return out;
}

static bool is_file(const char *dir, const char *name) {
    char p[PATH_MAX];
    struct stat st;
    int w = snprintf(p, sizeof p, "%s/%s", dir, name);
    return w > 0 && (size_t)w < sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The LM's own tokenizer: GGUF tokenizer.ggml.* keys, or tokenizer files in a
 * HF folder.  *tok stays NULL when the LM has none. */
static hd_status lm_tokenizer(const hd_llama_model *lm, hd_tokenizer **tok, hd_error *err) {
    const hd_gguf *g = hd_weights_gguf(lm->file);
    if (g) {
        if (hd_gguf_find_key(g, "tokenizer.ggml.tokens") < 0) return HD_OK;
        *tok = hd_tokenizer_from_gguf(g, err);
    } else {
        if (!is_file(lm->source, "tokenizer.json") && !is_file(lm->source, "tokenizer.model")) return HD_OK;
        *tok = hd_tokenizer_load(lm->source, err);
    }
    return *tok ? HD_OK : (err ? err->code : HD_ERR_FORMAT);
}

static hd_status check_bundle(hd_speech_model *m, hd_error *err) {
    const hd_conformer_config *ec = hd_conformer_config_of(m->encoder);
    const hd_speech_adapter_config *ac = hd_speech_adapter_config_of(m->adapter);
    if (ec->n_embd != ac->n_in)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the encoder width %d differs from the adapter input %d", m->path,
                            ec->n_embd, ac->n_in);
    if (!m->lm) return HD_OK;
    const hd_llama_config *lc = &m->lm->cfg;
    if (lc->n_embd != ac->n_out)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the adapter outputs %d-wide embeddings but %s is %d wide", m->path,
                            ac->n_out, m->lm_path, lc->n_embd);
    const int32_t ids[2] = {m->begin_id, m->end_id};
    for (int i = 0; i < 2; i++) {
        if (ids[i] >= lc->n_vocab)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: speech token %d is outside the vocabulary of %s (%d ids)",
                                m->path, ids[i], m->lm_path, lc->n_vocab);
        if (m->tok && (ids[i] >= hd_tokenizer_n_vocab(m->tok) || !hd_tokenizer_is_special(m->tok, ids[i])))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: speech token %d is not a special token of the tokenizer",
                                m->path, ids[i]);
    }
    if (m->tok && hd_tokenizer_n_vocab(m->tok) > lc->n_vocab)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has %d ids but the model only %d rows", m->lm_path,
                            hd_tokenizer_n_vocab(m->tok), lc->n_vocab);
    return HD_OK;
}

hd_speech_model *hd_speech_model_load(const char *path, const hd_speech_model_params *p, hd_error *err) {
    const hd_speech_model_params def = hd_speech_model_default_params();
    if (!p) p = &def;
    if (!path || !*path) {
        hd_error_set(err, HD_ERR_ARG, "speech model: no path");
        return NULL;
    }
    hd_speech_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = dup_str(path, strlen(path)))) {
        free(m);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    hd_status st = HD_OK;
    const hd_gguf *g = NULL;
    if (!(m->file = hd_weights_open(path, err))) goto fail;
    if (!(g = hd_weights_gguf(m->file))) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: a speech model is a GGUF file", path);
        goto fail;
    }
    if (!(m->encoder = hd_conformer_from_weights(m->file, NULL, err))) goto fail;
    if (!(m->adapter = hd_speech_adapter_from_weights(m->file, NULL, err))) goto fail;
    if ((st = hd_speech_tokens_from_gguf(g, &m->begin_id, &m->end_id, err))) goto fail;
    if (!p->no_lm) {
        m->lm_path = p->lm_path ? dup_str(p->lm_path, strlen(p->lm_path)) : lm_beside(g, path, err);
        if (!m->lm_path) {
            if (p->lm_path) hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        if (!(m->lm = hd_llama_load(m->lm_path, err))) goto fail;
        if (p->tokenizer_path) {
            if (!(m->tok = hd_tokenizer_load(p->tokenizer_path, err))) goto fail;
        } else if ((st = lm_tokenizer(m->lm, &m->tok, err))) {
            goto fail;
        }
    }
    if ((st = check_bundle(m, err))) goto fail;
    return m;
fail:
    hd_speech_model_free(m);
    return NULL;
}

void hd_speech_model_free(hd_speech_model *m) {
    if (!m) return;
    hd_conformer_free(m->encoder);
    hd_speech_adapter_free(m->adapter);
    hd_weights_close(m->file);
    hd_llama_free(m->lm);
    hd_tokenizer_free(m->tok);
    free(m->path), free(m->lm_path);
    free(m);
}

hd_conformer *hd_speech_model_encoder(const hd_speech_model *m) { return m->encoder; }
hd_speech_adapter *hd_speech_model_adapter(const hd_speech_model *m) { return m->adapter; }
const hd_llama_model *hd_speech_model_lm(const hd_speech_model *m) { return m->lm; }
const hd_tokenizer *hd_speech_model_tokenizer(const hd_speech_model *m) { return m->tok; }
int32_t hd_speech_model_begin_token(const hd_speech_model *m) { return m->begin_id; }
int32_t hd_speech_model_end_token(const hd_speech_model *m) { return m->end_id; }
const char *hd_speech_model_path(const hd_speech_model *m) { return m->path; }
const char *hd_speech_model_lm_path(const hd_speech_model *m) { return m->lm_path; }

hd_mel_params hd_speech_model_mel_params(const hd_speech_model *m) {
    hd_mel_params p = hd_mel_default_params();
    p.n_mel = hd_conformer_config_of(m->encoder)->n_mel;
    return p;
}

int64_t hd_speech_model_n_rows(const hd_speech_model *m, int64_t n_frames) {
    return hd_speech_adapter_n_out(hd_speech_adapter_config_of(m->adapter),
                                   hd_conformer_n_out(hd_conformer_config_of(m->encoder), n_frames));
}

hd_status hd_speech_model_embed(hd_speech_model *m, hd_exec *ex, const float *mel, int64_t n_frames, float **rows,
                                int64_t *n_rows, hd_error *err) {
    *rows = NULL, *n_rows = 0;
    const hd_conformer_config *ec = hd_conformer_config_of(m->encoder);
    const hd_speech_adapter_config *ac = hd_speech_adapter_config_of(m->adapter);
    if (n_frames < 0 || n_frames > (INT64_C(1) << 31))
        return hd_error_set(err, HD_ERR_ARG, "speech model: %lld mel frames out of range", (long long)n_frames);
    const int64_t T40 = hd_conformer_n_out(ec, n_frames), T80 = hd_speech_adapter_n_out(ac, T40);
    if (T80 == 0) return HD_OK;
    float *enc = malloc((size_t)(T40 * ec->n_embd) * sizeof *enc);   /* [T40][D_enc] */
    float *out = malloc((size_t)(T80 * ac->n_out) * sizeof *out);    /* [T80][D_lm]  */
    hd_status st;
    if (!enc || !out) st = hd_error_set(err, HD_ERR_NOMEM, "speech model: out of memory for %lld frames", (long long)T40);
    else if ((st = hd_conformer_encode(m->encoder, ex, mel, n_frames, enc, err)) == HD_OK)
        st = hd_speech_adapter_encode(m->adapter, ex, enc, T40, out, err);
    free(enc);
    if (st) {
        free(out);
        return st;
    }
    *rows = out, *n_rows = T80;
    return HD_OK;
}
