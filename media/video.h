/* media/video.h — decode a video file with FFmpeg and hand out sampled
 * frames as 8-bit RGB, one at a time (the video is never held whole).
 *
 * Sampling (params.sampling), all by presentation timestamps, never by the
 * container's frame count (many containers have none):
 *   HD_VIDEO_UNIFORM  n_frames targets at the centres of n equal slices of the
 *                     clip: t_k = D * (k + 0.5) / n, k = 0..n-1, D = duration
 *                     (the container's, or measured from packet timestamps
 *                     before decoding when the container has none, or when
 *                     params.measure_duration);
 *   HD_VIDEO_FPS      targets t_k = k / fps while t_k < D (or until the end of
 *                     the stream when D is unknown);
 *   HD_VIDEO_ALL      every decoded frame.
 * For a target t the frame shown at t is chosen: the last frame with
 * pts <= t (the first frame if t precedes it).  UNIFORM always yields exactly
 * n frames once one frame decodes: a clip with fewer frames than n, or whose
 * stated duration runs past its last frame, repeats frames.  FPS stops at the
 * end of the last frame's display interval.
 *
 * Long clips are not decoded whole: a target more than params.seek_gap
 * seconds ahead is reached by seeking to the keyframe before it (the frame
 * chosen is the same; decoding from a keyframe gives the same pixels).
 *
 * Each frame carries its pts in seconds from the file's start time
 * (AVFormatContext.start_time, so audio and video share a time axis), forced
 * non-decreasing.  Pictures are converted with libswscale to RGB24 (full
 * range, the stream's YUV matrix, BT.601 if unspecified; alpha composited on
 * white) on its fast unscaled path (SWS_BILINEAR, as PyAV's
 * frame.to_ndarray('rgb24') does).  Rotation metadata (the display matrix of the stream, or of the
 * first frame if the stream has none) is applied: 90/180/270 degrees and
 * mirroring; other angles are ignored with a warning.  The audio track of the
 * same file is read with hd_audio_open (media/audio.h).
 *
 * Damage: a file that cannot be opened, has no video stream, or of which not
 * a single frame decodes fails with one line naming the file.  Otherwise
 * undecodable packets and a truncated tail are skipped: the frames that could
 * be decoded are returned and hd_video_warning() says what was lost
 * (e.g. corrupt/truncated_mid_mdat_dog_and_stove.mp4).
 *
 * FFmpeg's own log output is silenced (see media/ffmpeg_io.h).
 */
#ifndef HD_MEDIA_VIDEO_H
#define HD_MEDIA_VIDEO_H

#include "core/error.h"
#include "media/image.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_video_sampling {
    HD_VIDEO_UNIFORM = 0,
    HD_VIDEO_FPS,
    HD_VIDEO_ALL,
} hd_video_sampling;

typedef struct hd_video_params {
    hd_video_sampling sampling; /* default HD_VIDEO_UNIFORM                              */
    int n_frames;               /* UNIFORM: number of frames, default 16 (1..100000)      */
    double fps;                 /* FPS: frames per second, default 1.0 (> 0, <= 1000)     */
    uint64_t max_pixels;        /* per frame, default 1 << 26 (67M pixels)                */
    bool apply_rotation;        /* default true                                           */
    bool measure_duration;      /* UNIFORM/FPS: measure D from packets even if the
                                   container states one, default false                    */
    int threads;                /* decoder threads, 0 = FFmpeg's choice (default)          */
    int stream_index;           /* -1 = best video stream (default)                       */
    double seek_gap;            /* UNIFORM/FPS: when the next target is more than this many
                                   seconds past the decoded position, seek to the keyframe
                                   before it instead of decoding everything in between;
                                   default 10 s, 0 = never seek                            */
} hd_video_params;

hd_video_params hd_video_default_params(void);

typedef struct hd_video_info {
    const char *container;      /* demuxer name                                      */
    const char *codec;          /* decoder name, e.g. "h264", "vp9"                  */
    int width, height;          /* frame size after rotation                         */
    int coded_width, coded_height;
    int rotation;               /* degrees clockwise applied: 0, 90, 180, 270        */
    bool mirrored;              /* then a left-right mirror was applied              */
    double duration;            /* seconds used for sampling, < 0 if unknown         */
    double fps;                 /* container's average frame rate, 0 if unknown      */
    int64_t n_frames_header;    /* container's frame count, 0 if unknown             */
    bool has_audio;             /* the file has an audio stream                      */
    int64_t n_decoded;          /* frames decoded so far                             */
    int64_t n_decode_errors;    /* packets or frames skipped as damaged              */
} hd_video_info;

typedef struct hd_video_frame {
    hd_image image;             /* [h][w][3] RGB; pixels owned by the reader, valid
                                   until the next hd_video_next or hd_video_close    */
    double pts;                 /* seconds from the file's start                      */
    double target;              /* the sampling time it was chosen for (= pts for ALL) */
    int64_t index;              /* 0-based frame number: counted while decoding from the
                                   start; once a seek happened, round(pts * fps) (-1 if
                                   the frame rate is unknown)                         */
    int sample;                 /* 0-based index among the frames handed out         */
} hd_video_frame;

typedef struct hd_video_reader hd_video_reader;

/* Opens the file `path`.  The reader
 * is the caller's: hd_video_close.  params may be NULL. */
hd_video_reader *hd_video_open(const char *path, const hd_video_params *params, hd_error *err);
/* The same for a file held in memory (seekable); the buffer must outlive the
 * reader.  `name` is used in messages. */
hd_video_reader *hd_video_open_memory(const void *data, size_t size, const char *name, const hd_video_params *params,
                                      hd_error *err);
/* The next sampled frame in *frame, or *frame = NULL at the end (HD_OK). */
hd_status hd_video_next(hd_video_reader *r, const hd_video_frame **frame, hd_error *err);
/* Owned by the reader. */
const hd_video_info *hd_video_reader_info(const hd_video_reader *r);
/* What was skipped as damaged (last message), "" if nothing.  Owned by the reader. */
const char *hd_video_warning(const hd_video_reader *r);
void hd_video_close(hd_video_reader *r);

/* The EXIF-style orientation (1..8, see hd_image_orient) that shows a picture
 * the way an FFmpeg display matrix (AV_PKT_DATA_DISPLAYMATRIX: 3x3, 16.16 and
 * 2.30 fixed point, (x' y' w) = (x y 1) * M) says; 0 if it is not a multiple
 * of 90 degrees (with or without a mirror). */
int hd_video_display_orientation(const int32_t matrix[9]);

#ifdef __cplusplus
}
#endif
#endif
