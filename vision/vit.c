/* vision/vit.c — the mllama vision encoder and projector (see vit.h; SPEC
 * §2.4–2.5).  The transformer layers are core/nn.h's hd_nn_layer. */
#include "vit.h"

#include "core/arena.h"
#include "core/nn.h"
#include "core/ops.h"
#include "core/weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

typedef struct vit_layer {
    hd_nn_layer_w w;          /* views of the tensors below */
    hd_tensor q, k, v, o;     /* [W, W] each                */
    hd_tensor ln1_w, ln1_b, ln2_w, ln2_b;   /* [W] F32       */
    hd_tensor fc1_w, fc1_b;   /* [F, W], [F] F32             */
    hd_tensor fc2_w, fc2_b;   /* [W, F], [W] F32             */
    hd_tensor gate_attn, gate_ffn;          /* [1] F32 (global layers) */
} vit_layer;

struct hd_vit {
    hd_vit_config c;
    hd_weights *file;
    bool gguf;
    hd_tensor patch;          /* [W, 3, p, p] F32/F16        */
    hd_tensor cls;            /* [W] F32                     */
    hd_tensor pos;            /* [P, W] F32                  */
    hd_tensor tile_pos;       /* [n_ar, T·P·W] any type      */
    hd_tensor pre_tile;       /* [n_ar, T·W] any type        */
    hd_tensor post_tile;      /* [n_ar, T·W] any type        */
    float g_pos, g_pre, g_post;   /* the gates (before tanh) */
    hd_tensor ln_pre_w, ln_pre_b, ln_post_w, ln_post_b;   /* [W] F32 */
    hd_tensor proj_w;         /* [D, out_dim] any type       */
    hd_tensor proj_b;         /* [D] F32                     */
    vit_layer *layers;        /* [n_layer + n_global_layer]  */
    void **owned;             /* F32 copies made at load     */
    int n_owned, cap_owned;
    hd_arena *arena;          /* activations of one encode   */
};

const hd_vit_config *hd_vit_get_config(const hd_vit *v) { return &v->c; }

/* ---- loading ---------------------------------------------------------------- */

static void *own(hd_vit *v, size_t bytes) {
    if (v->n_owned == v->cap_owned) {
        int nc = v->cap_owned ? 2 * v->cap_owned : 64;
        void **n = realloc(v->owned, (size_t)nc * sizeof *n);
        if (!n) return NULL;
        v->owned = n, v->cap_owned = nc;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) v->owned[v->n_owned++] = p;
    return p;
}

/* Tensor by (HF, GGUF) name with its ggml-order shape.  Safetensors data is
 * aligned only as the file makes it (a BF16 gate of shape [1] shifts every
 * later tensor by 2 bytes in the released checkpoints); a tensor that is not
 * 4-byte aligned is copied to an aligned buffer owned by v, as the kernels
 * load whole 32-bit words. */
static hd_status get(hd_vit *v, const char *hf, const char *gg, int n_dims, const int64_t *ne, uint64_t types,
                     hd_tensor *out, hd_error *err) {
    hd_status st = hd_weights_get(v->file, v->gguf ? gg : hf, n_dims, ne, types, out, err);
    if (st || (uintptr_t)out->data % 4 == 0) return st;
    const size_t n = hd_tensor_nbytes(out);
    void *d = own(v, n);
    if (!d) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %s", hd_weights_name(v->file), v->gguf ? gg : hf);
    memcpy(d, out->data, n);
    out->data = d;
    return HD_OK;
}

/* The same, as an F32 copy owned by v when the file holds another type. */
static hd_status get_f32(hd_vit *v, const char *hf, const char *gg, int n_dims, const int64_t *ne, hd_tensor *out,
                         hd_error *err) {
    hd_tensor t;
    hd_status st = get(v, hf, gg, n_dims, ne, HD_TYPES_ANY, &t, err);
    if (st) return st;
    if (t.type == HD_TYPE_F32) {
        *out = t;
        return HD_OK;
    }
    float *d = own(v, (size_t)hd_tensor_nelements(&t) * sizeof(float));
    if (!d) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %s", hd_weights_name(v->file), v->gguf ? gg : hf);
    hd_tensor f = hd_tensor_view(HD_TYPE_F32, t.n_dims, t.ne, d);
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = NULL, .scratch = NULL};
    if ((st = hd_op_convert(&ex, &f, &t, err))) return st;
    *out = f;
    return HD_OK;
}

static hd_status get_gate(hd_vit *v, const char *hf, const char *gg, float *g, hd_error *err) {
    const int64_t ne[1] = {1};
    hd_tensor t = {0};
    hd_status st = get_f32(v, hf, gg, 1, ne, &t, err);
    if (st) return st;
    memcpy(g, t.data, sizeof *g);
    if (!isfinite(*g)) return hd_error_set(err, HD_ERR_FORMAT, "%s: gate %s is not finite", hd_weights_name(v->file), v->gguf ? gg : hf);
    return HD_OK;
}

static hd_status load_layer(hd_vit *v, vit_layer *L, bool global, int i, hd_error *err) {
    const hd_vit_config *c = &v->c;
    const int64_t W = c->width, F = c->n_ff;
    char hp[64], gp[64], hn[160], gn[160];
    snprintf(hp, sizeof hp, "vision_model.%s.layers.%d.", global ? "global_transformer" : "transformer", i);
    snprintf(gp, sizeof gp, "v.%sblk.%d.", global ? "global." : "", i);
#define NAMES(h, g) (snprintf(hn, sizeof hn, "%s%s", hp, h), snprintf(gn, sizeof gn, "%s%s", gp, g), hn), gn
    const int64_t sq[2] = {W, W}, s1[1] = {W}, sf1[2] = {W, F}, sf1b[1] = {F}, sf2[2] = {F, W};
    hd_status st;
    if ((st = get(v, NAMES("self_attn.q_proj.weight", "attn_q.weight"), 2, sq, HD_TYPES_ANY, &L->q, err)) ||
        (st = get(v, NAMES("self_attn.k_proj.weight", "attn_k.weight"), 2, sq, HD_TYPES_ANY, &L->k, err)) ||
        (st = get(v, NAMES("self_attn.v_proj.weight", "attn_v.weight"), 2, sq, HD_TYPES_ANY, &L->v, err)) ||
        (st = get(v, NAMES("self_attn.o_proj.weight", "attn_out.weight"), 2, sq, HD_TYPES_ANY, &L->o, err)) ||
        (st = get_f32(v, NAMES("input_layernorm.weight", "ln1.weight"), 1, s1, &L->ln1_w, err)) ||
        (st = get_f32(v, NAMES("input_layernorm.bias", "ln1.bias"), 1, s1, &L->ln1_b, err)) ||
        (st = get_f32(v, NAMES("post_attention_layernorm.weight", "ln2.weight"), 1, s1, &L->ln2_w, err)) ||
        (st = get_f32(v, NAMES("post_attention_layernorm.bias", "ln2.bias"), 1, s1, &L->ln2_b, err)) ||
        (st = get(v, NAMES("mlp.fc1.weight", "ffn_up.weight"), 2, sf1, HD_TYPES_ANY, &L->fc1_w, err)) ||
        (st = get_f32(v, NAMES("mlp.fc1.bias", "ffn_up.bias"), 1, sf1b, &L->fc1_b, err)) ||
        (st = get(v, NAMES("mlp.fc2.weight", "ffn_down.weight"), 2, sf2, HD_TYPES_ANY, &L->fc2_w, err)) ||
        (st = get_f32(v, NAMES("mlp.fc2.bias", "ffn_down.bias"), 1, s1, &L->fc2_b, err)))
        return st;
    if (global) {
        const int64_t one[1] = {1};
        if ((st = get_f32(v, NAMES("gate_attn", "attn_gate"), 1, one, &L->gate_attn, err)) ||
            (st = get_f32(v, NAMES("gate_ffn", "ffn_gate"), 1, one, &L->gate_ffn, err)))
            return st;
    }
#undef NAMES
    const hd_nn_norm_w n1 = {HD_NN_NORM_LAYER, &L->ln1_w, &L->ln1_b, c->norm_eps};
    const hd_nn_norm_w n2 = {HD_NN_NORM_LAYER, &L->ln2_w, &L->ln2_b, c->norm_eps};
    L->w = (hd_nn_layer_w){
        .attn_norm = n1,
        .attn = {.wq = &L->q, .wk = &L->k, .wv = &L->v, .wo = &L->o, .n_head = c->n_head,
                 .n_kv_head = c->n_head, .head_dim = c->width / c->n_head},
        .mlp_norm = n2,
        .mlp = {.gate = NULL, .up = &L->fc1_w, .down = &L->fc2_w, .b_up = &L->fc1_b, .b_down = &L->fc2_b,
                .act = HD_NN_ACT_GELU_ERF},
        .attn_gate = global ? &L->gate_attn : NULL,
        .mlp_gate = global ? &L->gate_ffn : NULL,
    };
    return HD_OK;
}

static hd_status load_weights(hd_vit *v, hd_error *err) {
    const hd_vit_config *c = &v->c;
    const int64_t W = c->width, P = c->n_pos, T = c->max_tiles, p = c->patch_size;
    const int64_t s_patch[4] = {p, p, 3, W}, s_w[1] = {W}, s_pos[2] = {W, P}, s_tile[2] = {T * P * W, c->n_ar},
                  s_pre[2] = {T * W, c->n_ar}, s_proj[2] = {c->out_dim, c->proj_dim}, s_pb[1] = {c->proj_dim};
    hd_status st;
    if ((st = get(v, "vision_model.patch_embedding.weight", "v.patch_embd.weight", 4, s_patch, HD_TYPES_ANY,
                  &v->patch, err)))
        return st;
    if (v->patch.type != HD_TYPE_F32 && v->patch.type != HD_TYPE_F16 &&
        (st = get_f32(v, "vision_model.patch_embedding.weight", "v.patch_embd.weight", 4, s_patch, &v->patch, err)))
        return st;
    if ((st = get_f32(v, "vision_model.class_embedding", "v.class_embd", 1, s_w, &v->cls, err)) ||
        (st = get_f32(v, "vision_model.gated_positional_embedding.embedding", "v.position_embd.weight", 2, s_pos,
                      &v->pos, err)) ||
        (st = get_gate(v, "vision_model.gated_positional_embedding.gate", "v.position_embd.gate", &v->g_pos, err)) ||
        (st = get(v, "vision_model.gated_positional_embedding.tile_embedding.weight", "v.tile_position_embd.weight", 2,
                  s_tile, HD_TYPES_ANY, &v->tile_pos, err)) ||
        (st = get(v, "vision_model.pre_tile_positional_embedding.embedding.weight", "v.pre_tile_position_embd.weight",
                  2, s_pre, HD_TYPES_ANY, &v->pre_tile, err)) ||
        (st = get_gate(v, "vision_model.pre_tile_positional_embedding.gate", "v.pre_tile_position_embd.gate", &v->g_pre,
                       err)) ||
        (st = get(v, "vision_model.post_tile_positional_embedding.embedding.weight",
                  "v.post_tile_position_embd.weight", 2, s_pre, HD_TYPES_ANY, &v->post_tile, err)) ||
        (st = get_gate(v, "vision_model.post_tile_positional_embedding.gate", "v.post_tile_position_embd.gate",
                       &v->g_post, err)) ||
        (st = get_f32(v, "vision_model.layernorm_pre.weight", "v.pre_ln.weight", 1, s_w, &v->ln_pre_w, err)) ||
        (st = get_f32(v, "vision_model.layernorm_pre.bias", "v.pre_ln.bias", 1, s_w, &v->ln_pre_b, err)) ||
        (st = get_f32(v, "vision_model.layernorm_post.weight", "v.post_ln.weight", 1, s_w, &v->ln_post_w, err)) ||
        (st = get_f32(v, "vision_model.layernorm_post.bias", "v.post_ln.bias", 1, s_w, &v->ln_post_b, err)) ||
        (st = get(v, "multi_modal_projector.weight", "mm.proj.weight", 2, s_proj, HD_TYPES_ANY, &v->proj_w, err)) ||
        (st = get_f32(v, "multi_modal_projector.bias", "mm.proj.bias", 1, s_pb, &v->proj_b, err)))
        return st;
    const int n = c->n_layer + c->n_global_layer;
    if (!(v->layers = calloc((size_t)n, sizeof *v->layers)))
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", hd_weights_name(v->file));
    for (int i = 0; i < n; i++) {
        const bool global = i >= c->n_layer;
        if ((st = load_layer(v, &v->layers[i], global, global ? i - c->n_layer : i, err))) return st;
    }
    return HD_OK;
}

/* Arena bytes of one encode. */
static size_t arena_bytes(const hd_vit *v) {
    const hd_vit_config *c = &v->c;
    const int64_t T = c->max_tiles, Pp = c->n_pos + c->n_pad, L = T * Pp, W = c->width;
    size_t layer = 0;
    for (int i = 0; i < c->n_layer + c->n_global_layer; i++) {
        size_t b = hd_nn_layer_scratch_bytes(&v->layers[i].w, L);
        if (b > layer) layer = b;
    }
    size_t embed = hd_nn_f32_bytes(T * c->n_pos * W) + hd_nn_f32_bytes(T * W) + hd_nn_f32_bytes(c->n_pos * W);
    size_t tail = hd_nn_f32_bytes((int64_t)c->out_dim * T * c->n_pos);
    return hd_nn_f32_bytes(W * L) * (size_t)(1 + c->n_inter) + hd_nn_f32_bytes(L * L) +
           (layer > embed ? layer : embed) + tail + 4096;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

hd_vit *hd_vit_load(const char *path, hd_error *err) {
    if (!path || !*path) {
        hd_error_set(err, HD_ERR_ARG, "vision model: no path");
        return NULL;
    }
    hd_vit *v = calloc(1, sizeof *v);
    if (!v) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    hd_status st;
    char dir[4096];
    if (is_dir(path) || ends_with(path, "config.json")) {
        /* a HF folder, or its config.json */
        snprintf(dir, sizeof dir, "%s", path);
        if (!is_dir(path)) {
            char *slash = strrchr(dir, '/');
            if (slash) *slash = '\0';
            else snprintf(dir, sizeof dir, ".");
        }
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", dir);
        if ((st = hd_vit_config_from_hf(&v->c, cfg, err))) goto fail;
        if (!(v->file = hd_weights_open(dir, err))) goto fail;
    } else {
        if (!(v->file = hd_weights_open(path, err))) goto fail;
        const hd_gguf *g = hd_weights_gguf(v->file);
        if (!g) {
            hd_error_set(err, HD_ERR_FORMAT, "%s: give the checkpoint's folder (config.json is needed) or a GGUF file", path);
            goto fail;
        }
        v->gguf = true;
        if ((st = hd_vit_config_from_gguf(&v->c, g, err))) goto fail;
    }
    if ((st = load_weights(v, err))) goto fail;
    if (!(v->arena = hd_arena_create(arena_bytes(v), err))) goto fail;
    return v;
fail:
    hd_vit_free(v);
    return NULL;
}

void hd_vit_free(hd_vit *v) {
    if (!v) return;
    hd_arena_free(v->arena);
    for (int i = 0; i < v->n_owned; i++) free(v->owned[i]);
    free(v->owned);
    free(v->layers);
    hd_weights_close(v->file);
    free(v);
}

/* ---- the forward pass, one function per step of SPEC §2.4 ------------------- */

typedef struct enc {
    hd_vit *v;
    hd_exec *ex;
    hd_arena *a;
    int ar_id, n_tiles;
    int64_t T, P, Pp, L, W;
    float *x;                 /* [T][Pp][W]: the sequence */
} enc;

/* Rows [p0, p0+n) of tile k as a [W, n] tensor. */
static hd_tensor rows_of(const enc *e, float *base, int64_t k, int64_t p0, int64_t n) {
    return hd_tensor_2d(HD_TYPE_F32, e->W, n, base + ((size_t)(k * e->Pp + p0)) * (size_t)e->W);
}

static hd_status alloc_f32(enc *e, int n_dims, const int64_t *ne, hd_tensor *t, hd_error *err) {
    *t = hd_arena_tensor(e->a, HD_TYPE_F32, n_dims, ne);
    if (!t->data) return hd_error_set(err, HD_ERR_NOMEM, "vision encoder: activation arena exhausted");
    return HD_OK;
}

/* 1. conv 14×14/14, no bias: tile k's patches → rows 1..P0 of tile k. */
static hd_status patch_embed(enc *e, const float *tiles, hd_error *err) {
    const int64_t t = e->v->c.image_size;
    for (int64_t k = 0; k < e->T; k++) {
        hd_tensor img = hd_tensor_3d(HD_TYPE_F32, t, t, 3, (void *)(tiles + (size_t)k * 3 * (size_t)(t * t)));
        hd_tensor y = rows_of(e, e->x, k, 1, e->P - 1);
        hd_status st = hd_op_patch_embed(e->ex, &y, &img, &e->v->patch, NULL, e->v->c.patch_size, err);
        if (st) return st;
    }
    return HD_OK;
}

/* Row ar_id of an aspect-ratio table [n_ar, n] as F32 [n], scaled by s. */
static hd_status table_row(enc *e, const hd_tensor *table, float s, hd_tensor *out, hd_error *err) {
    const int64_t ne[1] = {table->ne[0]};
    hd_status st = alloc_f32(e, 1, ne, out, err);
    const int32_t id = e->ar_id;
    if (!st) st = hd_op_get_rows(e->ex, out, table, &id, 1, err);
    if (!st) st = hd_op_scale(e->ex, out, out, s, err);
    return st;
}

/* 2./11. x[k, p] += tanh(g) · E[ar_id][k] for tokens p in [p0, p0+n). */
static hd_status tile_embed(enc *e, const hd_tensor *table, float gate, int64_t p0, int64_t n, hd_error *err) {
    const size_t mark = hd_arena_mark(e->a);
    hd_tensor row;
    hd_status st = table_row(e, table, tanhf(gate), &row, err);
    for (int64_t k = 0; k < e->T && !st; k++) {
        hd_tensor xk = rows_of(e, e->x, k, p0, n);
        hd_tensor ek = hd_tensor_1d(HD_TYPE_F32, e->W, (float *)row.data + k * e->W);
        st = hd_op_add(e->ex, &xk, &xk, &ek, err);
    }
    hd_arena_reset(e->a, mark);
    return st;
}

/* 3. CLS at token 0 of every tile. */
static void class_embed(enc *e) {
    for (int64_t k = 0; k < e->T; k++)
        memcpy(e->x + (size_t)(k * e->Pp) * (size_t)e->W, e->v->cls.data, (size_t)e->W * sizeof(float));
}

/* 4. x[k, p] += (1 − tanh g)·Pos[p] + tanh g · TileTok[ar_id][k][p], p < P. */
static hd_status gated_pos_embed(enc *e, hd_error *err) {
    const size_t mark = hd_arena_mark(e->a);
    const float g = tanhf(e->v->g_pos);
    const int64_t ne[2] = {e->W, e->P};
    hd_tensor pos, tile;
    hd_status st = alloc_f32(e, 2, ne, &pos, err);
    if (!st) st = hd_op_scale(e->ex, &pos, &e->v->pos, 1.0f - g, err);
    if (!st) st = table_row(e, &e->v->tile_pos, g, &tile, err);
    for (int64_t k = 0; k < e->T && !st; k++) {
        hd_tensor xk = rows_of(e, e->x, k, 0, e->P);
        hd_tensor tk = hd_tensor_2d(HD_TYPE_F32, e->W, e->P, (float *)tile.data + (size_t)(k * e->P * e->W));
        st = hd_op_add(e->ex, &xk, &xk, &pos, err);
        if (!st) st = hd_op_add(e->ex, &xk, &xk, &tk, err);
    }
    hd_arena_reset(e->a, mark);
    return st;
}

/* 5.–6. layernorm_pre on the P real tokens of each tile; padding tokens zero. */
static hd_status layernorm_pre_and_pad(enc *e, hd_error *err) {
    const hd_nn_norm_w n = {HD_NN_NORM_LAYER, &e->v->ln_pre_w, &e->v->ln_pre_b, e->v->c.norm_eps};
    for (int64_t k = 0; k < e->T; k++) {
        hd_tensor xk = rows_of(e, e->x, k, 0, e->P);
        hd_status st = hd_nn_norm(e->ex, &xk, &xk, &n, err);
        if (st) return st;
        memset(e->x + (size_t)(k * e->Pp + e->P) * (size_t)e->W, 0, (size_t)((e->Pp - e->P) * e->W) * sizeof(float));
    }
    return HD_OK;
}

/* 7. mask ne={L keys, L queries}: −∞ where both query and key are invalid. */
static void build_mask(const enc *e, float *m) {
    for (int64_t q = 0; q < e->L; q++) {
        const bool qv = q / e->Pp < e->n_tiles && q % e->Pp < e->P;
        float *row = m + (size_t)q * (size_t)e->L;
        for (int64_t k = 0; k < e->L; k++) {
            const bool kv = k / e->Pp < e->n_tiles && k % e->Pp < e->P;
            row[k] = !qv && !kv ? -INFINITY : 0.0f;
        }
    }
}

/* 8.–9./12. layers [first, first+n) on the whole sequence; with keep, the
 * state before local layer inter[j] is copied to keep[j]. */
static hd_status run_layers(enc *e, int first, int n, const hd_tensor *mask, float *const *keep, hd_error *err) {
    const hd_vit_config *c = &e->v->c;
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, e->W, e->L, e->x);
    const hd_nn_attn_ctx ctx = {.mask = mask};
    const size_t bytes = (size_t)(e->L * e->W) * sizeof(float);
    for (int i = first; i <= first + n; i++) {
        if (keep)
            for (int j = 0; j < c->n_inter; j++)
                if (c->inter[j] == i - first) memcpy(keep[j], e->x, bytes);
        if (i == first + n) break;
        hd_status st = hd_nn_layer(e->ex, e->a, &x, &e->v->layers[i].w, &ctx, err);
        if (st) return st;
    }
    return HD_OK;
}

/* 10. layernorm_post on every token (padding included, as HF). */
static hd_status layernorm_post(enc *e, hd_error *err) {
    const hd_nn_norm_w n = {HD_NN_NORM_LAYER, &e->v->ln_post_w, &e->v->ln_post_b, e->v->c.norm_eps};
    hd_tensor x = hd_tensor_2d(HD_TYPE_F32, e->W, e->L, e->x);
    return hd_nn_norm(e->ex, &x, &x, &n, err);
}

/* 13.–14. unpad and concatenate: out[k][p] = [x | inter interleaved, layer fastest]. */
static void gather_features(const enc *e, float *const *keep, float *out) {
    const int ni = e->v->c.n_inter;
    const int64_t D = e->v->c.out_dim;
    for (int64_t k = 0; k < e->T; k++)
        for (int64_t p = 0; p < e->P; p++) {
            const size_t src = (size_t)(k * e->Pp + p) * (size_t)e->W;
            float *o = out + (size_t)(k * e->P + p) * (size_t)D;
            memcpy(o, e->x + src, (size_t)e->W * sizeof(float));
            for (int64_t j = 0; j < e->W; j++)
                for (int l = 0; l < ni; l++) o[e->W + (int64_t)ni * j + l] = keep[l][src + (size_t)j];
        }
}

hd_status hd_vit_encode(hd_vit *v, hd_exec *ex, const float *tiles, int ar_id, int n_tiles, float *features,
                        float *projected, hd_error *err) {
    if (!v || !ex || !tiles) return hd_error_set(err, HD_ERR_ARG, "vision encoder: missing argument");
    const hd_vit_config *c = &v->c;
    if (ar_id < 1 || ar_id >= c->n_ar)
        return hd_error_set(err, HD_ERR_ARG, "vision encoder: aspect ratio id %d out of range 1..%d", ar_id, c->n_ar - 1);
    if (n_tiles < 1 || n_tiles > c->max_tiles)
        return hd_error_set(err, HD_ERR_ARG, "vision encoder: %d tiles, expected 1..%d", n_tiles, c->max_tiles);
    enc e = {.v = v, .ex = ex, .a = v->arena, .ar_id = ar_id, .n_tiles = n_tiles, .T = c->max_tiles,
             .P = c->n_pos, .Pp = c->n_pos + c->n_pad, .W = c->width};
    e.L = e.T * e.Pp;
    hd_arena_reset(e.a, 0);
    hd_status st;
    const int64_t ne_x[2] = {e.W, e.L}, ne_m[2] = {e.L, e.L};
    hd_tensor x, mask, keep_t[HD_VIT_MAX_INTER];
    float *keep[HD_VIT_MAX_INTER];
    if ((st = alloc_f32(&e, 2, ne_x, &x, err)) || (st = alloc_f32(&e, 2, ne_m, &mask, err))) goto done;
    for (int j = 0; j < c->n_inter; j++) {
        if ((st = alloc_f32(&e, 2, ne_x, &keep_t[j], err))) goto done;
        keep[j] = keep_t[j].data;
    }
    e.x = x.data;
    build_mask(&e, mask.data);
    if ((st = patch_embed(&e, tiles, err)) ||
        (st = tile_embed(&e, &v->pre_tile, v->g_pre, 1, e.P - 1, err)))
        goto done;
    class_embed(&e);
    if ((st = gated_pos_embed(&e, err)) || (st = layernorm_pre_and_pad(&e, err)) ||
        (st = run_layers(&e, 0, c->n_layer, &mask, keep, err)) || (st = layernorm_post(&e, err)) ||
        (st = tile_embed(&e, &v->post_tile, v->g_post, 0, e.Pp, err)) ||
        (st = run_layers(&e, c->n_layer, c->n_global_layer, &mask, NULL, err)))
        goto done;
    float *feat = features;
    if (!feat) {
        const int64_t ne_f[2] = {c->out_dim, e.T * e.P};
        hd_tensor f;
        if ((st = alloc_f32(&e, 2, ne_f, &f, err))) goto done;
        feat = f.data;
    }
    gather_features(&e, keep, feat);
    if (projected) {   /* 15. projector: Linear(out_dim → D) with bias */
        hd_tensor fin = hd_tensor_2d(HD_TYPE_F32, c->out_dim, e.T * e.P, feat);
        hd_tensor y = hd_tensor_2d(HD_TYPE_F32, c->proj_dim, e.T * e.P, projected);
        st = hd_op_linear(ex, &y, &v->proj_w, &fin, &v->proj_b, err);
    }
done:
    hd_arena_reset(e.a, 0);
    return st;
}
