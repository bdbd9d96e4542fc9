/* tests/unit/test_prosody.c — speech/prosody.c on a tiny random model
 * (speech/prosody_random.c): streamed (incremental, KV-cached, one phone at
 * a time with tokens arriving by chunk) == autoregressive whole-utterance
 * prediction == the teacher-forced parallel forward fed those predictions;
 * the lookahead (phone i sees phones ≤ i+L and the tokens of their chunks,
 * nothing later); no-token utterances; argument and file errors.  (Parity
 * with a PyTorch reference: tests/parity/test_prosody.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/random_model_impl.h"
#include "speech/prosody.h"
#include "testutil.h"

extern const hd_rm_arch hd_rm_arch_prosody;

enum { N = 19, T = 11 };

static char g_path[512];

static int setup(void **state) {
    (void)state;
    snprintf(g_path, sizeof g_path, "%s/prosody-tiny.gguf", tu_tmpdir());
    hd_random_model_params p = hd_random_model_default_params();
    p.arch = "prosody";
    p.preset = "tiny";
    p.seed = 7;
    hd_error err = {0};
    if (hd_rm_arch_prosody.write(&p, g_path, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

typedef struct utt {
    int32_t ids[N], chunk[N], tok_chunk[T];
    float feats[N * 4];
    float *emb;   /* [T][D_llm] */
} utt;

static void make_utt(utt *u, const hd_prosody_model *m, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    const int V = hd_prosody_n_phones(m), Dl = hd_prosody_config_of(m)->n_llm;
    int word = 0;
    for (int i = 0; i < N; i++) {
        u->ids[i] = (int32_t)(tu_rng_u64(&r) % (uint64_t)V);
        if (i && tu_rng_uniform(&r) < 0.35f) word++;
        u->chunk[i] = word;
        for (int k = 0; k < 4; k++) u->feats[i * 4 + k] = tu_rng_uniform(&r) < 0.3f ? 1.0f : 0.0f;
    }
    /* tokens: about two per word, over the words 0..word */
    for (int t = 0; t < T; t++) u->tok_chunk[t] = (int32_t)((int64_t)t * (word + 1) / T);
    u->emb = malloc((size_t)T * (size_t)Dl * sizeof(float));
    tu_fill_normal(&r, u->emb, (size_t)T * (size_t)Dl, 1.0f);
}

static hd_prosody_input input_of(const utt *u, int n_tokens) {
    return (hd_prosody_input){.n_phones = N, .phone_ids = u->ids, .feats = u->feats, .phone_chunk = u->chunk,
                              .n_tokens = n_tokens, .tok_emb = n_tokens ? u->emb : NULL,
                              .tok_chunk = n_tokens ? u->tok_chunk : NULL};
}

static void test_load(void **state) {
    (void)state;
    hd_error err = {0};
    hd_prosody_model *m = hd_prosody_load(g_path, &err);
    assert_non_null(m);
    const hd_prosody_config *c = hd_prosody_config_of(m);
    assert_int_equal(c->n_head, 6);
    assert_int_equal(c->n_embd, 48);
    assert_int_equal(c->lookahead, 3);
    assert_int_equal(hd_prosody_phone_id(m, "<unk>"), 0);
    assert_true(hd_prosody_phone_id(m, "aI") > 0);
    assert_string_equal(hd_prosody_default_phones()[hd_prosody_phone_id(m, "aI")], "aI");
    assert_int_equal(hd_prosody_phone_id(m, "no-such-phone"), 0);
    hd_prosody_free(m);
    hd_prosody_free(NULL);
    hd_prosody_config pc;
    assert_true(hd_prosody_preset("paper", &pc));
    assert_int_equal(pc.n_ff, 864);
    assert_int_equal(pc.n_head, 6);
    assert_false(hd_prosody_preset("huge", &pc));
}

/* streamed == whole: autoregressive prediction vs the teacher-forced forward */
static void check_stream_equals_whole(int n_tokens) {
    hd_error err = {0};
    hd_prosody_model *m = hd_prosody_load(g_path, &err);
    assert_non_null(m);
    utt u;
    make_utt(&u, m, 3);
    hd_prosody_input in = input_of(&u, n_tokens);
    float pred[N * 3], whole[N * 3], yprev[N * 3];
    assert_int_equal(hd_prosody_predict(m, NULL, &in, pred, &err), HD_OK);
    memset(yprev, 0, sizeof yprev);
    memcpy(yprev + 3, pred, (N - 1) * 3 * sizeof(float));
    assert_int_equal(hd_prosody_forward(m, NULL, &in, yprev, whole, &err), HD_OK);
    float e = tu_max_rel_err(whole, pred, N * 3);
    if (e > 1e-5f) fail_msg("whole vs streamed: rel err %g", e);
    print_message("streamed vs whole (%d tokens): max rel err %.3g\n", n_tokens, e);
    for (int i = 0; i < N * 3; i++) assert_true(isfinite(pred[i]));
    /* the values vary with the input (not a constant head) */
    float lo = pred[0], hi = pred[0];
    for (int i = 0; i < N; i++) lo = fminf(lo, pred[3 * i]), hi = fmaxf(hi, pred[3 * i]);
    assert_true(hi - lo > 1e-3f);

    /* incremental: tokens of a chunk arrive just before its first phone,
     * outputs are taken whenever the lookahead allows */
    hd_prosody_stream *s = hd_prosody_stream_create(m, N, T, &err);
    assert_non_null(s);
    const int L = hd_prosody_config_of(m)->lookahead, Dl = hd_prosody_config_of(m)->n_llm;
    int got = 0, t_added = 0;
    float inc[N * 3];
    for (int i = 0; i < N; i++) {
        while (t_added < n_tokens && u.tok_chunk[t_added] <= u.chunk[i]) {
            assert_int_equal(hd_prosody_stream_add_tokens(s, 1, u.emb + (size_t)t_added * Dl, &u.tok_chunk[t_added], &err), HD_OK);
            t_added++;
        }
        assert_int_equal(hd_prosody_stream_add_phone(s, u.ids[i], u.feats + 4 * i, u.chunk[i], &err), HD_OK);
        int idx, r;
        while ((r = hd_prosody_stream_step(s, NULL, inc + 3 * got, &idx, &err)) == 1) {
            assert_int_equal(idx, got);
            got++;
        }
        assert_int_equal(r, 0);
        /* delayed pattern: phone i's output needs phones up to i + L */
        assert_int_equal(got, i + 1 > L ? i + 1 - L : 0);
    }
    hd_prosody_stream_end(s);
    int idx;
    while (hd_prosody_stream_step(s, NULL, inc + 3 * got, &idx, &err) == 1) got++;
    assert_int_equal(got, N);
    e = tu_max_rel_err(inc, pred, N * 3);
    if (e > 1e-6f) fail_msg("incremental vs predict: rel err %g", e);
    /* a phone after the end is refused */
    float f4[4] = {0};
    assert_int_equal(hd_prosody_stream_add_phone(s, 1, f4, 99, &err), HD_ERR_ARG);
    hd_prosody_stream_free(s);
    free(u.emb);
    hd_prosody_free(m);
}

static void test_stream_equals_whole(void **state) {
    (void)state;
    check_stream_equals_whole(T);
}

static void test_stream_equals_whole_no_tokens(void **state) {
    (void)state;
    check_stream_equals_whole(0);
}

/* Output i depends on phones ≤ i+L and tokens of their chunks only. */
static void test_lookahead(void **state) {
    (void)state;
    hd_error err = {0};
    hd_prosody_model *m = hd_prosody_load(g_path, &err);
    assert_non_null(m);
    const int L = hd_prosody_config_of(m)->lookahead, V = hd_prosody_n_phones(m);
    const int Dl = hd_prosody_config_of(m)->n_llm;
    utt u;
    make_utt(&u, m, 5);
    hd_prosody_input in = input_of(&u, T);
    float y0[N * 3] = {0}, a[N * 3], b[N * 3];
    assert_int_equal(hd_prosody_forward(m, NULL, &in, y0, a, &err), HD_OK);
    const int j = 10;   /* change phone j */
    u.ids[j] = (u.ids[j] + 1) % V;
    assert_int_equal(hd_prosody_forward(m, NULL, &in, y0, b, &err), HD_OK);
    for (int i = 0; i < N; i++) {
        float d = fabsf(a[3 * i] - b[3 * i]) + fabsf(a[3 * i + 1] - b[3 * i + 1]) + fabsf(a[3 * i + 2] - b[3 * i + 2]);
        if (i < j - L) assert_true(d == 0.0f);   /* phone j is beyond their lookahead */
        else assert_true(d > 0.0f);               /* i = j-L .. N-1 see it */
    }
    u.ids[j] = (u.ids[j] + V - 1) % V;
    /* change the last token: only phones whose lookahead reaches its chunk see it */
    const int32_t last_chunk = u.tok_chunk[T - 1];
    for (int k = 0; k < Dl; k++) u.emb[(size_t)(T - 1) * Dl + k] += 1.0f;
    assert_int_equal(hd_prosody_forward(m, NULL, &in, y0, b, &err), HD_OK);
    int changed = 0;
    for (int i = 0; i < N; i++) {
        int newest = i + L < N - 1 ? i + L : N - 1;
        float d = fabsf(a[3 * i] - b[3 * i]) + fabsf(a[3 * i + 1] - b[3 * i + 1]) + fabsf(a[3 * i + 2] - b[3 * i + 2]);
        if (u.chunk[newest] < last_chunk) assert_true(d == 0.0f);
        else assert_true(d > 0.0f), changed++;
    }
    assert_true(changed > 0 && changed < N);
    free(u.emb);
    hd_prosody_free(m);
}

static void test_errors(void **state) {
    (void)state;
    hd_error err = {0};
    hd_prosody_model *m = hd_prosody_load(g_path, &err);
    assert_non_null(m);
    utt u;
    make_utt(&u, m, 9);
    hd_prosody_input in = input_of(&u, T);
    float out[N * 3];
    u.ids[4] = hd_prosody_n_phones(m);
    assert_int_equal(hd_prosody_predict(m, NULL, &in, out, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "phone 4"));
    u.ids[4] = 1;
    u.chunk[6] = -1;
    assert_int_equal(hd_prosody_predict(m, NULL, &in, out, &err), HD_ERR_ARG);
    assert_non_null(strstr(err.msg, "chunks decrease"));
    in.n_phones = 0;
    assert_int_equal(hd_prosody_forward(m, NULL, &in, out, out, &err), HD_ERR_ARG);
    assert_null(hd_prosody_stream_create(m, 0, 0, &err));
    free(u.emb);
    hd_prosody_free(m);

    /* files: truncated, and a GGUF of another kind */
    size_t size = 0;
    unsigned char *data = tu_read_file(g_path, &size);
    assert_non_null(data);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/prosody-truncated.gguf", tu_tmpdir());
    assert_int_equal(tu_write_file(bad, data, size / 2), 0);
    assert_null(hd_prosody_load(bad, &err));
    assert_non_null(strstr(err.msg, "prosody-truncated.gguf"));
    free(data);
    char other[600];
    snprintf(other, sizeof other, "%s/not-prosody.gguf", tu_tmpdir());
    hd_gguf_writer *w = hd_gguf_writer_create(&err);
    assert_non_null(w);
    assert_int_equal(hd_gguf_set_str(w, "general.architecture", "llama"), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, other, &err), HD_OK);
    hd_gguf_writer_free(w);
    assert_null(hd_prosody_load(other, &err));
    assert_non_null(strstr(err.msg, "not-prosody.gguf"));
    assert_non_null(strstr(err.msg, "prosody.embedding_length"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_stream_equals_whole_no_tokens),
        cmocka_unit_test(test_lookahead),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
