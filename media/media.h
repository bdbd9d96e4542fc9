/* media/media.h — what the media readers (image, audio, video) share.
 *
 * media/ turns bytes into pixels or samples: media/image.h (PNG, JPEG with
 * EXIF orientation, other formats through FFmpeg), media/audio.h (any FFmpeg
 * audio, streamed as 16 kHz mono float), media/video.h (FFmpeg video, sampled
 * frames as RGB), media/wav.h (WAV writer).  No model code here.
 */
#ifndef HD_MEDIA_H
#define HD_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A byte source for non-file input (stdin, a socket, a network buffer).
 * Fills at most `size` bytes of `buf`; returns the number of bytes read (> 0),
 * 0 at end of stream, or a negative value on a read error.  Such sources are
 * not seekable: containers that need seeking (MP4 with the index at the end)
 * then fail with a clear error. */
typedef ssize_t (*hd_media_read_fn)(void *user, uint8_t *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
