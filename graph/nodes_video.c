/* graph/nodes_video.c — the paper's temporal aggregator (vision/
 * video_aggregator.h) as a node.
 *
 *   vagg model=PATH [group=G]
 *       in   image states of consecutive video frames (HD_EMBED_IMAGE
 *            packets from a vit node: rows = max_tiles·P of width D_in =
 *            the aggregator's input width, valid_rows = n_tiles·P)
 *       out  one packet per G frames (the last group may be shorter): an
 *            "effective frame" of n_latent rows of width D_out (the language
 *            model's), HD_EMBED_ANY (graph/packet.h has no video kind: a
 *            llama node with video=true reads such packets as video
 *            tokens); pts = the first frame's, duration up to the end of
 *            the last frame's
 *   G defaults to the aggregator's own group size (the file's
 *   video_aggregator.group_frames; 32 in the paper's SFT).
 *
 * Frames stream through: the node holds only the states of the group being
 * gathered (G · max_tiles·P · D_in floats, as hd_vagg_merge reads them in
 * one array), never the whole video.  That is kilobytes for the tiny preset but
 * G = 32 frames of 4 × 1601 rows × 4096 = 3.4 GB at the paper's shapes
 * (2.1 GB with its 448-pixel tiles); fewer frames per group (group=) or
 * fewer tiles shrink it proportionally.
 */
#include "node.h"

#include "node_hooks.h"

#include "core/exec.h"
#include "vision/video_aggregator.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const hd_port_def vagg_in[] = {{"in", HD_KIND_BIT(HD_PKT_EMBED), 0}};
static const hd_port_def vagg_out[] = {{"out", HD_KIND_BIT(HD_PKT_EMBED), 0}};

typedef struct vagg_state {
    hd_vagg *agg;
    int group;              /* frames per effective frame */
    int64_t n_tok;          /* rows per frame (set by the first frame) */
    float *frames;          /* [group][n_tok][D_in] */
    int64_t *n_valid;       /* [group] */
    int g;                  /* frames gathered */
    int64_t pts, end;       /* the group's first pts and end */
    int64_t n_frames, n_out;
} vagg_state;

static hd_status vagg_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    vagg_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    if (!(s->agg = hd_vagg_load(hd_opt_str(o, "model"), err))) return err ? err->code : HD_ERR_IO;
    const hd_vagg_config *c = hd_vagg_config_of(s->agg);
    s->group = hd_opt_is_set(o, "group") ? (int)hd_opt_int(o, "group") : c->n_group;
    if (s->group > c->n_group)
        return hd_error_set(err, HD_ERR_ARG, "group=%d: the aggregator merges at most %d frames (its time embeddings)",
                            s->group, c->n_group);
    if (!(s->n_valid = calloc((size_t)s->group, sizeof *s->n_valid))) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    return HD_OK;
}

/* Merges the frames gathered into one effective frame and sends it. */
static hd_node_ret emit(hd_node *node, vagg_state *s, hd_error *err) {
    const hd_vagg_config *c = hd_vagg_config_of(s->agg);
    hd_packet *out = hd_packet_embed_new(c->n_latent, c->n_out, err);
    if (!out) return HD_NODE_ERROR;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hd_exec ex = {.backend = HD_BACKEND_CPU, .pool = hd_node_pool(node), .scratch = NULL};
    if (hd_vagg_merge(s->agg, &ex, s->frames, s->g, s->n_tok, s->n_valid, out->u.embed.data, err)) {
        hd_packet_unref(out);
        hd_error_prefix(err, "effective frame %lld", (long long)s->n_out + 1);
        return HD_NODE_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->u.embed.what = HD_EMBED_ANY;
    out->pts = s->pts;
    out->duration = s->pts != HD_PTS_NONE && s->end > s->pts ? s->end - s->pts : 0;
    s->n_out++;
    hd_node_progressf(node, "effective frame %lld: %d frames merged into %d tokens in %.0f ms", (long long)s->n_out, s->g,
                      c->n_latent, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    s->g = 0;
    return hd_node_send(node, 0, out, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static hd_node_ret vagg_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    vagg_state *s = state;
    const hd_vagg_config *c = hd_vagg_config_of(s->agg);
    if (in->u.embed.what != HD_EMBED_IMAGE)
        return hd_error_set(err, HD_ERR_ARG, "vagg takes image states from a vit node, got %s embeddings",
                            hd_embed_kind_name(in->u.embed.what)),
               HD_NODE_ERROR;
    if (in->u.embed.dim != c->n_in)
        return hd_error_set(err, HD_ERR_ARG,
                            "frame states of width %lld, the aggregator reads %d (the vision encoder of another model?)",
                            (long long)in->u.embed.dim, c->n_in),
               HD_NODE_ERROR;
    const int64_t rows = in->u.embed.rows;
    if (!s->frames) {
        s->n_tok = rows;
        const size_t n = (size_t)s->group * (size_t)rows * (size_t)c->n_in;
        if (!(s->frames = malloc(n * sizeof *s->frames)))
            return hd_error_set(err, HD_ERR_NOMEM, "out of memory for %d frames of %lld x %d states", s->group,
                                (long long)rows, c->n_in),
                   HD_NODE_ERROR;
    } else if (rows != s->n_tok) {
        return hd_error_set(err, HD_ERR_ARG, "frame %lld has %lld state rows, the first had %lld",
                            (long long)s->n_frames + 1, (long long)rows, (long long)s->n_tok),
               HD_NODE_ERROR;
    }
    memcpy(s->frames + (size_t)s->g * (size_t)rows * (size_t)c->n_in, in->u.embed.data,
           (size_t)rows * (size_t)c->n_in * sizeof *s->frames);
    s->n_valid[s->g] = in->u.embed.valid_rows > 0 && in->u.embed.valid_rows <= rows ? in->u.embed.valid_rows : rows;
    if (s->g == 0) s->pts = in->pts;
    s->end = in->pts == HD_PTS_NONE ? HD_PTS_NONE : in->pts + in->duration;
    s->g++;
    s->n_frames++;
    return s->g == s->group ? emit(node, s, err) : HD_NODE_AGAIN;
}

static hd_status vagg_flush(hd_node *node, void *state, hd_error *err) {
    vagg_state *s = state;
    if (s->g == 0) return HD_OK;
    return emit(node, s, err) == HD_NODE_ERROR ? (err && err->code ? err->code : HD_ERR_INTERNAL) : HD_OK;
}

static void vagg_destroy(void *state) {
    vagg_state *s = state;
    if (!s) return;
    hd_vagg_free(s->agg);
    free(s->frames);
    free(s->n_valid);
    free(s);
}

static const hd_option_def vagg_opts[] = {
    {"model", HD_OPT_STRING, NULL, "a GGUF holding the temporal aggregator (a video model, or the aggregator alone)", 0,
     0, NULL},
    {"group", HD_OPT_INT, "32", "frames merged into one effective frame (default: the aggregator's own)", 1, 4096, NULL},
};

const hd_node_type hd_node_vagg = {
    .name = "vagg",
    .summary = "temporal aggregator (perceiver resampler): every G frames' image states -> one effective frame",
    .inputs = vagg_in,
    .n_inputs = 1,
    .outputs = vagg_out,
    .n_outputs = 1,
    .options = vagg_opts,
    .n_options = HD_COUNTOF(vagg_opts),
    .arg_option = "model",
    .flags = HD_NODE_HEAVY,
    .create = vagg_create,
    .process = vagg_process,
    .flush = vagg_flush,
    .destroy = vagg_destroy,
};
