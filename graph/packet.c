/* graph/packet.c — packet allocation, reference counting, copies. */
#include "packet.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hard cap on one packet's payload: a bad size in a file must not make us
 * try to allocate terabytes. */
#define HD_PACKET_MAX_BYTES ((size_t)1 << 34)

static atomic_llong g_live;

int64_t hd_packet_live_count(void) { return (int64_t)atomic_load(&g_live); }

/* Payload starts at the next 64-byte boundary after the header. */
static size_t header_size(void) { return (sizeof(hd_packet) + 63) & ~(size_t)63; }

static hd_packet *alloc_packet(hd_packet_kind kind, size_t bytes, hd_error *err) {
    if (bytes > HD_PACKET_MAX_BYTES) {
        hd_error_set(err, HD_ERR_NOMEM, "packet of %zu bytes exceeds the %zu byte limit", bytes,
                     HD_PACKET_MAX_BYTES);
        return NULL;
    }
    size_t hs = header_size();
    hd_packet *p = aligned_alloc(64, (hs + bytes + 63) & ~(size_t)63);
    if (!p) {
        hd_error_set(err, HD_ERR_NOMEM, "out of memory for a %zu byte %s packet", bytes,
                     hd_packet_kind_name(kind));
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->pts = HD_PTS_NONE;
    p->bytes_ = bytes;
    atomic_init(&p->refs_, 1);
    atomic_fetch_add(&g_live, 1);
    return p;
}

static void *payload(hd_packet *p) { return (char *)p + header_size(); }

/* a*b*c with overflow check against the packet limit. */
static bool mul_size(int64_t a, int64_t b, size_t c, size_t *out) {
    if (a < 0 || b < 0) return false;
    __int128 v = (__int128)a * b * (__int128)c;
    if (v > (__int128)HD_PACKET_MAX_BYTES) return false;
    *out = (size_t)v;
    return true;
}

hd_packet *hd_packet_audio_new(int64_t n_frames, int channels, int rate, hd_error *err) {
    size_t bytes;
    if (channels <= 0 || channels > 64 || rate <= 0 || !mul_size(n_frames, channels, sizeof(float), &bytes)) {
        hd_error_set(err, HD_ERR_ARG, "bad audio packet: %lld frames, %d channels, %d Hz",
                     (long long)n_frames, channels, rate);
        return NULL;
    }
    hd_packet *p = alloc_packet(HD_PKT_AUDIO, bytes, err);
    if (!p) return NULL;
    p->u.audio.data = payload(p);
    p->u.audio.n_frames = n_frames;
    p->u.audio.channels = channels;
    p->u.audio.rate = rate;
    p->duration = hd_samples_to_us(n_frames, rate);
    return p;
}

int hd_pixfmt_channels(hd_pixfmt f) {
    switch (f) {
    case HD_PIX_GRAY8: return 1;
    case HD_PIX_RGB8: return 3;
    case HD_PIX_RGBA8: return 4;
    case HD_PIX_RGB_F32: return 3;
    }
    return 0;
}

size_t hd_pixfmt_bytes(hd_pixfmt f) {
    return f == HD_PIX_RGB_F32 ? 3 * sizeof(float) : (size_t)hd_pixfmt_channels(f);
}

hd_packet *hd_packet_image_new(int width, int height, hd_pixfmt format, hd_error *err) {
    size_t px = hd_pixfmt_bytes(format), bytes;
    if (width <= 0 || height <= 0 || px == 0 || !mul_size(width, height, px, &bytes)) {
        hd_error_set(err, HD_ERR_ARG, "bad image packet: %dx%d format %d", width, height, (int)format);
        return NULL;
    }
    hd_packet *p = alloc_packet(HD_PKT_IMAGE, bytes, err);
    if (!p) return NULL;
    p->u.image.data = payload(p);
    p->u.image.width = width;
    p->u.image.height = height;
    p->u.image.channels = hd_pixfmt_channels(format);
    p->u.image.format = format;
    p->u.image.stride = (size_t)width * px;
    return p;
}

hd_packet *hd_packet_embed_new(int64_t rows, int64_t dim, hd_error *err) {
    size_t bytes;
    if (rows < 0 || dim <= 0 || !mul_size(rows, dim, sizeof(float), &bytes)) {
        hd_error_set(err, HD_ERR_ARG, "bad embedding packet: %lld x %lld", (long long)rows, (long long)dim);
        return NULL;
    }
    hd_packet *p = alloc_packet(HD_PKT_EMBED, bytes, err);
    if (!p) return NULL;
    p->u.embed.data = payload(p);
    p->u.embed.rows = rows;
    p->u.embed.dim = dim;
    p->u.embed.valid_rows = rows;
    p->u.embed.what = HD_EMBED_ANY;
    p->u.embed.begin_id = p->u.embed.end_id = -1;
    return p;
}

hd_packet *hd_packet_tokens_new(const int32_t *ids, int64_t n, hd_error *err) {
    size_t bytes;
    if (!mul_size(n, 1, sizeof(int32_t), &bytes)) {
        hd_error_set(err, HD_ERR_ARG, "bad token packet: %lld ids", (long long)n);
        return NULL;
    }
    hd_packet *p = alloc_packet(HD_PKT_TOKENS, bytes, err);
    if (!p) return NULL;
    p->u.tokens.ids = payload(p);
    p->u.tokens.n = n;
    if (ids && n) memcpy(p->u.tokens.ids, ids, bytes);
    return p;
}

hd_packet *hd_packet_text_new(const char *text, size_t len, hd_error *err) {
    hd_packet *p = alloc_packet(HD_PKT_TEXT, len + 1, err);
    if (!p) return NULL;
    p->u.text.text = payload(p);
    if (len) memcpy(p->u.text.text, text, len);
    p->u.text.text[len] = 0;
    p->u.text.len = len;
    return p;
}

hd_packet *hd_packet_eos_new(hd_error *err) { return alloc_packet(HD_PKT_EOS, 0, err); }

hd_packet *hd_packet_error_new(hd_status code, const char *msg, hd_error *err) {
    size_t len = msg ? strlen(msg) : 0;
    hd_packet *p = alloc_packet(HD_PKT_ERROR, len + 1, err);
    if (!p) return NULL;
    p->u.error.code = code;
    p->u.error.msg = payload(p);
    if (len) memcpy(p->u.error.msg, msg, len);
    p->u.error.msg[len] = 0;
    return p;
}

hd_packet *hd_packet_ref(hd_packet *p) {
    if (p) atomic_fetch_add_explicit(&p->refs_, 1, memory_order_relaxed);
    return p;
}

void hd_packet_unref(hd_packet *p) {
    if (!p) return;
    if (atomic_fetch_sub_explicit(&p->refs_, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_sub(&g_live, 1);
        free(p);
    }
}

int hd_packet_refs(const hd_packet *p) { return p ? atomic_load(&((hd_packet *)p)->refs_) : 0; }

hd_packet *hd_packet_make_writable(hd_packet *p, hd_error *err) {
    if (atomic_load(&p->refs_) == 1) return p;
    hd_packet *c = alloc_packet(p->kind, p->bytes_, err);
    if (!c) return NULL;
    /* copy the header fields, then re-point the payload pointer at the copy */
    c->flags = p->flags;
    c->pts = p->pts;
    c->duration = p->duration;
    c->u = p->u;
    memcpy(payload(c), payload(p), p->bytes_);
    switch (p->kind) {
    case HD_PKT_AUDIO: c->u.audio.data = payload(c); break;
    case HD_PKT_IMAGE: c->u.image.data = payload(c); break;
    case HD_PKT_EMBED: c->u.embed.data = payload(c); break;
    case HD_PKT_TOKENS: c->u.tokens.ids = payload(c); break;
    case HD_PKT_TEXT: c->u.text.text = payload(c); break;
    case HD_PKT_ERROR: c->u.error.msg = payload(c); break;
    default: break;
    }
    hd_packet_unref(p);
    return c;
}

const char *hd_packet_kind_name(hd_packet_kind kind) {
    static const char *const names[] = {"audio", "image", "embedding", "tokens", "text", "eos", "error"};
    return (unsigned)kind < HD_PKT_KIND_COUNT ? names[kind] : "?";
}

const char *hd_embed_kind_name(hd_embed_kind k) {
    static const char *const names[] = {"any", "speech", "lm", "image"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *hd_kinds_text(uint32_t kinds, char *buf, size_t size) {
    size_t o = 0;
    if (size) buf[0] = 0;
    if ((kinds & HD_KINDS_DATA) == HD_KINDS_DATA) {
        snprintf(buf, size, "any");
        return buf;
    }
    for (int k = 0; k < HD_PKT_KIND_COUNT; k++) {
        if (!(kinds & HD_KIND_BIT(k)) || o >= size) continue;
        o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "|" : "", hd_packet_kind_name((hd_packet_kind)k));
    }
    if (!o) snprintf(buf, size, "none");
    return buf;
}

int64_t hd_samples_to_us(int64_t index, int rate) {
    if (rate <= 0) return 0;
    __int128 v = (__int128)index * HD_TIME_BASE;
    /* floor division for negative indices too */
    __int128 q = v / rate;
    if (v % rate != 0 && v < 0) q--;
    return (int64_t)q;
}
