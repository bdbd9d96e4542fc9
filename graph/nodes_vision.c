/* graph/nodes_vision.c — the Llama 3.2 Vision image encoder as a node.
 *
 *   vit  model=PATH   picture → mllama preprocessing → vision encoder →
 *                     projector: one HD_EMBED_IMAGE packet per picture
 *                     (graph/vision_lm.h): rows = max_tiles·P cross-attention
 *                     states [max_tiles·P, D], valid_rows = n_tiles·P,
 *                     n_tiles / max_tiles set; pts and duration of the
 *                     picture.  The encoder is shared through the model
 *                     cache (graph/models.h) with every node naming the file.
 */
#include "node.h"

#include "models.h"
#include "node_hooks.h"
#include "vision_lm.h"

#include "vision/vit.h"

#include <stdlib.h>
#include <time.h>

static const hd_port_def vit_in[] = {{"in", HD_KIND_BIT(HD_PKT_IMAGE), 0}};
static const hd_port_def vit_out[] = {{"out", HD_KIND_BIT(HD_PKT_EMBED), 0}};

typedef struct vit_state {
    hd_model *vit;
    int64_t count;
} vit_state;

static hd_status vit_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    (void)node;
    vit_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->vit = hd_model_acquire(HD_MODEL_VIT, hd_opt_str(o, "model"), err);
    return s->vit ? HD_OK : (err ? err->code : HD_ERR_IO);
}

static hd_node_ret vit_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)port;
    vit_state *s = state;
    hd_image *im = hd_vlm_packet_rgb(in, err);
    if (!im) return HD_NODE_ERROR;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hd_packet *out = hd_vlm_encode_image(s->vit, hd_node_pool(node), im, err);
    hd_image_free(im);
    if (!out) {
        hd_error_prefix(err, "picture %lld", (long long)s->count + 1);
        return HD_NODE_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s->count++;
    hd_node_progressf(node, "picture %lld: %dx%d, %d of %d tiles encoded in %.0f ms", (long long)s->count,
                      in->u.image.width, in->u.image.height, out->u.embed.n_tiles, out->u.embed.max_tiles,
                      (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    out->pts = in->pts;
    out->duration = in->duration;
    return hd_node_send(node, 0, out, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static void vit_destroy(void *state) {
    vit_state *s = state;
    if (!s) return;
    hd_model_release(s->vit);
    free(s);
}

static const hd_option_def vit_opts[] = {
    {"model", HD_OPT_STRING, NULL, "mllama vision encoder: a herd GGUF or a Hugging Face Llama-3.2-Vision folder", 0,
     0, NULL},
};

const hd_node_type hd_node_vit = {
    .name = "vit",
    .summary = "Llama 3.2 Vision encoder + projector: picture -> cross-attention states (one packet per picture)",
    .inputs = vit_in,
    .n_inputs = 1,
    .outputs = vit_out,
    .n_outputs = 1,
    .options = vit_opts,
    .n_options = HD_COUNTOF(vit_opts),
    .arg_option = "model",
    .flags = HD_NODE_HEAVY,
    .create = vit_create,
    .process = vit_process,
    .destroy = vit_destroy,
};
