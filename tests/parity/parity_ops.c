/* tests/parity/parity_ops.c — the C runner for tests/parity/ops_ref.py: each
 * case composes core/ops.h the way model code does and writes its outputs.
 * Shapes in comments are ggml order (innermost first). */
#include "runner_io.h"

#include "core/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x)                                                                                                 \
    do {                                                                                                       \
        hd_status st_ = (x);                                                                                   \
        if (st_) return st_;                                                                                   \
    } while (0)

static hd_tensor t2(pr_io *io, int64_t a, int64_t b) {
    int64_t ne[2] = {a, b};
    return pr_temp(io, 2, ne);
}

/* A view of rows [r0, r0 + n) of a 2-D (or the last dimension of a 3-D) tensor. */
static hd_tensor rows(const hd_tensor *t, int64_t r0, int64_t n) {
    hd_tensor v = *t;
    int last = t->n_dims - 1;
    v.data = (char *)t->data + (size_t)r0 * t->nb[last];
    v.ne[last] = n;
    return v;
}

/* y[N, M] = x[K, M] · w[K, N]ᵀ: a plain loop, or hd_op_linear. */
static hd_status matmul(hd_exec *ex, bool use_linear, hd_tensor *y, const hd_tensor *w, const hd_tensor *x,
                        hd_error *err) {
    if (use_linear) return hd_op_linear(ex, y, w, x, NULL, err);
    const int64_t K = w->ne[0], N = w->ne[1], M = x->ne[1];
    if (x->ne[0] != K || y->ne[0] != N || y->ne[1] != M)
        return hd_error_set(err, HD_ERR_SHAPE, "matmul: shapes do not fit");
    for (int64_t m = 0; m < M; m++) {
        const float *xr = (const float *)hd_tensor_row(x, m, 0, 0);
        float *yr = (float *)hd_tensor_row(y, m, 0, 0);
        for (int64_t n = 0; n < N; n++) {
            const float *wr = (const float *)hd_tensor_row(w, n, 0, 0);
            double a = 0;
            for (int64_t k = 0; k < K; k++) a += (double)xr[k] * wr[k];
            yr[n] = (float)a;
        }
    }
    return HD_OK;
}

/* ---- pre-norm transformer block, optionally over a KV cache in chunks --------------- */

static hd_status case_block(pr_io *io, hd_error *err) {
    hd_exec *ex = pr_exec(io);
    hd_tensor x, attn_norm, wq, wk, wv, wo, ffn_norm, wg, wu, wd, invf;
    TRY(pr_input(io, "x", HD_TYPE_F32, &x, err));                 /* [D, S]      */
    TRY(pr_input(io, "attn_norm", HD_TYPE_F32, &attn_norm, err)); /* [D]         */
    TRY(pr_input(io, "wq", HD_TYPE_F32, &wq, err));               /* [D, H·d]    */
    TRY(pr_input(io, "wk", HD_TYPE_F32, &wk, err));               /* [D, G·d]    */
    TRY(pr_input(io, "wv", HD_TYPE_F32, &wv, err));               /* [D, G·d]    */
    TRY(pr_input(io, "wo", HD_TYPE_F32, &wo, err));               /* [H·d, D]    */
    TRY(pr_input(io, "ffn_norm", HD_TYPE_F32, &ffn_norm, err));   /* [D]         */
    TRY(pr_input(io, "w_gate", HD_TYPE_F32, &wg, err));           /* [D, F]      */
    TRY(pr_input(io, "w_up", HD_TYPE_F32, &wu, err));             /* [D, F]      */
    TRY(pr_input(io, "w_down", HD_TYPE_F32, &wd, err));           /* [F, D]      */
    TRY(pr_input(io, "inv_freq", HD_TYPE_F32, &invf, err));       /* [d/2]       */
    const int32_t *pos;
    int64_t n_pos;
    TRY(pr_input_i32(io, "pos", &pos, &n_pos, err));              /* [S]         */
    double eps;
    int64_t H, G;
    TRY(pr_meta_f64(io, "eps", 1e-5, &eps, err));
    TRY(pr_meta_i64(io, "n_head", 0, &H, err));
    TRY(pr_meta_i64(io, "n_kv_head", 0, &G, err));
    const char *mode_s = pr_meta_str(io, "rope", "neox"), *cache_s = pr_meta_str(io, "cache", "none");
    const bool linear = strcmp(pr_meta_str(io, "matmul", "plain"), "linear") == 0;
    const int64_t D = x.ne[0], S = x.ne[1], F = wg.ne[1];
    if (H <= 0 || G <= 0 || D % H != 0 || n_pos != S)
        return hd_error_set(err, HD_ERR_ARG, "block: n_head %lld, n_kv_head %lld, %lld positions do not fit x",
                            (long long)H, (long long)G, (long long)n_pos);
    const int64_t d = D / H;
    const hd_rope_mode mode = strcmp(mode_s, "neox") == 0 ? HD_ROPE_NEOX : HD_ROPE_INTERLEAVED;
    const bool use_cache = strcmp(cache_s, "none") != 0, f16_cache = strcmp(cache_s, "f16") == 0;

    /* KV cache: [d, G, S] of F32 or F16 (F16 stored by hand: converting is not this file's op). */
    int64_t kv_ne[3] = {d, G, S};
    hd_tensor kc = pr_temp(io, 3, kv_ne), vc = pr_temp(io, 3, kv_ne);
    if (f16_cache) {
        kc = hd_tensor_3d(HD_TYPE_F16, d, G, S, kc.data);
        vc = hd_tensor_3d(HD_TYPE_F16, d, G, S, vc.data);
    }
    hd_tensor h_out = pr_output(io, "h", 2, x.ne), y_out = pr_output(io, "y", 2, x.ne);   /* [D, S] */

    /* chunks "7,1,1,1,3" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pr_meta_str(io, "chunks", ""));
    int64_t s0 = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        const int64_t n = strtoll(tok, NULL, 10);
        if (n <= 0 || s0 + n > S) return hd_error_set(err, HD_ERR_ARG, "block: bad chunk list");
        hd_tensor xs = rows(&x, s0, n), hs = rows(&h_out, s0, n), ys = rows(&y_out, s0, n);
        hd_tensor n1 = t2(io, D, n), q = t2(io, H * d, n), k = t2(io, G * d, n), v = t2(io, G * d, n);
        hd_tensor o = t2(io, H * d, n), proj = t2(io, D, n);
        TRY(hd_op_rms_norm(ex, &n1, &xs, &attn_norm, (float)eps, err));
        TRY(matmul(ex, linear, &q, &wq, &n1, err));
        TRY(matmul(ex, linear, &k, &wk, &n1, err));
        TRY(matmul(ex, linear, &v, &wv, &n1, err));
        hd_tensor q3 = hd_tensor_3d(HD_TYPE_F32, d, H, n, q.data);        /* [d, H, n] */
        hd_tensor k3 = hd_tensor_3d(HD_TYPE_F32, d, G, n, k.data);        /* [d, G, n] */
        hd_tensor v3 = hd_tensor_3d(HD_TYPE_F32, d, G, n, v.data);
        TRY(hd_op_rope(ex, &q3, pos + s0, invf.data, (int)d, mode, err));
        TRY(hd_op_rope(ex, &k3, pos + s0, invf.data, (int)d, mode, err));
        hd_tensor K = k3, V = v3;
        int64_t q_offset = 0;
        if (use_cache) {
            const int64_t cnt = d * G * n;
            if (f16_cache) {
                hd_f16 *kd = (hd_f16 *)kc.data + s0 * d * G, *vd = (hd_f16 *)vc.data + s0 * d * G;
                for (int64_t i = 0; i < cnt; i++) {
                    kd[i] = hd_f32_to_f16(((float *)k.data)[i]);
                    vd[i] = hd_f32_to_f16(((float *)v.data)[i]);
                }
            } else {
                memcpy((float *)kc.data + s0 * d * G, k.data, (size_t)cnt * sizeof(float));
                memcpy((float *)vc.data + s0 * d * G, v.data, (size_t)cnt * sizeof(float));
            }
            K = rows(&kc, 0, s0 + n);
            V = rows(&vc, 0, s0 + n);
            q_offset = s0;
        }
        hd_tensor o3 = hd_tensor_3d(HD_TYPE_F32, d, H, n, o.data);
        hd_attn_params p = {.scale = 1.0f / sqrtf((float)d), .causal = true, .q_offset = q_offset, .mask = NULL};
        TRY(hd_op_attention(ex, &o3, &q3, &K, &V, &p, err));
        TRY(matmul(ex, linear, &proj, &wo, &o, err));
        TRY(hd_op_add(ex, &hs, &xs, &proj, err));                         /* h = x + attn */
        hd_tensor n2 = t2(io, D, n), g = t2(io, F, n), u = t2(io, F, n), m = t2(io, D, n);
        TRY(hd_op_rms_norm(ex, &n2, &hs, &ffn_norm, (float)eps, err));
        TRY(matmul(ex, linear, &g, &wg, &n2, err));
        TRY(matmul(ex, linear, &u, &wu, &n2, err));
        TRY(hd_op_swiglu(ex, &u, &g, &u, err));                            /* in place, as core/nn.c does */
        TRY(matmul(ex, linear, &m, &wd, &u, err));
        TRY(hd_op_add(ex, &ys, &hs, &m, err));                            /* y = h + mlp */
        s0 += n;
    }
    if (s0 != S) return hd_error_set(err, HD_ERR_ARG, "block: chunks cover %lld of %lld tokens", (long long)s0, (long long)S);
    return HD_OK;
}

/* ---- attention alone ------------------------------------------------------------------ */

static hd_status case_attention(pr_io *io, hd_error *err) {
    hd_tensor q, k, v, mask;
    TRY(pr_input(io, "q", HD_TYPE_F32, &q, err));  /* [d, H, S] */
    /* K/V keep their file type (F32 or F16, like a KV cache) */
    const hd_type kt = pr_input_type(io, "k") == HD_TYPE_F16 ? HD_TYPE_F16 : HD_TYPE_F32;
    TRY(pr_input(io, "k", kt, &k, err));           /* [d, G, T] */
    TRY(pr_input(io, "v", kt, &v, err));
    double scale;
    int64_t causal, q_offset;
    TRY(pr_meta_f64(io, "scale", 1.0, &scale, err));
    TRY(pr_meta_i64(io, "causal", 0, &causal, err));
    TRY(pr_meta_i64(io, "q_offset", 0, &q_offset, err));
    bool has_mask = pr_has_input(io, "mask");
    if (has_mask) TRY(pr_input(io, "mask", HD_TYPE_F32, &mask, err));  /* [T, S] */
    hd_tensor out = pr_output(io, "out", 3, q.ne);
    hd_attn_params p = {.scale = (float)scale, .causal = causal != 0, .q_offset = q_offset,
                        .mask = has_mask ? &mask : NULL};
    return hd_op_attention(pr_exec(io), &out, &q, &k, &v, &p, err);
}

/* ---- convolutions ----------------------------------------------------------------------- */

static hd_status case_conv(pr_io *io, hd_error *err) {
    hd_exec *ex = pr_exec(io);
    hd_tensor x, w, b, xd, wd, bd;
    TRY(pr_input(io, "x", HD_TYPE_F32, &x, err));    /* [T, C_in]        */
    TRY(pr_input(io, "w", HD_TYPE_F32, &w, err));    /* [3, C_in, C_out] */
    TRY(pr_input(io, "b", HD_TYPE_F32, &b, err));
    TRY(pr_input(io, "xd", HD_TYPE_F32, &xd, err));  /* [T, C]           */
    TRY(pr_input(io, "wd", HD_TYPE_F16, &wd, err));  /* [7, 1, C] F16    */
    TRY(pr_input(io, "bd", HD_TYPE_F32, &bd, err));
    int64_t ne1[2] = {(x.ne[0] + 2 - 3) / 2 + 1, w.ne[2]};
    hd_tensor y1 = pr_output(io, "y_stride2", 2, ne1);
    TRY(hd_op_conv1d(ex, &y1, &x, &w, &b, 2, 1, 1, err));
    hd_tensor y2 = pr_output(io, "y_depthwise", 2, xd.ne);
    TRY(hd_op_conv1d(ex, &y2, &xd, &wd, &bd, 1, 3, (int)xd.ne[1], err));
    hd_tensor xl, wl, bl;
    TRY(pr_input(io, "xl", HD_TYPE_F32, &xl, err));  /* [T, 64]          */
    TRY(pr_input(io, "wl", HD_TYPE_F16, &wl, err));  /* [3, 64, 96] F16  */
    TRY(pr_input(io, "bl", HD_TYPE_F32, &bl, err));
    int64_t ne3[2] = {(xl.ne[0] + 2 - 3) / 2 + 1, wl.ne[2]};
    hd_tensor y3 = pr_output(io, "y_large", 2, ne3);
    return hd_op_conv1d(ex, &y3, &xl, &wl, &bl, 2, 1, 1, err);
}

static hd_status case_conformer_conv(pr_io *io, hd_error *err) {
    hd_exec *ex = pr_exec(io);
    hd_tensor x, ln_w, ln_b, pw1_w, pw1_b, dw_w, dw_b, bn_m, bn_v, bn_w, bn_b, pw2_w, pw2_b;
    TRY(pr_input(io, "x", HD_TYPE_F32, &x, err));            /* [D, T]       */
    TRY(pr_input(io, "ln_w", HD_TYPE_F32, &ln_w, err));
    TRY(pr_input(io, "ln_b", HD_TYPE_F32, &ln_b, err));
    TRY(pr_input(io, "pw1_w", HD_TYPE_F32, &pw1_w, err));    /* [1, D, 2D]   */
    TRY(pr_input(io, "pw1_b", HD_TYPE_F32, &pw1_b, err));
    TRY(pr_input(io, "dw_w", HD_TYPE_F32, &dw_w, err));      /* [K, 1, D]    */
    TRY(pr_input(io, "dw_b", HD_TYPE_F32, &dw_b, err));
    TRY(pr_input(io, "bn_mean", HD_TYPE_F32, &bn_m, err));
    TRY(pr_input(io, "bn_var", HD_TYPE_F32, &bn_v, err));
    TRY(pr_input(io, "bn_w", HD_TYPE_F32, &bn_w, err));
    TRY(pr_input(io, "bn_b", HD_TYPE_F32, &bn_b, err));
    TRY(pr_input(io, "pw2_w", HD_TYPE_F32, &pw2_w, err));    /* [1, D, D]    */
    TRY(pr_input(io, "pw2_b", HD_TYPE_F32, &pw2_b, err));
    double eps, bn_eps;
    TRY(pr_meta_f64(io, "eps", 1e-5, &eps, err));
    TRY(pr_meta_f64(io, "bn_eps", 1e-5, &bn_eps, err));
    const int64_t D = x.ne[0], T = x.ne[1], K = dw_w.ne[0];
    hd_tensor n = t2(io, D, T), nt = t2(io, T, D), p1 = t2(io, T, 2 * D), gate = t2(io, T, D);
    hd_tensor g = t2(io, T, D), dw = t2(io, T, D), p2 = t2(io, T, D);
    TRY(hd_op_layer_norm(ex, &n, &x, &ln_w, &ln_b, (float)eps, err));
    TRY(hd_op_transpose(ex, &nt, &n, err));                         /* channels outer: [T, D]   */
    TRY(hd_op_conv1d(ex, &p1, &nt, &pw1_w, &pw1_b, 1, 0, 1, err));  /* [T, 2D]                  */
    /* GLU over channels: first D channel rows ⊙ sigmoid(last D), as two views */
    hd_tensor a = rows(&p1, 0, D), b = rows(&p1, D, D);
    TRY(hd_op_sigmoid(ex, &gate, &b, err));
    TRY(hd_op_mul(ex, &g, &a, &gate, err));
    TRY(hd_op_conv1d(ex, &dw, &g, &dw_w, &dw_b, 1, (int)(K - 1) / 2, (int)D, err));
    TRY(hd_op_batch_norm(ex, &dw, &dw, &bn_m, &bn_v, &bn_w, &bn_b, (float)bn_eps, err));
    TRY(hd_op_silu(ex, &dw, &dw, err));
    TRY(hd_op_conv1d(ex, &p2, &dw, &pw2_w, &pw2_b, 1, 0, 1, err));
    hd_tensor y = pr_output(io, "y", 2, x.ne);                      /* [D, T] */
    return hd_op_transpose(ex, &y, &p2, err);
}

static hd_status case_patch_embed(pr_io *io, hd_error *err) {
    hd_tensor img, w, w16, b;
    TRY(pr_input(io, "img", HD_TYPE_F32, &img, err));   /* [W, H, C]    */
    TRY(pr_input(io, "w", HD_TYPE_F32, &w, err));       /* [P, P, C, D] */
    TRY(pr_input(io, "w16", HD_TYPE_F16, &w16, err));
    TRY(pr_input(io, "b", HD_TYPE_F32, &b, err));
    int64_t P;
    TRY(pr_meta_i64(io, "patch", 14, &P, err));
    int64_t ne[2] = {w.ne[3], (img.ne[0] / P) * (img.ne[1] / P)};
    hd_tensor y = pr_output(io, "y", 2, ne), y16 = pr_output(io, "y_f16", 2, ne);
    TRY(hd_op_patch_embed(pr_exec(io), &y, &img, &w, &b, (int)P, err));
    return hd_op_patch_embed(pr_exec(io), &y16, &img, &w16, &b, (int)P, err);
}

/* ---- element-wise, softmax, norms, layout ------------------------------------------------ */

static hd_status case_misc(pr_io *io, hd_error *err) {
    hd_exec *ex = pr_exec(io);
    hd_tensor x, b, bias, w, lb, z;
    TRY(pr_input(io, "x", HD_TYPE_F32, &x, err));       /* [N, R] */
    TRY(pr_input(io, "b", HD_TYPE_F32, &b, err));       /* [N, R] */
    TRY(pr_input(io, "bias", HD_TYPE_F32, &bias, err)); /* [N]    */
    TRY(pr_input(io, "w", HD_TYPE_F32, &w, err));
    TRY(pr_input(io, "lb", HD_TYPE_F32, &lb, err));
    TRY(pr_input(io, "z", HD_TYPE_F32, &z, err));       /* [N, 4] */
    double eps, sm_scale, scale;
    TRY(pr_meta_f64(io, "eps", 1e-6, &eps, err));
    TRY(pr_meta_f64(io, "softmax_scale", 1.0, &sm_scale, err));
    TRY(pr_meta_f64(io, "scale", 1.0, &scale, err));
    const int64_t N = x.ne[0], R = x.ne[1];
    static const struct {
        const char *name;
        hd_status (*op)(hd_exec *, hd_tensor *, const hd_tensor *, hd_error *);
    } un[] = {{"gelu", hd_op_gelu}, {"gelu_erf", hd_op_gelu_erf}, {"silu", hd_op_silu},
              {"sigmoid", hd_op_sigmoid}, {"tanh", hd_op_tanh}};
    for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) {
        hd_tensor y = pr_output(io, un[i].name, 2, x.ne);
        TRY(un[i].op(ex, &y, &x, err));
    }
    hd_tensor sm = pr_output(io, "softmax", 2, x.ne);
    memcpy(sm.data, x.data, hd_tensor_nbytes(&x));
    TRY(hd_op_softmax(ex, &sm, (float)sm_scale, err));
    int64_t gne[2] = {N / 2, R};
    hd_tensor gl = pr_output(io, "glu", 2, gne);
    TRY(hd_op_glu(ex, &gl, &x, err));
    hd_tensor sw = pr_output(io, "swiglu", 2, x.ne);
    TRY(hd_op_swiglu(ex, &sw, &x, &b, err));
    hd_tensor ln = pr_output(io, "layer_norm", 2, x.ne), rn = pr_output(io, "rms_norm", 2, x.ne);
    TRY(hd_op_layer_norm(ex, &ln, &x, &w, &lb, (float)eps, err));
    TRY(hd_op_rms_norm(ex, &rn, &x, &w, (float)eps, err));
    hd_tensor ab = pr_output(io, "add_bias", 2, x.ne), mu = pr_output(io, "mul", 2, x.ne);
    hd_tensor sc = pr_output(io, "scale", 2, x.ne);
    TRY(hd_op_add(ex, &ab, &x, &bias, err));
    TRY(hd_op_mul(ex, &mu, &x, &b, err));
    TRY(hd_op_scale(ex, &sc, &x, (float)scale, err));
    int64_t crn[2] = {N, R + z.ne[1]}, ccn[2] = {2 * N, R}, tn[2] = {R, N};
    hd_tensor cr = pr_output(io, "concat_rows", 2, crn), cc = pr_output(io, "concat_cols", 2, ccn);
    hd_tensor tr = pr_output(io, "transpose", 2, tn);
    TRY(hd_op_concat(ex, &cr, &x, &z, 1, err));
    TRY(hd_op_concat(ex, &cc, &x, &b, 0, err));
    return hd_op_transpose(ex, &tr, &x, err);
}

static const pr_case cases[] = {
    {"block", case_block},
    {"block_cached", case_block},
    {"block_cached_f16", case_block},
    {"block_mqa_linear", case_block},
    {"attention_mask", case_attention},
    {"attention_f16_cache", case_attention},
    {"conv", case_conv},
    {"conformer_conv", case_conformer_conv},
    {"patch_embed", case_patch_embed},
    {"misc", case_misc},
    {NULL, NULL},
};

int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
