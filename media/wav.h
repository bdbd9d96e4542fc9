/* media/wav.h — WAV (RIFF) writer: 16-bit PCM or 32-bit IEEE float.
 *
 * Samples are float, interleaved by channel; 16-bit output is clamped to
 * [-1, 1] and rounded to nearest (x * 32767).  Files with a seekable output get
 * exact sizes in the header when closed; a pipe (e.g. stdout) gets the
 * "unknown length" sizes 0xFFFFFFFF that common readers accept.  Float files
 * carry WAVE_FORMAT_IEEE_FLOAT (fmt chunk of 18 bytes) and a fact chunk.
 * Data beyond the 4 GiB RIFF limit is refused with HD_ERR_UNSUPPORTED.
 */
#ifndef HD_MEDIA_WAV_H
#define HD_MEDIA_WAV_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_wav_format {
    HD_WAV_PCM16,    /* WAVE_FORMAT_PCM, 16 bits        */
    HD_WAV_FLOAT32,  /* WAVE_FORMAT_IEEE_FLOAT, 32 bits */
} hd_wav_format;

typedef struct hd_wav_writer hd_wav_writer;

/* Creates (truncates) `path`; "-" writes to standard output.  The writer is
 * the caller's: hd_wav_writer_close finishes the header and frees it. */
hd_wav_writer *hd_wav_writer_open(const char *path, int rate, int channels, hd_wav_format format, hd_error *err);
/* Writes to an open file descriptor (not closed by the writer); `name` is
 * used in messages. */
hd_wav_writer *hd_wav_writer_open_fd(int fd, const char *name, int rate, int channels, hd_wav_format format,
                                     hd_error *err);
/* Appends `frames` frames (frames * channels floats). */
hd_status hd_wav_writer_write(hd_wav_writer *w, const float *samples, size_t frames, hd_error *err);
/* Finishes the header and frees the writer (even on error); NULL is a no-op. */
hd_status hd_wav_writer_close(hd_wav_writer *w, hd_error *err);

/* One call: writes a whole buffer. */
hd_status hd_wav_write(const char *path, const float *samples, size_t frames, int rate, int channels,
                       hd_wav_format format, hd_error *err);

/* Samples in [-1, 1] to 16-bit little-endian PCM exactly as the WAV writer
 * stores them: clamped (NaN → -1), rounded to nearest (x · 32767).  out holds
 * 2·n bytes. */
void hd_pcm_to_s16le(const float *x, size_t n, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
