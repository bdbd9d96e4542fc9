/* graph/registry.c — node type table and the list of built-in types. */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

/* Built-in types, defined in graph/nodes_*.c. */
extern const hd_node_type hd_node_file;
extern const hd_node_type hd_node_raw;
extern const hd_node_type hd_node_sine;
extern const hd_node_type hd_node_resample;
extern const hd_node_type hd_node_wav;
extern const hd_node_type hd_node_tee;
extern const hd_node_type hd_node_mix;
extern const hd_node_type hd_node_image;
extern const hd_node_type hd_node_video;
extern const hd_node_type hd_node_ppm;
extern const hd_node_type hd_node_text;
extern const hd_node_type hd_node_pcm;
extern const hd_node_type hd_node_vagg;
extern const hd_node_type hd_node_tokenize;
extern const hd_node_type hd_node_detokenize;
extern const hd_node_type hd_node_null;
extern const hd_node_type hd_node_stdout;
extern const hd_node_type hd_node_txt;
extern const hd_node_type hd_node_srt;
extern const hd_node_type hd_node_vtt;
extern const hd_node_type hd_node_json;
extern const hd_node_type hd_node_mel;
extern const hd_node_type hd_node_segment;
extern const hd_node_type hd_node_verbose_json;
extern const hd_node_type hd_node_vit;
extern const hd_node_type hd_node_conformer;
extern const hd_node_type hd_node_speech_adapter;
extern const hd_node_type hd_node_audio_encoder;
extern const hd_node_type hd_node_llama;
extern const hd_node_type hd_node_concat;
extern const hd_node_type hd_node_tts;

typedef struct entry {
    char *name;
    const hd_node_type *type;
    bool alias;
} entry;

struct hd_registry {
    entry *e;
    int n, cap;
};

hd_registry *hd_registry_create(hd_error *err) {
    hd_registry *r = calloc(1, sizeof *r);
    if (!r) hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    return r;
}

void hd_registry_free(hd_registry *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) free(r->e[i].name);
    free(r->e);
    free(r);
}

static hd_status put(hd_registry *r, const char *name, const hd_node_type *t, bool alias, hd_error *err) {
    if (hd_registry_find(r, name)) return hd_error_set(err, HD_ERR_ARG, "node type '%s' is registered twice", name);
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 32;
        entry *e = realloc(r->e, (size_t)cap * sizeof *e);
        if (!e) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        r->e = e;
        r->cap = cap;
    }
    r->e[r->n].name = strdup(name);
    if (!r->e[r->n].name) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    r->e[r->n].type = t;
    r->e[r->n].alias = alias;
    r->n++;
    return HD_OK;
}

hd_status hd_registry_add(hd_registry *r, const hd_node_type *t, hd_error *err) {
    if (!t || !t->name || !t->process) return hd_error_set(err, HD_ERR_ARG, "registry: incomplete node type");
    return put(r, t->name, t, false, err);
}

hd_status hd_registry_alias(hd_registry *r, const char *alias, const char *name, hd_error *err) {
    const hd_node_type *t = hd_registry_find(r, name);
    if (!t) return hd_error_set(err, HD_ERR_NOTFOUND, "registry: no node type '%s' to alias as '%s'", name, alias);
    return put(r, alias, t, true, err);
}

hd_status hd_registry_add_builtins(hd_registry *r, hd_error *err) {
    static const hd_node_type *const builtins[] = {
        &hd_node_file, &hd_node_raw,  &hd_node_sine,   &hd_node_resample, &hd_node_mix, &hd_node_tee, &hd_node_wav,
        &hd_node_null, &hd_node_stdout, &hd_node_txt, &hd_node_srt,      &hd_node_vtt, &hd_node_json,
        &hd_node_image, &hd_node_video, &hd_node_ppm, &hd_node_text, &hd_node_tokenize, &hd_node_detokenize,
        &hd_node_mel, &hd_node_segment, &hd_node_verbose_json,
        &hd_node_vit, &hd_node_conformer, &hd_node_speech_adapter, &hd_node_audio_encoder, &hd_node_llama,
        &hd_node_concat, &hd_node_tts, &hd_node_pcm, &hd_node_vagg,
    };
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        hd_status st = hd_registry_add(r, builtins[i], err);
        if (st) return st;
    }
    return hd_registry_alias(r, "tone", "sine", err);
}

const hd_node_type *hd_registry_find(const hd_registry *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].name, name) == 0) return r->e[i].type;
    return NULL;
}

int hd_registry_count(const hd_registry *r) {
    int c = 0;
    for (int i = 0; i < r->n; i++) c += !r->e[i].alias;
    return c;
}

const hd_node_type *hd_registry_at(const hd_registry *r, int idx) {
    for (int i = 0; i < r->n; i++)
        if (!r->e[i].alias && idx-- == 0) return r->e[i].type;
    return NULL;
}

const char *hd_registry_aliases(const hd_registry *r, const hd_node_type *t, char *buf, size_t size) {
    size_t o = 0;
    if (size) buf[0] = 0;
    for (int i = 0; i < r->n && o < size; i++)
        if (r->e[i].alias && r->e[i].type == t)
            o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", r->e[i].name);
    return buf;
}

/* Levenshtein distance, capped (names are short). */
static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *hd_registry_suggest(const hd_registry *r, const char *name) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < r->n; i++) {
        int d = distance(name, r->e[i].name);
        if (d < bd) {
            bd = d;
            best = r->e[i].name;
        }
    }
    return best;
}

static void print_ports(FILE *out, const char *label, const hd_port_def *p, int n) {
    if (!n) return;
    fprintf(out, "    %s:", label);
    for (int i = 0; i < n; i++) {
        char k[96];
        if (p[i].flags & HD_PORT_SAME_AS_INPUT) snprintf(k, sizeof k, "same as input");
        else hd_kinds_text(p[i].kinds & HD_KINDS_DATA, k, sizeof k);
        fprintf(out, "%s %s (%s%s)", i ? "," : "", p[i].name, k, (p[i].flags & HD_PORT_OPTIONAL) ? ", optional" : "");
    }
    fputc('\n', out);
}

void hd_registry_print(const hd_registry *r, FILE *out) {
    for (int i = 0; i < hd_registry_count(r); i++) {
        const hd_node_type *t = hd_registry_at(r, i);
        char al[128];
        hd_registry_aliases(r, t, al, sizeof al);
        const char *role = t->n_inputs == 0 ? "source" : t->n_outputs == 0 ? "sink" : "filter";
        fprintf(out, "%s%s%s%s  [%s%s]\n    %s\n", t->name, al[0] ? " (alias: " : "", al, al[0] ? ")" : "", role,
                (t->flags & HD_NODE_HEAVY) ? ", heavy" : "", t->summary ? t->summary : "");
        print_ports(out, "inputs", t->inputs, t->n_inputs);
        print_ports(out, "outputs", t->outputs, t->n_outputs);
        if (t->arg_option) fprintf(out, "    shorthand: %s:VALUE sets %s\n", t->name, t->arg_option);
        for (int k = 0; k < t->n_options; k++) {
            const hd_option_def *o = &t->options[k];
            fprintf(out, "    %s=<%s>", o->name, o->choices ? o->choices : hd_opt_type_name(o->type));
            if (o->def) fprintf(out, " (default %s)", o->def[0] ? o->def : "\"\"");
            else fprintf(out, " (required)");
            fprintf(out, "  %s\n", o->help ? o->help : "");
        }
    }
}
