#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void tu_rng_seed(tu_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint64_t tu_rng_u64(tu_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return r->s = x;
}

float tu_rng_uniform(tu_rng *r) { return (float)(tu_rng_u64(r) >> 40) / (float)(1ull << 24); }

float tu_rng_normal(tu_rng *r) {
    float u1 = tu_rng_uniform(r), u2 = tu_rng_uniform(r);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

void tu_fill_normal(tu_rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = tu_rng_normal(r) * scale;
}

float tu_max_abs_err(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

float tu_max_rel_err(const float *a, const float *b, size_t n) {
    float ref = 1e-30f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(b[i]) > ref) ref = fabsf(b[i]);
    return tu_max_abs_err(a, b, n) / ref;
}

const char *tu_fixture(char *buf, size_t size, const char *rel) {
    const char *root = getenv("HERD_FIXTURES");
    snprintf(buf, size, "%s/%s", root ? root : HERD_FIXTURES, rel);
    return buf;
}

static char g_tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* The test's folder goes when the process exits (HERD_KEEP_TMP=1 keeps it to look at):
   some tests write hundreds of MB of models there. */
static void tmpdir_cleanup(void) {
    const char *keep = getenv("HERD_KEEP_TMP");
    if (g_tmpdir[0] && !(keep && *keep && strcmp(keep, "0")))
        nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void) {
    if (!g_tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/herd-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(g_tmpdir)) {
            g_tmpdir[0] = 0;
            return "/tmp";
        }
        atexit(tmpdir_cleanup);
    }
    return g_tmpdir;
}

void *tu_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, size, f);
    return fclose(f) == 0 && w == size ? 0 : -1;
}
