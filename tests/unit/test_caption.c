/* tests/unit/test_caption.c — `herd caption` in image mode (the graph: video
 * ! vit ! llama task=ask group=K frame-times) against a second, hand-written
 * path through the library on a tiny random Llama 3.2 Vision model: the same
 * greedy token ids, caption by caption.
 *
 * The direct path uses no graph code: hd_video_open with K·S uniformly
 * sampled frames, hd_vit_encode on each frame's preprocessed tiles, for each
 * run of K frames the prompt ids assembled by hand from the chat layout
 * (<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n
 * <|image|>×K "The images are K frames of a video, taken at 0.6 s, ..."
 * QUESTION <|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n), the
 * image ranges of SPEC §2.7 for K adjacent images (Meta: all seen from their
 * own position to the end of the prompt), hd_llama_set_images and
 * hd_generate.  Also: the frame times and cue times of --json.
 *
 * Video mode (a tiny `random-model --arch video`): the direct path merges
 * each group of G frames' states with hd_vagg_merge, puts one <|image|>
 * placeholder and "The video runs from A to B." before the question, and
 * hands the effective frames to hd_llama_set_video (seen from the
 * placeholder on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "graph/video_prompt.h"
#include "lm/generate.h"
#include "lm/llama.h"
#include "lm/random_model.h"
#include "lm/tokenizer.h"
#include "media/video.h"
#include "vision/preprocess.h"
#include "vision/video_aggregator.h"
#include "vision/vit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N_PREDICT 10
#define MAX_CAPS 8
static const char *k_question = "What happens in this video?";

static char g_model[512], g_video[512];

static int setup(void **state) {
    (void)state;
    char tok[512];
    tu_fixture(tok, sizeof tok, "tokenizer/llama3_tokenizer.model");
    hd_random_model_params rp = hd_random_model_default_params();
    rp.arch = "mllama";
    rp.preset = "tiny";
    rp.tokenizer = tok;
    rp.n_threads = 1;
    snprintf(g_model, sizeof g_model, "%s/mllama.gguf", tu_tmpdir());
    hd_error err = {0};
    if (hd_random_model_write(&rp, g_model, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    rp.arch = "video";
    snprintf(g_video, sizeof g_video, "%s/video.gguf", tu_tmpdir());
    if (hd_random_model_write(&rp, g_video, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    return 0;
}

static char *run_cmd(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

typedef struct caps {
    int n;
    int n_ids[MAX_CAPS];
    int32_t ids[MAX_CAPS][N_PREDICT + 1];
    double start[MAX_CAPS], end[MAX_CAPS];
    int n_frames;
    double frames[64];
} caps;

/* `herd caption --json` for `video` with K frames per caption and S segments. */
static void herd_caps_extra(const char *model, const char *mode, const char *extra, const char *video, int k, int s,
                            caps *out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' caption -m '%s' --frames %d --segments %d --temp 0 -n %d --json --quiet -t 2 %s --question '%s' '%s'",
             HERD_BINARY, model, k, s, N_PREDICT, extra, k_question, video);
    int status;
    char *txt = run_cmd(cmd, &status);
    if (status != 0) fail_msg("%s -> exit %d: %s", cmd, status, txt);
    cJSON *j = cJSON_Parse(txt);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "mode")->valuestring, mode);
    cJSON *segs = cJSON_GetObjectItem(j, "segments"), *fr = cJSON_GetObjectItem(j, "frames");
    assert_true(cJSON_IsArray(segs) && cJSON_IsArray(fr));
    out->n = cJSON_GetArraySize(segs);
    assert_true(out->n <= MAX_CAPS);
    for (int i = 0; i < out->n; i++) {
        cJSON *sg = cJSON_GetArrayItem(segs, i), *ids = cJSON_GetObjectItem(sg, "ids");
        out->n_ids[i] = cJSON_GetArraySize(ids);
        assert_true(out->n_ids[i] <= N_PREDICT);
        for (int t = 0; t < out->n_ids[i]; t++) out->ids[i][t] = (int32_t)cJSON_GetArrayItem(ids, t)->valuedouble;
        out->start[i] = cJSON_GetObjectItem(sg, "start")->valuedouble;
        out->end[i] = cJSON_GetObjectItem(sg, "end")->valuedouble;
    }
    out->n_frames = cJSON_GetArraySize(fr);
    assert_true(out->n_frames <= 64);
    for (int i = 0; i < out->n_frames; i++) out->frames[i] = cJSON_GetArrayItem(fr, i)->valuedouble;
    cJSON_Delete(j);
    free(txt);
}

static void herd_caps_model(const char *model, const char *mode, const char *video, int k, int s, caps *out) {
    herd_caps_extra(model, mode, "", video, k, s, out);
}

static void herd_caps(const char *video, int k, int s, caps *out) { herd_caps_model(g_model, "image", video, k, s, out); }

static void push(int32_t *ids, int *n, int32_t id) { ids[(*n)++] = id; }

typedef struct collector {
    int32_t ids[N_PREDICT + 1];
    int n;
} collector;

static bool on_token(void *u, int32_t tk, const char *t, size_t l) {
    (void)t, (void)l;
    collector *c = u;
    if (tk >= 0 && c->n <= N_PREDICT) c->ids[c->n++] = tk;
    return true;
}

/* The direct path: S runs of K frames, one greedy answer each, with the row-mask mode. */
static void direct_caps_mode(const char *video, int k, int s, hd_xattn_mask_mode mode, caps *out) {
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(g_model, &err);
    if (!m) fail_msg("%s", err.msg);
    hd_tokenizer *tok = hd_tokenizer_load(g_model, &err);
    assert_non_null(tok);
    hd_vit *v = hd_vit_load(g_model, &err);
    if (!v) fail_msg("%s", err.msg);
    const hd_vit_config *vc = hd_vit_get_config(v);
    const int64_t rows = (int64_t)vc->max_tiles * vc->n_pos;

    hd_video_params vp = hd_video_default_params();
    vp.sampling = HD_VIDEO_UNIFORM;
    vp.n_frames = k * s;
    hd_video_reader *r = hd_video_open(video, &vp, &err);
    if (!r) fail_msg("%s", err.msg);

    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 2;
    cp.max_images = k;
    cp.xattn_mask = mode;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    assert_non_null(ctx);
    float **states = calloc((size_t)k, sizeof *states);
    int64_t *n_valid = calloc((size_t)k, sizeof *n_valid);
    double *times = calloc((size_t)k, sizeof *times);
    out->n = 0;
    out->n_frames = 0;
    for (int seg = 0; seg < s; seg++) {
        for (int f = 0; f < k; f++) {
            const hd_video_frame *fr;
            assert_int_equal(hd_video_next(r, &fr, &err), HD_OK);
            assert_non_null(fr);
            times[f] = fr->pts;
            out->frames[out->n_frames++] = fr->pts;
            hd_mllama_preproc_params pp = hd_mllama_preproc_default(vc->image_size);
            pp.max_tiles = vc->max_tiles;
            hd_mllama_tiles t;
            assert_int_equal(hd_mllama_preprocess(&fr->image, &pp, &t, &err), HD_OK);
            if (!states[f]) states[f] = malloc((size_t)(rows * vc->proj_dim) * sizeof **states);
            hd_exec ex = {.backend = HD_BACKEND_CPU};
            assert_int_equal(hd_vit_encode(v, &ex, t.pixels, t.aspect_ratio_id, t.n_tiles, NULL, states[f], &err), HD_OK);
            n_valid[f] = (int64_t)t.n_tiles * vc->n_pos;
            hd_mllama_tiles_free(&t);
        }
        /* the prompt, by hand; the times sentence written here, not by graph/video_prompt.c */
        char text[1024];
        int len = snprintf(text, sizeof text, "The images are %d frames of a video, taken at ", k);
        for (int f = 0; f < k; f++)
            len += snprintf(text + len, sizeof text - (size_t)len, "%s%.1f s", f == 0 ? "" : f == k - 1 ? " and " : ", ",
                            floor(times[f] * 10 + 0.5) / 10);
        snprintf(text + len, sizeof text - (size_t)len, ". %s", k_question);
        int32_t ids[512];
        int n = 0, img_pos[16];
        push(ids, &n, 128000);   /* <|begin_of_text|> */
        push(ids, &n, 128006);   /* <|start_header_id|> */
        push(ids, &n, 882);      /* "user" */
        push(ids, &n, 128007);   /* <|end_header_id|> */
        push(ids, &n, 271);      /* "\n\n" */
        for (int f = 0; f < k; f++) {
            img_pos[f] = n;
            push(ids, &n, 128256);   /* <|image|> */
        }
        size_t got = 0;
        assert_int_equal(hd_tokenizer_encode(tok, text, strlen(text), 0, ids + n, 400, &got, &err), HD_OK);
        n += (int)got;
        push(ids, &n, 128009);   /* <|eot_id|> */
        push(ids, &n, 128006);
        push(ids, &n, 78191);    /* "assistant" */
        push(ids, &n, 128007);
        push(ids, &n, 271);
        hd_llama_image li[16];
        for (int f = 0; f < k; f++)
            li[f] = (hd_llama_image){.states = states[f], .n_tokens = rows, .n_valid = n_valid[f], .pos_begin = img_pos[f],
                                     /* SPEC 2.7: one image is open-ended; adjacent images are all seen
                                      * by the text after them, up to the end of the prompt (Meta) or
                                      * on into the generated tokens (HF) */
                                     .pos_end = k == 1 || mode == HD_XATTN_MASK_HF ? -1 : n};
        assert_int_equal(hd_llama_rewind(ctx, 0, &err), HD_OK);
        assert_int_equal(hd_llama_set_images(ctx, li, k, &err), HD_OK);
        hd_generate_params gp = hd_generate_default_params();
        gp.n_predict = N_PREDICT;
        gp.sampling.temp = 0;
        collector col = {.n = 0};
        gp.on_token = on_token;
        gp.user = &col;
        hd_generate_result res;
        if (hd_generate(ctx, tok, ids, n, &gp, &res, &err)) fail_msg("%s", err.msg);
        out->n_ids[out->n] = col.n;
        memcpy(out->ids[out->n], col.ids, (size_t)col.n * sizeof(int32_t));
        out->n++;
    }
    const hd_video_frame *end;
    assert_int_equal(hd_video_next(r, &end, &err), HD_OK);
    assert_null(end);   /* exactly K·S frames */
    for (int f = 0; f < k; f++) free(states[f]);
    free(states);
    free(n_valid);
    free(times);
    hd_video_close(r);
    hd_llama_context_free(ctx);
    hd_vit_free(v);
    hd_tokenizer_free(tok);
    hd_llama_free(m);
}

/* Video mode, directly: S runs of K frames, G at a time through the aggregator. */
static void direct_video_caps(const char *video, int k, int s, caps *out) {
    hd_error err = {0};
    hd_llama_model *m = hd_llama_load(g_video, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_true(hd_llama_has_video_layers(m));
    hd_tokenizer *tok = hd_tokenizer_load(g_video, &err);
    hd_vit *v = hd_vit_load(g_video, &err);
    hd_vagg *agg = hd_vagg_load(g_video, &err);
    assert_true(tok && v && agg);
    const hd_vit_config *vc = hd_vit_get_config(v);
    const hd_vagg_config *ac = hd_vagg_config_of(agg);
    const int G = ac->n_group;
    assert_true(k % G == 0 && s == 1);
    const int64_t rows = (int64_t)vc->max_tiles * vc->n_pos, D = m->cfg.n_embd;
    hd_video_params vp = hd_video_default_params();
    vp.n_frames = k * s;
    hd_video_reader *r = hd_video_open(video, &vp, &err);
    if (!r) fail_msg("%s", err.msg);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 2;
    hd_llama_context *ctx = hd_llama_context_create(m, &cp, &err);
    assert_non_null(ctx);
    float *frames = malloc((size_t)(G * rows * vc->proj_dim) * sizeof *frames);
    float *eff = malloc((size_t)((k / G) * ac->n_latent * D) * sizeof *eff);
    int64_t n_valid[64];
    out->n = 0;
    out->n_frames = 0;
    for (int seg = 0; seg < s; seg++) {
        double first = 0, last = 0, prev = 0;
        for (int e = 0; e < k / G; e++) {
            for (int f = 0; f < G; f++) {
                const hd_video_frame *fr;
                assert_int_equal(hd_video_next(r, &fr, &err), HD_OK);
                assert_non_null(fr);
                if (e == 0 && f == 0) first = fr->pts;
                prev = last;
                last = fr->pts;
                out->frames[out->n_frames++] = fr->pts;
                hd_mllama_preproc_params pp = hd_mllama_preproc_default(vc->image_size);
                pp.max_tiles = vc->max_tiles;
                hd_mllama_tiles t;
                assert_int_equal(hd_mllama_preprocess(&fr->image, &pp, &t, &err), HD_OK);
                hd_exec ex = {.backend = HD_BACKEND_CPU};
                assert_int_equal(hd_vit_encode(v, &ex, t.pixels, t.aspect_ratio_id, t.n_tiles, NULL,
                                               frames + (size_t)(f * rows * vc->proj_dim), &err), HD_OK);
                n_valid[f] = (int64_t)t.n_tiles * vc->n_pos;
                hd_mllama_tiles_free(&t);
            }
            hd_exec ex = {.backend = HD_BACKEND_CPU};
            assert_int_equal(hd_vagg_merge(agg, &ex, frames, G, rows, n_valid, eff + (size_t)(e * ac->n_latent * D), &err),
                             HD_OK);
        }
        /* the clip's last frame shows for one more frame spacing (one segment: s == 1) */
        double end = last + (last - prev);
        char text[512];
        snprintf(text, sizeof text, "The video runs from %.1f s to %.1f s. %s", floor(first * 10 + 0.5) / 10,
                 floor(end * 10 + 0.5) / 10, k_question);
        int32_t ids[512];
        int n = 0;
        push(ids, &n, 128000);
        push(ids, &n, 128006);
        push(ids, &n, 882);
        push(ids, &n, 128007);
        push(ids, &n, 271);
        const int p0 = n;
        push(ids, &n, 128256);   /* the video's placeholder */
        size_t got = 0;
        assert_int_equal(hd_tokenizer_encode(tok, text, strlen(text), 0, ids + n, 400, &got, &err), HD_OK);
        n += (int)got;
        push(ids, &n, 128009);
        push(ids, &n, 128006);
        push(ids, &n, 78191);
        push(ids, &n, 128007);
        push(ids, &n, 271);
        assert_int_equal(hd_llama_rewind(ctx, 0, &err), HD_OK);
        const hd_llama_video lv = {.states = eff, .n_tokens = (int64_t)(k / G) * ac->n_latent, .pos_begin = p0, .pos_end = -1};
        assert_int_equal(hd_llama_set_video(ctx, &lv, &err), HD_OK);
        hd_generate_params gp = hd_generate_default_params();
        gp.n_predict = N_PREDICT;
        gp.sampling.temp = 0;
        collector col = {.n = 0};
        gp.on_token = on_token;
        gp.user = &col;
        hd_generate_result res;
        if (hd_generate(ctx, tok, ids, n, &gp, &res, &err)) fail_msg("%s", err.msg);
        out->n_ids[out->n] = col.n;
        memcpy(out->ids[out->n], col.ids, (size_t)col.n * sizeof(int32_t));
        out->start[out->n] = first;
        out->end[out->n] = end;
        out->n++;
    }
    free(frames);
    free(eff);
    hd_video_close(r);
    hd_llama_context_free(ctx);
    hd_vagg_free(agg);
    hd_vit_free(v);
    hd_tokenizer_free(tok);
    hd_llama_free(m);
}

static void direct_caps(const char *video, int k, int s, caps *out) { direct_caps_mode(video, k, s, HD_XATTN_MASK_META, out); }

static void expect_same(const caps *a, const caps *b) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->n_frames, b->n_frames);
    for (int i = 0; i < a->n_frames; i++) assert_true(fabs(a->frames[i] - b->frames[i]) < 1e-5);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->n_ids[i], b->n_ids[i]);
        for (int t = 0; t < a->n_ids[i]; t++)
            if (a->ids[i][t] != b->ids[i][t])
                fail_msg("caption %d token %d: herd caption %d, direct %d", i, t, a->ids[i][t], b->ids[i][t]);
    }
}

static void test_one_caption_equals_direct(void **state) {
    (void)state;
    char video[512];
    tu_fixture(video, sizeof video, "video/chaplin.mp4");
    caps a, b;
    herd_caps(video, 4, 1, &a);
    direct_caps(video, 4, 1, &b);
    assert_int_equal(a.n, 1);
    assert_true(a.n_ids[0] > 0);
    expect_same(&a, &b);
    /* the caption spans its frames: from the first to one frame spacing past the last */
    assert_true(fabs(a.start[0] - a.frames[0]) < 1e-5);
    assert_true(fabs(a.end[0] - (a.frames[3] + (a.frames[3] - a.frames[2]))) < 1e-3);
}

static void test_hf_mask_equals_direct(void **state) {
    (void)state;
    char video[512];
    tu_fixture(video, sizeof video, "video/dog_and_stove.mp4");
    caps a, b;
    herd_caps_extra(g_model, "image", "--hf-mask", video, 3, 1, &a);
    direct_caps_mode(video, 3, 1, HD_XATTN_MASK_HF, &b);
    expect_same(&a, &b);
}

static void test_segments_equal_direct(void **state) {
    (void)state;
    char video[512];
    tu_fixture(video, sizeof video, "video/chaplin_first4s_vp9_opus.mkv");
    caps a, b;
    herd_caps(video, 2, 3, &a);
    direct_caps(video, 2, 3, &b);
    assert_int_equal(a.n, 3);
    expect_same(&a, &b);
    /* consecutive cues: each starts where the previous ended, at its first frame */
    for (int i = 0; i < 3; i++) assert_true(fabs(a.start[i] - a.frames[2 * i]) < 1e-5);
    for (int i = 0; i + 1 < 3; i++) assert_true(fabs(a.end[i] - a.start[i + 1]) < 1e-5);
    /* the frames sit at the centres of 6 equal slices of the 4 s clip (±1 frame at 25 fps) */
    for (int i = 0; i < 6; i++) assert_true(fabs(a.frames[i] - 4.0 * (i + 0.5) / 6) <= 0.041);
}

static void test_video_mode_equals_direct(void **state) {
    (void)state;
    char video[512];
    tu_fixture(video, sizeof video, "video/chaplin.mp4");
    caps a, b;
    /* 8 frames = 2 effective frames of the tiny aggregator's 4 */
    herd_caps_model(g_video, "video", video, 8, 1, &a);
    direct_video_caps(video, 8, 1, &b);
    assert_int_equal(a.n, 1);
    assert_true(a.n_ids[0] > 0);
    expect_same(&a, &b);
    assert_true(fabs(a.end[0] - b.end[0]) < 1e-3);
    /* one effective frame */
    caps c;
    herd_caps_model(g_video, "video", video, 4, 1, &c);
    caps d;
    direct_video_caps(video, 4, 1, &d);
    expect_same(&c, &d);
}

static void test_set_video_checks(void **state) {
    (void)state;
    hd_error err = {0};
    hd_llama_model *vm = hd_llama_load(g_video, &err), *mm = hd_llama_load(g_model, &err);
    assert_true(vm && mm);
    assert_true(hd_llama_has_video_layers(vm));
    assert_false(hd_llama_has_video_layers(mm));
    assert_int_equal(vm->n_video, 2);   /* tiny: before each image cross layer */
    assert_int_equal(vm->video_before[0], 3);
    assert_int_equal(vm->video_before[1], 8);
    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_threads = 1;
    hd_llama_context *vc = hd_llama_context_create(vm, &cp, &err), *mc = hd_llama_context_create(mm, &cp, &err);
    assert_true(vc && mc);
    float states[16 * 64] = {0};
    hd_llama_video v = {.states = states, .n_tokens = 16, .pos_begin = 5, .pos_end = -1};
    assert_int_equal(hd_llama_set_video(mc, &v, &err), HD_ERR_ARG);   /* an image model */
    assert_non_null(strstr(err.msg, "no video cross-attention layers"));
    assert_int_equal(hd_llama_set_video(vc, &v, &err), HD_OK);
    v.n_tokens = 0;
    assert_int_equal(hd_llama_set_video(vc, &v, &err), HD_ERR_ARG);
    v.n_tokens = 16;
    v.pos_end = 5;
    assert_int_equal(hd_llama_set_video(vc, &v, &err), HD_ERR_ARG);   /* empty range */
    v.states = NULL;
    v.pos_end = -1;
    assert_int_equal(hd_llama_set_video(vc, &v, &err), HD_ERR_ARG);
    assert_int_equal(hd_llama_set_video(vc, NULL, &err), HD_OK);      /* clears */

    /* the video changes the logits of the rows that see it, and only those (Meta mode) */
    for (int i = 0; i < 16 * 64; i++) states[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    const int32_t ids[8] = {128000, 128006, 882, 128007, 271, 128256, 40, 1234};
    const int64_t V = vm->cfg.n_vocab;
    cp.logits_all = true;
    hd_llama_context *a = hd_llama_context_create(vm, &cp, &err), *b = hd_llama_context_create(vm, &cp, &err);
    v = (hd_llama_video){.states = states, .n_tokens = 16, .pos_begin = 5, .pos_end = -1};
    assert_int_equal(hd_llama_set_video(a, &v, &err), HD_OK);
    assert_int_equal(hd_llama_decode(a, ids, 8, &err), HD_OK);
    assert_int_equal(hd_llama_decode(b, ids, 8, &err), HD_OK);
    const float *la = hd_llama_logits(a), *lb = hd_llama_logits(b);
    for (int r = 0; r < 8; r++) {
        float d = 0;
        for (int64_t t = 0; t < V; t++) d = fmaxf(d, fabsf(la[r * V + t] - lb[r * V + t]));
        if (r < 5) assert_true(d == 0.0f);
        else assert_true(d > 1e-3f);
    }
    hd_llama_context_free(a);
    hd_llama_context_free(b);
    hd_llama_context_free(vc);
    hd_llama_context_free(mc);
    hd_llama_free(vm);
    hd_llama_free(mm);
}

static void test_frames_text(void **state) {
    (void)state;
    hd_error err = {0};
    char t[64];
    hd_video_time_text(0, t, sizeof t);
    assert_string_equal(t, "0.0 s");
    hd_video_time_text(12549999, t, sizeof t);
    assert_string_equal(t, "12.5 s");
    hd_video_time_text(12550000, t, sizeof t);
    assert_string_equal(t, "12.6 s");
    hd_video_time_text(62500000, t, sizeof t);
    assert_string_equal(t, "1:02.5");
    hd_video_time_text(3723400000LL, t, sizeof t);
    assert_string_equal(t, "1:02:03.4");
    hd_video_time_text(-1, t, sizeof t);
    assert_string_equal(t, "?");
    const int64_t pts[3] = {500000, 1500000, 2500000};
    char *s = hd_video_frames_text(pts, 3, "Why?", &err);
    assert_string_equal(s, "The images are 3 frames of a video, taken at 0.5 s, 1.5 s and 2.5 s. Why?");
    free(s);
    s = hd_video_frames_text(pts, 1, NULL, &err);
    assert_string_equal(s, "The image is a frame of a video, taken at 0.5 s.");
    free(s);
    s = hd_video_frames_text(pts, 2, "", &err);
    assert_string_equal(s, "The images are 2 frames of a video, taken at 0.5 s and 1.5 s.");
    free(s);
    assert_null(hd_video_frames_text(pts, 0, "x", &err));
    assert_int_equal(err.code, HD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_text),
        cmocka_unit_test(test_one_caption_equals_direct),
        cmocka_unit_test(test_segments_equal_direct),
        cmocka_unit_test(test_hf_mask_equals_direct),
        cmocka_unit_test(test_video_mode_equals_direct),
        cmocka_unit_test(test_set_video_checks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
