/* speech/granite_speech.c — hd_granite_speech_ops: IBM Granite Speech 3.3
 * from its Hugging Face folder or the GGUF set `herd convert` writes (see
 * speech/granite_speech.h). */
#include "speech/granite_speech.h"

#include "adapters/qformer.h"
#include "core/strbuf.h"
#include "core/gguf.h"
#include "core/weights.h"
#include "lm/chat.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "speech/granite_encoder.h"
#include "speech/hf_mel.h"
#include "speech/speech_prompt.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct granite_speech {
    char *path;
    hd_weights *w;                 /* encoder + projector tensors (the folder or OUT.gguf) */
    hd_granite_encoder_config enc_cfg;
    hd_qformer_config proj_cfg;
    hd_granite_encoder *enc;
    hd_qformer *proj;
    hd_hf_mel *mel;
    hd_llama_model *lm;            /* NULL with no_lm */
    hd_tokenizer *tok;             /* NULL with no_lm */
    int32_t audio_token;           /* <|audio|> (audio_token_index)                   */
    int32_t t_start, t_end, t_eot; /* <|start_of_role|>, <|end_of_role|>, <|end_of_text|> */
} granite_speech;

/* ---- small helpers ------------------------------------------------------- */

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* The folder part of a file path ("." without a slash), malloc'd. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    char *s = malloc(n + 2);
    if (s) {
        memcpy(s, path, n ? n : 1);
        s[n ? n : 1] = 0;
    }
    return s;
}

static bool gguf_is_granite_speech(const hd_gguf *g) {
    const char *s;
    size_t n;
    return hd_gguf_get_str(g, "general.architecture", &s, &n) && n == 14 && memcmp(s, "granite_speech", 14) == 0;
}

/* ---- detect -------------------------------------------------------------- */

static bool gs_detect(const char *path) {
    if (!path) return false;
    if (is_dir(path)) {
        char *cfg = join(path, "config.json");
        size_t len = 0;
        char *txt = cfg ? hd_read_text_file(cfg, (size_t)16 << 20, &len, NULL) : NULL;
        free(cfg);
        if (!txt) return false;
        cJSON *root = cJSON_ParseWithLength(txt, len);
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        const bool yes = cJSON_IsString(mt) && strcmp(mt->valuestring, "granite_speech") == 0;
        cJSON_Delete(root);
        free(txt);
        return yes;
    }
    hd_gguf *g = hd_gguf_open(path, NULL);
    if (!g) return false;
    const bool yes = gguf_is_granite_speech(g);
    hd_gguf_close(g);
    return yes;
}

/* ---- load ---------------------------------------------------------------- */

static void gs_free(void *state) {
    granite_speech *s = state;
    if (!s) return;
    hd_granite_encoder_free(s->enc);
    hd_qformer_free(s->proj);
    hd_hf_mel_free(s->mel);
    hd_weights_close(s->w);
    hd_tokenizer_free(s->tok);
    hd_llama_free(s->lm);
    free(s->path);
    free(s);
}

/* The tokenizer's chat and audio tokens; the audio token must be the config's. */
static hd_status check_tokenizer(granite_speech *s, const char *where, hd_error *err) {
    s->t_start = hd_tokenizer_find_special(s->tok, "<|start_of_role|>");
    s->t_end = hd_tokenizer_find_special(s->tok, "<|end_of_role|>");
    s->t_eot = hd_tokenizer_find_special(s->tok, "<|end_of_text|>");
    const int32_t audio = hd_tokenizer_find_special(s->tok, "<|audio|>");
    if (s->t_start < 0 || s->t_end < 0 || s->t_eot < 0)
        return hd_error_set(err, HD_ERR_FORMAT,
                            "%s: the tokenizer lacks Granite's <|start_of_role|> / <|end_of_role|> / <|end_of_text|>",
                            where);
    if (audio != s->audio_token)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: <|audio|> is id %d in the tokenizer, audio_token_index is %d", where,
                            (int)audio, (int)s->audio_token);
    if (hd_tokenizer_n_vocab(s->tok) > s->lm->cfg.n_vocab)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has %d ids, the LM %d rows", where,
                            (int)hd_tokenizer_n_vocab(s->tok), s->lm->cfg.n_vocab);
    return HD_OK;
}

/* The LM (lm_path, or the checkpoint's), its LoRA and tokenizer. */
static hd_status load_lm(granite_speech *s, const char *lm_src, const char *lora, const char *tok_src,
                         const hd_audio_lm_params *p, hd_error *err) {
    const char *src = p && p->lm_path ? p->lm_path : lm_src;
    if (!(s->lm = hd_llama_load(src, err))) return err ? err->code : HD_ERR_FORMAT;
    if (!s->lm->cfg.granite)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the LM is not a Granite model (no granite config / GGUF arch)",
                            src);
    if (s->lm->cfg.n_embd != s->proj_cfg.n_out)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: LM width %d, but the projector writes rows of %d", src,
                            s->lm->cfg.n_embd, s->proj_cfg.n_out);
    if (s->audio_token < 0 || s->audio_token >= s->lm->cfg.n_vocab)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: audio_token_index %d is outside the LM vocabulary of %d", s->path,
                            (int)s->audio_token, s->lm->cfg.n_vocab);
    hd_status st;
    if (lora && (st = hd_llama_lora_attach(s->lm, lora, err))) return st;
    /* the tokenizer: the checkpoint's, else the LM file's own */
    hd_error terr = {0};
    s->tok = tok_src ? hd_tokenizer_load(tok_src, &terr) : NULL;
    if (!s->tok && p && p->lm_path) s->tok = hd_tokenizer_load(p->lm_path, &terr);
    if (!s->tok)
        return hd_error_set(err, terr.code ? terr.code : HD_ERR_NOTFOUND, "%s: no usable tokenizer (%s)", s->path,
                            terr.code ? terr.msg : "none found");
    return check_tokenizer(s, tok_src ? tok_src : p->lm_path, err);
}

static hd_status load_folder(granite_speech *s, const char *dir, const hd_audio_lm_params *p, hd_error *err) {
    char *cfg_path = join(dir, "config.json");
    size_t len = 0;
    char *txt = cfg_path ? hd_read_text_file(cfg_path, (size_t)16 << 20, &len, err) : NULL;
    hd_status st = HD_OK;
    cJSON *root = NULL;
    if (!txt) {
        st = cfg_path ? (err ? err->code : HD_ERR_NOTFOUND) : hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        goto out;
    }
    root = cJSON_ParseWithLength(txt, len);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "granite_speech") != 0) {
        st = hd_error_set(err, HD_ERR_ARG, "%s: model_type is not granite_speech", cfg_path);
        goto out;
    }
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "audio_token_index");
    s->audio_token = 49155;   /* GraniteSpeechConfig's default */
    if (at && (!cJSON_IsNumber(at) || at->valuedouble < 0 || at->valuedouble > 1e8 ||
               at->valuedouble != (double)(int32_t)at->valuedouble)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: audio_token_index is not a token id", cfg_path);
        goto out;
    }
    if (at) s->audio_token = (int32_t)at->valuedouble;
    const cJSON *hl = cJSON_GetObjectItemCaseSensitive(root, "has_lora_adapter");
    const bool has_lora = !hl || cJSON_IsTrue(hl);   /* default True */
    /* the LM's text_config first: the projector's width comes from it */
    hd_llama_config text;
    if ((st = hd_llama_config_from_hf_json(&text, txt, len, cfg_path, err)) ||
        (st = hd_granite_encoder_config_from_hf_json(&s->enc_cfg, txt, len, cfg_path, err)) ||
        (st = hd_qformer_config_from_hf_json(&s->proj_cfg, txt, len, cfg_path, err)))
        goto out;
    if (s->proj_cfg.n_out != text.n_embd) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: the projector writes %d-wide rows, text_config.hidden_size is %d",
                          cfg_path, s->proj_cfg.n_out, text.n_embd);
        goto out;
    }
    if (s->proj_cfg.enc_hidden != s->enc_cfg.hidden) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: projector encoder_hidden_size %d, encoder hidden_dim %d", cfg_path,
                          s->proj_cfg.enc_hidden, s->enc_cfg.hidden);
        goto out;
    }
    if (!(s->w = hd_weights_open(dir, err)) ||
        !(s->enc = hd_granite_encoder_load(s->w, "encoder.", &s->enc_cfg, err)) ||
        !(s->proj = hd_qformer_load(s->w, "projector.", &s->proj_cfg, err))) {
        st = err ? err->code : HD_ERR_FORMAT;
        goto out;
    }
    if (p && p->no_lm) goto out;
    char *adapter = join(dir, "adapter_config.json");
    if (!adapter) {
        st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (has_lora && !exists(adapter))
        st = hd_error_set(err, HD_ERR_NOTFOUND, "%s: has_lora_adapter is true but %s is missing", cfg_path, adapter);
    else
        st = load_lm(s, dir, has_lora ? dir : NULL, dir, p, err);
    free(adapter);
out:
    cJSON_Delete(root);
    free(txt);
    free(cfg_path);
    return st;
}

/* A file named by key next to the GGUF at path (malloc'd), NULL when absent. */
static char *beside(const hd_gguf *g, const char *path, const char *key, hd_error *err, hd_status *st) {
    const char *s;
    size_t n;
    *st = HD_OK;
    if (hd_gguf_find_key(g, key) < 0) return NULL;
    if (!hd_gguf_get_str(g, key, &s, &n) || n == 0 || n > 1024 || memchr(s, '/', n) || memchr(s, 0, n)) {
        *st = hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not a plain file name", path, key);
        return NULL;
    }
    char *dir = dir_of(path), *name = malloc(n + 1), *full = NULL;
    if (dir && name) {
        memcpy(name, s, n);
        name[n] = 0;
        full = join(dir, name);
    }
    free(dir), free(name);
    if (!full) *st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    else if (!exists(full)) {
        *st = hd_error_set(err, HD_ERR_NOTFOUND, "%s: %s names %s, which does not exist", path, key, full);
        free(full);
        full = NULL;
    }
    return full;
}

static hd_status load_gguf(granite_speech *s, const char *path, const hd_audio_lm_params *p, hd_error *err) {
    if (!(s->w = hd_weights_open(path, err))) return err ? err->code : HD_ERR_FORMAT;
    const hd_gguf *g = hd_weights_gguf(s->w);
    if (!g || !gguf_is_granite_speech(g))
        return hd_error_set(err, HD_ERR_ARG, "%s: general.architecture is not granite_speech", path);
    uint32_t at;
    if (!hd_gguf_get_u32(g, "granite_speech.audio_token_index", &at) || at > INT32_MAX)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key granite_speech.audio_token_index is missing", path);
    s->audio_token = (int32_t)at;
    hd_status st;
    if ((st = hd_granite_encoder_config_from_gguf(g, &s->enc_cfg, err)) ||
        (st = hd_qformer_config_from_gguf(g, &s->proj_cfg, err)))
        return st;
    /* GGUF names: the HF names without encoder. / projector. (63-byte limit) */
    if (!(s->enc = hd_granite_encoder_load(s->w, "", &s->enc_cfg, err)) ||
        !(s->proj = hd_qformer_load(s->w, "", &s->proj_cfg, err)))
        return err ? err->code : HD_ERR_FORMAT;
    if (p && p->no_lm) return HD_OK;
    char *lm = beside(g, path, "granite_speech.lm_file", err, &st);
    if (st) return st;
    if (!lm && !(p && p->lm_path))
        return hd_error_set(err, HD_ERR_NOTFOUND, "%s: no granite_speech.lm_file key and no LM given", path);
    char *lora = beside(g, path, "granite_speech.lora_file", err, &st);
    if (!st) st = load_lm(s, lm, lora, lm, p, err);
    free(lm);
    free(lora);
    return st;
}

static void *gs_load(const char *path, const hd_audio_lm_params *p, hd_error *err) {
    granite_speech *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    hd_status st;
    if (is_dir(path)) st = load_folder(s, path, p, err);
    else if (exists(path)) st = load_gguf(s, path, p, err);
    else st = hd_error_set(err, HD_ERR_NOTFOUND, "%s: no such file or folder", path);
    if (st == HD_OK) {
        const hd_hf_mel_params mp = hd_hf_mel_granite_params();
        if (!(s->mel = hd_hf_mel_create(&mp, err))) st = err ? err->code : HD_ERR_ARG;
        else if (hd_hf_mel_width(&mp) != s->enc_cfg.input_dim)
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: encoder input_dim %d, but the log-mel gives %d per row", path,
                              s->enc_cfg.input_dim, hd_hf_mel_width(&mp));
    }
    if (st) {
        gs_free(s);
        return NULL;
    }
    return s;
}

/* ---- accessors ----------------------------------------------------------- */

static const hd_llama_model *gs_lm(const void *s) { return ((const granite_speech *)s)->lm; }
static const hd_tokenizer *gs_tokenizer(const void *s) { return ((const granite_speech *)s)->tok; }
static double gs_window_seconds(const void *s) {
    (void)s;
    return 0.0;   /* block-local attention and windowed queries: no length limit */
}

static int64_t gs_n_rows(const void *state, int64_t n) {
    const granite_speech *s = state;
    if (n <= 0) return 0;
    const int64_t frames = hd_hf_mel_n_rows(hd_hf_mel_params_of(s->mel), n);
    return hd_qformer_n_rows(&s->proj_cfg, hd_granite_encoder_n_out(&s->enc_cfg, frames));
}

/* ---- embed --------------------------------------------------------------- */

static hd_status gs_embed(void *state, hd_exec *ex, const float *pcm, int64_t n, float **rows_out, int64_t *n_rows,
                          hd_error *err) {
    granite_speech *s = state;
    *rows_out = NULL, *n_rows = 0;
    if (n < 0 || (n > 0 && !pcm)) return hd_error_set(err, HD_ERR_ARG, "granite-speech: no audio");
    float *feats = NULL, *enc = NULL, *rows = NULL;
    int64_t T = 0;
    hd_status st = hd_hf_mel_compute(hd_hf_mel_params_of(s->mel), pcm, (size_t)n, &feats, &T, NULL, err);
    if (st) return st;
    if (T == 0) {   /* shorter than two mel frames: no rows (the processor reserves none) */
        free(feats);
        return HD_OK;
    }
    const int64_t Te = hd_granite_encoder_n_out(&s->enc_cfg, T);
    const int64_t R = hd_qformer_n_rows(&s->proj_cfg, Te), Dl = s->proj_cfg.n_out;
    enc = malloc((size_t)(Te * s->enc_cfg.hidden) * sizeof *enc);
    rows = malloc((size_t)(R * Dl) * sizeof *rows);
    if (!enc || !rows) st = hd_error_set(err, HD_ERR_NOMEM, "granite-speech: out of memory for %lld rows", (long long)R);
    if (!st) st = hd_granite_encoder_encode(s->enc, ex, feats, T, enc, err);
    if (!st) st = hd_qformer_forward(s->proj, ex, enc, Te, rows, err);
    free(feats);
    free(enc);
    if (st) {
        free(rows);
        return st;
    }
    *rows_out = rows, *n_rows = R;
    return HD_OK;
}

/* ---- prompt -------------------------------------------------------------- */

static hd_status push_text(const granite_speech *s, const char *text, unsigned flags, hd_tokens *out, hd_error *err) {
    size_t len = strlen(text), n = 0;
    if (len == 0) return HD_OK;
    int32_t *ids = malloc((len + 2) * sizeof *ids);
    if (!ids) return hd_error_set(err, HD_ERR_NOMEM, "granite-speech: out of memory for the prompt");
    hd_status st = hd_tokenizer_encode(s->tok, text, len, flags, ids, len + 2, &n, err);
    if (!st) st = hd_tokens_push(out, ids, n, err);
    free(ids);
    return st;
}

static hd_status push_id(hd_tokens *out, int32_t id, hd_error *err) { return hd_tokens_push(out, &id, 1, err); }

/* <|start_of_role|>ROLE<|end_of_role|> */
static hd_status push_role(const granite_speech *s, const char *role, hd_tokens *out, hd_error *err) {
    hd_status st = push_id(out, s->t_start, err);
    if (!st) st = push_text(s, role, 0, out, err);
    if (!st) st = push_id(out, s->t_end, err);
    return st;
}

/* <|end_of_text|>\n */
static hd_status push_end(const granite_speech *s, hd_tokens *out, hd_error *err) {
    hd_status st = push_id(out, s->t_eot, err);
    if (!st) st = push_text(s, "\n", 0, out, err);
    return st;
}

static hd_status gs_prompt(const void *state, const hd_audio_prompt *p, hd_tokens *out, int64_t *audio_at,
                           hd_error *err) {
    const granite_speech *s = state;
    if (!s->tok) return hd_error_set(err, HD_ERR_ARG, "%s: loaded without an LM: no tokenizer for a prompt", s->path);
    if (!p || p->n_audio < 0) return hd_error_set(err, HD_ERR_ARG, "granite-speech: negative audio row count");
    char instr[256];
    const char *text = p->text;
    if (!text) {
        if (p->task == HD_SPEECH_ASR) {
            text = HD_GRANITE_SPEECH_ASR;
        } else if (p->task == HD_SPEECH_AST) {
            const hd_speech_language *lang = hd_speech_language_find(p->language ? p->language : "en");
            if (!lang)
                return hd_error_set(err, HD_ERR_ARG, "granite-speech: unknown language \"%s\" (an ISO 639-1 code or "
                                                     "English name, e.g. de or German)",
                                    p->language);
            snprintf(instr, sizeof instr, HD_GRANITE_SPEECH_AST, lang->name);
            text = instr;
        } else {
            text = "";
        }
    }
    const size_t n0 = out->n;
    hd_status st = push_role(s, "system", out, err);
    if (!st) st = push_text(s, HD_GRANITE_SPEECH_SYSTEM, 0, out, err);
    if (!st) st = push_end(s, out, err);
    if (!st) st = push_role(s, "user", out, err);
    if (!st && audio_at) *audio_at = (int64_t)out->n;
    for (int64_t i = 0; !st && i < p->n_audio; i++) st = push_id(out, HD_LLAMA_TOKEN_EMBD, err);
    if (!st) st = push_text(s, text, 0, out, err);
    if (!st) st = push_end(s, out, err);
    if (!st) st = push_role(s, "assistant", out, err);
    if (st) out->n = n0;
    return st;
}

const hd_audio_lm_ops hd_granite_speech_ops = {
    .family = HD_AUDIO_LM_GRANITE,
    .detect = gs_detect,
    .load = gs_load,
    .free_state = gs_free,
    .lm = gs_lm,
    .tokenizer = gs_tokenizer,
    .window_seconds = gs_window_seconds,
    .n_rows = gs_n_rows,
    .embed = gs_embed,
    .prompt = gs_prompt,
    .convert = hd_granite_speech_convert,
};
