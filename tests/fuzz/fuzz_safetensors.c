/* tests/fuzz/fuzz_safetensors.c — libFuzzer harness for the safetensors
 * reader: a clean one-line error naming the input, or tensors whose bytes all
 * lie inside the (exactly sized) buffer. */
#include "core/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.safetensors"

/* A failed invariant names itself, then aborts (libFuzzer saves the input). */
#define check(cond) ((cond) ? (void)0 : (fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond), abort()))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hd_error err = {0};
    hd_safetensors *st = hd_safetensors_open_memory(data, size, NAME, &err);
    if (!st) {
        check(err.code != HD_OK);
        check(strncmp(err.msg, NAME ": ", sizeof NAME + 1) == 0);
        check(strchr(err.msg, '\n') == NULL);
        return 0;
    }
    volatile unsigned acc = 0;
    for (int64_t i = 0; i < hd_safetensors_n_meta(st); i++) {
        const char *k, *v;
        check(hd_safetensors_meta(st, i, &k, &v));
        acc += (unsigned)(strlen(k) + strlen(v));
    }
    for (int64_t i = 0; i < hd_safetensors_n_tensors(st); i++) {
        const hd_st_tensor *t = hd_safetensors_tensor(st, i);
        const uint8_t *p = t->data;
        check(hd_safetensors_find(st, t->name) == i);
        check(p >= data && p + t->nbytes <= data + size);
        check(t->n_dims >= 0 && t->n_dims <= HD_ST_MAX_DIMS);
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
        hd_tensor v;
        if (hd_safetensors_view(st, i, &v, &err) == HD_OK) {
            check(v.data == t->data);
            check(hd_tensor_nbytes(&v) == t->nbytes);
        } else {
            check(err.code == HD_ERR_UNSUPPORTED);
        }
    }
    hd_safetensors_close(st);
    (void)acc;
    return 0;
}
