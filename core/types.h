/* core/types.h — element types with exactly GGUF's (ggml's) block layouts.
 *
 * The enum values are the GGUF on-disk type ids, so a tensor record read from a
 * GGUF file maps to hd_type without translation and its bytes are used in
 * place (mmap, no copy).  Quantized types store rows as arrays of blocks; a
 * row length must be a multiple of the type's block size.
 */
#ifndef HD_TYPES_H
#define HD_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_type {
    HD_TYPE_F32 = 0,
    HD_TYPE_F16 = 1,
    HD_TYPE_Q4_0 = 2,
    HD_TYPE_Q8_0 = 8,
    HD_TYPE_Q4_K = 12,
    HD_TYPE_Q5_K = 13,
    HD_TYPE_Q6_K = 14,
    HD_TYPE_Q8_K = 15,   /* activations only (K-quant dot products), never in files we write */
    HD_TYPE_BF16 = 30,
    HD_TYPE_COUNT = 40,  /* upper bound of ids, not a type */
} hd_type;

typedef uint16_t hd_f16;   /* IEEE 754 binary16 bits */
typedef uint16_t hd_bf16;  /* bfloat16 bits           */

#define HD_QK4_0 32
#define HD_QK8_0 32
#define HD_QK_K 256
#define HD_K_SCALE_SIZE 12

/* Q4_0: 32 weights, x = (q - 8) * d.  qs[j] low nibble = weight j, high nibble = weight j+16. */
typedef struct { hd_f16 d; uint8_t qs[HD_QK4_0 / 2]; } hd_block_q4_0;        /* 18 bytes  */
/* Q8_0: 32 weights, x = q * d. */
typedef struct { hd_f16 d; int8_t qs[HD_QK8_0]; } hd_block_q8_0;             /* 34 bytes  */
/* Q4_K: 256 weights in 8 sub-blocks of 32; 6-bit scales and mins packed in scales[12];
 * x = d*sc*q - dmin*m. */
typedef struct {
    hd_f16 d, dmin;
    uint8_t scales[HD_K_SCALE_SIZE];
    uint8_t qs[HD_QK_K / 2];
} hd_block_q4_k;                                                              /* 144 bytes */
/* Q5_K: as Q4_K plus a fifth bit per weight in qh. */
typedef struct {
    hd_f16 d, dmin;
    uint8_t scales[HD_K_SCALE_SIZE];
    uint8_t qh[HD_QK_K / 8];
    uint8_t qs[HD_QK_K / 2];
} hd_block_q5_k;                                                              /* 176 bytes */
/* Q6_K: 256 weights in 16 sub-blocks of 16; x = d * scales[i] * (q - 32). */
typedef struct {
    uint8_t ql[HD_QK_K / 2];
    uint8_t qh[HD_QK_K / 4];
    int8_t scales[HD_QK_K / 16];
    hd_f16 d;
} hd_block_q6_k;                                                              /* 210 bytes */
/* Q8_K: activation blocks for K-quant dot products. */
typedef struct {
    float d;
    int8_t qs[HD_QK_K];
    int16_t bsums[HD_QK_K / 16];
} hd_block_q8_k;                                                              /* 292 bytes */

_Static_assert(sizeof(hd_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(hd_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(hd_block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(hd_block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(hd_block_q6_k) == 210, "q6_k layout");
_Static_assert(sizeof(hd_block_q8_k) == 292, "q8_k layout");

typedef struct hd_type_traits {
    const char *name;     /* "F32", "Q4_K", ... as GGUF tools print them      */
    size_t block_size;    /* elements per block (1 for F32/F16/BF16)            */
    size_t type_size;     /* bytes per block                                    */
    bool quantized;
} hd_type_traits;

/* NULL for ids that are not a supported type. */
const hd_type_traits *hd_type_get(int type);
bool hd_type_valid(int type);
const char *hd_type_name(int type);           /* "?" when unknown */
/* Parses "F32", "q4_k", ... ; returns -1 when unknown. */
int hd_type_from_name(const char *name);
/* Bytes for n elements (n must be a multiple of the block size; returns 0 if not). */
size_t hd_type_row_size(hd_type type, int64_t n);

/* Scalar conversions (exact IEEE round-to-nearest-even). */
float hd_f16_to_f32(hd_f16 h);
hd_f16 hd_f32_to_f16(float f);
static inline float hd_bf16_to_f32(hd_bf16 h) {
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
hd_bf16 hd_f32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
