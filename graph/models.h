/* graph/models.h — the process-wide cache of loaded models, shared by every
 * node (and command) that names the same file.
 *
 *   hd_model *m = hd_model_acquire(HD_MODEL_LLAMA, "m.gguf", &err);  // loads, or shares
 *   const hd_llama_model *lm = hd_model_llama(m);
 *   ...
 *   hd_model_release(m);                                             // last one frees
 *
 * An entry is keyed by (kind, canonical path): realpath() of the path when it
 * exists, else the path as given (the loader then reports the error).  Two
 * nodes of one graph, two graphs, or a graph and a command asking for the
 * same file get the same object: the weights are mapped once.  Entries are
 * reference-counted; the last hd_model_release frees the object, so nothing
 * stays loaded once no one uses it.
 *
 * Thread safety: every function may be called from any thread.  A file is
 * loaded by one thread only: others asking for it at the same time wait for
 * that load and share its result (if it fails, the next waiter tries again
 * and reports its own error).  Loads of different files run concurrently;
 * the cache lock is never held during a load.
 *
 * Using the objects: an hd_llama_model and an hd_tokenizer are read-only and
 * may be used by many threads at once (each llama user makes its own
 * hd_llama_context).  An hd_vit or hd_conformer keeps one activation arena,
 * (likewise an hd_speech_adapter), so calls that run it (hd_vit_encode,
 * hd_conformer_encode, hd_speech_adapter_encode, hd_audio_lm_embed) must be made
 * between hd_model_lock and hd_model_unlock of its entry.
 */
#ifndef HD_GRAPH_MODELS_H
#define HD_GRAPH_MODELS_H

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hd_llama_model;
struct hd_tokenizer;
struct hd_vit;
struct hd_conformer;
struct hd_speech_adapter;
struct hd_audio_lm;

typedef enum hd_model_kind {
    HD_MODEL_LLAMA = 0,   /* hd_llama_model (lm/llama.h): GGUF file or HF folder            */
    HD_MODEL_TOKENIZER,   /* hd_tokenizer (lm/tokenizer.h): any source hd_tokenizer_load takes */
    HD_MODEL_VIT,         /* hd_vit (vision/vit.h): mllama vision encoder + projector        */
    HD_MODEL_CONFORMER,   /* hd_conformer (speech/conformer.h)                               */
    HD_MODEL_SPEECH_ADAPTER, /* hd_speech_adapter (adapters/speech_adapter.h)                */
    HD_MODEL_AUDIO_LM,    /* hd_audio_lm (speech/audio_lm.h): Granite Speech / Ultravox       */
    HD_MODEL_KIND_COUNT
} hd_model_kind;

const char *hd_model_kind_name(hd_model_kind kind);   /* "llama", "tokenizer", ... */

typedef struct hd_model hd_model;   /* one cache entry */

/* One reference to the loaded model of `kind` at `path` (loading it if no
 * one holds it).  NULL with err set (the loader's message, naming the file)
 * on failure.  Release with hd_model_release. */
hd_model *hd_model_acquire(hd_model_kind kind, const char *path, hd_error *err);
/* The same with a second file the object is loaded with (HD_MODEL_AUDIO_LM:
 * the language model when the checkpoint does not hold it; NULL or "" =
 * none); the pair is the key. */
hd_model *hd_model_acquire_with(hd_model_kind kind, const char *path, const char *aux, hd_error *err);
/* Another reference to the same entry (returns m). */
hd_model *hd_model_ref(hd_model *m);
/* Drops one reference; the last frees the model.  NULL is a no-op. */
void hd_model_release(hd_model *m);

hd_model_kind hd_model_get_kind(const hd_model *m);
const char *hd_model_path(const hd_model *m);   /* the path of the first acquire (owned by the entry) */
int hd_model_refs(const hd_model *m);           /* current references (for tests) */

/* The loaded object, borrowed for as long as the reference is held; NULL
 * when the entry is of another kind. */
const struct hd_llama_model *hd_model_llama(const hd_model *m);
const struct hd_tokenizer *hd_model_tokenizer(const hd_model *m);
struct hd_vit *hd_model_vit(const hd_model *m);
struct hd_conformer *hd_model_conformer(const hd_model *m);
struct hd_speech_adapter *hd_model_speech_adapter(const hd_model *m);
struct hd_audio_lm *hd_model_audio_lm(const hd_model *m);

/* Exclusive use of an object that is not thread-safe (vit, conformer, adapter). */
void hd_model_lock(hd_model *m);
void hd_model_unlock(hd_model *m);

/* Entries alive, and loads done since the process started (for tests). */
int hd_model_cache_count(void);
int64_t hd_model_cache_loads(void);

#ifdef __cplusplus
}
#endif
#endif
