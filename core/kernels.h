/* core/kernels.h — internal: the CPU kernels behind hd_op_linear and friends.
 *
 * One table per SIMD level (core/cpu.h): matmul_scalar.c is the reference,
 * matmul_avx2.c and matmul_avx512.c are the fast versions and are tested
 * against it.  matmul.c picks the table for hd_cpu_level_get() at each call.
 *
 * Two product paths (hd_linear_gemm_min_m picks by token count and type):
 *  - dot:  y[n] = w_n · x for few tokens (matrix-vector).  Activations are
 *          first converted once per token to the format the weight type wants
 *          (act_of[type]): F32, BF16, Q8 (32-blocks with an f32 scale) or
 *          Q8_K (256-blocks, see core/types.h); the kernels then multiply
 *          integer blocks (vpdpbusd on AVX-512) and scale per block.  Where the
 *          level has a dot_tile kernel (F16/F32 on AVX-512 and AVX2), 3+ tokens
 *          (2 with long rows) go through it instead: tiles of 4 rows × 4 tokens,
 *          no weight packing.
 *  - gemm: many tokens.  Panels of NR weight rows × KC columns are
 *          dequantized into F32 (or kept as BF16 pairs for BF16 weights on
 *          AVX-512, or repacked as bytes for the int8 gemms of Q8_0/Q4_0 and
 *          Q4_K/Q5_K on AVX-512) and transposed to [KC][NR]; tokens are packed to [KC][MR]
 *          per K block; an MR×NR register-blocked micro-kernel accumulates
 *          into y.
 *
 * Scratch taken from ex->scratch by hd_op_linear (M tokens, K inputs, T threads):
 * dot path ≤ 2·M·K + 256·M bytes (converted activations, the last block group
 * padded); f32/bf16 gemm ≤ (M + 11)·K·4 (packed tokens) + T·130 KiB (weight
 * panels; T·258 KiB from 256 tokens, whose panel groups are twice as wide); int8
 * gemms ≤ 2.5·(M + 3)·K + T·258 KiB.
 * So (M + 16)·K·4 + T·260 KiB always suffices.
 * Not a public header: no stability promise.
 */
#ifndef HD_KERNELS_H
#define HD_KERNELS_H

#include "cpu.h"
#include "types.h"

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation formats for the dot path. */
typedef enum hd_act {
    HD_ACT_F32 = 0,   /* plain floats                                         */
    HD_ACT_BF16 = 1,  /* bf16 values                                          */
    HD_ACT_Q8 = 2,    /* hd_block_q8x per 32 values                           */
    HD_ACT_Q8K = 3,   /* hd_block_q8_k per 256 values (ggml's Q8_K rounding)  */
    HD_ACT_Q8X2 = 4,  /* hd_block_q8x2 per 64 values (AVX-512 layout of Q8)    */
    HD_ACT_Q8X4H = 5, /* hd_block_q8x4h per 128 values (AVX-512, for Q4_0)     */
    HD_ACT_Q8KH = 6,  /* hd_block_q8_k per 256 values, quants in nibble order:
                         per 128-half the 32-runs 0, 2, 1, 3 (AVX-512, Q4_K/Q5_K) */
    HD_ACT_COUNT
} hd_act;

/* Q8_0 with an f32 scale: x = d * q, q = round-half-even(x / d), d = amax/127;
 * s8 = 8 · d · Σq, the term a Q4_0 dot product subtracts for the weights' offset of 8
 * (Σ (n - 8)·q = Σ n·q - 8·Σq), so the kernels multiply unsigned nibbles directly. */
typedef struct { float d; float s8; int8_t qs[32]; } hd_block_q8x;   /* 40 bytes */
/* Two hd_block_q8x laid out for zmm: d of the first block in lanes 0-7, of the
 * second in lanes 8-15, then both blocks' 64 quants.  An odd last block is paired
 * with zeros. */
typedef struct { float d[16]; int8_t qs[64]; } hd_block_q8x2;   /* 128 bytes */
/* Four hd_block_q8x in the order of four Q4_0 blocks' nibbles on zmm: d of block j
 * in lanes 4j..4j+3, lo[16j..16j+15] = its quants 0-15 (the low nibbles), hi = its
 * quants 16-31; c8[l] = −8 · (Σ lo[4l..4l+3] + Σ hi[4l..4l+3]).  Blocks past the
 * row's end are zeros. */
typedef struct { float d[16]; int32_t c8[16]; int8_t lo[64]; int8_t hi[64]; } hd_block_q8x4h;   /* 256 bytes */

/* Largest number of tokens one dot call handles. */
#define HD_DOT_MAX_NC 4

/* y[j * ys] = dot(w[0..k), x_j) for j < nc (1..HD_DOT_MAX_NC); x_j = x + j*xs bytes,
 * already in act_of[w type] format.  k is a multiple of the type's block size. */
typedef void (*hd_dot_fn)(int64_t k, const void *w, const void *x, size_t xs, int nc, float *y, size_t ys);
/* One token against nr (1..HD_DOT_ROWS) weight rows: y[r] = dot(w + r·ws bytes, x) for r < nr,
 * x in act_of[w type] format.  Streaming several rows at once shares every activation
 * load among them, so long activation rows need not stay in L1 (matrix-vector decode). */
#define HD_DOT_ROWS 4
typedef void (*hd_dotr_fn)(int64_t k, const void *w, size_t ws, const void *x, int nr, float *y);
/* A tile of nr (1..HD_DOTM_ROWS) weight rows × nc (1..HD_DOTM_TOKENS) tokens:
 * y[c·ys + r] = dot(w + r·ws bytes, x + c·xs bytes) for r < nr, c < nc, x in act_of[w type]
 * format, k any length the type allows.  Few tokens (2..hd_linear_gemm_min_m − 1): every
 * weight load serves nc tokens and every activation load nr rows, so the weights stream
 * from memory once for all tokens without being packed for the gemm (short prompts). */
#define HD_DOTM_ROWS 4
#define HD_DOTM_TOKENS 4
typedef void (*hd_dotm_fn)(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs, int nc, float *y,
                           size_t ys);
/* Attention of nq (1..HD_ATTN_TILE_Q·HD_ATTN_TILES) queries of one head against nk keys,
 * F32 rows, no causal mask: out_r = softmax(scale · q_r·Kᵀ + mask_r)·V for r < nq.
 * Row r of q / mask / out at q + r·qs / mask + r·ms / out + r·os floats, key and value j
 * at k + j·ks / v + j·vs floats (mask NULL: none); ws: HD_ATTN_TILE_WS(d) floats, 64-byte
 * aligned, scratch.  A row that sees no key (mask all −∞) comes out as zeros.  Works like
 * a flash attention whose tiles are gemm micro-kernels: queries are transposed once to
 * [d][32] per tile of 32 so scores, the online softmax and p·V all run along the 32
 * queries of a register pair (no horizontal sums per key); the tiles share each block of
 * HD_ATTN_TILE_KB keys and values while it is in cache. */
#define HD_ATTN_TILE_Q 32
#define HD_ATTN_TILES 4
#define HD_ATTN_TILE_KB 48
#define HD_ATTN_TILE_WS(d) \
    (HD_ATTN_TILES * ((size_t)(d) * 2 * HD_ATTN_TILE_Q + 64) + (size_t)HD_ATTN_TILE_KB * HD_ATTN_TILE_Q)
/* What a block of the mask (32 queries × HD_ATTN_TILE_KB keys) holds: only zeros (nothing to
 * add), only −∞ (the block is skipped: it adds nothing), or a mix (added as it is). */
enum { HD_ATTN_MASK_ZERO = 0, HD_ATTN_MASK_NONE = 1, HD_ATTN_MASK_MIXED = 2 };
/* mcls: the class of tile t's (queries 32t..32t+31 of this call) key block b at
 * mcls[t·mcs + b]; NULL: every block of a given mask is MIXED. */
typedef void (*hd_attn_tile_fn)(int64_t d, int nq, int64_t nk, float scale, const float *q, size_t qs, const float *k,
                                size_t ks, const float *v, size_t vs, const float *mask, size_t ms,
                                const uint8_t *mcls, size_t mcs, float *out, size_t os, float *ws);
/* Packs nr (<= the panel width) weight rows, row r at w + r·ws bytes (already offset to
 * the K block), kc columns into a gemm panel: [kc][nr_panel] floats for the f32 gemm
 * (F32/F16 weights), [kc/2][nr_panel] bf16 pairs for the bf16 gemm; rows past nr zero. */
typedef void (*hd_pack_fn)(const void *w, size_t ws, int nr, int64_t kc, void *wp);
/* Converts k floats (multiple of the act block) into act format at dst. */
typedef void (*hd_act_fn)(const float *x, void *dst, int64_t k);
/* Dequantizes k values of a row (multiple of the block size) to floats. */
typedef void (*hd_deq_fn)(const void *src, float *dst, int64_t k);

/* gemm micro-kernel: c[m*ldc + n] (+)= Σ_{k<kc} xp[k][m] * wp[k][n] for m < mr <= MR,
 * n < nr <= NR; xp is [kc][MR] floats (rows past mr zero), wp [kc][NR] floats.
 * For the bf16 variant, xp is [kc/2][MR][2] and wp [kc/2][NR][2] bf16 pairs. */
typedef void (*hd_gemm_fn)(int64_t kc, const void *xp, const void *wp, float *c, size_t ldc, int mr, int nr,
                           bool accumulate);

typedef struct hd_kernels {
    hd_cpu_level level;
    hd_act act_of[HD_TYPE_COUNT];          /* activation format per weight type  */
    hd_act_fn act[HD_ACT_COUNT];           /* NULL for formats this level never uses */
    hd_dot_fn dot[HD_TYPE_COUNT];          /* NULL = type not supported           */
    hd_dotr_fn dot_rows[HD_TYPE_COUNT];    /* one token, several rows; NULL = dot[] row by row */
    hd_dotm_fn dot_tile[HD_TYPE_COUNT];    /* several tokens × several rows; NULL = dot[] */
    hd_deq_fn deq[HD_TYPE_COUNT];          /* row dequantizers (for gemm packing) */
    hd_pack_fn pack[HD_TYPE_COUNT];        /* whole-panel packers (F32/F16/BF16); NULL = deq + scatter */
    int mr, nr;                            /* f32 gemm tile                       */
    hd_gemm_fn gemm_f32;
    int mr_bf16, nr_bf16;                  /* bf16 gemm tile (0 = none)           */
    hd_gemm_fn gemm_bf16;                  /* NULL = BF16 weights use the f32 gemm */
    /* int8 gemm for Q8_0/Q4_0 weights (NULL = those use the f32 gemm).  Per 32-block
     * of K: tokens packed as hd_q8_xtile_bytes(MR) bytes — [8][MR] groups of 4 int8,
     * int32 corr[MR] (offset·Σq), float d[MR]; weights as NR·36 bytes — [8][NR][4]
     * unsigned bytes (Q8_0: q + 128, Q4_0: the nibble), float d[NR].  The kernel
     * computes Σ_blocks (Σ w·x − corr) · dw · dx, i.e. the dot path's arithmetic. */
    int mr_q8, nr_q8;
    hd_gemm_fn gemm_q8;
    /* int8 gemms for K-quants against Q8_K tokens (NULL = f32 gemm): gemm_qk for
     * Q4_K/Q5_K (8 sub-blocks of 32), gemm_q6k for Q6_K (16 sub-blocks of 16).  Per
     * 256-block with S sub-blocks: tokens HD_QK_XTILE_BYTES(MR, S) — int32 groups
     * [64][MR] of 4 int8, int32 [S/2][MR] pairs of 16-bit sub-block sums, float d[MR];
     * weights HD_QK_WPANEL_BYTES(NR, S) — [64][NR][4] unsigned quants, int32
     * scale[S][NR], int32 [S/2][NR] pairs of 16-bit mins, float d[NR], dmin[NR].
     * Computes Σ d·dx·Σ_j sc_j·(q·x)_j − dmin·dx·Σ_j m_j·s_j, the dot path's
     * arithmetic (Q6_K: m_j = 32·sc_j, dmin = d). */
    int mr_qk, nr_qk;
    hd_gemm_fn gemm_qk, gemm_q6k;
    hd_attn_tile_fn attn_tile;             /* NULL: the level has none (ops_attention.c's rows) */
    /* Arithmetic peak probe: `iters` rounds of independent FMAs (bf16: vdpbf16ps,
     * NULL where the level has none) on registers; returns the flops done. */
    double (*peak_f32)(int64_t iters);
    double (*peak_bf16)(int64_t iters);
    double (*peak_int8)(int64_t iters);   /* vpdpbusd: ops = 2 per byte product */
} hd_kernels;

/* The level's row dequantizer for t, or the reference one where the level has none. */
hd_deq_fn hd_kernels_deq(const hd_kernels *k, hd_type t);

/* The table for a level (never NULL; a level the build lacks gives the next lower). */
const hd_kernels *hd_kernels_get(hd_cpu_level level);

/* Per-level tables (matmul_scalar.c, matmul_avx2.c, matmul_avx512.c). */
extern const hd_kernels hd_kernels_scalar;
extern const hd_kernels hd_kernels_avx2;
extern const hd_kernels hd_kernels_avx512;

/* Packed int8 gemm block sizes (see gemm_q8). */
#define HD_Q8_XTILE_BYTES(mr) ((size_t)(mr) * 40)
#define HD_Q8_WPANEL_BYTES(nr) ((size_t)(nr) * 36)
#define HD_QK_XTILE_BYTES(mr, s) ((size_t)(mr) * (256 + 2 * (s) + 4))
#define HD_QK_WPANEL_BYTES(nr, s) ((size_t)(nr) * (256 + 4 * (s) + 2 * (s) + 8))

/* Tokens from which hd_op_linear takes the gemm path for weight type t (else dot). */
int hd_linear_gemm_min_m(const hd_kernels *k, hd_type t);

/* Bytes of one activation row of k values in format a. */
size_t hd_act_row_size(hd_act a, int64_t k);

/* Scalar helpers shared by the kernels (quant.c / matmul_scalar.c). */
void hd_q4k_scale_min(int j, const uint8_t *scales, uint8_t *sc, uint8_t *m);
void hd_quantize_row_q8_k_ref(const float *x, hd_block_q8_k *y, int64_t nb);
void hd_act_q8x_scalar(const float *x, void *dst, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
