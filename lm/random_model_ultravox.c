/* lm/random_model_ultravox.c — random Ultravox v0.5 checkpoints
 * (`herd random-model --arch ultravox --preset tiny|v0_5-llama-3_2-1b|
 * v0_5-llama-3_1-8b`) in the published Hugging Face layout (speech/ultravox.h):
 *
 *   DIR/config.json                 UltravoxConfig as save_pretrained writes it
 *                                   (audio_config inline, text_model_id, no
 *                                   text_config)
 *   DIR/model.safetensors           audio_tower.* + multi_modal_projector.* only
 *   DIR/generation_config.json, DIR/preprocessor_config.json
 *   DIR/tokenizer.json, DIR/tokenizer_config.json   (with --tokenizer)
 *   DIR/text_model/                 the LM: `--arch llama` with the preset's
 *                                   Llama config (published checkpoints do not
 *                                   hold it; herd finds it here, see
 *                                   speech/ultravox.h)
 * --format gguf (the default): that folder, made in $TMPDIR and converted by
 * hd_ultravox_convert into PATH (the LM) and PATH-mmproj.gguf (encoder +
 * projector), what `herd convert` makes of it; the folder is removed.
 *
 * Presets (published shapes from UltravoxConfig defaults and the v0.5 model
 * cards: audio tower = whisper-large-v3-turbo's encoder, hidden_size 4096,
 * stack_factor 8, projector_ln_mid true):
 *   tiny                Whisper 128 mel, D 64, F 128, 2 layers, 4 heads, P 1500;
 *                       projector H 128 → 64; LM = llama "tiny" (D 64, 2 layers,
 *                       the real 128256-token vocabulary)
 *   v0_5-llama-3_2-1b   Whisper 128, 1280, 5120, 32 layers, 20 heads; H 4096 → 2048;
 *                       LM llama-3.2-1b (Llama-3.2-1B-Instruct)
 *   v0_5-llama-3_1-8b   same audio/projector; LM llama-3.1-8b (Llama-3.1-8B-Instruct)
 *
 * Initialisation keeps activations O(1): matrices N(0, 1/fan_in), biases
 * N(0, 0.1²), LayerNorm/RMSNorm γ 1 + N(0, 0.1²), embed_positions Whisper's
 * sinusoids (as WhisperEncoder initialises them). */
#include "random_model_impl.h"

#include "lm/tokenizer.h"
#include "speech/ultravox.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_STD 0.1f

typedef struct uv_preset {
    const char *name;
    const char *llama_preset;     /* lm/llama_config.h preset of the LM   */
    const char *text_model_id;    /* the published config's text_model_id */
    hd_whisper_config audio;
    int hidden;                   /* projector hidden_size H              */
} uv_preset;

static const uv_preset k_presets[] = {
    {"tiny", "tiny", "meta-llama/Llama-3.2-1B-Instruct", {128, 64, 128, 2, 4, 1500, 1e-5f, 0}, 128},
    {"v0_5-llama-3_2-1b", "llama-3.2-1b", "meta-llama/Llama-3.2-1B-Instruct",
     {128, 1280, 5120, 32, 20, 1500, 1e-5f, 0}, 4096},
    {"v0_5-llama-3_1-8b", "llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct",
     {128, 1280, 5120, 32, 20, 1500, 1e-5f, 0}, 4096},
};
#define N_PRESETS (sizeof k_presets / sizeof k_presets[0])
static const char *const k_preset_names[N_PRESETS + 1] = {"tiny", "v0_5-llama-3_2-1b", "v0_5-llama-3_1-8b", NULL};

static const char *const *uv_presets(void) { return k_preset_names; }

typedef struct planner {
    hd_rm_plan *plan;
    hd_error *err;
    hd_status st;
} planner;

/* one tensor, PyTorch shape (outermost first); name is printf(fmt, blk) */
static void add(planner *P, hd_rm_init init, float std, int n, int64_t d0, int64_t d1, int64_t d2, const float *data,
                const char *fmt, int blk) {
    if (P->st) return;
    char name[128];
    snprintf(name, sizeof name, fmt, blk);
    const int64_t shape[3] = {d0, d1, d2};
    P->st = hd_rm_plan_add(P->plan, name, NULL, n, shape, init, std, 0, data, P->err);
}
static void matrix(planner *P, int64_t out, int64_t in, const char *fmt, int blk) {
    add(P, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt((double)in)), 2, out, in, 0, NULL, fmt, blk);
}
static void bias(planner *P, int64_t n, const char *fmt, int blk) {
    add(P, HD_RM_INIT_NORMAL, VEC_STD, 1, n, 0, 0, NULL, fmt, blk);
}
static void norm_w(planner *P, int64_t n, const char *fmt, int blk) {
    add(P, HD_RM_INIT_NORM, VEC_STD, 1, n, 0, 0, NULL, fmt, blk);
}

/* WhisperEncoder's embed_positions init (modeling_whisper.sinusoids):
 * row p = [sin(p·inv) | cos(p·inv)], inv_i = exp(−i·ln(10000)/(D/2 − 1)). */
static float *sinusoids(int64_t P, int64_t D) {
    float *f = malloc((size_t)(P * D) * sizeof *f);
    if (!f) return NULL;
    const int64_t h = D / 2;
    const double inc = log(10000.0) / (double)(h > 1 ? h - 1 : 1);
    for (int64_t p = 0; p < P; p++)
        for (int64_t i = 0; i < h; i++) {
            const double a = (double)p * exp(-inc * (double)i);
            f[p * D + i] = (float)sin(a);
            f[p * D + h + i] = (float)cos(a);
        }
    return f;
}

/* The tensors of model.safetensors in UltravoxModel's module order. */
static hd_status uv_plan(const hd_whisper_config *a, const hd_ultravox_projector_config *pj, hd_rm_plan *plan,
                         hd_error *err) {
    planner P = {plan, err, HD_OK};
    const int64_t D = a->n_embd, F = a->n_ff, M = a->n_mel;
    add(&P, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt(3.0 * M)), 3, D, M, 3, NULL, "audio_tower.conv1.weight", 0);
    bias(&P, D, "audio_tower.conv1.bias", 0);                                   /* [D, n_mel, 3], [D] */
    add(&P, HD_RM_INIT_NORMAL, (float)(1.0 / sqrt(3.0 * D)), 3, D, D, 3, NULL, "audio_tower.conv2.weight", 0);
    bias(&P, D, "audio_tower.conv2.bias", 0);                                   /* [D, D, 3], [D]     */
    float *pos = sinusoids(a->n_pos, D);
    if (!pos) return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
    add(&P, HD_RM_INIT_DATA, 0, 2, a->n_pos, D, 0, pos, "audio_tower.embed_positions.weight", 0);   /* [P, D] */
    free(pos);
    for (int l = 0; l < a->n_layer; l++) {   /* WhisperEncoderLayer: self_attn (k, v, q, out), norms, fc1, fc2 */
        matrix(&P, D, D, "audio_tower.layers.%d.self_attn.k_proj.weight", l);
        matrix(&P, D, D, "audio_tower.layers.%d.self_attn.v_proj.weight", l);
        bias(&P, D, "audio_tower.layers.%d.self_attn.v_proj.bias", l);
        matrix(&P, D, D, "audio_tower.layers.%d.self_attn.q_proj.weight", l);
        bias(&P, D, "audio_tower.layers.%d.self_attn.q_proj.bias", l);
        matrix(&P, D, D, "audio_tower.layers.%d.self_attn.out_proj.weight", l);
        bias(&P, D, "audio_tower.layers.%d.self_attn.out_proj.bias", l);
        norm_w(&P, D, "audio_tower.layers.%d.self_attn_layer_norm.weight", l);
        bias(&P, D, "audio_tower.layers.%d.self_attn_layer_norm.bias", l);
        matrix(&P, F, D, "audio_tower.layers.%d.fc1.weight", l);                /* [F, D] */
        bias(&P, F, "audio_tower.layers.%d.fc1.bias", l);
        matrix(&P, D, F, "audio_tower.layers.%d.fc2.weight", l);                /* [D, F] */
        bias(&P, D, "audio_tower.layers.%d.fc2.bias", l);
        norm_w(&P, D, "audio_tower.layers.%d.final_layer_norm.weight", l);
        bias(&P, D, "audio_tower.layers.%d.final_layer_norm.bias", l);
    }
    norm_w(&P, D, "audio_tower.layer_norm.weight", 0);
    bias(&P, D, "audio_tower.layer_norm.bias", 0);
    const int64_t CS = (int64_t)pj->n_in * pj->stack_factor, H = pj->n_hidden;
    norm_w(&P, CS, "multi_modal_projector.ln_pre.weight", 0);                    /* [C·S]       */
    matrix(&P, H, CS, "multi_modal_projector.linear_1.weight", 0);              /* [H, C·S]    */
    matrix(&P, pj->n_out, H / 2, "multi_modal_projector.linear_2.weight", 0);   /* [D_lm, H/2] */
    if (pj->ln_mid) norm_w(&P, H / 2, "multi_modal_projector.ln_mid.weight", 0); /* [H/2]       */
    else norm_w(&P, pj->n_out, "multi_modal_projector.ln_post.weight", 0);       /* [D_lm]      */
    return P.st;
}

static const char *torch_dtype(hd_type t) {
    return t == HD_TYPE_F16 ? "float16" : t == HD_TYPE_BF16 ? "bfloat16" : "float32";
}

/* config.json as UltravoxModel.save_pretrained writes it (sorted keys, indent 2). */
static char *config_json(const uv_preset *u, const hd_ultravox_projector_config *pj, const hd_llama_config *lm,
                         hd_type type) {
    const hd_whisper_config *a = &u->audio;
    static const char fmt[] =
        "{\n"
        "  \"architectures\": [\n    \"UltravoxModel\"\n  ],\n"
        "  \"audio_config\": {\n"
        "    \"_name_or_path\": \"openai/whisper-large-v3-turbo\",\n"
        "    \"activation_dropout\": 0.0,\n    \"activation_function\": \"gelu\",\n"
        "    \"apply_spec_augment\": false,\n    \"attention_dropout\": 0.0,\n"
        "    \"begin_suppress_tokens\": [\n      220,\n      50256\n    ],\n"
        "    \"bos_token_id\": 50257,\n    \"d_model\": %d,\n    \"decoder_attention_heads\": %d,\n"
        "    \"decoder_ffn_dim\": %d,\n    \"decoder_layers\": 4,\n    \"decoder_start_token_id\": 50258,\n"
        "    \"dropout\": 0.0,\n    \"encoder_attention_heads\": %d,\n    \"encoder_ffn_dim\": %d,\n"
        "    \"encoder_layerdrop\": 0.0,\n    \"encoder_layers\": %d,\n    \"eos_token_id\": 50257,\n"
        "    \"max_source_positions\": %d,\n    \"max_target_positions\": 448,\n"
        "    \"model_type\": \"whisper\",\n    \"num_hidden_layers\": %d,\n    \"num_mel_bins\": %d,\n"
        "    \"pad_token_id\": 50257,\n    \"scale_embedding\": false,\n    \"torch_dtype\": \"float16\",\n"
        "    \"vocab_size\": 51866\n"
        "  },\n"
        "  \"audio_latency_block_size\": null,\n"
        "  \"audio_model_id\": null,\n"
        "  \"audio_model_lora_config\": {\n    \"lora_alpha\": 8,\n    \"r\": 0,\n"
        "    \"target_modules\": [\n      \"k_proj\",\n      \"q_proj\",\n      \"linear_k\",\n      \"linear_q\"\n    ],\n"
        "    \"unfreeze_layers\": null\n  },\n"
        "  \"auto_map\": {\n    \"AutoConfig\": \"ultravox_config.UltravoxConfig\",\n"
        "    \"AutoModel\": \"ultravox_model.UltravoxModel\",\n"
        "    \"AutoProcessor\": \"ultravox_processing.UltravoxProcessor\"\n  },\n"
        "  \"hidden_size\": %d,\n"
        "  \"ignore_index\": -100,\n"
        "  \"initializer_range\": 0.02,\n"
        "  \"llm_only_training\": false,\n"
        "  \"model_type\": \"ultravox\",\n"
        "  \"norm_init\": 0.4,\n"
        "  \"pad_token_id\": 128009,\n"
        "  \"projector_act\": \"swiglu\",\n"
        "  \"projector_ln_mid\": %s,\n"
        "  \"stack_factor\": %d,\n"
        "  \"text_model_id\": \"%s\",\n"
        "  \"text_model_lora_config\": {\n    \"lora_alpha\": 8,\n    \"r\": 0,\n"
        "    \"target_modules\": [\n      \"k_proj\",\n      \"q_proj\",\n      \"linear_k\",\n      \"linear_q\"\n    ],\n"
        "    \"unfreeze_layers\": null\n  },\n"
        "  \"torch_dtype\": \"%s\",\n"
        "  \"transformers_version\": \"4.47.0\",\n"
        "  \"vocab_size\": %d\n"
        "}\n";
    const size_t cap = sizeof fmt + 512;
    char *s = malloc(cap);
    if (s)
        snprintf(s, cap, fmt, a->n_embd, a->n_head, a->n_ff, a->n_head, a->n_ff, a->n_layer, a->n_pos, a->n_layer,
                 a->n_mel, pj->n_hidden, pj->ln_mid ? "true" : "false", pj->stack_factor, u->text_model_id,
                 torch_dtype(type), lm->n_vocab);
    return s;
}

/* WhisperFeatureExtractor's preprocessor_config.json (feature_size = n_mel). */
static char *preprocessor_json(int n_mel) {
    static const char fmt[] = "{\n"
                              "  \"chunk_length\": 30,\n"
                              "  \"feature_extractor_type\": \"WhisperFeatureExtractor\",\n"
                              "  \"feature_size\": %d,\n"
                              "  \"hop_length\": 160,\n"
                              "  \"n_fft\": 400,\n"
                              "  \"n_samples\": 480000,\n"
                              "  \"nb_max_frames\": 3000,\n"
                              "  \"padding_side\": \"right\",\n"
                              "  \"padding_value\": 0.0,\n"
                              "  \"processor_class\": \"UltravoxProcessor\",\n"
                              "  \"return_attention_mask\": false,\n"
                              "  \"sampling_rate\": 16000\n"
                              "}\n";
    char *s = malloc(sizeof fmt + 16);
    if (s) snprintf(s, sizeof fmt + 16, fmt, n_mel);
    return s;
}

static char *generation_json(const hd_llama_config *lm) {
    char *s = malloc(256);
    if (s)
        snprintf(s, 256,
                 "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": %d,\n  \"eos_token_id\": [\n"
                 "    128001,\n    128008,\n    128009\n  ],\n  \"pad_token_id\": 128009,\n"
                 "  \"transformers_version\": \"4.47.0\"\n}\n",
                 lm->bos_token_id >= 0 ? lm->bos_token_id : 128000);
    return s;
}

static hd_status write_text_owned(const char *dir, const char *name, char *text, hd_error *err) {
    if (!text) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    hd_status st = hd_rm_write_text(dir, name, text, err);
    free(text);
    return st;
}

static hd_status uv_write_hf(const hd_random_model_params *p, const char *path, hd_error *err) {
    const uv_preset *u = NULL;
    for (size_t i = 0; i < N_PRESETS; i++)
        if (p->preset && strcmp(p->preset, k_presets[i].name) == 0) u = &k_presets[i];
    if (!u)
        return hd_error_set(err, HD_ERR_ARG,
                            "unknown ultravox preset \"%s\" (one of: tiny, v0_5-llama-3_2-1b, v0_5-llama-3_1-8b)",
                            p->preset ? p->preset : "");
    if (p->n_vocab > 0)
        return hd_error_set(err, HD_ERR_ARG, "ultravox: --vocab is not supported (the LM keeps its preset's vocabulary)");
    hd_llama_config lm;
    if (!hd_llama_config_preset(u->llama_preset, &lm))
        return hd_error_set(err, HD_ERR_ARG, "ultravox: llama preset %s missing", u->llama_preset);
    const hd_ultravox_projector_config pj = {
        .n_in = u->audio.n_embd, .stack_factor = 8, .n_hidden = u->hidden, .n_out = lm.n_embd,
        .ln_mid = true, .norm_eps = 1e-6f,
    };
    hd_rm_plan plan = {0};
    hd_status st = uv_plan(&u->audio, &pj, &plan, err);
    if (st == HD_OK) st = hd_rm_check_type(&plan, p, err);
    if (st == HD_OK && !p->dry_run) st = hd_rm_prepare_dir(path, err);
    if (st == HD_OK) st = hd_rm_write_hf_weights(&plan, p, path, err);
    hd_rm_plan_free(&plan);
    if (st) return st;
    /* the LM in text_model/ (seeded differently from the audio tower only by names) */
    char sub[4096];
    if (snprintf(sub, sizeof sub, "%s/text_model", path) >= (int)sizeof sub)
        return hd_error_set(err, HD_ERR_ARG, "%s: path too long", path);
    hd_random_model_params lp = *p;
    lp.arch = "llama";
    lp.preset = u->llama_preset;
    if ((st = hd_random_model_write(&lp, sub, err))) return st;
    if (p->dry_run) return HD_OK;
    if ((st = write_text_owned(path, "config.json", config_json(u, &pj, &lm, p->type), err)) ||
        (st = write_text_owned(path, "preprocessor_config.json", preprocessor_json(u->audio.n_mel), err)) ||
        (st = write_text_owned(path, "generation_config.json", generation_json(&lm), err)))
        return st;
    if (p->tokenizer) {   /* the processor's tokenizer: the LM's, beside config.json */
        hd_tokenizer *tok = hd_tokenizer_load(sub, err);
        if (!tok) return err ? err->code : HD_ERR_IO;
        st = hd_tokenizer_write_hf(tok, path, hd_tokenizer_eos(tok), err);
        hd_tokenizer_free(tok);
    }
    return st;
}

/* nftw callback: removes one entry of the temporary folder. */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* GGUF: the HF folder in a temporary directory (F32, or the type when HF
 * takes it), then hd_ultravox_convert → path and its -mmproj.gguf, exactly
 * what `herd convert` makes of the folder. */
static hd_status uv_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    if (p->format == HD_RM_HF) return uv_write_hf(p, path, err);
    if (p->type != HD_TYPE_F32 && p->type != HD_TYPE_F16 && p->type != HD_TYPE_BF16 && p->type != HD_TYPE_Q8_0 &&
        p->type != HD_TYPE_Q4_0 && p->type != HD_TYPE_Q4_K)
        return hd_error_set(err, HD_ERR_ARG, "ultravox: type %s cannot be written", hd_type_name(p->type));
    const char *base = getenv("TMPDIR");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s/herd-ultravox-XXXXXX", base && *base ? base : "/tmp") >= (int)sizeof tmp)
        return hd_error_set(err, HD_ERR_ARG, "TMPDIR is too long");
    hd_random_model_params hp = *p;
    hp.format = HD_RM_HF;
    if (p->type != HD_TYPE_F16 && p->type != HD_TYPE_BF16) hp.type = HD_TYPE_F32;
    hp.progress = NULL, hp.file_done = NULL;
    if (p->dry_run) {   /* checks the preset and that the LM's rows take the type; nothing is written */
        hd_status st = uv_write_hf(&hp, tmp, err);
        const uv_preset *u = NULL;
        for (size_t i = 0; i < N_PRESETS; i++)
            if (strcmp(p->preset, k_presets[i].name) == 0) u = &k_presets[i];
        hd_random_model_params lp = *p;
        lp.arch = "llama", lp.preset = u ? u->llama_preset : "", lp.tokenizer = NULL;
        lp.progress = NULL, lp.file_done = NULL;
        return st ? st : hd_random_model_write(&lp, path, err);
    }
    if (!mkdtemp(tmp)) return hd_error_set(err, HD_ERR_IO, "%s: cannot create a temporary folder", tmp);
    hd_status st = uv_write_hf(&hp, tmp, err);
    if (st == HD_OK) {
        hd_convert_params cp = hd_convert_default_params();
        cp.type = p->type, cp.n_threads = p->n_threads;
        cp.name = "Ultravox (random)";
        st = hd_ultravox_convert(tmp, NULL, path, &cp, err);
    }
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    char *mm = st == HD_OK && p->file_done ? hd_ultravox_mmproj_path(path) : NULL;
    const char *const files[2] = {path, mm};
    for (int i = 0; i < 2 && mm; i++) {   /* report the two files as the other writers do */
        hd_gguf *g = hd_gguf_open(files[i], err);
        if (!g) {
            st = err ? err->code : HD_ERR_IO;
            break;
        }
        p->file_done(p->progress_ctx, files[i], (int)hd_gguf_n_tensors(g),
                     (uint64_t)(hd_gguf_file_size(g) - hd_gguf_data_offset(g)));
        hd_gguf_close(g);
    }
    free(mm);
    return st;
}

const hd_rm_arch hd_rm_arch_ultravox = {"ultravox", uv_presets, uv_write};
