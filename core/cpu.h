/* core/cpu.h — which SIMD kernels this machine runs.
 *
 * Detected once at first use (cpuid + OS support for the wider registers);
 * the environment variable HERD_CPU=scalar|avx2|avx512 forces a level (never
 * above what the machine has: asking for more falls back to the best
 * available).  Tests may switch levels with hd_cpu_set_level.
 */
#ifndef HD_CPU_H
#define HD_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_cpu_level {
    HD_CPU_SCALAR = 0,
    HD_CPU_AVX2 = 1,    /* AVX2 + FMA + F16C                                */
    HD_CPU_AVX512 = 2,  /* AVX-512 F/BW/VL/DQ + VNNI + BF16 (Zen 4, Sapphire Rapids) */
} hd_cpu_level;

hd_cpu_level hd_cpu_level_get(void);        /* the active level                */
hd_cpu_level hd_cpu_level_max(void);        /* the best the machine supports   */
/* Sets the active level (clamped to the maximum); returns the level set. */
hd_cpu_level hd_cpu_set_level(hd_cpu_level level);
const char *hd_cpu_level_name(hd_cpu_level level);   /* "scalar", "avx2", "avx512" */

#ifdef __cplusplus
}
#endif
#endif
