/* tests/unit/test_graph_models.c — the model cache (graph/models.h): sharing,
 * reference counts, concurrent loads of one file, failed loads, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

#include "graph/models.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "vision/vit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *write_model(const char *arch, const char *name) {
    static char paths[4][512];
    static int k;
    char *p = paths[k++ % 4];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = arch;
    rp.preset = "tiny";
    rp.n_threads = 1;
    hd_error err = {0};
    assert_int_equal(hd_random_model_write(&rp, p, &err), HD_OK);
    return p;
}

static void test_share_and_release(void **state) {
    (void)state;
    const char *path = write_model("llama", "share.gguf");
    hd_error err = {0};
    int base = hd_model_cache_count();
    int64_t loads = hd_model_cache_loads();
    hd_model *a = hd_model_acquire(HD_MODEL_LLAMA, path, &err);
    assert_non_null(a);
    assert_int_equal(hd_model_cache_count(), base + 1);
    assert_int_equal(hd_model_cache_loads(), loads + 1);

    /* the same file by another spelling of its path: same entry, no load */
    char other[600];
    snprintf(other, sizeof other, "%s/./share.gguf", tu_tmpdir());
    hd_model *b = hd_model_acquire(HD_MODEL_LLAMA, other, &err);
    assert_ptr_equal(a, b);
    assert_ptr_equal(hd_model_llama(a), hd_model_llama(b));
    assert_int_equal(hd_model_refs(a), 2);
    assert_int_equal(hd_model_cache_loads(), loads + 1);
    assert_int_equal(hd_model_get_kind(a), HD_MODEL_LLAMA);
    assert_string_equal(hd_model_path(a), path);
    /* typed getters of another kind give NULL */
    assert_null(hd_model_vit(a));
    assert_null(hd_model_tokenizer(a));
    assert_int_equal(hd_model_llama(a)->cfg.n_layer, hd_model_llama(b)->cfg.n_layer);

    hd_model_release(b);
    assert_int_equal(hd_model_refs(a), 1);
    assert_int_equal(hd_model_cache_count(), base + 1);
    hd_model_release(a);
    assert_int_equal(hd_model_cache_count(), base);

    /* after the last release a new acquire loads again */
    a = hd_model_acquire(HD_MODEL_LLAMA, path, &err);
    assert_non_null(a);
    assert_int_equal(hd_model_cache_loads(), loads + 2);
    assert_ptr_equal(hd_model_ref(a), a);
    assert_int_equal(hd_model_refs(a), 2);
    hd_model_release(a);
    hd_model_release(a);
    assert_int_equal(hd_model_cache_count(), base);
    hd_model_release(NULL);
}

static void test_kinds_are_separate(void **state) {
    (void)state;
    /* the same path as two kinds: two entries (a HF mllama folder is both a
     * vision encoder and a language model) */
    const char *path = write_model("mllama-vision", "vit.gguf");
    hd_error err = {0};
    int base = hd_model_cache_count();
    hd_model *v = hd_model_acquire(HD_MODEL_VIT, path, &err);
    assert_non_null(v);
    assert_non_null(hd_model_vit(v));
    assert_null(hd_model_llama(v));
    /* loading it as a language model fails with the loader's own message */
    hd_model *l = hd_model_acquire(HD_MODEL_LLAMA, path, &err);
    assert_null(l);
    assert_int_not_equal(err.code, HD_OK);
    assert_non_null(strstr(err.msg, "vit.gguf"));
    assert_int_equal(hd_model_cache_count(), base + 1);
    hd_model_lock(v);
    assert_int_equal(hd_vit_get_config(hd_model_vit(v))->max_tiles > 0, 1);
    hd_model_unlock(v);
    hd_model_release(v);
    assert_int_equal(hd_model_cache_count(), base);
}

static void test_errors(void **state) {
    (void)state;
    hd_error err = {0};
    int base = hd_model_cache_count();
    int64_t loads = hd_model_cache_loads();
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-model.gguf", tu_tmpdir());
    assert_null(hd_model_acquire(HD_MODEL_LLAMA, missing, &err));
    assert_non_null(strstr(err.msg, "no-such-model.gguf"));
    /* a failed load leaves no entry behind, and a retry fails again */
    assert_int_equal(hd_model_cache_count(), base);
    hd_error_clear(&err);
    assert_null(hd_model_acquire(HD_MODEL_LLAMA, missing, &err));
    assert_int_not_equal(err.code, HD_OK);
    assert_int_equal(hd_model_cache_loads(), loads);
    /* a corrupt file */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/garbage.gguf", tu_tmpdir());
    assert_int_equal(tu_write_file(bad, "GGUF\x03\0\0\0garbage", 15), 0);
    hd_error_clear(&err);
    assert_null(hd_model_acquire(HD_MODEL_VIT, bad, &err));
    assert_non_null(strstr(err.msg, "garbage.gguf"));
    assert_int_equal(hd_model_cache_count(), base);
    /* arguments */
    assert_null(hd_model_acquire(HD_MODEL_LLAMA, "", &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_null(hd_model_acquire(HD_MODEL_KIND_COUNT, missing, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    assert_string_equal(hd_model_kind_name(HD_MODEL_CONFORMER), "conformer");
    assert_string_equal(hd_model_kind_name(HD_MODEL_KIND_COUNT), "?");
}

typedef struct racer {
    const char *path;
    hd_model *got;
    pthread_barrier_t *bar;
} racer;

static void *race(void *arg) {
    racer *r = arg;
    hd_error err = {0};
    pthread_barrier_wait(r->bar);
    r->got = hd_model_acquire(HD_MODEL_TOKENIZER, r->path, &err);
    return NULL;
}

static void test_concurrent_acquire(void **state) {
    (void)state;
    /* 8 threads ask for the same tokenizer at once: one load, one object */
    char path[600];
    tu_fixture(path, sizeof path, "tokenizer/llama3_tokenizer.model");
    enum { N = 8 };
    pthread_t th[N];
    racer r[N];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    int base = hd_model_cache_count();
    int64_t loads = hd_model_cache_loads();
    for (int i = 0; i < N; i++) {
        r[i] = (racer){path, NULL, &bar};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    assert_int_equal(hd_model_cache_loads(), loads + 1);
    assert_int_equal(hd_model_cache_count(), base + 1);
    for (int i = 0; i < N; i++) {
        assert_non_null(r[i].got);
        assert_ptr_equal(r[i].got, r[0].got);
    }
    assert_int_equal(hd_model_refs(r[0].got), N);
    assert_int_equal(hd_tokenizer_n_ranked(hd_model_tokenizer(r[0].got)), 128000);
    for (int i = 0; i < N; i++) hd_model_release(r[i].got);
    assert_int_equal(hd_model_cache_count(), base);
}

typedef struct churner {
    const char *paths[2];
    int rounds, failures;
} churner;

static void *churn(void *arg) {
    churner *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        hd_error err = {0};
        hd_model *m = hd_model_acquire(HD_MODEL_VIT, c->paths[i & 1], &err);
        if (!m || !hd_model_vit(m)) {
            c->failures++;
            continue;
        }
        hd_model_lock(m);   /* exclusive use while another thread may release */
        if (hd_vit_get_config(hd_model_vit(m))->max_tiles <= 0) c->failures++;
        hd_model_unlock(m);
        hd_model_release(m);
    }
    return NULL;
}

static void test_acquire_release_churn(void **state) {
    (void)state;
    /* threads acquiring and releasing two files in turns: entries come and
     * go while others load them; every acquire succeeds, nothing is left */
    const char *a = write_model("mllama-vision", "churn-a.gguf");
    const char *b = write_model("mllama-vision", "churn-b.gguf");
    enum { N = 6 };
    pthread_t th[N];
    churner c[N];
    int base = hd_model_cache_count();
    for (int i = 0; i < N; i++) {
        c[i] = (churner){{i & 1 ? a : b, i & 1 ? b : a}, 40, 0};
        assert_int_equal(pthread_create(&th[i], NULL, churn, &c[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) assert_int_equal(c[i].failures, 0);
    assert_int_equal(hd_model_cache_count(), base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_and_release),
        cmocka_unit_test(test_kinds_are_separate),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_concurrent_acquire),
        cmocka_unit_test(test_acquire_release_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
