/* apps/cmd_random_model.c — `herd random-model`: a random-weight checkpoint in
 * exactly the published layout (GGUF as llama.cpp converts it, or a Hugging
 * Face folder), for tests and demos.  The library does the work
 * (lm/random_model.h); this file parses options and reports progress. */
#include "cli.h"

#include "lm/random_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

static const char k_usage[] =
    "usage: herd random-model [--arch ARCH] [--preset PRESET] [--format gguf|hf]\n"
    "                         [--type TYPE] [--seed N] [--vocab N] [--tokenizer FILE]\n"
    "                         [--max-shard-size BYTES] [--dry-run] [-t THREADS] [--quiet] -o PATH\n"
    "Writes a model with random weights (N(0, 0.02); norm weights 1 + N(0, 0.02))\n"
    "in exactly the layout of the published checkpoints.\n"
    "  --arch ARCH        llama (default); mllama (Llama 3.2 Vision: vision tower,\n"
    "                     projector and the text decoder with its cross-attention\n"
    "                     layers; HF MllamaForConditionalGeneration layout, or one GGUF\n"
    "                     with the text in Ollama's mllama names and the vision tower in\n"
    "                     herd's v.*/mm.* names); mllama-vision (the vision tower and\n"
    "                     projector only); conformer (the paper's speech encoder);\n"
    "                     speech (encoder + speech adapter file, and its Llama file for\n"
    "                     presets with an LM: tiny, paper-1b+llama-3.2-1b, ...); video\n"
    "                     (mllama + temporal aggregator + video cross-attention layers);\n"
    "                     video-aggregator; prosody (TTS prosody model); tn (TTS tagger);\n"
    "                     tts (both TTS models: PATH/prosody.gguf + PATH/tn.gguf; presets\n"
    "                     tiny, paper, tiny+tiny, paper+llama-3.1-8b, ...);\n"
    "                     granite-speech (IBM Granite Speech 3.3: HF folder with encoder,\n"
    "                     Q-Former, Granite LM, LoRA, tokenizer; gguf: the herd convert set;\n"
    "                     presets tiny, 3.3-2b, 3.3-8b); ultravox (Ultravox v0.5: HF folder\n"
    "                     with the Whisper encoder + projector and the LM in text_model/;\n"
    "                     gguf: LM + mmproj pair; presets tiny, v0_5-llama-3_2-1b,\n"
    "                     v0_5-llama-3_1-8b)\n"
    "  --preset PRESET    llama: tiny (default; 2 layers, dim 64, vocab 128256),\n"
    "                     tiny-vocab (the same with vocab 512, untied LM head),\n"
    "                     small (dim 256, for Q4_K), llama-3.2-1b, llama-3.2-3b,\n"
    "                     llama-3.1-8b (the published shapes);\n"
    "                     mllama, mllama-vision: tiny (default; 10 text layers with\n"
    "                     cross-attention at 3 and 8, dim 64, vision tiles of 56),\n"
    "                     llama-3.2-11b-vision (the published 11B-Vision-Instruct shapes:\n"
    "                     40 layers, cross-attention at 3, 8, ..., 38; ~21 GB in BF16)\n"
    "  --format FMT       gguf (default): one file as llama.cpp's convert_hf_to_gguf.py\n"
    "                     writes it; hf: a folder with config.json,\n"
    "                     generation_config.json and model.safetensors (or shards\n"
    "                     + model.safetensors.index.json above --max-shard-size)\n"
    "  --type TYPE        F32 (default), F16, BF16; GGUF also Q8_0, Q4_0, Q4_K\n"
    "                     (norms and rope_freqs stay F32, as llama.cpp keeps them;\n"
    "                     the mllama patch embedding, rows of 14, stays F16)\n"
    "  --seed N           default 0; the same seed gives the same model in both formats\n"
    "  --vocab N          vocabulary rows instead of the preset's\n"
    "  --tokenizer FILE   Llama 3 tokenizer (tokenizer.model, tokenizer.json or a folder) to\n"
    "                     store with the model: GGUF tokenizer.ggml.* keys, or HF tokenizer.json +\n"
    "                     tokenizer_config.json; special tokens get the Llama 3.1/3.2 HF names.\n"
    "                     mllama gets <|image|> = 128256 added (as the HF Vision files).\n"
    "                     Default for llama, mllama, video and speech (with an LM) presets with the\n"
    "                     real 128,256-row vocabulary:\n"
    "                     $HERD_TOKENIZER, else ../shared/fixtures/tokenizer/llama3_tokenizer.model\n"
    "                     beside the working directory or beside the herd source tree, when present\n"
    "  --no-tokenizer     store no tokenizer\n"
    "  --max-shard-size B HF shard limit in bytes (default 5000000000, as transformers)\n"
    "  --dry-run          check the options and print the weight files that would be\n"
    "                     written (path, tensors, bytes of data); write nothing\n"
    "  -o PATH            the .gguf file, or the folder for --format hf (created; an\n"
    "                     existing model.safetensors, shards and index in it are replaced)\n"
    "Progress (tensor k/N) goes to stderr unless --quiet.  Both writers stream to\n"
    "disk with one tensor in memory at a time.\n"
    "Exit codes: 0 ok, 1 cannot write, 2 usage error.\n";

typedef struct opts {
    const char *arch, *preset, *format, *type, *tokenizer, *out, *vocab, *shard;
    bool dry_run, no_tokenizer;
} opts;

static int flag(void *ctx, const char *f, const char *v) {
    opts *o = ctx;
    if (strcmp(f, "--dry-run") == 0) {
        o->dry_run = true;
        return 0;
    }
    if (strcmp(f, "--no-tokenizer") == 0) {
        o->no_tokenizer = true;
        return 0;
    }
    const char **dst = strcmp(f, "--arch") == 0       ? &o->arch
                       : strcmp(f, "--preset") == 0   ? &o->preset
                       : strcmp(f, "--format") == 0   ? &o->format
                       : strcmp(f, "--type") == 0     ? &o->type
                       : strcmp(f, "--tokenizer") == 0 ? &o->tokenizer
                       : strcmp(f, "-o") == 0 || strcmp(f, "--output") == 0 ? &o->out
                       : strcmp(f, "--vocab") == 0    ? &o->vocab
                       : strcmp(f, "--max-shard-size") == 0 ? &o->shard
                                                            : NULL;
    if (!dst) return -1;
    *dst = v;
    return 1;
}

/* The Llama 3 tokenizer a checkpoint gets when none is named: $HERD_TOKENIZER,
 * else the shared fixtures beside the working directory or beside any folder
 * above the herd executable (a build tree inside the source tree). */
static bool default_tokenizer(char *out, size_t size) {
    static const char rel[] = "shared/fixtures/tokenizer/llama3_tokenizer.model";
    const char *env = getenv("HERD_TOKENIZER");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return true;
    }
    snprintf(out, size, "../%s", rel);
    if (access(out, R_OK) == 0) return true;
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) return false;
    dir[n] = 0;
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return false;
        *slash = 0;   /* dir is now the parent of what it was */
        int w = snprintf(out, size, "%s/../%s", dir, rel);
        if (w > 0 && (size_t)w < size && access(out, R_OK) == 0) return true;
    }
    return false;
}

typedef struct progress_ctx {
    const hd_cli *cli;
    bool tty, dry_run;
} progress_ctx;

/* A weight file: on stdout for --dry-run (the plan is the output), else progress. */
static void file_done(void *ctx, const char *path, int n_tensors, uint64_t bytes) {
    const progress_ctx *pc = ctx;
    if (pc->dry_run)
        printf("%s\t%d tensors\t%" PRIu64 " bytes of data (%.2f GB)\n", path, n_tensors, bytes, (double)bytes / 1e9);
    else
        hd_cli_progress(pc->cli, "%s: %d tensors, %.2f GB of data\n", path, n_tensors, (double)bytes / 1e9);
}

/* "tensor k/N NAME": one line rewritten in place on a terminal, a line each otherwise. */
static void progress(void *ctx, int done, int total, const char *tensor) {
    const progress_ctx *pc = ctx;
    if (pc->tty) hd_cli_progress(pc->cli, "\rtensor %d/%d %-48s%s", done, total, tensor, done == total ? "\n" : "");
    else hd_cli_progress(pc->cli, "tensor %d/%d %s\n", done, total, tensor);
}

static bool in_list(const char *s, const char *const *list) {
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0) return true;
    return false;
}

static void join(char *buf, size_t n, const char *const *list) {
    buf[0] = 0;
    for (const char *const *p = list; p && *p; p++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", p == list ? "" : ", ", *p);
}

static int run(int argc, char **argv) {
    hd_cli cli;
    bool help;
    opts o = {0};
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (help) {
        fputs(k_usage, stdout);
        return HD_EXIT_OK;
    }
    if (cli.n_pos > 0) return hd_cli_usage_error(&cli, "unexpected argument '%s'", cli.pos[0]);
    if (!o.out) return hd_cli_usage_error(&cli, "-o PATH is required");

    hd_random_model_params p = hd_random_model_default_params();
    char list[256];
    if (o.arch) {
        if (!in_list(o.arch, hd_random_model_arch_names())) {
            join(list, sizeof list, hd_random_model_arch_names());
            return hd_cli_usage_error(&cli, "unknown --arch '%s' (one of: %s)", o.arch, list);
        }
        p.arch = o.arch;
    }
    if (o.preset) {
        if (!in_list(o.preset, hd_random_model_preset_names(p.arch))) {
            join(list, sizeof list, hd_random_model_preset_names(p.arch));
            return hd_cli_usage_error(&cli, "unknown --preset '%s' for %s (one of: %s)", o.preset, p.arch, list);
        }
        p.preset = o.preset;
    }
    if (o.format) {
        if (strcmp(o.format, "gguf") == 0) p.format = HD_RM_GGUF;
        else if (strcmp(o.format, "hf") == 0) p.format = HD_RM_HF;
        else return hd_cli_usage_error(&cli, "--format must be gguf or hf, not '%s'", o.format);
    }
    if (o.type) {
        const int t = hd_type_from_name(o.type);
        const bool ok = t == HD_TYPE_F32 || t == HD_TYPE_F16 || t == HD_TYPE_BF16 ||
                        (p.format == HD_RM_GGUF && (t == HD_TYPE_Q8_0 || t == HD_TYPE_Q4_0 || t == HD_TYPE_Q4_K));
        if (!ok)
            return hd_cli_usage_error(&cli, "--type %s: %s", o.type,
                                      p.format == HD_RM_HF ? "HF safetensors take F32, F16 or BF16"
                                                           : "use F32, F16, BF16, Q8_0, Q4_0 or Q4_K");
        p.type = (hd_type)t;
    }
    long long n;
    if (o.vocab) {
        if (!hd_cli_int(&cli, "--vocab", o.vocab, 1, 1 << 26, &n)) return HD_EXIT_USAGE;
        p.n_vocab = n;
    }
    if (o.shard) {
        if (!hd_cli_int(&cli, "--max-shard-size", o.shard, 1, (long long)(~0ull >> 1), &n)) return HD_EXIT_USAGE;
        p.max_shard_bytes = (uint64_t)n;
    }
    p.seed = cli.seed_set ? cli.seed : 0;
    char found[PATH_MAX];
    p.tokenizer = o.tokenizer;
    if (!p.tokenizer && !o.no_tokenizer && !o.vocab && (strcmp(p.arch, "llama") == 0 || strcmp(p.arch, "mllama") == 0 || strcmp(p.arch, "video") == 0 ||
         (strcmp(p.arch, "speech") == 0 && (strcmp(p.preset, "tiny") == 0 || strchr(p.preset, '+')))) &&
        strcmp(p.preset, "tiny-vocab") != 0 && default_tokenizer(found, sizeof found)) {
        p.tokenizer = found;
        hd_cli_progress(&cli, "tokenizer: %s (--no-tokenizer to leave it out)\n", found);
    }
    p.n_threads = cli.threads;
    progress_ctx pc = {&cli, isatty(2) != 0, o.dry_run};
    p.dry_run = o.dry_run;
    p.progress = progress;
    p.file_done = file_done;
    p.progress_ctx = &pc;

    hd_error err = {0};
    if (hd_random_model_write(&p, o.out, &err) != HD_OK) return hd_cli_fail(&cli, &err);
    if (!o.dry_run) hd_cli_progress(&cli, "wrote %s\n", o.out);
    return HD_EXIT_OK;
}

const hd_command hd_cmd_random_model = {
    "random-model", "write a random-weight model in the published GGUF or Hugging Face layout", k_usage, run};
