/* speech/granite_weights.c — tensor fetching for the Granite Speech encoder
 * and projector (see granite_weights.h). */
#include "speech/granite_weights.h"

#include "core/exec.h"
#include "core/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hd_gw_init(hd_gw *g, const hd_weights *w, const char *prefix, hd_error *err) {
    *g = (hd_gw){.w = w, .prefix = prefix ? prefix : "", .err = err, .st = HD_OK};
}

void hd_gw_release(hd_gw *g) {
    if (!g) return;
    for (int i = 0; i < g->n_owned; i++) free(g->owned[i]);
    free(g->owned);
    g->owned = NULL, g->n_owned = g->cap_owned = 0;
}

static void *own(hd_gw *g, size_t bytes, const char *name) {
    if (g->n_owned == g->cap_owned) {
        int nc = g->cap_owned ? 2 * g->cap_owned : 64;
        void **n = realloc(g->owned, (size_t)nc * sizeof *n);
        if (!n) goto nomem;
        g->owned = n, g->cap_owned = nc;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (!p) goto nomem;
    g->owned[g->n_owned++] = p;
    return p;
nomem:
    g->st = hd_error_set(g->err, HD_ERR_NOMEM, "%s: out of memory for %s", hd_weights_name(g->w), name);
    return NULL;
}

/* Fetches the tensor; returns false (g->st set) on failure. */
static bool fetch(hd_gw *g, hd_tensor *out, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt, int idx,
                  char *name, size_t name_size) {
    if (g->st) return false;
    if (n < 1 || n > 3) {
        g->st = hd_error_set(g->err, HD_ERR_ARG, "granite weights: %d dimensions requested for '%s'", n, fmt);
        return false;
    }
    char tail[160];
    snprintf(tail, sizeof tail, fmt, idx);
    if ((size_t)snprintf(name, name_size, "%s%s", g->prefix, tail) >= name_size) {
        g->st = hd_error_set(g->err, HD_ERR_ARG, "%s: tensor name %s%s is too long", hd_weights_name(g->w), g->prefix,
                             tail);
        return false;
    }
    const int64_t dims[3] = {d0, d1, d2};
    int64_t ne[3];
    for (int i = 0; i < n; i++) ne[i] = dims[n - 1 - i];   /* ggml order: innermost first */
    g->st = hd_weights_get(g->w, name, n, ne, HD_TYPES_ANY, out, g->err);
    return g->st == HD_OK;
}

void hd_gw_mat(hd_gw *g, hd_tensor *out, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt, int idx) {
    char name[256];
    if (!fetch(g, out, n, d0, d1, d2, fmt, idx, name, sizeof name)) return;
    if ((uintptr_t)out->data % 4 == 0) return;
    const size_t bytes = hd_tensor_nbytes(out);
    void *d = own(g, bytes, name);
    if (!d) return;
    memcpy(d, out->data, bytes);
    out->data = d;
}

void hd_gw_f32(hd_gw *g, hd_tensor *out, int n, int64_t d0, int64_t d1, int64_t d2, const char *fmt, int idx) {
    char name[256];
    hd_tensor t;
    if (!fetch(g, &t, n, d0, d1, d2, fmt, idx, name, sizeof name)) return;
    if (t.type == HD_TYPE_F32 && (uintptr_t)t.data % 4 == 0) {
        *out = t;
        return;
    }
    float *d = own(g, (size_t)hd_tensor_nelements(&t) * sizeof *d, name);
    if (!d) return;
    const void *src = t.data;
    if ((uintptr_t)src % 4 != 0) {   /* the conversion kernels read aligned words too */
        void *a = own(g, hd_tensor_nbytes(&t), name);
        if (!a) return;
        memcpy(a, src, hd_tensor_nbytes(&t));
        t.data = a;
    }
    hd_tensor f = hd_tensor_view(HD_TYPE_F32, t.n_dims, t.ne, d);
    f.name = t.name;
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = NULL, .scratch = NULL};
    if ((g->st = hd_op_convert(&ex, &f, &t, g->err))) return;
    *out = f;
}

/* ---- config.json ---------------------------------------------------------- */

cJSON *hd_gw_json_parse(const char *json, size_t len, const char *file, hd_error *err) {
    cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", file);
        return NULL;
    }
    return root;
}

hd_status hd_gw_json_int(const cJSON *o, const char *key, int lo, int hi, int *out, const char *file, hd_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return HD_OK;
    const double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!(v == floor(v)) || v < (double)lo || v > (double)hi)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" must be an integer in [%d, %d]", file, key, lo, hi);
    *out = (int)v;
    return HD_OK;
}

hd_status hd_gw_json_float(const cJSON *o, const char *key, float *out, const char *file, hd_error *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return HD_OK;
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || fabs(j->valuedouble) > 3e38)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key \"%s\" must be a finite number", file, key);
    *out = (float)j->valuedouble;
    return HD_OK;
}
