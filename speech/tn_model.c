/* speech/tn_model.c — TN tokens, tag-driven normalisation and the streaming
 * LSTM tagger (see tn_model.h). */
#include "tn_model.h"

#include "tn.h"

#include "core/nn.h"
#include "core/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "lm/llama_config.h"

/* ---- tokens ---------------------------------------------------------------- */

static hd_tn_cat cat_of(unsigned char c) {
    if (c >= '0' && c <= '9') return HD_TN_CAT_DIGITS;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return HD_TN_CAT_LETTERS;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return HD_TN_CAT_SPACE;
    return HD_TN_CAT_OTHER;
}

hd_status hd_tn_tokenize(const char *text, size_t len, hd_tn_token **tokens, int *n, hd_error *err) {
    *tokens = NULL;
    *n = 0;
    if (!text && len) return hd_error_set(err, HD_ERR_ARG, "tn tokenize: NULL text");
    if (len > (size_t)1 << 30) return hd_error_set(err, HD_ERR_ARG, "tn tokenize: text of %zu bytes is too long", len);
    hd_tn_token *t = malloc((len + 1) * sizeof *t);
    if (!t) return hd_error_set(err, HD_ERR_NOMEM, "tn tokenize: out of memory");
    int k = 0;
    int32_t chunk = 0;
    for (size_t i = 0; i < len;) {
        hd_tn_cat c = cat_of((unsigned char)text[i]);
        size_t j = i + 1;
        if (c == HD_TN_CAT_OTHER) {
            /* one character (a whole UTF-8 sequence would be LETTERS) */
        } else {
            while (j < len && cat_of((unsigned char)text[j]) == c) j++;
        }
        if (c == HD_TN_CAT_SPACE) chunk++;
        t[k++] = (hd_tn_token){.start = i, .len = j - i, .cat = c, .chunk = chunk};
        i = j;
    }
    *tokens = t;
    *n = k;
    return HD_OK;
}

const char *hd_tn_tag_name(hd_tn_tag t) {
    static const char *const names[] = {"self", "cardinal", "digits", "year", "ordinal", "letters", "verbatim", "silent"};
    return t >= 0 && t < HD_TN_N_TAGS ? names[t] : "?";
}

/* ---- tag-driven normalisation ---------------------------------------------------- */

typedef hd_strbuf sbuf;

static void sput(sbuf *o, const char *s, size_t n) { hd_strbuf_put(o, s, n); }

static bool apply_tag(sbuf *o, const char *s, size_t len, hd_tn_cat cat, hd_tn_tag tag) {
    char w[512];
    if (tag == HD_TN_VERBATIM) {
        sput(o, s, len);
        return true;
    }
    if (tag == HD_TN_SILENT) return cat == HD_TN_CAT_OTHER;
    if (tag == HD_TN_LETTERS) {
        if (cat != HD_TN_CAT_LETTERS) return false;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            if (i && (c & 0xc0) != 0x80) sput(o, " ", 1);
            char u = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
            sput(o, &u, 1);
        }
        return true;
    }
    if (cat != HD_TN_CAT_DIGITS) return false;
    if (tag == HD_TN_DIGITS || len > 15) {
        static const char *const d[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
        for (size_t i = 0; i < len; i++) {
            if (i) sput(o, " ", 1);
            sput(o, d[s[i] - '0'], strlen(d[s[i] - '0']));
        }
        return true;
    }
    long long v = 0;
    for (size_t i = 0; i < len; i++) v = v * 10 + (s[i] - '0');
    const char *r = NULL;
    if (tag == HD_TN_YEAR && len == 4 && v >= 1000 && v <= 2099) r = hd_tn_year((int)v, w, sizeof w);
    else if (tag == HD_TN_ORDINAL && v > 0) r = hd_tn_ordinal(v, w, sizeof w);
    else r = hd_tn_cardinal(v, w, sizeof w);   /* CARDINAL, or YEAR/ORDINAL that cannot apply */
    if (!r) return false;
    sput(o, r, strlen(r));
    return true;
}

char *hd_tn_normalize_tagged(const char *text, size_t len, const hd_tn_token *tokens, int n, const uint8_t *tags,
                             hd_error *err) {
    if ((!text && len) || n < 0 || (n && (!tokens || !tags))) {
        hd_error_set(err, HD_ERR_ARG, "tn: bad tagged input");
        return NULL;
    }
    sbuf o = {0};
    sput(&o, "", 0);
    size_t self_from = 0;   /* start of the pending run of SELF text */
    for (int i = 0; i < n && !o.oom; i++) {
        const hd_tn_token *t = &tokens[i];
        if (t->start + t->len > len || t->start < self_from) {
            free(o.p);
            hd_error_set(err, HD_ERR_ARG, "tn: token %d lies outside the text or out of order", i);
            return NULL;
        }
        hd_tn_tag tag = tags[i] < HD_TN_N_TAGS ? (hd_tn_tag)tags[i] : HD_TN_SELF;
        if (tag == HD_TN_SELF) continue;
        /* flush the SELF run before the token through the rule-based normaliser */
        size_t mark = o.n;
        if (t->start > self_from) {
            char *s = hd_tn_normalize(text + self_from, t->start - self_from, err);
            if (!s) return free(o.p), NULL;
            sput(&o, s, strlen(s));
            free(s);
        }
        if (apply_tag(&o, text + t->start, t->len, t->cat, tag)) {
            self_from = t->start + t->len;
        } else {
            o.n = mark;   /* the tag does not fit: the token joins the SELF run */
            if (o.p) o.p[o.n] = 0;
        }
    }
    if (!o.oom && self_from < len) {
        char *s = hd_tn_normalize(text + self_from, len - self_from, err);
        if (!s) return free(o.p), NULL;
        sput(&o, s, strlen(s));
        free(s);
    }
    if (o.oom) {
        free(o.p);
        hd_error_set(err, HD_ERR_NOMEM, "tn: out of memory");
        return NULL;
    }
    return o.p;
}

/* ---- configuration ---------------------------------------------------------------- */

static const struct {
    const char *key;
    size_t off;
} k_keys[] = {
    {"tn.hash_buckets", offsetof(hd_tn_config, n_bucket)},
    {"tn.embedding_length", offsetof(hd_tn_config, n_embd)},
    {"tn.hidden_size", offsetof(hd_tn_config, n_hidden)},
    {"tn.block_count", offsetof(hd_tn_config, n_layer)},
    {"tn.attention.head_count", offsetof(hd_tn_config, n_head)},
    {"tn.token_embedding_length", offsetof(hd_tn_config, n_llm)},
    {"tn.lookahead_tokens", offsetof(hd_tn_config, lookahead)},
    {"tn.tag_count", offsetof(hd_tn_config, n_tags)},
};

#define LAYER_KEY "tn.token_layer"

/* "BASE+LLAMA": BASE's sizes, the LM width and middle layer of Llama preset LLAMA. */
static bool preset_for_lm(const char *name, hd_tn_config *c) {
    const char *plus = strchr(name, '+');
    char base[16];
    hd_llama_config lc;
    if ((size_t)(plus - name) >= sizeof base || !hd_llama_config_preset(plus + 1, &lc)) return false;
    memcpy(base, name, (size_t)(plus - name));
    base[plus - name] = 0;
    if (strchr(base, '+') || !hd_tn_preset(base, c)) return false;
    c->n_llm = lc.n_embd;
    c->token_layer = lc.n_layer / 2 > 0 ? lc.n_layer / 2 : 1;
    return true;
}

bool hd_tn_preset(const char *name, hd_tn_config *c) {
    if (!name || !c) return false;
    if (strchr(name, '+')) return preset_for_lm(name, c);
    if (strcmp(name, "tiny") == 0) {
        *c = (hd_tn_config){.n_bucket = 512, .n_embd = 16, .n_hidden = 24, .n_layer = 1, .n_head = 2, .n_llm = 32,
                            .lookahead = 3, .n_tags = HD_TN_N_TAGS};
        return true;
    }
    if (strcmp(name, "base") == 0) {
        *c = (hd_tn_config){.n_bucket = 32768, .n_embd = 128, .n_hidden = 256, .n_layer = 2, .n_head = 4,
                            .n_llm = 4096, .lookahead = 3, .n_tags = HD_TN_N_TAGS};
        return true;
    }
    return false;
}

static hd_status config_check(const hd_tn_config *c, const char *file, hd_error *err) {
    if (c->n_bucket < 2 || c->n_bucket > 1 << 24 || c->n_embd < 1 || c->n_embd > 1 << 16 || c->n_hidden < 1 ||
        c->n_hidden > 1 << 16 || c->n_layer < 1 || c->n_layer > 64 || c->n_head < 1 || c->n_hidden % c->n_head ||
        c->n_llm < 1 || c->n_llm > 1 << 20 || c->lookahead < 0 || c->lookahead > 64 || c->n_tags != HD_TN_N_TAGS)
        return hd_error_set(err, HD_ERR_FORMAT,
                            "%s: bad TN model sizes (buckets %d, embedding %d, hidden %d, layers %d, heads %d, "
                            "LM width %d, lookahead %d, tags %d; %d tags expected)",
                            file, c->n_bucket, c->n_embd, c->n_hidden, c->n_layer, c->n_head, c->n_llm, c->lookahead,
                            c->n_tags, HD_TN_N_TAGS);
    return HD_OK;
}

hd_status hd_tn_config_to_gguf(const hd_tn_config *c, hd_gguf_writer *w, hd_error *err) {
    for (size_t i = 0; i < sizeof k_keys / sizeof k_keys[0]; i++)
        if (hd_gguf_set_u32(w, k_keys[i].key, (uint32_t) * (const int *)((const char *)c + k_keys[i].off)) != HD_OK)
            return hd_error_set(err, HD_ERR_NOMEM, "tn: out of memory writing metadata");
    if (c->token_layer > 0 && hd_gguf_set_u32(w, LAYER_KEY, (uint32_t)c->token_layer) != HD_OK)
        return hd_error_set(err, HD_ERR_NOMEM, "tn: out of memory writing metadata");
    return HD_OK;
}

/* ---- weights ------------------------------------------------------------------------ */

typedef struct lstm_w {
    hd_tensor w_ih, w_hh, b_ih, b_hh;   /* ne {in, 4H}, {H, 4H}, {4H}, {4H} */
} lstm_w;

struct hd_tn_model {
    hd_tn_config c;
    hd_weights *owned;
    hd_tensor tok_embd, cat_embd;   /* ne {E, B}, {E, 4} */
    lstm_w *lstm;                   /* [n_layer] */
    hd_tensor t_attn[8];
    hd_nn_attn_w attn;
    hd_tensor out_w, out_b;         /* ne {H, n_tags}, {n_tags} */
};

#define T_VEC (1ull << HD_TYPE_F32)

typedef hd_weights_loader loader;

hd_tn_model *hd_tn_model_from_weights(const hd_weights *w, hd_error *err) {
    const hd_gguf *g = hd_weights_gguf(w);
    if (!g) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: a TN model is stored in GGUF (no metadata found)", hd_weights_name(w));
        return NULL;
    }
    hd_tn_config c;
    for (size_t i = 0; i < sizeof k_keys / sizeof k_keys[0]; i++) {
        uint32_t v;
        if (!hd_gguf_get_u32(g, k_keys[i].key, &v) || v > (1u << 24)) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: key %s missing or not a small u32", hd_gguf_name(g), k_keys[i].key);
            return NULL;
        }
        *(int *)((char *)&c + k_keys[i].off) = (int)v;
    }
    uint32_t tl = 0;
    if (hd_gguf_find_key(g, LAYER_KEY) >= 0 && (!hd_gguf_get_u32(g, LAYER_KEY, &tl) || tl > 1024)) {
        hd_error_set(err, HD_ERR_FORMAT, "%s: %s is not a u32 in 0..1024", hd_gguf_name(g), LAYER_KEY);
        return NULL;
    }
    c.token_layer = (int)tl;
    if (config_check(&c, hd_gguf_name(g), err)) return NULL;
    hd_tn_model *m = calloc(1, sizeof *m);
    if (m) m->lstm = calloc((size_t)c.n_layer, sizeof *m->lstm);
    if (!m || !m->lstm) {
        hd_tn_model_free(m);
        hd_error_set(err, HD_ERR_NOMEM, "tn: out of memory");
        return NULL;
    }
    m->c = c;
    const int64_t H = c.n_hidden;
    loader L = {.w = w, .err = err, .st = HD_OK};
    hd_weights_load(&L, &m->tok_embd, HD_TYPES_ANY, c.n_bucket, c.n_embd, "tok_embd.weight", 0);   /* [B, E] */
    hd_weights_load(&L, &m->cat_embd, HD_TYPES_ANY, 4, c.n_embd, "cat_embd.weight", 0);            /* [4, E] */
    for (int l = 0; l < c.n_layer; l++) {
        int64_t in = l ? H : c.n_embd;
        hd_weights_load(&L, &m->lstm[l].w_ih, HD_TYPES_ANY, 4 * H, in, "lstm.%d.weight_ih", l);   /* [4H, in] */
        hd_weights_load(&L, &m->lstm[l].w_hh, HD_TYPES_ANY, 4 * H, H, "lstm.%d.weight_hh", l);    /* [4H, H] */
        hd_weights_load(&L, &m->lstm[l].b_ih, T_VEC, 4 * H, 0, "lstm.%d.bias_ih", l);
        hd_weights_load(&L, &m->lstm[l].b_hh, T_VEC, 4 * H, 0, "lstm.%d.bias_hh", l);
    }
    static const char *const part[4] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++) {
        char fw[32], fb[32];
        snprintf(fw, sizeof fw, "attn_%s.weight", part[i]);
        snprintf(fb, sizeof fb, "attn_%s.bias", part[i]);
        int64_t in = (i == 1 || i == 2) ? c.n_llm : H;
        hd_weights_load(&L, &m->t_attn[2 * i], HD_TYPES_ANY, H, in, fw, 0);   /* [H, in] */
        hd_weights_load(&L, &m->t_attn[2 * i + 1], T_VEC, H, 0, fb, 0);
    }
    hd_weights_load(&L, &m->out_w, HD_TYPES_ANY, c.n_tags, H, "output.weight", 0);   /* [n_tags, H] */
    hd_weights_load(&L, &m->out_b, T_VEC, c.n_tags, 0, "output.bias", 0);
    if (L.st) {
        hd_tn_model_free(m);
        return NULL;
    }
    m->attn = (hd_nn_attn_w){.wq = &m->t_attn[0], .bq = &m->t_attn[1], .wk = &m->t_attn[2], .bk = &m->t_attn[3],
                             .wv = &m->t_attn[4], .bv = &m->t_attn[5], .wo = &m->t_attn[6], .bo = &m->t_attn[7],
                             .n_head = c.n_head, .n_kv_head = c.n_head, .head_dim = c.n_hidden / c.n_head};
    return m;
}

hd_tn_model *hd_tn_model_load(const char *path, hd_error *err) {
    hd_weights *w = hd_weights_open(path, err);
    if (!w) return NULL;
    hd_tn_model *m = hd_tn_model_from_weights(w, err);
    if (!m) {
        hd_weights_close(w);
        return NULL;
    }
    m->owned = w;
    return m;
}

void hd_tn_model_free(hd_tn_model *m) {
    if (!m) return;
    free(m->lstm);
    hd_weights_close(m->owned);
    free(m);
}

const hd_tn_config *hd_tn_model_config(const hd_tn_model *m) { return &m->c; }

int32_t hd_tn_bucket(const hd_tn_model *m, const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return 1 + (int32_t)(h % (uint32_t)(m->c.n_bucket - 1));
}

/* ---- the recurrence ----------------------------------------------------------------- */

static float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One LSTM cell update from precomputed gate pre-activations g[4H] (input
 * part, biases included) plus W_hh·h; h, c updated in place. */
static hd_status cell(const hd_tn_model *m, hd_exec *ex, const lstm_w *lw, const float *gin, float *h, float *c,
                      float *tmp, hd_error *err) {
    const int64_t H = m->c.n_hidden;
    hd_tensor hv = hd_tensor_2d(HD_TYPE_F32, H, 1, h), gv = hd_tensor_2d(HD_TYPE_F32, 4 * H, 1, tmp);
    hd_status st = hd_op_linear(ex, &gv, &lw->w_hh, &hv, &lw->b_hh, err);
    if (st) return st;
    for (int64_t j = 0; j < H; j++) {
        float gi = sigm(gin[j] + tmp[j]), gf = sigm(gin[H + j] + tmp[H + j]);
        float gg = tanhf(gin[2 * H + j] + tmp[2 * H + j]), go = sigm(gin[3 * H + j] + tmp[3 * H + j]);
        c[j] = gf * c[j] + gi * gg;
        h[j] = go * tanhf(c[j]);
    }
    return HD_OK;
}

/* x = E[b] + C[cat] into out[E] */
static hd_status embed_token(const hd_tn_model *m, hd_exec *ex, int32_t b, int32_t cat, float *out, float *tmp,
                             hd_error *err) {
    const int64_t E = m->c.n_embd;
    hd_tensor o = hd_tensor_2d(HD_TYPE_F32, E, 1, out), t = hd_tensor_2d(HD_TYPE_F32, E, 1, tmp);
    hd_status st = hd_op_get_rows(ex, &o, &m->tok_embd, &b, 1, err);
    if (!st) st = hd_op_get_rows(ex, &t, &m->cat_embd, &cat, 1, err);
    if (!st) st = hd_op_add(ex, &o, &o, &t, err);
    return st;
}

/* Visible Llama tokens for the step whose newest text token has chunk c. */
static int64_t visible(const int32_t *llm_chunks, int64_t T, int32_t c) {
    int64_t k = 0;
    while (k < T && llm_chunks[k] <= c) k++;
    return k;
}

/* ---- streaming ------------------------------------------------------------------------ */

struct hd_tn_stream {
    const hd_tn_model *m;
    float *h, *c;            /* [n_layer][H] */
    float *x, *gin, *tmp;    /* scratch: [max(E, H)], [4H], [4H] */
    float *tops;             /* [cap][H]: the top layer's h of every step */
    int32_t *chunks;         /* [cap] chunk of each real token */
    int n_tokens, n_steps, n_out, cap;
    bool ended;
    int max_llm, n_llm;
    int32_t *llm_chunks;
    hd_tensor k_cache, v_cache;   /* ne {d, heads, max_llm} */
    float *kv;
    hd_arena *ar;
};

void hd_tn_stream_free(hd_tn_stream *s) {
    if (!s) return;
    free(s->h), free(s->c), free(s->x), free(s->gin), free(s->tmp), free(s->tops), free(s->chunks);
    free(s->llm_chunks), free(s->kv);
    hd_arena_free(s->ar);
    free(s);
}

hd_tn_stream *hd_tn_stream_create(const hd_tn_model *m, int max_llm_tokens, hd_error *err) {
    if (!m || max_llm_tokens < 0 || max_llm_tokens > 1 << 20) {
        hd_error_set(err, HD_ERR_ARG, "tn stream: bad arguments");
        return NULL;
    }
    const hd_tn_config *c = &m->c;
    const int64_t H = c->n_hidden, wide = H > c->n_embd ? H : c->n_embd;
    hd_tn_stream *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->max_llm = max_llm_tokens;
    s->h = calloc((size_t)(c->n_layer * H), sizeof *s->h);
    s->c = calloc((size_t)(c->n_layer * H), sizeof *s->c);
    s->x = malloc((size_t)wide * sizeof *s->x);
    s->gin = malloc((size_t)(4 * H) * sizeof *s->gin);
    s->tmp = malloc((size_t)(4 * wide) * sizeof *s->tmp);
    s->llm_chunks = malloc(((size_t)max_llm_tokens + 1) * sizeof *s->llm_chunks);
    s->kv = malloc((size_t)(2 * H * (max_llm_tokens > 0 ? max_llm_tokens : 1)) * sizeof *s->kv);
    if (!s->h || !s->c || !s->x || !s->gin || !s->tmp || !s->llm_chunks || !s->kv) goto oom;
    const int64_t d = H / c->n_head, T = max_llm_tokens > 0 ? max_llm_tokens : 1;
    s->k_cache = hd_tensor_3d(HD_TYPE_F32, d, c->n_head, T, s->kv);
    s->v_cache = hd_tensor_3d(HD_TYPE_F32, d, c->n_head, T, s->kv + H * T);
    size_t bytes = hd_nn_attention_scratch_bytes(&m->attn, T) + 8 * hd_nn_f32_bytes(c->n_llm + 4 * H) + (64 << 10);
    if (!(s->ar = hd_arena_create(bytes, err))) {
        hd_tn_stream_free(s);
        return NULL;
    }
    return s;
oom:
    hd_tn_stream_free(s);
    hd_error_set(err, HD_ERR_NOMEM, "tn stream: out of memory");
    return NULL;
}

hd_status hd_tn_stream_add_llm(hd_tn_stream *s, int n, const float *emb, const int32_t *chunks, hd_error *err) {
    if (!s || n < 0 || (n && (!emb || !chunks))) return hd_error_set(err, HD_ERR_ARG, "tn stream: bad arguments");
    if (s->n_llm + n > s->max_llm) return hd_error_set(err, HD_ERR_ARG, "tn stream: more than %d LM tokens", s->max_llm);
    const hd_tn_model *m = s->m;
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    for (int i = 0; i < n; i++) {
        if (chunks[i] < (s->n_llm ? s->llm_chunks[s->n_llm - 1] : INT32_MIN))
            return hd_error_set(err, HD_ERR_ARG, "tn stream: LM token chunks decrease");
        const hd_tensor e = hd_tensor_2d(HD_TYPE_F32, m->c.n_llm, 1, (void *)(emb + (size_t)i * m->c.n_llm));
        const int64_t d = s->k_cache.ne[0], G = s->k_cache.ne[1];
        hd_tensor k = hd_tensor_3d(HD_TYPE_F32, d, G, 1, (float *)s->k_cache.data + s->n_llm * d * G);
        hd_tensor v = hd_tensor_3d(HD_TYPE_F32, d, G, 1, (float *)s->v_cache.data + s->n_llm * d * G);
        hd_arena_reset(s->ar, 0);
        hd_status st = hd_nn_attention_kv(&ex, s->ar, &m->attn, &e, &k, &v, err);
        if (st) return st;
        s->llm_chunks[s->n_llm++] = chunks[i];
    }
    return HD_OK;
}

/* Runs one LSTM step on (bucket, cat) and records the top h. */
static hd_status stream_step_lstm(hd_tn_stream *s, int32_t bucket, int32_t cat, hd_error *err) {
    const hd_tn_model *m = s->m;
    const int64_t H = m->c.n_hidden;
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    if (s->n_steps == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        float *t = realloc(s->tops, (size_t)cap * (size_t)H * sizeof *t);
        if (!t) return hd_error_set(err, HD_ERR_NOMEM, "tn stream: out of memory");
        s->tops = t;
        int32_t *ch = realloc(s->chunks, (size_t)cap * sizeof *ch);
        if (!ch) return hd_error_set(err, HD_ERR_NOMEM, "tn stream: out of memory");
        s->chunks = ch;
        s->cap = cap;
    }
    hd_status st = embed_token(m, &ex, bucket, cat, s->x, s->tmp, err);
    const float *in = s->x;
    int64_t in_dim = m->c.n_embd;
    for (int l = 0; !st && l < m->c.n_layer; l++) {
        hd_tensor xv = hd_tensor_2d(HD_TYPE_F32, in_dim, 1, (void *)in), gv = hd_tensor_2d(HD_TYPE_F32, 4 * H, 1, s->gin);
        st = hd_op_linear(&ex, &gv, &m->lstm[l].w_ih, &xv, &m->lstm[l].b_ih, err);
        if (!st) st = cell(m, &ex, &m->lstm[l], s->gin, s->h + l * H, s->c + l * H, s->tmp, err);
        in = s->h + l * H, in_dim = H;
    }
    if (st) return st;
    memcpy(s->tops + (size_t)s->n_steps * H, s->h + (m->c.n_layer - 1) * H, (size_t)H * sizeof(float));
    s->n_steps++;
    return HD_OK;
}

hd_status hd_tn_stream_push(hd_tn_stream *s, const char *bytes, size_t len, hd_tn_cat cat, int32_t chunk,
                            hd_error *err) {
    if (!s || (!bytes && len) || cat < 0 || cat > HD_TN_CAT_OTHER) return hd_error_set(err, HD_ERR_ARG, "tn stream: bad token");
    if (s->ended) return hd_error_set(err, HD_ERR_ARG, "tn stream: token after the end");
    if (s->n_tokens && chunk < s->chunks[s->n_tokens - 1]) return hd_error_set(err, HD_ERR_ARG, "tn stream: chunks decrease");
    hd_status st = stream_step_lstm(s, hd_tn_bucket(s->m, bytes, len), (int32_t)cat, err);
    if (st) return st;
    s->chunks[s->n_tokens++] = chunk;
    return HD_OK;
}

void hd_tn_stream_end(hd_tn_stream *s) {
    if (s) s->ended = true;
}

/* logits = W_o (h + Attn(h, LM tokens with chunk ≤ c)) + b_o for one row */
static hd_status head(const hd_tn_model *m, hd_exec *ex, hd_arena *ar, float *h, const hd_nn_attn_ctx *ctx,
                      float *logits, hd_error *err) {
    const int64_t H = m->c.n_hidden;
    const size_t mark = hd_arena_mark(ar);
    hd_tensor hv = hd_tensor_2d(HD_TYPE_F32, H, 1, h);
    hd_status st = HD_OK;
    if (ctx) {
        const int64_t ne[2] = {H, 1};
        hd_tensor y = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne);
        if (!y.data) st = hd_error_set(err, HD_ERR_NOMEM, "tn: arena exhausted");
        if (!st) st = hd_nn_attention(ex, ar, &y, &m->attn, &hv, ctx, err);
        if (!st) st = hd_op_add(ex, &hv, &hv, &y, err);
    }
    hd_tensor lv = hd_tensor_2d(HD_TYPE_F32, m->c.n_tags, 1, logits);
    if (!st) st = hd_op_linear(ex, &lv, &m->out_w, &hv, &m->out_b, err);
    hd_arena_reset(ar, mark);
    return st;
}

int hd_tn_stream_step(hd_tn_stream *s, hd_exec *ex, float *logits, int *index, hd_error *err) {
    if (!s || !logits) return hd_error_set(err, HD_ERR_ARG, "tn stream: bad arguments"), -1;
    const hd_tn_model *m = s->m;
    const int R = m->c.lookahead, i = s->n_out;
    if (i >= s->n_tokens) return 0;
    if (s->n_steps < i + R + 1) {
        if (!s->ended) return 0;
        /* after the end: pad steps until token i has its right context */
        while (s->n_steps < i + R + 1)
            if (stream_step_lstm(s, 0, HD_TN_CAT_SPACE, err)) return -1;
    }
    hd_exec local = {.backend = HD_BACKEND_CPU};
    if (!ex) ex = &local;
    const int64_t H = m->c.n_hidden, step = i + R;
    const int newest = step < s->n_tokens ? (int)step : s->n_tokens - 1;
    const int64_t nv = visible(s->llm_chunks, s->n_llm, s->chunks[newest]);
    memcpy(s->x, s->tops + step * H, (size_t)H * sizeof(float));
    hd_nn_attn_ctx ctx = {.k_cache = &s->k_cache, .v_cache = &s->v_cache, .n_past = nv, .kv_cached = true};
    hd_arena_reset(s->ar, 0);
    if (head(m, ex, s->ar, s->x, nv > 0 ? &ctx : NULL, logits, err)) return -1;
    if (index) *index = i;
    s->n_out++;
    return 1;
}

/* ---- whole text --------------------------------------------------------------------------- */

hd_status hd_tn_model_run(const hd_tn_model *m, hd_exec *ex, const char *text, const hd_tn_token *tokens, int n,
                          int n_llm, const float *llm_emb, const int32_t *llm_chunks, float *logits, uint8_t *tags,
                          hd_error *err) {
    if (!m || n < 0 || (n && (!tokens || !text)) || n_llm < 0 || (n_llm && (!llm_emb || !llm_chunks)))
        return hd_error_set(err, HD_ERR_ARG, "tn: bad arguments");
    for (int i = 1; i < n; i++)
        if (tokens[i].chunk < tokens[i - 1].chunk) return hd_error_set(err, HD_ERR_ARG, "tn: token chunks decrease");
    for (int j = 1; j < n_llm; j++)
        if (llm_chunks[j] < llm_chunks[j - 1]) return hd_error_set(err, HD_ERR_ARG, "tn: LM token chunks decrease");
    if (n == 0) return HD_OK;
    const hd_tn_config *c = &m->c;
    const int64_t H = c->n_hidden, E = c->n_embd, R = c->lookahead, S = n + R;   /* steps incl. pads */
    hd_exec local = {.backend = HD_BACKEND_CPU};
    if (!ex) ex = &local;
    const int64_t wide = H > E ? H : E;
    size_t bytes = hd_nn_f32_bytes(S * wide) * 2 + hd_nn_f32_bytes(S * 4 * H) + hd_nn_f32_bytes(4 * H) * 2 +
                   hd_nn_f32_bytes(S * (n_llm + 1)) + hd_nn_f32_bytes(S * c->n_tags) + hd_nn_f32_bytes(2 * H) +
                   hd_nn_attention_scratch_bytes(&m->attn, S > n_llm ? S : n_llm) + hd_nn_f32_bytes(S * H) +
                   (64 << 10);
    hd_arena *ar = hd_arena_create(bytes, err);
    if (!ar) return err ? err->code : HD_ERR_NOMEM;
    hd_status st = HD_OK;
    int32_t *ids = malloc((size_t)S * sizeof *ids), *cats = malloc((size_t)S * sizeof *cats);
    float *lg = logits ? logits : malloc((size_t)n * (size_t)c->n_tags * sizeof *lg);
    if (!ids || !cats || !lg) {
        st = hd_error_set(err, HD_ERR_NOMEM, "tn: out of memory");
        goto out;
    }
    for (int64_t t = 0; t < S; t++) {
        ids[t] = t < n ? hd_tn_bucket(m, text + tokens[t].start, tokens[t].len) : 0;
        cats[t] = t < n ? (int32_t)tokens[t].cat : HD_TN_CAT_SPACE;
    }
    const int64_t ne_x[2] = {wide, S}, ne_g[2] = {4 * H, S}, ne_h[2] = {4 * H, 1}, ne_c[1] = {H};
    hd_tensor x = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne_x), hs = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne_x);
    hd_tensor g = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne_g), tmp = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne_h);
    hd_tensor cst = hd_arena_tensor(ar, HD_TYPE_F32, 1, ne_c);
    if (!x.data || !hs.data || !g.data || !tmp.data || !cst.data) {
        st = hd_error_set(err, HD_ERR_NOMEM, "tn: arena exhausted");
        goto out;
    }
    /* embeddings of every step at once */
    hd_tensor xe = hd_tensor_2d(HD_TYPE_F32, E, S, x.data), ce = hd_tensor_2d(HD_TYPE_F32, E, S, hs.data);
    if ((st = hd_op_get_rows(ex, &xe, &m->tok_embd, ids, S, err)) ||
        (st = hd_op_get_rows(ex, &ce, &m->cat_embd, cats, S, err)) || (st = hd_op_add(ex, &xe, &xe, &ce, err)))
        goto out;
    /* layer by layer: the input projection of all steps in one matrix product,
     * then the recurrence */
    hd_tensor in = xe;
    for (int l = 0; l < c->n_layer; l++) {
        hd_tensor gv = hd_tensor_2d(HD_TYPE_F32, 4 * H, S, g.data);
        if ((st = hd_op_linear(ex, &gv, &m->lstm[l].w_ih, &in, &m->lstm[l].b_ih, err))) goto out;
        float *h_out = (float *)(l % 2 ? x.data : hs.data);   /* ping-pong with the input buffer */
        float *cc = cst.data;
        memset(cc, 0, (size_t)H * sizeof(float));
        float *h_prev = NULL;
        for (int64_t t = 0; t < S; t++) {
            float *h_t = h_out + t * H;
            if (t == 0) memset(h_t, 0, (size_t)H * sizeof(float));
            else memcpy(h_t, h_prev, (size_t)H * sizeof(float));
            if ((st = cell(m, ex, &m->lstm[l], (float *)g.data + t * 4 * H, h_t, cc, tmp.data, err))) goto out;
            h_prev = h_t;
        }
        in = hd_tensor_2d(HD_TYPE_F32, H, S, h_out);
    }
    /* outputs: token i reads step i + R */
    {
        hd_tensor z = hd_tensor_2d(HD_TYPE_F32, H, n, (float *)in.data + R * H);
        int64_t r0 = n;   /* first row that sees an LM token (visibility grows with i) */
        for (int64_t i = 0; i < n && n_llm > 0; i++) {
            int64_t newest = i + R < n ? i + R : n - 1;
            if (visible(llm_chunks, n_llm, tokens[newest].chunk) > 0) {
                r0 = i;
                break;
            }
        }
        if (r0 < n) {
            const int64_t rows = n - r0, ne_m[2] = {n_llm, rows}, ne_y[2] = {H, rows};
            hd_tensor mask = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne_m), y = hd_arena_tensor(ar, HD_TYPE_F32, 2, ne_y);
            if (!mask.data || !y.data) {
                st = hd_error_set(err, HD_ERR_NOMEM, "tn: arena exhausted");
                goto out;
            }
            for (int64_t i = r0; i < n; i++) {
                int64_t newest = i + R < n ? i + R : n - 1, v = visible(llm_chunks, n_llm, tokens[newest].chunk);
                for (int64_t j = 0; j < n_llm; j++) ((float *)mask.data)[(i - r0) * n_llm + j] = j < v ? 0.0f : -INFINITY;
            }
            const hd_tensor mem = hd_tensor_2d(HD_TYPE_F32, c->n_llm, n_llm, (void *)llm_emb);
            hd_nn_attn_ctx ctx = {.kv_input = &mem, .mask = &mask};
            hd_tensor zr = hd_tensor_2d(HD_TYPE_F32, H, rows, (float *)z.data + r0 * H);
            if ((st = hd_nn_attention(ex, ar, &y, &m->attn, &zr, &ctx, err)) || (st = hd_op_add(ex, &zr, &zr, &y, err)))
                goto out;
        }
        hd_tensor lv = hd_tensor_2d(HD_TYPE_F32, c->n_tags, n, lg);
        if ((st = hd_op_linear(ex, &lv, &m->out_w, &z, &m->out_b, err))) goto out;
    }
    if (tags)
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < c->n_tags; k++)
                if (lg[(size_t)i * c->n_tags + k] > lg[(size_t)i * c->n_tags + best]) best = k;
            tags[i] = (uint8_t)best;
        }
out:
    if (lg != logits) free(lg);
    free(ids);
    free(cats);
    hd_arena_free(ar);
    return st;
}
