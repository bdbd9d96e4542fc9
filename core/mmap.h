/* core/mmap.h — read-only file mappings and write-to-temp-then-rename output.
 *
 * hd_mmap maps a whole regular file read-only.  An empty file maps to
 * data = NULL, size = 0 (parsers then report it as too small).
 *
 * hd_outfile writes to "PATH.tmp.PID" and renames it over PATH on commit, so
 * a reader never sees a half-written file; abort (or a failed commit) removes
 * the temporary file.
 */
#ifndef HD_MMAP_H
#define HD_MMAP_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_mmap {
    const void *data;   /* the file's bytes, read-only; NULL when size is 0 */
    size_t size;
} hd_mmap;

/* Maps path.  On failure *m is zeroed and err says "PATH: reason". */
hd_status hd_mmap_open(hd_mmap *m, const char *path, hd_error *err);
void hd_mmap_close(hd_mmap *m);               /* zeroes *m; a zeroed map is a no-op */

typedef struct hd_outfile {
    FILE *f;
    char *path;      /* final name (owned) */
    char *tmp;       /* temporary name (owned) */
    bool failed;     /* a write failed; commit will fail */
    int failed_errno;
    size_t written;  /* bytes written so far */
} hd_outfile;

hd_status hd_outfile_open(hd_outfile *o, const char *path, hd_error *err);
/* Buffered write; errors are remembered and reported by commit. */
void hd_outfile_write(hd_outfile *o, const void *data, size_t n);
/* Writes zero bytes until written is a multiple of align (a power of two). */
void hd_outfile_pad(hd_outfile *o, size_t align);
/* Flushes, closes and renames over the final path; frees o's strings. */
hd_status hd_outfile_commit(hd_outfile *o, hd_error *err);
/* Closes and removes the temporary file; frees o's strings.  Safe after commit. */
void hd_outfile_abort(hd_outfile *o);

#ifdef __cplusplus
}
#endif
#endif
