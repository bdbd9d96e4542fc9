/* graph/nodes_text.c — text sinks: stdout, txt, srt, vtt, json, verbose_json.
 *
 * A text packet is one segment from pts to pts+duration.  Producers that
 * stream a segment in pieces (a language model emitting tokens) set
 * HD_PKT_FLAG_PARTIAL on every piece but the last; the file writers join the
 * pieces and write the segment when its last piece arrives (or at end of
 * stream).  stdout prints pieces as they come.
 *
 * Formats (times rounded to the millisecond):
 *   srt   "N\nHH:MM:SS,mmm --> HH:MM:SS,mmm\nTEXT\n\n", N from 1
 *   vtt   "WEBVTT\n\n" then "HH:MM:SS.mmm --> HH:MM:SS.mmm\nTEXT\n\n"
 *   json  {"segments": [{"start": S, "end": E, "text": "..."}, ...]} (seconds)
 *   verbose_json  OpenAI-style: {"task": T, "language": L, "segments":
 *         [{"id": N, "start": S, "end": E, "text": "...", "tokens": [ids]}, ...],
 *         "text": all segments joined by spaces, "duration": end of the last
 *         segment} (seconds; task and language from the node's options; the
 *         whole text is kept until the end for "text", ~1 MB for 10 hours)
 *   txt   one segment per line (then its token ids on a line when `tokens`
 *         is linked)
 * txt and verbose_json take an optional second input `tokens`: one ids
 * packet per answer, in the order of the answers (the llama node's tokens
 * output); a closed segment waits for its ids (a segment without ids at the
 * end is written without them).
 * Cue text is trimmed, carriage returns dropped and blank lines removed (a
 * blank line would end an srt/vtt cue); segments that end up empty are
 * skipped.
 *
 * Overlapping segments (a speech window cut at its maximum length with an
 * overlap, graph/segmenter.h): when a segment starts before the previous one
 * ended, the words it repeats from the end of the previous text are dropped
 * (graph/text_join.h, at most the words the overlap can hold: 3 words a
 * second or the previous segment's own rate if faster, × 1.5, + 1) and its
 * cue starts where the previous one ended, so cues never overlap.
 */
#include "node.h"
#include "text_join.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum fmt { F_STDOUT, F_TXT, F_SRT, F_VTT, F_JSON, F_VJSON } fmt;

typedef struct text_state {
    fmt f;
    FILE *out;
    bool own;
    char *path;
    char *seg;            /* pieces of the current segment */
    size_t len, cap;
    bool open;            /* a segment has pieces */
    int64_t start, end;
    bool timed;           /* every piece had a pts */
    int cues;
    /* the previous written segment, for the overlap join */
    char *prev;
    size_t prev_len, prev_cap;
    int64_t prev_start, prev_end;
    bool have_prev;
    /* txt/verbose_json with the `tokens` input linked: closed segments and
     * token packets wait for each other (k-th answer <-> k-th ids packet) */
    bool want_tokens;
    struct pending {
        char *text;
        size_t len;
        int64_t start, end;
        bool timed;
    } *pend;
    int n_pend, cap_pend;
    hd_packet **ptok;
    int n_ptok, cap_ptok;
    /* verbose_json: every segment's text, joined by spaces */
    char *all;
    size_t all_len, all_cap;
    int64_t last_end;
} text_state;

static hd_status out_error(text_state *s, hd_error *err) {
    return hd_error_set(err, HD_ERR_IO, "%s: write error: %s", s->path, strerror(errno));
}

static hd_status text_create_fmt(fmt f, const hd_node_opts *o, void **state, hd_error *err) {
    text_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->f = f;
    const char *path = f == F_STDOUT ? "-" : hd_opt_str(o, "path");
    s->path = strdup(strcmp(path, "-") == 0 ? "<stdout>" : path);
    if (!s->path) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    if (strcmp(path, "-") == 0) {
        s->out = stdout;
    } else {
        s->out = fopen(path, "wb");
        if (!s->out) return hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        s->own = true;
    }
    int rc = 0;
    if (f == F_VTT) rc = fputs("WEBVTT\n\n", s->out);
    else if (f == F_JSON) rc = fputs("{\"segments\": [", s->out);
    else if (f == F_VJSON) {
        cJSON *task = cJSON_CreateString(hd_opt_str(o, "task")), *lang = cJSON_CreateString(hd_opt_str(o, "language"));
        char *t = task ? cJSON_PrintUnformatted(task) : NULL, *l = lang ? cJSON_PrintUnformatted(lang) : NULL;
        cJSON_Delete(task);
        cJSON_Delete(lang);
        if (!t || !l) {
            cJSON_free(t);
            cJSON_free(l);
            return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        }
        rc = fprintf(s->out, "{\"task\": %s, \"language\": %s, \"segments\": [", t, l);
        cJSON_free(t);
        cJSON_free(l);
    }
    if (rc < 0) return out_error(s, err);
    return HD_OK;
}

static bool append(char **buf, size_t *len, size_t *cap, const char *t, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *q = realloc(*buf, c);
        if (!q) return false;
        *buf = q;
        *cap = c;
    }
    memcpy(*buf + *len, t, n);
    *len += n;
    (*buf)[*len] = 0;
    return true;
}

/* For a segment that starts before the previous one ended: the bytes of
 * its text (n long) that repeat the end of the previous text. */
static size_t overlap_skip(const text_state *s, const char *text, size_t n, int64_t start, bool timed) {
    if (!s->have_prev || !timed || start >= s->prev_end) return 0;
    double overlap = (double)(s->prev_end - start) / HD_TIME_BASE;
    double dur = (double)(s->prev_end - s->prev_start) / HD_TIME_BASE;
    double rate = 3.0;
    int pw = hd_text_word_count(s->prev, s->prev_len);
    if (dur > 0 && pw / dur > rate) rate = pw / dur;
    return hd_text_join_skip(s->prev, s->prev_len, text, n, (int)ceil(overlap * rate * 1.5) + 1);
}

static void format_time(char *buf, size_t size, int64_t us, char sep) {
    if (us < 0) us = 0;
    int64_t ms = (us + 500) / 1000;
    snprintf(buf, size, "%02" PRId64 ":%02d:%02d%c%03d", ms / 3600000, (int)(ms / 60000 % 60), (int)(ms / 1000 % 60),
             sep, (int)(ms % 1000));
}

static int write_ids(FILE *f, const hd_packet *tok) {
    for (int64_t i = 0; i < tok->u.tokens.n; i++)
        if (fprintf(f, "%s%" PRId32, i ? " " : "", tok->u.tokens.ids[i]) < 0) return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

static bool add_ids(cJSON *o, const hd_packet *tok) {
    cJSON *a = cJSON_AddArrayToObject(o, "tokens");
    for (int64_t i = 0; a && i < tok->u.tokens.n; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(tok->u.tokens.ids[i]))) return false;
    return a != NULL;
}

/* Writes one closed segment: text[0..len) (cleaned in place, NUL after
 * it), times, and its token ids when the tokens input is linked. */
static hd_status write_text(text_state *s, char *text, size_t len, int64_t start, int64_t end, bool timed,
                            const hd_packet *tok, hd_error *err) {
    size_t n = hd_text_clean(text, len);
    if (n == 0) return HD_OK;
    if ((s->f == F_SRT || s->f == F_VTT || s->f == F_JSON || s->f == F_VJSON) && !timed)
        return hd_error_set(err, HD_ERR_ARG, "%s: text segment without a timestamp: \"%.40s\"", s->path, text);
    if (s->f != F_STDOUT) {
        size_t skip = overlap_skip(s, text, n, start, timed);
        if (skip == n) return HD_OK;   /* all of it repeated the previous segment */
        bool overlapped = s->have_prev && start < s->prev_end;
        /* the next join compares with this segment's whole text */
        s->prev_len = 0;
        if (!append(&s->prev, &s->prev_len, &s->prev_cap, text, n))
            return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        s->prev_start = start;
        if (overlapped) start = s->prev_end;   /* cues never overlap */
        if (end < start) end = start;
        s->prev_end = end;
        s->have_prev = true;
        memmove(text, text + skip, n - skip + 1);
        n -= skip;
    }
    char a[32], b[32];
    int rc = 0;
    switch (s->f) {
    case F_STDOUT: break;
    case F_TXT:
        rc = fprintf(s->out, "%s\n", text);
        if (rc >= 0 && tok) rc = write_ids(s->out, tok);
        break;
    case F_SRT:
        format_time(a, sizeof a, start, ',');
        format_time(b, sizeof b, end, ',');
        rc = fprintf(s->out, "%d\n%s --> %s\n%s\n\n", s->cues + 1, a, b, text);
        break;
    case F_VTT:
        format_time(a, sizeof a, start, '.');
        format_time(b, sizeof b, end, '.');
        rc = fprintf(s->out, "%s --> %s\n%s\n\n", a, b, text);
        break;
    case F_JSON: {
        cJSON *o = cJSON_CreateObject();
        int64_t sm = (start < 0 ? 0 : start + 500) / 1000, em = (end < 0 ? 0 : end + 500) / 1000;
        if (!o || !cJSON_AddNumberToObject(o, "start", (double)sm / 1000) ||
            !cJSON_AddNumberToObject(o, "end", (double)em / 1000) || !cJSON_AddStringToObject(o, "text", text)) {
            cJSON_Delete(o);
            return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        }
        char *txt = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!txt) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        rc = fprintf(s->out, "%s\n  %s", s->cues ? "," : "", txt);
        cJSON_free(txt);
        break;
    }
    case F_VJSON: {
        cJSON *o = cJSON_CreateObject();
        int64_t sm = (start < 0 ? 0 : start + 500) / 1000, em = (end < 0 ? 0 : end + 500) / 1000;
        if (!o || !cJSON_AddNumberToObject(o, "id", s->cues) || !cJSON_AddNumberToObject(o, "start", (double)sm / 1000) ||
            !cJSON_AddNumberToObject(o, "end", (double)em / 1000) || !cJSON_AddStringToObject(o, "text", text) ||
            (tok && !add_ids(o, tok)) || (s->all_len && !append(&s->all, &s->all_len, &s->all_cap, " ", 1)) ||
            !append(&s->all, &s->all_len, &s->all_cap, text, n)) {
            cJSON_Delete(o);
            return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        }
        if (end > s->last_end) s->last_end = end;
        char *txt = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!txt) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        rc = fprintf(s->out, "%s\n  %s", s->cues ? "," : "", txt);
        cJSON_free(txt);
        break;
    }
    }
    s->cues++;
    if (rc < 0 || fflush(s->out) != 0) return out_error(s, err);
    return HD_OK;
}

/* Writes the waiting segments that have their ids (all of them when
 * `final`: the ids of an unfinished answer never come). */
static hd_status drain(text_state *s, bool final, hd_error *err) {
    hd_status st = HD_OK;
    int k = 0;
    while (!st && k < s->n_pend && (k < s->n_ptok || final)) {
        struct pending *p = &s->pend[k];
        st = write_text(s, p->text, p->len, p->start, p->end, p->timed, k < s->n_ptok ? s->ptok[k] : NULL, err);
        free(p->text);
        k++;
    }
    int used_tok = k < s->n_ptok ? k : s->n_ptok;
    for (int i = 0; i < used_tok; i++) hd_packet_unref(s->ptok[i]);
    for (int i = k; i < s->n_pend; i++) s->pend[i - k] = s->pend[i];
    for (int i = used_tok; i < s->n_ptok; i++) s->ptok[i - used_tok] = s->ptok[i];
    s->n_pend -= k;
    s->n_ptok -= used_tok;
    return st;
}

/* Closes the open segment: written now, or queued for its ids. */
static hd_status write_segment(text_state *s, hd_error *err) {
    if (!s->open) return HD_OK;
    s->open = false;
    size_t len = s->len;
    s->len = 0;
    if (!s->want_tokens) return write_text(s, s->seg, len, s->start, s->end, s->timed, NULL, err);
    if (s->n_pend == s->cap_pend) {
        int cap = s->cap_pend ? 2 * s->cap_pend : 8;
        struct pending *q = realloc(s->pend, (size_t)cap * sizeof *q);
        if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        s->pend = q;
        s->cap_pend = cap;
    }
    struct pending *p = &s->pend[s->n_pend];
    p->text = malloc(len + 1);
    if (!p->text) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    memcpy(p->text, s->seg ? s->seg : "", len);
    p->text[len] = 0;
    p->len = len;
    p->start = s->start;
    p->end = s->end;
    p->timed = s->timed;
    s->n_pend++;
    return drain(s, false, err);
}

static hd_node_ret text_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    text_state *s = state;
    if (in->kind == HD_PKT_TOKENS && s->f != F_STDOUT) {   /* the ids of the next answer */
        if (s->n_ptok == s->cap_ptok) {
            int cap = s->cap_ptok ? 2 * s->cap_ptok : 8;
            hd_packet **q = realloc(s->ptok, (size_t)cap * sizeof *q);
            if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
            s->ptok = q;
            s->cap_ptok = cap;
        }
        s->ptok[s->n_ptok++] = hd_packet_ref(in);
        return drain(s, false, err) ? HD_NODE_ERROR : HD_NODE_OK;
    }
    if (in->kind == HD_PKT_TOKENS) {
        /* stdout only: ids on one line */
        for (int64_t i = 0; i < in->u.tokens.n; i++)
            if (fprintf(s->out, "%s%" PRId32, i ? " " : "", in->u.tokens.ids[i]) < 0) return out_error(s, err), HD_NODE_ERROR;
        if (fputc('\n', s->out) == EOF || fflush(s->out) != 0) return out_error(s, err), HD_NODE_ERROR;
        return HD_NODE_OK;
    }
    bool partial = in->flags & HD_PKT_FLAG_PARTIAL;
    if (s->f == F_STDOUT) {
        if (fwrite(in->u.text.text, 1, in->u.text.len, s->out) != in->u.text.len ||
            (!partial && fputc('\n', s->out) == EOF) || fflush(s->out) != 0)
            return out_error(s, err), HD_NODE_ERROR;
        return HD_NODE_OK;
    }
    if (!s->open) {
        s->open = true;
        s->timed = true;
        s->start = in->pts;
        s->end = in->pts;
    }
    if (in->pts == HD_PTS_NONE) s->timed = false;
    else if (in->pts + in->duration > s->end) s->end = in->pts + in->duration;
    if (s->len + in->u.text.len + 1 > s->cap) {
        size_t cap = (s->len + in->u.text.len + 1) * 2;
        char *q = realloc(s->seg, cap);
        if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
        s->seg = q;
        s->cap = cap;
    }
    memcpy(s->seg + s->len, in->u.text.text, in->u.text.len);
    s->len += in->u.text.len;
    s->seg[s->len] = 0;
    if (partial) return HD_NODE_AGAIN;
    return write_segment(s, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static hd_status text_flush(hd_node *node, void *state, hd_error *err) {
    text_state *s = state;
    hd_status st = write_segment(s, err);
    if (!st) st = drain(s, true, err);
    if (!st && s->f == F_JSON && fputs(s->cues ? "\n]}\n" : "]}\n", s->out) < 0) st = out_error(s, err);
    if (!st && s->f == F_VJSON) {
        cJSON *all = cJSON_CreateString(s->all ? s->all : "");
        char *t = all ? cJSON_PrintUnformatted(all) : NULL;
        cJSON_Delete(all);
        int64_t em = (s->last_end < 0 ? 0 : s->last_end + 500) / 1000;
        if (!t) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        else if (fprintf(s->out, "%s], \"text\": %s, \"duration\": %.3f}\n", s->cues ? "\n" : "", t, (double)em / 1000) < 0)
            st = out_error(s, err);
        cJSON_free(t);
    }
    if (s->own) {
        FILE *f = s->out;
        s->out = NULL;
        s->own = false;
        if (fclose(f) != 0 && !st) st = out_error(s, err);
    } else if (fflush(s->out) != 0 && !st) {
        st = out_error(s, err);
    }
    return st;
}

static void text_destroy(void *state) {
    text_state *s = state;
    if (!s) return;
    if (s->own && s->out) fclose(s->out);
    for (int i = 0; i < s->n_pend; i++) free(s->pend[i].text);
    free(s->pend);
    for (int i = 0; i < s->n_ptok; i++) hd_packet_unref(s->ptok[i]);
    free(s->ptok);
    free(s->seg);
    free(s->prev);
    free(s->all);
    free(s->path);
    free(s);
}

#define TEXT_CREATE(fn, f)                                                                                   \
    static hd_status fn(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {                 \
        hd_status st = text_create_fmt(f, o, state, err);                                                    \
        if (!st && (f == F_TXT || f == F_VJSON)) ((text_state *)*state)->want_tokens = hd_node_input_linked(node, 1); \
        return st;                                                                                           \
    }
TEXT_CREATE(stdout_create, F_STDOUT)
TEXT_CREATE(txt_create, F_TXT)
TEXT_CREATE(srt_create, F_SRT)
TEXT_CREATE(vtt_create, F_VTT)
TEXT_CREATE(json_create, F_JSON)
TEXT_CREATE(vjson_create, F_VJSON)

static const hd_port_def text_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT), 0}};
/* txt, verbose_json: optionally the answers' token ids (one packet per answer, in order) */
static const hd_port_def text_ids_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT), 0},
                                          {"tokens", HD_KIND_BIT(HD_PKT_TOKENS), HD_PORT_OPTIONAL}};
static const hd_port_def stdout_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT) | HD_KIND_BIT(HD_PKT_TOKENS), 0}};

static const hd_option_def txt_opts[] = {{"path", HD_OPT_STRING, NULL, "file to write, '-' for stdout", 0, 0, NULL}};
static const hd_option_def srt_opts[] = {{"path", HD_OPT_STRING, NULL, "SubRip file to write, '-' for stdout", 0, 0, NULL}};
static const hd_option_def vtt_opts[] = {{"path", HD_OPT_STRING, NULL, "WebVTT file to write, '-' for stdout", 0, 0, NULL}};
static const hd_option_def json_opts[] = {{"path", HD_OPT_STRING, NULL, "JSON file to write, '-' for stdout", 0, 0, NULL}};
static const hd_option_def vjson_opts[] = {
    {"path", HD_OPT_STRING, NULL, "JSON file to write, '-' for stdout", 0, 0, NULL},
    {"task", HD_OPT_STRING, "transcribe", "value of the \"task\" field", 0, 0, NULL},
    {"language", HD_OPT_STRING, "", "value of the \"language\" field", 0, 0, NULL},
};

#define TEXT_SINK(var, nm, sum, in, opts, n_opts, arg, cr)                                                   \
    const hd_node_type var = {                                                                               \
        .name = nm,                                                                                          \
        .summary = sum,                                                                                      \
        .inputs = in,                                                                                        \
        .n_inputs = HD_COUNTOF(in),                                                                          \
        .options = opts,                                                                                     \
        .n_options = n_opts,                                                                                 \
        .arg_option = arg,                                                                                   \
        .create = cr,                                                                                        \
        .process = text_process,                                                                             \
        .flush = text_flush,                                                                                 \
        .destroy = text_destroy,                                                                             \
    };

TEXT_SINK(hd_node_stdout, "stdout", "prints text as it arrives (token ids one packet per line)", stdout_in, NULL, 0,
          NULL, stdout_create)
TEXT_SINK(hd_node_txt, "txt", "writes text segments, one per line (and each one's ids on the next when `tokens` is linked)",
          text_ids_in, txt_opts, 1, "path", txt_create)
TEXT_SINK(hd_node_srt, "srt", "writes timed text segments as SubRip subtitles", text_in, srt_opts, 1, "path",
          srt_create)
TEXT_SINK(hd_node_vtt, "vtt", "writes timed text segments as WebVTT subtitles", text_in, vtt_opts, 1, "path",
          vtt_create)
TEXT_SINK(hd_node_json, "json", "writes timed text segments as JSON {\"segments\": [...]}", text_in, json_opts, 1,
          "path", json_create)
TEXT_SINK(hd_node_verbose_json, "verbose_json",
          "writes timed text segments as verbose JSON (task, language, segments with ids, full text, duration)",
          text_ids_in, vjson_opts, 3, "path", vjson_create)
