/* lm/random_model.c — the counter-based generator, the architecture table and
 * the shared GGUF / safetensors writers (see random_model.h, random_model_impl.h). */
#include "random_model_impl.h"

#include "core/mmap.h"
#include "core/quant.h"
#include "core/threadpool.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- architectures ------------------------------------------------------- */

extern const hd_rm_arch hd_rm_arch_speech;             /* lm/random_model_speech.c */
extern const hd_rm_arch hd_rm_arch_video_aggregator;   /* vision/random_model_video.c */
extern const hd_rm_arch hd_rm_arch_video;              /* vision/random_model_video.c */
extern const hd_rm_arch hd_rm_arch_prosody;            /* speech/prosody_random.c */
extern const hd_rm_arch hd_rm_arch_tn;                 /* speech/tn_random.c */
extern const hd_rm_arch hd_rm_arch_granite_speech;     /* lm/random_model_granite.c */
extern const hd_rm_arch hd_rm_arch_ultravox;           /* lm/random_model_ultravox.c */
extern const hd_rm_arch hd_rm_arch_tts;                /* speech/tts_random.c */

static const hd_rm_arch *const k_archs[] = {&hd_rm_arch_llama,          &hd_rm_arch_conformer, &hd_rm_arch_mllama,
                                            &hd_rm_arch_mllama_vision,  &hd_rm_arch_speech,
                                            &hd_rm_arch_video_aggregator, &hd_rm_arch_video, &hd_rm_arch_prosody,
                                            &hd_rm_arch_tn, &hd_rm_arch_tts, &hd_rm_arch_ultravox,
                                            &hd_rm_arch_granite_speech};
#define N_ARCHS (sizeof k_archs / sizeof k_archs[0])
static const char *const k_arch_names[N_ARCHS + 1] = {"llama",  "conformer",        "mllama", "mllama-vision",
                                                      "speech", "video-aggregator", "video",  "prosody",
                                                      "tn",     "tts",              "ultravox", "granite-speech",
                                                      NULL};

const char *const *hd_random_model_arch_names(void) { return k_arch_names; }

static const hd_rm_arch *find_arch(const char *name) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (strcmp(k_archs[i]->name, name) == 0) return k_archs[i];
    return NULL;
}

const char *const *hd_random_model_preset_names(const char *arch) {
    const hd_rm_arch *a = arch ? find_arch(arch) : NULL;
    return a ? a->presets() : NULL;
}

hd_random_model_params hd_random_model_default_params(void) {
    hd_random_model_params p = {
        .arch = "llama",
        .preset = "tiny",
        .format = HD_RM_GGUF,
        .type = HD_TYPE_F32,
        .seed = 0,
        .n_vocab = 0,
        .tokenizer = NULL,
        .max_shard_bytes = 5000000000ull,
        .n_threads = 0,
        .dry_run = false,
        .progress = NULL,
        .file_done = NULL,
        .progress_ctx = NULL,
    };
    return p;
}

hd_status hd_random_model_write(const hd_random_model_params *p, const char *path, hd_error *err) {
    if (!p || !path || !*path) return hd_error_set(err, HD_ERR_ARG, "random model: no output path");
    const hd_rm_arch *a = find_arch(p->arch ? p->arch : "");
    if (!a) return hd_error_set(err, HD_ERR_ARG, "unknown architecture \"%s\"", p->arch ? p->arch : "");
    if (p->max_shard_bytes == 0) return hd_error_set(err, HD_ERR_ARG, "shard size must be positive");
    return a->write(p, path, err);
}

/* ---- the generator ------------------------------------------------------- */

#define GOLDEN 0x9E3779B97F4A7C15ull

/* SplitMix64's finaliser: a bijective 64-bit mix. */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The stream of a tensor: seed and name hashed together. */
static uint64_t stream_of(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) h = (h ^ *s) * 1099511628211ull;
    return mix64(mix64(seed) ^ mix64(h + GOLDEN));
}

/* Elements 2j and 2j+1 of a stream: SplitMix64 output j, Box–Muller on its
 * two 24-bit halves (the cosine and the sine branch). */
static inline void normal_pair(uint64_t stream, uint64_t j, float *z0, float *z1) {
    const uint64_t r = mix64(stream + (j + 1) * GOLDEN);
    const double u1 = (double)((r >> 40) + 1) * (1.0 / 16777216.0);      /* (0, 1] */
    const double u2 = (double)(r & 0xFFFFFFu) * (1.0 / 16777216.0);      /* [0, 1) */
    const double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    *z0 = (float)(rad * cos(th));
    *z1 = (float)(rad * sin(th));
}

static inline float normal_at(uint64_t stream, uint64_t i) {
    float z0, z1;
    normal_pair(stream, i >> 1, &z0, &z1);
    return i & 1 ? z1 : z0;
}

float hd_random_model_value(uint64_t seed, const char *hf_name, uint64_t index) {
    return normal_at(stream_of(seed, hf_name), index);
}

/* ---- plans --------------------------------------------------------------- */

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

hd_status hd_rm_plan_add(hd_rm_plan *plan, const char *hf_name, const char *gguf_name, int n_dims,
                         const int64_t *shape, hd_rm_init init, float std, int rope_heads, const float *data,
                         hd_error *err) {
    bool ok = n_dims >= 1 && n_dims <= HD_RM_MAX_DIMS && (hf_name || gguf_name);
    int64_t rows = 1;
    for (int i = 0; ok && i < n_dims; i++) {
        ok = shape[i] > 0 && shape[i] <= (INT64_C(1) << 40) / rows;
        if (ok && i < n_dims - 1) rows *= shape[i];
    }
    if (!ok) return hd_error_set(err, HD_ERR_INTERNAL, "random model: bad tensor description");
    if (rope_heads > 0 && (n_dims != 2 || shape[0] % (2 * rope_heads)))
        return hd_error_set(err, HD_ERR_INTERNAL, "random model: %s rows do not split into %d RoPE heads",
                            hf_name ? hf_name : gguf_name, rope_heads);
    if (plan->n == plan->cap) {
        int nc = plan->cap ? plan->cap * 2 : 64;
        hd_rm_tensor *nt = realloc(plan->t, (size_t)nc * sizeof *nt);
        if (!nt) return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
        plan->t = nt, plan->cap = nc;
    }
    hd_rm_tensor *t = &plan->t[plan->n];
    memset(t, 0, sizeof *t);
    t->n_dims = n_dims;
    for (int i = 0; i < HD_RM_MAX_DIMS; i++) t->shape[i] = i < n_dims ? shape[i] : 1;
    t->rows = rows;
    t->cols = shape[n_dims - 1];
    t->init = init;
    t->std = std;
    t->rope_heads = rope_heads;
    t->hf_name = dup_or_null(hf_name);
    t->gguf_name = dup_or_null(gguf_name);
    bool oom = (hf_name && !t->hf_name) || (gguf_name && !t->gguf_name);
    if (init == HD_RM_INIT_DATA) {
        size_t n = (size_t)(t->rows * t->cols);
        t->data = malloc(n * sizeof(float));
        if (t->data && data) memcpy(t->data, data, n * sizeof(float));
        oom = oom || !t->data || !data;
    }
    if (oom) {
        free(t->hf_name), free(t->gguf_name), free(t->data);
        return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
    }
    plan->n++;
    return HD_OK;
}

void hd_rm_plan_free(hd_rm_plan *plan) {
    if (!plan) return;
    for (int i = 0; i < plan->n; i++) free(plan->t[i].hf_name), free(plan->t[i].gguf_name), free(plan->t[i].data);
    free(plan->t);
    memset(plan, 0, sizeof *plan);
}

/* ---- types --------------------------------------------------------------- */

uint32_t hd_rm_file_type(hd_type type) {
    switch (type) {
    case HD_TYPE_F32: return 0;   /* LLAMA_FTYPE_ALL_F32       */
    case HD_TYPE_F16: return 1;   /* LLAMA_FTYPE_MOSTLY_F16    */
    case HD_TYPE_Q4_0: return 2;  /* LLAMA_FTYPE_MOSTLY_Q4_0   */
    case HD_TYPE_Q8_0: return 7;  /* LLAMA_FTYPE_MOSTLY_Q8_0   */
    case HD_TYPE_Q4_K: return 15; /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    case HD_TYPE_BF16: return 32; /* LLAMA_FTYPE_MOSTLY_BF16   */
    default: return 0;
    }
}

/* The type tensor t gets in format f. */
static hd_type tensor_type(const hd_rm_tensor *t, hd_rm_format f, hd_type type) {
    if (f == HD_RM_GGUF && (t->n_dims == 1 || t->init == HD_RM_INIT_DATA)) return HD_TYPE_F32;
    if (f == HD_RM_GGUF && t->gguf_f16_if_blocked && hd_type_get(type)->block_size > 1) return HD_TYPE_F16;
    return type;
}

hd_status hd_rm_check_type(const hd_rm_plan *plan, const hd_random_model_params *p, hd_error *err) {
    const hd_type T = p->type;
    const bool gguf_ok = T == HD_TYPE_F32 || T == HD_TYPE_F16 || T == HD_TYPE_BF16 || T == HD_TYPE_Q8_0 ||
                         T == HD_TYPE_Q4_0 || T == HD_TYPE_Q4_K;
    const bool hf_ok = T == HD_TYPE_F32 || T == HD_TYPE_F16 || T == HD_TYPE_BF16;
    if (p->format == HD_RM_HF ? !hf_ok : !gguf_ok)
        return hd_error_set(err, HD_ERR_ARG, "type %s cannot be written to %s (use %s)", hd_type_name(T),
                            p->format == HD_RM_HF ? "safetensors" : "GGUF",
                            p->format == HD_RM_HF ? "F32, F16 or BF16" : "F32, F16, BF16, Q8_0, Q4_0 or Q4_K");
    const size_t block = hd_type_get(T)->block_size;
    for (int i = 0; i < plan->n; i++) {
        const hd_rm_tensor *t = &plan->t[i];
        if (p->format == HD_RM_GGUF && !t->gguf_name) continue;
        if (p->format == HD_RM_HF && !t->hf_name) continue;
        if (tensor_type(t, p->format, T) != T) continue;
        if (t->cols % (int64_t)block)
            return hd_error_set(err, HD_ERR_ARG,
                                "type %s needs rows that are multiples of %zu, tensor %s has rows of %" PRId64
                                " (choose another --type or a larger preset)",
                                hd_type_name(T), block, p->format == HD_RM_GGUF ? t->gguf_name : t->hf_name,
                                t->cols);
    }
    return HD_OK;
}

/* ---- filling tensors ----------------------------------------------------- */

typedef struct fill_job {
    const hd_rm_tensor *t;
    uint64_t stream;
    hd_type type;
    bool gguf_layout;        /* apply the RoPE row permutation */
    hd_type round_to;        /* F16/BF16: values pass through this type first (else F32) */
    size_t row_bytes;
    uint8_t *dst;
    float *scratch;          /* [n_threads][cols] */
} fill_job;

/* HF row that GGUF row r holds (convert_hf_to_gguf LlamaModel.permute):
 * within a head of d rows, GGUF row 2i + p = HF row p·d/2 + i. */
static int64_t hf_row_of(const hd_rm_tensor *t, int64_t r) {
    const int64_t d = t->rows / t->rope_heads, h = r / d, j = r % d;
    return h * d + (j % 2) * (d / 2) + j / 2;
}

static void fill_rows(void *ctx, int64_t begin, int64_t end, int thread_id) {
    const fill_job *job = ctx;
    const hd_rm_tensor *t = job->t;
    const int64_t cols = t->cols;
    float *row = job->scratch + (size_t)thread_id * (size_t)cols;
    for (int64_t r = begin; r < end; r++) {
        const int64_t hr = job->gguf_layout && t->rope_heads > 0 ? hf_row_of(t, r) : r;
        if (t->init == HD_RM_INIT_DATA) {
            memcpy(row, t->data + hr * cols, (size_t)cols * sizeof(float));
        } else if (t->init == HD_RM_INIT_SOURCE) {
            const size_t src_row = hd_type_row_size(t->src_type, cols);
            hd_dequantize_row(t->src_type, (const uint8_t *)t->src + (size_t)hr * src_row, row, cols);
        } else {
            const uint64_t base = (uint64_t)(hr * cols);
            const float add = t->init == HD_RM_INIT_NORM ? 1.0f : 0.0f;
            int64_t c = 0;
            if (base & 1) row[c] = add + t->std * normal_at(job->stream, base), c++;
            for (; c + 1 < cols; c += 2) {
                float z0, z1;
                normal_pair(job->stream, (base + (uint64_t)c) >> 1, &z0, &z1);
                row[c] = add + t->std * z0;
                row[c + 1] = add + t->std * z1;
            }
            if (c < cols) row[c] = add + t->std * normal_at(job->stream, base + (uint64_t)c);
            if (job->round_to == HD_TYPE_F16)
                for (int64_t k = 0; k < cols; k++) row[k] = hd_f16_to_f32(hd_f32_to_f16(row[k]));
            else if (job->round_to == HD_TYPE_BF16)
                for (int64_t k = 0; k < cols; k++) row[k] = hd_bf16_to_f32(hd_f32_to_bf16(row[k]));
        }
        uint8_t *out = job->dst + (size_t)r * job->row_bytes;
        if (job->type == HD_TYPE_F32) memcpy(out, row, (size_t)cols * sizeof(float));
        else hd_quantize_row(job->type, row, out, cols);
    }
}

/* Produces tensor t in `type` into dst (its whole size).  model_type is the
 * checkpoint's --type: a GGUF F32 tensor (norm) of an F16/BF16 model holds the
 * values rounded to that type, as convert_hf_to_gguf.py makes it from the HF
 * checkpoint of that dtype (it widens norms to F32 exactly), so both formats
 * hold the same numbers. */
static hd_status fill_tensor(const hd_rm_tensor *t, uint64_t seed, hd_type type, hd_type model_type,
                             bool gguf_layout, hd_threadpool *tp, void *dst, size_t nbytes, hd_error *err) {
    const int64_t cols = t->cols;
    const size_t row_bytes = hd_type_row_size(type, cols);
    if (row_bytes == 0 || row_bytes * (size_t)t->rows != nbytes)
        return hd_error_set(err, HD_ERR_INTERNAL, "random model: %s: %zu bytes asked, %zu expected",
                            t->hf_name ? t->hf_name : t->gguf_name, nbytes, row_bytes * (size_t)t->rows);
    const int nt = hd_threadpool_size(tp);
    fill_job job = {
        .t = t,
        .stream = stream_of(seed, t->hf_name ? t->hf_name : t->gguf_name),
        .type = type,
        .gguf_layout = gguf_layout,
        .round_to = type == HD_TYPE_F32 && (model_type == HD_TYPE_F16 || model_type == HD_TYPE_BF16) ? model_type
                                                                                                   : HD_TYPE_F32,
        .row_bytes = row_bytes,
        .dst = dst,
        .scratch = malloc((size_t)nt * (size_t)cols * sizeof(float)),
    };
    if (!job.scratch) return hd_error_set(err, HD_ERR_NOMEM, "random model: out of memory");
    const int64_t grain = cols >= 4096 ? 4 : 4096 / cols + 1;
    hd_parallel_for(tp, t->rows, grain, fill_rows, &job);
    free(job.scratch);
    return HD_OK;
}

/* ---- HF shard layout (transformers save_pretrained, max_shard_size) -------- */

/* shard[i] for each plan tensor with an HF name (-1 otherwise); returns the
 * number of shards.  huggingface_hub's split_torch_state_dict_into_shards, in
 * state_dict order: a tensor larger than the limit becomes a shard of its own
 * at once; a tensor that would push the current shard past the limit closes
 * it; shards are numbered in the order they are closed. */
static int hf_shards(const hd_rm_plan *plan, size_t elem_bytes, uint64_t max_bytes, int *shard) {
    enum { OPEN = -2 };
    int ns = 0;
    uint64_t cur = 0;
    bool open = false;
    for (int i = 0; i < plan->n; i++) {
        const hd_rm_tensor *t = &plan->t[i];
        shard[i] = -1;
        if (!t->hf_name) continue;
        const uint64_t sz = (uint64_t)(t->rows * t->cols) * elem_bytes;
        if (sz > max_bytes) {
            shard[i] = ns++;
            continue;
        }
        if (open && cur + sz > max_bytes) {
            for (int j = 0; j < i; j++)
                if (shard[j] == OPEN) shard[j] = ns;
            ns++;
            open = false;
        }
        if (!open) open = true, cur = 0;
        shard[i] = OPEN;
        cur += sz;
    }
    if (open) {
        for (int j = 0; j < plan->n; j++)
            if (shard[j] == OPEN) shard[j] = ns;
        ns++;
    }
    return ns;
}

typedef struct name_ref {
    const char *name;
    int index;
} name_ref;

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

/* Plan indices of shard s, sorted by HF name (safetensors sorts a file's tensors so). */
static int shard_members(const hd_rm_plan *plan, const int *shard, int s, name_ref *out) {
    int n = 0;
    for (int i = 0; i < plan->n; i++)
        if (shard[i] == s) out[n].name = plan->t[i].hf_name, out[n].index = i, n++;
    qsort(out, (size_t)n, sizeof *out, cmp_name);
    return n;
}

/* ---- GGUF ---------------------------------------------------------------- */

typedef struct gguf_fill_ctx {
    const hd_rm_tensor *t;
    const hd_random_model_params *p;
    hd_type type;
    hd_threadpool *tp;
    int index, total;
} gguf_fill_ctx;

static hd_status gguf_fill(void *ctx, void *dst, size_t nbytes, hd_error *err) {
    const gguf_fill_ctx *c = ctx;
    hd_status st = fill_tensor(c->t, c->p->seed, c->type, c->p->type, true, c->tp, dst, nbytes, err);
    if (st == HD_OK && c->p->progress) c->p->progress(c->p->progress_ctx, c->index + 1, c->total, c->t->gguf_name);
    return st;
}

hd_status hd_rm_write_gguf(const hd_rm_plan *plan, const hd_random_model_params *p, hd_gguf_writer *w,
                           const char *path, hd_error *err) {
    hd_status st = hd_rm_check_type(plan, p, err);
    if (st) return st;
    int *shard = malloc((size_t)plan->n * sizeof *shard);
    name_ref *refs = malloc((size_t)plan->n * sizeof *refs);
    int *order = malloc((size_t)plan->n * sizeof *order);
    gguf_fill_ctx *ctx = calloc((size_t)plan->n, sizeof *ctx);
    hd_threadpool *tp = NULL;
    if (!shard || !refs || !order || !ctx) {
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (!(tp = hd_threadpool_create(p->dry_run ? 1 : p->n_threads, err))) {
        st = err ? err->code : HD_ERR_NOMEM;
        goto done;
    }
    /* convert_hf_to_gguf order: generated tensors, then each (BF16) shard of the checkpoint */
    int n = 0;
    for (int i = 0; i < plan->n; i++)
        if (!plan->t[i].hf_name && plan->t[i].gguf_name) order[n++] = i;
    bool sourced = false;
    int ns = 0;
    for (int i = 0; i < plan->n; i++) sourced = sourced || plan->t[i].init == HD_RM_INIT_SOURCE;
    if (sourced) {
        for (int i = 0; i < plan->n; i++) {
            const hd_rm_tensor *t = &plan->t[i];
            shard[i] = t->hf_name && t->init == HD_RM_INIT_SOURCE ? t->src_shard : -1;
            if (shard[i] >= ns) ns = shard[i] + 1;
        }
    } else {
        ns = hf_shards(plan, 2, p->max_shard_bytes, shard);
    }
    for (int s = 0; s < ns; s++) {
        const int m = shard_members(plan, shard, s, refs);
        for (int k = 0; k < m; k++)
            if (plan->t[refs[k].index].gguf_name) order[n++] = refs[k].index;
    }
    uint64_t data_bytes = 0;
    for (int k = 0; k < n && st == HD_OK; k++) {
        const hd_rm_tensor *t = &plan->t[order[k]];
        ctx[k] = (gguf_fill_ctx){.t = t, .p = p, .type = tensor_type(t, HD_RM_GGUF, p->type), .tp = tp,
                                 .index = k, .total = n};
        data_bytes += hd_type_row_size(ctx[k].type, t->cols) * (uint64_t)t->rows;
        int64_t ne[HD_RM_MAX_DIMS];   /* ggml order: ne[0] = the innermost (PyTorch last) dim */
        for (int i = 0; i < t->n_dims; i++) ne[i] = t->shape[t->n_dims - 1 - i];
        st = hd_gguf_add_tensor_fn(w, t->gguf_name, ctx[k].type, t->n_dims, ne, gguf_fill, &ctx[k], err);
    }
    if (st == HD_OK && !p->dry_run) st = hd_gguf_writer_write(w, path, err);
    if (st == HD_OK && p->file_done) p->file_done(p->progress_ctx, path, n, data_bytes);
done:
    hd_threadpool_free(tp);
    free(shard), free(refs), free(order), free(ctx);
    return st;
}

/* ---- safetensors --------------------------------------------------------- */

static hd_status write_index(const hd_rm_plan *plan, const int *shard, int ns, uint64_t total, size_t elem_bytes,
                             const char *dir, hd_error *err) {
    name_ref *refs = malloc((size_t)plan->n * sizeof *refs);
    if (!refs) return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    int n = 0;
    for (int i = 0; i < plan->n; i++)
        if (shard[i] >= 0) refs[n].name = plan->t[i].hf_name, refs[n].index = i, n++;
    qsort(refs, (size_t)n, sizeof *refs, cmp_name);
    (void)elem_bytes;
    size_t cap = 256 + (size_t)n * 200;
    char *text = malloc(cap);
    if (!text) {
        free(refs);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
    }
    size_t o = (size_t)snprintf(text, cap, "{\n  \"metadata\": {\n    \"total_size\": %" PRIu64 "\n  },\n"
                                           "  \"weight_map\": {\n", total);
    for (int k = 0; k < n && o < cap; k++)
        o += (size_t)snprintf(text + o, cap - o, "    \"%s\": \"model-%05d-of-%05d.safetensors\"%s\n", refs[k].name,
                              shard[refs[k].index] + 1, ns, k + 1 < n ? "," : "");
    if (o < cap) o += (size_t)snprintf(text + o, cap - o, "  }\n}\n");
    hd_status st = o < cap ? hd_rm_write_text(dir, "model.safetensors.index.json", text, err)
                           : hd_error_set(err, HD_ERR_INTERNAL, "%s: index text overflow", dir);
    free(text);
    free(refs);
    return st;
}

/* The safetensors header of one shard (the layout core/safetensors.c's writer
 * makes: "format": "pt" metadata, tensors in name order, data offsets in that
 * order, padded with spaces so the data start 8-aligned).  Caller frees. */
static char *shard_header(const hd_rm_plan *plan, const name_ref *refs, int m, hd_type type, size_t *len) {
    const char *dtype = type == HD_TYPE_F16 ? "F16" : type == HD_TYPE_BF16 ? "BF16" : "F32";
    const size_t elem = hd_type_get(type)->type_size;
    size_t cap = 64;
    for (int k = 0; k < m; k++) cap += strlen(refs[k].name) + 160;
    char *h = malloc(cap);
    if (!h) return NULL;
    size_t o = (size_t)snprintf(h, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int k = 0; k < m; k++) {
        const hd_rm_tensor *t = &plan->t[refs[k].index];
        o += (size_t)snprintf(h + o, cap - o, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->hf_name, dtype);
        for (int d = 0; d < t->n_dims; d++) o += (size_t)snprintf(h + o, cap - o, d ? ",%" PRId64 : "%" PRId64, t->shape[d]);
        const uint64_t end = off + (uint64_t)(t->rows * t->cols) * elem;
        o += (size_t)snprintf(h + o, cap - o, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, end);
        off = end;
    }
    o += (size_t)snprintf(h + o, cap - o, "}");
    while (o % 8 && o + 1 < cap) h[o++] = ' ';
    h[o] = '\0';
    *len = o;
    return h;
}

/* HF names are plain identifiers; anything that would need JSON escaping is refused. */
static bool plain_names(const hd_rm_plan *plan) {
    for (int i = 0; i < plan->n; i++)
        for (const char *c = plan->t[i].hf_name; c && *c; c++)
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) return false;
    return true;
}

hd_status hd_rm_write_hf_weights(const hd_rm_plan *plan, const hd_random_model_params *p, const char *dir,
                                 hd_error *err) {
    hd_status st = hd_rm_check_type(plan, p, err);
    if (st) return st;
    if (!plain_names(plan)) return hd_error_set(err, HD_ERR_INTERNAL, "%s: a tensor name needs escaping", dir);
    const size_t elem = hd_type_get(p->type)->type_size;
    int *shard = malloc((size_t)plan->n * sizeof *shard);
    name_ref *refs = malloc((size_t)plan->n * sizeof *refs);
    hd_threadpool *tp = NULL;
    void *buf = NULL;
    if (!shard || !refs) {
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    if (!(tp = hd_threadpool_create(p->dry_run ? 1 : p->n_threads, err))) {
        st = err ? err->code : HD_ERR_NOMEM;
        goto done;
    }
    const int ns = hf_shards(plan, elem, p->max_shard_bytes, shard);
    int total = 0, done_n = 0;
    uint64_t total_bytes = 0;
    size_t max_bytes = 0;
    for (int i = 0; i < plan->n; i++)
        if (shard[i] >= 0) {
            const size_t b = (size_t)(plan->t[i].rows * plan->t[i].cols) * elem;
            total++, total_bytes += b;
            if (b > max_bytes) max_bytes = b;
        }
    /* streamed: one tensor in memory at a time */
    if (!p->dry_run && !(buf = malloc(max_bytes ? max_bytes : 1))) {
        st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory for a tensor of %zu bytes", dir, max_bytes);
        goto done;
    }
    for (int s = 0; s < ns && st == HD_OK; s++) {
        const int m = shard_members(plan, shard, s, refs);
        char name[64], path[4200];
        if (ns == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, ns);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        uint64_t shard_bytes = 0;
        for (int k = 0; k < m; k++)
            shard_bytes += (uint64_t)(plan->t[refs[k].index].rows * plan->t[refs[k].index].cols) * elem;
        if (p->dry_run) {
            if (p->file_done) p->file_done(p->progress_ctx, path, m, shard_bytes);
            continue;
        }
        size_t hlen;
        char *header = shard_header(plan, refs, m, p->type, &hlen);
        if (!header) {
            st = hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        hd_outfile o;
        if ((st = hd_outfile_open(&o, path, err))) {
            free(header);
            break;
        }
        uint8_t len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
        hd_outfile_write(&o, len8, 8);
        hd_outfile_write(&o, header, hlen);
        free(header);
        for (int k = 0; k < m && st == HD_OK; k++) {
            const hd_rm_tensor *t = &plan->t[refs[k].index];
            const size_t nbytes = (size_t)(t->rows * t->cols) * elem;
            if ((st = fill_tensor(t, p->seed, p->type, p->type, false, tp, buf, nbytes, err))) break;
            hd_outfile_write(&o, buf, nbytes);
            if (p->progress) p->progress(p->progress_ctx, ++done_n, total, t->hf_name);
        }
        if (st == HD_OK) st = hd_outfile_commit(&o, err);
        else hd_outfile_abort(&o);
        if (st == HD_OK && p->file_done) p->file_done(p->progress_ctx, path, m, shard_bytes);
    }
    if (st == HD_OK && ns > 1 && !p->dry_run) st = write_index(plan, shard, ns, total_bytes, elem, dir, err);
done:
    free(buf);
    hd_threadpool_free(tp);
    free(shard), free(refs);
    return st;
}

/* ---- files --------------------------------------------------------------- */

static bool is_shard_name(const char *s) {
    /* model-NNNNN-of-NNNNN.safetensors */
    if (strlen(s) != strlen("model-00001-of-00001.safetensors") || strncmp(s, "model-", 6) != 0) return false;
    for (int i = 0; i < 5; i++)
        if (s[6 + i] < '0' || s[6 + i] > '9' || s[15 + i] < '0' || s[15 + i] > '9') return false;
    return strncmp(s + 11, "-of-", 4) == 0 && strcmp(s + 20, ".safetensors") == 0;
}

hd_status hd_rm_prepare_dir(const char *dir, hd_error *err) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (mkdir(dir, 0777) != 0)
            return hd_error_set(err, HD_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
        return HD_OK;
    }
    if (!S_ISDIR(sb.st_mode)) return hd_error_set(err, HD_ERR_IO, "%s: exists and is not a folder", dir);
    DIR *d = opendir(dir);
    if (!d) return hd_error_set(err, HD_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    hd_status st = HD_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "model.safetensors") && strcmp(e->d_name, "model.safetensors.index.json") &&
            !is_shard_name(e->d_name))
            continue;
        char path[4352];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) {
            st = hd_error_set(err, HD_ERR_IO, "%s: cannot remove the old file: %s", path, strerror(errno));
            break;
        }
    }
    closedir(d);
    return st;
}

hd_status hd_rm_write_text(const char *dir, const char *name, const char *text, hd_error *err) {
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hd_outfile o;
    hd_status st = hd_outfile_open(&o, path, err);
    if (st) return st;
    hd_outfile_write(&o, text, strlen(text));
    return hd_outfile_commit(&o, err);
}
