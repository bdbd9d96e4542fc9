/* speech/prosody_random.c — random-weight prosody models in the GGUF layout
 * of speech/prosody.h (`herd random-model --arch prosody --preset tiny|paper`
 * once registered in lm/random_model.c; tests call hd_rm_arch_prosody.write).
 * GGUF only: the paper's TTS weights were never published.
 *
 * Initialisation N(0, std²): matrices 1/sqrt(fan_in); phone embeddings 1;
 * biases 0.1; LayerNorm γ 1 + 0.1·N(0, 1), β 0.1.  The output layer is
 * scaled down (0.1/sqrt(D)) and its bias set to a typical phone — log 0.08 s,
 * log 120 Hz, log 0.01 — so the random model's predictions stay in the range
 * of speech and their effect on the audio can be heard and measured. */
#include "prosody.h"

#include "lm/random_model_impl.h"

#include <math.h>
#include <stdio.h>

#define VEC_STD 0.1f

typedef struct planner {
    hd_rm_plan *plan;
    hd_error *err;
    hd_status st;
} planner;

static void add(planner *P, hd_rm_init init, float std, int64_t d0, int64_t d1, const float *data, const char *fmt,
                int l) {
    if (P->st) return;
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const int64_t shape[2] = {d0, d1};
    P->st = hd_rm_plan_add(P->plan, NULL, name, d1 > 0 ? 2 : 1, shape, init, std, 0, data, P->err);
}

static void add_matrix(planner *P, int64_t out, int64_t in, const char *fmt, int l) {
    add(P, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt((double)in)), out, in, NULL, fmt, l);
}

static void add_vec(planner *P, int64_t n, const char *fmt, int l) { add(P, HD_RM_INIT_NORMAL, VEC_STD, n, 0, NULL, fmt, l); }

static void add_norm(planner *P, int64_t D, const char *what, int l) {
    char fw[64], fb[64];
    snprintf(fw, sizeof fw, "blk.%%d.%s.weight", what);
    snprintf(fb, sizeof fb, "blk.%%d.%s.bias", what);
    add(P, HD_RM_INIT_NORM, VEC_STD, D, 0, NULL, fw, l);
    add_vec(P, D, fb, l);
}

static void add_attn(planner *P, int64_t D, const char *what, int l) {
    static const char *const part[4] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++) {
        char fw[64], fb[64];
        snprintf(fw, sizeof fw, "blk.%%d.%s_%s.weight", what, part[i]);
        snprintf(fb, sizeof fb, "blk.%%d.%s_%s.bias", what, part[i]);
        add_matrix(P, D, D, fw, l);
        add_vec(P, D, fb, l);
    }
}

static hd_status prosody_plan(const hd_prosody_config *c, hd_rm_plan *plan, hd_error *err) {
    planner P = {.plan = plan, .err = err, .st = HD_OK};
    const int64_t D = c->n_embd, F = c->n_ff;
    int64_t V = 0;
    while (hd_prosody_default_phones()[V]) V++;
    add(&P, HD_RM_INIT_NORMAL, 1.0f, V, D, NULL, "phone_embd.weight", 0);   /* [V, D] */
    add_matrix(&P, D, HD_PROSODY_N_FEAT, "feat_proj.weight", 0);            /* [D, 4] */
    add_vec(&P, D, "feat_proj.bias", 0);
    add_matrix(&P, D, HD_PROSODY_N_OUT, "prev_proj.weight", 0);             /* [D, 3] */
    add_vec(&P, D, "prev_proj.bias", 0);
    add_matrix(&P, D, c->n_llm, "tok_proj.weight", 0);                      /* [D, D_llm] */
    add_vec(&P, D, "tok_proj.bias", 0);
    for (int l = 0; l < c->n_layer; l++) {
        add_norm(&P, D, "self_norm", l);
        add_attn(&P, D, "self", l);
        add_norm(&P, D, "ling_norm", l);
        add_attn(&P, D, "ling", l);
        add_norm(&P, D, "tok_norm", l);
        add_attn(&P, D, "tok", l);
        add_norm(&P, D, "ffn_norm", l);
        add_matrix(&P, F, D, "blk.%d.ffn_up.weight", l);     /* [F, D] */
        add_vec(&P, F, "blk.%d.ffn_up.bias", l);
        add_matrix(&P, D, F, "blk.%d.ffn_down.weight", l);   /* [D, F] */
        add_vec(&P, D, "blk.%d.ffn_down.bias", l);
    }
    add(&P, HD_RM_INIT_NORM, VEC_STD, D, 0, NULL, "output_norm.weight", 0);
    add_vec(&P, D, "output_norm.bias", 0);
    add(&P, HD_RM_INIT_NORMAL, (float)(0.1 / sqrt((double)D)), HD_PROSODY_N_OUT, D, NULL, "output.weight", 0);
    const float typical[HD_PROSODY_N_OUT] = {logf(0.08f), logf(120.0f), logf(0.01f)};
    add(&P, HD_RM_INIT_DATA, 0.0f, HD_PROSODY_N_OUT, 0, typical, "output.bias", 0);
    return P.st;
}

static const char *const *prosody_presets(void) {
    /* any "tiny+LLAMA" / "paper+LLAMA" works (prosody.h); these are listed */
    static const char *const k[] = {"tiny", "paper", "tiny+tiny", "paper+llama-3.2-1b", "paper+llama-3.2-3b",
                                    "paper+llama-3.1-8b", NULL};
    return k;
}

static hd_status prosody_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_prosody_config c;
    if (!p->preset || !hd_prosody_preset(p->preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown prosody preset \"%s\" (tiny, paper, or either + a Llama preset: tiny+tiny)",
                            p->preset ? p->preset : "");
    if (p->format != HD_RM_GGUF)
        return hd_error_set(err, HD_ERR_ARG, "prosody: only --format gguf (the paper's TTS weights have no published layout)");
    if (p->tokenizer) return hd_error_set(err, HD_ERR_ARG, "prosody: takes no tokenizer");
    if (p->n_vocab > 0) return hd_error_set(err, HD_ERR_ARG, "prosody: its vocabulary is the phone inventory");
    hd_rm_plan plan = {0};
    hd_status st = prosody_plan(&c, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    hd_gguf_writer *w = NULL;
    if (st == HD_OK && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    if (st == HD_OK && hd_gguf_set_str(w, "general.architecture", "prosody") != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_prosody_config_to_gguf(&c, w, err);
    if (st == HD_OK && (hd_gguf_set_str(w, "general.name", p->preset) != HD_OK ||
                        hd_gguf_set_u32(w, "general.file_type", hd_rm_file_type(p->type)) != HD_OK ||
                        hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK))
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&plan);
    return st;
}

const hd_rm_arch hd_rm_arch_prosody = {"prosody", prosody_presets, prosody_write};
