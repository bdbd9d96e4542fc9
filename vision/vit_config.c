/* vision/vit_config.c — mllama vision encoder shapes from config.json / GGUF,
 * and the random-model presets (see vit_config.h). */
#include "vit_config.h"

#include "preprocess.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_preset_names[] = {"tiny", "llama-3.2-11b-vision", NULL};

const char *const *hd_vit_config_preset_names(void) { return k_preset_names; }

bool hd_vit_config_preset(const char *name, hd_vit_config *c) {
    static const int inter_11b[5] = {3, 7, 15, 23, 30};
    static const int inter_tiny[5] = {1, 3, 4, 6, 7};
    const bool tiny = strcmp(name, "tiny") == 0;
    if (!tiny && strcmp(name, "llama-3.2-11b-vision") != 0) return false;   /* c untouched */
    memset(c, 0, sizeof *c);
    c->n_channels = 3, c->patch_size = 14, c->max_tiles = 4, c->norm_eps = 1e-5f, c->n_inter = 5;
    if (tiny) {
        c->image_size = 56, c->width = 32, c->n_head = 4, c->n_ff = 64;
        c->n_layer = 8, c->n_global_layer = 2, c->proj_dim = 64;
        memcpy(c->inter, inter_tiny, sizeof inter_tiny);
    } else {
        c->image_size = 560, c->width = 1280, c->n_head = 16, c->n_ff = 5120;
        c->n_layer = 32, c->n_global_layer = 8, c->proj_dim = 4096;
        memcpy(c->inter, inter_11b, sizeof inter_11b);
    }
    return hd_vit_config_validate(c, name, NULL) == HD_OK;
}

hd_status hd_vit_config_validate(hd_vit_config *c, const char *file, hd_error *err) {
#define BAD(...) return hd_error_set(err, HD_ERR_FORMAT, __VA_ARGS__)
    if (c->patch_size < 1 || c->patch_size > 64) BAD("%s: patch_size %d out of range", file, c->patch_size);
    if (c->image_size < c->patch_size || c->image_size > 4096 || c->image_size % c->patch_size)
        BAD("%s: image_size %d is not a multiple of patch_size %d (up to 4096)", file, c->image_size, c->patch_size);
    if (c->n_channels != 3) BAD("%s: num_channels %d, expected 3", file, c->n_channels);
    if (c->width < 1 || c->width > 65536) BAD("%s: hidden_size %d out of range", file, c->width);
    if (c->n_head < 1 || c->width % c->n_head) BAD("%s: hidden_size %d not divisible by %d heads", file, c->width, c->n_head);
    if (c->n_ff < 1 || c->n_ff > 1 << 20) BAD("%s: intermediate_size %d out of range", file, c->n_ff);
    if (c->n_layer < 1 || c->n_layer > 1024) BAD("%s: num_hidden_layers %d out of range", file, c->n_layer);
    if (c->n_global_layer < 0 || c->n_global_layer > 1024)
        BAD("%s: num_global_layers %d out of range", file, c->n_global_layer);
    if (c->n_inter < 1 || c->n_inter > HD_VIT_MAX_INTER)
        BAD("%s: %d intermediate layers (1..%d supported)", file, c->n_inter, HD_VIT_MAX_INTER);
    for (int i = 0; i < c->n_inter; i++)
        if (c->inter[i] < 0 || c->inter[i] > c->n_layer || (i && c->inter[i] <= c->inter[i - 1]))
            BAD("%s: intermediate layer index %d is not increasing within 0..%d", file, c->inter[i], c->n_layer);
    if (c->max_tiles < 1 || c->max_tiles > HD_MLLAMA_MAX_TILES)
        BAD("%s: max_num_tiles %d out of range 1..%d", file, c->max_tiles, HD_MLLAMA_MAX_TILES);
    if (c->proj_dim < 1 || c->proj_dim > 65536) BAD("%s: projection width %d out of range", file, c->proj_dim);
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps)) BAD("%s: norm_eps must be positive", file);
    const int g = c->image_size / c->patch_size;
    c->n_patches = g * g;
    c->n_pos = c->n_patches + 1;
    /* g² + 1 is never a multiple of 8 (squares are 0, 1 or 4 mod 8), so there is
     * always padding, which HF's _prepare_aspect_ratio_attention_mask relies on */
    c->n_pad = (8 - c->n_pos % 8) % 8;
    int rows[64], cols[64];
    c->n_ar = hd_mllama_aspect_ratios(c->max_tiles, rows, cols) + 1;
    c->out_dim = c->width * (c->n_inter + 1);
    return HD_OK;
#undef BAD
}

/* ---- config.json ---------------------------------------------------------- */

static hd_status jint(const cJSON *o, const char *key, int def, int *out, const char *file, hd_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        if (def < 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: vision_config.%s is missing", file, key);
        *out = def;
        return HD_OK;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || fabs(j->valuedouble) > 1e9)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not an integer", file, key);
    *out = (int)j->valuedouble;
    return HD_OK;
}

static hd_status parse(hd_vit_config *c, const cJSON *root, const char *file, hd_error *err) {
    memset(c, 0, sizeof *c);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (!cJSON_IsObject(v)) return hd_error_set(err, HD_ERR_FORMAT, "%s: no vision_config (not an mllama config)", file);
    hd_status st;
    if ((st = jint(v, "image_size", -1, &c->image_size, file, err)) ||
        (st = jint(v, "patch_size", -1, &c->patch_size, file, err)) ||
        (st = jint(v, "num_channels", 3, &c->n_channels, file, err)) ||
        (st = jint(v, "hidden_size", -1, &c->width, file, err)) ||
        (st = jint(v, "attention_heads", -1, &c->n_head, file, err)) ||
        (st = jint(v, "intermediate_size", -1, &c->n_ff, file, err)) ||
        (st = jint(v, "num_hidden_layers", -1, &c->n_layer, file, err)) ||
        (st = jint(v, "num_global_layers", -1, &c->n_global_layer, file, err)) ||
        (st = jint(v, "max_num_tiles", 4, &c->max_tiles, file, err)))
        return st;
    const cJSON *ha = cJSON_GetObjectItemCaseSensitive(v, "hidden_act");
    if (ha && !(cJSON_IsString(ha) && strcmp(ha->valuestring, "gelu") == 0))
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: vision hidden_act is not \"gelu\"", file);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(v, "norm_eps");
    c->norm_eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-5f;
    const cJSON *ii = cJSON_GetObjectItemCaseSensitive(v, "intermediate_layers_indices");
    if (!cJSON_IsArray(ii)) return hd_error_set(err, HD_ERR_FORMAT, "%s: vision_config.intermediate_layers_indices is missing", file);
    const int n = cJSON_GetArraySize(ii);
    if (n < 1 || n > HD_VIT_MAX_INTER)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %d intermediate layers (1..%d supported)", file, n, HD_VIT_MAX_INTER);
    c->n_inter = n;
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(ii, i);
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 1e6)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: intermediate_layers_indices[%d] is not an integer", file, i);
        c->inter[i] = (int)e->valuedouble;
    }
    /* supported_aspect_ratios must be the standard list for max_num_tiles */
    const cJSON *sar = cJSON_GetObjectItemCaseSensitive(v, "supported_aspect_ratios");
    if (sar) {
        int rows[64], cols[64];
        const int m = c->max_tiles >= 1 && c->max_tiles <= HD_MLLAMA_MAX_TILES ? hd_mllama_aspect_ratios(c->max_tiles, rows, cols) : 0;
        bool ok = cJSON_IsArray(sar) && cJSON_GetArraySize(sar) == m;
        for (int i = 0; ok && i < m; i++) {
            const cJSON *p = cJSON_GetArrayItem(sar, i);
            ok = cJSON_IsArray(p) && cJSON_GetArraySize(p) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(p, 0)) &&
                 cJSON_IsNumber(cJSON_GetArrayItem(p, 1)) && cJSON_GetArrayItem(p, 0)->valuedouble == rows[i] &&
                 cJSON_GetArrayItem(p, 1)->valuedouble == cols[i];
        }
        if (!ok)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: supported_aspect_ratios is not the standard list for %d tiles",
                                file, c->max_tiles);
    }
    if (!cJSON_IsObject(t)) return hd_error_set(err, HD_ERR_FORMAT, "%s: no text_config (the projector width)", file);
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(t, "hidden_size");
    if (!cJSON_IsNumber(hs) || hs->valuedouble != floor(hs->valuedouble) || hs->valuedouble < 1 || hs->valuedouble > 65536)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: text_config.hidden_size is missing or bad", file);
    c->proj_dim = (int)hs->valuedouble;
    const cJSON *vod = cJSON_GetObjectItemCaseSensitive(v, "vision_output_dim");
    if ((st = hd_vit_config_validate(c, file, err))) return st;
    if (vod && (!cJSON_IsNumber(vod) || vod->valuedouble != c->out_dim))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: vision_output_dim is not hidden_size × (%d + 1) = %d", file,
                            c->n_inter, c->out_dim);
    return HD_OK;
}

hd_status hd_vit_config_from_hf_json(hd_vit_config *c, const char *json, size_t len, const char *name,
                                     hd_error *err) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return hd_error_set(err, HD_ERR_FORMAT, "%s: not valid JSON", name);
    hd_status st = parse(c, root, name, err);
    cJSON_Delete(root);
    return st;
}

hd_status hd_vit_config_from_hf(hd_vit_config *c, const char *path, hd_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hd_error_set(err, HD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    const size_t cap = (size_t)16 << 20;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    }
    const size_t n = fread(buf, 1, cap, f);
    hd_status st = HD_OK;
    if (ferror(f)) st = hd_error_set(err, HD_ERR_IO, "%s: read error", path);
    else if (n == cap) st = hd_error_set(err, HD_ERR_FORMAT, "%s: larger than 16 MiB, not a config.json", path);
    fclose(f);
    if (st == HD_OK) st = hd_vit_config_from_hf_json(c, buf, n, path, err);
    free(buf);
    return st;
}

/* ---- GGUF ----------------------------------------------------------------- */

#define KEY(k) "mllama_vision." k

static hd_status need(const hd_gguf *g, const char *key, int *out, hd_error *err) {
    uint32_t v;
    if (!hd_gguf_get_u32(g, key, &v) || v > (1u << 30))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is missing or out of range", hd_gguf_name(g), key);
    *out = (int)v;
    return HD_OK;
}

hd_status hd_vit_config_from_gguf(hd_vit_config *c, const hd_gguf *g, hd_error *err) {
    memset(c, 0, sizeof *c);
    const char *name = hd_gguf_name(g);
    const char *arch;
    size_t alen;
    const bool ok = hd_gguf_get_str(g, "general.architecture", &arch, &alen) &&
                    ((alen == strlen("mllama_vision") && memcmp(arch, "mllama_vision", alen) == 0) ||
                     (alen == strlen("mllama") && memcmp(arch, "mllama", alen) == 0));
    if (!ok)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: general.architecture is not \"mllama_vision\" or \"mllama\"", name);
    hd_status st;
    c->n_channels = 3;
    if ((st = need(g, KEY("image_size"), &c->image_size, err)) || (st = need(g, KEY("patch_size"), &c->patch_size, err)) ||
        (st = need(g, KEY("embedding_length"), &c->width, err)) ||
        (st = need(g, KEY("feed_forward_length"), &c->n_ff, err)) ||
        (st = need(g, KEY("attention.head_count"), &c->n_head, err)) ||
        (st = need(g, KEY("block_count"), &c->n_layer, err)) ||
        (st = need(g, KEY("global_block_count"), &c->n_global_layer, err)) ||
        (st = need(g, KEY("max_num_tiles"), &c->max_tiles, err)) ||
        (st = need(g, KEY("projection_dim"), &c->proj_dim, err)))
        return st;
    if (!hd_gguf_get_f32(g, KEY("attention.layer_norm_epsilon"), &c->norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is missing", name, KEY("attention.layer_norm_epsilon"));
    const int64_t ki = hd_gguf_find_key(g, KEY("intermediate_layers"));
    hd_gguf_vtype et;
    uint64_t n = 0;
    if (ki < 0 || !hd_gguf_kv_array(g, ki, &et, &n) || n < 1 || n > HD_VIT_MAX_INTER)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is missing or not an array of 1..%d indices", name,
                            KEY("intermediate_layers"), HD_VIT_MAX_INTER);
    c->n_inter = (int)n;
    for (uint64_t i = 0; i < n; i++) {
        double d;
        if (!hd_gguf_arr_number(g, ki, i, &d) || d != floor(d) || fabs(d) > 1e6)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s[%d] is not an integer", name, KEY("intermediate_layers"), (int)i);
        c->inter[i] = (int)d;
    }
    return hd_vit_config_validate(c, name, err);
}

hd_status hd_vit_config_to_gguf(const hd_vit_config *c, hd_gguf_writer *w, hd_error *err) {
    if (hd_gguf_set_str(w, "general.architecture", "mllama_vision"))
        return hd_error_set(err, HD_ERR_NOMEM, "GGUF metadata: out of memory");
    return hd_vit_config_to_gguf_keys(c, w, err);
}

hd_status hd_vit_config_to_gguf_keys(const hd_vit_config *c, hd_gguf_writer *w, hd_error *err) {
    int32_t inter[HD_VIT_MAX_INTER];
    for (int i = 0; i < c->n_inter; i++) inter[i] = c->inter[i];
    if (hd_gguf_set_u32(w, KEY("image_size"), (uint32_t)c->image_size) ||
        hd_gguf_set_u32(w, KEY("patch_size"), (uint32_t)c->patch_size) ||
        hd_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->width) ||
        hd_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->n_ff) ||
        hd_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head) ||
        hd_gguf_set_f32(w, KEY("attention.layer_norm_epsilon"), c->norm_eps) ||
        hd_gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layer) ||
        hd_gguf_set_u32(w, KEY("global_block_count"), (uint32_t)c->n_global_layer) ||
        hd_gguf_set_arr_i32(w, KEY("intermediate_layers"), inter, (uint64_t)c->n_inter) ||
        hd_gguf_set_u32(w, KEY("max_num_tiles"), (uint32_t)c->max_tiles) ||
        hd_gguf_set_u32(w, KEY("projection_dim"), (uint32_t)c->proj_dim))
        return hd_error_set(err, HD_ERR_NOMEM, "GGUF metadata: out of memory");
    return HD_OK;
}
