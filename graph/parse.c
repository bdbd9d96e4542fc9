/* graph/parse.c — pipeline descriptions to graphs (syntax in parse.h).
 *
 * Two passes: the lexer cuts the text into words, '!' and ';' (resolving
 * quotes and remembering where each word and its '=' / ':' / '.' are); the
 * parser groups words into elements and links; then the graph is built:
 * all nodes first (so refs may point forward), then every link in order.
 */
#include "parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_WORD, T_BANG, T_SEMI };

typedef struct tok {
    int kind;
    int pos;          /* byte offset of the token in the description          */
    char *text;       /* WORD: unquoted text (owned)                           */
    int eq;           /* index in text of the first unquoted '=', or -1        */
    int colon;        /* first unquoted ':', or -1                             */
    int dot;          /* first unquoted '.', or -1                             */
    int val_pos;      /* byte offset in the description after '=' or ':'      */
} tok;

typedef struct elem {
    bool ref;
    int pos;
    const hd_node_type *type;  /* node */
    char *name;                /* node: explicit name or NULL; ref: the name (owned) */
    char *port;                /* ref: port or NULL (owned)                           */
    hd_kv *kv;                 /* node options (strings point into tokens)             */
    int *kv_pos;
    int n_kv, cap_kv;
    int node;                  /* graph index once built */
} elem;

typedef struct link {
    int a, b;     /* element indices */
    int pos;      /* the '!' */
} link;

typedef struct parser {
    const char *desc;
    tok *t;
    int nt, cap_t;
    elem *e;
    int ne, cap_e;
    link *l;
    int nl, cap_l;
    int err_pos;
} parser;

static hd_status perr(parser *p, hd_error *err, int pos, hd_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Column (1-based, in UTF-8 characters) of byte offset pos. */
static int column(const char *s, int pos) {
    int c = 1;
    for (int i = 0; i < pos && s[i]; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) c++;
    return c;
}

static hd_status perr(parser *p, hd_error *err, int pos, hd_status code, const char *fmt, ...) {
    char msg[HD_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->err_pos = pos;
    if (pos >= 0) return hd_error_set(err, code, "column %d: %s", column(p->desc, pos), msg);
    return hd_error_set(err, code, "%s", msg);
}

static bool grow(void **a, int *cap, int n, size_t sz) {
    if (n < *cap) return true;
    int nc = *cap ? 2 * *cap : 16;
    void *q = realloc(*a, (size_t)nc * sz);
    if (!q) return false;
    *a = q;
    *cap = nc;
    return true;
}

/* ---- lexer ------------------------------------------------------------------ */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static hd_status lex(parser *p, hd_error *err) {
    const char *s = p->desc;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n) {
        if (is_space(s[i])) {
            i++;
            continue;
        }
        if (!grow((void **)&p->t, &p->cap_t, p->nt, sizeof *p->t)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        tok *t = &p->t[p->nt];
        memset(t, 0, sizeof *t);
        t->pos = (int)i;
        t->eq = t->colon = t->dot = -1;
        t->val_pos = -1;
        if (s[i] == '!' || s[i] == ';') {
            t->kind = s[i] == '!' ? T_BANG : T_SEMI;
            p->nt++;
            i++;
            continue;
        }
        t->kind = T_WORD;
        /* the unquoted text is never longer than the source span */
        char *out = malloc(n - i + 1);
        if (!out) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        t->text = out;
        p->nt++;
        size_t o = 0;
        while (i < n && !is_space(s[i]) && s[i] != '!' && s[i] != ';') {
            char c = s[i];
            if (c == '"' || c == '\'') {
                size_t q0 = i++;
                for (;;) {
                    if (i >= n) return perr(p, err, (int)q0, HD_ERR_FORMAT, "unterminated %c quote", c);
                    if (s[i] == c) {
                        i++;
                        break;
                    }
                    if (c == '"' && s[i] == '\\') {
                        if (i + 1 >= n) return perr(p, err, (int)q0, HD_ERR_FORMAT, "unterminated \" quote");
                        char e = s[i + 1];
                        if (e == 'n') out[o++] = '\n';
                        else if (e == 't') out[o++] = '\t';
                        else if (e == '"' || e == '\\') out[o++] = e;
                        else return perr(p, err, (int)i, HD_ERR_FORMAT, "unknown escape '\\%c' in quotes", e);
                        i += 2;
                        continue;
                    }
                    out[o++] = s[i++];
                }
                continue;
            }
            if (c == '=' && t->eq < 0) {
                t->eq = (int)o;
                t->val_pos = (int)i + 1;
            } else if (c == ':' && t->colon < 0 && t->eq < 0) {
                t->colon = (int)o;
                t->val_pos = (int)i + 1;
            } else if (c == '.' && t->dot < 0 && t->eq < 0 && t->colon < 0) {
                t->dot = (int)o;
            }
            out[o++] = c;
            i++;
        }
        out[o] = 0;
    }
    return HD_OK;
}

/* ---- parser ------------------------------------------------------------------ */

static bool ident(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static hd_status add_kv(elem *e, const char *key, const char *value, int pos, hd_error *err) {
    if (!grow((void **)&e->kv, &e->cap_kv, e->n_kv, sizeof *e->kv)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    /* kv_pos grows alongside kv */
    int *kp = realloc(e->kv_pos, (size_t)e->cap_kv * sizeof *kp);
    if (!kp) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    e->kv_pos = kp;
    e->kv[e->n_kv].key = key;
    e->kv[e->n_kv].value = value;
    e->kv_pos[e->n_kv] = pos;
    e->n_kv++;
    return HD_OK;
}

static hd_status new_elem(parser *p, const hd_registry *reg, tok *t, hd_error *err) {
    if (!grow((void **)&p->e, &p->cap_e, p->ne, sizeof *p->e)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    elem *e = &p->e[p->ne];
    memset(e, 0, sizeof *e);
    e->pos = t->pos;
    e->node = -1;
    char *w = t->text;
    if (t->dot >= 0 && t->colon < 0) {
        /* NAME.[PORT] */
        e->ref = true;
        w[t->dot] = 0;
        const char *port = w + t->dot + 1;
        if (!ident(w, strlen(w)))
            return perr(p, err, t->pos, HD_ERR_FORMAT, "bad element reference '%s.%s' (expected NAME. or NAME.PORT)", w,
                        port);
        if (*port && !ident(port, strlen(port)))
            return perr(p, err, t->pos, HD_ERR_FORMAT, "bad port name '%s' in reference to '%s'", port, w);
        e->name = strdup(w);
        e->port = *port ? strdup(port) : NULL;
        if (!e->name || (*port && !e->port)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        p->ne++;
        return HD_OK;
    }
    if (t->colon >= 0) w[t->colon] = 0;
    if (!ident(w, strlen(w))) {
        if (!*w) return perr(p, err, t->pos, HD_ERR_FORMAT, "missing node type before ':'");
        return perr(p, err, t->pos, HD_ERR_FORMAT, "'%s' is not a node type name", w);
    }
    e->type = hd_registry_find(reg, w);
    if (!e->type) {
        const char *sug = hd_registry_suggest(reg, w);
        if (sug)
            return perr(p, err, t->pos, HD_ERR_NOTFOUND, "unknown node type '%s' (did you mean '%s'?)", w, sug);
        return perr(p, err, t->pos, HD_ERR_NOTFOUND, "unknown node type '%s' (see 'herd run --list')", w);
    }
    p->ne++;
    if (t->colon >= 0) {
        if (!e->type->arg_option)
            return perr(p, err, t->pos, HD_ERR_ARG, "node type '%s' has no '%s:VALUE' shorthand", w, w);
        return add_kv(e, e->type->arg_option, w + t->colon + 1, t->val_pos, err);
    }
    return HD_OK;
}

static hd_status parse(parser *p, const hd_registry *reg, hd_error *err) {
    int cur = -1;          /* element that options attach to / links start from */
    int bang = -1;         /* position of a '!' waiting for its right side       */
    for (int k = 0; k < p->nt; k++) {
        tok *t = &p->t[k];
        if (t->kind == T_BANG) {
            if (bang >= 0) return perr(p, err, t->pos, HD_ERR_FORMAT, "expected an element between '!' and '!'");
            if (cur < 0) return perr(p, err, t->pos, HD_ERR_FORMAT, "'!' needs an element before it");
            bang = t->pos;
            continue;
        }
        if (t->kind == T_SEMI) {
            if (bang >= 0) return perr(p, err, bang, HD_ERR_FORMAT, "expected an element after '!'");
            cur = -1;
            continue;
        }
        if (t->eq >= 0) {
            /* KEY=VALUE */
            if (bang >= 0)
                return perr(p, err, t->pos, HD_ERR_FORMAT, "expected an element after '!', found option '%s'", t->text);
            if (cur < 0) return perr(p, err, t->pos, HD_ERR_FORMAT, "option '%s' does not follow an element", t->text);
            elem *e = &p->e[cur];
            t->text[t->eq] = 0;
            const char *key = t->text, *val = t->text + t->eq + 1;
            if (e->ref)
                return perr(p, err, t->pos, HD_ERR_FORMAT, "option '%s' given to the reference '%s.': set it where '%s' is defined",
                            key, e->name, e->name);
            if (!ident(key, strlen(key))) return perr(p, err, t->pos, HD_ERR_FORMAT, "bad option name '%s'", key);
            if (strcmp(key, "name") == 0) {
                if (e->name) return perr(p, err, t->pos, HD_ERR_ARG, "option 'name' given twice");
                if (!ident(val, strlen(val)) || strlen(val) >= 64)
                    return perr(p, err, t->val_pos, HD_ERR_ARG,
                                "bad node name '%s' (letters, digits, '_' and '-', at most 63)", val);
                e->name = strdup(val);
                if (!e->name) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
                continue;
            }
            hd_status st = add_kv(e, key, val, t->pos, err);
            if (st) return st;
            continue;
        }
        /* an element */
        hd_status st = new_elem(p, reg, t, err);
        if (st) return st;
        int idx = p->ne - 1;
        if (bang >= 0) {
            if (!grow((void **)&p->l, &p->cap_l, p->nl, sizeof *p->l)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
            p->l[p->nl].a = cur;
            p->l[p->nl].b = idx;
            p->l[p->nl].pos = bang;
            p->nl++;
            bang = -1;
        }
        cur = idx;
    }
    if (bang >= 0) return perr(p, err, bang, HD_ERR_FORMAT, "expected an element after '!'");
    if (p->ne == 0) return perr(p, err, -1, HD_ERR_ARG, "empty pipeline description");
    return HD_OK;
}

/* ---- building -------------------------------------------------------------------- */

static hd_status build(parser *p, hd_graph *g, hd_error *err) {
    for (int i = 0; i < p->ne; i++) {
        elem *e = &p->e[i];
        if (e->ref) continue;
        int bad = -1;
        hd_error e2;
        hd_error_clear(&e2);
        e->node = hd_graph_add(g, e->type, e->name, e->kv, e->n_kv, &bad, &e2);
        if (e->node < 0) return perr(p, err, bad >= 0 ? e->kv_pos[bad] : e->pos, e2.code, "%s", e2.msg);
    }
    for (int i = 0; i < p->ne; i++) {
        elem *e = &p->e[i];
        if (!e->ref) continue;
        e->node = hd_graph_find(g, e->name);
        if (e->node < 0) return perr(p, err, e->pos, HD_ERR_NOTFOUND, "no element named '%s'", e->name);
    }
    for (int i = 0; i < p->nl; i++) {
        elem *a = &p->e[p->l[i].a], *b = &p->e[p->l[i].b];
        hd_error e2;
        hd_error_clear(&e2);
        hd_status st = hd_graph_link(g, a->node, a->ref ? a->port : NULL, b->node, b->ref ? b->port : NULL, &e2);
        if (st) return perr(p, err, p->l[i].pos, st, "%s", e2.msg);
    }
    return HD_OK;
}

hd_status hd_pipeline_build(const char *desc, const hd_registry *reg, hd_graph *g, int *err_offset, hd_error *err) {
    parser p;
    memset(&p, 0, sizeof p);
    p.desc = desc;
    p.err_pos = -1;
    hd_status st;
    if (!desc) st = perr(&p, err, -1, HD_ERR_ARG, "no pipeline description");
    else if (strlen(desc) > HD_PIPELINE_MAX_LEN)
        st = perr(&p, err, -1, HD_ERR_ARG, "pipeline description longer than %d bytes", HD_PIPELINE_MAX_LEN);
    else {
        st = lex(&p, err);
        if (!st) st = parse(&p, reg, err);
        if (!st) st = build(&p, g, err);
    }
    if (err_offset) *err_offset = st ? p.err_pos : -1;
    for (int i = 0; i < p.nt; i++) free(p.t[i].text);
    for (int i = 0; i < p.ne; i++) {
        free(p.e[i].name);
        free(p.e[i].port);
        free(p.e[i].kv);
        free(p.e[i].kv_pos);
    }
    free(p.t);
    free(p.e);
    free(p.l);
    return st;
}

const char *hd_pipeline_caret(const char *desc, int offset, char *buf, size_t size) {
    if (!size) return buf;
    size_t o = 0, n = strlen(desc);
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        unsigned char c = (unsigned char)desc[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    if (o + 1 < size) buf[o++] = '\n';
    int col = offset >= 0 ? column(desc, offset) : 1;
    for (int i = 1; i < col && o + 1 < size; i++) buf[o++] = ' ';
    if (o + 1 < size) buf[o++] = '^';
    buf[o] = 0;
    return buf;
}
