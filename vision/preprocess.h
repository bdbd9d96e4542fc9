/* vision/preprocess.h — Llama 3.2 Vision ("mllama") image preprocessing,
 * exactly as Hugging Face MllamaImageProcessor / Meta's
 * VariableSizeImageTransform (SPEC §2.3):
 *
 *   1. canvas: among the tile arrangements (rows r, cols c) with r·c ≤
 *      max_tiles, in HF's order (r = 1..max, c = 1..max), scale =
 *      min(r·t/h, c·t/w); the smallest scale ≥ 1 if any, else the largest;
 *      ties → the smallest canvas area, then the first in the list;
 *   2. target size: tw = clip(w, t, c·t), th = clip(h, t, r·t); if tw/w < th/h
 *      then (tw, min(⌊h·tw/w⌋, th)) else (min(⌊w·th/h⌋, tw), th) — images
 *      with both sides ≥ t are never up-scaled;
 *   3. resize with Pillow's BILINEAR filter, bit-exact (vision/resample.h;
 *      anti-aliased when down-scaling);
 *   4. pad right and bottom with 0 (black) to (c·t) × (r·t);
 *   5. rescale and normalise per channel in float32 as HF does:
 *      v = (float)(p · (1/255) in double); out = (v − mean) / std;
 *   6. split into r·c tiles, row-major (tile k = row·c + col), each [3][t][t];
 *      tile slots k ≥ r·c stay all zero (zeros in normalised space, as HF's
 *      pack_images);
 *   7. aspect_ratio_id = 1 + index of (r, c) in the list of step 1
 *      (max_tiles 4: 1 (1,1) 2 (1,2) 3 (1,3) 4 (1,4) 5 (2,1) 6 (2,2) 7 (3,1)
 *      8 (4,1)); aspect_ratio_mask[k] = k < r·c.
 *
 * One deviation: when step 2 gives a side of 0 (an image thinner than
 * 1 : 4·t, e.g. 65535×1) HF's PIL call fails; herd uses 1 pixel instead.
 *
 * The checkpoint's constants come from its preprocessor_config.json; the
 * released ones are the OpenAI CLIP mean/std with tile size 560 (Instruct,
 * 90B) or 448 (11B base) and max_image_tiles 4.
 */
#ifndef HD_VISION_PREPROCESS_H
#define HD_VISION_PREPROCESS_H

#include "core/error.h"
#include "media/image.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_MLLAMA_MAX_TILES 16   /* largest max_tiles accepted */

typedef struct hd_mllama_preproc_params {
    int tile_size;          /* t: 560 (Instruct, 90B) or 448 (11B base)   */
    int max_tiles;          /* 1 .. HD_MLLAMA_MAX_TILES, released: 4       */
    float mean[3], std[3];  /* per channel, applied after ×rescale         */
    double rescale;         /* 1/255                                       */
} hd_mllama_preproc_params;

/* The released checkpoints' values for tile size t (CLIP mean/std, 4 tiles). */
hd_mllama_preproc_params hd_mllama_preproc_default(int tile_size);

typedef struct hd_mllama_tiles {
    int tile_size, max_tiles;
    int rows, cols;          /* tile arrangement; n_tiles = rows·cols       */
    int n_tiles;
    int aspect_ratio_id;     /* 1 + index of (rows, cols), see above        */
    int resized_w, resized_h;/* size after step 3 (before padding)          */
    uint8_t mask[HD_MLLAMA_MAX_TILES]; /* aspect_ratio_mask: k < n_tiles   */
    float *pixels;           /* [max_tiles][3][t][t], owned; PyTorch order  */
} hd_mllama_tiles;

/* The supported (rows, cols) arrangements for max_tiles in HF's order;
 * returns their count (≤ 64) and fills rows/cols (each ≥ that count). */
int hd_mllama_aspect_ratios(int max_tiles, int *rows, int *cols);

/* Steps 1 and 2 alone: the tile arrangement for an h×w image and the
 * resized size.  HD_ERR_ARG for sizes < 1 or a bad tile size / max_tiles. */
hd_status hd_mllama_fit(int w, int h, int tile_size, int max_tiles, int *rows, int *cols, int *new_w,
                        int *new_h, hd_error *err);

/* Steps 1–7 on an RGB image.  out is filled (out->pixels allocated: free with
 * hd_mllama_tiles_free).  Errors: HD_ERR_ARG (bad parameters or image),
 * HD_ERR_NOMEM. */
hd_status hd_mllama_preprocess(const hd_image *img, const hd_mllama_preproc_params *p, hd_mllama_tiles *out,
                               hd_error *err);
void hd_mllama_tiles_free(hd_mllama_tiles *t);   /* frees pixels; NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
