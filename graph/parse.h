/* graph/parse.h — the pipeline description language.
 *
 *   file:talk.wav ! resample rate=16000 ! mel ! conformer ! speech-adapter ! llama task=transcribe ! srt:out.srt
 *
 * Grammar (whitespace separates words; '!' and ';' need no spaces around):
 *
 *   pipeline := chain { [';'] chain }
 *   chain    := element { '!' element }
 *   element  := node | ref
 *   node     := TYPE [':' ARG] { KEY '=' VALUE }
 *   ref      := NAME '.' [PORT]
 *
 * - A node is a node type from the registry with options.  `TYPE:ARG` is
 *   shorthand for the type's main option (`file:talk.wav` = `file
 *   path=talk.wav`, `srt:out.srt` = `srt path=out.srt`; `herd run --list`
 *   shows which option each type's shorthand sets).
 * - The option `name=NAME` names the node (letters, digits, '_' and '-');
 *   unnamed nodes are called TYPE0, TYPE1, ... in order of appearance, and
 *   errors use these names.
 * - `a ! b` links an output of a to an input of b.  Without port names the
 *   first compatible output and the first free compatible input are used.
 * - Branches: `NAME.` refers to the node named NAME, `NAME.PORT` to one of its
 *   ports.  A chain that starts with a ref continues from that node's output
 *   (fan-out: the same packets, by reference, go to every link of an output);
 *   a chain that ends in a ref feeds that node's input (fan-in).  A new chain
 *   starts at any element that does not follow '!' (or after ';'), as in
 *   GStreamer:
 *       file:a.wav ! tee name=t ! resample rate=16000 ! wav:a16.wav  t. ! wav:copy.wav
 *   Refs may name nodes defined later in the text.
 * - Quoting: inside a word, "..." (with \" \\ \n \t escapes) and '...'
 *   (literal) protect spaces, '!', ';', '=', ':' and '.':
 *       file:"my talk.wav"   txt path='out dir/a.txt'   name="x"
 * - Errors carry the byte offset of the offending word (hd_pipeline_caret
 *   draws the caret line); unknown node types and options are named, with a
 *   suggestion for near misses.
 */
#ifndef HD_PARSE_H
#define HD_PARSE_H

#include "graph.h"
#include "registry.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_PIPELINE_MAX_LEN (1 << 16)   /* longest description accepted */

/* Parses desc and adds its nodes and links to g (normally empty).  On error:
 * err = "column C: message" and *err_offset = byte offset of the problem in
 * desc (or -1 when it has no single position).  Nothing is opened or
 * created; hd_graph_start does that. */
hd_status hd_pipeline_build(const char *desc, const hd_registry *reg, hd_graph *g, int *err_offset, hd_error *err);

/* Two lines for an error display: the description (control characters shown
 * as spaces) and a caret under the character at byte offset `offset`.
 * Writes into buf (NUL-terminated, cut to size); returns buf. */
const char *hd_pipeline_caret(const char *desc, int offset, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
