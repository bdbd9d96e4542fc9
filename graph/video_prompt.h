/* graph/video_prompt.h — the words that tell a Llama 3.2 Vision model that
 * its images are frames of one video, and when each was taken (the image-only
 * way to caption a video: `herd caption` on a model without video layers,
 * the llama node's `frame-times` option).
 *
 *   hd_video_time_text     12.5 s → "12.5 s"; ≥ 1 minute "1:02.5"; ≥ 1 hour
 *                          "1:02:03.5" (tenths, rounded half up)
 *   hd_video_frames_text   "The images are 3 frames of a video, taken at
 *                          0.5 s, 1.5 s and 2.5 s."  (one frame: "The image is
 *                          a frame of a video, taken at 0.5 s.")
 *   hd_video_span_text     video mode (the video cross-attention layers see the
 *                          clip through one placeholder): "The video runs from
 *                          0.5 s to 9.6 s."
 * The sentence goes before the question, after the <|image|> tokens (the
 * user turn of graph/vision_lm.h), so every image is visible to it.
 */
#ifndef HD_GRAPH_VIDEO_PROMPT_H
#define HD_GRAPH_VIDEO_PROMPT_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* us: microseconds (negative or HD_PTS_NONE-like values print as "?"). */
void hd_video_time_text(int64_t us, char *buf, size_t size);

/* The sentence for n ≥ 1 frames at pts_us[0..n) (microseconds), followed by
 * " " and `question` when it is non-NULL and non-empty.  Returns a malloc'd
 * string the caller frees, or NULL (err set) on n < 1 or out of memory. */
char *hd_video_frames_text(const int64_t *pts_us, int n, const char *question, hd_error *err);

/* The same for a clip from start_us to end_us (end < start or unknown:
 * "The video starts at 0.5 s."). */
char *hd_video_span_text(int64_t start_us, int64_t end_us, const char *question, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
