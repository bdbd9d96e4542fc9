/* lm/llama_lora.c — runtime LoRA adapters on the Llama core (see llama.h,
 * "Granite options and LoRA adapters"): a PEFT folder for a HF-layout model,
 * a llama.cpp LoRA GGUF for a GGUF model. */
#include "llama.h"

#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/weights.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Weight types a LoRA factor may have (hd_op_linear takes them all). */
#define LORA_TYPES ((1ull << HD_TYPE_F32) | (1ull << HD_TYPE_F16) | (1ull << HD_TYPE_BF16) | (1ull << HD_TYPE_Q8_0))

enum { P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN, P_COUNT };

/* PEFT target module name, HF module path under layers.N., llama.cpp name */
static const char *const k_peft[P_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
static const char *const k_hf[P_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                          "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
static const char *const k_gguf[P_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

struct hd_llama_lora {
    hd_weights *file;
    int rank;
    float alpha, scale;
    hd_tensor *t;     /* [n_layer][P_COUNT][2]: A [in, r], B [r, out] (ggml order) */
    hd_nn_lora *l;    /* [n_layer][P_COUNT]                                         */
    bool used[P_COUNT];
};

/* in and out width of projection p */
static void proj_dims(const hd_llama_config *c, int p, int64_t *in, int64_t *out) {
    const int64_t D = c->n_embd, F = c->n_ff, Hd = (int64_t)c->n_head * c->head_dim,
                  Gd = (int64_t)c->n_head_kv * c->head_dim;
    static const int kind[P_COUNT] = {0, 1, 1, 2, 3, 3, 4};
    switch (kind[p]) {
    case 0: *in = D, *out = Hd; break;
    case 1: *in = D, *out = Gd; break;
    case 2: *in = Hd, *out = D; break;
    case 3: *in = D, *out = F; break;
    default: *in = F, *out = D; break;
    }
}

static void lora_free(struct hd_llama_lora *a) {
    if (!a) return;
    hd_weights_close(a->file);
    free(a->t);
    free(a->l);
    free(a);
}

void hd_llama_lora_detach(hd_llama_model *m) {
    if (!m || !m->lora) return;
    for (int l = 0; m->layers && l < m->cfg.n_layer; l++) {
        hd_nn_layer_w *nn = &m->layers[l].nn;
        nn->attn.lora_q = nn->attn.lora_k = nn->attn.lora_v = nn->attn.lora_o = NULL;
        nn->mlp.lora_gate = nn->mlp.lora_up = nn->mlp.lora_down = NULL;
    }
    lora_free(m->lora);
    m->lora = NULL;
}

bool hd_llama_has_lora(const hd_llama_model *m) { return m && m->lora; }
float hd_llama_lora_scale(const hd_llama_model *m) { return m && m->lora ? m->lora->scale : 0.0f; }
int hd_llama_lora_rank(const hd_llama_model *m) { return m && m->lora ? m->lora->rank : 0; }

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The whole file at path (NUL-terminated, at most 1 MiB), or NULL with err set. */
static char *slurp(const char *path, hd_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        hd_error_set(err, errno == ENOENT ? HD_ERR_NOTFOUND : HD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc((1 << 20) + 1);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    bool more = buf && fgetc(f) != EOF;
    fclose(f);
    if (!buf || more) {
        free(buf);
        hd_error_set(err, buf ? HD_ERR_FORMAT : HD_ERR_NOMEM, "%s: %s", path,
                     buf ? "larger than 1 MiB, not an adapter_config.json" : "out of memory");
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* Shape check of A [in, r] / B [r, out] (ggml order) and registration. */
static hd_status take_pair(hd_llama_model *m, struct hd_llama_lora *a, int l, int p, const char *na, const char *nb,
                           hd_error *err) {
    int64_t in, out;
    proj_dims(&m->cfg, p, &in, &out);
    hd_tensor *A = &a->t[((size_t)l * P_COUNT + (size_t)p) * 2], *B = A + 1;
    int64_t ne_a[2] = {in, a->rank}, ne_b[2] = {a->rank, out};
    hd_status st;
    if ((st = hd_weights_get(a->file, na, 2, ne_a, LORA_TYPES, A, err))) return st;
    if ((st = hd_weights_get(a->file, nb, 2, ne_b, LORA_TYPES, B, err))) return st;
    a->l[(size_t)l * P_COUNT + (size_t)p] = (hd_nn_lora){.a = A, .b = B, .scale = a->scale};
    a->used[p] = true;
    return HD_OK;
}

/* r from the first A tensor found ([in, r] ggml order) */
static hd_status rank_of(const struct hd_llama_lora *a, const char *name, hd_error *err, int *rank) {
    const hd_gguf *g = hd_weights_gguf(a->file);
    const hd_safetensors *st = hd_weights_safetensors(a->file);
    int64_t r = -1;
    if (g) {
        int64_t i = hd_gguf_find_tensor(g, name);
        if (i >= 0) r = hd_gguf_tensor(g, i)->ne[1];
    } else if (st) {
        int64_t i = hd_safetensors_find(st, name);
        if (i >= 0) {
            const hd_st_tensor *t = hd_safetensors_tensor(st, i);
            if (t->n_dims == 2) r = t->shape[0];
        }
    }
    if (r <= 0 || r > 65536)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s is missing or not a [r, in] matrix",
                            hd_weights_name(a->file), name);
    *rank = (int)r;
    return HD_OK;
}

static int64_t n_file_tensors(const struct hd_llama_lora *a) {
    const hd_gguf *g = hd_weights_gguf(a->file);
    return g ? hd_gguf_n_tensors(g) : hd_safetensors_n_tensors(hd_weights_safetensors(a->file));
}

/* PEFT: adapter_config.json + adapter_model.safetensors in dir. */
static hd_status load_peft(hd_llama_model *m, struct hd_llama_lora *a, const char *dir, hd_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char *text = slurp(path, err);
    if (!text) return err ? err->code : HD_ERR_IO;
    cJSON *root = cJSON_Parse(text);
    free(text);
    hd_status st = HD_OK;
    bool targets[P_COUNT] = {0};
    if (!cJSON_IsObject(root)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", path);
        goto out;
    }
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "peft_type");
    if (cJSON_IsString(j) && strcmp(j->valuestring, "LORA") != 0) {
        st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: peft_type \"%s\" is not LORA", path, j->valuestring);
        goto out;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "r");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "lora_alpha");
    if (!cJSON_IsNumber(r) || r->valuedouble != floor(r->valuedouble) || r->valuedouble < 1 || r->valuedouble > 65536 ||
        !cJSON_IsNumber(al) || !isfinite(al->valuedouble)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: r (a positive integer) and lora_alpha (a number) are required", path);
        goto out;
    }
    a->rank = (int)r->valuedouble;
    a->alpha = (float)al->valuedouble;
    /* PEFT's scaling: alpha / r, or alpha / sqrt(r) with use_rslora */
    j = cJSON_GetObjectItemCaseSensitive(root, "use_rslora");
    a->scale = cJSON_IsTrue(j) ? a->alpha / sqrtf((float)a->rank) : a->alpha / (float)a->rank;
    j = cJSON_GetObjectItemCaseSensitive(root, "use_dora");
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(root, "bias");
    const cJSON *ltt = cJSON_GetObjectItemCaseSensitive(root, "layers_to_transform");
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rank_pattern");
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(root, "alpha_pattern");
    if (cJSON_IsTrue(j) || (cJSON_IsString(bias) && strcmp(bias->valuestring, "none") != 0) ||
        (ltt && !cJSON_IsNull(ltt)) || cJSON_GetArraySize(rp) > 0 || cJSON_GetArraySize(ap) > 0) {
        st = hd_error_set(err, HD_ERR_UNSUPPORTED,
                          "%s: DoRA, LoRA biases, layers_to_transform and per-module rank/alpha patterns are not "
                          "supported",
                          path);
        goto out;
    }
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(root, "target_modules");
    if (!cJSON_IsArray(tm) || cJSON_GetArraySize(tm) == 0) {
        st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: target_modules must be a non-empty list of module names", path);
        goto out;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, tm) {
        int p = -1;
        for (int k = 0; cJSON_IsString(e) && k < P_COUNT; k++)
            if (strcmp(e->valuestring, k_peft[k]) == 0) p = k;
        if (p < 0) {
            st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: target module %s is not a projection of the decoder (%s)",
                              path, cJSON_IsString(e) ? e->valuestring : "(not a string)",
                              "q/k/v/o_proj, gate/up/down_proj");
            goto out;
        }
        targets[p] = true;
    }

    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!(a->file = hd_weights_open(path, err))) {
        st = err ? err->code : HD_ERR_IO;
        goto out;
    }
    /* the module prefix: PEFT's base_model.model., the speech model's language_model. */
    static const char *const prefixes[] = {"base_model.model.language_model.model.", "language_model.model.",
                                           "base_model.model.model.", "model."};
    const char *prefix = NULL;
    int first = 0;
    while (!targets[first]) first++;
    char na[512], nb[512];
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && !prefix; i++) {
        snprintf(na, sizeof na, "%slayers.0.%s.lora_A.weight", prefixes[i], k_hf[first]);
        if (hd_weights_has(a->file, na)) prefix = prefixes[i];
    }
    if (!prefix) {
        st = hd_error_set(err, HD_ERR_NOTFOUND, "%s: no tensor [base_model.model.][language_model.]model.layers.0.%s.lora_A.weight",
                          path, k_hf[first]);
        goto out;
    }
    int64_t expected = 0;
    for (int l = 0; l < m->cfg.n_layer && !st; l++)
        for (int p = 0; p < P_COUNT && !st; p++) {
            if (!targets[p]) continue;
            snprintf(na, sizeof na, "%slayers.%d.%s.lora_A.weight", prefix, l, k_hf[p]);
            snprintf(nb, sizeof nb, "%slayers.%d.%s.lora_B.weight", prefix, l, k_hf[p]);
            st = take_pair(m, a, l, p, na, nb, err);
            expected += 2;
        }
    if (!st && n_file_tensors(a) != expected)
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: %lld tensors, but the config's %d layers x targets need %lld", path,
                          (long long)n_file_tensors(a), m->cfg.n_layer, (long long)expected);
out:
    cJSON_Delete(root);
    return st;
}

/* llama.cpp: general.type "adapter", adapter.type "lora", blk.N.<name>.weight.lora_{a,b}. */
static hd_status load_gguf(hd_llama_model *m, struct hd_llama_lora *a, const char *path, hd_error *err) {
    if (!(a->file = hd_weights_open(path, err))) return err ? err->code : HD_ERR_IO;
    const hd_gguf *g = hd_weights_gguf(a->file);
    if (!g) return hd_error_set(err, HD_ERR_FORMAT, "%s: not a GGUF file", path);
    const char *s;
    size_t n;
    if (!hd_gguf_get_str(g, "general.type", &s, &n) || n != 7 || memcmp(s, "adapter", 7) != 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: general.type is not \"adapter\"", path);
    if (!hd_gguf_get_str(g, "adapter.type", &s, &n) || n != 4 || memcmp(s, "lora", 4) != 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: adapter.type is not \"lora\"", path);
    const char *want = m->cfg.n_xattn > 0 ? "mllama" : m->cfg.granite ? "granite" : "llama";
    if (!hd_gguf_get_str(g, "general.architecture", &s, &n) || n != strlen(want) || memcmp(s, want, n) != 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: general.architecture is not the model's \"%s\"", path, want);
    if (!hd_gguf_get_f32(g, "adapter.lora.alpha", &a->alpha) || !isfinite(a->alpha))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key adapter.lora.alpha is missing or not a number", path);
    char na[256], nb[256];
    int64_t expected = 0;
    hd_status st = HD_OK;
    for (int l = 0; l < m->cfg.n_layer && !st; l++)
        for (int p = 0; p < P_COUNT && !st; p++) {
            snprintf(na, sizeof na, "blk.%d.%s.weight.lora_a", l, k_gguf[p]);
            snprintf(nb, sizeof nb, "blk.%d.%s.weight.lora_b", l, k_gguf[p]);
            if (!hd_weights_has(a->file, na) && !hd_weights_has(a->file, nb)) continue;
            if (a->rank == 0) {
                if ((st = rank_of(a, na, err, &a->rank))) return st;
                a->scale = a->alpha / (float)a->rank;   /* llama.cpp: alpha / rank */
            }
            st = take_pair(m, a, l, p, na, nb, err);
            expected += 2;
        }
    if (st) return st;
    if (expected == 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: no blk.N.*.weight.lora_a tensors", path);
    if (n_file_tensors(a) != expected)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %lld tensors, of which %lld are LoRA pairs of this model", path,
                            (long long)n_file_tensors(a), (long long)expected);
    return HD_OK;
}

hd_status hd_llama_lora_attach(hd_llama_model *m, const char *path, hd_error *err) {
    if (!m || !path) return hd_error_set(err, HD_ERR_ARG, "LoRA: no model or no path");
    if (m->cfg.n_xattn > 0 || m->n_video > 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: LoRA adapters on cross-attention models are not supported",
                            path);
    struct hd_llama_lora *a = calloc(1, sizeof *a);
    const size_t n = (size_t)m->cfg.n_layer * P_COUNT;
    if (a) {
        a->t = calloc(n * 2, sizeof *a->t);
        a->l = calloc(n, sizeof *a->l);
    }
    if (!a || !a->t || !a->l) {
        lora_free(a);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    }
    hd_status st;
    char dir[4096];
    const bool peft = is_dir(path) || ends_with(path, "adapter_config.json");
    if (peft) {
        if (is_dir(path)) snprintf(dir, sizeof dir, "%s", path);
        else {
            const char *slash = strrchr(path, '/');
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
        }
        st = m->format == HD_LLAMA_HF
                 ? load_peft(m, a, dir, err)
                 : hd_error_set(err, HD_ERR_ARG,
                                "%s: a PEFT adapter fits the Hugging Face layout; this model is a GGUF (convert the "
                                "adapter with herd convert)",
                                path);
    } else {
        st = m->format == HD_LLAMA_GGUF
                 ? load_gguf(m, a, path, err)
                 : hd_error_set(err, HD_ERR_ARG,
                                "%s: a llama.cpp LoRA GGUF fits a GGUF model; this model is a Hugging Face folder",
                                path);
    }
    if (st) {
        lora_free(a);
        return st;
    }
    hd_llama_lora_detach(m);
    m->lora = a;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        hd_nn_layer_w *nn = &m->layers[l].nn;
        hd_nn_lora *x = &a->l[(size_t)l * P_COUNT];
        nn->attn.lora_q = x[P_Q].a ? &x[P_Q] : NULL;
        nn->attn.lora_k = x[P_K].a ? &x[P_K] : NULL;
        nn->attn.lora_v = x[P_V].a ? &x[P_V] : NULL;
        nn->attn.lora_o = x[P_O].a ? &x[P_O] : NULL;
        nn->mlp.lora_gate = x[P_GATE].a ? &x[P_GATE] : NULL;
        nn->mlp.lora_up = x[P_UP].a ? &x[P_UP] : NULL;
        nn->mlp.lora_down = x[P_DOWN].a ? &x[P_DOWN] : NULL;
    }
    return HD_OK;
}
