/* tests/unit/test_graph_segment.c — speech segmentation: graph/segmenter.h on
 * synthetic energies (exact boundaries, hysteresis, latency, max-length cuts,
 * hours of frames in bounded memory) and the `segment` node on a long signal
 * assembled from the fixture speech clips with silences between them: every
 * clip lands in exactly one segment, boundaries lie in silence, pts and
 * samples (or mel rows) are exactly those of the signal; segments arrive
 * while the stream is still being read; bad options and inputs fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/graph.h"
#include "graph/node.h"
#include "graph/parse.h"
#include "graph/registry.h"
#include "graph/segmenter.h"
#include "media/audio.h"
#include "speech/mel.h"
#include "testutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- segmenter on synthetic energies ------------------------------------------------ */

/* Pushes energies; records segments and the frame at which each was emitted. */
typedef struct seglist {
    hd_segment s[4096];
    int64_t at[4096];
    int n;
} seglist;

static void push_all(hd_segmenter *sg, const float *e, int64_t n, seglist *out) {
    hd_segment g;
    for (int64_t i = 0; i < n; i++)
        if (hd_segmenter_push(sg, e[i], &g)) {
            assert_true(out->n < 4096);
            out->at[out->n] = i;
            out->s[out->n++] = g;
        }
}

static void fill(float *e, int64_t a, int64_t b, float v) {
    for (int64_t i = a; i < b; i++) e[i] = v;
}

static void test_exact_boundaries_and_latency(void **state) {
    (void)state;
    hd_segmenter_params p = hd_segmenter_default_params();   /* pad 20, min silence 60, min speech 10 frames */
    hd_segmenter *sg = hd_segmenter_create(&p, NULL);
    assert_non_null(sg);
    static float e[3000];
    fill(e, 0, 3000, -70);
    fill(e, 300, 500, -30);    /* speech 3.00 .. 5.00 s */
    fill(e, 520, 550, -30);    /* 0.2 s pause (< min silence): same segment */
    fill(e, 550, 560, -66);    /* between off (-64) and on (-58)... below off: silence */
    fill(e, 900, 905, -30);    /* 50 ms click: shorter than min speech, ignored */
    fill(e, 1200, 1300, -61);  /* above off (-64) but below on (-58): never starts speech */
    fill(e, 1500, 1600, -30);  /* speech */
    fill(e, 1600, 1640, -61);  /* hysteresis: above off keeps the speech going */
    e[2999] = NAN;             /* non-finite counts as silence */
    seglist L = {0};
    push_all(sg, e, 3000, &L);
    hd_segment g;
    assert_int_equal(hd_segmenter_finish(sg, &g), 0);
    assert_int_equal(L.n, 2);
    assert_int_equal(L.s[0].start, 300 - 20);
    assert_int_equal(L.s[0].end, 550 + 20);
    assert_int_equal(L.s[0].cut, 0);
    /* emitted exactly min-silence after the last speech frame */
    assert_int_equal(L.at[0], 549 + 60);
    assert_int_equal(L.s[1].start, 1500 - 20);
    assert_int_equal(L.s[1].end, 1640 + 20);
    assert_int_equal(L.at[1], 1639 + 60);
    assert_true(fabs(hd_segmenter_floor(sg) - -70) < 1);
    hd_segmenter_free(sg);

    /* speech running into the end of the stream: finish closes it */
    sg = hd_segmenter_create(NULL, NULL);
    fill(e, 0, 100, -70);
    fill(e, 100, 150, -20);
    L.n = 0;
    push_all(sg, e, 150, &L);
    assert_int_equal(L.n, 0);
    assert_int_equal(hd_segmenter_finish(sg, &g), 1);
    assert_int_equal(g.start, 80);
    assert_int_equal(g.end, 150);
    assert_int_equal(hd_segmenter_finish(sg, &g), 0);
    hd_segmenter_free(sg);
}

static void test_noise_floor_adapts(void **state) {
    (void)state;
    /* a noisy recording at -45 dB with speech at -25: the floor follows the noise */
    hd_segmenter *sg = hd_segmenter_create(NULL, NULL);
    static float e[2000];
    tu_rng r;
    tu_rng_seed(&r, 7);
    for (int i = 0; i < 2000; i++) e[i] = -45 + 2 * tu_rng_normal(&r);
    fill(e, 800, 1000, -25);
    seglist L = {0};
    push_all(sg, e, 2000, &L);
    assert_int_equal(L.n, 1);
    assert_int_equal(L.s[0].start, 780);
    assert_int_equal(L.s[0].end, 1020);
    assert_true(hd_segmenter_floor(sg) > -50 && hd_segmenter_floor(sg) < -44);
    hd_segmenter_free(sg);
}

static void test_max_length_cuts_at_quietest(void **state) {
    (void)state;
    hd_segmenter_params p = hd_segmenter_default_params();
    p.max_s = 10, p.search_s = 3;
    hd_segmenter *sg = hd_segmenter_create(&p, NULL);
    /* 35 s of continuous speech with syllable-like ripple and short dips */
    static float e[4000];
    fill(e, 0, 50, -70);
    for (int i = 50; i < 3550; i++) e[i] = -30 + 6 * sinf((float)i * 0.7f);
    fill(e, 3550, 4000, -70);
    const int dips[] = {780, 1630, 2390};   /* quiet moments inside 7..10 s after each start */
    for (int d = 0; d < 3; d++) fill(e, dips[d] - 3, dips[d] + 4, -55);
    seglist L = {0};
    push_all(sg, e, 4000, &L);
    hd_segment g;
    if (hd_segmenter_finish(sg, &g)) L.s[L.n++] = g;
    /* 35 s: cuts at the three dips (7.5, 8.5, 7.6 s), then one at the ripple's
     * quietest point within 10 s, then the rest */
    assert_int_equal(L.n, 5);
    assert_int_equal(L.s[0].start, 30);
    for (int i = 0; i < L.n; i++) assert_true(L.s[i].end - L.s[i].start <= 1000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(L.s[i].cut, 1);
        if (i < 3) assert_true(labs((long)(L.s[i].end - dips[i])) <= 3);   /* the dip, not the limit */
        assert_int_equal(L.s[i + 1].start, L.s[i].end);                    /* contiguous, nothing lost */
    }
    /* the ripple cut: a trough of the sine (mean over ±5 frames lowest), not the last frame */
    assert_true(L.s[3].end >= L.s[3].start + 700 && L.s[3].end < L.s[3].start + 1000);
    assert_int_equal(L.s[4].cut, 0);
    assert_int_equal(L.s[4].end, 3550 + 20);
    hd_segmenter_free(sg);

    /* with an overlap the next segment starts that much earlier */
    p.overlap_s = 1;
    sg = hd_segmenter_create(&p, NULL);
    L.n = 0;
    push_all(sg, e, 4000, &L);
    assert_true(L.n >= 3);
    for (int i = 0; i + 1 < L.n; i++) {
        assert_true(L.s[i].end - L.s[i].start <= 1000);
        if (L.s[i].cut) assert_int_equal(L.s[i + 1].start, L.s[i].end - 100);
    }
    hd_segmenter_free(sg);
}

static void test_hours_in_bounded_memory(void **state) {
    (void)state;
    /* 2 hours: 7 s utterances, 1.5 s pauses, plus one 3-minute monologue */
    hd_segmenter *sg = hd_segmenter_create(NULL, NULL);
    const int64_t total = 2 * 3600 * 100;
    int64_t n_seg = 0, worst_keep = 0, last_end = 0, onsets = 0;
    bool was = false;
    hd_segment g;
    for (int64_t i = 0; i < total; i++) {
        bool speech = (i >= 360400 && i < 378100) || (i % 850) < 700;   /* the monologue: 177 s */
        onsets += speech && !was;
        was = speech;
        /* speech-like: 4 syllables a second, ±10 dB (a steady level would become the floor) */
        if (hd_segmenter_push(sg, speech ? -30.f + 10.f * sinf((float)i * 0.2513274f) : -65.f, &g)) {
            n_seg++;
            assert_true(g.start >= last_end);
            assert_true(g.end - g.start <= 3000);
            last_end = g.end;
        }
        int64_t held = hd_segmenter_frames(sg) - hd_segmenter_keep_from(sg);
        if (held > worst_keep) worst_keep = held;
    }
    n_seg += hd_segmenter_finish(sg, &g);   /* the last utterance runs into the end */
        /* one segment per utterance, the monologue cut into 6 to 8 pieces of 25..30 s */
    if (n_seg < onsets - 1 + 6 || n_seg > onsets - 1 + 8)
        fail_msg("%lld segments for %lld utterance onsets", (long long)n_seg, (long long)onsets);

    assert_true(worst_keep <= 3000 + 100);   /* never more than the max segment + a little */
    hd_segmenter_free(sg);
}

static void test_bad_params(void **state) {
    (void)state;
    hd_error err = {0};
    hd_segmenter_params p = hd_segmenter_default_params();
    p.pad_s = 1;
    assert_null(hd_segmenter_create(&p, &err));
    assert_non_null(strstr(err.msg, "padding"));
    p = hd_segmenter_default_params();
    p.on_db = 3;
    assert_null(hd_segmenter_create(&p, &err));
    assert_non_null(strstr(err.msg, "thresholds"));
    p = hd_segmenter_default_params();
    p.search_s = 29.5, p.overlap_s = 1;
    assert_null(hd_segmenter_create(&p, &err));
    assert_non_null(strstr(err.msg, "overlap"));
}

/* ---- the node on fixture speech --------------------------------------------------------- */

static const char *const k_clips[] = {
    "audio/jfk.wav",
    "audio/librispeech_1995-1837-0001_en.wav",
    "audio/speech_de.wav",
    "audio/librivox_sense_and_sensibility_0880.wav",
    "audio/aishell_BAC009S0724W0121_zh.wav",
    "audio/librispeech_mr_quilter_en.wav",
    "audio/speech_fr.wav",
};
#define N_CLIPS ((int)(sizeof k_clips / sizeof k_clips[0]))

static struct {
    float *x;                  /* the assembled 16 kHz signal */
    int64_t n;
    int64_t clip_a[N_CLIPS], clip_b[N_CLIPS];   /* clip sample ranges */
    int64_t act_a[N_CLIPS], act_b[N_CLIPS];     /* core speech range inside each clip */
    double peak[N_CLIPS];                        /* loudest frame of each clip (power) */
} g_sig;

/* Frame energies (10 ms, pre-emphasised power) of a clip; its core = first
 * to last frame within 20 dB of the loudest frame (certainly speech). */
static double active_range(const float *x, int64_t n, int64_t *a, int64_t *b) {
    int64_t nf = n / 160;
    double mx = 0;
    double *p = malloc((size_t)nf * sizeof *p);
    for (int64_t f = 0; f < nf; f++) {
        double acc = 0;
        for (int j = 0; j < 160; j++) {
            int64_t k = f * 160 + j;
            double y = (double)x[k] - 0.97 * (double)x[k ? k - 1 : 0];
            acc += y * y;
        }
        p[f] = acc / 160;
        if (p[f] > mx) mx = p[f];
    }
    *a = -1;
    for (int64_t f = 0; f < nf; f++) {   /* power over 50 ms, so a lone click is not speech */
        double m = 0;
        int k = 0;
        for (int64_t j = f - 2; j <= f + 2; j++)
            if (j >= 0 && j < nf) m += p[j], k++;
        if (m / k > mx * 1e-2) {
            if (*a < 0) *a = f * 160;
            *b = (f + 1) * 160;
        }
    }
    free(p);
    return mx;
}

/* gaps[i] seconds of silence before clip i (and gaps[N_CLIPS] after the last):
 * white noise at `noise` RMS (0 = digital silence). */
static void build_signal(const double *gaps, float noise) {
    free(g_sig.x);
    memset(&g_sig, 0, sizeof g_sig);
    tu_rng r;
    tu_rng_seed(&r, 42);
    size_t cap = 0;
    for (int c = 0; c <= N_CLIPS; c++) {
        int64_t ng = (int64_t)(gaps[c] * 16000);
        float *clip = NULL;
        size_t nc = 0;
        if (c < N_CLIPS) {
            char path[1024];
            hd_error err = {0};
            if (hd_audio_load(tu_fixture(path, sizeof path, k_clips[c]), NULL, 60, &clip, &nc, &err))
                fail_msg("%s", err.msg);
        }
        if ((size_t)(g_sig.n + ng) + nc > cap) {
            cap = ((size_t)(g_sig.n + ng) + nc) * 2;
            g_sig.x = realloc(g_sig.x, cap * sizeof(float));
        }
        for (int64_t i = 0; i < ng; i++) g_sig.x[g_sig.n++] = noise * tu_rng_normal(&r);
        if (c < N_CLIPS) {
            g_sig.clip_a[c] = g_sig.n;
            memcpy(g_sig.x + g_sig.n, clip, nc * sizeof(float));
            int64_t a = 0, b = 0;
            g_sig.peak[c] = active_range(clip, (int64_t)nc, &a, &b);
            g_sig.act_a[c] = g_sig.n + a;
            g_sig.act_b[c] = g_sig.n + b;
            g_sig.n += (int64_t)nc;
            g_sig.clip_b[c] = g_sig.n;
            free(clip);
        }
    }
}

/* memory source: g_sig in chunks; counts what it has sent */
static int64_t g_chunk = 1600;
static atomic_llong g_sent;

/* Live check: at sample g_hold_at the source waits (up to 20 s) until the
 * sink holds g_hold_segs segments, as a microphone would wait for the talker. */
static int64_t g_hold_at = -1;
static int g_hold_segs;
static atomic_int g_received;
static double g_hold_waited;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static hd_node_ret msrc_process(hd_node *node, void *st, int port, hd_packet *in, hd_error *err) {
    (void)st, (void)port, (void)in;
    int64_t i = atomic_load(&g_sent);
    if (i >= g_sig.n) return HD_NODE_EOS;
    if (g_hold_at >= 0 && i >= g_hold_at && atomic_load(&g_received) < g_hold_segs) {
        static double t0;
        if (g_hold_waited == 0) t0 = now_s(), g_hold_waited = 1e-9;
        g_hold_waited = now_s() - t0 + 1e-9;
        if (g_hold_waited < 20) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            return HD_NODE_AGAIN;
        }
    }
    int64_t n = g_sig.n - i < g_chunk ? g_sig.n - i : g_chunk;
    hd_packet *p = hd_packet_audio_new(n, 1, 16000, err);
    if (!p) return HD_NODE_ERROR;
    memcpy(p->u.audio.data, g_sig.x + i, (size_t)n * sizeof(float));
    p->pts = hd_samples_to_us(i, 16000);
    p->duration = hd_samples_to_us(i + n, 16000) - p->pts;
    atomic_store(&g_sent, i + n);
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static const hd_port_def msrc_out[] = {{"out", HD_KIND_BIT(HD_PKT_AUDIO), 0}};
static const hd_node_type msrc_type = {
    .name = "memsrc", .summary = "test source", .outputs = msrc_out, .n_outputs = 1, .process = msrc_process,
};

/* sink: keeps every segment packet (a reference) and the source position at arrival */
static struct {
    hd_packet *p[256];
    int64_t sent_at[256];
    int n;
} g_out;

static hd_node_ret ssink_process(hd_node *node, void *st, int port, hd_packet *in, hd_error *err) {
    (void)node, (void)st, (void)port;
    if (g_out.n == 256) return hd_error_set(err, HD_ERR_ARG, "too many segments"), HD_NODE_ERROR;
    g_out.sent_at[g_out.n] = atomic_load(&g_sent);
    g_out.p[g_out.n++] = hd_packet_ref(in);
    atomic_store(&g_received, g_out.n);
    return HD_NODE_OK;
}

static const hd_port_def ssink_in[] = {{"in", HD_KIND_BIT(HD_PKT_AUDIO) | HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_node_type ssink_type = {
    .name = "segsink", .summary = "test sink", .inputs = ssink_in, .n_inputs = 1, .process = ssink_process,
};

static void clear_out(void) {
    for (int i = 0; i < g_out.n; i++) hd_packet_unref(g_out.p[i]);
    g_out.n = 0;
}

static hd_status run(const char *desc, int queue, hd_error *err) {
    hd_registry *reg = hd_registry_create(err);
    assert_non_null(reg);
    assert_int_equal(hd_registry_add_builtins(reg, err), HD_OK);
    assert_int_equal(hd_registry_add(reg, &msrc_type, err), HD_OK);
    assert_int_equal(hd_registry_add(reg, &ssink_type, err), HD_OK);
    hd_graph_params gp = hd_graph_default_params();
    gp.queue_size = queue;
    hd_graph *g = hd_graph_create(&gp, err);
    int off = 0;
    clear_out();
    atomic_store(&g_sent, 0);
    atomic_store(&g_received, 0);
    g_hold_waited = 0;
    hd_status st = hd_pipeline_build(desc, reg, g, &off, err);
    if (st == HD_OK) st = hd_graph_run(g, err);
    hd_graph_free(g);
    hd_registry_free(reg);
    return st;
}

/* Segment i as a sample range. */
static void seg_range(const hd_packet *p, int64_t *a, int64_t *b) {
    *a = p->pts * 16000 / 1000000;
    *b = (p->pts + p->duration) * 16000 / 1000000;
}

/* Every clip's active range is inside exactly one segment, no segment
 * touches two clips' active ranges, and boundaries lie outside the active
 * ranges (in silence). */
static void check_clip_coverage(void) {
    if (g_out.n != N_CLIPS) {
        for (int i = 0; i < g_out.n; i++)
            print_message("segment %d: %.2f .. %.2f s\n", i, g_out.p[i]->pts / 1e6,
                          (g_out.p[i]->pts + g_out.p[i]->duration) / 1e6);
        for (int c = 0; c < N_CLIPS; c++)
            print_message("clip %d: %.2f .. %.2f s, active %.2f .. %.2f\n", c, g_sig.clip_a[c] / 16000.0,
                          g_sig.clip_b[c] / 16000.0, g_sig.act_a[c] / 16000.0, g_sig.act_b[c] / 16000.0);
    }
    assert_int_equal(g_out.n, N_CLIPS);
    for (int c = 0; c < N_CLIPS; c++) {
        int holders = 0;
        for (int i = 0; i < g_out.n; i++) {
            int64_t a, b;
            seg_range(g_out.p[i], &a, &b);
            if (a < g_sig.act_b[c] && b > g_sig.act_a[c]) {
                holders++;
                if (a > g_sig.act_a[c] || b < g_sig.act_b[c])
                    fail_msg("clip %d (%s) active %.2f..%.2f s cut by segment %.2f..%.2f s", c, k_clips[c],
                             g_sig.act_a[c] / 16000.0, g_sig.act_b[c] / 16000.0, a / 16000.0, b / 16000.0);
            }
        }
        if (holders != 1) fail_msg("clip %d (%s) is in %d segments", c, k_clips[c], holders);
    }
    /* boundaries in silence: 100 ms around each is >= 20 dB below the loudest clip frame it touches */
    for (int i = 0; i < g_out.n; i++) {
        int64_t ab[2];
        seg_range(g_out.p[i], &ab[0], &ab[1]);
        for (int k = 0; k < 2; k++) {
            int64_t lo = ab[k] - 800 < 1 ? 1 : ab[k] - 800, hi = ab[k] + 800 > g_sig.n ? g_sig.n : ab[k] + 800;
            double acc = 0, ref = 0;
            for (int64_t j = lo; j < hi; j++) {
                double y = (double)g_sig.x[j] - 0.97 * (double)g_sig.x[j - 1];
                acc += y * y;
            }
            acc /= (double)(hi - lo);
            for (int c = 0; c < N_CLIPS; c++)
                if (hi > g_sig.clip_a[c] - 1600 && lo < g_sig.clip_b[c] + 1600 && g_sig.peak[c] > ref) ref = g_sig.peak[c];
            if (ref > 0 && acc > ref * 1e-2)
                fail_msg("segment %d boundary at %.2f s is not in silence (%.1f dB below the peak)", i, ab[k] / 16000.0,
                         10 * log10(ref / acc));
        }
    }
}

static void test_node_audio_on_fixture_speech(void **state) {
    (void)state;
    const double gaps[N_CLIPS + 1] = {1.0, 1.5, 2.0, 1.2, 3.0, 1.0, 1.5, 1.0};
    const float levels[] = {0.0001f, 0.0f};   /* -80 dBFS noise, digital silence */
    hd_error err = {0};
    for (int l = 0; l < 2; l++) {
        build_signal(gaps, levels[l]);
        g_chunk = 1600;
        /* JFK pauses for up to 1 s between phrases: a longer min-silence keeps each clip whole */
        if (run("memsrc ! segment min-silence=1.2 ! segsink", 1, &err)) fail_msg("%s", err.msg);
        check_clip_coverage();
        for (int i = 0; i < g_out.n; i++) {
            const hd_packet *p = g_out.p[i];
            assert_int_equal(p->kind, HD_PKT_AUDIO);
            int64_t a, b;
            seg_range(p, &a, &b);
            /* pts/duration exact for the samples carried, samples are the signal's */
            assert_int_equal(p->pts, hd_samples_to_us(a, 16000));
            assert_int_equal(b - a, p->u.audio.n_frames);
            assert_memory_equal(p->u.audio.data, g_sig.x + a, (size_t)(b - a) * sizeof(float));
        }
    }
}

/* A segment is sent as soon as min-silence has passed after its speech: the
 * source stops 1.5 s after clip 0 ends and waits for that segment. */
static void test_node_is_live(void **state) {
    (void)state;
    const double gaps[N_CLIPS + 1] = {1.0, 1.5, 2.0, 1.2, 3.0, 1.0, 1.5, 1.0};
    build_signal(gaps, 0.0001f);
    hd_error err = {0};
    g_chunk = 800;
    const int64_t hold = g_sig.clip_b[0] + 24000;
    g_hold_at = hold;
    g_hold_segs = 1;
    if (run("memsrc ! segment min-silence=1.2 ! segsink", 8, &err)) fail_msg("%s", err.msg);
    g_hold_at = -1;
    assert_int_equal(g_out.n, N_CLIPS);
    assert_true(g_hold_waited < 20);                                  /* it came without the rest of the stream */
    assert_true(g_out.sent_at[0] <= (hold + 799) / 800 * 800);
    int64_t a, b;
    seg_range(g_out.p[0], &a, &b);
    assert_true(b >= g_sig.act_b[0] && b <= g_sig.clip_b[0] + 3200);   /* and it holds clip 0 */
}

static void test_node_mel_rows_on_fixture_speech(void **state) {
    (void)state;
    const double gaps[N_CLIPS + 1] = {0.7, 1.5, 2.0, 1.2, 3.0, 1.0, 1.5, 1.0};
    build_signal(gaps, 0.0001f);
    float *ref = NULL;
    int64_t nf = 0;
    hd_error err = {0};
    assert_int_equal(hd_mel_compute(NULL, g_sig.x, (size_t)g_sig.n, &ref, &nf, &err), HD_OK);
    g_chunk = 4096;
    if (run("memsrc ! mel ! segment min-silence=1.2 ! segsink", 8, &err)) fail_msg("%s", err.msg);
    check_clip_coverage();
    for (int i = 0; i < g_out.n; i++) {
        const hd_packet *p = g_out.p[i];
        assert_int_equal(p->kind, HD_PKT_EMBED);
        assert_int_equal(p->u.embed.dim, 80);
        assert_int_equal(p->pts % 10000, 0);
        int64_t row = p->pts / 10000;
        assert_int_equal(p->duration, p->u.embed.rows * 10000);
        assert_true(row + p->u.embed.rows <= nf);
        assert_memory_equal(p->u.embed.data, ref + row * 80, (size_t)(p->u.embed.rows * 80) * sizeof(float));
    }
    /* the same boundaries (within 3 frames) as segmenting the audio itself */
    hd_packet *mel_segs[N_CLIPS];
    for (int i = 0; i < N_CLIPS; i++) mel_segs[i] = hd_packet_ref(g_out.p[i]);
    g_chunk = 1600;
    if (run("memsrc ! segment min-silence=1.2 ! segsink", 8, &err)) fail_msg("%s", err.msg);
    assert_int_equal(g_out.n, N_CLIPS);
    for (int i = 0; i < N_CLIPS; i++) {
        assert_true(llabs(mel_segs[i]->pts - g_out.p[i]->pts) <= 50000);
        /* 25-ms mel windows vs 10-ms audio frames: fading ends may differ by a few frames, and a
         * 20-ms click after the speech (speech_fr.wav) spans 3 mel frames (enough to go on) but
         * only 2 audio frames */
        assert_true(llabs(mel_segs[i]->pts + mel_segs[i]->duration - g_out.p[i]->pts - g_out.p[i]->duration) <= 250000);
        hd_packet_unref(mel_segs[i]);
    }
    free(ref);
}

static void test_node_long_speech_is_cut(void **state) {
    (void)state;
    /* clips back to back (0.3 s pauses, below min-silence): one long stream of speech */
    const double gaps[N_CLIPS + 1] = {0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5};
    build_signal(gaps, 0.0001f);
    hd_error err = {0};
    if (run("memsrc ! segment max=12 search=4 min-silence=1.2 ! segsink", 8, &err)) fail_msg("%s", err.msg);
    assert_true(g_out.n >= 5);
    int64_t prev_b = -1;
    for (int i = 0; i < g_out.n; i++) {
        int64_t a, b;
        seg_range(g_out.p[i], &a, &b);
        assert_true(b - a <= 12 * 16000);
        assert_memory_equal(g_out.p[i]->u.audio.data, g_sig.x + a, (size_t)(b - a) * sizeof(float));
        if (prev_b >= 0) assert_int_equal(a, prev_b);   /* every boundary is a cut: contiguous */
        prev_b = b;
    }
    /* the whole speech is covered */
    int64_t a0, b0, an, bn;
    seg_range(g_out.p[0], &a0, &b0);
    seg_range(g_out.p[g_out.n - 1], &an, &bn);
    print_message("%d segments %.2f .. %.2f s; speech %.2f .. %.2f s\n", g_out.n, a0 / 16000.0, bn / 16000.0,
                  g_sig.act_a[0] / 16000.0, g_sig.act_b[N_CLIPS - 1] / 16000.0);
    assert_true(a0 <= g_sig.act_a[0] && bn >= g_sig.act_b[N_CLIPS - 1]);
}

static void test_node_errors(void **state) {
    (void)state;
    hd_error err = {0};
    assert_int_not_equal(run("sine duration=1 ! segment pad=2 ! segsink", 8, &err), HD_OK);
    assert_non_null(strstr(err.msg, "padding"));
    assert_int_not_equal(run("sine rate=22050 duration=1 ! segment ! segsink", 8, &err), HD_OK);
    assert_non_null(strstr(err.msg, "22050"));
    assert_int_not_equal(run("sine duration=1 ! segment max=0.5 ! segsink", 8, &err), HD_OK);
    /* silence only: no segment, no error */
    assert_int_equal(run("sine amplitude=0 duration=3 ! segment ! segsink", 8, &err), HD_OK);
    assert_int_equal(g_out.n, 0);
    /* a steady tone is noise: it becomes the floor, at most its onset is kept */
    assert_int_equal(run("sine amplitude=0.3 duration=20 ! segment ! segsink", 8, &err), HD_OK);
    assert_true(g_out.n <= 1);
    if (g_out.n) assert_true(g_out.p[0]->u.audio.n_frames < 16000);
    clear_out();
    free(g_sig.x);
    memset(&g_sig, 0, sizeof g_sig);
}

/* Random bursts of noise, any chunking, random limits: segments never exceed
 * max, never go back further than the overlap, and carry the exact samples. */
static void test_node_random_streams(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 2024);
    const int64_t chunks[] = {1, 7, 160, 1000, 4096};
    int total = 0, cuts = 0;
    for (int trial = 0; trial < 10; trial++) {
        free(g_sig.x);
        memset(&g_sig, 0, sizeof g_sig);
        g_sig.n = 16000 * (20 + (int64_t)(tu_rng_u64(&r) % 20));
        g_sig.x = malloc((size_t)g_sig.n * sizeof(float));
        for (int64_t i = 0; i < g_sig.n;) {
            int64_t len = 800 + (int64_t)(tu_rng_u64(&r) % 64000);
            float amp = tu_rng_uniform(&r) < 0.5f ? 0.0003f : 0.3f * tu_rng_uniform(&r);
            for (int64_t j = 0; j < len && i < g_sig.n; j++, i++) g_sig.x[i] = amp * tu_rng_normal(&r);
        }
        double max = 2 + (double)(tu_rng_u64(&r) % 9), ov = (tu_rng_u64(&r) % 3) * 0.25;
        g_chunk = chunks[trial % 5];
        char desc[256];
        snprintf(desc, sizeof desc, "memsrc ! segment max=%g overlap=%g min-silence=%g ! segsink", max, ov,
                 0.3 + 0.1 * (double)(tu_rng_u64(&r) % 8));
        hd_error err = {0};
        if (run(desc, 4, &err)) fail_msg("%s: %s", desc, err.msg);
        int64_t prev_a = -1, prev_b = 0;
        for (int i = 0; i < g_out.n; i++) {
            int64_t a, b;
            seg_range(g_out.p[i], &a, &b);
            assert_int_equal(b - a, g_out.p[i]->u.audio.n_frames);
            assert_true(g_out.p[i]->flags & HD_PKT_FLAG_SEGMENT);
            assert_true(b - a <= (int64_t)(max * 16000) + 160);
            assert_true(a > prev_a && a >= prev_b - (int64_t)(ov * 16000) - 160 && b <= g_sig.n);
            assert_memory_equal(g_out.p[i]->u.audio.data, g_sig.x + a, (size_t)(b - a) * sizeof(float));
            cuts += i > 0 && a < prev_b;   /* overlapping: a cut with overlap */
            prev_a = a, prev_b = b;
            total++;
        }
    }
    print_message("%d segments in 10 random streams, %d overlapping cuts\n", total, cuts);
    assert_true(total >= 30 && cuts >= 1);
    g_chunk = 1600;
    clear_out();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_boundaries_and_latency),
        cmocka_unit_test(test_noise_floor_adapts),
        cmocka_unit_test(test_max_length_cuts_at_quietest),
        cmocka_unit_test(test_hours_in_bounded_memory),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_node_audio_on_fixture_speech),
        cmocka_unit_test(test_node_is_live),
        cmocka_unit_test(test_node_mel_rows_on_fixture_speech),
        cmocka_unit_test(test_node_long_speech_is_cut),
        cmocka_unit_test(test_node_random_streams),
        cmocka_unit_test(test_node_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
