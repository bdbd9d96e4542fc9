/* tests/unit/test_llama.c — lm/llama on tiny random checkpoints written here:
 * batched, stepwise and rewound decoding agree; the GGUF (interleaved RoPE)
 * and HF (half-split RoPE, permuted Q/K rows) forms of the same weights give
 * the same logits; tied and untied heads; every bad input is one clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "lm/llama.h"
#include "lm/llama_config.h"
#include "testutil.h"

/* ---- writing a tiny model ---------------------------------------------------- */

typedef struct mutation {
    const char *skip;        /* tensor left out            */
    const char *bad_shape;   /* tensor with one more row   */
    const char *bad_type;    /* tensor stored as Q8_0 when F32 is required / ... */
    const char *arch;        /* general.architecture override */
    bool untied;             /* write output.weight        */
    int rope_freqs;          /* 0: llama.cpp's factors for the config's scaling
                                (as convert_hf_to_gguf writes), 1: factors 1+i, 2: none */
} mutation;

typedef struct tensor_buf {
    char name[96];
    int n_dims;
    int64_t ne[2];
    float *data;
} tensor_buf;

typedef struct model_bufs {
    hd_llama_config cfg;
    tensor_buf t[64];
    int n;
} model_bufs;

static void add(model_bufs *m, tu_rng *r, const char *name, int n_dims, int64_t ne0, int64_t ne1, float scale,
                float offset) {
    tensor_buf *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->data = malloc((size_t)(ne0 * ne1) * sizeof(float));
    tu_fill_normal(r, t->data, (size_t)(ne0 * ne1), scale);
    for (int64_t i = 0; i < ne0 * ne1; i++) t->data[i] += offset;
}

/* Random weights in GGUF naming and the interleaved RoPE layout. */
static void make_bufs(model_bufs *m, bool untied) {
    memset(m, 0, sizeof *m);
    assert_true(hd_llama_config_preset("tiny-vocab", &m->cfg));
    m->cfg.tie_word_embeddings = !untied;
    const hd_llama_config *c = &m->cfg;
    const int64_t D = c->n_embd, V = c->n_vocab, F = c->n_ff, d = c->head_dim;
    tu_rng r;
    tu_rng_seed(&r, 2024);
    char n[96];
    add(m, &r, "token_embd.weight", 2, D, V, 1.0f, 0);
    add(m, &r, "output_norm.weight", 1, D, 1, 0.1f, 1.0f);
    if (untied) add(m, &r, "output.weight", 2, D, V, 0.2f, 0);
    for (int l = 0; l < c->n_layer; l++) {
        const struct { const char *s; int nd; int64_t a, b; float sc, off; } L[] = {
            {"attn_norm", 1, D, 1, 0.1f, 1.0f},  {"attn_q", 2, D, c->n_head * d, 0.15f, 0},
            {"attn_k", 2, D, c->n_head_kv * d, 0.15f, 0}, {"attn_v", 2, D, c->n_head_kv * d, 0.15f, 0},
            {"attn_output", 2, c->n_head * d, D, 0.15f, 0}, {"ffn_norm", 1, D, 1, 0.1f, 1.0f},
            {"ffn_gate", 2, D, F, 0.15f, 0}, {"ffn_up", 2, D, F, 0.15f, 0}, {"ffn_down", 2, F, D, 0.15f, 0},
        };
        for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
            snprintf(n, sizeof n, "blk.%d.%s.weight", l, L[i].s);
            add(m, &r, n, L[i].nd, L[i].a, L[i].b, L[i].sc, L[i].off);
        }
    }
}

static void free_bufs(model_bufs *m) {
    for (int i = 0; i < m->n; i++) free(m->t[i].data);
}

static void write_gguf(const model_bufs *m, const char *path, const mutation *mu) {
    hd_error err = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    assert_int_equal(hd_llama_config_to_gguf(&m->cfg, 0, w, &err), HD_OK);
    if (mu->arch) hd_gguf_set_str(w, "general.architecture", mu->arch);
    static float freqs[256];
    if (mu->rope_freqs != 2 && (mu->rope_freqs == 1 || m->cfg.rope_scaling == HD_ROPE_SCALING_LLAMA3)) {
        if (mu->rope_freqs == 1)
            for (int i = 0; i < m->cfg.head_dim / 2; i++) freqs[i] = 1.0f + (float)i;   /* visible effect */
        else
            hd_llama_rope_freq_factors(&m->cfg, freqs);
        int64_t ne[1] = {m->cfg.head_dim / 2};
        assert_int_equal(hd_gguf_add_tensor(w, "rope_freqs.weight", HD_TYPE_F32, 1, ne, freqs, &err), HD_OK);
    }
    static hd_block_q8_0 q8[1 << 16];
    for (int i = 0; i < m->n; i++) {
        const tensor_buf *t = &m->t[i];
        if (mu->skip && strcmp(mu->skip, t->name) == 0) continue;
        int64_t ne[2] = {t->ne[0], t->ne[1]};
        if (mu->bad_shape && strcmp(mu->bad_shape, t->name) == 0) {
            /* claim one fewer row than the data holds: a valid file with a wrong shape */
            ne[t->n_dims - 1] -= 1;
        }
        if (mu->bad_type && strcmp(mu->bad_type, t->name) == 0) {
            int64_t nel = ne[0] * ne[1];
            assert_true(nel / 32 <= (int64_t)(sizeof q8 / sizeof q8[0]));
            for (int64_t b = 0; b < nel / 32; b++) {
                q8[b].d = hd_f32_to_f16(0.01f);
                memset(q8[b].qs, 1, 32);
            }
            assert_int_equal(hd_gguf_add_tensor(w, t->name, HD_TYPE_Q8_0, t->n_dims, ne, q8, &err), HD_OK);
            continue;
        }
        assert_int_equal(hd_gguf_add_tensor(w, t->name, HD_TYPE_F32, t->n_dims, ne, t->data, &err), HD_OK);
    }
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
}

/* The same model as a HF folder: HF names, Q/K rows in the half-split layout
 * (HF row p·d/2 + i of a head = GGUF row 2i + p, SPEC §1.4). */
static void write_hf(const model_bufs *m, const char *dir) {
    const hd_llama_config *c = &m->cfg;
    hd_error err = {0};
    mkdir(dir, 0755);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *json = hd_llama_config_to_hf_json(c, "float32", &err);
    assert_non_null(json);
    assert_int_equal(tu_write_file(path, json, strlen(json)), 0);
    free(json);

    hd_st_writer *w = hd_st_writer_create(&err);
    float *perm[64] = {0};
    for (int i = 0; i < m->n; i++) {
        const tensor_buf *t = &m->t[i];
        char name[128];
        int l = -1;
        char part[64] = "";
        const float *data = t->data;
        if (strcmp(t->name, "token_embd.weight") == 0) snprintf(name, sizeof name, "model.embed_tokens.weight");
        else if (strcmp(t->name, "output_norm.weight") == 0) snprintf(name, sizeof name, "model.norm.weight");
        else if (strcmp(t->name, "output.weight") == 0) snprintf(name, sizeof name, "lm_head.weight");
        else {
            assert_int_equal(sscanf(t->name, "blk.%d.%63[^.]", &l, part), 2);
            const char *hf = strcmp(part, "attn_norm") == 0     ? "input_layernorm"
                             : strcmp(part, "attn_q") == 0      ? "self_attn.q_proj"
                             : strcmp(part, "attn_k") == 0      ? "self_attn.k_proj"
                             : strcmp(part, "attn_v") == 0      ? "self_attn.v_proj"
                             : strcmp(part, "attn_output") == 0 ? "self_attn.o_proj"
                             : strcmp(part, "ffn_norm") == 0    ? "post_attention_layernorm"
                             : strcmp(part, "ffn_gate") == 0    ? "mlp.gate_proj"
                             : strcmp(part, "ffn_up") == 0      ? "mlp.up_proj"
                                                                : "mlp.down_proj";
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, hf);
            if (strcmp(part, "attn_q") == 0 || strcmp(part, "attn_k") == 0) {
                const int64_t d = c->head_dim, rows = t->ne[1], K = t->ne[0];
                float *p = malloc((size_t)(rows * K) * sizeof *p);
                for (int64_t h = 0; h < rows / d; h++)
                    for (int64_t pp = 0; pp < 2; pp++)
                        for (int64_t j = 0; j < d / 2; j++)
                            memcpy(p + (h * d + pp * d / 2 + j) * K, t->data + (h * d + 2 * j + pp) * K,
                                   (size_t)K * sizeof *p);
                perm[i] = p;
                data = p;
            }
        }
        int64_t shape[2] = {t->n_dims == 2 ? t->ne[1] : t->ne[0], t->ne[0]};
        assert_int_equal(hd_st_writer_add(w, name, HD_TYPE_F32, t->n_dims, shape, data, &err), HD_OK);
        (void)l;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(hd_st_writer_write(w, path, &err), HD_OK);
    hd_st_writer_free(w);
    for (int i = 0; i < 64; i++) free(perm[i]);
}

/* ---- helpers --------------------------------------------------------------- */

static const int32_t prompt[] = {1, 17, 400, 3, 3, 250, 99, 511, 0, 42, 7};
enum { NP = sizeof prompt / sizeof prompt[0] };

static hd_llama_context *make_ctx(const hd_llama_model *m, int n_batch, int64_t n_ctx, hd_type kv, bool all) {
    hd_llama_context_params p = hd_llama_context_default_params();
    p.n_batch = n_batch;
    p.n_ctx = n_ctx;
    p.kv_type = kv;
    p.n_threads = 2;
    p.logits_all = all;
    hd_error err = {0};
    hd_llama_context *ctx = hd_llama_context_create(m, &p, &err);
    if (!ctx) fail_msg("context: %s", err.msg);
    return ctx;
}

/* Logits of every prompt position in one batch: [NP][V] (caller frees). */
static float *all_logits(const hd_llama_model *m, hd_type kv) {
    const int V = m->cfg.n_vocab;
    hd_llama_context *ctx = make_ctx(m, NP, 64, kv, true);
    hd_error err = {0};
    if (hd_llama_decode(ctx, prompt, NP, &err)) fail_msg("decode: %s", err.msg);
    assert_int_equal(hd_llama_n_logits(ctx), NP);
    float *out = malloc((size_t)NP * V * sizeof *out);
    memcpy(out, hd_llama_logits(ctx), (size_t)NP * V * sizeof *out);
    hd_llama_context_free(ctx);
    return out;
}

static hd_llama_model *load_ok(const char *path) {
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(path, &err);
    if (!m) fail_msg("load %s: %s", path, err.msg);
    return m;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_batch_step_rewind(void **state) {
    (void)state;
    model_bufs b;
    make_bufs(&b, false);
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", tu_tmpdir());
    write_gguf(&b, path, &(mutation){0});
    hd_llama_model *m = load_ok(path);
    assert_true(m->tied);
    assert_int_equal(m->rope_mode, HD_ROPE_INTERLEAVED);
    const int V = m->cfg.n_vocab;
    float *ref = all_logits(m, HD_TYPE_F32);
    float mx = 0;
    for (int i = 0; i < NP * V; i++) {
        assert_true(isfinite(ref[i]));
        mx = fmaxf(mx, fabsf(ref[i]));
    }
    assert_true(mx > 0.1f);

    /* batches of 4 (3 forward passes): last logits = row NP-1 */
    hd_error err = {0};
    hd_llama_context *ctx = make_ctx(m, 4, 64, HD_TYPE_F32, false);
    assert_int_equal(hd_llama_decode(ctx, prompt, NP, &err), HD_OK);
    assert_int_equal(hd_llama_n_past(ctx), NP);
    assert_true(tu_max_rel_err(hd_llama_logits(ctx), ref + (NP - 1) * V, V) < 1e-5f);

    /* rewind to 5 and step one token at a time: every row matches */
    assert_int_equal(hd_llama_rewind(ctx, 5, &err), HD_OK);
    for (int i = 5; i < NP; i++) {
        assert_int_equal(hd_llama_decode(ctx, &prompt[i], 1, &err), HD_OK);
        assert_true(tu_max_rel_err(hd_llama_logits(ctx), ref + i * V, V) < 1e-5f);
    }
    assert_int_equal(hd_llama_rewind(ctx, NP + 1, &err), HD_ERR_ARG);
    hd_llama_context_free(ctx);

    /* F16 KV cache: close, not equal */
    float *f16 = all_logits(m, HD_TYPE_F16);
    float e = tu_max_rel_err(f16, ref, (size_t)NP * V);
    assert_true(e < 5e-3f);
    free(f16);
    free(ref);
    hd_llama_free(m);
    hd_llama_free(NULL);
    hd_llama_context_free(NULL);
    free_bufs(&b);
}

/* The HF folder (half-split RoPE, permuted Q/K) and the GGUF file give the same logits. */
static void check_hf_equals_gguf(bool untied) {
    model_bufs b;
    make_bufs(&b, untied);
    char gguf[512], hf[512];
    snprintf(gguf, sizeof gguf, "%s/m%d.gguf", tu_tmpdir(), untied);
    snprintf(hf, sizeof hf, "%s/hf%d", tu_tmpdir(), untied);
    write_gguf(&b, gguf, &(mutation){0});
    write_hf(&b, hf);
    hd_llama_model *mg = load_ok(gguf), *mh = load_ok(hf);
    assert_int_equal(mh->rope_mode, HD_ROPE_NEOX);
    assert_int_equal(mh->tied, !untied);
    assert_int_equal(mg->tied, !untied);
    float *a = all_logits(mg, HD_TYPE_F32), *c = all_logits(mh, HD_TYPE_F32);
    assert_true(tu_max_rel_err(c, a, (size_t)NP * mg->cfg.n_vocab) < 1e-5f);
    /* the config.json path itself loads too */
    char cfgp[600];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", hf);
    hd_llama_model *m3 = load_ok(cfgp);
    hd_llama_free(m3);
    free(a);
    free(c);
    hd_llama_free(mg);
    hd_llama_free(mh);
    free_bufs(&b);
}

static void test_hf_equals_gguf_tied(void **state) { (void)state; check_hf_equals_gguf(false); }
static void test_hf_equals_gguf_untied(void **state) { (void)state; check_hf_equals_gguf(true); }

/* rope_freqs.weight sets the frequencies: θ^(−2i/d) / factor[i]; without it
 * a GGUF is unscaled; with llama.cpp's factors it equals the config's scaling. */
static void test_rope_freqs(void **state) {
    (void)state;
    model_bufs b;
    make_bufs(&b, false);
    assert_int_equal(b.cfg.rope_scaling, HD_ROPE_SCALING_LLAMA3);
    char p0[512], p1[512], p2[512];
    snprintf(p0, sizeof p0, "%s/l3.gguf", tu_tmpdir());
    snprintf(p1, sizeof p1, "%s/nf.gguf", tu_tmpdir());
    snprintf(p2, sizeof p2, "%s/rf.gguf", tu_tmpdir());
    write_gguf(&b, p0, &(mutation){0});
    write_gguf(&b, p1, &(mutation){.rope_freqs = 2});
    write_gguf(&b, p2, &(mutation){.rope_freqs = 1});
    hd_llama_model *m0 = load_ok(p0), *m1 = load_ok(p1), *m2 = load_ok(p2);
    const int d = m1->cfg.head_dim;
    float want[256];
    hd_llama_rope_freqs(&b.cfg, NULL, want);
    bool scaled_somewhere = false;
    for (int i = 0; i < d / 2; i++) {
        double base = pow(m1->cfg.rope_theta, -2.0 * i / d);
        assert_true(fabs(m0->inv_freq[i] - want[i]) <= 1e-6 * base);
        assert_true(fabs(m1->inv_freq[i] - base) <= 1e-6 * base);
        assert_true(fabs(m2->inv_freq[i] - base / (1.0 + i)) <= 1e-6 * base);
        scaled_somewhere |= want[i] < 0.9 * base;
    }
    assert_true(scaled_somewhere);
    float *a = all_logits(m1, HD_TYPE_F32), *c = all_logits(m2, HD_TYPE_F32);
    /* position 0 has no rotation: the first row is identical, later rows differ */
    const int V = m1->cfg.n_vocab;
    assert_true(tu_max_rel_err(c, a, V) < 1e-6f);
    assert_true(tu_max_rel_err(c + V, a + V, (size_t)(NP - 1) * V) > 1e-4f);
    free(a);
    free(c);
    hd_llama_free(m0);
    hd_llama_free(m1);
    hd_llama_free(m2);
    free_bufs(&b);
}

/* llama3 scaling from the config: the low-frequency end divided by the factor. */
static void test_llama3_scaling(void **state) {
    (void)state;
    hd_llama_config c;
    assert_true(hd_llama_config_preset("llama-3.2-1b", &c));
    float f[64];
    hd_llama_rope_freqs(&c, NULL, f);
    const int d = c.head_dim;
    /* highest frequency (wavelength 2π < 2048): unscaled; lowest: divided by 32 */
    assert_true(fabs(f[0] - 1.0) < 1e-6);
    double lo = pow(c.rope_theta, -2.0 * (d / 2 - 1) / d);
    assert_true(fabs(f[d / 2 - 1] - lo / c.rope_factor) < 1e-6 * lo);
    for (int i = 1; i < d / 2; i++) assert_true(f[i] < f[i - 1]);
}

static void test_context_errors(void **state) {
    (void)state;
    model_bufs b;
    make_bufs(&b, false);
    char path[512];
    snprintf(path, sizeof path, "%s/ctx.gguf", tu_tmpdir());
    write_gguf(&b, path, &(mutation){0});
    hd_llama_model *m = load_ok(path);
    hd_error err = {0};
    hd_llama_context *ctx = make_ctx(m, 4, 8, HD_TYPE_F16, false);
    assert_int_equal(hd_llama_decode(ctx, prompt, NP, &err), HD_ERR_ARG);   /* 11 > 8 */
    assert_non_null(strstr(err.msg, "context"));
    assert_int_equal(hd_llama_n_past(ctx), 0);                             /* nothing ran */
    int32_t bad[2] = {1, 512};
    assert_int_equal(hd_llama_decode(ctx, bad, 2, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "512"));
    assert_int_equal(hd_llama_decode(ctx, prompt, 0, &err), HD_ERR_ARG);
    hd_llama_context_free(ctx);
    ctx = make_ctx(m, 4, 64, HD_TYPE_F16, true);
    assert_int_equal(hd_llama_decode(ctx, prompt, 5, &err), HD_ERR_ARG);   /* logits_all over n_batch */
    hd_llama_context_free(ctx);
    hd_llama_free(m);
    free_bufs(&b);
}

static void expect_load_error(const mutation *mu, hd_status code, const char *needle1, const char *needle2) {
    model_bufs b;
    make_bufs(&b, false);
    char path[512];
    snprintf(path, sizeof path, "%s/bad.gguf", tu_tmpdir());
    write_gguf(&b, path, mu);
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(path, &err);
    assert_null(m);
    if (err.code != code || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("expected %s with '%s' '%s', got %s: %s", hd_status_name(code), needle1, needle2 ? needle2 : "",
                 hd_status_name(err.code), err.msg);
    assert_non_null(strstr(err.msg, "bad.gguf"));   /* names the file */
    free_bufs(&b);
}

static void test_bad_models(void **state) {
    (void)state;
    expect_load_error(&(mutation){.skip = "blk.1.ffn_up.weight"}, HD_ERR_NOTFOUND, "blk.1.ffn_up.weight", NULL);
    expect_load_error(&(mutation){.skip = "token_embd.weight"}, HD_ERR_NOTFOUND, "token_embd.weight", NULL);
    expect_load_error(&(mutation){.bad_shape = "blk.0.attn_k.weight"}, HD_ERR_SHAPE, "blk.0.attn_k.weight", "shape");
    expect_load_error(&(mutation){.bad_type = "blk.0.attn_norm.weight"}, HD_ERR_SHAPE, "blk.0.attn_norm.weight",
                      "Q8_0");
    expect_load_error(&(mutation){.arch = "gpt2"}, HD_ERR_UNSUPPORTED, "gpt2", NULL);

    /* a quantized matrix is fine */
    model_bufs b;
    make_bufs(&b, false);
    char path[512];
    snprintf(path, sizeof path, "%s/q8.gguf", tu_tmpdir());
    write_gguf(&b, path, &(mutation){.bad_type = "blk.0.ffn_up.weight"});
    hd_llama_model *m = load_ok(path);
    hd_llama_free(m);

    /* truncated file, missing file, missing config.json */
    hd_error err = {0};
    size_t size;
    char *data = tu_read_file(path, &size);
    char tp[512];
    snprintf(tp, sizeof tp, "%s/trunc.gguf", tu_tmpdir());
    tu_write_file(tp, data, size - 100);
    free(data);
    assert_null(hd_llama_load(tp, &err));
    assert_int_equal(err.code, HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "trunc.gguf"));
    snprintf(tp, sizeof tp, "%s/none.gguf", tu_tmpdir());
    assert_null(hd_llama_load(tp, &err));
    assert_int_equal(err.code, HD_ERR_IO);
    assert_non_null(strstr(err.msg, "none.gguf"));
    snprintf(tp, sizeof tp, "%s/emptydir", tu_tmpdir());
    mkdir(tp, 0755);
    assert_null(hd_llama_load(tp, &err));
    assert_non_null(strstr(err.msg, "config.json"));
    free_bufs(&b);
}

/* One model, two contexts on two threads at once: each gets the logits a lone run gets. */
typedef struct thread_job {
    const hd_llama_model *m;
    float *out;
} thread_job;

static void *thread_run(void *arg) {
    thread_job *j = arg;
    j->out = all_logits(j->m, HD_TYPE_F32);
    return NULL;
}

static void test_shared_model_threads(void **state) {
    (void)state;
    model_bufs b;
    make_bufs(&b, true);
    char path[512];
    snprintf(path, sizeof path, "%s/shared.gguf", tu_tmpdir());
    write_gguf(&b, path, &(mutation){0});
    hd_llama_model *m = load_ok(path);
    float *ref = all_logits(m, HD_TYPE_F32);
    thread_job jobs[2] = {{m, NULL}, {m, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, thread_run, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_true(tu_max_rel_err(jobs[i].out, ref, (size_t)NP * m->cfg.n_vocab) < 1e-6f);
        free(jobs[i].out);
    }
    free(ref);
    hd_llama_free(m);
    free_bufs(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_step_rewind),
        cmocka_unit_test(test_hf_equals_gguf_tied),
        cmocka_unit_test(test_hf_equals_gguf_untied),
        cmocka_unit_test(test_rope_freqs),
        cmocka_unit_test(test_llama3_scaling),
        cmocka_unit_test(test_context_errors),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_shared_model_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
