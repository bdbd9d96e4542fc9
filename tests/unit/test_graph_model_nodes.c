/* tests/unit/test_graph_model_nodes.c — the vit, conformer and speech-adapter
 * nodes against direct calls of the components on the same data, shared
 * model loads, packet metadata, progress hooks, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "adapters/speech_adapter.h"
#include "graph/graph.h"
#include "graph/models.h"
#include "graph/node_hooks.h"
#include "graph/vision_lm.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "speech/speech_prompt.h"
#include "media/image.h"
#include "speech/conformer.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const hd_node_type hd_node_image;
extern const hd_node_type hd_node_file;
extern const hd_node_type hd_node_mel;
extern const hd_node_type hd_node_vit;
extern const hd_node_type hd_node_conformer;
extern const hd_node_type hd_node_speech_adapter;
extern const hd_node_type hd_node_concat;
extern const hd_node_type hd_node_text;
extern const hd_node_type hd_node_sine;
extern const hd_node_type hd_node_llama;

/* ---- a sink that keeps every packet, and hooks that count progress lines ---- */

typedef struct capture {
    hd_packet *p[256];
    int n;
    pthread_mutex_t mu;
} capture;
static capture g_cap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static hd_node_ret keep(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    (void)n, (void)st, (void)port, (void)err;
    pthread_mutex_lock(&g_cap.mu);
    if (g_cap.n < 256) g_cap.p[g_cap.n++] = hd_packet_ref(in);
    pthread_mutex_unlock(&g_cap.mu);
    return HD_NODE_OK;
}
static const hd_port_def any_in[] = {{"in", HD_KINDS_DATA, 0}};
static const hd_node_type keep_type = {.name = "keep", .inputs = any_in, .n_inputs = 1, .process = keep};

static void cap_clear(void) {
    for (int i = 0; i < g_cap.n; i++) hd_packet_unref(g_cap.p[i]);
    g_cap.n = 0;
}

/* A source sending the packets of g_emit in order. */
static hd_packet *g_emit[8];
static int g_n_emit, g_emitted;
static hd_node_ret emit(hd_node *n, void *st, int port, hd_packet *in, hd_error *err) {
    (void)st, (void)port, (void)in;
    if (g_emitted == g_n_emit) return HD_NODE_EOS;
    return hd_node_send(n, 0, g_emit[g_emitted++], err) ? HD_NODE_ERROR : HD_NODE_OK;
}
static const hd_port_def embed_out[] = {{"out", HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_node_type emit_type = {.name = "emit", .outputs = embed_out, .n_outputs = 1, .process = emit};

static int g_progress;
static char g_last_line[512];
static void on_progress(void *ctx, const char *node, const char *line) {
    (void)ctx;
    __atomic_add_fetch(&g_progress, 1, __ATOMIC_SEQ_CST);
    snprintf(g_last_line, sizeof g_last_line, "%s: %s", node, line);
}

/* ---- helpers ---------------------------------------------------------------- */

static const char *write_model(const char *arch, const char *name) {
    static char paths[8][512];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = arch;
    rp.preset = "tiny";
    rp.n_threads = 1;
    hd_error err = {0};
    if (hd_random_model_write(&rp, p, &err)) fail_msg("%s", err.msg);
    return p;
}

typedef struct chain {
    hd_graph *g;
    int last;
} chain;

static hd_graph *new_graph(hd_node_hooks *h) {
    hd_graph_params gp = hd_graph_default_params();
    gp.user = h;
    hd_error err = {0};
    hd_graph *g = hd_graph_create(&gp, &err);
    assert_non_null(g);
    return g;
}

/* Adds a node with one "key=value" option list and links it after `prev`
 * (prev < 0: none).  Returns its index. */
static int add(hd_graph *g, int prev, const hd_node_type *t, const char *k1, const char *v1, const char *k2,
               const char *v2) {
    hd_kv kv[2] = {{k1, v1}, {k2, v2}};
    int n = k2 ? 2 : k1 ? 1 : 0;
    hd_error err = {0};
    int i = hd_graph_add(g, t, NULL, kv, n, NULL, &err);
    if (i < 0) fail_msg("%s", err.msg);
    if (prev >= 0 && hd_graph_link(g, prev, NULL, i, NULL, &err)) fail_msg("%s", err.msg);
    return i;
}

/* ---- vit ---------------------------------------------------------------------- */

static void test_vit_node(void **state) {
    (void)state;
    const char *vit = write_model("mllama-vision", "vit.gguf");
    char img[512];
    tu_fixture(img, sizeof img, "images/rgba_three_dice.png");

    /* two vit nodes on the same file in one graph: one load */
    int64_t loads = hd_model_cache_loads();
    hd_node_hooks h = hd_node_hooks_init();
    h.progress = on_progress;
    g_progress = 0;
    hd_graph *g = new_graph(&h);
    int a = add(g, -1, &hd_node_image, "path", img, NULL, NULL);
    int v = add(g, a, &hd_node_vit, "model", vit, NULL, NULL);
    add(g, v, &keep_type, NULL, NULL, NULL, NULL);
    int b = add(g, -1, &hd_node_image, "path", img, NULL, NULL);
    int v2 = add(g, b, &hd_node_vit, "model", vit, NULL, NULL);
    add(g, v2, &keep_type, NULL, NULL, NULL, NULL);
    hd_error err = {0};
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(hd_model_cache_loads(), loads + 1);
    hd_graph_free(g);
    assert_int_equal(g_progress, 2);
    assert_non_null(strstr(g_last_line, "tiles encoded"));
    assert_int_equal(g_cap.n, 2);

    /* the direct path: decode, preprocess, encode */
    hd_vit *m = hd_vit_load(vit, &err);
    assert_non_null(m);
    const hd_vit_config *c = hd_vit_get_config(m);
    hd_image *im = hd_image_load(img, NULL, &err);
    assert_non_null(im);
    hd_mllama_preproc_params pp = hd_mllama_preproc_default(c->image_size);
    pp.max_tiles = c->max_tiles;
    hd_mllama_tiles t;
    assert_int_equal(hd_mllama_preprocess(im, &pp, &t, &err), HD_OK);
    const int64_t rows = (int64_t)c->max_tiles * c->n_pos;
    float *ref = malloc((size_t)(rows * c->proj_dim) * sizeof *ref);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    assert_int_equal(hd_vit_encode(m, &ex, t.pixels, t.aspect_ratio_id, t.n_tiles, NULL, ref, &err), HD_OK);
    for (int i = 0; i < 2; i++) {
        const hd_packet *p = g_cap.p[i];
        assert_int_equal(p->kind, HD_PKT_EMBED);
        assert_int_equal(p->u.embed.what, HD_EMBED_IMAGE);
        assert_int_equal(p->u.embed.rows, rows);
        assert_int_equal(p->u.embed.dim, c->proj_dim);
        assert_int_equal(p->u.embed.n_tiles, t.n_tiles);
        assert_int_equal(p->u.embed.max_tiles, c->max_tiles);
        assert_int_equal(p->u.embed.valid_rows, (int64_t)t.n_tiles * c->n_pos);
        assert_int_equal(p->pts, 0);
        /* same kernels, same order: equal to the bit (the pool only splits rows) */
        assert_true(tu_max_abs_err(p->u.embed.data, ref, (size_t)(rows * c->proj_dim)) <= 1e-5f);
    }
    assert_true(t.n_tiles >= 1);
    free(ref);
    hd_mllama_tiles_free(&t);
    hd_image_free(im);
    hd_vit_free(m);
    cap_clear();
}

static void test_vit_node_errors(void **state) {
    (void)state;
    char img[512], missing[600];
    tu_fixture(img, sizeof img, "images/rgba_three_dice.png");
    snprintf(missing, sizeof missing, "%s/absent-vit.gguf", tu_tmpdir());
    hd_graph *g = new_graph(NULL);
    int a = add(g, -1, &hd_node_image, "path", img, NULL, NULL);
    int v = add(g, a, &hd_node_vit, "model", missing, NULL, NULL);
    add(g, v, &keep_type, NULL, NULL, NULL, NULL);
    hd_error err = {0};
    assert_int_not_equal(hd_graph_run(g, &err), HD_OK);
    assert_non_null(strstr(err.msg, "node 'vit0'"));
    assert_non_null(strstr(err.msg, "absent-vit.gguf"));
    hd_graph_free(g);

    /* float pixels are refused with a message */
    hd_packet *p = hd_packet_image_new(4, 4, HD_PIX_RGB_F32, &err);
    assert_null(hd_vlm_packet_rgb(p, &err));
    assert_int_equal(err.code, HD_ERR_UNSUPPORTED);
    hd_packet_unref(p);
    /* grey and RGBA become RGB (RGBA onto white) */
    p = hd_packet_image_new(2, 1, HD_PIX_RGBA8, &err);
    const uint8_t px[8] = {10, 20, 30, 255, 200, 100, 0, 0};
    memcpy(p->u.image.data, px, 8);
    hd_image *im = hd_vlm_packet_rgb(p, &err);
    assert_non_null(im);
    const uint8_t want[6] = {10, 20, 30, 255, 255, 255};
    assert_memory_equal(im->data, want, 6);
    hd_image_free(im);
    hd_packet_unref(p);
    assert_int_equal(g_cap.n, 0);
}

/* ---- conformer + speech-adapter ---------------------------------------------------- */

static void test_speech_nodes(void **state) {
    (void)state;
    const char *sp = write_model("speech", "speech.gguf");
    char wav[512];
    tu_fixture(wav, sizeof wav, "audio/librivox_sense_and_sensibility_0880.wav");   /* 16 kHz mono, 2.99 s */

    /* the mel rows alone */
    hd_graph *g = new_graph(NULL);
    int f = add(g, -1, &hd_node_file, "path", wav, NULL, NULL);
    int m = add(g, f, &hd_node_mel, NULL, NULL, NULL, NULL);
    add(g, m, &keep_type, NULL, NULL, NULL, NULL);
    hd_error err = {0};
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    int64_t n_mel = 0;
    for (int i = 0; i < g_cap.n; i++) n_mel += g_cap.p[i]->u.embed.rows;
    const int64_t bins = g_cap.p[0]->u.embed.dim;
    float *mel = malloc((size_t)(n_mel * bins) * sizeof *mel);
    for (int i = 0, o = 0; i < g_cap.n; i++) {
        memcpy(mel + o * bins, g_cap.p[i]->u.embed.data, (size_t)(g_cap.p[i]->u.embed.rows * bins) * sizeof *mel);
        o += (int)g_cap.p[i]->u.embed.rows;
    }
    cap_clear();
    assert_true(n_mel > 250);

    /* mel ! conformer segment=1 ! speech-adapter: 1 s segments + the rest */
    g = new_graph(NULL);
    f = add(g, -1, &hd_node_file, "path", wav, NULL, NULL);
    m = add(g, f, &hd_node_mel, NULL, NULL, NULL, NULL);
    int c = add(g, m, &hd_node_conformer, "model", sp, "segment", "1");
    int a = add(g, c, &hd_node_speech_adapter, "model", sp, NULL, NULL);
    add(g, a, &keep_type, NULL, NULL, NULL, NULL);
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    const int64_t n_seg = (n_mel + 99) / 100;
    assert_int_equal(g_cap.n, n_seg);

    hd_conformer *enc = hd_conformer_load(sp, &err);
    hd_speech_adapter *adp = hd_speech_adapter_load(sp, &err);
    assert_non_null(enc);
    assert_non_null(adp);
    const hd_conformer_config *cc = hd_conformer_config_of(enc);
    const hd_speech_adapter_config *ac = hd_speech_adapter_config_of(adp);
    assert_int_equal(cc->n_mel, bins);
    hd_exec ex = {.backend = HD_BACKEND_CPU};
    for (int64_t s = 0; s < n_seg; s++) {
        const int64_t r0 = s * 100, nr = n_mel - r0 < 100 ? n_mel - r0 : 100;
        const int64_t T = hd_conformer_n_out(cc, nr), U = hd_speech_adapter_n_out(ac, T);
        float *x = malloc((size_t)(T * cc->n_embd) * sizeof *x), *y = malloc((size_t)(U * ac->n_out + 1) * sizeof *y);
        assert_int_equal(hd_conformer_encode(enc, &ex, mel + r0 * bins, nr, x, &err), HD_OK);
        assert_int_equal(hd_speech_adapter_encode(adp, &ex, x, T, y, &err), HD_OK);
        const hd_packet *p = g_cap.p[s];
        assert_int_equal(p->u.embed.what, HD_EMBED_LM);
        assert_int_equal(p->u.embed.rows, U);
        assert_int_equal(p->u.embed.dim, ac->n_out);
        assert_int_equal(p->u.embed.begin_id, 128002);
        assert_int_equal(p->u.embed.end_id, 128003);
        assert_true(p->flags & HD_PKT_FLAG_SEGMENT);
        assert_int_equal(p->pts, s * 1000000);          /* 100 rows of 10 ms per segment */
        assert_int_equal(p->duration, nr * 10000);
        assert_true(tu_max_abs_err(p->u.embed.data, y, (size_t)(U * ac->n_out)) <= 1e-5f);
        free(x);
        free(y);
    }
    cap_clear();

    /* a packet flagged as one utterance is encoded alone, after what was gathered */
    hd_packet *a1 = hd_packet_embed_new(50, bins, &err), *a2 = hd_packet_embed_new(37, bins, &err);
    memcpy(a1->u.embed.data, mel, (size_t)(50 * bins) * sizeof *mel);
    memcpy(a2->u.embed.data, mel + 50 * bins, (size_t)(37 * bins) * sizeof *mel);
    a1->pts = 0;
    a1->duration = 500000;
    a2->flags = HD_PKT_FLAG_SEGMENT;
    a2->pts = 5000000;
    a2->duration = 370000;
    g_emit[0] = a1;
    g_emit[1] = a2;
    g_n_emit = 2;
    g_emitted = 0;
    g = new_graph(NULL);
    int e = add(g, -1, &emit_type, NULL, NULL, NULL, NULL);
    c = add(g, e, &hd_node_conformer, "model", sp, NULL, NULL);
    add(g, c, &keep_type, NULL, NULL, NULL, NULL);
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    assert_int_equal(g_cap.n, 2);
    const int64_t lens[2] = {50, 37}, pts[2] = {0, 5000000}, offs[2] = {0, 50};
    for (int s = 0; s < 2; s++) {
        const int64_t T = hd_conformer_n_out(cc, lens[s]);
        float *x = malloc((size_t)(T * cc->n_embd) * sizeof *x);
        assert_int_equal(hd_conformer_encode(enc, &ex, mel + offs[s] * bins, lens[s], x, &err), HD_OK);
        assert_int_equal(g_cap.p[s]->u.embed.rows, T);
        assert_int_equal(g_cap.p[s]->u.embed.what, HD_EMBED_SPEECH);
        assert_int_equal(g_cap.p[s]->pts, pts[s]);
        assert_int_equal(g_cap.p[s]->duration, lens[s] * 10000);
        assert_true(tu_max_abs_err(g_cap.p[s]->u.embed.data, x, (size_t)(T * cc->n_embd)) <= 1e-5f);
        free(x);
    }
    cap_clear();

    /* wrong widths are errors naming the node */
    g = new_graph(NULL);
    f = add(g, -1, &hd_node_file, "path", wav, NULL, NULL);
    m = add(g, f, &hd_node_mel, "bins", "40", NULL, NULL);
    c = add(g, m, &hd_node_conformer, "model", sp, NULL, NULL);
    add(g, c, &keep_type, NULL, NULL, NULL, NULL);
    assert_int_not_equal(hd_graph_run(g, &err), HD_OK);
    assert_non_null(strstr(err.msg, "node 'conformer0'"));
    assert_non_null(strstr(err.msg, "80 bins"));
    hd_graph_free(g);
    cap_clear();

    hd_conformer_free(enc);
    hd_speech_adapter_free(adp);
    free(mel);
}

/* ---- llama task=transcribe / translate -------------------------------------------------- */

typedef struct ids_acc {
    int32_t ids[64];
    int n;
} ids_acc;

static bool acc_token(void *u, int32_t tk, const char *t, size_t l) {
    (void)t, (void)l;
    ids_acc *a = u;
    if (tk >= 0 && a->n < 64) a->ids[a->n++] = tk;
    return true;
}

static void test_llama_speech(void **state) {
    (void)state;
    char tokp[512], wav[512], sp[600], lmp[600];
    tu_fixture(tokp, sizeof tokp, "tokenizer/llama3_tokenizer.model");
    tu_fixture(wav, sizeof wav, "audio/librivox_sense_and_sensibility_0880.wav");   /* 2.99 s */
    snprintf(sp, sizeof sp, "%s/sp.gguf", tu_tmpdir());
    snprintf(lmp, sizeof lmp, "%s/sp-lm.gguf", tu_tmpdir());
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = "speech";
    rp.preset = "tiny";
    rp.tokenizer = tokp;
    rp.n_threads = 1;
    hd_error err = {0};
    if (hd_random_model_write(&rp, sp, &err)) fail_msg("%s", err.msg);

    for (int task = 0; task < 2; task++) {
        /* mel ! conformer segment=2 ! speech-adapter ! llama: two segments (2 s + 0.99 s) */
        hd_graph *g = new_graph(NULL);
        int f = add(g, -1, &hd_node_file, "path", wav, NULL, NULL);
        int m = add(g, f, &hd_node_mel, NULL, NULL, NULL, NULL);
        int c = add(g, m, &hd_node_conformer, "model", sp, "segment", "2");
        int a = add(g, c, &hd_node_speech_adapter, "model", sp, NULL, NULL);
        /* tap the adapter output too, for the direct path */
        add(g, a, &keep_type, NULL, NULL, NULL, NULL);
        hd_kv kv[4] = {{"model", sp}, {"task", task ? "translate" : "transcribe"}, {"n", "6"}, {task ? "to" : "language", "fr"}};
        int l = hd_graph_add(g, &hd_node_llama, NULL, kv, 4, NULL, &err);
        assert_true(l >= 0);
        assert_int_equal(hd_graph_link(g, a, NULL, l, "embed", &err), HD_OK);
        int kt = add(g, -1, &keep_type, NULL, NULL, NULL, NULL);
        int ki = add(g, -1, &keep_type, NULL, NULL, NULL, NULL);
        assert_int_equal(hd_graph_link(g, l, "out", kt, NULL, &err), HD_OK);
        assert_int_equal(hd_graph_link(g, l, "tokens", ki, NULL, &err), HD_OK);
        if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
        hd_graph_free(g);

        /* the captures of three sinks are interleaved: sort them by kind */
        hd_packet *rows[4], *texts[64], *toks[4];
        int nr = 0, nt = 0, nk = 0;
        for (int i = 0; i < g_cap.n; i++) {
            hd_packet *p = g_cap.p[i];
            if (p->kind == HD_PKT_EMBED) rows[nr++] = p;
            else if (p->kind == HD_PKT_TEXT) texts[nt++] = p;
            else toks[nk++] = p;
        }
        assert_int_equal(nr, 2);
        assert_int_equal(nk, 2);

        hd_llama_model *lm = hd_llama_load(lmp, &err);
        assert_non_null(lm);
        hd_tokenizer *tok = hd_tokenizer_load(lmp, &err);
        assert_non_null(tok);
        hd_llama_context_params cp = hd_llama_context_default_params();
        cp.n_threads = 1;
        hd_llama_context *ctx = hd_llama_context_create(lm, &cp, &err);
        assert_non_null(ctx);
        int ti = 0;
        for (int s = 0; s < 2; s++) {
            /* the direct path: speech prompt + rows spliced + greedy generation */
            hd_tokens ids = {0};
            hd_speech_prompt pr = {.task = task ? HD_SPEECH_AST : HD_SPEECH_ASR, .language = "fr",
                                   .begin_id = 128002, .end_id = 128003, .n_audio = rows[s]->u.embed.rows};
            assert_int_equal(hd_speech_prompt_encode(tok, &pr, &ids, NULL, &err), HD_OK);
            assert_int_equal(hd_llama_rewind(ctx, 0, &err), HD_OK);
            hd_generate_params gp = hd_generate_default_params();
            gp.n_predict = 6;
            gp.sampling.temp = 0;   /* the node's default for speech tasks */
            gp.prompt_embd = rows[s]->u.embed.data;
            ids_acc acc = {.n = 0};
            gp.on_token = acc_token;
            gp.user = &acc;
            hd_generate_result res;
            if (hd_generate(ctx, tok, ids.ids, (int64_t)ids.n, &gp, &res, &err)) fail_msg("%s", err.msg);
            hd_tokens_free(&ids);
            /* the node's token packet */
            const hd_packet *tp = toks[s];
            assert_int_equal(tp->u.tokens.n, acc.n);
            assert_memory_equal(tp->u.tokens.ids, acc.ids, (size_t)acc.n * sizeof(int32_t));
            assert_int_equal(tp->pts, s * 2000000);
            /* its text: pieces flagged PARTIAL, closed by one unflagged piece,
             * all with the segment's time; together the decoded ids */
            char joined[1024] = "";
            size_t jl = 0;
            for (;;) {
                assert_true(ti < nt);
                const hd_packet *p = texts[ti++];
                assert_int_equal(p->pts, rows[s]->pts);
                assert_int_equal(p->duration, rows[s]->duration);
                memcpy(joined + jl, p->u.text.text, p->u.text.len);
                jl += p->u.text.len;
                if (!(p->flags & HD_PKT_FLAG_PARTIAL)) break;
            }
            char want[1024];
            size_t wl = 0;
            assert_int_equal(hd_tokenizer_decode(tok, acc.ids, (size_t)acc.n, 0, want, sizeof want, &wl, &err), HD_OK);
            assert_int_equal(jl, wl);
            assert_memory_equal(joined, want, wl);
        }
        assert_int_equal(rows[0]->pts, 0);
        assert_int_equal(rows[1]->pts, 2000000);
        assert_int_equal(ti, nt);
        hd_llama_context_free(ctx);
        hd_tokenizer_free(tok);
        hd_llama_free(lm);
        cap_clear();
    }

    /* an unknown language is refused when the graph starts */
    hd_graph *g = new_graph(NULL);
    hd_kv kv[3] = {{"model", sp}, {"task", "transcribe"}, {"language", "klingon"}};
    int l = hd_graph_add(g, &hd_node_llama, NULL, kv, 3, NULL, &err);
    int k = add(g, -1, &keep_type, NULL, NULL, NULL, NULL);
    assert_int_equal(hd_graph_link(g, l, "out", k, NULL, &err), HD_OK);
    assert_int_not_equal(hd_graph_run(g, &err), HD_OK);
    assert_non_null(strstr(err.msg, "klingon"));
    hd_graph_free(g);
    cap_clear();
}

/* ---- concat ------------------------------------------------------------------------ */

static void test_concat(void **state) {
    (void)state;
    /* sources linked to in2, in0, in5: output in input order, whatever the timing */
    hd_graph *g = new_graph(NULL);
    const char *texts[3] = {"third", "first", "second"};
    const char *ports[3] = {"in5", "in0", "in2"};
    int cat = add(g, -1, &hd_node_concat, NULL, NULL, NULL, NULL);
    hd_error err = {0};
    for (int i = 0; i < 3; i++) {
        int t = add(g, -1, &hd_node_text, "text", texts[i], NULL, NULL);
        if (hd_graph_link(g, t, NULL, cat, ports[i], &err)) fail_msg("%s", err.msg);
    }
    add(g, cat, &keep_type, NULL, NULL, NULL, NULL);
    if (hd_graph_run(g, &err)) fail_msg("%s", err.msg);
    hd_graph_free(g);
    assert_int_equal(g_cap.n, 3);
    assert_string_equal(g_cap.p[0]->u.text.text, "first");
    assert_string_equal(g_cap.p[1]->u.text.text, "second");
    assert_string_equal(g_cap.p[2]->u.text.text, "third");
    cap_clear();

    /* a packet of another kind than the first is an error */
    g = new_graph(NULL);
    cat = add(g, -1, &hd_node_concat, NULL, NULL, NULL, NULL);
    int t = add(g, -1, &hd_node_text, "text", "x", NULL, NULL);
    int w = add(g, -1, &hd_node_sine, "duration", "0.1", NULL, NULL);
    assert_int_equal(hd_graph_link(g, t, NULL, cat, "in0", &err), HD_OK);
    assert_int_equal(hd_graph_link(g, w, NULL, cat, "in1", &err), HD_OK);
    add(g, cat, &keep_type, NULL, NULL, NULL, NULL);
    assert_int_not_equal(hd_graph_run(g, &err), HD_OK);
    assert_non_null(strstr(err.msg, "in1: audio packet among text packets"));
    hd_graph_free(g);
    cap_clear();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vit_node),
        cmocka_unit_test(test_vit_node_errors),
        cmocka_unit_test(test_speech_nodes),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_llama_speech),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
