/* speech/ultravox_config.c — Ultravox's config.json and row count
 * (speech/ultravox.h). */
#include "speech/ultravox.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static hd_status bad(hd_error *err, const char *name, const char *key, const char *what) {
    return hd_error_set(err, HD_ERR_FORMAT, "%s: %s %s", name, key, what);
}

/* An integer key in [lo, hi]; absent → def. */
static hd_status get_int(const cJSON *o, const char *key, int lo, int hi, int def, int *out, const char *name,
                         hd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return HD_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
        char what[64];
        snprintf(what, sizeof what, "must be an integer in %d..%d", lo, hi);
        return bad(err, name, key, what);
    }
    *out = (int)v->valuedouble;
    return HD_OK;
}

static hd_status get_id(const cJSON *o, const char *key, char *out, const char *name, hd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    out[0] = 0;
    if (!v || cJSON_IsNull(v)) return HD_OK;
    if (!cJSON_IsString(v) || !v->valuestring[0]) return bad(err, name, key, "must be a non-empty string or null");
    if (strlen(v->valuestring) >= HD_ULTRAVOX_ID_MAX) return bad(err, name, key, "is too long");
    strcpy(out, v->valuestring);
    return HD_OK;
}

hd_status hd_ultravox_config_from_json(const char *json, size_t len, const char *name, hd_ultravox_config *c,
                                       hd_error *err) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", name);
    }
    hd_status st = HD_OK;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "ultravox") != 0) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: model_type is not \"ultravox\"", name);
        goto out;
    }
    if ((st = get_id(root, "text_model_id", c->text_model_id, name, err)) ||
        (st = get_id(root, "audio_model_id", c->audio_model_id, name, err)))
        goto out;
    const cJSON *ac = cJSON_GetObjectItemCaseSensitive(root, "audio_config");
    if (!cJSON_IsObject(ac)) {
        if (c->audio_model_id[0])
            st = hd_error_set(err, HD_ERR_FORMAT,
                              "%s: no audio_config: the audio tower is %s's, not in this folder (herd needs it saved "
                              "in the checkpoint)",
                              name, c->audio_model_id);
        else st = bad(err, name, "audio_config", "is missing or not an object");
        goto out;
    }
    if ((st = hd_whisper_config_from_cjson(ac, name, &c->audio, err))) goto out;
    int block = 0;
    if ((st = get_int(root, "audio_latency_block_size", 1, 1 << 20, 0, &block, name, err))) goto out;
    c->audio.latency_block = block;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "projector_act");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "swiglu") == 0)) {
        st = bad(err, name, "projector_act", "is not \"swiglu\" (the only projector activation herd runs)");
        goto out;
    }
    const cJSON *lnm = cJSON_GetObjectItemCaseSensitive(root, "projector_ln_mid");
    if (lnm && !cJSON_IsBool(lnm) && !cJSON_IsNull(lnm)) {
        st = bad(err, name, "projector_ln_mid", "must be true or false");
        goto out;
    }
    c->proj.ln_mid = cJSON_IsTrue(lnm);   /* UltravoxConfig default False (v0.4.1 and older) */
    c->proj.n_in = c->audio.n_embd;
    c->proj.norm_eps = 1e-6f;             /* ultravox_model.RMSNorm: LlamaRMSNorm(eps=1e-6) */
    if ((st = get_int(root, "stack_factor", 1, 64, 8, &c->proj.stack_factor, name, err)) ||
        (st = get_int(root, "hidden_size", 2, 1 << 20, 4096, &c->proj.n_hidden, name, err)))
        goto out;
    if (c->proj.n_hidden % 2) {
        st = bad(err, name, "hidden_size", "must be even (SwiGLU halves it)");
        goto out;
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (cJSON_IsObject(tc) && (st = get_int(tc, "hidden_size", 1, 1 << 20, 0, &c->proj.n_out, name, err))) goto out;
    int vocab = 0;
    if ((st = get_int(root, "vocab_size", 1, 1 << 28, 0, &vocab, name, err))) goto out;
    c->vocab_size = vocab;
out:
    cJSON_Delete(root);
    return st;
}

int64_t hd_ultravox_n_rows(int stack_factor, int64_t n_samples) {
    if (n_samples <= 0 || stack_factor < 1) return 0;
    const int64_t hop = 160, n = n_samples < 2 * hop ? 2 * hop : n_samples;
    const int64_t L = (n + hop - 1) / hop, per = 2 * (int64_t)stack_factor;   /* mel frames; encoder_ds 2 · S */
    int64_t rows = 0;
    for (int64_t off = 0; off < L; off += HD_ULTRAVOX_WINDOW_FRAMES) {
        const int64_t len = L - off < HD_ULTRAVOX_WINDOW_FRAMES ? L - off : HD_ULTRAVOX_WINDOW_FRAMES;
        rows += (len + per - 1) / per;
    }
    return rows;
}
