#include "cpu.h"

#include <stdlib.h>
#include <string.h>

static int g_max = -1;
static int g_level = -1;

static hd_cpu_level detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return HD_CPU_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return HD_CPU_AVX2;
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
