/* core/matmul.c — hd_op_linear on the CPU (get_rows/convert: core/quant_ops.c).
 *
 * Picks the kernel table for the active SIMD level (core/kernels.h) and
 * splits the work over ex->pool.  Temporary buffers (converted activations,
 * packed panels) come from ex->scratch, which is reset to where it was on
 * return; when ex->scratch is NULL they are malloc'd and freed per call
 * (fine for tests and tools, not for a token loop).
 */
#include "backend.h"
#include "kernels.h"
#include "ops.h"
#include "quant.h"

#include <stdlib.h>
#include <string.h>

/* Tokens at or above which the tiled gemm beats the dot path (measured on Zen 5):
 * F32/F16 (without a dot_tile kernel), BF16 and the Q8_0/Q4_0 int8 gemm win from 8 tokens, the K-quant
 * int8 gemms from about 48; where the gemm has to
 * dequantize weight panels to F32 first, the dot path's int8 kernels win
 * up to about 64 tokens. */
int hd_linear_gemm_min_m(const hd_kernels *k, hd_type t) {
    /* where the level has a rows × tokens tile (dot_tile), it streams the weights once
     * for all tokens without packing them: measured against the gemm on Zen 5 (1 thread,
     * 2048×2048 and 2048×8192): F16 1.9-2.4× faster at 8 tokens, 1.1-1.7× at 16, equal
     * from 32 to 48; F32 faster up to 16, slower from 32.  AVX2 (ymm tiles against
     * its 6×16 gemm): F16 1.4-2.8× faster up to 32 tokens, F32 up to 16 */
    if (t == HD_TYPE_F16 && k->dot_tile[t]) return 32;
    if (t == HD_TYPE_F32 && k->dot_tile[t]) return 24;
    if (t == HD_TYPE_F32 || t == HD_TYPE_F16 || t == HD_TYPE_BF16) return 8;
    if ((t == HD_TYPE_Q8_0 || t == HD_TYPE_Q4_0) && k->gemm_q8) return 8;
    if ((t == HD_TYPE_Q4_K || t == HD_TYPE_Q5_K) && k->gemm_qk) return 48; /* its packing is costlier */
    if (t == HD_TYPE_Q6_K && k->gemm_q6k) return 48;
    return 64;
}

/* Columns of K per packed panel: a multiple of every block size (256). */
#define HD_KC 256

hd_deq_fn hd_kernels_deq(const hd_kernels *k, hd_type t) {
    return k->deq[t] ? k->deq[t] : hd_kernels_scalar.deq[t];
}

const hd_kernels *hd_kernels_get(hd_cpu_level level) {
    switch (level) {
    case HD_CPU_AVX512: return &hd_kernels_avx512;
    case HD_CPU_AVX2: return &hd_kernels_avx2;
    default: return &hd_kernels_scalar;
    }
}

/* ---- scratch: the arena when there is one, else malloc --------------------------- */

typedef struct scratch {
    hd_arena *arena;
    size_t mark;
    void *heap[4];
    int n_heap;
} scratch;

static void scratch_begin(scratch *s, hd_exec *ex) {
    memset(s, 0, sizeof *s);
    s->arena = ex ? ex->scratch : NULL;
    if (s->arena) s->mark = hd_arena_mark(s->arena);
}

static void *scratch_alloc(scratch *s, size_t bytes) {
    if (bytes == 0) bytes = 64;
    if (s->arena) return hd_arena_alloc(s->arena, bytes);
    if (s->n_heap == (int)(sizeof s->heap / sizeof s->heap[0])) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) return NULL;
    s->heap[s->n_heap++] = p;
    return p;
}

static void scratch_end(scratch *s) {
    if (s->arena) hd_arena_reset(s->arena, s->mark);
    for (int i = 0; i < s->n_heap; i++) free(s->heap[i]);
    s->n_heap = 0;
}

static hd_status scratch_fail(hd_error *err, const char *op, size_t bytes) {
    return hd_error_set(err, HD_ERR_NOMEM, "%s: scratch exhausted (needs %zu more bytes)", op, bytes);
}

/* ---- checks ----------------------------------------------------------------------- */

static const char *tname(const hd_tensor *t) { return t->name ? t->name : "tensor"; }

static bool rows_contiguous(const hd_tensor *t) {
    const hd_type_traits *tt = hd_type_get(t->type);
    return tt && t->nb[0] == tt->type_size;
}

static bool overlaps(const hd_tensor *a, const hd_tensor *b) {
    const char *a0 = a->data, *b0 = b->data;
    const char *a1 = a0 + hd_tensor_nbytes(a), *b1 = b0 + hd_tensor_nbytes(b);
    return a0 < b1 && b0 < a1;
}

/* ---- linear: the dot path ----------------------------------------------------------- */

typedef struct dot_ctx {
    const hd_kernels *k;
    hd_dot_fn dot;
    hd_dotr_fn dotr;     /* one token, several rows (NULL: dot row by row) */
    hd_dotm_fn dotm;     /* several tokens × several rows (NULL: dot per row) */
    int64_t K, N, M;
    hd_type wtype;
    const char *w;
    size_t w_stride;     /* bytes between weight rows               */
    const char *xa;      /* activations in the dot format           */
    size_t xa_stride;    /* bytes between activation rows           */
    const float *x;      /* F32 source rows (for conversion)        */
    hd_act act;
    char *xconv;         /* destination of the conversion           */
    float *y;
    const float *b;
} dot_ctx;

static void convert_rows(void *vctx, int64_t m0, int64_t m1, int tid) {
    (void)tid;
    dot_ctx *c = vctx;
    for (int64_t m = m0; m < m1; m++) c->k->act[c->act](c->x + m * c->K, c->xconv + (size_t)m * c->xa_stride, c->K);
}

/* Long rows are taken in K chunks of HD_DOT_KCH so one chunk of the tokens
 * (8 KiB as F32) stays in L1 while the block of weight rows passes over it;
 * otherwise every row would stream the whole activation row from L2 again. */
#define HD_DOT_KCH 2048

/* Rows [nb0, nb1) against every token with dot[] (a row at a time, up to
 * HD_DOT_MAX_NC tokens a call), in K chunks of kch. */
static void dot_block(const dot_ctx *c, int64_t nb0, int64_t nb1, int64_t kch) {
    for (int64_t m = 0; m < c->M; m += HD_DOT_MAX_NC) {
        const int nc = (int)(c->M - m < HD_DOT_MAX_NC ? c->M - m : HD_DOT_MAX_NC);
        for (int64_t k0 = 0; k0 < c->K; k0 += kch) {
            const int64_t kc = c->K - k0 < kch ? c->K - k0 : kch;
            const size_t woff = hd_type_row_size(c->wtype, k0), xoff = hd_act_row_size(c->act, k0);
            const char *xa = c->xa + (size_t)m * c->xa_stride + xoff;
            for (int64_t n = nb0; n < nb1; n++) {
                const char *w = c->w + (size_t)n * c->w_stride + woff;
                float *y = c->y + m * c->N + n;
                if (k0 == 0) {
                    c->dot(kc, w, xa, c->xa_stride, nc, y, (size_t)c->N);
                } else {
                    float part[HD_DOT_MAX_NC];
                    c->dot(kc, w, xa, c->xa_stride, nc, part, 1);
                    for (int j = 0; j < nc; j++) y[(size_t)j * c->N] += part[j];
                }
            }
        }
    }
}

static void dot_rows(void *vctx, int64_t n0, int64_t n1, int tid) {
    (void)tid;
    const dot_ctx *c = vctx;
    const int64_t NB = 16; /* weight rows kept hot while the tokens pass over them */
    /* several tokens whose rows outgrow a share of L1 (measured: F32 rows of 8192 gain 20%;
     * a paired-Q8 row of 8192 lost 20% to the extra passes).  One token never: the
     * weights would stream in 4 KiB runs from 16 rows at once, which the hardware
     * prefetcher follows badly (F16 2048x8192: 12 GB/s chunked, 25 not). */
    const int64_t kch =
        c->M > 1 && hd_act_row_size(c->act, c->K) > (24u << 10) && c->K > 2 * HD_DOT_KCH ? HD_DOT_KCH : c->K;
    /* one token whose activation row outgrows a third of L1 (measured on Zen 5: one F16 row
     * at a time streams ~36 GB/s at 2048 inputs but ~25 at 8192, where several rows sharing
     * each activation load keep ~30; at 2048 the single stream wins) */
    const bool rows = c->M == 1 && c->dotr && hd_act_row_size(c->act, c->K) > (16u << 10);
    /* rows × tokens tiles from 3 tokens, or 2 with long rows (measured, 1 thread: two tokens
     * of F16 rows of 2048 run 10-20% faster a row at a time; of 8192, 2.5x slower) */
    const bool tile = c->dotm && (c->M > 2 || (c->M == 2 && hd_act_row_size(c->act, c->K) > (16u << 10)));
    for (int64_t nb0 = n0; nb0 < n1; nb0 += NB) {
        const int64_t nb1 = nb0 + NB < n1 ? nb0 + NB : n1;
        if (tile) {
            /* tiles of rows × tokens; the block's rows stay in L2 for the later token groups */
            for (int64_t m = 0; m < c->M; m += HD_DOTM_TOKENS) {
                const int nc = (int)(c->M - m < HD_DOTM_TOKENS ? c->M - m : HD_DOTM_TOKENS);
                for (int64_t n = nb0; n < nb1; n += HD_DOTM_ROWS) {
                    const int nr = (int)(nb1 - n < HD_DOTM_ROWS ? nb1 - n : HD_DOTM_ROWS);
                    c->dotm(c->K, c->w + (size_t)n * c->w_stride, c->w_stride, nr, c->xa + (size_t)m * c->xa_stride,
                            c->xa_stride, nc, c->y + m * c->N + n, (size_t)c->N);
                }
            }
        } else if (rows) {
            for (int64_t n = nb0; n < nb1; n += HD_DOT_ROWS) {
                const int nr = (int)(nb1 - n < HD_DOT_ROWS ? nb1 - n : HD_DOT_ROWS);
                c->dotr(c->K, c->w + (size_t)n * c->w_stride, c->w_stride, c->xa, nr, c->y + n);
            }
        } else {
            dot_block(c, nb0, nb1, kch);
        }
        if (c->b)
            for (int64_t m = 0; m < c->M; m++)
                for (int64_t n = nb0; n < nb1; n++) c->y[m * c->N + n] += c->b[n];
    }
}

static hd_status linear_dot(hd_exec *ex, dot_ctx *c, hd_error *err) {
    hd_threadpool *tp = ex ? ex->pool : NULL;
    scratch s;
    scratch_begin(&s, ex);
    if (c->act == HD_ACT_F32) {
        c->xa = (const char *)c->x;
        c->xa_stride = (size_t)c->K * sizeof(float);
    } else {
        c->xa_stride = hd_act_row_size(c->act, c->K);
        const size_t bytes = c->xa_stride * (size_t)c->M;
        c->xconv = scratch_alloc(&s, bytes);
        if (!c->xconv) {
            scratch_end(&s);
            return scratch_fail(err, "linear", bytes);
        }
        hd_parallel_for(tp, c->M, 1, convert_rows, c);
        c->xa = c->xconv;
    }
    /* chunks of at least 16 weight rows (the pool splits into a few chunks per thread) */
    const int64_t grain = 16;
    hd_parallel_for(tp, c->N, grain, dot_rows, c);
    scratch_end(&s);
    return HD_OK;
}

/* ---- linear: the gemm path ---------------------------------------------------------- */

typedef struct gemm_ctx {
    const hd_kernels *k;
    hd_gemm_fn micro;
    hd_pack_fn pack;      /* float/bf16 panels: the level's packer, or NULL */
    bool bf16;            /* bf16 pairs instead of floats            */
    bool q8;              /* int8 gemm: Q8 tokens × Q8_0/Q4_0 weights */
    bool qk;              /* int8 gemm: Q8_K tokens × Q4_K/Q5_K/Q6_K weights */
    int nsub;             /* qk: sub-blocks per 256-block (8, or 16 for Q6_K) */
    int32_t q8_off;       /* weight offset folded into the tokens (128 for Q8_0, 8 for Q4_0) */
    char *act;            /* q8/qk: tokens quantized row by row (hd_block_q8x / q8_k)  */
    int MR, NR;
    int64_t KC;           /* columns of K per block: HD_KC, 2·HD_KC for the bf16 gemm (same bytes) */
    int64_t group;        /* panels per group (gemm_block)           */
    int64_t n_tb;         /* token blocks (gemm_items, many tokens)  */
    int64_t K, N, M;
    hd_type wtype;
    const char *w;
    size_t w_stride;
    size_t block_bytes, block_size;
    const float *x;
    void *xp;             /* packed tokens: per K block [M/MR][kc][MR] (bf16: [kc/2] pairs) */
    char *thread_buf;     /* per thread: wp panel + one dequantized row slice            */
    size_t thread_bytes;
    float *y;
    const float *b;
} gemm_ctx;

/* Offset (in elements: floats, or bf16 pairs when halved) of tile t's [kc][MR] slice of
 * the K block starting at k0 in xp: blocks are contiguous so one block of all tokens
 * ([n_mt][kc][MR]) is a single run of memory (no cache-set aliasing between tiles). */
static size_t xp_offset(const gemm_ctx *c, int64_t t, int64_t k0, int64_t kc, int halve) {
    const int64_t n_mt = (c->M + c->MR - 1) / c->MR;
    return (size_t)((k0 >> halve) * n_mt * c->MR + t * (kc >> halve) * c->MR);
}

/* q8: byte offset of tile t's blocks of the K block at k0 (blocks of a K block
 * contiguous across tiles, as for the float layouts). */
static size_t xq_offset(const gemm_ctx *c, int64_t t, int64_t k0, int64_t kc) {
    const int64_t n_mt = (c->M + c->MR - 1) / c->MR;
    const size_t xb = HD_Q8_XTILE_BYTES(c->MR);
    return (size_t)((k0 / 32) * n_mt + t * (kc / 32)) * xb;
}

static void quantize_rows(void *vctx, int64_t m0, int64_t m1, int tid) {
    (void)tid;
    const gemm_ctx *c = vctx;
    const hd_act a = c->qk ? HD_ACT_Q8K : HD_ACT_Q8;
    const size_t rs = hd_act_row_size(a, c->K);
    for (int64_t m = m0; m < m1; m++) c->k->act[a](c->x + m * c->K, c->act + (size_t)m * rs, c->K);
}

/* qk: byte offset of tile t's 256-blocks of the K block at k0 (KC = one 256-block). */
static size_t xk_offset(const gemm_ctx *c, int64_t t, int64_t k0, int64_t kc) {
    const int64_t n_mt = (c->M + c->MR - 1) / c->MR;
    return (size_t)((k0 / HD_QK_K) * n_mt + t * (kc / HD_QK_K)) * HD_QK_XTILE_BYTES(c->MR, c->nsub);
}

static void pack_x_qk(const gemm_ctx *c, int64_t t) {
    const int MR = c->MR, S = c->nsub;
    const size_t rs = hd_act_row_size(HD_ACT_Q8K, c->K);
    for (int64_t k0 = 0; k0 < c->K; k0 += HD_KC) {
        const int64_t kc = c->K - k0 < HD_KC ? c->K - k0 : HD_KC;
        char *dst = (char *)c->xp + xk_offset(c, t, k0, kc);
        for (int64_t b = 0; b < kc / HD_QK_K; b++, dst += HD_QK_XTILE_BYTES(MR, S)) {
            int32_t *x4 = (int32_t *)dst, *xs = (int32_t *)(dst + 256 * MR);
            float *dx = (float *)(dst + (256 + 2 * S) * MR);
            for (int m = 0; m < MR; m++) {
                const int64_t row = t * MR + m;
                if (row >= c->M) {
                    for (int g = 0; g < 64; g++) x4[g * MR + m] = 0;
                    for (int p = 0; p < S / 2; p++) xs[p * MR + m] = 0;
                    dx[m] = 0.f;
                    continue;
                }
                const hd_block_q8_k *a = (const hd_block_q8_k *)(c->act + (size_t)row * rs) + (k0 / HD_QK_K + b);
                for (int g = 0; g < 64; g++) memcpy(&x4[g * MR + m], a->qs + 4 * g, 4);
                /* sums of sub-blocks 2p and 2p+1 as two 16-bit halves (16 sums of 16 values
                 * each; 8 sub-blocks of 32 add neighbouring pairs) */
                int sums[16];
                for (int j = 0; j < S; j++)
                    sums[j] = S == 16 ? a->bsums[j] : a->bsums[2 * j] + a->bsums[2 * j + 1];
                for (int p = 0; p < S / 2; p++)
                    xs[p * MR + m] = (int32_t)(((uint32_t)(uint16_t)(int16_t)sums[2 * p + 1] << 16) |
                                               (uint16_t)(int16_t)sums[2 * p]);
                dx[m] = a->d;
            }
        }
    }
}

static void pack_x_q8(const gemm_ctx *c, int64_t t) {
    const int MR = c->MR;
    const size_t rs = hd_act_row_size(HD_ACT_Q8, c->K);
    for (int64_t k0 = 0; k0 < c->K; k0 += HD_KC) {
        const int64_t kc = c->K - k0 < HD_KC ? c->K - k0 : HD_KC;
        char *dst = (char *)c->xp + xq_offset(c, t, k0, kc);
        for (int64_t b = 0; b < kc / 32; b++, dst += HD_Q8_XTILE_BYTES(MR)) {
            int32_t *x4 = (int32_t *)dst, *corr = (int32_t *)(dst + 32 * MR);
            float *dx = (float *)(dst + 36 * MR);
            for (int m = 0; m < MR; m++) {
                const int64_t row = t * MR + m;
                if (row >= c->M) {
                    for (int g = 0; g < 8; g++) x4[g * MR + m] = 0;
                    corr[m] = 0;
                    dx[m] = 0.f;
                    continue;
                }
                const hd_block_q8x *a = (const hd_block_q8x *)(c->act + (size_t)row * rs) + (k0 / 32 + b);
                int32_t sum = 0;
                for (int j = 0; j < 32; j++) sum += a->qs[j];
                for (int g = 0; g < 8; g++) memcpy(&x4[g * MR + m], a->qs + 4 * g, 4);
                corr[m] = c->q8_off * sum;
                dx[m] = a->d;
            }
        }
    }
}

static void pack_x(void *vctx, int64_t t0, int64_t t1, int tid) {
    (void)tid;
    const gemm_ctx *c = vctx;
    const int MR = c->MR;
    if (c->q8 || c->qk) {
        for (int64_t t = t0; t < t1; t++) c->qk ? pack_x_qk(c, t) : pack_x_q8(c, t);
        return;
    }
    for (int64_t t = t0; t < t1; t++) {
        const int64_t m0 = t * MR;
        for (int64_t k0 = 0; k0 < c->K; k0 += c->KC) {
            const int64_t kc = c->K - k0 < c->KC ? c->K - k0 : c->KC;
            if (!c->bf16) {
                float *xp = (float *)c->xp + xp_offset(c, t, k0, kc, 0);
                for (int m = 0; m < MR; m++) {
                    const float *xr = c->x + (m0 + m) * c->K + k0;
                    if (m0 + m < c->M)
                        for (int64_t kk = 0; kk < kc; kk++) xp[kk * MR + m] = xr[kk];
                    else
                        for (int64_t kk = 0; kk < kc; kk++) xp[kk * MR + m] = 0.f;
                }
            } else {
                uint32_t *xp = (uint32_t *)c->xp + xp_offset(c, t, k0, kc, 1);
                /* the level's vector converter where it has one (a scalar call per value
                 * took ~6% of a ViT forward) */
                const hd_act_fn cvt = c->k->act[HD_ACT_BF16];
                for (int m = 0; m < MR; m++) {
                    const float *xr = c->x + (m0 + m) * c->K + k0;
                    if (m0 + m < c->M && cvt) {
                        hd_bf16 b[2 * HD_KC];
                        cvt(xr, b, kc);
                        for (int64_t kp = 0; kp < kc / 2; kp++) memcpy(&xp[kp * MR + m], b + 2 * kp, 4);
                    } else if (m0 + m < c->M)
                        for (int64_t kk = 0; kk < kc; kk += 2)
                            xp[(kk / 2) * MR + m] =
                                (uint32_t)hd_f32_to_bf16(xr[kk]) | ((uint32_t)hd_f32_to_bf16(xr[kk + 1]) << 16);
                    else
                        for (int64_t kk = 0; kk < kc; kk += 2) xp[(kk / 2) * MR + m] = 0;
                }
            }
        }
    }
}

/* Packs NR weight rows of panel p over [k0, k0+kc) as [kc][NR] (zeros past N). */
/* q8: per 32-block [8][NR][4] unsigned weight bytes then float d[NR]. */
static void pack_w_q8(const gemm_ctx *c, int64_t p, int64_t k0, int64_t kc, void *wp) {
    const int NR = c->NR;
    const int64_t n0 = p * NR;
    char *dst = wp;
    for (int64_t b = 0; b < kc / 32; b++, dst += HD_Q8_WPANEL_BYTES(NR)) {
        uint8_t *wq = (uint8_t *)dst;
        float *dw = (float *)(dst + 32 * NR);
        const int64_t blk = k0 / 32 + b;
        for (int r = 0; r < NR; r++) {
            uint8_t v[32];
            if (n0 + r >= c->N) {
                memset(v, 0, sizeof v);
                dw[r] = 0.f;
            } else if (c->wtype == HD_TYPE_Q8_0) {
                const hd_block_q8_0 *q = (const hd_block_q8_0 *)(c->w + (size_t)(n0 + r) * c->w_stride) + blk;
                for (int j = 0; j < 32; j++) v[j] = (uint8_t)(q->qs[j] + 128);
                dw[r] = hd_f16_to_f32(q->d);
            } else {
                const hd_block_q4_0 *q = (const hd_block_q4_0 *)(c->w + (size_t)(n0 + r) * c->w_stride) + blk;
                for (int j = 0; j < 16; j++) {
                    v[j] = q->qs[j] & 0xF;
                    v[j + 16] = q->qs[j] >> 4;
                }
                dw[r] = hd_f16_to_f32(q->d);
            }
            for (int g = 0; g < 8; g++) memcpy(wq + ((size_t)g * NR + r) * 4, v + 4 * g, 4);
        }
    }
}

/* qk: per 256-block [64][NR][4] unsigned quants, int32 scale[S][NR], int32 [S/2][NR]
 * pairs of 16-bit mins, float d[NR], float dmin[NR] (see kernels.h). */
static void unpack_k_row(const gemm_ctx *c, const char *row, int64_t blk, uint8_t v[256], int32_t sc[16],
                         int32_t mn[16], float *d, float *dmin) {
    if (c->wtype == HD_TYPE_Q6_K) {
        const hd_block_q6_k *q = (const hd_block_q6_k *)row + blk;
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t lo0 = q->ql[64 * h + l], lo1 = q->ql[64 * h + l + 32], hb = q->qh[32 * h + l];
                v[128 * h + l] = (uint8_t)((lo0 & 0xF) | ((hb & 3) << 4));
                v[128 * h + l + 32] = (uint8_t)((lo1 & 0xF) | (((hb >> 2) & 3) << 4));
                v[128 * h + l + 64] = (uint8_t)((lo0 >> 4) | (((hb >> 4) & 3) << 4));
                v[128 * h + l + 96] = (uint8_t)((lo1 >> 4) | (((hb >> 6) & 3) << 4));
            }
        for (int j = 0; j < 16; j++) {
            sc[j] = q->scales[j];
            mn[j] = 32 * q->scales[j]; /* the offset of 32, against the sub-block sums */
        }
        *d = *dmin = hd_f16_to_f32(q->d);
        return;
    }
    const uint8_t *qs, *scales, *qh = NULL;
    hd_f16 hd, hdm;
    if (c->wtype == HD_TYPE_Q4_K) {
        const hd_block_q4_k *q = (const hd_block_q4_k *)row + blk;
        qs = q->qs, scales = q->scales, hd = q->d, hdm = q->dmin;
    } else {
        const hd_block_q5_k *q = (const hd_block_q5_k *)row + blk;
        qs = q->qs, scales = q->scales, qh = q->qh, hd = q->d, hdm = q->dmin;
    }
    for (int j = 0; j < 8; j++) {
        uint8_t s8, m8;
        hd_q4k_scale_min(j, scales, &s8, &m8);
        sc[j] = s8;
        mn[j] = m8;
    }
    /* branch-free so the compiler vectorizes: 64 weights per 32 bytes of qs */
    for (int jj = 0; jj < 4; jj++)
        for (int l = 0; l < 32; l++) {
            v[64 * jj + l] = qs[32 * jj + l] & 0xF;
            v[64 * jj + 32 + l] = qs[32 * jj + l] >> 4;
        }
    if (qh)
        for (int jj = 0; jj < 4; jj++)
            for (int l = 0; l < 32; l++) {
                v[64 * jj + l] |= (uint8_t)(((qh[l] >> (2 * jj)) & 1) << 4);
                v[64 * jj + 32 + l] |= (uint8_t)(((qh[l] >> (2 * jj + 1)) & 1) << 4);
            }
    *d = hd_f16_to_f32(hd);
    *dmin = hd_f16_to_f32(hdm);
}

static void pack_w_qk(const gemm_ctx *c, int64_t p, int64_t k0, int64_t kc, void *wp) {
    const int NR = c->NR, S = c->nsub;
    const int64_t n0 = p * NR;
    char *dst = wp;
    for (int64_t b = 0; b < kc / HD_QK_K; b++, dst += HD_QK_WPANEL_BYTES(NR, S)) {
        uint8_t *wq = (uint8_t *)dst;
        int32_t *sc = (int32_t *)(dst + 256 * NR), *mn = (int32_t *)(dst + (256 + 4 * S) * NR);
        float *dw = (float *)(dst + (256 + 6 * S) * NR), *dmw = dw + NR;
        const int64_t blk = k0 / HD_QK_K + b;
        for (int r = 0; r < NR; r++) {
            uint8_t v[256];
            int32_t s32[16] = {0}, m32[16] = {0};
            float d = 0.f, dmin = 0.f;
            if (n0 + r < c->N)
                unpack_k_row(c, c->w + (size_t)(n0 + r) * c->w_stride, blk, v, s32, m32, &d, &dmin);
            else
                memset(v, 0, sizeof v);
            for (int g = 0; g < 64; g++) memcpy(wq + ((size_t)g * NR + r) * 4, v + 4 * g, 4);
            for (int j = 0; j < S; j++) sc[j * NR + r] = s32[j];
            for (int q = 0; q < S / 2; q++)
                mn[q * NR + r] = (int32_t)(((uint32_t)(uint16_t)(int16_t)m32[2 * q + 1] << 16) |
                                           (uint16_t)(int16_t)m32[2 * q]);
            dw[r] = d;
            dmw[r] = dmin;
        }
    }
}

static void pack_w(const gemm_ctx *c, int64_t p, int64_t k0, int64_t kc, void *wp, float *row) {
    const int NR = c->NR;
    const int64_t n0 = p * NR;
    const int nr = (int)(c->N - n0 < NR ? c->N - n0 : NR);
    if (c->q8) {
        pack_w_q8(c, p, k0, kc, wp);
        return;
    }
    if (c->qk) {
        pack_w_qk(c, p, k0, kc, wp);
        return;
    }
    if (c->pack) { /* the level's whole-panel packer (F32/F16 floats, BF16 pairs) */
        c->pack(c->w + (size_t)n0 * c->w_stride + (size_t)(k0 / (int64_t)c->block_size) * c->block_bytes, c->w_stride,
                nr, kc, wp);
        return;
    }
    for (int r = 0; r < NR; r++) {
        if (r < nr) {
            const char *src =
                c->w + (size_t)(n0 + r) * c->w_stride + (size_t)(k0 / (int64_t)c->block_size) * c->block_bytes;
            if (c->bf16) {
                /* BF16 pairs as 32-bit words; the source may be only 2-byte aligned
                 * (safetensors data after an odd-length BF16 tensor), so memcpy. */
                uint32_t *w32 = wp;
                for (int64_t kk = 0; kk < kc / 2; kk++) memcpy(&w32[kk * NR + r], src + 4 * kk, 4);
            } else if (c->wtype == HD_TYPE_F32) {
                float *wf = wp;
                for (int64_t kk = 0; kk < kc; kk++) memcpy(&wf[kk * NR + r], src + 4 * kk, 4);
            } else {
                hd_kernels_deq(c->k, c->wtype)(src, row, kc);
                float *wf = wp;
                for (int64_t kk = 0; kk < kc; kk++) wf[kk * NR + r] = row[kk];
            }
        } else if (c->bf16) {
            uint32_t *w32 = wp;
            for (int64_t kk = 0; kk < kc / 2; kk++) w32[kk * NR + r] = 0;
        } else {
            float *wf = wp;
            for (int64_t kk = 0; kk < kc; kk++) wf[kk * NR + r] = 0.f;
        }
    }
}

/* Prefetch walk over the weight rows [n, n_end) at K block k0 (see gemm_panels). */
typedef struct pf_cursor {
    const char *w;
    size_t stride, off, len; /* bytes: between rows, to the K block, of the block      */
    int64_t n, n_end;        /* next row, end of the rows                             */
    size_t b;                /* next byte of row n's block (clamped to its last byte) */
    int64_t lines;           /* prefetches in all                                     */
} pf_cursor;

static void pf_begin(pf_cursor *pc, const gemm_ctx *c, int64_t n0, int64_t n1, int64_t k0) {
    const int64_t kn = c->K - k0 < c->KC ? c->K - k0 : c->KC;
    pc->w = c->w;
    pc->stride = c->w_stride;
    pc->n = n0;
    pc->n_end = n1 < c->N ? n1 : c->N;
    pc->b = 0;
    pc->off = k0 < c->K ? hd_type_row_size(c->wtype, k0) : 0;
    pc->len = k0 < c->K ? hd_type_row_size(c->wtype, kn) : 0;
    /* bytes 0, 64, ... and the last byte: every line of a block that need not start on one */
    pc->lines = pc->n_end > pc->n && pc->len ? (pc->n_end - pc->n) * (int64_t)((pc->len + 63) / 64 + 1) : 0;
}

static void pf_step(pf_cursor *pc, int64_t lines) {
    for (; lines > 0 && pc->n < pc->n_end && pc->len; lines--) {
        const size_t b = pc->b < pc->len ? pc->b : pc->len - 1;
        __builtin_prefetch(pc->w + (size_t)pc->n * pc->stride + pc->off + b);
        pc->b += 64;
        if (pc->b >= pc->len + 64) {
            pc->b = 0;
            pc->n++;
        }
    }
}

/* Panels [p0, p1) in groups of c->group (HD_GROUP_PANELS, twice that from
 * HD_GROUP_WIDE_M tokens).  Loop order: panel group, K block, token tile, panel: the
 * group's output block (M × group·NR floats) stays in L2 across the K blocks when M is
 * small, each token tile is loaded once per K block for the whole group, and each
 * weight panel is packed once.  With thousands of tokens every group streams all the
 * packed tokens from L3 again: wider groups halve that (measured, 1 thread, BF16 at
 * 6404 tokens: 1280x1280 67 -> 59 ms, 1280x5120 292 -> 263; F16 2048x8192 at 512
 * tokens 102 -> 90; no gain at 128 tokens). */
#define HD_GROUP_PANELS 4
#define HD_GROUP_WIDE_M 256
/* Panels [g0, g1) (one group) against token tiles [t0, t1), all of K, plus the bias
 * on that block; pf_end: the panel where the next group (prefetched while the last K
 * block is multiplied) ends. */
static void gemm_block(const gemm_ctx *c, int64_t g0, int64_t g1, int64_t t0, int64_t t1, int64_t pf_end, char *tb) {
    const int MR = c->MR, NR = c->NR;
    const size_t panel_bytes = (size_t)HD_KC * NR * sizeof(float); /* the largest panel format */
    float *row = (float *)(tb + c->group * panel_bytes);
    for (int64_t k0 = 0; k0 < c->K; k0 += c->KC) {
        const int64_t kc = c->K - k0 < c->KC ? c->K - k0 : c->KC;
        for (int64_t p = g0; p < g1; p++) pack_w(c, p, k0, kc, tb + (size_t)(p - g0) * panel_bytes, row);
        /* the next piece of weights (this group's next K block, else the next group's
         * first), prefetched a slice before each micro-kernel call so it arrives while
         * this block is multiplied: the pieces are short runs (512 bytes of an F16 row)
         * the hardware prefetcher barely starts on, and a burst of prefetches would
         * overflow the miss buffers and be dropped */
        pf_cursor pf;
        if (k0 + c->KC < c->K)
            pf_begin(&pf, c, g0 * NR, g1 * NR, k0 + c->KC);
        else
            pf_begin(&pf, c, g1 * NR, pf_end * NR, 0);
        const int64_t calls = (t1 - t0) * (g1 - g0), per_call = (pf.lines + calls - 1) / calls;
        for (int64_t t = t0; t < t1; t++) {
            const int64_t m0 = t * MR;
            const int mr = (int)(c->M - m0 < MR ? c->M - m0 : MR);
            const void *xp = c->qk     ? (const void *)((const char *)c->xp + xk_offset(c, t, k0, kc))
                             : c->q8   ? (const void *)((const char *)c->xp + xq_offset(c, t, k0, kc))
                             : c->bf16 ? (const void *)((const uint32_t *)c->xp + xp_offset(c, t, k0, kc, 1))
                                       : (const void *)((const float *)c->xp + xp_offset(c, t, k0, kc, 0));
            for (int64_t p = g0; p < g1; p++) {
                const int64_t n0 = p * NR;
                const int nr = (int)(c->N - n0 < NR ? c->N - n0 : NR);
                pf_step(&pf, per_call);
                /* the next call's output tile: with many tokens y outgrows the caches, and its
                 * rows (MR runs of NR floats, far apart) are misses the hardware prefetcher
                 * does not foresee; each call reads and writes its tile once */
                const int64_t pn = p + 1 < g1 ? p + 1 : g0, mn = p + 1 < g1 ? m0 : m0 + MR;
                const int64_t rows = mn < t1 * MR ? (c->M - mn < MR ? c->M - mn : MR) : 0;
                const int64_t nn = pn * NR, cols = c->N - nn < NR ? c->N - nn : NR;
                for (int64_t r = 0; r < rows; r++) {
                    const float *yr = c->y + (mn + r) * c->N + nn;
                    for (int64_t j = 0; j < cols; j += 16) __builtin_prefetch(yr + j, 1, 3);
                    __builtin_prefetch(yr + cols - 1, 1, 3);
                }
                c->micro(kc, xp, tb + (size_t)(p - g0) * panel_bytes, c->y + m0 * c->N + n0, (size_t)c->N, mr, nr,
                         k0 > 0);
            }
        }
    }
    if (c->b) {
        const int64_t m1 = t1 * MR < c->M ? t1 * MR : c->M, n1 = g1 * NR < c->N ? g1 * NR : c->N;
        for (int64_t m = t0 * MR; m < m1; m++)
            for (int64_t n = g0 * NR; n < n1; n++) c->y[m * c->N + n] += c->b[n];
    }
}

/* Panels [p0, p1) in groups of c->group, every token (few tokens: the pool splits the panels). */
static void gemm_panels(void *vctx, int64_t p0, int64_t p1, int tid) {
    const gemm_ctx *c = vctx;
    char *tb = c->thread_buf + (size_t)tid * c->thread_bytes;
    const int64_t G = c->group, n_mt = (c->M + c->MR - 1) / c->MR;
    for (int64_t g0 = p0; g0 < p1; g0 += G) {
        const int64_t g1 = g0 + G < p1 ? g0 + G : p1;
        gemm_block(c, g0, g1, 0, n_mt, g1 + G < p1 ? g1 + G : p1, tb);
    }
}

/* Many tokens: item it = (panel group it / n_tb, token block it % n_tb).  The pool's few
 * chunks per thread would otherwise cut narrow outputs (1280 = 40 panels) into groups
 * narrower than c->group, and the work of a few wide groups splits badly over threads. */
static void gemm_items(void *vctx, int64_t i0, int64_t i1, int tid) {
    const gemm_ctx *c = vctx;
    char *tb = c->thread_buf + (size_t)tid * c->thread_bytes;
    const int64_t n_mt = (c->M + c->MR - 1) / c->MR, n_p = (c->N + c->NR - 1) / c->NR;
    const int64_t tpb = (n_mt + c->n_tb - 1) / c->n_tb; /* tiles per token block */
    for (int64_t it = i0; it < i1; it++) {
        const int64_t g0 = it / c->n_tb * c->group, g1 = g0 + c->group < n_p ? g0 + c->group : n_p;
        const int64_t t0 = it % c->n_tb * tpb, t1 = t0 + tpb < n_mt ? t0 + tpb : n_mt;
        if (t0 < t1) gemm_block(c, g0, g1, t0, t1, g1 + c->group < n_p ? g1 + c->group : n_p, tb);
    }
}

static hd_status linear_gemm(hd_exec *ex, gemm_ctx *c, hd_error *err) {
    hd_threadpool *tp = ex ? ex->pool : NULL;
    const int nthreads = hd_threadpool_size(tp);
    scratch s;
    scratch_begin(&s, ex);
    const int64_t n_mt = (c->M + c->MR - 1) / c->MR;
    size_t xp_bytes = (size_t)n_mt * c->MR * (size_t)c->K * (c->bf16 ? 2 : 4);
    size_t act_bytes = 0;
    if (c->q8 || c->qk) {
        xp_bytes = c->qk ? (size_t)n_mt * (size_t)(c->K / HD_QK_K) * HD_QK_XTILE_BYTES(c->MR, c->nsub)
                         : (size_t)n_mt * (size_t)(c->K / 32) * HD_Q8_XTILE_BYTES(c->MR);
        act_bytes = hd_act_row_size(c->qk ? HD_ACT_Q8K : HD_ACT_Q8, c->K) * (size_t)c->M;
        c->act = scratch_alloc(&s, act_bytes);
        if (!c->act) {
            scratch_end(&s);
            return scratch_fail(err, "linear", act_bytes);
        }
    }
    c->xp = scratch_alloc(&s, xp_bytes);
    c->thread_bytes =
        ((size_t)c->group * HD_KC * c->NR * sizeof(float) + HD_KC * sizeof(float) + 63) & ~(size_t)63;
    c->thread_buf = c->xp ? scratch_alloc(&s, c->thread_bytes * (size_t)nthreads) : NULL;
    if (!c->xp || !c->thread_buf) {
        scratch_end(&s);
        return scratch_fail(err, "linear", xp_bytes + c->thread_bytes * (size_t)nthreads);
    }
    if (c->q8 || c->qk) hd_parallel_for(tp, c->M, 4, quantize_rows, c);
    hd_parallel_for(tp, n_mt, 1, pack_x, c);
    const int64_t n_p = (c->N + c->NR - 1) / c->NR;
    if (c->M >= HD_GROUP_WIDE_M) {
        /* about 4 items per thread, token blocks of at least 4 tiles */
        const int64_t n_g = (n_p + c->group - 1) / c->group;
        int64_t n_tb = (4 * (int64_t)nthreads + n_g - 1) / n_g;
        if (n_tb > n_mt / 4) n_tb = n_mt / 4;
        c->n_tb = n_tb > 1 ? n_tb : 1;
        hd_parallel_for(tp, n_g * c->n_tb, 1, gemm_items, c);
    } else {
        hd_parallel_for(tp, n_p, 1, gemm_panels, c);
    }
    scratch_end(&s);
    return HD_OK;
}

hd_status hd_op_linear(hd_exec *ex, hd_tensor *y, const hd_tensor *w, const hd_tensor *x, const hd_tensor *b,
                       hd_error *err) {
    if (!y || !w || !x || !y->data || !w->data || !x->data)
        return hd_error_set(err, HD_ERR_ARG, "linear: missing tensor or data");
    const hd_kernels *k = hd_kernels_get(hd_cpu_level_get());
    char sw[64], sx[64], sy[64];
    if (!hd_type_valid(w->type) || !k->dot[w->type])
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "linear: %s has unsupported weight type %s", tname(w),
                            hd_type_name(w->type));
    if (x->type != HD_TYPE_F32 || y->type != HD_TYPE_F32)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "linear: x and y must be F32 (x %s, y %s)",
                            hd_type_name(x->type), hd_type_name(y->type));
    const int64_t K = w->ne[0], N = w->ne[1];
    const int64_t M = hd_tensor_nrows(x);
    if (w->ne[2] != 1 || w->ne[3] != 1 || x->ne[0] != K || y->ne[0] != N || hd_tensor_nrows(y) != M)
        return hd_error_set(err, HD_ERR_SHAPE, "linear: %s %s, x %s, y %s do not fit y = x·wᵀ", tname(w),
                            hd_tensor_shape_str(w, sw, sizeof sw), hd_tensor_shape_str(x, sx, sizeof sx),
                            hd_tensor_shape_str(y, sy, sizeof sy));
    const hd_type_traits *tt = hd_type_get(w->type);
    if (K <= 0 || N <= 0 || M <= 0 || K % (int64_t)tt->block_size != 0)
        return hd_error_set(err, HD_ERR_SHAPE, "linear: %s row length %lld is not a positive multiple of %s's block %zu",
                            tname(w), (long long)K, tt->name, tt->block_size);
    if (!rows_contiguous(w) || w->nb[1] < hd_type_row_size(w->type, K))
        return hd_error_set(err, HD_ERR_SHAPE, "linear: %s rows are not contiguous", tname(w));
    if (!hd_tensor_is_contiguous(x) || !hd_tensor_is_contiguous(y))
        return hd_error_set(err, HD_ERR_SHAPE, "linear: x and y must be contiguous");
    if (overlaps(x, y)) return hd_error_set(err, HD_ERR_ARG, "linear: y must not alias x");
    if (b) {
        if (b->type != HD_TYPE_F32 || hd_tensor_nelements(b) != N || !hd_tensor_is_contiguous(b) || !b->data)
            return hd_error_set(err, HD_ERR_SHAPE, "linear: bias %s must be F32 with %lld elements", tname(b),
                                (long long)N);
    }

    hd_status st;
    const hd_backend_ops *bk = hd_backend_of(ex, "linear", &st, err);
    if (st) return st;
    if (bk) return bk->linear(ex, y, w, x, b, err);

    const bool use_bf16_gemm = w->type == HD_TYPE_BF16 && k->gemm_bf16 && K % 2 == 0;
    const bool use_q8_gemm = (w->type == HD_TYPE_Q8_0 || w->type == HD_TYPE_Q4_0) && k->gemm_q8;
    const bool use_qk_gemm = ((w->type == HD_TYPE_Q4_K || w->type == HD_TYPE_Q5_K) && k->gemm_qk) ||
                             (w->type == HD_TYPE_Q6_K && k->gemm_q6k);
    if (M < hd_linear_gemm_min_m(k, w->type)) {
        dot_ctx c = {.k = k, .dot = k->dot[w->type], .dotr = k->dot_rows[w->type], .dotm = k->dot_tile[w->type], .K = K, .N = N, .M = M,
                     .wtype = w->type, .w = w->data, .w_stride = w->nb[1], .x = x->data, .act = k->act_of[w->type],
                     .y = y->data, .b = b ? b->data : NULL};
        return linear_dot(ex, &c, err);
    }
    gemm_ctx c = {.k = k,
                  .micro = use_qk_gemm   ? (w->type == HD_TYPE_Q6_K ? k->gemm_q6k : k->gemm_qk)
                           : use_q8_gemm ? k->gemm_q8
                           : use_bf16_gemm ? k->gemm_bf16
                                           : k->gemm_f32,
                  .pack = use_qk_gemm || use_q8_gemm || (w->type == HD_TYPE_BF16 && !use_bf16_gemm) ? NULL
                                                                                              : k->pack[w->type],
                  .qk = use_qk_gemm,
                  .nsub = w->type == HD_TYPE_Q6_K ? 16 : 8,
                  .bf16 = use_bf16_gemm,
                  .q8 = use_q8_gemm,
                  .q8_off = w->type == HD_TYPE_Q8_0 ? 128 : 8,
                  .MR = use_qk_gemm ? k->mr_qk : use_q8_gemm ? k->mr_q8 : use_bf16_gemm ? k->mr_bf16 : k->mr,
                  .NR = use_qk_gemm ? k->nr_qk : use_q8_gemm ? k->nr_q8 : use_bf16_gemm ? k->nr_bf16 : k->nr,
                  .KC = use_bf16_gemm ? 2 * HD_KC : HD_KC,
                  .group = M >= HD_GROUP_WIDE_M ? 2 * HD_GROUP_PANELS : HD_GROUP_PANELS,
                  .K = K, .N = N, .M = M, .wtype = w->type, .w = w->data, .w_stride = w->nb[1],
                  .block_bytes = tt->type_size, .block_size = tt->block_size,
                  .x = x->data, .y = y->data, .b = b ? b->data : NULL};
    return linear_gemm(ex, &c, err);
}
