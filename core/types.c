#include "types.h"

#include <ctype.h>
#include <string.h>

static const hd_type_traits k_traits[HD_TYPE_COUNT] = {
    [HD_TYPE_F32] = {"F32", 1, sizeof(float), false},
    [HD_TYPE_F16] = {"F16", 1, sizeof(hd_f16), false},
    [HD_TYPE_BF16] = {"BF16", 1, sizeof(hd_bf16), false},
    [HD_TYPE_Q4_0] = {"Q4_0", HD_QK4_0, sizeof(hd_block_q4_0), true},
    [HD_TYPE_Q8_0] = {"Q8_0", HD_QK8_0, sizeof(hd_block_q8_0), true},
    [HD_TYPE_Q4_K] = {"Q4_K", HD_QK_K, sizeof(hd_block_q4_k), true},
    [HD_TYPE_Q5_K] = {"Q5_K", HD_QK_K, sizeof(hd_block_q5_k), true},
    [HD_TYPE_Q6_K] = {"Q6_K", HD_QK_K, sizeof(hd_block_q6_k), true},
    [HD_TYPE_Q8_K] = {"Q8_K", HD_QK_K, sizeof(hd_block_q8_k), true},
};

const hd_type_traits *hd_type_get(int type) {
    if (type < 0 || type >= HD_TYPE_COUNT || !k_traits[type].name) return NULL;
    return &k_traits[type];
}

bool hd_type_valid(int type) { return hd_type_get(type) != NULL; }

const char *hd_type_name(int type) {
    const hd_type_traits *t = hd_type_get(type);
    return t ? t->name : "?";
}

int hd_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < HD_TYPE_COUNT; i++) {
        if (!k_traits[i].name) continue;
        const char *a = k_traits[i].name, *b = name;
        while (*a && *b && toupper((unsigned char)*a) == toupper((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return i;
    }
    return -1;
}

size_t hd_type_row_size(hd_type type, int64_t n) {
    const hd_type_traits *t = hd_type_get(type);
    if (!t || n < 0 || n % (int64_t)t->block_size) return 0;
    return (size_t)(n / (int64_t)t->block_size) * t->type_size;
}

float hd_f16_to_f32(hd_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v = {.u = bits};
    return v.f;
}

hd_f16 hd_f32_to_f16(float f) {
    union { float f; uint32_t u; } v = {.f = f};
    uint32_t x = v.u;
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (hd_f16)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (hd_f16)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* below 2^-14: subnormal or zero */
        if (absx < 0x33000000u) return (hd_f16)sign; /* < 2^-25 rounds to 0 */
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (hd_f16)(sign | r);
    }
    uint32_t r = absx - 0x38000000u; /* rebias exponent 127 -> 15, in place */
    uint32_t h = r >> 13;
    uint32_t rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (hd_f16)(sign | h);
}

hd_bf16 hd_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (hd_bf16)((v.u >> 16) | 64); /* quiet nan */
    return (hd_bf16)((v.u + (0x7fff + ((v.u >> 16) & 1))) >> 16);
}
