/* lm/random_model_granite.c — random-weight IBM Granite Speech checkpoints
 * (`herd random-model --arch granite-speech`) in the exact Hugging Face
 * layout of GraniteSpeechForConditionalGeneration:
 *
 *   config.json                 model_type "granite_speech": text_config (a
 *                               GraniteConfig, lm/llama_config.h),
 *                               encoder_config, projector_config
 *                               (blip_2_qformer), audio_token_index,
 *                               window_size, downsample_rate, has_lora_adapter
 *   model.safetensors (or shards + index)
 *                               encoder.* (speech/granite_encoder.h names),
 *                               projector.* (adapters/qformer.h names),
 *                               language_model.model.* (GraniteForCausalLM;
 *                               tied head, so no lm_head)
 *   adapter_config.json + adapter_model.safetensors
 *                               the PEFT LoRA on q_proj/v_proj that the model
 *                               enables only with audio (names
 *                               base_model.model.language_model.model.layers.N.
 *                               self_attn.{q,v}_proj.lora_{A,B}.weight)
 *   preprocessor_config.json    GraniteSpeechFeatureExtractor's keys
 *   generation_config.json
 *   tokenizer.json + tokenizer_config.json   (tiny only: a small byte-level
 *                               BPE vocabulary in Granite's format — Granite's
 *                               special tokens and pre-tokenizer, a few dozen
 *                               merges — so prompts and decoding run
 *                               end to end; the published presets write none,
 *                               their 49 160-token vocabulary is not here)
 *
 * Presets (published shapes from the granite-speech-3.3-2b / -8b config.json
 * as published on the Hugging Face hub — the hub is not reachable here, the
 * values are the published ones as documented in transformers'
 * configuration_granite_speech.py and the model cards: encoder 16 Conformer
 * blocks of 1024, 8 heads of 128, CTC 256, context 200; Q-Former 2 layers of
 * 1024, 16 heads, window 15, downsample 5; LoRA r 64, alpha 32 on q/v):
 *   tiny      LM D 64, 2 layers, H 4, G 2, d 16, F 128, V 305; encoder
 *             D 32, 2 blocks, 2 heads of 16, context 8, K 5, CTC 16;
 *             Q-Former D 32, 2 layers, 2 heads, F 64; LoRA r 4, alpha 8
 *   3.3-2b    granite-3.3-2b: D 2048, 40 layers, H 32, G 8, F 8192,
 *             V 49160, multipliers 12 / 0.22 / 1/64 / logits 8, θ 1e7
 *   3.3-8b    granite-3.3-8b: D 4096, 40 layers, H 32, G 8, F 12800,
 *             V 49160, multipliers 12 / 0.22 / 1/128 / logits 16, θ 1e7
 * GGUF output (--format gguf, path OUT.gguf): the HF folder is written to
 * OUT.gguf.hf.tmp/ (F32, F16 or BF16 as --type; F32 for a block type) and
 * converted by speech/granite_speech_convert.c into OUT.gguf, OUT-lm.gguf and
 * OUT-lora.gguf, so the GGUF set is exactly what `herd convert` makes of the
 * folder; the temporary folder is removed.
 *
 * Initialisation: LM as lm/random_model_llama.c (N(0, σ²), σ 0.02, for tiny
 * 1/√D so the multipliers matter), encoder/projector matrices N(0, 1/fan_in),
 * LayerNorm γ 1 + 0.1·N(0,1), biases 0.1·N(0,1), the queries N(0, 1), BatchNorm
 * running variance 1 + 0.1·N(0,1), LoRA A and B N(0, 1/fan_in) (B is not the
 * zeros PEFT starts from, so the adapter changes the output). */
#include "random_model_granite.h"

#include "lm/llama_config.h"
#include "speech/granite_speech.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VEC_STD 0.1f

static const char *const k_presets[] = {"tiny", "3.3-2b", "3.3-8b", NULL};
static const char *const *granite_presets(void) { return k_presets; }

typedef struct gs_config {
    hd_llama_config text;
    hd_granite_encoder_config enc;
    hd_qformer_config proj;
    int32_t audio_token;
    int lora_r;
    float lora_alpha;
    float lm_std;
} gs_config;

/* ---- the tiny tokenizer ---------------------------------------------------- */

/* Merges of the tiny vocabulary (GPT-2 byte symbols, Ġ = space). */
static const char *const k_merges[][2] = {
    {"Ġ", "t"},  {"h", "e"},  {"Ġt", "he"}, {"i", "n"},  {"e", "r"},   {"a", "n"},  {"o", "n"},  {"Ġ", "a"},
    {"r", "e"},  {"e", "n"},  {"a", "t"},   {"o", "u"},  {"i", "s"},   {"i", "t"},  {"o", "r"},  {"e", "s"},
    {"in", "g"}, {"Ġ", "s"},  {"Ġ", "w"},   {"Ġ", "c"},  {"Ġ", "o"},   {"Ġ", "f"},  {"Ġ", "b"},  {"Ġ", "p"},
    {"a", "l"},  {"e", "d"},  {"Ġ", "i"},   {"Ġ", "m"},  {"l", "e"},   {"a", "r"},  {"Ġ", "h"},  {"Ġ", "d"},
    {"s", "t"},  {"Ġt", "o"}, {"Ġo", "f"},  {"Ġa", "n"}, {"Ġan", "d"}, {"Ġ", "in"}, {"Ġ", "is"}, {"ou", "r"},
    {"Ġ", "y"},  {"Ġy", "our"}, {"Ġ", "g"}, {"Ġ", "T"},
};
#define N_MERGES ((int)(sizeof k_merges / sizeof k_merges[0]))
/* ids: 0 <|end_of_text|>; 1 + b the byte b; then the merges; then the chat and audio specials */
static const char *const k_specials[] = {"<|start_of_role|>", "<|end_of_role|>", "<|tool_call|>", "<|audio|>"};
#define TINY_VOCAB (1 + 256 + N_MERGES + 4)

/* GPT-2's bytes_to_unicode: the printable symbol of byte b (UTF-8 into out). */
static void byte_symbol(int b, char out[8]) {
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        cp = b;
    } else {
        int n = 0;   /* the n-th non-printable byte maps to 256 + n */
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

/* tokenizer.json: Granite's (StarCoder's) layout — BPE model, pre_tokenizer
 * Sequence[Digits(individual), ByteLevel(use_regex)], ByteLevel decoder. */
static char *tiny_tokenizer_json(void) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < 5; i++) {
        cJSON *t = cJSON_CreateObject();
        const int id = i == 0 ? 0 : 1 + 256 + N_MERGES + (i - 1);
        cJSON_AddNumberToObject(t, "id", id);
        cJSON_AddStringToObject(t, "content", i == 0 ? "<|end_of_text|>" : k_specials[i - 1]);
        cJSON_AddBoolToObject(t, "single_word", false);
        cJSON_AddBoolToObject(t, "lstrip", false);
        cJSON_AddBoolToObject(t, "rstrip", false);
        cJSON_AddBoolToObject(t, "normalized", false);
        cJSON_AddBoolToObject(t, "special", true);
        cJSON_AddItemToArray(added, t);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *pts = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *dg = cJSON_CreateObject();
    cJSON_AddStringToObject(dg, "type", "Digits");
    cJSON_AddBoolToObject(dg, "individual_digits", true);
    cJSON_AddItemToArray(pts, dg);
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", false);
    cJSON_AddBoolToObject(bl, "trim_offsets", true);
    cJSON_AddBoolToObject(bl, "use_regex", true);
    cJSON_AddItemToArray(pts, bl);
    cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(post, "type", "ByteLevel");
    cJSON_AddBoolToObject(post, "add_prefix_space", false);
    cJSON_AddBoolToObject(post, "trim_offsets", false);
    cJSON_AddBoolToObject(post, "use_regex", true);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddBoolToObject(dec, "add_prefix_space", false);
    cJSON_AddBoolToObject(dec, "trim_offsets", true);
    cJSON_AddBoolToObject(dec, "use_regex", true);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", false);
    cJSON_AddBoolToObject(model, "byte_fallback", false);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON_AddNumberToObject(vocab, "<|end_of_text|>", 0);
    char sym[8];
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, sym);
        cJSON_AddNumberToObject(vocab, sym, 1 + b);
    }
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (int i = 0; i < N_MERGES; i++) {
        char tok[32], m[40];
        snprintf(tok, sizeof tok, "%s%s", k_merges[i][0], k_merges[i][1]);
        cJSON_AddNumberToObject(vocab, tok, 257 + i);
        snprintf(m, sizeof m, "%s %s", k_merges[i][0], k_merges[i][1]);
        cJSON_AddItemToArray(merges, cJSON_CreateString(m));
    }
    for (int i = 0; i < 4; i++) cJSON_AddNumberToObject(vocab, k_specials[i], 257 + N_MERGES + i);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

/* tokenizer_config.json: the special tokens as the Granite files name them,
 * and a chat template that renders system/user/assistant turns the way the
 * published Granite 3.3 template does for plain text messages. */
static char *tiny_tokenizer_config(void) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "add_bos_token", false);
    cJSON_AddBoolToObject(root, "add_prefix_space", false);
    cJSON *dec = cJSON_AddObjectToObject(root, "added_tokens_decoder");
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i == 0 ? 0 : 257 + N_MERGES + i - 1);
        cJSON *t = cJSON_AddObjectToObject(dec, id);
        cJSON_AddStringToObject(t, "content", i == 0 ? "<|end_of_text|>" : k_specials[i - 1]);
        cJSON_AddBoolToObject(t, "lstrip", false);
        cJSON_AddBoolToObject(t, "normalized", false);
        cJSON_AddBoolToObject(t, "rstrip", false);
        cJSON_AddBoolToObject(t, "single_word", false);
        cJSON_AddBoolToObject(t, "special", true);
    }
    cJSON_AddStringToObject(root, "bos_token", "<|end_of_text|>");
    cJSON_AddStringToObject(root, "eos_token", "<|end_of_text|>");
    cJSON_AddStringToObject(root, "pad_token", "<|end_of_text|>");
    cJSON_AddStringToObject(root, "unk_token", "<|end_of_text|>");
    cJSON_AddStringToObject(
        root, "chat_template",
        "{%- for message in messages %}{{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + "
        "message['content'] + '<|end_of_text|>\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- "
        "'<|start_of_role|>assistant<|end_of_role|>' }}{%- endif %}");
    cJSON_AddBoolToObject(root, "clean_up_tokenization_spaces", true);
    cJSON_AddNumberToObject(root, "model_max_length", 9223372036854775807.0);
    cJSON_AddStringToObject(root, "tokenizer_class", "GPT2Tokenizer");
    cJSON_AddStringToObject(root, "audio_token", "<|audio|>");
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

/* ---- presets ----------------------------------------------------------------- */

static void granite_text(hd_llama_config *t, const char *name, int V, int D, int L, int H, int G, int F, float att,
                         float logits) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_vocab = V, t->n_embd = D, t->n_layer = L, t->n_head = H, t->n_head_kv = G, t->head_dim = D / H, t->n_ff = F;
    t->n_ctx_train = 131072;
    t->norm_eps = 1e-5f;
    t->rope_theta = 10000000.0f;
    t->rope_scaling = HD_ROPE_SCALING_NONE;
    t->tie_word_embeddings = true;
    t->bos_token_id = 0, t->pad_token_id = 0, t->n_eos = 1, t->eos_token_ids[0] = 0;   /* <|end_of_text|> */
    t->image_token_id = -1;
    t->granite = true;
    t->embedding_multiplier = 12.0f;
    t->residual_multiplier = 0.22f;
    t->attention_multiplier = att;
    t->logits_scaling = logits;
}

static bool preset_of(const char *name, gs_config *c) {
    memset(c, 0, sizeof *c);
    hd_granite_encoder_config *e = &c->enc;
    hd_qformer_config *q = &c->proj;
    /* the published encoder and Q-Former (both sizes share them) */
    *e = (hd_granite_encoder_config){.input_dim = 160, .n_layer = 16, .hidden = 1024, .ff_mult = 4, .n_head = 8,
                                     .head_dim = 128, .n_ctc = 256, .context = 200, .max_pos_emb = 512,
                                     .conv_kernel = 15, .conv_expansion = 2, .norm_eps = 1e-5f, .bn_eps = 1e-5f};
    *q = (hd_qformer_config){.hidden = 1024, .n_layer = 2, .n_head = 16, .n_ff = 4096, .enc_hidden = 1024,
                             .cross_every = 1, .act = HD_NN_ACT_GELU_ERF, .norm_eps = 1e-12f, .window = 15,
                             .downsample = 5};
    c->lora_r = 64, c->lora_alpha = 32.0f, c->lm_std = 0.02f;
    if (strcmp(name, "tiny") == 0) {
        granite_text(&c->text, "Granite Speech Tiny", TINY_VOCAB, 64, 2, 4, 2, 128, 1.0f / 16.0f, 8.0f);
        c->text.n_ctx_train = 4096;
        e->n_layer = 2, e->hidden = 32, e->n_head = 2, e->head_dim = 16, e->n_ctc = 16, e->context = 8;
        e->max_pos_emb = 12, e->conv_kernel = 5;
        q->hidden = 32, q->n_head = 2, q->n_ff = 64, q->enc_hidden = 32;
        c->lora_r = 4, c->lora_alpha = 8.0f, c->lm_std = 0.125f;
    } else if (strcmp(name, "3.3-2b") == 0) {
        granite_text(&c->text, "Granite Speech 3.3 2B", 49160, 2048, 40, 32, 8, 8192, 0.015625f, 8.0f);
    } else if (strcmp(name, "3.3-8b") == 0) {
        granite_text(&c->text, "Granite Speech 3.3 8B", 49160, 4096, 40, 32, 8, 12800, 0.0078125f, 16.0f);
    } else {
        return false;
    }
    c->audio_token = c->text.n_vocab - 1;   /* <|audio|>: the last id (49159 published) */
    q->n_out = c->text.n_embd;
    return true;
}

/* ---- tensors ------------------------------------------------------------------ */

typedef struct planner {
    hd_rm_plan *plan;
    hd_error *err;
    hd_status st;
} planner;

/* One tensor printf(fmt, l) with PyTorch shape d (n dims). */
static void addt(planner *P, hd_rm_init init, float std, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt,
                 int l) {
    if (P->st) return;
    char name[256];
    snprintf(name, sizeof name, fmt, l);
    const int64_t shape[3] = {d0, d1, d2};
    /* GGUF: the name without its module prefix (GGUF names hold at most 63
     * bytes; the Q-Former's reach 62 without "projector.") */
    const char *gguf = name;
    if (strncmp(name, "encoder.", 8) == 0) gguf = name + 8;
    else if (strncmp(name, "projector.", 10) == 0) gguf = name + 10;
    P->st = hd_rm_plan_add(P->plan, name, gguf, n, shape, init, std, 0, NULL, P->err);
    /* conv kernels and the queries: rows too short for blocks */
    if (!P->st && n == 3) P->plan->t[P->plan->n - 1].gguf_f16_if_blocked = true;
}
#define MAT(P, out, in, fmt, l) addt(P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)(in)), 2, out, in, 0, fmt, l)
#define VEC(P, n, fmt, l) addt(P, HD_RM_INIT_NORMAL, VEC_STD, 1, n, 0, 0, fmt, l)
#define GAMMA(P, n, fmt, l) addt(P, HD_RM_INIT_NORM, VEC_STD, 1, n, 0, 0, fmt, l)

static void encoder_plan(planner *P, const hd_granite_encoder_config *e) {
    const int64_t D = e->hidden, M = (int64_t)e->ff_mult * D, Hd = (int64_t)e->n_head * e->head_dim;
    const int64_t C = (int64_t)e->conv_expansion * D;
    MAT(P, D, e->input_dim, "encoder.input_linear.weight", 0);   /* [D, 160] */
    VEC(P, D, "encoder.input_linear.bias", 0);
    for (int l = 0; l < e->n_layer; l++) {
        for (int f = 0; f < 2; f++) {
            char pre[64], nm[128];
            snprintf(pre, sizeof pre, "encoder.layers.%%d.ff%d.", f + 1);
            snprintf(nm, sizeof nm, "%spre_norm.weight", pre), GAMMA(P, D, nm, l);
            snprintf(nm, sizeof nm, "%spre_norm.bias", pre), VEC(P, D, nm, l);
            snprintf(nm, sizeof nm, "%sup_proj.weight", pre), MAT(P, M, D, nm, l);     /* [mult·D, D] */
            snprintf(nm, sizeof nm, "%sup_proj.bias", pre), VEC(P, M, nm, l);
            snprintf(nm, sizeof nm, "%sdown_proj.weight", pre), MAT(P, D, M, nm, l);   /* [D, mult·D] */
            snprintf(nm, sizeof nm, "%sdown_proj.bias", pre), VEC(P, D, nm, l);
            if (f == 0) {
                GAMMA(P, D, "encoder.layers.%d.attn.pre_norm.weight", l);
                VEC(P, D, "encoder.layers.%d.attn.pre_norm.bias", l);
                MAT(P, Hd, D, "encoder.layers.%d.attn.to_q.weight", l);            /* [H·d, D]   */
                MAT(P, 2 * Hd, D, "encoder.layers.%d.attn.to_kv.weight", l);       /* [2·H·d, D] */
                MAT(P, D, Hd, "encoder.layers.%d.attn.to_out.weight", l);          /* [D, H·d]   */
                VEC(P, D, "encoder.layers.%d.attn.to_out.bias", l);
                addt(P, HD_RM_INIT_NORMAL, 1.0f, 2, 2 * (int64_t)e->max_pos_emb + 1, e->head_dim, 0,
                     "encoder.layers.%d.attn.rel_pos_emb.weight", l);             /* [2P+1, d] */
                GAMMA(P, D, "encoder.layers.%d.conv.norm.weight", l);
                VEC(P, D, "encoder.layers.%d.conv.norm.bias", l);
                addt(P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)D), 3, 2 * C, D, 1,
                     "encoder.layers.%d.conv.up_conv.weight", l);                 /* [2C, D, 1] */
                VEC(P, 2 * C, "encoder.layers.%d.conv.up_conv.bias", l);
                addt(P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)e->conv_kernel), 3, C, 1, e->conv_kernel,
                     "encoder.layers.%d.conv.depth_conv.conv.weight", l);         /* [C, 1, K] */
                GAMMA(P, C, "encoder.layers.%d.conv.batch_norm.weight", l);
                VEC(P, C, "encoder.layers.%d.conv.batch_norm.bias", l);
                VEC(P, C, "encoder.layers.%d.conv.batch_norm.running_mean", l);
                GAMMA(P, C, "encoder.layers.%d.conv.batch_norm.running_var", l);
                addt(P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)C), 3, D, C, 1,
                     "encoder.layers.%d.conv.down_conv.weight", l);               /* [D, C, 1] */
                VEC(P, D, "encoder.layers.%d.conv.down_conv.bias", l);
            }
        }
        GAMMA(P, D, "encoder.layers.%d.post_norm.weight", l);
        VEC(P, D, "encoder.layers.%d.post_norm.bias", l);
    }
    MAT(P, e->n_ctc, D, "encoder.out.weight", 0);       /* [V, D] */
    VEC(P, e->n_ctc, "encoder.out.bias", 0);
    MAT(P, D, e->n_ctc, "encoder.out_mid.weight", 0);   /* [D, V] */
    VEC(P, D, "encoder.out_mid.bias", 0);
}

static void projector_plan(planner *P, const hd_qformer_config *q) {
    const int64_t Dq = q->hidden, F = q->n_ff, De = q->enc_hidden;
    addt(P, HD_RM_INIT_NORMAL, 1.0f, 3, 1, q->window / q->downsample, Dq, "projector.query", 0);   /* [1, Q, Dq] */
    GAMMA(P, Dq, "projector.qformer.layernorm.weight", 0);
    VEC(P, Dq, "projector.qformer.layernorm.bias", 0);
    for (int l = 0; l < q->n_layer; l++) {
        static const char *const qkv[3] = {"query", "key", "value"};
        char nm[160];
        for (int k = 0; k < 3; k++) {
            snprintf(nm, sizeof nm, "projector.qformer.encoder.layer.%%d.attention.attention.%s.weight", qkv[k]);
            MAT(P, Dq, Dq, nm, l);
            snprintf(nm, sizeof nm, "projector.qformer.encoder.layer.%%d.attention.attention.%s.bias", qkv[k]);
            VEC(P, Dq, nm, l);
        }
        MAT(P, Dq, Dq, "projector.qformer.encoder.layer.%d.attention.output.dense.weight", l);
        VEC(P, Dq, "projector.qformer.encoder.layer.%d.attention.output.dense.bias", l);
        GAMMA(P, Dq, "projector.qformer.encoder.layer.%d.attention.output.LayerNorm.weight", l);
        VEC(P, Dq, "projector.qformer.encoder.layer.%d.attention.output.LayerNorm.bias", l);
        if (l % q->cross_every == 0) {
            for (int k = 0; k < 3; k++) {
                snprintf(nm, sizeof nm, "projector.qformer.encoder.layer.%%d.crossattention.attention.%s.weight",
                         qkv[k]);
                MAT(P, Dq, k == 0 ? Dq : De, nm, l);   /* query [Dq, Dq]; key/value [Dq, D_enc] */
                snprintf(nm, sizeof nm, "projector.qformer.encoder.layer.%%d.crossattention.attention.%s.bias",
                         qkv[k]);
                VEC(P, Dq, nm, l);
            }
            MAT(P, Dq, Dq, "projector.qformer.encoder.layer.%d.crossattention.output.dense.weight", l);
            VEC(P, Dq, "projector.qformer.encoder.layer.%d.crossattention.output.dense.bias", l);
            GAMMA(P, Dq, "projector.qformer.encoder.layer.%d.crossattention.output.LayerNorm.weight", l);
            VEC(P, Dq, "projector.qformer.encoder.layer.%d.crossattention.output.LayerNorm.bias", l);
        }
        MAT(P, F, Dq, "projector.qformer.encoder.layer.%d.intermediate_query.dense.weight", l);   /* [F, Dq] */
        VEC(P, F, "projector.qformer.encoder.layer.%d.intermediate_query.dense.bias", l);
        MAT(P, Dq, F, "projector.qformer.encoder.layer.%d.output_query.dense.weight", l);         /* [Dq, F] */
        VEC(P, Dq, "projector.qformer.encoder.layer.%d.output_query.dense.bias", l);
        GAMMA(P, Dq, "projector.qformer.encoder.layer.%d.output_query.LayerNorm.weight", l);
        VEC(P, Dq, "projector.qformer.encoder.layer.%d.output_query.LayerNorm.bias", l);
    }
    MAT(P, q->n_out, Dq, "projector.linear.weight", 0);   /* [D_lm, Dq] */
    VEC(P, q->n_out, "projector.linear.bias", 0);
}

hd_status hd_rm_granite_audio_plan(const hd_granite_encoder_config *e, const hd_qformer_config *q, hd_rm_plan *plan,
                                   hd_error *err) {
    planner P = {plan, err, HD_OK};
    encoder_plan(&P, e);
    projector_plan(&P, q);
    return P.st;
}

/* The LM of lm/random_model_llama.c under language_model. (GGUF names kept). */
hd_status hd_rm_granite_lm_plan(const hd_llama_config *text, float lm_std, hd_rm_plan *plan, hd_error *err) {
    hd_status st = hd_rm_llama_plan(text, plan, err);
    for (int i = 0; !st && i < plan->n; i++) {
        hd_rm_tensor *t = &plan->t[i];
        if (t->init == HD_RM_INIT_NORMAL) t->std = lm_std;
        if (!t->hf_name) continue;
        size_t n = strlen(t->hf_name) + sizeof "language_model.";
        char *s = malloc(n);
        if (!s) return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
        snprintf(s, n, "language_model.%s", t->hf_name);
        free(t->hf_name);
        t->hf_name = s;
    }
    return st;
}

/* PEFT's adapter tensors: A [r, in], B [out, r] for q_proj and v_proj. */
static hd_status lora_plan(const gs_config *c, hd_rm_plan *plan, hd_error *err) {
    const hd_llama_config *t = &c->text;
    const int64_t D = t->n_embd, Hd = (int64_t)t->n_head * t->head_dim, Gd = (int64_t)t->n_head_kv * t->head_dim;
    planner P = {plan, err, HD_OK};
    for (int l = 0; l < t->n_layer; l++) {
        addt(&P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)D), 2, c->lora_r, D, 0,
             "base_model.model.language_model.model.layers.%d.self_attn.q_proj.lora_A.weight", l);
        addt(&P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)c->lora_r), 2, Hd, c->lora_r, 0,
             "base_model.model.language_model.model.layers.%d.self_attn.q_proj.lora_B.weight", l);
        addt(&P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)D), 2, c->lora_r, D, 0,
             "base_model.model.language_model.model.layers.%d.self_attn.v_proj.lora_A.weight", l);
        addt(&P, HD_RM_INIT_NORMAL, 1.0f / sqrtf((float)c->lora_r), 2, Gd, c->lora_r, 0,
             "base_model.model.language_model.model.layers.%d.self_attn.v_proj.lora_B.weight", l);
    }
    return P.st;
}

/* ---- config files ---------------------------------------------------------------- */

static const char *torch_dtype(hd_type t) {
    return t == HD_TYPE_F16 ? "float16" : t == HD_TYPE_BF16 ? "bfloat16" : "float32";
}

static char *config_json(const gs_config *c, hd_type type, hd_error *err) {
    char *text = hd_llama_config_to_hf_json(&c->text, torch_dtype(type), err);
    if (!text) return NULL;
    cJSON *tc = cJSON_Parse(text);
    free(text);
    cJSON *root = cJSON_CreateObject();
    if (!tc || !root) {
        cJSON_Delete(tc);
        cJSON_Delete(root);
        hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory for config.json");
        return NULL;
    }
    cJSON_DeleteItemFromObject(tc, "architectures");
    cJSON_DeleteItemFromObject(tc, "transformers_version");
    cJSON *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GraniteSpeechForConditionalGeneration"));
    cJSON_AddNumberToObject(root, "audio_token_index", c->audio_token);
    cJSON_AddNumberToObject(root, "downsample_rate", c->proj.downsample);
    const hd_granite_encoder_config *e = &c->enc;
    cJSON *ec = cJSON_AddObjectToObject(root, "encoder_config");
    cJSON_AddNumberToObject(ec, "context_size", e->context);
    cJSON_AddNumberToObject(ec, "conv_expansion_factor", e->conv_expansion);
    cJSON_AddNumberToObject(ec, "conv_kernel_size", e->conv_kernel);
    cJSON_AddNumberToObject(ec, "dim_head", e->head_dim);
    cJSON_AddNumberToObject(ec, "dropout", 0.1);
    cJSON_AddNumberToObject(ec, "feedforward_mult", e->ff_mult);
    cJSON_AddNumberToObject(ec, "hidden_dim", e->hidden);
    cJSON_AddNumberToObject(ec, "input_dim", e->input_dim);
    cJSON_AddNumberToObject(ec, "max_pos_emb", e->max_pos_emb);
    cJSON_AddStringToObject(ec, "model_type", "granite_speech_encoder");
    cJSON_AddNumberToObject(ec, "num_heads", e->n_head);
    cJSON_AddNumberToObject(ec, "num_layers", e->n_layer);
    cJSON_AddNumberToObject(ec, "output_dim", e->n_ctc);
    cJSON_AddBoolToObject(root, "has_lora_adapter", true);
    cJSON_AddNumberToObject(root, "initializer_range", 0.02);
    cJSON_AddStringToObject(root, "model_type", "granite_speech");
    const hd_qformer_config *q = &c->proj;
    cJSON *pc = cJSON_AddObjectToObject(root, "projector_config");
    cJSON_AddNumberToObject(pc, "attention_probs_dropout_prob", 0.1);
    cJSON_AddNumberToObject(pc, "cross_attention_frequency", q->cross_every);
    cJSON_AddNumberToObject(pc, "encoder_hidden_size", q->enc_hidden);
    cJSON_AddStringToObject(pc, "hidden_act", "gelu");
    cJSON_AddNumberToObject(pc, "hidden_dropout_prob", 0.1);
    cJSON_AddNumberToObject(pc, "hidden_size", q->hidden);
    cJSON_AddNumberToObject(pc, "initializer_range", 0.02);
    cJSON_AddNumberToObject(pc, "intermediate_size", q->n_ff);
    cJSON_AddNumberToObject(pc, "layer_norm_eps", 1e-12);
    cJSON_AddNumberToObject(pc, "max_position_embeddings", 2048);
    cJSON_AddStringToObject(pc, "model_type", "blip_2_qformer");
    cJSON_AddNumberToObject(pc, "num_attention_heads", q->n_head);
    cJSON_AddNumberToObject(pc, "num_hidden_layers", q->n_layer);
    cJSON_AddStringToObject(pc, "position_embedding_type", "absolute");
    cJSON_AddBoolToObject(pc, "use_qformer_text_input", false);
    cJSON_AddNumberToObject(pc, "vocab_size", 30522);
    cJSON_AddItemToObject(root, "text_config", tc);
    cJSON_AddStringToObject(root, "torch_dtype", torch_dtype(type));
    cJSON_AddStringToObject(root, "transformers_version", "4.52.0.dev0");
    cJSON_AddNumberToObject(root, "window_size", q->window);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory for config.json");
    return s;
}

static char *adapter_config_json(const gs_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNullToObject(root, "alpha_pattern");
    cJSON_AddStringToObject(root, "base_model_name_or_path", ".");
    cJSON_AddStringToObject(root, "bias", "none");
    cJSON_AddBoolToObject(root, "fan_in_fan_out", false);
    cJSON_AddBoolToObject(root, "inference_mode", true);
    cJSON_AddBoolToObject(root, "init_lora_weights", true);
    cJSON_AddNullToObject(root, "layers_to_transform");
    cJSON_AddNumberToObject(root, "lora_alpha", c->lora_alpha);
    cJSON_AddNumberToObject(root, "lora_dropout", 0.05);
    cJSON_AddStringToObject(root, "peft_type", "LORA");
    cJSON_AddNumberToObject(root, "r", c->lora_r);
    cJSON *tm = cJSON_AddArrayToObject(root, "target_modules");
    cJSON_AddItemToArray(tm, cJSON_CreateString("q_proj"));
    cJSON_AddItemToArray(tm, cJSON_CreateString("v_proj"));
    cJSON_AddStringToObject(root, "task_type", "CAUSAL_LM");
    cJSON_AddBoolToObject(root, "use_dora", false);
    cJSON_AddBoolToObject(root, "use_rslora", false);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

static const char *k_preprocessor =
    "{\n  \"feature_extractor_type\": \"GraniteSpeechFeatureExtractor\",\n  \"hop_length\": 160,\n"
    "  \"n_fft\": 512,\n  \"n_mels\": 80,\n  \"processor_class\": \"GraniteSpeechProcessor\",\n"
    "  \"projector_downsample_rate\": %d,\n  \"projector_window_size\": %d,\n  \"sampling_rate\": 16000,\n"
    "  \"win_length\": 400\n}\n";

static const char *k_generation =
    "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": 0,\n  \"eos_token_id\": 0,\n  \"pad_token_id\": 0,\n"
    "  \"transformers_version\": \"4.52.0.dev0\"\n}\n";

/* A text file (honouring dry_run); takes ownership of text. */
static hd_status put_text(const hd_random_model_params *p, const char *dir, const char *name, char *text,
                          hd_error *err) {
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    hd_status st = p->dry_run ? HD_OK : hd_rm_write_text(dir, name, text, err);
    free(text);
    return st;
}

/* The adapter weights: written as model.safetensors into a scratch folder
 * inside dir, then renamed to adapter_model.safetensors. */
static hd_status write_adapter(const gs_config *c, const hd_random_model_params *p, const char *dir, hd_error *err) {
    if (p->dry_run) return HD_OK;   /* a few MB beside the model; not reported */
    hd_rm_plan plan = {0};
    hd_status st = lora_plan(c, &plan, err);
    char tmp[4200], from[4300], to[4300];
    snprintf(tmp, sizeof tmp, "%s/.adapter.tmp", dir);
    hd_random_model_params q = *p;
    q.max_shard_bytes = UINT64_MAX;   /* PEFT writes one file */
    q.file_done = NULL;
    if (!st) st = hd_rm_prepare_dir(tmp, err);
    if (!st) st = hd_rm_write_hf_weights(&plan, &q, tmp, err);
    hd_rm_plan_free(&plan);
    if (st) return st;
    snprintf(from, sizeof from, "%s/model.safetensors", tmp);
    snprintf(to, sizeof to, "%s/adapter_model.safetensors", dir);
    if (rename(from, to) != 0)
        st = hd_error_set(err, HD_ERR_IO, "%s: cannot rename to %s: %s", from, to, strerror(errno));
    rmdir(tmp);
    if (st) return st;
    return put_text(p, dir, "adapter_config.json", adapter_config_json(c), err);
}

/* Removes the files of a temporary folder, then the folder (no subfolders). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char f[4400];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            const int n = snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
            if (n > 0 && (size_t)n < sizeof f) unlink(f);
        }
    closedir(d);
    rmdir(dir);
}

static hd_status granite_write_hf(const hd_random_model_params *p, const char *path, hd_error *err);

/* --format gguf: the HF folder, converted as `herd convert` does. */
static hd_status granite_write_gguf(const hd_random_model_params *p, const char *path, hd_error *err) {
    const size_t n = strlen(path);
    if (n < 6 || strcmp(path + n - 5, ".gguf") != 0)
        return hd_error_set(err, HD_ERR_ARG, "%s: granite-speech GGUF output must be a .gguf path (the LM and LoRA "
                                             "files go beside it)", path);
    hd_random_model_params q = *p;
    q.format = HD_RM_HF;
    if (q.type != HD_TYPE_F32 && q.type != HD_TYPE_F16 && q.type != HD_TYPE_BF16) q.type = HD_TYPE_F32;
    if (p->dry_run) return granite_write_hf(&q, path, err);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.hf.tmp", path);
    q.file_done = NULL;
    q.progress = NULL;
    hd_status st = granite_write_hf(&q, tmp, err);
    if (!st) {
        hd_convert_params cp = hd_convert_default_params();
        char name[96];
        snprintf(name, sizeof name, "granite-speech-%s", p->preset ? p->preset : "tiny");
        cp.name = name;
        cp.type = p->type;
        cp.n_threads = p->n_threads;
        cp.progress = p->progress, cp.progress_ctx = p->progress_ctx;
        st = hd_granite_speech_convert(tmp, path, &cp, err);
    }
    remove_tree(tmp);
    return st;
}

static hd_status granite_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    return p->format == HD_RM_GGUF ? granite_write_gguf(p, path, err) : granite_write_hf(p, path, err);
}

static hd_status granite_write_hf(const hd_random_model_params *p, const char *path, hd_error *err) {
    gs_config c;
    const char *preset = p->preset ? p->preset : "tiny";
    if (!preset_of(preset, &c))
        return hd_error_set(err, HD_ERR_ARG, "unknown granite-speech preset \"%s\" (one of: tiny, 3.3-2b, 3.3-8b)",
                            preset);
    if (p->n_vocab > 0)
        return hd_error_set(err, HD_ERR_ARG, "granite-speech: the vocabulary is fixed by the preset (no --vocab)");
    if (p->tokenizer)
        return hd_error_set(err, HD_ERR_ARG,
                            "granite-speech: --tokenizer is not taken (tiny writes its own Granite-format tokenizer)");
    hd_rm_plan plan = {0};
    hd_status st = hd_rm_granite_audio_plan(&c.enc, &c.proj, &plan, err);
    if (!st) {
        /* HF state_dict order: language_model first (the module order of
         * GraniteSpeechForConditionalGeneration), then encoder, projector */
        hd_rm_plan lm = {0};
        st = hd_rm_granite_lm_plan(&c.text, c.lm_std, &lm, err);
        if (!st) {
            hd_rm_plan all = {0};
            for (int i = 0; !st && i < lm.n + plan.n; i++) {
                const hd_rm_tensor *t = i < lm.n ? &lm.t[i] : &plan.t[i - lm.n];
                if (!t->hf_name) continue;   /* rope_freqs: GGUF only */
                st = hd_rm_plan_add(&all, t->hf_name, t->gguf_name, t->n_dims, t->shape, t->init, t->std, t->rope_heads,
                                    t->data, err);
                if (!st) all.t[all.n - 1].gguf_f16_if_blocked = t->gguf_f16_if_blocked;
            }
            hd_rm_plan_free(&plan);
            plan = all;
        }
        hd_rm_plan_free(&lm);
    }
    if (!st) st = hd_rm_check_type(&plan, p, err);
    if (!st && !p->dry_run) st = hd_rm_prepare_dir(path, err);
    if (!st) st = hd_rm_write_hf_weights(&plan, p, path, err);
    hd_rm_plan_free(&plan);
    if (!st) st = write_adapter(&c, p, path, err);
    if (!st) st = put_text(p, path, "config.json", config_json(&c, p->type, err), err);
    if (!st) {
        char *pre = malloc(strlen(k_preprocessor) + 32);
        if (pre) snprintf(pre, strlen(k_preprocessor) + 32, k_preprocessor, c.proj.downsample, c.proj.window);
        st = put_text(p, path, "preprocessor_config.json", pre, err);
    }
    if (!st) st = put_text(p, path, "generation_config.json", strdup(k_generation), err);
    if (!st && strcmp(preset, "tiny") == 0) {
        st = put_text(p, path, "tokenizer.json", tiny_tokenizer_json(), err);
        if (!st) st = put_text(p, path, "tokenizer_config.json", tiny_tokenizer_config(), err);
    }
    return st;
}

const hd_rm_arch hd_rm_arch_granite_speech = {"granite-speech", granite_presets, granite_write};
