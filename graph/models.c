/* graph/models.c — the reference-counted, thread-safe model cache. */
#include "models.h"

#include "adapters/speech_adapter.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "speech/audio_lm.h"
#include "speech/conformer.h"
#include "vision/vit.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hd_model {
    hd_model_kind kind;
    char *key;              /* canonical path */
    char *path;             /* as given by the first acquire */
    void *obj;              /* NULL while loading */
    int refs;               /* guarded by g_mu */
    bool ready;
    pthread_mutex_t use;    /* hd_model_lock */
    struct hd_model *next;
};

typedef struct loader {
    const char *name;
    void *(*load)(const char *path, const char *aux, hd_error *err);
    void (*free)(void *obj);
} loader;

static void *load_llama(const char *p, const char *aux, hd_error *e) {
    (void)aux;
    return hd_llama_load(p, e); }
static void free_llama(void *o) { hd_llama_free(o); }
static void *load_tok(const char *p, const char *aux, hd_error *e) {
    (void)aux;
    return hd_tokenizer_load(p, e); }
static void free_tok(void *o) { hd_tokenizer_free(o); }
static void *load_vit(const char *p, const char *aux, hd_error *e) {
    (void)aux;
    return hd_vit_load(p, e); }
static void free_vit(void *o) { hd_vit_free(o); }
static void *load_conformer(const char *p, const char *aux, hd_error *e) {
    (void)aux;
    return hd_conformer_load(p, e); }
static void free_conformer(void *o) { hd_conformer_free(o); }

static void *load_adapter(const char *p, const char *aux, hd_error *e) {
    (void)aux;
    return hd_speech_adapter_load(p, e); }
static void free_adapter(void *o) { hd_speech_adapter_free(o); }

static void *load_audio_lm(const char *p, const char *aux, hd_error *e) {
    hd_audio_lm_params ap = hd_audio_lm_default_params();
    ap.lm_path = aux;
    return hd_audio_lm_load(p, &ap, e);
}
static void free_audio_lm(void *o) { hd_audio_lm_free(o); }

static const loader k_loaders[HD_MODEL_KIND_COUNT] = {
    [HD_MODEL_LLAMA] = {"llama", load_llama, free_llama},
    [HD_MODEL_TOKENIZER] = {"tokenizer", load_tok, free_tok},
    [HD_MODEL_VIT] = {"vit", load_vit, free_vit},
    [HD_MODEL_CONFORMER] = {"conformer", load_conformer, free_conformer},
    [HD_MODEL_SPEECH_ADAPTER] = {"speech-adapter", load_adapter, free_adapter},
    [HD_MODEL_AUDIO_LM] = {"audio-lm", load_audio_lm, free_audio_lm},
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;   /* a load finished or failed */
static hd_model *g_list;                                  /* guarded by g_mu */
static int g_count;
static int64_t g_loads;

const char *hd_model_kind_name(hd_model_kind kind) {
    return (unsigned)kind < HD_MODEL_KIND_COUNT ? k_loaders[kind].name : "?";
}

static hd_model *find(hd_model_kind kind, const char *key) {
    for (hd_model *m = g_list; m; m = m->next)
        if (m->kind == kind && strcmp(m->key, key) == 0) return m;
    return NULL;
}

static void unlink_entry(hd_model *m) {
    for (hd_model **p = &g_list; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            g_count--;
            return;
        }
}

static void entry_free(hd_model *m) {
    if (!m) return;
    if (m->obj) k_loaders[m->kind].free(m->obj);
    pthread_mutex_destroy(&m->use);
    free(m->key);
    free(m->path);
    free(m);
}

hd_model *hd_model_acquire(hd_model_kind kind, const char *path, hd_error *err) {
    return hd_model_acquire_with(kind, path, NULL, err);
}

hd_model *hd_model_acquire_with(hd_model_kind kind, const char *path, const char *aux, hd_error *err) {
    if ((unsigned)kind >= HD_MODEL_KIND_COUNT || !path || !*path) {
        hd_error_set(err, HD_ERR_ARG, "model cache: %s", !path || !*path ? "no model path given" : "bad model kind");
        return NULL;
    }
    if (aux && !*aux) aux = NULL;
    char canon[PATH_MAX], canon_aux[PATH_MAX], key[2 * PATH_MAX + 2];
    snprintf(key, sizeof key, "%s%s%s", realpath(path, canon) ? canon : path, aux ? "\n" : "",
             aux ? (realpath(aux, canon_aux) ? canon_aux : aux) : "");

    pthread_mutex_lock(&g_mu);
    hd_model *m;
    for (;;) {
        m = find(kind, key);
        if (!m) break;
        if (m->ready) {
            m->refs++;
            pthread_mutex_unlock(&g_mu);
            return m;
        }
        pthread_cond_wait(&g_cv, &g_mu);   /* another thread is loading it */
    }
    m = calloc(1, sizeof *m);
    if (m) {
        m->kind = kind;
        m->key = strdup(key);
        m->path = strdup(path);
        m->refs = 1;
        pthread_mutex_init(&m->use, NULL);
    }
    if (!m || !m->key || !m->path) {
        pthread_mutex_unlock(&g_mu);
        entry_free(m);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->next = g_list;   /* visible as "loading" to other threads */
    g_list = m;
    g_count++;
    pthread_mutex_unlock(&g_mu);

    void *obj = k_loaders[kind].load(path, aux, err);

    pthread_mutex_lock(&g_mu);
    if (!obj) {
        unlink_entry(m);
    } else {
        m->obj = obj;
        m->ready = true;
        g_loads++;
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    if (!obj) {
        entry_free(m);
        return NULL;
    }
    return m;
}

hd_model *hd_model_ref(hd_model *m) {
    if (!m) return NULL;
    pthread_mutex_lock(&g_mu);
    m->refs++;
    pthread_mutex_unlock(&g_mu);
    return m;
}

void hd_model_release(hd_model *m) {
    if (!m) return;
    pthread_mutex_lock(&g_mu);
    bool last = --m->refs == 0;
    if (last) unlink_entry(m);
    pthread_mutex_unlock(&g_mu);
    if (last) entry_free(m);   /* outside the lock: unmapping may take a while */
}

hd_model_kind hd_model_get_kind(const hd_model *m) { return m->kind; }
const char *hd_model_path(const hd_model *m) { return m->path; }

int hd_model_refs(const hd_model *m) {
    pthread_mutex_lock(&g_mu);
    int r = m ? m->refs : 0;
    pthread_mutex_unlock(&g_mu);
    return r;
}

static void *object(const hd_model *m, hd_model_kind kind) { return m && m->kind == kind ? m->obj : NULL; }

const hd_llama_model *hd_model_llama(const hd_model *m) { return object(m, HD_MODEL_LLAMA); }
const hd_tokenizer *hd_model_tokenizer(const hd_model *m) { return object(m, HD_MODEL_TOKENIZER); }
hd_vit *hd_model_vit(const hd_model *m) { return object(m, HD_MODEL_VIT); }
hd_conformer *hd_model_conformer(const hd_model *m) { return object(m, HD_MODEL_CONFORMER); }
hd_speech_adapter *hd_model_speech_adapter(const hd_model *m) { return object(m, HD_MODEL_SPEECH_ADAPTER); }

void hd_model_lock(hd_model *m) { pthread_mutex_lock(&m->use); }
void hd_model_unlock(hd_model *m) { pthread_mutex_unlock(&m->use); }

int hd_model_cache_count(void) {
    pthread_mutex_lock(&g_mu);
    int n = g_count;
    pthread_mutex_unlock(&g_mu);
    return n;
}

int64_t hd_model_cache_loads(void) {
    pthread_mutex_lock(&g_mu);
    int64_t n = g_loads;
    pthread_mutex_unlock(&g_mu);
    return n;
}
hd_audio_lm *hd_model_audio_lm(const hd_model *m) { return object(m, HD_MODEL_AUDIO_LM); }
