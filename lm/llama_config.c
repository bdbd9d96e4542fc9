/* lm/llama_config.c — Llama 3.x hyper-parameters: presets, GGUF metadata,
 * Hugging Face config.json (see llama_config.h, SPEC §1.4, §1.6). */
#include "llama_config.h"

#include "core/strbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- presets (SPEC §1.6) ------------------------------------------------- */

typedef struct preset {
    const char *name;
    const char *display;    /* general.name */
    int V, D, L, H, G, d, F;
    float rope_factor;
    bool tied, head_dim_key;
} preset;

static const preset k_presets[] = {
    /*  name            display                 V       D     L   H   G   d    F      s   tied  head_dim */
    {"tiny",         "Llama 3 Tiny",         128256, 64,   2,  4,  2,  16,  128,   32, true,  true},
    {"tiny-vocab",   "Llama 3 Tiny Vocab",   512,    64,   2,  4,  2,  16,  128,   32, false, true},
    {"small",        "Llama 3 Small",        128256, 256,  2,  4,  2,  64,  768,   32, true,  true},
    {"llama-3.2-1b", "Llama 3.2 1B",         128256, 2048, 16, 32, 8,  64,  8192,  32, true,  true},
    {"llama-3.2-3b", "Llama 3.2 3B",         128256, 3072, 28, 24, 8,  128, 8192,  32, true,  true},
    {"llama-3.1-8b", "Llama 3.1 8B",         128256, 4096, 32, 32, 8,  128, 14336, 8,  false, false},
};
#define N_PRESETS (sizeof k_presets / sizeof k_presets[0])

static const char *const k_preset_names[N_PRESETS + 1] = {
    "tiny", "tiny-vocab", "small", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", NULL,
};

const char *const *hd_llama_config_preset_names(void) { return k_preset_names; }

/* Values every Llama 3.1 / 3.2 checkpoint shares. */
static void llama3_defaults(hd_llama_config *c) {
    memset(c, 0, sizeof *c);
    c->n_ctx_train = 131072;
    c->norm_eps = 1e-5f;
    c->rope_theta = 500000.0f;
    c->rope_scaling = HD_ROPE_SCALING_LLAMA3;
    c->rope_factor = 8.0f;
    c->rope_low_freq_factor = 1.0f;
    c->rope_high_freq_factor = 4.0f;
    c->rope_original_ctx = 8192;
    c->bos_token_id = 128000;
    c->pad_token_id = -1;
    c->image_token_id = -1;
    c->n_eos = 1;
    c->eos_token_ids[0] = 128001;
}

bool hd_llama_config_preset(const char *name, hd_llama_config *cfg) {
    for (size_t i = 0; i < N_PRESETS; i++) {
        const preset *p = &k_presets[i];
        if (strcmp(p->name, name) != 0) continue;
        llama3_defaults(cfg);
        snprintf(cfg->name, sizeof cfg->name, "%s", p->display);
        cfg->n_vocab = p->V;
        cfg->n_embd = p->D;
        cfg->n_layer = p->L;
        cfg->n_head = p->H;
        cfg->n_head_kv = p->G;
        cfg->head_dim = p->d;
        cfg->head_dim_explicit = p->head_dim_key;
        cfg->n_ff = p->F;
        cfg->rope_factor = p->rope_factor;
        cfg->tie_word_embeddings = p->tied;
        if (cfg->n_vocab <= cfg->bos_token_id) { /* special ids do not exist in a small vocabulary */
            cfg->bos_token_id = -1;
            cfg->n_eos = 0;
        }
        return true;
    }
    return false;
}

/* ---- checks and counts --------------------------------------------------- */

hd_status hd_llama_config_validate(const hd_llama_config *c, const char *file, hd_error *err) {
    if (c->n_vocab <= 0 || c->n_embd <= 0 || c->n_layer <= 0 || c->n_head <= 0 || c->n_head_kv <= 0 ||
        c->head_dim <= 0 || c->n_ff <= 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: model dimensions must be positive", file);
    if (c->n_layer > 4096 || c->n_embd > (1 << 20) || c->n_ff > (1 << 22) || c->n_vocab > (1 << 26) ||
        c->head_dim > 4096 || c->n_head > 4096 || c->n_head_kv > 4096)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: model dimensions are implausibly large", file);
    if (c->n_head % c->n_head_kv)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %d attention heads are not a multiple of %d KV heads", file,
                            c->n_head, c->n_head_kv);
    if (c->head_dim % 2)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: head dimension %d is odd (RoPE needs pairs)", file,
                            c->head_dim);
    if (c->n_ctx_train < 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: negative context length", file);
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: RMS norm epsilon must be positive", file);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: RoPE theta must be positive", file);
    if (c->rope_scaling == HD_ROPE_SCALING_LLAMA3) {
        if (!(c->rope_factor >= 1) || !isfinite(c->rope_factor))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: llama3 RoPE factor must be at least 1", file);
        if (!(c->rope_low_freq_factor > 0) || !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
            !isfinite(c->rope_high_freq_factor))
            return hd_error_set(err, HD_ERR_FORMAT,
                                "%s: llama3 RoPE needs 0 < low_freq_factor < high_freq_factor", file);
        if (c->rope_original_ctx <= 0)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: llama3 RoPE original context must be positive", file);
    } else if (c->rope_scaling != HD_ROPE_SCALING_NONE) {
        return hd_error_set(err, HD_ERR_FORMAT, "%s: unknown RoPE scaling", file);
    }
    if (c->n_xattn < 0 || c->n_xattn > HD_LLAMA_MAX_XATTN || c->n_xattn >= c->n_layer)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %d cross-attention layers of %d layers", file, c->n_xattn,
                            c->n_layer);
    for (int i = 0; i < c->n_xattn; i++)
        if (c->xattn_layers[i] < 0 || c->xattn_layers[i] >= c->n_layer ||
            (i > 0 && c->xattn_layers[i] <= c->xattn_layers[i - 1]))
            return hd_error_set(err, HD_ERR_FORMAT,
                                "%s: cross-attention layer %d (entry %d) is not an ascending index below %d", file,
                                (int)c->xattn_layers[i], i, c->n_layer);
    if (c->n_eos < 0 || c->n_eos > HD_LLAMA_MAX_EOS)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: bad number of eos ids", file);
    const struct { const char *name; float v; } mult[4] = {
        {"embedding_multiplier", c->embedding_multiplier}, {"residual_multiplier", c->residual_multiplier},
        {"attention_multiplier", c->attention_multiplier}, {"logits_scaling", c->logits_scaling},
    };
    for (int i = 0; i < 4; i++)
        if (!(mult[i].v >= 0) || !isfinite(mult[i].v) || mult[i].v > 1e6f)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: Granite %s = %g must be finite and >= 0 (0 = unused)", file,
                                mult[i].name, (double)mult[i].v);
    if (c->granite && c->n_xattn > 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: a Granite model has no cross-attention layers", file);
    return HD_OK;
}

int64_t hd_llama_config_n_params(const hd_llama_config *c) {
    const int64_t D = c->n_embd, V = c->n_vocab, F = c->n_ff;
    const int64_t Hd = (int64_t)c->n_head * c->head_dim, Gd = (int64_t)c->n_head_kv * c->head_dim;
    const int64_t layer = 2 * D + 2 * D * Hd + 2 * D * Gd + 3 * D * F;
    /* mllama: the image embedding rows, and per cross layer q/k norms [d] and two gates [1] */
    const int64_t extra = c->n_xattn > 0 ? HD_LLAMA_XATTN_EXTRA_ROWS * D + c->n_xattn * (2 * c->head_dim + 2) : 0;
    return V * D * (c->tie_word_embeddings ? 1 : 2) + c->n_layer * layer + D + extra;
}

/* gguf-py's size label: "1.2B", "8.0B", "8.3M" (two significant digits at least). */
static void size_label(int64_t n, char *buf, size_t size) {
    double x = (double)n;
    const char *suffix;
    if (x > 1e12) x *= 1e-12, suffix = "T";
    else if (x > 1e9) x *= 1e-9, suffix = "B";
    else if (x > 1e6) x *= 1e-6, suffix = "M";
    else x *= 1e-3, suffix = "K";
    char whole[32];
    snprintf(whole, sizeof whole, "%.0f", x);
    const char *w = whole;
    while (*w == '0') w++;
    int fix = 2 - (int)strlen(w);
    if (fix < 0) fix = 0;
    snprintf(buf, size, "%.*f%s", fix, x, suffix);
}

/* ---- GGUF ---------------------------------------------------------------- */

static hd_status need_u32(const hd_gguf *g, const char *key, int lo, int hi, int *out, hd_error *err) {
    uint32_t v;
    if (!hd_gguf_get_u32(g, key, &v))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is missing or not an integer", hd_gguf_name(g), key);
    if ((int64_t)v < lo || (int64_t)v > hi)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s = %u is out of range [%d, %d]", hd_gguf_name(g), key,
                            v, lo, hi);
    *out = (int)v;
    return HD_OK;
}

static bool opt_token(const hd_gguf *g, const char *key, int32_t *out) {
    uint32_t v;
    if (!hd_gguf_get_u32(g, key, &v) || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

hd_status hd_llama_config_from_gguf(hd_llama_config *cfg, const hd_gguf *g, hd_error *err) {
    const char *file = hd_gguf_name(g);
    hd_llama_config c;
    llama3_defaults(&c);
    c.rope_scaling = HD_ROPE_SCALING_NONE;
    c.rope_theta = 10000.0f;     /* llama.cpp's default when the key is absent */
    c.bos_token_id = -1;
    c.n_eos = 0;
    c.n_ctx_train = 0;

    const char *s;
    size_t n;
    if (!hd_gguf_get_str(g, "general.architecture", &s, &n))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: general.architecture is missing", file);
    const bool mllama = n == 6 && memcmp(s, "mllama", 6) == 0;
    const bool granite = n == 7 && memcmp(s, "granite", 7) == 0;
    if (!mllama && !granite && (n != 5 || memcmp(s, "llama", 5) != 0))
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: architecture \"%.*s\" is not llama, granite or mllama",
                            file, (int)(n > 64 ? 64 : n), s);
    /* key names: "<arch>.<suffix>" (mllama and granite files use their own prefix for the same keys) */
    const char *arch = mllama ? "mllama" : granite ? "granite" : "llama";
    char kb[128];
#define KEY(suffix) (snprintf(kb, sizeof kb, "%s.%s", arch, suffix), kb)
    if (hd_gguf_get_str(g, "general.name", &s, &n))
        snprintf(c.name, sizeof c.name, "%.*s", (int)(n < sizeof c.name ? n : sizeof c.name - 1), s);

    hd_status st;
    if ((st = need_u32(g, KEY("block_count"), 1, 4096, &c.n_layer, err))) return st;
    if ((st = need_u32(g, KEY("embedding_length"), 1, 1 << 20, &c.n_embd, err))) return st;
    if ((st = need_u32(g, KEY("feed_forward_length"), 1, 1 << 22, &c.n_ff, err))) return st;
    if ((st = need_u32(g, KEY("attention.head_count"), 1, 4096, &c.n_head, err))) return st;
    if (hd_gguf_find_key(g, KEY("attention.head_count_kv")) >= 0) {
        if ((st = need_u32(g, KEY("attention.head_count_kv"), 1, 4096, &c.n_head_kv, err))) return st;
    } else {
        c.n_head_kv = c.n_head;
    }
    uint32_t ctx;
    if (hd_gguf_get_u32(g, KEY("context_length"), &ctx)) c.n_ctx_train = ctx;
    if (!hd_gguf_get_f32(g, KEY("attention.layer_norm_rms_epsilon"), &c.norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key llama.attention.layer_norm_rms_epsilon is missing", file);
    if (hd_gguf_find_key(g, KEY("rope.freq_base")) >= 0 && !hd_gguf_get_f32(g, KEY("rope.freq_base"), &c.rope_theta))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is not a number", file, KEY("rope.freq_base"));

    c.head_dim = c.n_embd / c.n_head;
    if (hd_gguf_find_key(g, KEY("attention.key_length")) < 0 && c.n_embd % c.n_head)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: embedding length %d is not a multiple of %d heads", file,
                            c.n_embd, c.n_head);
    if (hd_gguf_find_key(g, KEY("attention.key_length")) >= 0) {
        int kl = 0, vl = -1;
        if ((st = need_u32(g, KEY("attention.key_length"), 2, 4096, &kl, err))) return st;
        if (hd_gguf_find_key(g, KEY("attention.value_length")) >= 0 &&
            (st = need_u32(g, KEY("attention.value_length"), 2, 4096, &vl, err)))
            return st;
        if (vl >= 0 && vl != kl)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: key length %d differs from value length %d", file, kl,
                                vl);
        c.head_dim = kl;
        c.head_dim_explicit = true;
    }
    if (hd_gguf_find_key(g, KEY("rope.dimension_count")) >= 0) {
        int rd = 0;
        if ((st = need_u32(g, KEY("rope.dimension_count"), 2, 4096, &rd, err))) return st;
        if (rd != c.head_dim)
            return hd_error_set(err, HD_ERR_UNSUPPORTED,
                                "%s: RoPE over %d of %d head dimensions (partial rotary) is not supported", file, rd,
                                c.head_dim);
    }
    if (hd_gguf_get_str(g, KEY("rope.scaling.type"), &s, &n) && !(n == 4 && memcmp(s, "none", 4) == 0))
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: RoPE scaling type \"%.*s\" is not supported", file,
                            (int)(n > 32 ? 32 : n), s);

    /* vocabulary: llama.vocab_size, else the token list */
    if (hd_gguf_find_key(g, KEY("vocab_size")) >= 0) {
        if ((st = need_u32(g, KEY("vocab_size"), 1, 1 << 26, &c.n_vocab, err))) return st;
    } else {
        int64_t k = hd_gguf_find_key(g, "tokenizer.ggml.tokens");
        hd_gguf_vtype et;
        uint64_t nt;
        if (k < 0 || !hd_gguf_kv_array(g, k, &et, &nt) || et != HD_GGUF_STRING || nt == 0 || nt > (1u << 26))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: neither llama.vocab_size nor tokenizer.ggml.tokens", file);
        c.n_vocab = (int)nt;
    }

    /* llama3 scaling lives in the rope_freqs tensor (factor = its last entry) */
    int64_t ti = hd_gguf_find_tensor(g, "rope_freqs.weight");
    if (ti >= 0) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, ti);
        c.rope_scaling = HD_ROPE_SCALING_LLAMA3;
        c.rope_factor = 8.0f;
        if (t->type == HD_TYPE_F32 && t->ne[0] == c.head_dim / 2 && t->nbytes >= sizeof(float) * (size_t)t->ne[0]) {
            float last;
            memcpy(&last, (const char *)t->data + sizeof(float) * (size_t)(t->ne[0] - 1), sizeof last);
            if (isfinite(last) && last >= 1) c.rope_factor = last;
        }
    }

    if (opt_token(g, "tokenizer.ggml.bos_token_id", &c.bos_token_id) == false) c.bos_token_id = -1;
    int32_t eos;
    if (opt_token(g, "tokenizer.ggml.eos_token_id", &eos)) c.eos_token_ids[c.n_eos++] = eos;
    if (!opt_token(g, "tokenizer.ggml.padding_token_id", &c.pad_token_id)) c.pad_token_id = -1;

    if (mllama) {
        /* mllama.attention.cross_attention_layers: the indices of the gated
         * cross-attention layers (Ollama's layout); <|image|> is the first id
         * past the vocabulary (128256), its embedding the extra table row */
        const int64_t k = hd_gguf_find_key(g, KEY("attention.cross_attention_layers"));
        hd_gguf_vtype et;
        uint64_t nl;
        if (k < 0 || !hd_gguf_kv_array(g, k, &et, &nl))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is missing or not an array", file, kb);
        if (nl > HD_LLAMA_MAX_XATTN)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s lists %llu layers (at most %d)", file, kb,
                                (unsigned long long)nl, HD_LLAMA_MAX_XATTN);
        for (uint64_t i = 0; i < nl; i++) {
            double v;
            if (!hd_gguf_arr_number(g, k, i, &v) || v != floor(v) || v < 0 || v >= c.n_layer)
                return hd_error_set(err, HD_ERR_FORMAT, "%s: %s[%llu] is not a layer index below %d", file, kb,
                                    (unsigned long long)i, c.n_layer);
            c.xattn_layers[i] = (int32_t)v;
        }
        c.n_xattn = (int)nl;
        c.image_token_id = c.n_vocab;
    }
    if (granite) {
        /* llama.cpp's optional granite keys (absent: 0, Llama's behaviour) */
        c.granite = true;
        struct { const char *suffix; float *dst; } gk[4] = {
            {"embedding_scale", &c.embedding_multiplier}, {"residual_scale", &c.residual_multiplier},
            {"attention.scale", &c.attention_multiplier}, {"logit_scale", &c.logits_scaling},
        };
        for (int i = 0; i < 4; i++)
            if (hd_gguf_find_key(g, KEY(gk[i].suffix)) >= 0 && !hd_gguf_get_f32(g, kb, gk[i].dst))
                return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s is not a number", file, kb);
    }
#undef KEY
    if ((st = hd_llama_config_validate(&c, file, err))) return st;
    *cfg = c;
    return HD_OK;
}

hd_status hd_llama_config_to_gguf(const hd_llama_config *c, uint32_t file_type, hd_gguf_writer *w, hd_error *err) {
    hd_status st = hd_llama_config_validate(c, "config", err);
    if (st) return st;
    char label[32];
    size_label(hd_llama_config_n_params(c), label, sizeof label);
    const uint32_t head_kv = (uint32_t)c->n_head_kv;
    const char *arch = c->n_xattn > 0 ? "mllama" : c->granite ? "granite" : "llama";
    char kb[128];
#define KEY(suffix) (snprintf(kb, sizeof kb, "%s.%s", arch, suffix), kb)
    bool ok = hd_gguf_set_str(w, "general.architecture", arch) == HD_OK &&
              hd_gguf_set_str(w, "general.type", "model") == HD_OK &&
              (!c->name[0] || hd_gguf_set_str(w, "general.name", c->name) == HD_OK) &&
              hd_gguf_set_str(w, "general.size_label", label) == HD_OK &&
              hd_gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layer) == HD_OK &&
              hd_gguf_set_u32(w, KEY("context_length"), (uint32_t)c->n_ctx_train) == HD_OK &&
              hd_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->n_embd) == HD_OK &&
              hd_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->n_ff) == HD_OK &&
              hd_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head) == HD_OK &&
              hd_gguf_set_u32(w, KEY("attention.head_count_kv"), head_kv) == HD_OK &&
              hd_gguf_set_f32(w, KEY("rope.freq_base"), c->rope_theta) == HD_OK &&
              hd_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps) == HD_OK;
    if (ok && c->head_dim_explicit)
        ok = hd_gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim) == HD_OK &&
             hd_gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim) == HD_OK;
    ok = ok && hd_gguf_set_u32(w, "general.file_type", file_type) == HD_OK &&
         hd_gguf_set_u32(w, KEY("vocab_size"), (uint32_t)c->n_vocab) == HD_OK &&
         hd_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim) == HD_OK;
    if (ok && c->n_xattn > 0)
        ok = hd_gguf_set_arr_i32(w, KEY("attention.cross_attention_layers"), c->xattn_layers,
                                 (uint64_t)c->n_xattn) == HD_OK;
    if (ok && c->granite)   /* GraniteModel.set_gguf_parameters, in its order */
        ok = hd_gguf_set_f32(w, KEY("attention.scale"), c->attention_multiplier) == HD_OK &&
             hd_gguf_set_f32(w, KEY("embedding_scale"), c->embedding_multiplier) == HD_OK &&
             hd_gguf_set_f32(w, KEY("residual_scale"), c->residual_multiplier) == HD_OK &&
             hd_gguf_set_f32(w, KEY("logit_scale"), c->logits_scaling) == HD_OK;
#undef KEY
    if (!ok) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for GGUF metadata");
    return HD_OK;
}

/* convert_hf_to_gguf.py LlamaModel.generate_extra_tensors, in float32 as
 * torch computes it there. */
void hd_llama_rope_freq_factors(const hd_llama_config *c, float *factors) {
    const int d = c->head_dim;
    for (int i = 0; i < d / 2; i++) {
        if (c->rope_scaling != HD_ROPE_SCALING_LLAMA3) {
            factors[i] = 1.0f;
            continue;
        }
        const float freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)d);
        const float L = (float)c->rope_original_ctx, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
        const float s = c->rope_factor;
        const float wavelen = 2.0f * (float)M_PI / freq;
        if (wavelen < L / hi) {
            factors[i] = 1.0f;
        } else if (wavelen > L / lo) {
            factors[i] = s;
        } else {
            const float smooth = (L / wavelen - lo) / (hi - lo);
            factors[i] = 1.0f / ((1.0f - smooth) / s + smooth);
        }
    }
}

/* ---- Hugging Face config.json -------------------------------------------- */

/* An integer key: absent → *out unchanged (false returned via *present). */
static hd_status json_int(const cJSON *o, const char *key, long long lo, long long hi, bool required,
                          long long *out, const char *file, hd_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" is missing", file, key);
        return HD_OK;
    }
    double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!(v == floor(v)) || v < (double)lo || v > (double)hi)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" must be an integer in [%lld, %lld]", file, key, lo,
                            hi);
    *out = (long long)v;
    return HD_OK;
}

static hd_status json_float(const cJSON *o, const char *key, bool required, float *out, const char *file,
                            hd_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" is missing", file, key);
        return HD_OK;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || fabs(j->valuedouble) > 3e38)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" must be a finite number", file, key);
    *out = (float)j->valuedouble;
    return HD_OK;
}

static hd_status json_bool(const cJSON *o, const char *key, bool *out, const char *file, hd_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return HD_OK;
    if (!cJSON_IsBool(j)) return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" must be true or false", file, key);
    *out = cJSON_IsTrue(j);
    return HD_OK;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* cross_attention_layers of an mllama text_config, and image_token_index. */
static hd_status parse_mllama(hd_llama_config *c, const cJSON *top, const cJSON *text, const char *file,
                              hd_error *err) {
    const cJSON *xl = cJSON_GetObjectItemCaseSensitive(text, "cross_attention_layers");
    if (!cJSON_IsArray(xl))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: text_config.cross_attention_layers is missing or not a list",
                            file);
    const int n = cJSON_GetArraySize(xl);
    if (n > HD_LLAMA_MAX_XATTN)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %d cross-attention layers (at most %d)", file, n,
                            HD_LLAMA_MAX_XATTN);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, xl) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble >= c->n_layer)
            return hd_error_set(err, HD_ERR_FORMAT,
                                "%s: text_config.cross_attention_layers[%d] is not a layer index below %d", file, i,
                                c->n_layer);
        c->xattn_layers[i++] = (int32_t)e->valuedouble;
    }
    c->n_xattn = n;
    long long img = 128256;
    hd_status st = json_int(top, "image_token_index", 0, INT32_MAX, false, &img, file, err);
    if (st) return st;
    c->image_token_id = (int32_t)img;
    return HD_OK;
}

static hd_status parse_hf(hd_llama_config *out, const cJSON *root, const char *file, hd_error *err) {
    if (!cJSON_IsObject(root)) return hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", file);
    const char *mt = json_str(root, "model_type");
    const cJSON *top = root;
    const bool mllama = mt && strcmp(mt, "mllama") == 0;
    bool granite = mt && strcmp(mt, "granite") == 0;
    if (mt && strcmp(mt, "granite_speech") == 0) {
        /* GraniteSpeechForConditionalGeneration: the LM is text_config (a GraniteConfig) */
        root = cJSON_GetObjectItemCaseSensitive(top, "text_config");
        if (!cJSON_IsObject(root))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: granite_speech config has no text_config object", file);
        const char *tmt = json_str(root, "model_type");
        if (tmt && strcmp(tmt, "granite") != 0)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: text_config.model_type \"%s\" is not granite", file,
                                tmt);
        granite = true;
    } else if (mllama) {
        /* MllamaForConditionalGeneration: the decoder is described by text_config */
        root = cJSON_GetObjectItemCaseSensitive(top, "text_config");
        if (!cJSON_IsObject(root))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: mllama config has no text_config object", file);
        const char *tmt = json_str(root, "model_type");
        if (tmt && strcmp(tmt, "mllama_text_model") != 0)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: text_config.model_type \"%s\" is not mllama_text_model",
                                file, tmt);
    } else if (!granite) {
        bool llama_arch = false;
        const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
        const cJSON *a;
        cJSON_ArrayForEach(a, arch) if (cJSON_IsString(a) && strcmp(a->valuestring, "LlamaForCausalLM") == 0) llama_arch = true;
        if (mt ? strcmp(mt, "llama") != 0 : !llama_arch)
            return hd_error_set(err, HD_ERR_UNSUPPORTED,
                                "%s: model_type \"%s\" is not llama, granite, granite_speech or mllama", file,
                                mt ? mt : "(none)");
    }

    /* HF LlamaConfig (or MllamaTextConfig) defaults for absent optional keys */
    hd_llama_config c;
    memset(&c, 0, sizeof c);
    c.rope_theta = mllama ? 500000.0f : 10000.0f;
    c.norm_eps = mllama ? 1e-5f : 1e-6f;
    c.bos_token_id = mllama ? 128000 : 1;
    c.pad_token_id = mllama ? 128004 : -1;
    c.image_token_id = -1;
    c.n_eos = 1;
    c.eos_token_ids[0] = mllama ? 128001 : 2;
    long long V = 32000, D = 4096, F = 11008, L = 32, H = 32, G = -1, d = -1, ctx = 2048, v;
    if (mllama) V = 128256, F = 14336, L = 40, G = 8, ctx = 131072;
    hd_status st;
    if ((st = json_int(root, "vocab_size", 1, 1 << 26, false, &V, file, err)) ||
        (st = json_int(root, "hidden_size", 1, 1 << 20, true, &D, file, err)) ||
        (st = json_int(root, "intermediate_size", 1, 1 << 22, true, &F, file, err)) ||
        (st = json_int(root, "num_hidden_layers", 1, 4096, true, &L, file, err)) ||
        (st = json_int(root, "num_attention_heads", 1, 4096, true, &H, file, err)) ||
        (st = json_int(root, "num_key_value_heads", 1, 4096, false, &G, file, err)) ||
        (st = json_int(root, "head_dim", 2, 4096, false, &d, file, err)) ||
        (st = json_int(root, "max_position_embeddings", 0, INT64_C(1) << 40, false, &ctx, file, err)) ||
        (st = json_float(root, "rms_norm_eps", false, &c.norm_eps, file, err)) ||
        (st = json_float(root, "rope_theta", false, &c.rope_theta, file, err)) ||
        (st = json_bool(root, "tie_word_embeddings", &c.tie_word_embeddings, file, err)))
        return st;
    c.n_vocab = (int)V, c.n_embd = (int)D, c.n_ff = (int)F, c.n_layer = (int)L, c.n_head = (int)H;
    c.n_head_kv = G > 0 ? (int)G : (int)H;
    c.head_dim_explicit = d > 0;
    c.head_dim = d > 0 ? (int)d : (int)(D / H);
    c.n_ctx_train = ctx;

    const char *act = json_str(root, "hidden_act");
    if (act && strcmp(act, "silu") != 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (silu only)", file, act);
    bool bias = false;
    if ((st = json_bool(root, "attention_bias", &bias, file, err))) return st;
    if (bias) return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: attention_bias is not supported", file);
    if ((st = json_bool(root, "mlp_bias", &bias, file, err))) return st;
    if (bias) return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: mlp_bias is not supported", file);

    /* special tokens: integers, eos also a list; null = none */
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "bos_token_id");
    if (j) {
        v = -1;
        if (!cJSON_IsNull(j) && (st = json_int(root, "bos_token_id", 0, INT32_MAX, false, &v, file, err))) return st;
        c.bos_token_id = (int32_t)v;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "pad_token_id");
    if (j && !cJSON_IsNull(j)) {
        if ((st = json_int(root, "pad_token_id", 0, INT32_MAX, false, &v, file, err))) return st;
        c.pad_token_id = (int32_t)v;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (j) {
        c.n_eos = 0;
        if (cJSON_IsArray(j)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, j) {
                if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
                    e->valuedouble > INT32_MAX)
                    return hd_error_set(err, HD_ERR_FORMAT, "%s: eos_token_id holds a non-id", file);
                if (c.n_eos == HD_LLAMA_MAX_EOS)
                    return hd_error_set(err, HD_ERR_FORMAT, "%s: more than %d eos ids", file, HD_LLAMA_MAX_EOS);
                c.eos_token_ids[c.n_eos++] = (int32_t)e->valuedouble;
            }
        } else if (!cJSON_IsNull(j)) {
            if ((st = json_int(root, "eos_token_id", 0, INT32_MAX, false, &v, file, err))) return st;
            c.eos_token_ids[c.n_eos++] = (int32_t)v;
        }
    }

    /* rope_scaling: null, {"rope_type": "default"} or llama3 */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    c.rope_scaling = HD_ROPE_SCALING_NONE;
    if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsObject(rs)) return hd_error_set(err, HD_ERR_FORMAT, "%s: rope_scaling is not an object", file);
        const char *type = json_str(rs, "rope_type");
        if (!type) type = json_str(rs, "type");
        if (!type) return hd_error_set(err, HD_ERR_FORMAT, "%s: rope_scaling has no rope_type", file);
        if (strcmp(type, "llama3") == 0) {
            c.rope_scaling = HD_ROPE_SCALING_LLAMA3;
            long long orig = 0;
            if ((st = json_float(rs, "factor", true, &c.rope_factor, file, err)) ||
                (st = json_float(rs, "low_freq_factor", true, &c.rope_low_freq_factor, file, err)) ||
                (st = json_float(rs, "high_freq_factor", true, &c.rope_high_freq_factor, file, err)) ||
                (st = json_int(rs, "original_max_position_embeddings", 1, INT64_C(1) << 40, true, &orig, file, err)))
                return st;
            c.rope_original_ctx = orig;
        } else if (strcmp(type, "default") != 0) {
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: rope_scaling type \"%s\" is not supported", file, type);
        }
    }
    if (D % H && d <= 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of %lld heads", file, D, H);
    if (mllama && (st = parse_mllama(&c, top, root, file, err))) return st;
    if (granite) {
        /* GraniteConfig: the four multipliers, 1.0 when absent */
        c.granite = true;
        c.embedding_multiplier = c.residual_multiplier = c.attention_multiplier = c.logits_scaling = 1.0f;
        if ((st = json_float(root, "embedding_multiplier", false, &c.embedding_multiplier, file, err)) ||
            (st = json_float(root, "residual_multiplier", false, &c.residual_multiplier, file, err)) ||
            (st = json_float(root, "attention_multiplier", false, &c.attention_multiplier, file, err)) ||
            (st = json_float(root, "logits_scaling", false, &c.logits_scaling, file, err)))
            return st;
        if (!(c.embedding_multiplier > 0) || !(c.residual_multiplier > 0) || !(c.attention_multiplier > 0) ||
            !(c.logits_scaling > 0))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: Granite multipliers must be positive", file);
    }
    if ((st = hd_llama_config_validate(&c, file, err))) return st;
    *out = c;
    return HD_OK;
}

hd_status hd_llama_config_from_hf_json(hd_llama_config *cfg, const char *json, size_t len, const char *name,
                                       hd_error *err) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return hd_error_set(err, HD_ERR_FORMAT, "%s: not valid JSON", name);
    hd_status st = parse_hf(cfg, root, name, err);
    cJSON_Delete(root);
    return st;
}

hd_status hd_llama_config_from_hf(hd_llama_config *cfg, const char *path, hd_error *err) {
    size_t n = 0;
    char *buf = hd_read_text_file(path, (size_t)16 << 20, &n, err);
    if (!buf) return err ? err->code : HD_ERR_IO;
    hd_status st = hd_llama_config_from_hf_json(cfg, buf, n, path, err);
    free(buf);
    return st;
}

/* ---- writing config.json like transformers (json.dumps indent=2, sorted) --- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->p && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 1024) + (size_t)k;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np, b->cap = nc;
    }
}

/* Python's repr of the float32 value f as a double: shortest digits that read
 * back to f, fixed notation for exponents in [-4, 16), else "1e-05" style. */
static void py_float(float f, char *out, size_t size) {
    char tmp[40];
    int p;
    for (p = 1; p <= 9; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, (double)f);
        if (strtof(tmp, NULL) == f) break;
    }
    /* tmp = [-]d.ddde[+-]XX */
    const char *s = tmp;
    bool neg = *s == '-';
    if (neg) s++;
    char digits[16];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && nd < sizeof digits - 1) digits[nd++] = *s;
    digits[nd] = 0;
    int exp = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
    if (nd == 1 && digits[0] == '0') exp = 0;
    char body[64];
    size_t k = 0;
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++) body[k++] = (size_t)i < nd ? digits[i] : '0';
            body[k++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t i = (size_t)exp + 1; i < nd; i++) body[k++] = digits[i];
            else
                body[k++] = '0';
        } else {
            body[k++] = '0';
            body[k++] = '.';
            for (int i = 0; i < -exp - 1; i++) body[k++] = '0';
            for (size_t i = 0; i < nd; i++) body[k++] = digits[i];
        }
        body[k] = 0;
    } else {
        body[k++] = digits[0];
        if (nd > 1) {
            body[k++] = '.';
            for (size_t i = 1; i < nd; i++) body[k++] = digits[i];
        }
        snprintf(body + k, sizeof body - k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(out, size, "%s%s", neg ? "-" : "", body);
}

static void sb_id(sbuf *b, int32_t id) {
    if (id < 0) sb_add(b, "null");
    else sb_add(b, "%d", id);
}

char *hd_llama_config_to_hf_json(const hd_llama_config *c, const char *torch_dtype, hd_error *err) {
    if (!torch_dtype ||
        (strcmp(torch_dtype, "float32") && strcmp(torch_dtype, "float16") && strcmp(torch_dtype, "bfloat16"))) {
        hd_error_set(err, HD_ERR_ARG, "torch_dtype must be float32, float16 or bfloat16");
        return NULL;
    }
    if (hd_llama_config_validate(c, "config", err)) return NULL;
    if (c->n_xattn > 0) {
        hd_error_set(err, HD_ERR_ARG, "config: an mllama model's config.json (text_config + vision_config) is not a "
                                      "LlamaForCausalLM config");
        return NULL;
    }
    char eps[40], theta[40], fac[40], lo[40], hi[40];
    py_float(c->norm_eps, eps, sizeof eps);
    py_float(c->rope_theta, theta, sizeof theta);
    py_float(c->rope_factor, fac, sizeof fac);
    py_float(c->rope_low_freq_factor, lo, sizeof lo);
    py_float(c->rope_high_freq_factor, hi, sizeof hi);

    char gm[4][40];   /* Granite: attention, embedding, residual multipliers, logits scaling */
    py_float(c->attention_multiplier, gm[0], sizeof gm[0]);
    py_float(c->embedding_multiplier, gm[1], sizeof gm[1]);
    py_float(c->residual_multiplier, gm[2], sizeof gm[2]);
    py_float(c->logits_scaling, gm[3], sizeof gm[3]);
    const bool gr = c->granite;

    sbuf b = {0};
    sb_add(&b, "{\n  \"architectures\": [\n    \"%s\"\n  ],\n", gr ? "GraniteForCausalLM" : "LlamaForCausalLM");
    sb_add(&b, "  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n");
    if (gr) sb_add(&b, "  \"attention_multiplier\": %s,\n", gm[0]);
    sb_add(&b, "  \"bos_token_id\": ");
    sb_id(&b, c->bos_token_id);
    if (gr) sb_add(&b, ",\n  \"embedding_multiplier\": %s", gm[1]);
    sb_add(&b, ",\n  \"eos_token_id\": ");
    if (c->n_eos == 0) sb_add(&b, "null");
    else if (c->n_eos == 1) sb_add(&b, "%d", c->eos_token_ids[0]);
    else {
        sb_add(&b, "[\n");
        for (int i = 0; i < c->n_eos; i++) sb_add(&b, "    %d%s\n", c->eos_token_ids[i], i + 1 < c->n_eos ? "," : "");
        sb_add(&b, "  ]");
    }
    sb_add(&b, ",\n");
    if (c->head_dim_explicit) sb_add(&b, "  \"head_dim\": %d,\n", c->head_dim);
    sb_add(&b, "  \"hidden_act\": \"silu\",\n  \"hidden_size\": %d,\n  \"initializer_range\": 0.02,\n", c->n_embd);
    sb_add(&b, "  \"intermediate_size\": %d,\n", c->n_ff);
    if (gr) sb_add(&b, "  \"logits_scaling\": %s,\n", gm[3]);
    sb_add(&b, "  \"max_position_embeddings\": %lld,\n", (long long)c->n_ctx_train);
    sb_add(&b, "  \"mlp_bias\": false,\n  \"model_type\": \"%s\",\n  \"num_attention_heads\": %d,\n",
           gr ? "granite" : "llama", c->n_head);
    sb_add(&b, "  \"num_hidden_layers\": %d,\n  \"num_key_value_heads\": %d,\n", c->n_layer, c->n_head_kv);
    if (c->pad_token_id >= 0) sb_add(&b, "  \"pad_token_id\": %d,\n", c->pad_token_id);
    if (gr) sb_add(&b, "  \"residual_multiplier\": %s,\n", gm[2]);
    else sb_add(&b, "  \"pretraining_tp\": 1,\n");
    sb_add(&b, "  \"rms_norm_eps\": %s,\n  \"rope_scaling\": ", eps);
    if (c->rope_scaling == HD_ROPE_SCALING_LLAMA3)
        sb_add(&b,
               "{\n    \"factor\": %s,\n    \"high_freq_factor\": %s,\n    \"low_freq_factor\": %s,\n"
               "    \"original_max_position_embeddings\": %lld,\n    \"rope_type\": \"llama3\"\n  }",
               fac, hi, lo, (long long)c->rope_original_ctx);
    else
        sb_add(&b, "null");
    sb_add(&b, ",\n  \"rope_theta\": %s,\n  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"%s\",\n", theta,
           c->tie_word_embeddings ? "true" : "false", torch_dtype);
    sb_add(&b, "  \"transformers_version\": \"4.45.0.dev0\",\n  \"use_cache\": true,\n  \"vocab_size\": %d\n}\n",
           c->n_vocab);
    if (b.oom) {
        free(b.p);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for config.json");
        return NULL;
    }
    return b.p;
}
