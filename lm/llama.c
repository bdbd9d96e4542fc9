/* lm/llama.c — Llama 3.x weights and forward pass (see llama.h, SPEC §1). */
#include "llama.h"
#include "llama_internal.h"

#include "core/arena.h"
#include "core/backend.h"
#include "core/exec.h"
#include "core/ops.h"
#include "core/quant.h"
#include "core/threadpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Weight types hd_op_linear / hd_op_get_rows accept. */
#define LLAMA_MATRIX_TYPES                                                                         \
    ((1ull << HD_TYPE_F32) | (1ull << HD_TYPE_F16) | (1ull << HD_TYPE_BF16) |                      \
     (1ull << HD_TYPE_Q8_0) | (1ull << HD_TYPE_Q4_0) | (1ull << HD_TYPE_Q4_K) |                    \
     (1ull << HD_TYPE_Q5_K) | (1ull << HD_TYPE_Q6_K))

/* ---- tensor names -------------------------------------------------------- */

typedef enum {
    T_ATTN_NORM, T_Q, T_K, T_V, T_O, T_FFN_NORM, T_GATE, T_UP, T_DOWN,
    T_Q_NORM, T_K_NORM, T_ATTN_GATE, T_MLP_GATE,   /* cross-attention layers only */
    T_COUNT
} layer_tensor;

/* [format][cross][tensor]; gates are bare parameters (no ".weight") */
static const char *const layer_names[2][2][T_COUNT] = {
    [HD_LLAMA_GGUF] = {
        {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"},
        {"attn_norm", "cross_attn_q_proj", "cross_attn_k_proj", "cross_attn_v_proj", "cross_attn_o_proj",
         "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "cross_attn_q_norm", "cross_attn_k_norm",
         "cross_attn_attn_gate", "cross_attn_mlp_gate"},
    },
    [HD_LLAMA_HF] = {
        {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
         "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"},
        {"input_layernorm", "cross_attn.q_proj", "cross_attn.k_proj", "cross_attn.v_proj", "cross_attn.o_proj",
         "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "cross_attn.q_norm",
         "cross_attn.k_norm", "cross_attn_attn_gate", "cross_attn_mlp_gate"},
    },
};

/* Where a HF checkpoint keeps the decoder: LlamaForCausalLM; mllama as
 * published on the Hub; mllama as newer transformers save it. */
typedef struct hd_llama_hf_names {
    const char *root;   /* + "embed_tokens.weight", "norm.weight", "layers.N." */
    const char *head;   /* the LM head */
} hf_layout;   /* struct hd_llama_hf_names: hd_llama_model.hf */
static const hf_layout k_hf_llama = {"model.", "lm_head.weight"};
/* the LM inside a speech-LLM folder (granite_speech: language_model = GraniteForCausalLM) */
static const hf_layout k_hf_wrapped = {"language_model.model.", "language_model.lm_head.weight"};
static const hf_layout k_hf_mllama[2] = {
    {"language_model.model.", "language_model.lm_head.weight"},
    {"model.language_model.", "lm_head.weight"},
};

/* A whole-model tensor: "token_embd", "output_norm", "output" in GGUF. */
static void model_name(char *buf, size_t size, const hd_llama_model *m, int which) {
    static const char *const gguf[3] = {"token_embd.weight", "output_norm.weight", "output.weight"};
    static const char *const hf[2] = {"embed_tokens.weight", "norm.weight"};
    if (m->format == HD_LLAMA_GGUF) snprintf(buf, size, "%s", gguf[which]);
    else if (which == 2) snprintf(buf, size, "%s", m->hf->head);
    else snprintf(buf, size, "%s%s", m->hf->root, hf[which]);
}

static void layer_name(char *buf, size_t size, const hd_llama_model *m, int l, layer_tensor t) {
    const bool cross = m->layers[l].cross;
    const char *n = layer_names[m->format][cross][t];
    const char *suffix = t == T_ATTN_GATE || t == T_MLP_GATE ? "" : ".weight";
    if (m->format == HD_LLAMA_GGUF) snprintf(buf, size, "blk.%d.%s%s", l, n, suffix);
    else snprintf(buf, size, "%slayers.%d.%s%s", m->hf->root, l, n, suffix);
}

/* ---- RoPE frequencies (SPEC §1.4) ---------------------------------------- */

void hd_llama_rope_freqs(const hd_llama_config *cfg, const float *freq_factors, float *inv_freq) {
    const int d = cfg->head_dim;
    if (!freq_factors) {
        /* the llama3 scaling as llama.cpp's factors (1 = unscaled): lm/llama_config.c */
        hd_llama_rope_freq_factors(cfg, inv_freq);
        freq_factors = inv_freq;
    }
    for (int i = 0; i < d / 2; i++)
        inv_freq[i] = (float)(pow((double)cfg->rope_theta, -2.0 * i / d) / freq_factors[i]);
}

/* ---- loading ------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* GGUF by extension or magic. */
static bool is_gguf_file(const char *path) {
    if (ends_with(path, ".gguf")) return true;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

/* The folder of a HF checkpoint given as a folder, its config.json or one of its files. */
static void hf_dir(const char *path, char *dir, size_t size) {
    if (is_dir(path)) {
        snprintf(dir, size, "%s", path);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, size, ".");
    else snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

static hd_status get_matrix(hd_llama_model *m, const char *name, int64_t ne0, int64_t ne1, hd_tensor *out,
                            hd_error *err) {
    int64_t ne[2] = {ne0, ne1};
    return hd_weights_get(m->file, name, 2, ne, LLAMA_MATRIX_TYPES, out, err);
}

/* A norm weight [D] of any float type, copied to F32 at dst. */
static hd_status get_norm(hd_llama_model *m, const char *name, int64_t D, float *dst, hd_tensor *out,
                          hd_error *err) {
    int64_t ne[1] = {D};
    hd_tensor t;
    hd_status st = hd_weights_get(m->file, name, 1, ne, HD_TYPES_FLOAT, &t, err);
    if (st) return st;
    hd_dequantize_row(t.type, t.data, dst, D);
    for (int64_t i = 0; i < D; i++)
        if (!isfinite(dst[i]))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s holds a non-finite value",
                                hd_weights_name(m->file), name);
    *out = hd_tensor_1d(HD_TYPE_F32, D, dst);
    out->name = t.name;
    return HD_OK;
}

hd_llama_model *hd_llama_load(const char *path, hd_error *err) {
    hd_llama_model *m = calloc(1, sizeof *m);
    if (!m) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    hd_status st;
    char name[256];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        hd_error_set(err, HD_ERR_IO, "%s: no such file or directory", path);
        goto fail;
    }

    /* 1. file and hyper-parameters: a GGUF file, or a HF folder (given as
     * itself, its config.json or one of its safetensors files) */
    const bool is_folder = S_ISDIR(sb.st_mode);
    if (!is_folder && !is_gguf_file(path) && !ends_with(path, ".safetensors") && !ends_with(path, ".json")) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: neither a GGUF file nor a Hugging Face checkpoint folder", path);
        goto fail;
    }
    if (!is_folder && is_gguf_file(path)) {
        m->format = HD_LLAMA_GGUF;
        m->rope_mode = HD_ROPE_INTERLEAVED;
        if (!(m->file = hd_weights_open(path, err))) goto fail;
        if (hd_llama_config_from_gguf(&m->cfg, hd_weights_gguf(m->file), err)) goto fail;
        m->source = strdup(path);
    } else {
        char dir[4096], cfg_path[4200];
        m->format = HD_LLAMA_HF;
        m->rope_mode = HD_ROPE_NEOX;
        hf_dir(path, dir, sizeof dir);
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
        if (hd_llama_config_from_hf(&m->cfg, cfg_path, err)) goto fail;
        /* the whole folder: a shard given by name is one part of the checkpoint */
        if (!(m->file = hd_weights_open(dir, err))) goto fail;
        m->source = strdup(dir);
    }
    if (!m->source) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    const char *file = hd_weights_name(m->file);
    const hd_llama_config *c = &m->cfg;
    if ((st = hd_llama_config_validate(c, file, err))) goto fail;
    const int64_t D = c->n_embd, V = c->n_vocab, F = c->n_ff, d = c->head_dim;
    const int64_t Hd = (int64_t)c->n_head * d, Gd = (int64_t)c->n_head_kv * d;
    const bool gguf = m->format == HD_LLAMA_GGUF;

    const bool mllama = c->n_xattn > 0;
    const size_t n_norms = (size_t)c->n_layer * 2 * (size_t)D + (size_t)D + (size_t)c->n_xattn * (size_t)(2 * d + 2);
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    m->norms = malloc(n_norms * sizeof *m->norms);
    m->inv_freq = malloc((size_t)(d / 2) * sizeof *m->inv_freq);
    if (!m->layers || !m->norms || !m->inv_freq) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", file);
        goto fail;
    }
    for (int l = 0, x = 0; l < c->n_layer; l++) {
        hd_llama_layer *L = &m->layers[l];
        L->cross = x < c->n_xattn && c->xattn_layers[x] == l;
        L->slot = L->cross ? x++ : m->n_self++;
    }

    /* 2. embeddings (mllama: 8 more rows, the first is <|image|>), final norm,
     * LM head (V rows; tied when absent) */
    if (!gguf) {
        m->hf = &k_hf_llama;
        if (!mllama && !hd_weights_has(m->file, "model.embed_tokens.weight") &&
            hd_weights_has(m->file, "language_model.model.embed_tokens.weight"))
            m->hf = &k_hf_wrapped;
        if (mllama) {   /* the Hub's names, or the ones newer transformers write */
            m->hf = &k_hf_mllama[0];
            if (!hd_weights_has(m->file, "language_model.model.embed_tokens.weight") &&
                hd_weights_has(m->file, "model.language_model.embed_tokens.weight"))
                m->hf = &k_hf_mllama[1];
        }
    }
    const int64_t V_embd = V + (mllama ? HD_LLAMA_XATTN_EXTRA_ROWS : 0);
    char out_name[256];
    model_name(name, sizeof name, m, 0);
    if ((st = get_matrix(m, name, D, V_embd, &m->tok_embd, err))) goto fail;
    model_name(name, sizeof name, m, 1);
    if ((st = get_norm(m, name, D, m->norms + 2 * c->n_layer * D, &m->output_norm, err))) goto fail;
    model_name(out_name, sizeof out_name, m, 2);
    if (hd_weights_has(m->file, out_name)) {
        if ((st = get_matrix(m, out_name, D, V, &m->output, err))) goto fail;
    } else if (gguf || (!mllama && c->tie_word_embeddings)) {
        /* tied (GGUF without output.weight, as llama.cpp reads it): the first V
         * embedding rows, which for mllama leaves out the image rows */
        m->output = hd_tensor_2d(m->tok_embd.type, D, V, m->tok_embd.data);
        m->output.name = m->tok_embd.name;
        m->tied = true;
    } else {
        hd_error_set(err, HD_ERR_NOTFOUND, "%s: tensor %s is missing (%s)", file, out_name,
                     mllama ? "mllama's LM head is never tied" : "config.json says the embeddings are not tied");
        goto fail;
    }

    /* 3. layers: self-attention (SPEC §1.1) or gated cross-attention (§2.6) */
    float *xnorms = m->norms + (2 * c->n_layer + 1) * D;   /* [n_xattn][2d + 2] */
    for (int l = 0; l < c->n_layer; l++) {
        hd_llama_layer *L = &m->layers[l];
        struct { layer_tensor t; hd_tensor *dst; int64_t ne0, ne1; } mats[] = {
            {T_Q, &L->wq, D, Hd},        {T_K, &L->wk, D, Gd},     {T_V, &L->wv, D, Gd},
            {T_O, &L->wo, Hd, D},        {T_GATE, &L->w_gate, D, F}, {T_UP, &L->w_up, D, F},
            {T_DOWN, &L->w_down, F, D},
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            layer_name(name, sizeof name, m, l, mats[i].t);
            if ((st = get_matrix(m, name, mats[i].ne0, mats[i].ne1, mats[i].dst, err))) goto fail;
        }
        layer_name(name, sizeof name, m, l, T_ATTN_NORM);
        if ((st = get_norm(m, name, D, m->norms + (2 * l) * D, &L->attn_norm, err))) goto fail;
        layer_name(name, sizeof name, m, l, T_FFN_NORM);
        if ((st = get_norm(m, name, D, m->norms + (2 * l + 1) * D, &L->ffn_norm, err))) goto fail;
        if (L->cross) {
            float *xn = xnorms + (size_t)L->slot * (size_t)(2 * d + 2);
            struct { layer_tensor t; hd_tensor *dst; int64_t n; float *at; } small[] = {
                {T_Q_NORM, &L->q_norm, d, xn},          {T_K_NORM, &L->k_norm, d, xn + d},
                {T_ATTN_GATE, &L->attn_gate, 1, xn + 2 * d}, {T_MLP_GATE, &L->mlp_gate, 1, xn + 2 * d + 1},
            };
            for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
                layer_name(name, sizeof name, m, l, small[i].t);
                if ((st = get_norm(m, name, small[i].n, small[i].at, small[i].dst, err))) goto fail;
            }
        }

        L->nn = (hd_nn_layer_w){
            .attn_norm = {.kind = HD_NN_NORM_RMS, .w = &L->attn_norm, .eps = c->norm_eps},
            .attn = {.wq = &L->wq, .wk = &L->wk, .wv = &L->wv, .wo = &L->wo,
                     .n_head = c->n_head, .n_kv_head = c->n_head_kv, .head_dim = c->head_dim,
                     .scale = c->attention_multiplier},   /* Granite; 0 = 1/√d */
            .mlp_norm = {.kind = HD_NN_NORM_RMS, .w = &L->ffn_norm, .eps = c->norm_eps},
            .mlp = {.gate = &L->w_gate, .up = &L->w_up, .down = &L->w_down, .act = HD_NN_ACT_SILU},
            .residual_scale = c->residual_multiplier,   /* Granite; 0 = 1 */
        };
        if (L->cross) {
            /* q_norm/k_norm per head, no RoPE, tanh gates on both branches */
            L->nn.attn.q_norm = &L->q_norm;
            L->nn.attn.k_norm = &L->k_norm;
            L->nn.attn.qk_norm_eps = c->norm_eps;
            L->nn.attn_gate = &L->attn_gate;
            L->nn.mlp_gate = &L->mlp_gate;
        }
    }
    m->weight_type = m->layers[0].wq.type;   /* self or cross: the same projection type in practice */
    /* the paper's video cross-attention layers, when the GGUF has them (lm/llama_video.c) */
    if (gguf && (st = hd_llama_video_load(m, err))) goto fail;

    /* 4. RoPE frequencies: GGUF rope_freqs (llama.cpp's precomputed factors) or from the config */
    if (gguf && hd_weights_has(m->file, "rope_freqs.weight")) {
        int64_t ne[1] = {d / 2};
        hd_tensor rf;
        if ((st = hd_weights_get(m->file, "rope_freqs.weight", 1, ne, 1ull << HD_TYPE_F32, &rf, err))) goto fail;
        /* the factors are read into inv_freq, which hd_llama_rope_freqs then rewrites in place */
        memcpy(m->inv_freq, rf.data, (size_t)(d / 2) * sizeof *m->inv_freq);
        for (int64_t i = 0; i < d / 2; i++)
            if (!(m->inv_freq[i] > 0) || !isfinite(m->inv_freq[i])) {
                hd_error_set(err, HD_ERR_FORMAT, "%s: rope_freqs.weight[%lld] = %g is not a positive factor", file,
                             (long long)i, (double)m->inv_freq[i]);
                goto fail;
            }
        hd_llama_rope_freqs(c, m->inv_freq, m->inv_freq);
    } else {
        hd_llama_rope_freqs(c, NULL, m->inv_freq);
    }
    return m;
fail:
    hd_llama_free(m);
    return NULL;
}

void hd_llama_free(hd_llama_model *m) {
    if (!m) return;
    hd_llama_lora_detach(m);   /* before the layers it points into */
    hd_weights_close(m->file);
    free(m->source);
    free(m->layers);
    free(m->norms);
    free(m->inv_freq);
    hd_llama_video_unload(m);
    free(m);
}

/* ---- context ------------------------------------------------------------- */

hd_llama_context_params hd_llama_context_default_params(void) {
    hd_llama_context_params p = {.n_ctx = 0, .n_batch = 256, .kv_type = HD_TYPE_F16, .n_threads = 0,
                                 .logits_all = false, .xattn_mask = HD_XATTN_MASK_META, .max_images = 4};
    return p;
}

hd_llama_context *hd_llama_context_create(const hd_llama_model *m, const hd_llama_context_params *pp,
                                          hd_error *err) {
    hd_llama_context_params p = *pp;
    const hd_llama_config *c = &m->cfg;
    if (p.n_ctx <= 0) p.n_ctx = c->n_ctx_train > 0 && c->n_ctx_train < 4096 ? c->n_ctx_train : 4096;
    if (p.n_batch <= 0) p.n_batch = 256;
    if (p.n_batch > p.n_ctx) p.n_batch = (int)p.n_ctx;
    if (p.n_ctx > (1 << 24)) {
        hd_error_set(err, HD_ERR_ARG, "context of %lld positions is too large", (long long)p.n_ctx);
        return NULL;
    }
    if (p.max_images <= 0) p.max_images = 4;
    if (p.max_images > 64 || (p.xattn_mask != HD_XATTN_MASK_META && p.xattn_mask != HD_XATTN_MASK_HF)) {
        hd_error_set(err, HD_ERR_ARG, "context: max_images %d (at most 64) or cross-attention mask mode %d is invalid",
                     p.max_images, (int)p.xattn_mask);
        return NULL;
    }
    hd_llama_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for a context");
        return NULL;
    }
    ctx->model = m;
    ctx->p = p;
    const int64_t D = c->n_embd, V = c->n_vocab, B = p.n_batch;
    const int64_t F = c->n_ff, Hd = (int64_t)c->n_head * c->head_dim;
    ctx->n_out_max = p.logits_all ? B : 1;

    if (!(ctx->kv = hd_kv_cache_create(m->n_self, c->n_head_kv, c->head_dim, p.n_ctx, p.kv_type, err))) goto fail;
    if (!(ctx->pool = hd_threadpool_create(p.n_threads, err))) goto fail;
    /* activations: x [D, B], one layer's scratch (the widest; image K/V of B
     * tokens in hd_llama_set_images fit too), the final norm [D, n_out] */
    size_t layer_scratch = 0;
    for (int l = 0; l < c->n_layer; l++) {
        size_t b = hd_nn_layer_scratch_bytes(&m->layers[l].nn, B);
        if (b > layer_scratch) layer_scratch = b;
    }
    size_t act = hd_nn_f32_bytes(D * B) + layer_scratch + hd_nn_f32_bytes(D * ctx->n_out_max) + 4096;
    if (!(ctx->act = hd_arena_create(act, err))) goto fail;
    /* op temporaries (ex->scratch): the linear op packs its F32 input per token
     * block plus one panel buffer per thread (core/matmul.c); attention keeps
     * score rows per thread over the whole context */
    int64_t widest = D > F ? D : F;
    if (Hd > widest) widest = Hd;
    const size_t nt = (size_t)hd_threadpool_size(ctx->pool);
    size_t scratch = (size_t)widest * (size_t)(B + 32) * 4 + nt * ((size_t)1 << 18) +
                     nt * (size_t)(p.n_ctx + 64) * 4 * 2 + ((size_t)1 << 20);
    if (!(ctx->scratch = hd_arena_create(scratch, err))) goto fail;
    ctx->pos = malloc((size_t)B * sizeof *ctx->pos);
    ctx->ids = malloc((size_t)B * sizeof *ctx->ids);
    ctx->logits = malloc((size_t)(V * ctx->n_out_max) * sizeof *ctx->logits);
    if (!ctx->pos || !ctx->ids || !ctx->logits) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for logits [%lld x %lld]", (long long)V,
                     (long long)ctx->n_out_max);
        goto fail;
    }
    if (c->n_xattn > 0) {
        /* image slots and the per-batch R; K/V and the mask come with hd_llama_set_images */
        ctx->images = calloc((size_t)p.max_images, sizeof *ctx->images);
        ctx->xk = calloc((size_t)c->n_xattn, sizeof *ctx->xk);
        ctx->xv = calloc((size_t)c->n_xattn, sizeof *ctx->xv);
        ctx->xrow = malloc((size_t)B * sizeof *ctx->xrow);
        if (!ctx->images || !ctx->xk || !ctx->xv || !ctx->xrow) {
            hd_error_set(err, HD_ERR_NOMEM, "out of memory for the image slots");
            goto fail;
        }
    }
    if (hd_llama_video_context_init(ctx, err)) goto fail;
    /* the process's device (herd --device; the CPU unless set) */
    if (hd_exec_init(&ctx->ex, hd_backend_default(), ctx->pool, ctx->scratch, err)) goto fail;
    return ctx;
fail:
    hd_llama_context_free(ctx);
    return NULL;
}

void hd_llama_context_free(hd_llama_context *ctx) {
    if (!ctx) return;
    hd_exec_release(&ctx->ex);
    hd_kv_cache_free(ctx->kv);
    hd_threadpool_free(ctx->pool);
    hd_arena_free(ctx->act);
    hd_arena_free(ctx->scratch);
    free(ctx->pos);
    free(ctx->ids);
    free(ctx->logits);
    hd_llama_xattn_free(ctx);
    hd_llama_video_free(ctx);
    free(ctx);
}

/* x[:, i] = the embedding of tokens[i]: a row of the token-embedding table,
 * or for HD_LLAMA_TOKEN_EMBD the next caller row of embd ([n][D] F32). */
static hd_status embed(hd_llama_context *ctx, hd_tensor *x, const int32_t *tokens, const float *embd, int64_t S,
                       hd_error *err) {
    const hd_llama_model *m = ctx->model;
    const int64_t D = m->cfg.n_embd;
    bool any = false;
    for (int64_t i = 0; i < S; i++) {
        any |= tokens[i] == HD_LLAMA_TOKEN_EMBD;
        ctx->ids[i] = tokens[i] == HD_LLAMA_TOKEN_EMBD ? 0 : tokens[i];   /* row 0 is overwritten below */
    }
    hd_status st = hd_op_get_rows(&ctx->ex, x, &m->tok_embd, ctx->ids, S, err);
    if (st) return st;
    float *xd = x->data;
    for (int64_t i = 0; any && i < S; i++)
        if (tokens[i] == HD_LLAMA_TOKEN_EMBD) {
            memcpy(xd + i * D, embd, (size_t)D * sizeof *xd);
            embd += D;
        }
    /* Granite: GraniteModel scales inputs_embeds, the caller's rows included */
    const float em = m->cfg.embedding_multiplier;
    if (em != 0.0f && em != 1.0f) st = hd_op_scale(&ctx->ex, x, x, em, err);
    return st;
}

/* True when a states-only context has captured its layer after `done` layers. */
static bool states_done(const hd_llama_context *ctx, int done) {
    return ctx->cap_fn && ctx->p.states_only && ctx->cap_layer <= done;
}

/* One forward pass over S ≤ n_batch tokens at positions n_past … n_past+S-1.
 * Entries equal to HD_LLAMA_TOKEN_EMBD take the next row of embd. */
static hd_status llama_forward(hd_llama_context *ctx, const int32_t *tokens, const float *embd, int64_t S,
                               bool want_logits, hd_error *err) {
    const hd_llama_model *m = ctx->model;
    const hd_llama_config *c = &m->cfg;
    const int64_t D = c->n_embd, V = c->n_vocab, n_past = hd_kv_cache_used(ctx->kv);
    hd_exec *ex = &ctx->ex;
    hd_status st;
    hd_arena_reset(ctx->act, 0);

    /* x = embeddings of the tokens: [D, S] */
    int64_t ne[2] = {D, S};
    hd_tensor x = hd_arena_tensor(ctx->act, HD_TYPE_F32, 2, ne);
    if (!x.data) return hd_error_set(err, HD_ERR_INTERNAL, "llama: activation arena too small");
    if ((st = embed(ctx, &x, tokens, embd, S, err))) return st;
    for (int64_t i = 0; i < S; i++) ctx->pos[i] = (int32_t)(n_past + i);
    if (ctx->cap_fn && ctx->cap_layer == 0) ctx->cap_fn(ctx->cap_user, n_past, S, D, x.data);
    if (states_done(ctx, 0)) return hd_kv_cache_advance(ctx->kv, S, err);

    /* images seen by the rows of this batch (mllama): mask and R, or skip the cross layers */
    const bool xattn = c->n_xattn > 0 && hd_llama_xattn_prepare(ctx, S);
    /* the video seen by the rows of this batch (video layers), or skip them */
    const bool vattn = m->n_video > 0 && hd_llama_video_prepare(ctx, S);

    /* SPEC §1.1, per self layer:  x = x + attention(rms_norm(x));  x = x + mlp(rms_norm(x))
     * SPEC §2.6, per cross layer: the same with image keys/values, tanh gates and R */
    for (int l = 0; l < c->n_layer; l++) {
        const hd_llama_layer *L = &m->layers[l];
        for (int v = 0; vattn && v < m->n_video; v++) {   /* video layers run just before their layer */
            if (m->video_before[v] != l) continue;
            if ((st = hd_llama_video_layer(ctx, v, &x, err))) {
                hd_error_prefix(err, "video cross-attention layer %d (before layer %d)", v, l);
                return st;
            }
        }
        if (L->cross) {
            if (xattn && (st = hd_llama_xattn_layer(ctx, L, &x, err))) {
                hd_error_prefix(err, "layer %d (cross-attention)", l);
                return st;
            }
            if (ctx->cap_fn && ctx->cap_layer == l + 1) ctx->cap_fn(ctx->cap_user, n_past, S, D, x.data);
            if (states_done(ctx, l + 1)) break;
            continue;
        }
        hd_nn_layer_w nw;   /* the layer without its LoRA (context option) */
        const hd_nn_layer_w *lw = &L->nn;
        if (ctx->p.no_lora && m->lora) {
            nw = L->nn;
            nw.attn.lora_q = nw.attn.lora_k = nw.attn.lora_v = nw.attn.lora_o = NULL;
            nw.mlp.lora_gate = nw.mlp.lora_up = nw.mlp.lora_down = NULL;
            lw = &nw;
        }
        hd_nn_attn_ctx ac = {
            .pos = ctx->pos, .inv_freq = m->inv_freq, .n_rot = c->head_dim, .rope_mode = m->rope_mode,
            .k_cache = hd_kv_cache_k(ctx->kv, L->slot), .v_cache = hd_kv_cache_v(ctx->kv, L->slot),
            .n_past = n_past, .causal = true,
        };
        if ((st = hd_nn_layer(ex, ctx->act, &x, lw, &ac, err))) {
            hd_error_prefix(err, "layer %d", l);
            return st;
        }
        if (ctx->cap_fn && ctx->cap_layer == l + 1) ctx->cap_fn(ctx->cap_user, n_past, S, D, x.data);
        /* states only: the layers above the captured one never run (their cache slots stay unused,
           and no state of layers <= L depends on them) */
        if (states_done(ctx, l + 1)) break;
    }
    if ((st = hd_kv_cache_advance(ctx->kv, S, err))) return st;
    if (!want_logits || (ctx->cap_fn && ctx->p.states_only)) return HD_OK;

    /* logits = output · rms_norm(x) for the last token (or every token) */
    const int64_t n_out = ctx->p.logits_all ? S : 1;
    hd_tensor xl = hd_tensor_2d(HD_TYPE_F32, D, n_out, (float *)x.data + (S - n_out) * D);
    int64_t nh[2] = {D, n_out};
    hd_tensor h = hd_arena_tensor(ctx->act, HD_TYPE_F32, 2, nh);
    if (!h.data) return hd_error_set(err, HD_ERR_INTERNAL, "llama: activation arena too small");
    if ((st = hd_op_rms_norm(ex, &h, &xl, &m->output_norm, c->norm_eps, err))) return st;
    hd_tensor logits = hd_tensor_2d(HD_TYPE_F32, V, n_out, ctx->logits);
    if ((st = hd_op_linear(ex, &logits, &m->output, &h, NULL, err))) return st;
    /* Granite: logits / logits_scaling */
    if (c->logits_scaling != 0.0f && c->logits_scaling != 1.0f &&
        (st = hd_op_scale(ex, &logits, &logits, 1.0f / c->logits_scaling, err)))
        return st;
    ctx->n_logits = n_out;
    return HD_OK;
}

hd_status hd_llama_decode(hd_llama_context *ctx, const int32_t *tokens, int64_t n, hd_error *err) {
    return hd_llama_decode_embd(ctx, tokens, NULL, n, err);
}

hd_status hd_llama_decode_embd(hd_llama_context *ctx, const int32_t *tokens, const float *embd, int64_t n,
                               hd_error *err) {
    const hd_llama_model *m = ctx->model;
    const int64_t used = hd_kv_cache_used(ctx->kv), n_ctx = hd_kv_cache_n_ctx(ctx->kv);
    const int64_t n_rows = m->tok_embd.ne[1];   /* V, or V + 8 with mllama's image embeddings */
    if (n <= 0 || !tokens) return hd_error_set(err, HD_ERR_ARG, "llama: nothing to decode");
    if (n > n_ctx - used)
        return hd_error_set(err, HD_ERR_ARG,
                            "context full: %lld tokens in use + %lld new exceed the context of %lld",
                            (long long)used, (long long)n, (long long)n_ctx);
    if (ctx->p.logits_all && n > ctx->p.n_batch)
        return hd_error_set(err, HD_ERR_ARG, "llama: %lld tokens with logits for all exceed the batch of %d",
                            (long long)n, ctx->p.n_batch);
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] == HD_LLAMA_TOKEN_EMBD) {
            if (!embd)
                return hd_error_set(err, HD_ERR_ARG, "llama: entry %lld asks for an embedding row but none were given",
                                    (long long)i);
        } else if (tokens[i] < 0 || tokens[i] >= n_rows) {
            return hd_error_set(err, HD_ERR_ARG, "token id %d at %lld is outside the vocabulary of %lld",
                                (int)tokens[i], (long long)i, (long long)n_rows);
        }
    }
    ctx->n_logits = 0;
    const float *rows = embd;
    for (int64_t off = 0; off < n; off += ctx->p.n_batch) {
        int64_t S = n - off < ctx->p.n_batch ? n - off : ctx->p.n_batch;
        hd_status st = llama_forward(ctx, tokens + off, rows, S, off + S == n, err);
        if (st) {
            hd_kv_cache_truncate(ctx->kv, used, NULL);   /* all or nothing */
            ctx->n_logits = 0;
            return st;
        }
        for (int64_t i = 0; rows && i < S; i++)
            if (tokens[off + i] == HD_LLAMA_TOKEN_EMBD) rows += m->cfg.n_embd;
    }
    return HD_OK;
}

const float *hd_llama_logits(const hd_llama_context *ctx) { return ctx->logits; }
int64_t hd_llama_n_logits(const hd_llama_context *ctx) { return ctx->n_logits; }
const hd_llama_model *hd_llama_context_model(const hd_llama_context *ctx) { return ctx->model; }
int64_t hd_llama_n_ctx(const hd_llama_context *ctx) { return hd_kv_cache_n_ctx(ctx->kv); }
int64_t hd_llama_n_past(const hd_llama_context *ctx) { return hd_kv_cache_used(ctx->kv); }
hd_kv_cache *hd_llama_kv_cache(hd_llama_context *ctx) { return ctx->kv; }
size_t hd_llama_arena_used(const hd_llama_context *ctx) { return hd_arena_high_water(ctx->act); }

hd_status hd_llama_set_hidden_capture(hd_llama_context *ctx, int layer, hd_llama_hidden_fn fn, void *user,
                                      hd_error *err) {
    if (!ctx) return hd_error_set(err, HD_ERR_ARG, "llama: no context for the hidden-state capture");
    const int n_layer = ctx->model->cfg.n_layer;
    if (fn && (layer < 0 || layer > n_layer))
        return hd_error_set(err, HD_ERR_ARG, "llama: hidden-state layer %d outside 0..%d", layer, n_layer);
    ctx->cap_fn = fn;
    ctx->cap_user = fn ? user : NULL;
    ctx->cap_layer = fn ? layer : 0;
    return HD_OK;
}

hd_status hd_llama_rewind(hd_llama_context *ctx, int64_t n, hd_error *err) {
    ctx->n_logits = 0;
    return hd_kv_cache_truncate(ctx->kv, n, err);
}
