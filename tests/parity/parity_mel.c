/* tests/parity/parity_mel.c — speech/mel.c on decoded fixtures, for mel_ref.py.
 *
 *   parity_mel OUTDIR FILE...
 *
 * For the k-th FILE: decodes it with media/audio.h (16 kHz mono float),
 * computes the log-mel frames of the whole signal, and again streamed in
 * pseudo-random chunks of 1 .. 4000 samples; the two must be bit-identical
 * (else exit 1).  Writes OUTDIR/k.pcm (float32 samples) and OUTDIR/k.mel
 * (float32, n_mel per frame) and prints "k n_samples n_frames FILE".
 * (Not a harness runner: the reference needs the decoded samples.)
 */
#include "media/audio.h"
#include "speech/mel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_raw(const char *dir, int k, const char *ext, const float *v, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%d.%s", dir, k, ext);
    FILE *f = fopen(path, "wb");
    if (!f) return fprintf(stderr, "%s: cannot create\n", path), 1;
    const size_t w = n ? fwrite(v, sizeof(float), n, f) : 0;
    if (fclose(f) != 0 || w != n) return fprintf(stderr, "%s: write failed\n", path), 1;
    return 0;
}

static int one(const char *dir, int k, const char *file) {
    hd_error err = {0};
    float *x = NULL, *whole = NULL, *streamed = NULL;
    size_t n = 0;
    int64_t nf = 0, done = 0;
    int rc = 1;
    hd_mel *m = NULL;
    if (hd_audio_load(file, NULL, 3600, &x, &n, &err)) goto fail;
    const hd_mel_params p = hd_mel_default_params();
    if (hd_mel_compute(&p, x, n, &whole, &nf, &err)) goto fail;
    if (nf != hd_mel_n_frames(&p, (int64_t)n)) {
        fprintf(stderr, "%s: %lld frames, expected %lld\n", file, (long long)nf, (long long)hd_mel_n_frames(&p, (int64_t)n));
        goto out;
    }
    /* streamed: chunks of 1 .. 4000 samples from an LCG */
    if (!(m = hd_mel_create(&p, &err))) goto fail;
    streamed = malloc(((size_t)nf + 1) * (size_t)p.n_mel * sizeof(float));
    if (!streamed) goto out;
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)k;
    for (size_t at = 0; at < n;) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t c = 1 + (size_t)((s >> 33) % 4000);
        if (c > n - at) c = n - at;
        int64_t got = 0;
        if (hd_mel_push(m, x + at, c, streamed + (size_t)done * (size_t)p.n_mel, nf - done, &got, &err)) goto fail;
        done += got, at += c;
    }
    if (done != nf || (nf && memcmp(whole, streamed, (size_t)nf * (size_t)p.n_mel * sizeof(float)) != 0)) {
        fprintf(stderr, "%s: streamed frames (%lld) differ from whole-signal frames (%lld)\n", file, (long long)done,
                (long long)nf);
        goto out;
    }
    if (write_raw(dir, k, "pcm", x, n) || write_raw(dir, k, "mel", whole, (size_t)nf * (size_t)p.n_mel)) goto out;
    printf("%d %zu %lld %s\n", k, n, (long long)nf, file);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "%s\n", err.msg);
out:
    hd_mel_free(m);
    free(x), free(whole), free(streamed);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: parity_mel OUTDIR FILE...\n"), 2;
    for (int i = 2; i < argc; i++)
        if (one(argv[1], i - 2, argv[i])) return 1;
    return 0;
}
