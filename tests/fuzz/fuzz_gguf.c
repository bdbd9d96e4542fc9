/* tests/fuzz/fuzz_gguf.c — libFuzzer harness for the GGUF reader.
 *
 * Any input must give either a clean one-line error naming the input, or a
 * reader whose every key, value, array element and tensor byte can be read
 * without leaving the buffer (libFuzzer's buffer is exactly sized, so ASan
 * flags any overread).  Valid inputs are also copied through the writer's
 * copy_kv path. */
#include "core/gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.gguf"

/* A failed invariant names itself, then aborts (libFuzzer saves the input). */
#define check(cond) ((cond) ? (void)0 : (fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond), abort()))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hd_error err = {0};
    hd_gguf *g = hd_gguf_open_memory(data, size, NAME, &err);
    if (!g) {
        check(err.code != HD_OK);
        check(strncmp(err.msg, NAME ": ", sizeof NAME + 1) == 0);
        check(strchr(err.msg, '\n') == NULL);
        return 0;
    }
    volatile unsigned acc = 0;
    for (int64_t i = 0; i < hd_gguf_n_kv(g); i++) {
        const char *key = hd_gguf_kv_key(g, i);
        check(key && key[0] && hd_gguf_find_key(g, key) == i);
        const char *s;
        size_t len;
        double d;
        hd_gguf_vtype et;
        uint64_t n;
        if (hd_gguf_kv_str(g, i, &s, &len)) {
            check((const uint8_t *)s >= data && (const uint8_t *)s + len <= data + size);
            for (size_t k = 0; k < len; k++) acc += (unsigned char)s[k];
        } else if (hd_gguf_kv_array(g, i, &et, &n)) {
            for (uint64_t j = 0; j < n; j++) {
                if (et == HD_GGUF_STRING) {
                    check(hd_gguf_arr_str(g, i, j, &s, &len));
                    check((const uint8_t *)s >= data && (const uint8_t *)s + len <= data + size);
                    if (len) acc += (unsigned char)s[len - 1];
                } else {
                    check(hd_gguf_arr_number(g, i, j, &d));
                    acc += d > 0;
                }
            }
        } else {
            check(hd_gguf_kv_number(g, i, &d));
            uint32_t u;
            int64_t v;
            float f;
            bool b;
            acc += hd_gguf_get_u32(g, key, &u) + hd_gguf_get_i64(g, key, &v) + hd_gguf_get_f32(g, key, &f) +
                   hd_gguf_get_bool(g, key, &b);
        }
    }
    for (int64_t i = 0; i < hd_gguf_n_tensors(g); i++) {
        const hd_gguf_tensor_info *t = hd_gguf_tensor(g, i);
        const uint8_t *p = t->data;
        check(hd_gguf_find_tensor(g, t->name) == i);
        check(p >= data && p + t->nbytes <= data + size);
        check(t->offset % hd_gguf_alignment(g) == 0);
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
        hd_tensor v = hd_gguf_tensor_view(g, i);
        check(v.nb[1] * (size_t)(v.ne[1] * v.ne[2] * v.ne[3]) == t->nbytes);
    }
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    check(w && hd_gguf_copy_kv(w, g, &err) == HD_OK);
    hd_gguf_writer_free(w);
    hd_gguf_close(g);
    (void)acc;
    return 0;
}
