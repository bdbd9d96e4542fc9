/* tests/parity/parity_vision.c — runner for tests/parity/preprocess_ref.py
 * (cases "pre_*": vision/preprocess.h on RGB pixels) and tests/parity/vit_ref.py
 * (cases "vit_*": vision/vit.h on a checkpoint named in the metadata), and the
 * timed case "bench_vit" of tools/bench/vision_vs_torch.py. */
#include "runner_io.h"

#include "core/safetensors.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The image of a case: meta "path" decoded by media/image.h, else the input
 * rgb I32 [h, w, 3] with meta w, h. */
static hd_image *case_image(pr_io *io, hd_error *err) {
    const char *path = pr_meta_str(io, "path", NULL);
    if (path) return hd_image_load(path, NULL, err);
    const int32_t *rgb;
    int64_t n, w, h;
    if (pr_input_i32(io, "rgb", &rgb, &n, err) || pr_meta_i64(io, "w", 0, &w, err) || pr_meta_i64(io, "h", 0, &h, err))
        return NULL;
    if (w < 1 || h < 1 || w * h * 3 != n) {
        hd_error_set(err, HD_ERR_ARG, "rgb has %lld values, not %lld x %lld x 3", (long long)n, (long long)h,
                     (long long)w);
        return NULL;
    }
    hd_image *img = hd_image_create((int)w, (int)h, err);
    for (int64_t i = 0; img && i < n; i++) {
        if (rgb[i] < 0 || rgb[i] > 255) {
            hd_image_free(img);
            hd_error_set(err, HD_ERR_ARG, "rgb[%lld] = %d is not a byte", (long long)i, rgb[i]);
            return NULL;
        }
        img->data[i] = (uint8_t)rgb[i];
    }
    return img;
}

/* meta tile, max_tiles; the image as case_image reads it */
static hd_status run_preprocess(pr_io *io, hd_error *err) {
    int64_t tile, max_tiles;
    hd_status st;
    if ((st = pr_meta_i64(io, "tile", 560, &tile, err)) || (st = pr_meta_i64(io, "max_tiles", 4, &max_tiles, err)))
        return st;
    hd_image *img = case_image(io, err);
    if (!img) return err->code;
    hd_mllama_preproc_params p = hd_mllama_preproc_default((int)tile);
    p.max_tiles = (int)max_tiles;
    hd_mllama_tiles t;
    st = hd_mllama_preprocess(img, &p, &t, err);
    hd_image_free(img);
    if (st) return st;
    const int64_t ne_pv[4] = {tile, tile, 3, max_tiles}, ne1[1] = {1}, ne_m[1] = {max_tiles}, ne2[1] = {2};
    hd_tensor pv = pr_output(io, "pixel_values", 4, ne_pv);
    hd_tensor id = pr_output(io, "aspect_ratio_id", 1, ne1);
    hd_tensor mask = pr_output(io, "aspect_ratio_mask", 1, ne_m);
    hd_tensor hw = pr_output(io, "resized_hw", 1, ne2);
    if (pv.data && id.data && mask.data && hw.data) {
        memcpy(pv.data, t.pixels, (size_t)(max_tiles * 3 * tile * tile) * sizeof(float));
        ((float *)id.data)[0] = (float)t.aspect_ratio_id;
        for (int k = 0; k < max_tiles; k++) ((float *)mask.data)[k] = t.mask[k];
        ((float *)hw.data)[0] = (float)t.resized_h;
        ((float *)hw.data)[1] = (float)t.resized_w;
    }
    hd_mllama_tiles_free(&t);
    return HD_OK;
}

/* inputs: pixel_values F32 [T, 3, t, t]; meta model, ar_id, n_tiles */
static hd_status run_vit(pr_io *io, hd_error *err) {
    const char *model = pr_meta_str(io, "model", NULL);
    if (!model) return hd_error_set(err, HD_ERR_ARG, "no \"model\" in the metadata");
    int64_t ar_id, n_tiles;
    hd_status st;
    if ((st = pr_meta_i64(io, "ar_id", 1, &ar_id, err)) || (st = pr_meta_i64(io, "n_tiles", 1, &n_tiles, err)))
        return st;
    hd_vit *v = hd_vit_load(model, err);
    if (!v) return err->code;
    const hd_vit_config *c = hd_vit_get_config(v);
    hd_tensor pv;
    if ((st = pr_input(io, "pixel_values", HD_TYPE_F32, &pv, err))) goto done;
    if (pv.ne[0] != c->image_size || pv.ne[1] != c->image_size || pv.ne[2] != 3 || pv.ne[3] != c->max_tiles) {
        st = hd_error_set(err, HD_ERR_SHAPE, "pixel_values do not match the model's tiles");
        goto done;
    }
    const int64_t ne_f[3] = {c->out_dim, c->n_pos, c->max_tiles}, ne_p[2] = {c->proj_dim, c->max_tiles * c->n_pos};
    hd_tensor f = pr_output(io, "features", 3, ne_f);
    hd_tensor p = pr_output(io, "projected", 2, ne_p);
    if (!f.data || !p.data) goto done;   /* pr_main reports the failed allocation */
    st = hd_vit_encode(v, pr_exec(io), pv.data, (int)ar_id, (int)n_tiles, f.data, p.data, err);
done:
    hd_vit_free(v);
    return st;
}

/* "bench_vit" (not a parity case: tools/bench/vision_vs_torch.sh): the inputs
 * of run_vit plus meta repeat (timed runs, 1..1000) and warmup (untimed runs
 * before them, 0..10, default 1); model load excluded.  Outputs "projected"
 * [T*P, D] of the last run and "seconds" [repeat], the wall time of each
 * hd_vit_encode call. */
static hd_status run_vit_timed(pr_io *io, hd_error *err) {
    const char *model = pr_meta_str(io, "model", NULL);
    if (!model) return hd_error_set(err, HD_ERR_ARG, "no \"model\" in the metadata");
    int64_t ar_id, n_tiles, repeat, warmup;
    hd_status st;
    if ((st = pr_meta_i64(io, "ar_id", 1, &ar_id, err)) || (st = pr_meta_i64(io, "n_tiles", 1, &n_tiles, err)) ||
        (st = pr_meta_i64(io, "repeat", 3, &repeat, err)) || (st = pr_meta_i64(io, "warmup", 1, &warmup, err)))
        return st;
    if (repeat < 1 || repeat > 1000) return hd_error_set(err, HD_ERR_ARG, "repeat %lld out of 1..1000", (long long)repeat);
    if (warmup < 0 || warmup > 10) return hd_error_set(err, HD_ERR_ARG, "warmup %lld out of 0..10", (long long)warmup);
    hd_vit *v = hd_vit_load(model, err);
    if (!v) return err->code;
    const hd_vit_config *c = hd_vit_get_config(v);
    hd_tensor pv;
    if ((st = pr_input(io, "pixel_values", HD_TYPE_F32, &pv, err))) goto done;
    if (pv.ne[0] != c->image_size || pv.ne[1] != c->image_size || pv.ne[2] != 3 || pv.ne[3] != c->max_tiles) {
        st = hd_error_set(err, HD_ERR_SHAPE, "pixel_values do not match the model's tiles");
        goto done;
    }
    const int64_t ne_p[2] = {c->proj_dim, c->max_tiles * c->n_pos}, ne_s[1] = {repeat};
    hd_tensor p = pr_output(io, "projected", 2, ne_p), secs = pr_output(io, "seconds", 1, ne_s);
    if (!p.data || !secs.data) goto done;   /* pr_main reports the failed allocation */
    for (int64_t r = -warmup; st == HD_OK && r < repeat; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = hd_vit_encode(v, pr_exec(io), pv.data, (int)ar_id, (int)n_tiles, NULL, p.data, err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r >= 0)
            ((float *)secs.data)[r] = (float)((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
done:
    hd_vit_free(v);
    return st;
}

/* The case name from the input file picks the function (names are generated
 * per fixture by the suites). */
int main(int argc, char **argv) {
    char name[256] = "";
    if (argc >= 2) {
        hd_error err = {0};
        hd_safetensors *st = hd_safetensors_open(argv[1], &err);
        for (int64_t i = 0; st && i < hd_safetensors_n_meta(st); i++) {
            const char *k, *val;
            if (hd_safetensors_meta(st, i, &k, &val) && strcmp(k, "case") == 0) snprintf(name, sizeof name, "%s", val);
        }
        hd_safetensors_close(st);
    }
    const pr_case cases[] = {
        {name, strcmp(name, "bench_vit") == 0     ? run_vit_timed
               : strncmp(name, "vit_", 4) == 0 ? run_vit
                                               : run_preprocess},
        {NULL, NULL},
    };
    return pr_main(argc, argv, cases);
}
