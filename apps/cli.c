#include "cli.h"

#include "core/strbuf.h"

#include "core/threadpool.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int hd_cli_exit_code(hd_status st) {
    if (st == HD_OK) return HD_EXIT_OK;
    return st == HD_ERR_ARG ? HD_EXIT_USAGE : HD_EXIT_INPUT;
}

int hd_cli_fail(const hd_cli *cli, const hd_error *err) {
    fprintf(stderr, "herd %s: %s\n", cli && cli->command ? cli->command : "", err->msg[0] ? err->msg : hd_status_name(err->code));
    return hd_cli_exit_code(err->code);
}

int hd_cli_usage_error(const hd_cli *cli, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "herd %s: ", cli && cli->command ? cli->command : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'herd %s --help')\n", cli && cli->command ? cli->command : "");
    va_end(ap);
    return HD_EXIT_USAGE;
}

void hd_cli_progress(const hd_cli *cli, const char *fmt, ...) {
    if (cli && cli->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

bool hd_cli_int(const hd_cli *cli, const char *flag, const char *value, long long lo, long long hi,
                long long *out) {
    if (!value) {
        hd_cli_usage_error(cli, "%s needs a value", flag);
        return false;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi) {
        hd_cli_usage_error(cli, "%s: '%s' is not an integer in [%lld, %lld]", flag, value, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool hd_cli_float(const hd_cli *cli, const char *flag, const char *value, double *out) {
    if (!value) {
        hd_cli_usage_error(cli, "%s needs a value", flag);
        return false;
    }
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(v)) {
        hd_cli_usage_error(cli, "%s: '%s' is not a number", flag, value);
        return false;
    }
    *out = v;
    return true;
}

/* --device -> the backend every hd_exec_init of this process uses. */
static int cli_resolve_device(hd_cli *cli) {
    hd_error err;
    char note[HD_ERROR_MSG_MAX + 64];
    if (hd_device_resolve(cli->device, &cli->backend, note, sizeof note, &err) != HD_OK) {
        fprintf(stderr, "herd: %s\n", err.msg);
        return HD_EXIT_INPUT;
    }
    if (note[0] && !cli->quiet) fprintf(stderr, "herd: %s\n", note);
    hd_backend_set_default(cli->backend);
    return HD_EXIT_OK;
}

int hd_cli_parse(hd_cli *cli, int argc, char **argv, hd_cli_flag_fn extra, void *ctx, bool *help) {
    memset(cli, 0, sizeof *cli);
    cli->command = argv[0];
    cli->threads = hd_cpu_count();
    cli->n_predict = -1;
    cli->temp = 0.8f;
    cli->seed = (uint64_t)time(NULL);
    if (help) *help = false;
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        double d;
        if (flags_done || a[0] != '-' || strcmp(a, "-") == 0) {
            if (cli->n_pos >= (int)(sizeof cli->pos / sizeof cli->pos[0]))
                return hd_cli_usage_error(cli, "too many arguments");
            cli->pos[cli->n_pos++] = a;
        } else if (strcmp(a, "--") == 0) {
            flags_done = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            if (help) *help = true;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!v) return hd_cli_usage_error(cli, "%s needs a value", a);
            cli->model = v;
            i++;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (!hd_cli_int(cli, a, v, 1, 1024, &n)) return HD_EXIT_USAGE;
            cli->threads = (int)n;
            i++;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) {
            if (!hd_cli_int(cli, a, v, -1, 1 << 30, &n)) return HD_EXIT_USAGE;
            cli->n_predict = (int)n;
            i++;
        } else if (strcmp(a, "--temp") == 0) {
            if (!hd_cli_float(cli, a, v, &d)) return HD_EXIT_USAGE;
            if (d < 0) return hd_cli_usage_error(cli, "--temp must be >= 0");
            cli->temp = (float)d;
            cli->temp_set = true;
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            if (!hd_cli_int(cli, a, v, 0, (long long)(~0ull >> 1), &n)) return HD_EXIT_USAGE;
            cli->seed = (uint64_t)n;
            cli->seed_set = true;
            i++;
        } else if (strcmp(a, "--ids") == 0) {
            cli->ids = true;
        } else if (strcmp(a, "--json") == 0) {
            cli->json = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            cli->quiet = true;
        } else if (strcmp(a, "--device") == 0) {
            if (!v) return hd_cli_usage_error(cli, "%s needs a value", a);
            if (!hd_device_parse(v, &cli->device))
                return hd_cli_usage_error(cli, "--device: '%s' is not one of cpu, cuda, auto", v);
            i++;
        } else {
            int used = extra ? extra(ctx, a, v) : -1;
            if (used < 0) return hd_cli_usage_error(cli, "unknown option '%s'", a);
            if (used > 0 && !v) return hd_cli_usage_error(cli, "%s needs a value", a);
            i += used;
        }
    }
    if (help && *help) return HD_EXIT_OK;
    return cli_resolve_device(cli);
}

/* A cJSON string from bytes that may be invalid UTF-8 or hold NULs: those
 * become U+FFFD (core/strbuf.h's repair; a NUL would end the C string). */
cJSON *hd_cli_json_bytes(const char *s, size_t len) {
    hd_strbuf b = {0};
    size_t run = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || s[i] == 0) {
            hd_strbuf_put_utf8(&b, s + run, i - run);
            if (i < len) hd_strbuf_put(&b, "\xEF\xBF\xBD", 3);
            run = i + 1;
        }
    hd_strbuf_put(&b, "", 0);
    cJSON *j = b.oom ? NULL : cJSON_CreateString(b.p);
    free(b.p);
    return j;
}
