/* core/quant.h — row conversion between F32 and every storage type.
 *
 * n is the number of elements and must be a multiple of the type's block size
 * (hd_type_get(type)->block_size).  Quantizers follow ggml's reference
 * rounding so files we write match what llama.cpp writes for the same data.
 */
#ifndef HD_QUANT_H
#define HD_QUANT_H

#include "types.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every type in hd_type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q8_K. */
void hd_dequantize_row(hd_type type, const void *src, float *dst, int64_t n);
/* F32 -> F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q8_K; returns bytes written,
 * 0 for an unsupported target or a bad n. */
size_t hd_quantize_row(hd_type type, const float *src, void *dst, int64_t n);
bool hd_type_can_quantize(hd_type type);

#ifdef __cplusplus
}
#endif
#endif
