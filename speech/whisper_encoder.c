/* speech/whisper_encoder.c — Whisper's audio encoder on core/nn.h (see
 * whisper_encoder.h): config (presets, WhisperConfig JSON, llama.cpp clip
 * keys), loading in the HF and the mmproj layout, and the forward pass. */
#include "whisper_encoder.h"

#include "core/arena.h"
#include "core/nn.h"
#include "core/ops.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config ----------------------------------------------------------------- */

bool hd_whisper_preset(const char *name, hd_whisper_config *c) {
    if (!name || !c) return false;
    hd_whisper_config k = {.norm_eps = 1e-5f, .n_pos = 1500};
    if (!strcmp(name, "tiny-test")) {
        k.n_mel = 80, k.n_embd = 64, k.n_ff = 128, k.n_layer = 2, k.n_head = 4;
    } else if (!strcmp(name, "whisper-large-v3-turbo") || !strcmp(name, "whisper-large-v3")) {
        k.n_mel = 128, k.n_embd = 1280, k.n_ff = 5120, k.n_layer = 32, k.n_head = 20;
    } else if (!strcmp(name, "whisper-base")) {
        k.n_mel = 80, k.n_embd = 512, k.n_ff = 2048, k.n_layer = 6, k.n_head = 8;
    } else {
        return false;
    }
    *c = k;
    return true;
}

hd_status hd_whisper_config_check(const hd_whisper_config *c, hd_error *err) {
    if (!c) return hd_error_set(err, HD_ERR_ARG, "whisper encoder: no config");
    if (c->n_mel < 1 || c->n_mel > 1024)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: num_mel_bins %d out of 1..1024", c->n_mel);
    if (c->n_embd < 1 || c->n_embd > 65536)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: d_model %d out of 1..65536", c->n_embd);
    if (c->n_head < 1 || c->n_embd % c->n_head)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: %d heads do not divide d_model %d", c->n_head,
                            c->n_embd);
    if (c->n_ff < 1 || c->n_ff > (1 << 20))
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: encoder_ffn_dim %d out of 1..1048576", c->n_ff);
    if (c->n_layer < 1 || c->n_layer > 1024)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: encoder_layers %d out of 1..1024", c->n_layer);
    if (c->n_pos < 1 || c->n_pos > (1 << 20))
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: max_source_positions %d out of 1..1048576", c->n_pos);
    if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps))
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: layer norm epsilon %g must be positive", c->norm_eps);
    if (c->latency_block < 0 || c->latency_block > c->n_pos)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: latency block %d out of 0..%d", c->latency_block,
                            c->n_pos);
    return HD_OK;
}

/* obj[key] as an int in lo..hi into *v; absent leaves *v. */
static hd_status json_int(const cJSON *obj, const char *key, int lo, int hi, int *v, const char *name,
                          hd_error *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return HD_OK;
    const double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d != floor(d) || d < lo || d > hi)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: audio_config.%s must be an integer in %d..%d", name, key, lo,
                            hi);
    *v = (int)d;
    return HD_OK;
}

hd_status hd_whisper_config_from_cjson(const struct cJSON *obj, const char *name, hd_whisper_config *c,
                                       hd_error *err) {
    if (!name) name = "config.json";
    if (!cJSON_IsObject(obj)) return hd_error_set(err, HD_ERR_FORMAT, "%s: audio_config is not an object", name);
    /* WhisperConfig's defaults (transformers configuration_whisper.py) */
    hd_whisper_config k = {.n_mel = 80, .n_embd = 384, .n_ff = 1536, .n_layer = 4, .n_head = 6, .n_pos = 1500,
                           .norm_eps = 1e-5f, .latency_block = 0};
    hd_status st;
    if ((st = json_int(obj, "num_mel_bins", 1, 1024, &k.n_mel, name, err)) ||
        (st = json_int(obj, "d_model", 1, 65536, &k.n_embd, name, err)) ||
        (st = json_int(obj, "encoder_ffn_dim", 1, 1 << 20, &k.n_ff, name, err)) ||
        (st = json_int(obj, "encoder_layers", 1, 1024, &k.n_layer, name, err)) ||
        (st = json_int(obj, "encoder_attention_heads", 1, 65536, &k.n_head, name, err)) ||
        (st = json_int(obj, "max_source_positions", 1, 1 << 20, &k.n_pos, name, err)))
        return st;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(obj, "activation_function");
    if (act && !cJSON_IsNull(act) && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: audio_config.activation_function %s%s%s: only \"gelu\"", name,
                            cJSON_IsString(act) ? "\"" : "", cJSON_IsString(act) ? act->valuestring : "(not a string)",
                            cJSON_IsString(act) ? "\"" : "");
    if ((st = hd_whisper_config_check(&k, err))) {
        hd_error_prefix(err, "%s", name);
        return st;
    }
    *c = k;
    return HD_OK;
}

hd_status hd_whisper_config_from_json(const char *json, size_t len, const char *name, hd_whisper_config *c,
                                      hd_error *err) {
    if (!name) name = "config.json";
    if (!json) return hd_error_set(err, HD_ERR_ARG, "%s: no JSON text", name);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return hd_error_set(err, HD_ERR_FORMAT, "%s: not valid JSON", name);
    const hd_status st = hd_whisper_config_from_cjson(root, name, c, err);
    cJSON_Delete(root);
    return st;
}

static hd_status gguf_u32(const hd_gguf *g, const char *key, int lo, int hi, int *v, hd_error *err) {
    uint32_t u;
    if (!hd_gguf_get_u32(g, key, &u))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is missing or not a u32", hd_gguf_name(g), key);
    if (u < (uint32_t)lo || u > (uint32_t)hi)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s = %u is out of %d..%d", hd_gguf_name(g), key, u, lo, hi);
    *v = (int)u;
    return HD_OK;
}

hd_status hd_whisper_config_from_gguf(const hd_gguf *g, hd_whisper_config *c, hd_error *err) {
    if (!g) return hd_error_set(err, HD_ERR_ARG, "whisper encoder: no GGUF file");
    hd_whisper_config k = {.norm_eps = 1e-5f};
    hd_status st;
    if ((st = gguf_u32(g, "clip.audio.embedding_length", 1, 65536, &k.n_embd, err)) ||
        (st = gguf_u32(g, "clip.audio.feed_forward_length", 1, 1 << 20, &k.n_ff, err)) ||
        (st = gguf_u32(g, "clip.audio.block_count", 1, 1024, &k.n_layer, err)) ||
        (st = gguf_u32(g, "clip.audio.attention.head_count", 1, 65536, &k.n_head, err)) ||
        (st = gguf_u32(g, "clip.audio.num_mel_bins", 1, 1024, &k.n_mel, err)))
        return st;
    if (hd_gguf_find_key(g, "clip.audio.attention.layer_norm_epsilon") >= 0 &&
        !hd_gguf_get_f32(g, "clip.audio.attention.layer_norm_epsilon", &k.norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: clip.audio.attention.layer_norm_epsilon is not an f32",
                            hd_gguf_name(g));
    const int64_t ti = hd_gguf_find_tensor(g, "a.position_embd.weight");
    if (ti < 0) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: tensor a.position_embd.weight is missing", hd_gguf_name(g));
    const hd_gguf_tensor_info *t = hd_gguf_tensor(g, ti);
    if (t->n_dims != 2 || t->ne[1] < 1 || t->ne[1] > (1 << 20))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor a.position_embd.weight is not [P, D]", hd_gguf_name(g));
    k.n_pos = (int)t->ne[1];
    if ((st = hd_whisper_config_check(&k, err))) {
        hd_error_prefix(err, "%s", hd_gguf_name(g));
        return st;
    }
    *c = k;
    return HD_OK;
}

hd_status hd_whisper_config_to_gguf(const hd_whisper_config *c, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_whisper_config_check(c, err);
    if (st) return st;
    if (!w) return hd_error_set(err, HD_ERR_ARG, "whisper encoder: no GGUF writer");
    if ((st = hd_gguf_set_u32(w, "clip.audio.embedding_length", (uint32_t)c->n_embd)) ||
        (st = hd_gguf_set_u32(w, "clip.audio.feed_forward_length", (uint32_t)c->n_ff)) ||
        (st = hd_gguf_set_u32(w, "clip.audio.block_count", (uint32_t)c->n_layer)) ||
        (st = hd_gguf_set_u32(w, "clip.audio.attention.head_count", (uint32_t)c->n_head)) ||
        (st = hd_gguf_set_u32(w, "clip.audio.num_mel_bins", (uint32_t)c->n_mel)) ||
        (st = hd_gguf_set_f32(w, "clip.audio.attention.layer_norm_epsilon", c->norm_eps)))
        return hd_error_set(err, st, "whisper encoder: cannot set the clip.audio keys");
    return HD_OK;
}

/* HF name → mmproj name: whole names, then per-layer suffixes. */
static const char *const MM_TOP[][2] = {
    {"conv1.weight", "a.conv1d.1.weight"},           {"conv1.bias", "a.conv1d.1.bias"},
    {"conv2.weight", "a.conv1d.2.weight"},           {"conv2.bias", "a.conv1d.2.bias"},
    {"embed_positions.weight", "a.position_embd.weight"}, {"layer_norm.weight", "a.post_ln.weight"},
    {"layer_norm.bias", "a.post_ln.bias"},
};
static const char *const MM_LAYER[][2] = {
    {"self_attn.q_proj.weight", "attn_q.weight"},     {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},     {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},         {"self_attn.out_proj.weight", "attn_out.weight"},
    {"self_attn.out_proj.bias", "attn_out.bias"},     {"self_attn_layer_norm.weight", "ln1.weight"},
    {"self_attn_layer_norm.bias", "ln1.bias"},        {"final_layer_norm.weight", "ln2.weight"},
    {"final_layer_norm.bias", "ln2.bias"},            {"fc1.weight", "ffn_up.weight"},
    {"fc1.bias", "ffn_up.bias"},                      {"fc2.weight", "ffn_down.weight"},
    {"fc2.bias", "ffn_down.bias"},
};
#define MM_N_LAYER_NAMES ((int)(sizeof MM_LAYER / sizeof *MM_LAYER))

bool hd_whisper_mmproj_name(const char *hf, char *out, size_t size) {
    if (!hf || !out || size == 0) return false;
    for (size_t i = 0; i < sizeof MM_TOP / sizeof *MM_TOP; i++)
        if (!strcmp(hf, MM_TOP[i][0])) {
            if (strlen(MM_TOP[i][1]) >= size) return false;
            memcpy(out, MM_TOP[i][1], strlen(MM_TOP[i][1]) + 1);
            return true;
        }
    if (strncmp(hf, "layers.", 7) != 0) return false;
    const char *p = hf + 7;
    int n = 0, digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 5; p++, digits++) n = 10 * n + (*p - '0');
    if (digits == 0 || *p != '.' || (digits > 1 && hf[7] == '0')) return false;
    for (int i = 0; i < MM_N_LAYER_NAMES; i++)
        if (!strcmp(p + 1, MM_LAYER[i][0])) {
            char buf[128];
            const int len = snprintf(buf, sizeof buf, "a.blk.%d.%s", n, MM_LAYER[i][1]);
            if (len < 0 || (size_t)len >= size) return false;
            memcpy(out, buf, (size_t)len + 1);
            return true;
        }
    return false;
}

int64_t hd_whisper_encoder_n_out(int64_t n_mel_frames) { return n_mel_frames <= 0 ? 0 : (n_mel_frames - 1) / 2 + 1; }

int64_t hd_whisper_encoder_max_frames(const hd_whisper_config *c) { return 2 * (int64_t)c->n_pos; }

int64_t hd_whisper_n_params(const hd_whisper_config *c) {
    const int64_t D = c->n_embd, F = c->n_ff, M = c->n_mel;
    const int64_t layer = 4 * D * D + 3 * D + 4 * D + 2 * D * F + F + D;
    return D * M * 3 + D + D * D * 3 + D + (int64_t)c->n_pos * D + (int64_t)c->n_layer * layer + 2 * D;
}

/* ---- weights ---------------------------------------------------------------- */

typedef struct wlayer {
    hd_nn_layer_w w;                  /* views of the tensors below          */
    hd_tensor q, k, v, o;             /* [D, D] each (PyTorch [out, in])     */
    hd_tensor bq, bv, bo;             /* [D] F32                             */
    hd_tensor ln1_w, ln1_b, ln2_w, ln2_b; /* [D] F32                         */
    hd_tensor fc1, fc1_b;             /* [F, D], [F] F32                     */
    hd_tensor fc2, fc2_b;             /* [D, F], [D] F32                     */
} wlayer;

struct hd_whisper_encoder {
    hd_whisper_config c;
    const hd_weights *file;           /* borrowed                             */
    bool mmproj;                      /* a.* names                            */
    char prefix[128];                 /* HF names: prefix + name              */
    hd_tensor conv1, conv1_b;         /* [D, n_mel, 3] F32/F16, [D] F32       */
    hd_tensor conv2, conv2_b;         /* [D, D, 3] F32/F16, [D] F32           */
    hd_tensor pos;                    /* [P, D] F32                           */
    hd_tensor ln_w, ln_b;             /* [D] F32                              */
    wlayer *layers;                   /* [n_layer]                            */
    void **owned;                     /* F32 / aligned copies made at load    */
    int n_owned, cap_owned;
    hd_arena *arena;                  /* activations of one window            */
    int64_t arena_frames;             /* the longest window it is sized for   */
};

const hd_whisper_config *hd_whisper_encoder_config(const hd_whisper_encoder *e) { return &e->c; }

static void *own(hd_whisper_encoder *e, size_t bytes) {
    if (e->n_owned == e->cap_owned) {
        const int nc = e->cap_owned ? 2 * e->cap_owned : 64;
        void **n = realloc(e->owned, (size_t)nc * sizeof *n);
        if (!n) return NULL;
        e->owned = n, e->cap_owned = nc;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) e->owned[e->n_owned++] = p;
    return p;
}

/* The tensor with HF name `hf` (after the prefix) or mmproj name `gg`, PyTorch
 * shape dims[0..n) (outermost first).  Data that is not 4-byte aligned (an odd
 * number of BF16 values before it in a safetensors file) is copied. */
static hd_status get(hd_whisper_encoder *e, const char *hf, const char *gg, int n, const int64_t *dims,
                     uint64_t types, hd_tensor *out, hd_error *err) {
    char name[256];
    if (e->mmproj)
        snprintf(name, sizeof name, "%s", gg);
    else
        snprintf(name, sizeof name, "%s%s", e->prefix, hf);
    int64_t ne[4];
    for (int i = 0; i < n; i++) ne[i] = dims[n - 1 - i];
    hd_status st = hd_weights_get(e->file, name, n, ne, types, out, err);
    if (st || (uintptr_t)out->data % 4 == 0) return st;
    const size_t bytes = hd_tensor_nbytes(out);
    void *d = own(e, bytes);
    if (!d) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %s", hd_weights_name(e->file), name);
    memcpy(d, out->data, bytes);
    out->data = d;
    return HD_OK;
}

/* The same as F32 (a copy owned by e when the file holds another type). */
static hd_status to_f32(hd_whisper_encoder *e, hd_tensor *t, const char *what, hd_error *err) {
    if (t->type == HD_TYPE_F32) return HD_OK;
    float *d = own(e, (size_t)hd_tensor_nelements(t) * sizeof(float));
    if (!d) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %s", hd_weights_name(e->file), what);
    hd_tensor f = hd_tensor_view(HD_TYPE_F32, t->n_dims, t->ne, d);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    const hd_status st = hd_op_convert(&ex, &f, t, err);
    if (st) {
        hd_error_prefix(err, "%s: %s", hd_weights_name(e->file), what);
        return st;
    }
    *t = f;
    return HD_OK;
}

static hd_status get_f32(hd_whisper_encoder *e, const char *hf, const char *gg, int n, const int64_t *dims,
                         hd_tensor *out, hd_error *err) {
    hd_status st = get(e, hf, gg, n, dims, HD_TYPES_ANY, out, err);
    return st ? st : to_f32(e, out, e->mmproj ? gg : hf, err);
}

/* A conv bias: [D] (HF) or [D, 1] (llama.cpp writes it unsqueezed). */
static hd_status get_conv_bias(hd_whisper_encoder *e, const char *hf, const char *gg, hd_tensor *out,
                               hd_error *err) {
    const int64_t D = e->c.n_embd, d1[1] = {D}, d2[2] = {D, 1};
    hd_status st;
    if (e->mmproj && hd_weights_gguf(e->file)) {
        const hd_gguf *g = hd_weights_gguf(e->file);
        const int64_t i = hd_gguf_find_tensor(g, gg);
        if (i >= 0 && hd_gguf_tensor(g, i)->n_dims == 2) {
            if ((st = get_f32(e, hf, gg, 2, d2, out, err))) return st;
            *out = hd_tensor_1d(HD_TYPE_F32, D, out->data);
            return HD_OK;
        }
    }
    return get_f32(e, hf, gg, 1, d1, out, err);
}

/* A conv kernel: F32 or F16 as conv1d takes it (BF16 etc. converted). */
static hd_status get_conv(hd_whisper_encoder *e, const char *hf, const char *gg, int64_t c_in, hd_tensor *out,
                          hd_error *err) {
    const int64_t dims[3] = {e->c.n_embd, c_in, 3};
    hd_status st = get(e, hf, gg, 3, dims, HD_TYPES_ANY, out, err);
    if (st || out->type == HD_TYPE_F32 || out->type == HD_TYPE_F16) return st;
    return to_f32(e, out, e->mmproj ? gg : hf, err);
}

static hd_status load_layer(hd_whisper_encoder *e, wlayer *L, int i, hd_error *err) {
    const int64_t D = e->c.n_embd, F = e->c.n_ff;
    const int64_t sq[2] = {D, D}, s1[1] = {D}, sf1[2] = {F, D}, sfb[1] = {F}, sf2[2] = {D, F};
    char h[MM_N_LAYER_NAMES][96], g[MM_N_LAYER_NAMES][96];
    for (int j = 0; j < MM_N_LAYER_NAMES; j++) {
        snprintf(h[j], sizeof h[j], "layers.%d.%s", i, MM_LAYER[j][0]);
        snprintf(g[j], sizeof g[j], "a.blk.%d.%s", i, MM_LAYER[j][1]);
    }
    hd_status st;
    if ((st = get(e, h[0], g[0], 2, sq, HD_TYPES_ANY, &L->q, err)) ||
        (st = get_f32(e, h[1], g[1], 1, s1, &L->bq, err)) ||
        (st = get(e, h[2], g[2], 2, sq, HD_TYPES_ANY, &L->k, err)) ||
        (st = get(e, h[3], g[3], 2, sq, HD_TYPES_ANY, &L->v, err)) ||
        (st = get_f32(e, h[4], g[4], 1, s1, &L->bv, err)) ||
        (st = get(e, h[5], g[5], 2, sq, HD_TYPES_ANY, &L->o, err)) ||
        (st = get_f32(e, h[6], g[6], 1, s1, &L->bo, err)) ||
        (st = get_f32(e, h[7], g[7], 1, s1, &L->ln1_w, err)) ||
        (st = get_f32(e, h[8], g[8], 1, s1, &L->ln1_b, err)) ||
        (st = get_f32(e, h[9], g[9], 1, s1, &L->ln2_w, err)) ||
        (st = get_f32(e, h[10], g[10], 1, s1, &L->ln2_b, err)) ||
        (st = get(e, h[11], g[11], 2, sf1, HD_TYPES_ANY, &L->fc1, err)) ||
        (st = get_f32(e, h[12], g[12], 1, sfb, &L->fc1_b, err)) ||
        (st = get(e, h[13], g[13], 2, sf2, HD_TYPES_ANY, &L->fc2, err)) ||
        (st = get_f32(e, h[14], g[14], 1, s1, &L->fc2_b, err)))
        return st;
    /* k_proj has no bias in Whisper: a file that has one is not this layout */
    char kb[256];
    if (e->mmproj)
        snprintf(kb, sizeof kb, "a.blk.%d.attn_k.bias", i);
    else
        snprintf(kb, sizeof kb, "%slayers.%d.self_attn.k_proj.bias", e->prefix, i);
    if (hd_weights_has(e->file, kb))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s present, but Whisper's k_proj has no bias",
                            hd_weights_name(e->file), kb);
    const float eps = e->c.norm_eps;
    L->w = (hd_nn_layer_w){
        .attn_norm = {HD_NN_NORM_LAYER, &L->ln1_w, &L->ln1_b, eps},
        .attn = {.wq = &L->q, .wk = &L->k, .wv = &L->v, .wo = &L->o, .bq = &L->bq, .bk = NULL, .bv = &L->bv,
                 .bo = &L->bo, .n_head = e->c.n_head, .n_kv_head = e->c.n_head,
                 .head_dim = e->c.n_embd / e->c.n_head},
        .mlp_norm = {HD_NN_NORM_LAYER, &L->ln2_w, &L->ln2_b, eps},
        .mlp = {.gate = NULL, .up = &L->fc1, .down = &L->fc2, .b_up = &L->fc1_b, .b_down = &L->fc2_b,
                .act = HD_NN_ACT_GELU_ERF},
    };
    return HD_OK;
}

static hd_status load_all(hd_whisper_encoder *e, hd_error *err) {
    const int64_t D = e->c.n_embd, s1[1] = {D}, spos[2] = {e->c.n_pos, D};
    hd_status st;
    if ((st = get_conv(e, "conv1.weight", "a.conv1d.1.weight", e->c.n_mel, &e->conv1, err)) ||
        (st = get_conv_bias(e, "conv1.bias", "a.conv1d.1.bias", &e->conv1_b, err)) ||
        (st = get_conv(e, "conv2.weight", "a.conv1d.2.weight", D, &e->conv2, err)) ||
        (st = get_conv_bias(e, "conv2.bias", "a.conv1d.2.bias", &e->conv2_b, err)) ||
        (st = get_f32(e, "embed_positions.weight", "a.position_embd.weight", 2, spos, &e->pos, err)) ||
        (st = get_f32(e, "layer_norm.weight", "a.post_ln.weight", 1, s1, &e->ln_w, err)) ||
        (st = get_f32(e, "layer_norm.bias", "a.post_ln.bias", 1, s1, &e->ln_b, err)))
        return st;
    if (!(e->layers = calloc((size_t)e->c.n_layer, sizeof *e->layers)))
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", hd_weights_name(e->file));
    for (int i = 0; i < e->c.n_layer; i++)
        if ((st = load_layer(e, &e->layers[i], i, err))) return st;
    return HD_OK;
}

static hd_whisper_encoder *load(const hd_weights *w, const char *prefix, bool mmproj, const hd_whisper_config *c,
                                hd_error *err) {
    if (!w) {
        hd_error_set(err, HD_ERR_ARG, "whisper encoder: no weights");
        return NULL;
    }
    if (prefix && strlen(prefix) >= 100) {
        hd_error_set(err, HD_ERR_ARG, "%s: tensor prefix '%.40s...' is too long", hd_weights_name(w), prefix);
        return NULL;
    }
    hd_whisper_config k;
    if (c) {
        k = *c;
    } else if (mmproj && hd_weights_gguf(w)) {
        if (hd_whisper_config_from_gguf(hd_weights_gguf(w), &k, err)) return NULL;
    } else {
        hd_error_set(err, HD_ERR_ARG, "%s: the Whisper encoder needs a config (no GGUF keys to read)",
                     hd_weights_name(w));
        return NULL;
    }
    if (hd_whisper_config_check(&k, err)) {
        hd_error_prefix(err, "%s", hd_weights_name(w));
        return NULL;
    }
    hd_whisper_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", hd_weights_name(w));
        return NULL;
    }
    e->c = k;
    e->file = w;
    e->mmproj = mmproj;
    snprintf(e->prefix, sizeof e->prefix, "%s", prefix ? prefix : "");
    if (load_all(e, err)) {
        hd_whisper_encoder_free(e);
        return NULL;
    }
    return e;
}

hd_whisper_encoder *hd_whisper_encoder_load(const hd_weights *w, const char *prefix, const hd_whisper_config *c,
                                            hd_error *err) {
    if (!c) {
        hd_error_set(err, HD_ERR_ARG, "%s: the Whisper encoder's HF layout needs its config",
                     w ? hd_weights_name(w) : "whisper encoder");
        return NULL;
    }
    return load(w, prefix, false, c, err);
}

hd_whisper_encoder *hd_whisper_encoder_load_mmproj(const hd_weights *w, const hd_whisper_config *c, hd_error *err) {
    return load(w, NULL, true, c, err);
}

void hd_whisper_encoder_free(hd_whisper_encoder *e) {
    if (!e) return;
    hd_arena_free(e->arena);
    for (int i = 0; i < e->n_owned; i++) free(e->owned[i]);
    free(e->owned);
    free(e->layers);
    free(e);
}

/* ---- forward ---------------------------------------------------------------- */

/* Arena bytes for a window of T mel frames (S encoder frames). */
static size_t arena_bytes(const hd_whisper_encoder *e, int64_t T) {
    const int64_t S = hd_whisper_encoder_n_out(T), D = e->c.n_embd, M = e->c.n_mel;
    size_t layer = 0;
    for (int i = 0; i < e->c.n_layer; i++) {
        const size_t b = hd_nn_layer_scratch_bytes(&e->layers[i].w, S);
        if (b > layer) layer = b;
    }
    const size_t front = hd_nn_f32_bytes(M * T) + hd_nn_f32_bytes(D * T) + hd_nn_f32_bytes(D * S);
    const size_t body = hd_nn_f32_bytes(S * S) + layer;
    return hd_nn_f32_bytes(D * S) + (front > body ? front : body) + 4096;
}

static hd_status alloc_f32(hd_arena *a, int64_t ne0, int64_t ne1, hd_tensor *t, hd_error *err) {
    const int64_t ne[2] = {ne0, ne1};
    *t = hd_arena_tensor(a, HD_TYPE_F32, 2, ne);
    if (!t->data) return hd_error_set(err, HD_ERR_NOMEM, "whisper encoder: activation arena exhausted");
    return HD_OK;
}

/* conv1 → GELU → conv2 → GELU → + positions: x ne={D, S}. */
static hd_status front(hd_whisper_encoder *e, hd_exec *ex, const float *mel, int64_t T, hd_tensor *x,
                       hd_error *err) {
    hd_arena *a = e->arena;
    const int64_t D = e->c.n_embd, M = e->c.n_mel, S = x->ne[1];
    const size_t mark = hd_arena_mark(a);
    hd_tensor in = hd_tensor_2d(HD_TYPE_F32, M, T, (void *)mel), inT, h1, h2;
    hd_status st;
    if ((st = alloc_f32(a, T, M, &inT, err)) || (st = alloc_f32(a, T, D, &h1, err)) ||
        (st = alloc_f32(a, S, D, &h2, err)))
        goto out;
    if ((st = hd_op_transpose(ex, &inT, &in, err)) ||                                  /* [n_mel][T] */
        (st = hd_op_conv1d(ex, &h1, &inT, &e->conv1, &e->conv1_b, 1, 1, 1, err)) ||    /* [D][T]     */
        (st = hd_op_gelu_erf(ex, &h1, &h1, err)) ||
        (st = hd_op_conv1d(ex, &h2, &h1, &e->conv2, &e->conv2_b, 2, 1, 1, err)) ||     /* [D][S]     */
        (st = hd_op_gelu_erf(ex, &h2, &h2, err)) || (st = hd_op_transpose(ex, x, &h2, err)))  /* [S][D] */
        goto out;
    hd_tensor pos = hd_tensor_2d(HD_TYPE_F32, D, S, e->pos.data); /* embed_positions[:S] */
    st = hd_op_add(ex, x, x, &pos, err);
out:
    hd_arena_reset(a, mark);
    return st;
}

/* mask ne={S keys, S queries}: −∞ for keys past the valid frames and, with a
 * latency block, for keys in a later block than the query. */
static void build_mask(float *m, int64_t S, int64_t s_valid, int64_t block) {
    for (int64_t q = 0; q < S; q++) {
        float *row = m + (size_t)q * (size_t)S;
        for (int64_t k = 0; k < S; k++) {
            const bool off = k >= s_valid || (block > 0 && k / block > q / block);
            row[k] = off ? -INFINITY : 0.0f;
        }
    }
}

hd_status hd_whisper_encoder_forward(hd_whisper_encoder *e, hd_exec *ex, const float *mel, int64_t n_frames,
                                     int64_t n_valid, float *out, hd_error *err) {
    if (!e || !ex || !mel || !out) return hd_error_set(err, HD_ERR_ARG, "whisper encoder: missing argument");
    const int64_t T = n_frames, max_t = hd_whisper_encoder_max_frames(&e->c);
    if (T < 1 || T > max_t)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: %lld mel frames, expected 1..%lld (2 x %d positions)",
                            (long long)T, (long long)max_t, e->c.n_pos);
    if (n_valid < 1 || n_valid > T)
        return hd_error_set(err, HD_ERR_ARG, "whisper encoder: %lld valid frames of %lld", (long long)n_valid,
                            (long long)T);
    if (T > e->arena_frames) {
        hd_arena *a = hd_arena_create(arena_bytes(e, T), err);
        if (!a) {
            hd_error_prefix(err, "whisper encoder");
            return HD_ERR_NOMEM;
        }
        hd_arena_free(e->arena);
        e->arena = a;
        e->arena_frames = T;
    }
    hd_arena *a = e->arena;
    hd_arena_reset(a, 0);
    const int64_t S = hd_whisper_encoder_n_out(T), D = e->c.n_embd;
    const int64_t s_valid = hd_whisper_encoder_n_out(n_valid);
    hd_tensor x, mask;
    hd_status st;
    if ((st = alloc_f32(a, D, S, &x, err)) || (st = front(e, ex, mel, T, &x, err))) return st;
    const bool masked = s_valid < S || (e->c.latency_block > 0 && e->c.latency_block < S);
    if (masked) {
        if ((st = alloc_f32(a, S, S, &mask, err))) return st;
        build_mask(mask.data, S, s_valid, e->c.latency_block);
    }
    const hd_nn_attn_ctx ctx = {.mask = masked ? &mask : NULL};
    for (int i = 0; i < e->c.n_layer; i++)
        if ((st = hd_nn_layer(ex, a, &x, &e->layers[i].w, &ctx, err))) {
            hd_error_prefix(err, "whisper encoder layer %d", i);
            return st;
        }
    const hd_nn_norm_w ln = {HD_NN_NORM_LAYER, &e->ln_w, &e->ln_b, e->c.norm_eps};
    hd_tensor y = hd_tensor_2d(HD_TYPE_F32, D, S, out);
    return hd_nn_norm(ex, &y, &x, &ln, err);
}
