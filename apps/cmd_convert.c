/* apps/cmd_convert.c — `herd convert` (HF folder → GGUF) and `herd quantize`
 * (GGUF → GGUF in another type).  The library does the work (lm/convert.h);
 * this file parses options and reports progress on stderr. */
#include "cli.h"

#include "lm/convert.h"
#include "speech/audio_lm.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char k_convert_usage[] =
    "usage: herd convert HF_DIR OUT.gguf [--type TYPE] [--name NAME] [-t THREADS] [--quiet]\n"
    "Converts a Hugging Face Llama 3.x folder (config.json, *.safetensors, tokenizer.json or\n"
    "tokenizer.model) to one GGUF file as llama.cpp's convert_hf_to_gguf.py writes it:\n"
    "the same metadata keys, tensor names and order, Q/K rows in the interleaved RoPE\n"
    "layout, rope_freqs.weight for llama3 rope scaling, tokenizer.ggml.* keys.\n"
    "A Llama 3.2 Vision folder (model_type \"mllama\", e.g. Llama-3.2-11B-Vision-Instruct)\n"
    "becomes one GGUF holding the whole model: the text decoder in Ollama's mllama layout\n"
    "(mllama.* keys, blk.N.cross_attn_* tensors) and the vision tower + projector in herd's\n"
    "v.* / mm.* names with mllama_vision.* keys (see vision/vit.h).\n"
    "A Granite Speech 3.3 or Ultravox v0.5 folder becomes the LM GGUF (OUT.gguf) plus the\n"
    "encoder + projector files beside it (speech/granite_speech.h, speech/ultravox.h).\n"
    "  --type TYPE   F16 (default, as convert_hf_to_gguf.py), F32, BF16, Q8_0, or Q4_0 /\n"
    "                Q4_K (as llama-quantize --pure); norms and rope_freqs stay F32, the\n"
    "                mllama patch embedding (rows of 14) F16\n"
    "  --name NAME   general.name (default: the folder's name)\n"
    "Progress (tensor k/N) goes to stderr unless --quiet.\n"
    "Exit codes: 0 ok, 1 bad input or cannot write, 2 usage error.\n";

static const char k_quantize_usage[] =
    "usage: herd quantize IN.gguf OUT.gguf TYPE [-t THREADS] [--quiet]\n"
    "Writes the model of IN.gguf with its weight matrices in TYPE, as `llama-quantize\n"
    "--pure` does: every 2-D \"...weight\" tensor except norms (embeddings and LM head\n"
    "included) becomes TYPE, the rest (norms, rope_freqs) is copied; the metadata are\n"
    "copied with general.file_type updated.\n"
    "  TYPE          Q8_0, Q4_0, Q4_K, F16 or BF16\n"
    "Rows are spread over -t THREADS (default: one per core).  Progress on stderr\n"
    "unless --quiet.  Exit codes: 0 ok, 1 bad input or cannot write, 2 usage error.\n";

typedef struct opts {
    const char *type, *name;
} opts;

static int flag(void *ctx, const char *f, const char *v) {
    opts *o = ctx;
    if (strcmp(f, "--type") == 0) o->type = v;
    else if (strcmp(f, "--name") == 0) o->name = v;
    else return -1;
    return 1;
}

static int no_flag(void *ctx, const char *f, const char *v) {
    (void)ctx, (void)f, (void)v;
    return -1;
}

typedef struct progress_ctx {
    const hd_cli *cli;
    bool tty;
} progress_ctx;

static void progress(void *ctx, int done, int total, const char *tensor) {
    const progress_ctx *pc = ctx;
    if (pc->tty) hd_cli_progress(pc->cli, "\rtensor %d/%d %-48s%s", done, total, tensor, done == total ? "\n" : "");
    else hd_cli_progress(pc->cli, "tensor %d/%d %s\n", done, total, tensor);
}

static int run_convert(int argc, char **argv) {
    hd_cli cli;
    bool help;
    opts o = {0};
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (help) {
        fputs(k_convert_usage, stdout);
        return HD_EXIT_OK;
    }
    if (cli.n_pos != 2) return hd_cli_usage_error(&cli, "expected HF_DIR OUT.gguf (see herd convert -h)");
    hd_convert_params p = hd_convert_default_params();
    if (o.type) {
        const int t = hd_type_from_name(o.type);
        if (t != HD_TYPE_F32 && t != HD_TYPE_F16 && t != HD_TYPE_BF16 && t != HD_TYPE_Q8_0 && t != HD_TYPE_Q4_0 &&
            t != HD_TYPE_Q4_K)
            return hd_cli_usage_error(&cli, "--type %s: use F32, F16, BF16, Q8_0, Q4_0 or Q4_K", o.type);
        p.type = (hd_type)t;
    }
    p.name = o.name;
    p.n_threads = cli.threads;
    progress_ctx pc = {&cli, isatty(2) != 0};
    p.progress = progress;
    p.progress_ctx = &pc;
    hd_error err = {0};
    hd_audio_lm_family fam = HD_AUDIO_LM_NONE;
    hd_error derr = {0};
    if (hd_audio_lm_detect(cli.pos[0], &fam, &derr)) fam = HD_AUDIO_LM_NONE;   /* the converter names the problem */
    if (fam != HD_AUDIO_LM_NONE) {
        if (hd_audio_lm_convert(cli.pos[0], cli.pos[1], &p, &err) != HD_OK) return hd_cli_fail(&cli, &err);
    } else if (hd_convert_hf_to_gguf(cli.pos[0], cli.pos[1], &p, &err) != HD_OK) {
        return hd_cli_fail(&cli, &err);
    }
    hd_cli_progress(&cli, "wrote %s\n", cli.pos[1]);
    return HD_EXIT_OK;
}

static int run_quantize(int argc, char **argv) {
    hd_cli cli;
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, no_flag, NULL, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (help) {
        fputs(k_quantize_usage, stdout);
        return HD_EXIT_OK;
    }
    if (cli.n_pos != 3) return hd_cli_usage_error(&cli, "expected IN.gguf OUT.gguf TYPE (see herd quantize -h)");
    const int t = hd_type_from_name(cli.pos[2]);
    if (t != HD_TYPE_F16 && t != HD_TYPE_BF16 && t != HD_TYPE_Q8_0 && t != HD_TYPE_Q4_0 && t != HD_TYPE_Q4_K)
        return hd_cli_usage_error(&cli, "unknown type '%s' (use Q8_0, Q4_0, Q4_K, F16 or BF16)", cli.pos[2]);
    hd_convert_params p = hd_convert_default_params();
    p.n_threads = cli.threads;
    progress_ctx pc = {&cli, isatty(2) != 0};
    p.progress = progress;
    p.progress_ctx = &pc;
    hd_error err = {0};
    if (hd_quantize_gguf(cli.pos[0], cli.pos[1], (hd_type)t, &p, &err) != HD_OK) return hd_cli_fail(&cli, &err);
    hd_cli_progress(&cli, "wrote %s\n", cli.pos[1]);
    return HD_EXIT_OK;
}

const hd_command hd_cmd_convert = {"convert", "convert a Hugging Face Llama / Llama 3.2 Vision / speech-LLM folder to GGUF",
                                   k_convert_usage, run_convert};
const hd_command hd_cmd_quantize = {"quantize", "re-quantize a GGUF model (Q8_0, Q4_0, Q4_K, F16, BF16)",
                                    k_quantize_usage, run_quantize};
