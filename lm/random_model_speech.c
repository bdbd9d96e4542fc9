/* lm/random_model_speech.c — random-weight speech-understanding models
 * (`herd random-model --arch speech`) in the two-file layout of
 * speech/speech_model.h:
 *
 *   OUT.gguf      Conformer (speech/conformer.h) + adapter
 *                 (adapters/speech_adapter.h) + speech.* keys
 *   OUT-lm.gguf   the Llama 3 LM as llama.cpp's converter writes it (written
 *                 only when the preset names an LM; OUT.gguf's speech.lm_file
 *                 then names it)
 *
 * Presets, ENCODER[+LM]:
 *   tiny                    conformer "tiny" + adapter "tiny" + llama "tiny"
 *                           (D 64, vocabulary 128 256, the tokenizer of
 *                           --tokenizer when given); a few MB, for tests
 *   small                   a Conformer-M-sized encoder (D 256, F 1024, 16 blocks,
 *                           4 heads of 64, K 7; 24M) + adapter (D_a 512, F 1024,
 *                           8 heads of 64; 4M) to the 1B width 2048, no LM: the
 *                           small model of tools/bench/speech_vs_torch.sh
 *   paper-1b                the paper's 1B encoder + its ~100M adapter to the
 *                           8B width 4096, no LM: pair it with any Llama 3.1
 *                           8B GGUF (`--lm`); 4.4 GB F32, 2.2 GB BF16
 *   paper-1b+llama-3.2-1b   + a random Llama 3.2 1B (adapter to 2048)
 *   paper-1b+llama-3.2-3b   + a random Llama 3.2 3B (adapter to 3072)
 *   paper-1b+llama-3.1-8b   + a random Llama 3.1 8B (adapter to 4096; 16 GB BF16)
 * The plain paper-1b is the default paper preset because the LM dominates
 * the size and a real LM file can be used as it is.
 *
 * Adapter initialisation as the Conformer's (speech/random_model_conformer.c):
 * matrices N(0, 1/fan_in), RMSNorm γ 1 + 0.1·N(0, 1), biases 0.1·N(0, 1), so
 * activations stay O(1) and parity tests exercise every nonlinearity.  The
 * LM is lm/random_model_llama.c's (N(0, 0.02²)). */
#include "random_model_impl.h"

#include "adapters/speech_adapter.h"
#include "lm/llama_config.h"
#include "lm/tokenizer.h"
#include "speech/random_model_conformer.h"
#include "speech/speech_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_STD 0.1f

static const char *const k_presets[] = {
    "tiny", "small", "paper-1b", "paper-1b+llama-3.2-1b", "paper-1b+llama-3.2-3b", "paper-1b+llama-3.1-8b", NULL,
};

static const char *const *speech_presets(void) { return k_presets; }

typedef struct speech_preset {
    hd_conformer_config enc;
    hd_speech_adapter_config adp;
    bool has_lm;
    hd_llama_config lm;
} speech_preset;

static bool preset_of(const char *name, speech_preset *s) {
    memset(s, 0, sizeof *s);
    if (strcmp(name, "small") == 0) {
        if (!hd_conformer_preset("tiny", &s->enc)) return false;   /* mel, stack, epsilons, θ */
        s->enc.n_embd = 256, s->enc.n_ff = 1024, s->enc.n_layer = 16, s->enc.n_head = 4, s->enc.head_dim = 64;
        s->enc.conv_kernel = 7;
        if (!hd_speech_adapter_preset("tiny", 256, 2048, &s->adp)) return false;
        s->adp.n_embd = 512, s->adp.n_ff = 1024, s->adp.n_head = 8, s->adp.n_head_kv = 8, s->adp.head_dim = 64;
        return true;
    }
    const char *plus = strchr(name, '+');
    const bool tiny = strcmp(name, "tiny") == 0;
    if (!tiny && strncmp(name, "paper-1b", plus ? (size_t)(plus - name) : strlen(name) + 1) != 0) return false;
    if (!tiny && plus && !hd_llama_config_preset(plus + 1, &s->lm)) return false;
    if (tiny && !hd_llama_config_preset("tiny", &s->lm)) return false;
    s->has_lm = tiny || plus;
    if (!hd_conformer_preset(tiny ? "tiny" : "paper-1b", &s->enc)) return false;
    return hd_speech_adapter_preset(tiny ? "tiny" : "paper", s->enc.n_embd, s->has_lm ? s->lm.n_embd : 4096, &s->adp);
}

static hd_status add(hd_rm_plan *plan, hd_rm_init init, float std, int64_t rows, int64_t cols, const char *fmt, int l,
                     hd_error *err) {
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const int64_t shape[2] = {rows, cols};
    return hd_rm_plan_add(plan, NULL, name, cols ? 2 : 1, shape, init, std, 0, NULL, err);
}
#define MATRIX(out, in, name, l) add(plan, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt((double)(in))), out, in, name, l, err)
#define VECTOR(n, name) add(plan, HD_RM_INIT_NORMAL, VEC_STD, n, 0, name, 0, err)
#define GAMMA(n, name, l) add(plan, HD_RM_INIT_NORM, VEC_STD, n, 0, name, l, err)

/* The adp.* tensors in module order (conv, layers, output). */
static hd_status adapter_plan(const hd_speech_adapter_config *c, hd_rm_plan *plan, hd_error *err) {
    const int64_t D = c->n_embd, F = c->n_ff, Kin = (int64_t)c->conv_kernel * c->n_in;
    const int64_t Hd = (int64_t)c->n_head * c->head_dim, Gd = (int64_t)c->n_head_kv * c->head_dim;
    hd_status st;
    if ((st = MATRIX(D, Kin, "adp.conv.weight", 0)) || (st = VECTOR(D, "adp.conv.bias"))) return st; /* [D_a, K·D_enc] */
    for (int l = 0; l < c->n_layer; l++)
        if ((st = GAMMA(D, "adp.blk.%d.attn_norm.weight", l)) ||
            (st = MATRIX(Hd, D, "adp.blk.%d.attn_q.weight", l)) ||          /* [H·d, D_a] */
            (st = MATRIX(Gd, D, "adp.blk.%d.attn_k.weight", l)) ||          /* [G·d, D_a] */
            (st = MATRIX(Gd, D, "adp.blk.%d.attn_v.weight", l)) ||          /* [G·d, D_a] */
            (st = MATRIX(D, Hd, "adp.blk.%d.attn_output.weight", l)) ||     /* [D_a, H·d] */
            (st = GAMMA(D, "adp.blk.%d.ffn_norm.weight", l)) ||
            (st = MATRIX(F, D, "adp.blk.%d.ffn_gate.weight", l)) ||         /* [F, D_a]   */
            (st = MATRIX(F, D, "adp.blk.%d.ffn_up.weight", l)) ||           /* [F, D_a]   */
            (st = MATRIX(D, F, "adp.blk.%d.ffn_down.weight", l)))           /* [D_a, F]   */
            return st;
    if ((st = MATRIX(c->n_out, D, "adp.out.weight", 0)) || (st = VECTOR(c->n_out, "adp.out.bias"))) return st;
    return HD_OK;
}

/* OUT.gguf → OUT-lm.gguf (OUT-lm.gguf for a name without the suffix too). */
static char *lm_path_of(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) n -= 5;
    char *s = malloc(n + sizeof "-lm.gguf");
    if (s) memcpy(s, path, n), memcpy(s + n, "-lm.gguf", sizeof "-lm.gguf");
    return s;
}

/* The tokenizer for the LM (as lm/random_model_llama.c: its ids must be the
 * vocabulary rows; Llama 3.1/3.2 HF special names). */
static hd_status load_tokenizer(const hd_random_model_params *p, hd_llama_config *lc, hd_tokenizer **tok,
                                hd_error *err) {
    *tok = NULL;
    if (!p->tokenizer) return HD_OK;
    if (!(*tok = hd_tokenizer_load(p->tokenizer, err))) return err ? err->code : HD_ERR_IO;
    hd_status st = HD_OK;
    if (hd_tokenizer_n_vocab(*tok) != lc->n_vocab)
        st = hd_error_set(err, HD_ERR_ARG, "%s: the tokenizer has %d ids but the LM has %d vocabulary rows", p->tokenizer,
                          hd_tokenizer_n_vocab(*tok), lc->n_vocab);
    else if (hd_tokenizer_bos(*tok) < 0 || hd_tokenizer_eos(*tok) < 0)
        st = hd_error_set(err, HD_ERR_ARG, "%s: no <|begin_of_text|> / <|end_of_text|> tokens", p->tokenizer);
    else
        st = hd_tokenizer_set_names(*tok, HD_TOKENIZER_NAMES_LLAMA3_1, err);
    if (st == HD_OK) {
        lc->bos_token_id = hd_tokenizer_bos(*tok);
        lc->n_eos = 1;
        lc->eos_token_ids[0] = hd_tokenizer_eos(*tok);
    } else {
        hd_tokenizer_free(*tok);
        *tok = NULL;
    }
    return st;
}

static hd_status write_speech_file(const speech_preset *s, const hd_random_model_params *p, const char *path,
                                   const char *lm_file, hd_error *err) {
    hd_rm_plan plan = {0};
    hd_gguf_writer *w = NULL;
    hd_status st = hd_rm_conformer_plan(&s->enc, p->seed, &plan, err);
    if (st == HD_OK) st = adapter_plan(&s->adp, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    if (st == HD_OK && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    if (st == HD_OK) st = hd_conformer_config_to_gguf(&s->enc, w, err);   /* general.architecture = conformer */
    if (st == HD_OK) st = hd_speech_adapter_config_to_gguf(&s->adp, w, err);
    if (st == HD_OK && (hd_gguf_set_str(w, "general.name", p->preset) != HD_OK ||
                        hd_gguf_set_u32(w, "general.file_type", hd_rm_file_type(p->type)) != HD_OK ||
                        hd_gguf_set_u32(w, "speech.begin_token_id", HD_SPEECH_BEGIN_TOKEN) != HD_OK ||
                        hd_gguf_set_u32(w, "speech.end_token_id", HD_SPEECH_END_TOKEN) != HD_OK ||
                        (lm_file && hd_gguf_set_str(w, "speech.lm_file", lm_file) != HD_OK) ||
                        hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK))
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&plan);
    return st;
}

static hd_status speech_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    speech_preset s;
    if (!p->preset || !preset_of(p->preset, &s))
        return hd_error_set(err, HD_ERR_ARG,
                            "unknown speech preset \"%s\" (one of: tiny, small, paper-1b, paper-1b+llama-3.2-1b, "
                            "paper-1b+llama-3.2-3b, paper-1b+llama-3.1-8b)",
                            p->preset ? p->preset : "");
    if (p->format != HD_RM_GGUF)
        return hd_error_set(err, HD_ERR_ARG, "speech: only --format gguf (the speech model has no Hugging Face layout)");
    if (!s.has_lm && (p->tokenizer || p->n_vocab > 0))
        return hd_error_set(err, HD_ERR_ARG, "speech: preset %s writes no LM, so it takes no tokenizer or vocabulary",
                            p->preset);
    if (p->n_vocab > 0) {
        if (p->n_vocab > (1 << 26)) return hd_error_set(err, HD_ERR_ARG, "vocabulary of %lld is too large", (long long)p->n_vocab);
        s.lm.n_vocab = (int)p->n_vocab;
    }
    if (s.has_lm && s.lm.n_vocab <= HD_SPEECH_END_TOKEN)
        return hd_error_set(err, HD_ERR_ARG, "speech: the LM needs at least %d vocabulary rows for the speech tokens %d, %d",
                            HD_SPEECH_END_TOKEN + 1, HD_SPEECH_BEGIN_TOKEN, HD_SPEECH_END_TOKEN);
    hd_tokenizer *tok = NULL;
    hd_status st = s.has_lm ? load_tokenizer(p, &s.lm, &tok, err) : HD_OK;
    if (st) return st;
    if (tok && (!hd_tokenizer_is_special(tok, HD_SPEECH_BEGIN_TOKEN) || !hd_tokenizer_is_special(tok, HD_SPEECH_END_TOKEN)))
        st = hd_error_set(err, HD_ERR_ARG, "%s: ids %d and %d are not special tokens", p->tokenizer,
                          HD_SPEECH_BEGIN_TOKEN, HD_SPEECH_END_TOKEN);
    char *lm_path = NULL;
    const char *lm_file = NULL;
    if (st == HD_OK && s.has_lm) {
        if (!(lm_path = lm_path_of(path))) st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        else lm_file = strrchr(lm_path, '/') ? strrchr(lm_path, '/') + 1 : lm_path;
    }
    /* the LM's plan is checked before anything is written: no half-written pair */
    hd_rm_plan lm_plan = {0};
    if (st == HD_OK && s.has_lm && (st = hd_rm_llama_plan(&s.lm, &lm_plan, err)) == HD_OK)
        st = hd_rm_check_type(&lm_plan, p, err);
    if (st == HD_OK) st = write_speech_file(&s, p, path, lm_file, err);
    if (st == HD_OK && s.has_lm) st = hd_rm_llama_write_gguf(&s.lm, &lm_plan, tok, p, lm_path, err);
    hd_rm_plan_free(&lm_plan);
    free(lm_path);
    hd_tokenizer_free(tok);
    return st;
}

const hd_rm_arch hd_rm_arch_speech = {"speech", speech_presets, speech_write};
