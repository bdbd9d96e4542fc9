/* apps/cmd_speak.c — `herd speak`: streaming text-to-speech (speech/tts.h).
 *
 *   herd speak "Hello there." -o out.wav
 *   some-program | herd speak -o - | aplay -f S16_LE -r 22050 -c 1
 *
 * Text comes from the arguments or, without any (or with "-"), from stdin,
 * spoken sentence by sentence as it arrives.  Audio goes to a WAV file, or
 * with -o - as raw 16-bit little-endian mono PCM to stdout, chunk by chunk.
 * The command builds and runs the graph  text ! tts ! wav|pcm  (the same
 * nodes `herd run`, `herd ask --speak` and the server's /v1/audio/speech use);
 * --normalize-only and --phones print diagnostics without synthesising.
 */
#include "cli.h"

#include "core/threadpool.h"
#include "graph/graph.h"
#include "graph/node_hooks.h"
#include "graph/registry.h"
#include "speech/phonemes.h"
#include "speech/prosody.h"
#include "speech/tn.h"
#include "speech/tn_model.h"
#include "speech/tts.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const hd_command hd_cmd_speak;

typedef struct speak_opts {
    hd_cli *cli;
    const char *out;
    const char *voice;
    const char *prosody;
    const char *tn;
    const char *lm;           /* --lm: the Llama 3 the models cross-attend to */
    long long lm_layer;       /* --lm-layer, -1 = the models' */
    long long first_cut;      /* --first-cut, 0 = off */
    long long rate, pitch, sample_rate;
    bool no_normalize, normalize_only, phones;
    bool bad;
} speak_opts;

static int flag(void *vctx, const char *f, const char *v) {
    speak_opts *o = vctx;
    if (strcmp(f, "-o") == 0 || strcmp(f, "--output") == 0) return o->out = v, 1;
    if (strcmp(f, "--voice") == 0) return o->voice = v, 1;
    if (strcmp(f, "--prosody") == 0) return o->prosody = v, 1;
    if (strcmp(f, "--tn") == 0) return o->tn = v, 1;
    if (strcmp(f, "--lm") == 0) return o->lm = v, 1;
    if (strcmp(f, "--first-cut") == 0) {
        if (!hd_cli_int(o->cli, f, v, 0, 1 << 20, &o->first_cut)) o->bad = true;
        return 1;
    }
    if (strcmp(f, "--lm-layer") == 0) {
        if (!hd_cli_int(o->cli, f, v, 0, 1024, &o->lm_layer)) o->bad = true;
        return 1;
    }
    if (strcmp(f, "--rate") == 0) {
        if (!hd_cli_int(o->cli, f, v, 80, 450, &o->rate)) o->bad = true;
        return 1;
    }
    if (strcmp(f, "--pitch") == 0) {
        if (!hd_cli_int(o->cli, f, v, 0, 100, &o->pitch)) o->bad = true;
        return 1;
    }
    if (strcmp(f, "--sample-rate") == 0 || strcmp(f, "-r") == 0) {
        if (!hd_cli_int(o->cli, f, v, 8000, 48000, &o->sample_rate)) o->bad = true;
        return 1;
    }
    if (strcmp(f, "--no-normalize") == 0) return o->no_normalize = true, 0;
    if (strcmp(f, "--normalize-only") == 0) return o->normalize_only = true, 0;
    if (strcmp(f, "--phones") == 0) return o->phones = true, 0;
    return -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Audio timing from the tts node's hook (its worker thread). */
typedef struct speak_timing {
    pthread_mutex_t mu;
    double t_text;    /* when the text was available (graph running)        */
    double t_first;   /* when the first audio was produced, 0 = not yet      */
    int64_t frames;
    int rate;
} speak_timing;

static void on_audio(void *ctx, const char *node, int64_t n, int rate) {
    speak_timing *t = ctx;
    pthread_mutex_lock(&t->mu);
    if (!t->t_first) t->t_first = now_s();
    t->frames += n;
    t->rate = rate;
    pthread_mutex_unlock(&t->mu);
}

/* --phones: the alignment of each sentence as espeak-ng renders it. */
static int print_phones(const hd_cli *cli, const speak_opts *o, const char *text) {
    hd_error err = {0};
    char *norm = o->no_normalize ? strdup(text) : hd_tn_normalize(text, strlen(text), &err);
    if (!norm) return hd_cli_fail(cli, &err);
    hd_phonemes_params pp = {.voice = o->voice, .rate_wpm = (int)o->rate, .pitch = (int)o->pitch};
    hd_utterance u;
    if (hd_phonemes_synth(norm, strlen(norm), &pp, &u, &err)) {
        free(norm);
        return hd_cli_fail(cli, &err);
    }
    for (int w = 0; w < u.n_words; w++) {
        const hd_phone_word *pw = &u.words[w];
        printf("%.*s\t", (int)pw->byte_len, norm + pw->byte_start);
        for (int i = pw->first_phone; i < pw->first_phone + pw->n_phones; i++)
            printf("%s%s %.3f-%.3f", i > pw->first_phone ? " " : "", u.phones[i].name,
                   (double)u.phones[i].start / u.rate, (double)u.phones[i].end / u.rate);
        putchar('\n');
    }
    hd_utterance_free(&u);
    free(norm);
    return HD_EXIT_OK;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    speak_opts o = {.cli = &cli, .rate = 175, .pitch = -1, .sample_rate = 22050, .voice = "en-us+klatt", .lm_layer = -1};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(hd_cmd_speak.usage, stdout);
        return HD_EXIT_OK;
    }
    if (cli.model && o.prosody) return hd_cli_usage_error(&cli, "give -m or --prosody, not both");
    if (cli.model) o.prosody = cli.model;
    if (o.lm && !o.prosody && !o.tn) return hd_cli_usage_error(&cli, "--lm feeds the --prosody / --tn models: give one");
    if (o.lm_layer >= 0 && !o.lm) return hd_cli_usage_error(&cli, "--lm-layer needs --lm");
    if (o.lm && (o.normalize_only || o.phones))
        return hd_cli_usage_error(&cli, "--normalize-only and --phones do not run the LM (leave out --lm)");

    /* text from the arguments, or stdin */
    char *text = NULL;
    bool from_stdin = cli.n_pos == 0 || (cli.n_pos == 1 && strcmp(cli.pos[0], "-") == 0);
    if (!from_stdin) {
        size_t len = 0;
        for (int i = 0; i < cli.n_pos; i++) len += strlen(cli.pos[i]) + 1;
        text = malloc(len + 1);
        if (!text) return hd_cli_usage_error(&cli, "out of memory");
        text[0] = 0;
        for (int i = 0; i < cli.n_pos; i++) {
            if (i) strcat(text, " ");
            strcat(text, cli.pos[i]);
        }
    }
    if (o.normalize_only || o.phones) {
        if (from_stdin) {
            free(text);
            return hd_cli_usage_error(&cli, "--normalize-only and --phones take the text as arguments");
        }
        if (o.phones) {
            rc = print_phones(&cli, &o, text);
        } else {
            hd_error err = {0};
            char *n = NULL;
            if (o.tn) {
                /* the tagger's choice of rule per TN token */
                hd_tn_model *m = hd_tn_model_load(o.tn, &err);
                hd_tn_token *tk = NULL;
                int nt = 0;
                uint8_t *tags = NULL;
                if (m && !hd_tn_tokenize(text, strlen(text), &tk, &nt, &err) && (tags = malloc((size_t)nt + 1)) &&
                    !hd_tn_model_run(m, NULL, text, tk, nt, 0, NULL, NULL, NULL, tags, &err))
                    n = hd_tn_normalize_tagged(text, strlen(text), tk, nt, tags, &err);
                else if (m && !tags && !err.code)
                    hd_error_set(&err, HD_ERR_NOMEM, "out of memory");
                free(tags);
                free(tk);
                hd_tn_model_free(m);
            } else {
                n = hd_tn_normalize(text, strlen(text), &err);
            }
            if (n) printf("%s\n", n);
            else rc = hd_cli_fail(&cli, &err);
            free(n);
        }
        free(text);
        return rc;
    }
    if (!o.out) {
        free(text);
        return hd_cli_usage_error(&cli, "no output (-o FILE.wav, or -o - for raw 16-bit PCM on stdout)");
    }

    /* text ! tts ! wav|pcm: the graph `herd run "text:... ! tts ! wav:out.wav"` runs */
    hd_error err = {0};
    hd_registry *reg = NULL;
    hd_graph *g = NULL;
    hd_threadpool *pool = NULL;
    speak_timing tm = {0};
    pthread_mutex_init(&tm.mu, NULL);
    hd_node_hooks hooks = hd_node_hooks_init();
    hooks.audio = on_audio;
    hooks.ctx = &tm;
    char wpm[16], pitch[16], rate[16], lm_layer[16], first_cut[16];
    snprintf(first_cut, sizeof first_cut, "%lld", o.first_cut);
    snprintf(lm_layer, sizeof lm_layer, "%lld", o.lm_layer);
    snprintf(wpm, sizeof wpm, "%lld", o.rate);
    snprintf(pitch, sizeof pitch, "%lld", o.pitch);
    snprintf(rate, sizeof rate, "%lld", o.sample_rate);
    hd_kv src = from_stdin ? (hd_kv){"path", "-"} : (hd_kv){"text", text};
    hd_kv tkv[11];
    int nt = 0;
    tkv[nt++] = (hd_kv){"voice", o.voice};
    tkv[nt++] = (hd_kv){"wpm", wpm};
    tkv[nt++] = (hd_kv){"rate", rate};
    if (o.pitch >= 0) tkv[nt++] = (hd_kv){"pitch", pitch};
    if (o.no_normalize) tkv[nt++] = (hd_kv){"normalize", "false"};
    if (o.prosody) tkv[nt++] = (hd_kv){"prosody", o.prosody};
    if (o.tn) tkv[nt++] = (hd_kv){"tn", o.tn};
    if (o.first_cut) tkv[nt++] = (hd_kv){"first-cut", first_cut};
    if (o.lm) tkv[nt++] = (hd_kv){"lm", o.lm};
    if (o.lm) tkv[nt++] = (hd_kv){"lm-layer", lm_layer};
    hd_kv okv = {"path", o.out};
    const bool raw = strcmp(o.out, "-") == 0;
    hd_graph_params gp = hd_graph_default_params();
    gp.user = &hooks;
    int a, t, w;
    if (!(reg = hd_registry_create(&err)) || hd_registry_add_builtins(reg, &err) || !(g = hd_graph_create(&gp, &err)) ||
        (a = hd_graph_add(g, hd_registry_find(reg, "text"), "text", &src, 1, NULL, &err)) < 0 ||
        (t = hd_graph_add(g, hd_registry_find(reg, "tts"), "tts", tkv, nt, NULL, &err)) < 0 ||
        (w = hd_graph_add(g, hd_registry_find(reg, raw ? "pcm" : "wav"), "out", &okv, 1, NULL, &err)) < 0 ||
        hd_graph_link(g, a, NULL, t, NULL, &err) || hd_graph_link(g, t, NULL, w, NULL, &err))
        goto fail;
    if (!(pool = hd_threadpool_create(cli.threads, &err))) goto fail;
    hd_graph_set_pool(g, pool);
    /* time to first audio counts from here: loading the voice and models included */
    tm.t_text = now_s();
    if (hd_graph_start(g, &err)) goto fail;
    if (o.prosody) hd_cli_progress(&cli, "speak: prosody model %s\n", o.prosody);
    if (o.tn) hd_cli_progress(&cli, "speak: TN tagger %s\n", o.tn);
    if (o.lm) hd_cli_progress(&cli, "speak: the models cross-attend to the hidden states of %s\n", o.lm);
    if (hd_graph_wait(g, &err)) goto fail;
    double secs = tm.rate ? (double)tm.frames / tm.rate : 0, total = now_s() - tm.t_text;
    if (tm.t_first)
        hd_cli_progress(&cli, "speak: %.2f s of audio at %d Hz; first audio after %.1f ms, real-time factor %.3f\n",
                        secs, tm.rate, (tm.t_first - tm.t_text) * 1e3, secs > 0 ? total / secs : 0.0);
    else
        hd_cli_progress(&cli, "speak: nothing to say\n");
    rc = HD_EXIT_OK;
    goto out;
fail:
    {
        /* the nodes' own messages name the voice or file already */
        static const char *const k_prefix[] = {"node 'tts': ", "node 'out': ", "node 'text': "};
        for (size_t i = 0; i < sizeof k_prefix / sizeof k_prefix[0]; i++)
            if (!strncmp(err.msg, k_prefix[i], strlen(k_prefix[i])))
                memmove(err.msg, err.msg + strlen(k_prefix[i]), strlen(err.msg) - strlen(k_prefix[i]) + 1);
    }
    rc = hd_cli_fail(&cli, &err);
out:
    hd_graph_free(g);
    hd_registry_free(reg);
    hd_threadpool_free(pool);
    pthread_mutex_destroy(&tm.mu);
    free(text);
    return rc;
}

const hd_command hd_cmd_speak = {
    "speak",
    "text to speech, streaming sentence by sentence (espeak-ng phones, optional prosody model)",
    "usage: herd speak [options] [TEXT...] -o OUT.wav\n"
    "\n"
    "Speaks TEXT (the arguments joined by spaces), or stdin when no TEXT or '-' is\n"
    "given: each sentence is rendered as soon as it is complete, so text can be piped\n"
    "in as it is produced.  Numbers, dates, times, currencies, units and abbreviations\n"
    "are read out by the rule-based English normaliser.\n"
    "\n"
    "  -o FILE              WAV output (16-bit mono); '-' writes raw 16-bit little-endian\n"
    "                       PCM to stdout, chunk by chunk\n"
    "  --voice NAME         espeak-ng voice: en-us+klatt (default), en-us, en-gb, en-us+f3, ...\n"
    "  --rate WPM           speaking rate, 80..450 words per minute (default 175)\n"
    "  --pitch N            base pitch 0..100 (default 50)\n"
    "  -r, --sample-rate HZ output rate, 8000..48000 (default 22050; 16000 for ASR)\n"
    "  --prosody FILE       prosody model GGUF (speech/prosody.h): its per-phone durations,\n"
    "                       F0 and power are imposed on the voice (also -m FILE)\n"
    "  --tn FILE            TN tagger GGUF (speech/tn_model.h): picks the normalisation rule\n"
    "                       of every token (default: the rule-based normaliser alone)\n"
    "  --lm MODEL           Llama 3 model (GGUF or HF folder) that reads the text: the TN\n"
    "                       tagger and the prosody model cross-attend to its hidden states\n"
    "                       of the text's tokens (their width must equal the LM's; without\n"
    "                       --lm they run with no LM tokens)\n"
    "  --lm-layer N         states after N layers (default: the models' token_layer, else\n"
    "                       n_layer/2 — layer 16 of Llama 3 8B, as in the paper)\n"
    "  --no-normalize       speak the text as written\n"
    "  --first-cut N        start to speak after the first clause: the first segment also\n"
    "                       ends at its first \", \" past N bytes (default 0: sentences)\n"
    "  --normalize-only     print the spoken form of TEXT (with --tn: as the tagger chose) and exit\n"
    "  --phones             print each word of TEXT with its phones and times (s) and exit\n"
    "  -t N                 threads for the prosody model (default: all cores)\n"
    "  --quiet              no summary on stderr (sentences, audio length, time to first\n"
    "                       audio, real-time factor)\n",
    run,
};
