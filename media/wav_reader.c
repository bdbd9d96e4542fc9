/* media/wav_reader.c — bounds-checked RIFF/WAVE reader. */
#include "wav_reader.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WAV_MAX_CHANNELS 64
#define WAV_MAX_RATE 10000000
#define WAV_TAG_PCM 1
#define WAV_TAG_FLOAT 3
#define WAV_TAG_EXTENSIBLE 0xFFFE

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

/* Where header bytes come from: a memory prefix or a file. */
typedef struct src {
    const uint8_t *mem;
    size_t mem_size;
    FILE *f;
} src;

static bool read_at(const src *s, uint64_t off, void *buf, size_t n) {
    if (s->mem) {
        if (off > s->mem_size || n > s->mem_size - off) return false;
        memcpy(buf, s->mem + off, n);
        return true;
    }
    if (off > (uint64_t)INT64_MAX || fseeko(s->f, (off_t)off, SEEK_SET) != 0) return false;
    return fread(buf, 1, n, s->f) == n;
}

static hd_status parse(const src *s, uint64_t file_size, const char *name, hd_wavfile_info *info, hd_error *err) {
    uint8_t h[12];
    memset(info, 0, sizeof *info);
    if (file_size < 12 || !read_at(s, 0, h, 12)) {
        if (file_size == 0) return hd_error_set(err, HD_ERR_FORMAT, "%s: empty file", name);
        return hd_error_set(err, HD_ERR_FORMAT, "%s: too short for a WAV header (%llu bytes)", name,
                            (unsigned long long)file_size);
    }
    if (memcmp(h, "RF64", 4) == 0)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: RF64 (64-bit WAV) is not supported", name);
    if (memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: not a WAV file (no RIFF/WAVE header)", name);

    bool have_fmt = false;
    unsigned tag = 0, channels = 0, block_align = 0, bits = 0;
    uint32_t rate = 0;
    uint64_t pos = 12;
    for (int n_chunks = 0;; n_chunks++) {
        uint8_t ch[8];
        if (n_chunks > 100000) return hd_error_set(err, HD_ERR_FORMAT, "%s: too many chunks", name);
        if (pos + 8 > file_size) return hd_error_set(err, HD_ERR_FORMAT, "%s: no data chunk", name);
        if (!read_at(s, pos, ch, 8))
            return hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read the chunk header at byte %llu", name,
                                (unsigned long long)pos);
        uint64_t size = rd32(ch + 4);
        uint64_t body = pos + 8;
        uint64_t avail = file_size - body;
        char id[5];
        for (int i = 0; i < 4; i++) id[i] = (ch[i] >= 0x20 && ch[i] < 0x7f) ? (char)ch[i] : '?';
        id[4] = 0;
        if (memcmp(ch, "fmt ", 4) == 0) {
            if (have_fmt) return hd_error_set(err, HD_ERR_FORMAT, "%s: two fmt chunks", name);
            if (size < 16) return hd_error_set(err, HD_ERR_FORMAT, "%s: fmt chunk of %llu bytes (needs 16)", name, (unsigned long long)size);
            if (size > avail)
                return hd_error_set(err, HD_ERR_FORMAT, "%s: fmt chunk of %llu bytes runs past the end of the file", name,
                                    (unsigned long long)size);
            uint8_t f[40];
            size_t take = size < 40 ? (size_t)size : 40;
            if (!read_at(s, body, f, take))
                return hd_error_set(err, HD_ERR_FORMAT, "%s: cannot read the fmt chunk", name);
            tag = rd16(f);
            channels = rd16(f + 2);
            rate = rd32(f + 4);
            block_align = rd16(f + 12);
            bits = rd16(f + 14);
            if (tag == WAV_TAG_EXTENSIBLE) {
                static const uint8_t guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                                      0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
                if (take < 40)
                    return hd_error_set(err, HD_ERR_FORMAT, "%s: WAVE_FORMAT_EXTENSIBLE fmt chunk of %llu bytes (needs 40)",
                                        name, (unsigned long long)size);
                if (memcmp(f + 26, guid_tail, 14) != 0)
                    return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: unknown WAVE_FORMAT_EXTENSIBLE sub-format", name);
                unsigned valid = rd16(f + 18);
                if (valid > bits) return hd_error_set(err, HD_ERR_FORMAT, "%s: %u valid bits in %u-bit samples", name, valid, bits);
                tag = rd16(f + 24);
            }
            have_fmt = true;
        } else if (memcmp(ch, "data", 4) == 0) {
            if (!have_fmt) return hd_error_set(err, HD_ERR_FORMAT, "%s: data chunk before the fmt chunk", name);
            if (size > avail) size = avail;   /* truncated or streaming-written file */
            info->data_offset = (int64_t)body;
            info->n_frames = (int64_t)(size / (block_align ? block_align : 1));
            break;
        } else {
            if (size > avail)
                return hd_error_set(err, HD_ERR_FORMAT, "%s: chunk '%s' of %llu bytes at byte %llu runs past the end of the file",
                                    name, id, (unsigned long long)size, (unsigned long long)pos);
        }
        pos = body + size + (size & 1);
    }
    if (tag != WAV_TAG_PCM && tag != WAV_TAG_FLOAT)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: WAV sample format 0x%04x is not PCM or IEEE float", name, tag);
    if (channels < 1 || channels > WAV_MAX_CHANNELS)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: %u channels (supported: 1..%d)", name, channels, WAV_MAX_CHANNELS);
    if (rate < 1 || rate > WAV_MAX_RATE)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: sample rate %u Hz out of range", name, rate);
    bool ok_bits = tag == WAV_TAG_PCM ? (bits == 8 || bits == 16 || bits == 24 || bits == 32) : (bits == 32 || bits == 64);
    if (!ok_bits)
        return hd_error_set(err, HD_ERR_UNSUPPORTED, "%s: %u-bit %s samples are not supported", name, bits,
                            tag == WAV_TAG_PCM ? "integer" : "float");
    if (block_align != channels * bits / 8)
        return hd_error_set(err, HD_ERR_FORMAT, "%s: block align %u does not match %u channels of %u bits", name,
                            block_align, channels, bits);
    info->rate = (int)rate;
    info->channels = (int)channels;
    info->bits = (int)bits;
    info->is_float = tag == WAV_TAG_FLOAT;
    return HD_OK;
}

hd_status hd_wavfile_parse_header(const uint8_t *buf, size_t size, uint64_t file_size, const char *name,
                                  hd_wavfile_info *info, hd_error *err) {
    src s = {buf ? buf : (const uint8_t *)"", buf ? size : 0, NULL};
    return parse(&s, file_size, name, info, err);
}

/* ---- reader ---------------------------------------------------------------------- */

struct hd_wavfile {
    FILE *f;
    char *path;
    hd_wavfile_info info;
    int64_t frames_left;
    uint8_t *raw;        /* conversion buffer */
    size_t raw_cap;
};

hd_wavfile *hd_wavfile_open(const char *path, hd_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        hd_error_set(err, HD_ERR_IO, "%s: not a regular file", path);
        return NULL;
    }
    hd_wavfile *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        fclose(f);
        hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->f = f;
    src s = {NULL, 0, f};
    if (parse(&s, (uint64_t)st.st_size, path, &r->info, err) != HD_OK) {
        hd_wavfile_close(r);
        return NULL;
    }
    if (fseeko(f, (off_t)r->info.data_offset, SEEK_SET) != 0) {
        hd_error_set(err, HD_ERR_IO, "%s: cannot seek to the samples", path);
        hd_wavfile_close(r);
        return NULL;
    }
    r->frames_left = r->info.n_frames;
    return r;
}

const hd_wavfile_info *hd_wavfile_get_info(const hd_wavfile *r) { return &r->info; }

int64_t hd_wavfile_read(hd_wavfile *r, float *out, int64_t max_frames, hd_error *err) {
    int64_t n = max_frames < r->frames_left ? max_frames : r->frames_left;
    if (n <= 0) return 0;
    int ch = r->info.channels, bps = r->info.bits / 8;
    size_t bytes = (size_t)n * (size_t)ch * (size_t)bps;
    if (bytes > r->raw_cap) {
        uint8_t *b = realloc(r->raw, bytes);
        if (!b) {
            hd_error_set(err, HD_ERR_NOMEM, "out of memory");
            return -1;
        }
        r->raw = b;
        r->raw_cap = bytes;
    }
    size_t got = fread(r->raw, 1, bytes, r->f);
    if (got < bytes) {
        if (ferror(r->f)) {
            hd_error_set(err, HD_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
            return -1;
        }
        /* the file shrank under us: keep the whole frames we got */
        n = (int64_t)(got / ((size_t)ch * (size_t)bps));
        r->frames_left = n;
    }
    size_t cnt = (size_t)n * (size_t)ch;
    const uint8_t *p = r->raw;
    if (r->info.is_float && bps == 4) {
        for (size_t i = 0; i < cnt; i++) {
            uint32_t u = rd32(p + 4 * i);
            float v;
            memcpy(&v, &u, 4);
            out[i] = isfinite(v) ? v : 0.0f;
        }
    } else if (r->info.is_float) {
        for (size_t i = 0; i < cnt; i++) {
            uint64_t u = (uint64_t)rd32(p + 8 * i) | (uint64_t)rd32(p + 8 * i + 4) << 32;
            double v;
            memcpy(&v, &u, 8);
            out[i] = isfinite(v) ? (float)v : 0.0f;
        }
    } else if (bps == 1) {
        for (size_t i = 0; i < cnt; i++) out[i] = ((int)p[i] - 128) * (1.0f / 128);
    } else if (bps == 2) {
        for (size_t i = 0; i < cnt; i++) out[i] = (float)(int16_t)rd16(p + 2 * i) * (1.0f / 32768);
    } else if (bps == 3) {
        for (size_t i = 0; i < cnt; i++) {
            const uint8_t *q = p + 3 * i;
            int32_t v = (int32_t)((uint32_t)q[0] << 8 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 24) >> 8;
            out[i] = (float)v * (1.0f / 8388608);
        }
    } else {
        for (size_t i = 0; i < cnt; i++) out[i] = (float)((double)(int32_t)rd32(p + 4 * i) * (1.0 / 2147483648.0));
    }
    r->frames_left -= n;
    return n;
}

void hd_wavfile_close(hd_wavfile *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r->raw);
    free(r->path);
    free(r);
}
