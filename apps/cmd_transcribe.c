/* apps/cmd_transcribe.c — `herd transcribe` and `herd translate`: speech to
 * text with the paper's speech model (SPEC §4), for files of any length and
 * for live raw PCM on stdin.
 *
 * The commands only build a processing graph and run it:
 *
 *   file:TALK | raw:- ─ resample 16 kHz mono ─ mel ─ segment ─ conformer ─
 *       speech-adapter ─ llama task=transcribe|translate ─┬─ out    → FORMAT sink (-o FILE | stdout)
 *                                                        └─ tokens → the same sink (--ids, --json)
 *
 * so they run exactly the code of
 *   herd run "file:talk.wav ! resample rate=16000 channels=1 ! mel ! segment !
 *             conformer model=M ! speech-adapter model=M !
 *             llama model=M task=transcribe ! srt:talk.srt"
 * `segment` cuts the stream at pauses (at most --max-segment seconds), each
 * segment is recognised as soon as its end is heard, and the sink writes its
 * text at once: with `-` the text of each utterance appears while audio is
 * still arriving.  Model progress goes to stderr. */
#include "cli.h"

#include "core/threadpool.h"
#include "graph/graph.h"
#include "graph/node_hooks.h"
#include "graph/registry.h"
#include "transcribe_graph.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_INTERRUPTED 130

extern const hd_command hd_cmd_transcribe;
extern const hd_command hd_cmd_translate;

typedef struct tr_opts {
    hd_cli *cli;
    bool translate;
    const char *format;        /* txt|srt|vtt|json|verbose_json */
    const char *out;           /* -o, NULL = stdout */
    const char *language;      /* transcribe: transcript language; translate: source (JSON only) */
    const char *to;            /* translate: target language */
    const char *rate, *channels, *sample_format;   /* raw stdin */
    const char *max_segment, *min_silence, *overlap;
    const char *lm;            /* --lm: a speech-LLM checkpoint's language model */
    bool bad;
} tr_opts;

static const char *const k_formats[] = {"txt", "srt", "vtt", "json", "verbose_json"};

static bool check_float(tr_opts *o, const char *f, const char *v, double lo, double hi) {
    double d;
    if (!v) return true;   /* hd_cli_parse reports the missing value */
    if (!hd_cli_float(o->cli, f, v, &d)) return false;
    if (d < lo || d > hi) {
        hd_cli_usage_error(o->cli, "%s: %s is out of range [%g, %g]", f, v, lo, hi);
        return false;
    }
    return true;
}

static int flag(void *vctx, const char *f, const char *v) {
    tr_opts *o = vctx;
    long long n;
    if (!strcmp(f, "--format") || !strcmp(f, "-f")) {
        o->format = v;
        if (v) {
            bool ok = false;
            for (size_t i = 0; i < sizeof k_formats / sizeof k_formats[0]; i++) ok |= !strcmp(v, k_formats[i]);
            if (!ok) {
                hd_cli_usage_error(o->cli, "--format: '%s' is not one of txt, srt, vtt, json, verbose_json", v);
                o->bad = true;
            }
        }
        return 1;
    }
    if (!strcmp(f, "-o") || !strcmp(f, "--output")) { o->out = v; return 1; }
    if (!strcmp(f, "--lm")) { o->lm = v; return 1; }
    if (!strcmp(f, "--language") || !strcmp(f, "-l")) { o->language = v; return 1; }
    if (!strcmp(f, "--to")) {
        if (!o->translate) {
            hd_cli_usage_error(o->cli, "--to is for herd translate (transcribe keeps the language spoken)");
            o->bad = true;
        }
        o->to = v;
        return 1;
    }
    if (!strcmp(f, "--rate") || !strcmp(f, "--channels")) {
        bool rate = f[2] == 'r';
        if (v && !hd_cli_int(o->cli, f, v, rate ? 1000 : 1, rate ? 768000 : 64, &n)) o->bad = true;
        if (rate) o->rate = v;
        else o->channels = v;
        return 1;
    }
    if (!strcmp(f, "--sample-format")) {
        o->sample_format = v;
        if (v && strcmp(v, "s16") && strcmp(v, "s16le") && strcmp(v, "f32") && strcmp(v, "f32le")) {
            hd_cli_usage_error(o->cli, "--sample-format: '%s' is not s16 or f32", v);
            o->bad = true;
        }
        return 1;
    }
    if (!strcmp(f, "--max-segment")) {
        /* the encoder attends over a whole segment: the paper's longest is 60 s */
        if (!check_float(o, f, v, 1, 60)) o->bad = true;
        o->max_segment = v;
        return 1;
    }
    if (!strcmp(f, "--min-silence")) {
        if (!check_float(o, f, v, 0.2, 60)) o->bad = true;
        o->min_silence = v;
        return 1;
    }
    if (!strcmp(f, "--overlap")) {
        if (!check_float(o, f, v, 0, 60)) o->bad = true;
        o->overlap = v;
        return 1;
    }
    return -1;
}

/* ---- progress ------------------------------------------------------------------ */

typedef struct progress {
    const hd_cli *cli;
    const char *cmd;
    pthread_mutex_t mu;
} progress;

static void hook_progress(void *ctx, const char *node, const char *line) {
    progress *p = ctx;
    pthread_mutex_lock(&p->mu);
    hd_cli_progress(p->cli, "herd %s: %s: %s\n", p->cmd, node, line);
    pthread_mutex_unlock(&p->mu);
}

static int run_common(int argc, char **argv, bool translate) {
    const hd_command *self = translate ? &hd_cmd_translate : &hd_cmd_transcribe;
    hd_cli cli;
    tr_opts o = {.cli = &cli, .translate = translate};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(self->usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "no model (-m SPEECH_MODEL)");
    if (cli.n_pos == 0) return hd_cli_usage_error(&cli, "no input (an audio file, or - for raw PCM on stdin)");
    if (cli.n_pos > 1) return hd_cli_usage_error(&cli, "one input at a time (got '%s' and '%s')", cli.pos[0], cli.pos[1]);
    const char *input = cli.pos[0];
    bool raw = !strcmp(input, "-");
    if (!raw && (o.rate || o.channels || o.sample_format))
        return hd_cli_usage_error(&cli, "--rate, --channels and --sample-format describe raw PCM on stdin (input -)");
    const char *format = o.format ? o.format : "txt";
    if (cli.json && o.format && strcmp(o.format, "verbose_json"))
        return hd_cli_usage_error(&cli, "--json writes verbose_json; it cannot be combined with --format %s", o.format);
    if (cli.ids && !cli.json && strcmp(format, "txt") && strcmp(format, "verbose_json"))
        return hd_cli_usage_error(&cli, "--ids needs --format txt or verbose_json (%s has no place for token ids)", format);
    if (o.out && !strcmp(o.out, "")) return hd_cli_usage_error(&cli, "-o: empty file name");

    hd_error err = {0};
    progress pr = {.cli = &cli, .cmd = self->name};
    pthread_mutex_init(&pr.mu, NULL);
    hd_node_hooks hooks = hd_node_hooks_init();
    hooks.progress = hook_progress;
    hooks.ctx = &pr;
    hd_registry *reg = NULL;
    hd_graph *g = NULL;
    hd_threadpool *pool = NULL;
    rc = HD_EXIT_OK;
    if (!(reg = hd_registry_create(&err)) || hd_registry_add_builtins(reg, &err)) goto fail;
    hd_graph_params gp = hd_graph_default_params();
    gp.user = &hooks;
    hd_transcribe_spec spec = {
        .model = cli.model, .lm = o.lm, .input = input, .translate = translate, .language = o.language, .to = o.to,
        .n_predict = cli.n_predict, .temp = cli.temp, .temp_set = cli.temp_set, .seed = cli.seed,
        .rate = o.rate, .channels = o.channels, .sample_format = o.sample_format,
        .max_segment = o.max_segment, .min_silence = o.min_silence, .overlap = o.overlap,
        .format = cli.json ? "verbose_json" : format, .out = o.out, .link_tokens = cli.ids || cli.json,
    };
    if (!(g = hd_graph_create(&gp, &err)) || hd_transcribe_build(g, reg, &spec, &err)) goto fail;
    if (!(pool = hd_threadpool_create(cli.threads, &err))) goto fail;
    hd_graph_set_pool(g, pool);

    /* Ctrl-C cancels the graph; the sink still finishes its file */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    bool interrupted = false;
    hd_status st = hd_graph_start(g, &err);
    if (!st) {
        /* the models are loaded: from here on audio is recognised as it comes */
        hd_cli_progress(&cli, "herd %s: %s%s\n", self->name, raw ? "listening on stdin" : "reading ", raw ? "" : input);
        while (!hd_graph_done(g)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            int sig = sigtimedwait(&sigs, NULL, &ts);
            if ((sig == SIGINT || sig == SIGTERM) && !interrupted) {
                interrupted = true;
                hd_cli_progress(&cli, "herd %s: interrupted, finishing the output\n", self->name);
                hd_graph_cancel(g);
            }
        }
        st = hd_graph_wait(g, &err);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (interrupted && st == HD_ERR_CANCELLED) {
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    if (st) goto fail;
    hd_node_stats stats[16];
    int ns = hd_graph_stats(g, stats, 16);
    for (int i = 0; i < ns; i++) {
        if (!strcmp(stats[i].name, "audio") && stats[i].packets_out == 0) {
            /* a valid container without a single sample */
            hd_error_set(&err, HD_ERR_FORMAT, "%s: no audio samples", raw ? "standard input" : input);
            goto fail;
        }
        if (!strcmp(stats[i].name, "segment"))
            hd_cli_progress(&cli, "herd %s: %lld speech segment%s\n", self->name, (long long)stats[i].packets_out,
                            stats[i].packets_out == 1 ? "" : "s");
    }
    if (fflush(stdout) != 0) rc = HD_EXIT_INPUT;
    goto out;
fail:
    fflush(stdout);
    {
        /* the input's own errors name the file already: no graph node name */
        static const char k_src[] = "node 'audio': ";
        if (!strncmp(err.msg, k_src, sizeof k_src - 1))
            memmove(err.msg, err.msg + sizeof k_src - 1, strlen(err.msg) - (sizeof k_src - 1) + 1);
    }
    rc = hd_cli_fail(&cli, &err);
out:
    hd_graph_free(g);
    hd_threadpool_free(pool);
    hd_registry_free(reg);
    pthread_mutex_destroy(&pr.mu);
    return rc;
}

static int run_transcribe(int argc, char **argv) { return run_common(argc, argv, false); }
static int run_translate(int argc, char **argv) { return run_common(argc, argv, true); }

#define COMMON_USAGE                                                                                       \
    "  -m MODEL            the speech model: herd's speech file (conformer + adapter, naming\n"          \
    "                      its LM: herd random-model --arch speech), or a Granite Speech 3.3 or\n"        \
    "                      Ultravox v0.5 Hugging Face folder (or the GGUF herd convert made of it)\n"     \
    "  --lm MODEL          the language model of a checkpoint that does not hold its own\n"            \
    "  -f, --format FMT    txt (default: one segment a line), srt, vtt, json\n"                          \
    "                      ({\"segments\": [{start, end, text}]}), verbose_json (task,\n"                \
    "                      language, segments with ids, full text, duration)\n"                          \
    "  -o FILE             write there instead of stdout\n"                                              \
    "  -n N                maximum tokens per segment (default 448)\n"                                   \
    "  --temp T            temperature (default 0: greedy, as the paper evaluates)\n"                    \
    "  --seed N            sampling seed\n"                                                              \
    "  --max-segment S     longest segment in seconds, 1..60 (default 30; the paper trains on <= 60);\n"        \
    "                      longer speech is cut at its quietest point before the limit\n"                \
    "  --min-silence S     pause that ends a segment (default 0.6 s); also the live latency\n"              \
    "  --overlap S         seconds by which segments cut at the limit overlap (default 0);\n"            \
    "                      the words heard twice are joined once\n"                                      \
    "  -  (input)          raw PCM on stdin, recognised while it arrives:\n"                             \
    "  --rate N            its sample rate (default 16000)\n"                                            \
    "  --channels N        its channels (default 1; mixed down)\n"                                       \
    "  --sample-format F   s16 (default, little endian) or f32\n"                                        \
    "  -t N                threads (default: all cores)\n"                                               \
    "  --ids               also the token ids of each segment (txt: a line after its text;\n"            \
    "                      verbose_json: \"tokens\")\n"                                                  \
    "  --json              the same as --format verbose_json --ids\n"                                    \
    "  --quiet             no progress on stderr\n"                                                      \
    "Inputs: WAV natively; MP3, FLAC, Ogg, Opus, M4A, video files through FFmpeg.\n"                     \
    "Exit codes: 0 ok, 1 bad input or model, 2 usage error, 130 interrupted.\n"

const hd_command hd_cmd_transcribe = {
    "transcribe",
    "speech to text with timestamps (files of any length, or live PCM on stdin)",
    "usage: herd transcribe -m MODEL [options] AUDIO|-\n"
    "\n"
    "Cuts the audio into speech segments at pauses, then writes each segment's\n"
    "transcript (the paper's prompt \"Repeat after me in {language}:\") with its\n"
    "start and end time as soon as it is recognised.  Runs the processing graph\n"
    "  file:AUDIO ! resample rate=16000 channels=1 ! mel ! segment ! conformer model=M !\n"
    "  speech-adapter model=M ! llama model=M task=transcribe ! FORMAT:OUT\n"
    "(Granite Speech / Ultravox: ... segment ! audio-encoder model=M ! llama model=M ...,\n"
    "with the model's own front end and prompt.)\n"
    "  arecord -f S16_LE -r 16000 | herd transcribe -m speech.gguf -\n"
    "\n"
    "  --language L        language of the transcript, name or ISO code (default English)\n" COMMON_USAGE,
    run_transcribe,
};

const hd_command hd_cmd_translate = {
    "translate",
    "speech translation with timestamps (--to LANGUAGE)",
    "usage: herd translate -m MODEL [--to LANGUAGE] [options] AUDIO|-\n"
    "\n"
    "Like herd transcribe, with the paper's prompt \"Translate the following sentence\n"
    "into {language}:\" for each speech segment (llama task=translate).\n"
    "\n"
    "  --to L              target language, name or ISO code (default English)\n"
    "  --language L        the spoken language, recorded in verbose_json only (the paper's\n"
    "                      prompt names the target alone)\n" COMMON_USAGE,
    run_translate,
};
