/* tests/parity/runner_io.c — file handling for parity runners (see runner_io.h). */
#include "runner_io.h"

#include "core/arena.h"
#include "core/safetensors.h"
#include "core/threadpool.h"
#include "core/types.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PR_MAX_OUTPUTS 64

typedef struct {
    const char *name;
    hd_tensor t;
} pr_out;

struct pr_io {
    hd_safetensors *in;
    const char *in_path;
    void **allocs;
    size_t n_allocs, cap_allocs;
    pr_out outs[PR_MAX_OUTPUTS];
    int n_outs;
    bool oom;
    hd_exec ex;
};

static void *pr_alloc(pr_io *io, size_t bytes) {
    if (io->n_allocs == io->cap_allocs) {
        size_t cap = io->cap_allocs ? 2 * io->cap_allocs : 32;
        void **p = realloc(io->allocs, cap * sizeof *p);
        if (!p) return NULL;
        io->allocs = p;
        io->cap_allocs = cap;
    }
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) return NULL;
    memset(p, 0, n ? n : 64);
    io->allocs[io->n_allocs++] = p;
    return p;
}

bool pr_has_input(pr_io *io, const char *name) { return hd_safetensors_find(io->in, name) >= 0; }

int pr_input_type(pr_io *io, const char *name) {
    int64_t i = hd_safetensors_find(io->in, name);
    if (i < 0) return -1;
    const char *dt = hd_safetensors_tensor(io->in, i)->dtype;
    return strcmp(dt, "F32") == 0 ? HD_TYPE_F32 : strcmp(dt, "F16") == 0 ? HD_TYPE_F16 : -1;
}

static const hd_st_tensor *find(pr_io *io, const char *name, hd_error *err) {
    int64_t i = hd_safetensors_find(io->in, name);
    if (i < 0) {
        hd_error_set(err, HD_ERR_NOTFOUND, "%s: no input tensor %s", io->in_path, name);
        return NULL;
    }
    return hd_safetensors_tensor(io->in, i);
}

static int64_t count_of(const hd_st_tensor *st) {
    int64_t n = 1;
    for (int i = 0; i < st->n_dims; i++) n *= st->shape[i];
    return n;
}

hd_status pr_input(pr_io *io, const char *name, hd_type want, hd_tensor *t, hd_error *err) {
    const hd_st_tensor *st = find(io, name, err);
    if (!st) return err ? err->code : HD_ERR_NOTFOUND;
    if (st->n_dims < 1 || st->n_dims > HD_MAX_DIMS)
        return hd_error_set(err, HD_ERR_SHAPE, "%s: %s has %d dimensions, runners take 1..4", io->in_path, name,
                            st->n_dims);
    bool f32 = strcmp(st->dtype, "F32") == 0, f16 = strcmp(st->dtype, "F16") == 0;
    if (!((want == HD_TYPE_F32 && (f32 || f16)) || (want == HD_TYPE_F16 && f16)))
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %s is %s, cannot read it as %s", io->in_path, name,
                            st->dtype, hd_type_name(want));
    int64_t ne[HD_MAX_DIMS];
    for (int i = 0; i < st->n_dims; i++) ne[i] = st->shape[st->n_dims - 1 - i];
    const int64_t n = count_of(st);
    void *data = pr_alloc(io, (size_t)n * (want == HD_TYPE_F32 ? 4 : 2));
    if (!data) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %s", io->in_path, name);
    if (want == HD_TYPE_F32 && f16) {
        const unsigned char *src = st->data;
        for (int64_t i = 0; i < n; i++) {
            hd_f16 h;
            memcpy(&h, src + 2 * i, 2);
            ((float *)data)[i] = hd_f16_to_f32(h);
        }
    } else {
        memcpy(data, st->data, st->nbytes);
    }
    *t = hd_tensor_view(want, st->n_dims, ne, data);
    t->name = st->name;
    return HD_OK;
}

hd_status pr_input_i32(pr_io *io, const char *name, const int32_t **v, int64_t *n, hd_error *err) {
    const hd_st_tensor *st = find(io, name, err);
    if (!st) return err ? err->code : HD_ERR_NOTFOUND;
    const int64_t cnt = count_of(st);
    int32_t *out = pr_alloc(io, (size_t)cnt * sizeof *out);
    if (!out) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for %s", io->in_path, name);
    const unsigned char *src = st->data;
    if (strcmp(st->dtype, "I32") == 0) {
        memcpy(out, src, (size_t)cnt * 4);
    } else if (strcmp(st->dtype, "I64") == 0) {
        for (int64_t i = 0; i < cnt; i++) {
            int64_t x;
            memcpy(&x, src + 8 * i, 8);
            if (x < INT32_MIN || x > INT32_MAX)
                return hd_error_set(err, HD_ERR_FORMAT, "%s: %s[%lld] = %lld does not fit in int32", io->in_path, name,
                                    (long long)i, (long long)x);
            out[i] = (int32_t)x;
        }
    } else {
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %s is %s, expected I32 or I64", io->in_path, name, st->dtype);
    }
    *v = out;
    *n = cnt;
    return HD_OK;
}

static const char *meta_get(pr_io *io, const char *key) {
    for (int64_t i = 0; i < hd_safetensors_n_meta(io->in); i++) {
        const char *k, *v;
        if (hd_safetensors_meta(io->in, i, &k, &v) && strcmp(k, key) == 0) return v;
    }
    return NULL;
}

const char *pr_meta_str(pr_io *io, const char *key, const char *def) {
    const char *v = meta_get(io, key);
    return v ? v : def;
}

hd_status pr_meta_f64(pr_io *io, const char *key, double def, double *v, hd_error *err) {
    const char *s = meta_get(io, key);
    if (!s) {
        *v = def;
        return HD_OK;
    }
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: metadata %s = \"%s\" is not a number", io->in_path, key, s);
    *v = x;
    return HD_OK;
}

hd_status pr_meta_i64(pr_io *io, const char *key, int64_t def, int64_t *v, hd_error *err) {
    const char *s = meta_get(io, key);
    if (!s) {
        *v = def;
        return HD_OK;
    }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: metadata %s = \"%s\" is not an integer", io->in_path, key, s);
    *v = x;
    return HD_OK;
}

hd_tensor pr_temp(pr_io *io, int n_dims, const int64_t *ne) {
    hd_tensor t = hd_tensor_view(HD_TYPE_F32, n_dims, ne, NULL);
    t.data = pr_alloc(io, (size_t)hd_tensor_nelements(&t) * sizeof(float));
    if (!t.data) io->oom = true;
    return t;
}

hd_tensor pr_output(pr_io *io, const char *name, int n_dims, const int64_t *ne) {
    hd_tensor t = pr_temp(io, n_dims, ne);
    if (io->n_outs == PR_MAX_OUTPUTS) {
        io->oom = true;
        t.data = NULL;
        return t;
    }
    t.name = name;
    io->outs[io->n_outs].name = name;
    io->outs[io->n_outs].t = t;
    io->n_outs++;
    return t;
}

hd_exec *pr_exec(pr_io *io) { return &io->ex; }

static hd_status write_outputs(pr_io *io, const char *path, hd_error *err) {
    hd_st_writer *w = hd_st_writer_create(err);
    if (!w) return err ? err->code : HD_ERR_NOMEM;
    hd_status st = HD_OK;
    for (int i = 0; i < io->n_outs && !st; i++) {
        const hd_tensor *t = &io->outs[i].t;
        int64_t shape[HD_MAX_DIMS];
        for (int d = 0; d < t->n_dims; d++) shape[d] = t->ne[t->n_dims - 1 - d];
        st = hd_st_writer_add(w, io->outs[i].name, HD_TYPE_F32, t->n_dims, shape, t->data, err);
    }
    if (!st) st = hd_st_writer_write(w, path, err);
    hd_st_writer_free(w);
    return st;
}

static long env_long(const char *name, long def, long lo, long hi) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < lo || v > hi ? def : v;
}

int pr_main(int argc, char **argv, const pr_case *cases) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN.safetensors OUT.safetensors\n", argv[0]);
        return 2;
    }
    hd_error err = {0};
    pr_io io = {0};
    io.in_path = argv[1];
    io.ex.backend = HD_BACKEND_CPU;
    hd_arena *arena = NULL;
    int rc = 1;
    io.in = hd_safetensors_open(argv[1], &err);
    if (!io.in) goto out;
    long threads = env_long("HERD_THREADS", 1, 1, 256);
    if (threads > 1 && !(io.ex.pool = hd_threadpool_create((int)threads, &err))) goto out;
    long mb = env_long("HERD_PARITY_SCRATCH_MB", 256, 0, 1 << 16);
    if (mb > 0 && !(io.ex.scratch = arena = hd_arena_create((size_t)mb << 20, &err))) goto out;
    const char *name = pr_meta_str(&io, "case", NULL);
    if (!name) {
        hd_error_set(&err, HD_ERR_FORMAT, "%s: no \"case\" in the metadata", argv[1]);
        goto out;
    }
    const pr_case *c = cases;
    while (c->name && strcmp(c->name, name) != 0) c++;
    if (!c->name) {
        hd_error_set(&err, HD_ERR_NOTFOUND, "%s: this runner has no case %s", argv[1], name);
        goto out;
    }
    hd_status st = c->run(&io, &err);
    if (!st && io.oom) st = hd_error_set(&err, HD_ERR_NOMEM, "case %s: out of memory for outputs", name);
    if (!st) st = write_outputs(&io, argv[2], &err);
    if (st) {
        hd_error_prefix(&err, "case %s", name);
        goto out;
    }
    rc = 0;
out:
    if (rc) fprintf(stderr, "%s: %s\n", argv[0], err.msg[0] ? err.msg : "failed");
    hd_threadpool_free(io.ex.pool);
    hd_arena_free(arena);
    hd_safetensors_close(io.in);
    for (size_t i = 0; i < io.n_allocs; i++) free(io.allocs[i]);
    free(io.allocs);
    return rc;
}
