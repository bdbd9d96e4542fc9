#include "cpu.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int g_max = -1;
static int g_level = -1;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* cpuid feature bits plus the OS's promise (XCR0) to save the wide registers. */
static hd_cpu_level detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return HD_CPU_SCALAR;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!osxsave || !avx) return HD_CPU_SCALAR;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return HD_CPU_SCALAR;               /* XMM + YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return HD_CPU_SCALAR;
    bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512dq = b & (1u << 17);
    bool avx512bw = b & (1u << 30), avx512vl = b & (1u << 31), vnni = c & (1u << 11);
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    bool bf16 = a1 & (1u << 5);
    bool zmm_os = (xcr0 & 0xe6) == 0xe6;                          /* opmask + ZMM state */
    if (avx2 && fma && f16c && avx512f && avx512dq && avx512bw && avx512vl && vnni && bf16 && zmm_os)
        return HD_CPU_AVX512;
    if (avx2 && fma && f16c) return HD_CPU_AVX2;
#endif
    return HD_CPU_SCALAR;
}

static void init(void) {
    if (g_max >= 0) return;
    int max = (int)detect();
    int level = max;
    const char *env = getenv("HERD_CPU");
    if (env) {
        if (strcmp(env, "scalar") == 0) level = HD_CPU_SCALAR;
        else if (strcmp(env, "avx2") == 0) level = HD_CPU_AVX2;
        else if (strcmp(env, "avx512") == 0) level = HD_CPU_AVX512;
        if (level > max) level = max;
    }
    g_level = level;
    g_max = max; /* set last: a racing first call re-derives the same values */
}

hd_cpu_level hd_cpu_level_get(void) {
    init();
    return (hd_cpu_level)g_level;
}

hd_cpu_level hd_cpu_level_max(void) {
    init();
    return (hd_cpu_level)g_max;
}

hd_cpu_level hd_cpu_set_level(hd_cpu_level level) {
    init();
    if ((int)level > g_max) level = (hd_cpu_level)g_max;
    if ((int)level < 0) level = HD_CPU_SCALAR;
    g_level = (int)level;
    return level;
}

const char *hd_cpu_level_name(hd_cpu_level level) {
    switch (level) {
    case HD_CPU_SCALAR: return "scalar";
    case HD_CPU_AVX2: return "avx2";
    case HD_CPU_AVX512: return "avx512";
    }
    return "?";
}
