/* media/ffmpeg_io.h — internal to media/: FFmpeg inputs opened over herd's own
 * I/O, and FFmpeg's log output captured instead of printed.
 *
 * Every FFmpeg input is read through a custom AVIOContext (a file descriptor,
 * a memory buffer or a caller's read callback), never through FFmpeg's URL
 * protocols, so a path such as "http://x" or "concat:a|b" is just a file name,
 * and demuxers that would open further files (HLS, concat, DASH) are refused.
 *
 * Logging: the first call of any media function installs an av_log callback
 * that prints nothing and keeps, per thread, the last message of level error or
 * worse ("decoder: message") for error texts.  This replaces FFmpeg's default
 * callback for the whole process (FFmpeg has one global callback).
 */
#ifndef HD_MEDIA_FFMPEG_IO_H
#define HD_MEDIA_FFMPEG_IO_H

#include "core/error.h"
#include "media/media.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hd_ff_input {
    AVFormatContext *fmt;   /* owned; opened, stream info found             */
    AVIOContext *pb;        /* owned custom I/O                             */
    char *name;             /* owned copy of the caller's name for the input */
    /* exactly one source */
    int fd;                 /* >= 0: read from fd (closed if own_fd)         */
    bool own_fd;
    const uint8_t *mem;     /* memory source (borrowed)                      */
    size_t mem_size, mem_pos;
    hd_media_read_fn read;  /* callback source, not seekable                 */
    void *read_user;
} hd_ff_input;

/* Installs the silent log callback (idempotent, thread-safe). */
void hd_ff_init(void);
/* The calling thread's last FFmpeg error message ("" if none) and reset. */
const char *hd_ff_last_log(void);
void hd_ff_clear_log(void);
/* True if, since the last clear, libavutil refused a picture for exceeding
 * the max_pixels limit given to hd_ff_open_* / hd_ff_open_decoder. */
bool hd_ff_size_limit_hit(void);
/* Describes an AVERROR code for messages: the last FFmpeg log line if there is
 * one, else av_strerror's text.  Returns buf. */
const char *hd_ff_describe(int averr, char *buf, size_t size);

/* Opens and probes an input; `fmt` forces a demuxer (NULL = probe).
 * `max_pixels` (> 0) is passed to the decoders that avformat_find_stream_info
 * runs, so a hostile header cannot make them allocate a huge picture.  The input
 * must be recognised with a probe score of at least 25 (FFmpeg's own
 * "misdetection possible" threshold).  Errors name `name`.  The hd_ff_input is
 * owned by the caller: hd_ff_close. */
/* path "-" reads standard input (named "<stdin>" in messages). */
hd_ff_input *hd_ff_open_path(const char *path, const AVInputFormat *fmt, int64_t max_pixels, hd_error *err);
hd_ff_input *hd_ff_open_memory(const void *data, size_t size, const char *name, const AVInputFormat *fmt,
                               int64_t max_pixels, hd_error *err);
hd_ff_input *hd_ff_open_callback(hd_media_read_fn read, void *user, const char *name, const AVInputFormat *fmt,
                                 int64_t max_pixels, hd_error *err);
void hd_ff_close(hd_ff_input *in);

/* Opens a decoder for stream `st` with `threads` threads (0 = FFmpeg's
 * choice) and a picture size limit (`max_pixels` > 0).  NULL on error
 * (message names `name`). */
AVCodecContext *hd_ff_open_decoder(const AVStream *st, int threads, int64_t max_pixels, const char *name,
                                   hd_error *err);

/* The demux → decode loop shared by the audio and video readers: reads
 * packets of one stream from `fmt`, feeds them to `dec` and returns the next
 * decoded frame.  Damaged packets (rejected by the demuxer or the decoder) are
 * reported through on_error and skipped; a damaged tail ends the stream with
 * what was decoded.  Only a decoder that fails HD_FF_MAX_ERRORS_IN_A_ROW times
 * in a row is fatal.  All pointers are borrowed. */
#define HD_FF_MAX_ERRORS_IN_A_ROW 10000
typedef struct hd_ff_decode_loop {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;          /* scratch packet                                  */
    int stream;             /* index of the stream decoded                     */
    const char *name;       /* the input, for messages                         */
    void (*on_error)(void *user, int averr);   /* a skipped damaged packet, may be NULL */
    void *user;
    bool sent_flush;        /* end of input sent to the decoder; clear after a seek */
    int last_error;         /* last AVERROR passed to on_error                 */
} hd_ff_decode_loop;

/* Receives the next frame of the stream into `frame`: 1 = a frame, 0 = end of
 * stream, -1 = the decoder keeps failing (err: "NAME: decoder keeps failing (...)"). */
int hd_ff_decode_next(hd_ff_decode_loop *d, AVFrame *frame, hd_error *err);

/* Picture conversion (media/ffmpeg_rgb.c): a decoded frame of any pixel
 * format to packed RGB24 at full range, with the frame's YUV matrix (BT.601
 * when unspecified) and alpha composited onto `bg`.  `accurate` interpolates
 * chroma at full resolution with exact rounding (single images); otherwise
 * libswscale's fast unscaled path is used (SWS_BILINEAR, what PyAV's
 * to_ndarray('rgb24') does; about 7x faster on 720p video).  The converter
 * caches the scaler between frames of one stream. */
struct SwsContext;
typedef struct hd_ff_rgb {
    struct SwsContext *sws;
    uint8_t *tmp;        /* RGBA scratch for formats with alpha */
    size_t tmp_size;
} hd_ff_rgb;
/* dst holds frame->width * frame->height * 3 bytes. */
hd_status hd_ff_frame_to_rgb(hd_ff_rgb *c, const AVFrame *frame, uint8_t *dst, const uint8_t bg[3], bool accurate,
                             const char *name, hd_error *err);
void hd_ff_rgb_release(hd_ff_rgb *c); /* frees the cached state; c itself is the caller's */

#endif
