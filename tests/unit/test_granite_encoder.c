/* tests/unit/test_granite_encoder.c — the pieces of Granite Speech's encoder
 * and projector that the PyTorch parity test (tests/parity/
 * test_granite_encoder.sh) does not isolate:
 *   - core/nn block-local attention and Shaw relative positions against a
 *     scalar double reference (GQA, a clamp smaller than the block, a partial
 *     last block, cross-attention with different query/key block sizes) and
 *     their argument checks;
 *   - config.json parsing (HF defaults for missing keys, the errors), GGUF
 *     key round trips, parameter and row counts;
 *   - loading a checkpoint written here in the HF layout: success, then a
 *     missing tensor, a misshapen tensor and a negative BatchNorm variance,
 *     each an error naming the file and the tensor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/qformer.h"
#include "core/arena.h"
#include "core/gguf.h"
#include "core/nn.h"
#include "core/safetensors.h"
#include "core/weights.h"
#include "speech/granite_encoder.h"
#include "testutil.h"

/* ---- block-local / Shaw attention ------------------------------------------- */

enum { AD = 12, AH = 4, AG = 2, Ad = 6 };

/* y[s] = Wo · concat_h softmax_t(q·k/√d + bias)·v over keys t of s's block. */
static void ref_attention(float *y, const float *wq, const float *wk, const float *wv, const float *wo,
                          const float *x, int S, const float *kvx, int T, int bq, int bk, const float *E, int rel_max,
                          int rel_clamp) {
    double *q = calloc((size_t)S * AH * Ad, sizeof *q), *k = calloc((size_t)T * AG * Ad, sizeof *k);
    double *v = calloc((size_t)T * AG * Ad, sizeof *v), *o = calloc((size_t)S * AH * Ad, sizeof *o);
    for (int s = 0; s < S; s++)
        for (int j = 0; j < AH * Ad; j++)
            for (int i = 0; i < AD; i++) q[s * AH * Ad + j] += (double)wq[j * AD + i] * x[s * AD + i];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < AG * Ad; j++)
            for (int i = 0; i < AD; i++) {
                k[t * AG * Ad + j] += (double)wk[j * AD + i] * kvx[t * AD + i];
                v[t * AG * Ad + j] += (double)wv[j * AD + i] * kvx[t * AD + i];
            }
    const double scale = 1.0 / sqrt((double)Ad);
    double sc[64];
    for (int s = 0; s < S; s++) {
        const int b = s / bq, t0 = b * bk, t1 = t0 + bk < T ? t0 + bk : T;
        for (int h = 0; h < AH; h++) {
            const double *qh = q + (s * AH + h) * Ad;
            const int g = h / (AH / AG);
            double mx = -1e300, sum = 0;
            for (int t = t0; t < t1; t++) {
                double a = 0;
                for (int e = 0; e < Ad; e++) a += qh[e] * k[(t * AG + g) * Ad + e];
                if (E) {
                    int dl = (s - b * bq) - (t - t0);
                    dl = dl < -rel_clamp ? -rel_clamp : dl > rel_clamp ? rel_clamp : dl;
                    for (int e = 0; e < Ad; e++) a += qh[e] * E[(dl + rel_max) * Ad + e];
                }
                sc[t - t0] = a * scale;
                if (sc[t - t0] > mx) mx = sc[t - t0];
            }
            for (int t = t0; t < t1; t++) sum += sc[t - t0] = exp(sc[t - t0] - mx);
            for (int t = t0; t < t1; t++)
                for (int e = 0; e < Ad; e++) o[(s * AH + h) * Ad + e] += sc[t - t0] / sum * v[(t * AG + g) * Ad + e];
        }
    }
    for (int s = 0; s < S; s++)
        for (int j = 0; j < AD; j++) {
            double a = 0;
            for (int i = 0; i < AH * Ad; i++) a += (double)wo[j * AH * Ad + i] * o[s * AH * Ad + i];
            y[s * AD + j] = (float)a;
        }
    free(q), free(k), free(v), free(o);
}

typedef struct attn_fixture {
    float wq[AH * Ad * AD], wk[AG * Ad * AD], wv[AG * Ad * AD], wo[AD * AH * Ad];
    hd_tensor tq, tk, tv, to;
    hd_nn_attn_w w;
} attn_fixture;

static void attn_setup(attn_fixture *f, tu_rng *r) {
    tu_fill_normal(r, f->wq, sizeof f->wq / 4, 0.4f);
    tu_fill_normal(r, f->wk, sizeof f->wk / 4, 0.4f);
    tu_fill_normal(r, f->wv, sizeof f->wv / 4, 0.4f);
    tu_fill_normal(r, f->wo, sizeof f->wo / 4, 0.4f);
    f->tq = hd_tensor_2d(HD_TYPE_F32, AD, AH * Ad, f->wq);
    f->tk = hd_tensor_2d(HD_TYPE_F32, AD, AG * Ad, f->wk);
    f->tv = hd_tensor_2d(HD_TYPE_F32, AD, AG * Ad, f->wv);
    f->to = hd_tensor_2d(HD_TYPE_F32, AH * Ad, AD, f->wo);
    f->w = (hd_nn_attn_w){.wq = &f->tq, .wk = &f->tk, .wv = &f->tv, .wo = &f->to, .n_head = AH, .n_kv_head = AG,
                          .head_dim = Ad};
}

static void test_shaw_block_attention(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 7);
    attn_fixture f;
    attn_setup(&f, &r);
    enum { S = 11, RMAX = 5 };
    float x[S * AD], E[(2 * RMAX + 1) * Ad], y[S * AD], ref[S * AD];
    tu_fill_normal(&r, x, S * AD, 1.0f);
    tu_fill_normal(&r, E, sizeof E / 4, 0.7f);
    hd_tensor te = hd_tensor_2d(HD_TYPE_F32, Ad, 2 * RMAX + 1, E), tx = hd_tensor_2d(HD_TYPE_F32, AD, S, x),
              ty = hd_tensor_2d(HD_TYPE_F32, AD, S, y);
    hd_error err = {0};
    /* blocks of 4 (last one 3 frames), clamp 2 < block − 1 (clamping matters), whole call (block 0) */
    const struct { int block, clamp; } cases[] = {{4, 2}, {4, 4}, {0, 3}, {20, 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_nn_attn_ctx c = {.block = cases[i].block, .rel_pos = &te, .rel_max = RMAX, .rel_clamp = cases[i].clamp};
        hd_arena *a = hd_arena_create(hd_nn_attention_ctx_scratch_bytes(&f.w, S, &c) + 1024, &err);
        assert_non_null(a);
        hd_exec ex = {.backend = HD_BACKEND_CPU};
        assert_int_equal(hd_nn_attention(&ex, a, &ty, &f.w, &tx, &c, &err), HD_OK);
        const int b = cases[i].block > 0 ? cases[i].block : S;
        ref_attention(ref, f.wq, f.wk, f.wv, f.wo, x, S, x, S, b, b, E, RMAX, cases[i].clamp);
        assert_true(tu_max_rel_err(y, ref, S * AD) < 1e-5f);
        if (i == 0) {   /* the clamp matters here: the unclamped table gives other scores */
            ref_attention(ref, f.wq, f.wk, f.wv, f.wo, x, S, x, S, b, b, E, RMAX, RMAX);
            assert_true(tu_max_rel_err(y, ref, S * AD) > 1e-3f);
        }
        hd_arena_free(a);
    }
    /* without the table: plain block-local attention */
    hd_nn_attn_ctx c = {.block = 3};
    hd_arena *a = hd_arena_create(1 << 16, &err);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    assert_int_equal(hd_nn_attention(&ex, a, &ty, &f.w, &tx, &c, &err), HD_OK);
    ref_attention(ref, f.wq, f.wk, f.wv, f.wo, x, S, x, S, 3, 3, NULL, 0, 0);
    assert_true(tu_max_rel_err(y, ref, S * AD) < 1e-5f);
    /* ... and it differs from attention over the whole call (the blocks matter) */
    ref_attention(ref, f.wq, f.wk, f.wv, f.wo, x, S, x, S, S, S, NULL, 0, 0);
    assert_true(tu_max_rel_err(y, ref, S * AD) > 1e-2f);
    hd_arena_free(a);
}

static void test_block_cross_attention(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 8);
    attn_fixture f;
    attn_setup(&f, &r);
    enum { NW = 3, Q = 2, W = 5 };   /* 3 windows: 2 queries each over 5 frames */
    float x[NW * Q * AD], kv[NW * W * AD], y[NW * Q * AD], ref[NW * Q * AD];
    tu_fill_normal(&r, x, sizeof x / 4, 1.0f);
    tu_fill_normal(&r, kv, sizeof kv / 4, 1.0f);
    hd_tensor tx = hd_tensor_2d(HD_TYPE_F32, AD, NW * Q, x), tkv = hd_tensor_2d(HD_TYPE_F32, AD, NW * W, kv),
              ty = hd_tensor_2d(HD_TYPE_F32, AD, NW * Q, y);
    hd_nn_attn_ctx c = {.block = Q, .kv_block = W, .kv_input = &tkv};
    hd_error err = {0};
    hd_arena *a = hd_arena_create(1 << 16, &err);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    assert_int_equal(hd_nn_attention(&ex, a, &ty, &f.w, &tx, &c, &err), HD_OK);
    ref_attention(ref, f.wq, f.wk, f.wv, f.wo, x, NW * Q, kv, NW * W, Q, W, NULL, 0, 0);
    assert_true(tu_max_rel_err(y, ref, sizeof y / 4) < 1e-5f);

    /* argument checks */
    hd_tensor short_kv = hd_tensor_2d(HD_TYPE_F32, AD, 2 * W, kv);   /* 2 key blocks for 3 query blocks */
    c.kv_input = &short_kv;
    assert_int_equal(hd_nn_attention(&ex, a, &ty, &f.w, &tx, &c, &err), HD_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "block counts"));
    float E[7 * Ad] = {0};
    hd_tensor te = hd_tensor_2d(HD_TYPE_F32, Ad, 7, E);
    hd_nn_attn_ctx rel_cross = {.block = Q, .kv_block = W, .kv_input = &tkv, .rel_pos = &te, .rel_max = 3, .rel_clamp = 3};
    assert_int_equal(hd_nn_attention(&ex, a, &ty, &f.w, &tx, &rel_cross, &err), HD_ERR_ARG);
    hd_tensor tx3 = hd_tensor_2d(HD_TYPE_F32, AD, 3, x), ty3 = hd_tensor_2d(HD_TYPE_F32, AD, 3, y);
    hd_nn_attn_ctx bad_clamp = {.block = 2, .rel_pos = &te, .rel_max = 3, .rel_clamp = 4};
    assert_int_equal(hd_nn_attention(&ex, a, &ty3, &f.w, &tx3, &bad_clamp, &err), HD_ERR_ARG);
    hd_nn_attn_ctx bad_table = {.block = 2, .rel_pos = &te, .rel_max = 2, .rel_clamp = 2};   /* 7 rows ≠ 5 */
    assert_int_equal(hd_nn_attention(&ex, a, &ty3, &f.w, &tx3, &bad_table, &err), HD_ERR_SHAPE);
    hd_nn_attn_ctx causal = {.block = 2, .causal = true};
    assert_int_equal(hd_nn_attention(&ex, a, &ty3, &f.w, &tx3, &causal, &err), HD_ERR_ARG);
    hd_arena_free(a);
}

/* ---- configurations ----------------------------------------------------------- */

static const char *k_json =
    "{\"model_type\": \"granite_speech\", \"window_size\": 6, \"downsample_rate\": 3,"
    " \"encoder_config\": {\"input_dim\": 8, \"num_layers\": 2, \"hidden_dim\": 16, \"feedforward_mult\": 2,"
    "   \"num_heads\": 2, \"dim_head\": 4, \"output_dim\": 5, \"context_size\": 4, \"max_pos_emb\": 6,"
    "   \"conv_kernel_size\": 3, \"conv_expansion_factor\": 1},"
    " \"projector_config\": {\"model_type\": \"blip_2_qformer\", \"hidden_size\": 8, \"num_hidden_layers\": 1,"
    "   \"num_attention_heads\": 2, \"intermediate_size\": 12, \"encoder_hidden_size\": 16,"
    "   \"cross_attention_frequency\": 1, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12},"
    " \"text_config\": {\"model_type\": \"granite\", \"hidden_size\": 10}}";

static void test_config_json(void **state) {
    (void)state;
    hd_error err = {0};
    hd_granite_encoder_config ec;
    hd_qformer_config qc;
    assert_int_equal(hd_granite_encoder_config_from_hf_json(&ec, k_json, strlen(k_json), "cfg.json", &err), HD_OK);
    assert_int_equal(ec.input_dim, 8), assert_int_equal(ec.n_layer, 2), assert_int_equal(ec.hidden, 16);
    assert_int_equal(ec.context, 4), assert_int_equal(ec.max_pos_emb, 6), assert_int_equal(ec.conv_kernel, 3);
    assert_true(ec.norm_eps == 1e-5f);
    assert_int_equal(hd_qformer_config_from_hf_json(&qc, k_json, strlen(k_json), "cfg.json", &err), HD_OK);
    assert_int_equal(qc.hidden, 8), assert_int_equal(qc.n_out, 10), assert_int_equal(qc.window, 6);
    assert_int_equal(hd_qformer_n_query(&qc), 2);
    assert_int_equal(hd_qformer_n_rows(&qc, 0), 0);
    assert_int_equal(hd_qformer_n_rows(&qc, 1), 2);
    assert_int_equal(hd_qformer_n_rows(&qc, 6), 2);
    assert_int_equal(hd_qformer_n_rows(&qc, 13), 6);
    assert_int_equal(qc.act, HD_NN_ACT_GELU_ERF);

    /* HF defaults fill what the file leaves out */
    const char *bare = "{\"model_type\": \"granite_speech\", \"encoder_config\": {}, \"projector_config\": {}}";
    assert_int_equal(hd_granite_encoder_config_from_hf_json(&ec, bare, strlen(bare), "bare.json", &err), HD_OK);
    hd_granite_encoder_config def;
    hd_granite_encoder_config_default(&def);
    assert_memory_equal(&ec, &def, sizeof ec);
    const char *null_enc = "{\"model_type\": \"granite_speech\", \"encoder_config\": null}";
    memset(&ec, 0, sizeof ec);
    assert_int_equal(hd_granite_encoder_config_from_hf_json(&ec, null_enc, strlen(null_enc), "n.json", &err), HD_OK);
    assert_memory_equal(&ec, &def, sizeof ec);
    assert_int_equal(hd_qformer_config_from_hf_json(&qc, bare, strlen(bare), "bare.json", &err), HD_OK);
    assert_int_equal(qc.hidden, 768), assert_int_equal(qc.n_layer, 12), assert_int_equal(qc.cross_every, 2);
    assert_int_equal(qc.enc_hidden, 1408), assert_int_equal(qc.window, 15), assert_int_equal(qc.downsample, 5);
    assert_int_equal(qc.n_out, 4096);

    /* errors name the file and the problem */
    const struct { const char *json; const char *needle; int which; } bad[] = {
        {"{\"encoder_config\": {\"context_size\": 600}}", "max_pos_emb", 0},
        {"{\"encoder_config\": {\"num_layers\": 2.5}}", "num_layers", 0},
        {"{\"encoder_config\": {\"hidden_dim\": \"big\"}}", "hidden_dim", 0},
        {"{\"model_type\": \"llama\"}", "encoder_config", 0},
        {"{\"encoder_config\": ", "JSON", 0},
        {"{\"projector_config\": {\"model_type\": \"bert\"}}", "blip_2_qformer", 1},
        {"{\"projector_config\": {\"position_embedding_type\": \"relative_key\"}}", "position_embedding_type", 1},
        {"{\"projector_config\": {\"hidden_act\": \"relu6\"}}", "hidden_act", 1},
        {"{\"window_size\": 7, \"downsample_rate\": 3}", "window_size", 1},
        {"{\"projector_config\": {\"hidden_size\": 10, \"num_attention_heads\": 3}}", "heads", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (hd_error){0};
        hd_status st = bad[i].which ? hd_qformer_config_from_hf_json(&qc, bad[i].json, strlen(bad[i].json), "x.json", &err)
                                    : hd_granite_encoder_config_from_hf_json(&ec, bad[i].json, strlen(bad[i].json),
                                                                             "x.json", &err);
        assert_int_equal(st, HD_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "x.json"));
        if (!strstr(err.msg, bad[i].needle)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].needle);
    }
}

static void test_config_gguf(void **state) {
    (void)state;
    hd_error err = {0};
    hd_granite_encoder_config ec, ec2;
    hd_qformer_config qc, qc2;
    assert_int_equal(hd_granite_encoder_config_from_hf_json(&ec, k_json, strlen(k_json), "cfg.json", &err), HD_OK);
    assert_int_equal(hd_qformer_config_from_hf_json(&qc, k_json, strlen(k_json), "cfg.json", &err), HD_OK);
    ec.bn_eps = 2e-5f, qc.act = HD_NN_ACT_GELU;
    char path[512];
    snprintf(path, sizeof path, "%s/granite-cfg.gguf", tu_tmpdir());
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    assert_int_equal(hd_gguf_set_str(w, "general.architecture", "granite_speech"), HD_OK);
    assert_int_equal(hd_granite_encoder_config_to_gguf(&ec, w, &err), HD_OK);
    assert_int_equal(hd_qformer_config_to_gguf(&qc, w, &err), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    hd_gguf *g = hd_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(hd_granite_encoder_config_from_gguf(g, &ec2, &err), HD_OK);
    assert_int_equal(hd_qformer_config_from_gguf(g, &qc2, &err), HD_OK);
    assert_memory_equal(&ec, &ec2, sizeof ec);
    assert_memory_equal(&qc, &qc2, sizeof qc);
    hd_gguf_close(g);

    /* a file without the keys: the first missing key is named */
    w = hd_gguf_writer_create(&err);
    assert_int_equal(hd_gguf_set_str(w, "general.architecture", "granite_speech"), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &err), HD_OK);
    hd_gguf_writer_free(w);
    g = hd_gguf_open(path, &err);
    assert_int_equal(hd_granite_encoder_config_from_gguf(g, &ec2, &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "granite_speech.encoder.input_dim"));
    assert_int_equal(hd_qformer_config_from_gguf(g, &qc2, &err), HD_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "granite_speech.projector."));
    hd_gguf_close(g);
}

static void test_counts(void **state) {
    (void)state;
    hd_granite_encoder_config ec;
    hd_qformer_config qc;
    hd_granite_encoder_config_default(&ec);
    hd_qformer_config_default(&qc);
    /* granite-speech-3.3: 16 layers; parameters by hand (per layer: 2 FFNs of 8.4M,
     * attention 4.2M + the 1025×128 table, conv module 6.3M, norms) */
    ec.n_layer = 16, ec.n_ctc = 256;
    const int64_t D = 1024, F = 4096, A = 1024, C = 2048;
    const int64_t layer = 2 * (2 * D + 2 * F * D + F + D) + (2 * D + 4 * A * D + D + 1025 * 128) +
                          (2 * D + 2 * C * D + 2 * C + 15 * C + 4 * C + C * D + D) + 2 * D;
    assert_int_equal(hd_granite_encoder_n_params(&ec), 160 * D + D + 16 * layer + 2 * 256 * D + 256 + D);
    assert_int_equal(hd_granite_encoder_n_out(&ec, 1000), 1000);
    assert_int_equal(hd_qformer_n_query(&qc), 3);
    assert_int_equal(hd_qformer_n_rows(&qc, 1000), 67 * 3);   /* 10 s of audio → 201 LM rows */
    assert_true(hd_qformer_n_params(&qc) > 2 * (4 * D * D + 4 * D * D + 2 * F * D));
}

/* ---- loading ------------------------------------------------------------------------ */

typedef struct tensor_spec {
    char name[160];
    int n;
    int64_t shape[3];
} tensor_spec;

/* The HF tensors of k_json's model (outermost-first shapes). */
static int list_tensors(tensor_spec *t) {
    int n = 0;
#define ADD(nd, a, b, c, ...) (snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__), t[n].n = nd, \
                               t[n].shape[0] = a, t[n].shape[1] = b, t[n].shape[2] = c, n++)
    const int D = 16, F = 32, A = 8, C = 16, K = 3, P = 6, V = 5;
    ADD(2, D, 8, 0, "encoder.input_linear.weight"), ADD(1, D, 0, 0, "encoder.input_linear.bias");
    for (int l = 0; l < 2; l++) {
        for (int i = 1; i <= 2; i++) {
            ADD(1, D, 0, 0, "encoder.layers.%d.ff%d.pre_norm.weight", l, i);
            ADD(1, D, 0, 0, "encoder.layers.%d.ff%d.pre_norm.bias", l, i);
            ADD(2, F, D, 0, "encoder.layers.%d.ff%d.up_proj.weight", l, i);
            ADD(1, F, 0, 0, "encoder.layers.%d.ff%d.up_proj.bias", l, i);
            ADD(2, D, F, 0, "encoder.layers.%d.ff%d.down_proj.weight", l, i);
            ADD(1, D, 0, 0, "encoder.layers.%d.ff%d.down_proj.bias", l, i);
        }
        ADD(1, D, 0, 0, "encoder.layers.%d.attn.pre_norm.weight", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.attn.pre_norm.bias", l);
        ADD(2, A, D, 0, "encoder.layers.%d.attn.to_q.weight", l);
        ADD(2, 2 * A, D, 0, "encoder.layers.%d.attn.to_kv.weight", l);
        ADD(2, D, A, 0, "encoder.layers.%d.attn.to_out.weight", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.attn.to_out.bias", l);
        ADD(2, 2 * P + 1, 4, 0, "encoder.layers.%d.attn.rel_pos_emb.weight", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.conv.norm.weight", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.conv.norm.bias", l);
        ADD(3, 2 * C, D, 1, "encoder.layers.%d.conv.up_conv.weight", l);
        ADD(1, 2 * C, 0, 0, "encoder.layers.%d.conv.up_conv.bias", l);
        ADD(3, C, 1, K, "encoder.layers.%d.conv.depth_conv.conv.weight", l);
        ADD(1, C, 0, 0, "encoder.layers.%d.conv.batch_norm.weight", l);
        ADD(1, C, 0, 0, "encoder.layers.%d.conv.batch_norm.bias", l);
        ADD(1, C, 0, 0, "encoder.layers.%d.conv.batch_norm.running_mean", l);
        ADD(1, C, 0, 0, "encoder.layers.%d.conv.batch_norm.running_var", l);
        ADD(3, D, C, 1, "encoder.layers.%d.conv.down_conv.weight", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.conv.down_conv.bias", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.post_norm.weight", l);
        ADD(1, D, 0, 0, "encoder.layers.%d.post_norm.bias", l);
    }
    ADD(2, V, D, 0, "encoder.out.weight"), ADD(1, V, 0, 0, "encoder.out.bias");
    ADD(2, D, V, 0, "encoder.out_mid.weight"), ADD(1, D, 0, 0, "encoder.out_mid.bias");
    const int Dq = 8, Fq = 12, Q = 2;
    ADD(3, 1, Q, Dq, "projector.query");
    ADD(1, Dq, 0, 0, "projector.qformer.layernorm.weight"), ADD(1, Dq, 0, 0, "projector.qformer.layernorm.bias");
    const char *kinds[2] = {"attention", "crossattention"}, *proj[3] = {"query", "key", "value"};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++) {
            ADD(2, Dq, i && k ? D : Dq, 0, "projector.qformer.encoder.layer.0.%s.attention.%s.weight", kinds[k], proj[i]);
            ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.%s.attention.%s.bias", kinds[k], proj[i]);
        }
        ADD(2, Dq, Dq, 0, "projector.qformer.encoder.layer.0.%s.output.dense.weight", kinds[k]);
        ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.%s.output.dense.bias", kinds[k]);
        ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.%s.output.LayerNorm.weight", kinds[k]);
        ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.%s.output.LayerNorm.bias", kinds[k]);
    }
    ADD(2, Fq, Dq, 0, "projector.qformer.encoder.layer.0.intermediate_query.dense.weight");
    ADD(1, Fq, 0, 0, "projector.qformer.encoder.layer.0.intermediate_query.dense.bias");
    ADD(2, Dq, Fq, 0, "projector.qformer.encoder.layer.0.output_query.dense.weight");
    ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.output_query.dense.bias");
    ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.output_query.LayerNorm.weight");
    ADD(1, Dq, 0, 0, "projector.qformer.encoder.layer.0.output_query.LayerNorm.bias");
    ADD(2, 10, Dq, 0, "projector.linear.weight"), ADD(1, 10, 0, 0, "projector.linear.bias");
#undef ADD
    return n;
}

/* Writes the checkpoint (BF16 matrices, F32 vectors) with one change:
 * skip = index of a tensor left out, grow = index of one with a wrong first
 * dimension, neg_var: a negative running variance.  Returns the path. */
static const char *write_checkpoint(const char *name, int skip, int grow, bool neg_var) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", tu_tmpdir(), name);
    static tensor_spec t[256];
    const int n = list_tensors(t);
    hd_error err = {0};
    hd_st_writer *w = hd_st_writer_create(&err);
    assert_non_null(w);
    void *bufs[256] = {0};
    tu_rng r;
    tu_rng_seed(&r, 3);
    for (int i = 0; i < n; i++) {
        if (i == skip) continue;
        int64_t shape[3] = {t[i].shape[0] + (i == grow), t[i].shape[1], t[i].shape[2]}, cnt = 1;
        for (int j = 0; j < t[i].n; j++) cnt *= shape[j];
        float *f = malloc((size_t)cnt * sizeof *f);
        tu_fill_normal(&r, f, (size_t)cnt, 0.3f);
        const bool var = strstr(t[i].name, "running_var") != NULL;
        if (var)
            for (int64_t j = 0; j < cnt; j++) f[j] = 0.5f + fabsf(f[j]) - (neg_var && j == 3 ? 2.0f : 0.0f);
        if (t[i].n >= 2) {   /* matrices and tables as BF16, as the published files */
            uint16_t *b = malloc((size_t)cnt * sizeof *b);
            for (int64_t j = 0; j < cnt; j++) b[j] = hd_f32_to_bf16(f[j]);
            free(f);
            bufs[i] = b;
            assert_int_equal(hd_st_writer_add(w, t[i].name, HD_TYPE_BF16, t[i].n, shape, b, &err), HD_OK);
        } else {
            bufs[i] = f;
            assert_int_equal(hd_st_writer_add(w, t[i].name, HD_TYPE_F32, t[i].n, shape, f, &err), HD_OK);
        }
    }
    assert_int_equal(hd_st_writer_write(w, path, &err), HD_OK);
    hd_st_writer_free(w);
    for (int i = 0; i < n; i++) free(bufs[i]);
    return path;
}

static int find_tensor(const char *name) {
    static tensor_spec t[256];
    const int n = list_tensors(t);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return i;
    fail_msg("no tensor %s", name);
    return -1;
}

static void test_load_and_run(void **state) {
    (void)state;
    hd_error err = {0};
    hd_granite_encoder_config ec;
    hd_qformer_config qc;
    assert_int_equal(hd_granite_encoder_config_from_hf_json(&ec, k_json, strlen(k_json), "cfg.json", &err), HD_OK);
    assert_int_equal(hd_qformer_config_from_hf_json(&qc, k_json, strlen(k_json), "cfg.json", &err), HD_OK);
    const char *path = write_checkpoint("granite-ok", -1, -1, false);
    hd_weights *w = hd_weights_open(path, &err);
    assert_non_null(w);
    hd_granite_encoder *enc = hd_granite_encoder_load(w, "encoder.", &ec, &err);
    if (!enc) fail_msg("%s", err.msg);
    hd_qformer *qf = hd_qformer_load(w, "projector.", &qc, &err);
    if (!qf) fail_msg("%s", err.msg);
    enum { T = 9 };
    float feats[T * 8], x[T * 16], y[6 * 10], x2[T * 16];
    tu_rng r;
    tu_rng_seed(&r, 4);
    tu_fill_normal(&r, feats, sizeof feats / 4, 1.0f);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    assert_int_equal(hd_granite_encoder_encode(enc, &ex, feats, 0, NULL, &err), HD_OK);   /* nothing to do */
    assert_int_equal(hd_granite_encoder_encode(enc, &ex, feats, -1, x, &err), HD_ERR_ARG);
    assert_int_equal(hd_granite_encoder_encode(enc, &ex, feats, T, x, &err), HD_OK);
    assert_int_equal(hd_qformer_n_rows(&qc, T), 4);
    assert_int_equal(hd_qformer_forward(qf, &ex, x, T, y, &err), HD_OK);
    for (int i = 0; i < 4 * 10; i++) assert_true(isfinite(y[i]));
    /* a second run on the same encoder (its arena reused) gives the same bytes */
    assert_int_equal(hd_granite_encoder_encode(enc, &ex, feats, T, x2, &err), HD_OK);
    assert_memory_equal(x, x2, sizeof x);
    hd_qformer_free(qf);
    hd_granite_encoder_free(enc);
    hd_weights_close(w);

    /* errors name the file and the tensor */
    const struct { const char *tensor; int how; const char *needle; } bad[] = {
        {"encoder.layers.1.attn.rel_pos_emb.weight", 0, "missing"},
        {"encoder.layers.0.conv.depth_conv.conv.weight", 1, "shape"},
        {"encoder.out_mid.weight", 1, "shape"},
        {"encoder.layers.0.conv.batch_norm.running_var", 2, "variance"},
        {"projector.qformer.encoder.layer.0.crossattention.attention.key.weight", 1, "shape"},
        {"projector.query", 0, "missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const int idx = find_tensor(bad[i].tensor);
        char nm[32];
        snprintf(nm, sizeof nm, "granite-bad%zu", i);
        path = write_checkpoint(nm, bad[i].how == 0 ? idx : -1, bad[i].how == 1 ? idx : -1, bad[i].how == 2);
        w = hd_weights_open(path, &err);
        assert_non_null(w);
        err = (hd_error){0};
        const bool is_enc = strncmp(bad[i].tensor, "encoder.", 8) == 0;
        void *m = is_enc ? (void *)hd_granite_encoder_load(w, "encoder.", &ec, &err)
                         : (void *)hd_qformer_load(w, "projector.", &qc, &err);
        assert_null(m);
        if (!strstr(err.msg, path) || !strstr(err.msg, bad[i].tensor) || !strstr(err.msg, bad[i].needle))
            fail_msg("case %zu: \"%s\"", i, err.msg);
        hd_weights_close(w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shaw_block_attention),
        cmocka_unit_test(test_block_cross_attention),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_config_gguf),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_load_and_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
