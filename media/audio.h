/* media/audio.h — any audio FFmpeg can demux and decode, streamed as mono
 * float samples at 16 kHz (or params.rate).
 *
 * Sources: a file (WAV, FLAC, MP3, Ogg Vorbis/Opus, M4A/AAC, the audio track
 * of a video file, ...), a memory buffer, a read callback (stdin, sockets;
 * not seekable), or raw PCM (s16le / f32le) from a file descriptor.
 *
 * Conversion, by libswresample:
 *   - downmix: the mean of all input channels with equal weights 1/C
 *     (stereo -> (L + R) / 2), no centre/LFE special-casing, no clipping;
 *   - resampling to params.rate with swresample's default windowed-sinc filter;
 *   - any sample format to 32-bit float in [-1, 1] (integer PCM scaled by
 *     1/2^(bits-1)); float input is passed through unclipped, except that
 *     non-finite values (NaN, Inf) become 0.
 * Codec delays are handled by FFmpeg (Opus pre-skip, MP3 encoder delay and
 * padding from the LAME/Xing header, Vorbis/Opus end trimming), so the sample
 * count matches the content (from a non-seekable source FFmpeg cannot find
 * an MP3's last frame, so its encoder padding, under 50 ms, stays).
 * Timestamps are sample counts: sample i is at i / rate seconds from the
 * first sample delivered (hd_audio_info.start_time places that sample on the
 * container's time axis).
 *
 * Streaming: the reader holds one demuxed packet, one decoded frame and the
 * resampler's few-ms history — memory does not grow with the file length, so
 * a 2-hour file is read in small chunks.
 *
 * Errors: a file that cannot be opened, is empty, is not recognised, has no
 * audio stream or whose audio codec is unknown fails at open with one line
 * naming the input.  A packet that fails to decode is skipped (counted in
 * hd_audio_info.n_decode_errors, last message in hd_audio_warning); reading
 * fails only if no audio at all could be decoded.  A valid file with zero
 * samples reads as an immediate end of stream.
 *
 * Thread safety: one reader per thread; readers are independent.
 */
#ifndef HD_MEDIA_AUDIO_H
#define HD_MEDIA_AUDIO_H

#include "core/error.h"
#include "media/media.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_AUDIO_RATE 16000

typedef struct hd_audio_params {
    int rate;           /* output sample rate, default 16000 (8000..192000)      */
    int stream_index;   /* container stream to decode, default -1 = best audio   */
    int max_in_rate;    /* input rates above this are refused, default 2 000 000 */
} hd_audio_params;

hd_audio_params hd_audio_default_params(void);

typedef struct hd_audio_info {
    const char *container;   /* demuxer name, e.g. "wav", "ogg", "mov,mp4,m4a,3gp,3g2,mj2" */
    const char *codec;       /* decoder name, e.g. "pcm_s16le", "opus"                      */
    int in_rate;             /* input sample rate                                           */
    int in_channels;         /* input channels                                              */
    int rate;                /* output rate                                                 */
    double duration;         /* container's duration in seconds, < 0 if unknown            */
    double start_time;       /* where the first sample lies on the file's time axis (the
                                axis of hd_video_frame.pts), seconds, >= 0              */
    int64_t n_samples;       /* output samples delivered so far                             */
    int64_t n_decode_errors; /* packets skipped because they failed to decode               */
} hd_audio_info;

typedef enum hd_pcm_format {
    HD_PCM_S16LE,   /* signed 16-bit little endian, interleaved */
    HD_PCM_F32LE,   /* 32-bit float little endian, interleaved  */
} hd_pcm_format;

typedef struct hd_audio_reader hd_audio_reader;

/* Opens a file; "-" reads standard input (not seekable unless redirected from
 * a file).  NULL on error (err: "PATH: problem").  params may be NULL.
 * The reader is the caller's: hd_audio_close. */
hd_audio_reader *hd_audio_open(const char *path, const hd_audio_params *params, hd_error *err);
/* Opens an encoded file held in memory; the buffer must outlive the reader.
 * `name` is used in messages. */
hd_audio_reader *hd_audio_open_memory(const void *data, size_t size, const char *name,
                                      const hd_audio_params *params, hd_error *err);
/* Opens an encoded stream read through `read` (see media/media.h); `user`
 * must outlive the reader. */
hd_audio_reader *hd_audio_open_callback(hd_media_read_fn read, void *user, const char *name,
                                        const hd_audio_params *params, hd_error *err);
/* Raw interleaved PCM from a file descriptor (not closed by the reader) with
 * the given rate (1..max_in_rate) and channels (1..64).  A trailing partial
 * frame is dropped. */
hd_audio_reader *hd_audio_open_raw_fd(int fd, hd_pcm_format format, int rate, int channels, const char *name,
                                      const hd_audio_params *params, hd_error *err);

/* Pulls up to `max` output samples into out.  *n = number written; *n == 0
 * with HD_OK means end of stream.  Blocks on the source as needed. */
hd_status hd_audio_read(hd_audio_reader *r, float *out, size_t max, size_t *n, hd_error *err);

/* Push style: calls fn with consecutive chunks of at most `chunk` samples
 * (t0 = time of the chunk's first sample, in seconds) until end of stream or
 * until fn returns nonzero (then HD_ERR_CANCELLED). */
typedef int (*hd_audio_chunk_fn)(void *user, const float *samples, size_t n, double t0);
hd_status hd_audio_stream(hd_audio_reader *r, size_t chunk, hd_audio_chunk_fn fn, void *user, hd_error *err);

/* Reads a whole file into one buffer (caller frees *samples with free()).
 * Fails with HD_ERR_NOMEM if it would exceed max_seconds of output. */
hd_status hd_audio_load(const char *path, const hd_audio_params *params, double max_seconds, float **samples,
                        size_t *n, hd_error *err);

/* Owned by the reader. */
const hd_audio_info *hd_audio_reader_info(const hd_audio_reader *r);
/* Last skipped-packet message, "" if none.  Owned by the reader. */
const char *hd_audio_warning(const hd_audio_reader *r);
void hd_audio_close(hd_audio_reader *r);

#ifdef __cplusplus
}
#endif
#endif
