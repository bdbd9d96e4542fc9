/* core/weights.c — one way to fetch a named tensor from GGUF or safetensors,
 * with its shape (ggml order) and type checked. */
#include "weights.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hd_weights {
    char *name;
    hd_gguf *gguf;            /* exactly one of gguf / st is set */
    hd_safetensors *st;
};

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* True when path is a regular file starting with the GGUF magic (or named .gguf). */
static bool looks_like_gguf(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    if (ends_with(path, ".gguf")) return true;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(m, "GGUF", 4) == 0;
}

hd_weights *hd_weights_open(const char *path, hd_error *err) {
    if (!path) {
        hd_error_set(err, HD_ERR_ARG, "weights: no path");
        return NULL;
    }
    hd_weights *w = calloc(1, sizeof *w);
    size_t n = strlen(path) + 1;
    if (w) w->name = malloc(n);
    if (!w || !w->name) {
        free(w);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(w->name, path, n);
    if (looks_like_gguf(path)) w->gguf = hd_gguf_open(path, err);
    else w->st = hd_safetensors_open(path, err);
    if (!w->gguf && !w->st) {
        hd_weights_close(w);
        return NULL;
    }
    return w;
}

void hd_weights_close(hd_weights *w) {
    if (!w) return;
    hd_gguf_close(w->gguf);
    hd_safetensors_close(w->st);
    free(w->name);
    free(w);
}

const char *hd_weights_name(const hd_weights *w) { return w->name; }
const hd_gguf *hd_weights_gguf(const hd_weights *w) { return w->gguf; }
const hd_safetensors *hd_weights_safetensors(const hd_weights *w) { return w->st; }

bool hd_weights_has(const hd_weights *w, const char *name) {
    return w->gguf ? hd_gguf_find_tensor(w->gguf, name) >= 0 : hd_safetensors_find(w->st, name) >= 0;
}

#define MAXD HD_ST_MAX_DIMS

static void shape_str(char *buf, size_t size, int n, const int64_t *ne) {
    size_t off = 0;
    off += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%" PRId64, i ? ", " : "", ne[i]);
    if (off < size) snprintf(buf + off, size - off, "]");
}

static void types_str(char *buf, size_t size, uint64_t mask) {
    size_t off = 0;
    int k = 0;
    buf[0] = 0;
    for (int t = 0; t < 64 && off < size; t++) {
        if (!(mask & (1ull << t))) continue;
        off += (size_t)snprintf(buf + off, size - off, "%s%s", k++ ? ", " : "", hd_gguf_type_name(t));
    }
}

static int popcount64(uint64_t m) {
    int n = 0;
    for (; m; m &= m - 1) n++;
    return n;
}

hd_status hd_weights_get(const hd_weights *w, const char *name, int n_dims, const int64_t *ne, uint64_t types_mask,
                         hd_tensor *out, hd_error *err) {
    if (!w || !name || n_dims < 1 || n_dims > HD_MAX_DIMS || !ne)
        return hd_error_set(err, HD_ERR_ARG, "%s: bad request for tensor %s", w ? w->name : "weights", name ? name : "?");
    /* the tensor's shape in ggml order and its type */
    int64_t have[MAXD];
    int have_n;
    int type;              /* ggml type id, or -1 for a safetensors dtype herd cannot use */
    const char *type_name;
    int64_t gi = -1, si = -1;
    if (w->gguf) {
        gi = hd_gguf_find_tensor(w->gguf, name);
        if (gi < 0) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: tensor %s is missing", w->name, name);
        const hd_gguf_tensor_info *ti = hd_gguf_tensor(w->gguf, gi);
        have_n = ti->n_dims;
        for (int d = 0; d < have_n; d++) have[d] = ti->ne[d];
        type = (int)ti->type;
        type_name = hd_gguf_type_name(type);
    } else {
        si = hd_safetensors_find(w->st, name);
        if (si < 0) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: tensor %s is missing", w->name, name);
        const hd_st_tensor *t = hd_safetensors_tensor(w->st, si);
        have_n = t->n_dims;
        for (int d = 0; d < have_n; d++) have[d] = t->shape[have_n - 1 - d];
        type = t->hd_type;
        type_name = t->dtype;
    }
    /* shapes match when equal after padding both with trailing 1s */
    bool same = true;
    for (int d = 0; d < MAXD; d++) {
        int64_t a = d < have_n ? have[d] : 1, b = d < n_dims ? ne[d] : 1;
        if (a != b) same = false;
    }
    if (!same) {
        char hs[256], es[256];
        shape_str(hs, sizeof hs, have_n, have);
        shape_str(es, sizeof es, n_dims, ne);
        return hd_error_set(err, HD_ERR_SHAPE, "%s: tensor %s has shape %s, expected %s", w->name, name, hs, es);
    }
    bool usable = type >= 0 && hd_type_valid(type);
    if (types_mask) {
        if (type < 0 || type >= 64 || !(types_mask & (1ull << type))) {
            char ts[256];
            types_str(ts, sizeof ts, types_mask);
            return hd_error_set(err, HD_ERR_SHAPE, "%s: tensor %s has type %s, expected %s%s", w->name, name, type_name,
                                popcount64(types_mask) > 1 ? "one of " : "", ts);
        }
        if (!usable)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s has type %s, which herd cannot compute with",
                                w->name, name, type_name);
    } else if (!usable) {
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s has type %s, which herd cannot compute with", w->name,
                            name, type_name);
    }
    if (out) {
        if (w->gguf) {
            *out = hd_gguf_tensor_view(w->gguf, gi);
        } else {
            hd_status st = hd_safetensors_view(w->st, si, out, err);
            if (st != HD_OK) return st;
        }
        for (int d = n_dims; d < HD_MAX_DIMS; d++) out->ne[d] = 1;
        for (int d = 0; d < n_dims; d++) out->ne[d] = ne[d];
        out->n_dims = n_dims;
        for (int d = 2; d < HD_MAX_DIMS; d++) out->nb[d] = out->nb[d - 1] * (size_t)out->ne[d - 1];
    }
    return HD_OK;
}

/* ---- loading a model's tensors one after another ------------------------- */

void hd_weights_load3(hd_weights_loader *L, hd_tensor *out, uint64_t types, int n, int64_t d0, int64_t d1, int64_t d2,
                      const char *fmt, int index) {
    if (L->st) return;
    if (n < 1 || n > 3) {
        L->st = hd_error_set(L->err, HD_ERR_ARG, "weights: %d dimensions requested for '%s'", n, fmt);
        return;
    }
    char name[128];
    snprintf(name, sizeof name, fmt, index);
    const int64_t dims[3] = {d0, d1, d2};
    int64_t ne[3];
    for (int i = 0; i < n; i++) ne[i] = dims[n - 1 - i];   /* ggml order: innermost first */
    L->st = hd_weights_get(L->w, name, n, ne, types, out, L->err);
}

void hd_weights_load(hd_weights_loader *L, hd_tensor *out, uint64_t types, int64_t d0, int64_t d1, const char *fmt,
                     int index) {
    hd_weights_load3(L, out, types, d1 > 0 ? 2 : 1, d0, d1, 0, fmt, index);
}
