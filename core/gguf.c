/* core/gguf.c — GGUF v2/v3 reader over a mapping, and the GGUF v3 writer.
 *
 * Layout (little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv × { str key, u32 vtype, value },
 *   n_tensors × { str name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   zero padding to the alignment, the data section.
 * str = u64 length + bytes (no NUL).  An array value is u32 element vtype,
 * u64 count, then the elements.  Tensor offsets are from the start of the
 * data section and multiples of the alignment (general.alignment, a u32
 * power of two, default 32).
 */
#include "gguf.h"

#include "mmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep a hostile header from making us allocate much more than
 * the file is large (everything is also bounded by the bytes present). */
#define MAX_KV (1u << 20)
#define MAX_TENSORS (1u << 20)
#define MAX_NAME_LEN 4096u           /* keys and tensor names */
#define MAX_STR_ARRAY (1u << 26)     /* elements of one string array */
#define MAX_ALIGNMENT (1u << 30)

/* ---- ggml tensor types (block size, bytes per block, name) ----------------- */

typedef struct { const char *name; uint32_t block; uint32_t size; } ggml_type_info;

static const ggml_type_info k_ggml_types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},   [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18},   [42] = {"Q2_0", 64, 18},
};
#define N_GGML_TYPES ((int)(sizeof k_ggml_types / sizeof k_ggml_types[0]))

static const ggml_type_info *ggml_type(uint32_t t) {
    if (t >= (uint32_t)N_GGML_TYPES || !k_ggml_types[t].name) return NULL;
    return &k_ggml_types[t];
}

const char *hd_gguf_type_name(int type) {
    const ggml_type_info *ti = type < 0 ? NULL : ggml_type((uint32_t)type);
    return ti ? ti->name : "?";
}

bool hd_gguf_type_size(int type, size_t *block, size_t *bytes) {
    const ggml_type_info *ti = type < 0 ? NULL : ggml_type((uint32_t)type);
    if (!ti) return false;
    if (block) *block = ti->block;
    if (bytes) *bytes = ti->size;
    return true;
}

static const char *const k_vtype_names[] = {"u8",  "i8",   "u16", "i16", "u32", "i32", "f32",
                                            "bool", "str", "arr", "u64", "i64", "f64"};

const char *hd_gguf_vtype_name(hd_gguf_vtype t) {
    return (unsigned)t < sizeof k_vtype_names / sizeof k_vtype_names[0] ? k_vtype_names[t] : "?";
}

/* Bytes of one scalar of type t; 0 for string/array/unknown. */
static size_t vtype_size(uint32_t t) {
    switch (t) {
    case HD_GGUF_UINT8: case HD_GGUF_INT8: case HD_GGUF_BOOL: return 1;
    case HD_GGUF_UINT16: case HD_GGUF_INT16: return 2;
    case HD_GGUF_UINT32: case HD_GGUF_INT32: case HD_GGUF_FLOAT32: return 4;
    case HD_GGUF_UINT64: case HD_GGUF_INT64: case HD_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static bool vtype_known(uint32_t t) { return t <= HD_GGUF_FLOAT64; }

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32); }

/* ---- a string hash index (keys, tensor names) ------------------------------ */

typedef struct name_index {
    uint32_t *slots;   /* entry index + 1; 0 = empty */
    size_t cap;        /* power of two */
} name_index;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool index_init(name_index *ix, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->cap = cap;
    return ix->slots != NULL;
}

/* Looks name up; names(i) gives the name of entry i.  Returns entry or -1 and,
 * when absent, the free slot in *slot. */
#define INDEX_FIND(ix, name, NAME_OF, out_idx, out_slot)                          \
    do {                                                                           \
        size_t m_ = (ix)->cap - 1, s_ = (size_t)hash_str(name) & m_;               \
        (out_idx) = -1;                                                            \
        while ((ix)->slots[s_]) {                                                  \
            uint32_t e_ = (ix)->slots[s_] - 1;                                     \
            if (strcmp(NAME_OF(e_), (name)) == 0) { (out_idx) = (int64_t)e_; break; } \
            s_ = (s_ + 1) & m_;                                                    \
        }                                                                          \
        (out_slot) = s_;                                                           \
    } while (0)

/* ---- reader ----------------------------------------------------------------- */

typedef struct gguf_kv {
    char *key;                 /* owned, NUL-terminated */
    uint32_t type;             /* hd_gguf_vtype */
    uint32_t elem_type;        /* arrays: element vtype */
    uint64_t n;                /* arrays: element count */
    const uint8_t *val;        /* scalars: the value; strings: the bytes; arrays: first element */
    uint64_t len;              /* strings: byte length */
    uint64_t *str_off;         /* string arrays: offset of element j's length field from val (owned) */
    size_t raw_off, raw_len;   /* the encoded value (after the vtype field) in the file */
} gguf_kv;

struct hd_gguf {
    char *name;
    hd_mmap map;               /* zeroed for open_memory */
    const uint8_t *base;
    size_t size;
    uint32_t version;
    size_t alignment;
    size_t data_offset;        /* start of the data section */
    gguf_kv *kv;
    int64_t n_kv;
    hd_gguf_tensor_info *tensors;
    int64_t n_tensors;
    name_index kv_index, tensor_index;
};

typedef struct reader {
    const uint8_t *p;
    size_t size, pos;
    const char *name;
    hd_error *err;
} reader;

static bool need(reader *r, size_t n, const char *what) {
    if (r->size - r->pos < n) {
        hd_error_set(r->err, HD_ERR_FORMAT, "%s: truncated: %s needs %zu bytes at offset %zu, file has %zu",
                     r->name, what, n, r->pos, r->size);
        return false;
    }
    return true;
}

static bool rd_u32(reader *r, uint32_t *v, const char *what) {
    if (!need(r, 4, what)) return false;
    *v = ld32(r->p + r->pos);
    r->pos += 4;
    return true;
}

static bool rd_u64(reader *r, uint64_t *v, const char *what) {
    if (!need(r, 8, what)) return false;
    *v = ld64(r->p + r->pos);
    r->pos += 8;
    return true;
}

/* A string: sets *s (into the buffer) and *len after checking the bytes exist. */
static bool rd_str(reader *r, const uint8_t **s, uint64_t *len, const char *what) {
    if (!rd_u64(r, len, what)) return false;
    if (*len > r->size - r->pos) {
        hd_error_set(r->err, HD_ERR_FORMAT, "%s: %s has length %" PRIu64 " at offset %zu, past the end of the file (%zu bytes)",
                     r->name, what, *len, r->pos - 8, r->size);
        return false;
    }
    *s = r->p + r->pos;
    r->pos += (size_t)*len;
    return true;
}

static char *copy_name(reader *r, const uint8_t *s, uint64_t len, const char *what, int64_t i) {
    if (len == 0) {
        hd_error_set(r->err, HD_ERR_FORMAT, "%s: %s %" PRId64 " is empty", r->name, what, i);
        return NULL;
    }
    if (len > MAX_NAME_LEN) {
        hd_error_set(r->err, HD_ERR_FORMAT, "%s: %s %" PRId64 " is %" PRIu64 " bytes long (limit %u)", r->name, what, i,
                     len, MAX_NAME_LEN);
        return NULL;
    }
    if (memchr(s, 0, (size_t)len)) {
        hd_error_set(r->err, HD_ERR_FORMAT, "%s: %s %" PRId64 " contains a NUL byte", r->name, what, i);
        return NULL;
    }
    char *c = malloc((size_t)len + 1);
    if (!c) {
        hd_error_set(r->err, HD_ERR_NOMEM, "%s: out of memory", r->name);
        return NULL;
    }
    memcpy(c, s, (size_t)len);
    c[len] = '\0';
    return c;
}

/* Grows *arr (elements of size sz) so that index n fits. */
static bool grow(void **arr, size_t *cap, size_t n, size_t sz) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc <= n) nc *= 2;
    void *p = realloc(*arr, nc * sz);
    if (!p) return false;
    memset((char *)p + *cap * sz, 0, (nc - *cap) * sz);
    *arr = p;
    *cap = nc;
    return true;
}

static bool read_value(reader *r, gguf_kv *kv) {
    char what[MAX_NAME_LEN + 64];
    snprintf(what, sizeof what, "value of key '%s'", kv->key);
    kv->raw_off = r->pos;
    if (kv->type == HD_GGUF_STRING) {
        if (!rd_str(r, &kv->val, &kv->len, what)) return false;
    } else if (kv->type == HD_GGUF_ARRAY) {
        uint64_t n;
        if (!rd_u32(r, &kv->elem_type, what) || !rd_u64(r, &n, what)) return false;
        kv->n = n;
        if (kv->elem_type == HD_GGUF_ARRAY) {
            hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' is an array of arrays (not supported)", r->name, kv->key);
            return false;
        }
        if (!vtype_known(kv->elem_type)) {
            hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' has an array of unknown type %" PRIu32, r->name, kv->key,
                         kv->elem_type);
            return false;
        }
        kv->val = r->p + r->pos;
        if (kv->elem_type == HD_GGUF_STRING) {
            if (n > (r->size - r->pos) / 8 || n > MAX_STR_ARRAY) {
                hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' claims %" PRIu64 " strings, more than the file can hold",
                             r->name, kv->key, n);
                return false;
            }
            kv->str_off = malloc((size_t)(n ? n : 1) * sizeof *kv->str_off);
            if (!kv->str_off) {
                hd_error_set(r->err, HD_ERR_NOMEM, "%s: out of memory", r->name);
                return false;
            }
            size_t start = r->pos;
            for (uint64_t j = 0; j < n; j++) {
                const uint8_t *s;
                uint64_t len;
                kv->str_off[j] = r->pos - start;
                snprintf(what, sizeof what, "element %" PRIu64 " of key '%s'", j, kv->key);
                if (!rd_str(r, &s, &len, what)) return false;
            }
        } else {
            size_t es = vtype_size(kv->elem_type);
            if (n > (r->size - r->pos) / es) {
                hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' claims %" PRIu64 " %s elements at offset %zu, past the end of the file",
                             r->name, kv->key, n, hd_gguf_vtype_name(kv->elem_type), r->pos);
                return false;
            }
            if (kv->elem_type == HD_GGUF_BOOL) {
                for (uint64_t j = 0; j < n; j++)
                    if (kv->val[j] > 1) {
                        hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' element %" PRIu64 " is not a bool (%u)", r->name,
                                     kv->key, j, kv->val[j]);
                        return false;
                    }
            }
            r->pos += (size_t)(n * es);
        }
    } else if (vtype_known(kv->type)) {
        size_t es = vtype_size(kv->type);
        if (!need(r, es, what)) return false;
        kv->val = r->p + r->pos;
        if (kv->type == HD_GGUF_BOOL && kv->val[0] > 1) {
            hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' is not a bool (%u)", r->name, kv->key, kv->val[0]);
            return false;
        }
        r->pos += es;
    } else {
        hd_error_set(r->err, HD_ERR_FORMAT, "%s: key '%s' has unknown value type %" PRIu32, r->name, kv->key, kv->type);
        return false;
    }
    kv->raw_len = r->pos - kv->raw_off;
    return true;
}

#define KV_NAME(i) (g->kv[i].key)
#define TENSOR_NAME(i) (g->tensors[i].name)

static hd_status parse(hd_gguf *g, hd_error *err) {
    reader rr = {g->base, g->size, 0, g->name, err}, *r = &rr;
    if (g->size < 4) return hd_error_set(err, HD_ERR_FORMAT, "%s: too small for a GGUF file (%zu bytes)", g->name, g->size);
    if (memcmp(g->base, "GGUF", 4) != 0) {
        char m[5];
        for (int i = 0; i < 4; i++) m[i] = (g->base[i] >= 0x20 && g->base[i] < 0x7f) ? (char)g->base[i] : '?';
        m[4] = 0;
        return hd_error_set(err, HD_ERR_FORMAT, "%s: not a GGUF file (magic '%s')", g->name, m);
    }
    r->pos = 4;
    uint64_t n_tensors, n_kv;
    if (!rd_u32(r, &g->version, "version")) return err ? err->code : HD_ERR_FORMAT;
    if (g->version != 2 && g->version != 3) {
        if (g->version != 0 && (g->version & 0xffff) == 0)
            return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: GGUF version 0x%08" PRIx32 " looks big-endian (not supported)",
                                g->name, g->version);
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: GGUF version %" PRIu32 " is not supported (need 2 or 3)", g->name,
                            g->version);
    }
    if (!rd_u64(r, &n_tensors, "tensor count") || !rd_u64(r, &n_kv, "key count")) return err ? err->code : HD_ERR_FORMAT;
    /* a key/value pair takes at least 13 bytes, a tensor record at least 25 */
    if (n_kv > MAX_KV)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: key count %" PRIu64 " exceeds the limit of %u", g->name, n_kv, MAX_KV);
    if (n_tensors > MAX_TENSORS)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor count %" PRIu64 " exceeds the limit of %u", g->name, n_tensors,
                            MAX_TENSORS);
    if (n_kv * 13 + n_tensors * 25 > g->size - r->pos)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: truncated: %" PRIu64 " keys and %" PRIu64 " tensors need at least %" PRIu64 " bytes after the header, file has %zu",
                            g->name, n_kv, n_tensors, n_kv * 13 + n_tensors * 25, g->size - r->pos);

    /* key/value pairs; the arrays grow as entries are actually parsed */
    if (!index_init(&g->kv_index, (size_t)n_kv)) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", g->name);
    size_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&g->kv, &cap, (size_t)i, sizeof *g->kv))
            return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", g->name);
        gguf_kv *kv = &g->kv[i];
        const uint8_t *s;
        uint64_t len;
        char what[48];
        snprintf(what, sizeof what, "key %" PRIu64, i);
        if (!rd_str(r, &s, &len, what)) return err ? err->code : HD_ERR_FORMAT;
        kv->key = copy_name(r, s, len, "key", (int64_t)i);
        if (!kv->key) return err ? err->code : HD_ERR_FORMAT;
        g->n_kv = (int64_t)i + 1;
        int64_t dup;
        size_t slot;
        INDEX_FIND(&g->kv_index, kv->key, KV_NAME, dup, slot);
        if (dup >= 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: duplicate key '%s'", g->name, kv->key);
        g->kv_index.slots[slot] = (uint32_t)i + 1;
        if (!rd_u32(r, &kv->type, what) || !read_value(r, kv)) return err ? err->code : HD_ERR_FORMAT;
    }

    g->alignment = HD_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = hd_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        if (g->kv[ai].type != HD_GGUF_UINT32)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: general.alignment has type %s, expected u32", g->name,
                                hd_gguf_vtype_name(g->kv[ai].type));
        uint32_t a = ld32(g->kv[ai].val);
        if (a == 0 || (a & (a - 1)) || a > MAX_ALIGNMENT)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: general.alignment %" PRIu32 " is not a power of two <= 2^30", g->name, a);
        g->alignment = a;
    }

    /* tensor infos */
    if (!index_init(&g->tensor_index, (size_t)n_tensors))
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", g->name);
    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&g->tensors, &cap, (size_t)i, sizeof *g->tensors))
            return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", g->name);
        hd_gguf_tensor_info *t = &g->tensors[i];
        const uint8_t *s;
        uint64_t len;
        char what[MAX_NAME_LEN + 48];
        snprintf(what, sizeof what, "tensor %" PRIu64 " name", i);
        if (!rd_str(r, &s, &len, what)) return err ? err->code : HD_ERR_FORMAT;
        char *name = copy_name(r, s, len, "tensor name", (int64_t)i);
        if (!name) return err ? err->code : HD_ERR_FORMAT;
        t->name = name;
        g->n_tensors = (int64_t)i + 1;
        int64_t dup;
        size_t slot;
        INDEX_FIND(&g->tensor_index, name, TENSOR_NAME, dup, slot);
        if (dup >= 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: duplicate tensor '%s'", g->name, name);
        g->tensor_index.slots[slot] = (uint32_t)i + 1;

        snprintf(what, sizeof what, "tensor '%s'", name);
        uint32_t n_dims, type;
        if (!rd_u32(r, &n_dims, what)) return err ? err->code : HD_ERR_FORMAT;
        if (n_dims < 1 || n_dims > HD_MAX_DIMS)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' has %" PRIu32 " dimensions (must be 1..%d)", g->name,
                                name, n_dims, HD_MAX_DIMS);
        t->n_dims = (int)n_dims;
        uint64_t nel = 1;
        for (int d = 0; d < HD_MAX_DIMS; d++) {
            uint64_t v = 1;
            if (d < (int)n_dims && !rd_u64(r, &v, what)) return err ? err->code : HD_ERR_FORMAT;
            if (v < 1 || v > (uint64_t)INT64_MAX)
                return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' dimension %d is %" PRId64 " (must be positive)",
                                    g->name, name, d, (int64_t)v);
            if (nel > (uint64_t)INT64_MAX / v)
                return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' has too many elements (overflow)", g->name, name);
            nel *= v;
            t->ne[d] = (int64_t)v;
        }
        if (!rd_u32(r, &type, what)) return err ? err->code : HD_ERR_FORMAT;
        const ggml_type_info *ti = ggml_type(type);
        if (!ti) return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' has unknown type %" PRIu32, g->name, name, type);
        t->type = (hd_type)type;
        if (t->ne[0] % ti->block)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' of type %s has rows of %" PRId64 " elements, not a multiple of %" PRIu32,
                                g->name, name, ti->name, t->ne[0], ti->block);
        uint64_t blocks = nel / ti->block;
        if (blocks > (uint64_t)SIZE_MAX / ti->size || blocks > g->size / ti->size)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' (%" PRIu64 " elements of %s) is larger than the file",
                                g->name, name, nel, ti->name);
        t->nbytes = (size_t)(blocks * ti->size);
        if (!rd_u64(r, &t->offset, what)) return err ? err->code : HD_ERR_FORMAT;
        if (t->offset % g->alignment)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %zu",
                                g->name, name, t->offset, g->alignment);
    }

    /* the data section starts at the next multiple of the alignment */
    size_t pos = r->pos;
    size_t pad = (g->alignment - (pos & (g->alignment - 1))) & (g->alignment - 1);
    if (n_tensors > 0) {
        if (pad > g->size - pos)
            return hd_error_set(err, HD_ERR_FORMAT, "%s: truncated: data section would start at offset %zu, file has %zu bytes",
                                g->name, pos + pad, g->size);
        g->data_offset = pos + pad;
    } else {
        g->data_offset = pad > g->size - pos ? g->size : pos + pad;
    }
    size_t data_size = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        hd_gguf_tensor_info *t = &g->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return hd_error_set(err, HD_ERR_FORMAT,
                                "%s: tensor '%s' data [%" PRIu64 ", +%zu) runs past the end of the file (data section has %zu bytes)",
                                g->name, t->name, t->offset, t->nbytes, data_size);
        t->data = g->base + g->data_offset + t->offset;
    }
    return HD_OK;
}

static hd_gguf *open_common(const void *data, size_t size, const char *name, hd_mmap *map, hd_error *err) {
    hd_gguf *g = calloc(1, sizeof *g);
    size_t nl = strlen(name) + 1;
    char *nm = malloc(nl);
    if (!g || !nm) {
        free(g);
        free(nm);
        if (map) hd_mmap_close(map);
        hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    memcpy(nm, name, nl);
    g->name = nm;
    if (map) g->map = *map;
    g->base = data;
    g->size = data ? size : 0;
    if (parse(g, err) != HD_OK) {
        /* names from the file may hold control bytes: keep the message one line */
        if (err)
            for (char *m = err->msg; *m; m++)
                if ((unsigned char)*m < 0x20 || *m == 0x7f) *m = '?';
        hd_gguf_close(g);
        return NULL;
    }
    return g;
}

hd_gguf *hd_gguf_open(const char *path, hd_error *err) {
    hd_mmap map;
    if (hd_mmap_open(&map, path, err) != HD_OK) return NULL;
    return open_common(map.data, map.size, path, &map, err);
}

hd_gguf *hd_gguf_open_memory(const void *data, size_t size, const char *name, hd_error *err) {
    return open_common(data, size, name ? name : "<memory>", NULL, err);
}

void hd_gguf_close(hd_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    hd_mmap_close(&g->map);
    free(g->name);
    free(g);
}

const char *hd_gguf_name(const hd_gguf *g) { return g->name; }
uint32_t hd_gguf_version(const hd_gguf *g) { return g->version; }
size_t hd_gguf_alignment(const hd_gguf *g) { return g->alignment; }
size_t hd_gguf_file_size(const hd_gguf *g) { return g->size; }
size_t hd_gguf_data_offset(const hd_gguf *g) { return g->data_offset; }
int64_t hd_gguf_n_kv(const hd_gguf *g) { return g->n_kv; }

static const gguf_kv *kv_at(const hd_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL; }

const char *hd_gguf_kv_key(const hd_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key : NULL;
}

hd_gguf_vtype hd_gguf_kv_type(const hd_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? (hd_gguf_vtype)kv->type : (hd_gguf_vtype)-1;
}

int64_t hd_gguf_find_key(const hd_gguf *g, const char *key) {
    if (!g || !key || !g->kv_index.slots) return -1;
    int64_t idx;
    size_t slot;
    INDEX_FIND(&g->kv_index, key, KV_NAME, idx, slot);
    (void)slot;
    return idx;
}

/* Integer value of a scalar integer/bool element at p of type t. */
static bool int_of(uint32_t t, const uint8_t *p, bool *neg, uint64_t *mag) {
    int64_t s;
    switch (t) {
    case HD_GGUF_UINT8: case HD_GGUF_BOOL: *neg = false; *mag = p[0]; return true;
    case HD_GGUF_UINT16: *neg = false; *mag = ld16(p); return true;
    case HD_GGUF_UINT32: *neg = false; *mag = ld32(p); return true;
    case HD_GGUF_UINT64: *neg = false; *mag = ld64(p); return true;
    case HD_GGUF_INT8: s = (int8_t)p[0]; break;
    case HD_GGUF_INT16: s = (int16_t)ld16(p); break;
    case HD_GGUF_INT32: s = (int32_t)ld32(p); break;
    case HD_GGUF_INT64: s = (int64_t)ld64(p); break;
    default: return false;
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

static bool number_of(uint32_t t, const uint8_t *p, double *out) {
    if (t == HD_GGUF_FLOAT32) {
        uint32_t u = ld32(p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return true;
    }
    if (t == HD_GGUF_FLOAT64) {
        uint64_t u = ld64(p);
        memcpy(out, &u, 8);
        return true;
    }
    bool neg;
    uint64_t mag;
    if (!int_of(t, p, &neg, &mag)) return false;
    *out = neg ? -(double)mag : (double)mag;
    return true;
}

static const gguf_kv *scalar_kv(const hd_gguf *g, const char *key) {
    const gguf_kv *kv = kv_at(g, hd_gguf_find_key(g, key));
    return kv && kv->type != HD_GGUF_ARRAY && kv->type != HD_GGUF_STRING ? kv : NULL;
}

bool hd_gguf_get_u32(const hd_gguf *g, const char *key, uint32_t *out) {
    const gguf_kv *kv = scalar_kv(g, key);
    bool neg;
    uint64_t mag;
    if (!kv || kv->type == HD_GGUF_BOOL || !int_of(kv->type, kv->val, &neg, &mag) || neg || mag > UINT32_MAX) return false;
    *out = (uint32_t)mag;
    return true;
}

bool hd_gguf_get_i64(const hd_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = scalar_kv(g, key);
    bool neg;
    uint64_t mag;
    if (!kv || kv->type == HD_GGUF_BOOL || !int_of(kv->type, kv->val, &neg, &mag)) return false;
    if (!neg && mag > (uint64_t)INT64_MAX) return false;
    if (neg && mag > (uint64_t)INT64_MAX + 1) return false;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

bool hd_gguf_get_u64(const hd_gguf *g, const char *key, uint64_t *out) {
    const gguf_kv *kv = scalar_kv(g, key);
    bool neg;
    uint64_t mag;
    if (!kv || kv->type == HD_GGUF_BOOL || !int_of(kv->type, kv->val, &neg, &mag) || neg) return false;
    *out = mag;
    return true;
}

bool hd_gguf_get_f32(const hd_gguf *g, const char *key, float *out) {
    const gguf_kv *kv = scalar_kv(g, key);
    double d;
    if (!kv || kv->type == HD_GGUF_BOOL || !number_of(kv->type, kv->val, &d)) return false;
    *out = (float)d;
    return true;
}

bool hd_gguf_get_bool(const hd_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = scalar_kv(g, key);
    if (!kv || kv->type != HD_GGUF_BOOL) return false;
    *out = kv->val[0] != 0;
    return true;
}

bool hd_gguf_get_str(const hd_gguf *g, const char *key, const char **s, size_t *len) {
    return hd_gguf_kv_str(g, hd_gguf_find_key(g, key), s, len);
}

bool hd_gguf_kv_number(const hd_gguf *g, int64_t i, double *out) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type != HD_GGUF_ARRAY && kv->type != HD_GGUF_STRING && number_of(kv->type, kv->val, out);
}

bool hd_gguf_kv_str(const hd_gguf *g, int64_t i, const char **s, size_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != HD_GGUF_STRING) return false;
    *s = (const char *)kv->val;
    *len = (size_t)kv->len;
    return true;
}

bool hd_gguf_kv_array(const hd_gguf *g, int64_t i, hd_gguf_vtype *elem_type, uint64_t *n) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != HD_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = (hd_gguf_vtype)kv->elem_type;
    if (n) *n = kv->n;
    return true;
}

bool hd_gguf_arr_str(const hd_gguf *g, int64_t i, uint64_t j, const char **s, size_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != HD_GGUF_ARRAY || kv->elem_type != HD_GGUF_STRING || j >= kv->n) return false;
    const uint8_t *p = kv->val + kv->str_off[j];
    *len = (size_t)ld64(p);
    *s = (const char *)p + 8;
    return true;
}

bool hd_gguf_arr_number(const hd_gguf *g, int64_t i, uint64_t j, double *out) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != HD_GGUF_ARRAY || kv->elem_type == HD_GGUF_STRING || j >= kv->n) return false;
    return number_of(kv->elem_type, kv->val + j * vtype_size(kv->elem_type), out);
}

const void *hd_gguf_arr_data(const hd_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != HD_GGUF_ARRAY || kv->elem_type == HD_GGUF_STRING) return NULL;
    return kv->val;
}

int64_t hd_gguf_n_tensors(const hd_gguf *g) { return g->n_tensors; }

const hd_gguf_tensor_info *hd_gguf_tensor(const hd_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

int64_t hd_gguf_find_tensor(const hd_gguf *g, const char *name) {
    if (!g || !name || !g->tensor_index.slots) return -1;
    int64_t idx;
    size_t slot;
    INDEX_FIND(&g->tensor_index, name, TENSOR_NAME, idx, slot);
    (void)slot;
    return idx;
}

hd_tensor hd_gguf_tensor_view(const hd_gguf *g, int64_t i) {
    hd_tensor t = {0};
    const hd_gguf_tensor_info *ti = hd_gguf_tensor(g, i);
    if (!ti) return t;
    const ggml_type_info *gt = ggml_type((uint32_t)ti->type);
    if (!gt) return t;   /* cannot happen: types are checked at open */
    t.type = ti->type;
    t.n_dims = ti->n_dims;
    t.data = (void *)ti->data;
    t.name = ti->name;
    for (int d = 0; d < HD_MAX_DIMS; d++) t.ne[d] = ti->ne[d];
    t.nb[0] = gt->size;
    t.nb[1] = (size_t)(t.ne[0] / gt->block) * gt->size;
    for (int d = 2; d < HD_MAX_DIMS; d++) t.nb[d] = t.nb[d - 1] * (size_t)t.ne[d - 1];
    return t;
}

/* ---- writer ----------------------------------------------------------------- */

typedef struct wkv {
    char *key;
    uint32_t type;
    uint8_t *val;       /* encoded value (what follows the vtype field) */
    size_t len;
} wkv;

typedef struct wtensor {
    char *name;
    hd_type type;
    int n_dims;
    int64_t ne[HD_MAX_DIMS];
    size_t nbytes;
    const void *data;
    hd_gguf_fill_fn fill;
    void *ctx;
} wtensor;

struct hd_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

hd_gguf_writer *hd_gguf_writer_create(hd_error *err) {
    hd_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) hd_error_set(err, HD_ERR_NOMEM, "gguf writer: out of memory");
    return w;
}

void hd_gguf_writer_free(hd_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    free(w->kv);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

static void st64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void st32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Takes ownership of val (freed on failure). */
static hd_status set_raw(hd_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t len) {
    if (!w || !key || !key[0] || strlen(key) > MAX_NAME_LEN) {
        free(val);
        return HD_ERR_ARG;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return HD_OK;
        }
    }
    size_t kl = strlen(key) + 1;
    char *k = malloc(kl);
    if (!k || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free(val);
        return HD_ERR_NOMEM;
    }
    memcpy(k, key, kl);
    w->kv[w->n_kv++] = (wkv){k, type, val, len};
    return HD_OK;
}

static hd_status set_scalar(hd_gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    size_t n = vtype_size(type);
    uint8_t *v = malloc(8);
    if (!v) return HD_ERR_NOMEM;
    st64(v, bits);
    return set_raw(w, key, type, v, n);
}

hd_status hd_gguf_set_u32(hd_gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, HD_GGUF_UINT32, v); }
hd_status hd_gguf_set_i32(hd_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, HD_GGUF_INT32, (uint32_t)v);
}
hd_status hd_gguf_set_u64(hd_gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, HD_GGUF_UINT64, v); }
hd_status hd_gguf_set_f32(hd_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return set_scalar(w, key, HD_GGUF_FLOAT32, u);
}
hd_status hd_gguf_set_bool(hd_gguf_writer *w, const char *key, bool v) { return set_scalar(w, key, HD_GGUF_BOOL, v ? 1 : 0); }

hd_status hd_gguf_set_str(hd_gguf_writer *w, const char *key, const char *v) {
    if (!v) return HD_ERR_ARG;
    size_t n = strlen(v);
    uint8_t *b = malloc(8 + n);
    if (!b) return HD_ERR_NOMEM;
    st64(b, n);
    memcpy(b + 8, v, n);
    return set_raw(w, key, HD_GGUF_STRING, b, 8 + n);
}

hd_status hd_gguf_set_arr_str(hd_gguf_writer *w, const char *key, const char *const *v, const size_t *lens, uint64_t n) {
    if (n && !v) return HD_ERR_ARG;
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!v[i]) return HD_ERR_ARG;
        size_t l = lens ? lens[i] : strlen(v[i]);
        if (l > SIZE_MAX - total - 8) return HD_ERR_NOMEM;
        total += 8 + l;
    }
    uint8_t *b = malloc(total), *p = b;
    if (!b) return HD_ERR_NOMEM;
    st32(p, HD_GGUF_STRING);
    st64(p + 4, n);
    p += 12;
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(v[i]);
        st64(p, l);
        if (l) memcpy(p + 8, v[i], l);
        p += 8 + l;
    }
    return set_raw(w, key, HD_GGUF_ARRAY, b, total);
}

static hd_status set_arr4(hd_gguf_writer *w, const char *key, uint32_t et, const void *v, uint64_t n) {
    if (n && !v) return HD_ERR_ARG;
    if (n > (SIZE_MAX - 12) / 4) return HD_ERR_NOMEM;
    size_t total = 12 + (size_t)n * 4;
    uint8_t *b = malloc(total);
    if (!b) return HD_ERR_NOMEM;
    st32(b, et);
    st64(b + 4, n);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, (const uint8_t *)v + i * 4, 4);
        st32(b + 12 + i * 4, u);
    }
    return set_raw(w, key, HD_GGUF_ARRAY, b, total);
}

hd_status hd_gguf_set_arr_i32(hd_gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    return set_arr4(w, key, HD_GGUF_INT32, v, n);
}
hd_status hd_gguf_set_arr_f32(hd_gguf_writer *w, const char *key, const float *v, uint64_t n) {
    return set_arr4(w, key, HD_GGUF_FLOAT32, v, n);
}

hd_status hd_gguf_set_raw(hd_gguf_writer *w, const char *key, hd_gguf_vtype type, const void *value, size_t len) {
    if (!vtype_known((uint32_t)type) || (len && !value) || !key) return HD_ERR_ARG;
    /* the bytes must be exactly one well-formed value of that type */
    reader r = {value, len, 0, key, NULL};
    gguf_kv kv = {0};
    kv.key = (char *)key;
    kv.type = (uint32_t)type;
    bool ok = read_value(&r, &kv) && r.pos == len;
    free(kv.str_off);
    if (!ok) return HD_ERR_ARG;
    uint8_t *b = malloc(len ? len : 1);
    if (!b) return HD_ERR_NOMEM;
    if (len) memcpy(b, value, len);
    return set_raw(w, key, (uint32_t)type, b, len);
}

hd_status hd_gguf_copy_kv(hd_gguf_writer *w, const hd_gguf *src, hd_error *err) {
    for (int64_t i = 0; i < src->n_kv; i++) {
        const gguf_kv *kv = &src->kv[i];
        hd_status st = hd_gguf_set_raw(w, kv->key, (hd_gguf_vtype)kv->type, src->base + kv->raw_off, kv->raw_len);
        if (st != HD_OK) return hd_error_set(err, st, "%s: cannot copy key '%s': %s", src->name, kv->key, hd_status_name(st));
    }
    return HD_OK;
}

static hd_status add_tensor(hd_gguf_writer *w, const char *name, hd_type type, int n_dims, const int64_t *ne,
                            const void *data, hd_gguf_fill_fn fill, void *ctx, hd_error *err) {
    if (!w || !name || !name[0])
        return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor name is empty");
    if (strlen(name) >= 64)
        return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor name '%s' is longer than 63 bytes", name);
    const ggml_type_info *ti = (int)type < 0 ? NULL : ggml_type((uint32_t)type);
    if (!ti) return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' has unknown type %d", name, (int)type);
    if (n_dims < 1 || n_dims > HD_MAX_DIMS || !ne)
        return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' has %d dimensions (must be 1..%d)", name, n_dims,
                            HD_MAX_DIMS);
    if (!data && !fill) return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' has no data", name);
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    uint64_t nel = 1;
    for (int d = 0; d < HD_MAX_DIMS; d++) {
        int64_t v = d < n_dims ? ne[d] : 1;
        if (v < 1) return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' dimension %d is %" PRId64, name, d, v);
        if (nel > (uint64_t)INT64_MAX / (uint64_t)v)
            return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' has too many elements", name);
        nel *= (uint64_t)v;
        t.ne[d] = v;
    }
    if (t.ne[0] % ti->block)
        return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' rows of %" PRId64 " are not a multiple of the %s block size %" PRIu32,
                            name, t.ne[0], ti->name, ti->block);
    if (nel / ti->block > SIZE_MAX / ti->size)
        return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' is too large", name);
    t.nbytes = (size_t)(nel / ti->block) * ti->size;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return hd_error_set(err, HD_ERR_ARG, "gguf writer: duplicate tensor '%s'", name);
    size_t nl = strlen(name) + 1;
    t.name = malloc(nl);
    if (!t.name || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(t.name);
        return hd_error_set(err, HD_ERR_NOMEM, "gguf writer: out of memory");
    }
    memcpy(t.name, name, nl);
    t.data = data;
    t.fill = fill;
    t.ctx = ctx;
    w->t[w->n_t++] = t;
    return HD_OK;
}

hd_status hd_gguf_add_tensor(hd_gguf_writer *w, const char *name, hd_type type, int n_dims, const int64_t *ne,
                             const void *data, hd_error *err) {
    if (!data) return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' has no data", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL, err);
}

hd_status hd_gguf_add_tensor_fn(hd_gguf_writer *w, const char *name, hd_type type, int n_dims, const int64_t *ne,
                                hd_gguf_fill_fn fill, void *ctx, hd_error *err) {
    if (!fill) return hd_error_set(err, HD_ERR_ARG, "gguf writer: tensor '%s' has no fill function", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, ctx, err);
}

static void put_str(hd_outfile *o, const char *s) {
    uint8_t b[8];
    size_t n = strlen(s);
    st64(b, n);
    hd_outfile_write(o, b, 8);
    hd_outfile_write(o, s, n);
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

hd_status hd_gguf_writer_write(hd_gguf_writer *w, const char *path, hd_error *err) {
    size_t alignment = HD_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        uint32_t a = w->kv[i].type == HD_GGUF_UINT32 ? ld32(w->kv[i].val) : 0;
        if (a == 0 || (a & (a - 1)) || a > MAX_ALIGNMENT)
            return hd_error_set(err, HD_ERR_ARG, "%s: general.alignment must be a u32 power of two", path);
        alignment = a;
    }
    /* offsets: each tensor padded to the alignment, in the order added */
    uint64_t *offs = malloc((w->n_t ? w->n_t : 1) * sizeof *offs);
    if (!offs) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    size_t off = 0, max_fill = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        offs[i] = off;
        if (w->t[i].nbytes > SIZE_MAX - off - alignment) {
            free(offs);
            return hd_error_set(err, HD_ERR_ARG, "%s: tensor data too large", path);
        }
        off = align_up(off + w->t[i].nbytes, alignment);
        if (w->t[i].fill && w->t[i].nbytes > max_fill) max_fill = w->t[i].nbytes;
    }
    void *buf = NULL;
    if (max_fill && !(buf = malloc(max_fill))) {
        free(offs);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for a %zu-byte tensor", path, max_fill);
    }
    hd_outfile o;
    hd_status st = hd_outfile_open(&o, path, err);
    if (st != HD_OK) {
        free(offs);
        free(buf);
        return st;
    }
    uint8_t b[8];
    hd_outfile_write(&o, "GGUF", 4);
    st32(b, 3);
    hd_outfile_write(&o, b, 4);
    st64(b, w->n_t);
    hd_outfile_write(&o, b, 8);
    st64(b, w->n_kv);
    hd_outfile_write(&o, b, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&o, w->kv[i].key);
        st32(b, w->kv[i].type);
        hd_outfile_write(&o, b, 4);
        hd_outfile_write(&o, w->kv[i].val, w->kv[i].len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&o, t->name);
        st32(b, (uint32_t)t->n_dims);
        hd_outfile_write(&o, b, 4);
        for (int d = 0; d < t->n_dims; d++) {
            st64(b, (uint64_t)t->ne[d]);
            hd_outfile_write(&o, b, 8);
        }
        st32(b, (uint32_t)t->type);
        hd_outfile_write(&o, b, 4);
        st64(b, offs[i]);
        hd_outfile_write(&o, b, 8);
    }
    hd_outfile_pad(&o, alignment);
    for (size_t i = 0; i < w->n_t && st == HD_OK; i++) {
        const wtensor *t = &w->t[i];
        const void *src = t->data;
        if (t->fill) {
            hd_error_clear(err);
            st = t->fill(t->ctx, buf, t->nbytes, err);
            if (st != HD_OK) {
                if (err && !err->msg[0]) hd_error_set(err, st, "%s: producing tensor '%s' failed", path, t->name);
                break;
            }
            src = buf;
        }
        hd_outfile_write(&o, src, t->nbytes);
        hd_outfile_pad(&o, alignment);
    }
    free(offs);
    free(buf);
    if (st != HD_OK) {
        hd_outfile_abort(&o);
        return st;
    }
    return hd_outfile_commit(&o, err);
}
