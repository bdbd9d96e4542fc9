/* graph/packet.h — the timestamped, reference-counted unit of data that moves
 * along the edges of a processing graph.
 *
 * Kinds: audio chunk, image/frame, embedding block, tokens, text, and the two
 * control kinds end-of-stream and error.
 *
 * Time: every packet carries `pts` (presentation timestamp) and `duration`,
 * both int64 MICROSECONDS from the start of the stream.  HD_PTS_NONE marks an
 * unknown time.  Audio sources derive pts from the sample index
 * (pts = index * 1e6 / rate, rounded down) and set duration to the next
 * chunk's pts minus this one, so timestamps never drift over long streams.
 *
 * Ownership: a packet is created with one reference, owned by the creator.
 * hd_packet_ref adds a reference, hd_packet_unref drops one and frees the
 * packet (header and payload are one allocation) when the last goes.  The
 * graph gives each consumer of a fanned-out output its own reference to the
 * SAME packet, so a packet is read-only once it has been sent: fill the
 * payload before hd_node_send, never after.  A consumer that wants to modify
 * data in place calls hd_packet_make_writable, which returns the packet itself
 * when it holds the only reference, or a private copy (dropping its reference
 * to the shared one) otherwise.  Reference counting is atomic; packets may be
 * shared across threads.
 */
#ifndef HD_PACKET_H
#define HD_PACKET_H

#include "core/error.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_PTS_NONE INT64_MIN
#define HD_TIME_BASE 1000000   /* pts/duration units per second (microseconds) */

typedef enum hd_packet_kind {
    HD_PKT_AUDIO = 0,   /* float PCM chunk                                  */
    HD_PKT_IMAGE,       /* one image or video frame                         */
    HD_PKT_EMBED,       /* block of embeddings                              */
    HD_PKT_TOKENS,      /* int32 token ids                                  */
    HD_PKT_TEXT,        /* UTF-8 text (one segment, or a piece of one)      */
    HD_PKT_EOS,         /* end of stream on this edge (control)             */
    HD_PKT_ERROR,       /* in-band error report (control)                   */
    HD_PKT_KIND_COUNT
} hd_packet_kind;

/* Sets of kinds, as accepted by a port. */
#define HD_KIND_BIT(k) (1u << (k))
#define HD_KINDS_DATA                                                                              \
    (HD_KIND_BIT(HD_PKT_AUDIO) | HD_KIND_BIT(HD_PKT_IMAGE) | HD_KIND_BIT(HD_PKT_EMBED) |           \
     HD_KIND_BIT(HD_PKT_TOKENS) | HD_KIND_BIT(HD_PKT_TEXT))

typedef enum hd_pixfmt {
    HD_PIX_GRAY8 = 0,   /* 1 byte per pixel                                 */
    HD_PIX_RGB8,        /* 3 bytes, R G B                                   */
    HD_PIX_RGBA8,       /* 4 bytes, R G B A                                 */
    HD_PIX_RGB_F32,     /* 3 floats (e.g. normalized for a vision encoder)  */
} hd_pixfmt;

/* What the rows of an embedding packet are (hd_packet.u.embed.what). */
typedef enum hd_embed_kind {
    HD_EMBED_ANY = 0,     /* unspecified (e.g. log-mel frames from the mel node)          */
    HD_EMBED_SPEECH,      /* speech encoder frames (conformer output)                       */
    HD_EMBED_LM,          /* language-model input embeddings, one row per position
                             (speech adapter output, spliced into the prompt)              */
    HD_EMBED_IMAGE,       /* one image's cross-attention states (vision encoder +
                             projector): rows = max_tiles·P, valid_rows = n_tiles·P        */
} hd_embed_kind;

const char *hd_embed_kind_name(hd_embed_kind k);   /* "any", "speech", "lm", "image" */

/* Packet flags. */
#define HD_PKT_FLAG_PARTIAL 1u   /* text: more pieces of this segment follow */
#define HD_PKT_FLAG_SEGMENT 2u   /* audio/embed: the packet holds one whole utterance
                                    (a segmenter's output): encoders take it as one
                                    segment instead of gathering rows */

typedef struct hd_packet {
    hd_packet_kind kind;
    uint32_t flags;
    int64_t pts;        /* microseconds, or HD_PTS_NONE */
    int64_t duration;   /* microseconds, 0 if unknown    */
    union {
        struct {
            float *data;        /* [n_frames, channels] interleaved, in [-1, 1] */
            int64_t n_frames;
            int channels;
            int rate;           /* Hz */
        } audio;
        struct {
            uint8_t *data;      /* [height, stride] bytes; rows of width*pixel_bytes */
            int width, height;
            int channels;       /* 1, 3 or 4 */
            hd_pixfmt format;
            size_t stride;      /* bytes per row */
        } image;
        struct {
            float *data;        /* [rows, dim] row-major */
            int64_t rows;
            int64_t dim;
            /* metadata (hd_packet_embed_new: valid_rows = rows, ids -1, the rest 0) */
            int64_t valid_rows; /* leading rows that hold data; later rows are
                                   padding (image: tile slots ≥ n_tiles)        */
            hd_embed_kind what; /* what the rows are                           */
            int n_tiles;        /* HD_EMBED_IMAGE: tiles of the image (1..max)  */
            int max_tiles;      /* HD_EMBED_IMAGE: tile slots; rows = max_tiles·P */
            int32_t begin_id;   /* HD_EMBED_LM: token ids that enclose the rows  */
            int32_t end_id;     /* in a prompt (speech/speech_model.h), or -1     */
        } embed;
        struct {
            int32_t *ids;       /* [n] */
            int64_t n;
        } tokens;
        struct {
            char *text;         /* UTF-8, NUL-terminated, len bytes before the NUL */
            size_t len;
        } text;
        struct {
            hd_status code;
            char *msg;          /* NUL-terminated, e.g. "decode: frame 12 is corrupt" */
        } error;
    } u;
    /* private */
    atomic_int refs_;
    size_t bytes_;      /* payload bytes allocated after the header */
} hd_packet;

/* Constructors: one reference, owned by the caller.  Payload memory follows
 * the header in the same allocation; data is uninitialized unless copied in.
 * pts = HD_PTS_NONE, duration = 0, flags = 0.  NULL (and err set) on bad
 * sizes or out of memory. */
hd_packet *hd_packet_audio_new(int64_t n_frames, int channels, int rate, hd_error *err);
hd_packet *hd_packet_image_new(int width, int height, hd_pixfmt format, hd_error *err);
hd_packet *hd_packet_embed_new(int64_t rows, int64_t dim, hd_error *err);
hd_packet *hd_packet_tokens_new(const int32_t *ids, int64_t n, hd_error *err); /* ids copied; may be NULL (uninitialized) */
hd_packet *hd_packet_text_new(const char *text, size_t len, hd_error *err);    /* text copied, NUL added */
hd_packet *hd_packet_eos_new(hd_error *err);
hd_packet *hd_packet_error_new(hd_status code, const char *msg, hd_error *err);

hd_packet *hd_packet_ref(hd_packet *p);     /* returns p; NULL is a no-op */
void hd_packet_unref(hd_packet *p);         /* NULL is a no-op            */
int hd_packet_refs(const hd_packet *p);     /* current count (for tests)  */
/* Takes the caller's reference; returns a packet the caller owns alone
 * (p itself, or a copy).  NULL on out of memory (p is then still owned). */
hd_packet *hd_packet_make_writable(hd_packet *p, hd_error *err);

const char *hd_packet_kind_name(hd_packet_kind kind);   /* "audio", "image", ... */
int hd_pixfmt_channels(hd_pixfmt f);
size_t hd_pixfmt_bytes(hd_pixfmt f);                    /* bytes per pixel */
/* Writes the names of the kinds in `kinds` ("audio|text") into buf. */
const char *hd_kinds_text(uint32_t kinds, char *buf, size_t size);

/* Packets alive in this process (created and not yet freed); for leak and
 * memory-bound tests. */
int64_t hd_packet_live_count(void);

/* pts of sample `index` at `rate` Hz, in microseconds (exact, rounded down). */
int64_t hd_samples_to_us(int64_t index, int rate);

#ifdef __cplusplus
}
#endif
#endif
