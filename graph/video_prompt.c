/* graph/video_prompt.c — see video_prompt.h. */
#include "video_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hd_video_time_text(int64_t us, char *buf, size_t size) {
    if (!buf || size == 0) return;
    if (us < 0 || us > (int64_t)1e15) {   /* unknown, or past 30 years */
        snprintf(buf, size, "?");
        return;
    }
    const int64_t tenths = (us + 50000) / 100000;   /* rounded half up */
    const int64_t t = tenths / 10, frac = tenths % 10;
    const int64_t h = t / 3600, m = (t / 60) % 60, s = t % 60;
    if (t < 60) snprintf(buf, size, "%lld.%lld s", (long long)s, (long long)frac);
    else if (h == 0) snprintf(buf, size, "%lld:%02lld.%lld", (long long)m, (long long)s, (long long)frac);
    else snprintf(buf, size, "%lld:%02lld:%02lld.%lld", (long long)h, (long long)m, (long long)s, (long long)frac);
}

char *hd_video_frames_text(const int64_t *pts_us, int n, const char *question, hd_error *err) {
    if (n < 1 || !pts_us) return hd_error_set(err, HD_ERR_ARG, "video prompt: %d frames", n), NULL;
    const size_t ql = question ? strlen(question) : 0;
    const size_t cap = 96 + (size_t)n * 32 + ql;
    char *out = malloc(cap);
    if (!out) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), NULL;
    size_t len;
    if (n == 1) len = (size_t)snprintf(out, cap, "The image is a frame of a video, taken at ");
    else len = (size_t)snprintf(out, cap, "The images are %d frames of a video, taken at ", n);
    for (int i = 0; i < n; i++) {
        char t[32];
        hd_video_time_text(pts_us[i], t, sizeof t);
        const char *sep = i == 0 ? "" : i == n - 1 ? " and " : ", ";
        len += (size_t)snprintf(out + len, cap - len, "%s%s", sep, t);
    }
    len += (size_t)snprintf(out + len, cap - len, ".");
    if (ql) snprintf(out + len, cap - len, " %s", question);
    return out;
}

char *hd_video_span_text(int64_t start_us, int64_t end_us, const char *question, hd_error *err) {
    const size_t ql = question ? strlen(question) : 0;
    const size_t cap = 128 + ql;
    char *out = malloc(cap);
    if (!out) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), NULL;
    char a[32], b[32];
    hd_video_time_text(start_us, a, sizeof a);
    hd_video_time_text(end_us, b, sizeof b);
    size_t len;
    if (start_us >= 0 && end_us > start_us) len = (size_t)snprintf(out, cap, "The video runs from %s to %s.", a, b);
    else len = (size_t)snprintf(out, cap, "The video starts at %s.", a);
    if (ql) snprintf(out + len, cap - len, " %s", question);
    return out;
}
