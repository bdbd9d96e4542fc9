/* apps/transcribe_graph.h — the speech-to-text processing graph, built in one
 * place for `herd transcribe` / `herd translate` and for herd serve's audio
 * endpoints:
 *
 *   file:INPUT | raw:- ─ resample 16 kHz mono ─ mel ─ segment ─ conformer ─
 *       speech-adapter ─ llama task=transcribe|translate ─┬─ out    → sink
 *                                                        └─ tokens → sink (link_tokens)
 * or, for a Granite Speech / Ultravox checkpoint (speech/audio_lm.h), whose
 * encoder runs its own front end on each segment's samples:
 *   file:INPUT | raw:- ─ resample 16 kHz mono ─ segment ─ audio-encoder ─ llama ─ ...
 *
 * The sink is a registered format (txt, srt, vtt, json, verbose_json) writing
 * to `out`, or a caller's node type (e.g. the server's SSE writer).
 */
#ifndef HD_APPS_TRANSCRIBE_GRAPH_H
#define HD_APPS_TRANSCRIBE_GRAPH_H

#include "core/error.h"
#include "graph/graph.h"
#include "graph/registry.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hd_transcribe_spec {
    const char *model;          /* speech file (naming its LM), Granite Speech / Ultravox checkpoint */
    const char *lm;             /* such a checkpoint's LM when it holds none, or NULL   */
    const char *input;          /* an audio file, or "-" for raw PCM on stdin           */
    bool translate;
    const char *language;       /* transcribe: transcript language; translate: source (verbose_json) */
    const char *to;             /* translate: target language (default English)         */
    int n_predict;              /* tokens per segment, < 0 = 448                         */
    float temp;                 /* used when temp_set, else greedy (the paper's decoding) */
    bool temp_set;
    uint64_t seed;
    /* raw stdin */
    const char *rate, *channels, *sample_format;
    /* segmentation (NULL = the segment node's defaults) */
    const char *max_segment, *min_silence, *overlap;
    /* the sink: a format node writing to `out` ("-" = stdout) ... */
    const char *format;         /* txt|srt|vtt|json|verbose_json                         */
    const char *out;
    bool link_tokens;           /* llama's tokens port into the sink (--ids, --json)     */
    /* ... or, when sink_type is set, that node with sink_kv (format/out ignored) */
    const hd_node_type *sink_type;
    const hd_kv *sink_kv;
    int n_sink_kv;
} hd_transcribe_spec;

/* Adds and links the nodes to g.  The source node is named "audio" (its
 * errors name the file already), the segmenter "segment". */
hd_status hd_transcribe_build(hd_graph *g, const hd_registry *reg, const hd_transcribe_spec *sp, hd_error *err);

#endif
