/* media/exif.c — the EXIF orientation tag, read with every offset checked. */
#include "media/image.h"

#include <string.h>

#define TAG_ORIENTATION 0x0112
#define TYPE_SHORT 3
#define TYPE_LONG 4

static unsigned rd16(const uint8_t *p, int be) { return be ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]); }

static uint32_t rd32(const uint8_t *p, int be) {
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int hd_exif_orientation_tiff(const uint8_t *tiff, size_t size) {
    if (!tiff || size < 8) return 1;
    int be;
    if (memcmp(tiff, "II*\0", 4) == 0)
        be = 0;
    else if (memcmp(tiff, "MM\0*", 4) == 0)
        be = 1;
    else
        return 1;
    uint32_t ifd = rd32(tiff + 4, be);
    if (ifd < 8 || ifd > size - 2) return 1;
    unsigned count = rd16(tiff + ifd, be);
    size_t entries = ifd + 2;
    if ((size - entries) / 12 < count) count = (unsigned)((size - entries) / 12);
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = tiff + entries + 12 * (size_t)i;
        if (rd16(e, be) != TAG_ORIENTATION) continue;
        unsigned type = rd16(e + 2, be);
        if (rd32(e + 4, be) != 1) return 1;
        unsigned v = type == TYPE_SHORT ? rd16(e + 8, be) : type == TYPE_LONG ? rd32(e + 8, be) : 0;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

bool hd_jpeg_size(const uint8_t *jpeg, size_t size, unsigned *w, unsigned *h) {
    if (!jpeg || size < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return false;
    size_t pos = 2;
    while (pos + 4 <= size) {
        if (jpeg[pos] != 0xFF) return false;
        uint8_t m = jpeg[pos + 1];
        if (m == 0xFF) { pos++; continue; }
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { pos += 2; continue; }
        if (m == 0xDA || m == 0xD9) return false;
        size_t len = (size_t)jpeg[pos + 2] << 8 | jpeg[pos + 3];
        if (len < 2 || len > size - pos - 2) return false;
        /* SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): P, Y (height), X (width) */
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (len < 7) return false;
            const uint8_t *s = jpeg + pos + 4;
            *h = (unsigned)s[1] << 8 | s[2];
            *w = (unsigned)s[3] << 8 | s[4];
            return true;
        }
        pos += 2 + len;
    }
    return false;
}

int hd_exif_orientation_jpeg(const uint8_t *jpeg, size_t size) {
    if (!jpeg || size < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return 1;
    size_t pos = 2;
    while (pos + 4 <= size) {
        if (jpeg[pos] != 0xFF) return 1;          /* not at a marker: stop looking */
        uint8_t m = jpeg[pos + 1];
        if (m == 0xFF) { pos++; continue; }      /* fill byte */
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { pos += 2; continue; }
        if (m == 0xDA || m == 0xD9) return 1;     /* start of scan / end of image */
        size_t len = (size_t)jpeg[pos + 2] << 8 | jpeg[pos + 3];
        if (len < 2 || len > size - pos - 2) return 1;
        const uint8_t *seg = jpeg + pos + 4;
        size_t seg_len = len - 2;
        if (m == 0xE1 && seg_len >= 6 && memcmp(seg, "Exif\0\0", 6) == 0)
            return hd_exif_orientation_tiff(seg + 6, seg_len - 6);
        pos += 2 + len;
    }
    return 1;
}
