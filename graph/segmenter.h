/* graph/segmenter.h — voice-activity segmentation of a stream of 10 ms
 * frames, for speech recognition on long or live audio.
 *
 * The caller measures one energy value per frame (dB; graph/nodes_segment.c
 * uses the pre-emphasised frame power in dBFS, for audio and for log-mel
 * rows alike) and pushes the values in order.  The segmenter answers with
 * speech segments [start, end) in frame indices, each as soon as its end is
 * known:
 *
 *   noise floor   the 10th percentile of the energies of the last
 *                 `floor_window_s` seconds (a histogram of 0.5 dB bins over a
 *                 ring of frames; the quietest frame so far until a tenth of
 *                 the window has been seen), never below `min_floor_db`, so
 *                 a steady sound becomes the floor within 90% of the window;
 *   speech starts when `min_speech_s` of consecutive frames are above
 *                 floor + `on_db`;
 *   speech goes on while runs of 3 frames (30 ms) rise above floor +
 *                 `off_db` (hysteresis: off_db < on_db) at least once every
 *                 `min_silence_s` (a run, so single noise spikes do not keep
 *                 a segment open);
 *   it ends       after `min_silence_s` without such a frame; the segment is
 *                 [first speech frame − pad, last speech frame + 1 + pad),
 *                 clipped to the stream and to the previous segment's end;
 *   long speech   a segment that reaches `max_s` is cut at the quietest frame
 *                 (energy averaged over ±50 ms) of its last `search_s`
 *                 seconds; the next segment goes on from there, starting
 *                 `overlap_s` earlier (0 = segments never overlap; with an
 *                 overlap the text join of graph/text_join.h removes the words
 *                 recognised twice).
 *
 * Memory is bounded by max_s + floor_window_s worth of floats, whatever the
 * stream length.  Pure computation: no I/O, no threads.
 */
#ifndef HD_SEGMENTER_H
#define HD_SEGMENTER_H

#include "core/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_segmenter_params {
    double frame_s;         /* seconds per frame (0.01)                                  */
    double on_db;           /* speech starts above floor + on_db (12)                     */
    double off_db;          /* speech continues above floor + off_db (6), <= on_db        */
    double min_floor_db;    /* lowest noise floor (-75 dBFS)                              */
    double floor_window_s;  /* noise-floor percentile window (5)                          */
    double min_speech_s;    /* shortest burst that counts as speech (0.1)                 */
    double min_silence_s;   /* silence that ends a segment (0.6), >= pad_s                */
    double pad_s;           /* kept before and after the speech (0.2)                     */
    double max_s;           /* longest segment (30)                                       */
    double search_s;        /* window before max_s searched for the cut (5)               */
    double overlap_s;       /* overlap of segments cut at max_s (0), search_s + overlap_s
                               < max_s                                                    */
} hd_segmenter_params;

hd_segmenter_params hd_segmenter_default_params(void);

typedef struct hd_segment {
    int64_t start, end;     /* frames [start, end) */
    int cut;                /* 1 when cut at max_s (speech goes on in the next segment) */
} hd_segment;

typedef struct hd_segmenter hd_segmenter;

/* Validates p (NULL = defaults): HD_ERR_ARG names the bad field.  Caller
 * frees with hd_segmenter_free. */
hd_segmenter *hd_segmenter_create(const hd_segmenter_params *p, hd_error *err);
void hd_segmenter_free(hd_segmenter *s);   /* NULL is a no-op */
const hd_segmenter_params *hd_segmenter_params_of(const hd_segmenter *s);

/* Pushes the energy of the next frame (non-finite values count as silence).
 * Returns 1 and fills *out when a segment is complete, else 0. */
int hd_segmenter_push(hd_segmenter *s, float energy_db, hd_segment *out);
/* End of stream: returns 1 and fills *out with the open segment, if any. */
int hd_segmenter_finish(hd_segmenter *s, hd_segment *out);

/* Frames pushed so far. */
int64_t hd_segmenter_frames(const hd_segmenter *s);
/* The earliest frame a future segment may contain: frames before it can be
 * dropped by the caller. */
int64_t hd_segmenter_keep_from(const hd_segmenter *s);
/* Current noise floor estimate, dB. */
double hd_segmenter_floor(const hd_segmenter *s);

#ifdef __cplusplus
}
#endif
#endif
