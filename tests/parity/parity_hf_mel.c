/* tests/parity/parity_hf_mel.c — speech/hf_mel.c on decoded fixtures, for
 * hf_mel_ref.py.
 *
 *   parity_hf_mel OUTDIR FILE...
 *
 * For the k-th FILE: decodes it with media/audio.h (16 kHz mono float) and
 * writes OUTDIR/k.pcm (float32 samples) and, for each front end j of the
 * table below, OUTDIR/k.j.mel (float32 rows of its width).  Prints one line
 * "k j n_samples n_rows n_valid width FILE" per file and front end.
 * FILE:START:N takes the N samples from START on instead (short inputs).
 * (Not a harness runner: the reference needs the decoded samples.)
 */
#include "media/audio.h"
#include "speech/hf_mel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_raw(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return fprintf(stderr, "%s: cannot create\n", path), 1;
    const size_t w = n ? fwrite(v, sizeof(float), n, f) : 0;
    if (fclose(f) != 0 || w != n) return fprintf(stderr, "%s: write failed\n", path), 1;
    return 0;
}

/* j: 0 Whisper 128 bins padded to 30 s, 1 Whisper 80 bins as Ultravox pads
 * (multiple of hop), 2 Whisper 128 bins as Ultravox, 3 Granite. */
static hd_hf_mel_params front_end(int j) {
    switch (j) {
    case 0: return hd_hf_mel_whisper_params(128, HD_HF_MEL_PAD_30S);
    case 1: return hd_hf_mel_whisper_params(80, HD_HF_MEL_PAD_HOP);
    case 2: return hd_hf_mel_whisper_params(128, HD_HF_MEL_PAD_HOP);
    default: return hd_hf_mel_granite_params();
    }
}

static int one(const char *dir, int k, const char *file, size_t start, size_t cut) {
    hd_error err = {0};
    float *x = NULL;
    size_t n = 0;
    char path[4096];
    if (hd_audio_load(file, NULL, 3600, &x, &n, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    if (start > n) start = n;
    if (start) memmove(x, x + start, (n - start) * sizeof *x), n -= start;
    if (cut && cut < n) n = cut; /* a short piece: the short-input padding paths */
    snprintf(path, sizeof path, "%s/%d.pcm", dir, k);
    int rc = write_raw(path, x, n);
    for (int j = 0; j < 4 && rc == 0; j++) {
        const hd_hf_mel_params p = front_end(j);
        float *mel = NULL;
        int64_t rows = 0, valid = 0;
        if (hd_hf_mel_compute(&p, x, n, &mel, &rows, &valid, &err)) {
            fprintf(stderr, "%s: %s\n", file, err.msg);
            rc = 1;
            break;
        }
        if (rows != hd_hf_mel_n_rows(&p, (int64_t)n) || valid != hd_hf_mel_n_valid(&p, (int64_t)n)) {
            fprintf(stderr, "%s: front end %d: %lld rows / %lld valid disagree with n_rows/n_valid\n", file, j,
                    (long long)rows, (long long)valid);
            rc = 1;
        }
        const int width = hd_hf_mel_width(&p);
        snprintf(path, sizeof path, "%s/%d.%d.mel", dir, k, j);
        if (rc == 0) rc = write_raw(path, mel, (size_t)rows * (size_t)width);
        if (rc == 0) printf("%d %d %zu %lld %lld %d %s\n", k, j, n, (long long)rows, (long long)valid, width, file);
        free(mel);
    }
    free(x);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: parity_hf_mel OUTDIR FILE[:START:N_SAMPLES]...\n"), 2;
    for (int i = 2; i < argc; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s", argv[i]);
        size_t start = 0, cut = 0;
        char *colon = strchr(file, ':');
        if (colon) {
            char *end = NULL;
            start = (size_t)strtoull(colon + 1, &end, 10);
            if (*end == ':') cut = (size_t)strtoull(end + 1, NULL, 10);
            *colon = '\0';
        }
        if (one(argv[1], i - 2, file, start, cut)) return 1;
    }
    return 0;
}
