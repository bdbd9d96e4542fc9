/* graph/wavio.h — RIFF/WAVE reading and writing for the audio file nodes.
 *
 * Reader: PCM 8 (unsigned), 16, 24, 32-bit integer and 32/64-bit IEEE float,
 * plain or WAVE_FORMAT_EXTENSIBLE; unknown chunks (LIST, ID3, fact, ...) are
 * skipped; every size is checked against the file size.  A data chunk that
 * claims more bytes than the file holds (streaming writers put 0xFFFFFFFF
 * there) is clamped to the whole frames present.  Samples come out as
 * interleaved float in [-1, 1).
 *
 * Writer: 16-bit PCM or 32-bit float; the header is written with the first
 * samples and its sizes are patched on close.
 */
#ifndef HD_WAVIO_H
#define HD_WAVIO_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_wav_info {
    int rate;            /* Hz                                */
    int channels;
    int bits;            /* bits per sample as stored         */
    bool is_float;
    int64_t n_frames;    /* frames in the data chunk          */
    int64_t data_offset; /* byte offset of the first sample   */
} hd_wav_info;

/* Parses the header from the first `size` bytes of a file whose total size
 * is file_size (size may be less than file_size when only a prefix is in
 * memory; chunks beyond it give HD_ERR_FORMAT "needs more").  `name` is used
 * in messages.  This is the bounds-checked core of hd_wav_reader_open. */
hd_status hd_wav_parse_header(const uint8_t *buf, size_t size, uint64_t file_size, const char *name,
                              hd_wav_info *info, hd_error *err);

typedef struct hd_wav_reader hd_wav_reader;

/* Caller closes with hd_wav_reader_close (NULL no-op). */
hd_wav_reader *hd_wav_reader_open(const char *path, hd_error *err);
const hd_wav_info *hd_wav_reader_info(const hd_wav_reader *r);
/* Reads up to max_frames frames into out [max_frames, channels]; returns the
 * number read (0 at the end), or -1 with err set. */
int64_t hd_wav_reader_read(hd_wav_reader *r, float *out, int64_t max_frames, hd_error *err);
void hd_wav_reader_close(hd_wav_reader *r);

typedef enum hd_wav_format { HD_WAV_S16 = 0, HD_WAV_F32 } hd_wav_format;
typedef struct hd_wav_writer hd_wav_writer;

/* path "-" writes to stdout (sizes then stay at the streaming maximum).
 * Caller finishes with hd_wav_writer_close. */
hd_wav_writer *hd_wav_writer_open(const char *path, hd_wav_format fmt, hd_error *err);
/* Interleaved [n_frames, channels]; rate and channels must stay the same
 * across calls. */
hd_status hd_wav_writer_write(hd_wav_writer *w, const float *data, int64_t n_frames, int rate, int channels,
                              hd_error *err);
/* Writes a header if nothing was written (rate/channels as given), patches
 * sizes, closes and frees; reports write errors.  NULL is a no-op. */
hd_status hd_wav_writer_close(hd_wav_writer *w, int rate_if_empty, int channels_if_empty, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
