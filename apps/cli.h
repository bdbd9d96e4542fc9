/* apps/cli.h — the conventions every `herd` command shares.
 *
 * Shared flags: -m MODEL, -t THREADS, -n MAX_TOKENS, --temp T (0 = greedy),
 * --seed N, --ids, --json, --quiet, --device cpu|cuda|auto, -h/--help.
 * --device (default cpu) is resolved while parsing and becomes the process
 * default backend (core/backend.h): cuda without a usable device or in a
 * build without CUDA is an error (exit 1); auto falls back to the CPU with one
 * line on stderr.  Exit codes: 0 success,
 * 1 bad input (files, models, data), 2 usage errors.
 * Commands parse their own extra flags with hd_cli_parse's callback.
 */
#ifndef HD_CLI_H
#define HD_CLI_H

#include "core/backend.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HD_EXIT_OK 0
#define HD_EXIT_INPUT 1
#define HD_EXIT_USAGE 2

typedef struct hd_cli {
    const char *command;   /* e.g. "info"                                  */
    const char *model;     /* -m                                           */
    int threads;           /* -t, default: number of cores                 */
    int n_predict;         /* -n, default -1 (command's own default)       */
    float temp;            /* --temp, default 0.8                          */
    bool temp_set;
    uint64_t seed;         /* --seed, default from time                    */
    bool seed_set;
    bool ids, json, quiet;
    hd_device device;      /* --device as given, default HD_DEVICE_CPU      */
    hd_backend_kind backend;  /* what it resolved to (also the default)    */
    int n_pos;             /* positional arguments (not flags)             */
    const char *pos[64];
} hd_cli;

/* Called for a flag that is not shared.  Return the number of extra argv
 * entries consumed (0 for a plain switch, 1 for a flag with a value), or -1
 * for an unknown flag.  `value` is argv[i+1] or NULL. */
typedef int (*hd_cli_flag_fn)(void *ctx, const char *flag, const char *value);

/* Parses argv (argv[0] = command name).  Returns HD_EXIT_OK, or
 * HD_EXIT_USAGE after printing one line to stderr, or HD_EXIT_INPUT when the
 * --device asked for cannot be used (one line "herd: --device cuda: ...").
 * Sets *help when -h. */
int hd_cli_parse(hd_cli *cli, int argc, char **argv, hd_cli_flag_fn extra, void *ctx, bool *help);

/* One-line error "herd CMD: message" on stderr; returns the exit code for st. */
int hd_cli_fail(const hd_cli *cli, const hd_error *err);
int hd_cli_usage_error(const hd_cli *cli, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Progress on stderr unless --quiet. */
void hd_cli_progress(const hd_cli *cli, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Exit code for a status: usage for HD_ERR_ARG, input otherwise. */
int hd_cli_exit_code(hd_status st);

/* Parses an integer / float option value; false (and a usage message) if bad. */
bool hd_cli_int(const hd_cli *cli, const char *flag, const char *value, long long lo, long long hi,
                long long *out);
bool hd_cli_float(const hd_cli *cli, const char *flag, const char *value, double *out);

/* A cJSON string from bytes that may be invalid UTF-8 or hold NULs: those
 * bytes become U+FFFD.  Caller owns the result (NULL when out of memory). */
struct cJSON;
struct cJSON *hd_cli_json_bytes(const char *s, size_t len);

/* A subcommand.  Each apps/cmd_*.c defines one or more and lists them in
 * apps/commands.c. */
typedef struct hd_command {
    const char *name;
    const char *summary;   /* one line for `herd --help`       */
    const char *usage;     /* full help text for `herd CMD -h`  */
    int (*run)(int argc, char **argv);
} hd_command;

extern const hd_command *const hd_commands[];
#endif
