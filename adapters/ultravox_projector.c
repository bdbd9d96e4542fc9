/* adapters/ultravox_projector.c — Ultravox's stack + SwiGLU projector
 * (see ultravox_projector.h for the math and the names). */
#include "adapters/ultravox_projector.h"

#include "core/arena.h"
#include "core/nn.h"
#include "core/ops.h"
#include "core/types.h"

#include <stdlib.h>
#include <string.h>

struct hd_ultravox_projector {
    hd_ultravox_projector_config c;
    hd_tensor w1;          /* [C·S, H]   linear_1 (ggml order)                */
    hd_tensor w1_x;        /* [C·S, H/2] rows 0 .. H/2−1 of w1: the value half */
    hd_tensor w1_gate;     /* [C·S, H/2] rows H/2 .. H−1: the gate half         */
    hd_tensor w2;          /* [H/2, D_lm] linear_2                              */
    float *norm_pre;       /* [C·S] F32, owned                                  */
    float *norm_mid;       /* [H/2] F32, owned (ln_mid)                         */
    float *norm_post;      /* [D_lm] F32, owned (no ln_mid)                     */
    hd_tensor t_pre, t_mid, t_post;   /* views of the three above               */
    hd_arena *arena;       /* activations for arena_rows output rows            */
    int64_t arena_rows;
};

hd_status hd_ultravox_projector_config_check(const hd_ultravox_projector_config *c, hd_error *err) {
    const char *bad = NULL;
    if (c->n_in < 1) bad = "encoder width (audio_config d_model)";
    else if (c->stack_factor < 1 || c->stack_factor > 64) bad = "stack_factor (1..64)";
    else if (c->n_hidden < 2 || c->n_hidden % 2) bad = "hidden_size (even, SwiGLU halves it)";
    else if (c->n_out < 1) bad = "LM width (text_config hidden_size)";
    else if (!(c->norm_eps > 0.0f)) bad = "RMSNorm eps";
    else if ((int64_t)c->n_in * c->stack_factor > (INT64_C(1) << 30)) bad = "encoder width × stack_factor";
    if (bad) return hd_error_set(err, HD_ERR_ARG, "ultravox projector: bad %s", bad);
    return HD_OK;
}

int64_t hd_ultravox_projector_n_out(const hd_ultravox_projector_config *c, int64_t n_frames) {
    if (n_frames <= 0 || c->stack_factor < 1) return 0;
    return (n_frames + c->stack_factor - 1) / c->stack_factor;
}

/* An owned F32 copy of a 1-D norm weight stored as F32, F16 or BF16. */
static float *norm_copy(const hd_tensor *t, int64_t n) {
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (t->type == HD_TYPE_F32) f[i] = ((const float *)t->data)[i];
        else if (t->type == HD_TYPE_F16) f[i] = hd_f16_to_f32(((const hd_f16 *)t->data)[i]);
        else f[i] = hd_bf16_to_f32(((const hd_bf16 *)t->data)[i]);
    }
    return f;
}

hd_ultravox_projector *hd_ultravox_projector_create(const hd_weights *w, const hd_ultravox_projector_config *c,
                                                    hd_ultravox_names names, hd_error *err) {
    if (!w || !c) {
        hd_error_set(err, HD_ERR_ARG, "ultravox projector: no weights or configuration");
        return NULL;
    }
    if (hd_ultravox_projector_config_check(c, err)) return NULL;
    const bool hf = names == HD_ULTRAVOX_NAMES_HF;
    const int64_t CS = (int64_t)c->n_in * c->stack_factor, H = c->n_hidden, Hm = H / 2, D = c->n_out;
    hd_ultravox_projector *p = calloc(1, sizeof *p);
    if (!p) {
        hd_error_set(err, HD_ERR_NOMEM, "ultravox projector: out of memory");
        return NULL;
    }
    p->c = *c;
    hd_weights_loader L = {.w = w, .err = err, .st = HD_OK};
    hd_tensor pre, mid, post;
    hd_weights_load(&L, &pre, HD_TYPES_FLOAT, CS, 0,
                    hf ? "multi_modal_projector.ln_pre.weight" : "mm.a.norm_pre.weight", 0);       /* [C·S]       */
    hd_weights_load(&L, &p->w1, HD_TYPES_ANY, H, CS,
                    hf ? "multi_modal_projector.linear_1.weight" : "mm.a.mlp.1.weight", 0);        /* [H, C·S]    */
    if (c->ln_mid)
        hd_weights_load(&L, &mid, HD_TYPES_FLOAT, Hm, 0,
                        hf ? "multi_modal_projector.ln_mid.weight" : "mm.a.norm_mid.weight", 0);   /* [H/2]       */
    hd_weights_load(&L, &p->w2, HD_TYPES_ANY, D, Hm,
                    hf ? "multi_modal_projector.linear_2.weight" : "mm.a.mlp.2.weight", 0);        /* [D_lm, H/2] */
    if (!c->ln_mid)
        hd_weights_load(&L, &post, HD_TYPES_FLOAT, D, 0,
                        hf ? "multi_modal_projector.ln_post.weight" : "mm.a.norm_post.weight", 0); /* [D_lm]      */
    if (L.st) {
        hd_ultravox_projector_free(p);
        return NULL;
    }
    p->norm_pre = norm_copy(&pre, CS);
    if (c->ln_mid) p->norm_mid = norm_copy(&mid, Hm);
    else p->norm_post = norm_copy(&post, D);
    if (!p->norm_pre || (c->ln_mid ? !p->norm_mid : !p->norm_post)) {
        hd_ultravox_projector_free(p);
        hd_error_set(err, HD_ERR_NOMEM, "ultravox projector: out of memory");
        return NULL;
    }
    p->t_pre = hd_tensor_1d(HD_TYPE_F32, CS, p->norm_pre);
    if (c->ln_mid) p->t_mid = hd_tensor_1d(HD_TYPE_F32, Hm, p->norm_mid);
    else p->t_post = hd_tensor_1d(HD_TYPE_F32, D, p->norm_post);
    /* the two halves of linear_1's output are its first and last H/2 rows:
     * contiguous row ranges of the stored matrix */
    p->w1_x = p->w1;
    p->w1_x.ne[1] = Hm;
    p->w1_gate = p->w1_x;
    p->w1_gate.data = (char *)p->w1.data + (size_t)Hm * p->w1.nb[1];
    return p;
}

void hd_ultravox_projector_free(hd_ultravox_projector *p) {
    if (!p) return;
    hd_arena_free(p->arena);
    free(p->norm_pre), free(p->norm_mid), free(p->norm_post);
    free(p);
}

const hd_ultravox_projector_config *hd_ultravox_projector_config_of(const hd_ultravox_projector *p) { return &p->c; }

/* Arena for T rows: the stacked input, the two halves (the value half then
 * holds the product), linear temporaries. */
static size_t arena_bytes(const hd_ultravox_projector_config *c, int64_t T) {
    const int64_t CS = (int64_t)c->n_in * c->stack_factor, Hm = c->n_hidden / 2;
    return hd_nn_f32_bytes(CS * T) + 2 * hd_nn_f32_bytes(Hm * T) + 64 * 8;
}

hd_status hd_ultravox_projector_forward(hd_ultravox_projector *p, hd_exec *ex, const float *x, int64_t n_frames,
                                        float *y, hd_error *err) {
    const hd_ultravox_projector_config *c = &p->c;
    if (n_frames < 0 || n_frames > (INT64_C(1) << 31))
        return hd_error_set(err, HD_ERR_ARG, "ultravox projector: %lld input frames out of range",
                            (long long)n_frames);
    const int64_t T = hd_ultravox_projector_n_out(c, n_frames);
    if (T == 0) return HD_OK;
    if (!x || !y) return hd_error_set(err, HD_ERR_ARG, "ultravox projector: no input or output buffer");
    if (T > p->arena_rows) {
        hd_arena *n = hd_arena_create(arena_bytes(c, T), err);
        if (!n) return err ? err->code : HD_ERR_NOMEM;
        hd_arena_free(p->arena);
        p->arena = n, p->arena_rows = T;
    }
    hd_arena_reset(p->arena, 0);
    const int64_t C = c->n_in, CS = C * c->stack_factor, Hm = c->n_hidden / 2;
    const int64_t ne_s[2] = {CS, T}, ne_h[2] = {Hm, T};
    hd_tensor xs = hd_arena_tensor(p->arena, HD_TYPE_F32, 2, ne_s);    /* {C·S, T} */
    hd_tensor u = hd_arena_tensor(p->arena, HD_TYPE_F32, 2, ne_h);     /* {H/2, T} value half */
    hd_tensor g = hd_arena_tensor(p->arena, HD_TYPE_F32, 2, ne_h);     /* {H/2, T} gate half  */
    if (!xs.data || !u.data || !g.data)
        return hd_error_set(err, HD_ERR_NOMEM, "ultravox projector: activation arena exhausted");
    /* _pad_and_stack: frame-major input already has the stacked layout; the
     * frames past n_frames are zeros */
    memcpy(xs.data, x, (size_t)(C * n_frames) * sizeof(float));
    memset((float *)xs.data + C * n_frames, 0, (size_t)(CS * T - C * n_frames) * sizeof(float));
    const hd_nn_norm_w pre = {.kind = HD_NN_NORM_RMS, .w = &p->t_pre, .eps = c->norm_eps};
    hd_status st = hd_nn_norm(ex, &xs, &xs, &pre, err);
    if (st == HD_OK) st = hd_op_linear(ex, &u, &p->w1_x, &xs, NULL, err);
    if (st == HD_OK) st = hd_op_linear(ex, &g, &p->w1_gate, &xs, NULL, err);
    if (st == HD_OK) st = hd_op_swiglu(ex, &u, &g, &u, err);             /* silu(gate) ⊙ value */
    if (st == HD_OK && c->ln_mid) {
        const hd_nn_norm_w mid = {.kind = HD_NN_NORM_RMS, .w = &p->t_mid, .eps = c->norm_eps};
        st = hd_nn_norm(ex, &u, &u, &mid, err);
    }
    hd_tensor out = hd_tensor_2d(HD_TYPE_F32, c->n_out, T, y);           /* {D_lm, T} */
    if (st == HD_OK) st = hd_op_linear(ex, &out, &p->w2, &u, NULL, err);
    if (st == HD_OK && !c->ln_mid) {
        const hd_nn_norm_w post = {.kind = HD_NN_NORM_RMS, .w = &p->t_post, .eps = c->norm_eps};
        st = hd_nn_norm(ex, &out, &out, &post, err);
    }
    hd_arena_reset(p->arena, 0);
    return st;
}
