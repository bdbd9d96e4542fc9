/* graph/options.c — typed node options from "key=value" text. */
#include "graph_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *type_name(hd_opt_type t) {
    switch (t) {
    case HD_OPT_INT: return "integer";
    case HD_OPT_FLOAT: return "number";
    case HD_OPT_BOOL: return "boolean";
    case HD_OPT_STRING: return "string";
    }
    return "?";
}

/* Is `value` one of the '|'-separated choices? */
static bool in_choices(const char *choices, const char *value) {
    size_t vl = strlen(value);
    for (const char *c = choices; *c;) {
        const char *e = strchr(c, '|');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == vl && strncmp(c, value, l) == 0) return true;
        if (!e) break;
        c = e + 1;
    }
    return false;
}

static hd_status parse_value(const hd_node_type *t, const hd_option_def *d, const char *value, hd_opt_val *v,
                             hd_error *err) {
    char *end;
    switch (d->type) {
    case HD_OPT_INT: {
        errno = 0;
        long long x = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return hd_error_set(err, HD_ERR_ARG, "option '%s' needs an integer, got '%s'", d->name,
                                value);
        if (d->min < d->max && ((double)x < d->min || (double)x > d->max))
            return hd_error_set(err, HD_ERR_ARG, "option '%s' must be in [%.17g, %.17g], got %lld", d->name, d->min, d->max, x);
        v->i = x;
        v->f = (double)x;
        return HD_OK;
    }
    case HD_OPT_FLOAT: {
        errno = 0;
        double x = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(x))
            return hd_error_set(err, HD_ERR_ARG, "option '%s' needs a number, got '%s'", d->name,
                                value);
        if (d->min < d->max && (x < d->min || x > d->max))
            return hd_error_set(err, HD_ERR_ARG, "option '%s' must be in [%.17g, %.17g], got %g", d->name, d->min, d->max, x);
        v->f = x;
        v->i = (int64_t)x;
        return HD_OK;
    }
    case HD_OPT_BOOL:
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            v->b = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
                 !strcasecmp(value, "off"))
            v->b = false;
        else
            return hd_error_set(err, HD_ERR_ARG, "option '%s' needs true or false, got '%s'", d->name, value);
        return HD_OK;
    case HD_OPT_STRING:
        if (d->choices && !in_choices(d->choices, value))
            return hd_error_set(err, HD_ERR_ARG, "option '%s' must be one of %s, got '%s'", d->name,
                                d->choices, value);
        free(v->s);
        v->s = strdup(value);
        if (!v->s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return HD_OK;
    }
    return hd_error_set(err, HD_ERR_INTERNAL, "option '%s' has unknown type", d->name);
}

hd_status hd_opts_parse(hd_node_opts *o, const hd_node_type *t, const hd_kv *kv, int n_kv, int *bad_kv,
                        hd_error *err) {
    if (bad_kv) *bad_kv = -1;
    o->type = t;
    o->v = calloc((size_t)(t->n_options > 0 ? t->n_options : 1), sizeof *o->v);
    if (!o->v) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n_kv; k++) {
        int idx = -1;
        for (int i = 0; i < t->n_options; i++)
            if (strcmp(t->options[i].name, kv[k].key) == 0) idx = i;
        if (idx < 0) {
            if (bad_kv) *bad_kv = k;
            char list[256];
            size_t l = 0;
            list[0] = 0;
            for (int i = 0; i < t->n_options && l < sizeof list; i++)
                l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", t->options[i].name);
            if (t->n_options == 0)
                return hd_error_set(err, HD_ERR_NOTFOUND, "unknown option '%s' (it takes no options)", kv[k].key);
            return hd_error_set(err, HD_ERR_NOTFOUND, "unknown option '%s' (options: %s)", kv[k].key,
                                list);
        }
        if (o->v[idx].set) {
            if (bad_kv) *bad_kv = k;
            return hd_error_set(err, HD_ERR_ARG, "option '%s' given twice", kv[k].key);
        }
        hd_status st = parse_value(t, &t->options[idx], kv[k].value ? kv[k].value : "", &o->v[idx], err);
        if (st) {
            if (bad_kv) *bad_kv = k;
            return st;
        }
        o->v[idx].set = true;
    }
    for (int i = 0; i < t->n_options; i++) {
        if (o->v[i].set) continue;
        const hd_option_def *d = &t->options[i];
        if (!d->def) return hd_error_set(err, HD_ERR_ARG, "option '%s' is required (%s)", d->name, d->help);
        hd_status st = parse_value(t, d, d->def, &o->v[i], err);
        if (st) return hd_error_prefix(err, "default of");
    }
    return HD_OK;
}

void hd_opts_free(hd_node_opts *o) {
    if (!o->v) return;
    for (int i = 0; i < o->type->n_options; i++) free(o->v[i].s);
    free(o->v);
    o->v = NULL;
}

static const hd_opt_val *find(const hd_node_opts *o, const char *name, const hd_option_def **def) {
    for (int i = 0; o && o->v && i < o->type->n_options; i++) {
        if (strcmp(o->type->options[i].name, name) == 0) {
            if (def) *def = &o->type->options[i];
            return &o->v[i];
        }
    }
    return NULL;
}

int64_t hd_opt_int(const hd_node_opts *o, const char *name) {
    const hd_opt_val *v = find(o, name, NULL);
    return v ? v->i : 0;
}

double hd_opt_float(const hd_node_opts *o, const char *name) {
    const hd_opt_val *v = find(o, name, NULL);
    return v ? v->f : 0.0;
}

bool hd_opt_bool(const hd_node_opts *o, const char *name) {
    const hd_opt_val *v = find(o, name, NULL);
    return v ? v->b : false;
}

const char *hd_opt_str(const hd_node_opts *o, const char *name) {
    const hd_opt_val *v = find(o, name, NULL);
    return v && v->s ? v->s : "";
}

bool hd_opt_is_set(const hd_node_opts *o, const char *name) {
    const hd_opt_val *v = find(o, name, NULL);
    return v && v->set;
}

const char *hd_opt_type_name(hd_opt_type t) { return type_name(t); }
