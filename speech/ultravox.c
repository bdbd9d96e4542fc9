/* speech/ultravox.c — hd_ultravox_ops: Ultravox v0.5 from its Hugging Face
 * folder or from the mmproj GGUF `herd convert` writes (speech/ultravox.h). */
#include "speech/ultravox_internal.h"

#include "core/strbuf.h"
#include "core/gguf.h"
#include "speech/audio_lm_impl.h"

#include <cjson/cJSON.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- files --------------------------------------------------------------- */

static bool is_dir(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static bool exists(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* dir/name (malloc'd), NULL when out of memory or too long. */
static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    if (a + b + 2 > PATH_MAX) return NULL;
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

/* clip.projector_type / clip.audio.projector_type of an open GGUF is "ultravox". */
static bool gguf_is_ultravox(const hd_gguf *g) {
    static const char *const keys[2] = {"clip.audio.projector_type", "clip.projector_type"};
    for (int i = 0; i < 2; i++) {
        const char *s;
        size_t n;
        if (hd_gguf_get_str(g, keys[i], &s, &n) && n == 8 && memcmp(s, "ultravox", 8) == 0) return true;
    }
    return false;
}

static bool uv_detect(const char *path) {
    if (!path) return false;
    if (is_dir(path)) {
        char *cfg = join(path, "config.json");
        size_t len = 0;
        char *txt = cfg ? hd_read_text_file(cfg, (size_t)64 << 20, &len, NULL) : NULL;
        free(cfg);
        if (!txt) return false;
        cJSON *root = cJSON_ParseWithLength(txt, len);
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        const bool yes = cJSON_IsString(mt) && strcmp(mt->valuestring, "ultravox") == 0;
        cJSON_Delete(root);
        free(txt);
        return yes;
    }
    hd_gguf *g = hd_gguf_open(path, NULL);
    if (!g) return false;
    const bool yes = gguf_is_ultravox(g);
    hd_gguf_close(g);
    return yes;
}

/* ---- where the LM is (speech/ultravox.h) ---------------------------------- */

/* The hub cache's snapshot of repo id "org/name": BASE/models--org--name/
 * snapshots/<refs/main>. */
static char *hub_snapshot(const char *base, const char *id) {
    if (!base || !*base || strstr(id, "..")) return NULL;
    char rel[2 * HD_ULTRAVOX_ID_MAX + 16] = "models--";
    size_t k = strlen(rel);
    for (const char *s = id; *s && k + 2 < sizeof rel; s++) {
        if (*s == '/') rel[k++] = '-', rel[k++] = '-';
        else rel[k++] = *s;
    }
    rel[k] = 0;
    char *repo = join(base, rel), *ref = repo ? join(repo, "refs/main") : NULL, *out = NULL;
    size_t n = 0;
    char *hash = ref ? hd_read_text_file(ref, (size_t)64 << 20, &n, NULL) : NULL;
    if (hash) {
        while (n && (hash[n - 1] == '\n' || hash[n - 1] == '\r' || hash[n - 1] == ' ')) hash[--n] = 0;
        char snap[128];
        if (n > 0 && n < 100 && !strchr(hash, '/') && snprintf(snap, sizeof snap, "snapshots/%s", hash) > 0) {
            out = join(repo, snap);
            if (out && !is_dir(out)) free(out), out = NULL;
        }
    }
    free(hash), free(ref), free(repo);
    return out;
}

static char *find_lm(const char *dir, const hd_ultravox_config *c, const char *lm_path, hd_error *err) {
    if (lm_path) {
        if (!exists(lm_path)) {
            hd_error_set(err, HD_ERR_NOTFOUND, "%s: the language model %s does not exist", dir, lm_path);
            return NULL;
        }
        return dup_str(lm_path);
    }
    const char *id = c->text_model_id;
    char *p = NULL;
    if (id[0] == '/' && is_dir(id)) return dup_str(id);
    if (id[0] && (p = join(dir, id)) && is_dir(p)) return p;
    free(p);
    if ((p = join(dir, "text_model")) && is_dir(p)) return p;
    free(p);
    if (id[0]) {
        const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *user = getenv("HOME");
        char *b2 = home ? join(home, "hub") : NULL, *b3 = user ? join(user, ".cache/huggingface/hub") : NULL;
        p = hub_snapshot(hub, id);
        if (!p) p = hub_snapshot(b2, id);
        if (!p) p = hub_snapshot(b3, id);
        free(b2), free(b3);
        if (p) return p;
    }
    hd_error_set(err, HD_ERR_NOTFOUND,
                 "%s: the language model%s%s%s is not here: give it with lm_path (--lm), put it in %s/text_model, or "
                 "download it into the Hugging Face cache",
                 dir, id[0] ? " (" : "", id, id[0] ? ")" : "", dir);
    return NULL;
}

/* ---- load ---------------------------------------------------------------- */

static void uv_free(void *state) {
    hd_ultravox *u = state;
    if (!u) return;
    hd_ultravox_projector_free(u->proj);
    hd_whisper_encoder_free(u->enc);
    hd_hf_mel_free(u->mel);
    hd_weights_close(u->w);
    hd_tokenizer_free(u->tok);
    hd_llama_free(u->lm);
    free(u->path), free(u->lm_path);
    free(u);
}

/* The tokenizer and chat template of an HF folder (tokenizer.json +
 * tokenizer_config.json); *tok NULL when the folder has no tokenizer.json. */
static hd_status folder_tokenizer(hd_ultravox *u, const char *dir, hd_error *err) {
    char *tj = join(dir, "tokenizer.json"), *tc = join(dir, "tokenizer_config.json");
    hd_status st = HD_OK;
    if (!tj || !tc) st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    else if (exists(tj)) {
        if (!(u->tok = hd_tokenizer_load(tj, err))) st = err ? err->code : HD_ERR_FORMAT;
        size_t len = 0;
        char *txt = st == HD_OK && exists(tc) ? hd_read_text_file(tc, (size_t)64 << 20, &len, err) : NULL;
        cJSON *root = txt ? cJSON_ParseWithLength(txt, len) : NULL;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
        if (cJSON_IsString(t)) hd_ultravox_template_set(u, t->valuestring, strlen(t->valuestring));
        else hd_ultravox_template_set(u, NULL, 0);
        cJSON_Delete(root);
        free(txt);
    }
    free(tj), free(tc);
    return st;
}

/* The LM, its tokenizer (the checkpoint folder's, else the LM's own) and
 * the checks that they fit the projector. */
static hd_status load_lm(hd_ultravox *u, const char *dir, const hd_audio_lm_params *p, hd_error *err) {
    if (!(u->lm_path = find_lm(dir, &u->cfg, p->lm_path, err))) return err ? err->code : HD_ERR_NOTFOUND;
    if (!(u->lm = hd_llama_load(u->lm_path, err))) return err ? err->code : HD_ERR_FORMAT;
    hd_status st = HD_OK;
    if (is_dir(dir) && (st = folder_tokenizer(u, dir, err))) return st;
    if (!u->tok) {
        const hd_gguf *g = hd_weights_gguf(u->lm->file);
        if (g) {
            if (!(u->tok = hd_tokenizer_from_gguf(g, err))) return err ? err->code : HD_ERR_FORMAT;
            const char *s;
            size_t n;
            if (hd_gguf_get_str(g, "tokenizer.chat_template", &s, &n)) hd_ultravox_template_set(u, s, n);
            else hd_ultravox_template_set(u, NULL, 0);
        } else if ((st = folder_tokenizer(u, u->lm->source, err))) {
            return st;
        }
    }
    if (!u->tok) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: no tokenizer (tokenizer.json) here or beside %s", dir, u->lm_path);
    const hd_llama_config *lc = &u->lm->cfg;
    if (u->cfg.proj.n_out == 0) u->cfg.proj.n_out = lc->n_embd;   /* no text_config: the LM's width */
    if (u->cfg.proj.n_out != lc->n_embd)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the projector outputs %d-wide rows but the LM %s is %d wide", dir,
                            u->cfg.proj.n_out, u->lm_path, lc->n_embd);
    if (hd_tokenizer_n_vocab(u->tok) > lc->n_vocab)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has %d ids but the LM %s only %d rows", dir,
                            hd_tokenizer_n_vocab(u->tok), u->lm_path, lc->n_vocab);
    static const char *const need[4] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    for (int i = 0; i < 4; i++)
        if (hd_tokenizer_find_special(u->tok, need[i]) < 0)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has no %s (the Llama 3 chat format needs it)", dir,
                                need[i]);
    return HD_OK;
}

/* preprocessor_config.json, when present, must describe the Whisper front
 * end the encoder was trained on (hf_mel PAD_HOP computes only that one). */
static hd_status check_preprocessor(const char *dir, const hd_ultravox_config *c, hd_error *err) {
    char *pp = join(dir, "preprocessor_config.json");
    if (!pp) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    if (!exists(pp)) {
        free(pp);
        return HD_OK;
    }
    size_t len = 0;
    char *txt = hd_read_text_file(pp, (size_t)64 << 20, &len, err);
    cJSON *root = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    hd_status st = HD_OK;
    if (!txt) st = err ? err->code : HD_ERR_IO;
    else if (!cJSON_IsObject(root)) st = hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", pp);
    static const struct { const char *key; int want; } k[] = {
        {"feature_size", 0}, {"hop_length", 160}, {"n_fft", 400}, {"sampling_rate", 16000},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0] && st == HD_OK; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k[i].key);
        const int want = k[i].want ? k[i].want : c->audio.n_mel;
        if (v && (!cJSON_IsNumber(v) || v->valuedouble != (double)want))
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not %d (the Whisper front end of this audio tower)", pp,
                              k[i].key, want);
    }
    const cJSON *fe = cJSON_GetObjectItemCaseSensitive(root, "feature_extractor_type");
    if (st == HD_OK && fe && !(cJSON_IsString(fe) && strcmp(fe->valuestring, "WhisperFeatureExtractor") == 0))
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: feature_extractor_type is not WhisperFeatureExtractor", pp);
    cJSON_Delete(root);
    free(txt), free(pp);
    return st;
}

/* The HF folder: config.json, model*.safetensors (audio_tower.*, multi_modal_projector.*). */
static hd_status load_folder(hd_ultravox *u, const char *dir, const hd_audio_lm_params *p, hd_error *err) {
    char *cp = join(dir, "config.json");
    if (!cp) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    size_t len = 0;
    char *txt = hd_read_text_file(cp, (size_t)64 << 20, &len, err);
    hd_status st = txt ? hd_ultravox_config_from_json(txt, len, cp, &u->cfg, err) : (err ? err->code : HD_ERR_IO);
    free(txt), free(cp);
    if (st || (st = check_preprocessor(dir, &u->cfg, err))) return st;
    if (!(u->w = hd_weights_open(dir, err))) return err ? err->code : HD_ERR_IO;
    if (!hd_weights_has(u->w, "audio_tower.conv1.weight"))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: no audio_tower.* tensors (the audio tower%s%s is not saved here)",
                            hd_weights_name(u->w), u->cfg.audio_model_id[0] ? " " : "", u->cfg.audio_model_id);
    if (!(u->enc = hd_whisper_encoder_load(u->w, "audio_tower.", &u->cfg.audio, err))) return err ? err->code : HD_ERR_FORMAT;
    if (u->cfg.proj.n_out == 0) {
        /* no text_config (published configs name a text_model_id): the width linear_2 states,
         * checked against the LM below */
        const hd_safetensors *s = hd_weights_safetensors(u->w);
        const int64_t i = s ? hd_safetensors_find(s, "multi_modal_projector.linear_2.weight") : -1;
        const hd_st_tensor *t = i >= 0 ? hd_safetensors_tensor(s, i) : NULL;
        if (!t || t->n_dims != 2 || t->shape[0] < 1 || t->shape[0] > (1 << 20))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor multi_modal_projector.linear_2.weight is missing or not 2-D",
                                hd_weights_name(u->w));
        u->cfg.proj.n_out = (int)t->shape[0];
    }
    if (!p->no_lm && (st = load_lm(u, dir, p, err))) return st;
    if (!(u->proj = hd_ultravox_projector_create(u->w, &u->cfg.proj, HD_ULTRAVOX_NAMES_HF, err)))
        return err ? err->code : HD_ERR_FORMAT;
    return HD_OK;
}

static hd_status gguf_u32(const hd_gguf *g, const char *key, int *out, bool required, hd_error *err) {
    uint32_t v;
    if (!hd_gguf_get_u32(g, key, &v)) {
        if (!required) return HD_OK;
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not a u32", hd_gguf_name(g), key);
    }
    if (v < 1 || v > (1u << 20)) return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is out of range", hd_gguf_name(g), key, v);
    *out = (int)v;
    return HD_OK;
}

/* speech.lm_file beside the mmproj file (a plain file name). */
static char *lm_beside(const hd_gguf *g, const char *path, hd_error *err) {
    const char *name;
    size_t n;
    if (!hd_gguf_get_str(g, "speech.lm_file", &name, &n)) {
        hd_error_set(err, HD_ERR_ARG, "%s: no speech.lm_file key (a llama.cpp mmproj file): give the language model (--lm)",
                     path);
        return NULL;
    }
    if (n == 0 || n > 255 || memchr(name, '/', n) || memchr(name, 0, n) || (n == 2 && memcmp(name, "..", 2) == 0) ||
        (n == 1 && name[0] == '.')) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: speech.lm_file must be a plain file name", path);
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    const size_t d = slash ? (size_t)(slash - path) + 1 : 0;
    char *out = malloc(d + n + 1);
    if (!out) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(out, path, d);
    memcpy(out + d, name, n);
    out[d + n] = 0;
    return out;
}

/* The mmproj GGUF (clip keys, a.* / mm.a.* tensors). */
static hd_status load_mmproj(hd_ultravox *u, const char *path, const hd_audio_lm_params *p, hd_error *err) {
    if (!(u->w = hd_weights_open(path, err))) return err ? err->code : HD_ERR_IO;
    const hd_gguf *g = hd_weights_gguf(u->w);
    if (!g || !gguf_is_ultravox(g))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: not an Ultravox mmproj file (clip.projector_type is not \"ultravox\")",
                            path);
    hd_status st = hd_whisper_config_from_gguf(g, &u->cfg.audio, err);
    if (st) return st;
    hd_ultravox_projector_config *pc = &u->cfg.proj;
    pc->n_in = u->cfg.audio.n_embd;
    pc->norm_eps = 1e-6f;
    if ((st = gguf_u32(g, "clip.audio.projector.stack_factor", &pc->stack_factor, true, err)) ||
        (st = gguf_u32(g, "clip.audio.projection_dim", &pc->n_out, true, err)))
        return st;
    /* H: herd's key, else linear_1's rows (llama.cpp writes no key for it) */
    const int64_t i1 = hd_gguf_find_tensor(g, "mm.a.mlp.1.weight");
    if (i1 < 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor mm.a.mlp.1.weight is missing", path);
    const hd_gguf_tensor_info *t1 = hd_gguf_tensor(g, i1);
    pc->n_hidden = t1->n_dims == 2 && t1->ne[1] > 0 && t1->ne[1] <= (1 << 20) ? (int)t1->ne[1] : 0;
    if ((st = gguf_u32(g, "ultravox.hidden_size", &pc->n_hidden, false, err))) return st;
    bool ln_mid;
    pc->ln_mid = hd_gguf_get_bool(g, "ultravox.projector_ln_mid", &ln_mid) ? ln_mid
                                                                           : hd_gguf_find_tensor(g, "mm.a.norm_mid.weight") >= 0;
    if (!(u->enc = hd_whisper_encoder_load_mmproj(u->w, &u->cfg.audio, err))) return err ? err->code : HD_ERR_FORMAT;
    if (!(u->proj = hd_ultravox_projector_create(u->w, pc, HD_ULTRAVOX_NAMES_GGUF, err))) return err ? err->code : HD_ERR_FORMAT;
    if (p->no_lm) return HD_OK;
    hd_audio_lm_params q = *p;
    char *beside = NULL;
    if (!q.lm_path) {
        if (!(beside = lm_beside(g, path, err))) return err ? err->code : HD_ERR_ARG;
        q.lm_path = beside;
    }
    st = load_lm(u, path, &q, err);
    free(beside);
    /* the Ultravox folder's chat template, kept by herd convert, wins over the LM's */
    const char *s;
    size_t n;
    if (st == HD_OK && hd_gguf_get_str(g, "tokenizer.chat_template", &s, &n)) hd_ultravox_template_set(u, s, n);
    return st;
}

static void *uv_load(const char *path, const hd_audio_lm_params *p, hd_error *err) {
    const hd_audio_lm_params def = {.lm_path = NULL, .no_lm = false};
    if (!p) p = &def;
    if (!path || !*path) {
        hd_error_set(err, HD_ERR_ARG, "ultravox: no path");
        return NULL;
    }
    hd_ultravox *u = calloc(1, sizeof *u);
    if (!u || !(u->path = dup_str(path))) {
        free(u);
        hd_error_set(err, HD_ERR_NOMEM, "ultravox: out of memory");
        return NULL;
    }
    hd_ultravox_template_set(u, NULL, 0);
    hd_status st;
    if (is_dir(path)) st = load_folder(u, path, p, err);
    else if (exists(path)) st = load_mmproj(u, path, p, err);
    else st = hd_error_set(err, HD_ERR_NOTFOUND, "%s: no such file or folder", path);
    if (st == HD_OK) {
        const hd_hf_mel_params mp = hd_hf_mel_whisper_params(u->cfg.audio.n_mel, HD_HF_MEL_PAD_HOP);
        if (!(u->mel = hd_hf_mel_create(&mp, err))) st = err ? err->code : HD_ERR_ARG;
    }
    if (st) {
        uv_free(u);
        return NULL;
    }
    return u;
}

/* ---- accessors ----------------------------------------------------------- */

static const hd_llama_model *uv_lm(const void *s) { return ((const hd_ultravox *)s)->lm; }
static const hd_tokenizer *uv_tokenizer(const void *s) { return ((const hd_ultravox *)s)->tok; }
static double uv_window_seconds(const void *s) {
    (void)s;
    return 30.0;   /* 3000 mel frames of 10 ms: one Whisper window */
}
static int64_t uv_n_rows(const void *s, int64_t n) {
    return hd_ultravox_n_rows(((const hd_ultravox *)s)->cfg.proj.stack_factor, n);
}

/* ---- embed --------------------------------------------------------------- */

/* One window of the mel (speech/ultravox.h "Audio"): frames [off, off+len)
 * of mel into win (zero-padded to T frames), encoder, projector → rows. */
static hd_status embed_window(hd_ultravox *u, hd_exec *ex, const float *mel, int64_t len, int64_t T, float *win,
                              float *enc_out, float *proj_out, int64_t keep, float *rows, hd_error *err) {
    const int64_t M = u->cfg.audio.n_mel, D = u->cfg.audio.n_embd, Dl = u->cfg.proj.n_out;
    memcpy(win, mel, (size_t)(len * M) * sizeof *win);
    memset(win + len * M, 0, (size_t)((T - len) * M) * sizeof *win);
    hd_status st = hd_whisper_encoder_forward(u->enc, ex, win, T, len, enc_out, err);
    if (st) return st;
    const int64_t S = hd_whisper_encoder_n_out(T);
    (void)D;
    if ((st = hd_ultravox_projector_forward(u->proj, ex, enc_out, S, proj_out, err))) return st;
    memcpy(rows, proj_out, (size_t)(keep * Dl) * sizeof *rows);
    return HD_OK;
}

static hd_status uv_embed(void *state, hd_exec *ex, const float *pcm, int64_t n, float **rows_out, int64_t *n_rows,
                          hd_error *err) {
    hd_ultravox *u = state;
    *rows_out = NULL, *n_rows = 0;
    if (n < 0 || (n > 0 && !pcm)) return hd_error_set(err, HD_ERR_ARG, "ultravox: no audio");
    if (n == 0) return HD_OK;
    const int64_t total = hd_ultravox_n_rows(u->cfg.proj.stack_factor, n);
    const int64_t M = u->cfg.audio.n_mel, D = u->cfg.audio.n_embd, Dl = u->cfg.proj.n_out, W = HD_ULTRAVOX_WINDOW_FRAMES;
    const int64_t per = 2 * (int64_t)u->cfg.proj.stack_factor;
    if (hd_whisper_encoder_max_frames(&u->cfg.audio) < W)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the audio tower holds %d positions, fewer than a 30 s window needs",
                            u->path, u->cfg.audio.n_pos);
    float *mel = NULL, *win = NULL, *enc = NULL, *proj = NULL, *rows = NULL;
    int64_t L = 0, valid = 0;
    hd_status st = hd_hf_mel_compute(hd_hf_mel_params_of(u->mel), pcm, (size_t)n, &mel, &L, &valid, err);
    if (st) return st;
    if (valid < L) L = valid;   /* PAD_HOP: equal; frames past the audio never reach a window */
    const int64_t Smax = hd_whisper_encoder_n_out(W);
    const int64_t Rmax = hd_ultravox_projector_n_out(&u->cfg.proj, Smax);
    win = malloc((size_t)(W * M) * sizeof *win);
    enc = malloc((size_t)(Smax * D) * sizeof *enc);
    proj = malloc((size_t)(Rmax * Dl) * sizeof *proj);
    rows = malloc((size_t)(total * Dl) * sizeof *rows);
    if (!win || !enc || !proj || !rows) st = hd_error_set(err, HD_ERR_NOMEM, "ultravox: out of memory for %lld rows", (long long)total);
    int64_t done = 0;
    for (int64_t off = 0; off < L && st == HD_OK; off += W) {
        const int64_t len = L - off < W ? L - off : W;
        const int64_t keep = (len + per - 1) / per;
        /* the first window runs at its own length; later ones are padded with
         * zero features (to the frames the kept rows depend on, ≤ 3000) */
        int64_t T = len;
        if (off > 0) T = keep * per < W ? keep * per : W;
        if (done + keep > total) {
            st = hd_error_set(err, HD_ERR_ARG, "ultravox: row count mismatch");
            break;
        }
        st = embed_window(u, ex, mel + off * M, len, T, win, enc, proj, keep, rows + done * Dl, err);
        done += keep;
    }
    if (st == HD_OK && done != total) st = hd_error_set(err, HD_ERR_ARG, "ultravox: %lld rows, expected %lld", (long long)done, (long long)total);
    free(mel), free(win), free(enc), free(proj);
    if (st) {
        free(rows);
        return st;
    }
    *rows_out = rows, *n_rows = total;
    return HD_OK;
}

const hd_audio_lm_ops hd_ultravox_ops = {
    .family = HD_AUDIO_LM_ULTRAVOX,
    .detect = uv_detect,
    .load = uv_load,
    .free_state = uv_free,
    .lm = uv_lm,
    .tokenizer = uv_tokenizer,
    .window_seconds = uv_window_seconds,
    .n_rows = uv_n_rows,
    .embed = uv_embed,
    .prompt = hd_ultravox_prompt,
    .convert = hd_ultravox_convert_ops,
};
