/* speech/ultravox_convert.c — `herd convert` for Ultravox folders: the LM as
 * a plain llama GGUF (lm/convert.h) and the encoder + projector as a
 * llama.cpp mmproj GGUF (speech/ultravox.h "Converted files"). */
#include "speech/ultravox_internal.h"

#include "core/gguf.h"
#include "core/ops.h"
#include "core/safetensors.h"
#include "speech/audio_lm_impl.h"

#include <cjson/cJSON.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *hd_ultravox_mmproj_path(const char *out_gguf) {
    size_t n = strlen(out_gguf);
    if (n > 5 && strcmp(out_gguf + n - 5, ".gguf") == 0) n -= 5;
    char *p = malloc(n + sizeof "-mmproj.gguf");
    if (p) memcpy(p, out_gguf, n), memcpy(p + n, "-mmproj.gguf", sizeof "-mmproj.gguf");
    return p;
}

/* llama.cpp's mmproj name of an Ultravox HF tensor (gguf-py tensor_mapping
 * A_ENC_* / A_MM*: audio_tower.* → a.*, multi_modal_projector.* → mm.a.*);
 * false for a name it has none for.  ln_post has no llama.cpp name (v0.5
 * has ln_mid): herd calls it mm.a.norm_post. */
bool hd_ultravox_gguf_name(const char *hf, char *out, size_t cap) {
    static const struct { const char *hf, *gg; } fixed[] = {
        {"audio_tower.conv1.", "a.conv1d.1."},
        {"audio_tower.conv2.", "a.conv1d.2."},
        {"audio_tower.embed_positions.", "a.position_embd."},
        {"audio_tower.layer_norm.", "a.post_ln."},
        {"multi_modal_projector.ln_pre.", "mm.a.norm_pre."},
        {"multi_modal_projector.linear_1.", "mm.a.mlp.1."},
        {"multi_modal_projector.ln_mid.", "mm.a.norm_mid."},
        {"multi_modal_projector.linear_2.", "mm.a.mlp.2."},
        {"multi_modal_projector.ln_post.", "mm.a.norm_post."},
    };
    static const struct { const char *hf, *gg; } layer[] = {
        {"self_attn.q_proj.", "attn_q."},   {"self_attn.k_proj.", "attn_k."},   {"self_attn.v_proj.", "attn_v."},
        {"self_attn.out_proj.", "attn_out."}, {"self_attn_layer_norm.", "ln1."}, {"final_layer_norm.", "ln2."},
        {"fc1.", "ffn_up."},                {"fc2.", "ffn_down."},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        const size_t k = strlen(fixed[i].hf);
        if (strncmp(hf, fixed[i].hf, k) == 0) {
            const char *suf = hf + k;
            if (strcmp(suf, "weight") && strcmp(suf, "bias")) return false;
            return snprintf(out, cap, "%s%s", fixed[i].gg, suf) < (int)cap;
        }
    }
    static const char pre[] = "audio_tower.layers.";
    if (strncmp(hf, pre, sizeof pre - 1) != 0) return false;
    char *end;
    const char *s = hf + sizeof pre - 1;
    const long l = strtol(s, &end, 10);
    if (end == s || *end != '.' || l < 0 || l > 100000) return false;
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
        const size_t k = strlen(layer[i].hf);
        if (strncmp(end + 1, layer[i].hf, k) == 0) {
            const char *suf = end + 1 + k;
            if (strcmp(suf, "weight") && strcmp(suf, "bias")) return false;
            return snprintf(out, cap, "a.blk.%ld.%s%s", l, layer[i].gg, suf) < (int)cap;
        }
    }
    return false;
}

typedef struct fill_ctx {
    hd_tensor src;          /* the HF tensor, as rows × cols of its dtype */
    int64_t rows, cols;
    hd_type type;           /* output type                                */
    const hd_convert_params *p;
    int index, total;
    const char *name;       /* the GGUF name                              */
} fill_ctx;

/* Converts src rows → F32 → type, 256 rows at a time. */
static hd_status fill(void *vctx, void *dst, size_t nbytes, hd_error *err) {
    fill_ctx *c = vctx;
    hd_exec ex = {0};
    const int64_t chunk = 256;
    float *tmp = malloc((size_t)(chunk * c->cols) * sizeof *tmp);
    if (!tmp) return hd_error_set(err, HD_ERR_NOMEM, "ultravox convert: out of memory for %s", c->name);
    const size_t in_row = c->src.nb[1], out_row = hd_type_row_size(c->type, c->cols);
    hd_status st = HD_OK;
    if ((size_t)c->rows * out_row != nbytes) st = hd_error_set(err, HD_ERR_ARG, "ultravox convert: size of %s", c->name);
    for (int64_t r = 0; r < c->rows && st == HD_OK; r += chunk) {
        const int64_t n = c->rows - r < chunk ? c->rows - r : chunk;
        hd_tensor s = hd_tensor_2d(c->src.type, c->cols, n, (char *)c->src.data + (size_t)r * in_row);
        hd_tensor f = hd_tensor_2d(HD_TYPE_F32, c->cols, n, tmp);
        hd_tensor d = hd_tensor_2d(c->type, c->cols, n, (char *)dst + (size_t)r * out_row);
        st = hd_op_convert(&ex, &f, &s, err);
        if (st == HD_OK) st = c->type == HD_TYPE_F32 ? (memcpy(d.data, tmp, (size_t)n * out_row), HD_OK)
                                                      : hd_op_convert(&ex, &d, &f, err);
    }
    free(tmp);
    if (st == HD_OK && c->p->progress) c->p->progress(c->p->progress_ctx, c->index + 1, c->total, c->name);
    return st;
}

static hd_status set_keys(hd_gguf_writer *w, const hd_ultravox_config *c, const char *lm_file, const char *name,
                          const char *tmpl, hd_type type, hd_error *err) {
    const hd_whisper_config *a = &c->audio;
    bool ok = hd_gguf_set_str(w, "general.architecture", "clip") == HD_OK &&
              hd_gguf_set_str(w, "general.type", "mmproj") == HD_OK && hd_gguf_set_str(w, "general.name", name) == HD_OK &&
              hd_gguf_set_u32(w, "general.file_type", hd_convert_file_type(type)) == HD_OK &&
              hd_gguf_set_bool(w, "clip.has_vision_encoder", false) == HD_OK &&
              hd_gguf_set_bool(w, "clip.has_audio_encoder", true) == HD_OK &&
              hd_gguf_set_str(w, "clip.projector_type", "ultravox") == HD_OK &&
              hd_gguf_set_str(w, "clip.audio.projector_type", "ultravox") == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.num_mel_bins", (uint32_t)a->n_mel) == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.embedding_length", (uint32_t)a->n_embd) == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.feed_forward_length", (uint32_t)a->n_ff) == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.block_count", (uint32_t)a->n_layer) == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.attention.head_count", (uint32_t)a->n_head) == HD_OK &&
              hd_gguf_set_f32(w, "clip.audio.attention.layer_norm_epsilon", a->norm_eps) == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.projection_dim", (uint32_t)c->proj.n_out) == HD_OK &&
              hd_gguf_set_u32(w, "clip.audio.projector.stack_factor", (uint32_t)c->proj.stack_factor) == HD_OK &&
              hd_gguf_set_u32(w, "ultravox.hidden_size", (uint32_t)c->proj.n_hidden) == HD_OK &&
              hd_gguf_set_bool(w, "ultravox.projector_ln_mid", c->proj.ln_mid) == HD_OK &&
              hd_gguf_set_str(w, "speech.lm_file", lm_file) == HD_OK &&
              (!tmpl || hd_gguf_set_str(w, "tokenizer.chat_template", tmpl) == HD_OK) &&
              hd_gguf_set_u32(w, "general.quantization_version", 2) == HD_OK;
    if (a->latency_block > 0) ok = ok && hd_gguf_set_u32(w, "ultravox.audio_latency_block_size", (uint32_t)a->latency_block) == HD_OK;
    return ok ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "ultravox convert: out of memory");
}

/* The folder's chat template (tokenizer_config.json), malloc'd, or NULL. */
static char *folder_template(const char *dir) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/tokenizer_config.json", dir) >= (int)sizeof p) return NULL;
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    char *buf = NULL, *out = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (16l << 20) && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        cJSON *root = cJSON_ParseWithLength(buf, (size_t)n);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
        if (cJSON_IsString(t)) {
            size_t k = strlen(t->valuestring) + 1;
            if ((out = malloc(k))) memcpy(out, t->valuestring, k);
        }
        cJSON_Delete(root);
    }
    free(buf);
    fclose(f);
    return out;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The encoder + projector of the folder → path (mmproj layout). */
static hd_status write_mmproj(const char *dir, const hd_ultravox_config *c, const hd_weights *w, const char *lm_file,
                              const char *path, const hd_convert_params *p, hd_error *err) {
    const hd_safetensors *s = hd_weights_safetensors(w);
    if (!s) return hd_error_set(err, HD_ERR_FORMAT, "%s: not a safetensors checkpoint", dir);
    const int64_t n = hd_safetensors_n_tensors(s);
    fill_ctx *ctx = calloc((size_t)(n ? n : 1), sizeof *ctx);
    char (*names)[96] = calloc((size_t)(n ? n : 1), sizeof *names);
    hd_gguf_writer *gw = hd_gguf_writer_create(err);
    char *tmpl = folder_template(dir);
    char title[256];
    snprintf(title, sizeof title, "%s", p->name ? p->name : base_name(dir));
    hd_status st = HD_OK;
    if (!ctx || !names || !gw) st = hd_error_set(err, HD_ERR_NOMEM, "ultravox convert: out of memory");
    if (st == HD_OK) st = set_keys(gw, c, lm_file, title, tmpl, p->type, err);
    int k = 0;
    for (int64_t i = 0; i < n && st == HD_OK; i++) {
        const hd_st_tensor *t = hd_safetensors_tensor(s, i);
        if (strncmp(t->name, "language_model.", 15) == 0) continue;   /* the LM goes to its own file */
        if (!hd_ultravox_gguf_name(t->name, names[k], sizeof names[k])) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s is not part of an Ultravox audio tower or projector",
                              hd_safetensors_name(s), t->name);
            break;
        }
        if ((st = hd_safetensors_view(s, i, &ctx[k].src, err))) break;
        if (ctx[k].src.type != HD_TYPE_F32 && ctx[k].src.type != HD_TYPE_F16 && ctx[k].src.type != HD_TYPE_BF16) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s has dtype %s (F32, F16 or BF16 expected)",
                              hd_safetensors_name(s), t->name, t->dtype);
            break;
        }
        fill_ctx *f = &ctx[k];
        f->cols = t->shape[t->n_dims - 1];
        f->rows = 1;
        for (int d = 0; d + 1 < t->n_dims; d++) f->rows *= t->shape[d];
        f->src = hd_tensor_2d(f->src.type, f->cols, f->rows, f->src.data);
        f->p = p, f->index = k, f->name = names[k];
        int64_t ne[4];
        int nd = t->n_dims;
        for (int d = 0; d < nd; d++) ne[d] = t->shape[nd - 1 - d];
        const bool conv = strncmp(names[k], "a.conv1d.", 9) == 0;
        if (nd == 1) {
            f->type = HD_TYPE_F32;
            if (conv) ne[1] = ne[0], ne[0] = 1, nd = 2;   /* conv biases [D] → [D, 1] (unsqueeze(-1)) */
        } else if (conv || strcmp(names[k], "a.position_embd.weight") == 0) {
            f->type = p->type == HD_TYPE_F32 ? HD_TYPE_F32 : HD_TYPE_F16;   /* tensor_force_quant: conv F16 */
        } else {
            f->type = p->type;
            const hd_type_traits *tr = hd_type_get(p->type);
            if (!tr || f->cols % tr->block_size) f->type = HD_TYPE_F16;    /* rows too short for the blocks */
        }
        st = hd_gguf_add_tensor_fn(gw, names[k], f->type, nd, ne, fill, f, err);
        k++;
    }
    for (int i = 0; i < k; i++) ctx[i].total = k;
    if (st == HD_OK) st = hd_gguf_writer_write(gw, path, err);
    hd_gguf_writer_free(gw);
    free(ctx), free(names), free(tmpl);
    return st;
}

hd_status hd_ultravox_convert(const char *hf_dir, const char *lm_hf_dir, const char *out_gguf,
                              const hd_convert_params *p, hd_error *err) {
    const hd_convert_params def = hd_convert_default_params();
    if (!p) p = &def;
    if (!hf_dir || !out_gguf || !*out_gguf) return hd_error_set(err, HD_ERR_ARG, "ultravox convert: no folder or output");
    if (p->type != HD_TYPE_F32 && p->type != HD_TYPE_F16 && p->type != HD_TYPE_BF16 && p->type != HD_TYPE_Q8_0 &&
        p->type != HD_TYPE_Q4_0 && p->type != HD_TYPE_Q4_K)
        return hd_error_set(err, HD_ERR_ARG, "ultravox convert: type %s is not one of F32 F16 BF16 Q8_0 Q4_0 Q4_K",
                            hd_type_name(p->type));
    /* the whole model loads (every shape checked) before anything is written */
    hd_audio_lm_params lp = {.lm_path = lm_hf_dir, .no_lm = false};
    hd_ultravox *u = (hd_ultravox *)hd_ultravox_ops.load(hf_dir, &lp, err);
    if (!u) return err ? err->code : HD_ERR_FORMAT;
    hd_status st = HD_OK;
    if (!hd_weights_safetensors(u->w))
        st = hd_error_set(err, HD_ERR_ARG, "%s: convert takes the Hugging Face folder, not a converted file", hf_dir);
    else if (hd_weights_gguf(u->lm->file))
        st = hd_error_set(err, HD_ERR_ARG, "%s: the language model %s is a GGUF already: give its Hugging Face folder",
                          hf_dir, u->lm_path);
    char *mm = st == HD_OK ? hd_ultravox_mmproj_path(out_gguf) : NULL;
    if (st == HD_OK && !mm) st = hd_error_set(err, HD_ERR_NOMEM, "ultravox convert: out of memory");
    if (st == HD_OK) st = hd_convert_hf_to_gguf(u->lm_path, out_gguf, p, err);
    if (st == HD_OK) st = write_mmproj(hf_dir, &u->cfg, u->w, base_name(out_gguf), mm, p, err);
    free(mm);
    hd_ultravox_ops.free_state(u);
    return st;
}

/* hd_audio_lm_ops.convert: the LM found as speech/ultravox.h describes. */
hd_status hd_ultravox_convert_ops(const char *dir, const char *out_gguf, const hd_convert_params *p, hd_error *err) {
    return hd_ultravox_convert(dir, NULL, out_gguf, p, err);
}
