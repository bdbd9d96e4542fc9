/* apps/cmd_info.c — `herd info FILE`: what is in a GGUF or safetensors model.
 *
 * Text: a header line, the metadata (key, type, value; long arrays and long
 * strings summarised), the tensor table (name, type, shape, bytes, offset) and
 * totals.  --json: the same as one JSON object on stdout.
 */
#include "cli.h"

#include "core/gguf.h"
#include "core/safetensors.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ARRAY_SHOW 8          /* arrays up to this length are printed whole      */
#define ARRAY_HEAD 4          /* longer ones show this many leading elements     */
#define TEXT_MAX 72           /* string values are cut here in text output      */
#define JSON_ARRAY_FULL 64    /* --json: arrays up to this length are complete   */

/* ---- text helpers ---------------------------------------------------------- */

/* Appends s (len bytes) to out with control bytes escaped, at most max output
 * characters; returns true when cut. */
static bool put_escaped(FILE *out, const char *s, size_t len, size_t max) {
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '\n') strcpy(e, "\\n");
        else if (c == '\t') strcpy(e, "\\t");
        else if (c == '\r') strcpy(e, "\\r");
        else if (c < 0x20 || c == 0x7f) snprintf(e, sizeof e, "\\x%02x", c);
        else {
            e[0] = (char)c;
            e[1] = 0;
        }
        size_t el = strlen(e);
        /* cut only at a UTF-8 character start */
        if (w + el > max && (c & 0xc0) != 0x80) {
            fputs("...", out);
            return true;
        }
        fputs(e, out);
        w += el;
    }
    return false;
}

/* A name from the file for a terminal: control bytes become '?'. */
static const char *clean(const char *s, char *buf, size_t n) {
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    buf[i] = 0;
    return buf;
}

static void fmt_bytes(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (1ull << 30));
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", (double)b / (1ull << 20));
    else if (b >= 1024) snprintf(buf, n, "%.2f KiB", (double)b / 1024);
    else snprintf(buf, n, "%" PRIu64 " B", b);
}

static void shape_text(char *buf, size_t n, int nd, const int64_t *d) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? ", " : "", d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* An integer-valued GGUF element printed exactly, or a float. */
static void gguf_num_text(char *buf, size_t n, hd_gguf_vtype t, const void *p) {
    const unsigned char *b = p;
    uint64_t u = 0;
    switch (t) {
    case HD_GGUF_UINT8: snprintf(buf, n, "%u", b[0]); return;
    case HD_GGUF_INT8: snprintf(buf, n, "%d", (int8_t)b[0]); return;
    case HD_GGUF_BOOL: snprintf(buf, n, "%s", b[0] ? "true" : "false"); return;
    default: break;
    }
    size_t sz = (t == HD_GGUF_UINT16 || t == HD_GGUF_INT16) ? 2 : (t == HD_GGUF_UINT64 || t == HD_GGUF_INT64 || t == HD_GGUF_FLOAT64) ? 8 : 4;
    for (size_t i = 0; i < sz; i++) u |= (uint64_t)b[i] << (8 * i);
    switch (t) {
    case HD_GGUF_UINT16: case HD_GGUF_UINT32: case HD_GGUF_UINT64: snprintf(buf, n, "%" PRIu64, u); return;
    case HD_GGUF_INT16: snprintf(buf, n, "%d", (int16_t)u); return;
    case HD_GGUF_INT32: snprintf(buf, n, "%" PRId32, (int32_t)u); return;
    case HD_GGUF_INT64: snprintf(buf, n, "%" PRId64, (int64_t)u); return;
    case HD_GGUF_FLOAT32: {
        uint32_t v = (uint32_t)u;
        float f;
        memcpy(&f, &v, 4);
        snprintf(buf, n, "%.9g", f);
        return;
    }
    case HD_GGUF_FLOAT64: {
        double d;
        memcpy(&d, &u, 8);
        snprintf(buf, n, "%.17g", d);
        return;
    }
    default: snprintf(buf, n, "?"); return;
    }
}

static size_t vsize(hd_gguf_vtype t) {
    switch (t) {
    case HD_GGUF_UINT8: case HD_GGUF_INT8: case HD_GGUF_BOOL: return 1;
    case HD_GGUF_UINT16: case HD_GGUF_INT16: return 2;
    case HD_GGUF_UINT32: case HD_GGUF_INT32: case HD_GGUF_FLOAT32: return 4;
    default: return 8;
    }
}

/* Elements [0, n) of array kv i, comma separated. */
static void gguf_array_text(FILE *out, const hd_gguf *g, int64_t i, hd_gguf_vtype et, uint64_t n) {
    const unsigned char *data = hd_gguf_arr_data(g, i);
    for (uint64_t j = 0; j < n; j++) {
        if (j) fputs(", ", out);
        if (et == HD_GGUF_STRING) {
            const char *s;
            size_t len;
            hd_gguf_arr_str(g, i, j, &s, &len);
            put_escaped(out, s, len, 40);
        } else {
            char b[40];
            gguf_num_text(b, sizeof b, et, data + j * vsize(et));
            fputs(b, out);
        }
    }
}

static int info_gguf_text(const hd_gguf *g) {
    int64_t nkv = hd_gguf_n_kv(g), nt = hd_gguf_n_tensors(g);
    char sz[32];
    fmt_bytes(sz, sizeof sz, hd_gguf_file_size(g));
    printf("%s: GGUF v%" PRIu32 ", %" PRId64 " metadata keys, %" PRId64 " tensors, alignment %zu, %zu bytes (%s)\n",
           hd_gguf_name(g), hd_gguf_version(g), nkv, nt, hd_gguf_alignment(g), hd_gguf_file_size(g), sz);
    int kw = 10;
    for (int64_t i = 0; i < nkv; i++) {
        int l = (int)strlen(hd_gguf_kv_key(g, i));
        if (l > kw) kw = l < 48 ? l : 48;
    }
    printf("\nmetadata:\n  %-*s  %-12s  %s\n", kw, "key", "type", "value");
    for (int64_t i = 0; i < nkv; i++) {
        hd_gguf_vtype t = hd_gguf_kv_type(g, i);
        char tn[32];
        hd_gguf_vtype et;
        uint64_t n = 0;
        if (hd_gguf_kv_array(g, i, &et, &n)) snprintf(tn, sizeof tn, "arr[%s]", hd_gguf_vtype_name(et));
        else snprintf(tn, sizeof tn, "%s", hd_gguf_vtype_name(t));
        char kb[4200];
        printf("  %-*s  %-12s  ", kw, clean(hd_gguf_kv_key(g, i), kb, sizeof kb), tn);
        if (t == HD_GGUF_STRING) {
            const char *s;
            size_t len;
            hd_gguf_kv_str(g, i, &s, &len);
            if (put_escaped(stdout, s, len, TEXT_MAX)) printf(" (%zu bytes)", len);
        } else if (t == HD_GGUF_ARRAY) {
            if (n <= ARRAY_SHOW) {
                fputs("[", stdout);
                gguf_array_text(stdout, g, i, et, n);
                fputs("]", stdout);
            } else {
                printf("[%" PRIu64 " %s] ", n, et == HD_GGUF_STRING ? "strings" : hd_gguf_vtype_name(et));
                gguf_array_text(stdout, g, i, et, ARRAY_HEAD);
                fputs(", ...", stdout);
            }
        } else {
            /* scalars: integers through the exact getters */
            char b[40];
            double d;
            if (t == HD_GGUF_FLOAT32 || t == HD_GGUF_FLOAT64 || t == HD_GGUF_BOOL) {
                hd_gguf_kv_number(g, i, &d);
                if (t == HD_GGUF_BOOL) snprintf(b, sizeof b, "%s", d != 0 ? "true" : "false");
                else snprintf(b, sizeof b, t == HD_GGUF_FLOAT32 ? "%.9g" : "%.17g", d);
            } else {
                int64_t v;
                uint64_t uv;
                if (hd_gguf_get_i64(g, hd_gguf_kv_key(g, i), &v)) snprintf(b, sizeof b, "%" PRId64, v);
                else if (hd_gguf_get_u64(g, hd_gguf_kv_key(g, i), &uv)) snprintf(b, sizeof b, "%" PRIu64, uv);
                else snprintf(b, sizeof b, "?");
            }
            fputs(b, stdout);
        }
        putchar('\n');
    }
    int nw = 4;
    for (int64_t i = 0; i < nt; i++) {
        int l = (int)strlen(hd_gguf_tensor(g, i)->name);
        if (l > nw) nw = l;
    }
    int sw = 5, bw = 5, ow = 6;
    for (int64_t i = 0; i < nt; i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        char sh[96], num[32];
        shape_text(sh, sizeof sh, t->n_dims, t->ne);
        if ((int)strlen(sh) > sw) sw = (int)strlen(sh);
        if (snprintf(num, sizeof num, "%zu", t->nbytes) > bw) bw = (int)strlen(num);
        if (snprintf(num, sizeof num, "%" PRIu64, t->offset) > ow) ow = (int)strlen(num);
    }
    printf("\ntensors (shape in ggml order, innermost first; offset from the data section at %zu):\n", hd_gguf_data_offset(g));
    printf("  %-*s  %-7s  %-*s  %*s  %*s\n", nw, "name", "type", sw, "shape", bw, "bytes", ow, "offset");
    uint64_t total = 0, params = 0;
    for (int64_t i = 0; i < nt; i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        char sh[96];
        shape_text(sh, sizeof sh, t->n_dims, t->ne);
        char nb[4200];
        printf("  %-*s  %-7s  %-*s  %*zu  %*" PRIu64 "\n", nw, clean(t->name, nb, sizeof nb), hd_gguf_type_name(t->type), sw, sh, bw, t->nbytes,
               ow, t->offset);
        total += t->nbytes;
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    fmt_bytes(sz, sizeof sz, total);
    printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes (%s)\n", nt, params, total, sz);
    return HD_EXIT_OK;
}

static int info_st_text(const hd_safetensors *st) {
    int64_t nt = hd_safetensors_n_tensors(st), nm = hd_safetensors_n_meta(st);
    int n_files = 0;
    const char *last = NULL;
    bool sharded = false;
    for (int64_t i = 0; i < nt; i++) {
        const char *f = hd_safetensors_tensor(st, i)->file;
        if (!last || strcmp(f, last) != 0) {
            n_files++;
            if (last) sharded = true;
            last = f;
        }
    }
    printf("%s: safetensors, %d file%s, %" PRId64 " metadata keys, %" PRId64 " tensors\n", hd_safetensors_name(st),
           n_files, n_files == 1 ? "" : "s", nm, nt);
    printf("\nmetadata:\n");
    int kw = 10;
    for (int64_t i = 0; i < nm; i++) {
        const char *k, *v;
        hd_safetensors_meta(st, i, &k, &v);
        if ((int)strlen(k) > kw) kw = strlen(k) < 48 ? (int)strlen(k) : 48;
    }
    printf("  %-*s  %-4s  %s\n", kw, "key", "type", "value");
    for (int64_t i = 0; i < nm; i++) {
        const char *k, *v;
        hd_safetensors_meta(st, i, &k, &v);
        char kb[4200];
        printf("  %-*s  str   ", kw, clean(k, kb, sizeof kb));
        size_t len = strlen(v);
        if (put_escaped(stdout, v, len, TEXT_MAX)) printf(" (%zu bytes)", len);
        putchar('\n');
    }
    int nw = 4;
    for (int64_t i = 0; i < nt; i++) {
        int l = (int)strlen(hd_safetensors_tensor(st, i)->name);
        if (l > nw) nw = l;
    }
    int sw = 5, bw = 5, ow = 6;
    for (int64_t i = 0; i < nt; i++) {
        const hd_st_tensor *t = hd_safetensors_tensor(st, i);
        char sh[160], num[32];
        shape_text(sh, sizeof sh, t->n_dims, t->shape);
        if ((int)strlen(sh) > sw) sw = (int)strlen(sh);
        if (snprintf(num, sizeof num, "%zu", t->nbytes) > bw) bw = (int)strlen(num);
        if (snprintf(num, sizeof num, "%" PRIu64, t->offset) > ow) ow = (int)strlen(num);
    }
    printf("\ntensors (shape as stored, outermost first; offset from the file's data section):\n");
    printf("  %-*s  %-8s  %-*s  %*s  %*s%s\n", nw, "name", "dtype", sw, "shape", bw, "bytes", ow, "offset",
           sharded ? "  file" : "");
    uint64_t total = 0, params = 0;
    int64_t unusable = 0;
    for (int64_t i = 0; i < nt; i++) {
        const hd_st_tensor *t = hd_safetensors_tensor(st, i);
        char sh[160], dt[16];
        shape_text(sh, sizeof sh, t->n_dims, t->shape);
        snprintf(dt, sizeof dt, "%s%s", t->dtype, t->hd_type < 0 ? "*" : "");
        if (t->hd_type < 0) unusable++;
        const char *base = strrchr(t->file, '/');
        char nb[4200];
        printf("  %-*s  %-8s  %-*s  %*zu  %*" PRIu64 "%s%s\n", nw, clean(t->name, nb, sizeof nb), dt, sw, sh, bw, t->nbytes, ow, t->offset,
               sharded ? "  " : "", sharded ? (base ? base + 1 : t->file) : "");
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->shape[d];
        total += t->nbytes;
        params += n;
    }
    char sz[32];
    fmt_bytes(sz, sizeof sz, total);
    printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes (%s)\n", nt, params, total, sz);
    if (unusable) printf("* %" PRId64 " tensor%s with a dtype herd cannot compute with\n", unusable, unusable == 1 ? "" : "s");
    return HD_EXIT_OK;
}

/* ---- JSON -------------------------------------------------------------------- */


static cJSON *json_str(const char *s) { return hd_cli_json_bytes(s, strlen(s)); }

/* Numbers as raw JSON text so 64-bit integers stay exact; non-finite → null. */
static cJSON *json_num_text(const char *t) {
    if (strstr(t, "nan") || strstr(t, "inf")) return cJSON_CreateNull();
    if (strcmp(t, "true") == 0) return cJSON_CreateTrue();
    if (strcmp(t, "false") == 0) return cJSON_CreateFalse();
    return cJSON_CreateRaw(t);
}

static cJSON *gguf_elem_json(const hd_gguf *g, int64_t i, hd_gguf_vtype et, uint64_t j) {
    if (et == HD_GGUF_STRING) {
        const char *s;
        size_t len;
        hd_gguf_arr_str(g, i, j, &s, &len);
        return hd_cli_json_bytes(s, len);
    }
    char b[40];
    gguf_num_text(b, sizeof b, et, (const unsigned char *)hd_gguf_arr_data(g, i) + j * vsize(et));
    return json_num_text(b);
}

static cJSON *info_gguf_json(const hd_gguf *g) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "file", json_str(hd_gguf_name(g)));
    cJSON_AddStringToObject(o, "format", "gguf");
    cJSON_AddNumberToObject(o, "version", hd_gguf_version(g));
    cJSON_AddNumberToObject(o, "alignment", (double)hd_gguf_alignment(g));
    cJSON_AddNumberToObject(o, "file_size", (double)hd_gguf_file_size(g));
    cJSON_AddNumberToObject(o, "data_offset", (double)hd_gguf_data_offset(g));
    cJSON *meta = cJSON_AddArrayToObject(o, "metadata");
    for (int64_t i = 0; i < hd_gguf_n_kv(g); i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddItemToArray(meta, m);
        cJSON_AddItemToObject(m, "key", json_str(hd_gguf_kv_key(g, i)));
        hd_gguf_vtype t = hd_gguf_kv_type(g, i), et;
        uint64_t n;
        cJSON_AddStringToObject(m, "type", hd_gguf_vtype_name(t));
        if (hd_gguf_kv_array(g, i, &et, &n)) {
            cJSON_AddStringToObject(m, "elem_type", hd_gguf_vtype_name(et));
            cJSON_AddNumberToObject(m, "count", (double)n);
            uint64_t show = n <= JSON_ARRAY_FULL ? n : ARRAY_SHOW;
            cJSON *arr = cJSON_AddArrayToObject(m, n <= JSON_ARRAY_FULL ? "value" : "head");
            for (uint64_t j = 0; j < show; j++) cJSON_AddItemToArray(arr, gguf_elem_json(g, i, et, j));
        } else if (t == HD_GGUF_STRING) {
            const char *s;
            size_t len;
            hd_gguf_kv_str(g, i, &s, &len);
            cJSON_AddItemToObject(m, "value", hd_cli_json_bytes(s, len));
        } else {
            char b[40];
            double d;
            int64_t v;
            if (t == HD_GGUF_FLOAT32 || t == HD_GGUF_FLOAT64) {
                hd_gguf_kv_number(g, i, &d);
                snprintf(b, sizeof b, t == HD_GGUF_FLOAT32 ? "%.9g" : "%.17g", d);
            } else if (t == HD_GGUF_BOOL) {
                hd_gguf_kv_number(g, i, &d);
                snprintf(b, sizeof b, "%s", d != 0 ? "true" : "false");
            } else if (hd_gguf_get_i64(g, hd_gguf_kv_key(g, i), &v)) {
                snprintf(b, sizeof b, "%" PRId64, v);
            } else {
                uint64_t uv = 0;
                hd_gguf_get_u64(g, hd_gguf_kv_key(g, i), &uv);
                snprintf(b, sizeof b, "%" PRIu64, uv);
            }
            cJSON_AddItemToObject(m, "value", json_num_text(b));
        }
    }
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    uint64_t total = 0, params = 0;
    for (int64_t i = 0; i < hd_gguf_n_tensors(g); i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(ts, e);
        cJSON_AddItemToObject(e, "name", json_str(t->name));
        cJSON_AddStringToObject(e, "type", hd_gguf_type_name(t->type));
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddNumberToObject(e, "bytes", (double)t->nbytes);
        cJSON_AddNumberToObject(e, "offset", (double)t->offset);
        total += t->nbytes;
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    cJSON_AddNumberToObject(o, "n_tensors", (double)hd_gguf_n_tensors(g));
    cJSON_AddNumberToObject(o, "n_params", (double)params);
    cJSON_AddNumberToObject(o, "total_bytes", (double)total);
    return o;
}

static cJSON *info_st_json(const hd_safetensors *st) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "file", json_str(hd_safetensors_name(st)));
    cJSON_AddStringToObject(o, "format", "safetensors");
    cJSON *meta = cJSON_AddArrayToObject(o, "metadata");
    for (int64_t i = 0; i < hd_safetensors_n_meta(st); i++) {
        const char *k, *v;
        hd_safetensors_meta(st, i, &k, &v);
        cJSON *m = cJSON_CreateObject();
        cJSON_AddItemToArray(meta, m);
        cJSON_AddItemToObject(m, "key", json_str(k));
        cJSON_AddStringToObject(m, "type", "str");
        cJSON_AddItemToObject(m, "value", json_str(v));
    }
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    uint64_t total = 0, params = 0;
    for (int64_t i = 0; i < hd_safetensors_n_tensors(st); i++) {
        const hd_st_tensor *t = hd_safetensors_tensor(st, i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(ts, e);
        cJSON_AddItemToObject(e, "name", json_str(t->name));
        cJSON_AddStringToObject(e, "type", t->dtype);
        cJSON_AddBoolToObject(e, "usable", t->hd_type >= 0);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
            n *= (uint64_t)t->shape[d];
        }
        cJSON_AddNumberToObject(e, "bytes", (double)t->nbytes);
        cJSON_AddNumberToObject(e, "offset", (double)t->offset);
        cJSON_AddItemToObject(e, "file", json_str(t->file));
        total += t->nbytes;
        params += n;
    }
    cJSON_AddNumberToObject(o, "n_tensors", (double)hd_safetensors_n_tensors(st));
    cJSON_AddNumberToObject(o, "n_params", (double)params);
    cJSON_AddNumberToObject(o, "total_bytes", (double)total);
    return o;
}

/* ---- the command ------------------------------------------------------------- */

static const char k_usage[] =
    "usage: herd info [--json] FILE\n"
    "  FILE: a .gguf file, a .safetensors file, a model.safetensors.index.json,\n"
    "        or a directory holding a Hugging Face checkpoint (also accepted as -m FILE).\n"
    "Prints the metadata (key, type, value; long arrays and strings summarised),\n"
    "the tensor table (name, type, shape, bytes, offset) and totals.\n"
    "  --json   the same as one JSON object (arrays longer than 64 give count + head)\n"
    "Exit codes: 0 ok, 1 unreadable or malformed file, 2 usage error.\n";

static bool is_gguf(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    if (n == 4 && memcmp(m, "GGUF", 4) == 0) return true;
    size_t l = strlen(path);
    return l >= 5 && strcmp(path + l - 5, ".gguf") == 0;
}

static int print_json(cJSON *o) {
    if (!o) {
        fprintf(stderr, "herd info: out of memory\n");
        return HD_EXIT_INPUT;
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "herd info: out of memory\n");
        return HD_EXIT_INPUT;
    }
    puts(s);
    free(s);
    return HD_EXIT_OK;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, NULL, NULL, &help);
    if (rc != HD_EXIT_OK) return rc;
    if (help) {
        fputs(k_usage, stdout);
        return HD_EXIT_OK;
    }
    const char *path = cli.model;
    if (cli.n_pos > 1 || (path && cli.n_pos == 1)) return hd_cli_usage_error(&cli, "give one model file or directory");
    if (cli.n_pos == 1) path = cli.pos[0];
    if (!path) return hd_cli_usage_error(&cli, "no model file given");
    hd_error err = {0};
    if (is_gguf(path)) {
        hd_gguf *g = hd_gguf_open(path, &err);
        if (!g) return hd_cli_fail(&cli, &err);
        rc = cli.json ? print_json(info_gguf_json(g)) : info_gguf_text(g);
        hd_gguf_close(g);
    } else {
        hd_safetensors *st = hd_safetensors_open(path, &err);
        if (!st) return hd_cli_fail(&cli, &err);
        rc = cli.json ? print_json(info_st_json(st)) : info_st_text(st);
        hd_safetensors_close(st);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "herd info: cannot write the output\n");
        return HD_EXIT_INPUT;
    }
    return rc;
}

const hd_command hd_cmd_info = {
    "info", "show the metadata and tensors of a GGUF or safetensors model",
    k_usage, run};
