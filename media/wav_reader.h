/* media/wav_reader.h — RIFF/WAVE reading without FFmpeg (the graph's `file` source
 * node reads .wav files with it).
 *
 * Reader: PCM 8 (unsigned), 16, 24, 32-bit integer and 32/64-bit IEEE float,
 * plain or WAVE_FORMAT_EXTENSIBLE; unknown chunks (LIST, ID3, fact, ...) are
 * skipped; every size is checked against the file size.  A data chunk that
 * claims more bytes than the file holds (streaming writers put 0xFFFFFFFF
 * there) is clamped to the whole frames present.  Samples come out as
 * interleaved float in [-1, 1).
 *
 * Writing WAV files is media/wav.h.
 */
#ifndef HD_MEDIA_WAV_READER_H
#define HD_MEDIA_WAV_READER_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_wavfile_info {
    int rate;            /* Hz                                */
    int channels;
    int bits;            /* bits per sample as stored         */
    bool is_float;
    int64_t n_frames;    /* frames in the data chunk          */
    int64_t data_offset; /* byte offset of the first sample   */
} hd_wavfile_info;

/* Parses the header from the first `size` bytes of a file whose total size
 * is file_size (size may be less than file_size when only a prefix is in
 * memory; chunks beyond it give HD_ERR_FORMAT "needs more").  `name` is used
 * in messages.  This is the bounds-checked core of hd_wavfile_open. */
hd_status hd_wavfile_parse_header(const uint8_t *buf, size_t size, uint64_t file_size, const char *name,
                                  hd_wavfile_info *info, hd_error *err);

typedef struct hd_wavfile hd_wavfile;

/* Caller closes with hd_wavfile_close (NULL no-op). */
hd_wavfile *hd_wavfile_open(const char *path, hd_error *err);
const hd_wavfile_info *hd_wavfile_get_info(const hd_wavfile *r);
/* Reads up to max_frames frames into out [max_frames, channels]; returns the
 * number read (0 at the end), or -1 with err set. */
int64_t hd_wavfile_read(hd_wavfile *r, float *out, int64_t max_frames, hd_error *err);
void hd_wavfile_close(hd_wavfile *r);

#ifdef __cplusplus
}
#endif
#endif
