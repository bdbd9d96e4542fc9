/* tests/unit/testutil.h — helpers shared by the cmocka unit tests. */
#ifndef HD_TESTUTIL_H
#define HD_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Deterministic xorshift random numbers. */
typedef struct { uint64_t s; } tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_u64(tu_rng *r);
float tu_rng_uniform(tu_rng *r);                 /* [0, 1)  */
float tu_rng_normal(tu_rng *r);                  /* N(0, 1) */
void tu_fill_normal(tu_rng *r, float *x, size_t n, float scale);

/* max |a-b| / max(max|b|, tiny) */
float tu_max_rel_err(const float *a, const float *b, size_t n);
float tu_max_abs_err(const float *a, const float *b, size_t n);

/* Path helpers: HERD_FIXTURES "/" rel into buf. */
const char *tu_fixture(char *buf, size_t size, const char *rel);
/* A fresh temporary directory for this test (removed by the OS / CI). */
const char *tu_tmpdir(void);

/* Reads a whole file (caller frees); NULL on failure. */
void *tu_read_file(const char *path, size_t *size);
int tu_write_file(const char *path, const void *data, size_t size);

#endif
