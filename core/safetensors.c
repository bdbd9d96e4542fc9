/* core/safetensors.c — safetensors reader (single file, sharded index,
 * directory) and single-file writer.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON (an object:
 * tensor name → {"dtype", "shape", "data_offsets": [begin, end]}, plus an
 * optional "__metadata__" object of strings), then the data section; offsets
 * are relative to the data section start (8 + N).
 */
#include "safetensors.h"

#include "mmap.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_HEADER (100u * 1000u * 1000u)  /* same limit as the reference implementation */
#define MAX_INDEX (100u * 1000u * 1000u)
#define MAX_SHARDS 4096
#define MAX_TENSORS (1u << 22)
#define MAX_JSON_INT 9007199254740992.0    /* 2^53: larger integers are not exact in a double */

typedef struct dtype_info { const char *name; size_t size; int hd_type; } dtype_info;

static const dtype_info k_dtypes[] = {
    {"F32", 4, HD_TYPE_F32}, {"F16", 2, HD_TYPE_F16}, {"BF16", 2, HD_TYPE_BF16},
    {"F64", 8, -1},          {"I64", 8, -1},          {"U64", 8, -1},
    {"I32", 4, -1},          {"U32", 4, -1},          {"I16", 2, -1},
    {"U16", 2, -1},          {"I8", 1, -1},           {"U8", 1, -1},
    {"BOOL", 1, -1},         {"F8_E4M3", 1, -1},      {"F8_E5M2", 1, -1},
    {"F8_E8M0", 1, -1},
};

static const dtype_info *dtype_find(const char *s) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (strcmp(k_dtypes[i].name, s) == 0) return &k_dtypes[i];
    return NULL;
}

static const dtype_info *dtype_of_hd(hd_type t) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (k_dtypes[i].hd_type == (int)t) return &k_dtypes[i];
    return NULL;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

typedef struct st_file {
    char *path;
    hd_mmap map;     /* zeroed for open_memory */
} st_file;

struct hd_safetensors {
    char *name;
    st_file *files;
    int n_files;
    hd_st_tensor *t;
    int64_t n, cap;
    uint32_t *slots;        /* name hash index: tensor index + 1 */
    size_t n_slots;
    char **meta_k, **meta_v;
    int64_t n_meta;
};

/* ---- name index (rebuilt when it gets half full) -------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t slot_of(const hd_safetensors *st, const char *name, int64_t *found) {
    size_t m = st->n_slots - 1, s = (size_t)hash_str(name) & m;
    *found = -1;
    while (st->slots[s]) {
        uint32_t e = st->slots[s] - 1;
        if (strcmp(st->t[e].name, name) == 0) {
            *found = e;
            break;
        }
        s = (s + 1) & m;
    }
    return s;
}

static bool index_rebuild(hd_safetensors *st, size_t want) {
    size_t cap = 64;
    while (cap < want * 2) cap <<= 1;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    free(st->slots);
    st->slots = slots;
    st->n_slots = cap;
    for (int64_t i = 0; i < st->n; i++) {
        int64_t f;
        size_t s = slot_of(st, st->t[i].name, &f);
        st->slots[s] = (uint32_t)i + 1;
    }
    return true;
}

/* ---- one file --------------------------------------------------------------- */

static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0) || d > MAX_JSON_INT || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

typedef struct span { uint64_t b, e; int64_t i; } span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

static hd_status add_meta(hd_safetensors *st, const cJSON *meta, const char *fname, hd_error *err) {
    if (!cJSON_IsObject(meta)) return hd_error_set(err, HD_ERR_FORMAT, "%s: __metadata__ is not an object", fname);
    int64_t n = cJSON_GetArraySize(meta);
    st->meta_k = calloc((size_t)(n ? n : 1), sizeof *st->meta_k);
    st->meta_v = calloc((size_t)(n ? n : 1), sizeof *st->meta_v);
    if (!st->meta_k || !st->meta_v) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", fname);
    const cJSON *e;
    cJSON_ArrayForEach(e, meta) {
        if (!cJSON_IsString(e))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", fname, e->string);
        st->meta_k[st->n_meta] = dup_str(e->string);
        st->meta_v[st->n_meta] = dup_str(e->valuestring);
        st->n_meta++;
        if (!st->meta_k[st->n_meta - 1] || !st->meta_v[st->n_meta - 1])
            return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", fname);
    }
    return HD_OK;
}

/* Parses one safetensors buffer and appends its tensors; fi indexes st->files. */
static hd_status parse_file(hd_safetensors *st, int fi, const uint8_t *base, size_t size, hd_error *err) {
    const char *fname = st->files[fi].path;
    if (size < 8) return hd_error_set(err, HD_ERR_FORMAT, "%s: too small for a safetensors file (%zu bytes)", fname, size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)base[i] << (8 * i);
    if (size > 8 && base[8] != '{' && hlen > size - 8) /* a photo, a text file, ...: say what it is not */
        return hd_error_set(err, HD_ERR_FORMAT, "%s: not a safetensors file (no 8-byte header length + JSON header)",
                            fname);
    if (hlen > MAX_HEADER)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the limit of %u bytes", fname, hlen,
                            MAX_HEADER);
    if (hlen > size - 8)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                            fname, hlen, size);
    const char *hdr = (const char *)base + 8;
    if (hlen < 2 || hdr[0] != '{')
        return hd_error_set(err, HD_ERR_FORMAT, "%s: header does not start with a JSON object", fname);
    if (memchr(hdr, 0, (size_t)hlen)) return hd_error_set(err, HD_ERR_FORMAT, "%s: header contains a NUL byte", fname);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
        return hd_error_set(err, HD_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu of %" PRIu64 ")", fname, at, hlen);
    }
    hd_status rc = HD_OK;
    span *spans = NULL;
    for (const char *p = end; p < hdr + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: header has trailing bytes after the JSON object", fname);
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = hd_error_set(err, HD_ERR_FORMAT, "%s: header is not a JSON object", fname);
        goto done;
    }
    const size_t data_off = 8 + (size_t)hlen;
    const uint64_t data_size = size - data_off;
    int64_t n_entries = cJSON_GetArraySize(root);
    if (st->n + n_entries > MAX_TENSORS) {
        rc = hd_error_set(err, HD_ERR_FORMAT, "%s: too many tensors (limit %u)", fname, MAX_TENSORS);
        goto done;
    }
    if (st->n + n_entries > st->cap) {
        int64_t nc = st->n + n_entries;
        hd_st_tensor *nt = realloc(st->t, (size_t)(nc ? nc : 1) * sizeof *nt);
        if (!nt) {
            rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", fname);
            goto done;
        }
        st->t = nt;
        st->cap = nc;
    }
    if (!index_rebuild(st, (size_t)(st->n + n_entries))) {
        rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", fname);
        goto done;
    }
    spans = malloc((size_t)(n_entries ? n_entries : 1) * sizeof *spans);
    if (!spans) {
        rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", fname);
        goto done;
    }
    int64_t n_spans = 0;
    bool seen_meta = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *name = e->string;
        if (!name || !name[0]) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: a tensor has an empty name", fname);
            goto done;
        }
        if (strcmp(name, "__metadata__") == 0) {
            if (seen_meta) {
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: duplicate __metadata__", fname);
                goto done;
            }
            seen_meta = true;
            if (fi == 0 && (rc = add_meta(st, e, fname, err)) != HD_OK) goto done;
            if (fi != 0 && !cJSON_IsObject(e)) {
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: __metadata__ is not an object", fname);
                goto done;
            }
            continue;
        }
        if (!cJSON_IsObject(e)) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: entry '%s' is not an object", fname, name);
            goto done;
        }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo)) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' needs string dtype, array shape and array data_offsets",
                              fname, name);
            goto done;
        }
        const dtype_info *dt = dtype_find(jd->valuestring);
        if (!dt) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%.32s'", fname, name, jd->valuestring);
            goto done;
        }
        hd_st_tensor t = {0};
        t.dtype = dt->name;
        t.hd_type = dt->hd_type;
        int nd = cJSON_GetArraySize(js);
        if (nd > HD_ST_MAX_DIMS) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (limit %d)", fname, name, nd, HD_ST_MAX_DIMS);
            goto done;
        }
        t.n_dims = nd;
        uint64_t nel = 1;
        bool zero = false;
        int d = 0;
        const cJSON *jv;
        cJSON_ArrayForEach(jv, js) {
            uint64_t v;
            if (!json_uint(jv, &v)) {
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' shape entry %d is not a non-negative integer", fname, name, d);
                goto done;
            }
            if (v == 0) zero = true;
            else if (nel > (uint64_t)INT64_MAX / v) {
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' has too many elements (overflow)", fname, name);
                goto done;
            } else nel *= v;
            t.shape[d++] = (int64_t)v;
        }
        if (zero) nel = 0;
        if (cJSON_GetArraySize(jo) != 2) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' data_offsets is not [begin, end]", fname, name);
            goto done;
        }
        uint64_t b, en;
        if (!json_uint(cJSON_GetArrayItem(jo, 0), &b) || !json_uint(cJSON_GetArrayItem(jo, 1), &en)) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' data_offsets are not non-negative integers", fname, name);
            goto done;
        }
        if (b > en || en > data_size) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' data_offsets [%" PRIu64 ", %" PRIu64 "] are outside the data section (%" PRIu64 " bytes)",
                              fname, name, b, en, data_size);
            goto done;
        }
        if (nel > UINT64_MAX / dt->size || en - b != nel * dt->size) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' data_offsets span %" PRIu64 " bytes, but %" PRIu64 " x %s needs %" PRIu64,
                              fname, name, en - b, nel, dt->name, nel > UINT64_MAX / dt->size ? UINT64_MAX : nel * dt->size);
            goto done;
        }
        int64_t dup;
        size_t slot = slot_of(st, name, &dup);
        if (dup >= 0) {
            if (strcmp(st->t[dup].file, fname) != 0)
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: duplicate tensor '%s' (also in %s)", fname, name, st->t[dup].file);
            else
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: duplicate tensor '%s'", fname, name);
            goto done;
        }
        t.name = dup_str(name);
        if (!t.name) {
            rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", fname);
            goto done;
        }
        t.nbytes = (size_t)(en - b);
        t.offset = b;
        t.data = base + data_off + b;
        t.file = fname;
        st->t[st->n] = t;
        st->slots[slot] = (uint32_t)st->n + 1;
        if (en > b) spans[n_spans++] = (span){b, en, st->n};
        st->n++;
    }
    /* no two tensors may share bytes */
    qsort(spans, (size_t)n_spans, sizeof *spans, span_cmp);
    for (int64_t i = 1; i < n_spans; i++) {
        if (spans[i].b < spans[i - 1].e) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", fname, st->t[spans[i - 1].i].name,
                              st->t[spans[i].i].name);
            goto done;
        }
    }
done:
    free(spans);
    cJSON_Delete(root);
    return rc;
}

/* ---- opening ---------------------------------------------------------------- */

/* Names from a file may hold control bytes: keep the message one line. */
static void one_line(hd_error *err) {
    if (!err) return;
    for (char *m = err->msg; *m; m++)
        if ((unsigned char)*m < 0x20 || *m == 0x7f) *m = '?';
}

static hd_safetensors *st_new(const char *name, hd_error *err) {
    hd_safetensors *st = calloc(1, sizeof *st);
    if (st) st->name = dup_str(name);
    if (!st || !st->name) {
        free(st);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    return st;
}

/* Maps path as file number n_files and parses it. */
static hd_status add_file(hd_safetensors *st, const char *path, hd_error *err) {
    st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    f->path = dup_str(path);
    if (!f->path) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    st->n_files++;
    hd_status rc = hd_mmap_open(&f->map, path, err);
    if (rc != HD_OK) return rc;
    return parse_file(st, st->n_files - 1, f->map.data, f->map.size, err);
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, name, b + 1);
    return p;
}

static char *dir_of(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) return dup_str(".");
    size_t n = s == path ? 1 : (size_t)(s - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

static hd_status open_index(hd_safetensors *st, const char *path, hd_error *err) {
    hd_mmap map;
    hd_status rc = hd_mmap_open(&map, path, err);
    if (rc != HD_OK) return rc;
    cJSON *root = NULL;
    char *dir = NULL;
    char **shards = NULL;
    int n_shards = 0;
    if (map.size > MAX_INDEX) {
        rc = hd_error_set(err, HD_ERR_FORMAT, "%s: index is larger than %u bytes", path, MAX_INDEX);
        goto done;
    }
    root = map.size ? cJSON_ParseWithLength(map.data, map.size) : NULL;
    if (!cJSON_IsObject(root)) {
        rc = hd_error_set(err, HD_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        rc = hd_error_set(err, HD_ERR_FORMAT, "%s: no \"weight_map\" object", path);
        goto done;
    }
    dir = dir_of(path);
    shards = calloc(MAX_SHARDS, sizeof *shards);
    if (!dir || !shards) {
        rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name", path, e->string);
            goto done;
        }
        const char *s = e->valuestring;
        if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: weight_map names '%s', which is not a file in the index's directory", path, s);
            goto done;
        }
        int k = 0;
        while (k < n_shards && strcmp(shards[k], s) != 0) k++;
        if (k == n_shards) {
            if (n_shards == MAX_SHARDS) {
                rc = hd_error_set(err, HD_ERR_FORMAT, "%s: more than %d shards", path, MAX_SHARDS);
                goto done;
            }
            shards[n_shards++] = e->valuestring;
        }
    }
    if (n_shards == 0) {
        rc = hd_error_set(err, HD_ERR_FORMAT, "%s: weight_map is empty", path);
        goto done;
    }
    for (int k = 0; k < n_shards; k++) {
        char *p = join_path(dir, shards[k]);
        if (!p) {
            rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        rc = add_file(st, p, err);
        free(p);
        if (rc != HD_OK) goto done;
    }
    cJSON_ArrayForEach(e, wm) {
        int64_t idx;
        slot_of(st, e->string, &idx);
        const char *want = e->valuestring;
        if (idx < 0) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: weight_map lists tensor '%s' in %s, which does not contain it", path,
                              e->string, want);
            goto done;
        }
        const char *got = strrchr(st->t[idx].file, '/');
        got = got ? got + 1 : st->t[idx].file;
        if (strcmp(got, want) != 0) {
            rc = hd_error_set(err, HD_ERR_FORMAT, "%s: weight_map lists tensor '%s' in %s, but it is in %s", path, e->string,
                              want, got);
            goto done;
        }
    }
done:
    free(shards);
    free(dir);
    cJSON_Delete(root);
    hd_mmap_close(&map);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static hd_status open_dir(hd_safetensors *st, const char *dir, hd_error *err) {
    char *p = join_path(dir, "model.safetensors.index.json");
    if (!p) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    hd_status rc;
    if (is_file(p)) {
        rc = open_index(st, p, err);
        free(p);
        return rc;
    }
    free(p);
    p = join_path(dir, "model.safetensors");
    if (!p) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    if (is_file(p)) {
        rc = add_file(st, p, err);
        free(p);
        return rc;
    }
    free(p);
    DIR *d = opendir(dir);
    if (!d) return hd_error_set(err, HD_ERR_IO, "%s: cannot list the directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    rc = HD_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".safetensors") || de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = cap <= MAX_SHARDS * 2 ? realloc(names, cap * sizeof *nn) : NULL;
            if (!nn) {
                rc = hd_error_set(err, HD_ERR_NOMEM, "%s: too many files", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = dup_str(de->d_name))) {
            rc = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == HD_OK && n == 0)
        rc = hd_error_set(err, HD_ERR_NOTFOUND, "%s: no model.safetensors.index.json or *.safetensors in the directory", dir);
    if (rc == HD_OK) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; rc == HD_OK && i < n; i++) {
        char *fp = join_path(dir, names[i]);
        rc = fp ? add_file(st, fp, err) : hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
        free(fp);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

hd_safetensors *hd_safetensors_open(const char *path, hd_error *err) {
    hd_safetensors *st = st_new(path, err);
    if (!st) return NULL;
    struct stat sb;
    hd_status rc;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) rc = open_dir(st, path, err);
    else if (ends_with(path, ".json")) rc = open_index(st, path, err);
    else rc = add_file(st, path, err);
    if (rc != HD_OK) {
        one_line(err);
        hd_safetensors_close(st);
        return NULL;
    }
    return st;
}

hd_safetensors *hd_safetensors_open_memory(const void *data, size_t size, const char *name, hd_error *err) {
    if (!name) name = "<memory>";
    hd_safetensors *st = st_new(name, err);
    if (!st) return NULL;
    st->files = calloc(1, sizeof *st->files);
    if (!st->files || !(st->files[0].path = dup_str(name))) {
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        hd_safetensors_close(st);
        return NULL;
    }
    st->n_files = 1;
    if (parse_file(st, 0, data, data ? size : 0, err) != HD_OK) {
        one_line(err);
        hd_safetensors_close(st);
        return NULL;
    }
    return st;
}

void hd_safetensors_close(hd_safetensors *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n; i++) free((char *)st->t[i].name);
    free(st->t);
    free(st->slots);
    for (int i = 0; i < st->n_files; i++) {
        hd_mmap_close(&st->files[i].map);
        free(st->files[i].path);
    }
    free(st->files);
    for (int64_t i = 0; i < st->n_meta; i++) {
        free(st->meta_k[i]);
        free(st->meta_v[i]);
    }
    free(st->meta_k);
    free(st->meta_v);
    free(st->name);
    free(st);
}

const char *hd_safetensors_name(const hd_safetensors *st) { return st->name; }
int64_t hd_safetensors_n_tensors(const hd_safetensors *st) { return st->n; }

const hd_st_tensor *hd_safetensors_tensor(const hd_safetensors *st, int64_t i) {
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

int64_t hd_safetensors_find(const hd_safetensors *st, const char *name) {
    if (!st || !name || !st->slots) return -1;
    int64_t idx;
    slot_of(st, name, &idx);
    return idx;
}

int64_t hd_safetensors_n_meta(const hd_safetensors *st) { return st->n_meta; }

bool hd_safetensors_meta(const hd_safetensors *st, int64_t i, const char **key, const char **value) {
    if (i < 0 || i >= st->n_meta) return false;
    if (key) *key = st->meta_k[i];
    if (value) *value = st->meta_v[i];
    return true;
}

hd_status hd_safetensors_view(const hd_safetensors *st, int64_t i, hd_tensor *out, hd_error *err) {
    const hd_st_tensor *t = hd_safetensors_tensor(st, i);
    if (!t) return hd_error_set(err, HD_ERR_NOTFOUND, "%s: no tensor %" PRId64, st->name, i);
    if (t->hd_type < 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s, which herd cannot compute with", t->file,
                            t->name, t->dtype);
    /* ggml order: reverse; leading size-1 dims beyond 4 are dropped */
    int nd = t->n_dims, lead = 0;
    while (nd - lead > HD_MAX_DIMS && t->shape[lead] == 1) lead++;
    if (nd - lead > HD_MAX_DIMS)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: tensor %s has %d dimensions (herd handles %d)", t->file, t->name, nd,
                            HD_MAX_DIMS);
    int64_t ne[HD_MAX_DIMS] = {1, 1, 1, 1};
    int n = nd - lead;
    for (int d = 0; d < n; d++) ne[d] = t->shape[nd - 1 - d];
    *out = hd_tensor_view((hd_type)t->hd_type, n ? n : 1, ne, (void *)t->data);
    out->name = t->name;
    return HD_OK;
}

/* ---- writer ----------------------------------------------------------------- */

typedef struct wt {
    char *name;
    const dtype_info *dt;
    int n_dims;
    int64_t shape[HD_ST_MAX_DIMS];
    size_t nbytes;
    const void *data;
} wt;

struct hd_st_writer {
    char **mk, **mv;
    size_t n_meta;
    wt *t;
    size_t n;
};

hd_st_writer *hd_st_writer_create(hd_error *err) {
    hd_st_writer *w = calloc(1, sizeof *w);
    if (!w || hd_st_writer_meta(w, "format", "pt") != HD_OK) {
        hd_st_writer_free(w);
        hd_error_set(err, HD_ERR_NOMEM, "safetensors writer: out of memory");
        return NULL;
    }
    return w;
}

void hd_st_writer_free(hd_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->mk);
    free(w->mv);
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

hd_status hd_st_writer_meta(hd_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return HD_ERR_ARG;
    char *v = dup_str(value);
    if (!v) return HD_ERR_NOMEM;
    for (size_t i = 0; i < w->n_meta; i++) {
        if (strcmp(w->mk[i], key) == 0) {
            free(w->mv[i]);
            w->mv[i] = v;
            return HD_OK;
        }
    }
    char *k = dup_str(key);
    char **nk = realloc(w->mk, (w->n_meta + 1) * sizeof *nk);
    if (nk) w->mk = nk;
    char **nv = nk ? realloc(w->mv, (w->n_meta + 1) * sizeof *nv) : NULL;
    if (nv) w->mv = nv;
    if (!k || !nk || !nv) {
        free(k);
        free(v);
        return HD_ERR_NOMEM;
    }
    w->mk[w->n_meta] = k;
    w->mv[w->n_meta] = v;
    w->n_meta++;
    return HD_OK;
}

hd_status hd_st_writer_add(hd_st_writer *w, const char *name, hd_type type, int n_dims, const int64_t *shape,
                           const void *data, hd_error *err) {
    if (!w || !name || !name[0] || strcmp(name, "__metadata__") == 0)
        return hd_error_set(err, HD_ERR_ARG, "safetensors writer: bad tensor name '%s'", name ? name : "");
    const dtype_info *dt = dtype_of_hd(type);
    if (!dt) return hd_error_set(err, HD_ERR_ARG, "safetensors writer: tensor '%s': type %s is not F32, F16 or BF16", name,
                                 hd_type_name(type));
    if (n_dims < 0 || n_dims > HD_ST_MAX_DIMS || (n_dims && !shape))
        return hd_error_set(err, HD_ERR_ARG, "safetensors writer: tensor '%s' has %d dimensions", name, n_dims);
    wt t = {0};
    t.dt = dt;
    t.n_dims = n_dims;
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || (shape[d] && nel > (uint64_t)(SIZE_MAX / 8) / (uint64_t)shape[d]))
            return hd_error_set(err, HD_ERR_ARG, "safetensors writer: tensor '%s' has a bad shape", name);
        nel *= (uint64_t)shape[d];
        t.shape[d] = shape[d];
    }
    t.nbytes = (size_t)nel * dt->size;
    if (t.nbytes && !data) return hd_error_set(err, HD_ERR_ARG, "safetensors writer: tensor '%s' has no data", name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return hd_error_set(err, HD_ERR_ARG, "safetensors writer: duplicate tensor '%s'", name);
    wt *nt = realloc(w->t, (w->n + 1) * sizeof *nt);
    if (!nt) return hd_error_set(err, HD_ERR_NOMEM, "safetensors writer: out of memory");
    w->t = nt;
    t.name = dup_str(name);
    if (!t.name) return hd_error_set(err, HD_ERR_NOMEM, "safetensors writer: out of memory");
    t.data = data;
    w->t[w->n++] = t;
    return HD_OK;
}

/* A growable text buffer for the JSON header. */
typedef struct sbuf { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(sbuf *b, const char *fmt, uint64_t v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    sb_put(b, tmp, (size_t)n);
}

static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            sb_put(b, e, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

hd_status hd_st_writer_write(hd_st_writer *w, const char *path, hd_error *err) {
    sbuf b = {0};
    sb_str(&b, "{\"__metadata__\":{");
    for (size_t i = 0; i < w->n_meta; i++) {
        if (i) sb_str(&b, ",");
        sb_json_str(&b, w->mk[i]);
        sb_str(&b, ":");
        sb_json_str(&b, w->mv[i]);
    }
    sb_str(&b, "}");
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wt *t = &w->t[i];
        sb_str(&b, ",");
        sb_json_str(&b, t->name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, t->dt->name);
        sb_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->n_dims; d++) sb_fmt(&b, d ? ",%" PRIu64 : "%" PRIu64, (uint64_t)t->shape[d]);
        sb_fmt(&b, "],\"data_offsets\":[%" PRIu64, off);
        off += t->nbytes;
        sb_fmt(&b, ",%" PRIu64 "]}", off);
    }
    sb_str(&b, "}");
    while (!b.oom && b.n % 8) sb_str(&b, " ");   /* the data section starts 8-aligned */
    if (b.oom) {
        free(b.p);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    }
    hd_outfile o;
    hd_status rc = hd_outfile_open(&o, path, err);
    if (rc != HD_OK) {
        free(b.p);
        return rc;
    }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)b.n >> (8 * i));
    hd_outfile_write(&o, len, 8);
    hd_outfile_write(&o, b.p, b.n);
    free(b.p);
    for (size_t i = 0; i < w->n; i++) hd_outfile_write(&o, w->t[i].data, w->t[i].nbytes);
    return hd_outfile_commit(&o, err);
}
