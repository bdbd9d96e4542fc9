/* speech/tn_random.c — random-weight TN taggers in the GGUF layout of
 * speech/tn_model.h (presets tiny, base); GGUF only, the paper's TN weights
 * were never published.  Tests call hd_rm_arch_tn.write (lm/random_model.c
 * can list it for `herd random-model --arch tn`).
 *
 * Initialisation N(0, std²): matrices 1/sqrt(fan_in); embeddings 1; biases 0.1. */
#include "tn_model.h"

#include "lm/random_model_impl.h"

#include <math.h>
#include <stdio.h>

typedef struct planner {
    hd_rm_plan *plan;
    hd_error *err;
    hd_status st;
} planner;

static void add(planner *P, float std, int64_t d0, int64_t d1, const char *fmt, int l) {
    if (P->st) return;
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const int64_t shape[2] = {d0, d1};
    P->st = hd_rm_plan_add(P->plan, NULL, name, d1 > 0 ? 2 : 1, shape, HD_RM_INIT_NORMAL, std, 0, NULL, P->err);
}

static void add_matrix(planner *P, int64_t out, int64_t in, const char *fmt, int l) {
    add(P, (float)(1.0 / sqrt((double)in)), out, in, fmt, l);
}

static hd_status tn_plan(const hd_tn_config *c, hd_rm_plan *plan, hd_error *err) {
    planner P = {.plan = plan, .err = err, .st = HD_OK};
    const int64_t H = c->n_hidden;
    add(&P, 1.0f, c->n_bucket, c->n_embd, "tok_embd.weight", 0);   /* [B, E] */
    add(&P, 1.0f, 4, c->n_embd, "cat_embd.weight", 0);              /* [4, E] */
    for (int l = 0; l < c->n_layer; l++) {
        add_matrix(&P, 4 * H, l ? H : c->n_embd, "lstm.%d.weight_ih", l);   /* [4H, in] */
        add_matrix(&P, 4 * H, H, "lstm.%d.weight_hh", l);                   /* [4H, H] */
        add(&P, 0.1f, 4 * H, 0, "lstm.%d.bias_ih", l);
        add(&P, 0.1f, 4 * H, 0, "lstm.%d.bias_hh", l);
    }
    add_matrix(&P, H, H, "attn_q.weight", 0);
    add(&P, 0.1f, H, 0, "attn_q.bias", 0);
    add_matrix(&P, H, c->n_llm, "attn_k.weight", 0);
    add(&P, 0.1f, H, 0, "attn_k.bias", 0);
    add_matrix(&P, H, c->n_llm, "attn_v.weight", 0);
    add(&P, 0.1f, H, 0, "attn_v.bias", 0);
    add_matrix(&P, H, H, "attn_o.weight", 0);
    add(&P, 0.1f, H, 0, "attn_o.bias", 0);
    add_matrix(&P, c->n_tags, H, "output.weight", 0);
    add(&P, 0.1f, c->n_tags, 0, "output.bias", 0);
    return P.st;
}

static const char *const *tn_presets(void) {
    /* any "tiny+LLAMA" / "base+LLAMA" works (tn_model.h); these are listed */
    static const char *const k[] = {"tiny", "base", "tiny+tiny", "base+llama-3.2-1b", "base+llama-3.2-3b",
                                    "base+llama-3.1-8b", NULL};
    return k;
}

static hd_status tn_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    hd_tn_config c;
    if (!p->preset || !hd_tn_preset(p->preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown tn preset \"%s\" (tiny, base, or either + a Llama preset: tiny+tiny)", p->preset ? p->preset : "");
    if (p->format != HD_RM_GGUF) return hd_error_set(err, HD_ERR_ARG, "tn: only --format gguf");
    if (p->tokenizer || p->n_vocab > 0) return hd_error_set(err, HD_ERR_ARG, "tn: takes no tokenizer or vocabulary size");
    hd_rm_plan plan = {0};
    hd_status st = tn_plan(&c, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    hd_gguf_writer *w = NULL;
    if (st == HD_OK && !(w = hd_gguf_writer_create(err))) st = err ? err->code : HD_ERR_NOMEM;
    if (st == HD_OK && hd_gguf_set_str(w, "general.architecture", "tn") != HD_OK)
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_tn_config_to_gguf(&c, w, err);
    if (st == HD_OK && (hd_gguf_set_str(w, "general.name", p->preset) != HD_OK ||
                        hd_gguf_set_u32(w, "general.file_type", hd_rm_file_type(p->type)) != HD_OK ||
                        hd_gguf_set_u32(w, "general.quantization_version", 2) != HD_OK))
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    if (st == HD_OK) st = hd_rm_write_gguf(&plan, p, w, path, err);
    hd_gguf_writer_free(w);
    hd_rm_plan_free(&plan);
    return st;
}

const hd_rm_arch hd_rm_arch_tn = {"tn", tn_presets, tn_write};
