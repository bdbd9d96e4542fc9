/* graph/text_join.h — joining the texts of overlapping speech segments.
 *
 * When a long utterance is cut into windows that overlap by a second or two
 * (graph/segmenter.h, overlap_s), the words spoken in the overlap are
 * recognised twice: at the end of one segment's text and at the start of the
 * next.  hd_text_join_skip finds how much of the next text repeats the end of
 * the previous one, so that the joined text has every word exactly once.
 *
 * Words are runs of non-space bytes compared case-insensitively (ASCII) with
 * ASCII punctuation removed ("Country," == "country"); words that are only
 * punctuation are ignored.  The repeat is the longest run of words that
 * appears both near the end of `prev` and near the start of `next`:
 *   - at most `max_words` words (the caller's bound from the overlap's
 *     duration: ~2.5 words a second of overlap, generously rounded up);
 *   - it may stop up to 2 words before the end of prev and begin up to 2
 *     words after the start of next: the words cut in half at a window edge
 *     are often misrecognised ("coun" for "country"); the half-word of prev
 *     stays (it was already emitted), the half-word of next is dropped;
 *   - a single word counts only exactly at both edges.
 * Without a repeat nothing is skipped.  A text that repeats itself inside the
 * overlap ("a b a b") is ambiguous to any text-only join: max_words is what
 * resolves it.
 */
#ifndef HD_TEXT_JOIN_H
#define HD_TEXT_JOIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Byte offset into next (0 .. next_len) where its new text begins: the
 * repeated words and the whitespace after them are skipped. */
size_t hd_text_join_skip(const char *prev, size_t prev_len, const char *next, size_t next_len, int max_words);

/* Number of words in text (as counted by the join). */
int hd_text_word_count(const char *text, size_t len);

/* A segment's text as the sinks write it, in place: carriage returns dropped,
 * blank lines removed, each line's leading whitespace and the text's
 * trailing whitespace trimmed; NUL-terminated, returns the new length.  The
 * result for a prefix of a text is a prefix of the result for the whole
 * (only trailing whitespace is ever taken back), so a streamer can send the
 * growth of hd_text_clean(prefix) as the text arrives. */
size_t hd_text_clean(char *t, size_t n);

#ifdef __cplusplus
}
#endif
#endif
