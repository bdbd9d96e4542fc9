/* speech/tn.h — rule-based English text normalisation: written form to
 * spoken form, for the text-to-speech front end (SPEC §5.1).
 *
 * The paper's TN is a streaming LSTM tagger choosing hand-written rules per
 * token; this is the rule set itself, applied deterministically, and it is
 * what `herd speak` uses when no TN weights are loaded.  It rewrites:
 *
 *   cardinals      "1,234" -> "one thousand two hundred thirty four",
 *                  "-5" -> "minus five", "3.14" -> "three point one four"
 *   ordinals       "21st" -> "twenty first"
 *   years          "in 1984" -> "in nineteen eighty four", "1990s" -> "nineteen nineties"
 *   dates          "March 5, 2024", "5 March 2024", "2024-03-05", "3/5/2024" (US order)
 *   times          "3:30 pm" -> "three thirty p m", "12:00" -> "twelve o'clock"
 *   currencies     "$3.50" -> "three dollars and fifty cents", "€2 million" -> "two million euros"
 *   percentages    "50%" -> "fifty percent"
 *   units          "5 km" -> "five kilometers", "1kg" -> "one kilogram", "20°C"
 *   fractions      "3/4" -> "three quarters"; ranges "10-20" -> "ten to twenty"
 *   telephone      "555-1234", "(555) 123-4567" -> digit groups
 *   roman          "World War II" -> "World War two", "Henry VIII" -> "Henry the eighth"
 *   abbreviations  "Dr." -> "Doctor", "e.g." -> "for example", "No. 5" -> "number five"
 *   symbols        "&" -> "and", "+" -> "plus", "=" -> "equals", "@" -> "at", "#5" -> "number five"
 *
 * Everything else (words, punctuation, spacing, non-ASCII text) is copied as
 * it is.  Numbers too long to read as quantities (more than 15 digits) are
 * read digit by digit.
 */
#ifndef HD_SPEECH_TN_H
#define HD_SPEECH_TN_H

#include "core/error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Normalises text[0, len) (UTF-8, need not be NUL-terminated).  Returns a
 * NUL-terminated malloc'ed string the caller frees, or NULL (err set:
 * HD_ERR_NOMEM, or HD_ERR_ARG for text == NULL with len > 0). */
char *hd_tn_normalize(const char *text, size_t len, hd_error *err);

/* The cardinal reading of v (|v| < 10^15) into buf ("minus ..." for v < 0);
 * returns buf, or NULL when it does not fit. */
char *hd_tn_cardinal(long long v, char *buf, size_t size);
/* The ordinal reading of v (0 < v < 10^15): "first", "twenty second". */
char *hd_tn_ordinal(long long v, char *buf, size_t size);
/* The year reading of 1000 <= y <= 2099: "nineteen oh five", "two thousand five". */
char *hd_tn_year(int y, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
