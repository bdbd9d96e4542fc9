/* tests/unit/test_nn.c — core/nn blocks against a plain scalar reference
 * written from SPEC §1.1-1.5 (RMSNorm, GQA attention with RoPE, SwiGLU), plus
 * the KV-cache path (prefill then step == one shot) and the ViT-style variant
 * (LayerNorm, biases, GELU MLP, tanh gates). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/nn.h"
#include "core/threadpool.h"
#include "testutil.h"

enum { D = 32, H = 4, G = 2, HD = 8, F = 48, S = 7 };

typedef struct ref_layer {
    float attn_norm[D], ffn_norm[D];
    float wq[H * HD * D], wk[G * HD * D], wv[G * HD * D], wo[D * H * HD];   /* [out][in] */
    float wg[F * D], wu[F * D], wd[D * F];
    float bq[H * HD], bk[G * HD], bv[G * HD], bo[D], bu[F], bd[D], ln_b[D], ln2_b[D];
    float gate_a, gate_f;
} ref_layer;

static void fill(tu_rng *r, float *x, size_t n, float s) { tu_fill_normal(r, x, n, s); }

static void ref_linear(float *y, const float *w, const float *b, const float *x, int out, int in) {
    for (int o = 0; o < out; o++) {
        double acc = b ? b[o] : 0;
        for (int i = 0; i < in; i++) acc += (double)w[o * in + i] * x[i];
        y[o] = (float)acc;
    }
}

static void ref_norm(float *y, const float *x, const float *w, const float *b, int layer, float eps) {
    double mean = 0, var = 0;
    if (layer) {
        for (int i = 0; i < D; i++) mean += x[i];
        mean /= D;
    }
    for (int i = 0; i < D; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= D;
    for (int i = 0; i < D; i++) y[i] = (float)((x[i] - mean) / sqrt(var + eps) * w[i] + (b ? b[i] : 0));
}

static void ref_rope(float *v, int pos, const float *inv_freq, int mode) {
    for (int i = 0; i < HD / 2; i++) {
        int a = mode == HD_ROPE_INTERLEAVED ? 2 * i : i, b = mode == HD_ROPE_INTERLEAVED ? 2 * i + 1 : i + HD / 2;
        double c = cos(pos * (double)inv_freq[i]), s = sin(pos * (double)inv_freq[i]);
        float x0 = v[a], x1 = v[b];
        v[a] = (float)(x0 * c - x1 * s);
        v[b] = (float)(x0 * s + x1 * c);
    }
}

static float gelu_tanh(float x) { return 0.5f * x * (1 + tanhf(0.7978845608f * (x + 0.044715f * x * x * x))); }

/* The reference layer: x [S][D] in place.  vit = LayerNorm, biases, GELU MLP, gates, no RoPE, not causal. */
static void ref_layer_fwd(const ref_layer *L, float *x, const float *inv_freq, int mode, int vit) {
    static float a[S][D], q[S][H * HD], k[S][G * HD], v[S][G * HD], o[S][H * HD], t[D], g[F], u[F];
    for (int s = 0; s < S; s++) {
        ref_norm(a[s], x + s * D, L->attn_norm, vit ? L->ln_b : NULL, vit, 1e-5f);
        ref_linear(q[s], L->wq, vit ? L->bq : NULL, a[s], H * HD, D);
        ref_linear(k[s], L->wk, vit ? L->bk : NULL, a[s], G * HD, D);
        ref_linear(v[s], L->wv, vit ? L->bv : NULL, a[s], G * HD, D);
        if (!vit) {
            for (int h = 0; h < H; h++) ref_rope(q[s] + h * HD, s, inv_freq, mode);
            for (int h = 0; h < G; h++) ref_rope(k[s] + h * HD, s, inv_freq, mode);
        }
    }
    for (int s = 0; s < S; s++)
        for (int h = 0; h < H; h++) {
            int kh = h / (H / G), T = vit ? S : s + 1;
            double sc[S], mx = -1e30, sum = 0;
            for (int j = 0; j < T; j++) {
                double dot = 0;
                for (int i = 0; i < HD; i++) dot += (double)q[s][h * HD + i] * k[j][kh * HD + i];
                sc[j] = dot / sqrt((double)HD);
                if (sc[j] > mx) mx = sc[j];
            }
            for (int j = 0; j < T; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int i = 0; i < HD; i++) {
                double acc = 0;
                for (int j = 0; j < T; j++) acc += sc[j] / sum * v[j][kh * HD + i];
                o[s][h * HD + i] = (float)acc;
            }
        }
    for (int s = 0; s < S; s++) {
        ref_linear(t, L->wo, vit ? L->bo : NULL, o[s], D, H * HD);
        for (int i = 0; i < D; i++) x[s * D + i] += (vit ? tanhf(L->gate_a) : 1) * t[i];
    }
    for (int s = 0; s < S; s++) {
        ref_norm(a[s], x + s * D, L->ffn_norm, vit ? L->ln2_b : NULL, vit, 1e-5f);
        if (vit) {
            ref_linear(u, L->wu, L->bu, a[s], F, D);
            for (int i = 0; i < F; i++) u[i] = gelu_tanh(u[i]);
            ref_linear(t, L->wd, L->bd, u, D, F);
        } else {
            ref_linear(g, L->wg, NULL, a[s], F, D);
            ref_linear(u, L->wu, NULL, a[s], F, D);
            for (int i = 0; i < F; i++) u[i] *= g[i] / (1 + expf(-g[i]));
            ref_linear(t, L->wd, NULL, u, D, F);
        }
        for (int i = 0; i < D; i++) x[s * D + i] += (vit ? tanhf(L->gate_f) : 1) * t[i];
    }
}

/* hd_tensor views of the reference weights (ggml order: [out][in] is ne={in, out}). */
typedef struct views {
    hd_tensor an, fn, wq, wk, wv, wo, wg, wu, wd, bq, bk, bv, bo, bu, bd, lb, lb2, ga, gf;
    hd_nn_layer_w w;
} views;

static void make_views(views *V, ref_layer *L, int vit) {
    V->an = hd_tensor_1d(HD_TYPE_F32, D, L->attn_norm);
    V->fn = hd_tensor_1d(HD_TYPE_F32, D, L->ffn_norm);
    V->wq = hd_tensor_2d(HD_TYPE_F32, D, H * HD, L->wq);
    V->wk = hd_tensor_2d(HD_TYPE_F32, D, G * HD, L->wk);
    V->wv = hd_tensor_2d(HD_TYPE_F32, D, G * HD, L->wv);
    V->wo = hd_tensor_2d(HD_TYPE_F32, H * HD, D, L->wo);
    V->wg = hd_tensor_2d(HD_TYPE_F32, D, F, L->wg);
    V->wu = hd_tensor_2d(HD_TYPE_F32, D, F, L->wu);
    V->wd = hd_tensor_2d(HD_TYPE_F32, F, D, L->wd);
    V->bq = hd_tensor_1d(HD_TYPE_F32, H * HD, L->bq);
    V->bk = hd_tensor_1d(HD_TYPE_F32, G * HD, L->bk);
    V->bv = hd_tensor_1d(HD_TYPE_F32, G * HD, L->bv);
    V->bo = hd_tensor_1d(HD_TYPE_F32, D, L->bo);
    V->bu = hd_tensor_1d(HD_TYPE_F32, F, L->bu);
    V->bd = hd_tensor_1d(HD_TYPE_F32, D, L->bd);
    V->lb = hd_tensor_1d(HD_TYPE_F32, D, L->ln_b);
    V->lb2 = hd_tensor_1d(HD_TYPE_F32, D, L->ln2_b);
    V->ga = hd_tensor_1d(HD_TYPE_F32, 1, &L->gate_a);
    V->gf = hd_tensor_1d(HD_TYPE_F32, 1, &L->gate_f);
    hd_nn_layer_w w = {
        .attn_norm = {.kind = vit ? HD_NN_NORM_LAYER : HD_NN_NORM_RMS, .w = &V->an, .b = vit ? &V->lb : NULL, .eps = 1e-5f},
        .attn = {.wq = &V->wq, .wk = &V->wk, .wv = &V->wv, .wo = &V->wo, .n_head = H, .n_kv_head = G, .head_dim = HD},
        .mlp_norm = {.kind = vit ? HD_NN_NORM_LAYER : HD_NN_NORM_RMS, .w = &V->fn, .b = vit ? &V->lb2 : NULL, .eps = 1e-5f},
        .mlp = {.gate = vit ? NULL : &V->wg, .up = &V->wu, .down = &V->wd, .act = vit ? HD_NN_ACT_GELU : HD_NN_ACT_SILU},
    };
    if (vit) {
        w.attn.bq = &V->bq; w.attn.bk = &V->bk; w.attn.bv = &V->bv; w.attn.bo = &V->bo;
        w.mlp.b_up = &V->bu; w.mlp.b_down = &V->bd;
        w.attn_gate = &V->ga; w.mlp_gate = &V->gf;
    }
    V->w = w;
}

static ref_layer *random_layer(uint64_t seed) {
    ref_layer *L = calloc(1, sizeof *L);
    tu_rng r;
    tu_rng_seed(&r, seed);
    fill(&r, (float *)L, sizeof *L / sizeof(float), 0.2f);
    for (int i = 0; i < D; i++) {
        L->attn_norm[i] += 1.0f;
        L->ffn_norm[i] += 1.0f;
    }
    L->gate_a = 0.7f;
    L->gate_f = -0.4f;
    return L;
}

static void inv_freqs(float *f) {
    for (int i = 0; i < HD / 2; i++) f[i] = powf(10000.0f, -2.0f * i / HD) * 3.0f;  /* fast turns: visible errors */
}

typedef struct fixture {
    hd_arena *arena, *scratch;
    hd_threadpool *pool;
    hd_exec ex;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->arena = hd_arena_create(1 << 20, NULL);
    f->scratch = hd_arena_create(1 << 20, NULL);
    f->pool = hd_threadpool_create(2, NULL);
    f->ex = (hd_exec){.backend = HD_BACKEND_CPU, .pool = f->pool, .scratch = f->scratch};
    *state = f;
    return f->arena && f->scratch && f->pool ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    hd_arena_free(f->arena);
    hd_arena_free(f->scratch);
    hd_threadpool_free(f->pool);
    free(f);
    return 0;
}

static void check_layer(fixture *f, int mode) {
    ref_layer *L = random_layer(100 + mode);
    views V;
    make_views(&V, L, 0);
    float freq[HD / 2], x[S * D], ref[S * D];
    inv_freqs(freq);
    tu_rng r;
    tu_rng_seed(&r, 5);
    tu_fill_normal(&r, x, S * D, 1.0f);
    memcpy(ref, x, sizeof x);
    ref_layer_fwd(L, ref, freq, mode, 0);

    int32_t pos[S];
    for (int i = 0; i < S; i++) pos[i] = i;
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, S, x);
    hd_nn_attn_ctx c = {.pos = pos, .inv_freq = freq, .n_rot = HD, .rope_mode = mode, .causal = true};
    hd_error err = {0};
    size_t mark = hd_arena_mark(f->arena);
    assert_int_equal(hd_nn_layer(&f->ex, f->arena, &xt, &V.w, &c, &err), HD_OK);
    assert_int_equal(hd_arena_mark(f->arena), mark);           /* the arena is left as found */
    assert_true(tu_max_rel_err(x, ref, S * D) < 1e-5f);
    assert_true(hd_nn_layer_scratch_bytes(&V.w, S) >= hd_arena_high_water(f->arena) - mark);
    free(L);
}

static void test_layer_interleaved(void **state) { check_layer(*state, HD_ROPE_INTERLEAVED); }
static void test_layer_neox(void **state) { check_layer(*state, HD_ROPE_NEOX); }

/* Prefill 4 tokens, then 1, then 2, through a KV cache == one shot of 7. */
static void check_cache(fixture *f, hd_type kv_type, float tol) {
    ref_layer *L = random_layer(7);
    views V;
    make_views(&V, L, 0);
    float freq[HD / 2], x[S * D], ref[S * D];
    inv_freqs(freq);
    tu_rng r;
    tu_rng_seed(&r, 9);
    tu_fill_normal(&r, x, S * D, 1.0f);
    memcpy(ref, x, sizeof x);
    ref_layer_fwd(L, ref, freq, HD_ROPE_NEOX, 0);

    size_t es = kv_type == HD_TYPE_F16 ? 2 : 4;
    void *kb = calloc(HD * G * 16, es), *vb = calloc(HD * G * 16, es);
    hd_tensor kc = hd_tensor_3d(kv_type, HD, G, 16, kb), vc = hd_tensor_3d(kv_type, HD, G, 16, vb);
    int32_t pos[S];
    for (int i = 0; i < S; i++) pos[i] = i;
    const int steps[3][2] = {{0, 4}, {4, 1}, {5, 2}};
    hd_error err = {0};
    for (int s = 0; s < 3; s++) {
        int from = steps[s][0], n = steps[s][1];
        hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, n, x + from * D);
        hd_nn_attn_ctx c = {.pos = pos + from, .inv_freq = freq, .n_rot = HD, .rope_mode = HD_ROPE_NEOX,
                            .k_cache = &kc, .v_cache = &vc, .n_past = from, .causal = true};
        assert_int_equal(hd_nn_layer(&f->ex, f->arena, &xt, &V.w, &c, &err), HD_OK);
    }
    assert_true(tu_max_rel_err(x, ref, S * D) < tol);
    /* a step past the cache end is refused */
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, 2, x);
    hd_nn_attn_ctx c = {.pos = pos, .inv_freq = freq, .n_rot = HD, .rope_mode = HD_ROPE_NEOX,
                        .k_cache = &kc, .v_cache = &vc, .n_past = 15, .causal = true};
    assert_int_equal(hd_nn_layer(&f->ex, f->arena, &xt, &V.w, &c, &err), HD_ERR_ARG);
    free(kb);
    free(vb);
    free(L);
}

static void test_cache_f32(void **state) { check_cache(*state, HD_TYPE_F32, 1e-5f); }
static void test_cache_f16(void **state) { check_cache(*state, HD_TYPE_F16, 3e-3f); }

/* ViT-style: LayerNorm with bias, biased projections, GELU MLP, tanh gates, bidirectional. */
static void test_vit_layer(void **state) {
    fixture *f = *state;
    ref_layer *L = random_layer(3);
    views V;
    make_views(&V, L, 1);
    float x[S * D], ref[S * D];
    tu_rng r;
    tu_rng_seed(&r, 4);
    tu_fill_normal(&r, x, S * D, 1.0f);
    memcpy(ref, x, sizeof x);
    ref_layer_fwd(L, ref, NULL, 0, 1);
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, S, x);
    hd_nn_attn_ctx c = {.causal = false};
    hd_error err = {0};
    assert_int_equal(hd_nn_layer(&f->ex, f->arena, &xt, &V.w, &c, &err), HD_OK);
    assert_true(tu_max_rel_err(x, ref, S * D) < 1e-5f);
    free(L);
}

/* Cross-attention (mllama style): q from x, k/v from other states y, per-head
 * q/k RMSNorm, no RoPE, not causal; then K/V kept in a cache and reused. */
enum { TY = 5 };

static void ref_cross(const ref_layer *L, const float *qn, const float *kn, const float *x, const float *y,
                      float *out) {
    float q[S][H * HD], k[TY][G * HD], v[TY][G * HD], o[H * HD];
    for (int s = 0; s < S; s++) ref_linear(q[s], L->wq, NULL, x + s * D, H * HD, D);
    for (int t = 0; t < TY; t++) {
        ref_linear(k[t], L->wk, NULL, y + t * D, G * HD, D);
        ref_linear(v[t], L->wv, NULL, y + t * D, G * HD, D);
    }
    /* per-head RMSNorm of q and k */
    for (int pass = 0; pass < 2; pass++)
        for (int r = 0; r < (pass ? TY * G : S * H); r++) {
            float *h = pass ? &k[r / G][(r % G) * HD] : &q[r / H][(r % H) * HD];
            const float *w = pass ? kn : qn;
            double ss = 0;
            for (int i = 0; i < HD; i++) ss += (double)h[i] * h[i];
            double inv = 1.0 / sqrt(ss / HD + 1e-5);
            for (int i = 0; i < HD; i++) h[i] = (float)(h[i] * inv * w[i]);
        }
    for (int s = 0; s < S; s++) {
        for (int h = 0; h < H; h++) {
            int kh = h / (H / G);
            double sc[TY], mx = -1e30, sum = 0;
            for (int t = 0; t < TY; t++) {
                double dot = 0;
                for (int i = 0; i < HD; i++) dot += (double)q[s][h * HD + i] * k[t][kh * HD + i];
                sc[t] = dot / sqrt((double)HD);
                if (sc[t] > mx) mx = sc[t];
            }
            for (int t = 0; t < TY; t++) sum += sc[t] = exp(sc[t] - mx);
            for (int i = 0; i < HD; i++) {
                double acc = 0;
                for (int t = 0; t < TY; t++) acc += sc[t] / sum * v[t][kh * HD + i];
                o[h * HD + i] = (float)acc;
            }
        }
        ref_linear(out + s * D, L->wo, NULL, o, D, H * HD);
    }
}

static void test_cross_attention(void **state) {
    fixture *f = *state;
    ref_layer *L = random_layer(21);
    views V;
    make_views(&V, L, 0);
    float qn[HD], kn[HD], x[S * D], y[TY * D], x2[S * D], ref[S * D], ref2[S * D], out[S * D];
    tu_rng r;
    tu_rng_seed(&r, 77);
    tu_fill_normal(&r, qn, HD, 0.3f);
    tu_fill_normal(&r, kn, HD, 0.3f);
    for (int i = 0; i < HD; i++) qn[i] += 1, kn[i] += 1;
    tu_fill_normal(&r, x, S * D, 1.0f);
    tu_fill_normal(&r, x2, S * D, 1.0f);
    tu_fill_normal(&r, y, TY * D, 1.0f);
    ref_cross(L, qn, kn, x, y, ref);
    ref_cross(L, qn, kn, x2, y, ref2);

    hd_tensor qnt = hd_tensor_1d(HD_TYPE_F32, HD, qn), knt = hd_tensor_1d(HD_TYPE_F32, HD, kn);
    hd_nn_attn_w w = V.w.attn;
    w.q_norm = &qnt;
    w.k_norm = &knt;
    w.qk_norm_eps = 1e-5f;
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, S, x), x2t = hd_tensor_2d(HD_TYPE_F32, D, S, x2);
    hd_tensor yt = hd_tensor_2d(HD_TYPE_F32, D, TY, y), ot = hd_tensor_2d(HD_TYPE_F32, D, S, out);
    hd_error err = {0};

    /* straight from the states */
    hd_nn_attn_ctx c = {.kv_input = &yt};
    assert_int_equal(hd_nn_attention(&f->ex, f->arena, &ot, &w, &xt, &c, &err), HD_OK);
    assert_true(tu_max_rel_err(out, ref, S * D) < 1e-5f);

    /* K/V computed once into a cache, then reused for other queries */
    float kb[HD * G * 8], vb[HD * G * 8];
    hd_tensor kc = hd_tensor_3d(HD_TYPE_F32, HD, G, 8, kb), vc = hd_tensor_3d(HD_TYPE_F32, HD, G, 8, vb);
    hd_nn_attn_ctx fill = {.kv_input = &yt, .k_cache = &kc, .v_cache = &vc};
    assert_int_equal(hd_nn_attention(&f->ex, f->arena, &ot, &w, &xt, &fill, &err), HD_OK);
    assert_true(tu_max_rel_err(out, ref, S * D) < 1e-5f);
    hd_nn_attn_ctx reuse = {.k_cache = &kc, .v_cache = &vc, .n_past = TY, .kv_cached = true};
    assert_int_equal(hd_nn_attention(&f->ex, f->arena, &ot, &w, &x2t, &reuse, &err), HD_OK);
    assert_true(tu_max_rel_err(out, ref2, S * D) < 1e-5f);

    /* misuse is refused: RoPE without key positions, kv_cached without a cache, wrong width */
    float freq[HD / 2];
    inv_freqs(freq);
    int32_t pos[S] = {0};
    hd_nn_attn_ctx bad = {.kv_input = &yt, .inv_freq = freq, .pos = pos, .n_rot = HD};
    assert_int_equal(hd_nn_attention(&f->ex, f->arena, &ot, &w, &xt, &bad, &err), HD_ERR_ARG);
    hd_nn_attn_ctx bad2 = {.kv_cached = true, .n_past = 3};
    assert_int_equal(hd_nn_attention(&f->ex, f->arena, &ot, &w, &xt, &bad2, &err), HD_ERR_ARG);
    hd_tensor narrow = hd_tensor_2d(HD_TYPE_F32, D / 2, TY, y);
    hd_nn_attn_ctx bad3 = {.kv_input = &narrow};
    assert_int_equal(hd_nn_attention(&f->ex, f->arena, &ot, &w, &xt, &bad3, &err), HD_ERR_SHAPE);
    free(L);
}

static void test_arena_exhausted(void **state) {
    fixture *f = *state;
    ref_layer *L = random_layer(1);
    views V;
    make_views(&V, L, 0);
    float x[S * D] = {0};
    hd_arena *small = hd_arena_create(1024, NULL);
    hd_tensor xt = hd_tensor_2d(HD_TYPE_F32, D, S, x);
    hd_nn_attn_ctx c = {.causal = true};
    hd_error err = {0};
    assert_int_equal(hd_nn_layer(&f->ex, small, &xt, &V.w, &c, &err), HD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "arena"));
    assert_int_equal(hd_arena_used(small), 0);
    /* bad heads are refused, not computed */
    V.w.attn.n_kv_head = 3;
    assert_int_equal(hd_nn_layer(&f->ex, f->arena, &xt, &V.w, &c, &err), HD_ERR_ARG);
    hd_arena_free(small);
    free(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layer_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_neox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_f32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_f16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vit_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_attention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_exhausted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
