/* speech/prosody.c — the prosody model on core/nn (see prosody.h). */
#include "prosody.h"

#include "core/nn.h"
#include "core/ops.h"
#include "core/quant.h"
#include "lm/llama_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration --------------------------------------------------------- */

static const struct {
    const char *key;
    size_t off;
} k_u32_keys[] = {
    {"prosody.embedding_length", offsetof(hd_prosody_config, n_embd)},
    {"prosody.block_count", offsetof(hd_prosody_config, n_layer)},
    {"prosody.attention.head_count", offsetof(hd_prosody_config, n_head)},
    {"prosody.feed_forward_length", offsetof(hd_prosody_config, n_ff)},
    {"prosody.token_embedding_length", offsetof(hd_prosody_config, n_llm)},
    {"prosody.lookahead_phones", offsetof(hd_prosody_config, lookahead)},
};
#define EPS_KEY "prosody.attention.layer_norm_epsilon"
#define PHONES_KEY "prosody.phones"
#define LAYER_KEY "prosody.token_layer"

/* "BASE+LLAMA": BASE's sizes, the LM width and middle layer of Llama preset LLAMA. */
static bool preset_for_lm(const char *name, hd_prosody_config *c) {
    const char *plus = strchr(name, '+');
    char base[16];
    hd_llama_config lc;
    if ((size_t)(plus - name) >= sizeof base || !hd_llama_config_preset(plus + 1, &lc)) return false;
    memcpy(base, name, (size_t)(plus - name));
    base[plus - name] = 0;
    if (strchr(base, '+') || !hd_prosody_preset(base, c)) return false;
    c->n_llm = lc.n_embd;
    c->token_layer = lc.n_layer / 2 > 0 ? lc.n_layer / 2 : 1;
    return true;
}

bool hd_prosody_preset(const char *name, hd_prosody_config *c) {
    if (!name || !c) return false;
    if (strchr(name, '+')) return preset_for_lm(name, c);
    if (strcmp(name, "tiny") == 0) {
        *c = (hd_prosody_config){.n_embd = 48, .n_layer = 2, .n_head = 6, .n_ff = 96, .n_llm = 64, .lookahead = 3,
                                 .norm_eps = 1e-5f};
        return true;
    }
    if (strcmp(name, "paper") == 0) {
        *c = (hd_prosody_config){.n_embd = 384, .n_layer = 6, .n_head = 6, .n_ff = 864, .n_llm = 4096,
                                 .lookahead = 3, .norm_eps = 1e-5f};
        return true;
    }
    return false;
}

hd_status hd_prosody_config_check(const hd_prosody_config *c, hd_error *err) {
    if (c->n_embd < 2 || c->n_embd > 65536 || c->n_embd % 2)
        return hd_error_set(err, HD_ERR_ARG, "prosody: embedding_length %d must be even, 2..65536", c->n_embd);
    if (c->n_head < 1 || c->n_embd % c->n_head)
        return hd_error_set(err, HD_ERR_ARG, "prosody: head_count %d does not divide embedding_length %d", c->n_head,
                            c->n_embd);
    if (c->n_layer < 1 || c->n_layer > 256) return hd_error_set(err, HD_ERR_ARG, "prosody: block_count %d", c->n_layer);
    if (c->n_ff < 1 || c->n_ff > 1 << 20) return hd_error_set(err, HD_ERR_ARG, "prosody: feed_forward_length %d", c->n_ff);
    if (c->n_llm < 1 || c->n_llm > 1 << 20)
        return hd_error_set(err, HD_ERR_ARG, "prosody: token_embedding_length %d", c->n_llm);
    if (c->lookahead < 0 || c->lookahead > 1024)
        return hd_error_set(err, HD_ERR_ARG, "prosody: lookahead_phones %d", c->lookahead);
    if (!(c->norm_eps > 0) || c->norm_eps > 1) return hd_error_set(err, HD_ERR_ARG, "prosody: bad layer_norm_epsilon");
    if (c->token_layer < 0 || c->token_layer > 1024)
        return hd_error_set(err, HD_ERR_ARG, "prosody: token_layer %d outside 0..1024", c->token_layer);
    return HD_OK;
}

static hd_status config_from_gguf(const hd_gguf *g, hd_prosody_config *c, hd_error *err) {
    hd_prosody_config r = {.norm_eps = 1e-5f};
    for (size_t i = 0; i < sizeof k_u32_keys / sizeof k_u32_keys[0]; i++) {
        uint32_t v;
        if (!hd_gguf_get_u32(g, k_u32_keys[i].key, &v) || v > (1u << 24))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: key %s missing or not a small u32", hd_gguf_name(g),
                                k_u32_keys[i].key);
        *(int *)((char *)&r + k_u32_keys[i].off) = (int)v;
    }
    if (hd_gguf_find_key(g, EPS_KEY) >= 0 && !hd_gguf_get_f32(g, EPS_KEY, &r.norm_eps))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not an f32", hd_gguf_name(g), EPS_KEY);
    uint32_t tl = 0;
    if (hd_gguf_find_key(g, LAYER_KEY) >= 0 && (!hd_gguf_get_u32(g, LAYER_KEY, &tl) || tl > 1024))
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not a u32 in 0..1024", hd_gguf_name(g), LAYER_KEY);
    r.token_layer = (int)tl;
    hd_status st = hd_prosody_config_check(&r, err);
    if (st) return hd_error_prefix(err, "%s", hd_gguf_name(g)), HD_ERR_FORMAT;
    *c = r;
    return HD_OK;
}

hd_status hd_prosody_config_to_gguf(const hd_prosody_config *c, hd_gguf_writer *w, hd_error *err) {
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof k_u32_keys / sizeof k_u32_keys[0]; i++)
        ok = hd_gguf_set_u32(w, k_u32_keys[i].key, (uint32_t) * (const int *)((const char *)c + k_u32_keys[i].off)) ==
             HD_OK;
    if (ok) ok = hd_gguf_set_f32(w, EPS_KEY, c->norm_eps) == HD_OK;
    if (ok && c->token_layer > 0) ok = hd_gguf_set_u32(w, LAYER_KEY, (uint32_t)c->token_layer) == HD_OK;
    const char *const *ph = hd_prosody_default_phones();
    uint64_t n = 0;
    size_t lens[256];
    while (ph[n] && n < 256) lens[n] = strlen(ph[n]), n++;
    if (ok) ok = hd_gguf_set_arr_str(w, PHONES_KEY, ph, lens, n) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "prosody: out of memory writing metadata");
}

const char *const *hd_prosody_default_phones(void) {
    /* espeak-ng's English phoneme mnemonics (en, en-us, en-gb voices) */
    static const char *const k[] = {
        "<unk>", "_",  "_:", "_!", "_|", "p",  "b",   "t",  "d",  "k",  "g",  "f",  "v",  "T",  "D",  "s",  "z",
        "S",     "Z",  "h",  "tS", "dZ", "m",  "n",   "N",  "l",  "r",  "w",  "j",  "t#", "d#", "n-", "l-", "r-",
        "?",     "x",  "a",  "a#", "A:", "A@", "aI",  "aI@", "aU", "aU@", "E", "E2", "E@", "e@", "eI", "I",  "I#",
        "I2",    "i",  "i:", "i@", "0",  "O:", "O@",  "OI", "o@", "oU", "U",  "U@", "u:", "V",  "3:", "3",  "@",
        "@2",    "@5", "@L", "a@", "aa", "e",  "o",   "u",  "y",  "W",  "Q",  "n#", "m-", "i@3", "IR", "VR", "@-",
        NULL,
    };
    return k;
}

/* ---- weights ------------------------------------------------------------------ */

typedef struct block_w {
    hd_nn_norm_w self_norm, ling_norm, tok_norm, ffn_norm;
    hd_nn_attn_w self, ling, tok;
    hd_nn_mlp_w ffn;
    hd_tensor t[36];   /* storage the structs above point into */
} block_w;

struct hd_prosody_model {
    hd_prosody_config c;
    hd_weights *owned;
    char **phones;            /* [V] owned copies of the inventory     */
    int n_phones;
    hd_tensor phone_embd;     /* ne {D, V}                              */
    hd_tensor feat_w, feat_b; /* ne {4, D}, {D}                         */
    hd_tensor prev_w, prev_b; /* ne {3, D}, {D}                         */
    hd_tensor tok_w, tok_b;   /* ne {D_llm, D}, {D}                     */
    block_w *blocks;          /* [n_layer]                              */
    hd_tensor out_norm_w, out_norm_b;
    hd_nn_norm_w out_norm;
    hd_tensor out_w, out_b;   /* ne {D, 3}, {3}                         */
};

typedef hd_weights_loader loader;

#define T_VEC (1ull << HD_TYPE_F32)

static void get_norm(loader *L, hd_tensor *t, hd_nn_norm_w *n, float eps, int64_t D, const char *what, int l) {
    char fw[64], fb[64];
    snprintf(fw, sizeof fw, "blk.%%d.%s.weight", what);
    snprintf(fb, sizeof fb, "blk.%%d.%s.bias", what);
    hd_weights_load(L, &t[0], T_VEC, D, 0, fw, l);
    hd_weights_load(L, &t[1], T_VEC, D, 0, fb, l);
    *n = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = &t[0], .b = &t[1], .eps = eps};
}

/* q, k, v, o weights and biases of attention `what` (self, ling, tok) into t[0..8) */
static void get_attn(loader *L, hd_tensor *t, hd_nn_attn_w *a, const hd_prosody_config *c, const char *what, int l) {
    const int64_t D = c->n_embd;
    static const char *const part[4] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++) {
        char fw[64], fb[64];
        snprintf(fw, sizeof fw, "blk.%%d.%s_%s.weight", what, part[i]);
        snprintf(fb, sizeof fb, "blk.%%d.%s_%s.bias", what, part[i]);
        hd_weights_load(L, &t[2 * i], HD_TYPES_ANY, D, D, fw, l);   /* [D, D] */
        hd_weights_load(L, &t[2 * i + 1], T_VEC, D, 0, fb, l);      /* [D] */
    }
    *a = (hd_nn_attn_w){.wq = &t[0], .bq = &t[1], .wk = &t[2], .bk = &t[3], .wv = &t[4], .bv = &t[5], .wo = &t[6],
                        .bo = &t[7], .n_head = c->n_head, .n_kv_head = c->n_head, .head_dim = c->n_embd / c->n_head};
}

static void get_block(loader *L, block_w *b, const hd_prosody_config *c, int l) {
    const int64_t D = c->n_embd, F = c->n_ff;
    hd_tensor *t = b->t;
    get_norm(L, &t[0], &b->self_norm, c->norm_eps, D, "self_norm", l);
    get_attn(L, &t[2], &b->self, c, "self", l);
    get_norm(L, &t[10], &b->ling_norm, c->norm_eps, D, "ling_norm", l);
    get_attn(L, &t[12], &b->ling, c, "ling", l);
    get_norm(L, &t[20], &b->tok_norm, c->norm_eps, D, "tok_norm", l);
    get_attn(L, &t[22], &b->tok, c, "tok", l);
    get_norm(L, &t[30], &b->ffn_norm, c->norm_eps, D, "ffn_norm", l);
    hd_weights_load(L, &t[32], HD_TYPES_ANY, F, D, "blk.%d.ffn_up.weight", l);     /* [F, D] */
    hd_weights_load(L, &t[33], T_VEC, F, 0, "blk.%d.ffn_up.bias", l);
    hd_weights_load(L, &t[34], HD_TYPES_ANY, D, F, "blk.%d.ffn_down.weight", l);   /* [D, F] */
    hd_weights_load(L, &t[35], T_VEC, D, 0, "blk.%d.ffn_down.bias", l);
    b->ffn = (hd_nn_mlp_w){.up = &t[32], .b_up = &t[33], .down = &t[34], .b_down = &t[35], .act = HD_NN_ACT_GELU_ERF};
}

static hd_status load_phones(hd_prosody_model *m, const hd_gguf *g, hd_error *err) {
    int64_t k = hd_gguf_find_key(g, PHONES_KEY);
    hd_gguf_vtype et;
    uint64_t n = 0;
    if (k < 0 || !hd_gguf_kv_array(g, k, &et, &n) || et != HD_GGUF_STRING || n < 1 || n > 65536)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %s missing or not an array of 1..65536 strings", hd_gguf_name(g),
                            PHONES_KEY);
    m->phones = calloc((size_t)n, sizeof *m->phones);
    if (!m->phones) return hd_error_set(err, HD_ERR_NOMEM, "prosody: out of memory");
    m->n_phones = (int)n;
    for (uint64_t j = 0; j < n; j++) {
        const char *s;
        size_t len;
        if (!hd_gguf_arr_str(g, k, j, &s, &len) || len > 64)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: %s[%llu] is not a phone name of at most 64 bytes",
                                hd_gguf_name(g), PHONES_KEY, (unsigned long long)j);
        if (!(m->phones[j] = malloc(len + 1))) return hd_error_set(err, HD_ERR_NOMEM, "prosody: out of memory");
        memcpy(m->phones[j], s, len);
        m->phones[j][len] = 0;
    }
    return HD_OK;
}

hd_prosody_model *hd_prosody_from_weights(const hd_weights *w, hd_error *err) {
    const hd_gguf *g = hd_weights_gguf(w);
    if (!g) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: a prosody model is stored in GGUF (no metadata found)", hd_weights_name(w));
        return NULL;
    }
    hd_prosody_config c;
    if (config_from_gguf(g, &c, err)) return NULL;
    hd_prosody_model *m = calloc(1, sizeof *m);
    if (m) m->blocks = calloc((size_t)c.n_layer, sizeof *m->blocks);
    if (!m || !m->blocks) {
        hd_prosody_free(m);
        hd_error_set(err, HD_ERR_NOMEM, "prosody: out of memory");
        return NULL;
    }
    m->c = c;
    if (load_phones(m, g, err)) {
        hd_prosody_free(m);
        return NULL;
    }
    const int64_t D = c.n_embd;
    loader L = {.w = w, .err = err, .st = HD_OK};
    hd_weights_load(&L, &m->phone_embd, HD_TYPES_ANY, m->n_phones, D, "phone_embd.weight", 0);   /* [V, D] */
    hd_weights_load(&L, &m->feat_w, HD_TYPES_ANY, D, HD_PROSODY_N_FEAT, "feat_proj.weight", 0);  /* [D, 4] */
    hd_weights_load(&L, &m->feat_b, T_VEC, D, 0, "feat_proj.bias", 0);
    hd_weights_load(&L, &m->prev_w, HD_TYPES_ANY, D, HD_PROSODY_N_OUT, "prev_proj.weight", 0);   /* [D, 3] */
    hd_weights_load(&L, &m->prev_b, T_VEC, D, 0, "prev_proj.bias", 0);
    hd_weights_load(&L, &m->tok_w, HD_TYPES_ANY, D, c.n_llm, "tok_proj.weight", 0);              /* [D, D_llm] */
    hd_weights_load(&L, &m->tok_b, T_VEC, D, 0, "tok_proj.bias", 0);
    for (int l = 0; l < c.n_layer && !L.st; l++) get_block(&L, &m->blocks[l], &c, l);
    hd_weights_load(&L, &m->out_norm_w, T_VEC, D, 0, "output_norm.weight", 0);
    hd_weights_load(&L, &m->out_norm_b, T_VEC, D, 0, "output_norm.bias", 0);
    hd_weights_load(&L, &m->out_w, HD_TYPES_ANY, HD_PROSODY_N_OUT, D, "output.weight", 0);       /* [3, D] */
    hd_weights_load(&L, &m->out_b, T_VEC, HD_PROSODY_N_OUT, 0, "output.bias", 0);
    m->out_norm = (hd_nn_norm_w){.kind = HD_NN_NORM_LAYER, .w = &m->out_norm_w, .b = &m->out_norm_b, .eps = c.norm_eps};
    if (L.st) {
        hd_prosody_free(m);
        return NULL;
    }
    return m;
}

hd_prosody_model *hd_prosody_load(const char *path, hd_error *err) {
    hd_weights *w = hd_weights_open(path, err);
    if (!w) return NULL;
    hd_prosody_model *m = hd_prosody_from_weights(w, err);
    if (!m) {
        hd_weights_close(w);
        return NULL;
    }
    m->owned = w;
    return m;
}

void hd_prosody_free(hd_prosody_model *m) {
    if (!m) return;
    for (int i = 0; m->phones && i < m->n_phones; i++) free(m->phones[i]);
    free(m->phones);
    free(m->blocks);
    hd_weights_close(m->owned);
    free(m);
}

const hd_prosody_config *hd_prosody_config_of(const hd_prosody_model *m) { return &m->c; }
int hd_prosody_n_phones(const hd_prosody_model *m) { return m->n_phones; }

int hd_prosody_phone_id(const hd_prosody_model *m, const char *name) {
    if (!m || !name) return 0;
    for (int i = 1; i < m->n_phones; i++)
        if (strcmp(m->phones[i], name) == 0) return i;
    return 0;
}

/* ---- shared pieces of the forward pass ------------------------------------------ */

static hd_status alloc_act(hd_arena *ar, hd_tensor *t, int64_t ne0, int64_t ne1, hd_error *err) {
    const int64_t ne[2] = {ne0, ne1};
    *t = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne);
    if (!t->data)
        return hd_error_set(err, HD_ERR_NOMEM, "prosody: activation arena exhausted (%lld x %lld floats)",
                            (long long)ne0, (long long)ne1);
    return HD_OK;
}

/* Rows [r0, r0+n) of a {D, S} activation. */
static hd_tensor rows(const hd_tensor *t, int64_t r0, int64_t n) {
    return hd_tensor_2d(HD_TYPE_F32, t->ne[0], n, (float *)t->data + r0 * t->ne[0]);
}

/* x[:, s] += PE(pos0 + s) */
static void add_pe(hd_tensor *x, int64_t pos0) {
    const int64_t D = x->ne[0];
    for (int64_t s = 0; s < x->ne[1]; s++) {
        float *r = (float *)x->data + s * D;
        for (int64_t j = 0; j < D / 2; j++) {
            double a = (double)(pos0 + s) * pow(10000.0, -2.0 * (double)j / (double)D);
            r[2 * j] += (float)sin(a);
            r[2 * j + 1] += (float)cos(a);
        }
    }
}

/* l = E[p] + W_f·f + b_f + PE, or x = E[p] + W_y·y + b_y + PE, for n rows at
 * position pos0: `inp` is {4, n} feats or {3, n} previous outputs. */
static hd_status embed(const hd_prosody_model *m, hd_exec *ex, hd_arena *ar, hd_tensor *out, const int32_t *ids,
                       const hd_tensor *inp, bool feats, int64_t pos0, hd_error *err) {
    const size_t mark = hd_arena_mark(ar);
    const int64_t n = inp->ne[1];
    hd_tensor e;
    hd_status st;
    if ((st = alloc_act(ar, &e, m->c.n_embd, n, err)) || (st = hd_op_get_rows(ex, &e, &m->phone_embd, ids, n, err)) ||
        (st = hd_op_linear(ex, out, feats ? &m->feat_w : &m->prev_w, inp, feats ? &m->feat_b : &m->prev_b, err)) ||
        (st = hd_op_add(ex, out, out, &e, err))) {
        hd_arena_reset(ar, mark);
        return st;
    }
    add_pe(out, pos0);
    hd_arena_reset(ar, mark);
    return HD_OK;
}

/* One block on x {D, S}.  Token attention only for rows [tok_row0, S) (the
 * rows that see at least one token); tok_ctx NULL = none. */
static hd_status block(hd_exec *ex, hd_arena *ar, hd_tensor *x, const block_w *b, const hd_nn_attn_ctx *self_ctx,
                       const hd_nn_attn_ctx *ling_ctx, const hd_nn_attn_ctx *tok_ctx, int64_t tok_row0, hd_error *err) {
    const int64_t D = x->ne[0], S = x->ne[1];
    const size_t mark = hd_arena_mark(ar);
    hd_tensor h, y;
    hd_status st;
    if ((st = alloc_act(ar, &h, D, S, err)) || (st = alloc_act(ar, &y, D, S, err)) ||
        (st = hd_nn_norm(ex, &h, x, &b->self_norm, err)) ||
        (st = hd_nn_attention(ex, ar, &y, &b->self, &h, self_ctx, err)) || (st = hd_op_add(ex, x, x, &y, err)) ||
        (st = hd_nn_norm(ex, &h, x, &b->ling_norm, err)) ||
        (st = hd_nn_attention(ex, ar, &y, &b->ling, &h, ling_ctx, err)) || (st = hd_op_add(ex, x, x, &y, err)))
        goto out;
    if (tok_ctx && tok_row0 < S) {
        hd_tensor xv = rows(x, tok_row0, S - tok_row0), hv = rows(&h, tok_row0, S - tok_row0),
                  yv = rows(&y, tok_row0, S - tok_row0);
        if ((st = hd_nn_norm(ex, &hv, &xv, &b->tok_norm, err)) ||
            (st = hd_nn_attention(ex, ar, &yv, &b->tok, &hv, tok_ctx, err)) || (st = hd_op_add(ex, &xv, &xv, &yv, err)))
            goto out;
    }
    if ((st = hd_nn_norm(ex, &h, x, &b->ffn_norm, err)) || (st = hd_nn_mlp(ex, ar, &y, &b->ffn, &h, err)) ||
        (st = hd_op_add(ex, x, x, &y, err)))
        goto out;
out:
    hd_arena_reset(ar, mark);
    return st;
}

/* out[S][3] = W_o·LN_o(x) + b_o */
static hd_status head(const hd_prosody_model *m, hd_exec *ex, hd_arena *ar, const hd_tensor *x, float *out,
                      hd_error *err) {
    const size_t mark = hd_arena_mark(ar);
    hd_tensor h;
    hd_status st = alloc_act(ar, &h, x->ne[0], x->ne[1], err);
    if (!st) st = hd_nn_norm(ex, &h, x, &m->out_norm, err);
    hd_tensor y = hd_tensor_2d(HD_TYPE_F32, HD_PROSODY_N_OUT, x->ne[1], out);
    if (!st) st = hd_op_linear(ex, &y, &m->out_w, &h, &m->out_b, err);
    hd_arena_reset(ar, mark);
    return st;
}

static size_t arena_bytes(const hd_prosody_model *m, int64_t S, int64_t N, int64_t T) {
    const hd_prosody_config *c = &m->c;
    const int64_t D = c->n_embd, K = N > T ? N : T, big = S > K ? S : K;
    size_t need = 8 * hd_nn_f32_bytes(D * (S > N ? S : N)) + hd_nn_f32_bytes(D * T) + hd_nn_f32_bytes(N * S) +
                  hd_nn_f32_bytes(T * S) + hd_nn_f32_bytes(4 * S) + hd_nn_f32_bytes(c->n_llm * 1);
    size_t at = hd_nn_attention_scratch_bytes(&m->blocks[0].self, big);
    size_t ff = hd_nn_mlp_scratch_bytes(&m->blocks[0].ffn, S);
    return need + (at > ff ? at : ff) + 2 * hd_nn_f32_bytes(D * big) + (64 << 10);
}

static hd_status check_input(const hd_prosody_model *m, const hd_prosody_input *in, hd_error *err) {
    if (!in || in->n_phones < 1 || !in->phone_ids || !in->feats || !in->phone_chunk)
        return hd_error_set(err, HD_ERR_ARG, "prosody: no phones");
    if (in->n_tokens < 0 || (in->n_tokens > 0 && (!in->tok_emb || !in->tok_chunk)))
        return hd_error_set(err, HD_ERR_ARG, "prosody: tokens without embeddings or chunks");
    for (int i = 0; i < in->n_phones; i++) {
        if (in->phone_ids[i] < 0 || in->phone_ids[i] >= m->n_phones)
            return hd_error_set(err, HD_ERR_ARG, "prosody: phone %d has id %d outside 0..%d", i, in->phone_ids[i],
                                m->n_phones - 1);
        if (i && in->phone_chunk[i] < in->phone_chunk[i - 1])
            return hd_error_set(err, HD_ERR_ARG, "prosody: phone chunks decrease at phone %d", i);
    }
    for (int t = 1; t < in->n_tokens; t++)
        if (in->tok_chunk[t] < in->tok_chunk[t - 1])
            return hd_error_set(err, HD_ERR_ARG, "prosody: token chunks decrease at token %d", t);
    return HD_OK;
}

/* Tokens visible to phone i of n: chunk ≤ chunk of phone min(i+L, n-1). */
static int64_t visible_tokens(const int32_t *phone_chunk, int64_t n, int L, int64_t i, const int32_t *tok_chunk,
                              int64_t T) {
    int64_t j = i + L < n - 1 ? i + L : n - 1;
    int32_t c = phone_chunk[j];
    int64_t k = 0;
    while (k < T && tok_chunk[k] <= c) k++;
    return k;
}

/* ---- whole-utterance forward ---------------------------------------------------- */

hd_status hd_prosody_forward(const hd_prosody_model *m, hd_exec *ex, const hd_prosody_input *in,
                             const float *y_prev, float *out, hd_error *err) {
    hd_status st = check_input(m, in, err);
    if (st) return st;
    if (!y_prev || !out) return hd_error_set(err, HD_ERR_ARG, "prosody: no decoder inputs or output buffer");
    const hd_prosody_config *c = &m->c;
    const int64_t N = in->n_phones, T = in->n_tokens, D = c->n_embd;
    hd_exec local = {.backend = HD_BACKEND_CPU};
    if (!ex) ex = &local;
    hd_arena *ar = hd_arena_create(arena_bytes(m, N, N, T) + hd_nn_f32_bytes(3 * N) + hd_nn_f32_bytes(c->n_llm * T), err);
    if (!ar) return err ? err->code : HD_ERR_NOMEM;
    hd_tensor l, x, mem, yp, mask_l, mask_t;
    const int L = c->lookahead;
    /* rows of phones that see no token come first (visibility grows with i) */
    int64_t r0 = N;
    for (int64_t i = 0; i < N && T > 0; i++)
        if (visible_tokens(in->phone_chunk, N, L, i, in->tok_chunk, T) > 0) {
            r0 = i;
            break;
        }
    if ((st = alloc_act(ar, &l, D, N, err)) || (st = alloc_act(ar, &x, D, N, err)) ||
        (st = alloc_act(ar, &yp, HD_PROSODY_N_OUT, N, err)) || (st = alloc_act(ar, &mask_l, N, N, err)))
        goto out;
    const hd_tensor feats = hd_tensor_2d(HD_TYPE_F32, HD_PROSODY_N_FEAT, N, (void *)in->feats);
    memcpy(yp.data, y_prev, (size_t)N * HD_PROSODY_N_OUT * sizeof(float));
    memset(yp.data, 0, HD_PROSODY_N_OUT * sizeof(float));   /* y_{-1} = 0 */
    if ((st = embed(m, ex, ar, &l, in->phone_ids, &feats, true, 0, err)) ||
        (st = embed(m, ex, ar, &x, in->phone_ids, &yp, false, 0, err)))
        goto out;
    /* linguistic mask: phone i sees phones j ≤ i + L */
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) ((float *)mask_l.data)[i * N + j] = j <= i + L ? 0.0f : -INFINITY;
    hd_nn_attn_ctx self_ctx = {.causal = true};
    hd_nn_attn_ctx ling_ctx = {.kv_input = &l, .mask = &mask_l};
    hd_nn_attn_ctx tok_ctx = {0};
    if (r0 < N) {
        if ((st = alloc_act(ar, &mem, D, T, err)) || (st = alloc_act(ar, &mask_t, T, N - r0, err))) goto out;
        const hd_tensor e = hd_tensor_2d(HD_TYPE_F32, c->n_llm, T, (void *)in->tok_emb);
        if ((st = hd_op_linear(ex, &mem, &m->tok_w, &e, &m->tok_b, err))) goto out;
        for (int64_t i = r0; i < N; i++) {
            int64_t v = visible_tokens(in->phone_chunk, N, L, i, in->tok_chunk, T);
            for (int64_t t = 0; t < T; t++) ((float *)mask_t.data)[(i - r0) * T + t] = t < v ? 0.0f : -INFINITY;
        }
        tok_ctx = (hd_nn_attn_ctx){.kv_input = &mem, .mask = &mask_t};
    }
    for (int b = 0; b < c->n_layer; b++)
        if ((st = block(ex, ar, &x, &m->blocks[b], &self_ctx, &ling_ctx, r0 < N ? &tok_ctx : NULL, r0, err))) goto out;
    st = head(m, ex, ar, &x, out, err);
out:
    hd_arena_free(ar);
    return st;
}

/* ---- streaming ------------------------------------------------------------------- */

typedef struct layer_cache {
    hd_tensor self_k, self_v;   /* ne {d, H, max_phones} */
    hd_tensor ling_k, ling_v;   /* ne {d, H, max_phones} */
    hd_tensor tok_k, tok_v;     /* ne {d, H, max_tokens} */
} layer_cache;

struct hd_prosody_stream {
    const hd_prosody_model *m;
    int max_phones, max_tokens;
    int n_phones, n_tokens, n_out;
    bool ended;
    int32_t *ids, *chunk, *tok_chunk;
    float *prev;                /* [3] the last output */
    layer_cache *lc;            /* [n_layer] */
    float *cache_data;
    hd_arena *ar;
};

void hd_prosody_stream_free(hd_prosody_stream *s) {
    if (!s) return;
    free(s->ids);
    free(s->chunk);
    free(s->tok_chunk);
    free(s->prev);
    free(s->lc);
    free(s->cache_data);
    hd_arena_free(s->ar);
    free(s);
}

hd_prosody_stream *hd_prosody_stream_create(const hd_prosody_model *m, int max_phones, int max_tokens,
                                            hd_error *err) {
    if (!m || max_phones < 1 || max_phones > (1 << 20) || max_tokens < 0 || max_tokens > (1 << 20)) {
        hd_error_set(err, HD_ERR_ARG, "prosody stream: capacities %d phones, %d tokens out of range", max_phones,
                     max_tokens);
        return NULL;
    }
    const hd_prosody_config *c = &m->c;
    const int64_t D = c->n_embd, H = c->n_head, d = D / H, nl = c->n_layer;
    hd_prosody_stream *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->max_phones = max_phones, s->max_tokens = max_tokens;
    s->ids = malloc((size_t)max_phones * sizeof *s->ids);
    s->chunk = malloc((size_t)max_phones * sizeof *s->chunk);
    s->tok_chunk = malloc(((size_t)max_tokens + 1) * sizeof *s->tok_chunk);
    s->prev = calloc(HD_PROSODY_N_OUT, sizeof *s->prev);
    s->lc = calloc((size_t)nl, sizeof *s->lc);
    const size_t per_layer = (size_t)(D * (4 * (int64_t)max_phones + 2 * (int64_t)max_tokens));
    s->cache_data = malloc((size_t)nl * per_layer * sizeof(float) + sizeof(float));
    if (!s->ids || !s->chunk || !s->tok_chunk || !s->prev || !s->lc || !s->cache_data) goto oom;
    for (int64_t l = 0; l < nl; l++) {
        float *p = s->cache_data + l * per_layer;
        layer_cache *lc = &s->lc[l];
        lc->self_k = hd_tensor_3d(HD_TYPE_F32, d, H, max_phones, p), p += D * max_phones;
        lc->self_v = hd_tensor_3d(HD_TYPE_F32, d, H, max_phones, p), p += D * max_phones;
        lc->ling_k = hd_tensor_3d(HD_TYPE_F32, d, H, max_phones, p), p += D * max_phones;
        lc->ling_v = hd_tensor_3d(HD_TYPE_F32, d, H, max_phones, p), p += D * max_phones;
        lc->tok_k = hd_tensor_3d(HD_TYPE_F32, d, H, max_tokens > 0 ? max_tokens : 1, p), p += D * max_tokens;
        lc->tok_v = hd_tensor_3d(HD_TYPE_F32, d, H, max_tokens > 0 ? max_tokens : 1, p);
    }
    if (!(s->ar = hd_arena_create(arena_bytes(m, 1, max_phones, max_tokens), err))) {
        hd_prosody_stream_free(s);
        return NULL;
    }
    return s;
oom:
    hd_prosody_stream_free(s);
    hd_error_set(err, HD_ERR_NOMEM, "prosody stream: out of memory");
    return NULL;
}

/* Row r of a {d, H, T} cache as a {d, H, n} view. */
static hd_tensor cache_rows(const hd_tensor *c, int64_t r, int64_t n) {
    return hd_tensor_3d(HD_TYPE_F32, c->ne[0], c->ne[1], n, (float *)c->data + r * c->ne[0] * c->ne[1]);
}

hd_status hd_prosody_stream_add_phone(hd_prosody_stream *s, int32_t phone_id, const float feats[4], int32_t chunk,
                                      hd_error *err) {
    if (!s || !feats) return hd_error_set(err, HD_ERR_ARG, "prosody stream: bad arguments");
    if (s->ended) return hd_error_set(err, HD_ERR_ARG, "prosody stream: phone added after the end");
    if (s->n_phones >= s->max_phones)
        return hd_error_set(err, HD_ERR_ARG, "prosody stream: more than %d phones", s->max_phones);
    if (phone_id < 0 || phone_id >= s->m->n_phones)
        return hd_error_set(err, HD_ERR_ARG, "prosody stream: phone id %d outside 0..%d", phone_id, s->m->n_phones - 1);
    if (s->n_phones && chunk < s->chunk[s->n_phones - 1])
        return hd_error_set(err, HD_ERR_ARG, "prosody stream: phone chunk %d after chunk %d", chunk,
                            s->chunk[s->n_phones - 1]);
    const hd_prosody_model *m = s->m;
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    const size_t mark = hd_arena_mark(s->ar);
    hd_tensor l;
    const hd_tensor f = hd_tensor_2d(HD_TYPE_F32, HD_PROSODY_N_FEAT, 1, (void *)feats);
    hd_status st = alloc_act(s->ar, &l, m->c.n_embd, 1, err);
    if (!st) st = embed(m, &ex, s->ar, &l, &phone_id, &f, true, s->n_phones, err);
    for (int b = 0; !st && b < m->c.n_layer; b++) {
        hd_tensor k = cache_rows(&s->lc[b].ling_k, s->n_phones, 1), v = cache_rows(&s->lc[b].ling_v, s->n_phones, 1);
        st = hd_nn_attention_kv(&ex, s->ar, &m->blocks[b].ling, &l, &k, &v, err);
    }
    hd_arena_reset(s->ar, mark);
    if (st) return st;
    s->ids[s->n_phones] = phone_id;
    s->chunk[s->n_phones] = chunk;
    s->n_phones++;
    return HD_OK;
}

hd_status hd_prosody_stream_add_tokens(hd_prosody_stream *s, int n, const float *emb, const int32_t *chunks,
                                       hd_error *err) {
    if (!s || n < 0 || (n > 0 && (!emb || !chunks))) return hd_error_set(err, HD_ERR_ARG, "prosody stream: bad arguments");
    if (s->n_tokens + n > s->max_tokens)
        return hd_error_set(err, HD_ERR_ARG, "prosody stream: more than %d tokens", s->max_tokens);
    for (int i = 0; i < n; i++) {
        int32_t prev = i ? chunks[i - 1] : s->n_tokens ? s->tok_chunk[s->n_tokens - 1] : INT32_MIN;
        if (chunks[i] < prev) return hd_error_set(err, HD_ERR_ARG, "prosody stream: token chunks decrease");
    }
    if (n == 0) return HD_OK;
    const hd_prosody_model *m = s->m;
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    hd_status st = HD_OK;
    /* one token at a time: the stream's arena is sized for single rows */
    for (int i = 0; i < n && !st; i++) {
        const size_t mark = hd_arena_mark(s->ar);
        hd_tensor mem;
        const hd_tensor e = hd_tensor_2d(HD_TYPE_F32, m->c.n_llm, 1, (void *)(emb + (size_t)i * m->c.n_llm));
        st = alloc_act(s->ar, &mem, m->c.n_embd, 1, err);
        if (!st) st = hd_op_linear(&ex, &mem, &m->tok_w, &e, &m->tok_b, err);
        for (int b = 0; !st && b < m->c.n_layer; b++) {
            hd_tensor k = cache_rows(&s->lc[b].tok_k, s->n_tokens, 1), v = cache_rows(&s->lc[b].tok_v, s->n_tokens, 1);
            st = hd_nn_attention_kv(&ex, s->ar, &m->blocks[b].tok, &mem, &k, &v, err);
        }
        hd_arena_reset(s->ar, mark);
        if (!st) s->tok_chunk[s->n_tokens++] = chunks[i];
    }
    return st;
}

void hd_prosody_stream_end(hd_prosody_stream *s) {
    if (s) s->ended = true;
}

int hd_prosody_stream_step(hd_prosody_stream *s, hd_exec *ex, float out[3], int *index, hd_error *err) {
    if (!s || !out) return hd_error_set(err, HD_ERR_ARG, "prosody stream: bad arguments"), -1;
    const hd_prosody_model *m = s->m;
    const int L = m->c.lookahead, i = s->n_out;
    if (i >= s->n_phones) return 0;
    if (!s->ended && s->n_phones < i + L + 1) return 0;   /* lookahead not there yet */
    hd_exec local = {.backend = HD_BACKEND_CPU};
    if (!ex) ex = &local;
    const int64_t n_ling = i + L + 1 < s->n_phones ? i + L + 1 : s->n_phones;
    const int64_t n_tok = visible_tokens(s->chunk, s->n_phones, L, i, s->tok_chunk, s->n_tokens);
    hd_arena_reset(s->ar, 0);
    hd_tensor x;
    const hd_tensor yp = hd_tensor_2d(HD_TYPE_F32, HD_PROSODY_N_OUT, 1, s->prev);
    hd_status st = alloc_act(s->ar, &x, m->c.n_embd, 1, err);
    if (!st) st = embed(m, ex, s->ar, &x, &s->ids[i], &yp, false, i, err);
    for (int b = 0; !st && b < m->c.n_layer; b++) {
        const layer_cache *lc = &s->lc[b];
        hd_nn_attn_ctx self_ctx = {.k_cache = &lc->self_k, .v_cache = &lc->self_v, .n_past = i, .causal = true};
        hd_nn_attn_ctx ling_ctx = {.k_cache = &lc->ling_k, .v_cache = &lc->ling_v, .n_past = n_ling, .kv_cached = true};
        hd_nn_attn_ctx tok_ctx = {.k_cache = &lc->tok_k, .v_cache = &lc->tok_v, .n_past = n_tok, .kv_cached = true};
        st = block(ex, s->ar, &x, &m->blocks[b], &self_ctx, &ling_ctx, n_tok > 0 ? &tok_ctx : NULL, 0, err);
    }
    float y[HD_PROSODY_N_OUT];
    if (!st) st = head(m, ex, s->ar, &x, y, err);
    if (st) return -1;
    memcpy(out, y, sizeof y);
    memcpy(s->prev, y, sizeof y);
    if (index) *index = i;
    s->n_out++;
    return 1;
}

hd_status hd_prosody_predict(const hd_prosody_model *m, hd_exec *ex, const hd_prosody_input *in, float *out,
                             hd_error *err) {
    hd_status st = check_input(m, in, err);
    if (st) return st;
    if (!out) return hd_error_set(err, HD_ERR_ARG, "prosody: no output buffer");
    hd_prosody_stream *s = hd_prosody_stream_create(m, in->n_phones, in->n_tokens, err);
    if (!s) return err ? err->code : HD_ERR_NOMEM;
    if (in->n_tokens) st = hd_prosody_stream_add_tokens(s, in->n_tokens, in->tok_emb, in->tok_chunk, err);
    for (int i = 0; i < in->n_phones && !st; i++)
        st = hd_prosody_stream_add_phone(s, in->phone_ids[i], in->feats + (size_t)i * HD_PROSODY_N_FEAT,
                                         in->phone_chunk[i], err);
    hd_prosody_stream_end(s);
    for (int done = 0; !st && done < in->n_phones;) {
        int idx = 0;
        int r = hd_prosody_stream_step(s, ex, out + (size_t)done * HD_PROSODY_N_OUT, &idx, err);
        if (r < 0) st = err ? err->code : HD_ERR_INTERNAL;
        else if (r == 0) st = hd_error_set(err, HD_ERR_INTERNAL, "prosody: stream stalled at phone %d", done);
        else done++;
    }
    hd_prosody_stream_free(s);
    return st;
}
