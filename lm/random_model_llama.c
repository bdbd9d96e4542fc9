/* lm/random_model_llama.c — random Llama 3.x decoders (LlamaForCausalLM):
 * the tensor list in HF state_dict order with the GGUF names convert_hf_to_gguf.py
 * gives them (SPEC §1.7), the GGUF llama.* keys, config.json and
 * generation_config.json (see random_model.h). */
#include "random_model_impl.h"

#include "lm/llama_config.h"
#include "lm/tokenizer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHT_STD 0.02f   /* matrices: N(0, 0.02²), HF initializer_range */
#define NORM_STD 0.02f     /* RMSNorm γ: 1 + N(0, 0.02²), so a swapped norm shows */

static hd_status add(hd_rm_plan *plan, const char *hf, const char *gguf, int64_t rows, int64_t cols,
                     hd_rm_init init, int rope_heads, hd_error *err) {
    const int64_t shape[2] = {rows, cols};
    const float std = init == HD_RM_INIT_NORM ? NORM_STD : WEIGHT_STD;
    return hd_rm_plan_add(plan, hf, gguf, cols ? 2 : 1, shape, init, std, rope_heads, NULL, err);
}

/* Every tensor of the model, HF state_dict order (LlamaForCausalLM module order). */
hd_status hd_rm_llama_plan(const hd_llama_config *c, hd_rm_plan *plan, hd_error *err) {
    const int64_t V = c->n_vocab, D = c->n_embd, F = c->n_ff;
    const int64_t Hd = (int64_t)c->n_head * c->head_dim, Gd = (int64_t)c->n_head_kv * c->head_dim;
    hd_status st;
    /* rope_freqs.weight [d/2] F32: GGUF only, the llama3 scaling factors */
    if (c->rope_scaling == HD_ROPE_SCALING_LLAMA3) {
        float *f = malloc((size_t)(c->head_dim / 2) * sizeof *f);
        if (!f) return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
        hd_llama_rope_freq_factors(c, f);
        const int64_t shape[1] = {c->head_dim / 2};
        st = hd_rm_plan_add(plan, NULL, "rope_freqs.weight", 1, shape, HD_RM_INIT_DATA, 0, 0, f, err);
        free(f);
        if (st) return st;
    }
    if ((st = add(plan, "model.embed_tokens.weight", "token_embd.weight", V, D, HD_RM_INIT_NORMAL, 0, err)))
        return st;                                                                   /* [V, D] */
    for (int l = 0; l < c->n_layer; l++) {
        char hf[9][96], gg[9][64];
        static const char *const hfn[9] = {
            "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
            "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm",
        };
        static const char *const ggn[9] = {
            "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm", "ffn_norm",
        };
        for (int k = 0; k < 9; k++) {
            snprintf(hf[k], sizeof hf[k], "model.layers.%d.%s.weight", l, hfn[k]);
            snprintf(gg[k], sizeof gg[k], "blk.%d.%s.weight", l, ggn[k]);
        }
        if ((st = add(plan, hf[0], gg[0], Hd, D, HD_RM_INIT_NORMAL, c->n_head, err)) ||    /* q    [H·d, D] */
            (st = add(plan, hf[1], gg[1], Gd, D, HD_RM_INIT_NORMAL, c->n_head_kv, err)) || /* k    [G·d, D] */
            (st = add(plan, hf[2], gg[2], Gd, D, HD_RM_INIT_NORMAL, 0, err)) ||            /* v    [G·d, D] */
            (st = add(plan, hf[3], gg[3], D, Hd, HD_RM_INIT_NORMAL, 0, err)) ||            /* o    [D, H·d] */
            (st = add(plan, hf[4], gg[4], F, D, HD_RM_INIT_NORMAL, 0, err)) ||             /* gate [F, D]   */
            (st = add(plan, hf[5], gg[5], F, D, HD_RM_INIT_NORMAL, 0, err)) ||             /* up   [F, D]   */
            (st = add(plan, hf[6], gg[6], D, F, HD_RM_INIT_NORMAL, 0, err)) ||             /* down [D, F]   */
            (st = add(plan, hf[7], gg[7], D, 0, HD_RM_INIT_NORM, 0, err)) ||               /* [D]           */
            (st = add(plan, hf[8], gg[8], D, 0, HD_RM_INIT_NORM, 0, err)))                 /* [D]           */
            return st;
    }
    if ((st = add(plan, "model.norm.weight", "output_norm.weight", D, 0, HD_RM_INIT_NORM, 0, err))) return st;
    if (!c->tie_word_embeddings &&
        (st = add(plan, "lm_head.weight", "output.weight", V, D, HD_RM_INIT_NORMAL, 0, err)))   /* [V, D] */
        return st;
    return HD_OK;
}

/* generation_config.json of the base checkpoints (transformers writes it sorted, indent 2). */
static char *generation_config(const hd_llama_config *c) {
    char bos[48] = "", eos[48] = "";
    if (c->bos_token_id >= 0) snprintf(bos, sizeof bos, "  \"bos_token_id\": %d,\n", c->bos_token_id);
    if (c->n_eos > 0) snprintf(eos, sizeof eos, "  \"eos_token_id\": %d,\n", c->eos_token_ids[0]);
    const char *fmt = "{\n  \"_from_model_config\": true,\n%s  \"do_sample\": true,\n%s"
                      "  \"temperature\": 0.6,\n  \"top_p\": 0.9,\n  \"transformers_version\": \"4.45.0.dev0\"\n}\n";
    size_t n = strlen(fmt) + strlen(bos) + strlen(eos) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, bos, eos);
    return s;
}

static const char *torch_dtype(hd_type t) {
    return t == HD_TYPE_F16 ? "float16" : t == HD_TYPE_BF16 ? "bfloat16" : "float32";
}

hd_status hd_rm_llama_write_gguf(const hd_llama_config *c, const hd_rm_plan *plan, const hd_tokenizer *tok,
                                 const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_gguf_writer *w = hd_gguf_writer_create(err);
    if (!w) return err ? err->code : HD_ERR_NOMEM;
    hd_status st = hd_llama_config_to_gguf(c, hd_rm_file_type(p->type), w, err);
    if (st == HD_OK && tok) st = hd_tokenizer_to_gguf(tok, w, c->eos_token_ids[0], err);
    if (st == HD_OK && hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(plan, p, w, path, err);
    hd_gguf_writer_free(w);
    return st;
}

static hd_status write_hf(const hd_llama_config *c, const hd_rm_plan *plan, const hd_tokenizer *tok,
                          const hd_random_model_params *p, const char *dir, hd_error *err) {
    hd_status st = hd_rm_check_type(plan, p, err);
    if (st) return st;
    if (p->dry_run) return hd_rm_write_hf_weights(plan, p, dir, err);
    if ((st = hd_rm_prepare_dir(dir, err)) || (st = hd_rm_write_hf_weights(plan, p, dir, err))) return st;
    if (tok && (st = hd_tokenizer_write_hf(tok, dir, c->eos_token_ids[0], err))) return st;
    char *cfg = hd_llama_config_to_hf_json(c, torch_dtype(p->type), err);
    if (!cfg) return err ? err->code : HD_ERR_NOMEM;
    st = hd_rm_write_text(dir, "config.json", cfg, err);
    free(cfg);
    if (st) return st;
    char *gen = generation_config(c);
    if (!gen) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    st = hd_rm_write_text(dir, "generation_config.json", gen, err);
    free(gen);
    return st;
}

static hd_status llama_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_llama_config c;
    if (!p->preset || !hd_llama_config_preset(p->preset, &c)) {
        char list[256] = "";
        for (const char *const *n = hd_llama_config_preset_names(); *n; n++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", n == hd_llama_config_preset_names() ? "" : ", ", *n);
        return hd_error_set(err, HD_ERR_ARG, "unknown llama preset \"%s\" (one of: %s)", p->preset ? p->preset : "",
                            list);
    }
    if (p->n_vocab > 0) {
        if (p->n_vocab > (1 << 26)) return hd_error_set(err, HD_ERR_ARG, "vocabulary of %" PRId64 " is too large", p->n_vocab);
        c.n_vocab = (int)p->n_vocab;
        /* special ids outside the vocabulary are dropped */
        if (c.bos_token_id >= c.n_vocab) c.bos_token_id = -1;
        if (c.pad_token_id >= c.n_vocab) c.pad_token_id = -1;
        int k = 0;
        for (int i = 0; i < c.n_eos; i++)
            if (c.eos_token_ids[i] < c.n_vocab) c.eos_token_ids[k++] = c.eos_token_ids[i];
        c.n_eos = k;
    }
    /* the tokenizer: its ids must be the vocabulary rows; special names as in
     * the Llama 3.1 / 3.2 Hugging Face files (what the presets are) */
    hd_tokenizer *tok = NULL;
    hd_status st = HD_OK;
    if (p->tokenizer) {
        if (!(tok = hd_tokenizer_load(p->tokenizer, err))) return err ? err->code : HD_ERR_IO;
        if (hd_tokenizer_n_vocab(tok) != c.n_vocab)
            st = hd_error_set(err, HD_ERR_ARG,
                              "%s: the tokenizer has %d ids but the model has %d vocabulary rows (use --vocab %d "
                              "or a preset with the real vocabulary)",
                              p->tokenizer, hd_tokenizer_n_vocab(tok), c.n_vocab, hd_tokenizer_n_vocab(tok));
        else if (hd_tokenizer_eos(tok) < 0 || hd_tokenizer_bos(tok) < 0)
            st = hd_error_set(err, HD_ERR_ARG, "%s: no <|begin_of_text|> / <|end_of_text|> tokens", p->tokenizer);
        else
            st = hd_tokenizer_set_names(tok, HD_TOKENIZER_NAMES_LLAMA3_1, err);
        if (st == HD_OK) {
            c.bos_token_id = hd_tokenizer_bos(tok);
            c.n_eos = 1;
            c.eos_token_ids[0] = hd_tokenizer_eos(tok);
        }
    }
    hd_rm_plan plan = {0};
    if (st == HD_OK) st = hd_rm_llama_plan(&c, &plan, err);
    if (st == HD_OK)
        st = p->format == HD_RM_HF ? write_hf(&c, &plan, tok, p, path, err) : hd_rm_llama_write_gguf(&c, &plan, tok, p, path, err);
    hd_rm_plan_free(&plan);
    hd_tokenizer_free(tok);
    return st;
}

const hd_rm_arch hd_rm_arch_llama = {"llama", hd_llama_config_preset_names, llama_write};
