/* apps/cmd_speak.c — `herd speak`: streaming text-to-speech (speech/tts.h).
 *
 *   herd speak "Hello there." -o out.wav
 *   some-program | herd speak -o - | aplay -f S16_LE -r 22050 -c 1
 *
 * Text comes from the arguments or, without any (or with "-"), from stdin,
 * spoken sentence by sentence as it arrives.  Audio goes to a WAV file, or
 * with -o - as raw 16-bit little-endian mono PCM to stdout, chunk by chunk.
 */
#include "cli.h"

#include "core/threadpool.h"
#include "media/wav.h"
#include "speech/phonemes.h"
#include "speech/prosody.h"
#include "speech/tn.h"
#include "speech/tn_model.h"
#include "speech/tts.h"

#include <errno.h>
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

typedef struct sink {
    hd_wav_writer *wav;     /* WAV file, or NULL for raw PCM on stdout */
    double t_text;          /* when the first text arrived              */
    double t_first;         /* when the first audio was written, 0 = not yet */
    int16_t buf[4096];
} sink;

/* Writes all of b to stdout (raw PCM). */
static hd_status write_all(const void *b, size_t n, hd_error *err) {
    const char *p = b;
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return hd_error_set(err, HD_ERR_IO, "stdout: %s", w < 0 ? strerror(errno) : "closed");
        p += w, n -= (size_t)w;
    }
    return HD_OK;
}

static hd_status on_audio(void *user, const float *pcm, int64_t n, hd_error *err) {
    sink *s = user;
    hd_status st = HD_OK;
    if (s->wav) {
        st = hd_wav_writer_write(s->wav, pcm, (size_t)n, err);
    } else {
        for (int64_t i = 0; i < n && !st;) {
            int64_t k = n - i < 4096 ? n - i : 4096;
            for (int64_t j = 0; j < k; j++) {
                float v = pcm[i + j];
                v = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
                int16_t q = (int16_t)lrintf(v * 32767.0f);
                /* little-endian on the wire whatever the host order */
                unsigned char *b = (unsigned char *)&s->buf[j];
                b[0] = (unsigned char)(q & 0xff);
                b[1] = (unsigned char)((uint16_t)q >> 8);
            }
            st = write_all(s->buf, (size_t)k * 2, err);
            i += k;
        }
    }
    if (!st && !s->t_first) s->t_first = now_s();
    return st;
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
    speak_opts o = {.cli = &cli, .rate = 175, .pitch = -1, .sample_rate = 22050, .voice = "en-us+klatt"};
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

    hd_error err = {0};
    hd_prosody_model *pm = NULL;
    hd_tn_model *tnm = NULL;
    hd_threadpool *pool = NULL;
    hd_tts *tts = NULL;
    sink s = {0};
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    hd_tts_params tp = hd_tts_default_params();
    tp.voice = o.voice;
    tp.rate_wpm = (int)o.rate;
    tp.pitch = (int)o.pitch;
    tp.sample_rate = (int)o.sample_rate;
    tp.no_normalize = o.no_normalize;
    if (o.prosody || o.tn) {
        if (!(pool = hd_threadpool_create(cli.threads, &err))) goto fail;
        ex.pool = pool;
        tp.ex = &ex;
    }
    if (o.tn) {
        if (!(tnm = hd_tn_model_load(o.tn, &err))) goto fail;
        tp.tn = tnm;
        hd_cli_progress(&cli, "speak: TN tagger %s (LSTM %d x %d, right context %d tokens)\n", o.tn,
                        hd_tn_model_config(tnm)->n_layer, hd_tn_model_config(tnm)->n_hidden,
                        hd_tn_model_config(tnm)->lookahead);
    }
    if (o.prosody) {
        if (!(pm = hd_prosody_load(o.prosody, &err))) goto fail;
        tp.prosody = pm;
        hd_cli_progress(&cli, "speak: prosody model %s (%d layers, lookahead %d phones)\n", o.prosody,
                        hd_prosody_config_of(pm)->n_layer, hd_prosody_config_of(pm)->lookahead);
    }
    if (strcmp(o.out, "-") != 0 && !(s.wav = hd_wav_writer_open(o.out, tp.sample_rate, 1, HD_WAV_PCM16, &err)))
        goto fail;
    if (!(tts = hd_tts_create(&tp, on_audio, &s, &err))) goto fail;

    if (!from_stdin) {
        s.t_text = now_s();
        if (hd_tts_push(tts, text, strlen(text), &err) || hd_tts_finish(tts, &err)) goto fail;
    } else {
        char buf[4096];
        for (;;) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                hd_error_set(&err, HD_ERR_IO, "stdin: %s", strerror(errno));
                goto fail;
            }
            if (n == 0) break;
            if (!s.t_text) s.t_text = now_s();
            if (hd_tts_push(tts, buf, (size_t)n, &err)) goto fail;
        }
        if (hd_tts_finish(tts, &err)) goto fail;
    }
    if (s.wav) {
        hd_wav_writer *w = s.wav;
        s.wav = NULL;
        if (hd_wav_writer_close(w, &err)) goto fail;
    }
    hd_tts_stats st = hd_tts_get_stats(tts);
    double secs = (double)st.samples / tp.sample_rate, total = now_s() - s.t_text;
    if (s.t_first)
        hd_cli_progress(&cli,
                        "speak: %lld sentences, %lld phones, %.2f s of audio at %d Hz; first audio after %.1f ms, "
                        "real-time factor %.3f\n",
                        (long long)st.sentences, (long long)st.phones, secs, tp.sample_rate,
                        (s.t_first - s.t_text) * 1e3, secs > 0 ? total / secs : 0.0);
    else
        hd_cli_progress(&cli, "speak: nothing to say\n");
    hd_tts_free(tts);
    hd_prosody_free(pm);
    hd_tn_model_free(tnm);
    hd_threadpool_free(pool);
    free(text);
    return HD_EXIT_OK;
fail:
    rc = hd_cli_fail(&cli, &err);
    if (s.wav) hd_wav_writer_close(s.wav, NULL);
    hd_tts_free(tts);
    hd_prosody_free(pm);
    hd_tn_model_free(tnm);
    hd_threadpool_free(pool);
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
    "  --no-normalize       speak the text as written\n"
    "  --normalize-only     print the spoken form of TEXT (with --tn: as the tagger chose) and exit\n"
    "  --phones             print each word of TEXT with its phones and times (s) and exit\n"
    "  -t N                 threads for the prosody model (default: all cores)\n"
    "  --quiet              no summary on stderr (sentences, audio length, time to first\n"
    "                       audio, real-time factor)\n",
    run,
};
