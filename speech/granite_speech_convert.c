/* speech/granite_speech_convert.c — `herd convert` for a Granite Speech HF
 * folder: OUT.gguf (encoder + projector), OUT-lm.gguf (llama.cpp "granite"),
 * OUT-lora.gguf (llama.cpp LoRA); see speech/granite_speech.h.  The tensor
 * lists are lm/random_model_granite.c's, so a converted random checkpoint is
 * the same model as the folder. */
#include "speech/granite_speech.h"

#include "core/strbuf.h"
#include "core/gguf.h"
#include "core/safetensors.h"
#include "lm/llama.h"
#include "lm/llama_config.h"
#include "lm/random_model_granite.h"
#include "lm/tokenizer.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Points every HF tensor of plan at its data in sf after checking shape and
 * dtype; marks it in used[].  src_shard = rank of its file among the
 * checkpoint's files in name order. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The distinct files of sf's tensors, sorted (pointers owned by sf); *nf set. */
static const char **file_list(const hd_safetensors *sf, int *nf) {
    const int64_t n = hd_safetensors_n_tensors(sf);
    const char **files = malloc((size_t)(n > 0 ? n : 1) * sizeof *files);
    *nf = 0;
    if (!files) return NULL;
    for (int64_t i = 0; i < n; i++) files[i] = hd_safetensors_tensor(sf, i)->file;
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    for (int64_t i = 0; i < n; i++)
        if (*nf == 0 || strcmp(files[*nf - 1], files[i]) != 0) files[(*nf)++] = files[i];
    return files;
}

static hd_status bind(hd_rm_plan *plan, const hd_safetensors *sf, bool *used, const char **files, int nf,
                      const char *dir, hd_error *err) {
    for (int i = 0; i < plan->n; i++) {
        hd_rm_tensor *t = &plan->t[i];
        if (!t->hf_name) continue;
        const int64_t k = hd_safetensors_find(sf, t->hf_name);
        if (k < 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s is missing", dir, t->hf_name);
        const hd_st_tensor *x = hd_safetensors_tensor(sf, k);
        used[k] = true;
        if (x->hd_type != HD_TYPE_F32 && x->hd_type != HD_TYPE_F16 && x->hd_type != HD_TYPE_BF16)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16 or BF16 expected)",
                                x->file, t->hf_name, x->dtype);
        bool same = x->n_dims == t->n_dims;
        for (int d = 0; same && d < t->n_dims; d++) same = x->shape[d] == t->shape[d];
        if (!same) {
            char want[96] = "", got[96] = "";
            for (int d = 0, o = 0; d < t->n_dims; d++)
                o += snprintf(want + o, sizeof want - (size_t)o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
            for (int d = 0, o = 0; d < x->n_dims && o < (int)sizeof got - 24; d++)
                o += snprintf(got + o, sizeof got - (size_t)o, "%s%" PRId64, d ? ", " : "", x->shape[d]);
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s has shape [%s], config.json implies [%s]", x->file,
                                t->hf_name, got, want);
        }
        int shard = 0;   /* rank of x->file among the checkpoint's files in name order */
        while (shard < nf && strcmp(files[shard], x->file) != 0) shard++;
        t->init = HD_RM_INIT_SOURCE;
        t->src = x->data;
        t->src_type = (hd_type)x->hd_type;
        t->src_shard = shard;
    }
    return HD_OK;
}

/* OUT-lora.gguf from the adapter as lm/llama_lora.c reads and checks it
 * (attached to the folder's LM): llama.cpp's names and keys; lora_b of Q/K
 * permuted like the base rows.  alpha is written so that llama.cpp's
 * alpha / rank is the adapter's scale (PEFT's rsLoRA included). */
static hd_status write_lora(const char *dir, const hd_llama_config *text, const char *out, const hd_convert_params *p,
                            hd_error *err) {
    hd_llama_model *m = hd_llama_load(dir, err);
    if (!m) return err ? err->code : HD_ERR_FORMAT;
    hd_status st = hd_llama_lora_attach(m, dir, err);
    hd_rm_plan plan = {0};
    hd_gguf_writer *w = NULL;
    static const char *const gg[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    static const char *const hf[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    for (int l = 0; !st && l < m->cfg.n_layer; l++) {
        const hd_nn_layer_w *nn = &m->layers[l].nn;
        const hd_nn_lora *ls[7] = {nn->attn.lora_q,    nn->attn.lora_k,  nn->attn.lora_v,   nn->attn.lora_o,
                                   nn->mlp.lora_gate, nn->mlp.lora_up, nn->mlp.lora_down};
        for (int k = 0; !st && k < 7; k++) {
            if (!ls[k]) continue;
            const hd_tensor *ab[2] = {ls[k]->a, ls[k]->b};
            for (int j = 0; !st && j < 2; j++) {
                char hn[160], gn[96];
                snprintf(hn, sizeof hn, "base_model.model.language_model.model.layers.%d.%s.lora_%c.weight", l, hf[k],
                         j ? 'B' : 'A');
                snprintf(gn, sizeof gn, "blk.%d.%s.weight.lora_%c", l, gg[k], j ? 'b' : 'a');
                /* PyTorch shape = ggml reversed: A [r, in], B [out, r] */
                const int64_t shape[2] = {ab[j]->ne[1], ab[j]->ne[0]};
                const int heads = j == 1 && k == 0 ? text->n_head : j == 1 && k == 1 ? text->n_head_kv : 0;
                st = hd_rm_plan_add(&plan, hn, gn, 2, shape, HD_RM_INIT_SOURCE, 0, heads, NULL, err);
                if (st) break;
                hd_rm_tensor *t = &plan.t[plan.n - 1];
                if (ab[j]->type != HD_TYPE_F32 && ab[j]->type != HD_TYPE_F16 && ab[j]->type != HD_TYPE_BF16)
                    st = hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: LoRA tensor %s is not F32/F16/BF16", dir, hn);
                t->src = ab[j]->data;
                t->src_type = ab[j]->type;
                t->src_shard = 0;
            }
        }
    }
    hd_random_model_params rp = hd_random_model_default_params();
    rp.type = p->type == HD_TYPE_F32 || p->type == HD_TYPE_BF16 ? p->type : HD_TYPE_F16;
    rp.n_threads = p->n_threads;
    rp.progress = p->progress, rp.progress_ctx = p->progress_ctx;
    const float alpha = hd_llama_lora_scale(m) * (float)hd_llama_lora_rank(m);
    if (!st && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    if (!st) {
        const char *arch = text->granite ? "granite" : "llama";
        bool ok = hd_gguf_set_str(w, "general.architecture", arch) == HD_OK &&
                  hd_gguf_set_str(w, "general.type", "adapter") == HD_OK &&
                  (!text->name[0] || hd_gguf_set_str(w, "general.name", text->name) == HD_OK) &&
                  hd_gguf_set_u32(w, "general.file_type", hd_convert_file_type(rp.type)) == HD_OK &&
                  hd_gguf_set_str(w, "adapter.type", "lora") == HD_OK &&
                  hd_gguf_set_f32(w, "adapter.lora.alpha", alpha) == HD_OK &&
                  hd_gguf_set_u32(w, "general.quantization_version", 2) == HD_OK;
        if (!ok) st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", out);
    }
    if (!st) st = hd_rm_check_type(&plan, &rp, err);
    if (!st) st = hd_rm_write_gguf(&plan, &rp, w, out, err);
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&plan);
    hd_llama_free(m);
    return st;
}

hd_status hd_granite_speech_convert(const char *dir, const char *out_gguf, const hd_convert_params *p,
                                    hd_error *err) {
    if (!dir || !out_gguf || !p) return hd_error_set(err, HD_ERR_ARG, "convert: no input or output path");
    if (!ends_with(out_gguf, ".gguf") || strlen(out_gguf) < 6)
        return hd_error_set(err, HD_ERR_ARG, "%s: the output must be a .gguf path (the LM and LoRA go beside it)",
                            out_gguf);
    const size_t nb = strlen(out_gguf) - 5;
    char *lm_out = malloc(nb + 16), *lora_out = malloc(nb + 16), *cfg_path = malloc(strlen(dir) + 16);
    char *txt = NULL;
    cJSON *root = NULL;
    hd_safetensors *sf = NULL;
    hd_tokenizer *tok = NULL;
    bool *used = NULL;
    const char **files = NULL;
    hd_gguf_writer *w = NULL;
    hd_rm_plan audio = {0}, lm = {0};
    hd_status st = HD_OK;
    if (!lm_out || !lora_out || !cfg_path) {
        st = hd_error_set(err, HD_ERR_NOMEM, "convert: out of memory");
        goto done;
    }
    snprintf(lm_out, nb + 16, "%.*s-lm.gguf", (int)nb, out_gguf);
    snprintf(lora_out, nb + 16, "%.*s-lora.gguf", (int)nb, out_gguf);
    snprintf(cfg_path, strlen(dir) + 16, "%s/config.json", dir);

    /* configs: the LM (text_config), encoder, projector, audio token, adapter */
    size_t len = 0;
    if (!(txt = hd_read_text_file(cfg_path, (size_t)16 << 20, &len, err))) {
        st = err ? err->code : HD_ERR_IO;
        goto done;
    }
    hd_llama_config text;
    hd_granite_encoder_config ec;
    hd_qformer_config qc;
    if ((st = hd_llama_config_from_hf_json(&text, txt, len, cfg_path, err)) ||
        (st = hd_granite_encoder_config_from_hf_json(&ec, txt, len, cfg_path, err)) ||
        (st = hd_qformer_config_from_hf_json(&qc, txt, len, cfg_path, err)))
        goto done;
    if (!text.granite) {
        st = hd_error_set(err, HD_ERR_ARG, "%s: not a granite_speech config", cfg_path);
        goto done;
    }
    root = cJSON_ParseWithLength(txt, len);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "audio_token_index");
    const cJSON *hl = cJSON_GetObjectItemCaseSensitive(root, "has_lora_adapter");
    const double audio_token = cJSON_IsNumber(at) ? at->valuedouble : 49155;   /* GraniteSpeechConfig default */
    if (audio_token < 0 || audio_token >= text.n_vocab || audio_token != floor(audio_token)) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: audio_token_index is not an id below vocab_size %d", cfg_path,
                          text.n_vocab);
        goto done;
    }
    const bool has_lora = !hl || cJSON_IsTrue(hl);
    if (p->name) snprintf(text.name, sizeof text.name, "%s", p->name);
    else {
        const char *b = base_name(dir);
        snprintf(text.name, sizeof text.name, "%s", *b ? b : "granite-speech");
    }

    /* every tensor of the folder: LM + encoder + projector, nothing else */
    if (!(sf = hd_safetensors_open(dir, err))) {
        st = err ? err->code : HD_ERR_IO;
        goto done;
    }
    const int64_t n_src = hd_safetensors_n_tensors(sf);
    int nf = 0;
    used = calloc((size_t)(n_src > 0 ? n_src : 1), sizeof *used);
    files = file_list(sf, &nf);
    if (!used || !files) {
        st = hd_error_set(err, HD_ERR_NOMEM, "convert: out of memory");
        goto done;
    }
    if ((st = hd_rm_granite_audio_plan(&ec, &qc, &audio, err)) ||
        (st = hd_rm_granite_lm_plan(&text, 0.02f, &lm, err)) || (st = bind(&audio, sf, used, files, nf, dir, err)) ||
        (st = bind(&lm, sf, used, files, nf, dir, err)))
        goto done;
    for (int64_t i = 0; i < n_src; i++) {
        const hd_st_tensor *x = hd_safetensors_tensor(sf, i);
        if (!used[i] && !ends_with(x->name, ".num_batches_tracked") && !ends_with(x->name, ".rotary_emb.inv_freq")) {
            st = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor %s is not part of the model config.json describes",
                              x->file, x->name);
            goto done;
        }
    }
    hd_random_model_params rp = hd_random_model_default_params();
    rp.type = p->type;
    rp.n_threads = p->n_threads;
    rp.progress = p->progress, rp.progress_ctx = p->progress_ctx;
    if ((st = hd_rm_check_type(&audio, &rp, err)) || (st = hd_rm_check_type(&lm, &rp, err))) goto done;

    /* the LM with the folder's tokenizer (none: a GGUF without tokenizer keys) */
    hd_error terr = {0};
    tok = hd_tokenizer_load(dir, &terr);
    if (!tok && terr.code != HD_ERR_NOTFOUND) {
        if (err) *err = terr;
        st = terr.code;
        goto done;
    }
    if (tok && hd_tokenizer_n_vocab(tok) > text.n_vocab) {
        st = hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has %d ids, vocab_size is %d", dir,
                          (int)hd_tokenizer_n_vocab(tok), text.n_vocab);
        goto done;
    }
    if ((st = hd_rm_llama_write_gguf(&text, &lm, tok, &rp, lm_out, err))) goto done;
    if (has_lora && (st = write_lora(dir, &text, lora_out, p, err))) goto done;

    /* OUT.gguf: encoder + projector and the names of the files beside it */
    if (!(w = hd_gguf_writer_create(err))) {
        st = err ? err->code : HD_ERR_NOMEM;
        goto done;
    }
    bool ok = hd_gguf_set_str(w, "general.architecture", "granite_speech") == HD_OK &&
              hd_gguf_set_str(w, "general.type", "model") == HD_OK &&
              hd_gguf_set_str(w, "general.name", text.name) == HD_OK &&
              hd_gguf_set_u32(w, "general.file_type", hd_convert_file_type(p->type)) == HD_OK &&
              hd_gguf_set_u32(w, "granite_speech.audio_token_index", (uint32_t)audio_token) == HD_OK &&
              hd_gguf_set_str(w, "granite_speech.lm_file", base_name(lm_out)) == HD_OK &&
              (!has_lora || hd_gguf_set_str(w, "granite_speech.lora_file", base_name(lora_out)) == HD_OK) &&
              hd_gguf_set_u32(w, "general.quantization_version", 2) == HD_OK;
    if (!ok) {
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", out_gguf);
        goto done;
    }
    if ((st = hd_granite_encoder_config_to_gguf(&ec, w, err)) || (st = hd_qformer_config_to_gguf(&qc, w, err)))
        goto done;
    st = hd_rm_write_gguf(&audio, &rp, w, out_gguf, err);
done:
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&audio);
    hd_rm_plan_free(&lm);
    hd_tokenizer_free(tok);
    hd_safetensors_close(sf);
    free(used);
    free(files);
    cJSON_Delete(root);
    free(txt);
    free(cfg_path);
    free(lm_out);
    free(lora_out);
    return st;
}
